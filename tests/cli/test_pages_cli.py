"""Binary images of any size through the command line: the page model is the default where no fixed-size
model fits; exact round trips; damaged, crafted and foreign archives fail with one line."""
from __future__ import annotations

import io
import shutil
import struct
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from darnzip_cli.main import main
from PIL import Image

import darnzip
from darnzip.images.container import ArchiveReader

from ..pages.test_pages import text_page


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def page_png(tmp_path):
    path = tmp_path / "page.png"
    Image.fromarray(((1 - text_page(200, 260, seed=11)) * 255).astype(np.uint8)).convert("1").save(path)
    return path


def test_an_image_no_fixed_model_fits_uses_the_page_model(tmp_path, page_png):
    result = run("compress", page_png, "-o", tmp_path / "p.dz")
    assert result.exit_code == 0, result.output
    assert "page model pages-v1" in result.output and "patches copied" in result.output
    listed = run("list", tmp_path / "p.dz")
    assert "1 image of any size" in listed.output and "pages-v1" in listed.output
    assert run("test", tmp_path / "p.dz").exit_code == 0
    assert run("decompress", tmp_path / "p.dz", "-o", tmp_path / "back.png").exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "back.png")), np.asarray(Image.open(page_png)))
    assert Image.open(tmp_path / "back.png").mode == "1"
    assert (tmp_path / "p.dz").stat().st_size < 0.5 * page_png.stat().st_size


def test_mixed_sizes_and_arrays_in_one_archive(tmp_path, page_png):
    digits = (np.random.default_rng(2).random((40, 56, 56)) < 0.1).astype(np.int16) * 7
    np.save(tmp_path / "digits.npy", digits)
    Image.fromarray(np.full((1, 1), 255, np.uint8)).save(tmp_path / "dot.png")
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("digits.npy", "dot.png", "page.png"):
        shutil.copy(tmp_path / name if name != "page.png" else page_png, inputs / name)
    assert run("compress", inputs, "-o", tmp_path / "m.dz").exit_code == 0
    assert run("decompress", tmp_path / "m.dz", "-o", tmp_path / "out").exit_code == 0
    back = np.load(tmp_path / "out" / "digits.npy")
    assert back.dtype == np.int16 and np.array_equal(back, digits)
    for name in ("dot.png", "page.png"):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / name)), np.asarray(Image.open(inputs / name)))


def _first_chunk(data: bytes) -> tuple[int, int]:
    """(offset, length) of the first chunk record."""
    reader = ArchiveReader(io.BytesIO(data))
    start = reader.header_bytes
    _, images, batches, words = struct.unpack_from("<4sIII", data, start)
    return start, 16 + 4 * batches + 4 * words + 8


