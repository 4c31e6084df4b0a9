"""Archive integrity: every truncation and every single-bit flip of a small archive is rejected."""
import io

import numpy as np
import pytest

from darnzip.images import archive as arc
from darnzip.images.container import ArchiveError

from ..conftest import random_binary_images


def small_archive(loaded, count=5, chunk_size=2) -> tuple[bytes, np.ndarray]:
    images = random_binary_images(count, loaded.config.image_shape, seed=1)
    entry = {"type": "npy", "name": "a.npy", "dtype": "|u1", "shape": list(images.shape), "lo": 0, "hi": 1}
    out = io.BytesIO()
    arc.compress_stream(out, [(entry, images)], loaded, arc.CodingOptions(chunk_size=chunk_size))
    return out.getvalue(), images


def decode_all(data: bytes, loaded) -> np.ndarray:
    opened = arc.open_archive(io.BytesIO(data), str(loaded.weights_path))
    return np.concatenate(list(arc.decode_images(opened)))


def test_small_archive_round_trips(small_loaded):
    data, images = small_archive(small_loaded)
    assert np.array_equal(decode_all(data, small_loaded), images.reshape(len(images), -1))


def test_every_truncation_is_rejected(small_loaded):
    data, _ = small_archive(small_loaded)
    for length in range(len(data)):
        with pytest.raises(ArchiveError):
            decode_all(data[:length], small_loaded)


def test_every_single_bit_flip_is_rejected(small_loaded):
    data, _ = small_archive(small_loaded)
    missed = []
    for position in range(len(data)):
        for bit in (position % 8, (position + 3) % 8):
            damaged = bytearray(data)
            damaged[position] ^= 1 << bit
            try:
                decode_all(bytes(damaged), small_loaded)
            except ArchiveError:
                continue
            missed.append((position, bit))
    assert missed == [], f"flips that decoded without an error: {missed[:10]}"


def test_trailing_bytes_are_rejected(small_loaded):
    """The reader stops where its archive's index ends; what follows must be another archive, and the
    library's whole-archive decoder refuses anything else."""
    import darnzip

    data, _ = small_archive(small_loaded)
    with pytest.raises(ArchiveError, match="after the trailer"):
        darnzip.decompress_images(data + b"\0", str(small_loaded.weights_path))


def test_wrong_magic_and_version_have_specific_messages(small_loaded):
    data, _ = small_archive(small_loaded)
    with pytest.raises(ArchiveError, match="not a darnzip archive"):
        decode_all(b"PK\x03\x04" + data[4:], small_loaded)
    newer = bytearray(data)
    newer[8] = 99
    with pytest.raises(ArchiveError, match="version 99 is not supported"):
        decode_all(bytes(newer), small_loaded)


def test_archive_for_another_model_is_refused(small_loaded, tmp_path):
    from darnzip.images.modelfile import ModelError, save_model
    from darnzip.images.quantized import quantize

    from ..conftest import SMALL, random_float_tensors

    data, _ = small_archive(small_loaded)
    tensors, lut = quantize(SMALL, random_float_tensors(SMALL, 99))
    save_model(tmp_path / "other", "small-test", SMALL, tensors, lut, 10)
    with pytest.raises(ModelError, match="different model or version"):
        arc.open_archive(io.BytesIO(data), str(tmp_path / "other.safetensors"))


def test_declared_sizes_are_bounded_before_allocation(small_loaded):
    """A chunk claiming 2**28 words must be refused from its header, not by trying to read it."""
    import struct

    data, _ = small_archive(small_loaded)
    header_len = struct.unpack("<I", data[10:14])[0]
    chunk_at = 14 + header_len + 4
    assert data[chunk_at : chunk_at + 4] == b"DZCK"
    damaged = bytearray(data)
    damaged[chunk_at + 12 : chunk_at + 16] = struct.pack("<I", 0xFFFFFFFF)
    with pytest.raises(ArchiveError, match="impossible sizes"):
        decode_all(bytes(damaged), small_loaded)
