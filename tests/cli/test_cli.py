"""The command line, driven through Click's runner: round trips, zstd-style options, clean failures."""
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from darnzip_cli.main import main
from PIL import Image

from darnzip.core.index import record_bytes
from darnzip.images.modelfile import load_model, save_model
from darnzip.images.quantized import quantize

from ..conftest import SMALL, random_binary_images, random_float_tensors


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def write_pngs(directory: Path, images: np.ndarray, mode: str = "L") -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for i, image in enumerate(images):
        name = f"img_{i:03d}.png"
        img = Image.fromarray(image * 255, mode="L")
        (img.convert("1") if mode == "1" else img).save(directory / name)
        names.append(name)
    return names


@pytest.fixture
def pngs(tmp_path, small_loaded):
    images = random_binary_images(23, small_loaded.config.image_shape, seed=4)
    names = write_pngs(tmp_path / "in", images)
    (tmp_path / "in" / "sub").mkdir()
    Image.fromarray(images[0] * 255, mode="L").convert("1").save(tmp_path / "in" / "sub" / "one_bit.png")
    return tmp_path / "in", images, names


def test_directory_round_trip_preserves_names_order_and_pixels(tmp_path, small_model_file, pngs):
    src, images, names = pngs
    out = tmp_path / "a.dz"
    result = run("compress", src, "-o", out, "--model", small_model_file, "-T", "1")
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    listed = run("list", out, "-v")
    assert "24 images" in listed.output and "sub/one_bit.png" in listed.output
    result = run("decompress", out, "-o", tmp_path / "restored", "--model", small_model_file, "-T", "1")
    assert result.exit_code == 0, result.output
    restored = sorted(p.relative_to(tmp_path / "restored").as_posix() for p in (tmp_path / "restored").rglob("*.png"))
    assert restored == sorted(names + ["sub/one_bit.png"])
    for name in names:
        before = np.asarray(Image.open(src / name))
        after = np.asarray(Image.open(tmp_path / "restored" / name))
        assert np.array_equal(before, after)
    one_bit = Image.open(tmp_path / "restored" / "sub" / "one_bit.png")
    assert one_bit.mode == "1"
    assert np.array_equal(np.asarray(one_bit), np.asarray(Image.open(src / "sub" / "one_bit.png")))


def test_npy_via_stdin_and_stdout(tmp_path, small_model_file, small_loaded):
    images = (random_binary_images(40, small_loaded.config.image_shape, seed=5) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    np.save(buffer, images)
    compressed = run("compress", "-", "--model", small_model_file, "-T", "1", "-q", input=buffer.getvalue())
    assert compressed.exit_code == 0
    assert compressed.stdout_bytes.startswith(b"\x89DARNZ")
    restored = run("decompress", "-", "-c", "--model", small_model_file, "-T", "1", "-q", input=compressed.stdout_bytes)
    assert restored.exit_code == 0
    back = np.load(io.BytesIO(restored.stdout_bytes))
    assert back.dtype == images.dtype and np.array_equal(back, images)


def test_archives_identical_with_one_or_two_worker_processes(tmp_path, small_model_file, pngs):
    src, _, _ = pngs
    run("compress", src, "-o", tmp_path / "one.dz", "--model", small_model_file, "-T", "1", "--chunk-size", "5")
    run("compress", src, "-o", tmp_path / "two.dz", "--model", small_model_file, "-T", "2", "--chunk-size", "5")
    assert (tmp_path / "one.dz").read_bytes() == (tmp_path / "two.dz").read_bytes()
    result = run("test", tmp_path / "two.dz", "--model", small_model_file, "-T", "2")
    assert result.exit_code == 0 and "OK" in result.output


def test_zstd_mode_flags_and_a_bare_path(tmp_path, small_model_file, pngs):
    """zstd's habits: `darnzip PATH` compresses; -z / -d / -t / -l name compress, decompress, test, list."""
    src, images, names = pngs
    assert run(src, "-o", tmp_path / "a.dz", "--model", small_model_file, "-T", "1", "-q").exit_code == 0
    assert run("-z", src, "-o", tmp_path / "b.dz", "--model", small_model_file, "-T", "1", "-q").exit_code == 0
    assert (tmp_path / "a.dz").read_bytes() == (tmp_path / "b.dz").read_bytes()
    result = run("-l", tmp_path / "a.dz")
    assert result.exit_code == 0 and f"{len(images) + 1} images" in result.output
    assert f"in {len(images) + 1} files, 1 chunk," in result.output  # plural where more than one
    assert run("-t", tmp_path / "a.dz", "--model", small_model_file, "-q").exit_code == 0
    assert run("-d", tmp_path / "a.dz", "-o", tmp_path / "out", "--model", small_model_file, "-q").exit_code == 0
    for name, image in zip(names, images):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / name)) > 0, image.astype(bool))
    result = run(tmp_path / "missing")
    assert result.exit_code == 2 and "No such command" in result.output  # not a path that exists: a usage error


