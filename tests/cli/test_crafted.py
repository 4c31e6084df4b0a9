"""Crafted archives of both kinds (headers rewritten with their CRC recomputed, bits flipped in chunks with
the CRC fixed): each is one line on stderr and exit 1 from list, list -v, test and decompress, with no
traceback and nothing written."""
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import zstandard
from click.testing import CliRunner
from PIL import Image

from darnzip.frames.container import FrameArchiveReader, header_bytes
from darnzip.images import container
from darnzip_cli.main import main

from ..frames.conftest import sprite_frames

from ..conftest import reindexed

GOLDEN = Path(__file__).parent.parent / "golden"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def refused_everywhere(path: Path, tmp_path: Path, model: str | None = None) -> list[str]:
    """The outputs of list, list -v, test and decompress on `path`; asserts each is a one-line error."""
    outputs = []
    extra = ["--model", model] if model else []
    out = tmp_path / "restored"
    for args in (["list", path], ["list", "-v", path], ["test", path, *extra],
                 ["decompress", path, "-o", out, *extra]):
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith("darnzip: error:") and result.output.count("\n") == 1, (args, result.output)
        assert not out.exists(), args
        outputs.append(result.output)
    return outputs


@pytest.fixture
def frame_archive(tmp_path, frame_model):
    """A 12-frame archive of a PNG directory (so its header lists names), and the model's file."""
    frames = sprite_frames(12, seed=3)
    src = tmp_path / "frames"
    src.mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(src / f"f{i:03d}.png")
    archive = tmp_path / "f.dz"
    made = run("compress", src, "-o", archive, "--model", frame_model.weights_path, "-T", "1", "-q")
    assert made.exit_code == 0, made.output
    return archive, str(frame_model.weights_path)


def with_frame_header(archive: Path, edit) -> bytes:
    data = archive.read_bytes()
    reader = FrameArchiveReader(io.BytesIO(data))
    header = json.loads(json.dumps(reader.header))
    edit(header)
    return reindexed(header_bytes(header) + data[len(header_bytes(reader.header)):], data)


FRAME_HEADER_EDITS = {
    "names [123]": lambda h: h["source"].update(names=[123]),
    "model []": lambda h: h.update(model=[]),
    "no names": lambda h: h["source"].pop("names"),
    "a NUL in a name": lambda h: h["source"].update(names=["a\0b.png"]),
    "a malformed run": lambda h: h["source"].update(names=[{"prefix": "f", "start": -1, "count": 3}]),
    "no model sha256": lambda h: h["model"].pop("sha256"),
    "a run of 2**40 names": lambda h: h["source"].update(
        names=[{"prefix": "f", "start": 0, "count": 2**40, "width": 0, "suffix": ".png"}]),
    "a name twice": lambda h: h["source"].update(names=["a.png", "a.png"] + [f"b{i}.png" for i in range(10)]),
    "a file and a directory": lambda h: h["source"].update(names=["sub", "sub/x.png"] + [f"b{i}.png" for i in range(10)]),
    "a name escaping the output": lambda h: h["source"].update(names=["../x.png"] + [f"b{i}.png" for i in range(11)]),
    "chunk_frames 0": lambda h: h.update(chunk_frames=0),
    "a model id that is a path": lambda h: h["model"].update(id="/etc/passwd.safetensors"),
}


@pytest.mark.parametrize("what", sorted(FRAME_HEADER_EDITS))
def test_crafted_frame_headers_are_one_line_errors(tmp_path, frame_archive, what):
    archive, model = frame_archive
    crafted = tmp_path / "crafted.dz"
    crafted.write_bytes(with_frame_header(archive, FRAME_HEADER_EDITS[what]))
    outputs = refused_everywhere(crafted, tmp_path, None if what == "a model id that is a path" else model)
    assert all("Traceback" not in o for o in outputs)


def test_frame_names_that_do_not_match_the_frames_are_refused_with_nothing_written(tmp_path, frame_archive):
    """Eleven names for twelve frames: decompress stops at the mismatch and leaves nothing."""
    archive, model = frame_archive
    crafted = tmp_path / "crafted.dz"
    crafted.write_bytes(with_frame_header(archive, lambda h: h["source"].update(names=[f"x{i}.png" for i in range(11)])))
    result = run("decompress", crafted, "-o", tmp_path / "restored", "--model", model)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "restored").exists()


def binary_archive(tmp_path: Path, names: list[str]) -> tuple[Path, Path]:
    src = tmp_path / "in"
    images = np.load(GOLDEN / "factorised-images.npy")[:len(names)]
    for name, image in zip(names, images):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255).astype(np.uint8)).save(src / name)
    archive = tmp_path / "m.dz"
    model = GOLDEN / "factorised-model.safetensors"
    assert run("compress", src, "-o", archive, "--model", model, "-T", "1", "-q").exit_code == 0
    return archive, model


def with_binary_header(archive: Path, edit) -> bytes:
    data = archive.read_bytes()
    reader = container.ArchiveReader(io.BytesIO(data))
    header = json.loads(json.dumps(reader.header))
    edit(header)
    out = io.BytesIO()
    container.write_preamble_and_header(out, header)
    return reindexed(out.getvalue() + data[reader.header_bytes:], data)


