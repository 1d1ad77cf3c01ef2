/*
 * openai.c - OpenAI chat.completion.chunk streams (also Azure, Groq, vLLM, llama.cpp, LiteLLM,
 * DeepSeek, OpenRouter, Ollama /v1) and chat.completion bodies.
 *
 * Mapping (index = choices[i].index unless said otherwise):
 * - START once, before the first event, from the first chunk with a non-empty id or model
 *   (Azure's leading chunk with empty id/model/choices and prompt_filter_results gives nothing).
 * - delta.content -> TEXT; delta.refusal -> TEXT with name "refusal" (so consumers can tell it
 *   from the answer); delta.reasoning_content or, when absent, delta.reasoning -> REASONING
 *   (servers that send both carry the same text: it is emitted once). Empty strings emit nothing.
 * - delta.tool_calls[j] -> TOOL_CALL with index = tool_calls[j].index (the tool-call slot,
 *   as OpenAI numbers it), id, function.name, function.arguments (a delta); a fragment with no
 *   id, name or arguments emits nothing. Legacy delta.function_call -> TOOL_CALL index 0, only
 *   when the same delta/message has no tool_calls array (servers that send both repeat one
 *   fragment in each).
 * - finish_reason -> FINISH after the choice's other events. A choice without delta (Azure
 *   asynchronous content filter) emits only its finish_reason, if any.
 * - Usage: the standard "usage" object (the include_usage chunk, or vLLM's continuous usage
 *   on every chunk) and Groq's x_groq.usage are both cumulative snapshots of the same figures.
 *   The decoder keeps the last snapshot (a standard one replaces a Groq one, never the
 *   reverse) and emits ONE USAGE right before END ([DONE], or tw_decoder_finish when a server
 *   omits [DONE]). Nothing is ever summed.
 * - data: [DONE] -> END. {"error": {...}} (or an SSE event named "error") -> ERROR kind
 *   provider, terminal. SSE events with any other name than "message" -> RAW, untouched. obfuscation, system_fingerprint, logprobs, prompt_filter_results,
 *   content_filter_results, timings ... are ignored.
 */
#include "dialects/dialect.h"

typedef struct delta_text {
    tw_str content, refusal, reasoning_content, reasoning;
} delta_text;

/* One element of tool_calls (stream delta or complete message); pos = its array position. */
static void tool_call(tw__dctx *c, tw_json_val *v, int32_t pos) {
    tw_json *j = c->json;
    tw_json_iter it, fit;
    tw_str k, id = {NULL, 0}, name = {NULL, 0}, args = {NULL, 0};
    tw_json_val f, g;
    int64_t index = pos;
    tw_event *e;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "index")) tw_json_get_i64(j, &f, &index);
        else if (TW__IS(k, "id")) tw_json_get_str(j, &f, &id);
        else if (TW__IS(k, "function") && tw_json_obj_begin(j, &f, &fit)) {
            while (tw_json_obj_next(j, &fit, &k, &g)) {
                if (TW__IS(k, "name")) tw_json_get_str(j, &g, &name);
                else if (TW__IS(k, "arguments") && !tw_json_get_str(j, &g, &args) &&
                         tw_json_type_of(j, &g) == TW_JSON_OBJECT)
                    args = tw__compact_json(c, &g); /* a few servers send an object */
            }
        }
    }
    if (!id.len && !name.len && !args.len) return;
    e = tw__stage(c, TW_EV_TOOL_CALL);
    if (!e) return;
    e->index = tw__i32(index);
    e->id = id;
    e->name = name;
    e->arguments = args;
}

/* The legacy function_call object: one call at index 0. @return 1 when an event was staged. */
static int function_call(tw__dctx *c, tw_json_val *v) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k, name = {NULL, 0}, args = {NULL, 0};
    tw_json_val f;
    tw_event *e;
    if (!tw_json_obj_begin(j, v, &it)) return 0;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "name")) tw_json_get_str(j, &f, &name);
        else if (TW__IS(k, "arguments")) tw_json_get_str(j, &f, &args);
    }
    if (!name.len && !args.len) return 0;
    e = tw__stage(c, TW_EV_TOOL_CALL);
    if (!e) return 0;
    e->name = name;
    e->arguments = args;
    return 1;
}

