"""The frame model: the coder's probabilities against the training model's, exactly."""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

from darnzip.frames.config import MOTIONS, FrameConfig
from darnzip.frames.derive import with_tables
from darnzip.frames.model import FrameDarn, build_exact

from .conftest import _script, sprite_frames

pytestmark = pytest.mark.usefixtures("game_model_alone")


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
    from darnzip.frames.features import (
        available_from,
        block_pixels,
        drawn_pixels,
        padded,
        pixel_features,
        stacked_context,
    )

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
            from darnzip.frames.features import (
                _WINDOW_FACTORS,
                _word_at_every_pixel,
                mixed,
            )

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
    from darnzip.frames.pixel_fit import (
        PIXEL_TABLES,
        code_and_record,
        fit_pixel_tables,
        weighted,
        with_pixel_tables,
    )

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
