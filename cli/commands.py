"""The archive commands: compress, decompress, test, list, models."""
from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import click

from darnzip.images import archive as arc
from darnzip.images.container import ArchiveReader
from darnzip import ArchiveError, InputError, ModelError
from darnzip.core.atomic import atomic_file, staging_directory
from darnzip.core.zoo import registry
from darnzip.images.modelfile import DEFAULT_MODEL
from darnzip.images.sources import (STDIN_STEM, find_inputs, load_sources, restored_file_name, safe_output_path,
                             shapes_fit, source_bytes, source_count, unpack_entries)
from darnzip.pages.modelfile import default_binary_model, named_binary_model

from darnzip.frames.container import DEFAULT_CHUNK_FRAMES, MAX_CHUNK_FRAMES

from .app import default_workers, main, names_a_frame_stream, progress_bar
from .embedding import embedded_block, embedded_note
from .errors import each_archive, fail, friendly_errors, naming
from .members import archive_members, joined_count, refuse_joined_stream
from .stdout import binary_stdin, binary_stdout, stdin_is_terminal, stdout_is_terminal
from .text import quantity


# ---- compress ----------------------------------------------------------------------------------------
@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Archive to write.")
@click.option("-c", "--stdout", "to_stdout", is_flag=True, help="Write the archive to standard output.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("-k", "--keep", is_flag=True, help="Keep inputs (always done; accepted for zstd compatibility).")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no summary.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the free-energy accounting.")
@click.option("--model", "model_name", default=None,
              help=f"Registered model id or .safetensors path [binary images: {DEFAULT_MODEL}; frame streams: the "
                   "installed frame model whose palette covers the first frame].")
@click.option("--chunk-size", default=8192, show_default=True, help="Most images per independent chunk.")
@click.option("--batch-size", default=1024, show_default=True, help="Images per coder call after the ramp.")
@click.option("--first-batch", default=1, show_default=True, help="Images per chunk coded without bits back.")
@click.option("--particles", default=arc.DEFAULT_PARTICLES, show_default=True,
              help="Posterior samples per image: K > 1 = McBits, closer to the NLL, slower; 1 = bits-back (free energy), fastest.")
@click.option("--chunk-frames", type=click.IntRange(1, MAX_CHUNK_FRAMES), default=None,
              help=f"Frame streams: frames per independent chunk [{DEFAULT_CHUNK_FRAMES}; for a stream no model fits, "
                   "about 64 Mi pixels a chunk].")
@click.option("--frames", "as_frames", is_flag=True,
              help="Treat the input as a frame stream (implied for videos, RGB arrays and colour PNGs).")
@click.option("-T", "--threads", "workers", default=0, show_default=True, help="Worker processes (0: one per core).")
@click.option("--embed-model", is_flag=True,
              help="Store the model (compressed) in the archive, so that it decodes where the model is not installed.")
