/*
 * resume.c - the resume reader: one thread and one connection per reader. It replays the
 * entries after last_seq (EXISTS + XRANGE, paged), then follows the live tail with XREAD BLOCK
 * until the end marker, cutting the first entry at the resume point with its event offsets.
 * Bytes go to the consumer through a pending buffer + eventfd (take without blocking); the
 * reader pauses while more than high_watermark bytes wait. Every wait also watches cancel_fd.
 */
#include "tee/tee_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define PAGE 256

struct tw_resume {
    tw__redis_cfg cfg;        /* immutable */
    char *key;                /* immutable */
    size_t key_len;           /* immutable */
    uint64_t last_seq;        /* immutable */
    int from_start, block_ms, idle_timeout_ms, grace_ms; /* immutable */
    int presence_ttl_ms;      /* immutable */
    char *presence_key;       /* immutable: "<prefix>r:<id>" */
    size_t presence_len;
    size_t high;              /* immutable */
    tw_tee_notify_fn notify;  /* immutable */
    void *notify_userdata;

    pthread_mutex_t lock;
    pthread_cond_t drained;   /* the consumer took bytes, or cancel */
    tw_buf pending;           /* guarded by lock */
    uint64_t p_first, p_n;    /* guarded by lock */
    tw_resume_state state;    /* guarded by lock: set once */
    tw_error status;          /* guarded by lock */
    int cancelled;            /* guarded by lock */
    int found;                /* guarded by lock: the key was seen (tw_resume_found) */
    int fd_armed;             /* guarded by lock */
    int wake_fd, cancel_fd;
    pthread_t thread;

    /* Reader thread only. */
    tw__rconn conn;
    uint64_t next;            /* the seq the next delivered event must have */
    int have_next;
    char last_id[48];         /* XREAD position */
    int64_t idle_deadline;
    int64_t grace_deadline;   /* while the key is missing, it may still appear until then */
    int64_t presence_due;     /* when the presence key is next refreshed */
};

void tw_resume_opts_init(tw_resume_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    tw_redis_opts_init(&o->redis);
    o->block_ms = 1000;
    o->idle_timeout_ms = 120000;
    o->high_watermark = (size_t)1 << 20;
    o->presence_ttl_ms = 3000;
}

/* ---- to the consumer ------------------------------------------------------------------------- */

/* Arms the fd (lock held). @return 1 when notify must be called after unlocking. */
static int arm(tw_resume *r) {
    if (r->fd_armed) return 0;
    r->fd_armed = 1;
    tw__eventfd_signal(r->wake_fd);
    return r->notify != NULL;
}

static void finish(tw_resume *r, tw_resume_state st, tw_code code, const char *msg) {
    int fire = 0;
    pthread_mutex_lock(&r->lock);
    if (r->state == TW_RESUME_RUNNING) {
        r->state = st;
        tw__err(&r->status, code, msg);
        fire = arm(r);
    }
    pthread_mutex_unlock(&r->lock);
    if (fire) r->notify(r->notify_userdata);
}

/* The stream exists: a consumer waiting to answer (headers, heartbeats) before the first
 * byte may now do so; the fd is made readable once. */
static void mark_found(tw_resume *r) {
    int fire = 0;
    pthread_mutex_lock(&r->lock);
    if (!r->found) {
        r->found = 1;
        fire = arm(r);
    }
    pthread_mutex_unlock(&r->lock);
    if (fire) r->notify(r->notify_userdata);
}

/* @return 0, or -1 when cancelled (or out of memory: then the reader has finished). */
static int deliver(tw_resume *r, const char *p, size_t n, uint64_t first, uint64_t count) {
    int fire = 0, rc = 0;
    pthread_mutex_lock(&r->lock);
    while (r->pending.len >= r->high && !r->cancelled) pthread_cond_wait(&r->drained, &r->lock);
    if (r->cancelled) {
        rc = -1;
    } else if (tw_buf_append(&r->pending, p, n) != TW_OK) {
        if (r->state == TW_RESUME_RUNNING) {
            r->state = TW_RESUME_STORE_ERROR;
            tw__err(&r->status, TW_ERR_NOMEM, "out of memory");
        }
        fire = arm(r);
        rc = -1;
    } else {
        if (r->p_n == 0) r->p_first = first;
        r->p_n += count;
        fire = arm(r);
    }
    pthread_mutex_unlock(&r->lock);
    if (fire) r->notify(r->notify_userdata);
    return rc;
}

