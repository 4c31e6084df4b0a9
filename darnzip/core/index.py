"""The chunk index that ends an archive of either kind (image format 3, frame format 5 on), and the walk
that finds the members of joined archives from the end of a file.

An archive is written front to back and read front to back, so the index comes last: after the trailer,
one record gives every chunk's offset and first item (image or frame), the member's length, and the
record's own length, so that a reader at the end of a file finds it without scanning. Archives joined
end to end (`darnzip cat`, or plain `cat`) are found member by member from the last: each member's
length leads to the end of the one before, as zstd's frames and its seekable format allow. Layout in
docs/format-images.md ("Chunk index"); the same record ends a frame archive.
"""
from __future__ import annotations

import dataclasses
import struct
import zlib
from typing import BinaryIO

import numpy as np

from darnzip.core.records import ArchiveError, read_exact

__all__ = ["ChunkIndex", "IndexedChunks", "MemberSpan", "member_spans"]  # the public names (docs/api.md)

INDEX_TAG = b"DZIX"
_HEAD = struct.Struct("<4sIQ")  # tag, chunks, items
_TAIL = struct.Struct("<QII")  # member bytes, record bytes, CRC-32
MAX_INDEXED_CHUNKS = 1 << 24  # bounds what a crafted record makes a reader allocate (16 bytes a chunk)
MAX_MEMBERS = 1 << 20


def record_bytes(chunks: int) -> int:
    return _HEAD.size + 16 * chunks + _TAIL.size


