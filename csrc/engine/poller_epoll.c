/*
 * poller_epoll.c - the Linux backend: one epoll set, level-triggered. The user pointer of an
 * fd lives in a per-fd table (epoll_data holds one word, and callers want both fd and ud).
 */
#include "engine/poller.h"

#if defined(TW__HAVE_EPOLL)

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

typedef struct epoll_poller {
    tw__poller base;
    int epfd;
    tw__fdmap map;             /* ud per fd (slot 0 when registered) */
    struct epoll_event *evs;   /* wait buffer */
    int cap_evs;
} epoll_poller;

static uint32_t to_epoll(unsigned interest) {
    uint32_t ev = 0;
    /* RDHUP with IN: a half-close shows as its own bit (the mock answers a last request). */
    if (interest & TW__POLL_IN) ev |= EPOLLIN | EPOLLRDHUP;
    if (interest & TW__POLL_OUT) ev |= EPOLLOUT;
    return ev;
}

static int ctl(epoll_poller *p, int op, int fd, unsigned interest) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = to_epoll(interest);
    /* EPOLLEXCLUSIVE admits IN / OUT only (EINVAL with RDHUP): listening sockets need no more. */
    if (op == EPOLL_CTL_ADD && (interest & TW__POLL_EXCLUSIVE))
        ev.events = (ev.events & ~(uint32_t)EPOLLRDHUP) | EPOLLEXCLUSIVE;
    ev.data.fd = fd;
    return epoll_ctl(p->epfd, op, fd, &ev);
}

static int e_add(tw__poller *pp, int fd, unsigned interest, void *ud) {
    epoll_poller *p = (epoll_poller *)pp;
    tw__fdrec *r = tw__fdmap_at(&p->map, fd);
    if (!r) return -1;
    if (ctl(p, EPOLL_CTL_ADD, fd, interest) != 0) return -1;
    r->ud = ud;
    r->slot = 0;
    r->mask = interest;
    return 0;
}

static int e_mod(tw__poller *pp, int fd, unsigned interest, void *ud) {
    epoll_poller *p = (epoll_poller *)pp;
    tw__fdrec *r;
    if (ctl(p, EPOLL_CTL_MOD, fd, interest) != 0) return -1;
    r = tw__fdmap_at(&p->map, fd); /* the kernel knows fd, so add made its record */
    if (!r) return -1;
    r->ud = ud;
    r->slot = 0;
    r->mask = interest;
    return 0;
}

static int e_del(tw__poller *pp, int fd) {
    epoll_poller *p = (epoll_poller *)pp;
    tw__fdrec *r = tw__fdmap_get(&p->map, fd);
    if (r) {
        r->slot = -1;
        r->ud = NULL;
    }
    return epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static int e_wait(tw__poller *pp, tw__poll_event *out, int cap, int timeout_ms) {
    epoll_poller *p = (epoll_poller *)pp;
    int n;
    if (cap <= 0) return 0;
    if (cap > p->cap_evs) {
        struct epoll_event *e = realloc(p->evs, (size_t)cap * sizeof *e);
        if (!e) {
            errno = ENOMEM;
            return -1;
        }
        p->evs = e;
        p->cap_evs = cap;
    }
    n = epoll_wait(p->epfd, p->evs, cap, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        uint32_t e = p->evs[i].events;
        int fd = p->evs[i].data.fd;
        tw__fdrec *r = tw__fdmap_get(&p->map, fd);
        unsigned bits = 0;
        if (e & EPOLLIN) bits |= TW__POLL_IN;
        if (e & EPOLLOUT) bits |= TW__POLL_OUT;
        if (e & EPOLLERR) bits |= TW__POLL_ERR;
        if (e & EPOLLHUP) bits |= TW__POLL_HUP;
        if (e & EPOLLRDHUP) bits |= TW__POLL_RDHUP;
        out[i].fd = fd;
        out[i].ud = r ? r->ud : NULL;
        out[i].events = bits;
    }
    return n;
}

static void e_free(tw__poller *pp) {
    epoll_poller *p = (epoll_poller *)pp;
    if (p->epfd >= 0) close(p->epfd);
    tw__fdmap_free(&p->map);
    free(p->evs);
    free(p);
}

static void e_abandon(tw__poller *pp) {
    epoll_poller *p = (epoll_poller *)pp;
    /* An epoll fd is inherited by fork(): close the child's copy (the set is the parent's). */
    if (p->epfd >= 0) close(p->epfd);
    p->epfd = -1;
}

static const tw__poller_ops epoll_ops = {"epoll", e_add, e_mod, e_del, e_wait, e_free, e_abandon};

tw__poller *tw__poller_new_epoll(void) {
    epoll_poller *p = calloc(1, sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->base.ops = &epoll_ops;
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        int e = errno;
        free(p);
        errno = e;
        return NULL;
    }
    return &p->base;
}

#endif /* TW__HAVE_EPOLL */
