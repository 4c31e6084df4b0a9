"""The universal frame model: exact round trips of any palette stream of any size, a code that does not
depend on how colours are numbered or where the frame sits, tables that encoder and decoder adapt alike,
and clean errors on damaged words."""
import os
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest

from darnzip.frames.universal import contexts as cx
from darnzip.frames.universal.coder import ChunkState, UniversalDecodeError, analyse_frame, decode_chunk, encode_chunk
from darnzip.frames.universal.geometry import Geometry
from darnzip.frames.universal.model import UniversalModel
from darnzip.frames.universal.modelfile import default_universal


GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def sprite_stream(shape=(50, 70), frames=24, colours=6, seed=0):
    """A background with a few sprites that move (some further than a block), one that changes colour
    and one that appears: what screen streams are made of."""
    rng = np.random.default_rng(seed)
    h, w = shape
    background = rng.integers(0, 2, (h, w)).astype(np.uint8)
    background[:, : w // 2] = 1
    sprites = [rng.integers(2, colours, (min(h, rng.integers(2, 9)), min(w, rng.integers(2, 9)))).astype(np.uint8)
               for _ in range(3)]
    out = []
    for t in range(frames):
        frame = background.copy()
        for k, sprite in enumerate(sprites):
            y = (5 + 3 * t * (k + 1) + 7 * k) % (h - sprite.shape[0] + 1)
            x = (4 + (2 + 9 * k) * t) % (w - sprite.shape[1] + 1)
            frame[y:y + sprite.shape[0], x:x + sprite.shape[1]] = (sprite + t * (k == 2)) % colours
        out.append(frame)
    return out


def round_trip(frames, model, colours):
    words = encode_chunk(frames, model.tables(colours))
    back = decode_chunk(words, frames[0].shape, len(frames), model.tables(colours))
    assert all(np.array_equal(a, b) for a, b in zip(frames, back))
    return words


@pytest.fixture(scope="module")
def shipped():
    return default_universal()[0]


@pytest.mark.parametrize("shape", [(1, 1), (16, 16), (17, 23), (9, 130), (64, 8)])
def test_any_size_round_trips(shape, shipped):
    frames = sprite_stream(shape, frames=6)
    round_trip(frames, shipped, 6)
    round_trip(frames, UniversalModel.untrained(), 6)


def test_one_colour_and_256_colours_round_trip(shipped):
    round_trip([np.zeros((20, 30), np.uint8)] * 5, shipped, 1)
    rng = np.random.default_rng(3)
    noise = [rng.integers(0, 256, (24, 40)).astype(np.uint8) for _ in range(4)]
    round_trip(noise, shipped, 256)


def test_moving_sprites_cost_far_less_than_their_pixels(shipped):
    frames = sprite_stream((60, 80), frames=40)
    words = round_trip(frames, shipped, 6)
    first = len(encode_chunk(frames[:1], shipped.tables(6)))
    assert len(words) < 3 * first  # 40 frames in the cost of three first frames


def test_the_code_does_not_depend_on_colour_numbers(shipped):
    frames = sprite_stream((40, 56), frames=15)
    permutation = np.random.default_rng(4).permutation(6).astype(np.uint8)
    plain = encode_chunk(frames, shipped.tables(6))
    renumbered = round_trip([permutation[f] for f in frames], shipped, 6)
    assert abs(len(plain) - len(renumbered)) <= 2  # only constriction's rounding of permuted rows differs


def test_the_code_does_not_depend_on_where_the_picture_sits(shipped):
    """The same content on a larger canvas of one colour costs about the same: no table per position."""
    frames = sprite_stream((40, 56), frames=15)
    big = []
    for f in frames:
        canvas = np.zeros((40 + 24, 56 + 40), np.uint8)
        canvas[24:, 40:] = f
        big.append(canvas)
    small, large = len(encode_chunk(frames, shipped.tables(6))), len(round_trip(big, shipped, 6))
    assert large < 1.25 * small + 8


def test_adaptation_is_the_same_on_both_sides_and_pays(shipped):
    frames = sprite_stream((48, 64), frames=30)
    g = Geometry(*frames[0].shape)
    encoder = ChunkState(g, shipped.tables(6))
    for f in frames:
        analyse_frame(encoder, g.pad(f))
    decoder_tables = shipped.tables(6)
    words = encode_chunk(frames, shipped.tables(6))
    decode_chunk(words, frames[0].shape, len(frames), decoder_tables)
    for name in ("latent", "vector", "pixel", "colour"):
        assert np.array_equal(getattr(encoder.tables, name).counts, getattr(decoder_tables, name).counts), name
    assert not np.array_equal(decoder_tables.pixel.counts, shipped.tables(6).pixel.counts)
    frozen = encode_chunk(frames, shipped.tables(6, adapt=False))
    assert len(words) < len(frozen)


def test_deterministic_across_processes_and_thread_settings(shipped, tmp_path):
    frames = sprite_stream((40, 48), frames=10)
    np.save(tmp_path / "frames.npy", np.stack(frames))
    here = encode_chunk(frames, shipped.tables(6))
    script = ("import sys, numpy as np; from darnzip.frames.universal.coder import encode_chunk; "
              "from darnzip.frames.universal.modelfile import default_universal; "
              "f = list(np.load(sys.argv[1])); sys.stdout.buffer.write(np.asarray("
              "encode_chunk(f, default_universal()[0].tables(6)), '<u4').tobytes())")
    for threads in ("1", "2"):
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "frames.npy")], env=env,
                             capture_output=True, check=True).stdout
        assert out == np.asarray(here, "<u4").tobytes()


