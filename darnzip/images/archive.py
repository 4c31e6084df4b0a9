"""Compress image sources into a .dz archive and back, chunk by chunk, optionally on several processes."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np

from darnzip.images import container
from darnzip.images.chunks import CorruptChunk, decode_chunk, encode_chunk
from darnzip.images.codec import BitsBackDarnCodec
from darnzip.images.modelfile import LoadedModel, check_description, load_model
from darnzip.images.modelfile import model_for_archive
from darnzip.images.sources import pack_entries, source_count, unpack_entries
from darnzip.core.workers import OrderedPool

__all__ = ["CodingOptions", "CompressStats", "DEFAULT_PARTICLES", "MAX_PARTICLES", "accounting", "compress_stream",
           "decode_images", "iter_sources", "open_archive"]  # the public names (docs/api.md)

CODER_NAME = "bits-back-ans/bernoulli-16"
MCBITS_CODER_NAME = "mcbits-ans/bernoulli-16"
CERTAIN_SUFFIX = "/certain-q"  # posterior units at a table extreme are not coded (QuantizedDarn.lut_certain)
MAX_PARTICLES = 64
# McBits with 5 particles: 99.84 bits/image on MNIST test at about 2,400 images/s each way on 2 cores,
# against 101.39 at about 6,000 images/s for plain bits-back (`--particles 1`); `darnzip bench`.
DEFAULT_PARTICLES = 5


@dataclasses.dataclass(frozen=True)
class CodecSettings:
    """What both sides need to build the same codec; read from and written to the header's coder object."""

    particles: int = 1
    mcbits_min_batch: int = 1
    certain_posterior: bool = True


def make_codec(model, settings: CodecSettings):
    """Plain bits-back for one particle, McBits for more."""
    if settings.particles == 1:
        return BitsBackDarnCodec(model, settings.certain_posterior)
    from darnzip.images.mcbits import McBitsDarnCodec

    return McBitsDarnCodec(model, settings.particles, settings.mcbits_min_batch, settings.certain_posterior)


def coder_header(options: "CodingOptions") -> dict:
    name = CODER_NAME if options.particles == 1 else MCBITS_CODER_NAME
    coder = {"name": name + (CERTAIN_SUFFIX if options.certain_posterior else ""), "chunk_size": options.chunk_size,
             "first_batch": options.first_batch, "max_batch": options.max_batch}
    if options.particles > 1:
        coder["particles"] = options.particles
        coder["mcbits_min_batch"] = min(options.mcbits_min_batch, options.max_batch)
    return coder


def codec_settings(coder: dict) -> CodecSettings:
    """The codec settings of a header's coder object; absent McBits minimum = 1 (early v1 files).

    Names without the certain-q suffix are archives written before certain posterior units (still read)."""
    name = coder["name"]
    certain = name.endswith(CERTAIN_SUFFIX)
    base = name[: -len(CERTAIN_SUFFIX)] if certain else name
    if base == CODER_NAME:
        return CodecSettings(1, 1, certain)
    if base == MCBITS_CODER_NAME:
        k, min_batch = coder.get("particles"), coder.get("mcbits_min_batch", 1)
        if container.whole_in_range(k, 2, MAX_PARTICLES) and container.whole_in_range(min_batch, 1, container.MAX_BATCH_IMAGES):
            return CodecSettings(k, min_batch, certain)
        raise container.ArchiveError("corrupt archive: header field coder.particles is invalid")
    raise container.ArchiveError(f"archive uses coder {name!r}, which this darnzip lacks")


@dataclasses.dataclass
class CodingOptions:
    chunk_size: int = 8192  # most images per independent ANS stream (chunks are split evenly)
    first_batch: int = 1  # images coded without bits back at the start of each chunk
    max_batch: int = 1024  # images per coder call once the ramp is done
    workers: int = 1  # processes coding chunks in parallel
    particles: int = DEFAULT_PARTICLES  # posterior samples per image: 1 = bits-back (free energy), K > 1 = McBits (IWAE bound)
    mcbits_min_batch: int = 64  # McBits: smaller batches (the warm-up) use plain bits-back
    certain_posterior: bool = True  # posterior units at a table extreme are not coded (False: archives before it)


@dataclasses.dataclass
class CompressStats:
    images: int = 0
    archive_bytes: int = 0
    header_bytes: int = 0
    chunk_bytes: int = 0
    pushed_bits: list = dataclasses.field(default_factory=list)
    posterior_bits: list = dataclasses.field(default_factory=list)
    initial_bits: float = 0.0
    first_batch_images: int = 0

    @property
    def free_energy_bits(self) -> float:
        """Summed one-sample free energy of the coded latents (bits), first batches included."""
        return float(sum(p.sum() for p in self.pushed_bits) - sum(q.sum() for q in self.posterior_bits))


