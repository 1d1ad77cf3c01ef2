/*
 * tw_batch.c - event batches: events in one array, their strings in an arena of chunks, so that
 * pushing never moves strings already handed out (pointers into a batch stay valid until it is
 * freed).
 *
 * Per-event cost. The engine stages each transfer's events into a batch on its I/O thread and
 * hands the whole batch to the consumer thread, which frees it after one take. At production
 * load (1,000 streams x 10 tokens/s) a batch carries one or two small events, so a batch made
 * fresh each time cost a calloc, a realloc and a 16 KiB arena malloc on one thread and their
 * frees on the other (glibc's per-thread caches do not serve that pattern): ~2 us per event in
 * malloc/free and a fresh, cold 16 KiB per stream. Hence:
 *   - the arena starts small (ARENA_FIRST) and doubles up to ARENA_MAX, so a steady stream
 *     keeps one chunk of the size its batches need;
 *   - freed batches go to a process-wide free list (POOL_MAX entries, LIFO so the next batch is
 *     warm in cache) instead of back to malloc, keeping at most a small event array and arena
 *     chunk (at most ~5 KiB each, ~1.3 MiB for a full list). The list is taken with a trylock
 *     and never waited on: a contended or forked-while-held lock just means malloc.
 */
#include "tw_common.h"
#include "tw_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_FIRST 256
#define ARENA_MAX 16384
#define POOL_MAX 256
#define POOL_EVENTS_MAX 16 /* a pooled batch keeps an event array of at most this many */
#define POOL_CHUNK_MAX 2048 /* and an arena chunk of at most this many bytes */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    char data[];
} arena_chunk;

struct tw_batch {
    tw_event *events;
    size_t count, cap;
    arena_chunk *chunks; /* newest first */
    size_t bytes;
    tw_batch *pool_next;
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static tw_batch *pool_head;
static size_t pool_len;

static void free_chunks(arena_chunk *c) {
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
}

tw_batch *tw_batch_new(void) {
    tw_batch *b = NULL;
    if (pthread_mutex_trylock(&pool_lock) == 0) {
        b = pool_head;
        if (b) {
            pool_head = b->pool_next;
            pool_len--;
        }
        pthread_mutex_unlock(&pool_lock);
    }
    if (b) {
        b->pool_next = NULL;
        return b; /* emptied by tw_batch_clear before it was pooled */
    }
    return calloc(1, sizeof(tw_batch));
}

void tw_batch_clear(tw_batch *b) {
    /* Keep the newest chunk only (the largest): a batch reused for a steady stream needs one. */
    if (b->chunks) {
        free_chunks(b->chunks->next);
        b->chunks->next = NULL;
        b->chunks->used = 0;
    }
    b->count = 0;
    b->bytes = 0;
}

void tw_batch_free(tw_batch *b) {
    if (!b) return;
    if (b->cap <= POOL_EVENTS_MAX && pthread_mutex_trylock(&pool_lock) == 0) {
        if (pool_len < POOL_MAX) {
            tw_batch_clear(b);
            if (b->chunks && b->chunks->cap > POOL_CHUNK_MAX) {
                free(b->chunks);
                b->chunks = NULL;
            }
            b->pool_next = pool_head;
            pool_head = b;
            pool_len++;
            b = NULL;
        }
        pthread_mutex_unlock(&pool_lock);
        if (!b) return;
    }
    free(b->events);
    free_chunks(b->chunks);
    free(b);
}

size_t tw_batch_count(const tw_batch *b) { return b ? b->count : 0; }
size_t tw_batch_bytes(const tw_batch *b) { return b ? b->bytes : 0; }

const tw_event *tw_batch_get(const tw_batch *b, size_t i) {
    return (b && i < b->count) ? &b->events[i] : NULL;
}

static char *arena_alloc(tw_batch *b, size_t n) {
    arena_chunk *c = b->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? (c->cap < ARENA_MAX / 2 ? c->cap * 2 : ARENA_MAX) : ARENA_FIRST;
        int big = n > cap;
        if (big) cap = n;
        c = malloc(sizeof(arena_chunk) + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        /* A string bigger than the next chunk gets its own chunk behind the current one, so
         * the current chunk's free space is not wasted. */
        if (b->chunks && big) {
            c->next = b->chunks->next;
            b->chunks->next = c;
        } else {
            c->next = b->chunks;
            b->chunks = c;
        }
    }
    c->used += n;
    return c->data + c->used - n;
}

static int copy_str(tw_batch *b, tw_str *s) {
    char *p;
    if (!s->ptr) return 0;
    p = arena_alloc(b, s->len + 1);
    if (!p) return -1;
    memcpy(p, s->ptr, s->len);
    p[s->len] = '\0'; /* bindings may rely on a terminator */
    s->ptr = p;
    b->bytes += s->len + 1;
    return 0;
}

tw_code tw_batch_push(tw_batch *b, const tw_event *ev) {
    tw_event *dst;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4;
        tw_event *p = realloc(b->events, cap * sizeof *p);
        if (!p) return TW_ERR_NOMEM;
        b->events = p;
        b->cap = cap;
    }
    dst = &b->events[b->count];
    *dst = *ev;
    if (copy_str(b, &dst->text) || copy_str(b, &dst->id) || copy_str(b, &dst->name) ||
        copy_str(b, &dst->arguments) || copy_str(b, &dst->reason) || copy_str(b, &dst->raw) ||
        copy_str(b, &dst->source))
        return TW_ERR_NOMEM; /* arena bytes already taken are freed with the batch */
    b->count++;
    b->bytes += sizeof *dst;
    return TW_OK;
}

int tw_batch_sink(void *batch, const tw_event *ev) {
    return tw_batch_push((tw_batch *)batch, ev) == TW_OK ? 0 : 1;
}
