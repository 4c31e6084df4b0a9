"""Compress and decompress a long Atari stream without storing it, and report the peak memory of each pass.

    .venv/bin/python scripts/stream_frames.py --game Pong --frames 100000 --seed 2000 -o /tmp/pong-100k.dz

Frames come straight from the emulator into the compressor (never held as a whole); decompression writes
raw RGB into a hash. Peak RSS is measured in separate processes for the two passes (main + workers).
"""
from __future__ import annotations

import argparse
import hashlib
import resource
import subprocess
import sys
import time


def peak_rss_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def compress(args) -> None:
    from darnzip.frames.atari import play
    from darnzip.frames.stream import compress_frames
    from darnzip.frames.zoo import resolve_frame_model

    loaded = resolve_frame_model(args.model or f"atari-{args.game.lower()}")
    digest = hashlib.sha256()

    def frames():
        for frame in play(args.game, args.frames, args.seed):
            digest.update(frame.tobytes())
            yield frame

    start = time.perf_counter()
    with open(args.output, "wb") as out:
        stats = compress_frames(out, frames(), {"type": "video", "name": f"{args.game}-live"}, loaded,
                                args.chunk_frames, args.workers)
    elapsed = time.perf_counter() - start
    print(f"compress: {stats.frames} frames, {stats.archive_bytes} bytes = {8 * stats.archive_bytes / stats.frames:.1f} "
          f"bits/frame, {stats.raw} raw, {stats.frames / elapsed:.0f} frames/s (incl. emulation), "
          f"peak RSS {peak_rss_mib():.0f} MiB, sha256 {digest.hexdigest()[:16]}")


def decompress(args) -> None:
    from darnzip.frames.container import FrameArchiveReader
    from darnzip.frames.stream import decompress_frames
    from darnzip.frames.zoo import resolve_frame_model

    loaded = resolve_frame_model(args.model or f"atari-{args.game.lower()}")
    digest = hashlib.sha256()
    start = time.perf_counter()
    count = 0
    with open(args.output, "rb") as src:
        for frame in decompress_frames(FrameArchiveReader(src), loaded, args.workers):
            digest.update(frame.tobytes())
            count += 1
    elapsed = time.perf_counter() - start
    print(f"decompress: {count} frames verified against the archive's SHA-256, {count / elapsed:.0f} frames/s, "
          f"peak RSS {peak_rss_mib():.0f} MiB, sha256 {digest.hexdigest()[:16]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--game", default="Pong")
    parser.add_argument("--model", default=None, help="frame model id or file (default: the newest installed atari-GAME)")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--chunk-frames", type=int, default=512)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--phase", choices=["both", "compress", "decompress"], default="both")
    args = parser.parse_args()
    if args.phase == "both":
        for phase in ("compress", "decompress"):
            subprocess.run([sys.executable, __file__, *sys.argv[1:], "--phase", phase], check=True)
    else:
        (compress if args.phase == "compress" else decompress)(args)


if __name__ == "__main__":
    main()
