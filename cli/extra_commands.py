"""report, bench, sample, train and data commands."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import click
import numpy as np

from darnzip.images import archive as arc
from darnzip.core.atomic import refuse_existing
from darnzip.images.modelfile import DEFAULT_MODEL, resolve_model

from darnzip.frames.config import DEFAULT_HIDDEN
from darnzip.frames.container import DEFAULT_CHUNK_FRAMES

from .embedding import two_part_line
from .errors import fail, friendly_errors
from .app import default_workers, main, names_a_frame_stream, progress_bar
from .reports import save_figure, write_json


def load_dataset_or_paths(data: str, paths: tuple[str, ...], limit: int | None, shape) -> np.ndarray:
    """Binary images (N, H, W) from a named data set (mnist-test, mnist-static-test, fashion-mnist-test,
    ...) or from files."""
    if paths:
        from darnzip.images.sources import find_inputs, load_sources

        images = np.concatenate([bits for _, bits in load_sources(find_inputs(paths), tuple(shape))])
    else:
        from darnzip.images.datasets import load_dataset

        try:
            images = load_dataset(data)
        except ValueError as exc:
            fail(f"{exc}, or pass files")
    return images[:limit] if limit else images


def training_images(data: str):
    """The training split of a named data set, which some baselines (JBIG's tiling) are fitted on."""
    from darnzip.images.datasets import load_dataset, training_set_of

    return load_dataset(training_set_of(data))


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--data", default="mnist-test", show_default=True,
              help="Data set when no PATHS are given: mnist-SPLIT, mnist-static-SPLIT, fashion-mnist-SPLIT.")
