"""Binary images of any size in a .dz archive: the binary-image container (docs/format-images.md) with
the page coder (docs/format-pages.md). Consecutive images of one size are laid out as one page per
chunk (up to CHUNK_PIXELS): wide images one under the other, narrow ones in a near-square grid, so that
a set of small images shares one adapting code and its repeats."""
from __future__ import annotations

import dataclasses
from typing import BinaryIO, Callable, Iterator

import numpy as np

from darnzip.images import container
from darnzip.images.sources import pack_entries, source_count, unpack_entries

from .codec import PageDecodeError, decode_page, encode_page
from .model import PageModel

__all__ = ["CHUNK_PIXELS", "PAGES_CODER", "ChunkPlan", "OpenedPages", "PageStats", "compress_pages", "decode_pages",
           "iter_page_sources", "open_pages"]

PAGES_CODER = container.PAGES_CODER
CHUNK_PIXELS = 1 << 26  # most pixels of the images stacked into one chunk (seven Letter pages at 300 dpi; a
# larger image is a chunk alone): the pages of a chunk share the adapting counts and copy each other's glyphs
MAX_SEGMENTS = 1 << 16


@dataclasses.dataclass
class PageStats:
    images: int = 0
    pixels: int = 0
    header_bytes: int = 0
    chunk_bytes: int = 0
    archive_bytes: int = 0
    patches: int = 0
    copies: int = 0


def shape_runs(shapes) -> list[tuple[int, int, int]]:
    """(height, width, count) of each run of consecutive images of one size, from (shape, count) pairs."""
    runs: list[list[int]] = []
    for (h, w), count in shapes:
        if runs and runs[-1][:2] == [h, w]:
            runs[-1][2] += count
        elif count:
            runs.append([h, w, count])
    return [tuple(run) for run in runs]


