/*
 * fork.c - what a fork()ed child does with engines of its parent.
 *
 * fork() copies the engine's memory but not its I/O threads, so a child that used it would
 * queue commands nobody reads and wait forever (gunicorn --preload, multiprocessing's fork
 * start method). A pthread_atfork child handler counts forks; an engine remembers the count it
 * was created under, and every entry point compares. A forked engine is refused at once
 * (TW_ERR_FORKED), its streams end with an error, and tw_engine_free only closes the child's
 * copies of its descriptors: the connections are the parent's, so libcurl must not close them
 * (a TLS close_notify would break the parent's transfer), and its locks may be held by threads
 * that do not exist in the child, so its memory is left as it is (kept on a list, reachable).
 */
#include "engine/engine_internal.h"

#include <pthread.h>

static atomic_uint fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static _Atomic(tw_engine *) abandoned; /* lock-free: a mutex could be held across fork() */

static void on_fork_child(void) { atomic_fetch_add(&fork_gen, 1); }

static void fork_register(void) { pthread_atfork(NULL, NULL, on_fork_child); }

void tw__fork_init(void) { pthread_once(&fork_once, fork_register); }

unsigned tw__fork_generation(void) { return atomic_load(&fork_gen); }

int tw_engine_forked(const tw_engine *e) {
    return e && e->fork_gen != atomic_load(&fork_gen);
}

int tw__stream_forked(const tw_stream *s) { return tw_engine_forked(s->e); }

void tw__engine_abandon(tw_engine *e) {
    tw_engine *head;
    tw__wakeup_close(&e->sink0->wake);
    for (int i = 0; i < e->n_io; i++) {
        tw__poller_abandon(e->io[i].poller);
        tw__wakeup_close(&e->io[i].cmd);
    }
    head = atomic_load(&abandoned);
    do
        e->abandoned_next = head;
    while (!atomic_compare_exchange_weak(&abandoned, &head, e));
}
