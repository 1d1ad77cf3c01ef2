/*
 * names.c - what node/lib reads from the core instead of copying it by hand: the name tables
 * (event types, error kinds, dialects, formats), the error class of each kind, the ways an API
 * key is sent, the request defaults of tw_request_opts_init, and events converted between the
 * JS shape and the core's (tw_event_to_json).
 *
 * The JS event shape (node/lib/events.js builds it from packed records, twn_event_from_js reads
 * it back): every key is the key of tw_event_to_json (csrc/encoders/event_json.c) in camelCase
 * (input_tokens -> inputTokens), every key of the type is present (null when the core leaves
 * it out; status 0), and `index` is on every event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twn.h"

/* ---- error classes ------------------------------------------------------------------------- */

/* The Node class and default code of each error kind (node/lib/errors.js defines the classes;
 * Python uses the same class names except AbortError). A kind added to the core stops this
 * build until it is given its class here and there. */
_Static_assert(TW_KIND__LAST == 8, "a new tw_error_kind needs its Node class in error_classes");
static const struct {
    const char *cls;
    const char *code;
} error_classes[TW_KIND__LAST] = {
    [TW_KIND_NONE] = {"TokenwireError", "ERR_TOKENWIRE"},
    [TW_KIND_HTTP] = {"HTTPError", "ERR_HTTP_STATUS"},
    [TW_KIND_PROVIDER] = {"ProviderError", "ERR_PROVIDER"},
    [TW_KIND_TIMEOUT] = {"TimeoutError", "ERR_TIMEOUT"},
    [TW_KIND_PROTOCOL] = {"ProtocolError", "ERR_PROTOCOL"},
    [TW_KIND_CANCELLED] = {"AbortError", "ABORT_ERR"},
    [TW_KIND_TRANSPORT] = {"TransportError", "ERR_TRANSPORT"},
    [TW_KIND_TRUNCATED] = {"TruncatedError", "ERR_TRUNCATED"},
};

/* ---- auth ---------------------------------------------------------------------------------- */

/* Client option `auth`: names and parsing are the core's (tw_auth_from_name, tw_auth_name). */

/* ---- JS event -> tw_event ------------------------------------------------------------------ */

static int get_value(napi_env env, napi_value obj, const char *name, napi_value *out)
{
    napi_valuetype t;
    if (napi_get_named_property(env, obj, name, out) != napi_ok) return 0;
    if (napi_typeof(env, *out, &t) != napi_ok) return 0;
    return t != napi_undefined && t != napi_null;
}

static int get_double(napi_env env, napi_value obj, const char *name, double *out)
{
    napi_value v;
    return get_value(env, obj, name, &v) && napi_get_value_double(env, v, out) == napi_ok;
}

/* Copies obj[name] (a string) into the arena and records where its field must point once the
 * arena stops moving. */
typedef struct fixup {
    tw_str *field;
    size_t off;
} fixup;

static int get_text(napi_env env, napi_value obj, const char *name, tw_str *field, tw_buf *arena,
                    fixup *fx, int *nfx)
{
    napi_value v;
    napi_valuetype t;
    if (!get_value(env, obj, name, &v)) return 0;
    if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
        char msg[96];
        snprintf(msg, sizeof msg, "tokenwire: event.%s must be a string or null", name);
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
        return -1;
    }
    size_t len = 0;
    napi_get_value_string_utf8(env, v, NULL, 0, &len);
    if (tw_buf_reserve(arena, len + 1) != TW_OK) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return -1;
    }
    napi_get_value_string_utf8(env, v, arena->data + arena->len, len + 1, &len);
    fx[*nfx].field = field;
    fx[*nfx].off = arena->len;
    (*nfx)++;
    arena->len += len;
    field->len = len;
    return 0;
}

int twn_event_from_js(napi_env env, napi_value obj, tw_event *ev, tw_buf *arena)
{
    napi_value v;
    napi_valuetype t;
    char name[32];
    size_t len = 0;
    tw_event_init(ev);
    if (napi_typeof(env, obj, &t) != napi_ok || t != napi_object) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: an event must be an object");
        return -1;
    }
    if (!get_value(env, obj, "type", &v) ||
        napi_get_value_string_utf8(env, v, name, sizeof name, &len) != napi_ok) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "tokenwire: event.type required");
        return -1;
    }
    for (int i = 1; i < TW_EV__LAST; i++)
        if (strcmp(tw_event_type_name((tw_event_type)i), name) == 0) ev->type = (tw_event_type)i;
    if (!ev->type) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "tokenwire: unknown event type");
        return -1;
    }
    double d;
    if (get_double(env, obj, "index", &d)) ev->index = (int32_t)d;
    fixup fx[8];
    int nfx = 0, rc = 0;
