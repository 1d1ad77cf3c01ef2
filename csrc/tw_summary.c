/* tw_summary.c - a stream's result assembled from its events (rules in tw_summary.h). */
#include "tw_summary.h"
#include "tw_encoder.h" /* tw_json_escape */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- finish reasons ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    tw_finish finish;
} reasons[] = {
    {"stop", TW_FINISH_STOP},                  /* OpenAI, Gemini STOP, Ollama */
    {"end_turn", TW_FINISH_STOP},              /* Anthropic */
    {"stop_sequence", TW_FINISH_STOP},         /* Anthropic */
    {"completed", TW_FINISH_STOP},             /* OpenAI Responses status */
    {"finish_reason_stop", TW_FINISH_STOP},    /* Vertex enum spelling */
    {"eos", TW_FINISH_STOP},                   /* some local servers */
    {"length", TW_FINISH_LENGTH},              /* OpenAI, Ollama */
    {"max_tokens", TW_FINISH_LENGTH},          /* Anthropic, Gemini MAX_TOKENS */
    {"max_output_tokens", TW_FINISH_LENGTH},   /* OpenAI Responses incomplete_details.reason */
    {"model_context_window_exceeded", TW_FINISH_LENGTH}, /* Anthropic */
    {"tool_calls", TW_FINISH_TOOL_CALLS},      /* OpenAI */
    {"tool_use", TW_FINISH_TOOL_CALLS},        /* Anthropic */
    {"function_call", TW_FINISH_TOOL_CALLS},   /* OpenAI legacy */
    {"content_filter", TW_FINISH_CONTENT_FILTER}, /* OpenAI, Azure, Responses */
    {"safety", TW_FINISH_CONTENT_FILTER},      /* Gemini */
    {"recitation", TW_FINISH_CONTENT_FILTER},  /* Gemini */
    {"blocklist", TW_FINISH_CONTENT_FILTER},   /* Gemini */
    {"prohibited_content", TW_FINISH_CONTENT_FILTER}, /* Gemini */
    {"spii", TW_FINISH_CONTENT_FILTER},        /* Gemini */
    {"image_safety", TW_FINISH_CONTENT_FILTER}, /* Gemini */
    {"language", TW_FINISH_CONTENT_FILTER},    /* Gemini: unsupported language, blocked */
    {"refusal", TW_FINISH_CONTENT_FILTER},     /* Anthropic */
    {"error", TW_FINISH_ERROR},                /* generic */
    {"failed", TW_FINISH_ERROR},               /* OpenAI Responses status */
    {"malformed_function_call", TW_FINISH_ERROR}, /* Gemini */
};

tw_finish tw_finish_from_reason(tw_str r) {
    size_t n = r.ptr ? r.len : 0;
    if (n == 0) return TW_FINISH_NONE;
    for (size_t k = 0; k < sizeof reasons / sizeof reasons[0]; k++) {
        const char *name = reasons[k].name;
        size_t i;
        if (strlen(name) != n) continue;
        for (i = 0; i < n; i++) {
            char ch = r.ptr[i];
            if (ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
            if (ch != name[i]) break;
        }
        if (i == n) return reasons[k].finish;
    }
    return TW_FINISH_OTHER;
}

const char *tw_finish_name(tw_finish f) {
    static const char *const names[TW_FINISH__LAST] = {
        [TW_FINISH_STOP] = "stop",           [TW_FINISH_LENGTH] = "length",
        [TW_FINISH_TOOL_CALLS] = "tool_calls", [TW_FINISH_CONTENT_FILTER] = "content_filter",
        [TW_FINISH_ERROR] = "error",         [TW_FINISH_OTHER] = "other",
    };
    if ((int)f <= 0 || f >= TW_FINISH__LAST) return NULL;
    return names[f];
}

/* ---- the summary ----------------------------------------------------------------------------- */

typedef struct choice {
    tw_buf text, reasoning, finish_raw;
    uint64_t text_bytes, reasoning_bytes;
    tw_finish finish;
} choice;

typedef struct call {
    int32_t index;
    tw_buf id, name, args;
} call;

/* Choice indexes beyond this are folded into the last slot: a hostile or broken upstream must
 * not make us allocate per index value. */
#define MAX_CHOICES 1024
#define MAX_CALLS 4096

struct tw_summary {
    int accumulate;
    int by_choice; /* event indexes are choices */
    choice *ch;
    int32_t n_ch;
    call *calls;
    size_t n_calls, cap_calls;
    int64_t in_tok, out_tok, total_tok;
    int have_usage;
    tw_buf id, model;
    tw_event_type end;
    tw_error_kind err_kind;
    int32_t err_status;
    tw_buf err_msg;
    uint64_t recoverable;
};

tw_summary *tw_summary_new(int accumulate, int indexes_choices) {
    tw_summary *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->accumulate = accumulate;
    s->by_choice = indexes_choices;
    s->in_tok = s->out_tok = s->total_tok = -1;
    return s;
}

static void choice_free(choice *c) {
    tw_buf_free(&c->text);
    tw_buf_free(&c->reasoning);
    tw_buf_free(&c->finish_raw);
}

void tw_summary_free(tw_summary *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->n_ch; i++) choice_free(&s->ch[i]);
    free(s->ch);
    for (size_t i = 0; i < s->n_calls; i++) {
        tw_buf_free(&s->calls[i].id);
        tw_buf_free(&s->calls[i].name);
        tw_buf_free(&s->calls[i].args);
    }
    free(s->calls);
    tw_buf_free(&s->id);
    tw_buf_free(&s->model);
    tw_buf_free(&s->err_msg);
    free(s);
}

