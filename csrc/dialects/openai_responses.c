/*
 * openai_responses.c - OpenAI Responses API streams (event: <type> + data.type) and response
 * objects (bodies).
 *
 * The event type is data.type (the SSE event name when data has none). Members are read in one
 * pass whatever their order: item / response / error objects are captured, then the type
 * decides. index = output_index throughout.
 * - response.created / .in_progress / .queued -> START once (response.id, response.model).
 * - response.output_item.added: function_call items -> TOOL_CALL (call_id, name, arguments);
 *   message and reasoning items -> nothing (their text arrives as deltas); other items
 *   (web_search_call, mcp_call, ...) -> RAW.
 * - response.output_text.delta -> TEXT; response.refusal.delta -> TEXT name "refusal";
 *   response.reasoning_summary_text.delta and response.reasoning_text.delta -> REASONING;
 *   response.function_call_arguments.delta -> TOOL_CALL (arguments delta, no id).
 * - response.completed -> FINISH (reason = response.status, "completed"), USAGE, END.
 *   response.incomplete -> FINISH (reason = incomplete_details.reason), USAGE, END.
 *   response.failed -> ERROR provider (name = response.error.code); error -> ERROR provider
 *   (name = code, else type). All four are terminal.
 * - The .done / .part / annotation-free bookkeeping events repeat what the deltas carried and
 *   emit nothing (see `quiet` below). Any other type -> RAW.
 */
#include "dialects/dialect.h"

enum rtype {
    R_UNKNOWN = 0,
    R_QUIET,
    R_CREATED,
    R_ITEM_ADDED,
    R_TEXT,
    R_REFUSAL,
    R_REASONING,
    R_ARGS,
    R_COMPLETED,
    R_INCOMPLETE,
    R_FAILED,
    R_ERROR
};

static const struct {
    const char *name;
    enum rtype t;
} types[] = {
    {"response.output_text.delta", R_TEXT},
    {"response.function_call_arguments.delta", R_ARGS},
    {"response.reasoning_summary_text.delta", R_REASONING},
    {"response.reasoning_text.delta", R_REASONING},
    {"response.refusal.delta", R_REFUSAL},
    {"response.output_item.added", R_ITEM_ADDED},
    {"response.created", R_CREATED},
    {"response.in_progress", R_CREATED},
    {"response.queued", R_CREATED},
    {"response.completed", R_COMPLETED},
    {"response.incomplete", R_INCOMPLETE},
    {"response.failed", R_FAILED},
    {"error", R_ERROR},
    {"response.output_item.done", R_QUIET},
    {"response.content_part.added", R_QUIET},
    {"response.content_part.done", R_QUIET},
    {"response.output_text.done", R_QUIET},
    {"response.refusal.done", R_QUIET},
    {"response.function_call_arguments.done", R_QUIET},
    {"response.reasoning_summary_part.added", R_QUIET},
    {"response.reasoning_summary_part.done", R_QUIET},
    {"response.reasoning_summary_text.done", R_QUIET},
    {"response.reasoning_text.done", R_QUIET},
};

static enum rtype type_of(tw_str s) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (s.len == strlen(types[i].name) && memcmp(s.ptr, types[i].name, s.len) == 0)
            return types[i].t;
    return R_UNKNOWN;
}

typedef struct item {
    tw_str type, call_id, name, arguments;
} item;

typedef struct resp {
    tw_str id, model, status, incomplete_reason, err_code, err_message;
    int have_usage, have_error;
    int64_t in, out, total;
} resp;

static void read_item(tw__dctx *c, tw_json_val *v, item *it_out) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k;
    tw_json_val f;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "type")) tw_json_get_str(j, &f, &it_out->type);
        else if (TW__IS(k, "call_id")) tw_json_get_str(j, &f, &it_out->call_id);
        else if (TW__IS(k, "name")) tw_json_get_str(j, &f, &it_out->name);
        else if (TW__IS(k, "arguments")) tw_json_get_str(j, &f, &it_out->arguments);
    }
}

static void read_error(tw__dctx *c, tw_json_val *v, tw_str *code, tw_str *message) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k;
    tw_json_val f;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "code") || (TW__IS(k, "type") && !code->len)) tw_json_get_str(j, &f, code);
        else if (TW__IS(k, "message")) tw_json_get_str(j, &f, message);
    }
}

/* A response object (in lifecycle events); body mode reads its output too (out != NULL). */
static void read_response(tw__dctx *c, tw_json_val *v, resp *r, int body);

static void body_output(tw__dctx *c, tw_json_val *v);

