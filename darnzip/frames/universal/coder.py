"""Bits-back coding of a chunk of palette frames with the universal model: encode_chunk / decode_chunk.

Frame t is coded as a DARN with binary latents per block (drawn or copied; a copy still or moved, and a
moved copy's vector) and pixels p(x | h, context). Decoding frame t: pop the blocks' states under the
prior, pop the moved blocks' vector ranks under the prior, copy, pop the drawn blocks' pixels one
anti-diagonal step at a time, then push each moved block's vector back under the posterior q(v | x): the
prior restricted to the vectors that reproduce the block (bits-back: a moved copy costs -log2 of the prior
mass of all the vectors that reproduce it). The encoder runs the exact reverse, frame after frame from
the chunk's last; the chunk's last frame (the first one pushed) has nothing to pop from, so there q is
a point mass on the likeliest reproducing vector. After each frame both sides update the count tables
(darnzip.core.counts) with what the frame coded, so the code learns the stream while it codes it (in
scheme 2 the pixel table learns after every anti-diagonal step too). Everything the next
probabilities depend on is a function of what was decoded, never of a popped vector: a moved block's
neighbours read its likeliest reproducing vector.

Scheme 2 (contexts.py) pops the blocks' states and vectors one anti-diagonal of the block grid at a
time, then the frame's escape set, then the pixels; scheme 1 (universal-frames-v1) pops every block's
state, then every vector, then the pixels.
"""
from __future__ import annotations

import dataclasses

import constriction
import numpy as np

from . import contexts as cx
from .geometry import PROBES, STEP_COLS, STEP_ROWS, STEPS, Geometry, window_stats
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
    scheme: int = 1  # how the frames are coded (contexts.py)
    escape: CountTable | None = None  # scheme 2: which colours a frame's escapes take


