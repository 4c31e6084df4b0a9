"""Fitting a frame model's pixel tables to the pixels its coder actually draws.

`train.py` fits the pixel model on every changed block of training play. The coder of a model with
motion vectors and older frames draws far fewer: only the blocks that no copy codes more cheaply (a
shot crossing an alien, a new score digit). Those are the pixels whose bits reach the archive, so this
fits the pixel tables again on exactly the features the coder reads for them
(`FrameCodec.drawn_pixel_features`), gathered by coding training play. Only the pixel tables move; the
block, motion and latent-context tables stay as they are. Drawn pixels are few (hundreds to a few
thousand a frame), so this runs on the CPU.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .model import FrameDarn

PIXEL_TABLES = ("pixel_table", "hidden_bias", "output", "output_bias")
Pixels = tuple  # (N, groups) int16 vocabulary indices, (N,) uint8 colours, (N,) float32 weights


class DrawnPixels:
    """A FrameCodec pixel observer: the features and colours of every pixel the coder drew."""

    def __init__(self, codec):
        self.codec = codec
        self._features: list[np.ndarray] = []
        self._symbols: list[np.ndarray] = []
        self.frames = 0

    def __call__(self, plan) -> None:
        self.frames += 1
        if plan.h.any():
            features, symbols = self.codec.drawn_pixel_features(plan)
            self._features.append(features.astype(np.int16))  # a vocabulary has fewer than 2**15 rows
            self._symbols.append(symbols.astype(np.uint8))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(N, groups) int16 vocabulary indices and (N,) uint8 palette indices (`weighted` adds weights)."""
        if not self._features:
            return np.zeros((0, 0), dtype=np.int16), np.zeros(0, dtype=np.uint8)
        return np.concatenate(self._features), np.concatenate(self._symbols)


def code_and_record(loaded, chunks) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """Real coded bits per frame of `chunks` (RGB frames) under `loaded`, and the pixels it drew."""
    chunk_codec = loaded.chunk_codec()
    chunk_codec.codec.pixel_observer = drawn = DrawnPixels(chunk_codec.codec)
    bits = sum(32 * len(chunk_codec.encode(chunk)[0].words) for chunk in chunks)
    return bits / sum(map(len, chunks)), drawn.arrays()


