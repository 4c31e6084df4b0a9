"""Frame models from the zoo: by id, by file, for an archive, or the installed one that fits a stream.

Torch-free: `list` and the model choice read the registry and the models' JSON; only the model loaded
imports the coder."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from darnzip.core import zoo
from darnzip.core.modelfiles import ModelError

__all__ = ["chunk_frames_for", "model_or_why_not", "newest_game_model", "pick_frame_model",
           "resolve_frame_model"]  # the public names (docs/api.md)

if TYPE_CHECKING:
    from .modelfile import LoadedFrameModel


@lru_cache(maxsize=8)
def load_registered(model_id: str) -> LoadedFrameModel:
    from .modelfile import load_frame_model

    return load_frame_model(*zoo.model_file(model_id, "frames"))


def frame_model_ids() -> list[str]:
    """The installed frame models, in version order."""
    return zoo.installed_ids("frames")


def resolve_frame_model(name_or_path: str) -> LoadedFrameModel:
    """A registered frame model id (or a model's name: its newest installed version), or a path to a
    frame model's .safetensors file."""
    if zoo.names_a_file(name_or_path):
        from .modelfile import load_frame_model

        return load_frame_model(Path(name_or_path))
    return load_registered(zoo.registered_id(name_or_path))


def model_for_frame_archive(recorded: object, override: str | None) -> LoadedFrameModel:
    """The model a frame archive's header names (a registry id), or the file given with --model."""
    from darnzip.core.records import ArchiveError

    if not isinstance(recorded, dict) or not isinstance(recorded.get("id"), str):
        raise ArchiveError("corrupt archive: header has no model")
    try:
        return resolve_frame_model(override or zoo.check_registry_id(recorded["id"]))
    except ModelError as exc:
        raise zoo.archive_model_error(recorded["id"], recorded.get("sha256"), exc, override is not None) from exc


def model_or_why_not(recorded: object, override: str | None) -> tuple[LoadedFrameModel | None, ModelError | None]:
    """(the archive's model, None), or (None, the error) when the model named in the header is not
    installed: a stream stored raw decodes without it (`decompress_frames(..., missing=error)`)."""
    try:
        return model_for_frame_archive(recorded, override), None
    except ModelError as exc:
        if override is not None:
            raise
        return None, exc


def newest_game_model(game: str) -> str:
    """The latest installed version of a game's model (atari-GAME-vN with the largest N)."""
    prefix = f"atari-{game.lower()}-v"
    versions = [m for m in frame_model_ids() if m.startswith(prefix) and m[len(prefix):].isdigit()]
    if not versions:
        raise ModelError(f"no model for {game} is installed")
    return max(versions, key=zoo.version_order)


def pick_frame_model(name: str | None, first_frame: np.ndarray | None) -> LoadedFrameModel:
    """The named frame model, or the installed one whose palette covers most of the first frame (and whose
    frame size fits it). The choice reads each model's JSON description (palette and size), and loads
    only the model chosen."""
    if name:
        return resolve_frame_model(name)
    ids = frame_model_ids()
    if not ids:
        raise ModelError("no frame model is installed")
    if first_frame is None:
        return load_registered(ids[0])
    from .palette import pack_rgb

    colours = np.unique(pack_rgb(first_frame))
    best, best_score = None, -1.0
    for model_id in sorted(ids, key=zoo.version_order, reverse=True):  # on a tie, the later version wins
        weights, _ = zoo.model_file(model_id, "frames")
        try:
            architecture = json.loads(weights.with_suffix(".json").read_text())["architecture"]
            palette, shape = np.asarray(architecture["palette"]), (architecture["height"], architecture["width"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{weights.with_suffix('.json')}: not a valid darnzip frame model ({exc})") from exc
        covered = np.isin(colours, palette).mean()
        score = covered + (1.0 if first_frame.shape[:2] == shape else 0.0) - 1e-6 * len(palette)  # ties: tighter
        if score > best_score:
            best, best_score = model_id, score
    return load_registered(best)


RAW_CHUNK_PIXELS = 64 << 20  # a stream no game model fits: chunks of about this many pixels (xz -9e's window)


def fits(loaded: LoadedFrameModel, frame: np.ndarray) -> bool:
    """Whether `loaded` codes `frame`: its size, and every colour in the model's palette."""
    from .palette import pack_rgb

    return frame.shape[:2] == loaded.reference.shape and bool(np.isin(pack_rgb(frame), loaded.palette.colours).all())


def chunk_frames_for(loaded: LoadedFrameModel, first_frame: np.ndarray, requested: int | None) -> int:
    """Frames per chunk: as asked; else the default for a stream the model codes; else, for a stream it
    does not fit (its frames go to the raw side), chunks of about RAW_CHUNK_PIXELS pixels. The raw side's
    byte compressors find repeats only inside a chunk (MsPacman cut in chunks of 500 frames cost 15% more
    than xz on the whole 1,000, measured; Jamesbond 30%), and xz -9e's window spans ~2,000 such frames;
    the universal model learns the stream through the chunk. The bound keeps a chunk's frames to ~200 MB
    of RGB, whatever their size."""
    from .container import DEFAULT_CHUNK_FRAMES, MAX_CHUNK_FRAMES

    if requested:
        return requested
    if fits(loaded, first_frame):
        return DEFAULT_CHUNK_FRAMES
    height, width = first_frame.shape[:2]
    return max(1, min(MAX_CHUNK_FRAMES, RAW_CHUNK_PIXELS // max(1, height * width)))
