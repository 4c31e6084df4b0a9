"""Ancestral samples of a frame model: each frame drawn given the frames before it.

ANS decoding of uniformly random words draws every symbol from the exact quantised distribution the
coder uses, so a frame is sampled by the decoder itself (FrameCodec.pop) from fresh random words: h
from its prior, each copy's motion vector (or class) from its prior, each drawn pixel from the pixel
model in coding order. A stream starts from the model's first reference frame, as a chunk does. A drawn
block may repeat frame t-1 (the model allows it; an archive never holds one: the encoder copies such a
block). A frame the decoder cannot build (a copy whose vector reads outside the frame) or would refuse
(a vector that is not the first of its class) is drawn again, so the samples come from the model
restricted to frames made of the palette's colours.
"""
from __future__ import annotations

from typing import Iterator

import constriction
import numpy as np

from .codec import FrameDecodeError
from .container import KIND_MODELLED

__all__ = ["sample_frames"]  # the public names (docs/api.md)

MAX_TRIES = 1000  # draws of one frame before giving up
WORDS_PER_DRAW = 4096  # random 32-bit words under each draw: far more than a frame takes


class SamplingError(RuntimeError):
    """No frame the decoder accepts was drawn in MAX_TRIES tries."""


def sample_frames(loaded, count: int, seed: int) -> Iterator[np.ndarray]:
    """`count` RGB frames of an ancestral sample, the same for the same seed and model. Only the frames a
    model with a history may copy from are kept, so memory does not grow with `count`."""
    chunk_codec = loaded.chunk_codec()
    codec = chunk_codec.codec
    rng = np.random.default_rng(seed)
    keep = max(2, codec.cfg.history)
    kinds = np.full(count, KIND_MODELLED, dtype=np.uint8)
    frames: list[np.ndarray | None] = [None] * count
    for i in range(count):
        prev, prev2 = chunk_codec.context(i, kinds, frames, {})
        older = chunk_codec.older(i, frames)
        for _ in range(MAX_TRIES):
            coder = constriction.stream.stack.AnsCoder(rng.integers(0, 1 << 32, WORDS_PER_DRAW, dtype=np.uint32))
            try:
                frames[i] = codec.pop(coder, prev, prev2, bits_back=True, older=older, sampling=True)
                break
            except FrameDecodeError:
                continue
        else:
            raise SamplingError(f"frame {i}: no frame the decoder accepts in {MAX_TRIES} draws")
        if i >= keep:
            frames[i - keep] = None
        yield loaded.palette.to_rgb(frames[i])
