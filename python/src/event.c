/*
 * event.c - tokenwire.Event (normalized events as a C type) and the done awaitable that lets
 * __anext__ return without a Future.
 */
#include "tw_py.h"

/*==============================================================================================
 * Helpers
 *============================================================================================*/

PyObject *tw_py_str(tw_str s) {
    if (!s.len) return Py_NewRef(tw_state->str_empty);
    return PyUnicode_DecodeUTF8(s.ptr, (Py_ssize_t)s.len, "replace");
}

static inline PyObject *opt_str(tw_str s) {
    if (!s.ptr) return NULL;
    return tw_py_str(s);
}

/*==============================================================================================
 * Event
 *============================================================================================*/

PyObject *tw_py_event_new(const tw_event *ev, PyObject *source) {
    EventObject *e = PyObject_New(EventObject, &Event_Type);
    if (!e) return NULL;
    e->type = (int)ev->type;
    e->kind = (int)ev->error_kind;
    e->index = ev->index;
    e->status = ev->status;
    e->recoverable = ev->recoverable;
    e->input_tokens = ev->input_tokens;
    e->output_tokens = ev->output_tokens;
    e->total_tokens = ev->total_tokens;
    e->retry = ev->retry;
    e->id = e->name = e->arguments = e->reason = e->raw = e->source = NULL;
    e->text = NULL;
    if (ev->text.ptr && !(e->text = tw_py_str(ev->text))) goto error;
    if (ev->id.ptr && !(e->id = tw_py_str(ev->id))) goto error;
    if (ev->name.ptr && !(e->name = tw_py_str(ev->name))) goto error;
    if (ev->arguments.ptr && !(e->arguments = tw_py_str(ev->arguments))) goto error;
    if (ev->reason.ptr && !(e->reason = tw_py_str(ev->reason))) goto error;
    if (ev->raw.ptr && !(e->raw = tw_py_str(ev->raw))) goto error;
    if (source) {
        e->source = Py_NewRef(source);
    } else if (ev->source.ptr && !(e->source = tw_py_str(ev->source))) {
        goto error;
    }
    return (PyObject *)e;
error:
    Py_DECREF(e);
    return NULL;
}

static int str_field(PyObject *o, tw_str *out) {
    Py_ssize_t n;
    if (!o) {
        out->ptr = NULL;
        out->len = 0;
        return 0;
    }
    out->ptr = PyUnicode_AsUTF8AndSize(o, &n);
    if (!out->ptr) return -1;
    out->len = (size_t)n;
    return 0;
}

int tw_py_event_to_c(EventObject *e, tw_event *out) {
    tw_event_init(out);
    out->type = (tw_event_type)e->type;
    out->error_kind = (tw_error_kind)e->kind;
    out->index = e->index;
    out->status = e->status;
    out->recoverable = e->recoverable;
    out->input_tokens = e->input_tokens;
    out->output_tokens = e->output_tokens;
    out->total_tokens = e->total_tokens;
    out->retry = e->retry;
    if (str_field(e->text, &out->text) < 0 || str_field(e->id, &out->id) < 0 ||
        str_field(e->name, &out->name) < 0 || str_field(e->arguments, &out->arguments) < 0 ||
        str_field(e->reason, &out->reason) < 0 || str_field(e->raw, &out->raw) < 0 ||
        str_field(e->source, &out->source) < 0)
        return -1;
    return 0;
}

static void Event_dealloc(EventObject *e) {
    Py_XDECREF(e->text);
    Py_XDECREF(e->id);
    Py_XDECREF(e->name);
    Py_XDECREF(e->arguments);
    Py_XDECREF(e->reason);
    Py_XDECREF(e->raw);
    Py_XDECREF(e->source);
    PyObject_Free(e);
}

static int type_from_name(PyObject *name) {
    int i;
    for (i = 1; i < TW_EV__LAST; i++) {
        int r = PyUnicode_Compare(name, tw_state->type_names[i]);
        if (r == 0) return i;
        if (r == -1 && PyErr_Occurred()) return -1;
    }
    PyErr_Format(PyExc_ValueError, "unknown event type %R", name);
    return -1;
}

