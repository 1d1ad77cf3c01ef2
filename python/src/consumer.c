/*
 * consumer.c - consumers (a Stream or a merge) on an event loop or a thread: one step at a time,
 * done at once when events are queued, else one parked Future that the loop's reader resolves
 * on the Future's own loop; cancelling the upstream when the waiting task is cancelled; the
 * blocking step of synchronous iteration; the text / batches / encoded views (StreamIter).
 */
#include "tw_py_stream.h"

#include <math.h>

/*==============================================================================================
 * Consumer dispatch
 *============================================================================================*/

static PyObject *consumer_pop(ConsumerObject *c, int mode, StreamIterObject *it, int *st) {
    if (c->is_merge) return tw_py_merge_pop((MergeObject *)c, mode, it, st);
    return tw_py_stream_pop((StreamObject *)c, mode, it, st);
}

static void consumer_cancel(ConsumerObject *c) {
    if (c->is_merge) {
        tw_py_merge_cancel((MergeObject *)c);
    } else {
        tw_py_stream_cancel((StreamObject *)c);
    }
}

/* Before c parks a Future of loop: loop watches the sink of every stream c reads. */
static int watch_sinks(ConsumerObject *c, PyObject *loop) {
    if (c->is_merge) {
        MergeObject *m = (MergeObject *)c;
        Py_ssize_t i;
        for (i = 0; i < m->n; i++)
            if (!tw_framer_completed(m->framer, (size_t)i) &&
                tw_py_stream_watch(m->ent[i].s, loop) < 0)
                return -1;
        return 0;
    }
    return tw_py_stream_watch((StreamObject *)c, loop);
}

/*==============================================================================================
 * Consumers: parking one Future, waking it, cancelling on abandonment
 *============================================================================================*/

static void cancel_heartbeat(ConsumerObject *c) {
    PyObject *h = c->hb_handle, *r;
    if (!h) return;
    c->hb_handle = NULL;
    r = PyObject_CallMethodNoArgs(h, tw_state->str_cancel);
    if (r) Py_DECREF(r);
    else PyErr_Clear();
    Py_DECREF(h);
}

/* Forgets the parked Future (returned, owned by the caller; NULL if none) and what goes with
 * it. Runs on the Future's loop. */
PyObject *tw_py_consumer_unpark(ConsumerObject *c) {
    PyObject *fut = c->waiter;
    c->waiter = NULL;
    Py_CLEAR(c->waiter_iter);
    Py_CLEAR(c->waiter_loop);
    cancel_heartbeat(c);
    return fut;
}

/* Completes the parked Future with the outcome of a pop (st != POP_EMPTY). */
static void consumer_resolve(ConsumerObject *c, PyObject *v, int st) {
    PyObject *fut = tw_py_consumer_unpark(c), *r = NULL;
    if (!fut) {
        Py_XDECREF(v);
        return;
    }
    if (st == POP_VALUE) {
        r = PyObject_CallMethodOneArg(fut, tw_state->str_set_result, v);
        Py_DECREF(v);
    } else {
        PyObject *exc;
        if (st == POP_END) {
            exc = PyObject_CallNoArgs(PyExc_StopAsyncIteration);
        } else {
            exc = tw_py_fetch_exception();
        }
        if (exc) {
            r = PyObject_CallMethodOneArg(fut, tw_state->str_set_exception, exc);
            Py_DECREF(exc);
        }
    }
    if (r) Py_DECREF(r);
    else PyErr_WriteUnraisable(fut);
    Py_DECREF(fut);
}

static int future_done(PyObject *fut) {
    PyObject *r = PyObject_CallMethodNoArgs(fut, tw_state->str_done);
    int d;
    if (!r) {
        PyErr_Clear();
        return 1;
    }
    d = PyObject_IsTrue(r);
    Py_DECREF(r);
    return d != 0;
}

