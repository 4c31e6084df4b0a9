"""Frame streams: exact round trips through the chunk codec, the container and the CLI, raw fallbacks,
determinism across worker counts and call splits, and rejection of damaged archives."""
from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import constriction
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from darnzip_cli.main import main
from darnzip.images.container import ArchiveError
from darnzip.frames.config import MAX_HISTORY, MOTIONS, STILL, FrameConfig
from darnzip.frames.container import FrameArchiveReader
from darnzip.frames.derive import with_tables
from darnzip.frames.latent_context import BERNOULLI, CONTEXTS, LOGIT_BINS, LatentPrior, diagonal_order
from darnzip.frames.model import FrameDarn, build_exact
from darnzip.frames.modelfile import load_frame_model, save_frame_model
from darnzip.frames.palette import Palette, pack_rgb
from darnzip.frames.stream import compress_frames, decompress_frames
from darnzip.frames.train import train

from .processes import running, workers_of

@pytest.mark.parametrize("colours", [4, 255])
def test_coder_current_frame_values_equal_training_features(colours):
    """What the decoder reads of frame t at each step (a neighbour's colour, or `unknown` where it is not
    decoded yet) must be the training's current-frame features, up to the largest palette, whose
    `unknown` (256) does not fit the frames' bytes."""
    from darnzip.frames import features as F
    from darnzip.frames.codec import FrameCodec

    rng = np.random.default_rng(colours)
    cfg = FrameConfig(21, 24, tuple(range(colours)), block=8, hidden=4, motions=MOTIONS)
    codec = FrameCodec(build_exact(cfg, FrameDarn(cfg).quantize(8), 8))
    frame = rng.integers(0, colours, (cfg.height, cfg.width)).astype(np.uint8)
    h = (rng.random(cfg.blocks) < 0.6).astype(np.int32)
    y, x, where, step = codec.features.pixels(np.flatnonzero(h == 1))
    available = codec._available(h)
    got = codec._current_values(codec._current_frame(codec.features.padded(frame)), codec._reads(available, where, step))
    current = F.padded(torch.from_numpy(frame.astype(np.int64)).unsqueeze(0), cfg)
    expected = F.current_features(current, torch.from_numpy(available).view(current.shape), torch.zeros(len(y), dtype=torch.long),
                                  torch.from_numpy(y), torch.from_numpy(x), cfg)
    assert np.array_equal(got, expected.numpy())
    assert (got == cfg.unknown + codec._current_base).any()  # some neighbours are not decoded yet


PALETTE = np.array([[0, 0, 0], [200, 72, 72], [92, 186, 92], [236, 236, 236]], dtype=np.uint8)


def sprite_frames(count: int, seed: int, height: int = 24, width: int = 40) -> np.ndarray:
    """A ball and a paddle moving over a two-colour background: a tiny Atari-like RGB stream."""
    rng = np.random.default_rng(seed)
    idx = np.zeros((count, height, width), dtype=np.uint8)
    idx[:, :4] = 3
    by, bx, vy, vx, py = 8, 5, 1, 2, 10
    for t in range(count):
        idx[t, by:by + 2, bx:bx + 2] = 1
        idx[t, py:py + 6, width - 3:width - 1] = 2
        by, bx = by + vy, bx + vx
        if not 4 <= by <= height - 3:
            vy, by = -vy, by - 2 * vy
        if not 0 <= bx <= width - 3:
            vx, bx = -vx, bx - 2 * vx
        py = int(np.clip(py + rng.integers(-2, 3), 4, height - 6))
    return PALETTE[idx]


def trained_sprite_model(tmp_path_factory, model_id: str, motions=STILL):
    """A small frame model trained for a few steps on sprite frames, written and reloaded as a model file."""
    torch.manual_seed(0)
    rgb = sprite_frames(200, seed=1)
    palette = Palette(np.unique(pack_rgb(rgb)))
    frames = np.stack([palette.indices(f) for f in rgb])
    cfg = FrameConfig(24, 40, tuple(int(c) for c in palette.colours), block=8, hidden=8, motions=motions)
    model = None
    for model, _, _ in train(frames, cfg, epochs=1, batch=8, steps_per_epoch=40, lr=2e-2, rho=0.3):
        pass
    stem = tmp_path_factory.mktemp("frame-model") / model_id
    save_frame_model(stem, model_id, cfg, model.quantize(8), 8, frames[0])
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(scope="module")
def frame_model(tmp_path_factory):
    return trained_sprite_model(tmp_path_factory, "sprites-v1")


@pytest.fixture(scope="module")
def moving_model(tmp_path_factory):
    """The same, with motion vectors on copied blocks."""
    return trained_sprite_model(tmp_path_factory, "sprites-moving-v1", MOTIONS)




def _script(name: str):
    """A module of scripts/ (they are not a package), loaded from its file."""
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "scripts", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _with_history(loaded, tmp_path, model_id: str, history: int = 4, offset: float = 3.0):
    """The same weights whose copies may also read frames t-2..t-history (what scripts/add_history.py
    ships), with every lag as likely as none."""
    cfg, tensors = _script("add_history").with_history(loaded, history, offset, np.zeros(history))
    stem = tmp_path / model_id
    save_frame_model(stem, model_id, cfg, tensors, loaded.exact.frac_bits, loaded.reference)
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(scope="module")
def history_model(moving_model, tmp_path_factory):
    """The moving model whose copies may also read one of the last four frames."""
    return _with_history(moving_model, tmp_path_factory.mktemp("history-model"), "sprites-history-v1")


def _with_latent_context(loaded, tmp_path, model_id: str, frames: list[np.ndarray]):
    """The same weights with the latent-context table that scripts/add_latent_context.py fits on `frames`."""
    script = _script("add_latent_context")
    zero = np.zeros((script.CONTEXTS, script.LOGIT_BINS))
    _, recorder = script.code(loaded, *script.with_context(loaded, zero), [frames], motion_every=1)
    motion = script.fit_motion(loaded, recorder, {k: loaded.exact.integers[k] / (1 << loaded.exact.frac_bits)
                                                  for k in script.MOTION_TABLES})
    cfg, tensors = script.with_context(loaded, script.fit_offsets(recorder, loaded.exact.frac_bits), motion=motion)
    stem = tmp_path / model_id
    save_frame_model(stem, model_id, cfg, tensors, loaded.exact.frac_bits, loaded.reference)
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(scope="module")
def context_model(history_model, tmp_path_factory):
    """The history model whose prior over a block's latent also reads the latents coded before it, and
    whose copies draw their vectors from the posterior."""
    return _with_latent_context(history_model, tmp_path_factory.mktemp("context-model"), "sprites-context-v1",
                                list(sprite_frames(60, seed=21)))


@pytest.fixture(scope="module")
def class_model(context_model, tmp_path_factory):
    """The context model whose copies code their vector's class instead of popping it from the posterior
    (what scripts/add_vector_classes.py ships)."""
    cfg, tensors = _script("add_vector_classes").with_vector_classes(context_model)
    stem = tmp_path_factory.mktemp("class-model") / "sprites-classes-v1"
    save_frame_model(stem, "sprites-classes-v1", cfg, tensors, context_model.exact.frac_bits, context_model.reference)
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(scope="module")
def row_model(class_model, tmp_path_factory):
    """The class model with a row context (what scripts/add_row_context.py ships), at a 5-nat bonus."""
    cfg, tensors = _script("add_row_context").with_row_context(class_model, 5.0)
    stem = tmp_path_factory.mktemp("row-model") / "sprites-rows-v1"
    save_frame_model(stem, "sprites-rows-v1", cfg, tensors, class_model.exact.frac_bits, class_model.reference)
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(scope="module")
def linear_model(context_model, tmp_path_factory):
    """The context model with no hidden layer in its pixel model (what scripts/finetune_pixels.py --hidden 0
    ships): its units removed, then its tables fitted for two epochs to the pixels its coder draws."""
    from darnzip.frames.pixel_fit import code_and_record, fit_pixel_tables, with_fewer_hidden_units, with_pixel_tables

    _, train_pixels = code_and_record(context_model, [list(sprite_frames(60, seed=31))])
    _, val_pixels = code_and_record(context_model, [list(sprite_frames(30, seed=32))])
    train_pixels, val_pixels = (pixels + (np.ones(len(pixels[1]), dtype=np.float32),)
                                for pixels in (train_pixels, val_pixels))
    exact = context_model.exact
    model = with_fewer_hidden_units(FrameDarn.from_integers(context_model.config, exact.integers, exact.frac_bits),
                                    train_pixels, 0)
    model, _ = fit_pixel_tables(model, train_pixels, val_pixels, epochs=2, lr=1e-2, batch=256)
    stem = tmp_path_factory.mktemp("linear-model") / "sprites-linear-v1"
    save_frame_model(stem, "sprites-linear-v1", model.cfg, with_pixel_tables(exact.integers, model, exact.frac_bits),
                     exact.frac_bits, context_model.reference)
    return load_frame_model(stem.with_suffix(".safetensors"))


@pytest.fixture(params=["still", "moving", "history", "context", "class", "row", "linear"])
def any_model(request):
    """Each test that takes this runs with a still model, a moving one, one with a history, one with a
    latent context and a vector posterior, one with a latent context and vector classes, one with
    vector classes and a row context, and the context model with no hidden layer in its pixel model."""
    return request.getfixturevalue(f"{request.param}_model" if request.param != "still" else "frame_model")


def test_chunk_round_trip_with_raw_frames(any_model):
    frame_model = any_model
    frames = list(sprite_frames(30, seed=2))
    frames[7] = frames[7].copy()
    frames[7][0, 0] = (1, 2, 3)  # a colour outside the palette
    frames[12] = np.zeros((10, 11, 3), dtype=np.uint8)  # another size
    codec = frame_model.chunk_codec()
    chunk, stats = codec.encode(frames)
    assert stats.raw_frames == 2 and len(stats.frames) == 28
    decoded = codec.decode(chunk, 0)
    assert len(decoded) == 30
    for a, b in zip(frames, decoded):
        assert np.array_equal(a, b)


def test_coded_size_matches_free_energy(any_model):
    frame_model = any_model
    frames = list(sprite_frames(120, seed=3))
    chunk, stats = frame_model.chunk_codec().encode(frames)
    fe = sum(b.free_energy for b in stats.frames)
    actual = 32 * len(chunk.words)
    assert fe > 0
    assert actual <= fe + stats.initial_bits + 64  # ANS overhead is a few words per chunk
    assert actual >= 0.95 * fe


