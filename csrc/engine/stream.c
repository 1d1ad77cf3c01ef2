/*
 * stream.c - a stream's event queue and metrics.
 *
 * The queue is one tw_batch; tw_stream_take swaps the whole batch out (O(1) under the lock) and
 * hands it to the consumer. The I/O thread decodes each received chunk into a private staging
 * batch without holding s->lock (so a consumer taking events never waits for a decode), then
 * publishes it under the lock: when the queue is empty, which is the steady state of a consumer
 * that keeps up, the staging batch simply becomes the queue; otherwise its events are appended.
 * The queue's byte size (tw_batch_bytes) is what the watermarks compare.
 *
 * Inter-token gaps go into a log-linear histogram (16 steps per power of two, 6% resolution,
 * 1 us .. 25 days) so that p50/p99 cost O(1) memory and time per token however long the stream.
 */
#include "engine/engine_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- gap histogram ------------------------------------------------------------------------- */

static unsigned gap_bucket(uint64_t us) {
    unsigned msb, sub, idx;
    if (us < 16) return (unsigned)us;
    msb = 63u - (unsigned)__builtin_clzll(us);
    sub = (unsigned)(us >> (msb - 4)) & 15u;
    idx = 16u + (msb - 4) * 16u + sub;
    return idx < TW__GAP_BUCKETS ? idx : TW__GAP_BUCKETS - 1;
}

/* Midpoint of a bucket, in microseconds. */
static double bucket_value(unsigned idx) {
    unsigned msb, sub;
    double width;
    if (idx < 16) return (double)idx;
    msb = (idx - 16) / 16 + 4;
    sub = (idx - 16) % 16;
    width = ldexp(1.0, (int)msb - 4);
    return (16.0 + sub) * width + width / 2;
}

static double gap_percentile(const uint32_t *h, uint64_t n, double p) {
    uint64_t rank, seen = 0;
    if (!h || n == 0) return 0;
    rank = (uint64_t)ceil(p * (double)n);
    if (rank < 1) rank = 1;
    for (unsigned i = 0; i < TW__GAP_BUCKETS; i++) {
        seen += h[i];
        if (seen >= rank) return bucket_value(i) * 1e-6;
    }
    return bucket_value(TW__GAP_BUCKETS - 1) * 1e-6;
}

/* ---- pushing (I/O thread, s->lock held) ---------------------------------------------------- */

static int is_terminal(const tw_event *ev) { return tw_event_is_terminal(ev); }

/* Metrics and terminal bookkeeping of one event about to be queued. */
static void account_locked(tw_stream *s, const tw_event *ev, double now) {
    tw_engine *e = s->e;
    tw_summary_add(s->sum, ev); /* on NOMEM the summary misses this event, nothing more */
    if (!s->first_content &&
        (ev->type == TW_EV_TEXT || ev->type == TW_EV_REASONING || ev->type == TW_EV_TOOL_CALL))
        s->first_content = now;
    if (is_terminal(ev)) {
        s->terminal_queued = 1;
        s->ended_at = now;
        s->m.duration = now - s->t_start;
        /* Counters are settled before the consumer can see the terminal event. A paused
         * transfer is dropped right after this (finish_transfer), never resumed. */
        if (s->pause_flag) {
            s->pause_flag = 0;
            atomic_fetch_sub(&e->st_paused, 1);
        }
        atomic_fetch_sub(&e->st_active, 1);
        atomic_fetch_add(&e->st_finished, 1);
    }
    s->m.events++;
    if (ev->type == TW_EV_TEXT) {
        if (s->m.text_events == 0) {
            s->m.ttft = now - s->t_start;
        } else {
            double gap = now - s->last_text_at;
            if (!s->gaps) s->gaps = calloc(TW__GAP_BUCKETS, sizeof *s->gaps);
            if (s->gaps) s->gaps[gap_bucket(gap > 0 ? (uint64_t)(gap * 1e6) : 0)]++;
        }
        s->last_text_at = now;
        s->m.text_events++;
    }
}

static void note_peak_locked(tw_stream *s) {
    size_t bytes = tw_batch_bytes(s->queue);
    atomic_store_explicit(&s->qbytes, bytes, memory_order_relaxed);
    if (bytes > s->queue_peak) s->queue_peak = bytes;
}

tw_code tw__queue_push_locked(tw_stream *s, const tw_event *ev, double now) {
    if (s->terminal_queued) return TW_OK; /* nothing after the terminal event */
    account_locked(s, ev, now);
    if (s->released) return TW_OK; /* nobody will read it */
    if (!s->queue) {
        s->queue = tw_batch_new();
        if (!s->queue) return TW_ERR_NOMEM;
    }
    if (tw_batch_push(s->queue, ev) != TW_OK) return TW_ERR_NOMEM;
    note_peak_locked(s);
    return TW_OK;
}

