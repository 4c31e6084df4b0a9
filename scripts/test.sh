#!/usr/bin/env bash
# The tests: set up .venv if it is not there, then run the default suite (slow tests excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/darnzip ] || bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
