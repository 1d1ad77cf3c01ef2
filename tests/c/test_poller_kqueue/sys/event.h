/*
 * sys/event.h for a syntax check on Linux only (`make check-kqueue`): the kqueue API as the
 * FreeBSD and macOS kqueue(2) manual pages declare it, so that csrc/engine/poller_kqueue.c is
 * at least compiled here. Never linked: nothing here implements kqueue.
 */
#ifndef TW_TEST_KQUEUE_SYNTAX_H
#define TW_TEST_KQUEUE_SYNTAX_H

#include <stdint.h>
#include <time.h>

struct kevent {
    uintptr_t ident; /* identifier for this event */
    short filter;    /* filter for event */
    unsigned short flags;
    unsigned int fflags;
    intptr_t data;
    void *udata; /* opaque user data identifier */
};

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)

#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
#define EV_ONESHOT 0x0010
#define EV_CLEAR 0x0020
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

#define EV_SET(kevp, a, b, c, d, e, f)                                                         \
    do {                                                                                       \
        struct kevent *kevp_ = (kevp);                                                         \
        kevp_->ident = (a);                                                                    \
        kevp_->filter = (b);                                                                   \
        kevp_->flags = (c);                                                                    \
        kevp_->fflags = (d);                                                                   \
        kevp_->data = (e);                                                                     \
        kevp_->udata = (f);                                                                    \
    } while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
           int nevents, const struct timespec *timeout);

#endif