def test_pixel_probabilities_do_not_depend_on_call_split(frame_model):
    """The decoder asks for pixels step by step; the encoder for all at once. Both must see the same numbers."""
    from darnzip.frames.features import (available_from, block_pixels, drawn_pixels, padded, pixel_features,
                                         stacked_context)

    cfg = frame_model.config
    frames = sprite_frames(3, seed=4)
    idx = [torch.from_numpy(frame_model.palette.indices(f).astype(np.int64)).unsqueeze(0) for f in frames]
    blocks = torch.arange(cfg.blocks)
    f, y, x, _ = block_pixels(torch.zeros(cfg.blocks, dtype=torch.long), blocks, cfg)
    available = available_from(drawn_pixels(torch.ones(1, cfg.blocks, dtype=torch.bool), cfg), cfg)
    context = stacked_context(padded(idx[1], cfg), padded(idx[0], cfg))
    feats = pixel_features(context, padded(idx[2], cfg), available, f, y, x, cfg)
    whole = frame_model.exact.pixel_weights(feats)
    parts = np.concatenate([frame_model.exact.pixel_weights(feats[i:i + 7]) for i in range(0, len(feats), 7)])
    assert np.array_equal(whole, parts)
    torch.set_num_threads(1)
    try:
        single = frame_model.exact.pixel_weights(feats)
    finally:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
    assert np.array_equal(whole, single)


def test_fewer_hidden_units_keep_the_units_that_move_the_logits(context_model):
    """Pruning keeps the hidden units whose levels vary and whose output weights are large: a model whose
    other units have no output weights gives the same logits with those units alone, and with none left
    the logits are the colour columns of the table rows plus the output bias."""
    from darnzip.frames.pixel_fit import code_and_record, with_fewer_hidden_units

    features, _ = code_and_record(context_model, [list(sprite_frames(20, seed=41))])[1]
    exact = context_model.exact
    model = FrameDarn.from_integers(context_model.config, exact.integers, exact.frac_bits)
    f = torch.from_numpy(features.astype(np.int64))
    with torch.no_grad():
        summed, _, level = model.pixel_sums(f)
        varying = np.flatnonzero((level.std(dim=0) > 0).numpy())
        assert len(varying) >= 3
        useful = varying[[0, len(varying) // 2, -1]]
        unused = np.setdiff1d(np.arange(model.cfg.hidden), useful)
        model.output[unused] = 0.0
        smaller = with_fewer_hidden_units(model, (features,), 3)
        assert smaller.cfg.hidden == 3 and smaller.cfg == dataclasses.replace(model.cfg, hidden=3)
        assert torch.allclose(smaller.pixel_logits(f), model.pixel_logits(f), atol=1e-4)
        linear = with_fewer_hidden_units(model, (features,), 0)
        colours = summed[:, model.cfg.hidden:] + model.output_bias
        assert torch.allclose(linear.pixel_logits(f), colours, atol=1e-4)


def test_float32_pixel_path_equals_integer_definition(any_model):
    """The coder computes pixel weights in float32 for speed; they must equal the int64 definition for any
    features, including the largest sums the model can form (one table row per group, every group)."""
    exact, cfg = any_model.exact, any_model.config
    rng = np.random.default_rng(5)
    groups = cfg.colour_groups
    colour = rng.integers(0, cfg.values, (4000, groups)) + np.arange(groups) * cfg.values
    rows = rng.integers(0, cfg.blocks_y, (4000, 1)) + groups * cfg.values
    cols = rng.integers(0, cfg.blocks_x, (4000, 1)) + groups * cfg.values + cfg.blocks_y
    feats = np.concatenate([colour, rows, cols], axis=1)
    table = exact.integers["pixel_table"]
    for unit in range(table.shape[1]):  # per output column, the features of its largest and smallest sums
        for pick in (np.argmax, np.argmin):
            feats[unit * 2 + (pick is np.argmin), :groups] = [
                g * cfg.values + pick(table[g * cfg.values:(g + 1) * cfg.values, unit]) for g in range(groups)]
    sums = exact.table_sums(torch.from_numpy(feats))
    definition = exact.weights_from_sums_int64(sums)
    assert np.array_equal(exact.weights_from_sums(sums), definition)
    assert np.array_equal(sums, exact.integers["pixel_table"][feats].sum(axis=1))
    # a decoding step's few pixels are summed by numpy, many by embedding_bag: the same integers
    from darnzip.frames.model import SMALL_GATHER
    width = table.shape[1]
    for n in (1, 3, SMALL_GATHER // (feats.shape[1] * width), SMALL_GATHER // (feats.shape[1] * width) + 1):
        assert np.array_equal(exact.table_sums(feats[:n].astype(np.int32)), table[feats[:n]].sum(axis=1))
    # the coder's way: the biases added once to the sums of some groups (int32 indices), the other groups'
    # sums added at each decoding step
    for split in (1, groups // 2, groups + 1):
        first = exact.with_biases(exact.table_sums(torch.from_numpy(feats[:, :split].astype(np.int32))))
        rest = exact.table_sums(torch.from_numpy(feats[:, split:]))
        assert np.array_equal(exact.weights_from_biased_sums(first + rest), definition)


def _archive(frame_model, frames, chunk_frames=16, workers=1, total=None) -> bytes:
    buffer = io.BytesIO()
    compress_frames(buffer, iter(frames), {"type": "npy", "name": "x.npy"}, frame_model, chunk_frames, workers,
                    total=total)
    return buffer.getvalue()


def test_chunk_lengths_fill_every_chunk_but_share_the_rest_between_the_last_two():
    from darnzip.frames.stream import chunk_lengths

    assert chunk_lengths(1000, 512) == [500, 500] and chunk_lengths(600, 512) == [300, 300]
    assert chunk_lengths(1100, 512) == [512, 294, 294] and chunk_lengths(1101, 512) == [512, 295, 294]
    assert chunk_lengths(1024, 512) == [512, 512] and chunk_lengths(100, 512) == [100] and chunk_lengths(0, 512) == []
    for total in range(0, 140):
        for size in (1, 2, 7, 16, 64):
            lengths = chunk_lengths(total, size)
            assert sum(lengths) == total and len(lengths) == -(-total // size)
            assert all(1 <= n <= size for n in lengths) and all(n == size for n in lengths[:-2])
            assert len(lengths) < 2 or lengths[-2] - lengths[-1] in (0, 1)


def test_a_known_stream_length_balances_the_last_chunks(frame_model):
    """With the length known (`total`: .npy and image directories), the last two chunks share the rest;
    the archive is still the same for 1 and 2 workers, decodes exactly, and a wrong length hint only
    moves the cuts."""
    from darnzip.frames.stream import chunk_lengths

    frames = list(sprite_frames(37, seed=14))
    balanced = _archive(frame_model, frames, chunk_frames=16, workers=1, total=37)
    assert balanced == _archive(frame_model, frames, chunk_frames=16, workers=2, total=37)
    assert balanced != _archive(frame_model, frames, chunk_frames=16, workers=1)  # 16 + 16 + 5 before
    reader = FrameArchiveReader(io.BytesIO(balanced))
    assert [len(c.kinds) for c in reader.chunks()] == chunk_lengths(37, 16) == [16, 11, 10]
    for hint in (37, 20, 60):
        archive = _archive(frame_model, frames, chunk_frames=16, workers=2, total=hint)
        decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(archive)), frame_model, workers=2))
        assert len(decoded) == 37 and all(np.array_equal(a, b) for a, b in zip(frames, decoded))


def test_video_files_state_their_length_and_get_balanced_cuts(frame_model, tmp_path):
    """A video file's frame count comes from its container (mp4 states it; Matroska only its duration,
    times the frame rate) and cuts the chunks as a known length does; a pipe has no count."""
    import av

    from darnzip.frames.io import VideoSink, open_frame_source, video_source
    from darnzip.frames.stream import chunk_lengths

    frames = sprite_frames(37, seed=15)
    mkv = tmp_path / "clip.mkv"
    with VideoSink(mkv, force=False) as sink:
        for frame in frames:
            sink.write(frame)
    source = open_frame_source(str(mkv))
    assert source.length == 37
    buffer = io.BytesIO()
    compress_frames(buffer, iter(source), source.describe, frame_model, 16, 2, total=source.length)
    reader = FrameArchiveReader(io.BytesIO(buffer.getvalue()))
    assert [len(c.kinds) for c in reader.chunks()] == chunk_lengths(37, 16) == [16, 11, 10]
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(buffer.getvalue())), frame_model, workers=2))
    assert len(decoded) == 37 and all(np.array_equal(a, b) for a, b in zip(frames, decoded))

    mp4 = tmp_path / "clip.mp4"
    with av.open(str(mp4), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames[:23]:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    assert open_frame_source(str(mp4)).length == 23
    with open(mkv, "rb") as pipe:
        assert video_source(pipe, "-").length is None


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

def _wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


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
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, cwd=os.path.dirname(os.path.dirname(__file__)))
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


def test_stream_round_trip_and_worker_independence(any_model):
    frame_model = any_model
    frames = list(sprite_frames(50, seed=5))
    one = _archive(frame_model, frames, workers=1)
    two = _archive(frame_model, frames, workers=2)
    assert one == two
    reader = FrameArchiveReader(io.BytesIO(one))
    decoded = list(decompress_frames(reader, frame_model, workers=2))
    assert len(decoded) == 50 and all(np.array_equal(a, b) for a, b in zip(frames, decoded))


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


def test_palette_lookup_equals_the_sorted_search():
    """`Palette.indices` looks colours up in a table of every colour; it must give the sorted search's
    indices for any palette size up to 256, any frame layout, and None for a colour not in the palette."""
    rng = np.random.default_rng(3)
    for size in (1, 9, 255, 256):
        palette = Palette(np.sort(rng.choice(1 << 24, size, replace=False)))
        frame = palette.rgb[rng.integers(0, size, (21, 17))]
        expected = palette._indices_by_search(frame)
        assert expected is not None and np.array_equal(palette.indices(frame), expected)
        flipped = frame[::-1, ::2]  # not contiguous
        assert np.array_equal(palette.indices(flipped), palette._indices_by_search(flipped))
        assert np.array_equal(palette.indices(frame.astype(np.int32)), expected)
        foreign = frame.copy()
        foreign[20, 16] = [7, 7, 7] if 0x070707 not in palette.colours else [8, 8, 8]
        assert palette.indices(foreign) is None and palette._indices_by_search(foreign) is None
    with pytest.raises(ValueError):
        palette.indices(frame[..., :2])


