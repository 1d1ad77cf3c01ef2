/*
 * encoder.c - tokenwire.Encoder: normalized events to downstream bytes in one of the core's
 * formats (openai, events, ai-sdk, ndjson, text), optionally with event ids for resumable
 * relays (tw_encoder_opts.event_id_prefix / first_event_seq: written by the core), or in an
 * app's own vocabulary (a tokenwire.Format: a copy of its compiled template).
 */
#include "tw_py.h"
#include "tw_py_stream.h"

int tw_py_encoder_encode(EncoderObject *e, const tw_event *ev) {
    tw_code c = tw_encoder_encode(e->enc, ev, &e->out);
    if (c != TW_OK) {
        tw_py_raise_code(c, NULL);
        return -1;
    }
    return 0;
}

/* constants={name: value}: this stream's values of the template's constants (the spec
 * declares them), each written as JSON. @return 0 or -1 (ValueError / TypeError raised). */
static int set_constants(EncoderObject *self, PyObject *consts) {
    PyObject *name, *value;
    Py_ssize_t pos = 0;
    if (!PyDict_Check(consts)) {
        PyErr_Format(PyExc_TypeError, "constants must be a dict, not %.100s",
                     Py_TYPE(consts)->tp_name);
        return -1;
    }
    while (PyDict_Next(consts, &pos, &name, &value)) {
        PyObject *text;
        const char *n, *j;
        Py_ssize_t nl, jl;
        tw_error err = {0};
        tw_code c;
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "constants names must be str");
            return -1;
        }
        if (!(n = PyUnicode_AsUTF8AndSize(name, &nl))) return -1;
        if (!(text = tw_py_json_text(value, "a constant"))) return -1;
        if (!(j = PyUnicode_AsUTF8AndSize(text, &jl))) {
            Py_DECREF(text);
            return -1;
        }
        c = tw_encoder_set_constant(self->enc, n, (size_t)nl, j, (size_t)jl, &err);
        Py_DECREF(text);
        if (c != TW_OK) {
            tw_py_raise_code(c, &err);
            return -1;
        }
    }
    return 0;
}

