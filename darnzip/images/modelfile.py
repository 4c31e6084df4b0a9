"""Binary-image model files: integer weights and the probability table in safetensors, architecture in JSON.

`NAME.safetensors` + `NAME.json` side by side. Loading never unpickles. The model's identity in an
archive is its id plus the SHA-256 of the weights file, so any change to the numbers is detected.
"""
from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from darnzip.core import zoo
from darnzip.core.modelfiles import (ModelError, check_description, checked_model_files,  # noqa: F401
                                     description_hash, model_file_paths, model_files_exist, write_model_files)
from darnzip.images.config import DarnConfig, parameter_shapes
from darnzip.images.quantized import QuantizedDarn

__all__ = ["DEFAULT_MODEL", "LoadedModel", "load_model", "model_files_exist", "resolve_model"]  # the public names (docs/api.md)

LUT_TENSOR = "lut"


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


DEFAULT_MODEL = "mnist-binary-v1"


@lru_cache(maxsize=8)
def load_registered(model_id: str) -> LoadedModel:
    return load_model(*zoo.model_file(model_id, "images"))


def resolve_model(name_or_path: str | None) -> LoadedModel:
    """A registered model id (or a model's name, meaning its newest installed version), or a path to a
    .safetensors model file with its .json beside it."""
    name = name_or_path or DEFAULT_MODEL
    if zoo.names_a_file(name):
        if zoo.is_frame_model(name):
            raise ModelError(f"'{name}' is a frame-stream model; binary images need an image model such as {DEFAULT_MODEL}")
        return load_model(Path(name))
    name = zoo.registered_id(name)
    if zoo.is_frame_model(name):
        raise ModelError(f"'{name}' is a frame-stream model; binary images need an image model such as {DEFAULT_MODEL}")
    return load_registered(name)


def model_for_archive(model_id: str, sha256: str, override: str | None = None) -> LoadedModel:
    """The model an archive was written with; clear errors when it is absent or a different version. The
    archive names a registry id; a file comes only from `override` (--model FILE)."""
    try:
        loaded = resolve_model(override or zoo.check_registry_id(model_id))
    except ModelError as exc:
        raise zoo.archive_model_error(model_id, sha256, exc, override is not None) from exc
    if loaded.sha256 != sha256:
        raise ModelError(
            f"archive was written with model '{model_id}' sha256 {sha256[:16]}..., but the installed "
            f"'{loaded.model_id}' is sha256 {loaded.sha256[:16]}... (a different model or version)"
        )
    return loaded
