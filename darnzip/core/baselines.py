"""Classical codecs on the same binary images, each round-tripped, for side-by-side comparison.

Python-library codecs always run (bzip2, xz, zstd with a trained dictionary); JBIG (`pbmtojbg`, Debian
jbigkit-bin) and JPEG XL (`cjxl`/`djxl`, Debian libjxl-tools) run when installed and are reported as
skipped otherwise.
"""
from __future__ import annotations

import bz2
import dataclasses
import lzma
import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import zstandard

__all__ = ["all_baselines", "pbm_bytes", "tile"]  # the public names (docs/api.md)


@dataclasses.dataclass
class BaselineResult:
    name: str
    bits_per_image: float | None
    seconds: float = 0.0
    note: str = ""


def tile(images: np.ndarray) -> np.ndarray:
    """All images in one near-square bitmap (rows of images), padded with blank images."""
    n, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    padded = np.zeros((rows * cols, h, w), dtype=np.uint8)
    padded[:n] = images
    return padded.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def _roundtrip(name, n, compress, decompress, raw) -> BaselineResult:
    start = time.perf_counter()
    blob = compress(raw)
    ok = decompress(blob) == raw
    return BaselineResult(name, 8 * len(blob) / n, time.perf_counter() - start, "" if ok else "ROUND TRIP FAILED")


def python_codecs(images: np.ndarray, train: np.ndarray | None = None) -> list[BaselineResult]:
    n = len(images)
    raw = np.ascontiguousarray(images, dtype=np.uint8).tobytes()
    results = [
        _roundtrip("bzip2 -9 (whole set, 1 byte/pixel)", n, lambda b: bz2.compress(b, 9), bz2.decompress, raw),
        _roundtrip("xz -9e (whole set, 1 byte/pixel)", n, lambda b: lzma.compress(b, preset=9 | lzma.PRESET_EXTREME),
                   lzma.decompress, raw),
        _roundtrip("zstd -22 (whole set, 1 byte/pixel)", n, zstandard.ZstdCompressor(level=22).compress,
                   zstandard.ZstdDecompressor().decompress, raw),
    ]
    if train is not None:
        start = time.perf_counter()
        samples = [np.ascontiguousarray(t, dtype=np.uint8).tobytes() for t in train[:20000]]
        dictionary = zstandard.train_dictionary(16384, samples)
        cctx = zstandard.ZstdCompressor(level=22, dict_data=dictionary)
        dctx = zstandard.ZstdDecompressor(dict_data=dictionary)
        total, ok = 0, True
        for image in images:
            blob = cctx.compress(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
            total += len(blob)
            ok &= dctx.decompress(blob) == image.tobytes()
        results.append(BaselineResult("zstd -22 + 16 KiB dictionary (per image)", 8 * total / n,
                                      time.perf_counter() - start, "" if ok else "ROUND TRIP FAILED"))
    return results


def pbm_bytes(bitmap: np.ndarray) -> bytes:
    """A 0/1 bitmap (1 = black) as a binary PBM file."""
    h, w = bitmap.shape
    return f"P4\n{w} {h}\n".encode() + np.packbits(bitmap.astype(np.uint8), axis=1).tobytes()


def external_codecs(images: np.ndarray) -> list[BaselineResult]:
    n = len(images)
    bitmap = tile(images)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        pbm = tmpdir / "tiled.pbm"
        pbm.write_bytes(pbm_bytes(bitmap))
        if shutil.which("pbmtojbg"):
            start = time.perf_counter()
            subprocess.run(["pbmtojbg", "-q", str(pbm), str(tmpdir / "t.jbg")], check=True, capture_output=True)
            note = ""
            if shutil.which("jbgtopbm"):
                subprocess.run(["jbgtopbm", str(tmpdir / "t.jbg"), str(tmpdir / "back.pbm")], check=True, capture_output=True)
                from PIL import Image

                back = np.asarray(Image.open(tmpdir / "back.pbm").convert("L")) == 0  # PBM: 1 is black
                note = "" if np.array_equal(back, bitmap.astype(bool)) else "ROUND TRIP FAILED"
            results.append(BaselineResult("JBIG pbmtojbg -q (all images tiled)", 8 * (tmpdir / "t.jbg").stat().st_size / n,
                                          time.perf_counter() - start, note))
        else:
            results.append(BaselineResult("JBIG pbmtojbg -q (all images tiled)", None, note="skipped: pbmtojbg not installed"))
        if shutil.which("cjxl"):
            from PIL import Image

            png = tmpdir / "tiled.png"
            Image.fromarray((bitmap * 255).astype(np.uint8), mode="L").save(png)
            start = time.perf_counter()
            subprocess.run(["cjxl", "-d", "0", "-e", "9", "--quiet", str(png), str(tmpdir / "t.jxl")], check=True,
                           capture_output=True)
            note = ""
            if shutil.which("djxl"):
                subprocess.run(["djxl", "--quiet", str(tmpdir / "t.jxl"), str(tmpdir / "back.png")], check=True,
                               capture_output=True)
                back = np.asarray(Image.open(tmpdir / "back.png").convert("L"))
                note = "" if np.array_equal(back > 127, bitmap > 0) else "ROUND TRIP FAILED"
            results.append(BaselineResult("JPEG XL cjxl -d 0 -e 9 (all images tiled)",
                                          8 * (tmpdir / "t.jxl").stat().st_size / n, time.perf_counter() - start, note))
        else:
            results.append(BaselineResult("JPEG XL cjxl -d 0 -e 9 (all images tiled)", None, note="skipped: cjxl not installed"))
    return results


def all_baselines(images: np.ndarray, train: np.ndarray | None = None) -> list[BaselineResult]:
    return python_codecs(images, train) + external_codecs(images)