static tw_code set_buf(tw_buf *b, tw_str v) {
    b->len = 0;
    return v.len ? tw_buf_append(b, v.ptr, v.len) : TW_OK;
}

static tw_code copy_buf(tw_buf *dst, const tw_buf *src) {
    tw_buf_init(dst);
    return src->len ? tw_buf_append(dst, src->data, src->len) : TW_OK;
}

tw_summary *tw_summary_copy(const tw_summary *s) {
    tw_summary *c;
    tw_code rc = TW_OK;
    if (!s) return NULL;
    c = tw_summary_new(s->accumulate, s->by_choice);
    if (!c) return NULL;
    c->in_tok = s->in_tok;
    c->out_tok = s->out_tok;
    c->total_tok = s->total_tok;
    c->have_usage = s->have_usage;
    c->end = s->end;
    c->err_kind = s->err_kind;
    c->err_status = s->err_status;
    c->recoverable = s->recoverable;
    if (s->n_ch) {
        c->ch = calloc((size_t)s->n_ch, sizeof *c->ch);
        if (!c->ch) goto fail;
        c->n_ch = s->n_ch;
        for (int32_t i = 0; i < s->n_ch && rc == TW_OK; i++) {
            c->ch[i].text_bytes = s->ch[i].text_bytes;
            c->ch[i].reasoning_bytes = s->ch[i].reasoning_bytes;
            c->ch[i].finish = s->ch[i].finish;
            if ((rc = copy_buf(&c->ch[i].text, &s->ch[i].text)) == TW_OK &&
                (rc = copy_buf(&c->ch[i].reasoning, &s->ch[i].reasoning)) == TW_OK)
                rc = copy_buf(&c->ch[i].finish_raw, &s->ch[i].finish_raw);
        }
    }
    if (s->n_calls && rc == TW_OK) {
        c->calls = calloc(s->n_calls, sizeof *c->calls);
        if (!c->calls) goto fail;
        c->n_calls = c->cap_calls = s->n_calls;
        for (size_t i = 0; i < s->n_calls && rc == TW_OK; i++) {
            c->calls[i].index = s->calls[i].index;
            if ((rc = copy_buf(&c->calls[i].id, &s->calls[i].id)) == TW_OK &&
                (rc = copy_buf(&c->calls[i].name, &s->calls[i].name)) == TW_OK)
                rc = copy_buf(&c->calls[i].args, &s->calls[i].args);
        }
    }
    if (rc == TW_OK && (rc = copy_buf(&c->id, &s->id)) == TW_OK &&
        (rc = copy_buf(&c->model, &s->model)) == TW_OK)
        rc = copy_buf(&c->err_msg, &s->err_msg);
    if (rc == TW_OK) return c;
fail:
    tw_summary_free(c);
    return NULL;
}

