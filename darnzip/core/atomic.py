"""Output that appears whole or not at all: temp file or staging directory, renamed on success."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

__all__ = ["OutputExists", "atomic_file", "refuse_existing", "staging_directory"]  # the public names (docs/api.md)


class OutputExists(FileExistsError):
    pass


def output_exists(path) -> OutputExists:
    """The one message of every output that -f may overwrite."""
    return OutputExists(f"{path} already exists (use -f to overwrite)")


def refuse_existing(paths, force: bool = False) -> None:
    """Raise OutputExists for the first of `paths` (None and "" skipped) that exists, unless `force`."""
    if force:
        return
    for path in paths:
        if path and Path(path).exists():
            raise output_exists(path)


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


# Temp files and staging directories carry their writer's pid, so that a later run can tell the debris
# of a run killed outright (kill -9, a power cut) from the work of a live one, and remove it.
TEMP_MARK = ".darnzip-"
_TEMP_NAME = re.compile(r"^\..*\.darnzip-(\d+)-[A-Za-z0-9_]+\.(tmp|stage)$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's live process: not ours to judge
    return True


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove the temp files and staging directories in `directory` that a darnzip process left when it
    was killed (its pid no longer runs); returns what was removed. Nothing else is touched."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            match = _TEMP_NAME.match(entry.name)
            if match and not _pid_alive(int(match.group(1))):
                path = Path(entry.path)
                with contextlib.suppress(OSError):
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                    removed.append(path)
    return removed


def _temp_prefix(name: str) -> str:
    return f".{name}{TEMP_MARK}{os.getpid()}-"


def place_without_replacing(source: Path, target: Path) -> None:
    """Move `source` to `target` only if nothing is there, decided at the moment of the move (a hard link
    fails on an existing name), so that an output which appeared while we worked, say another darnzip
    writing the same name, is refused rather than replaced. Where the filesystem has no hard links, the
    move keeps its check-then-rename window."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise output_exists(target) from None
    except OSError:  # no hard links here (FAT, some network and FUSE filesystems)
        refuse_existing([target])
        os.replace(source, target)
        return
    os.unlink(source)


@contextlib.contextmanager
def atomic_file(path: Path, force: bool) -> Iterator[BinaryIO]:
    """Write to a temp file beside `path`; put it in place only if the block finishes without error (over
    an existing file only with `force`)."""
    path = Path(path)
    refuse_existing([path], force)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # not on Windows before Python 3.13, where files are not mode-private anyway
            with contextlib.suppress(OSError):  # a filesystem without modes: the file stays private
                os.fchmod(fd, _mode_for(path))
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
        else:
            place_without_replacing(Path(tmp), path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def staging_directory(root: Path, names: list[str], force: bool) -> Iterator[Path]:
    """Yield a hidden staging directory; on success move its files to root/<name>, else delete it.

    The stage is made inside `root` when root is an existing directory (a mount point, or a link to
    another filesystem, where a stage beside it would be on another device), else beside it. `names` may
    grow while the block runs (streams whose length is unknown up front): without `force`, clashes are
    refused before anything is staged, again before anything is moved, and at each move; a clash at a
    move takes back the files already moved, so that nothing is left half-restored."""
    root = Path(root)
    refuse_existing((root / name for name in names), force)
    inside = root.is_dir()
    parent = root if inside else root.parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(parent)
    stage = Path(tempfile.mkdtemp(prefix=_temp_prefix(root.name), suffix=".stage", dir=parent))
    placed: list[Path] = []
    try:
        yield stage
        refuse_existing((root / name for name in names), force)
        for name in names:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if force:
                os.replace(stage / name, target)
            else:
                place_without_replacing(stage / name, target)
                placed.append(target)
    except BaseException:
        for target in placed:
            with contextlib.suppress(OSError):
                target.unlink()
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
