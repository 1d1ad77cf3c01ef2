/*
 * mock_params.c - the mock server's request controls (query parameters and X-Mock-* headers),
 * URL decoding, a tiny top-level JSON key scanner, and the deterministic content (text deltas,
 * reasoning deltas, tool arguments) that tests compare against.
 */
/* memmem, memrchr, accept4: GNU extensions (the Makefile defines this too). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mock/mock_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- buffer helpers ------------------------------------------------------------------------ */

void tw__mb_put(tw_buf *b, const void *p, size_t n) {
    if (n == 0) return;
    if (tw_buf_append(b, p, n) != TW_OK) {
        fputs("tokenwire mock: out of memory\n", stderr);
        abort();
    }
}

void tw__mb_puts(tw_buf *b, const char *s) { tw__mb_put(b, s, strlen(s)); }

void tw__mb_printf(tw_buf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        tw__mb_put(b, small, (size_t)n);
        return;
    }
    {
        char *big = malloc((size_t)n + 1);
        if (!big) {
            fputs("tokenwire mock: out of memory\n", stderr);
            abort();
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        tw__mb_put(b, big, (size_t)n);
        free(big);
    }
}

void tw__mb_jstr(tw_buf *b, const char *s, size_t n) {
    tw__mb_put(b, "\"", 1);
    tw__mb_jstr_body(b, s, n);
    tw__mb_put(b, "\"", 1);
}

void tw__mb_jstr_body(tw_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
        tw__mb_put(b, s + run, i - run);
        run = i + 1;
        switch (ch) {
        case '"': tw__mb_put(b, "\\\"", 2); break;
        case '\\': tw__mb_put(b, "\\\\", 2); break;
        case '\n': tw__mb_put(b, "\\n", 2); break;
        case '\r': tw__mb_put(b, "\\r", 2); break;
        case '\t': tw__mb_put(b, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
            tw__mb_put(b, u, 6);
        }
        }
    }
    tw__mb_put(b, s + run, n - run);
}

uint64_t tw__mock_realtime_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- deterministic content ----------------------------------------------------------------- */

static const char default_text[] =
    "Hello from the tokenwire mock server. Tokens arrive one by one, parsed in C \xe2\x80\x94 "
    "fast, steady and exactly reproducible.";

int tw__mock_words_init(tw__mock_words *w, const char *text, size_t len) {
    size_t i = 0, cap = 0;
    memset(w, 0, sizeof *w);
    if (!text) {
        text = default_text;
        len = sizeof default_text - 1;
    }
    w->text = text;
    w->len = len;
    while (i < len) {
        while (i < len && text[i] == ' ') i++;
        if (i == len) break;
        if (w->n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            size_t *no = realloc(w->off, nc * sizeof *no);
            size_t *nl;
            if (!no) return -1;
            w->off = no;
            nl = realloc(w->wlen, nc * sizeof *nl);
            if (!nl) return -1;
            w->wlen = nl;
            cap = nc;
        }
        w->off[w->n] = i;
        while (i < len && text[i] != ' ') i++;
        w->wlen[w->n] = i - w->off[w->n];
        w->n++;
    }
    return 0;
}

void tw__mock_words_free(tw__mock_words *w) {
    free(w->off);
    free(w->wlen);
    memset(w, 0, sizeof *w);
}

void tw__mock_words_delta(const tw__mock_words *w, tw_buf *out, long i, long c) {
    if (i > 0) tw__mb_put(out, " ", 1);
    if (w->n == 0) {
        /* No word at all: every delta is the whole text (possibly empty). */
        tw__mb_put(out, w->text, w->len);
    } else {
        size_t k = (size_t)(i + c) % w->n;
        tw__mb_put(out, w->text + w->off[k], w->wlen[k]);
    }
}

void tw__mock_reasoning_delta(tw_buf *out, long k) {
    tw__mb_printf(out, "Thinking about part %ld. ", k + 1);
}

static int tool_args_str(char *b, size_t cap, long k) {
    return snprintf(b, cap, "{\"city\":\"Paris\",\"days\":%ld,\"unit\":\"celsius\"}", k + 1);
}

void tw__mock_tool_args(tw_buf *out, long k) {
    char b[96];
    tw__mb_put(out, b, (size_t)tool_args_str(b, sizeof b, k));
}

