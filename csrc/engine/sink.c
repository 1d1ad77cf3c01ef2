/*
 * sink.c - sinks: a ready list plus a wakeup fd, one per consumer.
 *
 * A stream is announced to the sink it was started on: when its queue goes from empty to
 * non-empty the I/O thread links it onto that sink's ready list, and at the end of the loop
 * turn signals the sink's wakeup fd once (and calls its notify callback) unless the consumer has
 * not read it since. So an engine shared by several event loops on several threads wakes each
 * loop only for its own streams, once per turn however many of them became ready.
 *
 * Lifetimes: a sink is counted by its owner (tw_sink_free, or the engine for the default
 * sink), by each stream started on it, and by each I/O thread that has a wakeup pending for it.
 * A non-default sink holds a reference on its engine, so the engine's memory outlives it.
 */
#include "engine/engine_internal.h"
#include "tw_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tw_sink *tw__sink_create(tw_engine *e, tw_notify_fn notify, void *ud, int is_default,
                         tw_error *err) {
    tw_sink *k = calloc(1, sizeof *k);
    if (!k) {
        tw__err(err, TW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (tw__wakeup_open(&k->wake, e->pipe_wakeups) != 0) {
        tw__errf(err, TW_ERR_TRANSPORT, "cannot create the wakeup fd: %s", strerror(errno));
        free(k);
        return NULL;
    }
    k->e = e;
    k->notify = notify;
    k->notify_userdata = ud;
    k->is_default = is_default;
    atomic_init(&k->refs, 1);
    pthread_mutex_init(&k->lock, NULL);
    if (!is_default) atomic_fetch_add(&e->refs, 1);
    return k;
}

void tw__sink_ref(tw_sink *k) { atomic_fetch_add(&k->refs, 1); }

void tw__sink_unref(tw_sink *k) {
    tw_engine *e;
    int is_default;
    if (atomic_fetch_sub(&k->refs, 1) != 1) return;
    e = k->e;
    is_default = k->is_default;
    tw__wakeup_close(&k->wake);
    pthread_mutex_destroy(&k->lock);
    free(k);
    if (!is_default) tw__engine_unref(e);
}

tw_sink *tw_sink_new(tw_engine *e, tw_notify_fn notify, void *notify_userdata, tw_error *err) {
    if (!e) {
        tw__err(err, TW_ERR_INVALID_ARG, "engine is required");
        return NULL;
    }
    if (tw_engine_forked(e)) {
        tw__err(err, TW_ERR_FORKED,
                "engine was created before fork() in the parent process: create a new engine "
                "in this process");
        return NULL;
    }
    return tw__sink_create(e, notify, notify_userdata, 0, err);
}

void tw_sink_free(tw_sink *k) {
    if (!k) return;
    if (tw_engine_forked(k->e)) {
        /* Its lock may be held by a thread of the parent: only drop this process's fd. */
        tw__wakeup_close(&k->wake);
        return;
    }
    tw__sink_unref(k);
}

int tw_sink_fd(const tw_sink *k) { return k ? tw__wakeup_fd(&k->wake) : -1; }

/* ---- the ready list -------------------------------------------------------------------------- */

static void ready_unlink(tw_sink *k, tw_stream *s) {
    if (s->rd_prev)
        s->rd_prev->rd_next = s->rd_next;
    else
        k->rd_head = s->rd_next;
    if (s->rd_next)
        s->rd_next->rd_prev = s->rd_prev;
    else
        k->rd_tail = s->rd_prev;
    s->rd_prev = s->rd_next = NULL;
    atomic_store(&s->on_ready, 0);
}

/* With the list empty. The fd is signalled after the lock is released (arm_fd_locked), so a
 * signal may land after a consumer cleared the flag: draining whether or not the flag is set
 * turns that into one spurious wakeup instead of an fd left readable with nothing to take. */
static void clear_fd_locked(tw_sink *k) {
    tw__wakeup_drain(&k->wake);
    k->fd_armed = 0;
}

/* Marks the fd signalled; the caller signals it (tw__wakeup_signal) after unlocking: on a busy
 * core the woken consumer preempts the signalling thread at once, and found the lock still
 * held (a futex wait and two more context switches per wakeup, 1 in 3 of the engine's
 * context switches at 1,000 streams). */
static void arm_fd_locked(tw_sink *k) { k->fd_armed = 1; }

/* Remembers that k's wakeup is due at the end of io's turn. @return 0, or -1 when the list
 * could not grow (the caller then wakes the sink at once). */
static int add_pending(tw__io *io, tw_sink *k) {
    for (size_t i = 0; i < io->n_pending; i++)
        if (io->pending[i] == k) return 0;
    if (io->n_pending == io->cap_pending) {
        size_t cap = io->cap_pending ? io->cap_pending * 2 : 4;
        tw_sink **p = realloc(io->pending, cap * sizeof *p);
        if (!p) return -1;
        io->pending = p;
        io->cap_pending = cap;
    }
    tw__sink_ref(k);
    io->pending[io->n_pending++] = k;
    return 0;
}

void tw__mark_ready_locked(tw_stream *s) {
    tw_sink *k = s->sink;
    int wake = 0;
    if (s->released || atomic_load(&s->on_ready)) return;
    pthread_mutex_lock(&k->lock);
    if (!atomic_load(&s->on_ready)) {
        s->rd_next = NULL;
        s->rd_prev = k->rd_tail;
        if (k->rd_tail)
            k->rd_tail->rd_next = s;
        else
            k->rd_head = s;
        k->rd_tail = s;
        atomic_store(&s->on_ready, 1);
        /* The fd write and the notify callback wait for the end of this loop turn
         * (tw__io_flush_ready): one wakeup for every stream that became ready in the turn. */
        if (!k->fd_armed && add_pending(s->io, k) != 0) {
            arm_fd_locked(k);
            wake = 1;
        }
    }
    pthread_mutex_unlock(&k->lock);
    if (wake) {
        tw__wakeup_signal(&k->wake);
        if (k->notify) k->notify(k->notify_userdata);
    }
}

void tw__io_flush_ready(tw__io *io) {
    size_t n = io->n_pending;
    io->n_pending = 0;
    for (size_t i = 0; i < n; i++) {
        tw_sink *k = io->pending[i];
        int wake = 0;
        pthread_mutex_lock(&k->lock);
        if (k->rd_head && !k->fd_armed) {
            arm_fd_locked(k);
            wake = 1;
        }
        pthread_mutex_unlock(&k->lock);
        if (wake) {
            tw__wakeup_signal(&k->wake);
            if (k->notify) k->notify(k->notify_userdata);
        }
        tw__sink_unref(k);
    }
}

size_t tw_sink_take_ready(tw_sink *k, tw_stream **out, size_t cap) {
    size_t n = 0;
    if (!k || tw_engine_forked(k->e)) return 0;
    pthread_mutex_lock(&k->lock);
    while (n < cap && k->rd_head) {
        tw_stream *s = k->rd_head;
        ready_unlink(k, s);
        /* A released stream is never on the list (release unlinks it under this lock), so
         * the caller's reference is still there to add to. */
        atomic_fetch_add(&s->refs, 1);
        out[n++] = s;
    }
    if (!k->rd_head) clear_fd_locked(k);
    pthread_mutex_unlock(&k->lock);
    return n;
}

void tw__ready_remove_locked(tw_stream *s) {
    tw_sink *k = s->sink;
    if (!atomic_load(&s->on_ready)) return;
    pthread_mutex_lock(&k->lock);
    if (atomic_load(&s->on_ready)) {
        ready_unlink(k, s);
        if (!k->rd_head) clear_fd_locked(k);
    }
    pthread_mutex_unlock(&k->lock);
}

int tw_engine_fd(const tw_engine *e) { return e ? tw__wakeup_fd(&e->sink0->wake) : -1; }

size_t tw_engine_take_ready(tw_engine *e, tw_stream **out, size_t cap) {
    return e ? tw_sink_take_ready(e->sink0, out, cap) : 0;
}
