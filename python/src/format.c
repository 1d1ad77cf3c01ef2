/*
 * format.c - tokenwire.Format: an app's own relay vocabulary, compiled once by the core
 * (tw_encoder_new_template) from a spec (a dict or its JSON text) and accepted wherever a
 * built-in format name is (Encoder, the fastapi relays, merges). The Format keeps the compiled
 * encoder as a prototype that never encodes; each Encoder made from it gets a copy
 * (tw_encoder_new_like), so a relay never parses the spec again.
 */
#include "tw_py.h"

PyObject *tw_py_json_text(PyObject *v, const char *what) {
    PyObject *json, *dumps, *kw = NULL, *args = NULL, *r = NULL;
    if (!(json = PyImport_ImportModule("json"))) return NULL;
    dumps = PyObject_GetAttrString(json, "dumps");
    Py_DECREF(json);
    if (!dumps) return NULL;
    kw = Py_BuildValue("{sOsO}", "allow_nan", Py_False, "ensure_ascii", Py_False);
    args = PyTuple_Pack(1, v);
    if (kw && args) r = PyObject_Call(dumps, args, kw);
    Py_DECREF(dumps);
    Py_XDECREF(kw);
    Py_XDECREF(args);
    if (!r && (PyErr_ExceptionMatches(PyExc_TypeError) ||
               PyErr_ExceptionMatches(PyExc_ValueError) ||
               PyErr_ExceptionMatches(PyExc_RecursionError))) {
        PyObject *cause = tw_py_fetch_exception(), *exc;
        PyErr_Format(PyExc_ValueError, "template: %s is not JSON-serializable (%S)", what,
                     cause);
        exc = tw_py_fetch_exception();
        PyException_SetCause(exc, cause); /* steals cause */
        tw_py_restore_exception(exc);
    }
    return r;
}

/* The spec as JSON text: a str as it is, a dict through json.dumps. */
static PyObject *spec_text(PyObject *spec) {
    if (PyUnicode_Check(spec)) return Py_NewRef(spec);
    if (!PyDict_Check(spec)) {
        PyErr_Format(PyExc_TypeError, "Format() takes a template spec (dict or JSON str), "
                     "not %.100s", Py_TYPE(spec)->tp_name);
        return NULL;
    }
    return tw_py_json_text(spec, "the spec");
}

static PyObject *Format_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"spec", NULL};
    PyObject *spec, *text;
    const char *p;
    Py_ssize_t n;
    tw_error err = {0};
    FormatObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Format", kwlist, &spec)) return NULL;
    if (!(text = spec_text(spec))) return NULL;
    if (!(p = PyUnicode_AsUTF8AndSize(text, &n))) {
        Py_DECREF(text);
        return NULL;
    }
    self = (FormatObject *)type->tp_alloc(type, 0);
    if (!self) {
        Py_DECREF(text);
        return NULL;
    }
    self->spec = text;
    self->proto = tw_encoder_new_template(p, (size_t)n, NULL, &err);
    if (!self->proto) {
        Py_DECREF(self);
        return tw_py_raise_code(err.code ? err.code : TW_ERR_NOMEM, &err);
    }
    return (PyObject *)self;
}

static void Format_dealloc(FormatObject *self) {
    tw_encoder_free(self->proto);
    Py_XDECREF(self->spec);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyObject *tw_py_headers_list(const char *const *h) {
    PyObject *out = PyList_New(0);
    for (; out && *h; h += 2) {
        PyObject *pair = Py_BuildValue("(ss)", h[0], h[1]);
        if (!pair || PyList_Append(out, pair) < 0) Py_CLEAR(out);
        Py_XDECREF(pair);
    }
    return out;
}

static PyObject *Format_get_headers(FormatObject *self, void *Py_UNUSED(c)) {
    return tw_py_headers_list(tw_encoder_headers(self->proto));
}

static PyObject *Format_get_content_type(FormatObject *self, void *Py_UNUSED(c)) {
    return PyUnicode_FromString(tw_encoder_headers(self->proto)[1]);
}

static PyObject *Format_get_framing(FormatObject *self, void *Py_UNUSED(c)) {
    int sse = strcmp(tw_encoder_headers(self->proto)[1], "text/event-stream") == 0;
    return PyUnicode_FromString(sse ? "sse" : "ndjson");
}

static PyObject *Format_get_spec(FormatObject *self, void *Py_UNUSED(c)) {
    return Py_NewRef(self->spec);
}

static PyObject *Format_repr(FormatObject *self) {
    return PyUnicode_FromFormat("tokenwire.Format(%R)", self->spec);
}

static PyGetSetDef Format_getset[] = {
    {"spec", (getter)Format_get_spec, NULL, "The spec as the JSON text the core compiled.", NULL},
    {"framing", (getter)Format_get_framing, NULL, "'sse' or 'ndjson' (the spec's framing).",
     NULL},
    {"content_type", (getter)Format_get_content_type, NULL,
     "text/event-stream or application/x-ndjson, per the framing.", NULL},
    {"headers", (getter)Format_get_headers, NULL,
     "The response headers for relaying it: [(name, value), ...] (tw_encoder_headers).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject Format_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire.Format",
    .tp_doc = "Format(spec): an app's own relay vocabulary (event names, JSON shapes with "
              "{field} slots, constants, derived values), compiled once by the core from spec "
              "(a dict, or its JSON text; schema: tw_encoder_new_template in "
              "csrc/tw_encoder.h) and run in C per event. Accepted wherever a format name is: "
              "Encoder(fmt), sse_response(s, format=fmt), encode_stream, merges. A bad spec "
              "(unknown slot or key, malformed JSON, a value json cannot write) raises "
              "ValueError with the core's message.",
    .tp_basicsize = sizeof(FormatObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Format_new,
    .tp_dealloc = (destructor)Format_dealloc,
    .tp_repr = (reprfunc)Format_repr,
    .tp_getset = Format_getset,
};

int tw_py_init_format(PyObject *m) {
    if (PyType_Ready(&Format_Type) < 0) return -1;
    return PyModule_AddObjectRef(m, "Format", (PyObject *)&Format_Type);
}