def test_existing_output_needs_force(tmp_path, small_model_file, pngs):
    src, _, _ = pngs
    out = tmp_path / "a.dz"
    out.write_bytes(b"keep me")
    result = run("compress", src, "-o", out, "--model", small_model_file, "-T", "1")
    assert result.exit_code == 1 and "already exists" in result.output
    assert out.read_bytes() == b"keep me"
    assert run("compress", src, "-o", out, "--model", small_model_file, "-T", "1", "-f").exit_code == 0
    assert out.read_bytes().startswith(b"\x89DARNZ")


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="file modes are POSIX")
def test_outputs_get_the_permissions_of_a_file_written_in_place(tmp_path, small_model_file, pngs):
    """Outputs are written to a private temp file and renamed: they must still get what a file written in
    place would have (the umask's default when new, the old file's mode when overwritten with -f), not
    mkstemp's 0600."""
    src, _, _ = pngs
    old_mask = os.umask(0o027)
    try:
        out = tmp_path / "a.dz"
        assert run("compress", src, "-o", out, "--model", small_model_file, "-T", "1", "-q").exit_code == 0
        assert out.stat().st_mode & 0o777 == 0o640
        assert run("decompress", out, "-o", tmp_path / "back", "--model", small_model_file, "-q").exit_code == 0
        assert {p.stat().st_mode & 0o777 for p in (tmp_path / "back").rglob("*.png")} == {0o640}
        grid = tmp_path / "grid.png"
        assert run("sample", "-n", "4", "-o", grid, "--model", small_model_file).exit_code == 0
        assert grid.stat().st_mode & 0o777 == 0o640
        out.chmod(0o604)
        assert run("compress", src, "-o", out, "--model", small_model_file, "-T", "1", "-q", "-f").exit_code == 0
        assert out.stat().st_mode & 0o777 == 0o604
    finally:
        os.umask(old_mask)


@pytest.mark.parametrize("case", ["wrong_size", "not_binary", "not_an_image", "missing", "empty_dir", "rgb"])
def test_bad_input_is_one_line_error_and_no_output(tmp_path, small_model_file, case):
    bad = tmp_path / "bad"
    bad.mkdir()
    if case == "wrong_size":
        Image.fromarray(np.zeros((9, 9), np.uint8)).save(bad / "x.png")
    elif case == "not_binary":
        Image.fromarray(np.arange(30, dtype=np.uint8).reshape(6, 5)).save(bad / "x.png")
    elif case == "not_an_image":
        (bad / "x.png").write_text("hello")
    elif case == "rgb":
        Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(bad / "x.png")
    target = bad if case != "missing" else tmp_path / "nowhere"
    out = tmp_path / "out.dz"
    result = run("compress", target, "-o", out, "--model", small_model_file, "-T", "1")
    assert result.exit_code == 1
    assert result.output.startswith("darnzip: error:") and result.output.count("\n") == 1
    assert case != "rgb" or "--frames" in result.output  # a colour image: point to the frame side
    assert not out.exists()
    assert list(tmp_path.glob(".out.dz*")) == []


