/*
 * enc_events.c - the "events" format: SSE for browsers watching one or more agents.
 *
 * Schema (the Python and Node helpers and browser code depend on it; append-only). Every
 * event is "event: <name>\ndata: <one JSON object>\n\n". "agent" is the event's source, or
 * "default" when the event has none. Optional keys (in brackets) appear only when known;
 * key order is fixed as written.
 *
 *   event: agent_start      {"agent":"A"[,"id":"msg_1"][,"model":"m"]}
 *       On TW_EV_AGENT_START, or before the first event of an agent not started yet (a start
 *       event supplies id and model).
 *   event: agent_chunk      {"agent":"A","type":"text","index":0,"text":"Hel"}
 *                           {"agent":"A","type":"reasoning","index":0,"text":"..."}
 *                           {"agent":"A","type":"tool_call","index":0[,"id":"call_1"]
 *                               [,"name":"get_weather"][,"arguments":"{\"ci"]}
 *                               (arguments is a delta: concatenate per agent and index)
 *                           {"agent":"A","type":"usage"[,"input_tokens":9]
 *                               [,"output_tokens":12][,"total_tokens":21]}
 *                           {"agent":"A","type":"finish","index":0[,"reason":"end_turn"]}
 *                               (reason as the provider spelled it)
 *                           {"agent":"A","type":"start"[,"id"][,"model"]}
 *                               (a start event arriving after agent_start)
 *                           {"agent":"A","type":"raw"[,"event"][,"data"][,"id"][,"retry"]}
 *   event: progress         {"agent":"A","text":"searching the web"}
 *                           {"text":"..."}  (a progress event with no source: no agent)
 *                           {"progress":0.5[,"status":"drafting"]}  (tw_encoder_progress)
 *   event: <app name>       <payload>  (tw_encoder_send: the app's own events, as given)
 *   event: error            {"agent":"A","kind":"provider"[,"status":529]
 *                               [,"message":"Overloaded"][,"name":"overloaded_error"]}
 *                               kind: http|provider|timeout|protocol|cancelled|transport|none
 *   event: agent_complete   {"agent":"A","status":"ok"|"error"|"incomplete"
 *                               [,"finish_reason":"stop"][,"usage":{"input_tokens":9,
 *                               "output_tokens":12,"total_tokens":21}]}
 *       On TW_EV_AGENT_COMPLETE or TW_EV_END of the agent; at tw_encoder_finish for every
 *       agent still open (status "incomplete" unless it had an error). status is "error" when
 *       the agent emitted an error event. finish_reason is normalized to
 *       stop|length|tool_calls|content_filter|function_call. usage holds the latest figures.
 *       An agent that sends events after its agent_complete starts again (agent_start).
 *   event: complete         {"agents":2,"errors":0}
 *       Once, at tw_encoder_finish: the number of agents seen and of error events. With phases
 *       (tw_encoder_opts.phases), a phase's end writes agent_complete for the open agents
 *       only, and tw_encoder_close writes this, or the app's final event in its place.
 */
#include "encoders/encoder.h"

#include <stdlib.h>

typedef struct ev_agent {
    char *name; /* NULL for the default agent */
    size_t len;
    int started, errored, have_usage, tool_calls;
    const char *finish; /* static normalized reason, or NULL */
    int64_t in_tok, out_tok, total_tok;
} ev_agent;

typedef struct ev_state {
    ev_agent *agents;
    size_t n, cap;
    int64_t errors;
} ev_state;

tw_code tw__events_init(tw_encoder *e) {
    e->state = calloc(1, sizeof(ev_state));
    return e->state ? TW_OK : TW_ERR_NOMEM;
}

void tw__events_free(tw_encoder *e) {
    ev_state *s = e->state;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) free(s->agents[i].name);
    free(s->agents);
    free(s);
    e->state = NULL;
}

static ev_agent *get_agent(ev_state *s, tw_str src) {
    size_t len = src.ptr ? src.len : 0;
    const char *p = len ? src.ptr : NULL;
    ev_agent *a;
    for (size_t i = 0; i < s->n; i++) {
        a = &s->agents[i];
        if (a->len == len && (len == 0 || memcmp(a->name, p, len) == 0)) return a;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        ev_agent *q = realloc(s->agents, cap * sizeof *q);
        if (!q) return NULL;
        s->agents = q;
        s->cap = cap;
    }
    a = &s->agents[s->n];
    memset(a, 0, sizeof *a);
    if (len && !(a->name = tw__strndup(p, len))) return NULL;
    a->len = len;
    a->in_tok = a->out_tok = a->total_tok = -1;
    s->n++;
    return a;
}

