/*
 * binding.c - the Node-API addon: module init, one engine per napi_env, streams, encoders.
 *
 * Delivery path: the engine's notify callback (I/O thread) signals a uv_async_t of the
 * environment's loop. Its callback, on the JS thread, drains the engine's ready list once
 * and, inside one callback scope (so promise jobs run once per wakeup, not per stream),
 * hands each flowing stream all its queued events as one packed batch through a single JS
 * dispatch function registered by node/index.js.
 *
 * Backpressure: a stream that is not flowing (nobody is reading) is skipped; its events stay
 * in the engine's bounded queue, which pauses the transfer at its high watermark. When JS
 * wants more (setFlow), the queued batch is taken right away (tw_stream_take may resume the
 * transfer) and delivered synchronously; if none is queued the stream becomes flowing for
 * exactly one batch (mode 1) or until told otherwise (mode 2, event emitters).
 *
 * Lifetime: each JS stream object is napi_wrap'ed with its twn_stream. While the stream is
 * active C holds a strong reference to the object, so it cannot be collected mid-stream;
 * after the terminal event the reference is dropped and the wrap finalizer frees the C side.
 * The uv_async_t is referenced only while some stream is active, so the process can exit.
 * Environment teardown (main thread exit or worker termination) cancels every stream, joins
 * the engine's threads and closes the handle from an async cleanup hook.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twn.h"

typedef struct twn_env twn_env;
typedef struct twn_stream twn_stream;

/* An encoder shared by a JS handle and the streams that write through it (merge). */
typedef struct twn_enc {
    tw_encoder *e;
    int refs;          /* JS thread only */
    int messages;      /* one message per event (tw_encoder_opts.messages): JS gets strings */
    twn_tee_link *tee; /* NULL, or the Redis tee each batch is appended to (tee.c) */
} twn_enc;

/* A merge's framer (tw_merge.h), shared by its JS handle and its sources' streams. */
typedef struct twn_frm {
    tw_framer *f;
    int refs; /* JS thread only */
} twn_frm;

struct twn_stream {
    twn_env *E;           /* NULL after environment teardown */
    tw_stream *s;         /* NULL once terminal was taken (released) */
    napi_ref self;        /* strong while active, NULL after */
    twn_stream *prev, *next;
    int flow;             /* 0 paused, 1 one batch, 2 flowing */
    int want_events;      /* deliver packed events to JS */
    int cancelled;        /* user cancelled: deliver nothing more */
    twn_enc *enc;         /* encode batches to bytes, or NULL */
    char *source;         /* merged streams: agent name for encoded events */
    size_t source_len;
    int own_finish;       /* the encoder belongs to this stream: finish it at the end */
    twn_frm *frm;         /* merged streams: the merge's framer (source = frame_index), or NULL */
    size_t frame_index;
    int frame_events;     /* deliver the framed events to JS (the merge consumes events) */
    int done;             /* terminal event taken from the engine */
    tw_batch *held;       /* taken from the engine while paused, not yet given to JS */
    int held_done;        /* held ends with the terminal event */
    tw_metrics metrics;   /* snapshot taken at the terminal event */
    tw_summary *summary;  /* snapshot taken at the terminal event, until JS reads it */
};

struct twn_env {
    napi_env env;
    uv_loop_t *loop;
    uv_async_t async;
    uv_timer_t timer;         /* coalescing delay in bulk mode (see on_async) */
    int timer_armed;
    int open_handles;         /* async + timer, until both are closed at teardown */
    int coalesce_ms;          /* configure(): 0 = never delay */
    uint64_t last_drain_ns;   /* uv_hrtime() of the last drain */
    size_t last_drain_events; /* events delivered by it */
    size_t drain_events;      /* events delivered by the running drain */
    tw_engine *engine;        /* created on first use */
    int io_threads;           /* configure(): 0 = engine default */
    size_t high_watermark, low_watermark;
    napi_ref dispatch;        /* JS function(obj, str, meta, bytes, done) */
    napi_ref resource;        /* async resource object for the callback scope */
    napi_async_context actx;
    twn_stream *streams;      /* every wrapped stream, for teardown */
    size_t active;            /* streams not yet terminated */
    twn_packer pk;            /* reused for every batch */
    twn_packer fpk;           /* merged streams: the framed events of the batch */
    tw_buf bytes;             /* reused for encoded output */
    napi_async_cleanup_hook_handle cleanup;
    int closing;
};

/* ---- helpers ------------------------------------------------------------------------------- */

static twn_env *env_get(napi_env env)
{
    void *d = NULL;
    if (napi_get_instance_data(env, &d) != napi_ok || !d) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: addon not initialised");
        return NULL;
    }
    return d;
}

static void enc_unref(twn_enc *x)
{
    if (x && --x->refs == 0) {
        if (x->tee) twn_tee_link_free(x->tee);
        tw_encoder_free(x->e);
        free(x);
    }
}

/* The messages the encoder wrote into b since the last clear (tw_encoder_message_lens), as a
 * JS array of strings, one per message; the lengths are forgotten either way. */
static napi_status messages_array(napi_env env, twn_enc *x, const tw_buf *b, napi_value *out)
{
    size_t n = 0, at = 0;
    const size_t *lens = tw_encoder_message_lens(x->e, &n);
    napi_status st = napi_create_array_with_length(env, n, out);
    for (size_t i = 0; st == napi_ok && i < n && at + lens[i] <= b->len; at += lens[i], i++) {
        napi_value m;
        st = napi_create_string_utf8(env, b->data + at, lens[i], &m);
        if (st == napi_ok) st = napi_set_element(env, *out, (uint32_t)i, m);
    }
    tw_encoder_messages_clear(x->e);
    return st;
}

static void frm_unref(twn_frm *x)
{
    if (x && --x->refs == 0) {
        tw_framer_free(x->f);
        free(x);
    }
}

static void active_dec(twn_env *E)
{
    if (E && E->active > 0 && --E->active == 0 && !E->closing) uv_unref((uv_handle_t *)&E->async);
}

static void active_inc(twn_env *E)
{
    if (E->active++ == 0) uv_ref((uv_handle_t *)&E->async);
}

static void notify_cb(void *ud)
{
    twn_env *E = ud;
    uv_async_send(&E->async);
}

static tw_engine *engine_get(napi_env env, twn_env *E)
{
    if (E->engine) return E->engine;
    tw_error err;
    memset(&err, 0, sizeof err);
    tw_engine_opts o;
    tw_engine_opts_init(&o);
    if (E->io_threads > 0) o.io_threads = E->io_threads;
    if (E->high_watermark) o.queue_high_watermark = E->high_watermark;
    if (E->low_watermark) o.queue_low_watermark = E->low_watermark;
    o.notify = notify_cb;
    o.notify_userdata = E;
    E->engine = tw_engine_new(&o, &err);
    if (!E->engine) twn_throw_code(env, "engine", err.code ? err.code : TW_ERR_NOMEM, &err);
    return E->engine;
}

static twn_stream *stream_get(napi_env env, napi_value obj)
{
    void *d = NULL;
    if (napi_unwrap(env, obj, &d) != napi_ok || !d) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: not a started stream");
        return NULL;
    }
    return d;
}

static void stream_unlink(twn_stream *ns)
{
    twn_env *E = ns->E;
    if (!E) return;
    if (ns->prev)
        ns->prev->next = ns->next;
    else
        E->streams = ns->next;
    if (ns->next) ns->next->prev = ns->prev;
    ns->prev = ns->next = NULL;
}

static void stream_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    twn_stream *ns = data;
    if (ns->s) {
        tw_stream_release(ns->s);
        ns->s = NULL;
        if (!ns->done) active_dec(ns->E);
    }
    stream_unlink(ns);
    tw_summary_free(ns->summary);
    tw_batch_free(ns->held);
    enc_unref(ns->enc);
    frm_unref(ns->frm);
    free(ns->source);
    free(ns);
}

/* Called once the terminal event was taken: snapshot metrics and summary, release the
 * engine's stream and drop the strong reference that kept the JS object alive. */
static void stream_terminate(napi_env env, twn_stream *ns)
{
    if (ns->done) return;
    ns->done = 1;
    if (ns->s) {
        tw_stream_get_metrics(ns->s, &ns->metrics);
        /* NULL on NOMEM: summary() then reports it. */
        ns->summary = tw_stream_summary(ns->s);
        tw_stream_release(ns->s);
        ns->s = NULL;
    }
    active_dec(ns->E);
    if (ns->self) {
        napi_delete_reference(env, ns->self);
        ns->self = NULL;
    }
}

