/*
 * json_escape.c - JSON string escaping, UTF-8 repair and JSON compaction for the encoders.
 *
 * The hot loop looks at 16 bytes at a time (SSE2): a run with no byte that is a control,
 * '"', '\\' or non-ASCII is stored as is and skipped; the first special byte is handled by
 * scalar code. Non-ASCII bytes are validated as UTF-8 (Unicode table 3-7); every maximal
 * ill-formed subpart becomes one U+FFFD, as the WHATWG decoder does, so invalid UTF-8 never
 * reaches the output. Output room is reserved per block of input (6 bytes out per byte in at
 * worst) so the loops write through a raw pointer without per-byte bounds checks.
 */
#include "encoders/encoder.h"

#include <stdlib.h>

#if !defined(TW_DISABLE_SIMD) && (defined(__SSE2__) || defined(_M_X64))
#include <emmintrin.h>
#define TW_ESC_SSE2 1
#endif

/* Input bytes handled per output reservation. */
#define BLOCK 16384
/* Worst-case output per input byte: a control character becomes \u00XX. */
#define WORST 6
/* Slack for the unconditional 16-byte SIMD store and a sequence crossing a block end. */
#define SLACK 64

static const char hex_digits[] = "0123456789abcdef";

/* 0: copy as is; 1: ASCII that needs an escape; 2: non-ASCII (a UTF-8 sequence starts). */
static const uint8_t byte_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

/*
 * Length of the well-formed UTF-8 sequence at p (2..4), or 0 when ill-formed, in which case
 * *skip is the length of the maximal subpart to replace by one U+FFFD (at least 1).
 * p[0] >= 0x80; avail >= 1 bytes are readable.
 */
static size_t utf8_seq(const uint8_t *p, size_t avail, size_t *skip) {
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    size_t need, k;
    *skip = 1;
    if (c < 0xC2 || c > 0xF4) return 0;
    if (c <= 0xDF) {
        need = 2;
    } else if (c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    }
    if (avail < 2 || p[1] < lo || p[1] > hi) return 0;
    for (k = 2; k < need; k++) {
        if (avail <= k || (p[k] & 0xC0) != 0x80) {
            *skip = k;
            return 0;
        }
    }
    return need;
}

/*
 * Copies a run of well-formed multi-byte UTF-8 sequences starting at s[i] (s[i] >= 0x80) with
 * one memcpy; stops before ASCII, before U+2028/U+2029 and before an ill-formed sequence,
 * which escape_special then handles. Starts no sequence at or after end (the output room is
 * sized for the input up to end), reads no byte at or after n. Returns the new i; *dp is
 * advanced.
 */
static size_t utf8_run(const uint8_t *s, size_t i, size_t end, size_t n, char **dp) {
    size_t start = i;
    while (i < end) {
        uint8_t c = s[i];
        if (c < 0xC2) break; /* ASCII, or a stray continuation / overlong lead */
        if (c <= 0xDF) {
            if (i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) break;
            i += 2;
        } else if (c <= 0xEF) {
            uint8_t c1;
            if (i + 2 >= n) break;
            c1 = s[i + 1];
            if ((c1 & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80) break;
            if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F)) break;
            if (c == 0xE2 && c1 == 0x80 && (s[i + 2] | 1) == 0xA9) break;
            i += 3;
        } else {
            break; /* 4-byte sequences are rare: the careful path takes them */
        }
    }
    memcpy(*dp, s + start, i - start);
    *dp += i - start;
    return i;
}

/*
 * Writes the escaped form of the special byte/sequence at s[i] to *dp. Returns the number of
 * input bytes consumed; *dp is advanced.
 */
static size_t escape_special(const uint8_t *s, size_t i, size_t end, size_t n, char **dp) {
    char *d = *dp;
    uint8_t c = s[i];
    size_t used;
    if (c < 0x80) {
        d[0] = '\\';
        switch (c) {
        case '"': d[1] = '"'; d += 2; break;
        case '\\': d[1] = '\\'; d += 2; break;
        case '\n': d[1] = 'n'; d += 2; break;
        case '\r': d[1] = 'r'; d += 2; break;
        case '\t': d[1] = 't'; d += 2; break;
        case '\b': d[1] = 'b'; d += 2; break;
        case '\f': d[1] = 'f'; d += 2; break;
        default:
            memcpy(d + 1, "u00", 3);
            d[4] = hex_digits[c >> 4];
            d[5] = hex_digits[c & 15];
            d += 6;
        }
        *dp = d;
        return 1;
    }
    {
        size_t j = utf8_run(s, i, end, n, &d);
        if (j > i) {
            *dp = d;
            return j - i;
        }
    }
    {
        size_t skip, len = utf8_seq(s + i, n - i, &skip);
        if (len == 0) {
            memcpy(d, "\xEF\xBF\xBD", 3);
            d += 3;
            used = skip;
        } else if (len == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] | 1) == 0xA9) {
            /* U+2028 / U+2029 are line terminators to JavaScript before ES2019 and to some
             * line splitters: always escaped. */
            memcpy(d, s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
            d += 6;
            used = 3;
        } else {
            memcpy(d, s + i, len);
            d += len;
            used = len;
        }
    }
    *dp = d;
    return used;
}

