"""The archive header: what it must contain, checked field by field before any of it is used.

The header's CRC catches accidents; this catches archives built by hand or by a fuzzer, so that
decoding never meets a field of the wrong type or an absurd size.
"""
from __future__ import annotations

import numpy as np

from darnzip.core.fields import check_model_record, check_name, check_names, check_no_clashes
from darnzip.core.fields import require as _require
from darnzip.core.records import whole_in_range

MAX_IMAGES = 1 << 40
MAX_IMAGE_PIXELS = 1 << 24
MAX_PAGE_SIDE = 1 << 20  # of an image of any size (the page coder): a side, and its pixels below (what the
MAX_PAGE_PIXELS = 1 << 28  # decoder allocates for one image: a crafted header cannot ask for more)
PAGES_CODER = "pages-ans/context-copy-1"  # darnzip.pages.archive.PAGES_CODER: its images carry their own shape
IMAGE_FORMATS = {"PNG", "PPM"}
IMAGE_MODES = {"1", "L"}


def _page_shape(dims: object) -> bool:
    return (isinstance(dims, list) and len(dims) == 2 and all(whole_in_range(d, 1, MAX_PAGE_SIDE) for d in dims)
            and dims[0] * dims[1] <= MAX_PAGE_PIXELS)


def _check_npy(entry: dict, shape: tuple[int, int] | None) -> None:
    check_name(entry.get("name"))
    try:
        dtype = np.dtype(entry.get("dtype"))
    except (TypeError, ValueError):
        dtype = None
    _require(dtype is not None and dtype.kind in "biu", "sources.dtype")
    dims = entry.get("shape")
    _require(isinstance(dims, list) and all(whole_in_range(d, 0, MAX_IMAGES) for d in dims), "sources.shape")
    if shape is None:  # any size, each array its own
        _require(len(dims) in (2, 3) and _page_shape(dims[-2:]), "sources.shape")
    else:
        _require(tuple(dims) == shape or (len(dims) == 3 and tuple(dims[1:]) == shape), "sources.shape")
    info = np.iinfo(dtype) if dtype.kind in "iu" else None
    lo, hi = (info.min, info.max) if info else (0, 1)
    _require(whole_in_range(entry.get("lo"), lo, hi) and whole_in_range(entry.get("hi"), lo, hi), "sources.lo/hi")


def _check_images(entry: dict, limit: int, sized: bool) -> list[str]:
    """The entry's names: at most `limit` (the images the header has left to name), counted before any
    run is expanded. `sized`: the images carry their own shape (the page coder)."""
    if sized:
        _require(_page_shape(entry.get("shape")), "sources.shape")
    _require(entry.get("format") in IMAGE_FORMATS and entry.get("mode") in IMAGE_MODES, "sources.format/mode")
    _require(whole_in_range(entry.get("lo"), 0, 255) and whole_in_range(entry.get("hi"), 0, 255), "sources.lo/hi")
    return check_names(entry.get("names"), limit, "sources.names")


def check_header(header: dict) -> None:
    """Raise ArchiveError unless every field has the type and range the decoder relies on."""
    check_model_record(header.get("model"))
    coder = header.get("coder")
    _require(isinstance(coder, dict) and isinstance(coder.get("name"), str), "coder")
    sized = coder["name"] == PAGES_CODER
    shape = header.get("image_shape")
    if sized:
        _require(shape is None, "image_shape")
    else:
        _require(isinstance(shape, list) and len(shape) == 2 and all(whole_in_range(s, 1, MAX_IMAGE_PIXELS) for s in shape)
                 and shape[0] * shape[1] <= MAX_IMAGE_PIXELS, "image_shape")
    _require(whole_in_range(header.get("count"), 0, MAX_IMAGES), "count")
    sources = header.get("sources")
    _require(isinstance(sources, list) and len(sources) <= max(1, header["count"]), "sources")
    names: list[str] = []
    for entry in sources:
        _require(isinstance(entry, dict), "sources")
        if entry.get("type") == "npy":
            _check_npy(entry, None if sized else tuple(shape))
            names.append(entry["name"])
        elif entry.get("type") == "images":
            names.extend(_check_images(entry, header["count"] - len(names), sized))
        else:
            _require(False, "sources.type")
    check_no_clashes(names)
