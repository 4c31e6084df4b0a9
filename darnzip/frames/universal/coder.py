"""Bits-back coding of a chunk of palette frames with the universal model: encode_chunk / decode_chunk.

Frame t is coded as a DARN with binary latents per block (drawn or copied; a copy still or moved, and a
moved copy's vector) and pixels p(x | h, context). Decoding frame t: pop the blocks' states under the
prior, pop the moved blocks' vector ranks under the prior, copy, pop the drawn blocks' pixels one
anti-diagonal step at a time, then push each moved block's vector back under the posterior q(v | x): the
prior restricted to the vectors that reproduce the block (bits-back: a moved copy costs -log2 of the prior
mass of all the vectors that reproduce it). The encoder runs the exact reverse, frame after frame from
the chunk's last; the chunk's last frame (the first one pushed) has nothing to pop from, so there q is
a point mass on the likeliest reproducing vector. After each frame both sides update the count tables
(darnzip.core.counts) with what the frame coded, so the code learns the stream while it codes it. Everything the
next frame's probabilities depend on is a function of the decoded frames alone, never of a popped vector.
"""
from __future__ import annotations

import dataclasses

import constriction
import numpy as np

from . import contexts as cx
from .geometry import STEP_COLS, STEP_ROWS, STEPS, Geometry
from darnzip.core.counts import CountTable

CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


class UniversalDecodeError(ValueError):
    """The words do not decode to frames the model could have coded (a damaged or foreign stream)."""


@dataclasses.dataclass
class Tables:
    latent: CountTable
    vector: CountTable
    pixel: CountTable
    colour: CountTable


class ChunkState:
    """What both sides know before frame t: frames t-1 and t-2, each block's state and vector at t-1."""

    def __init__(self, geometry: Geometry, tables: Tables):
        self.g, self.tables = geometry, tables
        self.prev = geometry.empty()
        self.prev2 = geometry.empty()
        self.states = np.full(geometry.blocks, cx.NONE, dtype=np.int64)
        self.vectors = np.zeros(geometry.blocks, dtype=np.int64)
        self.common = cx.NO_VECTOR
        self.offsets = cx.vector_offsets(geometry.stride)
        self.in_block = geometry.in_block
        self.real_in_block = geometry.real[geometry.block_pixels(np.arange(geometry.blocks))]

    def latent_contexts(self) -> np.ndarray:
        return cx.latent_contexts(self.states, self.g.neighbours)

    def vector_ranks(self, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n,) the blocks' predictions, (n, V) the vector of each rank (contexts.rank_orders)."""
        return cx.rank_orders(self.vectors[blocks], self.common)

    def agreement(self, cur: np.ndarray, blocks: np.ndarray, ranked: np.ndarray) -> np.ndarray:
        """(n, V, 64) bool: where each vector (by rank) reads from frame t-1 what each block holds
        (positions outside the frame always agree)."""
        pixels = self.g.block_pixels(blocks)  # (n, 64)
        source = self.prev[pixels[:, None, :] - self.offsets[ranked][:, :, None]]  # (n, V, 64)
        return (source == cur[pixels][:, None, :]) | ~self.real_in_block[blocks][:, None, :]

    def copy_blocks(self, cur: np.ndarray, blocks: np.ndarray, vectors: np.ndarray) -> None:
        """Write the blocks as copies of frame t-1 read at p - v."""
        pixels = self.g.block_pixels(blocks)
        real = self.real_in_block[blocks]
        cur[pixels[real]] = self.prev[(pixels - self.offsets[vectors][:, None])[real]]

    def drawn_map(self, drawn_blocks: np.ndarray) -> np.ndarray:
        """(padded,) bool: the pixels of the drawn blocks."""
        drawn = np.zeros(self.prev.shape, dtype=bool)
        drawn[self.g.block_pixels(drawn_blocks)] = True
        return drawn

    def step_pixels(self, drawn_blocks: np.ndarray, shifts: np.ndarray, step: int):
        """The real pixels of the drawn blocks on one anti-diagonal: flat indices, rows and columns in
        their blocks, their blocks' vectors as flat offsets."""
        idx = self.g.block_origins[drawn_blocks][:, None] + self.in_block[STEPS[step]][None, :]
        real = self.real_in_block[drawn_blocks][:, STEPS[step]]
        shape = (len(drawn_blocks), len(STEPS[step]))
        rows = np.broadcast_to(STEP_ROWS[step], shape)[real]
        cols = np.broadcast_to(STEP_COLS[step], shape)[real]
        return idx[real], rows, cols, np.broadcast_to(shifts[:, None], shape)[real]

    def advance(self, cur: np.ndarray, states: np.ndarray, blocks: np.ndarray, vectors: np.ndarray) -> None:
        """Frame t becomes t-1: the blocks' states and vectors (0 for still blocks), and the frame's
        commonest vector other than (0, 0)."""
        self.prev2, self.prev = self.prev, cur
        self.states = states
        self.vectors = np.zeros(self.g.blocks, dtype=np.int64)
        self.vectors[blocks] = vectors
        moving = vectors[vectors > 0]
        self.common = int(np.bincount(moving).argmax()) if len(moving) else cx.NO_VECTOR


