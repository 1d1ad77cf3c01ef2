/*
 * module.c - tokenwire._native: module state and the core's name tables. The mock server and
 * the command line live in tokenwire._tools (python/tools/), which an import never loads.
 */
#include "tw_py.h"

TwState *tw_state = NULL;

/*==============================================================================================
 * Name tables: the core's, as tuples
 *============================================================================================*/

typedef const char *(*name_fn)(int);

static const char *event_type_name(int i) { return tw_event_type_name((tw_event_type)i); }
static const char *error_kind_name(int i) { return tw_error_kind_name((tw_error_kind)i); }
static const char *dialect_name(int i) { return tw_dialect_name((tw_dialect)i); }
static const char *format_name(int i) { return tw_format_name((tw_format)i); }
static const char *finish_name(int i) { return tw_finish_name((tw_finish)i); }
static const char *auth_name(int i) { return tw_auth_name((tw_auth)i); }

/* (name(1), ..., name(last - 1)) */
static PyObject *names_tuple(name_fn name, int last) {
    PyObject *t = PyTuple_New(last - 1);
    int i;
    for (i = 1; t && i < last; i++) {
        PyObject *v = PyUnicode_InternFromString(name(i));
        if (!v) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i - 1, v);
    }
    return t;
}

/* The core parses the name (aliases included); the error lists the core's table. */
static int name_arg(PyObject *name, int (*parse)(const char *, size_t), PyObject *table,
                    const char *what) {
    Py_ssize_t n;
    const char *p;
    int v;
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what,
                     Py_TYPE(name)->tp_name);
        return 0;
    }
    if (!(p = PyUnicode_AsUTF8AndSize(name, &n))) return 0;
    if ((v = parse(p, (size_t)n))) return v;
    PyErr_Format(PyExc_ValueError, "unknown %s %R: expected one of %R", what, name, table);
    return 0;
}

static int parse_dialect(const char *p, size_t n) { return (int)tw_dialect_from_name(p, n); }
static int parse_format(const char *p, size_t n) { return (int)tw_format_from_name(p, n); }

int tw_py_dialect_arg(PyObject *name) {
    return name_arg(name, parse_dialect, tw_state->dialects, "dialect");
}

int tw_py_format_arg(PyObject *name) {
    return name_arg(name, parse_format, tw_state->formats, "format");
}

/* TW_AUTH_DIALECT is 0, so auth gets its own: None is the dialect's way. */
int tw_py_auth_arg(PyObject *name) {
    Py_ssize_t n;
    const char *p;
    int v;
    if (!name || name == Py_None) return TW_AUTH_DIALECT;
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "auth must be str or None, not %.100s",
                     Py_TYPE(name)->tp_name);
        return -1;
    }
    if (!(p = PyUnicode_AsUTF8AndSize(name, &n))) return -1;
    if ((v = tw_auth_from_name(p, (size_t)n)) >= 0) return v;
    PyErr_Format(PyExc_ValueError,
                 "unknown auth %R: expected None (the dialect's way) or one of %R "
                 "('azure' is 'api-key')",
                 name, tw_state->auths);
    return -1;
}

/* _auth_name(name): the canonical name of an auth (None for the dialect's way), so that a
 * Client refuses an unknown one when it is made. */
static PyObject *mod_auth_name(PyObject *Py_UNUSED(m), PyObject *name) {
    int a = tw_py_auth_arg(name);
    if (a < 0) return NULL;
    if (a == TW_AUTH_DIALECT) Py_RETURN_NONE;
    return PyUnicode_InternFromString(tw_auth_name((tw_auth)a));
}

/* _check_api_key(key): the engine's check of an API key (tw_check_api_key), for a Client to
 * refuse a bad key when it is made rather than at its first request. */
static PyObject *mod_check_api_key(PyObject *Py_UNUSED(m), PyObject *key) {
    tw_error err = {0};
    Py_ssize_t n;
    const char *p;
    tw_code c;
    if (!PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "api_key must be str, not %.100s", Py_TYPE(key)->tp_name);
        return NULL;
    }
    if (!(p = PyUnicode_AsUTF8AndSize(key, &n))) return NULL;
    c = tw_check_api_key(p, (size_t)n, &err);
    if (c != TW_OK) return tw_py_raise_code(c, &err);
    Py_RETURN_NONE;
}

