"""The frame-stream side of compress, decompress, test and list (chosen by input type or archive magic)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from darnzip.core.atomic import atomic_file
from darnzip.frames.container import FrameArchiveReader
from darnzip.frames.zoo import (chunk_frames_for, model_or_why_not, newest_game_model, pick_frame_model,  # noqa: F401
                                      resolve_frame_model)

from .embedding import embedded_block, embedded_note, two_part_line
from .errors import fail
from .members import refuse_joined_stream
from .reports import save_figure, write_json
from .stdout import binary_stdin, binary_stdout, stdout_is_terminal
from .text import quantity

if TYPE_CHECKING:
    from darnzip.frames.stream import FrameStreamStats

# darnzip.frames.stream (the coder) is imported by the commands that code: it imports torch, ~1.6 s here,
# which `list` does not need.


def frame_progress(quiet: bool, desc: str, total: int | None):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=desc, disable=True if quiet else None, leave=False, file=sys.stderr)


def frame_accounting(stats: FrameStreamStats) -> dict:
    from darnzip.frames.stream import frame_accounting as accounting  # the coder imports torch: only when coding

    return accounting(stats)


def compress_frame_inputs(paths, output, to_stdout, force, quiet, verbose, model_name, chunk_frames, workers,
                          stdin=None, embed_model=False):
    """`stdin`: standard input as a PeekedStream when its first bytes were read to tell what it holds."""
    from darnzip.frames.io import PeekedStream, open_frame_source, stdin_frame_source
    from darnzip.frames.stream import compress_frames
    from darnzip import InputError

    if len(paths) != 1:
        fail("frame streams are compressed one source at a time (a directory, a .npy array or a video)")
    path = paths[0]
    if path == "-":
        source = stdin_frame_source(stdin if stdin is not None else PeekedStream(binary_stdin()))
        if output is None:
            to_stdout = True
    else:
        source = open_frame_source(path)
    frames = iter(source)
    first = next(frames, None)
    if first is None:
        raise InputError(f"{path}: no frames")
    loaded = pick_frame_model(model_name, first)
    chunk_frames = chunk_frames_for(loaded, first, chunk_frames)

    def all_frames():
        yield first
        yield from frames

    target = None if to_stdout else Path(output) if output else Path(str(path).rstrip("/") + ".dz")
    if target is not None and not force and any(target.resolve() == Path(p).resolve() for p in source.inputs):
        fail(f"{target} is one of the inputs (use -f to overwrite it)")
    if to_stdout and stdout_is_terminal():
        fail("refusing to write an archive to a terminal (use -o FILE)")
    with frame_progress(quiet, "compress", source.length) as bar:
        model_block = embedded_block(loaded) if embed_model else b""
        if to_stdout:
            out = binary_stdout()
            out.write(model_block)
            stats = compress_frames(out, all_frames(), source.describe, loaded, chunk_frames, workers, bar.update,
                                    source.length, len(model_block))
            out.flush()
        else:
            with atomic_file(target, force) as f:
                f.write(model_block)
                stats = compress_frames(f, all_frames(), source.describe, loaded, chunk_frames, workers, bar.update,
                                        source.length, len(model_block))
    if not quiet:
        a = frame_accounting(stats)
        where = f" -> {target}" if target else ""
        free_energy = f", free energy {a['free_energy_bits_per_modelled_frame']:.1f} bits/frame" if stats.modelled else ""
        click.echo(f"{quantity(stats.frames, 'frame')}{where}: {stats.archive_bytes} bytes, {a['bits_per_frame']:.1f} bits/frame "
                   f"(model {loaded.model_id}; {stats.modelled} modelled{free_energy}; {stats.raw} stored raw)"
                   + embedded_note(len(model_block), stats.archive_bytes, stats.frames, "frame"), err=True)
        if stats.raw:
            click.echo(raw_frames_note(stats, loaded), err=True)
        if verbose:
            click.echo(json.dumps(a, indent=2), err=True)


def raw_frames_note(stats: FrameStreamStats, loaded) -> str:
    """Why frames went to the raw side, and what would code them: a stream that no installed model fits
    was compressed at ~1x with nothing but the summary's numbers to say so."""
    cfg = loaded.config
    misfits = stats.raw - stats.chosen_over_model
    notes = []
    if misfits:
        notes.append(f"note: {misfits} of {quantity(stats.frames, 'frame')} stored raw (by the best of "
                     f"{'the universal frame model, ' if stats.universal > stats.chosen_over_model else ''}"
                     "zstd, xz and bzip2): "
                     f"{loaded.model_id} codes {cfg.width}x{cfg.height} frames of its {len(loaded.palette)} colours, "
                     "and these differ in size or colours")
        if 2 * misfits > stats.frames:
            notes[-1] += "; `darnzip train-frames` trains a model for a stream of your own"
    if stats.chosen_over_model:
        notes.append(f"note: {stats.chosen_over_model} of {quantity(stats.frames, 'frame')} coded by the universal "
                     f"frame model, whose code of their chunks was shorter than {loaded.model_id}'s")
    return "\n".join(notes)




