/* test_cli_parse.c - `tokenwire parse` run as a process (env TW_CLI) on captures in tests/data. */
#include "tw_test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct run_result {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
    size_t out_len, err_len;
} run_result;

static char *slurp_fd(int fd, size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        ssize_t k;
        if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
        k = read(fd, buf + n, cap - n);
        if (k <= 0) break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/*
 * Runs $TW_CLI parse ARGS... with stdin from the file `input` (a path under tests/data/cli, or
 * NULL for /dev/null); stdout and stderr go to temporary files, read back after exit.
 */
static run_result run_parse(const char *input, const char *const *args) {
    run_result r = {-1, NULL, NULL, 0, 0};
    const char *cli = getenv("TW_CLI");
    char out_path[] = "/tmp/tw_cli_out_XXXXXX", err_path[] = "/tmp/tw_cli_err_XXXXXX";
    char in_path[512];
    int out_fd, err_fd, st;
    pid_t pid;
    CHECK_MSG(cli != NULL, "TW_CLI is not set (run through `make test-c`)");
    if (!cli) return r;
    if (input) {
        snprintf(in_path, sizeof in_path, "%s/cli/%s", TW_TEST_DATA, input);
    } else {
        snprintf(in_path, sizeof in_path, "/dev/null");
    }
    out_fd = mkstemp(out_path);
    err_fd = mkstemp(err_path);
    CHECK(out_fd >= 0 && err_fd >= 0);
    pid = fork();
    if (pid == 0) {
        const char *argv[16];
        int n = 0, in_fd = open(in_path, O_RDONLY);
        if (in_fd < 0) _exit(99);
        argv[n++] = cli;
        argv[n++] = "parse";
        for (int i = 0; args[i] && n < 15; i++) argv[n++] = args[i];
        argv[n] = NULL;
        dup2(in_fd, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execv(cli, (char *const *)argv);
        _exit(98);
    }
    CHECK(pid > 0);
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    lseek(out_fd, 0, SEEK_SET);
    lseek(err_fd, 0, SEEK_SET);
    r.out = slurp_fd(out_fd, &r.out_len);
    r.err = slurp_fd(err_fd, &r.err_len);
    close(out_fd);
    close(err_fd);
    unlink(out_path);
    unlink(err_path);
    CHECK_MSG(r.status != 98 && r.status != 99, "could not run %s on %s", cli, in_path);
    return r;
}

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

TW_TEST(cli_parse_usage_errors) {
    const struct {
        const char *const *args;
        const char *msg;
    } cases[] = {
        {ARGS("--format", "openai"), "--dialect is required"},
        {ARGS("--dialect", "klingon"), "unknown dialect 'klingon'"},
        {ARGS("--dialect", "openai", "--format", "xml"), "unknown format 'xml'"},
        {ARGS("--dialect=openai", "--max-event-size", "0"), "--max-event-size wants"},
        {ARGS("--dialect", "openai", "--max-event-size", "12q"), "--max-event-size wants"},
        {ARGS("--dialect", "openai", "--max-event-size", "-5"), "--max-event-size wants"},
        {ARGS("--dialect", "openai", "--bogus"), "unknown argument '--bogus'"},
        {ARGS("--dialect"), "--dialect needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_result r = run_parse(NULL, cases[i].args);
        CHECK_EQ_INT(r.status, 2);
        CHECK_MSG(r.err && strstr(r.err, cases[i].msg) != NULL, "case %zu: stderr %s", i, r.err);
        CHECK_MSG(r.err && strstr(r.err, "usage: tokenwire parse") != NULL, "no usage text");
        CHECK_EQ_INT(r.out_len, 0);
        run_free(&r);
    }
    {
        run_result r = run_parse(NULL, ARGS("--help"));
        CHECK_EQ_INT(r.status, 0);
        CHECK(r.out && strstr(r.out, "Exit status") != NULL);
        run_free(&r);
    }
}

TW_TEST(cli_parse_raw_sse_events) {
    run_result r = run_parse("raw_spec.sse", ARGS("--dialect", "sse"));
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.out, r.out_len,
                 "{\"event\":\"message\",\"data\":\"first\\n two spaces\",\"id\":\"\",\"retry\":null}\n"
                 "{\"event\":\"update\",\"data\":\"\",\"id\":\"7\",\"retry\":3000}\n"
                 "{\"event\":\"message\",\"data\":\"{\\\"a\\\":1}\",\"id\":\"7\",\"retry\":null}\n"
                 "{\"event\":\"message\",\"data\":\"after reset\",\"id\":\"\",\"retry\":null}\n"
                 "{\"event\":\"message\",\"data\":\"caf\xc3\xa9 \xef\xbf\xbd\",\"id\":\"\",\"retry\":null}\n");
    CHECK_EQ_INT(r.err_len, 0);
    run_free(&r);
}

TW_TEST(cli_parse_openai_json_lines) {
    run_result r = run_parse("openai_tool.sse", ARGS("--dialect", "openai"));
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.out, r.out_len,
                 "{\"type\":\"start\",\"id\":\"chatcmpl-B9x\",\"model\":\"gpt-4o-mini-2024-07-18\"}\n"
                 "{\"type\":\"text\",\"index\":0,\"text\":\"Hel\"}\n"
                 "{\"type\":\"text\",\"index\":0,\"text\":\"lo \\\"you\\\"\\n\"}\n"
                 "{\"type\":\"tool_call\",\"index\":0,\"id\":\"call_abc\",\"name\":\"get_weather\",\"arguments\":\"\"}\n"
                 "{\"type\":\"tool_call\",\"index\":0,\"arguments\":\"{\\\"city\\\":\\\"Pa\"}\n"
                 "{\"type\":\"tool_call\",\"index\":0,\"arguments\":\"ris\\\"}\"}\n"
                 "{\"type\":\"finish\",\"index\":0,\"reason\":\"tool_calls\"}\n"
                 "{\"type\":\"usage\",\"input_tokens\":82,\"output_tokens\":17,\"total_tokens\":99}\n"
                 "{\"type\":\"end\"}\n");
    CHECK_EQ_INT(r.err_len, 0);
    run_free(&r);
}

TW_TEST(cli_parse_provider_error_exits_1) {
    run_result r = run_parse("anthropic_overloaded.sse", ARGS("--dialect", "anthropic"));
    CHECK_EQ_INT(r.status, 1);
    CHECK(r.out && strstr(r.out, "{\"type\":\"text\",\"index\":0,\"text\":\"Let me check\"}\n"));
    CHECK(r.out && strstr(r.out, "{\"type\":\"error\",\"kind\":\"provider\",") != NULL);
    CHECK(r.out &&
          strstr(r.out, "\"message\":\"Overloaded\",\"name\":\"overloaded_error\"") != NULL);
    CHECK(r.out && strstr(r.out, "{\"type\":\"end\"}") == NULL);
    CHECK(r.err && strstr(r.err, "the stream carried 1 error event") != NULL);
    run_free(&r);
    /* The same error re-encoded for an OpenAI client. */
    r = run_parse("anthropic_overloaded.sse", ARGS("--dialect", "anthropic", "--format", "openai"));
    CHECK_EQ_INT(r.status, 1);
    CHECK(r.out && strstr(r.out, "data: {\"error\":{\"message\":\"Overloaded\",\"type\":"
                                 "\"overloaded_error\",\"param\":null,\"code\":") != NULL);
    CHECK(r.out && r.out_len > 14 && !strcmp(r.out + r.out_len - 14, "data: [DONE]\n\n"));
    run_free(&r);
}

TW_TEST(cli_parse_reencodes_anthropic) {
    run_result r =
        run_parse("anthropic_tool.sse", ARGS("--dialect", "anthropic", "--format", "text"));
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.out, r.out_len, "Let me check \xe2\x80\xa8the weather.");
    run_free(&r);

    r = run_parse("anthropic_tool.sse", ARGS("--dialect", "anthropic", "--format", "ai-sdk"));
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.out, r.out_len,
                 "data: {\"type\":\"start\",\"messageId\":\"msg_01XF\"}\n\n"
                 "data: {\"type\":\"start-step\"}\n\n"
                 "data: {\"type\":\"reasoning-start\",\"id\":\"rsn_0\"}\n\n"
                 "data: {\"type\":\"reasoning-delta\",\"id\":\"rsn_0\",\"delta\":\"The user wants weather.\"}\n\n"
                 "data: {\"type\":\"reasoning-end\",\"id\":\"rsn_0\"}\n\n"
                 "data: {\"type\":\"text-start\",\"id\":\"txt_1\"}\n\n"
                 "data: {\"type\":\"text-delta\",\"id\":\"txt_1\",\"delta\":\"Let me check\"}\n\n"
                 "data: {\"type\":\"text-delta\",\"id\":\"txt_1\",\"delta\":\" \\u2028the weather.\"}\n\n"
                 "data: {\"type\":\"tool-input-start\",\"toolCallId\":\"toolu_01A\",\"toolName\":\"get_weather\"}\n\n"
                 "data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"toolu_01A\",\"inputTextDelta\":\"{\\\"city\\\": \\\"Pa\"}\n\n"
                 "data: {\"type\":\"tool-input-delta\",\"toolCallId\":\"toolu_01A\",\"inputTextDelta\":\"ris\\\"}\"}\n\n"
                 "data: {\"type\":\"text-end\",\"id\":\"txt_1\"}\n\n"
                 "data: {\"type\":\"tool-input-available\",\"toolCallId\":\"toolu_01A\",\"toolName\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}\n\n"
                 "data: {\"type\":\"finish-step\"}\n\n"
                 "data: {\"type\":\"finish\",\"finishReason\":\"tool-calls\",\"messageMetadata\":{\"usage\":{\"inputTokens\":25,\"outputTokens\":89,\"totalTokens\":114}}}\n\n"
                 "data: [DONE]\n\n");
    run_free(&r);

    r = run_parse("anthropic_tool.sse", ARGS("--dialect", "anthropic", "--format", "events"));
    CHECK_EQ_INT(r.status, 0);
    {
        static const char head[] = "event: agent_start\ndata: {\"agent\":\"default\",\"id\":"
                                   "\"msg_01XF\",\"model\":\"claude-sonnet-4-5\"}\n\n"
                                   "event: agent_chunk\ndata: {\"agent\":\"default\",\"type\":"
                                   "\"usage\",\"input_tokens\":25";
        CHECK(r.out && !strncmp(r.out, head, sizeof head - 1));
    }
    CHECK(r.out && strstr(r.out, "event: agent_complete\ndata: {\"agent\":\"default\",\"status\":\"ok\","
                                 "\"finish_reason\":\"tool_calls\",\"usage\":{\"input_tokens\":25,"
                                 "\"output_tokens\":89") != NULL);
    CHECK(r.out && r.out_len > 47 &&
          !strcmp(r.out + r.out_len - 47, "event: complete\ndata: {\"agents\":1,\"errors\":0}\n\n"));
    run_free(&r);
}

