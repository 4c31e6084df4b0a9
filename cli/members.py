"""The archives of a file or stdin, one after the other: a file may join several (`darnzip cat`)."""
from __future__ import annotations

import contextlib
from typing import Iterator

from darnzip import ArchiveError
from darnzip.access import MemberStream, read_members

from .stdout import binary_stdin


def archive_members(path: str, model_name: str | None) -> Iterator[MemberStream]:
    """Each archive of a file or stdin ('-') in turn: one, or several joined end to end (`darnzip cat`);
    the caller reads each to its end before taking the next."""
    with contextlib.ExitStack() as stack:
        src = binary_stdin() if path == "-" else stack.enter_context(open(path, "rb"))
        yield from read_members(src, model_name)


def joined_count(path: str) -> int | None:
    """How many archives a file joins, from the indexes at its end (None for stdin; 1 for a file of an
    older format, which cannot be joined)."""
    if path == "-":
        return None
    from darnzip.core.index import member_spans

    with open(path, "rb") as src:
        try:
            return len(member_spans(src))
        except ArchiveError:
            return 1


def refuse_joined_stream(src) -> None:
    """Before anything is written: a pipe that brings another archive after this one is refused (joined
    archives are restored from a file, whose index lists them)."""
    if src.read(1):
        raise ArchiveError("the stream joins several archives: decompress it from a file (darnzip cat joins "
                           "them; restoring all of them needs the index at its end)")