static PyObject *Encoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"format", "id", "model", "dialect", "event_id_prefix",
                             "first_event_seq", "messages", "constants", "phases", NULL};
    PyObject *fmt, *dialect = Py_None, *prefix = Py_None, *first = NULL, *consts = Py_None;
    int messages = 0, phases = 0;
    const char *id = NULL, *model = NULL;
    tw_encoder_opts o;
    tw_error err = {0};
    tw_format f;
    tw_dialect dl = (tw_dialect)0;
    EncoderObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|zzO$OOpOp:Encoder", kwlist, &fmt, &id,
                                     &model, &dialect, &prefix, &first, &messages, &consts,
                                     &phases))
        return NULL;
    if (PyObject_TypeCheck(fmt, &Format_Type)) f = (tw_format)0;
    else if (!(f = (tw_format)tw_py_format_arg(fmt))) return NULL;
    if (dialect != Py_None && !(dl = (tw_dialect)tw_py_dialect_arg(dialect))) return NULL;
    tw_encoder_opts_init(&o);
    if (prefix != Py_None) {
        Py_ssize_t n;
        if (!PyUnicode_Check(prefix)) {
            PyErr_Format(PyExc_TypeError, "event_id_prefix must be str or None, not %.100s",
                         Py_TYPE(prefix)->tp_name);
            return NULL;
        }
        if (!(o.event_id_prefix = PyUnicode_AsUTF8AndSize(prefix, &n))) return NULL;
        if (strlen(o.event_id_prefix) != (size_t)n) {
            /* The core takes a C string: a NUL would silently cut the id short. */
            PyErr_SetString(PyExc_ValueError, "invalid event_id_prefix: NUL inside");
            return NULL;
        }
    }
    if (first && first != Py_None) {
        if (!PyLong_Check(first) || PyBool_Check(first)) {
            PyErr_Format(PyExc_TypeError, "first_event_seq must be an int, not %.100s",
                         Py_TYPE(first)->tp_name);
            return NULL;
        }
        o.first_event_seq = (uint64_t)PyLong_AsUnsignedLongLong(first);
        if (PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "first_event_seq must be an int >= 0 (64 bits)");
            return NULL;
        }
    }
    self = (EncoderObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    tw_buf_init(&self->out);
    /* A name is kept canonical (aliases resolved), a Format as given. */
    self->format_obj = f ? PyUnicode_InternFromString(tw_format_name(f)) : Py_NewRef(fmt);
    if (!self->format_obj) {
        Py_DECREF(self);
        return NULL;
    }
    self->event_id_prefix = Py_NewRef(prefix);
    o.id = id;
    o.model = model;
    o.messages = self->messages = messages;
    o.phases = phases;
    /* The source dialect decides what an event index means (None: content-block position). */
    o.index_is_choice = tw_dialect_indexes_choices(dl);
    self->enc = f ? tw_encoder_new(f, &o, &err)
                  : tw_encoder_new_like(((FormatObject *)fmt)->proto, &o, &err);
    if (!self->enc) {
        Py_DECREF(self);
        return tw_py_raise_code(err.code ? err.code : TW_ERR_NOMEM, &err);
    }
    if (consts != Py_None && set_constants(self, consts) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void Encoder_dealloc(EncoderObject *self) {
    if (self->tee) tw_py_tee_link_free(self);
    tw_encoder_free(self->enc);
    tw_buf_free(&self->out);
    Py_XDECREF(self->event_id_prefix);
    Py_XDECREF(self->format_obj);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyObject *tw_py_encoder_take(EncoderObject *enc) {
    PyObject *r;
    const size_t *lens;
    size_t n, at = 0;
    if (enc->tee) tw_py_tee_on_take(enc);
    if (!enc->messages) {
        r = PyBytes_FromStringAndSize(enc->out.data, (Py_ssize_t)enc->out.len);
        enc->out.len = 0;
        return r;
    }
    /* One str per message: the core wrote them back to back and recorded their lengths. */
    lens = tw_encoder_message_lens(enc->enc, &n);
    r = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; r && i < n; i++) {
        PyObject *m = PyUnicode_DecodeUTF8(enc->out.data + at, (Py_ssize_t)lens[i], "replace");
        if (!m) Py_CLEAR(r);
        else PyList_SET_ITEM(r, (Py_ssize_t)i, m);
        at += lens[i];
    }
    tw_encoder_messages_clear(enc->enc);
    enc->out.len = 0;
    return r;
}

static PyObject *take_out(EncoderObject *self) { return tw_py_encoder_take(self); }

static PyObject *Encoder_encode(EncoderObject *self, PyObject *events) {
    PyObject *seq, *r = NULL;
    Py_ssize_t i, n;
    tw_event ev;
    if (PyObject_TypeCheck(events, &Event_Type)) {
        if (tw_py_event_to_c((EventObject *)events, &ev) < 0) return NULL;
        if (tw_py_encoder_encode(self, &ev) < 0) return NULL;
        return take_out(self);
    }
    seq = PySequence_Fast(events, "encode() takes an Event or a sequence of Events");
    if (!seq) return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyObject_TypeCheck(item, &Event_Type)) {
            PyErr_Format(PyExc_TypeError, "encode() items must be tokenwire.Event, not %.100s",
                         Py_TYPE(item)->tp_name);
            goto cleanup;
        }
        if (tw_py_event_to_c((EventObject *)item, &ev) < 0) goto cleanup;
        if (tw_py_encoder_encode(self, &ev) < 0) goto cleanup;
    }
    r = take_out(self);
cleanup:
    if (!r) {
        self->out.len = 0;
        tw_encoder_messages_clear(self->enc);
    }
    Py_DECREF(seq);
    return r;
}

static PyObject *Encoder_finish(EncoderObject *self, PyObject *Py_UNUSED(ignored)) {
    tw_code c = tw_encoder_finish(self->enc, &self->out);
    if (c != TW_OK) return tw_py_raise_code(c, NULL);
    return take_out(self);
}

/* json.dumps(payload) as the core takes it (strict JSON: no NaN; UTF-8 kept). Its TypeError
 * (not serializable) or ValueError (NaN, a cycle) is the app's error, as json raised it. */
static PyObject *payload_text(PyObject *payload) {
    PyObject *json = PyImport_ImportModule("json"), *dumps, *kw = NULL, *args = NULL, *r = NULL;
    if (!json) return NULL;
    dumps = PyObject_GetAttrString(json, "dumps");
    Py_DECREF(json);
    if (!dumps) return NULL;
    kw = Py_BuildValue("{sOsO}", "allow_nan", Py_False, "ensure_ascii", Py_False);
    args = PyTuple_Pack(1, payload);
    if (kw && args) r = PyObject_Call(dumps, args, kw);
    Py_DECREF(dumps);
    Py_XDECREF(kw);
    Py_XDECREF(args);
    return r;
}

/* An app event's name and payload (any json-serializable value) as the core takes them.
 * @return the payload's JSON text (a new str) or NULL (TypeError / ValueError raised). */
