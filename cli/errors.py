"""Turn expected failures into one-line messages and exit status 1 (zstd's convention), and signals
that stop a command into the same clean exit as Ctrl-C."""
from __future__ import annotations

import functools
import io
import os
import signal
import sys
import threading
from typing import Callable

import click

from darnzip.core.atomic import OutputExists
from darnzip import ArchiveError, InputError, ModelError
from darnzip.images.datasets import DatasetUnavailable

EXPECTED = (ArchiveError, InputError, ModelError, DatasetUnavailable, OutputExists, OSError)


TERMINATION_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised as Ctrl-C is, so that the same clean-up runs on the way out: temporary
    outputs removed, worker processes stopped. Left to their default action, they killed darnzip at
    once and left a half-written output directory and two orphaned workers behind (measured)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


_last_termination: int | None = None  # what a panic in native code that swallowed `Terminated` stood for


def _raise_terminated(signum, frame):
    global _last_termination
    _last_termination = signum
    for number in TERMINATION_SIGNALS:  # one is enough: a second must not cut the clean-up short
        signal.signal(number, signal.SIG_IGN)
    raise Terminated(signum)


def stop_cleanly_on_termination() -> Callable[[], None] | None:
    """Catch SIGTERM and SIGHUP for the running command; returns what puts the previous handlers back
    (None where signals cannot be set: outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {number: signal.signal(number, _raise_terminated) for number in TERMINATION_SIGNALS}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore


def error_message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def each_archive(paths, check) -> None:
    """check(path) for every archive, as zstd -t and -l go through their files: an archive that fails
    is reported under its own name and the rest are still checked; exit 1 at the end if any failed.
    (One damaged archive among several stopped the run with a message that named none of them.)"""
    failed = 0
    for path in paths:
        try:
            check(path)
        except EXPECTED as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            failed += 1
            click.echo(f"darnzip: error: {naming(path, error_message(exc))}", err=True)
    if failed:
        sys.exit(1)


def naming(path: str, message: str) -> str:
    """`message` about the archive or input at `path`, led by its name (stdin for '-') unless it is already."""
    name = "stdin" if path == "-" else path
    return message if message.startswith(f"{name}:") else f"{name}: {message}"


def fail(message: str) -> None:
    click.echo(f"darnzip: error: {message}", err=True)
    sys.exit(1)


NOTHING_WRITTEN = "no output was written"


def friendly_errors(command=None, *, when_stopped=NOTHING_WRITTEN):
    """Expected errors print one line and exit 1; Ctrl-C exits 130, SIGTERM 143 and SIGHUP 129, as a
    shell reports a process killed by them (temp outputs are removed on the way), saying `when_stopped`
    of what is left: a text, or a function of the command's parameters that returns one.
    `@friendly_errors` or `@friendly_errors(when_stopped=...)`."""
    if command is None:
        return functools.partial(friendly_errors, when_stopped=when_stopped)

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:
            _stdout_to_devnull()
            fail("the output pipe closed before all of the output was written")
        except EXPECTED as exc:
            fail(error_message(exc))
        except Terminated as exc:
            interrupted(exc.signum, left_behind(kwargs))
        except KeyboardInterrupt:
            interrupted(signal.SIGINT, left_behind(kwargs))
        except BaseException as exc:
            if interrupted_in_native_code(exc):
                signum = _last_termination if "Terminated" in str(exc) and _last_termination else signal.SIGINT
                interrupted(signum, left_behind(kwargs))
            raise

    def left_behind(parameters: dict) -> str:
        return when_stopped(**parameters) if callable(when_stopped) else when_stopped

    return wrapper


def _stdout_to_devnull() -> None:
    """Point standard output at /dev/null, so that Python's flush at exit does not fail on the closed
    pipe a second time (with a traceback)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # no file descriptor (a test's captured output)
        pass


def interrupted(signum: int = signal.SIGINT, when_stopped: str = NOTHING_WRITTEN) -> None:
    how = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    click.echo(f"darnzip: {how}; {when_stopped}", err=True)
    sys.exit(128 + signum)


def interrupted_in_native_code(exc: BaseException) -> bool:
    """Whether `exc` is Ctrl-C arriving while Rust code (constriction, through PyO3 and rust-numpy) ran
    Python: rust-numpy unwraps the KeyboardInterrupt, so PyO3 raises its PanicException, a BaseException
    whose message holds the original error (seen once in a full test run: exit 1 and a Rust backtrace
    instead of 130; 95 runs of that test alone did not show it again)."""
    kind = type(exc)
    return (kind.__name__ == "PanicException" and kind.__module__ == "pyo3_runtime"
            and ("KeyboardInterrupt" in str(exc) or "Terminated" in str(exc)))
