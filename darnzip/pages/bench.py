"""darnzip's page model against JBIG, DjVu JB2 and PNG on the same bilevel pages, each round-tripped.

JBIG is `pbmtojbg -q` (Debian jbigkit-bin), JB2 `cjb2 -lossless` (djvulibre-bin, checked with ddjvu), PNG
Pillow's 1-bit PNG with optimize; a tool that is not installed is reported as skipped (None). darnzip's
figure is the whole archive file (container included), decoded and compared; it is also coded without
copies, to show what the copy latents save."""
from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from darnzip.core.baselines import pbm_bytes

from .archive import compress_pages, decode_pages, open_pages
from .manuals import load_pbm

__all__ = ["bench_page", "classical_codecs", "page_model_on_images", "round_trip"]


def round_trip(sources: list, page_model: tuple, copies: bool = True) -> tuple:
    """Archive `sources` (entries with their bits (N, H, W)) in memory with the page model and decode it:
    (its PageStats, seconds to compress, seconds to decompress, whether every image came back)."""
    from darnzip.images.container import ArchiveReader

    buffer = io.BytesIO()
    start = time.perf_counter()
    stats = compress_pages(buffer, sources, *page_model, copies=copies)
    encode_s = time.perf_counter() - start
    buffer.seek(0)
    start = time.perf_counter()
    decoded = np.concatenate([flat.reshape(-1) for flat in decode_pages(open_pages(ArchiveReader(buffer)))])
    decode_s = time.perf_counter() - start
    exact = np.array_equal(decoded, np.concatenate([bits.reshape(-1) for _, bits in sources]))
    return stats, encode_s, decode_s, exact


def classical_codecs(image: np.ndarray) -> dict:
    """{codec: bytes, or None when its tool is missing} for one (H, W) 0/1 page (1 = black); raises
    RuntimeError if a codec does not give the page back."""
    from PIL import Image

    sizes: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pbm = tmp / "page.pbm"
        pbm.write_bytes(pbm_bytes(image))
        if shutil.which("pbmtojbg") and shutil.which("jbgtopbm"):
            subprocess.run(["pbmtojbg", "-q", str(pbm), str(tmp / "p.jbg")], check=True, capture_output=True)
            subprocess.run(["jbgtopbm", str(tmp / "p.jbg"), str(tmp / "jbig.pbm")], check=True, capture_output=True)
            _check("JBIG", load_pbm(tmp / "jbig.pbm"), image)
            sizes["jbig"] = (tmp / "p.jbg").stat().st_size
        else:
            sizes["jbig"] = None
        if shutil.which("cjb2") and shutil.which("ddjvu"):
            subprocess.run(["cjb2", "-lossless", str(pbm), str(tmp / "p.djvu")], check=True, capture_output=True)
            subprocess.run(["ddjvu", "-format=pbm", str(tmp / "p.djvu"), str(tmp / "jb2.pbm")], check=True,
                           capture_output=True)
            _check("JB2", load_pbm(tmp / "jb2.pbm"), image)
            sizes["jb2"] = (tmp / "p.djvu").stat().st_size
        else:
            sizes["jb2"] = None
        buffer = io.BytesIO()
        Image.fromarray(((1 - image) * 255).astype(np.uint8), mode="L").convert("1").save(buffer, "PNG", optimize=True)
        sizes["png"] = len(buffer.getvalue())
    return sizes


def _check(name: str, back: np.ndarray, image: np.ndarray) -> None:
    if not np.array_equal(back, image):
        raise RuntimeError(f"{name} did not give the page back")


def bench_page(image: np.ndarray, page_model: tuple, name: str = "page", copies_off: bool = True) -> dict:
    """One page's row: darnzip's archive bytes and times (round trip checked), without copies, and the
    classical codecs."""
    entry = {"type": "image", "name": f"{name}.pbm", "format": "PPM", "mode": "1", "lo": 0, "hi": 255,
             "shape": list(image.shape)}
    bits = image.astype(np.uint8)[None]
    stats, encode_s, decode_s, exact = round_trip([(entry, bits)], page_model)
    if not exact:
        raise RuntimeError("darnzip did not give the page back")
    row = {"page": name, "height": image.shape[0], "width": image.shape[1], "darnzip": stats.archive_bytes,
           "patches": stats.patches, "copies": stats.copies, "encode_s": encode_s, "decode_s": decode_s,
           "mpixels_per_s": (image.size / 1e6 / encode_s, image.size / 1e6 / decode_s)}
    if copies_off:
        plain = io.BytesIO()
        row["darnzip_no_copies"] = compress_pages(plain, [(entry, bits)], *page_model, copies=False).archive_bytes
    row.update(classical_codecs(image))
    return row


def page_model_on_images(images: np.ndarray, page_model: tuple) -> dict:
    """The page model on a set of same-size binary images (N, H, W), as `bench` lists a codec: bits per
    image of the whole archive (the images stacked into chunks), seconds both ways, round trip checked."""
    entry = {"type": "npy", "name": "images.npy", "dtype": "|u1", "shape": list(images.shape), "lo": 0, "hi": 1}
    stats, encode_s, decode_s, exact = round_trip([(entry, np.ascontiguousarray(images, dtype=np.uint8))], page_model)
    return {"name": f"darnzip page model {page_model[0]} (images stacked)",
            "bits_per_image": 8 * stats.archive_bytes / len(images), "seconds": encode_s + decode_s,
            "note": "" if exact else "ROUND TRIP FAILED"}