@click.option("--limit", type=int, default=None, help="Use only the first N images.")
@click.option("--samples", default=100, show_default=True, help="Posterior samples per image for E[F] and the IS NLL.")
@click.option("--plot", type=click.Path(dir_okay=False), default="report.png", show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Also write the figures as JSON.")
@click.option("--baselines/--no-baselines", default=True, show_default=True)
@click.option("--particles", default=arc.DEFAULT_PARTICLES, show_default=True,
              help="McBits with K posterior particles (smaller, slower); 1: plain bits-back (fastest).")
@click.option("--model", "model_name", default=None, help="Model id or .safetensors path [the one compress picks].")
@click.option("-T", "--threads", "workers", default=0)
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing plot or JSON file.")
@click.option("-q", "--quiet", is_flag=True)
@friendly_errors
def report(paths, data, limit, samples, plot, json_path, baselines, particles, model_name, workers, force, quiet):
    """Real bits against the quantised model's free energy and NLL, and against classical codecs.

    A frame stream (one PNG directory, RGB .npy or video; or --model naming a frame model) gets its
    per-frame free energy against the archive instead (--limit: its first N frames). --plot "" writes
    no plot."""
    from darnzip.images.figures import image_figures, published_for

    refuse_existing((plot, json_path), force)
    if len(paths) == 1 and names_a_frame_stream(paths, model_name):
        from .frame_commands import report_frames

        report_frames(paths[0], limit, plot, json_path, baselines, model_name, default_workers(workers),
                      DEFAULT_CHUNK_FRAMES, quiet, force)
        return
    loaded = resolve_model(model_name)
    images = load_dataset_or_paths(data, paths, limit, loaded.config.image_shape)
    options = arc.CodingOptions(workers=default_workers(workers), particles=particles)
    with progress_bar(len(images), quiet, "compress and check") as coding, \
            progress_bar(len(images), quiet, f"E[F] and NLL ({samples} samples)") as scoring:
        measured = image_figures(images, loaded, options, samples, coding.update, scoring.update)
    figures = measured.figures
    n = len(images)
    acc = {"bits_per_image": figures["archive_bits_per_image"], "archive_bits": figures["archive_bits_total"],
           "container_bits": figures["container_bits_total"]}
    rows = [("darnzip (this archive)", acc["bits_per_image"], "")]
    if baselines:
        from darnzip.core.baselines import all_baselines

        train = training_images(data) if not paths else None
        for b in all_baselines(images, train):
            rows.append((b.name, b.bits_per_image, b.note))
        figures["baselines"] = [{"codec": r[0], "bits_per_image": r[1], "note": r[2]} for r in rows[1:]]
    figures["data"] = ", ".join(paths) if paths else data
    published = [] if paths else published_for(data)
    if published:
        figures["published"] = published
    if not quiet:
        coding = "bits-back" if particles == 1 else f"McBits, {particles} particles"
        click.echo(f"model {loaded.model_id} ({loaded.sha256[:12]}), {n} images, {coding}, round trip exact")
        click.echo(f"  archive size                {acc['bits_per_image']:9.2f} bits/image  ({acc['archive_bits']} bits)")
        label = "one-sample free energy     " if particles == 1 else f"coded IWAE estimate (K={particles:<2d})"
        click.echo(f"  {label} {figures['one_sample_free_energy_bits_per_image']:9.2f} bits/image"
                   f"  (gap {figures['gap_to_one_sample_fe_percent']:+.2f}%)")
        click.echo(f"  expected free energy        {figures['expected_free_energy_bits_per_image']:9.2f} bits/image"
                   f"  = {figures['expected_free_energy_nats_per_image']:.2f} nats  (gap {figures['gap_to_expected_fe_percent']:+.2f}%)")
        click.echo(f"  IS NLL, {samples} samples       {figures['nll_bits_per_image']:9.2f} bits/image"
                   f"  = {figures['nll_nats_per_image']:.2f} nats  (gap {figures['gap_to_nll_percent']:+.2f}%)")
        click.echo(f"  initial bits (no bits back) {figures['initial_bits_total']:9.0f} bits total over "
                   f"{figures['first_batch_images']} images;"
                   f" net after them {figures['net_bits_per_image_after_first_batches']:.2f} bits/image")
        click.echo(f"  container (header, chunk records, trailer) {acc['container_bits']} bits")
        click.echo(two_part_line(figures, "image"))
        if published:
            click.echo("\n  published on this data set (quoted, not measured here)")
            for row in published:
                nats = f"  = {row['nll_nats_per_image']:.2f} nats" if row["nll_nats_per_image"] else ""
                click.echo(f"  {row['bits_per_image']:9.2f} bits/image{nats}  {row['what']}")
        click.echo("\n  codec                                             bits/image")
        for name, bits, note in sorted(rows, key=lambda r: (r[1] is None, r[1] or 0)):
            shown = f"{bits:10.2f}" if bits is not None else "         -"
            click.echo(f"  {name:48s}{shown}  {note}")
    if plot:
        coded_label = "coded (one-sample FE)" if particles == 1 else f"coded (IWAE estimate, K={particles})"
        write_plot(Path(plot), measured.one_sample_bits, measured.expected_free_energy_bits, measured.nll_bits,
                   coded_label, force)
        if not quiet:
            click.echo(f"\nplot -> {plot}")
    if json_path:
        write_json(json_path, figures, force)


def write_plot(path: Path, one_sample, expected, nll, coded_label: str = "coded (one-sample FE)",
               force: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.scatter(expected, one_sample, s=3, alpha=0.4, label=coded_label)
    lo, hi = float(min(expected.min(), one_sample.min())), float(max(expected.max(), one_sample.max()))
    left.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    left.set_xlabel("expected free energy (bits)")
    left.set_ylabel("coded bits (bits)")
    left.set_title("per image: coded bits vs free energy")
    left.legend()
    bins = np.linspace(min(nll.min(), one_sample.min()), max(one_sample.max(), expected.max()), 60)
    right.hist(one_sample, bins=bins, alpha=0.5, label=f"coded, mean {one_sample.mean():.1f}")
    right.hist(expected, bins=bins, alpha=0.5, label=f"E[F], mean {expected.mean():.1f}")
    right.hist(nll, bins=bins, alpha=0.5, label=f"IS NLL, mean {nll.mean():.1f}")
    right.set_xlabel("bits per image")
    right.set_title("histogram")
    right.legend()
    fig.tight_layout()
    save_figure(fig, path, force)


@main.command()
@click.option("--data", default="mnist-test", show_default=True)
@click.option("--limit", type=int, default=None)
@click.option("--repeat", default=3, show_default=True, help="Timed runs; the best is reported.")
@click.option("--baselines/--no-baselines", default=True, show_default=True)
@click.option("--particles", default=arc.DEFAULT_PARTICLES, show_default=True,
              help="McBits with K posterior particles (smaller, slower); 1: plain bits-back (fastest).")
@click.option("--model", "model_name", default=None)
@click.option("-T", "--threads", "workers", default=0)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing JSON file.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing (for runs that want only --json).")
@friendly_errors
def bench(data, limit, repeat, baselines, particles, model_name, workers, json_path, force, quiet):
    """Throughput of compress and decompress (round trip checked) and classical codecs, in one run.

    MB/s counts the raw images at one byte per pixel."""
    refuse_existing((json_path,), force)
    loaded = resolve_model(model_name)
    images = load_dataset_or_paths(data, (), limit, loaded.config.image_shape)
    options = arc.CodingOptions(workers=default_workers(workers), particles=particles)
    best_in, best_out = math.inf, math.inf
    from darnzip.images.figures import round_trip

    for _ in range(repeat):
        coded = round_trip(images, loaded, options)
        blob, best_in, best_out = coded.data, min(best_in, coded.compress_seconds), min(best_out, coded.decompress_seconds)
    n, raw_mb = len(images), images.size / 1e6
    result = {"images": n, "workers": options.workers, "particles": particles, "bits_per_image": 8 * len(blob) / n,
              "compress_images_per_s": n / best_in, "decompress_images_per_s": n / best_out,
              "compress_mb_per_s": raw_mb / best_in, "decompress_mb_per_s": raw_mb / best_out,
              "compress_seconds": best_in, "decompress_seconds": best_out}
    say = (lambda line: None) if quiet else click.echo
    say(f"darnzip {loaded.model_id}: {n} images, {options.workers} workers, particles {particles}, best of {repeat}")
    say(f"  size        {result['bits_per_image']:.2f} bits/image")
    say(f"  compress    {result['compress_images_per_s']:.0f} images/s, {result['compress_mb_per_s']:.2f} MB/s ({best_in:.2f} s)")
    say(f"  decompress  {result['decompress_images_per_s']:.0f} images/s, {result['decompress_mb_per_s']:.2f} MB/s ({best_out:.2f} s)")
    if baselines:
        from darnzip.core.baselines import all_baselines

        result["baselines"] = []
        say("  classical codecs (round-tripped):")
        from darnzip.pages.bench import page_model_on_images
        from darnzip.pages.modelfile import resolve_page_model

        rows = [vars(b) for b in all_baselines(images, training_images(data))]
        rows.append(page_model_on_images(images, resolve_page_model(None)))
        for b in rows:
            result["baselines"].append(b)
            shown = (f"{b['bits_per_image']:8.2f} bits/image, {n / b['seconds']:9.0f} images/s (both ways)"
                     if b["bits_per_image"] else "")
            say(f"    {b['name']:46s}{shown} {b['note']}")
    if json_path:
        write_json(json_path, result, force)


@main.command()
@click.option("-n", "--count", default=64, show_default=True)
@click.option("-o", "--output", default="samples.png", show_default=True, type=click.Path(dir_okay=False))
@click.option("--seed", default=0, show_default=True)
@click.option("--model", "model_name", default=None,
              help=f"Model id or .safetensors path [{DEFAULT_MODEL}]; a frame model draws a frame stream.")
@click.option("-f", "--force", is_flag=True)
@friendly_errors
def sample(count, output, seed, model_name, force):
    """Ancestral samples from the quantised model, top layer to pixels, as a PNG grid.

    A frame model (--model atari-pong-v7) samples a stream, each frame given the ones before: -o x.png
    tiles the frames, x.npy or x.mkv holds them in order, any other name is a directory of PNGs."""
    from PIL import Image

    from darnzip.core.atomic import atomic_file
    from darnzip.core.baselines import tile
    from darnzip.core.zoo import is_frame_model
    from darnzip.images.sampling import ancestral_samples

    if is_frame_model(model_name):
        from .frame_commands import sample_frame_stream

        sample_frame_stream(model_name, count, output, seed, force)
        return
    loaded = resolve_model(model_name)
    images = ancestral_samples(loaded.quantized, count, seed)
    grid = tile(images)
    with atomic_file(Path(output), force) as f:
        Image.fromarray((255 * (1 - grid)).astype(np.uint8), mode="L").save(f, format="PNG")
    click.echo(f"{count} samples -> {output}", err=True)


@main.command()
@click.argument("data_paths", nargs=-1, metavar="[DATA]...")
@click.option("--valid-share", default=0.1, show_default=True, type=click.FloatRange(0.01, 0.5),
              help="With DATA: the share held out for validation (a seeded draw, the same every run).")
@click.option("--run-dir", default=None, type=click.Path(file_okay=False),
              help="Checkpoints and settings.  [default: runs/mnist; with DATA, runs/NAME of the first DATA]")
@click.option("--epochs", default=100, show_default=True)
@click.option("--batch-size", default=128, show_default=True)
@click.option("--lr", default=2e-3, show_default=True)
@click.option("--estimator", type=click.Choice(["rloo", "taylor"]), default="rloo", show_default=True)
@click.option("--samples", default=2, show_default=True, help="Posterior samples per image (rloo needs >= 2).")
@click.option("--latents", default="500", show_default=True, help="Latent layer sizes, bottom-up, comma separated.")
@click.option("--q-autoregressive/--q-factorised", default=False, show_default=True)
@click.option("--deterministic-units", default=0, show_default=True,
              help="Units of a deterministic hidden layer inside every conditional (0: linear).")
@click.option("--seed", default=0, show_default=True)
@click.option("--train-split", type=click.Choice(["train", "train+valid"]), default="train", show_default=True,
              help="MNIST training data: 50k 'train' (validation held out) or the full 60k 'train+valid'.")
@click.option("--binarize", type=click.Choice(["threshold", "static"]), default="threshold", show_default=True,
              help="MNIST: intensity > 0.5, or each pixel drawn once as Bernoulli(intensity) with a fixed seed "
                   "(the DARN paper's and BB-ANS's data set).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when available).")
@click.option("--resume/--no-resume", default=True, show_default=True)
@click.option("--export", "export_stem", default=None, help="Quantise and write STEM.safetensors + STEM.json.")
@click.option("--model-id", default=DEFAULT_MODEL, show_default=True)
@click.option("--frac-bits", default=10, show_default=True, help="Fractional bits of the integer weights.")
@click.option("--register", is_flag=True, help="Pin the exported model in the registry.json beside it (models/ or a $DARNZIP_MODELS directory).")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing STEM.safetensors / STEM.json.")
@friendly_errors(when_stopped="the last finished epoch's checkpoint is kept in the run directory "
                              "(--resume, the default, continues from it)")
def train(data_paths, valid_share, run_dir, epochs, batch_size, lr, estimator, samples, latents, q_autoregressive,
          deterministic_units, seed, train_split, binarize, device, resume, export_stem, model_id, frac_bits, register,
          force):
    """Train a DARN on binary images, checkpointing each epoch; resumable.

    DATA: your binary images (PNG/PBM/PGM files, directories of them, .npy arrays of two values), all of
    one size, which the model will code; --valid-share of them are held out. Without DATA: binary MNIST
    (50k train, 10k valid). Progress goes to stderr, also when it is a log file."""
    if export_stem:
        refuse_existing_export(Path(export_stem), force)
    from darnzip.images.datasets import load_binary_mnist
    from darnzip.images.config import DarnConfig
    from darnzip.images.train import TrainSettings, pick_device
    from darnzip.images.train import train as run_training

    run_dir = run_dir or f"runs/{Path(data_paths[0]).stem if data_paths else 'mnist'}"
    if data_paths:
        train_data, valid_data = user_images(data_paths, valid_share, seed)
        what = f"{len(train_data) + len(valid_data):,} images from {', '.join(data_paths)}"
        click.echo(f"{what}: {len(train_data):,} to train on, {len(valid_data):,} held out", err=True)
    elif binarize == "static":
        from darnzip.images.datasets import load_static_mnist

        train_data, valid_data = load_static_mnist(train_split), load_static_mnist("valid")
        what = "statically binarised MNIST"
    else:
        train_data, valid_data = load_binary_mnist(train_split), load_binary_mnist("valid")
        what = "binary MNIST"
    config = DarnConfig(image_shape=tuple(train_data.shape[1:]), latent_sizes=tuple(int(s) for s in latents.split(",")),
                        q_autoregressive=q_autoregressive, deterministic_units=deterministic_units)
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, learning_rate=lr, estimator=estimator,
                             samples=samples, seed=seed, device=pick_device(device), train_split=train_split)
    if train_split == "train+valid" and not data_paths:
        click.echo("note: the validation split is part of the training data; its free energy is not held out", err=True)
    model = run_training(config, settings, train_data, valid_data, Path(run_dir),
                         resume=resume, log=lambda s: click.echo(s, err=True))
    if export_stem and int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 alone writes the model
        from darnzip.images.export import export_model

        sha = export_model(model, Path(export_stem), model_id, frac_bits, Path(run_dir), force)
        click.echo(f"exported {export_stem}.safetensors (sha256 {sha})", err=True)
        if register:
            from darnzip.core.zoo import register_model

            register_model(model_id, Path(export_stem).with_suffix(".safetensors"), sha,
                           f"DARN {latents} latents, {what}, {epochs} epochs {estimator}",
                           made_with=" ".join(["darnzip", *sys.argv[1:]]))


def user_images(paths: tuple[str, ...], valid_share: float, seed: int):
    """(training, validation) bits (N, H, W) from the user's files: one size, a seeded share held out."""
    from darnzip.images.sources import find_inputs, image_shape_of, load_sources

    files = find_inputs(paths)
    shape = image_shape_of(files)
    images = np.concatenate([bits for _, bits in load_sources(files, shape)])
    if len(images) < 2:
        fail("training needs at least two images (one of them held out)")
    order = np.random.default_rng(seed).permutation(len(images))
    held = max(1, int(round(valid_share * len(images))))
    return images[np.sort(order[held:])], images[np.sort(order[:held])]


@main.command()
@click.argument("name", type=click.Choice(["mnist", "fashion-mnist", "atari", "pages"]))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=True), help="Directory (png) or .npy file.")
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "valid", "test", "train+valid"]),
              help="MNIST split (Fashion-MNIST: train or test).")
