"""What a frame model conditions on, computed identically for training (float) and coding (exact).

Everything here is integer bookkeeping on palette-index frames: which blocks changed, how many of their
neighbours did, and the colours found at fixed offsets around a pixel in the previous two frames.
"""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from .config import MOTION_BUCKETS, NEIGHBOUR_VALUES, RING_VALUES, FrameConfig

_NEIGHBOURS = torch.ones(1, 1, 3, 3)
_NEIGHBOURS[0, 0, 1, 1] = 0
_RING = torch.ones(1, 1, 5, 5)
_RING[0, 0, 1:4, 1:4] = 0


def padded(frames: torch.Tensor, cfg: FrameConfig) -> torch.Tensor:
    """(B, H, W) indices -> (B, blocks_y*block + 2m, blocks_x*block + 2m), filled with the outside index."""
    m = cfg.margin
    out = torch.full((frames.shape[0], cfg.blocks_y * cfg.block + 2 * m, cfg.blocks_x * cfg.block + 2 * m),
                     cfg.outside, dtype=torch.long)
    out[:, m:m + cfg.height, m:m + cfg.width] = frames
    return out


def changed_pixels_per_block(a: torch.Tensor, b: torch.Tensor, cfg: FrameConfig) -> torch.Tensor:
    """(B, H, W) x 2 -> (B, blocks_y, blocks_x) count of pixels that differ."""
    diff = (a != b).to(torch.float32)
    diff = F.pad(diff, (0, cfg.blocks_x * cfg.block - cfg.width, 0, cfg.blocks_y * cfg.block - cfg.height))
    n, k = diff.shape[0], cfg.block
    return diff.reshape(n, cfg.blocks_y, k, cfg.blocks_x, k).sum(dim=(2, 4)).to(torch.long)