def test_damaged_words_fail_cleanly(shipped):
    frames = sprite_stream((32, 40), frames=8)
    words = encode_chunk(frames, shipped.tables(6))
    rng = np.random.default_rng(5)
    outcomes = set()
    for _ in range(30):
        bad = words.copy()
        bad[rng.integers(len(bad))] ^= np.uint32(1 << int(rng.integers(32)))
        try:
            back = decode_chunk(bad, frames[0].shape, len(frames), shipped.tables(6))
            outcomes.add("same" if all(np.array_equal(a, b) for a, b in zip(back, frames)) else "different")
        except (UniversalDecodeError, ValueError, IndexError, OverflowError) as exc:
            outcomes.add(type(exc).__name__)
    assert outcomes - {"different", "same"}  # most flips are caught by the decoder itself


def test_rank_orders_put_the_block_s_own_vector_first_then_the_commonest():
    own = np.array([5, 0, 0])
    predictions, ranked = cx.rank_orders(own, 9)
    contexts = cx.vector_contexts(predictions, np.array([False, True, False]))
    assert ranked[0, 0] == 5 and ranked[0, 1] == 9 and ranked[1, 0] == 9 and ranked[1, 1] == 0
    assert sorted(ranked[0]) == list(range(len(cx.VECTORS)))
    assert list(contexts) == [0, 4, 1]


def test_a_chunk_of_mostly_new_pixels_is_left_to_the_byte_coders(shipped):
    rng = np.random.default_rng(6)
    noise = [rng.integers(0, 8, (32, 32)).astype(np.uint8) for _ in range(5)]
    assert encode_chunk(noise, shipped.tables(8), max_drawn=3 * 32 * 32) is None
    assert encode_chunk(noise, shipped.tables(8), max_drawn=5 * 32 * 32) is not None


def test_scheme_1_model_decodes_its_golden_chunk_and_re_encodes_it_identically():
    """tests/golden/universal-frames-v1-chunk.npz: 16 Tutankham frames (play seed 4242) coded by the
    scheme-1 coder with universal-frames-v1 before scheme 2 existed; archives that name that model
    must decode for good."""
    model = _golden_v1()
    assert model.scheme == 1
    data = np.load(GOLDEN / "universal-frames-v1-chunk.npz")
    frames, words = list(data["frames"]), data["words"]
    colours = int(data["frames"].max()) + 1
    back = decode_chunk(words, frames[0].shape, len(frames), model.tables(colours))
    assert all(np.array_equal(a, b) for a, b in zip(frames, back))
    assert np.array_equal(encode_chunk(frames, model.tables(colours)), words)