def test_spawned_workers_write_the_same_archive(history_model, monkeypatch):
    """Workers are forked on Linux and spawned elsewhere; spawned ones load the model themselves and must
    code exactly as forked ones and as the main process."""
    from darnzip.frames import stream

    frames = animated_frames(24, seed=12)
    forked = _archive(history_model, frames, chunk_frames=8, workers=2)
    monkeypatch.setattr(stream, "worker_start_method", lambda: "spawn")
    spawned = _archive(history_model, frames, chunk_frames=8, workers=2)
    assert spawned == forked == _archive(history_model, frames, chunk_frames=8, workers=1)
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(spawned)), history_model, workers=2))
    assert all(np.array_equal(a, b) for a, b in zip(frames, decoded))


def test_damaged_frame_archives_are_rejected(any_model):
    frame_model = any_model
    data = _archive(frame_model, list(sprite_frames(6, seed=6)), chunk_frames=3)
    rng = np.random.default_rng(0)
    cuts = sorted(set(rng.integers(0, len(data), 60).tolist()) | {0, 8, len(data) - 1})
    flips = rng.integers(0, 8 * len(data), 120)

    def rejected(blob: bytes) -> bool:
        try:
            list(decompress_frames(FrameArchiveReader(io.BytesIO(blob)), frame_model))
        except ArchiveError:
            return True
        return False

    assert all(rejected(data[:n]) for n in cuts)
    for bit in flips.tolist():
        blob = bytearray(data)
        blob[bit // 8] ^= 1 << (bit % 8)
        assert rejected(bytes(blob)), f"bit {bit} flipped went unnoticed"
    assert rejected(data + b"\0")


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
        assert f"note: {raw} of {len(stream)} frames stored raw (zstd): sprites-v1 codes 40x24 frames" in r.output
        assert ("train-frames" in r.output) == (raw == len(stream))
    r = runner.invoke(main, ["compress", str(tmp_path / "noise.npy"), "-o", str(tmp_path / "x.dz"), "-f", "--model",
                             model, "-T", "1", "-q"])
    assert r.exit_code == 0 and r.output == ""


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
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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


def test_wrong_model_is_refused(frame_model, tmp_path):
    data = _archive(frame_model, list(sprite_frames(10, seed=9)))
    other_stem = tmp_path / "other"
    save_frame_model(other_stem, "sprites-v1", frame_model.config,
                     FrameDarn(frame_model.config).quantize(8), 8, frame_model.reference)
    other = load_frame_model(other_stem.with_suffix(".safetensors"))
    from darnzip.images.modelfile import ModelError

    with pytest.raises(ModelError, match="different model"):
        list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), other))


def test_the_same_weights_with_another_description_are_refused(moving_model, tmp_path):
    """The weights' hash does not cover the model's JSON, whose motion vectors (and offsets, palette) decide
    how frames decode: an archive records the description's hash too, and a model file whose weights
    match but whose JSON lists the vectors in another order is refused by name, with nothing decoded.
    Encoder settings are not part of the description (the archive of an encoder-tuned copy decodes)."""
    from darnzip.images.modelfile import ModelError

    frames = list(sprite_frames(12, seed=9))
    data = _archive(moving_model, frames)
    header = FrameArchiveReader(io.BytesIO(data)).header
    assert header["model"]["description"] == moving_model.description_hash and len(moving_model.description_hash) == 16
    info = json.loads(moving_model.weights_path.with_suffix(".json").read_text())
    motions = info["architecture"]["motions"]
    info["architecture"]["motions"] = motions[:1] + motions[1:][::-1]  # same vectors, another order
    edited = tmp_path / "edited" / moving_model.weights_path.name
    edited.parent.mkdir()
    shutil.copyfile(moving_model.weights_path, edited)
    edited.with_suffix(".json").write_text(json.dumps(info))
    reordered = load_frame_model(edited)
    assert reordered.sha256 == moving_model.sha256
    with pytest.raises(ModelError, match="described otherwise"):
        list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), reordered))
    tuned = load_frame_model(_with_encoder_settings(moving_model, tmp_path, {"cheap_copy_bits": 8}))
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), tuned))
    assert all(np.array_equal(a, b) for a, b in zip(frames, decoded)) and len(decoded) == len(frames)


def test_archives_of_the_release_that_recorded_the_whole_description_hash_still_decode(moving_model):
    """One release wrote all 64 digits as "description_sha256"; its archives decode, and a wrong one is
    refused like today's 16 digits."""
    from darnzip.frames.container import header_bytes
    from darnzip.core.modelfiles import description_sha256
    from darnzip.images.modelfile import ModelError

    frames = list(sprite_frames(12, seed=9))
    data = _archive(moving_model, frames)
    reader = FrameArchiveReader(io.BytesIO(data))
    body = data[len(header_bytes(reader.header)):]

    def with_model_entry(**entry) -> bytes:
        model = {k: v for k, v in reader.header["model"].items() if k != "description"} | entry
        return header_bytes(reader.header | {"model": model}) + body

    full = description_sha256(moving_model.info)
    assert full.startswith(moving_model.description_hash) and len(full) == 64
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(with_model_entry(description_sha256=full))),
                                     moving_model))
    assert len(decoded) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, decoded))
    wrong = ("0" if full[0] != "0" else "1") + full[1:]
    for entry in ({"description_sha256": wrong}, {"description": wrong[:16]}, {"description": full[:15]}):
        with pytest.raises(ModelError, match="described otherwise"):
            list(decompress_frames(FrameArchiveReader(io.BytesIO(with_model_entry(**entry))), moving_model))


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


def test_npy_sink_header_matches_numpy(tmp_path):
    from darnzip.frames.io import NpySink

    frames = sprite_frames(5, seed=12)
    sink = NpySink(tmp_path / "x.npy", force=False)
    for frame in frames:
        sink.write(frame)
    sink.commit()
    loaded = np.load(tmp_path / "x.npy")
    assert loaded.dtype == np.uint8 and np.array_equal(loaded, frames)


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
    from darnzip.frames.zoo import newest_game_model
    from darnzip.frames.atari import frames_array

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


def test_coder_motion_logits_equal_the_training_models(history_model):
    """The coder's integer prior logits over motion vectors are the training model's, scaled, term by
    term (base, standing still, repeating the t-2 to t-1 motion, the frame's shared motion, or none),
    and an older frame's columns add the bucket's history offset to the base."""
    cfg, frac_bits = history_model.config, history_model.exact.frac_bits
    rng = np.random.default_rng(11)
    tensors = dict(history_model.exact.integers)
    for name in ("motion_base", "motion_still", "motion_repeat", "motion_global", "history_bucket"):
        tensors[name] = rng.integers(-3000, 3000, tensors[name].shape)
    exact, float_model = build_exact(cfg, tensors, frac_bits), FrameDarn.from_integers(cfg, tensors, frac_bits)
    vectors, blocks = len(cfg.motions), 300
    bucket = rng.integers(0, len(tensors["motion_still"]), blocks)
    predicted = rng.random((blocks, vectors)) < 0.3
    for shared in (np.eye(vectors, dtype=bool)[rng.integers(vectors)], np.zeros(vectors, dtype=bool)):
        coder = exact.motion_logits(bucket, predicted, shared, history=True)
        with torch.no_grad():
            trained = float_model.motion_logits(torch.from_numpy(bucket)[None], torch.from_numpy(predicted)[None].float(),
                                                torch.from_numpy(shared)[None].float())[0]
        assert np.array_equal(coder[:, :vectors], np.rint(trained.double().numpy() * (1 << frac_bits)).astype(np.int64))
        assert np.array_equal(coder[:, vectors:], tensors["motion_base"] + tensors["history_bucket"][bucket][:, None])


def test_motion_vectors_shrink_a_moving_stream(frame_model, moving_model):
    """Same frames, same training: copying moved blocks must beat drawing them, in real coded bits."""
    frames = list(sprite_frames(120, seed=3))
    still_chunk, still_stats = frame_model.chunk_codec().encode(frames)
    moving_chunk, moving_stats = moving_model.chunk_codec().encode(frames)
    assert len(moving_chunk.words) < 0.9 * len(still_chunk.words)
    assert sum(b.blocks_drawn for b in moving_stats.frames) < sum(b.blocks_drawn for b in still_stats.frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, moving_model.chunk_codec().decode(moving_chunk, 0)))


