"""Free energy and importance-sampled NLL of the *quantised* model, i.e. of the probabilities the coder uses."""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from darnzip.images.codec import LayerCodec
from darnzip.images.quantized import QuantizedDarn


@dataclasses.dataclass
class Evaluation:
    images: int
    samples: int  # posterior samples per image
    free_energy_bits: np.ndarray  # per image, mean over samples of -log2 p(x,h) + log2 q(h|x)
    nll_bits: np.ndarray  # per image, -log2 of the importance-weighted estimate of p(x)

    def summary(self) -> dict:
        fe, nll = float(self.free_energy_bits.mean()), float(self.nll_bits.mean())
        return {"images": self.images, "samples": self.samples, "free_energy_bits": fe,
                "free_energy_nats": fe * math.log(2), "nll_bits": nll, "nll_nats": nll * math.log(2)}


class _Scorer:
    """Samples h ~ q(h|x) and scores (joint bits, posterior bits) with the exact quantised layers."""

    def __init__(self, model: QuantizedDarn, seed: int, certain_posterior: bool):
        self.model = model
        self.certain = certain_posterior
        self.rng = np.random.default_rng(seed)
        self.priors = model.prior_layers
        self.posteriors = {l: LayerCodec(model, layer, certain_posterior) for l, layer in model.posterior_layers.items()}

    def sample_and_score(self, x: np.ndarray, visible_ar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        model, top, batch = self.model, self.model.config.num_layers, x.shape[0]
        layers, posterior_bits = [x], np.zeros(batch)
        for l in range(1, top + 1):
            codec = self.posteriors[l]
            h = codec.draw(lambda p: (self.rng.random(p.shape) < p).astype(np.int32), layers[-1], batch)
            posterior_bits += model.bits(codec.layer.logits(h, layers[-1]), h, self.certain)
            layers.append(h)
        joint = model.bits(self.priors[0].base_logits(layers[1] if top else None, batch) + visible_ar, x)
        for l in range(1, top + 1):
            joint += model.bits(self.priors[l].logits(layers[l], layers[l + 1] if l < top else None), layers[l])
        return joint, posterior_bits


def evaluate(model: QuantizedDarn, images: np.ndarray, samples: int = 100, seed: int = 0,
             batch_size: int = 500, progress=None, certain_posterior: bool = True) -> Evaluation:
    """Per-image expected free energy (mean over `samples` draws) and IS NLL with the same draws.

    certain_posterior: score the posterior that current archives code with (`QuantizedDarn.lut_certain`)."""
    flat = images.reshape(len(images), -1).astype(np.uint8)
    scorer = _Scorer(model, seed, certain_posterior)
    fe = np.zeros(len(flat))
    nll = np.zeros(len(flat))
    visible = model.prior_layers[0]
    for start in range(0, len(flat), batch_size):
        x = flat[start : start + batch_size]
        visible_ar = x.astype(np.float32) @ visible.ar_t if visible.ar_t is not None else 0.0
        log_weights = np.empty((samples, len(x)))
        for k in range(samples):
            joint, posterior = scorer.sample_and_score(x, visible_ar)
            log_weights[k] = posterior - joint  # log2 p(x,h)/q(h|x)
        fe[start : start + len(x)] = -log_weights.mean(0)
        peak = log_weights.max(0)
        nll[start : start + len(x)] = -(peak + np.log2(np.exp2(log_weights - peak).mean(0)))
        if progress is not None:
            progress(len(x))
    return Evaluation(len(flat), samples, fe, nll)