/* ---- entries --------------------------------------------------------------------------------- */

static const redisReply *field(const redisReply *f, const char *name) {
    for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2)
        if (f->element[j]->type == REDIS_REPLY_STRING && strcmp(f->element[j]->str, name) == 0)
            return f->element[j + 1]->type == REDIS_REPLY_STRING ? f->element[j + 1] : NULL;
    return NULL;
}

static uint32_t le32(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

/* Handles one entry. @return 0 go on, 1 the reader ended (end marker or failure). */
static int entry(tw_resume *r, const redisReply *e, int first_of_replay) {
    const redisReply *d, *o, *end;
    uint64_t ms, last, n, first, skip;
    size_t start;
    char tail;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING) {
        finish(r, TW_RESUME_STORE_ERROR, TW_ERR_STORE, "redis: malformed stream entry");
        return 1;
    }
    snprintf(r->last_id, sizeof r->last_id, "%s", e->element[0]->str);
    if (sscanf(e->element[0]->str, "%" SCNu64 "-%" SCNu64 "%c", &ms, &last, &tail) != 2 ||
        (ms != 1 && ms != 2)) {
        finish(r, TW_RESUME_STORE_ERROR, TW_ERR_STORE, "redis: not a tokenwire stream");
        return 1;
    }
    if (ms == 2) {
        long code = 0;
        const redisReply *m = field(e->element[1], "msg");
        end = field(e->element[1], "end");
        if (end) code = strtol(end->str, NULL, 10);
        if (code == TW_OK)
            finish(r, TW_RESUME_ENDED, TW_OK, "");
        else if (code == TW_ERR_STORE)
            finish(r, TW_RESUME_STORE_ERROR, TW_ERR_STORE, m ? m->str : "the tee was dropped");
        else
            finish(r, TW_RESUME_UPSTREAM_ERROR,
                   code > 0 && code < TW_ERR__LAST ? (tw_code)code : TW_ERR_PROVIDER,
                   m ? m->str : "upstream error");
        return 1;
    }
    d = field(e->element[1], "d");
    o = field(e->element[1], "o");
    if (!d || (o && o->len % 4) || (uint64_t)(o ? o->len / 4 : 0) > last) {
        finish(r, TW_RESUME_STORE_ERROR, TW_ERR_STORE, "redis: malformed tokenwire entry");
        return 1;
    }
    n = 1 + (o ? o->len / 4 : 0);
    first = last - n + 1;
    if (!r->have_next) {
        r->next = first;
        r->have_next = 1;
    }
    if (first > r->next) {
        char msg[128];
        /* The log does not hold the events the reader needs next: trimmed (MAXLEN) before the
         * reader came back, or lost by the producer's tee. */
        snprintf(msg, sizeof msg, "events %" PRIu64 "..%" PRIu64 " are no longer available",
                 r->next, first - 1);
        if (first_of_replay)
            finish(r, TW_RESUME_NOT_FOUND, TW_ERR_NOT_FOUND, msg);
        else
            finish(r, TW_RESUME_STORE_ERROR, TW_ERR_STORE, msg);
        return 1;
    }
    if (last < r->next) return 0; /* already delivered */
    skip = r->next - first;
    start = skip ? le32(o->str + (skip - 1) * 4) : 0;
    if (start > d->len) {
        finish(r, TW_RESUME_STORE_ERROR, TW_ERR_STORE, "redis: malformed event offsets");
        return 1;
    }
    if (deliver(r, d->str + start, d->len - start, r->next, last - r->next + 1) != 0) return 1;
    r->next = last + 1;
    if (r->idle_timeout_ms) r->idle_deadline = tw__tee_now_ms() + r->idle_timeout_ms;
    return 0;
}