def record_chunk_starts(loaded, rgb: np.ndarray, every: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixels drawn when every `every`-th frame starts a chunk (or is a key frame): coded from its
    nearest reference frame, with no frame t-2. Real chunks have few such frames, yet they draw most of
    their blocks; fitted without them, Riverraid's tables spent 9,284 bits more on one chunk's first
    frame (measured)."""
    chunk_codec = loaded.chunk_codec()
    drawn = DrawnPixels(chunk_codec.codec)
    for frame in rgb[::every]:
        frame = chunk_codec.palette.indices(frame)
        reference = chunk_codec.references[chunk_codec.nearest_reference(frame)[0]]
        drawn(chunk_codec.codec.plan(frame, reference, None))
    return drawn.arrays()


def with_chunk_starts(loaded, pixels, rgb: np.ndarray, every: int, chunk: int):
    """The drawn `pixels` of coded chunks (weight 1) and those of `record_chunk_starts`, weighted by how
    much more often they were sampled than a chunk has a first frame (every / chunk): counted as often
    as in real use, from more frames."""
    if not every:
        return weighted(*pixels)
    return joined(weighted(*pixels), weighted(*record_chunk_starts(loaded, rgb, every), every / chunk))


@torch.no_grad()
def with_fewer_hidden_units(model: FrameDarn, pixels: Pixels, hidden: int, sample: int = 200_000) -> FrameDarn:
    """A float model with the `hidden` hidden units of `model` that move its logits most on `pixels` (the
    spread of each unit's quantised level times the size of its output weights), the rest removed: where a
    smaller, faster pixel model starts its fit. With 0 the pixel model is log-linear: a sum of table rows."""
    cfg = dataclasses.replace(model.cfg, hidden=hidden)
    _, _, level = model.pixel_sums(torch.from_numpy(pixels[0][:sample].astype(np.int64)))
    influence = level.std(dim=0) * model.output.norm(dim=1)
    kept = torch.argsort(influence, descending=True)[:hidden].sort().values
    smaller = FrameDarn(cfg)
    for name in smaller.table_names:
        getattr(smaller, name).copy_(getattr(model, name))
    colours = model.pixel_table[:, model.cfg.hidden:]
    smaller.pixel_table.copy_(torch.cat([model.pixel_table[:, kept], colours], dim=1))
    smaller.hidden_bias.copy_(model.hidden_bias[kept])
    smaller.output.copy_(model.output[kept])
    smaller.output_bias.copy_(model.output_bias)
    return smaller


def with_pixel_tables(integers: dict[str, np.ndarray], model: FrameDarn, frac_bits: int) -> dict[str, np.ndarray]:
    """A model file's integer tensors (`integers`) with the pixel tables of the float `model`, quantised."""
    tensors = {name: np.asarray(value, dtype=np.int32) for name, value in integers.items()}
    return tensors | {name: value for name, value in model.quantize(frac_bits).items() if name in PIXEL_TABLES}


def _batch(pixels: Pixels, rows) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    features, symbols, weights = pixels
    return (torch.from_numpy(features[rows].astype(np.int64)), torch.from_numpy(symbols[rows].astype(np.int64)),
            torch.from_numpy(np.asarray(weights[rows], dtype=np.float32)))


def weighted(features: np.ndarray, symbols: np.ndarray, weight: float = 1.0) -> Pixels:
    """Pixels that count `weight` times each in the fit (the drawn pixels of frames sampled more often
    than real chunks have them count less)."""
    return features, symbols, np.full(len(symbols), weight, dtype=np.float32)


def joined(*parts: Pixels) -> Pixels:
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


@torch.no_grad()
def pixel_bits(model: FrameDarn, pixels: Pixels, batch: int = 16384) -> float:
    """Weighted total bits of the pixels under the float model (its hidden layer quantised, as the
    coder's)."""
    total = 0.0
    for start in range(0, len(pixels[1]), batch):
        f, y, w = _batch(pixels, slice(start, start + batch))
        total += (F.cross_entropy(model.pixel_logits(f), y, reduction="none") * w).sum().item()
    return total / math.log(2)


def fit_pixel_tables(model: FrameDarn, train: Pixels, validation: Pixels,
                     epochs: int = 4, lr: float = 1e-3, batch: int = 4096, seed: int = 0,
                     progress: Callable[[dict], None] | None = None) -> tuple[FrameDarn, list[dict]]:
    """Adam on the pixel tables alone (cosine schedule), minimising the weighted bits of the `train`
    pixels; keeps the epoch (0 = the tables as given) with the fewest weighted bits on the `validation`
    pixels. Returns the model and one record per epoch."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in PIXEL_TABLES)
    opt = torch.optim.Adam([getattr(model, name) for name in PIXEL_TABLES], lr=lr)
    steps = max(1, len(train[1]) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps, eta_min=lr / 20)
    generator = torch.Generator().manual_seed(seed)
    log = [{"epoch": 0, "validation_bits": round(pixel_bits(model, validation), 1)}]
    best_bits, best_state = log[0]["validation_bits"], copy.deepcopy(model.state_dict())
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(train[1]), generator=generator).numpy()
        total = 0.0
        for step in range(steps):
            f, y, w = _batch(train, order[step * batch:(step + 1) * batch])
            loss = (F.cross_entropy(model.pixel_logits(f), y, reduction="none") * w).sum() / w.sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        record = {"epoch": epoch, "train_bits_per_pixel": round(total / math.log(2) / steps, 4),
                  "validation_bits": round(pixel_bits(model, validation), 1)}
        log.append(record)
        if progress is not None:
            progress(record)
        if record["validation_bits"] < best_bits:
            best_bits, best_state = record["validation_bits"], copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model, log
