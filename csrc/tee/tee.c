/*
 * tee.c - the producer side of the tee: appends, ends and stop requests only queue (one mutex,
 * one malloc, one memcpy; a syscall only when the writer sleeps), the stream table, notices.
 * The network is writer.c's.
 */
#include "tee/tee_obj.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_NOTICES 4096

void tw_tee_opts_init(tw_tee_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    tw_redis_opts_init(&o->redis);
    o->maxlen = 10000;
    o->ttl_after_end_s = 3600;
    o->live_ttl_s = 86400;
    o->max_queue_bytes = (size_t)64 << 20;
    o->reconnect_min_ms = 50;
    o->reconnect_max_ms = 2000;
    o->watch_stops = 1;
    o->stop_poll_ms = 200;
    o->linger_ms = 5;
}

/* ---- stream table ---------------------------------------------------------------------------- */

static size_t hash_id(const char *id) {
    size_t h = 1469598103934665603ULL;
    for (; *id; id++) h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    return h;
}

tee_stream *tw__tee_find(tw_tee *t, const char *id) {
    tee_stream *s = t->buckets[hash_id(id) & (t->n_buckets - 1)];
    while (s && strcmp(s->id, id) != 0) s = s->next;
    return s;
}

void tw__tee_stream_free(tee_stream *s) {
    free(s->presence_key);
    free(s->id);
    free(s->key);
    free(s);
}

