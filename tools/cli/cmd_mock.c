/* cmd_mock.c - `tokenwire mock`: runs the built-in mock LLM server until SIGINT/SIGTERM. */
#include "cli/tw_cli.h"
#include "mock/tw_mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mock_usage(FILE *out) {
    fputs("usage: tokenwire mock [--host 127.0.0.1] [--port P] [--threads N] [--quiet]\n"
          "\n"
          "Serves each LLM dialect at its real path with deterministic streamed text:\n"
          "  POST /v1/chat/completions   /v1/responses   /v1/messages\n"
          "  POST /v1beta/models/M:streamGenerateContent[?alt=sse]   :generateContent\n"
          "  POST /api/chat   /api/generate        GET /_mock/stats   GET /healthz\n"
          "Controls (query or X-Mock-<Name> header): chunks, delay_ms, text, reasoning, tools,\n"
          "choices, usage, split, coalesce, timestamp, fault, fault_after, fault_times,\n"
          "retry_after, oversized, heartbeat_ms (see tools/mock/tw_mock.h).\n"
          "Port 0 (the default) picks a free port; the first stdout line says which:\n"
          "  listening on http://HOST:PORT\n",
          out);
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

int tw_cli_mock(int argc, char **argv) {
    tw_mock_opts o;
    tw_mock_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            mock_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o.quiet = 1;
        } else if (!strcmp(a, "--host") && val) {
            o.host = val;
            i++;
        } else if (!strcmp(a, "--port") && val) {
            if (parse_int(val, 0, 65535, &o.port)) {
                fprintf(stderr, "tokenwire mock: bad --port '%s'\n", val);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--threads") && val) {
            if (parse_int(val, 1, 64, &o.threads)) {
                fprintf(stderr, "tokenwire mock: bad --threads '%s' (1-64)\n", val);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "tokenwire mock: unknown or incomplete option '%s'\n\n", a);
            mock_usage(stderr);
            return 2;
        }
    }
    return tw_mock_run(&o);
}
