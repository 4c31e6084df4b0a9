"""The universal frame model's weights: the count tables a chunk starts from, and how fast they adapt."""
from __future__ import annotations

import dataclasses

import numpy as np

from . import contexts as cx
from .coder import Tables
from darnzip.core.counts import CountTable

COLOUR_INCREMENT, COLOUR_LIMIT = 1, 1 << 16


@dataclasses.dataclass
class UniversalModel:
    latent: np.ndarray  # (LATENT_CONTEXTS, LATENT_STATES) starting counts
    vector: np.ndarray  # (VECTOR_CONTEXTS, V)
    pixel: np.ndarray  # (PIXEL_CONTEXTS, PIXEL_SYMBOLS)
    increments: dict  # per table: "latent", "vector", "pixel"
    limits: dict

    @classmethod
    def untrained(cls, increment: int = 16, limit: int = 1 << 16) -> "UniversalModel":
        """Uniform starting counts over what each context allows."""
        return cls(np.ones((cx.LATENT_CONTEXTS, cx.LATENT_STATES), np.int64),
                   np.ones((cx.VECTOR_CONTEXTS, len(cx.VECTORS)), np.int64),
                   cx.possible_symbols().astype(np.int64),
                   {k: increment for k in ("latent", "vector", "pixel")},
                   {k: limit for k in ("latent", "vector", "pixel")})

    def tables(self, colours: int, adapt: bool = True) -> Tables:
        """Fresh tables for a chunk of a palette of `colours` colours. An escaped colour's context is the
        colour at P (or none, past the frame's edge); its counts start uniform. Without `adapt`, the
        tables stay as they start (the frozen model, to measure what learning the stream saves)."""
        inc, lim = self.increments, self.limits
        frozen = not adapt
        return Tables(CountTable(self.latent, inc["latent"], lim["latent"], frozen),
                      CountTable(self.vector, inc["vector"], lim["vector"], frozen),
                      CountTable(self.pixel, inc["pixel"], lim["pixel"], frozen),
                      CountTable(np.ones((colours + 1, colours), np.int64), COLOUR_INCREMENT,
                                 max(COLOUR_LIMIT, 2 * colours), frozen))
