"""Output that appears whole or not at all: temp file or staging directory, renamed on success."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator


class OutputExists(FileExistsError):
    pass


@contextlib.contextmanager
def atomic_file(path: Path, force: bool) -> Iterator[BinaryIO]:
    """Write to a temp file beside `path`; rename over it only if the block finishes without error."""
    path = Path(path)
    if path.exists() and not force:
        raise OutputExists(f"{path} already exists (use -f to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _refuse_clashes(root: Path, names: list[str]) -> None:
    clash = next((n for n in names if (root / n).exists()), None)
    if clash is not None:
        raise OutputExists(f"{root / clash} already exists (use -f to overwrite)")


@contextlib.contextmanager
def staging_directory(root: Path, names: list[str], force: bool) -> Iterator[Path]:
    """Yield a hidden staging directory; on success move its files to root/<name>, else delete it.

    `names` may grow while the block runs (streams whose length is unknown up front): without `force`,
    clashes are refused before anything is staged and again before anything is moved."""
    root = Path(root)
    if not force:
        _refuse_clashes(root, names)
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".darnzip-tmp", dir=root.parent))
    try:
        yield stage
        if not force:
            _refuse_clashes(root, names)
        for name in names:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / name, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
