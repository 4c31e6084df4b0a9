"""Turn a trained float DARN into a shipped model file (integer weights + probability table)."""
from __future__ import annotations

import json
from pathlib import Path

from darnzip.images.model import Darn
from darnzip.images.modelfile import save_model
from darnzip.images.quantized import quantize

__all__ = ["export_model"]  # the public names (docs/api.md)


def export_model(model: Darn, stem: Path, model_id: str, frac_bits: int, run_dir: Path | None = None,
                 force: bool = True) -> str:
    """Quantise with `frac_bits` fractional bits and write stem.safetensors/.json; returns the weights' SHA-256.
    Without `force`, existing model files are an error."""
    float_tensors = {name: t.cpu().numpy() for name, t in model.named_tensors().items()}
    tensors, lut = quantize(model.config, float_tensors, frac_bits=frac_bits)
    extra = {}
    if run_dir is not None and (run_dir / "settings.json").exists():
        extra["training"] = json.loads((run_dir / "settings.json").read_text())
    return save_model(stem, model_id, model.config, tensors, lut, frac_bits, extra, force)
