"""The residual image's pixels, coded one anti-diagonal wavefront at a time with adaptive context counts.

A pixel's context is 16 causal neighbours (four to its left, six and five on the two rows above, one three
rows up). With the wavefront t = x + 3y, every neighbour lies on an earlier wavefront, so a whole
wavefront (about min(rows, width / 3) pixels) is decoded with one coder call and the counts are updated
after it on both sides alike (darnzip.core.counts): the code adapts to the page while it codes it.
The page is coded in bands of rows; a band's context above is the previous band's last rows.
"""
from __future__ import annotations

import constriction
import numpy as np

from darnzip.core.counts import CountTable

TEMPLATE = ((0, -1), (0, -2), (0, -3), (0, -4), (-1, -3), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
            (-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2), (-3, 0))
CONTEXTS = 1 << len(TEMPLATE)
SLOPE = 3  # the wavefront t = x + SLOPE * y: every neighbour above lies within SLOPE - 1 columns to the right
TOP, LEFT, RIGHT = 3, 4, 2  # the padding the template reaches into
BAND_PIXELS = 1 << 22  # pixels of one band: what an encoder or decoder holds besides the page

BERNOULLI = constriction.stream.model.Bernoulli(perfect=False)


def band_rows(width: int) -> int:
    return max(1, BAND_PIXELS // max(1, width))


def band_bounds(height: int, width: int) -> list[tuple[int, int]]:
    rows = band_rows(width)
    return [(r, min(height, r + rows)) for r in range(0, height, rows)]


def _padded(band: np.ndarray, above: np.ndarray) -> np.ndarray:
    """The band with TOP rows above it (the previous band's last rows, or white) and white margins."""
    rows, width = band.shape
    padded = np.zeros((rows + TOP, width + LEFT + RIGHT), np.uint8)
    padded[TOP - len(above):TOP, LEFT:LEFT + width] = above
    padded[TOP:, LEFT:LEFT + width] = band
    return padded


def _offsets(stride: int) -> np.ndarray:
    return np.array([dy * stride + dx for dy, dx in TEMPLATE], np.int64)


def _wavefront(t: int, rows: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The (rows, columns) of the band's pixels on wavefront t, top row first."""
    first = max(0, -((width - 1 - t) // SLOPE))
    ys = np.arange(first, min(rows - 1, t // SLOPE) + 1)
    return ys, t - SLOPE * ys


def _steps(rows: int, width: int) -> int:
    return width + SLOPE * (rows - 1)


def all_contexts(band: np.ndarray, above: np.ndarray) -> np.ndarray:
    """(rows, width) int64 contexts of every pixel of a known band (the encoder's side)."""
    rows, width = band.shape
    padded = _padded(band, above)
    contexts = np.zeros((rows, width), np.int64)
    for bit, (dy, dx) in enumerate(TEMPLATE):
        contexts |= padded[TOP + dy:TOP + dy + rows, LEFT + dx:LEFT + dx + width].astype(np.int64) << bit
    return contexts


def push_band(coder, band: np.ndarray, above: np.ndarray, table: CountTable) -> float:
    """Push a band of 0/1 pixels (the decoder pops it with pop_band); returns its information in bits."""
    rows, width = band.shape
    contexts = all_contexts(band, above)
    symbols, probabilities = [], []
    bits = 0.0
    for t in range(_steps(rows, width)):
        ys, xs = _wavefront(t, rows, width)
        ctx, sym = contexts[ys, xs], band[ys, xs]
        p_one = table.probabilities(ctx)[:, 1]
        symbols.append(sym.astype(np.int32))
        probabilities.append(p_one)
        bits -= float(np.log2(np.where(sym == 1, p_one, 1.0 - p_one)).sum())
        table.update(ctx, sym)
    for sym, p_one in zip(reversed(symbols), reversed(probabilities)):
        coder.encode_reverse(sym, BERNOULLI, p_one)
    return bits


def pop_band(coder, rows: int, width: int, above: np.ndarray, table: CountTable) -> np.ndarray:
    """Decode a band of `rows` x `width` pixels pushed by push_band."""
    padded = _padded(np.zeros((rows, width), np.uint8), above)
    flat = padded.reshape(-1)
    stride = padded.shape[1]
    offsets = _offsets(stride)
    for t in range(_steps(rows, width)):
        ys, xs = _wavefront(t, rows, width)
        where = (ys + TOP) * stride + xs + LEFT
        ctx = np.zeros(len(where), np.int64)
        for bit, offset in enumerate(offsets):
            ctx |= flat[where + offset].astype(np.int64) << bit
        sym = np.asarray(coder.decode(BERNOULLI, table.probabilities(ctx)[:, 1]), np.uint8)
        flat[where] = sym
        table.update(ctx, sym)
    return padded[TOP:, LEFT:LEFT + width].copy()
