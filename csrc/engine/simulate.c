/*
 * simulate.c - simulated streaming of an answer that came as one JSON body (a model or
 * endpoint without streaming, or the non-streaming last resort of a fallback chain): its text
 * and reasoning are cut into deltas of simulate_chars characters, and with simulate_interval
 * they are released one per interval by the I/O thread's timers, so a relay and a browser see
 * a stream like any other. tw_metrics.simulated says it happened (streamed stays 0).
 */
#include "engine/engine_internal.h"

/* Bytes of the first n UTF-8 characters of p[0..len) (never cuts a character). */
static size_t utf8_prefix(const char *p, size_t len, size_t n) {
    size_t i = 0;
    while (i < len && n > 0) {
        i++;
        while (i < len && ((unsigned char)p[i] & 0xC0) == 0x80) i++;
        n--;
    }
    return i;
}

static int is_split(const tw_event *ev) {
    return ev->type == TW_EV_TEXT || ev->type == TW_EV_REASONING;
}

static int is_content(const tw_event *ev) {
    return is_split(ev) || ev->type == TW_EV_TOOL_CALL;
}

tw_code tw__simulate_split(tw_stream *s) {
    tw_batch *out = tw_batch_new();
    size_t n = tw_batch_count(s->stage);
    if (!out) return TW_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const tw_event *ev = tw_batch_get(s->stage, i);
        if (!is_split(ev) || ev->text.len == 0) {
            if (tw_batch_push(out, ev) != TW_OK) goto nomem;
            continue;
        }
        for (size_t at = 0; at < ev->text.len;) {
            tw_event part = *ev;
            size_t k = utf8_prefix(ev->text.ptr + at, ev->text.len - at, s->simulate_chars);
            part.text.ptr = ev->text.ptr + at;
            part.text.len = k;
            if (tw_batch_push(out, &part) != TW_OK) goto nomem;
            at += k;
        }
    }
    tw_batch_free(s->stage);
    s->stage = out;
    pthread_mutex_lock(&s->lock);
    s->m.simulated = 1;
    pthread_mutex_unlock(&s->lock);
    return TW_OK;
nomem:
    tw_batch_free(out);
    return TW_ERR_NOMEM;
}

int tw__simulate_step(tw_stream *s, double now) {
    size_t n = tw_batch_count(s->pace), end = s->pace_pos, last_content = 0;
    int any = 0;
    /* This step: up to and including the next content event; with the last one, the rest. */
    for (size_t i = s->pace_pos; i < n; i++)
        if (is_content(tw_batch_get(s->pace, i))) last_content = i + 1;
    while (end < n && !is_content(tw_batch_get(s->pace, end))) end++;
    if (end < n) end++;
    if (end >= last_content) end = n;
    if (!s->stage && !(s->stage = tw_batch_new())) return -1;
    for (size_t i = s->pace_pos; i < end; i++) {
        if (tw_batch_push(s->stage, tw_batch_get(s->pace, i)) != TW_OK) s->stage_oom = 1;
        any = 1;
    }
    s->pace_pos = end;
    if (any) {
        pthread_mutex_lock(&s->lock);
        tw__publish_locked(s, now);
        tw__after_push_locked(s);
        pthread_mutex_unlock(&s->lock);
    }
    return s->pace_pos >= n;
}
