/* test_engine_cli.c - `tokenwire stream` run as a process (env TW_CLI) against the in-process
 * mock: text to stdout as it arrives, metrics on stderr, exit status 0 / 1 / 2. */
#include "test_engine_util.h"
#include "tw_test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct cli_run {
    int status;
    char *out, *err;
    size_t out_len, err_len;
} cli_run;

static char *slurp(int fd, size_t *len) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    lseek(fd, 0, SEEK_SET);
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

/* Runs $TW_CLI stream ARGS...; stdout/stderr captured through temporary files. */
static cli_run run_stream(const char *const *args) {
    cli_run r = {-1, NULL, NULL, 0, 0};
    const char *cli = getenv("TW_CLI");
    char out_path[] = "/tmp/tw_stream_out_XXXXXX", err_path[] = "/tmp/tw_stream_err_XXXXXX";
    int out_fd, err_fd, st;
    pid_t pid;
    CHECK_MSG(cli != NULL, "TW_CLI is not set (run through `make test-c`)");
    if (!cli) return r;
    out_fd = mkstemp(out_path);
    err_fd = mkstemp(err_path);
    CHECK(out_fd >= 0 && err_fd >= 0);
    pid = fork();
    if (pid == 0) {
        const char *argv[32];
        int n = 0, in_fd = open("/dev/null", O_RDONLY);
        argv[n++] = cli;
        argv[n++] = "stream";
        for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
        argv[n] = NULL;
        dup2(in_fd, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execv(cli, (char *const *)argv);
        _exit(98);
    }
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = slurp(out_fd, &r.out_len);
    r.err = slurp(err_fd, &r.err_len);
    close(out_fd);
    close(err_fd);
    unlink(out_path);
    unlink(err_path);
    CHECK_MSG(r.status != 98, "could not run %s", cli);
    return r;
}

static void cli_free(cli_run *r) {
    free(r->out);
    free(r->err);
}

TW_TEST(engine_cli_stream_text) {
    tw_mock *mk = te_mock_start();
    char url[512];
    char *want = tw_mock_expected_text(25, NULL);
    cli_run r;
    te_url(url, mk, "/v1/chat/completions?chunks=25&delay_ms=1");
    {
        const char *args[] = {url, "--dialect", "openai", "--json", te_body(1), NULL};
        r = run_stream(args);
    }
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.out, r.out_len, want);
    CHECK_MSG(strstr(r.err, "status 200") && strstr(r.err, "25 text events"), "stderr: %s",
              r.err);
    cli_free(&r);

    /* Anthropic at its path, ndjson format: one JSON line per event, the end last. */
    te_url(url, mk, "/v1/messages?chunks=4");
    {
        const char *args[] = {url, "--dialect", "anthropic", "--json", te_body(1), "--format",
                              "ndjson", "-q", NULL};
        r = run_stream(args);
    }
    CHECK_EQ_INT(r.status, 0);
    CHECK(strstr(r.out, "{\"type\":\"text\",\"index\":0,\"text\":\"Hello\"}\n") != NULL);
    CHECK(r.out_len > 15 && !strcmp(r.out + r.out_len - 15, "{\"type\":\"end\"}\n"));
    CHECK_EQ_INT(r.err_len, 0); /* -q */
    cli_free(&r);

    /* The openai SSE relay format ends with [DONE]. */
    te_url(url, mk, "/v1/chat/completions?chunks=3");
    {
        const char *args[] = {url, "--json", te_body(1), "--format", "openai", "-q", NULL};
        r = run_stream(args);
    }
    CHECK_EQ_INT(r.status, 0);
    CHECK(strstr(r.out, "data: [DONE]\n\n") != NULL);
    cli_free(&r);
    free(want);
    tw_mock_stop(mk);
}

