"""Exact ancestral sampling from the quantised model: top latent layer first, pixels last."""
from __future__ import annotations

import numpy as np

from darnzip.images.codec import LayerCodec
from darnzip.images.quantized import QuantizedDarn

__all__ = ["ancestral_samples"]  # the public names (docs/api.md)


def ancestral_samples(model: QuantizedDarn, count: int, seed: int = 0) -> np.ndarray:
    """(count, H, W) uint8 images drawn from p(h_L) ... p(x | h_1) with the coder's own probabilities."""
    rng = np.random.default_rng(seed)
    above = None
    for layer in reversed(model.prior_layers):
        above = LayerCodec(model, layer).draw(lambda p: (rng.random(p.shape) < p).astype(np.int32), above, count)
    return above.reshape(count, *model.config.image_shape)
