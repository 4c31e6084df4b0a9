"""Codecs in the craystack sense: a push/pop pair over one ANS stack.

`LayerCodec` codes one autoregressive logistic layer given its conditioning layer; `BitsBackDarnCodec`
composes them: push(x) = pop h ~ q(h|x), push x with p(x|h), push h with p(h); pop is the exact reverse.
All probabilities come from `QuantizedDarn`, so both directions compute the same numbers.
"""
from __future__ import annotations

import dataclasses

import constriction
import numpy as np

from darnzip.images.quantized import ExactLayer, QuantizedDarn

BERNOULLI = constriction.stream.model.Bernoulli(perfect=False)
AR_BLOCK = 32  # units decoded per block before the remaining logits are brought up to date by one matmul
STACK_MARGIN = 1.25  # a batch may take at most 1/1.25 of the bits on the stack, on average


def affordable_batch(stack_bits: int, pop_bits_per_image: float) -> int:
    """Images whose pops the stack can pay for: popping more still decodes exactly, but costs more than it returns."""
    return int(stack_bits / (STACK_MARGIN * max(pop_bits_per_image, 1.0)))


class LayerCodec:
    """Codes the units of one layer, position-major across a batch (one coder call per position on pop).

    With `certain=True` (posterior layers of current archives) a unit whose table probability is an
    extreme entry takes its likelier value and is not coded at all (`QuantizedDarn.lut_certain`)."""

    def __init__(self, model: QuantizedDarn, layer: ExactLayer, certain: bool = False):
        self.model = model
        self.layer = layer
        self.certain = certain

    def push(self, coder, units: np.ndarray, context: np.ndarray | None, base: np.ndarray | None = None,
             with_bits: bool = True) -> np.ndarray | None:
        """Encode known units (B, n) in one call; returns each row's information content in bits.

        `base` may carry the layer's base logits for this context when the caller already has them.
        Decoders, which return bits to the stack and need no statistics, pass with_bits=False."""
        logits = self.layer.logits(units, context, base)
        idx = self.model.table_index(logits)
        symbols = np.ascontiguousarray(units.T, dtype=np.int32)
        probs = self.model.lut_prob[idx.T]
        if self.certain:
            coded = ~self.model.lut_certain[idx.T]
            if not np.array_equal(symbols[~coded], self.model.lut_mode[idx.T][~coded]):
                raise ValueError("a certain posterior unit differs from its likelier value")
            symbols, probs = symbols[coded], probs[coded]
        coder.encode_reverse(symbols.ravel(), BERNOULLI, probs.ravel())
        return self.model.bits(logits, units, self.certain) if with_bits else None

    def pop(self, coder, context: np.ndarray | None, batch: int, base: np.ndarray | None = None) -> np.ndarray:
        """Decode (batch, n) units; the inverse of `push` with the same context."""
        return self.draw(lambda probs: coder.decode(BERNOULLI, probs), context, batch, base)

    def mode(self, context: np.ndarray | None, batch: int) -> np.ndarray:
        """Greedy most-likely units (each unit set to its likelier value given the ones before it)."""
        return self.draw(lambda probs: (probs >= 0.5).astype(np.int32), context, batch)

    def _choose(self, choose, idx: np.ndarray) -> np.ndarray:
        """Units for table indices `idx` (any shape, position-major): `choose` on the coded ones only."""
        if not self.certain:
            return np.asarray(choose(self.model.lut_prob[idx].ravel()), dtype=np.float32).reshape(idx.shape)
        units = self.model.lut_mode[idx].astype(np.float32)
        coded = ~self.model.lut_certain[idx]
        if coded.any():
            units[coded] = choose(self.model.lut_prob[idx[coded]])
        return units

    def draw(self, choose, context: np.ndarray | None, batch: int, base: np.ndarray | None = None) -> np.ndarray:
        """Choose units position by position; `choose` maps a float32 probability row to int units.

        Logits are kept transposed (units x batch) with the table offset added, so each step is one
        contiguous row: cast to an index, look up, choose, and add the unit's weights to the next logits.
        """
        layer, n = self.layer, self.layer.size
        if base is None:
            base = layer.base_logits(context, batch)
        if layer.ar is None:
            return self._choose(choose, self.model.table_index(base).T).astype(np.uint8).T.copy()
        table = self.model.lut_prob
        acc = np.ascontiguousarray(base.T) + np.float32(self.model.logit_limit)  # exact: bound checked at load
        top = np.float32(2 * self.model.logit_limit)
        units = np.zeros((n, batch), dtype=np.float32)
        ar = layer.ar
        for start in range(0, n, AR_BLOCK):
            stop = min(n, start + AR_BLOCK)
            for j in range(start, stop):
                if self.certain:
                    units[j] = self._choose(choose, np.clip(acc[j], 0, top).astype(np.intp))
                else:
                    units[j] = choose(table.take(acc[j].astype(np.intp), mode="clip"))
                if j + 1 < stop:
                    acc[j + 1 : stop] += ar[j + 1 : stop, j, None] * units[j]
            if stop < n:
                acc[stop:] += ar[stop:, start:stop] @ units[start:stop]
        return units.T.astype(np.uint8)


