"""The model zoo: which models exist, each pinned by the SHA-256 of its weights, and where their files are.

`registry.json` lists every model darnzip has shipped, as data: its kind, file, hash, a one-line
description of the step that made it, its parent and the command that made it. The files of the default
models ship beside it (in the wheel too, as package data); an older model's files are found in any
directory named by $DARNZIP_MODELS (os.pathsep-separated), or named directly with --model FILE. The
registry itself never imports a wing: each wing loads its own model kind from the path found here
(`darnzip.images.modelfile`, `darnzip.frames.modelfile`), so archives keep their pinned hash whoever
reads them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from darnzip.core.modelfiles import ModelError

__all__ = ["find_file", "installed_ids", "is_frame_model", "kind_of", "lineage", "register_model",
           "registered_id", "registered_with_sha256", "registry", "versions_by_name"]  # the public names (docs/api.md)

MODELS_ENV = "DARNZIP_MODELS"
REGISTRY_NAME = "registry.json"


def bundled_dir() -> Path:
    """The shipped models: `models/` of a checkout, or the wheel's `darnzip_models` package data."""
    try:
        import darnzip_models  # what an install (wheel or editable) maps models/ to

        for path in darnzip_models.__path__:
            if (Path(path) / REGISTRY_NAME).exists():
                return Path(path)
    except ImportError:
        pass
    return Path(__file__).resolve().parents[2] / "models"  # a checkout on sys.path, not installed


def search_dirs() -> list[Path]:
    """Where model files are looked for, in order: $DARNZIP_MODELS's directories, then the shipped ones."""
    extra = [Path(p) for p in os.environ.get(MODELS_ENV, "").split(os.pathsep) if p]
    return [*extra, bundled_dir()]


def registry() -> dict[str, dict]:
    """{model id: {"file", "sha256", "kind", "description", "parent", "made_with"}}: the shipped registry,
    with the entries of registry.json files in $DARNZIP_MODELS directories (models registered there by
    `darnzip train --register`) taking precedence."""
    entries: dict[str, dict] = {}
    for directory in reversed(search_dirs()):
        path = directory / REGISTRY_NAME
        if path.exists():
            try:
                found = json.loads(path.read_text())
            except ValueError as exc:
                raise ModelError(f"{path}: not a valid model registry ({exc})") from exc
            if not isinstance(found, dict):
                raise ModelError(f"{path}: not a valid model registry")
            entries.update(found)
    return entries


def kind_of(entry: dict) -> str:
    return entry.get("kind", "images")


def version_order(model_id: str) -> tuple[str, int]:
    """Sort key of a model id: its name, then its version as a number (atari-pong-v10 after -v9, which
    sorts after it as text)."""
    name, _, version = model_id.rpartition("-v")
    return (name, int(version)) if name and version.isdigit() else (model_id, -1)


def versions_by_name(entries: dict[str, dict]) -> dict[str, list[str]]:
    """Registered ids grouped by model name (atari-pong: [atari-pong-v1, ..., atari-pong-v7]), each group in
    version order; ids without a version number are their own names' only member."""
    groups: dict[str, list[str]] = {}
    for model_id in sorted(entries, key=version_order):
        groups.setdefault(version_order(model_id)[0], []).append(model_id)
    return groups


def installed_ids(kind: str | None = None) -> list[str]:
    """Registered ids whose files are present in a search directory, in version order."""
    return sorted((m for m, e in registry().items() if (kind is None or kind_of(e) == kind) and find_file(e)),
                  key=version_order)


def registered_id(name: str) -> str:
    """A registered id as it is, or a model's name without its version (atari-pong) as its newest
    installed version (atari-pong-v7), as a tag names a release; anything else unchanged."""
    entries = registry()
    if name in entries:
        return name
    installed = set(installed_ids())
    versions = [m for m in versions_by_name(entries).get(name, []) if version_order(m)[1] >= 0 and m in installed]
    return versions[-1] if versions else name


def installed_summary(kind: str | None = None) -> str:
    """The installed models as names with their versions (atari-pong v7, ...), for error messages."""
    ids = installed_ids(kind)
    if not ids:
        return "none"
    parts = []
    for name, group in sorted(versions_by_name(dict.fromkeys(ids)).items()):
        numbered = [version_order(m)[1] for m in group if version_order(m)[1] >= 0]
        span = f"v{numbered[0]}" if len(numbered) == 1 else f"v{numbered[0]}-v{numbered[-1]}" if numbered else ""
        parts.append(f"{name} {span}".strip())
    return ", ".join(parts) + "; `darnzip models` lists them"


