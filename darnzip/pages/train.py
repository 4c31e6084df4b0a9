"""Training the page model: its starting counts are what the coder would count on training pages, scaled
so that each context starts with at most `strength` observations and the page's own counts soon outweigh
them (a prior, not a fixed table)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from . import pixels
from .latents import walk
from .model import PageModel
from .patches import plan_patches

PIXEL_STRENGTH = 16
LATENT_STRENGTH = 256


class _Counter:
    """A walk channel that counts the encoder's symbols per table and context."""

    def __init__(self, names: dict, counts: dict):
        self.names, self.counts = names, counts

    def symbol(self, table, context: int, value: int) -> int:
        self.counts[self.names[id(table)]][context, value] += 1
        return value

    def uniform(self, size: int, value: int) -> int:
        return value

    def source(self, count: int, root: np.ndarray, members: dict, value: int) -> int:
        return value


def empty_statistics() -> dict:
    return {name: np.zeros_like(array) for name, array in PageModel.untrained().arrays().items()}


def add_page(statistics: dict, image: np.ndarray) -> None:
    """Count one (H, W) 0/1 page's symbols into `statistics` as the encoder would code them."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    plan, lines, residual = plan_patches(image)
    for r0, r1 in pixels.band_bounds(*image.shape):
        ctx = pixels.all_contexts(residual[r0:r1], residual[max(0, r0 - pixels.TOP):r0])
        statistics["pixel"] += np.bincount((ctx * 2 + residual[r0:r1]).ravel(),
                                           minlength=2 * pixels.CONTEXTS).reshape(-1, 2)
    tables = PageModel.untrained().latent_tables()
    names = {id(tables.newline): "newline", id(tables.copy): "copy", id(tables.successor): "successor",
             **{id(table): f"int_{name}" for name, table in tables.integers.items()}}
    walk(_Counter(names, statistics), tables, image.shape, plan, lines)


def model_from_statistics(statistics: dict, pixel_strength: int = PIXEL_STRENGTH,
                          latent_strength: int = LATENT_STRENGTH) -> PageModel:
    """Starting counts: 1 + the counts scaled down to at most `strength` per context."""
    arrays = {}
    for name, counts in statistics.items():
        cap = pixel_strength if name == "pixel" else latent_strength
        totals = np.maximum(counts.sum(axis=1, keepdims=True), cap)
        arrays[name] = 1 + (counts * cap) // totals
    return PageModel.from_arrays(arrays)


def train_page_model(pages: Iterable[np.ndarray], **strengths) -> PageModel:
    statistics = empty_statistics()
    for page in pages:
        add_page(statistics, page)
    return model_from_statistics(statistics, **strengths)
