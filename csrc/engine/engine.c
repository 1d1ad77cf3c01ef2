/*
 * engine.c - engine lifecycle, reference counts, and the public stream calls that run on
 * consumer threads (start, cancel, release).
 *
 * Lifetimes. A stream holds a reference on its engine and on its sink, so the ready list, its
 * lock and the wakeup fd stay valid for streams the caller still holds after tw_engine_free
 * (which stops the I/O threads and curl, then drops the user's reference). A stream itself is
 * counted by: the caller (until tw_stream_release), the I/O thread (until the transfer is gone
 * and the terminal event is queued), one per queued command and one per take_ready hand-out.
 * Whoever drops the last one frees it.
 */
#include "engine/engine_internal.h"
#include "tw_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

double tw__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define FORKED_MSG                                                                             \
    "engine was created before fork() in the parent process: create a new engine in this "     \
    "process"

/* ---- options ------------------------------------------------------------------------------ */

void tw_engine_opts_init(tw_engine_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->io_threads = 1;
    o->queue_high_watermark = (size_t)1024 * 1024;
    o->queue_low_watermark = o->queue_high_watermark / 4;
    o->coalesce_us = 200;
    o->tick_us = 1500;
    o->tick_streams = 32;
}

void tw_request_opts_init(tw_request_opts *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->method = "POST";
    o->dialect = TW_DIALECT_OPENAI;
    o->connect_timeout = 10;
    o->first_byte_timeout = 600;
    o->idle_timeout = 600;
    o->paused_timeout = 300;
    o->accumulate = 1;
    o->max_retries = 2;
    o->retry_base_delay = 0.5;
    o->verify_peer = 1;
}

/* ---- curl share locks --------------------------------------------------------------------- */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud) {
    tw_engine *e = ud;
    (void)h;
    (void)access;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) pthread_mutex_lock(&e->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud) {
    tw_engine *e = ud;
    (void)h;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST) pthread_mutex_unlock(&e->share_locks[data]);
}

/* ---- engine lifecycle --------------------------------------------------------------------- */

