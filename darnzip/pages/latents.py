"""The patch list: the page DARN's binary latents (copy or draw, which earlier patch) and the boxes.

One walk over the list serves both sides (a channel either records what the encoder knows or pops what
the decoder learns), field by field, each with its adaptive counts:
new line? copy? then whether it is of the class that followed the last two classes or the last one the
last time, else its source, else (a new class) the box's size; then the line's baseline and left edge relative to
the last line's, or the gap after the last box (relative to the last gap between the same two classes);
then the box's bottom relative to the baseline (relative to the class's, once the class is known).
The source is bits-back coded: the prior is uniform over all earlier patches, and the posterior q is
uniform over the earlier patches of the same class (the same root), all of which reproduce the box; the
decoder pushes the popped source's rank among them back. So a copy costs -log2 of its class's share of
the list, the class's frequency, without a separate table of classes.
"""
from __future__ import annotations

import bisect
import dataclasses

import constriction
import numpy as np

from darnzip.core.counts import CountTable

from . import intcode
from .patches import MAX_SIDE, Patches

CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
MAX_PATCHES = 1 << 20  # a source is uniform over at most this many (constriction's uniform is 24-bit)
INTEGER_FIELDS = ("count", "line_dy", "line_dx", "gap", "gap_seen", "height", "width", "drop", "drop_seen")


class PageDecodeError(ValueError):
    """The words do not decode to a page the model could have coded (a damaged or foreign stream)."""


@dataclasses.dataclass
class LatentTables:
    newline: CountTable  # one context
    copy: CountTable  # context: whether the previous patch was a copy
    successor: CountTable  # contexts: how many classes are predicted (0-2); symbols: which one, or none
    integers: dict  # INTEGER_FIELDS -> CountTable of one context over intcode.SYMBOLS


class Recorder:
    """The encoder's channel: returns the values it is given and records, in the decoder's order, what to push."""

    def __init__(self):
        self.ops: list = []

    def symbol(self, table: CountTable, context: int, value: int) -> int:
        self.ops.append(("cat", value, table.probabilities(np.array([context]))))
        table.update(np.array([context]), np.array([value]))
        return value

    def uniform(self, size: int, value: int) -> int:
        self.ops.append(("uni", value, size))
        return value

    def source(self, count: int, root: np.ndarray, members: dict, value: int) -> int:
        """The class `value` of a copy; its source, one of the class's earlier patches, is popped when pushing."""
        self.ops.append(("src", count, members[value], len(members[value])))
        return value

    def push(self, coder) -> None:
        """Push everything recorded, last first; each source is popped from q before it is pushed."""
        for op in reversed(self.ops):
            if op[0] == "cat":
                coder.encode_reverse(np.array([op[1]], np.int32), CATEGORICAL, op[2])
            elif op[0] == "uni":
                if op[2] > 1:  # a choice of one costs nothing (and constriction refuses it)
                    coder.encode_reverse(np.array([op[1]], np.int32), constriction.stream.model.Uniform(op[2]))
            else:
                _, count, members, m = op
                rank = int(coder.decode(constriction.stream.model.Uniform(m), 1)[0]) if m > 1 else 0
                if count > 1:
                    coder.encode_reverse(np.array([members[rank]], np.int32), constriction.stream.model.Uniform(count))


class Popper:
    """The decoder's channel: pops each value (the encoder's values are ignored: None)."""

    def __init__(self, coder):
        self.coder = coder

    def symbol(self, table: CountTable, context: int, value=None) -> int:
        value = int(self.coder.decode(CATEGORICAL, table.probabilities(np.array([context])))[0])
        table.update(np.array([context]), np.array([value]))
        return value

    def uniform(self, size: int, value=None) -> int:
        if size == 1:
            return 0
        return int(self.coder.decode(constriction.stream.model.Uniform(size), 1)[0])

    def source(self, count: int, root: np.ndarray, members: dict, value=None) -> int:
        """Pop a source among `count` earlier patches, push back its rank in its class; its class."""
        s = self.uniform(count)
        group = members[int(root[s])]  # in list order
        if len(group) > 1:
            self.coder.encode_reverse(np.array([bisect.bisect_left(group, s)], np.int32),
                                      constriction.stream.model.Uniform(len(group)))
        return int(root[s])


