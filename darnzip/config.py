"""Architecture description shared by the float (torch) model and the integer coding model.

Kept free of torch so that compressing and decompressing never import it.
"""
from __future__ import annotations

import dataclasses
import json


@dataclasses.dataclass(frozen=True)
class DarnConfig:
    """Architecture. `latent_sizes` is bottom-up (closest to the image first)."""

    image_shape: tuple[int, int] = (28, 28)
    latent_sizes: tuple[int, ...] = (400,)
    q_autoregressive: bool = True

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.image_shape[0] * self.image_shape[1], *self.latent_sizes)

    @property
    def num_layers(self) -> int:
        """Number of latent layers L."""
        return len(self.latent_sizes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "DarnConfig":
        return cls(
            image_shape=tuple(d["image_shape"]),
            latent_sizes=tuple(d["latent_sizes"]),
            q_autoregressive=bool(d["q_autoregressive"]),
        )


def parameter_shapes(config: DarnConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of every parameter; shared by the float and the quantised model."""
    sizes = config.layer_sizes
    top = config.num_layers
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(top + 1):
        n = sizes[layer]
        shapes[f"p.{layer}.bias"] = (n,)
        shapes[f"p.{layer}.ar"] = (n, n)
        if layer < top:
            shapes[f"p.{layer}.cond"] = (n, sizes[layer + 1])
    for layer in range(1, top + 1):
        n = sizes[layer]
        shapes[f"q.{layer}.bias"] = (n,)
        shapes[f"q.{layer}.cond"] = (n, sizes[layer - 1])
        if config.q_autoregressive:
            shapes[f"q.{layer}.ar"] = (n, n)
    return shapes