static choice *get_choice(tw_summary *s, int32_t index) {
    if (index < 0) index = 0;
    if (index >= MAX_CHOICES) index = MAX_CHOICES - 1;
    if (index >= s->n_ch) {
        choice *p = realloc(s->ch, (size_t)(index + 1) * sizeof *p);
        if (!p) return NULL;
        memset(p + s->n_ch, 0, (size_t)(index + 1 - s->n_ch) * sizeof *p);
        s->ch = p;
        s->n_ch = index + 1;
    }
    return &s->ch[index];
}

static call *get_call(tw_summary *s, int32_t index) {
    for (size_t i = s->n_calls; i-- > 0;)
        if (s->calls[i].index == index) return &s->calls[i];
    if (s->n_calls >= MAX_CALLS) return &s->calls[s->n_calls - 1];
    if (s->n_calls == s->cap_calls) {
        size_t cap = s->cap_calls ? s->cap_calls * 2 : 4;
        call *p = realloc(s->calls, cap * sizeof *p);
        if (!p) return NULL;
        s->calls = p;
        s->cap_calls = cap;
    }
    memset(&s->calls[s->n_calls], 0, sizeof s->calls[0]);
    s->calls[s->n_calls].index = index;
    return &s->calls[s->n_calls++];
}

tw_code tw_summary_add(tw_summary *s, const tw_event *ev) {
    choice *c;
    call *k;
    if (!s || !ev) return TW_ERR_INVALID_ARG;
    switch (ev->type) {
    case TW_EV_START:
        if (ev->id.len && !s->id.len && set_buf(&s->id, ev->id)) return TW_ERR_NOMEM;
        if (ev->name.len && !s->model.len && set_buf(&s->model, ev->name)) return TW_ERR_NOMEM;
        return TW_OK;
    case TW_EV_TEXT:
    case TW_EV_REASONING: {
        int text = ev->type == TW_EV_TEXT;
        if (!(c = get_choice(s, s->by_choice ? ev->index : 0))) return TW_ERR_NOMEM;
        *(text ? &c->text_bytes : &c->reasoning_bytes) += ev->text.len;
        if (!s->accumulate || !ev->text.len) return TW_OK;
        return tw_buf_append(text ? &c->text : &c->reasoning, ev->text.ptr, ev->text.len);
    }
    case TW_EV_TOOL_CALL:
        if (!(k = get_call(s, ev->index))) return TW_ERR_NOMEM;
        /* The first non-empty id and name win: later fragments repeat or omit them. */
        if (ev->id.len && !k->id.len && set_buf(&k->id, ev->id)) return TW_ERR_NOMEM;
        if (ev->name.len && !k->name.len && set_buf(&k->name, ev->name)) return TW_ERR_NOMEM;
        return ev->arguments.len ? tw_buf_append(&k->args, ev->arguments.ptr, ev->arguments.len)
                                 : TW_OK;
    case TW_EV_USAGE:
        s->have_usage = 1;
        if (ev->input_tokens >= 0) s->in_tok = ev->input_tokens;
        if (ev->output_tokens >= 0) s->out_tok = ev->output_tokens;
        if (ev->total_tokens >= 0) s->total_tok = ev->total_tokens;
        return TW_OK;
    case TW_EV_FINISH:
        if (!(c = get_choice(s, s->by_choice ? ev->index : 0))) return TW_ERR_NOMEM;
        c->finish = tw_finish_from_reason(ev->reason);
        if (c->finish == TW_FINISH_NONE) c->finish = TW_FINISH_OTHER;
        return set_buf(&c->finish_raw, ev->reason);
    case TW_EV_ERROR:
        if (ev->recoverable) {
            s->recoverable++;
            return TW_OK;
        }
        s->end = TW_EV_ERROR;
        s->err_kind = ev->error_kind;
        s->err_status = ev->status;
        return set_buf(&s->err_msg, ev->text);
    case TW_EV_END:
        if (!s->end) s->end = TW_EV_END;
        return TW_OK;
    default:
        return TW_OK;
    }
}

static tw_str buf_str(const tw_buf *b) { return (tw_str){b->len ? b->data : NULL, b->len}; }

static const choice *choice_at(const tw_summary *s, int32_t i) {
    return s && i >= 0 && i < s->n_ch ? &s->ch[i] : NULL;
}