def test_corrupt_archive_leaves_no_output(tmp_path, small_model_file, pngs):
    src, _, _ = pngs
    out = tmp_path / "a.dz"
    run("compress", src, "-o", out, "--model", small_model_file, "-T", "1")
    data = bytearray(out.read_bytes())
    data[-40] ^= 0x10  # inside the last chunk's payload or trailer
    out.write_bytes(bytes(data))
    result = run("decompress", out, "-o", tmp_path / "restored", "--model", small_model_file, "-T", "1")
    assert result.exit_code == 1 and "corrupt archive" in result.output
    assert not (tmp_path / "restored").exists()
    assert [p for p in tmp_path.iterdir() if ".darnzip-" in p.name] == []
    assert run("test", out, "--model", small_model_file).exit_code == 1


def test_archive_for_uninstalled_model_names_it(tmp_path, small_model_file, pngs):
    src, _, _ = pngs
    out = tmp_path / "a.dz"
    run("compress", src, "-o", out, "--model", small_model_file, "-T", "1")
    result = run("decompress", out, "-o", tmp_path / "r")
    assert result.exit_code == 1
    assert "needs model 'small-test'" in result.output and "not installed" in result.output
    # led by the archive's name, and saying how to decode with the model's file (which then works)
    assert result.output.startswith(f"darnzip: error: {out}: archive needs model")
    assert result.output.rstrip().endswith("name it: --model FILE.safetensors")
    assert run("decompress", out, "-o", tmp_path / "r", "--model", small_model_file, "-T", "1").exit_code == 0
    named = run("decompress", out, "-o", tmp_path / "r2", "--model", "no-such-model")
    assert named.exit_code == 1 and "'no-such-model' is not installed" in named.output
    assert "--model FILE" not in named.output  # a model was named: no hint to name one


def test_same_weights_with_another_description_are_refused_by_name(tmp_path, pngs):
    """The weights' hash does not cover the JSON (here frac_bits, which sets the deterministic units'
    activation steps): the archive records the description's hash, and a model whose weights match but
    whose JSON does not is refused by name, nothing written. Archives written before the hash was
    recorded still decode, and there the same mistake surfaces only at the checksums."""
    import dataclasses
    import json
    import shutil

    from darnzip.images import container

    config = dataclasses.replace(SMALL, deterministic_units=4)
    tensors, lut = quantize(config, random_float_tensors(config, 5), frac_bits=10)
    save_model(tmp_path / "models" / "small-det", "small-det", config, tensors, lut, 10)
    model = tmp_path / "models" / "small-det.safetensors"
    src, images, names = pngs
    out = tmp_path / "a.dz"
    assert run("compress", src, "-o", out, "--model", model, "-T", "1", "-q").exit_code == 0
    header = container.ArchiveReader(io.BytesIO(out.read_bytes())).header
    assert header["model"]["description"] == load_model(model).description_hash
    edited = tmp_path / "edited" / model.name
    edited.parent.mkdir()
    shutil.copyfile(model, edited)
    info = json.loads(model.with_suffix(".json").read_text())
    info["quantization"]["frac_bits"] += 1
    edited.with_suffix(".json").write_text(json.dumps(info))
    for command in (["decompress", out, "-o", tmp_path / "restored"], ["test", out]):
        result = run(*command, "--model", edited, "-T", "1")
        assert result.exit_code == 1 and "described otherwise" in result.output, result.output
    assert not (tmp_path / "restored").exists()

    # the previous release's archive (format 2, no chunk index): the same chunks and trailer under a header
    # without the description
    reader = container.ArchiveReader(io.BytesIO(out.read_bytes()))
    list(reader.chunks())
    body = out.read_bytes()[reader.header_bytes:-record_bytes(len(reader.index.offsets))]
    old = container.preamble_and_header(container.encode_header(
        header | {"model": {"id": header["model"]["id"], "sha256": header["model"]["sha256"]}}), container.MAGIC, 2)
    (tmp_path / "old.dz").write_bytes(old + body)
    result = run("decompress", tmp_path / "old.dz", "-o", tmp_path / "old", "--model", model, "-T", "1")
    assert result.exit_code == 0, result.output
    for name, image in zip(names, images):
        assert np.array_equal(np.asarray(Image.open(tmp_path / "old" / name)) > 0, image.astype(bool))
    result = run("decompress", tmp_path / "old.dz", "-o", tmp_path / "old2", "--model", edited, "-T", "1")
    assert result.exit_code == 1 and "corrupt archive" in result.output and not (tmp_path / "old2").exists()