/* "event: <name>\ndata: {"agent":"A" */
static tw_code open_event(tw_buf *out, const char *name, const ev_agent *a) {
    TW__TRY(TW__PUT(out, "event: "));
    TW__TRY(tw__put(out, name, strlen(name)));
    TW__TRY(TW__PUT(out, "\ndata: {\"agent\":"));
    if (a->name) return tw_json_escape(out, a->name, a->len);
    return TW__PUT(out, "\"default\"");
}

static tw_code opt_str(tw_buf *out, const char *key, size_t keylen, tw_str v) {
    if (!v.ptr) return TW_OK;
    TW__TRY(tw__put(out, key, keylen));
    return tw__put_jstr(out, v);
}

static tw_code opt_int(tw_buf *out, const char *key, size_t keylen, int64_t v) {
    if (v < 0) return TW_OK;
    TW__TRY(tw__put(out, key, keylen));
    return tw__put_i64(out, v);
}

#define OPT_STR(k, v) TW__TRY(opt_str(out, ",\"" k "\":", sizeof(",\"" k "\":") - 1, (v)))
#define OPT_INT(k, v) TW__TRY(opt_int(out, ",\"" k "\":", sizeof(",\"" k "\":") - 1, (v)))
#define CLOSE_EVENT() TW__PUT(out, "}\n\n")

static tw_code agent_start(ev_agent *a, const tw_event *ev, tw_buf *out) {
    TW__TRY(open_event(out, "agent_start", a));
    if (ev && ev->type == TW_EV_START) {
        OPT_STR("id", ev->id);
        OPT_STR("model", ev->name);
    }
    TW__TRY(CLOSE_EVENT());
    a->started = 1;
    a->errored = a->have_usage = a->tool_calls = 0;
    a->finish = NULL;
    a->in_tok = a->out_tok = a->total_tok = -1;
    return TW_OK;
}

static tw_code agent_complete(ev_agent *a, const char *status, tw_buf *out) {
    TW__TRY(open_event(out, "agent_complete", a));
    TW__TRY(TW__PUT(out, ",\"status\":\""));
    TW__TRY(tw__put(out, status, strlen(status)));
    TW__TRY(TW__PUT(out, "\""));
    if (a->finish) {
        const char *r = a->finish;
        if (a->tool_calls && strcmp(r, "stop") == 0) r = "tool_calls";
        TW__TRY(TW__PUT(out, ",\"finish_reason\":\""));
        TW__TRY(tw__put(out, r, strlen(r)));
        TW__TRY(TW__PUT(out, "\""));
    }
    if (a->have_usage) {
        const char *sep = "";
        TW__TRY(TW__PUT(out, ",\"usage\":{"));
        if (a->in_tok >= 0) {
            TW__TRY(TW__PUT(out, "\"input_tokens\":"));
            TW__TRY(tw__put_i64(out, a->in_tok));
            sep = ",";
        }
        if (a->out_tok >= 0) {
            TW__TRY(tw__put(out, sep, strlen(sep)));
            TW__TRY(TW__PUT(out, "\"output_tokens\":"));
            TW__TRY(tw__put_i64(out, a->out_tok));
            sep = ",";
        }
        if (a->total_tok >= 0) {
            TW__TRY(tw__put(out, sep, strlen(sep)));
            TW__TRY(TW__PUT(out, "\"total_tokens\":"));
            TW__TRY(tw__put_i64(out, a->total_tok));
        }
        TW__TRY(TW__PUT(out, "}"));
    }
    return CLOSE_EVENT();
}

static tw_code chunk_open(ev_agent *a, const tw_event *ev, tw_buf *out) {
    const char *t = tw_event_type_name(ev->type);
    TW__TRY(open_event(out, "agent_chunk", a));
    TW__TRY(TW__PUT(out, ",\"type\":\""));
    TW__TRY(tw__put(out, t, strlen(t)));
    return TW__PUT(out, "\"");
}

