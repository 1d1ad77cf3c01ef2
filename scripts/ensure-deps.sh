#!/usr/bin/env bash
# Installs the Debian packages tokenwire builds against, only when something is missing,
# so `make` works on a fresh Debian machine with nothing done by hand.
set -euo pipefail
need=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in pkg-config libcurl4-openssl-dev libsimdjson-dev clang libclang-rt-14-dev g++ make openssl \
         libhiredis-dev redis-server; do
    have_pkg "$p" || need+=("$p")
done
# `ensure-deps.sh node`: the Node suite also drives Debian's headless Chromium (puppeteer-core
# brings no browser of its own) for the browser reader's tests.
if [ "${1:-}" = node ]; then
    have_pkg chromium || need+=(chromium)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "ensure-deps: installing ${need[*]}" >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
