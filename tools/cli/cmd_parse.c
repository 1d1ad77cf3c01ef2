/*
 * cmd_parse.c - `tokenwire parse`: decode a captured stream from stdin, for debugging captures.
 *
 * Reads stdin in 64 KiB reads and feeds a tw_decoder; prints each normalized event as one JSON
 * line (tw_event_to_json), or with --format the bytes of that encoder. With --dialect sse the
 * raw SSE events print as {"event":..,"data":..,"id":..,"retry":..} (all four keys, retry null
 * when absent), the shape of tw.SSEParser's events in Python and Node; errors (an oversized
 * event) still print as normalized error events. Output is flushed after
 * every read, so `curl -N ... | tokenwire parse --dialect openai` shows events as they come.
 */
#include "cli/tw_cli.h"
#include "tokenwire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_SIZE (64 * 1024)

static void usage(FILE *out) {
    fputs("usage: tokenwire parse --dialect D [--format F] [--max-event-size N] < capture\n"
          "\n"
          "Decodes a captured LLM response stream read from stdin.\n"
          "\n"
          "  --dialect D          openai | openai-responses | anthropic | gemini | ollama | sse |\n"
          "                       ndjson\n"
          "  --format F           re-encode instead of printing JSON lines:\n"
          "                       openai | events | ai-sdk | ndjson | text\n"
          "  --summary            after the events, one more line: the stream's summary as JSON\n"
          "                       (text, reasoning, tool calls, usage, finish reason, the end)\n"
          "  --max-event-size N   cap on one SSE event / NDJSON line in bytes (suffix k, m or g\n"
          "                       for KiB, MiB, GiB); default 64m\n"
          "\n"
          "Output: one JSON object per normalized event, e.g.\n"
          "  {\"type\":\"text\",\"index\":0,\"text\":\"Hel\"}\n"
          "  {\"type\":\"error\",\"kind\":\"provider\",\"message\":\"Overloaded\",...}\n"
          "With --dialect sse and no --format, the raw SSE events:\n"
          "  {\"event\":\"message\",\"data\":\"...\",\"id\":\"\",\"retry\":null}\n"
          "\n"
          "A data line that is not JSON (or an oversized event) prints an error event with\n"
          "\"recoverable\":true and decoding goes on. Input that ends before the dialect's end\n"
          "marker and without a finish reason ends with an error of kind truncated; input with\n"
          "bytes but no event at all with a protocol error (\"not an event stream\").\n"
          "\n"
          "Exit status: 0 the stream decoded without error events; 1 the stream carried an error\n"
          "event (provider error, invalid JSON, oversized event...; it is printed like any other\n"
          "event and counted on stderr) or stdin/stdout failed; 2 usage error.\n",
          out);
}

typedef struct parse_ctx {
    tw_encoder *enc; /* NULL: JSON lines */
    tw_summary *sum; /* --summary: every event goes in, printed as the last line */
    int raw_sse;     /* --dialect sse without --format */
    tw_buf out;
    long errors;
    tw_code rc; /* first output failure */
} parse_ctx;

static tw_code raw_sse_line(const tw_event *ev, tw_buf *out) {
    tw_code rc;
    tw_str name = ev->name.ptr ? ev->name : (tw_str){"message", 7};
    if ((rc = tw_buf_append(out, "{\"event\":", 9)) ||
        (rc = tw_json_escape(out, name.ptr, name.len)) ||
        (rc = tw_buf_append(out, ",\"data\":", 8)) ||
        (rc = tw_json_escape(out, ev->text.ptr, ev->text.ptr ? ev->text.len : 0)) ||
        (rc = tw_buf_append(out, ",\"id\":", 6)) ||
        (rc = tw_json_escape(out, ev->id.ptr, ev->id.ptr ? ev->id.len : 0)) ||
        (rc = tw_buf_append(out, ",\"retry\":", 9)))
        return rc;
    if (ev->retry >= 0) {
        char num[32];
        int n = snprintf(num, sizeof num, "%lld", (long long)ev->retry);
        rc = tw_buf_append(out, num, (size_t)n);
    } else {
        rc = tw_buf_append(out, "null", 4);
    }
    return rc ? rc : tw_buf_append(out, "}\n", 2);
}

static int on_event(void *ud, const tw_event *ev) {
    parse_ctx *c = ud;
    tw_code rc;
    if (ev->type == TW_EV_ERROR) c->errors++;
    if (c->sum && tw_summary_add(c->sum, ev) != TW_OK) {
        c->rc = TW_ERR_NOMEM;
        return 1;
    }
    if (c->enc) {
        rc = tw_encoder_encode(c->enc, ev, &c->out);
    } else if (c->raw_sse && ev->type == TW_EV_RAW) {
        rc = raw_sse_line(ev, &c->out);
    } else if (c->raw_sse && ev->type == TW_EV_END) {
        rc = TW_OK; /* raw SSE lines only: the end of input is not an SSE event */
    } else {
        rc = tw_event_to_json(ev, &c->out);
        if (!rc) rc = tw_buf_append(&c->out, "\n", 1);
    }
    if (rc) {
        c->rc = rc;
        return 1; /* stop the decoder: out of memory */
    }
    return 0;
}

static int flush_out(parse_ctx *c) {
    if (c->out.len && fwrite(c->out.data, 1, c->out.len, stdout) != c->out.len) return -1;
    c->out.len = 0;
    return fflush(stdout) == 0 ? 0 : -1;
}

