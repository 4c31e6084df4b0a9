"""--embed-model: archives that carry their model decode where it is not installed, and a damaged or
crafted model block is refused in one line with nothing written."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from darnzip_cli.main import main

from darnzip.core.embedded import MAGIC, embedded_model_bytes

GOLDEN = Path(__file__).parent.parent / "golden"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def model_copy(tmp_path):
    """A binary-image model file of no registry (the golden factorised model), beside the test's files."""
    for suffix in (".safetensors", ".json"):
        shutil.copy(GOLDEN / f"factorised-model{suffix}", tmp_path / f"mine{suffix}")
    return tmp_path / "mine.safetensors"


def test_an_embedded_model_archive_decodes_without_the_model_and_lists_both_parts(tmp_path, model_copy):
    images = np.load(GOLDEN / "factorised-images.npy")
    np.save(tmp_path / "x.npy", images)
    plain, embedded = tmp_path / "plain.dz", tmp_path / "embedded.dz"
    assert run("compress", tmp_path / "x.npy", "-o", plain, "--model", model_copy, "-T", "1", "-q").exit_code == 0
    made = run("compress", tmp_path / "x.npy", "-o", embedded, "--model", model_copy, "--embed-model", "-T", "1")
    assert made.exit_code == 0, made.output
    block = embedded.read_bytes()[:len(embedded.read_bytes()) - plain.stat().st_size]
    behind = embedded.read_bytes()[len(block):]
    # the archive behind the block is the plain one, but for its index's member length, which counts the block
    assert block.startswith(MAGIC) and behind[:-16] == plain.read_bytes()[:-16]
    assert int.from_bytes(behind[-16:-8], "little") == len(embedded.read_bytes())
    assert int.from_bytes(plain.read_bytes()[-16:-8], "little") == plain.stat().st_size
    model_copy.unlink()
    model_copy.with_suffix(".json").unlink()
    assert run("decompress", plain, "-o", tmp_path / "no.npy").exit_code == 1  # the model is gone
    listed = run("list", embedded, "--json")
    assert listed.exit_code == 0, listed.output
    info = json.loads(listed.output)
    assert (info["model_bytes"], info["data_bytes"]) == (len(block), plain.stat().st_size)
    assert info["bytes"] == embedded.stat().st_size
    assert run("test", embedded).exit_code == 0
    restored = run("decompress", embedded, "-o", tmp_path / "back.npy", "-T", "2")
    assert restored.exit_code == 0, restored.output
    assert np.array_equal(np.load(tmp_path / "back.npy"), images)


def test_an_embedded_frame_model_archive_decodes_without_the_model(tmp_path):
    """atari-pong-v1 no longer ships: embedded, its archive decodes on stdin too."""
    frames = np.load(GOLDEN / "frames-pong-v1-frames.npz")["frames"][:6]
    np.save(tmp_path / "p.npy", frames)
    for suffix in (".safetensors", ".json"):
        shutil.copy(GOLDEN / f"atari-pong-v1{suffix}", tmp_path / f"pong{suffix}")
    archive = tmp_path / "p.dz"
    made = run("compress", tmp_path / "p.npy", "-o", archive, "--model", tmp_path / "pong.safetensors",
               "--embed-model", "-T", "1")
    assert made.exit_code == 0 and "model embedded" in made.output, made.output
    (tmp_path / "pong.safetensors").unlink()
    result = CliRunner().invoke(main, ["decompress", "-", "-o", str(tmp_path / "back.npy"), "-q"],
                                input=archive.read_bytes())
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(tmp_path / "back.npy"), frames)


