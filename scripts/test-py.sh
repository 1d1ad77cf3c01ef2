#!/usr/bin/env bash
# Python test suite (called by `make test-py`): builds a venv under out/pyvenv with the test
# dependencies from PyPI, installs tokenwire from this checkout, and runs pytest.
# pytest exit status 5 ("no tests collected") is a failure here.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
VENV=${TW_PYVENV:-$ROOT/out/pyvenv}

if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)'; then
    echo "test-py: Python >= 3.9 required" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
# Test and comparison dependencies (pinned loosely; only PyPI is reached).
"$VPY" -m pip install -q --disable-pip-version-check --upgrade pip setuptools wheel
"$VPY" -m pip install -q --disable-pip-version-check \
    "pytest>=7" "hypothesis>=6" "psutil>=5" \
    "fastapi>=0.100" "uvicorn>=0.23" "uvloop>=0.17" "httpx>=0.24" "httpx-sse>=0.4" \
    "gunicorn>=21" \
    "openai>=1.0" "anthropic>=0.20"
# The package itself, built from this checkout (setup.py compiles csrc/ + python/src/).
TW_WERROR=1 "$VPY" -m pip install -q --disable-pip-version-check --no-build-isolation --force-reinstall \
    --no-deps "$ROOT"

# Run from a directory where `import tokenwire` cannot pick up the source tree by accident.
cd "$ROOT/tests/python"
set +e
"$VPY" -m pytest -q -p no:cacheprovider "$@" .
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "test-py: pytest collected no tests" >&2
    exit 1
fi
exit "$rc"
