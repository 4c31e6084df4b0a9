"""The page model's files: its starting counts in safetensors, its description in JSON, pinned by SHA-256
in the registry (kind "pages"). An archive names the model by id and hash."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Callable

import numpy as np

from darnzip.core import zoo
from darnzip.core.modelfiles import ModelError, checked_model_files, write_model_files

from . import intcode, model as pm, pixels

__all__ = ["DEFAULT_PAGES", "KIND", "default_binary_model", "default_page_model", "is_page_model",
           "load_page_model_file", "named_binary_model", "page_model_for_archive", "resolve_page_model",
           "save_page_model"]

KIND = "pages"
DEFAULT_PAGES = "pages-v1"
ARCHITECTURE = {"kind": "pages", "template": [list(offset) for offset in pixels.TEMPLATE], "slope": pixels.SLOPE,
                "integer_symbols": intcode.SYMBOLS, "increments": [pm.PIXEL_INCREMENT, pm.LATENT_INCREMENT],
                "limits": [pm.PIXEL_LIMIT, pm.LATENT_LIMIT]}


def save_page_model(stem: Path, model: pm.PageModel, model_id: str, info: dict, force: bool = True) -> str:
    arrays = {name: np.ascontiguousarray(array, dtype=_smallest_dtype(array)) for name, array in model.arrays().items()}
    return write_model_files(Path(stem), arrays, model_id, {**info, "architecture": ARCHITECTURE}, force)


def _smallest_dtype(array: np.ndarray):
    """Starting counts are small (at most the training strength + 1): store them in as few bytes as fit."""
    top = int(array.max())
    return np.uint8 if top < 1 << 8 else np.uint16 if top < 1 << 16 else np.int64


def load_page_model_file(weights: Path, sha256: str | None = None) -> tuple[pm.PageModel, str]:
    from safetensors.numpy import load_file

    weights, description, sha = checked_model_files(Path(weights), sha256)
    try:
        info = json.loads(description.read_text())
        if info.get("architecture") != ARCHITECTURE:
            raise ModelError(f"{weights}: not a page model of this darnzip")
        return pm.PageModel.from_arrays(load_file(str(weights))), sha
    except (KeyError, TypeError, ValueError, OSError) as exc:
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"{weights}: not a valid page model ({exc})") from None


@functools.lru_cache(maxsize=4)
def _registered(model_id: str) -> tuple[pm.PageModel, str]:
    return load_page_model_file(*zoo.model_file(model_id, KIND))


def default_page_model() -> tuple[str, pm.PageModel, str]:
    """(id, model, SHA-256) of the shipped page model."""
    return (DEFAULT_PAGES, *_registered(DEFAULT_PAGES))


def is_page_model(name: str) -> bool:
    """Whether --model names a page model: a registered one, or a file whose description says so."""
    if zoo.names_a_file(name):
        description = Path(name).with_suffix(".json")
        try:
            return json.loads(description.read_text())["architecture"]["kind"] == KIND
        except (OSError, ValueError, KeyError, TypeError):
            return False
    entry = zoo.registry().get(zoo.registered_id(name))
    return entry is not None and zoo.kind_of(entry) == KIND


def named_binary_model(name: str) -> tuple:
    """What --model NAME codes binary images with: (page model (id, model, SHA-256), None), or (None, the
    fixed-size image model)."""
    from darnzip.images.modelfile import resolve_model

    return (resolve_page_model(name), None) if is_page_model(name) else (None, resolve_model(name))


def default_binary_model(fits: Callable[[tuple[int, int]], bool]) -> tuple:
    """Without a model named: the default image DARN when `fits` its image shape (every input is of that
    size), else the page model, which codes binary images of any size; as named_binary_model."""
    from darnzip.images.modelfile import resolve_model

    loaded = resolve_model(None)
    return (None, loaded) if fits(tuple(loaded.config.image_shape)) else (resolve_page_model(None), None)


def resolve_page_model(name: str | None) -> tuple[str, pm.PageModel, str]:
    """A registered page model's id or a .safetensors path (None: the default) -> (id, model, SHA-256)."""
    if name is None:
        return default_page_model()
    if zoo.names_a_file(name):
        model, sha = load_page_model_file(Path(name))
        return Path(name).stem, model, sha
    model_id = zoo.registered_id(name)  # a name without its version means the newest installed
    return (model_id, *_registered(model_id))


def page_model_for_archive(model_id: str, sha256: str, override: str | None = None) -> pm.PageModel:
    """The model an archive names (or the file given instead), its hash checked against the archive's."""
    try:
        if override is not None:
            _, model, sha = resolve_page_model(override)
        else:
            known = model_id if model_id in zoo.registry() else zoo.registered_with_sha256(KIND, sha256)
            if known is None:
                raise ModelError(f"archive needs page model {model_id!r}, which is not installed")
            model, sha = _registered(known)
    except ModelError as exc:
        raise zoo.archive_model_error(model_id, sha256, exc, override is not None) from None
    if sha != sha256:
        raise ModelError(f"page model {model_id!r} is not the one the archive was made with (sha256 differs)")
    return model