def names_a_file(name: str) -> bool:
    """Whether --model names a file (a path) rather than a registered id."""
    return name.endswith(".safetensors") or "/" in name or os.sep in name


def is_frame_model(name_or_path: str | None) -> bool:
    """Whether a model id or path names a frame-stream model (kind "frames")."""
    if not name_or_path:
        return False
    if not names_a_file(name_or_path):
        entry = registry().get(registered_id(name_or_path))
        return entry is not None and kind_of(entry) == "frames"
    description = Path(name_or_path).with_suffix(".json")
    try:
        return json.loads(description.read_text())["architecture"].get("kind") == "frames"
    except (OSError, ValueError, KeyError, AttributeError):
        return False


class ModelNotInstalled(ModelError):
    """A model id that the registry does not list, or whose files are in no search directory."""


def find_file(entry: dict) -> Path | None:
    for directory in search_dirs():
        path = directory / entry["file"]
        if path.exists():
            return path
    return None


def registered_with_sha256(kind: str, sha256: str) -> str | None:
    """The id of a registered model of `kind` whose weights have this SHA-256 (what an archive names)."""
    return next((model_id for model_id, entry in registry().items()
                 if kind_of(entry) == kind and entry.get("sha256") == sha256), None)


def model_file(model_id: str, kind: str) -> tuple[Path, str]:
    """(weights path, pinned SHA-256) of a registered model of `kind` whose files are installed."""
    entries = registry()
    entry = entries.get(model_id)
    if entry is None or kind_of(entry) != kind:
        what = "model" if kind == "images" else f"{kind} model"
        listed = installed_summary(kind if entry is not None else None)
        raise ModelNotInstalled(f"{what} '{model_id}' is not installed (installed: {listed})")
    path = find_file(entry)
    if path is None:
        raise ModelNotInstalled(
            f"model '{model_id}' is registered (sha256 {entry['sha256'][:16]}...) but its files are not installed: "
            f"put {entry['file']} and its .json in a directory named by ${MODELS_ENV}, or name the file with "
            "--model FILE (docs/models.md says where older models are kept)")
    return path, entry["sha256"]


def archive_model_error(model_id: str, sha256: object, exc: ModelError, model_named: bool) -> ModelError:
    """The error of an archive (of either kind) whose model `model_id` could not be loaded (`exc`). When
    none was named to decode with and the archive's is not installed, it says how to name its file: a
    model trained here (`darnzip train`) lives in a file, not in the registry."""
    hint = ("; to decode with a model file of yours, name it: --model FILE.safetensors"
            if isinstance(exc, ModelNotInstalled) and not model_named and "--model FILE" not in str(exc) else "")
    return ModelError(f"archive needs model '{model_id}' (sha256 {str(sha256)[:16]}...): {exc}{hint}")


def is_registry_id(model_id: object) -> bool:
    """Whether an archive's model id can be a registry id. Never a path: a path would load any file pair,
    past the registry's pinned hash (files come only from --model)."""
    return isinstance(model_id, str) and bool(model_id) and not (
        names_a_file(model_id) or "\\" in model_id or model_id.startswith("."))


def check_registry_id(model_id: object) -> str:
    if not is_registry_id(model_id):
        raise ModelError(f"archive names its model as {model_id!r}, not as a registry id")
    return model_id


def register_model(model_id: str, weights: Path, sha256: str, description: str, kind: str = "images",
                   parent: str | None = None, made_with: str | None = None) -> None:
    """Pin a model file in the registry of the directory that holds it (models/ of a checkout, or a
    $DARNZIP_MODELS directory)."""
    directory = Path(weights).resolve().parent
    path = directory / REGISTRY_NAME
    entries = json.loads(path.read_text()) if path.exists() else {}
    entry = {"file": Path(weights).name, "sha256": sha256, "description": description}
    if kind != "images":
        entry["kind"] = kind
    if parent:
        entry["parent"] = parent
    if made_with:
        entry["made_with"] = made_with
    entries[model_id] = entry
    path.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")


def lineage(model_id: str) -> list[str]:
    """The model, its parent, its parent's parent ... as far as the registry records."""
    entries, chain = registry(), [model_id]
    while (parent := entries.get(chain[-1], {}).get("parent")) and parent not in chain:
        chain.append(parent)
    return chain
