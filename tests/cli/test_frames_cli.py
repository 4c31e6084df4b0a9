"""The frame side of the command line, end to end."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys

import constriction
import numpy as np
import pytest
from click.testing import CliRunner
from darnzip_cli.main import main

from darnzip.frames.container import FrameArchiveReader
from darnzip.frames.model import FrameDarn
from darnzip.frames.modelfile import load_frame_model
from darnzip.frames.palette import pack_rgb
from darnzip.frames.stream import compress_frames, decompress_frames

from ..frames.conftest import _archive, _wait_for, sprite_frames
from ..processes import running, workers_of


def test_frame_streams_on_a_pipe_are_read_as_they_come(frame_model, tmp_path):
    """`compress -` tells an RGB .npy array and a video from binary images by their first bytes: the
    array is read frame by frame (its header's count cuts the chunks as a file's does), a video is
    demuxed from the pipe; a truncated array or an empty pipe is a one-line error with nothing written."""
    from darnzip.frames.io import VideoSink
    from darnzip.frames.stream import chunk_lengths

    frames = sprite_frames(37, seed=16)
    buffer = io.BytesIO()
    np.save(buffer, frames)
    model = str(frame_model.weights_path)

    def cli(*args, data: bytes):
        return subprocess.run([sys.executable, "-m", "darnzip_cli", *args, "--model", model, "-q"], input=data,
                              capture_output=True)

    archive = cli("compress", "-", "-c", "--chunk-frames", "16", "-T", "2", data=buffer.getvalue())
    assert archive.returncode == 0, archive.stderr
    reader = FrameArchiveReader(io.BytesIO(archive.stdout))
    assert [len(c.kinds) for c in reader.chunks()] == chunk_lengths(37, 16)
    raw = cli("decompress", "-", "-c", data=archive.stdout)
    assert raw.returncode == 0 and raw.stdout == frames.tobytes()

    mkv = tmp_path / "clip.mkv"
    with VideoSink(mkv, force=False) as sink:
        for frame in frames:
            sink.write(frame)
    from_video = cli("compress", "-", "-c", "-T", "1", data=mkv.read_bytes())  # no --frames: the bytes say so
    assert from_video.returncode == 0, from_video.stderr
    assert cli("decompress", "-", "-c", data=from_video.stdout).stdout == frames.tobytes()

    out = tmp_path / "cut.dz"
    cut = cli("compress", "-", "-o", str(out), "-T", "1", data=buffer.getvalue()[:-5000])
    assert cut.returncode == 1 and b"ends in frame" in cut.stderr and not out.exists()
    assert list(tmp_path.glob(".cut.dz*")) == []
    empty = cli("compress", "-", "-o", str(out), data=b"")
    assert empty.returncode == 1 and b"empty" in empty.stderr and not out.exists()


def test_one_colour_png_on_a_pipe_is_a_frame_and_restores_beside_its_archive(frame_model, tmp_path):
    """`cat shot.png | darnzip compress - -o shot.dz` takes the frame side, as `compress shot.png` does (it
    was read as a binary image and refused; with --frames, PyAV read it as a one-frame video);
    `decompress shot.dz` writes shot.png, pixel-exact, and `decompress -c` a PNG (it wrote raw rgb24). A
    damaged PNG is a one-line error naming stdin."""
    from PIL import Image

    frame = sprite_frames(1, seed=23)[0]
    png = io.BytesIO()
    Image.fromarray(frame, "RGB").save(png, format="PNG")
    model = str(frame_model.weights_path)

    def cli(*args, data: bytes = b""):
        return subprocess.run([sys.executable, "-m", "darnzip_cli", *args, "--model", model], input=data,
                              capture_output=True, cwd=tmp_path)

    for flags in ((), ("--frames",)):
        archive = tmp_path / "shot.dz"
        made = cli("compress", "-", "-o", str(archive), "-f", "-T", "1", *flags, data=png.getvalue())
        assert made.returncode == 0 and b"1 frame -> " in made.stderr, made.stderr
        back = cli("decompress", str(archive), "-f")
        assert back.returncode == 0 and b"-> " + str(tmp_path / "shot.png").encode() in back.stderr, back.stderr
        with Image.open(tmp_path / "shot.png") as image:
            assert image.format == "PNG" and np.array_equal(np.asarray(image), frame)
    assert not (tmp_path / "stdin.png").exists()
    piped = subprocess.run([sys.executable, "-m", "darnzip_cli", "-", "-c", "--model", model], input=png.getvalue(),
                           capture_output=True)  # zstd's `cat x | zstd - -c`
    assert piped.returncode == 0 and piped.stdout == (tmp_path / "shot.dz").read_bytes()
    image_out = cli("decompress", "-", "-c", data=piped.stdout)  # the image file, as a binary archive gives
    with Image.open(io.BytesIO(image_out.stdout)) as image:
        assert image.format == "PNG" and np.array_equal(np.asarray(image), frame)
    broken = cli("compress", "-", "-c", "--frames", data=png.getvalue()[:40])
    assert broken.returncode == 1 and broken.stderr.startswith(b"darnzip: error: stdin: not a readable image")
    assert b"BytesIO" not in broken.stderr and broken.stdout == b""


def test_an_rgba_png_is_refused_in_one_step_by_its_mode(frame_model, tmp_path):
    """An RGBA PNG (a screenshot tool's) is refused by the frame side, which says why, as a file and on a
    pipe, with nothing written; it went to the binary side first, which sent the user to --frames, where
    it was refused again."""
    from PIL import Image

    frame = sprite_frames(1, seed=24)[0]
    Image.fromarray(frame, "RGB").convert("RGBA").save(tmp_path / "shot.png")
    for args, data in ((["compress", str(tmp_path / "shot.png")], None), (["compress", "-", "-c"],
                                                                           (tmp_path / "shot.png").read_bytes())):
        r = subprocess.run([sys.executable, "-m", "darnzip_cli", *args], input=data, capture_output=True)
        assert r.returncode == 1 and b"mode RGBA is not a frame darnzip can restore exactly" in r.stderr, r.stderr
        assert b"--frames" not in r.stderr and r.stdout == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.png"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signum, command", [(signal.SIGTERM, "decompress"), (signal.SIGHUP, "compress")])
def test_sigterm_and_sighup_stop_workers_and_leave_no_output(frame_model, tmp_path, signum, command):
    """Killed by SIGTERM or SIGHUP mid-stream (a service stopped, a terminal closed), darnzip exits as
    for Ctrl-C: a one-line message, status 128 + the signal, no output or temporary files, and its two
    workers gone. Both read a pipe that stops mid-stream, so the work is caught under way."""
    frames = sprite_frames(40, seed=18)
    model = str(frame_model.weights_path)
    if command == "compress":
        buffer = io.BytesIO()
        np.save(buffer, frames)
        feed = buffer.getvalue()[:-len(frames[0].tobytes()) * 20]  # the header and 20 frames, then it waits
        args, out = ["compress", "-", "-o", str(tmp_path / "out.dz"), "--chunk-frames", "8"], tmp_path / "out.dz"
    else:
        archive = tmp_path / "a.dz"
        compress_frames(archive.open("wb"), iter(frames), {"type": "npy", "name": "a.npy"}, frame_model, 8, 1)
        feed = archive.read_bytes()[:-200]  # the last chunk cut short: three chunks decode, then it waits
        args, out = ["decompress", "-", "-o", str(tmp_path / "out")], tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "darnzip_cli", *args, "--model", model, "-T", "2", "-q"],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    proc.stdin.write(feed)
    proc.stdin.flush()
    _wait_for(lambda: len(workers_of(proc.pid)) == 2, "the workers")
    workers = workers_of(proc.pid)
    if command == "decompress":  # frames of the first chunks written to the staging directory
        _wait_for(lambda: len(list(tmp_path.glob(".out.*/*.png"))) >= 8, "decoded frames")
    else:
        _wait_for(lambda: list(tmp_path.glob(".out.dz.*")), "the temporary archive")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert err.decode().strip() == f"darnzip: stopped by {signal.Signals(signum).name}; no output was written"
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["a.dz"] if command == "decompress" else [])
    _wait_for(lambda: not any(running(pid) for pid in workers), "the workers to exit", seconds=20)


def test_npy_files_are_read_frame_by_frame(frame_model, tmp_path):
    """A .npy file is read in turn, not mapped: every frame exact, a truncated file a one-line error with
    nothing written, and a Fortran-ordered array (whose frames are strided through the file) still read."""
    frames = sprite_frames(21, seed=17)
    model = str(frame_model.weights_path)
    runner = CliRunner()
    for order, name in (("C", "c.npy"), ("F", "f.npy")):
        np.save(tmp_path / name, np.asarray(frames, order=order))
        r = runner.invoke(main, ["compress", str(tmp_path / name), "-o", str(tmp_path / f"{name}.dz"),
                                 "--model", model, "-q", "-T", "1"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(main, ["decompress", str(tmp_path / f"{name}.dz"), "-o", str(tmp_path / f"back-{name}"),
                                 "--model", model, "-q"])
        assert r.exit_code == 0 and np.array_equal(np.load(tmp_path / f"back-{name}"), frames)
    from darnzip.frames.io import open_frame_source

    for version in ((1, 0), (2, 0), (3, 0)):
        with open(tmp_path / "v.npy", "wb") as f:
            np.lib.format.write_array(f, np.asarray(frames), version=version)
        source = open_frame_source(str(tmp_path / "v.npy"))
        assert source.length == 21 and np.array_equal(np.stack(list(source)), frames)
    data = (tmp_path / "c.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(data[:len(data) - 3 * frames[0].size])
    r = runner.invoke(main, ["compress", str(tmp_path / "cut.npy"), "-o", str(tmp_path / "cut.dz"), "--model", model,
                             "-q", "-T", "1"])
    assert r.exit_code == 1 and "ends in frame 18 of the 21" in r.output and not (tmp_path / "cut.dz").exists()


def test_report_on_a_frame_stream(frame_model, tmp_path, monkeypatch):
    """`report` on a frame stream: the same archive `compress` writes, checked by a round trip, its bits
    against the coder's per-frame free energy, beside bzip2 / xz / zstd; --limit takes the first frames,
    and a stream too long to hold is refused by name."""
    import darnzip_cli.frame_commands as commands

    frames = sprite_frames(21, seed=18)
    np.save(tmp_path / "s.npy", frames)
    model = str(frame_model.weights_path)
    runner = CliRunner()
    r = runner.invoke(main, ["compress", str(tmp_path / "s.npy"), "-o", str(tmp_path / "s.dz"), "--model", model,
                             "-q", "-T", "1"])
    assert r.exit_code == 0, r.output
    # an archive of a model file not in the registry: decoding without it says how, by the archive's name
    r = runner.invoke(main, ["decompress", str(tmp_path / "s.dz"), "-o", str(tmp_path / "back.npy")])
    assert r.exit_code == 1 and r.output.startswith(f"darnzip: error: {tmp_path / 's.dz'}: archive needs model")
    assert "name it: --model FILE.safetensors" in r.output and not (tmp_path / "back.npy").exists()
    r = runner.invoke(main, ["report", str(tmp_path / "s.npy"), "--model", model, "-T", "1",
                             "--plot", str(tmp_path / "r.png"), "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    assert "round trip exact" in r.output and "free energy" in r.output and (tmp_path / "r.png").stat().st_size > 0
    figures = json.loads((tmp_path / "r.json").read_text())
    assert figures["frames"] == 21 and figures["archive_bits"] == 8 * (tmp_path / "s.dz").stat().st_size
    assert figures["free_energy_bits_per_modelled_frame"] > 0 and figures["nll"] is None
    assert figures["two_part_bits_per_frame"] == (figures["model_bits"] + figures["archive_bits"]) / 21
    assert figures["model_bits"] > 8 * 1000 and "two-part code" in r.output
    assert [b["codec"].split()[0] for b in figures["baselines"]] == ["bzip2", "xz", "zstd"]
    assert all(b["bits_per_frame"] > 0 for b in figures["baselines"])
    # a second report does not write over the first's files unasked: refused before the work, then -f
    written = {name: (tmp_path / name).read_bytes() for name in ("r.png", "r.json")}
    for plot, json_file in (("r.png", "new.json"), ("new.png", "r.json")):
        r = runner.invoke(main, ["report", str(tmp_path / "s.npy"), "--model", model, "-T", "1",
                                 "--plot", str(tmp_path / plot), "--json", str(tmp_path / json_file)])
        assert r.exit_code == 1 and "already exists (use -f to overwrite)" in r.output and "round trip" not in r.output
    assert {name: (tmp_path / name).read_bytes() for name in written} == written
    assert not (tmp_path / "new.png").exists() and not (tmp_path / "new.json").exists()
    r = runner.invoke(main, ["report", str(tmp_path / "s.npy"), "--model", model, "-T", "1", "--limit", "8", "-f",
                             "--plot", str(tmp_path / "r.png"), "--no-baselines", "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0 and json.loads((tmp_path / "r.json").read_text())["frames"] == 8
    assert (tmp_path / "r.png").read_bytes() != written["r.png"]
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(commands, "REPORT_MAX_FRAMES", 20)
    r = runner.invoke(main, ["report", str(tmp_path / "s.npy"), "--model", model, "--plot", ""])
    assert r.exit_code == 1 and "--limit" in r.output


def test_sample_draws_a_stream_from_a_frame_model(moving_model, tmp_path):
    """`sample --model FRAME_MODEL` draws frames one after another by decoding random words: frames of the
    model's size in its palette, the same for the same seed, as .npy or a tiled PNG."""
    from PIL import Image

    model = str(moving_model.weights_path)
    runner = CliRunner()
    for name, seed in (("a.npy", 1), ("b.npy", 1), ("c.npy", 2)):
        r = runner.invoke(main, ["sample", "--model", model, "-n", "6", "--seed", str(seed), "-o", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
    a, b, c = (np.load(tmp_path / name) for name in ("a.npy", "b.npy", "c.npy"))
    cfg = moving_model.config
    assert a.shape == (6, cfg.height, cfg.width, 3) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.isin(pack_rgb(a), moving_model.palette.colours).all()
    r = runner.invoke(main, ["sample", "--model", model, "-n", "4", "-o", str(tmp_path / "grid.png")])
    assert r.exit_code == 0 and Image.open(tmp_path / "grid.png").size == (2 * cfg.width, 2 * cfg.height)

    # decoding random words: what an archive may not hold (a drawn block repeating frame t-1) is refused
    # unless sampling, which keeps it
    from darnzip.frames.codec import FrameDecodeError

    codec, reference, found = moving_model.chunk_codec().codec, moving_model.reference, 0
    for seed in range(300):
        words = np.random.default_rng(seed).integers(0, 1 << 32, 4096, dtype=np.uint32)
        try:
            codec.pop(constriction.stream.stack.AnsCoder(words), reference, None)
        except FrameDecodeError as exc:
            if "unchanged block is drawn" in str(exc):
                frame = codec.pop(constriction.stream.stack.AnsCoder(words), reference, None, sampling=True)
                assert frame.shape == reference.shape and frame.max() < len(moving_model.palette)
                found += 1
    assert found > 0


def test_the_frame_count_is_read_off_the_end_of_a_file_for_progress(frame_model):
    """Decompression's progress bar gets its total from the trailer at the end of a seekable archive,
    without moving the reader; a pipe, or an archive that does not end in a whole trailer, gives none."""
    frames = list(sprite_frames(23, seed=19))
    data = _archive(frame_model, frames, chunk_frames=8)

    class Pipe(io.BytesIO):
        def seekable(self):
            return False

    reader = FrameArchiveReader(io.BytesIO(data))
    where = reader.src.tell()
    assert reader.stated_frames() == 23 and reader.src.tell() == where
    assert sum(len(c.kinds) for c in reader.chunks()) == 23 and reader.trailer["frames"] == 23
    assert FrameArchiveReader(Pipe(data)).stated_frames() is None
    assert FrameArchiveReader(io.BytesIO(data[:-1])).stated_frames() is None
    flipped = bytearray(data)
    flipped[-20] ^= 1  # inside the trailer: its checksum fails
    assert FrameArchiveReader(io.BytesIO(bytes(flipped))).stated_frames() is None


def test_forked_workers_pass_chunks_through_reused_slots_and_frames_that_do_not_fit_through_the_pipe(
        frame_model, monkeypatch):
    """Chunks of the model's frame size travel to and from forked workers in shared slots, reused in turn
    (14 chunks over 3 slots); a chunk holding a frame of another size goes through the pipe. The archive
    is the one the main process writes, and each decoded frame stays right after its slot is reused."""
    from darnzip.frames.frame_slots import FrameSlots, SlotFrames

    frames = list(sprite_frames(55, seed=7))
    frames.insert(21, np.zeros((10, 12, 3), dtype=np.uint8))  # a raw frame: chunk 5 holds it
    handed, taken = [], []
    send, take = FrameSlots.send, FrameSlots.take
    monkeypatch.setattr(FrameSlots, "send", lambda self, slot, batch: handed.append(send(self, slot, batch))
                        or handed[-1])
    monkeypatch.setattr(FrameSlots, "take", lambda self, where: taken.append(where) or take(self, where))
    archive = _archive(frame_model, frames, chunk_frames=4, workers=2)
    assert archive == _archive(frame_model, frames, chunk_frames=4, workers=1)
    assert [isinstance(h, SlotFrames) for h in handed] == [i != 5 for i in range(14)]
    assert {h.slot for h in handed if isinstance(h, SlotFrames)} == {0, 1, 2}
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(archive)), frame_model, workers=2))
    assert [w.slot for w in taken] == [i % 3 for i in range(14) if i != 5]
    assert len(decoded) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, decoded))


