/*
 * engine.c - tokenwire._native.Engine: the libcurl I/O thread(s), one tw_sink per event loop
 * (its fd registered once with that loop's add_reader), the loop readers that wake the parked
 * Futures, and Engine.start (a request's options handed to the core).
 */
#include "tw_py_stream.h"

#include <math.h>

static PyTypeObject Sink_Type;
static PyTypeObject Reader_Type;
static PyTypeObject LoopEntry_Type;

/*==============================================================================================
 * Engine, sinks and loop readers
 *
 * Each event loop that starts streams gets its own tw_sink, created on its first start, whose
 * fd is registered once with that loop's add_reader. Streams started in a loop are announced
 * on its sink only, so the reader runs on the loop's own thread and resolves the loop's own
 * Futures, for any number of loops on any threads. Streams started with no running loop (and
 * stream_sync) use the engine's sync sink, which a loop watches once it awaits one of them;
 * likewise a loop awaiting a stream of another loop's sink watches that sink too. A reader
 * that finds a Future of another loop hands the wakeup to that loop (call_soon_threadsafe).
 *
 * The engine keeps one LoopEntry per loop (a weak reference to the loop, its sink and its
 * readers). Entries of closed or collected loops are dropped when a new loop shows up and when
 * the engine goes away; the readers of a loop still open are then removed on its own thread.
 *
 * fork(): a child process inherits the engine but not its I/O threads. The first start (or
 * stats / prewarm) in the child sees tw_engine_forked, drops the parent's sinks without
 * touching the parent's loops (an epoll set is shared across fork(), so removing a reader in
 * the child would remove it in the parent) and creates a new engine; streams of the parent
 * end with a TransportError at once.
 *============================================================================================*/

static int weakref_is(PyObject *ref, PyObject *o) {
#if PY_VERSION_HEX >= 0x030d0000
    PyObject *t;
    int r;
    if (PyWeakref_GetRef(ref, &t) < 0) {
        PyErr_Clear();
        return 0;
    }
    r = t == o;
    Py_XDECREF(t);
    return r;
#else
    return PyWeakref_GetObject(ref) == o;
#endif
}

/* The referent of a weak reference (new reference), or NULL when it is gone. */
static PyObject *weakref_get(PyObject *ref) {
#if PY_VERSION_HEX >= 0x030d0000
    PyObject *t;
    if (PyWeakref_GetRef(ref, &t) < 0) {
        PyErr_Clear();
        return NULL;
    }
    return t;
#else
    PyObject *t = PyWeakref_GetObject(ref);
    if (!t || t == Py_None) {
        PyErr_Clear();
        return NULL;
    }
    return Py_NewRef(t);
#endif
}

/* The running loop of this thread (new reference), or NULL (no exception) when none runs. */
PyObject *tw_py_running_loop(void) {
    PyObject *loop = PyObject_CallNoArgs(tw_state->get_running_loop_or_none);
    if (!loop) {
        PyErr_Clear();
        return NULL;
    }
    if (loop == Py_None) {
        Py_DECREF(loop);
        return NULL;
    }
    return loop;
}

static int loop_flag(PyObject *loop, PyObject *method) {
    PyObject *r = PyObject_CallMethodNoArgs(loop, method);
    int v;
    if (!r) {
        PyErr_Clear();
        return -1;
    }
    v = PyObject_IsTrue(r);
    Py_DECREF(r);
    return v;
}

static int loop_is_closed(PyObject *loop) { return loop_flag(loop, tw_state->str_is_closed) != 0; }

/* ---- Sink ----------------------------------------------------------------------------------- */

static SinkObject *sink_new(EngineObject *self) {
    tw_error err = {0};
    SinkObject *k = PyObject_New(SinkObject, &Sink_Type);
    if (!k) return NULL;
    k->fd = -1;
    k->k = tw_sink_new(self->e, NULL, NULL, &err);
    if (!k->k) {
        Py_DECREF(k);
        tw_py_raise_code(err.code ? err.code : TW_ERR_NOMEM, &err);
        return NULL;
    }
    k->fd = tw_sink_fd(k->k);
    return k;
}

static void Sink_dealloc(SinkObject *k) {
    /* In a fork() child, for a sink of the parent's engine, this only closes the child's copy
     * of the fd. */
    if (k->k) tw_sink_free(k->k);
    PyObject_Free(k);
}

static PyTypeObject Sink_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire._native.Sink",
    .tp_basicsize = sizeof(SinkObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Sink_dealloc,
};

