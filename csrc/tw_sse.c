/*
 * tw_sse.c - the incremental SSE parser: WHATWG HTML "parse an event stream" and "interpret an
 * event stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html).
 *
 * Line splitting, the BOM, CR/LF pairs split across feeds, the size limit and the "keep the
 * unread rest after a stop" rule live in the shared splitter (tw_scan.c); this file applies the
 * field rules to complete lines.
 *
 * UTF-8: the spec decodes the whole stream before splitting it into lines. Every delimiter is
 * ASCII, and the WHATWG UTF-8 decoder never swallows an ASCII byte into an invalid sequence
 * (it emits U+FFFD and reprocesses the byte), so splitting raw bytes first and decoding each
 * value afterwards gives exactly the spec's result, with the decoding cost paid only on values.
 *
 * Zero copy: an event made of a single valid data line lying wholly inside the current input
 * segment is handed out pointing into that segment. Anything else is assembled in p->data,
 * which always has TW_JSON_PADDING spare bytes after the data.
 */
#include "tw_sse.h"
#include "tw_internal.h"

#include "tw_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Buffers that grew past this for one big event are released after it. */
#define SHRINK_ABOVE ((size_t)1 << 20)

struct tw_sse_parser {
    tw__lines lines;
    size_t max;                   /* immutable after new */
    tw_sse_comment_fn on_comment; /* immutable after new */
    void *comment_userdata;

    /* The event being assembled (the spec's data and event type buffers). */
    tw_buf data;       /* data lines joined with "\n" from data_off on, when not zero-copy */
    size_t data_off;   /* > 0 when data took over the splitter's line buffer ("data: ...") */
    const char *zref;  /* the event's only data line, still inside the current segment */
    size_t zlen;
    const char *zend;  /* end of that segment */
    size_t ndata;      /* data lines seen in this event */
    tw_buf type;       /* event type; empty means "message" */
    int64_t retry;     /* retry field of this event, -1 if none */
    int skipping;      /* an oversized event is being dropped up to the next blank line */

    tw_buf id_buf;     /* the last event ID buffer: set by id fields of the block being read */
    tw_buf last_id;    /* the last event ID string: id_buf as of the last dispatch (a blank
                          line); survives finish(), so a reconnect can send it */
    int64_t reconnect; /* reconnection time from the last valid retry field, -1 if none */
    tw_buf scratch;    /* repaired comment text */

    /* Set for the duration of one feed call. */
    int in_feed;
    tw_sse_event_fn on_event;
    void *userdata;
    tw_error *err;
};

void tw_sse_opts_init(tw_sse_opts *o) {
    memset(o, 0, sizeof *o);
    o->max_event_size = TW_DEFAULT_MAX_EVENT_SIZE;
}

static void reset_event(tw_sse_parser *p) {
    p->data.len = p->data_off = 0;
    p->zref = p->zend = NULL;
    p->zlen = 0;
    p->ndata = 0;
    p->type.len = 0;
    p->retry = -1;
    if (p->data.cap > SHRINK_ABOVE) tw_buf_free(&p->data);
}

/* The last event ID buffer goes back to the string: an id of an undispatched block never
 * counts. @return 0 or TW_ERR_NOMEM. */
static int restore_id_buf(tw_sse_parser *p) {
    p->id_buf.len = 0;
    return p->last_id.len ? (int)tw_buf_append(&p->id_buf, p->last_id.data, p->last_id.len) : 0;
}

tw_sse_parser *tw_sse_parser_new(const tw_sse_opts *opts) {
    tw_sse_parser *p = calloc(1, sizeof *p);
    tw_sse_opts o;
    if (!p) return NULL;
    if (opts) {
        o = *opts;
    } else {
        tw_sse_opts_init(&o);
    }
    p->max = o.max_event_size ? o.max_event_size : TW_DEFAULT_MAX_EVENT_SIZE;
    p->on_comment = o.on_comment;
    p->comment_userdata = o.comment_userdata;
    tw__lines_init(&p->lines);
    p->retry = p->reconnect = -1;
    if (o.last_event_id && o.last_event_id_len &&
        (tw__utf8_append(&p->last_id, o.last_event_id, o.last_event_id_len) ||
         restore_id_buf(p))) {
        tw_sse_parser_free(p);
        return NULL;
    }
    return p;
}

void tw_sse_parser_free(tw_sse_parser *p) {
    if (!p) return;
    tw__lines_free(&p->lines);
    tw_buf_free(&p->data);
    tw_buf_free(&p->type);
    tw_buf_free(&p->last_id);
    tw_buf_free(&p->id_buf);
    tw_buf_free(&p->scratch);
    free(p);
}

void tw_sse_parser_reset(tw_sse_parser *p) {
    if (!p) return;
    tw__lines_reset(&p->lines);
    reset_event(p);
    p->skipping = 0;
    p->last_id.len = 0;
    p->id_buf.len = 0;
    p->reconnect = -1;
}

