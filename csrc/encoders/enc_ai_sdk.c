/*
 * enc_ai_sdk.c - the Vercel AI SDK (ai >= 5) UI message stream: SSE, one JSON part per data
 * line, ending with "data: [DONE]". Serve it with Content-Type text/event-stream and the header
 * "x-vercel-ai-ui-message-stream: v1" (tw_format_headers lists both). The client validates each
 * part against a strict zod union, so parts carry exactly the keys the protocol defines.
 *
 *   data: {"type":"start"[,"messageId":"msg_1"]}          before anything else; messageId is
 *                                                          opts.id, else the start event's id
 *   data: {"type":"start-step"}
 *   data: {"type":"text-start","id":"txt_0"}               first text of a (source, index)
 *   data: {"type":"text-delta","id":"txt_0","delta":"Hel"}
 *   data: {"type":"text-end","id":"txt_0"}                 at finish / end / tw_encoder_finish
 *   data: {"type":"reasoning-start","id":"rsn_1"}  ...-delta ...-end   likewise; an open
 *         reasoning part is ended when text or a tool call of the same source begins
 *   data: {"type":"tool-input-start","toolCallId":"call_1","toolName":"get_weather"}
 *   data: {"type":"tool-input-delta","toolCallId":"call_1","inputTextDelta":"{\"ci"}
 *   data: {"type":"tool-input-available","toolCallId":"call_1","toolName":"get_weather",
 *          "input":{"city":"Paris"}}      when the next tool call of the same source begins
 *         (providers stream parallel calls one after the other), or at finish / end; the
 *         input is the assembled arguments, validated and compacted (empty arguments -> {})
 *   data: {"type":"tool-input-error","toolCallId":..,"toolName":..,"input":"<the text>",
 *          "errorText":"invalid JSON in tool arguments: ..."}   when they are not valid JSON
 *   data: {"type":"data-progress","data":{"text":"..."[,"agent":"A"]},"transient":true}
 *   data: {"type":"error","errorText":"Overloaded"}
 *   data: {"type":"data-<name>","data":<payload>}  an app event (tw_encoder_send; "transient":true
 *         for tw_encoder_progress's data-progress {"progress":0.5[,"status":".."]})
 *   data: {"type":"finish-step"}                           at tw_encoder_finish (with phases:
 *         at each phase's end; the next phase's first part opens a new start-step)
 *   data: {"type":"finish"[,"finishReason":"stop"][,"messageMetadata":{"usage":{"inputTokens":9,
 *          "outputTokens":12,"totalTokens":21}}]}
 *   data: [DONE]
 *
 * finishReason: stop|length|content-filter|tool-calls|error|other ("error" after an error
 * event; "stop" becomes "tool-calls" when tool calls were made; omitted when no finish event
 * came). Tool call ids without an id get "call_<n>"; part ids are txt_<n> / rsn_<n>.
 * At most 64 parts are open at once (a hostile stream could open one per event index): the
 * oldest is ended first, and a later delta for it opens a new part.
 */
#include "encoders/encoder.h"

#include <stdio.h>
#include <stdlib.h>

enum { P_TEXT, P_REASONING, P_TOOL };

#define MAX_OPEN_PARTS 64

typedef struct as_part {
    int kind;
    char *src;
    size_t src_len;
    int32_t index;
    char *id; /* part id or toolCallId */
    size_t id_len;
    char *name; /* tool name */
    size_t name_len;
    tw_buf args; /* tool arguments so far */
} as_part;

typedef struct as_state {
    as_part *parts; /* open parts only */
    size_t n, cap;
    int started;   /* "start" written */
    int step_open; /* "start-step" written, its "finish-step" not yet */
    int64_t seq;
    const char *finish; /* mapped reason of the last finish event */
    int tool_calls, error;
    int have_usage;
    int64_t in_tok, out_tok, total_tok;
} as_state;

tw_code tw__ai_sdk_init(tw_encoder *e) {
    as_state *s = calloc(1, sizeof *s);
    if (!s) return TW_ERR_NOMEM;
    s->in_tok = s->out_tok = s->total_tok = -1;
    e->state = s;
    return TW_OK;
}