/* ---- Reader --------------------------------------------------------------------------------- */

/* The loop's reader callback: every ready stream of the sink in one pass. */
static PyObject *Reader_call(ReaderObject *r, PyObject *args, PyObject *kwargs) {
    tw_stream *ready[64];
    StreamObject *objs[64];
    size_t n, i;
    (void)args;
    (void)kwargs;
    Py_INCREF(r); /* code run below may remove this reader from its loop */
    do {
        n = tw_sink_take_ready(r->sink->k, ready, 64);
        /* Each stream comes with a reference of its own; hold every Python object too before
         * running any Python code that could drop the last reference to one of them. */
        for (i = 0; i < n; i++) {
            objs[i] = tw_stream_userdata(ready[i]);
            if (objs[i] && objs[i]->ts == ready[i]) Py_INCREF(objs[i]);
            else objs[i] = NULL;
        }
        for (i = 0; i < n; i++) {
            StreamObject *s = objs[i];
            if (!s) continue;
            if (s->merge) {
                MergeObject *m = s->merge;
                Py_INCREF(m);
                tw_py_merge_mark_ready(m, s->merge_index);
                tw_py_consumer_notify((ConsumerObject *)m, r->loop);
                Py_DECREF(m);
            } else if (s->waiter) {
                tw_py_consumer_notify((ConsumerObject *)s, r->loop);
            }
        }
        for (i = 0; i < n; i++) {
            Py_XDECREF(objs[i]);
            tw_stream_unref(ready[i]); /* take_ready's reference */
        }
    } while (n == 64);
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static void Reader_dealloc(ReaderObject *r) {
    Py_XDECREF(r->sink);
    PyObject_Free(r);
}

static PyTypeObject Reader_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire._native.Reader",
    .tp_basicsize = sizeof(ReaderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_call = (ternaryfunc)Reader_call,
};

/* Makes loop watch sink (once per loop and sink). @return 0 or -1 (raised). */
static int entry_watch(LoopEntryObject *en, PyObject *loop, SinkObject *sink) {
    Py_ssize_t i;
    ReaderObject *r;
    PyObject *fd, *res;
    int rc;
    for (i = 0; i < PyList_GET_SIZE(en->readers); i++) {
        r = (ReaderObject *)PyList_GET_ITEM(en->readers, i);
        if (r->sink == sink && r->registered) return 0;
    }
    r = PyObject_New(ReaderObject, &Reader_Type);
    if (!r) return -1;
    r->sink = (SinkObject *)Py_NewRef(sink);
    r->loop = loop;
    r->registered = 0;
    fd = PyLong_FromLong(sink->fd);
    if (!fd) {
        Py_DECREF(r);
        return -1;
    }
    res = PyObject_CallMethodObjArgs(loop, tw_state->str_add_reader, fd, (PyObject *)r, NULL);
    Py_DECREF(fd);
    if (!res) {
        Py_DECREF(r);
        return -1;
    }
    Py_DECREF(res);
    r->registered = 1;
    rc = PyList_Append(en->readers, (PyObject *)r);
    Py_DECREF(r);
    return rc;
}

/* Undoes a reader's add_reader where that is safe: on the loop's thread directly, on a loop
 * running in another thread through call_soon_threadsafe (the reader keeps the fd open until
 * then), on a closed loop not at all (nothing polls it). In a fork() child never: the loop is
 * the parent's and its epoll set is shared with the parent. */
static void reader_detach(ReaderObject *r, PyObject *loop, int forked) {
    PyObject *fd, *res = NULL, *cur;
    if (!r->registered) return;
    r->registered = 0;
    if (forked || loop_is_closed(loop)) return;
    fd = PyLong_FromLong(r->sink->fd);
    if (!fd) {
        PyErr_Clear();
        return;
    }
    cur = tw_py_running_loop();
    if (cur != loop && loop_flag(loop, tw_state->str_is_running) == 1) {
        PyObject *cb = PyObject_GetAttr(loop, tw_state->str_remove_reader);
        if (cb) {
            res = PyObject_CallMethodObjArgs(loop, tw_state->str_call_soon_threadsafe, cb, fd,
                                             NULL);
            Py_DECREF(cb);
        }
    } else {
        res = PyObject_CallMethodOneArg(loop, tw_state->str_remove_reader, fd);
    }
    Py_XDECREF(cur);
    Py_DECREF(fd);
    if (res) Py_DECREF(res);
    else PyErr_Clear();
}

/* ---- LoopEntry ------------------------------------------------------------------------------ */

static void LoopEntry_dealloc(LoopEntryObject *en) {
    Py_XDECREF(en->loop_ref);
    Py_XDECREF(en->own);
    Py_XDECREF(en->readers);
    PyObject_Free(en);
}

static PyTypeObject LoopEntry_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire._native.LoopEntry",
    .tp_basicsize = sizeof(LoopEntryObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)LoopEntry_dealloc,
};

