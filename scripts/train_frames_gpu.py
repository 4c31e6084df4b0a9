"""Continue a shipped frame model as a moving one (motion vectors on copied blocks) on a GPU, stopping early
on held-out play.

Why a script beside `darnzip train-frames`: a lent GPU machine has no emulator and a small upload limit,
so it trains on palette-index frames prepared here (zstd-compressed, (N, H, W) uint8) instead of RGB
arrays, and keeps the model with the lowest free energy on a validation stream of other play.

    python scripts/train_frames_gpu.py --game pong --data .gpu --out out/ --minutes 6
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from darnzip.frames.config import MOTIONS  # noqa: E402
from darnzip.frames.model import FrameDarn  # noqa: E402
from darnzip.frames.modelfile import load_frame_model, save_frame_model  # noqa: E402
from darnzip.frames.train import evaluate, train  # noqa: E402


def load_index_frames(path: Path, height: int, width: int) -> np.ndarray:
    data = zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 32)
    return np.frombuffer(bytearray(data), dtype=np.uint8).reshape(-1, height, width)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--game", required=True, help="lower-case game name, e.g. pong")
    ap.add_argument("--data", type=Path, required=True, help="folder with GAME-train.zst and GAME-val.zst")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--version", default="v2")
    ap.add_argument("--init-version", default="v1", help="continue from models/atari-GAME-VERSION")
    ap.add_argument("--minutes", type=float, default=6.0)
    ap.add_argument("--steps", type=int, default=100, help="steps between validations")
    ap.add_argument("--rounds", type=int, default=60, help="validations planned (the cosine schedule's length)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rho", type=float, default=0.03)
    ap.add_argument("--max-blocks", type=int, default=1024)
    args = ap.parse_args()

    init = load_frame_model(Path("models") / f"atari-{args.game}-{args.init_version}.safetensors")
    cfg = dataclasses.replace(init.config, motions=MOTIONS)
    train_frames = load_index_frames(args.data / f"{args.game}-train.zst", cfg.height, cfg.width)
    val_frames = load_index_frames(args.data / f"{args.game}-val.zst", cfg.height, cfg.width)
    if torch.cuda.is_available():
        torch.set_default_device("cuda")
    model = FrameDarn.from_integers(cfg, init.exact.integers, init.exact.frac_bits)
    log = []
    start = time.time()
    best_bits, best_state, best_round = evaluate(model, val_frames, batch=4), None, 0
    print(f"{args.game}: start {best_bits:.1f} bits/frame on validation", flush=True)
    for model, rnd, train_bits in train(train_frames, cfg, args.rounds, batch=args.batch, lr=args.lr, seed=0,
                                        rho=args.rho, steps_per_epoch=args.steps, model=model,
                                        max_blocks=args.max_blocks):
        val_bits = evaluate(model, val_frames, batch=4)
        log.append({"round": rnd + 1, "train": round(train_bits, 2), "val": round(val_bits, 2),
                    "seconds": round(time.time() - start)})
        print(f"{args.game}: round {rnd + 1} train {train_bits:.1f} val {val_bits:.1f} ({time.time() - start:.0f} s)",
              flush=True)
        if val_bits < best_bits:
            best_bits, best_state, best_round = val_bits, copy.deepcopy(model.state_dict()), rnd + 1
        if time.time() - start > args.minutes * 60:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    record = {"training": {
        "continued_from": {"model": init.model_id, "sha256": init.sha256, **init.info.get("training", {})},
        "frames": int(len(train_frames)), "validation_frames": int(len(val_frames)), "validation_seed": 2000,
        "steps_per_round": args.steps, "rounds_run": len(log), "best_round": best_round, "lr": args.lr,
        "batch": args.batch, "rho": args.rho, "max_blocks": args.max_blocks,
        "validation_bits_per_frame": round(best_bits, 2), "device": torch.cuda.get_device_name() if
        torch.cuda.is_available() else "cpu", "seconds": round(time.time() - start)}}
    args.out.mkdir(parents=True, exist_ok=True)
    model_id = f"atari-{args.game}-{args.version}"
    sha = save_frame_model(args.out / model_id, model_id, cfg, model.cpu().quantize(init.exact.frac_bits),
                           init.exact.frac_bits, init.reference, record)
    (args.out / f"{model_id}.log.json").write_text(json.dumps(log, indent=1))
    print(f"{args.game}: best round {best_round}, validation {best_bits:.1f} bits/frame, sha256 {sha[:16]}", flush=True)


if __name__ == "__main__":
    main()
