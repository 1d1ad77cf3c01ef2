/*
 * engine_internal.h - shared internals of the streaming engine (the .c files of csrc/engine).
 *
 * Layout:
 *   engine.c   lifecycle (new/free, reference counts), ready list + wakeup fd, public stream API
 *   stream.c   per-stream queue: push from the I/O thread, take/wait from consumers, metrics
 *   io_loop.c  the I/O thread: a poller + curl_multi_socket_action, commands, transfers, callbacks
 *   poller*.c  the poller (epoll / kqueue / poll) and the wakeup fds (eventfd / pipe): poller.h
 *   retry.c    retry policy (which failures, backoff + jitter + Retry-After) and the timer heap
 *   sink.c     sinks: ready lists with their wakeup fds, one per consumer (event loop)
 *   fork.c     fork() detection: engines of a parent process are abandoned, never waited on
 *   request_check.c  RFC 9110 checks of the method, URL and headers of a request
 *
 * Locks, in the only order they are ever nested:  s->lock  ->  k->lock (the stream's sink).
 * io->cmd_lock and e->share_locks[] are leaf locks (nothing is taken while holding them).
 */
#ifndef TW_ENGINE_INTERNAL_H
#define TW_ENGINE_INTERNAL_H

#include "engine/poller.h"
#include "tw_engine.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct tw__io tw__io;
typedef struct tw__prewarm tw__prewarm;

/* Bytes of an error (non-2xx) body kept for the error event; the transfer stops beyond it. */
#define TW__ERROR_BODY_CAP ((size_t)1024 * 1024)
/* After the terminal event came from the decoder ([DONE], message_stop, provider error), the
 * transfer is left to finish its framing (so the connection goes back to the cache) for at most
 * this long / this many bytes, then dropped. Nothing more is delivered either way. */
#define TW__DRAIN_SECONDS 1.0
#define TW__DRAIN_BYTES ((uint64_t)1024 * 1024)
/* Retry-After values above this are not honoured: the error is delivered instead, with the
 * value in its message and in tw_metrics.retry_after. */
#define TW__RETRY_AFTER_MAX 60.0
/* Cap on one exponential backoff step, seconds. */
#define TW__BACKOFF_CAP 8.0
/* Size of the inter-token gap histogram (see stream.c). */
#define TW__GAP_BUCKETS 608

/* The clock of tw_stream_wait's deadline: monotonic, except on macOS, which has no
 * pthread_condattr_setclock (its condition variables time out on the wall clock). */
#if defined(__APPLE__)
#define TW__COND_CLOCK CLOCK_REALTIME
#else
#define TW__COND_CLOCK CLOCK_MONOTONIC
#endif

/* I/O-side state of a stream (I/O thread only). */
enum {
    TW__ST_NEW = 0,    /* start command not yet processed */
    TW__ST_WAIT_RETRY, /* between attempts: no easy handle in the multi */
    TW__ST_RUNNING,    /* easy handle in the multi */
    TW__ST_DRAINING,   /* terminal delivered; transfer finishing for connection reuse */
    TW__ST_PACING,     /* a JSON answer's events released one per simulate_interval
                          (simulate.c); no easy handle in the multi */
    TW__ST_DONE        /* terminal delivered, transfer gone, I/O reference dropped */
};

/* What the current attempt does with body bytes (I/O thread only). */
enum {
    TW__MODE_UNKNOWN = 0, /* no body byte yet */
    TW__MODE_STREAM,      /* 2xx: bytes go to the decoder */
    TW__MODE_JSON,        /* 2xx application/json: collected, decoded at the end */
    TW__MODE_ERRBODY      /* non-2xx: collected (capped) for the error event */
};

/* Command flags (guarded by io->cmd_lock). */
#define TW__CMD_START 1u
#define TW__CMD_CANCEL 2u
#define TW__CMD_RESUME 4u

struct tw_sink {
    /* ---- immutable after tw_sink_new ---- */
    tw_engine *e;
    tw_notify_fn notify;
    void *notify_userdata;
    tw__wakeup wake; /* its read side is tw_sink_fd */
    int is_default; /* the engine's own sink: owned by the engine, holds no engine reference */

    atomic_int refs; /* the owner's + one per stream started on it + one per pending flush */

    /* ---- guarded by lock ---- */
    pthread_mutex_t lock;
    tw_stream *rd_head, *rd_tail;
    int fd_armed; /* wake has been signalled and not drained since */
};

/* Fallback chains longer than this are refused (a chain that loops back would never end). */
#define TW__MAX_FALLBACKS 16

/* One request as the engine sends it (request.c): the fields of tw_stream of the same names.
 * The fallbacks of a stream wait in this form; tw__request_swap puts one in place. */
