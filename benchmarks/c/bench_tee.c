/*
 * bench_tee.c - the Redis Streams tee against a local redis-server started here (Debian's
 * redis-server, no persistence):
 *
 *   1. per-append cost on the caller's thread (ns), 180-byte events, one event per append
 *   2. the writer at 1,000 streams x 10 events/s for 10 s (3 s with TW_BENCH_QUICK=1): entries/s,
 *      round trips/s, mean and max commands per round trip, CPU of the writer thread and of
 *      redis-server in % of one core
 *   3. the writer flat out (appends as fast as one thread can queue them): entries/s
 *   4. Redis memory per finished stream: a 300-event answer (MEMORY USAGE of its key, and
 *      INFO used_memory over 1,000 such streams)
 *   5. resume: open -> first replayed byte, p50/p99 over 200 readers
 *
 * Numbers are printed, never asserted.
 */
#include "tee/tee_obj.h"
#include "tokenwire.h"
#include "tw_tee.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_of(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int free_port(void) {
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        getsockname(fd, (struct sockaddr *)&a, &al))
        exit(2);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Starts redis-server and waits for its readiness line. */
static pid_t redis_start(int port) {
    int p[2];
    char ps[16], buf[4096];
    size_t n = 0;
    pid_t pid;
    snprintf(ps, sizeof ps, "%d", port);
    if (pipe(p)) exit(2);
    pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[1], 1);
        close(p[0]);
        execlp("redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    for (;;) {
        ssize_t k = read(p[0], buf + n, sizeof buf - 1 - n);
        if (k <= 0) {
            fprintf(stderr, "redis-server did not start (package redis-server)\n");
            exit(2);
        }
        n += (size_t)k;
        buf[n] = '\0';
        if (strstr(buf, "Ready to accept connections")) break;
        if (n > 2048) {
            memmove(buf, buf + n - 256, 256);
            n = 256;
        }
    }
    close(p[0]);
    return pid;
}

static double redis_cpu(pid_t pid) {
    char path[64], line[1024];
    unsigned long ut = 0, st = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f) return 0;
    if (fgets(line, sizeof line, f)) {
        char *p = strrchr(line, ')');
        if (p) sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    }
    fclose(f);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static char EVENT[256];
static char IDS[1000][16]; /* stream ids, made before any timing */

static void make_event(void) {
    /* The size of an OpenAI chat.completion.chunk relayed with an id. */
    snprintf(EVENT, sizeof EVENT, "id: s:000\ndata: {\"id\":\"chatcmpl-9x\",\"object\":\"chat."
             "completion.chunk\",\"created\":1733000000,\"model\":\"gpt-4o\",\"choices\":[{\"index"
             "\":0,\"delta\":{\"content\":\" token\"},\"finish_reason\":null}]}%s", "\n\n");
}

static tw_tee *tee_at(int port, const char *prefix) {
    tw_tee_opts o;
    tw_error err;
    tw_tee *t;
    tw_tee_opts_init(&o);
    o.redis.port = port;
    o.redis.key_prefix = prefix;
    o.require_redis = 1;
    o.max_queue_bytes = (size_t)512 << 20;
    t = tw_tee_new(&o, &err);
    if (!t) {
        fprintf(stderr, "tee: %s\n", err.msg);
        exit(2);
    }
    return t;
}

static redisContext *cmd_conn(int port) {
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) exit(2);
    return c;
}

static long long info_used_memory(redisContext *c) {
    redisReply *r = redisCommand(c, "INFO memory");
    long long v = 0;
    const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "used_memory:") : NULL;
    if (p) v = atoll(p + 12);
    if (r) freeReplyObject(r);
    return v;
}

