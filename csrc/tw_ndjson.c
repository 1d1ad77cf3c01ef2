/*
 * tw_ndjson.c - the incremental NDJSON line splitter (Ollama, generic NDJSON).
 *
 * The shared splitter (tw_scan.c) does the work: LF, CRLF and lone CR line ends (a CR at the
 * end of one feed and an LF at the start of the next are one line end), a UTF-8 BOM at the
 * stream start dropped once, the line-size limit with a resync at the next line end, and the
 * unread rest kept after a stop. Here: blank lines are skipped, invalid UTF-8 is repaired, and
 * each line is handed out zero-copy when it lies wholly inside the caller's buffer.
 */
#include "tw_ndjson.h"
#include "tw_internal.h"

#include "tw_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHRINK_ABOVE ((size_t)1 << 20)

struct tw_ndjson {
    tw__lines lines;
    size_t max;     /* immutable after new */
    tw_buf scratch; /* a repaired line */
    /* Set for the duration of one feed/finish call. */
    int in_feed;
    tw_ndjson_line_fn on_line;
    void *userdata;
    tw_error *err;
};

tw_ndjson *tw_ndjson_new(size_t max_line) {
    tw_ndjson *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->max = max_line ? max_line : TW_DEFAULT_MAX_EVENT_SIZE;
    tw__lines_init(&s->lines);
    return s;
}

void tw_ndjson_free(tw_ndjson *s) {
    if (!s) return;
    tw__lines_free(&s->lines);
    tw_buf_free(&s->scratch);
    free(s);
}

uint64_t tw_ndjson_bytes_scanned(const tw_ndjson *s) { return s ? s->lines.scanned : 0; }

static size_t hook_room(void *ctx) { return ((tw_ndjson *)ctx)->max; }

static int hook_overflow(void *ctx, uint64_t line_pos) {
    tw_ndjson *s = ctx;
    char msg[128];
    snprintf(msg, sizeof msg,
             "NDJSON line larger than max_line (%zu bytes); raise the max_line option", s->max);
    tw__err_at(s->err, TW_ERR_SSE_PROTOCOL, line_pos, msg);
    return TW_ERR_SSE_PROTOCOL;
}

static int hook_segment_end(void *ctx) {
    (void)ctx;
    return 0;
}

static int hook_line(void *ctx, const char *l, size_t len, const char *seg_end) {
    tw_ndjson *s = ctx;
    tw_str line;
    size_t cap, i;
    int stop;
    for (i = 0; i < len && (l[i] == ' ' || l[i] == '\t'); i++) {
    }
    if (i == len) return 0; /* blank line */
    if (tw__utf8_valid(l, len)) {
        line.ptr = l;
        line.len = len;
        /* A line assembled in the splitter's own buffer has its padding too. */
        cap = seg_end ? (size_t)(seg_end - l) : s->lines.line.cap;
    } else {
        tw_code rc;
        s->scratch.len = 0;
        if ((rc = tw__utf8_append(&s->scratch, l, len)) != TW_OK) return (int)rc;
        if (s->scratch.len > s->max) return hook_overflow(s, s->lines.line_start);
        line.ptr = s->scratch.data;
        line.len = s->scratch.len;
        cap = s->scratch.cap;
    }
    stop = s->on_line(s->userdata, line, cap);
    if (s->scratch.cap > SHRINK_ABOVE) tw_buf_free(&s->scratch);
    if (stop) {
        tw__err_at(s->err, TW_ERR_CANCELLED, s->lines.offset, "stopped by the line callback");
        return TW_ERR_CANCELLED;
    }
    return 0;
}

static const tw__line_ops ndjson_ops = {hook_line, hook_room, hook_overflow, hook_segment_end};

static tw_code enter(tw_ndjson *s, const char *buf, size_t len, tw_ndjson_line_fn on_line,
                     void *userdata, tw_error *err) {
    if (err) tw__err_at(err, TW_OK, 0, "");
    if (!s || (!buf && len) || !on_line) {
        tw__err_at(err, TW_ERR_INVALID_ARG, 0, "tw_ndjson: NULL splitter, buffer or callback");
        return TW_ERR_INVALID_ARG;
    }
    if (s->in_feed) {
        tw__err_at(err, TW_ERR_BUSY, 0, "tw_ndjson called from inside its own callback");
        return TW_ERR_BUSY;
    }
    s->in_feed = 1;
    s->on_line = on_line;
    s->userdata = userdata;
    s->err = err;
    return TW_OK;
}

static tw_code leave(tw_ndjson *s, int rc, tw_error *err) {
    s->in_feed = 0;
    s->on_line = NULL;
    s->userdata = NULL;
    s->err = NULL;
    if (rc == TW_ERR_NOMEM) tw__err_at(err, TW_ERR_NOMEM, s->lines.offset, "out of memory");
    return (tw_code)rc;
}

tw_code tw_ndjson_feed(tw_ndjson *s, const char *buf, size_t len, tw_ndjson_line_fn on_line,
                       void *userdata, tw_error *err) {
    tw_code rc = enter(s, buf, len, on_line, userdata, err);
    if (rc) return rc;
    return leave(s, tw__lines_feed(&s->lines, buf, len, &ndjson_ops, s), err);
}

tw_code tw_ndjson_finish(tw_ndjson *s, tw_ndjson_line_fn on_line, void *userdata, tw_error *err) {
    int r;
    tw_code rc = enter(s, NULL, 0, on_line, userdata, err);
    if (rc) return rc;
    r = tw__lines_feed(&s->lines, NULL, 0, &ndjson_ops, s);
    if (!r) r = tw__lines_finish(&s->lines, 1, &ndjson_ops, s);
    return leave(s, r, err);
}