/* Removes en from self->entries (identity; no Python code runs before the removal). */
static void engine_forget(EngineObject *self, LoopEntryObject *en) {
    Py_ssize_t i;
    if (self->last == en) self->last = NULL;
    for (i = 0; i < PyList_GET_SIZE(self->entries); i++) {
        if (PyList_GET_ITEM(self->entries, i) == (PyObject *)en) {
            if (PyList_SetSlice(self->entries, i, i + 1, NULL) < 0) PyErr_Clear();
            return;
        }
    }
}

/* Drops the entries of loops that are closed or collected. */
static void engine_purge(EngineObject *self) {
    PyObject *snap = PyList_GetSlice(self->entries, 0, PyList_GET_SIZE(self->entries));
    Py_ssize_t i;
    if (!snap) {
        PyErr_Clear();
        return;
    }
    for (i = 0; i < PyList_GET_SIZE(snap); i++) {
        LoopEntryObject *en = (LoopEntryObject *)PyList_GET_ITEM(snap, i);
        PyObject *loop = weakref_get(en->loop_ref);
        /* A closed loop polls nothing: its readers need no removal. */
        if (!loop || loop_is_closed(loop)) engine_forget(self, en);
        Py_XDECREF(loop);
    }
    Py_DECREF(snap);
}

/* The entry of loop, created on first use (new reference). */
static LoopEntryObject *engine_entry(EngineObject *self, PyObject *loop) {
    LoopEntryObject *en = self->last;
    Py_ssize_t i;
    if (en && weakref_is(en->loop_ref, loop)) return (LoopEntryObject *)Py_NewRef(en);
    for (i = 0; i < PyList_GET_SIZE(self->entries); i++) {
        en = (LoopEntryObject *)PyList_GET_ITEM(self->entries, i);
        if (weakref_is(en->loop_ref, loop)) {
            self->last = en;
            return (LoopEntryObject *)Py_NewRef(en);
        }
    }
    /* A new loop: the moment to let go of the ones that are gone. */
    engine_purge(self);
    en = PyObject_New(LoopEntryObject, &LoopEntry_Type);
    if (!en) return NULL;
    en->own = NULL;
    en->readers = PyList_New(0);
    en->loop_ref = PyWeakref_NewRef(loop, NULL);
    if (!en->readers || !en->loop_ref || PyList_Append(self->entries, (PyObject *)en) < 0) {
        Py_DECREF(en);
        return NULL;
    }
    self->last = en;
    return en;
}

/* Drops every entry; removes the readers of loops still open (see reader_detach). */
static void engine_drop_entries(EngineObject *self, int forked) {
    PyObject *entries = self->entries;
    Py_ssize_t i, j;
    if (!entries) return;
    self->entries = PyList_New(0);
    if (!self->entries) PyErr_Clear();
    self->last = NULL;
    for (i = 0; i < PyList_GET_SIZE(entries); i++) {
        LoopEntryObject *en = (LoopEntryObject *)PyList_GET_ITEM(entries, i);
        PyObject *loop = weakref_get(en->loop_ref);
        if (!loop) continue;
        for (j = 0; j < PyList_GET_SIZE(en->readers); j++)
            reader_detach((ReaderObject *)PyList_GET_ITEM(en->readers, j), loop, forked);
        Py_DECREF(loop);
    }
    Py_DECREF(entries);
}

/* ---- Engine --------------------------------------------------------------------------------- */

static tw_engine *engine_create(int io_threads, size_t high, size_t low) {
    tw_engine_opts o;
    tw_error err = {0};
    tw_engine *e;
    tw_engine_opts_init(&o);
    o.io_threads = io_threads;
    if (high) o.queue_high_watermark = high;
    if (low) o.queue_low_watermark = low;
    else if (high) o.queue_low_watermark = high / 4;
    Py_BEGIN_ALLOW_THREADS
    e = tw_engine_new(&o, &err);
    Py_END_ALLOW_THREADS
    if (!e) tw_py_raise_code(err.code ? err.code : TW_ERR_NOMEM, &err);
    return e;
}

