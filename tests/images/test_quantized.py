"""The quantised model: integer logits are exact whatever the batch split, and unsafe models are refused."""
import numpy as np
import pytest

from darnzip.images.config import DarnConfig
from darnzip.images.quantized import (
    EXACT_FLOAT32_LIMIT,
    PROB_ONE,
    QuantizedDarn,
    quantize,
    sigmoid_table,
)

from ..conftest import random_binary_images, random_float_tensors, random_quantized


def test_sigmoid_table_is_monotone_and_inside_open_interval():
    table = sigmoid_table(10, 16.0)
    assert table.size == 2 * 16 * 1024 + 1
    assert table.min() >= 1 and table.max() <= PROB_ONE - 1
    assert np.all(np.diff(table) >= 0)
    assert table[table.size // 2] == PROB_ONE // 2


def test_logits_identical_for_every_batch_split():
    config = DarnConfig(image_shape=(28, 28), latent_sizes=(50,), q_autoregressive=True)
    model = random_quantized(config, seed=1)
    x = random_binary_images(257, (28, 28), seed=2).reshape(257, -1)
    layer = model.posterior_layers[1]
    full = layer.base_logits(x, len(x))
    for split in (1, 7, 64):
        parts = np.concatenate([layer.base_logits(x[i : i + split], len(x[i : i + split])) for i in range(0, len(x), split)])
        assert np.array_equal(parts, full)
    # every logit is an integer, as the exactness argument requires
    assert np.array_equal(full, np.rint(full))


def test_model_with_too_large_weights_is_refused():
    config = DarnConfig(image_shape=(4, 4), latent_sizes=(3,), q_autoregressive=False)
    tensors, lut = quantize(config, random_float_tensors(config, 0))
    tensors["p.0.bias"] = tensors["p.0.bias"].astype(np.int64)
    tensors["p.0.bias"][0] = EXACT_FLOAT32_LIMIT
    with pytest.raises(ValueError, match="too large"):
        QuantizedDarn(config, tensors, 10, lut)


def test_table_with_certain_probability_is_refused():
    config = DarnConfig(image_shape=(4, 4), latent_sizes=(3,), q_autoregressive=False)
    tensors, lut = quantize(config, random_float_tensors(config, 0))
    lut = lut.copy()
    lut[-1] = PROB_ONE
    with pytest.raises(ValueError, match="outside"):
        QuantizedDarn(config, tensors, 10, lut)


def test_bits_match_table_probabilities():
    config = DarnConfig(image_shape=(3, 3), latent_sizes=(2,), q_autoregressive=False)
    model = random_quantized(config)
    logits = np.array([[0.0, 1024.0, -1e9]], dtype=np.float32)
    units = np.array([[1, 0, 0]])
    p = model.probabilities(logits)[0].astype(np.float64)
    expected = -np.log2(p[0]) - np.log2(1 - p[1]) - np.log2(1 - p[2])
    assert model.bits(logits, units)[0] == pytest.approx(expected)
    assert p[0] == 0.5 and p[2] == 1 / PROB_ONE  # saturated logits use the table's end


def test_integer_model_matches_float_model_with_deterministic_layers():
    """The quantised model (integer activations by shifts) computes what the trained float model computes."""
    import torch

    from darnzip.images.model import Darn

    config = DarnConfig(image_shape=(6, 6), latent_sizes=(10, 5), q_autoregressive=True, deterministic_units=7)
    floats = random_float_tensors(config, 4, scale=0.4)
    darn = Darn(config)
    darn.load_named_tensors({k: torch.from_numpy(v).float() for k, v in floats.items()})
    tensors, lut = quantize(config, floats, frac_bits=12)
    model = QuantizedDarn(config, tensors, 12, lut)
    x = random_binary_images(200, (6, 6), seed=5).reshape(200, -1)
    h1 = random_binary_images(200, (2, 5), seed=6).reshape(200, -1)
    h2 = random_binary_images(200, (1, 5), seed=7).reshape(200, -1)
    exact = model.bits(model.prior_layers[0].logits(x, h1), x)
    with torch.no_grad():
        t = [torch.from_numpy(a).float() for a in (x, h1, h2)]
        reference = -(t[0] * darn.p_logits(0, t[0], t[1]) - torch.nn.functional.softplus(darn.p_logits(0, t[0], t[1]))).sum(-1)
    reference = reference.numpy() / np.log(2)
    assert np.mean(np.abs(exact - reference)) < 0.001 * np.mean(reference)
