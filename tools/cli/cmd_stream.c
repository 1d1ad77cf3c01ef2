/*
 * cmd_stream.c - `tokenwire stream URL ...`: one request through the engine, events re-encoded
 * to stdout as they arrive (flushed per batch), metrics on stderr at the end.
 *
 * The request runs on the engine's I/O thread; this thread blocks in tw_stream_wait (100 ms
 * slices, so that Ctrl-C cancels the stream cleanly: the engine then delivers a cancelled
 * error, the output is flushed and the exit status is 130).
 */
#include "cli/tw_cli.h"
#include "tokenwire.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_HEADERS 64

static void usage(FILE *out) {
    fputs("usage: tokenwire stream URL [options]\n"
          "\n"
          "Streams one LLM response: tokens to stdout as they arrive, metrics to stderr.\n"
          "\n"
          "  --dialect D             openai (default) | openai-responses | anthropic | gemini |\n"
          "                          ollama | sse | ndjson\n"
          "  --json BODY|@FILE|@-    request body (POST); @FILE reads a file, @- stdin\n"
          "  -H, --header 'K: V'     extra request header (repeatable)\n"
          "  --api-key-env NAME      send the key in $NAME: Authorization: Bearer (openai...),\n"
          "                          x-api-key (anthropic), x-goog-api-key (gemini)\n"
          "  --format F              text (default) | events | openai | ai-sdk | ndjson\n"
          "  -X, --method M          HTTP method (default POST with a body, else GET)\n"
          "  --connect-timeout S     seconds (default 10)\n"
          "  --first-byte-timeout S  seconds from the request to the first body byte\n"
          "  --idle-timeout S        max seconds between body bytes (heartbeats count)\n"
          "  --event-timeout S       max seconds between events (heartbeats do not count)\n"
          "  --timeout S             whole stream\n"
          "  --paused-timeout S      end the stream when output is blocked this long (default\n"
          "                          300; 0 = never)\n"
          "  --retries N             retries before the first body byte (default 2)\n"
          "  --retry-sent            also retry a failure after the whole request was sent\n"
          "                          (the server may have received it twice)\n"
          "  --http2                 negotiate HTTP/2\n"
          "  --cacert FILE           CA bundle for TLS verification\n"
          "  -k, --insecure          do not verify the TLS peer\n"
          "  -q, --quiet             no metrics on stderr\n"
          "\n"
          "The method, URL, headers and the API key are checked before anything is sent: CR, LF,\n"
          "NUL or other control characters in a header, a method that is not an HTTP token or a\n"
          "URL with spaces or control characters are refused (exit 2, the field named).\n"
          "A 2xx answer that is not an event stream (an HTML page, bytes with no event) ends\n"
          "with a protocol error; a Retry-After over 60 s is reported, not waited for.\n"
          "\n"
          "Exit status: 0 the stream ended cleanly; 1 it ended with an error event (printed on\n"
          "stderr with its kind, status and message); 2 usage error; 130 interrupted.\n",
          out);
}

static int usage_error(const char *fmt, const char *arg) {
    fputs("tokenwire stream: ", stderr);
    fprintf(stderr, fmt, arg ? arg : "");
    fputs("\n\n", stderr);
    usage(stderr);
    return 2;
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
    *val = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

static int parse_seconds(const char *s, double *out) {
    char *end;
    double v;
    if (!s || !*s) return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || isnan(v) || v < 0 || v > 1e8) return -1;
    *out = v;
    return 0;
}

