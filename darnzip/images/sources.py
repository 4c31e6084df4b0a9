"""Reading inputs (image files, .npy arrays) into binary pixels and writing them back pixel-exactly.

A *source* is one input file. Its header entry records what is needed to rebuild it: the file name
relative to the input root, the format and mode (images) or dtype (arrays), and the two pixel values
that map to 0 and 1. Consecutive image files that agree on format, mode and values share one entry.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from darnzip.core.inputs import STDIN_STEM, InputError, files_below, restored_file_name, safe_output_path  # noqa: F401
from darnzip.core.names import decode_names, encode_names

__all__ = ["STDIN_STEM", "find_inputs", "image_shape_of", "load_sources", "shapes_fit", "restored_file_name", "safe_output_path",
           "source_bytes", "source_count", "unpack_entries"]  # the public names (docs/api.md)

IMAGE_SUFFIXES = {".png": "PNG", ".pbm": "PPM", ".pgm": "PPM", ".ppm": "PPM"}
ARRAY_SUFFIXES = {".npy"}
MAX_PIXELS = 1 << 28  # refuse absurd image dimensions before decoding them (a 10,000 x 10,000 page is 1e8)


def find_inputs(paths: Iterable[str]) -> list[tuple[Path, str]]:
    """Expand paths to (file, name-in-archive) pairs: directories recursively in sorted order."""
    found: list[tuple[Path, str]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files = files_below(path, set(IMAGE_SUFFIXES) | ARRAY_SUFFIXES)
            if not files:
                raise InputError(f"{given}: no .png/.pbm/.pgm/.npy files in this directory")
            found.extend((f, f.relative_to(path).as_posix()) for f in files)
        elif path.exists():
            found.append((path, path.name))
        else:
            raise InputError(f"{given}: no such file or directory")
    names = [name for _, name in found]
    if len(set(names)) != len(names):
        raise InputError("two inputs have the same name in the archive; compress them separately")
    return found


def binary_values(values: np.ndarray, where: str) -> tuple[int, int]:
    """(lo, hi) for an array with at most two distinct values; 0/1 and 0/255 conventions preferred."""
    distinct = np.unique(values)
    if distinct.size > 2:
        raise InputError(
            f"{where}: not a binary image ({distinct.size} distinct values); this model codes 2-level images"
        )
    present = set(int(v) for v in distinct)
    for lo, hi in ((0, 1), (0, 255)):
        if present <= {lo, hi}:
            return lo, hi
    if len(present) == 2:
        lo, hi = sorted(present)
        return lo, hi
    (only,) = present
    return only, (only + 1) % 256


def read_image(path: Path) -> tuple[np.ndarray, str, str]:
    """Pixels (H, W) uint8, Pillow format and mode of a 1-bit or 8-bit grey image file."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow's own bomb check, which warns from 89 million pixels
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise InputError(f"{path}: image too large ({img.width}x{img.height})")
            if img.mode not in ("1", "L"):
                raise InputError(f"{path}: image mode {img.mode} is not a binary image (use 1-bit or 8-bit grey; "
                                 f"colour frames are a frame stream: compress --frames)")
            fmt, mode = img.format, img.mode
            pixels = np.asarray(img.convert("L"), dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: image dimensions too large") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: cannot read image ({exc})") from exc
    return pixels, fmt, mode


