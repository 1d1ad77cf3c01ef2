/* cli.c - `tokenwire` subcommand dispatch and usage. */
#include "cli/tw_cli.h"
#include "tokenwire.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *out) {
    fputs("usage: tokenwire <command> [options]\n"
          "\n"
          "commands:\n"
          "  stream URL --dialect D --json BODY|@file [-H 'K: V'] [--api-key-env NAME]\n"
          "         [--format text|events|openai|ai-sdk|ndjson] [--cacert FILE] [--retry-sent]\n"
          "                 stream a response: tokens to stdout, metrics to stderr\n"
          "  parse --dialect D [--format F] [--summary] < capture\n"
          "                 decode a captured stream: normalized events as JSON lines\n"
          "  mock [--host 127.0.0.1] [--port P]\n"
          "                 run the built-in mock LLM server\n"
          "  version        print the version\n"
          "\n"
          "`tokenwire COMMAND --help` for each command's options. Headers, the method, the\n"
          "URL and the API key are checked before anything is sent (CR, LF, NUL refused:\n"
          "exit 2). A\n"
          "stream ends with exactly one terminal event: end, or an error (http, provider,\n"
          "timeout, protocol, transport, cancelled, truncated); an error marked recoverable (one\n"
          "bad event) lets the stream go on.\n",
          out);
}

int tw_cli_main(int argc, char **argv) {
    const char *cmd = argc > 1 ? argv[1] : NULL;
    if (!cmd || !strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(cmd ? stdout : stderr);
        return cmd ? 0 : 2;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("tokenwire %s\n", tw_version());
        return 0;
    }
    if (!strcmp(cmd, "parse")) return tw_cli_parse(argc - 1, argv + 1);
    if (!strcmp(cmd, "stream")) return tw_cli_stream(argc - 1, argv + 1);
    if (!strcmp(cmd, "mock")) return tw_cli_mock(argc - 1, argv + 1);
    fprintf(stderr, "tokenwire: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