static int read_all(FILE *f, tw_buf *b) {
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (tw_buf_append(b, tmp, n) != TW_OK) return -1;
    return ferror(f) ? -1 : 0;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

static void print_metrics(const tw_metrics *m) {
    double kib = (double)m->bytes / 1024.0;
    fprintf(stderr,
            "-- status %ld, HTTP/%s, connection %s, connect %.2f ms, ttfb %.2f ms, ttft %.2f ms\n"
            "-- %llu text events (%llu events), gaps p50 %.2f ms p99 %.2f ms, %.1f KiB in %.3f s, "
            "retries %d\n",
            m->http_status, m->http_version == 2 ? "2" : "1.1",
            m->connection_reused ? "reused" : "new", m->connect_time * 1e3, m->ttfb * 1e3,
            m->ttft * 1e3, (unsigned long long)m->text_events, (unsigned long long)m->events,
            m->gap_p50 * 1e3, m->gap_p99 * 1e3, kib, m->duration, m->retries);
}

int tw_cli_stream(int argc, char **argv) {
    const char *url = NULL, *dialect_name = "openai", *format_name = "text", *json = NULL;
    const char *key_env = NULL, *key = NULL, *method = NULL, *cacert = NULL;
    const char *headers[MAX_HEADERS + 4];
    size_t n_headers = 0;
    int quiet = 0, insecure = 0, http2 = 0, retries = 2, retry_sent = 0, status = 0;
    double connect_t = 10, first_byte_t = 0, idle_t = 0, event_t = 0, total_t = 0, paused_t = 300;
    tw_dialect dialect;
    tw_format format;
    tw_buf body, out;
    tw_engine *e = NULL;
    tw_stream *s = NULL;
    tw_encoder *enc = NULL;
    tw_request_opts o;
    tw_error err;
    tw_metrics m;
    struct sigaction sa, old_int, old_term;
    int terminal = 0, failed = 0;

    tw_buf_init(&body);
    tw_buf_init(&out);
    for (int i = 1; i < argc; i++) {
        const char *v;
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "-k") || !strcmp(a, "--insecure")) {
            insecure = 1;
        } else if (!strcmp(a, "--http2")) {
            http2 = 1;
        } else if (!strcmp(a, "--retry-sent")) {
            retry_sent = 1;
        } else if (!strcmp(a, "-H") || opt_value(argc, argv, &i, "--header", &v)) {
            if (!strcmp(a, "-H")) v = i + 1 < argc ? argv[++i] : NULL;
            if (!v || !strchr(v, ':')) return usage_error("-H wants 'Name: value'", NULL);
            if (n_headers == MAX_HEADERS) return usage_error("too many headers", NULL);
            headers[n_headers++] = v;
        } else if (!strcmp(a, "-X") || opt_value(argc, argv, &i, "--method", &v)) {
            if (!strcmp(a, "-X")) v = i + 1 < argc ? argv[++i] : NULL;
            if (!v || !*v) return usage_error("--method needs a value", NULL);
            method = v;
        } else if (opt_value(argc, argv, &i, "--dialect", &v)) {
            if (!v) return usage_error("--dialect needs a value", NULL);
            dialect_name = v;
        } else if (opt_value(argc, argv, &i, "--format", &v)) {
            if (!v) return usage_error("--format needs a value", NULL);
            format_name = v;
        } else if (opt_value(argc, argv, &i, "--json", &v)) {
            if (!v) return usage_error("--json needs a value", NULL);
            json = v;
        } else if (opt_value(argc, argv, &i, "--api-key-env", &v)) {
            if (!v) return usage_error("--api-key-env needs a variable name", NULL);
            key_env = v;
        } else if (opt_value(argc, argv, &i, "--cacert", &v)) {
            if (!v) return usage_error("--cacert needs a file", NULL);
            cacert = v;
        } else if (opt_value(argc, argv, &i, "--retries", &v)) {
            char *end;
            long r = v ? strtol(v, &end, 10) : -1;
            if (!v || *end || r < 0 || r > 100) return usage_error("bad --retries '%s'", v);
            retries = (int)r;
        } else if (opt_value(argc, argv, &i, "--connect-timeout", &v)) {
            if (parse_seconds(v, &connect_t)) return usage_error("bad --connect-timeout '%s'", v);
        } else if (opt_value(argc, argv, &i, "--first-byte-timeout", &v)) {
            if (parse_seconds(v, &first_byte_t))
                return usage_error("bad --first-byte-timeout '%s'", v);
        } else if (opt_value(argc, argv, &i, "--idle-timeout", &v)) {
            if (parse_seconds(v, &idle_t)) return usage_error("bad --idle-timeout '%s'", v);
        } else if (opt_value(argc, argv, &i, "--event-timeout", &v)) {
            if (parse_seconds(v, &event_t)) return usage_error("bad --event-timeout '%s'", v);
        } else if (opt_value(argc, argv, &i, "--paused-timeout", &v)) {
            if (parse_seconds(v, &paused_t)) return usage_error("bad --paused-timeout '%s'", v);
        } else if (opt_value(argc, argv, &i, "--timeout", &v)) {
            if (parse_seconds(v, &total_t)) return usage_error("bad --timeout '%s'", v);
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else if (!url) {
            url = a;
        } else {
            return usage_error("unexpected argument '%s' (one URL only)", a);
        }
    }
    if (!url) return usage_error("a URL is required", NULL);
    dialect = tw_dialect_from_name(dialect_name, strlen(dialect_name));
    if (!dialect)
        return usage_error("unknown dialect '%s' (expected openai, openai-responses, anthropic, "
                           "gemini, ollama, sse or ndjson)",
                           dialect_name);
    format = tw_format_from_name(format_name, strlen(format_name));
    if (!format)
        return usage_error("unknown format '%s' (expected text, events, openai, ai-sdk or "
                           "ndjson)",
                           format_name);

    /* The body: inline, @file or @- (stdin). */
    if (json) {
        int rc = 0;
        if (json[0] == '@' && !strcmp(json + 1, "-")) {
            rc = read_all(stdin, &body);
        } else if (json[0] == '@') {
            FILE *f = fopen(json + 1, "rb");
            if (!f) {
                fprintf(stderr, "tokenwire stream: cannot read %s: %s\n", json + 1,
                        strerror(errno));
                return 2;
            }
            rc = read_all(f, &body);
            fclose(f);
        } else {
            rc = tw_buf_append(&body, json, strlen(json)) == TW_OK ? 0 : -1;
        }
        if (rc) {
            fprintf(stderr, "tokenwire stream: cannot read the request body\n");
            tw_buf_free(&body);
            return 2;
        }
    }

    /* The API key: the engine sends it the way the dialect's provider expects (and checks it). */
    if (key_env) {
        key = getenv(key_env);
        if (!key || !*key) {
            fprintf(stderr, "tokenwire stream: environment variable %s is not set\n", key_env);
            tw_buf_free(&body);
            return 2;
        }
    }

    e = tw_engine_new(NULL, &err);
    if (!e) {
        fprintf(stderr, "tokenwire stream: %s\n", err.msg);
        status = 1;
        goto done;
    }
    enc = tw_encoder_new(format, NULL, &err);
    if (!enc) {
        fprintf(stderr, "tokenwire stream: %s\n", err.msg);
        status = 1;
        goto done;
    }
    tw_request_opts_init(&o);
    o.url = url;
    o.method = method ? method : (json ? "POST" : "GET");
    o.headers = headers;
    o.n_headers = n_headers;
    o.api_key = key;
    o.body = json ? (body.data ? body.data : "") : NULL;
    o.body_len = body.len;
    o.dialect = dialect;
    o.connect_timeout = connect_t;
    o.first_byte_timeout = first_byte_t;
    o.idle_timeout = idle_t;
    o.event_timeout = event_t;
    o.total_timeout = total_t;
    o.paused_timeout = paused_t;
    o.max_retries = retries;
    o.retry_sent = retry_sent;
    o.http2 = http2;
    o.verify_peer = !insecure;
    o.ca_file = cacert;
    s = tw_engine_start(e, &o, &err);
    if (!s) {
        fprintf(stderr, "tokenwire stream: %s\n", err.msg);
        status = 2;
        goto done;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    while (!terminal) {
        tw_code rc = tw_stream_wait(s, 100);
        tw_batch *b;
        if (interrupted == 1) {
            interrupted = 2;
            tw_stream_cancel(s);
        }
        if (rc == TW_ERR_TIMEOUT) continue;
        if (rc == TW_ERR_CLOSED) break;
        b = tw_stream_take(s);
        if (!b) continue;
        for (size_t i = 0; i < tw_batch_count(b); i++) {
            const tw_event *ev = tw_batch_get(b, i);
            if (tw_encoder_encode(enc, ev, &out) != TW_OK) failed = 1;
            if (ev->type == TW_EV_END) terminal = 1;
            if (ev->type == TW_EV_ERROR) {
                terminal = 1;
                status = 1;
                fflush(stdout);
                fprintf(stderr, "tokenwire stream: error kind=%s", tw_error_kind_name(ev->error_kind));
                if (ev->status) fprintf(stderr, " status=%d", ev->status);
                fprintf(stderr, " message=%.*s\n", (int)ev->text.len,
                        ev->text.ptr ? ev->text.ptr : "");
            }
        }
        if (terminal && tw_encoder_finish(enc, &out) != TW_OK) failed = 1;
        tw_batch_free(b);
        if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len) failed = 1;
        out.len = 0;
        if (fflush(stdout) != 0) failed = 1;
        if (failed) {
            /* stdout is gone (closed pipe, full disk): stop the stream. */
            tw_stream_cancel(s);
            status = 1;
            break;
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (format == TW_FORMAT_TEXT && !failed && isatty(STDOUT_FILENO)) fputc('\n', stdout);
    tw_stream_get_metrics(s, &m);
    if (!quiet) print_metrics(&m);
    if (interrupted) status = 130;

done:
    tw_stream_release(s);
    tw_engine_free(e);
    tw_encoder_free(enc);
    tw_buf_free(&body);
    tw_buf_free(&out);
    return status;
}
