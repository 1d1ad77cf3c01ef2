#!/usr/bin/env bash
# run-fuzz.sh SECONDS BIN... : runs each libFuzzer target for SECONDS on its seed corpus.
set -euo pipefail
secs=$1; shift
for bin in "$@"; do
    name=$(basename "$bin")
    seeds=tests/fuzz/corpus/${name#fuzz_}
    work=out/fuzz/corpus/$name
    mkdir -p "$work"
    dirs=("$work"); [ -d "$seeds" ] && dirs+=("$seeds")
    echo "fuzz: $name for ${secs}s"
    "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=0 "${dirs[@]}" >"out/fuzz/$name.log" 2>&1 \
        || { tail -50 "out/fuzz/$name.log"; echo "fuzz: $name FAILED"; exit 1; }
    grep -E '^#[0-9]+.*DONE' "out/fuzz/$name.log" | tail -1 || true
done
