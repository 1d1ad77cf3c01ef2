/*
 * merge.c - tokenwire.merge: several agent streams in arrival order, framed by the core
 * (tw_framer, tw_merge.h): agent_start just before a source's first event, its events tagged
 * with the source, its END not forwarded, its terminal error forwarded once, agent_complete
 * right after its terminal event. The binding only picks the next raw event (arrival order)
 * and hands what the framer emits to the consumer: Events, or an encoder for a relay.
 */
#include "tw_py_stream.h"

/*==============================================================================================
 * Merge: several agent streams in arrival order
 *============================================================================================*/

static int merge_completed(const MergeObject *m, Py_ssize_t i) {
    return tw_framer_completed(m->framer, (size_t)i);
}

void tw_py_merge_mark_ready(MergeObject *m, Py_ssize_t i) {
    if (i < 0 || i >= m->n || m->ent[i].in_ready || merge_completed(m, i)) return;
    m->ent[i].in_ready = 1;
    m->ready[(m->ready_head + m->ready_len) % m->n] = i;
    m->ready_len++;
}

/* The next raw event of any source: sources known to be ready first, then a scan.
 * NR_ERROR: a callback of source *ei raised on *ev (which is still valid). */
static int merge_next_raw(MergeObject *m, Py_ssize_t *ei, const tw_event **ev) {
    Py_ssize_t k;
    int r;
    while (m->ready_len > 0) {
        Py_ssize_t i = m->ready[m->ready_head];
        if (!merge_completed(m, i)) {
            r = tw_py_stream_next_raw(m->ent[i].s, ev);
            if (r == NR_EVENT || r == NR_ERROR) {
                *ei = i;
                return r;
            }
        }
        m->ent[i].in_ready = 0;
        m->ready_head = (m->ready_head + 1) % m->n;
        m->ready_len--;
    }
    for (k = 0; k < m->n; k++) {
        Py_ssize_t i = (m->rr + k) % m->n;
        if (merge_completed(m, i)) continue;
        r = tw_py_stream_next_raw(m->ent[i].s, ev);
        if (r == NR_EVENT || r == NR_ERROR) {
            m->rr = (i + 1) % m->n;
            tw_py_merge_mark_ready(m, i);
            *ei = i;
            return r;
        }
    }
    return tw_framer_done(m->framer) ? NR_DONE : NR_EMPTY;
}

static int merge_push(MergeObject *m, PyObject *ev) {
    int r;
    if (!ev) return -1;
    r = PyList_Append(m->outq, ev);
    Py_DECREF(ev);
    return r;
}

/* Where the framer's events go: Events in m->outq, or bytes of enc (a relay). */
typedef struct frame_ctx {
    MergeObject *m;
    Py_ssize_t i;
    EncoderObject *enc;   /* NULL: Events */
    const tw_event *drop; /* the event whose callback raised: not handed out (as for a Stream) */
} frame_ctx;

static int frame_emit(void *ud, const tw_event *ev) {
    frame_ctx *c = ud;
    /* The framer emits the source's event (a tagged copy) between its own agent markers. */
    if (c->drop && ev->type == c->drop->type) return 0;
    if (c->enc) return tw_py_encoder_encode(c->enc, ev) < 0;
    return merge_push(c->m, tw_py_event_new(ev, c->m->ent[c->i].name)) < 0;
}

/* Frames one raw event of source i. raised: a callback of the source raised on it (the
 * exception is set and stays the one raised); the event is dropped, the framing goes on so
 * that the source still starts and completes. @return 0, or -1 with an exception set. */
static int merge_frame(MergeObject *m, Py_ssize_t i, const tw_event *ev, EncoderObject *enc,
                       int raised) {
    frame_ctx c = {m, i, enc, raised ? ev : NULL};
    tw_str name = {m->ent[i].name_utf8, m->ent[i].name_len};
    PyObject *exc = raised ? tw_py_fetch_exception() : NULL;
    tw_code code = tw_framer_push(m->framer, (size_t)i, name, ev, frame_emit, &c);
    if (raised) {
        if (code != TW_OK) PyErr_Clear(); /* the callback's exception goes first */
        if (exc) tw_py_restore_exception(exc);
        return -1;
    }
    if (code == TW_OK) return 0;
    if (code != TW_ERR_CANCELLED) tw_py_raise_code(code, NULL); /* else: emit raised */
    return -1;
}

