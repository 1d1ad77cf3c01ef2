/*
 * parsers.c - the I/O-free pieces for JS: SSEParser and Decoder. Each is a napi_external
 * owned by a JS object in node/lib/parsers.js; feed() returns [string, Float64Array] in the
 * packed form described in twn.h. A decoder also feeds every event it emits to a tw_summary,
 * so decoder.summary() is the core's result of the bytes decoded so far.
 */
#include <stdlib.h>
#include <string.h>

#include "twn.h"

/* ---- SSE parser ---------------------------------------------------------------------------- */

typedef struct twn_sse {
    tw_sse_parser *p;
    tw_buf scratch;  /* string input converted to bytes */
    twn_packer pk;   /* reused between feeds */
} twn_sse;

static void sse_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    twn_sse *s = data;
    tw_sse_parser_free(s->p);
    tw_buf_free(&s->scratch);
    twn_packer_free(&s->pk);
    free(s);
}

static twn_sse *sse_get(napi_env env, napi_value v)
{
    void *data = NULL;
    if (napi_get_value_external(env, v, &data) != napi_ok || !data) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: not an SSE parser handle");
        return NULL;
    }
    return data;
}

/* sseNew(maxEventSize, lastEventId|undefined) -> handle */
static napi_value sse_new(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    tw_sse_opts o;
    tw_sse_opts_init(&o);
    napi_valuetype t;
    if (argc >= 1) {
        TW_NAPI_CALL(env, napi_typeof(env, argv[0], &t));
        if (t == napi_number) {
            double d = 0;
            TW_NAPI_CALL(env, napi_get_value_double(env, argv[0], &d));
            if (d > 0) o.max_event_size = (size_t)d;
        }
    }
    /* The last event ID string to start from (the Last-Event-ID a reconnect sent). */
    char *last_id = NULL;
    if (argc >= 2) {
        TW_NAPI_CALL(env, napi_typeof(env, argv[1], &t));
        if (t == napi_string) {
            if (!(last_id = twn_get_string(env, argv[1], &o.last_event_id_len))) return NULL;
            o.last_event_id = last_id;
        }
    }
    twn_sse *s = calloc(1, sizeof *s);
    if (s) s->p = tw_sse_parser_new(&o);
    free(last_id);
    if (!s || !s->p) {
        free(s);
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    tw_buf_init(&s->scratch);
    twn_packer_init(&s->pk);
    if (napi_create_external(env, s, sse_finalize, NULL, &out) != napi_ok) {
        sse_finalize(env, s, NULL);
        twn_throw_last(env);
        return NULL;
    }
    return out;
}

static int sse_sink(void *ud, const tw_sse_event *ev)
{
    twn_packer *p = ud;
    twn_pack_str(p, ev->event);
    twn_pack_str(p, ev->data);
    twn_pack_str(p, ev->id);
    twn_pack_num(p, (double)ev->retry);
    return 0;
}

/* Returns [string, meta, errorMessage|undefined]. */
static napi_value packed_result(napi_env env, twn_packer *pk, const char *error)
{
    napi_value arr, str, meta, e;
    if (pk->oom) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    TW_NAPI_CALL(env, napi_create_array_with_length(env, 3, &arr));
    TW_NAPI_CALL(env, twn_packer_string(env, pk, &str));
    TW_NAPI_CALL(env, twn_packer_meta(env, pk, &meta));
    TW_NAPI_CALL(env, napi_set_element(env, arr, 0, str));
    TW_NAPI_CALL(env, napi_set_element(env, arr, 1, meta));
    if (error) {
        TW_NAPI_CALL(env, napi_create_string_utf8(env, error, NAPI_AUTO_LENGTH, &e));
        TW_NAPI_CALL(env, napi_set_element(env, arr, 2, e));
    }
    return arr;
}

static napi_value sse_feed(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2];
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_sse *s = sse_get(env, argv[0]);
    if (!s) return NULL;
    const char *ptr = NULL;
    size_t len = 0;
    if (twn_get_bytes(env, argv[1], &s->scratch, &ptr, &len) != 0) return NULL;
    twn_packer_reset(&s->pk);
    tw_error err;
    memset(&err, 0, sizeof err);
    tw_code rc = tw_sse_parser_feed(s->p, ptr, len, sse_sink, &s->pk, &err);
    const char *emsg = NULL;
    if (rc == TW_ERR_NOMEM) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    if (rc != TW_OK) emsg = err.msg[0] ? err.msg : tw_strerror(rc);
    return packed_result(env, &s->pk, emsg);
}

static napi_value sse_finish(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_sse *s = sse_get(env, argv[0]);
    if (!s) return NULL;
    tw_sse_parser_finish(s->p);
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

static napi_value sse_reset(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_sse *s = sse_get(env, argv[0]);
    if (!s) return NULL;
    tw_sse_parser_reset(s->p);
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

static napi_value sse_last_id(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_sse *s = sse_get(env, argv[0]);
    if (!s) return NULL;
    tw_str id = tw_sse_parser_last_event_id(s->p);
    TW_NAPI_CALL(env, napi_create_string_utf8(env, id.ptr ? id.ptr : "", id.len, &out));
    return out;
}

/* ---- decoder ------------------------------------------------------------------------------- */

typedef struct twn_dec {
    tw_decoder *d;
    tw_summary *sum; /* every event emitted so far */
    tw_buf scratch;
    twn_packer pk;
} twn_dec;

/* Packs an event for JS and adds it to the decoder's summary. */
static int dec_sink(void *ud, const tw_event *ev)
{
    twn_dec *d = ud;
    twn_pack_event(&d->pk, ev);
    if (tw_summary_add(d->sum, ev) != TW_OK) d->pk.oom = 1;
    return 0;
}

static void dec_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    twn_dec *d = data;
    tw_decoder_free(d->d);
    tw_summary_free(d->sum);
    tw_buf_free(&d->scratch);
    twn_packer_free(&d->pk);
    free(d);
}

static twn_dec *dec_get(napi_env env, napi_value v)
{
    void *data = NULL;
    if (napi_get_value_external(env, v, &data) != napi_ok || !data) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: not a decoder handle");
        return NULL;
    }
    return data;
}

