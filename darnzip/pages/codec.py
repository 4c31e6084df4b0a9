"""encode_page / decode_page: one binary image of any size to ANS word segments and back.

The first symbol says whether the page is coded inverted (ink is whichever value is rarer). Segment 0
holds the patch list (the latents, on top) and the first band of the residual's pixels, so the
sources' bits-back pops have the band's words to pop from; each later band has a segment of its own, so
an encoder or decoder holds one band's coding state at a time. Tables start from the model's counts and
adapt as the page is coded, alike on both sides.
"""
from __future__ import annotations

import dataclasses

import constriction
import numpy as np

from . import pixels
from .latents import PageDecodeError, Popper, Recorder, walk
from .model import PageModel
from .patches import Patches, plan_patches, stamp

__all__ = ["PageCode", "PageDecodeError", "decode_page", "encode_page"]


@dataclasses.dataclass
class PageCode:
    segments: list  # of uint32 word arrays
    patches: int
    copies: int
    pixel_bits: float  # the residual's information under the adapting counts

    @property
    def words(self) -> int:
        return sum(len(s) for s in self.segments)


def encode_page(image: np.ndarray, model: PageModel, copies: bool = True) -> PageCode:
    """(H, W) 0/1 uint8 -> its code; `copies=False` codes every pixel (to measure what copies save)."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape
    inverted = int(2 * int(image.sum()) > image.size)  # ink is the rarer value: code white on black as black on white
    if inverted:
        image = 1 - image
    plan, lines, residual = plan_patches(image) if copies else (Patches.empty(), [], image)
    table = model.pixel_table()
    latent_ops = Recorder()
    latent_ops.uniform(2, inverted)
    walk(latent_ops, model.latent_tables(), (height, width), plan, lines)
    segments, bits = [], 0.0
    for index, (r0, r1) in enumerate(pixels.band_bounds(height, width)):
        coder = constriction.stream.stack.AnsCoder()
        bits += pixels.push_band(coder, residual[r0:r1], residual[max(0, r0 - pixels.TOP):r0], table)
        if index == 0:
            latent_ops.push(coder)
        segments.append(coder.get_compressed())
    if not segments:  # an empty page (0 rows) still has its patch list
        coder = constriction.stream.stack.AnsCoder()
        latent_ops.push(coder)
        segments.append(coder.get_compressed())
    return PageCode(segments, len(plan), len(plan.copies), bits)


def decode_page(segments: list, shape: tuple[int, int], model: PageModel) -> np.ndarray:
    """The (H, W) 0/1 uint8 page that encode_page coded to `segments`; PageDecodeError if they do not decode."""
    height, width = shape
    bounds = pixels.band_bounds(height, width)
    if len(segments) != max(1, len(bounds)):
        raise PageDecodeError("the number of segments does not fit the page's size")
    table = model.pixel_table()
    residual = np.zeros((height, width), np.uint8)
    coder = constriction.stream.stack.AnsCoder(np.asarray(segments[0], np.uint32))
    try:
        popper = Popper(coder)
        inverted = popper.uniform(2)
        plan = walk(popper, model.latent_tables(), (height, width))
        for index, (r0, r1) in enumerate(bounds):
            if index:
                coder = constriction.stream.stack.AnsCoder(np.asarray(segments[index], np.uint32))
            residual[r0:r1] = pixels.pop_band(coder, r1 - r0, width, residual[max(0, r0 - pixels.TOP):r0], table)
            if not coder.is_empty():
                raise PageDecodeError(f"unused coded data after band {index}")
    except (ValueError, OverflowError) as exc:  # constriction's errors on words that are not a valid stream
        if isinstance(exc, PageDecodeError):
            raise
        raise PageDecodeError(f"the coded words are damaged ({exc})") from None
    page = stamp(residual, plan)
    return 1 - page if inverted else page