static void read_response(tw__dctx *c, tw_json_val *v, resp *r, int body) {
    tw_json *j = c->json;
    tw_json_iter it, dit;
    tw_str k;
    tw_json_val f, g;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "id")) tw_json_get_str(j, &f, &r->id);
        else if (TW__IS(k, "model")) tw_json_get_str(j, &f, &r->model);
        else if (TW__IS(k, "status")) tw_json_get_str(j, &f, &r->status);
        else if (TW__IS(k, "usage")) {
            if (tw_json_type_of(j, &f) == TW_JSON_OBJECT) {
                tw__read_usage(c, &f, &r->in, &r->out, &r->total);
                r->have_usage = 1;
            }
        } else if (TW__IS(k, "incomplete_details") && tw_json_obj_begin(j, &f, &dit)) {
            while (tw_json_obj_next(j, &dit, &k, &g))
                if (TW__IS(k, "reason")) tw_json_get_str(j, &g, &r->incomplete_reason);
        } else if (TW__IS(k, "error")) {
            if (tw_json_type_of(j, &f) == TW_JSON_OBJECT) {
                r->have_error = 1;
                read_error(c, &f, &r->err_code, &r->err_message);
            }
        } else if (body && TW__IS(k, "output")) {
            body_output(c, &f);
        }
    }
}

static void stage_start(tw__dctx *c, const resp *r, size_t at) {
    tw_event *e;
    if (c->st.responses.started || (!r->id.len && !r->model.len)) return;
    if ((e = tw__stage_at(c, at, TW_EV_START))) {
        e->id = r->id;
        e->name = r->model;
    }
    c->st.responses.started = 1;
}

/* FINISH + USAGE + END of a completed/incomplete response, or ERROR of a failed one. */
static void stage_outcome(tw__dctx *c, const resp *r, int incomplete) {
    tw_event *e;
    if (r->have_error || TW__IS(r->status, "failed")) {
        tw__stage_provider_error_fields(c, r->err_message.len ? r->err_message
                                                              : tw__lit("response failed"),
                                        r->err_code, 0);
        return;
    }
    if ((e = tw__stage(c, TW_EV_FINISH))) {
        if (incomplete || TW__IS(r->status, "incomplete"))
            e->reason = r->incomplete_reason.len ? r->incomplete_reason : tw__lit("incomplete");
        else
            e->reason = r->status.len ? r->status : tw__lit("completed");
    }
    if (r->have_usage && (e = tw__stage(c, TW_EV_USAGE))) {
        e->input_tokens = r->in;
        e->output_tokens = r->out;
        e->total_tokens = r->total;
    }
    tw__stage_end(c);
}

static tw__rc responses_payload(tw__dctx *c, const tw__payload *p) {
    tw_json *j = c->json;
    tw_json_val root, f;
    tw_json_iter it;
    tw_str k, type = {NULL, 0}, delta = {NULL, 0}, code = {NULL, 0}, message = {NULL, 0};
    item itm;
    resp r;
    int64_t index = 0;
    enum rtype t;
    tw_event *e;
    tw__rc rc = tw__parse_payload(c, &root);
    if (rc != TW__OK) return rc;
    memset(&itm, 0, sizeof itm);
    memset(&r, 0, sizeof r);
    if (!tw_json_obj_begin(j, &root, &it)) return TW__BAD_JSON;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "type")) tw_json_get_str(j, &f, &type);
        else if (TW__IS(k, "delta")) tw_json_get_str(j, &f, &delta);
        else if (TW__IS(k, "output_index")) tw_json_get_i64(j, &f, &index);
        else if (TW__IS(k, "item")) read_item(c, &f, &itm);
        else if (TW__IS(k, "response")) read_response(c, &f, &r, 0);
        else if (TW__IS(k, "code")) tw_json_get_str(j, &f, &code);
        else if (TW__IS(k, "message")) tw_json_get_str(j, &f, &message);
        else if (TW__IS(k, "error")) read_error(c, &f, &code, &message);
    }
    if ((rc = tw__check_end(c)) != TW__OK) return rc;
    t = type_of(type.len ? type : p->event);
    switch (t) {
    case R_QUIET: break;
    case R_CREATED: stage_start(c, &r, c->nev); break;
    case R_ITEM_ADDED:
        if (TW__IS(itm.type, "function_call")) {
            if ((e = tw__stage(c, TW_EV_TOOL_CALL))) {
                e->index = tw__i32(index);
                e->id = itm.call_id;
                e->name = itm.name;
                e->arguments = itm.arguments;
            }
        } else if (!TW__IS(itm.type, "message") && !TW__IS(itm.type, "reasoning")) {
            tw__stage_raw_payload(c);
        }
        break;
    case R_TEXT:
    case R_REFUSAL:
    case R_REASONING:
        if (delta.len && (e = tw__stage(c, t == R_REASONING ? TW_EV_REASONING : TW_EV_TEXT))) {
            e->index = tw__i32(index);
            e->text = delta;
            if (t == R_REFUSAL) e->name = tw__lit("refusal");
        }
        break;
    case R_ARGS:
        if (delta.len && (e = tw__stage(c, TW_EV_TOOL_CALL))) {
            e->index = tw__i32(index);
            e->arguments = delta;
        }
        break;
    case R_COMPLETED:
    case R_INCOMPLETE:
    case R_FAILED:
        stage_start(c, &r, c->nev);
        stage_outcome(c, &r, t == R_INCOMPLETE);
        break;
    case R_ERROR:
        tw__stage_provider_error_fields(c, message.len ? message : tw__lit("error"), code, 0);
        break;
    case R_UNKNOWN: tw__stage_raw_payload(c); break;
    }
    return TW__OK;
}

