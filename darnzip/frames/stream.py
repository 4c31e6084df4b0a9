"""Streaming compression and decompression of frame streams, chunk by chunk, optionally in worker processes.

Memory is bounded by (workers + 1) chunks in flight, whatever the stream's length. The archive is the
same for any worker count: chunks are cut at frame counts that depend on the stream's length alone
(`chunk_lengths`), and each is coded on its own.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np

from darnzip.core.index import ChunkIndex, record_bytes
from darnzip.core.records import ArchiveError
from darnzip.core.modelfiles import ModelError, check_description
from darnzip.core.workers import OrderedPool
from .chunks import ChunkStats
from .container import (DEFAULT_CHUNK_FRAMES, MAX_CHUNK_FRAMES, FrameArchiveReader, FrameChunk,
                        content_hasher, header_bytes, trailer_bytes)
from .frame_slots import FrameSlots, SlotFrames
from .heap import keep_freed_memory
from .modelfile import LoadedFrameModel, load_frame_model

__all__ = ["FrameStreamStats", "compress_frames", "decompress_frames", "frame_accounting"]  # the public names (docs/api.md)


@dataclasses.dataclass
class FrameStreamStats:
    frames: int = 0
    modelled: int = 0
    raw: int = 0
    raw_bytes: int = 0
    archive_bytes: int = 0
    chunk_bytes: int = 0
    chunks: int = 0
    free_energy_bits: float = 0.0
    initial_bits: float = 0.0
    key_frames: int = 0  # frames coded from one of the model's reference frames
    universal: int = 0  # raw frames coded by the universal model
    chosen_over_model: int = 0  # of those, frames the game model codes: the universal code was shorter
    older_frame_copies: int = 0  # frames whose copies read an older frame t-lag (history models)
    per_frame_bits: list = dataclasses.field(default_factory=list)  # one-sample free energy per modelled frame


# ---- worker processes: each loads the model once --------------------------------------------------------
_WORKER_MODEL: LoadedFrameModel | None = None
_WORKER_SLOTS: FrameSlots | None = None


def prepare_coding_process() -> None:
    """Settings for a process that codes frames: torch on one thread (coding is many small ops, which
    threads only slow down) and a heap that keeps freed memory for the next frame (`heap`)."""
    import torch

    torch.set_num_threads(1)
    keep_freed_memory()


def _init_worker(weights: str, sha256: str, slots: FrameSlots | None) -> None:
    global _WORKER_MODEL, _WORKER_SLOTS
    prepare_coding_process()
    _WORKER_MODEL = load_frame_model(Path(weights), sha256)
    _WORKER_SLOTS = slots  # forked: the parent's shared memory itself (spawned workers get None)


def _encode_job(job: tuple[list[np.ndarray] | SlotFrames, int | None]) -> tuple[bytes, ChunkStats]:
    frames, _ = job
    if isinstance(frames, SlotFrames):
        frames = list(_WORKER_SLOTS.view(frames))
    chunk, stats = _WORKER_MODEL.chunk_codec().encode(frames)
    return chunk.to_bytes(), stats


def _decode_job(job: tuple[tuple[FrameChunk, int], int | None]) -> list[np.ndarray] | SlotFrames:
    (chunk, index), slot = job
    frames = _WORKER_MODEL.chunk_codec().decode(chunk, index)
    if slot is not None and _WORKER_SLOTS.fits(frames):
        return _WORKER_SLOTS.put(slot, frames)
    return frames


def worker_start_method() -> str:
    """How frame workers start: forked on Linux, spawned elsewhere (see _Runner)."""
    return "fork" if sys.platform.startswith("linux") else "spawn"


class _Runner:
    """Runs jobs in order, inline or on a worker pool, keeping at most `workers + 1` in flight.

    Workers are forked on Linux: a spawned worker imports torch again, measured at about 2 s of CPU each
    on the 2-core machines here, a third of the time a 1,000-frame stream takes. Each worker runs torch
    on one thread, as PyTorch's own forked data-loader workers do, so no thread pool of the parent is
    used in the child. Elsewhere (macOS, where fork is unsafe with system libraries, and Windows)
    workers are spawned. Forked workers get and return chunks of frames of the model's size through
    shared memory (`FrameSlots`), one slot per job in flight."""

    def __init__(self, loaded: LoadedFrameModel, workers: int, chunk_frames: object):
        self.workers = workers
        self.pool = None
        self.slots = None
        if workers > 1:
            method = worker_start_method()
            if method == "fork" and isinstance(chunk_frames, int) and 1 <= chunk_frames <= MAX_CHUNK_FRAMES:
                height, width = loaded.reference.shape
                self.slots = FrameSlots.for_chunks(workers + 1, chunk_frames, (height, width, 3))
            try:  # a forked worker inherits its initargs as they are, so the slots are not pickled
                self.pool = OrderedPool(workers, method, _init_worker,
                                        (str(loaded.weights_path), loaded.sha256, self.slots), window=workers + 1)
            except BaseException:
                self.close()
                raise
        else:
            global _WORKER_MODEL
            _WORKER_MODEL = loaded
            prepare_coding_process()

    def map(self, fn, jobs: Iterable, frames_in_job: bool = False) -> Iterator:
        """fn((job, slot)) for each job, in order. With `frames_in_job`, each job is a list of frames,
        handed over in its slot where it fits; results that a worker put in its slot are taken out of it.
        A slot is reused only once the result of the job before in it has been taken (the window)."""
        if self.pool is None:
            for job in jobs:
                yield fn((job, None))
            return
        for result in self.pool.map(fn, self._in_slots(jobs, frames_in_job)):
            yield self.slots.take(result) if isinstance(result, SlotFrames) else result

    def _in_slots(self, jobs: Iterable, frames_in_job: bool) -> Iterator:
        for number, job in enumerate(jobs):
            slot = None if self.slots is None else number % self.slots.count
            if frames_in_job and slot is not None:
                job = self.slots.send(slot, job)
            yield job, slot

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.slots is not None:
            self.slots.close()


def chunk_lengths(total: int, chunk_frames: int) -> list[int]:
    """Chunk lengths for a stream of `total` frames: full chunks, but the last two share what is left
    evenly (1,000 frames: 500 + 500, not 512 + 488; 600: 300 + 300, not 512 + 88). Workers code chunks
    side by side, so a short last chunk left one worker idle while another coded a full one: 600 Seaquest
    frames on 2 workers compressed at 191 and 167 frames/s cut 512 + 88, 293 and 264 cut 300 + 300. As many
    chunks, each at most `chunk_frames`: the bits stay (180.8 against 181.3 bits/frame there), and so does
    the memory bound."""
    full, rest = divmod(total, chunk_frames)
    if full == 0 or rest == 0:
        return [chunk_frames] * full + ([rest] if rest else [])
    tail = chunk_frames + rest
    return [chunk_frames] * (full - 1) + [(tail + 1) // 2, tail // 2]


def _chunks_of(frames: Iterable[np.ndarray], size: int, digest, stats: FrameStreamStats,
               total: int | None = None) -> Iterator[list]:
    """The frames in chunks: of `chunk_lengths(total, size)` when the stream's length is known (a hint:
    frames beyond it come in chunks of `size`), else of `size` with a shorter last one."""
    planned = iter(chunk_lengths(total, size) if total else ())
    want = next(planned, size)
    batch = []
    for frame in frames:
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ArchiveError(f"frame {stats.frames} is not an RGB image")
        digest.update(frame)  # contiguous: hashed in place
        stats.frames += 1
        batch.append(frame)
        if len(batch) == want:
            yield batch
            batch = []
            want = next(planned, size)
    if batch:
        yield batch


def compress_frames(out: BinaryIO, frames: Iterable[np.ndarray], source: dict, loaded: LoadedFrameModel,
                    chunk_frames: int = DEFAULT_CHUNK_FRAMES, workers: int = 1,
                    progress: Callable[[int], None] | None = None, total: int | None = None,
                    prefix_bytes: int = 0) -> FrameStreamStats:
    """Write the archive of `frames` to `out`, in chunks of at most `chunk_frames` (`chunk_lengths` when
    `total`, the number of frames expected, is known). `prefix_bytes`: what the caller wrote before it
    that belongs to the member (an embedded model's block), counted in the index's member length."""
    if not 1 <= chunk_frames <= MAX_CHUNK_FRAMES:
        raise ValueError(f"chunk size must be 1..{MAX_CHUNK_FRAMES} frames")
    stats = FrameStreamStats()
    header = {"model": {"id": loaded.model_id, "sha256": loaded.sha256,
                        "description": loaded.description_hash},
              "chunk_frames": chunk_frames, "source": source}
    digest = content_hasher(header)
    written = out.write(header_bytes(header)) or 0
    runner = _Runner(loaded, workers, chunk_frames)
    offsets, firsts = [], []
    try:
        for record, chunk_stats in runner.map(_encode_job, _chunks_of(frames, chunk_frames, digest, stats, total),
                                              frames_in_job=True):
            offsets.append(written)
            firsts.append(stats.modelled + stats.raw)
            out.write(record)
            written += len(record)
            stats.chunk_bytes += len(record)
            stats.chunks += 1
            stats.modelled += len(chunk_stats.frames)
            stats.raw += chunk_stats.raw_frames
            stats.raw_bytes += chunk_stats.raw_bytes
            stats.initial_bits += chunk_stats.initial_bits
            stats.key_frames += chunk_stats.key_frames
            stats.universal += chunk_stats.universal_frames
            stats.chosen_over_model += chunk_stats.chosen_over_model
            stats.older_frame_copies += sum(bits.lag > 0 for bits in chunk_stats.frames)
            for bits in chunk_stats.frames:
                stats.free_energy_bits += bits.free_energy
                stats.per_frame_bits.append(bits.free_energy)
            if progress:
                progress(len(chunk_stats.frames) + chunk_stats.raw_frames)
    finally:
        runner.close()
    trailer = trailer_bytes(stats.chunks, stats.frames, digest.digest(), {})
    written += len(trailer)
    index = ChunkIndex(tuple(offsets), tuple(firsts), stats.frames,
                       prefix_bytes + written + record_bytes(len(offsets))).to_bytes()
    out.write(trailer + index)
    stats.archive_bytes = written + len(index)
    return stats


def check_model(reader: FrameArchiveReader, loaded: LoadedFrameModel) -> None:
    model = reader.header.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("id"), str) or not isinstance(model.get("sha256"), str):
        raise ArchiveError("corrupt archive: header has no model")
    if model["sha256"] != loaded.sha256:
        raise ModelError(f"archive was written with model '{model['id']}' sha256 {model['sha256'][:16]}..., but "
                         f"'{loaded.model_id}' is sha256 {loaded.sha256[:16]}... (a different model or version)")
    check_description(model, loaded.model_id, loaded.info, loaded.weights_path)


def raw_chunk_frames(chunk: FrameChunk, index: int, missing: ModelError | None) -> list[np.ndarray]:
    """A chunk's frames without the model: possible when all were stored raw; else `missing`."""
    from .chunks import FrameChunkCodec

    if not FrameChunkCodec.holds_raw_frames_alone(chunk):
        raise missing or ModelError("this archive's frames need its model")
    return FrameChunkCodec.decode_raw(chunk, index)


def decompress_frames(reader: FrameArchiveReader, loaded: LoadedFrameModel | None, workers: int = 1,
                      progress: Callable[[int], None] | None = None,
                      missing: ModelError | None = None) -> Iterator[np.ndarray]:
    """Decoded RGB frames in order; raises ArchiveError at the end if the stream's SHA-256 differs.

    With no model (`loaded` None; `missing` says why), a stream whose frames were all stored raw still
    decodes: its header names the model it was offered, but no frame needs it. The first chunk that
    does raises `missing`."""
    digest = content_hasher(reader.header, reader.version)
    count = 0
    if loaded is None:
        runner = None
        frame_lists = (raw_chunk_frames(chunk, i, missing) for i, chunk in enumerate(reader.chunks()))
    else:
        check_model(reader, loaded)
        # the header's chunk size only sizes the slots: a chunk that does not fit them goes through the pipe
        runner = _Runner(loaded, workers, reader.header.get("chunk_frames"))
        frame_lists = runner.map(_decode_job, ((chunk, i) for i, chunk in enumerate(reader.chunks())))
    try:
        for frames in frame_lists:
            for frame in frames:
                digest.update(np.ascontiguousarray(frame))  # in place (decoded frames are contiguous)
                count += 1
                yield frame
            if progress:
                progress(len(frames))
    finally:
        if runner is not None:
            runner.close()
    trailer = reader.trailer
    if trailer is None or trailer["frames"] != count:
        raise ArchiveError("corrupt archive: frame count does not match the trailer")
    if digest.digest() != trailer["sha256"]:
        raise ArchiveError("decoded frames do not match the archive's SHA-256 (wrong model or damaged archive)")


def frame_accounting(stats: FrameStreamStats) -> dict:
    """A frame stream's bits: the archive, raw frames, the container, and the modelled frames against their free energy."""
    n = max(1, stats.frames)
    m = max(1, stats.modelled)
    actual = 8 * stats.archive_bytes
    modelled_bits = 8 * stats.chunk_bytes - 8 * stats.raw_bytes
    return {
        "frames": stats.frames, "modelled_frames": stats.modelled, "raw_frames": stats.raw,
        "universal_model_frames": stats.universal, "frames_chosen_over_the_model": stats.chosen_over_model,
        "key_frames": stats.key_frames, "frames_copying_an_older_frame": stats.older_frame_copies,
        "raw_bits": 8 * stats.raw_bytes, "archive_bits": actual, "bits_per_frame": actual / n,
        "free_energy_bits_per_modelled_frame": stats.free_energy_bits / m,
        "chunk_bits_per_modelled_frame": modelled_bits / m,
        "initial_bits": stats.initial_bits, "container_bits": 8 * (stats.archive_bytes - stats.chunk_bytes),
        "gap_percent": 100.0 * (modelled_bits - stats.free_energy_bits) / stats.free_energy_bits
        if stats.free_energy_bits else 0.0,
    }