/* Parses a size with an optional k/m/g suffix. @return 0 on success. */
static int parse_size(const char *s, size_t *out) {
    char *end;
    unsigned long long v, mul = 1;
    if (!s || !*s || *s == '-') return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s) return -1;
    if (*end) {
        switch (*end | 0x20) {
        case 'k': mul = 1ull << 10; break;
        case 'm': mul = 1ull << 20; break;
        case 'g': mul = 1ull << 30; break;
        default: return -1;
        }
        if (end[1] && !((end[1] | 0x20) == 'b' && !end[2]) &&
            !((end[1] | 0x20) == 'i' && (end[2] | 0x20) == 'b' && !end[3]))
            return -1;
    }
    if (v == 0 || v > (unsigned long long)SIZE_MAX / mul) return -1;
    *out = (size_t)(v * mul);
    return 0;
}

/* Matches "--name value" and "--name=value"; advances *i past what it used. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val) {
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        *val = NULL;
        return 1;
    }
    *val = argv[++*i];
    return 1;
}

static int usage_error(const char *fmt, const char *arg) {
    fputs("tokenwire parse: ", stderr);
    fprintf(stderr, fmt, arg ? arg : "");
    fputs("\n\n", stderr);
    usage(stderr);
    return 2;
}

int tw_cli_parse(int argc, char **argv) {
    const char *dialect_name = NULL, *format_name = NULL, *size_arg = NULL;
    tw_dialect dialect;
    tw_format format = (tw_format)0;
    tw_decoder_opts dopts;
    tw_decoder *dec;
    tw_error err;
    parse_ctx c;
    char *buf;
    int status = 0, eof = 0, want_summary = 0;

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        if (opt_value(argc, argv, &i, "--dialect", &v)) {
            if (!v) return usage_error("--dialect needs a value", NULL);
            dialect_name = v;
        } else if (opt_value(argc, argv, &i, "--format", &v)) {
            if (!v) return usage_error("--format needs a value", NULL);
            format_name = v;
        } else if (!strcmp(argv[i], "--summary")) {
            want_summary = 1;
        } else if (opt_value(argc, argv, &i, "--max-event-size", &v)) {
            if (!v) return usage_error("--max-event-size needs a value", NULL);
            size_arg = v;
        } else {
            return usage_error("unknown argument '%s'", argv[i]);
        }
    }
    if (!dialect_name) return usage_error("--dialect is required", NULL);
    dialect = tw_dialect_from_name(dialect_name, strlen(dialect_name));
    if (!dialect)
        return usage_error("unknown dialect '%s' (expected openai, openai-responses, anthropic, "
                           "gemini, ollama, sse or ndjson)",
                           dialect_name);
    if (format_name) {
        format = tw_format_from_name(format_name, strlen(format_name));
        if (!format)
            return usage_error("unknown format '%s' (expected openai, events, ai-sdk, ndjson or "
                               "text)",
                               format_name);
    }
    tw_decoder_opts_init(&dopts);
    if (size_arg && parse_size(size_arg, &dopts.max_event_size) != 0)
        return usage_error("--max-event-size wants a positive byte count such as 1048576 or "
                           "64m, not '%s'",
                           size_arg);

    memset(&c, 0, sizeof c);
    memset(&err, 0, sizeof err);
    tw_buf_init(&c.out);
    c.raw_sse = dialect == TW_DIALECT_SSE;
    dec = tw_decoder_new(dialect, &dopts, &err);
    if (!dec) {
        fprintf(stderr, "tokenwire parse: %s\n", err.msg[0] ? err.msg : tw_strerror(err.code));
        return 1;
    }
    if (format && !(c.enc = tw_encoder_new(format, NULL, &err))) {
        fprintf(stderr, "tokenwire parse: %s\n", err.msg[0] ? err.msg : tw_strerror(err.code));
        tw_decoder_free(dec);
        return 1;
    }
    if (want_summary && !(c.sum = tw_summary_new(1, tw_dialect_indexes_choices(dialect)))) {
        fputs("tokenwire parse: out of memory\n", stderr);
        tw_encoder_free(c.enc);
        tw_decoder_free(dec);
        return 1;
    }
    buf = malloc(READ_SIZE);
    if (!buf) {
        fputs("tokenwire parse: out of memory\n", stderr);
        status = 1;
        goto done;
    }
    while (!eof) {
        ssize_t n = read(STDIN_FILENO, buf, READ_SIZE);
        tw_code rc;
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "tokenwire parse: reading stdin: %s\n", strerror(errno));
            status = 1;
            break;
        }
        if (n == 0) {
            eof = 1;
            rc = tw_decoder_finish(dec, on_event, &c, &err);
            if (rc == TW_OK && c.enc) rc = tw_encoder_finish(c.enc, &c.out);
            if (rc == TW_OK && c.sum && (rc = tw_summary_to_json(c.sum, &c.out)) == TW_OK)
                rc = tw_buf_append(&c.out, "\n", 1);
        } else {
            rc = tw_decoder_feed(dec, buf, (size_t)n, on_event, &c, &err);
        }
        if (rc != TW_OK) {
            fprintf(stderr, "tokenwire parse: %s\n",
                    c.rc ? tw_strerror(c.rc) : (err.msg[0] ? err.msg : tw_strerror(rc)));
            flush_out(&c);
            status = 1;
            break;
        }
        if (flush_out(&c) != 0) {
            fprintf(stderr, "tokenwire parse: writing stdout: %s\n", strerror(errno));
            status = 1;
            break;
        }
    }
    if (c.errors) {
        fprintf(stderr, "tokenwire parse: the stream carried %ld error event%s\n", c.errors,
                c.errors == 1 ? "" : "s");
        status = 1;
    }
done:
    free(buf);
    tw_buf_free(&c.out);
    tw_encoder_free(c.enc);
    tw_summary_free(c.sum);
    tw_decoder_free(dec);
    return status;
}
