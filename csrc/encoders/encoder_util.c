/* encoder_util.c - small helpers shared by the encoders: integers, finish reasons, strings. */
#include "encoders/encoder.h"
#include "tw_summary.h"

#include <stdlib.h>

tw_code tw__put_i64(tw_buf *out, int64_t v) {
    char tmp[24];
    char *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) *--p = '-';
    return tw__put(out, p, (size_t)(tmp + sizeof tmp - p));
}

char *tw__strndup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int tw__str_eq(tw_str a, const char *b, size_t blen) {
    size_t alen = a.ptr ? a.len : 0;
    return alen == blen && (alen == 0 || memcmp(a.ptr, b, alen) == 0);
}

/* ---- tw__map --------------------------------------------------------------------------------- */

static size_t map_slot(uint64_t key, size_t cap) {
    key ^= key >> 33;
    key *= 0xFF51AFD7ED558CCDull;
    key ^= key >> 33;
    return (size_t)key & (cap - 1);
}

int tw__map_get(const tw__map *m, uint64_t key, uint32_t *val) {
    if (!m->cap) return 0;
    for (size_t i = map_slot(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->vals[i]) return 0;
        if (m->keys[i] == key) {
            *val = m->vals[i] - 1;
            return 1;
        }
    }
}

static void map_insert(uint64_t *keys, uint32_t *vals, size_t cap, uint64_t key, uint32_t v1) {
    size_t i = map_slot(key, cap);
    while (vals[i] && keys[i] != key) i = (i + 1) & (cap - 1);
    keys[i] = key;
    vals[i] = v1;
}

tw_code tw__map_put(tw__map *m, uint64_t key, uint32_t val) {
    uint32_t old;
    if (tw__map_get(m, key, &old)) {
        map_insert(m->keys, m->vals, m->cap, key, val + 1);
        return TW_OK;
    }
    if ((m->count + 1) * 2 > m->cap) { /* keep the load under 1/2 */
        size_t cap = m->cap ? m->cap * 2 : 16;
        uint64_t *keys = malloc(cap * sizeof *keys);
        uint32_t *vals = calloc(cap, sizeof *vals);
        if (!keys || !vals) {
            free(keys);
            free(vals);
            return TW_ERR_NOMEM;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->vals[i]) map_insert(keys, vals, cap, m->keys[i], m->vals[i]);
        free(m->keys);
        free(m->vals);
        m->keys = keys;
        m->vals = vals;
        m->cap = cap;
    }
    map_insert(m->keys, m->vals, m->cap, key, val + 1);
    m->count++;
    return TW_OK;
}

void tw__map_free(tw__map *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- finish reasons ----------------------------------------------------------------------------
 * The vocabulary is the summary's (tw_finish_from_reason); each format spells it its own way.
 * OpenAI keeps the legacy function_call apart for the clients that still read it. */

static int is_function_call(tw_str r) {
    return r.ptr && r.len == 13 && !memcmp(r.ptr, "function_call", 13);
}

const char *tw__finish_reason_openai(tw_str reason) {
    if (is_function_call(reason)) return "function_call";
    switch (tw_finish_from_reason(reason)) {
    case TW_FINISH_LENGTH: return "length";
    case TW_FINISH_TOOL_CALLS: return "tool_calls";
    case TW_FINISH_CONTENT_FILTER: return "content_filter";
    default: return "stop"; /* OpenAI has no "other": clients only know these five */
    }
}

const char *tw__finish_reason_ai_sdk(tw_str reason) {
    switch (tw_finish_from_reason(reason)) {
    case TW_FINISH_STOP: return "stop";
    case TW_FINISH_LENGTH: return "length";
    case TW_FINISH_TOOL_CALLS: return "tool-calls";
    case TW_FINISH_CONTENT_FILTER: return "content-filter";
    case TW_FINISH_ERROR: return "error";
    default: return "other";
    }
}

tw_code tw__put_sse_comment(tw_buf *out, const char *prefix, tw_str text) {
    TW__TRY(tw__put(out, ": ", 2));
    TW__TRY(tw__put(out, prefix, strlen(prefix)));
    for (size_t i = 0; i < text.len; i++) {
        char ch = text.ptr[i] == '\r' || text.ptr[i] == '\n' ? ' ' : text.ptr[i];
        TW__TRY(tw__put(out, &ch, 1));
    }
    return tw__put(out, "\n\n", 2);
}