int tw_summary_accumulates(const tw_summary *s) { return s ? s->accumulate : 0; }

int32_t tw_summary_choices(const tw_summary *s) { return s ? s->n_ch : 0; }

tw_str tw_summary_text(const tw_summary *s, int32_t i) {
    const choice *c = choice_at(s, i);
    return c ? buf_str(&c->text) : (tw_str){NULL, 0};
}

tw_str tw_summary_reasoning(const tw_summary *s, int32_t i) {
    const choice *c = choice_at(s, i);
    return c ? buf_str(&c->reasoning) : (tw_str){NULL, 0};
}

uint64_t tw_summary_text_bytes(const tw_summary *s, int32_t i) {
    const choice *c = choice_at(s, i);
    return c ? c->text_bytes : 0;
}

uint64_t tw_summary_reasoning_bytes(const tw_summary *s, int32_t i) {
    const choice *c = choice_at(s, i);
    return c ? c->reasoning_bytes : 0;
}

tw_finish tw_summary_finish(const tw_summary *s, int32_t i) {
    const choice *c = choice_at(s, i);
    return c ? c->finish : TW_FINISH_NONE;
}

tw_str tw_summary_finish_raw(const tw_summary *s, int32_t i) {
    const choice *c = choice_at(s, i);
    return c ? buf_str(&c->finish_raw) : (tw_str){NULL, 0};
}

size_t tw_summary_tool_calls(const tw_summary *s) { return s ? s->n_calls : 0; }

int tw_summary_tool_call(const tw_summary *s, size_t i, tw_tool_call *out) {
    if (!s || !out || i >= s->n_calls) return -1;
    out->index = s->calls[i].index;
    out->id = buf_str(&s->calls[i].id);
    out->name = buf_str(&s->calls[i].name);
    out->arguments = buf_str(&s->calls[i].args);
    return 0;
}

int tw_summary_usage(const tw_summary *s, int64_t *input, int64_t *output, int64_t *total) {
    int64_t t;
    if (!s) return 0;
    t = s->total_tok;
    if (t < 0 && s->in_tok >= 0 && s->out_tok >= 0) t = s->in_tok + s->out_tok;
    if (input) *input = s->in_tok;
    if (output) *output = s->out_tok;
    if (total) *total = t;
    return s->have_usage;
}

tw_str tw_summary_id(const tw_summary *s) { return s ? buf_str(&s->id) : (tw_str){NULL, 0}; }

tw_str tw_summary_model(const tw_summary *s) {
    return s ? buf_str(&s->model) : (tw_str){NULL, 0};
}

tw_event_type tw_summary_end(const tw_summary *s, tw_error_kind *kind, int32_t *status,
                             tw_str *message) {
    if (!s) return (tw_event_type)0;
    if (kind) *kind = s->end == TW_EV_ERROR ? s->err_kind : TW_KIND_NONE;
    if (status) *status = s->end == TW_EV_ERROR ? s->err_status : 0;
    if (message) *message = s->end == TW_EV_ERROR ? buf_str(&s->err_msg) : (tw_str){NULL, 0};
    return s->end;
}

uint64_t tw_summary_recoverable_errors(const tw_summary *s) { return s ? s->recoverable : 0; }

/* ---- JSON ------------------------------------------------------------------------------- */

#define PUT(lit) tw_buf_append(out, lit, sizeof lit - 1)
#define TRY(x)                                                                                 \
    do {                                                                                       \
        tw_code rc_ = (x);                                                                     \
        if (rc_ != TW_OK) return rc_;                                                          \
    } while (0)

static tw_code put_str_or_null(tw_buf *out, tw_str v, int null_when_empty) {
    if (!v.ptr && null_when_empty) return PUT("null");
    return tw_json_escape(out, v.ptr ? v.ptr : "", v.ptr ? v.len : 0);
}

static tw_code put_i64(tw_buf *out, int64_t v) {
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", (long long)v);
    return tw_buf_append(out, num, (size_t)n);
}

static tw_code put_tokens(tw_buf *out, int64_t v) { return v < 0 ? PUT("null") : put_i64(out, v); }