class ChunkState:
    """What both sides know before frame t: the frames before it that vectors read (and t-2), each
    block's state and vector at t-1."""

    def __init__(self, geometry: Geometry, tables: Tables):
        self.g, self.tables, self.scheme = geometry, tables, tables.scheme
        self.prev = geometry.empty()
        self.prev2 = geometry.empty()
        self.references = cx.REFERENCES[self.scheme]
        self.frames = [self.prev] * self.references  # t-1, t-2, ...: what vectors read
        self.history = np.concatenate(self.frames)
        self.windows = [window_stats(self.prev, geometry.padded_shape)] * self.references
        self.low, self.high, self.total = (np.concatenate(e) for e in zip(*self.windows))
        self.states = np.full(geometry.blocks, cx.NONE, dtype=np.int64)
        self.vectors = np.zeros(geometry.blocks, dtype=np.int64)
        self.common = cx.NO_VECTOR
        colours = tables.colour.shape[1]
        self.escaped_since = np.zeros(colours, dtype=np.int64)  # scheme 2: frames since each last escaped
        self.vector_count = cx.vector_count(self.scheme)
        self.offsets = cx.vector_offsets(geometry.stride, len(self.prev), self.references)
        self.in_block = geometry.in_block
        self.real_in_block = geometry.real[geometry.block_pixels(np.arange(geometry.blocks))]

    def latent_steps(self) -> list[np.ndarray]:
        """The blocks whose latents are coded together, step by step: all at once (scheme 1), or one
        anti-diagonal of the block grid at a time (scheme 2)."""
        return [np.arange(self.g.blocks)] if self.scheme == 1 else self.g.block_diagonals

    def state_contexts(self, base: np.ndarray, blocks: np.ndarray, states_now: np.ndarray) -> np.ndarray:
        """(blocks,) scheme-1 contexts of every block, the blocks of a step, (blocks + 1,) the states of
        frame t as far as known (the last: NONE, for no neighbour) -> the step's state contexts."""
        if self.scheme == 1:
            return base[blocks]
        upper, left = self.g.upper_left
        return cx.latent_contexts_2(base[blocks], states_now[upper[blocks]], states_now[left[blocks]])

    def vector_ranks(self, blocks: np.ndarray, states_now: np.ndarray,
                     vectors_now: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n,) the blocks' prediction contexts, (n, V) the vector of each rank (contexts.rank_orders,
        rank_orders_2), from what frame t has shown so far ((blocks + 1,) states and vectors)."""
        own = self.vectors[blocks]
        if self.scheme == 1:
            return cx.rank_orders(own, self.common)
        predictions = np.full((len(blocks), cx.PREDICTIONS_2), -1, dtype=np.int64)
        for k, neighbour in enumerate(self.g.upper_left[::-1]):  # left, then upper
            j = neighbour[blocks]
            changed = (states_now[j] == cx.MOVED) | (states_now[j] == cx.DRAWN)
            predictions[changed, k] = vectors_now[j[changed]]
        predictions[own > 0, 2] = own[own > 0]
        predictions[:, 3] = self.common if self.common > 0 else -1
        return cx.rank_orders_2(predictions)

    def vector_contexts(self, predictions: np.ndarray, drawn: np.ndarray) -> np.ndarray:
        return (cx.vector_contexts if self.scheme == 1 else cx.vector_contexts_2)(predictions, drawn)

    def latent_contexts(self) -> np.ndarray:
        return cx.latent_contexts(self.states, self.g.neighbours)

    def agreement(self, cur: np.ndarray, blocks: np.ndarray, ranked: np.ndarray) -> np.ndarray:
        """(n, V, 64) bool: where each vector (by rank) reads from frame t-1 what each block holds
        (positions outside the frame always agree)."""
        pixels = self.g.block_pixels(blocks)  # (n, 64)
        source = self.history[pixels[:, None, :] - self.offsets[ranked][:, :, None]]  # (n, V, 64)
        return (source == cur[pixels][:, None, :]) | ~self.real_in_block[blocks][:, None, :]

    def reproducing(self, cur: np.ndarray, blocks: np.ndarray, ranked: np.ndarray) -> np.ndarray:
        """(n, V) bool: which vectors (by rank) read from the history exactly what each block holds.
        The same as agreement(...).all(axis=2), found faster: a window whose extremes or sum differ from
        the block's cannot equal it, and a block of one colour equals every window of that colour alone."""
        out = np.zeros(ranked.shape, dtype=bool)
        whole = self.real_in_block[blocks].all(axis=1)
        part = np.flatnonzero(~whole)
        if len(part):  # a block over the frame's edge: compared pixel by pixel
            out[part] = self.agreement(cur, blocks[part], ranked[part]).all(axis=2)
        rows = np.flatnonzero(whole)
        if len(rows):
            values = cur[self.g.block_pixels(blocks[rows])]
            low, high = values.min(axis=1), values.max(axis=1)
            source = self.g.block_origins[blocks[rows]][:, None] - self.offsets[ranked[rows]]
            possible = (self.low[source] == low[:, None]) & (self.high[source] == high[:, None])
            one_colour = low == high
            possible[~one_colour] &= self.total[source[~one_colour]] == values[~one_colour].sum(axis=1)[:, None]
            out[rows[one_colour]] = possible[one_colour]
            r, k = np.nonzero(possible & ~one_colour[:, None])
            if len(r):
                equal = self.history[source[r, k][:, None] + self.in_block[None, :]] == values[r]
                out[rows[r], k] = equal.all(axis=1)
        return out

    def best_matches(self, cur: np.ndarray, blocks: np.ndarray, ranked: np.ndarray,
                     rank_probabilities: np.ndarray) -> np.ndarray:
        """(n,) the rank of the vector that predicts each drawn block best (the lowest rank on a tie), the
        encoder's choice alone: the most of all 64 pixels (scheme 1), or (scheme 2) the most of the 32
        of a checkerboard less the bits its rank costs under (n, V) rank_probabilities -- a far vector
        that matches a few pixels more than a predicted one is not worth its price."""
        if self.scheme == 1:
            return self.agreement(cur, blocks, ranked).sum(axis=2).argmax(axis=1)
        pixels = self.g.block_pixels(blocks)[:, PROBES]  # (n, 32)
        source = self.history[pixels[:, None, :] - self.offsets[ranked][:, :, None]]
        agree = (source == cur[pixels][:, None, :]) | ~self.real_in_block[blocks][:, None, PROBES]
        return (agree.sum(axis=2) * PROBE_BITS + np.log2(rank_probabilities)).argmax(axis=1)

    def copy_blocks(self, cur: np.ndarray, blocks: np.ndarray, vectors: np.ndarray) -> None:
        """Write the blocks as copies of the history read at p - v."""
        pixels = self.g.block_pixels(blocks)
        real = self.real_in_block[blocks]
        cur[pixels[real]] = self.history[(pixels - self.offsets[vectors][:, None])[real]]

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

    def advance(self, cur: np.ndarray, states: np.ndarray, vectors: np.ndarray) -> None:
        """Frame t becomes t-1: the blocks' states and (blocks,) vectors (0 for still blocks), and the
        frame's commonest vector other than (0, 0)."""
        self.prev2, self.prev = self.prev, cur
        self.frames = [cur] + self.frames[:self.references - 1]
        self.history = np.concatenate(self.frames)
        self.windows = [window_stats(cur, self.g.padded_shape)] + self.windows[:self.references - 1]
        self.low, self.high, self.total = (np.concatenate(e) for e in zip(*self.windows))
        self.states = states
        self.vectors = vectors
        moving = vectors[vectors > 0]
        self.common = int(np.bincount(moving).argmax()) if len(moving) else cx.NO_VECTOR