static tw_code encode_one(twn_stream *ns, const tw_event *ev, tw_buf *out)
{
    if (!ns->source) return tw_encoder_encode(ns->enc->e, ev, out);
    tw_event copy = *ev;
    copy.source.ptr = ns->source;
    copy.source.len = ns->source_len;
    return tw_encoder_encode(ns->enc->e, &copy, out);
}

/* Where the framer's events of one batch go: packed for the merge's JS and / or encoded into
 * the merge's shared encoder. */
typedef struct frame_ctx {
    twn_stream *ns;
    twn_packer *pk; /* NULL: the merge does not consume events */
    tw_buf *bytes;  /* NULL: no encoder */
    int failed;
} frame_ctx;

static int frame_emit(void *ud, const tw_event *ev)
{
    frame_ctx *c = ud;
    if (c->pk) twn_pack_event(c->pk, ev);
    if (c->bytes && tw_encoder_encode(c->ns->enc->e, ev, c->bytes) != TW_OK) c->failed = 1;
    return 0;
}

/* A paused stream that became ready: take its batch now and hold it in C (at most one), so
 * that a stream whose upstream already ended stops counting as active (the process may exit
 * even if nobody reads it) and its engine handle is released. The engine's own queue still
 * bounds memory: while a batch is held nothing more is taken. */
static void hold(napi_env env, twn_stream *ns)
{
    if (ns->held || !ns->s) return;
    ns->held = tw_stream_take(ns->s);
    if (ns->held && tw_stream_finished(ns->s)) {
        ns->held_done = 1;
        stream_terminate(env, ns);
    }
}

/* Takes the stream's queued events (if any) and calls the JS dispatch function with
 * (obj, string, meta, bytes, done). obj is the stream's JS object. Returns 1 if something
 * was delivered, 0 if nothing was queued, -1 if JS threw (the exception is left pending). */
static int deliver(napi_env env, twn_env *E, twn_stream *ns, napi_value obj)
{
    tw_batch *b;
    int done;
    if (ns->held) {
        b = ns->held;
        done = ns->held_done;
        ns->held = NULL;
        ns->held_done = 0;
    } else {
        if (!ns->s) return 0;
        b = tw_stream_take(ns->s);
        if (!b) return 0;
        /* The engine marks the stream finished once its terminal event has been taken; an
         * error event before that (a bad JSON payload the decoder skipped) is not terminal. */
        done = tw_stream_finished(ns->s) != 0;
    }
    if (ns->flow == 1) ns->flow = 0;

    size_t n = tw_batch_count(b);
    twn_packer *pk = &E->pk;
    twn_packer_reset(pk);
    E->bytes.len = 0;
    int want_events = ns->want_events && !ns->cancelled;
    int encode = ns->enc && !ns->cancelled;
    int failed = 0;
    /* A merged stream's events go through the merge's framer (tw_merge.h: agent_start before
     * the source's first event, tagged events, END dropped, agent_complete after the terminal
     * event); the framed events are what the merge's JS and the shared encoder receive. */
    frame_ctx fc = {ns, NULL, NULL, 0};
    tw_str name = {ns->source, ns->source_len};
    if (ns->frm) {
        twn_packer_reset(&E->fpk);
        if (ns->frame_events && !ns->cancelled) fc.pk = &E->fpk;
        if (encode) fc.bytes = &E->bytes;
    }
    for (size_t i = 0; i < n; i++) {
        const tw_event *ev = tw_batch_get(b, i);
        if (want_events) twn_pack_event(pk, ev);
        if (ns->frm) {
            if ((fc.pk || fc.bytes) && tw_framer_push(ns->frm->f, ns->frame_index, name, ev,
                                                      frame_emit, &fc) != TW_OK)
                failed = 1;
        } else if (encode && encode_one(ns, ev, &E->bytes) != TW_OK) {
            failed = 1;
        }
    }
    if (fc.failed || (fc.pk && fc.pk->oom)) failed = 1;
    /* JS always learns how the stream ended (the error it settles with), even when it wants
     * no events (a relay with no listener): the terminal event is the batch's last. */
    int packed_terminal = 0;
    if (done && !want_events && !ns->cancelled && n > 0 &&
        tw_event_is_terminal(tw_batch_get(b, n - 1))) {
        twn_pack_event(pk, tw_batch_get(b, n - 1));
        packed_terminal = 1;
    }
    /* A stream feeding a shared (merged) encoder does not finish it: JS does once every
     * source ended. */
    if (done && encode && ns->own_finish && tw_encoder_finish(ns->enc->e, &E->bytes) != TW_OK)
        failed = 1;
    if (encode && !failed && ns->enc->tee)
        twn_tee_on_bytes(ns->enc->tee, ns->enc->e, E->bytes.data, E->bytes.len,
                         done && ns->own_finish, n ? tw_batch_get(b, n - 1) : NULL);
    E->drain_events += n;
    tw_batch_free(b);
    if (done) stream_terminate(env, ns);
    if (ns->cancelled) {
        /* Cancelled streams are drained silently; JS already settled them. */
        return done ? 1 : 0;
    }
    if (ns->enc && (failed || pk->oom)) tw_encoder_messages_clear(ns->enc->e);
    if (failed || pk->oom) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory while delivering events");
        return -1;
    }

    napi_value argv[7], fn, undef, result;
    if (napi_get_undefined(env, &undef) != napi_ok) goto fail;
    argv[0] = obj;
    argv[1] = argv[2] = argv[3] = argv[5] = argv[6] = undef;
    if (fc.pk && fc.pk->n) {
        if (twn_packer_string(env, fc.pk, &argv[5]) != napi_ok) goto fail;
        if (twn_packer_meta(env, fc.pk, &argv[6]) != napi_ok) goto fail;
    }
    if (want_events || packed_terminal) {
        if (twn_packer_string(env, pk, &argv[1]) != napi_ok) goto fail;
        if (twn_packer_meta(env, pk, &argv[2]) != napi_ok) goto fail;
    }
    if (encode && E->bytes.len && ns->enc->messages) {
        if (messages_array(env, ns->enc, &E->bytes, &argv[3]) != napi_ok) goto fail;
    } else if (encode && E->bytes.len) {
        void *data = NULL;
        if (napi_create_buffer_copy(env, E->bytes.len, E->bytes.data, &data, &argv[3]) != napi_ok)
            goto fail;
    }
    if (napi_get_boolean(env, done != 0, &argv[4]) != napi_ok) goto fail;
    if (napi_get_reference_value(env, E->dispatch, &fn) != napi_ok || !fn) goto fail;
    if (napi_call_function(env, undef, fn, 7, argv, &result) != napi_ok) goto fail;
    return 1;
fail:
    /* A failed Node-API call (e.g. a string past V8's length limit) must not drop the batch
     * silently: it becomes an exception for the caller or the uncaught-exception handler. */
    twn_throw_last(env);
    return -1;
}

/* Reports a JS exception raised while delivering from the loop (no JS caller to throw to)
 * as an uncaught exception, the way Node reports errors thrown by event listeners. */
static void report_pending(napi_env env)
{
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) return;
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
}

/* One pass over the engine's ready list. */
static void drain(twn_env *E)
{
    if (E->closing || !E->engine) return;
    napi_env env = E->env;
    E->drain_events = 0;
    napi_handle_scope hs;
    if (napi_open_handle_scope(env, &hs) != napi_ok) return;
    napi_value resource;
    napi_callback_scope cs;
    int scoped = napi_get_reference_value(env, E->resource, &resource) == napi_ok &&
                 napi_open_callback_scope(env, resource, E->actx, &cs) == napi_ok;
    enum { CAP = 256 };
    tw_stream *ready[CAP];
    /* Each taken stream comes with its own reference: JS run for one entry (merge -> setFlow
     * -> deliver -> terminate) may release a later one, which then stays valid memory and
     * reports NULL userdata instead of a freed twn_stream. */
    size_t n = tw_engine_take_ready(E->engine, ready, CAP);
    for (size_t i = 0; i < n; i++) {
        twn_stream *ns = tw_stream_userdata(ready[i]);
        if (!ns || ns->s != ready[i] || !ns->self) continue;
        if (!ns->flow && !ns->cancelled) {
            hold(env, ns); /* paused: setFlow delivers it later */
            continue;
        }
        napi_value obj;
        if (napi_get_reference_value(env, ns->self, &obj) != napi_ok || !obj) continue;
        if (deliver(env, E, ns, obj) < 0) report_pending(env);
    }
    for (size_t i = 0; i < n; i++) tw_stream_unref(ready[i]);
    /* More ready streams than one pass takes: come back after other I/O had its turn. */
    if (n == CAP) uv_async_send(&E->async);
    if (scoped) napi_close_callback_scope(env, cs);
    napi_close_handle_scope(env, hs);
    E->last_drain_ns = uv_hrtime();
    E->last_drain_events = E->drain_events;
}

