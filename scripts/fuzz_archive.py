"""Coverage-guided fuzzing of the archive reader and decoder with atheris (longer runs than the CI's hypothesis tests).

    pip install atheris
    python scripts/fuzz_archive.py -max_total_time=300                # raw bytes: the reader's checks
    DARNZIP_FUZZ=structured python scripts/fuzz_archive.py -max_total_time=300

Any exception other than ArchiveError/ModelError, a hang or a big allocation is a finding. The raw
target mutates whole archives (seeded with a valid one), so it mostly exercises the checksums and
framing. The structured target reads the input as header JSON, batch sizes and ANS words and wraps
them in an archive with correct checksums, so mutations reach header validation and the decoder.
"""
import io
import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from darnzip.images import archive as arc
    from darnzip.images.config import DarnConfig, parameter_shapes
    from darnzip.images.container import ArchiveError, ChunkRecord, trailer_bytes, write_preamble_and_header
    from darnzip.images.modelfile import ModelError, load_model, save_model
    from darnzip.images.quantized import quantize

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



def structured_archive(data: bytes, seed_header: dict) -> bytes:
    """header JSON (first part) | sizes | words, separated by b'|', wrapped with valid checksums."""
    import json

    parts = data.split(b"|", 2) + [b"", b""]
    try:
        header = json.loads(parts[0].decode("utf-8", "replace"))
    except ValueError:
        header = dict(seed_header)
    sizes = [1 + (b % 16) for b in parts[1][:32]] or [1]
    words = np.frombuffer(parts[2][: len(parts[2]) // 4 * 4], dtype="<u4")
    out = io.BytesIO()
    write_preamble_and_header(out, header)
    count = sum(sizes)
    out.write(ChunkRecord(count, sizes, words, int.from_bytes(parts[1][-4:].ljust(4, b"\0"), "little")).to_bytes())
    out.write(trailer_bytes(1, header.get("count", count) if isinstance(header, dict) else count, bytes(32)))
    return out.getvalue()


def main():
    workdir = Path(tempfile.mkdtemp(prefix="darnzip-fuzz-"))
    loaded, corpus = setup(workdir)
    model_path = str(loaded.weights_path)
    structured = os.environ.get("DARNZIP_FUZZ") == "structured"
    seed = (corpus / "seed.dz").read_bytes()
    seed_header = arc.container.ArchiveReader(io.BytesIO(seed)).header
    if structured:
        import json

        (corpus / "seed.dz").write_bytes(json.dumps(seed_header).encode() + b"|" + bytes(range(7)) + b"|" + seed[-200:-60])

    def one_input(data: bytes):
        try:
            archive = structured_archive(data, seed_header) if structured else data
            opened = arc.open_archive(io.BytesIO(archive), model_path)
            for _ in arc.decode_images(opened):
                pass
        except (ArchiveError, ModelError):
            pass

    args = [a for a in sys.argv if not a.startswith("-") or "=" in a] + [str(corpus)]
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