static int kind_from_name(PyObject *name) {
    int i;
    for (i = 0; i < TW_KIND__LAST; i++) {
        int r = PyUnicode_Compare(name, tw_state->kind_names[i]);
        if (r == 0) return i;
        if (r == -1 && PyErr_Occurred()) return -1;
    }
    PyErr_Format(PyExc_ValueError, "unknown error kind %R", name);
    return -1;
}

static int opt_tokens(PyObject *o, int64_t *out) {
    if (!o || o == Py_None) {
        *out = -1;
        return 0;
    }
    *out = PyLong_AsLongLong(o);
    if (*out == -1 && PyErr_Occurred()) return -1;
    return 0;
}

static int opt_text(PyObject *o, const char *what, PyObject **slot) {
    if (!o || o == Py_None) return 0;
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "Event %s must be str or None, not %.100s", what,
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    *slot = Py_NewRef(o);
    return 0;
}

static PyObject *Event_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"type",         "text",          "index",        "id",
                             "name",         "arguments",     "reason",       "input_tokens",
                             "output_tokens", "total_tokens", "kind",         "status",
                             "raw",          "source",        "retry",        "recoverable",
                             NULL};
    PyObject *tname, *text = NULL, *id = NULL, *name = NULL, *arguments = NULL, *reason = NULL;
    PyObject *in_t = NULL, *out_t = NULL, *tot_t = NULL, *kind = NULL, *raw = NULL;
    PyObject *source = NULL, *retry = NULL;
    int index = 0, status = 0, recoverable = 0, t;
    EventObject *e;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|$OiOOOOOOOOiOOOp:Event", kwlist, &tname,
                                     &text, &index, &id, &name, &arguments, &reason, &in_t,
                                     &out_t, &tot_t, &kind, &status, &raw, &source, &retry,
                                     &recoverable))
        return NULL;
    t = type_from_name(tname);
    if (t < 0) return NULL;
    e = (EventObject *)type->tp_alloc(type, 0);
    if (!e) return NULL;
    e->type = t;
    e->index = index;
    e->status = status;
    e->recoverable = recoverable;
    e->kind = 0;
    if (kind && kind != Py_None) {
        if (!PyUnicode_Check(kind)) {
            PyErr_SetString(PyExc_TypeError, "Event kind must be str or None");
            goto error;
        }
        if ((e->kind = kind_from_name(kind)) < 0) goto error;
    }
    if (opt_tokens(in_t, &e->input_tokens) < 0 || opt_tokens(out_t, &e->output_tokens) < 0 ||
        opt_tokens(tot_t, &e->total_tokens) < 0 || opt_tokens(retry, &e->retry) < 0)
        goto error;
    if (opt_text(text, "text", &e->text) < 0 || opt_text(id, "id", &e->id) < 0 ||
        opt_text(name, "name", &e->name) < 0 ||
        opt_text(arguments, "arguments", &e->arguments) < 0 ||
        opt_text(reason, "reason", &e->reason) < 0 || opt_text(raw, "raw", &e->raw) < 0 ||
        opt_text(source, "source", &e->source) < 0)
        goto error;
    return (PyObject *)e;
error:
    Py_DECREF(e);
    return NULL;
}

static inline PyObject *or_none(PyObject *o) { return Py_NewRef(o ? o : Py_None); }

