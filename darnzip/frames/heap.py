"""Keep the C heap's freed memory for the next frame instead of handing it back to the system.

The coder allocates and frees arrays of a megabyte or more for every frame (Freeway: ~2,500 pixel rows
of 71 colours in float64). glibc serves blocks that large with fresh pages (mmap, or the heap's top,
which it trims again when they are freed), and every fresh page is faulted in and zeroed by the kernel:
500 Freeway frames took 226,128 minor page faults to encode, about 1 ms of a 6.4 ms frame. glibc raises
its thresholds only as it sees larger blocks freed, so a new process (a CLI call, a forked worker)
paid this for most of its frames. Fixed thresholds keep those blocks in the heap: 7,993 faults and
5.4 ms a frame, with the same peak memory (the largest frame's working set is held either way).
"""
from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # blocks below this come from the heap (glibc's own cap on its dynamic threshold)
TRIM_THRESHOLD = 128 << 20  # free memory at the heap's top kept for reuse before it is returned


def keep_freed_memory() -> bool:
    """Set the process's malloc thresholds (glibc on Linux; elsewhere nothing changes). Whether they were
    set. It changes only when memory goes back to the system, never what the coder computes."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # glibc returns 1 on success; musl's mallopt is a stub that returns 0
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
