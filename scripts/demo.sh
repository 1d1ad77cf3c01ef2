#!/usr/bin/env bash
# demo.sh - the README's first command (`make demo`): starts the built-in mock LLM server on a
# free port and streams tokens from it, with no API key and no network.
#
#   scripts/demo.sh [path/to/tokenwire]
#   env: DEMO_PORT (default 0 = any free port), DEMO_CHUNKS (40), DEMO_DELAY_MS (50),
#        DEMO_DIALECT (openai)
#
# The tokens go through the real client (engine, SSE framing, decoder) and print as plain
# text; the stream's metrics follow on stderr.
set -euo pipefail

TW=${1:-out/release/tokenwire}
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
    rm -f "$log" "$log.err"
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
# Text to stdout as it arrives; the stream's metrics line (or its error) follows on stderr.
# On a terminal `tokenwire stream` ends the text with a line break itself; otherwise the
# stderr lines are held back and printed on a line of their own after the text.
if [ -t 1 ]; then
    "$TW" stream "$url" --dialect "$DIALECT" --json "$body"
else
    rc=0
    "$TW" stream "$url" --dialect "$DIALECT" --json "$body" 2>"$log.err" || rc=$?
    echo >&2
    cat "$log.err" >&2
    exit "$rc"
fi
