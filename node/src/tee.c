/*
 * tee.c - the Redis Streams tee (tw_tee) and resume reader (tw_resume) for Node: a relay's
 * encoder linked to a tee appends each encoded batch to Redis from C (binding.c's deliver()
 * calls twn_tee_on_bytes), so no JS runs per token. The tee's notices fd and each reader's fd
 * are watched with uv_poll on the JS thread; JS gets notices and chunks through callbacks.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "twn.h"

/* ---- the tee ------------------------------------------------------------------------------ */

typedef struct twn_tee {
    tw_tee *t;           /* NULL once closed */
    pid_t pid;           /* a fork()ed child (not Node's way, but cheap to guard) leaves it */
    napi_env env;
    uv_poll_t poll;
    int polling;         /* poll initialised (closed with the tee) */
    int refs;            /* the JS handle + each encoder link; JS thread only */
    napi_ref cb;         /* function(notices) */
    napi_async_context actx;
    tw_redis_opts redis; /* strings owned below, for readers */
    char *host, *unix_path, *username, *password, *prefix;
} twn_tee;

struct twn_tee_link {
    twn_tee *tee;
    char id[TW_TEE_MAX_ID + 1];
    uint64_t seq; /* the encoder's next seq at the last append */
    int sse;      /* SSE blocks, else NDJSON lines */
    int done;     /* the end was recorded */
    uint32_t *ends;
    size_t cap;
};

static void tee_free_mem(twn_tee *x)
{
    free(x->host);
    free(x->unix_path);
    free(x->username);
    free(x->password);
    free(x->prefix);
    free(x);
}

static void poll_closed(uv_handle_t *h)
{
    twn_tee *x = h->data;
    if (x->refs == 0) tee_free_mem(x);
    else x->polling = 0;
}

/* Stops the writer (one last attempt, bounded by the command timeout) and the poll. */
static void tee_close(twn_tee *x)
{
    if (!x->t) return;
    if (x->pid == getpid()) tw_tee_free(x->t);
    x->t = NULL;
    if (x->cb) {
        napi_delete_reference(x->env, x->cb);
        x->cb = NULL;
    }
    if (x->actx) {
        napi_async_destroy(x->env, x->actx);
        x->actx = NULL;
    }
    if (x->polling) {
        x->polling = 2; /* closing */
        x->refs++;
        uv_close((uv_handle_t *)&x->poll, poll_closed);
        x->refs--;
    }
}

static void tee_unref(twn_tee *x)
{
    if (--x->refs > 0) return;
    tee_close(x);
    if (x->polling == 0) tee_free_mem(x); /* else poll_closed frees */
}

static void tee_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    tee_unref(data);
}

static twn_tee *tee_get(napi_env env, napi_value v, int open)
{
    void *d = NULL;
    if (napi_get_value_external(env, v, &d) != napi_ok || !d) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: not a tee handle");
        return NULL;
    }
    twn_tee *x = d;
    if (open && !x->t) {
        napi_throw_error(env, "ERR_TOKENWIRE_CLOSED", "tokenwire: the tee is closed");
        return NULL;
    }
    return x;
}