#define TOOL_FRAG 9

long tw__mock_tool_nfrags(long k) {
    char b[96];
    return (tool_args_str(b, sizeof b, k) + TOOL_FRAG - 1) / TOOL_FRAG;
}

void tw__mock_tool_frag(tw_buf *out, long k, long j) {
    char b[96];
    size_t n = (size_t)tool_args_str(b, sizeof b, k), off = (size_t)j * TOOL_FRAG;
    if (off < n) tw__mb_put(out, b + off, n - off < TOOL_FRAG ? n - off : TOOL_FRAG);
}

static char *buf_to_cstr(tw_buf *b) {
    char *s;
    tw__mb_put(b, "", 1); /* ensures storage even when empty */
    s = b->data;
    return s;
}

char *tw_mock_expected_text(int chunks, const char *text) {
    tw_buf b = {0};
    tw__mock_words w;
    if (tw__mock_words_init(&w, text, text ? strlen(text) : 0) != 0) {
        tw__mock_words_free(&w);
        return NULL;
    }
    for (long i = 0; i < chunks; i++) tw__mock_words_delta(&w, &b, i, 0);
    tw__mock_words_free(&w);
    return buf_to_cstr(&b);
}

char *tw_mock_expected_reasoning(int n) {
    tw_buf b = {0};
    for (long k = 0; k < n; k++) tw__mock_reasoning_delta(&b, k);
    return buf_to_cstr(&b);
}

char *tw_mock_expected_tool_args(int k) {
    tw_buf b = {0};
    tw__mock_tool_args(&b, k < 0 ? 0 : k);
    return buf_to_cstr(&b);
}

/* ---- URL decoding, headers, JSON ----------------------------------------------------------- */

static int hexval(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

char *tw__mock_url_decode(const char *s, size_t n, size_t *out_len) {
    char *o = malloc(n + 1);
    size_t j = 0;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '+') {
            o[j++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
                   (l = hexval((unsigned char)s[i + 2])) >= 0) {
            o[j++] = (char)(h * 16 + l);
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    if (out_len) *out_len = j;
    return o;
}

int tw__mock_header(const char *headers, size_t len, const char *name, const char **v,
                    size_t *vlen) {
    size_t nl = strlen(name);
    const char *p = headers, *end = headers + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && (size_t)(colon - p) == nl && strncasecmp(p, name, nl) == 0) {
            const char *a = colon + 1, *b = le;
            while (a < b && (*a == ' ' || *a == '\t')) a++;
            while (b > a && (b[-1] == '\r' || b[-1] == ' ' || b[-1] == '\t')) b--;
            *v = a;
            *vlen = (size_t)(b - a);
            return 1;
        }
        p = eol ? eol + 1 : end;
    }
    return 0;
}

static const char *skip_ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Skips a JSON string starting at the opening quote. @return past the closing quote or NULL. */
static const char *skip_string(const char *p, const char *e) {
    p++;
    while (p < e) {
        if (*p == '\\') {
            p += 2;
            continue;
        }
        if (*p == '"') return p + 1;
        p++;
    }
    return NULL;
}

/* Skips one JSON value. @return past it or NULL when malformed / truncated. */
static const char *skip_value(const char *p, const char *e, int depth) {
    if (depth > 256) return NULL;
    p = skip_ws(p, e);
    if (p >= e) return NULL;
    if (*p == '"') return skip_string(p, e);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        int is_obj = *p == '{';
        p = skip_ws(p + 1, e);
        if (p < e && *p == close) return p + 1;
        for (;;) {
            if (is_obj) {
                p = skip_ws(p, e);
                if (p >= e || *p != '"' || !(p = skip_string(p, e))) return NULL;
                p = skip_ws(p, e);
                if (p >= e || *p != ':') return NULL;
                p++;
            }
            if (!(p = skip_value(p, e, depth + 1))) return NULL;
            p = skip_ws(p, e);
            if (p >= e) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p++;
        }
    }
    /* number, true, false, null: a run of literal characters */
    {
        const char *s = p;
        while (p < e && (isalnum((unsigned char)*p) || *p == '-' || *p == '+' || *p == '.')) p++;
        return p > s ? p : NULL;
    }
}