/* ---- body mode: a response object -------------------------------------------------------- */

/* One content / summary part: output_text, refusal, reasoning_text, summary_text. */
static void body_part(tw__dctx *c, tw_json_val *v, int32_t index) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k, type = {NULL, 0}, text = {NULL, 0}, refusal = {NULL, 0};
    tw_json_val f;
    tw_event *e;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "type")) tw_json_get_str(j, &f, &type);
        else if (TW__IS(k, "text")) tw_json_get_str(j, &f, &text);
        else if (TW__IS(k, "refusal")) tw_json_get_str(j, &f, &refusal);
    }
    if (TW__IS(type, "refusal")) {
        if (refusal.len && (e = tw__stage(c, TW_EV_TEXT))) {
            e->index = index;
            e->text = refusal;
            e->name = tw__lit("refusal");
        }
    } else if (text.len) {
        int reasoning = TW__IS(type, "reasoning_text") || TW__IS(type, "summary_text");
        if ((e = tw__stage(c, reasoning ? TW_EV_REASONING : TW_EV_TEXT))) {
            e->index = index;
            e->text = text;
        }
    }
}

static void body_item(tw__dctx *c, tw_json_val *v, int32_t index) {
    tw_json *j = c->json;
    tw_json_iter it, ait;
    tw_str k;
    tw_json_val f, el;
    item itm;
    tw_event *e;
    const char *start = tw_json_val_ptr(j, v);
    size_t first = c->nev;
    memset(&itm, 0, sizeof itm);
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "type")) tw_json_get_str(j, &f, &itm.type);
        else if (TW__IS(k, "call_id")) tw_json_get_str(j, &f, &itm.call_id);
        else if (TW__IS(k, "name")) tw_json_get_str(j, &f, &itm.name);
        else if (TW__IS(k, "arguments")) tw_json_get_str(j, &f, &itm.arguments);
        else if ((TW__IS(k, "content") || TW__IS(k, "summary")) && tw_json_arr_begin(j, &f, &ait))
            while (tw_json_arr_next(j, &ait, &el)) body_part(c, &el, index);
    }
    if (TW__IS(itm.type, "function_call")) {
        if ((e = tw__stage(c, TW_EV_TOOL_CALL))) {
            e->index = index;
            e->id = itm.call_id;
            e->name = itm.name;
            e->arguments = itm.arguments;
        }
    } else if (!TW__IS(itm.type, "message") && !TW__IS(itm.type, "reasoning")) {
        c->nev = first;
        tw__stage_raw_json(c, itm.type, tw__raw_between(c, start));
    }
}

static void body_output(tw__dctx *c, tw_json_val *v) {
    tw_json_iter it;
    tw_json_val el;
    int32_t i = 0;
    if (!tw_json_arr_begin(c->json, v, &it)) return;
    while (tw_json_arr_next(c->json, &it, &el)) body_item(c, &el, i++);
}

static tw__rc responses_body(tw__dctx *c, tw_json_val *root) {
    resp r;
    memset(&r, 0, sizeof r);
    if (tw_json_type_of(c->json, root) != TW_JSON_OBJECT) return TW__BAD_JSON;
    read_response(c, root, &r, 1);
    if (tw_json_failed(c->json)) return TW__BAD_JSON;
    if (r.have_error || TW__IS(r.status, "failed")) c->nev = 0;
    stage_start(c, &r, 0);
    stage_outcome(c, &r, 0);
    return TW__OK;
}

const tw__dialect tw__dialect_openai_responses = {
    TW_DIALECT_OPENAI_RESPONSES, "openai-responses", 0, responses_payload, NULL, responses_body,
};