TW_TEST(cli_parse_max_event_size) {
    /* Every chunk of openai_tool.sse is over 128 bytes: each is rejected, typed, and the
     * decoder goes on to the next one. */
    run_result r =
        run_parse("openai_tool.sse", ARGS("--dialect", "openai", "--max-event-size", "128"));
    CHECK_EQ_INT(r.status, 1);
    CHECK(r.out && strstr(r.out, "{\"type\":\"error\",\"kind\":\"protocol\"") != NULL);
    CHECK(r.out && strstr(r.out, "\"type\":\"text\"") == NULL);
    CHECK(r.out && strstr(r.out, "max_event_size (128 bytes)") != NULL);
    CHECK(r.err && strstr(r.err, "the stream carried 8 error events") != NULL);
    run_free(&r);
    r = run_parse("openai_tool.sse", ARGS("--dialect", "openai", "--max-event-size=1k"));
    CHECK_EQ_INT(r.status, 0);
    run_free(&r);
}

TW_TEST(cli_parse_ndjson_format_equals_json_lines) {
    /* --format ndjson is the same JSON lines as the default output, for every dialect. */
    static const char *const caps[][2] = {
        {"anthropic", "../captures/anthropic/thinking_tool_use.sse"},
        {"gemini", "../captures/gemini/text_thought_tools_crlf.sse"},
        {"ollama", "../captures/ollama/chat.ndjson"},
        {"openai-responses", "../captures/openai-responses/function_call.sse"},
    };
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        run_result a = run_parse(caps[i][1], ARGS("--dialect", caps[i][0]));
        run_result b = run_parse(caps[i][1], ARGS("--dialect", caps[i][0], "--format", "ndjson"));
        CHECK_EQ_INT(a.status, 0);
        CHECK_EQ_INT(b.status, 0);
        CHECK_MSG(a.out_len > 0 && a.out_len == b.out_len && !memcmp(a.out, b.out, a.out_len),
                  "%s differs", caps[i][1]);
        CHECK(a.out && strstr(a.out, "{\"type\":\"end\"}\n") != NULL);
        run_free(&a);
        run_free(&b);
    }
}

/* Input with bytes but no event (an HTML page) is not a stream: an error event, exit 1.
 * Empty input is no answer either (truncated); for the raw dialects it is a clean end. */
TW_TEST(cli_parse_no_event_exits_1) {
    run_result r = run_parse("html_page.html", ARGS("--dialect", "openai"));
    CHECK_EQ_INT(r.status, 1);
    CHECK(r.out && strstr(r.out, "\"kind\":\"protocol\"") && strstr(r.out, "not an event stream"));
    CHECK(r.out && strstr(r.out, "<!DOCTYPE html>") != NULL);
    run_free(&r);
    r = run_parse("html_page.html", ARGS("--dialect", "ndjson"));
    CHECK_EQ_INT(r.status, 0); /* NDJSON: each line is a raw event */
    run_free(&r);
    r = run_parse(NULL, ARGS("--dialect", "openai"));
    CHECK_EQ_INT(r.status, 1);
    CHECK(r.out && strstr(r.out, "\"kind\":\"truncated\"") != NULL);
    run_free(&r);
    r = run_parse(NULL, ARGS("--dialect", "sse"));
    CHECK_EQ_INT(r.status, 0);
    run_free(&r);
}
