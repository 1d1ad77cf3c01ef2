/*
 * parsers.c - the I/O-free parsers: tokenwire.SSEParser (with its tokenwire.SSEEvent) and
 * tokenwire.Decoder (dialect decoders to tokenwire.Event).
 */
#include "tw_py.h"

/*==============================================================================================
 * SSEEvent
 *============================================================================================*/

typedef struct SSEEventObject {
    PyObject_HEAD
    PyObject *event;
    PyObject *data;
    PyObject *id;
    int64_t retry;
} SSEEventObject;

static void SSEEvent_dealloc(SSEEventObject *e) {
    Py_XDECREF(e->event);
    Py_XDECREF(e->data);
    Py_XDECREF(e->id);
    PyObject_Free(e);
}

static PyObject *SSEEvent_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"data", "event", "id", "retry", NULL};
    PyObject *data, *event = NULL, *id = NULL, *retry = Py_None;
    SSEEventObject *e;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|UUO:SSEEvent", kwlist, &data, &event, &id,
                                     &retry))
        return NULL;
    e = (SSEEventObject *)type->tp_alloc(type, 0);
    if (!e) return NULL;
    e->data = Py_NewRef(data);
    e->event = Py_NewRef(event ? event : tw_state->str_message);
    e->id = Py_NewRef(id ? id : tw_state->str_empty);
    e->retry = -1;
    if (retry != Py_None) {
        e->retry = PyLong_AsLongLong(retry);
        if (e->retry == -1 && PyErr_Occurred()) {
            Py_DECREF(e);
            return NULL;
        }
    }
    return (PyObject *)e;
}

static PyObject *SSEEvent_get_retry(SSEEventObject *e, void *Py_UNUSED(c)) {
    if (e->retry < 0) Py_RETURN_NONE;
    return PyLong_FromLongLong(e->retry);
}

static PyObject *SSEEvent_repr(SSEEventObject *e) {
    if (e->retry >= 0)
        return PyUnicode_FromFormat("SSEEvent(event=%R, data=%R, id=%R, retry=%lld)", e->event,
                                    e->data, e->id, (long long)e->retry);
    return PyUnicode_FromFormat("SSEEvent(event=%R, data=%R, id=%R, retry=None)", e->event,
                                e->data, e->id);
}

