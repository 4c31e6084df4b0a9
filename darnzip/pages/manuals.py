"""Bilevel pages rendered from the PDF manuals that Debian packages install: the page model's training
data and its held-out test data (never trained or tuned on). Rendering needs poppler's pdftoppm
(Debian poppler-utils); a page is `pdftoppm -mono -r 300`, 2550x3300 for a Letter page."""
from __future__ import annotations

import gzip
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from darnzip.core.inputs import InputError

__all__ = ["HELD_OUT", "MANUALS", "TRAINING", "load_pbm", "render_manual"]

# name: (installed PDF, Debian package)
MANUALS = {
    "bzip2": ("/usr/share/doc/bzip2/manual.pdf.gz", "bzip2-doc"),
    "nettle": ("/usr/share/doc/nettle-dev/nettle.pdf.gz", "nettle-dev"),
    "libtasn1": ("/usr/share/doc/libtasn1-doc/libtasn1.pdf", "libtasn1-doc"),
    "shared-mime-info": ("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf", "shared-mime-info"),
    "fontconfig": ("/usr/share/doc/fontconfig/fontconfig-user.pdf.gz", "fontconfig"),
    "zlib-crc": ("/usr/share/doc/zlib1g-dev/crc-doc.1.0.pdf.gz", "zlib1g-dev"),
    "valgrind": ("/usr/share/doc/valgrind/valgrind_manual.pdf.gz", "valgrind"),
}
TRAINING = ("bzip2", "nettle", "libtasn1", "shared-mime-info")
HELD_OUT = ("fontconfig", "zlib-crc", "valgrind")


def render_manual(name: str, out_dir: Path, pages: list[tuple[int | None, int | None]] | None = None,
                  dpi: int = 300) -> list[Path]:
    """Render the pages of a manual as PBM files in out_dir: each (first, last) range of `pages` (1-based,
    inclusive; None: all), a page named in two ranges once. Returns the files, in page order."""
    if name not in MANUALS:
        raise InputError(f"unknown manual {name!r} (known: {', '.join(MANUALS)})")
    pdf, package = MANUALS[name]
    if not Path(pdf).exists():
        raise InputError(f"{pdf} is missing: install it with `apt install {package}`")
    if shutil.which("pdftoppm") is None:
        raise InputError("pdftoppm is missing: install it with `apt install poppler-utils`")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(pdf)
        if source.suffix == ".gz":
            plain = Path(tmp) / source.stem
            with gzip.open(source) as packed, open(plain, "wb") as f:
                shutil.copyfileobj(packed, f)
            source = plain
        for first, last in pages or [(None, None)]:
            command = ["pdftoppm", "-mono", "-r", str(dpi)]
            command += ["-f", str(first)] if first else []
            command += ["-l", str(last)] if last else []
            subprocess.run(command + [str(source), str(out_dir / name)], check=True, capture_output=True)
    return sorted(out_dir.glob(f"{name}-*.pbm"))


def load_pbm(path: Path) -> np.ndarray:
    """A bilevel image file as (H, W) uint8, 1 = black."""
    from PIL import Image

    with Image.open(path) as image:
        return (np.asarray(image.convert("1")) == 0).astype(np.uint8)
