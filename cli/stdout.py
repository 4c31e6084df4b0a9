"""Standard input and output for binary data: every byte written, or an error; a closed one named."""
from __future__ import annotations

import io
import sys

from darnzip import InputError


def binary_stdin() -> io.BufferedIOBase:
    """Standard input's bytes. Run with stdin closed (`<&-`), Python has no sys.stdin at all."""
    if sys.stdin is None:
        raise InputError("standard input is closed: nothing to read")
    return sys.stdin.buffer


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def stdout_is_terminal() -> bool:
    if sys.stdout is None:
        raise InputError("standard output is closed: name the output with -o")
    return sys.stdout.isatty()


def binary_stdout() -> io.BufferedIOBase:
    """Standard output's bytes layer, buffered. Under PYTHONUNBUFFERED (set in many containers) or
    `python -u` it is the raw file, whose write may take part of the data and return how much: into a
    pipe whose reader had exited it took 64 KiB of a 600 KB archive without an error, and darnzip
    reported success (measured). A buffered writer writes everything or raises."""
    if sys.stdout is None:
        raise InputError("standard output is closed: name the output with -o")
    out = sys.stdout.buffer
    if isinstance(out, io.BufferedIOBase):
        return out
    sys.stdout.flush()
    return open(sys.stdout.fileno(), "wb", closefd=False)
