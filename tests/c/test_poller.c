/*
 * test_poller.c - the poller layer (csrc/engine/poller.h) on every backend this build has
 * (epoll and poll on Linux): readiness, interest changes, removal, timeouts, merged read/write
 * readiness, half-close and hang-up bits, many fds, the wakeup fds (eventfd and pipe) and the
 * TW_POLLER switch. Socket pairs stand in for connections: real descriptors, no network.
 */
#include "engine/poller.h"
#include "mock/tw_mock.h"
#include "tw_engine.h"
#include "tw_test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const tw__poller_kind kinds[] = {
#if defined(TW__HAVE_EPOLL)
    TW__POLLER_EPOLL,
#endif
#if defined(TW__HAVE_KQUEUE) && !defined(TW_KQUEUE_SYNTAX_CHECK)
    TW__POLLER_KQUEUE,
#endif
    TW__POLLER_POLL,
};
#define N_KINDS ((int)(sizeof kinds / sizeof kinds[0]))

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int pair(int sv[2]) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    return 0;
}

/* The event of fd among out[0..n), or NULL. */
static const tw__poll_event *find(const tw__poll_event *out, int n, int fd) {
    for (int i = 0; i < n; i++)
        if (out[i].fd == fd) return &out[i];
    return NULL;
}

TW_TEST(poller_readiness_modify_remove) {
    for (int k = 0; k < N_KINDS; k++) {
        tw__poller *p = tw__poller_new(kinds[k]);
        tw__poll_event out[8];
        int sv[2], n, tag;
        const tw__poll_event *e;
        char b;
        CHECK_MSG(p != NULL, "kind %d: %s", (int)kinds[k], strerror(errno));
        if (!p || pair(sv) != 0) continue;
        const char *name = tw__poller_name(p);
        /* Nothing readable yet; writable is not asked for. */
        CHECK_EQ_INT(tw__poller_add(p, sv[0], TW__POLL_IN, &tag), 0);
        CHECK_EQ_INT(tw__poller_wait(p, out, 8, 0), 0);
        /* Registered twice: EEXIST; unknown fd: ENOENT. */
        CHECK_EQ_INT(tw__poller_add(p, sv[0], TW__POLL_IN, &tag), -1);
        CHECK_MSG(errno == EEXIST, "%s: add twice errno %d", name, errno);
        CHECK_EQ_INT(tw__poller_mod(p, sv[1], TW__POLL_IN, NULL), -1);
        CHECK_MSG(errno == ENOENT, "%s: mod unknown errno %d", name, errno);
        CHECK_EQ_INT(tw__poller_del(p, sv[1]), -1);
        CHECK_MSG(errno == ENOENT, "%s: del unknown errno %d", name, errno);
        /* Readable: reported with its ud, and again (level-triggered) until drained. */
        CHECK_EQ_INT(write(sv[1], "x", 1), 1);
        for (int round = 0; round < 2; round++) {
            n = tw__poller_wait(p, out, 8, 1000);
            CHECK_MSG(n == 1, "%s: round %d: %d events", name, round, n);
            e = find(out, n, sv[0]);
            CHECK_MSG(e && e->ud == &tag && (e->events & TW__POLL_IN), "%s: readable", name);
            CHECK_MSG(e && !(e->events & (TW__POLL_OUT | TW__POLL_ERR | TW__POLL_HUP)),
                      "%s: bits 0x%x", name, e ? e->events : 0);
        }
        CHECK_EQ_INT(read(sv[0], &b, 1), 1);
        CHECK_EQ_INT(tw__poller_wait(p, out, 8, 0), 0);
        /* Modify: write interest, new ud; read + write readiness come as one event. */
        CHECK_EQ_INT(tw__poller_mod(p, sv[0], TW__POLL_IN | TW__POLL_OUT, &b), 0);
        CHECK_EQ_INT(write(sv[1], "y", 1), 1);
        n = tw__poller_wait(p, out, 8, 1000);
        CHECK_MSG(n == 1, "%s: read+write: %d events", name, n);
        e = find(out, n, sv[0]);
        CHECK_MSG(e && e->ud == &b && (e->events & TW__POLL_IN) && (e->events & TW__POLL_OUT),
                  "%s: merged bits 0x%x", name, e ? e->events : 0);
        /* Interest 0: still registered, nothing reported while the fd is open. */
        CHECK_EQ_INT(tw__poller_mod(p, sv[0], 0, &b), 0);
        CHECK_EQ_INT(tw__poller_wait(p, out, 8, 0), 0);
        CHECK_EQ_INT(tw__poller_mod(p, sv[0], TW__POLL_IN, &tag), 0);
        CHECK_EQ_INT(tw__poller_wait(p, out, 8, 0), 1);
        /* Removed: readable, but never reported; it can be added again. */
        CHECK_EQ_INT(tw__poller_del(p, sv[0]), 0);
        CHECK_EQ_INT(tw__poller_wait(p, out, 8, 20), 0);
        CHECK_EQ_INT(tw__poller_add(p, sv[0], TW__POLL_IN, NULL), 0);
        n = tw__poller_wait(p, out, 8, 0);
        CHECK_MSG(n == 1 && out[0].ud == NULL, "%s: re-added: %d", name, n);
        CHECK_EQ_INT(tw__poller_del(p, sv[0]), 0);
        close(sv[0]);
        close(sv[1]);
        tw__poller_free(p);
    }
}

