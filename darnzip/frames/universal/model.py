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
    increments: dict  # per table: "latent", "vector", "pixel" (and "escape")
    limits: dict
    scheme: int = 2  # how the frames are coded (contexts.py); universal-frames-v1 is scheme 1
    escape: np.ndarray | None = None  # scheme 2: (ESCAPE_SET_CONTEXTS, 2)

    @classmethod
    def untrained(cls, increment: int = 16, limit: int = 1 << 16, scheme: int = 2) -> "UniversalModel":
        """Uniform starting counts over what each context allows."""
        shapes = cx.table_shapes(scheme)
        return cls(np.ones(shapes["latent"], np.int64), np.ones(shapes["vector"], np.int64),
                   cx.possible_symbols().astype(np.int64),
                   {k: increment for k in shapes}, {k: limit for k in shapes}, scheme,
                   np.ones(shapes["escape"], np.int64) if "escape" in shapes else None)

    def table_names(self) -> tuple[str, ...]:
        return tuple(cx.table_shapes(self.scheme))

    def tables(self, colours: int, adapt: bool = True) -> Tables:
        """Fresh tables for a chunk of a palette of `colours` colours. An escaped colour's context is the
        colour at P (or none, past the frame's edge); its counts start uniform. Without `adapt`, the
        tables stay as they start (the frozen model, to measure what learning the stream saves)."""
        inc, lim = self.increments, self.limits
        frozen = not adapt
        table = {name: CountTable(getattr(self, name), inc[name], lim[name], frozen) for name in self.table_names()}
        return Tables(table["latent"], table["vector"], table["pixel"],
                      CountTable(np.ones((colours + 1, colours), np.int64), COLOUR_INCREMENT,
                                 max(COLOUR_LIMIT, 2 * colours), frozen), self.scheme, table.get("escape"))
