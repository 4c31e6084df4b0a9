"""darnzip: lossless compression with DARNs and bits-back ANS coding. The Python API is `darnzip.api`
(its docstring is a complete round trip); the command line is the `darnzip` program."""
from darnzip.access import Archive, open_archive
from darnzip.api import compress_frames, compress_images, decompress_frames, decompress_images, load_model

__all__ = ["compress_images", "decompress_images", "compress_frames", "decompress_frames", "load_model",
           "open_archive", "Archive"]
