/*
 * writer.c - the tee's writer thread: takes the whole queue at once and sends it as one
 * pipelined round trip (XADD per append, EXPIRE where due, the stop requests, an XREAD of the
 * stops stream when due), then reads every reply. While Redis is down it discards what comes
 * in (those streams were dropped and told so) and reconnects with a doubling backoff.
 */
#include "tee/tee_obj.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CMD_DATA = 1, CMD_END, CMD_STOP, CMD_EXPIRE, CMD_XREAD, CMD_PRESENCE };

typedef struct cmd_tag {
    tee_item *it;
    int what;
    size_t w; /* CMD_PRESENCE: index in the watched list */
} cmd_tag;

/* The streams whose readers are watched, each held (pending) across the round trip. */
static tee_stream **collect_watched(tw_tee *t, size_t *n) {
    tee_stream **w = NULL;
    *n = 0;
    pthread_mutex_lock(&t->lock);
    if (t->n_watched && (w = malloc(t->n_watched * sizeof *w)) != NULL)
        for (size_t i = 0; i < t->n_buckets; i++)
            for (tee_stream *s = t->buckets[i]; s; s = s->next)
                if (s->abandon_ms && *n < t->n_watched) {
                    s->pending++;
                    w[(*n)++] = s;
                }
    pthread_mutex_unlock(&t->lock);
    return w;
}

/* Applies the EXISTS replies of the presence keys (found[i]: 1 present, 0 missing, -1 not
 * known) and lets go of the watched streams. */
static void judge_watched(tw_tee *t, tee_stream **w, const int *found, size_t n, int64_t now) {
    tee_stream *dead = NULL;
    int fire = 0;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < n; i++) {
        tee_stream *s = w[i];
        if (found && found[i] == 1) {
            s->absent_since_ms = now;
        } else if (found && found[i] == 0 && s->abandon_ms && !s->stop && !s->ended &&
                   now - s->absent_since_ms >= s->abandon_ms) {
            s->stop = 1;
            fire |= tw__tee_notice(t, TW_TEE_ABANDONED, s->id, NULL);
        }
        if (--s->pending == 0 && !s->in_table) {
            s->next = dead;
            dead = s;
        }
    }
    pthread_mutex_unlock(&t->lock);
    while (dead) {
        tee_stream *s = dead;
        dead = s->next;
        tw__tee_stream_free(s);
    }
    if (fire) tw__tee_fire_notify(t);
}

/* Goes down: every running stream loses its tee (once, with a notice), new streams are not
 * tee'd until the writer is back. */
static void set_down(tw_tee *t, const char *why) {
    int fire = 0;
    pthread_mutex_lock(&t->lock);
    snprintf(t->down_why, sizeof t->down_why, "resume unavailable: %s", why);
    if (t->connected != 0) {
        t->connected = 0;
        fire |= tw__tee_notice(t, TW_TEE_DOWN, NULL, t->down_why);
        for (size_t i = 0; i < t->n_buckets; i++)
            for (tee_stream *s = t->buckets[i]; s; s = s->next)
                if (!s->ended) fire |= tw__tee_drop(t, s, t->down_why, 1);
    }
    pthread_mutex_unlock(&t->lock);
    if (fire) tw__tee_fire_notify(t);
}

/* Reads the stops stream's last id so that only stops requested from now on count. */
static tw_code stops_position(tw_tee *t, tw_error *err) {
    redisReply *r;
    tw_code rc;
    if (!t->watch_stops || t->stops_last_id[0]) return TW_OK;
    redisAppendCommand(t->conn.c, "XREVRANGE %s + - COUNT 1", t->stops_key);
    rc = tw__rconn_exec(&t->conn, &r, 1, t->cfg.command_timeout_ms, t->stop_fd, err);
    if (rc != TW_OK) return rc;
    snprintf(t->stops_last_id, sizeof t->stops_last_id, "0-0");
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 1 &&
        r->element[0]->element[0]->type == REDIS_REPLY_STRING)
        snprintf(t->stops_last_id, sizeof t->stops_last_id, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    return TW_OK;
}

tw_code tw__tee_connect(tw_tee *t, tw_error *err) {
    tw_code rc = tw__rconn_connect(&t->conn, &t->cfg, t->stop_fd, err);
    int fire = 0;
    if (rc == TW_OK) rc = stops_position(t, err);
    if (rc != TW_OK) {
        tw__rconn_close(&t->conn);
        return rc;
    }
    pthread_mutex_lock(&t->lock);
    if (t->connected == 0) fire = tw__tee_notice(t, TW_TEE_UP, NULL, NULL);
    t->connected = 1;
    t->down_why[0] = '\0';
    t->stats.connects++;
    pthread_mutex_unlock(&t->lock);
    if (fire) tw__tee_fire_notify(t);
    return TW_OK;
}