static PyObject *Event_get_type(EventObject *e, void *c) {
    (void)c;
    return Py_NewRef(tw_state->type_names[e->type > 0 && e->type < TW_EV__LAST ? e->type : 0]);
}
static PyObject *Event_get_text(EventObject *e, void *c) {
    (void)c;
    return or_none(e->text);
}
static PyObject *Event_get_index(EventObject *e, void *c) {
    (void)c;
    return PyLong_FromLong(e->index);
}
static PyObject *Event_get_id(EventObject *e, void *c) {
    (void)c;
    return or_none(e->id);
}
static PyObject *Event_get_name(EventObject *e, void *c) {
    (void)c;
    return or_none(e->name);
}
static PyObject *Event_get_arguments(EventObject *e, void *c) {
    (void)c;
    return or_none(e->arguments);
}
static PyObject *Event_get_reason(EventObject *e, void *c) {
    (void)c;
    return or_none(e->reason);
}
static PyObject *Event_get_raw(EventObject *e, void *c) {
    (void)c;
    return or_none(e->raw);
}
static PyObject *Event_get_source(EventObject *e, void *c) {
    (void)c;
    return or_none(e->source);
}
static int Event_set_source(EventObject *e, PyObject *v, void *c) {
    (void)c;
    if (v && v != Py_None && !PyUnicode_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "Event.source must be str or None");
        return -1;
    }
    Py_XSETREF(e->source, (v && v != Py_None) ? Py_NewRef(v) : NULL);
    return 0;
}
static PyObject *tokens(int64_t v) {
    if (v < 0) Py_RETURN_NONE;
    return PyLong_FromLongLong(v);
}
static PyObject *Event_get_input_tokens(EventObject *e, void *c) {
    (void)c;
    return tokens(e->input_tokens);
}
static PyObject *Event_get_output_tokens(EventObject *e, void *c) {
    (void)c;
    return tokens(e->output_tokens);
}
static PyObject *Event_get_total_tokens(EventObject *e, void *c) {
    (void)c;
    return tokens(e->total_tokens);
}
static PyObject *Event_get_retry(EventObject *e, void *c) {
    (void)c;
    return tokens(e->retry);
}
static PyObject *Event_get_kind(EventObject *e, void *c) {
    (void)c;
    if (e->type != TW_EV_ERROR || e->kind <= 0 || e->kind >= TW_KIND__LAST) Py_RETURN_NONE;
    return Py_NewRef(tw_state->kind_names[e->kind]);
}
static PyObject *Event_get_status(EventObject *e, void *c) {
    (void)c;
    if (e->type != TW_EV_ERROR) Py_RETURN_NONE;
    return PyLong_FromLong(e->status);
}
static PyObject *Event_get_message(EventObject *e, void *c) {
    (void)c;
    if (e->type != TW_EV_ERROR) Py_RETURN_NONE;
    return or_none(e->text);
}
static PyObject *Event_get_recoverable(EventObject *e, void *c) {
    (void)c;
    if (e->type != TW_EV_ERROR) Py_RETURN_NONE;
    return PyBool_FromLong(e->recoverable);
}
static PyObject *Event_get_model(EventObject *e, void *c) {
    (void)c;
    if (e->type != TW_EV_START) Py_RETURN_NONE;
    return or_none(e->name);
}
static PyObject *Event_get_event(EventObject *e, void *c) {
    (void)c;
    if (e->type != TW_EV_RAW) Py_RETURN_NONE;
    return or_none(e->name);
}
static PyObject *Event_get_data(EventObject *e, void *c) {
    (void)c;
    if (e->type != TW_EV_RAW) Py_RETURN_NONE;
    return or_none(e->text);
}

