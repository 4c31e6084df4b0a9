"""A coding process keeps freed memory for the next frame instead of faulting in fresh pages (heap.py)."""
from __future__ import annotations

import subprocess
import sys

import pytest

# In a fresh process as it is ("default"), as it codes frames itself ("inline", workers=1), or in a frame
# worker ("worker"): arrays of 1 MB and more, each a little larger than the last (as a stream's frames
# draw more pixels), allocated and freed; prints the minor page faults. glibc's defaults map each new
# largest block afresh; with the settings the heap only grows.
GROWING_ARRAYS = """
import resource, sys
import numpy as np
from darnzip.frames.stream import _Runner
from darnzip.frames.zoo import resolve_frame_model

def growing_arrays(job):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(40):
        array = np.ones((1 << 20) + i * (1 << 16), dtype=np.uint8)
        del array
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

if sys.argv[1] == "default":
    print(growing_arrays(None))
else:
    runner = _Runner(resolve_frame_model("atari-pong-v7"), 1 if sys.argv[1] == "inline" else 2, 512)
    print(list(runner.map(growing_arrays, [None]))[0])
    runner.close()
"""


def _page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", GROWING_ARRAYS, mode], capture_output=True, text=True, check=True,
                         timeout=120)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the thresholds are glibc's")
def test_a_coding_process_reuses_freed_memory_instead_of_faulting_in_fresh_pages():
    from darnzip.frames.heap import keep_freed_memory
    from darnzip.frames.zoo import frame_model_ids

    if not keep_freed_memory():
        pytest.skip("this C library has no malloc thresholds to set")
    if "atari-pong-v7" not in frame_model_ids():
        pytest.skip("atari-pong-v7 not installed")
    default, inline, worker = (_page_faults(mode) for mode in ("default", "inline", "worker"))
    # measured here: 22,761 faults with glibc's defaults (every array's pages), 800 with the settings
    # (the 3.5 MB the heap grows by, once)
    assert inline < 2_000 and worker < 2_000, (inline, worker)
    assert default > 10_000
