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


def save_model(stem: Path, model_id: str, config: DarnConfig, tensors: dict[str, np.ndarray], lut: np.ndarray,
               frac_bits: int, extra: dict | None = None) -> str:
    """Write stem.safetensors and stem.json; returns the weights' SHA-256."""
    from safetensors.numpy import save_file

    stem.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.ascontiguousarray(tensors[name], dtype=np.int32) for name in parameter_shapes(config)}
    arrays[LUT_TENSOR] = np.ascontiguousarray(lut, dtype=np.int32)
    weights = stem.with_suffix(".safetensors")
    save_file(arrays, str(weights), metadata={"model_id": model_id})
    sha = file_sha256(weights)
    info = {
        "model_id": model_id,
        "architecture": json.loads(config.to_json()),
        "quantization": {"frac_bits": frac_bits, "prob_bits": 16, "table_size": int(lut.size)},
        "weights_sha256": sha,
        **(extra or {}),
    }
    stem.with_suffix(".json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return sha


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
