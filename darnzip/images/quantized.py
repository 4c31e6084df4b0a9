"""The quantised DARN that the coder uses: integer weights, exact logits, table-driven probabilities.

Why this is exact on any machine: every input of every layer is binary, so a logit is an integer bias
plus a sum of integer weights. A model is accepted only if, for every unit, |bias| + sum |weights| is
below 2**24, so every partial sum is an integer that float32 represents exactly; the result is then the
same whatever the summation order, blocking, batch size, thread count or BLAS (no TF32, no reduced
precision). A logit indexes a table of 16-bit probabilities that is stored in the (hashed) model file,
so no transcendental function runs while coding.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from darnzip.core.fixedpoint import EXACT_FLOAT32_LIMIT, PROB_BITS, PROB_ONE, sigmoid_table  # noqa: F401
from darnzip.images.config import ACTIVATION_FRAC_BITS, ACTIVATION_MAX_LEVEL, DarnConfig, parameter_shapes

@dataclasses.dataclass
class DeterministicLayer:
    """Integer hidden units between two stochastic layers: level = clip(round(4 * a), 0, 16), a exact."""

    weights_t: np.ndarray  # (context, m) float32 holding integers
    bias: np.ndarray  # (m,) float32 holding integers
    shift: int  # frac_bits - ACTIVATION_FRAC_BITS: from units of 2**-frac_bits to quarter steps

    def levels(self, context: np.ndarray) -> np.ndarray:
        pre = (context.astype(np.float32) @ self.weights_t + self.bias).astype(np.int64)
        rounded = (pre + (1 << (self.shift - 1))) >> self.shift  # floor(4a + 1/2), integer shift
        return np.clip(rounded, 0, ACTIVATION_MAX_LEVEL).astype(np.float64)


@dataclasses.dataclass
class ExactLayer:
    """One logistic layer with integer weights (held as floats for BLAS; exact by the bounds checked at load)."""

    bias: np.ndarray  # (n,) float32 holding integers
    ar: np.ndarray | None  # (n, n) strictly-lower-triangular weights A, logit_j += A[j, i] * unit_i
    ar_t: np.ndarray | None  # A transposed, for batched products units @ A.T
    cond_t: np.ndarray | None  # (m, n) transposed weights from the conditioning (or hidden) layer
    hidden: DeterministicLayer | None = None

    @property
    def size(self) -> int:
        return self.bias.shape[0]

    def base_logits(self, context: np.ndarray | None, batch: int) -> np.ndarray:
        """Bias plus the conditioning layer's contribution, (batch, n) float32 of exact integers."""
        if self.cond_t is None:
            return np.broadcast_to(self.bias, (batch, self.size)).copy()
        if self.hidden is None:
            return context.astype(np.float32) @ self.cond_t + self.bias
        # levels are quarters: sum(cond * level) / 4, floored; float64 keeps the integer sums exact
        quarters = self.hidden.levels(context) @ self.cond_t
        return (np.floor(quarters / (1 << ACTIVATION_FRAC_BITS)) + self.bias).astype(np.float32)

    def logits(self, units: np.ndarray, context: np.ndarray | None, base: np.ndarray | None = None) -> np.ndarray:
        """All logits at once when the layer's own units are known (encoding, scoring)."""
        out = self.base_logits(context, units.shape[0]) if base is None else base.copy()
        if self.ar_t is not None:
            out += units.astype(np.float32) @ self.ar_t
        return out


