"""The encoder's choice of patches: which components repeat an earlier one, in what order they are listed.

A listed patch is a box of the page. The first of a class of identical boxes (the same size and the same
pixels) is its root, drawn: its pixels stay in the residual image. Every later one is a copy: its box
is cleared from the residual, and the decoder stamps the root's pixels back there (OR), so the page is
residual | stamps exactly. Patches are listed text line by text line, left to right, which makes their
positions cheap to code (latents.py). None of this is needed to decode: the decoder reads the list.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .components import Boxes, components

MIN_AREA = 12  # smaller boxes (dots, specks) cost less as pixels than as a patch
MIN_BLACK = 4
MAX_SIDE = 1024  # of a patch box; keeps a latent's values and a stamp's cost bounded


@dataclasses.dataclass
class Patches:
    """The listed patches in list order: box top-left, size, and the list index of each one's root."""
    y0: np.ndarray
    x0: np.ndarray
    h: np.ndarray
    w: np.ndarray
    root: np.ndarray  # root[i] == i for a drawn root, < i for a copy

    def __len__(self) -> int:
        return len(self.y0)

    @classmethod
    def empty(cls) -> "Patches":
        z = np.zeros(0, np.int64)
        return cls(z, z, z, z, z)

    @property
    def copies(self) -> np.ndarray:
        return np.flatnonzero(self.root != np.arange(len(self)))

    def box(self, i: int) -> tuple[slice, slice]:
        """Patch i's box, as an index of the page."""
        return slice(self.y0[i], self.y0[i] + self.h[i]), slice(self.x0[i], self.x0[i] + self.w[i])


def _lines(boxes: Boxes, chosen: np.ndarray) -> list[np.ndarray]:
    """Group the chosen boxes into text lines (a box whose vertical centre lies in the line's span so far
    joins it), top to bottom; each line's boxes left to right."""
    order = chosen[np.lexsort((boxes.x0[chosen], boxes.y0[chosen]))]
    lines, current, top, bottom = [], [], 0, 0
    for i in order.tolist():
        centre2 = boxes.y0[i] + boxes.y1[i]  # twice the centre, in integers
        if current and 2 * top <= centre2 < 2 * bottom:
            current.append(i)
            bottom = max(bottom, int(boxes.y1[i]))
        else:
            if current:
                lines.append(np.array(current))
            current, top, bottom = [i], int(boxes.y0[i]), int(boxes.y1[i])
    if current:
        lines.append(np.array(current))
    return [line[np.argsort(boxes.x0[line], kind="stable")] for line in lines]


def residual_of(image: np.ndarray, patches: Patches) -> np.ndarray:
    """The page with every copy's box cleared: what the pixel coder codes."""
    residual = image.copy()
    for i in patches.copies.tolist():
        residual[patches.box(i)] = 0
    return residual


def stamp(residual: np.ndarray, patches: Patches) -> np.ndarray:
    """The page: the residual with each copy's root box ORed into the copy's box (the decoder's side)."""
    page = residual.copy()
    for i in patches.copies.tolist():
        page[patches.box(i)] |= residual[patches.box(patches.root[i])]
    return page


def _listed(boxes: Boxes, order: np.ndarray, classes: np.ndarray, keep: np.ndarray) -> Patches:
    """The patches of the kept classes, in list order, each class's first one its root."""
    listed = order[keep[classes[order]]]
    first: dict[int, int] = {}
    roots = np.array([first.setdefault(int(classes[i]), n) for n, i in enumerate(listed.tolist())], np.int64)
    return Patches(boxes.y0[listed], boxes.x0[listed], boxes.y1[listed] - boxes.y0[listed],
                   boxes.x1[listed] - boxes.x0[listed], roots.reshape(-1))


STRIP_PIXELS = 1 << 26  # components are found a strip of rows at a time (one cut at a strip's edge is two
# patches): the encoder's memory is bounded by a strip, whatever the page holds (a chunk is one strip)


def _strip_components(image: np.ndarray) -> Boxes:
    rows = max(1024, STRIP_PIXELS // max(1, image.shape[1]))
    parts = []
    for top in range(0, image.shape[0], rows):
        boxes = components(image[top:top + rows])
        if boxes is not None:  # a strip of noise has no repeats worth its memory
            boxes.y0 += top
            boxes.y1 += top
            parts.append(boxes)
    if not parts:
        return Boxes(*(np.zeros(0, np.int64) for _ in range(5)))
    return Boxes(*(np.concatenate([getattr(b, f) for b in parts]) for f in ("y0", "y1", "x0", "x1", "black")))


def plan_patches(image: np.ndarray) -> tuple[Patches, list[np.ndarray], np.ndarray]:
    """(patches, lines as arrays of list indices, the residual) for an (H, W) 0/1 uint8 image."""
    boxes = _strip_components(image)
    if len(boxes) < 2:
        return Patches.empty(), [], image
    h, w = boxes.y1 - boxes.y0, boxes.x1 - boxes.x0
    chosen = np.flatnonzero((h * w >= MIN_AREA) & (boxes.black >= MIN_BLACK) & (h <= MAX_SIDE) & (w <= MAX_SIDE))
    lines = _lines(boxes, chosen)
    order = np.concatenate(lines) if lines else np.zeros(0, np.int64)
    keys: dict[bytes, int] = {}
    classes = np.full(len(boxes), -1, np.int64)
    for i in order.tolist():
        box = image[boxes.y0[i]:boxes.y1[i], boxes.x0[i]:boxes.x1[i]]
        classes[i] = keys.setdefault(np.int64(box.shape).tobytes() + np.packbits(box).tobytes(), len(keys))
    keep = np.bincount(classes[order], minlength=len(keys)) >= 2
    while True:  # drop every class whose root box a copy's box overlaps, until none does
        patches = _listed(boxes, order, classes, keep)
        residual = residual_of(image, patches)
        spoiled = [r for r in np.unique(patches.root).tolist()
                   if not np.array_equal(residual[patches.box(r)], image[patches.box(r)])]
        if not spoiled:
            break
        listed = order[keep[classes[order]]]
        keep[classes[listed[spoiled]]] = False
    listed = order[keep[classes[order]]]
    position = {int(i): n for n, i in enumerate(listed.tolist())}
    kept_lines = [np.array([position[int(i)] for i in line if int(i) in position], np.int64) for line in lines]
    return patches, [line for line in kept_lines if len(line)], residual
