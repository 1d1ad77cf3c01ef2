#!/usr/bin/env bash
# The Node suite (`make test-node`): installs the test-only npm packages and builds the addon
# (npm install runs node/install.js -> node-gyp against the local Node headers), then runs
# node:test over tests/node. Needs only the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${npm_config_nodedir:-}" ]; then
    prefix="$(node -p "require('path').resolve(process.execPath, '..', '..')")"
    if [ -f "$prefix/include/node/node_api.h" ]; then
        export npm_config_nodedir="$prefix"
    fi
fi

echo "test-node: npm install (dev packages + addon build)" >&2
npm install --no-audit --no-fund --loglevel=error >&2

exec node --test --test-concurrency=1 --test-timeout=600000 tests/node/*.test.js
