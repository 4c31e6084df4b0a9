"""DARN's autoregressive prior over a frame's block latents: p(h_b) may read the latents coded before it.

Without a latent context, the prior of h_b is a logistic unit on features of frames t-1 and t-2 alone,
and a frame's latents are coded in one call. With config.latent_context, its logit is that base logit
plus an offset looked up by b's context: h of the blocks to its left, above and above-left in the same
frame (0 beyond the frame), and how many of the 3 x 3 blocks around b in frame t-1 no copy of frame
t-2 reproduced (capped at 3: where t-1 had to be drawn, t often is too), and by the base logit's
whole-nat bin. Changed blocks come in clusters (a sprite spans several blocks), which the base logits,
independent across blocks, cannot express.

Blocks are coded by anti-diagonal (row + column), raster order within one: every latent a context reads
lies on an earlier anti-diagonal. The encoder knows all of h and pushes every block in one call, in that
order; the decoder pops one anti-diagonal per call.
"""
from __future__ import annotations

import functools

import constriction
import numpy as np

BERNOULLI = constriction.stream.model.Bernoulli(perfect=False)
PROB_SCALE = 1.0 / (1 << 16)  # the model's probabilities are integers in these units

UNMATCHED_CAP = 3
CONTEXTS = 2 * 2 * 2 * (UNMATCHED_CAP + 1)  # left, above, above-left, unmatched blocks around in t-1
LOWEST_BIN = -12  # bins of the base logit: floor(logit in nats), clipped to -12..3
LOGIT_BINS = 16


def logit_bins(base: np.ndarray, frac_bits: int) -> np.ndarray:
    """Each base logit's bin (0..LOGIT_BINS - 1): its floor in whole nats, clipped."""
    return np.clip(base >> frac_bits, LOWEST_BIN, LOWEST_BIN + LOGIT_BINS - 1) - LOWEST_BIN


def context_index(neighbours: np.ndarray, around: np.ndarray) -> np.ndarray:
    """A block's context from its latent neighbours (4 left + 2 above + 1 above-left) and how many blocks
    around it no copy reproduced in t-1 (capped)."""
    return neighbours * (UNMATCHED_CAP + 1) + around


def information(p_one: np.ndarray, values: np.ndarray) -> float:
    """Bits of binary `values` under P(1) = `p_one`."""
    return float(-np.log2(np.where(values == 1, p_one, 1.0 - p_one)).sum())


@functools.lru_cache(maxsize=8)
def diagonal_order(blocks_y: int, blocks_x: int) -> np.ndarray:
    """Block indices by anti-diagonal, raster order within one: the order latents are coded in."""
    y, x = np.divmod(np.arange(blocks_y * blocks_x), blocks_x)
    return np.lexsort((y, y + x))


@functools.lru_cache(maxsize=8)
def successors(blocks_y: int, blocks_x: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block, the blocks whose context reads it as their left, above and above-left neighbour (its
    right, lower and lower-right neighbours), or `blocks_y * blocks_x` (a spare slot) beyond the frame."""
    y, x = np.divmod(np.arange(blocks_y * blocks_x), blocks_x)
    spare = blocks_y * blocks_x

    def at(dy, dx):
        inside = (y + dy < blocks_y) & (x + dx < blocks_x)
        return np.where(inside, (y + dy) * blocks_x + x + dx, spare)

    return at(0, 1), at(1, 0), at(1, 1)


@functools.lru_cache(maxsize=8)
def diagonals(blocks_y: int, blocks_x: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per anti-diagonal, in coding order: its blocks, and 8 times their indices (where their rows start
    in a flat (blocks, 8) table)."""
    order = diagonal_order(blocks_y, blocks_x)
    y, x = np.divmod(order, blocks_x)
    ends = np.cumsum(np.bincount(y + x))
    return [(order[lo:hi], 8 * order[lo:hi]) for lo, hi in zip([0] + ends[:-1].tolist(), ends.tolist())]


class LatentPrior:
    """One frame's prior over its block latents: their probabilities given h, and h's coding."""

    def __init__(self, model, base_logits: np.ndarray, unmatched_around: np.ndarray | None):
        """`base_logits`: (blocks,) integer prior logits from frames t-1 and t-2. `unmatched_around`:
        (blocks,) how many of the 3 x 3 blocks around each no copy of t-2 reproduced in t-1 (models with a
        latent context only)."""
        self.model, self.cfg = model, model.cfg
        self.base = base_logits
        if self.cfg.latent_context:
            self.around = np.minimum(unmatched_around, UNMATCHED_CAP)
            self.y, self.x = np.divmod(np.arange(self.cfg.blocks), self.cfg.blocks_x)

    def contexts(self, h: np.ndarray) -> np.ndarray:
        """Every block's context index given the frame's latents `h` (only those a context reads count):
        h of its left, upper and upper-left neighbours (0 beyond the frame), unmatched blocks around."""
        grid = np.zeros((self.cfg.blocks_y + 1, self.cfg.blocks_x + 1), dtype=np.int64)
        grid[1:, 1:] = h.reshape(self.cfg.blocks_y, self.cfg.blocks_x)
        left, above, above_left = grid[self.y + 1, self.x], grid[self.y, self.x + 1], grid[self.y, self.x]
        return context_index(left * 4 + above * 2 + above_left, self.around)

    def probabilities(self, h: np.ndarray) -> np.ndarray:
        """P(h_b = 1) of every block given the frame's latents `h` (only those a context reads count)."""
        if not self.cfg.latent_context:
            return self.model.probabilities_of(self.base) * PROB_SCALE
        return self.model.probabilities_of(self.model.context_logits(self.base, self.contexts(h))) * PROB_SCALE

    def push(self, coder, h: np.ndarray, p: np.ndarray) -> None:
        """Push `h` (int32, one per block) with its probabilities `p` (`probabilities(h)`)."""
        if self.cfg.latent_context:
            order = diagonal_order(self.cfg.blocks_y, self.cfg.blocks_x)
            coder.encode_reverse(h[order], BERNOULLI, p[order])
        else:
            coder.encode_reverse(h, BERNOULLI, p)

    def decode(self, coder) -> np.ndarray:
        """Pop a frame's latents (the inverse of `encode`)."""
        cfg = self.cfg
        if not cfg.latent_context:
            return coder.decode(BERNOULLI, self.model.probabilities_of(self.base) * PROB_SCALE)
        # every block's probability for each of the 8 values its three latent neighbours can take, worked
        # out at once; the loop then reads one row per block, picked by its neighbours so far
        contexts = context_index(np.arange(8), self.around[:, None])
        rows = self.model.probabilities_of(self.model.context_logits(self.base[:, None], contexts)).ravel() * PROB_SCALE
        right, below, below_right = successors(cfg.blocks_y, cfg.blocks_x)
        neighbours = np.zeros(cfg.blocks + 1, dtype=np.int64)  # 4 left + 2 above + 1 above-left, as decoded
        h = np.zeros(cfg.blocks, dtype=np.int32)
        for blocks, rows_at in diagonals(cfg.blocks_y, cfg.blocks_x):
            values = coder.decode(BERNOULLI, rows[rows_at + neighbours[blocks]])
            if np.count_nonzero(values):
                ones = blocks[values == 1]
                h[ones] = 1
                neighbours[right[ones]] += 4
                neighbours[below[ones]] += 2
                neighbours[below_right[ones]] += 1
        return h
