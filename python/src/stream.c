/*
 * stream.c - the engine binding and the asyncio adapter: tokenwire._native.Engine (one tw_sink
 * per event loop, its fd registered once with that loop's add_reader), Stream (async and sync
 * iteration over a transfer's normalized events), StreamIter (text / batches / encoded views)
 * and Merge (several agent streams in arrival order).
 *
 * Delivery: the engine queues events per stream. A consumer first takes what is queued
 * (tw_stream_take) and only when nothing is there parks one Future; the fd of the stream's sink
 * then tells the loop that some stream became ready and the sink's reader resolves the parked
 * Futures. Events are never pulled from the engine for a consumer that is not asking, so a slow
 * consumer leaves them in the engine's bounded queue and backpressure pauses the transfer.
 */
#include "tw_py.h"

#include <math.h>

/*==============================================================================================
 * Structs
 *============================================================================================*/

enum { MODE_EVENT = 0, MODE_TEXT, MODE_BATCH, MODE_ENCODED };
enum { POP_VALUE = 0, POP_EMPTY, POP_END, POP_ERROR };
enum { NR_EVENT = 0, NR_EMPTY, NR_DONE };

/* A tw_sink (a ready list and its eventfd). Held by the streams started on it and by the loop
 * readers watching its fd, so the fd stays open while any loop may still poll it. */
typedef struct SinkObject {
    PyObject_HEAD
    tw_sink *k;
    int fd;
} SinkObject;

/* The callable registered with loop.add_reader(sink fd): one per (loop, sink). It holds the
 * sink, not the engine, so a loop never keeps an engine alive. */
typedef struct ReaderObject {
    PyObject_HEAD
    SinkObject *sink; /* strong */
    PyObject *loop;   /* borrowed, compared by identity only: the loop calls us while alive */
    int registered;   /* add_reader done and not undone */
} ReaderObject;

/* What an engine knows of one event loop. Touched by that loop's thread, except that any
 * thread may drop it once the loop is closed or collected. */
typedef struct LoopEntryObject {
    PyObject_HEAD
    PyObject *loop_ref; /* weak reference to the loop */
    SinkObject *own;    /* the sink of the streams started in this loop; NULL until the first */
    PyObject *readers;  /* list of the ReaderObjects registered with this loop */
} LoopEntryObject;

typedef struct EngineObject {
    PyObject_HEAD
    tw_engine *e;
    int io_threads; /* the options, to create a new engine in a fork() child */
    size_t high, low;
    SinkObject *sync_sink;  /* streams started with no running loop, and stream_sync */
    PyObject *entries;      /* list of LoopEntryObject, one per loop that used the engine */
    LoopEntryObject *last;  /* borrowed: the entry found last (an element of entries) */
} EngineObject;

static PyTypeObject Sink_Type;
static PyTypeObject Reader_Type;
static PyTypeObject LoopEntry_Type;

struct StreamIterObject;

/* The part shared by Stream and Merge: one parked Future at most. */
#define CONSUMER_HEAD                                                                            \
    PyObject_HEAD                                                                                \
    int is_merge;                                                                                \
    PyObject *waiter;          /* asyncio Future or NULL */                                      \
    PyObject *waiter_loop;     /* the loop of waiter: only it resolves the Future */            \
    struct StreamIterObject *waiter_iter; /* view that parked it (NULL = plain events) */        \
    int waiter_mode;                                                                             \
    PyObject *hb_handle;       /* heartbeat TimerHandle or NULL */                               \
    PyObject *done_cache;      /* reusable done awaitable */

typedef struct ConsumerObject {
    CONSUMER_HEAD
} ConsumerObject;

typedef struct ToolCall {
    int32_t index;
    tw_buf id, name, args;
} ToolCall;

struct MergeObject;

typedef struct StreamObject {
    CONSUMER_HEAD
    EngineObject *engine;
    SinkObject *sink; /* the sink the stream was started on */
    tw_stream *ts;
    tw_batch *cur; /* batch being consumed */
    size_t cur_i, cur_n;
    int done;                  /* the terminal event has been consumed */
    int closed;                /* closed by the user: iteration ends, nothing more is read */
    PyObject *pending_exc;     /* terminal exception still to raise */
    PyObject *error;           /* the terminal exception, kept for .error */
    struct MergeObject *merge; /* borrowed: the merge consuming this stream */
    Py_ssize_t merge_index;
    /* Accumulated from the events consumed (choice 0 for text); text and tool call arguments
     * only when accumulate is set. */
    int accumulate;
    tw_buf text, model, resp_id, finish;
    int has_finish;
    int dialect;      /* tw_dialect of the request; immutable after start */
    int multi_choice; /* tw_dialect_indexes_choices(dialect): text of choice 0 only */
    ToolCall *calls;
    size_t n_calls, cap_calls;
    int64_t in_tok, out_tok, tot_tok;
} StreamObject;

