"""Large image sets across the workers of a Dask cluster: each shard an independent archive, the shards
joined end to end in order into one file (the joined archives `darnzip.open_archive` and `darnzip test`
read).

The result is the same bytes however many workers ran it, and with no cluster at all (`client=None`
codes the shards one after the other in this process): a shard's archive depends on its images and
the coding options alone, never on where it was coded. Memory is bounded by the shards in flight:
each worker holds the shard it codes, and this process holds at most `window` finished archives
waiting for their turn to be written.

>>> import io, numpy as np
>>> from darnzip.scale import compress_image_shards, decompress_image_shards
>>> rng = np.random.default_rng(0)
>>> shards = [(rng.random((40, 28, 28)) < 0.15).astype(np.uint8) for _ in range(3)]
>>> out = io.BytesIO()
>>> compress_image_shards(shards.__getitem__, 3, out, particles=1)
3
>>> back = list(decompress_image_shards(out.getvalue()))
>>> all(np.array_equal(a, b) for a, b in zip(shards, back))
True

With a cluster, pass its client, e.g. `distributed.Client(distributed.LocalCluster(n_workers=2,
threads_per_worker=1))`; `load_shard` must then be picklable (a module-level function, or a
functools.partial of one), and it runs on the workers, so the data is read where it is coded.
"""
from __future__ import annotations

import collections
import functools
import os
from typing import BinaryIO, Callable, Iterator

import numpy as np

__all__ = ["compress_image_shards", "decompress_image_shards", "NpyShards", "compress_shard", "decode_member"]  # the public names (docs/api.md)


class NpyShards:
    """Shards stored as .npy files, one (N, H, W) array each: a picklable `load_shard` for the workers,
    which read the files themselves (paths they can open)."""

    def __init__(self, paths: list[str | os.PathLike]):
        self.paths = [os.fspath(path) for path in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __call__(self, shard: int) -> np.ndarray:
        return np.load(self.paths[shard], allow_pickle=False)


def compress_shard(load_shard: Callable[[int], np.ndarray], shard: int, model: str | None, particles: int | None,
                   chunk_size: int | None) -> bytes:
    """One shard's archive: what a worker runs."""
    from darnzip.api import compress_images

    return compress_images(load_shard(shard), model=model, particles=particles, chunk_size=chunk_size)


def _in_order(job: Callable[[int], object], count: int, client, window: int | None) -> Iterator:
    """job(0) .. job(count - 1), results in that order: here one after the other, or on the cluster with
    at most `window` in flight (default: twice its workers), each result taken in turn whichever worker
    finished first."""
    if client is None:
        yield from map(job, range(count))
        return
    window = window or 2 * max(1, len(client.scheduler_info().get("workers", {})))
    pending: collections.deque = collections.deque()
    submitted = 0
    while submitted < count or pending:
        while submitted < count and len(pending) < window:
            pending.append(client.submit(job, submitted, pure=False))
            submitted += 1
        future = pending.popleft()
        result = future.result()
        future.release()
        yield result


def compress_image_shards(load_shard: Callable[[int], np.ndarray], shards: int, out: BinaryIO,
                          client=None, model: str | None = None, particles: int | None = None,
                          chunk_size: int | None = None, window: int | None = None,
                          on_shard: Callable[[int, int], None] | None = None) -> int:
    """Write the joined archive of shards 0 .. shards - 1 to `out`, shard k being the (N, H, W) array
    `load_shard(k)`; returns the number of shards written. `client`: a dask.distributed Client (None:
    this process). `window`: shards in flight (default: twice the cluster's workers). `on_shard(k,
    bytes)` after each shard is written (progress)."""
    job = functools.partial(compress_shard, load_shard, model=model, particles=particles, chunk_size=chunk_size)
    for shard, data in enumerate(_in_order(job, shards, client, window)):
        out.write(data)  # in shard order: the file is the same whichever worker finished first
        if on_shard:
            on_shard(shard, len(data))
    return shards


def decode_member(file: str | os.PathLike | bytes, member: int, model: str | None = None) -> np.ndarray:
    """Every image of member `member` of a joined archive, checked against its SHA-256: what a worker
    runs. `file` is a path the workers can open, or the file's bytes."""
    from darnzip.access import opened_source
    from darnzip.api import decompress_images
    from darnzip.core.index import member_spans

    with opened_source(file) as src:
        span = member_spans(src)[member]
        src.seek(span.start)
        return decompress_images(src.read(span.end - span.start), model)


def decompress_image_shards(file: str | os.PathLike | bytes, client=None, model: str | None = None,
                            window: int | None = None) -> Iterator[np.ndarray]:
    """The images of each member of a joined archive, in order, one array a member; with `client`, the
    members are decoded on the cluster's workers, which open `file` themselves (a path they can read)."""
    from darnzip.access import opened_source
    from darnzip.core.index import member_spans

    with opened_source(file) as src:
        members = len(member_spans(src))
    yield from _in_order(functools.partial(decode_member, file, model=model), members, client, window)
