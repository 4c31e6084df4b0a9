"""Model files of every kind: `NAME.safetensors` (integer weights) + `NAME.json` (architecture), side by side.

Loading never unpickles. A model's identity in an archive is its id plus the SHA-256 of its weights file,
and the hash of what its JSON tells the coder, so any change to the numbers or the description is refused
by name. Each wing (`darnzip.images.modelfile`, `darnzip.frames.modelfile`) builds its model from here.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np


class ModelError(ValueError):
    """A model file is missing, malformed, or not the one expected."""


DESCRIPTION_HASH_DIGITS = 16  # 64 bits: enough to tell descriptions apart; 22 bytes of a packed header (64 digits: 55)


def description_hash(info: dict) -> str:
    """The first 16 hex digits of the SHA-256 of what a model's JSON tells the coder: its architecture and
    quantisation, as the file holds them (not its encoder settings or provenance). The weights' hash does
    not cover the JSON, yet what it says decides how archives decode (a frame model's motion vectors,
    context offsets and palette; a binary model's fixed-point scale and q's structure); archives record
    this too, so that the same weights with another description are refused by name, not decoded into
    data that fails the archive's checksums. (It guards against mistakes, not forgery, so 64 bits do;
    the whole hash cost 0.4-0.5 bits a frame on 1,000-frame streams.)"""
    return description_sha256(info)[:DESCRIPTION_HASH_DIGITS]


def description_sha256(info: dict) -> str:
    """The whole SHA-256 behind `description_hash`; one release recorded all 64 digits."""
    described = {"architecture": info["architecture"], "quantization": info["quantization"]}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def describes(info: dict, recorded: object) -> bool:
    """Whether an archive's recorded description hash (16 digits, or the one release's 64) is this JSON's."""
    return isinstance(recorded, str) and len(recorded) in (DESCRIPTION_HASH_DIGITS, 64) \
        and description_sha256(info).startswith(recorded)


def check_description(recorded_model: dict, model_id: str, info: dict, weights_path: Path) -> None:
    """Raise ModelError unless the description hash an archive's header records for its model (if any:
    archives written before it was recorded have none; one frame release wrote all 64 digits as
    "description_sha256") is that of the JSON beside `weights_path`, whose weights already matched."""
    described = recorded_model.get("description", recorded_model.get("description_sha256"))
    if described is not None and not describes(info, described):
        raise ModelError(f"archive was written with model '{recorded_model.get('id')}' described otherwise: the "
                         f"weights match, but {weights_path.with_suffix('.json')} gives another architecture or "
                         f"quantisation (description {str(described)[:16]}, this file's {description_hash(info)}; "
                         f"model '{model_id}')")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checked_model_files(weights: Path, expected_sha256: str | None) -> tuple[Path, Path, str]:
    """(weights, description, SHA-256) of a model's two files: both must exist, and the weights must have
    the expected hash when one is pinned. Every model kind loads through here."""
    weights = Path(weights)
    description = weights.with_suffix(".json")
    if not weights.exists() or not description.exists():
        raise ModelError(f"model files missing: need {weights} and {description}")
    sha = file_sha256(weights)
    if expected_sha256 is not None and sha != expected_sha256:
        raise ModelError(f"{weights}: SHA-256 {sha[:16]}... does not match the pinned {expected_sha256[:16]}...; "
                         "the file was modified or replaced")
    return weights, description, sha


def model_file_paths(stem: Path) -> tuple[Path, Path]:
    """stem.safetensors and stem.json: a model's weights and description."""
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def model_files_exist(stem: Path) -> list[Path]:
    """Which of stem.safetensors and stem.json are there already."""
    return [p for p in model_file_paths(stem) if p.exists()]


def write_model_files(stem: Path, arrays: dict[str, np.ndarray], model_id: str, info: dict, force: bool = True) -> str:
    """Write stem.safetensors (the arrays) and stem.json (`info` with the weights' SHA-256); returns the
    SHA-256. Both are written whole to temp files and renamed one after the other once both are ready, so
    a stop leaves the old pair or the new one, not a half-written file. Without `force`, an existing file
    of the pair is an error (OutputExists) and nothing is written."""
    from safetensors.numpy import save

    from darnzip.core.atomic import atomic_file, refuse_existing

    weights_path, description_path = model_file_paths(stem)
    refuse_existing((weights_path, description_path), force)
    weights_bytes = save(arrays, metadata={"model_id": model_id})
    sha = hashlib.sha256(weights_bytes).hexdigest()
    text = json.dumps({**info, "weights_sha256": sha}, indent=2, sort_keys=True) + "\n"
    with atomic_file(description_path, True) as description, atomic_file(weights_path, True) as weights:
        weights.write(weights_bytes)
        description.write(text.encode())
    return sha


