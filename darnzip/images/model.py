"""DARN (Gregor et al. 2014) in floating point, for training.

Layers are numbered bottom-up: layer 0 is the visible image, layers 1..L are binary stochastic latents.
Generative model, top-down:  p(h_L) p(h_{L-1} | h_L) ... p(x | h_1), every factor an autoregressive
logistic layer: unit j sees units < j of its own layer (strictly lower-triangular weights) and the layer above.
Inference model, bottom-up: q(h_1 | x) ... q(h_L | h_{L-1}), autoregressive or factorised (config).

The coder never uses this float model: it uses `darnzip.images.quantized.QuantizedDarn`, which holds the same
parameters rounded to integers and computes every probability exactly.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from darnzip.images.config import ACTIVATION_FRAC_BITS, ACTIVATION_MAX_LEVEL, DarnConfig, parameter_shapes


def quantized_activation(pre: torch.Tensor) -> torch.Tensor:
    """round(4a)/4 clipped to [0, 4], the deterministic units' output; straight-through gradient for the rounding."""
    scale = float(1 << ACTIVATION_FRAC_BITS)
    scaled = pre * scale
    rounded = scaled + (torch.round(scaled) - scaled).detach()
    return rounded.clamp(0.0, float(ACTIVATION_MAX_LEVEL)) / scale


def log_bernoulli(logits: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    """Sum over the last axis of log Bernoulli(units | sigmoid(logits)); units may be relaxed to [0, 1]."""
    return (units * logits - F.softplus(logits)).sum(-1)


class Darn(nn.Module):
    """Float DARN with the log-probabilities the estimators need."""

    def __init__(self, config: DarnConfig):
        super().__init__()
        self.config = config
        self.params = nn.ParameterDict()
        for name, shape in parameter_shapes(config).items():
            init = torch.zeros(shape)
            if name.endswith(".cond") or name.endswith(".ar"):
                init.normal_(0.0, 0.01)
            elif name.endswith(".hidden"):
                init.normal_(0.0, 0.1)
            elif name.endswith(".hidden_bias"):
                init.fill_(0.5)
            self.params[name.replace(".", "_")] = nn.Parameter(init)
        for layer, n in enumerate(config.layer_sizes):
            self.register_buffer(f"mask_{layer}", torch.tril(torch.ones(n, n), diagonal=-1), persistent=False)

    def forward(self, x: torch.Tensor, estimator: str, samples: int):
        """(surrogate loss, free energy in nats) for a batch: the entry point DistributedDataParallel wraps."""
        from darnzip.images.estimators import estimator_loss

        return estimator_loss(estimator, self, x, samples)

    def param(self, name: str) -> torch.Tensor:
        return self.params[name.replace(".", "_")]

    def named_tensors(self) -> dict[str, torch.Tensor]:
        """Parameters under their dotted names (the names in model files)."""
        return {name: self.param(name).detach() for name in parameter_shapes(self.config)}

    def load_named_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name in parameter_shapes(self.config):
                self.param(name).copy_(tensors[name])

    def _ar(self, prefix: str, layer: int) -> torch.Tensor:
        return self.param(f"{prefix}.{layer}.ar") * getattr(self, f"mask_{layer}")

    def conditioning(self, prefix: str, context: torch.Tensor) -> torch.Tensor:
        """Contribution of the conditioning layer: linear, or through the deterministic hidden layer."""
        if self.config.deterministic_units:
            pre = context @ self.param(f"{prefix}.hidden").T + self.param(f"{prefix}.hidden_bias")
            context = quantized_activation(pre)
        return context @ self.param(f"{prefix}.cond").T

    def p_logits(self, layer: int, units: torch.Tensor, above: torch.Tensor | None) -> torch.Tensor:
        logits = self.param(f"p.{layer}.bias") + units @ self._ar("p", layer).T
        if above is not None:
            logits = logits + self.conditioning(f"p.{layer}", above)
        return logits

    def q_logits(self, layer: int, units: torch.Tensor, below: torch.Tensor) -> torch.Tensor:
        logits = self.param(f"q.{layer}.bias") + self.conditioning(f"q.{layer}", below)
        if self.config.q_autoregressive:
            logits = logits + units @ self._ar("q", layer).T
        return logits

    def log_joint(self, x: torch.Tensor, latents: list[torch.Tensor]) -> torch.Tensor:
        """log p(x, h) in nats; x is (..., D) flat, latents bottom-up."""
        layers = [x, *latents]
        total = 0.0
        for layer, units in enumerate(layers):
            above = layers[layer + 1] if layer + 1 < len(layers) else None
            total = total + log_bernoulli(self.p_logits(layer, units, above), units)
        return total

    def log_posterior(self, x: torch.Tensor, latents: list[torch.Tensor]) -> torch.Tensor:
        """log q(h | x) in nats."""
        layers = [x, *latents]
        total = 0.0
        for layer in range(1, len(layers)):
            total = total + log_bernoulli(self.q_logits(layer, layers[layer], layers[layer - 1]), layers[layer])
        return total

    @torch.no_grad()
    def sample_posterior(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Draw h ~ q(h | x), unit by unit where q is autoregressive."""
        below = x
        latents = []
        for layer in range(1, self.config.num_layers + 1):
            base = self.param(f"q.{layer}.bias") + self.conditioning(f"q.{layer}", below)
            if self.config.q_autoregressive:
                units = _sample_autoregressive(base, self._ar("q", layer), generator)
            else:
                units = torch.bernoulli(torch.sigmoid(base), generator=generator)
            latents.append(units)
            below = units
        return latents


def _sample_autoregressive(base: torch.Tensor, ar: torch.Tensor, generator) -> torch.Tensor:
    """Sequential sampling of an autoregressive logistic layer with logits base + units @ ar.T."""
    n = base.shape[-1]
    acc = base.clone()
    units = torch.zeros_like(base)
    uniforms = torch.rand(base.shape, generator=generator, device=base.device, dtype=base.dtype)
    ar_t = ar.T.contiguous()
    for j in range(n):
        unit = (uniforms[..., j] < torch.sigmoid(acc[..., j])).to(base.dtype)
        units[..., j] = unit
        acc += unit.unsqueeze(-1) * ar_t[j]
    return units