static PyObject *Engine_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"io_threads", "high_watermark", "low_watermark", NULL};
    int io_threads = 1;
    Py_ssize_t high = 0, low = 0;
    EngineObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|inn:Engine", kwlist, &io_threads, &high,
                                     &low))
        return NULL;
    if (io_threads < 1 || high < 0 || low < 0) {
        PyErr_SetString(PyExc_ValueError, "io_threads must be >= 1 and watermarks >= 0");
        return NULL;
    }
    self = (EngineObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->io_threads = io_threads;
    self->high = (size_t)high;
    self->low = (size_t)low;
    self->entries = PyList_New(0);
    if (!self->entries) {
        Py_DECREF(self);
        return NULL;
    }
    self->e = engine_create(io_threads, self->high, self->low);
    if (!self->e) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void Engine_dealloc(EngineObject *self) {
    int forked = self->e && tw_engine_forked(self->e);
    engine_drop_entries(self, forked);
    Py_CLEAR(self->entries);
    Py_CLEAR(self->sync_sink);
    if (self->e) {
        tw_engine *e = self->e;
        self->e = NULL;
        Py_BEGIN_ALLOW_THREADS
        tw_engine_free(e); /* in a fork() child: only closes the child's copies of its fds */
        Py_END_ALLOW_THREADS
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Makes the engine usable in this process: in a fork() child of the process that created
 * it, replaces it with a new one (see the section comment). @return 0 or -1 (raised). */
static int engine_ready(EngineObject *self) {
    tw_engine *old = self->e, *e;
    if (!old) {
        PyErr_SetString(PyExc_ValueError, "engine is closed");
        return -1;
    }
    if (!tw_engine_forked(old)) return 0;
    e = engine_create(self->io_threads, self->high, self->low);
    if (!e) return -1;
    engine_drop_entries(self, 1);
    Py_CLEAR(self->sync_sink);
    self->e = e;
    tw_engine_free(old); /* fork-safe: closes this process's copies of the parent's fds */
    return 0;
}

static SinkObject *engine_sync_sink(EngineObject *self) {
    if (!self->sync_sink) self->sync_sink = sink_new(self);
    return self->sync_sink;
}

/* The sink of the streams started in loop: created, and watched by loop, on first use. */
static SinkObject *engine_loop_sink(EngineObject *self, PyObject *loop) {
    LoopEntryObject *en = engine_entry(self, loop);
    SinkObject *k;
    if (!en) return NULL;
    if (!en->own) {
        k = sink_new(self);
        if (!k || entry_watch(en, loop, k) < 0) {
            Py_XDECREF(k);
            Py_DECREF(en);
            return NULL;
        }
        if (!en->own) en->own = k;
        else Py_DECREF(k);
    }
    k = en->own;
    Py_DECREF(en); /* k stays referenced by the entry, which the engine holds */
    return k;
}

/* Makes loop watch the sink of s before a Future of loop waits on s. @return 0 or -1. */
int tw_py_stream_watch(StreamObject *s, PyObject *loop) {
    EngineObject *eng = s->engine;
    LoopEntryObject *en;
    int r = 0;
    if (!s->sink || !eng || !eng->e) return 0;
    en = engine_entry(eng, loop);
    if (!en) return -1;
    if (en->own != s->sink) r = entry_watch(en, loop, s->sink);
    Py_DECREF(en);
    return r;
}

static PyObject *Engine_stats(EngineObject *self, PyObject *Py_UNUSED(ignored)) {
    tw_engine_stats s;
    if (engine_ready(self) < 0) return NULL;
    tw_engine_get_stats(self->e, &s);
    return Py_BuildValue("{sKsKsKsKsK}", "active_streams", (unsigned long long)s.active_streams,
                         "paused_streams", (unsigned long long)s.paused_streams,
                         "connections_reused", (unsigned long long)s.connections_reused,
                         "streams_started", (unsigned long long)s.streams_started,
                         "streams_finished", (unsigned long long)s.streams_finished);
}

static PyObject *Engine_prewarm(EngineObject *self, PyObject *arg) {
    const char *url;
    Py_ssize_t len;
    tw_error err = {0};
    tw_code c;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "prewarm() takes a URL str");
        return NULL;
    }
    if (engine_ready(self) < 0) return NULL;
    url = PyUnicode_AsUTF8AndSize(arg, &len);
    if (!url) return NULL;
    if ((size_t)len != strlen(url)) {
        PyErr_Format(PyExc_ValueError, "invalid url: NUL at byte %zu", strlen(url));
        return NULL;
    }
    c = tw_engine_prewarm(self->e, url, &err);
    if (c != TW_OK) return tw_py_raise_code(c, &err);
    Py_RETURN_NONE;
}

static PyObject *Engine_loops(EngineObject *self, PyObject *Py_UNUSED(ignored)) {
    /* For tests: the number of loops the engine keeps a sink / readers for. */
    return PyLong_FromSsize_t(self->entries ? PyList_GET_SIZE(self->entries) : 0);
}

static PyObject *Engine_start(EngineObject *self, PyObject *args, PyObject *kwargs);

static const char *utf8_arg(PyObject *o, const char *what, size_t *len);

/* cancel_id(id) -> int: tw_engine_cancel_id. */
static PyObject *Engine_cancel_id(EngineObject *self, PyObject *id) {
    size_t len, n;
    const char *p;
    if (!self->e) return PyLong_FromLong(0);
    if (!(p = utf8_arg(id, "id", &len))) return NULL;
    Py_BEGIN_ALLOW_THREADS
    n = tw_engine_cancel_id(self->e, p, len);
    Py_END_ALLOW_THREADS
    return PyLong_FromSize_t(n);
}

static PyMethodDef Engine_methods[] = {
    {"start", (PyCFunction)(void (*)(void))Engine_start, METH_VARARGS | METH_KEYWORDS,
     "start(url, *, method='POST', headers=(), body=None, dialect='openai', ...) -> Stream"},
    {"stats", (PyCFunction)Engine_stats, METH_NOARGS, "Engine-wide counters."},
    {"cancel_id", (PyCFunction)Engine_cancel_id, METH_O,
     "cancel_id(id) -> int: cancels the running streams started with id=id; how many."},
    {"prewarm", (PyCFunction)Engine_prewarm, METH_O, "Open a connection to url's host early."},
    {"_loops", (PyCFunction)Engine_loops, METH_NOARGS,
     "The number of event loops the engine keeps a sink for (tests)."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject Engine_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire._native.Engine",
    .tp_doc = "Engine(io_threads=1, high_watermark=0, low_watermark=0): libcurl I/O thread(s).",
    .tp_basicsize = sizeof(EngineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Engine_new,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
};
/*==============================================================================================
 * Engine.start: a request's options handed to the core
 *
 * Request preparation is the core's (tw_engine_start): the API key's header per dialect or
 * auth, anthropic-version, query parameters percent-encoded, caller headers replacing those
 * defaults case-insensitively, and every byte that reaches the wire checked. Options left out
 * keep tw_request_opts_init's defaults (REQUEST_DEFAULTS).
 *============================================================================================*/

/* UTF-8 and length of a required str argument (the core checks the bytes, NULs included). */
static const char *utf8_arg(PyObject *o, const char *what, size_t *len) {
    Py_ssize_t n;
    const char *p;
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be str, not %.100s", what, Py_TYPE(o)->tp_name);
        return NULL;
    }
    p = PyUnicode_AsUTF8AndSize(o, &n);
    *len = (size_t)n;
    return p;
}

/* The strings of a request, borrowed from the Python objects for the start call. */
typedef struct start_args {
    PyObject *hseq, *qseq; /* the sequences the strings are borrowed from */
    const char **hv;
    size_t *hl;
    const char **qv; /* name, value, name, value, ... */
    size_t *ql;      /* their lengths */
} start_args;

static void start_args_free(start_args *a) {
    PyMem_Free(a->hv);
    PyMem_Free(a->hl);
    PyMem_Free(a->qv);
    PyMem_Free(a->ql);
    Py_XDECREF(a->hseq);
    Py_XDECREF(a->qseq);
}

static int headers_arg(PyObject *headers, start_args *a, tw_request_opts *o) {
    Py_ssize_t nh, i;
    if (!headers || headers == Py_None) return 0;
    a->hseq = PySequence_Fast(headers, "headers must be a sequence of 'Name: value' str");
    if (!a->hseq) return -1;
    nh = PySequence_Fast_GET_SIZE(a->hseq);
    a->hv = PyMem_Calloc((size_t)nh + 1, sizeof *a->hv);
    a->hl = PyMem_Calloc((size_t)nh + 1, sizeof *a->hl);
    if (!a->hv || !a->hl) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < nh; i++) {
        PyObject *h = PySequence_Fast_GET_ITEM(a->hseq, i);
        if (!PyUnicode_Check(h)) {
            PyErr_SetString(PyExc_TypeError, "headers must be 'Name: value' str");
            return -1;
        }
        if (!(a->hv[i] = utf8_arg(h, "header", &a->hl[i]))) return -1;
    }
    o->headers = a->hv;
    o->header_lens = a->hl;
    o->n_headers = (size_t)nh;
    return 0;
}

/* query: a sequence of (name, value) pairs, percent-encoded by the core; a None value is a
 * name alone ("name="). Lengths go with the strings, so the core sees (and refuses, naming
 * "query value #N") a NUL inside. */
static int query_arg(PyObject *query, start_args *a, tw_request_opts *o) {
    Py_ssize_t n, i;
    if (!query || query == Py_None) return 0;
    a->qseq = PySequence_Fast(query, "query must be a sequence of (name, value) str pairs");
    if (!a->qseq) return -1;
    n = PySequence_Fast_GET_SIZE(a->qseq);
    a->qv = PyMem_Calloc(2 * (size_t)n + 1, sizeof *a->qv);
    a->ql = PyMem_Calloc(2 * (size_t)n + 1, sizeof *a->ql);
    if (!a->qv || !a->ql) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < n; i++) {
        PyObject *kv = PySequence_Fast_GET_ITEM(a->qseq, i), *v;
        if (!PyTuple_Check(kv) || PyTuple_GET_SIZE(kv) != 2) {
            PyErr_SetString(PyExc_TypeError, "query must be a sequence of (name, value) pairs");
            return -1;
        }
        if (!(a->qv[2 * i] = utf8_arg(PyTuple_GET_ITEM(kv, 0), "a query parameter name",
                                      &a->ql[2 * i])))
            return -1;
        v = PyTuple_GET_ITEM(kv, 1);
        if (v != Py_None &&
            !(a->qv[2 * i + 1] = utf8_arg(v, "a query parameter value", &a->ql[2 * i + 1])))
            return -1;
    }
    o->query = a->qv;
    o->query_lens = a->ql;
    o->n_query = (size_t)n;
    return 0;
}

