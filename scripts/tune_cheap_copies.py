"""Choose how cheap a copy must be for a model's encoder to take it without pricing the block's pixels.

The encoder prices a changed block's pixels to choose between drawing it and copying it, unless a copy
codes it in under `cheap_copy_bits` (2 by default; codec.py `_cheap_copies`). Where most changed blocks
are such copies, as in Riverraid's scrolling, pricing them is much of the encoding time. This codes the
project's validation play (seed 2000, never the held-out evaluation seeds) in chunks of 512 with each
value of the grid, and keeps the largest value whose real coded size stays within `--tolerance` of the
default's. With --write it stores the choice and the measurements in the model's JSON, under "encoder":
the setting steers the encoder only, so the weights, their hash and every archive's decoding stay as they
are.

    python scripts/tune_cheap_copies.py --model atari-riverraid-v9 --grid 2,3,4,5,6 --write
"""
from __future__ import annotations

import argparse
import json

from darnzip.frames.atari import GAMES
from darnzip.frames.codec import CHEAP_COPY_BITS
from darnzip.frames.container import DEFAULT_CHUNK_FRAMES
from darnzip.frames.derive import VALIDATION_SEED, in_chunks, validation_play
from darnzip.frames.stream import prepare_coding_process
from darnzip.frames.zoo import resolve_frame_model


def measure(loaded, chunks, cheap_copy_bits: float) -> dict:
    """Real bits per frame with one setting, and the pixels the encoder priced per frame (what the
    setting saves: its time is mostly pricing, and pixel counts, unlike times on a shared machine, do
    not vary from run to run)."""
    bits, priced = 0, 0
    for chunk in chunks:
        chunk_codec = loaded.chunk_codec(cheap_copy_bits=cheap_copy_bits)
        frame_codec = chunk_codec.codec
        probabilities = frame_codec._probabilities

        def counted(partial, current, reads):
            nonlocal priced
            priced += len(partial)
            return probabilities(partial, current, reads)

        frame_codec._probabilities = counted
        bits += 32 * len(chunk_codec.encode(chunk)[0].words)
    frames = sum(map(len, chunks))
    return {"cheap_copy_bits": cheap_copy_bits, "bits_per_frame": round(bits / frames, 3),
            "priced_pixels_per_frame": round(priced / frames, 1)}


def choose(log: list[dict], tolerance: float) -> float:
    """The largest value whose bits stay within `tolerance` (a fraction) of the default's."""
    default = next(row["bits_per_frame"] for row in log if row["cheap_copy_bits"] == CHEAP_COPY_BITS)
    return max(row["cheap_copy_bits"] for row in log if row["bits_per_frame"] <= default * (1 + tolerance))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a shipped frame model id, e.g. atari-riverraid-v9")
    ap.add_argument("--grid", default="2,3,4,5,6", help="values to try (bits); the default 2 is always tried")
    ap.add_argument("--tolerance", type=float, default=0.001, help="bits allowed over the default's, a fraction")
    ap.add_argument("--frames", type=int, default=1024, help="frames of validation play to code")
    ap.add_argument("--write", action="store_true", help="store the choice in the model's JSON")
    args = ap.parse_args()

    prepare_coding_process()  # one torch thread, as the coder's workers run
    loaded = resolve_frame_model(args.model)
    game = args.model.split("-")[1] if args.model.startswith("atari-") else None
    if game not in {name.lower() for name in GAMES}:
        raise SystemExit(f"{args.model} is not one of the Atari game models")
    chunks = in_chunks(validation_play(game, args.frames), DEFAULT_CHUNK_FRAMES)
    grid = sorted({CHEAP_COPY_BITS, *(float(v) for v in args.grid.split(",") if v.strip())})
    log = []
    for value in grid:
        log.append(measure(loaded, chunks, value))
        print(json.dumps(log[-1]), flush=True)
    chosen = choose(log, args.tolerance)
    print(json.dumps({"model": args.model, "cheap_copy_bits": chosen}))
    if args.write:
        path = loaded.weights_path.with_suffix(".json")
        info = json.loads(path.read_text())
        info["encoder"] = {"cheap_copy_bits": chosen, "chosen_on": {
            "validation_seed": VALIDATION_SEED, "frames": args.frames, "chunk": DEFAULT_CHUNK_FRAMES,
            "tolerance": args.tolerance,
            "grid": log}}
        path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
