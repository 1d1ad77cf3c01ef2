/*
 * module.c - tokenwire._native: module state, exception hierarchy, error mapping, the private
 * in-process mock server and the command-line entry point.
 */
#include "tw_py.h"

#include "cli/tw_cli.h"

TwState *tw_state = NULL;

/*==============================================================================================
 * Error mapping
 *============================================================================================*/

PyObject *tw_py_raise_code(tw_code code, const tw_error *err) {
    TwState *st = tw_state;
    const char *msg = (err && err->msg[0]) ? err->msg : tw_strerror(code);
    PyObject *type;
    switch (code) {
    case TW_ERR_NOMEM:
        return PyErr_NoMemory();
    case TW_ERR_INVALID_ARG:
        type = PyExc_ValueError;
        break;
    case TW_ERR_TIMEOUT:
        type = st->TimeoutError;
        break;
    case TW_ERR_SSE_PROTOCOL:
    case TW_ERR_JSON:
        type = st->ProtocolError;
        break;
    case TW_ERR_HTTP_STATUS:
        type = st->HTTPError;
        break;
    case TW_ERR_CANCELLED:
        type = st->CancelledError;
        break;
    case TW_ERR_TRANSPORT:
        type = st->TransportError;
        break;
    case TW_ERR_PROVIDER:
        type = st->ProviderError;
        break;
    case TW_ERR_FORKED:
        /* The engine belongs to the parent of this fork() child. Engine replaces such an
         * engine on first use, so this is only seen from code that holds on to one. */
        type = st->Error;
        break;
    default:
        type = st->Error;
        break;
    }
    PyErr_SetString(type, msg);
    return NULL;
}

static int set_attr_or_none(PyObject *o, PyObject *name, PyObject *v) {
    int r = PyObject_SetAttr(o, name, v ? v : Py_None);
    Py_XDECREF(v);
    return r;
}

PyObject *tw_py_error_from_event(const tw_event *ev) {
    TwState *st = tw_state;
    PyObject *type, *exc = NULL, *msg = NULL;
    switch (ev->error_kind) {
    case TW_KIND_HTTP: type = st->HTTPError; break;
    case TW_KIND_PROVIDER: type = st->ProviderError; break;
    case TW_KIND_TIMEOUT: type = st->TimeoutError; break;
    case TW_KIND_PROTOCOL: type = st->ProtocolError; break;
    case TW_KIND_CANCELLED: type = st->CancelledError; break;
    case TW_KIND_TRANSPORT: type = st->TransportError; break;
    default: type = st->Error; break;
    }
    if (ev->text.len) {
        msg = tw_py_str(ev->text);
    } else if (ev->error_kind == TW_KIND_HTTP) {
        msg = PyUnicode_FromFormat("HTTP status %d", (int)ev->status);
    } else {
        msg = PyUnicode_FromString(tw_error_kind_name(ev->error_kind));
    }
    if (!msg) return NULL;
    exc = PyObject_CallOneArg(type, msg);
    if (!exc) goto error;
    if (ev->status) {
        if (set_attr_or_none(exc, st->str_status, PyLong_FromLong(ev->status)) < 0) goto error;
    } else if (PyObject_SetAttr(exc, st->str_status, Py_None) < 0) {
        goto error;
    }
    if (set_attr_or_none(exc, st->str_body, ev->raw.ptr ? tw_py_str(ev->raw) : NULL) < 0)
        goto error;
    if (PyObject_SetAttr(exc, st->str_message_attr, msg) < 0) goto error;
    if (PyObject_SetAttr(exc, st->str_kind, st->kind_names[ev->error_kind < TW_KIND__LAST
                                                               ? ev->error_kind
                                                               : 0]) < 0)
        goto error;
    if (set_attr_or_none(exc, st->str_provider_type, ev->name.ptr ? tw_py_str(ev->name) : NULL) < 0)
        goto error;
    Py_DECREF(msg);
    return exc;
error:
    Py_XDECREF(exc);
    Py_XDECREF(msg);
    return NULL;
}

/*==============================================================================================
 * Mock: the in-process mock server (private, for tests and benchmarks)
 *============================================================================================*/

typedef struct MockObject {
    PyObject_HEAD
    tw_mock *mock;
} MockObject;

