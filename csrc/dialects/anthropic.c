/*
 * anthropic.c - Anthropic Messages streams and message bodies.
 *
 * The event type is data.type (the SSE event name when data has none); index = the content
 * block index.
 * - message_start -> START (message.id, message.model) + USAGE (input_tokens; output -1).
 * - content_block_start: text / thinking blocks with non-empty initial text -> TEXT /
 *   REASONING; tool_use -> TOOL_CALL (id, name, arguments ""). Other block kinds
 *   (server_tool_use, web_search_tool_result, redacted_thinking, mcp_tool_use, ...) -> RAW, and
 *   the input_json_delta of such a block -> RAW too: they are not calls for the client to run.
 * - content_block_delta: text_delta -> TEXT; input_json_delta -> TOOL_CALL (arguments delta);
 *   thinking_delta -> REASONING; signature_delta is ignored (an opaque integrity token for
 *   sending thinking back, not content); citations_delta and unknown deltas -> RAW.
 * - message_delta -> FINISH (stop_reason) + USAGE: output_tokens (cumulative), input_tokens as
 *   given there or else as message_start gave it, so the last USAGE is complete.
 * - message_stop -> END. ping and content_block_stop -> nothing. error -> ERROR provider with
 *   name = error.type (overloaded_error, api_error, ...), terminal.
 * - Unknown event types -> RAW.
 */
#include "dialects/dialect.h"

typedef struct block {
    tw_str type, text, id, name;
} block;

typedef struct ev_delta {
    tw_str type, text, partial_json, thinking, stop_reason;
} ev_delta;

typedef struct msg {
    tw_str id, model;
    int64_t in, out, total;
} msg;

static void read_block(tw__dctx *c, tw_json_val *v, block *b) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k;
    tw_json_val f;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "type")) tw_json_get_str(j, &f, &b->type);
        else if (TW__IS(k, "text") || TW__IS(k, "thinking")) tw_json_get_str(j, &f, &b->text);
        else if (TW__IS(k, "id")) tw_json_get_str(j, &f, &b->id);
        else if (TW__IS(k, "name")) tw_json_get_str(j, &f, &b->name);
    }
}

static void read_delta(tw__dctx *c, tw_json_val *v, ev_delta *d) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k;
    tw_json_val f;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "type")) tw_json_get_str(j, &f, &d->type);
        else if (TW__IS(k, "text")) tw_json_get_str(j, &f, &d->text);
        else if (TW__IS(k, "partial_json")) tw_json_get_str(j, &f, &d->partial_json);
        else if (TW__IS(k, "thinking")) tw_json_get_str(j, &f, &d->thinking);
        else if (TW__IS(k, "stop_reason")) tw_json_get_str(j, &f, &d->stop_reason);
    }
}

static void read_message(tw__dctx *c, tw_json_val *v, msg *m) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k;
    tw_json_val f;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "id")) tw_json_get_str(j, &f, &m->id);
        else if (TW__IS(k, "model")) tw_json_get_str(j, &f, &m->model);
        else if (TW__IS(k, "usage")) tw__read_usage(c, &f, &m->in, &m->out, &m->total);
    }
}

static void set_raw_block(tw__anthropic_state *s, int64_t index, int raw) {
    if (index < 0 || index >= 64) return;
    if (raw) s->raw_blocks |= (uint64_t)1 << index;
    else s->raw_blocks &= ~((uint64_t)1 << index);
}

static int is_raw_block(const tw__anthropic_state *s, int64_t index) {
    return index >= 0 && index < 64 && ((s->raw_blocks >> index) & 1);
}

static void stage_text(tw__dctx *c, tw_event_type t, int64_t index, tw_str text) {
    tw_event *e;
    if (!text.len || !(e = tw__stage(c, t))) return;
    e->index = tw__i32(index);
    e->text = text;
}

