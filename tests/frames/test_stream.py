"""Frame streams: chunking, workers, reference and key frames, round trips."""
from __future__ import annotations

import io

import numpy as np
import pytest

from darnzip.core.records import ArchiveError
from darnzip.frames.container import FrameArchiveReader
from darnzip.frames.modelfile import load_frame_model, save_frame_model
from darnzip.frames.palette import Palette
from darnzip.frames.stream import compress_frames, decompress_frames

from .conftest import (
    _archive,
    _reset_screen,
    _script,
    _verbose_accounting,
    _with_references,
    animated_frames,
    sprite_frames,
)

pytestmark = pytest.mark.usefixtures("game_model_alone")


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


def test_stream_round_trip_and_worker_independence(any_model):
    frame_model = any_model
    frames = list(sprite_frames(50, seed=5))
    one = _archive(frame_model, frames, workers=1)
    two = _archive(frame_model, frames, workers=2)
    assert one == two
    reader = FrameArchiveReader(io.BytesIO(one))
    decoded = list(decompress_frames(reader, frame_model, workers=2))
    assert len(decoded) == 50 and all(np.array_equal(a, b) for a, b in zip(frames, decoded))


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
    code exactly as forked ones and as the main process. Spawned workers import the chunk codec afresh, so
    they cannot see the class attribute that game_model_alone patches here: this test runs with the
    default, chunks also tried with the universal model."""
    from darnzip.frames import stream
    from darnzip.frames.chunks import FrameChunkCodec

    monkeypatch.setattr(FrameChunkCodec, "universal_choice", True)

    frames = animated_frames(24, seed=12)
    forked = _archive(history_model, frames, chunk_frames=8, workers=2)
    monkeypatch.setattr(stream, "worker_start_method", lambda: "spawn")
    spawned = _archive(history_model, frames, chunk_frames=8, workers=2)
    assert spawned == forked == _archive(history_model, frames, chunk_frames=8, workers=1)
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(spawned)), history_model, workers=2))
    assert all(np.array_equal(a, b) for a, b in zip(frames, decoded))


def test_npy_sink_header_matches_numpy(tmp_path):
    from darnzip.frames.io import NpySink

    frames = sprite_frames(5, seed=12)
    sink = NpySink(tmp_path / "x.npy", force=False)
    for frame in frames:
        sink.write(frame)
    sink.commit()
    loaded = np.load(tmp_path / "x.npy")
    assert loaded.dtype == np.uint8 and np.array_equal(loaded, frames)


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
