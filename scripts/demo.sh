#!/usr/bin/env bash
# The main job on the shipped models, from a fresh clone: 10,000 binary MNIST test images as PNGs and 300
# Atari frames -> archives -> restored, each checked exact. Sets up .venv first if it is not there.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/darnzip ] || bash scripts/setup.sh
DZ=.venv/bin/darnzip
rm -rf demo && mkdir -p demo
$DZ data mnist --split test -o demo/mnist-test
$DZ compress demo/mnist-test -o demo/mnist-test.dz
$DZ list demo/mnist-test.dz
$DZ test demo/mnist-test.dz
$DZ decompress demo/mnist-test.dz -o demo/restored
$DZ data atari --game Pong --frames 300 --seed 7 -o demo/pong.npy
$DZ compress demo/pong.npy -o demo/pong.dz
$DZ list demo/pong.dz
$DZ decompress demo/pong.dz -o demo/pong-restored.npy
.venv/bin/python - <<'PY'
import numpy as np
from pathlib import Path
from PIL import Image
a, b = sorted(Path("demo/mnist-test").glob("*.png")), sorted(Path("demo/restored").glob("*.png"))
assert [p.name for p in a] == [p.name for p in b], "file names differ"
assert all(np.array_equal(np.asarray(Image.open(x)), np.asarray(Image.open(y))) for x, y in zip(a, b)), "pixels differ"
print(f"round trip pixel-exact: {len(a)} PNG files")
assert np.array_equal(np.load("demo/pong.npy"), np.load("demo/pong-restored.npy")), "frames differ"
print("round trip exact: 300 Pong frames")
PY
