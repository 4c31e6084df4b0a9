"""Joined archives: `darnzip cat`, then list, test, decompress and random access through all of them."""
import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from darnzip_cli.main import main
from PIL import Image

import darnzip
from darnzip.core.index import member_spans

GOLDEN = Path(__file__).parent.parent / "golden"


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def digits():
    from darnzip.images.datasets import load_binary_mnist

    return load_binary_mnist("test")[:90]


@pytest.fixture
def two_image_archives(tmp_path, digits):
    """a.dz: 50 digits as PNGs in two chunks; b.dz: 40 as a .npy, with its model embedded."""
    (tmp_path / "pngs").mkdir()
    for i, image in enumerate(digits[:50]):
        Image.fromarray(image * 255).save(tmp_path / "pngs" / f"d{i:02d}.png")
    np.save(tmp_path / "more.npy", digits[50:])
    a, b = tmp_path / "a.dz", tmp_path / "b.dz"
    assert run("compress", tmp_path / "pngs", "-o", a, "--chunk-size", "25", "--particles", "1", "-T", "1", "-q").exit_code == 0
    made = run("compress", tmp_path / "more.npy", "-o", b, "--particles", "1", "--embed-model", "-T", "1", "-q")
    assert made.exit_code == 0, made.output
    return a, b


def test_cat_joins_image_archives_that_list_test_decompress_and_random_access_read_as_one(tmp_path, digits,
                                                                                         two_image_archives):
    a, b = two_image_archives
    joined = tmp_path / "ab.dz"
    result = run("cat", a, b, "-o", joined)
    assert result.exit_code == 0, result.output
    assert joined.read_bytes() == a.read_bytes() + b.read_bytes()  # what plain cat writes
    spans = member_spans(io.BytesIO(joined.read_bytes()))
    assert [(s.start, s.end) for s in spans] == [(0, a.stat().st_size), (a.stat().st_size, joined.stat().st_size)]

    listed = run("list", joined).output.splitlines()
    assert listed[0].startswith(f"{joined} [1/2]: 50 images") and listed[1].startswith(f"{joined} [2/2]: 40 images")
    assert listed[-1] == f"{joined}: 2 joined archives, 90 images, {joined.stat().st_size} bytes"
    tested = run("test", joined)
    assert tested.exit_code == 0 and "OK (90 images in 2 joined archives)" in tested.output

    out = tmp_path / "out"
    assert run("decompress", joined, "-o", out, "-q").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [f"d{i:02d}.png" for i in range(50)] + ["more.npy"]
    assert np.array_equal(np.load(out / "more.npy"), digits[50:])
    assert np.array_equal(np.asarray(Image.open(out / "d07.png")) // 255, digits[7])

    with darnzip.open_archive(joined) as archive:
        assert archive.count == 90 and [(c.first, c.count) for c in archive.chunks] == [(0, 25), (25, 25), (50, 40)]
        assert np.array_equal(archive.read_chunk(2), digits[50:])  # through the second archive's embedded model
        spanning = archive.read(20, 60)  # PNG sources restore to 0/255, the .npy to its own 0/1
        assert np.array_equal(spanning[:30] // 255, digits[20:50]) and np.array_equal(spanning[30:], digits[50:60])


def test_cat_and_decompress_refuse_what_they_cannot_join_or_restore_and_write_nothing(tmp_path, two_image_archives):
    a, b = two_image_archives
    frames = tmp_path / "frames.npy"
    np.save(frames, np.zeros((3, 16, 16, 3), np.uint8))
    assert run("compress", frames, "-o", tmp_path / "f.dz", "-q").exit_code == 0
    damaged = bytearray(b.read_bytes())
    damaged[-100] ^= 4
    (tmp_path / "damaged.dz").write_bytes(bytes(damaged))
    old = GOLDEN / "factorised-v2.dz"
    for args, message in ([(a, tmp_path / "f.dz"), "not all of one kind"], [(a, old), "has no chunk index"],
                          [(a, tmp_path / "damaged.dz"), "damaged.dz: corrupt archive"], [(a, "-"), "standard input"]):
        result = run("cat", *args, "-o", tmp_path / "x.dz")
        assert result.exit_code == 1 and message in result.output, result.output
        assert not (tmp_path / "x.dz").exists()
    assert run("cat", a, b, "-o", a).exit_code == 1 and "one of the inputs" in run("cat", a, b, "-o", a).output

    twice = tmp_path / "aa.dz"
    assert run("cat", a, a, "-o", twice).exit_code == 0
    result = run("decompress", twice, "-o", tmp_path / "out")
    assert result.exit_code == 1 and "d00.png is in more than one" in result.output
    piped = run("decompress", "-", "-o", tmp_path / "out", input=a.read_bytes() + b.read_bytes())
    assert piped.exit_code == 1 and "joins several archives" in piped.output
    assert not (tmp_path / "out").exists()
    for garbage in (b"\0", b"\x89DARNZ\r\n\x03"):  # not an archive; the start of one, cut short
        (tmp_path / "g.dz").write_bytes(a.read_bytes() + garbage)
        for command in ("test", "list"):
            result = run(command, tmp_path / "g.dz")
            assert result.exit_code == 1 and ("after the trailer" in result.output or "truncated" in result.output)


def test_joined_frame_archives_restore_as_one_stream_and_chunks_read_on_their_own(tmp_path):
    frames = np.load(GOLDEN / "frames-pong-v1-frames.npz")["frames"]
    first = darnzip.compress_frames(frames[:16], model="atari-pong", chunk_frames=5)
    second = darnzip.compress_frames(frames[16:], model="atari-pong")
    (tmp_path / "a.dz").write_bytes(first)
    (tmp_path / "b.dz").write_bytes(second)
    joined = tmp_path / "ab.dz"
    assert run("cat", tmp_path / "a.dz", tmp_path / "b.dz", "-o", joined, "-q").exit_code == 0
    assert f"OK ({len(frames)} frames in 2 joined archives)" in run("test", joined).output
    assert run("decompress", joined, "-o", tmp_path / "all.npy", "-q").exit_code == 0
    assert np.array_equal(np.load(tmp_path / "all.npy"), frames)
    assert [f.shape for f in darnzip.decompress_frames(joined.read_bytes())] == [f.shape for f in frames]

    class CountedFile(io.BytesIO):
        read_bytes = 0

        def read(self, size=-1):
            data = super().read(size)
            CountedFile.read_bytes += len(data)
            return data

    with darnzip.open_archive(CountedFile(joined.read_bytes())) as archive:
        assert [(c.first, c.count) for c in archive.chunks] == [(0, 5), (5, 5), (10, 5), (15, 1),
                                                                 (16, len(frames) - 16)]
        opened = CountedFile.read_bytes
        chunk = archive.read_chunk(2)
        record = archive.members[0].index.offsets[3] - archive.members[0].index.offsets[2]
        # reading chunk 2 reads its record and nothing else
        assert CountedFile.read_bytes - opened == record
        assert len(chunk) == 5 and all(np.array_equal(a, b) for a, b in zip(chunk, frames[10:15]))
        assert all(np.array_equal(a, b) for a, b in zip(archive.read(4, 18), frames[4:18]))