@friendly_errors
def compress(paths, output, to_stdout, force, keep, quiet, verbose, model_name, chunk_size, batch_size, first_batch,
             particles, chunk_frames, as_frames, workers, embed_model):
    """Compress binary images (files, directories, .npy) or a frame stream (PNG directory, RGB .npy, video).

    '-' reads one input from stdin: binary images as a PNG or .npy, or a frame stream as an RGB .npy
    (read frame by frame) or a video (Matroska, MP4, GIF, AVI, NUT; --frames for other containers)."""
    from darnzip.images.container import MAX_BATCH_IMAGES, MAX_CHUNK_IMAGES
    from darnzip.frames.io import NPY_MAGIC, PeekedStream

    stdin = None
    if tuple(paths) == ("-",):
        if stdin_is_terminal():
            fail("refusing to read input from a terminal (pipe it in, or name a file)")
        stdin = PeekedStream(binary_stdin())  # its first bytes tell frames from binary images
        if not stdin.head:
            fail("standard input is empty: nothing to compress")
    if as_frames or names_a_frame_stream(paths, model_name, stdin):
        from .frame_commands import compress_frame_inputs

        compress_frame_inputs(list(paths), output, to_stdout, force, quiet, verbose, model_name, chunk_frames,
                              default_workers(workers), stdin, embed_model)
        return

    if not 1 <= particles <= arc.MAX_PARTICLES:
        fail(f"need 1 <= --particles <= {arc.MAX_PARTICLES}")
    if not (1 <= chunk_size <= MAX_CHUNK_IMAGES and 1 <= first_batch <= batch_size <= MAX_BATCH_IMAGES):
        fail(f"need 1 <= --chunk-size <= {MAX_CHUNK_IMAGES} and 1 <= --first-batch <= --batch-size <= {MAX_BATCH_IMAGES}")
    # a model named that cannot be loaded fails before the inputs are read
    page_model, loaded = (None, None) if model_name is None else named_binary_model(model_name)
    with tempfile.TemporaryDirectory() as tmp:
        paths = list(paths)
        if "-" in paths:
            if len(paths) > 1:
                fail("'-' (stdin) cannot be combined with other inputs")
            data = stdin.reader.read()
            stdin_file = Path(tmp) / (STDIN_STEM + (".npy" if data.startswith(NPY_MAGIC) else ".png"))
            stdin_file.write_bytes(data)
            paths = [str(stdin_file)]
            if output is None:
                to_stdout = True
        try:
            files = find_inputs(paths)
            if model_name is None:
                page_model, loaded = default_binary_model(lambda shape: shapes_fit(files, shape))
            if page_model is None:
                sources = list(load_sources(files, tuple(loaded.config.image_shape),
                                            " (leave out --model: images of any size use the page model; or "
                                            "darnzip train DATA... trains a model of your images' size)"))
            else:
                sources = list(load_sources(files, None))
        except InputError as exc:
            if stdin is None:
                raise
            raise InputError(str(exc).replace(paths[0], "stdin")) from None  # not the temp file's name
        target = None if to_stdout else Path(output) if output else default_archive_name(paths)
        if target is not None and not force and any(target.resolve() == f.resolve() for f, _ in files):
            fail(f"{target} is one of the inputs (use -f to overwrite it)")
        if to_stdout and stdout_is_terminal():
            fail("refusing to write an archive to a terminal (use -o FILE)")
        count = sum(len(bits) for _, bits in sources)
        if page_model is not None:
            if embed_model:
                fail("--embed-model: the page model ships with darnzip; its archives name it by id and SHA-256")
            compress_page_sources(sources, page_model, target, to_stdout, force, quiet, count)
            return
        options = arc.CodingOptions(chunk_size, first_batch, batch_size, default_workers(workers), particles)
        model_block = b""
        if embed_model:
            model_block = embedded_block(loaded)
        with progress_bar(count, quiet, "compress") as bar:
            if to_stdout:
                buffer = io.BytesIO(model_block)
                buffer.seek(len(model_block))
                stats = arc.compress_stream(buffer, sources, loaded, options, bar.update, len(model_block))
                out = binary_stdout()
                out.write(buffer.getvalue())
                out.flush()
            else:
                with atomic_file(target, force) as f:
                    f.write(model_block)
                    stats = arc.compress_stream(f, sources, loaded, options, bar.update, len(model_block))
    if not quiet:
        click.echo(summary_line(stats, target, particles) + embedded_note(len(model_block), stats.archive_bytes,
                                                                          stats.images, "image"), err=True)
        if verbose:
            click.echo(json.dumps(arc.accounting(stats), indent=2), err=True)


def compress_page_sources(sources, page_model, target, to_stdout, force, quiet, count) -> None:
    """Write the archive of images of any size with the page model, atomically (or to stdout)."""
    from darnzip.pages.archive import compress_pages

    model_id, model, sha = page_model
    with progress_bar(count, quiet, "compress") as bar:
        if to_stdout:
            buffer = io.BytesIO()
            stats = compress_pages(buffer, sources, model_id, model, sha, bar.update)
            out = binary_stdout()
            out.write(buffer.getvalue())
            out.flush()
        else:
            with atomic_file(target, force) as f:
                stats = compress_pages(f, sources, model_id, model, sha, bar.update)
    if not quiet:
        where = f" -> {target}" if target else ""
        click.echo(f"{quantity(stats.images, 'image')}{where}: {stats.archive_bytes} bytes, "
                   f"{8 * stats.archive_bytes / max(1, stats.pixels):.4f} bits/pixel "
                   f"({stats.pixels / 8 / max(1, stats.archive_bytes):.1f}x vs 1 bit/pixel), page model {model_id}, "
                   f"{stats.copies} of {stats.patches} patches copied", err=True)


