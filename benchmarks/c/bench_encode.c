/*
 * bench_encode.c - encoder throughput per format: 200,000 normalized events of a typical chat
 * stream (short text deltas, some non-ASCII and quotes, a streamed tool call every 1000 events)
 * encoded into a buffer that is drained every 64 events, as a relay would. Prints output MB/s
 * and ns per event (best of 5 runs), then raw tw_json_escape speed on ASCII and on CJK text.
 * Times are the thread's CPU time, so that other processes on a shared machine do not count.
 */
#include "tokenwire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_EVENTS 200000
#define RUNS 5

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *const tokens[] = {"Hello", ",", " world", "!", " The", " quick", " brown",
                                     " fox", " \"jumps\"", " over", "\n\n", " caf\xc3\xa9",
                                     " \xe6\x97\xa5\xe6\x9c\xac", " the", " lazy", " dog."};

static tw_event *make_events(size_t *count) {
    tw_event *evs = malloc(sizeof(tw_event) * (N_EVENTS + 8));
    size_t n = 0;
    tw_event_init(&evs[n]);
    evs[n].type = TW_EV_START;
    evs[n].id = (tw_str){"chatcmpl-B9x", 12};
    evs[n].name = (tw_str){"gpt-4o-mini", 11};
    n++;
    while (n < N_EVENTS - 3) {
        tw_event *ev = &evs[n];
        tw_event_init(ev);
        if (n % 1000 == 999) {
            ev->type = TW_EV_TOOL_CALL;
            ev->index = (int32_t)(n / 1000);
            ev->id = (tw_str){"call_abc", 8};
            ev->name = (tw_str){"get_weather", 11};
            ev->arguments = (tw_str){"{\"city\":\"Paris\"}", 16};
        } else {
            const char *t = tokens[n % (sizeof tokens / sizeof tokens[0])];
            ev->type = TW_EV_TEXT;
            ev->text = (tw_str){t, strlen(t)};
        }
        n++;
    }
    tw_event_init(&evs[n]);
    evs[n].type = TW_EV_FINISH;
    evs[n++].reason = (tw_str){"stop", 4};
    tw_event_init(&evs[n]);
    evs[n].type = TW_EV_USAGE;
    evs[n].input_tokens = 82;
    evs[n++].output_tokens = 17;
    tw_event_init(&evs[n]);
    evs[n++].type = TW_EV_END;
    *count = n;
    return evs;
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL; /* optional: one format name */
    size_t n;
    tw_event *evs = make_events(&n);
    tw_buf out;
    tw_buf_init(&out);
    printf("%-8s %10s %10s %12s\n", "format", "MB/s", "ns/event", "bytes/event");
    for (int f = TW_FORMAT_OPENAI; f < TW_FORMAT__LAST; f++) {
        double best = 1e9;
        size_t total = 0;
        if (only && strcmp(only, tw_format_name((tw_format)f)) != 0) continue;
        for (int run = 0; run < RUNS; run++) {
            tw_encoder_opts o;
            tw_encoder *e;
            double t0, t;
            tw_encoder_opts_init(&o);
            o.id = "chatcmpl-bench";
            e = tw_encoder_new((tw_format)f, &o, NULL);
            total = 0;
            out.len = 0;
            t0 = now_s();
            for (size_t i = 0; i < n; i++) {
                if (tw_encoder_encode(e, &evs[i], &out) != TW_OK) return 1;
                if ((i & 63) == 63) {
                    total += out.len;
                    out.len = 0;
                }
            }
            if (tw_encoder_finish(e, &out) != TW_OK) return 1;
            total += out.len;
            t = now_s() - t0;
            if (t < best) best = t;
            tw_encoder_free(e);
        }
        printf("%-8s %10.0f %10.1f %12.1f\n", tw_format_name((tw_format)f), total / best / 1e6,
               best * 1e9 / (double)n, (double)total / (double)n);
    }
    if (!only) {
        /* Raw escaping: 1 MiB of ASCII prose with a newline every ~80 bytes, and 1 MiB of CJK. */
        size_t len = 1 << 20;
        char *ascii = malloc(len), *cjk = malloc(len);
        for (size_t i = 0; i < len; i++) ascii[i] = (i % 80 == 79) ? '\n' : (char)('a' + i % 26);
        for (size_t i = 0; i + 3 <= len; i += 3) memcpy(cjk + i, "\xe6\x97\xa5", 3);
        for (size_t i = len - len % 3; i < len; i++) cjk[i] = 'x';
        for (int which = 0; which < 2; which++) {
            const char *src = which ? cjk : ascii;
            double best = 1e9;
            for (int run = 0; run < RUNS; run++) {
                double t0 = now_s();
                for (int k = 0; k < 20; k++) {
                    out.len = 0;
                    if (tw_json_escape(&out, src, len) != TW_OK) return 1;
                }
                double t = (now_s() - t0) / 20;
                if (t < best) best = t;
            }
            printf("tw_json_escape %-5s %8.0f MB/s (input)\n", which ? "CJK" : "ASCII",
                   (double)len / best / 1e6);
        }
        free(ascii);
        free(cjk);
    }
    tw_buf_free(&out);
    free(evs);
    return 0;
}