static void engine_destroy(tw_engine *e) {
    if (e->share) curl_share_cleanup(e->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_destroy(&e->share_locks[i]);
    tw__ids_free(e);
    pthread_mutex_destroy(&e->ids_lock);
    if (e->sink0) tw__sink_unref(e->sink0);
    free(e->io);
    free(e);
}

void tw__engine_unref(tw_engine *e) {
    if (atomic_fetch_sub(&e->refs, 1) == 1) engine_destroy(e);
}

tw_engine *tw_engine_new(const tw_engine_opts *opts, tw_error *err) {
    tw_engine_opts o;
    tw_engine *e;
    tw__poller_kind poller;
    int started = 0;
    if (opts)
        o = *opts;
    else
        tw_engine_opts_init(&o);
    if (o.io_threads < 1 || o.io_threads > 256) {
        tw__err(err, TW_ERR_INVALID_ARG, "io_threads must be 1..256");
        return NULL;
    }
    if (o.coalesce_us < 0 || o.coalesce_us > 100000) {
        tw__err(err, TW_ERR_INVALID_ARG, "coalesce_us must be 0..100000");
        return NULL;
    }
    if (o.tick_us < 0 || o.tick_us > 100000 || o.tick_streams < 0) {
        tw__err(err, TW_ERR_INVALID_ARG, "tick_us must be 0..100000, tick_streams >= 0");
        return NULL;
    }
    {
        char msg[120];
        if (tw__poller_env(&poller, msg, sizeof msg) != 0) {
            tw__err(err, TW_ERR_INVALID_ARG, msg);
            return NULL;
        }
    }
    if (o.queue_high_watermark == 0) o.queue_high_watermark = (size_t)1024 * 1024;
    if (o.queue_low_watermark == 0 || o.queue_low_watermark >= o.queue_high_watermark)
        o.queue_low_watermark = o.queue_high_watermark / 4;
    tw__fork_init();
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        tw__err(err, TW_ERR_TRANSPORT, "curl_global_init failed");
        return NULL;
    }
    e = calloc(1, sizeof *e);
    if (!e) goto nomem;
    e->high = o.queue_high_watermark;
    e->low = o.queue_low_watermark;
    e->fork_gen = tw__fork_generation();
    e->n_io = o.io_threads;
    e->coalesce = o.coalesce_us * 1e-6;
    e->tick = o.tick_us * 1e-6;
    e->tick_streams = o.tick_streams;
    e->poller = poller;
    /* The portable configuration is whole: poll() comes with pipe wakeups. */
    e->pipe_wakeups = poller == TW__POLLER_POLL;
    atomic_init(&e->refs, 1);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) pthread_mutex_init(&e->share_locks[i], NULL);
    pthread_mutex_init(&e->ids_lock, NULL);
    e->sink0 = tw__sink_create(e, o.notify, o.notify_userdata, 1, err);
    if (!e->sink0) {
        engine_destroy(e);
        return NULL;
    }
    /* DNS answers and TLS sessions are shared by every I/O thread. The connection cache is
     * not: libcurl documents sharing it between concurrently running threads as unsafe (see
     * its KNOWN_BUGS), so each I/O thread's multi handle keeps its own. */
    e->share = curl_share_init();
    if (!e->share) goto nomem_e;
    curl_share_setopt(e->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(e->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(e->share, CURLSHOPT_USERDATA, e);
    curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    e->io = calloc((size_t)e->n_io, sizeof *e->io);
    if (!e->io) goto nomem_e;
    for (int i = 0; i < e->n_io; i++) {
        tw_code rc = tw__io_init(&e->io[i], e, i, err);
        if (rc != TW_OK) {
            for (int j = 0; j < i; j++) {
                pthread_mutex_lock(&e->io[j].cmd_lock);
                e->io[j].stop = 1;
                pthread_mutex_unlock(&e->io[j].cmd_lock);
                tw__io_wake(&e->io[j]);
            }
            for (int j = 0; j < i; j++) tw__io_destroy(&e->io[j]);
            engine_destroy(e);
            return NULL;
        }
        started++;
    }
    (void)started;
    if (err) tw__err(err, TW_OK, "");
    return e;
nomem_e:
    engine_destroy(e);
nomem:
    tw__err(err, TW_ERR_NOMEM, "out of memory");
    return NULL;
}

void tw_engine_free(tw_engine *e) {
    if (!e) return;
    if (tw_engine_forked(e)) {
        tw__engine_abandon(e);
        return;
    }
    atomic_store(&e->freeing, 1);
    for (int i = 0; i < e->n_io; i++) {
        pthread_mutex_lock(&e->io[i].cmd_lock);
        e->io[i].stop = 1;
        pthread_mutex_unlock(&e->io[i].cmd_lock);
        tw__io_wake(&e->io[i]);
    }
    /* Each thread cancels its streams (queuing their cancelled errors) before it exits. */
    for (int i = 0; i < e->n_io; i++) tw__io_destroy(&e->io[i]);
    tw__engine_unref(e);
}

size_t tw__engine_high(const tw_engine *e) { return e->high; }

void tw_engine_get_stats(tw_engine *e, tw_engine_stats *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!e) return;
    out->active_streams = atomic_load(&e->st_active);
    out->paused_streams = atomic_load(&e->st_paused);
    out->connections_reused = atomic_load(&e->st_reused);
    out->streams_started = atomic_load(&e->st_started);
    out->streams_finished = atomic_load(&e->st_finished);
}