@pytest.mark.parametrize("height,width,block", [(24, 40, 8), (21, 32, 8), (21, 19, 8), (30, 44, 4)])
def test_coder_motion_matches_equal_training_features(height, width, block):
    """The coder's fast numpy matcher and the training's torch one must agree exactly, edges included."""
    from darnzip.frames.features import MotionMatcher, motion_matches
    from darnzip.frames.features import changed_pixels_per_block as F_changed

    rng = np.random.default_rng(height)
    cfg = FrameConfig(height, width, (1, 2, 3), block=block, hidden=4, motions=MOTIONS)
    frames = rng.integers(0, 3, (4, height, width)).astype(np.uint8)
    frames[1] = frames[0]
    frames[2][:, 3:] = frames[1][:, :-3]  # a scroll by (0, 3)
    frames[3][2:] = frames[2][:-2]  # and by (2, 0)
    matcher = MotionMatcher(cfg)
    for t, moved_by in ((1, (0, 0)), (2, (0, 3)), (3, (2, 0))):
        fast = matcher(frames[t], frames[t - 1])
        exact = motion_matches(torch.from_numpy(frames[t:t + 1].astype(np.int64)),
                               torch.from_numpy(frames[t - 1:t].astype(np.int64)), cfg)[0].numpy()
        assert np.array_equal(fast, exact)
        assert fast[:, MOTIONS.index(moved_by)].any()
        changed = F_changed(torch.from_numpy(frames[t:t + 1].astype(np.int64)),
                            torch.from_numpy(frames[t - 1:t].astype(np.int64)), cfg)[0].flatten().numpy() > 0
        assert np.array_equal(~fast[:, 0], changed)  # the coder reads unchanged blocks off vector (0, 0)
        some = np.array([0, cfg.blocks - 1, cfg.blocks // 2])
        older = motion_matches(torch.from_numpy(frames[t:t + 1].astype(np.int64)),
                               torch.from_numpy(frames[0:1].astype(np.int64)), cfg)[0].numpy()
        both = matcher.for_blocks(frames[t], [frames[t - 1], frames[0]], some)
        assert both.shape == (2, len(some), len(MOTIONS))
        assert np.array_equal(both[0], exact[some]) and np.array_equal(both[1], older[some])
        assert np.array_equal(matcher.likely_for_blocks(frames[t], [frames[t - 1], frames[0]], some), both)
        if matcher._word_rows:  # the lag choice's window hashes, summed by doubling, of uncut blocks
            from darnzip.frames.features import _WINDOW_FACTORS, _word_at_every_pixel, mixed

            whole = np.arange(cfg.blocks)
            uncut = whole[(whole // cfg.blocks_x + 1) * block <= height]
            at = matcher._window_positions(uncut)
            windows = matcher._window_hashes(frames[0]).take(at)
            row_bytes = matcher._padded(frames[0]).shape[1]
            words = _word_at_every_pixel(matcher._padded(frames[0]))
            rows = np.stack([words.take(at + r * row_bytes) for r in range(block)], axis=-1)
            assert np.array_equal(windows, (mixed(rows) * _WINDOW_FACTORS).sum(axis=-1, dtype=np.uint64))
            # and they tell the same vectors apart as the content hashes do
            content = matcher.content_hashes([frames[0]], uncut)
            assert np.array_equal(windows[:, :, None] == windows[:, None, :],
                                  content[:, :, None] == content[:, None, :])


@pytest.mark.parametrize("height,width,block", [(24, 40, 8), (21, 19, 8), (30, 44, 4)])
def test_coder_features_equal_training_features(height, width, block):
    """The coder's numpy features for one frame and the training's torch ones must be the same integers:
    block statistics, prior and posterior features, the shared motion, pixel order and pixel contexts."""
    from darnzip.frames import features as F
    from darnzip.frames.coder_features import CoderFeatures

    rng = np.random.default_rng(width)
    cfg = FrameConfig(height, width, (1, 2, 3, 4), block=block, hidden=4, motions=MOTIONS)
    ours = CoderFeatures(cfg)
    frames = rng.integers(0, 4, (3, height, width)).astype(np.uint8)
    same = rng.random((height, width)) < 0.9
    frames[1][same] = frames[0][same]  # a few changed pixels per block (small motion buckets)
    frames[1][: height // 2] = frames[0][: height // 2]  # and still blocks
    frames[1][:, -width // 4:] = (frames[0][:, -width // 4:] + 1) % 4  # and blocks that changed entirely
    frames[2][:, 2:] = frames[1][:, :-2]
    as_torch = [torch.from_numpy(f.astype(np.int64)).unsqueeze(0) for f in frames]
    for t, has2 in ((2, True), (1, False)):
        prev, prev2 = as_torch[t - 1], as_torch[t - 2] if has2 else torch.full_like(as_torch[0], cfg.outside)
        idx, ring, bucket = F.prior_features(prev, prev2, torch.tensor([has2]), cfg)
        got = ours.prior(frames[t - 1], frames[t - 2] if has2 else None)
        for a, b in zip(got, (idx[0], ring[0], bucket.flatten())):
            assert np.array_equal(a, b.numpy())
        changed = F.changed_pixels_per_block(as_torch[t], prev, cfg)
        assert np.array_equal(ours.changed_per_block(frames[t], frames[t - 1]), changed[0].numpy())
        q_idx, q_ring = F.posterior_features(changed > 0, bucket)
        for a, b in zip(ours.posterior(changed[0].numpy() > 0, got[2]), (q_idx[0], q_ring[0])):
            assert np.array_equal(a, b.numpy())
        predicted = F.motion_matches(prev, as_torch[t - 2], cfg)
        assert np.array_equal(ours.global_motion(predicted[0].numpy(), got[2]),
                              F.global_motion(predicted, bucket.flatten(1))[0].numpy())
    blocks = np.array(sorted(rng.choice(cfg.blocks, cfg.blocks // 2, replace=False)))
    f, y, x, _ = F.block_pixels(torch.zeros(len(blocks), dtype=torch.long), torch.from_numpy(blocks), cfg)
    order = torch.argsort(F.coding_step(y, x, block), stable=True)
    y, x = y[order], x[order]
    got_y, got_x, where, step = ours.pixels(blocks)
    assert np.array_equal(got_y, y.numpy()) and np.array_equal(got_x, x.numpy())
    assert np.array_equal(step, F.coding_step(y, x, block).numpy())
    assert all(len(a) == 0 for a in ours.pixels(np.zeros(0, dtype=np.int64)))
    padded = [F.padded(a, cfg) for a in as_torch[:2]]
    stacked = np.concatenate([ours.padded(frames[1]).ravel(), ours.padded(frames[0]).ravel()])
    assert np.array_equal(stacked, torch.stack(padded[::-1]).flatten().numpy())
    expected = F.context_features(F.stacked_context(padded[1], padded[0]), f[order], y, x, cfg)
    assert np.array_equal(ours.context(stacked, where, got_y, got_x), expected.numpy())


def test_still_model_archives_from_before_motion_vectors_decode_and_re_encode_identically():
    """tests/golden/frames-pong-v1.dz was written by the code before motion vectors (scripts/
    make_frame_golden.py at commit 9f4a5a1) with the shipped atari-pong-v1 model, in container version 1.
    Today's encoder writes version 2 (chunks may hold key frames) and records the model description's
    hash in the header; its chunks must carry the same frames and the same ANS words, as these frames have
    no key frame."""
    from darnzip.core.zoo import registry

    golden = os.path.join(os.path.dirname(__file__), "golden")
    data = open(os.path.join(golden, "frames-pong-v1.dz"), "rb").read()
    frames = np.load(os.path.join(golden, "frames-pong-v1-frames.npz"))["frames"]
    # atari-pong-v1 no longer ships; its files are kept beside the golden archive, pinned by the registry
    loaded = load_frame_model(Path(golden) / "atari-pong-v1.safetensors", registry()["atari-pong-v1"]["sha256"])
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), loaded))
    assert len(decoded) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, decoded))
    buffer = io.BytesIO()
    compress_frames(buffer, iter(frames), {"type": "npy", "name": "pong.npy"}, loaded, 16, 1)
    old, new = FrameArchiveReader(io.BytesIO(data)), FrameArchiveReader(io.BytesIO(buffer.getvalue()))
    assert (old.version, new.version) == (1, 2)
    model = dict(new.header["model"])  # today's header also records the model description's hash
    assert model.pop("description") == loaded.description_hash
    assert old.header == new.header | {"model": model}
    pairs = list(zip(old.chunks(), new.chunks(), strict=True))
    for a, b in pairs:
        assert np.array_equal(a.kinds, b.kinds) and np.array_equal(a.words, b.words)
        assert a.content_crc == b.content_crc
    assert old.trailer == new.trailer



@pytest.mark.parametrize("game, model_id", [("Freeway", "atari-freeway-v6"), ("Riverraid", "atari-riverraid-v10"),
                                           ("SpaceInvaders", "atari-spaceinvaders-v13")])
def test_shipped_log_linear_models_decode_their_golden_archives_and_re_encode_them_identically(game, model_id):
    """tests/golden/frames-GAME-vN.dz were written by scripts/make_frame_golden.py (24 frames, chunks of
    8, one worker) with the shipped models that have no hidden layer in their pixel model: today's code
    must decode them to the same frames and, with two workers, write the same bytes again."""
    from darnzip.frames.zoo import resolve_frame_model

    golden = os.path.join(os.path.dirname(__file__), "golden", f"frames-{model_id.removeprefix('atari-')}")
    data = open(golden + ".dz", "rb").read()
    frames = np.load(golden + "-frames.npz")["frames"]
    loaded = resolve_frame_model(model_id)
    assert loaded.config.hidden == 0
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), loaded, 2))
    assert len(decoded) == len(frames) == 24 and all(np.array_equal(a, b) for a, b in zip(frames, decoded))
    buffer = io.BytesIO()
    stats = compress_frames(buffer, iter(frames), {"type": "npy", "name": f"{game.lower()}.npy"}, loaded, 8, 2)
    assert buffer.getvalue() == data
    assert stats.modelled == 24 and stats.raw == 0

def _with_references(loaded, more_references: np.ndarray, tmp_path, model_id: str):
    """The same weights with further reference frames (what scripts/add_references.py ships)."""
    stem = tmp_path / model_id
    save_frame_model(stem, model_id, loaded.config, loaded.exact.integers, loaded.exact.frac_bits,
                     loaded.reference, None, more_references)
    return load_frame_model(stem.with_suffix(".safetensors"))


def _reset_screen(frame_model) -> np.ndarray:
    """A palette-index frame far from any sprite frame: what a game shows after a reset, say."""
    screen = frame_model.reference.copy()
    screen[4:, :] = frame_model.palette.indices(PALETTE[[2]].reshape(1, 1, 3))[0, 0]
    return screen


def test_key_frames_code_a_reset_from_a_reference(any_model, tmp_path):
    """A frame that equals a reference and not its predecessor is coded from the reference (a key frame),
    which costs far less; the frame after it starts afresh; everything decodes exactly, also when the
    stream starts on the second reference."""
    from darnzip.frames.container import KIND_KEY

    screen = _reset_screen(any_model)
    richer = _with_references(any_model, screen[None], tmp_path, "sprites-refs")
    frames = list(sprite_frames(30, seed=8))
    frames[12] = any_model.palette.to_rgb(screen)
    plain_chunk, plain_stats = any_model.chunk_codec().encode(frames)
    chunk, stats = richer.chunk_codec().encode(frames)
    keys = np.flatnonzero(chunk.kinds == KIND_KEY).tolist()
    assert plain_chunk.kinds[12] != KIND_KEY and 12 in keys
    assert chunk.key_references[keys.index(12)] == 1
    assert stats.frames[12].free_energy < 0.25 * plain_stats.frames[12].free_energy
    assert len(chunk.words) < len(plain_chunk.words)
    reader = FrameArchiveReader(io.BytesIO(_archive(richer, frames, chunk_frames=64)))
    assert all(np.array_equal(a, b) for a, b in zip(frames, decompress_frames(reader, richer)))
    assert _verbose_accounting(richer, frames, tmp_path)["key_frames"] == len(keys)
    starting = [frames[12]] + frames[13:20]
    chunk, _ = richer.chunk_codec().encode(starting)
    assert chunk.kinds[0] == KIND_KEY and chunk.key_references[0] == 1
    assert all(np.array_equal(a, b) for a, b in zip(starting, richer.chunk_codec().decode(chunk, 0)))


def test_key_frame_trials_plans_are_reused_exactly(class_model, tmp_path, monkeypatch):
    """A model whose plans pop nothing reuses the key-frame trials' plans in the real pass: the chunk is the
    same, word for word, as when every frame is worked out again, and fewer frames are planned."""
    from darnzip.frames import codec as frame_codec
    from darnzip.frames.container import KIND_KEY

    screen = _reset_screen(class_model)
    richer = _with_references(class_model, screen[None], tmp_path, "sprites-classes-refs")
    frames = list(sprite_frames(30, seed=8))
    frames[12] = class_model.palette.to_rgb(screen)
    planned = []
    plan = frame_codec.FrameCodec.plan
    monkeypatch.setattr(frame_codec.FrameCodec, "plan", lambda self, *a, **k: planned.append(1) or plan(self, *a, **k))
    reused, _ = richer.chunk_codec().encode(frames)
    with_reuse = len(planned)
    monkeypatch.setattr(frame_codec.FrameCodec, "plans_need_the_coder", property(lambda self: True))
    fresh, _ = richer.chunk_codec().encode(frames)
    assert np.array_equal(reused.words, fresh.words) and np.array_equal(reused.kinds, fresh.kinds)
    assert 12 in np.flatnonzero(reused.kinds == KIND_KEY) and with_reuse < len(planned) - with_reuse


def test_key_frame_naming_a_missing_reference_is_rejected(frame_model, tmp_path):
    screen = _reset_screen(frame_model)
    richer = _with_references(frame_model, screen[None], tmp_path, "sprites-refs-2")
    frames = list(sprite_frames(10, seed=9))
    frames[4] = frame_model.palette.to_rgb(screen)
    data = _archive(richer, frames)
    reader = FrameArchiveReader(io.BytesIO(data))
    chunk = next(reader.chunks())
    assert 1 in chunk.key_references.tolist()
    with pytest.raises(ArchiveError, match="reference frame the model does not have"):
        frame_model.chunk_codec().decode(chunk, 0)


def test_reference_picking_covers_the_scene_the_first_reference_misses():
    """scripts/add_references.py: with the first reference on scene A, the first pick is a scene-B frame,
    and every pick lowers the pool's mean distance to its nearest reference."""
    module = _script("add_references")
    rng = np.random.default_rng(3)
    scene_a, scene_b = np.zeros((12, 16), np.uint8), np.full((12, 16), 2, np.uint8)
    frames = np.stack([(scene_a if t % 3 else scene_b).copy() for t in range(60)])
    frames[np.arange(60), rng.integers(0, 12, 60), rng.integers(0, 16, 60)] = 1  # a moving dot
    picks, means = module.pick_references(frames, scene_a, count=3, candidate_step=1, pool_step=1)
    assert picks and picks[0] % 3 == 0  # a scene-B frame
    assert all(b < a for a, b in zip(means, means[1:])) and means[-1] < 0.05 * means[0]


def test_a_reference_after_a_reset_screen_makes_each_game_start_a_key_frame(moving_model, tmp_path):
    """scripts/add_references.py --after-resets: the frames that follow a title screen equal to a
    reference are found, the pick among them is a game start, and with it as a reference every game
    start of a stream is a key frame and the stream codes shorter; it decodes exactly."""
    module = _script("add_references")
    title = moving_model.palette.indices(sprite_frames(1, seed=30)[0])
    start = title.copy()
    start[8:16, 8:24] = 2  # the game's first frame: a new scene, the same at every start
    play = [moving_model.palette.indices(f) for f in sprite_frames(20, seed=31)]
    indexed = np.stack(([title] * 3 + [start] + play[6:14]) * 3)
    assert module.frames_after_resets(indexed, [title]).tolist() == [3, 15, 27]
    picks, means = module.pick_references(indexed[[3, 15, 27]], title[None], 1, 1, 1)
    assert picks == [0] and means[-1] == 0
    cfg, tensors = moving_model.config, moving_model.exact.integers
    save_frame_model(tmp_path / "starts", "sprites-starts-v1", cfg, tensors, 8, title, more_references=start[None])
    with_start = load_frame_model(tmp_path / "starts.safetensors")
    assert len(with_start.references) == 2
    frames = list(moving_model.palette.rgb[indexed])
    chunk, stats = with_start.chunk_codec().encode(frames)
    plain, _ = moving_model.chunk_codec().encode(frames)
    assert stats.key_frames >= 3 and chunk.key_references.tolist().count(1) == 3
    assert len(chunk.words) < len(plain.words)
    assert all(np.array_equal(a, b) for a, b in zip(frames, with_start.chunk_codec().decode(chunk, 0)))


def animated_frames(count: int, seed: int) -> list[np.ndarray]:
    """Sprite frames plus a block that cycles through three random poses, as SpaceInvaders' aliens do:
    no copy of frame t-1 reproduces it, a copy of frame t-3 does."""
    rgb = sprite_frames(count, seed)
    poses = PALETTE[np.random.default_rng(seed).integers(0, 4, (3, 8, 8))]
    rgb[:, 16:24, 8:16] = poses[np.arange(count) % 3]
    return list(rgb)


def _verbose_accounting(loaded, frames, tmp_path) -> dict:
    """What `darnzip compress -v` reports for the frames (one chunk, one process)."""
    np.save(tmp_path / "stream.npy", np.stack(frames))
    r = CliRunner().invoke(main, ["compress", str(tmp_path / "stream.npy"), "-o", str(tmp_path / "stream.dz"), "-f",
                                  "--model", str(loaded.weights_path), "-T", "1", "-v"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output[r.output.index("{"):r.output.rindex("}") + 1])


def test_history_copies_code_a_cycling_sprite_and_decode_exactly(moving_model, history_model, tmp_path):
    """Same weights with and without a history: the cycling block is copied from frame t-3 instead of
    drawn, the stream codes far shorter, and it decodes exactly, across chunk and worker splits."""
    frames = animated_frames(60, seed=11)
    plain_chunk, _ = moving_model.chunk_codec().encode(frames)
    chunk, stats = history_model.chunk_codec().encode(frames)
    lags = [b.lag for b in stats.frames]
    assert lags[:3] == [0, 0, 0] and sum(lag == 3 for lag in lags) > 50
    assert _verbose_accounting(history_model, frames, tmp_path)["frames_copying_an_older_frame"] == \
        sum(lag > 0 for lag in lags)
    assert _verbose_accounting(moving_model, frames, tmp_path)["frames_copying_an_older_frame"] == 0
    assert len(chunk.words) < 0.5 * len(plain_chunk.words)
    assert all(np.array_equal(a, b) for a, b in zip(frames, history_model.chunk_codec().decode(chunk, 0)))
    one, two = _archive(history_model, frames, workers=1), _archive(history_model, frames, chunk_frames=7, workers=2)
    for data in (one, two):
        decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), history_model))
        assert len(decoded) == 60 and all(np.array_equal(a, b) for a, b in zip(frames, decoded))
    assert one == _archive(history_model, frames, workers=2)