/* delta (stream) or message (body): tool calls are staged in place, texts returned.
 * Servers that speak both tool-call forms (llama-cpp-python's chatml-function-calling) send
 * the same fragment as function_call and as tool_calls[0]: function_call counts only when the
 * same object has no tool_calls array, whichever of the two comes first. */
static void delta(tw__dctx *c, tw_json_val *v, delta_text *t) {
    tw_json *j = c->json;
    tw_json_iter it, ait;
    tw_str k;
    tw_json_val f, el;
    int32_t pos;
    int saw_tools = 0;
    size_t fc_at = SIZE_MAX; /* stage position of the function_call event */
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "content")) tw_json_get_str(j, &f, &t->content);
        else if (TW__IS(k, "reasoning_content")) tw_json_get_str(j, &f, &t->reasoning_content);
        else if (TW__IS(k, "reasoning")) tw_json_get_str(j, &f, &t->reasoning);
        else if (TW__IS(k, "refusal")) tw_json_get_str(j, &f, &t->refusal);
        else if (TW__IS(k, "tool_calls") && tw_json_arr_begin(j, &f, &ait)) {
            saw_tools = 1;
            pos = 0;
            while (tw_json_arr_next(j, &ait, &el)) tool_call(c, &el, pos++);
        } else if (TW__IS(k, "function_call") && !saw_tools) {
            size_t at = c->nev;
            if (function_call(c, &f)) fc_at = at;
        }
    }
    if (saw_tools && fc_at != SIZE_MAX) tw__unstage(c, fc_at);
}

static void choice(tw__dctx *c, tw_json_val *v) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k, finish = {NULL, 0};
    tw_json_val f;
    delta_text t;
    int64_t index = 0;
    size_t first = c->nev, at;
    tw_event *e;
    memset(&t, 0, sizeof t);
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "index")) tw_json_get_i64(j, &f, &index);
        else if (TW__IS(k, "delta") || TW__IS(k, "message")) delta(c, &f, &t);
        else if (TW__IS(k, "finish_reason")) tw_json_get_str(j, &f, &finish);
    }
    /* Texts go before the tool calls staged while reading: reasoning, answer, refusal. */
    at = first;
    if (!t.reasoning_content.len) t.reasoning_content = t.reasoning;
    if (t.reasoning_content.len && (e = tw__stage_at(c, at++, TW_EV_REASONING))) {
        e->index = tw__i32(index);
        e->text = t.reasoning_content;
    }
    if (t.content.len && (e = tw__stage_at(c, at++, TW_EV_TEXT))) {
        e->index = tw__i32(index);
        e->text = t.content;
    }
    if (t.refusal.len && (e = tw__stage_at(c, at++, TW_EV_TEXT))) {
        e->index = tw__i32(index);
        e->text = t.refusal;
        e->name = tw__lit("refusal");
    }
    if (finish.len && (e = tw__stage(c, TW_EV_FINISH))) {
        e->index = tw__i32(index);
        e->reason = finish;
    }
}

static void keep_usage(tw__dctx *c, tw_json_val *v, int kind) {
    tw__openai_state *s = &c->st.openai;
    int64_t in, out, total;
    if (tw_json_type_of(c->json, v) != TW_JSON_OBJECT) return; /* "usage": null */
    tw__read_usage(c, v, &in, &out, &total);
    if (kind < s->usage_kind) return;
    s->usage_kind = kind;
    s->in = in;
    s->out = out;
    s->total = total;
}

static void x_groq(tw__dctx *c, tw_json_val *v) {
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k;
    tw_json_val f;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f))
        if (TW__IS(k, "usage")) keep_usage(c, &f, 1);
}

static void stage_usage(tw__dctx *c) {
    tw__openai_state *s = &c->st.openai;
    tw_event *e;
    if (!s->usage_kind) return;
    if ((e = tw__stage(c, TW_EV_USAGE))) {
        e->input_tokens = s->in;
        e->output_tokens = s->out;
        e->total_tokens = s->total;
    }
    s->usage_kind = 0;
}

static void stream_error(tw__dctx *c, tw_json_val *v, size_t *errpos) {
    if (c->done || tw_json_is_null(c->json, v)) return;
    *errpos = c->nev;
    tw__stage_provider_error(c, v);
}

