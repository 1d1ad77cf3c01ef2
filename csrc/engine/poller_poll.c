/*
 * poller_poll.c - the portable backend: a dense pollfd array handed to poll(2) on every wait,
 * an fd -> index table so add/mod/del are O(1) (removal swaps the last entry in). A wait costs
 * O(registered fds) in the kernel and here: fine for a fallback, which is why Linux and the
 * BSDs get epoll / kqueue by default.
 */
#include "engine/poller.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

typedef struct poll_poller {
    tw__poller base;
    struct pollfd *pfd;
    void **ud;          /* parallel to pfd */
    size_t n, cap;
    size_t rotate;      /* where the next scan starts: fds beyond `cap` ready ones get a turn */
    tw__fdmap map;      /* slot = index in pfd */
} poll_poller;

static short to_poll(unsigned interest) {
    short ev = 0;
#ifdef POLLRDHUP
    if (interest & TW__POLL_IN) ev |= POLLIN | POLLRDHUP;
#else
    if (interest & TW__POLL_IN) ev |= POLLIN;
#endif
    if (interest & TW__POLL_OUT) ev |= POLLOUT;
    return ev;
}

static int p_add(tw__poller *pp, int fd, unsigned interest, void *ud) {
    poll_poller *p = (poll_poller *)pp;
    tw__fdrec *r = tw__fdmap_at(&p->map, fd);
    if (!r) return -1;
    if (r->slot >= 0) {
        errno = EEXIST;
        return -1;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        struct pollfd *f = realloc(p->pfd, cap * sizeof *f);
        void **u;
        if (!f) goto nomem;
        p->pfd = f;
        u = realloc(p->ud, cap * sizeof *u);
        if (!u) goto nomem;
        p->ud = u;
        p->cap = cap;
    }
    p->pfd[p->n].fd = fd;
    p->pfd[p->n].events = to_poll(interest);
    p->pfd[p->n].revents = 0;
    p->ud[p->n] = ud;
    r->slot = (int)p->n++;
    r->mask = interest;
    return 0;
nomem:
    errno = ENOMEM;
    return -1;
}

static int p_mod(tw__poller *pp, int fd, unsigned interest, void *ud) {
    poll_poller *p = (poll_poller *)pp;
    tw__fdrec *r = tw__fdmap_get(&p->map, fd);
    if (!r) {
        errno = ENOENT;
        return -1;
    }
    p->pfd[r->slot].events = to_poll(interest);
    p->ud[r->slot] = ud;
    r->mask = interest;
    return 0;
}

static int p_del(tw__poller *pp, int fd) {
    poll_poller *p = (poll_poller *)pp;
    tw__fdrec *r = tw__fdmap_get(&p->map, fd);
    size_t i, last;
    if (!r) {
        errno = ENOENT;
        return -1;
    }
    i = (size_t)r->slot;
    last = --p->n;
    if (i != last) {
        p->pfd[i] = p->pfd[last];
        p->ud[i] = p->ud[last];
        p->map.rec[p->pfd[i].fd].slot = (int)i;
    }
    r->slot = -1;
    return 0;
}

static int p_wait(tw__poller *pp, tw__poll_event *out, int cap, int timeout_ms) {
    poll_poller *p = (poll_poller *)pp;
    int ready, k = 0;
    size_t start;
    if (cap <= 0) return 0;
    ready = poll(p->pfd, (nfds_t)p->n, timeout_ms);
    if (ready < 0) return errno == EINTR ? 0 : -1;
    if (ready == 0 || p->n == 0) return 0;
    start = p->rotate % p->n;
    for (size_t j = 0; j < p->n && k < cap && ready > 0; j++) {
        size_t i = (start + j) % p->n;
        short re = p->pfd[i].revents;
        unsigned bits = 0;
        if (!re) continue;
        ready--;
        if (re & POLLIN) bits |= TW__POLL_IN;
        if (re & POLLOUT) bits |= TW__POLL_OUT;
        if (re & (POLLERR | POLLNVAL)) bits |= TW__POLL_ERR;
        if (re & POLLHUP) bits |= TW__POLL_HUP;
#ifdef POLLRDHUP
        if (re & POLLRDHUP) bits |= TW__POLL_RDHUP;
#endif
        out[k].fd = p->pfd[i].fd;
        out[k].ud = p->ud[i];
        out[k].events = bits;
        k++;
        if (k == cap) p->rotate = i + 1; /* the rest is reported first next time */
    }
    return k;
}

static void p_free(tw__poller *pp) {
    poll_poller *p = (poll_poller *)pp;
    free(p->pfd);
    free(p->ud);
    tw__fdmap_free(&p->map);
    free(p);
}

static void p_abandon(tw__poller *pp) { (void)pp; /* no kernel object */ }

static const tw__poller_ops poll_ops = {"poll", p_add, p_mod, p_del, p_wait, p_free, p_abandon};

tw__poller *tw__poller_new_poll(void) {
    poll_poller *p = calloc(1, sizeof *p);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    p->base.ops = &poll_ops;
    return &p->base;
}
