/*
 * poller_kqueue.c - the macOS / BSD backend: one kqueue, EVFILT_READ and EVFILT_WRITE per fd,
 * level-triggered (no EV_CLEAR), the user pointer carried in udata.
 *
 * UNTESTED: no macOS or BSD machine has run it. It is compiled on Linux with -fsyntax-only
 * against declarations of the kqueue API (tests/c/test_poller_kqueue/, `make check-kqueue`) and
 * follows the FreeBSD / macOS kqueue(2) pages:
 * - kqueue reports one event per filter; a wait merges an fd's read and write events into one
 *   (the per-fd record remembers where in this wait's output the fd went);
 * - EV_EOF on the read filter: the peer shut down its writing side (RDHUP; still IN, so the
 *   reader sees the EOF), fflags holds a socket error if there was one (ERR); EV_EOF on the
 *   write filter: the connection can no longer send (HUP);
 * - kqueue descriptors are not inherited by fork(): a child must not close the number.
 */
#include "engine/poller.h"

#if defined(TW__HAVE_KQUEUE)

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

/* udata is a pointer on FreeBSD, OpenBSD and macOS, an intptr_t on NetBSD before 10. */
#if defined(__NetBSD__)
#define UDATA(p) ((intptr_t)(p))
#else
#define UDATA(p) (p)
#endif

typedef struct kqueue_poller {
    tw__poller base;
    int kq;
    tw__fdmap map;        /* interest + ud per fd */
    struct kevent *evs;   /* wait buffer */
    int cap_evs;
    unsigned gen;         /* counts waits, to merge an fd's two filters within one */
} kqueue_poller;

/* Applies the interest change of fd from `had` to `want` in one kevent call. */
static int apply(kqueue_poller *p, int fd, unsigned had, unsigned want, void *ud) {
    struct kevent ch[2];
    int n = 0;
    if (want & TW__POLL_IN)
        EV_SET(&ch[n++], (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_ENABLE, 0, 0, UDATA(ud));
    else if (had & TW__POLL_IN)
        EV_SET(&ch[n++], (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0, UDATA(NULL));
    if (want & TW__POLL_OUT)
        EV_SET(&ch[n++], (uintptr_t)fd, EVFILT_WRITE, EV_ADD | EV_ENABLE, 0, 0, UDATA(ud));
    else if (had & TW__POLL_OUT)
        EV_SET(&ch[n++], (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0, UDATA(NULL));
    if (n == 0) return 0;
    return kevent(p->kq, ch, n, NULL, 0, NULL) < 0 ? -1 : 0;
}

static int k_add(tw__poller *pp, int fd, unsigned interest, void *ud) {
    kqueue_poller *p = (kqueue_poller *)pp;
    tw__fdrec *r = tw__fdmap_at(&p->map, fd);
    interest &= TW__POLL_IN | TW__POLL_OUT;
    if (!r) return -1;
    if (r->slot >= 0) {
        errno = EEXIST;
        return -1;
    }
    if (apply(p, fd, 0, interest, ud) != 0) return -1;
    r->slot = 0;
    r->mask = interest;
    r->ud = ud;
    r->seen = 0;
    return 0;
}

static int k_mod(tw__poller *pp, int fd, unsigned interest, void *ud) {
    kqueue_poller *p = (kqueue_poller *)pp;
    tw__fdrec *r = tw__fdmap_get(&p->map, fd);
    interest &= TW__POLL_IN | TW__POLL_OUT;
    if (!r) {
        errno = ENOENT;
        return -1;
    }
    if (apply(p, fd, r->mask, interest, ud) != 0) return -1;
    r->mask = interest;
    r->ud = ud;
    return 0;
}

static int k_del(tw__poller *pp, int fd) {
    kqueue_poller *p = (kqueue_poller *)pp;
    tw__fdrec *r = tw__fdmap_get(&p->map, fd);
    unsigned had;
    if (!r) {
        errno = ENOENT;
        return -1;
    }
    had = r->mask;
    r->slot = -1;
    r->mask = 0;
    r->ud = NULL;
    return apply(p, fd, had, 0, NULL);
}

static int k_wait(tw__poller *pp, tw__poll_event *out, int cap, int timeout_ms) {
    kqueue_poller *p = (kqueue_poller *)pp;
    struct timespec ts, *tsp = NULL;
    int n, k = 0;
    if (cap <= 0) return 0;
    if (cap > p->cap_evs) {
        struct kevent *e = realloc(p->evs, (size_t)cap * sizeof *e);
        if (!e) {
            errno = ENOMEM;
            return -1;
        }
        p->evs = e;
        p->cap_evs = cap;
    }
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tsp = &ts;
    }
    n = kevent(p->kq, NULL, 0, p->evs, cap, tsp);
    if (n < 0) return errno == EINTR ? 0 : -1;
    if (++p->gen == 0) p->gen = 1; /* 0 means "never seen" */
    for (int i = 0; i < n; i++) {
        const struct kevent *e = &p->evs[i];
        int fd = (int)e->ident;
        tw__fdrec *r = tw__fdmap_get(&p->map, fd);
        unsigned bits = 0;
        tw__poll_event *o;
        if (!r) continue; /* removed after the kernel queued the event */
        if (e->flags & EV_ERROR) {
            bits |= TW__POLL_ERR;
        } else if (e->filter == EVFILT_READ) {
            bits |= TW__POLL_IN;
            if (e->flags & EV_EOF) bits |= TW__POLL_RDHUP | (e->fflags ? TW__POLL_ERR : 0u);
        } else if (e->filter == EVFILT_WRITE) {
            bits |= TW__POLL_OUT;
            if (e->flags & EV_EOF) bits |= TW__POLL_HUP | (e->fflags ? TW__POLL_ERR : 0u);
        }
        if (r->seen == p->gen) {
            out[r->out].events |= bits;
            continue;
        }
        r->seen = p->gen;
        r->out = k;
        o = &out[k++];
        o->fd = fd;
        o->ud = r->ud;
        o->events = bits;
    }
    return k;
}

static void k_free(tw__poller *pp) {
    kqueue_poller *p = (kqueue_poller *)pp;
    if (p->kq >= 0) close(p->kq);
    tw__fdmap_free(&p->map);
    free(p->evs);
    free(p);
}

static void k_abandon(tw__poller *pp) {
    kqueue_poller *p = (kqueue_poller *)pp;
    /* Not inherited by fork(): the number may already name another descriptor here. */
    p->kq = -1;
}

static const tw__poller_ops kqueue_ops = {"kqueue", k_add, k_mod, k_del, k_wait, k_free,
                                          k_abandon};

tw__poller *tw__poller_new_kqueue(void) {
    kqueue_poller *p = calloc(1, sizeof *p);
    int fl;
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->base.ops = &kqueue_ops;
    p->kq = kqueue();
    if (p->kq < 0) {
        int e = errno;
        free(p);
        errno = e;
        return NULL;
    }
    /* Not inherited by fork() anyway; close-on-exec keeps exec'd programs off it too. */
    fl = fcntl(p->kq, F_GETFD);
    if (fl >= 0) fcntl(p->kq, F_SETFD, fl | FD_CLOEXEC);
    return &p->base;
}

#endif /* TW__HAVE_KQUEUE */