static void try_connect(tw_tee *t) {
    tw_error err;
    if (tw__tee_connect(t, &err) == TW_OK) {
        t->backoff_ms = t->reconnect_min_ms;
        return;
    }
    if (err.code == TW_ERR_CANCELLED) return;
    set_down(t, err.msg);
    t->next_connect_ms = tw__tee_now_ms() + t->backoff_ms;
    t->backoff_ms = t->backoff_ms * 2 > t->reconnect_max_ms ? t->reconnect_max_ms
                                                             : t->backoff_ms * 2;
}

/* Hands every item back (t->lock taken here): ends forget their stream, memory is released. */
static void batch_done(tw_tee *t, tee_item *batch, size_t n_cmds) {
    tee_item *it, *next;
    tee_stream *dead = NULL;
    /* Accounting under the lock; the frees after it, so appenders never wait on them. */
    pthread_mutex_lock(&t->lock);
    for (it = batch; it; it = it->next) {
        tee_stream *s = it->s;
        t->q_bytes -= it->cost;
        t->q_done++;
        if (!s) continue;
        if (it->kind == ITEM_END && !it->drop_marker) tw__tee_unlink(t, s);
        if (--s->pending == 0 && !s->in_table) {
            s->next = dead; /* the hash chain link is free once unlinked */
            dead = s;
        }
    }
    pthread_cond_broadcast(&t->done_cv);
    if (n_cmds) {
        t->stats.batches++;
        if (n_cmds > t->stats.max_batch) t->stats.max_batch = n_cmds;
    }
    t->stats.queued_bytes = t->q_bytes;
    pthread_mutex_unlock(&t->lock);
    for (it = batch; it; it = next) {
        next = it->next;
        free(it);
    }
    while (dead) {
        tee_stream *s = dead;
        dead = s->next;
        tw__tee_stream_free(s);
    }
}

static void append_data(tw_tee *t, tee_item *it, const char *maxlen) {
    const char *argv[10];
    size_t lens[10], n = 0;
    char id[32];
    snprintf(id, sizeof id, TW__TEE_DATA_MS "-%" PRIu64, it->last_seq);
    argv[n] = "XADD", lens[n++] = 4;
    argv[n] = it->s->key, lens[n++] = it->s->key_len;
    if (t->maxlen > 0) {
        argv[n] = "MAXLEN", lens[n++] = 6;
        argv[n] = "~", lens[n++] = 1;
        argv[n] = maxlen, lens[n++] = strlen(maxlen);
    }
    argv[n] = id, lens[n++] = strlen(id);
    argv[n] = "d", lens[n++] = 1;
    argv[n] = it->data, lens[n++] = it->len;
    if (it->n_events > 1) {
        argv[n] = "o", lens[n++] = 1;
        argv[n] = it->data + it->len, lens[n++] = (size_t)(it->n_events - 1) * 4;
    }
    redisAppendCommandArgv(t->conn.c, (int)n, argv, lens);
}

static void append_end(tw_tee *t, tee_item *it) {
    const char *argv[7];
    size_t lens[7], n = 0;
    char code[16];
    snprintf(code, sizeof code, "%d", (int)it->end_code);
    argv[n] = "XADD", lens[n++] = 4;
    argv[n] = it->s->key, lens[n++] = it->s->key_len;
    argv[n] = TW__TEE_END_ID, lens[n++] = strlen(TW__TEE_END_ID);
    argv[n] = "end", lens[n++] = 3;
    argv[n] = code, lens[n++] = strlen(code);
    if (it->end_code != TW_OK) {
        argv[n] = "msg", lens[n++] = 3;
        argv[n] = it->data, lens[n++] = it->len;
    }
    redisAppendCommandArgv(t->conn.c, (int)n, argv, lens);
}

