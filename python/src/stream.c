/*
 * stream.c - tokenwire.Stream: one transfer's events, taken from the engine's batches, handed
 * out one step at a time in a mode (events, text, batches, encoded bytes); the terminal error
 * is raised after the events before it.
 */
#include "tw_py_stream.h"

/*==============================================================================================
 * Stream: consuming the engine's batches
 *============================================================================================*/

static int buf_set(tw_buf *b, tw_str s) {
    b->len = 0;
    return tw_buf_append(b, s.ptr ? s.ptr : "", s.len) == TW_OK ? 0 : -1;
}

static ToolCall *tool_call_slot(StreamObject *s, int32_t index) {
    size_t i;
    for (i = 0; i < s->n_calls; i++)
        if (s->calls[i].index == index) return &s->calls[i];
    if (s->n_calls == s->cap_calls) {
        size_t cap = s->cap_calls ? s->cap_calls * 2 : 4;
        ToolCall *nc = PyMem_Realloc(s->calls, cap * sizeof *nc);
        if (!nc) return NULL;
        s->calls = nc;
        s->cap_calls = cap;
    }
    s->calls[s->n_calls].index = index;
    tw_buf_init(&s->calls[s->n_calls].id);
    tw_buf_init(&s->calls[s->n_calls].name);
    tw_buf_init(&s->calls[s->n_calls].args);
    return &s->calls[s->n_calls++];
}

/* Bookkeeping for the summary properties; allocation failures only lose the summary. */
static void account(StreamObject *s, const tw_event *ev) {
    switch (ev->type) {
    case TW_EV_TEXT:
        if (s->accumulate && (ev->index == 0 || !s->multi_choice))
            (void)tw_buf_append(&s->text, ev->text.ptr, ev->text.len);
        break;
    case TW_EV_TOOL_CALL: {
        ToolCall *tc = s->accumulate ? tool_call_slot(s, ev->index) : NULL;
        if (!tc) break;
        if (ev->id.len && !tc->id.len) (void)buf_set(&tc->id, ev->id);
        if (ev->name.len && !tc->name.len) (void)buf_set(&tc->name, ev->name);
        if (ev->arguments.len) (void)tw_buf_append(&tc->args, ev->arguments.ptr, ev->arguments.len);
        break;
    }
    case TW_EV_USAGE:
        if (ev->input_tokens >= 0) s->in_tok = ev->input_tokens;
        if (ev->output_tokens >= 0) s->out_tok = ev->output_tokens;
        if (ev->total_tokens >= 0) s->tot_tok = ev->total_tokens;
        break;
    case TW_EV_FINISH:
        if (ev->index == 0 || !s->has_finish) {
            if (buf_set(&s->finish, ev->reason) == 0) s->has_finish = 1;
        }
        break;
    case TW_EV_START:
        if (ev->name.len) (void)buf_set(&s->model, ev->name);
        if (ev->id.len) (void)buf_set(&s->resp_id, ev->id);
        break;
    case TW_EV_END:
        s->done = 1;
        break;
    case TW_EV_ERROR:
        /* A recoverable error (one bad event) is delivered as an event and the stream goes
         * on; any other error is the stream's terminal event (the core says which). */
        if (!ev->recoverable) s->done = 1;
        break;
    default:
        break;
    }
}

/* The next event of the stream, borrowed until the next call. */
int tw_py_stream_next_raw(StreamObject *s, const tw_event **out) {
    for (;;) {
        if (s->cur) {
            if (s->cur_i < s->cur_n) {
                const tw_event *ev = tw_batch_get(s->cur, s->cur_i++);
                account(s, ev);
                *out = ev;
                return NR_EVENT;
            }
            tw_batch_free(s->cur);
            s->cur = NULL;
        }
        if (s->done || !s->ts) return NR_DONE;
        s->cur = tw_stream_take(s->ts);
        if (!s->cur) return tw_stream_finished(s->ts) ? NR_DONE : NR_EMPTY;
        s->cur_i = 0;
        s->cur_n = tw_batch_count(s->cur);
    }
}