static void part_free(as_part *p) {
    free(p->src);
    free(p->id);
    free(p->name);
    tw_buf_free(&p->args);
}

void tw__ai_sdk_free(tw_encoder *e) {
    as_state *s = e->state;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) part_free(&s->parts[i]);
    free(s->parts);
    free(s);
    e->state = NULL;
}

static int same_src(const as_part *p, tw_str src) {
    size_t len = src.ptr ? src.len : 0;
    return p->src_len == len && (len == 0 || memcmp(p->src, src.ptr, len) == 0);
}

static as_part *find_part(as_state *s, int kind, tw_str src, int32_t index) {
    for (size_t i = 0; i < s->n; i++) {
        as_part *p = &s->parts[i];
        if (p->kind == kind && p->index == index && same_src(p, src)) return p;
    }
    return NULL;
}

static void remove_part(as_state *s, as_part *p) {
    size_t i = (size_t)(p - s->parts);
    part_free(p);
    memmove(&s->parts[i], &s->parts[i + 1], (s->n - i - 1) * sizeof *p);
    s->n--;
}

static as_part *add_part(as_state *s, int kind, tw_str src, int32_t index, tw_str id) {
    as_part *p;
    char gen[40];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        as_part *q = realloc(s->parts, cap * sizeof *q);
        if (!q) return NULL;
        s->parts = q;
        s->cap = cap;
    }
    p = &s->parts[s->n];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->index = index;
    if (!id.ptr || !id.len) {
        static const char *const prefixes[] = {"txt_", "rsn_", "call_"};
        id.len = (size_t)snprintf(gen, sizeof gen, "%s%lld", prefixes[kind], (long long)s->seq);
        id.ptr = gen;
    }
    s->seq++;
    p->id = tw__strndup(id.ptr, id.len);
    p->id_len = id.len;
    p->src_len = src.ptr ? src.len : 0;
    p->src = p->src_len ? tw__strndup(src.ptr, src.len) : NULL;
    if (!p->id || (p->src_len && !p->src)) {
        part_free(p);
        return NULL;
    }
    s->n++;
    return p;
}

static tw_code put_id_part(tw_buf *out, const char *type, size_t tlen, const as_part *p) {
    TW__TRY(TW__PUT(out, "data: {\"type\":\""));
    TW__TRY(tw__put(out, type, tlen));
    TW__TRY(TW__PUT(out, "\",\"id\":"));
    TW__TRY(tw_json_escape(out, p->id, p->id_len));
    return TW__PUT(out, "}\n\n");
}

static tw_code put_tool_head(tw_buf *out, const char *type, size_t tlen, const as_part *p) {
    TW__TRY(TW__PUT(out, "data: {\"type\":\""));
    TW__TRY(tw__put(out, type, tlen));
    TW__TRY(TW__PUT(out, "\",\"toolCallId\":"));
    TW__TRY(tw_json_escape(out, p->id, p->id_len));
    TW__TRY(TW__PUT(out, ",\"toolName\":"));
    return tw_json_escape(out, p->name ? p->name : "", p->name_len);
}