int tw__stage_event(void *userdata, const tw_event *ev) {
    tw_stream *s = userdata;
    if (s->stage_terminal) return 1;
    if (!s->stage && !(s->stage = tw_batch_new())) {
        s->stage_oom = 1;
        return 1;
    }
    if (tw_batch_push(s->stage, ev) != TW_OK) {
        s->stage_oom = 1;
        return 1;
    }
    /* The engine's contract: an END or a terminal ERROR is the stream's last event; a
     * recoverable error (one malformed event) is delivered in order and decoding goes on. */
    if (is_terminal(ev)) {
        s->stage_terminal = 1;
        return 1;
    }
    return 0;
}

size_t tw__publish_locked(tw_stream *s, double now) {
    size_t n = tw_batch_count(s->stage);
    if (n == 0) return 0;
    if (s->fallbacks) {
        /* Held back until the stream's first content event or its clean end: until then a
         * fallback may replace this request, and the consumer sees only the winner's events.
         * From then on nothing is held and the chain is dropped. */
        int release = 0;
        for (size_t i = 0; i < n && !release; i++) {
            const tw_event *ev = tw_batch_get(s->stage, i);
            release = ev->type == TW_EV_TEXT || ev->type == TW_EV_REASONING ||
                      ev->type == TW_EV_TOOL_CALL || ev->type == TW_EV_END;
        }
        if (!release) return 0;
        tw__request_free(s->fallbacks);
        s->fallbacks = NULL;
    }
    if (s->terminal_queued) {
        tw_batch_clear(s->stage);
        return 0;
    }
    for (size_t i = 0; i < n; i++) account_locked(s, tw_batch_get(s->stage, i), now);
    if (s->released) {
        tw_batch_clear(s->stage);
        return n;
    }
    if (tw_batch_count(s->queue) == 0) {
        /* The consumer is keeping up: hand the staged batch over as it is. */
        tw_batch *old = s->queue;
        s->queue = s->stage;
        s->stage = old;
    } else {
        /* The consumer is behind: append (a copy; this is the rarer, throttled path). */
        for (size_t i = 0; i < n; i++)
            if (tw_batch_push(s->queue, tw_batch_get(s->stage, i)) != TW_OK) s->stage_oom = 1;
        tw_batch_clear(s->stage);
    }
    note_peak_locked(s);
    return n;
}

void tw__after_push_locked(tw_stream *s) {
    if (tw_batch_count(s->queue) == 0) return;
    if (s->waiters) pthread_cond_broadcast(&s->cond);
    tw__mark_ready_locked(s);
}

void tw__deliver_error(tw_stream *s, tw_error_kind kind, int status, const char *msg,
                       const char *raw, size_t raw_len) {
    tw_event ev;
    tw_event_init(&ev);
    ev.type = TW_EV_ERROR;
    ev.error_kind = kind;
    ev.status = status;
    if (msg) {
        ev.text.ptr = msg;
        ev.text.len = strlen(msg);
    }
    if (raw) {
        ev.raw.ptr = raw;
        ev.raw.len = raw_len;
    }
    pthread_mutex_lock(&s->lock);
    if (!s->terminal_queued) {
        if (tw__queue_push_locked(s, &ev, tw__now()) != TW_OK) {
            /* Out of memory for the very last event: wake the consumer anyway; tw_stream_wait
             * then reports TW_ERR_CLOSED instead of blocking forever. */
            if (s->waiters) pthread_cond_broadcast(&s->cond);
        }
        tw__after_push_locked(s);
    }
    pthread_mutex_unlock(&s->lock);
}

/* ---- consumer side ------------------------------------------------------------------------- */

/* In a fork child: the stream's transfer runs (if at all) in the parent, so it ends here with
 * one error, taken without touching its lock. */
static tw_batch *take_forked(tw_stream *s) {
    static const char msg[] = "stream was started before fork() in the parent process; its "
                              "transfer does not exist in this process";
    tw_batch *b;
    tw_event ev;
    if (s->fork_reported) return NULL;
    b = tw_batch_new();
    if (!b) return NULL;
    tw_event_init(&ev);
    ev.type = TW_EV_ERROR;
    ev.error_kind = TW_KIND_TRANSPORT;
    ev.text.ptr = msg;
    ev.text.len = sizeof msg - 1;
    if (tw_batch_push(b, &ev) != TW_OK) {
        tw_batch_free(b);
        return NULL;
    }
    s->fork_reported = 1;
    return b;
}