/* Converts raw events to Events in m->outq until one is there or nothing is available. */
static int merge_fill(MergeObject *m, int all) {
    Py_ssize_t i;
    const tw_event *ev;
    int r;
    for (;;) {
        if (!all && PyList_GET_SIZE(m->outq) > m->outq_head) return NR_EVENT;
        r = merge_next_raw(m, &i, &ev);
        if (r == NR_ERROR) {
            merge_frame(m, i, ev, NULL, 1);
            return -1;
        }
        if (r != NR_EVENT) return r;
        if (merge_frame(m, i, ev, NULL, 0) < 0) return -1;
    }
}

static PyObject *merge_take_outq(MergeObject *m, int all) {
    PyObject *v;
    if (all) {
        v = PyList_GetSlice(m->outq, m->outq_head, PyList_GET_SIZE(m->outq));
        if (v && PyList_SetSlice(m->outq, 0, PyList_GET_SIZE(m->outq), NULL) < 0) Py_CLEAR(v);
        m->outq_head = 0;
        tw_py_replay_log_handed(&m->replay, v);
        return v;
    }
    v = Py_NewRef(PyList_GET_ITEM(m->outq, m->outq_head));
    m->outq_head++;
    tw_py_replay_log_handed(&m->replay, v);
    if (m->outq_head == PyList_GET_SIZE(m->outq) || m->outq_head >= 1024) {
        if (PyList_SetSlice(m->outq, 0, m->outq_head, NULL) < 0) {
            Py_DECREF(v);
            return NULL;
        }
        m->outq_head = 0;
    }
    return v;
}