/* Entries of an XRANGE reply. @return -1 ended, else the number of entries. */
static long entries(tw_resume *r, const redisReply *a, int first_of_replay) {
    if (a->type == REDIS_REPLY_ERROR) {
        char msg[128];
        snprintf(msg, sizeof msg, "redis: %.100s", a->str);
        finish(r, TW_RESUME_STORE_ERROR, TW_ERR_STORE, msg);
        return -1;
    }
    if (a->type != REDIS_REPLY_ARRAY) return 0;
    for (size_t i = 0; i < a->elements; i++)
        if (entry(r, a->element[i], first_of_replay && i == 0)) return -1;
    return (long)a->elements;
}

/* ---- the thread ------------------------------------------------------------------------------ */

static int failed(tw_resume *r, tw_code rc, const tw_error *err) {
    if (rc == TW_ERR_CANCELLED)
        finish(r, TW_RESUME_CANCELLED, TW_ERR_CANCELLED, "cancelled");
    else
        finish(r, TW_RESUME_STORE_ERROR, TW_ERR_STORE, err->msg);
    return 1;
}

/* Replays what the log holds after the position. @return 1 when the reader ended. */
static int replay(tw_resume *r) {
    redisReply *rep[2];
    tw_error err;
    tw_code rc;
    char start[48];
    long got;
    int first = 1;
    if (r->from_start)
        snprintf(start, sizeof start, "-");
    else if (r->last_seq == UINT64_MAX)
        snprintf(start, sizeof start, TW__TEE_END_ID);
    else
        snprintf(start, sizeof start, TW__TEE_DATA_MS "-%" PRIu64, r->last_seq + 1);
    redisAppendCommand(r->conn.c, "EXISTS %b", r->key, r->key_len);
    redisAppendCommand(r->conn.c, "XRANGE %b %s + COUNT %d", r->key, r->key_len, start, PAGE);
    rc = tw__rconn_exec(&r->conn, rep, 2, r->cfg.command_timeout_ms, r->cancel_fd, &err);
    if (rc != TW_OK) return failed(r, rc, &err);
    if (rep[0]->type == REDIS_REPLY_INTEGER && rep[0]->integer == 0) {
        tw__replies_free(rep, 2);
        if (r->grace_ms > 0) {
            r->grace_deadline = tw__tee_now_ms() + r->grace_ms;
            return 0; /* follow() waits for the key to appear */
        }
        finish(r, TW_RESUME_NOT_FOUND, TW_ERR_NOT_FOUND, "unknown or expired stream");
        return 1;
    }
    mark_found(r);
    for (;;) {
        got = entries(r, rep[1], first);
        tw__replies_free(rep, 2);
        if (got < 0) return 1;
        if (got < PAGE) return 0;
        first = 0;
        snprintf(start, sizeof start, TW__TEE_DATA_MS "-%" PRIu64, r->next);
        redisAppendCommand(r->conn.c, "XRANGE %b %s + COUNT %d", r->key, r->key_len, start,
                           PAGE);
        rc = tw__rconn_exec(&r->conn, &rep[1], 1, r->cfg.command_timeout_ms, r->cancel_fd,
                            &err);
        rep[0] = NULL;
        if (rc != TW_OK) return failed(r, rc, &err);
    }
}

