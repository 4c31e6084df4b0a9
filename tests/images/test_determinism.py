"""Archives are byte-identical and decode exactly whatever the BLAS thread count, batch size or process split."""
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from darnzip.images import archive as arc
from darnzip.images.config import DarnConfig
from darnzip.images.modelfile import save_model
from darnzip.images.quantized import quantize

from ..conftest import random_binary_images, random_float_tensors

# A model large enough that BLAS really splits the products across threads.
WIDE = DarnConfig(image_shape=(28, 28), latent_sizes=(64,), q_autoregressive=True)

SCRIPT = """
import io, sys, numpy as np
from darnzip.images import archive as arc
from darnzip.images.modelfile import load_model
mode, model_path, data_path, out_path, max_batch, particles = sys.argv[1:7]
loaded = load_model(model_path)
if mode == "encode":
    images = np.load(data_path)
    entry = {"type": "npy", "name": "x.npy", "dtype": "|u1", "shape": list(images.shape), "lo": 0, "hi": 1}
    out = io.BytesIO()
    arc.compress_stream(out, [(entry, images)], loaded, arc.CodingOptions(chunk_size=70, max_batch=int(max_batch), particles=int(particles)))
    open(out_path, "wb").write(out.getvalue())
else:
    opened = arc.open_archive(open(data_path, "rb"), model_path)
    np.save(out_path, np.concatenate(list(arc.decode_images(opened))))
"""


def run_isolated(threads: int, *args: str) -> None:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, "-c", SCRIPT, *args], check=True, env=env, cwd=Path(__file__).parent.parent.parent)


def test_thread_counts_and_batch_sizes(tmp_path):
    tensors, lut = quantize(WIDE, random_float_tensors(WIDE, 21, scale=0.05))
    save_model(tmp_path / "wide", "wide-test", WIDE, tensors, lut, 10)
    model = str(tmp_path / "wide.safetensors")
    images = random_binary_images(120, WIDE.image_shape, seed=22, density=0.15)
    np.save(tmp_path / "images.npy", images)
    archives = {}
    cases = [(1, 1), (7, 1), (64, 1), (1024, 1), (64, 3)]  # (max_batch, particles); 3 particles = McBits
    for threads in (1, 2):
        for max_batch, particles in cases:
            path = tmp_path / f"a_{threads}_{max_batch}_{particles}.dz"
            run_isolated(threads, "encode", model, str(tmp_path / "images.npy"), str(path), str(max_batch), str(particles))
            archives[threads, max_batch, particles] = path
    for max_batch, particles in cases:
        assert archives[1, max_batch, particles].read_bytes() == archives[2, max_batch, particles].read_bytes(), \
            "thread count changed the archive"
    for (threads, max_batch, particles), path in archives.items():
        decoded = tmp_path / f"d_{threads}_{max_batch}_{particles}.npy"
        run_isolated(3 - threads, "decode", model, str(path), str(decoded), "0", "0")
        assert np.array_equal(np.load(decoded), images.reshape(120, -1))


def test_parallel_workers_decode_what_one_process_wrote(tmp_path):
    tensors, lut = quantize(WIDE, random_float_tensors(WIDE, 23, scale=0.05))
    save_model(tmp_path / "wide", "wide-test", WIDE, tensors, lut, 10)
    from darnzip.images.modelfile import load_model

    loaded = load_model(tmp_path / "wide.safetensors")
    images = random_binary_images(90, WIDE.image_shape, seed=24)
    entry = {"type": "npy", "name": "x.npy", "dtype": "|u1", "shape": list(images.shape), "lo": 0, "hi": 1}
    out = io.BytesIO()
    arc.compress_stream(out, [(entry, images)], loaded, arc.CodingOptions(chunk_size=30, workers=1))
    opened = arc.open_archive(io.BytesIO(out.getvalue()), str(tmp_path / "wide.safetensors"))
    decoded = np.concatenate(list(arc.decode_images(opened, workers=2)))
    assert np.array_equal(decoded, images.reshape(90, -1))
