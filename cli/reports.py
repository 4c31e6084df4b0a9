"""The files that `report`, `bench` and `bench-frames` write (plots, JSON figures): refused before any
work if they exist and -f was not given (the commands call darnzip.core.atomic.refuse_existing first), and
written through a temporary file, renamed on success, as archives are. They were written in place and
over anything there: an interrupted `report` left a partial JSON, and a second `report` replaced
report.png unasked."""
from __future__ import annotations

import json
from pathlib import Path

from darnzip.core.atomic import atomic_file


def write_json(path, figures, force: bool) -> None:
    with atomic_file(Path(path), force) as f:
        f.write((json.dumps(figures, indent=2) + "\n").encode())


def save_figure(fig, path, force: bool) -> None:
    """A matplotlib figure as PNG at `path`, then closed."""
    import matplotlib.pyplot as plt

    try:
        with atomic_file(Path(path), force) as f:
            fig.savefig(f, format="png", dpi=110)
    finally:
        plt.close(fig)