/* Ends an open text/reasoning part, or delivers a tool call's assembled input. */
static tw_code close_part(as_state *s, as_part *p, tw_buf *out) {
    if (p->kind == P_TEXT) {
        TW__TRY(put_id_part(out, "text-end", 8, p));
    } else if (p->kind == P_REASONING) {
        TW__TRY(put_id_part(out, "reasoning-end", 13, p));
    } else {
        const char *why = NULL;
        size_t i = 0, part_start = out->len;
        tw_code rc;
        while (i < p->args.len && (p->args.data[i] == ' ' || p->args.data[i] == '\t' ||
                                   p->args.data[i] == '\n' || p->args.data[i] == '\r'))
            i++;
        TW__TRY(put_tool_head(out, "tool-input-available", 20, p));
        TW__TRY(TW__PUT(out, ",\"input\":"));
        if (i == p->args.len) {
            rc = TW__PUT(out, "{}"); /* no arguments at all: an empty object, as OpenAI means */
        } else {
            rc = tw__json_compact(out, p->args.data, p->args.len, &why);
        }
        if (rc == TW_ERR_JSON) {
            /* Rewrite the part as tool-input-error carrying the raw text. */
            out->len = part_start;
            TW__TRY(put_tool_head(out, "tool-input-error", 16, p));
            TW__TRY(TW__PUT(out, ",\"input\":"));
            TW__TRY(tw_json_escape(out, p->args.data, p->args.len));
            TW__TRY(TW__PUT(out, ",\"errorText\":\"invalid JSON in tool arguments: "));
            TW__TRY(tw__put(out, why ? why : "parse error", strlen(why ? why : "parse error")));
            TW__TRY(TW__PUT(out, "\"}\n\n"));
            remove_part(s, p);
            return TW_OK;
        }
        TW__TRY(rc);
        TW__TRY(TW__PUT(out, "}\n\n"));
    }
    remove_part(s, p);
    return TW_OK;
}

/* Closes the open parts of src matching kind_mask (1 << kind). */
static tw_code close_parts(as_state *s, tw_str src, int all_sources, unsigned kind_mask,
                           tw_buf *out) {
    size_t i = 0;
    while (i < s->n) {
        as_part *p = &s->parts[i];
        if ((kind_mask & (1u << p->kind)) && (all_sources || same_src(p, src))) {
            TW__TRY(close_part(s, p, out)); /* removes p: do not advance */
        } else {
            i++;
        }
    }
    return TW_OK;
}

static tw_code make_room(as_state *s, tw_buf *out) {
    if (s->n < MAX_OPEN_PARTS) return TW_OK;
    return close_part(s, &s->parts[0], out);
}

/* The message's "start" part, once. */
static tw_code ensure_message(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    as_state *s = e->state;
    if (s->started) return TW_OK;
    TW__TRY(TW__PUT(out, "data: {\"type\":\"start\""));
    if (e->opt_id) {
        TW__TRY(TW__PUT(out, ",\"messageId\":"));
        TW__TRY(tw__put_jcstr(out, e->opt_id));
    } else if (ev && ev->type == TW_EV_START && ev->id.ptr && ev->id.len) {
        TW__TRY(TW__PUT(out, ",\"messageId\":"));
        TW__TRY(tw__put_jstr(out, ev->id));
    }
    TW__TRY(TW__PUT(out, "}\n\n"));
    s->started = 1;
    return TW_OK;
}

/* "start" once, then a step open ("start-step": each phase of a relay is one step). */
static tw_code ensure_started(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    as_state *s = e->state;
    TW__TRY(ensure_message(e, ev, out));
    if (s->step_open) return TW_OK;
    TW__TRY(TW__PUT(out, "data: {\"type\":\"start-step\"}\n\n"));
    s->step_open = 1;
    return TW_OK;
}

static tw_code encode_delta(tw_encoder *e, const tw_event *ev, tw_buf *out, int kind) {
    as_state *s = e->state;
    as_part *p;
    if (!ev->text.ptr || ev->text.len == 0) return TW_OK;
    TW__TRY(ensure_started(e, ev, out));
    p = find_part(s, kind, ev->source, ev->index);
    if (!p) {
        tw_str none = {NULL, 0};
        if (kind == P_TEXT) TW__TRY(close_parts(s, ev->source, 0, 1u << P_REASONING, out));
        TW__TRY(make_room(s, out));
        if (!(p = add_part(s, kind, ev->source, ev->index, none))) return TW_ERR_NOMEM;
        TW__TRY(kind == P_TEXT ? put_id_part(out, "text-start", 10, p)
                               : put_id_part(out, "reasoning-start", 15, p));
    }
    TW__TRY(TW__PUT(out, "data: {\"type\":\""));
    TW__TRY(kind == P_TEXT ? TW__PUT(out, "text-delta") : TW__PUT(out, "reasoning-delta"));
    TW__TRY(TW__PUT(out, "\",\"id\":"));
    TW__TRY(tw_json_escape(out, p->id, p->id_len));
    TW__TRY(TW__PUT(out, ",\"delta\":"));
    TW__TRY(tw__put_jstr(out, ev->text));
    return TW__PUT(out, "}\n\n");
}