def integer(channel, table: CountTable, value: int | None) -> int:
    symbol, raw, _ = intcode.split(value) if value is not None else (None, 0, 0)
    symbol = channel.symbol(table, 0, symbol)
    raw_value, shift = 0, 0
    for bits in intcode.raw_chunks(intcode.raw_width(symbol)):
        part = None if value is None else (raw >> shift) & ((1 << bits) - 1)
        raw_value |= channel.uniform(1 << bits, part) << shift
        shift += bits
    return intcode.join(symbol, raw_value)


def walk(channel, tables: LatentTables, shape: tuple[int, int], plan: Patches | None = None,
         lines: list[np.ndarray] | None = None) -> Patches:
    """Code the patch list of a page of `shape` through `channel`: the encoder passes its plan and lines,
    the decoder None, and both get the patches back."""
    height, width = shape
    encoding = plan is not None
    ints = tables.integers
    n = integer(channel, ints["count"], len(plan) if encoding else None)
    if not 0 <= n <= min(MAX_PATCHES, height * width):
        raise PageDecodeError("the patch count is out of range")
    starts = np.zeros(n, bool)
    baselines = np.zeros(n, np.int64)
    if encoding:
        for line in lines:
            starts[line[0]] = True
            bottoms = plan.y0[line] + plan.h[line]
            baselines[line] = np.bincount(bottoms).argmax()
    y0, x0, h, w, root = (np.zeros(n, np.int64) for _ in range(5))
    members: dict[int, list[int]] = {}
    last_drop: dict[int, int] = {}  # per class: its box's bottom below the baseline, last time
    pair_gap: dict[tuple[int, int], int] = {}  # per (class before, class): the gap between them, last time
    follows: dict[int, int] = {}  # per class: the class after it, last time
    follows2: dict[tuple[int, int], int] = {}  # per pair of classes: the class after them, last time
    base = line_x0 = last_x1 = last_copy = 0
    last_root = before_last = -1
    for i in range(n):
        newline = 1 if i == 0 else channel.symbol(tables.newline, 0, int(starts[i]) if encoding else None)
        is_copy = 0 if i == 0 else channel.symbol(tables.copy, last_copy,
                                                 int(plan.root[i] != i) if encoding else None)
        if is_copy:  # the class that followed the last two classes, or the last one, last time; else any
            guesses = list(dict.fromkeys(g for g in (follows2.get((before_last, last_root)), follows.get(last_root))
                                         if g is not None))
            pick = channel.symbol(tables.successor, len(guesses),
                                  (guesses + [int(plan.root[i])]).index(int(plan.root[i])) if encoding else None)
            r = guesses[pick] if pick < len(guesses) else \
                channel.source(i, root, members, int(plan.root[i]) if encoding else None)
            root[i], h[i], w[i] = r, h[r], w[r]
        else:
            root[i] = r = i
            h[i] = 1 + integer(channel, ints["height"], int(plan.h[i]) - 1 if encoding else None)
            w[i] = 1 + integer(channel, ints["width"], int(plan.w[i]) - 1 if encoding else None)
        if newline:
            base += integer(channel, ints["line_dy"], int(baselines[i]) - base if encoding else None)
            line_x0 += integer(channel, ints["line_dx"], int(plan.x0[i]) - line_x0 if encoding else None)
            x0[i] = line_x0
        else:  # the gap after the last box, predicted by the last gap between the same two classes
            seen = pair_gap.get((last_root, r))
            guess = last_x1 + (seen or 0)
            x0[i] = guess + integer(channel, ints["gap" if seen is None else "gap_seen"],
                                    int(plan.x0[i]) - guess if encoding else None)
            pair_gap[(last_root, r)] = int(x0[i]) - last_x1
        seen = last_drop.get(r)
        guess = base + (seen or 0)
        bottom = guess + integer(channel, ints["drop" if seen is None else "drop_seen"],
                                 int(plan.y0[i] + plan.h[i]) - guess if encoding else None)
        last_drop[r] = bottom - base
        y0[i] = bottom - h[i]
        if not (1 <= h[i] <= MAX_SIDE and 1 <= w[i] <= MAX_SIDE and 0 <= y0[i] and bottom <= height
                and 0 <= x0[i] and x0[i] + w[i] <= width):
            raise PageDecodeError("a patch lies outside the page")
        members.setdefault(r, []).append(i)
        follows[last_root], follows2[(before_last, last_root)] = r, r
        last_x1, last_copy, last_root, before_last = int(x0[i] + w[i]), is_copy, r, last_root
    return Patches(y0, x0, h, w, root)