/*==============================================================================================
 * Module functions
 *============================================================================================*/

static PyMethodDef module_methods[] = {
    {"_auth_name", (PyCFunction)mod_auth_name, METH_O,
     "The canonical name of an auth (tw_auth_from_name; None: the dialect's way)."},
    {"_check_api_key", (PyCFunction)mod_check_api_key, METH_O,
     "The engine's check of an API key (tw_check_api_key): ValueError naming the byte."},
    {NULL, NULL, 0, NULL},
};

/*==============================================================================================
 * Module state and init
 *============================================================================================*/

static int module_traverse(PyObject *m, visitproc visit, void *arg) {
    TwState *st = PyModule_GetState(m);
    int i;
    if (!st) return 0;
    for (i = 0; i < TW_KIND__LAST; i++) Py_VISIT(st->errors[i]);
    Py_VISIT(st->event_types);
    Py_VISIT(st->error_kinds);
    Py_VISIT(st->dialects);
    Py_VISIT(st->formats);
    Py_VISIT(st->finish_reasons);
    Py_VISIT(st->auths);
    Py_VISIT(st->json_loads);
    Py_VISIT(st->get_running_loop);
    Py_VISIT(st->get_running_loop_or_none);
    for (i = 0; i < TW_EV__LAST; i++) Py_VISIT(st->type_names[i]);
    for (i = 0; i < TW_KIND__LAST; i++) Py_VISIT(st->kind_names[i]);
    return 0;
}

static int module_clear(PyObject *m) {
    TwState *st = PyModule_GetState(m);
    int i;
    if (!st) return 0;
    for (i = 0; i < TW_KIND__LAST; i++) Py_CLEAR(st->errors[i]);
    Py_CLEAR(st->event_types);
    Py_CLEAR(st->error_kinds);
    Py_CLEAR(st->dialects);
    Py_CLEAR(st->formats);
    Py_CLEAR(st->finish_reasons);
    Py_CLEAR(st->auths);
    Py_CLEAR(st->json_loads);
    Py_CLEAR(st->get_running_loop);
    Py_CLEAR(st->get_running_loop_or_none);
    for (i = 0; i < TW_EV__LAST; i++) Py_CLEAR(st->type_names[i]);
    for (i = 0; i < TW_KIND__LAST; i++) Py_CLEAR(st->kind_names[i]);
    Py_CLEAR(st->str_message);
    Py_CLEAR(st->str_empty);
    Py_CLEAR(st->str_add_reader);
    Py_CLEAR(st->str_remove_reader);
    Py_CLEAR(st->str_create_future);
    Py_CLEAR(st->str_set_result);
    Py_CLEAR(st->str_set_exception);
    Py_CLEAR(st->str_add_done_callback);
    Py_CLEAR(st->str_cancelled);
    Py_CLEAR(st->str_done);
    Py_CLEAR(st->str_is_closed);
    Py_CLEAR(st->str_call_later);
    Py_CLEAR(st->str_cancel);
    Py_CLEAR(st->str_status);
    Py_CLEAR(st->str_body);
    Py_CLEAR(st->str_kind);
    Py_CLEAR(st->str_provider_type);
    Py_CLEAR(st->str_message_attr);
    Py_CLEAR(st->str_waiter_done);
    Py_CLEAR(st->str_heartbeat);
    Py_CLEAR(st->str_wake);
    Py_CLEAR(st->str_is_running);
    Py_CLEAR(st->str_call_soon_threadsafe);
    return 0;
}

static void module_free(void *m) {
    module_clear((PyObject *)m);
    tw_state = NULL;
}

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tokenwire._native",
    .m_doc = "The C core of tokenwire: SSE parser, decoders, encoders, streaming engine.",
    .m_size = sizeof(TwState),
    .m_methods = module_methods,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

