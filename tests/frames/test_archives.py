"""Frame archives: damaged, mismatched and golden archives."""
from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from darnzip.core.records import ArchiveError
from darnzip.frames.container import FORMAT_VERSION, FrameArchiveReader, header_bytes
from darnzip.frames.model import FrameDarn
from darnzip.frames.modelfile import load_frame_model, save_frame_model
from darnzip.frames.stream import compress_frames, decompress_frames

from .conftest import _archive, _with_encoder_settings, sprite_frames

# these goldens pin the game models' own encoder: chunks are not also tried with the universal model
pytestmark = pytest.mark.usefixtures("game_model_alone")


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
    # the reader stops where its archive's index ends: what follows is for the caller (another archive, or
    # bytes that `darnzip` refuses: tests/cli/test_joined.py)
    reader = FrameArchiveReader(io.BytesIO(data + b"\0"))
    assert len(list(decompress_frames(reader, frame_model))) == 6 and reader.src.read() == b"\0"


def test_wrong_model_is_refused(frame_model, tmp_path):
    data = _archive(frame_model, list(sprite_frames(10, seed=9)))
    other_stem = tmp_path / "other"
    save_frame_model(other_stem, "sprites-v1", frame_model.config,
                     FrameDarn(frame_model.config).quantize(8), 8, frame_model.reference)
    other = load_frame_model(other_stem.with_suffix(".safetensors"))
    from darnzip.core.modelfiles import ModelError

    with pytest.raises(ModelError, match="different model"):
        list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), other))


def test_the_same_weights_with_another_description_are_refused(moving_model, tmp_path):
    """The weights' hash does not cover the model's JSON, whose motion vectors (and offsets, palette) decide
    how frames decode: an archive records the description's hash too, and a model file whose weights
    match but whose JSON lists the vectors in another order is refused by name, with nothing decoded.
    Encoder settings are not part of the description (the archive of an encoder-tuned copy decodes)."""
    from darnzip.core.modelfiles import ModelError

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
    from darnzip.core.index import record_bytes
    from darnzip.core.modelfiles import ModelError, description_sha256
    from darnzip.core.records import pack_json, preamble_and_header
    from darnzip.frames.container import MAGIC, header_bytes

    frames = list(sprite_frames(12, seed=9))
    data = _archive(moving_model, frames)
    reader = FrameArchiveReader(io.BytesIO(data))
    chunks = sum(1 for _ in reader.chunks())
    body = data[len(header_bytes(reader.header)):-record_bytes(chunks)]  # that release wrote format 4: no index

    def with_model_entry(**entry) -> bytes:
        model = {k: v for k, v in reader.header["model"].items() if k != "description"} | entry
        return preamble_and_header(pack_json(reader.header | {"model": model}), MAGIC, 4) + body

    full = description_sha256(moving_model.info)
    assert full.startswith(moving_model.description_hash) and len(full) == 64
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(with_model_entry(description_sha256=full))),
                                     moving_model))
    assert len(decoded) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, decoded))
    wrong = ("0" if full[0] != "0" else "1") + full[1:]
    for entry in ({"description_sha256": wrong}, {"description": wrong[:16]}, {"description": full[:15]}):
        with pytest.raises(ModelError, match="described otherwise"):
            list(decompress_frames(FrameArchiveReader(io.BytesIO(with_model_entry(**entry))), moving_model))


def test_still_model_archives_from_before_motion_vectors_decode_and_re_encode_identically():
    """tests/golden/frames-pong-v1.dz was written by the code before motion vectors (scripts/
    make_frame_golden.py at commit 9f4a5a1) with the shipped atari-pong-v1 model, in container version 1.
    Today's encoder writes version 2 (chunks may hold key frames) and records the model description's
    hash in the header; its chunks must carry the same frames and the same ANS words, as these frames have
    no key frame."""
    from darnzip.core.zoo import registry

    golden = os.path.join(os.path.dirname(os.path.dirname(__file__)), "golden")
    data = open(os.path.join(golden, "frames-pong-v1.dz"), "rb").read()
    frames = np.load(os.path.join(golden, "frames-pong-v1-frames.npz"))["frames"]
    # atari-pong-v1 no longer ships; its files are kept beside the golden archive, pinned by the registry
    loaded = load_frame_model(Path(golden) / "atari-pong-v1.safetensors", registry()["atari-pong-v1"]["sha256"])
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), loaded))
    assert len(decoded) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, decoded))
    buffer = io.BytesIO()
    compress_frames(buffer, iter(frames), {"type": "npy", "name": "pong.npy"}, loaded, 16, 1)
    old, new = FrameArchiveReader(io.BytesIO(data)), FrameArchiveReader(io.BytesIO(buffer.getvalue()))
    assert (old.version, new.version) == (1, FORMAT_VERSION)
    model = dict(new.header["model"])  # today's header also records the model description's hash
    assert model.pop("description") == loaded.description_hash
    assert old.header == new.header | {"model": model}
    pairs = list(zip(old.chunks(), new.chunks(), strict=True))
    for a, b in pairs:
        assert np.array_equal(a.kinds, b.kinds) and np.array_equal(a.words, b.words)
        assert a.content_crc == b.content_crc
    # the trailers agree but for the hash, which from format 3 covers the source's description too
    assert {k: v for k, v in old.trailer.items() if k != "sha256"} == {k: v for k, v in new.trailer.items() if k != "sha256"}


@pytest.mark.parametrize("game, model_id", [("Freeway", "atari-freeway-v6"), ("Riverraid", "atari-riverraid-v10"),
                                           ("SpaceInvaders", "atari-spaceinvaders-v13")])
def test_shipped_log_linear_models_decode_their_golden_archives_and_re_encode_them_identically(game, model_id):
    """tests/golden/frames-GAME-vN.dz were written by scripts/make_frame_golden.py (24 frames, chunks of
    8, one worker) with the shipped models that have no hidden layer in their pixel model: today's code
    must decode them to the same frames and, with two workers, write the same bytes again."""
    from darnzip.frames.zoo import resolve_frame_model

    golden = os.path.join(os.path.dirname(os.path.dirname(__file__)), "golden", f"frames-{model_id.removeprefix('atari-')}")
    data = open(golden + ".dz", "rb").read()
    frames = np.load(golden + "-frames.npz")["frames"]
    loaded = resolve_frame_model(model_id)
    assert loaded.config.hidden == 0
    decoded = list(decompress_frames(FrameArchiveReader(io.BytesIO(data)), loaded, 2))
    assert len(decoded) == len(frames) == 24 and all(np.array_equal(a, b) for a, b in zip(frames, decoded))
    buffer = io.BytesIO()
    stats = compress_frames(buffer, iter(frames), {"type": "npy", "name": f"{game.lower()}.npy"}, loaded, 8, 2)
    assert stats.modelled == 24 and stats.raw == 0
    # format 3 hashes the source's description into the trailer: all else is the golden's, byte for byte
    written = buffer.getvalue()
    old, new = FrameArchiveReader(io.BytesIO(data)), FrameArchiveReader(io.BytesIO(written))
    assert (old.version, new.version) == (2, FORMAT_VERSION) and old.header == new.header
    start = len(header_bytes(new.header))
    trailer = written.rindex(b"DZFE")
    assert written[start:trailer] == data[start:data.rindex(b"DZFE")]
    assert written[2 + 8:] != data[2 + 8:] and written[:8] == data[:8]


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