def _canonical_ranks(counts: np.ndarray, reproducing: np.ndarray) -> np.ndarray:
    """The likeliest reproducing rank of each block under the prior counts (the lowest rank on a tie)."""
    return np.where(reproducing, counts, -1).argmax(axis=1)


def _posterior_groups(counts: np.ndarray, reproducing: np.ndarray):
    """q(v | x) by the number of reproducing vectors (constriction's categorical needs one row width a
    call, and a row over all vectors could pop one that does not reproduce its block): yields (rows of
    the group, (n, size) int ranks of its vectors, (n, size) float64 q)."""
    sizes = reproducing.sum(axis=1)
    for size in np.unique(sizes):
        if size < 2:
            continue
        rows = np.flatnonzero(sizes == size)
        ranks = np.nonzero(reproducing[rows])[1].reshape(len(rows), size)
        weights = np.take_along_axis(counts[rows], ranks, axis=1)
        yield rows, ranks, weights / weights.sum(axis=1, keepdims=True)


def escape_contexts(candidates: np.ndarray, colours: int) -> np.ndarray:
    """(4, n) candidates (M, P, W, N) -> (n,) contexts of escaped colours: the colour at P, or `colours`
    past the frame's edge."""
    return np.where(candidates[1] < 0, colours, candidates[1])


def _escape_counts(counts: np.ndarray, steps: list) -> tuple[np.ndarray, np.ndarray]:
    """The colour counts a frame's escapes are coded with: the rows of their contexts alone (a frame
    seldom escapes from more than a few colours), as (which rows, their counts)."""
    colours = counts.shape[1]
    used = np.unique(np.concatenate([escape_contexts(s[3], colours) for s in steps])) if steps else np.zeros(0, int)
    return used, counts[used].copy()


