"""Let a model's copied blocks read an older frame: a new model version with the same weights plus the
history tables, fitted on the project's own training play (never the held-out evaluation seeds).

The tables are small (a logit offset per motion bucket for reading the older frame, and a base logit per
lag), so they are fitted on the CPU by measuring real code lengths: a grid over the offset, then the lag
logits set from how often the encoder picks each lag, and the grid again.

With --extend, the source already has a history and keeps every table it fitted since (the offsets per
motion bucket among them); only its lags go further back. The new lags start at the source's least
likely lag, then every lag's logit is set from how often the encoder picks it, round after round; the
round with the smallest real coded size is kept (round 0 is the source's logits, extended).

    python scripts/add_history.py --game spaceinvaders --from atari-spaceinvaders-v3 \
        --to atari-spaceinvaders-v4 --register
    python scripts/add_history.py --game spaceinvaders --from atari-spaceinvaders-v8 \
        --to atari-spaceinvaders-v9 --history 128 --extend --frames 2000 --chunk 500 --register
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np

from darnzip.frames.config import MOTION_BUCKETS
from darnzip.frames.derive import derive_arguments, integer_tensors, save_derived, training_chunks, with_tables
from darnzip.frames.zoo import resolve_frame_model


def with_history(loaded, history: int, offset: float, lag_logits: np.ndarray):
    """(config, integer tensors) of `loaded` with history tables: offset in nats for every motion bucket,
    lag_logits (history,) in nats for none, then lags 2..history."""
    cfg, tensors = with_longer_history(loaded, history, lag_logits)
    tensors["history_bucket"] = np.full(MOTION_BUCKETS, round(offset * (1 << loaded.exact.frac_bits)), dtype=np.int32)
    return cfg, tensors


def with_longer_history(loaded, history: int, lag_logits: np.ndarray):
    """(config, integer tensors) of `loaded` reaching back to `history`, its lag logits `lag_logits`
    (history,) in nats for none, then lags 2..history, and every other table as it is."""
    cfg = dataclasses.replace(loaded.config, history=history)
    tensors = integer_tensors(loaded)
    tensors["lag_base"] = np.rint(np.asarray(lag_logits) * (1 << loaded.exact.frac_bits)).astype(np.int32)
    return cfg, tensors


def extend(loaded, history: int, chunks, rounds: int) -> tuple[np.ndarray, list[dict]]:
    """Lag logits (nats) for `loaded`'s history made longer, fitted from how often each lag is picked."""
    own = loaded.exact.integers["lag_base"] / (1 << loaded.exact.frac_bits)
    if history < len(own):
        raise SystemExit(f"--extend makes a history longer: the source's reaches {len(own)}")
    lag_logits = np.concatenate([own, np.full(history - len(own), own[1:].min())])
    log, best = [], None
    for round_ in range(rounds + 1):
        cfg, tensors = with_longer_history(loaded, history, lag_logits)
        bits, picked = measure(loaded, cfg, tensors, chunks)
        log.append({"round": round_, "bits_per_frame": round(bits, 2), "lags_picked": picked.tolist()})
        print(json.dumps(log[-1]), flush=True)
        if best is None or bits < best[0]:
            best = (bits, lag_logits.copy())
        lag_logits = np.log((picked + 1.0) / (picked.sum() + len(picked)))  # add-one smoothing
        lag_logits -= lag_logits[0]
    return best[1], log


def measure(loaded, cfg, tensors, chunks: list[list[np.ndarray]]) -> tuple[float, np.ndarray]:
    """Coded bits per frame over `chunks` (real ANS words) and how often each lag (0, 2..history) was picked."""
    codec = with_tables(loaded, cfg, tensors).chunk_codec()
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
    ap = derive_arguments(__doc__.split("\n\n")[0])
    ap.add_argument("--history", type=int, default=16, help="oldest lag a copy may read")
    ap.add_argument("--frames", type=int, default=400, help="training frames to fit on")
    ap.add_argument("--chunk", type=int, default=100, help="frames per fitting chunk")
    ap.add_argument("--offsets", default="0,1.5,3,4.5", help="history logit offsets (nats) to try")
    ap.add_argument("--extend", action="store_true", help="make the source's history longer, keeping its tables")
    ap.add_argument("--rounds", type=int, default=2, help="with --extend: refits of the lag logits")
    args = ap.parse_args()

    loaded = resolve_frame_model(args.source)
    chunks = training_chunks(args.game, args.frames, args.chunk)
    baseline, _ = measure(loaded, loaded.config, integer_tensors(loaded), chunks)
    print(json.dumps({"model": args.source, "bits_per_frame": round(baseline, 2)}), flush=True)
    if args.extend:
        lag_logits, log = extend(loaded, args.history, chunks, args.rounds)
        cfg, tensors = with_longer_history(loaded, args.history, lag_logits)
        provenance = {"training_frames": args.frames, "chunk": args.chunk, "extended_from": loaded.config.history}
    else:
        offsets = [float(v) for v in args.offsets.split(",")]
        offset, lag_logits, log = fit(loaded, args.history, chunks, offsets)
        cfg, tensors = with_history(loaded, args.history, offset, lag_logits)
        provenance = {"training_frames": args.frames, "chunk": args.chunk, "offset": offset}
    provenance |= {"lag_logits": [round(float(v), 3) for v in lag_logits],
                   "bits_per_frame_before": round(baseline, 2), "fit": log}
    save_derived(args, loaded, cfg, tensors, None,
                 "history", provenance, f"whose copies may also read one of the last {args.history} frames")


if __name__ == "__main__":
    main()
