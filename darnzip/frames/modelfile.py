"""Frame-model files: integer tensors, probability tables and the reference frame in safetensors, with the
architecture in a JSON file beside it (the same layout and hashing as the MNIST model files)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from darnzip.core.modelfiles import ModelError, checked_model_files, description_hash, write_model_files
from .codec import FrameCodec
from .chunks import FrameChunkCodec
from .config import FrameConfig
from .model import LOGIT_RANGE, ExactFrameModel, exp_table
from darnzip.core.fixedpoint import sigmoid_table
from .palette import Palette


@dataclasses.dataclass
class LoadedFrameModel:
    model_id: str
    sha256: str
    exact: ExactFrameModel
    palette: Palette
    references: list[np.ndarray]  # (H, W) palette indices: `reference`, then the file's more_references
    info: dict
    weights_path: Path

    @property
    def config(self) -> FrameConfig:
        return self.exact.cfg

    @property
    def description_hash(self) -> str:
        """`description_hash` of the model's JSON."""
        return description_hash(self.info)

    @property
    def reference(self) -> np.ndarray:
        """The context of a stream's first frame unless a closer reference is chosen (a key frame)."""
        return self.references[0]

    def chunk_codec(self, **encoder) -> FrameChunkCodec:
        """A chunk codec with the model file's encoder settings, or with `encoder`'s values instead (what
        scripts/tune_cheap_copies.py tries)."""
        return FrameChunkCodec(FrameCodec(self.exact, **(self.encoder_settings | encoder)), self.palette,
                               self.references)

    @property
    def encoder_settings(self) -> dict:
        """FrameCodec's encoder-only arguments from the model's JSON (`encoder_settings`)."""
        return encoder_settings(self.info)


def encoder_settings(info: dict) -> dict:
    """FrameCodec's encoder-only arguments from a model's JSON ("encoder": {"cheap_copy_bits": b}; none
    for most models; scripts/tune_cheap_copies.py chooses it). They steer how the encoder chooses, never
    what a decoder reads: an archive decodes the same whatever they were when it was written."""
    encoder = info.get("encoder", {})
    if not isinstance(encoder, dict):
        raise ValueError("'encoder' must be an object")
    settings = {}
    if "cheap_copy_bits" in encoder:
        bits = encoder["cheap_copy_bits"]
        if isinstance(bits, bool) or not isinstance(bits, (int, float)) or not 0 <= bits <= 64:
            raise ValueError("encoder.cheap_copy_bits must be a number of bits from 0 to 64")
        settings["cheap_copy_bits"] = float(bits)
    return settings


def save_frame_model(stem: Path, model_id: str, cfg: FrameConfig, tensors: dict[str, np.ndarray],
                     frac_bits: int, reference: np.ndarray, extra: dict | None = None,
                     more_references: np.ndarray | None = None, force: bool = True) -> str:
    """`more_references` (R, H, W): further frames a key frame may take as its context. Written as
    `write_model_files` writes (without `force`, an existing model file is an error)."""
    arrays = {k: np.ascontiguousarray(v, dtype=np.int32) for k, v in tensors.items()}
    arrays["sigmoid"] = sigmoid_table(frac_bits, LOGIT_RANGE)
    arrays["exp"] = exp_table(frac_bits)
    arrays["reference"] = np.ascontiguousarray(reference, dtype=np.uint8)
    if more_references is not None and len(more_references):
        arrays["more_references"] = np.ascontiguousarray(more_references, dtype=np.uint8)
    info = {"model_id": model_id, "architecture": cfg.to_dict(), "quantization": {"frac_bits": frac_bits},
            **(extra or {})}
    return write_model_files(stem, arrays, model_id, info, force)


def load_frame_model(weights: Path, expected_sha256: str | None = None) -> LoadedFrameModel:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    weights, description, sha = checked_model_files(weights, expected_sha256)
    try:
        info = json.loads(description.read_text())
        cfg = FrameConfig.from_dict(info["architecture"])
        frac_bits = int(info["quantization"]["frac_bits"])
        arrays = load_file(str(weights))
        reference = arrays["reference"]
        more = arrays.get("more_references", np.zeros((0, cfg.height, cfg.width), np.uint8))
        if reference.shape != (cfg.height, cfg.width) or more.shape[1:] != reference.shape or len(more) > 255 \
                or max(reference.max(), more.max(initial=0)) >= cfg.colours:
            raise ValueError("reference frames do not fit the architecture")
        exact = ExactFrameModel(cfg, arrays, frac_bits, arrays["sigmoid"], arrays["exp"])
        encoder_settings(info)  # checked here, so that a bad value fails when the model loads
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{weights}: not a valid darnzip frame model ({exc})") from exc
    return LoadedFrameModel(info.get("model_id", weights.stem), sha, exact, Palette(cfg.palette),
                            [reference, *more], info, weights)
