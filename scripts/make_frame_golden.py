"""Write a golden frame archive for tests/frames/test_archives.py: held-out-style frames of a game coded with a
shipped model, and the frames themselves.

    python scripts/make_frame_golden.py                       # tests/golden/frames-pong-v1.dz (atari-pong-v1, kept beside it)
    python scripts/make_frame_golden.py --game Freeway --model atari-freeway-v6 --frames 24 --chunk 8

Run once with the code that defines the model's coding; the tests then check that every later version
decodes the archive to the same frames (and, for models written with today's container, re-encodes it
byte for byte). The pong-v1 archive was written at commit 9f4a5a1, in container version 1.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from darnzip.frames.atari import frames_array  # noqa: E402
from darnzip.frames.stream import compress_frames  # noqa: E402
from darnzip.frames.zoo import resolve_frame_model  # noqa: E402

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--game", default="Pong")
    ap.add_argument("--model", default="tests/golden/atari-pong-v1.safetensors")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--chunk", type=int, default=16, help="frames per chunk")
    ap.add_argument("--seed", type=int, default=4242, help="seed of the play (not a training or held-out seed)")
    args = ap.parse_args()
    frames = frames_array(args.game, args.frames, seed=args.seed)
    loaded = resolve_frame_model(args.model)
    buffer = io.BytesIO()
    name = args.model.removeprefix("atari-")
    compress_frames(buffer, iter(frames), {"type": "npy", "name": f"{args.game.lower()}.npy"}, loaded, args.chunk, 1)
    (GOLDEN / f"frames-{name}.dz").write_bytes(buffer.getvalue())
    np.savez_compressed(GOLDEN / f"frames-{name}-frames.npz", frames=frames)
    print(f"tests/golden/frames-{name}.dz: {len(buffer.getvalue())} bytes")


if __name__ == "__main__":
    main()
