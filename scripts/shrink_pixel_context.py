"""Derive a frame model whose pixel model reads fewer context offsets: a faster coder for some bits.

Every drawn pixel costs the coder one table row per context offset (Freeway's v4 reads 78 offsets of
frames t-1 and t-2, plus block row and column, plus 10 of frame t: 90 rows 103 wide a pixel). This keeps
the `--keep` context offsets (of frames t-1 and t-2) whose table rows move the sums of drawn training
pixels most, starts their rows from the source's, and fits the pixel tables on the pixels the coder
draws (as scripts/finetune_pixels.py: training play seed 1, validation play seed 2000, the round whose
validation chunks code shortest kept). Round 0 fits on the pixels the source draws; later rounds on
the new model's own. Block, motion and latent-context tables stay as they are, and so do the
current-frame offsets.

    python scripts/shrink_pixel_context.py --game freeway --from atari-freeway-v4 --to atari-freeway-v5 \
        --keep 30 --frames 2000 --rounds 1 --epochs 3 --register     # how atari-freeway-v5 was made
"""
from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import torch

from darnzip.frames.config import FrameConfig
from darnzip.frames.derive import (VALIDATION_SEED, derive_arguments, fitting_play, in_chunks, save_derived,
                                   with_tables)
from darnzip.frames.model import FrameDarn
from darnzip.frames.pixel_fit import code_and_record, fit_pixel_tables, with_chunk_starts, with_pixel_tables
from darnzip.frames.zoo import resolve_frame_model


def group_spread(table: np.ndarray, features: np.ndarray, groups: int, values: int) -> np.ndarray:
    """(groups,) how much each context group's table row varies over the given pixels: the mean squared
    distance of the row a pixel reads from the group's mean row (a constant row would fold into the
    biases, so only the spread tells the pixels apart). Worked out from how often each value occurs."""
    spread = np.zeros(groups)
    for g in range(groups):
        rows = table[g * values:(g + 1) * values].astype(np.float64)
        share = np.bincount(features[:, g].astype(np.int64) - g * values, minlength=values) / len(features)
        mean = share @ rows
        spread[g] = float(share @ ((rows - mean) ** 2).sum(axis=1))
    return spread


def smaller_config(cfg: FrameConfig, kept: list[int]) -> FrameConfig:
    """`cfg` reading only the context groups `kept` (indices among frame t-1's offsets, then t-2's)."""
    n_prev = len(cfg.offsets_prev)
    return dataclasses.replace(cfg, offsets_prev=tuple(cfg.offsets_prev[g] for g in kept if g < n_prev),
                               offsets_prev2=tuple(cfg.offsets_prev2[g - n_prev] for g in kept if g >= n_prev))


def kept_columns(cfg: FrameConfig, kept: list[int]) -> tuple[list[int], list[int]]:
    """Old feature columns of the smaller model's, in its column order (context groups, block row and
    column, current groups), and the old group index of each of its colour groups."""
    n_context = len(cfg.offsets_prev) + len(cfg.offsets_prev2)
    current = list(range(n_context, cfg.colour_groups))
    columns = kept + [n_context, n_context + 1] + [n_context + 2 + j for j in range(len(current))]
    return columns, kept + current


def smaller_tensors(tensors: dict[str, np.ndarray], cfg: FrameConfig, old_groups: list[int]) -> dict[str, np.ndarray]:
    """The source's integer tensors with the pixel table's rows of the dropped groups removed."""
    table, v = tensors["pixel_table"], cfg.values
    rows = [table[g * v:(g + 1) * v] for g in old_groups] + [table[cfg.colour_groups * v:]]
    return tensors | {"pixel_table": np.concatenate(rows).astype(np.int32)}


def remapped(pixels: tuple, cfg: FrameConfig, small: FrameConfig, columns: list[int], old_groups: list[int]) -> tuple:
    """Drawn pixels recorded under `cfg` as the smaller model reads them (its vocabulary indices)."""
    features, *rest = pixels
    v = cfg.values
    shift = np.zeros(len(columns), dtype=np.int64)
    n_kept = len(old_groups) - len(small.offsets_current)
    for j, g in enumerate(old_groups[:n_kept]):
        shift[j] = (j - g) * v
    shift[n_kept:n_kept + 2] = (small.colour_groups - cfg.colour_groups) * v
    for j, g in enumerate(old_groups[n_kept:]):
        shift[n_kept + 2 + j] = (n_kept + j - g) * v
    return ((features[:, columns].astype(np.int64) + shift).astype(np.int16), *rest)