PROBE_BITS = 2.0  # what the encoder reckons a probe that a drawn block's vector predicts saves (two pixels)


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
    used = np.unique(np.concatenate([escape_contexts(s.candidates, colours) for s in steps])) if steps \
        else np.zeros(0, int)
    return used, counts[used].copy()


def _colour_rows(counts: np.ndarray, where: np.ndarray, candidates: np.ndarray,
                 escape_set: np.ndarray | None) -> np.ndarray:
    """(k, colours) colour counts, (n,) the row of each escape, (4, n) candidates, the frame's escape set
    (scheme 2) -> (n, colours) rows of an escaped colour: a colour of the set, no candidate's colour."""
    rows = counts[where]
    if escape_set is not None:
        rows[:, ~escape_set] = 0
    for cand in candidates:
        ok = cand >= 0
        rows[np.flatnonzero(ok), cand[ok]] = 0
    sums = rows.sum(axis=1, keepdims=True)
    empty = sums[:, 0] == 0  # only a damaged stream escapes there; any row lets it fail cleanly later
    rows[empty] = 1
    sums[empty] = rows.shape[1]
    return rows / sums


@dataclasses.dataclass
class LatentStep:
    """One step of a frame's block latents: the blocks' states, then the vector ranks of those not still."""
    state_contexts: np.ndarray
    states: np.ndarray
    vector_contexts: np.ndarray
    ranks: np.ndarray  # the likeliest reproducing rank for moved blocks (the decoder's canonical one)
    moved: np.ndarray  # which of the blocks not still are moved
    vector_counts: np.ndarray  # prior counts of the moved blocks' contexts
    reproducing: np.ndarray  # (moved, V) which ranks reproduce each moved block

    @classmethod
    def all_still(cls, state_contexts: np.ndarray, states: np.ndarray, vector_count: int) -> "LatentStep":
        """A step whose blocks are all still: no vector is coded."""
        return cls(state_contexts, states, _no_ranks(), _no_ranks(), np.zeros(0, bool),
                   np.zeros((0, vector_count), np.int64), np.zeros((0, vector_count), bool))


@dataclasses.dataclass
class PixelStep:
    """One anti-diagonal step of a frame's drawn pixels."""
    contexts: np.ndarray
    symbols: np.ndarray
    counts: np.ndarray  # (n, symbols) int32: the pixel table's counts of their contexts when coded
    escapable: np.ndarray | None  # scheme 2: whether each could escape (contexts.escapable)
    colours: np.ndarray  # the escaped pixels' colours
    candidates: np.ndarray  # (4, escaped) their candidates


def _pixel_rows(counts: np.ndarray, escapable: np.ndarray | None) -> np.ndarray:
    """(n, symbols) counts -> probabilities, with no mass on an escape that cannot happen (scheme 2). The
    candidate M is allowed in every context, so a row never sums to 0."""
    counts = counts.astype(np.int64)
    if escapable is not None:
        counts[~escapable, cx.ESCAPE] = 0
    return counts / counts.sum(axis=1, keepdims=True)


@dataclasses.dataclass
class FrameCode:
    """What the encoder pushes for one frame, with the tables' state it was coded under."""
    latent_rows: np.ndarray
    vector_rows: np.ndarray
    latents: list  # of LatentStep, in the decoder's order
    escape_set: np.ndarray | None  # scheme 2: (colours,) int, 1 for each colour the frame's escapes take
    escape_set_contexts: np.ndarray | None
    escape_set_rows: np.ndarray | None
    colour_counts: tuple  # (escape contexts, their counts): _escape_counts
    steps: list  # of PixelStep