/* One request of the call: its options and what they borrow from (released by req_free). */
typedef struct req_holder {
    tw_request_opts o;
    start_args a;
    Py_buffer view;
    int have_view;
} req_holder;

static void req_free(req_holder *h) {
    if (h->have_view) PyBuffer_Release(&h->view);
    start_args_free(&h->a);
}

/* The request options every request of a call has, a fallback's included: (url, ...) and the
 * keywords of REQUEST_KWLIST. The stream-level ones (total and paused timeouts, accumulate,
 * sync, fallback) are Engine_start's alone. */
#define REQUEST_KWLIST                                                                           \
    "url", "method", "headers", "body", "dialect", "api_key", "auth", "query",                   \
        "connect_timeout", "first_byte_timeout", "first_token_timeout", "idle_timeout",          \
        "event_timeout", "max_retries", "retry_sent", "retry_base_delay", "http2",               \
        "verify_peer", "ca_file", "max_event_size"
#define REQUEST_FORMAT "O|$OOOOOOOdddddipdppOn"

typedef struct req_objs {
    PyObject *url, *method, *headers, *body, *dialect, *api_key, *auth, *query, *ca_file;
    Py_ssize_t max_event_size;
} req_objs;

static void req_objs_init(req_objs *r) {
    memset(r, 0, sizeof *r);
    r->body = r->api_key = r->auth = r->query = r->ca_file = Py_None;
}