static void on_timer(uv_timer_t *t)
{
    twn_env *E = t->data;
    E->timer_armed = 0;
    drain(E);
}

/*
 * uv_async_t callback. Each wakeup of the JS thread costs a few microseconds of kernel time
 * (the thread sleeps in epoll and is woken through the eventfd), so a bulk transfer whose
 * events arrive faster than the thread can sleep pays that per handful of events. When the
 * previous drain was less than a millisecond ago and delivered at least 16 events (over
 * 16,000 events/s), the drain waits coalesce_ms instead: the ready list stays non-empty, so
 * the engine sends no further wakeups and the next drain takes a much larger batch. Streams
 * at LLM speeds (tens to hundreds of tokens per second) never meet the condition and are
 * delivered at once.
 */
static void on_async(uv_async_t *h)
{
    twn_env *E = h->data;
    if (E->closing || E->timer_armed) return;
    if (E->coalesce_ms > 0 && E->last_drain_events >= 16 &&
        uv_hrtime() - E->last_drain_ns < 1000000) {
        E->timer_armed = 1;
        uv_timer_start(&E->timer, on_timer, (uint64_t)E->coalesce_ms, 0);
        return;
    }
    drain(E);
}

/* ---- teardown ------------------------------------------------------------------------------ */

static void on_closed(uv_handle_t *h)
{
    twn_env *E = h->data;
    if (--E->open_handles > 0) return;
    napi_remove_async_cleanup_hook(E->cleanup);
    twn_packer_free(&E->pk);
    twn_packer_free(&E->fpk);
    tw_buf_free(&E->bytes);
    free(E);
}

static void env_cleanup(napi_async_cleanup_hook_handle handle, void *arg)
{
    (void)handle;
    twn_env *E = arg;
    E->closing = 1;
    /* Joins the I/O threads: nothing can call notify_cb after this. */
    if (E->engine) {
        tw_engine_free(E->engine);
        E->engine = NULL;
    }
    for (twn_stream *ns = E->streams, *next; ns; ns = next) {
        next = ns->next;
        if (ns->s) tw_stream_release(ns->s);
        ns->s = NULL;
        ns->E = NULL;
        ns->prev = ns->next = NULL;
    }
    E->streams = NULL;
    napi_async_destroy(E->env, E->actx);
    if (E->dispatch) napi_delete_reference(E->env, E->dispatch);
    if (E->resource) napi_delete_reference(E->env, E->resource);
    E->dispatch = E->resource = NULL;
    uv_timer_stop(&E->timer);
    uv_close((uv_handle_t *)&E->timer, on_closed);
    uv_close((uv_handle_t *)&E->async, on_closed);
}

/* ---- JS functions -------------------------------------------------------------------------- */

/* init(dispatchFn) */
static napi_value js_init(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_env *E = env_get(env);
    if (!E) return NULL;
    napi_valuetype t;
    TW_NAPI_CALL(env, napi_typeof(env, argv[0], &t));
    if (t != napi_function) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: init expects a function");
        return NULL;
    }
    if (E->dispatch) TW_NAPI_CALL(env, napi_delete_reference(env, E->dispatch));
    TW_NAPI_CALL(env, napi_create_reference(env, argv[0], 1, &E->dispatch));
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

static int get_prop(napi_env env, napi_value obj, const char *name, napi_value *out)
{
    bool has = false;
    if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has) return 0;
    if (napi_get_named_property(env, obj, name, out) != napi_ok) return 0;
    napi_valuetype t;
    if (napi_typeof(env, *out, &t) != napi_ok) return 0;
    return t != napi_undefined && t != napi_null;
}

static int get_num(napi_env env, napi_value obj, const char *name, double *out)
{
    napi_value v;
    if (!get_prop(env, obj, name, &v)) return 0;
    return napi_get_value_double(env, v, out) == napi_ok;
}

/* configure({ioThreads, queueHighWatermark, queueLowWatermark}) before the first stream. */
static napi_value js_configure(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_env *E = env_get(env);
    if (!E) return NULL;
    double d;
    if (get_num(env, argv[0], "ioThreads", &d) && d >= 1) E->io_threads = (int)d;
    if (get_num(env, argv[0], "queueHighWatermark", &d) && d > 0) E->high_watermark = (size_t)d;
    if (get_num(env, argv[0], "queueLowWatermark", &d) && d > 0) E->low_watermark = (size_t)d;
    if (get_num(env, argv[0], "coalesceMs", &d) && d >= 0 && d <= 1000) E->coalesce_ms = (int)d;
    TW_NAPI_CALL(env, napi_get_boolean(env, E->engine == NULL, &out));
    return out;
}

typedef struct req_strings {
    char *method, *url, *body, *ca_file, *api_key, *id;
    char **headers;
    size_t *header_lens; /* lengths as read from JS, so the core sees an embedded NUL */
    size_t n_headers;
    char **query;        /* name, value, name, value, ... */
    size_t *query_lens;  /* their lengths: the core refuses a NUL inside ("query value #N") */
    size_t n_query;      /* strings (2 per parameter) */
} req_strings;

static void req_strings_free(req_strings *r)
{
    free(r->method);
    free(r->url);
    free(r->body);
    free(r->ca_file);
    free(r->api_key);
    free(r->id);
    for (size_t i = 0; i < r->n_headers; i++) free(r->headers[i]);
    free(r->headers);
    free(r->header_lens);
    for (size_t i = 0; i < r->n_query; i++) free(r->query[i]);
    free(r->query);
    free(r->query_lens);
}

/* An array of strings from JS into a malloc'd list (*n strings read, kept on failure so that
 * req_strings_free frees them). lens may be NULL. 0 ok, -1 exception. */
static int read_strings(napi_env env, napi_value v, const char *what, char ***out, size_t **lens,
                        size_t *n)
{
    uint32_t len = 0;
    bool is = false;
    if (napi_is_array(env, v, &is) != napi_ok || !is ||
        napi_get_array_length(env, v, &len) != napi_ok) {
        char msg[96];
        snprintf(msg, sizeof msg, "tokenwire: %s must be an array", what);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    *out = calloc(len ? len : 1, sizeof **out);
    if (lens) *lens = calloc(len ? len : 1, sizeof **lens);
    if (!*out || (lens && !*lens)) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < len; i++) {
        napi_value h;
        size_t l = 0;
        if (napi_get_element(env, v, i, &h) != napi_ok) return -1;
        if (!((*out)[i] = twn_get_string(env, h, &l))) return -1;
        if (lens) (*lens)[i] = l;
        *n = i + 1;
    }
    return 0;
}

