"""Random access to archives of either kind, joined or not: find the members and their chunks from the
indexes at the end of the file, then decode any one chunk, or any range of images or frames, on its own.

A chunk is the unit of coding, so reading chunk i costs that chunk: the index gives its offset, its
record's CRC-32 is checked, and its decoded content is checked against the CRC-32 the record holds. The
archive-wide SHA-256 needs every chunk; `darnzip test` (or `decompress`) checks it.

>>> import io, numpy as np, darnzip
>>> images = (np.random.default_rng(1).random((30, 28, 28)) < 0.2).astype(np.uint8)
>>> joined = darnzip.compress_images(images[:20], chunk_size=8) + darnzip.compress_images(images[20:])
>>> with darnzip.open_archive(io.BytesIO(joined)) as archive:
...     print(archive.kind, archive.count, len(archive.members), [(c.first, c.count) for c in archive.chunks])
...     assert np.array_equal(archive.read_chunk(1), images[7:14])
...     assert np.array_equal(archive.read(5, 25), images[5:25])
images 30 2 [(0, 7), (7, 7), (14, 6), (20, 10)]
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from darnzip.core.embedded import MAGIC as EMBEDDED_MAGIC
from darnzip.core.embedded import embedded_model_files
from darnzip.core.index import ChunkIndex, member_spans
from darnzip.core.records import ArchiveError

__all__ = ["open_archive", "Archive", "ChunkRef", "Member", "MemberStream", "opened_source", "read_members"]  # the public names (docs/api.md)

IMAGE_MAGIC = b"\x89DARNZ\r\n"
FRAME_MAGIC = b"\x89DARNF\r\n"


@dataclasses.dataclass(frozen=True)
class ChunkRef:
    """Chunk `number` of member `member`: items (images or frames) `first` .. `first + count` of the file."""

    member: int
    number: int
    first: int
    count: int


@dataclasses.dataclass
class Member:
    """One archive of a joined file: where it starts, its header and index, and what decodes it."""

    start: int  # its first byte in the file (an embedded model's block, if any)
    kind: str  # "images" or "frames"
    header: dict
    index: ChunkIndex
    reader: object  # the kind's container reader, positioned by chunk_at
    decode: object  # chunk record, number -> decoded items


class Archive:
    """A darnzip file opened for random access. Use as a context manager, or call `close`."""

    def __init__(self, src: BinaryIO, model: str | None = None, close_src: bool = False):
        if not src.seekable():
            raise ValueError("random access needs a seekable file (read a pipe with decompress)")
        self._src = src
        self._stack = contextlib.ExitStack()
        if close_src:
            self._stack.callback(src.close)
        try:
            self.members = [self._open_member(span.start, span.index, model) for span in member_spans(src)]
        except BaseException:
            self.close()
            raise
        kinds = {member.kind for member in self.members}
        if len(kinds) != 1:
            self.close()
            raise ArchiveError("the file joins image and frame archives")
        self.kind = kinds.pop()
        self.chunks: list[ChunkRef] = []
        first = 0
        for number, member in enumerate(self.members):
            for k, start in enumerate(member.index.firsts):
                self.chunks.append(ChunkRef(number, k, first + start, member.index.chunk_items(k)))
            first += member.index.items
        self.count = first

    def _open_member(self, start: int, index: ChunkIndex, model: str | None) -> Member:
        self._src.seek(start)
        head = self._src.read(8)
        if head == EMBEDDED_MAGIC:
            weights, _, size = self._stack.enter_context(embedded_model_files(self._src, head))
            model = model or str(weights)
            head = self._src.read(8)
        self._src.seek(-len(head), os.SEEK_CUR)
        if head == IMAGE_MAGIC:
            return self._image_member(start, index, model)
        if head == FRAME_MAGIC:
            return self._frame_member(start, index, model)
        raise ArchiveError("not a darnzip archive (bad magic number)")

    def _image_member(self, start: int, index: ChunkIndex, model: str | None) -> Member:
        from darnzip.images import archive as arc
        from darnzip.images.chunks import CorruptChunk, decode_chunk
        from darnzip.images.container import pixel_crc
        from darnzip.images.sources import restore_pixels, source_count, unpack_entries

        opened = arc.open_archive(self._src, model)
        entries = list(unpack_entries(opened.header["sources"]))
        bounds = np.cumsum([0] + [source_count(entry) for entry in entries])
        if isinstance(opened, arc.OpenedArchive):
            codec = arc.make_codec(opened.loaded.quantized, arc.codec_settings(opened.header["coder"]))
            plan = None
        else:  # images of any size (the page coder): a chunk holds images of one size
            from darnzip.pages.archive import decode_chunk as decode_pages_chunk

            plan = opened.plan

        def decode(record, number: int) -> np.ndarray:
            if plan is not None:
                bits = decode_pages_chunk(opened, record, number)
            else:
                try:
                    bits = decode_chunk(codec, record.words, record.batch_sizes)
                except CorruptChunk:
                    bits = None
                if bits is None or pixel_crc(bits) != record.content_crc:
                    raise ArchiveError(f"corrupt archive: chunk {number} does not decode to its checksum")
            first = index.firsts[number]
            shape = plan.chunk(number)[2:] if plan is not None else tuple(opened.header["image_shape"])
            parts = []
            for k, entry in enumerate(entries):  # each source's pixels back to its values
                lo, hi = max(bounds[k], first), min(bounds[k + 1], first + len(bits))
                if lo < hi:
                    parts.append(restore_pixels(entry, bits[lo - first:hi - first]))
            return np.concatenate(parts).astype(_images_dtype(entries)).reshape(-1, *shape)

        return Member(start, "images", opened.header, index, opened.reader, decode)

    def _frame_member(self, start: int, index: ChunkIndex, model: str | None) -> Member:
        from darnzip.frames.container import FrameArchiveReader
        from darnzip.frames.stream import check_model, raw_chunk_frames
        from darnzip.frames.zoo import model_or_why_not

        reader = FrameArchiveReader(self._src)
        loaded, missing = model_or_why_not(reader.header.get("model"), model)
        if loaded is not None:
            check_model(reader, loaded)

        def decode(chunk, number: int) -> list[np.ndarray]:  # both check the chunk's CRC-32
            if loaded is None:
                return raw_chunk_frames(chunk, number, missing)
            return loaded.chunk_codec().decode(chunk, number)

        return Member(start, "frames", reader.header, index, reader, decode)

    def read_chunk(self, i: int):
        """Chunk i of the file, decoded: images as an (n, H, W) array of their values, frames as a list of
        (H, W, 3) uint8 arrays (frames stored raw may differ in size)."""
        if not 0 <= i < len(self.chunks):
            raise IndexError(f"chunk {i} of {len(self.chunks)}")
        ref = self.chunks[i]
        member = self.members[ref.member]
        record = member.reader.chunk_at(ref.number, member.index.offsets[ref.number])
        items = record.images if member.kind == "images" else len(record.kinds)
        if items != ref.count:
            raise ArchiveError(f"corrupt archive: chunk {ref.number} does not hold what the index says")
        return member.decode(record, ref.number)

    def read(self, start: int, stop: int):
        """Items start .. stop - 1 (images as one array, a list when their sizes differ; frames as a list),
        decoding only the chunks that hold them."""
        start, stop = max(0, start), min(stop, self.count)
        parts = []
        for i, ref in enumerate(self.chunks):
            if ref.first < stop and start < ref.first + ref.count:
                items = self.read_chunk(i)
                parts.append(items[max(0, start - ref.first):stop - ref.first])
        if self.kind == "frames":
            return [frame for part in parts for frame in part]
        if not parts:
            return np.zeros((0, *(self.members[0].header.get("image_shape") or (0, 0))), np.uint8)
        if len({part.shape[1:] for part in parts}) > 1:  # images of several sizes (the page coder): a list
            return [image for part in parts for image in part]
        return np.concatenate(parts)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclasses.dataclass
class MemberStream:
    """One archive of a stream, ready for its kind's reader: a frame archive's stream is just past
    `frame_start` (its first bytes, already read); an image archive's is at its first byte."""

    src: BinaryIO
    frame_start: bytes | None  # None for an image archive
    model: str | None  # the model to decode with: the one asked for, else an embedded model's file, else None
    model_bytes: int  # the embedded model's block in front of it (0: none)
    number: int  # which of the joined archives (0: the first)


