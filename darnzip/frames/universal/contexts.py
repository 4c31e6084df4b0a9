"""What the universal model conditions on. Nothing here names a colour or a block's position: contexts
are equality patterns among neighbours and earlier frames, and the states of blocks one frame back.

Block latents. Each block of frame t is in one of three states: STILL (it repeats frame t-1 in place),
MOVED (a copy of frame t-1 read at an offset v, one of config.MOTIONS), DRAWN (its pixels are coded).
Its context is its own state at t-1 (or "none" in a chunk's first frame) and how many of its eight
neighbours were not still at t-1.

Motion. A moved block's vector v (one of VECTORS) says where in frame t-1 its copy is read (at p - v); a drawn block's
vector says where its pixels are predicted from. Vectors are coded by rank: the block's own vector at
t-1 first, then the vector most blocks took at t-1, then the others in a fixed order, (0, 0) first.

Pixels. A drawn pixel's candidates are M (frame t-1 at p - v, its block's vector), P (frame t-1 at p),
and its left (W) and upper (N) neighbours; its symbol is the first candidate it equals, or ESCAPE and
then its colour. The context is which candidates are equal, whether W and N equal their own M and P
(did the neighbour follow the motion, or stay), and whether P changed from t-2. A neighbour in another
drawn block is not decoded yet when the pixel is (blocks are filled side by side, one anti-diagonal at
a time), so there the model reads it at t-1 instead, on both sides.
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


def latent_contexts(states: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(blocks,) states at t-1 (NONE before a chunk's first frame), (blocks, 8) neighbour blocks (-1 past
    the edge) -> (blocks,) contexts."""
    active = np.where(neighbours >= 0, states[neighbours] != STILL, False).sum(axis=1)
    return states * ACTIVE_BUCKETS + np.minimum(active, ACTIVE_BUCKETS - 1)


def vector_offsets(stride: int) -> np.ndarray:
    """(V,) how far back in a flat padded frame each vector reads: the block at p copies t-1 at p - v."""
    return VECTORS[:, 0] * stride + VECTORS[:, 1]


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


def neighbour_values(cur: np.ndarray, prev: np.ndarray, drawn: np.ndarray, idx: np.ndarray,
                     offset: int, other_block: np.ndarray) -> np.ndarray:
    """The value of the neighbour idx - offset as the decoder knows it: at t-1 if it lies in another
    drawn block (not decoded yet), else in frame t."""
    j = idx - offset
    return np.where(other_block & drawn[j], prev[j], cur[j])


def pixel_contexts(cur: np.ndarray, prev: np.ndarray, prev2: np.ndarray, drawn: np.ndarray, idx: np.ndarray,
                   rows: np.ndarray, cols: np.ndarray, shift: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat padded frames t (known where the decoder has decoded), t-1, t-2, (padded,) bool pixels of drawn
    blocks, (n,) pixels with their rows and columns in their blocks and their blocks' vectors (as flat
    offsets) -> (n,) contexts, (4, n) candidates."""
    w = neighbour_values(cur, prev, drawn, idx, 1, cols == 0)
    n = neighbour_values(cur, prev, drawn, idx, stride, rows == 0)
    p = prev[idx]
    m = prev[idx - shift]
    context = ((m == p).astype(np.int64) | (m == w) << 1 | (m == n) << 2 | (p == w) << 3 | (p == n) << 4
               | (w == n) << 5 | (w == prev[idx - 1 - shift]) << 6 | (w == prev[idx - 1]) << 7
               | (n == prev[idx - stride - shift]) << 8 | (n == prev[idx - stride]) << 9 | (p != prev2[idx]) << 10)
    return context, np.stack([m, p, w, n])


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