/* Fills o from the JS options object; strings are copied into r. 0 ok, -1 exception. */
static int read_request(napi_env env, napi_value js, tw_request_opts *o, req_strings *r)
{
    napi_value v;
    double d;
    /* Method, URL and headers are checked by tw_engine_start (the one place every binding
     * and the CLI go through); their lengths go with them so that an embedded NUL is refused
     * there instead of cutting the string short. */
    if (!get_prop(env, js, "url", &v) || !(r->url = twn_get_string(env, v, &o->url_len))) {
        bool pending = false;
        napi_is_exception_pending(env, &pending);
        if (!pending) napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "tokenwire: url required");
        return -1;
    }
    o->url = r->url;
    if (get_prop(env, js, "method", &v)) {
        if (!(r->method = twn_get_string(env, v, &o->method_len))) return -1;
        o->method = r->method;
    }
    if (get_prop(env, js, "dialect", &v)) {
        size_t len = 0;
        char *name = twn_get_string(env, v, &len);
        if (!name) return -1;
        o->dialect = tw_dialect_from_name(name, len);
        free(name);
        if (!o->dialect) {
            napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "tokenwire: unknown dialect");
            return -1;
        }
    }
    if (get_prop(env, js, "headers", &v)) {
        if (read_strings(env, v, "headers", &r->headers, &r->header_lens, &r->n_headers) != 0)
            return -1;
        o->headers = (const char *const *)r->headers;
        o->header_lens = r->header_lens;
        o->n_headers = r->n_headers;
    }
    /* The API key goes where the dialect (or auth) says; the core builds that header and
     * checks the key like any header value (its length lets a NUL be seen). */
    if (get_prop(env, js, "apiKey", &v)) {
        if (!(r->api_key = twn_get_string(env, v, &o->api_key_len))) return -1;
        o->api_key = r->api_key;
        /* An empty key is no key (api_key_len 0 would mean strlen). */
        if (o->api_key_len == 0) o->api_key = NULL;
    }
    if (get_prop(env, js, "auth", &v)) {
        size_t len = 0;
        char *name = twn_get_string(env, v, &len);
        if (!name) return -1;
        int a = tw_auth_from_name(name, len);
        free(name);
        int bad = a < 0;
        if (!bad) o->auth = (tw_auth)a;
        if (bad) {
            napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "tokenwire: unknown auth");
            return -1;
        }
    }
    /* Query parameters: [name, value, ...], percent-encoded and appended by the core. */
    if (get_prop(env, js, "query", &v)) {
        if (read_strings(env, v, "query", &r->query, &r->query_lens, &r->n_query) != 0) return -1;
        if (r->n_query % 2) {
            napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                                  "tokenwire: query must hold name, value pairs");
            return -1;
        }
        o->query = (const char *const *)r->query;
        o->query_lens = r->query_lens;
        o->n_query = r->n_query / 2;
    }
    if (get_prop(env, js, "body", &v)) {
        tw_buf scratch;
        tw_buf_init(&scratch);
        const char *p = NULL;
        size_t len = 0;
        if (twn_get_bytes(env, v, &scratch, &p, &len) != 0) {
            tw_buf_free(&scratch);
            return -1;
        }
        r->body = malloc(len + 1);
        if (!r->body) {
            tw_buf_free(&scratch);
            napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
            return -1;
        }
        if (len) memcpy(r->body, p, len);
        r->body[len] = 0;
        tw_buf_free(&scratch);
        o->body = r->body;
        o->body_len = len;
    }
    if (get_prop(env, js, "caFile", &v)) {
        size_t len = 0;
        if (!(r->ca_file = twn_get_string(env, v, &len))) return -1;
        /* A path is read up to its first NUL: refuse one rather than open another file. */
        if (strlen(r->ca_file) != len) {
            napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                                  "tokenwire: start: invalid caFile: NUL in the path");
            return -1;
        }
        o->ca_file = r->ca_file;
    }
    if (get_num(env, js, "connectTimeout", &d)) o->connect_timeout = d;
    if (get_num(env, js, "firstByteTimeout", &d)) o->first_byte_timeout = d;
    if (get_num(env, js, "idleTimeout", &d)) o->idle_timeout = d;
    if (get_num(env, js, "eventTimeout", &d)) o->event_timeout = d;
    if (get_num(env, js, "firstTokenTimeout", &d)) o->first_token_timeout = d;
    if (get_num(env, js, "simulateChars", &d) && d > 0) o->simulate_chars = (size_t)d;
    if (get_num(env, js, "simulateInterval", &d)) o->simulate_interval = d;
    if (get_prop(env, js, "id", &v)) {
        if (!(r->id = twn_get_string(env, v, &o->id_len))) return -1;
        o->id = o->id_len ? r->id : NULL;
    }
    if (get_num(env, js, "totalTimeout", &d)) o->total_timeout = d;
    if (get_num(env, js, "pausedTimeout", &d)) o->paused_timeout = d;
    if (get_num(env, js, "maxRetries", &d)) o->max_retries = (int)d;
    if (get_num(env, js, "retryBaseDelay", &d)) o->retry_base_delay = d;
    if (get_num(env, js, "maxEventSize", &d) && d > 0) o->max_event_size = (size_t)d;
    if (get_prop(env, js, "http2", &v)) {
        bool b = false;
        napi_get_value_bool(env, v, &b);
        o->http2 = b;
    }
    if (get_prop(env, js, "retrySent", &v)) {
        bool b = false;
        napi_get_value_bool(env, v, &b);
        o->retry_sent = b;
    }
    if (get_prop(env, js, "verifyPeer", &v)) {
        bool b = true;
        napi_get_value_bool(env, v, &b);
        o->verify_peer = b;
    }
    if (get_prop(env, js, "accumulate", &v)) {
        bool b = true;
        napi_get_value_bool(env, v, &b);
        o->accumulate = b;
    }
    return 0;
}

/* The requests of opts.fallback (objects of the same fields as opts), chained from first. */
typedef struct fallback_list {
    tw_request_opts *o;
    req_strings *r;
    uint32_t n;
} fallback_list;

static void fallbacks_free(fallback_list *fb)
{
    for (uint32_t i = 0; i < fb->n; i++) req_strings_free(&fb->r[i]);
    free(fb->o);
    free(fb->r);
    memset(fb, 0, sizeof *fb);
}

/* 0 ok (no fallback is fine), -1 exception; fb holds what was read either way. */
static int read_fallbacks(napi_env env, napi_value js, tw_request_opts *first, fallback_list *fb)
{
    napi_value v;
    uint32_t len = 0;
    bool is = false;
    if (!get_prop(env, js, "fallback", &v)) return 0;
    if (napi_is_array(env, v, &is) != napi_ok || !is ||
        napi_get_array_length(env, v, &len) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: fallback must be an array");
        return -1;
    }
    fb->o = calloc(len ? len : 1, sizeof *fb->o);
    fb->r = calloc(len ? len : 1, sizeof *fb->r);
    if (!fb->o || !fb->r) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < len; i++) {
        napi_value item;
        tw_request_opts_init(&fb->o[i]);
        fb->n = i + 1;
        if (napi_get_element(env, v, i, &item) != napi_ok) return -1;
        if (read_request(env, item, &fb->o[i], &fb->r[i]) != 0) return -1;
        (i ? &fb->o[i - 1] : first)->fallback = &fb->o[i];
    }
    return 0;
}

/* start(obj, opts): starts a request and binds it to obj. */
static napi_value js_start(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_env *E = env_get(env);
    if (!E) return NULL;
    if (E->closing) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: environment is shutting down");
        return NULL;
    }
    tw_engine *eng = engine_get(env, E);
    if (!eng) return NULL;

    twn_stream *ns = calloc(1, sizeof *ns);
    if (!ns) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    tw_request_opts o;
    tw_request_opts_init(&o);
    req_strings r;
    memset(&r, 0, sizeof r);
    fallback_list fb = {0};
    if (read_request(env, argv[1], &o, &r) != 0 || read_fallbacks(env, argv[1], &o, &fb) != 0) {
        req_strings_free(&r);
        fallbacks_free(&fb);
        free(ns);
        return NULL;
    }
    o.userdata = ns;
    ns->want_events = 1;
    if (napi_wrap(env, argv[0], ns, stream_finalize, NULL, NULL) != napi_ok) {
        req_strings_free(&r);
        fallbacks_free(&fb);
        free(ns);
        twn_throw_last(env);
        return NULL;
    }
    ns->E = E;
    ns->next = E->streams;
    if (E->streams) E->streams->prev = ns;
    E->streams = ns;
    if (napi_create_reference(env, argv[0], 1, &ns->self) != napi_ok) {
        req_strings_free(&r);
        fallbacks_free(&fb);
        twn_throw_last(env);
        return NULL;
    }
    tw_error err;
    memset(&err, 0, sizeof err);
    ns->s = tw_engine_start(eng, &o, &err);
    req_strings_free(&r);
    fallbacks_free(&fb);
    if (!ns->s) {
        ns->done = 1;
        napi_delete_reference(env, ns->self);
        ns->self = NULL;
        twn_throw_code(env, "start", err.code ? err.code : TW_ERR_NOMEM, &err);
        return NULL;
    }
    active_inc(E);
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

/* setFlow(obj, mode): 0 paused, 1 deliver one batch, 2 flowing. With mode > 0 an already
 * queued batch is delivered before returning. Returns true if a batch was delivered. */
