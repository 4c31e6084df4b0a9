"""What the universal model conditions on. Nothing here names a colour or a block's position: contexts
are equality patterns among neighbours and earlier frames, and the states of blocks one frame back.

Block latents. Each block of frame t is in one of three states: STILL (it repeats frame t-1 in place),
MOVED (a copy of frame t-1 read at an offset v, one of config.MOTIONS), DRAWN (its pixels are coded).
Its context is its own state at t-1 (or "none" in a chunk's first frame) and how many of its eight
neighbours were not still at t-1. Scheme 2 codes the blocks one anti-diagonal of the block grid at a
time, so that a block's left and upper neighbours in frame t are known: their states join its context
and their vectors head its ranking (a scrolling screen moves its blocks alike; a sprite spans blocks).

Motion. A moved block's vector v (one of VECTORS) says where in frame t-1 its copy is read (at p - v); a drawn block's
vector says where its pixels are predicted from. Vectors are coded by rank: the block's own vector at
t-1 first, then the vector most blocks took at t-1, then the others in a fixed order, (0, 0) first;
scheme 2 puts its left and upper neighbours' vectors in frame t before those. In scheme 2 a vector
may also read frames t-2, t-3 and t-4 (REFERENCES frames back): a sprite's animation or an object that
the game draws every second or third frame returns to what it was a few frames before.

Pixels. A drawn pixel's candidates are M (frame t-1 at p - v, its block's vector), P (frame t-1 at p),
and its left (W) and upper (N) neighbours; its symbol is the first candidate it equals, or ESCAPE and
then its colour. The context is which candidates are equal, whether W and N equal their own M and P
(did the neighbour follow the motion, or stay), and whether P changed from t-2. A neighbour in another
drawn block is not decoded yet when the pixel is (blocks are filled side by side, one anti-diagonal at
a time), so there the model reads it at t-1 instead, on both sides. Scheme 2 first says which colours
the frame's escapes take (its escape set: a new object brings a colour and paints many pixels with
it), gives an escape no probability where no colour of the set is left, and picks escaped colours from
the set alone.
"""
from __future__ import annotations

import numpy as np


STILL, MOVED, DRAWN, NONE = 0, 1, 2, 3
LATENT_STATES = 3
ACTIVE_BUCKETS = 4  # 0, 1, 2, 3+ neighbours not still at t-1
LATENT_CONTEXTS = 4 * ACTIVE_BUCKETS



def _vectors() -> np.ndarray:
    """(0, 0), the 5x5 window, the axes out to MAX_SHIFT pixels (game objects move along them, Pong's
    paddles 14-18 pixels a frame at frameskip 4), and four diagonals at 4 and 8 pixels."""
    out = [(0, 0)] + [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if dy or dx]
    for d in range(3, MAX_SHIFT + 1):
        out += [(0, d), (0, -d), (d, 0), (-d, 0)]
    out += [(s * d, t * d) for d in (4, 8) for s in (1, -1) for t in (1, -1)]
    return np.array(out, dtype=np.int64)


MAX_SHIFT = 32
VECTORS = _vectors()  # (V, 2) as (dy, dx); VECTORS[0] is (0, 0)
VECTOR_CONTEXTS = 2 * 3  # (moved, drawn) x (own vector at t-1, the frame's commonest at t-1, no prediction)
NO_VECTOR = -1

CANDIDATES = 4  # M, P, W, N
ESCAPE = CANDIDATES
PIXEL_SYMBOLS = CANDIDATES + 1
PIXEL_CONTEXTS = 1 << 11


SCHEMES = (1, 2)
REFERENCES = {1: 1, 2: 4}  # how many earlier frames a scheme's vectors read


def vector_count(scheme: int) -> int:
    """Vectors of a scheme: VECTORS into frame t-1, then (scheme 2) the same into t-2, t-3 and t-4."""
    return REFERENCES[scheme] * len(VECTORS)

NEIGHBOUR_STATES = 4  # STILL, MOVED, DRAWN, NONE (past the frame's edge)
LATENT_CONTEXTS_2 = LATENT_CONTEXTS * NEIGHBOUR_STATES * NEIGHBOUR_STATES
PREDICTIONS_2 = 4  # left and upper neighbours' vectors in frame t, own and commonest at t-1
VECTOR_CONTEXTS_2 = 2 * (1 << PREDICTIONS_2) * 2  # drawn x which predictions exist x left == upper