def test_a_long_history_copies_a_pose_last_seen_before_a_pause(history_model, tmp_path):
    """The cycling block holds one pose for 40 frames (SpaceInvaders' aliens stop while the ship is hit),
    then cycles again: its next poses were last seen over 32 frames back. A history of 64 copies them
    from there, a history of 4 draws them; both decode exactly, the long one in fewer bits."""
    frames = animated_frames(70, seed=13)
    for t in range(20, 60):
        frames[t][16:24, 8:16] = frames[19][16:24, 8:16]
    cfg, tensors = _script("add_history").with_longer_history(history_model, 64, np.zeros(64))
    assert all(np.array_equal(tensors[k], history_model.exact.integers[k]) for k in tensors if k != "lag_base")
    save_frame_model(tmp_path / "long", "sprites-history64-v1", cfg, tensors, 8, history_model.reference)
    long_model = load_frame_model(tmp_path / "long.safetensors")
    chunk, stats = long_model.chunk_codec().encode(frames)
    lags = [b.lag for b in stats.frames]
    assert lags[60] > 32 and lags[62] > 32, lags[58:64]
    short_chunk, short_stats = history_model.chunk_codec().encode(frames)
    assert all(b.lag <= 4 for b in short_stats.frames)
    assert len(chunk.words) < len(short_chunk.words)
    assert all(np.array_equal(a, b) for a, b in zip(frames, long_model.chunk_codec().decode(chunk, 0)))
    data = _archive(long_model, frames, chunk_frames=64, workers=2)
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), long_model))
    assert all(np.array_equal(a, b) for a, b in zip(frames, decoded))


def test_added_motion_vectors_copy_a_sprite_that_jumps_further(class_model, tmp_path):
    """A textured sprite jumps 10 pixels a frame, further than the shared vectors reach (it wraps round
    every fourth frame): with (0, 10) and (0, -10) added (scripts/add_motions.py), its blocks are copies
    and the stream codes shorter; every other table is the source's, and it decodes exactly."""
    rng = np.random.default_rng(4)
    sprite = rng.integers(1, 4, (8, 8))
    frames = []
    for t in range(40):
        idx = np.zeros((24, 40), dtype=np.uint8)
        x = (10 * t) % 32
        idx[8:16, x:x + 8] = sprite
        frames.append(PALETTE[idx])
    script = _script("add_motions")
    cfg, tensors = script.with_motions(class_model, [(0, 10), (0, -10)], 0.0)
    assert cfg.motions[-2:] == ((0, 10), (0, -10))
    assert all(np.array_equal(tensors[k], class_model.exact.integers[k]) for k in tensors if k != "motion_base")
    with pytest.raises(SystemExit, match="new"):
        script.with_motions(class_model, [(0, 0)], 0.0)
    save_frame_model(tmp_path / "wide", "sprites-wide-v1", cfg, tensors, 8, class_model.reference)
    wide = load_frame_model(tmp_path / "wide.safetensors")
    chunk, _ = wide.chunk_codec().encode(frames)
    plain, _ = class_model.chunk_codec().encode(frames)
    assert len(chunk.words) < 0.75 * len(plain.words)  # 109 against 164 words when written
    assert all(np.array_equal(a, b) for a, b in zip(frames, wide.chunk_codec().decode(chunk, 0)))


def test_skipping_the_lag_search_changes_no_choice(history_model, monkeypatch):
    """`_no_lag_can_win` only skips searches whose answer would be no lag: the chunk is the same with the
    search always run, and both kinds of frame occur (some skipped, some copying an older frame)."""
    from darnzip.frames import codec as frame_codec

    frames = animated_frames(30, seed=5) + list(sprite_frames(30, seed=6))
    skipped = []
    bound = frame_codec.FrameCodec._no_lag_can_win
    monkeypatch.setattr(frame_codec.FrameCodec, "_no_lag_can_win",
                        lambda self, *a: skipped.append(bound(self, *a)) or skipped[-1])
    chunk, stats = history_model.chunk_codec().encode(frames)
    assert any(skipped) and any(b.lag > 0 for b in stats.frames)
    monkeypatch.setattr(frame_codec.FrameCodec, "_no_lag_can_win", lambda self, *a: False)
    searched, _ = history_model.chunk_codec().encode(frames)
    assert searched.to_bytes() == chunk.to_bytes()