int tw__mock_json_top(const char *body, size_t len, const char *key, const char **v,
                      size_t *vlen) {
    const char *p = body, *e = body + len;
    size_t kl = strlen(key);
    if (!body) return 0;
    p = skip_ws(p, e);
    if (p >= e || *p != '{') return 0;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}') return 0;
    for (;;) {
        const char *ks, *ke, *vs;
        p = skip_ws(p, e);
        if (p >= e || *p != '"') return 0;
        ks = p + 1;
        if (!(p = skip_string(p, e))) return 0;
        ke = p - 1;
        p = skip_ws(p, e);
        if (p >= e || *p != ':') return 0;
        vs = skip_ws(p + 1, e);
        if (!(p = skip_value(vs, e, 0))) return 0;
        if ((size_t)(ke - ks) == kl && memcmp(ks, key, kl) == 0) {
            *v = vs;
            *vlen = (size_t)(p - vs);
            return 1;
        }
        p = skip_ws(p, e);
        if (p >= e || *p != ',') return 0;
        p++;
    }
}

/* ---- controls ------------------------------------------------------------------------------ */

void tw__mock_params_init(tw__mock_params *p) {
    memset(p, 0, sizeof *p);
    p->chunks = 20;
    p->choices = 1;
    p->usage = 1;
    p->split = TW__SPLIT_EVENT;
    p->coalesce = 64;
    p->fault_after = 3;
    p->fault_times = -1;
    p->retry_after = 1;
    p->oversized = 80LL * 1024 * 1024;
}