typedef struct StreamIterObject {
    PyObject_HEAD
    ConsumerObject *c;
    int mode;
    EncoderObject *enc;
    double heartbeat;
} StreamIterObject;

typedef struct MergeEntry {
    PyObject *name;
    const char *name_utf8;
    size_t name_len;
    StreamObject *s;
    int started, completed, in_ready;
} MergeEntry;

typedef struct MergeObject {
    CONSUMER_HEAD
    Py_ssize_t n;
    MergeEntry *ent;
    Py_ssize_t *ready; /* FIFO ring of entry indices that may have events */
    Py_ssize_t ready_head, ready_len, rr;
    PyObject *outq; /* list of Events ready for MODE_EVENT */
    Py_ssize_t outq_head;
    Py_ssize_t n_completed;
    int done;
} MergeObject;

static PyObject *consumer_pop(ConsumerObject *c, int mode, StreamIterObject *it, int *st);
static void consumer_notify(ConsumerObject *c, PyObject *loop);
static void merge_mark_ready(struct MergeObject *m, Py_ssize_t i);

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
static PyObject *running_loop(void) {
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
                struct MergeObject *m = s->merge;
                Py_INCREF(m);
                merge_mark_ready(m, s->merge_index);
                consumer_notify((ConsumerObject *)m, r->loop);
                Py_DECREF(m);
            } else if (s->waiter) {
                consumer_notify((ConsumerObject *)s, r->loop);
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
    cur = running_loop();
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
static int stream_watch(StreamObject *s, PyObject *loop) {
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

static PyMethodDef Engine_methods[] = {
    {"start", (PyCFunction)(void (*)(void))Engine_start, METH_VARARGS | METH_KEYWORDS,
     "start(url, *, method='POST', headers=(), body=None, dialect='openai', ...) -> Stream"},
    {"stats", (PyCFunction)Engine_stats, METH_NOARGS, "Engine-wide counters."},
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
static int stream_next_raw(StreamObject *s, const tw_event **out) {
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

static PyObject *encoder_take(EncoderObject *enc) {
    PyObject *r = PyBytes_FromStringAndSize(enc->out.data, (Py_ssize_t)enc->out.len);
    enc->out.len = 0;
    return r;
}

static PyObject *stream_pop(StreamObject *s, int mode, StreamIterObject *it, int *st) {
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
        r = stream_next_raw(s, &ev);
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
            r = stream_next_raw(s, &ev);
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
            r = stream_next_raw(s, &ev);
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
            r = stream_next_raw(s, &ev);
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
                v = encoder_take(enc);
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
static PyObject *consumer_unpark(ConsumerObject *c) {
    PyObject *fut = c->waiter;
    c->waiter = NULL;
    Py_CLEAR(c->waiter_iter);
    Py_CLEAR(c->waiter_loop);
    cancel_heartbeat(c);
    return fut;
}

/* Completes the parked Future with the outcome of a pop (st != POP_EMPTY). */
static void consumer_resolve(ConsumerObject *c, PyObject *v, int st) {
    PyObject *fut = consumer_unpark(c), *r = NULL;
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
    v = consumer_pop(c, c->waiter_mode, c->waiter_iter, &st);
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
static void consumer_notify(ConsumerObject *c, PyObject *loop) {
    if (!c->waiter) return;
    if (c->waiter_loop == loop) consumer_wake(c);
    else consumer_post_wake(c);
}

/* call_soon_threadsafe target of consumer_post_wake, on the Future's loop. */
static PyObject *Consumer_wake(ConsumerObject *c, PyObject *Py_UNUSED(ignored)) {
    PyObject *loop;
    if (!c->waiter) Py_RETURN_NONE;
    loop = running_loop();
    if (loop && loop == c->waiter_loop) consumer_wake(c);
    else consumer_post_wake(c); /* parked again meanwhile, on yet another loop */
    Py_XDECREF(loop);
    Py_RETURN_NONE;
}

static void consumer_cancel(ConsumerObject *c);

/* Future done-callback: a Future still parked here when it completes was cancelled (its task
 * was cancelled or a timeout wrapper gave up): cancel the upstream transfer. */
static PyObject *Consumer_waiter_done(ConsumerObject *c, PyObject *fut) {
    if (c->waiter == fut) {
        Py_DECREF(consumer_unpark(c));
        consumer_cancel(c);
    }
    Py_RETURN_NONE;
}

static PyObject *Consumer_heartbeat(ConsumerObject *c, PyObject *Py_UNUSED(ignored)) {
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
            PyObject *v = encoder_take(enc);
            consumer_resolve(c, v, v ? POP_VALUE : POP_ERROR);
        }
    }
    Py_RETURN_NONE;
}

static int watch_sinks(ConsumerObject *c, PyObject *loop);

/* The awaitable for one step: done at once when something is available, else a Future. */
static PyObject *consumer_anext(ConsumerObject *c, int mode, StreamIterObject *it) {
    PyObject *v, *loop = NULL, *fut = NULL, *r, *cb;
    int st;
    if (c->waiter) {
        if (!future_done(c->waiter)) {
            PyErr_SetString(PyExc_RuntimeError,
                            "another coroutine is already waiting on this stream");
            return NULL;
        }
        Py_DECREF(consumer_unpark(c));
    }
    v = consumer_pop(c, mode, it, &st);
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

/* Synchronous step: blocks (GIL released) until something is available. */
static PyObject *stream_sync_next(StreamObject *s, int mode, StreamIterObject *it) {
    for (;;) {
        int st;
        PyObject *v = stream_pop(s, mode, it, &st);
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
 * Stream type
 *============================================================================================*/

static int consumer_init(ConsumerObject *c, int is_merge) {
    c->is_merge = is_merge;
    return 0;
}

static int consumer_traverse(ConsumerObject *c, visitproc visit, void *arg) {
    Py_VISIT(c->waiter);
    Py_VISIT(c->waiter_loop);
    Py_VISIT(c->waiter_iter);
    Py_VISIT(c->hb_handle);
    Py_VISIT(c->done_cache);
    return 0;
}

static void consumer_clear(ConsumerObject *c) {
    Py_CLEAR(c->waiter);
    Py_CLEAR(c->waiter_loop);
    Py_CLEAR(c->waiter_iter);
    Py_CLEAR(c->hb_handle);
    Py_CLEAR(c->done_cache);
}

/* UTF-8 of a str option (None allowed): NULL with *out = NULL for None; a str holding a NUL is
 * refused (a C string would silently end there). */
static PyObject *cstr_opt(PyObject *o, const char *what, const char **out) {
    Py_ssize_t len;
    *out = NULL;
    if (!o || o == Py_None) return Py_None;
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be str or None", what);
        return NULL;
    }
    *out = PyUnicode_AsUTF8AndSize(o, &len);
    if (!*out) return NULL;
    if (strlen(*out) != (size_t)len) {
        PyErr_Format(PyExc_ValueError, "invalid %s: NUL at byte %zu", what, strlen(*out));
        return NULL;
    }
    return o;
}

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

static PyObject *Engine_start(EngineObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"url",          "method",          "headers",
                             "body",         "dialect",         "connect_timeout",
                             "first_byte_timeout", "idle_timeout", "event_timeout",
                             "total_timeout", "paused_timeout", "max_retries",
                             "retry_sent",   "retry_base_delay", "http2",
                             "verify_peer",  "ca_file",         "max_event_size",
                             "accumulate",   "sync",            NULL};
    const char *dialect = "openai";
    PyObject *url_o, *method_o = NULL, *headers = NULL, *body = Py_None, *ca_file = Py_None;
    PyObject *hseq = NULL, *loop = NULL;
    Py_buffer view = {0};
    int have_view = 0, accumulate = 1, sync = 0;
    tw_request_opts o;
    tw_error err = {0};
    const char **hv = NULL;
    size_t *hl = NULL;
    Py_ssize_t nh = 0, i, max_event_size = 0;
    StreamObject *s = NULL;
    SinkObject *sink;
    tw_dialect dl;

    tw_request_opts_init(&o);
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$OOOsddddddipdppOnpp:start", kwlist,
                                     &url_o, &method_o, &headers, &body, &dialect,
                                     &o.connect_timeout, &o.first_byte_timeout, &o.idle_timeout,
                                     &o.event_timeout, &o.total_timeout, &o.paused_timeout,
                                     &o.max_retries, &o.retry_sent, &o.retry_base_delay,
                                     &o.http2, &o.verify_peer, &ca_file, &max_event_size,
                                     &accumulate, &sync))
        return NULL;
    if (engine_ready(self) < 0) return NULL;
    dl = tw_dialect_from_name(dialect, strlen(dialect));
    if (!dl) {
        PyErr_Format(PyExc_ValueError,
                     "unknown dialect '%s': expected 'openai', 'openai-responses', 'anthropic', "
                     "'gemini', 'ollama', 'sse' or 'ndjson'",
                     dialect);
        return NULL;
    }
    if (o.max_retries < 0 || max_event_size < 0) {
        PyErr_SetString(PyExc_ValueError, "max_retries and max_event_size must be >= 0");
        return NULL;
    }
    if (!(o.paused_timeout >= 0) || isinf(o.paused_timeout)) {
        PyErr_SetString(PyExc_ValueError, "paused_timeout must be a finite number >= 0");
        return NULL;
    }
    if (!(o.url = utf8_arg(url_o, "url", &o.url_len))) return NULL;
    if (method_o && !(o.method = utf8_arg(method_o, "method", &o.method_len))) return NULL;
    if (!cstr_opt(ca_file, "ca_file", &o.ca_file)) return NULL;
    if (headers && headers != Py_None) {
        hseq = PySequence_Fast(headers, "headers must be a sequence of 'Name: value' str");
        if (!hseq) return NULL;
        nh = PySequence_Fast_GET_SIZE(hseq);
        hv = PyMem_Calloc((size_t)nh + 1, sizeof *hv);
        hl = PyMem_Calloc((size_t)nh + 1, sizeof *hl);
        if (!hv || !hl) {
            PyErr_NoMemory();
            goto cleanup;
        }
        for (i = 0; i < nh; i++) {
            PyObject *h = PySequence_Fast_GET_ITEM(hseq, i);
            if (!PyUnicode_Check(h)) {
                PyErr_SetString(PyExc_TypeError, "headers must be 'Name: value' str");
                goto cleanup;
            }
            if (!(hv[i] = utf8_arg(h, "header", &hl[i]))) goto cleanup;
        }
    }
    if (body != Py_None) {
        if (PyUnicode_Check(body)) {
            PyErr_SetString(PyExc_TypeError, "body must be bytes (encode str first)");
            goto cleanup;
        }
        if (PyObject_GetBuffer(body, &view, PyBUF_SIMPLE) < 0) goto cleanup;
        have_view = 1;
        o.body = view.buf;
        o.body_len = (size_t)view.len;
    }
    o.headers = hv;
    o.header_lens = hl;
    o.n_headers = (size_t)nh;
    o.dialect = dl;
    o.max_event_size = (size_t)max_event_size;
    o.accumulate = accumulate;
    /* A stream belongs to the loop it was started in: announced on that loop's sink. */
    loop = sync ? NULL : running_loop();
    sink = loop ? engine_loop_sink(self, loop) : engine_sync_sink(self);
    if (!sink) goto cleanup;
    o.sink = sink->k;

    s = (StreamObject *)Stream_Type.tp_alloc(&Stream_Type, 0);
    if (!s) goto cleanup;
    s->in_tok = s->out_tok = s->tot_tok = -1;
    s->merge_index = -1;
    s->dialect = (int)dl;
    s->multi_choice = tw_dialect_indexes_choices(dl);
    s->accumulate = accumulate;
    if (consumer_init((ConsumerObject *)s, 0) < 0) {
        Py_CLEAR(s);
        goto cleanup;
    }
    s->engine = (EngineObject *)Py_NewRef(self);
    s->sink = (SinkObject *)Py_NewRef(sink);
    o.userdata = s;
    s->ts = tw_engine_start(self->e, &o, &err);
    if (!s->ts) {
        Py_CLEAR(s);
        tw_py_raise_code(err.code ? err.code : TW_ERR_NOMEM, &err);
    }
cleanup:
    Py_XDECREF(loop);
    if (have_view) PyBuffer_Release(&view);
    PyMem_Free(hv);
    PyMem_Free(hl);
    Py_XDECREF(hseq);
    return (PyObject *)s;
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
    int r = consumer_traverse((ConsumerObject *)s, visit, arg);
    if (r) return r;
    Py_VISIT(s->engine);
    Py_VISIT(s->pending_exc);
    Py_VISIT(s->error);
    return 0;
}

static int Stream_clear(StreamObject *s) {
    consumer_clear((ConsumerObject *)s);
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
    return consumer_anext((ConsumerObject *)s, MODE_EVENT, NULL);
}

static PyObject *Stream_iternext(StreamObject *s) { return stream_sync_next(s, MODE_EVENT, NULL); }

/* Cancels the transfer unless it already ended; events already queued are dropped. */
static void stream_close(StreamObject *s) {
    if (s->ts && !s->done) tw_stream_cancel(s->ts);
    s->closed = 1;
    if (s->cur) {
        tw_batch_free(s->cur);
        s->cur = NULL;
    }
    if (s->waiter) {
        PyObject *fut = consumer_unpark((ConsumerObject *)s), *r;
        r = PyObject_CallMethodNoArgs(fut, tw_state->str_cancel);
        if (r) Py_DECREF(r);
        else PyErr_Clear();
        Py_DECREF(fut);
    }
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

static PyObject *iter_new(ConsumerObject *c, int mode, EncoderObject *enc, double heartbeat) {
    StreamIterObject *it = PyObject_GC_New(StreamIterObject, &StreamIter_Type);
    if (!it) return NULL;
    it->c = (ConsumerObject *)Py_NewRef(c);
    it->mode = mode;
    it->enc = (EncoderObject *)Py_XNewRef(enc);
    it->heartbeat = heartbeat;
    PyObject_GC_Track(it);
    return (PyObject *)it;
}

static PyObject *Stream_text(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    return iter_new((ConsumerObject *)s, MODE_TEXT, NULL, 0);
}

static PyObject *Stream_batches(StreamObject *s, PyObject *Py_UNUSED(ignored)) {
    return iter_new((ConsumerObject *)s, MODE_BATCH, NULL, 0);
}

static PyObject *encoded_view(ConsumerObject *c, PyObject *args, PyObject *kwargs) {
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
    return iter_new(c, MODE_ENCODED, (EncoderObject *)enc, hb);
}

static PyObject *Stream_encoded(StreamObject *s, PyObject *args, PyObject *kwargs) {
    return encoded_view((ConsumerObject *)s, args, kwargs);
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
    {"_waiter_done", (PyCFunction)Consumer_waiter_done, METH_O, NULL},
    {"_heartbeat", (PyCFunction)Consumer_heartbeat, METH_NOARGS, NULL},
    {"_wake", (PyCFunction)Consumer_wake, METH_NOARGS, NULL},
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
    return consumer_anext(it->c, it->mode, it);
}

static PyObject *StreamIter_iternext(StreamIterObject *it) {
    if (!it->c) return NULL;
    if (it->c->is_merge) {
        PyErr_SetString(PyExc_TypeError, "merge() is an async iterator; use 'async for'");
        return NULL;
    }
    return stream_sync_next((StreamObject *)it->c, it->mode, it);
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

/*==============================================================================================
 * Merge: several agent streams in arrival order
 *============================================================================================*/

static void merge_mark_ready(MergeObject *m, Py_ssize_t i) {
    if (i < 0 || i >= m->n || m->ent[i].in_ready || m->ent[i].completed) return;
    m->ent[i].in_ready = 1;
    m->ready[(m->ready_head + m->ready_len) % m->n] = i;
    m->ready_len++;
}

/* The next raw event of any source: sources known to be ready first, then a scan. */
static int merge_next_raw(MergeObject *m, Py_ssize_t *ei, const tw_event **ev) {
    Py_ssize_t k;
    while (m->ready_len > 0) {
        Py_ssize_t i = m->ready[m->ready_head];
        if (!m->ent[i].completed && stream_next_raw(m->ent[i].s, ev) == NR_EVENT) {
            *ei = i;
            return NR_EVENT;
        }
        m->ent[i].in_ready = 0;
        m->ready_head = (m->ready_head + 1) % m->n;
        m->ready_len--;
    }
    for (k = 0; k < m->n; k++) {
        Py_ssize_t i = (m->rr + k) % m->n;
        if (m->ent[i].completed) continue;
        if (stream_next_raw(m->ent[i].s, ev) == NR_EVENT) {
            m->rr = (i + 1) % m->n;
            merge_mark_ready(m, i);
            *ei = i;
            return NR_EVENT;
        }
    }
    return m->n_completed == m->n ? NR_DONE : NR_EMPTY;
}

static int merge_push(MergeObject *m, PyObject *ev) {
    int r;
    if (!ev) return -1;
    r = PyList_Append(m->outq, ev);
    Py_DECREF(ev);
    return r;
}

static PyObject *synth(MergeObject *m, Py_ssize_t i, tw_event_type type) {
    tw_event ev;
    tw_event_init(&ev);
    ev.type = type;
    return tw_py_event_new(&ev, m->ent[i].name);
}

/* Converts raw events to Events in m->outq until one is there or nothing is available. */
static int merge_fill(MergeObject *m, int all) {
    Py_ssize_t i;
    const tw_event *ev;
    int r;
    for (;;) {
        if (!all && PyList_GET_SIZE(m->outq) > m->outq_head) return NR_EVENT;
        r = merge_next_raw(m, &i, &ev);
        if (r != NR_EVENT) return r;
        if (!m->ent[i].started) {
            m->ent[i].started = 1;
            if (merge_push(m, synth(m, i, TW_EV_AGENT_START)) < 0) return -1;
        }
        if (ev->type != TW_EV_END && merge_push(m, tw_py_event_new(ev, m->ent[i].name)) < 0)
            return -1;
        if (m->ent[i].s->done) {
            m->ent[i].completed = 1;
            m->n_completed++;
            if (merge_push(m, synth(m, i, TW_EV_AGENT_COMPLETE)) < 0) return -1;
        }
    }
}

static PyObject *merge_take_outq(MergeObject *m, int all) {
    PyObject *v;
    if (all) {
        v = PyList_GetSlice(m->outq, m->outq_head, PyList_GET_SIZE(m->outq));
        if (v && PyList_SetSlice(m->outq, 0, PyList_GET_SIZE(m->outq), NULL) < 0) Py_CLEAR(v);
        m->outq_head = 0;
        return v;
    }
    v = Py_NewRef(PyList_GET_ITEM(m->outq, m->outq_head));
    m->outq_head++;
    if (m->outq_head == PyList_GET_SIZE(m->outq) || m->outq_head >= 1024) {
        if (PyList_SetSlice(m->outq, 0, m->outq_head, NULL) < 0) {
            Py_DECREF(v);
            return NULL;
        }
        m->outq_head = 0;
    }
    return v;
}

static PyObject *merge_pop(MergeObject *m, int mode, StreamIterObject *it, int *st) {
    Py_ssize_t avail;
    int r;
    if (mode == MODE_ENCODED) {
        EncoderObject *enc = it->enc;
        Py_ssize_t i;
        const tw_event *ev;
        tw_event tmp;
        if (m->done) {
            *st = POP_END;
            return NULL;
        }
        for (;;) {
            r = merge_next_raw(m, &i, &ev);
            if (r != NR_EVENT) break;
            /* The encoders open an agent on its first event and close it on its END; an
             * agent that ended with an error is closed explicitly. */
            m->ent[i].started = 1;
            tmp = *ev;
            tmp.source.ptr = m->ent[i].name_utf8;
            tmp.source.len = m->ent[i].name_len;
            if (tw_py_encoder_encode(enc, &tmp) < 0) goto fail;
            if (m->ent[i].s->done) {
                m->ent[i].completed = 1;
                m->n_completed++;
                if (ev->type != TW_EV_END) {
                    tw_event_init(&tmp);
                    tmp.type = TW_EV_AGENT_COMPLETE;
                    tmp.source.ptr = m->ent[i].name_utf8;
                    tmp.source.len = m->ent[i].name_len;
                    if (tw_py_encoder_encode(enc, &tmp) < 0) goto fail;
                }
            }
        }
        if (r == NR_DONE) {
            tw_code c = tw_encoder_finish(enc->enc, &enc->out);
            if (c != TW_OK) {
                tw_py_raise_code(c, NULL);
                goto fail;
            }
            m->done = 1;
        }
        if (enc->out.len) {
            PyObject *v = encoder_take(enc);
            *st = v ? POP_VALUE : POP_ERROR;
            return v;
        }
        *st = m->done ? POP_END : POP_EMPTY;
        return NULL;
    }
    r = merge_fill(m, mode == MODE_BATCH);
    if (r < 0) goto fail;
    avail = PyList_GET_SIZE(m->outq) - m->outq_head;
    if (avail > 0) {
        PyObject *v = merge_take_outq(m, mode == MODE_BATCH);
        *st = v ? POP_VALUE : POP_ERROR;
        return v;
    }
    *st = r == NR_DONE ? POP_END : POP_EMPTY;
    if (r == NR_DONE) m->done = 1;
    return NULL;
fail:
    *st = POP_ERROR;
    return NULL;
}

static void merge_cancel(MergeObject *m) {
    Py_ssize_t i;
    for (i = 0; i < m->n; i++) {
        StreamObject *s = m->ent[i].s;
        if (s && s->ts && !m->ent[i].completed && !s->done) tw_stream_cancel(s->ts);
    }
}

static PyObject *Merge_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"streams", NULL};
    PyObject *mapping, *items = NULL;
    MergeObject *m = NULL;
    Py_ssize_t n, i;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:merge", kwlist, &mapping)) return NULL;
    if (!PyDict_Check(mapping)) {
        PyErr_SetString(PyExc_TypeError, "merge() takes a dict {name: Stream}");
        return NULL;
    }
    items = PyDict_Items(mapping);
    if (!items) return NULL;
    n = PyList_GET_SIZE(items);
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "merge() needs at least one stream");
        goto error;
    }
    m = (MergeObject *)type->tp_alloc(type, 0);
    if (!m) goto error;
    if (consumer_init((ConsumerObject *)m, 1) < 0) goto error;
    m->outq = PyList_New(0);
    m->ent = PyMem_Calloc((size_t)n, sizeof *m->ent);
    m->ready = PyMem_Calloc((size_t)n, sizeof *m->ready);
    if (!m->outq || !m->ent || !m->ready) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto error;
    }
    for (i = 0; i < n; i++) {
        PyObject *kv = PyList_GET_ITEM(items, i);
        PyObject *name = PyTuple_GET_ITEM(kv, 0), *s = PyTuple_GET_ITEM(kv, 1);
        Py_ssize_t len;
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "merge() names must be str");
            goto error;
        }
        if (!PyObject_TypeCheck(s, &Stream_Type)) {
            PyErr_Format(PyExc_TypeError, "merge() values must be tokenwire.Stream, not %.100s",
                         Py_TYPE(s)->tp_name);
            goto error;
        }
        if (((StreamObject *)s)->merge || ((StreamObject *)s)->waiter) {
            PyErr_SetString(PyExc_ValueError, "a stream can only be consumed once");
            goto error;
        }
        m->ent[i].name_utf8 = PyUnicode_AsUTF8AndSize(name, &len);
        if (!m->ent[i].name_utf8) goto error;
        m->ent[i].name_len = (size_t)len;
        m->ent[i].name = Py_NewRef(name);
        m->ent[i].s = (StreamObject *)Py_NewRef(s);
        m->n = i + 1;
    }
    for (i = 0; i < n; i++) {
        m->ent[i].s->merge = m;
        m->ent[i].s->merge_index = i;
    }
    Py_DECREF(items);
    return (PyObject *)m;
