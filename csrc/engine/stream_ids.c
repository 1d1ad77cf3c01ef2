/*
 * stream_ids.c - streams found by an id of the caller's choosing (tw_request_opts.id), so that
 * a stream can be cancelled from anywhere in the process that knows the id: another HTTP
 * request ("stop generating"), a WebSocket message, an admin task. Several streams may share
 * an id (the agents of one task): tw_engine_cancel_id cancels them all.
 *
 * One chained hash table per engine under its own mutex. The table holds no reference: a
 * stream leaves it when its last reference goes (tw__stream_unref), and a lookup takes a
 * reference only while the stream still has one (so a stream being freed is never revived).
 */
#include "engine/engine_internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_id(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int grow(tw_engine *e) {
    size_t nb = e->ids_nb ? e->ids_nb * 2 : 64;
    tw_stream **b = calloc(nb, sizeof *b);
    if (!b) return -1;
    for (size_t i = 0; i < e->ids_nb; i++) {
        tw_stream *s = e->ids[i];
        while (s) {
            tw_stream *next = s->id_next;
            size_t j = (size_t)(s->id_hash & (nb - 1));
            s->id_next = b[j];
            b[j] = s;
            s = next;
        }
    }
    free(e->ids);
    e->ids = b;
    e->ids_nb = nb;
    return 0;
}

int tw__ids_add(tw_stream *s) {
    tw_engine *e = s->e;
    int rc = 0;
    if (!s->id) return 0;
    s->id_hash = hash_id(s->id, s->id_len);
    pthread_mutex_lock(&e->ids_lock);
    if (e->ids_count + 1 > 2 * e->ids_nb && grow(e) != 0 && !e->ids_nb) {
        rc = -1;
    } else {
        size_t j = (size_t)(s->id_hash & (e->ids_nb - 1));
        s->id_next = e->ids[j];
        e->ids[j] = s;
        e->ids_count++;
        s->id_listed = 1;
    }
    pthread_mutex_unlock(&e->ids_lock);
    return rc;
}

void tw__ids_remove(tw_stream *s) {
    tw_engine *e = s->e;
    if (!s->id_listed) return;
    pthread_mutex_lock(&e->ids_lock);
    for (tw_stream **pp = &e->ids[s->id_hash & (e->ids_nb - 1)]; *pp; pp = &(*pp)->id_next) {
        if (*pp == s) {
            *pp = s->id_next;
            e->ids_count--;
            break;
        }
    }
    s->id_listed = 0;
    pthread_mutex_unlock(&e->ids_lock);
}

void tw__ids_free(tw_engine *e) {
    free(e->ids);
    e->ids = NULL;
    e->ids_nb = e->ids_count = 0;
}

size_t tw_engine_cancel_id(tw_engine *e, const char *id, size_t len) {
    tw_stream *found[64];
    size_t n, total = 0;
    uint64_t h;
    if (!e || !id || tw_engine_forked(e)) return 0;
    h = hash_id(id, len);
    do {
        /* References taken under the lock, cancels made outside it (a cancel may free). */
        n = 0;
        pthread_mutex_lock(&e->ids_lock);
        for (tw_stream *s = e->ids_nb ? e->ids[h & (e->ids_nb - 1)] : NULL; s && n < 64;
             s = s->id_next) {
            int refs = atomic_load(&s->refs);
            if (s->id_hash != h || s->id_len != len || memcmp(s->id, id, len) ||
                atomic_load(&s->cancel_requested))
                continue;
            while (refs > 0 && !atomic_compare_exchange_weak(&s->refs, &refs, refs + 1)) {
            }
            if (refs > 0) found[n++] = s;
        }
        pthread_mutex_unlock(&e->ids_lock);
        for (size_t i = 0; i < n; i++) {
            tw_stream_cancel(found[i]);
            tw__stream_unref(found[i]);
        }
        total += n;
    } while (n == 64); /* more than fit in one pass: cancelled ones are skipped next time */
    return total;
}