def test_damaged_crafted_and_cut_archives_fail_with_one_line(tmp_path, page_png):
    assert run("compress", page_png, "-o", tmp_path / "p.dz").exit_code == 0
    data = (tmp_path / "p.dz").read_bytes()
    start, length = _first_chunk(data)
    flipped = bytearray(data)
    flipped[start + 40] ^= 0x10
    crafted = bytearray(flipped)  # the chunk's CRC fixed, as a crafter would: its content checksum catches it
    body = bytes(crafted[start:start + length - 4])
    crafted[start + length - 4:start + length] = struct.pack("<I", zlib.crc32(body))
    cases = {"flipped": (bytes(flipped), "chunk 0 checksum mismatch"),
             "crafted": (bytes(crafted), "chunk 0 does not decode to its checksum"),
             "cut": (data[:start + length // 2], "truncated")}
    for name, (damaged, message) in cases.items():
        path = tmp_path / f"{name}.dz"
        path.write_bytes(damaged)
        for command in (["test", path], ["decompress", path, "-o", tmp_path / f"{name}.png"]):
            result = run(*command)
            assert result.exit_code == 1 and message in result.output, (name, result.output)
            assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
        assert not (tmp_path / f"{name}.png").exists()


def _with_header(data: bytes, change) -> bytes:
    """`data` with its header rewritten by `change` and every checksum and the index fixed, as a crafter would."""
    from darnzip.core.records import preamble_and_header
    from darnzip.images.container import FORMAT_VERSION, MAGIC, encode_header

    from ..conftest import reindexed

    reader = ArchiveReader(io.BytesIO(data))
    new_head = preamble_and_header(encode_header(change(reader.header)), MAGIC, FORMAT_VERSION)
    return reindexed(new_head + data[reader.header_bytes:], data)


def test_an_archive_of_an_unknown_page_model_names_it(tmp_path, page_png):
    assert run("compress", page_png, "-o", tmp_path / "p.dz").exit_code == 0
    data = (tmp_path / "p.dz").read_bytes()
    (tmp_path / "foreign.dz").write_bytes(_with_header(data, lambda h: {**h, "model": {"id": "pages-v9", "sha256": "ab" * 32}}))
    result = run("test", tmp_path / "foreign.dz")
    assert result.exit_code == 1 and "pages-v9" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("change, message", [
    (lambda h: {**h, "sources": [{**h["sources"][0], "shape": [1 << 20, 1 << 20]}]}, "sources.shape"),
    (lambda h: {**h, "sources": [{**h["sources"][0], "shape": [200, 261]}]}, "does not decode to its checksum"),
    (lambda h: {**h, "image_shape": [200, 260]}, "image_shape"),
    (lambda h: {k: v for k, v in h.items() if k != "coder"}, "coder")])
def test_crafted_page_headers_fail_before_allocating_or_at_a_checksum(tmp_path, page_png, change, message):
    assert run("compress", page_png, "-o", tmp_path / "p.dz").exit_code == 0
    (tmp_path / "c.dz").write_bytes(_with_header((tmp_path / "p.dz").read_bytes(), change))
    result = run("decompress", tmp_path / "c.dz", "-o", tmp_path / "c.png")
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "c.png").exists()


def test_joined_page_archives_restore_and_read_at_random(tmp_path):
    a, b = text_page(90, 120, seed=1), text_page(70, 150, seed=2)
    one, two = darnzip.compress_images(a), darnzip.compress_images(b[None])
    (tmp_path / "a.dz").write_bytes(one)
    (tmp_path / "b.dz").write_bytes(two)
    assert run("cat", tmp_path / "a.dz", tmp_path / "b.dz", "-o", tmp_path / "ab.dz").exit_code == 0
    with darnzip.open_archive(str(tmp_path / "ab.dz")) as archive:
        assert archive.count == 2
        assert np.array_equal(archive.read_chunk(1)[0], b)
        both = archive.read(0, 2)
        assert isinstance(both, list) and np.array_equal(both[0], a) and np.array_equal(both[1], b)


@pytest.mark.skipif(shutil.which("pdftoppm") is None or not __import__("os").path.exists(
    "/usr/share/doc/zlib1g-dev/crc-doc.1.0.pdf.gz"), reason="poppler-utils or the zlib manual is not installed")
def test_rendered_manual_page_beats_jbig(tmp_path):
    result = run("data", "pages", "--manual", "zlib-crc", "--pages", "3", "-o", tmp_path / "pages")
    assert result.exit_code == 0, result.output
    (page,) = sorted((tmp_path / "pages").glob("*.pbm"))
    assert Image.open(page).size == (2550, 3300)
    result = run("bench-pages", page, "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    import json

    (row,) = json.loads((tmp_path / "b.json").read_text())["pages"]
    assert row["copies"] > 100 and row["darnzip"] < row["darnzip_no_copies"]
    if row["jbig"] is not None:
        assert row["darnzip"] < row["jbig"]


def test_bench_lists_the_page_model_beside_the_classical_codecs(tmp_path):
    result = run("bench", "--limit", "300", "--repeat", "1", "--particles", "1", "-T", "1", "--json", tmp_path / "b.json")
    assert result.exit_code == 0, result.output
    import json

    rows = {row["name"]: row for row in json.loads((tmp_path / "b.json").read_text())["baselines"]}
    page = rows["darnzip page model pages-v1 (images stacked)"]
    assert page["note"] == "" and 0 < page["bits_per_image"] < rows["bzip2 -9 (whole set, 1 byte/pixel)"]["bits_per_image"]