static PyObject *SSEEvent_richcompare(PyObject *a, PyObject *b, int op) {
    SSEEventObject *x = (SSEEventObject *)a, *y = (SSEEventObject *)b;
    int eq;
    if (!PyObject_TypeCheck(b, &SSEEvent_Type) || (op != Py_EQ && op != Py_NE))
        Py_RETURN_NOTIMPLEMENTED;
    eq = x->retry == y->retry;
    if (eq) eq = PyUnicode_Compare(x->event, y->event) == 0;
    if (eq) eq = PyUnicode_Compare(x->data, y->data) == 0;
    if (eq) eq = PyUnicode_Compare(x->id, y->id) == 0;
    if (PyErr_Occurred()) return NULL;
    return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

static PyMemberDef SSEEvent_members[] = {
    {"event", T_OBJECT_EX, offsetof(SSEEventObject, event), READONLY,
     "Event type ('message' when the stream gave none)."},
    {"data", T_OBJECT_EX, offsetof(SSEEventObject, data), READONLY,
     "Data lines joined with newlines."},
    {"id", T_OBJECT_EX, offsetof(SSEEventObject, id), READONLY,
     "The last event id at dispatch time (possibly empty)."},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef SSEEvent_getset[] = {
    {"retry", (getter)SSEEvent_get_retry, NULL, "This event's retry field in ms, or None.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject SSEEvent_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire.SSEEvent",
    .tp_doc = "One dispatched Server-Sent Event.",
    .tp_basicsize = sizeof(SSEEventObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = SSEEvent_new,
    .tp_dealloc = (destructor)SSEEvent_dealloc,
    .tp_members = SSEEvent_members,
    .tp_getset = SSEEvent_getset,
    .tp_repr = (reprfunc)SSEEvent_repr,
    .tp_richcompare = SSEEvent_richcompare,
};

/*==============================================================================================
 * SSEParser
 *============================================================================================*/

typedef struct SSEParserObject {
    PyObject_HEAD
    tw_sse_parser *p;
    PyObject *last_id;  /* cache: the str of the last event id seen */
    PyObject *out;      /* list being filled by the current feed (borrowed) */
} SSEParserObject;

static PyObject *SSEParser_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"last_event_id", "max_event_size", NULL};
    PyObject *last_id = Py_None;
    Py_ssize_t max_event_size = 0, id_len = 0;
    tw_sse_opts o;
    SSEParserObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O$n:SSEParser", kwlist, &last_id,
                                     &max_event_size))
        return NULL;
    if (max_event_size < 0) {
        PyErr_SetString(PyExc_ValueError, "max_event_size must be >= 0");
        return NULL;
    }
    tw_sse_opts_init(&o);
    o.max_event_size = (size_t)max_event_size;
    if (last_id != Py_None) {
        if (!PyUnicode_Check(last_id)) {
            PyErr_Format(PyExc_TypeError, "last_event_id must be str or None, not %.100s",
                         Py_TYPE(last_id)->tp_name);
            return NULL;
        }
        o.last_event_id = PyUnicode_AsUTF8AndSize(last_id, &id_len);
        if (!o.last_event_id) return NULL;
        /* An id field holding NUL is ignored by the spec: no stream could set such an id. */
        if (memchr(o.last_event_id, '\0', (size_t)id_len)) {
            PyErr_SetString(PyExc_ValueError, "last_event_id must not contain NUL");
            return NULL;
        }
        o.last_event_id_len = (size_t)id_len;
    }
    self = (SSEParserObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->p = tw_sse_parser_new(&o);
    if (!self->p) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void SSEParser_dealloc(SSEParserObject *self) {
    tw_sse_parser_free(self->p);
    Py_XDECREF(self->last_id);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *id_str(SSEParserObject *self, tw_str id) {
    if (!id.len) return Py_NewRef(tw_state->str_empty);
    if (self->last_id) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(self->last_id, &n);
        if (s && (size_t)n == id.len && !memcmp(s, id.ptr, id.len))
            return Py_NewRef(self->last_id);
        PyErr_Clear();
    }
    Py_XSETREF(self->last_id, tw_py_str(id));
    return Py_XNewRef(self->last_id);
}

static int on_sse_event(void *ud, const tw_sse_event *ev) {
    SSEParserObject *self = ud;
    SSEEventObject *e = PyObject_New(SSEEventObject, &SSEEvent_Type);
    int r;
    if (!e) return 1;
    e->retry = ev->retry;
    e->data = tw_py_str(ev->data);
    if (ev->event.len == 7 && !memcmp(ev->event.ptr, "message", 7))
        e->event = Py_NewRef(tw_state->str_message);
    else
        e->event = tw_py_str(ev->event);
    e->id = id_str(self, ev->id);
    if (!e->data || !e->event || !e->id) {
        Py_DECREF(e);
        return 1;
    }
    r = PyList_Append(self->out, (PyObject *)e);
    Py_DECREF(e);
    return r < 0;
}

static PyObject *SSEParser_feed(SSEParserObject *self, PyObject *arg) {
    Py_buffer view;
    PyObject *out;
    tw_error err = {0};
    tw_code c;
    if (PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "SSEParser.feed() takes bytes, not str");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    out = PyList_New(0);
    if (!out) {
        PyBuffer_Release(&view);
        return NULL;
    }
    self->out = out;
    c = tw_sse_parser_feed(self->p, view.buf, (size_t)view.len, on_sse_event, self, &err);
    self->out = NULL;
    PyBuffer_Release(&view);
    if (c == TW_OK) return out;
    if (c == TW_ERR_CANCELLED && PyErr_Occurred()) {
        Py_DECREF(out);
        return NULL;
    }
    if (c == TW_ERR_SSE_PROTOCOL) {
        /* The parser skips to the next blank line and goes on; the events dispatched before
         * the oversized one travel with the exception so that nothing is lost silently. */
        const char *msg = err.msg[0] ? err.msg : "SSE event too large";
        tw_str m = {msg, strlen(msg)}, none = {NULL, 0};
        PyObject *exc = tw_py_error_new(TW_KIND_PROTOCOL, 0, m, none, none);
        if (exc && PyObject_SetAttrString(exc, "events", out) < 0) Py_CLEAR(exc);
        tw_py_raise_error(exc);
        Py_DECREF(out);
        return NULL;
    }
    Py_DECREF(out);
    return tw_py_raise_code(c, &err);
}

static PyObject *SSEParser_finish(SSEParserObject *self, PyObject *Py_UNUSED(ignored)) {
    tw_code c = tw_sse_parser_finish(self->p);
    if (c != TW_OK) return tw_py_raise_code(c, NULL);
    return PyList_New(0); /* the last event id stays: it is the next connection's */
}

static PyObject *SSEParser_reset(SSEParserObject *self, PyObject *Py_UNUSED(ignored)) {
    tw_sse_parser_reset(self->p);
    Py_CLEAR(self->last_id);
    Py_RETURN_NONE;
}

static PyObject *SSEParser_get_last_event_id(SSEParserObject *self, void *Py_UNUSED(c)) {
    return id_str(self, tw_sse_parser_last_event_id(self->p));
}

static PyMethodDef SSEParser_methods[] = {
    {"feed", (PyCFunction)SSEParser_feed, METH_O,
     "feed(data: bytes) -> list[SSEEvent]: the events completed by data."},
    {"finish", (PyCFunction)SSEParser_finish, METH_NOARGS,
     "End of the connection: an unterminated event is discarded (WHATWG), nothing is "
     "dispatched, returns []; last_event_id is kept (a reconnect sends it) and the parser can "
     "read the next connection."},
    {"reset", (PyCFunction)SSEParser_reset, METH_NOARGS,
     "Forget all state, last_event_id included."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef SSEParser_getset[] = {
    {"last_event_id", (getter)SSEParser_get_last_event_id, NULL,
     "The last event ID string (the core's): the id in effect at the last dispatched event "
     "(an id-only block counts), or the one given at creation; never the id of a block not "
     "dispatched yet; kept after finish().",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject SSEParser_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire.SSEParser",
    .tp_doc = "SSEParser(last_event_id=None, *, max_event_size=0): incremental WHATWG "
              "event-stream parser; last_event_id resumes from a known id (the one a "
              "reconnect sent in Last-Event-ID).",
    .tp_basicsize = sizeof(SSEParserObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = SSEParser_new,
    .tp_dealloc = (destructor)SSEParser_dealloc,
    .tp_methods = SSEParser_methods,
    .tp_getset = SSEParser_getset,
};

/*==============================================================================================
 * Decoder
 *============================================================================================*/

typedef struct DecoderObject {
    PyObject_HEAD
    tw_decoder *d;
    tw_summary *sum; /* fed every event the decoder emits (the core's summary rules) */
    int dialect;
} DecoderObject;

/* Where decoded events go: the list being returned, and the decoder's summary. */
typedef struct decode_ctx {
    PyObject *out;
    tw_summary *sum;
} decode_ctx;

static PyObject *Decoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"dialect", "max_event_size", NULL};
    PyObject *name;
    Py_ssize_t max_event_size = 0;
    tw_dialect dl;
    tw_decoder_opts o;
    tw_error err = {0};
    DecoderObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$n:Decoder", kwlist, &name,
                                     &max_event_size))
        return NULL;
    if (!(dl = (tw_dialect)tw_py_dialect_arg(name))) return NULL;
    if (max_event_size < 0) {
        PyErr_SetString(PyExc_ValueError, "max_event_size must be >= 0");
        return NULL;
    }
    self = (DecoderObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->dialect = (int)dl;
    tw_decoder_opts_init(&o);
    o.max_event_size = (size_t)max_event_size;
    self->d = tw_decoder_new(dl, &o, &err);
    if (!self->d) {
        Py_DECREF(self);
        return tw_py_raise_code(err.code ? err.code : TW_ERR_NOMEM, &err);
    }
    self->sum = tw_summary_new(1, tw_dialect_indexes_choices(dl));
    if (!self->sum) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static void Decoder_dealloc(DecoderObject *self) {
    tw_decoder_free(self->d);
    tw_summary_free(self->sum);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int on_event(void *ud, const tw_event *ev) {
    decode_ctx *c = ud;
    PyObject *e;
    int r;
    if (tw_summary_add(c->sum, ev) != TW_OK) {
        PyErr_NoMemory();
        return 1;
    }
    e = tw_py_event_new(ev, NULL);
    if (!e) return 1;
    r = PyList_Append(c->out, e);
    Py_DECREF(e);
    return r < 0;
}

typedef tw_code (*decode_fn)(tw_decoder *, const char *, size_t, tw_event_fn, void *,
                             tw_error *);

static PyObject *decode_with(DecoderObject *self, PyObject *arg, decode_fn fn, const char *what) {
    Py_buffer view;
    PyObject *out;
    decode_ctx ctx;
    tw_error err = {0};
    tw_code c;
    if (PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "Decoder.%s() takes bytes, not str", what);
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    out = PyList_New(0);
    if (!out) {
        PyBuffer_Release(&view);
        return NULL;
    }
    ctx.out = out;
    ctx.sum = self->sum;
    c = fn(self->d, view.buf, (size_t)view.len, on_event, &ctx, &err);
    PyBuffer_Release(&view);
    if (c == TW_OK) return out;
    Py_DECREF(out);
    if (c == TW_ERR_CANCELLED && PyErr_Occurred()) return NULL;
    return tw_py_raise_code(c, &err);
}

static PyObject *Decoder_feed(DecoderObject *self, PyObject *arg) {
    return decode_with(self, arg, tw_decoder_feed, "feed");
}

static PyObject *Decoder_decode_body(DecoderObject *self, PyObject *arg) {
    return decode_with(self, arg, tw_decoder_decode_body, "decode_body");
}

static PyObject *Decoder_finish(DecoderObject *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyList_New(0);
    tw_error err = {0};
    tw_code c;
    decode_ctx ctx;
    if (!out) return NULL;
    ctx.out = out;
    ctx.sum = self->sum;
    c = tw_decoder_finish(self->d, on_event, &ctx, &err);
    if (c == TW_OK) return out;
    Py_DECREF(out);
    if (c == TW_ERR_CANCELLED && PyErr_Occurred()) return NULL;
    return tw_py_raise_code(c, &err);
}

static PyObject *Decoder_get_done(DecoderObject *self, void *Py_UNUSED(c)) {
    return PyBool_FromLong(tw_decoder_done(self->d));
}

static PyObject *Decoder_get_summary(DecoderObject *self, void *Py_UNUSED(c)) {
    return tw_py_summary_dict(self->sum);
}

static PyObject *Decoder_get_dialect(DecoderObject *self, void *Py_UNUSED(c)) {
    return PyUnicode_FromString(tw_dialect_name((tw_dialect)self->dialect));
}

static PyMethodDef Decoder_methods[] = {
    {"feed", (PyCFunction)Decoder_feed, METH_O,
     "feed(data: bytes) -> list[Event]: normalized events completed by data."},
    {"finish", (PyCFunction)Decoder_finish, METH_NOARGS,
     "End of input -> list[Event] (deferred events, and 'end' on a clean end)."},
    {"decode_body", (PyCFunction)Decoder_decode_body, METH_O,
     "decode_body(body: bytes) -> list[Event]: a whole non-streaming JSON response."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Decoder_getset[] = {
    {"done", (getter)Decoder_get_done, NULL, "True once the end marker or a provider error came.",
     NULL},
    {"dialect", (getter)Decoder_get_dialect, NULL, "The dialect's name.", NULL},
    {"summary", (getter)Decoder_get_summary, NULL,
     "The result of every event decoded so far, built in C by the core's summary "
     "(tw_summary_to_json): the same dict as Stream.summary.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject Decoder_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire.Decoder",
    .tp_doc = "Decoder(dialect, *, max_event_size=0): raw response bytes to normalized events.",
    .tp_basicsize = sizeof(DecoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Decoder_new,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
    .tp_getset = Decoder_getset,
};

int tw_py_init_parsers(PyObject *m) {
    PyTypeObject *types[] = {&SSEEvent_Type, &SSEParser_Type, &Decoder_Type};
    const char *names[] = {"SSEEvent", "SSEParser", "Decoder"};
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
