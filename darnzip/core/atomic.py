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


def refuse_existing(paths, force: bool = False) -> None:
    """Raise OutputExists for the first of `paths` (None and "" skipped) that exists, unless `force`: the
    one check, and message, of every output that -f may overwrite."""
    if force:
        return
    for path in paths:
        if path and Path(path).exists():
            raise OutputExists(f"{path} already exists (use -f to overwrite)")


def _process_umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux), else by setting
    and restoring it."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path: Path) -> int:
    """The permissions `path` would have if written in place: an existing file's own (overwritten with
    -f), else what a new file gets under the umask. mkstemp's temp files are private (0600), and
    renaming keeps that, so without this every output would be readable by its owner alone."""
    with contextlib.suppress(OSError):
        return path.stat().st_mode & 0o7777
    return 0o666 & ~_process_umask()


@contextlib.contextmanager
def atomic_file(path: Path, force: bool) -> Iterator[BinaryIO]:
    """Write to a temp file beside `path`; rename over it only if the block finishes without error."""
    path = Path(path)
    refuse_existing([path], force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # not on Windows before Python 3.13, where files are not mode-private anyway
            with contextlib.suppress(OSError):  # a filesystem without modes: the file stays private
                os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staging_directory(root: Path, names: list[str], force: bool) -> Iterator[Path]:
    """Yield a hidden staging directory; on success move its files to root/<name>, else delete it.

    `names` may grow while the block runs (streams whose length is unknown up front): without `force`,
    clashes are refused before anything is staged and again before anything is moved."""
    root = Path(root)
    refuse_existing((root / name for name in names), force)
    root.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".darnzip-tmp", dir=root.parent))
    try:
        yield stage
        refuse_existing((root / name for name in names), force)
        for name in names:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(stage / name, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
