/*
 * mock.c - tokenwire_tools.node: the mock LLM server (tools/mock) for the Node tests and
 * benchmarks (in-process or in a child process), and the `tokenwire` command line behind
 * `npx tokenwire` (tools/cli). An addon of its own, so that requiring tokenwire never loads
 * a server. Not public API (exported as `_mock*` and `cliMain`).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/tw_cli.h"
#include "mock/tw_mock.h"
#include "twn.h"

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

/* cliMain(argv: string[]) -> exit status. Runs on the calling (main) thread until the command
 * ends: a CLI process has nothing else to do. argv[0] is the program name. */
static napi_value cli_main(napi_env env, napi_callback_info info)
{
    size_t argc = 1;
    napi_value argv[1], out;
    uint32_t n = 0, i;
    char **args = NULL;
    int rc = -1;
    TW_NAPI_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
    bool is_array = false;
    if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "tokenwire: cliMain(argv: string[])");
        return NULL;
    }
    TW_NAPI_CALL(env, napi_get_array_length(env, argv[0], &n));
    if (!(args = calloc((size_t)n + 1, sizeof *args))) goto oom;
    for (i = 0; i < n; i++) {
        napi_value item;
        if (napi_get_element(env, argv[0], i, &item) != napi_ok) goto done;
        if (!(args[i] = twn_get_string(env, item, NULL))) goto done;
    }
    rc = tw_cli_main((int)n, args);
done:
    for (i = 0; args && i < n; i++) free(args[i]);
    free(args);
    if (rc < 0) return NULL; /* an exception is pending */
    TW_NAPI_CALL(env, napi_create_int32(env, rc, &out));
    return out;
oom:
    napi_throw_error(env, "ERR_TOKENWIRE", "tokenwire: out of memory");
    return NULL;
}

static napi_value tools_init(napi_env env, napi_value exports)
{
    napi_property_descriptor props[] = {
        {"cliMain", NULL, cli_main, NULL, NULL, NULL, napi_default, NULL},
        {"_mockStart", NULL, mock_start, NULL, NULL, NULL, napi_default, NULL},
        {"_mockPort", NULL, mock_port, NULL, NULL, NULL, napi_default, NULL},
        {"_mockStats", NULL, mock_stats, NULL, NULL, NULL, napi_default, NULL},
        {"_mockStop", NULL, mock_stop, NULL, NULL, NULL, napi_default, NULL},
        {"_mockExpectedText", NULL, mock_expected, NULL, NULL, NULL, napi_default, NULL},
    };
    TW_NAPI_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0],
                                             props));
    return exports;
}

NAPI_MODULE_INIT()
{
    return tools_init(env, exports);
}