/* Optional properties of an options object. */
static int opt_int(napi_env env, napi_value o, const char *name, int *out)
{
    napi_value v;
    napi_valuetype t;
    if (napi_get_named_property(env, o, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok)
        return -1;
    if (t == napi_undefined) return 0;
    double d;
    if (t != napi_number || napi_get_value_double(env, v, &d) != napi_ok || d < 0 || d > 2e9) {
        char msg[96];
        snprintf(msg, sizeof msg, "tokenwire: %s must be a number >= 0", name);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    *out = (int)d;
    return 0;
}

static int opt_str(napi_env env, napi_value o, const char *name, char **out)
{
    napi_value v;
    napi_valuetype t;
    if (napi_get_named_property(env, o, name, &v) != napi_ok || napi_typeof(env, v, &t) != napi_ok)
        return -1;
    if (t == napi_undefined || t == napi_null) return 0;
    size_t len;
    *out = twn_get_string(env, v, &len);
    return *out ? 0 : -1;
}

/* teeNew({host, port, unixPath, username, password, db, keyPrefix, require, maxlen, ttl,
 *         liveTtl, connectTimeoutMs, commandTimeoutMs, lingerMs, stopPollMs}) -> handle */
static napi_value js_tee_new(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value o, out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, &o, NULL, NULL));
    twn_tee *x = calloc(1, sizeof *x);
    if (!x) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    tw_tee_opts to;
    tw_tee_opts_init(&to);
    int port = 6379, db = 0, req = 0, maxlen = 10000, ttl = 3600, live = 86400, cto = 1000,
        cmd = 2000, linger = 5, poll_ms = 200;
    if (opt_str(env, o, "host", &x->host) || opt_str(env, o, "unixPath", &x->unix_path) ||
        opt_str(env, o, "username", &x->username) || opt_str(env, o, "password", &x->password) ||
        opt_str(env, o, "keyPrefix", &x->prefix) || opt_int(env, o, "port", &port) ||
        opt_int(env, o, "db", &db) || opt_int(env, o, "require", &req) ||
        opt_int(env, o, "maxlen", &maxlen) || opt_int(env, o, "ttl", &ttl) ||
        opt_int(env, o, "liveTtl", &live) || opt_int(env, o, "connectTimeoutMs", &cto) ||
        opt_int(env, o, "commandTimeoutMs", &cmd) || opt_int(env, o, "lingerMs", &linger) ||
        opt_int(env, o, "stopPollMs", &poll_ms)) {
        tee_free_mem(x);
        return NULL;
    }
    to.redis.host = x->host ? x->host : "127.0.0.1";
    to.redis.unix_path = x->unix_path;
    to.redis.username = x->username;
    to.redis.password = x->password;
    to.redis.key_prefix = x->prefix ? x->prefix : "tw:";
    to.redis.port = port;
    to.redis.db = db;
    to.redis.connect_timeout_ms = cto ? cto : 1000;
    to.redis.command_timeout_ms = cmd ? cmd : 2000;
    to.require_redis = req;
    to.maxlen = maxlen;
    to.ttl_after_end_s = ttl ? ttl : 3600;
    to.live_ttl_s = live ? live : 86400;
    to.linger_ms = linger;
    to.stop_poll_ms = poll_ms ? poll_ms : 200;
    x->redis = to.redis;
    x->env = env;
    x->pid = getpid();
    tw_error err = {0};
    if (!(x->t = tw_tee_new(&to, &err))) {
        tee_free_mem(x);
        twn_throw_code(env, "tee", err.code ? err.code : TW_ERR_NOMEM, &err);
        return NULL;
    }
    x->refs = 1;
    if (napi_create_external(env, x, tee_finalize, NULL, &out) != napi_ok) {
        tee_unref(x);
        twn_throw_last(env);
        return NULL;
    }
    return out;
}

static napi_value str_or_null(napi_env env, const char *s)
{
    napi_value v;
    if (!s || !s[0]) napi_get_null(env, &v);
    else napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
    return v;
}

/* Calls fn (a reference) with argc args in a callback scope; an exception is reported as
 * uncaught (like any event-loop callback's). */
static void call_js(napi_env env, napi_ref fn_ref, napi_async_context actx, size_t argc,
                    napi_value *argv)
{
    napi_value fn, recv, res;
    if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || !fn) return;
    napi_get_global(env, &recv); /* napi_make_callback needs an object */
    if (napi_make_callback(env, actx, recv, fn, argc, argv, &res) == napi_pending_exception) {
        napi_value exc;
        if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
}

static void on_tee_fd(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    twn_tee *x = h->data;
    if (!x->t || !x->cb) return;
    napi_env env = x->env;
    napi_handle_scope hs;
    if (napi_open_handle_scope(env, &hs) != napi_ok) return;
    tw_tee_notice buf[32];
    size_t n, k = 0;
    napi_value arr;
    napi_create_array(env, &arr);
    do {
        n = tw_tee_take_notices(x->t, buf, 32);
        for (size_t i = 0; i < n; i++) {
            napi_value e, v[3];
            napi_create_array_with_length(env, 3, &e);
            napi_create_string_utf8(env, tw_tee_notice_name(buf[i].kind), NAPI_AUTO_LENGTH, &v[0]);
            v[1] = str_or_null(env, buf[i].stream_id);
            napi_create_string_utf8(env, buf[i].error.msg, NAPI_AUTO_LENGTH, &v[2]);
            for (uint32_t j = 0; j < 3; j++) napi_set_element(env, e, j, v[j]);
            napi_set_element(env, arr, (uint32_t)k++, e);
        }
    } while (n == 32);
    if (k) call_js(env, x->cb, x->actx, 1, &arr);
    napi_close_handle_scope(env, hs);
}