TW_TEST(engine_cli_stream_errors) {
    tw_mock *mk = te_mock_start();
    char url[512];
    cli_run r;
    char *want3 = tw_mock_expected_text(3, NULL);

    /* HTTP error: exit 1, kind/status/message on stderr. */
    te_url(url, mk, "/v1/chat/completions?fault=429");
    {
        const char *args[] = {url, "--json", te_body(1), "--retries", "0", NULL};
        r = run_stream(args);
    }
    CHECK_EQ_INT(r.status, 1);
    CHECK_MSG(strstr(r.err, "kind=http") && strstr(r.err, "status=429"), "stderr: %s", r.err);
    cli_free(&r);

    /* Mid-stream reset: the text before it on stdout, a transport error, exit 1. */
    te_url(url, mk, "/v1/chat/completions?chunks=10&fault=reset&fault_after=3");
    {
        const char *args[] = {url, "--json", te_body(1), NULL};
        r = run_stream(args);
    }
    CHECK_EQ_INT(r.status, 1);
    CHECK_EQ_STR(r.out, r.out_len, want3);
    CHECK_MSG(strstr(r.err, "kind=transport") != NULL, "stderr: %s", r.err);
    cli_free(&r);

    /* Heartbeats only: the event timeout ends it. */
    te_url(url, mk, "/v1/chat/completions?chunks=10&fault=heartbeat_only&fault_after=3"
                    "&heartbeat_ms=20");
    {
        const char *args[] = {url, "--json", te_body(1), "--event-timeout", "0.3", NULL};
        r = run_stream(args);
    }
    CHECK_EQ_INT(r.status, 1);
    CHECK_EQ_STR(r.out, r.out_len, want3);
    CHECK_MSG(strstr(r.err, "kind=timeout") != NULL, "stderr: %s", r.err);
    cli_free(&r);

    /* Usage errors: exit 2. */
    {
        const char *args[] = {url, "--dialect", "klingon", NULL};
        r = run_stream(args);
        CHECK_EQ_INT(r.status, 2);
        cli_free(&r);
    }
    {
        const char *args[] = {"--json", "{}", NULL};
        r = run_stream(args);
        CHECK_EQ_INT(r.status, 2);
        cli_free(&r);
    }
    {
        const char *args[] = {url, "--api-key-env", "TW_TEST_SURELY_UNSET_KEY", NULL};
        r = run_stream(args);
        CHECK_EQ_INT(r.status, 2);
        CHECK(strstr(r.err, "TW_TEST_SURELY_UNSET_KEY") != NULL);
        cli_free(&r);
    }
    {
        const char *args[] = {"ftp://127.0.0.1/x", NULL};
        r = run_stream(args);
        CHECK_EQ_INT(r.status, 2);
        cli_free(&r);
    }
    free(want3);
    tw_mock_stop(mk);
}

/* Header injection through every CLI input: -H, -X, the key variable. Refused before any
 * connection (exit 2, the field named): the mock counts no request. */
TW_TEST(engine_cli_refuses_injection) {
    tw_mock *mk = te_mock_start();
    tw_mock_stats st;
    char url[512];
    cli_run r;
    te_url(url, mk, "/v1/chat/completions?chunks=3");
    {
        const char *args[] = {url, "-H", "X-A: 1\r\nX-Injected: yes", NULL};
        r = run_stream(args);
        CHECK_EQ_INT(r.status, 2);
        CHECK_MSG(strstr(r.err, "header \"X-A\"") && strstr(r.err, "CR"), "stderr: %s", r.err);
        cli_free(&r);
    }
    {
        const char *args[] = {url, "-X", "PO ST", NULL};
        r = run_stream(args);
        CHECK_EQ_INT(r.status, 2);
        CHECK_MSG(strstr(r.err, "method") != NULL, "stderr: %s", r.err);
        cli_free(&r);
    }
    setenv("TW_TEST_EVIL_KEY", "sk-x\nHost: evil.example", 1);
    {
        const char *args[] = {url, "--api-key-env", "TW_TEST_EVIL_KEY", "--dialect", "anthropic",
                              NULL};
        r = run_stream(args);
        CHECK_EQ_INT(r.status, 2);
        CHECK_MSG(strstr(r.err, "api_key") && strstr(r.err, "LF"), "stderr: %s", r.err);
        CHECK_MSG(strstr(r.err, "evil") == NULL, "the value was echoed: %s", r.err);
        cli_free(&r);
    }
    unsetenv("TW_TEST_EVIL_KEY");
    tw_mock_get_stats(mk, &st);
    CHECK_EQ_INT((int)st.total, 0);
    tw_mock_stop(mk);
}

/* The body from a file, the key from the environment (gemini wants x-goog-api-key). */
TW_TEST(engine_cli_stream_body_file_and_key) {
    tw_mock *mk = te_mock_start();
    char url[512], path[] = "/tmp/tw_stream_body_XXXXXX", at[64];
    char *want = tw_mock_expected_text(6, NULL);
    int fd = mkstemp(path);
    const char *b = te_body(1);
    cli_run r;
    CHECK(fd >= 0 && write(fd, b, strlen(b)) == (ssize_t)strlen(b));
    close(fd);
    snprintf(at, sizeof at, "@%s", path);
    setenv("TW_TEST_KEY_FOR_STREAM", "sk-test", 1);
    te_url(url, mk, "/v1beta/models/g:streamGenerateContent?alt=sse&chunks=6");
    {
        const char *args[] = {url, "--dialect", "gemini", "--json", at, "--api-key-env",
                              "TW_TEST_KEY_FOR_STREAM", "-H", "X-Extra: 1", NULL};
        r = run_stream(args);
    }
    CHECK_EQ_INT(r.status, 0);
    CHECK_EQ_STR(r.out, r.out_len, want);
    cli_free(&r);
    unsetenv("TW_TEST_KEY_FOR_STREAM");
    unlink(path);
    free(want);
    tw_mock_stop(mk);
}