TW_TEST(poller_timeout) {
    for (int k = 0; k < N_KINDS; k++) {
        tw__poller *p = tw__poller_new(kinds[k]);
        tw__poll_event out[4];
        int sv[2];
        double t0, dt;
        if (!p || pair(sv) != 0) {
            CHECK(0);
            continue;
        }
        CHECK_EQ_INT(tw__poller_add(p, sv[0], TW__POLL_IN, NULL), 0);
        t0 = now_ms();
        CHECK_EQ_INT(tw__poller_wait(p, out, 4, 30), 0);
        dt = now_ms() - t0;
        /* Never early (a deadline is due when the wait returns); late within reason. */
        CHECK_MSG(dt >= 29.5 && dt < 1000, "%s: waited %.1f ms for 30", tw__poller_name(p), dt);
        t0 = now_ms();
        CHECK_EQ_INT(tw__poller_wait(p, out, 4, 0), 0);
        CHECK_MSG(now_ms() - t0 < 100, "%s: a 0 ms wait blocked", tw__poller_name(p));
        tw__poller_del(p, sv[0]);
        close(sv[0]);
        close(sv[1]);
        tw__poller_free(p);
    }
}

/* The peer's shutdown(SHUT_WR) is a half-close (RDHUP, still IN: the read sees EOF); closing
 * it completely is a hang-up for epoll and poll. */
TW_TEST(poller_half_close_and_hangup) {
    for (int k = 0; k < N_KINDS; k++) {
        tw__poller *p = tw__poller_new(kinds[k]);
        tw__poll_event out[4];
        int sv[2], n;
        const char *name;
        if (!p || pair(sv) != 0) {
            CHECK(0);
            continue;
        }
        name = tw__poller_name(p);
        CHECK_EQ_INT(tw__poller_add(p, sv[0], TW__POLL_IN, NULL), 0);
        shutdown(sv[1], SHUT_WR);
        n = tw__poller_wait(p, out, 4, 1000);
        CHECK_MSG(n == 1 && (out[0].events & TW__POLL_IN), "%s: half-close %d 0x%x", name, n,
                  n > 0 ? out[0].events : 0);
#if defined(__linux__)
        CHECK_MSG(n == 1 && (out[0].events & TW__POLL_RDHUP), "%s: no RDHUP bit", name);
#endif
        close(sv[1]);
        n = tw__poller_wait(p, out, 4, 1000);
        CHECK_MSG(n == 1 && (out[0].events & (TW__POLL_HUP | TW__POLL_RDHUP)),
                  "%s: hang-up %d 0x%x", name, n, n > 0 ? out[0].events : 0);
        tw__poller_del(p, sv[0]);
        close(sv[0]);
        tw__poller_free(p);
    }
}

/* More ready fds than one wait takes: later waits report the others (poll rotates its scan),
 * and removal in the middle of the set keeps the rest right (poll swaps the last entry in). */
TW_TEST(poller_many_fds) {
    enum { N = 300, CAP = 64 };
    for (int k = 0; k < N_KINDS; k++) {
        tw__poller *p = tw__poller_new(kinds[k]);
        static int sv[N][2];
        static char seen[N];
        tw__poll_event out[CAP];
        int opened = 0, distinct = 0;
        if (!p) {
            CHECK(0);
            continue;
        }
        for (int i = 0; i < N; i++) {
            if (pair(sv[i]) != 0) break;
            opened++;
            CHECK_EQ_INT(tw__poller_add(p, sv[i][0], TW__POLL_IN, &sv[i]), 0);
            if (write(sv[i][1], "z", 1) != 1) CHECK(0);
        }
        CHECK_EQ_INT(opened, N);
        /* Every other fd removed: the others must still map to their own ud. */
        for (int i = 0; i < opened; i += 2) CHECK_EQ_INT(tw__poller_del(p, sv[i][0]), 0);
        memset(seen, 0, sizeof seen);
        for (int round = 0; round < 10 && distinct < opened / 2; round++) {
            int n = tw__poller_wait(p, out, CAP, 1000);
            CHECK_MSG(n > 0 && n <= CAP, "%s: %d events", tw__poller_name(p), n);
            for (int j = 0; j < n; j++) {
                int i = (int)((int(*)[2])out[j].ud - sv);
                CHECK_MSG(i >= 0 && i < opened && i % 2 == 1 && out[j].fd == sv[i][0],
                          "%s: event for fd %d ud index %d", tw__poller_name(p), out[j].fd, i);
                if (i < 0 || i >= opened) continue;
                if (!seen[i]) distinct++;
                seen[i] = 1;
            }
        }
        CHECK_MSG(distinct == opened / 2, "%s: %d of %d ready fds reported",
                  tw__poller_name(p), distinct, opened / 2);
        for (int i = 0; i < opened; i++) {
            if (i % 2) tw__poller_del(p, sv[i][0]);
            close(sv[i][0]);
            close(sv[i][1]);
        }
        tw__poller_free(p);
    }
}