/* Applies the stop requests an XREAD of the stops stream returned. */
static void read_stops(tw_tee *t, const redisReply *r) {
    int fire = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) return;
    r = r->element[0];
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    r = r->element[1];
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i], *f;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) continue;
        if (e->element[0]->type == REDIS_REPLY_STRING)
            snprintf(t->stops_last_id, sizeof t->stops_last_id, "%s", e->element[0]->str);
        f = e->element[1];
        for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j + 1 < f->elements; j += 2) {
            tee_stream *s;
            if (f->element[j]->type != REDIS_REPLY_STRING ||
                f->element[j + 1]->type != REDIS_REPLY_STRING ||
                strcmp(f->element[j]->str, "id") != 0)
                continue;
            s = tw__tee_find(t, f->element[j + 1]->str);
            if (s && !s->stop && !s->ended) {
                s->stop = 1;
                fire |= tw__tee_notice(t, TW_TEE_STOP, s->id, NULL);
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (fire) tw__tee_fire_notify(t);
}

/* One round trip for the whole batch. */
static void process(tw_tee *t, tee_item *batch, int64_t now) {
    size_t n = 0, cap = 0;
    cmd_tag *tags = NULL;
    redisReply **rep = NULL;
    char maxlen[24], ttl_live[16], ttl_end[16];
    tw_error err;
    int fire = 0, poll_due = 0, *found = NULL;
    tee_stream **watched = NULL;
    size_t n_w = 0;
    snprintf(maxlen, sizeof maxlen, "%ld", t->maxlen);
    snprintf(ttl_live, sizeof ttl_live, "%d", t->live_ttl_s);
    snprintf(ttl_end, sizeof ttl_end, "%d", t->ttl_after_end_s);
    if (now >= t->stops_due_ms) {
        poll_due = 1;
        t->stops_due_ms = now + t->stop_poll_ms;
        watched = collect_watched(t, &n_w);
    }
    for (tee_item *it = batch; it; it = it->next) cap += 2;
    cap += 1 + n_w;
    tags = malloc(cap * sizeof *tags);
    rep = malloc(cap * sizeof *rep);
    found = n_w ? malloc(n_w * sizeof *found) : NULL;
    if (!tags || !rep || (n_w && !found)) {
        /* Nothing can be sent: treat it as a lost connection rather than hold memory. */
        free(tags);
        free(rep);
        free(found);
        tw__rconn_close(&t->conn);
        set_down(t, "out of memory in the tee writer");
        batch_done(t, batch, 0);
        judge_watched(t, watched, NULL, n_w, now);
        free(watched);
        return;
    }
    for (tee_item *it = batch; it; it = it->next) {
        if (it->kind == ITEM_DATA) {
            if (atomic_load(&it->s->dropped)) continue;
            append_data(t, it, maxlen);
            tags[n++] = (cmd_tag){it, CMD_DATA, 0};
            if (now >= it->s->expire_due_ms) {
                redisAppendCommand(t->conn.c, "EXPIRE %b %s", it->s->key, it->s->key_len,
                                   ttl_live);
                tags[n++] = (cmd_tag){it, CMD_EXPIRE, 0};
                /* Refreshed at half its length: a live log never expires under a reader. */
                it->s->expire_due_ms = now + (int64_t)t->live_ttl_s * 500;
            }
        } else if (it->kind == ITEM_END) {
            append_end(t, it);
            tags[n++] = (cmd_tag){it, CMD_END, 0};
            redisAppendCommand(t->conn.c, "EXPIRE %b %s", it->s->key, it->s->key_len, ttl_end);
            tags[n++] = (cmd_tag){it, CMD_EXPIRE, 0};
        } else {
            redisAppendCommand(t->conn.c, "XADD %s MAXLEN ~ 10000 * id %b", t->stops_key,
                               it->data, it->len);
            tags[n++] = (cmd_tag){it, CMD_STOP, 0};
        }
    }
    if (poll_due && t->watch_stops) {
        redisAppendCommand(t->conn.c, "XREAD COUNT 256 STREAMS %s %s", t->stops_key,
                           t->stops_last_id);
        tags[n++] = (cmd_tag){NULL, CMD_XREAD, 0};
    }
    for (size_t i = 0; i < n_w; i++) {
        /* The stream struct is held (pending), but its key is read under no lock: it is
         * written once, before abandon_ms was set, and never changes. */
        redisAppendCommand(t->conn.c, "EXISTS %b", watched[i]->presence_key,
                           watched[i]->presence_len);
        tags[n++] = (cmd_tag){NULL, CMD_PRESENCE, i};
        found[i] = -1;
    }
    if (n && tw__rconn_exec(&t->conn, rep, n, t->cfg.command_timeout_ms, -1, &err) != TW_OK) {
        set_down(t, err.msg);
        t->next_connect_ms = now + t->backoff_ms;
        batch_done(t, batch, n);
        judge_watched(t, watched, NULL, n_w, now);
        free(watched);
        free(found);
        free(tags);
        free(rep);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int failed = rep[i]->type == REDIS_REPLY_ERROR;
        if (tags[i].what == CMD_XREAD) {
            if (!failed) read_stops(t, rep[i]);
            continue;
        }
        if (tags[i].what == CMD_PRESENCE) {
            if (rep[i]->type == REDIS_REPLY_INTEGER) found[tags[i].w] = rep[i]->integer > 0;
            continue;
        }
        if (tags[i].what == CMD_DATA || tags[i].what == CMD_END) {
            pthread_mutex_lock(&t->lock);
            if (!failed) {
                t->stats.entries_written++;
            } else if (tags[i].what == CMD_DATA) {
                char why[128];
                snprintf(why, sizeof why, "redis refused an append: %.90s", rep[i]->str);
                fire |= tw__tee_drop(t, tags[i].it->s, why, 1);
            }
            pthread_mutex_unlock(&t->lock);
        }
    }
    tw__replies_free(rep, n);
    free(tags);
    free(rep);
    batch_done(t, batch, n);
    judge_watched(t, watched, found, n_w, now);
    free(watched);
    free(found);
    if (fire) tw__tee_fire_notify(t);
}

/* Drops a batch while Redis is down (its streams were dropped and told so already). */
static void discard(tw_tee *t, tee_item *batch) { batch_done(t, batch, 0); }

/* Milliseconds until the writer has timed work to do; -1 = none. */
static int next_due(tw_tee *t, int64_t now) {
    int64_t due = -1;
    if (!t->conn.c)
        due = t->next_connect_ms;
    else if (t->watch_stops || t->n_watched) /* t->lock is held here */
        due = t->stops_due_ms;
    if (due < 0) return -1;
    return due <= now ? 0 : (int)(due - now);
}

/* Takes up to MAX_ITEMS queued items (t->lock held): one round trip stays a few MiB at most
 * however far Redis fell behind. */
#define MAX_ITEMS 4096
static tee_item *take_batch(tw_tee *t) {
    tee_item *head = t->q_head, *last = head;
    size_t n = 1;
    if (!head) return NULL;
    while (last->next && n < MAX_ITEMS) {
        last = last->next;
        n++;
    }
    t->q_head = last->next;
    if (!t->q_head) t->q_tail = NULL;
    last->next = NULL;
    return head;
}

void *tw__tee_writer_main(void *arg) {
    tw_tee *t = arg;
    int busy = 0;
    for (;;) {
        tee_item *batch;
        int stopping;
        int64_t now;
        pthread_mutex_lock(&t->lock);
        for (;;) {
            struct pollfd p = {t->wake_fd, POLLIN, 0};
            int due;
            stopping = t->stopping;
            now = tw__tee_now_ms();
            if (stopping || t->q_head || (due = next_due(t, now)) == 0) break;
            if (busy && t->linger_ms) {
                /* Streams are flowing: look again in linger_ms without asking appenders to
                 * wake us, so that a steady flow costs them no syscall (the eventfd write)
                 * and each round trip carries linger_ms of appends. */
                busy = 0;
                pthread_mutex_unlock(&t->lock);
                while (poll(&p, 1, t->linger_ms) < 0 && errno == EINTR) {
                }
                pthread_mutex_lock(&t->lock);
                continue;
            }
            t->writer_idle = 1;
            pthread_mutex_unlock(&t->lock);
            while (poll(&p, 1, due) < 0 && errno == EINTR) {
            }
            tw__eventfd_clear(t->wake_fd);
            pthread_mutex_lock(&t->lock);
            t->writer_idle = 0;
        }
        batch = take_batch(t);
        busy = batch != NULL;
        pthread_mutex_unlock(&t->lock);
        if (!t->conn.c && !stopping && now >= t->next_connect_ms) {
            try_connect(t);
            now = tw__tee_now_ms();
        }
        if (t->conn.c)
            process(t, batch, now);
        else
            discard(t, batch);
        if (stopping) { /* what was queued before tw_tee_free gets its one attempt */
            int more;
            pthread_mutex_lock(&t->lock);
            more = t->q_head != NULL;
            pthread_mutex_unlock(&t->lock);
            if (!more || !t->conn.c) break;
        }
    }
    return NULL;
}
