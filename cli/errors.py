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
            click.echo("darnzip: interrupted; no output was written", err=True)
            sys.exit(130)

    return wrapper
