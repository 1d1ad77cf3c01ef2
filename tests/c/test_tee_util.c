/* test_tee_util.c - see test_tee_util.h. */
#include "test_tee_util.h"

#include "test_engine_util.h"
#include "tw_test.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double tt_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Reads redis-server's stdout until its readiness line (at most 10 s). */
static int wait_ready_line(int fd) {
    char buf[8192];
    size_t n = 0;
    double end = tt_ms() + 10000;
    while (tt_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t k;
        if (poll(&p, 1, 200) <= 0) continue;
        k = read(fd, buf + n, sizeof buf - 1 - n);
        if (k <= 0) return -1;
        n += (size_t)k;
        buf[n] = '\0';
        if (strstr(buf, "Ready to accept connections")) return 0;
        if (n > sizeof buf / 2) { /* keep the tail: the line may straddle */
            memmove(buf, buf + n - 256, 256);
            n = 256;
        }
    }
    return -1;
}

void tt_redis_start(tt_redis *r, int port) { tt_redis_start_args(r, port, NULL); }

void tt_redis_start_args(tt_redis *r, int port, const char *const *extra) {
    int pipefd[2];
    char portstr[16];
    const char *argv[32] = {"redis-server", "--port", NULL, "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--daemonize", "no", "--loglevel", "notice"};
    int argc = 13;
    if (!port) port = te_unused_port();
    snprintf(portstr, sizeof portstr, "%d", port);
    if (pipe(pipefd) != 0) exit(2);
    r->port = port;
    r->pid = fork();
    if (r->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a crashed test run */
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        close(pipefd[1]);
        argv[2] = portstr;
        for (int i = 0; extra && extra[i] && i < 8; i++) argv[argc++] = extra[i];
        argv[argc] = NULL;
        execvp("redis-server", (char *const *)argv);
        fprintf(stderr, "cannot run redis-server: %s (Debian package redis-server; "
                        "scripts/ensure-deps.sh installs it)\n", strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    if (r->pid < 0 || wait_ready_line(pipefd[0]) != 0) {
        fprintf(stderr, "redis-server did not become ready on port %d\n", port);
        exit(2);
    }
    /* Its later log lines go nowhere (redis ignores SIGPIPE; a pipe nobody reads could fill). */
    close(pipefd[0]);
    {
        redisContext *c = tt_connect(r); /* the readiness line, confirmed by a PING */
        redisReply *rep = redisCommand(c, "PING");
        /* A server with requirepass answers NOAUTH: that answer is the sign of life too. */
        int up = rep && (rep->type == REDIS_REPLY_STATUS ||
                         (rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "NOAUTH")));
        if (!up) {
            fprintf(stderr, "redis-server does not answer PING\n");
            exit(2);
        }
        freeReplyObject(rep);
        redisFree(c);
    }
}

void tt_redis_kill(tt_redis *r) {
    if (r->pid <= 0) return;
    kill(r->pid, SIGKILL);
    while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    r->pid = 0;
}

static tt_redis shared;
static void kill_shared(void) { tt_redis_kill(&shared); }

const tt_redis *tt_shared(void) {
    if (!shared.pid) {
        tt_redis_start(&shared, 0);
        atexit(kill_shared);
    }
    return &shared;
}

redisContext *tt_connect(const tt_redis *r) {
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        fprintf(stderr, "cannot connect to redis on %d\n", r->port);
        exit(2);
    }
    redisSetTimeout(c, tv);
    return c;
}

long long tt_int(redisContext *c, const char *fmt, ...) {
    va_list ap;
    redisReply *rep;
    long long v = -999;
    va_start(ap, fmt);
    rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (rep && rep->type == REDIS_REPLY_INTEGER) v = rep->integer;
    if (rep) freeReplyObject(rep);
    return v;
}

void tt_tee_opts(tw_tee_opts *o, const tt_redis *r, const char *prefix) {
    tw_tee_opts_init(o);
    o->redis.port = r->port;
    o->redis.key_prefix = prefix;
}

void tt_resume_opts(tw_resume_opts *o, const tt_redis *r, const char *prefix) {
    tw_resume_opts_init(o);
    o->redis.port = r->port;
    o->redis.key_prefix = prefix;
    o->block_ms = 200;
}

void tt_drain(tw_resume *r, tt_read *out, int limit_ms) {
    memset(out, 0, sizeof *out);
    tw_buf_init(&out->bytes);
    for (;;) {
        tw_resume_chunk *c;
        if (!tw_resume_wait(r, limit_ms)) {
            out->timed_out = 1;
            out->state = TW_RESUME_RUNNING;
            return;
        }
        while ((c = tw_resume_take(r)) != NULL) {
            if (out->chunks == 0)
                out->first_seq = c->first_seq;
            else
                CHECK_EQ_INT(c->first_seq, out->first_seq + out->events);
            out->chunks++;
            out->events += c->n_events;
            tw_buf_append(&out->bytes, c->data, c->len);
            tw_resume_chunk_free(c);
        }
        out->state = tw_resume_status(r, &out->err);
        if (out->state != TW_RESUME_RUNNING) return;
    }
}

void tt_read_free(tt_read *r) { tw_buf_free(&r->bytes); }

int tt_wait_notice(tw_tee *t, tw_tee_notice_kind kind, const char *id, int counts[6],
                   int limit_ms) {
    double end = tt_ms() + limit_ms;
    tw_tee_notice n[16];
    for (;;) {
        struct pollfd p = {tw_tee_fd(t), POLLIN, 0};
        size_t k;
        int left = (int)(end - tt_ms()), seen = 0;
        if (left < 0) return 0;
        if (poll(&p, 1, left) <= 0) continue;
        while ((k = tw_tee_take_notices(t, n, 16)) > 0)
            for (size_t i = 0; i < k; i++) {
                if (counts) counts[n[i].kind]++;
                if (n[i].kind == kind && (!id || strcmp(n[i].stream_id, id) == 0)) seen = 1;
            }
        if (seen) return 1;
    }
}
