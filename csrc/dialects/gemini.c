/*
 * gemini.c - Gemini streamGenerateContent?alt=sse (CRLF SSE, no [DONE]) and
 * GenerateContentResponse bodies (one object, or the JSON array the non-SSE stream sends).
 *
 * Mapping (index = candidates[c].index):
 * - START once, before the first event, from responseId + modelVersion (they come after the
 *   candidates in Gemini's chunks, so START is inserted in front of the chunk's events).
 * - parts[k].text -> TEXT, or REASONING when the part has "thought": true; empty text emits
 *   nothing. parts[k].functionCall -> TOOL_CALL with name, id (when given) and arguments = args
 *   serialized as compact JSON. Gemini sends no tool index: calls are numbered 0, 1, 2... in
 *   arrival order over the stream. Other parts (inlineData, executableCode,
 *   codeExecutionResult, fileData...) -> RAW with name "part" and text = the part's JSON.
 * - finishReason -> FINISH after the candidate's parts; promptFeedback.blockReason -> FINISH
 *   (index 0) with that reason.
 * - usageMetadata is a cumulative snapshot on every chunk: the last one is kept and emitted
 *   ONCE, by tw_decoder_finish (end of body in body mode), before END:
 *   input = promptTokenCount, output = candidatesTokenCount + thoughtsTokenCount (what is
 *   billed as output, like OpenAI's completion_tokens), total = totalTokenCount.
 * - {"error": {code, message, status}} -> ERROR provider (status = code, name = status),
 *   terminal: the stream never ends as a silent success. Named SSE events (Gemini sends
 *   none) other than "error" -> RAW, untouched.
 */
#include "dialects/dialect.h"

static void part(tw__dctx *c, tw_json_val *v) {
    tw__gemini_state *s = &c->st.gemini;
    tw_json *j = c->json;
    tw_json_iter it, fit;
    tw_str k, text = {NULL, 0}, name = {NULL, 0}, id = {NULL, 0}, args = {NULL, 0};
    tw_json_val f, g;
    int thought = 0, have_text = 0, have_call = 0, other = 0;
    tw_event *e;
    const char *start = tw_json_val_ptr(j, v);
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "text")) have_text = tw_json_get_str(j, &f, &text);
        else if (TW__IS(k, "thought")) tw_json_get_bool(j, &f, &thought);
        else if (TW__IS(k, "functionCall") && tw_json_obj_begin(j, &f, &fit)) {
            have_call = 1;
            while (tw_json_obj_next(j, &fit, &k, &g)) {
                if (TW__IS(k, "name")) tw_json_get_str(j, &g, &name);
                else if (TW__IS(k, "id")) tw_json_get_str(j, &g, &id);
                else if (TW__IS(k, "args")) args = tw__compact_json(c, &g);
            }
        } else if (!TW__IS(k, "thoughtSignature") && !TW__IS(k, "partMetadata")) {
            other = 1;
        }
    }
    if (have_call) {
        if ((e = tw__stage(c, TW_EV_TOOL_CALL))) {
            e->index = s->next_tool;
            e->id = id;
            e->name = name;
            e->arguments = args.len ? args : tw__lit("{}");
        }
        if (s->next_tool < INT32_MAX) s->next_tool++;
    } else if (have_text) {
        if (text.len && (e = tw__stage(c, thought ? TW_EV_REASONING : TW_EV_TEXT))) e->text = text;
    } else if (other) {
        tw__stage_raw_json(c, tw__lit("part"), tw__raw_between(c, start));
    }
}

static void candidate(tw__dctx *c, tw_json_val *v) {
    tw_json *j = c->json;
    tw_json_iter it, cit, pit;
    tw_str k, finish = {NULL, 0};
    tw_json_val f, g, el;
    int64_t index = 0;
    size_t first = c->nev;
    tw_event *e;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "content") && tw_json_obj_begin(j, &f, &cit)) {
            while (tw_json_obj_next(j, &cit, &k, &g))
                if (TW__IS(k, "parts") && tw_json_arr_begin(j, &g, &pit))
                    while (tw_json_arr_next(j, &pit, &el)) part(c, &el);
        } else if (TW__IS(k, "finishReason")) {
            tw_json_get_str(j, &f, &finish);
        } else if (TW__IS(k, "index")) {
            tw_json_get_i64(j, &f, &index);
        }
    }
    /* "index" follows "content": set it on this candidate's texts now. */
    for (size_t i = first; i < c->nev; i++)
        if (c->ev[i].type == TW_EV_TEXT || c->ev[i].type == TW_EV_REASONING)
            c->ev[i].index = tw__i32(index);
    if (finish.len && (e = tw__stage(c, TW_EV_FINISH))) {
        e->index = tw__i32(index);
        e->reason = finish;
    }
}