def decompress_frame_archive(reader, loaded, archive_path, output, to_stdout, force, quiet, workers, missing=None):
    from darnzip.core.names import decode_names
    from darnzip.frames.stream import decompress_frames

    source = reader.header.get("source") or {}
    names = decode_names(source["names"]) if source.get("type") == "images" else None
    sink, output = frame_sink(source, names, archive_path, output, to_stdout, force)
    count = 0
    with sink, frame_progress(quiet, "decompress", reader.stated_frames()) as bar:
        for frame in decompress_frames(reader, loaded, workers, bar.update, missing):
            sink.write(frame)
            count += 1
        if reader.index is not None:  # an indexed archive may be followed by another: not from a pipe
            refuse_joined_stream(reader.src)
    if not quiet:
        click.echo(f"{quantity(count, 'frame')} -> {output or 'stdout'}", err=True)


def frame_sink(source: dict, names: list[str] | None, archive_path, output, to_stdout, force):
    """(sink, output name) for restoring frames whose header describes them as `source` (with `names`,
    decoded, for an image directory): what -o, -c and the archive's name ask for."""
    from darnzip.frames.io import IMAGE_SUFFIXES, ImageFileSink, ImageStreamSink, RawSink, file_sink
    from darnzip.images.sources import restored_file_name

    one_image = names is not None and len(names) == 1
    if to_stdout:
        if stdout_is_terminal():
            fail("refusing to write frames to a terminal (use -o)")
        # one image comes out as that image file, as from a binary archive; a stream as raw rgb24 frames
        return (ImageStreamSink(binary_stdout(), names[0]) if one_image else RawSink(binary_stdout())), None
    if output is None:
        if archive_path == "-":
            fail("reading from stdin: name the output with -o (or use -c)")
        base = Path(archive_path).with_suffix("")
        if source.get("type") == "npy":
            output = str(base.with_suffix(".npy"))
        elif source.get("type") == "video":  # clip.mp4.dz -> clip.mkv: the lossless video darnzip writes
            output = str(base.with_suffix(".mkv"))
        else:
            output = str(restored_file_name(archive_path, names[0]) if one_image else base)
    if one_image and Path(output).suffix.lower() in IMAGE_SUFFIXES:  # PNG, PPM or BMP, by the suffix
        return ImageFileSink(Path(output), force), output
    return file_sink(Path(output), force, names, source.get("fps")), output


def test_frame_archive(reader, loaded, quiet, workers, missing=None) -> int:
    """Decode a frame archive to its end, every check made; the number of frames."""
    from darnzip.frames.stream import decompress_frames

    count = 0
    with frame_progress(quiet, "test", reader.stated_frames()) as bar:
        for _ in decompress_frames(reader, loaded, workers, bar.update, missing):
            count += 1
    return count


def source_names(source: dict) -> list[str]:
    """The input's file names as the header records them: each frame's for an image directory, else the
    one array's or video's (nothing for raw frames)."""
    from darnzip.core.names import decode_names

    if source.get("type") == "images":
        return decode_names(source["names"])
    return [source["name"]] if isinstance(source.get("name"), str) else []