/*
 * Escapes s[i..end) to d, which has room for (end - i) * WORST + SLACK bytes. A sequence may
 * run past end (up to 3 bytes, never past n). Returns the new d; *ip is the new i.
 */
static char *escape_span(const uint8_t *s, size_t *ip, size_t end, size_t n, char *d) {
    size_t i = *ip;
#ifdef TW_ESC_SSE2
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    while (i + 16 <= end) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* Signed compare: true for bytes < 0x20 and for bytes >= 0x80 alike. */
        __m128i m = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        _mm_storeu_si128((__m128i *)(void *)d, v);
        if (mask == 0) {
            i += 16;
            d += 16;
            continue;
        }
        {
            unsigned k = (unsigned)__builtin_ctz(mask);
            i += k;
            d += k;
        }
        i += escape_special(s, i, end, n, &d);
    }
#endif
    while (i < end) {
        size_t run = i;
        while (run < end && byte_class[s[run]] == 0) run++;
        if (run > i) {
            memcpy(d, s + i, run - i);
            d += run - i;
            i = run;
        }
        if (i < end) i += escape_special(s, i, end, n, &d);
    }
    *ip = i;
    return d;
}

/* Escapes s[0..n) into out (no quotes). */
static tw_code escape_body(tw_buf *out, const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t block_end = n - i > BLOCK ? i + BLOCK : n;
        TW__TRY(tw_buf_reserve(out, (block_end - i) * WORST + SLACK));
        out->len = (size_t)(escape_span(s, &i, block_end, n, out->data + out->len) - out->data);
    }
    return TW_OK;
}

tw_code tw_json_escape(tw_buf *out, const char *str, size_t len) {
    const uint8_t *s = (const uint8_t *)str;
    size_t start;
    tw_code rc;
    if (!out || (!s && len)) return TW_ERR_INVALID_ARG;
    if (len <= BLOCK) {
        /* The common case (a token, an id): one reservation, no bounds checks after it. */
        size_t i = 0;
        char *d;
        if ((rc = tw_buf_reserve(out, len * WORST + SLACK + 2)) != TW_OK) return rc;
        d = out->data + out->len;
        *d++ = '"';
        d = escape_span(s, &i, len, len, d);
        *d++ = '"';
        out->len = (size_t)(d - out->data);
        return TW_OK;
    }
    start = out->len;
    if ((rc = tw_buf_reserve(out, 2)) != TW_OK) return rc;
    out->data[out->len++] = '"';
    if ((rc = escape_body(out, s, len)) != TW_OK || (rc = tw_buf_append(out, "\"", 1)) != TW_OK) {
        out->len = start;
        return rc;
    }
    return TW_OK;
}

tw_code tw__put_jstr(tw_buf *out, tw_str s) {
    return tw_json_escape(out, s.ptr, s.ptr ? s.len : 0);
}

tw_code tw__put_jcstr(tw_buf *out, const char *s) {
    return tw_json_escape(out, s, s ? strlen(s) : 0);
}

/* ---- JSON validation + compaction ----------------------------------------------------------- */

#define MAX_DEPTH 512

typedef struct jc {
    const uint8_t *s;
    size_t n, i;
    tw_buf *out;
    const char *why;
    tw_code rc; /* TW_ERR_NOMEM overrides TW_ERR_JSON */
} jc;

static int jc_fail(jc *c, const char *why) {
    if (!c->why) c->why = why;
    return -1;
}

static int jc_put(jc *c, const void *p, size_t n) {
    if (tw_buf_append(c->out, p, n) != TW_OK) {
        c->rc = TW_ERR_NOMEM;
        return jc_fail(c, "out of memory");
    }
    return 0;
}

static void jc_ws(jc *c) {
    while (c->i < c->n) {
        uint8_t ch = c->s[c->i];
        if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') break;
        c->i++;
    }
}

static int is_hex(uint8_t ch) {
    return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f');
}

