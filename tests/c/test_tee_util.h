/*
 * test_tee_util.h - helpers for the tee tests: a real redis-server on 127.0.0.1 started by the
 * test (readiness: its "Ready to accept connections" line, then a PING), direct commands for
 * checks, a reader drained to its end, and notices waited for on the tee's fd.
 */
#ifndef TEST_TEE_UTIL_H
#define TEST_TEE_UTIL_H

#include "tokenwire.h"
#include "tw_tee.h"

#include <hiredis/hiredis.h>
#include <sys/types.h>

typedef struct tt_redis {
    pid_t pid;
    int port;
} tt_redis;

/* Starts redis-server on port (0 = a free one) with no persistence; aborts the run when it
 * cannot (the Debian package redis-server is a dependency: scripts/ensure-deps.sh). */
void tt_redis_start(tt_redis *r, int port);
/* The same with extra redis-server arguments (NULL-terminated list, up to 8). */
void tt_redis_start_args(tt_redis *r, int port, const char *const *extra);
/* SIGKILL and reap. */
void tt_redis_kill(tt_redis *r);
/* The suite's shared server (started on first use, killed at exit). */
const tt_redis *tt_shared(void);

/* A blocking connection for checks; aborts on failure. Free with redisFree. */
redisContext *tt_connect(const tt_redis *r);
/* Runs a command and returns its integer reply (-999 when not an integer). */
long long tt_int(redisContext *c, const char *fmt, ...);

/* Tee / resume options pointing at r, with a key prefix of the test's own. */
void tt_tee_opts(tw_tee_opts *o, const tt_redis *r, const char *prefix);
void tt_resume_opts(tw_resume_opts *o, const tt_redis *r, const char *prefix);

/* What a drained reader gave. */
typedef struct tt_read {
    tw_buf bytes;
    uint64_t first_seq, events;
    int chunks;
    tw_resume_state state;
    tw_error err;
    int timed_out; /* nothing happened for limit_ms */
} tt_read;

/* Takes chunks until the terminal status (each wait at most limit_ms), checking that chunks
 * are contiguous in seq. Closes nothing. */
void tt_drain(tw_resume *r, tt_read *out, int limit_ms);
void tt_read_free(tt_read *r);

/* Waits (poll on tw_tee_fd, at most limit_ms in all) for a notice of kind; other notices are
 * counted in counts[kind] as they pass. @return 1 when seen. */
int tt_wait_notice(tw_tee *t, tw_tee_notice_kind kind, const char *id, int counts[6],
                   int limit_ms);

/* Monotonic milliseconds. */
double tt_ms(void);

#endif /* TEST_TEE_UTIL_H */