# ---- worker processes -----------------------------------------------------------------------------------
_WORKER_CODEC = None


def _init_worker(weights: str, sha256: str, settings: CodecSettings) -> None:
    global _WORKER_CODEC
    _WORKER_CODEC = make_codec(load_model(Path(weights), expected_sha256=sha256).quantized, settings)


def _encode_job(args):
    images, first_batch, max_batch = args
    return encode_chunk(_WORKER_CODEC, images, first_batch, max_batch)


def _decode_job(args):
    words, sizes = args
    try:
        return decode_chunk(_WORKER_CODEC, words, sizes)
    except CorruptChunk as exc:
        return exc


class ChunkRunner:
    """Runs chunk jobs in this process or on a pool of spawned workers, results in submission order."""

    def __init__(self, loaded: LoadedModel, workers: int, settings: CodecSettings):
        self.workers = max(1, workers)
        self.pool = None
        if self.workers > 1:
            # Spawned workers with single-threaded BLAS: the processes are the parallelism.
            for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                os.environ.setdefault(var, "1")
            self.pool = OrderedPool(self.workers, "spawn", _init_worker,
                                    (str(loaded.weights_path), loaded.sha256, settings), window=2 * self.workers)
        else:
            global _WORKER_CODEC
            _WORKER_CODEC = make_codec(loaded.quantized, settings)

    def map(self, job: Callable, items: Iterable) -> Iterator:
        if self.pool is None:
            return map(job, items)
        return self.pool.map(job, items)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


