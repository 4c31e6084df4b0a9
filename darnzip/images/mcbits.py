"""Monte Carlo bits-back (importance-weighted coding, McBits; Ruan et al. 2021) for DARN.

With K particles the coded size approaches -log2 (1/K) sum_k p(x, h_k) / q(h_k | x), the importance-
weighted bound, instead of the free energy. The augmented model codes an index j uniformly, the chosen
particle h_j with p(h) p(x|h), and the other K-1 particles with q(h|x); the augmented posterior pops K
particles from q and then j with probability proportional to the importance weights.

push(x):  pop h_0..h_{K-1} ~ q;  pop j ~ w/sum(w);  push the others with q;  push j uniform;
          push x with p(x|h_j);  push h_j with p(h).
pop:      the exact reverse. The weights come from integer sums of fixed-point information contents
          and an integer exp2 (darnzip.core.fixedpoint), so the decoder computes the same categorical.

Popping K particles needs about K times the posterior entropy on the stack before anything goes back,
so a chunk warms up with plain bits-back: a batch is coded with McBits only if it holds at least
`min_batch` images (a rule both sides evaluate from the stored batch sizes), and the encoder keeps
plain batches smaller than that until the stack can pay for McBits batches of that size.
"""
from __future__ import annotations

import math

import constriction
import numpy as np

from darnzip.images.codec import BitsBackDarnCodec, PushStats, affordable_batch
from darnzip.core.fixedpoint import BITS_FRAC, exp2_negative, information_tables
from darnzip.images.quantized import PROB_ONE, QuantizedDarn

CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


