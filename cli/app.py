"""The darnzip command group and what every command shares (zstd's mode flags, worker count, progress)."""
from __future__ import annotations

import os
import sys

import click

from .errors import stop_cleanly_on_termination


def progress_bar(total: int, quiet: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc=desc, disable=True if quiet else None, leave=False, file=sys.stderr)


def default_workers(requested: int) -> int:
    return requested if requested > 0 else (os.cpu_count() or 1)


# zstd's mode flags, for hands used to it: `darnzip -d a.dz` is `darnzip decompress a.dz`
MODE_FLAGS = {"-z": "compress", "--compress": "compress", "-d": "decompress", "--decompress": "decompress",
              "-t": "test", "--test": "test", "-l": "list", "--list": "list"}


class ModeFlagGroup(click.Group):
    """Subcommands, plus zstd's habits: a leading mode flag names the subcommand (-z, -d, -t, -l), and a
    first argument that is an existing file or directory, not a subcommand, or '-' (stdin), is compressed."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] in MODE_FLAGS:
            args = [MODE_FLAGS[args[0]], *args[1:]]
        elif args and (args[0] == "-" or args[0] not in self.commands and not args[0].startswith("-")
                       and os.path.exists(args[0])):
            args = ["compress", *args]
        return super().parse_args(ctx, args)


@click.group(cls=ModeFlagGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="darnzip")
def main():
    """Lossless compression of binary images and colour frame streams with DARNs and bits-back ANS coding.

    As with zstd, `darnzip PATH` (or `darnzip -` for stdin) compresses, and -z, -d, -t and -l before the
    arguments stand for compress, decompress, test and list (`darnzip -d frames.dz -o out/`)."""
    restore = stop_cleanly_on_termination()
    if restore is not None:
        click.get_current_context().call_on_close(restore)


def names_a_frame_stream(paths, model_name: str | None, stdin=None) -> bool:
    """Whether `compress` or `report` takes the frame side: a frame model is named, or no model is and the
    one input looks like frames (stdin, a PeekedStream, by its first bytes)."""
    from darnzip.frames.io import looks_like_frames
    from darnzip.core.zoo import is_frame_model

    if is_frame_model(model_name):
        return True
    if model_name is not None:
        return False
    if stdin is not None:
        return stdin.holds_frames
    return len(paths) == 1 and paths[0] != "-" and looks_like_frames(paths[0])


