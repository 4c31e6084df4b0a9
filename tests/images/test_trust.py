"""No data loss and no silent trust: golden archives, interrupts, full disks, tampered models, odd inputs."""
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from darnzip_cli.main import main

from darnzip.core.index import member_spans, record_bytes
from darnzip.images import archive as arc
from darnzip.images.container import (
    FORMAT_VERSION,
    ArchiveError,
    ArchiveReader,
)
from darnzip.images.modelfile import ModelError, load_model

GOLDEN = Path(__file__).parent.parent / "golden"
# name: (particles, McBits minimum batch, certain posterior units, re-encode check). "mcbits-4" predates
# the warm-up: it must still decode, but today's encoder sizes its batches differently, so only its
# decoding is checked. The first four predate certain posterior units (coder names without /certain-q).
GOLDEN_SETS = {"factorised": (1, 1, False, True), "autoregressive-2layer": (1, 1, False, True),
               "mcbits-4": (4, 1, False, False), "mcbits-4-warmup": (4, 4, False, True),
               "certain-factorised": (1, 1, True, True), "certain-mcbits-4": (4, 4, True, True)}


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.mark.parametrize("name", sorted(GOLDEN_SETS))
def test_golden_archive_decodes_and_reencodes_identically(name):
    model_path = GOLDEN / f"{name}-model.safetensors"
    loaded = load_model(model_path)
    images = np.load(GOLDEN / f"{name}-images.npy")
    archive = (GOLDEN / f"{name}-v1.dz").read_bytes()
    opened = arc.open_archive(io.BytesIO(archive), str(model_path))
    decoded = np.concatenate(list(arc.decode_images(opened)))
    assert np.array_equal(decoded, images.reshape(len(images), -1))
    particles, min_batch, certain, reencode = GOLDEN_SETS[name]
    assert arc.codec_settings(opened.header["coder"]).certain_posterior == certain
    if not reencode:
        return
    entry = {"type": "npy", "name": "images.npy", "dtype": "|u1", "shape": list(images.shape), "lo": 0, "hi": 1}
    out = io.BytesIO()
    options = arc.CodingOptions(chunk_size=20, max_batch=8, particles=particles, mcbits_min_batch=min_batch,
                                certain_posterior=certain)
    arc.compress_stream(out, [(entry, images)], loaded, options)
    # today's header also records the model description's hash, an optional key that older readers skip,
    # and today's format (2) hashes the sources' description into the trailer: the chunk records, which
    # hold the coded bits, must be the golden's byte for byte
    written = out.getvalue()
    written = written[:-record_bytes(len(member_spans(io.BytesIO(written))[0].index.offsets))]  # no index in format 1
    reader, golden = ArchiveReader(io.BytesIO(written)), ArchiveReader(io.BytesIO(archive))
    assert (golden.version, reader.version) == (1, FORMAT_VERSION)
    model = dict(reader.header["model"])
    assert model.pop("description") == loaded.description_hash
    assert reader.header | {"model": model} == golden.header
    trailer = 4 + 4 + 8 + 32 + 4
    assert written[reader.header_bytes:-trailer] == archive[golden.header_bytes:-trailer], \
        "the bits coded for the same input changed: bump the format version"
    assert written[-trailer:-36] == archive[-trailer:-36]  # tag and counts; the hashes differ by design


@pytest.mark.parametrize("name", ["factorised", "certain-mcbits-4"])
def test_golden_archives_of_today_re_encode_byte_for_byte(name):
    """tests/golden/NAME-v3.dz: written by scripts/make_golden.py in format 3; today's encoder writes the
    same bytes. NAME-v2.dz, format 2, still decodes, and differs from today's only in the version (with
    the header's CRC) and the chunk index that format 3 appends."""
    particles, min_batch, certain, _ = GOLDEN_SETS[name]
    images = np.load(GOLDEN / f"{name}-images.npy")
    archive = (GOLDEN / f"{name}-v3.dz").read_bytes()
    model_path = GOLDEN / f"{name}-model.safetensors"
    for golden in (archive, (GOLDEN / f"{name}-v2.dz").read_bytes()):
        opened = arc.open_archive(io.BytesIO(golden), str(model_path))
        assert np.array_equal(np.concatenate(list(arc.decode_images(opened))), images.reshape(len(images), -1))
    entry = {"type": "npy", "name": "images.npy", "dtype": "|u1", "shape": list(images.shape), "lo": 0, "hi": 1}
    out = io.BytesIO()
    arc.compress_stream(out, [(entry, images)], load_model(model_path),
                        arc.CodingOptions(chunk_size=20, max_batch=8, particles=particles, mcbits_min_batch=min_batch,
                                          certain_posterior=certain))
    assert out.getvalue() == archive, "the bytes written for the same input changed: bump the format version"
    v2 = (GOLDEN / f"{name}-v2.dz").read_bytes()
    index = record_bytes(len(member_spans(io.BytesIO(archive))[0].index.offsets))
    header = ArchiveReader(io.BytesIO(v2)).header_bytes
    assert archive[header:-index] == v2[header:] and archive[10:header - 4] == v2[10:header - 4]


