"""The frame-stream container (.dz, magic \\x89DARNF\\r\\n): written front to back, readable front to back.

Nothing in it needs the frame count in advance, so it can be written from a pipe or a video decoder and
read to a pipe: preamble + header, then chunk records, then a trailer with the counts, the frame names
and a SHA-256 of every decoded RGB byte. Every part carries a CRC-32. Layout in docs/format-frames.md.
"""
from __future__ import annotations

import contextlib
import dataclasses
import struct
import zlib
from typing import BinaryIO, Iterator

import numpy as np
import zstandard

from darnzip.frames.header import check_frame_header
from darnzip.core.index import IndexedChunks, member_spans
from darnzip.core.records import (PREAMBLE, ArchiveError, Positioned, pack_json, preamble_and_header, read_exact,
                                  read_preamble, read_records, restored_content_hasher, unpack_json)

__all__ = ["DEFAULT_CHUNK_FRAMES", "FrameArchiveReader", "INDEXED_FROM", "MAGIC", "MAX_CHUNK_FRAMES",
           "FORMAT_VERSION"]  # the public names (docs/api.md)

MAGIC = b"\x89DARNF\r\n"
FORMAT_VERSION = 5  # what darnzip writes: 1 (no key frames), 2 (trailer hashes the frames alone), 3 (no
# universal model on the raw side) and 4 (no chunk index) are read
READABLE_VERSIONS = (1, 2, 3, 4, 5)
INDEXED_FROM = 5  # the first version that ends in a chunk index (darnzip.core.index) and can be joined
CHUNK_TAG = b"DZFC"
TRAILER_TAG = b"DZFE"

KIND_MODELLED = 0  # coded by the frame model (palette indices, bits-back)
KIND_RAW = 1  # stored in the chunk's raw side (darnzip.frames.rawside): another size or colours off the palette
KIND_KEY = 2  # coded by the frame model with one of its reference frames as the context (a reset, a cut)

DEFAULT_CHUNK_FRAMES = 512  # frames per independent chunk unless asked otherwise

MAX_HEADER_BYTES = 1 << 20
MAX_CHUNK_FRAMES = 1 << 16
MAX_CHUNK_WORDS = 1 << 28
MAX_SIDE_BYTES = 1 << 30
MAX_FRAME_SIDE = 1 << 14
MAX_TRAILER_BYTES = 64 << 20

_CHUNK_HEAD_V1 = struct.Struct("<4sIIII")  # tag, frames, raw frames, side bytes, ANS words
_CHUNK_HEAD = struct.Struct("<4sIIIII")  # tag, frames, raw frames, key frames, side bytes, ANS words
_TRAILER_HEAD = struct.Struct("<4sIQ32sI")  # tag, chunks, frames, sha256 of RGB, names length
_TRAILER_TAIL_SEARCH = 1 << 16  # how far from the end `stated_frames` looks for the trailer (today's: 67 bytes)


@dataclasses.dataclass
class FrameChunk:
    kinds: np.ndarray  # (frames,) uint8
    raw_shapes: list[tuple[int, int]]  # (height, width) of each raw frame, in order
    side: bytes  # the raw frames, coded as one stream (darnzip.frames.rawside)
    words: np.ndarray  # ANS stream of the modelled frames (uint32)
    content_crc: int  # CRC-32 of the chunk's RGB bytes, frame after frame
    key_references: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.uint8))
    # the reference frame of each key frame, in order
    version: int = 3  # the format it was read from: how its side is coded (darnzip.frames.rawside)

    def to_bytes(self) -> bytes:
        kinds = np.asarray(self.kinds)
        keys = np.flatnonzero(kinds == KIND_KEY)
        if len(keys) != len(self.key_references):
            raise ValueError("one reference index per key frame")
        raw_positions = np.flatnonzero(kinds == KIND_RAW)
        raw_tables = b""
        if len(raw_positions):  # format 3: 8 bytes a raw frame were most of a cheap raw stream's cost, so the
            # positions go as the gaps between them (mostly 1), with the shapes, in one zstd frame
            gaps = np.diff(raw_positions, prepend=-1).astype("<u4").tobytes()
            packed = zstandard.ZstdCompressor(level=19).compress(
                gaps + np.asarray(self.raw_shapes, dtype="<u2").reshape(-1, 2).tobytes())
            raw_tables = struct.pack("<I", len(packed)) + packed
        body = (
            _CHUNK_HEAD.pack(CHUNK_TAG, len(kinds), len(self.raw_shapes), len(keys), len(self.side), len(self.words))
            + raw_tables
            + keys.astype("<u4").tobytes()
            + np.asarray(self.key_references, dtype=np.uint8).tobytes()
            + self.side
            + np.asarray(self.words, dtype="<u4").tobytes()
            + struct.pack("<I", self.content_crc)
        )
        return body + struct.pack("<I", zlib.crc32(body))