/* teeWatch(handle, fn(notices)): notices ([kind, streamId|null, message]) as they come; the
 * poll does not keep the process alive. */
static napi_value js_tee_watch(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], res, name;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_tee *x = tee_get(env, argv[0], 1);
    if (!x) return NULL;
    if (x->polling) {
        napi_throw_error(env, "ERR_TOKENWIRE_BUSY", "tokenwire: the tee is already watched");
        return NULL;
    }
    uv_loop_t *loop;
    TW_NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
    TW_NAPI_CALL(env, napi_create_reference(env, argv[1], 1, &x->cb));
    TW_NAPI_CALL(env, napi_create_object(env, &res));
    TW_NAPI_CALL(env, napi_create_string_utf8(env, "tokenwire:tee", NAPI_AUTO_LENGTH, &name));
    TW_NAPI_CALL(env, napi_async_init(env, res, name, &x->actx));
    if (uv_poll_init(loop, &x->poll, tw_tee_fd(x->t)) != 0) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: cannot poll the tee's fd");
        return NULL;
    }
    x->poll.data = x;
    x->polling = 1;
    uv_poll_start(&x->poll, UV_READABLE, on_tee_fd);
    uv_unref((uv_handle_t *)&x->poll);
    return NULL;
}

static napi_value js_tee_close(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value h;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, &h, NULL, NULL));
    twn_tee *x = tee_get(env, h, 0);
    if (x) tee_close(x);
    return NULL;
}

/* A stream id argument copied into buf (1..TW_TEE_MAX_ID bytes); -1 with a TypeError. */
static int id_arg(napi_env env, napi_value v, char *buf)
{
    size_t len = 0;
    if (napi_get_value_string_utf8(env, v, buf, TW_TEE_MAX_ID + 1, &len) != napi_ok || len == 0 ||
        len >= TW_TEE_MAX_ID || strlen(buf) != len) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                              "tokenwire: a stream id must be a string of 1..199 bytes");
        return -1;
    }
    return 0;
}

/* teeRequestStop(h, id) / teeWatchReaders(h, id, ms) -> bool / teeAvailable(h) -> [ok, why] */
static napi_value js_tee_request_stop(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2];
    char id[TW_TEE_MAX_ID + 1];
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_tee *x = tee_get(env, argv[0], 1);
    if (!x || id_arg(env, argv[1], id) < 0) return NULL;
    tw_code c = tw_tee_request_stop(x->t, id);
    if (c != TW_OK) twn_throw_code(env, "tee", c, NULL);
    return NULL;
}

static napi_value js_tee_watch_readers(napi_env env, napi_callback_info info)
{
    size_t argc = 3;
    napi_value argv[3], out;
    char id[TW_TEE_MAX_ID + 1];
    int32_t ms = 0;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_tee *x = tee_get(env, argv[0], 1);
    if (!x || id_arg(env, argv[1], id) < 0) return NULL;
    TW_NAPI_CALL(env, napi_get_value_int32(env, argv[2], &ms));
    TW_NAPI_CALL(env, napi_get_boolean(env, tw_tee_watch_readers(x->t, id, ms < 0 ? 0 : ms) ==
                                                TW_OK, &out));
    return out;
}

static napi_value js_tee_available(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value h, out, v;
    tw_error err = {0};
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, &h, NULL, NULL));
    twn_tee *x = tee_get(env, h, 1);
    if (!x) return NULL;
    int ok = tw_tee_available(x->t, &err);
    TW_NAPI_CALL(env, napi_create_array_with_length(env, 2, &out));
    TW_NAPI_CALL(env, napi_get_boolean(env, ok, &v));
    TW_NAPI_CALL(env, napi_set_element(env, out, 0, v));
    TW_NAPI_CALL(env, napi_create_string_utf8(env, ok ? "" : err.msg, NAPI_AUTO_LENGTH, &v));
    TW_NAPI_CALL(env, napi_set_element(env, out, 1, v));
    return out;
}

/* teeFlush(h, ms) -> bool: everything queued before was handled (blocks: shutdown, tests). */
static napi_value js_tee_flush(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], out;
    int32_t ms = 0;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_tee *x = tee_get(env, argv[0], 1);
    if (!x) return NULL;
    TW_NAPI_CALL(env, napi_get_value_int32(env, argv[1], &ms));
    TW_NAPI_CALL(env, napi_get_boolean(env, tw_tee_flush(x->t, ms) == TW_OK, &out));
    return out;
}