PyObject *tw_py_merge_pop(MergeObject *m, int mode, StreamIterObject *it, int *st) {
    Py_ssize_t avail;
    int r;
    if (mode == MODE_ENCODED) {
        EncoderObject *enc = it->enc;
        Py_ssize_t i;
        const tw_event *ev;
        /* What the app read from the merge (and what it framed but did not hand out yet)
         * goes first. */
        if ((m->replay.state == REPLAY_RUN || PyList_GET_SIZE(m->outq) > m->outq_head) &&
            tw_py_replay_merge(m, enc) < 0)
            goto fail;
        if (m->enc_done) {
            *st = POP_END;
            return NULL;
        }
        /* The same framing as the events: the encoder gets agent_start / agent_complete
         * from the framer, never a source's END. */
        for (;;) {
            if (enc->out.len >= TW_PY_ENCODED_STEP_BYTES) {
                r = NR_EMPTY; /* hand this out first (backpressure) */
                break;
            }
            r = merge_next_raw(m, &i, &ev);
            if (r == NR_ERROR) {
                merge_frame(m, i, ev, enc, 1);
                goto fail;
            }
            if (r != NR_EVENT) break;
            if (merge_frame(m, i, ev, enc, 0) < 0) goto fail;
        }
        if (r == NR_DONE) {
            tw_code c = tw_encoder_finish(enc->enc, &enc->out);
            if (c != TW_OK) {
                tw_py_raise_code(c, NULL);
                goto fail;
            }
            if (enc->tee) tw_py_tee_on_terminal(enc, NULL);
            m->done = m->enc_done = 1;
        }
        if (enc->out.len) {
            PyObject *v = tw_py_encoder_take(enc);
            *st = v ? POP_VALUE : POP_ERROR;
            return v;
        }
        *st = m->enc_done ? POP_END : POP_EMPTY;
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

void tw_py_merge_cancel(MergeObject *m) {
    Py_ssize_t i;
    for (i = 0; i < m->n; i++) {
        if (m->ent[i].s && !merge_completed(m, i)) tw_py_stream_cancel(m->ent[i].s);
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
    /* A stream read from already: the merge frames those events first; refused, before
     * anything is taken over, when they were not all kept. */
    for (i = 0; i < n; i++) {
        PyObject *s = PyTuple_GET_ITEM(PyList_GET_ITEM(items, i), 1);
        if (PyObject_TypeCheck(s, &Stream_Type) &&
            ((StreamObject *)s)->replay.state == REPLAY_OVERFLOW) {
            tw_py_replay_start(&((StreamObject *)s)->replay, "merge");
            goto error;
        }
    }
    m = (MergeObject *)type->tp_alloc(type, 0);
    if (!m) goto error;
    if (tw_py_consumer_init((ConsumerObject *)m, 1) < 0) goto error;
    tw_py_replay_init(&m->replay);
    m->outq = PyList_New(0);
    m->ent = PyMem_Calloc((size_t)n, sizeof *m->ent);
    m->ready = PyMem_Calloc((size_t)n, sizeof *m->ready);
    m->framer = tw_framer_new((size_t)n);
    if (!m->outq || !m->ent || !m->ready || !m->framer) {
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
        if (((StreamObject *)s)->merge || tw_py_consumer_busy((ConsumerObject *)s)) {
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
        StreamObject *st = m->ent[i].s;
        if (st->replay.state == REPLAY_LOG) Py_CLEAR(st->pending_exc); /* replayed instead */
        tw_py_replay_start(&st->replay, "merge"); /* cannot fail: checked above */
        st->merge = m;
        st->merge_index = i;
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
    int r = tw_py_consumer_traverse((ConsumerObject *)m, visit, arg);
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
    tw_py_consumer_clear((ConsumerObject *)m);
    Py_CLEAR(m->outq);
    tw_py_replay_clear(&m->replay);
    for (i = 0; i < m->n; i++) {
        if (m->ent[i].s) {
            m->ent[i].s->merge = NULL;
            if (!merge_completed(m, i)) tw_py_stream_cancel(m->ent[i].s);
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
    tw_framer_free(m->framer);
    Py_TYPE(m)->tp_free((PyObject *)m);
}

static PyObject *Merge_anext(MergeObject *m) {
    return tw_py_consumer_anext((ConsumerObject *)m, MODE_EVENT, NULL);
}

static void merge_close(MergeObject *m) {
    tw_py_merge_cancel(m);
    tw_py_consumer_cancel_waiter((ConsumerObject *)m);
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
    return tw_py_iter_new((ConsumerObject *)m, MODE_BATCH, NULL, 0);
}

/* The relay's view: the Events the app read from the merge are encoded first. */
static PyObject *Merge_encoded(MergeObject *m, PyObject *args, PyObject *kwargs) {
    PyObject *view = tw_py_encoded_view((ConsumerObject *)m, args, kwargs);
    if (view && tw_py_replay_start(&m->replay, "relay") < 0) Py_CLEAR(view);
    return view;
}

static PyObject *Merge_get_replay_limit(MergeObject *m, void *Py_UNUSED(c)) {
    return tw_py_replay_get_limit(&m->replay);
}

static int Merge_set_replay_limit(MergeObject *m, PyObject *v, void *Py_UNUSED(c)) {
    return tw_py_replay_set_limit(&m->replay, v);
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
    TW_PY_CONSUMER_METHODS,
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Merge_getset[] = {
    {"replay_limit", (getter)Merge_get_replay_limit, (setter)Merge_set_replay_limit,
     "How many of the Events read from the merge are kept so that a relay started later "
     "sends them first (default 64; 0 keeps none); past it such a relay raises ValueError.",
     NULL},
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

int tw_py_init_merge(PyObject *m) {
    if (PyType_Ready(&Merge_Type) < 0) return -1;
    Py_INCREF(&Merge_Type);
    if (PyModule_AddObject(m, "merge", (PyObject *)&Merge_Type) < 0) {
        Py_DECREF(&Merge_Type);
        return -1;
    }
    return 0;
}
