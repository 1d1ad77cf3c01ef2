/*
 * retry.c - retry policy and the engine's timers.
 *
 * Retries happen only before the first body byte of a 2xx answer reached the decoder: after
 * that, events may already be in the consumer's hands and a second attempt would repeat them.
 * Retried: HTTP 429 and 5xx (after Retry-After when the server sends one of at most 60 s; a
 * longer one is delivered with the error), and connection-level failures (resolve, connect,
 * connect timeout, a reset while sending). A reset or empty reply after the whole request was
 * sent is retried only with retry_sent (the server may have acted on it). Never retried: TLS
 * verification failures, other 4xx, anything after the body started.
 *
 * Timers: each I/O thread keeps a binary min-heap of its streams keyed by their earliest engine
 * deadline (total, first byte, idle bytes, idle events, drain, retry). The key may be earlier
 * than the real deadline but never later: a byte arriving pushes the idle deadline back without
 * touching the heap; when the key comes due the deadline is recomputed and the stream either
 * times out or is re-keyed. Transitions that bring a deadline forward (first byte, resume,
 * entering the drain or retry state) re-key explicitly. So the per-byte cost is a few
 * comparisons, and curl_multi_socket_action's loop never scans all streams.
 */
#include "engine/engine_internal.h"

#include <math.h>
#include <stdlib.h>

int tw__retryable(CURLcode rc, long status) {
    if (rc == CURLE_OK) return status == 429 || (status >= 500 && status <= 599);
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT: /* the connect timeout: the engine times everything else */
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static double rng_unit(tw__io *io) {
    /* xorshift64*: jitter only needs to decorrelate clients, not be unpredictable. */
    uint64_t x = io->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    io->rng = x;
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}

double tw__retry_delay(tw__io *io, const tw_stream *s, double retry_after) {
    double d;
    if (retry_after > 0 && retry_after <= TW__RETRY_AFTER_MAX) return retry_after;
    d = s->retry_base_delay * ldexp(1.0, s->attempt > 0 ? s->attempt - 1 : 0);
    if (d > TW__BACKOFF_CAP) d = TW__BACKOFF_CAP;
    /* "Equal jitter": half fixed, half random, so retries never bunch at zero delay. */
    return d * (0.5 + 0.5 * rng_unit(io));
}

static double dmin(double a, double b) { return a < b ? a : b; }

double tw__stream_deadline(const tw_stream *s) {
    double d = INFINITY;
    if (s->total_timeout > 0) d = s->t_start + s->total_timeout;
    switch (s->state) {
    case TW__ST_WAIT_RETRY:
        d = dmin(d, s->retry_at);
        break;
    case TW__ST_RUNNING:
        if (s->first_token_timeout > 0 && !s->first_content)
            d = dmin(d, s->attempt_start + s->first_token_timeout);
        if (!s->body_started && s->mode == TW__MODE_UNKNOWN) {
            if (s->first_byte_timeout > 0)
                d = dmin(d, s->attempt_start + s->first_byte_timeout);
        } else if (!s->pause_flag) {
            /* pause_flag is written by this thread only, so reading it unlocked is fine.
             * A paused transfer waits on the consumer, not the upstream: no idle timers. */
            if (s->idle_timeout > 0) d = dmin(d, s->last_byte + s->idle_timeout);
            if (s->event_timeout > 0 && s->mode == TW__MODE_STREAM)
                d = dmin(d, s->last_event + s->event_timeout);
        } else if (s->paused_timeout > 0) {
            d = dmin(d, s->paused_since + s->paused_timeout);
        }
        break;
    case TW__ST_DRAINING:
        d = dmin(d, s->drain_deadline);
        break;
    default:
        break;
    }
    return d;
}

/* ---- heap ---------------------------------------------------------------------------------- */

static void heap_set(tw__io *io, size_t i, tw_stream *s) {
    io->heap[i] = s;
    s->heap_idx = i;
}

static void sift_up(tw__io *io, size_t i) {
    tw_stream *s = io->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (io->heap[p]->heap_key <= s->heap_key) break;
        heap_set(io, i, io->heap[p]);
        i = p;
    }
    heap_set(io, i, s);
}

static void sift_down(tw__io *io, size_t i) {
    tw_stream *s = io->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        double mk = s->heap_key;
        if (l < io->heap_len && io->heap[l]->heap_key < mk) {
            m = l;
            mk = io->heap[l]->heap_key;
        }
        if (r < io->heap_len && io->heap[r]->heap_key < mk) m = r;
        if (m == i) break;
        heap_set(io, i, io->heap[m]);
        i = m;
    }
    heap_set(io, i, s);
}

void tw__heap_remove(tw__io *io, tw_stream *s) {
    size_t i = s->heap_idx;
    if (i == SIZE_MAX) return;
    s->heap_idx = SIZE_MAX;
    io->heap_len--;
    if (i == io->heap_len) return;
    heap_set(io, i, io->heap[io->heap_len]);
    sift_down(io, i);
    sift_up(io, io->heap[i]->heap_idx);
}

void tw__heap_update(tw__io *io, tw_stream *s) {
    double d = tw__stream_deadline(s);
    if (s->heap_idx == SIZE_MAX) {
        if (isinf(d)) return;
        if (io->heap_len == io->heap_cap) {
            size_t cap = io->heap_cap ? io->heap_cap * 2 : 64;
            tw_stream **h = realloc(io->heap, cap * sizeof *h);
            if (!h) return; /* then only the total timeout of others can fire: checked below */
            io->heap = h;
            io->heap_cap = cap;
        }
        s->heap_key = d;
        heap_set(io, io->heap_len++, s);
        sift_up(io, s->heap_idx);
    } else if (d < s->heap_key) {
        s->heap_key = d;
        sift_up(io, s->heap_idx);
    }
}

tw_stream *tw__heap_peek_due(tw__io *io, double now) {
    while (io->heap_len > 0 && io->heap[0]->heap_key <= now) {
        tw_stream *s = io->heap[0];
        double d = tw__stream_deadline(s);
        if (d <= now) return s;
        if (isinf(d)) {
            tw__heap_remove(io, s);
        } else {
            s->heap_key = d;
            sift_down(io, 0);
        }
    }
    return NULL;
}

double tw__heap_next(const tw__io *io) { return io->heap_len ? io->heap[0]->heap_key : INFINITY; }