class ChunkPlan:
    """Which images each chunk holds: a run of images of one size is cut into chunks of
    max(1, min(MAX_BATCH_IMAGES, CHUNK_PIXELS // (h * w))) images, the last one shorter. A function of
    the sizes alone, so both sides agree; chunk i is found without listing the images (a header may
    declare very many)."""

    def __init__(self, runs: list[tuple[int, int, int]]):
        self.runs = runs
        self.per_chunk = [max(1, min(container.MAX_BATCH_IMAGES, CHUNK_PIXELS // (h * w))) for h, w, _ in runs]
        self.chunk_ends = np.cumsum([-(-count // k) for (_, _, count), k in zip(runs, self.per_chunk)]).astype(np.int64)
        self.image_starts = np.cumsum([0] + [count for _, _, count in runs]).astype(np.int64)

    @classmethod
    def of_entries(cls, entries: list[dict]) -> "ChunkPlan":
        return cls(shape_runs((tuple(entry["shape"][-2:]), source_count(entry)) for entry in entries))

    def __len__(self) -> int:
        return int(self.chunk_ends[-1]) if len(self.chunk_ends) else 0

    def chunk(self, i: int) -> tuple[int, int, int, int]:
        """(first image, images, height, width) of chunk i."""
        run = int(np.searchsorted(self.chunk_ends, i, side="right"))
        h, w, count = self.runs[run]
        within = i - (int(self.chunk_ends[run - 1]) if run else 0)
        first = within * self.per_chunk[run]
        return int(self.image_starts[run]) + first, min(self.per_chunk[run], count - first), h, w


WIDE = 1024  # images at least this wide are stacked in one column; narrower ones in a near-square grid


def grid_columns(n: int, h: int, w: int) -> int:
    """Columns of the grid a chunk's n images of h x w are laid out in: 1 for wide images, else the
    fewest c with c * c * w >= n * h (a near-square page, so that a wavefront holds many pixels), at most n."""
    if w >= WIDE:
        return 1
    c = max(1, int(np.sqrt(n * h / w)) - 1)
    while c * c * w < n * h:
        c += 1
    while c > 1 and (c - 1) * (c - 1) * w >= n * h:
        c -= 1
    return min(n, c)


def lay_out(stack: np.ndarray) -> np.ndarray:
    """(n, h, w) images -> the chunk's page: a grid of grid_columns() columns, filled row by row, the last
    row padded with blank (0) images."""
    n, h, w = stack.shape
    cols = grid_columns(n, h, w)
    if cols == 1:  # one under the other: the stack itself, without a copy (a page may be 2^28 pixels)
        return stack.reshape(n * h, w)
    rows = -(-n // cols)
    grid = np.zeros((rows * cols, h, w), np.uint8)
    grid[:n] = stack
    return grid.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def page_shape(n: int, h: int, w: int) -> tuple[int, int]:
    cols = grid_columns(n, h, w)
    return -(-n // cols) * h, cols * w


def cut_up(page: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    """The inverse of lay_out, as (n, h * w)."""
    cols = grid_columns(n, h, w)
    rows = page.shape[0] // h
    return page.reshape(rows, h, cols, w).transpose(0, 2, 1, 3).reshape(rows * cols, h * w)[:n]


def _pack_segments(segments: list) -> np.ndarray:
    """[count, length of each, the words of each]: a chunk's words."""
    lengths = [len(s) for s in segments]
    return np.concatenate([np.array([len(segments), *lengths], np.uint32)] + [np.asarray(s, np.uint32) for s in segments])


def _unpack_segments(words: np.ndarray) -> list:
    if len(words) < 1 or not 1 <= int(words[0]) <= min(MAX_SEGMENTS, len(words) - 1):
        raise PageDecodeError("the chunk's segment table is damaged")
    count = int(words[0])
    lengths = words[1:1 + count].astype(np.int64)
    if int(lengths.sum()) != len(words) - 1 - count:
        raise PageDecodeError("the chunk's segment lengths do not add up")
    ends = np.cumsum(lengths) + 1 + count
    return [words[end - n:end] for n, end in zip(lengths.tolist(), ends.tolist())]


def compress_pages(out: BinaryIO, sources: list[tuple[dict, np.ndarray]], model_id: str, model: PageModel,
                   sha256: str, on_progress: Callable[[int], None] = lambda n: None, prefix_bytes: int = 0,
                   copies: bool = True) -> PageStats:
    """Write a complete archive of `sources` (entries with a "shape", their bits (N, H, W)) to `out`."""
    entries = [entry for entry, _ in sources]
    images = [image for _, bits in sources for image in bits]
    header = {"model": {"id": model_id, "sha256": sha256}, "count": len(images),
              "coder": {"name": PAGES_CODER}, "sources": pack_entries(entries)}
    stats = PageStats(images=len(images))
    stats.header_bytes = container.write_preamble_and_header(out, header)
    digest = container.content_hasher(header)
    plan = ChunkPlan(shape_runs((image.shape, 1) for image in images))
    offsets, firsts = [], []
    for number in range(len(plan)):
        start, count, _, _ = plan.chunk(number)
        stop = start + count
        firsts.append(start)
        stack = images[start][None] if count == 1 else np.stack(images[start:stop])
        stack = np.ascontiguousarray(stack, dtype=np.uint8)
        n, h, w = stack.shape
        code = encode_page(lay_out(stack), model, copies)
        flat = stack.reshape(n, h * w)
        record = container.ChunkRecord(n, [n], _pack_segments(code.segments), container.pixel_crc(flat)).to_bytes()
        offsets.append(stats.header_bytes + stats.chunk_bytes)
        out.write(record)
        stats.chunk_bytes += len(record)
        digest.update(memoryview(flat).cast("B"))
        stats.pixels += flat.size
        stats.patches += code.patches
        stats.copies += code.copies
        on_progress(n)
    written = stats.header_bytes + stats.chunk_bytes
    stats.archive_bytes = written + container.write_ending(out, offsets, firsts, len(images),
                                                           digest.digest(), written, prefix_bytes)
    return stats


@dataclasses.dataclass
class OpenedPages:
    reader: container.ArchiveReader
    header: dict
    model: PageModel
    plan: ChunkPlan


def open_pages(reader: container.ArchiveReader, model_override: str | None = None) -> OpenedPages:
    from .modelfile import page_model_for_archive

    header = reader.header
    entries = list(unpack_entries(header["sources"]))
    if sum(source_count(e) for e in entries) != header["count"]:
        raise container.ArchiveError("corrupt archive: sources do not add up to the image count")
    model = page_model_for_archive(header["model"]["id"], header["model"]["sha256"], model_override)
    return OpenedPages(reader, header, model, ChunkPlan.of_entries(entries))


def decode_chunk(opened: OpenedPages, record: container.ChunkRecord, number: int) -> np.ndarray:
    """Chunk `number` as (n, H * W) bits, its CRC checked."""
    _, images, h, w = opened.plan.chunk(number) if number < len(opened.plan) else (0, -1, 0, 0)
    if record.images != images:
        raise container.ArchiveError(f"corrupt archive: chunk {number} does not hold the images its sources say")
    try:
        page = decode_page(_unpack_segments(record.words), page_shape(record.images, h, w), opened.model)
    except PageDecodeError:
        page = None
    flat = None if page is None else cut_up(page, record.images, h, w)
    if flat is None or container.pixel_crc(flat) != record.content_crc:
        raise container.ArchiveError(f"corrupt archive: chunk {number} does not decode to its checksum")
    return flat


def decode_pages(opened: OpenedPages, on_progress: Callable[[int], None] = lambda n: None) -> Iterator[np.ndarray]:
    """Yield each chunk's (n, H * W) bits in order, every chunk checked; the trailer hash at the end."""
    digest = container.content_hasher(opened.header, opened.reader.version)
    for number, record in enumerate(opened.reader.chunks()):
        flat = decode_chunk(opened, record, number)
        digest.update(memoryview(flat).cast("B"))
        on_progress(len(flat))
        yield flat
    if digest.digest() != opened.reader.content_sha256:
        raise container.ArchiveError("corrupt archive: decoded content does not match its SHA-256")


def iter_page_sources(opened: OpenedPages, on_progress: Callable[[int], None] = lambda n: None):
    """Yield (entry, bits (N, H, W)) per source as soon as its images are decoded."""
    entries = iter(unpack_entries(opened.header["sources"]))
    entry = next(entries, None)
    pending: list[np.ndarray] = []
    for flat in decode_pages(opened, on_progress):
        pending.extend(flat)
        while entry is not None and len(pending) >= source_count(entry):
            n = source_count(entry)
            h, w = entry["shape"][-2:]
            images = pending[:n]
            yield entry, (images[0].reshape(1, h, w) if n == 1 else np.stack(images).reshape(n, h, w) if n
                          else np.zeros((0, h, w), np.uint8))
            pending = pending[n:]
            entry = next(entries, None)
    while entry is not None and source_count(entry) == 0:
        yield entry, np.zeros((0, *entry["shape"][-2:]), np.uint8)
        entry = next(entries, None)