/* A chunk (stream) or a chat.completion (body). */
static tw__rc chunk(tw__dctx *c, tw_json_val *root) {
    tw_json *j = c->json;
    tw__openai_state *s = &c->st.openai;
    tw_json_iter it, ait;
    tw_str k, id = {NULL, 0}, model = {NULL, 0};
    tw_json_val f, el;
    size_t first = c->nev, errpos = 0;
    tw_event *e;
    if (!tw_json_obj_begin(j, root, &it)) return TW__BAD_JSON;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "choices")) {
            if (tw_json_arr_begin(j, &f, &ait))
                while (tw_json_arr_next(j, &ait, &el)) choice(c, &el);
        } else if (s->started) {
            /* id and model only matter for START: the common case skips them unread. */
            if (TW__IS(k, "usage")) keep_usage(c, &f, 2);
            else if (TW__IS(k, "x_groq")) x_groq(c, &f);
            else if (TW__IS(k, "error")) stream_error(c, &f, &errpos);
        } else if (TW__IS(k, "id")) {
            tw_json_get_str(j, &f, &id);
        } else if (TW__IS(k, "model")) {
            tw_json_get_str(j, &f, &model);
        } else if (TW__IS(k, "usage")) {
            keep_usage(c, &f, 2);
        } else if (TW__IS(k, "x_groq")) {
            x_groq(c, &f);
        } else if (TW__IS(k, "error")) {
            stream_error(c, &f, &errpos);
        }
    }
    if (c->done) {
        /* An error chunk: only the error. */
        if (errpos < c->nev) {
            c->ev[first] = c->ev[errpos];
            c->nev = first + 1;
        }
        return TW__OK;
    }
    if (!s->started && (id.len || model.len || c->nev > first)) {
        if ((e = tw__stage_at(c, first, TW_EV_START))) {
            e->id = id;
            e->name = model;
        }
        s->started = 1;
    }
    return TW__OK;
}

static tw__rc openai_payload(tw__dctx *c, const tw__payload *p) {
    tw_json_val root;
    tw__rc rc;
    if (p->event.len && !TW__IS(p->event, "message") && !TW__IS(p->event, "error")) {
        /* A named event OpenAI never sends (a gateway's keep-alive or extension): passed on
         * untouched rather than read as a chunk. */
        tw__stage_raw_payload(c);
        return TW__OK;
    }
    if (TW__IS(p->data, "[DONE]")) {
        stage_usage(c);
        tw__stage_end(c);
        return TW__OK;
    }
    rc = tw__parse_payload(c, &root);
    if (rc == TW__BAD_JSON && TW__IS(p->event, "error")) {
        /* A gateway's "event: error" with a plain-text message. */
        tw__stage_provider_error_fields(c, p->data, tw__lit("error"), 0);
        return TW__OK;
    }
    if (rc != TW__OK) return rc;
    if (TW__IS(p->event, "error")) {
        tw_json_iter it;
        tw_str k;
        tw_json_val f;
        int found = 0;
        if (tw_json_obj_begin(c->json, &root, &it))
            while (tw_json_obj_next(c->json, &it, &k, &f))
                if (!found && TW__IS(k, "error")) {
                    tw__stage_provider_error(c, &f);
                    found = 1;
                }
        if (!found) {
            /* No "error" member: the object itself describes the error. */
            if (tw_json_rewind(c->json, &root) != TW_OK) return TW__BAD_JSON;
            tw__stage_provider_error(c, &root);
        }
        return tw__check_end(c);
    }
    rc = chunk(c, &root);
    if (rc != TW__OK) return rc;
    return tw__check_end(c);
}

static tw__rc openai_finish(tw__dctx *c) {
    stage_usage(c);
    return TW__OK;
}

static tw__rc openai_body(tw__dctx *c, tw_json_val *root) {
    tw__rc rc = chunk(c, root);
    if (rc != TW__OK || c->done) return rc;
    stage_usage(c);
    return TW__OK;
}

const tw__dialect tw__dialect_openai = {
    TW_DIALECT_OPENAI, "openai", 0, openai_payload, openai_finish, openai_body,
};