/* After the terminal error event: remember the exception to raise once the events before it
 * have been handed out. @return 0, or -1 with an exception set. */
static int stash_error(StreamObject *s, const tw_event *ev) {
    PyObject *exc = tw_py_error_from_event(ev);
    if (!exc) return -1;
    Py_XSETREF(s->error, Py_NewRef(exc));
    Py_XSETREF(s->pending_exc, exc);
    return 0;
}

static void raise_pending(StreamObject *s) {
    PyObject *exc = s->pending_exc;
    s->pending_exc = NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
}

static PyObject *end_or_pending(StreamObject *s, int *st) {
    if (s->pending_exc) {
        raise_pending(s);
        *st = POP_ERROR;
    } else {
        *st = POP_END;
    }
    return NULL;
}

PyObject *tw_py_stream_pop(StreamObject *s, int mode, StreamIterObject *it, int *st) {
    const tw_event *ev;
    PyObject *list = NULL, *v;
    int r;
    if (s->closed) {
        *st = POP_END;
        return NULL;
    }
    if (s->pending_exc) return end_or_pending(s, st);
    switch (mode) {
    case MODE_EVENT:
        r = tw_py_stream_next_raw(s, &ev);
        if (r == NR_EMPTY) {
            *st = POP_EMPTY;
            return NULL;
        }
        if (r == NR_DONE || ev->type == TW_EV_END) return end_or_pending(s, st);
        if (ev->type == TW_EV_ERROR && s->done) {
            if (stash_error(s, ev) < 0) {
                *st = POP_ERROR;
                return NULL;
            }
            return end_or_pending(s, st);
        }
        v = tw_py_event_new(ev, NULL);
        *st = v ? POP_VALUE : POP_ERROR;
        return v;
    case MODE_TEXT:
        for (;;) {
            r = tw_py_stream_next_raw(s, &ev);
            if (r == NR_EMPTY) {
                *st = POP_EMPTY;
                return NULL;
            }
            if (r == NR_DONE || ev->type == TW_EV_END) return end_or_pending(s, st);
            if (ev->type == TW_EV_TEXT) {
                v = tw_py_str(ev->text);
                *st = v ? POP_VALUE : POP_ERROR;
                return v;
            }
            if (ev->type == TW_EV_ERROR && s->done) {
                if (stash_error(s, ev) < 0) {
                    *st = POP_ERROR;
                    return NULL;
                }
                return end_or_pending(s, st);
            }
        }
    case MODE_BATCH:
        for (;;) {
            r = tw_py_stream_next_raw(s, &ev);
            if (r == NR_EVENT && ev->type == TW_EV_ERROR && s->done) {
                if (stash_error(s, ev) < 0) goto fail;
                r = NR_DONE;
            }
            if (r == NR_EVENT && ev->type == TW_EV_END) r = NR_DONE;
            if (r != NR_EVENT) {
                if (list && PyList_GET_SIZE(list)) {
                    *st = POP_VALUE;
                    return list;
                }
                Py_XDECREF(list);
                if (r == NR_EMPTY) {
                    *st = POP_EMPTY;
                    return NULL;
                }
                return end_or_pending(s, st);
            }
            if (!list && !(list = PyList_New(0))) goto fail;
            v = tw_py_event_new(ev, NULL);
            if (!v) goto fail;
            if (PyList_Append(list, v) < 0) {
                Py_DECREF(v);
                goto fail;
            }
            Py_DECREF(v);
        }
    case MODE_ENCODED: {
        EncoderObject *enc = it->enc;
        for (;;) {
            r = tw_py_stream_next_raw(s, &ev);
            if (r == NR_EVENT) {
                if (tw_py_encoder_encode(enc, ev) < 0) goto fail;
                if (s->done) {
                    tw_code c = tw_encoder_finish(enc->enc, &enc->out);
                    if (c != TW_OK) {
                        tw_py_raise_code(c, NULL);
                        goto fail;
                    }
                    if (ev->type == TW_EV_ERROR) {
                        PyObject *exc = tw_py_error_from_event(ev);
                        if (!exc) goto fail;
                        Py_XSETREF(s->error, exc);
                    }
                }
                continue;
            }
            if (enc->out.len) {
                v = tw_py_encoder_take(enc);
                *st = v ? POP_VALUE : POP_ERROR;
                return v;
            }
            if (r == NR_EMPTY) {
                *st = POP_EMPTY;
                return NULL;
            }
            *st = POP_END;
            return NULL;
        }
    }
    default:
        PyErr_SetString(PyExc_SystemError, "bad iteration mode");
        break;
    }
fail:
    Py_XDECREF(list);
    *st = POP_ERROR;
    return NULL;
}
static void stream_release_c(StreamObject *s) {
    tw_stream *ts = s->ts;
    if (s->cur) {
        tw_batch_free(s->cur);
        s->cur = NULL;
    }
    if (ts) {
        s->ts = NULL;
        tw_stream_release(ts);
    }
}

