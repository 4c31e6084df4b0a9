"""One chunk of a frame stream: which frames the model codes, their context, and the coding itself.

A modelled frame's context is the previous frame when that was modelled too, otherwise the model's
reference frame (with no frame t-2). Modelled frames share one ANS stack, pushed last frame first so
that decoding runs forward in time; the first frame pushed has nothing to pop bits back from, so it
takes q's likelier latents instead (its posterior cost is the chunk's initial-bits overhead).
"""
from __future__ import annotations

import dataclasses
import zlib

import constriction
import numpy as np
import zstandard

from ..container import ArchiveError
from .codec import FrameBits, FrameCodec
from .container import KIND_MODELLED, KIND_RAW, FrameChunk
from .palette import Palette

RAW_ZSTD_LEVEL = 19


@dataclasses.dataclass
class ChunkStats:
    frames: list[FrameBits]  # per modelled frame, in stream order
    raw_frames: int
    raw_bytes: int  # zstd bytes spent on raw frames
    initial_bits: float  # posterior information not returned by the first pushed frame


class FrameChunkCodec:
    def __init__(self, codec: FrameCodec, palette: Palette, reference: np.ndarray):
        self.codec = codec
        self.palette = palette
        self.reference = reference
        self.shape = (codec.cfg.height, codec.cfg.width, 3)

    def context(self, i: int, kinds: np.ndarray, frames: list[np.ndarray | None]):
        """(prev, prev2) of modelled frame i, from the frames before it in the chunk."""
        prev_ok = i >= 1 and kinds[i - 1] == KIND_MODELLED
        prev2_ok = prev_ok and i >= 2 and kinds[i - 2] == KIND_MODELLED
        return (frames[i - 1] if prev_ok else self.reference), (frames[i - 2] if prev2_ok else None)

    def encode(self, rgb_frames: list[np.ndarray]) -> tuple[FrameChunk, ChunkStats]:
        kinds = np.empty(len(rgb_frames), dtype=np.uint8)
        indexed: list[np.ndarray | None] = []
        raw_shapes, raw_parts = [], []
        crc = 0
        for i, rgb in enumerate(rgb_frames):
            crc = zlib.crc32(np.ascontiguousarray(rgb).tobytes(), crc)
            idx = self.palette.indices(rgb) if rgb.shape == self.shape else None
            kinds[i] = KIND_MODELLED if idx is not None else KIND_RAW
            indexed.append(idx)
            if idx is None:
                raw_shapes.append(rgb.shape[:2])
                raw_parts.append(np.ascontiguousarray(rgb).tobytes())
        side = zstandard.ZstdCompressor(level=RAW_ZSTD_LEVEL).compress(b"".join(raw_parts)) if raw_parts else b""
        coder = constriction.stream.stack.AnsCoder()
        modelled = np.flatnonzero(kinds == KIND_MODELLED)
        bits: dict[int, FrameBits] = {}
        initial = 0.0
        for n, i in enumerate(modelled[::-1]):
            prev, prev2 = self.context(i, kinds, indexed)
            bits[i] = self.codec.push(coder, indexed[i], prev, prev2, bits_back=n > 0)
            if n == 0:
                initial = bits[i].posterior
        chunk = FrameChunk(kinds, raw_shapes, side, coder.get_compressed(), crc)
        stats = ChunkStats([bits[i] for i in modelled], len(raw_parts), len(side), initial)
        return chunk, stats

    def decode(self, chunk: FrameChunk, index: int) -> list[np.ndarray]:
        """RGB frames of a chunk, checked against its content CRC."""
        raw = self._raw_frames(chunk, index)
        coder = constriction.stream.stack.AnsCoder(chunk.words)
        modelled = np.flatnonzero(chunk.kinds == KIND_MODELLED)
        last = modelled[-1] if len(modelled) else -1
        indexed: list[np.ndarray | None] = [None] * len(chunk.kinds)
        out, crc = [], 0
        try:
            for i, kind in enumerate(chunk.kinds):
                if kind == KIND_MODELLED:
                    prev, prev2 = self.context(i, chunk.kinds, indexed)
                    indexed[i] = self.codec.pop(coder, prev, prev2, bits_back=i != last)
                    rgb = self.palette.to_rgb(indexed[i])
                else:
                    rgb = next(raw)
                crc = zlib.crc32(rgb.tobytes(), crc)
                out.append(rgb)
        except Exception as exc:  # constriction reports bad streams with several exception types
            raise ArchiveError(f"corrupt archive: chunk {index} does not decode ({exc})") from exc
        if not coder.is_empty():
            raise ArchiveError(f"corrupt archive: chunk {index} has unused coded data")
        if crc != chunk.content_crc:
            raise ArchiveError(f"corrupt archive: chunk {index} decodes to the wrong content (checksum mismatch)")
        return out

    @staticmethod
    def _raw_frames(chunk: FrameChunk, index: int):
        expected = sum(h * w * 3 for h, w in chunk.raw_shapes)
        if not chunk.raw_shapes:
            if chunk.side:
                raise ArchiveError(f"corrupt archive: chunk {index} has stray raw data")
            return iter(())
        try:
            data = zstandard.ZstdDecompressor().decompress(chunk.side, max_output_size=expected)
        except zstandard.ZstdError as exc:
            raise ArchiveError(f"corrupt archive: chunk {index} raw frames do not decode ({exc})") from exc
        if len(data) != expected:
            raise ArchiveError(f"corrupt archive: chunk {index} raw frames have the wrong size")
        frames, offset = [], 0
        for h, w in chunk.raw_shapes:
            frames.append(np.frombuffer(data, np.uint8, h * w * 3, offset).reshape(h, w, 3))
            offset += h * w * 3
        return iter(frames)
