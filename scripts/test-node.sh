#!/usr/bin/env bash
# The Node suite (`make test-node`): installs the test-only npm packages and builds the addon
# (npm install runs node/install.js -> node-gyp against the local Node headers), then runs
# node:test over tests/node. Needs only the npm registry.
#
# `scripts/test-node.sh --asan [tests/node/x.test.js ...]` builds a copy of the package with
# the addon and the C core under AddressSanitizer + UBSan (out/node-asan; the normal build
# is not touched) and runs the given suites with the sanitizer runtimes preloaded into node.
# The default list leaves out, and names, three suites: nextjs and types (no addon code of
# their own worth the minutes) and load, whose RSS budgets do not hold under ASan's quarantine
# of freed memory (name it explicitly to run its other checks).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${npm_config_nodedir:-}" ]; then
    prefix="$(node -p "require('path').resolve(process.execPath, '..', '..')")"
    if [ -f "$prefix/include/node/node_api.h" ]; then
        export npm_config_nodedir="$prefix"
    fi
fi

./scripts/ensure-deps.sh node

if [ "${1:-}" = "--asan" ]; then
    shift
    root="$PWD"
    [ -d node_modules ] || npm install --no-audit --no-fund --loglevel=error >&2
    pkg="out/node-asan/pkg"
    echo "test-node --asan: building the addon with -fsanitize=address,undefined in $pkg" >&2
    mkdir -p "$pkg"
    tar --exclude=./build --exclude=./out --exclude=./node_modules --exclude=./.git -cf - . | tar -xf - -C "$pkg"
    ln -sfn "$root/node_modules" "$pkg/node_modules"
    san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
    (cd "$pkg" && TW_WERROR=1 CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" \
        node node/install.js >&2)
    if [ $# -eq 0 ]; then
        set -- $(cd "$pkg" && ls tests/node/*.test.js | grep -v -e nextjs.test.js -e types.test.js -e load.test.js)
        echo "test-node --asan: not run here: nextjs, types, load (see the header of this script)" >&2
    fi
    cd "$pkg"
    # Node's own allocations are not instrumented; leaks of V8 / Node are not ours to report.
    export LD_PRELOAD="$(cc -print-file-name=libasan.so):$(cc -print-file-name=libubsan.so)"
    export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    exec node --test --test-concurrency=1 --test-timeout=600000 "$@"
fi

echo "test-node: npm install (dev packages + addon build)" >&2
TW_WERROR=1 npm install --no-audit --no-fund --loglevel=error >&2

exec node --test --test-concurrency=1 --test-timeout=600000 tests/node/*.test.js
