#!/usr/bin/env bash
# Build darnzip's wheel, install it in a fresh virtualenv away from the checkout, and round-trip MNIST PNGs and
# Atari frames with the models the wheel bundles; then decode an --embed-model archive of a model that is not
# installed there. Usage: bash scripts/check_wheel.sh [WORKDIR]   (CI runs it after the tests)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
cd "$work"
py="$repo/.venv/bin/python"
"$py" -m pip wheel -q --no-deps --no-build-isolation -w "$work/dist" "$repo"
python3 -m venv "$work/venv"
pip="$work/venv/bin/python -m pip"
$pip install -q --upgrade pip
$pip install -q "torch==2.13.0"
$pip install -q "$work"/dist/darnzip-*.whl
dz="$work/venv/bin/darnzip"
cd "$work"  # no checkout on the path: the wheel's own darnzip and models
"$work/venv/bin/python" -c "import darnzip, sys; assert '$repo' not in darnzip.__file__, darnzip.__file__"

# MNIST-like digits: the test images of the data wheel the checkout's venv has, written as PNGs
"$py" - "$work/digits" <<'EOF'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
from darnzip.images.datasets import load_binary_mnist
out = Path(sys.argv[1]); out.mkdir(exist_ok=True)
for i, image in enumerate(load_binary_mnist("test")[:50]):
    Image.fromarray((image * 255).astype(np.uint8)).save(out / f"d{i:03d}.png")
EOF
"$dz" compress digits -o digits.dz -T 2
"$dz" decompress digits.dz -o digits.out -q
diff -r digits digits.out

# A binary image of another size: the bundled page model codes it
"$py" -c "import numpy as np; from PIL import Image; rng = np.random.default_rng(3); Image.fromarray(((rng.random((90, 130)) < 0.2) * 255).astype(np.uint8)).convert('1').save('page.png')"
"$dz" compress page.png -o page.dz
"$dz" decompress page.dz -o page.out.png -q
"$work/venv/bin/python" -c "import numpy as np; from PIL import Image; assert np.array_equal(np.asarray(Image.open('page.png')), np.asarray(Image.open('page.out.png')))"

# Atari frames (ale-py in the checkout's venv), coded with the bundled Pong model
"$py" -c "import numpy as np, sys; from darnzip.frames.atari import frames_array; np.save(sys.argv[1], frames_array('Pong', 30, seed=4321))" pong.npy
"$dz" compress pong.npy -o pong.dz -T 2
"$dz" decompress pong.dz -o pong.out.npy -q
"$work/venv/bin/python" -c "import numpy as np; assert np.array_equal(np.load('pong.npy'), np.load('pong.out.npy'))"

# A model the wheel does not ship, embedded in its archive: it decodes with no model installed
cp "$repo/tests/golden/atari-pong-v1.safetensors" "$repo/tests/golden/atari-pong-v1.json" .
"$dz" compress pong.npy -o embedded.dz --model ./atari-pong-v1.safetensors --embed-model -T 2
rm atari-pong-v1.safetensors atari-pong-v1.json
"$dz" list embedded.dz
"$dz" decompress embedded.dz -o embedded.out.npy -q
"$work/venv/bin/python" -c "import numpy as np; assert np.array_equal(np.load('pong.npy'), np.load('embedded.out.npy'))"
echo "wheel check passed: $(ls "$work"/dist/darnzip-*.whl) in a fresh virtualenv"