@click.option("--limit", type=int, default=None, help="MNIST, Fashion-MNIST: first N images.")
@click.option("--binarize", type=click.Choice(["threshold", "static"]), default="threshold", show_default=True,
              help="MNIST: intensity > 0.5, or each pixel drawn once as Bernoulli(intensity) with a fixed seed.")
@click.option("--game", default="Pong", show_default=True, help="Atari: Pong, Freeway, SpaceInvaders, Riverraid, Seaquest.")
@click.option("--frames", default=1000, show_default=True, help="Atari: frames of random-action play (frameskip 4).")
@click.option("--seed", default=0, show_default=True, help="Atari: seed of the actions and resets.")
@click.option("--manual", default="fontconfig", show_default=True,
              help="Pages: the installed manual to render (bzip2, nettle, libtasn1, shared-mime-info: training; "
                   "fontconfig, zlib-crc, valgrind: held out).")
@click.option("--pages", "pages_text", default=None, help="Pages: which pages, e.g. 5, 1-10 or 1-3,40 [all].")
@click.option("-f", "--force", is_flag=True)
@friendly_errors
def data(name, output, split, limit, binarize, game, frames, seed, manual, pages_text, force):
    """Write binary MNIST or Fashion-MNIST images (intensity > 0.5), or Atari RGB frames, as PNG files
    (directory) or one .npy array; or 300-dpi bilevel pages of an installed PDF manual as PBM files
    (poppler's pdftoppm). Fashion-MNIST comes from Debian's dataset-fashion-mnist package."""
    from PIL import Image

    from darnzip.core.atomic import atomic_file, staging_directory

    if name == "pages":
        write_manual_pages(manual, pages_text, Path(output), force)
        return
    if name == "atari":
        from darnzip.frames.atari import GAMES, frames_array

        if game not in GAMES:
            fail(f"unknown game {game!r} (one of {', '.join(GAMES)})")
        images = frames_array(game, frames, seed)
        mode, scale, what = "RGB", 1, f"{game} frames (seed {seed})"
        prefix = "frame"
    elif name == "fashion-mnist":
        from darnzip.images.datasets import load_binary_fashion_mnist

        if split not in ("train", "test"):
            fail("Fashion-MNIST has the splits train (60,000 images) and test (10,000)")
        images = load_binary_fashion_mnist(split)[:limit]
        mode, scale, what, prefix = "L", 255, f"binary Fashion-MNIST {split} images", split
    elif binarize == "static":
        from darnzip.images.datasets import load_static_mnist

        images = load_static_mnist(split)[:limit]
        mode, scale, what, prefix = "L", 255, f"statically binarised MNIST {split} images", split
    else:
        from darnzip.images.datasets import load_binary_mnist

        images = load_binary_mnist(split)[:limit]
        mode, scale, what, prefix = "L", 255, f"binary MNIST {split} images", split
    out = Path(output)
    if out.suffix == ".npy":
        with atomic_file(out, force) as f:
            np.save(f, images, allow_pickle=False)
    else:
        width = max(6, len(str(len(images) - 1))) if name == "atari" else len(str(len(images) - 1))
        names = [f"{prefix}_{i:0{width}d}.png" for i in range(len(images))]
        with staging_directory(out, names, force) as stage:
            for name_, image in zip(names, images):
                Image.fromarray(image * scale, mode=mode).save(stage / name_, format="PNG")
    click.echo(f"{len(images)} {what} -> {out}", err=True)


