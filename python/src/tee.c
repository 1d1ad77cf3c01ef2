/*
 * tee.c - tokenwire._native.Tee and ResumeReader: the core's Redis Streams tee (tw_tee) and
 * resume reader (tw_resume) for Python. A relay's Encoder is linked to a Tee (Tee._attach):
 * each take of its output appends the batch to Redis from C (bytes, first seq, event ends),
 * so no Python runs per token; the end of the answer is recorded when the relay finishes.
 * Python (tokenwire/resume.py) watches both objects' fds with loop.add_reader.
 */
#include "tw_py.h"

#include <unistd.h>

/*==============================================================================================
 * Tee
 *============================================================================================*/

typedef struct TeeObject {
    PyObject_HEAD
    tw_tee *tee;
    pid_t pid;           /* the process that made it: a fork() child has no writer thread */
    tw_redis_opts redis; /* strings point into the PyObjects below (kept for readers) */
    PyObject *host, *unix_path, *username, *password, *key_prefix; /* str or None */
} TeeObject;

/* An Encoder's link to a tee: the stream id and what was appended so far. */
struct TwPyTeeLink {
    TeeObject *tee;        /* strong reference */
    char id[TW_TEE_MAX_ID + 1];
    uint64_t seq;          /* the encoder's next_event_seq at the last append */
    int sse;               /* SSE blocks (else NDJSON lines) */
    int state;             /* LINK_* */
    tw_error end;          /* the end to record (LINK_ENDING) */
    uint32_t *ends;        /* scratch for batches of several events */
    size_t ends_cap;
};

enum { LINK_RUNNING = 0, LINK_ENDING, LINK_DONE };

static PyTypeObject Tee_Type;

/* Optional str keyword -> UTF-8 in *out (NULL for None), the object kept in *keep. */
static int opt_str(PyObject *v, const char *what, PyObject **keep, const char **out) {
    if (!v || v == Py_None) {
        *out = NULL;
        return 0;
    }
    if (!PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "%s must be str or None, not %.100s", what,
                     Py_TYPE(v)->tp_name);
        return -1;
    }
    if (!(*out = PyUnicode_AsUTF8(v))) return -1;
    *keep = Py_NewRef(v);
    return 0;
}

