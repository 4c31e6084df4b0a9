#!/usr/bin/env bash
# The main job on the shipped model: 10,000 binary MNIST test images as PNGs -> archive -> PNGs, checked.
set -euo pipefail
cd "$(dirname "$0")/.."
DZ=.venv/bin/darnzip
rm -rf demo && mkdir -p demo
$DZ data mnist --split test -o demo/mnist-test
$DZ compress demo/mnist-test -o demo/mnist-test.dz
$DZ list demo/mnist-test.dz
$DZ test demo/mnist-test.dz
$DZ decompress demo/mnist-test.dz -o demo/restored
.venv/bin/python - <<'PY'
import numpy as np
from pathlib import Path
from PIL import Image
a, b = sorted(Path("demo/mnist-test").glob("*.png")), sorted(Path("demo/restored").glob("*.png"))
assert [p.name for p in a] == [p.name for p in b], "file names differ"
assert all(np.array_equal(np.asarray(Image.open(x)), np.asarray(Image.open(y))) for x, y in zip(a, b)), "pixels differ"
print(f"round trip pixel-exact: {len(a)} PNG files")
PY