def test_not_an_archive(tmp_path):
    """The error names the archive (stdin for a pipe), as test and list do: it said only 'not a darnzip
    archive', whichever file that was."""
    junk = tmp_path / "junk.dz"
    junk.write_bytes(b"this is not an archive")
    result = run("decompress", junk, "-o", tmp_path / "r")
    assert result.exit_code == 1 and f"darnzip: error: {junk}: not a darnzip archive" in result.output
    result = run("decompress", "-", "-c", input=b"this is not an archive either")
    assert result.exit_code == 1 and "darnzip: error: stdin: not a darnzip archive" in result.output


def test_shipped_model_round_trips_mnist(tmp_path):
    pytest.importorskip("mnist")
    from darnzip.images.datasets import load_binary_mnist

    images = load_binary_mnist("test")[:30]
    np.save(tmp_path / "digits.npy", images)
    result = run("compress", tmp_path / "digits.npy", "-o", tmp_path / "d.dz", "-T", "1", "-v")
    assert result.exit_code == 0, result.output
    result = run("decompress", tmp_path / "d.dz", "-o", tmp_path / "back.npy", "-T", "1")
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(tmp_path / "back.npy"), images)
    bits_per_image = 8 * (tmp_path / "d.dz").stat().st_size / 30
    assert bits_per_image < 784  # far below 1 bit/pixel even with the container's fixed cost on 30 images


def test_an_archive_of_one_file_restores_to_that_file(tmp_path):
    """digits.npy.dz restores to digits.npy, not to a directory named digits.npy holding it; an archive
    named otherwise restores the stored name beside it."""
    images = (np.random.default_rng(5).random((6, 28, 28)) < 0.2).astype(np.uint8)
    np.save(tmp_path / "digits.npy", images)
    assert run("compress", tmp_path / "digits.npy", "-q").exit_code == 0
    (tmp_path / "digits.npy").rename(tmp_path / "kept.npy")
    result = run("decompress", tmp_path / "digits.npy.dz")
    assert result.exit_code == 0 and "6 images in 1 file -> " in result.output
    assert np.array_equal(np.load(tmp_path / "digits.npy"), images)
    (tmp_path / "digits.npy.dz").rename(tmp_path / "renamed.dz")
    (tmp_path / "digits.npy").unlink()
    assert run("decompress", tmp_path / "renamed.dz", "-q").exit_code == 0
    assert np.array_equal(np.load(tmp_path / "digits.npy"), images)


def test_a_binary_png_on_a_pipe_stays_a_binary_image_and_restores_by_the_archive_name(tmp_path):
    """A two-level PNG on stdin is a binary image (a colour one is a frame: test_frames); the archive
    restores to its own name with the input's suffix (digit.dz -> digit.png), byte-identical, since the
    pipe gave the input no name (it restored to stdin.png)."""
    pixels = ((np.random.default_rng(6).random((28, 28)) < 0.3) * 255).astype(np.uint8)
    png = io.BytesIO()
    Image.fromarray(pixels, "L").save(png, format="PNG")
    archive = tmp_path / "digit.dz"
    made = subprocess.run([sys.executable, "-m", "darnzip_cli", "compress", "-", "-o", str(archive), "-T", "1"],
                          input=png.getvalue(), capture_output=True, cwd=tmp_path)
    assert made.returncode == 0 and b"1 image -> " in made.stderr, made.stderr
    assert run("decompress", archive, "-q").exit_code == 0
    assert (tmp_path / "digit.png").read_bytes() == png.getvalue() and not (tmp_path / "stdin.png").exists()


def test_train_refuses_to_overwrite_a_model_before_training(tmp_path):
    """`train --export STEM` over an existing model (a shipped one, say) is refused before any training,
    with both files left as they were; it overwrote them in place after training before."""
    stem = tmp_path / "mine"
    for suffix, content in ((".safetensors", b"weights"), (".json", b"{}")):
        stem.with_suffix(suffix).write_bytes(content)
    result = run("train", "--run-dir", tmp_path / "run", "--epochs", "1", "--export", stem)
    assert result.exit_code == 1 and "mine.safetensors already exists (use -f" in result.output
    assert not (tmp_path / "run").exists()
    assert stem.with_suffix(".safetensors").read_bytes() == b"weights" and stem.with_suffix(".json").read_bytes() == b"{}"