static PyObject *Tee_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"host", "port", "unix_path", "username", "password", "db",
                             "key_prefix", "require", "maxlen", "ttl", "live_ttl",
                             "connect_timeout_ms", "command_timeout_ms", "linger_ms",
                             "stop_poll_ms", "max_queue_bytes", NULL};
    PyObject *host = NULL, *unix_path = NULL, *user = NULL, *pass = NULL, *prefix = NULL;
    int port = 6379, db = 0, require = 0, ttl = 3600, live_ttl = 86400, cto = 1000,
        cmd = 2000, linger = 5, stop_poll = 200;
    long maxlen = 10000;
    Py_ssize_t max_queue = (Py_ssize_t)64 << 20;
    tw_tee_opts o;
    tw_error err = {0};
    TeeObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OiOOOiOpliiiiiin:Tee", kwlist, &host,
                                     &port, &unix_path, &user, &pass, &db, &prefix, &require,
                                     &maxlen, &ttl, &live_ttl, &cto, &cmd, &linger, &stop_poll,
                                     &max_queue))
        return NULL;
    if (port <= 0 || port > 65535 || db < 0 || maxlen < 0 || ttl <= 0 || live_ttl <= 0 ||
        cto <= 0 || cmd <= 0 || linger < 0 || stop_poll <= 0 || max_queue <= 0) {
        PyErr_SetString(PyExc_ValueError, "Tee: port 1..65535; db, maxlen, linger_ms >= 0; "
                                          "ttl, live_ttl, timeouts, stop_poll_ms, "
                                          "max_queue_bytes > 0");
        return NULL;
    }
    self = (TeeObject *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    tw_tee_opts_init(&o);
    if (opt_str(host, "host", &self->host, &o.redis.host) < 0 ||
        opt_str(unix_path, "unix_path", &self->unix_path, &o.redis.unix_path) < 0 ||
        opt_str(user, "username", &self->username, &o.redis.username) < 0 ||
        opt_str(pass, "password", &self->password, &o.redis.password) < 0 ||
        opt_str(prefix, "key_prefix", &self->key_prefix, &o.redis.key_prefix) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    if (!o.redis.host) o.redis.host = "127.0.0.1";
    if (!o.redis.key_prefix) o.redis.key_prefix = "tw:";
    o.redis.port = port;
    o.redis.db = db;
    o.redis.connect_timeout_ms = cto;
    o.redis.command_timeout_ms = cmd;
    o.require_redis = require;
    o.maxlen = maxlen;
    o.ttl_after_end_s = ttl;
    o.live_ttl_s = live_ttl;
    o.linger_ms = linger;
    o.stop_poll_ms = stop_poll;
    o.max_queue_bytes = (size_t)max_queue;
    self->redis = o.redis;
    self->pid = getpid();
    /* With require=True this connects (at most connect_timeout_ms): without the GIL. */
    Py_BEGIN_ALLOW_THREADS
    self->tee = tw_tee_new(&o, &err);
    Py_END_ALLOW_THREADS
    if (!self->tee) {
        Py_DECREF(self);
        return tw_py_raise_code(err.code ? err.code : TW_ERR_NOMEM, &err);
    }
    return (PyObject *)self;
}

static void tee_close(TeeObject *self) {
    tw_tee *t = self->tee;
    if (!t) return;
    self->tee = NULL;
    /* Inherited through fork(): the writer thread is the parent's; joining it would hang.
     * Left as is (the child's copy of its memory and fds goes with the process). */
    if (self->pid != getpid()) return;
    /* Joins the writer (bounded by command_timeout_ms): without the GIL. */
    Py_BEGIN_ALLOW_THREADS
    tw_tee_free(t);
    Py_END_ALLOW_THREADS
}

static void Tee_dealloc(TeeObject *self) {
    tee_close(self);
    Py_XDECREF(self->host);
    Py_XDECREF(self->unix_path);
    Py_XDECREF(self->username);
    Py_XDECREF(self->password);
    Py_XDECREF(self->key_prefix);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int tee_open(TeeObject *self) {
    if (self->tee && self->pid != getpid()) {
        PyErr_SetString(PyExc_RuntimeError, "this Tee was made before fork(): make one in "
                                            "this process (RedisTee does)");
        return -1;
    }
    if (self->tee) return 0;
    PyErr_SetString(PyExc_ValueError, "the tee is closed");
    return -1;
}

/* A stream id argument: 1..TW_TEE_MAX_ID bytes of UTF-8, no NUL. NULL with ValueError. */
static const char *id_arg(PyObject *v) {
    Py_ssize_t n;
    const char *p;
    if (!PyUnicode_Check(v)) {
        PyErr_Format(PyExc_TypeError, "stream id must be str, not %.100s", Py_TYPE(v)->tp_name);
        return NULL;
    }
    if (!(p = PyUnicode_AsUTF8AndSize(v, &n))) return NULL;
    if (n < 1 || n > TW_TEE_MAX_ID || strlen(p) != (size_t)n) {
        PyErr_Format(PyExc_ValueError, "stream id must be 1..%d bytes without NUL",
                     TW_TEE_MAX_ID);
        return NULL;
    }
    return p;
}

static PyObject *Tee_fileno(TeeObject *self, PyObject *Py_UNUSED(i)) {
    if (tee_open(self) < 0) return NULL;
    return PyLong_FromLong(tw_tee_fd(self->tee));
}

/* [(kind, stream_id or None, message), ...]: every pending notice, oldest first. */
static PyObject *Tee_take_notices(TeeObject *self, PyObject *Py_UNUSED(i)) {
    tw_tee_notice buf[32];
    size_t n;
    PyObject *list;
    if (tee_open(self) < 0) return NULL;
    if (!(list = PyList_New(0))) return NULL;
    do {
        n = tw_tee_take_notices(self->tee, buf, 32);
        for (size_t i = 0; i < n; i++) {
            const tw_tee_notice *x = &buf[i];
            PyObject *t = Py_BuildValue("(sz s)", tw_tee_notice_name(x->kind),
                                        x->stream_id[0] ? x->stream_id : NULL, x->error.msg);
            if (!t || PyList_Append(list, t) < 0) {
                Py_XDECREF(t);
                Py_DECREF(list);
                return NULL;
            }
            Py_DECREF(t);
        }
    } while (n == 32);
    return list;
}

static PyObject *Tee_available(TeeObject *self, PyObject *Py_UNUSED(i)) {
    tw_error err = {0};
    int ok;
    if (tee_open(self) < 0) return NULL;
    ok = tw_tee_available(self->tee, &err);
    return Py_BuildValue("(Os)", ok ? Py_True : Py_False, ok ? "" : err.msg);
}

static PyObject *Tee_request_stop(TeeObject *self, PyObject *id) {
    const char *p;
    tw_code c;
    if (tee_open(self) < 0 || !(p = id_arg(id))) return NULL;
    if ((c = tw_tee_request_stop(self->tee, p)) != TW_OK) return tw_py_raise_code(c, NULL);
    Py_RETURN_NONE;
}

static PyObject *Tee_stop_requested(TeeObject *self, PyObject *id) {
    const char *p;
    if (tee_open(self) < 0 || !(p = id_arg(id))) return NULL;
    return PyBool_FromLong(tw_tee_stop_requested(self->tee, p));
}

static PyObject *Tee_watch_readers(TeeObject *self, PyObject *args) {
    PyObject *id;
    const char *p;
    int ms;
    tw_code c;
    if (!PyArg_ParseTuple(args, "Ui:watch_readers", &id, &ms)) return NULL;
    if (tee_open(self) < 0 || !(p = id_arg(id))) return NULL;
    if (ms < 0) {
        PyErr_SetString(PyExc_ValueError, "abandon_after_ms must be >= 0");
        return NULL;
    }
    c = tw_tee_watch_readers(self->tee, p, ms);
    return PyBool_FromLong(c == TW_OK); /* False: not running here (ended or not tee'd) */
}

/* stream_status(id) -> "teed" | "dropped" | "ending" | "unknown", message */
static PyObject *Tee_stream_status(TeeObject *self, PyObject *id) {
    const char *p, *s;
    tw_error err = {0};
    tw_code c;
    if (tee_open(self) < 0 || !(p = id_arg(id))) return NULL;
    c = tw_tee_stream_status(self->tee, p, &err);
    s = c == TW_OK ? "teed" : c == TW_ERR_STORE ? "dropped" : c == TW_ERR_CLOSED ? "ending"
                                                                                 : "unknown";
    return Py_BuildValue("(ss)", s, err.msg);
}

static PyObject *Tee_flush(TeeObject *self, PyObject *arg) {
    int ms = (int)PyLong_AsLong(arg);
    tw_code c;
    if (ms == -1 && PyErr_Occurred()) return NULL;
    if (tee_open(self) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    c = tw_tee_flush(self->tee, ms);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(c == TW_OK);
}

static PyObject *Tee_stats(TeeObject *self, PyObject *Py_UNUSED(i)) {
    tw_tee_stats st;
    if (tee_open(self) < 0) return NULL;
    tw_tee_get_stats(self->tee, &st);
    return Py_BuildValue("{sKsKsKsKsKsKsKsnsn}", "appends", (unsigned long long)st.appends,
                         "entries_written", (unsigned long long)st.entries_written, "batches",
                         (unsigned long long)st.batches, "max_batch",
                         (unsigned long long)st.max_batch, "streams_dropped",
                         (unsigned long long)st.streams_dropped, "notices_dropped",
                         (unsigned long long)st.notices_dropped, "connects",
                         (unsigned long long)st.connects, "queued_bytes",
                         (Py_ssize_t)st.queued_bytes, "active_streams",
                         (Py_ssize_t)st.active_streams);
}

static PyObject *Tee_close(TeeObject *self, PyObject *Py_UNUSED(i)) {
    tee_close(self);
    Py_RETURN_NONE;
}

/* _attach(encoder, stream_id): every later take of the encoder's output is appended to the
 * tee under stream_id; the encoder must number its events (event_id_prefix). */
static PyObject *Tee_attach(TeeObject *self, PyObject *args) {
    EncoderObject *enc;
    PyObject *id;
    const char *p, *ct;
    TwPyTeeLink *l;
    if (!PyArg_ParseTuple(args, "O!U:_attach", &Encoder_Type, &enc, &id)) return NULL;
    if (tee_open(self) < 0 || !(p = id_arg(id))) return NULL;
    if (enc->tee) {
        PyErr_SetString(PyExc_ValueError, "this encoder is already tee'd");
        return NULL;
    }
    ct = tw_encoder_headers(enc->enc)[1];
    if (enc->messages || enc->event_id_prefix == Py_None ||
        (!strstr(ct, "event-stream") && !strstr(ct, "ndjson"))) {
        PyErr_SetString(PyExc_ValueError, "a tee needs an encoder with event ids in an SSE or "
                                          "NDJSON format (not text, not messages)");
        return NULL;
    }
    if (!(l = PyMem_Calloc(1, sizeof *l))) return PyErr_NoMemory();
    l->tee = (TeeObject *)Py_NewRef(self);
    memcpy(l->id, p, strlen(p) + 1);
    l->seq = tw_encoder_next_event_seq(enc->enc);
    l->sse = strstr(ct, "event-stream") != NULL;
    enc->tee = l;
    Py_RETURN_NONE;
}

static void link_end(TwPyTeeLink *l, const tw_error *e);

/* _end(encoder): the relay stopped before its end (the browser left, no detach): readers end
 * now with a cancelled error rather than when the encoder is collected. */
static PyObject *Tee_end(TeeObject *self, PyObject *arg) {
    EncoderObject *enc = (EncoderObject *)arg;
    if (!PyObject_TypeCheck(arg, &Encoder_Type)) {
        PyErr_SetString(PyExc_TypeError, "_end takes an Encoder");
        return NULL;
    }
    (void)self;
    if (enc->tee && enc->tee->state != LINK_DONE) {
        tw_error e = {.code = TW_ERR_CANCELLED};
        snprintf(e.msg, sizeof e.msg, "cancelled: the relay stopped before the end");
        if (enc->tee->state == LINK_ENDING) e = enc->tee->end;
        link_end(enc->tee, &e);
    }
    Py_RETURN_NONE;
}

static PyMethodDef Tee_methods[] = {
    {"fileno", (PyCFunction)Tee_fileno, METH_NOARGS, "The notices fd (for loop.add_reader)."},
    {"take_notices", (PyCFunction)Tee_take_notices, METH_NOARGS,
     "[(kind, stream_id or None, message)]: kind lost / stop / down / up / abandoned."},
    {"available", (PyCFunction)Tee_available, METH_NOARGS,
     "(connected, why not): whether new streams are tee'd."},
    {"request_stop", (PyCFunction)Tee_request_stop, METH_O,
     "Asks the producer of stream_id, on any instance, to stop (through Redis)."},
    {"stop_requested", (PyCFunction)Tee_stop_requested, METH_O, NULL},
    {"watch_readers", (PyCFunction)Tee_watch_readers, METH_VARARGS,
     "watch_readers(stream_id, abandon_after_ms): an 'abandoned' notice when no resume reader "
     "announced itself for that long (0 stops watching). False: not running here."},
    {"stream_status", (PyCFunction)Tee_stream_status, METH_O, NULL},
    {"flush", (PyCFunction)Tee_flush, METH_O, "flush(timeout_ms): True once all is written."},
    {"stats", (PyCFunction)Tee_stats, METH_NOARGS, NULL},
    {"close", (PyCFunction)Tee_close, METH_NOARGS, "Stops the writer (one last attempt)."},
    {"_attach", (PyCFunction)Tee_attach, METH_VARARGS, NULL},
    {"_end", (PyCFunction)Tee_end, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Tee_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire._native.Tee",
    .tp_doc = "Tee(*, host='127.0.0.1', port=6379, ..., require=False): the Redis Streams tee "
              "of resumable relays (one writer thread and connection, shared by the app).",
    .tp_basicsize = sizeof(TeeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Tee_new,
    .tp_dealloc = (destructor)Tee_dealloc,
    .tp_methods = Tee_methods,
};

/*==============================================================================================
 * The encoder hooks
 *============================================================================================*/

/* The end offsets of the n numbered events in data (tw_tee_event_ends), into l->ends grown to
 * hold them. @return 0, or -1. */
static int find_ends(TwPyTeeLink *l, const char *data, size_t len, uint64_t n,
                     size_t *len_out) {
    if (n > l->ends_cap) {
        uint32_t *e = PyMem_Realloc(l->ends, (size_t)n * sizeof *e);
        if (!e) return -1;
        l->ends = e;
        l->ends_cap = (size_t)n;
    }
    return tw_tee_event_ends(l->sse, data, len, n, l->ends, len_out);
}

static void link_end(TwPyTeeLink *l, const tw_error *e) {
    if (l->tee->tee) tw_tee_end(l->tee->tee, l->id, e); /* NOT_FOUND: never tee'd; fine */
    l->state = LINK_DONE;
}

void tw_py_tee_on_take(EncoderObject *enc) {
    TwPyTeeLink *l = enc->tee;
    uint64_t next = tw_encoder_next_event_seq(enc->enc), n = next - l->seq;
    if (l->state != LINK_DONE && n && l->tee->tee) {
        size_t len = enc->out.len;
        const uint32_t *ends = NULL;
        if (len > UINT32_MAX) {
            n = 0; /* larger than an entry may be: the tee drops the stream below */
        } else if (n > 1) {
            if (find_ends(l, enc->out.data, len, n, &len) == 0) ends = l->ends;
            else n = 0;
        }
        if (n) {
            /* TW_ERR_CLOSED: not tee'd (Redis down at its start, lost): a notice said so. */
            (void)tw_tee_append(l->tee->tee, l->id, enc->out.data, len, l->seq, (uint32_t)n,
                                ends);
        } else {
            tw_error e = {.code = TW_ERR_STORE};
            snprintf(e.msg, sizeof e.msg, "a relayed batch could not be split into events");
            link_end(l, &e);
        }
    }
    l->seq = next;
    if (l->state == LINK_ENDING) link_end(l, &l->end);
}

void tw_py_tee_on_terminal(EncoderObject *enc, const tw_event *ev) {
    TwPyTeeLink *l = enc->tee;
    if (l->state != LINK_RUNNING) return;
    memset(&l->end, 0, sizeof l->end);
    if (ev && ev->type == TW_EV_ERROR) {
        l->end.code = tw_tee_code_of_kind((tw_error_kind)ev->error_kind);
        snprintf(l->end.msg, sizeof l->end.msg, "%s: %.*s", tw_error_kind_name(ev->error_kind),
                 (int)(ev->text.len > 100 ? 100 : ev->text.len), ev->text.ptr ? ev->text.ptr
                                                                               : "");
    }
    l->state = LINK_ENDING; /* recorded after the take that appends the last bytes */
}

void tw_py_tee_link_free(EncoderObject *enc) {
    TwPyTeeLink *l = enc->tee;
    enc->tee = NULL;
    if (l->state != LINK_DONE) {
        /* The relay went away before its end (disconnect without detach): readers end. */
        tw_error e = {.code = TW_ERR_CANCELLED};
        snprintf(e.msg, sizeof e.msg, "the relay stopped before the end of the stream");
        if (l->state == LINK_ENDING) e = l->end;
        link_end(l, &e);
    }
    Py_DECREF(l->tee);
    PyMem_Free(l->ends);
    PyMem_Free(l);
}

/*==============================================================================================
 * ResumeReader
 *============================================================================================*/

typedef struct ResumeObject {
    PyObject_HEAD
    tw_resume *r;
    pid_t pid; /* as for the tee: a fork() child leaves the parent's reader alone */
} ResumeObject;

static PyObject *Resume_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"tee", "stream_id", "last_seq", "block_ms", "idle_timeout_ms",
                             "not_found_grace_ms", "presence_ttl_ms", NULL};
    TeeObject *tee;
    PyObject *id, *last = Py_None;
    int block = 1000, idle = 120000, grace = 0, presence = 3000;
    const char *p;
    tw_resume_opts o;
    tw_error err = {0};
    ResumeObject *self;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!U|O$iiii:ResumeReader", kwlist, &Tee_Type,
                                     &tee, &id, &last, &block, &idle, &grace, &presence))
        return NULL;
    if (!(p = id_arg(id))) return NULL;
    if (block <= 0 || idle < 0 || grace < 0 || presence < 0) {
        PyErr_SetString(PyExc_ValueError, "block_ms > 0; idle_timeout_ms, not_found_grace_ms, "
                                          "presence_ttl_ms >= 0");
        return NULL;
    }
    tw_resume_opts_init(&o);
    o.redis = tee->redis;
    if (last == Py_None) {
        o.from_start = 1;
    } else {
        o.last_seq = PyLong_AsUnsignedLongLong(last);
        if (PyErr_Occurred()) return NULL;
    }
    o.block_ms = block;
    o.idle_timeout_ms = idle;
    o.not_found_grace_ms = grace;
    o.presence_ttl_ms = presence;
    if (!(self = (ResumeObject *)type->tp_alloc(type, 0))) return NULL;
    self->pid = getpid();
    if (!(self->r = tw_resume_open(&o, p, &err))) {
        Py_DECREF(self);
        return tw_py_raise_code(err.code ? err.code : TW_ERR_NOMEM, &err);
    }
    return (PyObject *)self;
}

static void resume_close(ResumeObject *self) {
    tw_resume *r = self->r;
    if (!r) return;
    self->r = NULL;
    if (self->pid != getpid()) return;
    Py_BEGIN_ALLOW_THREADS
    tw_resume_close(r);
    Py_END_ALLOW_THREADS
}

static void Resume_dealloc(ResumeObject *self) {
    resume_close(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int resume_open(ResumeObject *self) {
    if (self->r) return 0;
    PyErr_SetString(PyExc_ValueError, "the resume reader is closed");
    return -1;
}

static PyObject *Resume_fileno(ResumeObject *self, PyObject *Py_UNUSED(i)) {
    if (resume_open(self) < 0) return NULL;
    return PyLong_FromLong(tw_resume_fd(self->r));
}

/* take() -> (bytes, first_seq, n_events) or None when nothing waits. */
static PyObject *Resume_take(ResumeObject *self, PyObject *Py_UNUSED(i)) {
    tw_resume_chunk *c;
    PyObject *v;
    if (resume_open(self) < 0) return NULL;
    if (!(c = tw_resume_take(self->r))) Py_RETURN_NONE;
    v = Py_BuildValue("(y#KK)", c->data, (Py_ssize_t)c->len, (unsigned long long)c->first_seq,
                      (unsigned long long)c->n_events);
    tw_resume_chunk_free(c);
    return v;
}

/* status() -> (state, message) */
static PyObject *Resume_status(ResumeObject *self, PyObject *Py_UNUSED(i)) {
    tw_error err = {0};
    tw_resume_state s;
    if (resume_open(self) < 0) return NULL;
    s = tw_resume_status(self->r, &err);
    return Py_BuildValue("(ss)", tw_resume_state_name(s), err.msg);
}

/* found() -> bool: tw_resume_found */
static PyObject *Resume_found(ResumeObject *self, PyObject *Py_UNUSED(i)) {
    if (resume_open(self) < 0) return NULL;
    return PyBool_FromLong(tw_resume_found(self->r));
}

static PyObject *Resume_close(ResumeObject *self, PyObject *Py_UNUSED(i)) {
    resume_close(self);
    Py_RETURN_NONE;
}

static PyMethodDef Resume_methods[] = {
    {"fileno", (PyCFunction)Resume_fileno, METH_NOARGS, "Readable while something waits."},
    {"take", (PyCFunction)Resume_take, METH_NOARGS,
     "(bytes, first_seq, n_events) of every whole event delivered so far, or None."},
    {"status", (PyCFunction)Resume_status, METH_NOARGS,
     "(state, message): running, ended, upstream_error, not_found, store_error, timeout, "
     "cancelled (terminal only once every byte was taken)."},
    {"found", (PyCFunction)Resume_found, METH_NOARGS,
     "True once the stream is known to exist (before its next byte, if any)."},
    {"close", (PyCFunction)Resume_close, METH_NOARGS, "Stops the reader and frees it."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Resume_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tokenwire._native.ResumeReader",
    .tp_doc = "ResumeReader(tee, stream_id, last_seq=None, *, block_ms=1000, "
              "idle_timeout_ms=120000, not_found_grace_ms=0, presence_ttl_ms=3000): replays "
              "a tee'd stream after last_seq (None: from the start), then follows it.",
    .tp_basicsize = sizeof(ResumeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Resume_new,
    .tp_dealloc = (destructor)Resume_dealloc,
    .tp_methods = Resume_methods,
};

int tw_py_init_tee(PyObject *m) {
    if (PyType_Ready(&Tee_Type) < 0 || PyType_Ready(&Resume_Type) < 0) return -1;
    Py_INCREF(&Tee_Type);
    if (PyModule_AddObject(m, "Tee", (PyObject *)&Tee_Type) < 0) {
        Py_DECREF(&Tee_Type);
        return -1;
    }
    Py_INCREF(&Resume_Type);
    if (PyModule_AddObject(m, "ResumeReader", (PyObject *)&Resume_Type) < 0) {
        Py_DECREF(&Resume_Type);
        return -1;
    }
    return 0;
}