tw_batch *tw_stream_take(tw_stream *s) {
    tw_batch *out = NULL;
    int resume = 0;
    if (!s) return NULL;
    if (tw__stream_forked(s)) return take_forked(s);
    pthread_mutex_lock(&s->lock);
    if (tw_batch_count(s->queue) > 0) {
        out = s->queue;
        s->queue = NULL;
        atomic_store_explicit(&s->qbytes, 0, memory_order_relaxed);
        if (s->terminal_queued) s->terminal_taken = 1;
    }
    tw__ready_remove_locked(s);
    /* The queue is empty now, so below any low watermark. */
    if (s->pause_flag && !s->resume_requested) {
        s->resume_requested = 1;
        resume = 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (resume) tw__send_cmd(s, TW__CMD_RESUME);
    return out;
}

static int waitable_done(tw_stream *s) {
    /* The terminal event was taken, or it was lost to an allocation failure. */
    return s->terminal_taken || (s->terminal_queued && tw_batch_count(s->queue) == 0);
}

tw_code tw_stream_wait(tw_stream *s, int timeout_ms) {
    struct timespec dl;
    tw_code rc = TW_OK;
    if (!s) return TW_ERR_INVALID_ARG;
    if (tw__stream_forked(s)) return s->fork_reported ? TW_ERR_CLOSED : TW_OK;
    if (timeout_ms >= 0) {
        clock_gettime(TW__COND_CLOCK, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (tw_batch_count(s->queue) > 0) break;
        if (waitable_done(s)) {
            rc = TW_ERR_CLOSED;
            break;
        }
        s->waiters++;
        if (timeout_ms < 0) {
            pthread_cond_wait(&s->cond, &s->lock);
            s->waiters--;
        } else {
            int r = pthread_cond_timedwait(&s->cond, &s->lock, &dl);
            s->waiters--;
            if (r == ETIMEDOUT) {
                if (tw_batch_count(s->queue) > 0) break;
                rc = waitable_done(s) ? TW_ERR_CLOSED : TW_ERR_TIMEOUT;
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int tw_stream_finished(const tw_stream *s) {
    int r;
    tw_stream *m = (tw_stream *)s;
    if (!s) return 0;
    if (tw__stream_forked(s)) return s->fork_reported;
    pthread_mutex_lock(&m->lock);
    r = m->terminal_taken;
    pthread_mutex_unlock(&m->lock);
    return r;
}

void tw_stream_get_metrics(tw_stream *s, tw_metrics *out) {
    uint64_t n = 0;
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!s || tw__stream_forked(s)) return;
    pthread_mutex_lock(&s->lock);
    *out = s->m;
    if (!s->terminal_queued) out->duration = tw__now() - s->t_start;
    if (s->first_content) {
        int64_t in, outt = -1;
        double end = s->ended_at ? s->ended_at : tw__now();
        uint64_t content = 0;
        out->generation_time = end - s->first_content;
        tw_summary_usage(s->sum, &in, &outt, NULL);
        if (outt < 0) content = s->m.text_events; /* no usage: content events stand in */
        if (out->generation_time > 0)
            out->tokens_per_second =
                (double)(outt >= 0 ? (uint64_t)outt : content) / out->generation_time;
    }
    if (s->gaps) {
        for (unsigned i = 0; i < TW__GAP_BUCKETS; i++) n += s->gaps[i];
        out->gap_p50 = gap_percentile(s->gaps, n, 0.50);
        out->gap_p99 = gap_percentile(s->gaps, n, 0.99);
    }
    pthread_mutex_unlock(&s->lock);
}

tw_summary *tw_stream_summary(tw_stream *s) {
    tw_summary *c;
    if (!s) return NULL;
    if (tw__stream_forked(s)) {
        /* The parent's stream: nothing kept here, and the end the child sees (take_forked). */
        tw_event ev;
        c = tw_summary_new(0, 1);
        if (!c) return NULL;
        tw_event_init(&ev);
        ev.type = TW_EV_ERROR;
        ev.error_kind = TW_KIND_TRANSPORT;
        ev.text.ptr = "stream was started before fork() in the parent process";
        ev.text.len = strlen(ev.text.ptr);
        if (tw_summary_add(c, &ev) != TW_OK) {
            tw_summary_free(c);
            return NULL;
        }
        return c;
    }
    pthread_mutex_lock(&s->lock);
    c = tw_summary_copy(s->sum);
    pthread_mutex_unlock(&s->lock);
    return c;
}

size_t tw__stream_queue_peak(tw_stream *s) {
    size_t v;
    pthread_mutex_lock(&s->lock);
    v = s->queue_peak;
    pthread_mutex_unlock(&s->lock);
    return v;
}

uint64_t tw__stream_pauses(tw_stream *s) {
    uint64_t v;
    pthread_mutex_lock(&s->lock);
    v = s->pauses;
    pthread_mutex_unlock(&s->lock);
    return v;
}

int tw__stream_paused_for_consumer(tw_stream *s) {
    int v;
    pthread_mutex_lock(&s->lock);
    v = s->pause_flag && !s->resume_requested;
    pthread_mutex_unlock(&s->lock);
    return v;
}

int tw__stream_terminal_queued(tw_stream *s) {
    int v;
    pthread_mutex_lock(&s->lock);
    v = s->terminal_queued;
    pthread_mutex_unlock(&s->lock);
    return v;
}

void tw__stream_free(tw_stream *s) {
    free(s->url);
    free(s->method);
    free(s->body);
    free(s->ca_file);
    curl_slist_free_all(s->headers);
    tw__request_free(s->fallbacks);
    free(s->id);
    tw_batch_free(s->pace);
    tw_decoder_free(s->dec);
    tw_summary_free(s->sum);
    tw_batch_free(s->queue);
    tw_batch_free(s->stage);
    tw_buf_free(&s->body_buf);
    free(s->gaps);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}
