/*
 * poller.h - the readiness layer under the engine's I/O threads and the mock server's loops
 * (internal: tw__ names, not installed).
 *
 * One interface, three backends chosen when a poller is made:
 *   epoll   Linux (poller_epoll.c)
 *   kqueue  macOS and the BSDs (poller_kqueue.c)
 *   poll    everywhere (poller_poll.c): the portable fallback, O(registered fds) per wait
 * The build compiles the native backend plus poll(); TW_POLLER=poll in the environment (read
 * once, when an engine or a mock server is created) selects poll() instead, together with pipe
 * wakeups, so the portable path runs in the test suite on Linux (`make test-c-poll`).
 *
 * Semantics every backend keeps (what io_loop.c and the mock rely on):
 * - level-triggered: a ready fd is reported again by every wait until it is drained or its
 *   interest changes; interest 0 keeps the fd registered (epoll and poll still report errors
 *   and hang-ups for it; kqueue reports nothing for it);
 * - add on a registered fd fails with EEXIST, mod/del on an unknown fd with ENOENT;
 * - one event per fd per wait (kqueue's per-filter events are merged);
 * - an fd must be removed before it is closed (epoll and kqueue forget closed fds by
 *   themselves; poll() would report POLLNVAL for it, surfaced as TW__POLL_ERR).
 * Threads: a poller is used by one thread at a time (its loop); pollers are independent.
 */
#ifndef TW_ENGINE_POLLER_H
#define TW_ENGINE_POLLER_H

#include <stddef.h>

/* Interest (add/mod) and readiness (wait) bits. */
#define TW__POLL_IN 1u    /* readable (or EOF / error pending on read) */
#define TW__POLL_OUT 2u   /* writable */
#define TW__POLL_ERR 4u   /* readiness only: an error is pending on the fd */
#define TW__POLL_HUP 8u   /* readiness only: both directions are closed */
#define TW__POLL_RDHUP 16u /* readiness only: the peer shut down its writing side (EOF ahead) */
/* Interest only, at add: of several pollers watching one fd (a listening socket shared by
 * loops), wake one rather than all (EPOLLEXCLUSIVE; a hint the other backends ignore). */
#define TW__POLL_EXCLUSIVE 32u

typedef enum tw__poller_kind {
    TW__POLLER_AUTO = 0, /* TW_POLLER from the environment, else the native backend */
    TW__POLLER_EPOLL,
    TW__POLLER_KQUEUE,
    TW__POLLER_POLL
} tw__poller_kind;

typedef struct tw__poll_event {
    void *ud;        /* the pointer given at add/mod */
    int fd;
    unsigned events; /* TW__POLL_* readiness bits */
} tw__poll_event;

typedef struct tw__poller tw__poller;

typedef struct tw__poller_ops {
    const char *name;
    int (*add)(tw__poller *p, int fd, unsigned interest, void *ud);
    int (*mod)(tw__poller *p, int fd, unsigned interest, void *ud);
    int (*del)(tw__poller *p, int fd);
    int (*wait)(tw__poller *p, tw__poll_event *out, int cap, int timeout_ms);
    void (*free)(tw__poller *p);
    void (*abandon)(tw__poller *p);
} tw__poller_ops;

/* Every backend's struct starts with this. */
struct tw__poller {
    const tw__poller_ops *ops;
};

/*
 * The kind asked for by the environment: TW__POLLER_AUTO when TW_POLLER is unset or empty.
 * @return 0, or -1 with a message in msg when TW_POLLER names no backend of this build.
 * Thread: any (reads the environment: call it at creation time, not on a hot path).
 */
int tw__poller_env(tw__poller_kind *kind, char *msg, size_t msglen);

/*
 * A poller of kind (AUTO: the native one). @return NULL with errno set (ENOSYS: the kind is
 * not built on this platform). Ownership: free with tw__poller_free.
 */
tw__poller *tw__poller_new(tw__poller_kind kind);
/* The backend's name ("epoll", "kqueue", "poll"). */
static inline const char *tw__poller_name(const tw__poller *p) { return p->ops->name; }
/* Backends built into this binary, e.g. "epoll, poll" (static string). */
const char *tw__poller_available(void);

/* Registers fd with interest (TW__POLL_IN / OUT, optionally EXCLUSIVE) and user pointer ud.
 * @return 0, or -1 with errno (EEXIST: registered already). */
