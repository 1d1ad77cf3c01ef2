/*
 * conn.c - one Redis connection driven by our own poll(): hiredis builds commands and parses
 * replies, we do the waiting, so that every wait is bounded by a deadline and also watches a
 * cancel fd (a blocking hiredis context can only be interrupted by its timeout).
 */
#include "tee/tee_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t tw__tee_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tw__eventfd_clear(int fd) {
    uint64_t v;
    while (read(fd, &v, sizeof v) < 0 && errno == EINTR) {
    }
}

void tw__eventfd_signal(int fd) {
    uint64_t one = 1;
    while (write(fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

/* ---- options --------------------------------------------------------------------------------- */

void tw_redis_opts_init(tw_redis_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->port = 6379;
    o->connect_timeout_ms = 1000;
    o->command_timeout_ms = 2000;
}

static int dup_opt(char **dst, const char *src, const char *dflt) {
    const char *s = src ? src : dflt;
    *dst = NULL;
    if (!s) return 0;
    *dst = strdup(s);
    return *dst ? 0 : -1;
}

void tw__redis_cfg_free(tw__redis_cfg *cfg) {
    free(cfg->host);
    free(cfg->unix_path);
    free(cfg->username);
    free(cfg->password);
    free(cfg->key_prefix);
    memset(cfg, 0, sizeof *cfg);
}

tw_code tw__redis_cfg_copy(tw__redis_cfg *cfg, const tw_redis_opts *o, tw_error *err) {
    tw_redis_opts d;
    memset(cfg, 0, sizeof *cfg);
    if (!o) {
        tw_redis_opts_init(&d);
        o = &d;
    }
    if ((!o->unix_path && (o->port <= 0 || o->port > 65535)) || o->db < 0 ||
        o->connect_timeout_ms <= 0 || o->command_timeout_ms <= 0) {
        tw__err(err, TW_ERR_INVALID_ARG,
                "redis options: port must be 1..65535, db >= 0, timeouts > 0");
        return TW_ERR_INVALID_ARG;
    }
    if (o->username && !o->password) {
        tw__err(err, TW_ERR_INVALID_ARG, "redis options: a username needs a password");
        return TW_ERR_INVALID_ARG;
    }
    if (dup_opt(&cfg->host, o->host, "127.0.0.1") || dup_opt(&cfg->unix_path, o->unix_path, NULL) ||
        dup_opt(&cfg->username, o->username, NULL) ||
        dup_opt(&cfg->password, o->password, NULL) ||
        dup_opt(&cfg->key_prefix, o->key_prefix, "tw:")) {
        tw__redis_cfg_free(cfg);
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return TW_ERR_NOMEM;
    }
    cfg->port = o->port;
    cfg->db = o->db;
    cfg->connect_timeout_ms = o->connect_timeout_ms;
    cfg->command_timeout_ms = o->command_timeout_ms;
    return TW_OK;
}

char *tw__tee_stream_key(const tw__redis_cfg *cfg, const char *id, size_t *len) {
    size_t p = strlen(cfg->key_prefix), n = strlen(id);
    char *k = malloc(p + 2 + n + 1);
    if (!k) return NULL;
    memcpy(k, cfg->key_prefix, p);
    memcpy(k + p, "s:", 2);
    memcpy(k + p + 2, id, n + 1);
    *len = p + 2 + n;
    return k;
}

int tw__tee_check_id(const char *id, tw_error *err) {
    size_t n = id ? strnlen(id, TW_TEE_MAX_ID + 1) : 0;
    if (n == 0 || n > TW_TEE_MAX_ID) {
        tw__err(err, TW_ERR_INVALID_ARG, "stream id must be 1..200 bytes");
        return -1;
    }
    return 0;
}

/* ---- the connection -------------------------------------------------------------------------- */

void tw__replies_free(redisReply **r, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (r[i]) freeReplyObject(r[i]);
        r[i] = NULL;
    }
}

void tw__rconn_close(tw__rconn *k) {
    if (k->c) redisFree(k->c);
    k->c = NULL;
}

/* Waits for fd's events or cancel_fd, until deadline. @return revents of fd, 0 on timeout,
 * -1 when cancelled. */
static int wait_fd(int fd, short events, int cancel_fd, int64_t deadline) {
    struct pollfd p[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
    for (;;) {
        int64_t left = deadline - tw__tee_now_ms();
        int r;
        if (left < 0) left = 0;
        r = poll(p, cancel_fd >= 0 ? 2 : 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return POLLERR;
        if (cancel_fd >= 0 && (p[1].revents & POLLIN)) return -1;
        if (r == 0) return 0;
        return p[0].revents;
    }
}

static tw_code fail(tw__rconn *k, tw_error *err, tw_code code, const char *what) {
    if (code == TW_ERR_CANCELLED)
        tw__err(err, code, "cancelled");
    else if (k->c && k->c->err)
        tw__errf(err, code, "redis: %s: %s", what, k->c->errstr);
    else
        tw__errf(err, code, "redis: %s", what);
    tw__rconn_close(k);
    return code;
}

tw_code tw__rconn_exec(tw__rconn *k, redisReply **out, size_t n, int timeout_ms, int cancel_fd,
                       tw_error *err) {
    int64_t deadline = tw__tee_now_ms() + timeout_ms;
    size_t got = 0;
    int done = 0;
    tw_code rc;
    for (size_t i = 0; i < n; i++) out[i] = NULL;
    if (!k->c) {
        tw__err(err, TW_ERR_STORE, "redis: not connected");
        return TW_ERR_STORE;
    }
    while (got < n) {
        void *r = NULL;
        int ev;
        if (redisGetReplyFromReader(k->c, &r) != REDIS_OK) {
            rc = fail(k, err, TW_ERR_STORE, "protocol error");
            goto failed;
        }
        if (r) {
            out[got++] = r;
            continue;
        }
        if (!done && redisBufferWrite(k->c, &done) != REDIS_OK) {
            rc = fail(k, err, TW_ERR_STORE, "write failed");
            goto failed;
        }
        ev = wait_fd(k->c->fd, (short)(POLLIN | (done ? 0 : POLLOUT)), cancel_fd, deadline);
        if (ev < 0) {
            rc = fail(k, err, TW_ERR_CANCELLED, "");
            goto failed;
        }
        if (ev == 0) {
            rc = fail(k, err, TW_ERR_STORE, "command timed out");
            goto failed;
        }
        if ((ev & (POLLIN | POLLHUP | POLLERR)) && redisBufferRead(k->c) != REDIS_OK) {
            rc = fail(k, err, TW_ERR_STORE, "connection lost");
            goto failed;
        }
    }
    return TW_OK;
failed:
    tw__replies_free(out, got);
    return rc;
}

static tw_code setup(tw__rconn *k, const tw__redis_cfg *cfg, int cancel_fd, tw_error *err) {
    redisReply *r[2];
    size_t n = 0;
    char db[16];
    tw_code rc;
    if (cfg->password) {
        if (cfg->username)
            redisAppendCommand(k->c, "AUTH %s %s", cfg->username, cfg->password);
        else
            redisAppendCommand(k->c, "AUTH %s", cfg->password);
        n++;
    }
    if (cfg->db) {
        snprintf(db, sizeof db, "%d", cfg->db);
        redisAppendCommand(k->c, "SELECT %s", db);
        n++;
    }
    if (!n) return TW_OK;
    rc = tw__rconn_exec(k, r, n, cfg->command_timeout_ms, cancel_fd, err);
    if (rc != TW_OK) return rc;
    for (size_t i = 0; i < n; i++)
        if (r[i]->type == REDIS_REPLY_ERROR) {
            tw__errf(err, TW_ERR_STORE, "redis: %s: %.80s", i == 0 && cfg->password ? "AUTH"
                     : "SELECT", r[i]->str);
            tw__replies_free(r, n);
            tw__rconn_close(k);
            return TW_ERR_STORE;
        }
    tw__replies_free(r, n);
    return TW_OK;
}

tw_code tw__rconn_connect(tw__rconn *k, const tw__redis_cfg *cfg, int cancel_fd,
                          tw_error *err) {
    int64_t deadline = tw__tee_now_ms() + cfg->connect_timeout_ms;
    int ev, soerr = 0;
    socklen_t sl = sizeof soerr;
    tw__rconn_close(k);
    k->c = cfg->unix_path ? redisConnectUnixNonBlock(cfg->unix_path)
                          : redisConnectNonBlock(cfg->host, cfg->port);
    if (!k->c) {
        tw__err(err, TW_ERR_STORE, "redis: out of memory");
        return TW_ERR_STORE;
    }
    if (k->c->err) return fail(k, err, TW_ERR_STORE, "connect failed");
    ev = wait_fd(k->c->fd, POLLOUT, cancel_fd, deadline);
    if (ev < 0) return fail(k, err, TW_ERR_CANCELLED, "");
    if (ev == 0) return fail(k, err, TW_ERR_STORE, "connect timed out");
    if (getsockopt(k->c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) soerr = errno;
    if (soerr) {
        tw__errf(err, TW_ERR_STORE, "redis: connect failed: %s", strerror(soerr));
        tw__rconn_close(k);
        return TW_ERR_STORE;
    }
    return setup(k, cfg, cancel_fd, err);
}