def _increasing_below(positions: np.ndarray, frames: int) -> bool:
    return not len(positions) or (bool(np.all(np.diff(positions) > 0)) and positions[-1] < frames)


def header_bytes(header: dict) -> bytes:
    return preamble_and_header(pack_json(header), MAGIC, FORMAT_VERSION)


def trailer_bytes(chunks: int, frames: int, sha256: bytes, extra: dict) -> bytes:
    packed = pack_json(extra)
    body = _TRAILER_HEAD.pack(TRAILER_TAG, chunks, frames, sha256, len(packed)) + packed
    return body + struct.pack("<I", zlib.crc32(body))


class FrameArchiveReader(IndexedChunks):
    """Reads and checks a frame archive part by part; the trailer is available after `chunks()` ends."""

    def __init__(self, src: BinaryIO, start: bytes | None = None):
        self.opened_at = None  # where chunk_at counts from, on a seekable stream
        with contextlib.suppress(OSError, ValueError):
            self.opened_at = src.tell() - (len(start) if start is not None else 0) if src.seekable() else None
        start = start if start is not None else src.read(PREAMBLE.size)
        self.src = Positioned(src, len(start))
        start, packed = read_preamble(self.src, start, MAGIC, READABLE_VERSIONS, "frame archive", MAX_HEADER_BYTES)
        self.version = PREAMBLE.unpack(start[:PREAMBLE.size])[1]
        self.header = unpack_json(packed, MAX_HEADER_BYTES * 16, "header")
        check_frame_header(self.header, MAX_CHUNK_FRAMES)
        self.trailer: dict | None = None
        self.chunk_tag = CHUNK_TAG
        self._start_index()  # the index is read after the trailer (versions from INDEXED_FROM)
        self.archive_bytes = 0  # once the chunks are read: the archive's length, index included

    def stated_frames(self) -> int | None:
        """The frame count the trailer states, read off the end of a seekable file without moving the
        reader (None for a pipe, or if no whole trailer with a valid checksum ends the file). Only a hint,
        for progress: `chunks()` checks the real trailer at the end."""
        try:
            if not self.src.seekable():
                return None
            here = self.src.tell()
            end = self.src.seek(0, 2)
            self.src.seek(max(0, end - _TRAILER_TAIL_SEARCH))
            tail = self.src.read()
            self.src.seek(here)
        except (OSError, ValueError):
            return None
        if self.version >= INDEXED_FROM:
            return self._indexed_frames(here)
        at = tail.rfind(TRAILER_TAG)
        while at >= 0:
            if at + _TRAILER_HEAD.size + 4 <= len(tail):
                _, _, frames, _, length = _TRAILER_HEAD.unpack_from(tail, at)
                body_end = at + _TRAILER_HEAD.size + length
                if body_end + 4 == len(tail) and \
                        struct.unpack_from("<I", tail, body_end)[0] == zlib.crc32(tail[at:body_end]):
                    return frames
            at = tail.rfind(TRAILER_TAG, 0, at)
        return None

    def _indexed_frames(self, here: int) -> int | None:
        """The frames of the member this reader is in, from the indexes at the end of the file."""
        start = here - self.src.position
        try:
            spans = member_spans(self.src.src)
        except ArchiveError:
            return None
        finally:
            self.src.src.seek(here)
        return next((span.index.items for span in spans if span.start <= start < span.end), None)

    def chunks(self) -> Iterator[FrameChunk]:
        """Chunk records in order; then the trailer and index are checked. Another archive may follow an
        indexed one (joined archives); the caller reads it."""
        yield from read_records(self.src, CHUNK_TAG, self._read_next, TRAILER_TAG, self._read_trailer,
                                joinable=self.version >= INDEXED_FROM)

    @staticmethod
    def _items_in(chunk: FrameChunk) -> int:
        return len(chunk.kinds)

    def _read_chunk(self, tag: bytes, index: int) -> FrameChunk:
        layout = _CHUNK_HEAD if self.version >= 2 else _CHUNK_HEAD_V1
        head = tag + read_exact(self.src, layout.size - 4, f"chunk {index} header")
        if self.version >= 2:
            _, frames, raws, keys, side_len, words = layout.unpack(head)
        else:
            (_, frames, raws, side_len, words), keys = layout.unpack(head), 0
        if not 1 <= frames <= MAX_CHUNK_FRAMES or raws + keys > frames or side_len > MAX_SIDE_BYTES \
                or words > MAX_CHUNK_WORDS:
            raise ArchiveError(f"corrupt archive: chunk {index} declares impossible sizes")
        if self.version >= 3 and raws:  # the raw frames' positions and shapes, zstd-packed, after their length
            packed_len = read_exact(self.src, 4, f"chunk {index}")
            (length,) = struct.unpack("<I", packed_len)
            if length > 16 * raws + 64:
                raise ArchiveError(f"corrupt archive: chunk {index} declares impossible sizes")
            packed = read_exact(self.src, length, f"chunk {index}")
            try:
                raw_tables = zstandard.ZstdDecompressor().decompress(packed, max_output_size=8 * raws)
            except zstandard.ZstdError:
                raw_tables = b""
            if len(raw_tables) != 8 * raws or zstandard.frame_content_size(packed) != 8 * raws:
                raise ArchiveError(f"corrupt archive: chunk {index} frame table is invalid")
            gaps = np.frombuffer(raw_tables[:4 * raws], dtype="<u4").astype(np.int64)
            tables = [(np.cumsum(gaps) - 1).clip(0, (1 << 32) - 1).astype("<u4").tobytes() if gaps.min() >= 1
                      else b"\xff" * (4 * raws), raw_tables[4 * raws:]]  # a gap of 0 fails the check below
            stored = [packed_len + packed]
        else:
            tables = [read_exact(self.src, size, f"chunk {index}") for size in (4 * raws, 4 * raws)]
            stored = list(tables)
        keyed = [read_exact(self.src, size, f"chunk {index}") for size in (4 * keys, keys)]
        tables += keyed
        stored += keyed
        side = read_exact(self.src, side_len, f"chunk {index}")
        words_raw = read_exact(self.src, 4 * words, f"chunk {index}")
        tail = read_exact(self.src, 8, f"chunk {index}")
        content_crc, crc = struct.unpack("<II", tail)
        if crc != zlib.crc32(b"".join([head, *stored, side, words_raw, tail[:4]])):
            raise ArchiveError(f"corrupt archive: chunk {index} checksum mismatch")
        positions = np.frombuffer(tables[0], dtype="<u4").astype(np.int64)
        shapes = np.frombuffer(tables[1], dtype="<u2").reshape(-1, 2).astype(int)
        key_positions = np.frombuffer(tables[2], dtype="<u4").astype(np.int64)
        key_references = np.frombuffer(tables[3], dtype=np.uint8).copy()
        if not (_increasing_below(positions, frames) and _increasing_below(key_positions, frames)) \
                or np.isin(key_positions, positions).any() or np.any(shapes < 1) or np.any(shapes > MAX_FRAME_SIDE):
            raise ArchiveError(f"corrupt archive: chunk {index} frame table is invalid")
        kinds = np.full(frames, KIND_MODELLED, dtype=np.uint8)
        kinds[positions] = KIND_RAW
        kinds[key_positions] = KIND_KEY
        return FrameChunk(kinds, [tuple(s) for s in shapes.tolist()], side,
                          np.frombuffer(words_raw, dtype="<u4").astype(np.uint32), content_crc, key_references,
                          self.version)

    def _read_trailer(self, tag: bytes, chunks_seen: int) -> None:
        head = tag + read_exact(self.src, _TRAILER_HEAD.size - 4, "trailer")
        _, chunks, frames, sha, length = _TRAILER_HEAD.unpack(head)
        if length > MAX_TRAILER_BYTES:
            raise ArchiveError("corrupt archive: trailer length exceeds the limit")
        packed = read_exact(self.src, length, "trailer")
        (crc,) = struct.unpack("<I", read_exact(self.src, 4, "trailer"))
        if crc != zlib.crc32(head + packed):
            raise ArchiveError("corrupt archive: trailer checksum mismatch")
        if chunks != chunks_seen:
            raise ArchiveError("corrupt archive: trailer counts do not match the chunks read")
        self.trailer = {"chunks": chunks, "frames": frames, "sha256": sha,
                        **unpack_json(packed, MAX_TRAILER_BYTES * 16, "trailer")}
        if self.version >= INDEXED_FROM:
            self._read_index(frames)
        self.archive_bytes = self.src.position


def content_hasher(header: dict, version: int = FORMAT_VERSION):
    """The trailer's hash: from version 3 on, of the source's description (names, frame rate), then every
    RGB byte restored."""
    return restored_content_hasher({"source": header.get("source")} if version >= 3 else None)