/* On the Future's loop: give the parked Future what is now available. */
static void consumer_wake(ConsumerObject *c) {
    PyObject *v;
    int st;
    if (!c->waiter) return;
    /* Cancelled but its done-callback has not run yet: take nothing for it. */
    if (future_done(c->waiter)) return;
    c->defer = 1;
    v = consumer_pop(c, c->waiter_mode, c->waiter_iter, &st);
    c->defer = 0;
    if (st == POP_EMPTY) return;
    consumer_resolve(c, v, st);
}

/* Hands the wakeup to the loop of the parked Future (another thread's loop). */
static void consumer_post_wake(ConsumerObject *c) {
    PyObject *cb, *r = NULL;
    if (!c->waiter_loop) return;
    cb = PyObject_GetAttr((PyObject *)c, tw_state->str_wake);
    if (cb) {
        r = PyObject_CallMethodOneArg(c->waiter_loop, tw_state->str_call_soon_threadsafe, cb);
        Py_DECREF(cb);
    }
    /* Fails only when that loop is closed: then nobody awaits the Future any more. */
    if (r) Py_DECREF(r);
    else PyErr_Clear();
}

/* From a reader running on loop: wake c on its own loop. */
void tw_py_consumer_notify(ConsumerObject *c, PyObject *loop) {
    if (!c->waiter) return;
    if (c->waiter_loop == loop) consumer_wake(c);
    else consumer_post_wake(c);
}

/* call_soon_threadsafe target of consumer_post_wake, on the Future's loop. */
PyObject *tw_py_Consumer_wake(ConsumerObject *c, PyObject *Py_UNUSED(ignored)) {
    PyObject *loop;
    if (!c->waiter) Py_RETURN_NONE;
    loop = tw_py_running_loop();
    if (loop && loop == c->waiter_loop) consumer_wake(c);
    else consumer_post_wake(c); /* parked again meanwhile, on yet another loop */
    Py_XDECREF(loop);
    Py_RETURN_NONE;
}

/* Future done-callback: a Future still parked here when it completes was cancelled (its task
 * was cancelled or a timeout wrapper gave up): cancel the upstream transfer. */
PyObject *tw_py_Consumer_waiter_done(ConsumerObject *c, PyObject *fut) {
    if (c->waiter == fut) {
        Py_DECREF(tw_py_consumer_unpark(c));
        consumer_cancel(c);
    }
    Py_RETURN_NONE;
}

PyObject *tw_py_Consumer_heartbeat(ConsumerObject *c, PyObject *Py_UNUSED(ignored)) {
    PyObject *h = c->hb_handle;
    c->hb_handle = NULL;
    Py_XDECREF(h);
    if (c->waiter && c->waiter_mode == MODE_ENCODED && c->waiter_iter) {
        EncoderObject *enc = c->waiter_iter->enc;
        tw_code code = tw_encoder_heartbeat(enc->enc, &enc->out);
        if (code != TW_OK) {
            tw_py_raise_code(code, NULL);
            consumer_resolve(c, NULL, POP_ERROR);
        } else {
            PyObject *v = tw_py_encoder_take(enc);
            consumer_resolve(c, v, v ? POP_VALUE : POP_ERROR);
        }
    }
    Py_RETURN_NONE;
}

int tw_py_consumer_busy(ConsumerObject *c) {
    if (!c->waiter) return 0;
    if (!future_done(c->waiter)) return 1;
    Py_DECREF(tw_py_consumer_unpark(c));
    return 0;
}