static int table_grow(tw_tee *t) {
    size_t n = t->n_buckets * 2;
    tee_stream **b = calloc(n, sizeof *b);
    if (!b) return -1;
    for (size_t i = 0; i < t->n_buckets; i++) {
        tee_stream *s = t->buckets[i], *next;
        for (; s; s = next) {
            size_t h = hash_id(s->id) & (n - 1);
            next = s->next;
            s->next = b[h];
            b[h] = s;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
    return 0;
}

static tee_stream *table_add(tw_tee *t, const char *id) {
    tee_stream *s;
    size_t h;
    if (t->n_streams >= t->n_buckets && table_grow(t) != 0) return NULL;
    s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = strdup(id);
    s->key = tw__tee_stream_key(&t->cfg, id, &s->key_len);
    if (!s->id || !s->key) {
        tw__tee_stream_free(s);
        return NULL;
    }
    atomic_init(&s->dropped, 0);
    h = hash_id(id) & (t->n_buckets - 1);
    s->next = t->buckets[h];
    t->buckets[h] = s;
    s->in_table = 1;
    t->n_streams++;
    return s;
}

void tw__tee_unlink(tw_tee *t, tee_stream *s) {
    if (s->abandon_ms) {
        s->abandon_ms = 0;
        t->n_watched--;
    }
    if (s->in_table) {
        tee_stream **p = &t->buckets[hash_id(s->id) & (t->n_buckets - 1)];
        while (*p != s) p = &(*p)->next;
        *p = s->next;
        s->in_table = 0;
        t->n_streams--;
    }
}

void tw__tee_remove(tw_tee *t, tee_stream *s) {
    tw__tee_unlink(t, s);
    if (!s->pending) tw__tee_stream_free(s);
}

/* ---- notices --------------------------------------------------------------------------------- */

int tw__tee_notice(tw_tee *t, tw_tee_notice_kind kind, const char *id, const char *why) {
    tw_tee_notice *n;
    if (t->n_notices == MAX_NOTICES) {
        memmove(t->notices, t->notices + 1, (MAX_NOTICES - 1) * sizeof *t->notices);
        t->n_notices--;
        t->stats.notices_dropped++;
    }
    if (t->n_notices == t->cap_notices) {
        size_t cap = t->cap_notices ? t->cap_notices * 2 : 8;
        tw_tee_notice *p = realloc(t->notices, cap * sizeof *p);
        if (!p) {
            t->stats.notices_dropped++;
            return 0;
        }
        t->notices = p;
        t->cap_notices = cap;
    }
    n = &t->notices[t->n_notices++];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    if (id) snprintf(n->stream_id, sizeof n->stream_id, "%s", id);
    if (why) tw__err(&n->error, kind == TW_TEE_STOP ? TW_OK : TW_ERR_STORE, why);
    if (t->fd_armed) return 0;
    t->fd_armed = 1;
    tw__eventfd_signal(t->notice_fd);
    return t->notify != NULL;
}

void tw__tee_fire_notify(tw_tee *t) { t->notify(t->notify_userdata); }

int tw_tee_fd(const tw_tee *t) { return t ? t->notice_fd : -1; }

size_t tw_tee_take_notices(tw_tee *t, tw_tee_notice *out, size_t cap) {
    size_t n;
    if (!t || !out) return 0;
    pthread_mutex_lock(&t->lock);
    n = t->n_notices < cap ? t->n_notices : cap;
    memcpy(out, t->notices, n * sizeof *out);
    memmove(t->notices, t->notices + n, (t->n_notices - n) * sizeof *t->notices);
    t->n_notices -= n;
    if (!t->n_notices && t->fd_armed) {
        tw__eventfd_clear(t->notice_fd);
        t->fd_armed = 0;
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}

/* ---- the queue ------------------------------------------------------------------------------- */

static void enqueue_locked(tw_tee *t, tee_item *it) {
    it->next = NULL;
    if (t->q_tail)
        t->q_tail->next = it;
    else
        t->q_head = it;
    t->q_tail = it;
    t->q_bytes += it->cost;
    t->q_added++;
    t->stats.queued_bytes = t->q_bytes;
    if (it->s) it->s->pending++;
    if (t->writer_idle) {
        t->writer_idle = 0; /* one wakeup however many appends come before it runs */
        tw__eventfd_signal(t->wake_fd);
    }
}

void tw__tee_item_done(tw_tee *t, tee_item *it) {
    tee_stream *s = it->s;
    (void)t; /* the lock it holds guards s->pending */
    if (s && --s->pending == 0 && !s->in_table) tw__tee_stream_free(s);
    free(it);
}

static tee_item *item_new(int kind, size_t len) {
    tee_item *it = malloc(sizeof *it + len + 1);
    if (!it) return NULL;
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->len = len;
    it->cost = sizeof *it + len;
    return it;
}

int tw__tee_drop(tw_tee *t, tee_stream *s, const char *why, int notice) {
    tee_item *it;
    size_t n;
    int fire;
    if (atomic_load(&s->dropped)) return 0;
    atomic_store(&s->dropped, 1);
    snprintf(s->why, sizeof s->why, "%s", why);
    t->stats.streams_dropped++;
    if (!notice) return 0;
    fire = tw__tee_notice(t, TW_TEE_LOST, s->id, why);
    if (t->connected != 1 || s->ended) return fire;
    /* Tells resume readers the log is incomplete instead of letting them wait for more. */
    n = strlen(why);
    it = item_new(ITEM_END, n);
    if (!it) return fire;
    memcpy(it->data, why, n + 1);
    it->s = s;
    it->end_code = TW_ERR_STORE;
    it->drop_marker = 1;
    enqueue_locked(t, it); /* not counted against the limit: one per stream */
    return fire;
}

/* ---- API ------------------------------------------------------------------------------------- */

tw_code tw_tee_append(tw_tee *t, const char *stream_id, const void *data, size_t len,
                      uint64_t first_seq, uint32_t n_events, const uint32_t *ends) {
    tee_stream *s;
    tee_item *it;
    size_t offs;
    tw_code rc = TW_OK;
    int fire = 0;
    if (!t || tw__tee_check_id(stream_id, NULL) != 0 || (!data && len) || n_events == 0 ||
        (n_events > 1 && !ends) || len > UINT32_MAX || first_seq > UINT64_MAX - n_events)
        return TW_ERR_INVALID_ARG;
    if (ends) {
        for (uint32_t i = 0; i < n_events; i++)
            if (ends[i] > len || (i && ends[i] < ends[i - 1])) return TW_ERR_INVALID_ARG;
        if (ends[n_events - 1] != len) return TW_ERR_INVALID_ARG;
    }
    offs = (size_t)(n_events - 1) * 4;
    /* Built before taking the lock: the copy is the only per-append work. */
    it = item_new(ITEM_DATA, len + offs);
    if (!it) return TW_ERR_NOMEM;
    if (len) memcpy(it->data, data, len);
    for (uint32_t i = 0; i + 1 < n_events; i++) {
        unsigned char *p = (unsigned char *)it->data + len + (size_t)i * 4;
        p[0] = (unsigned char)ends[i];
        p[1] = (unsigned char)(ends[i] >> 8);
        p[2] = (unsigned char)(ends[i] >> 16);
        p[3] = (unsigned char)(ends[i] >> 24);
    }
    it->len = len;
    it->n_events = n_events;
    it->last_seq = first_seq + n_events - 1;
    pthread_mutex_lock(&t->lock);
    s = tw__tee_find(t, stream_id);
    if (!s) {
        s = table_add(t, stream_id);
        if (!s) {
            rc = TW_ERR_NOMEM;
            goto out;
        }
        /* A stream that starts while Redis is down is never tee'd: a log that begins later
         * would hand resumes a hole. The caller learns it from this call's result. */
        if (!t->connected) tw__tee_drop(t, s, t->down_why[0] ? t->down_why
                                        : "resume unavailable: redis is unreachable", 0);
    }
    if (s->ended || atomic_load(&s->dropped)) {
        rc = TW_ERR_CLOSED;
        goto out;
    }
    if (s->has_seq && first_seq < s->next_seq) {
        rc = TW_ERR_INVALID_ARG;
        goto out;
    }
    if (t->q_bytes + it->cost > t->max_queue_bytes) {
        fire = tw__tee_drop(t, s, "tee queue full: redis is too slow", 1);
        rc = TW_ERR_CLOSED;
        goto out;
    }
    s->has_seq = 1;
    s->next_seq = it->last_seq + 1;
    it->s = s;
    enqueue_locked(t, it);
    it = NULL;
    t->stats.appends++;
out:
    pthread_mutex_unlock(&t->lock);
    free(it);
    if (fire) tw__tee_fire_notify(t);
    return rc;
}

tw_code tw_tee_end(tw_tee *t, const char *stream_id, const tw_error *error) {
    tee_stream *s;
    tee_item *it;
    const char *msg = error && error->code != TW_OK ? error->msg : "";
    size_t n = strnlen(msg, sizeof error->msg);
    tw_code rc = TW_OK;
    if (!t || tw__tee_check_id(stream_id, NULL) != 0) return TW_ERR_INVALID_ARG;
    it = item_new(ITEM_END, n);
    if (!it) return TW_ERR_NOMEM;
    memcpy(it->data, msg, n);
    it->data[n] = '\0';
    it->end_code = error ? error->code : TW_OK;
    pthread_mutex_lock(&t->lock);
    s = tw__tee_find(t, stream_id);
    if (!s || s->ended) {
        rc = TW_ERR_NOT_FOUND;
    } else if (atomic_load(&s->dropped)) {
        s->ended = 1;
        tw__tee_remove(t, s); /* its end marker, if any, was queued when it was dropped */
    } else {
        s->ended = 1;
        it->s = s;
        enqueue_locked(t, it);
        it = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    free(it);
    return rc;
}

tw_code tw_tee_request_stop(tw_tee *t, const char *stream_id) {
    tee_item *it;
    size_t n;
    if (!t || tw__tee_check_id(stream_id, NULL) != 0) return TW_ERR_INVALID_ARG;
    n = strlen(stream_id);
    it = item_new(ITEM_STOP, n);
    if (!it) return TW_ERR_NOMEM;
    memcpy(it->data, stream_id, n + 1);
    pthread_mutex_lock(&t->lock);
    enqueue_locked(t, it);
    pthread_mutex_unlock(&t->lock);
    return TW_OK;
}

tw_code tw_tee_watch_readers(tw_tee *t, const char *stream_id, int abandon_after_ms) {
    tee_stream *s;
    tw_code rc = TW_OK;
    if (!t || tw__tee_check_id(stream_id, NULL) != 0 || abandon_after_ms < 0)
        return TW_ERR_INVALID_ARG;
    pthread_mutex_lock(&t->lock);
    s = tw__tee_find(t, stream_id);
    if (!s || s->ended) {
        rc = TW_ERR_NOT_FOUND;
    } else if (!abandon_after_ms) {
        if (s->abandon_ms) t->n_watched--;
        s->abandon_ms = 0;
    } else {
        if (!s->presence_key) {
            size_t p = strlen(t->cfg.key_prefix), n = strlen(s->id);
            s->presence_key = malloc(p + 2 + n + 1);
            if (s->presence_key) {
                memcpy(s->presence_key, t->cfg.key_prefix, p);
                memcpy(s->presence_key + p, "r:", 2);
                memcpy(s->presence_key + p + 2, s->id, n + 1);
                s->presence_len = p + 2 + n;
            }
        }
        if (!s->presence_key) {
            rc = TW_ERR_NOMEM;
        } else {
            if (!s->abandon_ms) t->n_watched++;
            s->abandon_ms = abandon_after_ms;
            s->absent_since_ms = tw__tee_now_ms();
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int tw_tee_stop_requested(tw_tee *t, const char *stream_id) {
    tee_stream *s;
    int r = 0;
    if (!t || tw__tee_check_id(stream_id, NULL) != 0) return 0;
    pthread_mutex_lock(&t->lock);
    s = tw__tee_find(t, stream_id);
    if (s) r = s->stop;
    pthread_mutex_unlock(&t->lock);
    return r;
}

tw_code tw_tee_stream_status(tw_tee *t, const char *stream_id, tw_error *err) {
    tee_stream *s;
    tw_code rc;
    if (!t || tw__tee_check_id(stream_id, err) != 0) {
        tw__err(err, TW_ERR_INVALID_ARG, "tee and a valid stream id are required");
        return TW_ERR_INVALID_ARG;
    }
    pthread_mutex_lock(&t->lock);
    s = tw__tee_find(t, stream_id);
    if (!s) {
        rc = TW_ERR_NOT_FOUND;
        tw__err(err, rc, "stream unknown to this tee, or its end was written");
    } else if (atomic_load(&s->dropped)) {
        rc = TW_ERR_STORE;
        tw__err(err, rc, s->why);
    } else if (s->ended) {
        rc = TW_ERR_CLOSED;
        tw__err(err, rc, "ended; the end marker is not written yet");
    } else {
        rc = TW_OK;
        tw__err(err, rc, "");
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

int tw_tee_available(tw_tee *t, tw_error *err) {
    int up;
    if (!t) return 0;
    pthread_mutex_lock(&t->lock);
    up = t->connected == 1;
    if (up)
        tw__err(err, TW_OK, "");
    else
        tw__err(err, TW_ERR_STORE, t->down_why[0] ? t->down_why : "redis is unreachable");
    pthread_mutex_unlock(&t->lock);
    return up;
}

tw_code tw_tee_flush(tw_tee *t, int timeout_ms) {
    struct timespec dl;
    uint64_t target;
    int rc = 0;
    if (!t) return TW_ERR_INVALID_ARG;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->lock);
    target = t->q_added;
    while (t->q_done < target && rc == 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&t->done_cv, &t->lock);
        else
            rc = pthread_cond_timedwait(&t->done_cv, &t->lock, &dl);
    }
    rc = t->q_done >= target ? 0 : -1;
    pthread_mutex_unlock(&t->lock);
    return rc == 0 ? TW_OK : TW_ERR_TIMEOUT;
}

void tw_tee_get_stats(tw_tee *t, tw_tee_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    *out = t->stats;
    out->queued_bytes = t->q_bytes;
    out->active_streams = t->n_streams;
    pthread_mutex_unlock(&t->lock);
}

/* ---- lifetime -------------------------------------------------------------------------------- */

static void tee_destroy(tw_tee *t) {
    tee_item *it = t->q_head, *next;
    for (; it; it = next) {
        next = it->next;
        tw__tee_item_done(t, it);
    }
    for (size_t i = 0; t->buckets && i < t->n_buckets; i++) {
        tee_stream *s = t->buckets[i], *sn;
        for (; s; s = sn) {
            sn = s->next;
            tw__tee_stream_free(s);
        }
    }
    free(t->buckets);
    free(t->notices);
    free(t->stops_key);
    tw__rconn_close(&t->conn);
    tw__redis_cfg_free(&t->cfg);
    if (t->wake_fd >= 0) close(t->wake_fd);
    if (t->stop_fd >= 0) close(t->stop_fd);
    if (t->notice_fd >= 0) close(t->notice_fd);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->done_cv);
    free(t);
}

tw_tee *tw_tee_new(const tw_tee_opts *opts, tw_error *err) {
    tw_tee_opts d;
    tw_tee *t;
    size_t p;
    if (!opts) {
        tw_tee_opts_init(&d);
        opts = &d;
    }
    if (opts->maxlen < 0 || opts->ttl_after_end_s <= 0 || opts->live_ttl_s <= 0 ||
        opts->max_queue_bytes == 0 || opts->reconnect_min_ms <= 0 ||
        opts->reconnect_max_ms < opts->reconnect_min_ms || opts->stop_poll_ms <= 0 ||
        opts->linger_ms < 0 || opts->linger_ms > 1000) {
        tw__err(err, TW_ERR_INVALID_ARG,
                "tee options: ttls, queue limit, reconnect and poll times must be > 0, "
                "linger_ms 0..1000");
        return NULL;
    }
    t = calloc(1, sizeof *t);
    if (!t) {
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->done_cv, NULL);
    t->wake_fd = t->stop_fd = t->notice_fd = -1;
    if (tw__redis_cfg_copy(&t->cfg, &opts->redis, err) != TW_OK) {
        tee_destroy(t);
        return NULL;
    }
    t->maxlen = opts->maxlen;
    t->ttl_after_end_s = opts->ttl_after_end_s;
    t->live_ttl_s = opts->live_ttl_s;
    t->max_queue_bytes = opts->max_queue_bytes;
    t->reconnect_min_ms = opts->reconnect_min_ms;
    t->reconnect_max_ms = opts->reconnect_max_ms;
    t->watch_stops = opts->watch_stops;
    t->stop_poll_ms = opts->stop_poll_ms;
    t->linger_ms = opts->linger_ms;
    t->notify = opts->notify;
    t->notify_userdata = opts->notify_userdata;
    t->backoff_ms = opts->reconnect_min_ms;
    p = strlen(t->cfg.key_prefix);
    t->stops_key = malloc(p + 6);
    t->n_buckets = 64;
    t->buckets = calloc(t->n_buckets, sizeof *t->buckets);
    t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    t->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    t->notice_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!t->stops_key || !t->buckets || t->wake_fd < 0 || t->stop_fd < 0 || t->notice_fd < 0) {
        tw__errf(err, TW_ERR_NOMEM, "out of memory or descriptors: %s", strerror(errno));
        tee_destroy(t);
        return NULL;
    }
    memcpy(t->stops_key, t->cfg.key_prefix, p);
    memcpy(t->stops_key + p, "stops", 6);
    /* Until the writer's first attempt resolves, streams are admitted (and dropped with a
     * notice if it fails): no append races the writer's start. */
    t->connected = 2;
    if (opts->require_redis && tw__tee_connect(t, err) != TW_OK) {
        tee_destroy(t);
        return NULL;
    }
    if (pthread_create(&t->thread, NULL, tw__tee_writer_main, t) != 0) {
        tw__err(err, TW_ERR_NOMEM, "cannot start the tee writer thread");
        tee_destroy(t);
        return NULL;
    }
    return t;
}

void tw_tee_free(tw_tee *t) {
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    t->stopping = 1;
    pthread_mutex_unlock(&t->lock);
    tw__eventfd_signal(t->stop_fd);
    tw__eventfd_signal(t->wake_fd);
    pthread_join(t->thread, NULL);
    tee_destroy(t);
}