class McBitsDarnCodec:
    """Importance-weighted bits-back with `particles` posterior samples per image."""

    def __init__(self, model: QuantizedDarn, particles: int, min_batch: int = 64, certain_posterior: bool = False):
        if particles < 2:
            raise ValueError("McBits needs at least 2 particles (1 particle is plain bits-back)")
        if min_batch < 1:
            raise ValueError("min_batch must be at least 1")
        self.model = model
        self.particles = particles
        self.min_batch = min_batch
        self.base = BitsBackDarnCodec(model, certain_posterior)
        self.certain_posterior = certain_posterior
        self.top = model.config.num_layers
        fixed_zero, fixed_one = information_tables(model.lut, PROB_ONE)
        # one table for both unit values: entry idx is a 0's information at table index idx, entry
        # idx + len(lut) a 1's, so scoring a layer is one clip, one add and one gather
        self.fixed_bits_table = np.concatenate([fixed_zero, fixed_one])
        self.posterior_fixed_bits_table = self.fixed_bits_table
        if certain_posterior:  # certain posterior units are not coded: they cost 0 bits under q
            self.posterior_fixed_bits_table = np.where(np.tile(model.lut_certain, 2), 0, self.fixed_bits_table)
        self.lut_size = len(model.lut)

    # ---- exact log-weights ---------------------------------------------------------------------------
    def _fixed_bits(self, logits: np.ndarray, units: np.ndarray, posterior: bool = False) -> np.ndarray:
        """Summed information of `units` under `logits` (a fresh array, clipped in place), 2**-16 bits."""
        limit = self.model.logit_limit
        np.clip(logits, -limit, limit, out=logits)
        logits += units * np.float32(self.lut_size) + np.float32(limit)  # exact: below 2**17
        table = self.posterior_fixed_bits_table if posterior else self.fixed_bits_table
        return table.take(logits.astype(np.intp)).sum(-1)

    def _x_terms(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What every particle shares: q's first-layer base logits and the pixels' autoregressive term."""
        visible = self.base.priors[0].layer
        q_base = self.base.posteriors[1].layer.base_logits(x, len(x))
        pixels_ar = x.astype(np.float32) @ visible.ar_t if visible.ar_t is not None else np.zeros_like(x, np.float32)
        return q_base, pixels_ar

    def _log_weights(self, x: np.ndarray, particles: list[list[np.ndarray]], terms) -> tuple[np.ndarray, np.ndarray]:
        """(B, K) int64 log2 q(h|x) - log2 p(x, h), and (B, K) int64 -log2 q(h|x), in units of 2**-16 bits.

        Integer sums of table entries, so they are the same on every machine. All K particles are
        stacked into one (K*B)-row batch: one product per layer instead of K."""
        q_base, pixels_ar = terms
        k, batch = len(particles), len(x)

        def tiled(a: np.ndarray) -> np.ndarray:
            return np.concatenate([a] * k)

        layers = [tiled(x), *(np.concatenate([p[l] for p in particles]) for l in range(self.top))]
        q_bits = self._fixed_bits(self.base.posteriors[1].layer.logits(layers[1], None, tiled(q_base)), layers[1], True)
        for l in range(2, self.top + 1):
            q_bits += self._fixed_bits(self.base.posteriors[l].layer.logits(layers[l], layers[l - 1]), layers[l], True)
        visible = self.base.priors[0].layer
        value = q_bits - self._fixed_bits(visible.base_logits(layers[1], k * batch) + tiled(pixels_ar), layers[0])
        for l in range(1, self.top + 1):
            above = layers[l + 1] if l < self.top else None
            value -= self._fixed_bits(self.base.priors[l].layer.logits(layers[l], above), layers[l])
        return np.ascontiguousarray(value.reshape(k, batch).T), np.ascontiguousarray(q_bits.reshape(k, batch).T)

    def _choice_weights(self, log_weights: np.ndarray) -> np.ndarray:
        weights = exp2_negative(log_weights.max(axis=1, keepdims=True) - log_weights)
        # integers below 2**31: exact; constriction normalises. C order: constriction reads rows as laid out
        return np.ascontiguousarray(weights, dtype=np.float64)

    # ---- particles -------------------------------------------------------------------------------------
    def _pop_particle(self, coder, x: np.ndarray, q_base: np.ndarray) -> list[np.ndarray]:
        below, latents = x, []
        for l in range(1, self.top + 1):
            below = self.base.posteriors[l].pop(coder, below, len(x), q_base if l == 1 else None)
            latents.append(below)
        return latents

    def _push_particle(self, coder, x: np.ndarray, latents: list[np.ndarray], q_base: np.ndarray,
                       with_bits: bool = True) -> np.ndarray:
        layers = [x, *latents]
        bits = np.zeros(len(x))
        for l in range(self.top, 0, -1):
            pushed = self.base.posteriors[l].push(coder, layers[l], layers[l - 1], q_base if l == 1 else None, with_bits)
            if with_bits:
                bits += pushed
        return bits

    def _others(self, chosen: np.ndarray) -> np.ndarray:
        """(B, K-1) indices of the particles not chosen, in increasing order."""
        all_k = np.broadcast_to(np.arange(self.particles), (len(chosen), self.particles))
        return all_k[all_k != chosen[:, None]].reshape(len(chosen), self.particles - 1)

    @staticmethod
    def _select(particles, index: np.ndarray) -> list[np.ndarray]:
        rows = np.arange(len(index))
        return [np.stack([p[l] for p in particles])[index, rows] for l in range(len(particles[0]))]

    # ---- codec -------------------------------------------------------------------------------------------
    def uses_particles(self, batch: int, bits_back: bool) -> bool:
        return bits_back and batch >= self.min_batch

    def next_batch_size(self, stack_bits: int, entropy_per_image: float, previous: int, max_batch: int) -> int:
        """Plain batches below min_batch until the stack can pay for McBits batches of at least min_batch."""
        pop_bits = self.particles * entropy_per_image + math.log2(self.particles)
        mcbits = min(max_batch, 2 * previous, affordable_batch(stack_bits, pop_bits))
        if mcbits >= self.min_batch:
            return mcbits
        plain = self.base.next_batch_size(stack_bits, entropy_per_image, previous, max_batch)
        return max(1, min(plain, self.min_batch - 1))

    def push(self, coder, x: np.ndarray, bits_back: bool = True) -> PushStats:
        if not self.uses_particles(len(x), bits_back):
            return self.base.push(coder, x, bits_back=bits_back)
        batch, k = len(x), self.particles
        terms = self._x_terms(x)
        particles = [self._pop_particle(coder, x, terms[0]) for _ in range(k)]
        log_weights, posterior_fixed = self._log_weights(x, particles, terms)
        weights = self._choice_weights(log_weights)
        chosen = coder.decode(CATEGORICAL, weights).astype(np.int64)
        others = self._others(chosen)
        pushed = np.zeros(batch)
        for m in range(k - 1):
            pushed += self._push_particle(coder, x, self._select(particles, others[:, m]), terms[0])
        coder.encode_reverse(chosen.astype(np.int32), CATEGORICAL, np.ones((batch, k)))
        pushed += math.log2(k)
        layers = [x, *self._select(particles, chosen)]
        for l in range(self.top + 1):
            pushed += self.base.priors[l].push(coder, layers[l], layers[l + 1] if l < self.top else None)
        popped = posterior_fixed.sum(1) / (1 << BITS_FRAC) - np.log2(weights[np.arange(batch), chosen] / weights.sum(1))
        return PushStats(pushed, popped, self._posterior_entropy(x, particles[0], terms[0]), True)

    def pop(self, coder, batch: int, bits_back: bool = True) -> np.ndarray:
        if not self.uses_particles(batch, bits_back):
            return self.base.pop(coder, batch, bits_back=bits_back)
        k = self.particles
        layers: list[np.ndarray | None] = [None] * (self.top + 1)
        for l in range(self.top, -1, -1):
            layers[l] = self.base.priors[l].pop(coder, layers[l + 1] if l < self.top else None, batch)
        x = layers[0]
        chosen = coder.decode(CATEGORICAL, np.ones((batch, k))).astype(np.int64)
        others = self._others(chosen)
        terms = self._x_terms(x)
        popped_others = [None] * (k - 1)
        for m in range(k - 2, -1, -1):
            popped_others[m] = self._pop_particle(coder, x, terms[0])
        particles = []
        for index in range(k):
            latents = [layer.copy() for layer in layers[1:]]
            for m in range(k - 1):
                mask = others[:, m] == index
                for l in range(self.top):
                    latents[l][mask] = popped_others[m][l][mask]
            particles.append(latents)
        coder.encode_reverse(chosen.astype(np.int32), CATEGORICAL, self._choice_weights(self._log_weights(x, particles, terms)[0]))
        for index in range(k - 1, -1, -1):
            self._push_particle(coder, x, particles[index], terms[0], with_bits=False)
        return x

    # ---- statistics (float, not used for coding) ------------------------------------------------------
    def _posterior_entropy(self, x, latents, q_base) -> np.ndarray:
        """Entropy of q's conditionals along one particle, per image, in bits: what one particle's pop takes."""
        layers = [x, *latents]
        entropy = np.zeros(len(x))
        for l in range(1, self.top + 1):
            logits = self.base.posteriors[l].layer.logits(layers[l], layers[l - 1], q_base if l == 1 else None)
            entropy += self.model.entropy_bits(logits, self.certain_posterior)
        return entropy