def test_rank_orders_2_put_left_then_upper_then_own_then_commonest():
    count = cx.vector_count(2)
    predictions = np.array([[7, 9, 5, 11], [-1, 9, 9, -1], [-1, -1, -1, -1], [200, 200, -1, 3]])
    bits, ranked = cx.rank_orders_2(predictions)
    assert list(ranked[0, :4]) == [7, 9, 5, 11]
    assert list(ranked[1, :2]) == [9, 0] and list(ranked[2, :3]) == [0, 1, 2]
    assert list(ranked[3, :3]) == [200, 3, 0]
    assert all(sorted(row) == list(range(count)) for row in ranked)
    assert list(bits) == [15, 6, 0, 11 + 16]  # which predictions exist, and (16) left equals upper


def test_escapable_says_whether_a_colour_of_the_set_is_no_candidate():
    escape_set = np.zeros(8, bool)
    candidates = np.array([[3, 3, -1, 1], [3, 2, -1, 1], [4, 4, -1, 1], [3, 3, -1, 5]])  # (4, n): M, P, W, N
    assert list(cx.escapable(escape_set, candidates)) == [False] * 4
    escape_set[3] = True
    assert list(cx.escapable(escape_set, candidates)) == [False, False, True, True]
    escape_set[[1, 5]] = True
    assert list(cx.escapable(escape_set, candidates)) == [True, True, True, True]


def test_window_stats_find_exactly_the_reproducing_vectors():
    """ChunkState.reproducing (window extremes and sums, then pixel checks) equals comparing every pixel, over
    both reference frames, for blocks of one colour, of many, and over the frame's edge."""
    rng = np.random.default_rng(8)
    shape = (37, 45)
    g = Geometry(*shape)
    state = ChunkState(g, UniversalModel.untrained().tables(3))
    for _ in range(2):
        frame = (rng.random(shape) < 0.2).astype(np.uint8) + (rng.random(shape) < 0.1)
        frame[:16, :24] = 1
        state.advance(g.pad(frame), np.zeros(g.blocks, np.int64), np.zeros(g.blocks, np.int64))
    cur = state.prev.copy()
    cur[g.block_pixels(np.array([3]))] = 1  # a block of one colour that many windows reproduce
    blocks = np.arange(g.blocks)
    ranked = np.broadcast_to(np.arange(state.vector_count), (g.blocks, state.vector_count))
    fast = state.reproducing(cur, blocks, ranked)
    assert np.array_equal(fast, state.agreement(cur, blocks, ranked).all(axis=2))
    assert fast[3].sum() > 10 and fast.any(axis=1).sum() >= g.blocks // 2


def scrolling_stream(shape=(48, 64), frames=12, seed=9):
    """A textured screen that scrolls two rows a frame, new rows entering at the top."""
    rng = np.random.default_rng(seed)
    tall = (rng.random((shape[0] + 2 * frames, shape[1])) < 0.15).astype(np.uint8) * 3
    tall[:, ::9] = 2
    return [np.ascontiguousarray(tall[2 * (frames - t):2 * (frames - t) + shape[0]]) for t in range(frames)]


def _golden_v1():
    """universal-frames-v1 (scheme 1), whose files are kept beside its golden chunk."""
    from darnzip.core.zoo import registry
    from darnzip.frames.universal.modelfile import load_universal_file

    return load_universal_file(GOLDEN / "universal-frames-v1.safetensors", registry()["universal-frames-v1"]["sha256"])[0]


def test_the_shipped_scheme_2_model_codes_a_scrolling_screen_far_cheaper_than_v1(shipped):
    scroll = scrolling_stream()
    assert shipped.scheme == 2
    v1, v2 = (len(round_trip(scroll, model, 4)) for model in (_golden_v1(), shipped))
    assert v2 < 0.7 * v1, (v1, v2)


def test_an_escape_set_makes_a_new_colour_over_many_pixels_cheap():
    base = sprite_stream((48, 64), frames=6, colours=6)
    painted = [f.copy() for f in base]
    for f in painted[3:]:
        f[10:40, 8:50] = 6  # a colour no earlier frame had, over many pixels
    extra = {s: len(round_trip(painted, UniversalModel.untrained(scheme=s), 7))
             - len(encode_chunk(base, UniversalModel.untrained(scheme=s).tables(7))) for s in (1, 2)}
    assert extra[2] < 0.5 * extra[1], extra
