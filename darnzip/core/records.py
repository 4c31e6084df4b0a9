"""Records shared by both archive kinds: the preamble (magic, version, header length), a zstd-packed JSON
header with its CRC-32, and a run of tagged chunk records up to a trailer. Each kind's module
(`darnzip.images.container`, `darnzip.frames.container`) says what its header, chunks and trailer hold;
docs/format-images.md and docs/format-frames.md are the normative layouts.
"""
from __future__ import annotations

import hashlib
import json
import struct
import zlib
from typing import BinaryIO, Iterator

import zstandard

PREAMBLE = struct.Struct("<8sHI")  # magic, version, header length
MAX_HEADER_BYTES = 64 << 20
# Unpacked JSON of a header or trailer: bounded so that a crafted one (a small zstd frame that unpacks to a
# long run of tiny objects) cannot take more than a few hundred MB once parsed. 16 MiB holds the names of
# hundreds of thousands of files with unrelated names (numbered runs take a few bytes each).
MAX_JSON_BYTES = 16 << 20


class JsonTooLarge(ValueError):
    """What an archive would need to record (its file names, mostly) is over MAX_JSON_BYTES."""


def whole_in_range(value, lo: int, hi: int) -> bool:
    """A JSON integer (not a bool) within [lo, hi]: the check every header number gets."""
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


class ArchiveError(ValueError):
    """The archive is not a darnzip archive, is damaged, or does not match its model."""


def read_exact(src: BinaryIO, n: int, what: str) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise ArchiveError(f"truncated archive: {what} ends early ({len(data)} of {n} bytes)")
    return data


def read_preamble(src: BinaryIO, start: bytes, magic: bytes, version: int | tuple[int, ...], kind: str,
                  max_header: int = MAX_HEADER_BYTES) -> tuple[bytes, bytes]:
    """Check a preamble (magic, u16 version, u32 header length) already read as `start`, then read the
    packed header (at most `max_header` bytes) and its CRC. Returns (preamble, packed header). Shared by
    both archive kinds; `version` may list every version the caller reads."""
    if len(start) < 8 or start[:8] != magic:
        raise ArchiveError(f"not a darnzip {kind} (bad magic number)")
    if len(start) < PREAMBLE.size:
        raise ArchiveError("truncated archive: header ends early")
    _, found, header_len = PREAMBLE.unpack(start)
    versions = (version,) if isinstance(version, int) else tuple(version)
    if found not in versions:
        readable = " and ".join(map(str, versions))
        raise ArchiveError(f"{kind} format version {found} is not supported (this darnzip reads version {readable})")
    if header_len > max_header:
        raise ArchiveError(f"corrupt archive: header length {header_len} exceeds the limit")
    packed = read_exact(src, header_len, "header")
    (crc,) = struct.unpack("<I", read_exact(src, 4, "header checksum"))
    if crc != zlib.crc32(start + packed):
        raise ArchiveError("corrupt archive: header checksum mismatch")
    return start, packed


def pack_json(value: dict, separators: tuple[str, str] | None = None) -> bytes:
    """A JSON object as zstd (level 19), keys sorted. Binary-image headers use compact separators, frame
    archives json's defaults: each kind's bytes are fixed by its format version, so both stay. Refused
    (JsonTooLarge) past what a reader accepts, so that no archive is written that cannot be read."""
    raw = json.dumps(value, sort_keys=True, separators=separators).encode()
    if len(raw) > MAX_JSON_BYTES:
        raise JsonTooLarge(f"the archive's header would take {len(raw):,} bytes, over the {MAX_JSON_BYTES:,} a reader "
                           "accepts (too many file names without a numbered pattern): compress them in several archives")
    return zstandard.ZstdCompressor(level=19).compress(raw)


def unpack_json(packed: bytes, limit: int, what: str) -> dict:
    """A zstd-compressed JSON object, at most min(`limit`, MAX_JSON_BYTES) bytes unpacked: a frame that
    claims more, or holds more, is refused before it is parsed; so is JSON nested too deep to parse."""
    limit = min(limit, MAX_JSON_BYTES)
    try:
        declared = zstandard.frame_content_size(packed)
    except zstandard.ZstdError:
        raise ArchiveError(f"corrupt archive: {what} does not decode (ZstdError)") from None
    if declared > limit:
        raise ArchiveError(f"corrupt archive: {what} unpacks to {declared:,} bytes, over the limit of {limit:,}")
    try:
        # with no size declared, max_output_size bounds the buffer and a frame that holds more is an error
        value = json.loads(zstandard.ZstdDecompressor().decompress(packed, max_output_size=limit))
    except (zstandard.ZstdError, ValueError, RecursionError) as exc:
        raise ArchiveError(f"corrupt archive: {what} does not decode ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise ArchiveError(f"corrupt archive: {what} is not an object")
    return value


class Positioned:
    """A binary stream that counts the bytes read through it: where each record starts, also on a pipe."""

    def __init__(self, src: BinaryIO, position: int = 0):
        self.src, self.position = src, position

    def read(self, size: int = -1) -> bytes:
        data = self.src.read(size)
        self.position += len(data)
        return data

    def seekable(self) -> bool:
        return self.src.seekable()

    def tell(self) -> int:
        return self.src.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        before = self.src.tell()
        after = self.src.seek(offset, whence)
        self.position += after - before
        return after


def read_records(src: BinaryIO, chunk_tag: bytes, read_chunk, trailer_tag: bytes, read_trailer,
                 joinable: bool = False) -> Iterator:
    """Chunk records up to the trailer: read_chunk(tag, index) for each, then read_trailer(tag, chunks).
    Formats with a chunk index (`joinable`) may be followed by another archive, which the caller reads;
    in the others nothing may follow the trailer. Shared by both archive kinds."""
    index = 0
    while True:
        tag = read_exact(src, 4, f"record after chunk {index}")
        if tag == trailer_tag:
            read_trailer(tag, index)
            if not joinable and src.read(1):
                raise ArchiveError("corrupt archive: unexpected bytes after the trailer")
            return
        if tag != chunk_tag:
            raise ArchiveError(f"corrupt archive: bad tag at chunk {index}")
        yield read_chunk(tag, index)
        index += 1


def preamble_and_header(packed: bytes, magic: bytes, version: int) -> bytes:
    """Preamble, packed header and its CRC: the start of an archive of either kind."""
    start = PREAMBLE.pack(magic, version, len(packed)) + packed
    return start + struct.pack("<I", zlib.crc32(start))


def restored_content_hasher(described: dict | None):
    """The SHA-256 a trailer records: of every pixel restored and, from the format versions that say so
    (`described` not None), first of what the header says about how they are restored (file names, value
    mapping, dtype, shape, frame rate), so that a header rewritten with its CRC fixed cannot restore
    other files or other values and still pass `test`."""
    digest = hashlib.sha256()
    if described is not None:
        digest.update(b"darnzip restored content\0")
        digest.update(json.dumps(described, sort_keys=True, separators=(",", ":")).encode())
        digest.update(b"\0")
    return digest
