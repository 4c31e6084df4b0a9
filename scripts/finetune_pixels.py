"""Fit a frame model's pixel tables to the blocks its coder draws (darnzip/frames/pixel_fit.py): a new
model version with the same architecture (or fewer hidden units: --hidden) and block, motion and
latent-context tables, fitted on the CPU on the project's own training play (seed 1) and validated on
other play (seed 2000), never on the held-out evaluation seeds.

Each round codes the training chunks and the validation chunks with the current tables, records every
drawn pixel's features (FrameCodec.pixel_observer), fits the pixel tables on the training pixels
(keeping the epoch with the fewest bits on the validation pixels), and codes the validation chunks with
the quantised result. The encoder's copy-or-draw choices read the pixel model, hence the rounds. The
round whose validation chunks code shortest (real ANS words) is kept; round 0 is the source.

    python scripts/finetune_pixels.py --game spaceinvaders --from atari-spaceinvaders-v7 \
        --to atari-spaceinvaders-v8 --register

With --hidden, the new model has fewer hidden units (0: none), so it codes faster at some cost in bits:
round 0 then only measures the source, and the best later round is kept.
"""
from __future__ import annotations

import dataclasses
import json
import time

import torch

from darnzip.frames.derive import (VALIDATION_SEED, derive_arguments, fitting_play, in_chunks, save_derived,
                                   with_tables)
from darnzip.frames.model import FrameDarn
from darnzip.frames.pixel_fit import (code_and_record, fit_pixel_tables, with_chunk_starts, with_fewer_hidden_units,
                                      with_pixel_tables)
from darnzip.frames.zoo import resolve_frame_model


def main() -> None:
    ap = derive_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=3000, help="training frames (seed-1 play) to code and fit on")
    ap.add_argument("--validation-frames", type=int, default=1000, help="frames of seed-2000 play to validate on")
    ap.add_argument("--chunk", type=int, default=512, help="frames per coded chunk (as in real use)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=4, help="passes over the drawn pixels per round")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--reference-every", type=int, default=32,
                    help="also fit on every n-th frame coded from its nearest reference frame, as a chunk's "
                         "first frame is, weighted n / chunk (0: none)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=None,
                    help="hidden units of the new pixel model, fewer than the source's (0: none, a log-linear "
                         "model, the cheapest to code with); the source's units that move its logits most "
                         "are kept and fitted again. Default: the source's, all refitted")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    source = resolve_frame_model(args.source)
    train_rgb, val_rgb = fitting_play(args.game, args.frames, args.validation_frames)
    train_chunks, val_chunks = in_chunks(train_rgb, args.chunk), in_chunks(val_rgb, args.chunk)

    cfg = source.config
    if args.hidden is not None:
        if not 0 <= args.hidden <= cfg.hidden:
            raise SystemExit(f"--hidden must be 0 to {cfg.hidden} (the source's hidden units)")
        cfg = dataclasses.replace(cfg, hidden=args.hidden)
    smaller = cfg != source.config  # then round 0 (the source) is only the baseline, not a candidate
    current, tensors = source, source.exact.integers
    best = (None, None, None)
    log = []
    start = time.time()
    for round_ in range(args.rounds + 1):
        val_bits, val_pixels = code_and_record(current, val_chunks)
        record = {"round": round_, "validation_bits_per_frame": round(val_bits, 2),
                  "drawn_pixels_per_validation_frame": round(len(val_pixels[1]) / args.validation_frames, 1)}
        if (best[0] is None or val_bits < best[0]) and not (smaller and round_ == 0):
            best = (val_bits, tensors, round_)
        if round_ == args.rounds:
            log.append(record)
            print(json.dumps({"model": args.source, **record}), flush=True)
            break
        _, train_pixels = code_and_record(current, train_chunks)
        train_pixels = with_chunk_starts(current, train_pixels, train_rgb, args.reference_every, args.chunk)
        val_pixels = with_chunk_starts(current, val_pixels, val_rgb, args.reference_every, args.chunk)
        model = FrameDarn.from_integers(current.config, current.exact.integers, current.exact.frac_bits)
        if model.cfg != cfg:
            model = with_fewer_hidden_units(model, train_pixels, cfg.hidden)
        model, epochs = fit_pixel_tables(model, train_pixels, val_pixels, epochs=args.epochs, lr=args.lr, seed=round_,
                                         progress=lambda r: print(json.dumps(r), flush=True))
        record |= {"training_pixels": len(train_pixels[1]), "epochs": epochs, "seconds": round(time.time() - start)}
        log.append(record)
        print(json.dumps({"model": args.source, **record}), flush=True)
        tensors = with_pixel_tables(current.exact.integers, model, current.exact.frac_bits)
        current = with_tables(source, cfg, tensors)

    bits, tensors, kept = best
    if kept == 0:
        raise SystemExit(f"{args.source}: no round coded the validation play shorter; nothing written")
    provenance = {"hidden": cfg.hidden, "source_validation_bits_per_frame": log[0]["validation_bits_per_frame"],
                  "training_frames": args.frames, "validation_frames": args.validation_frames,
                  "reference_every": args.reference_every,
                  "validation_seed": VALIDATION_SEED, "chunk": args.chunk, "kept_round": kept,
                  "validation_bits_per_frame": round(bits, 2), "rounds": log}
    what = "with its pixel tables fitted to the blocks its coder draws"
    if smaller:
        what += f", {cfg.hidden} hidden units" if cfg.hidden else ", no hidden layer (log-linear)"
    save_derived(args, source, cfg, tensors, None, "pixel_fit", provenance, what)


if __name__ == "__main__":
    main()
