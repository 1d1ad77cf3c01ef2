/*
 * tw_scan.c - line-end scanning (scalar, memchr, SSE2, AVX2), UTF-8 validation and repair, and
 * the incremental line splitter shared by the SSE parser and the NDJSON splitter.
 *
 * Linear time is the point of the splitter: every input byte is examined by the line-end
 * scanner exactly once, and bytes of an unfinished line are copied once into the carry buffer
 * and never scanned again. Several SDKs rescanned their whole buffer on every read and went
 * quadratic on large events; the bytes_scanned counters let the tests prove we do not.
 */
#include "tw_scan.h"

#include <stdatomic.h>
#include <string.h>

#ifdef TW__HAVE_X86_SIMD
#include <immintrin.h>
#endif

/* ---- line-end scanning ------------------------------------------------------------------- */

const char *tw__eol_scalar(const char *p, const char *end) {
    while (p < end && *p != '\n' && *p != '\r') p++;
    return p;
}

/* glibc has no two-byte memchr. Searching '\n' over the whole rest and then '\r' before it
 * would scan to the end of the input for every line of a CR-only stream (quadratic), so both
 * searches run inside a bounded window: at most 2 * MEMCHR_WINDOW bytes are read per call
 * beyond the line end, which keeps the whole scan linear. */
#define MEMCHR_WINDOW 2048

const char *tw__eol_memchr(const char *p, const char *end) {
    while (p < end) {
        size_t w = (size_t)(end - p) < MEMCHR_WINDOW ? (size_t)(end - p) : MEMCHR_WINDOW;
        const char *lf = memchr(p, '\n', w);
        const char *lim = lf ? lf : p + w;
        const char *cr = memchr(p, '\r', (size_t)(lim - p));
        if (cr) return cr;
        if (lf) return lf;
        p += w;
    }
    return end;
}

#ifdef TW__HAVE_X86_SIMD
/* Short tails are read with one final load that ends exactly at `end` and overlaps bytes
 * already checked (they hold no line end, so the first hit is still the right one): no
 * byte-at-a-time loop for the last bytes of a line, and no read outside [start, end). */
static inline unsigned eol_mask16(const char *p) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\r')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))));
}

const char *tw__eol_sse2(const char *p, const char *end) {
    const char *start = p;
    unsigned m;
    while (end - p >= 32) {
        m = eol_mask16(p) | (eol_mask16(p + 16) << 16);
        if (m) return p + __builtin_ctz(m);
        p += 32;
    }
    if (end - p >= 16) {
        if ((m = eol_mask16(p)) != 0) return p + __builtin_ctz(m);
        p += 16;
    }
    if (p == end) return end;
    if (end - start >= 16) {
        const char *q = end - 16;
        m = eol_mask16(q);
        return m ? q + __builtin_ctz(m) : end;
    }
    return tw__eol_scalar(p, end);
}

__attribute__((target("avx2"))) static inline uint32_t eol_mask32(const char *p) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
    return (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(
        _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\r')), _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n'))));
}

__attribute__((target("avx2"))) static inline __m256i eol_cmp32(const char *p) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)p);
    return _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\r')),
                           _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n')));
}

__attribute__((target("avx2"))) const char *tw__eol_avx2(const char *p, const char *end) {
    const char *start = p;
    uint64_t m;
    /* Long lines (image events): 128 bytes per step, one test for all four vectors. */
    while (end - p >= 128) {
        __m256i a = eol_cmp32(p), b = eol_cmp32(p + 32), c = eol_cmp32(p + 64),
                d = eol_cmp32(p + 96);
        __m256i any = _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d));
        if (!_mm256_testz_si256(any, any)) {
            m = (uint64_t)(uint32_t)_mm256_movemask_epi8(a) |
                ((uint64_t)(uint32_t)_mm256_movemask_epi8(b) << 32);
            if (m) return p + __builtin_ctzll(m);
            m = (uint64_t)(uint32_t)_mm256_movemask_epi8(c) |
                ((uint64_t)(uint32_t)_mm256_movemask_epi8(d) << 32);
            return p + 64 + __builtin_ctzll(m);
        }
        p += 128;
    }
    while (end - p >= 64) {
        m = (uint64_t)eol_mask32(p) | ((uint64_t)eol_mask32(p + 32) << 32);
        if (m) return p + __builtin_ctzll(m);
        p += 64;
    }
    if (end - p >= 32) {
        if ((m = eol_mask32(p)) != 0) return p + __builtin_ctzll(m);
        p += 32;
    }
    if (p == end) return end;
    if (end - start >= 32) {
        const char *q = end - 32;
        m = eol_mask32(q);
        return m ? q + __builtin_ctzll(m) : end;
    }
    return tw__eol_sse2(p, end);
}
#endif

