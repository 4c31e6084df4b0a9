"""Gradient estimators for the free energy through binary latents.

Each estimator returns a surrogate loss whose gradient estimates the gradient of the mean free energy
F(x) = E_q[-log p(x, h) + log q(h | x)] (nats/image), plus the free energy itself for logging.

- `taylor`: the DARN paper's control variate, a first-order Taylor expansion of the learning signal
  f(h) = log p(x, h) - log q(h | x) around h = 1/2 (h treated as continuous). As in the paper, the
  analytic correction term is not added, so the estimator is biased (MuProp adds that term).
- `rloo`: K samples per image, each sample's learning signal centred by the mean of the other K-1
  (REINFORCE leave-one-out). Unbiased for the ELBO gradient, no extra network evaluations.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # model.py imports this module to train
    from darnzip.images.model import Darn

ESTIMATORS = ("rloo", "taylor")


def learning_signal(model: Darn, x: torch.Tensor, latents: list[torch.Tensor]):
    """log p(x, h) - log q(h | x) and its log q part (both per image, nats)."""
    log_q = model.log_posterior(x, latents)
    return model.log_joint(x, latents) - log_q, log_q


def rloo_loss(model: Darn, x: torch.Tensor, samples: int = 2):
    if samples < 2:
        raise ValueError("rloo needs at least 2 samples")
    xs = x.unsqueeze(0).expand(samples, *x.shape)
    latents = model.sample_posterior(xs)
    log_joint = model.log_joint(xs, latents)
    log_q = model.log_posterior(xs, latents)
    signal = (log_joint - log_q).detach()
    baseline = (signal.sum(0, keepdim=True) - signal) / (samples - 1)
    surrogate = log_joint - log_q.detach() + (signal - baseline) * log_q
    free_energy = -signal.mean()
    return -surrogate.mean(), free_energy


def taylor_loss(model: Darn, x: torch.Tensor, samples: int = 1):
    xs = x.unsqueeze(0).expand(samples, *x.shape)
    latents = model.sample_posterior(xs)
    log_joint = model.log_joint(xs, latents)
    log_q = model.log_posterior(xs, latents)
    signal = (log_joint - log_q).detach()
    # Control variate: f(hbar) + f'(hbar) . (h - hbar), hbar = 1/2, gradients w.r.t. h only.
    centres = [torch.full_like(h, 0.5, requires_grad=True) for h in latents]
    f_centre, _ = learning_signal(model, xs, centres)
    grads = torch.autograd.grad(f_centre.sum(), centres)
    control = f_centre.detach() + sum(((h - c.detach()) * g).sum(-1) for h, c, g in zip(latents, centres, grads))
    surrogate = log_joint - log_q.detach() + (signal - control) * log_q
    return -surrogate.mean(), -signal.mean()


def estimator_loss(name: str, model: Darn, x: torch.Tensor, samples: int):
    if name == "rloo":
        return rloo_loss(model, x, samples)
    if name == "taylor":
        return taylor_loss(model, x, samples)
    raise ValueError(f"unknown estimator {name!r}; choose one of {ESTIMATORS}")