def read_array(path: Path, max_elements: int = 1 << 31) -> np.ndarray:
    """An integer .npy array, loaded without pickle; the declared shape is checked before allocating."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
            elements = int(np.prod(shape, dtype=object)) if shape else 1
            if elements > max_elements or elements * dtype.itemsize > (f.seek(0, 2) + 1):
                raise InputError(f"{path}: .npy header declares {shape}, larger than the file or the limit")
            f.seek(0)
            array = np.load(f, allow_pickle=False)
    except InputError:
        raise
    except (ValueError, OSError, EOFError, TypeError) as exc:
        raise InputError(f"{path}: cannot read .npy array ({exc})") from exc
    if array.dtype.kind not in "biu":
        raise InputError(f"{path}: .npy dtype {array.dtype} is not an integer or boolean type")
    return array


def image_shape_of(files: list[tuple[Path, str]]) -> tuple[int, int]:
    """The (height, width) of the first input: what a model trained on these files will code."""
    if not files:
        raise InputError("no input images")
    path, name = files[0]
    if path.suffix.lower() in ARRAY_SUFFIXES:
        shape = tuple(read_array(path).shape)
        if len(shape) not in (2, 3) or 0 in shape:
            raise InputError(f"{name}: array shape {shape} is not (H, W) or (N, H, W)")
        return shape[-2:]
    return tuple(read_image(path)[0].shape)


def load_sources(files: list[tuple[Path, str]], image_shape: tuple[int, int] | None,
                 size_hint: str = "") -> Iterator[tuple[dict, np.ndarray]]:
    """Yield (header entry, bits (N, H, W) uint8) per input file, checked against the model's shape;
    `size_hint` ends the message that refuses another size (what the user can do about it).
    image_shape None: any size (the page coder), each entry records its own "shape"."""
    for path, name in files:
        if path.suffix.lower() in ARRAY_SUFFIXES:
            array = read_array(path)
            shape = tuple(array.shape)
            if image_shape is None and array.ndim in (2, 3) and 0 not in shape[-2:]:
                if shape[-2] * shape[-1] > MAX_PIXELS:
                    raise InputError(f"{name}: images of {shape[-1]}x{shape[-2]} are larger than the {MAX_PIXELS:,} "
                                     "pixels darnzip codes")
                stack = array.reshape(-1, *shape[-2:])
            elif shape == image_shape:
                stack = array.reshape(1, *image_shape)
            elif image_shape is not None and array.ndim == 3 and shape[1:] == image_shape:
                stack = array
            else:
                wanted = "(H, W) or (N, H, W)" if image_shape is None else f"(N, {image_shape[0]}, {image_shape[1]})"
                raise InputError(f"{name}: array shape {shape} is not {wanted}{size_hint}")
            lo, hi = binary_values(stack, name)
            entry = {"type": "npy", "name": name, "dtype": array.dtype.str, "shape": list(shape), "lo": lo, "hi": hi}
            yield entry, (stack == hi).astype(np.uint8)
        else:
            pixels, fmt, mode = read_image(path)
            if image_shape is not None and pixels.shape != image_shape:
                raise InputError(f"{name}: image is {pixels.shape[1]}x{pixels.shape[0]}, the model codes "
                                 f"{image_shape[1]}x{image_shape[0]}{size_hint}")
            lo, hi = binary_values(pixels, name)
            entry = {"type": "image", "name": name, "format": fmt, "mode": mode, "lo": lo, "hi": hi}
            if image_shape is None:
                entry["shape"] = list(pixels.shape)
            yield entry, (pixels == hi).astype(np.uint8)[None]


def shapes_fit(files: list[tuple[Path, str]], image_shape: tuple[int, int]) -> bool:
    """Whether every input is an image, or an array of images, of `image_shape` (without decoding images
    twice: an image's size is read from its header)."""
    from PIL import Image

    for path, _ in files:
        try:
            if path.suffix.lower() in ARRAY_SUFFIXES:
                shape = tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)
            else:
                with Image.open(path) as image:
                    shape = (image.height, image.width)
        except Exception:  # unreadable: load_sources says why
            return True
        if shape != image_shape and not (len(shape) == 3 and shape[1:] == image_shape):
            return False
    return True


def source_count(entry: dict) -> int:
    if entry["type"] == "npy":
        shape = entry["shape"]
        return 1 if len(shape) == 2 else int(shape[0])
    return 1


def pack_entries(entries: list[dict]) -> list[dict]:
    """Merge consecutive image entries that differ only by name into one {names: [...]} entry.

    The names of a merged entry are stored with numbered runs collapsed (darnzip.core.names)."""
    packed: list[dict] = []
    for entry in entries:
        if entry["type"] == "image":
            key = {k: v for k, v in entry.items() if k != "name"}
            last = packed[-1] if packed else None
            if last is not None and last["type"] == "images" and all(last[k] == v for k, v in key.items() if k != "type"):
                last["names"].append(entry["name"])
                continue
            packed.append({**key, "type": "images", "names": [entry["name"]]})
        else:
            packed.append(entry)
    for entry in packed:
        if entry["type"] == "images":
            entry["names"] = encode_names(entry["names"])
    return packed


def unpack_entries(packed: list[dict]) -> Iterator[dict]:
    """Inverse of pack_entries."""
    for entry in packed:
        if entry.get("type") == "images":
            base = {k: v for k, v in entry.items() if k not in ("names", "type")}
            for name in decode_names(entry["names"]):
                yield {**base, "type": "image", "name": name}
        else:
            yield entry


def restore_pixels(entry: dict, bits: np.ndarray) -> np.ndarray:
    """Bits (N, H, W) back to the source's pixel values, in its dtype (uint8 for image files)."""
    dtype = np.dtype(entry["dtype"]) if entry["type"] == "npy" else np.dtype(np.uint8)
    lo, hi = np.array(entry["lo"], dtype), np.array(entry["hi"], dtype)
    return np.where(bits.view(bool) if bits.dtype == np.uint8 else bits.astype(bool), hi, lo)


def source_bytes(entry: dict, bits: np.ndarray) -> bytes:
    """The file content that restores a source pixel-exactly."""
    from PIL import Image

    buffer = io.BytesIO()
    if entry["type"] == "npy":
        array = restore_pixels(entry, bits).reshape(entry["shape"])
        np.save(buffer, array, allow_pickle=False)
    else:
        img = Image.fromarray(restore_pixels(entry, bits[0]), mode="L")
        if entry["mode"] == "1":
            img = img.convert("1")
        img.save(buffer, format=entry["format"])
    return buffer.getvalue()
