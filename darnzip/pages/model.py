"""The page model's parameters: the starting counts of its tables, which coding then adapts."""
from __future__ import annotations

import dataclasses

import numpy as np

from darnzip.core.counts import CountTable

from . import intcode, pixels
from .latents import INTEGER_FIELDS, LatentTables

PIXEL_INCREMENT, PIXEL_LIMIT = 4, 1 << 16
LATENT_INCREMENT, LATENT_LIMIT = 32, 1 << 12


@dataclasses.dataclass
class PageModel:
    pixel: np.ndarray  # (pixels.CONTEXTS, 2)
    newline: np.ndarray  # (1, 2)
    copy: np.ndarray  # (2, 2)
    successor: np.ndarray  # (3, 3)
    integers: dict  # INTEGER_FIELDS -> (1, intcode.SYMBOLS)

    @classmethod
    def untrained(cls) -> "PageModel":
        return cls(np.ones((pixels.CONTEXTS, 2), np.int64), np.ones((1, 2), np.int64), np.ones((2, 2), np.int64), np.ones((3, 3), np.int64),
                   {name: intcode.starting_counts() for name in INTEGER_FIELDS})

    def pixel_table(self) -> CountTable:
        return CountTable(self.pixel, PIXEL_INCREMENT, PIXEL_LIMIT)

    def latent_tables(self) -> LatentTables:
        return LatentTables(CountTable(self.newline, LATENT_INCREMENT, LATENT_LIMIT),
                            CountTable(self.copy, LATENT_INCREMENT, LATENT_LIMIT),
                            CountTable(self.successor, LATENT_INCREMENT, LATENT_LIMIT),
                            {name: CountTable(self.integers[name], LATENT_INCREMENT, LATENT_LIMIT)
                             for name in INTEGER_FIELDS})

    def arrays(self) -> dict:
        return {"pixel": self.pixel, "newline": self.newline, "copy": self.copy, "successor": self.successor,
                **{f"int_{name}": self.integers[name] for name in INTEGER_FIELDS}}

    @classmethod
    def from_arrays(cls, arrays: dict) -> "PageModel":
        model = cls(np.asarray(arrays["pixel"], np.int64), np.asarray(arrays["newline"], np.int64),
                    np.asarray(arrays["copy"], np.int64), np.asarray(arrays["successor"], np.int64),
                    {name: np.asarray(arrays[f"int_{name}"], np.int64) for name in INTEGER_FIELDS})
        shapes = cls.untrained()
        for name, array in model.arrays().items():
            if array.shape != shapes.arrays()[name].shape or array.min() < 1:
                raise ValueError(f"table {name} has the wrong shape or a count below 1")
        model.pixel_table(), model.latent_tables()  # checks each table's sums against its limit
        return model
