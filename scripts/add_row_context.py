"""Give a model with vector classes a row context, keeping every table it has: a new model version in which
a moved copy's prior raises the vectors of the class that the previous moved copy in its block row named
(config.row_context; SpaceInvaders' aliens step row by row, every alien of a row with the same vector).
The bonus (nats) is chosen from a grid by the real coded size of the project's own training play (never
the held-out evaluation seeds).

    python scripts/add_row_context.py --game spaceinvaders --from atari-spaceinvaders-v11 \
        --to atari-spaceinvaders-v12 --bonuses 2,3,4,5,6,7 --register
"""
from __future__ import annotations

import dataclasses

import numpy as np

from darnzip.frames.derive import derive_arguments, fit_on_grid, integer_tensors, save_derived, training_chunks
from darnzip.frames.zoo import resolve_frame_model


def with_row_context(loaded, bonus: float):
    """(config, integer tensors) of `loaded` with a row context of `bonus` nats."""
    if not loaded.config.vector_classes or loaded.config.row_context:
        raise SystemExit("a row context needs a model with vector classes and none yet")
    tensors = integer_tensors(loaded)
    tensors["row_bonus"] = np.array([round(bonus * (1 << loaded.exact.frac_bits))], dtype=np.int32)
    return dataclasses.replace(loaded.config, row_context=True), tensors


def main() -> None:
    ap = derive_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--bonuses", default="2,3,4,5,6,7", help="bonuses (nats) to try")
    ap.add_argument("--frames", type=int, default=2000, help="training frames to fit on")
    ap.add_argument("--chunk", type=int, default=500, help="frames per fitting chunk")
    args = ap.parse_args()

    loaded = resolve_frame_model(args.source)
    chunks = training_chunks(args.game, args.frames, args.chunk)
    grid = [float(v) for v in args.bonuses.split(",") if v.strip()]
    bonus, baseline, log = fit_on_grid(loaded, chunks, grid, lambda b: with_row_context(loaded, b), "bonus")
    cfg, tensors = with_row_context(loaded, bonus)
    provenance = {"training_frames": args.frames, "chunk": args.chunk, "bonus": bonus,
                  "bits_per_frame_before": round(baseline, 2), "fit": log}
    save_derived(args, loaded, cfg, tensors, None, "row_context", provenance, "with a row context")


if __name__ == "__main__":
    main()
