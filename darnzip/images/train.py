"""Training loop: minimise the free energy with a chosen gradient estimator; resumable checkpoints."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from darnzip.images.model import Darn, DarnConfig

__all__ = ["TrainSettings", "pick_device", "train"]  # the public names (docs/api.md)

LN2 = math.log(2.0)


@dataclasses.dataclass
class TrainSettings:
    epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-5
    estimator: str = "rloo"
    samples: int = 2
    seed: int = 0
    device: str = "cpu"
    train_split: str = "train"  # MNIST split trained on (recorded with the model)


def pick_device(requested: str | None) -> str:
    if requested:
        return requested
    if torch.cuda.is_available():
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if "LOCAL_RANK" in os.environ else "cuda"
    return "cpu"


def start_distributed(device: str) -> tuple[int, int]:
    """(rank, world size); joins the torchrun process group when WORLD_SIZE > 1 (gloo on CPU, nccl on GPU)."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_visible_bias(model: Darn, train: np.ndarray) -> None:
    """Start the visible biases at the logit of each pixel's mean, a cheap head start."""
    mean = np.clip(train.reshape(len(train), -1).mean(0), 1e-3, 1 - 1e-3)
    with torch.no_grad():
        model.param("p.0.bias").copy_(torch.from_numpy(np.log(mean / (1 - mean))).float())


@torch.no_grad()
def free_energy_bits(model: Darn, data: np.ndarray, device: str, batch_size: int = 1000, seed: int = 1) -> float:
    """Mean one-sample free energy of the float model in bits/image."""
    generator = torch.Generator(device=device).manual_seed(seed)
    total = 0.0
    for start in range(0, len(data), batch_size):
        x = torch.from_numpy(data[start : start + batch_size].reshape(-1, model.config.layer_sizes[0])).float().to(device)
        latents = model.sample_posterior(x, generator)
        total += float((model.log_posterior(x, latents) - model.log_joint(x, latents)).sum())
    return total / len(data) / LN2


def learning_rate_at(settings: TrainSettings, epoch_progress: float) -> float:
    """Cosine decay from learning_rate to final_learning_rate over the run."""
    t = min(1.0, epoch_progress / max(1, settings.epochs))
    lo, hi = settings.final_learning_rate, settings.learning_rate
    return lo + 0.5 * (hi - lo) * (1 + math.cos(math.pi * t))


def train(
    config: DarnConfig,
    settings: TrainSettings,
    train_data: np.ndarray,
    valid_data: np.ndarray,
    run_dir: Path,
    resume: bool = True,
    progress: bool = True,
    log=print,
    log_every: int | None = None,
) -> Darn:
    """Train, checkpointing every epoch to run_dir/checkpoint.pt; resumes from it when present.

    Under torchrun (WORLD_SIZE > 1) every rank takes its share of each batch and DistributedDataParallel
    averages the gradients; rank 0 alone validates, logs and writes checkpoints. `log_every`: also log a
    line every that many steps (default: ten a epoch when stderr is not a terminal, where the progress
    bar does not show, as in a log file).
    """
    from tqdm import tqdm

    device = settings.device
    rank, world = start_distributed(device)
    if settings.batch_size % world:
        raise ValueError(f"batch size {settings.batch_size} is not divisible by {world} processes")
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    model = Darn(config).to(device)
    init_visible_bias(model, train_data)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    start_epoch, history = 0, []
    checkpoint_path = run_dir / "checkpoint.pt"
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if state["config"] != config.to_json():
            raise ValueError(f"{checkpoint_path} was trained with another architecture; use a new --run-dir")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, history = state["epoch"], json.loads(state["history"])
        torch.set_rng_state(state["rng"])
        if rank == 0:
            log(f"resumed from {checkpoint_path} at epoch {start_epoch}")
    if rank == 0:
        (run_dir / "settings.json").write_text(json.dumps(
            {"config": json.loads(config.to_json()), "processes": world, **dataclasses.asdict(settings)}, indent=2))
    step_model = model
    flat = torch.from_numpy(train_data.reshape(len(train_data), -1)).float()
    steps_per_epoch = math.ceil(len(flat) / settings.batch_size)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        torch.manual_seed(settings.seed * 7919 + rank * 104729 + start_epoch)  # distinct posterior samples per rank
        step_model = DistributedDataParallel(model)
        steps_per_epoch = len(flat) // settings.batch_size  # every rank needs a full share of every batch
    per_rank = settings.batch_size // world
    if log_every is None and progress and not sys.stderr.isatty():
        log_every = max(1, steps_per_epoch // 10)

    for epoch in range(start_epoch, settings.epochs):
        order_rng = np.random.default_rng(settings.seed * 100003 + epoch)
        order = torch.from_numpy(order_rng.permutation(len(flat)))
        started, running = time.time(), []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{settings.epochs}",
                   disable=not progress or rank != 0 or not sys.stderr.isatty(), leave=False)  # logs get lines
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(settings, epoch + step / steps_per_epoch)
            start = step * settings.batch_size + rank * per_rank
            batch = flat[order[start : start + per_rank]].to(device)
            loss, free_energy = step_model(batch, settings.estimator, settings.samples)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running.append(float(free_energy))
            if step % 20 == 0:
                bar.set_postfix(fe_bits=f"{np.mean(running[-50:]) / LN2:.2f}")
            if rank == 0 and log_every and (step + 1) % log_every == 0 and step + 1 < steps_per_epoch:
                log(json.dumps({"epoch": epoch + 1, "step": step + 1, "steps": steps_per_epoch,
                                "train_fe_bits": round(float(np.mean(running[-log_every:]) / LN2), 2)}))
        if rank != 0:
            _barrier(world)
            continue
        valid_bits = free_energy_bits(model, valid_data, device)
        record = {
            "epoch": epoch + 1,
            "train_fe_bits": float(np.mean(running) / LN2),
            "valid_fe_bits": valid_bits,
            "seconds": round(time.time() - started, 1),
        }
        history.append(record)
        log(json.dumps(record))
        state = {
            "config": config.to_json(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch + 1,
            "history": json.dumps(history),
            "rng": torch.get_rng_state(),
        }
        tmp = checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(checkpoint_path)
        _barrier(world)
    return model


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
