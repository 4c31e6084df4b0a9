"""Shared fixtures: small random DARNs (fast, any architecture) written as real model files."""
from __future__ import annotations

import numpy as np
import pytest

from darnzip.images.config import DarnConfig, parameter_shapes
from darnzip.images.modelfile import load_model, save_model
from darnzip.images.quantized import QuantizedDarn, quantize


def random_float_tensors(config: DarnConfig, seed: int, scale: float = 0.6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.normal(0.0, scale, shape) for name, shape in parameter_shapes(config).items()}


def random_quantized(config: DarnConfig, seed: int = 0, frac_bits: int = 10, scale: float = 0.6) -> QuantizedDarn:
    """scale ~4 gives many logits beyond the table's ends, i.e. many certain posterior units."""
    tensors, lut = quantize(config, random_float_tensors(config, seed, scale), frac_bits=frac_bits)
    return QuantizedDarn(config, tensors, frac_bits, lut)


def random_binary_images(count: int, shape: tuple[int, int], seed: int, density: float = 0.2) -> np.ndarray:
    return (np.random.default_rng(seed).random((count, *shape)) < density).astype(np.uint8)


SMALL = DarnConfig(image_shape=(6, 5), latent_sizes=(7,), q_autoregressive=False)


@pytest.fixture
def small_model_file(tmp_path):
    """A small random model saved as model files; returns the .safetensors path."""
    tensors, lut = quantize(SMALL, random_float_tensors(SMALL, 3), frac_bits=10)
    stem = tmp_path / "models" / "small-test"
    save_model(stem, "small-test", SMALL, tensors, lut, 10)
    return stem.with_suffix(".safetensors")


@pytest.fixture
def small_loaded(small_model_file):
    return load_model(small_model_file)


def reindexed(data: bytes, original: bytes) -> bytes:
    """`original` (one archive of either kind) with its header rewritten into `data`, and its chunk index
    moved to match, as a crafter who fixes every checksum would: what is left to catch the rewrite is
    the header checks and the trailer's content hash."""
    import io

    from darnzip.core.index import ChunkIndex, member_spans, record_bytes

    (span,) = member_spans(io.BytesIO(original))
    shift = len(data) - len(original)  # the header's change of length moves every chunk
    index = ChunkIndex(tuple(offset + shift for offset in span.index.offsets), span.index.firsts, span.index.items,
                       len(data))
    return data[:-record_bytes(len(index.offsets))] + index.to_bytes()
