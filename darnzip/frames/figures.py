"""The figures `darnzip report` and `darnzip.measure_frames` give for a frame stream: the real archive's
bits (after an exact round trip in memory) against the free energy the coder computed for each frame."""
from __future__ import annotations

import dataclasses

import numpy as np

from darnzip.core.embedded import two_part_code
from darnzip.core.records import ArchiveError
from darnzip.frames.bench import round_trip
from darnzip.frames.stream import FrameStreamStats, frame_accounting

__all__ = ["FrameFigures", "frame_figures"]  # the public names (docs/api.md)

NLL_NOTE = ("not estimated: the coder's posterior is a point mass over which blocks are drawn, so importance "
            "sampling with it returns the free energy itself")


@dataclasses.dataclass
class FrameFigures:
    figures: dict  # the report's numbers, by name
    stats: FrameStreamStats  # of the archive written, per-frame free energy included


def frame_figures(rgb: np.ndarray, loaded, workers: int, chunk_frames: int, source: dict | None = None) -> FrameFigures:
    """Code (N, H, W, 3) frames as `compress` would (a stream of known length), decode and check them."""
    run = round_trip(rgb, loaded, workers, chunk_frames, source)
    if not run.exact:
        raise ArchiveError("the round trip was not exact (please report this as a bug)")
    acc = frame_accounting(run.stats)
    figures = {"model": loaded.model_id, "model_sha256": loaded.sha256, "frames": len(rgb), "round_trip_exact": True,
               **acc, "nll": None, "nll_note": NLL_NOTE, **two_part_code(loaded, acc["archive_bits"], len(rgb), "frame")}
    return FrameFigures(figures, run.stats)
