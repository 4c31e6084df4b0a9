"""Connected components (8-connected) of a binary image, from its runs of black pixels: the candidate
patches the encoder looks for repeats among. Only the encoder needs them; the decoder reads the patches."""
from __future__ import annotations

import dataclasses

import numpy as np

MAX_RUNS = 8 << 20  # above this in a strip (noise, halftone) there are no repeated glyphs worth the memory


@dataclasses.dataclass
class Boxes:
    """Bounding boxes [y0, y1) x [x0, x1) and black-pixel counts of the components."""
    y0: np.ndarray
    y1: np.ndarray
    x0: np.ndarray
    x1: np.ndarray
    black: np.ndarray

    def __len__(self) -> int:
        return len(self.y0)


def _runs(image: np.ndarray, band: int = 1024):
    """Rows, starts and ends (exclusive) of the runs of 1s, row by row, left to right (a band of rows at a
    time, so that a large page needs no page-sized temporaries); None past MAX_RUNS runs."""
    parts, total = [], 0
    for top in range(0, image.shape[0], band):
        rows = image[top:top + band].astype(np.int8)
        edge = np.zeros((len(rows), 1), np.int8)
        steps = np.diff(np.concatenate([edge, rows, edge], axis=1), axis=1)
        ys, starts = np.nonzero(steps == 1)
        _, ends = np.nonzero(steps == -1)
        total += len(ys)
        if total > MAX_RUNS:
            return None
        parts.append((ys + top, starts, ends))
    if not parts:
        return (np.zeros(0, np.int64),) * 3
    return tuple(np.concatenate([part[k] for part in parts]).astype(np.int64) for k in range(3))


def _touching_pairs(rows, starts, ends, width):
    """Pairs (a, b) of runs on consecutive rows that touch (8-connected): run a on the row above b."""
    key = width + 2
    start_keys, end_keys = rows * key + starts, rows * key + ends
    first = np.searchsorted(end_keys, (rows - 1) * key + starts, "left")  # first run above ending at or after b's start
    last = np.searchsorted(start_keys, (rows - 1) * key + ends, "right")  # past the last starting by b's end
    counts = np.maximum(last - first, 0)
    b = np.repeat(np.arange(len(rows)), counts)
    a = np.repeat(first, counts) + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    above = rows[a] == rows[b] - 1
    return a[above], b[above]


def components(image: np.ndarray) -> Boxes | None:
    """The components of an (H, W) 0/1 image, or None when it has more than MAX_RUNS runs."""
    runs = _runs(image)
    if runs is None:
        return None
    rows, starts, ends = runs
    a, b = _touching_pairs(rows, starts, ends, image.shape[1])
    labels = np.arange(len(rows))
    while True:  # propagate the least label along touching runs, with pointer jumping, to a fixed point
        before = labels.copy()
        least = np.minimum(labels[a], labels[b])
        np.minimum.at(labels, a, least)
        np.minimum.at(labels, b, least)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            break
    _, comp = np.unique(labels, return_inverse=True)
    k = int(comp.max()) + 1 if len(comp) else 0
    y0, x0 = np.full(k, image.shape[0]), np.full(k, image.shape[1])
    y1, x1 = np.zeros(k, np.int64), np.zeros(k, np.int64)
    np.minimum.at(y0, comp, rows)
    np.maximum.at(y1, comp, rows + 1)
    np.minimum.at(x0, comp, starts)
    np.maximum.at(x1, comp, ends)
    black = np.bincount(comp, weights=ends - starts, minlength=k).astype(np.int64)
    return Boxes(y0.astype(np.int64), y1, x0.astype(np.int64), x1, black)
