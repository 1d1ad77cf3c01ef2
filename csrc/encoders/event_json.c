/*
 * event_json.c - one normalized event as one JSON object: the lines of `tokenwire parse` and of
 * the "ndjson" format.
 *
 * Keys come in this fixed order, each only when set (strings: pointer not NULL; tokens and
 * retry: >= 0; status: != 0), except the always-present ones marked (*):
 *
 *   type(*), source,
 *   start:      id, model
 *   text:       index(*), text(*)
 *   reasoning:  index(*), text(*)
 *   tool_call:  index(*), id, name, arguments
 *   usage:      input_tokens, output_tokens, total_tokens
 *   finish:     index(*), reason
 *   error:      kind(*), status, message, name, raw
 *   raw:        event, data, id, retry
 *   progress:   text
 *   end, agent_start, agent_complete: nothing more
 *
 * e.g. {"type":"text","index":0,"text":"Hel"}
 *      {"type":"error","kind":"provider","status":529,"message":"Overloaded",
 *       "name":"overloaded_error","raw":"{...}"}
 */
#include "encoders/encoder.h"

static tw_code key_str(tw_buf *out, const char *key, size_t keylen, tw_str v) {
    if (!v.ptr) return TW_OK;
    TW__TRY(tw__put(out, key, keylen));
    return tw__put_jstr(out, v);
}

static tw_code key_int(tw_buf *out, const char *key, size_t keylen, int64_t v) {
    TW__TRY(tw__put(out, key, keylen));
    return tw__put_i64(out, v);
}

#define KEY_STR(k, v) TW__TRY(key_str(out, ",\"" k "\":", sizeof(",\"" k "\":") - 1, (v)))
#define KEY_INT(k, v) TW__TRY(key_int(out, ",\"" k "\":", sizeof(",\"" k "\":") - 1, (v)))

static tw_code event_json(const tw_event *ev, tw_buf *out) {
    tw_str text = ev->text;
    TW__TRY(TW__PUT(out, "{\"type\":\""));
    TW__TRY(tw__put(out, tw_event_type_name(ev->type), strlen(tw_event_type_name(ev->type))));
    TW__TRY(TW__PUT(out, "\""));
    KEY_STR("source", ev->source);
    switch (ev->type) {
    case TW_EV_START:
        KEY_STR("id", ev->id);
        KEY_STR("model", ev->name);
        break;
    case TW_EV_TEXT:
    case TW_EV_REASONING:
        KEY_INT("index", ev->index);
        if (!text.ptr) text.ptr = "";
        KEY_STR("text", text);
        break;
    case TW_EV_TOOL_CALL:
        KEY_INT("index", ev->index);
        KEY_STR("id", ev->id);
        KEY_STR("name", ev->name);
        KEY_STR("arguments", ev->arguments);
        break;
    case TW_EV_USAGE:
        if (ev->input_tokens >= 0) KEY_INT("input_tokens", ev->input_tokens);
        if (ev->output_tokens >= 0) KEY_INT("output_tokens", ev->output_tokens);
        if (ev->total_tokens >= 0) KEY_INT("total_tokens", ev->total_tokens);
        break;
    case TW_EV_FINISH:
        KEY_INT("index", ev->index);
        KEY_STR("reason", ev->reason);
        break;
    case TW_EV_ERROR:
        TW__TRY(TW__PUT(out, ",\"kind\":\""));
        TW__TRY(tw__put(out, tw_error_kind_name(ev->error_kind),
                              strlen(tw_error_kind_name(ev->error_kind))));
        TW__TRY(TW__PUT(out, "\""));
        if (ev->status != 0) KEY_INT("status", ev->status);
        KEY_STR("message", ev->text);
        KEY_STR("name", ev->name);
        KEY_STR("raw", ev->raw);
        if (ev->recoverable) TW__TRY(TW__PUT(out, ",\"recoverable\":true"));
        break;
    case TW_EV_RAW:
        KEY_STR("event", ev->name);
        KEY_STR("data", ev->text);
        KEY_STR("id", ev->id);
        if (ev->retry >= 0) KEY_INT("retry", ev->retry);
        break;
    case TW_EV_PROGRESS:
        KEY_STR("text", ev->text);
        break;
    default:
        break;
    }
    return TW__PUT(out, "}");
}

tw_code tw_event_to_json(const tw_event *ev, tw_buf *out) {
    size_t start;
    tw_code rc;
    if (!ev || !out || (int)ev->type <= 0 || ev->type >= TW_EV__LAST) return TW_ERR_INVALID_ARG;
    start = out->len;
    rc = event_json(ev, out);
    if (rc) out->len = start;
    return rc;
}