typedef struct tw__request {
    char *url, *method, *body, *ca_file;
    size_t body_len;
    struct curl_slist *headers;
    tw_dialect dialect;
    double connect_timeout, first_byte_timeout, first_token_timeout, idle_timeout;
    double event_timeout, retry_base_delay;
    int max_retries, retry_sent, http2, verify_peer;
    size_t max_event_size;
    struct tw__request *next;
} tw__request;

struct tw_stream {
    /* ---- set by tw_engine_start; the request fields change on the I/O thread only, when a
     *      fallback takes over (no other thread reads them) ---- */
    tw_engine *e;
    tw__io *io;
    tw_sink *sink; /* holds a reference */
    char *url, *method, *body, *ca_file;
    size_t body_len;
    struct curl_slist *headers;
    tw_dialect dialect;
    double connect_timeout, first_byte_timeout, first_token_timeout, idle_timeout;
    double event_timeout, total_timeout;
    double retry_base_delay, paused_timeout;
    int max_retries, retry_sent, http2, verify_peer, accumulate;
    size_t max_event_size;
    void *userdata;
    double t_start; /* monotonic seconds at tw_engine_start */
    tw__request *fallbacks; /* I/O thread: the requests still to try, NULL once content or the
                               end was published (from then on nothing is held back) */
    int fallback_pending;   /* I/O thread: the current attempt failed in on_write, the next
                               request starts when libcurl reports the transfer done */
    size_t simulate_chars;  /* tw_request_opts.simulate_chars / simulate_interval */
    double simulate_interval;
    tw_batch *pace;         /* I/O thread: a simulated answer's events still to release */
    size_t pace_pos;
    double pace_next;       /* when the next one goes */
    char *id;               /* tw_request_opts.id (NULL: none); the rest under e->ids_lock */
    size_t id_len;
    uint64_t id_hash;
    tw_stream *id_next;
    int id_listed;

    atomic_int refs;             /* caller + I/O thread + pending command */
    atomic_int cancel_requested; /* set once by tw_stream_cancel / release */
    atomic_int on_ready;         /* written under e->ready_lock; read lock-free as a hint */
    atomic_size_t qbytes;        /* mirror of tw_batch_bytes(queue), written under lock; the
                                    write callback reads it lock-free (never below the truth
                                    for the I/O thread, which is the only one that grows it) */

    /* ---- guarded by io->cmd_lock ---- */
    unsigned cmd_flags;
    tw_stream *cmd_next;

    /* ---- I/O thread only ---- */
    unsigned cmd_taken;  /* flags taken off the command list, being executed */
    tw_stream *run_next; /* link of the taken command list */
    CURL *easy;
    tw_decoder *dec;
    int state, mode, attempt, body_started, info_recorded;
    tw_batch *stage;     /* events decoded from the current chunk, not yet published */
    int stage_terminal;  /* an END/ERROR was staged: nothing more is decoded */
    int stage_oom;       /* an allocation failed while staging or publishing */
    long status;
    char content_type[64]; /* of the current 2xx answer, for error messages */
    char head[48];         /* the first body bytes of the current 2xx answer, likewise */
    size_t head_len;
    tw_buf body_buf;     /* JSON body or error body of the current attempt */
    double attempt_start, last_byte, last_event, drain_deadline, retry_at;
    uint64_t drain_bytes;
    size_t heap_idx; /* position in io->heap, or SIZE_MAX */
    double heap_key;
    tw_stream *io_prev, *io_next; /* io->streams list (streams with state RUNNING..DRAINING) */
    char errbuf[CURL_ERROR_SIZE];

    /* ---- guarded by lock ---- */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int waiters;
    tw_batch *queue; /* being filled by the I/O thread; take() swaps it out */
    size_t queue_peak;
    uint64_t pauses; /* times the transfer was paused (for tests and metrics dumps) */
    int terminal_queued, terminal_taken, released;
    int pause_flag;       /* transfer paused by backpressure (CURL_WRITEFUNC_PAUSE returned) */
    double paused_since;  /* when pause_flag was set */
    int resume_requested; /* a resume command is on its way */
    tw_metrics m;
    tw_summary *sum;      /* the result so far (every queued event went into it) */
    double first_content; /* when the first text / reasoning / tool call was queued; 0 none */
    double ended_at;      /* when the terminal event was queued; 0 before */
    uint32_t *gaps; /* TW__GAP_BUCKETS counters, allocated on the first gap */
    double last_text_at;

    /* ---- guarded by sink->lock ---- */
    tw_stream *rd_prev, *rd_next;