error:
    Py_XDECREF(items);
    Py_XDECREF(m);
    return NULL;
}

static int Merge_traverse(MergeObject *m, visitproc visit, void *arg) {
    Py_ssize_t i;
    int r = consumer_traverse((ConsumerObject *)m, visit, arg);
    if (r) return r;
    Py_VISIT(m->outq);
    for (i = 0; i < m->n; i++) {
        Py_VISIT(m->ent[i].name);
        Py_VISIT(m->ent[i].s);
    }
    return 0;
}

static int Merge_clear(MergeObject *m) {
    Py_ssize_t i;
    consumer_clear((ConsumerObject *)m);
    Py_CLEAR(m->outq);
    for (i = 0; i < m->n; i++) {
        if (m->ent[i].s) {
            m->ent[i].s->merge = NULL;
            if (!m->ent[i].completed && m->ent[i].s->ts && !m->ent[i].s->done)
                tw_stream_cancel(m->ent[i].s->ts);
        }
        Py_CLEAR(m->ent[i].s);
        Py_CLEAR(m->ent[i].name);
    }
    return 0;
}

static void Merge_dealloc(MergeObject *m) {
    PyObject_GC_UnTrack(m);
    Merge_clear(m);
    PyMem_Free(m->ent);
    PyMem_Free(m->ready);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static PyObject *Merge_anext(MergeObject *m) {
    return consumer_anext((ConsumerObject *)m, MODE_EVENT, NULL);
}

static void merge_close(MergeObject *m) {
    merge_cancel(m);
    if (m->waiter) {
        PyObject *fut = consumer_unpark((ConsumerObject *)m), *r;
        r = PyObject_CallMethodNoArgs(fut, tw_state->str_cancel);
        if (r) Py_DECREF(r);
        else PyErr_Clear();
        Py_DECREF(fut);
    }
}

static PyObject *Merge_aclose(MergeObject *m, PyObject *Py_UNUSED(ignored)) {
    merge_close(m);
    return tw_py_done_new(Py_NewRef(Py_None));
}

static PyObject *Merge_aenter(MergeObject *m, PyObject *Py_UNUSED(ignored)) {
    return tw_py_done_new(Py_NewRef(m));
}

static PyObject *Merge_aexit(MergeObject *m, PyObject *const *args, Py_ssize_t nargs) {
    (void)args;
    (void)nargs;
    merge_close(m);
    return tw_py_done_new(Py_NewRef(Py_False));
}

static PyObject *Merge_batches(MergeObject *m, PyObject *Py_UNUSED(ignored)) {
    return iter_new((ConsumerObject *)m, MODE_BATCH, NULL, 0);
}

static PyObject *Merge_encoded(MergeObject *m, PyObject *args, PyObject *kwargs) {
    return encoded_view((ConsumerObject *)m, args, kwargs);
}

static PyObject *Merge_get_streams(MergeObject *m, void *Py_UNUSED(c)) {
    PyObject *d = PyDict_New();
    Py_ssize_t i;
    if (!d) return NULL;
    for (i = 0; i < m->n; i++) {
        if (m->ent[i].s && PyDict_SetItem(d, m->ent[i].name, (PyObject *)m->ent[i].s) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    return d;
}

static PyMethodDef Merge_methods[] = {
    {"batches", (PyCFunction)Merge_batches, METH_NOARGS,
     "Iterator over lists of every Event available at each step."},
    {"_encoded", (PyCFunction)(void (*)(void))Merge_encoded, METH_VARARGS | METH_KEYWORDS,
     "_encoded(encoder, heartbeat=0): async iterator of encoded bytes."},
    {"aclose", (PyCFunction)Merge_aclose, METH_NOARGS, "Cancel the streams still running."},
    {"__aenter__", (PyCFunction)Merge_aenter, METH_NOARGS, NULL},
    {"__aexit__", (PyCFunction)(void (*)(void))Merge_aexit, METH_FASTCALL, NULL},
    {"_waiter_done", (PyCFunction)Consumer_waiter_done, METH_O, NULL},
    {"_heartbeat", (PyCFunction)Consumer_heartbeat, METH_NOARGS, NULL},
    {"_wake", (PyCFunction)Consumer_wake, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Merge_getset[] = {
    {"streams", (getter)Merge_get_streams, NULL, "The merged streams by name.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyAsyncMethods Merge_async = {
    .am_aiter = PyObject_SelfIter,
    .am_anext = (unaryfunc)Merge_anext,
};

PyTypeObject Merge_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire.merge",
    .tp_doc = "merge({name: stream, ...}): the events of every stream in arrival order, tagged "
              "with .source, with agent_start / agent_complete per source. Errors of one "
              "source arrive as 'error' events; leaving early cancels the streams still running.",
    .tp_basicsize = sizeof(MergeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = Merge_new,
    .tp_dealloc = (destructor)Merge_dealloc,
    .tp_traverse = (traverseproc)Merge_traverse,
    .tp_clear = (inquiry)Merge_clear,
    .tp_as_async = &Merge_async,
    .tp_methods = Merge_methods,
    .tp_getset = Merge_getset,
};

/*==============================================================================================
 * Consumer dispatch
 *============================================================================================*/

static PyObject *consumer_pop(ConsumerObject *c, int mode, StreamIterObject *it, int *st) {
    if (c->is_merge) return merge_pop((MergeObject *)c, mode, it, st);
    return stream_pop((StreamObject *)c, mode, it, st);
}

static void consumer_cancel(ConsumerObject *c) {
    if (c->is_merge) {
        merge_cancel((MergeObject *)c);
    } else {
        StreamObject *s = (StreamObject *)c;
        if (s->ts && !s->done) tw_stream_cancel(s->ts);
    }
}

/* Before c parks a Future of loop: loop watches the sink of every stream c reads. */
static int watch_sinks(ConsumerObject *c, PyObject *loop) {
    if (c->is_merge) {
        MergeObject *m = (MergeObject *)c;
        Py_ssize_t i;
        for (i = 0; i < m->n; i++)
            if (!m->ent[i].completed && stream_watch(m->ent[i].s, loop) < 0) return -1;
        return 0;
    }
    return stream_watch((StreamObject *)c, loop);
}

int tw_py_init_stream(PyObject *m) {
    PyTypeObject *types[] = {&Engine_Type, &Stream_Type, &StreamIter_Type, &Merge_Type};
    const char *names[] = {"Engine", "Stream", "StreamIter", "merge"};
    size_t i;
    if (PyType_Ready(&Sink_Type) < 0 || PyType_Ready(&Reader_Type) < 0 ||
        PyType_Ready(&LoopEntry_Type) < 0)
        return -1;
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
