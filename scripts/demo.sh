#!/usr/bin/env bash
# demo.sh - the README's first command (`make demo`): starts the built-in mock LLM server on a
# free port and streams tokens from it, with no API key and no network.
#
#   scripts/demo.sh [path/to/tokenwire]
#   env: DEMO_PORT (default 0 = any free port), DEMO_CHUNKS (40), DEMO_DELAY_MS (50),
#        DEMO_DIALECT (openai)
#
# With `tokenwire stream` built, the tokens go through the real client (engine, SSE framing,
# decoder) and print as plain text, metrics on stderr. Before that command exists the script
# shows the raw SSE stream with `curl -N` (or bash's /dev/tcp when curl is missing).
set -euo pipefail

TW=${1:-build/release/tokenwire}
PORT=${DEMO_PORT:-0}
CHUNKS=${DEMO_CHUNKS:-40}
DELAY=${DEMO_DELAY_MS:-50}
DIALECT=${DEMO_DIALECT:-openai}

if [ ! -x "$TW" ]; then
    echo "demo: $TW not found; run 'make' first" >&2
    exit 1
fi

log=$(mktemp)
"$TW" mock --host 127.0.0.1 --port "$PORT" --quiet >"$log" &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT INT TERM

# The mock prints "listening on http://HOST:PORT" once it accepts connections.
base=""
for _ in $(seq 1 100); do
    base=$(sed -n 's/^listening on //p' "$log")
    [ -n "$base" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "demo: the mock server did not start" >&2
        exit 1
    fi
    sleep 0.05
done
[ -n "$base" ] || { echo "demo: the mock server did not report its port" >&2; exit 1; }

case "$DIALECT" in
openai) path=/v1/chat/completions ;;
openai-responses) path=/v1/responses ;;
anthropic) path=/v1/messages ;;
gemini) path="/v1beta/models/mock:streamGenerateContent?alt=sse" ;;
ollama) path=/api/chat ;;
*) echo "demo: unknown dialect $DIALECT" >&2; exit 2 ;;
esac
sep='?'
case "$path" in *\?*) sep='&' ;; esac
url="$base$path${sep}chunks=$CHUNKS&delay_ms=$DELAY"
body='{"model":"mock","stream":true,"messages":[{"role":"user","content":"hi"}]}'

echo "demo: mock LLM server at $base; streaming $CHUNKS tokens from $url" >&2
probe=$("$TW" stream --help 2>&1 || true)
if [[ "$probe" != *"not built yet"* ]]; then
    "$TW" stream "$url" --dialect "$DIALECT" --json "$body"
    echo
elif command -v curl >/dev/null 2>&1; then
    echo "demo: 'tokenwire stream' is not built yet; showing the raw stream with curl -N" >&2
    curl -sS -N -H 'Content-Type: application/json' -d "$body" "$url"
else
    echo "demo: 'tokenwire stream' is not built yet and curl is missing; raw HTTP via bash" >&2
    hostport=${base#http://}
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"
    printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "${url#$base}" "$hostport" "${#body}" "$body" >&3
    cat <&3
    exec 3<&-
fi