static PyGetSetDef Event_getset[] = {
    {"type", (getter)Event_get_type, NULL, "Event type: 'text', 'tool_call', 'usage', ...", NULL},
    {"text", (getter)Event_get_text, NULL, "Text / reasoning delta, error message, raw data.",
     NULL},
    {"index", (getter)Event_get_index, NULL, "Choice / content block index.", NULL},
    {"id", (getter)Event_get_id, NULL, "Response id (start), call id (tool_call), event id.",
     NULL},
    {"name", (getter)Event_get_name, NULL, "Model (start), function (tool_call), SSE event name.",
     NULL},
    {"arguments", (getter)Event_get_arguments, NULL, "Tool-call arguments delta (JSON text).",
     NULL},
    {"reason", (getter)Event_get_reason, NULL, "Finish reason as the provider spelled it.", NULL},
    {"raw", (getter)Event_get_raw, NULL, "Error: the raw body or data that caused it.", NULL},
    {"source", (getter)Event_get_source, (setter)Event_set_source, "Agent name (merged streams).",
     NULL},
    {"input_tokens", (getter)Event_get_input_tokens, NULL, "Usage: prompt tokens or None.", NULL},
    {"output_tokens", (getter)Event_get_output_tokens, NULL, "Usage: completion tokens or None.",
     NULL},
    {"total_tokens", (getter)Event_get_total_tokens, NULL, "Usage: total tokens or None.", NULL},
    {"retry", (getter)Event_get_retry, NULL, "Raw SSE retry field in ms, or None.", NULL},
    {"kind", (getter)Event_get_kind, NULL, "Error kind: 'http', 'provider', 'timeout', ...",
     NULL},
    {"status", (getter)Event_get_status, NULL, "Error: HTTP status or provider code.", NULL},
    {"recoverable", (getter)Event_get_recoverable, NULL,
     "Error: True when one event was bad (malformed JSON, oversized) and the stream went on; "
     "False for the stream's terminal error.",
     NULL},
    {"message", (getter)Event_get_message, NULL, "Error: the message.", NULL},
    {"model", (getter)Event_get_model, NULL, "Start: the model name.", NULL},
    {"event", (getter)Event_get_event, NULL, "Raw: the SSE event name.", NULL},
    {"data", (getter)Event_get_data, NULL, "Raw: the SSE data / NDJSON line.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* The event's JSON object as the core writes it (tw_event_to_json: the `tokenwire parse` lines,
 * the ndjson format, the conformance cases), as a dict. */
static PyObject *Event_to_dict(EventObject *e, PyObject *Py_UNUSED(ignored)) {
    tw_event ev;
    tw_buf b;
    tw_code c;
    PyObject *s, *d;
    if (tw_py_event_to_c(e, &ev) < 0) return NULL;
    tw_buf_init(&b);
    c = tw_event_to_json(&ev, &b);
    if (c != TW_OK) {
        tw_buf_free(&b);
        return tw_py_raise_code(c, NULL);
    }
    s = PyUnicode_DecodeUTF8(b.data, (Py_ssize_t)b.len, "strict");
    tw_buf_free(&b);
    if (!s) return NULL;
    d = PyObject_CallOneArg(tw_state->json_loads, s);
    Py_DECREF(s);
    return d;
}

static PyObject *Event_repr(EventObject *e) {
    PyObject *d, *items = NULL, *r = NULL;
    d = Event_to_dict(e, NULL);
    if (!d) return NULL;
    if (PyDict_DelItemString(d, "type") < 0) goto cleanup;
    items = PyObject_Repr(d);
    if (!items) goto cleanup;
    r = PyUnicode_FromFormat(
        "Event(%R, %U)",
        tw_state->type_names[e->type > 0 && e->type < TW_EV__LAST ? e->type : 0], items);
cleanup:
    Py_XDECREF(items);
    Py_DECREF(d);
    return r;
}

static PyMethodDef Event_methods[] = {
    {"to_dict", (PyCFunction)Event_to_dict, METH_NOARGS,
     "The event as the core's JSON object (tw_event_to_json: the lines of `tokenwire parse` "
     "and the ndjson format): 'type', then only the fields set, e.g. start -> id, model; "
     "error -> kind, status, message, name, raw, recoverable."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject Event_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire.Event",
    .tp_doc = "A normalized streaming event (start, text, reasoning, tool_call, usage, finish, "
              "error, raw, end, agent_start, agent_complete, progress).",
    .tp_basicsize = sizeof(EventObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Event_new,
    .tp_dealloc = (destructor)Event_dealloc,
    .tp_getset = Event_getset,
    .tp_methods = Event_methods,
    .tp_repr = (reprfunc)Event_repr,
};

/*==============================================================================================
 * Done: an awaitable that is already complete
 *============================================================================================*/

typedef struct DoneObject {
    PyObject_HEAD
    PyObject *value;
} DoneObject;

/* Not GC-tracked: a Done lives for one await and holds only an event, str, list or bytes. */
PyObject *tw_py_done_new(PyObject *value) {
    DoneObject *d;
    if (!value) return NULL;
    d = PyObject_New(DoneObject, &Done_Type);
    if (!d) {
        Py_DECREF(value);
        return NULL;
    }
    d->value = value;
    return (PyObject *)d;
}

PyObject *tw_py_done_reuse(PyObject **cache, PyObject *value) {
    DoneObject *d = (DoneObject *)*cache;
    if (!value) return NULL;
    if (d && Py_REFCNT(d) == 1 && !d->value) {
        d->value = value;
        return Py_NewRef(d);
    }
    d = (DoneObject *)tw_py_done_new(value);
    if (!d) return NULL;
    Py_XSETREF(*cache, Py_NewRef(d));
    return (PyObject *)d;
}

static void Done_dealloc(DoneObject *d) {
    Py_CLEAR(d->value);
    PyObject_Free(d);
}

static PyObject *Done_await(PyObject *self) { return Py_NewRef(self); }

static PyObject *Done_next(DoneObject *d) {
    PyObject *v = d->value;
    d->value = NULL;
    if (!v) {
        PyErr_SetNone(PyExc_StopIteration);
        return NULL;
    }
    if (PyTuple_Check(v) || PyExceptionInstance_Check(v)) {
        PyObject *exc = PyObject_CallOneArg(PyExc_StopIteration, v);
        Py_DECREF(v);
        if (!exc) return NULL;
        PyErr_SetObject(PyExc_StopIteration, exc);
        Py_DECREF(exc);
    } else {
        PyErr_SetObject(PyExc_StopIteration, v);
        Py_DECREF(v);
    }
    return NULL;
}

static PyObject *Done_send(DoneObject *d, PyObject *Py_UNUSED(arg)) { return Done_next(d); }

static PyObject *Done_throw(DoneObject *d, PyObject *const *args, Py_ssize_t nargs) {
    Py_CLEAR(d->value);
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "throw() takes at least one argument");
        return NULL;
    }
    if (PyExceptionClass_Check(args[0])) {
        PyErr_SetObject(args[0], nargs > 1 ? args[1] : NULL);
    } else {
        PyErr_SetObject((PyObject *)Py_TYPE(args[0]), args[0]);
    }
    return NULL;
}

static PyObject *Done_close(DoneObject *d, PyObject *Py_UNUSED(ignored)) {
    Py_CLEAR(d->value);
    Py_RETURN_NONE;
}

#if TW_PY_310_PLUS
/* await hands the value over without raising StopIteration (PyIter_Send uses am_send). */
static PySendResult Done_am_send(DoneObject *d, PyObject *arg, PyObject **result) {
    PyObject *v = d->value;
    (void)arg;
    d->value = NULL;
    *result = v ? v : Py_NewRef(Py_None);
    return PYGEN_RETURN;
}
#endif

static PyAsyncMethods Done_async = {
    .am_await = Done_await,
#if TW_PY_310_PLUS
    .am_send = (sendfunc)Done_am_send,
#endif
};

static PyMethodDef Done_methods[] = {
    {"send", (PyCFunction)Done_send, METH_O, NULL},
    {"throw", (PyCFunction)(void (*)(void))Done_throw, METH_FASTCALL, NULL},
    {"close", (PyCFunction)Done_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

PyTypeObject Done_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire._native.Done",
    .tp_basicsize = sizeof(DoneObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Done_dealloc,
    .tp_as_async = &Done_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Done_next,
    .tp_methods = Done_methods,
};

/*==============================================================================================
 * Init
 *============================================================================================*/

int tw_py_init_event(PyObject *m) {
    PyTypeObject *types[] = {&Event_Type, &Done_Type};
    const char *names[] = {"Event", "Done"};
    size_t i;
    for (i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (PyType_Ready(types[i]) < 0) return -1;
        Py_INCREF(types[i]);
        if (PyModule_AddObject(m, names[i], (PyObject *)types[i]) < 0) {
            Py_DECREF(types[i]);
            return -1;
        }
    }
    return 0;
}