def read_members(src: BinaryIO, model: str | None = None) -> Iterator[MemberStream]:
    """Each archive of a stream in turn, front to back: one, or several joined end to end. The caller
    reads each to its end before taking the next; an embedded model is unpacked while its archive is
    read. Frame archives are read as a stream (a pipe too); an image archive's reader wants its stream
    at the first byte, so from a stream that cannot seek the rest is read into memory."""
    number = 0
    while True:
        start = src.read(14)
        if number and not start:
            return
        if number and start[:8] not in (IMAGE_MAGIC, FRAME_MAGIC, EMBEDDED_MAGIC):
            raise ArchiveError("corrupt archive: unexpected bytes after the trailer")
        with contextlib.ExitStack() as stack:
            member_model, block = model, 0
            if start[:8] == EMBEDDED_MAGIC:
                weights, _, block = stack.enter_context(embedded_model_files(src, start))
                member_model = model or str(weights)
                start = src.read(14)
            if start[:8] == FRAME_MAGIC:
                yield MemberStream(src, start, member_model, block, number)
            else:
                if src.seekable():
                    src.seek(-len(start), os.SEEK_CUR)
                else:
                    src = io.BytesIO(start + src.read())
                yield MemberStream(src, None, member_model, block, number)
        number += 1


def _images_dtype(entries: list[dict]) -> np.dtype:
    """Images restore to their sources' values: PNG/PBM sources are uint8, .npy sources their dtype."""
    return np.result_type(*[np.dtype(entry["dtype"]) if entry["type"] == "npy" else np.uint8 for entry in entries])


@contextlib.contextmanager
def opened_source(file: str | os.PathLike | bytes | bytearray) -> Iterator[BinaryIO]:
    """An archive's bytes, or a path to read them from, as a binary stream."""
    if isinstance(file, (bytes, bytearray)):
        yield io.BytesIO(file)
    else:
        with open(file, "rb") as stream:
            yield stream


def open_archive(file: str | os.PathLike | BinaryIO | bytes, model: str | None = None) -> Archive:
    """Open a darnzip file (a path, bytes or a seekable binary file) for random access. Only the
    indexes and headers are read; `model` names a model file when an archive's is not installed."""
    if isinstance(file, (bytes, bytearray)):
        return Archive(io.BytesIO(file), model)
    if isinstance(file, (str, os.PathLike)):
        return Archive(open(Path(file), "rb"), model, close_src=True)
    return Archive(file, model)
