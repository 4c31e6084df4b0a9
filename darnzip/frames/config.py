"""Architecture of a frame-stream DARN: what a frame model sees and how big its tables are.

A frame is a map of palette indices. Its latent layer has one binary unit per block of BLOCK x BLOCK
pixels ("this block is drawn by the pixel model" vs "this block repeats the previous frame"). The prior
and the posterior of a unit are integer table lookups on features of the previous two frames (and, for
the posterior, of the current frame); the pixel model is an integer embedding bag over the colours seen
at fixed offsets in the previous two frames, one quantised hidden layer, and a skip path.
"""
from __future__ import annotations

import dataclasses
import functools
import json

__all__ = ["DEFAULT_HIDDEN"]  # the public names (docs/api.md)

MOTION_BUCKETS = 8  # changed-pixel count of a block between t-2 and t-1: 0, 1, 2-3, ..., 32+, "no t-2"
NEIGHBOUR_VALUES = 9  # changed blocks among the 8 neighbours
RING_VALUES = 9  # changed blocks in the 5x5 ring around the 3x3 neighbourhood, capped at 8


def _window(radius: int) -> list[list[int]]:
    return [[dy, dx] for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]


def arms(radius: int, horizontal, vertical) -> list[list[int]]:
    """A dense window plus horizontal and vertical arms: Atari objects mostly move along the axes."""
    offsets = _window(radius)
    offsets += [[0, s * d] for d in horizontal for s in (-1, 1)]
    offsets += [[s * d, 0] for d in vertical for s in (-1, 1)]
    return offsets


PREV_OFFSETS = tuple(map(tuple, arms(2, (3, 4, 6, 8, 10, 12), (3, 4, 6, 8))))
PREV2_OFFSETS = tuple(map(tuple, arms(1, (2, 4, 6, 8, 12, 16, 20, 24), (2, 4, 8, 12))))
# Neighbours in the current frame that come earlier in the coding order (anti-diagonals of a block:
# every offset here has dy + dx < 0), so they are decoded before the pixel they help predict.
# Motion vectors a copied block may take (v = (dy, dx): the block is frame t-1 read at p - v): a dense
# window, the axes out to 8 pixels, and the four 4-pixel diagonals. Chosen from which shifts reproduce
# changed blocks of held-out play in all five games (measured: 16 to 24 vectors cover 96-100% of them).
MOTIONS = tuple(map(tuple, [[0, 0]] + [o for o in arms(2, (3, 4, 5, 6, 8), (3, 4, 5, 6, 8)) if o != [0, 0]]
                    + [[4, 4], [4, -4], [-4, 4], [-4, -4]]))
STILL = ((0, 0),)  # version-1 models: a copied block repeats frame t-1 in place
# Copies from older frames (config.history = L): a copied block may instead read frame t-lag with one of
# the same vectors, for one lag per frame in 2..L chosen by the encoder. Sprites that animate in cycles
# (SpaceInvaders' aliens return to a pose every few frames) are copies from an older frame, never from t-1.
# A long history also serves pauses: after SpaceInvaders' ship is hit, play stops for about a hundred
# frames, and the aliens' next pose was last seen before the pause (measured: lags 70-100 reproduce 87-102
# of the ~100 blocks that no copy of t-1 does, where a lag of 16 reproduced almost none).
MAX_HISTORY = 128

CURRENT_OFFSETS = ((0, -1), (0, -2), (0, -3), (-1, -2), (-1, -1), (-1, 0), (-2, 0), (-2, -1), (-2, 1), (-3, 0))


def _flag(d: dict, name: str) -> bool:
    value = d.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


DEFAULT_HIDDEN = 32  # hidden units of a new model's pixel model (0: log-linear)