static tw_code put_finish(tw_buf *out, const tw_summary *s, int32_t i) {
    const char *f = tw_finish_name(tw_summary_finish(s, i));
    TRY(PUT("\"finish_reason\":"));
    if (f) {
        TRY(PUT("\""));
        TRY(tw_buf_append(out, f, strlen(f)));
        TRY(PUT("\""));
    } else {
        TRY(PUT("null"));
    }
    TRY(PUT(",\"finish_reason_raw\":"));
    return put_str_or_null(out, tw_summary_finish_raw(s, i), 1);
}

tw_code tw_summary_to_json(const tw_summary *s, tw_buf *out) {
    int64_t in, outt, total;
    tw_error_kind kind;
    int32_t status;
    tw_str msg;
    tw_event_type end;
    if (!s || !out) return TW_ERR_INVALID_ARG;
    TRY(PUT("{\"id\":"));
    TRY(put_str_or_null(out, tw_summary_id(s), 1));
    TRY(PUT(",\"model\":"));
    TRY(put_str_or_null(out, tw_summary_model(s), 1));
    TRY(PUT(",\"text\":"));
    TRY(s->accumulate ? put_str_or_null(out, tw_summary_text(s, 0), 0) : PUT("null"));
    TRY(PUT(",\"reasoning\":"));
    TRY(s->accumulate ? put_str_or_null(out, tw_summary_reasoning(s, 0), 0) : PUT("null"));
    TRY(PUT(","));
    TRY(put_finish(out, s, 0));
    TRY(PUT(",\"choices\":["));
    for (int32_t i = 0; i < s->n_ch; i++) {
        if (i) TRY(PUT(","));
        TRY(PUT("{\"index\":"));
        TRY(put_i64(out, i));
        TRY(PUT(",\"text\":"));
        TRY(s->accumulate ? put_str_or_null(out, tw_summary_text(s, i), 0) : PUT("null"));
        TRY(PUT(",\"reasoning\":"));
        TRY(s->accumulate ? put_str_or_null(out, tw_summary_reasoning(s, i), 0) : PUT("null"));
        TRY(PUT(","));
        TRY(put_finish(out, s, i));
        TRY(PUT("}"));
    }
    TRY(PUT("],\"tool_calls\":["));
    for (size_t i = 0; i < s->n_calls; i++) {
        tw_tool_call c;
        tw_summary_tool_call(s, i, &c);
        if (i) TRY(PUT(","));
        TRY(PUT("{\"index\":"));
        TRY(put_i64(out, c.index));
        TRY(PUT(",\"id\":"));
        TRY(put_str_or_null(out, c.id, 1));
        TRY(PUT(",\"name\":"));
        TRY(put_str_or_null(out, c.name, 1));
        TRY(PUT(",\"arguments\":"));
        TRY(put_str_or_null(out, c.arguments, 0));
        TRY(PUT("}"));
    }
    TRY(PUT("],\"usage\":"));
    if (tw_summary_usage(s, &in, &outt, &total)) {
        TRY(PUT("{\"input_tokens\":"));
        TRY(put_tokens(out, in));
        TRY(PUT(",\"output_tokens\":"));
        TRY(put_tokens(out, outt));
        TRY(PUT(",\"total_tokens\":"));
        TRY(put_tokens(out, total));
        TRY(PUT("}"));
    } else {
        TRY(PUT("null"));
    }
    end = tw_summary_end(s, &kind, &status, &msg);
    TRY(PUT(",\"end\":"));
    TRY(end == TW_EV_END ? PUT("\"end\"") : end == TW_EV_ERROR ? PUT("\"error\"") : PUT("null"));
    TRY(PUT(",\"error\":"));
    if (end == TW_EV_ERROR) {
        const char *k = tw_error_kind_name(kind);
        TRY(PUT("{\"kind\":\""));
        TRY(tw_buf_append(out, k, strlen(k)));
        TRY(PUT("\",\"status\":"));
        TRY(put_i64(out, status));
        TRY(PUT(",\"message\":"));
        TRY(put_str_or_null(out, msg, 0));
        TRY(PUT("}"));
    } else {
        TRY(PUT("null"));
    }
    TRY(PUT(",\"recoverable_errors\":"));
    TRY(put_i64(out, (int64_t)s->recoverable));
    return PUT("}");
}