/* decoderNew(dialect, maxEventSize, accumulate) -> handle */
static napi_value dec_new(napi_env env, napi_callback_info info)
{
    size_t argc = 3;
    napi_value argv[3], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    size_t nlen = 0;
    char *name = twn_get_string(env, argv[0], &nlen);
    if (!name) return NULL;
    tw_dialect dialect = tw_dialect_from_name(name, nlen);
    free(name);
    if (!dialect) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "tokenwire: unknown dialect");
        return NULL;
    }
    tw_decoder_opts o;
    tw_decoder_opts_init(&o);
    if (argc >= 2) {
        napi_valuetype t;
        TW_NAPI_CALL(env, napi_typeof(env, argv[1], &t));
        if (t == napi_number) {
            double v = 0;
            TW_NAPI_CALL(env, napi_get_value_double(env, argv[1], &v));
            if (v > 0) o.max_event_size = (size_t)v;
        }
    }
    bool accumulate = true;
    if (argc >= 3) {
        napi_valuetype t;
        TW_NAPI_CALL(env, napi_typeof(env, argv[2], &t));
        if (t == napi_boolean) TW_NAPI_CALL(env, napi_get_value_bool(env, argv[2], &accumulate));
    }
    tw_error err;
    memset(&err, 0, sizeof err);
    twn_dec *d = calloc(1, sizeof *d);
    if (!d || !(d->sum = tw_summary_new(accumulate, tw_dialect_indexes_choices(dialect)))) {
        free(d);
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    d->d = tw_decoder_new(dialect, &o, &err);
    if (!d->d) {
        tw_summary_free(d->sum);
        free(d);
        twn_throw_code(env, "Decoder", err.code ? err.code : TW_ERR_NOMEM, &err);
        return NULL;
    }
    tw_buf_init(&d->scratch);
    twn_packer_init(&d->pk);
    if (napi_create_external(env, d, dec_finalize, NULL, &out) != napi_ok) {
        dec_finalize(env, d, NULL);
        twn_throw_last(env);
        return NULL;
    }
    return out;
}

/* mode 0 = feed, 1 = finish, 2 = decode a whole body */
static napi_value dec_run(napi_env env, napi_callback_info info, int mode)
{
    size_t argc = 2;
    napi_value argv[2];
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_dec *d = dec_get(env, argv[0]);
    if (!d) return NULL;
    const char *ptr = NULL;
    size_t len = 0;
    if (mode != 1 && twn_get_bytes(env, argv[1], &d->scratch, &ptr, &len) != 0) return NULL;
    twn_packer_reset(&d->pk);
    tw_error err;
    memset(&err, 0, sizeof err);
    tw_code rc;
    if (mode == 0)
        rc = tw_decoder_feed(d->d, ptr, len, dec_sink, d, &err);
    else if (mode == 1)
        rc = tw_decoder_finish(d->d, dec_sink, d, &err);
    else
        rc = tw_decoder_decode_body(d->d, ptr, len, dec_sink, d, &err);
    if (rc == TW_ERR_NOMEM) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    return packed_result(env, &d->pk, rc == TW_OK ? NULL : (err.msg[0] ? err.msg : tw_strerror(rc)));
}

static napi_value dec_feed(napi_env env, napi_callback_info info)
{
    return dec_run(env, info, 0);
}

static napi_value dec_finish(napi_env env, napi_callback_info info)
{
    return dec_run(env, info, 1);
}

static napi_value dec_body(napi_env env, napi_callback_info info)
{
    return dec_run(env, info, 2);
}

static napi_value dec_done(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_dec *d = dec_get(env, argv[0]);
    if (!d) return NULL;
    TW_NAPI_CALL(env, napi_get_boolean(env, tw_decoder_done(d->d) != 0, &out));
    return out;
}

/* decoderSummary(handle) -> the core's summary of the events emitted so far (summary.c). */
static napi_value dec_summary(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_dec *d = dec_get(env, argv[0]);
    if (!d) return NULL;
    TW_NAPI_CALL(env, twn_summary_value(env, d->sum, &out));
    return out;
}

napi_status twn_init_parsers(napi_env env, napi_value exports)
{
    napi_property_descriptor props[] = {
        {"sseNew", NULL, sse_new, NULL, NULL, NULL, napi_default, NULL},
        {"sseFeed", NULL, sse_feed, NULL, NULL, NULL, napi_default, NULL},
        {"sseFinish", NULL, sse_finish, NULL, NULL, NULL, napi_default, NULL},
        {"sseReset", NULL, sse_reset, NULL, NULL, NULL, napi_default, NULL},
        {"sseLastEventId", NULL, sse_last_id, NULL, NULL, NULL, napi_default, NULL},
        {"decoderNew", NULL, dec_new, NULL, NULL, NULL, napi_default, NULL},
        {"decoderFeed", NULL, dec_feed, NULL, NULL, NULL, napi_default, NULL},
        {"decoderFinish", NULL, dec_finish, NULL, NULL, NULL, napi_default, NULL},
        {"decoderDecodeBody", NULL, dec_body, NULL, NULL, NULL, napi_default, NULL},
        {"decoderDone", NULL, dec_done, NULL, NULL, NULL, napi_default, NULL},
        {"decoderSummary", NULL, dec_summary, NULL, NULL, NULL, napi_default, NULL},
    };
    return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
