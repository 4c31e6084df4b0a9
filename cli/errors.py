"""Turn expected failures into one-line messages and exit status 1 (zstd's convention)."""
from __future__ import annotations

import functools
import sys

import click

from darnzip.atomic import OutputExists
from darnzip.container import ArchiveError
from darnzip.datasets import DatasetUnavailable
from darnzip.modelfile import ModelError
from darnzip.sources import InputError

EXPECTED = (ArchiveError, InputError, ModelError, DatasetUnavailable, OutputExists, OSError)


def fail(message: str) -> None:
    click.echo(f"darnzip: error: {message}", err=True)
    sys.exit(1)


def friendly_errors(command):
    """Expected errors print one line and exit 1; Ctrl-C exits 130 (temp outputs are removed on the way)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except EXPECTED as exc:
            message = str(exc)
            if isinstance(exc, OSError) and exc.filename and exc.strerror:
                message = f"{exc.filename}: {exc.strerror}"
            fail(message)
        except KeyboardInterrupt:
            interrupted()
        except BaseException as exc:
            if interrupted_in_native_code(exc):
                interrupted()
            raise

    return wrapper


def interrupted() -> None:
    click.echo("darnzip: interrupted; no output was written", err=True)
    sys.exit(130)


def interrupted_in_native_code(exc: BaseException) -> bool:
    """Whether `exc` is Ctrl-C arriving while Rust code (constriction, through PyO3 and rust-numpy) ran
    Python: rust-numpy unwraps the KeyboardInterrupt, so PyO3 raises its PanicException, a BaseException
    whose message holds the original error (seen once in a full test run: exit 1 and a Rust backtrace
    instead of 130; 95 runs of that test alone did not show it again)."""
    kind = type(exc)
    return kind.__name__ == "PanicException" and kind.__module__ == "pyo3_runtime" and "KeyboardInterrupt" in str(exc)