def _pixel_steps(state: ChunkState, cur: np.ndarray, drawn_blocks: np.ndarray, shifts: np.ndarray):
    """Yield each anti-diagonal step's (pixels, contexts, candidates): the encoder's cur is whole, the
    decoder fills its cur in between steps."""
    drawn = state.drawn_map(drawn_blocks)
    for step in range(len(STEPS)):
        idx, rows, cols, shift = state.step_pixels(drawn_blocks, shifts, step)
        if len(idx):
            ctx, cands = cx.pixel_contexts(cur, state.history, state.prev2, drawn, idx, rows, cols, shift, state.g.stride)
            yield idx, ctx, cands


def _no_ranks() -> np.ndarray:
    return np.zeros(0, np.int64)


def analyse_frame(state: ChunkState, cur: np.ndarray) -> FrameCode:
    """The encoder's forward pass over frame t (flat padded): its latents, vectors and pixel symbols under
    the tables as they stand, then the tables and the state advanced past it."""
    g, tables = state.g, state.tables
    base = state.latent_contexts()
    all_pixels = g.block_pixels(np.arange(g.blocks))
    changed = np.flatnonzero(np.any(cur[all_pixels] != state.prev[all_pixels], axis=1))
    fixed = np.broadcast_to(np.arange(state.vector_count), (len(changed), state.vector_count))
    reproducing = state.reproducing(cur, changed, fixed)  # vectors in the fixed order
    is_moved = reproducing.any(axis=1)
    states = np.full(g.blocks + 1, cx.STILL, dtype=np.int64)  # the last: none (geometry.upper_left)
    states[-1] = cx.NONE
    states[changed] = np.where(is_moved, cx.MOVED, cx.DRAWN)
    where = np.full(g.blocks, -1, dtype=np.int64)
    where[changed] = np.arange(len(changed))
    vectors = np.zeros(g.blocks + 1, dtype=np.int64)
    latents = []
    for blocks in state.latent_steps():
        state_ctx = state.state_contexts(base, blocks, states)
        mine = blocks[states[blocks] != cx.STILL]
        if not len(mine):
            latents.append(LatentStep.all_still(state_ctx, states[blocks], state.vector_count))
            continue
        i = where[mine]
        predictions, ranked = state.vector_ranks(mine, states, vectors)
        moved = is_moved[i]
        vec_ctx = state.vector_contexts(predictions, ~moved)
        counts = tables.vector.counts[vec_ctx[moved]]
        reproduces = np.take_along_axis(reproducing[i], ranked, axis=1)
        ranks = np.zeros(len(mine), dtype=np.int64)
        ranks[~moved] = state.best_matches(cur, mine[~moved], ranked[~moved], tables.vector.rows()[vec_ctx[~moved]])
        ranks[moved] = _canonical_ranks(counts, reproduces[moved])
        vectors[mine] = ranked[np.arange(len(mine)), ranks]
        latents.append(LatentStep(state_ctx, states[blocks], vec_ctx, ranks, moved, counts, reproduces[moved]))

    states, vectors = states[:-1], vectors[:-1]
    drawn_blocks = np.flatnonzero(states == cx.DRAWN)
    steps, candidates = [], []
    for idx, ctx, cands in _pixel_steps(state, cur, drawn_blocks, state.offsets[vectors[drawn_blocks]]):
        values = cur[idx]
        sym = cx.pixel_symbols(values, cands)
        esc = sym == cx.ESCAPE
        steps.append(PixelStep(ctx.astype(np.int16), sym.astype(np.int8), tables.pixel.counts[ctx].astype(np.int32),
                               None, values[esc], cands[:, esc]))
        candidates.append(cands)
        if state.scheme == 2:  # the pixel table learns step by step
            tables.pixel.update(ctx, sym)
    escape_set = set_contexts = set_rows = None
    if state.scheme == 2:
        escape_set = np.zeros(tables.colour.shape[1], dtype=np.int64)
        for step in steps:
            escape_set[step.colours] = 1
        for step, cands in zip(steps, candidates):
            step.escapable = cx.escapable(escape_set == 1, cands)
        set_contexts = cx.escape_set_contexts(state.escaped_since)
        set_rows = tables.escape.rows()[set_contexts]
    colour_counts = _escape_counts(tables.colour.counts, steps)
    code = FrameCode(tables.latent.rows(), tables.vector.rows(), latents, escape_set, set_contexts, set_rows,
                     colour_counts, steps)
    _update(state, cur, latents, states, vectors, steps, escape_set, set_contexts)
    return code