/* Signals from another thread (before or during the wait: either way it must be seen). */
static void *signal_from_thread(void *arg) {
    tw__wakeup_signal(arg);
    return NULL;
}

/* eventfd and pipe: signal from another thread wakes a wait; repeated signals collapse; drain
 * makes it quiet again. */
TW_TEST(poller_wakeup) {
    for (int use_pipe = 0; use_pipe < 2; use_pipe++) {
        for (int k = 0; k < N_KINDS; k++) {
            tw__poller *p = tw__poller_new(kinds[k]);
            tw__wakeup w;
            tw__poll_event out[4];
            pthread_t th;
            int n;
            if (!p || tw__wakeup_open(&w, use_pipe) != 0) {
                CHECK(0);
                tw__poller_free(p);
                continue;
            }
#if defined(__linux__)
            CHECK_MSG((w.rfd != w.wfd) == use_pipe, "pipe=%d rfd %d wfd %d", use_pipe, w.rfd,
                      w.wfd);
#endif
            CHECK(fcntl(w.rfd, F_GETFD) & FD_CLOEXEC);
            CHECK(fcntl(w.rfd, F_GETFL) & O_NONBLOCK);
            CHECK_EQ_INT(tw__poller_add(p, tw__wakeup_fd(&w), TW__POLL_IN, &w), 0);
            CHECK_EQ_INT(tw__poller_wait(p, out, 4, 0), 0);
            pthread_create(&th, NULL, signal_from_thread, &w);
            n = tw__poller_wait(p, out, 4, 5000);
            pthread_join(th, NULL);
            CHECK_MSG(n == 1 && out[0].ud == &w && (out[0].events & TW__POLL_IN),
                      "%s pipe=%d: woken %d", tw__poller_name(p), use_pipe, n);
            for (int i = 0; i < 1000; i++) tw__wakeup_signal(&w);
            CHECK_EQ_INT(tw__poller_wait(p, out, 4, 0), 1);
            tw__wakeup_drain(&w);
            CHECK_EQ_INT(tw__poller_wait(p, out, 4, 0), 0);
            tw__wakeup_drain(&w); /* draining a quiet wakeup neither blocks nor fails */
            tw__poller_del(p, tw__wakeup_fd(&w));
            tw__wakeup_close(&w);
            CHECK_EQ_INT(w.rfd, -1);
            tw__wakeup_close(&w); /* closing twice is fine */
            tw__poller_free(p);
        }
    }
    /* A full pipe: signal never blocks, and one drain empties it. */
    {
        tw__wakeup w;
        char b;
        CHECK_EQ_INT(tw__wakeup_open(&w, 1), 0);
        for (int i = 0; i < 200000; i++) tw__wakeup_signal(&w);
        tw__wakeup_drain(&w);
        CHECK_EQ_INT(read(w.rfd, &b, 1), -1);
        CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
        tw__wakeup_close(&w);
    }
}

/* TW_POLLER: the known names, and a clear typed error for the others (engine and mock). */
TW_TEST(poller_env_switch) {
    const char *old = getenv("TW_POLLER");
    char *saved = old ? strdup(old) : NULL, msg[120];
    tw__poller_kind kind;
    tw_error err;
    tw_engine *e;
    tw_mock *m;
    setenv("TW_POLLER", "poll", 1);
    CHECK_EQ_INT(tw__poller_env(&kind, msg, sizeof msg), 0);
    CHECK_EQ_INT(kind, TW__POLLER_POLL);
    setenv("TW_POLLER", "", 1);
    CHECK_EQ_INT(tw__poller_env(&kind, msg, sizeof msg), 0);
    CHECK_EQ_INT(kind, TW__POLLER_AUTO);
#if defined(TW__HAVE_EPOLL)
    setenv("TW_POLLER", "epoll", 1);
    CHECK_EQ_INT(tw__poller_env(&kind, msg, sizeof msg), 0);
    CHECK_EQ_INT(kind, TW__POLLER_EPOLL);
    CHECK(tw__poller_new(TW__POLLER_KQUEUE) == NULL && errno == ENOSYS);
#endif
    setenv("TW_POLLER", "select", 1);
    CHECK_EQ_INT(tw__poller_env(&kind, msg, sizeof msg), -1);
    CHECK_MSG(strstr(msg, "TW_POLLER=\"select\"") && strstr(msg, "poll"), "msg: %s", msg);
    e = tw_engine_new(NULL, &err);
    CHECK(e == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.msg, "TW_POLLER") != NULL, "engine: %s", err.msg);
    tw_engine_free(e);
    m = tw_mock_start(NULL, &err);
    CHECK(m == NULL);
    CHECK_EQ_INT(err.code, TW_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.msg, "TW_POLLER") != NULL, "mock: %s", err.msg);
    tw_mock_stop(m);
    if (saved)
        setenv("TW_POLLER", saved, 1);
    else
        unsetenv("TW_POLLER");
    free(saved);
}
