"""`darnzip train-frames`: from an RGB frame array to a registered, hashed integer frame model."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from .config import MOTIONS, STILL, FrameConfig
from .modelfile import save_frame_model
from .palette import Palette, colours_of
from .model import FrameDarn
from .train import train

FRAC_BITS = 8


def index_frames(rgb: np.ndarray, palette: Palette) -> np.ndarray:
    out = np.empty(rgb.shape[:3], dtype=np.uint8)
    for i, frame in enumerate(rgb):
        idx = palette.indices(frame)
        if idx is None:
            raise ValueError(f"frame {i} has a colour outside the palette")
        out[i] = idx
    return out


def train_frame_model(rgb: np.ndarray, stem: Path, model_id: str, epochs: int, steps: int, lr: float, seed: int,
                      block: int, rho: float = 0.03, max_blocks: int = 1024, log=print, init=None, motion: bool = True) -> str:
    """Palette = every colour of the training frames; reference frame = the first training frame.
    `init` (a LoadedFrameModel) continues from an exported model, keeping its palette and architecture
    (`motion` can add motion vectors to a model without them; its other tables carry over)."""
    torch.manual_seed(seed)
    if init is not None:
        cfg, palette = init.config, init.palette
        if motion and not cfg.moving:
            cfg = dataclasses.replace(cfg, motions=MOTIONS)
        start_model = FrameDarn.from_integers(cfg, init.exact.integers, init.exact.frac_bits)
    else:
        palette = Palette(colours_of(rgb))
        if len(palette) > 253:
            raise ValueError(f"{len(palette)} colours: frame models handle at most 253")
        cfg = FrameConfig(rgb.shape[1], rgb.shape[2], tuple(int(c) for c in palette.colours), block=block,
                          motions=MOTIONS if motion else STILL)
        start_model = None
    frames = index_frames(rgb, palette)
    start = time.time()
    model = None
    for model, epoch, bits in train(frames, cfg, epochs, lr=lr, seed=seed, steps_per_epoch=steps, rho=rho,
                                    max_blocks=max_blocks, model=start_model):
        log(f"epoch {epoch + 1}/{epochs}: training free energy {bits:.1f} bits/frame ({time.time() - start:.0f} s)")
    record = {"training": {"frames": int(len(rgb)), "epochs": epochs, "steps_per_epoch": steps, "lr": lr,
                           "rho": rho, "max_blocks": max_blocks, "seed": seed, "final_train_bits_per_frame": round(bits, 2),
                           "seconds": round(time.time() - start)}}
    if init is not None:
        record["training"]["continued_from"] = {"model": init.model_id, "sha256": init.sha256,
                                                **init.info.get("training", {})}
    reference = init.reference if init is not None else frames[0]
    return save_frame_model(stem, model_id, cfg, model.quantize(FRAC_BITS), FRAC_BITS, reference, record)
