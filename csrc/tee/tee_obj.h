/*
 * tee_obj.h - the tee's object, shared by tee.c (the producer-facing API: appends queue) and
 * writer.c (the writer thread: one pipelined round trip per drained queue).
 */
#ifndef TW_TEE_OBJ_H
#define TW_TEE_OBJ_H

#include "tee/tee_internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* One stream being tee'd. Freed once it is out of the table and no queued item points at it. */
typedef struct tee_stream {
    struct tee_stream *next;  /* hash chain; guarded by t->lock */
    char *id;                 /* immutable */
    char *key;                /* immutable: "<prefix>s:<id>" */
    size_t key_len;           /* immutable */
    uint64_t next_seq;        /* guarded by t->lock: the smallest seq the next append may use */
    int has_seq;              /* guarded by t->lock */
    int ended;                /* guarded by t->lock: tw_tee_end was called */
    int in_table;             /* guarded by t->lock */
    int stop;                 /* guarded by t->lock: a stop was requested */
    size_t pending;           /* guarded by t->lock: queued items that point at it */
    atomic_int dropped;       /* set under t->lock, read by the writer without it */
    char why[128];            /* guarded by t->lock: why it was dropped */
    int64_t expire_due_ms;    /* writer only: when the sliding EXPIRE is next refreshed */
    /* Reader watch (tw_tee_watch_readers), all guarded by t->lock. */
    char *presence_key;       /* "<prefix>r:<id>", allocated on the first watch */
    size_t presence_len;
    int64_t abandon_ms;       /* 0 = not watched */
    int64_t absent_since_ms;  /* when the presence key was last seen missing after present */
} tee_stream;

enum { ITEM_DATA = 1, ITEM_END, ITEM_STOP };

/* A queued command for the writer. */
typedef struct tee_item {
    struct tee_item *next;
    int kind;
    int drop_marker;          /* END: written because the stream was dropped (it stays in
                                 the table until tw_tee_end) */
    tee_stream *s;            /* DATA / END */
    uint64_t last_seq;        /* DATA: the seq of its last event */
    uint32_t n_events;        /* DATA */
    tw_code end_code;         /* END */
    size_t len;               /* DATA: bytes; END: message; STOP: stream id */
    size_t cost;              /* bytes counted against max_queue_bytes */
    char data[];              /* DATA: bytes then (n_events - 1) uint32 LE offsets */
} tee_item;

struct tw_tee {
    tw__redis_cfg cfg;        /* immutable after new */
    long maxlen;              /* immutable */
    int ttl_after_end_s, live_ttl_s, reconnect_min_ms, reconnect_max_ms; /* immutable */
    int watch_stops, stop_poll_ms, linger_ms;                             /* immutable */
    size_t max_queue_bytes;   /* immutable */
    tw_tee_notify_fn notify;  /* immutable */
    void *notify_userdata;
    char *stops_key;          /* immutable: "<prefix>stops" */

    pthread_mutex_t lock;
    tee_item *q_head, *q_tail;  /* guarded by lock */
    size_t q_bytes;             /* guarded by lock */
    uint64_t q_added, q_done;   /* guarded by lock: items queued / handled, for tw_tee_flush */
    pthread_cond_t done_cv;     /* broadcast when q_done grows */
    int writer_idle;            /* guarded by lock: the writer sleeps in poll on wake_fd */
    int stopping;               /* guarded by lock */
    tee_stream **buckets;       /* guarded by lock */
    size_t n_buckets, n_streams;/* guarded by lock */
    size_t n_watched;           /* guarded by lock: streams with abandon_ms > 0 */
    int connected;              /* guarded by lock: 1 up, 0 down, 2 first attempt pending */
    char down_why[128];         /* guarded by lock */
    tw_tee_notice *notices;     /* guarded by lock: pending notices, oldest first */
    size_t n_notices, cap_notices;
    int fd_armed;               /* guarded by lock */
    tw_tee_stats stats;         /* guarded by lock */

    int wake_fd;    /* eventfd: appends wake the idle writer */
    int stop_fd;    /* eventfd: tw_tee_free interrupts a connect attempt */
    int notice_fd;  /* eventfd: readable while notices wait (tw_tee_fd) */
    pthread_t thread;

    /* Writer thread only. */
    tw__rconn conn;
    int64_t next_connect_ms;
    int backoff_ms;
    int64_t stops_due_ms;
    char stops_last_id[48];     /* "" until read once from Redis */
};

/* Both with t->lock held. */
tee_stream *tw__tee_find(tw_tee *t, const char *id);
void tw__tee_unlink(tw_tee *t, tee_stream *s);   /* out of the table; not freed */
void tw__tee_remove(tw_tee *t, tee_stream *s);   /* unlink, and free s when nothing points
                                                    at it */
void tw__tee_stream_free(tee_stream *s);         /* no lock needed: s is unreachable */
/* Marks s dropped (once) with why; notice = 1 also queues a LOST notice and, when the
 * connection is up, an end marker saying the stream is incomplete. t->lock held.
 * @return 1 when the caller must call tw__tee_fire_notify after unlocking. */
int tw__tee_drop(tw_tee *t, tee_stream *s, const char *why, int notice);
/* Queues a notice (t->lock held); the caller calls tw__tee_fire_notify after unlocking when
 * it returned 1. */
int tw__tee_notice(tw_tee *t, tw_tee_notice_kind kind, const char *id, const char *why);
void tw__tee_fire_notify(tw_tee *t);
/* Drops an item's reference on its stream (t->lock held) and frees the item. */
void tw__tee_item_done(tw_tee *t, tee_item *it);

/* The writer thread's body. */
void *tw__tee_writer_main(void *arg);
/* Connects once (used by tw_tee_new with require_redis, before the thread starts). */
tw_code tw__tee_connect(tw_tee *t, tw_error *err);

#endif /* TW_TEE_OBJ_H */