static void set_num(napi_env env, napi_value o, const char *k, double d)
{
    napi_value v;
    napi_create_double(env, d, &v);
    napi_set_named_property(env, o, k, v);
}

static napi_value js_tee_stats(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value h, o;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, &h, NULL, NULL));
    twn_tee *x = tee_get(env, h, 1);
    if (!x) return NULL;
    tw_tee_stats st;
    tw_tee_get_stats(x->t, &st);
    TW_NAPI_CALL(env, napi_create_object(env, &o));
    set_num(env, o, "appends", (double)st.appends);
    set_num(env, o, "entriesWritten", (double)st.entries_written);
    set_num(env, o, "batches", (double)st.batches);
    set_num(env, o, "streamsDropped", (double)st.streams_dropped);
    set_num(env, o, "connects", (double)st.connects);
    set_num(env, o, "queuedBytes", (double)st.queued_bytes);
    set_num(env, o, "activeStreams", (double)st.active_streams);
    return o;
}

/* ---- encoder links ------------------------------------------------------------------------ */

/* teeAttach(tee, encoder, streamId): every batch the encoder writes for a stream is appended
 * to Redis under streamId. The encoder must number its events (SSE or NDJSON). */
static napi_value js_tee_attach(napi_env env, napi_callback_info info)
{
    size_t argc = 3;
    napi_value argv[3];
    char id[TW_TEE_MAX_ID + 1];
    tw_encoder *e = NULL;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_tee *x = tee_get(env, argv[0], 1);
    if (!x) return NULL;
    twn_tee_link **slot = twn_enc_tee_slot(env, argv[1], &e);
    if (!slot || id_arg(env, argv[2], id) < 0) return NULL;
    const char *ct = tw_encoder_headers(e)[1];
    int sse = strstr(ct, "event-stream") != NULL;
    if (*slot || (!sse && !strstr(ct, "ndjson"))) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                              "tokenwire: a tee needs an encoder of its own in an SSE or NDJSON "
                              "format, with event ids");
        return NULL;
    }
    twn_tee_link *l = calloc(1, sizeof *l);
    if (!l) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    l->tee = x;
    x->refs++;
    memcpy(l->id, id, strlen(id) + 1);
    l->seq = tw_encoder_next_event_seq(e);
    l->sse = sse;
    *slot = l;
    return NULL;
}

/* The ends of the n numbered events in data (tw_tee_event_ends), into l->ends grown to hold
 * them. -1 when data does not hold n of them. */
static int find_ends(twn_tee_link *l, const char *data, size_t len, uint64_t n, size_t *len_out)
{
    if (n > l->cap) {
        uint32_t *e = realloc(l->ends, (size_t)n * sizeof *e);
        if (!e) return -1;
        l->ends = e;
        l->cap = (size_t)n;
    }
    return tw_tee_event_ends(l->sse, data, len, n, l->ends, len_out);
}

static void link_end(twn_tee_link *l, const tw_error *e)
{
    if (!l->done && l->tee->t) tw_tee_end(l->tee->t, l->id, e); /* NOT_FOUND: never tee'd */
    l->done = 1;
}

void twn_tee_on_bytes(twn_tee_link *l, tw_encoder *e, const char *data, size_t len, int terminal,
                      const tw_event *last)
{
    uint64_t next = tw_encoder_next_event_seq(e), n = next - l->seq;
    if (!l->done && n && l->tee->t) {
        const uint32_t *ends = NULL;
        if (len > UINT32_MAX) n = 0;
        else if (n > 1) {
            if (find_ends(l, data, len, n, &len) == 0) ends = l->ends;
            else n = 0;
        }
        if (n) {
            /* TW_ERR_CLOSED: not tee'd (Redis down at its start, lost): a notice said so. */
            (void)tw_tee_append(l->tee->t, l->id, data, len, l->seq, (uint32_t)n, ends);
        } else {
            tw_error err = {.code = TW_ERR_STORE};
            snprintf(err.msg, sizeof err.msg, "a relayed batch could not be split into events");
            link_end(l, &err);
        }
    }
    l->seq = next;
    if (terminal && !l->done) {
        tw_error err = {0};
        if (last && last->type == TW_EV_ERROR) {
            err.code = tw_tee_code_of_kind(last->error_kind);
            snprintf(err.msg, sizeof err.msg, "%s: %.*s", tw_error_kind_name(last->error_kind),
                     (int)(last->text.len > 100 ? 100 : last->text.len),
                     last->text.ptr ? last->text.ptr : "");
        }
        link_end(l, &err);
    }
}

