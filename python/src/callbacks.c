/*
 * callbacks.c - per-type callbacks of a Stream (Stream.on(type, callback), on_<type>= of
 * Client.stream) and final().
 *
 * Callbacks are called for every event the stream's consumer takes, whatever the consumer:
 * iteration in any mode, final(), a relay (the encoded view) or a merge. "text" and
 * "reasoning" callbacks get the delta (str), the other types and "event" (every event, after
 * the type's own) get the Event. In synchronous iteration they are called as the events are
 * taken; an async callback there is a TypeError. In async consumption every (callback,
 * argument) pair is queued on the consumer and the step's awaitable (tokenwire._aio.step) calls
 * them in order, awaiting those that return an awaitable, before it hands out the step's value
 * or raises its exception: so callbacks are called in event order, sync and async alike.
 */
#include "tw_py_stream.h"

/*==============================================================================================
 * tokenwire._aio, imported on first use
 *============================================================================================*/

static PyObject *aio_step, *aio_final; /* immortal once set: the module lives until exit */

static int aio_import(void) {
    PyObject *m;
    if (aio_step) return 0;
    m = PyImport_ImportModule("tokenwire._aio");
    if (!m) return -1;
    aio_step = PyObject_GetAttrString(m, "step");
    aio_final = PyObject_GetAttrString(m, "final");
    Py_DECREF(m);
    if (!aio_step || !aio_final) {
        Py_CLEAR(aio_step);
        Py_CLEAR(aio_final);
        return -1;
    }
    return 0;
}

/*==============================================================================================
 * Registration
 *============================================================================================*/

/* The slot of a type name: 1 .. TW_EV__LAST - 1, or 0 for "event". -1 with ValueError. */
static int slot_of(PyObject *type) {
    int i;
    if (!PyUnicode_Check(type)) {
        PyErr_Format(PyExc_TypeError, "event type must be str, not %.100s",
                     Py_TYPE(type)->tp_name);
        return -1;
    }
    if (PyUnicode_CompareWithASCIIString(type, "event") == 0) return 0;
    for (i = 1; i < TW_EV__LAST; i++) {
        int r = PyUnicode_Compare(type, tw_state->type_names[i]);
        if (r == 0) return i;
        if (r == -1 && PyErr_Occurred()) return -1;
    }
    PyErr_Format(PyExc_ValueError, "unknown event type %R: expected 'event' or one of %R", type,
                 tw_state->event_types);
    return -1;
}

PyObject *tw_py_Stream_on(StreamObject *s, PyObject *const *args, Py_ssize_t nargs) {
    int slot;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "on() takes a type and a callback");
        return NULL;
    }
    if ((slot = slot_of(args[0])) < 0) return NULL;
    if (!PyCallable_Check(args[1])) {
        PyErr_Format(PyExc_TypeError, "on(): the callback must be callable, not %.100s",
                     Py_TYPE(args[1])->tp_name);
        return NULL;
    }
    if (!s->callbacks) {
        s->callbacks = PyMem_Calloc(TW_EV__LAST, sizeof *s->callbacks);
        if (!s->callbacks) return PyErr_NoMemory();
    }
    if (!s->callbacks[slot] && !(s->callbacks[slot] = PyList_New(0))) return NULL;
    if (PyList_Append(s->callbacks[slot], args[1]) < 0) return NULL;
    return Py_NewRef(s);
}

int tw_py_callbacks_traverse(StreamObject *s, visitproc visit, void *arg) {
    int i;
    if (!s->callbacks) return 0;
    for (i = 0; i < TW_EV__LAST; i++) Py_VISIT(s->callbacks[i]);
    return 0;
}

void tw_py_callbacks_clear(StreamObject *s) {
    PyObject **cb = s->callbacks;
    int i;
    if (!cb) return;
    s->callbacks = NULL;
    for (i = 0; i < TW_EV__LAST; i++) Py_XDECREF(cb[i]);
    PyMem_Free(cb);
}

int tw_py_consumer_has_callbacks(ConsumerObject *c) {
    if (c->is_merge) {
        MergeObject *m = (MergeObject *)c;
        Py_ssize_t i;
        for (i = 0; i < m->n; i++)
            if (m->ent[i].s && m->ent[i].s->callbacks) return 1;
        return 0;
    }
    return ((StreamObject *)c)->callbacks != NULL;
}

/*==============================================================================================
 * Dispatch
 *============================================================================================*/

static int is_awaitable(PyObject *o) {
    PyAsyncMethods *am = Py_TYPE(o)->tp_as_async;
    return am && am->am_await;
}

