"""Block latents: copies with motion vectors, history, latent context, vector classes, row context."""
from __future__ import annotations

import dataclasses
import io
import json

import constriction
import numpy as np
import pytest

from darnzip.core.records import ArchiveError
from darnzip.frames.config import MAX_HISTORY, MOTIONS, FrameConfig
from darnzip.frames.container import FrameArchiveReader
from darnzip.frames.derive import with_tables
from darnzip.frames.latent_context import CONTEXTS, LOGIT_BINS, diagonal_order
from darnzip.frames.modelfile import load_frame_model, save_frame_model
from darnzip.frames.stream import decompress_frames

from .conftest import (
    PALETTE,
    _archive,
    _decode_one_diagonal_per_call,
    _exact_first_of_class,
    _random_prior,
    _script,
    _verbose_accounting,
    _with_encoder_settings,
    animated_frames,
    formation_frames,
    sprite_frames,
)

pytestmark = pytest.mark.usefixtures("game_model_alone")


def test_motion_vectors_shrink_a_moving_stream(frame_model, moving_model):
    """Same frames, same training: copying moved blocks must beat drawing them, in real coded bits."""
    frames = list(sprite_frames(120, seed=3))
    still_chunk, still_stats = frame_model.chunk_codec().encode(frames)
    moving_chunk, moving_stats = moving_model.chunk_codec().encode(frames)
    assert len(moving_chunk.words) < 0.9 * len(still_chunk.words)
    assert sum(b.blocks_drawn for b in moving_stats.frames) < sum(b.blocks_drawn for b in still_stats.frames)
    assert all(np.array_equal(a, b) for a, b in zip(frames, moving_model.chunk_codec().decode(moving_chunk, 0)))


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
    from darnzip.core.modelfiles import ModelError

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
