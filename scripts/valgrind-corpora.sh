#!/usr/bin/env bash
# valgrind-corpora.sh [CLI] : runs `tokenwire parse` (default out/release/tokenwire: -O2 -g,
# no sanitizers) under valgrind memcheck on the fuzz seed corpora and on generated nasty
# inputs. ASan cannot see reads of uninitialised bytes (the simdjson padding contract); memcheck
# can. A run fails on a valgrind error (exit 99, definite leaks included), a crash or a usage
# error; exit 1 is fine (the stream carried error events, which most nasty inputs do).
# Extra valgrind flags go through VALGRIND_OPTS (read by valgrind), e.g. --track-origins=yes.
#
# Why not one concatenated input per decoder dialect: a decoder emits nothing after END
# ([DONE], message_stop, a terminal provider error), so everything after the first capture
# would skip the JSON layer. Decoder captures run one per process (about 1.2 s of valgrind
# start-up each, spread over every core); the framing-only corpora (sse, ndjson) are batched.
set -euo pipefail
export LC_ALL=C # byte semantics for awk and tr on the generated inputs
cli=${1:-out/release/tokenwire}
[ -x "$cli" ] || { echo "valgrind-corpora: $cli not built (make $cli)" >&2; exit 2; }

# Install valgrind on demand, as ensure-deps.sh does for the build packages.
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind-corpora: installing valgrind" >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi

corpus=tests/fuzz/corpus
work=out/valgrind
rm -rf "$work"
mkdir -p "$work/in" "$work/log"
jobs=$work/jobs

# One job per line: input file, then the `tokenwire parse` arguments.
job() { printf '%s\n' "$*" >>"$jobs"; }
ends_with_newline() { [ "$(tail -c1 "$1" | od -An -tx1 | tr -d ' ')" = 0a ]; }

# ---- seed corpora ---------------------------------------------------------------------------
for pair in decoder_openai:openai decoder_anthropic:anthropic decoder_gemini:gemini \
            decoder_ollama:ollama decoder_openai_responses:openai-responses \
            decoder_raw:sse decoder_raw:ndjson; do
    for f in "$corpus/${pair%%:*}"/*; do job "$f" --dialect "${pair#*:}"; done
done
# The re-encoders on top of the decoders.
job "$corpus/decoder_anthropic/thinking_tool_use.sse" --dialect anthropic --format openai
job "$corpus/decoder_gemini/multi_candidate_image.sse" --dialect gemini --format openai
job "$corpus/decoder_openai_responses/reasoning_refusal_raw.sse" --dialect openai-responses \
    --format openai
job "$corpus/decoder_ollama/chat.ndjson" --dialect ollama --format openai
job "$corpus/decoder_openai/tool_calls.sse" --dialect openai --format events
job "$corpus/decoder_anthropic/server_tools_raw.sse" --dialect anthropic --format ai-sdk
job "$corpus/decoder_gemini/text_thought_tools_crlf.sse" --dialect gemini --format ndjson
job "$corpus/decoder_openai/reasoning.sse" --dialect openai --format text

# Framing-only corpora: one batch each (a blank line between captures ends any open event),
# plus alone the captures whose last line has no newline: at EOF that line is completed in the
# splitter's own buffer, which the batch cannot reproduce.
for pair in sse:sse ndjson:ndjson; do
    dir=${pair%%:*}
    for f in "$corpus/$dir"/*; do cat "$f"; printf '\n\n'; done >"$work/in/all_$dir"
    job "$work/in/all_$dir" --dialect "${pair#*:}"
    for f in "$corpus/$dir"/*; do
        ends_with_newline "$f" || job "$f" --dialect "${pair#*:}"
    done
done

# ---- generated nasty inputs -----------------------------------------------------------------
# Deterministic pseudo-random bytes (AES-CTR of zeros), so a failure reproduces.
key=0123456789abcdef0123456789abcdef iv=00000000000000000000000000000000
head -c 65536 /dev/zero | openssl enc -aes-128-ctr -nosalt -K $key -iv $iv >"$work/in/garbage.bin"
for d in openai ollama sse ndjson; do job "$work/in/garbage.bin" --dialect "$d"; done

# Every JSON payload of the decoder corpora, cut short at many points and then closed with a
# stray byte ('}' '"' '\' ']' or 0xFF): malformed documents whose keys and strings end right
# at the padding. SSE events alternate between one and two data lines (two are joined in the
# parser's buffer, one points into the read buffer); the file is larger than one 64 KiB read,
# so some lines straddle reads too. Nearly every cut is malformed JSON, a recoverable protocol
# error: the decoders read on to the end (thousands of events), not stopping at a terminal one.
cat "$corpus"/decoder_*/* | tr -d '\r' | sed -n 's/^data: *//; /^[[{]/p' >"$work/in/payloads"
awk 'BEGIN { split("} \" \\ ] \377", tail, " ") }
{
    n = length($0)
    for (k = 1; k < n - 1; k += 3) {
        s = substr($0, 1, k) tail[(NR + k) % 5 + 1]
        if (k % 2) printf "data: %s\n\n", s
        else printf "data: %s\ndata: %s\n\n", substr(s, 1, int(k / 2)), substr(s, int(k / 2) + 1)
    }
}' "$work/in/payloads" >"$work/in/garbled.sse"
awk 'BEGIN { split("} \" \\ ] \377", tail, " ") }
{
    n = length($0)
    for (k = 1; k < n - 1; k += 3) printf "%s%s\n", substr($0, 1, k), tail[(NR + k) % 5 + 1]
}' "$work/in/payloads" >"$work/in/garbled.ndjson"
job "$work/in/garbled.sse" --dialect openai
job "$work/in/garbled.sse" --dialect anthropic
job "$work/in/garbled.ndjson" --dialect ollama

