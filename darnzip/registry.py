"""Registry of shipped models with pinned SHA-256 hashes (models/registry.json)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from .modelfile import LoadedModel, ModelError, load_model

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
REGISTRY_FILE = MODELS_DIR / "registry.json"
DEFAULT_MODEL = "mnist-binary-v1"


def registry() -> dict[str, dict]:
    """{model id: {"file": ..., "sha256": ..., "description": ...}}"""
    if not REGISTRY_FILE.exists():
        return {}
    return json.loads(REGISTRY_FILE.read_text())


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


def registered_id(name: str) -> str:
    """A registered id as it is, or a model's name without its version (atari-pong) as its newest
    registered version (atari-pong-v7), as a tag names a release; anything else unchanged."""
    entries = registry()
    if name in entries:
        return name
    versions = [m for m in versions_by_name(entries).get(name, []) if version_order(m)[1] >= 0]
    return versions[-1] if versions else name


def installed_summary(kind: str | None = None) -> str:
    """The installed models as names with their versions (atari-pong v1-v7, ...), for error messages: the
    ids one by one made a line of 42 names."""
    entries = {k: v for k, v in registry().items() if kind is None or v.get("kind", "images") == kind}
    if not entries:
        return "none"
    parts = []
    for name, ids in sorted(versions_by_name(entries).items()):
        numbered = [version_order(m)[1] for m in ids if version_order(m)[1] >= 0]
        span = f"v{numbered[0]}" if len(numbered) == 1 else f"v{numbered[0]}-v{numbered[-1]}" if numbered else ""
        parts.append(f"{name} {span}".strip())
    return ", ".join(parts) + "; `darnzip models` lists them"


def is_frame_model(name_or_path: str | None) -> bool:
    """Whether a model id or path names a frame-stream model (kind "frames")."""
    if not name_or_path:
        return False
    name_or_path = registered_id(name_or_path)
    entries = registry()
    if name_or_path in entries:
        return entries[name_or_path].get("kind") == "frames"
    description = Path(name_or_path).with_suffix(".json")
    try:
        return json.loads(description.read_text())["architecture"].get("kind") == "frames"
    except (OSError, ValueError, KeyError, AttributeError):
        return False


def frame_model_ids() -> list[str]:
    return sorted((k for k, v in registry().items() if v.get("kind") == "frames"), key=version_order)


class ModelNotInstalled(ModelError):
    """A model id that models/registry.json does not list."""


def archive_model_error(model_id: str, sha256: object, exc: ModelError, model_named: bool) -> ModelError:
    """The error of an archive (of either kind) whose model `model_id` could not be loaded (`exc`). When
    none was named to decode with and the archive's is not installed, it says how to name its file: a
    model trained here (`darnzip train`) lives in a file, not in the registry."""
    hint = ("; to decode with a model file of yours, name it: --model FILE.safetensors"
            if isinstance(exc, ModelNotInstalled) and not model_named else "")
    return ModelError(f"archive needs model '{model_id}' (sha256 {str(sha256)[:16]}...): {exc}{hint}")


@lru_cache(maxsize=16)
def _load_registered(model_id: str):
    entries = registry()
    if model_id not in entries:
        raise ModelNotInstalled(f"model '{model_id}' is not installed (installed: {installed_summary()})")
    entry = entries[model_id]
    if entry.get("kind") == "frames":
        from .frames.modelfile import load_frame_model

        return load_frame_model(MODELS_DIR / entry["file"], expected_sha256=entry["sha256"])
    return load_model(MODELS_DIR / entry["file"], expected_sha256=entry["sha256"])


def resolve_frame_model(name_or_path: str):
    """A registered frame model id, or a path to a frame model's .safetensors file."""
    from .frames.modelfile import load_frame_model

    if name_or_path.endswith(".safetensors") or "/" in name_or_path:
        return load_frame_model(Path(name_or_path))
    name_or_path = registered_id(name_or_path)
    if not is_frame_model(name_or_path):
        raise ModelNotInstalled(f"'{name_or_path}' is not an installed frame model (installed: "
                                f"{installed_summary('frames')})")
    return _load_registered(name_or_path)


def resolve_model(name_or_path: str | None) -> LoadedModel:
    """A registered model id, or a path to a .safetensors model file (with its .json beside it)."""
    name = name_or_path or DEFAULT_MODEL
    if not (name.endswith(".safetensors") or "/" in name):
        name = registered_id(name)
    if is_frame_model(name):
        raise ModelError(f"'{name}' is a frame-stream model; binary images need an image model such as {DEFAULT_MODEL}")
    if name.endswith(".safetensors") or Path(name).suffix == ".safetensors" or "/" in name:
        return load_model(Path(name))
    return _load_registered(name)


def model_for_archive(model_id: str, sha256: str, override: str | None = None) -> LoadedModel:
    """The model an archive was written with; clear errors when it is absent or a different version."""
    try:
        loaded = resolve_model(override or model_id)
    except ModelError as exc:
        raise archive_model_error(model_id, sha256, exc, override is not None) from exc
    if loaded.sha256 != sha256:
        raise ModelError(
            f"archive was written with model '{model_id}' sha256 {sha256[:16]}..., but the installed "
            f"'{loaded.model_id}' is sha256 {loaded.sha256[:16]}... (a different model or version)"
        )
    return loaded


def register_model(model_id: str, weights: Path, sha256: str, description: str, kind: str = "images") -> None:
    """Pin a model file in models/registry.json (the file must live in models/)."""
    entries = registry()
    entries[model_id] = {"file": Path(weights).name, "sha256": sha256, "description": description}
    if kind != "images":
        entries[model_id]["kind"] = kind
    REGISTRY_FILE.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    _load_registered.cache_clear()
