#!/usr/bin/env bash
# CI: install dojax from this checkout into a fresh virtual environment and run the README's tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${DOJAX_CI_VENV:-$(mktemp -d)/venv}"
python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e ".[test]"
python -c "import jax, dojax; print('dojax', dojax.__version__, 'jax', jax.__version__, jax.devices())"
# the README's test command
pytest
