"""Architecture description shared by the float (torch) model and the integer coding model.

Kept free of torch so that compressing and decompressing never import it.
"""
from __future__ import annotations

import dataclasses
import json

__all__ = ["DarnConfig"]  # the public names (docs/api.md)


@dataclasses.dataclass(frozen=True)
class DarnConfig:
    """Architecture. `latent_sizes` is bottom-up (closest to the image first)."""

    image_shape: tuple[int, int] = (28, 28)
    latent_sizes: tuple[int, ...] = (400,)
    q_autoregressive: bool = True
    # Units of a deterministic hidden layer inside every conditional between layers (0: linear, as in
    # the shipped model). Its activation is quantised (see ACTIVATION_*) so the coder stays exact.
    deterministic_units: int = 0

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.image_shape[0] * self.image_shape[1], *self.latent_sizes)

    @property
    def num_layers(self) -> int:
        """Number of latent layers L."""
        return len(self.latent_sizes)

    def to_json(self) -> str:
        fields = dataclasses.asdict(self)
        if not self.deterministic_units:
            del fields["deterministic_units"]  # models and checkpoints from before the option read the same
        return json.dumps(fields, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "DarnConfig":
        return cls(
            image_shape=tuple(d["image_shape"]),
            latent_sizes=tuple(d["latent_sizes"]),
            q_autoregressive=bool(d["q_autoregressive"]),
            deterministic_units=int(d.get("deterministic_units", 0)),
        )


# Deterministic units output round(4 * a) / 4 clipped to [0, 4]: 17 levels, computed from the integer
# pre-activation by a shift, so the quantised model evaluates them exactly.
ACTIVATION_FRAC_BITS = 2
ACTIVATION_MAX_LEVEL = 16


def parameter_shapes(config: DarnConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of every parameter; shared by the float and the quantised model."""
    sizes = config.layer_sizes
    top = config.num_layers
    hidden = config.deterministic_units
    shapes: dict[str, tuple[int, ...]] = {}

    def conditioning(prefix: str, n: int, context: int) -> None:
        if hidden:
            shapes[f"{prefix}.hidden"] = (hidden, context)
            shapes[f"{prefix}.hidden_bias"] = (hidden,)
            shapes[f"{prefix}.cond"] = (n, hidden)
        else:
            shapes[f"{prefix}.cond"] = (n, context)

    for layer in range(top + 1):
        n = sizes[layer]
        shapes[f"p.{layer}.bias"] = (n,)
        shapes[f"p.{layer}.ar"] = (n, n)
        if layer < top:
            conditioning(f"p.{layer}", n, sizes[layer + 1])
    for layer in range(1, top + 1):
        n = sizes[layer]
        shapes[f"q.{layer}.bias"] = (n,)
        conditioning(f"q.{layer}", n, sizes[layer - 1])
        if config.q_autoregressive:
            shapes[f"q.{layer}.ar"] = (n, n)
    return shapes
