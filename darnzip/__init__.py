"""darnzip: lossless compression with DARNs and bits-back ANS coding.

The API is the names below (docs/api.md): arrays and frames to archives and back, random access, the
report's figures, models. The modules of PUBLIC_MODULES are the library the `darnzip` program is built
on, each with its public names in `__all__`; the command line imports nothing else (tests/core/
test_layout.py). Everything else is internal and may change."""
from darnzip.access import Archive, open_archive
from darnzip.core.inputs import InputError
from darnzip.core.modelfiles import ModelError
from darnzip.core.records import ArchiveError
from darnzip.api import (compress_frames, compress_images, decompress_frames, decompress_images, load_model,
                         measure_frames, measure_images)

__all__ = ["compress_images", "decompress_images", "compress_frames", "decompress_frames", "load_model",
           "measure_images", "measure_frames", "open_archive", "Archive", "ArchiveError", "ModelError", "InputError"]

# The modules whose `__all__` is public: what the command line (and other tools) may build on.
PUBLIC_MODULES = (
    "darnzip.api", "darnzip.access", "darnzip.scale",
    "darnzip.core.atomic", "darnzip.core.baselines", "darnzip.core.embedded", "darnzip.core.index",
    "darnzip.core.names", "darnzip.core.zoo",
    "darnzip.images.archive", "darnzip.images.config", "darnzip.images.container", "darnzip.images.datasets",
    "darnzip.images.export", "darnzip.images.figures", "darnzip.images.modelfile", "darnzip.images.sampling",
    "darnzip.images.sources", "darnzip.images.train",
    "darnzip.frames.atari", "darnzip.frames.bench", "darnzip.frames.config", "darnzip.frames.container",
    "darnzip.frames.figures", "darnzip.frames.io", "darnzip.frames.sampling", "darnzip.frames.stream",
    "darnzip.frames.trainer", "darnzip.frames.zoo",
    "darnzip.pages.archive", "darnzip.pages.bench", "darnzip.pages.manuals", "darnzip.pages.modelfile",
)