def write_manual_pages(manual: str, pages_text: str | None, out: Path, force: bool) -> None:
    import shutil
    import tempfile

    from darnzip.core.atomic import staging_directory
    from darnzip.pages.manuals import render_manual

    from .page_commands import page_ranges

    with tempfile.TemporaryDirectory() as tmp:
        pages = render_manual(manual, Path(tmp), page_ranges(pages_text))
        names = [p.name for p in pages]
        with staging_directory(out, names, force) as stage:
            for page in pages:
                shutil.move(str(page), stage / page.name)
    click.echo(f"{len(pages)} pages of the {manual} manual (300 dpi, bilevel) -> {out}", err=True)


@main.command("bench-frames")
@click.option("--game", "games", multiple=True, help="Games to run (repeatable; default: all five).")
@click.option("--frames", default=1000, show_default=True, help="Held-out frames per game.")
@click.option("--seed", default=1000, show_default=True, help="Seed of the held-out play (training used seed 1).")
@click.option("--chunk-frames", default=DEFAULT_CHUNK_FRAMES, show_default=True)
@click.option("--video/--no-video", default=True, show_default=True, help="Also run x264 qp0 and FFV1 (PyAV).")
@click.option("-T", "--threads", "workers", default=0)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None)
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), default=None,
              help="Write game.png, e.g. pong.png (per-frame free energy vs the archive's bits), into this directory.")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(1, 100),
              help="Timed runs of every codec: the median is reported, the slowest beside it.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing JSON file or plots.")