def test_models_list_versions_in_order_and_a_name_without_version_means_the_newest(tmp_path, monkeypatch):
    """`darnzip models` lists each installed model's versions in numeric order (v10 after v9; text order
    put it after v1) and marks the newest with '*'; -v adds each lineage in parentheses and -a the
    registered models whose files are not installed; `--model atari-pong` means the newest installed
    atari-pong; an unknown name's error lists names with their versions."""
    from darnzip.core.zoo import (
        MODELS_ENV,
        installed_ids,
        registered_id,
        registry,
        version_order,
    )
    from darnzip.frames.zoo import resolve_frame_model
    from darnzip.images.modelfile import resolve_model

    assert resolve_model("mnist-binary").model_id == "mnist-binary-v1"
    assert registered_id("atari-spaceinvaders") == "atari-spaceinvaders-v13"
    # an older version installed beside the shipped ones (as $DARNZIP_MODELS provides): v9 and v10 order as numbers
    extra = tmp_path / "older"
    extra.mkdir()
    shipped = registry()["atari-spaceinvaders-v13"]
    for suffix in (".safetensors", ".json"):
        source = (Path(resolve_frame_model("atari-spaceinvaders-v13").weights_path)).with_suffix(suffix)
        for version in (9, 10):
            (extra / f"atari-spaceinvaders-v{version}{suffix}").write_bytes(source.read_bytes())
    (extra / "registry.json").write_text(json.dumps({
        f"atari-spaceinvaders-v{v}": {**shipped, "file": f"atari-spaceinvaders-v{v}.safetensors",
                                      "description": f"test copy {v}"} for v in (9, 10)}))
    monkeypatch.setenv(MODELS_ENV, str(extra))
    ids = [i for i in installed_ids() if i.startswith("atari-spaceinvaders-v")]
    assert ids == ["atari-spaceinvaders-v9", "atari-spaceinvaders-v10", "atari-spaceinvaders-v13"]
    assert resolve_frame_model("atari-spaceinvaders").model_id == "atari-spaceinvaders-v13"
    listed = run("models").output.splitlines()
    order = [line[2:].split()[0] for line in listed]
    assert [i for i in order if i in ids] == ids
    assert sum(line.startswith("*") for line in listed) == len({version_order(i)[0] for i in installed_ids()})
    assert any(line.startswith("* atari-spaceinvaders-v13 ") for line in listed)
    verbose = run("models", "-v").output.splitlines()
    assert all("(from " in line or "(trained from scratch" in line for line in verbose)
    every = run("models", "-a").output.splitlines()
    assert len(every) == len(registry()) and any(line.startswith("- atari-pong-v3 ") for line in every)
    rows = [json.loads(line) for line in run("models", "--json").output.splitlines()]
    assert {row["id"] for row in rows if row["newest"]} == {registered_id(version_order(i)[0]) for i in installed_ids()}
    assert all(row["installed"] for row in rows)
    result = CliRunner().invoke(main, ["compress", "x.png", "--model", "atari-pon"])
    assert result.exit_code == 1 and "atari-spaceinvaders v9-v13" in result.output


def test_an_archive_of_a_registered_model_that_is_not_installed_says_where_to_put_it(tmp_path, monkeypatch):
    """An older model's files left the package; its archives decode once its files are in a
    $DARNZIP_MODELS directory (the hash pinned by the registry), and until then the error says so."""
    from darnzip.core.zoo import MODELS_ENV, registry
    from darnzip.frames.stream import compress_frames

    golden = Path(__file__).parent.parent / "golden"
    frames = np.load(golden / "frames-pong-v1-frames.npz")["frames"][:4]
    from darnzip.frames.modelfile import load_frame_model

    loaded = load_frame_model(golden / "atari-pong-v1.safetensors", registry()["atari-pong-v1"]["sha256"])
    archive = tmp_path / "pong.dz"
    with open(archive, "wb") as f:
        compress_frames(f, iter(frames), {"type": "npy", "name": "pong.npy"}, loaded, 16, 1)
    result = run("decompress", archive, "-o", tmp_path / "out.npy")
    assert result.exit_code == 1 and "atari-pong-v1" in result.output and MODELS_ENV in result.output
    assert not (tmp_path / "out.npy").exists()
    models = tmp_path / "models"
    models.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(golden / f"atari-pong-v1{suffix}", models / f"atari-pong-v1{suffix}")
    monkeypatch.setenv(MODELS_ENV, str(models))
    result = run("decompress", archive, "-o", tmp_path / "out.npy")
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(tmp_path / "out.npy"), frames)


