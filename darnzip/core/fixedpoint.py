"""Integer log2 and exp2 tables, computed with Python's `decimal` (software arithmetic, identical on every platform).

McBits chooses among posterior particles with probabilities proportional to importance weights; the
decoder must compute the same numbers bit for bit, so the weights are built from integer sums of
fixed-point information contents and an integer exp2, never from libm's log/exp.
"""
from __future__ import annotations

import decimal
import math
from functools import lru_cache

import numpy as np

BITS_FRAC = 16  # information contents in units of 2**-16 bits
WEIGHT_BITS = 30  # exp2 results in units of 2**-30
_CONTEXT = decimal.Context(prec=40)


def _log2(value: decimal.Decimal) -> decimal.Decimal:
    return _CONTEXT.divide(_CONTEXT.ln(value), _CONTEXT.ln(decimal.Decimal(2)))


# A float64 log2 is within a few ulps (relative 1e-15) of the truth; a value that far from a rounding
# boundary rounds the same way as the exact one, so `decimal` is needed only for values near a boundary.
_BOUNDARY_MARGIN = 1e-6  # in units of 2**-16 bits: about a billion ulps of slack


def _exact_bits(one: int, k: int) -> int:
    return int((_log2(decimal.Decimal(one) / decimal.Decimal(k)) * (1 << BITS_FRAC)).to_integral_value(
        rounding=decimal.ROUND_HALF_EVEN))


@lru_cache(maxsize=8)
def _bits_for_counts(counts: tuple[int, ...], one: int) -> np.ndarray:
    """round(2**16 * log2(one / k)) per count, the same on every platform (certified float, else decimal)."""
    out = np.empty(len(counts), dtype=np.int64)
    for i, k in enumerate(counts):
        scaled = math.log2(one / k) * (1 << BITS_FRAC)
        nearest = math.floor(scaled + 0.5)
        if abs(scaled - math.floor(scaled) - 0.5) < _BOUNDARY_MARGIN:
            nearest = _exact_bits(one, k)
        out[i] = nearest
    return out


def information_tables(lut: np.ndarray, prob_one: int) -> tuple[np.ndarray, np.ndarray]:
    """(bits of a 0, bits of a 1) per table index, as int64 in units of 2**-16 bits."""
    ones = tuple(int(k) for k in np.unique(lut))
    zeros = tuple(int(prob_one - k) for k in ones)
    bits_one = dict(zip(ones, _bits_for_counts(ones, prob_one)))
    bits_zero = dict(zip(ones, _bits_for_counts(zeros, prob_one)))
    return (np.array([bits_zero[int(k)] for k in lut], dtype=np.int64),
            np.array([bits_one[int(k)] for k in lut], dtype=np.int64))


@lru_cache(maxsize=1)
def _exp2_tables() -> tuple[np.ndarray, np.ndarray]:
    """2**(-a/256) and 2**(-b/65536) for a, b in 0..255, in units of 2**-30."""
    two = decimal.Decimal(2)
    scale = 1 << WEIGHT_BITS

    def table(denominator: int) -> np.ndarray:
        return np.array([int((_CONTEXT.power(two, decimal.Decimal(-i) / denominator) * scale).to_integral_value(
            rounding=decimal.ROUND_HALF_EVEN)) for i in range(256)], dtype=np.int64)

    return table(256), table(65536)


def exp2_negative(d: np.ndarray) -> np.ndarray:
    """floor-ish 2**30 * 2**(-d / 2**16) for int64 d >= 0, as int64 (0 once it underflows)."""
    coarse, fine = _exp2_tables()
    d = np.asarray(d, dtype=np.int64)
    whole = d >> BITS_FRAC
    frac = d & ((1 << BITS_FRAC) - 1)
    mantissa = (coarse[frac >> 8] * fine[frac & 255]) >> WEIGHT_BITS
    return np.where(whole >= 62, 0, mantissa >> np.minimum(whole, 62))


# Integer logits index a table of 16-bit probabilities; a logit is exact while |sum| < 2**24 (float32).
EXACT_FLOAT32_LIMIT = 2**24
PROB_BITS = 16
PROB_ONE = 1 << PROB_BITS


def sigmoid_table(frac_bits: int, logit_range: float) -> np.ndarray:
    """Probabilities (units of 2**-16, in [1, 2**16 - 1]) for integer logits -L..L, L = range * 2**frac_bits.

    Computed once, when a model is quantised, and stored in the model file; never recomputed to code.
    """
    limit = int(round(logit_range * (1 << frac_bits)))
    logits = np.arange(-limit, limit + 1, dtype=np.float64) / (1 << frac_bits)
    probs = np.rint(PROB_ONE / (1.0 + np.exp(-logits)))
    return np.clip(probs, 1, PROB_ONE - 1).astype(np.int32)
