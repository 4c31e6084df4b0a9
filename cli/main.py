"""darnzip's command line: the group, with every command registered on it.

`darnzip_cli` parses arguments and prints; the work is done by the library (`darnzip`)."""
from .app import main
from . import commands, extra_commands, joined, page_commands  # noqa: E402,F401  (register the commands on `main`)

__all__ = ["main"]
