/*
 * tw_py_stream.h - internals shared by the files of the streaming side of the extension:
 *
 *   engine.c    Engine, its sinks (one per event loop) and the loop readers, Engine.start
 *   consumer.c  consumers: parking one Future, waking it on its own loop, the sync step,
 *               the text / batches / encoded views (StreamIter)
 *   stream.c    Stream: one transfer's events, taken from the engine's batches
 *   merge.c     merge: several streams in arrival order
 *
 * Delivery: the engine queues events per stream. A consumer first takes what is queued
 * (tw_stream_take) and only when nothing is there parks one Future; the fd of the stream's sink
 * then tells the loop that some stream became ready and the sink's reader resolves the parked
 * Futures. Events are never pulled from the engine for a consumer that is not asking, so a slow
 * consumer leaves them in the engine's bounded queue and backpressure pauses the transfer.
 * Nothing here is public API.
 */
#ifndef TW_PY_STREAM_H
#define TW_PY_STREAM_H

#include "tw_py.h"

/*==============================================================================================
 * Steps
 *============================================================================================*/

/* What one step of a consumer hands out: an Event, a text delta, a list of Events, encoded
 * bytes; FINAL: nothing until the end, then the summary; SKIP: None per chunk consumed. */
enum { MODE_EVENT = 0, MODE_TEXT, MODE_BATCH, MODE_ENCODED, MODE_FINAL, MODE_SKIP };
/* An encoded step hands out what it encoded once it reaches this many bytes, even while more
 * events are queued: the relay sends that before it takes more, so one step holds a bounded
 * amount of output however fast the upstream is, and a slow reader leaves the events in the
 * engine's bounded queue (backpressure pauses the upstream). */
#define TW_PY_ENCODED_STEP_BYTES (64 * 1024)

/* The outcome of one step: a value, nothing yet (park), the end, an exception (raised). */
enum { POP_VALUE = 0, POP_EMPTY, POP_END, POP_ERROR };
/* The outcome of taking one raw event from a stream (NR_ERROR: a callback raised). */
enum { NR_EVENT = 0, NR_EMPTY, NR_DONE, NR_ERROR };

/*==============================================================================================
 * Engine side (engine.c)
 *============================================================================================*/

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

/*==============================================================================================
 * Consumers (consumer.c)
 *============================================================================================*/

struct StreamIterObject;
struct MergeObject;

/* The part shared by Stream and Merge: one parked Future at most. */
#define CONSUMER_HEAD                                                                            \
    PyObject_HEAD                                                                                \
    int is_merge;                                                                                \
    PyObject *waiter;          /* asyncio Future or NULL */                                      \
    PyObject *waiter_loop;     /* the loop of waiter: only it resolves the Future */            \
    struct StreamIterObject *waiter_iter; /* view that parked it (NULL = plain events) */        \
    int waiter_mode;                                                                             \
    PyObject *hb_handle;       /* heartbeat TimerHandle or NULL */                               \
    PyObject *done_cache;      /* reusable done awaitable */                                     \
    PyObject *pending;         /* (callback, argument) pairs queued by async steps, or NULL */  \
    int defer;                 /* 1 while an async step consumes: queue callbacks, call later */

typedef struct ConsumerObject {
    CONSUMER_HEAD
} ConsumerObject;

/* Replay (replay.c): the Events a consumer handed out before a relay or merge took it over. */
enum { REPLAY_LOG = 0, REPLAY_RUN, REPLAY_OFF, REPLAY_OVERFLOW };
typedef struct ReplayLog {
    PyObject *events; /* list of the Events kept, or NULL */
    Py_ssize_t limit; /* replay_limit: how many are kept at most */
    Py_ssize_t count; /* events handed out while logging (past the limit too) */
    Py_ssize_t pos;   /* the next Event to replay */
    int state;        /* LOG: keeping; RUN: taken over (replaying); OFF; OVERFLOW: dropped */
} ReplayLog;

typedef struct StreamIterObject {
    PyObject_HEAD
    ConsumerObject *c;
    int mode;
    EncoderObject *enc;
    double heartbeat;
} StreamIterObject;