tw_code tw_engine_prewarm(tw_engine *e, const char *url, tw_error *err) {
    CURLU *u;
    char *scheme = NULL;
    int ok;
    if (!e || !url || !*url) {
        tw__err(err, TW_ERR_INVALID_ARG, "engine and url are required");
        return TW_ERR_INVALID_ARG;
    }
    if (tw_engine_forked(e)) {
        tw__err(err, TW_ERR_FORKED, FORKED_MSG);
        return TW_ERR_FORKED;
    }
    if (tw__check_url(url, strlen(url), err) != TW_OK) return TW_ERR_INVALID_ARG;
    u = curl_url();
    if (!u) {
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return TW_ERR_NOMEM;
    }
    ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
         (!strcmp(scheme, "http") || !strcmp(scheme, "https"));
    curl_free(scheme);
    curl_url_cleanup(u);
    if (!ok) {
        tw__err(err, TW_ERR_INVALID_ARG, "url must be an absolute http:// or https:// URL");
        return TW_ERR_INVALID_ARG;
    }
    /* Connection caches are per I/O thread, so each thread opens one. */
    for (int i = 0; i < e->n_io; i++) {
        tw_code rc = tw__io_prewarm(&e->io[i], url);
        if (rc != TW_OK) {
            tw__err(err, rc, rc == TW_ERR_CLOSED ? "engine is shutting down" : "out of memory");
            return rc;
        }
    }
    if (err) tw__err(err, TW_OK, "");
    return TW_OK;
}

/* ---- commands ------------------------------------------------------------------------------ */

int tw__send_cmd(tw_stream *s, unsigned flag) {
    tw__io *io = s->io;
    int wake = 0;
    pthread_mutex_lock(&io->cmd_lock);
    if (io->closed || (io->stop && flag == TW__CMD_START)) {
        /* A closed thread has already terminated every stream it had. */
        pthread_mutex_unlock(&io->cmd_lock);
        return -1;
    }
    if (s->cmd_flags == 0) {
        atomic_fetch_add(&s->refs, 1);
        s->cmd_next = NULL;
        if (io->cmd_tail)
            io->cmd_tail->cmd_next = s;
        else {
            io->cmd_head = s;
            wake = 1;
        }
        io->cmd_tail = s;
    }
    s->cmd_flags |= flag;
    pthread_mutex_unlock(&io->cmd_lock);
    if (wake) tw__io_wake(io);
    return 0;
}

/* ---- streams ------------------------------------------------------------------------------- */