def _colour_rows(counts: np.ndarray, where: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(k, colours) colour counts, (n,) the row of each escape, (4, n) candidates -> (n, colours) rows of
    an escaped colour: no candidate's colour."""
    rows = counts[where]
    for cand in candidates:
        ok = cand >= 0
        rows[np.flatnonzero(ok), cand[ok]] = 0
    sums = rows.sum(axis=1, keepdims=True)
    empty = sums[:, 0] == 0  # only a damaged stream escapes there; any row lets it fail cleanly later
    rows[empty] = 1
    sums[empty] = rows.shape[1]
    return rows / sums


@dataclasses.dataclass
class FrameCode:
    """What the encoder pushes for one frame, with the tables' state it was coded under."""
    latent_contexts: np.ndarray
    vector_contexts: np.ndarray
    latent_rows: np.ndarray
    states: np.ndarray
    vector_rows: np.ndarray  # of the blocks not still, in block order
    ranks: np.ndarray  # their vectors' ranks: the likeliest reproducing one for moved blocks
    moved: np.ndarray  # which of them are moved
    vector_counts: np.ndarray  # of the moved blocks
    reproducing: np.ndarray  # of the moved blocks
    pixel_rows: np.ndarray
    colour_counts: tuple  # (escape contexts, their counts): _escape_counts
    steps: list  # per step: (contexts, symbols, escaped colours, their candidates)


def _pixel_steps(state: ChunkState, cur: np.ndarray, drawn_blocks: np.ndarray, shifts: np.ndarray):
    """Yield each anti-diagonal step's (pixels, contexts, candidates): the encoder's cur is whole, the
    decoder fills its cur in between steps."""
    drawn = state.drawn_map(drawn_blocks)
    for step in range(len(STEPS)):
        idx, rows, cols, shift = state.step_pixels(drawn_blocks, shifts, step)
        if len(idx):
            ctx, cands = cx.pixel_contexts(cur, state.prev, state.prev2, drawn, idx, rows, cols, shift, state.g.stride)
            yield idx, ctx, cands


def analyse_frame(state: ChunkState, cur: np.ndarray) -> FrameCode:
    """The encoder's forward pass over frame t (flat padded): its latents, vectors and pixel symbols under
    the tables as they stand, then the tables and the state advanced past it."""
    g, tables = state.g, state.tables
    latent_ctx = state.latent_contexts()
    all_pixels = g.block_pixels(np.arange(g.blocks))
    changed = np.flatnonzero(np.any(cur[all_pixels] != state.prev[all_pixels], axis=1))
    predictions, ranked = state.vector_ranks(changed)
    agree = state.agreement(cur, changed, ranked)
    reproducing = agree.all(axis=2)
    is_moved = reproducing.any(axis=1)
    states = np.full(g.blocks, cx.STILL, dtype=np.int64)
    states[changed] = np.where(is_moved, cx.MOVED, cx.DRAWN)
    vec_ctx = cx.vector_contexts(predictions, ~is_moved)
    vector_counts = tables.vector.counts[vec_ctx[is_moved]]
    ranks = agree.sum(axis=2).argmax(axis=1)  # a drawn block predicts from its best-matching vector
    ranks[is_moved] = _canonical_ranks(vector_counts, reproducing[is_moved])
    vectors = ranked[np.arange(len(changed)), ranks]

    drawn_blocks = changed[~is_moved]
    shifts = state.offsets[vectors[~is_moved]]
    pixel_rows = tables.pixel.rows()
    steps = []
    for idx, ctx, cands in _pixel_steps(state, cur, drawn_blocks, shifts):
        values = cur[idx]
        sym = cx.pixel_symbols(values, cands)
        esc = sym == cx.ESCAPE
        steps.append((ctx.astype(np.int16), sym.astype(np.int8), values[esc], cands[:, esc]))
    colour_counts = _escape_counts(tables.colour.counts, steps)
    code = FrameCode(latent_ctx, vec_ctx, tables.latent.rows()[latent_ctx], states, tables.vector.rows()[vec_ctx],
                     ranks, is_moved, vector_counts, reproducing[is_moved], pixel_rows, colour_counts, steps)
    _update(state, cur, latent_ctx, states, changed, vec_ctx, ranks, vectors, steps)
    return code


def _update(state: ChunkState, cur, latent_ctx, states, blocks, vec_ctx, ranks, vectors, steps) -> None:
    t = state.tables
    t.latent.update(latent_ctx, states)
    t.vector.update(vec_ctx, ranks)
    if steps:
        t.pixel.update(np.concatenate([s[0] for s in steps]), np.concatenate([s[1] for s in steps]))
        escaped = np.concatenate([s[2] for s in steps])
        t.colour.update(np.concatenate([escape_contexts(s[3], t.colour.shape[1]) for s in steps]), escaped)
    state.advance(cur, states, blocks, vectors)


def push_frame(coder, code: FrameCode, bits_back: bool) -> None:
    """Push one analysed frame (the reverse of pop_frame)."""
    ranks = code.ranks.copy()
    if bits_back:  # pop each moved block's vector from q, in the decoder's push order reversed
        moved_ranks = ranks[code.moved]
        for rows, group_ranks, q in _posterior_groups(code.vector_counts, code.reproducing):
            moved_ranks[rows] = group_ranks[np.arange(len(rows)), coder.decode(CATEGORICAL, q)]
        ranks[code.moved] = moved_ranks
    for ctx, sym, colours, cands in reversed(code.steps):
        used, counts = code.colour_counts
        if len(colours) and counts.shape[1] > 1:  # of one colour, an escape says which
            where = np.searchsorted(used, escape_contexts(cands, counts.shape[1]))
            coder.encode_reverse(colours.astype(np.int32), CATEGORICAL, _colour_rows(counts, where, cands))
        coder.encode_reverse(sym.astype(np.int32), CATEGORICAL, code.pixel_rows[ctx])
    if len(ranks):
        coder.encode_reverse(ranks.astype(np.int32), CATEGORICAL, code.vector_rows)
    coder.encode_reverse(code.states.astype(np.int32), CATEGORICAL, code.latent_rows)


def pop_frame(coder, state: ChunkState, bits_back: bool) -> np.ndarray:
    """Decode frame t (flat padded) and advance the state and the tables past it."""
    g, tables = state.g, state.tables
    latent_ctx = state.latent_contexts()
    states = np.asarray(coder.decode(CATEGORICAL, tables.latent.rows()[latent_ctx]), dtype=np.int64)
    changed = np.flatnonzero(states != cx.STILL)
    is_moved = states[changed] == cx.MOVED
    predictions, ranked = state.vector_ranks(changed)
    vec_ctx = cx.vector_contexts(predictions, ~is_moved)
    ranks = np.asarray(coder.decode(CATEGORICAL, tables.vector.rows()[vec_ctx]), dtype=np.int64) if len(changed) \
        else np.zeros(0, np.int64)
    vectors = ranked[np.arange(len(changed)), ranks]
    cur = g.empty()
    still = np.flatnonzero(states == cx.STILL)
    state.copy_blocks(cur, still, np.zeros(len(still), np.int64))
    moved = changed[is_moved]
    state.copy_blocks(cur, moved, vectors[is_moved])
    drawn_blocks = changed[~is_moved]
    colour_counts = tables.colour.counts
    steps = []
    for idx, ctx, cands in _pixel_steps(state, cur, drawn_blocks, state.offsets[vectors[~is_moved]]):
        sym = np.asarray(coder.decode(CATEGORICAL, tables.pixel.rows()[ctx]), dtype=np.int64)
        esc = sym == cx.ESCAPE
        values = cands[np.minimum(sym, cx.CANDIDATES - 1), np.arange(len(idx))]
        if esc.any() and colour_counts.shape[1] == 1:
            values[esc] = 0
        elif esc.any():
            where = escape_contexts(cands[:, esc], colour_counts.shape[1])
            values[esc] = coder.decode(CATEGORICAL, _colour_rows(colour_counts, where, cands[:, esc]))
        cur[idx] = values
        steps.append((ctx, sym, values[esc], cands[:, esc]))
    if np.any(cur[g.real] < 0):
        raise UniversalDecodeError("a block reads positions outside the frame")
    vector_counts = tables.vector.counts[vec_ctx[is_moved]]
    reproducing = state.agreement(cur, moved, ranked[is_moved]).all(axis=2)
    moved_ranks = ranks[is_moved]
    if not reproducing[np.arange(len(moved)), moved_ranks].all():
        raise UniversalDecodeError("a moved block's vector does not reproduce it")
    canonical = _canonical_ranks(vector_counts, reproducing)
    if bits_back:  # push the vectors back under q, groups in the reverse of the encoder's pop order
        for rows, group_ranks, q in reversed(list(_posterior_groups(vector_counts, reproducing))):
            picked = np.argmax(group_ranks == moved_ranks[rows][:, None], axis=1)
            coder.encode_reverse(picked.astype(np.int32), CATEGORICAL, q)
    elif not np.array_equal(moved_ranks, canonical):
        raise UniversalDecodeError("the last frame's vectors are not the likeliest")
    ranks[is_moved] = canonical
    vectors = ranked[np.arange(len(changed)), ranks]
    _update(state, cur, latent_ctx, states, changed, vec_ctx, ranks, vectors, steps)
    return cur


MAX_DRAWN_PIXELS = 4 << 20  # the encoder holds a chunk's analysis until it pushes it: ~20 bytes a drawn pixel


def encode_chunk(frames: list[np.ndarray], tables: Tables, max_drawn: int = MAX_DRAWN_PIXELS) -> np.ndarray | None:
    """(H, W) uint8 palette frames of one size, the tables to start from (changed) -> the ANS words; None
    when the model would draw more than `max_drawn` pixels (a chunk of mostly new pixels, noise say, where
    it would hold too much memory and a byte compressor does as well)."""
    geometry = Geometry(*frames[0].shape)
    state = ChunkState(geometry, tables)
    codes, drawn = [], 0
    for frame in frames:
        codes.append(analyse_frame(state, geometry.pad(frame)))
        drawn += sum(len(step[1]) for step in codes[-1].steps)
        if drawn > max_drawn:
            return None
    coder = constriction.stream.stack.AnsCoder()
    for n, code in enumerate(reversed(codes)):
        push_frame(coder, code, bits_back=n > 0)
    return coder.get_compressed()


def decode_chunk(words: np.ndarray, shape: tuple[int, int], count: int, tables: Tables) -> list[np.ndarray]:
    """The `count` frames of the given (height, width) that encode_chunk coded to `words`."""
    geometry = Geometry(*shape)
    state = ChunkState(geometry, tables)
    coder = constriction.stream.stack.AnsCoder(np.asarray(words, dtype=np.uint32))
    frames = []
    for i in range(count):
        frames.append(geometry.unpad(pop_frame(coder, state, bits_back=i < count - 1)))
    if not coder.is_empty():
        raise UniversalDecodeError("unused coded data after the last frame")
    return frames
