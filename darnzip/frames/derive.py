"""New versions of a shipped frame model that keep its weights and add something (reference frames, a
history): the steps every such script shares, so each script holds only what it adds."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from darnzip.core.zoo import register_model
from .config import FrameConfig
from .model import build_exact
from .modelfile import LoadedFrameModel, save_frame_model

ROOT = Path(__file__).resolve().parent.parent.parent


def derive_arguments(description: str) -> argparse.ArgumentParser:
    """A parser with the options every derivation takes: the game, source and target ids, where to write."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--game", required=True, help="pong, freeway, spaceinvaders, riverraid or seaquest")
    ap.add_argument("--from", dest="source", required=True, help="model id to copy the weights from")
    ap.add_argument("--to", dest="target", required=True, help="new model id")
    ap.add_argument("--out", type=Path, default=ROOT / "models")
    ap.add_argument("--register", action="store_true")
    return ap


VALIDATION_SEED = 2000  # the play the fitting scripts validate on (training play is seed 1)


def _play(game: str, frames: int, seed: int) -> np.ndarray:
    """`frames` RGB frames of random-action play of `game`, named in lower case (the scripts' --game)."""
    from .atari import GAMES, frames_array

    return frames_array(next(g for g in GAMES if g.lower() == game), frames, seed)


def training_frames(game: str, frames: int, seed: int = 1) -> np.ndarray:
    """The RGB frames the models were trained on (runs/atari/GAME-train.npy, memory-mapped), or `frames`
    frames of the same play again (never the held-out evaluation seeds)."""
    cached = ROOT / "runs" / "atari" / f"{game}-train.npy"
    if cached.exists():
        return np.load(cached, mmap_mode="r")
    return _play(game, frames, seed)