def frame_listing(reader, path, verbose=False, model_bytes=0) -> tuple[dict, list[str]]:
    """What `list` says about a frame archive, read to its end (no decoding)."""
    chunks = 0
    kinds = {"modelled": 0, "raw": 0}
    for chunk in reader.chunks():
        chunks += 1
        raw = int((chunk.kinds == 1).sum())
        kinds["raw"] += raw
        kinds["modelled"] += len(chunk.kinds) - raw
    size = reader.archive_bytes
    frames = reader.trailer["frames"]
    info = {"archive": path, "bytes": size + model_bytes, "model_bytes": model_bytes, "data_bytes": size,
            "model": reader.header["model"]["id"],
            "model_sha256": reader.header["model"]["sha256"], "frames": frames, **kinds, "chunks": chunks,
            "bits_per_frame": 8 * size / frames if frames else 0.0, "source": reader.header.get("source", {}).get("type")}
    names = source_names(reader.header.get("source") or {}) if verbose else []
    if verbose:
        info["names"] = names
    lines = [f"{path}: {quantity(frames, 'frame')} ({kinds['modelled']} modelled, {kinds['raw']} raw) in "
             f"{quantity(chunks, 'chunk')}, {size} bytes = {info['bits_per_frame']:.1f} bits/frame, model {info['model']} "
             f"({info['model_sha256'][:12]})" + embedded_note(model_bytes, size, frames, "frame")]
    if info["source"] == "images":  # a frame per file
        lines += [f"  {name}" for name in names]
    elif names:  # one array or video holding every frame
        lines.append(f"  {names[0]}  ({quantity(frames, 'frame')})")
    return info, lines


def sample_frame_stream(model_name: str, count: int, output: str, seed: int, force: bool) -> None:
    """`sample` for a frame model: an ancestral sample of `count` frames (darnzip/frames/sampling.py)."""
    from PIL import Image

    from darnzip.core.baselines import tile
    from darnzip.frames.io import file_sink
    from darnzip.frames.sampling import sample_frames

    if count < 1:
        fail("need --count >= 1")
    loaded = resolve_frame_model(model_name)
    out = Path(output)
    frames = sample_frames(loaded, count, seed)
    with frame_progress(False, "sample", count) as bar:
        if out.suffix.lower() == ".png":  # one image: the frames tiled, held until the grid is made
            held = []
            for frame in frames:
                held.append(frame)
                bar.update(1)
            stacked = np.stack(held)
            grid = np.stack([tile(stacked[..., c]) for c in range(3)], axis=-1)
            with atomic_file(out, force) as f:
                Image.fromarray(grid, "RGB").save(f, format="PNG")
        else:
            with file_sink(out, force) as sink:
                for frame in frames:
                    sink.write(frame)
                    bar.update(1)
    click.echo(f"{count} frames sampled from {loaded.model_id} (seed {seed}) -> {output}", err=True)


REPORT_MAX_FRAMES = 20_000  # report holds the frames (the classical codecs need the whole stream): ~2 GB of Atari


def report_frames(path: str, limit: int | None, plot: str | None, json_path: str | None, baselines: bool,
                  model_name: str | None, workers: int, chunk_frames: int, quiet: bool, force: bool = False) -> None:
    """`report` for a frame stream: the archive's real bits against the free energy the coder computed for
    each frame, after an exact round trip in memory, beside bzip2, xz and zstd on the palette indices."""
    import itertools

    from darnzip.frames.bench import byte_codecs, index_stream
    from darnzip.frames.figures import frame_figures
    from darnzip.frames.io import open_frame_source

    source = open_frame_source(path)
    if limit is None and source.length is not None and source.length > REPORT_MAX_FRAMES:
        fail(f"{path}: {source.length} frames; report holds them in memory, so take the first N with --limit "
             f"(at most {REPORT_MAX_FRAMES:,} without it)")
    frames = list(itertools.islice(source, limit if limit is not None else REPORT_MAX_FRAMES + 1))
    if not frames:
        fail(f"{path}: no frames")
    if limit is None and len(frames) > REPORT_MAX_FRAMES:
        fail(f"{path}: more than {REPORT_MAX_FRAMES:,} frames; take the first N with --limit")
    if len({f.shape for f in frames}) > 1:
        fail(f"{path}: frames of different sizes (report compares whole streams of one size)")
    rgb = np.stack(frames)
    loaded = pick_frame_model(model_name, rgb[0])
    measured = frame_figures(rgb, loaded, workers, chunk_frames, source.describe)  # the archive `compress` writes
    figures, stats, n = measured.figures, measured.stats, len(rgb)
    acc = figures
    rows = [("darnzip (this archive)", acc["bits_per_frame"])]
    if baselines:
        rows += [(r.name, 8 * r.bytes / n if r.bytes else None) for r in byte_codecs(index_stream(rgb))]
        figures["baselines"] = [{"codec": name, "bits_per_frame": bits} for name, bits in rows[1:]]
    if not quiet:
        click.echo(f"model {loaded.model_id} ({loaded.sha256[:12]}), {n} frames ({stats.modelled} modelled, "
                   f"{stats.raw} stored raw; key frames {stats.key_frames}, copying an older frame "
                   f"{stats.older_frame_copies}), round trip exact")
        click.echo(f"  archive size                      {acc['bits_per_frame']:9.1f} bits/frame  "
                   f"({acc['archive_bits']} bits)")
        click.echo(f"  modelled frames' chunks           {acc['chunk_bits_per_modelled_frame']:9.1f} bits/frame")
        click.echo(f"  free energy (one sample, coded)   {acc['free_energy_bits_per_modelled_frame']:9.1f} bits/frame"
                   f"  (chunks' gap {acc['gap_percent']:+.2f}%)")
        click.echo(f"  NLL: {figures['nll_note']}")
        click.echo(f"  initial bits {acc['initial_bits']:.0f}; frames stored raw {acc['raw_bits']} bits; "
                   f"container {acc['container_bits']} bits")
        click.echo(two_part_line(figures, "frame"))
        click.echo("\n  codec                                  bits/frame")
        for name, bits in sorted(rows, key=lambda r: (r[1] is None, r[1] or 0)):
            click.echo(f"  {name:36s} {bits:12.1f}" if bits is not None else f"  {name:36s} {'-':>12s}")
    if plot:
        plot_frame_bits(Path(plot), Path(path).name, stats.per_frame_bits, acc["bits_per_frame"], force)
        if not quiet:
            click.echo(f"\nplot -> {plot}")
    if json_path:
        write_json(json_path, figures, force)


