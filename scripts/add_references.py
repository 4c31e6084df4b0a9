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

import json

import numpy as np

from darnzip.frames.derive import derive_arguments, save_derived, training_frames
from darnzip.registry import resolve_frame_model


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
    ap = derive_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=7, help="references to add (at most 254)")
    ap.add_argument("--frames", type=int, default=10000, help="training frames to regenerate if not cached")
    ap.add_argument("--candidate-step", type=int, default=50)
    ap.add_argument("--pool-step", type=int, default=10)
    args = ap.parse_args()

    loaded = resolve_frame_model(args.source)
    rgb = training_frames(args.game, args.frames, seed=1)
    indexed = [loaded.palette.indices(np.asarray(f)) for f in rgb]
    indexed = np.stack([f for f in indexed if f is not None])
    picks, means = pick_references(indexed, loaded.reference, args.count, args.candidate_step, args.pool_step)
    print(f"{args.game}: references at training frames {picks}; mean differing pixels to the nearest "
          f"reference {' -> '.join(f'{m:.0f}' for m in means)}")
    provenance = {"training_frames": picks, "candidate_step": args.candidate_step, "pool_step": args.pool_step,
                  "mean_distance_after_each": [round(m, 1) for m in means]}
    save_derived(args, loaded, loaded.config, loaded.exact.integers, indexed[picks], "references", provenance,
                 f"with {len(picks)} more reference frames from its training play")
    print(json.dumps(provenance))


if __name__ == "__main__":
    main()
