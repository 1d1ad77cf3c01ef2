/*
 * tee_internal.h - shared by the files of csrc/tee: the Redis connection helper (non-blocking
 * hiredis driven by our own poll, so that every wait can also watch a cancel fd), key layout.
 */
#ifndef TW_TEE_INTERNAL_H
#define TW_TEE_INTERNAL_H

#include "tw_internal.h"
#include "tw_tee.h"

#include <hiredis/hiredis.h>

/* The entry ids of the layout described in tw_tee.h. */
#define TW__TEE_DATA_MS "1"
#define TW__TEE_END_ID "2-0"

/* A copy of tw_redis_opts that owns its strings. */
typedef struct tw__redis_cfg {
    char *host, *unix_path, *username, *password, *key_prefix;
    int port, db, connect_timeout_ms, command_timeout_ms;
} tw__redis_cfg;

/* Copies o (NULL = defaults) and checks it. @return TW_OK, TW_ERR_INVALID_ARG, TW_ERR_NOMEM. */
tw_code tw__redis_cfg_copy(tw__redis_cfg *cfg, const tw_redis_opts *o, tw_error *err);
void tw__redis_cfg_free(tw__redis_cfg *cfg);

/* "<prefix>s:<id>" into a malloc'd string (its length in *len). NULL on NOMEM. */
char *tw__tee_stream_key(const tw__redis_cfg *cfg, const char *id, size_t *len);

/* 0 when id is a valid stream id (1..TW_TEE_MAX_ID bytes), else -1 with err set. */
int tw__tee_check_id(const char *id, tw_error *err);

/* One connection. Owned and used by one thread. */
typedef struct tw__rconn {
    redisContext *c; /* NULL while not connected */
} tw__rconn;

/* Connects (non-blocking connect, then AUTH / SELECT), waiting at most connect_timeout_ms.
 * cancel_fd (-1 = none) is watched while waiting: readable means give up (TW_ERR_CANCELLED).
 * @return TW_OK, TW_ERR_STORE (err says why), TW_ERR_CANCELLED. */
tw_code tw__rconn_connect(tw__rconn *k, const tw__redis_cfg *cfg, int cancel_fd,
                          tw_error *err);

/* Sends every command appended to k->c (redisAppendCommandArgv) and reads n replies into out,
 * within timeout_ms for the whole exchange. On any failure the connection is closed and the
 * replies read so far are freed (out[] all NULL). A reply of type REDIS_REPLY_ERROR is a
 * success here: the caller judges it.
 * @return TW_OK, TW_ERR_STORE (lost / timeout / protocol), TW_ERR_CANCELLED. */
tw_code tw__rconn_exec(tw__rconn *k, redisReply **out, size_t n, int timeout_ms, int cancel_fd,
                       tw_error *err);

/* Closes the connection (no-op when closed). */
void tw__rconn_close(tw__rconn *k);

/* Frees n replies and NULLs them. */
void tw__replies_free(redisReply **r, size_t n);

/* Monotonic milliseconds. */
int64_t tw__tee_now_ms(void);

/* Reads an eventfd's counter back to zero (non-blocking fd). */
void tw__eventfd_clear(int fd);
/* Adds 1 to an eventfd. */
void tw__eventfd_signal(int fd);

#endif /* TW_TEE_INTERNAL_H */