tw_code tw__events_encode(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    ev_state *s = e->state;
    ev_agent *a;
    if (ev->type == TW_EV_PROGRESS && !ev->source.len) {
        /* The app's own note, of no agent: no phantom "default" agent is opened for it. */
        tw_str text = ev->text;
        if (!text.ptr) text.ptr = "";
        TW__TRY(TW__PUT(out, "event: progress\ndata: {\"text\":"));
        TW__TRY(tw__put_jstr(out, text));
        return CLOSE_EVENT();
    }
    if (!(a = get_agent(s, ev->source))) return TW_ERR_NOMEM;

    if (ev->type == TW_EV_AGENT_START || (ev->type == TW_EV_START && !a->started)) {
        if (a->started) TW__TRY(agent_complete(a, a->errored ? "error" : "incomplete", out));
        a->started = 0;
        return agent_start(a, ev, out);
    }
    if (ev->type == TW_EV_AGENT_COMPLETE || ev->type == TW_EV_END) {
        /* A complete/end of an agent never started says it ran and ended with nothing. */
        if (!a->started) TW__TRY(agent_start(a, NULL, out));
        TW__TRY(agent_complete(a, a->errored ? "error" : "ok", out));
        a->started = 0;
        return TW_OK;
    }
    if (!a->started) TW__TRY(agent_start(a, NULL, out));

    switch (ev->type) {
    case TW_EV_START:
        TW__TRY(chunk_open(a, ev, out));
        OPT_STR("id", ev->id);
        OPT_STR("model", ev->name);
        return CLOSE_EVENT();
    case TW_EV_TEXT:
    case TW_EV_REASONING: {
        tw_str text = ev->text;
        if (!text.ptr) text.ptr = "";
        TW__TRY(chunk_open(a, ev, out));
        TW__TRY(TW__PUT(out, ",\"index\":"));
        TW__TRY(tw__put_i64(out, ev->index));
        OPT_STR("text", text);
        return CLOSE_EVENT();
    }
    case TW_EV_TOOL_CALL:
        a->tool_calls = 1;
        TW__TRY(chunk_open(a, ev, out));
        TW__TRY(TW__PUT(out, ",\"index\":"));
        TW__TRY(tw__put_i64(out, ev->index));
        OPT_STR("id", ev->id);
        OPT_STR("name", ev->name);
        OPT_STR("arguments", ev->arguments);
        return CLOSE_EVENT();
    case TW_EV_USAGE:
        if (ev->input_tokens >= 0) a->in_tok = ev->input_tokens;
        if (ev->output_tokens >= 0) a->out_tok = ev->output_tokens;
        if (ev->total_tokens >= 0) a->total_tok = ev->total_tokens;
        a->have_usage |= ev->input_tokens >= 0 || ev->output_tokens >= 0 || ev->total_tokens >= 0;
        TW__TRY(chunk_open(a, ev, out));
        OPT_INT("input_tokens", ev->input_tokens);
        OPT_INT("output_tokens", ev->output_tokens);
        OPT_INT("total_tokens", ev->total_tokens);
        return CLOSE_EVENT();
    case TW_EV_FINISH:
        a->finish = tw__finish_reason_openai(ev->reason);
        TW__TRY(chunk_open(a, ev, out));
        TW__TRY(TW__PUT(out, ",\"index\":"));
        TW__TRY(tw__put_i64(out, ev->index));
        OPT_STR("reason", ev->reason);
        return CLOSE_EVENT();
    case TW_EV_RAW:
        TW__TRY(chunk_open(a, ev, out));
        OPT_STR("event", ev->name);
        OPT_STR("data", ev->text);
        OPT_STR("id", ev->id);
        OPT_INT("retry", ev->retry);
        return CLOSE_EVENT();
    case TW_EV_PROGRESS: {
        tw_str text = ev->text;
        if (!text.ptr) text.ptr = "";
        TW__TRY(open_event(out, "progress", a));
        OPT_STR("text", text);
        return CLOSE_EVENT();
    }
    case TW_EV_ERROR: {
        const char *kind = tw_error_kind_name(ev->error_kind);
        if (!ev->recoverable) {
            a->errored = 1;
            s->errors++;
        }
        TW__TRY(open_event(out, "error", a));
        TW__TRY(TW__PUT(out, ",\"kind\":\""));
        TW__TRY(tw__put(out, kind, strlen(kind)));
        TW__TRY(TW__PUT(out, "\""));
        if (ev->status != 0) {
            TW__TRY(TW__PUT(out, ",\"status\":"));
            TW__TRY(tw__put_i64(out, ev->status));
        }
        OPT_STR("message", ev->text);
        OPT_STR("name", ev->name);
        if (ev->recoverable) TW__TRY(TW__PUT(out, ",\"recoverable\":true"));
        return CLOSE_EVENT();
    }
    default: return TW_OK;
    }
}

tw_code tw__events_end_phase(tw_encoder *e, tw_buf *out) {
    ev_state *s = e->state;
    for (size_t i = 0; i < s->n; i++) {
        ev_agent *a = &s->agents[i];
        if (a->started) TW__TRY(agent_complete(a, a->errored ? "error" : "incomplete", out));
    }
    for (size_t i = 0; i < s->n; i++) s->agents[i].started = 0;
    return TW_OK;
}

tw_code tw__events_close(tw_encoder *e, const tw__app *final, tw_buf *out) {
    ev_state *s = e->state;
    TW__TRY(tw__events_end_phase(e, out));
    if (final) return tw__app_sse(final, out);
    TW__TRY(TW__PUT(out, "event: complete\ndata: {\"agents\":"));
    TW__TRY(tw__put_i64(out, (int64_t)s->n));
    TW__TRY(TW__PUT(out, ",\"errors\":"));
    TW__TRY(tw__put_i64(out, s->errors));
    return TW__PUT(out, "}\n\n");
}