#define TEXT(key, field) \
    if (rc == 0) rc = get_text(env, obj, key, &ev->field, arena, fx, &nfx)
    TEXT("source", source);
    switch (ev->type) {
    case TW_EV_START:
        TEXT("id", id);
        TEXT("model", name);
        break;
    case TW_EV_TEXT:
    case TW_EV_REASONING:
    case TW_EV_PROGRESS:
        TEXT("text", text);
        break;
    case TW_EV_TOOL_CALL:
        TEXT("id", id);
        TEXT("name", name);
        TEXT("arguments", arguments);
        break;
    case TW_EV_USAGE:
        if (get_double(env, obj, "inputTokens", &d)) ev->input_tokens = (int64_t)d;
        if (get_double(env, obj, "outputTokens", &d)) ev->output_tokens = (int64_t)d;
        if (get_double(env, obj, "totalTokens", &d)) ev->total_tokens = (int64_t)d;
        break;
    case TW_EV_FINISH:
        TEXT("reason", reason);
        break;
    case TW_EV_ERROR:
        if (get_value(env, obj, "kind", &v) &&
            napi_get_value_string_utf8(env, v, name, sizeof name, &len) == napi_ok)
            for (int i = 0; i < TW_KIND__LAST; i++)
                if (strcmp(tw_error_kind_name((tw_error_kind)i), name) == 0)
                    ev->error_kind = (tw_error_kind)i;
        if (get_double(env, obj, "status", &d)) ev->status = (int32_t)d;
        if (get_value(env, obj, "recoverable", &v)) {
            bool b = false;
            napi_get_value_bool(env, v, &b);
            ev->recoverable = b;
        }
        TEXT("message", text);
        TEXT("name", name);
        TEXT("raw", raw);
        break;
    case TW_EV_RAW:
        TEXT("event", name);
        TEXT("data", text);
        TEXT("id", id);
        if (get_double(env, obj, "retry", &d)) ev->retry = (int64_t)d;
        break;
    default:
        break;
    }
#undef TEXT
    if (rc != 0) return -1;
    for (int i = 0; i < nfx; i++) fx[i].field->ptr = arena->data + fx[i].off;
    return 0;
}

/* eventToJSON(event) -> string: the core's JSON of a JS-shaped event (tw_event_to_json). */
static napi_value js_event_to_json(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out = NULL;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc < 1) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: eventToJSON expects an event");
        return NULL;
    }
    tw_event ev;
    tw_buf arena, b;
    tw_buf_init(&arena);
    tw_buf_init(&b);
    if (twn_event_from_js(env, argv[0], &ev, &arena) == 0) {
        tw_code rc = tw_event_to_json(&ev, &b);
        if (rc != TW_OK) {
            twn_throw_code(env, "eventToJSON", rc, NULL);
        } else if (napi_create_string_utf8(env, b.data, b.len, &out) != napi_ok) {
            twn_throw_last(env);
            out = NULL;
        }
    }
    tw_buf_free(&arena);
    tw_buf_free(&b);
    return out;
}

/* formatName(name) -> the canonical name of a format ("sse-openai" -> "openai"), or null. */
static napi_value js_format_name(napi_env env, napi_callback_info info)
{
    size_t argc = 1, len = 0;
    napi_value argv[1], out;
    char name[32];
    napi_valuetype t = napi_undefined;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    if (argc >= 1) TW_NAPI_CALL(env, napi_typeof(env, argv[0], &t));
    tw_format f = (tw_format)0;
    if (t == napi_string &&
        napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) == napi_ok &&
        len < sizeof name - 1)
        f = tw_format_from_name(name, len);
    if (!f) {
        TW_NAPI_CALL(env, napi_get_null(env, &out));
        return out;
    }
    TW_NAPI_CALL(env, napi_create_string_utf8(env, tw_format_name(f), NAPI_AUTO_LENGTH, &out));
    return out;
}

/* ---- tables -------------------------------------------------------------------------------- */

static napi_status str_or_null(napi_env env, const char *s, napi_value *out)
{
    if (!s) return napi_get_null(env, out);
    return napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, out);
}

#define TRY(call)                                                                                \
    do {                                                                                         \
        napi_status st_ = (call);                                                                \
        if (st_ != napi_ok) return st_;                                                          \
    } while (0)

static napi_status set_str(napi_env env, napi_value obj, const char *key, const char *s)
{
    napi_value v;
    TRY(str_or_null(env, s, &v));
    return napi_set_named_property(env, obj, key, v);
}

static napi_status set_num(napi_env env, napi_value obj, const char *key, double d)
{
    napi_value v;
    TRY(napi_create_double(env, d, &v));
    return napi_set_named_property(env, obj, key, v);
}

