"""Coverage-guided fuzzing of the archive reader and decoder with atheris (longer runs than the CI's hypothesis tests).

    pip install atheris
    python scripts/fuzz_archive.py -max_total_time=300          # add a corpus directory to keep findings

Any exception other than ArchiveError/ModelError, a hang or a big allocation is a finding. The seed
corpus is a valid small archive of a small random model, so mutations explore the real format.
"""
import io
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from darnzip import archive as arc
    from darnzip.config import DarnConfig, parameter_shapes
    from darnzip.container import ArchiveError
    from darnzip.modelfile import ModelError, load_model, save_model
    from darnzip.quantized import quantize

import numpy as np

CONFIG = DarnConfig(image_shape=(6, 5), latent_sizes=(7,), q_autoregressive=True)


def setup(workdir: Path):
    rng = np.random.default_rng(0)
    tensors, lut = quantize(CONFIG, {n: rng.normal(0, 0.6, s) for n, s in parameter_shapes(CONFIG).items()})
    save_model(workdir / "fuzz", "fuzz", CONFIG, tensors, lut, 10)
    loaded = load_model(workdir / "fuzz.safetensors")
    images = (rng.random((7, 6, 5)) < 0.3).astype(np.uint8)
    entry = {"type": "npy", "name": "a.npy", "dtype": "|u1", "shape": [7, 6, 5], "lo": 0, "hi": 1}
    out = io.BytesIO()
    arc.compress_stream(out, [(entry, images)], loaded, arc.CodingOptions(chunk_size=4))
    corpus = workdir / "corpus"
    corpus.mkdir()
    (corpus / "seed.dz").write_bytes(out.getvalue())
    return loaded, corpus


def main():
    workdir = Path(tempfile.mkdtemp(prefix="darnzip-fuzz-"))
    loaded, corpus = setup(workdir)
    model_path = str(loaded.weights_path)

    def one_input(data: bytes):
        try:
            opened = arc.open_archive(io.BytesIO(data), model_path)
            for _ in arc.decode_images(opened):
                pass
        except (ArchiveError, ModelError):
            pass

    args = [a for a in sys.argv if not a.startswith("-") or "=" in a] + [str(corpus)]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