static napi_value js_set_flow(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_env *E = env_get(env);
    if (!E) return NULL;
    twn_stream *ns = stream_get(env, argv[0]);
    if (!ns) return NULL;
    int32_t mode = 0;
    TW_NAPI_CALL(env, napi_get_value_int32(env, argv[1], &mode));
    ns->flow = mode;
    int r = 0;
    if (mode > 0 && (ns->s || ns->held)) {
        int from_held = ns->held != NULL;
        r = deliver(env, E, ns, argv[0]);
        if (r < 0) return NULL;
        /* A held batch came first; what the engine queued meanwhile is no longer on its
         * ready list, so a flowing stream takes it now (later pushes notify again). */
        if (r > 0 && from_held && ns->flow == 2 && ns->s && deliver(env, E, ns, argv[0]) < 0)
            return NULL;
    }
    TW_NAPI_CALL(env, napi_get_boolean(env, r > 0, &out));
    return out;
}

/* setOutput(obj, wantEvents, encoderHandle|null, source|null, ownFinish
 *           [, framerHandle, sourceIndex, frameEvents]) */
static napi_value js_set_output(napi_env env, napi_callback_info info)
{
    size_t argc = 8;
    napi_value argv[8], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_stream *ns = stream_get(env, argv[0]);
    if (!ns) return NULL;
    bool want = true, own = false;
    TW_NAPI_CALL(env, napi_get_value_bool(env, argv[1], &want));
    if (argc >= 5) napi_get_value_bool(env, argv[4], &own);
    twn_enc *enc = NULL;
    napi_valuetype t = napi_undefined;
    if (argc >= 3) TW_NAPI_CALL(env, napi_typeof(env, argv[2], &t));
    if (t == napi_external) {
        void *d = NULL;
        TW_NAPI_CALL(env, napi_get_value_external(env, argv[2], &d));
        enc = d;
    }
    twn_frm *frm = NULL;
    uint32_t index = 0;
    bool frame_events = false;
    t = napi_undefined;
    if (argc >= 7) TW_NAPI_CALL(env, napi_typeof(env, argv[5], &t));
    if (t == napi_external) {
        void *d = NULL;
        TW_NAPI_CALL(env, napi_get_value_external(env, argv[5], &d));
        frm = d;
        TW_NAPI_CALL(env, napi_get_value_uint32(env, argv[6], &index));
        if (argc >= 8) TW_NAPI_CALL(env, napi_get_value_bool(env, argv[7], &frame_events));
    }
    char *source = NULL;
    size_t source_len = 0;
    t = napi_undefined;
    if (argc >= 4) TW_NAPI_CALL(env, napi_typeof(env, argv[3], &t));
    if (t == napi_string && !(source = twn_get_string(env, argv[3], &source_len))) return NULL;
    ns->want_events = want;
    if (enc) enc->refs++;
    enc_unref(ns->enc);
    ns->enc = enc;
    free(ns->source);
    ns->source = source;
    ns->source_len = source_len;
    ns->own_finish = own;
    if (frm) frm->refs++;
    frm_unref(ns->frm);
    ns->frm = frm;
    ns->frame_index = index;
    ns->frame_events = frame_events;
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

/* cancel(obj): cancels upstream; nothing more is delivered to JS for this stream. */
static napi_value js_cancel(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_env *E = env_get(env);
    if (!E) return NULL;
    twn_stream *ns = stream_get(env, argv[0]);
    if (!ns) return NULL;
    tw_batch_free(ns->held);
    ns->held = NULL;
    ns->held_done = 0;
    if (ns->s && !ns->done) {
        ns->cancelled = 1;
        ns->flow = 2;
        tw_stream_cancel(ns->s);
        /* Drain whatever is queued now; the cancelled terminal event arrives through the
         * loop and releases the upstream handle then. */
        while (ns->s && deliver(env, E, ns, argv[0]) > 0) {
        }
    }
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

/* cancelUpstream(obj): cancels the upstream transfer but, unlike cancel(), keeps delivering:
 * the cancelled terminal event still reaches JS and the stream's encoder, so a relay writes
 * the format's ending (a WebSocket client's cancel message). */
static napi_value js_cancel_upstream(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_stream *ns = stream_get(env, argv[0]);
    if (!ns) return NULL;
    if (ns->s && !ns->done) tw_stream_cancel(ns->s);
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

static napi_status set_num(napi_env env, napi_value obj, const char *name, double v)
{
    napi_value x;
    napi_status st = napi_create_double(env, v, &x);
    if (st != napi_ok) return st;
    return napi_set_named_property(env, obj, name, x);
}

/* metrics(obj) -> {connectTime, ttfb, ttft, duration, gapP50, gapP99, ...} (seconds) */
static napi_value js_metrics(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_stream *ns = stream_get(env, argv[0]);
    if (!ns) return NULL;
    tw_metrics m = ns->metrics;
    if (ns->s && !ns->done) tw_stream_get_metrics(ns->s, &m);
    TW_NAPI_CALL(env, napi_create_object(env, &out));
    TW_NAPI_CALL(env, set_num(env, out, "connectTime", m.connect_time));
    TW_NAPI_CALL(env, set_num(env, out, "ttfb", m.ttfb));
    TW_NAPI_CALL(env, set_num(env, out, "ttft", m.ttft));
    TW_NAPI_CALL(env, set_num(env, out, "duration", m.duration));
    TW_NAPI_CALL(env, set_num(env, out, "gapP50", m.gap_p50));
    TW_NAPI_CALL(env, set_num(env, out, "gapP99", m.gap_p99));
    TW_NAPI_CALL(env, set_num(env, out, "textEvents", (double)m.text_events));
    TW_NAPI_CALL(env, set_num(env, out, "events", (double)m.events));
    TW_NAPI_CALL(env, set_num(env, out, "bytes", (double)m.bytes));
    TW_NAPI_CALL(env, set_num(env, out, "retries", m.retries));
    TW_NAPI_CALL(env, set_num(env, out, "fallbackIndex", m.fallback_index));
    {
        napi_value b;
        TW_NAPI_CALL(env, napi_get_boolean(env, m.simulated != 0, &b));
        TW_NAPI_CALL(env, napi_set_named_property(env, out, "simulated", b));
    }
    TW_NAPI_CALL(env, set_num(env, out, "httpStatus", (double)m.http_status));
    TW_NAPI_CALL(env, set_num(env, out, "httpVersion", m.http_version));
    TW_NAPI_CALL(env, set_num(env, out, "retryAfter", m.retry_after));
    TW_NAPI_CALL(env, set_num(env, out, "generationTime", m.generation_time));
    TW_NAPI_CALL(env, set_num(env, out, "tokensPerSecond", m.tokens_per_second));
    napi_value b;
    TW_NAPI_CALL(env, napi_get_boolean(env, m.connection_reused != 0, &b));
    TW_NAPI_CALL(env, napi_set_named_property(env, out, "connectionReused", b));
    TW_NAPI_CALL(env, napi_get_boolean(env, m.streamed != 0, &b));
    TW_NAPI_CALL(env, napi_set_named_property(env, out, "streamed", b));
    return out;
}

/* summary(obj | undefined, accumulate) -> the core's summary as a JS object (summary.c).
 * For a stream: the snapshot taken at its terminal event (handed over once: JS keeps the
 * result), or a snapshot of the events queued so far while it runs (cancel). Without a
 * stream (one aborted before it started): the summary of no events. Throws when the snapshot
 * was already handed over or could not be taken (out of memory at the terminal event). */
static napi_value js_summary(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    napi_valuetype t = napi_undefined;
    if (argc >= 1) TW_NAPI_CALL(env, napi_typeof(env, argv[0], &t));
    tw_summary *sum = NULL;
    bool acc = true;
    if (t == napi_object) {
        twn_stream *ns = stream_get(env, argv[0]);
        if (!ns) return NULL;
        if (ns->summary) {
            sum = ns->summary;
            ns->summary = NULL;
        } else if (ns->s) {
            sum = tw_stream_summary(ns->s);
        } else {
            napi_throw_error(env, "ERR_TOKENWIRE",
                             "tokenwire: the stream's summary was already taken or could not be kept");
            return NULL;
        }
    } else {
        if (argc >= 2) napi_get_value_bool(env, argv[1], &acc);
        sum = tw_summary_new(acc, 0);
    }
    if (!sum) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    napi_status st = twn_summary_value(env, sum, &out);
    tw_summary_free(sum);
    TW_NAPI_CALL(env, st);
    return out;
}

/* wantEvents(obj, bool): whether JS gets the stream's events (a relay with no listener needs
 * only its bytes and, at the end, the terminal event). */
static napi_value js_want_events(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_stream *ns = stream_get(env, argv[0]);
    if (!ns) return NULL;
    bool want = true;
    TW_NAPI_CALL(env, napi_get_value_bool(env, argv[1], &want));
    ns->want_events = want;
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

/* stats() -> engine counters */
static napi_value js_stats(napi_env env, napi_callback_info info)
{
    (void)info;
    napi_value out;
    twn_env *E = env_get(env);
    if (!E) return NULL;
    tw_engine_stats st;
    memset(&st, 0, sizeof st);
    if (E->engine) tw_engine_get_stats(E->engine, &st);
    TW_NAPI_CALL(env, napi_create_object(env, &out));
    TW_NAPI_CALL(env, set_num(env, out, "activeStreams", (double)st.active_streams));
    TW_NAPI_CALL(env, set_num(env, out, "pausedStreams", (double)st.paused_streams));
    TW_NAPI_CALL(env, set_num(env, out, "connectionsReused", (double)st.connections_reused));
    TW_NAPI_CALL(env, set_num(env, out, "streamsStarted", (double)st.streams_started));
    TW_NAPI_CALL(env, set_num(env, out, "streamsFinished", (double)st.streams_finished));
    TW_NAPI_CALL(env, set_num(env, out, "bindingActive", (double)E->active));
    return out;
}

/* prewarm(url) */
/* authFromName(name) -> the tw_auth value, or -1 for an unknown name (tw_auth_from_name, which
 * also knows the 'azure' alias). */
static napi_value js_auth_from_name(napi_env env, napi_callback_info info)
{
    size_t argc = 1, len = 0;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: auth name required");
        return NULL;
    }
    char *name = twn_get_string(env, argv[0], &len);
    if (!name) return NULL;
    int a = tw_auth_from_name(name, len);
    free(name);
    TW_NAPI_CALL(env, napi_create_int32(env, a, &out));
    return out;
}

static napi_value js_prewarm(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_env *E = env_get(env);
    if (!E) return NULL;
    tw_engine *eng = engine_get(env, E);
    if (!eng) return NULL;
    char *url = twn_get_string(env, argv[0], NULL);
    if (!url) return NULL;
    tw_error err;
    memset(&err, 0, sizeof err);
    tw_code rc = tw_engine_prewarm(eng, url, &err);
    free(url);
    if (rc != TW_OK) {
        twn_throw_code(env, "prewarm", rc, &err);
        return NULL;
    }
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

/* cancelId(id) -> number: tw_engine_cancel_id on this thread's engine. */
static napi_value js_cancel_id(napi_env env, napi_callback_info info)
{
    size_t argc = 1, len = 0;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_env *E = env_get(env);
    if (!E) return NULL;
    tw_engine *eng = engine_get(env, E);
    if (!eng) return NULL;
    char *id = twn_get_string(env, argv[0], &len);
    if (!id) return NULL;
    size_t n = tw_engine_cancel_id(eng, id, len);
    free(id);
    TW_NAPI_CALL(env, napi_create_double(env, (double)n, &out));
    return out;
}

/* ---- encoders ------------------------------------------------------------------------------ */

static void enc_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    enc_unref(data);
}

static twn_enc *enc_get(napi_env env, napi_value v)
{
    void *d = NULL;
    if (napi_get_value_external(env, v, &d) != napi_ok || !d) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: not an encoder handle");
        return NULL;
    }
    return d;
}

twn_tee_link **twn_enc_tee_slot(napi_env env, napi_value handle, tw_encoder **enc)
{
    twn_enc *x = enc_get(env, handle);
    if (!x) return NULL;
    *enc = x->e;
    return &x->tee;
}

/* A format name argument; 0 with a TypeError pending when it is not one. */
static tw_format get_format(napi_env env, napi_value v)
{
    size_t len = 0;
    char *name = twn_get_string(env, v, &len);
    if (!name) return (tw_format)0;
    tw_format f = tw_format_from_name(name, len);
    free(name);
    if (!f) napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "tokenwire: unknown format");
    return f;
}

/* ---- merge framers ------------------------------------------------------------------------ */

static void frm_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    frm_unref(data);
}