@click.option("-m", "--model", "models", multiple=True,
              help="Run darnzip with this model (name or file) instead of the game's newest; repeatable: the "
                   "models take turns in every timed round, side by side. Needs --game.")
@click.option("-q", "--quiet", is_flag=True)
@friendly_errors
def bench_frames_command(games, frames, seed, chunk_frames, video, workers, json_path, plot_dir, repeat, force,
                         models, quiet):
    """darnzip vs bzip2 -9, xz -9e, zstd -22 --long, x264 qp0 and FFV1 on held-out Atari frames, side by side."""
    from darnzip.frames.atari import GAMES

    from .frame_commands import bench_frames, game_plot

    unknown = [g for g in games if g not in GAMES]
    if unknown:
        fail(f"unknown game {unknown[0]!r} (one of {', '.join(GAMES)})")
    if models and not games:
        fail("name the game whose frames the models are for (--game)")
    games = list(games) or list(GAMES)
    refuse_existing([json_path] + ([game_plot(plot_dir, game) for game in games] if plot_dir else []), force)
    bench_frames(games, frames, seed, default_workers(workers), chunk_frames, video, json_path, quiet, plot_dir,
                 repeat, force, models)


def refuse_existing_export(stem: Path, force: bool) -> None:
    """Before any training: an export that would overwrite a model (a shipped one, say) needs -f."""
    from darnzip.images.modelfile import model_files_exist

    existing = model_files_exist(stem)
    if existing and not force:
        fail(f"{existing[0]} already exists (use -f to overwrite it, or export to another --export STEM)")