def _count(active: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    pad = kernel.shape[-1] // 2
    counts = F.conv2d(active.to(torch.float32).unsqueeze(1), kernel.to(active.device), padding=pad)
    return counts.squeeze(1).to(torch.long)


def motion_matches(x: torch.Tensor, prev: torch.Tensor, cfg: FrameConfig) -> torch.Tensor:
    """(B, H, W) x 2 -> (B, blocks, motions) bool: block b of `x` equals frame `prev` read at p - v, for each
    motion vector v of the config. Reads beyond the frame never match (they hold the outside index)."""
    k, m, h, w = cfg.block, cfg.margin, cfg.height, cfg.width
    pp = padded(prev, cfg)
    out = torch.empty((x.shape[0], cfg.blocks, len(cfg.motions)), dtype=torch.bool)
    for i, (dy, dx) in enumerate(cfg.motions):
        equal = x == pp[:, m - dy:m - dy + h, m - dx:m - dx + w]
        equal = F.pad(equal, (0, cfg.blocks_x * k - w, 0, cfg.blocks_y * k - h), value=True)
        out[:, :, i] = equal.view(-1, cfg.blocks_y, k, cfg.blocks_x, k).all(dim=4).all(dim=2).flatten(1)
    return out


def predicted_motions(prev: torch.Tensor, prev2: torch.Tensor, has_prev2: torch.Tensor, cfg: FrameConfig):
    """The motion vectors that carried each block from frame t-2 to t-1 (none without a frame t-2): the
    motion prior's guess for t-1 to t, as objects and scrolling in games mostly keep their speed."""
    return motion_matches(prev, prev2, cfg) & has_prev2.view(-1, 1, 1)


def global_motion(predicted: torch.Tensor, bucket: torch.Tensor) -> torch.Tensor:
    """(B, blocks, V) predicted vectors, (B, blocks) motion buckets -> (B, V) one-hot of the vector that
    most blocks that moved from t-2 to t-1 share (the first on ties; none if no block moved): a scroll or
    a shared motion, which a block whose own t-1 content gives no hint (flat, or newly uncovered) may follow."""
    moved = ((bucket > 0) & (bucket < MOTION_BUCKETS - 1)).unsqueeze(-1)
    counts = (predicted & moved).sum(dim=1)
    best = counts.max(dim=1, keepdim=True).values
    first = torch.argmax((counts == best).to(torch.uint8), dim=1, keepdim=True)
    onehot = torch.zeros_like(counts, dtype=torch.bool).scatter_(1, first, True)
    return onehot & (best > 0)


def motion_bucket(counts: torch.Tensor, has_prev2: torch.Tensor) -> torch.Tensor:
    """0 for none, 1 + floor(log2 n) capped at 6, and 7 where there is no frame t-2."""
    bucket = torch.zeros_like(counts)
    positive = counts > 0
    bucket[positive] = torch.clamp(torch.floor(torch.log2(counts[positive].to(torch.float64))).to(torch.long) + 1,
                                   max=MOTION_BUCKETS - 2)
    bucket[~has_prev2] = MOTION_BUCKETS - 1
    return bucket


def prior_features(prev: torch.Tensor, prev2: torch.Tensor, has_prev2: torch.Tensor, cfg: FrameConfig):
    """Per block: (motion bucket x neighbour count) index and ring index, from frames t-1 and t-2 only."""
    motion = changed_pixels_per_block(prev, prev2, cfg) * has_prev2.view(-1, 1, 1)
    bucket = motion_bucket(motion, has_prev2.view(-1, 1, 1).expand_as(motion))
    moving = motion > 0
    neighbours = _count(moving, _NEIGHBOURS)
    ring = torch.clamp(_count(moving, _RING), max=RING_VALUES - 1)
    return (bucket * NEIGHBOUR_VALUES + neighbours).flatten(1), ring.flatten(1), bucket


def posterior_features(changed: torch.Tensor, bucket: torch.Tensor):
    """Per block: (motion bucket x changed neighbours at t) index and ring index at t."""
    neighbours = _count(changed, _NEIGHBOURS)
    ring = torch.clamp(_count(changed, _RING), max=RING_VALUES - 1)
    return (bucket * NEIGHBOUR_VALUES + neighbours).flatten(1), ring.flatten(1)


def block_pixels(frame_index: torch.Tensor, block_index: torch.Tensor, cfg: FrameConfig):
    """Pixels (frame, y, x, owner) of the given blocks inside the frame, block-major, raster order within a
    block; `owner` is the position of the pixel's block in the given list."""
    k = cfg.block
    by, bx = block_index // cfg.blocks_x, block_index % cfg.blocks_x
    dy = torch.arange(k).repeat_interleave(k)
    dx = torch.arange(k).repeat(k)
    y = (by.unsqueeze(1) * k + dy).flatten()
    x = (bx.unsqueeze(1) * k + dx).flatten()
    f = frame_index.repeat_interleave(k * k)
    owner = torch.arange(len(block_index)).repeat_interleave(k * k)
    inside = (y < cfg.height) & (x < cfg.width)
    return f[inside], y[inside], x[inside], owner[inside]


class Geometry:
    """Index arithmetic of a config's offsets for padded frames of one size, computed once."""

    def __init__(self, cfg: FrameConfig):
        self.cfg = cfg
        k, m = cfg.block, cfg.margin
        height, self.row = cfg.blocks_y * k + 2 * m, cfg.blocks_x * k + 2 * m
        self.frame_size = height * self.row
        deltas = lambda offsets: torch.tensor([dy * self.row + dx for dy, dx in offsets], dtype=torch.long)
        # Frames t-1 and t-2 are stacked, so one gather reads both.
        self.context = torch.cat([deltas(cfg.offsets_prev), deltas(cfg.offsets_prev2) + self.frame_size])
        self.current = deltas(cfg.offsets_current)
        self.current_np = self.current.cpu().numpy()
        self.n_context = len(self.context)
        self.context_base = torch.arange(self.n_context) * cfg.values
        self.current_base = (self.n_context + torch.arange(len(self.current))) * cfg.values
        self.current_base_np = self.current_base.cpu().numpy()
        self.position_base = cfg.colour_groups * cfg.values
        ys = torch.arange(height).unsqueeze(1) - m
        xs = torch.arange(self.row).unsqueeze(0) - m
        self.step_map = coding_step(ys, xs, k)  # (padded H, padded W), meaningful inside the frame


_GEOMETRY: dict[int, Geometry] = {}


def geometry(cfg: FrameConfig) -> Geometry:
    key = id(cfg)
    if key not in _GEOMETRY or _GEOMETRY[key].cfg is not cfg:
        _GEOMETRY[key] = Geometry(cfg)
    return _GEOMETRY[key]


def coding_step(y: torch.Tensor, x: torch.Tensor, block: int) -> torch.Tensor:
    """Anti-diagonal of a pixel within its block: drawn blocks are decoded one anti-diagonal at a time,
    all blocks together, so a frame takes 2 * block - 1 coder calls."""
    return y % block + x % block


def stacked_context(prev_p: torch.Tensor, prev2_p: torch.Tensor) -> torch.Tensor:
    """Padded frames t-1 and t-2 as one (B, 2, H', W') tensor, the layout `pixel_features` reads."""
    return torch.stack([prev_p, prev2_p], dim=1)


def available_from(drawn_p: torch.Tensor, cfg: FrameConfig) -> torch.Tensor:
    """Padded map of the coding step after which each pixel of frame t is known: -1 for pixels of blocks
    that repeat frame t-1 and for the outside, the pixel's own step inside drawn blocks."""
    return torch.where(drawn_p, geometry(cfg).step_map, -1)


def context_features(context_p: torch.Tensor, f: torch.Tensor, y: torch.Tensor, x: torch.Tensor,
                     cfg: FrameConfig) -> torch.Tensor:
    """(N, context groups + 2) vocabulary indices that do not depend on frame t: the colour at each offset
    in frames t-1 and t-2, then the block row and the block column."""
    g = geometry(cfg)
    m = cfg.margin
    inner = (y + m) * g.row + (x + m)
    out = torch.empty((len(y), g.n_context + 2), dtype=torch.long)
    out[:, :g.n_context] = context_p.view(-1)[(f * (2 * g.frame_size) + inner).unsqueeze(1) + g.context] \
        + g.context_base
    out[:, -2] = g.position_base + y // cfg.block
    out[:, -1] = g.position_base + cfg.blocks_y + x // cfg.block
    return out


def current_features(current_p: torch.Tensor, available_p: torch.Tensor, f: torch.Tensor, y: torch.Tensor,
                     x: torch.Tensor, cfg: FrameConfig) -> torch.Tensor:
    """(N, current groups) vocabulary indices: the colour at each causal offset in frame t where that pixel
    is already known (its block repeats t-1, or it comes earlier in the coding order), 'unknown' where
    not. Values of not-yet-known pixels of `current_p` are never used."""
    g = geometry(cfg)
    m = cfg.margin
    where = (f * g.frame_size + (y + m) * g.row + (x + m)).unsqueeze(1) + g.current
    known = available_p.view(-1)[where] < coding_step(y, x, cfg.block).unsqueeze(1)
    return torch.where(known, current_p.view(-1)[where], cfg.unknown) + g.current_base


def pixel_features(context_p: torch.Tensor, current_p: torch.Tensor, available_p: torch.Tensor,
                   f: torch.Tensor, y: torch.Tensor, x: torch.Tensor, cfg: FrameConfig) -> torch.Tensor:
    """(N, groups) vocabulary indices for pixels (f, y, x): context groups, block row and column, then
    the current-frame groups. The pixel model sums one table row per group, so any split is equivalent."""
    return torch.cat([context_features(context_p, f, y, x, cfg),
                      current_features(current_p, available_p, f, y, x, cfg)], dim=1)


def drawn_pixels(drawn_blocks: torch.Tensor, cfg: FrameConfig) -> torch.Tensor:
    """(B, blocks) bool -> padded (B, H', W') bool map of pixels in drawn blocks (False outside the frame)."""
    k, m = cfg.block, cfg.margin
    grid = drawn_blocks.view(-1, cfg.blocks_y, cfg.blocks_x)
    pixels = grid.repeat_interleave(k, dim=1).repeat_interleave(k, dim=2)
    out = torch.zeros((grid.shape[0], cfg.blocks_y * k + 2 * m, cfg.blocks_x * k + 2 * m), dtype=torch.bool)
    out[:, m:m + cfg.height, m:m + cfg.width] = pixels[:, :cfg.height, :cfg.width]
    return out


# A block's content hash: each 64-bit word (a row of 8 pixels) mixed by a fixed bijection, then summed
# with one odd multiplier per row of the block. Part of the format of models with vector classes (both
# sides group a moved copy's vectors by it), so it must never change. The mixing matters: the plain
# weighted sum of the words, used before for estimates only, gave a class holding vectors that read
# different pixels to one block in 70 (425 of 28,920 on Seaquest; frames are made of few distinct words).
_POSITION_FACTORS = np.array([(0x9E3779B97F4A7C15 * (2 * r + 1)) % (1 << 64) | 1 for r in range(8)], dtype=np.uint64)
_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
# The encoder's window hashes (its estimates of which vectors reproduce a block, never part of the format)
# weight row r by a power c**r instead, so a whole frame's windows sum in three doubling steps, not eight
# passes: two rows, then four, then eight. Equal contents give equal hashes either way.
_WINDOW_FACTORS = np.array([pow(0x9E3779B97F4A7C15, r, 1 << 64) for r in range(8)], dtype=np.uint64)


def mixed(words: np.ndarray) -> np.ndarray:
    """A fixed bijection of uint64 words (splitmix64's finaliser), so that sums of words hash well."""
    x = words ^ (words >> np.uint64(30))
    x *= _MIX[0]
    x ^= x >> np.uint64(27)
    x *= _MIX[1]
    x ^= x >> np.uint64(31)
    return x


def first_of_class(hashes: np.ndarray) -> np.ndarray:
    """(n, V) hashes -> (n, V) int64: per row, the first column with the same hash as each column (a stable
    sort of each row puts equal hashes together, first column first; worked on the flattened rows)."""
    n, columns = hashes.shape
    row_start = (np.arange(n) * columns)[:, None]
    flat = (np.argsort(hashes, axis=1, kind="stable") + row_start).ravel()
    ordered = hashes.ravel()[flat]
    starts = np.empty(n * columns, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    starts[::columns] = True  # every row starts a class
    position = np.where(starts, np.arange(n * columns), 0)
    np.maximum.accumulate(position, out=position)
    first = np.empty(n * columns, dtype=np.int64)
    first[flat] = flat[position]
    return first.reshape(n, columns) - row_start


def _word_at_every_pixel(padded: np.ndarray) -> np.ndarray:
    """The 8 bytes that start at each pixel of a flat uint8 frame, as a uint64 view (no copy): a block row
    as any vector reads it."""
    return np.ndarray((padded.size - 7,), dtype=np.uint64, buffer=padded, strides=(1,))


class _FrameCache:
    """What was worked out for the last `size` frames, found by identity (the cache holds the frames, so
    an id is never reused under it)."""

    def __init__(self, size: int):
        self.size = size
        self._entries: dict[int, tuple] = {}  # id -> (frame, value), oldest first

    def get(self, frame: np.ndarray):
        entry = self._entries.get(id(frame))
        return None if entry is None else entry[1]

    def put(self, frame: np.ndarray, value):
        self._entries.pop(id(frame), None)
        self._entries[id(frame)] = (frame, value)
        while len(self._entries) > self.size:
            del self._entries[next(iter(self._entries))]
        return value


class MotionMatcher:
    """`motion_matches` for one frame pair in numpy, fast enough for the coder. With 8-pixel blocks, a
    block row of 8 bytes is one uint64: the previous frame is copied once per horizontal shift, and each
    vector costs one compare of 64-bit words. It remembers its last three pairs, because a frame's matches
    against t-1 are the next frame's predicted motions, whichever way the frames are walked (the encoder
    goes backwards: frame t asks for t-1/t-2 and then t/t-1, so t-1/t-2 must outlive one more pair).
    Frames are compared by identity, and the cache holds them, so an id is never reused under it."""

    def __init__(self, cfg: FrameConfig):
        self.cfg = cfg
        self._recent: list[tuple] = []
        spread = max(cfg.history, 1)
        # per-frame tables that are read again mostly while the frame is t-1 or a recent older frame are
        # kept for at most 17 frames, whatever the history (a long one would otherwise hold ~80 MB of them)
        near = min(spread, 16)
        self._words = _FrameCache(near + 1)
        self._padded_frames = _FrameCache(2 * spread + 1)
        # content hashes, block by block, for vector classes (frame t-1 and the chosen older frame): on
        # 1,000 held-out frames, keeping history + 1 frames hashed as many blocks as keeping four times as
        # many (SpaceInvaders 18,986 against 18,899, Seaquest 9,953 against 9,934)
        self._content = _FrameCache(near + 1)
        # window hashes, for the encoder's choice of lag, which asks every older frame at once: all of them,
        # and more for the backward walk (on 1,000 held-out frames, SpaceInvaders with a history of 16 built
        # 1,166 tables with 2 * 16 + 1 kept and 1,148 with 4 * 16 + 1; each is 428 KB)
        self._windows = _FrameCache(spread + near + 1)

    def __call__(self, frame: np.ndarray, prev: np.ndarray, remember: bool = True) -> np.ndarray:
        """(H, W) x 2 palette-index frames -> (blocks, motions) bool, equal to motion_matches. Pairs that
        recur (frame t against t-1) are remembered; one-off pairs (against an older frame) need not be."""
        for a, b, result in self._recent:
            if a is frame and b is prev:
                return result
        if self._word_rows:
            result = self._by_words(np.ascontiguousarray(frame, dtype=np.uint8), prev)
        else:
            result = self._by_pixels(frame, self._padded(prev))
        if remember:
            self._recent = [(frame, prev, result)] + self._recent[:2]
        return result

    def for_blocks(self, frame: np.ndarray, others: list[np.ndarray], blocks: np.ndarray) -> np.ndarray:
        """(n,) block indices -> (len(others), n, motions) bool: rows of `self(frame, other)` for those
        blocks only, per frame of `others` (the word positions are worked out once for all of them)."""
        cfg = self.cfg
        if not self._word_rows:
            return np.stack([self(frame, other, remember=False)[blocks] for other in others])
        m = cfg.margin
        rows, bx, wanted = self._block_words(frame, blocks)
        dy, dxi = self._vector_rows
        out = np.empty((len(others), len(blocks), len(cfg.motions)), dtype=bool)
        if not len(others):
            return out
        _, padded_rows, words_per_row = self._shifted_words(others[0]).shape  # (dx values, padded H, W / 8)
        at = ((dxi[None, :, None] * padded_rows + m - dy[None, :, None] + rows[:, None, :]) * words_per_row
              + bx[:, None, None])  # (n, motions, k) flat word positions
        outside = ~(rows < cfg.height)[:, None, :]  # rows past the frame's edge match
        for i, other in enumerate(others):
            seen = self._shifted_words(other).reshape(-1).take(at)
            out[i] = ((seen == wanted[:, None, :]) | outside).all(axis=2)
        return out

    def likely_for_blocks(self, frame: np.ndarray, others: list[np.ndarray], blocks: np.ndarray) -> np.ndarray:
        """`for_blocks` by comparing one 64-bit hash per block and vector (`content_hashes`, read off each
        source frame's window hashes, kept per frame for the next frames' choices of lag) instead of its
        rows: equal to it unless two different blocks' hashes collide, so only for estimates (the encoder's
        choice of lag), never for what a copy reproduces. Blocks cut by the frame's bottom edge are
        compared exactly."""
        cfg = self.cfg
        if not self._word_rows:
            return self.for_blocks(frame, others, blocks)
        _, _, wanted = self._block_words(frame, blocks)
        block_hash = (mixed(wanted) * _WINDOW_FACTORS[:cfg.block]).sum(axis=1)
        at = self._window_positions(blocks)
        out = np.empty((len(others), len(blocks), len(cfg.motions)), dtype=bool)
        for i, other in enumerate(others):
            np.equal(self._window_hashes(other).take(at), block_hash[:, None], out=out[i])
        cut = (blocks // cfg.blocks_x + 1) * cfg.block > cfg.height
        if cut.any():
            out[:, cut] = self.for_blocks(frame, others, blocks[cut])
        return out

    def content_hashes(self, sources: list[np.ndarray], blocks: np.ndarray) -> np.ndarray:
        """(n,) block indices -> (n, V * len(sources)) uint64: the hash of what vector v reads for each
        block from source frame s (column s * V + v), over the block's pixels inside the frame only.
        Vectors that read the same content get the same hash (vector classes group them so)."""
        found = [self._source_hashes(src, blocks) for src in sources]
        return found[0] if len(found) == 1 else np.concatenate(found, axis=1)

    def _source_hashes(self, source: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        """`content_hashes` for one source frame, each block's row worked out once per source (the encoder
        asks for the same blocks again once it has chosen a lag, for the copies among them, and in the
        next frames' choices of lag)."""
        cfg = self.cfg
        entry = self._content.get(source)
        if entry is None:
            entry = self._content.put(source, (np.zeros((cfg.blocks, len(cfg.motions)), dtype=np.uint64),
                                               np.zeros(cfg.blocks, dtype=bool)))
        table, known = entry
        missing = blocks[~known[blocks]]
        if len(missing):
            table[missing] = self._word_hashes(source, missing) if self._word_rows \
                else self._pixel_hashes(source, missing)
            known[missing] = True
        return table[blocks]

    def _window_positions(self, blocks: np.ndarray) -> np.ndarray:
        """(n,) blocks -> (n, V) where in `_window_hashes` each vector's read of each block starts."""
        cfg, m, k = self.cfg, self.cfg.margin, self.cfg.block
        by, bx = blocks // cfg.blocks_x, blocks % cfg.blocks_x
        dy, dx = self._vector_offsets
        row_bytes = cfg.width + 2 * m  # a row of the padded frame (`_padded`)
        return (m - dy + by[:, None] * k) * row_bytes + (m - dx + bx[:, None] * k)

    def _window_hashes(self, source: np.ndarray) -> np.ndarray:
        """Per flat position of the padded source frame, the hash of the 8x8 window whose top-left pixel is
        there (as `_word_hashes` with every row inside the frame, but weighted by `_WINDOW_FACTORS`),
        worked out for the whole frame at once and kept: the encoder's choice of lag asks each older frame
        about many blocks and all their vectors, frame after frame (SpaceInvaders spent a quarter of its
        compression time hashing them block by block)."""
        table = self._windows.get(source)
        if table is None:
            padded = self._padded(source)
            row_bytes = padded.shape[1]
            table, rows = mixed(_word_at_every_pixel(padded).copy()), 1  # sums of `rows` rows from each position
            while rows < self.cfg.block:  # 8 rows: a power of two (`_word_rows`)
                n = len(table) - rows * row_bytes
                below = np.multiply(table[rows * row_bytes:rows * row_bytes + n], _WINDOW_FACTORS[rows])
                below += table[:n]
                table, rows = below, 2 * rows
            table = self._windows.put(source, table)
        return table

    def _word_hashes(self, source: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        """`_source_hashes` for 8-pixel blocks: per block and vector, the block's row words as the vector
        reads them, each mixed, times its row's factor, summed (rows past the frame's bottom edge left
        out). The words are read straight off the padded frame, 8 bytes from any pixel, which costs less
        than building the shifted copies for the few blocks asked about."""
        cfg, m, k = self.cfg, self.cfg.margin, self.cfg.block
        by, bx = blocks // cfg.blocks_x, blocks % cfg.blocks_x
        dy, dx = self._vector_offsets
        padded = self._padded(source)
        row_bytes = padded.shape[1]
        from_pixel = _word_at_every_pixel(padded)
        rows = by[:, None] * k + np.arange(k)  # (n, k) the block's pixel rows
        at = ((m - dy)[None, :, None] + rows[:, None, :]) * row_bytes + (m - dx + bx[:, None] * k)[:, :, None]
        factors = np.where(rows < cfg.height, _POSITION_FACTORS[:k], np.uint64(0))[:, None, :]
        return (mixed(from_pixel.take(at)) * factors).sum(axis=2, dtype=np.uint64)

    def _pixel_hashes(self, source: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        """`_word_hashes` for any block size and width: each pixel's value and position in the block,
        mixed, summed over the block's pixels inside the frame."""
        cfg, m, k = self.cfg, self.cfg.margin, self.cfg.block
        h, w = cfg.height, cfg.width
        pp = self._padded(source)
        by, bx = blocks // cfg.blocks_x, blocks % cfg.blocks_x
        y = by[:, None] * k + np.arange(k).repeat(k)  # (n, k * k), raster order within the block
        x = bx[:, None] * k + np.tile(np.arange(k), k)
        inside = (y < h) & (x < w)
        motions = np.asarray(cfg.motions)
        read_y = np.where(inside, y + m, 0)[:, None, :] - motions[None, :, :1]
        read_x = np.where(inside, x + m, 0)[:, None, :] - motions[None, :, 1:]
        codes = mixed(pp[read_y, read_x].astype(np.uint64) | (np.arange(k * k, dtype=np.uint64) << np.uint64(8)))
        return np.where(inside[:, None, :], codes, np.uint64(0)).sum(axis=2, dtype=np.uint64)

    def _block_words(self, frame: np.ndarray, blocks: np.ndarray):
        """(n, k) pixel rows of each block, (n,) word columns, (n, k) the blocks' row words (zero past the
        frame's bottom edge)."""
        cfg, k = self.cfg, self.cfg.block
        by, bx = blocks // cfg.blocks_x, blocks % cfg.blocks_x
        rows = by[:, None] * k + np.arange(k)
        padded = np.zeros((cfg.blocks_y * k, cfg.width // 8), dtype=np.uint64)  # np.pad costs 7x more
        padded[:cfg.height] = np.ascontiguousarray(frame, dtype=np.uint8).view(np.uint64)
        return rows, bx, padded[rows, bx[:, None]]

    @functools.cached_property
    def _word_rows(self) -> bool:
        """Whether a block row is one uint64 word (8-pixel blocks, width a multiple of 8): the fast paths."""
        return self.cfg.block == 8 and self.cfg.width % 8 == 0

    @functools.cached_property
    def _vector_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Per motion vector: dy, and the index of its dx among the distinct dx values."""
        dy, dx = self._vector_offsets
        return dy, np.searchsorted(np.unique(dx), dx)

    @functools.cached_property
    def _vector_offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """Per motion vector: dy and dx."""
        return np.array([dy for dy, _ in self.cfg.motions]), np.array([dx for _, dx in self.cfg.motions])

    def _padded(self, frame: np.ndarray) -> np.ndarray:
        """`frame` inside its margin of the outside index, with more rows below it so that block rows
        past the frame's bottom edge can be read too (cached per frame, like the shifted words)."""
        padded = self._padded_frames.get(frame)
        if padded is not None:
            return padded
        cfg, m, k = self.cfg, self.cfg.margin, self.cfg.block
        h, w = cfg.height, cfg.width
        padded = np.full((h + 2 * m + cfg.blocks_y * k - h, w + 2 * m), cfg.outside, dtype=np.uint8)
        padded[m:m + h, m:m + w] = frame
        return self._padded_frames.put(frame, padded)

    def _shifted_words(self, other: np.ndarray) -> np.ndarray:
        """`other` padded (`_padded`), then one copy read at x - dx per distinct dx, as uint64 words
        (cached per frame)."""
        words = self._words.get(other)
        if words is not None:
            return words
        cfg, m, w = self.cfg, self.cfg.margin, self.cfg.width
        pp = self._padded(other)
        dxs = sorted({dx for _, dx in cfg.motions})
        # each shift copied once, straight into its place (stacking contiguous copies took 12x longer)
        shifted = np.empty((len(dxs), pp.shape[0], w), dtype=np.uint8)
        for i, dx in enumerate(dxs):
            shifted[i] = pp[:, m - dx:m - dx + w]
        return self._words.put(other, shifted.view(np.uint64))

    def _by_words(self, frame: np.ndarray, prev: np.ndarray) -> np.ndarray:
        cfg, m, k = self.cfg, self.cfg.margin, self.cfg.block
        h, w = cfg.height, cfg.width
        words = frame.view(np.uint64)  # (h, w / 8): one word per block row
        shifted = self._shifted_words(prev)
        equal = np.ones((len(cfg.motions), cfg.blocks_y * k, w // 8), dtype=bool)  # rows past the edge match
        for i, (dy, dxi) in enumerate(zip(*self._vector_rows)):
            np.equal(words, shifted[dxi, m - dy:m - dy + h], out=equal[i, :h])
        blocks = equal[:, 0::k].copy()  # a block matches where all its k rows do: AND of row slices
        for r in range(1, k):  # (numpy's all() over a middle axis of length k was measured 4x slower)
            blocks &= equal[:, r::k]
        return blocks.reshape(len(cfg.motions), -1).T

    def _by_pixels(self, frame: np.ndarray, pp: np.ndarray) -> np.ndarray:
        cfg, m, k = self.cfg, self.cfg.margin, self.cfg.block
        h, w = cfg.height, cfg.width
        equal = np.ones((cfg.blocks_y * k, cfg.blocks_x * k), dtype=bool)  # rows and columns past the edge match
        out = np.empty((len(cfg.motions), cfg.blocks), dtype=bool)
        for i, (dy, dx) in enumerate(cfg.motions):
            np.equal(frame, pp[m - dy:m - dy + h, m - dx:m - dx + w], out=equal[:h, :w])
            out[i] = equal.reshape(cfg.blocks_y, k, cfg.blocks_x, k).all(axis=(1, 3)).ravel()
        return out.T