tw_code tw_sse_parser_finish(tw_sse_parser *p) {
    /* The spec discards an event that was not terminated by a blank line; the last event ID
     * string stays (it is the connection's, for the next reconnect). */
    if (!p) return TW_OK;
    tw__lines_reset(&p->lines);
    reset_event(p);
    p->skipping = 0;
    return restore_id_buf(p) ? TW_ERR_NOMEM : TW_OK;
}

tw_str tw_sse_parser_last_event_id(const tw_sse_parser *p) {
    tw_str s = {"", 0};
    if (p && p->last_id.len) {
        s.ptr = p->last_id.data;
        s.len = p->last_id.len;
    }
    return s;
}

int64_t tw_sse_parser_retry(const tw_sse_parser *p) { return p ? p->reconnect : -1; }

uint64_t tw_sse_parser_bytes_scanned(const tw_sse_parser *p) { return p ? p->lines.scanned : 0; }

/* ---- splitter hooks ----------------------------------------------------------------------- */

static size_t data_size(const tw_sse_parser *p) {
    if (!p->ndata) return 0;
    return p->zref ? p->zlen : p->data.len - p->data_off;
}

static size_t hook_room(void *ctx) {
    tw_sse_parser *p = ctx;
    /* While dropping an oversized event only blank lines (length 0) get through. */
    return p->skipping ? 0 : p->max - data_size(p);
}

static int hook_overflow(void *ctx, uint64_t line_pos) {
    tw_sse_parser *p = ctx;
    char msg[128];
    if (p->skipping) return 0;
    p->skipping = 1;
    reset_event(p);
    snprintf(msg, sizeof msg,
             "SSE event larger than max_event_size (%zu bytes); raise the max_event_size option",
             p->max);
    tw__err_at(p->err, TW_ERR_SSE_PROTOCOL, line_pos, msg);
    return TW_ERR_SSE_PROTOCOL;
}

/* Copies a zero-copy data line into p->data before its segment goes away. */
static int materialize(tw_sse_parser *p) {
    tw_code rc;
    if (!p->zref) return 0;
    p->data.len = p->data_off = 0;
    rc = tw_buf_append(&p->data, p->zref, p->zlen);
    p->zref = p->zend = NULL;
    return (int)rc;
}

static int hook_segment_end(void *ctx) { return materialize(ctx); }

static int dispatch(tw_sse_parser *p) {
    tw_sse_event ev;
    int stop;
    if (p->skipping) {
        /* The blank line that ends an oversized event: back to normal. */
        p->skipping = 0;
        reset_event(p);
        return 0;
    }
    /* Spec, dispatch step 1: the last event ID string takes the buffer's value, even when
     * the block had no data (an id-only block moves a reconnect forward). */
    if (p->id_buf.len != p->last_id.len ||
        (p->id_buf.len && memcmp(p->id_buf.data, p->last_id.data, p->id_buf.len) != 0)) {
        p->last_id.len = 0;
        if (p->id_buf.len && tw_buf_append(&p->last_id, p->id_buf.data, p->id_buf.len))
            return TW_ERR_NOMEM;
    }
    if (!p->ndata) {
        /* Spec: an empty data buffer dispatches nothing but still resets the event type. */
        reset_event(p);
        return 0;
    }
    if (p->type.len) {
        ev.event.ptr = p->type.data;
        ev.event.len = p->type.len;
    } else {
        ev.event.ptr = "message";
        ev.event.len = 7;
    }
    if (p->zref) {
        ev.data.ptr = p->zref;
        ev.data.len = p->zlen;
        ev.data_capacity = (size_t)(p->zend - p->zref);
    } else {
        if (tw_buf_reserve(&p->data, 0)) return TW_ERR_NOMEM;
        ev.data.ptr = p->data.data + p->data_off;
        ev.data.len = p->data.len - p->data_off;
        ev.data_capacity = p->data.cap - p->data_off;
    }
    ev.id = tw_sse_parser_last_event_id(p);
    ev.retry = p->retry;
    stop = p->on_event(p->userdata, &ev);
    reset_event(p);
    if (stop) {
        tw__err_at(p->err, TW_ERR_CANCELLED, p->lines.offset, "stopped by the event callback");
        return TW_ERR_CANCELLED;
    }
    return 0;
}