/* framerNew(nSources) -> handle: the framing of one merge (tw_framer_new); each source's
 * stream pushes its events through it in deliver() (setOutput). */
static napi_value js_framer_new(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    uint32_t n = 0;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1 || napi_get_value_uint32(env, argv[0], &n) != napi_ok || n == 0) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "tokenwire: framerNew needs sources");
        return NULL;
    }
    twn_frm *x = calloc(1, sizeof *x);
    if (x) x->f = tw_framer_new(n);
    if (!x || !x->f) {
        free(x);
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    x->refs = 1;
    if (napi_create_external(env, x, frm_finalize, NULL, &out) != napi_ok) {
        frm_unref(x);
        twn_throw_last(env);
        return NULL;
    }
    return out;
}

/* encoderNew(format|null, id|undefined, model|undefined, dialect|undefined,
 *            eventIdPrefix|undefined, firstEventSeq|undefined, templateSpec|undefined,
 *            messages|undefined, phases|undefined) -> handle
 * messages true: one message per event (tw_encoder_opts.messages, for WebSocket relays); the
 * encoder's output then reaches JS as arrays of strings instead of Buffers.
 * phases true: a relay of several sources plus app events (tw_encoder_opts.phases).
 * With format null the encoder is a template compiled from templateSpec (JSON text,
 * tw_encoder_new_template); a bad spec throws a TypeError carrying the core's message. */
static napi_value js_encoder_new(napi_env env, napi_callback_info info)
{
    size_t argc = 9;
    napi_value argv[9], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    char *id = NULL, *model = NULL;
    napi_valuetype t;
    bool messages = false, phases = false;
    if (argc >= 8 && napi_typeof(env, argv[7], &t) == napi_ok && t == napi_boolean)
        napi_get_value_bool(env, argv[7], &messages);
    if (argc >= 9 && napi_typeof(env, argv[8], &t) == napi_ok && t == napi_boolean)
        napi_get_value_bool(env, argv[8], &phases);
    tw_format f = (tw_format)0;
    char *spec = NULL;
    size_t spec_len = 0;
    if (argc >= 1 && napi_typeof(env, argv[0], &t) == napi_ok && t == napi_null) {
        if (argc < 7 || napi_typeof(env, argv[6], &t) != napi_ok || t != napi_string) {
            napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: a template spec must be a string");
            return NULL;
        }
        if (!(spec = twn_get_string(env, argv[6], &spec_len))) return NULL;
    } else {
        f = get_format(env, argv[0]);
        if (!f) return NULL;
    }
    /* 4th argument: the source's dialect (string), or undefined for a mix (merge). */
    tw_dialect dl = (tw_dialect)0;
    if (argc >= 4 && napi_typeof(env, argv[3], &t) == napi_ok && t == napi_string) {
        size_t len = 0;
        char *name = twn_get_string(env, argv[3], &len);
        if (!name) {
            free(spec);
            return NULL;
        }
        dl = tw_dialect_from_name(name, len);
        free(name);
        if (!dl) {
            free(spec);
            napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "tokenwire: unknown dialect");
            return NULL;
        }
    }
    if (argc >= 2 && napi_typeof(env, argv[1], &t) == napi_ok && t == napi_string &&
        !(id = twn_get_string(env, argv[1], NULL))) {
        free(spec);
        return NULL;
    }
    if (argc >= 3 && napi_typeof(env, argv[2], &t) == napi_ok && t == napi_string &&
        !(model = twn_get_string(env, argv[2], NULL))) {
        free(spec);
        free(id);
        return NULL;
    }
    /* Event ids (tw_encoder_opts.event_id_prefix, first_event_seq): "<prefix>:<seq>". */
    char *prefix = NULL;
    size_t prefix_len = 0;
    double first = 0;
    if (argc >= 5 && napi_typeof(env, argv[4], &t) == napi_ok && t == napi_string &&
        !(prefix = twn_get_string(env, argv[4], &prefix_len))) {
        free(spec);
        free(id);
        free(model);
        return NULL;
    }
    /* XXX: tw_encoder_new copies the prefix as is; one holding CR or LF would end the id line
     * and inject SSE fields, so it is refused here until the core checks it. */
    if (prefix && (prefix_len == 0 || strlen(prefix) != prefix_len || strpbrk(prefix, "\r\n"))) {
        free(spec);
        free(id);
        free(model);
        free(prefix);
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                              "tokenwire: an event id prefix must be non-empty, without CR, LF or NUL");
        return NULL;
    }
    if (argc >= 6 && napi_typeof(env, argv[5], &t) == napi_ok && t == napi_number)
        napi_get_value_double(env, argv[5], &first);
    tw_encoder_opts o;
    tw_encoder_opts_init(&o);
    o.id = id;
    o.model = model;
    o.index_is_choice = tw_dialect_indexes_choices(dl);
    o.event_id_prefix = prefix;
    o.first_event_seq = first > 0 ? (uint64_t)first : 0;
    o.messages = messages;
    o.phases = phases;
    tw_error err;
    memset(&err, 0, sizeof err);
    twn_enc *x = calloc(1, sizeof *x);
    if (x) x->e = spec ? tw_encoder_new_template(spec, spec_len, &o, &err) : tw_encoder_new(f, &o, &err);
    int is_template = spec != NULL;
    free(spec);
    free(id);
    free(model);
    free(prefix);
    if (!x || !x->e) {
        free(x);
        if (is_template && err.code == TW_ERR_INVALID_ARG) {
            char msg[192];
            snprintf(msg, sizeof msg, "tokenwire: %s", err.msg);
            napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
            return NULL;
        }
        twn_throw_code(env, "encoder", err.code ? err.code : TW_ERR_NOMEM, &err);
        return NULL;
    }
    x->refs = 1;
    x->messages = messages;
    if (napi_create_external(env, x, enc_finalize, NULL, &out) != napi_ok) {
        enc_unref(x);
        twn_throw_last(env);
        return NULL;
    }
    return out;
}

