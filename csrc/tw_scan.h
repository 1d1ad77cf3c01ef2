/*
 * tw_scan.h - framing internals shared by the SSE parser and the NDJSON splitter: SIMD line-end
 * scanning, UTF-8 validation and repair (WHATWG "UTF-8 decode"), and the incremental line
 * splitter both parsers are built on. Internal: not part of the public surface (tw__ prefix).
 */
#ifndef TW_SCAN_H
#define TW_SCAN_H

#include "tw_common.h"

#include <stdint.h>

/*==============================================================================================
 * Line-end scanning
 *============================================================================================*/

/** Finds the first '\r' or '\n' in [p, end). @return its address, or end when there is none. */
typedef const char *(*tw__eol_fn)(const char *p, const char *end);

/** Portable byte-at-a-time loop (the reference for the others). */
const char *tw__eol_scalar(const char *p, const char *end);
/** glibc memchr for '\n', then memchr for '\r' before it, in bounded windows (stays linear). */
const char *tw__eol_memchr(const char *p, const char *end);
#if !defined(TW_DISABLE_SIMD) && (defined(__x86_64__) || defined(__i386__))
#define TW__HAVE_X86_SIMD 1
/** SSE2: 16 bytes per step. Every x86-64 CPU has SSE2. */
const char *tw__eol_sse2(const char *p, const char *end);
/** AVX2: 32 bytes per step. Call only when tw__cpu_has_avx2() is true. */
const char *tw__eol_avx2(const char *p, const char *end);
#endif
/** @return non-zero when the running CPU supports AVX2 (0 under TW_DISABLE_SIMD). */
int tw__cpu_has_avx2(void);

/** The variant chosen for this machine (see tw_scan.c for the measurement behind it). */
tw__eol_fn tw__eol_default(void);
/** Replaces the default for parsers created afterwards (benchmarks only; NULL restores the
 * measured choice). Thread: call before any parser exists. */
void tw__eol_set_default(tw__eol_fn fn);
/** Name of the default variant ("avx2", "sse2", "memchr"), for benchmarks and diagnostics. */
const char *tw__eol_default_name(void);

/*==============================================================================================
 * UTF-8
 *============================================================================================*/

/** @return the length of the longest valid UTF-8 prefix of [p, p+n) (n when all valid). */
size_t tw__utf8_valid_prefix(const char *p, size_t n);

/** @return non-zero when [p, p+n) is valid UTF-8 (ASCII fast path with SSE2/AVX2). */
static inline int tw__utf8_valid(const char *p, size_t n) { return tw__utf8_valid_prefix(p, n) == n; }

/**
 * Appends [p, p+n) to out decoded as the WHATWG Encoding standard's UTF-8 decoder does: every
 * maximal invalid subpart (including a truncated sequence at the end) becomes U+FFFD (EF BF BD).
 * Valid input is appended unchanged with one memcpy.
 * @return TW_OK or TW_ERR_NOMEM. Thread: any. Ownership: out is the caller's.
 */
tw_code tw__utf8_append(tw_buf *out, const char *p, size_t n);

/*==============================================================================================
 * Incremental line splitter (shared by SSE and NDJSON)
 *============================================================================================*/

/**
 * Hooks a parser plugs into the splitter. Codes are tw_code values: 0 goes on, anything else
 * stops the splitter, which keeps the unread rest of the input for the next feed.
 */
typedef struct tw__line_ops {
    /* A complete line, without its line end. When the whole line lies inside the current input
     * segment (zero copy possible), seg_end is where the readable memory after it ends: the end
     * of the caller's buffer, or the end of the allocation (padding included) for input kept
     * from an earlier feed. NULL when the line was assembled in the splitter's line buffer. */
    int (*line)(void *ctx, const char *p, size_t len, const char *seg_end);
    /* Longest line allowed now (the SSE parser subtracts the event's buffered data). */
    size_t (*room)(void *ctx);
    /* The line starting at stream offset line_pos is longer than room(): its bytes are dropped
     * up to its line end. Return 0 to drop silently, or a code to stop with. */
    int (*overflow)(void *ctx, uint64_t line_pos);
    /* Called after every input segment: anything pointing into it must be copied now. */
    int (*segment_end)(void *ctx);
} tw__line_ops;

typedef struct tw__lines {
    tw_buf line;         /* the current line's bytes received in earlier segments */
    tw_buf kept;         /* input kept after a stop, read first by the next feed ... */
    size_t kept_off;     /* ... from this offset: a resume never copies what is left again */
    uint64_t scanned;    /* bytes examined by the line-end scanner */
    uint64_t offset;     /* stream offset of the next byte to read */
    uint64_t line_start; /* stream offset where the current line began */
    int bom;             /* BOM bytes matched at the stream start; 3 = finished with the BOM */
    int skip_lf;         /* the previous segment ended with '\r': drop one leading '\n' */
    int dropping;        /* dropping the rest of an oversized line */
    int in_line;         /* the current line has at least one byte (even if dropped) */
    tw__eol_fn eol;
} tw__lines;

void tw__lines_init(tw__lines *L);
void tw__lines_free(tw__lines *L);
/** Forgets all state (BOM handling restarts; memory is kept). */
void tw__lines_reset(tw__lines *L);
/** Reads the kept input, then [buf, buf+len). @return the first non-zero hook code, or 0. */
int tw__lines_feed(tw__lines *L, const char *buf, size_t len, const tw__line_ops *ops, void *ctx);
/**
 * End of input: hands a final unterminated line to ops->line (for NDJSON) when deliver is
 * non-zero. Call after tw__lines_feed(L, NULL, 0, ...) returned 0.
 */
int tw__lines_finish(tw__lines *L, int deliver, const tw__line_ops *ops, void *ctx);

#endif /* TW_SCAN_H */
