/*
 * replay.c - relaying a stream (or merge) the app already read from: what it read is relayed
 * first, in order, then the rest; nothing lost, nothing twice.
 *
 * Until a relay or a merge takes a consumer over, the events it hands out are kept as Events,
 * up to replay_limit (so a stream iterated to its end does not keep every event: past the
 * limit the log is dropped, and a relay is then refused with ValueError rather than relaying
 * a stream with a hole in it). A relay (the encoded view) or a merge then replays the log
 * before the live events:
 *   - a Stream's log is the raw events taken from its batches (terminal one included), handed
 *     back by tw_py_stream_next_raw, so the relay, a merge's framer, ids and the encoder see
 *     them as they came (callbacks are not called again);
 *   - a merge's log is the framed Events it handed out, followed by those framed but not yet
 *     handed out (its queue), encoded as they are before the live events.
 */
#include "tw_py_stream.h"

/* Enough for a peek at the start of a stream (start, a few reasoning or text events); a
 * fan-in of thousands of iterated streams keeps at most this many Events per stream. */
#define REPLAY_DEFAULT_LIMIT 64

void tw_py_replay_init(ReplayLog *r) {
    r->limit = REPLAY_DEFAULT_LIMIT;
}

void tw_py_replay_clear(ReplayLog *r) {
    Py_CLEAR(r->events);
}

/* Keeps one Event (a new reference, stolen) in the log, or drops the log past the limit.
 * @return 0; a failure to keep it drops the log too (a relay will refuse, never lose). */
static int keep(ReplayLog *r, PyObject *ev) {
    r->count++;
    if (!ev || r->count > r->limit || (!r->events && !(r->events = PyList_New(0))) ||
        PyList_Append(r->events, ev) < 0) {
        Py_XDECREF(ev);
        if (PyErr_Occurred()) PyErr_Clear();
        Py_CLEAR(r->events);
        r->state = REPLAY_OVERFLOW;
        return 0;
    }
    Py_DECREF(ev);
    return 0;
}

void tw_py_replay_log_raw(StreamObject *s, const tw_event *ev) {
    ReplayLog *r = &s->replay;
    if (r->state != REPLAY_LOG || s->merge) return;
    keep(r, tw_py_event_new(ev, NULL));
    if (r->events) s->last_logged = ev;
}

PyObject *tw_py_replay_event(StreamObject *s, const tw_event *ev) {
    ReplayLog *r = &s->replay;
    if (s->last_logged == ev && r->events && PyList_GET_SIZE(r->events))
        return Py_NewRef(PyList_GET_ITEM(r->events, PyList_GET_SIZE(r->events) - 1));
    return tw_py_event_new(ev, NULL);
}

void tw_py_replay_log_handed(ReplayLog *r, PyObject *v) {
    Py_ssize_t i, n;
    if (r->state != REPLAY_LOG || !v) return;
    if (!PyList_Check(v)) {
        keep(r, Py_NewRef(v));
        return;
    }
    n = PyList_GET_SIZE(v);
    for (i = 0; i < n && r->state == REPLAY_LOG; i++) keep(r, Py_NewRef(PyList_GET_ITEM(v, i)));
}

int tw_py_replay_start(ReplayLog *r, const char *what) {
    if (r->state == REPLAY_OVERFLOW) {
        PyErr_Format(PyExc_ValueError,
                     "cannot %s this stream: %zd events were read from it before, more than "
                     "its replay_limit (%zd) keeps to relay them first; set replay_limit "
                     "before reading, or relay a stream nothing was read from",
                     what, r->count, r->limit);
        return -1;
    }
    if (r->state == REPLAY_LOG) {
        r->state = REPLAY_RUN;
        r->pos = 0;
    }
    return 0;
}

int tw_py_replay_next(StreamObject *s, const tw_event **out) {
    ReplayLog *r = &s->replay;
    EventObject *e;
    if (r->state != REPLAY_RUN || !r->events) return NR_EMPTY;
    if (r->pos >= PyList_GET_SIZE(r->events)) {
        Py_CLEAR(r->events); /* replayed: the live events follow */
        return NR_EMPTY;
    }
    /* The Event stays in the log (alive) while the event borrowing its strings is used. */
    e = (EventObject *)PyList_GET_ITEM(r->events, r->pos);
    r->pos++;
    if (tw_py_event_to_c(e, &s->replay_ev) < 0) return NR_ERROR;
    *out = &s->replay_ev;
    return NR_EVENT;
}

/* The Events of a merge to encode before its live ones: those handed out, then those framed
 * but not handed out yet (its queue). @return 0 or -1 (raised). */
int tw_py_replay_merge(MergeObject *m, EncoderObject *enc) {
    PyObject *lists[2] = {m->replay.state == REPLAY_RUN ? m->replay.events : NULL, m->outq};
    Py_ssize_t from[2] = {0, m->outq_head};
    tw_event ev;
    for (int k = 0; k < 2; k++) {
        Py_ssize_t i;
        if (!lists[k]) continue;
        for (i = from[k]; i < PyList_GET_SIZE(lists[k]); i++) {
            if (tw_py_event_to_c((EventObject *)PyList_GET_ITEM(lists[k], i), &ev) < 0 ||
                tw_py_encoder_encode(enc, &ev) < 0)
                return -1;
        }
    }
    Py_CLEAR(m->replay.events);
    m->replay.state = REPLAY_OFF;
    if (PyList_SetSlice(m->outq, 0, PyList_GET_SIZE(m->outq), NULL) < 0) return -1;
    m->outq_head = 0;
    return 0;
}

PyObject *tw_py_replay_get_limit(ReplayLog *r) {
    return PyLong_FromSsize_t(r->limit);
}

int tw_py_replay_set_limit(ReplayLog *r, PyObject *v) {
    Py_ssize_t n;
    if (!v) {
        PyErr_SetString(PyExc_AttributeError, "replay_limit cannot be deleted");
        return -1;
    }
    if (!PyLong_Check(v) || PyBool_Check(v)) {
        PyErr_Format(PyExc_TypeError, "replay_limit must be an int, not %.100s",
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    n = PyLong_AsSsize_t(v);
    if (n == -1 && PyErr_Occurred()) return -1;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "replay_limit must be >= 0");
        return -1;
    }
    r->limit = n;
    if (r->state == REPLAY_LOG && r->count > n) {
        /* Already past the new limit: what was read can no longer be relayed whole. */
        Py_CLEAR(r->events);
        r->state = REPLAY_OVERFLOW;
    }
    return 0;
}