def checkpoint_note(stem: Path) -> str:
    """What a stopped train-frames leaves: the last finished epoch's checkpoint, if one was written."""
    from darnzip.frames.trainer import checkpoint_path

    checkpoint = checkpoint_path(stem)
    if checkpoint.exists():
        return f"the last finished epoch is kept in {checkpoint} (the same command goes on from it)"
    return "no epoch was finished, so nothing was kept"


@main.command("train-frames")
@click.argument("frames_path", metavar="FRAMES.npy")
@click.option("--model-id", required=True, help="Id of the model, e.g. atari-pong-v1.")
@click.option("--export", "export_stem", required=True, help="Write STEM.safetensors + STEM.json.")
@click.option("--epochs", default=4, show_default=True)
@click.option("--steps", default=300, show_default=True, help="Batches of 32 frames per epoch.")
@click.option("--lr", default=1e-2, show_default=True)
@click.option("--block", default=8, show_default=True, help="Block side: one latent unit per block.")
@click.option("--rho", default=0.03, show_default=True,
              help="Share of unchanged blocks evaluated per step (each weighted 1/rho: unbiased).")
@click.option("--max-blocks", default=1024, show_default=True,
              help="Most blocks evaluated per step (a uniform, reweighted subset on busy streams).")
@click.option("--seed", default=0, show_default=True)
@click.option("--hidden", default=None, type=click.IntRange(0, 256),
              help="Hidden units of a new model's pixel model (0: none, a log-linear model, the fastest to code "
                   f"with).  [default: {DEFAULT_HIDDEN}]")