# Oversized: events/lines over --max-event-size 1k between normal ones, the last one at EOF
# without a newline.
big=$(head -c 3000 /dev/zero | tr '\0' x)
{
    printf 'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n'
    printf 'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' "$big"
    printf 'data: {"choices":[{"index":0,"delta":{"content":"b"}}]}\n\n'
    printf 'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\ndata: {\n\n' "${big:0:900}"
    printf 'data: {"choices":[{"index":0,"delta":{"content":"c"}}]}\n\n'
    printf 'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}' "$big"
} >"$work/in/oversized.sse"
{
    printf '{"message":{"role":"assistant","content":"a"},"done":false}\n'
    printf '{"message":{"role":"assistant","content":"%s"},"done":false}\n' "$big"
    printf '{"message":{"role":"assistant","content":"b"},"done":false}\n'
    printf '{"message":{"role":"assistant","content":"%s"},"done":false}' "$big"
} >"$work/in/oversized.ndjson"
job "$work/in/oversized.sse" --dialect openai --max-event-size 1k
job "$work/in/oversized.ndjson" --dialect ollama --max-event-size 1k

# Invalid UTF-8 (lone continuation bytes, overlongs, surrogates, truncated sequences) in
# strings, keys and structure: such lines are repaired into a scratch buffer before parsing.
bad=$'\x80\xbf\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe2\x82'
{
    printf 'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' "$bad"
    printf 'data: {"choices":[{"index":0,"delta":{"content%s":"x"}}]}\n\n' "$bad"
    printf 'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]%s}\n\n' "$bad"
    printf 'data: {"choi%s\n\n' "$bad"
    printf 'data: {"choices":[{"index":0,"delta":{"content":"%s"' "$bad"
} >"$work/in/utf8.sse"
{
    printf '{"message":{"content":"%s"},"done":false}\n' "$bad"
    printf '{"message":{"content%s":"x"},"done":false}\n' "$bad"
    printf '{"mess%s\n' "$bad"
    printf '{"message":{"content":"%s"' "$bad"
} >"$work/in/utf8.ndjson"
job "$work/in/utf8.sse" --dialect openai
job "$work/in/utf8.ndjson" --dialect ollama

# A huge JSON line (3 MiB, far beyond one 64 KiB read: assembled in the splitter's buffer),
# with and without its final newline.
huge=$(head -c 3145728 /dev/zero | tr '\0' y)
printf 'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' "$huge" >"$work/in/huge.sse"
printf '{"message":{"content":"%s"},"done":false}' "$huge" >"$work/in/huge.ndjson"
unset huge
job "$work/in/huge.sse" --dialect openai
job "$work/in/huge.ndjson" --dialect ollama

# ---- run ------------------------------------------------------------------------------------
run_one() {
    local n=$1 line=$2 in args rc
    read -r in args <<<"$line"
    # shellcheck disable=SC2086 # args is a word list on purpose
    timeout 120 valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        "$VG_CLI" parse $args <"$in" >/dev/null 2>"$VG_LOG/$n.log" && rc=0 || rc=$?
    if [ "$rc" -gt 1 ]; then
        echo "valgrind-corpora: FAIL (exit $rc) tokenwire parse $args < $in (log $VG_LOG/$n.log)"
        return 1
    fi
}
export -f run_one
export VG_CLI=$cli VG_LOG=$work/log

count=$(wc -l <"$jobs")
echo "valgrind-corpora: $count runs of $cli under valgrind on $(nproc) cores"
start=$SECONDS
status=0
nl -ba -w1 -s' ' "$jobs" |
    xargs -P "$(nproc)" -L1 bash -c 'n=$1; shift; run_one "$n" "$*"' _ || status=1
if [ "$status" != 0 ]; then
    # Show the first failing log in full enough to act on.
    for f in $(grep -l -E 'ERROR SUMMARY: [1-9]|Process terminating' "$work"/log/*.log || :); do
        head -60 "$f"
        break
    done
    echo "valgrind-corpora: FAILED ($((SECONDS - start)) s)"
    exit 1
fi
echo "valgrind-corpora: all $count runs clean ($((SECONDS - start)) s)"