static tw__rc anthropic_payload(tw__dctx *c, const tw__payload *p) {
    tw__anthropic_state *s = &c->st.anthropic;
    tw_json *j = c->json;
    tw_json_val root, f;
    tw_json_iter it;
    tw_str k, type = {NULL, 0};
    block b;
    ev_delta d;
    msg m;
    int64_t index = 0, uin = -1, uout = -1, utotal = -1;
    int have_usage = 0, have_error = 0, have_message = 0;
    size_t errpos = 0;
    tw_event *e;
    tw__rc rc = tw__parse_payload(c, &root);
    (void)utotal;
    if (rc != TW__OK) return rc;
    memset(&b, 0, sizeof b);
    memset(&d, 0, sizeof d);
    memset(&m, 0, sizeof m);
    m.in = m.out = m.total = -1;
    if (!tw_json_obj_begin(j, &root, &it)) return TW__BAD_JSON;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "type")) tw_json_get_str(j, &f, &type);
        else if (TW__IS(k, "index")) tw_json_get_i64(j, &f, &index);
        else if (TW__IS(k, "delta")) read_delta(c, &f, &d);
        else if (TW__IS(k, "content_block")) read_block(c, &f, &b);
        else if (TW__IS(k, "message")) {
            read_message(c, &f, &m);
            have_message = 1;
        } else if (TW__IS(k, "usage")) {
            tw__read_usage(c, &f, &uin, &uout, &utotal);
            have_usage = 1;
        } else if (TW__IS(k, "error") && !have_error) {
            errpos = c->nev;
            have_error = 1;
            tw__stage_provider_error(c, &f); /* staged now, kept only for type "error" */
        }
    }
    if ((rc = tw__check_end(c)) != TW__OK) return rc;
    if (!type.len) type = p->event;
    if (TW__IS(type, "error")) {
        /* The error member was staged while reading (nothing else stages there). */
        if (!have_error) tw__stage_provider_error_fields(c, tw__lit("error"), type, 0);
        return TW__OK;
    }
    if (have_error) { /* an "error" member in a non-error event: not ours to interpret */
        c->nev = errpos;
        c->done = 0;
    }
    if (TW__IS(type, "content_block_delta")) {
        if (TW__IS(d.type, "text_delta")) {
            stage_text(c, TW_EV_TEXT, index, d.text);
        } else if (TW__IS(d.type, "input_json_delta")) {
            if (is_raw_block(s, index)) tw__stage_raw_payload(c);
            else if (d.partial_json.len && (e = tw__stage(c, TW_EV_TOOL_CALL))) {
                e->index = tw__i32(index);
                e->arguments = d.partial_json;
            }
        } else if (TW__IS(d.type, "thinking_delta")) {
            stage_text(c, TW_EV_REASONING, index, d.thinking);
        } else if (!TW__IS(d.type, "signature_delta")) {
            tw__stage_raw_payload(c);
        }
    } else if (TW__IS(type, "content_block_start")) {
        set_raw_block(s, index, 0);
        if (TW__IS(b.type, "text")) {
            stage_text(c, TW_EV_TEXT, index, b.text);
        } else if (TW__IS(b.type, "thinking")) {
            stage_text(c, TW_EV_REASONING, index, b.text);
        } else if (TW__IS(b.type, "tool_use")) {
            if ((e = tw__stage(c, TW_EV_TOOL_CALL))) {
                e->index = tw__i32(index);
                e->id = b.id;
                e->name = b.name;
                e->arguments = tw__lit("");
            }
        } else {
            set_raw_block(s, index, 1);
            tw__stage_raw_payload(c);
        }
    } else if (TW__IS(type, "content_block_stop") || TW__IS(type, "ping")) {
        /* nothing */
    } else if (TW__IS(type, "message_start")) {
        if (!s->started && (e = tw__stage(c, TW_EV_START))) {
            e->id = m.id;
            e->name = m.model;
            s->started = 1;
        }
        if (have_message && m.in >= 0 && (e = tw__stage(c, TW_EV_USAGE))) e->input_tokens = m.in;
        if (m.in >= 0) {
            s->input_tokens = m.in;
            s->have_input = 1;
        }
    } else if (TW__IS(type, "message_delta")) {
        if (d.stop_reason.len && (e = tw__stage(c, TW_EV_FINISH))) e->reason = d.stop_reason;
        if (have_usage && (e = tw__stage(c, TW_EV_USAGE))) {
            if (uin < 0 && s->have_input) uin = s->input_tokens;
            if (uin >= 0) {
                s->input_tokens = uin;
                s->have_input = 1;
            }
            e->input_tokens = uin;
            e->output_tokens = uout;
        }
    } else if (TW__IS(type, "message_stop")) {
        tw__stage_end(c);
    } else {
        tw__stage_raw_payload(c);
    }
    return TW__OK;
}