static PyObject *Mock_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"host", "port", "threads", NULL};
    const char *host = "127.0.0.1";
    int port = 0, threads = 1;
    tw_mock_opts o;
    tw_error err = {0};
    MockObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|sii:Mock", kwlist, &host, &port, &threads))
        return NULL;
    self = (MockObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    tw_mock_opts_init(&o);
    o.host = host;
    o.port = port;
    o.threads = threads;
    o.quiet = 1;
    Py_BEGIN_ALLOW_THREADS
    self->mock = tw_mock_start(&o, &err);
    Py_END_ALLOW_THREADS
    if (!self->mock) {
        Py_DECREF(self);
        return tw_py_raise_code(err.code ? err.code : TW_ERR_TRANSPORT, &err);
    }
    return (PyObject *)self;
}

static void Mock_stop_impl(MockObject *self) {
    tw_mock *m = self->mock;
    self->mock = NULL;
    if (m) {
        Py_BEGIN_ALLOW_THREADS
        tw_mock_stop(m);
        Py_END_ALLOW_THREADS
    }
}

static void Mock_dealloc(MockObject *self) {
    Mock_stop_impl(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Mock_stop(MockObject *self, PyObject *Py_UNUSED(ignored)) {
    Mock_stop_impl(self);
    Py_RETURN_NONE;
}

static PyObject *Mock_stats(MockObject *self, PyObject *Py_UNUSED(ignored)) {
    tw_mock_stats s;
    if (!self->mock) {
        PyErr_SetString(PyExc_ValueError, "mock server is stopped");
        return NULL;
    }
    tw_mock_get_stats(self->mock, &s);
    return Py_BuildValue("{sKsKsKsK}", "active", (unsigned long long)s.active, "total",
                         (unsigned long long)s.total, "completed",
                         (unsigned long long)s.completed, "aborted",
                         (unsigned long long)s.aborted);
}

static PyObject *Mock_get_port(MockObject *self, void *Py_UNUSED(closure)) {
    if (!self->mock) {
        PyErr_SetString(PyExc_ValueError, "mock server is stopped");
        return NULL;
    }
    return PyLong_FromLong(tw_mock_port(self->mock));
}

static PyMethodDef Mock_methods[] = {
    {"stop", (PyCFunction)Mock_stop, METH_NOARGS, "Stop the server (idempotent)."},
    {"stats", (PyCFunction)Mock_stats, METH_NOARGS, "Counters: active, total, completed, aborted."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Mock_getset[] = {
    {"port", (getter)Mock_get_port, NULL, "The bound port.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject Mock_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire._native.Mock",
    .tp_doc = "The built-in mock LLM server running on background threads of this process.",
    .tp_basicsize = sizeof(MockObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Mock_new,
    .tp_dealloc = (destructor)Mock_dealloc,
    .tp_methods = Mock_methods,
    .tp_getset = Mock_getset,
};

/*==============================================================================================
 * Module functions
 *============================================================================================*/

static PyObject *mod_cli_main(PyObject *Py_UNUSED(m), PyObject *arg) {
    Py_ssize_t n, i;
    char **argv = NULL;
    PyObject *seq = NULL, *ret = NULL;
    int rc;
    seq = PySequence_Fast(arg, "cli_main() takes a list of str");
    if (!seq) return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    argv = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (!argv) {
        PyErr_NoMemory();
        goto cleanup;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        Py_ssize_t len;
        const char *s;
        if (!PyUnicode_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "cli_main() arguments must be str");
            goto cleanup;
        }
        s = PyUnicode_AsUTF8AndSize(item, &len);
        if (!s) goto cleanup;
        argv[i] = PyMem_Malloc((size_t)len + 1);
        if (!argv[i]) {
            PyErr_NoMemory();
            goto cleanup;
        }
        memcpy(argv[i], s, (size_t)len + 1);
    }
    fflush(stdout);
    fflush(stderr);
    Py_BEGIN_ALLOW_THREADS
    rc = tw_cli_main((int)n, argv);
    fflush(stdout);
    fflush(stderr);
    Py_END_ALLOW_THREADS
    ret = PyLong_FromLong(rc);
cleanup:
    if (argv) {
        for (i = 0; i < n; i++) PyMem_Free(argv[i]);
        PyMem_Free(argv);
    }
    Py_XDECREF(seq);
    return ret;
}

static PyObject *mod_expected_text(PyObject *Py_UNUSED(m), PyObject *args) {
    int chunks;
    const char *text = NULL;
    char *s;
    PyObject *r;
    if (!PyArg_ParseTuple(args, "i|z:expected_text", &chunks, &text)) return NULL;
    s = tw_mock_expected_text(chunks, text);
    if (!s) return PyErr_NoMemory();
    r = PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
    free(s);
    return r;
}

static PyMethodDef module_methods[] = {
    {"cli_main", (PyCFunction)mod_cli_main, METH_O,
     "Run the tokenwire command line with argv (argv[0] is the program name)."},
    {"expected_text", (PyCFunction)mod_expected_text, METH_VARARGS,
     "The text the mock server streams for (chunks, text)."},
    {NULL, NULL, 0, NULL},
};

/*==============================================================================================
 * Module state and init
 *============================================================================================*/

static int module_traverse(PyObject *m, visitproc visit, void *arg) {
    TwState *st = PyModule_GetState(m);
    int i;
    if (!st) return 0;
    Py_VISIT(st->Error);
    Py_VISIT(st->HTTPError);
    Py_VISIT(st->TimeoutError);
    Py_VISIT(st->ProtocolError);
    Py_VISIT(st->ProviderError);
    Py_VISIT(st->CancelledError);
    Py_VISIT(st->TransportError);
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
    Py_CLEAR(st->Error);
    Py_CLEAR(st->HTTPError);
    Py_CLEAR(st->TimeoutError);
    Py_CLEAR(st->ProtocolError);
    Py_CLEAR(st->ProviderError);
    Py_CLEAR(st->CancelledError);
    Py_CLEAR(st->TransportError);
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

static int add_exception(PyObject *m, PyObject **slot, const char *name, const char *doc,
                         PyObject *base) {
    char full[64];
    snprintf(full, sizeof full, "tokenwire.%s", name);
    *slot = PyErr_NewExceptionWithDoc(full, doc, base, NULL);
    if (!*slot) return -1;
    Py_INCREF(*slot);
    if (PyModule_AddObject(m, name, *slot) < 0) {
        Py_DECREF(*slot);
        return -1;
    }
    return 0;
}

#define INTERN(field, s)                                                                         \
    do {                                                                                         \
        if (!(st->field = PyUnicode_InternFromString(s))) goto error;                            \
    } while (0)

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m, *asyncio = NULL, *bases = NULL;
    TwState *st;
    int i;
    m = PyModule_Create(&native_module);
    if (!m) return NULL;
    st = PyModule_GetState(m);
    memset(st, 0, sizeof *st);
    tw_state = st;

    if (add_exception(m, &st->Error, "Error", "Base class of every tokenwire error.", NULL) < 0)
        goto error;
    if (add_exception(m, &st->HTTPError, "HTTPError",
                      "The server answered with a non-2xx status (.status, .body, .message).",
                      st->Error) < 0)
        goto error;
    bases = PyTuple_Pack(2, st->Error, PyExc_TimeoutError);
    if (!bases) goto error;
    if (add_exception(m, &st->TimeoutError, "TimeoutError",
                      "A connect, first-byte, idle, event or total timeout fired.", bases) < 0)
        goto error;
    Py_CLEAR(bases);
    if (add_exception(m, &st->ProtocolError, "ProtocolError",
                      "The stream broke its framing or sent invalid JSON (.body has the data).",
                      st->Error) < 0)
        goto error;
    if (add_exception(m, &st->ProviderError, "ProviderError",
                      "The provider sent an error event inside a successful stream.",
                      st->Error) < 0)
        goto error;
    if (add_exception(m, &st->CancelledError, "CancelledError",
                      "The stream was cancelled (used where asyncio.CancelledError does not "
                      "apply, e.g. in synchronous iteration).",
                      st->Error) < 0)
        goto error;
    if (add_exception(m, &st->TransportError, "TransportError",
                      "The connection failed or was reset.", st->Error) < 0)
        goto error;

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

    asyncio = PyImport_ImportModule("asyncio");
    if (!asyncio) goto error;
    st->get_running_loop = PyObject_GetAttrString(asyncio, "get_running_loop");
    st->get_running_loop_or_none = PyObject_GetAttrString(asyncio, "_get_running_loop");
    Py_CLEAR(asyncio);
    if (!st->get_running_loop || !st->get_running_loop_or_none) goto error;

    if (PyType_Ready(&Mock_Type) < 0) goto error;
    Py_INCREF(&Mock_Type);
    if (PyModule_AddObject(m, "Mock", (PyObject *)&Mock_Type) < 0) {
        Py_DECREF(&Mock_Type);
        goto error;
    }
    if (tw_py_init_event(m) < 0) goto error;
    if (tw_py_init_parsers(m) < 0) goto error;
    if (tw_py_init_engine(m) < 0) goto error;
    if (tw_py_init_consumer(m) < 0) goto error;
    if (tw_py_init_stream(m) < 0) goto error;
    if (tw_py_init_merge(m) < 0) goto error;
    if (PyModule_AddStringConstant(m, "__version__", TW_VERSION_STRING) < 0) goto error;
    return m;
error:
    Py_XDECREF(bases);
    Py_XDECREF(asyncio);
    Py_DECREF(m);
    return NULL;
}