static PyObject *app_args(PyObject *name, PyObject *payload, const char **n, Py_ssize_t *nl,
                          const char **j, Py_ssize_t *jl) {
    PyObject *text;
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "an app event's name must be str, not %.100s",
                     Py_TYPE(name)->tp_name);
        return NULL;
    }
    if (!(*n = PyUnicode_AsUTF8AndSize(name, nl))) return NULL;
    if (!(text = payload_text(payload))) return NULL;
    if (!(*j = PyUnicode_AsUTF8AndSize(text, jl))) Py_CLEAR(text);
    return text;
}

/* The bytes (or messages) of a core call that appended to self->out, or its error. */
static PyObject *app_result(EncoderObject *self, tw_code c, const tw_error *err) {
    if (c != TW_OK) return tw_py_raise_code(c, err);
    return take_out(self);
}

static PyObject *Encoder_send(EncoderObject *self, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *text;
    const char *n, *j;
    Py_ssize_t nl, jl;
    tw_error err = {0};
    tw_code c;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "send(name, payload) takes 2 arguments");
        return NULL;
    }
    if (!(text = app_args(args[0], args[1], &n, &nl, &j, &jl))) return NULL;
    c = tw_encoder_send(self->enc, n, (size_t)nl, j, (size_t)jl, &self->out, &err);
    Py_DECREF(text);
    return app_result(self, c, &err);
}

static PyObject *Encoder_progress(EncoderObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"value", "status", NULL};
    double v;
    const char *st = NULL;
    Py_ssize_t sl = 0;
    tw_error err = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "d|z#:progress", kwlist, &v, &st, &sl))
        return NULL;
    return app_result(self, tw_encoder_progress(self->enc, v, st, (size_t)sl, &self->out, &err),
                      &err);
}

static PyObject *Encoder_close(EncoderObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"name", "payload", NULL};
    PyObject *name = Py_None, *payload = Py_None, *text = NULL, *r;
    const char *n = NULL, *j = NULL;
    Py_ssize_t nl = 0, jl = 0;
    tw_error err = {0};
    tw_code c;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:close", kwlist, &name, &payload))
        return NULL;
    if (name != Py_None && !(text = app_args(name, payload, &n, &nl, &j, &jl))) return NULL;
    c = tw_encoder_close(self->enc, n, (size_t)nl, j, (size_t)jl, &self->out, &err);
    r = app_result(self, c, &err);
    Py_XDECREF(text);
    return r;
}

static PyObject *Encoder_heartbeat(EncoderObject *self, PyObject *Py_UNUSED(ignored)) {
    tw_code c = tw_encoder_heartbeat(self->enc, &self->out);
    if (c != TW_OK) return tw_py_raise_code(c, NULL);
    return take_out(self);
}

/* The headers say it for a template too (its framing): content-type comes first. */
static PyObject *Encoder_get_content_type(EncoderObject *self, void *Py_UNUSED(c)) {
    return PyUnicode_FromString(tw_encoder_headers(self->enc)[1]);
}

static PyObject *Encoder_get_headers(EncoderObject *self, void *Py_UNUSED(c)) {
    return tw_py_headers_list(tw_encoder_headers(self->enc));
}

static PyObject *Encoder_get_format(EncoderObject *self, void *Py_UNUSED(c)) {
    return Py_NewRef(self->format_obj);
}

static PyObject *Encoder_get_event_id_prefix(EncoderObject *self, void *Py_UNUSED(c)) {
    return Py_NewRef(self->event_id_prefix ? self->event_id_prefix : Py_None);
}

static PyObject *Encoder_get_messages(EncoderObject *self, void *Py_UNUSED(c)) {
    return PyBool_FromLong(self->messages);
}

static PyObject *Encoder_get_next_event_seq(EncoderObject *self, void *Py_UNUSED(c)) {
    return PyLong_FromUnsignedLongLong((unsigned long long)tw_encoder_next_event_seq(self->enc));
}

/* Encoder._taken(source): whether a relay or a merge already took source over (its replay log
 * left the logging state), so that a second relay is refused instead of sending nothing. */
static PyObject *Encoder_taken(PyObject *Py_UNUSED(cls), PyObject *src) {
    int state;
    if (PyObject_TypeCheck(src, &Stream_Type)) {
        StreamObject *s = (StreamObject *)src;
        state = s->merge ? REPLAY_RUN : s->replay.state;
    } else if (PyObject_TypeCheck(src, &Merge_Type)) {
        state = ((MergeObject *)src)->replay.state;
    } else {
        PyErr_Format(PyExc_TypeError, "a relay's source is a tokenwire Stream or merge(), not "
                     "%.100s", Py_TYPE(src)->tp_name);
        return NULL;
    }
    return PyBool_FromLong(state == REPLAY_RUN || state == REPLAY_OFF);
}