@dataclasses.dataclass(frozen=True)
class FrameConfig:
    height: int
    width: int
    palette: tuple[int, ...]  # colours as 0xRRGGBB, sorted; the model's index i is palette[i]
    block: int = 8
    hidden: int = DEFAULT_HIDDEN
    offsets_prev: tuple[tuple[int, int], ...] = PREV_OFFSETS
    offsets_prev2: tuple[tuple[int, int], ...] = PREV2_OFFSETS
    offsets_current: tuple[tuple[int, int], ...] = CURRENT_OFFSETS
    motions: tuple[tuple[int, int], ...] = STILL
    history: int = 0  # oldest frame t-L a copied block may read (0: frame t-1 only; moving models)
    latent_context: bool = False  # p(h_b) also reads h of earlier blocks in the frame (latent_context.py)
    vector_posterior: bool = False  # a copy's vector is drawn from q(v) over the vectors that reproduce it
    vector_classes: bool = False  # a copy codes the class of vectors that read the same content (codec.py)
    # with vector classes: a moved copy's prior favours the vectors of the class that the previous moved
    # copy in its block row named (codec.py)
    row_context: bool = False

    @property
    def moving(self) -> bool:
        """Whether copied blocks carry a motion vector (a latent) or always repeat frame t-1 in place."""
        return len(self.motions) > 1

    @property
    def colours(self) -> int:
        return len(self.palette)

    @property
    def outside(self) -> int:
        """Index used for pixels beyond the frame edge and for 'no frame here'."""
        return len(self.palette)

    @functools.cached_property
    def blocks_y(self) -> int:
        return -(-self.height // self.block)

    @functools.cached_property
    def blocks_x(self) -> int:
        return -(-self.width // self.block)

    @functools.cached_property
    def blocks(self) -> int:
        return self.blocks_y * self.blocks_x

    @property
    def unknown(self) -> int:
        """Index for a current-frame neighbour that is not decoded yet."""
        return len(self.palette) + 1

    @functools.cached_property
    def margin(self) -> int:
        offsets = self.offsets_prev + self.offsets_prev2 + self.offsets_current + self.motions
        return max(max(abs(v) for o in offsets for v in o), 1)

    @functools.cached_property
    def colour_groups(self) -> int:
        return len(self.offsets_prev) + len(self.offsets_prev2) + len(self.offsets_current)

    @property
    def feature_groups(self) -> int:
        """Lookups per pixel: one per offset in each context frame, plus block row and block column."""
        return self.colour_groups + 2

    @property
    def values(self) -> int:
        """Values a colour lookup can take: the palette, 'outside', 'unknown'."""
        return self.colours + 2

    @functools.cached_property
    def vocabulary(self) -> int:
        return self.colour_groups * self.values + self.blocks_y + self.blocks_x

    def to_dict(self) -> dict:
        return {
            "kind": "frames",
            "height": self.height,
            "width": self.width,
            "palette": list(self.palette),
            "block": self.block,
            "hidden": self.hidden,
            "offsets_prev": [list(o) for o in self.offsets_prev],
            "offsets_prev2": [list(o) for o in self.offsets_prev2],
            "offsets_current": [list(o) for o in self.offsets_current],
        } | ({"motions": [list(v) for v in self.motions]} if self.moving else {}) \
            | ({"history": self.history} if self.history else {}) \
            | ({"latent_context": True} if self.latent_context else {}) \
            | ({"vector_posterior": True} if self.vector_posterior else {}) \
            | ({"vector_classes": True} if self.vector_classes else {}) \
            | ({"row_context": True} if self.row_context else {})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def __post_init__(self):
        if self.hidden < 0:
            raise ValueError("the pixel model's hidden units must be 0 (none) or more")
        if any(dy + dx >= 0 for dy, dx in self.offsets_current):
            raise ValueError("current-frame offsets must come earlier in the coding order (dy + dx < 0)")
        if not self.motions or self.motions[0] != (0, 0) or len(set(self.motions)) != len(self.motions):
            raise ValueError("motion vectors must be distinct and start with (0, 0)")
        if self.history and not (self.moving and 2 <= self.history <= MAX_HISTORY):
            raise ValueError(f"history needs motion vectors and a lag of 2 to {MAX_HISTORY}")
        if self.latent_context and not self.moving:
            raise ValueError("latent context needs motion vectors (it reads which blocks no copy reproduced)")
        if self.vector_posterior and not self.moving:
            raise ValueError("a vector posterior needs motion vectors")
        if self.vector_classes and not self.moving:
            raise ValueError("vector classes need motion vectors")
        if self.row_context and not self.vector_classes:
            raise ValueError("a row context needs vector classes")
        if self.vector_classes and self.vector_posterior:
            raise ValueError("a model codes a copy's vector by its class or from a posterior, not both")

    @classmethod
    def from_dict(cls, d: dict) -> "FrameConfig":
        if d.get("kind") != "frames":
            raise ValueError("not a frame-model architecture")
        palette = tuple(int(c) for c in d["palette"])
        if not 1 <= len(palette) <= 255 or list(palette) != sorted(set(palette)):
            raise ValueError("palette must be 1..255 distinct sorted colours")
        return cls(
            height=int(d["height"]), width=int(d["width"]), palette=palette, block=int(d["block"]),
            hidden=int(d["hidden"]),
            offsets_prev=tuple(tuple(int(v) for v in o) for o in d["offsets_prev"]),
            offsets_prev2=tuple(tuple(int(v) for v in o) for o in d["offsets_prev2"]),
            offsets_current=tuple(tuple(int(v) for v in o) for o in d["offsets_current"]),
            motions=tuple(tuple(int(v) for v in o) for o in d.get("motions", STILL)),
            history=int(d.get("history", 0)),
            latent_context=_flag(d, "latent_context"),
            vector_posterior=_flag(d, "vector_posterior"),
            vector_classes=_flag(d, "vector_classes"),
            row_context=_flag(d, "row_context"),
        )