/* Calls f(arg) now (synchronous consumption). */
static int call_now(PyObject *f, PyObject *arg) {
    PyObject *r = PyObject_CallOneArg(f, arg), *x;
    if (!r) return -1;
    if (is_awaitable(r)) {
        /* Closed, so that Python does not warn that it was never awaited. */
        x = PyObject_CallMethod(r, "close", NULL);
        if (x) Py_DECREF(x);
        else PyErr_Clear();
        Py_DECREF(r);
        PyErr_SetString(PyExc_TypeError,
                        "a callback returned an awaitable while the stream was read "
                        "synchronously: async callbacks need async consumption (async for, "
                        "await final())");
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

int tw_py_callbacks_dispatch(StreamObject *s, const tw_event *ev) {
    ConsumerObject *c = s->merge ? (ConsumerObject *)s->merge : (ConsumerObject *)s;
    PyObject *lists[2], *text = NULL, *event = NULL;
    int k, rc = -1;
    lists[0] = ev->type > 0 && ev->type < TW_EV__LAST ? s->callbacks[ev->type] : NULL;
    lists[1] = s->callbacks[0];
    for (k = 0; k < 2; k++) {
        Py_ssize_t i;
        PyObject *arg;
        if (!lists[k] || !PyList_GET_SIZE(lists[k])) continue;
        if (k == 0 && (ev->type == TW_EV_TEXT || ev->type == TW_EV_REASONING)) {
            if (!text && !(text = tw_py_str(ev->text))) goto done;
            arg = text;
        } else {
            /* A merged stream's events carry their source, as the merge hands them out. */
            if (!event && !(event = tw_py_event_new(
                                ev, s->merge ? s->merge->ent[s->merge_index].name : NULL)))
                goto done;
            arg = event;
        }
        /* A callback may register another one: read the list's size each time. */
        for (i = 0; i < PyList_GET_SIZE(lists[k]); i++) {
            PyObject *f = PyList_GET_ITEM(lists[k], i);
            int r;
            if (c->defer) {
                PyObject *pair = PyTuple_Pack(2, f, arg);
                if (!pair) goto done;
                if (!c->pending && !(c->pending = PyList_New(0))) {
                    Py_DECREF(pair);
                    goto done;
                }
                r = PyList_Append(c->pending, pair);
                Py_DECREF(pair);
                if (r < 0) goto done;
            } else {
                Py_INCREF(f);
                r = call_now(f, arg);
                Py_DECREF(f);
                if (r < 0) goto done;
            }
        }
    }
    rc = 0;
done:
    Py_XDECREF(text);
    Py_XDECREF(event);
    return rc;
}

/* _take_callbacks(): the queued (callback, argument) pairs, in order; the queue empties. */
PyObject *tw_py_Consumer_take_callbacks(ConsumerObject *c, PyObject *Py_UNUSED(ignored)) {
    PyObject *p = c->pending;
    c->pending = NULL;
    return p ? p : PyList_New(0);
}

PyObject *tw_py_callbacks_wrap(ConsumerObject *c, PyObject *aw) {
    PyObject *exc = NULL, *r;
    if (aio_import() < 0) {
        Py_XDECREF(aw);
        return NULL;
    }
    if (!aw) {
        /* The step ended or failed at once: raise that after the callbacks ran. */
        exc = tw_py_fetch_exception();
        if (!exc) return NULL;
    }
    r = PyObject_CallFunctionObjArgs(aio_step, (PyObject *)c, aw ? aw : Py_None,
                                     exc ? exc : Py_None, NULL);
    Py_XDECREF(aw);
    Py_XDECREF(exc);
    return r;
}

/*==============================================================================================
 * final()
 *============================================================================================*/

PyObject *tw_py_Stream_final(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    if (s->merge) {
        PyErr_SetString(PyExc_RuntimeError, "this stream is consumed by a merge()");
        return NULL;
    }
    if (s->sync) return tw_py_stream_sync_next(s, MODE_FINAL, NULL);
    if (s->callbacks) {
        /* Each chunk's callbacks run as it arrives: a loop of MODE_SKIP steps. */
        if (aio_import() < 0) return NULL;
        return PyObject_CallOneArg(aio_final, (PyObject *)s);
    }
    return tw_py_consumer_anext((ConsumerObject *)s, MODE_FINAL, NULL);
}

PyObject *tw_py_Stream_skip(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    return tw_py_consumer_anext((ConsumerObject *)s, MODE_SKIP, NULL);
}
