"""Bits-back coding: exact round trips for random models, images and batch schedules; real sizes."""
import constriction
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darnzip.images.chunks import decode_chunk, encode_chunk
from darnzip.images.codec import BitsBackDarnCodec, LayerCodec
from darnzip.images.config import DarnConfig

from ..conftest import random_binary_images, random_quantized

CONFIGS = [
    DarnConfig(image_shape=(5, 4), latent_sizes=(6,), q_autoregressive=False),
    DarnConfig(image_shape=(5, 4), latent_sizes=(6,), q_autoregressive=True),
    DarnConfig(image_shape=(4, 4), latent_sizes=(5, 3), q_autoregressive=True),
    DarnConfig(image_shape=(3, 7), latent_sizes=(40, 9), q_autoregressive=False),  # > AR_BLOCK units
    DarnConfig(image_shape=(4, 5), latent_sizes=(6, 4), q_autoregressive=True, deterministic_units=5),
]


@settings(max_examples=40, deadline=None)
@given(
    config_index=st.integers(0, len(CONFIGS) - 1),
    model_seed=st.integers(0, 2**16),
    count=st.integers(0, 60),
    density=st.floats(0.0, 1.0),
    first_batch=st.integers(1, 8),
    max_batch=st.integers(8, 32),
    certain=st.booleans(),
    scale=st.sampled_from([0.6, 4.0]),
)
def test_chunk_round_trip_is_exact(config_index, model_seed, count, density, first_batch, max_batch, certain, scale):
    config = CONFIGS[config_index]
    codec = BitsBackDarnCodec(random_quantized(config, seed=model_seed, scale=scale), certain_posterior=certain)
    images = random_binary_images(count, config.image_shape, seed=model_seed + 1, density=density).reshape(count, config.layer_sizes[0])
    encoded = encode_chunk(codec, images, first_batch=first_batch, max_batch=max_batch)
    assert sum(encoded.batch_sizes) == count
    assert max(encoded.batch_sizes, default=1) <= max_batch
    decoded = decode_chunk(codec, encoded.words, encoded.batch_sizes)
    assert decoded.dtype == np.uint8
    assert np.array_equal(decoded, images)


def test_size_equals_free_energy_plus_initial_bits():
    """With bits back the stream grows by the summed one-sample free energy; only the first batch pays -log q."""
    config = DarnConfig(image_shape=(10, 10), latent_sizes=(12,), q_autoregressive=False)
    codec = BitsBackDarnCodec(random_quantized(config, seed=5, frac_bits=8))
    images = random_binary_images(3000, config.image_shape, seed=6).reshape(3000, -1)
    encoded = encode_chunk(codec, images, first_batch=1, max_batch=512)
    actual = 32 * len(encoded.words)
    expected = encoded.free_energy_bits.sum() + encoded.initial_bits
    assert abs(actual - expected) < 0.002 * expected + 96  # constriction's 24-bit quantisation + final word
    assert encoded.initial_bits == encoded.posterior_bits[0]


def test_bits_back_refunds_the_posterior_bits():
    """The stream is smaller than what was pushed by (almost) everything popped from q."""
    config = DarnConfig(image_shape=(8, 8), latent_sizes=(16,), q_autoregressive=False)
    codec = BitsBackDarnCodec(random_quantized(config, seed=7, frac_bits=8))
    images = random_binary_images(2000, config.image_shape, seed=8).reshape(2000, -1)
    encoded = encode_chunk(codec, images, first_batch=1, max_batch=256)
    refund = encoded.posterior_bits.sum()
    assert refund > 2000  # the posterior really has entropy to give back
    assert 32 * len(encoded.words) < encoded.pushed_bits.sum() - 0.99 * refund


@pytest.mark.parametrize("certain", [False, True])
@pytest.mark.parametrize("autoregressive", [False, True])
def test_pop_then_push_restores_the_stack_exactly(certain, autoregressive):
    config = DarnConfig(image_shape=(4, 4), latent_sizes=(33,), q_autoregressive=autoregressive)
    model = random_quantized(config, seed=9, scale=3.0)
    layer = LayerCodec(model, model.posterior_layers[1], certain)
    coder = constriction.stream.stack.AnsCoder(np.random.default_rng(0).integers(0, 2**32, 50, dtype=np.uint32))
    before = coder.get_compressed().copy()
    context = random_binary_images(11, (4, 4), seed=10).reshape(11, -1)
    units = layer.pop(coder, context, 11)
    if certain:  # the case is real: some units are certain, and popping them took no bits
        assert model.lut_certain[model.table_index(layer.layer.logits(units, context))].mean() > 0.05
    layer.push(coder, units, context)
    assert np.array_equal(coder.get_compressed(), before)


def test_certain_posterior_units_cost_nothing_and_are_not_coded():
    """With certain units the stream still equals the accounting, and q's extreme units are fixed, not drawn."""
    config = DarnConfig(image_shape=(6, 6), latent_sizes=(40,), q_autoregressive=False)
    model = random_quantized(config, seed=21, frac_bits=8, scale=2.5)
    images = random_binary_images(1500, config.image_shape, seed=22).reshape(1500, -1)
    logits = model.posterior_layers[1].base_logits(images, len(images))
    certain = model.lut_certain[model.table_index(logits)]
    assert 0.1 < certain.mean() < 0.9
    encoded = encode_chunk(BitsBackDarnCodec(model, certain_posterior=True), images, max_batch=256)
    actual = 32 * len(encoded.words)
    expected = encoded.free_energy_bits.sum() + encoded.initial_bits
    assert abs(actual - expected) < 0.002 * expected + 96
    codec = BitsBackDarnCodec(model, certain_posterior=True)
    coder = constriction.stream.stack.AnsCoder(np.random.default_rng(1).integers(0, 2**32, 20000, dtype=np.uint32))
    h = codec.posteriors[1].pop(coder, images, len(images))
    assert np.array_equal(h[certain], model.lut_mode[model.table_index(logits)][certain])
    assert np.array_equal(decode_chunk(codec, encoded.words, encoded.batch_sizes), images)
    # and a certain unit given its unlikelier value is refused, not silently mis-coded
    bad = h.copy()
    row, col = np.argwhere(certain)[0]
    bad[row, col] ^= 1
    with pytest.raises(ValueError, match="certain"):
        codec.posteriors[1].push(coder, bad, images)


def test_trailing_garbage_in_stream_is_detected():
    from darnzip.images.chunks import CorruptChunk

    config = CONFIGS[0]
    codec = BitsBackDarnCodec(random_quantized(config, seed=11))
    images = random_binary_images(20, config.image_shape, seed=12).reshape(20, -1)
    encoded = encode_chunk(codec, images)
    with pytest.raises(CorruptChunk):
        decode_chunk(codec, np.concatenate([[12345], encoded.words]).astype(np.uint32), encoded.batch_sizes)
