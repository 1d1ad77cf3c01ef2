/*
 * messages.c - the encoders' "one message per event" mode (tw_encoder_opts.messages), for
 * WebSocket relays: what a format writes for an event is turned into whole messages, written
 * back to back, and their lengths recorded (tw_encoder_message_lens), so the binding sends
 * each as one frame without parsing anything.
 *
 *   NDJSON framing (ndjson, ndjson templates): each line without its "\n" ("event_id" inside
 *       when the encoder writes ids).
 *   SSE framing (openai, events, ai-sdk, SSE templates): each SSE event becomes
 *       {"event":NAME,"id":ID,"data":DATA}, event and id present only when the SSE event has
 *       them, DATA the data as JSON when it is JSON ("[DONE]" or other text: a JSON string).
 *       Comment blocks (how openai / ai-sdk carry a recoverable error) are not messages.
 *   text: each event's text as it is (a text frame, not JSON).
 *
 * It runs after the format and the event ids, on the bytes they appended, like add_ids.
 */
#include "encoders/encoder.h"

#include <stdlib.h>
#include <string.h>

static tw_code record(tw_encoder *e, size_t len) {
    if (e->n_msgs == e->cap_msgs) {
        size_t cap = e->cap_msgs ? e->cap_msgs * 2 : 16;
        size_t *p = realloc(e->msg_lens, cap * sizeof *p);
        if (!p) return TW_ERR_NOMEM;
        e->msg_lens = p;
        e->cap_msgs = cap;
    }
    e->msg_lens[e->n_msgs++] = len;
    return TW_OK;
}

/* The value of an SSE field line "name: value" / "name:value", or NULL when it is not one. */
static const char *field(const char *line, size_t n, const char *name, size_t *vlen) {
    size_t k = strlen(name);
    if (n <= k || memcmp(line, name, k) != 0 || line[k] != ':') return NULL;
    k++;
    if (k < n && line[k] == ' ') k++;
    *vlen = n - k;
    return line + k;
}

/* One SSE event block (without its blank line) as a JSON message in w; none for a block
 * with no data (a comment). */
static tw_code sse_message(tw_encoder *e, tw_buf *w, const char *p, size_t n) {
    const char *name = NULL, *id = NULL, *data = NULL, *end = p + n;
    size_t name_len = 0, id_len = 0, data_len = 0, at = w->len, lines = 0;
    const char *why;
    tw_code rc;
    /* Our encoders write one data line per event; several would be joined by "\n". */
    tw_buf joined;
    tw_buf_init(&joined);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p), vl;
        const char *v;
        if ((v = field(p, len, "event", &vl))) {
            name = v;
            name_len = vl;
        } else if ((v = field(p, len, "id", &vl))) {
            id = v;
            id_len = vl;
        } else if ((v = field(p, len, "data", &vl))) {
            if (lines++ == 0) {
                data = v;
                data_len = vl;
            } else if ((lines == 2 && tw_buf_append(&joined, data, data_len)) ||
                       tw_buf_append(&joined, "\n", 1) || tw_buf_append(&joined, v, vl)) {
                tw_buf_free(&joined);
                return TW_ERR_NOMEM;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (lines > 1) {
        data = joined.data;
        data_len = joined.len;
    }
    if (!lines) return TW_OK;
    rc = TW__PUT(w, "{");
    if (!rc && name) {
        if (!(rc = TW__PUT(w, "\"event\":"))) rc = tw_json_escape(w, name, name_len);
        if (!rc) rc = TW__PUT(w, ",");
    }
    if (!rc && id) {
        if (!(rc = TW__PUT(w, "\"id\":"))) rc = tw_json_escape(w, id, id_len);
        if (!rc) rc = TW__PUT(w, ",");
    }
    if (!rc) rc = TW__PUT(w, "\"data\":");
    if (!rc) {
        rc = tw__json_compact(w, data, data_len, &why);
        if (rc == TW_ERR_JSON) rc = tw_json_escape(w, data, data_len);
    }
    if (!rc) rc = TW__PUT(w, "}");
    tw_buf_free(&joined);
    return rc ? rc : record(e, w->len - at);
}

tw_code tw__to_messages(tw_encoder *e, tw_buf *out, size_t start) {
    tw_buf *w = &e->scratch;
    size_t i = start;
    tw_code rc = TW_OK;
    if (out->len == start) return TW_OK;
    if (e->format == TW_FORMAT_TEXT) return record(e, out->len - start);
    w->len = 0;
    while (i < out->len && rc == TW_OK) {
        const char *p = out->data + i, *end;
        size_t left = out->len - i, n;
        if (e->sse) {
            const char *bl = NULL;
            for (size_t k = 0; k + 1 < left; k++)
                if (p[k] == '\n' && p[k + 1] == '\n') {
                    bl = p + k;
                    break;
                }
            n = bl ? (size_t)(bl - p) : left;
            rc = sse_message(e, w, p, n);
            end = bl ? bl + 2 : p + left;
        } else {
            const char *nl = memchr(p, '\n', left);
            n = nl ? (size_t)(nl - p) : left;
            if (n && !(rc = tw__put(w, p, n))) rc = record(e, n);
            end = nl ? nl + 1 : p + left;
        }
        i += (size_t)(end - p);
    }
    if (rc) return rc;
    out->len = start;
    return tw__put(out, w->data, w->len);
}

const size_t *tw_encoder_message_lens(const tw_encoder *e, size_t *n) {
    if (n) *n = e ? e->n_msgs : 0;
    return e ? e->msg_lens : NULL;
}

void tw_encoder_messages_clear(tw_encoder *e) {
    if (e) e->n_msgs = 0;
}
