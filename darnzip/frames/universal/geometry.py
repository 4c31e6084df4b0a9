"""Where a frame's pixels sit for the universal model: a margin around the frame, blocks of 8x8, and the
anti-diagonal steps in which a decoder fills the blocks it draws.

Frames are flat int16 arrays of palette indices with a margin of OUTSIDE around them, so that a moved
copy or a neighbour may read past the frame's edge without a special case; blocks that overhang the
frame's right or bottom edge hold OUTSIDE there too, and only real pixels are ever coded or compared.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

BLOCK = 8
MARGIN = 34  # more than the largest motion component (contexts.MAX_SHIFT) plus a neighbour
OUTSIDE = -1  # the value of every position that is not a pixel of the frame: equal to no colour


@dataclasses.dataclass(frozen=True)
class Geometry:
    height: int
    width: int

    @functools.cached_property
    def blocks_y(self) -> int:
        return -(-self.height // BLOCK)

    @functools.cached_property
    def blocks_x(self) -> int:
        return -(-self.width // BLOCK)

    @property
    def blocks(self) -> int:
        return self.blocks_y * self.blocks_x

    @functools.cached_property
    def stride(self) -> int:
        return self.blocks_x * BLOCK + 2 * MARGIN

    @functools.cached_property
    def padded_shape(self) -> tuple[int, int]:
        return self.blocks_y * BLOCK + 2 * MARGIN, self.stride

    def empty(self) -> np.ndarray:
        """A flat padded frame of OUTSIDE alone: the context before a chunk's first frame."""
        return np.full(self.padded_shape[0] * self.stride, OUTSIDE, dtype=np.int16)

    def pad(self, frame: np.ndarray) -> np.ndarray:
        out = self.empty()
        out.reshape(self.padded_shape)[MARGIN:MARGIN + self.height, MARGIN:MARGIN + self.width] = frame
        return out

    def unpad(self, flat: np.ndarray) -> np.ndarray:
        return flat.reshape(self.padded_shape)[MARGIN:MARGIN + self.height, MARGIN:MARGIN + self.width].astype(np.uint8)

    @functools.cached_property
    def real(self) -> np.ndarray:
        """(padded size,) bool: which positions are pixels of the frame."""
        return self.pad(np.zeros((self.height, self.width), np.int16)) != OUTSIDE

    @functools.cached_property
    def block_origins(self) -> np.ndarray:
        """(blocks,) flat index of each block's top-left pixel, blocks in raster order."""
        ys = MARGIN + BLOCK * np.arange(self.blocks_y)
        xs = MARGIN + BLOCK * np.arange(self.blocks_x)
        return (ys[:, None] * self.stride + xs[None, :]).reshape(-1)

    @functools.cached_property
    def in_block(self) -> np.ndarray:
        """(64,) flat offsets of a block's pixels from its origin, row by row."""
        r, c = np.divmod(np.arange(BLOCK * BLOCK), BLOCK)
        return r * self.stride + c

    def block_pixels(self, blocks: np.ndarray) -> np.ndarray:
        """(n, 64) flat indices of the pixels of the given blocks."""
        return self.block_origins[blocks][:, None] + self.in_block[None, :]

    @functools.cached_property
    def neighbours(self) -> np.ndarray:
        """(blocks, 8) the 8 neighbouring blocks of each block, -1 past the frame's edge."""
        by, bx = np.divmod(np.arange(self.blocks), self.blocks_x)
        out = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    y, x = by + dy, bx + dx
                    inside = (y >= 0) & (y < self.blocks_y) & (x >= 0) & (x < self.blocks_x)
                    out.append(np.where(inside, y * self.blocks_x + x, -1))
        return np.stack(out, axis=1)

    @functools.cached_property
    def block_diagonals(self) -> list[np.ndarray]:
        """The blocks of each anti-diagonal of the block grid (row + column = 0, 1, ...), in raster order:
        a block's left and upper neighbours lie on the diagonal before its own."""
        by, bx = np.divmod(np.arange(self.blocks), self.blocks_x)
        order = np.lexsort((by, by + bx))
        return np.split(order, np.cumsum(np.bincount(by + bx))[:-1])

    @functools.cached_property
    def upper_left(self) -> tuple[np.ndarray, np.ndarray]:
        """(blocks,) each block's upper and left neighbour; past the frame's edge, `blocks`, one past the
        last block (arrays of what frame t's blocks hold carry one more entry, for "none")."""
        by, bx = np.divmod(np.arange(self.blocks), self.blocks_x)
        blocks = np.arange(self.blocks)
        return np.where(by > 0, blocks - self.blocks_x, self.blocks), np.where(bx > 0, blocks - 1, self.blocks)


def window_stats(flat: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(padded,) frame -> the least value, the greatest and the sum of the BLOCK x BLOCK window whose
    top-left corner is each position (flat, like the frame); a window that does not fit holds an
    impossible pair (its least above its greatest), so no block's equal it. A block can equal a window
    only if the three agree, and a block of one colour c equals every window whose extremes are both c."""
    a = flat.reshape(shape)
    sums = np.zeros((shape[0] + 1, shape[1] + 1), dtype=np.int32)  # may wrap: a window's difference is still exact
    sums[1:, 1:] = a.cumsum(axis=0, dtype=np.int32).cumsum(axis=1, dtype=np.int32)
    total = np.zeros(shape, dtype=np.int32)
    total[:shape[0] - BLOCK + 1, :shape[1] - BLOCK + 1] = (sums[BLOCK:, BLOCK:] - sums[:-BLOCK, BLOCK:]
                                                           - sums[BLOCK:, :-BLOCK] + sums[:-BLOCK, :-BLOCK])
    low, high = a, a
    for width in (1, 2, 4):  # windows of 2, 4, then 8 columns, then the same down the rows
        low, high = np.minimum(low[:, :-width], low[:, width:]), np.maximum(high[:, :-width], high[:, width:])
    for width in (1, 2, 4):
        low, high = np.minimum(low[:-width], low[width:]), np.maximum(high[:-width], high[width:])
    out_low = np.full(shape, np.iinfo(np.int16).max, dtype=np.int16)
    out_high = np.full(shape, np.iinfo(np.int16).min, dtype=np.int16)
    out_low[:low.shape[0], :low.shape[1]] = low
    out_high[:high.shape[0], :high.shape[1]] = high
    return out_low.reshape(-1), out_high.reshape(-1), total.reshape(-1)


def diagonal_steps() -> list[np.ndarray]:
    """The in-block pixel numbers (r * 8 + c) of each anti-diagonal r + c = 0, 1, ..., 14: a decoder fills
    a drawn block one step at a time, so a pixel's left, upper and upper-left neighbours in its block are
    known when it is decoded."""
    r, c = np.divmod(np.arange(BLOCK * BLOCK), BLOCK)
    return [np.flatnonzero(r + c == k) for k in range(2 * BLOCK - 1)]


STEPS = diagonal_steps()
PROBES = np.array([r * BLOCK + c for r in range(BLOCK) for c in range((r + 1) % 2, BLOCK, 2)])  # 32 pixels a block, a checkerboard
STEP_ROWS = [s // BLOCK for s in STEPS]
STEP_COLS = [s % BLOCK for s in STEPS]