/* Follows the live tail until the end marker. */
static void follow(tw_resume *r) {
    tw_error err;
    tw_code rc;
    int reconnected = 0, block;
    if (!r->last_id[0]) {
        if (r->from_start)
            snprintf(r->last_id, sizeof r->last_id, "0-0");
        else
            snprintf(r->last_id, sizeof r->last_id, TW__TEE_DATA_MS "-%" PRIu64, r->last_seq);
    }
    for (;;) {
        redisReply *rep[3], **xr = rep;
        size_t n = 2;
        long got;
        if (!r->conn.c) {
            /* One new connection when the old one broke (a dropped idle connection, a
             * failover): the XREAD position makes it seamless. A second failure is final. */
            rc = tw__rconn_connect(&r->conn, &r->cfg, r->cancel_fd, &err);
            if (rc != TW_OK) {
                failed(r, rc, &err);
                return;
            }
        }
        block = r->block_ms;
        if (r->presence_ttl_ms) {
            /* Announce this reader (tw_tee_watch_readers) before blocking; block no longer
             * than a third of the TTL so that the key never lapses while we follow. */
            int64_t now = tw__tee_now_ms();
            if (now >= r->presence_due) {
                redisAppendCommand(r->conn.c, "SET %b 1 PX %d", r->presence_key,
                                   r->presence_len, r->presence_ttl_ms);
                r->presence_due = now + r->presence_ttl_ms / 3;
                xr = rep + 1;
                n = 3;
            }
            if (block > r->presence_ttl_ms / 3) block = r->presence_ttl_ms / 3 + 1;
        }
        if (r->grace_deadline) { /* the key is missing: wait no longer than the grace */
            int64_t left = r->grace_deadline - tw__tee_now_ms();
            block = left < 1 ? 1 : left < block ? (int)left : block;
        }
        redisAppendCommand(r->conn.c, "XREAD COUNT %d BLOCK %d STREAMS %b %s", PAGE, block,
                           r->key, r->key_len, r->last_id);
        redisAppendCommand(r->conn.c, "EXISTS %b", r->key, r->key_len);
        rc = tw__rconn_exec(&r->conn, rep, n, block + r->cfg.command_timeout_ms,
                            r->cancel_fd, &err);
        if (rc != TW_OK) {
            if (rc == TW_ERR_CANCELLED || reconnected) {
                failed(r, rc, &err);
                return;
            }
            reconnected = 1;
            r->presence_due = 0;
            continue;
        }
        if (xr[0]->type == REDIS_REPLY_ARRAY && xr[0]->elements == 1 &&
            xr[0]->element[0]->type == REDIS_REPLY_ARRAY &&
            xr[0]->element[0]->elements == 2) {
            got = entries(r, xr[0]->element[0]->element[1], 0);
        } else {
            got = xr[0]->type == REDIS_REPLY_ERROR ? entries(r, xr[0], 0) : 0;
        }
        if (xr[1]->type == REDIS_REPLY_INTEGER && xr[1]->integer == 1) mark_found(r);
        if (got == 0 && xr[1]->type == REDIS_REPLY_INTEGER && xr[1]->integer == 0 &&
            tw__tee_now_ms() >= r->grace_deadline) {
            finish(r, TW_RESUME_NOT_FOUND, TW_ERR_NOT_FOUND,
                   r->grace_deadline ? "unknown or expired stream" : "the stream expired");
            got = -1;
        }
        if (got > 0) r->grace_deadline = 0;
        tw__replies_free(rep, n);
        if (got < 0) return;
        if (got > 0) reconnected = 0;
        if (got == 0 && r->idle_timeout_ms && tw__tee_now_ms() >= r->idle_deadline) {
            finish(r, TW_RESUME_TIMEOUT, TW_ERR_TIMEOUT, "no new event within idle_timeout_ms");
            return;
        }
    }
}

static void *reader_main(void *arg) {
    tw_resume *r = arg;
    tw_error err;
    tw_code rc;
    r->idle_deadline = tw__tee_now_ms() + r->idle_timeout_ms;
    if (!r->from_start) {
        r->next = r->last_seq + 1;
        r->have_next = 1;
    }
    rc = tw__rconn_connect(&r->conn, &r->cfg, r->cancel_fd, &err);
    if (rc != TW_OK)
        failed(r, rc, &err);
    else if (!replay(r))
        follow(r);
    tw__rconn_close(&r->conn);
    return NULL;
}

/* ---- API ------------------------------------------------------------------------------------- */

static void destroy(tw_resume *r) {
    tw__redis_cfg_free(&r->cfg);
    free(r->key);
    free(r->presence_key);
    tw_buf_free(&r->pending);
    if (r->wake_fd >= 0) close(r->wake_fd);
    if (r->cancel_fd >= 0) close(r->cancel_fd);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->drained);
    free(r);
}