class QuantizedDarn:
    """A DARN whose probabilities are a deterministic function of integers."""

    def __init__(self, config: DarnConfig, tensors: dict[str, np.ndarray], frac_bits: int, lut: np.ndarray):
        self.config = config
        self.frac_bits = frac_bits
        self.lut = np.ascontiguousarray(lut, dtype=np.int32)
        if self.lut.ndim != 1 or self.lut.size % 2 != 1:
            raise ValueError("probability table must be 1-D with odd length")
        self.logit_limit = (self.lut.size - 1) // 2
        if self.lut.min() < 1 or self.lut.max() >= PROB_ONE:
            raise ValueError("probability table has entries outside (0, 1)")
        # The coder gets k / 2**16 as float32, which represents it exactly (and constriction codes it fastest).
        self.lut_prob = (self.lut.astype(np.float64) / PROB_ONE).astype(np.float32)
        exact = self.lut.astype(np.float64) / PROB_ONE
        self.lut_bits_one = -np.log2(exact)
        self.lut_bits_zero = -np.log2(1.0 - exact)
        self.lut_entropy = exact * self.lut_bits_one + (1.0 - exact) * self.lut_bits_zero
        # A *certain* entry is one of the two extremes a 16-bit table can hold (1 or 65535 / 2**16).
        # Coders with certain posteriors give such a posterior unit its likelier value without coding it:
        # q then puts probability 1 there, which costs almost nothing (q already gave 1 - 2**-16) and
        # takes three quarters of the shipped model's posterior units out of the entropy coder.
        self.lut_certain = (self.lut == 1) | (self.lut == PROB_ONE - 1)
        self.lut_mode = (self.lut > PROB_ONE // 2).astype(np.uint8)
        self._certain_tables = tuple(np.where(self.lut_certain, 0.0, t)
                                     for t in (self.lut_bits_one, self.lut_bits_zero, self.lut_entropy))
        shapes = parameter_shapes(config)
        for name, shape in shapes.items():
            if name not in tensors:
                raise ValueError(f"model file lacks tensor {name}")
            if tuple(tensors[name].shape) != shape:
                raise ValueError(f"tensor {name} has shape {tuple(tensors[name].shape)}, expected {shape}")
        self.tensors = {name: np.asarray(tensors[name], dtype=np.int64) for name in shapes}
        if config.deterministic_units and frac_bits <= ACTIVATION_FRAC_BITS:
            raise ValueError(f"deterministic units need more than {ACTIVATION_FRAC_BITS} fractional bits")
        top = config.num_layers
        self.prior_layers: list[ExactLayer] = []  # index l: p(h_l | h_{l+1}); index 0 is the visible layer
        for layer in range(top + 1):
            self.prior_layers.append(
                self._layer(f"p.{layer}.bias", f"p.{layer}.ar", f"p.{layer}.cond" if layer < top else None)
            )
        self.posterior_layers: dict[int, ExactLayer] = {}
        for layer in range(1, top + 1):
            ar = f"q.{layer}.ar" if config.q_autoregressive else None
            self.posterior_layers[layer] = self._layer(f"q.{layer}.bias", ar, f"q.{layer}.cond")

    def _layer(self, bias: str, ar: str | None, cond: str | None) -> ExactLayer:
        """Build one layer, refusing weights whose integer sums could leave float's exact range.

        Every logit, with the table offset the decoder adds, must stay below 2**24 (float32); a hidden
        unit's pre-activation likewise; the hidden-to-logit products are summed in float64.
        """
        t = self.tensors
        bound = np.abs(t[bias]) + self.logit_limit
        ar_full = ar_t = None
        if ar is not None:
            lower = np.tril(t[ar], -1)
            bound = bound + np.abs(lower).sum(1)
            ar_full = np.ascontiguousarray(lower.astype(np.float32))
            ar_t = np.ascontiguousarray(ar_full.T)
        cond_t = hidden = None
        if cond is not None:
            prefix = cond.rsplit(".", 1)[0]
            if self.config.deterministic_units:
                weights, hidden_bias = t[f"{prefix}.hidden"], t[f"{prefix}.hidden_bias"]
                _require_exact(np.abs(hidden_bias) + np.abs(weights).sum(1), f"{prefix}.hidden")
                hidden = DeterministicLayer(np.ascontiguousarray(weights.T.astype(np.float32)),
                                            hidden_bias.astype(np.float32), self.frac_bits - ACTIVATION_FRAC_BITS)
                bound = bound + np.abs(t[cond]).sum(1) * ACTIVATION_MAX_LEVEL // (1 << ACTIVATION_FRAC_BITS) + 1
                cond_t = np.ascontiguousarray(t[cond].T.astype(np.float64))
            else:
                bound = bound + np.abs(t[cond]).sum(1)
                cond_t = np.ascontiguousarray(t[cond].T.astype(np.float32))
        _require_exact(bound, bias.rsplit(".", 1)[0])
        return ExactLayer(t[bias].astype(np.float32), ar_full, ar_t, cond_t, hidden)

    # ---- probabilities -------------------------------------------------------------------------------
    def table_index(self, logits: np.ndarray) -> np.ndarray:
        """Integer logits (float32 holding integers) to table indices; saturates outside the table."""
        return np.clip(logits, -self.logit_limit, self.logit_limit).astype(np.int64) + self.logit_limit

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """P(unit = 1) as float32 k / 2**16: the exact numbers handed to the entropy coder."""
        return self.lut_prob[self.table_index(logits)]

    def bits(self, logits: np.ndarray, units: np.ndarray, certain: bool = False) -> np.ndarray:
        """Information content (bits) of each unit under the quantised model, summed over the last axis.

        certain=True: under the posterior with certain units (which cost 0 bits; see `lut_certain`)."""
        idx = self.table_index(logits)
        one, zero = (self._certain_tables[0], self._certain_tables[1]) if certain else (self.lut_bits_one, self.lut_bits_zero)
        return np.where(units.astype(bool), one[idx], zero[idx]).sum(-1)

    def entropy_bits(self, logits: np.ndarray, certain: bool = False) -> np.ndarray:
        """Summed binary entropies of the units' conditionals (bits); the expected cost of a pop."""
        return (self._certain_tables[2] if certain else self.lut_entropy)[self.table_index(logits)].sum(-1)


def _require_exact(bound: np.ndarray, where: str) -> None:
    worst = int(np.max(bound))
    if worst >= EXACT_FLOAT32_LIMIT:
        raise ValueError(f"model weights too large for exact float32 logits in {where} ({worst} >= 2**24)")


def quantize(config: DarnConfig, float_tensors: dict[str, np.ndarray], frac_bits: int = 10, logit_range: float = 16.0):
    """Round float parameters to integers with `frac_bits` fractional bits; returns (tensors, table)."""
    scale = float(1 << frac_bits)
    tensors = {}
    for name in parameter_shapes(config):
        value = np.asarray(float_tensors[name], dtype=np.float64)
        if name.endswith(".ar"):
            value = np.tril(value, -1)
        tensors[name] = np.rint(value * scale).astype(np.int32)
    return tensors, sigmoid_table(frac_bits, logit_range)