void tw__mock_params_free(tw__mock_params *p) {
    free(p->text);
    p->text = NULL;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Sets one control; name is already normalized to lower case with '_'. */
static int set_param(tw__mock_params *p, const char *name, const char *val, size_t vlen,
                     char *err, size_t errlen) {
    long l;
    double d;
    int bad = 0;
    if (!strcmp(name, "chunks")) {
        bad = parse_long(val, 0, 1000000000L, &p->chunks);
    } else if (!strcmp(name, "delay_ms")) {
        bad = parse_double(val, 0, 3600e3, &p->delay_ms);
    } else if (!strcmp(name, "text")) {
        char *t = malloc(vlen + 1);
        if (!t) return -1;
        memcpy(t, val, vlen);
        t[vlen] = '\0';
        free(p->text);
        p->text = t;
        p->text_len = vlen;
    } else if (!strcmp(name, "reasoning")) {
        bad = parse_long(val, 0, 1000000000L, &p->reasoning);
    } else if (!strcmp(name, "tools")) {
        bad = parse_long(val, 0, 10000, &p->tools);
    } else if (!strcmp(name, "choices")) {
        bad = parse_long(val, 1, 128, &p->choices);
    } else if (!strcmp(name, "usage")) {
        bad = parse_long(val, 0, 1, &l);
        p->usage = (int)l;
    } else if (!strcmp(name, "split")) {
        if (!strcmp(val, "event")) p->split = TW__SPLIT_EVENT;
        else if (!strcmp(val, "random")) p->split = TW__SPLIT_RANDOM;
        else if (!strcmp(val, "byte")) p->split = TW__SPLIT_BYTE;
        else if (!strcmp(val, "coalesce")) p->split = TW__SPLIT_COALESCE;
        else bad = 1;
    } else if (!strcmp(name, "coalesce")) {
        bad = parse_long(val, 1, 1000000, &p->coalesce);
    } else if (!strcmp(name, "timestamp")) {
        bad = parse_long(val, 0, 1, &l);
        p->timestamp = (int)l;
    } else if (!strcmp(name, "fault")) {
        static const struct {
            const char *n;
            tw__mock_fault f;
        } kinds[] = {{"429", TW__FAULT_429},
                     {"500", TW__FAULT_500},
                     {"reset", TW__FAULT_RESET},
                     {"stall", TW__FAULT_STALL},
                     {"garbage", TW__FAULT_GARBAGE},
                     {"bad_utf8", TW__FAULT_BAD_UTF8},
                     {"oversized", TW__FAULT_OVERSIZED},
                     {"provider_error", TW__FAULT_PROVIDER_ERROR},
                     {"heartbeat_only", TW__FAULT_HEARTBEAT_ONLY},
                     {"none", TW__FAULT_NONE},
                     {"", TW__FAULT_NONE}};
        size_t i;
        for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (!strcmp(val, kinds[i].n)) break;
        if (i == sizeof kinds / sizeof kinds[0]) bad = 1;
        else p->fault = kinds[i].f;
    } else if (!strcmp(name, "fault_after")) {
        bad = parse_long(val, 0, 1000000000L, &p->fault_after);
    } else if (!strcmp(name, "fault_times")) {
        bad = parse_long(val, 0, 1000000000L, &p->fault_times);
    } else if (!strcmp(name, "retry_after")) {
        bad = parse_long(val, 0, 86400, &p->retry_after);
    } else if (!strcmp(name, "oversized")) {
        bad = parse_long(val, 1, 1L << 40, &l);
        p->oversized = l;
    } else if (!strcmp(name, "heartbeat_ms")) {
        bad = parse_double(val, 0, 3600e3, &d);
        p->heartbeat_ms = d;
    } else if (!strcmp(name, "key")) {
        /* X-Mock-Key names the fault_times counter; read by the server, not a control. */
    } else {
        snprintf(err, errlen, "unknown mock control '%s'", name);
        return -1;
    }
    if (bad) {
        snprintf(err, errlen, "bad value for mock control '%s'", name);
        return -1;
    }
    return 0;
}

/* Normalizes a control name: lower case, '-' becomes '_'. @return 0 or -1 if too long. */
static int norm_name(const char *s, size_t n, char *out, size_t cap) {
    if (n + 1 > cap) return -1;
    for (size_t i = 0; i < n; i++) {
        char ch = (char)tolower((unsigned char)s[i]);
        out[i] = ch == '-' ? '_' : ch;
    }
    out[n] = '\0';
    return 0;
}

static int apply(tw__mock_params *p, const char *name, size_t nl, const char *val, size_t vl,
                 int decode, char *err, size_t errlen) {
    char nb[64];
    char *v;
    size_t len = vl;
    int rc;
    if (norm_name(name, nl, nb, sizeof nb) != 0) {
        snprintf(err, errlen, "unknown mock control '%.*s'", (int)(nl > 40 ? 40 : nl), name);
        return -1;
    }
    if (decode) {
        v = tw__mock_url_decode(val, vl, &len);
    } else {
        v = malloc(vl + 1);
        if (v) {
            memcpy(v, val, vl);
            v[vl] = '\0';
        }
    }
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rc = set_param(p, nb, v, len, err, errlen);
    free(v);
    return rc;
}

int tw__mock_params_parse(tw__mock_params *p, const tw__mock_req *r, char *err, size_t errlen) {
    /* Headers first, so that query parameters override them. */
    const char *h = r->headers, *he = r->headers + r->headers_len;
    while (h && h < he) {
        const char *eol = memchr(h, '\n', (size_t)(he - h));
        const char *le = eol ? eol : he;
        const char *colon = memchr(h, ':', (size_t)(le - h));
        if (colon && colon - h > 7 && strncasecmp(h, "x-mock-", 7) == 0) {
            const char *a = colon + 1, *b = le;
            while (a < b && (*a == ' ' || *a == '\t')) a++;
            while (b > a && (b[-1] == '\r' || b[-1] == ' ' || b[-1] == '\t')) b--;
            if (apply(p, h + 7, (size_t)(colon - h - 7), a, (size_t)(b - a), 0, err, errlen))
                return -1;
        }
        h = eol ? eol + 1 : he;
    }
    if (r->query) {
        const char *q = r->query, *qe = r->query + r->query_len;
        while (q < qe) {
            const char *amp = memchr(q, '&', (size_t)(qe - q));
            const char *pe = amp ? amp : qe;
            const char *eq = memchr(q, '=', (size_t)(pe - q));
            if (pe > q) {
                const char *ne = eq ? eq : pe;
                const char *vs = eq ? eq + 1 : pe;
                /* Provider parameters that share the query (alt=sse, key=...) are not ours. */
                int ours = !((ne - q == 3 && !memcmp(q, "alt", 3)) ||
                             (ne - q == 3 && !memcmp(q, "key", 3)) ||
                             (ne - q == 11 && !memcmp(q, "api-version", 11)));
                if (ours && apply(p, q, (size_t)(ne - q), vs, (size_t)(pe - vs), 1, err, errlen))
                    return -1;
            }
            q = amp ? amp + 1 : qe;
        }
    }
    return 0;
}