# ---- compression --------------------------------------------------------------------------------------
def chunk_bounds(count: int, max_chunk: int) -> list[tuple[int, int]]:
    """Split count images into the fewest chunks of at most max_chunk, as even as possible.

    Depends only on the count and the option, never on the number of workers, so the archive is the
    same on every machine.
    """
    if count == 0:
        return []
    chunks = -(-count // max_chunk)
    base, extra = divmod(count, chunks)
    bounds, start = [], 0
    for index in range(chunks):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def compress_stream(out: BinaryIO, sources: list[tuple[dict, np.ndarray]], loaded: LoadedModel,
                    options: CodingOptions, on_progress: Callable[[int], None] = lambda n: None,
                    prefix_bytes: int = 0) -> CompressStats:
    """Write a complete archive of `sources` (header entries with their bits (N, H, W)) to `out`.
    `prefix_bytes`: what the caller wrote before it that belongs to the member (an embedded model's
    block), counted in the index's member length so that joined archives can be found from the end."""
    shape = loaded.config.image_shape
    entries = [entry for entry, _ in sources]
    pixels = np.concatenate([np.zeros((0, shape[0] * shape[1]), np.uint8)] + [bits.reshape(len(bits), -1) for _, bits in sources])
    header = {
        "model": {"id": loaded.model_id, "sha256": loaded.sha256, "description": loaded.description_hash},
        "image_shape": list(shape),
        "count": int(len(pixels)),
        "coder": coder_header(options),
        "sources": pack_entries(entries),
    }
    stats = CompressStats(images=len(pixels))
    stats.header_bytes = container.write_preamble_and_header(out, header)
    digest = container.content_hasher(header)
    bounds = chunk_bounds(len(pixels), options.chunk_size)
    jobs = ((pixels[a:b], options.first_batch, options.max_batch) for a, b in bounds)
    runner = ChunkRunner(loaded, options.workers, codec_settings(header["coder"]))
    chunks = 0
    offsets: list[int] = []
    try:
        for (start, stop), encoded in zip(bounds, runner.map(_encode_job, jobs)):
            chunk_pixels = pixels[start:stop]
            record = container.ChunkRecord(len(chunk_pixels), encoded.batch_sizes, encoded.words,
                                           container.pixel_crc(chunk_pixels))
            data = record.to_bytes()
            offsets.append(stats.header_bytes + stats.chunk_bytes)
            out.write(data)
            stats.chunk_bytes += len(data)
            digest.update(np.ascontiguousarray(chunk_pixels).tobytes())
            stats.pushed_bits.append(encoded.pushed_bits)
            stats.posterior_bits.append(encoded.posterior_bits)
            stats.initial_bits += encoded.initial_bits
            stats.first_batch_images += encoded.first_batch
            chunks += 1
            on_progress(len(chunk_pixels))
    finally:
        runner.close()
    written = stats.header_bytes + stats.chunk_bytes
    stats.archive_bytes = written + container.write_ending(out, offsets, [start for start, _ in bounds][:chunks],
                                                           len(pixels), digest.digest(), written, prefix_bytes)
    return stats


# ---- decompression -------------------------------------------------------------------------------------
@dataclasses.dataclass
class OpenedArchive:
    reader: container.ArchiveReader
    header: dict
    loaded: LoadedModel


def open_archive(src: BinaryIO, model_override: str | None = None):
    """An OpenedArchive, or for images of any size (the page coder) a darnzip.pages.archive.OpenedPages;
    decode_images and iter_sources read either."""
    reader = container.ArchiveReader(src)
    header = reader.header
    if header["coder"]["name"] == container.PAGES_CODER:
        from darnzip.pages.archive import open_pages

        return open_pages(reader, model_override)
    model_id, sha = header["model"]["id"], header["model"]["sha256"]
    shape, count = tuple(header["image_shape"]), header["count"]
    codec_settings(header["coder"])
    loaded = model_for_archive(model_id, sha, model_override)
    check_description(header["model"], loaded.model_id, loaded.info, loaded.weights_path)
    if shape != tuple(loaded.config.image_shape):
        raise container.ArchiveError("corrupt archive: image shape differs from the model's")
    declared = sum(source_count(e) for e in unpack_entries(header["sources"]))
    if declared != count:
        raise container.ArchiveError("corrupt archive: sources do not add up to the image count")
    return OpenedArchive(reader, header, loaded)


def decode_images(opened: OpenedArchive, workers: int = 1,
                  on_progress: Callable[[int], None] = lambda n: None) -> Iterator[np.ndarray]:
    """Yield each chunk's decoded bits (n, D) in order, every chunk checked; the trailer hash at the end."""
    if not isinstance(opened, OpenedArchive):
        from darnzip.pages.archive import decode_pages

        yield from decode_pages(opened, on_progress)
        return
    digest = container.content_hasher(opened.header, opened.reader.version)
    runner = ChunkRunner(opened.loaded, workers, codec_settings(opened.header["coder"]))
    records: list[container.ChunkRecord] = []

    def jobs():
        for record in opened.reader.chunks():
            records.append(record)
            yield record.words, record.batch_sizes

    try:
        for index, result in enumerate(runner.map(_decode_job, jobs())):
            record = records[index]
            if isinstance(result, CorruptChunk) or container.pixel_crc(result) != record.content_crc:
                raise container.ArchiveError(f"corrupt archive: chunk {index} does not decode to its checksum")
            digest.update(np.ascontiguousarray(result).tobytes())
            records[index] = None
            on_progress(len(result))
            yield result
    finally:
        runner.close()
    if digest.digest() != opened.reader.content_sha256:
        raise container.ArchiveError("corrupt archive: decoded content does not match its SHA-256")


def iter_sources(opened: OpenedArchive, workers: int = 1,
                 on_progress: Callable[[int], None] = lambda n: None) -> Iterator[tuple[dict, np.ndarray]]:
    """Yield (entry, bits (N, H, W)) per source as soon as its images are decoded."""
    if not isinstance(opened, OpenedArchive):
        from darnzip.pages.archive import iter_page_sources

        yield from iter_page_sources(opened, on_progress)
        return
    shape = tuple(opened.header["image_shape"])
    pending = np.zeros((0, shape[0] * shape[1]), dtype=np.uint8)
    entries = iter(unpack_entries(opened.header["sources"]))
    entry = next(entries, None)
    for chunk in decode_images(opened, workers, on_progress):
        pending = np.concatenate([pending, chunk])
        while entry is not None and len(pending) >= source_count(entry):
            n = source_count(entry)
            yield entry, pending[:n].reshape(n, *shape)
            pending = pending[n:]
            entry = next(entries, None)
    while entry is not None and source_count(entry) == 0:
        yield entry, np.zeros((0, *shape), dtype=np.uint8)
        entry = next(entries, None)


def accounting(stats: CompressStats) -> dict:
    """The free-energy accounting of a compression run: the archive's bits against the free energy."""
    n = max(1, stats.images)
    actual = 8 * stats.archive_bytes
    fe = stats.free_energy_bits
    first = stats.first_batch_images
    return {
        "images": stats.images,
        "archive_bits": actual,
        "bits_per_image": actual / n,
        "free_energy_bits_per_image": fe / n,
        "initial_bits": stats.initial_bits,
        "first_batch_images": first,
        "container_bits": 8 * (stats.archive_bytes - stats.chunk_bytes),
        "gap_bits": actual - fe,
        "gap_percent": 100.0 * (actual - fe) / fe if fe else 0.0,
    }
