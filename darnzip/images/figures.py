"""The figures `darnzip report` and `darnzip.measure_images` give for binary images: the real archive's
bits beside the quantised model's one-sample free energy (what the coder pushed), its expected free
energy and its importance-sampled NLL, and the two-part code with the model's own bytes."""
from __future__ import annotations

import dataclasses
import io
import math
import time
from typing import Callable

import numpy as np

from darnzip.core.embedded import two_part_code
from darnzip.core.records import ArchiveError
from darnzip.images import archive as arc
from darnzip.images.evaluate import evaluate

__all__ = ["ImageFigures", "PUBLISHED", "RoundTrip", "image_figures", "published_for", "round_trip"]  # the public names (docs/api.md)


# Published figures on statically binarised MNIST's test set, for `report --data mnist-static-test` to print
# beside its own (quoted, not measured here; their data sets are other draws of the same binarisation).
PUBLISHED = {
    "mnist-static": [
        {"what": "DARN, best NLL (Gregor et al., Deep AutoRegressive Networks, ICML 2014)",
         "nll_nats_per_image": 84.13, "bits_per_image": 84.13 / math.log(2)},
        {"what": "BB-ANS archive, VAE (Townsend, Bird & Barber, Practical lossless compression with latent "
                 "variables using bits back coding, ICLR 2019): 0.19 bits/dim",
         "nll_nats_per_image": None, "bits_per_image": 0.19 * 784},
    ],
}


def published_for(data: str) -> list[dict]:
    """The published figures for a named data set's split (mnist-static-test: the DARN paper, BB-ANS)."""
    return PUBLISHED.get(data.rsplit("-", 1)[0], []) if data.endswith("-test") else []


@dataclasses.dataclass
class RoundTrip:
    stats: arc.CompressStats
    data: bytes  # the archive
    compress_seconds: float
    decompress_seconds: float


def round_trip(images: np.ndarray, loaded, options: arc.CodingOptions,
               on_compress: Callable[[int], None] = lambda n: None,
               on_decompress: Callable[[int], None] = lambda n: None) -> RoundTrip:
    """Compress (N, H, W) bits to memory, decode the archive and check it restores them exactly."""
    entry = {"type": "npy", "name": "images.npy", "dtype": "|u1", "shape": list(images.shape), "lo": 0, "hi": 1}
    buffer = io.BytesIO()
    start = time.perf_counter()
    stats = arc.compress_stream(buffer, [(entry, images)], loaded, options, on_compress)
    seconds_in = time.perf_counter() - start
    buffer.seek(0)
    start = time.perf_counter()
    opened = arc.open_archive(buffer, str(loaded.weights_path))  # the model coded with, by path if unregistered
    decoded = np.concatenate(list(arc.decode_images(opened, options.workers, on_decompress)))
    seconds_out = time.perf_counter() - start
    if not np.array_equal(decoded, images.reshape(len(images), -1)):
        raise ArchiveError("round trip mismatch")
    return RoundTrip(stats, buffer.getvalue(), seconds_in, seconds_out)


@dataclasses.dataclass
class ImageFigures:
    figures: dict  # the report's numbers, by name (bits per image unless the name says nats or total)
    one_sample_bits: np.ndarray  # per image: what the coder pushed less what it popped
    expected_free_energy_bits: np.ndarray  # per image, mean over `samples` posterior draws
    nll_bits: np.ndarray  # per image, importance-sampled


def image_figures(images: np.ndarray, loaded, options: arc.CodingOptions, samples: int = 100,
                  on_compress: Callable[[int], None] = lambda n: None,
                  on_evaluate: Callable[[int], None] = lambda n: None) -> ImageFigures:
    """Code `images` (bits, (N, H, W)) for real and score them with the quantised model."""
    coded = round_trip(images, loaded, options, on_compress)
    stats = coded.stats
    acc = arc.accounting(stats)
    ev = evaluate(loaded.quantized, images, samples=samples, progress=on_evaluate,
                  certain_posterior=options.certain_posterior)
    one_sample = np.concatenate(stats.pushed_bits) - np.concatenate(stats.posterior_bits)
    n = len(images)
    figures = {
        "model": loaded.model_id, "model_sha256": loaded.sha256, "images": n, "round_trip_exact": True,
        "particles": options.particles,
        "archive_bits_per_image": acc["bits_per_image"],
        "one_sample_free_energy_bits_per_image": float(one_sample.mean()),
        "expected_free_energy_bits_per_image": float(ev.free_energy_bits.mean()),
        "expected_free_energy_nats_per_image": float(ev.free_energy_bits.mean() * math.log(2)),
        "nll_bits_per_image": float(ev.nll_bits.mean()),
        "nll_nats_per_image": float(ev.nll_bits.mean() * math.log(2)),
        "nll_samples": samples,
        "initial_bits_total": stats.initial_bits,
        "first_batch_images": stats.first_batch_images,
        "net_bits_per_image_after_first_batches": (acc["archive_bits"] - stats.initial_bits) / n,
        "container_bits_total": acc["container_bits"],
        "archive_bits_total": acc["archive_bits"],
        "gap_to_one_sample_fe_percent": 100 * (acc["archive_bits"] / one_sample.sum() - 1),
        "gap_to_expected_fe_percent": 100 * (acc["archive_bits"] / ev.free_energy_bits.sum() - 1),
        "gap_to_nll_percent": 100 * (acc["archive_bits"] / ev.nll_bits.sum() - 1),
        **two_part_code(loaded, acc["archive_bits"], n, "image"),
    }
    return ImageFigures(figures, one_sample, ev.free_energy_bits, ev.nll_bits)