/* What an encoder call wrote into b: a Buffer, or in messages mode an array of strings. */
static napi_value buf_result(napi_env env, twn_enc *x, tw_buf *b)
{
    napi_value out;
    if (x->messages) {
        TW_NAPI_CALL(env, messages_array(env, x, b, &out));
        return out;
    }
    void *data = NULL;
    TW_NAPI_CALL(env, napi_create_buffer_copy(env, b->len, b->len ? b->data : "", &data, &out));
    return out;
}

/* encoderFinish / encoderHeartbeat(handle) -> Buffer: fn's bytes for the encoder. */
static napi_value encoder_bytes(napi_env env, napi_callback_info info,
                                tw_code (*fn)(tw_encoder *, tw_buf *))
{
    size_t argc = 1;
    napi_value argv[1];
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_enc *x = enc_get(env, argv[0]);
    if (!x) return NULL;
    tw_buf b;
    tw_buf_init(&b);
    tw_code rc = fn(x->e, &b);
    /* A merge's shared encoder is finished by JS: its closing bytes end the tee'd stream. */
    if (rc == TW_OK && x->tee && fn == tw_encoder_finish)
        twn_tee_on_bytes(x->tee, x->e, b.data, b.len, 1, NULL);
    napi_value out = rc == TW_OK ? buf_result(env, x, &b) : NULL;
    if (rc != TW_OK) twn_throw_code(env, "encoder", rc, NULL);
    tw_buf_free(&b);
    return out;
}

/* encoderFinish(handle) -> Buffer (closing bytes, once) */
static napi_value js_encoder_finish(napi_env env, napi_callback_info info)
{
    return encoder_bytes(env, info, tw_encoder_finish);
}

/* encoderNextEventSeq(handle) -> number: the seq the next event id carries. */
static napi_value js_encoder_next_event_seq(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_enc *x = enc_get(env, argv[0]);
    if (!x) return NULL;
    TW_NAPI_CALL(env, napi_create_double(env, (double)tw_encoder_next_event_seq(x->e), &out));
    return out;
}

/* encoderHeartbeat(handle) -> Buffer */
static napi_value js_encoder_heartbeat(napi_env env, napi_callback_info info)
{
    return encoder_bytes(env, info, tw_encoder_heartbeat);
}

/* encoderEncode(handle, event | event[]) -> Buffer | string[] (messages mode): the bytes of
 * the events, in order, in one call. Events have the JS shape (see names.c). An event that is
 * not one throws before anything of the batch is returned (the ones before it were encoded:
 * the encoder's state moved on, as for a failed tw_encoder_encode). */
static napi_value js_encoder_encode(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], item;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_enc *x = enc_get(env, argv[0]);
    if (!x) return NULL;
    bool is_array = false;
    uint32_t n = 1;
    TW_NAPI_CALL(env, napi_is_array(env, argv[1], &is_array));
    if (is_array) TW_NAPI_CALL(env, napi_get_array_length(env, argv[1], &n));
    tw_buf arena, b;
    tw_buf_init(&arena);
    tw_buf_init(&b);
    tw_code rc = TW_OK;
    napi_value out = NULL;
    for (uint32_t i = 0; i < n && rc == TW_OK; i++) {
        tw_event ev;
        item = argv[1];
        if (is_array && napi_get_element(env, argv[1], i, &item) != napi_ok) {
            twn_throw_last(env);
            goto done;
        }
        arena.len = 0;
        if (twn_event_from_js(env, item, &ev, &arena) != 0) goto done;
        rc = tw_encoder_encode(x->e, &ev, &b);
    }
    if (rc == TW_OK) out = buf_result(env, x, &b);
    else twn_throw_code(env, "encoder", rc, NULL);
done:
    if (!out) tw_encoder_messages_clear(x->e);
    tw_buf_free(&arena);
    tw_buf_free(&b);
    return out;
}

/* ---- app events and phases (tw_encoder_send / _progress / _close) ------------------------- */

/* The error of a failed app event call: a bad name or payload is the caller's (TypeError,
 * ERR_INVALID_ARG_VALUE), a closed relay or no memory an ERR_TOKENWIRE Error; both carry the
 * core's message. */
static void app_throw(napi_env env, const char *what, tw_code rc, const tw_error *err)
{
    if (rc == TW_ERR_JSON || rc == TW_ERR_INVALID_ARG) {
        char msg[320];
        snprintf(msg, sizeof msg, "tokenwire: %s: %s", what,
                 err->msg[0] ? err->msg : tw_strerror(rc));
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
        return;
    }
    twn_throw_code(env, what, rc, err);
}

/* An optional string argument: *s NULL for null / undefined; 0 on success, -1 with a
 * TypeError pending for anything else. The caller frees *s. */
static int opt_string(napi_env env, napi_value v, char **s, size_t *len)
{
    napi_valuetype t = napi_undefined;
    *s = NULL;
    *len = 0;
    if (napi_typeof(env, v, &t) != napi_ok) return -1;
    if (t == napi_null || t == napi_undefined) return 0;
    if (t != napi_string) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: expected a string");
        return -1;
    }
    return (*s = twn_get_string(env, v, len)) ? 0 : -1;
}

/* encoderSend(handle, name, jsonText) / encoderClose(handle, name|null, jsonText|null)
 * -> Buffer | string[] (messages mode). close with a null name writes the format's own end. */
static napi_value app_event(napi_env env, napi_callback_info info, int close)
{
    size_t argc = 3;
    napi_value argv[3];
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    const char *what = close ? "close" : "send";
    if (argc < (close ? 1u : 3u)) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: missing arguments");
        return NULL;
    }
    twn_enc *x = enc_get(env, argv[0]);
    if (!x) return NULL;
    char *name = NULL, *json = NULL;
    size_t name_len = 0, json_len = 0;
    napi_value out = NULL;
    if (argc >= 2 && opt_string(env, argv[1], &name, &name_len) != 0) return NULL;
    if (argc >= 3 && opt_string(env, argv[2], &json, &json_len) != 0) goto done;
    if (!close && (!name || !json)) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                              "tokenwire: send needs a name and a JSON text");
        goto done;
    }
    if (close && name && !json) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                              "tokenwire: a final event needs a JSON text");
        goto done;
    }
    tw_buf b;
    tw_buf_init(&b);
    tw_error err;
    memset(&err, 0, sizeof err);
    tw_code rc = close ? tw_encoder_close(x->e, name, name_len, json, json_len, &b, &err)
                       : tw_encoder_send(x->e, name, name_len, json, json_len, &b, &err);
    if (rc == TW_OK) out = buf_result(env, x, &b);
    else app_throw(env, what, rc, &err);
    tw_buf_free(&b);
done:
    free(name);
    free(json);
    return out;
}

static napi_value js_encoder_send(napi_env env, napi_callback_info info)
{
    return app_event(env, info, 0);
}

static napi_value js_encoder_close(napi_env env, napi_callback_info info)
{
    return app_event(env, info, 1);
}