def test_a_damaged_or_crafted_model_block_is_one_line_and_writes_nothing(tmp_path, model_copy):
    images = np.load(GOLDEN / "factorised-images.npy")
    np.save(tmp_path / "x.npy", images)
    archive = tmp_path / "e.dz"
    assert run("compress", tmp_path / "x.npy", "-o", archive, "--model", model_copy, "--embed-model", "-T", "1",
               "-q").exit_code == 0
    data = archive.read_bytes()
    loaded_sha = json.loads(model_copy.with_suffix(".json").read_text())["weights_sha256"]
    cases = {
        "a flipped bit in the packed model": data[:60] + bytes([data[60] ^ 1]) + data[61:],
        "truncated in the block": data[:40],
        "a model length of 2**62": data[:14] + (1 << 62).to_bytes(8, "little") + data[22:],
        "version 9": data[:8] + (9).to_bytes(2, "little") + data[10:],
    }
    # a well-formed block of another model in front of this archive: its hash is not the archive's
    other = tmp_path / "other"
    for suffix in (".safetensors", ".json"):
        shutil.copy(GOLDEN / f"mcbits-4-model{suffix}", other.with_suffix(suffix))
    other_sha = json.loads(other.with_suffix(".json").read_text())["weights_sha256"]
    cases["another model's block"] = embedded_model_bytes(other.with_suffix(".safetensors"), "mine", other_sha) \
        + data[len(embedded_model_bytes(model_copy, "mine", loaded_sha)):]
    # a block whose weights were changed, its CRC fixed: refused by the block's own hash, by name
    import struct
    import zlib

    import zstandard

    from darnzip.core.embedded import _HEAD

    block_len = len(embedded_model_bytes(model_copy, "mine", loaded_sha))
    _, version, header_len, packed_len = _HEAD.unpack(data[:_HEAD.size])
    model = bytearray(zstandard.ZstdDecompressor().decompress(data[_HEAD.size + header_len:_HEAD.size + header_len + packed_len]))
    model[-len(model_copy.with_suffix(".json").read_bytes()) - 5] ^= 1  # a weight byte
    packed = zstandard.ZstdCompressor().compress(bytes(model))
    block = _HEAD.pack(MAGIC, version, header_len, len(packed)) + data[_HEAD.size:_HEAD.size + header_len] + packed
    cases["changed weights"] = block + struct.pack("<I", zlib.crc32(block)) + data[block_len:]
    for what, bad in cases.items():
        path = tmp_path / "bad.dz"
        path.write_bytes(bad)
        out = tmp_path / "out.npy"
        for command in (["test", path], ["decompress", path, "-o", out]):
            result = run(*command)
            assert result.exit_code == 1, (what, result.output)
            assert result.output.count("\n") == 1 and "Traceback" not in result.output, (what, result.output)
            if what == "changed weights":
                assert "embedded model does not match its SHA-256" in result.output, result.output
        assert not out.exists(), what


def test_an_archive_naming_its_model_by_a_path_is_refused(tmp_path, model_copy):
    """Archives name registry ids: a header whose model id is a file path must not load that file (which
    would bypass the registry's pinned hash); files come only from --model."""
    import io

    from darnzip.images import container

    np.save(tmp_path / "x.npy", np.load(GOLDEN / "factorised-images.npy"))
    out = tmp_path / "x.dz"
    assert run("compress", tmp_path / "x.npy", "-o", out, "--model", model_copy, "-T", "1", "-q").exit_code == 0
    reader = container.ArchiveReader(io.BytesIO(out.read_bytes()))
    body = out.read_bytes()[reader.header_bytes:]
    crafted = io.BytesIO()
    container.write_preamble_and_header(crafted, reader.header | {"model": {**reader.header["model"],
                                                                           "id": str(model_copy)}})
    (tmp_path / "crafted.dz").write_bytes(crafted.getvalue() + body)
    for extra in ([], ["--model", model_copy]):  # no writer puts a path there: the header is corrupt
        result = run("decompress", tmp_path / "crafted.dz", "-o", tmp_path / "out.npy", *extra)
        assert result.exit_code == 1 and "header field model.id is invalid" in result.output, result.output
        assert not (tmp_path / "out.npy").exists()
