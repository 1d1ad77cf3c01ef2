/*
 * enc_openai.c - normalized events -> OpenAI chat.completion.chunk SSE, the way OpenAI sends
 * it, so that any OpenAI client (openai-python, openai-node, LangChain, ...) can read a relay of
 * any provider.
 *
 *   data: {"id":"chatcmpl-...","object":"chat.completion.chunk","created":1730000000,
 *          "model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},
 *          "logprobs":null,"finish_reason":null}]}
 *
 * - The first delta of each choice carries "role":"assistant".
 * - text -> delta.content; reasoning -> delta.reasoning_content (DeepSeek / vLLM spelling).
 * - tool_call -> delta.tool_calls[{index, id, type:"function", function:{name, arguments}}] on a
 *   call's first fragment, then {index, function:{arguments}}. Tool calls are numbered 0, 1, 2...
 *   per choice in order of appearance (openai-python indexes its snapshot list with them), a
 *   fragment whose id differs from the call open at its event index starts a new call, and a
 *   call without an id gets "call_<n>".
 * - finish -> a chunk with delta {} and finish_reason mapped to OpenAI's set (end_turn -> stop,
 *   max_tokens / MAX_TOKENS -> length, tool_use -> tool_calls, SAFETY -> content_filter, ...;
 *   unknown -> stop). A "stop" on a choice that made tool calls becomes "tool_calls" (Gemini and
 *   Ollama say STOP after a function call; agent loops test for "tool_calls").
 * - usage is accumulated (the latest figure of each field wins) and sent at the end as OpenAI
 *   does with stream_options.include_usage: a chunk with "choices":[] and
 *   "usage":{"prompt_tokens","completion_tokens","total_tokens"}.
 * - error -> data: {"error":{"message","type","param":null,"code"}} (what the SDKs raise on).
 * - start sets the id and model of the chunks (until the first chunk is written);
 *   end, raw, progress and agent events write nothing. tw_encoder_finish writes the usage chunk
 *   and "data: [DONE]" (with phases, tw_encoder_close does: a phase's end writes nothing).
 * - app events (tw_encoder_send): named SSE events "event: <name>\ndata: <payload>" for
 *   browsers; OpenAI SDKs read them as chunks (openai-python 3.x: a chunk without choices, or
 *   an APIError when the payload has an "error" key), so relays for SDKs send none. A final
 *   app event goes after the usage chunk.
 * - Which choice an event lands in: see tw_encoder_opts.index_is_choice.
 */
#include "encoders/encoder.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct oa_choice {
    int32_t index;
    int role_sent;
    int ntools; /* tool calls begun in this choice */
} oa_choice;

typedef struct oa_tool {
    int32_t choice; /* choice index */
    int32_t key;    /* event index */
    int32_t ordinal;
    char *id;
    size_t id_len;
} oa_tool;

typedef struct oa_state {
    char *id, *model;
    int64_t created;
    tw_buf prefix; /* "data: {...,"choices":[" once locked */
    int locked;
    oa_choice *choices;
    size_t nchoices, capchoices;
    tw__map choice_map; /* choice index -> position in choices */
    oa_tool *tools;
    size_t ntools, captools;
    tw__map tool_map; /* (choice, event index) -> position of its newest call in tools */
    int32_t tool_seq; /* for generated call ids */
    int have_usage;
    int64_t in_tok, out_tok, total_tok;
} oa_state;

static atomic_uint_fast64_t id_counter;

static uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* An id in OpenAI's shape: not a secret, only unique enough to tell responses apart. */
static char *generate_id(const void *salt) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char buf[40] = "chatcmpl-tw";
    struct timespec ts;
    uint64_t x;
    size_t n = strlen(buf);
    timespec_get(&ts, TIME_UTC);
    x = mix64((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
        mix64((uint64_t)(uintptr_t)salt) ^ mix64(atomic_fetch_add(&id_counter, 1) + 0x51ull);
    for (int i = 0; i < 22; i++) {
        if (i % 10 == 0) x = mix64(x);
        buf[n++] = alphabet[x % 62];
        x /= 62;
    }
    buf[n] = '\0';
    return tw__strndup(buf, n);
}

tw_code tw__openai_init(tw_encoder *e) {
    oa_state *s = calloc(1, sizeof *s);
    if (!s) return TW_ERR_NOMEM;
    e->state = s;
    s->id = e->opt_id ? tw__strndup(e->opt_id, strlen(e->opt_id)) : generate_id(s);
    s->model = tw__strndup(e->opt_model ? e->opt_model : "tokenwire",
                           strlen(e->opt_model ? e->opt_model : "tokenwire"));
    s->created = (int64_t)time(NULL);
    tw_buf_init(&s->prefix);
    if (!s->id || !s->model) return TW_ERR_NOMEM;
    return TW_OK;
}

void tw__openai_free(tw_encoder *e) {
    oa_state *s = e->state;
    if (!s) return;
    for (size_t i = 0; i < s->ntools; i++) free(s->tools[i].id);
    free(s->tools);
    free(s->choices);
    tw__map_free(&s->choice_map);
    tw__map_free(&s->tool_map);
    tw_buf_free(&s->prefix);
    free(s->id);
    free(s->model);
    free(s);
    e->state = NULL;
}

static tw_code lock_prefix(oa_state *s) {
    if (s->locked) return TW_OK;
    TW__TRY(TW__PUT(&s->prefix, "data: {\"id\":"));
    TW__TRY(tw__put_jcstr(&s->prefix, s->id));
    TW__TRY(TW__PUT(&s->prefix, ",\"object\":\"chat.completion.chunk\",\"created\":"));
    TW__TRY(tw__put_i64(&s->prefix, s->created));
    TW__TRY(TW__PUT(&s->prefix, ",\"model\":"));
    TW__TRY(tw__put_jcstr(&s->prefix, s->model));
    TW__TRY(TW__PUT(&s->prefix, ",\"choices\":["));
    s->locked = 1;
    return TW_OK;
}

static oa_choice *get_choice(oa_state *s, int32_t index) {
    uint32_t pos;
    if (s->nchoices && s->choices[0].index == index) return &s->choices[0]; /* the usual case */
    if (tw__map_get(&s->choice_map, (uint64_t)(uint32_t)index, &pos)) return &s->choices[pos];
    if (s->nchoices >= UINT32_MAX - 1) return NULL;
    if (s->nchoices == s->capchoices) {
        size_t cap = s->capchoices ? s->capchoices * 2 : 4;
        oa_choice *p = realloc(s->choices, cap * sizeof *p);
        if (!p) return NULL;
        s->choices = p;
        s->capchoices = cap;
    }
    if (tw__map_put(&s->choice_map, (uint64_t)(uint32_t)index, (uint32_t)s->nchoices) != TW_OK)
        return NULL;
    s->choices[s->nchoices].index = index;
    s->choices[s->nchoices].role_sent = 0;
    s->choices[s->nchoices].ntools = 0;
    return &s->choices[s->nchoices++];
}

/* Writes the chunk prefix, the choice's opening and the delta's opening (with the role on the
 * choice's first delta). The caller writes the delta's fields and calls end_choice. */
static tw_code begin_choice(oa_state *s, oa_choice *c, tw_buf *out, int *need_comma) {
    TW__TRY(lock_prefix(s));
    TW__TRY(tw__put(out, s->prefix.data, s->prefix.len));
    TW__TRY(TW__PUT(out, "{\"index\":"));
    TW__TRY(tw__put_i64(out, c->index));
    TW__TRY(TW__PUT(out, ",\"delta\":{"));
    *need_comma = 0;
    if (!c->role_sent) {
        TW__TRY(TW__PUT(out, "\"role\":\"assistant\""));
        *need_comma = 1;
    }
    return TW_OK;
}

static tw_code end_choice(oa_choice *c, tw_buf *out, const char *finish) {
    TW__TRY(TW__PUT(out, "},\"logprobs\":null,\"finish_reason\":"));
    if (finish) {
        TW__TRY(TW__PUT(out, "\""));
        TW__TRY(tw__put(out, finish, strlen(finish)));
        TW__TRY(TW__PUT(out, "\""));
    } else {
        TW__TRY(TW__PUT(out, "null"));
    }
    TW__TRY(TW__PUT(out, "}]}\n\n"));
    c->role_sent = 1;
    return TW_OK;
}

static int32_t choice_of(const tw_encoder *e, const tw_event *ev) {
    /* A tool_call's index is its call's key, never a choice: normalized events do not carry
     * the choice of a tool call, so calls go to choice 0. */
    if (ev->type == TW_EV_TOOL_CALL) return 0;
    return (e->index_is_choice && ev->index > 0) ? ev->index : 0;
}

static tw_code encode_delta_text(tw_encoder *e, const tw_event *ev, tw_buf *out,
                                 const char *key, size_t keylen) {
    oa_state *s = e->state;
    oa_choice *c = get_choice(s, choice_of(e, ev));
    int comma;
    if (!c) return TW_ERR_NOMEM;
    /* An empty delta after the role was sent carries nothing: skip it. */
    if ((!ev->text.ptr || ev->text.len == 0) && c->role_sent) return TW_OK;
    TW__TRY(begin_choice(s, c, out, &comma));
    if (comma) TW__TRY(TW__PUT(out, ","));
    TW__TRY(tw__put(out, key, keylen));
    TW__TRY(tw__put_jstr(out, ev->text));
    return end_choice(c, out, NULL);
}

static uint64_t tool_key(int32_t choice, int32_t key) {
    return ((uint64_t)(uint32_t)choice << 32) | (uint32_t)key;
}

static oa_tool *find_tool(oa_state *s, int32_t choice, int32_t key) {
    uint32_t pos;
    if (s->ntools) { /* the usual case: the call being streamed */
        oa_tool *t = &s->tools[s->ntools - 1];
        if (t->choice == choice && t->key == key) return t;
    }
    return tw__map_get(&s->tool_map, tool_key(choice, key), &pos) ? &s->tools[pos] : NULL;
}

static tw_code encode_tool_call(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    oa_state *s = e->state;
    int32_t ci = choice_of(e, ev);
    oa_choice *c = get_choice(s, ci);
    oa_tool *t;
    int comma, first = 0;
    if (!c) return TW_ERR_NOMEM;
    t = find_tool(s, ci, ev->index);
    if (!t || (ev->id.ptr && ev->id.len &&
               !(t->id_len == ev->id.len && memcmp(t->id, ev->id.ptr, ev->id.len) == 0))) {
        char gen[32];
        const char *id = ev->id.ptr;
        size_t id_len = ev->id.len;
        if (!id || !id_len) {
            id_len = (size_t)snprintf(gen, sizeof gen, "call_%d", (int)s->tool_seq);
            id = gen;
        }
        if (s->ntools == s->captools) {
            size_t cap = s->captools ? s->captools * 2 : 4;
            oa_tool *p = realloc(s->tools, cap * sizeof *p);
            if (!p) return TW_ERR_NOMEM;
            s->tools = p;
            s->captools = cap;
        }
        if (s->ntools >= UINT32_MAX - 1) return TW_ERR_NOMEM;
        t = &s->tools[s->ntools];
        t->id = tw__strndup(id, id_len);
        if (!t->id) return TW_ERR_NOMEM;
        if (tw__map_put(&s->tool_map, tool_key(ci, ev->index), (uint32_t)s->ntools) != TW_OK) {
            free(t->id);
            return TW_ERR_NOMEM;
        }
        t->id_len = id_len;
        t->choice = ci;
        t->key = ev->index;
        t->ordinal = c->ntools++;
        s->ntools++;
        s->tool_seq++;
        first = 1;
    } else if (!ev->arguments.ptr || ev->arguments.len == 0) {
        return TW_OK; /* a later fragment with no argument text carries nothing */
    }
    TW__TRY(begin_choice(s, c, out, &comma));
    if (comma) TW__TRY(TW__PUT(out, ","));
    TW__TRY(TW__PUT(out, "\"tool_calls\":[{\"index\":"));
    TW__TRY(tw__put_i64(out, t->ordinal));
    if (first) {
        TW__TRY(TW__PUT(out, ",\"id\":"));
        TW__TRY(tw_json_escape(out, t->id, t->id_len));
        TW__TRY(TW__PUT(out, ",\"type\":\"function\",\"function\":{\"name\":"));
        TW__TRY(tw__put_jstr(out, ev->name));
        TW__TRY(TW__PUT(out, ",\"arguments\":"));
    } else {
        TW__TRY(TW__PUT(out, ",\"function\":{\"arguments\":"));
    }
    TW__TRY(tw__put_jstr(out, ev->arguments));
    TW__TRY(TW__PUT(out, "}}]"));
    return end_choice(c, out, NULL);
}

static tw_code encode_finish(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    oa_state *s = e->state;
    oa_choice *c = get_choice(s, choice_of(e, ev));
    const char *reason = tw__finish_reason_openai(ev->reason);
    int comma;
    if (!c) return TW_ERR_NOMEM;
    if (c->ntools > 0 && strcmp(reason, "stop") == 0) reason = "tool_calls";
    TW__TRY(begin_choice(s, c, out, &comma));
    return end_choice(c, out, reason);
}

static tw_code encode_error(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    (void)e;
    TW__TRY(TW__PUT(out, "data: {\"error\":{\"message\":"));
    if (ev->text.ptr && ev->text.len) {
        TW__TRY(tw__put_jstr(out, ev->text));
    } else {
        TW__TRY(TW__PUT(out, "\""));
        TW__TRY(tw__utf8_append(out, tw_error_kind_name(ev->error_kind),
                                strlen(tw_error_kind_name(ev->error_kind))));
        TW__TRY(TW__PUT(out, " error\""));
    }
    TW__TRY(TW__PUT(out, ",\"type\":"));
    if (ev->name.ptr && ev->name.len) {
        TW__TRY(tw__put_jstr(out, ev->name));
    } else {
        TW__TRY(TW__PUT(out, "\""));
        TW__TRY(tw__put(out, tw_error_kind_name(ev->error_kind),
                              strlen(tw_error_kind_name(ev->error_kind))));
        TW__TRY(TW__PUT(out, "_error\""));
    }
    TW__TRY(TW__PUT(out, ",\"param\":null,\"code\":"));
    if (ev->status != 0) {
        TW__TRY(tw__put_i64(out, ev->status));
    } else {
        TW__TRY(TW__PUT(out, "null"));
    }
    return TW__PUT(out, "}}\n\n");
}

static tw_code replace_str(char **dst, tw_str v) {
    char *p = tw__strndup(v.ptr, v.len);
    if (!p) return TW_ERR_NOMEM;
    free(*dst);
    *dst = p;
    return TW_OK;
}

tw_code tw__openai_encode(tw_encoder *e, const tw_event *ev, tw_buf *out) {
    oa_state *s = e->state;
    switch (ev->type) {
    case TW_EV_START:
        if (s->locked) return TW_OK;
        if (!e->opt_id && ev->id.ptr && ev->id.len) TW__TRY(replace_str(&s->id, ev->id));
        if (ev->name.ptr && ev->name.len) TW__TRY(replace_str(&s->model, ev->name));
        return TW_OK;
    case TW_EV_TEXT:
        return encode_delta_text(e, ev, out, "\"content\":", sizeof("\"content\":") - 1);
    case TW_EV_REASONING:
        if (!ev->text.ptr || ev->text.len == 0) return TW_OK;
        return encode_delta_text(e, ev, out, "\"reasoning_content\":",
                                 sizeof("\"reasoning_content\":") - 1);
    case TW_EV_TOOL_CALL: return encode_tool_call(e, ev, out);
    case TW_EV_FINISH: return encode_finish(e, ev, out);
    case TW_EV_USAGE:
        if (ev->input_tokens >= 0) s->in_tok = ev->input_tokens;
        if (ev->output_tokens >= 0) s->out_tok = ev->output_tokens;
        if (ev->total_tokens >= 0) s->total_tok = ev->total_tokens;
        if (ev->input_tokens >= 0 || ev->output_tokens >= 0 || ev->total_tokens >= 0)
            s->have_usage = 1;
        return TW_OK;
    case TW_EV_ERROR:
        /* One bad upstream event: a comment, since these clients end at any error object. */
        if (ev->recoverable) return tw__put_sse_comment(out, "recoverable error: ", ev->text);
        return encode_error(e, ev, out);
    default: return TW_OK;
    }
}

tw_code tw__openai_close(tw_encoder *e, const tw__app *final, tw_buf *out) {
    oa_state *s = e->state;
    if (s->have_usage) {
        int64_t total = s->total_tok > 0 ? s->total_tok : s->in_tok + s->out_tok;
        TW__TRY(lock_prefix(s));
        TW__TRY(tw__put(out, s->prefix.data, s->prefix.len));
        TW__TRY(TW__PUT(out, "],\"usage\":{\"prompt_tokens\":"));
        TW__TRY(tw__put_i64(out, s->in_tok));
        TW__TRY(TW__PUT(out, ",\"completion_tokens\":"));
        TW__TRY(tw__put_i64(out, s->out_tok));
        TW__TRY(TW__PUT(out, ",\"total_tokens\":"));
        TW__TRY(tw__put_i64(out, total));
        TW__TRY(TW__PUT(out, "}}\n\n"));
    }
    if (final) TW__TRY(tw__app_sse(final, out));
    return TW__PUT(out, "data: [DONE]\n\n");
}
