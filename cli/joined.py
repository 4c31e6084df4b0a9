"""Joined archives: `cat` joins archives of one kind without decoding them, and `decompress` restores a
joined file as one: the images of every archive into one directory, or the frames of every archive as
one stream. The index at the end of each archive (darnzip.core.index) is what lets a reader find them."""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import click

from darnzip.core.atomic import atomic_file, staging_directory
from darnzip import ArchiveError

from .app import main, progress_bar
from .errors import fail, friendly_errors
from .stdout import binary_stdout, stdout_is_terminal
from .text import quantity


def joined_headers(path: str, model_name: str | None) -> tuple[str, list[dict]]:
    """The kind of the archives a file joins ("images" or "frames") and their headers, read from the
    indexes and headers alone."""
    from darnzip.access import open_archive

    with open_archive(path, model_name) as archive:
        return archive.kind, [member.header for member in archive.members]


def repeated(names: list[str]) -> str | None:
    seen = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def restore_joined(path: str, output, to_stdout: bool, force: bool, quiet: bool, model_name, workers: int) -> None:
    """Restore every archive a file joins; nothing is written unless all of them decode and check out."""
    kind, headers = joined_headers(path, model_name)
    if kind == "images":
        restore_joined_images(path, headers, output, to_stdout, force, quiet, model_name, workers)
    else:
        restore_joined_frames(path, headers, output, to_stdout, force, quiet, model_name, workers)


def restore_joined_images(path, headers, output, to_stdout, force, quiet, model_name, workers) -> None:
    from darnzip.images import archive as arc
    from darnzip.images.sources import safe_output_path, source_bytes, unpack_entries

    from .members import archive_members

    names = [entry["name"] for header in headers for entry in unpack_entries(header["sources"])]
    if to_stdout:
        fail(f"the file joins {len(headers)} archives of {quantity(len(names), 'file')}; restore them to a "
             "directory (-o DIR)")
    clash = repeated(names)
    if clash is not None:
        fail(f"{clash} is in more than one of the joined archives; nothing restored")
    root = Path(output) if output else Path(path).with_suffix("")
    for name in names:
        safe_output_path(root, name)
    count = sum(header["count"] for header in headers)
    with progress_bar(count, quiet, "decompress") as bar, staging_directory(root, names, force) as stage:
        for archive in archive_members(path, model_name):
            opened = arc.open_archive(archive.src, archive.model)
            for entry, bits in arc.iter_sources(opened, workers, bar.update):
                target = safe_output_path(stage, entry["name"])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source_bytes(entry, bits))
    if not quiet:
        click.echo(f"{quantity(count, 'image')} in {quantity(len(names), 'file')} from {len(headers)} joined "
                   f"archives -> {root}", err=True)


def restore_joined_frames(path, headers, output, to_stdout, force, quiet, model_name, workers) -> None:
    """The frames of every archive, in order, as one stream: one directory of images named as their
    headers say, or one .npy / .mkv, or raw frames with -c."""
    from darnzip.core.names import decode_names
    from darnzip.frames.stream import decompress_frames

    from .members import archive_members
    from .frame_commands import frame_progress, frame_sink, open_frame_archive

    sources = [header.get("source") or {} for header in headers]
    if len({source.get("type") for source in sources}) != 1 or len({str(source.get("fps")) for source in sources}) != 1:
        fail("the joined archives hold different kinds of source (or frame rates); nothing restored")
    names = None
    if sources[0].get("type") == "images":
        names = [name for source in sources for name in decode_names(source["names"])]
        clash = repeated(names)
        if clash is not None:
            fail(f"{clash} is in more than one of the joined archives; nothing restored")
    sink, output = frame_sink(sources[0], names, path, output, to_stdout, force)
    count = 0
    with sink, frame_progress(quiet, "decompress", None) as bar:
        for archive in archive_members(path, model_name):
            reader, loaded, missing = open_frame_archive(archive.src, archive.frame_start, archive.model)
            for frame in decompress_frames(reader, loaded, workers, bar.update, missing):
                sink.write(frame)
                count += 1
    if not quiet:
        click.echo(f"{quantity(count, 'frame')} from {len(headers)} joined archives -> {output or 'stdout'}", err=True)


def checked_kind(path: str) -> str:
    """Read every record of a file's archives (checksums, trailers, indexes; nothing decoded) and say
    which kind they are; refuse a file of an older format, which has no index to be found by."""
    from darnzip.frames.container import INDEXED_FROM as FRAMES_INDEXED, FrameArchiveReader
    from darnzip.images.container import INDEXED_FROM as IMAGES_INDEXED, ArchiveReader

    from .members import archive_members

    kinds = set()
    for archive in archive_members(path, None):
        if archive.frame_start is not None:
            reader, kind, first = FrameArchiveReader(archive.src, archive.frame_start), "frames", FRAMES_INDEXED
        else:
            reader, kind, first = ArchiveReader(archive.src), "images", IMAGES_INDEXED
        if reader.version < first:
            raise ArchiveError(f"{kind} format version {reader.version} has no chunk index and cannot be joined "
                               "(decompress it and compress it again)")
        for _ in reader.chunks():
            pass
        kinds.add(kind)
    if len(kinds) != 1:
        raise ArchiveError("it joins image and frame archives")
    return kinds.pop()


@main.command("cat")
@click.argument("archives", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="The joined archive to write.")
@click.option("-c", "--stdout", "to_stdout", is_flag=True, help="Write the joined archive to standard output.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("-q", "--quiet", is_flag=True)
@friendly_errors
def cat(archives, output, to_stdout, force, quiet):
    """Join archives of one kind into one file, without decoding or re-coding them.

    The result holds every archive in order: list and test go through all of them, decompress restores
    all of them (images into one directory, frames as one stream), and darnzip.open_archive reads any
    chunk of it. Each input's records, checksums and index are checked first. Plain `cat a.dz b.dz >
    c.dz` writes the same bytes, unchecked."""
    if "-" in archives:
        fail("cat joins files; standard input cannot be one of them")
    if not output and not to_stdout:
        fail("name the joined archive with -o FILE (or use -c)")
    if to_stdout and stdout_is_terminal():
        fail("refusing to write an archive to a terminal (use -o FILE)")
    kinds = {}
    for path in archives:
        try:
            kinds[path] = checked_kind(path)
        except ArchiveError as exc:
            fail(f"{path}: {exc}")
    if len(set(kinds.values())) != 1:
        fail("the archives are not all of one kind (binary images and frame streams cannot be joined)")
    if output and not force and any(Path(output).resolve() == Path(path).resolve() for path in archives):
        fail(f"{output} is one of the inputs (use -f to overwrite it)")
    with contextlib.ExitStack() as stack:
        out = binary_stdout() if to_stdout else stack.enter_context(atomic_file(Path(output), force))
        total = 0
        for path in archives:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
                total += src.tell()
        out.flush()
    if not quiet:
        click.echo(f"{quantity(len(archives), 'archive')} joined -> {output or 'stdout'} ({total} bytes)", err=True)