tw_resume *tw_resume_open(const tw_resume_opts *opts, const char *stream_id, tw_error *err) {
    tw_resume *r;
    pthread_attr_t attr;
    int ok;
    if (!opts || tw__tee_check_id(stream_id, err) != 0) {
        if (!opts) tw__err(err, TW_ERR_INVALID_ARG, "resume options are required");
        return NULL;
    }
    if (opts->block_ms <= 0 || opts->idle_timeout_ms < 0 || opts->high_watermark == 0 ||
        opts->not_found_grace_ms < 0 || opts->presence_ttl_ms < 0 ||
        (opts->presence_ttl_ms > 0 && opts->presence_ttl_ms < 30)) {
        tw__err(err, TW_ERR_INVALID_ARG, "resume options: block_ms > 0, idle_timeout_ms >= 0, "
                                         "high_watermark > 0, not_found_grace_ms >= 0, "
                                         "presence_ttl_ms 0 or >= 30");
        return NULL;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->drained, NULL);
    r->wake_fd = r->cancel_fd = -1;
    if (tw__redis_cfg_copy(&r->cfg, &opts->redis, err) != TW_OK) {
        destroy(r);
        return NULL;
    }
    r->key = tw__tee_stream_key(&r->cfg, stream_id, &r->key_len);
    r->presence_key = tw__tee_stream_key(&r->cfg, stream_id, &r->presence_len);
    if (r->presence_key) r->presence_key[strlen(r->cfg.key_prefix)] = 'r'; /* "<prefix>r:" */
    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    r->cancel_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!r->key || !r->presence_key || r->wake_fd < 0 || r->cancel_fd < 0) {
        tw__errf(err, TW_ERR_NOMEM, "out of memory or descriptors: %s", strerror(errno));
        destroy(r);
        return NULL;
    }
    r->last_seq = opts->last_seq;
    r->from_start = opts->from_start;
    r->block_ms = opts->block_ms;
    r->idle_timeout_ms = opts->idle_timeout_ms;
    r->grace_ms = opts->not_found_grace_ms;
    r->presence_ttl_ms = opts->presence_ttl_ms;
    r->high = opts->high_watermark;
    r->notify = opts->notify;
    r->notify_userdata = opts->notify_userdata;
    /* Readers are many and light: a small stack (hiredis and our frames need a few KiB). */
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    ok = pthread_create(&r->thread, &attr, reader_main, r) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) {
        tw__err(err, TW_ERR_NOMEM, "cannot start the resume thread");
        destroy(r);
        return NULL;
    }
    return r;
}

int tw_resume_fd(const tw_resume *r) { return r ? r->wake_fd : -1; }

const char *tw_resume_state_name(tw_resume_state s) {
    switch (s) {
    case TW_RESUME_RUNNING: return "running";
    case TW_RESUME_ENDED: return "ended";
    case TW_RESUME_UPSTREAM_ERROR: return "upstream_error";
    case TW_RESUME_NOT_FOUND: return "not_found";
    case TW_RESUME_STORE_ERROR: return "store_error";
    case TW_RESUME_TIMEOUT: return "timeout";
    case TW_RESUME_CANCELLED: return "cancelled";
    }
    return "unknown";
}

int tw_tee_event_ends(int sse, const char *data, size_t len, uint64_t n, uint32_t *ends,
                      size_t *len_out) {
    size_t i = 0;
    uint64_t k = 0;
    while (i < len && k < n) {
        const char *p = data + i, *end = NULL, *lim = data + len;
        if (sse) {
            const char *q = p;
            while ((q = memchr(q, '\n', (size_t)(lim - q))) != NULL && q + 1 < lim) {
                if (q[1] == '\n') {
                    end = q + 2;
                    break;
                }
                q++;
            }
        } else {
            const char *nl = memchr(p, '\n', (size_t)(lim - p));
            end = nl ? nl + 1 : NULL;
        }
        if (!end) return -1;
        if (sse ? p[0] != ':' : p[0] == '{') ends[k++] = (uint32_t)(end - data);
        i = (size_t)(end - data);
    }
    if (k != n || n == 0) return -1;
    *len_out = ends[n - 1];
    return 0;
}