def test_older_format_version_is_refused_with_a_message():
    data = bytearray((GOLDEN / "factorised-v1.dz").read_bytes())
    data[8:10] = (0).to_bytes(2, "little")
    with pytest.raises(ArchiveError, match="version 0 is not supported"):
        arc.open_archive(io.BytesIO(bytes(data)), str(GOLDEN / "factorised-model.safetensors"))


def test_tampered_model_is_refused(tmp_path, monkeypatch):
    """A model registered in a $DARNZIP_MODELS directory loads by id; one weight bit changed is refused by
    the registry's pinned hash."""
    from darnzip.core.zoo import MODELS_ENV
    from darnzip.images.modelfile import load_registered, resolve_model

    models = tmp_path / "models"
    shutil.copytree(GOLDEN, models)
    weights = models / "factorised-model.safetensors"
    sha = load_model(weights).sha256
    (models / "registry.json").write_text(json.dumps({"golden": {"file": weights.name, "sha256": sha}}))
    monkeypatch.setenv(MODELS_ENV, str(models))
    load_registered.cache_clear()
    assert resolve_model("golden").sha256 == sha
    data = bytearray(weights.read_bytes())
    data[-5] ^= 1  # one weight bit
    weights.write_bytes(bytes(data))
    load_registered.cache_clear()
    with pytest.raises(ModelError, match="does not match the pinned"):
        resolve_model("golden")
    load_registered.cache_clear()


