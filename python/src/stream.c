/*
 * stream.c - tokenwire.Stream: one transfer's events, taken from the engine's batches, handed
 * out one step at a time in a mode (events, text, batches, encoded bytes); the terminal error
 * is raised after the events before it.
 */
#include "tw_py_stream.h"

static PyObject *summary_value(StreamObject *s, int what);

/*==============================================================================================
 * Stream: consuming the engine's batches
 *============================================================================================*/

/* A stream of the parent, in a fork() child: its transfer, and the core's summary of it, are
 * the parent's (tw_stream_summary gives an empty one here). */
static int stream_forked(const StreamObject *s) { return s->te && tw_engine_forked(s->te); }

/* The summary of a stream of the parent in a fork() child: text and reasoning not known (not
 * kept, so None rather than ""), plus what this process received of it: the terminal event
 * (the core's transport error), if consumed. NULL on NOMEM. */
static tw_summary *forked_summary(const StreamObject *s, const tw_event *terminal) {
    tw_summary *sum = tw_summary_new(0, tw_dialect_indexes_choices((tw_dialect)s->dialect));
    if (sum && terminal) tw_summary_add(sum, terminal); /* NOMEM: the end stays unknown */
    return sum;
}

/* The next event of the stream, borrowed until the next call. */
int tw_py_stream_next_raw(StreamObject *s, const tw_event **out) {
    s->last_logged = NULL;
    if (s->replay.state == REPLAY_RUN && s->replay.events) {
        /* A relay or merge took over a stream the app read from: those events first. */
        int r = tw_py_replay_next(s, out);
        if (r != NR_EMPTY) return r;
    }
    for (;;) {
        if (s->cur) {
            if (s->cur_i < s->cur_n) {
                const tw_event *ev = tw_batch_get(s->cur, s->cur_i++);
                /* The core says which event ends the stream: END or an error that is not
                 * recoverable (one bad event is delivered and the stream goes on). */
                if (tw_event_is_terminal(ev)) {
                    s->done = 1;
                    if (!s->final_sum && stream_forked(s))
                        s->final_sum = forked_summary(s, ev); /* NULL: made again on demand */
                }
                *out = ev;
                if (s->replay.state == REPLAY_LOG && !s->merge) tw_py_replay_log_raw(s, ev);
                if (s->callbacks && tw_py_callbacks_dispatch(s, ev) < 0) {
                    /* The callback's exception goes first; the stream's own terminal error
                     * stays known (.error, final()). */
                    if (s->done && ev->type == TW_EV_ERROR && !s->error) {
                        PyObject *exc = tw_py_fetch_exception();
                        s->error = tw_py_error_from_event(ev);
                        if (!s->error) PyErr_Clear();
                        if (exc) tw_py_restore_exception(exc);
                    }
                    return NR_ERROR;
                }
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

/* The terminal error as the exception to raise again (final() after the stream ended). */
static PyObject *raise_error_again(StreamObject *s, int *st) {
    PyErr_SetObject((PyObject *)Py_TYPE(s->error), s->error);
    *st = POP_ERROR;
    return NULL;
}

/* MODE_FINAL and MODE_SKIP: every event available is consumed (callbacks called) and dropped.
 * FINAL: the summary once the stream ended, else POP_EMPTY (the parked Future stays parked
 * until the end). SKIP: None after each chunk consumed, POP_END at the end. Either raises the
 * terminal error. */
static PyObject *stream_drain(StreamObject *s, int mode, int *st) {
    const tw_event *ev;
    int r, n = 0;
    if (!s->closed) {
        for (;;) {
            r = tw_py_stream_next_raw(s, &ev);
            if (r == NR_ERROR) {
                *st = POP_ERROR;
                return NULL;
            }
            if (r == NR_EMPTY) {
                if (mode == MODE_SKIP && n) {
                    *st = POP_VALUE;
                    Py_RETURN_NONE;
                }
                *st = POP_EMPTY;
                return NULL;
            }
            if (r == NR_DONE) break;
            n++;
            if (ev->type == TW_EV_ERROR && s->done && stash_error(s, ev) < 0) {
                *st = POP_ERROR;
                return NULL;
            }
        }
    }
    if (s->pending_exc) return end_or_pending(s, st);
    if (mode == MODE_SKIP) {
        *st = POP_END;
        return NULL;
    }
    if (s->error) return raise_error_again(s, st);
    *st = POP_VALUE;
    return summary_value(s, -1);
}

PyObject *tw_py_stream_pop(StreamObject *s, int mode, StreamIterObject *it, int *st) {
    const tw_event *ev;
    PyObject *list = NULL, *v;
    int r;
    if (mode == MODE_FINAL || mode == MODE_SKIP) return stream_drain(s, mode, st);
    if (s->closed) {
        *st = POP_END;
        return NULL;
    }
    if (s->pending_exc) return end_or_pending(s, st);
    switch (mode) {
    case MODE_EVENT:
        r = tw_py_stream_next_raw(s, &ev);
        if (r == NR_ERROR) goto fail;
        if (r == NR_EMPTY) {
            *st = POP_EMPTY;
            return NULL;
        }
        if (r == NR_DONE || ev->type == TW_EV_END) return end_or_pending(s, st);
        if (ev->type == TW_EV_ERROR && s->done) {
            if (stash_error(s, ev) < 0) goto fail;
            return end_or_pending(s, st);
        }
        v = tw_py_replay_event(s, ev);
        *st = v ? POP_VALUE : POP_ERROR;
        return v;
    case MODE_TEXT:
        for (;;) {
            r = tw_py_stream_next_raw(s, &ev);
            if (r == NR_ERROR) goto fail;
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
                if (stash_error(s, ev) < 0) goto fail;
                return end_or_pending(s, st);
            }
        }
    case MODE_BATCH:
        for (;;) {
            r = tw_py_stream_next_raw(s, &ev);
            if (r == NR_ERROR) goto fail;
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
            v = tw_py_replay_event(s, ev);
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
            r = enc->out.len >= TW_PY_ENCODED_STEP_BYTES ? NR_EMPTY
                                                         : tw_py_stream_next_raw(s, &ev);
            if (r == NR_ERROR) goto fail;
            if (r == NR_EVENT) {
                if (tw_py_encoder_encode(enc, ev) < 0) goto fail;
                /* Not s->done: a replayed stream may be done before its last event is. */
                if (tw_event_is_terminal(ev)) {
                    tw_code c = tw_encoder_finish(enc->enc, &enc->out);
                    if (c != TW_OK) {
                        tw_py_raise_code(c, NULL);
                        goto fail;
                    }
                    if (enc->tee) tw_py_tee_on_terminal(enc, ev);
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
    if ((r = tw_py_callbacks_traverse(s, visit, arg))) return r;
    Py_VISIT(s->pending_exc);
    Py_VISIT(s->error);
    return 0;
}

static int Stream_clear(StreamObject *s) {
    tw_py_consumer_clear((ConsumerObject *)s);
    tw_py_callbacks_clear(s);
    Py_CLEAR(s->pending_exc);
    Py_CLEAR(s->error);
    tw_py_replay_clear(&s->replay);
    return 0;
}

static void Stream_dealloc(StreamObject *s) {
    PyObject_GC_UnTrack(s);
    stream_release_c(s);
    Stream_clear(s);
    Py_CLEAR(s->sink);
    Py_CLEAR(s->engine);
    tw_summary_free(s->final_sum);
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

/* The relay's view: what the app read already is replayed into the encoder first (its
 * terminal error too, so that exception is not raised again). */
static PyObject *Stream_encoded(StreamObject *s, PyObject *args, PyObject *kwargs) {
    PyObject *view;
    int was_logging = s->replay.state == REPLAY_LOG;
    if (s->merge) {
        PyErr_SetString(PyExc_RuntimeError, "this stream is consumed by a merge()");
        return NULL;
    }
    if (!(view = tw_py_encoded_view((ConsumerObject *)s, args, kwargs))) return NULL;
    if (tw_py_replay_start(&s->replay, "relay") < 0) {
        Py_DECREF(view);
        return NULL;
    }
    if (was_logging) Py_CLEAR(s->pending_exc);
    return view;
}

static PyObject *Stream_get_replay_limit(StreamObject *s, void *Py_UNUSED(c)) {
    return tw_py_replay_get_limit(&s->replay);
}

static int Stream_set_replay_limit(StreamObject *s, PyObject *v, void *Py_UNUSED(c)) {
    return tw_py_replay_set_limit(&s->replay, v);
}

/*==============================================================================================
 * The result: the core's summary of the stream
 *============================================================================================*/

/* The stream's summary (tw_stream_summary: every event queued so far, whether or not it was
 * consumed yet). Once the terminal event was consumed it is final and kept (*owned = 0);
 * before, a fresh snapshot the caller frees (*owned = 1). NULL with MemoryError. */
static tw_summary *stream_summary(StreamObject *s, int *owned) {
    tw_summary *sum;
    *owned = 0;
    if (s->final_sum) return s->final_sum;
    /* After tp_clear the stream is gone: nothing is known of it (nothing kept either). */
    if (!s->ts) sum = tw_summary_new(0, 0);
    else if (stream_forked(s)) sum = forked_summary(s, NULL);
    else sum = tw_stream_summary(s->ts);
    if (!sum) {
        PyErr_NoMemory();
        return NULL;
    }
    if (s->done) s->final_sum = sum;
    else *owned = 1;
    return sum;
}

static PyObject *summary_value(StreamObject *s, int what) {
    int owned;
    tw_summary *sum = stream_summary(s, &owned);
    PyObject *v;
    if (!sum) return NULL;
    v = what < 0 ? tw_py_summary_dict(sum) : tw_py_summary_value(sum, what);
    if (owned) tw_summary_free(sum);
    return v;
}

static PyObject *Stream_get_summary(StreamObject *s, void *Py_UNUSED(c)) {
    return summary_value(s, -1);
}
static PyObject *Stream_get_text_content(StreamObject *s, void *Py_UNUSED(c)) {
    return summary_value(s, TW_PY_SUM_TEXT);
}
static PyObject *Stream_get_reasoning(StreamObject *s, void *Py_UNUSED(c)) {
    return summary_value(s, TW_PY_SUM_REASONING);
}
static PyObject *Stream_get_tool_calls(StreamObject *s, void *Py_UNUSED(c)) {
    return summary_value(s, TW_PY_SUM_TOOL_CALLS);
}
static PyObject *Stream_get_usage(StreamObject *s, void *Py_UNUSED(c)) {
    return summary_value(s, TW_PY_SUM_USAGE);
}
static PyObject *Stream_get_finish_reason(StreamObject *s, void *Py_UNUSED(c)) {
    return summary_value(s, TW_PY_SUM_FINISH);
}
static PyObject *Stream_get_finish_reason_raw(StreamObject *s, void *Py_UNUSED(c)) {
    return summary_value(s, TW_PY_SUM_FINISH_RAW);
}
static PyObject *Stream_get_model(StreamObject *s, void *Py_UNUSED(c)) {
    return summary_value(s, TW_PY_SUM_MODEL);
}
static PyObject *Stream_get_id(StreamObject *s, void *Py_UNUSED(c)) {
    return summary_value(s, TW_PY_SUM_ID);
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
    return Py_BuildValue("{sdsdsdsdsdsdsKsKsKsisisisisdsOsdsdsisO}", "connect_time",
                         m.connect_time, "ttfb", m.ttfb, "ttft", m.ttft, "duration", m.duration,
                         "gap_p50", m.gap_p50, "gap_p99", m.gap_p99, "text_events",
                         (unsigned long long)m.text_events, "events",
                         (unsigned long long)m.events, "bytes", (unsigned long long)m.bytes,
                         "retries", m.retries, "http_status", (int)m.http_status,
                         "http_version", m.http_version, "connection_reused",
                         m.connection_reused, "retry_after", m.retry_after, "streamed",
                         m.streamed ? Py_True : Py_False, "generation_time",
                         m.generation_time, "tokens_per_second", m.tokens_per_second,
                         "fallback_index", m.fallback_index, "simulated",
                         m.simulated ? Py_True : Py_False);
}

static PyMethodDef Stream_methods[] = {
    {"text", (PyCFunction)Stream_text, METH_NOARGS, "Iterator over the text deltas (str)."},
    {"batches", (PyCFunction)Stream_batches, METH_NOARGS,
     "Iterator over lists of every Event available at each step."},
    {"_encoded", (PyCFunction)(void (*)(void))Stream_encoded, METH_VARARGS | METH_KEYWORDS,
     "_encoded(encoder, heartbeat=0): async iterator of encoded bytes, one chunk per drain."},
    {"on", (PyCFunction)(void (*)(void))tw_py_Stream_on, METH_FASTCALL,
     "on(type, callback) -> self: call callback for every event of type ('text' and "
     "'reasoning' get the delta str, other types the Event) or every event ('event'), "
     "whatever consumes the stream; async callbacks are awaited in order in async "
     "consumption."},
    {"final", (PyCFunction)tw_py_Stream_final, METH_NOARGS,
     "Consume the rest (callbacks still called, nothing handed out) and return the summary "
     "dict; raises the stream's terminal error. Awaitable for streams from Client.stream(), "
     "a plain call (blocking) for those from stream_sync()."},
    {"_skip", (PyCFunction)tw_py_Stream_skip, METH_NOARGS, NULL},
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
    {"replay_limit", (getter)Stream_get_replay_limit, (setter)Stream_set_replay_limit,
     "How many of the events read from the stream (iteration, text(), batches(), final()) are "
     "kept so that a relay or merge() started later sends them first (default 64; 0 keeps "
     "none). Past it they are dropped and a relay or merge of the stream raises ValueError.",
     NULL},
    {"summary", (getter)Stream_get_summary, NULL,
     "The stream's result as the core defines it (tw_summary_to_json): {id, model, text, "
     "reasoning, finish_reason, finish_reason_raw, choices, tool_calls, usage, end, error, "
     "recoverable_errors}; as of the events received so far (final once the stream ended).",
     NULL},
    {"text_content", (getter)Stream_get_text_content, NULL,
     "summary['text']: the text of choice 0; None when started with accumulate=False.", NULL},
    {"reasoning", (getter)Stream_get_reasoning, NULL,
     "summary['reasoning']: the reasoning of choice 0; None when accumulate=False.", NULL},
    {"tool_calls", (getter)Stream_get_tool_calls, NULL,
     "summary['tool_calls']: [{index, id, name, arguments}] assembled per index (first id / "
     "name win, argument deltas concatenated); kept with accumulate=False too.", NULL},
    {"usage", (getter)Stream_get_usage, NULL,
     "summary['usage']: {input_tokens, output_tokens, total_tokens} (total derived when the "
     "provider gave none), or None.", NULL},
    {"finish_reason", (getter)Stream_get_finish_reason, NULL,
     "summary['finish_reason']: of choice 0, normalized (stop, length, tool_calls, "
     "content_filter, error, other), or None.", NULL},
    {"finish_reason_raw", (getter)Stream_get_finish_reason_raw, NULL,
     "summary['finish_reason_raw']: as the provider spelled it, or None.", NULL},
    {"model", (getter)Stream_get_model, NULL, "summary['model']: the model named, or None.",
     NULL},
    {"id", (getter)Stream_get_id, NULL, "summary['id']: the response id, or None.", NULL},
    {"done", (getter)Stream_get_done, NULL, "True once the terminal event was consumed.", NULL},
    {"error", (getter)Stream_get_error, NULL, "The terminal exception, or None.", NULL},
    {"metrics", (getter)Stream_get_metrics, NULL,
     "The engine's timings and counters (connect_time, ttfb, ttft, duration, gap_p50, "
     "gap_p99, generation_time, tokens_per_second, streamed, ...).", NULL},
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
