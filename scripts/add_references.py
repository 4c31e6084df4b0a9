"""Give a frame model more reference frames: a new model version with the same weights.

A chunk's first frame, and any key frame (an emulator reset, say), is coded from a reference frame. A
model trained with `train-frames` has one, the first training frame: for Pong that is the screen
before play starts, which differs from every in-game frame in all its pixels. This script picks
further references from the project's own training frames (never the held-out evaluation seeds):
greedily, each time the candidate frame that most lowers the summed distance (differing pixels) from
a pool of training frames to their nearest reference.

    python scripts/add_references.py --game pong --from atari-pong-v2 --to atari-pong-v3 --register
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from darnzip.frames.modelfile import save_frame_model
from darnzip.registry import register_model, registry, resolve_frame_model

ROOT = Path(__file__).resolve().parent.parent


def training_frames(game: str, frames: int, seed: int) -> np.ndarray:
    """The RGB frames the models were trained on (runs/atari/GAME-train.npy), or the same play again."""
    cached = ROOT / "runs" / "atari" / f"{game}-train.npy"
    if cached.exists():
        return np.load(cached, mmap_mode="r")
    from darnzip.frames.atari import GAMES, frames_array

    name = next(g for g in GAMES if g.lower() == game)
    return frames_array(name, frames, seed)


def distances(candidates: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """(C, P) counts of differing pixels."""
    out = np.empty((len(candidates), len(pool)), dtype=np.int64)
    for i, c in enumerate(candidates):
        out[i] = np.count_nonzero(pool != c, axis=(1, 2))
    return out


def pick_references(indexed: np.ndarray, first: np.ndarray, count: int, candidate_step: int,
                    pool_step: int) -> tuple[list[int], list[float]]:
    """Greedy picks (frame positions) and the mean distance to the nearest reference after each."""
    candidates = np.arange(0, len(indexed), candidate_step)
    pool = indexed[::pool_step]
    d = distances(indexed[candidates], pool)
    nearest = np.count_nonzero(pool != first, axis=(1, 2))
    picks, means = [], [float(nearest.mean())]
    for _ in range(count):
        gain = np.maximum(nearest[None, :] - d, 0).sum(axis=1)
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        picks.append(int(candidates[best]))
        nearest = np.minimum(nearest, d[best])
        means.append(float(nearest.mean()))
    return picks, means


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--game", required=True, help="pong, freeway, spaceinvaders, riverraid or seaquest")
    ap.add_argument("--from", dest="source", required=True, help="model id to copy the weights from")
    ap.add_argument("--to", dest="target", required=True, help="new model id")
    ap.add_argument("--count", type=int, default=7, help="references to add (at most 254)")
    ap.add_argument("--frames", type=int, default=10000, help="training frames to regenerate if not cached")
    ap.add_argument("--candidate-step", type=int, default=50)
    ap.add_argument("--pool-step", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "models")
    ap.add_argument("--register", action="store_true")
    args = ap.parse_args()

    loaded = resolve_frame_model(args.source)
    rgb = training_frames(args.game, args.frames, seed=1)
    indexed = [loaded.palette.indices(np.asarray(f)) for f in rgb]
    indexed = np.stack([f for f in indexed if f is not None])
    picks, means = pick_references(indexed, loaded.reference, args.count, args.candidate_step, args.pool_step)
    print(f"{args.game}: references at training frames {picks}; mean differing pixels to the nearest "
          f"reference {' -> '.join(f'{m:.0f}' for m in means)}")
    info = {k: v for k, v in loaded.info.items() if k not in ("model_id", "architecture", "quantization",
                                                                 "weights_sha256")}
    info["references"] = {"weights_from": {"model": loaded.model_id, "sha256": loaded.sha256},
                          "training_frames": picks, "candidate_step": args.candidate_step,
                          "pool_step": args.pool_step, "mean_distance_after_each": [round(m, 1) for m in means]}
    stem = args.out / args.target
    sha = save_frame_model(stem, args.target, loaded.config, loaded.exact.integers, loaded.exact.frac_bits,
                           loaded.reference, info, indexed[picks])
    print(f"{args.target}: sha256 {sha[:16]}, {stem.with_suffix('.safetensors').stat().st_size} bytes")
    if args.register:
        old = registry().get(args.source, {}).get("description", "")
        register_model(args.target, stem.with_suffix(".safetensors"), sha,
                       f"{args.source} with {len(picks)} more reference frames from its training play"
                       + (f" ({old})" if old else ""), kind="frames")
    print(json.dumps(info["references"]))


if __name__ == "__main__":
    main()