int tw__cpu_has_avx2(void) {
#ifdef TW__HAVE_X86_SIMD
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

/* Chosen once; a relaxed atomic makes concurrent first calls from several threads well
 * defined (they all compute the same value). */
static _Atomic(tw__eol_fn) eol_choice;

/* Measured with benchmarks/c/bench_scan.c (thread CPU time, 2-core x86-64 VM): on a 200k-chunk
 * OpenAI stream the SSE parser runs at ~6.3-6.8 GB/s with AVX2, ~5.7-6.0 with SSE2 and ~4.4-4.9
 * with glibc memchr (two memchr calls per line cost more than one vector pass on ~250-byte
 * lines); on 1 MiB lines AVX2 (128 bytes per step) and memchr are level (~9.5 GB/s through the
 * parser). So: AVX2 when the CPU has it, else SSE2; memchr only without SIMD. */
static tw__eol_fn choose_eol(void) {
#ifdef TW__HAVE_X86_SIMD
    if (tw__cpu_has_avx2()) return tw__eol_avx2;
    return tw__eol_sse2;
#else
    return tw__eol_memchr;
#endif
}

tw__eol_fn tw__eol_default(void) {
    tw__eol_fn f = atomic_load_explicit(&eol_choice, memory_order_relaxed);
    if (!f) {
        f = choose_eol();
        atomic_store_explicit(&eol_choice, f, memory_order_relaxed);
    }
    return f;
}

void tw__eol_set_default(tw__eol_fn fn) {
    atomic_store_explicit(&eol_choice, fn ? fn : choose_eol(), memory_order_relaxed);
}

const char *tw__eol_default_name(void) {
    tw__eol_fn f = tw__eol_default();
#ifdef TW__HAVE_X86_SIMD
    if (f == tw__eol_avx2) return "avx2";
    if (f == tw__eol_sse2) return "sse2";
#endif
    if (f == tw__eol_memchr) return "memchr";
    return "scalar";
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */

/* Returns the first byte >= 0x80 in [p, end), or end. */
static const unsigned char *skip_ascii(const unsigned char *p, const unsigned char *end) {
#ifdef TW__HAVE_X86_SIMD
    const unsigned char *start = p;
    unsigned m;
    while (end - p >= 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d)))) break;
        p += 64;
    }
    while (end - p >= 16) {
        m = (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)p));
        if (m) return p + __builtin_ctz(m);
        p += 16;
    }
    if (p == end) return end;
    if (end - start >= 16) {
        /* Overlapping final load; the bytes before p are ASCII, so the first hit is >= p. */
        const unsigned char *q = end - 16;
        m = (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)q));
        return m ? q + __builtin_ctz(m) : end;
    }
#else
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (w & 0x8080808080808080ull) break;
        p += 8;
    }
#endif
    while (p < end && *p < 0x80) p++;
    return p;
}

/* Decodes the lead byte c as the WHATWG UTF-8 decoder does: the number of continuation bytes
 * it needs and the allowed range of the first one (which excludes overlongs, surrogates and
 * code points above U+10FFFF). @return -1 when c cannot start a sequence. */
static int lead_info(unsigned c, unsigned *lo, unsigned *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 1;
    if (c == 0xE0) {
        *lo = 0xA0;
        return 2;
    }
    if (c == 0xED) {
        *hi = 0x9F;
        return 2;
    }
    if (c >= 0xE1 && c <= 0xEF) return 2;
    if (c == 0xF0) {
        *lo = 0x90;
        return 3;
    }
    if (c == 0xF4) {
        *hi = 0x8F;
        return 3;
    }
    if (c >= 0xF1 && c <= 0xF3) return 3;
    return -1;
}

