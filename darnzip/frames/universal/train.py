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
    """Raw (context, symbol) counts of the count tables over everything seen so far."""

    def __init__(self, scheme: int = 2):
        for name, shape in cx.table_shapes(scheme).items():
            setattr(self, name, np.zeros(shape, np.int64))
        self.scheme = scheme
        self.frames = 0

    def add(self, other: "Statistics") -> None:
        """Add another's counts (of the same scheme): counting games in parallel, then summing."""
        for name in cx.table_shapes(self.scheme):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.frames += other.frames

    def add_stream(self, frames: Iterable[np.ndarray], colours: int, start: UniversalModel) -> None:
        """Count one stream of (H, W) palette frames of one size, coded as one chunk from `start`."""
        state = None
        for frame in frames:
            if state is None:
                geometry = Geometry(*frame.shape)
                state = ChunkState(geometry, start.tables(colours))
            code = analyse_frame(state, geometry.pad(frame))
            for step in code.latents:
                np.add.at(self.latent, (step.state_contexts, step.states), 1)
                np.add.at(self.vector, (step.vector_contexts, step.ranks), 1)
            for step in code.steps:
                np.add.at(self.pixel, (step.contexts, step.symbols), 1)
            if code.escape_set is not None:
                np.add.at(self.escape, (code.escape_set_contexts, code.escape_set), 1)
            self.frames += 1

    def model(self, strength: int, increment: int, limit: int) -> UniversalModel:
        """Starting counts: what each context allows (1 each), plus its seen frequencies scaled to a sum of
        about `strength`."""
        base = UniversalModel.untrained(increment, limit, self.scheme)
        tables = {}
        for name in base.table_names():
            seen = getattr(self, name)
            allowed = getattr(base, name)
            total = np.maximum(seen.sum(axis=1, keepdims=True), 1)
            tables[name] = allowed + np.where(allowed > 0, (seen * strength) // total, 0)
        return UniversalModel(tables["latent"], tables["vector"], tables["pixel"], base.increments, base.limits,
                              self.scheme, tables.get("escape"))
