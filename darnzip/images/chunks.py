"""One chunk = one independent ANS stream of images, coded batch by batch with bits back.

The first batch of a chunk has no bits on the stack to take back, so its latents are q's greedy mode,
coded without bits back (the initial-bits overhead). After that each batch is as large as the bits on
the stack can pay for: a pop takes on average the entropy of q, and popping more than the stack holds
still decodes exactly but yields poor samples that cost more than they return. The sizes are stored
with the chunk, so the decoder follows whatever schedule the encoder chose.
"""
from __future__ import annotations

import dataclasses

import constriction
import numpy as np

from darnzip.images.codec import BitsBackDarnCodec


class CorruptChunk(ValueError):
    """The chunk's stream does not decode to what its record declares."""


@dataclasses.dataclass
class EncodedChunk:
    words: np.ndarray  # uint32 ANS stream
    batch_sizes: list[int]
    pushed_bits: np.ndarray  # per image, -log2 p(x, h)
    posterior_bits: np.ndarray  # per image, -log2 q(h | x)
    first_batch: int  # images whose latents were coded without bits back

    @property
    def free_energy_bits(self) -> np.ndarray:
        return self.pushed_bits - self.posterior_bits

    @property
    def initial_bits(self) -> float:
        """Bits not taken back because the stack was empty: the first batch's -log2 q(h|x)."""
        return float(self.posterior_bits[: self.first_batch].sum())


def schedule_entropy(codec, posterior_entropy: np.ndarray) -> float:
    """Bits one pop of the next batch takes per image, estimated from the batch just coded.

    A batch's pops take the sum of its images' entropies, so current coders (certain posteriors) use
    the mean; archives written before them used the more cautious maximum, kept for identical bytes."""
    if not len(posterior_entropy):
        return 0.0
    if codec.certain_posterior:
        return float(posterior_entropy.mean())
    return float(posterior_entropy.max())


def encode_chunk(codec: BitsBackDarnCodec, images: np.ndarray, first_batch: int = 1, max_batch: int = 1024) -> EncodedChunk:
    """images: (N, D) uint8 in {0, 1}."""
    if first_batch < 1 or max_batch < first_batch:
        raise ValueError("need 1 <= first_batch <= max_batch")
    coder = constriction.stream.stack.AnsCoder()
    sizes: list[int] = []
    pushed = np.zeros(len(images))
    posterior = np.zeros(len(images))
    start, size = 0, first_batch
    while start < len(images):
        size = min(size, len(images) - start)
        stats = codec.push(coder, images[start : start + size], bits_back=bool(sizes))
        pushed[start : start + size] = stats.pushed
        posterior[start : start + size] = stats.posterior
        sizes.append(size)
        start += size
        size = codec.next_batch_size(coder.num_bits(), schedule_entropy(codec, stats.posterior_entropy), size, max_batch)
    return EncodedChunk(coder.get_compressed(), sizes, pushed, posterior, sizes[0] if sizes else 0)


def decode_chunk(codec: BitsBackDarnCodec, words: np.ndarray, batch_sizes: list[int]) -> np.ndarray:
    """Inverse of encode_chunk; raises CorruptChunk if the stream is not used up exactly."""
    try:
        coder = constriction.stream.stack.AnsCoder(np.ascontiguousarray(words, dtype=np.uint32))
    except ValueError as exc:  # e.g. a stream ending in a zero word, which no encoder writes
        raise CorruptChunk(str(exc)) from exc
    decoded = []
    try:
        for index in range(len(batch_sizes) - 1, -1, -1):
            decoded.append(codec.pop(coder, batch_sizes[index], bits_back=index > 0))
    except (ValueError, IndexError, OverflowError) as exc:
        # words that no encoder writes (crafted, or damaged with the CRC fixed) can decode latents that the
        # model says cannot occur: a certain posterior unit off its likelier value, a stream run dry
        raise CorruptChunk(str(exc)) from None
    if not coder.is_empty():
        raise CorruptChunk("stream has bits left over after decoding")
    size = codec.model.config.layer_sizes[0]
    if not decoded:
        return np.zeros((0, size), dtype=np.uint8)
    return np.concatenate(decoded[::-1], axis=0)
