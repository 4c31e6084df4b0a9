"""Inputs and outputs of both wings: how input files are found, and where restored files may go."""
from __future__ import annotations

import os
from pathlib import Path


class InputError(ValueError):
    """An input cannot be compressed losslessly by this model; the message says why."""


def files_below(root: Path, suffixes: set[str]) -> list[Path]:
    """Files under `root` with one of `suffixes` (lower case), each directory's files in name order
    before its subdirectories. Symlinked directories are not entered (a link to a parent would loop);
    a symlink to a missing file is listed, so that reading it fails by name instead of its frame or
    image going missing without a word."""
    files = []
    for directory, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        files.extend(Path(directory) / name for name in sorted(names) if Path(name).suffix.lower() in suffixes)
    return files


def safe_output_path(root: Path, name: str) -> Path:
    """root/name, refusing names that would escape root (absolute paths, '..')."""
    candidate = Path(name)
    if candidate.is_absolute() or ".." in candidate.parts or not candidate.parts:
        raise InputError(f"refusing unsafe name in archive: {name!r}")
    return root / candidate


# what an input read from a pipe is called in an archive (stdin.png, stdin.npy): it had no name
STDIN_STEM = "stdin"


def restored_file_name(archive_path: str, stored_name: str) -> Path:
    """Where an archive of one file restores without -o, as `zstd -d` restores: the archive's name less
    its .dz (frame.png.dz -> frame.png) when that keeps the stored file's suffix, else the stored file's
    name beside the archive; an input that came on a pipe (stored as stdin.png, stdin.npy) takes the
    archive's name with its suffix (shot.dz -> shot.png). (It restored into a directory named frame.png,
    holding frame.png, and failed with "File exists" where frame.png itself was.)"""
    archive, stored = Path(archive_path), Path(stored_name)
    stripped = archive.with_suffix("") if archive.suffix.lower() == ".dz" else None
    if stripped is not None and stripped.suffix.lower() == stored.suffix.lower() and stripped.name:
        return stripped
    if stored.stem == STDIN_STEM and stripped is not None and stripped.name:
        return stripped.with_name(stripped.name + stored.suffix)
    return safe_output_path(archive.parent, stored.name)


