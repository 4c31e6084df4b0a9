"""The .dz container: header, independent chunk records, trailer. The byte layout is specified in docs/format-images.md.

All integers are little-endian. Every part carries a CRC-32 so that damage is reported as what it is
(header, chunk k, trailer) before any decoding starts; the trailer's SHA-256 of the decoded pixels is
checked after decoding, so a wrong model or a coder bug cannot pass silently.
"""
from __future__ import annotations

import dataclasses
import struct
import zlib
from typing import BinaryIO, Iterator

import numpy as np

from darnzip.images.header import PAGES_CODER, check_header
from darnzip.core.index import IndexedChunks
from darnzip.core.records import (MAX_HEADER_BYTES, PREAMBLE, ArchiveError, Positioned, pack_json,  # noqa: F401
                                  preamble_and_header, read_exact, read_preamble, read_records,
                                  restored_content_hasher, unpack_json, whole_in_range)

__all__ = ["ArchiveReader", "FORMAT_VERSION", "INDEXED_FROM", "MAX_BATCH_IMAGES", "MAX_CHUNK_IMAGES"]  # the public names (docs/api.md)

MAGIC = b"\x89DARNZ\r\n"  # non-ASCII first byte and CR LF, like PNG's, expose text-mode mangling
FORMAT_VERSION = 3  # version 1's trailer hashed the pixels alone, version 2 had no chunk index; both are read
READABLE_VERSIONS = (1, 2, 3)
INDEXED_FROM = 3  # the first version that ends in a chunk index (darnzip.core.index) and can be joined
CHUNK_TAG = b"DZCK"
TRAILER_TAG = b"DZEN"

# Bounds checked before anything is allocated from a declared size.
MAX_HEADER_JSON_BYTES = 256 << 20
MAX_CHUNK_IMAGES = 1 << 20
MAX_CHUNK_WORDS = 1 << 28
MAX_BATCHES = 1 << 20
MAX_BATCH_IMAGES = 1 << 14  # images coded by one coder call; bounds the decoder's working memory

_CHUNK_HEAD = struct.Struct("<4sIII")  # tag, images, batches, words
_TRAILER = struct.Struct("<4sIQ32s")  # tag, chunks, images, sha256 of decoded pixels


@dataclasses.dataclass
class ChunkRecord:
    images: int
    batch_sizes: list[int]
    words: np.ndarray
    content_crc: int  # CRC-32 of the chunk's decoded pixels, one byte per pixel

    def to_bytes(self) -> bytes:
        body = (
            _CHUNK_HEAD.pack(CHUNK_TAG, self.images, len(self.batch_sizes), len(self.words))
            + np.asarray(self.batch_sizes, dtype="<u4").tobytes()
            + np.asarray(self.words, dtype="<u4").tobytes()
            + struct.pack("<I", self.content_crc)
        )
        return body + struct.pack("<I", zlib.crc32(body))


def pixel_crc(pixels: np.ndarray) -> int:
    return zlib.crc32(memoryview(np.ascontiguousarray(pixels, dtype=np.uint8)).cast("B"))


def encode_header(header: dict) -> bytes:
    return pack_json(header, separators=(",", ":"))


def write_preamble_and_header(out: BinaryIO, header: dict) -> int:
    data = preamble_and_header(encode_header(header), MAGIC, FORMAT_VERSION)
    out.write(data)
    return len(data)


def write_ending(out: BinaryIO, offsets: list[int], firsts: list[int], images: int, sha256: bytes,
                 written: int, prefix_bytes: int = 0) -> int:
    """Write the trailer and the chunk index after `written` bytes of preamble, header and chunks (and
    `prefix_bytes` before them that belong to the member: an embedded model's block); returns their length."""
    from darnzip.core.index import ChunkIndex, record_bytes

    trailer = trailer_bytes(len(offsets), images, sha256)
    index = ChunkIndex(tuple(offsets), tuple(firsts), images,
                       prefix_bytes + written + len(trailer) + record_bytes(len(offsets))).to_bytes()
    out.write(trailer + index)
    return len(trailer) + len(index)


