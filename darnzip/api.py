"""darnzip from Python: arrays and frames to archive bytes and back, and the models that code them.

Binary images, round trip with the shipped model:

>>> import numpy as np, darnzip
>>> images = (np.random.default_rng(0).random((20, 28, 28)) < 0.1).astype(np.uint8)
>>> data = darnzip.compress_images(images)
>>> data[:8] == b"\\x89DARNZ\\r\\n"
True
>>> restored = darnzip.decompress_images(data)
>>> restored.dtype == images.dtype and np.array_equal(restored, images)
True

To a file and back (a path or an open binary file):

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "digits.dz")
>>> darnzip.compress_images(images, out=path)
>>> np.array_equal(darnzip.decompress_images(path), images)
True

Frame streams (H, W, 3 uint8), with the installed model that fits their first frame, or none:

>>> frames = [np.zeros((24, 40, 3), np.uint8) for _ in range(3)]
>>> frames[1][5:9, 5:9] = 255
>>> back = list(darnzip.decompress_frames(darnzip.compress_frames(frames)))
>>> len(back) == 3 and all(np.array_equal(a, b) for a, b in zip(frames, back))
True

A model's description length as a real file size, beside its free energy and NLL (what `darnzip
report` prints):

>>> digits = (np.random.default_rng(2).random((10, 28, 28)) < 0.15).astype(np.uint8)
>>> figures = darnzip.measure_images(digits, samples=4, particles=1)
>>> figures["round_trip_exact"], figures["archive_bits_per_image"] > figures["nll_bits_per_image"] > 0
(True, True)
>>> darnzip.measure_frames(frames)["frames"]
3

Models by registry id, by name (its newest installed version) or by file:

>>> darnzip.load_model("mnist-binary").model_id
'mnist-binary-v1'
>>> darnzip.load_model("atari-pong", kind="frames").model_id
'atari-pong-v7'

Modules load their wings when first called: `import darnzip` stays light (no torch).
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

__all__ = ["compress_images", "decompress_images", "compress_frames", "decompress_frames", "load_model",
           "measure_images", "measure_frames"]


def load_model(name_or_path: str | None = None, kind: str = "images"):
    """A model by registry id, name (its newest installed version) or .safetensors path; `kind` is
    "images" (the default model when none is named: mnist-binary-v1) or "frames"."""
    if kind == "images":
        from darnzip.images.modelfile import resolve_model

        return resolve_model(name_or_path)
    if kind == "frames":
        from darnzip.frames.zoo import resolve_frame_model

        if name_or_path is None:
            raise ValueError("name the frame model (darnzip.load_model('atari-pong', kind='frames'))")
        return resolve_frame_model(name_or_path)
    raise ValueError(f"kind must be 'images' or 'frames', not {kind!r}")


def _written(out, write) -> bytes | None:
    """Run write(stream) into memory (out None: the bytes are returned), a path (written whole or not at
    all, replacing what is there, as open(path, "wb") would) or an open binary file."""
    if out is None:
        buffer = io.BytesIO()
        write(buffer)
        return buffer.getvalue()
    if isinstance(out, (str, os.PathLike)):
        from darnzip.core.atomic import atomic_file

        with atomic_file(Path(out), True) as stream:
            write(stream)
        return None
    write(out)
    return None


def compress_images(images: np.ndarray, model: str | None = None, particles: int | None = None,
                    workers: int = 1, chunk_size: int | None = None, out=None) -> bytes | None:
    """The archive of an (N, H, W) (or one (H, W)) integer or boolean array with at most two distinct
    values, restored by `decompress_images` with its dtype, shape and values: returned as bytes, or
    written to `out` (a path or a binary file). Images of the default model's size (28x28) are coded by
    that DARN; any other size, or `model` naming a page model (pages-v1), by the page model.
    `particles`: McBits particles (default 5; 1 is plain bits-back); `workers`: processes coding chunks
    in parallel; `chunk_size`: most images per independent chunk, the unit of random access (default
    8192); these three are for the DARN."""
    from darnzip.images import archive as arc
    from darnzip.images.sources import binary_values
    from darnzip.pages.modelfile import default_binary_model, named_binary_model

    array = np.asarray(images)
    page_model, loaded = named_binary_model(model) if model is not None else \
        default_binary_model(lambda shape: array.ndim not in (2, 3) or tuple(array.shape[-2:]) == shape)
    if page_model is not None:
        if array.dtype.kind not in "biu" or array.ndim not in (2, 3) or 0 in array.shape[-2:]:
            raise ValueError(f"need an integer (N, H, W) or (H, W) array, not {array.dtype} {array.shape}")
    elif array.dtype.kind not in "biu" or array.ndim != 3 or tuple(array.shape[1:]) != tuple(loaded.config.image_shape):
        raise ValueError(f"need an integer (N, {loaded.config.image_shape[0]}, {loaded.config.image_shape[1]}) array "
                         f"for model {loaded.model_id}, not {array.dtype} {array.shape}")
    lo, hi = binary_values(array, "images")
    entry = {"type": "npy", "name": "images.npy", "dtype": array.dtype.str, "shape": list(array.shape),
             "lo": int(lo), "hi": int(hi)}
    bits = (array == hi).astype(np.uint8).reshape(-1, *array.shape[-2:])
    if page_model is not None:
        from darnzip.pages.archive import compress_pages

        return _written(out, lambda stream: compress_pages(stream, [(entry, bits)], *page_model))
    options = arc.CodingOptions(workers=workers, **({} if particles is None else {"particles": particles}),
                                **({} if chunk_size is None else {"chunk_size": chunk_size}))
    return _written(out, lambda stream: arc.compress_stream(stream, [(entry, bits)], loaded, options))


def decompress_images(data, model: str | None = None, workers: int = 1) -> np.ndarray:
    """The array `compress_images` coded (`data`: the archive's bytes or its path), checked against every
    checksum. Archives joined end to end (`darnzip cat`, `darnzip.scale`) give their arrays one after
    the other, as one array. `model` names a model file when the archive's is not installed."""
    from darnzip.images import archive as arc
    from darnzip.images.sources import restore_pixels

    from darnzip.access import opened_source, read_members

    arrays = []
    with opened_source(data) as stream:
        for member in read_members(stream, model):
            if member.frame_start is not None:
                raise ValueError("a frame archive: use decompress_frames")
            opened = arc.open_archive(member.src, member.model)
            sources = list(arc.iter_sources(opened, workers))
            if len(sources) != 1 or sources[0][0]["type"] != "npy":
                raise ValueError(f"the archive holds {len(sources)} files; `darnzip decompress` restores them")
            entry, bits = sources[0]
            arrays.append(restore_pixels(entry, bits).reshape(entry["shape"]))
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def compress_frames(frames: Iterable[np.ndarray], model: str | None = None, workers: int = 1,
                    chunk_frames: int | None = None, out=None) -> bytes | None:
    """The archive of a stream of (H, W, 3) uint8 RGB frames (any iterable: it is read once, a chunk at a
    time), returned as bytes or written to `out` (a path or a binary file): coded by `model` (an id or
    file), else by the installed frame model that fits the first frame; frames it cannot code are stored
    losslessly. `chunk_frames`: frames per independent chunk, the unit of random access (default:
    darnzip.frames.zoo.chunk_frames_for)."""
    from darnzip.frames.stream import compress_frames as compress
    from darnzip.frames.zoo import chunk_frames_for, pick_frame_model

    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("no frames")
    loaded = pick_frame_model(model, np.asarray(first))

    def all_frames():
        yield np.ascontiguousarray(first, dtype=np.uint8)
        for frame in frames:
            yield np.ascontiguousarray(frame, dtype=np.uint8)

    size = chunk_frames_for(loaded, np.asarray(first), chunk_frames)
    return _written(out, lambda stream: compress(stream, all_frames(), {"type": "npy", "name": "frames.npy"}, loaded,
                                                 size, workers))


def decompress_frames(data, model: str | None = None, workers: int = 1) -> Iterator[np.ndarray]:
    """The RGB frames of a frame archive (`data`: its bytes or its path, read as a stream), in order, or
    of each archive joined in it, one after the other; each stream's hash is checked after its last
    frame."""
    from darnzip.frames.container import FrameArchiveReader
    from darnzip.frames.stream import decompress_frames as decompress
    from darnzip.frames.zoo import model_or_why_not

    from darnzip.access import opened_source, read_members

    with opened_source(data) as stream:
        for member in read_members(stream, model):
            if member.frame_start is None:
                raise ValueError("a binary-image archive: use decompress_images")
            reader = FrameArchiveReader(member.src, member.frame_start)
            loaded, missing = model_or_why_not(reader.header.get("model"), member.model)
            yield from decompress(reader, loaded, workers, None, missing)


def measure_images(images: np.ndarray, model: str | None = None, samples: int = 100, particles: int | None = None,
                   workers: int = 1) -> dict:
    """The description length of binary images (N, H, W; values 0/1) under a model, as a real file size
    beside the model's own figures, in bits per image: `archive_bits_per_image` (coded, decoded and
    checked in memory), `one_sample_free_energy_bits_per_image` (what the coder pushed less what it
    popped), `expected_free_energy_bits_per_image` and `nll_bits_per_image` (importance-sampled with
    `samples` posterior draws; `_nats_` too), and the two-part code with the model's own bytes. What
    `darnzip report` prints."""
    from darnzip.images import archive as arc
    from darnzip.images.figures import image_figures
    from darnzip.images.modelfile import resolve_model

    loaded = resolve_model(model)
    bits = np.asarray(images)
    if bits.ndim != 3 or bits.dtype.kind not in "biu" or (bits.size and not np.isin(bits, (0, 1)).all()):
        raise ValueError("need an (N, H, W) array of 0s and 1s")
    options = arc.CodingOptions(workers=workers, **({} if particles is None else {"particles": particles}))
    return image_figures(bits.astype(np.uint8), loaded, options, samples).figures


def measure_frames(frames: Iterable[np.ndarray], model: str | None = None, workers: int = 1,
                   chunk_frames: int | None = None) -> dict:
    """A frame stream's archive bits against the free energy its model computed for each frame (coded,
    decoded and checked in memory): `bits_per_frame`, `free_energy_bits_per_modelled_frame`, how many
    frames the model coded and how many went to the raw side, and the two-part code. What `darnzip
    report` prints for frames."""
    from darnzip.frames.figures import frame_figures
    from darnzip.frames.zoo import chunk_frames_for, pick_frame_model

    rgb = np.stack([np.asarray(frame, dtype=np.uint8) for frame in frames])
    loaded = pick_frame_model(model, rgb[0])
    return frame_figures(rgb, loaded, workers, chunk_frames_for(loaded, rgb[0], chunk_frames)).figures
