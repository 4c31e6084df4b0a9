"""The archives of a file or stdin, one after the other: a file may join several (`darnzip cat`)."""
from __future__ import annotations

import contextlib
import dataclasses
import io
from typing import Iterator

from darnzip.core.records import ArchiveError

from .stdout import binary_stdin


@dataclasses.dataclass
class OpenedArchive:
    src: object  # the stream, at the archive's first byte (past an embedded model)
    frame_start: bytes | None  # a frame archive's first bytes, already read; None for binary images
    model: str | None  # the model to decode with: --model, else an embedded model's file, else None
    model_bytes: int  # the embedded model's block (0: none)
    number: int = 0  # which of the joined archives in the file (0: the first)


ARCHIVE_MAGICS = (b"\x89DARNZ\r\n", b"\x89DARNF\r\n", b"\x89DARNM\r\n")  # images, frames, an embedded model


def archive_members(path: str, model_name: str | None) -> Iterator[OpenedArchive]:
    """Each archive of a file or stdin ('-') in turn: one, or several joined end to end (`darnzip cat`).
    The caller reads each to its end before taking the next; an embedded model is unpacked for as long
    as its archive is read. Frame archives are read as a stream, even from stdin."""
    from darnzip.core.embedded import embedded_model_files, is_embedded
    from darnzip.frames.container import MAGIC as FRAME_MAGIC

    with contextlib.ExitStack() as outer:
        src = binary_stdin() if path == "-" else outer.enter_context(open(path, "rb"))
        number = 0
        while True:
            start = src.read(14)
            if number and not start:
                return
            if number and start[:8] not in ARCHIVE_MAGICS:
                raise ArchiveError("corrupt archive: unexpected bytes after the trailer")
            with contextlib.ExitStack() as stack:
                model, offset = model_name, 0
                if is_embedded(start):
                    weights, _, offset = stack.enter_context(embedded_model_files(src, start))
                    model = model_name or str(weights)
                    start = src.read(14)
                if start[:8] == FRAME_MAGIC:
                    yield OpenedArchive(src, start, model, offset, number)
                else:
                    if path == "-" and not isinstance(src, io.BytesIO):
                        src = io.BytesIO(start + src.read())
                    else:
                        src.seek(-len(start), io.SEEK_CUR)
                    yield OpenedArchive(src, None, model, offset, number)
            number += 1


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