tw_stream *tw_engine_start(tw_engine *e, const tw_request_opts *opts, tw_error *err) {
    tw_stream *s;
    tw_decoder_opts dopts;
    tw__request *chain = NULL;
    if (!e || !opts) {
        tw__err(err, TW_ERR_INVALID_ARG, "engine, opts and opts->url are required");
        return NULL;
    }
    if (tw_engine_forked(e)) {
        tw__err(err, TW_ERR_FORKED, FORKED_MSG);
        return NULL;
    }
    if (opts->sink && opts->sink->e != e) {
        tw__err(err, TW_ERR_INVALID_ARG, "opts->sink belongs to another engine");
        return NULL;
    }
    if (atomic_load(&e->freeing)) {
        tw__err(err, TW_ERR_CLOSED, "engine is shutting down");
        return NULL;
    }
    if (!opts->url || !*opts->url) {
        tw__err(err, TW_ERR_INVALID_ARG, "engine, opts and opts->url are required");
        return NULL;
    }
    /* Every request of the chain is checked (and prepared) now: nothing reaches the wire
     * unchecked, and a bad fallback is refused before the first request is sent. */
    if (tw__request_chain(opts, &chain, err) != TW_OK) return NULL;
    s = calloc(1, sizeof *s);
    if (!s) goto nomem;
    pthread_mutex_init(&s->lock, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
#if !defined(__APPLE__)
        pthread_condattr_setclock(&ca, TW__COND_CLOCK);
#endif
        pthread_cond_init(&s->cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    s->heap_idx = SIZE_MAX;
    s->e = e;
    tw_buf_init(&s->body_buf);
    /* The first request becomes the stream's own; the rest wait as its fallbacks. */
    tw__request_swap(s, chain);
    s->fallbacks = chain->next;
    chain->next = NULL;
    tw__request_free(chain);
    chain = NULL;
    if (opts->id) {
        size_t n = opts->id_len ? opts->id_len : strlen(opts->id);
        if (n > 256) {
            tw__stream_free(s);
            tw__err(err, TW_ERR_INVALID_ARG, "id longer than 256 bytes");
            return NULL;
        }
        if (!(s->id = malloc(n + 1))) goto nomem_s;
        memcpy(s->id, opts->id, n);
        s->id[n] = '\0';
        s->id_len = n;
    }
    if (!(opts->simulate_interval >= 0 && opts->simulate_interval < 3600)) {
        tw__stream_free(s);
        tw__err(err, TW_ERR_INVALID_ARG, "simulate_interval must be >= 0 and < 3600 s");
        return NULL;
    }
    s->simulate_chars = opts->simulate_chars;
    s->simulate_interval = opts->simulate_interval;
    s->total_timeout = opts->total_timeout;
    s->paused_timeout = opts->paused_timeout;
    s->accumulate = opts->accumulate;
    s->userdata = opts->userdata;
    /* The stream's I/O thread, whose JSON parser its decoder shares (it is fed there only). */
    s->io = &e->io[atomic_fetch_add(&e->next_io, 1) % (unsigned)e->n_io];
    tw_decoder_opts_init(&dopts);
    dopts.max_event_size = s->max_event_size;
    dopts.json = s->io->json;
    s->dec = tw_decoder_new(s->dialect, &dopts, err);
    if (!s->dec) {
        tw__stream_free(s);
        return NULL;
    }
    s->m.http_version = 0;
    s->sum = tw_summary_new(opts->accumulate, tw_dialect_indexes_choices(s->dialect));
    if (!s->sum) {
        tw__stream_free(s);
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (tw__ids_add(s) != 0) goto nomem_s;
    s->sink = opts->sink ? opts->sink : e->sink0;
    tw__sink_ref(s->sink);
    s->t_start = tw__now();
    /* caller + I/O thread; the start command adds its own while queued. */
    atomic_init(&s->refs, 2);
    atomic_fetch_add(&e->refs, 1);
    atomic_fetch_add(&e->st_started, 1);
    atomic_fetch_add(&e->st_active, 1);
    if (tw__send_cmd(s, TW__CMD_START) != 0) {
        atomic_fetch_sub(&e->st_started, 1);
        atomic_fetch_sub(&e->st_active, 1);
        atomic_store(&s->refs, 1);
        tw__stream_unref(s);
        tw__err(err, TW_ERR_CLOSED, "engine is shutting down");
        return NULL;
    }
    if (err) tw__err(err, TW_OK, "");
    return s;
nomem_s:
    tw__stream_free(s);
nomem:
    tw__request_free(chain);
    tw__err(err, TW_ERR_NOMEM, "out of memory");
    return NULL;
}

void tw_stream_cancel(tw_stream *s) {
    if (!s || tw__stream_forked(s)) return;
    if (atomic_exchange(&s->cancel_requested, 1)) return;
    /* Sent even when the terminal event is already queued: the stream may still be draining
     * its connection, and the command drops that transfer at once. After the I/O thread is done
     * with the stream the command is a no-op. */
    tw__send_cmd(s, TW__CMD_CANCEL);
}

void tw_stream_release(tw_stream *s) {
    /* In a fork child the stream is the parent's: its memory is left as it is. */
    if (!s || tw__stream_forked(s)) return;
    pthread_mutex_lock(&s->lock);
    s->released = 1;
    tw__ready_remove_locked(s);
    pthread_mutex_unlock(&s->lock);
    tw_stream_cancel(s);
    tw__stream_unref(s);
}

void tw_stream_unref(tw_stream *s) {
    if (!s || tw__stream_forked(s)) return;
    tw__stream_unref(s);
}

void *tw_stream_userdata(const tw_stream *s) {
    tw_stream *m = (tw_stream *)s; /* the lock, not the stream, changes */
    void *ud;
    if (!s) return NULL;
    if (tw__stream_forked(s)) return s->userdata;
    pthread_mutex_lock(&m->lock);
    ud = s->released ? NULL : s->userdata;
    pthread_mutex_unlock(&m->lock);
    return ud;
}

void tw__stream_unref(tw_stream *s) {
    if (atomic_fetch_sub(&s->refs, 1) == 1) {
        tw_engine *e = s->e;
        tw_sink *k = s->sink;
        tw__ids_remove(s);
        tw__stream_free(s);
        if (k) tw__sink_unref(k);
        tw__engine_unref(e);
    }
}