def _with_encoder_settings(loaded, tmp_path, encoder):
    """The model's two files copied to `tmp_path`, its JSON given `encoder` settings; returns the weights."""
    weights = tmp_path / loaded.weights_path.name
    shutil.copyfile(loaded.weights_path, weights)
    info = json.loads(loaded.weights_path.with_suffix(".json").read_text()) | {"encoder": encoder}
    weights.with_suffix(".json").write_text(json.dumps(info))
    return weights


def test_an_encoder_setting_in_the_model_file_steers_the_encoder_and_not_the_decoder(moving_model, tmp_path):
    """A model JSON's encoder.cheap_copy_bits reaches the encoder: at 64 bits, changed blocks that a copy
    codes in fewer bits are copied unpriced, so fewer blocks are drawn and the archive differs. The
    weights and their hash are the same, and the archive decodes exactly with the model file that has
    no such setting (and in worker processes, which load the model again)."""
    tuned = load_frame_model(_with_encoder_settings(moving_model, tmp_path, {"cheap_copy_bits": 64}))
    assert tuned.sha256 == moving_model.sha256 and tuned.chunk_codec().codec.cheap_copy_bits == 64.0
    frames = animated_frames(40, seed=5)
    _, default_stats = moving_model.chunk_codec().encode(frames)
    _, tuned_stats = tuned.chunk_codec().encode(frames)
    drawn = [sum(bits.blocks_drawn for bits in stats.frames) for stats in (default_stats, tuned_stats)]
    assert drawn[1] < drawn[0]
    archive = _archive(tuned, frames, workers=1)
    assert archive == _archive(tuned, frames, workers=2)
    assert archive != _archive(moving_model, frames, workers=1)
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(archive)), moving_model, workers=2))
    assert len(decoded) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, decoded))


@pytest.mark.parametrize("encoder", [{"cheap_copy_bits": -1}, {"cheap_copy_bits": "5"}, {"cheap_copy_bits": True},
                                     {"cheap_copy_bits": 65}, [5]])
def test_a_bad_encoder_setting_is_refused_when_the_model_loads(moving_model, tmp_path, encoder):
    from darnzip.images.modelfile import ModelError

    with pytest.raises(ModelError, match="encoder"):
        load_frame_model(_with_encoder_settings(moving_model, tmp_path, encoder))


def test_tuning_keeps_the_largest_setting_within_the_tolerance():
    choose = _script("tune_cheap_copies").choose
    log = [{"cheap_copy_bits": 2.0, "bits_per_frame": 100.0}, {"cheap_copy_bits": 4.0, "bits_per_frame": 100.05},
           {"cheap_copy_bits": 6.0, "bits_per_frame": 100.2}, {"cheap_copy_bits": 8.0, "bits_per_frame": 99.9}]
    assert choose(log, 0.001) == 8.0
    assert choose(log[:3], 0.001) == 4.0
    assert choose(log[:3], 0.0) == 2.0


def test_history_needs_motion_vectors_and_survives_the_model_file():
    with pytest.raises(ValueError, match="history"):
        FrameConfig(24, 40, (1, 2), history=4)
    with pytest.raises(ValueError, match="history"):
        FrameConfig(24, 40, (1, 2), motions=MOTIONS, history=1)
    with pytest.raises(ValueError, match="history"):
        FrameConfig(24, 40, (1, 2), motions=MOTIONS, history=MAX_HISTORY + 1)
    for history in (16, MAX_HISTORY):
        cfg = FrameConfig(24, 40, (1, 2), motions=MOTIONS, history=history)
        assert FrameConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert "history" not in FrameConfig(24, 40, (1, 2), motions=MOTIONS).to_dict()  # older files unchanged


def _random_prior(rng, blocks_y=7, blocks_x=5, frac_bits=8):
    """A LatentPrior with random base logits, unmatched counts and a strong random context table."""
    cfg = FrameConfig(blocks_y * 8, blocks_x * 8, (1, 2), block=8, hidden=4, motions=MOTIONS, latent_context=True)
    tensors = FrameDarn(cfg).quantize(frac_bits)
    tensors["prior_context"] = rng.integers(-6 << frac_bits, 6 << frac_bits, (CONTEXTS, LOGIT_BINS)).astype(np.int32)
    model = build_exact(cfg, tensors, frac_bits)
    base = rng.integers(-10 << frac_bits, 4 << frac_bits, cfg.blocks)
    return LatentPrior(model, base, rng.integers(0, 10, cfg.blocks))


def _decode_one_diagonal_per_call(prior, coder) -> np.ndarray:
    """The definition of the decoder's order: one pop per anti-diagonal, each given the latents before it."""
    cfg = prior.cfg
    h = np.zeros(cfg.blocks, dtype=np.int32)
    order = diagonal_order(cfg.blocks_y, cfg.blocks_x)
    y, x = np.divmod(order, cfg.blocks_x)
    for d in range(cfg.blocks_y + cfg.blocks_x - 1):
        blocks = order[y + x == d]
        h[blocks] = coder.decode(BERNOULLI, prior.probabilities(h)[blocks])
    return h


def test_latents_decode_as_one_diagonal_at_a_time_exactly():
    """The decoder pops several anti-diagonals per call and pushes back what it popped past the first 1:
    the latents and the stack left must be those of one pop per anti-diagonal, on archives (something
    underneath, or nothing) and on random words (sampling)."""
    rng = np.random.default_rng(0)
    categorical = constriction.stream.model.Categorical(perfect=False)
    for trial in range(40):
        prior = _random_prior(rng, *((7, 5) if trial % 2 else (27, 20)))
        h = (rng.random(prior.cfg.blocks) < rng.choice([0.0, 0.02, 0.2, rng.random(), 1.0])).astype(np.int32)
        coder = constriction.stream.stack.AnsCoder()
        if trial % 4:  # something underneath that must survive
            coder.encode_reverse(np.array([3], dtype=np.int32), categorical, np.full((1, 5), 0.2))
        prior.push(coder, h, prior.probabilities(h))
        decoder = constriction.stream.stack.AnsCoder(coder.get_compressed())
        assert np.array_equal(prior.decode(decoder), h)
        if trial % 4:
            assert decoder.decode(categorical, np.full((1, 5), 0.2))[0] == 3
        assert decoder.is_empty()
        words = rng.integers(0, 1 << 32, 40, dtype=np.uint32)
        fast, reference = constriction.stream.stack.AnsCoder(words), constriction.stream.stack.AnsCoder(words)
        assert np.array_equal(prior.decode(fast), _decode_one_diagonal_per_call(prior, reference))
        assert np.array_equal(fast.get_compressed(), reference.get_compressed())


def test_a_latents_probability_reads_only_latents_coded_before_it():
    rng = np.random.default_rng(1)
    prior = _random_prior(rng)
    cfg = prior.cfg
    order = diagonal_order(cfg.blocks_y, cfg.blocks_x)
    position = np.empty(cfg.blocks, dtype=np.int64)
    position[order] = np.arange(cfg.blocks)
    h = rng.integers(0, 2, cfg.blocks).astype(np.int32)
    p = prior.probabilities(h)
    changed_somewhere = False
    for b in range(cfg.blocks):
        flipped = h.copy()
        flipped[b] ^= 1
        q = prior.probabilities(flipped)
        later = position > position[b]
        assert np.array_equal(p[~later], q[~later])  # earlier blocks and b itself do not see h_b
        changed_somewhere |= not np.array_equal(p[later], q[later])
    assert changed_somewhere  # and later ones do


def test_zero_table_codes_like_the_source_model(history_model):
    """With every offset zero a latent-context model is its source: same choices, same bits per frame."""
    script = _script("add_latent_context")
    cfg, tensors = script.with_context(history_model, np.zeros((CONTEXTS, LOGIT_BINS)), vector_posterior=False)
    zero = with_tables(history_model, cfg, tensors)
    frames = list(sprite_frames(40, seed=22))
    _, source = history_model.chunk_codec().encode(frames)
    _, same = zero.chunk_codec().encode(frames)
    assert [dataclasses.astuple(b) for b in source.frames] == [dataclasses.astuple(b) for b in same.frames]


def test_fitted_context_shortens_the_latents_and_the_stream(history_model, context_model):
    """Against the same model unfitted (every offset zero, the source's motion tables, the same vector
    posterior), on other frames than the fit's: real coded words and free energy both drop."""
    frames = list(sprite_frames(120, seed=23))
    cfg, tensors = _script("add_latent_context").with_context(history_model, np.zeros((CONTEXTS, LOGIT_BINS)))
    unfitted = with_tables(history_model, cfg, tensors)
    plain_chunk, plain = unfitted.chunk_codec().encode(frames)
    fitted_chunk, fitted = context_model.chunk_codec().encode(frames)
    assert len(fitted_chunk.words) < 0.9 * len(plain_chunk.words)  # measured 85 against 101 words
    assert sum(b.free_energy for b in fitted.frames) < 0.9 * sum(b.free_energy for b in plain.frames)
    data = _archive(context_model, frames, chunk_frames=50, workers=2)
    assert data == _archive(context_model, frames, chunk_frames=50, workers=1)
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), context_model, workers=2))
    assert len(decoded) == 120 and all(np.array_equal(a, b) for a, b in zip(frames, decoded))


def test_vector_posterior_gives_bits_back_over_equivalent_vectors(history_model):
    """Many vectors reproduce a block of flat background: popping one from q returns what naming it cost,
    so the stream codes shorter than with the canonical vector, measured in real words, and decodes."""
    frames = list(sprite_frames(60, seed=24))
    script = _script("add_latent_context")
    zero = np.zeros((CONTEXTS, LOGIT_BINS))
    sizes, picked = [], []
    for vector_posterior in (False, True):
        cfg, tensors = script.with_context(history_model, zero, vector_posterior)
        loaded = with_tables(history_model, cfg, tensors)
        chunk, stats = loaded.chunk_codec().encode(frames)
        sizes.append(32 * len(chunk.words))
        picked.append(sum(b.posterior for b in stats.frames))
        assert all(np.array_equal(a, b) for a, b in zip(frames, loaded.chunk_codec().decode(chunk, 0)))
    assert picked[0] == 0 and picked[1] > 0.05 * sizes[0]  # the posterior gave bits back
    assert sizes[1] < 0.99 * sizes[0]  # measured 1,472 vs 1,504 bits


