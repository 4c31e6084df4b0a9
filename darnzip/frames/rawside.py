"""The raw side of a chunk: the frames no model codes (another size, colours outside its palette), coded as
one stream, so that a stream no model fits costs what a general-purpose compressor of its whole chunk
costs, not what its frames cost one by one.

Format 3 (docs/format-frames.md): one byte says how the rest is coded. Its high nibble is the
representation: 0, the frames' RGB bytes one after another; 1, a palette (u16 count, then each colour's
three RGB bytes) and one index byte a pixel, for frames of at most 256 colours, a third of the bytes and
all the repetition a time-aware LZ coder can use. Its low nibble is the compressor that coded it: 1 zstd
(level 19, 128 MiB window), 2 xz (preset 9, extreme), 3 bzip2 (-9). The encoder tries each and keeps the
smallest. Formats 1 and 2 have no method byte: their side is the RGB bytes in one zstd frame.

Format 4 adds compressor 4 with the palette representation: the universal frame model (universal/),
for frames of one size and at most 256 colours. After the palette come the model's 32-byte SHA-256 and
the chunk's ANS words (little-endian u32). The encoder tries it beside the byte compressors and keeps
the smallest, so a chunk never costs more than its best byte compressor (plus the method byte).
"""
from __future__ import annotations

import bz2
import lzma

import numpy as np
import zstandard

from darnzip.core.records import ArchiveError

from .palette import pack_rgb

RGB, INDEXED = 0, 1
ZSTD, XZ, BZIP2, UNIVERSAL = 1, 2, 3, 4
_ZSTD_WINDOW_LOG = 27


def _compressors():
    zstd = zstandard.ZstdCompressor(compression_params=zstandard.ZstdCompressionParameters.from_level(
        19, window_log=_ZSTD_WINDOW_LOG, enable_ldm=True))
    return {ZSTD: zstd.compress,
            XZ: lambda data: lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME),
            BZIP2: lambda data: bz2.compress(data, 9)}


def _universal_side(indices: list[np.ndarray], colours: int) -> bytes:
    """The universal model's code of palette frames of one size: its SHA-256, then the ANS words."""
    from .universal.coder import encode_chunk
    from .universal.modelfile import default_universal

    model, sha = default_universal()
    words = encode_chunk(indices, model.tables(colours))
    return b"" if words is None else bytes.fromhex(sha) + np.asarray(words, dtype="<u4").tobytes()


def pack_raw(frames: list[np.ndarray], universal: bool = True, byte_coders: bool = True) -> bytes:
    """The side of a chunk whose raw frames are `frames` (each (H, W, 3) uint8): b"" when there are none.
    `universal`: whether the universal model may code it (format 4); without `byte_coders`, only it
    (b"" where it cannot: frames of several sizes or of more than 256 colours)."""
    if not frames:
        return b""
    rgb = b"".join(np.ascontiguousarray(f).tobytes() for f in frames)
    packed = [pack_rgb(f).reshape(-1) for f in frames]
    colours = np.unique(np.concatenate(packed))
    candidates = [(RGB, rgb)]
    best = None
    if len(colours) <= 256:
        palette = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1).astype(np.uint8)
        head = len(colours).to_bytes(2, "little") + palette.tobytes()
        index_frames = [np.searchsorted(colours, p).astype(np.uint8) for p in packed]
        candidates = [(INDEXED, head + b"".join(i.tobytes() for i in index_frames))]
        if universal and len({f.shape for f in frames}) == 1:
            shape = frames[0].shape[:2]
            coded = _universal_side([i.reshape(shape) for i in index_frames], len(colours))
            best = bytes([INDEXED << 4 | UNIVERSAL]) + head + coded if coded else None
    if not byte_coders:
        return best or b""
    for representation, data in candidates:
        for method, compress in _compressors().items():
            coded = bytes([representation << 4 | method]) + compress(data)
            if best is None or len(coded) < len(best):
                best = coded
    return best


def side_holds_universal_code(side: bytes) -> bool:
    """Whether a (format 4) side was coded by the universal model rather than a byte compressor."""
    return bool(side) and side[0] == INDEXED << 4 | UNIVERSAL


