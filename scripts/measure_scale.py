"""Measure darnzip.scale: a large binary-image set (MNIST test digits, each shard rolled by its own shift:
shard k holds the 10,000 test images shifted by (k // 10 - 5, k % 10 - 5) pixels, so up to 100 shards are
all distinct) compressed in one process and on local Dask clusters of 1 and 2 workers; checks the
archives are byte-identical and decode to the images; prints one JSON object.

    python scripts/measure_scale.py --shards 100 --workers 1 2 --particles 1
"""
import argparse
import functools
import io
import json
import resource
import time

import numpy as np


@functools.lru_cache(maxsize=1)
def test_digits() -> np.ndarray:
    from darnzip.images.datasets import load_binary_mnist

    return load_binary_mnist("test")


def shifted_digits(shard: int, per_shard: int = 10_000) -> np.ndarray:
    shift = (shard // 10 - 5, shard % 10 - 5)
    return np.roll(test_digits()[:per_shard], shift, axis=(1, 2))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    from darnzip.scale import compress_image_shards, decompress_image_shards

    parser = argparse.ArgumentParser()
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--per-shard", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--particles", type=int, default=1)
    parser.add_argument("--single", action="store_true", help="also code in this process, without a cluster")
    parser.add_argument("--out", default="/tmp/darnzip-scale.dz")
    parser.add_argument("--json", default=None, help="also write the result to this file")
    args = parser.parse_args()
    load = functools.partial(shifted_digits, per_shard=args.per_shard)
    images = args.shards * args.per_shard
    report = {"images": images, "shards": args.shards, "particles": args.particles, "runs": []}
    reference = None
    if args.single:
        out = io.BytesIO()
        start = time.perf_counter()
        compress_image_shards(load, args.shards, out, particles=args.particles)
        seconds = time.perf_counter() - start
        reference = out.getvalue()
        report["runs"].append({"where": "one process", "compress_s": round(seconds, 1),
                               "images_per_s": round(images / seconds), "bytes": len(reference),
                               "bits_per_image": round(8 * len(reference) / images, 2),
                               "peak_rss_mb": round(peak_rss_mb())})
    import distributed

    for workers in args.workers:
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        with distributed.Client(cluster) as client:
            client.run(lambda: __import__("darnzip.api"))  # imports (torch) before the clock starts
            start = time.perf_counter()
            with open(args.out, "wb") as out:
                compress_image_shards(load, args.shards, out, client=client, particles=args.particles)
            compress_s = time.perf_counter() - start
            data = open(args.out, "rb").read()
            start = time.perf_counter()
            exact = all(np.array_equal(back, load(k)) for k, back in
                        enumerate(decompress_image_shards(args.out, client=client)))
            decompress_s = time.perf_counter() - start
            worker_rss = client.run(peak_rss_mb)
        cluster.close()
        if reference is None:
            reference = data
        report["runs"].append({"where": f"dask, {workers} worker(s)", "compress_s": round(compress_s, 1),
                               "images_per_s": round(images / compress_s), "decompress_s": round(decompress_s, 1),
                               "decoded_images_per_s": round(images / decompress_s), "bytes": len(data),
                               "same_bytes_as_first_run": data == reference, "round_trip_exact": exact,
                               "worker_peak_rss_mb": sorted(round(v) for v in worker_rss.values()),
                               "client_peak_rss_mb": round(peak_rss_mb())})
        print(json.dumps(report["runs"][-1]), flush=True)
    print(json.dumps(report))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)


if __name__ == "__main__":
    main()
