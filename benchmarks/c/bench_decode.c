/*
 * bench_decode.c - framing + decoding throughput (make bench-c).
 *
 * Builds a 200,000-chunk OpenAI chat.completion.chunk stream and a 200,000-event Anthropic
 * Messages stream in memory (chunk JSON shaped like the providers' real traffic, see
 * /work/shared/reference/wire-formats.md), then decodes each through tw_decoder: fed whole, and
 * fed in 16 KiB pieces like socket reads. The callback counts events. Reports MB/s and ns per
 * chunk, best of several runs; the SSE parser alone is timed too, to show the split.
 * Reference: a memchr + simdjson on-demand prototype did about 1 GB/s, 235 ns/chunk here.
 */
#include "tokenwire.h"
#include "tw_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* TW_BENCH_CHUNKS / TW_BENCH_RUNS override the sizes (for profiling under valgrind). */
static int CHUNKS = 200000;
static int RUNS = 7;

static const char *const words[] = {
    "Hel", "lo", " world", ",", " the", " quick", " brown", " fox", " jumps", " over",
    " a", " lazy", " dog", ".", " It", "'s", " \\\"quoted\\\"", " caf\\u00e9", "\\n\\n", " 42",
};
#define NWORDS (sizeof words / sizeof words[0])

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void append(tw_buf *b, const char *s) { tw_buf_append(b, s, strlen(s)); }

static void build_openai(tw_buf *b) {
    char line[1024];
    const char *head = "\"id\":\"chatcmpl-B9xA1Zq7\",\"object\":\"chat.completion.chunk\","
                       "\"created\":1730000000,\"model\":\"gpt-4o-mini-2024-07-18\","
                       "\"system_fingerprint\":\"fp_0ba0d124f1\"";
    snprintf(line, sizeof line,
             "data: {%s,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":"
             "\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null,"
             "\"obfuscation\":\"vR3q\"}\n\n",
             head);
    append(b, line);
    for (int i = 1; i < CHUNKS - 2; i++) {
        snprintf(line, sizeof line,
                 "data: {%s,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"%s\"},"
                 "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null,"
                 "\"obfuscation\":\"%.*s\"}\n\n",
                 head, words[(unsigned)i * 7u % NWORDS], 1 + i % 9, "aZ3kq9Lm0xY");
        append(b, line);
    }
    snprintf(line, sizeof line,
             "data: {%s,\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
             "\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
             head);
    append(b, line);
    snprintf(line, sizeof line,
             "data: {%s,\"choices\":[],\"usage\":{\"prompt_tokens\":82,\"completion_tokens\":"
             "199998,\"total_tokens\":200080,\"prompt_tokens_details\":{\"cached_tokens\":0},"
             "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\ndata: [DONE]\n\n",
             head);
    append(b, line);
}