def trailer_bytes(chunks: int, images: int, sha256: bytes) -> bytes:
    body = _TRAILER.pack(TRAILER_TAG, chunks, images, sha256)
    return body + struct.pack("<I", zlib.crc32(body))


class ArchiveReader(IndexedChunks):
    """Reads and checks an archive part by part from a binary stream."""

    def __init__(self, src: BinaryIO):
        self.opened_at = src.tell() if src.seekable() else None  # where chunk_at counts from
        self.src = Positioned(src)
        start, packed = read_preamble(self.src, self.src.read(PREAMBLE.size), MAGIC, READABLE_VERSIONS, "archive")
        self.version = PREAMBLE.unpack(start[:PREAMBLE.size])[1]
        header_len = len(packed)
        self.header = unpack_json(packed, MAX_HEADER_JSON_BYTES, "header")
        check_header(self.header)  # before anything (list included) uses a field
        self.header_bytes = PREAMBLE.size + header_len + 4
        self.chunk_tag = CHUNK_TAG
        self._start_index()  # the index is read after the trailer (versions from INDEXED_FROM)
        self.archive_bytes = 0  # once the chunks are read: the archive's length, index included

    def chunks(self) -> Iterator[ChunkRecord]:
        """Yield chunk records in order; then check the trailer and index. Another archive may follow
        an indexed one (joined archives); the caller reads it."""
        yield from read_records(self.src, CHUNK_TAG, self._read_next, TRAILER_TAG, self._read_trailer,
                                joinable=self.version >= INDEXED_FROM)

    @staticmethod
    def _items_in(record: ChunkRecord) -> int:
        return record.images

    def _read_chunk(self, tag: bytes, index: int) -> ChunkRecord:
        head = tag + read_exact(self.src, _CHUNK_HEAD.size - 4, f"chunk {index} header")
        _, images, batches, words = _CHUNK_HEAD.unpack(head)
        if images > MAX_CHUNK_IMAGES or batches > MAX_BATCHES or words > MAX_CHUNK_WORDS or batches > images:
            raise ArchiveError(f"corrupt archive: chunk {index} declares impossible sizes")
        sizes_raw = read_exact(self.src, 4 * batches, f"chunk {index}")
        words_raw = read_exact(self.src, 4 * words, f"chunk {index}")
        tail = read_exact(self.src, 8, f"chunk {index}")
        content_crc, crc = struct.unpack("<II", tail)
        if crc != zlib.crc32(head + sizes_raw + words_raw + tail[:4]):
            raise ArchiveError(f"corrupt archive: chunk {index} checksum mismatch")
        sizes = np.frombuffer(sizes_raw, dtype="<u4").astype(np.int64)
        if int(sizes.sum()) != images or (batches and (int(sizes.min()) < 1 or int(sizes.max()) > MAX_BATCH_IMAGES)):
            raise ArchiveError(f"corrupt archive: chunk {index} batch sizes do not add up")
        return ChunkRecord(images, sizes.tolist(), np.frombuffer(words_raw, dtype="<u4").astype(np.uint32), content_crc)

    def _read_trailer(self, tag: bytes, chunks_seen: int) -> None:
        body = tag + read_exact(self.src, _TRAILER.size - 4, "trailer")
        (crc,) = struct.unpack("<I", read_exact(self.src, 4, "trailer"))
        if crc != zlib.crc32(body):
            raise ArchiveError("corrupt archive: trailer checksum mismatch")
        _, chunks, images, sha = _TRAILER.unpack(body)
        if chunks != chunks_seen or images != self.header.get("count"):
            raise ArchiveError("corrupt archive: trailer counts do not match the chunks read")
        self.content_sha256 = sha
        if self.version >= INDEXED_FROM:
            self._read_index(images)
        self.archive_bytes = self.src.position


def content_hasher(header: dict, version: int = FORMAT_VERSION):
    """The trailer's hash: from version 2 on, of the sources' description and the shape, then the pixels."""
    described = {key: header.get(key) for key in ("image_shape", "count", "sources")} if version >= 2 else None
    return restored_content_hasher(described)