typedef struct StreamObject {
    CONSUMER_HEAD
    EngineObject *engine;
    SinkObject *sink; /* the sink the stream was started on */
    tw_stream *ts;
    tw_engine *te; /* the engine ts runs on (its memory outlives a fork(): see fork.c), to
                      tell a stream of the parent in a fork() child */
    tw_batch *cur; /* batch being consumed */
    size_t cur_i, cur_n;
    int done;                  /* the terminal event has been consumed */
    int closed;                /* closed by the user: iteration ends, nothing more is read */
    PyObject *pending_exc;     /* terminal exception still to raise */
    PyObject *error;           /* the terminal exception, kept for .error */
    struct MergeObject *merge; /* borrowed: the merge consuming this stream */
    Py_ssize_t merge_index;
    int dialect;               /* tw_dialect of the request; immutable after start */
    int sync;                  /* started by stream_sync: final() blocks instead of awaiting */
    PyObject **callbacks;      /* NULL, or lists by event type; [0]: every event ("event") */
    tw_summary *final_sum;     /* the summary, kept once the terminal event was consumed; in a
                                  fork() child, for a stream of the parent, the child's own */
    ReplayLog replay;          /* the raw events read before a relay / merge took it over */
    tw_event replay_ev;        /* the event being replayed (strings of an Event of the log) */
    const tw_event *last_logged; /* the event just logged, so MODE_EVENT hands out its Event */
} StreamObject;

typedef struct MergeEntry {
    PyObject *name;
    const char *name_utf8;
    size_t name_len;
    StreamObject *s;
    int in_ready;
} MergeEntry;

typedef struct MergeObject {
    CONSUMER_HEAD
    Py_ssize_t n;
    MergeEntry *ent;
    Py_ssize_t *ready; /* FIFO ring of entry indices that may have events */
    Py_ssize_t ready_head, ready_len, rr;
    PyObject *outq; /* list of Events ready for MODE_EVENT */
    Py_ssize_t outq_head;
    tw_framer *framer; /* the core's framing rule (tw_merge.h): which sources started / ended */
    int done;
    int enc_done;      /* the relay wrote the encoder's end */
    ReplayLog replay;  /* the framed Events handed out before a relay took it over */
} MergeObject;

int tw_py_consumer_init(ConsumerObject *c, int is_merge);
int tw_py_consumer_traverse(ConsumerObject *c, visitproc visit, void *arg);
void tw_py_consumer_clear(ConsumerObject *c);
/* Forgets the parked Future (returned, owned by the caller; NULL if none). */
PyObject *tw_py_consumer_unpark(ConsumerObject *c);
/* Cancels the parked Future, if any (closing a consumer). */
void tw_py_consumer_cancel_waiter(ConsumerObject *c);
/* From a reader running on loop: wake c on the loop of its parked Future. */
void tw_py_consumer_notify(ConsumerObject *c, PyObject *loop);
/* The awaitable for one async step: done at once when something is available, else a Future. */
PyObject *tw_py_consumer_anext(ConsumerObject *c, int mode, StreamIterObject *it);
/* One synchronous step of a stream: blocks (GIL released) until something is available. */
PyObject *tw_py_stream_sync_next(StreamObject *s, int mode, StreamIterObject *it);
/* A text / batches / encoded view of c. */
PyObject *tw_py_iter_new(ConsumerObject *c, int mode, EncoderObject *enc, double heartbeat);
/* _encoded(encoder, heartbeat=0): the encoded view, arguments checked. */
PyObject *tw_py_encoded_view(ConsumerObject *c, PyObject *args, PyObject *kwargs);

/* Methods every consumer type has (callbacks of Futures, timers and other loops). */
PyObject *tw_py_Consumer_waiter_done(ConsumerObject *c, PyObject *fut);
PyObject *tw_py_Consumer_heartbeat(ConsumerObject *c, PyObject *ignored);
PyObject *tw_py_Consumer_wake(ConsumerObject *c, PyObject *ignored);
PyObject *tw_py_Consumer_take_callbacks(ConsumerObject *c, PyObject *ignored);
#define TW_PY_CONSUMER_METHODS                                                                   \
    {"_waiter_done", (PyCFunction)tw_py_Consumer_waiter_done, METH_O, NULL},                    \
    {"_heartbeat", (PyCFunction)tw_py_Consumer_heartbeat, METH_NOARGS, NULL},                   \
    {"_wake", (PyCFunction)tw_py_Consumer_wake, METH_NOARGS, NULL},                             \
    {"_take_callbacks", (PyCFunction)tw_py_Consumer_take_callbacks, METH_NOARGS, NULL}