def test_latent_context_needs_motion_vectors_and_survives_the_model_file(context_model):
    with pytest.raises(ValueError, match="latent context"):
        FrameConfig(24, 40, (1, 2), latent_context=True)
    cfg = FrameConfig(24, 40, (1, 2), motions=MOTIONS, latent_context=True)
    assert FrameConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ValueError, match="latent_context"):
        FrameConfig.from_dict(cfg.to_dict() | {"latent_context": 1})
    assert "latent_context" not in FrameConfig(24, 40, (1, 2), motions=MOTIONS).to_dict()  # older files unchanged
    assert context_model.config.latent_context and context_model.exact.integers["prior_context"].any()
    with pytest.raises(ValueError, match="vector posterior"):
        FrameConfig(24, 40, (1, 2), vector_posterior=True)
    cfg = FrameConfig(24, 40, (1, 2), motions=MOTIONS, vector_posterior=True)
    assert FrameConfig.from_dict(json.loads(cfg.to_json())) == cfg and context_model.config.vector_posterior


def _exact_first_of_class(cfg: FrameConfig, sources: list[np.ndarray], blocks: np.ndarray) -> np.ndarray:
    """The vector classes by definition: per block and vector (source s, motion v at column s * V + v),
    the first column that reads exactly the same pixels for the block's pixels inside the frame."""
    m, k = cfg.margin, cfg.block
    out = np.empty((len(blocks), len(sources) * len(cfg.motions)), dtype=np.int64)
    for row, b in enumerate(blocks):
        by, bx = divmod(int(b), cfg.blocks_x)
        reads = []
        for source in sources:
            pp = np.full((cfg.height + 2 * m, cfg.width + 2 * m), cfg.outside, dtype=np.int64)
            pp[m:m + cfg.height, m:m + cfg.width] = source
            for dy, dx in cfg.motions:
                y0, x0 = by * k, bx * k
                y1, x1 = min(y0 + k, cfg.height), min(x0 + k, cfg.width)
                reads.append(pp[m + y0 - dy:m + y1 - dy, m + x0 - dx:m + x1 - dx].tobytes())
        out[row] = [reads.index(r) for r in reads]
    return out


@pytest.mark.parametrize("height,width,block", [(24, 40, 8), (21, 32, 8), (21, 19, 8), (30, 44, 4)])
def test_vector_classes_group_exactly_the_vectors_that_read_the_same_content(height, width, block):
    """Both the word path (8-pixel blocks, width a multiple of 8; blocks cut by the bottom edge too) and the
    pixel path give each vector the first vector, over t-1 and an older frame, that reads the same pixels."""
    from darnzip.frames.features import MotionMatcher, first_of_class

    rng = np.random.default_rng(height * width)
    cfg = FrameConfig(height, width, (1, 2, 3), block=block, hidden=4, motions=MOTIONS)
    frames = np.zeros((2, height, width), dtype=np.uint8)  # flat background: many vectors read alike
    for f in frames:
        for _ in range(4):  # and a few sprites
            y, x = rng.integers(0, height - 3), rng.integers(0, width - 3)
            f[y:y + 3, x:x + 3] = rng.integers(0, 3, (3, 3))
    matcher = MotionMatcher(cfg)
    blocks = np.arange(cfg.blocks)
    for sources in ([frames[0]], [frames[0], frames[1]]):
        found = first_of_class(matcher.content_hashes(sources, blocks))
        expected = _exact_first_of_class(cfg, sources, blocks)
        assert np.array_equal(found, expected)
        assert (found < np.arange(found.shape[1])).any()  # some vectors do share a class
        fresh = MotionMatcher(cfg)  # hashes are kept per source frame: blocks asked for piecemeal agree
        for part in (blocks[::3], blocks[1::2], blocks):
            assert np.array_equal(fresh.content_hashes(sources, part), matcher.content_hashes(sources, blocks)[part])


def test_vector_classes_cost_what_the_posterior_returns_without_initial_bits(context_model, class_model):
    """A copy by class costs -log2 of the prior mass of the vectors that reproduce the block, which is what
    a copy from the posterior comes to once its bits are back: the same choices and free energy per frame,
    except for the chunk's last-pushed frame (no bits to pop: the posterior model takes the likeliest
    vector), and fewer real words, as no pop reaches below the bottom of the stack."""
    frames = list(sprite_frames(60, seed=25))
    posterior_chunk, posterior = context_model.chunk_codec().encode(frames)
    class_chunk, classes = class_model.chunk_codec().encode(frames)
    assert [b.blocks_drawn for b in classes.frames] == [b.blocks_drawn for b in posterior.frames]
    by_class = np.array([b.free_energy for b in classes.frames])
    from_posterior = np.array([b.free_energy for b in posterior.frames])
    assert np.allclose(by_class[:-1], from_posterior[:-1], rtol=0, atol=1e-6)
    assert by_class[-1] < from_posterior[-1]
    assert all(b.posterior == 0 for b in classes.frames) and sum(b.posterior for b in posterior.frames) > 0
    assert len(class_chunk.words) < len(posterior_chunk.words)
    assert all(np.array_equal(a, b) for a, b in zip(frames, class_model.chunk_codec().decode(class_chunk, 0)))


def test_decoder_rejects_a_vector_that_is_not_the_first_of_its_class(class_model, monkeypatch):
    """An encoder that codes the right probabilities but names a class by its last vector makes a stream
    this model never writes: decoding it fails with a clear error instead of accepting a second spelling
    of the same frames."""
    from darnzip.frames import codec as frame_codec

    def spread(labels, pick):  # per row, the first or last column with each column's label
        return np.array([[pick(np.flatnonzero(row == row[v])) for v in range(len(row))] for row in labels])

    frames = list(sprite_frames(20, seed=26))
    honest = class_model.chunk_codec()
    probabilities = frame_codec.FrameCodec._class_probabilities
    with monkeypatch.context() as patch:
        patch.setattr(frame_codec.FrameCodec, "_vector_classes",
                      lambda self, sources, blocks: spread(frame_codec.first_of_class(
                          self.matcher.content_hashes(sources, blocks)), np.max))
        patch.setattr(frame_codec.FrameCodec, "_class_probabilities",
                      staticmethod(lambda weights, classes: probabilities(weights, spread(classes, np.min))))
        with np.errstate(divide="ignore"):  # the forged symbols have no prior mass
            forged, _ = class_model.chunk_codec().encode(frames)
    with pytest.raises(ArchiveError, match="first of its class"):
        honest.decode(forged, 0)


def test_vector_classes_need_motion_vectors_and_exclude_the_posterior(class_model):
    with pytest.raises(ValueError, match="vector classes"):
        FrameConfig(24, 40, (1, 2), vector_classes=True)
    with pytest.raises(ValueError, match="not both"):
        FrameConfig(24, 40, (1, 2), motions=MOTIONS, vector_classes=True, vector_posterior=True)
    cfg = FrameConfig(24, 40, (1, 2), motions=MOTIONS, vector_classes=True)
    assert FrameConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert "vector_classes" not in FrameConfig(24, 40, (1, 2), motions=MOTIONS).to_dict()  # older files unchanged
    assert class_model.config.vector_classes and not class_model.config.vector_posterior


def test_added_motion_vectors_copy_what_moved_further(moving_model):
    """scripts/add_latent_context.py --add-motions: a frame scrolled by 10 pixels, beyond the shared
    vector set, is copied with the added vector instead of drawn, and still decodes exactly."""
    script = _script("add_latent_context")
    assert script.parse_motions("10,0; 0,-10") == [(10, 0), (0, -10)]
    wider = script.with_more_motions(moving_model, [(0, 10)])
    assert wider.config.motions[-1] == (0, 10) and len(wider.config.motions) == len(MOTIONS) + 1
    first = sprite_frames(1, seed=27)[0]
    scrolled = first.copy()
    scrolled[:, 10:] = first[:, :-10]
    frames = [first, scrolled]
    _, narrow_stats = moving_model.chunk_codec().encode(frames)
    chunk, wide_stats = wider.chunk_codec().encode(frames)
    assert wide_stats.frames[1].blocks_drawn < narrow_stats.frames[1].blocks_drawn
    assert all(np.array_equal(a, b) for a, b in zip(frames, wider.chunk_codec().decode(chunk, 0)))
    with pytest.raises(SystemExit, match="reach further"):
        script.with_more_motions(moving_model, [(0, 40)])


def test_a_hash_collision_costs_bits_never_a_wrong_frame(class_model, monkeypatch):
    """Were every content to share one hash, each moved block's class would start at (0, 0), which does not
    reproduce it: the encoder draws those blocks instead, and the stream still decodes exactly."""
    from darnzip.frames import features

    frames = list(sprite_frames(20, seed=28))
    honest_chunk, honest = class_model.chunk_codec().encode(frames)
    monkeypatch.setattr(features.MotionMatcher, "content_hashes",
                        lambda self, sources, blocks: np.zeros((len(blocks), len(sources) * len(self.cfg.motions)),
                                                               dtype=np.uint64))
    codec = class_model.chunk_codec()
    chunk, colliding = codec.encode(frames)
    assert sum(b.blocks_drawn for b in colliding.frames) > sum(b.blocks_drawn for b in honest.frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, codec.decode(chunk, 0)))


def test_drawn_pixel_features_are_what_the_coder_prices(any_model):
    """The features recorded for each drawn pixel (what scripts/finetune_pixels.py fits on) give the
    coder's own probabilities: their bits add up to the pixel bits of every pushed frame."""
    from darnzip.frames.pixel_fit import DrawnPixels

    chunk_codec = any_model.chunk_codec()
    chunk_codec.codec.pixel_observer = drawn = DrawnPixels(chunk_codec.codec)
    _, stats = chunk_codec.encode(list(sprite_frames(40, seed=27)))
    features, symbols = drawn.arrays()
    assert drawn.frames == 40 and len(symbols) > 0
    weights = any_model.exact.pixel_weights(torch.from_numpy(features.astype(np.int64)))
    bits = -np.log2(weights[np.arange(len(symbols)), symbols] / weights.sum(axis=1)).sum()
    assert bits == pytest.approx(sum(b.pixels for b in stats.frames), rel=1e-9)