static int Stream_traverse(StreamObject *s, visitproc visit, void *arg) {
    int r = tw_py_consumer_traverse((ConsumerObject *)s, visit, arg);
    if (r) return r;
    Py_VISIT(s->engine);
    Py_VISIT(s->pending_exc);
    Py_VISIT(s->error);
    return 0;
}

static int Stream_clear(StreamObject *s) {
    tw_py_consumer_clear((ConsumerObject *)s);
    Py_CLEAR(s->pending_exc);
    Py_CLEAR(s->error);
    return 0;
}

static void Stream_dealloc(StreamObject *s) {
    size_t i;
    PyObject_GC_UnTrack(s);
    stream_release_c(s);
    Stream_clear(s);
    Py_CLEAR(s->sink);
    Py_CLEAR(s->engine);
    tw_buf_free(&s->text);
    tw_buf_free(&s->model);
    tw_buf_free(&s->resp_id);
    tw_buf_free(&s->finish);
    for (i = 0; i < s->n_calls; i++) {
        tw_buf_free(&s->calls[i].id);
        tw_buf_free(&s->calls[i].name);
        tw_buf_free(&s->calls[i].args);
    }
    PyMem_Free(s->calls);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *Stream_anext(StreamObject *s) {
    if (s->merge) {
        PyErr_SetString(PyExc_RuntimeError, "this stream is consumed by a merge()");
        return NULL;
    }
    return tw_py_consumer_anext((ConsumerObject *)s, MODE_EVENT, NULL);
}

static PyObject *Stream_iternext(StreamObject *s) {
    return tw_py_stream_sync_next(s, MODE_EVENT, NULL);
}

/* Cancels the transfer unless it already ended; events already queued are dropped. */
static void stream_close(StreamObject *s) {
    if (s->ts && !s->done) tw_stream_cancel(s->ts);
    s->closed = 1;
    if (s->cur) {
        tw_batch_free(s->cur);
        s->cur = NULL;
    }
    tw_py_consumer_cancel_waiter((ConsumerObject *)s);
}

static PyObject *Stream_cancel(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    if (s->ts && !s->done) tw_stream_cancel(s->ts);
    Py_RETURN_NONE;
}

static PyObject *Stream_close(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    stream_close(s);
    Py_RETURN_NONE;
}

static PyObject *Stream_aclose(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    stream_close(s);
    return tw_py_done_new(Py_NewRef(Py_None));
}

static PyObject *Stream_aenter(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    return tw_py_done_new(Py_NewRef(s));
}

static PyObject *Stream_aexit(StreamObject *s, PyObject *const *args, Py_ssize_t nargs) {
    (void)args;
    (void)nargs;
    stream_close(s);
    return tw_py_done_new(Py_NewRef(Py_False));
}

static PyObject *Stream_enter(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    return Py_NewRef(s);
}

static PyObject *Stream_exit(StreamObject *s, PyObject *const *args, Py_ssize_t nargs) {
    (void)args;
    (void)nargs;
    stream_close(s);
    Py_RETURN_FALSE;
}

static PyObject *Stream_text(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    return tw_py_iter_new((ConsumerObject *)s, MODE_TEXT, NULL, 0);
}

static PyObject *Stream_batches(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    return tw_py_iter_new((ConsumerObject *)s, MODE_BATCH, NULL, 0);
}

static PyObject *Stream_encoded(StreamObject *s, PyObject *args, PyObject *kwargs) {
    return tw_py_encoded_view((ConsumerObject *)s, args, kwargs);
}

static PyObject *buf_str(const tw_buf *b) {
    return PyUnicode_DecodeUTF8(b->data ? b->data : "", (Py_ssize_t)b->len, "replace");
}

static PyObject *Stream_get_text_content(StreamObject *s, void *Py_UNUSED(c)) {
    if (!s->accumulate) Py_RETURN_NONE;
    return buf_str(&s->text);
}

static PyObject *Stream_get_tool_calls(StreamObject *s, void *Py_UNUSED(c)) {
    PyObject *list;
    size_t i;
    if (!s->accumulate) Py_RETURN_NONE;
    list = PyList_New(0);
    if (!list) return NULL;
    for (i = 0; i < s->n_calls; i++) {
        ToolCall *tc = &s->calls[i];
        PyObject *id = buf_str(&tc->id), *name = buf_str(&tc->name), *args = buf_str(&tc->args);
        PyObject *d = NULL;
        if (id && name && args)
            d = Py_BuildValue("{sisOsOsO}", "index", (int)tc->index, "id", id, "name", name,
                              "arguments", args);
        Py_XDECREF(id);
        Py_XDECREF(name);
        Py_XDECREF(args);
        if (!d || PyList_Append(list, d) < 0) {
            Py_XDECREF(d);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(d);
    }
    return list;
}

static PyObject *tok_or_none(int64_t v) {
    if (v < 0) Py_RETURN_NONE;
    return PyLong_FromLongLong(v);
}

static PyObject *Stream_get_usage(StreamObject *s, void *Py_UNUSED(c)) {
    PyObject *a, *b, *t, *d = NULL;
    if (s->in_tok < 0 && s->out_tok < 0 && s->tot_tok < 0) Py_RETURN_NONE;
    a = tok_or_none(s->in_tok);
    b = tok_or_none(s->out_tok);
    t = tok_or_none(s->tot_tok);
    if (a && b && t)
        d = Py_BuildValue("{sOsOsO}", "input_tokens", a, "output_tokens", b, "total_tokens", t);
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(t);
    return d;
}

static PyObject *Stream_get_finish_reason(StreamObject *s, void *Py_UNUSED(c)) {
    if (!s->has_finish) Py_RETURN_NONE;
    return buf_str(&s->finish);
}

static PyObject *Stream_get_model(StreamObject *s, void *Py_UNUSED(c)) {
    if (!s->model.len) Py_RETURN_NONE;
    return buf_str(&s->model);
}

static PyObject *Stream_get_response_id(StreamObject *s, void *Py_UNUSED(c)) {
    if (!s->resp_id.len) Py_RETURN_NONE;
    return buf_str(&s->resp_id);
}

static PyObject *Stream_get_done(StreamObject *s, void *Py_UNUSED(c)) {
    return PyBool_FromLong(s->done);
}

static PyObject *Stream_get_error(StreamObject *s, void *Py_UNUSED(c)) {
    return Py_NewRef(s->error ? s->error : Py_None);
}

static PyObject *Stream_get_dialect(StreamObject *s, void *Py_UNUSED(c)) {
    return PyUnicode_FromString(tw_dialect_name((tw_dialect)s->dialect));
}

static PyObject *Stream_get_metrics(StreamObject *s, void *Py_UNUSED(c)) {
    tw_metrics m;
    if (!s->ts) Py_RETURN_NONE;
    tw_stream_get_metrics(s->ts, &m);
    return Py_BuildValue("{sdsdsdsdsdsdsKsKsKsisisisisd}", "connect_time", m.connect_time,
                         "ttfb", m.ttfb, "ttft", m.ttft, "duration", m.duration, "gap_p50",
                         m.gap_p50, "gap_p99", m.gap_p99, "text_events",
                         (unsigned long long)m.text_events, "events",
                         (unsigned long long)m.events, "bytes", (unsigned long long)m.bytes,
                         "retries", m.retries, "http_status", (int)m.http_status,
                         "http_version", m.http_version, "connection_reused",
                         m.connection_reused, "retry_after", m.retry_after);
}

static PyMethodDef Stream_methods[] = {
    {"text", (PyCFunction)Stream_text, METH_NOARGS, "Iterator over the text deltas (str)."},
    {"batches", (PyCFunction)Stream_batches, METH_NOARGS,
     "Iterator over lists of every Event available at each step."},
    {"_encoded", (PyCFunction)(void (*)(void))Stream_encoded, METH_VARARGS | METH_KEYWORDS,
     "_encoded(encoder, heartbeat=0): async iterator of encoded bytes, one chunk per drain."},
    {"cancel", (PyCFunction)Stream_cancel, METH_NOARGS, "Cancel the upstream transfer."},
    {"close", (PyCFunction)Stream_close, METH_NOARGS, "Cancel unless finished (sync)."},
    {"aclose", (PyCFunction)Stream_aclose, METH_NOARGS, "Cancel unless finished (async)."},
    {"__aenter__", (PyCFunction)Stream_aenter, METH_NOARGS, NULL},
    {"__aexit__", (PyCFunction)(void (*)(void))Stream_aexit, METH_FASTCALL, NULL},
    {"__enter__", (PyCFunction)Stream_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))Stream_exit, METH_FASTCALL, NULL},
    TW_PY_CONSUMER_METHODS,
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Stream_getset[] = {
    {"text_content", (getter)Stream_get_text_content, NULL,
     "Text consumed so far (of choice 0 where the dialect has choices); None when the stream "
     "was started with accumulate=False.", NULL},
    {"tool_calls", (getter)Stream_get_tool_calls, NULL,
     "Tool calls consumed so far, arguments assembled: [{index, id, name, arguments}]; None "
     "when the stream was started with accumulate=False.", NULL},
    {"usage", (getter)Stream_get_usage, NULL, "Token usage dict, or None.", NULL},
    {"finish_reason", (getter)Stream_get_finish_reason, NULL, "Finish reason, or None.", NULL},
    {"model", (getter)Stream_get_model, NULL, "Model named by the provider, or None.", NULL},
    {"response_id", (getter)Stream_get_response_id, NULL, "Response id, or None.", NULL},
    {"done", (getter)Stream_get_done, NULL, "True once the terminal event was consumed.", NULL},
    {"error", (getter)Stream_get_error, NULL, "The terminal exception, or None.", NULL},
    {"metrics", (getter)Stream_get_metrics, NULL, "The engine's timings and counters.", NULL},
    {"dialect", (getter)Stream_get_dialect, NULL, "The request's dialect name ('openai', ...).",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyAsyncMethods Stream_async = {
    .am_aiter = PyObject_SelfIter,
    .am_anext = (unaryfunc)Stream_anext,
};

PyTypeObject Stream_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire.Stream",
    .tp_doc = "One streaming response: async or sync iteration over tokenwire.Event.",
    .tp_basicsize = sizeof(StreamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)Stream_dealloc,
    .tp_traverse = (traverseproc)Stream_traverse,
    .tp_clear = (inquiry)Stream_clear,
    .tp_as_async = &Stream_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Stream_iternext,
    .tp_methods = Stream_methods,
    .tp_getset = Stream_getset,
};


void tw_py_stream_cancel(StreamObject *s) {
    if (s->ts && !s->done) tw_stream_cancel(s->ts);
}

int tw_py_init_stream(PyObject *m) {
    if (PyType_Ready(&Stream_Type) < 0) return -1;
    Py_INCREF(&Stream_Type);
    if (PyModule_AddObject(m, "Stream", (PyObject *)&Stream_Type) < 0) {
        Py_DECREF(&Stream_Type);
        return -1;
    }
    return 0;
}
