"""Give a frame model more reference frames: a new model version with the same weights.

A chunk's first frame, and any key frame (an emulator reset, say), is coded from a reference frame. A
model trained with `train-frames` has one, the first training frame: for Pong that is the screen
before play starts, which differs from every in-game frame in all its pixels. This script picks
further references from the project's own training frames (never the held-out evaluation seeds):
greedily, each time the candidate frame that most lowers the summed distance (differing pixels) from
a pool of training frames to their nearest reference.

With --after-resets, the source keeps its references and more are picked the same way, from the frames
that follow a frame identical to a reference and differ from it: the first frame of play after a title
or reset screen. Such a frame differs from every reference and from the frame before it (SpaceInvaders'
game start, 1,250 pixels: the aliens take their other pose), and it is the same at every start (23
starts in 10,000 frames of training play, at most 54 pixels apart), so a reference makes it a key
frame that costs almost nothing.

    python scripts/add_references.py --game pong --from atari-pong-v2 --to atari-pong-v3 --register
    python scripts/add_references.py --game spaceinvaders --from atari-spaceinvaders-v10 \
        --to atari-spaceinvaders-v11 --after-resets --count 1 --register
"""
from __future__ import annotations

import json

import numpy as np

from darnzip.frames.derive import derive_arguments, save_derived, training_frames
from darnzip.frames.zoo import resolve_frame_model


def distances(candidates: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """(C, P) counts of differing pixels."""
    out = np.empty((len(candidates), len(pool)), dtype=np.int64)
    for i, c in enumerate(candidates):
        out[i] = np.count_nonzero(pool != c, axis=(1, 2))
    return out


def pick_references(indexed: np.ndarray, existing: np.ndarray, count: int, candidate_step: int,
                    pool_step: int) -> tuple[list[int], list[float]]:
    """Greedy picks (frame positions) and the mean distance to the nearest reference after each, given the
    references there are already: one frame (H, W) or several (R, H, W)."""
    candidates = np.arange(0, len(indexed), candidate_step)
    pool = indexed[::pool_step]
    d = distances(indexed[candidates], pool)
    nearest = distances(existing.reshape(-1, *indexed.shape[1:]), pool).min(axis=0)
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


def frames_after_resets(indexed: np.ndarray, references: list[np.ndarray]) -> np.ndarray:
    """Positions of the frames that follow a frame identical to one of `references` and differ from it."""
    refs = np.stack(references)
    return np.array([i for i in range(1, len(indexed)) if not np.array_equal(indexed[i], indexed[i - 1])
                     and (np.count_nonzero(refs != indexed[i - 1], axis=(1, 2)) == 0).any()], dtype=np.int64)


def main() -> None:
    ap = derive_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=7, help="references to add (a model holds at most 256)")
    ap.add_argument("--frames", type=int, default=10000, help="training frames to regenerate if not cached")
    ap.add_argument("--candidate-step", type=int, default=50)
    ap.add_argument("--pool-step", type=int, default=10)
    ap.add_argument("--after-resets", action="store_true",
                    help="keep the source's references; pick more from the first frames after a reset screen")
    args = ap.parse_args()

    loaded = resolve_frame_model(args.source)
    rgb = training_frames(args.game, args.frames, seed=1)
    indexed = [loaded.palette.indices(np.asarray(f)) for f in rgb]
    indexed = np.stack([f for f in indexed if f is not None])
    if args.after_resets:
        after = frames_after_resets(indexed, loaded.references)
        if not len(after):
            raise SystemExit(f"{args.game}: no frame of the training play follows a frame equal to a reference")
        chosen, means = pick_references(indexed[after], np.stack(loaded.references), args.count, 1, 1)
        picks = [int(after[i]) for i in chosen]
        more = np.stack([*loaded.references[1:], *indexed[picks]])  # the source's, then the new ones
        what = f"with {len(picks)} more reference frames: the first frames of play after a reset screen"
    else:
        picks, means = pick_references(indexed, loaded.reference, args.count, args.candidate_step, args.pool_step)
        more, what = indexed[picks], f"with {len(picks)} more reference frames from its training play"
    if len(more) > 255:
        raise SystemExit("a model holds at most 256 reference frames (a chunk names one in a byte)")
    print(f"{args.game}: references at training frames {picks}; mean differing pixels to the nearest "
          f"reference {' -> '.join(f'{m:.0f}' for m in means)}")
    provenance = {"training_frames": picks, "mean_distance_after_each": [round(m, 1) for m in means]}
    provenance |= {"after_resets": int(len(after))} if args.after_resets else \
        {"candidate_step": args.candidate_step, "pool_step": args.pool_step}
    save_derived(args, loaded, loaded.config, loaded.exact.integers, more, "references", provenance, what)
    print(json.dumps(provenance))


if __name__ == "__main__":
    main()