/* Fills h->o from the parsed objects (strings borrowed: the objects outlive the call). */
static int req_fill(req_holder *h, req_objs *r) {
    tw_request_opts *o = &h->o;
    int auth_v;
    if (r->dialect && !(o->dialect = (tw_dialect)tw_py_dialect_arg(r->dialect))) return -1;
    if (o->max_retries < 0 || r->max_event_size < 0) {
        PyErr_SetString(PyExc_ValueError, "max_retries and max_event_size must be >= 0");
        return -1;
    }
    if ((auth_v = tw_py_auth_arg(r->auth)) < 0) return -1;
    o->auth = (tw_auth)auth_v;
    if (!(o->url = utf8_arg(r->url, "url", &o->url_len))) return -1;
    if (r->method && !(o->method = utf8_arg(r->method, "method", &o->method_len))) return -1;
    if (r->api_key != Py_None &&
        !(o->api_key = utf8_arg(r->api_key, "api_key", &o->api_key_len)))
        return -1;
    if (o->api_key && !o->api_key_len) o->api_key = NULL; /* "" = no key */
    /* The core refuses a NUL inside the path (it would open another file). */
    if (r->ca_file != Py_None &&
        !(o->ca_file = utf8_arg(r->ca_file, "ca_file", &o->ca_file_len)))
        return -1;
    if (headers_arg(r->headers, &h->a, o) < 0 || query_arg(r->query, &h->a, o) < 0) return -1;
    if (r->body != Py_None) {
        if (PyUnicode_Check(r->body)) {
            PyErr_SetString(PyExc_TypeError, "body must be bytes (encode str first)");
            return -1;
        }
        if (PyObject_GetBuffer(r->body, &h->view, PyBUF_SIMPLE) < 0) return -1;
        h->have_view = 1;
        o->body = h->view.buf;
        o->body_len = (size_t)h->view.len;
    }
    o->max_event_size = (size_t)r->max_event_size;
    return 0;
}

