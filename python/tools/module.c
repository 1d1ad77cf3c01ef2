/*
 * module.c - tokenwire._tools: the `tokenwire` command line (stream, parse, mock) and the
 * in-process mock LLM server the test suites use. A module of its own so that
 * `import tokenwire` never maps a server: only the console script and the tests load it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/tw_cli.h"
#include "mock/tw_mock.h"

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
        PyErr_Format(PyExc_OSError, "mock server: %s", err.msg[0] ? err.msg : "failed");
        return NULL;
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

static PyTypeObject Mock_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire._tools.Mock",
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

static struct PyModuleDef tools_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tokenwire._tools",
    .m_doc = "The tokenwire command line and the mock LLM server (tests, benchmarks, demos).",
    .m_size = 0,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__tools(void) {
    PyObject *m = PyModule_Create(&tools_module);
    if (!m) return NULL;
    if (PyType_Ready(&Mock_Type) < 0) goto error;
    Py_INCREF(&Mock_Type);
    if (PyModule_AddObject(m, "Mock", (PyObject *)&Mock_Type) < 0) {
        Py_DECREF(&Mock_Type);
        goto error;
    }
    return m;
error:
    Py_DECREF(m);
    return NULL;
}