tw_code tw_tee_code_of_kind(tw_error_kind kind) {
    switch (kind) {
    case TW_KIND_HTTP: return TW_ERR_HTTP_STATUS;
    case TW_KIND_PROVIDER: return TW_ERR_PROVIDER;
    case TW_KIND_TIMEOUT: return TW_ERR_TIMEOUT;
    case TW_KIND_CANCELLED: return TW_ERR_CANCELLED;
    case TW_KIND_PROTOCOL: return TW_ERR_SSE_PROTOCOL;
    default: return TW_ERR_TRANSPORT;
    }
}

const char *tw_tee_notice_name(tw_tee_notice_kind k) {
    switch (k) {
    case TW_TEE_LOST: return "lost";
    case TW_TEE_STOP: return "stop";
    case TW_TEE_DOWN: return "down";
    case TW_TEE_UP: return "up";
    case TW_TEE_ABANDONED: return "abandoned";
    }
    return "unknown";
}

int tw_resume_found(tw_resume *r) {
    int found;
    if (!r) return 0;
    pthread_mutex_lock(&r->lock);
    found = r->found;
    pthread_mutex_unlock(&r->lock);
    return found;
}

tw_resume_chunk *tw_resume_take(tw_resume *r) {
    tw_resume_chunk *c = NULL;
    if (!r) return NULL;
    pthread_mutex_lock(&r->lock);
    if (r->pending.len && (c = malloc(sizeof *c)) != NULL) {
        c->data = r->pending.data;
        c->len = r->pending.len;
        c->first_seq = r->p_first;
        c->n_events = r->p_n;
        tw_buf_init(&r->pending);
        r->p_n = 0;
        pthread_cond_signal(&r->drained);
    }
    /* The fd stays readable while the terminal status waits to be read. */
    if (!r->pending.len && r->state == TW_RESUME_RUNNING && r->fd_armed) {
        tw__eventfd_clear(r->wake_fd);
        r->fd_armed = 0;
    }
    pthread_mutex_unlock(&r->lock);
    return c;
}

void tw_resume_chunk_free(tw_resume_chunk *c) {
    if (!c) return;
    free(c->data);
    free(c);
}

tw_resume_state tw_resume_status(tw_resume *r, tw_error *err) {
    tw_resume_state st;
    if (!r) {
        tw__err(err, TW_ERR_INVALID_ARG, "reader is required");
        return TW_RESUME_STORE_ERROR;
    }
    pthread_mutex_lock(&r->lock);
    st = r->pending.len ? TW_RESUME_RUNNING : r->state;
    if (err) {
        if (st == TW_RESUME_RUNNING)
            tw__err(err, TW_OK, "");
        else
            *err = r->status;
    }
    pthread_mutex_unlock(&r->lock);
    return st;
}

int tw_resume_wait(tw_resume *r, int timeout_ms) {
    struct pollfd p;
    int rc;
    if (!r) return 0;
    p.fd = r->wake_fd;
    p.events = POLLIN;
    do
        rc = poll(&p, 1, timeout_ms);
    while (rc < 0 && errno == EINTR);
    return rc > 0;
}

void tw_resume_cancel(tw_resume *r) {
    if (!r) return;
    pthread_mutex_lock(&r->lock);
    if (!r->cancelled) {
        r->cancelled = 1;
        if (r->state == TW_RESUME_RUNNING) {
            r->state = TW_RESUME_CANCELLED;
            tw__err(&r->status, TW_ERR_CANCELLED, "cancelled");
            (void)arm(r); /* the canceller knows: notify is for the reader thread's news */
        }
        pthread_cond_broadcast(&r->drained);
        tw__eventfd_signal(r->cancel_fd);
    }
    pthread_mutex_unlock(&r->lock);
}

void tw_resume_close(tw_resume *r) {
    if (!r) return;
    tw_resume_cancel(r);
    pthread_join(r->thread, NULL);
    destroy(r);
}