def test_frame_directories_walk_as_binary_ones_do(frame_model, tmp_path):
    """A PNG directory is walked as binary inputs are (sources.files_below): a subdirectory's frames
    after the directory's own, a symlink to a parent not entered, and a symlink to a missing frame a
    one-line error with nothing written. The frame side listed only existing files, so that frame went
    missing from the stream without a word."""
    from PIL import Image

    frames = sprite_frames(6, seed=19)
    src = tmp_path / "frames"
    (src / "later").mkdir(parents=True)
    names = ["a.png", "b.png", "c.png", "later/a.png", "later/b.png", "later/c.png"]
    for name, frame in zip(names, frames):
        Image.fromarray(frame, "RGB").save(src / name)
    (src / "notes.txt").write_text("not a frame")
    (src / "loop").symlink_to(src)
    runner = CliRunner()
    archive = tmp_path / "frames.dz"
    model = str(frame_model.weights_path)
    r = runner.invoke(main, ["compress", str(src), "-o", str(archive), "--model", model, "-q", "-T", "1"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "restored.npy"
    assert runner.invoke(main, ["decompress", str(archive), "-o", str(out), "--model", model, "-q"]).exit_code == 0
    assert np.array_equal(np.load(out), frames)

    (src / "b2.png").symlink_to(tmp_path / "gone.png")
    archive.unlink()
    r = runner.invoke(main, ["compress", str(src), "-o", str(archive), "--model", model, "-q", "-T", "1"])
    assert r.exit_code == 1 and "b2.png: not a readable image" in r.output
    assert not archive.exists() and not list(tmp_path.glob(".frames.dz*"))


def test_compress_says_why_frames_were_stored_raw(frame_model, tmp_path):
    """Frames the model cannot code are counted in the summary and explained in a note; when most of a
    stream is stored raw the note points to train-frames; -q prints nothing."""
    frames = sprite_frames(9, seed=20)
    frames[4] = np.random.default_rng(0).integers(0, 256, frames[4].shape, dtype=np.uint8)  # colours it lacks
    noise = np.random.default_rng(1).integers(0, 256, (3, 24, 40, 3), dtype=np.uint8)
    model = str(frame_model.weights_path)
    runner = CliRunner()
    for name, stream, raw in (("mostly.npy", frames, 1), ("noise.npy", noise, 3)):
        np.save(tmp_path / name, stream)
        r = runner.invoke(main, ["compress", str(tmp_path / name), "-o", str(tmp_path / "x.dz"), "-f", "--model",
                                 model, "-T", "1"])
        assert r.exit_code == 0, r.output
        assert f"{raw} stored raw)" in r.output
        assert f"note: {raw} of {len(stream)} frames stored raw (by the best of zstd, xz and bzip2): sprites-v1 codes 40x24 frames" in r.output
        assert ("train-frames" in r.output) == (raw == len(stream))
    r = runner.invoke(main, ["compress", str(tmp_path / "noise.npy"), "-o", str(tmp_path / "x.dz"), "-f", "--model",
                             model, "-T", "1", "-q"])
    assert r.exit_code == 0 and r.output == ""


def test_the_note_tells_frames_the_universal_model_won_from_frames_no_model_fits(frame_model):
    """Frames the game model codes but that the universal model coded shorter are not called misfits."""
    from darnzip.frames.stream import FrameStreamStats
    from darnzip_cli.frame_commands import raw_frames_note

    chosen = raw_frames_note(FrameStreamStats(frames=512, raw=512, universal=512, chosen_over_model=512), frame_model)
    assert chosen == ("note: 512 of 512 frames coded by the universal frame model, whose code of their chunks was "
                      "shorter than sprites-v1's")
    both = raw_frames_note(FrameStreamStats(frames=600, raw=600, universal=600, chosen_over_model=512), frame_model)
    assert both.splitlines()[0].startswith("note: 88 of 600 frames stored raw (by the best of the universal frame "
                                           "model, zstd, xz and bzip2): sprites-v1 codes 40x24 frames")
    assert "train-frames" not in both and len(both.splitlines()) == 2


def test_an_archive_of_one_image_restores_to_one_file(frame_model, tmp_path):
    """As zstd -d: shot.png.dz restores to shot.png (it made a directory named shot.png, and beside the
    original failed with "File exists"), refused over an existing file without -f; -o with an image
    suffix writes that format (a .bmp was PNG data before), -o with none a directory."""
    from PIL import Image

    frame = sprite_frames(1, seed=21)[0]
    Image.fromarray(frame, "RGB").save(tmp_path / "shot.png")
    model = str(frame_model.weights_path)
    runner = CliRunner()
    assert runner.invoke(main, ["compress", str(tmp_path / "shot.png"), "--model", model, "-q"]).exit_code == 0
    archive = tmp_path / "shot.png.dz"
    r = runner.invoke(main, ["decompress", str(archive), "--model", model, "-q"])
    assert r.exit_code == 1 and "shot.png already exists" in r.output
    (tmp_path / "shot.png").rename(tmp_path / "original.png")
    r = runner.invoke(main, ["decompress", str(archive), "--model", model])
    assert r.exit_code == 0 and "1 frame -> " in r.output
    assert (tmp_path / "shot.png").is_file() and np.array_equal(np.asarray(Image.open(tmp_path / "shot.png")), frame)
    for name, kind in (("copy.bmp", "BMP"), ("copy.ppm", "PPM")):
        assert runner.invoke(main, ["decompress", str(archive), "-o", str(tmp_path / name), "--model", model,
                                    "-q"]).exit_code == 0
        with Image.open(tmp_path / name) as image:
            assert image.format == kind and np.array_equal(np.asarray(image), frame)
    assert runner.invoke(main, ["decompress", str(archive), "-o", str(tmp_path / "into"), "--model", model,
                                "-q"]).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "into" / "shot.png")), frame)

    frames = sprite_frames(2, seed=22)
    (tmp_path / "mixed").mkdir()
    for name, each in zip(("a.bmp", "b.ppm"), frames):
        Image.fromarray(each, "RGB").save(tmp_path / "mixed" / name)
    assert runner.invoke(main, ["compress", str(tmp_path / "mixed"), "--model", model, "-q"]).exit_code == 0
    assert runner.invoke(main, ["decompress", str(tmp_path / "mixed.dz"), "-o", str(tmp_path / "back"), "--model",
                                model, "-q"]).exit_code == 0
    for (name, kind), each in zip((("a.bmp", "BMP"), ("b.ppm", "PPM")), frames):
        with Image.open(tmp_path / "back" / name) as image:
            assert image.format == kind and np.array_equal(np.asarray(image), each)


