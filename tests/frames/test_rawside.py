"""The raw side: frames no model codes, coded as one stream by whichever of zstd, xz and bzip2 codes
them smallest, as a palette and index bytes when they have at most 256 colours."""
import bz2
import lzma

import numpy as np
import pytest
import zstandard

from darnzip.core.records import ArchiveError
from darnzip.frames.rawside import (BZIP2, INDEXED, RGB, UNIVERSAL, XZ, ZSTD, pack_raw, side_holds_universal_code,
                                   unpack_raw)


def shapes(frames):
    return [f.shape[:2] for f in frames]


def test_round_trips_and_the_smallest_coding_is_kept():
    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (8, 3), dtype=np.uint8)
    few = [palette[rng.integers(0, 8, (17, 23))] for _ in range(6)]  # 8 colours
    many = few + [rng.integers(0, 256, (20, 40, 3), dtype=np.uint8)]  # hundreds of colours
    for frames, representation in ((few, INDEXED), (many, RGB)):
        side = pack_raw(frames)
        assert side[0] >> 4 == representation
        assert all(np.array_equal(a, b) for a, b in zip(unpack_raw(side, shapes(frames), 3, 0), frames))
        rgb = b"".join(f.tobytes() for f in frames)
        assert len(side) - 1 <= min(len(bz2.compress(rgb, 9)), len(lzma.compress(rgb, preset=9 | lzma.PRESET_EXTREME)),
                                    len(zstandard.ZstdCompressor(level=19).compress(rgb)))
    assert pack_raw([]) == b"" and unpack_raw(b"", [], 3, 0) == []


def test_a_moving_sprite_costs_what_one_stream_costs_not_frames_one_by_one():
    """The same sprite in 40 frames: the chunk's stream codes it once."""
    rng = np.random.default_rng(2)
    sprite = rng.integers(0, 2, (12, 12, 3), dtype=np.uint8) * 200
    frames = []
    for i in range(40):
        frame = np.zeros((60, 80, 3), np.uint8)
        frame[10 + i % 30:22 + i % 30, 5 + i:17 + i] = sprite
        frames.append(frame)
    one_by_one = sum(len(zstandard.ZstdCompressor(level=19).compress(f.tobytes())) for f in frames)
    assert len(pack_raw(frames)) < one_by_one / 4


def test_format_2_sides_are_zstd_of_rgb():
    frames = [np.full((4, 5, 3), 7, np.uint8), np.full((2, 3, 3), 9, np.uint8)]
    side = zstandard.ZstdCompressor().compress(b"".join(f.tobytes() for f in frames))
    assert all(np.array_equal(a, b) for a, b in zip(unpack_raw(side, shapes(frames), 2, 0), frames))


@pytest.mark.parametrize("what", ["unknown method", "unknown representation", "index past the palette",
                                  "too long", "too short", "a zstd bomb", "trailing data", "stray side"])
def test_crafted_sides_are_archive_errors(what):
    frames = [np.full((4, 5, 3), 7, np.uint8)]
    palette = (1).to_bytes(2, "little") + bytes([7, 7, 7])
    cases = {
        "unknown method": bytes([INDEXED << 4 | 9]) + b"x",
        "unknown representation": bytes([5 << 4 | ZSTD]) + zstandard.ZstdCompressor().compress(b"x"),
        "index past the palette": bytes([INDEXED << 4 | XZ]) + lzma.compress(palette + bytes([1] * 20)),
        "too long": bytes([INDEXED << 4 | BZIP2]) + bz2.compress(palette + bytes(21)),
        "too short": bytes([RGB << 4 | ZSTD]) + zstandard.ZstdCompressor().compress(bytes(59)),
        "a zstd bomb": bytes([RGB << 4 | ZSTD]) + zstandard.ZstdCompressor().compress(bytes(1 << 24)),
        "trailing data": bytes([INDEXED << 4 | XZ]) + lzma.compress(palette + bytes(20)) + b"junk",
        "stray side": b"\x11abc",
    }
    with pytest.raises(ArchiveError):
        unpack_raw(cases[what], [] if what == "stray side" else shapes(frames), 3, 0)


def test_raw_frames_cost_their_side_and_little_more(frame_model):
    """The raw frames' positions and shapes are packed (format 3): they took 8 bytes a frame, as much as
    a cheap raw stream's whole side."""
    import io

    from darnzip.frames.container import FrameArchiveReader
    from darnzip.frames.stream import compress_frames, decompress_frames

    frames = [np.full((9, 11, 3), 20 * (i % 3), np.uint8) for i in range(300)]  # no model's size: all raw
    out = io.BytesIO()
    stats = compress_frames(out, iter(frames), {"type": "npy", "name": "x.npy"}, frame_model, 512, 1)
    assert stats.raw == 300 and stats.chunk_bytes - stats.raw_bytes < 100
    back = list(decompress_frames(FrameArchiveReader(io.BytesIO(out.getvalue())), frame_model))
    assert len(back) == 300 and all(np.array_equal(a, b) for a, b in zip(back, frames))


def typing_stream(frames=120):
    """A screen recording of typing: one glyph more each frame on a still page."""
    rng = np.random.default_rng(9)
    palette = rng.integers(0, 256, (4, 3), dtype=np.uint8)
    glyphs = [(rng.random((6, 4)) < 0.4).astype(np.uint8) * 2 for _ in range(10)]
    page = np.ones((96, 128), np.uint8)
    out = []
    for t in range(frames):
        r, c = divmod(t, 25)
        page = page.copy()
        page[2 + 8 * r: 8 + 8 * r, 2 + 5 * c: 6 + 5 * c] = glyphs[rng.integers(10)]
        out.append(palette[page])
    return out


def test_the_universal_model_codes_a_screen_recording_and_only_format_4_reads_it():
    frames = typing_stream()
    side = pack_raw(frames)
    assert side[0] == INDEXED << 4 | UNIVERSAL and side_holds_universal_code(side)
    assert not side_holds_universal_code(pack_raw(frames, universal=False))
    assert len(side) < 0.9 * len(pack_raw(frames, universal=False))  # measured: 1,736 bytes against xz's 2,197
    assert all(np.array_equal(a, b) for a, b in zip(unpack_raw(side, shapes(frames), 4, 0), frames))
    with pytest.raises(ArchiveError, match="unknown compressor"):
        unpack_raw(side, shapes(frames), 3, 0)
    with pytest.raises(ArchiveError, match="differ in size"):
        unpack_raw(side, shapes(frames)[:-1] + [(97, 128)], 4, 0)
    damaged = bytearray(side)
    damaged[1 + 2 + 3 * 4 + 1] ^= 1  # the model's SHA-256
    with pytest.raises(ArchiveError, match="no installed universal frame model"):
        unpack_raw(bytes(damaged), shapes(frames), 4, 0)
    cut = side[:-4]
    with pytest.raises(ArchiveError, match="chunk 0"):
        unpack_raw(cut, shapes(frames), 4, 0)