void twn_tee_link_free(twn_tee_link *l)
{
    tw_error err = {.code = TW_ERR_CANCELLED};
    snprintf(err.msg, sizeof err.msg, "the relay stopped before the end of the stream");
    link_end(l, &err);
    tee_unref(l->tee);
    free(l->ends);
    free(l);
}

/* teeLinkEnd(encoder[, message]): the relay stopped (cancelled, stopped): readers end with a
 * cancelled error. No-op when the end was recorded or the encoder is not tee'd. */
static napi_value js_tee_link_end(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value h;
    tw_encoder *e;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, &h, NULL, NULL));
    twn_tee_link **slot = twn_enc_tee_slot(env, h, &e);
    if (!slot) return NULL;
    if (*slot) {
        tw_error err = {.code = TW_ERR_CANCELLED};
        snprintf(err.msg, sizeof err.msg, "cancelled: the relay was stopped");
        link_end(*slot, &err);
    }
    return NULL;
}

/* ---- resume readers ----------------------------------------------------------------------- */

typedef struct twn_resume {
    tw_resume *r;
    napi_env env;
    uv_poll_t poll;
    napi_ref cb; /* function(chunk|null, state, message) */
    napi_async_context actx;
    int closing;
    int finalized;
    int found_told; /* fn(null, "found", "") was called */
    pid_t pid;
} twn_resume;

static void resume_poll_closed(uv_handle_t *h)
{
    twn_resume *x = h->data;
    if (x->pid == getpid()) tw_resume_close(x->r);
    x->r = NULL;
    if (x->finalized) free(x);
}

static void resume_stop(twn_resume *x)
{
    if (x->closing) return;
    x->closing = 1;
    if (x->r) tw_resume_cancel(x->r);
    if (x->cb) {
        napi_delete_reference(x->env, x->cb);
        x->cb = NULL;
    }
    if (x->actx) {
        napi_async_destroy(x->env, x->actx);
        x->actx = NULL;
    }
    uv_close((uv_handle_t *)&x->poll, resume_poll_closed);
}

static void resume_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    twn_resume *x = data;
    x->finalized = 1;
    if (!x->closing) resume_stop(x);
    else if (!x->r) free(x); /* its poll already closed */
}

static void on_resume_fd(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    twn_resume *x = h->data;
    if (x->closing || !x->r) return;
    napi_env env = x->env;
    napi_handle_scope hs;
    if (napi_open_handle_scope(env, &hs) != napi_ok) return;
    napi_value argv[3];
    tw_resume_chunk *c = tw_resume_take(x->r);
    if (c) {
        napi_value num;
        napi_create_buffer_copy(env, c->len, c->data, NULL, &argv[0]);
        napi_create_double(env, (double)c->first_seq, &argv[1]);
        napi_create_double(env, (double)c->n_events, &num);
        argv[2] = num;
        tw_resume_chunk_free(c);
        call_js(env, x->cb, x->actx, 3, argv);
    } else {
        tw_error err = {0};
        tw_resume_state s = tw_resume_status(x->r, &err);
        if (s != TW_RESUME_RUNNING) {
            napi_get_null(env, &argv[0]);
            napi_create_string_utf8(env, tw_resume_state_name(s), NAPI_AUTO_LENGTH, &argv[1]);
            napi_create_string_utf8(env, err.msg, NAPI_AUTO_LENGTH, &argv[2]);
            call_js(env, x->cb, x->actx, 3, argv);
            resume_stop(x);
        } else if (!x->found_told && tw_resume_found(x->r)) {
            /* The stream exists and nothing is due yet: the response may start now. */
            x->found_told = 1;
            napi_get_null(env, &argv[0]);
            napi_create_string_utf8(env, "found", NAPI_AUTO_LENGTH, &argv[1]);
            napi_create_string_utf8(env, "", NAPI_AUTO_LENGTH, &argv[2]);
            call_js(env, x->cb, x->actx, 3, argv);
        }
    }
    napi_close_handle_scope(env, hs);
}