/*==============================================================================================
 * Callbacks and final() (callbacks.c)
 *============================================================================================*/

/* Stream.on(type, callback) -> the stream. */
PyObject *tw_py_Stream_on(StreamObject *s, PyObject *const *args, Py_ssize_t nargs);
/* Stream.final() and the MODE_SKIP step of _aio.final. */
PyObject *tw_py_Stream_final(StreamObject *s, PyObject *ignored);
PyObject *tw_py_Stream_skip(StreamObject *s, PyObject *ignored);
int tw_py_callbacks_traverse(StreamObject *s, visitproc visit, void *arg);
void tw_py_callbacks_clear(StreamObject *s);
/* Calls (or queues, c->defer) the callbacks of s for ev. @return 0 or -1 (raised). */
int tw_py_callbacks_dispatch(StreamObject *s, const tw_event *ev);
int tw_py_consumer_has_callbacks(ConsumerObject *c);
/* The awaitable of an async step of a consumer with callbacks: _aio.step(c, aw, exc); aw is
 * stolen, NULL = the step raised (the exception is taken and raised after the callbacks). */
PyObject *tw_py_callbacks_wrap(ConsumerObject *c, PyObject *aw);

/*==============================================================================================
 * Streams and merges (stream.c, merge.c, engine.c)
 *============================================================================================*/

/* The next raw event of the stream, borrowed until the next call. @return NR_*. */
int tw_py_stream_next_raw(StreamObject *s, const tw_event **out);
/* One step of a stream in a mode; *st says what came of it. */
PyObject *tw_py_stream_pop(StreamObject *s, int mode, StreamIterObject *it, int *st);
/* Cancels the transfer unless it already ended. */
void tw_py_stream_cancel(StreamObject *s);
/* Makes loop watch the sink of s before a Future of loop waits on s. @return 0 or -1. */
int tw_py_stream_watch(StreamObject *s, PyObject *loop);

void tw_py_merge_mark_ready(MergeObject *m, Py_ssize_t i);
PyObject *tw_py_merge_pop(MergeObject *m, int mode, StreamIterObject *it, int *st);
void tw_py_merge_cancel(MergeObject *m);

/* Replay (replay.c). */
void tw_py_replay_init(ReplayLog *r);
void tw_py_replay_clear(ReplayLog *r);
/* Logs a raw event a stream hands out (LOG state, not in a merge). */
void tw_py_replay_log_raw(StreamObject *s, const tw_event *ev);
/* The Event of ev: the one just logged, else a new one. */
PyObject *tw_py_replay_event(StreamObject *s, const tw_event *ev);
/* Logs what a merge hands out (an Event or a list of Events). */
void tw_py_replay_log_handed(ReplayLog *r, PyObject *v);
/* A relay / merge takes the consumer over: replay what was logged. what names the taker in
 * the error. @return 0, or -1 with ValueError when the log was dropped (past the limit). */
int tw_py_replay_start(ReplayLog *r, const char *what);
/* The next replayed event of a stream (NR_EVENT), or NR_EMPTY when none is left. */
int tw_py_replay_next(StreamObject *s, const tw_event **out);
/* Encodes a merge's replayed and queued Events into enc. @return 0 or -1 (raised). */
int tw_py_replay_merge(MergeObject *m, EncoderObject *enc);
PyObject *tw_py_replay_get_limit(ReplayLog *r);
int tw_py_replay_set_limit(ReplayLog *r, PyObject *v);
/* 1 when a Future not done yet is parked on c (a done one is dropped), else 0. */
int tw_py_consumer_busy(ConsumerObject *c);

/* The running loop of this thread (new reference), or NULL (no exception) when none runs. */
PyObject *tw_py_running_loop(void);

#endif /* TW_PY_STREAM_H */