def _unpack_universal(payload: bytes, shapes: list[tuple[int, int]], index: int) -> bytes:
    """The palette head and index bytes of a side the universal model coded."""
    from darnzip.core.modelfiles import ModelError
    from .universal.coder import decode_chunk
    from .universal.modelfile import universal_by_sha256

    count = int.from_bytes(payload[:2], "little") if len(payload) >= 2 else 0
    start = 2 + 3 * count
    words = payload[start + 32:]
    if not 1 <= count <= 256 or len(payload) < start + 32 or len(words) % 4:
        raise ArchiveError(f"corrupt archive: chunk {index} universal-model frames are cut short")
    if len(set(shapes)) != 1:
        raise ArchiveError(f"corrupt archive: chunk {index} universal-model frames differ in size")
    try:
        model = universal_by_sha256(payload[start:start + 32].hex())
    except ModelError as exc:
        raise ArchiveError(f"chunk {index}: {exc}") from None
    try:
        frames = decode_chunk(np.frombuffer(words, "<u4"), shapes[0], len(shapes), model.tables(count))
    except Exception as exc:  # UniversalDecodeError, or constriction's several exception types for bad words
        raise ArchiveError(f"corrupt archive: chunk {index} does not decode ({exc})") from None
    return payload[:start] + b"".join(f.tobytes() for f in frames)  # unpack_raw checks the indices


def _decompress(method: int, payload: bytes, limit: int, index: int) -> bytes:
    """`payload` unpacked by `method`, refused past `limit` bytes before that much is allocated."""
    try:
        if method == ZSTD:
            if zstandard.frame_content_size(payload) > limit:
                raise ArchiveError(f"corrupt archive: chunk {index} raw frames have the wrong size")
            return zstandard.ZstdDecompressor(max_window_size=1 << _ZSTD_WINDOW_LOG).decompress(
                payload, max_output_size=limit)
        if method in (XZ, BZIP2):
            unpacker = lzma.LZMADecompressor(format=lzma.FORMAT_XZ) if method == XZ else bz2.BZ2Decompressor()
            data = unpacker.decompress(payload, max_length=limit + 1)
            if not unpacker.eof or unpacker.unused_data:
                raise ArchiveError(f"corrupt archive: chunk {index} raw frames do not decode whole")
            return data
    except (zstandard.ZstdError, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"corrupt archive: chunk {index} raw frames do not decode ({exc})") from None
    raise ArchiveError(f"corrupt archive: chunk {index} raw frames name an unknown compressor")


def unpack_raw(side: bytes, shapes: list[tuple[int, int]], version: int, index: int) -> list[np.ndarray]:
    """The raw frames of a chunk, of the given (height, width) shapes, from its side (format `version`)."""
    pixels = sum(h * w for h, w in shapes)
    if not shapes:
        if side:
            raise ArchiveError(f"corrupt archive: chunk {index} has stray raw data")
        return []
    if version < 3:
        data = _decompress(ZSTD, side, 3 * pixels, index)
        representation = RGB
    else:
        if not side:
            raise ArchiveError(f"corrupt archive: chunk {index} raw frames are missing")
        representation, method = side[0] >> 4, side[0] & 15
        if representation not in (RGB, INDEXED):
            raise ArchiveError(f"corrupt archive: chunk {index} raw frames name an unknown representation")
        if method == UNIVERSAL and representation == INDEXED and version >= 4:
            data = _unpack_universal(side[1:], shapes, index)
        else:
            data = _decompress(method, side[1:], 3 * pixels if representation == RGB else 2 + 3 * 256 + pixels, index)
    if representation == RGB:
        if len(data) != 3 * pixels:
            raise ArchiveError(f"corrupt archive: chunk {index} raw frames have the wrong size")
        rgb = np.frombuffer(data, np.uint8)
    else:
        count = int.from_bytes(data[:2], "little")
        if not 1 <= count <= 256 or len(data) != 2 + 3 * count + pixels:
            raise ArchiveError(f"corrupt archive: chunk {index} raw frames have the wrong size")
        palette = np.frombuffer(data, np.uint8, 3 * count, 2).reshape(count, 3)
        indices = np.frombuffer(data, np.uint8, pixels, 2 + 3 * count)
        if indices.size and int(indices.max()) >= count:
            raise ArchiveError(f"corrupt archive: chunk {index} raw frames index past their palette")
        rgb = palette[indices].reshape(-1)
    frames, offset, scale = [], 0, 3
    for h, w in shapes:
        frames.append(rgb[offset:offset + h * w * scale].reshape(h, w, 3))
        offset += h * w * scale
    return frames
