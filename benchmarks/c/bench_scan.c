/*
 * bench_scan.c - line-end scanner variants (scalar, glibc memchr, SSE2, AVX2) and the SSE
 * parser / NDJSON splitter built on them, in MB/s.
 *
 * Inputs, built in memory:
 *  - "openai": 200,000 realistic chat.completion.chunk events ("data: {...}\n\n", ~230 bytes
 *    per line, short content deltas), the stream the core must keep up with;
 *  - "long": 1 MiB data lines (base64-like, as image-generation events), 64 of them;
 *  - "crlf": the openai stream with CRLF line ends (Gemini style).
 * Scanner rows time a loop that finds every line end. Parser rows feed the whole stream in
 * 16 KiB pieces (a typical socket read) with each scanner variant forced. Times are thread CPU
 * time; variants run interleaved, best of REPS kept.
 */
#include "tokenwire.h"
#include "tw_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 5

/* CPU time of this thread: the machine is shared, and wall time would count the moments
 * other processes held the core. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *build_openai(size_t chunks, size_t *len, int crlf) {
    static const char *words[] = {"Hello", " world", ",", " the", " quick", " brown", " fox",
                                  " jumps", " over", " lazy", " dogs", ".", "\\n", " \\u00e9t\\u00e9"};
    tw_buf b;
    char line[512];
    tw_buf_init(&b);
    for (size_t i = 0; i < chunks; i++) {
        int n = snprintf(line, sizeof line,
                         "data: {\"id\":\"chatcmpl-AbCdEf0123456789\",\"object\":\"chat.completion."
                         "chunk\",\"created\":1718000000,\"model\":\"gpt-4o-mini-2024-07-18\","
                         "\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{\"index\":0,"
                         "\"delta\":{\"content\":\"%s\"},\"logprobs\":null,\"finish_reason\":null}]}"
                         "%s",
                         words[i % (sizeof words / sizeof *words)], crlf ? "\r\n\r\n" : "\n\n");
        tw_buf_append(&b, line, (size_t)n);
    }
    *len = b.len;
    return b.data;
}

static char *build_long(size_t lines, size_t line_len, size_t *len) {
    size_t per = 6 + line_len + 2, n = lines * per;
    char *s = malloc(n + TW_JSON_PADDING);
    for (size_t l = 0; l < lines; l++) {
        char *p = s + l * per;
        memcpy(p, "data: ", 6);
        for (size_t i = 0; i < line_len; i++)
            p[6 + i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(i * 7 + l) % 64];
        p[6 + line_len] = '\n';
        p[7 + line_len] = '\n';
    }
    *len = n;
    return s;
}

typedef struct variant {
    const char *name;
    tw__eol_fn fn;
} variant;

static size_t sink_count;

static double bench_scanner(tw__eol_fn fn, const char *s, size_t n) {
    double best = 1e9;
    for (int rep = 0; rep < 2; rep++) {
        const char *p = s, *end = s + n;
        size_t count = 0;
        double t0 = now();
        while (p < end) {
            p = fn(p, end);
            if (p < end) p++, count++;
        }
        double t = now() - t0;
        sink_count += count;
        if (t < best) best = t;
    }
    return (double)n / best / 1e6;
}

static int count_event(void *ud, const tw_sse_event *ev) {
    (*(size_t *)ud) += ev->data.len > 0;
    return 0;
}

static int count_line(void *ud, tw_str line, size_t cap) {
    (void)line, (void)cap;
    (*(size_t *)ud)++;
    return 0;
}

static double bench_sse(const char *s, size_t n, size_t piece, size_t *events) {
    double best = 1e9;
    for (int rep = 0; rep < 2; rep++) {
        tw_sse_parser *p = tw_sse_parser_new(NULL);
        size_t count = 0;
        double t0 = now();
        for (size_t at = 0; at < n; at += piece)
            tw_sse_parser_feed(p, s + at, n - at < piece ? n - at : piece, count_event, &count,
                               NULL);
        double t = now() - t0;
        tw_sse_parser_free(p);
        *events = count;
        if (t < best) best = t;
    }
    return best;
}

static double bench_ndjson(const char *s, size_t n, size_t piece, size_t *lines) {
    double best = 1e9;
    for (int rep = 0; rep < 2; rep++) {
        tw_ndjson *p = tw_ndjson_new(0);
        size_t count = 0;
        double t0 = now();
        for (size_t at = 0; at < n; at += piece)
            tw_ndjson_feed(p, s + at, n - at < piece ? n - at : piece, count_line, &count, NULL);
        tw_ndjson_finish(p, count_line, &count, NULL);
        double t = now() - t0;
        tw_ndjson_free(p);
        *lines = count;
        if (t < best) best = t;
    }
    return best;
}

int main(void) {
    size_t n_oa, n_long, n_crlf, chunks = 200000;
    char *oa = build_openai(chunks, &n_oa, 0);
    char *crlf = build_openai(chunks, &n_crlf, 1);
    char *lng = build_long(64, (size_t)1 << 20, &n_long);
    variant vs[4];
    int nv = 0;
    vs[nv++] = (variant){"scalar", tw__eol_scalar};
    vs[nv++] = (variant){"memchr", tw__eol_memchr};
#ifdef TW__HAVE_X86_SIMD
    vs[nv++] = (variant){"sse2", tw__eol_sse2};
    if (tw__cpu_has_avx2()) vs[nv++] = (variant){"avx2", tw__eol_avx2};
#endif
    printf("inputs: openai %zu chunks %.1f MB (%.0f B/chunk), crlf %.1f MB, long 64 x 1 MiB "
           "lines %.1f MB\n",
           chunks, n_oa / 1e6, (double)n_oa / chunks, n_crlf / 1e6, n_long / 1e6);
    printf("default scanner on this machine: %s\n\n", tw__eol_default_name());
    /* The machine is shared: runs of the variants are interleaved, best of REPS kept, so a
     * noisy phase does not favour whichever variant ran at a quiet moment. */
    double sc[4][3] = {{0}}, ps[4][3] = {{0}};
    for (int rep = 0; rep < REPS; rep++) {
        for (int i = 0; i < nv; i++) {
            double r[3] = {bench_scanner(vs[i].fn, oa, n_oa), bench_scanner(vs[i].fn, crlf, n_crlf),
                           bench_scanner(vs[i].fn, lng, n_long)};
            size_t ev_oa, ev_crlf, ev_long;
            double t[3];
            tw__eol_set_default(vs[i].fn);
            t[0] = bench_sse(oa, n_oa, 16384, &ev_oa);
            t[1] = bench_sse(crlf, n_crlf, 16384, &ev_crlf);
            t[2] = bench_sse(lng, n_long, 16384, &ev_long);
            if (ev_oa != chunks || ev_crlf != chunks || ev_long != 64) {
                fprintf(stderr, "bench_scan: wrong event count (%zu %zu %zu)\n", ev_oa, ev_crlf,
                        ev_long);
                return 1;
            }
            for (int k = 0; k < 3; k++) {
                if (r[k] > sc[i][k]) sc[i][k] = r[k];
                if (t[k] < ps[i][k] || ps[i][k] == 0) ps[i][k] = t[k];
            }
        }
    }
    printf("scanner alone (find every line end), MB/s:\n");
    printf("%-8s %14s %14s %14s\n", "scanner", "openai", "crlf", "long");
    for (int i = 0; i < nv; i++)
        printf("%-8s %14.0f %14.0f %14.0f\n", vs[i].name, sc[i][0], sc[i][1], sc[i][2]);
    printf("\nSSE parser, 16 KiB feeds, each scanner variant forced:\n");
    printf("%-8s %14s %14s %14s %14s\n", "scanner", "openai MB/s", "ns/chunk", "crlf MB/s",
           "long MB/s");
    for (int i = 0; i < nv; i++)
        printf("%-8s %14.0f %14.1f %14.0f %14.0f\n", vs[i].name, n_oa / ps[i][0] / 1e6,
               ps[i][0] * 1e9 / chunks, n_crlf / ps[i][1] / 1e6, n_long / ps[i][2] / 1e6);
    tw__eol_set_default(NULL);
    {
        size_t lines;
        double t = bench_ndjson(oa, n_oa, 16384, &lines);
        printf("\nNDJSON splitter (default scanner), same bytes as NDJSON: %.0f MB/s, %.1f ns/line "
               "(%zu lines)\n", n_oa / t / 1e6, t * 1e9 / lines, lines);
    }
    printf("(checksum %zu)\n", sink_count);
    free(oa);
    free(crlf);
    free(lng);
    return 0;
}
