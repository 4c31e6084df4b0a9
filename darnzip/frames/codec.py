"""Bits-back coding of one frame given the two before it: a push/pop pair on one ANS stack.

push(x): pop h_b ~ q for the unchanged blocks (changed blocks have h_b = 1 for certain), push the pixels
of the blocks with h_b = 1 under the pixel model (one categorical call), push h under the prior (one
Bernoulli call). pop is the exact reverse. Both sides compute every probability with ExactFrameModel.
"""
from __future__ import annotations

import dataclasses

import constriction
import numpy as np
import torch

from .features import (available_from, block_pixels, changed_pixels_per_block, coding_step, context_features,
                       drawn_pixels, geometry, padded, posterior_features, prior_features, stacked_context)
from .model import ExactFrameModel

BERNOULLI = constriction.stream.model.Bernoulli(perfect=False)
CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
PROB_SCALE = 1.0 / (1 << 16)


class FrameDecodeError(ValueError):
    """The stream does not decode to a frame the model could have coded (a damaged or foreign stream)."""


@dataclasses.dataclass
class FrameBits:
    """Information content of one coded frame, in bits (one-sample free energy = prior + pixels - posterior)."""
    prior: float = 0.0
    pixels: float = 0.0
    posterior: float = 0.0
    blocks_drawn: int = 0

    @property
    def free_energy(self) -> float:
        return self.prior + self.pixels - self.posterior


def _bits(p_one: np.ndarray, values: np.ndarray) -> float:
    p = np.where(values == 1, p_one, 1.0 - p_one)
    return float(-np.log2(p).sum())