/* The awaitable for one step: done at once when something is available, else a Future. */
static PyObject *consumer_step(ConsumerObject *c, int mode, StreamIterObject *it) {
    PyObject *v, *loop = NULL, *fut = NULL, *r, *cb;
    int st;
    if (c->waiter) {
        if (!future_done(c->waiter)) {
            PyErr_SetString(PyExc_RuntimeError,
                            "another coroutine is already waiting on this stream");
            return NULL;
        }
        Py_DECREF(tw_py_consumer_unpark(c));
    }
    c->defer = 1;
    v = consumer_pop(c, mode, it, &st);
    c->defer = 0;
    switch (st) {
    case POP_VALUE:
        return tw_py_done_reuse(&c->done_cache, v);
    case POP_END:
        PyErr_SetNone(PyExc_StopAsyncIteration);
        return NULL;
    case POP_ERROR:
        return NULL;
    default:
        break;
    }
    loop = PyObject_CallNoArgs(tw_state->get_running_loop);
    if (!loop) return NULL;
    if (watch_sinks(c, loop) < 0) goto error;
    fut = PyObject_CallMethodNoArgs(loop, tw_state->str_create_future);
    if (!fut) goto error;
    /* Bound methods are made here rather than cached on the consumer: a cached one would
     * be a reference cycle through the consumer itself and delay its collection. */
    cb = PyObject_GetAttr((PyObject *)c, tw_state->str_waiter_done);
    if (!cb) goto error;
    r = PyObject_CallMethodOneArg(fut, tw_state->str_add_done_callback, cb);
    Py_DECREF(cb);
    if (!r) goto error;
    Py_DECREF(r);
    if (mode == MODE_ENCODED && it && it->heartbeat > 0) {
        PyObject *delay = PyFloat_FromDouble(it->heartbeat);
        if (!delay) goto error;
        cb = PyObject_GetAttr((PyObject *)c, tw_state->str_heartbeat);
        if (cb)
            c->hb_handle = PyObject_CallMethodObjArgs(loop, tw_state->str_call_later, delay, cb,
                                                      NULL);
        Py_DECREF(delay);
        Py_XDECREF(cb);
        if (!c->hb_handle) goto error;
    }
    c->waiter = Py_NewRef(fut);
    c->waiter_loop = loop; /* the reference from get_running_loop */
    c->waiter_mode = mode;
    Py_XINCREF(it);
    c->waiter_iter = it;
    return fut;
error:
    Py_XDECREF(fut);
    Py_XDECREF(loop);
    return NULL;
}

PyObject *tw_py_consumer_anext(ConsumerObject *c, int mode, StreamIterObject *it) {
    PyObject *aw = consumer_step(c, mode, it);
    /* With callbacks, the step's awaitable first calls those of the events it consumed. */
    if (tw_py_consumer_has_callbacks(c)) return tw_py_callbacks_wrap(c, aw);
    return aw;
}

/* Synchronous step: blocks (GIL released) until something is available. */
PyObject *tw_py_stream_sync_next(StreamObject *s, int mode, StreamIterObject *it) {
    for (;;) {
        int st;
        PyObject *v;
        s->defer = 0; /* callbacks are called as the events are taken */
        v = tw_py_stream_pop(s, mode, it, &st);
        if (st == POP_VALUE) return v;
        if (st == POP_ERROR) return NULL;
        if (st == POP_END) return NULL; /* StopIteration */
        {
            tw_stream *ts = s->ts;
            Py_BEGIN_ALLOW_THREADS
            (void)tw_stream_wait(ts, 100);
            Py_END_ALLOW_THREADS
        }
        if (PyErr_CheckSignals() < 0) {
            tw_stream_cancel(s->ts);
            return NULL;
        }
    }
}

/*==============================================================================================
 * Consumer state
 *============================================================================================*/

int tw_py_consumer_init(ConsumerObject *c, int is_merge) {
    c->is_merge = is_merge;
    return 0;
}

int tw_py_consumer_traverse(ConsumerObject *c, visitproc visit, void *arg) {
    Py_VISIT(c->waiter);
    Py_VISIT(c->waiter_loop);
    Py_VISIT(c->waiter_iter);
    Py_VISIT(c->hb_handle);
    Py_VISIT(c->done_cache);
    Py_VISIT(c->pending);
    return 0;
}

void tw_py_consumer_clear(ConsumerObject *c) {
    Py_CLEAR(c->waiter);
    Py_CLEAR(c->waiter_loop);
    Py_CLEAR(c->waiter_iter);
    Py_CLEAR(c->hb_handle);
    Py_CLEAR(c->done_cache);
    Py_CLEAR(c->pending);
}

