"""Measure darnzip on frame streams side by side with the byte compressors, and the universal model alone
with its tables adapting and frozen. One JSON line per stream:

    python scripts/measure_universal.py Atlantis Gopher Hero Jamesbond Tutankham Zaxxon --frames 1000 --seed 1000
    python scripts/measure_universal.py Pong --transform crop200   # also x2 (scaled 2x), random8

Bits are per frame; `ratio` is darnzip over the best of bzip2 -9, xz -9e and zstd -22 --long=27 on the
palette-index stream; darnzip picks its model and chunking as `compress` does (its compress rate
includes trying the byte compressors on every chunk). `universal_*` is the universal model alone on
the index frames, its tables adapting and frozen, with its own rates each way. `--json FILE` also
writes the lines as one JSON list (docs/frames/universal.json, which scripts/benchmarks_doc.py reads)."""
from __future__ import annotations

import argparse
import json
import time

from pathlib import Path

import numpy as np


def transformed(rgb: np.ndarray, transform: str, seed: int) -> np.ndarray:
    if transform == "crop200":
        return np.ascontiguousarray(rgb[:, 5:205, 5:155])
    if transform == "x2":
        return np.ascontiguousarray(rgb.repeat(2, 1).repeat(2, 2))
    if transform == "random8":
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, (8, 3), dtype=np.uint8)[rng.integers(0, 8, rgb.shape[:3])]
    return rgb


def measure(game: str, frames: int, seed: int, transform: str) -> dict:
    from darnzip.frames.atari import frames_array
    from darnzip.frames.bench import byte_codecs, index_stream, round_trip
    from darnzip.frames.universal.coder import decode_chunk, encode_chunk
    from darnzip.frames.universal.modelfile import default_universal
    from darnzip.frames.zoo import chunk_frames_for, pick_frame_model

    rgb = transformed(frames_array(game, frames, seed), transform, seed)
    idx = index_stream(rgb)
    classical = {r.name: r.bytes * 8 / frames for r in byte_codecs(idx)}
    loaded = pick_frame_model(None, rgb[0])
    chunk = chunk_frames_for(loaded, rgb[0], None)
    run = round_trip(rgb, loaded, 1, chunk)
    model, _ = default_universal()
    colours = int(idx.max()) + 1

    def universal(adapt: bool) -> tuple[float | None, float, float]:
        """Bits a frame, frames a second coding and decoding (0 where a chunk went to the byte coders)."""
        start = time.perf_counter()
        words = [encode_chunk(list(idx[i:i + chunk]), model.tables(colours, adapt)) for i in range(0, frames, chunk)]
        encode_s = time.perf_counter() - start
        if any(w is None for w in words):
            return None, 0.0, 0.0
        start = time.perf_counter()
        for n, (i, w) in enumerate(zip(range(0, frames, chunk), words)):
            back = decode_chunk(w, idx.shape[1:], len(idx[i:i + chunk]), model.tables(colours, adapt))
            assert all(np.array_equal(a, b) for a, b in zip(back, idx[i:i + chunk])), "universal round trip"
        return sum(32 * len(w) for w in words) / frames, frames / encode_s, frames / (time.perf_counter() - start)

    best = min(classical.values())
    adapting, encode_fps, decode_fps = universal(True)
    return {"stream": f"{game} {transform}".strip(), "frames": frames, "seed": seed, "model": loaded.model_id,
            "chunk_frames": chunk, "exact": run.exact, "darnzip_bits": len(run.archive) * 8 / frames,
            "best_classical_bits": best, "ratio": len(run.archive) * 8 / frames / best, "classical_bits": classical,
            "universal_adapting_bits": adapting, "universal_frozen_bits": universal(False)[0],
            "universal_ratio": None if adapting is None else adapting / best,
            "universal_encode_fps": encode_fps, "universal_decode_fps": decode_fps,
            "compress_fps": frames / run.compress_s, "decompress_fps": frames / run.decompress_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("games", nargs="+")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1000, help="play seed (the model trained on seed 100)")
    parser.add_argument("--transform", default="", choices=["", "crop200", "x2", "random8"])
    parser.add_argument("--json", type=Path, help="also write every line into this JSON list (added to one there)")
    args = parser.parse_args()
    out = json.loads(args.json.read_text()) if args.json and args.json.exists() else []
    for game in args.games:
        line = measure(game, args.frames, args.seed, args.transform)
        print(json.dumps(line), flush=True)
        out = [o for o in out if o["stream"] != line["stream"]] + [line]
        if args.json:
            args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
