"""Write tests/golden/frames-pong-v1.dz: 40 Pong frames coded with the shipped atari-pong-v1 model.

Run once with the code that defines format version 1 for still models; `tests/test_frames.py` then
checks that every later version decodes this archive to the same frames and re-encodes it byte for byte.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from darnzip.frames.atari import frames_array  # noqa: E402
from darnzip.frames.stream import compress_frames  # noqa: E402
from darnzip.registry import resolve_frame_model  # noqa: E402

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden"


def main() -> None:
    frames = frames_array("Pong", 40, seed=4242)
    loaded = resolve_frame_model("atari-pong-v1")
    buffer = io.BytesIO()
    compress_frames(buffer, iter(frames), {"type": "npy", "name": "pong.npy"}, loaded, 16, 1)
    (GOLDEN / "frames-pong-v1.dz").write_bytes(buffer.getvalue())
    np.savez_compressed(GOLDEN / "frames-pong-v1-frames.npz", frames=frames)
    print(len(buffer.getvalue()), "bytes")


if __name__ == "__main__":
    main()