int main(void) {
    int quick = getenv("TW_BENCH_QUICK") != NULL, port = free_port();
    pid_t rp = redis_start(port);
    size_t elen;
    make_event();
    elen = strlen(EVENT);
    for (int i = 0; i < 1000; i++) snprintf(IDS[i], sizeof IDS[i], "s%d", i);
    printf("tee: redis-server on 127.0.0.1:%d, %zu-byte events\n", port, elen);

    /* 1. per-append cost on the caller's thread */
    {
        tw_tee *t = tee_at(port, "b1:");
        const int n = 200000;
        double t0 = now_s();
        for (int i = 0; i < n; i++)
            tw_tee_append(t, IDS[i % 1000], EVENT, elen, (uint64_t)(i / 1000), 1, NULL);
        printf("  append, back to back from one thread: %.0f ns/append (%d appends over 1,000 "
               "streams, the writer draining at the same time)\n", (now_s() - t0) * 1e9 / n, n);
        tw_tee_flush(t, -1);
        tw_tee_free(t);
    }

    /* 2. 1,000 streams x 10 events/s, paced: one tick per ms appends 10 events */
    {
        tw_tee *t = tee_at(port, "b2:");
        double secs = quick ? 3 : 10, t0, t_end, w0, r0, wall;
        clockid_t wc;
        tw_tee_stats s0, s1;
        uint64_t k = 0;
        double in_append = 0;
        pthread_getcpuclockid(t->thread, &wc);
        tw_tee_get_stats(t, &s0);
        w0 = cpu_of(wc);
        r0 = redis_cpu(rp);
        t0 = now_s();
        t_end = t0 + secs;
        for (int tick = 0; now_s() < t_end; tick++) {
            struct timespec ts;
            double due = t0 + tick * 1e-3, a0 = now_s();
            for (int j = 0; j < 10; j++, k++)
                tw_tee_append(t, IDS[k % 1000], EVENT, elen, k / 1000, 1, NULL);
            in_append += now_s() - a0;
            due += 1e-3;
            ts.tv_sec = (time_t)due;
            ts.tv_nsec = (long)((due - (double)ts.tv_sec) * 1e9);
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        tw_tee_flush(t, -1);
        wall = now_s() - t0;
        tw_tee_get_stats(t, &s1);
        printf("  1,000 streams x 10 ev/s for %.0f s: %.0f entries/s, %.0f round trips/s, "
               "%.1f entries per round trip (max %" PRIu64 "), writer CPU %.1f%%, "
               "redis-server CPU %.1f%%\n",
               secs, (double)(s1.entries_written - s0.entries_written) / wall,
               (double)(s1.batches - s0.batches) / wall,
               (double)(s1.entries_written - s0.entries_written) /
                   (double)(s1.batches - s0.batches ? s1.batches - s0.batches : 1),
               s1.max_batch, (cpu_of(wc) - w0) * 100 / wall,
               (redis_cpu(rp) - r0) * 100 / wall);
        printf("  append on the caller thread at that pace: %.0f ns/append (%" PRIu64
               " appends)\n", in_append * 1e9 / (double)k, k);
        tw_tee_free(t);
    }

    /* 3. flat out */
    {
        tw_tee *t = tee_at(port, "b3:");
        const int n = quick ? 100000 : 400000;
        tw_tee_stats s;
        double t0 = now_s(), wall;
        for (int i = 0; i < n; i++)
            tw_tee_append(t, IDS[i % 1000], EVENT, elen, (uint64_t)(i / 1000), 1, NULL);
        tw_tee_flush(t, -1);
        wall = now_s() - t0;
        tw_tee_get_stats(t, &s);
        printf("  flat out: %.0f entries/s (%" PRIu64 " round trips, %.0f entries each)\n",
               (double)s.entries_written / wall, s.batches,
               (double)s.entries_written / (double)(s.batches ? s.batches : 1));
        tw_tee_free(t);
    }

    /* 4. memory per finished stream: 300 events, one per append */
    {
        tw_tee *t = tee_at(port, "b4:");
        redisContext *c = cmd_conn(port);
        redisReply *r;
        long long m0, m1;
        char id[16];
        /* First in a fresh state: earlier runs' client buffers would blur used_memory. */
        r = redisCommand(c, "FLUSHALL");
        freeReplyObject(r);
        m0 = info_used_memory(c);
        for (int s = 0; s < 1000; s++) {
            snprintf(id, sizeof id, "m%d", s);
            for (int i = 0; i < 300; i++) tw_tee_append(t, id, EVENT, elen, (uint64_t)i, 1, NULL);
            tw_tee_end(t, id, NULL);
        }
        tw_tee_flush(t, -1);
        m1 = info_used_memory(c);
        {
            long long sum = 0;
            for (int s = 0; s < 1000; s++) {
                r = redisCommand(c, "MEMORY USAGE b4:s:m%d SAMPLES 0", s);
                if (r && r->type == REDIS_REPLY_INTEGER) sum += r->integer;
                if (r) freeReplyObject(r);
            }
            printf("  memory per finished 300-event answer (%zu bytes of events): MEMORY USAGE "
                   "%.0f bytes (mean of 1,000 keys), INFO used_memory delta %.0f bytes per "
                   "stream\n", 300 * elen, (double)sum / 1000, (double)(m1 - m0) / 1000);
        }
        redisFree(c);
        tw_tee_free(t);
    }

    /* 5. resume latency: open -> first replayed byte */
    {
        double lat[200];
        for (int i = 0; i < 200; i++) {
            tw_resume_opts o;
            tw_resume *rd;
            char id[16];
            double t0;
            tw_resume_opts_init(&o);
            o.redis.port = port;
            o.redis.key_prefix = "b4:";
            o.last_seq = 150;
            snprintf(id, sizeof id, "m%d", i);
            t0 = now_s();
            rd = tw_resume_open(&o, id, NULL);
            tw_resume_wait(rd, -1);
            lat[i] = (now_s() - t0) * 1e3;
            tw_resume_chunk_free(tw_resume_take(rd));
            tw_resume_close(rd);
        }
        for (int i = 1; i < 200; i++)
            for (int j = i; j > 0 && lat[j] < lat[j - 1]; j--) {
                double x = lat[j];
                lat[j] = lat[j - 1];
                lat[j - 1] = x;
            }
        printf("  resume open -> first byte (150 events replayed): p50 %.2f ms, p99 %.2f ms\n",
               lat[100], lat[198]);
    }
    kill(rp, SIGKILL);
    waitpid(rp, NULL, 0);
    return 0;
}