def _update(state: ChunkState, cur, latents: list, states, vectors, steps, escape_set, set_contexts) -> None:
    t = state.tables
    t.latent.update(np.concatenate([s.state_contexts for s in latents]), np.concatenate([s.states for s in latents]))
    t.vector.update(np.concatenate([s.vector_contexts for s in latents]), np.concatenate([s.ranks for s in latents]))
    if steps:
        if state.scheme == 1:  # scheme 2 updated it after each step
            t.pixel.update(np.concatenate([s.contexts for s in steps]), np.concatenate([s.symbols for s in steps]))
        escaped = np.concatenate([s.colours for s in steps])
        t.colour.update(np.concatenate([escape_contexts(s.candidates, t.colour.shape[1]) for s in steps]), escaped)
    if escape_set is not None:
        t.escape.update(set_contexts, escape_set)
        since = state.escaped_since
        since[since > 0] += 1
        since[escape_set == 1] = 1
    state.advance(cur, states, vectors)


def _moved_of(latents: list) -> tuple[np.ndarray, np.ndarray]:
    """The prior counts and reproducing ranks of a frame's moved blocks, in the decoder's order."""
    return (np.concatenate([s.vector_counts for s in latents]), np.concatenate([s.reproducing for s in latents]))


def push_frame(coder, code: FrameCode, bits_back: bool) -> None:
    """Push one analysed frame (the reverse of pop_frame)."""
    ranks = [s.ranks.copy() for s in code.latents]
    if bits_back:  # pop each moved block's vector from q, in the decoder's push order reversed
        moved_ranks = np.concatenate([r[s.moved] for r, s in zip(ranks, code.latents)])
        for rows, group_ranks, q in _posterior_groups(*_moved_of(code.latents)):
            moved_ranks[rows] = group_ranks[np.arange(len(rows)), coder.decode(CATEGORICAL, q)]
        start = 0
        for r, s in zip(ranks, code.latents):
            r[s.moved] = moved_ranks[start:start + int(s.moved.sum())]
            start += int(s.moved.sum())
    used, counts = code.colour_counts
    escape_set = None if code.escape_set is None else code.escape_set == 1
    for step in reversed(code.steps):
        if len(step.colours) and counts.shape[1] > 1:  # of one colour, an escape says which
            where = np.searchsorted(used, escape_contexts(step.candidates, counts.shape[1]))
            coder.encode_reverse(step.colours.astype(np.int32), CATEGORICAL,
                                 _colour_rows(counts, where, step.candidates, escape_set))
        coder.encode_reverse(step.symbols.astype(np.int32), CATEGORICAL, _pixel_rows(step.counts, step.escapable))
    if code.escape_set is not None and len(code.escape_set):
        coder.encode_reverse(code.escape_set.astype(np.int32), CATEGORICAL, code.escape_set_rows)
    for r, s in zip(reversed(ranks), reversed(code.latents)):
        if len(r):
            coder.encode_reverse(r.astype(np.int32), CATEGORICAL, code.vector_rows[s.vector_contexts])
        coder.encode_reverse(s.states.astype(np.int32), CATEGORICAL, code.latent_rows[s.state_contexts])