def test_cli_png_directory_npy_video_and_pipes(frame_model, tmp_path):
    from PIL import Image

    frames = sprite_frames(40, seed=7)
    src = tmp_path / "frames"
    src.mkdir()
    names = [f"shot_{i:03d}.png" for i in range(40)]
    for name, frame in zip(names, frames):
        Image.fromarray(frame, "RGB").save(src / name)
    model = str(frame_model.weights_path)
    runner = CliRunner()
    archive = tmp_path / "frames.dz"
    r = runner.invoke(main, ["compress", str(src), "-o", str(archive), "--model", model, "-q", "-T", "1",
                             "--chunk-frames", "16"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["test", str(archive), "--model", model, "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["list", str(archive), "--json"])
    assert r.exit_code == 0 and '"frames": 40' in r.output and "names" not in json.loads(r.output)
    r = runner.invoke(main, ["list", str(archive), "--json", "-v"])  # -v names the frames (it was ignored)
    assert r.exit_code == 0 and json.loads(r.output)["names"] == names
    r = runner.invoke(main, ["list", str(archive), "-v"])
    assert r.exit_code == 0 and r.output.splitlines()[1:] == [f"  {name}" for name in names]

    out = tmp_path / "restored"
    r = runner.invoke(main, ["decompress", str(archive), "-o", str(out), "--model", model, "-q"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == names
    for name, frame in zip(names, frames):
        assert np.array_equal(np.asarray(Image.open(out / name)), frame)

    npy = tmp_path / "restored.npy"
    r = runner.invoke(main, ["decompress", str(archive), "-o", str(npy), "--model", model, "-q"])
    assert r.exit_code == 0 and np.array_equal(np.load(npy), frames)

    mkv = tmp_path / "restored.mkv"
    r = runner.invoke(main, ["decompress", str(archive), "-o", str(mkv), "--model", model, "-q"])
    assert r.exit_code == 0, r.output
    archive2 = tmp_path / "from-video.dz"
    r = runner.invoke(main, ["compress", str(mkv), "-o", str(archive2), "--model", model, "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["decompress", str(archive2), "-o", str(tmp_path / "again.npy"), "--model", model, "-q"])
    assert r.exit_code == 0 and np.array_equal(np.load(tmp_path / "again.npy"), frames)
    r = runner.invoke(main, ["list", str(archive2), "-v"])
    assert r.exit_code == 0 and r.output.splitlines()[1:] == ["  restored.mkv  (40 frames)"]

    raw = subprocess.run([sys.executable, "-m", "darnzip_cli", "decompress", "-c", str(archive), "--model", model, "-q"],
                         capture_output=True, check=True).stdout
    assert raw == frames.tobytes()
    listed = subprocess.run([sys.executable, "-m", "darnzip_cli", "list", "-", "--json"], input=archive.read_bytes(),
                            capture_output=True, check=True).stdout  # a real pipe: no tell(), no seek()
    assert json.loads(listed)["bytes"] == archive.stat().st_size

    r = runner.invoke(main, ["decompress", str(archive), "-o", str(npy), "--model", model, "-q"])
    assert r.exit_code == 1 and "already exists" in r.output


def test_listing_a_frame_archive_does_not_load_the_coder(moving_model, tmp_path):
    """`list` reads the container only: it must not import torch (1.6 s of a 1.9 s listing here)."""
    archive = tmp_path / "a.dz"
    archive.write_bytes(_archive(moving_model, list(sprite_frames(6, seed=13))))
    script = ("import json, sys\n"
              "from click.testing import CliRunner\n"
              "from darnzip_cli.main import main\n"
              f"r = CliRunner().invoke(main, ['list', {str(archive)!r}, '--json'])\n"
              "print(json.dumps({'code': r.exit_code, 'out': r.output, 'torch': 'torch' in sys.modules}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    result = json.loads(done.stdout)
    assert result["code"] == 0 and json.loads(result["out"])["frames"] == 6
    assert not result["torch"]


def test_cli_corrupt_frame_archive_writes_nothing(frame_model, tmp_path):
    np.save(tmp_path / "f.npy", sprite_frames(20, seed=8))
    model = str(frame_model.weights_path)
    runner = CliRunner()
    archive = tmp_path / "f.dz"
    assert runner.invoke(main, ["compress", str(tmp_path / "f.npy"), "-o", str(archive), "--model", model,
                                "-q"]).exit_code == 0
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x10
    archive.write_bytes(bytes(data))
    r = runner.invoke(main, ["decompress", str(archive), "-o", str(tmp_path / "out.npy"), "--model", model, "-q"])
    assert r.exit_code == 1 and ("corrupt" in r.output or "truncated" in r.output)
    assert not (tmp_path / "out.npy").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bench_frames_repeats_report_the_median_and_the_slowest(moving_model, monkeypatch, tmp_path):
    """`bench-frames --repeat N` times every codec N times on the same frames: the same archive each time,
    the median reported, every run in the JSON and the slowest printed beside the median."""
    import darnzip_cli.frame_commands as commands

    import darnzip.frames.atari as atari
    from darnzip.frames.bench import byte_codecs, darnzip_codec, index_stream

    rgb = sprite_frames(20, seed=12)
    once, _ = darnzip_codec(rgb, moving_model, 1, 8)
    thrice, stats = darnzip_codec(rgb, moving_model, 1, 8, repeat=3)
    assert thrice.bytes == once.bytes and stats.frames == 20 and len(thrice.compress_runs) == 3
    assert len(thrice.cpu_checks) == 3
    assert thrice.compress_s == sorted(thrice.compress_runs)[1] and thrice.decompress_s == sorted(thrice.decompress_runs)[1]
    assert [r.bytes for r in byte_codecs(index_stream(rgb), 2)] == [r.bytes for r in byte_codecs(index_stream(rgb))]

    monkeypatch.setattr(atari, "frames_array", lambda game, frames, seed: rgb[:frames])
    monkeypatch.setattr(commands, "resolve_frame_model", lambda name: moving_model)
    monkeypatch.setattr(commands, "newest_game_model", lambda game: moving_model.model_id)
    result = CliRunner().invoke(main, ["bench-frames", "--game", "Pong", "--frames", "20", "--chunk-frames", "8",
                                       "--no-video", "-T", "1", "--repeat", "2", "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    assert "slowest of 2" in result.output
    row = json.loads((tmp_path / "b.json").read_text())[0]["rows"][0]
    assert row["codec"].startswith("darnzip") and row["bits_per_frame"] == 8 * once.bytes / 20
    assert len(row["compress_fps_runs"]) == 2 and min(row["compress_fps_runs"]) <= row["compress_fps"]
    checks = json.loads((tmp_path / "b.json").read_text())[0]["cpu_check_seconds_before_after_each_darnzip_run"]
    assert len(checks) == 2 and all(len(pair) == 2 and min(pair) > 0 for pair in checks)
    assert "machine check" in result.output
    assert CliRunner().invoke(main, ["bench-frames", "--repeat", "0"]).exit_code == 2
    # its JSON and plots are not written over unasked: refused before any work (the plot of a game not run
    # is no obstacle), and written with -f
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "pong.png").write_bytes(b"mine")
    (tmp_path / "plots" / "freeway.png").write_bytes(b"mine too")
    before = (tmp_path / "b.json").read_bytes()
    for existing, args in (("b.json", ["--json", str(tmp_path / "b.json")]),
                           ("pong.png", ["--plot", str(tmp_path / "plots")])):
        refused = CliRunner().invoke(main, ["bench-frames", "--game", "Pong", "--frames", "20", "--no-video", *args])
        assert refused.exit_code == 1 and existing in refused.output and "use -f" in refused.output
        assert "held-out frames" not in refused.output
    assert (tmp_path / "b.json").read_bytes() == before and (tmp_path / "plots" / "pong.png").read_bytes() == b"mine"
    forced = CliRunner().invoke(main, ["bench-frames", "--game", "Pong", "--frames", "20", "--chunk-frames", "8",
                                       "--no-video", "-T", "1", "-f", "--plot", str(tmp_path / "plots")])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "plots" / "pong.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "plots" / "freeway.png").read_bytes() == b"mine too"
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["freeway.png", "pong.png"]  # no temp files


def test_bench_frames_runs_models_side_by_side(moving_model, context_model, monkeypatch, tmp_path):
    """`bench-frames -m A -m B` codes the game's frames with each model, the two taking turns in every
    timed round: a row per model with its own runs and archive size (as each alone gives), the game's
    figures for the first model, and each model's bits, free energy and ratio in the JSON."""
    import darnzip_cli.frame_commands as commands

    import darnzip.frames.atari as atari
    from darnzip.frames.bench import darnzip_codec

    rgb = sprite_frames(20, seed=13)
    alone = {m.model_id: darnzip_codec(rgb, m, 1, 8)[0].bytes for m in (moving_model, context_model)}
    assert len(set(alone.values())) == 2
    by_name = {"first": moving_model, "second": context_model}
    monkeypatch.setattr(atari, "frames_array", lambda game, frames, seed: rgb[:frames])
    monkeypatch.setattr(commands, "resolve_frame_model", lambda name: by_name[name])
    result = CliRunner().invoke(main, ["bench-frames", "--game", "Pong", "--frames", "20", "--chunk-frames", "8",
                                       "--no-video", "-T", "1", "--repeat", "2", "-m", "first", "-m", "second",
                                       "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "b.json").read_text())[0]
    ours = entry["rows"][:2]
    assert [r["codec"] for r in ours] == [f"darnzip ({m.model_id})" for m in (moving_model, context_model)]
    assert [r["bits_per_frame"] for r in ours] == [8 * alone[m.model_id] / 20 for m in (moving_model, context_model)]
    assert all(len(r["compress_fps_runs"]) == 2 and len(r["decompress_fps_runs"]) == 2 for r in ours)
    assert [m["model"] for m in entry["models"]] == [moving_model.model_id, context_model.model_id]
    assert entry["models"][0]["ratio_to_best_classical"] == entry["ratio_to_best_classical"]
    assert entry["models"][1]["bits_per_frame"] / entry["best_classical_bits_per_frame"] == pytest.approx(
        entry["models"][1]["ratio_to_best_classical"])
    assert len(entry["cpu_check_seconds_before_after_each_darnzip_run"]) == 2
    assert all(len(m["cpu_check_seconds_before_after_each_run"]) == 2 for m in entry["models"])
    assert result.output.count("free energy") == 2 and f"({context_model.model_id}) free energy" in result.output
    needs_game = CliRunner().invoke(main, ["bench-frames", "-m", "first", "--frames", "20"])
    assert needs_game.exit_code == 1 and "--game" in needs_game.output and "held-out" not in needs_game.output


def test_inputs_are_routed_by_what_they_hold(tmp_path):
    from PIL import Image

    from darnzip.frames.io import looks_like_frames

    np.save(tmp_path / "rgb.npy", sprite_frames(3, seed=10))
    np.save(tmp_path / "bits.npy", np.zeros((3, 28, 28), dtype=np.uint8))
    colour = tmp_path / "colour"
    colour.mkdir()
    Image.fromarray(sprite_frames(1, seed=11)[0], "RGB").save(colour / "a.png")
    binary = tmp_path / "binary"
    binary.mkdir()
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8), "L").save(binary / "a.png")
    assert looks_like_frames(str(tmp_path / "rgb.npy"))
    assert looks_like_frames(str(colour))
    assert looks_like_frames(str(tmp_path / "game.mkv"))
    assert not looks_like_frames(str(tmp_path / "bits.npy"))
    assert not looks_like_frames(str(binary))


def test_shipped_game_model_is_picked_and_round_trips(tmp_path):
    """Real Atari frames (ale-py) through the CLI with no --model: the shipped Pong model is chosen."""
    pytest.importorskip("ale_py")
    from darnzip.frames.atari import frames_array
    frames = frames_array("Pong", 40, seed=77)
    np.save(tmp_path / "pong.npy", frames)
    runner = CliRunner()
    r = runner.invoke(main, ["compress", str(tmp_path / "pong.npy"), "-T", "1"])
    assert r.exit_code == 0, r.output
    assert "atari-pong-v7" in r.output and "40 modelled" in r.output  # the shipped Pong model
    r = runner.invoke(main, ["decompress", str(tmp_path / "pong.npy.dz"), "-o", str(tmp_path / "back.npy"), "-q"])
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.load(tmp_path / "back.npy"), frames)
    assert (tmp_path / "pong.npy.dz").stat().st_size * 8 / 40 < 0.01 * 210 * 160 * 24


def test_the_newest_version_is_picked_past_version_nine(tmp_path):
    """Model versions compare as numbers: with SpaceInvaders v1 to v11 installed (v9 sorts after v11 as
    text), the CLI picks the newest for SpaceInvaders frames."""
    pytest.importorskip("ale_py")
    from darnzip.core.zoo import version_order
    from darnzip.frames.atari import frames_array
    from darnzip.frames.zoo import newest_game_model

    assert sorted(["m-v9", "m-v10", "m-v2", "other"], key=version_order) == ["m-v2", "m-v9", "m-v10", "other"]
    newest = newest_game_model("SpaceInvaders")
    if int(newest.rpartition("-v")[2]) < 10:
        pytest.skip("needs a SpaceInvaders model version 10 or later")
    np.save(tmp_path / "si.npy", frames_array("SpaceInvaders", 20, seed=77))
    r = CliRunner().invoke(main, ["compress", str(tmp_path / "si.npy"), "-T", "1"])
    assert r.exit_code == 0, r.output
    assert f"model {newest};" in r.output, r.output


def test_frame_training_stopped_goes_on_from_its_checkpoint_to_the_same_model(tmp_path):
    """train-frames checkpoints each finished epoch beside the export: stopped in epoch 2 and run again,
    it goes on from epoch 1 and exports the weights an unbroken run exports, bit for bit, then removes the
    checkpoint. A checkpoint of other settings is refused by name; --no-resume starts over. (A stopped
    run lost everything before.)"""
    from darnzip.frames.trainer import checkpoint_path, train_frame_model

    rgb = sprite_frames(60, seed=3)
    np.save(tmp_path / "frames.npy", rgb)
    args = ["train-frames", str(tmp_path / "frames.npy"), "--model-id", "t-v1", "--epochs", "2", "--steps", "5",
            "--seed", "4", "-q"]
    runner = CliRunner()
    whole = tmp_path / "whole"
    assert runner.invoke(main, args + ["--export", str(whole)]).exit_code == 0

    broken = tmp_path / "broken"

    def stop_in_epoch_two(done: int, bits: float) -> None:
        if done == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_frame_model(rgb, broken, "t-v1", 2, 5, 1e-2, 4, 8, log=lambda m: None, progress=stop_in_epoch_two)
    assert checkpoint_path(broken).is_file() and not broken.with_suffix(".safetensors").exists()
    other = runner.invoke(main, args + ["--export", str(broken), "--lr", "0.02"])
    assert other.exit_code == 1 and "checkpoint of another run (lr differ)" in other.output
    resumed = runner.invoke(main, args + ["--export", str(broken)])
    assert resumed.exit_code == 0 and "resumed from" in resumed.output and "after epoch 1/2" in resumed.output
    assert "epoch 1/2:" not in resumed.output and "epoch 2/2:" in resumed.output
    assert broken.with_suffix(".safetensors").read_bytes() == whole.with_suffix(".safetensors").read_bytes()
    assert not checkpoint_path(broken).exists() and not checkpoint_path(whole).exists()
    assert json.loads(broken.with_suffix(".json").read_text())["training"]["resumed_after_epoch"] == 1

    with pytest.raises(KeyboardInterrupt):
        train_frame_model(rgb, broken, "t-v1", 2, 5, 2e-2, 4, 8, log=lambda m: None, progress=stop_in_epoch_two)
    kept = broken.with_suffix(".json").read_bytes()
    refused = runner.invoke(main, args + ["--export", str(broken), "--no-resume"])  # a model is there: -f first
    assert refused.exit_code == 1 and "broken.safetensors already exists (use -f" in refused.output
    assert "epoch" not in refused.output and broken.with_suffix(".json").read_bytes() == kept
    fresh = runner.invoke(main, args + ["--export", str(broken), "--no-resume", "-f"])
    assert fresh.exit_code == 0 and "resumed" not in fresh.output
    assert broken.with_suffix(".safetensors").read_bytes() == whole.with_suffix(".safetensors").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp files left


def test_train_frames_hidden_0_trains_a_log_linear_model_that_codes_exactly(tmp_path):
    """`train-frames --hidden 0` exports a model with no hidden layer in its pixel model, which compresses
    and decompresses frames exactly through the CLI; with --init the option is refused before any work
    (a continued model keeps its own pixel model)."""
    np.save(tmp_path / "frames.npy", sprite_frames(40, seed=5))
    runner = CliRunner()
    stem = tmp_path / "linear"
    trained = runner.invoke(main, ["train-frames", str(tmp_path / "frames.npy"), "--model-id", "lin-v1", "--export",
                                   str(stem), "--epochs", "1", "--steps", "4", "--hidden", "0", "-q"])
    assert trained.exit_code == 0, trained.output
    model = load_frame_model(stem.with_suffix(".safetensors"))
    assert model.config.hidden == 0 and model.exact.integers["output"].shape == (0, model.config.colours)
    np.save(tmp_path / "held.npy", sprite_frames(12, seed=6))
    args = ["--model", str(stem.with_suffix(".safetensors"))]
    packed = runner.invoke(main, ["compress", str(tmp_path / "held.npy"), "-o", str(tmp_path / "h.dz"), *args])
    assert packed.exit_code == 0 and "model lin-v1; 12 modelled" in packed.output and "0 stored raw" in packed.output
    out = runner.invoke(main, ["decompress", str(tmp_path / "h.dz"), "-o", str(tmp_path / "back.npy"), *args])
    assert out.exit_code == 0, out.output
    assert np.array_equal(np.load(tmp_path / "back.npy"), np.load(tmp_path / "held.npy"))
    refused = runner.invoke(main, ["train-frames", str(tmp_path / "frames.npy"), "--model-id", "lin-v2", "--export",
                                   str(tmp_path / "again"), "--init", str(stem.with_suffix(".safetensors")),
                                   "--hidden", "0", "-q"])
    assert refused.exit_code == 1 and "--init keeps its own" in refused.output
    assert not (tmp_path / "again.safetensors").exists()


def test_training_can_continue_from_an_exported_model(any_model):
    """`train-frames --init`: the float model rebuilt from the integer tensors quantises back to them."""
    frame_model = any_model
    tensors = frame_model.exact.integers
    rebuilt = FrameDarn.from_integers(frame_model.config, tensors, frame_model.exact.frac_bits)
    again = rebuilt.quantize(frame_model.exact.frac_bits)
    assert all(np.array_equal(again[k], tensors[k]) for k in tensors)


def test_an_animated_gif_keeps_every_frame(tmp_path):
    """Five frames with no delay between them: ffmpeg's demuxer returned one; darnzip reads all five."""
    from PIL import Image

    bits = [(np.indices((16, 16)).sum(0) % 5 == i).astype(np.uint8) * 255 for i in range(5)]
    images = [Image.fromarray(b).convert("1") for b in bits]  # two colours, no frame delay: ffmpeg saw one
    images[0].save(tmp_path / "anim.gif", save_all=True, append_images=images[1:])
    frames = [b[..., None].repeat(3, axis=2) for b in bits]
    runner = CliRunner()
    r = runner.invoke(main, ["compress", str(tmp_path / "anim.gif"), "-T", "1"])
    assert r.exit_code == 0 and "5 frames" in r.output, r.output
    r = runner.invoke(main, ["decompress", str(tmp_path / "anim.gif.dz"), "-o", str(tmp_path / "back.npy"), "-q"])
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.load(tmp_path / "back.npy"), np.stack(frames))


def test_a_video_keeps_its_frame_rate_and_restores_as_mkv(tmp_path):
    """A 15 fps video restores at 15 fps (it came back at 60), as clip.mkv (it came back as a directory
    named clip.mp4); another video suffix for -o is refused, as darnzip writes lossless .mkv only."""
    import av

    frames = [np.zeros((16, 32, 3), np.uint8) for _ in range(6)]
    for i, frame in enumerate(frames):
        frame[:, 4 * i:4 * i + 4] = 200
    with av.open(str(tmp_path / "clip.mkv"), "w") as container:
        stream = container.add_stream("ffv1", rate=15)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "bgr0"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    (tmp_path / "clip.mkv").rename(tmp_path / "clip.mp4")  # the name a user's file has; the content is lossless
    runner = CliRunner()
    assert runner.invoke(main, ["compress", str(tmp_path / "clip.mp4"), "-T", "1", "-q"]).exit_code == 0
    (tmp_path / "clip.mp4").rename(tmp_path / "original.mp4")
    r = runner.invoke(main, ["decompress", str(tmp_path / "clip.mp4.dz"), "-q"])
    assert r.exit_code == 0, r.output
    with av.open(str(tmp_path / "clip.mkv")) as restored:
        assert restored.streams.video[0].average_rate == 15
        back = [f.to_ndarray(format="rgb24") for f in restored.decode(video=0)]
    assert len(back) == 6 and all(np.array_equal(a, b) for a, b in zip(back, frames))
    r = runner.invoke(main, ["decompress", str(tmp_path / "clip.mp4.dz"), "-o", str(tmp_path / "x.mp4")])
    assert r.exit_code == 1 and ".mkv" in r.output and not (tmp_path / "x.mp4").exists()


def test_a_stream_stored_raw_decodes_without_the_model_it_was_offered(tmp_path, frame_model):
    """Frames no model fits (another size) are stored raw; the header names the model they were offered,
    but decoding needs none: with the model gone, test and decompress restore them exactly. A stream
    with modelled frames still asks for its model, and writes nothing."""
    import shutil

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(frame_model.weights_path.with_suffix(suffix), model_dir / f"m{suffix}")
    model = model_dir / "m.safetensors"
    odd = np.random.default_rng(5).integers(0, 255, (4, 9, 11, 3), dtype=np.uint8)  # not the model's size
    np.save(tmp_path / "odd.npy", odd)
    fits = sprite_frames(6, seed=2)
    np.save(tmp_path / "fits.npy", fits)
    runner = CliRunner()
    for name in ("odd", "fits"):
        r = runner.invoke(main, ["compress", str(tmp_path / f"{name}.npy"), "--model", str(model), "-T", "1", "-q"])
        assert r.exit_code == 0, r.output
    shutil.rmtree(model_dir)
    assert runner.invoke(main, ["test", str(tmp_path / "odd.npy.dz")]).exit_code == 0
    r = runner.invoke(main, ["decompress", str(tmp_path / "odd.npy.dz"), "-o", str(tmp_path / "odd-back.npy"), "-T", "2"])
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.load(tmp_path / "odd-back.npy"), odd)
    r = runner.invoke(main, ["decompress", str(tmp_path / "fits.npy.dz"), "-o", str(tmp_path / "fits-back.npy")])
    assert r.exit_code == 1 and "archive needs model" in r.output and r.output.count("\n") == 1, r.output
    assert not (tmp_path / "fits-back.npy").exists()


def test_a_stream_no_model_fits_is_cut_in_larger_chunks(tmp_path, frame_model):
    """Its frames go to the raw side, whose compressor finds repeats only inside a chunk: 2,000 frames of
    9x11 pixels make one chunk (the default 512 is for streams a model codes), unless asked otherwise."""
    from darnzip.frames.zoo import RAW_CHUNK_PIXELS, chunk_frames_for

    odd = np.random.default_rng(4).integers(0, 2, (2000, 9, 11, 1), dtype=np.uint8).repeat(3, axis=3) * 255
    np.save(tmp_path / "odd.npy", odd)
    runner = CliRunner()
    for extra, chunks in (([], 1), (["--chunk-frames", "500"], 4)):
        r = runner.invoke(main, ["compress", str(tmp_path / "odd.npy"), "-o", str(tmp_path / "odd.dz"), "-f",
                                 "--model", str(frame_model.weights_path), "-T", "1", "-q", *extra])
        assert r.exit_code == 0, r.output
        listed = json.loads(runner.invoke(main, ["list", str(tmp_path / "odd.dz"), "--json"]).output)
        assert listed["chunks"] == chunks and listed["raw"] == 2000
    assert chunk_frames_for(frame_model, sprite_frames(1, seed=1)[0], None) == 512
    assert chunk_frames_for(frame_model, np.zeros((1080, 1920, 3), np.uint8), None) == RAW_CHUNK_PIXELS // (1080 * 1920)
    r = runner.invoke(main, ["decompress", str(tmp_path / "odd.dz"), "-o", str(tmp_path / "back.npy"), "-q"])
    assert r.exit_code == 0 and np.array_equal(np.load(tmp_path / "back.npy"), odd)


def test_train_frames_logs_progress_lines_when_stderr_is_not_a_terminal(tmp_path):
    """In a log file the progress bar does not show: ten JSON lines an epoch say how far training is."""
    np.save(tmp_path / "frames.npy", sprite_frames(30, seed=8))
    result = CliRunner().invoke(main, ["train-frames", str(tmp_path / "frames.npy"), "--model-id", "p-v1", "--epochs",
                                       "1", "--steps", "20", "--export", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith('{"epoch"')]
    assert [line["step"] for line in lines] == [2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert all(line["epoch"] == 1 and line["steps"] == 20 and line["bits_per_frame"] > 0 for line in lines)
