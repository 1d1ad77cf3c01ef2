/*
 * mock.c - a private binding to the built-in mock LLM server (csrc/mock), so the Node tests
 * and benchmarks can run it in-process or in a child process without the `tokenwire` CLI.
 * Not part of the public API (exported as `_mock*`).
 */
#include <stdlib.h>
#include <string.h>

#include "twn.h"
#include "mock/tw_mock.h"

typedef struct twn_mock {
    tw_mock *m; /* NULL once stopped */
} twn_mock;

static void mock_finalize(napi_env env, void *data, void *hint)
{
    (void)env;
    (void)hint;
    twn_mock *m = data;
    tw_mock_stop(m->m);
    free(m);
}

static twn_mock *mock_get(napi_env env, napi_value v)
{
    void *data = NULL;
    if (napi_get_value_external(env, v, &data) != napi_ok || !data) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: not a mock handle");
        return NULL;
    }
    return data;
}

/* _mockStart(port, threads) -> handle */
static napi_value mock_start(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    tw_mock_opts o;
    tw_mock_opts_init(&o);
    o.quiet = 1;
    int32_t v = 0;
    if (argc >= 1 && napi_get_value_int32(env, argv[0], &v) == napi_ok) o.port = v;
    if (argc >= 2 && napi_get_value_int32(env, argv[1], &v) == napi_ok && v > 0) o.threads = v;
    tw_error err;
    memset(&err, 0, sizeof err);
    twn_mock *m = calloc(1, sizeof *m);
    if (!m) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    m->m = tw_mock_start(&o, &err);
    if (!m->m) {
        free(m);
        twn_throw_code(env, "mock server", err.code ? err.code : TW_ERR_TRANSPORT, &err);
        return NULL;
    }
    if (napi_create_external(env, m, mock_finalize, NULL, &out) != napi_ok) {
        mock_finalize(env, m, NULL);
        twn_throw_last(env);
        return NULL;
    }
    return out;
}

static napi_value mock_port(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_mock *m = mock_get(env, argv[0]);
    if (!m) return NULL;
    TW_NAPI_CALL(env, napi_create_int32(env, m->m ? tw_mock_port(m->m) : 0, &out));
    return out;
}

static napi_value mock_stats(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out, v;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_mock *m = mock_get(env, argv[0]);
    if (!m) return NULL;
    tw_mock_stats st;
    memset(&st, 0, sizeof st);
    if (m->m) tw_mock_get_stats(m->m, &st);
    TW_NAPI_CALL(env, napi_create_object(env, &out));
    TW_NAPI_CALL(env, napi_create_double(env, (double)st.active, &v));
    TW_NAPI_CALL(env, napi_set_named_property(env, out, "active", v));
    TW_NAPI_CALL(env, napi_create_double(env, (double)st.total, &v));
    TW_NAPI_CALL(env, napi_set_named_property(env, out, "total", v));
    TW_NAPI_CALL(env, napi_create_double(env, (double)st.completed, &v));
    TW_NAPI_CALL(env, napi_set_named_property(env, out, "completed", v));
    TW_NAPI_CALL(env, napi_create_double(env, (double)st.aborted, &v));
    TW_NAPI_CALL(env, napi_set_named_property(env, out, "aborted", v));
    return out;
}

static napi_value mock_stop(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    twn_mock *m = mock_get(env, argv[0]);
    if (!m) return NULL;
    tw_mock_stop(m->m);
    m->m = NULL;
    TW_NAPI_CALL(env, napi_get_undefined(env, &out));
    return out;
}

/* _mockExpectedText(chunks, text|undefined) -> string */
static napi_value mock_expected(napi_env env, napi_callback_info info)
{
    size_t argc = 2;
    napi_value argv[2], out;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    int32_t chunks = 20;
    if (argc >= 1) TW_NAPI_CALL(env, napi_get_value_int32(env, argv[0], &chunks));
    char *text = NULL;
    if (argc >= 2) {
        napi_valuetype t;
        TW_NAPI_CALL(env, napi_typeof(env, argv[1], &t));
        if (t == napi_string && !(text = twn_get_string(env, argv[1], NULL))) return NULL;
    }
    char *s = tw_mock_expected_text(chunks, text);
    free(text);
    if (!s) {
        napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
        return NULL;
    }
    napi_status st = napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
    free(s);
    TW_NAPI_CALL(env, st);
    return out;
}

napi_status twn_init_mock(napi_env env, napi_value exports)
{
    napi_property_descriptor props[] = {
        {"_mockStart", NULL, mock_start, NULL, NULL, NULL, napi_default, NULL},
        {"_mockPort", NULL, mock_port, NULL, NULL, NULL, napi_default, NULL},
        {"_mockStats", NULL, mock_stats, NULL, NULL, NULL, napi_default, NULL},
        {"_mockStop", NULL, mock_stop, NULL, NULL, NULL, napi_default, NULL},
        {"_mockExpectedText", NULL, mock_expected, NULL, NULL, NULL, napi_default, NULL},
    };
    return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
