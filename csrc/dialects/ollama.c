/*
 * ollama.c - Ollama native NDJSON: /api/chat and /api/generate lines, and their
 * non-streaming bodies (the same object with done: true).
 *
 * Mapping (index 0: Ollama has one answer per request):
 * - START once, from the first line: name = model, id empty (Ollama sends no id).
 * - message.thinking / thinking -> REASONING; message.content / response -> TEXT (empty
 *   strings emit nothing); message.tool_calls[k].function -> TOOL_CALL with name, arguments =
 *   the arguments object as compact JSON, index = function.index when the server gives one,
 *   else calls are numbered 0, 1, 2... in arrival order; id when given.
 * - done: true -> FINISH (reason = done_reason, absent on old servers) + USAGE
 *   (input = prompt_eval_count, output = eval_count) + END.
 * - {"error": "..."} -> ERROR provider (text = the message), terminal.
 */
#include "dialects/dialect.h"

static void tool_call(tw__dctx *c, tw_json_val *v) {
    tw__ollama_state *s = &c->st.ollama;
    tw_json *j = c->json;
    tw_json_iter it, fit;
    tw_str k, id = {NULL, 0}, name = {NULL, 0}, args = {NULL, 0};
    tw_json_val f, g;
    int64_t index = -1;
    tw_event *e;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "id")) tw_json_get_str(j, &f, &id);
        else if (TW__IS(k, "function") && tw_json_obj_begin(j, &f, &fit)) {
            while (tw_json_obj_next(j, &fit, &k, &g)) {
                if (TW__IS(k, "name")) tw_json_get_str(j, &g, &name);
                else if (TW__IS(k, "index")) tw_json_get_i64(j, &g, &index);
                else if (TW__IS(k, "arguments") && !tw_json_get_str(j, &g, &args))
                    args = tw__compact_json(c, &g);
            }
        }
    }
    if (!(e = tw__stage(c, TW_EV_TOOL_CALL))) return;
    if (index < 0) index = s->next_tool;
    e->index = tw__i32(index);
    if (index >= s->next_tool && index < INT32_MAX) s->next_tool = (int32_t)index + 1;
    e->id = id;
    e->name = name;
    e->arguments = args.len ? args : tw__lit("{}");
}

static void message(tw__dctx *c, tw_json_val *v, tw_str *content, tw_str *thinking) {
    tw_json *j = c->json;
    tw_json_iter it, ait;
    tw_str k;
    tw_json_val f, el;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "content")) tw_json_get_str(j, &f, content);
        else if (TW__IS(k, "thinking")) tw_json_get_str(j, &f, thinking);
        else if (TW__IS(k, "tool_calls") && tw_json_arr_begin(j, &f, &ait))
            while (tw_json_arr_next(j, &ait, &el)) tool_call(c, &el);
    }
}

static tw__rc line(tw__dctx *c, tw_json_val *root) {
    tw__ollama_state *s = &c->st.ollama;
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k, model = {NULL, 0}, content = {NULL, 0}, thinking = {NULL, 0}, reason = {NULL, 0};
    tw_json_val f;
    int64_t in = -1, out = -1;
    int done = 0, have_error = 0;
    size_t first = c->nev, at, errpos = 0;
    tw_event *e;
    if (!tw_json_obj_begin(j, root, &it)) return TW__BAD_JSON;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "message")) message(c, &f, &content, &thinking);
        else if (TW__IS(k, "response")) tw_json_get_str(j, &f, &content);
        else if (TW__IS(k, "thinking")) tw_json_get_str(j, &f, &thinking);
        else if (TW__IS(k, "model")) tw_json_get_str(j, &f, &model);
        else if (TW__IS(k, "done")) tw_json_get_bool(j, &f, &done);
        else if (TW__IS(k, "done_reason")) tw_json_get_str(j, &f, &reason);
        else if (TW__IS(k, "prompt_eval_count")) tw_json_get_i64(j, &f, &in);
        else if (TW__IS(k, "eval_count")) tw_json_get_i64(j, &f, &out);
        else if (TW__IS(k, "error") && !have_error && tw_json_type_of(j, &f) != TW_JSON_NULL) {
            have_error = 1;
            errpos = c->nev;
            tw__stage_provider_error(c, &f);
        }
    }
    if (have_error) {
        if (errpos < c->nev) {
            c->ev[first] = c->ev[errpos];
            c->nev = first + 1;
        }
        return TW__OK;
    }
    at = first;
    if (!s->started) {
        if ((e = tw__stage_at(c, at++, TW_EV_START))) e->name = model;
        s->started = 1;
    }
    if (thinking.len && (e = tw__stage_at(c, at++, TW_EV_REASONING))) e->text = thinking;
    if (content.len && (e = tw__stage_at(c, at++, TW_EV_TEXT))) e->text = content;
    if (done) {
        if ((e = tw__stage(c, TW_EV_FINISH))) e->reason = reason;
        if ((in >= 0 || out >= 0) && (e = tw__stage(c, TW_EV_USAGE))) {
            e->input_tokens = in;
            e->output_tokens = out;
        }
        tw__stage_end(c);
    }
    return TW__OK;
}

static tw__rc ollama_payload(tw__dctx *c, const tw__payload *p) {
    tw_json_val root;
    tw__rc rc = tw__parse_payload(c, &root);
    (void)p;
    if (rc != TW__OK) return rc;
    if ((rc = line(c, &root)) != TW__OK) return rc;
    return tw__check_end(c);
}

static tw__rc ollama_body(tw__dctx *c, tw_json_val *root) { return line(c, root); }

const tw__dialect tw__dialect_ollama = {
    TW_DIALECT_OLLAMA, "ollama", 1, ollama_payload, NULL, ollama_body,
};