/* ---- body mode: a Message object ---------------------------------------------------------- */

static void body_block(tw__dctx *c, tw_json_val *v, int32_t index) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k, input = {NULL, 0};
    tw_json_val f;
    block b;
    tw_event *e;
    const char *start = tw_json_val_ptr(j, v);
    memset(&b, 0, sizeof b);
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "type")) tw_json_get_str(j, &f, &b.type);
        else if (TW__IS(k, "text") || TW__IS(k, "thinking")) tw_json_get_str(j, &f, &b.text);
        else if (TW__IS(k, "id")) tw_json_get_str(j, &f, &b.id);
        else if (TW__IS(k, "name")) tw_json_get_str(j, &f, &b.name);
        else if (TW__IS(k, "input")) input = tw__compact_json(c, &f);
    }
    if (TW__IS(b.type, "text")) {
        stage_text(c, TW_EV_TEXT, index, b.text);
    } else if (TW__IS(b.type, "thinking")) {
        stage_text(c, TW_EV_REASONING, index, b.text);
    } else if (TW__IS(b.type, "tool_use")) {
        if ((e = tw__stage(c, TW_EV_TOOL_CALL))) {
            e->index = index;
            e->id = b.id;
            e->name = b.name;
            e->arguments = input.len ? input : tw__lit("{}");
        }
    } else {
        tw__stage_raw_json(c, b.type, tw__raw_between(c, start));
    }
}

static tw__rc anthropic_body(tw__dctx *c, tw_json_val *root) {
    tw_json *j = c->json;
    tw_json_iter it, ait;
    tw_str k, id = {NULL, 0}, model = {NULL, 0}, stop = {NULL, 0}, type = {NULL, 0};
    tw_json_val f, el, errv;
    int64_t in = -1, out = -1, total = -1;
    int have_usage = 0, have_error = 0;
    int32_t i = 0;
    size_t errpos = 0;
    tw_event *e;
    if (!tw_json_obj_begin(j, root, &it)) return TW__BAD_JSON;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "id")) tw_json_get_str(j, &f, &id);
        else if (TW__IS(k, "model")) tw_json_get_str(j, &f, &model);
        else if (TW__IS(k, "type")) tw_json_get_str(j, &f, &type);
        else if (TW__IS(k, "stop_reason")) tw_json_get_str(j, &f, &stop);
        else if (TW__IS(k, "usage")) {
            tw__read_usage(c, &f, &in, &out, &total);
            have_usage = 1;
        } else if (TW__IS(k, "content") && tw_json_arr_begin(j, &f, &ait)) {
            while (tw_json_arr_next(j, &ait, &el)) body_block(c, &el, i++);
        } else if (TW__IS(k, "error") && !have_error) {
            errv = f;
            have_error = 1;
            errpos = c->nev;
            tw__stage_provider_error(c, &errv);
        }
    }
    if (have_error) {
        if (errpos < c->nev) {
            c->ev[0] = c->ev[errpos];
            c->nev = 1;
        }
        return TW__OK;
    }
    if ((e = tw__stage_at(c, 0, TW_EV_START))) {
        e->id = id;
        e->name = model;
    }
    if (stop.len && (e = tw__stage(c, TW_EV_FINISH))) e->reason = stop;
    if (have_usage && (e = tw__stage(c, TW_EV_USAGE))) {
        e->input_tokens = in;
        e->output_tokens = out;
    }
    return TW__OK;
}

const tw__dialect tw__dialect_anthropic = {
    TW_DIALECT_ANTHROPIC, "anthropic", 0, anthropic_payload, NULL, anthropic_body,
};
