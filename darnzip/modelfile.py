"""Model files: integer weights and the probability table in safetensors, architecture in a JSON file.

`NAME.safetensors` + `NAME.json` side by side. Loading never unpickles. The model's identity in an
archive is its id plus the SHA-256 of the weights file, so any change to the numbers is detected.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from .config import DarnConfig, parameter_shapes
from .quantized import QuantizedDarn

LUT_TENSOR = "lut"


class ModelError(ValueError):
    """A model file is missing, malformed, or not the one expected."""


@dataclasses.dataclass
class LoadedModel:
    model_id: str
    sha256: str
    quantized: QuantizedDarn
    info: dict  # the JSON description (architecture, quantisation, training record)
    weights_path: Path

    @property
    def config(self) -> DarnConfig:
        return self.quantized.config

    @property
    def description_hash(self) -> str:
        """`description_hash` of the model's JSON."""
        return description_hash(self.info)


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

    from .atomic import atomic_file, refuse_existing

    weights_path, description_path = model_file_paths(stem)
    refuse_existing((weights_path, description_path), force)
    weights_bytes = save(arrays, metadata={"model_id": model_id})
    sha = hashlib.sha256(weights_bytes).hexdigest()
    text = json.dumps({**info, "weights_sha256": sha}, indent=2, sort_keys=True) + "\n"
    with atomic_file(description_path, True) as description, atomic_file(weights_path, True) as weights:
        weights.write(weights_bytes)
        description.write(text.encode())
    return sha


def save_model(stem: Path, model_id: str, config: DarnConfig, tensors: dict[str, np.ndarray], lut: np.ndarray,
               frac_bits: int, extra: dict | None = None, force: bool = True) -> str:
    """Write stem.safetensors and stem.json (`write_model_files`); returns the weights' SHA-256."""
    arrays = {name: np.ascontiguousarray(tensors[name], dtype=np.int32) for name in parameter_shapes(config)}
    arrays[LUT_TENSOR] = np.ascontiguousarray(lut, dtype=np.int32)
    info = {
        "model_id": model_id,
        "architecture": json.loads(config.to_json()),
        "quantization": {"frac_bits": frac_bits, "prob_bits": 16, "table_size": int(lut.size)},
        **(extra or {}),
    }
    return write_model_files(stem, arrays, model_id, info, force)


def load_model(weights: Path, expected_sha256: str | None = None) -> LoadedModel:
    """Load stem.safetensors + stem.json, verifying the weights' hash when one is expected."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    weights, description, sha = checked_model_files(weights, expected_sha256)
    try:
        info = json.loads(description.read_text())
        config = DarnConfig.from_dict(info["architecture"])
        frac_bits = int(info["quantization"]["frac_bits"])
        arrays = load_file(str(weights))
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{weights}: not a valid darnzip model ({exc})") from exc
    if LUT_TENSOR not in arrays:
        raise ModelError(f"{weights}: probability table missing")
    try:
        quantized = QuantizedDarn(config, arrays, frac_bits, arrays[LUT_TENSOR])
    except ValueError as exc:
        raise ModelError(f"{weights}: {exc}") from exc
    return LoadedModel(info.get("model_id", weights.stem), sha, quantized, info, weights)