def default_archive_name(paths: list[str]) -> Path:
    if len(paths) != 1:
        fail("several inputs: name the archive with -o")
    source = Path(paths[0])
    return source.parent / (source.name.rstrip("/") + ".dz")


def summary_line(stats: arc.CompressStats, target: Path | None, particles: int = 1) -> str:
    """McBits archives track the IWAE estimate of their particles; bits-back ones the free energy."""
    a = arc.accounting(stats)
    where = f" -> {target}" if target else ""
    target_name = "free energy" if particles == 1 else f"{particles}-particle IWAE estimate"
    return (f"{quantity(stats.images, 'image')}{where}: {stats.archive_bytes} bytes, {a['bits_per_image']:.2f} bits/image "
            f"({target_name} {a['free_energy_bits_per_image']:.2f}, gap {a['gap_percent']:+.2f}%)")


# ---- decompress / test / list ---------------------------------------------------------------------------
@main.command()
@click.argument("archive_path", metavar="ARCHIVE")
@click.option("-o", "--output", help="Output directory (or a file name when the archive holds one source).")
@click.option("-c", "--stdout", "to_stdout", is_flag=True, help="Write the single source to standard output.")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing output files.")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--model", "model_name", default=None, help="Use this model file instead of the registered one.")
@click.option("-T", "--threads", "workers", default=0, show_default=True, help="Worker processes (0: one per core).")
@friendly_errors
def decompress(archive_path, output, to_stdout, force, quiet, model_name, workers):
    """Restore the files of an archive, pixel-exact, with their names and order.

    An archive of one file restores to that file, as zstd -d does (x.png.dz -> x.png). Frame archives
    restore to a PNG directory, or to OUTPUT.npy / OUTPUT.mkv (FFV1) / OUTPUT.png|ppm|bmp (one frame) by
    suffix; -c writes raw rgb24 frames (an archive of one image: that image file)."""
    try:
        restore_archive(archive_path, output, to_stdout, force, quiet, model_name, workers)
    except (ArchiveError, ModelError) as exc:  # what is wrong with the archive, or its model, names it, as test does
        raise type(exc)(naming(archive_path, str(exc))) from None


def restore_archive(archive_path, output, to_stdout, force, quiet, model_name, workers):
    if (joined_count(archive_path) or 1) > 1:
        from .joined import restore_joined

        restore_joined(archive_path, output, to_stdout, force, quiet, model_name, default_workers(workers))
        return
    for archive in archive_members(archive_path, model_name):  # one, unless a pipe brings joined archives
        if archive.number:
            raise ArchiveError("the stream joins several archives: decompress it from a file (darnzip cat joins "
                               "them; random access and restoring all of them need the index at its end)")
        if archive.frame_start is not None:
            from .frame_commands import decompress_frame_archive, open_frame_archive

            reader, loaded, missing = open_frame_archive(archive.src, archive.frame_start, archive.model)
            decompress_frame_archive(reader, loaded, archive_path, output, to_stdout, force, quiet,
                                     default_workers(workers), missing)
            return
        restore_images(archive, archive_path, output, to_stdout, force, quiet, workers)