/* encoderProgress(handle, value, status|null|undefined) -> Buffer | string[]: the app event
 * "progress" {"progress": value, "status": status}; value outside [0, 1] is a TypeError. */
static napi_value js_encoder_progress(napi_env env, napi_callback_info info)
{
    size_t argc = 3;
    napi_value argv[3];
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 2) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: missing arguments");
        return NULL;
    }
    twn_enc *x = enc_get(env, argv[0]);
    if (!x) return NULL;
    double value = 0;
    if (napi_get_value_double(env, argv[1], &value) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: progress must be a number");
        return NULL;
    }
    char *status = NULL;
    size_t status_len = 0;
    if (argc >= 3 && opt_string(env, argv[2], &status, &status_len) != 0) return NULL;
    tw_buf b;
    tw_buf_init(&b);
    tw_error err;
    memset(&err, 0, sizeof err);
    napi_value out = NULL;
    tw_code rc = tw_encoder_progress(x->e, value, status, status_len, &b, &err);
    if (rc == TW_OK) out = buf_result(env, x, &b);
    else app_throw(env, "progress", rc, &err);
    tw_buf_free(&b);
    free(status);
    return out;
}

/* encoderSetConstant(handle, name, jsonText): a template constant's value for this encoder
 * (tw_encoder_set_constant); a TypeError with the core's message when the spec does not
 * declare it or the text is not one JSON value. */
static napi_value js_encoder_set_constant(napi_env env, napi_callback_info info)
{
    size_t argc = 3;
    napi_value argv[3], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 3) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: encoderSetConstant needs 3 arguments");
        return NULL;
    }
    twn_enc *x = enc_get(env, argv[0]);
    if (!x) return NULL;
    size_t name_len = 0, json_len = 0;
    char *name = twn_get_string(env, argv[1], &name_len);
    if (!name) return NULL;
    char *json = twn_get_string(env, argv[2], &json_len);
    if (!json) {
        free(name);
        return NULL;
    }
    tw_error err;
    memset(&err, 0, sizeof err);
    tw_code rc = tw_encoder_set_constant(x->e, name, name_len, json, json_len, &err);
    free(name);
    free(json);
    if (rc == TW_ERR_INVALID_ARG) {
        char msg[192];
        snprintf(msg, sizeof msg, "tokenwire: %s", err.msg[0] ? err.msg : "invalid constant");
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
        return NULL;
    }
    if (rc != TW_OK) {
        twn_throw_code(env, "encoder", rc, &err);
        return NULL;
    }
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

/* formatHeaders(format) -> [name, value, name, value, ...] (tw_format_headers) */
static napi_value js_format_headers(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    tw_format f = get_format(env, argv[0]);
    if (!f) return NULL;
    TW_NAPI_CALL(env, napi_create_array(env, &out));
    uint32_t i = 0;
    for (const char *const *h = tw_format_headers(f); *h; h++, i++) {
        napi_value s;
        TW_NAPI_CALL(env, napi_create_string_utf8(env, *h, NAPI_AUTO_LENGTH, &s));
        TW_NAPI_CALL(env, napi_set_element(env, out, i, s));
    }
    return out;
}

/* encoderHeaders(handle) -> [name, value, ...] (tw_encoder_headers: a template's follow its framing) */
static napi_value js_encoder_headers(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_enc *x = enc_get(env, argv[0]);
    if (!x) return NULL;
    TW_NAPI_CALL(env, napi_create_array(env, &out));
    uint32_t i = 0;
    for (const char *const *h = tw_encoder_headers(x->e); *h; h++, i++) {
        napi_value s;
        TW_NAPI_CALL(env, napi_create_string_utf8(env, *h, NAPI_AUTO_LENGTH, &s));
        TW_NAPI_CALL(env, napi_set_element(env, out, i, s));
    }
    return out;
}

/* ---- module -------------------------------------------------------------------------------- */

static napi_value module_init(napi_env env, napi_value exports)
{
    twn_env *E = calloc(1, sizeof *E);
    if (!E) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    E->env = env;
    twn_packer_init(&E->pk);
    twn_packer_init(&E->fpk);
    tw_buf_init(&E->bytes);
    if (napi_get_uv_event_loop(env, &E->loop) != napi_ok ||
        uv_async_init(E->loop, &E->async, on_async) != 0) {
        free(E);
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: cannot attach to the event loop");
        return NULL;
    }
    E->async.data = E;
    uv_unref((uv_handle_t *)&E->async);
    uv_timer_init(E->loop, &E->timer);
    E->timer.data = E;
    uv_unref((uv_handle_t *)&E->timer);
    E->open_handles = 2;
    E->coalesce_ms = 1;

    napi_value resource, name;
    TW_NAPI_CALL(env, napi_create_object(env, &resource));
    TW_NAPI_CALL(env, napi_create_reference(env, resource, 1, &E->resource));
    TW_NAPI_CALL(env, napi_create_string_utf8(env, "tokenwire:stream", NAPI_AUTO_LENGTH, &name));
    TW_NAPI_CALL(env, napi_async_init(env, resource, name, &E->actx));
    TW_NAPI_CALL(env, napi_set_instance_data(env, E, NULL, NULL));
    TW_NAPI_CALL(env, napi_add_async_cleanup_hook(env, env_cleanup, E, &E->cleanup));

    napi_property_descriptor props[] = {
        {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
        {"configure", NULL, js_configure, NULL, NULL, NULL, napi_default, NULL},
        {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
        {"setFlow", NULL, js_set_flow, NULL, NULL, NULL, napi_default, NULL},
        {"setOutput", NULL, js_set_output, NULL, NULL, NULL, napi_default, NULL},
        {"cancel", NULL, js_cancel, NULL, NULL, NULL, napi_default, NULL},
        {"metrics", NULL, js_metrics, NULL, NULL, NULL, napi_default, NULL},
        {"summary", NULL, js_summary, NULL, NULL, NULL, napi_default, NULL},
        {"wantEvents", NULL, js_want_events, NULL, NULL, NULL, napi_default, NULL},
        {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
        {"prewarm", NULL, js_prewarm, NULL, NULL, NULL, napi_default, NULL},
        {"cancelId", NULL, js_cancel_id, NULL, NULL, NULL, napi_default, NULL},
        {"encoderNextEventSeq", NULL, js_encoder_next_event_seq, NULL, NULL, NULL, napi_default, NULL},
        {"framerNew", NULL, js_framer_new, NULL, NULL, NULL, napi_default, NULL},
        {"authFromName", NULL, js_auth_from_name, NULL, NULL, NULL, napi_default, NULL},
        {"encoderNew", NULL, js_encoder_new, NULL, NULL, NULL, napi_default, NULL},
        {"encoderFinish", NULL, js_encoder_finish, NULL, NULL, NULL, napi_default, NULL},
        {"encoderHeartbeat", NULL, js_encoder_heartbeat, NULL, NULL, NULL, napi_default, NULL},
        {"encoderEncode", NULL, js_encoder_encode, NULL, NULL, NULL, napi_default, NULL},
        {"encoderSend", NULL, js_encoder_send, NULL, NULL, NULL, napi_default, NULL},
        {"encoderProgress", NULL, js_encoder_progress, NULL, NULL, NULL, napi_default, NULL},
        {"encoderClose", NULL, js_encoder_close, NULL, NULL, NULL, napi_default, NULL},
        {"encoderSetConstant", NULL, js_encoder_set_constant, NULL, NULL, NULL, napi_default, NULL},
        {"cancelUpstream", NULL, js_cancel_upstream, NULL, NULL, NULL, napi_default, NULL},
        {"formatHeaders", NULL, js_format_headers, NULL, NULL, NULL, napi_default, NULL},
        {"encoderHeaders", NULL, js_encoder_headers, NULL, NULL, NULL, napi_default, NULL},
    };
    TW_NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
    TW_NAPI_CALL(env, twn_init_parsers(env, exports));
    TW_NAPI_CALL(env, twn_init_names(env, exports));
    TW_NAPI_CALL(env, twn_init_tee(env, exports));
    napi_value ver;
    TW_NAPI_CALL(env, napi_create_string_utf8(env, tw_version(), NAPI_AUTO_LENGTH, &ver));
    TW_NAPI_CALL(env, napi_set_named_property(env, exports, "version", ver));
    return exports;
}

NAPI_MODULE_INIT()
{
    return module_init(env, exports);
}