class FrameCodec:
    def __init__(self, model: ExactFrameModel):
        self.model = model
        self.cfg = model.cfg
        self.geometry = geometry(model.cfg)

    def _context(self, prev: np.ndarray, prev2: np.ndarray | None):
        cfg = self.cfg
        p1 = torch.from_numpy(prev.astype(np.int64)).unsqueeze(0)
        has2 = torch.tensor([prev2 is not None])
        p2 = (torch.from_numpy(prev2.astype(np.int64)).unsqueeze(0) if prev2 is not None
              else torch.full_like(p1, cfg.outside))
        prior_idx, prior_ring, bucket = prior_features(p1, p2, has2, cfg)
        pp1 = padded(p1, cfg)
        return p1, pp1, stacked_context(pp1, padded(p2, cfg)), prior_idx, prior_ring, bucket

    def _posterior(self, x: torch.Tensor, p1: torch.Tensor, bucket: torch.Tensor):
        changed = changed_pixels_per_block(x, p1, self.cfg) > 0
        q_idx, q_ring = posterior_features(changed, bucket)
        return changed.flatten(), q_idx, q_ring

    def _drawn_pixels(self, drawn: np.ndarray):
        """Pixels of the drawn blocks in coding order: by anti-diagonal within the block, then by block."""
        blocks = torch.from_numpy(np.flatnonzero(drawn))
        f, y, x, _ = block_pixels(torch.zeros(len(blocks), dtype=torch.long), blocks, self.cfg)
        step = coding_step(y, x, self.cfg.block)
        order = torch.argsort(step, stable=True)
        return f[order], y[order], x[order], step[order]

    def _neighbours(self, available: np.ndarray, where: np.ndarray, step: np.ndarray):
        """Flat padded positions of each pixel's causal neighbours in frame t, and which of them are
        decoded before the pixel's own step (the others read as `unknown`). Fixed for the whole frame."""
        neighbours = where[:, None] + self.geometry.current_np
        return neighbours, available[neighbours] < step[:, None]

    def _probabilities(self, partial: np.ndarray, current: np.ndarray, neighbours: np.ndarray,
                       known: np.ndarray) -> np.ndarray:
        """Categorical rows for pixels given the table sums of their context-frame groups (`partial`) and
        the current frame as far as it is known (`neighbours`, `known` from `_neighbours`)."""
        values = np.where(known, current[neighbours], self.cfg.unknown) + self.geometry.current_base_np
        sums = partial + self.model.table_sums(torch.from_numpy(values)).numpy().astype(np.int64)
        weights = self.model.weights_from_sums(sums).astype(np.float64)
        return weights / weights.sum(axis=1, keepdims=True)

    def _pixel_setup(self, h: np.ndarray, context: torch.Tensor):
        """Coding-order pixels of the drawn blocks: coordinates, flat padded positions, steps, context sums."""
        cfg, m = self.cfg, self.cfg.margin
        f, y, x, step = self._drawn_pixels(h == 1)
        available = available_from(drawn_pixels(torch.from_numpy(h == 1).unsqueeze(0), cfg), cfg).view(-1).numpy()
        partial = self.model.table_sums(context_features(context, f, y, x, cfg)).numpy().astype(np.int64)
        where = ((y + m) * self.geometry.row + (x + m)).numpy()
        return y.numpy(), x.numpy(), where, step.numpy(), available, partial

    def push(self, coder, frame: np.ndarray, prev: np.ndarray, prev2: np.ndarray | None,
             bits_back: bool = True) -> FrameBits:
        """Encode `frame` (H, W palette indices). Without bits back, h takes q's likelier value."""
        p1, pp1, context, prior_idx, prior_ring, bucket = self._context(prev, prev2)
        x = torch.from_numpy(frame.astype(np.int64)).unsqueeze(0)
        changed, q_idx, q_ring = self._posterior(x, p1, bucket)
        p_prior = self.model.prior_probabilities(prior_idx, prior_ring)[0].numpy() * PROB_SCALE
        p_q = self.model.posterior_probabilities(q_idx, q_ring)[0].numpy() * PROB_SCALE
        changed = changed.numpy()
        free = np.flatnonzero(~changed)
        h = changed.astype(np.int32)
        if len(free):
            if bits_back:
                h[free] = coder.decode(BERNOULLI, p_q[free])
            else:
                h[free] = (p_q[free] >= 0.5).astype(np.int32)
        bits = FrameBits(blocks_drawn=int(h.sum()))
        bits.posterior = _bits(p_q[free], h[free])
        if h.any():
            y, xx, where, step, available, partial = self._pixel_setup(h, context)
            current = padded(x, self.cfg).view(-1).numpy()
            probs = self._probabilities(partial, current, *self._neighbours(available, where, step))
            symbols = frame[y, xx].astype(np.int32)
            coder.encode_reverse(symbols, CATEGORICAL, probs)
            bits.pixels = float(-np.log2(probs[np.arange(len(symbols)), symbols]).sum())
        coder.encode_reverse(h, BERNOULLI, p_prior)
        bits.prior = _bits(p_prior, h)
        return bits

    def pop(self, coder, prev: np.ndarray, prev2: np.ndarray | None, bits_back: bool = True) -> np.ndarray:
        """Decode one frame: the exact inverse of `push` with the same context."""
        p1, pp1, context, prior_idx, prior_ring, bucket = self._context(prev, prev2)
        h = coder.decode(BERNOULLI, self.model.prior_probabilities(prior_idx, prior_ring)[0].numpy() * PROB_SCALE)
        frame = prev.copy()
        if h.any():
            cfg, m = self.cfg, self.cfg.margin
            y, xx, where, step, available, partial = self._pixel_setup(h, context)
            current = pp1.view(-1).numpy().copy()
            neighbours, known = self._neighbours(available, where, step)
            bounds = np.searchsorted(step, np.arange(2 * cfg.block))
            for s in range(2 * cfg.block - 1):
                lo, hi = bounds[s], bounds[s + 1]
                if lo == hi:
                    continue
                probs = self._probabilities(partial[lo:hi], current, neighbours[lo:hi], known[lo:hi])
                current[where[lo:hi]] = coder.decode(CATEGORICAL, probs)
            frame = current.reshape(pp1.shape[1:])[m:m + cfg.height, m:m + cfg.width].astype(prev.dtype)
        x = torch.from_numpy(frame.astype(np.int64)).unsqueeze(0)
        changed, q_idx, q_ring = self._posterior(x, p1, bucket)
        free = np.flatnonzero(~changed.numpy())  # blocks with h_b = 0 repeat frame t-1, so all are in here
        if len(free):
            p_free = self.model.posterior_probabilities(q_idx, q_ring)[0].numpy()[free] * PROB_SCALE
            if bits_back:
                coder.encode_reverse(h[free].astype(np.int32), BERNOULLI, p_free)
            elif not np.array_equal(h[free], (p_free >= 0.5).astype(h.dtype)):
                raise FrameDecodeError("latents of the first coded frame are not the posterior's likelier values")
        return frame