static tw_code encode_tool(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    as_state *s = e->state;
    as_part *p;
    TW__TRY(ensure_started(e, ev, out));
    s->tool_calls = 1;
    p = find_part(s, P_TOOL, ev->source, ev->index);
    if (p && ev->id.ptr && ev->id.len &&
        !(p->id_len == ev->id.len && memcmp(p->id, ev->id.ptr, ev->id.len) == 0)) {
        TW__TRY(close_part(s, p, out)); /* a new call reusing the index */
        p = NULL;
    }
    if (!p) {
        /* A new call: the earlier ones of this source are complete, and reasoning is over. */
        TW__TRY(close_parts(s, ev->source, 0, (1u << P_REASONING) | (1u << P_TOOL), out));
        TW__TRY(make_room(s, out));
        if (!(p = add_part(s, P_TOOL, ev->source, ev->index, ev->id))) return TW_ERR_NOMEM;
        if (ev->name.ptr && ev->name.len) {
            if (!(p->name = tw__strndup(ev->name.ptr, ev->name.len))) return TW_ERR_NOMEM;
            p->name_len = ev->name.len;
        }
        TW__TRY(put_tool_head(out, "tool-input-start", 16, p));
        TW__TRY(TW__PUT(out, "}\n\n"));
    }
    if (ev->arguments.ptr && ev->arguments.len) {
        TW__TRY(tw__put(&p->args, ev->arguments.ptr, ev->arguments.len));
        TW__TRY(TW__PUT(out, "data: {\"type\":\"tool-input-delta\",\"toolCallId\":"));
        TW__TRY(tw_json_escape(out, p->id, p->id_len));
        TW__TRY(TW__PUT(out, ",\"inputTextDelta\":"));
        TW__TRY(tw__put_jstr(out, ev->arguments));
        TW__TRY(TW__PUT(out, "}\n\n"));
    }
    return TW_OK;
}

static tw_code encode_error(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    as_state *s = e->state;
    TW__TRY(ensure_started(e, ev, out));
    s->error = 1;
    TW__TRY(TW__PUT(out, "data: {\"type\":\"error\",\"errorText\":"));
    if (ev->text.ptr && ev->text.len) {
        TW__TRY(tw__put_jstr(out, ev->text));
    } else {
        const char *k = tw_error_kind_name(ev->error_kind);
        TW__TRY(TW__PUT(out, "\""));
        TW__TRY(tw__put(out, k, strlen(k)));
        TW__TRY(TW__PUT(out, " error\""));
    }
    return TW__PUT(out, "}\n\n");
}

tw_code tw__ai_sdk_encode(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    as_state *s = e->state;
    switch (ev->type) {
    case TW_EV_START: return ensure_started(e, ev, out);
    case TW_EV_TEXT: return encode_delta(e, ev, out, P_TEXT);
    case TW_EV_REASONING: return encode_delta(e, ev, out, P_REASONING);
    case TW_EV_TOOL_CALL: return encode_tool(e, ev, out);
    case TW_EV_FINISH:
        s->finish = tw__finish_reason_ai_sdk(ev->reason);
        return close_parts(s, ev->source, 0, ~0u, out);
    case TW_EV_END:
    case TW_EV_AGENT_COMPLETE: /* a merged source's end (the framer does not forward END) */
        return close_parts(s, ev->source, 0, ~0u, out);
    case TW_EV_USAGE:
        if (ev->input_tokens >= 0) s->in_tok = ev->input_tokens;
        if (ev->output_tokens >= 0) s->out_tok = ev->output_tokens;
        if (ev->total_tokens >= 0) s->total_tok = ev->total_tokens;
        s->have_usage |= ev->input_tokens >= 0 || ev->output_tokens >= 0 || ev->total_tokens >= 0;
        return TW_OK;
    case TW_EV_ERROR:
        /* One bad upstream event: a comment, since these clients end at any error object. */
        if (ev->recoverable) return tw__put_sse_comment(out, "recoverable error: ", ev->text);
        return encode_error(e, ev, out);
    case TW_EV_PROGRESS:
        TW__TRY(ensure_started(e, ev, out));
        TW__TRY(TW__PUT(out, "data: {\"type\":\"data-progress\",\"data\":{\"text\":"));
        TW__TRY(tw__put_jstr(out, ev->text));
        if (ev->source.ptr) {
            TW__TRY(TW__PUT(out, ",\"agent\":"));
            TW__TRY(tw__put_jstr(out, ev->source));
        }
        return TW__PUT(out, "},\"transient\":true}\n\n");
    default: return TW_OK;
    }
}