def fitting_play(game: str, frames: int, validation_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `frames` training frames and `validation_frames` frames of validation play
    (VALIDATION_SEED): what the pixel-fitting scripts code, fit on and validate on."""
    return _first_training_frames(game, frames), validation_play(game, validation_frames)


def validation_play(game: str, frames: int) -> np.ndarray:
    """`frames` frames of validation play (VALIDATION_SEED), what encoder settings are chosen on."""
    return _play(game, frames, VALIDATION_SEED)


def _first_training_frames(game: str, frames: int) -> np.ndarray:
    return np.asarray(training_frames(game, frames)[:frames])


def in_chunks(rgb: np.ndarray, chunk: int) -> list[list[np.ndarray]]:
    """RGB frames cut into chunks of `chunk` frames (the last may be shorter), as a stream is coded."""
    return [list(rgb[i:i + chunk]) for i in range(0, len(rgb), chunk)]


def training_chunks(game: str, frames: int, chunk: int) -> list[list[np.ndarray]]:
    """The first `frames` frames of training play (`training_frames`) in chunks of `chunk`: what the fitting
    scripts code to measure a table."""
    return in_chunks(_first_training_frames(game, frames), chunk)


def integer_tensors(loaded: LoadedFrameModel) -> dict[str, np.ndarray]:
    """A copy of the model's integer tensors, as the model file stores them (int32), to add to or edit."""
    return {k: v.astype(np.int32) for k, v in loaded.exact.integers.items()}


def with_tables(loaded: LoadedFrameModel, cfg: FrameConfig, tensors: dict[str, np.ndarray]) -> LoadedFrameModel:
    """`loaded` (its palette and reference frames) with another architecture and tables, not written out:
    what the scripts measure before they save. Its description is the new architecture, without the
    source's encoder settings, as `save_derived` writes it."""
    return dataclasses.replace(loaded, exact=build_exact(cfg, tensors, loaded.exact.frac_bits),
                               info=_without_encoder_settings(loaded.info) | {"architecture": cfg.to_dict()})


def _without_encoder_settings(info: dict) -> dict:
    """A model's JSON fields less its encoder settings, which were chosen for its own tables
    (scripts/tune_cheap_copies.py chooses again for a new model)."""
    return {k: v for k, v in info.items() if k != "encoder"}


def parse_motions(text: str) -> list[tuple[int, int]]:
    """"dy,dx;dy,dx;..." -> [(dy, dx), ...]"""
    return [tuple(int(v) for v in pair.split(",")) for pair in text.split(";") if pair.strip()]


def with_added_motions(loaded: LoadedFrameModel, extra: list[tuple[int, int]],
                       base: int) -> tuple[FrameConfig, dict[str, np.ndarray]]:
    """(config, integer tensors) of `loaded` with the motion vectors `extra` appended, each with the base
    logit `base` (the model's integer units); every other table as it is."""
    if set(extra) & set(loaded.config.motions) or len(set(extra)) != len(extra):
        raise SystemExit("the added vectors must be new and distinct")
    cfg = dataclasses.replace(loaded.config, motions=loaded.config.motions + tuple(extra))
    if cfg.margin != loaded.config.margin:
        raise SystemExit("the added vectors reach further than the model's context offsets")
    tensors = integer_tensors(loaded)
    tensors["motion_base"] = np.concatenate([tensors["motion_base"], np.full(len(extra), base, dtype=np.int32)])
    return cfg, tensors


def coded_bits(chunk_codec, chunks: list[list[np.ndarray]]) -> float:
    """Real ANS bits per frame when `chunk_codec` codes `chunks` (RGB frames)."""
    return sum(32 * len(chunk_codec.encode(chunk)[0].words) for chunk in chunks) / sum(map(len, chunks))


def fit_on_grid(loaded: LoadedFrameModel, chunks: list[list[np.ndarray]], grid: list[float], tables_for,
                name: str) -> tuple[float, float, list[dict]]:
    """The value of `grid` whose (config, tensors) = `tables_for(value)` codes `chunks` in the fewest real
    bits (the first on ties), the source's bits per frame, and the log ({name: value, "bits_per_frame"} per
    value), printed as it goes. Exits, writing nothing, when no value codes shorter than the source."""
    baseline = coded_bits(loaded.chunk_codec(), chunks)
    print(json.dumps({"model": loaded.model_id, "bits_per_frame": round(baseline, 2)}), flush=True)
    log, best = [], None
    for value in grid:
        bits = coded_bits(with_tables(loaded, *tables_for(value)).chunk_codec(), chunks)
        log.append({name: round(value, 3), "bits_per_frame": round(bits, 2)})
        print(json.dumps(log[-1]), flush=True)
        if best is None or bits < best[0]:
            best = (bits, value)
    if best[0] >= baseline:
        raise SystemExit(f"no {name.replace('_', ' ')} codes the training play shorter than {loaded.model_id}; "
                         "nothing written")
    return best[1], baseline, log


def save_derived(args, loaded: LoadedFrameModel, cfg: FrameConfig, tensors: dict[str, np.ndarray],
                 more_references: np.ndarray | None, added: str, provenance: dict, what: str) -> str:
    """Write the new model file (the source's JSON fields kept, `provenance` under `added`), print its
    hash and size, and pin it in the registry with --register, described as the source plus `what`.
    `more_references` are the reference frames after the first; None keeps the source's."""
    if more_references is None and len(loaded.references) > 1:
        more_references = np.stack(loaded.references[1:])
    info = {k: v for k, v in _without_encoder_settings(loaded.info).items()
            if k not in ("model_id", "architecture", "quantization", "weights_sha256")}
    info[added] = {"weights_from": {"model": loaded.model_id, "sha256": loaded.sha256}, **provenance}
    stem = args.out / args.target
    sha = save_frame_model(stem, args.target, cfg, tensors, loaded.exact.frac_bits, loaded.reference, info,
                           more_references)
    print(f"{args.target}: sha256 {sha[:16]}, {stem.with_suffix('.safetensors').stat().st_size} bytes")
    if args.register:
        register_model(args.target, stem.with_suffix(".safetensors"), sha, f"{args.source} {what}", kind="frames",
                       parent=args.source, made_with=" ".join(["python", *sys.argv]))
    return sha
