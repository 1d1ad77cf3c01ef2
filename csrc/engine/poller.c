/*
 * poller.c - choosing a poller backend (TW_POLLER), the per-fd record table the backends
 * share, the wakeup primitive (eventfd on Linux, a non-blocking pipe elsewhere) and the other
 * call the loops make that differs between systems (naming a thread).
 */
#include "engine/poller.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#endif

#if defined(TW__HAVE_EPOLL)
#define NATIVE "epoll, "
#elif defined(TW__HAVE_KQUEUE)
#define NATIVE "kqueue, "
#else
#define NATIVE ""
#endif

const char *tw__poller_available(void) { return NATIVE "poll"; }

int tw__poller_env(tw__poller_kind *kind, char *msg, size_t msglen) {
    const char *v = getenv("TW_POLLER");
    *kind = TW__POLLER_AUTO;
    if (!v || !*v) return 0;
    if (!strcmp(v, "poll")) {
        *kind = TW__POLLER_POLL;
        return 0;
    }
#if defined(TW__HAVE_EPOLL)
    if (!strcmp(v, "epoll")) {
        *kind = TW__POLLER_EPOLL;
        return 0;
    }
#endif
#if defined(TW__HAVE_KQUEUE)
    if (!strcmp(v, "kqueue")) {
        *kind = TW__POLLER_KQUEUE;
        return 0;
    }
#endif
    snprintf(msg, msglen, "TW_POLLER=\"%.16s\" is no backend of this build (%s); unset it for "
             "the native one", v, tw__poller_available());
    return -1;
}

tw__poller *tw__poller_new(tw__poller_kind kind) {
    switch (kind) {
    case TW__POLLER_AUTO:
#if defined(TW__HAVE_EPOLL)
        return tw__poller_new_epoll();
#elif defined(TW__HAVE_KQUEUE)
        return tw__poller_new_kqueue();
#else
        return tw__poller_new_poll();
#endif
    case TW__POLLER_POLL:
        return tw__poller_new_poll();
#if defined(TW__HAVE_EPOLL)
    case TW__POLLER_EPOLL:
        return tw__poller_new_epoll();
#endif
#if defined(TW__HAVE_KQUEUE)
    case TW__POLLER_KQUEUE:
        return tw__poller_new_kqueue();
#endif
    default:
        errno = ENOSYS;
        return NULL;
    }
}

void tw__poller_free(tw__poller *p) {
    if (p) p->ops->free(p);
}

void tw__poller_abandon(tw__poller *p) {
    if (p) p->ops->abandon(p);
}

/* ---- per-fd records ---------------------------------------------------------------------- */

tw__fdrec *tw__fdmap_at(tw__fdmap *m, int fd) {
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    if ((size_t)fd >= m->cap) {
        size_t cap = m->cap ? m->cap : 64;
        tw__fdrec *r;
        while (cap <= (size_t)fd) cap *= 2;
        r = realloc(m->rec, cap * sizeof *r);
        if (!r) {
            errno = ENOMEM;
            return NULL;
        }
        for (size_t i = m->cap; i < cap; i++) {
            memset(&r[i], 0, sizeof r[i]);
            r[i].slot = -1;
        }
        m->rec = r;
        m->cap = cap;
    }
    return &m->rec[fd];
}

void tw__fdmap_free(tw__fdmap *m) {
    free(m->rec);
    m->rec = NULL;
    m->cap = 0;
}

/* ---- wakeup ------------------------------------------------------------------------------ */

static int nonblock_cloexec(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) return -1;
    return 0;
}

int tw__wakeup_open(tw__wakeup *w, int use_pipe) {
    int fds[2];
    w->rfd = w->wfd = -1;
#if defined(__linux__)
    if (!use_pipe) {
        w->rfd = w->wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        return w->rfd < 0 ? -1 : 0;
    }
#else
    (void)use_pipe;
#endif
    /* pipe() + fcntl rather than pipe2(): macOS has no pipe2. */
    if (pipe(fds) != 0) return -1;
    w->rfd = fds[0];
    w->wfd = fds[1];
    if (nonblock_cloexec(w->rfd) != 0 || nonblock_cloexec(w->wfd) != 0) {
        int e = errno;
        tw__wakeup_close(w);
        errno = e;
        return -1;
    }
    return 0;
}

void tw__wakeup_signal(tw__wakeup *w) {
    ssize_t n;
    if (w->rfd == w->wfd) {
        uint64_t one = 1;
        do
            n = write(w->wfd, &one, sizeof one);
        while (n < 0 && errno == EINTR);
    } else {
        /* A full pipe (EAGAIN) is readable already: nothing is lost. */
        char b = 1;
        do
            n = write(w->wfd, &b, 1);
        while (n < 0 && errno == EINTR);
    }
}

void tw__wakeup_drain(tw__wakeup *w) {
    ssize_t n;
    if (w->rfd == w->wfd) {
        uint64_t v; /* one read resets an eventfd's counter */
        do
            n = read(w->rfd, &v, sizeof v);
        while (n < 0 && errno == EINTR);
    } else {
        char buf[256];
        do
            n = read(w->rfd, buf, sizeof buf);
        while (n == (ssize_t)sizeof buf || (n < 0 && errno == EINTR));
    }
}

void tw__wakeup_close(tw__wakeup *w) {
    if (w->wfd >= 0 && w->wfd != w->rfd) close(w->wfd);
    if (w->rfd >= 0) close(w->rfd);
    w->rfd = w->wfd = -1;
}

/* ---- thread names ------------------------------------------------------------------------ */

void tw__thread_name(const char *name) {
#if defined(__APPLE__)
    pthread_setname_np(name); /* macOS names the calling thread only */
#elif defined(__NetBSD__)
    pthread_setname_np(pthread_self(), "%s", (void *)(uintptr_t)name);
#elif defined(__OpenBSD__)
    pthread_set_name_np(pthread_self(), name);
#elif defined(__linux__) || defined(__FreeBSD__) || defined(__DragonFly__)
    pthread_setname_np(pthread_self(), name);
#else
    (void)name;
#endif
}
