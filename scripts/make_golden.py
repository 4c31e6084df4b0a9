"""Write the golden archives in tests/golden/ that do not exist yet (existing ones are never rewritten).

Each golden set is a small model, the images, and the archive this darnzip wrote for them. The tests
decode the archive and re-encode the images: a change that alters old files, or the bytes written for
the same input, fails CI.
"""
import io
from pathlib import Path

import numpy as np

from darnzip.images import archive as arc
from darnzip.images.config import DarnConfig, parameter_shapes
from darnzip.images.modelfile import load_model, save_model
from darnzip.images.quantized import quantize

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden"
SETS = {  # name: (architecture, particles, McBits minimum batch, certain posterior units, weight scale)
    "factorised": (DarnConfig(image_shape=(8, 7), latent_sizes=(9,), q_autoregressive=False), 1, 1, False, 0.5),
    "autoregressive-2layer": (DarnConfig(image_shape=(8, 7), latent_sizes=(40, 6), q_autoregressive=True), 1, 1, False, 0.5),
    "mcbits-4": (DarnConfig(image_shape=(8, 7), latent_sizes=(12, 5), q_autoregressive=True), 4, 1, False, 0.5),
    "mcbits-4-warmup": (DarnConfig(image_shape=(8, 7), latent_sizes=(12, 5), q_autoregressive=True), 4, 4, False, 0.5),
    # current coders (".../certain-q"); larger weights so that many posterior units are certain
    "certain-factorised": (DarnConfig(image_shape=(8, 7), latent_sizes=(30,), q_autoregressive=False), 1, 1, True, 3.0),
    "certain-mcbits-4": (DarnConfig(image_shape=(8, 7), latent_sizes=(12, 5), q_autoregressive=True), 4, 4, True, 3.0),
}


TODAY = {"factorised", "certain-mcbits-4"}  # sets with an archive of each later format (NAME-vN.dz) as well
VERSION = arc.container.FORMAT_VERSION


def write_today(name: str, particles: int, min_batch: int, certain: bool) -> None:
    """NAME-vN.dz: the set's images in today's format N, from the set's existing model and images."""
    loaded = load_model(GOLDEN / f"{name}-model.safetensors")
    images = np.load(GOLDEN / f"{name}-images.npy")
    entry = {"type": "npy", "name": "images.npy", "dtype": "|u1", "shape": list(images.shape), "lo": 0, "hi": 1}
    out = io.BytesIO()
    arc.compress_stream(out, [(entry, images)], loaded, arc.CodingOptions(
        chunk_size=20, max_batch=8, particles=particles, mcbits_min_batch=min_batch, certain_posterior=certain))
    (GOLDEN / f"{name}-v{VERSION}.dz").write_bytes(out.getvalue())
    print(name, f"v{VERSION}", len(out.getvalue()), "bytes")


def main():
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for index, (name, (config, particles, min_batch, certain, scale)) in enumerate(SETS.items()):
        if name in TODAY and not (GOLDEN / f"{name}-v{VERSION}.dz").exists() and (GOLDEN / f"{name}-v1.dz").exists():
            write_today(name, particles, min_batch, certain)
        if (GOLDEN / f"{name}-v1.dz").exists():
            continue
        rng = np.random.default_rng(100 + index)
        floats = {n: rng.normal(0, scale, s) for n, s in parameter_shapes(config).items()}
        tensors, lut = quantize(config, floats, frac_bits=6, logit_range=12.0)
        save_model(GOLDEN / f"{name}-model", f"golden-{name}", config, tensors, lut, 6)
        loaded = load_model(GOLDEN / f"{name}-model.safetensors")
        images = (rng.random((50, *config.image_shape)) < 0.25).astype(np.uint8)
        np.save(GOLDEN / f"{name}-images.npy", images)
        entry = {"type": "npy", "name": "images.npy", "dtype": "|u1", "shape": list(images.shape), "lo": 0, "hi": 1}
        out = io.BytesIO()
        arc.compress_stream(out, [(entry, images)], loaded, arc.CodingOptions(chunk_size=20, max_batch=8, particles=particles, mcbits_min_batch=min_batch, certain_posterior=certain))
        (GOLDEN / f"{name}-v1.dz").write_bytes(out.getvalue())
        print(name, len(out.getvalue()), "bytes")


if __name__ == "__main__":
    main()
