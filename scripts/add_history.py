"""Let a model's copied blocks read an older frame: a new model version with the same weights plus the
history tables, fitted on the project's own training play (never the held-out evaluation seeds).

The tables are small (a logit offset per motion bucket for reading the older frame, and a base logit per
lag), so they are fitted on the CPU by measuring real code lengths: a grid over the offset, then the lag
logits set from how often the encoder picks each lag, and the grid again.

    python scripts/add_history.py --game spaceinvaders --from atari-spaceinvaders-v3 \
        --to atari-spaceinvaders-v4 --register
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from darnzip.frames.codec import FrameCodec
from darnzip.frames.chunks import FrameChunkCodec
from darnzip.frames.config import MOTION_BUCKETS
from darnzip.frames.model import build_exact
from darnzip.frames.modelfile import save_frame_model
from darnzip.registry import register_model, registry, resolve_frame_model

ROOT = Path(__file__).resolve().parent.parent


def training_frames(game: str, frames: int, seed: int = 1) -> np.ndarray:
    """The first `frames` RGB frames of the training play (runs/atari/GAME-train.npy, or the same play)."""
    cached = ROOT / "runs" / "atari" / f"{game}-train.npy"
    if cached.exists():
        return np.asarray(np.load(cached, mmap_mode="r")[:frames])
    from darnzip.frames.atari import GAMES, frames_array

    return frames_array(next(g for g in GAMES if g.lower() == game), frames, seed)


def with_history(loaded, history: int, offset: float, lag_logits: np.ndarray):
    """(config, integer tensors) of `loaded` with history tables: offset in nats for every motion bucket,
    lag_logits (history,) in nats for none, then lags 2..history."""
    cfg = dataclasses.replace(loaded.config, history=history)
    scale = 1 << loaded.exact.frac_bits
    tensors = {k: v.astype(np.int32) for k, v in loaded.exact.integers.items()}
    tensors["history_bucket"] = np.full(MOTION_BUCKETS, round(offset * scale), dtype=np.int32)
    tensors["lag_base"] = np.rint(np.asarray(lag_logits) * scale).astype(np.int32)
    return cfg, tensors


def measure(loaded, cfg, tensors, chunks: list[list[np.ndarray]]) -> tuple[float, np.ndarray]:
    """Coded bits per frame over `chunks` (real ANS words) and how often each lag (0, 2..history) was picked."""
    exact = build_exact(cfg, tensors, loaded.exact.frac_bits)
    codec = FrameChunkCodec(FrameCodec(exact), loaded.palette, loaded.references)
    bits, frames, picked = 0, 0, np.zeros(cfg.history + 1, dtype=np.int64)
    for chunk in chunks:
        coded, stats = codec.encode(chunk)
        bits += 32 * len(coded.words)
        frames += len(chunk)
        for f in stats.frames:
            picked[f.lag] += 1
    return bits / frames, (np.delete(picked, 1) if cfg.history else picked)


def fit(loaded, history: int, chunks, offsets) -> tuple[float, np.ndarray, list[dict]]:
    log = []
    lag_logits = np.zeros(history)
    lag_logits[1:] = -2.0  # start: naming a lag costs a little more than naming none
    best = None
    for round_ in range(2):
        for offset in offsets:
            cfg, tensors = with_history(loaded, history, offset, lag_logits)
            bits, picked = measure(loaded, cfg, tensors, chunks)
            log.append({"round": round_, "offset": offset, "bits_per_frame": round(bits, 2),
                        "lags_picked": picked.tolist()})
            print(json.dumps(log[-1]), flush=True)
            if best is None or bits < best[0]:
                best = (bits, offset, lag_logits.copy(), picked)
        # lag logits from how often each lag was picked at the best offset (add-one smoothing)
        lag_logits = np.log((best[3] + 1.0) / (best[3].sum() + len(best[3])))
        lag_logits -= lag_logits.max()
    return best[1], best[2], log


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--game", required=True, help="pong, freeway, spaceinvaders, riverraid or seaquest")
    ap.add_argument("--from", dest="source", required=True, help="model id to copy the weights from")
    ap.add_argument("--to", dest="target", required=True, help="new model id")
    ap.add_argument("--history", type=int, default=16, help="oldest lag a copy may read")
    ap.add_argument("--frames", type=int, default=400, help="training frames to fit on")
    ap.add_argument("--chunk", type=int, default=100, help="frames per fitting chunk")
    ap.add_argument("--offsets", default="0,1.5,3,4.5", help="history logit offsets (nats) to try")
    ap.add_argument("--out", type=Path, default=ROOT / "models")
    ap.add_argument("--register", action="store_true")
    args = ap.parse_args()

    loaded = resolve_frame_model(args.source)
    rgb = training_frames(args.game, args.frames)
    chunks = [list(rgb[i:i + args.chunk]) for i in range(0, len(rgb), args.chunk)]
    baseline, _ = measure(loaded, loaded.config, {k: v.astype(np.int32) for k, v in loaded.exact.integers.items()}, chunks)
    print(json.dumps({"model": args.source, "bits_per_frame": round(baseline, 2)}), flush=True)
    offsets = [float(v) for v in args.offsets.split(",")]
    offset, lag_logits, log = fit(loaded, args.history, chunks, offsets)
    cfg, tensors = with_history(loaded, args.history, offset, lag_logits)
    info = {k: v for k, v in loaded.info.items() if k not in ("model_id", "architecture", "quantization",
                                                                 "weights_sha256")}
    info["history"] = {"weights_from": {"model": loaded.model_id, "sha256": loaded.sha256},
                       "training_frames": args.frames, "chunk": args.chunk, "offset": offset,
                       "lag_logits": [round(float(v), 3) for v in lag_logits],
                       "bits_per_frame_before": round(baseline, 2), "fit": log}
    stem = args.out / args.target
    sha = save_frame_model(stem, args.target, cfg, tensors, loaded.exact.frac_bits, loaded.reference, info,
                           np.stack(loaded.references[1:]) if len(loaded.references) > 1 else None)
    print(f"{args.target}: sha256 {sha[:16]}, {stem.with_suffix('.safetensors').stat().st_size} bytes")
    if args.register:
        old = registry().get(args.source, {}).get("description", "")
        register_model(args.target, stem.with_suffix(".safetensors"), sha,
                       f"{args.source} whose copies may also read one of the last {args.history} frames"
                       + (f" ({old})" if old else ""), kind="frames")


if __name__ == "__main__":
    main()