/* Length of the non-ASCII sequence at p when valid, else 0 (and *bad = the maximal invalid
 * subpart's length, which the decoder turns into one U+FFFD). */
static size_t check_seq(const unsigned char *p, const unsigned char *end, size_t *bad) {
    unsigned lo, hi;
    int need = lead_info(p[0], &lo, &hi);
    size_t avail = (size_t)(end - p), i;
    if (need < 0) {
        *bad = 1;
        return 0;
    }
    if (avail < 2 || p[1] < lo || p[1] > hi) {
        *bad = 1;
        return 0;
    }
    for (i = 2; i <= (size_t)need; i++) {
        if (i >= avail || (p[i] & 0xC0) != 0x80) {
            *bad = i;
            return 0;
        }
    }
    return (size_t)need + 1;
}

size_t tw__utf8_valid_prefix(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    for (;;) {
        size_t k, bad;
        p = skip_ascii(p, end);
        if (p == end) return n;
        k = check_seq(p, end, &bad);
        if (!k) return (size_t)((const char *)p - s);
        p += k;
    }
}

tw_code tw__utf8_append(tw_buf *out, const char *p, size_t n) {
    size_t k = tw__utf8_valid_prefix(p, n);
    tw_code rc;
    if (k == n) return tw_buf_append(out, p, n);
    /* Each invalid byte becomes at most 3 bytes. */
    if (n > (SIZE_MAX - TW_JSON_PADDING) / 3) return TW_ERR_NOMEM;
    rc = tw_buf_reserve(out, n * 3);
    if (rc) return rc;
    for (;;) {
        size_t bad = 1;
        memcpy(out->data + out->len, p, k);
        out->len += k;
        p += k;
        n -= k;
        if (!n) break;
        check_seq((const unsigned char *)p, (const unsigned char *)p + n, &bad);
        memcpy(out->data + out->len, "\xEF\xBF\xBD", 3);
        out->len += 3;
        p += bad;
        n -= bad;
        k = tw__utf8_valid_prefix(p, n);
    }
    return TW_OK;
}

/* ---- the line splitter -------------------------------------------------------------------- */

static const unsigned char bom_bytes[3] = {0xEF, 0xBB, 0xBF};

void tw__lines_init(tw__lines *L) {
    memset(L, 0, sizeof *L);
    tw_buf_init(&L->line);
    tw_buf_init(&L->kept);
    L->eol = tw__eol_default();
}

void tw__lines_free(tw__lines *L) {
    tw_buf_free(&L->line);
    tw_buf_free(&L->kept);
}

void tw__lines_reset(tw__lines *L) {
    L->line.len = L->kept.len = L->kept_off = 0;
    L->offset = L->line_start = 0;
    L->bom = 0;
    L->skip_lf = L->dropping = 0;
}

/* Adds k bytes of an unfinished line to the carry buffer, unless the line is too long. */
static int carry(tw__lines *L, const char *p, size_t k, const tw__line_ops *ops, void *ctx) {
    size_t room;
    int rc;
    if (L->dropping || k == 0) return 0;
    room = ops->room(ctx);
    if (L->line.len > room || k > room - L->line.len) {
        L->line.len = 0;
        L->dropping = 1;
        return ops->overflow(ctx, L->line_start);
    }
    rc = (int)tw_buf_append(&L->line, p, k);
    return rc;
}

/* The bytes of a partial BOM seen at the stream start turn out to be text: they begin the
 * first line. */
static int bom_to_line(tw__lines *L, const tw__line_ops *ops, void *ctx) {
    int n = L->bom;
    L->bom = 3;
    return n ? carry(L, (const char *)bom_bytes, (size_t)n, ops, ctx) : 0;
}

/* Reads one input segment [s, s+n); bytes up to readable_end (>= s+n) may be read by users
 * of zero-copy lines (the kept-input buffer has padding after its bytes). */