static int jc_string(jc *c) {
    size_t begin;
    c->i++; /* opening quote */
    if (jc_put(c, "\"", 1)) return -1;
    begin = c->i;
    while (c->i < c->n) {
        uint8_t ch = c->s[c->i];
        if (ch == '"') {
            if (c->i > begin && escape_body(c->out, c->s + begin, c->i - begin) != TW_OK) {
                c->rc = TW_ERR_NOMEM;
                return jc_fail(c, "out of memory");
            }
            c->i++;
            return jc_put(c, "\"", 1);
        }
        if (ch < 0x20) return jc_fail(c, "control character in string");
        if (ch == '\\') {
            /* Keep the escape as written: copy what came before, then the escape itself. */
            uint8_t e;
            if (c->i > begin && escape_body(c->out, c->s + begin, c->i - begin) != TW_OK) {
                c->rc = TW_ERR_NOMEM;
                return jc_fail(c, "out of memory");
            }
            if (c->i + 1 >= c->n) return jc_fail(c, "unterminated string");
            e = c->s[c->i + 1];
            if (e == 'u') {
                if (c->i + 6 > c->n || !is_hex(c->s[c->i + 2]) || !is_hex(c->s[c->i + 3]) ||
                    !is_hex(c->s[c->i + 4]) || !is_hex(c->s[c->i + 5]))
                    return jc_fail(c, "bad \\u escape");
                if (jc_put(c, c->s + c->i, 6)) return -1;
                c->i += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                if (jc_put(c, c->s + c->i, 2)) return -1;
                c->i += 2;
            } else {
                return jc_fail(c, "bad escape in string");
            }
            begin = c->i;
            continue;
        }
        c->i++;
    }
    return jc_fail(c, "unterminated string");
}

static int jc_number(jc *c) {
    size_t b = c->i;
    const uint8_t *s = c->s;
    if (c->i < c->n && s[c->i] == '-') c->i++;
    if (c->i >= c->n) return jc_fail(c, "bad number");
    if (s[c->i] == '0') {
        c->i++;
    } else if (s[c->i] >= '1' && s[c->i] <= '9') {
        while (c->i < c->n && s[c->i] >= '0' && s[c->i] <= '9') c->i++;
    } else {
        return jc_fail(c, "bad number");
    }
    if (c->i < c->n && s[c->i] == '.') {
        c->i++;
        if (c->i >= c->n || s[c->i] < '0' || s[c->i] > '9') return jc_fail(c, "bad number");
        while (c->i < c->n && s[c->i] >= '0' && s[c->i] <= '9') c->i++;
    }
    if (c->i < c->n && (s[c->i] | 0x20) == 'e') {
        c->i++;
        if (c->i < c->n && (s[c->i] == '+' || s[c->i] == '-')) c->i++;
        if (c->i >= c->n || s[c->i] < '0' || s[c->i] > '9') return jc_fail(c, "bad number");
        while (c->i < c->n && s[c->i] >= '0' && s[c->i] <= '9') c->i++;
    }
    return jc_put(c, s + b, c->i - b);
}

static int jc_literal(jc *c, const char *lit, size_t n) {
    if (c->n - c->i < n || memcmp(c->s + c->i, lit, n) != 0) return jc_fail(c, "unexpected token");
    c->i += n;
    return jc_put(c, lit, n);
}

static int jc_value(jc *c, int depth) {
    uint8_t ch;
    jc_ws(c);
    if (c->i >= c->n) return jc_fail(c, "unexpected end of JSON");
    ch = c->s[c->i];
    switch (ch) {
    case '"': return jc_string(c);
    case 't': return jc_literal(c, "true", 4);
    case 'f': return jc_literal(c, "false", 5);
    case 'n': return jc_literal(c, "null", 4);
    case '{':
    case '[': {
        uint8_t close = ch == '{' ? '}' : ']';
        int first = 1;
        if (depth >= MAX_DEPTH) return jc_fail(c, "JSON nested too deeply");
        c->i++;
        if (jc_put(c, &ch, 1)) return -1;
        for (;;) {
            jc_ws(c);
            if (c->i >= c->n) return jc_fail(c, "unexpected end of JSON");
            if (c->s[c->i] == close && first) {
                c->i++;
                return jc_put(c, &close, 1);
            }
            if (!first) {
                if (c->s[c->i] == close) {
                    c->i++;
                    return jc_put(c, &close, 1);
                }
                if (c->s[c->i] != ',') return jc_fail(c, "expected ',' or closing bracket");
                c->i++;
                if (jc_put(c, ",", 1)) return -1;
                jc_ws(c);
            }
            first = 0;
            if (close == '}') {
                if (c->i >= c->n || c->s[c->i] != '"') return jc_fail(c, "expected object key");
                if (jc_string(c)) return -1;
                jc_ws(c);
                if (c->i >= c->n || c->s[c->i] != ':') return jc_fail(c, "expected ':'");
                c->i++;
                if (jc_put(c, ":", 1)) return -1;
            }
            if (jc_value(c, depth + 1)) return -1;
        }
    }
    default:
        if (ch == '-' || (ch >= '0' && ch <= '9')) return jc_number(c);
        return jc_fail(c, "unexpected character");
    }
}

tw_code tw__json_compact(tw_buf *out, const char *s, size_t len, const char **why) {
    jc c;
    size_t start = out->len;
    c.s = (const uint8_t *)s;
    c.n = s ? len : 0;
    c.i = 0;
    c.out = out;
    c.why = NULL;
    c.rc = TW_ERR_JSON;
    if (jc_value(&c, 0) == 0) {
        jc_ws(&c);
        if (c.i == c.n) return TW_OK;
        jc_fail(&c, "trailing characters after JSON");
    }
    out->len = start;
    if (why) *why = c.why;
    return c.rc;
}