def test_fitting_the_pixel_tables_to_the_drawn_blocks_shortens_other_streams(class_model):
    """The sprite model was trained for 40 steps on every changed block; fitted again on the pixels its
    coder draws in one stream (the epoch picked on a second), it codes a third stream in fewer real
    words, and that stream decodes."""
    from darnzip.frames.pixel_fit import PIXEL_TABLES, code_and_record, fit_pixel_tables, weighted, with_pixel_tables

    _, train_pixels = code_and_record(class_model, [list(sprite_frames(120, seed=28))])
    _, val_pixels = code_and_record(class_model, [list(sprite_frames(60, seed=30))])
    other = list(sprite_frames(80, seed=29))
    before, _ = code_and_record(class_model, [other])
    model = FrameDarn.from_integers(class_model.config, class_model.exact.integers, class_model.exact.frac_bits)
    model, log = fit_pixel_tables(model, weighted(*train_pixels), weighted(*val_pixels), epochs=3, lr=3e-3, batch=512)
    assert min(r["validation_bits"] for r in log) < log[0]["validation_bits"]
    tensors = with_pixel_tables(class_model.exact.integers, model, class_model.exact.frac_bits)
    assert all(np.array_equal(tensors[k], class_model.exact.integers[k]) for k in tensors if k not in PIXEL_TABLES)
    fitted = with_tables(class_model, class_model.config, tensors)
    after, _ = code_and_record(fitted, [other])
    assert after < 0.95 * before  # measured 21.6 -> 20.0 bits/frame
    chunk, _ = fitted.chunk_codec().encode(other)
    assert all(np.array_equal(a, b) for a, b in zip(other, fitted.chunk_codec().decode(chunk, 0)))


def test_a_derived_model_keeps_its_sources_reference_frames(class_model, tmp_path):
    """Scripts that add tables to a model (save_derived) keep every reference frame of the source unless
    they pass new ones: a key frame's reference index must mean the same frame in the new version."""
    import argparse

    from darnzip.frames.derive import save_derived

    source = _with_references(class_model, _reset_screen(class_model)[None], tmp_path, "sprites-refs-v1")
    args = argparse.Namespace(out=tmp_path, target="sprites-refs-v2", source="sprites-refs-v1", register=False)
    save_derived(args, source, source.config, source.exact.integers, None, "test", {}, "unchanged")
    derived = load_frame_model(tmp_path / "sprites-refs-v2.safetensors")
    assert len(derived.references) == 2
    assert all(np.array_equal(a, b) for a, b in zip(source.references, derived.references))
    assert derived.info["test"]["weights_from"]["model"] == "sprites-refs-v1"


def test_a_derived_model_does_not_inherit_its_sources_encoder_settings(class_model, tmp_path):
    """Encoder settings were chosen for the source's tables; a new version, and the scripts' measurements
    of one, start without them."""
    import argparse

    from darnzip.frames.derive import save_derived

    source = load_frame_model(_with_encoder_settings(class_model, tmp_path, {"cheap_copy_bits": 5}))
    assert source.encoder_settings == {"cheap_copy_bits": 5.0}
    args = argparse.Namespace(out=tmp_path / "out", target="sprites-next-v1", source=source.model_id, register=False)
    save_derived(args, source, source.config, source.exact.integers, None, "test", {}, "unchanged")
    derived = load_frame_model(tmp_path / "out" / "sprites-next-v1.safetensors")
    assert "encoder" not in derived.info and derived.chunk_codec().codec.cheap_copy_bits == 2.0
    measured = with_tables(source, source.config, source.exact.integers)  # what fitting scripts code with
    assert measured.chunk_codec().codec.cheap_copy_bits == 2.0 and source.encoder_settings


def formation_frames(count: int, seed: int) -> list[np.ndarray]:
    """Rows of textured sprites that step together, a row at a time, as SpaceInvaders' aliens do: each
    frame one row moves 1 or 2 pixels sideways (the same for all its sprites), the others stand still."""
    rng = np.random.default_rng(seed)
    sprites = rng.integers(1, 4, (2, 4, 6, 6))  # a texture per row and sprite
    x = np.array([4, 4])
    frames = []
    for t in range(count):
        row = t % 2
        x[row] = 2 + (x[row] - 2 + rng.integers(1, 3)) % 4
        idx = np.zeros((24, 40), dtype=np.uint8)
        for r, y in enumerate((1, 13)):
            for s in range(4):
                idx[y:y + 6, x[r] + 9 * s:x[r] + 9 * s + 6] = sprites[r, s]
        frames.append(PALETTE[idx])
    return frames


def test_a_row_context_codes_a_formation_in_fewer_bits_and_decodes_exactly(class_model, row_model, tmp_path):
    """Sprites of a row step together: with the row context each moved copy after the first in its row
    names its class almost for free, so the stream is shorter than the same model's without; it decodes
    exactly, the decoder naming the copies one wave per rank in a row, across chunk and worker splits.
    Every table but the bonus is the source's."""
    assert all(np.array_equal(row_model.exact.integers[k], v) for k, v in class_model.exact.integers.items())
    assert row_model.exact.integers["row_bonus"][0] == 5 * 256
    frames = formation_frames(40, seed=31)
    plain, plain_stats = class_model.chunk_codec().encode(frames)
    chunk, stats = row_model.chunk_codec().encode(frames)
    assert [b.blocks_drawn for b in stats.frames] == [b.blocks_drawn for b in plain_stats.frames]
    assert sum(b.blocks_drawn for b in stats.frames[1:]) < 2 * len(frames)  # the sprites are copies, not drawn
    # after the first frame (drawn from the reference), what h, the classes and the lag cost falls (5,739
    # to 4,469 bits when written); the pixels are the same
    assert sum(b.prior for b in stats.frames[1:]) < 0.85 * sum(b.prior for b in plain_stats.frames[1:])
    assert [b.pixels for b in stats.frames] == [b.pixels for b in plain_stats.frames]
    assert len(chunk.words) < len(plain.words)
    assert all(np.array_equal(a, b) for a, b in zip(frames, row_model.chunk_codec().decode(chunk, 0)))
    one, two = _archive(row_model, frames, workers=1), _archive(row_model, frames, chunk_frames=7, workers=2)
    for data in (one, two):
        decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), row_model))
        assert all(np.array_equal(a, b) for a, b in zip(frames, decoded))
    assert one == _archive(row_model, frames, workers=2)


def test_a_row_contexts_logits_read_only_copies_earlier_in_the_row(row_model):
    """What the decoder relies on: a moved copy's logits change with the class named by the copy before it
    in its block row and with nothing else, so the copies of one rank decode before the next rank's."""
    codec = row_model.chunk_codec().codec
    bx = row_model.config.blocks_x
    blocks = np.array([0, 2, 3, bx, bx + 4, 2 * bx + 1])
    previous, wave = codec._previous_in_row(blocks, bx)
    assert previous.tolist() == [-1, 0, 1, -1, 3, -1] and wave.tolist() == [0, 1, 2, 0, 1, 0]
    rng = np.random.default_rng(5)
    columns = len(row_model.config.motions)
    classes = np.sort(rng.integers(0, 4, (len(blocks), columns)), axis=1)
    classes[:, 0] = 0
    classes[1] = classes[0]  # the second copy can name the first one's class
    picked = classes[np.arange(len(blocks)), rng.integers(0, columns, len(blocks))]
    logits = rng.integers(-2000, 2000, (len(blocks), columns))
    rows = np.arange(len(blocks))
    base = codec._row_context_logits(logits, rows, previous, classes, picked)
    assert np.array_equal(base[previous < 0], logits[previous < 0])  # a row's first copy has no context
    named = classes[1] == picked[0]
    assert named.any() and np.array_equal(base[1] - logits[1], 5 * 256 * named)
    for changed in range(len(blocks)):
        other = picked.copy()
        other[changed] = (picked[changed] + 1) % 4
        differs = np.flatnonzero((codec._row_context_logits(logits, rows, previous, classes, other) != base).any(1))
        assert set(differs) <= set(np.flatnonzero(previous == changed))


def test_row_context_needs_vector_classes_and_survives_the_model_file(row_model):
    with pytest.raises(ValueError, match="row context"):
        FrameConfig(24, 40, (1, 2), motions=MOTIONS, row_context=True)
    cfg = FrameConfig(24, 40, (1, 2), motions=MOTIONS, vector_classes=True, row_context=True)
    assert FrameConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert "row_context" not in FrameConfig(24, 40, (1, 2), motions=MOTIONS, vector_classes=True).to_dict()
    assert row_model.config.row_context
    with pytest.raises(SystemExit, match="none yet"):
        _script("add_row_context").with_row_context(row_model, 3.0)



def test_a_smaller_pixel_context_reads_the_kept_groups_as_the_source_did(moving_model):
    """scripts/shrink_pixel_context.py keeps some context offsets: the pixels the source drew, remapped,
    are what the smaller model's coder reads for the same plans, and they give the probabilities of the
    source with the dropped groups' rows zeroed."""
    from darnzip.frames.pixel_fit import DrawnPixels

    script = _script("shrink_pixel_context")
    cfg, exact = moving_model.config, moving_model.exact
    n_context = len(cfg.offsets_prev) + len(cfg.offsets_prev2)
    reach = [max(map(abs, o)) for o in cfg.offsets_prev + cfg.offsets_prev2]
    kept = sorted(set(range(1, n_context, 3)) | {int(np.argmax(reach))})  # the farthest keeps the margin
    small = script.smaller_config(cfg, kept)
    assert small.colour_groups == len(kept) + len(cfg.offsets_current) and small.margin == cfg.margin
    columns, old_groups = script.kept_columns(cfg, kept)
    small_model = with_tables(moving_model, small, script.smaller_tensors(exact.integers, cfg, old_groups))

    chunk_codec = moving_model.chunk_codec()
    plans = []
    chunk_codec.codec.pixel_observer = lambda plan: plans.append(plan) if plan.h.any() else None
    chunk_codec.encode(list(sprite_frames(30, seed=31)))
    assert plans
    drawn = DrawnPixels(chunk_codec.codec)
    for plan in plans:
        drawn(plan)
    features, symbols = drawn.arrays()
    table = exact.integers["pixel_table"]
    assert np.allclose(script.group_spread(table, features, n_context, cfg.values), [  # the definition, per pixel
        ((table[features[:, g]] - table[features[:, g]].mean(axis=0)) ** 2).sum(axis=1).mean() for g in range(n_context)])
    remapped, remapped_symbols = script.remapped((features, symbols), cfg, small, columns, old_groups)
    assert np.array_equal(remapped_symbols, symbols)
    small_codec = small_model.chunk_codec().codec
    assert np.array_equal(remapped, np.concatenate([small_codec.drawn_pixel_features(p)[0] for p in plans]))

    zeroed = {k: v.copy() for k, v in exact.integers.items()}
    for g in set(range(n_context)) - set(kept):
        zeroed["pixel_table"][g * cfg.values:(g + 1) * cfg.values] = 0
    source_without = build_exact(cfg, zeroed, exact.frac_bits)
    assert np.array_equal(source_without.pixel_weights(torch.from_numpy(features.astype(np.int64))),
                          small_model.exact.pixel_weights(torch.from_numpy(remapped.astype(np.int64))))