static napi_status set_bool(napi_env env, napi_value obj, const char *key, int b)
{
    napi_value v;
    TRY(napi_get_boolean(env, b != 0, &v));
    return napi_set_named_property(env, obj, key, v);
}

/* An array of name(i) for i in [first, last); NULL names become null. */
static napi_status name_array(napi_env env, int first, int last, const char *(*name)(int),
                              napi_value *out)
{
    TRY(napi_create_array(env, out));
    for (int i = first; i < last; i++) {
        napi_value v;
        TRY(str_or_null(env, name(i), &v));
        TRY(napi_set_element(env, *out, (uint32_t)(i - first), v));
    }
    return napi_ok;
}

static const char *type_name(int i)
{
    return i == 0 ? NULL : tw_event_type_name((tw_event_type)i);
}
static const char *kind_name(int i)
{
    return tw_error_kind_name((tw_error_kind)i);
}
static const char *dialect_name(int i)
{
    return tw_dialect_name((tw_dialect)i);
}
static const char *format_name(int i)
{
    return tw_format_name((tw_format)i);
}

napi_status twn_init_names(napi_env env, napi_value exports)
{
    napi_value v, arr, obj;
    /* eventTypes[tw_event_type] (index 0: null), errorKinds[tw_error_kind] */
    TRY(name_array(env, 0, TW_EV__LAST, type_name, &v));
    TRY(napi_set_named_property(env, exports, "eventTypes", v));
    TRY(name_array(env, 0, TW_KIND__LAST, kind_name, &v));
    TRY(napi_set_named_property(env, exports, "errorKinds", v));
    TRY(name_array(env, 1, TW_DIALECT__LAST, dialect_name, &v));
    TRY(napi_set_named_property(env, exports, "dialects", v));
    TRY(name_array(env, 1, TW_FORMAT__LAST, format_name, &v));
    TRY(napi_set_named_property(env, exports, "formats", v));

    /* errorClasses[tw_error_kind] = {kind, cls, code} */
    TRY(napi_create_array(env, &arr));
    for (int i = 0; i < TW_KIND__LAST; i++) {
        TRY(napi_create_object(env, &obj));
        TRY(set_str(env, obj, "kind", tw_error_kind_name((tw_error_kind)i)));
        TRY(set_str(env, obj, "cls", error_classes[i].cls));
        TRY(set_str(env, obj, "code", error_classes[i].code));
        TRY(napi_set_element(env, arr, (uint32_t)i, obj));
    }
    TRY(napi_set_named_property(env, exports, "errorClasses", arr));

    TRY(napi_create_array(env, &arr));
    for (int i = 0; i < TW_AUTH__LAST; i++) {
        TRY(str_or_null(env, tw_auth_name((tw_auth)i), &v));
        TRY(napi_set_element(env, arr, (uint32_t)i, v));
    }
    TRY(napi_set_named_property(env, exports, "auths", arr));

    /* requestDefaults: tw_request_opts_init, times in milliseconds. */
    tw_request_opts o;
    tw_request_opts_init(&o);
    napi_value t;
    TRY(napi_create_object(env, &obj));
    TRY(napi_create_object(env, &t));
    TRY(set_num(env, t, "connect", o.connect_timeout * 1000));
    TRY(set_num(env, t, "firstByte", o.first_byte_timeout * 1000));
    TRY(set_num(env, t, "idle", o.idle_timeout * 1000));
    TRY(set_num(env, t, "event", o.event_timeout * 1000));
    TRY(set_num(env, t, "total", o.total_timeout * 1000));
    TRY(set_num(env, t, "paused", o.paused_timeout * 1000));
    TRY(napi_set_named_property(env, obj, "timeout", t));
    TRY(set_num(env, obj, "maxRetries", o.max_retries));
    TRY(set_num(env, obj, "retryBaseDelay", o.retry_base_delay * 1000));
    TRY(set_bool(env, obj, "retrySent", o.retry_sent));
    TRY(set_bool(env, obj, "verifyPeer", o.verify_peer));
    TRY(set_bool(env, obj, "accumulate", o.accumulate));
    TRY(set_num(env, obj, "maxEventSize",
                (double)(o.max_event_size ? o.max_event_size : TW_DEFAULT_MAX_EVENT_SIZE)));
    TRY(napi_set_named_property(env, exports, "requestDefaults", obj));

    napi_property_descriptor props[] = {
        {"eventToJSON", NULL, js_event_to_json, NULL, NULL, NULL, napi_default, NULL},
        {"formatName", NULL, js_format_name, NULL, NULL, NULL, napi_default, NULL},
    };
    return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
