"""The universal model's files: its starting count tables in safetensors, its description in JSON, pinned
by SHA-256 in the registry (kind "universal"). An archive names the model by that hash alone."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from darnzip.core import zoo
from darnzip.core.modelfiles import ModelError, checked_model_files, write_model_files

from . import contexts as cx
from .model import UniversalModel

KIND = "universal"
DEFAULT_UNIVERSAL = "universal-frames-v2"


def architecture(scheme: int) -> dict:
    """What a model file of this scheme says it is (scheme 1 files, universal-frames-v1, do not name it)."""
    shapes = cx.table_shapes(scheme)
    out = {"kind": "universal-frames", "block": 8, "vectors": cx.vector_count(scheme),
           "latent_contexts": shapes["latent"][0], "vector_contexts": shapes["vector"][0],
           "pixel_contexts": cx.PIXEL_CONTEXTS, "pixel_symbols": cx.PIXEL_SYMBOLS}
    return out if scheme == 1 else {**out, "scheme": scheme}


def save_universal(stem: Path, model: UniversalModel, model_id: str, info: dict, force: bool = True) -> str:
    arrays = {name: np.ascontiguousarray(getattr(model, name), dtype=np.int64) for name in model.table_names()}
    info = {**info, "architecture": architecture(model.scheme), "increments": model.increments, "limits": model.limits}
    return write_model_files(Path(stem), arrays, model_id, info, force)


def load_universal_file(weights: Path, sha256: str | None = None) -> tuple[UniversalModel, str]:
    from safetensors.numpy import load_file

    weights, description, sha = checked_model_files(Path(weights), sha256)
    try:
        info = json.loads(description.read_text())
        scheme = next((s for s in cx.SCHEMES if info.get("architecture") == architecture(s)), None)
        if scheme is None:
            raise ModelError(f"{weights}: not a universal frame model of this darnzip")
        arrays = load_file(str(weights))
        if set(arrays) != set(cx.table_shapes(scheme)):
            raise ModelError(f"{weights}: its tables are not those of a scheme-{scheme} universal model")
        model = UniversalModel(arrays["latent"], arrays["vector"], arrays["pixel"], dict(info["increments"]),
                               dict(info["limits"]), scheme, arrays.get("escape"))
        model.tables(2)  # checks every table's counts, increment and limit
    except (KeyError, TypeError, ValueError, OSError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"{weights}: not a valid universal frame model ({exc})") from None
    if any(getattr(model, name).shape != shape for name, shape in cx.table_shapes(scheme).items()):
        raise ModelError(f"{weights}: its tables are not of this darnzip's shapes")
    return model, sha


@functools.lru_cache(maxsize=8)
def universal_by_sha256(sha256: str) -> UniversalModel:
    """The installed universal model whose weights have this SHA-256 (what an archive names)."""
    model_id = zoo.registered_with_sha256(KIND, sha256)
    if model_id is None:
        raise ModelError(f"no installed universal frame model has sha256 {sha256[:16]}...")
    return load_universal_file(*zoo.model_file(model_id, KIND))[0]  # says where its files go if missing


@functools.lru_cache(maxsize=1)
def default_universal() -> tuple[UniversalModel, str]:
    """The shipped universal model and its SHA-256."""
    path, sha = zoo.model_file(DEFAULT_UNIVERSAL, KIND)
    return load_universal_file(path, sha)