/* fallback=[{url: ..., <REQUEST_KWLIST>...}, ...]: one holder per request, chained from
 * first->fallback. @return the holders (n of them) or NULL with an exception set. */
static req_holder *fallbacks_arg(PyObject *seq_o, tw_request_opts *first, Py_ssize_t *n_out) {
    static char *kwlist[] = {REQUEST_KWLIST, NULL};
    PyObject *seq, *empty = NULL;
    req_holder *hs = NULL;
    Py_ssize_t n, i;
    *n_out = 0;
    seq = PySequence_Fast(seq_o, "fallback must be a sequence of request dicts");
    if (!seq) return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    if (!(empty = PyTuple_New(0))) goto fail;
    hs = PyMem_Calloc((size_t)n + 1, sizeof *hs);
    if (!hs) {
        PyErr_NoMemory();
        goto fail;
    }
    for (i = 0; i < n; i++) {
        PyObject *d = PySequence_Fast_GET_ITEM(seq, i);
        req_objs r;
        req_holder *h = &hs[i];
        req_objs_init(&r);
        tw_request_opts_init(&h->o);
        *n_out = i + 1;
        if (!PyDict_Check(d)) {
            PyErr_Format(PyExc_TypeError, "fallback %zd must be a dict of request options",
                         i + 1);
            goto fail;
        }
        if (!PyArg_ParseTupleAndKeywords(empty, d, "|$OOOOOOOOdddddipdppOn:fallback", kwlist,
                                         &r.url, &r.method, &r.headers, &r.body, &r.dialect,
                                         &r.api_key, &r.auth, &r.query, &h->o.connect_timeout,
                                         &h->o.first_byte_timeout, &h->o.first_token_timeout,
                                         &h->o.idle_timeout, &h->o.event_timeout,
                                         &h->o.max_retries, &h->o.retry_sent,
                                         &h->o.retry_base_delay, &h->o.http2, &h->o.verify_peer,
                                         &r.ca_file, &r.max_event_size))
            goto fail;
        if (!r.url) {
            PyErr_Format(PyExc_TypeError, "fallback %zd has no url", i + 1);
            goto fail;
        }
        if (req_fill(h, &r) < 0) goto fail;
        (i ? &hs[i - 1].o : first)->fallback = &h->o;
    }
    Py_DECREF(empty);
    Py_DECREF(seq);
    return hs;
fail:
    for (i = 0; hs && i < *n_out; i++) req_free(&hs[i]);
    PyMem_Free(hs);
    Py_XDECREF(empty);
    Py_DECREF(seq);
    *n_out = 0;
    return NULL;
}