def restore_images(archive, archive_path, output, to_stdout, force, quiet, workers):
    opened = arc.open_archive(archive.src, archive.model)
    entries = list(unpack_entries(opened.header["sources"]))
    if len(entries) == 1 and output is None and archive_path != "-" and not to_stdout:
        output = str(restored_file_name(archive_path, entries[0]["name"]))
    single = len(entries) == 1 and output is not None and Path(output).suffix == Path(entries[0]["name"]).suffix
    with progress_bar(opened.header["count"], quiet, "decompress") as bar:
        if to_stdout or single:
            if len(entries) != 1:
                fail(f"archive holds {len(entries)} files; use -o DIR")
            if to_stdout and stdout_is_terminal() and entries[0]["type"] == "npy":
                fail("refusing to write binary data to a terminal (use -o)")
            blobs = [source_bytes(e, bits) for e, bits in arc.iter_sources(opened, default_workers(workers), bar.update)]
            refuse_joined_stream(archive.src)
            if to_stdout:
                out = binary_stdout()
                out.write(blobs[0])
                out.flush()
            else:
                with atomic_file(Path(output), force) as f:
                    f.write(blobs[0])
            written = output or "stdout"
        else:
            if output is None and archive_path == "-":
                fail("reading from stdin: name the output directory with -o (or use -c)")
            root = Path(output) if output else Path(archive_path).with_suffix("")
            names = [e["name"] for e in entries]
            for name in names:
                safe_output_path(root, name)
            with staging_directory(root, names, force) as stage:
                for entry, bits in arc.iter_sources(opened, default_workers(workers), bar.update):
                    path = safe_output_path(stage, entry["name"])
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(source_bytes(entry, bits))
                refuse_joined_stream(archive.src)
            written = root
    if not quiet:
        click.echo(f"{quantity(opened.header['count'], 'image')} in {quantity(len(entries), 'file')} -> {written}",
                   err=True)