tw_code tw__ai_sdk_end_phase(tw_encoder *e, tw_buf *out) {
    as_state *s = e->state;
    tw_str none = {NULL, 0};
    if (!s->step_open) return TW_OK;
    TW__TRY(close_parts(s, none, 1, ~0u, out));
    TW__TRY(TW__PUT(out, "data: {\"type\":\"finish-step\"}\n\n"));
    s->step_open = 0;
    return TW_OK;
}

tw_code tw__ai_sdk_app(tw_encoder *e, const tw__app *a, tw_buf *out) {
    size_t at;
    TW__TRY(ensure_message(e, NULL, out));
    TW__TRY(TW__PUT(out, "data: {\"type\":\"data-"));
    /* The name inside the JSON string "data-<name>": escaped, its own quotes dropped. */
    at = out->len;
    TW__TRY(tw_json_escape(out, a->name.ptr, a->name.len));
    memmove(out->data + at, out->data + at + 1, out->len - at - 2);
    out->len -= 2;
    TW__TRY(TW__PUT(out, "\",\"data\":"));
    TW__TRY(tw__put(out, a->json.ptr, a->json.len));
    return a->progress ? TW__PUT(out, ",\"transient\":true}\n\n") : TW__PUT(out, "}\n\n");
}

tw_code tw__ai_sdk_close(tw_encoder *e, const tw__app *final, tw_buf *out) {
    as_state *s = e->state;
    const char *reason = s->finish;
    /* A relay that wrote nothing still has its one step (as a single-source relay does). */
    if (!s->started) TW__TRY(ensure_started(e, NULL, out));
    TW__TRY(tw__ai_sdk_end_phase(e, out));
    if (final) TW__TRY(tw__ai_sdk_app(e, final, out));
    if (s->error) {
        reason = "error";
    } else if (reason && s->tool_calls && strcmp(reason, "stop") == 0) {
        reason = "tool-calls";
    }
    TW__TRY(TW__PUT(out, "data: {\"type\":\"finish\""));
    if (reason) {
        TW__TRY(TW__PUT(out, ",\"finishReason\":\""));
        TW__TRY(tw__put(out, reason, strlen(reason)));
        TW__TRY(TW__PUT(out, "\""));
    }
    if (s->have_usage) {
        const char *sep = "";
        TW__TRY(TW__PUT(out, ",\"messageMetadata\":{\"usage\":{"));
        if (s->in_tok >= 0) {
            TW__TRY(TW__PUT(out, "\"inputTokens\":"));
            TW__TRY(tw__put_i64(out, s->in_tok));
            sep = ",";
        }
        if (s->out_tok >= 0) {
            TW__TRY(tw__put(out, sep, strlen(sep)));
            TW__TRY(TW__PUT(out, "\"outputTokens\":"));
            TW__TRY(tw__put_i64(out, s->out_tok));
            sep = ",";
        }
        if (s->total_tok >= 0 || (s->in_tok >= 0 && s->out_tok >= 0)) {
            TW__TRY(tw__put(out, sep, strlen(sep)));
            TW__TRY(TW__PUT(out, "\"totalTokens\":"));
            TW__TRY(tw__put_i64(out, s->total_tok >= 0 ? s->total_tok : s->in_tok + s->out_tok));
        }
        TW__TRY(TW__PUT(out, "}}"));
    }
    return TW__PUT(out, "}\n\ndata: [DONE]\n\n");
}