static void usage(tw__dctx *c, tw_json_val *v) {
    tw__gemini_state *s = &c->st.gemini;
    tw_json *j = c->json;
    tw_json_iter it;
    tw_str k;
    tw_json_val f;
    int64_t prompt = -1, cand = -1, thoughts = -1, total = -1, x;
    if (!tw_json_obj_begin(j, v, &it)) return;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (!tw_json_get_i64(j, &f, &x)) continue;
        if (TW__IS(k, "promptTokenCount")) prompt = x;
        else if (TW__IS(k, "candidatesTokenCount")) cand = x;
        else if (TW__IS(k, "thoughtsTokenCount")) thoughts = x;
        else if (TW__IS(k, "totalTokenCount")) total = x;
    }
    s->have_usage = 1;
    s->in = prompt;
    s->out = cand < 0 && thoughts < 0 ? -1 : (cand < 0 ? 0 : cand) + (thoughts < 0 ? 0 : thoughts);
    s->total = total;
}

/* One GenerateContentResponse. */
static tw__rc response(tw__dctx *c, tw_json_val *v) {
    tw__gemini_state *s = &c->st.gemini;
    tw_json *j = c->json;
    tw_json_iter it, ait, pit;
    tw_str k, id = {NULL, 0}, model = {NULL, 0}, block = {NULL, 0};
    tw_json_val f, el;
    size_t first = c->nev, errpos = 0;
    int have_error = 0;
    tw_event *e;
    if (!tw_json_obj_begin(j, v, &it)) return TW__BAD_JSON;
    while (tw_json_obj_next(j, &it, &k, &f)) {
        if (TW__IS(k, "candidates")) {
            if (tw_json_arr_begin(j, &f, &ait))
                while (tw_json_arr_next(j, &ait, &el)) candidate(c, &el);
        } else if (TW__IS(k, "usageMetadata")) {
            usage(c, &f);
        } else if (TW__IS(k, "responseId")) {
            if (!s->started) tw_json_get_str(j, &f, &id);
        } else if (TW__IS(k, "modelVersion")) {
            if (!s->started) tw_json_get_str(j, &f, &model);
        } else if (TW__IS(k, "promptFeedback") && tw_json_obj_begin(j, &f, &pit)) {
            while (tw_json_obj_next(j, &pit, &k, &el))
                if (TW__IS(k, "blockReason")) tw_json_get_str(j, &el, &block);
        } else if (TW__IS(k, "error") && !have_error &&
                   tw_json_type_of(j, &f) != TW_JSON_NULL) {
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
    if (block.len && (e = tw__stage(c, TW_EV_FINISH))) e->reason = block;
    if (!s->started && (id.len || model.len || c->nev > first)) {
        if ((e = tw__stage_at(c, first, TW_EV_START))) {
            e->id = id;
            e->name = model;
        }
        s->started = 1;
    }
    return TW__OK;
}

static tw__rc gemini_payload(tw__dctx *c, const tw__payload *p) {
    tw_json_val root;
    tw__rc rc;
    if (p->event.len && !TW__IS(p->event, "message") && !TW__IS(p->event, "error")) {
        tw__stage_raw_payload(c); /* Gemini names no events: someone else's, passed on */
        return TW__OK;
    }
    rc = tw__parse_payload(c, &root);
    if (rc != TW__OK) return rc;
    rc = response(c, &root);
    if (rc != TW__OK) return rc;
    return tw__check_end(c);
}

static tw__rc gemini_finish(tw__dctx *c) {
    tw__gemini_state *s = &c->st.gemini;
    tw_event *e;
    if (s->have_usage && (e = tw__stage(c, TW_EV_USAGE))) {
        e->input_tokens = s->in;
        e->output_tokens = s->out;
        e->total_tokens = s->total;
        s->have_usage = 0;
    }
    return c->nomem ? TW__NOMEM : TW__OK;
}

static tw__rc gemini_body(tw__dctx *c, tw_json_val *root) {
    tw_json_iter it;
    tw_json_val el;
    tw__rc rc;
    if (tw_json_type_of(c->json, root) == TW_JSON_ARRAY) {
        if (!tw_json_arr_begin(c->json, root, &it)) return TW__BAD_JSON;
        while (!c->done && tw_json_arr_next(c->json, &it, &el))
            if ((rc = response(c, &el)) != TW__OK) return rc;
        if (c->done) { /* read the rest so the document is checked to its end */
            while (tw_json_arr_next(c->json, &it, &el)) {
            }
        }
    } else if ((rc = response(c, root)) != TW__OK) {
        return rc;
    }
    if (c->done) return TW__OK; /* events before the error stay, as in a stream */
    return gemini_finish(c);
}

const tw__dialect tw__dialect_gemini = {
    TW_DIALECT_GEMINI, "gemini", 0, gemini_payload, gemini_finish, gemini_body,
};
