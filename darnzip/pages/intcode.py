"""Integers as adaptive symbols: the small ones directly, larger ones as a length class plus raw bits.

A signed value v becomes z = 2v (v >= 0) or -2v - 1; z < DIRECT is a symbol of its own, a larger z the
symbol DIRECT + (bit length of z) - BITS0 followed by its bits below the top one, uniform. The symbol's
probabilities are adaptive counts (darnzip.core.counts), so a page's common gaps and sizes get cheap.
"""
from __future__ import annotations

import numpy as np

DIRECT = 16
BITS0 = DIRECT.bit_length()  # the bit length of the smallest z that is not direct
MAX_BITS = 40
SYMBOLS = DIRECT + MAX_BITS - BITS0 + 1
RAW_CHUNK = 16  # raw bits pushed or popped with one uniform model


def zigzag(value: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(z: int) -> int:
    return z >> 1 if z % 2 == 0 else -((z + 1) >> 1)


def split(value: int) -> tuple[int, int, int]:
    """value -> (symbol, raw bits, how many raw bits)."""
    z = zigzag(value)
    if z < DIRECT:
        return z, 0, 0
    n = z.bit_length()
    if n > MAX_BITS:
        raise ValueError("integer out of the coder's range")
    return DIRECT + n - BITS0, z - (1 << (n - 1)), n - 1


def join(symbol: int, raw: int) -> int:
    if symbol < DIRECT:
        return unzigzag(symbol)
    n = symbol - DIRECT + BITS0
    return unzigzag((1 << (n - 1)) + raw)


def raw_chunks(bits: int) -> list[int]:
    """The widths of the uniform symbols `bits` raw bits are coded as, lowest first."""
    return [min(RAW_CHUNK, bits - k) for k in range(0, bits, RAW_CHUNK)]


def raw_width(symbol: int) -> int:
    return 0 if symbol < DIRECT else symbol - DIRECT + BITS0 - 1


def starting_counts() -> np.ndarray:
    """A table of one context that knows nothing: every symbol once."""
    return np.ones((1, SYMBOLS), np.int64)