    /* ---- in a fork() child only (the consumer's thread) ---- */
    int fork_reported; /* the "belongs to the parent" error was handed out */
};

struct tw__prewarm {
    tw__prewarm *next;
    CURL *easy;
    char *url;
    size_t bytes; /* answer body bytes read */
};

struct tw__io {
    /* ---- immutable after tw_engine_new ---- */
    tw_engine *e;
    int index;
    pthread_t thread;
    int thread_started;
    tw__poller *poller; /* curl's sockets + cmd */
    tw__wakeup cmd;     /* readable: commands pending */

    /* ---- guarded by cmd_lock ---- */
    pthread_mutex_t cmd_lock;
    tw_stream *cmd_head, *cmd_tail;
    tw__prewarm *prewarm_pending;
    int closed; /* the thread is exiting: no more commands */
    int stop;   /* asked to exit */

    /* ---- I/O thread only ---- */
    CURLM *multi;
    tw_json *json; /* the JSON parser every decoder of this thread shares (tw_decoder_opts) */
    double curl_deadline; /* from CURLMOPT_TIMERFUNCTION; INFINITY when none */
    double last_io_turn;  /* when the previous turn with socket events ran (coalescing) */
    tw_stream *streams;   /* RUNNING / WAIT_RETRY / DRAINING streams */
    size_t n_streams;     /* how many */
    tw__prewarm *prewarms;
    tw_stream **heap;
    size_t heap_len, heap_cap;
    uint64_t rng;
    tw_sink **pending; /* sinks whose wakeup is due at the end of this turn (each referenced):
                          see tw__io_flush_ready */
    size_t n_pending, cap_pending;
};

struct tw_engine {
    /* ---- immutable after tw_engine_new ---- */
    size_t high, low;
    tw_sink *sink0; /* the default sink (tw_engine_fd / tw_engine_take_ready) */
    unsigned fork_gen; /* tw__fork_generation() when created */
    tw_engine *abandoned_next; /* in a fork child: list of engines of the parent */
    int n_io;
    double coalesce; /* seconds; tw_engine_opts.coalesce_us */
    double tick;     /* seconds; tw_engine_opts.tick_us */
    int tick_streams;
    tw__poller_kind poller; /* TW_POLLER, read at tw_engine_new */
    int pipe_wakeups;       /* pipes instead of eventfds (with TW_POLLER=poll) */
    tw__io *io;
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

    atomic_int refs;    /* the user's (until tw_engine_free) + one per live stream */
    atomic_uint next_io;
    atomic_int freeing;

    /* ---- statistics (atomics) ---- */
    atomic_uint_fast64_t st_active, st_paused, st_reused, st_started, st_finished;

    /* ---- streams by id (stream_ids.c), under ids_lock ---- */
    pthread_mutex_t ids_lock;
    tw_stream **ids; /* ids_nb buckets (a power of two) */
    size_t ids_nb, ids_count;
};

/* ---- simulate.c ---- */
/* I/O thread: cuts the text and reasoning of s->stage (a decoded JSON answer) into deltas of
 * simulate_chars characters and sets metrics.simulated. */
tw_code tw__simulate_split(tw_stream *s);
/* I/O thread: publishes the next step of s->pace. @return 1 when nothing is left, 0 when more
 * steps remain, -1 on NOMEM. */
int tw__simulate_step(tw_stream *s, double now);

/* ---- stream_ids.c ---- */
int tw__ids_add(tw_stream *s);    /* lists s under s->id (no-op without one); -1 on NOMEM */
void tw__ids_remove(tw_stream *s); /* before s is freed */
void tw__ids_free(tw_engine *e);

/* ---- engine.c ---- */
double tw__now(void);
void tw__engine_unref(tw_engine *e);
void tw__stream_unref(tw_stream *s);
/* Queues a command for s on its I/O thread (takes a reference while queued).
 * @return 0, or -1 when the thread is closed (a START is also refused once it is stopping). */
int tw__send_cmd(tw_stream *s, unsigned flag);

/* ---- sink.c ---- */
/* Creates a sink; is_default: the engine's own (no engine reference). NULL on failure. */
tw_sink *tw__sink_create(tw_engine *e, tw_notify_fn notify, void *ud, int is_default,
                         tw_error *err);
void tw__sink_ref(tw_sink *k);
void tw__sink_unref(tw_sink *k);
/* With s->lock held, on s's I/O thread: puts s on its sink's ready list unless it is there or
 * released; the wakeup itself is deferred to tw__io_flush_ready. */
void tw__mark_ready_locked(tw_stream *s);
/* End of a loop turn on io's thread: makes the wakeup fd of every sink that got ready streams
 * readable and calls its notify callback, unless its consumer has not read it since. */
