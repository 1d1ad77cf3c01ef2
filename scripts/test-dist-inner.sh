#!/usr/bin/env bash
# The part of scripts/test-dist.sh that runs inside `unshare --mount`: hides every way to build
# tokenwire, then installs and smoke-tests the artifacts (see test-dist.sh).
set -euo pipefail
ROOT="$1"; DIST="$2"; WORK="$3"
say() { echo "test-dist: $*" >&2; }
LIBDIR=/usr/lib/x86_64-linux-gnu

mount --make-rprivate /
for d in /usr/include /usr/lib/gcc /usr/libexec/gcc /usr/lib/llvm-14 "$LIBDIR/pkgconfig" \
         /usr/share/pkgconfig; do
    [ -d "$d" ] && mount -t tmpfs none "$d"
done
for f in /usr/bin/cc /usr/bin/c++ /usr/bin/gcc* /usr/bin/g++* /usr/bin/clang* \
         /usr/bin/x86_64-linux-gnu-g* "$LIBDIR"/libcurl.so.* "$LIBDIR"/libcurl-*.so.* \
         "$LIBDIR"/libsimdjson.so.*; do
    [ -f "$f" ] && [ ! -L "$f" ] && mount --bind /dev/null "$f"
done
if echo 'int main(void){return 0;}' | cc -x c - -o /dev/null 2>/dev/null; then
    say "a C compiler still works in the namespace"; exit 1
fi
if pkg-config --exists libcurl 2>/dev/null; then say "libcurl's pkg-config still visible"; exit 1; fi
if python3 -c 'import ctypes; ctypes.CDLL("libcurl.so.4")' 2>/dev/null; then
    say "the system libcurl still loads"; exit 1
fi
say "namespace: no compiler, no headers, no pkg-config, no system libcurl / simdjson"

ms() { date +%s%3N; }

# ---- Python: every wheel ----------------------------------------------------------------------
for venv in "$WORK"/venv-cp3*; do
    tag="${venv##*/venv-}"
    t0=$(ms)
    "$venv/bin/pip" install -q --disable-pip-version-check --only-binary :all: --no-index \
        --find-links "$DIST" tokenwire
    t1=$(ms)
    say "$tag: pip install of the wheel took $((t1 - t0)) ms"
    "$venv/bin/python" "$ROOT/tests/install/smoke.py" "$WORK/$tag"
    say "$tag: smoke passed"
done

# The sdist where nothing can build it: a clear message naming what to install, no traceback
# to decode.
set +e
out="$("$WORK/venv-sdist/bin/pip" install --disable-pip-version-check --no-index \
    --no-build-isolation "$DIST"/tokenwire-*.tar.gz 2>&1)"
rc=$?
set -e
if [ "$rc" -eq 0 ] || ! grep -q "apt-get install build-essential pkg-config" <<<"$out"; then
    echo "$out" | tail -20 >&2
    say "the sdist did not fail with the dependency message (rc $rc)"; exit 1
fi
say "sdist without compiler/libcurl: refused with the apt-get line, as documented"

# ---- Node -------------------------------------------------------------------------------------
cd "$WORK/npmproj"
t0=$(ms)
npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$DIST"/tokenwire-*.tgz
t1=$(ms)
say "node $(node --version): npm install --ignore-scripts of the tarball took $((t1 - t0)) ms"
[ ! -d node_modules/tokenwire/build ] || { say "npm built something"; exit 1; }
# Run from inside the project: from tests/install, require('tokenwire') would resolve to this
# checkout (a package may require itself by name).
cp "$ROOT/tests/install/smoke.js" smoke.js
node smoke.js
say "node $(node --version): smoke passed"
# The same install under the second major (Node-API: one binary for every version).
PATH="$WORK/node22/bin:$PATH" node smoke.js
say "node $("$WORK/node22/bin/node" --version): smoke passed"