static void build_anthropic(tw_buf *b) {
    char line[1024];
    append(b, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"
              "\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":\"assistant\","
              "\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,"
              "\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
              "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
              "\"output_tokens\":1}}}\n\n");
    append(b, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
              "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    for (int i = 2; i < CHUNKS - 3; i++) {
        snprintf(line, sizeof line,
                 "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
                 "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n",
                 words[(unsigned)i * 7u % NWORDS]);
        append(b, line);
    }
    append(b, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
    append(b, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
              "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":199996}}\n\n");
    append(b, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

typedef struct counts {
    long events, text;
} counts;

static int count_event(void *ud, const tw_event *ev) {
    counts *c = ud;
    c->events++;
    if (ev->type == TW_EV_TEXT) c->text++;
    return 0;
}

static int count_sse(void *ud, const tw_sse_event *ev) {
    (void)ev;
    ((counts *)ud)->events++;
    return 0;
}

/* One decode of the whole capture; piece = 0 feeds it in one call. */
static double run_decoder(tw_dialect dialect, const tw_buf *in, size_t piece, counts *c) {
    tw_decoder *d = tw_decoder_new(dialect, NULL, NULL);
    double t0, t1;
    memset(c, 0, sizeof *c);
    t0 = now();
    if (!piece) {
        tw_decoder_feed(d, in->data, in->len, count_event, c, NULL);
    } else {
        for (size_t off = 0; off < in->len; off += piece) {
            size_t n = in->len - off < piece ? in->len - off : piece;
            tw_decoder_feed(d, in->data + off, n, count_event, c, NULL);
        }
    }
    tw_decoder_finish(d, count_event, c, NULL);
    t1 = now();
    tw_decoder_free(d);
    return t1 - t0;
}

static double run_sse_only(const tw_buf *in, size_t piece, counts *c) {
    tw_sse_parser *p = tw_sse_parser_new(NULL);
    double t0, t1;
    memset(c, 0, sizeof *c);
    t0 = now();
    for (size_t off = 0; off < in->len; off += piece ? piece : in->len) {
        size_t n = piece && in->len - off > piece ? piece : in->len - off;
        tw_sse_parser_feed(p, in->data + off, n, count_sse, c, NULL);
    }
    tw_sse_parser_finish(p);
    t1 = now();
    tw_sse_parser_free(p);
    return t1 - t0;
}

/* The reference prototype's approach, for a same-run comparison: memchr for the blank line,
 * skip "data: ", simdjson on-demand to choices[0].delta.content (no event objects, no
 * validation of the rest, no [DONE] / error / usage handling). */
static double run_prototype(const tw_buf *in, counts *c) {
    tw_json *j = tw_json_new();
    const char *p = in->data, *end = in->data + in->len;
    double t0, t1;
    memset(c, 0, sizeof *c);
    t0 = now();
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        tw_json_val root, v, el, g;
        tw_json_iter it, ait, cit, dit;
        tw_str k, s;
        if (!e || e + 1 >= end) break;
        if (e[1] != '\n') { /* a line end inside the event: keep looking for the blank line */
            p = e + 1;
            continue;
        }
        if (e - p > 6 && memcmp(p, "data: {", 7) == 0 &&
            tw_json_parse(j, p + 6, (size_t)(e - p - 6), (size_t)(end - p - 6), &root) == TW_OK &&
            tw_json_obj_begin(j, &root, &it)) {
            while (tw_json_obj_next(j, &it, &k, &v)) {
                if (k.len != 7 || memcmp(k.ptr, "choices", 7) != 0) continue;
                if (!tw_json_arr_begin(j, &v, &ait)) continue;
                while (tw_json_arr_next(j, &ait, &el)) {
                    if (!tw_json_obj_begin(j, &el, &cit)) continue;
                    while (tw_json_obj_next(j, &cit, &k, &g)) {
                        if (k.len != 5 || memcmp(k.ptr, "delta", 5) != 0) continue;
                        if (!tw_json_obj_begin(j, &g, &dit)) continue;
                        while (tw_json_obj_next(j, &dit, &k, &v))
                            if (k.len == 7 && memcmp(k.ptr, "content", 7) == 0 &&
                                tw_json_get_str(j, &v, &s) && s.len)
                                c->text++;
                    }
                }
            }
            c->events++;
        }
        p = e + 2;
    }
    t1 = now();
    tw_json_free(j);
    return t1 - t0;
}

static void report(const char *what, const tw_buf *in, double best, long chunks, long events) {
    printf("  %-34s %8.1f MB/s %8.1f ns/chunk  (%ld events)\n", what,
           (double)in->len / best / 1e6, best * 1e9 / (double)chunks, events);
}

static int bench(const char *name, tw_dialect dialect, const tw_buf *in, long expect_text) {
    counts c;
    double best;
    int ok = 1;
    printf("%s: %d chunks, %.1f MB, %.0f bytes/chunk\n", name, CHUNKS, (double)in->len / 1e6,
           (double)in->len / CHUNKS);
    for (int mode = 0; mode < 2; mode++) {
        size_t piece = mode ? 16384 : 0;
        best = 1e9;
        for (int r = 0; r < RUNS; r++) {
            double t = run_decoder(dialect, in, piece, &c);
            if (t < best) best = t;
        }
        if (c.text != expect_text) {
            printf("  wrong result: %ld text events, expected %ld\n", c.text, expect_text);
            ok = 0;
        }
        report(mode ? "decode, 16 KiB pieces" : "decode, whole buffer", in, best, CHUNKS,
               c.events);
    }
    best = 1e9;
    for (int r = 0; r < RUNS; r++) {
        double t = run_sse_only(in, 16384, &c);
        if (t < best) best = t;
    }
    report("SSE framing only, 16 KiB pieces", in, best, CHUNKS, c.events);
    if (dialect == TW_DIALECT_OPENAI) {
        best = 1e9;
        for (int r = 0; r < RUNS; r++) {
            double t = run_prototype(in, &c);
            if (t < best) best = t;
        }
        report("prototype (memchr + on-demand)", in, best, CHUNKS, c.events);
    }
    return ok;
}

int main(void) {
    tw_buf oa, an;
    int ok = 1;
    if (getenv("TW_BENCH_CHUNKS")) CHUNKS = atoi(getenv("TW_BENCH_CHUNKS"));
    if (getenv("TW_BENCH_RUNS")) RUNS = atoi(getenv("TW_BENCH_RUNS"));
    if (CHUNKS < 10 || RUNS < 1) return 2;
    tw_buf_init(&oa);
    tw_buf_init(&an);
    build_openai(&oa);
    build_anthropic(&an);
    ok &= bench("openai", TW_DIALECT_OPENAI, &oa, CHUNKS - 3);
    ok &= bench("anthropic", TW_DIALECT_ANTHROPIC, &an, CHUNKS - 5);
    tw_buf_free(&oa);
    tw_buf_free(&an);
    return ok ? 0 : 1;
}