BINARY_HEADER_EDITS = {
    "a run of 2**40 names": lambda h: h["sources"][0].update(
        names=[{"prefix": "a", "start": 0, "count": 2**40, "width": 0, "suffix": ".png"}]),
    "a run of 10**7 names": lambda h: h["sources"][0].update(
        names=[{"prefix": "a", "start": 0, "count": 10**7, "width": 0, "suffix": ".png"}]),
    "a name twice": lambda h: h["sources"][0].update(names=["a.png"] * 4),
    "a file and a directory": lambda h: h["sources"][0].update(names=["sub", "sub/x.png", "c.png", "d.png"]),
    "a model id that is a path": lambda h: h["model"].update(id=str(GOLDEN / "factorised-model.safetensors")),
}


@pytest.mark.parametrize("what", sorted(BINARY_HEADER_EDITS))
def test_crafted_binary_headers_are_one_line_errors(tmp_path, what):
    archive, model = binary_archive(tmp_path, ["a.png", "b.png", "c.png", "d.png"])
    crafted = tmp_path / "crafted.dz"
    crafted.write_bytes(with_binary_header(archive, BINARY_HEADER_EDITS[what]))
    refused_everywhere(crafted, tmp_path, None if what == "a model id that is a path" else str(model))


def test_a_header_that_unpacks_to_more_than_the_limit_is_refused_before_it_is_parsed(tmp_path):
    """A small zstd frame of a huge JSON (a run of tiny objects) and JSON nested deeper than Python parses:
    one-line errors from both archive kinds' readers, without parsing the bomb."""
    from darnzip.core.records import MAX_JSON_BYTES

    archive, _ = binary_archive(tmp_path, ["a.png"])
    data = archive.read_bytes()
    reader = container.ArchiveReader(io.BytesIO(data))
    body = data[reader.header_bytes:]
    for raw in (b'{"x": [' + b"[]," * (MAX_JSON_BYTES // 3 + 10) + b"[]]}", b"[" * 100_000 + b"]" * 100_000):
        packed = zstandard.ZstdCompressor(level=3).compress(raw)
        start = struct.pack("<8sHI", container.MAGIC, container.FORMAT_VERSION, len(packed)) + packed
        crafted = tmp_path / "bomb.dz"
        crafted.write_bytes(start + struct.pack("<I", zlib.crc32(start)) + body)
        assert len(crafted.read_bytes()) < 200_000
        outputs = refused_everywhere(crafted, tmp_path)
        assert all("over the limit" in o or "does not decode (RecursionError)" in o for o in outputs), outputs


def test_a_header_that_would_restore_other_values_or_names_fails_the_content_hash(tmp_path, frame_archive):
    """The trailer's hash covers what is restored, not just the pixels: a value mapping (hi 255 -> 254) or
    file names rewritten with the header's CRC fixed pass every header check, then fail `test` and
    `decompress` at the hash, with nothing written."""
    archive, _ = binary_archive(tmp_path, ["a.png", "b.png"])
    model = str(GOLDEN / "factorised-model.safetensors")
    for edit in (lambda h: h["sources"][0].update(hi=254), lambda h: h["sources"][0].update(names=["c.png", "d.png"])):
        crafted = tmp_path / "crafted.dz"
        crafted.write_bytes(with_binary_header(archive, edit))
        assert run("list", crafted).exit_code == 0  # a well-formed header
        for args in (["test", crafted], ["decompress", crafted, "-o", tmp_path / "out"]):
            result = run(*args, "--model", model)
            assert result.exit_code == 1 and "SHA-256" in result.output, result.output
        assert not (tmp_path / "out").exists()
    frames, frame_model = frame_archive
    crafted = tmp_path / "crafted-frames.dz"
    crafted.write_bytes(with_frame_header(frames, lambda h: h["source"].update(names=[f"g{i:03d}.png" for i in range(12)])))
    for args in (["test", crafted], ["decompress", crafted, "-o", tmp_path / "out"]):
        result = run(*args, "--model", frame_model)
        assert result.exit_code == 1 and "SHA-256" in result.output, result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("lo, hi", [(0, 300), (-1, 1), (0, 2**40)])
def test_an_npy_value_mapping_outside_its_dtype_is_refused_by_the_header_check(tmp_path, lo, hi):
    """lo and hi must be values of the array's dtype: the header check says so by name (in format 1 it is
    the only guard; the content hash of format 2 would catch it later)."""
    np.save(tmp_path / "x.npy", np.load(GOLDEN / "factorised-images.npy")[:3].astype(np.uint8))
    archive = tmp_path / "x.dz"
    model = GOLDEN / "factorised-model.safetensors"
    assert run("compress", tmp_path / "x.npy", "-o", archive, "--model", model, "-T", "1", "-q").exit_code == 0
    crafted = tmp_path / "crafted.dz"
    crafted.write_bytes(with_binary_header(archive, lambda h: h["sources"][0].update(lo=lo, hi=hi)))
    outputs = refused_everywhere(crafted, tmp_path, str(model))
    assert all("sources.lo/hi" in o for o in outputs)
