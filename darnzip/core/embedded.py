"""Self-contained archives: a model's two files, compressed, in front of an archive of either kind.

The two-part MDL code: the model's bytes, then the data's. An archive written with --embed-model decodes
where its model is not installed. The block carries the model's id, the SHA-256 of its weights and a
CRC-32, and the archive behind it names the same model and hash as always, so a reader checks the
embedded files exactly as it checks installed ones. Layout in docs/format-embedded.md.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

import zstandard

from darnzip.core.modelfiles import ModelError, model_file_paths
from darnzip.core.records import ArchiveError, read_exact, unpack_json, whole_in_range

__all__ = ["MAGIC", "embedded_block", "embedded_model_bytes", "embedded_model_files", "is_embedded",
           "two_part_code"]  # the public names (docs/api.md)

MAGIC = b"\x89DARNM\r\n"
FORMAT_VERSION = 1
_HEAD = struct.Struct("<8sHIQ")  # magic, version, header length, packed model length
MAX_HEADER_BYTES = 1 << 16
MAX_MODEL_BYTES = 1 << 30  # unpacked weights + description: bounds what a crafted block can make us allocate
MAX_PACKED_BYTES = 1 << 30


def embedded_model_bytes(weights: Path, model_id: str, sha256: str) -> bytes:
    """The block for the model whose files are `weights` (.safetensors) and its .json."""
    weights_path, description_path = model_file_paths(Path(weights).with_suffix(""))
    weights_bytes, description_bytes = weights_path.read_bytes(), description_path.read_bytes()
    if hashlib.sha256(weights_bytes).hexdigest() != sha256:
        raise ModelError(f"{weights_path}: changed since it was loaded; not embedded")
    header = json.dumps({"id": model_id, "sha256": sha256, "weights_bytes": len(weights_bytes),
                         "description_bytes": len(description_bytes)}, sort_keys=True).encode()
    packed_header = zstandard.ZstdCompressor(level=19).compress(header)
    packed_model = zstandard.ZstdCompressor(level=19).compress(weights_bytes + description_bytes)
    block = _HEAD.pack(MAGIC, FORMAT_VERSION, len(packed_header), len(packed_model)) + packed_header + packed_model
    return block + struct.pack("<I", zlib.crc32(block))


def embedded_block(loaded) -> bytes:
    """The block --embed-model puts in front of an archive, for a loaded model of either kind."""
    return embedded_model_bytes(loaded.weights_path, loaded.model_id, loaded.sha256)


def two_part_code(loaded, data_bits: float, count: int, unit: str) -> dict:
    """The MDL figures: the model's bits (its --embed-model block) plus the data's, per image or frame."""
    model_bits = 8 * len(embedded_block(loaded))
    return {"model_bits": model_bits, f"two_part_bits_per_{unit}": (model_bits + data_bits) / max(1, count)}


def is_embedded(start: bytes) -> bool:
    return start[:8] == MAGIC


@contextlib.contextmanager
def embedded_model_files(src: BinaryIO, start: bytes) -> Iterator[tuple[Path, dict, int]]:
    """Read the block whose first bytes are `start` (at least 8) from `src`, check it, and yield
    (weights path in a temporary directory, the block's header, the block's size in bytes). The files
    live until the context ends: coder workers load the model from them."""
    head = start + read_exact(src, _HEAD.size - len(start), "embedded model") if len(start) < _HEAD.size else start
    if len(head) != _HEAD.size:
        raise ArchiveError("not a darnzip archive with an embedded model")
    _, version, header_len, packed_len = _HEAD.unpack(head)
    if version != FORMAT_VERSION:
        raise ArchiveError(f"embedded model format version {version} is not supported (this darnzip reads version "
                           f"{FORMAT_VERSION})")
    if header_len > MAX_HEADER_BYTES or packed_len > MAX_PACKED_BYTES:
        raise ArchiveError("corrupt archive: embedded model declares impossible sizes")
    packed_header = read_exact(src, header_len, "embedded model")
    packed_model = read_exact(src, packed_len, "embedded model")
    (crc,) = struct.unpack("<I", read_exact(src, 4, "embedded model checksum"))
    if crc != zlib.crc32(head + packed_header + packed_model):
        raise ArchiveError("corrupt archive: embedded model checksum mismatch")
    header = unpack_json(packed_header, MAX_HEADER_BYTES, "embedded model header")
    sizes = header.get("weights_bytes"), header.get("description_bytes")
    if not (isinstance(header.get("id"), str) and isinstance(header.get("sha256"), str)
            and all(whole_in_range(n, 0, MAX_MODEL_BYTES) for n in sizes) and sum(sizes) <= MAX_MODEL_BYTES):
        raise ArchiveError("corrupt archive: embedded model header is malformed")
    try:
        model = zstandard.ZstdDecompressor().decompress(packed_model, max_output_size=sum(sizes))
    except zstandard.ZstdError as exc:
        raise ArchiveError(f"corrupt archive: embedded model does not decode ({exc})") from exc
    if len(model) != sum(sizes):
        raise ArchiveError("corrupt archive: embedded model has the wrong length")
    weights_bytes, description_bytes = model[:sizes[0]], model[sizes[0]:]
    if hashlib.sha256(weights_bytes).hexdigest() != header["sha256"]:
        raise ArchiveError("corrupt archive: embedded model does not match its SHA-256")
    with tempfile.TemporaryDirectory(prefix="darnzip-model-") as tmp:
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in header["id"]).lstrip(".") or "model"
        weights_path, description_path = model_file_paths(Path(tmp) / name)
        weights_path.write_bytes(weights_bytes)
        description_path.write_bytes(description_bytes)
        yield weights_path, header, len(head) + header_len + packed_len + 4