static inline int tw__poller_add(tw__poller *p, int fd, unsigned interest, void *ud) {
    return p->ops->add(p, fd, interest, ud);
}
/* Replaces the interest and ud of a registered fd. @return 0, or -1 with errno (ENOENT). */
static inline int tw__poller_mod(tw__poller *p, int fd, unsigned interest, void *ud) {
    return p->ops->mod(p, fd, interest, ud);
}
/* Unregisters fd (call before closing it). @return 0, or -1 with errno (ENOENT). */
static inline int tw__poller_del(tw__poller *p, int fd) { return p->ops->del(p, fd); }
/*
 * Waits up to timeout_ms (-1: no limit, 0: just look) and fills out[0..cap) with ready fds.
 * @return the count (0 on timeout or signal interruption), or -1 with errno.
 */
static inline int tw__poller_wait(tw__poller *p, tw__poll_event *out, int cap, int timeout_ms) {
    return p->ops->wait(p, out, cap, timeout_ms);
}
/* Closes and frees p (NULL is fine). */
void tw__poller_free(tw__poller *p);
/* In a fork() child: closes this process's copy of the kernel object when it has one (kqueue
 * descriptors are not inherited, so nothing is closed there) and leaves the memory as it is. */
void tw__poller_abandon(tw__poller *p);

/* ---- wakeup: a readable fd another thread can make ready ---------------------------------- */

/*
 * An eventfd on Linux, a non-blocking pipe elsewhere (and with pipe = 1, which the poll()
 * configuration asks for so that the pipe path is tested on Linux too). fd() is the read side,
 * what loops watch (tw_sink_fd hands it to Python's add_reader / Node's uv_poll).
 * Threads: signal from any thread; drain from the one consumer.
 */
typedef struct tw__wakeup {
    int rfd, wfd; /* the same descriptor for an eventfd */
} tw__wakeup;

/* @return 0, or -1 with errno (w is then closed). */
int tw__wakeup_open(tw__wakeup *w, int pipe);
/* Makes fd readable (idempotent until drained; never blocks). */
void tw__wakeup_signal(tw__wakeup *w);
/* Makes fd unreadable again (reads every pending signal). */
void tw__wakeup_drain(tw__wakeup *w);
/* Closes both ends (-1 afterwards; a closed wakeup is fine). */
void tw__wakeup_close(tw__wakeup *w);
static inline int tw__wakeup_fd(const tw__wakeup *w) { return w->rfd; }

/* Names the calling thread (top -H, perf, gdb) with each system's own call; at most 15
 * characters are kept on Linux. */
void tw__thread_name(const char *name);

/* ---- backends (each file defines its constructor only where its system call exists) ------- */
tw__poller *tw__poller_new_poll(void);
#if defined(__linux__)
#define TW__HAVE_EPOLL 1
tw__poller *tw__poller_new_epoll(void);
#endif
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__) || \
    defined(__DragonFly__) || defined(TW_KQUEUE_SYNTAX_CHECK)
#define TW__HAVE_KQUEUE 1
tw__poller *tw__poller_new_kqueue(void);
#endif

/* The per-fd records the backends keep (epoll: ud; kqueue: ud + interest; poll: the index in
 * its pollfd array), one per fd number, grown on demand (fd numbers are dense and small). */
typedef struct tw__fdrec {
    void *ud;
    int slot;        /* -1: not registered */
    unsigned mask;   /* interest */
    unsigned seen;   /* kqueue: the wait that reported this fd last (to merge filters) */
    int out;         /* kqueue: its index in that wait's output */
} tw__fdrec;
typedef struct tw__fdmap {
    tw__fdrec *rec;
    size_t cap;
} tw__fdmap;
/* @return fd's record when registered, else NULL. */
static inline tw__fdrec *tw__fdmap_get(const tw__fdmap *m, int fd) {
    return fd >= 0 && (size_t)fd < m->cap && m->rec[fd].slot >= 0 ? &m->rec[fd] : NULL;
}
/* @return fd's record, allocated (slot -1) if needed; NULL with errno ENOMEM or EBADF. */
tw__fdrec *tw__fdmap_at(tw__fdmap *m, int fd);
void tw__fdmap_free(tw__fdmap *m);

#endif /* TW_ENGINE_POLLER_H */
