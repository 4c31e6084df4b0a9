"""Adaptive count tables: the parameters of the universal frame model and of the page model, which coder
and decoder update alike.

Each table holds integer counts per context and symbol. Its probabilities are the counts of a context
divided by their sum (a division of integers below 2**53: the same float64 on every machine), and after
each frame both sides add `increment` to the count of every (context, symbol) the frame coded, then
halve, rounding up, every context whose sum passed `limit`: a prequential code in exact integer
arithmetic, whose starting counts are the pretrained weights. A count that starts at 0 stays 0: the
symbol cannot occur in that context (a repeated candidate, say).
"""
from __future__ import annotations

import numpy as np


class CountTable:
    def __init__(self, counts: np.ndarray, increment: int, limit: int, frozen: bool = False):
        counts = np.array(counts, dtype=np.int64)
        if counts.ndim != 2 or counts.min() < 0 or not np.all(counts.sum(axis=1) > 0):
            raise ValueError("a count table needs non-negative counts and a positive sum in every context")
        if not (1 <= increment <= limit < 1 << 40 and limit >= 2 * counts.shape[1]):
            raise ValueError("a count table's increment and limit are out of range")
        self.counts, self.increment, self.limit = counts, int(increment), int(limit)
        self.frozen = frozen  # never updated: the starting counts throughout (to measure what adapting saves)
        self._rows: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.counts.shape

    def rows(self) -> np.ndarray:
        """(contexts, symbols) float64 probabilities: each context's counts over their sum."""
        if self._rows is None:
            self._rows = self.counts / self.counts.sum(axis=1, keepdims=True)
        return self._rows

    def probabilities(self, contexts: np.ndarray) -> np.ndarray:
        """(n, symbols) float64 probabilities of the given contexts alone (rows() for a few of many)."""
        counts = self.counts[contexts]
        return counts / counts.sum(axis=1, keepdims=True)

    def update(self, contexts: np.ndarray, symbols: np.ndarray) -> None:
        if self.frozen or not len(contexts):
            return
        contexts, symbols = np.asarray(contexts, np.int64), np.asarray(symbols, np.int64)
        n, k = self.counts.shape
        if len(contexts) * 8 < n:  # a few contexts of a large table: touch only those (the same counts)
            np.add.at(self.counts, (contexts, symbols), self.increment)
            touched = np.unique(contexts)
            over = touched[self.counts[touched].sum(axis=1) > self.limit]
            while len(over):
                self.counts[over] = (self.counts[over] + 1) >> 1
                over = over[self.counts[over].sum(axis=1) > self.limit]
        else:
            seen = np.bincount(contexts * k + symbols, minlength=n * k).reshape(n, k)
            self.counts += seen * self.increment
            over = self.counts.sum(axis=1) > self.limit
            while np.any(over):  # one halving may not be enough after a frame of many pixels in one context
                self.counts[over] = (self.counts[over] + 1) >> 1
                over = self.counts.sum(axis=1) > self.limit
        self._rows = None

    def copy(self) -> "CountTable":
        return CountTable(self.counts.copy(), self.increment, self.limit, self.frozen)