def table_shapes(scheme: int) -> dict[str, tuple[int, int]]:
    """The shapes of a scheme's count tables: latent, vector, pixel and (scheme 2) escape set."""
    latent = LATENT_CONTEXTS if scheme == 1 else LATENT_CONTEXTS_2
    vector = VECTOR_CONTEXTS if scheme == 1 else VECTOR_CONTEXTS_2
    shapes = {"latent": (latent, LATENT_STATES), "vector": (vector, vector_count(scheme)),
              "pixel": (PIXEL_CONTEXTS, PIXEL_SYMBOLS)}
    return shapes if scheme == 1 else {**shapes, "escape": (ESCAPE_SET_CONTEXTS, 2)}


def latent_contexts(states: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(blocks,) states at t-1 (NONE before a chunk's first frame), (blocks, 8) neighbour blocks (-1 past
    the edge) -> (blocks,) contexts."""
    active = np.where(neighbours >= 0, states[neighbours] != STILL, False).sum(axis=1)
    return states * ACTIVE_BUCKETS + np.minimum(active, ACTIVE_BUCKETS - 1)


def vector_offsets(stride: int, size: int, references: int) -> np.ndarray:
    """(V * references,) how far back each vector reads in the flat history [t-1, t-2, ...] of padded
    frames of `size` positions: the block at p copies frame t-1-r at p - v, position p - v + r * size."""
    return np.concatenate([VECTORS[:, 0] * stride + VECTORS[:, 1] - r * size for r in range(references)])


def rank_orders(own: np.ndarray, common: int) -> tuple[np.ndarray, np.ndarray]:
    """(n,) the blocks' own vectors at t-1 (0: none or still), the frame's commonest moving vector at t-1
    (NO_VECTOR if none) -> (n,) which prediction each block has (vector_contexts) and (n, V) the vector of
    each rank: the block's own vector first, then the commonest, then the rest in the fixed order."""
    has_own = own > 0
    predictions = np.where(has_own, 0, 1 if common > 0 else 2)
    keys = np.broadcast_to(np.arange(len(VECTORS)), (len(own), len(VECTORS))).copy()
    if common > 0:
        keys[:, common] = -1
    rows = np.flatnonzero(has_own)
    keys[rows, own[rows]] = -2
    return predictions, np.argsort(keys, axis=1, kind="stable")


def vector_contexts(predictions: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """(n,) predictions (rank_orders), (n,) whether each block is drawn -> (n,) contexts of their vectors."""
    return predictions + 3 * drawn.astype(np.int64)


def latent_contexts_2(base: np.ndarray, upper: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Scheme 2: (n,) scheme-1 contexts, the upper and left neighbours' states in frame t (NONE past the
    edge) -> (n,) contexts."""
    return (base * NEIGHBOUR_STATES + upper) * NEIGHBOUR_STATES + left


def rank_orders_2(predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scheme 2: (n, 4) predicted vectors, best first (left and upper neighbours' in frame t, own and
    commonest at t-1; -1 where none) -> (n,) which exist and whether the first two agree, as context
    bits, and (n, V) the vector of each rank: the predictions in order, then the rest in the fixed order."""
    n, count = len(predictions), vector_count(2)
    ranked = np.empty((n, count), dtype=np.int64)
    predicted = np.zeros((n, count), dtype=bool)
    slots = np.zeros(n, dtype=np.int64)  # how many distinct predictions each row has placed
    for k in range(PREDICTIONS_2):
        p = predictions[:, k]
        new = (p >= 0) & ~predicted[np.arange(n), np.maximum(p, 0)]
        rows = np.flatnonzero(new)
        ranked[rows, slots[rows]] = p[rows]
        predicted[rows, p[rows]] = True
        slots += new
    rest = np.arange(count)[None, :] - np.cumsum(predicted, axis=1) + slots[:, None]  # where the rest go
    rows, vectors = np.nonzero(~predicted)
    ranked[rows, rest[rows, vectors]] = vectors
    exists = (predictions >= 0).astype(np.int64)
    bits = sum(exists[:, k] << k for k in range(PREDICTIONS_2))
    same = (predictions[:, 0] >= 0) & (predictions[:, 0] == predictions[:, 1])
    return bits + (same.astype(np.int64) << PREDICTIONS_2), ranked


def vector_contexts_2(predictions: np.ndarray, drawn: np.ndarray) -> np.ndarray:
    """Scheme 2: (n,) prediction bits (rank_orders_2), (n,) drawn -> (n,) contexts of their vectors."""
    return predictions + (drawn.astype(np.int64) << (PREDICTIONS_2 + 1))


def neighbour_values(cur: np.ndarray, prev: np.ndarray, drawn: np.ndarray, idx: np.ndarray,
                     offset: int, other_block: np.ndarray) -> np.ndarray:
    """The value of the neighbour idx - offset as the decoder knows it: at t-1 if it lies in another
    drawn block (not decoded yet), else in frame t."""
    j = idx - offset
    return np.where(other_block & drawn[j], prev[j], cur[j])


def pixel_contexts(cur: np.ndarray, history: np.ndarray, prev2: np.ndarray, drawn: np.ndarray, idx: np.ndarray,
                   rows: np.ndarray, cols: np.ndarray, shift: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat padded frame t (known where the decoder has decoded), the history (t-1 first, then t-2 where
    vectors read it), t-2, (padded,) bool pixels of drawn blocks, (n,) pixels with their rows and columns
    in their blocks and their blocks' vectors (as flat offsets into the history) -> (n,) contexts, (4, n)
    candidates."""
    prev = history[:len(cur)]
    w = neighbour_values(cur, prev, drawn, idx, 1, cols == 0)
    n = neighbour_values(cur, prev, drawn, idx, stride, rows == 0)
    p = prev[idx]
    m = history[idx - shift]
    context = ((m == p).astype(np.int64) | (m == w) << 1 | (m == n) << 2 | (p == w) << 3 | (p == n) << 4
               | (w == n) << 5 | (w == history[idx - 1 - shift]) << 6 | (w == prev[idx - 1]) << 7
               | (n == history[idx - stride - shift]) << 8 | (n == prev[idx - stride]) << 9 | (p != prev2[idx]) << 10)
    return context, np.stack([m, p, w, n])


ESCAPE_AGES = np.array([0, 1, 2, 3, 3, 4, 4, 4, 4])  # frames since a colour last escaped: 1, 2, 3-4, 5-8
ESCAPE_SET_CONTEXTS = 6  # never escaped in the chunk, the ages above, or longer ago


def escape_set_contexts(since: np.ndarray) -> np.ndarray:
    """Scheme 2: (colours,) how many frames ago each colour last escaped (0: never in the chunk) ->
    (colours,) contexts of whether it escapes in frame t (a flickering object every other frame). Each frame first says which colours its
    escaped pixels take (a new object brings a colour and paints many pixels with it), and an escape
    then picks among those."""
    return np.where(since >= len(ESCAPE_AGES), ESCAPE_SET_CONTEXTS - 1, ESCAPE_AGES[np.minimum(since, len(ESCAPE_AGES) - 1)])


def escapable(escape_set: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(colours,) bool escape set, (4, n) candidates -> (n,) whether the pixel could escape: some colour
    of the set is none of its candidates."""
    held = np.zeros(candidates.shape[1], dtype=np.int64)
    if not escape_set.any():
        return held > 0
    for j, cand in enumerate(candidates):
        new = (cand >= 0) & escape_set[np.maximum(cand, 0)]
        for earlier in candidates[:j]:
            new &= cand != earlier
        held += new
    return held < int(escape_set.sum())


def pixel_symbols(values: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(n,) pixel values, (4, n) candidates -> (n,) the first candidate each equals, else ESCAPE."""
    match = candidates == values[None, :]
    return np.where(match.any(axis=0), match.argmax(axis=0), ESCAPE)


def possible_symbols() -> np.ndarray:
    """(PIXEL_CONTEXTS, PIXEL_SYMBOLS) bool: the symbols a context allows (a candidate equal to an earlier
    one is never the first match)."""
    ctx = np.arange(PIXEL_CONTEXTS)
    bit = [(ctx >> b) & 1 == 1 for b in range(6)]  # m==p, m==w, m==n, p==w, p==n, w==n
    out = np.ones((PIXEL_CONTEXTS, PIXEL_SYMBOLS), dtype=bool)
    out[:, 1] = ~bit[0]
    out[:, 2] = ~bit[1] & ~bit[3]
    out[:, 3] = ~bit[2] & ~bit[4] & ~bit[5]
    return out