static PyMethodDef Encoder_methods[] = {
    {"_taken", (PyCFunction)Encoder_taken, METH_O | METH_STATIC,
     "_taken(source): True when a relay or merge() already took the Stream / merge over."},
    {"encode", (PyCFunction)Encoder_encode, METH_O, "Bytes for one Event or a list of Events."},
    {"finish", (PyCFunction)Encoder_finish, METH_NOARGS, "The closing bytes (once)."},
    {"send", (PyCFunction)(void (*)(void))Encoder_send, METH_FASTCALL,
     "send(name, payload): the bytes of an app event (payload: any json-serializable value) "
     "in this format: SSE 'event: name', an NDJSON {\"event\", \"data\"} line, an AI SDK "
     "data-<name> part, a template's \"app\" entry; b'' for text. tokenwire.Error once "
     "closed."},
    {"progress", (PyCFunction)(void (*)(void))Encoder_progress, METH_VARARGS | METH_KEYWORDS,
     "progress(value, status=None): the app event 'progress' {\"progress\": value in [0, 1], "
     "\"status\": status}."},
    {"close", (PyCFunction)(void (*)(void))Encoder_close, METH_VARARGS | METH_KEYWORDS,
     "close(name=None, payload=None): the end of the relay, once: the format's own, with the "
     "app's final event (name, payload) in place of the format's (events' complete) or before "
     "its end marker ([DONE], finish). tokenwire.Error when already closed."},
    {"heartbeat", (PyCFunction)Encoder_heartbeat, METH_NOARGS,
     "A keep-alive comment for SSE formats (b'' otherwise)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Encoder_getset[] = {
    {"content_type", (getter)Encoder_get_content_type, NULL, "The format's Content-Type.", NULL},
    {"headers", (getter)Encoder_get_headers, NULL,
     "The response headers for relaying this format: [(name, value), ...] (content-type, "
     "no-buffering headers, the AI SDK header).", NULL},
    {"format", (getter)Encoder_get_format, NULL,
     "The format's name as given, or the tokenwire.Format it was made from.", NULL},
    {"event_id_prefix", (getter)Encoder_get_event_id_prefix, NULL,
     "The stream id the event ids carry ('<prefix>:<seq>'), or None (no ids).", NULL},
    {"messages", (getter)Encoder_get_messages, NULL,
     "True: one message per event (WebSocket relays); encode() / finish() return a list of "
     "str.", NULL},
    {"next_event_seq", (getter)Encoder_get_next_event_seq, NULL,
     "The seq the next event id will carry (first_event_seq + events written so far); the "
     "last id written is '<prefix>:<next_event_seq - 1>'.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject Encoder_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire.Encoder",
    .tp_doc = "Encoder(format, id=None, model=None, dialect=None, *, event_id_prefix=None, "
              "first_event_seq=0): normalized events to downstream bytes in format (a name "
              "or a tokenwire.Format); dialect (of the "
              "source) decides whether an event index is a choice. With event_id_prefix every "
              "SSE event starts with 'id: <prefix>:<seq>' (comments and heartbeats get none) "
              "and every NDJSON line carries \"event_id\"; seq counts from first_event_seq, one "
              "per event; text carries no ids. messages=True: one message per event, for "
              "WebSocket relays (encode / finish return a list of str: NDJSON lines without "
              "newline, SSE events as {\"event\", \"id\", \"data\"} JSON, text deltas; "
              "heartbeat() gives []). constants={name: value} (a Format's encoders only): this "
              "stream's values of constants the spec declares (ValueError for others). "
              "phases=True: a relay of several sources: the end of each source ends a phase "
              "only (finish() writes no end of stream); close() writes the end once.",
    .tp_basicsize = sizeof(EncoderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Encoder_new,
    .tp_dealloc = (destructor)Encoder_dealloc,
    .tp_methods = Encoder_methods,
    .tp_getset = Encoder_getset,
};

int tw_py_init_encoder(PyObject *m) {
    /* Format is the encoders' other face (their templates): registered with them. */
    if (tw_py_init_format(m) < 0) return -1;
    if (PyType_Ready(&Encoder_Type) < 0) return -1;
    Py_INCREF(&Encoder_Type);
    if (PyModule_AddObject(m, "Encoder", (PyObject *)&Encoder_Type) < 0) {
        Py_DECREF(&Encoder_Type);
        return -1;
    }
    return 0;
}
