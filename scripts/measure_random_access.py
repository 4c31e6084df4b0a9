"""Measure random access: compress a long stream of Atari play (streamed, never held in memory) to one
archive, then time `darnzip.open_archive` (indexes and headers only), reading single chunks at the
start, middle and end, and decoding the whole archive; prints one JSON object.

    python scripts/measure_random_access.py --game Pong --frames 100000 --seed 1000 --workers 2
"""
import argparse
import json
import os
import resource
import time


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main():
    import darnzip
    from darnzip.frames.atari import play

    parser = argparse.ArgumentParser()
    parser.add_argument("--game", default="Pong")
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="/tmp/darnzip-random-access.dz")
    parser.add_argument("--whole", action="store_true", help="also decode the whole archive, for comparison")
    parser.add_argument("--json", default=None, help="also write the result to this file")
    args = parser.parse_args()
    report = {"game": args.game, "frames": args.frames, "seed": args.seed, "workers": args.workers}
    if not os.path.exists(args.out):
        start = time.perf_counter()
        data = darnzip.compress_frames(play(args.game, args.frames, args.seed), workers=args.workers)
        report["compress_s"] = round(time.perf_counter() - start, 1)
        report["compress_peak_rss_mb"] = {"this process": round(peak_rss_mb(resource.RUSAGE_SELF)),
                                          "largest worker": round(peak_rss_mb(resource.RUSAGE_CHILDREN))}
        with open(args.out, "wb") as out:
            out.write(data)
    report["archive_bytes"] = os.path.getsize(args.out)
    start = time.perf_counter()
    with darnzip.open_archive(args.out) as archive:
        report["open_s"] = round(time.perf_counter() - start, 3)
        report["chunks"], report["archive_frames"] = len(archive.chunks), archive.count
        reads = []
        for i in (0, len(archive.chunks) // 2, len(archive.chunks) - 1):
            start = time.perf_counter()
            frames = archive.read_chunk(i)
            reads.append({"chunk": i, "frames": len(frames), "seconds": round(time.perf_counter() - start, 3)})
        report["chunk_reads"] = reads
        start = time.perf_counter()
        middle = archive.read(archive.count // 2, archive.count // 2 + 10)
        report["ten_frames_from_the_middle_s"] = round(time.perf_counter() - start, 3)
        assert len(middle) == 10 and all(frame.shape == (210, 160, 3) for frame in middle)
    if args.whole:
        start = time.perf_counter()
        count = sum(1 for _ in darnzip.decompress_frames(open(args.out, "rb").read(), workers=args.workers))
        report["whole_decode_s"] = round(time.perf_counter() - start, 1)
        report["whole_decode_frames"] = count
    print(json.dumps(report))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)


if __name__ == "__main__":
    main()