#define INTERN(field, s)                                                                         \
    do {                                                                                         \
        if (!(st->field = PyUnicode_InternFromString(s))) goto error;                            \
    } while (0)

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m, *mod = NULL;
    TwState *st;
    int i;
    m = PyModule_Create(&native_module);
    if (!m) return NULL;
    st = PyModule_GetState(m);
    memset(st, 0, sizeof *st);
    tw_state = st;

    for (i = 1; i < TW_EV__LAST; i++) {
        if (!(st->type_names[i] = PyUnicode_InternFromString(tw_event_type_name(i)))) goto error;
    }
    if (!(st->type_names[0] = PyUnicode_InternFromString("unknown"))) goto error;
    for (i = 0; i < TW_KIND__LAST; i++) {
        if (!(st->kind_names[i] = PyUnicode_InternFromString(tw_error_kind_name(i)))) goto error;
    }
    INTERN(str_message, "message");
    INTERN(str_empty, "");
    INTERN(str_add_reader, "add_reader");
    INTERN(str_remove_reader, "remove_reader");
    INTERN(str_create_future, "create_future");
    INTERN(str_set_result, "set_result");
    INTERN(str_set_exception, "set_exception");
    INTERN(str_add_done_callback, "add_done_callback");
    INTERN(str_cancelled, "cancelled");
    INTERN(str_done, "done");
    INTERN(str_is_closed, "is_closed");
    INTERN(str_call_later, "call_later");
    INTERN(str_cancel, "cancel");
    INTERN(str_status, "status");
    INTERN(str_body, "body");
    INTERN(str_kind, "kind");
    INTERN(str_provider_type, "provider_type");
    INTERN(str_message_attr, "message");
    INTERN(str_waiter_done, "_waiter_done");
    INTERN(str_heartbeat, "_heartbeat");
    INTERN(str_wake, "_wake");
    INTERN(str_is_running, "is_running");
    INTERN(str_call_soon_threadsafe, "call_soon_threadsafe");

    mod = PyImport_ImportModule("asyncio");
    if (!mod) goto error;
    st->get_running_loop = PyObject_GetAttrString(mod, "get_running_loop");
    st->get_running_loop_or_none = PyObject_GetAttrString(mod, "_get_running_loop");
    Py_CLEAR(mod);
    if (!st->get_running_loop || !st->get_running_loop_or_none) goto error;
    mod = PyImport_ImportModule("json");
    if (!mod) goto error;
    st->json_loads = PyObject_GetAttrString(mod, "loads");
    Py_CLEAR(mod);
    if (!st->json_loads) goto error;

    /* The core's name tables. */
    if (!(st->event_types = names_tuple(event_type_name, TW_EV__LAST)) ||
        !(st->error_kinds = names_tuple(error_kind_name, TW_KIND__LAST)) ||
        !(st->dialects = names_tuple(dialect_name, TW_DIALECT__LAST)) ||
        !(st->formats = names_tuple(format_name, TW_FORMAT__LAST)) ||
        !(st->finish_reasons = names_tuple(finish_name, TW_FINISH__LAST)) ||
        !(st->auths = names_tuple(auth_name, TW_AUTH__LAST)))
        goto error;
    if (PyModule_AddObjectRef(m, "EVENT_TYPES", st->event_types) < 0 ||
        PyModule_AddObjectRef(m, "ERROR_KINDS", st->error_kinds) < 0 ||
        PyModule_AddObjectRef(m, "DIALECTS", st->dialects) < 0 ||
        PyModule_AddObjectRef(m, "FORMATS", st->formats) < 0 ||
        PyModule_AddObjectRef(m, "FINISH_REASONS", st->finish_reasons) < 0 ||
        PyModule_AddObjectRef(m, "AUTHS", st->auths) < 0)
        goto error;
    if (tw_py_init_errors(m) < 0) goto error;

    if (tw_py_init_event(m) < 0) goto error;
    if (tw_py_init_encoder(m) < 0) goto error;
    if (tw_py_init_parsers(m) < 0) goto error;
    if (tw_py_init_engine(m) < 0) goto error;
    if (tw_py_init_consumer(m) < 0) goto error;
    if (tw_py_init_stream(m) < 0) goto error;
    if (tw_py_init_merge(m) < 0) goto error;
    if (tw_py_init_tee(m) < 0) goto error;
    if (PyModule_AddStringConstant(m, "__version__", tw_version()) < 0) goto error;
    return m;
error:
    Py_XDECREF(mod);
    Py_DECREF(m);
    return NULL;
}
