"""`darnzip train-frames`: from an RGB frame array to a registered, hashed integer frame model."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from darnzip.core.inputs import InputError
from .config import DEFAULT_HIDDEN, MOTIONS, STILL, FrameConfig
from .modelfile import save_frame_model
from .palette import Palette, colours_of
from .model import FrameDarn
from .train import TrainingRun, train

__all__ = ["checkpoint_path", "train_frame_model"]  # the public names (docs/api.md)

FRAC_BITS = 8


def index_frames(rgb: np.ndarray, palette: Palette) -> np.ndarray:
    out = np.empty(rgb.shape[:3], dtype=np.uint8)
    for i, frame in enumerate(rgb):
        idx = palette.indices(frame)
        if idx is None:
            raise InputError(f"training frame {i} has a colour outside the palette of {len(palette)} colours")
        out[i] = idx
    return out


def checkpoint_path(stem: Path) -> Path:
    """Where `train_frame_model` keeps its state between epochs: beside the export."""
    return stem.with_name(stem.name + ".checkpoint.pt")


def train_frame_model(rgb: np.ndarray, stem: Path, model_id: str, epochs: int, steps: int, lr: float, seed: int,
                      block: int, rho: float = 0.03, max_blocks: int = 1024, log=print, init=None, motion: bool = True,
                      resume: bool = True, progress=None, force: bool = True, hidden: int = DEFAULT_HIDDEN) -> str:
    """Palette = every colour of the training frames; reference frame = the first training frame.
    `init` (a LoadedFrameModel) continues from an exported model, keeping its palette and architecture
    (`motion` can add motion vectors to a model without them; its other tables carry over). Each
    finished epoch is checkpointed (`checkpoint_path`); with `resume`, a run of the same frames and
    settings goes on from there. The checkpoint is removed once the model is exported. `progress` is
    called after each step with the steps done (out of epochs x steps) and its training bits/frame.
    Without `force`, existing model files at `stem` are an error (at the export, after training: callers
    check first). `hidden` is a new model's count of hidden units in its pixel model (0: log-linear)."""
    torch.manual_seed(seed)
    if init is not None:
        cfg, palette = init.config, init.palette
        if motion and not cfg.moving:
            cfg = dataclasses.replace(cfg, motions=MOTIONS)
        start_model = FrameDarn.from_integers(cfg, init.exact.integers, init.exact.frac_bits)
    else:
        palette = Palette(colours_of(rgb))
        if len(palette) > 253:
            raise InputError(f"the training frames have {len(palette)} colours: frame models handle at most 253")
        cfg = FrameConfig(rgb.shape[1], rgb.shape[2], tuple(int(c) for c in palette.colours), block=block,
                          motions=MOTIONS if motion else STILL, hidden=hidden)
        start_model = None
    frames = index_frames(rgb, palette)
    checkpoint = checkpoint_path(stem)
    if not resume:
        checkpoint.unlink(missing_ok=True)
    resumed_after, seconds_before = TrainingRun.progress_in(checkpoint)
    start = time.time()
    for model, epoch, bits in train(frames, cfg, epochs, lr=lr, seed=seed, steps_per_epoch=steps, rho=rho,
                                    max_blocks=max_blocks, model=start_model, checkpoint=checkpoint,
                                    origin=None if init is None else init.sha256, log=log,
                                    progress=progress):
        log(f"epoch {epoch + 1}/{epochs}: training free energy {bits:.1f} bits/frame ({time.time() - start:.0f} s)")
    record = {"training": {"frames": int(len(rgb)), "epochs": epochs, "steps_per_epoch": steps, "lr": lr,
                           "rho": rho, "max_blocks": max_blocks, "seed": seed, "final_train_bits_per_frame": round(bits, 2),
                           "seconds": round(seconds_before + time.time() - start)}}
    if resumed_after:  # went on from a checkpoint (its seconds are counted in)
        record["training"]["resumed_after_epoch"] = resumed_after
    if init is not None:
        record["training"]["continued_from"] = {"model": init.model_id, "sha256": init.sha256,
                                                **init.info.get("training", {})}
    reference = init.reference if init is not None else frames[0]
    sha = save_frame_model(stem, model_id, cfg, model.quantize(FRAC_BITS), FRAC_BITS, reference, record,
                           force=force)
    checkpoint.unlink(missing_ok=True)
    return sha
