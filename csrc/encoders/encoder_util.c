/* encoder_util.c - small helpers shared by the encoders: integers, finish reasons, strings. */
#include "encoders/encoder.h"

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
 * Every provider spelling we know, lowercased, with its family. Gemini spells them in capitals
 * (STOP, MAX_TOKENS, SAFETY); comparison is ASCII case-insensitive. */

enum reason_family { R_OTHER, R_STOP, R_LENGTH, R_TOOL, R_FUNCTION, R_FILTER, R_ERROR };

static const struct {
    const char *name;
    enum reason_family family;
} reasons[] = {
    {"stop", R_STOP},                  /* OpenAI, Gemini STOP, Ollama */
    {"end_turn", R_STOP},              /* Anthropic */
    {"stop_sequence", R_STOP},         /* Anthropic */
    {"completed", R_STOP},             /* OpenAI Responses status */
    {"finish_reason_stop", R_STOP},    /* Vertex enum spelling */
    {"eos", R_STOP},                   /* some local servers */
    {"length", R_LENGTH},              /* OpenAI, Ollama */
    {"max_tokens", R_LENGTH},          /* Anthropic, Gemini MAX_TOKENS */
    {"max_output_tokens", R_LENGTH},   /* OpenAI Responses incomplete_details.reason */
    {"model_context_window_exceeded", R_LENGTH}, /* Anthropic */
    {"tool_calls", R_TOOL},            /* OpenAI */
    {"tool_use", R_TOOL},              /* Anthropic */
    {"function_call", R_FUNCTION},     /* OpenAI legacy */
    {"content_filter", R_FILTER},      /* OpenAI, Azure, Responses */
    {"safety", R_FILTER},              /* Gemini */
    {"recitation", R_FILTER},          /* Gemini */
    {"blocklist", R_FILTER},           /* Gemini */
    {"prohibited_content", R_FILTER},  /* Gemini */
    {"spii", R_FILTER},                /* Gemini */
    {"image_safety", R_FILTER},        /* Gemini */
    {"language", R_FILTER},            /* Gemini: unsupported language, blocked */
    {"refusal", R_FILTER},             /* Anthropic */
    {"error", R_ERROR},                /* generic */
    {"failed", R_ERROR},               /* OpenAI Responses status */
    {"malformed_function_call", R_ERROR}, /* Gemini */
};

static enum reason_family reason_family(tw_str r) {
    size_t n = r.ptr ? r.len : 0;
    for (size_t k = 0; k < sizeof reasons / sizeof reasons[0]; k++) {
        const char *name = reasons[k].name;
        size_t i;
        if (strlen(name) != n) continue;
        for (i = 0; i < n; i++) {
            char ch = r.ptr[i];
            if (ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
            if (ch != name[i]) break;
        }
        if (i == n) return reasons[k].family;
    }
    return R_OTHER;
}

const char *tw__finish_reason_openai(tw_str reason) {
    switch (reason_family(reason)) {
    case R_LENGTH: return "length";
    case R_TOOL: return "tool_calls";
    case R_FUNCTION: return "function_call";
    case R_FILTER: return "content_filter";
    default: return "stop"; /* OpenAI has no "other": clients only know these five */
    }
}

const char *tw__finish_reason_ai_sdk(tw_str reason) {
    switch (reason_family(reason)) {
    case R_STOP: return "stop";
    case R_LENGTH: return "length";
    case R_TOOL:
    case R_FUNCTION: return "tool-calls";
    case R_FILTER: return "content-filter";
    case R_ERROR: return "error";
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