/* resumeOpen(tee, streamId, lastSeq (-1: from the start), {blockMs, idleTimeoutMs,
 * notFoundGraceMs, presenceTtlMs}, fn(chunk, firstSeq, nEvents) / fn(null, state, message))
 * -> handle. The poll keeps the process alive until the end or resumeClose. */
static napi_value js_resume_open(napi_env env, napi_callback_info info)
{
    size_t argc = 5;
    napi_value argv[5], out, res, name;
    char id[TW_TEE_MAX_ID + 1];
    double last = -1;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_tee *t = tee_get(env, argv[0], 1);
    if (!t || id_arg(env, argv[1], id) < 0) return NULL;
    TW_NAPI_CALL(env, napi_get_value_double(env, argv[2], &last));
    tw_resume_opts o;
    tw_resume_opts_init(&o);
    o.redis = t->redis;
    if (last < 0) o.from_start = 1;
    else o.last_seq = (uint64_t)last;
    if (opt_int(env, argv[3], "blockMs", &o.block_ms) ||
        opt_int(env, argv[3], "idleTimeoutMs", &o.idle_timeout_ms) ||
        opt_int(env, argv[3], "notFoundGraceMs", &o.not_found_grace_ms) ||
        opt_int(env, argv[3], "presenceTtlMs", &o.presence_ttl_ms))
        return NULL;
    if (o.block_ms <= 0) o.block_ms = 1000;
    uv_loop_t *loop;
    TW_NAPI_CALL(env, napi_get_uv_event_loop(env, &loop));
    twn_resume *x = calloc(1, sizeof *x);
    if (!x) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    tw_error err = {0};
    if (!(x->r = tw_resume_open(&o, id, &err))) {
        free(x);
        twn_throw_code(env, "resume", err.code ? err.code : TW_ERR_NOMEM, &err);
        return NULL;
    }
    x->env = env;
    x->pid = getpid();
    if (uv_poll_init(loop, &x->poll, tw_resume_fd(x->r)) != 0) {
        tw_resume_close(x->r);
        free(x);
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: cannot poll the reader's fd");
        return NULL;
    }
    x->poll.data = x;
    if (napi_create_reference(env, argv[4], 1, &x->cb) != napi_ok ||
        napi_create_object(env, &res) != napi_ok ||
        napi_create_string_utf8(env, "tokenwire:resume", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_async_init(env, res, name, &x->actx) != napi_ok ||
        napi_create_external(env, x, resume_finalize, NULL, &out) != napi_ok) {
        resume_stop(x);
        x->finalized = 1;
        twn_throw_last(env);
        return NULL;
    }
    uv_poll_start(&x->poll, UV_READABLE, on_resume_fd);
    return out;
}

static napi_value js_resume_close(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value h;
    void *d = NULL;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, &h, NULL, NULL));
    TW_NAPI_CALL(env, napi_get_value_external(env, h, &d));
    if (d) resume_stop(d);
    return NULL;
}

napi_status twn_init_tee(napi_env env, napi_value exports)
{
    napi_property_descriptor props[] = {
        {"teeNew", NULL, js_tee_new, NULL, NULL, NULL, napi_default, NULL},
        {"teeWatch", NULL, js_tee_watch, NULL, NULL, NULL, napi_default, NULL},
        {"teeClose", NULL, js_tee_close, NULL, NULL, NULL, napi_default, NULL},
        {"teeRequestStop", NULL, js_tee_request_stop, NULL, NULL, NULL, napi_default, NULL},
        {"teeWatchReaders", NULL, js_tee_watch_readers, NULL, NULL, NULL, napi_default, NULL},
        {"teeAvailable", NULL, js_tee_available, NULL, NULL, NULL, napi_default, NULL},
        {"teeFlush", NULL, js_tee_flush, NULL, NULL, NULL, napi_default, NULL},
        {"teeStats", NULL, js_tee_stats, NULL, NULL, NULL, napi_default, NULL},
        {"teeAttach", NULL, js_tee_attach, NULL, NULL, NULL, napi_default, NULL},
        {"teeLinkEnd", NULL, js_tee_link_end, NULL, NULL, NULL, napi_default, NULL},
        {"resumeOpen", NULL, js_resume_open, NULL, NULL, NULL, napi_default, NULL},
        {"resumeClose", NULL, js_resume_close, NULL, NULL, NULL, napi_default, NULL},
    };
    return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