def main() -> None:
    ap = derive_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--keep", type=int, required=True, help="context offsets of frames t-1 and t-2 to keep")
    ap.add_argument("--frames", type=int, default=3000, help="training frames (seed-1 play) to code and fit on")
    ap.add_argument("--validation-frames", type=int, default=1000, help="frames of seed-2000 play to validate on")
    ap.add_argument("--chunk", type=int, default=512, help="frames per coded chunk (as in real use)")
    ap.add_argument("--rounds", type=int, default=2, help="fits after the first (each on the new model's draws)")
    ap.add_argument("--epochs", type=int, default=4, help="passes over the drawn pixels per round")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--reference-every", type=int, default=32,
                    help="also fit on every n-th frame coded from its nearest reference frame (0: none)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    source = resolve_frame_model(args.source)
    cfg = source.config
    train_rgb, val_rgb = fitting_play(args.game, args.frames, args.validation_frames)
    train_chunks, val_chunks = in_chunks(train_rgb, args.chunk), in_chunks(val_rgb, args.chunk)
    start = time.time()

    def recorded(loaded, pixels: bool = True):
        """(validation bits per frame, training pixels, validation pixels) as `loaded` codes the play; the
        pixels (with the chunk starts) only when a fit follows, else None."""
        val_bits, val_pixels = code_and_record(loaded, val_chunks)
        if not pixels:
            return val_bits, None, None
        _, train_pixels = code_and_record(loaded, train_chunks)
        return (val_bits, with_chunk_starts(loaded, train_pixels, train_rgb, args.reference_every, args.chunk),
                with_chunk_starts(loaded, val_pixels, val_rgb, args.reference_every, args.chunk))

    source_bits, train_pixels, val_pixels = recorded(source)
    n_context = len(cfg.offsets_prev) + len(cfg.offsets_prev2)
    spread = group_spread(source.exact.integers["pixel_table"], train_pixels[0], n_context, cfg.values)
    kept = sorted(np.argsort(-spread, kind="stable")[:args.keep].tolist())
    small = smaller_config(cfg, kept)
    columns, old_groups = kept_columns(cfg, kept)
    tensors = smaller_tensors(source.exact.integers, cfg, old_groups)
    train_pixels = remapped(train_pixels, cfg, small, columns, old_groups)
    val_pixels = remapped(val_pixels, cfg, small, columns, old_groups)
    log = [{"source": args.source, "validation_bits_per_frame": round(source_bits, 2),
            "kept_offsets_prev": [list(o) for o in small.offsets_prev],
            "kept_offsets_prev2": [list(o) for o in small.offsets_prev2]}]
    print(json.dumps(log[-1]), flush=True)

    best = None
    for round_ in range(args.rounds + 1):
        model = FrameDarn.from_integers(small, tensors, source.exact.frac_bits)
        model, epochs = fit_pixel_tables(model, train_pixels, val_pixels, epochs=args.epochs, lr=args.lr, seed=round_,
                                         progress=lambda r: print(json.dumps(r), flush=True))
        tensors = with_pixel_tables(tensors, model, source.exact.frac_bits)
        current = with_tables(source, small, tensors)
        val_bits, train_next, val_next = recorded(current, round_ < args.rounds)
        log.append({"round": round_, "training_pixels": len(train_pixels[1]), "epochs": epochs,
                    "validation_bits_per_frame": round(val_bits, 2), "seconds": round(time.time() - start)})
        print(json.dumps(log[-1]), flush=True)
        if best is None or val_bits < best[0]:
            best = (val_bits, tensors, round_)
        train_pixels, val_pixels = train_next, val_next

    bits, tensors, kept_round = best
    provenance = {"training_frames": args.frames, "validation_frames": args.validation_frames,
                  "validation_seed": VALIDATION_SEED, "chunk": args.chunk, "reference_every": args.reference_every,
                  "kept_context_offsets": args.keep, "epochs": args.epochs, "lr": args.lr, "kept_round": kept_round,
                  "validation_bits_per_frame": round(bits, 2), "source_validation_bits_per_frame": round(source_bits, 2),
                  "rounds": log}
    save_derived(args, source, small, tensors, None, "smaller_pixel_context", provenance,
                 f"reading {args.keep} of its {n_context} context offsets, its pixel tables fitted again")


if __name__ == "__main__":
    main()