def pop_frame(coder, state: ChunkState, bits_back: bool) -> np.ndarray:
    """Decode frame t (flat padded) and advance the state and the tables past it."""
    g, tables = state.g, state.tables
    base = state.latent_contexts()
    latent_rows, vector_rows = tables.latent.rows(), tables.vector.rows()
    states = np.full(g.blocks + 1, cx.NONE, dtype=np.int64)  # the last: none (geometry.upper_left)
    vectors = np.zeros(g.blocks + 1, dtype=np.int64)
    cur = g.empty()
    latents, popped = [], []
    for blocks in state.latent_steps():
        state_ctx = state.state_contexts(base, blocks, states)
        states[blocks] = coder.decode(CATEGORICAL, latent_rows[state_ctx])
        mine = blocks[states[blocks] != cx.STILL]
        if not len(mine):
            latents.append(LatentStep.all_still(state_ctx, states[blocks], state.vector_count))
            popped.append(_no_ranks())
            continue
        predictions, ranked = state.vector_ranks(mine, states, vectors)
        moved = states[mine] == cx.MOVED
        vec_ctx = state.vector_contexts(predictions, ~moved)
        ranks = np.asarray(coder.decode(CATEGORICAL, vector_rows[vec_ctx]), dtype=np.int64)
        picked = ranked[np.arange(len(mine)), ranks]
        state.copy_blocks(cur, mine[moved], picked[moved])
        reproducing = state.reproducing(cur, mine[moved], ranked[moved])
        moved_ranks = ranks[moved]
        if not reproducing[np.arange(len(moved_ranks)), moved_ranks].all():
            raise UniversalDecodeError("a moved block's vector does not reproduce it")
        counts = tables.vector.counts[vec_ctx[moved]]
        ranks[moved] = _canonical_ranks(counts, reproducing)
        vectors[mine] = ranked[np.arange(len(mine)), ranks]
        latents.append(LatentStep(state_ctx, states[blocks], vec_ctx, ranks, moved, counts, reproducing))
        popped.append(moved_ranks)
    states, vectors = states[:-1], vectors[:-1]
    still = np.flatnonzero(states == cx.STILL)  # no latent reads them: copied once, after the latents
    state.copy_blocks(cur, still, np.zeros(len(still), np.int64))
    escape_set = set_contexts = None
    if state.scheme == 2:
        set_contexts = cx.escape_set_contexts(state.escaped_since)
        escape_set = np.zeros(len(set_contexts), dtype=np.int64)
        if len(set_contexts):
            escape_set[:] = coder.decode(CATEGORICAL, tables.escape.rows()[set_contexts])
    in_set = None if escape_set is None else escape_set == 1
    drawn_blocks = np.flatnonzero(states == cx.DRAWN)
    colour_counts = tables.colour.counts
    steps = []
    for idx, ctx, cands in _pixel_steps(state, cur, drawn_blocks, state.offsets[vectors[drawn_blocks]]):
        counts = tables.pixel.counts[ctx]
        escapable = None if in_set is None else cx.escapable(in_set, cands)
        sym = np.asarray(coder.decode(CATEGORICAL, _pixel_rows(counts, escapable)), dtype=np.int64)
        esc = sym == cx.ESCAPE
        values = cands[np.minimum(sym, cx.CANDIDATES - 1), np.arange(len(idx))]
        if esc.any() and colour_counts.shape[1] == 1:
            values[esc] = 0
        elif esc.any():
            where = escape_contexts(cands[:, esc], colour_counts.shape[1])
            values[esc] = coder.decode(CATEGORICAL, _colour_rows(colour_counts, where, cands[:, esc], in_set))
        cur[idx] = values
        steps.append(PixelStep(ctx, sym, counts, escapable, values[esc], cands[:, esc]))
        if state.scheme == 2:
            tables.pixel.update(ctx, sym)
    if np.any(cur[g.real] < 0):
        raise UniversalDecodeError("a block reads positions outside the frame")
    moved_ranks = np.concatenate(popped)
    counts, reproducing = _moved_of(latents)
    if bits_back:  # push the vectors back under q, groups in the reverse of the encoder's pop order
        for rows, group_ranks, q in reversed(list(_posterior_groups(counts, reproducing))):
            picked = np.argmax(group_ranks == moved_ranks[rows][:, None], axis=1)
            coder.encode_reverse(picked.astype(np.int32), CATEGORICAL, q)
    elif not np.array_equal(moved_ranks, _canonical_ranks(counts, reproducing)):
        raise UniversalDecodeError("the last frame's vectors are not the likeliest")
    _update(state, cur, latents, states, vectors, steps, escape_set, set_contexts)
    return cur


MAX_DRAWN_PIXELS = 4 << 20  # the encoder holds a chunk's analysis until it pushes it: ~25 bytes a drawn pixel


def encode_chunk(frames: list[np.ndarray], tables: Tables, max_drawn: int = MAX_DRAWN_PIXELS) -> np.ndarray | None:
    """(H, W) uint8 palette frames of one size, the tables to start from (changed) -> the ANS words; None
    when the model would draw more than `max_drawn` pixels (a chunk of mostly new pixels, noise say, where
    it would hold too much memory and a byte compressor does as well)."""
    geometry = Geometry(*frames[0].shape)
    state = ChunkState(geometry, tables)
    codes, drawn = [], 0
    for frame in frames:
        codes.append(analyse_frame(state, geometry.pad(frame)))
        drawn += sum(len(step.symbols) for step in codes[-1].steps)
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