@main.command("test")
@click.argument("archives", nargs=-1, required=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--model", "model_name", default=None)
@click.option("-T", "--threads", "workers", default=0)
@friendly_errors
def test_command(archives, quiet, model_name, workers):
    """Decode archives completely and check every checksum; writes nothing."""

    def test_one(path: str) -> None:
        counts = {"image": 0, "frame": 0}
        members = 0
        for archive in archive_members(path, model_name):
            members += 1
            if archive.frame_start is not None:
                from .frame_commands import open_frame_archive, test_frame_archive

                reader, loaded, missing = open_frame_archive(archive.src, archive.frame_start, archive.model)
                counts["frame"] += test_frame_archive(reader, loaded, quiet, default_workers(workers), missing)
                continue
            opened = arc.open_archive(archive.src, archive.model)
            with progress_bar(opened.header["count"], quiet, "test") as bar:
                for _ in arc.decode_images(opened, default_workers(workers), bar.update):
                    pass
            counts["image"] += opened.header["count"]
        if not quiet:
            held = " and ".join(quantity(n, unit) for unit, n in counts.items() if n) or "nothing"
            joined = f" in {members} joined archives" if members > 1 else ""
            click.echo(f"{path}: OK ({held}{joined})", err=True)

    each_archive(archives, test_one)


@main.command("list")
@click.argument("archives", nargs=-1, required=True)
@click.option("-v", "--verbose", is_flag=True, help="Also list every file name.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@friendly_errors
def list_command(archives, verbose, as_json):
    """Show what an archive holds (model, images, files, size) without decoding it."""
    each_archive(archives, lambda path: list_one(path, verbose, as_json))


def list_one(path: str, verbose: bool, as_json: bool) -> None:
    """One line per archive (each of a joined file's, then their total), or one JSON object each."""
    listings = []
    for archive in archive_members(path, None):
        if archive.frame_start is not None:
            from darnzip.frames.container import FrameArchiveReader

            from .frame_commands import frame_listing

            listings.append(frame_listing(FrameArchiveReader(archive.src, archive.frame_start), path, verbose,
                                          archive.model_bytes))
        else:
            listings.append(image_listing(ArchiveReader(archive.src), path, verbose, archive.model_bytes))
    for number, (info, lines) in enumerate(listings):
        if len(listings) > 1:
            info = {**info, "member": number + 1, "members": len(listings)}
            lines = [lines[0].replace(f"{path}: ", f"{path} [{number + 1}/{len(listings)}]: ", 1), *lines[1:]]
        click.echo(json.dumps(info) if as_json else "\n".join(lines))
    if len(listings) > 1 and not as_json:
        total = sum(info["bytes"] for info, _ in listings)
        held = {unit: sum(info.get(unit, 0) for info, _ in listings) for unit in ("images", "frames")}
        click.echo(f"{path}: {len(listings)} joined archives, "
                   + " and ".join(f"{n:,} {unit}" for unit, n in held.items() if n) + f", {total} bytes")


def image_listing(reader, path: str, verbose: bool, model_bytes: int) -> tuple[dict, list[str]]:
    """What `list` says about a binary-image archive, read to its end (no decoding)."""
    chunks = sum(1 for _ in reader.chunks())
    size = reader.archive_bytes
    header = reader.header
    entries = list(unpack_entries(header["sources"]))
    count = header["count"]
    shape = header.get("image_shape")  # None: images of any size, each its own (the page coder)
    pixels = count * shape[0] * shape[1] if shape else sum(
        source_count(e) * e["shape"][-2] * e["shape"][-1] for e in entries)
    info = {
        "archive": path, "bytes": size + model_bytes, "model_bytes": model_bytes, "data_bytes": size,
        "model": header["model"]["id"], "model_sha256": header["model"]["sha256"],
        "images": count, "image_shape": shape, "pixels": pixels, "files": len(entries), "chunks": chunks,
        "bits_per_image": 8 * size / count if count else 0.0,
        "ratio": (pixels / 8) / size if size else 0.0,
    }
    if verbose:
        info["names"] = [e["name"] for e in entries]
    size_text = f"{shape[1]}x{shape[0]}" if shape else "of any size"
    lines = [f"{path}: {quantity(count, 'image')} {size_text} in {quantity(len(entries), 'file')}, "
             f"{quantity(chunks, 'chunk')}, {size} bytes = {info['bits_per_image']:.2f} bits/image "
             f"({info['ratio']:.2f}x vs 1 bit/pixel), model {info['model']} ({info['model_sha256'][:12]})"
             + embedded_note(model_bytes, size, count, "image")]
    if verbose:
        lines += [f"  {e['name']}  ({source_count(e)} images)" for e in entries]
    return info, lines


@main.command("models")
@click.option("-a", "--all", "show_all", is_flag=True,
              help="Also the registered models whose files are not installed (older versions).")
@click.option("-v", "--verbose", is_flag=True, help="Each model's lineage (parent, how it was made) and file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--recipe", "recipe_of", default=None, metavar="ID",
              help="How model ID was made: each step from the first ancestor, with its command.")
def models_command(show_all, verbose, as_json, recipe_of):
    """List the installed models, each model's versions in order. '*' marks the newest installed version,
    which --model NAME without a version (atari-pong) means, and which compress picks among versions
    that cover a stream's colours."""
    from darnzip.core.zoo import find_file, installed_ids, kind_of, lineage, registered_id, versions_by_name

    entries, installed = registry(), set(installed_ids())
    if recipe_of is not None:
        chain = lineage(registered_id(recipe_of))
        if chain[0] not in entries:
            fail(f"model '{recipe_of}' is not registered")
        for model_id in reversed(chain):
            entry = entries[model_id]
            click.echo(f"# {model_id}: {entry.get('description', '')}")
            made = entry.get("made_with", "")
            click.echo(made if " --" in made else f"{made or '(not recorded)'}  # its arguments were not recorded")
        return
    shown = {k: v for k, v in entries.items() if show_all or k in installed}
    for name, ids in sorted(versions_by_name(shown).items()):
        newest_id = registered_id(name)
        for model_id in ids:
            entry, newest = entries[model_id], model_id == newest_id and model_id in installed
            path = find_file(entry)
            if as_json:
                click.echo(json.dumps({"id": model_id, "kind": kind_of(entry), "newest": newest,
                                       "installed": path is not None, "path": str(path) if path else None,
                                       "lineage": lineage(model_id), **entry}))
                continue
            mark = "*" if newest else " " if model_id in installed else "-"
            line = f"{mark} {model_id:24s} [{kind_of(entry)}]  sha256 {entry['sha256'][:12]}  {entry.get('description', '')}"
            if verbose:
                made = f", made with {entry['made_with']}" if entry.get("made_with") else ""
                parent = f"from {entry['parent']}" if entry.get("parent") else "trained from scratch"
                line += f"  ({parent}{made}; {path if path else 'files not installed'})"
            click.echo(line)