PyObject *tw_py_iter_new(ConsumerObject *c, int mode, EncoderObject *enc, double heartbeat) {
    StreamIterObject *it = PyObject_GC_New(StreamIterObject, &StreamIter_Type);
    if (!it) return NULL;
    it->c = (ConsumerObject *)Py_NewRef(c);
    it->mode = mode;
    it->enc = (EncoderObject *)Py_XNewRef(enc);
    it->heartbeat = heartbeat;
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

PyObject *tw_py_encoded_view(ConsumerObject *c, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"encoder", "heartbeat", NULL};
    PyObject *enc;
    double hb = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!|d:encoded", kwlist, &Encoder_Type, &enc,
                                     &hb))
        return NULL;
    if (!(hb >= 0) || isinf(hb)) {
        PyErr_SetString(PyExc_ValueError, "heartbeat must be a finite number >= 0");
        return NULL;
    }
    return tw_py_iter_new(c, MODE_ENCODED, (EncoderObject *)enc, hb);
}

/*==============================================================================================
 * StreamIter: the text / batches / encoded views
 *============================================================================================*/

static void StreamIter_dealloc(StreamIterObject *it) {
    PyObject_GC_UnTrack(it);
    Py_CLEAR(it->c);
    Py_CLEAR(it->enc);
    PyObject_GC_Del(it);
}

static int StreamIter_traverse(StreamIterObject *it, visitproc visit, void *arg) {
    Py_VISIT(it->c);
    Py_VISIT(it->enc);
    return 0;
}

static int StreamIter_clear(StreamIterObject *it) {
    Py_CLEAR(it->c);
    Py_CLEAR(it->enc);
    return 0;
}

static PyObject *StreamIter_anext(StreamIterObject *it) {
    if (!it->c) {
        PyErr_SetNone(PyExc_StopAsyncIteration);
        return NULL;
    }
    return tw_py_consumer_anext(it->c, it->mode, it);
}

static PyObject *StreamIter_iternext(StreamIterObject *it) {
    if (!it->c) return NULL;
    if (it->c->is_merge) {
        PyErr_SetString(PyExc_TypeError, "merge() is an async iterator; use 'async for'");
        return NULL;
    }
    return tw_py_stream_sync_next((StreamObject *)it->c, it->mode, it);
}

static PyObject *StreamIter_aclose(StreamIterObject *it, PyObject *Py_UNUSED(ignored)) {
    if (it->c) consumer_cancel(it->c);
    return tw_py_done_new(Py_NewRef(Py_None));
}

static PyMethodDef StreamIter_methods[] = {
    {"aclose", (PyCFunction)StreamIter_aclose, METH_NOARGS, "Cancel the underlying stream(s)."},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods StreamIter_async = {
    .am_aiter = PyObject_SelfIter,
    .am_anext = (unaryfunc)StreamIter_anext,
};

PyTypeObject StreamIter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire._native.StreamIter",
    .tp_basicsize = sizeof(StreamIterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)StreamIter_dealloc,
    .tp_traverse = (traverseproc)StreamIter_traverse,
    .tp_clear = (inquiry)StreamIter_clear,
    .tp_as_async = &StreamIter_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)StreamIter_iternext,
    .tp_methods = StreamIter_methods,
};

void tw_py_consumer_cancel_waiter(ConsumerObject *c) {
    PyObject *fut = tw_py_consumer_unpark(c), *r;
    if (!fut) return;
    r = PyObject_CallMethodNoArgs(fut, tw_state->str_cancel);
    if (r) Py_DECREF(r);
    else PyErr_Clear();
    Py_DECREF(fut);
}

int tw_py_init_consumer(PyObject *m) {
    if (PyType_Ready(&StreamIter_Type) < 0) return -1;
    Py_INCREF(&StreamIter_Type);
    if (PyModule_AddObject(m, "StreamIter", (PyObject *)&StreamIter_Type) < 0) {
        Py_DECREF(&StreamIter_Type);
        return -1;
    }
    return 0;
}
