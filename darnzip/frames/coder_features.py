"""The coder's features for one frame, in numpy: the same integers as features.py's torch functions.

Training computes features for batches of frames with torch; the coder needs them for one frame at a
time, where torch's per-call overhead and int64 frames cost more than the arithmetic. Every function here
has a torch twin in features.py, and tests check they agree exactly.
"""
from __future__ import annotations

import numpy as np

from .config import MOTION_BUCKETS, NEIGHBOUR_VALUES, RING_VALUES, FrameConfig
from .features import geometry


def _bucket_of_count(block: int) -> np.ndarray:
    """motion_bucket for counts 0..block**2 with a frame t-2: 0 for none, else 1 + floor(log2 n), capped."""
    counts = range(1, block * block + 1)
    return np.array([0] + [min(n.bit_length(), MOTION_BUCKETS - 2) for n in counts], dtype=np.int64)


class CoderFeatures:
    """Per-frame features of one config: block statistics, padded frames and pixel contexts."""

    def __init__(self, cfg: FrameConfig):
        self.cfg = cfg
        g = geometry(cfg)
        k, m = cfg.block, cfg.margin
        self.margin, self.row = m, g.row
        self.padded_shape = (cfg.blocks_y * k + 2 * m, g.row)
        # int32 (the padded frames and the vocabulary are far smaller): half the bytes of int64 indices
        self.context_offsets = g.context.numpy().astype(np.int32)  # flat offsets into frames t-1, t-2 stacked
        self.context_base = g.context_base.numpy().astype(np.int32)
        self.position_base = g.position_base
        self.bucket_of_count = _bucket_of_count(k)
        local_y, local_x = np.divmod(np.arange(k * k), k)
        # a block's pixels grouped by coding step (anti-diagonal), raster order within a step
        steps = local_y + local_x
        by_step = np.argsort(steps, kind="stable")
        self._step_y, self._step_x = local_y[by_step], local_x[by_step]
        self._step_sizes = np.bincount(steps)  # pixels of a block per step
        # for `pixels`, per pixel j of a block in that order, with s its step: among n blocks' pixels in
        # coding order, block i's pixel j goes to start[s] * n + i * size[s] + (j - start[s])
        step_of = steps[by_step]
        self._pixel_step_start = np.concatenate([[0], np.cumsum(self._step_sizes)[:-1]])[step_of]
        self._pixel_step_size = self._step_sizes[step_of]
        self._pixel_within_step = np.arange(k * k) - self._pixel_step_start
        self._raster = (local_y, local_x)

    def padded(self, frame: np.ndarray) -> np.ndarray:
        """(H, W) palette indices -> (H', W') uint8 frame inside a margin of the outside index."""
        cfg, m = self.cfg, self.margin
        out = np.full(self.padded_shape, cfg.outside, dtype=np.uint8)
        out[m:m + cfg.height, m:m + cfg.width] = frame
        return out

    def changed_per_block(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(blocks_y, blocks_x) count of pixels that differ between two (H, W) frames."""
        cfg, k = self.cfg, self.cfg.block
        diff = np.zeros((cfg.blocks_y * k, cfg.blocks_x * k), dtype=np.uint8)
        np.not_equal(a, b, out=diff[:cfg.height, :cfg.width].view(bool))
        # block rows' column sums, then each block's k columns: 3x faster than one sum over axes (1, 3)
        columns = diff.reshape(cfg.blocks_y, k, -1).sum(axis=1, dtype=np.int64)
        return columns.reshape(cfg.blocks_y, cfg.blocks_x, k).sum(axis=2)

    @staticmethod
    def _neighbour_counts(active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per block of a (blocks_y, blocks_x) grid: active blocks among its 8 neighbours, and among the
        16 of the ring around those (`_count` with the two kernels; outside the grid counts as inactive)."""
        grid = np.zeros((active.shape[0] + 4, active.shape[1] + 4), dtype=np.int64)  # np.pad costs 5x more
        grid[2:-2, 2:-2] = active
        rows3 = grid[1:-3] + grid[2:-2] + grid[3:-1]
        box3 = rows3[:, 1:-3] + rows3[:, 2:-2] + rows3[:, 3:-1]
        rows5 = rows3 + grid[:-4] + grid[4:]
        box5 = rows5[:, :-4] + rows5[:, 1:-3] + rows5[:, 2:-2] + rows5[:, 3:-1] + rows5[:, 4:]
        return box3 - active, box5 - box3

    def prior(self, prev: np.ndarray, prev2: np.ndarray | None):
        """`prior_features` (flattened) and the motion bucket per block, from frames t-1 and t-2."""
        cfg = self.cfg
        if prev2 is None:
            bucket = np.full(cfg.blocks, MOTION_BUCKETS - 1, dtype=np.int64)
            zeros = np.zeros(cfg.blocks, dtype=np.int64)
            return bucket * NEIGHBOUR_VALUES, zeros, bucket
        motion = self.changed_per_block(prev, prev2)
        neighbours, ring = self._neighbour_counts(motion > 0)
        bucket = self.bucket_of_count[motion].ravel()
        return (bucket * NEIGHBOUR_VALUES + neighbours.ravel(),
                np.minimum(ring, RING_VALUES - 1).ravel(), bucket)

    def count_around(self, active: np.ndarray) -> np.ndarray:
        """(blocks,) bool -> (blocks,) active blocks among each block's 3 x 3 (itself included)."""
        grid = active.reshape(self.cfg.blocks_y, self.cfg.blocks_x)
        return (self._neighbour_counts(grid)[0] + grid).ravel()

    def posterior(self, changed: np.ndarray, bucket: np.ndarray):
        """`posterior_features` (flattened): `changed` is the (blocks_y, blocks_x) grid of changed blocks."""
        neighbours, ring = self._neighbour_counts(changed)
        return bucket * NEIGHBOUR_VALUES + neighbours.ravel(), np.minimum(ring, RING_VALUES - 1).ravel()

    @staticmethod
    def global_motion(predicted: np.ndarray, bucket: np.ndarray) -> np.ndarray:
        """`global_motion` for one frame: (blocks, V) bool, (blocks,) -> (V,) bool one-hot or all False."""
        moved = (bucket > 0) & (bucket < MOTION_BUCKETS - 1)
        counts = (predicted & moved[:, None]).sum(axis=0)
        out = np.zeros(predicted.shape[1], dtype=bool)
        if counts.max() > 0:
            out[np.argmax(counts == counts.max())] = True
        return out

    def _inside(self, y: np.ndarray, x: np.ndarray, *rest: np.ndarray):
        keep = (y < self.cfg.height) & (x < self.cfg.width)
        return (y[keep], x[keep]) + tuple(r[keep] for r in rest)

    def block_raster(self, blocks: np.ndarray):
        """(y, x, owner) of the given blocks' pixels inside the frame, block-major, raster order within a
        block (`block_pixels`); owner is the pixel's block's position in `blocks`."""
        k = self.cfg.block
        by, bx = np.divmod(blocks, self.cfg.blocks_x)
        local_y, local_x = self._raster
        y = (by[:, None] * k + local_y).ravel()
        x = (bx[:, None] * k + local_x).ravel()
        owner = np.repeat(np.arange(len(blocks)), k * k)
        return self._inside(y, x, owner)

    def pixels(self, blocks: np.ndarray):
        """(y, x, flat padded position, step) of the given blocks' pixels in coding order: by anti-diagonal
        within the block, then by block in the given order, then raster (`_drawn_pixels` in codec)."""
        k, m, n = self.cfg.block, self.margin, len(blocks)
        by, bx = np.divmod(blocks, self.cfg.blocks_x)
        at = (self._pixel_step_start * n + self._pixel_within_step
              + np.arange(n)[:, None] * self._pixel_step_size).ravel()
        y, x = np.empty(n * k * k, dtype=np.int64), np.empty(n * k * k, dtype=np.int64)
        y[at] = (by[:, None] * k + self._step_y).ravel()
        x[at] = (bx[:, None] * k + self._step_x).ravel()
        step = np.repeat(np.arange(2 * k - 1), self._step_sizes * n)
        y, x, step = self._inside(y, x, step)
        return y, x, (y + m) * self.row + (x + m), step

    def context(self, stacked: np.ndarray, where: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """`context_features` for one frame: `stacked` is the flat uint8 concatenation of padded frames
        t-1 and t-2, `where` the pixels' flat padded positions. int32 vocabulary indices."""
        cfg = self.cfg
        n = len(self.context_offsets)
        out = np.empty((len(where), n + 2), dtype=np.int32)
        np.add(stacked.take(where.astype(np.int32)[:, None] + self.context_offsets), self.context_base, out=out[:, :n])
        out[:, n] = self.position_base + y // cfg.block
        out[:, n + 1] = self.position_base + cfg.blocks_y + x // cfg.block
        return out
