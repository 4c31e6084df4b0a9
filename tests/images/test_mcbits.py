"""McBits: exact round trips, exact integer weights, and a real saving over plain bits-back."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from darnzip.core.fixedpoint import (
    BITS_FRAC,
    WEIGHT_BITS,
    exp2_negative,
    information_tables,
)
from darnzip.images.chunks import decode_chunk, encode_chunk
from darnzip.images.codec import BitsBackDarnCodec
from darnzip.images.config import DarnConfig
from darnzip.images.mcbits import McBitsDarnCodec
from darnzip.images.quantized import PROB_ONE

from ..conftest import random_binary_images, random_quantized

CONFIGS = [
    DarnConfig(image_shape=(5, 4), latent_sizes=(6,), q_autoregressive=False),
    DarnConfig(image_shape=(4, 4), latent_sizes=(5, 3), q_autoregressive=True),
    DarnConfig(image_shape=(3, 7), latent_sizes=(37,), q_autoregressive=True),
    DarnConfig(image_shape=(4, 4), latent_sizes=(6,), q_autoregressive=False, deterministic_units=3),
]


@settings(max_examples=30, deadline=None)
@given(config_index=st.integers(0, len(CONFIGS) - 1), seed=st.integers(0, 2**16), count=st.integers(0, 40),
       particles=st.integers(2, 6), max_batch=st.integers(1, 16), min_batch=st.integers(1, 6),
       certain=st.booleans(), scale=st.sampled_from([0.6, 4.0]))
def test_round_trip_is_exact(config_index, seed, count, particles, max_batch, min_batch, certain, scale):
    config = CONFIGS[config_index]
    codec = McBitsDarnCodec(random_quantized(config, seed=seed, scale=scale), particles, min_batch, certain)
    images = random_binary_images(count, config.image_shape, seed=seed + 1).reshape(count, config.layer_sizes[0])
    encoded = encode_chunk(codec, images, first_batch=1, max_batch=max_batch)
    assert np.array_equal(decode_chunk(codec, encoded.words, encoded.batch_sizes), images)


def test_more_particles_code_smaller_than_bits_back():
    config = DarnConfig(image_shape=(8, 8), latent_sizes=(16,), q_autoregressive=False)
    model = random_quantized(config, seed=5, frac_bits=8)
    images = random_binary_images(1500, config.image_shape, seed=6).reshape(1500, -1)
    sizes = {1: len(encode_chunk(BitsBackDarnCodec(model), images).words)}
    for k in (2, 8):
        codec = McBitsDarnCodec(model, k, min_batch=32)
        encoded = encode_chunk(codec, images)
        assert sum(s for s in encoded.batch_sizes[1:] if s >= 32) > 1000  # most images really used particles
        sizes[k] = len(encoded.words)
    assert sizes[8] < sizes[2] < sizes[1]
    # the stream matches the accounting (pushed - popped), as for plain bits-back, with and without certain units
    for certain in (False, True):
        encoded = encode_chunk(McBitsDarnCodec(model, 4, min_batch=32, certain_posterior=certain), images)
        expected = encoded.free_energy_bits.sum() + encoded.initial_bits
        assert abs(32 * len(encoded.words) - expected) < 0.003 * expected + 96


def test_fixed_point_tables():
    assert exp2_negative(np.array([0]))[0] == 1 << WEIGHT_BITS
    assert exp2_negative(np.array([1 << BITS_FRAC]))[0] == 1 << (WEIGHT_BITS - 1)
    values = exp2_negative(np.arange(0, 40 << BITS_FRAC, 997))
    assert np.all(np.diff(values) <= 0) and values[-1] == 0
    lut = np.array([1, 3, 32768, 65535], dtype=np.int32)
    zero, one = information_tables(lut, PROB_ONE)
    exact_one = -np.log2(lut / PROB_ONE)
    exact_zero = -np.log2(1 - lut / PROB_ONE)
    assert np.allclose(one / 2**BITS_FRAC, exact_one, atol=1e-4) and np.allclose(zero / 2**BITS_FRAC, exact_zero, atol=1e-4)
    assert one.dtype == np.int64 and one[2] == zero[2] == 1 << BITS_FRAC


def test_warm_up_codes_small_batches_without_particles():
    """Batches below min_batch are plain bits-back; the encoder keeps them below it until the stack can pay."""
    config = CONFIGS[0]
    model = random_quantized(config, seed=8)
    images = random_binary_images(600, config.image_shape, seed=9).reshape(600, -1)
    encoded = encode_chunk(McBitsDarnCodec(model, 8, min_batch=40), images, max_batch=128)
    sizes = encoded.batch_sizes
    first_mcbits = next(i for i, s in enumerate(sizes) if s >= 40)
    assert first_mcbits > 1 and all(s < 40 for s in sizes[:first_mcbits])
    assert np.array_equal(decode_chunk(McBitsDarnCodec(model, 8, min_batch=40), encoded.words, sizes), images)


def test_one_particle_is_refused():
    with pytest.raises(ValueError):
        McBitsDarnCodec(random_quantized(CONFIGS[0]), 1)


def test_information_table_from_certified_floats_equals_the_decimal_one():
    """The fast table (float log2 away from rounding boundaries) must equal the all-decimal one everywhere."""
    from darnzip.core.fixedpoint import _bits_for_counts, _exact_bits

    counts = tuple(range(1, PROB_ONE, 7)) + (PROB_ONE - 1,)
    fast = _bits_for_counts(counts, PROB_ONE)
    exact = np.array([_exact_bits(PROB_ONE, k) for k in counts])
    assert np.array_equal(fast, exact)