static int add_data(tw_sse_parser *p, const char *v, size_t n, const char *seg_end) {
    tw_code rc;
    const tw_buf *lb = &p->lines.line;
    if (!p->ndata && tw__utf8_valid(v, n) &&
        (seg_end || (lb->data && v >= lb->data && v + n == lb->data + lb->len))) {
        if (seg_end) {
            /* Zero copy: the line is in the caller's buffer (or in kept input). */
            p->zref = v;
            p->zlen = n;
            p->zend = seg_end;
            p->ndata = 1;
            return 0;
        }
        /* The line was assembled in the splitter's line buffer (a line longer than a feed,
         * e.g. an image event): take that buffer over instead of copying it; the value runs
         * to the end of the line, after the "data:" prefix. */
        tw_buf t = p->data;
        p->data = p->lines.line;
        p->lines.line = t;
        p->lines.line.len = 0;
        p->data_off = (size_t)(v - p->data.data);
        p->ndata = 1;
        return 0;
    }
    if ((rc = (tw_code)materialize(p)) != TW_OK) return (int)rc;
    if (p->ndata && (rc = tw_buf_append(&p->data, "\n", 1)) != TW_OK) return (int)rc;
    if ((rc = tw__utf8_append(&p->data, v, n)) != TW_OK) return (int)rc;
    p->ndata++;
    /* U+FFFD replacements can make the decoded data longer than the raw bytes checked. */
    if (p->data.len - p->data_off > p->max) return hook_overflow(p, p->lines.line_start);
    return 0;
}

/* Interprets the digits of a retry field; values past INT64_MAX saturate. -1 if not digits. */
static int64_t parse_retry(const char *v, size_t n) {
    int64_t x = 0;
    if (!n) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)v[i] - '0';
        if (d > 9) return -1;
        x = x > (INT64_MAX - (int64_t)d) / 10 ? INT64_MAX : x * 10 + (int64_t)d;
    }
    return x;
}

static int hook_line(void *ctx, const char *l, size_t len, const char *seg_end) {
    tw_sse_parser *p = ctx;
    const char *colon, *v;
    size_t flen, vlen;
    tw_code rc;
    if (len == 0) return dispatch(p);
    if (p->skipping) return 0;
    if (l[0] == ':') {
        if (!p->on_comment) return 0;
        tw_str c;
        p->scratch.len = 0;
        if ((rc = tw__utf8_append(&p->scratch, l + 1, len - 1)) != TW_OK) return (int)rc;
        c.ptr = p->scratch.data ? p->scratch.data : "";
        c.len = p->scratch.len;
        p->on_comment(p->comment_userdata, c);
        if (p->scratch.cap > SHRINK_ABOVE) tw_buf_free(&p->scratch);
        return 0;
    }
    colon = memchr(l, ':', len);
    if (colon) {
        flen = (size_t)(colon - l);
        v = colon + 1;
        vlen = len - flen - 1;
        if (vlen && *v == ' ') {
            v++;
            vlen--;
        }
    } else {
        flen = len;
        v = l + len;
        vlen = 0;
    }
    switch (flen) {
    case 4:
        if (memcmp(l, "data", 4) == 0) return add_data(p, v, vlen, seg_end);
        break;
    case 5:
        if (memcmp(l, "event", 5) == 0) {
            p->type.len = 0;
            return (int)tw__utf8_append(&p->type, v, vlen);
        }
        if (memcmp(l, "retry", 5) == 0) {
            int64_t r = parse_retry(v, vlen);
            if (r >= 0) p->retry = p->reconnect = r;
        }
        break;
    case 2:
        if (memcmp(l, "id", 2) == 0 && !memchr(v, '\0', vlen)) {
            p->id_buf.len = 0;
            return (int)tw__utf8_append(&p->id_buf, v, vlen);
        }
        break;
    default:
        break;
    }
    return 0; /* unknown fields are ignored */
}

static const tw__line_ops sse_ops = {hook_line, hook_room, hook_overflow, hook_segment_end};

tw_code tw_sse_parser_feed(tw_sse_parser *p, const char *buf, size_t len,
                           tw_sse_event_fn on_event, void *userdata, tw_error *err) {
    int rc;
    if (err) tw__err_at(err, TW_OK, 0, "");
    if (!p || (!buf && len) || !on_event) {
        tw__err_at(err, TW_ERR_INVALID_ARG, 0,
                   "tw_sse_parser_feed: NULL parser, buffer or callback");
        return TW_ERR_INVALID_ARG;
    }
    if (p->in_feed) {
        tw__err_at(err, TW_ERR_BUSY, 0, "tw_sse_parser_feed called from inside its own callback");
        return TW_ERR_BUSY;
    }
    p->in_feed = 1;
    p->on_event = on_event;
    p->userdata = userdata;
    p->err = err;
    rc = tw__lines_feed(&p->lines, buf, len, &sse_ops, p);
    p->in_feed = 0;
    p->on_event = NULL;
    p->userdata = NULL;
    p->err = NULL;
    if (rc == TW_ERR_NOMEM) tw__err_at(err, TW_ERR_NOMEM, p->lines.offset, "out of memory");
    return (tw_code)rc;
}