@dataclasses.dataclass(frozen=True)
class ChunkIndex:
    """Where each chunk of one archive starts (from the archive's preamble) and the number of items
    (images or frames) before it; `member_bytes` counts the member from its first byte (an embedded
    model's block, if any) to the end of the index."""

    offsets: tuple[int, ...]
    firsts: tuple[int, ...]
    items: int  # images or frames in the archive
    member_bytes: int

    def chunk_items(self, number: int) -> int:
        stop = self.firsts[number + 1] if number + 1 < len(self.firsts) else self.items
        return stop - self.firsts[number]

    def to_bytes(self) -> bytes:
        chunks = len(self.offsets)
        body = (_HEAD.pack(INDEX_TAG, chunks, self.items) + np.asarray(self.offsets, "<u8").tobytes()
                + np.asarray(self.firsts, "<u8").tobytes() + struct.pack("<QI", self.member_bytes, record_bytes(chunks)))
        return body + struct.pack("<I", zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> "ChunkIndex":
        if len(data) < record_bytes(0) or data[:4] != INDEX_TAG:
            raise ArchiveError("corrupt archive: chunk index not found where the trailer ends")
        _, chunks, items = _HEAD.unpack_from(data)
        member, length, crc = _TAIL.unpack_from(data, len(data) - _TAIL.size)
        if chunks > MAX_INDEXED_CHUNKS or length != len(data) or record_bytes(chunks) != len(data):
            raise ArchiveError("corrupt archive: chunk index declares impossible sizes")
        if crc != zlib.crc32(data[:-4]):
            raise ArchiveError("corrupt archive: chunk index checksum mismatch")
        offsets = np.frombuffer(data, "<u8", chunks, _HEAD.size)
        firsts = np.frombuffer(data, "<u8", chunks, _HEAD.size + 8 * chunks)
        if (not chunks and items) or chunks and (np.any(np.diff(offsets.astype(np.int64)) <= 0) or np.any(np.diff(firsts.astype(np.int64)) < 0)
                       or int(firsts[0]) != 0 or int(firsts[-1]) > items or int(offsets[-1]) >= member):
            raise ArchiveError("corrupt archive: chunk index is not in order")
        return cls(tuple(map(int, offsets)), tuple(map(int, firsts)), int(items), int(member))

    def check_against(self, offsets: list[int], firsts: list[int], items: int) -> None:
        """A reader that went through the chunks front to back checks the index it then finds."""
        if list(self.offsets) != offsets or list(self.firsts) != firsts or self.items != items:
            raise ArchiveError("corrupt archive: chunk index does not match the chunks read")


class IndexedChunks:
    """What the archive readers of both kinds share for the chunk index: where each chunk read front to
    back began and its first item, checked against the index that ends the archive, and random access
    to one chunk at the offset the index gives. A reader sets `src` (a records.Positioned stream),
    `opened_at` (the stream's position at the archive's first byte, None if it cannot seek) and
    `chunk_tag`, calls `_start_index()`, and provides `_read_chunk(tag, number)` and `_items_in(record)`."""

    def _start_index(self) -> None:
        self.index: ChunkIndex | None = None  # read after the trailer, by `_read_index`
        self._offsets: list[int] = []
        self._firsts: list[int] = []
        self._items_read = 0

    def _read_next(self, tag: bytes, number: int):
        """The next chunk, front to back (read_records' reader), its place noted."""
        self._offsets.append(self.src.position - len(tag))
        self._firsts.append(self._items_read)
        record = self._read_chunk(tag, number)
        self._items_read += self._items_in(record)
        return record

    def _read_index(self, items: int) -> None:
        """The index after the trailer, checked against the chunks read and the trailer's item count."""
        self.index = read_index_after_trailer(self.src)
        self.index.check_against(self._offsets, self._firsts, items)

    def chunk_at(self, number: int, offset: int):
        """Chunk `number`, whose record starts `offset` bytes into the archive (its index says where)."""
        if self.opened_at is None:
            raise ValueError("random access needs a seekable stream")
        self.src.src.seek(self.opened_at + offset)
        self.src.position = offset
        tag = read_exact(self.src, 4, f"chunk {number}")
        if tag != self.chunk_tag:
            raise ArchiveError(f"corrupt archive: bad tag at chunk {number}")
        return self._read_chunk(tag, number)


def read_index_after_trailer(src: BinaryIO) -> ChunkIndex:
    """The index record that follows a trailer, read front to back."""
    head = read_exact(src, _HEAD.size, "chunk index")
    if head[:4] != INDEX_TAG:
        raise ArchiveError("corrupt archive: chunk index not found where the trailer ends")
    chunks = _HEAD.unpack(head)[1]
    if chunks > MAX_INDEXED_CHUNKS:
        raise ArchiveError("corrupt archive: chunk index declares impossible sizes")
    return ChunkIndex.from_bytes(head + read_exact(src, record_bytes(chunks) - _HEAD.size, "chunk index"))


@dataclasses.dataclass(frozen=True)
class MemberSpan:
    start: int  # the member's first byte in the file
    end: int  # one past its last (the end of its index)
    index: ChunkIndex


def member_spans(src: BinaryIO) -> list[MemberSpan]:
    """The members of a seekable file, first to last, found from its end; ArchiveError if the file does
    not end in a chunk index (an archive of an older format, or one cut short) or the lengths do not chain
    back to its first byte. Reads two small records a member, nothing else."""
    end = src.seek(0, 2)
    spans: list[MemberSpan] = []
    while end > 0:
        if len(spans) >= MAX_MEMBERS:
            raise ArchiveError("corrupt archive: too many joined archives")
        if end < record_bytes(0):
            raise ArchiveError("corrupt archive: no chunk index at the end (cut short, or an older format)")
        src.seek(end - 8)
        length, _ = struct.unpack("<II", src.read(8))
        if not record_bytes(0) <= length <= min(end, record_bytes(MAX_INDEXED_CHUNKS)):
            raise ArchiveError("corrupt archive: no chunk index at the end (cut short, or an older format)")
        src.seek(end - length)
        index = ChunkIndex.from_bytes(src.read(length))
        if index.member_bytes > end or index.member_bytes < length:
            raise ArchiveError("corrupt archive: chunk index declares impossible sizes")
        spans.append(MemberSpan(end - index.member_bytes, end, index))
        end -= index.member_bytes
    if not spans:
        raise ArchiveError("not a darnzip archive (empty)")
    return spans[::-1]