@click.option("--init", "init_model", default=None, help="Continue from this frame model (id or path).")
@click.option("--motion/--no-motion", default=True, show_default=True,
              help="Copied blocks carry a motion vector (a model continued with --init gains them).")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Go on from STEM.checkpoint.pt, the state after the last finished epoch of the same run.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--register", is_flag=True, help="Pin the model in the registry.json beside it (models/ or a $DARNZIP_MODELS directory).")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing STEM.safetensors / STEM.json.")
@friendly_errors(when_stopped=lambda export_stem, **_: checkpoint_note(Path(export_stem)))
def train_frames(frames_path, model_id, export_stem, epochs, steps, lr, block, rho, max_blocks, seed, hidden,
                 init_model, motion, resume, quiet, register, force):
    """Train a frame-stream DARN on an (N, H, W, 3) uint8 array of RGB frames and export it.

    Each finished epoch is checkpointed to STEM.checkpoint.pt; run the same command again after a stop to
    go on from it (the result is the one an unbroken run gives). The checkpoint goes once the model is
    exported."""
    from tqdm import tqdm

    from darnzip.frames.trainer import train_frame_model
    from darnzip.core.zoo import register_model

    if hidden is not None and init_model:
        fail("--hidden sets a new model's pixel model; a model continued with --init keeps its own "
             "(scripts/finetune_pixels.py --hidden derives a narrower one)")
    refuse_existing_export(Path(export_stem), force)

    rgb = np.load(frames_path, mmap_mode="r", allow_pickle=False)
    if rgb.dtype != np.uint8 or rgb.ndim != 4 or rgb.shape[3] != 3 or len(rgb) < 3:
        fail("training frames must be a uint8 array of shape (frames >= 3, height, width, 3)")
    stem = Path(export_stem)
    init = None
    if init_model:
        from darnzip.frames.zoo import resolve_frame_model

        init = resolve_frame_model(init_model)
    with tqdm(total=epochs * steps, unit="step", desc="train", disable=True if quiet else None, leave=False,
              file=sys.stderr) as bar:
        log_every = None if quiet or sys.stderr.isatty() else max(1, steps // 10)  # a log file: ten lines an epoch

        def step_done(done: int, bits: float) -> None:
            bar.update(done - bar.n)  # a resumed run starts past the checkpointed epochs
            bar.set_postfix(bits=f"{bits:.1f}", refresh=False)
            if log_every and done % log_every == 0 and done % steps:
                click.echo(json.dumps({"epoch": done // steps + 1, "step": done % steps, "steps": steps,
                                       "bits_per_frame": round(bits, 1)}), err=True)

        sha = train_frame_model(np.asarray(rgb), stem, model_id, epochs, steps, lr, seed, block, rho, max_blocks,
                                log=lambda m: bar.write(m, file=sys.stderr), init=init, motion=motion,
                                resume=resume, progress=step_done, force=force,
                                hidden=DEFAULT_HIDDEN if hidden is None else hidden)
    click.echo(f"exported {stem}.safetensors (sha256 {sha[:16]}...)", err=True)
    if register:
        register_model(model_id, stem.with_suffix(".safetensors"), sha,
                       f"frame DARN, {len(rgb)} training frames, {epochs}x{steps} steps", kind="frames",
                       parent=init.model_id if init is not None else None,
                       made_with=" ".join(["darnzip", *sys.argv[1:]]))