def test_report_keeps_earlier_figures_unless_forced_and_is_silent_with_q(tmp_path, small_model_file):
    """`report` on binary images: its table, plot and JSON; a second run refuses, before any work, to
    write over them (report.png from an earlier run was replaced unasked); -f writes them, -q prints
    nothing."""
    images = random_binary_images(12, SMALL.image_shape, seed=9)
    np.save(tmp_path / "digits.npy", images)
    plot, figures = tmp_path / "r.png", tmp_path / "r.json"
    args = ["report", tmp_path / "digits.npy", "--model", small_model_file, "--samples", "2", "--no-baselines",
            "-T", "1", "--plot", plot, "--json", figures]
    first = run(*args)
    assert first.exit_code == 0, first.output
    assert "archive size" in first.output and "round trip exact" in first.output
    reported = json.loads(figures.read_text())
    assert reported["images"] == 12 and plot.read_bytes()[:4] == b"\x89PNG"
    # the two-part code: the model's bits as --embed-model stores them, plus the archive's
    embedded = tmp_path / "embedded.dz"
    assert run("compress", tmp_path / "digits.npy", "-o", embedded, "--model", small_model_file, "--embed-model",
               "-T", "1", "-q").exit_code == 0
    listed = json.loads(run("list", embedded, "--json").output)
    assert reported["model_bits"] == 8 * listed["model_bytes"]
    assert reported["two_part_bits_per_image"] == pytest.approx(
        (reported["model_bits"] + 12 * reported["archive_bits_per_image"]) / 12)
    assert "two-part code" in first.output
    written = plot.read_bytes(), figures.read_bytes()
    refused = run(*args)
    assert refused.exit_code == 1 and "r.png already exists (use -f to overwrite)" in refused.output
    assert "archive size" not in refused.output and (plot.read_bytes(), figures.read_bytes()) == written
    forced = run(*args, "-f", "-q")
    assert forced.exit_code == 0 and forced.output == ""
    assert json.loads(figures.read_text())["images"] == 12 and plot.read_bytes()[:4] == b"\x89PNG"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_bench_quiet_prints_nothing_and_writes_its_json(tmp_path):
    """`bench -q --json F` (runs that want only the JSON): no output, the round-tripped figures in F;
    without -q the same run prints them."""
    args = ["bench", "--limit", "8", "--repeat", "1", "--no-baselines", "--particles", "1", "-T", "1"]
    quiet = run(*args, "-q", "--json", tmp_path / "b.json")
    assert quiet.exit_code == 0 and quiet.output == ""
    result = json.loads((tmp_path / "b.json").read_text())
    assert result["images"] == 8 and result["bits_per_image"] > 0 and result["decompress_images_per_s"] > 0
    loud = run(*args)
    assert loud.exit_code == 0 and "bits/image" in loud.output and "images/s" in loud.output


@pytest.mark.parametrize("args, closed", [(["compress", "-", "-o", "{tmp}/x.dz"], 0), (["decompress", "-", "-o", "{tmp}/out"], 0),
                                          (["list", "-"], 0), (["compress", "{tmp}/x.npy", "-c"], 1)])
def test_a_closed_standard_stream_is_a_one_line_error(tmp_path, args, closed):
    """Run with stdin (`<&-`) or stdout (`>&-`) closed, Python has no sys.stdin / sys.stdout at all."""
    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28), np.uint8))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    done = subprocess.run([sys.executable, "-m", "darnzip_cli", *args, "-T", "1"] if args[0] == "compress" else
                          [sys.executable, "-m", "darnzip_cli", *args], stderr=subprocess.PIPE,
                          stdout=subprocess.DEVNULL if closed == 0 else None,
                          preexec_fn=lambda: os.close(closed), text=True)
    assert done.returncode == 1 and "closed" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]
