"""Pretraining the universal model: count what its contexts see on training streams, then scale the
counts into the starting tables. Counting is exact and one pass, so a model trains on a CPU in minutes and
a stream of any length trains in the memory of one frame."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from . import contexts as cx
from .coder import ChunkState, analyse_frame
from .geometry import Geometry
from .model import UniversalModel


class Statistics:
    """Raw (context, symbol) counts of the three tables over everything seen so far."""

    def __init__(self):
        self.latent = np.zeros((cx.LATENT_CONTEXTS, cx.LATENT_STATES), np.int64)
        self.vector = np.zeros((cx.VECTOR_CONTEXTS, len(cx.VECTORS)), np.int64)
        self.pixel = np.zeros((cx.PIXEL_CONTEXTS, cx.PIXEL_SYMBOLS), np.int64)
        self.frames = 0

    def add_stream(self, frames: Iterable[np.ndarray], colours: int, start: UniversalModel) -> None:
        """Count one stream of (H, W) palette frames of one size, coded as one chunk from `start`."""
        state = None
        for frame in frames:
            if state is None:
                geometry = Geometry(*frame.shape)
                state = ChunkState(geometry, start.tables(colours))
            code = analyse_frame(state, geometry.pad(frame))
            np.add.at(self.latent, (code.latent_contexts, code.states), 1)
            np.add.at(self.vector, (code.vector_contexts, code.ranks), 1)
            for ctx, sym, _, _ in code.steps:
                np.add.at(self.pixel, (ctx, sym), 1)
            self.frames += 1

    def model(self, strength: int, increment: int, limit: int) -> UniversalModel:
        """Starting counts: what each context allows (1 each), plus its seen frequencies scaled to a sum of
        about `strength`."""
        base = UniversalModel.untrained(increment, limit)
        tables = {}
        for name in ("latent", "vector", "pixel"):
            seen = getattr(self, name)
            allowed = getattr(base, name)
            total = np.maximum(seen.sum(axis=1, keepdims=True), 1)
            tables[name] = allowed + np.where(allowed > 0, (seen * strength) // total, 0)
        return UniversalModel(tables["latent"], tables["vector"], tables["pixel"], base.increments, base.limits)
