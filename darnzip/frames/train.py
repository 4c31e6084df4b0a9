"""Training a frame DARN: the exact per-block free energy, minimised with Adam.

Each block's latent is binary and its posterior expectation is taken in closed form (two terms), so no
score-function estimator is needed here: the gradient is exact for the blocks evaluated. Unchanged blocks
are subsampled (rate `rho`, weight 1/rho) because the pixel model is the expensive part.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from darnzip.core.inputs import InputError
from .config import FrameConfig
from .features import (available_from, block_pixels, changed_pixels_per_block, drawn_pixels, global_motion,
                       motion_matches, padded, pixel_features, posterior_features, predicted_motions, prior_features,
                       stacked_context)
from .model import FrameDarn, motion_shapes

LN2 = math.log(2)
MOTION_LR_FACTOR = 10.0


def context(frames: torch.Tensor, t: torch.Tensor, cfg: FrameConfig, drop_prev2: torch.Tensor | None = None):
    """Frames t, t-1, t-2 for a batch of times (t >= 2); `drop_prev2` marks rows coded as if t-2 were absent."""
    x, prev, prev2 = frames[t].long(), frames[t - 1].long(), frames[t - 2].long()
    has_prev2 = torch.ones(len(t), dtype=torch.bool)
    if drop_prev2 is not None and cfg.moving:  # the coder's rule: a stream's start is a still scene
        prev2 = torch.where(drop_prev2.view(-1, 1, 1), prev, prev2)
    elif drop_prev2 is not None:
        has_prev2 = ~drop_prev2
        prev2 = torch.where(drop_prev2.view(-1, 1, 1), torch.full_like(prev2, cfg.outside), prev2)
    return x, prev, prev2, has_prev2


def free_energy_bits(model: FrameDarn, x, prev, prev2, has_prev2, rho: float = 1.0,
                     generator: torch.Generator | None = None, max_blocks: int | None = None) -> torch.Tensor:
    """Per-frame free energy in bits (an unbiased estimate when rho < 1 or max_blocks caps the blocks)."""
    cfg = model.cfg
    prior_idx, prior_ring, bucket = prior_features(prev, prev2, has_prev2, cfg)
    changed = changed_pixels_per_block(x, prev, cfg) > 0
    q_idx, q_ring = posterior_features(changed, bucket)
    lp, lq = model.block_logits(prior_idx, prior_ring, q_idx, q_ring)
    changed = changed.flatten(1)
    copy_bits = torch.zeros_like(lp)  # -ln p(the copying vector | copy): 0 for still models
    choice = torch.zeros_like(changed)  # changed blocks that a vector copies: the encoder picks the cheaper
    if cfg.moving:
        matches = motion_matches(x, prev, cfg)
        predicted, buckets = predicted_motions(prev, prev2, has_prev2, cfg), bucket.flatten(1)
        shared = global_motion(predicted, buckets)
        motion_logp = F.log_softmax(model.motion_logits(buckets, predicted.float(), shared.float()), dim=-1)
        copyable = matches.any(dim=-1)
        # copies take the likeliest vector that reproduces the block (a point-mass posterior); rows with
        # no match take the max over every vector instead: finite, never used
        copy_bits = -motion_logp.masked_fill(~matches & copyable.unsqueeze(-1), -math.inf).max(dim=-1).values
        choice = changed & copyable
    if rho < 1.0:
        chosen = changed | (torch.rand(changed.shape, generator=generator) < rho)
    else:
        chosen = torch.ones_like(changed)
    fi, bi = chosen.nonzero(as_tuple=True)
    scale = 1.0
    if max_blocks is not None and len(fi) > max_blocks:  # busy streams: a uniform subset, reweighted
        keep = torch.randperm(len(fi), generator=generator)[:max_blocks]
        scale = len(fi) / max_blocks
        fi, bi = fi[keep], bi[keep]
    f, y, xx, owner = block_pixels(fi, bi, cfg)
    # Which neighbours count as decoded: the coder's rule, with the changed blocks standing in for h (still
    # models), or every block (moving models: then the rule does not depend on h, and training sees exactly
    # the coder's contexts; with the stand-in, an unchanged block that the coder draws would see neighbours
    # here that it does not see there, and training learned to draw such blocks for free).
    context_drawn = torch.ones_like(changed) if cfg.moving else changed
    feats = pixel_features(stacked_context(padded(prev, cfg), padded(prev2, cfg)), padded(x, cfg),
                           available_from(drawn_pixels(context_drawn, cfg), cfg), f, y, xx, cfg)
    logp = F.log_softmax(model.pixel_logits(feats), dim=1).gather(1, x[f, y, xx].unsqueeze(1)).squeeze(1)
    block_logp = torch.zeros(len(fi)).index_add_(0, owner, logp)

    lp_c, lq_c, ch = lp[fi, bi], lq[fi, bi], changed[fi, bi]
    cost_on = -F.logsigmoid(lp_c) - block_logp
    cost_off = -F.logsigmoid(-lp_c) + copy_bits[fi, bi]
    q = torch.sigmoid(lq_c)
    if cfg.moving:  # the coder copies every unchanged block (a point-mass q)
        cost_unchanged = cost_off
    else:
        cost_unchanged = q * (cost_on + F.logsigmoid(lq_c)) + (1 - q) * (cost_off + F.logsigmoid(-lq_c))
    cost_changed = torch.where(choice[fi, bi], torch.minimum(cost_on, cost_off), cost_on)
    weight = torch.where(ch, torch.ones_like(q), torch.full_like(q, 1.0 / rho))
    cost = torch.where(ch, cost_changed, cost_unchanged) * weight * scale
    return torch.zeros(x.shape[0]).index_add_(0, fi, cost) / LN2


def train(frames: np.ndarray, cfg: FrameConfig, epochs: int, batch: int = 32, lr: float = 3e-3, seed: int = 0,
          rho: float = 0.1, steps_per_epoch: int | None = None, progress=None, model: FrameDarn | None = None,
          max_blocks: int = 1024, checkpoint: Path | None = None, origin: str | None = None, log=None):
    """Train on an (N, H, W) index stream; yields (model, epoch, mean training bits/frame) after each epoch.

    With `checkpoint`, the state after each epoch (model, optimiser, schedule, random generator) is
    written there, and a run started with the same frames and settings continues from it: the result is
    the one an uninterrupted run gives, exactly (on the same device). Epochs it skips are not yielded.
    `origin` names the starting `model` (the sha256 of the model it was built from) for that check."""
    torch.manual_seed(seed)
    device = torch.get_default_device()  # training runs where torch.set_default_device says (a GPU, say)
    gen = torch.Generator(device=device).manual_seed(seed)
    data = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    model = model or FrameDarn(cfg)
    motion_tables = [getattr(model, name) for name in motion_shapes(cfg)]
    others = [p for p in model.parameters() if all(p is not q for q in motion_tables)]
    # the motion tables are a few dozen numbers fitted on every block: they take a larger step
    groups = [{"params": others}] + ([{"params": motion_tables, "lr": lr * MOTION_LR_FACTOR}] if motion_tables else [])
    opt = torch.optim.Adam(groups, lr=lr)
    steps = steps_per_epoch or max(1, (len(data) - 2) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps, eta_min=lr / 20)
    start_epoch, run = 0, None
    if checkpoint is not None:
        run = TrainingRun(checkpoint, frames, cfg, {"epochs": epochs, "batch": batch, "lr": lr, "seed": seed,
                                                    "rho": rho, "steps": steps, "max_blocks": max_blocks,
                                                    "origin": origin})
        start_epoch, last_bits = run.resume(model, opt, sched, gen)
        if start_epoch and log is not None:
            log(f"resumed from {checkpoint} after epoch {start_epoch}/{epochs}")
        if start_epoch == epochs:  # stopped after the last epoch, before the model was exported
            yield model, epochs - 1, last_bits
            return
    for epoch in range(start_epoch, epochs):
        total = 0.0
        for step in range(steps):
            t = torch.randint(2, len(data), (batch,), generator=gen)
            drop = torch.rand(batch, generator=gen) < 0.02
            bits = free_energy_bits(model, *context(data, t, cfg, drop), rho=rho, generator=gen, max_blocks=max_blocks)
            loss = bits.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
            if progress is not None:  # steps done in the whole run, resumed epochs included
                progress(epoch * steps + step + 1, loss.item())
        if run is not None:
            run.save(epoch + 1, total / steps, model, opt, sched, gen)
        yield model, epoch, total / steps


class TrainingRun:
    """A frame model's training checkpoint: what `train` needs to go on after a finished epoch, and what
    it was started with, so that a checkpoint of other frames or settings is refused, not continued."""

    def __init__(self, path: Path, frames: np.ndarray, cfg: FrameConfig, settings: dict):
        self.path = Path(path)
        self.identity = {"config": cfg.to_json(), "frames_sha256": _frames_digest(frames), **settings}
        self._started, self._seconds_before = time.time(), 0.0

    @staticmethod
    def progress_in(path: Path) -> tuple[int, float]:
        """The epochs the checkpoint at `path` has finished and the training seconds they took, all runs
        together ((0, 0.0) if there is none)."""
        if not Path(path).exists():
            return 0, 0.0
        state = torch.load(path, map_location="cpu", weights_only=True)
        return int(state["epoch"]), float(state["seconds"])

    def resume(self, model: FrameDarn, opt, sched, gen: torch.Generator) -> tuple[int, float | None]:
        """Load the checkpoint into the training state, if there is one: the epochs it has finished, and the
        last one's mean training bits/frame."""
        if not self.path.exists():
            return 0, None
        state = torch.load(self.path, map_location="cpu", weights_only=True)  # the optimiser moves its own
        saved = json.loads(state["identity"])
        if saved != self.identity:
            differ = sorted(k for k in self.identity if saved.get(k) != self.identity[k])
            raise InputError(f"{self.path} is the checkpoint of another run ({', '.join(differ)} differ): remove it, "
                             "or start over with --no-resume")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["schedule"])
        gen.set_state(state["generator"])
        self._seconds_before = float(state["seconds"])
        return int(state["epoch"]), float(state["bits"])

    def save(self, epoch: int, bits: float, model: FrameDarn, opt, sched, gen: torch.Generator) -> None:
        seconds = self._seconds_before + time.time() - self._started
        state = {"identity": json.dumps(self.identity), "epoch": epoch, "bits": bits, "seconds": seconds,
                 "model": model.state_dict(),
                 "optimizer": opt.state_dict(), "schedule": sched.state_dict(), "generator": gen.get_state()}
        tmp = self.path.with_name(self.path.name + ".tmp")
        torch.save(state, tmp)
        tmp.replace(self.path)  # a stop mid-write leaves the previous epoch's checkpoint whole


def _frames_digest(frames: np.ndarray) -> str:
    digest = hashlib.sha256(repr(frames.shape).encode())
    for frame in frames:
        digest.update(np.ascontiguousarray(frame).tobytes())
    return digest.hexdigest()


@torch.no_grad()
def evaluate(model: FrameDarn, frames: np.ndarray, batch: int = 16) -> float:
    """Mean exact free energy (bits/frame, float model) over frames 2..N-1 of an index stream."""
    data = torch.from_numpy(np.ascontiguousarray(frames)).to(torch.get_default_device())
    total, count = 0.0, 0
    for start in range(2, len(data), batch):
        t = torch.arange(start, min(start + batch, len(data)))
        total += free_energy_bits(model, *context(data, t, model.cfg)).sum().item()
        count += len(t)
    return total / count