static PyObject *Engine_start(EngineObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {REQUEST_KWLIST, "total_timeout", "paused_timeout", "accumulate",
                             "sync", "fallback", "id", "simulate_chars", "simulate_interval",
                             NULL};
    PyObject *loop = NULL, *fallback = Py_None, *id = Py_None;
    int sync = 0;
    req_objs r;
    req_holder h;
    req_holder *fbs = NULL;
    Py_ssize_t n_fbs = 0, i, sim_chars = 0;
    tw_error err = {0};
    StreamObject *s = NULL;
    SinkObject *sink;

    memset(&h, 0, sizeof h);
    req_objs_init(&r);
    tw_request_opts_init(&h.o);
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, REQUEST_FORMAT "ddppOOnd:start", kwlist,
                                     &r.url, &r.method, &r.headers, &r.body, &r.dialect,
                                     &r.api_key, &r.auth, &r.query, &h.o.connect_timeout,
                                     &h.o.first_byte_timeout, &h.o.first_token_timeout,
                                     &h.o.idle_timeout, &h.o.event_timeout, &h.o.max_retries,
                                     &h.o.retry_sent, &h.o.retry_base_delay, &h.o.http2,
                                     &h.o.verify_peer, &r.ca_file, &r.max_event_size,
                                     &h.o.total_timeout, &h.o.paused_timeout, &h.o.accumulate,
                                     &sync,
                                     &fallback, &id, &sim_chars, &h.o.simulate_interval))
        return NULL;
    if (sim_chars < 0) {
        PyErr_SetString(PyExc_ValueError, "simulate_chars must be >= 0");
        return NULL;
    }
    h.o.simulate_chars = (size_t)sim_chars;
    if (engine_ready(self) < 0) return NULL;
    if (!(h.o.paused_timeout >= 0) || isinf(h.o.paused_timeout)) {
        PyErr_SetString(PyExc_ValueError, "paused_timeout must be a finite number >= 0");
        return NULL;
    }
    if (req_fill(&h, &r) < 0) goto cleanup;
    if (id != Py_None && !(h.o.id = utf8_arg(id, "id", &h.o.id_len))) goto cleanup;
    if (h.o.id && !h.o.id_len) h.o.id = NULL; /* "" = none */
    if (fallback != Py_None && !(fbs = fallbacks_arg(fallback, &h.o, &n_fbs)) &&
        PyErr_Occurred())
        goto cleanup;
    /* A stream belongs to the loop it was started in: announced on that loop's sink. */
    loop = sync ? NULL : tw_py_running_loop();
    sink = loop ? engine_loop_sink(self, loop) : engine_sync_sink(self);
    if (!sink) goto cleanup;
    h.o.sink = sink->k;

    s = (StreamObject *)Stream_Type.tp_alloc(&Stream_Type, 0);
    if (!s) goto cleanup;
    s->merge_index = -1;
    tw_py_replay_init(&s->replay);
    s->dialect = (int)h.o.dialect;
    s->sync = sync;
    if (tw_py_consumer_init((ConsumerObject *)s, 0) < 0) {
        Py_CLEAR(s);
        goto cleanup;
    }
    s->engine = (EngineObject *)Py_NewRef(self);
    s->sink = (SinkObject *)Py_NewRef(sink);
    h.o.userdata = s;
    s->te = self->e;
    s->ts = tw_engine_start(self->e, &h.o, &err);
    if (!s->ts) {
        Py_CLEAR(s);
        tw_py_raise_code(err.code ? err.code : TW_ERR_NOMEM, &err);
    }
cleanup:
    Py_XDECREF(loop);
    req_free(&h);
    for (i = 0; i < n_fbs; i++) req_free(&fbs[i]);
    PyMem_Free(fbs);
    return (PyObject *)s;
}

/* REQUEST_DEFAULTS: tw_request_opts_init's values, the one policy every binding documents. */
static PyObject *request_defaults(void) {
    tw_request_opts o;
    tw_request_opts_init(&o);
    return Py_BuildValue("{sdsdsdsdsdsdsdsisdsOsO}", "connect_timeout", o.connect_timeout,
                         "first_byte_timeout", o.first_byte_timeout, "first_token_timeout",
                         o.first_token_timeout, "idle_timeout",
                         o.idle_timeout, "event_timeout", o.event_timeout, "total_timeout",
                         o.total_timeout, "paused_timeout", o.paused_timeout, "max_retries",
                         o.max_retries, "retry_base_delay", o.retry_base_delay, "accumulate",
                         o.accumulate ? Py_True : Py_False, "verify_peer",
                         o.verify_peer ? Py_True : Py_False);
}

int tw_py_init_engine(PyObject *m) {
    PyObject *d;
    if (PyType_Ready(&Sink_Type) < 0 || PyType_Ready(&Reader_Type) < 0 ||
        PyType_Ready(&LoopEntry_Type) < 0 || PyType_Ready(&Engine_Type) < 0)
        return -1;
    Py_INCREF(&Engine_Type);
    if (PyModule_AddObject(m, "Engine", (PyObject *)&Engine_Type) < 0) {
        Py_DECREF(&Engine_Type);
        return -1;
    }
    d = request_defaults();
    if (!d || PyModule_AddObject(m, "REQUEST_DEFAULTS", d) < 0) {
        Py_XDECREF(d);
        return -1;
    }
    return 0;
}