def game_plot(plot_dir: str, game: str) -> Path:
    """Where `bench-frames --plot DIR` puts a game's plot."""
    return Path(plot_dir) / f"{game.lower()}.png"


def plot_frame_bits(path: Path, game: str, per_frame: list[float], actual_bits_per_frame: float,
                    force: bool = False) -> None:
    """Per-frame one-sample free energy over the stream, with the archive's actual mean, and a histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    a.plot(per_frame, lw=0.6, label="free energy of the coded latents")
    a.axhline(actual_bits_per_frame, color="C3", label=f"archive: {actual_bits_per_frame:.1f} bits/frame")
    a.set_xlabel("frame")
    a.set_ylabel("bits")
    a.set_yscale("symlog")
    a.set_ylim(bottom=0)
    a.legend(fontsize=8)
    b.hist(per_frame, bins=60)
    b.set_xlabel("bits per frame (free energy)")
    fig.suptitle(f"{game}: darnzip, per frame")
    fig.tight_layout()
    save_figure(fig, path, force)


def bench_frames(games, frames, seed, workers, chunk_frames, video, json_path, quiet, plot_dir=None, repeat=1,
                 force=False, models=()):
    """One game at a time: generate held-out frames, run every codec on them (`repeat` timed runs each,
    the median reported with the slowest beside it), print one table. darnzip runs with each game's
    newest model, or with `models` (names or files), taking turns; the first is the one the game's
    figures (free energy, ratio, plot) describe."""
    from darnzip.frames.atari import frames_array
    from darnzip.frames.bench import byte_codecs, context_gain, darnzip_codecs, index_stream, video_codecs

    chosen = [resolve_frame_model(m) for m in models]  # before any work: a name that does not resolve fails now
    report = []
    for game in games:
        rgb = frames_array(game, frames, seed)
        candidates = chosen or [resolve_frame_model(newest_game_model(game))]
        runs = darnzip_codecs(rgb, candidates, workers, chunk_frames, repeat)
        (ours, stats), loaded = runs[0], candidates[0]
        idx = index_stream(rgb)
        classical = byte_codecs(idx, repeat)
        others = classical + (video_codecs(idx, repeat) if video else [])
        best = min((r for r in classical if r.bytes), key=lambda r: r.bytes)
        per_model = [{"model": m.model_id, "sha256": m.sha256,
                      "bits_per_frame": 8 * r.bytes / frames if r.bytes else None,
                      "free_energy_bits_per_modelled_frame": frame_accounting(st)["free_energy_bits_per_modelled_frame"],
                      "ratio_to_best_classical": r.bytes / best.bytes if r.bytes else None,
                      "cpu_check_seconds_before_after_each_run": r.cpu_checks}
                     for m, (r, st) in zip(candidates, runs)]
        fe_context, fe_alone = context_gain(rgb, loaded)
        rows = []
        for r in [result for result, _ in runs] + others:
            rows.append({"codec": r.name, "bits_per_frame": 8 * r.bytes / frames if r.bytes else None,
                         "compress_fps": frames / r.compress_s if r.bytes and r.compress_s else None,
                         "decompress_fps": frames / r.decompress_s if r.bytes and r.decompress_s else None,
                         "compress_fps_runs": [frames / t for t in r.compress_runs] if r.bytes else [],
                         "decompress_fps_runs": [frames / t for t in r.decompress_runs] if r.bytes else [],
                         "note": r.note})
        # the game's figures are the first model's
        entry = {"game": game, "frames": frames, "seed": seed, "workers": workers, "repeat": repeat, "rows": rows,
                 "free_energy_bits_per_modelled_frame": per_model[0]["free_energy_bits_per_modelled_frame"],
                 "modelled_frames": stats.modelled, "raw_frames": stats.raw, "key_frames": stats.key_frames,
                 "frames_copying_an_older_frame": stats.older_frame_copies,
                 "first_200_free_energy_with_context": fe_context, "first_200_free_energy_without_context": fe_alone,
                 "cpu_check_seconds_before_after_each_darnzip_run": ours.cpu_checks,
                 "best_classical": best.name, "best_classical_bits_per_frame": 8 * best.bytes / frames,
                 "ratio_to_best_classical": per_model[0]["ratio_to_best_classical"], "models": per_model}
        report.append(entry)
        if plot_dir:
            plot_frame_bits(game_plot(plot_dir, game), game, stats.per_frame_bits,
                            8 * ours.bytes / frames if ours.bytes else float("nan"), force)
        if not quiet:
            click.echo(f"\n{game}: {frames} held-out frames (seed {seed}), {stats.modelled} modelled "
                       f"(key frames {stats.key_frames}, copying an older frame {stats.older_frame_copies}), "
                       f"{stats.raw} stored raw; raw RGB = {210 * 160 * 24} bits/frame")
            slowest_heading = f" {'slowest of ' + str(repeat):>14s}" if repeat > 1 else ""
            click.echo(f"  {'codec':34s} {'bits/frame':>11s} {'comp f/s':>9s} {'decomp f/s':>10s}{slowest_heading}")
            for row in rows:
                bits = f"{row['bits_per_frame']:.1f}" if row["bits_per_frame"] is not None else "-"
                cf = f"{row['compress_fps']:.0f}" if row["compress_fps"] else "-"
                df = f"{row['decompress_fps']:.0f}" if row["decompress_fps"] else "-"
                slowest = ""
                if repeat > 1:
                    runs = [min(r, default=None) for r in (row["compress_fps_runs"], row["decompress_fps_runs"])]
                    slowest = f" {' / '.join(f'{v:.0f}' if v else '-' for v in runs):>14s}"
                click.echo(f"  {row['codec']:34s} {bits:>11s} {cf:>9s} {df:>10s}{slowest}  {row['note']}")
            for m in entry["models"]:
                ratio = f"{m['ratio_to_best_classical']:.3f}" if m["ratio_to_best_classical"] else "-"
                named = f" ({m['model']})" if len(candidates) > 1 else ""
                click.echo(f"  darnzip{named} free energy {m['free_energy_bits_per_modelled_frame']:.1f} bits/modelled "
                           f"frame; darnzip / best classical ({best.name}) = {ratio}")
            click.echo(f"  temporal context, first 200 frames: {fe_context:.1f} bits/frame with the previous frames, "
                       f"{fe_alone:.1f} with the nearest reference frame as the only context (same model)")
            checks = ", ".join(f"{b:.2f}/{a:.2f}" for b, a in ours.cpu_checks)
            click.echo(f"  machine check (a fixed CPU loop, s, before/after each darnzip run; higher = slower "
                       f"machine): {checks}")
    if json_path:
        write_json(json_path, report, force)
    return report


def open_frame_archive(src, start: bytes, model_name: str | None):
    """(reader, model or None, why there is none): a stream stored raw needs no model."""
    reader = FrameArchiveReader(src, start)
    return (reader, *model_or_why_not(reader.header.get("model"), model_name))