def test_disk_full_leaves_no_output(tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", np.load(GOLDEN / "factorised-images.npy"))
    real = arc.compress_stream

    def full_disk(out, *args, **kwargs):
        out.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(arc, "compress_stream", full_disk)
    result = run("compress", tmp_path / "x.npy", "-o", tmp_path / "x.dz", "--model",
                 GOLDEN / "factorised-model.safetensors", "-T", "1")
    monkeypatch.setattr(arc, "compress_stream", real)
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy"]


def _interruptible() -> None:
    """Give the child Ctrl-C's default action: a shell's background job (the test suite run with `&`,
    say) inherits SIGINT ignored, and a Python started so never sees it (measured: exit 0, not 130)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_leaves_no_output_and_exits_130(tmp_path):
    model = GOLDEN / "autoregressive-2layer-model.safetensors"
    images = (np.random.default_rng(0).random((400000, 8, 7)) < 0.25).astype(np.uint8)
    np.save(tmp_path / "big.npy", images)
    proc = subprocess.Popen([sys.executable, "-m", "darnzip_cli", "compress", str(tmp_path / "big.npy"), "-o",
                             str(tmp_path / "big.dz"), "--model", str(model), "-T", "1", "-q", "--chunk-size", "500"],
                            cwd=Path(__file__).parent.parent.parent, stderr=subprocess.PIPE,
                            preexec_fn=_interruptible)
    deadline = time.time() + 60
    while not list(tmp_path.glob(".big.dz.*")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)  # wait until the temporary output exists: compression is under way
    assert proc.poll() is None, "compression finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.npy"]


def test_a_pipe_closed_early_is_an_error_even_with_unbuffered_output(tmp_path):
    """Under PYTHONUNBUFFERED (many containers set it), standard output is the raw file, whose write
    takes what the pipe holds and returns the count: darnzip wrote 64 KiB of a larger output into a pipe
    whose reader had gone and exited 0. Now it exits 1 and says so."""
    model = GOLDEN / "factorised-model.safetensors"
    images = (np.random.default_rng(1).random((3000, 8, 7)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "x.npy", images)  # 168 KB of output: more than a pipe holds
    assert run("compress", tmp_path / "x.npy", "-o", tmp_path / "x.dz", "--model", model, "-q").exit_code == 0
    proc = subprocess.Popen([sys.executable, "-m", "darnzip_cli", "decompress", "-c", str(tmp_path / "x.dz"), "--model",
                             str(model), "-q", "-T", "1"], cwd=Path(__file__).parent.parent.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert len(proc.stdout.read(10)) == 10  # the reader takes a little and goes, as `| head -c 10` does
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1, err
    assert err.strip() == "darnzip: error: the output pipe closed before all of the output was written"


def test_ctrl_c_inside_constriction_also_exits_130(capsys):
    """Ctrl-C while Rust code runs Python can surface as PyO3's PanicException (a BaseException naming
    the KeyboardInterrupt; seen once as exit 1 in the test above); it exits 130 like Ctrl-C, and other
    panics and exits pass through unchanged."""
    from darnzip_cli.errors import friendly_errors

    panic = type("PanicException", (BaseException,), {"__module__": "pyo3_runtime"})

    def raising(exc):
        @friendly_errors
        def command():
            raise exc
        return command

    with pytest.raises(SystemExit) as stopped:
        raising(panic("called `Result::unwrap()` on an `Err` value: PyErr { type: <class 'KeyboardInterrupt'> }"))()
    assert stopped.value.code == 130 and "interrupted" in capsys.readouterr().err
    with pytest.raises(panic, match="index out of bounds"):
        raising(panic("index out of bounds"))()
    other = type("PanicException", (BaseException,), {"__module__": "elsewhere"})
    with pytest.raises(other):
        raising(other("KeyboardInterrupt"))()
    with pytest.raises(SystemExit) as stopped:
        raising(SystemExit(3))()
    assert stopped.value.code == 3


def test_test_command_writes_nothing(tmp_path):
    shutil.copy(GOLDEN / "factorised-v1.dz", tmp_path / "a.dz")
    os.chdir(tmp_path)
    result = run("test", "a.dz", "--model", GOLDEN / "factorised-model.safetensors")
    assert result.exit_code == 0 and "OK (50 images)" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dz"]


def test_test_and_list_go_through_every_archive_and_name_the_bad_ones(tmp_path):
    """As zstd -t / -l: a damaged or foreign archive among several is reported under its own name, the
    others are still checked, and the exit status says that one failed."""
    model = GOLDEN / "factorised-model.safetensors"
    good = GOLDEN / "factorised-v1.dz"
    cut = tmp_path / "cut.dz"
    cut.write_bytes(good.read_bytes()[:-40])
    other = tmp_path / "notes.txt"
    other.write_text("not an archive")
    result = run("test", cut, good, other, "--model", model)
    assert result.exit_code == 1
    assert f"darnzip: error: {cut}: " in result.output and f"darnzip: error: {other}: not a darnzip archive" \
        in result.output
    assert f"{good}: OK (50 images)" in result.output
    listed = run("list", other, good)
    assert listed.exit_code == 1 and f"{other}: not a darnzip archive" in listed.output
    assert f"{good}: 50 images" in listed.output


def test_dangling_symlink_and_forged_sizes_are_clean_errors(tmp_path):
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "gone.png").symlink_to(tmp_path / "missing.png")
    result = run("compress", bad, "-o", tmp_path / "o.dz", "--model", GOLDEN / "factorised-model.safetensors")
    assert result.exit_code == 1 and "cannot read image" in result.output
    forged = (np.lib.format.magic(1, 0) + b"").decode("latin1")
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (4000000000, 8, 7), }"
    header = header + " " * (63 - len(forged) - 2 - len(header)) + "\n"
    (tmp_path / "forged.npy").write_bytes(forged.encode("latin1") + len(header).to_bytes(2, "little") + header.encode())
    result = run("compress", tmp_path / "forged.npy", "-o", tmp_path / "o.dz", "--model",
                 GOLDEN / "factorised-model.safetensors")
    assert result.exit_code == 1 and "larger than the file" in result.output
    assert not (tmp_path / "o.dz").exists()
