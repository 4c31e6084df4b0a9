"""Give a moving model more motion vectors, keeping every table it has: a new model version whose copies
may also take vectors the shared set lacks (SpaceInvaders' aliens step down 10 pixels at once, and as they
do they change pose, so only an older frame read 10 rows up reproduces them). The new vectors share one
base logit, chosen from a grid by the real coded size of the project's own training play (never the
held-out evaluation seeds); the grid's first value is the source's least likely vector.

    python scripts/add_motions.py --game spaceinvaders --from atari-spaceinvaders-v9 \
        --to atari-spaceinvaders-v10 --add-motions "10,0;10,2;10,-2;10,4;10,-4" --register
"""
from __future__ import annotations

from darnzip.frames.derive import (derive_arguments, fit_on_grid, parse_motions, save_derived, training_chunks,
                                   with_added_motions)
from darnzip.frames.zoo import resolve_frame_model


def with_motions(loaded, extra: list[tuple[int, int]], base_logit: float):
    """(config, integer tensors) of `loaded` with the vectors `extra` appended, each with `base_logit`
    (nats)."""
    return with_added_motions(loaded, extra, round(base_logit * (1 << loaded.exact.frac_bits)))


def main() -> None:
    ap = derive_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--add-motions", required=True, help='vectors to add, "dy,dx;dy,dx;..."')
    ap.add_argument("--logits", default="", help="base logits (nats) to try after the source's lowest")
    ap.add_argument("--frames", type=int, default=2000, help="training frames to fit on")
    ap.add_argument("--chunk", type=int, default=500, help="frames per fitting chunk")
    args = ap.parse_args()

    loaded = resolve_frame_model(args.source)
    extra = parse_motions(args.add_motions)
    chunks = training_chunks(args.game, args.frames, args.chunk)
    lowest = float(loaded.exact.integers["motion_base"].min()) / (1 << loaded.exact.frac_bits)
    grid = [lowest] + [float(v) for v in args.logits.split(",") if v.strip()]
    logit, baseline, log = fit_on_grid(loaded, chunks, grid, lambda v: with_motions(loaded, extra, v), "base_logit")
    cfg, tensors = with_motions(loaded, extra, logit)
    provenance = {"training_frames": args.frames, "chunk": args.chunk, "added_motions": [list(v) for v in extra],
                  "base_logit": round(logit, 3), "bits_per_frame_before": round(baseline, 2), "fit": log}
    save_derived(args, loaded, cfg, tensors, None, "motions", provenance,
                 f"with {len(extra)} more motion vectors")


if __name__ == "__main__":
    main()