static int run(tw__lines *L, const char *s, size_t n, const char *readable_end,
               const tw__line_ops *ops, void *ctx, size_t *used) {
    const char *p = s, *end = s + n;
    int rc = 0;
    while (L->bom < 3 && p < end) {
        if ((unsigned char)*p == bom_bytes[L->bom]) {
            L->bom++;
            p++;
            L->offset++;
            if (L->bom == 3) L->line_start = L->offset;
        } else if ((rc = bom_to_line(L, ops, ctx)) != 0) {
            *used = (size_t)(p - s);
            return rc;
        }
    }
    while (p < end) {
        const char *e, *next;
        size_t room;
        if (L->skip_lf) {
            L->skip_lf = 0;
            if (*p == '\n') {
                p++;
                L->offset++;
                L->line_start = L->offset;
                continue;
            }
        }
        e = L->eol(p, end);
        L->scanned += (uint64_t)(e - p) + (e < end);
        if (e == end) {
            rc = carry(L, p, (size_t)(end - p), ops, ctx);
            L->offset += (uint64_t)(end - p);
            p = end;
            break;
        }
        next = e + 1;
        if (*e == '\r') {
            if (next < end) {
                if (*next == '\n') next++;
            } else {
                L->skip_lf = 1;
            }
        }
        L->offset += (uint64_t)(next - p); /* hooks see the offset just past the line end */
        room = ops->room(ctx);
        if (L->dropping) {
            L->dropping = 0;
        } else if (L->line.len) {
            size_t k = (size_t)(e - p);
            if (L->line.len > room || k > room - L->line.len) {
                rc = ops->overflow(ctx, L->line_start);
            } else if ((rc = (int)tw_buf_append(&L->line, p, k)) == 0) {
                /* The hook may swap L->line for another (empty) buffer of its own. */
                rc = ops->line(ctx, L->line.data, L->line.len, NULL);
            }
            L->line.len = 0;
            if (L->line.cap > ((size_t)1 << 20)) tw_buf_free(&L->line);
        } else if ((size_t)(e - p) > room) {
            rc = ops->overflow(ctx, L->line_start);
        } else {
            rc = ops->line(ctx, p, (size_t)(e - p), readable_end);
        }
        L->line_start = L->offset;
        p = next;
        if (rc) break;
    }
    *used = (size_t)(p - s);
    return rc;
}

/* Keeps [p, p+n) after the unread kept input. The consumed prefix is dropped once it is at least
 * as long as what is left, so keeping stays amortized linear however often a callback stops. */
static int keep(tw__lines *L, const char *p, size_t n) {
    size_t left = L->kept.len - L->kept_off;
    if (!n) return 0;
    if (L->kept_off && L->kept_off >= left) {
        memmove(L->kept.data, L->kept.data + L->kept_off, left);
        L->kept.len = left;
        L->kept_off = 0;
    }
    return (int)tw_buf_append(&L->kept, p, n);
}

int tw__lines_feed(tw__lines *L, const char *buf, size_t len, const tw__line_ops *ops, void *ctx) {
    size_t used = 0;
    int rc, rc2;
    if (L->kept_off < L->kept.len) {
        const char *k = L->kept.data + L->kept_off;
        rc = run(L, k, L->kept.len - L->kept_off, L->kept.data + L->kept.cap, ops, ctx, &used);
        rc2 = ops->segment_end(ctx);
        L->kept_off += used;
        if (rc || rc2) {
            int a = keep(L, buf, len);
            return a ? a : rc ? rc : rc2;
        }
    }
    L->kept.len = L->kept_off = 0;
    if (L->kept.cap > ((size_t)1 << 20)) tw_buf_free(&L->kept);
    if (!len) return 0;
    rc = run(L, buf, len, buf + len, ops, ctx, &used);
    rc2 = ops->segment_end(ctx);
    if (rc && used < len) {
        int a = keep(L, buf + used, len - used);
        if (a) return a;
    }
    return rc ? rc : rc2;
}

int tw__lines_finish(tw__lines *L, int deliver, const tw__line_ops *ops, void *ctx) {
    int rc = 0;
    if (L->bom > 0 && L->bom < 3) rc = bom_to_line(L, ops, ctx);
    if (!rc && deliver && !L->dropping && L->line.len)
        rc = ops->line(ctx, L->line.data, L->line.len, NULL);
    tw__lines_reset(L);
    return rc;
}