void tw__io_flush_ready(tw__io *io);
/* With s->lock held: takes s off the ready list (tw_stream_take emptied its queue). */
void tw__ready_remove_locked(tw_stream *s);

/* ---- fork.c ---- */
/* Registers the fork handler (once). */
void tw__fork_init(void);

/* request.c: checks and prepares opts and its fallbacks (the whole chain refused when one is
 * bad; err says which). *out = the first request, ->next its fallbacks. */
tw_code tw__request_chain(const tw_request_opts *opts, tw__request **out, tw_error *err);
void tw__request_free(tw__request *r); /* the whole list; NULL is a no-op */
/* Exchanges the request fields of s and r. */
void tw__request_swap(tw_stream *s, tw__request *r);

/* The CA file and directory a transfer uses when the request names no ca_file (ca_bundle.c):
 * NULL means libcurl's own default. Probed once per process; any thread. */
void tw__ca_defaults(const char **file, const char **dir);
/* Counts fork() children: each child sees one more than its parent did. */
unsigned tw__fork_generation(void);
/* 1 when s's engine was created before the fork() that made this process. */
int tw__stream_forked(const tw_stream *s);
/* In a fork child: closes this process's copies of e's descriptors and keeps e reachable
 * (never freed: its locks may have been held by threads that do not exist here). */
void tw__engine_abandon(tw_engine *e);

/* ---- request_check.c ---- */
tw_code tw__check_method(const char *m, size_t len, tw_error *err);
tw_code tw__check_url(const char *u, size_t len, tw_error *err);
tw_code tw__check_header(const char *h, size_t len, size_t index, tw_error *err);

/* ---- stream.c ---- */
/* With s->lock held: appends ev (deep copy). @return TW_OK or TW_ERR_NOMEM. */
tw_code tw__queue_push_locked(tw_stream *s, const tw_event *ev, double now);
/* Pushes one terminal error event (unless a terminal was queued already) and wakes the
 * consumer. I/O thread. */
void tw__deliver_error(tw_stream *s, tw_error_kind kind, int status, const char *msg,
                       const char *raw, size_t raw_len);
/* tw_event_fn for the decoder (I/O thread, no lock): appends to s->stage; stops after a
 * terminal event. */
int tw__stage_event(void *userdata, const tw_event *ev);
/* With s->lock held: moves the staged events into the queue (metrics, terminal bookkeeping).
 * @return the number of events published. */
size_t tw__publish_locked(tw_stream *s, double now);
/* After pushes, with s->lock held: wakes a tw_stream_wait()er and puts s on the ready list. */
void tw__after_push_locked(tw_stream *s);
void tw__stream_free(tw_stream *s);
/* Peak queued bytes seen and number of pauses (for tests of the watermarks). */
size_t tw__stream_queue_peak(tw_stream *s);
uint64_t tw__stream_pauses(tw_stream *s);
/* 1 once the terminal event is queued (taken or not). */
int tw__stream_terminal_queued(tw_stream *s);
/* Tests: the transfer is paused by backpressure and no resume is on its way (only a take by
 * the consumer will resume it). */
int tw__stream_paused_for_consumer(tw_stream *s);
/* The receive buffer size used for e's transfers (bounds the watermark overshoot). */
long tw__engine_buffer_size(const tw_engine *e);
/* The high watermark in effect. */
size_t tw__engine_high(const tw_engine *e);

/* ---- io_loop.c ---- */
tw_code tw__io_init(tw__io *io, tw_engine *e, int index, tw_error *err);
void tw__io_destroy(tw__io *io);
void tw__io_wake(tw__io *io);
tw_code tw__io_prewarm(tw__io *io, const char *url);

/* ---- retry.c ---- */
/* 1 when a failed attempt (curl result, HTTP status or 0) may be retried. */
int tw__retryable(CURLcode rc, long status);
/* Delay before attempt number `attempt` (1 = first retry): Retry-After when the server sent a
 * usable one, else exponential backoff with jitter. */
double tw__retry_delay(tw__io *io, const tw_stream *s, double retry_after);
/* Earliest engine deadline of s (INFINITY when none). */
double tw__stream_deadline(const tw_stream *s);
void tw__heap_update(tw__io *io, tw_stream *s);
void tw__heap_remove(tw__io *io, tw_stream *s);
/* Re-keys the top after it fired; @return the top stream if its key <= now, else NULL. */
tw_stream *tw__heap_peek_due(tw__io *io, double now);
double tw__heap_next(const tw__io *io);

#endif /* TW_ENGINE_INTERNAL_H */
