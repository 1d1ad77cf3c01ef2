/* test_engine_tls.c - TLS peer verification: a local HTTPS server (`openssl s_server -www`)
 * with a self-signed certificate generated here is rejected by default and accepted when its
 * certificate is given as ca_file. */
#include "test_engine_util.h"
#include "tw_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int can_connect(int port) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

TW_TEST(engine_tls_verification) {
    char dir[] = "/tmp/tw_tls_XXXXXX", cmd[1024], cert[256], key[256], accept_arg[64];
    char url[128];
    int port, rc;
    pid_t pid;
    double t0;
    tw_engine *e;
    tw_request_opts o;
    te_result r;
    tw_metrics m;
    tw_stream *s;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s -out %s -days 2 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1",
             key, cert);
    rc = system(cmd);
    CHECK_MSG(rc == 0, "the openssl command failed (%d): is it installed? (make deps)", rc);
    if (rc != 0) return;

    port = te_unused_port();
    snprintf(accept_arg, sizeof accept_arg, "127.0.0.1:%d", port);
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execlp("openssl", "openssl", "s_server", "-accept", accept_arg, "-cert", cert, "-key",
               key, "-www", "-quiet", (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0);
    t0 = te_now();
    while (!can_connect(port) && te_now() - t0 < 10) te_sleep_ms(20);
    CHECK_MSG(can_connect(port), "openssl s_server did not start on %d", port);

    e = tw_engine_new(NULL, NULL);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);

    /* Default: verification on, the self-signed certificate is rejected, not retried. */
    te_opts(&o, url, TW_DIALECT_SSE);
    o.method = "GET";
    o.body = NULL;
    o.body_len = 0;
    o.max_retries = 2;
    o.retry_base_delay = 0.01;
    s = tw_engine_start(e, &o, NULL);
    memset(&r, 0, sizeof r);
    te_drain(s, &r, 10000, 0);
    tw_stream_get_metrics(s, &m);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.kind, TW_KIND_TRANSPORT);
    CHECK_MSG(strstr(r.msg.data, "certificate") != NULL, "msg: %s", r.msg.data);
    CHECK_EQ_INT(m.retries, 0);
    te_result_free(&r);
    tw_stream_release(s);

    /* The certificate as CA bundle: accepted, the page arrives; s_server's page is HTML, which
     * no dialect reads, so the stream ends with a protocol error naming the content type. */
    o.ca_file = cert;
    s = tw_engine_start(e, &o, NULL);
    memset(&r, 0, sizeof r);
    te_drain(s, &r, 10000, 0);
    tw_stream_get_metrics(s, &m);
    CHECK(te_contract_ok(&r));
    CHECK_MSG(r.last == TW_EV_ERROR && r.kind == TW_KIND_PROTOCOL &&
                  strstr(r.msg.data, "text/html") != NULL,
              "last %d kind %d msg %s", r.last, r.kind, r.msg.data);
    CHECK_EQ_INT(m.http_status, 200);
    CHECK(m.bytes > 0);
    te_result_free(&r);
    tw_stream_release(s);

    /* Verification explicitly off: accepted too. */
    o.ca_file = NULL;
    o.verify_peer = 0;
    s = tw_engine_start(e, &o, NULL);
    memset(&r, 0, sizeof r);
    te_drain(s, &r, 10000, 0);
    CHECK(te_contract_ok(&r));
    CHECK_EQ_INT(r.last, TW_EV_ERROR);
    CHECK_EQ_INT(r.kind, TW_KIND_PROTOCOL);
    te_result_free(&r);
    tw_stream_release(s);

    tw_engine_free(e);

    /* No ca_file, SSL_CERT_FILE names the certificate (ca_bundle.c; probed once per process,
     * so in a process of its own: the CLI): accepted, the HTML page is reached. */
    {
        const char *cli = getenv("TW_CLI");
        char out[256], line[512] = "";
        FILE *f;
        CHECK_MSG(cli != NULL, "TW_CLI is not set (run through `make test-c`)");
        snprintf(out, sizeof out, "%s/stderr.txt", dir);
        snprintf(cmd, sizeof cmd, "SSL_CERT_FILE=%s %s stream --dialect sse -X GET %s "
                 ">/dev/null 2>%s", cert, cli ? cli : "false", url, out);
        rc = system(cmd);
        f = fopen(out, "r");
        CHECK(f != NULL);
        if (f) {
            size_t n = fread(line, 1, sizeof line - 1, f);
            line[n] = 0;
            fclose(f);
        }
        CHECK_MSG(strstr(line, "text/html") != NULL && strstr(line, "certificate") == NULL,
                  "SSL_CERT_FILE not used: rc %d, stderr: %s", rc, line);
        unlink(out);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}