@dataclasses.dataclass
class PushStats:
    """Per-image information content of one push, in bits."""

    pushed: np.ndarray  # -log2 p(x|h) - log2 p(h)
    posterior: np.ndarray  # -log2 q(h|x) of the coded latents
    posterior_entropy: np.ndarray  # entropy of q's conditionals along one particle: what one pop takes on average
    bits_back: bool

    @property
    def free_energy(self) -> np.ndarray:
        return self.pushed - self.posterior


class BitsBackDarnCodec:
    """Bits-back coding of flat binary images with a quantised DARN."""

    def __init__(self, model: QuantizedDarn, certain_posterior: bool = False):
        self.model = model
        self.certain_posterior = certain_posterior
        self.priors = [LayerCodec(model, layer) for layer in model.prior_layers]
        self.posteriors = {l: LayerCodec(model, layer, certain_posterior) for l, layer in model.posterior_layers.items()}
        self.top = model.config.num_layers

    def next_batch_size(self, stack_bits: int, entropy_per_image: float, previous: int, max_batch: int) -> int:
        """Grow at most 2x per batch, and only as far as the stack can pay for the pops."""
        return max(1, min(max_batch, 2 * previous, affordable_batch(stack_bits, entropy_per_image)))

    def push(self, coder, x: np.ndarray, bits_back: bool = True) -> PushStats:
        """Append images x (B, D) to the stack. Without bits back the latents are q's greedy mode, not popped."""
        batch = x.shape[0]
        layers = [x]
        posterior_bits, posterior_entropy = np.zeros(batch), np.zeros(batch)
        for l in range(1, self.top + 1):
            codec = self.posteriors[l]
            h = codec.pop(coder, layers[-1], batch) if bits_back else codec.mode(layers[-1], batch)
            logits = codec.layer.logits(h, layers[-1])
            posterior_bits += self.model.bits(logits, h, self.certain_posterior)
            posterior_entropy += self.model.entropy_bits(logits, self.certain_posterior)
            layers.append(h)
        pushed = np.zeros(batch)
        for l in range(self.top + 1):
            pushed += self.priors[l].push(coder, layers[l], layers[l + 1] if l < self.top else None)
        return PushStats(pushed, posterior_bits, posterior_entropy, bits_back)

    def pop(self, coder, batch: int, bits_back: bool = True) -> np.ndarray:
        """Take `batch` images off the stack and, with bits back, return the latents' bits to it."""
        layers: list[np.ndarray | None] = [None] * (self.top + 1)
        for l in range(self.top, -1, -1):
            layers[l] = self.priors[l].pop(coder, layers[l + 1] if l < self.top else None, batch)
        if bits_back:
            for l in range(self.top, 0, -1):
                self.posteriors[l].push(coder, layers[l], layers[l - 1], with_bits=False)
        return layers[0]
