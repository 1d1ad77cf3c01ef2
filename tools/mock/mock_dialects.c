/*
 * mock_dialects.c - what the mock server says, per dialect: a generator that yields one wire
 * event at a time (framing included), the non-streaming JSON bodies and the error bodies.
 *
 * A streaming response is a fixed sequence of phases; each dialect emits zero or more events
 * per phase:
 *
 *   PRE      openai role chunk per choice; responses created + in_progress; anthropic
 *            message_start
 *   R_*      reasoning: start (responses item + summary part, anthropic thinking block),
 *            `reasoning` deltas, end (done events, anthropic signature_delta + block stop)
 *   T_*      text: start (responses message item + content part, anthropic text block + ping),
 *            `chunks` deltas, end
 *   TOOL_*   per tool: start (id + name), argument fragments (string deltas for openai,
 *            responses and anthropic; gemini and ollama send whole objects), end
 *   FIN      finish reason (openai per choice, anthropic message_delta, gemini last chunk,
 *            ollama done:true line)
 *   USAGE    openai usage chunk with empty choices
 *   END      [DONE], response.completed, message_stop, or the closing ']' of the gemini array
 *
 * Deltas (reasoning, text, tool start, tool fragment) wait for delay_ms; the other events
 * follow at once. Mid-stream faults fire where text delta number fault_after would go.
 */
/* memmem, memrchr, accept4: GNU extensions (the Makefile defines this too). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mock/mock_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MOCK_INPUT_TOKENS TW_MOCK_INPUT_TOKENS

enum {
    PH_PRE = 0,
    PH_R_START,
    PH_R,
    PH_R_END,
    PH_T_START,
    PH_T,
    PH_T_END,
    PH_TOOL_START,
    PH_TOOL_FRAG,
    PH_TOOL_END,
    PH_FIN,
    PH_USAGE,
    PH_END,
    PH_DONE
};

struct tw__mock_gen {
    tw__mock_dialect d;    /* immutable */
    const tw__mock_params *p;
    const char *model;
    uint64_t reqno;
    long nch;              /* choices (openai only; 1 elsewhere) */
    long created;          /* unix seconds */
    int phase;
    long sub;              /* event index inside the phase */
    long tool;             /* current tool */
    long seq;              /* responses sequence_number */
    int fault_fired;
    int pinged;            /* anthropic ping sent */
    int first_elem;        /* gemini array: next element is the first */
    int hb_only;           /* fault=heartbeat_only reached */
    int perr_sent;         /* provider error sent: the stream ends */
    long long over_left;   /* oversized filler bytes still to send; -1 = not in one */
    tw_buf over_suffix;
    long n_text, n_reason; /* tokens (delta events) sent */
    tw_buf acc, racc;      /* responses: text and reasoning so far, for the done events */
    tw_buf tool_acc;
    tw_buf scratch;
    tw__mock_words words;  /* the text, indexed */
    tw_buf *tpl;           /* openai / anthropic: per choice, the text delta event around */
    size_t *tpl_cut;       /* the text: bytes [0, cut) before it, [cut, len) after it */
};

static int is_sse(tw__mock_dialect d) {
    return d == TW__MD_OPENAI || d == TW__MD_RESPONSES || d == TW__MD_ANTHROPIC ||
           d == TW__MD_GEMINI_SSE;
}
static int is_gemini(tw__mock_dialect d) {
    return d == TW__MD_GEMINI_SSE || d == TW__MD_GEMINI_ARRAY || d == TW__MD_GEMINI_UNARY;
}
static int is_ollama(tw__mock_dialect d) {
    return d == TW__MD_OLLAMA_CHAT || d == TW__MD_OLLAMA_GEN;
}

const char *tw__mock_stream_ctype(tw__mock_dialect d) {
    if (is_sse(d)) return "text/event-stream; charset=utf-8";
    if (is_ollama(d)) return "application/x-ndjson";
    return "application/json; charset=UTF-8";
}

/* ---- framing ------------------------------------------------------------------------------- */

static void ev_begin(tw__mock_gen *g, tw_buf *out, const char *name) {
    switch (g->d) {
    case TW__MD_RESPONSES:
    case TW__MD_ANTHROPIC:
        if (name) tw__mb_printf(out, "event: %s\n", name);
        tw__mb_puts(out, "data: ");
        break;
    case TW__MD_OPENAI:
    case TW__MD_GEMINI_SSE: tw__mb_puts(out, "data: "); break;
    case TW__MD_GEMINI_ARRAY:
        if (!g->first_elem) tw__mb_puts(out, ",\r\n");
        g->first_elem = 0;
        break;
    default: break;
    }
}

static void ev_end(tw__mock_gen *g, tw_buf *out) {
    if (g->d == TW__MD_GEMINI_SSE) tw__mb_puts(out, "\r\n\r\n");
    else if (is_sse(g->d)) tw__mb_puts(out, "\n\n");
    else if (is_ollama(g->d)) tw__mb_puts(out, "\n");
}

void tw__gen_heartbeat(const tw__mock_gen *g, tw_buf *out) {
    if (g->d == TW__MD_GEMINI_SSE) tw__mb_puts(out, ": keepalive\r\n\r\n");
    else if (is_sse(g->d)) tw__mb_puts(out, ": keepalive\n\n");
    else if (g->d == TW__MD_GEMINI_ARRAY) tw__mb_puts(out, "\r\n");
    else tw__mb_puts(out, "\n");
}

/* ---- small pieces -------------------------------------------------------------------------- */

static void iso_time(tw_buf *out) {
    uint64_t us = tw__mock_realtime_us();
    time_t s = (time_t)(us / 1000000u);
    struct tm tm;
    char b[40];
    gmtime_r(&s, &tm);
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    tw__mb_printf(out, "\"%s.%06uZ\"", b, (unsigned)(us % 1000000u));
}

/* The text of delta i of choice c into g->scratch (timestamps when asked). */
static void text_of(tw__mock_gen *g, long i, long c) {
    g->scratch.len = 0;
    if (g->p->timestamp) {
        tw__mb_printf(&g->scratch, "%llu ", (unsigned long long)tw__mock_realtime_us());
    } else {
        tw__mock_words_delta(&g->words, &g->scratch, i, c);
    }
}

static void openai_head(tw__mock_gen *g, tw_buf *out) {
    tw__mb_printf(out,
                  "{\"id\":\"chatcmpl-mock%llu\",\"object\":\"chat.completion.chunk\","
                  "\"created\":%ld,\"model\":",
                  (unsigned long long)g->reqno, g->created);
    tw__mb_jstr(out, g->model, strlen(g->model));
    tw__mb_puts(out, ",\"system_fingerprint\":\"fp_mock\",\"choices\":[");
}

static void openai_tail(tw__mock_gen *g, tw_buf *out) {
    tw__mb_puts(out, g->p->usage ? "],\"usage\":null}" : "]}");
}

/* One openai chunk whose choice c has the given delta JSON (no finish). */
static void openai_delta(tw__mock_gen *g, tw_buf *out, long c, const char *delta_json,
                         size_t dl) {
    ev_begin(g, out, NULL);
    openai_head(g, out);
    tw__mb_printf(out, "{\"index\":%ld,\"delta\":", c);
    tw__mb_put(out, delta_json, dl);
    tw__mb_puts(out, ",\"logprobs\":null,\"finish_reason\":null}");
    openai_tail(g, out);
    ev_end(g, out);
}

static void usage_meta(tw__mock_gen *g, tw_buf *out) {
    if (!g->p->usage) return;
    tw__mb_printf(out,
                  ",\"usageMetadata\":{\"promptTokenCount\":%d,\"candidatesTokenCount\":%ld,"
                  "\"totalTokenCount\":%ld",
                  MOCK_INPUT_TOKENS, g->n_text, MOCK_INPUT_TOKENS + g->n_text + g->n_reason);
    if (g->n_reason) tw__mb_printf(out, ",\"thoughtsTokenCount\":%ld", g->n_reason);
    tw__mb_puts(out, "}");
}

/* A gemini chunk with one part (JSON text of the part) and an optional finishReason. */
static void gemini_chunk(tw__mock_gen *g, tw_buf *out, const char *part, size_t pl,
                         const char *finish) {
    ev_begin(g, out, NULL);
    tw__mb_puts(out, "{\"candidates\":[{\"content\":{\"parts\":[");
    tw__mb_put(out, part, pl);
    tw__mb_puts(out, "],\"role\":\"model\"}");
    if (finish) tw__mb_printf(out, ",\"finishReason\":\"%s\"", finish);
    tw__mb_puts(out, ",\"index\":0}]");
    usage_meta(g, out);
    tw__mb_puts(out, ",\"modelVersion\":");
    tw__mb_jstr(out, g->model, strlen(g->model));
    tw__mb_printf(out, ",\"responseId\":\"mock%llu\"}", (unsigned long long)g->reqno);
    ev_end(g, out);
}

/* An ollama line: fields_json is spliced after "created_at". */
static void ollama_line(tw__mock_gen *g, tw_buf *out, const char *fields, size_t fl) {
    tw__mb_puts(out, "{\"model\":");
    tw__mb_jstr(out, g->model, strlen(g->model));
    tw__mb_puts(out, ",\"created_at\":");
    iso_time(out);
    tw__mb_puts(out, ",");
    tw__mb_put(out, fields, fl);
    tw__mb_puts(out, "}");
    ev_end(g, out);
}

/* responses: begins event `type` with its sequence number; caller appends fields + "}". */
static void resp_begin(tw__mock_gen *g, tw_buf *out, const char *type) {
    ev_begin(g, out, type);
    tw__mb_printf(out, "{\"type\":\"%s\",\"sequence_number\":%ld", type, g->seq++);
}

static void resp_end(tw__mock_gen *g, tw_buf *out) {
    tw__mb_puts(out, "}");
    ev_end(g, out);
}

static void anth_event(tw__mock_gen *g, tw_buf *out, const char *type, const char *json) {
    ev_begin(g, out, type);
    tw__mb_puts(out, json);
    ev_end(g, out);
}

static long blk_text(const tw__mock_gen *g) { return g->p->reasoning > 0 ? 1 : 0; }
static long blk_tool(const tw__mock_gen *g, long k) { return blk_text(g) + 1 + k; }

static void resp_usage(tw__mock_gen *g, tw_buf *out) {
    long o = g->n_text + g->n_reason;
    tw__mb_printf(out,
                  "{\"input_tokens\":%d,\"input_tokens_details\":{\"cached_tokens\":0},"
                  "\"output_tokens\":%ld,\"output_tokens_details\":{\"reasoning_tokens\":%ld},"
                  "\"total_tokens\":%ld}",
                  MOCK_INPUT_TOKENS, o, g->n_reason, MOCK_INPUT_TOKENS + o);
}

static void resp_object(tw__mock_gen *g, tw_buf *out, const char *status, int with_output) {
    tw__mb_printf(out,
                  "{\"id\":\"resp_mock%llu\",\"object\":\"response\",\"created_at\":%ld,"
                  "\"status\":\"%s\",\"model\":",
                  (unsigned long long)g->reqno, g->created, status);
    tw__mb_jstr(out, g->model, strlen(g->model));
    tw__mb_puts(out, ",\"output\":[");
    if (with_output) {
        int first = 1;
        if (g->p->reasoning > 0) {
            tw__mb_printf(out,
                          "{\"id\":\"rs_mock%llu\",\"type\":\"reasoning\",\"summary\":[{\"type\":"
                          "\"summary_text\",\"text\":",
                          (unsigned long long)g->reqno);
            tw__mb_jstr(out, g->racc.data, g->racc.len);
            tw__mb_puts(out, "}]}");
            first = 0;
        }
        tw__mb_printf(out,
                      "%s{\"id\":\"msg_mock%llu\",\"type\":\"message\",\"status\":\"completed\","
                      "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":",
                      first ? "" : ",", (unsigned long long)g->reqno);
        tw__mb_jstr(out, g->acc.data, g->acc.len);
        tw__mb_puts(out, ",\"annotations\":[]}]}");
        for (long k = 0; k < g->p->tools; k++) {
            g->tool_acc.len = 0;
            tw__mock_tool_args(&g->tool_acc, k);
            tw__mb_printf(out,
                          ",{\"id\":\"fc_mock%ld\",\"type\":\"function_call\",\"status\":"
                          "\"completed\",\"call_id\":\"call_mock_%ld\",\"name\":\"get_weather\","
                          "\"arguments\":",
                          k, k);
            tw__mb_jstr(out, g->tool_acc.data, g->tool_acc.len);
            tw__mb_puts(out, "}");
        }
    }
    tw__mb_puts(out, "],\"usage\":");
    if (with_output && g->p->usage) resp_usage(g, out);
    else tw__mb_puts(out, "null");
    tw__mb_puts(out, "}");
}

/* ---- phases -------------------------------------------------------------------------------- */

static long phase_len(const tw__mock_gen *g) {
    const tw__mock_params *p = g->p;
    tw__mock_dialect d = g->d;
    switch (g->phase) {
    case PH_PRE:
        return d == TW__MD_OPENAI ? g->nch : d == TW__MD_RESPONSES ? 2
                                             : d == TW__MD_ANTHROPIC || d == TW__MD_GEMINI_ARRAY
                                                 ? 1
                                                 : 0;
    case PH_R_START:
        if (!p->reasoning) return 0;
        return d == TW__MD_RESPONSES ? 2 : d == TW__MD_ANTHROPIC ? 1 : 0;
    case PH_R: return p->reasoning * g->nch;
    case PH_R_END:
        if (!p->reasoning) return 0;
        return d == TW__MD_RESPONSES ? 3 : d == TW__MD_ANTHROPIC ? 2 : 0;
    case PH_T_START:
        return d == TW__MD_RESPONSES ? 2 : d == TW__MD_ANTHROPIC ? (g->pinged ? 1 : 2) : 0;
    case PH_T: return p->chunks * g->nch;
    case PH_T_END: return d == TW__MD_RESPONSES ? 3 : d == TW__MD_ANTHROPIC ? 1 : 0;
    case PH_TOOL_START:
        if (g->tool >= p->tools) return 0;
        if (d == TW__MD_OPENAI) return g->nch;
        if (d == TW__MD_ANTHROPIC) return 2;
        return d == TW__MD_OLLAMA_GEN ? 0 : 1;
    case PH_TOOL_FRAG:
        if (g->tool >= p->tools) return 0;
        if (d == TW__MD_OPENAI) return tw__mock_tool_nfrags(g->tool) * g->nch;
        if (d == TW__MD_RESPONSES || d == TW__MD_ANTHROPIC) return tw__mock_tool_nfrags(g->tool);
        return 0;
    case PH_TOOL_END:
        if (g->tool >= p->tools) return 0;
        return d == TW__MD_RESPONSES ? 2 : d == TW__MD_ANTHROPIC ? 1 : 0;
    case PH_FIN: return d == TW__MD_OPENAI ? g->nch : d == TW__MD_RESPONSES ? 0 : 1;
    case PH_USAGE: return d == TW__MD_OPENAI && p->usage ? 1 : 0;
    case PH_END: return d == TW__MD_GEMINI_SSE || is_ollama(d) ? 0 : 1;
    default: return 0;
    }
}

static int fault_midstream(tw__mock_fault f) {
    return f == TW__FAULT_RESET || f == TW__FAULT_STALL || f == TW__FAULT_GARBAGE ||
           f == TW__FAULT_BAD_UTF8 || f == TW__FAULT_OVERSIZED ||
           f == TW__FAULT_PROVIDER_ERROR || f == TW__FAULT_HEARTBEAT_ONLY;
}

/* 1 when the next thing to send is the mid-stream fault. */
static int fault_now(const tw__mock_gen *g) {
    long at;
    if (g->fault_fired || !fault_midstream(g->p->fault) || g->phase != PH_T) return 0;
    at = g->p->fault_after < g->p->chunks ? g->p->fault_after : g->p->chunks;
    return g->sub == at * g->nch;
}

static void advance_phase(tw__mock_gen *g) {
    g->sub = 0;
    if (g->phase == PH_TOOL_END) {
        g->tool++;
        g->phase = g->tool < g->p->tools ? PH_TOOL_START : PH_FIN;
        return;
    }
    if (g->phase == PH_T_END && g->p->tools == 0) {
        g->phase = PH_FIN;
        return;
    }
    g->phase++;
}

/* Moves past phases with nothing (left) to send in this dialect. */
static void settle(tw__mock_gen *g) {
    while (g->phase != PH_DONE && !g->hb_only && !fault_now(g) && g->sub >= phase_len(g))
        advance_phase(g);
}

int tw__gen_next_delayed(const tw__mock_gen *g) {
    if (g->over_left >= 0 || g->perr_sent || g->hb_only) return 0;
    if (fault_now(g)) return 1;
    switch (g->phase) {
    case PH_R:
    case PH_T: return g->sub % g->nch == 0;
    case PH_TOOL_START: return g->sub == 0;
    case PH_TOOL_FRAG: return g->d == TW__MD_OPENAI ? g->sub % g->nch == 0 : 1;
    default: return 0;
    }
}

int tw__gen_heartbeat_only(const tw__mock_gen *g) { return g->hb_only; }

tw__mock_gen *tw__gen_new(tw__mock_dialect d, const tw__mock_params *p, const char *model,
                          uint64_t reqno) {
    tw__mock_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->d = d;
    g->p = p;
    g->model = model;
    g->reqno = reqno;
    g->nch = d == TW__MD_OPENAI ? p->choices : 1;
    g->created = (long)(tw__mock_realtime_us() / 1000000u);
    g->first_elem = 1;
    g->over_left = -1;
    if (tw__mock_words_init(&g->words, p->text, p->text_len) != 0) {
        tw__gen_free(g);
        return NULL;
    }
    settle(g);
    return g;
}

void tw__gen_free(tw__mock_gen *g) {
    if (!g) return;
    tw_buf_free(&g->over_suffix);
    tw_buf_free(&g->acc);
    tw_buf_free(&g->racc);
    tw_buf_free(&g->tool_acc);
    tw_buf_free(&g->scratch);
    tw__mock_words_free(&g->words);
    if (g->tpl) {
        for (long c = 0; c < g->nch; c++) tw_buf_free(&g->tpl[c]);
        free(g->tpl);
    }
    free(g->tpl_cut);
    free(g);
}

/* A text delta event for choice c with the given raw text. */
static void emit_text(tw__mock_gen *g, tw_buf *out, long c, const char *t, size_t tl) {
    tw_buf j = {0};
    switch (g->d) {
    case TW__MD_OPENAI:
        tw__mb_puts(&j, "{\"content\":");
        tw__mb_jstr(&j, t, tl);
        tw__mb_puts(&j, "}");
        openai_delta(g, out, c, j.data, j.len);
        break;
    case TW__MD_RESPONSES:
        resp_begin(g, out, "response.output_text.delta");
        tw__mb_printf(out,
                      ",\"item_id\":\"msg_mock%llu\",\"output_index\":%ld,\"content_index\":0,"
                      "\"delta\":",
                      (unsigned long long)g->reqno, blk_text(g));
        tw__mb_jstr(out, t, tl);
        tw__mb_puts(out, ",\"logprobs\":[]");
        resp_end(g, out);
        break;
    case TW__MD_ANTHROPIC:
        ev_begin(g, out, "content_block_delta");
        tw__mb_printf(out,
                      "{\"type\":\"content_block_delta\",\"index\":%ld,\"delta\":{\"type\":"
                      "\"text_delta\",\"text\":",
                      blk_text(g));
        tw__mb_jstr(out, t, tl);
        tw__mb_puts(out, "}}");
        ev_end(g, out);
        break;
    case TW__MD_GEMINI_SSE:
    case TW__MD_GEMINI_ARRAY:
        tw__mb_puts(&j, "{\"text\":");
        tw__mb_jstr(&j, t, tl);
        tw__mb_puts(&j, "}");
        gemini_chunk(g, out, j.data, j.len, NULL);
        break;
    case TW__MD_OLLAMA_CHAT:
        tw__mb_puts(&j, "\"message\":{\"role\":\"assistant\",\"content\":");
        tw__mb_jstr(&j, t, tl);
        tw__mb_puts(&j, "},\"done\":false");
        ollama_line(g, out, j.data, j.len);
        break;
    case TW__MD_OLLAMA_GEN:
        tw__mb_puts(&j, "\"response\":");
        tw__mb_jstr(&j, t, tl);
        tw__mb_puts(&j, ",\"done\":false");
        ollama_line(g, out, j.data, j.len);
        break;
    default: break;
    }
    tw_buf_free(&j);
}

static void emit_reasoning(tw__mock_gen *g, tw_buf *out, long c, const char *t, size_t tl) {
    tw_buf j = {0};
    switch (g->d) {
    case TW__MD_OPENAI:
        tw__mb_puts(&j, "{\"reasoning_content\":");
        tw__mb_jstr(&j, t, tl);
        tw__mb_puts(&j, "}");
        openai_delta(g, out, c, j.data, j.len);
        break;
    case TW__MD_RESPONSES:
        resp_begin(g, out, "response.reasoning_summary_text.delta");
        tw__mb_printf(out,
                      ",\"item_id\":\"rs_mock%llu\",\"output_index\":0,\"summary_index\":0,"
                      "\"delta\":",
                      (unsigned long long)g->reqno);
        tw__mb_jstr(out, t, tl);
        resp_end(g, out);
        break;
    case TW__MD_ANTHROPIC:
        ev_begin(g, out, "content_block_delta");
        tw__mb_puts(out, "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                         "\"thinking_delta\",\"thinking\":");
        tw__mb_jstr(out, t, tl);
        tw__mb_puts(out, "}}");
        ev_end(g, out);
        break;
    case TW__MD_GEMINI_SSE:
    case TW__MD_GEMINI_ARRAY:
        tw__mb_puts(&j, "{\"text\":");
        tw__mb_jstr(&j, t, tl);
        tw__mb_puts(&j, ",\"thought\":true}");
        gemini_chunk(g, out, j.data, j.len, NULL);
        break;
    case TW__MD_OLLAMA_CHAT:
        tw__mb_puts(&j, "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":");
        tw__mb_jstr(&j, t, tl);
        tw__mb_puts(&j, "},\"done\":false");
        ollama_line(g, out, j.data, j.len);
        break;
    case TW__MD_OLLAMA_GEN:
        tw__mb_puts(&j, "\"response\":\"\",\"thinking\":");
        tw__mb_jstr(&j, t, tl);
        tw__mb_puts(&j, ",\"done\":false");
        ollama_line(g, out, j.data, j.len);
        break;
    default: break;
    }
    tw_buf_free(&j);
}

static const char *finish_reason(const tw__mock_gen *g) {
    int tools = g->p->tools > 0;
    switch (g->d) {
    case TW__MD_OPENAI: return tools ? "tool_calls" : "stop";
    case TW__MD_ANTHROPIC: return tools ? "tool_use" : "end_turn";
    case TW__MD_GEMINI_SSE:
    case TW__MD_GEMINI_ARRAY:
    case TW__MD_GEMINI_UNARY: return "STOP";
    default: return "stop";
    }
}

static void emit_provider_error(tw__mock_gen *g, tw_buf *out) {
    switch (g->d) {
    case TW__MD_OPENAI:
        ev_begin(g, out, NULL);
        tw__mb_puts(out, "{\"error\":{\"message\":\"The server had an error while processing "
                         "your request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}");
        ev_end(g, out);
        break;
    case TW__MD_RESPONSES:
        resp_begin(g, out, "error");
        tw__mb_puts(out, ",\"code\":\"server_error\",\"message\":\"The server had an error while "
                         "processing your request.\",\"param\":null");
        resp_end(g, out);
        break;
    case TW__MD_ANTHROPIC:
        ev_begin(g, out, "error");
        tw__mb_printf(out,
                      "{\"type\":\"error\",\"error\":{\"details\":null,\"type\":"
                      "\"overloaded_error\",\"message\":\"Overloaded\"},\"request_id\":"
                      "\"req_mock%llu\"}",
                      (unsigned long long)g->reqno);
        ev_end(g, out);
        break;
    case TW__MD_GEMINI_SSE:
    case TW__MD_GEMINI_ARRAY:
        ev_begin(g, out, NULL);
        tw__mb_puts(out, "{\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please "
                         "try again later.\",\"status\":\"UNAVAILABLE\"}}");
        if (g->d == TW__MD_GEMINI_ARRAY) tw__mb_puts(out, "]");
        ev_end(g, out);
        break;
    default:
        tw__mb_puts(out, "{\"error\":\"an error was encountered while running the model: "
                         "unexpected EOF\"}");
        ev_end(g, out);
        break;
    }
}

static void emit_garbage(tw__mock_gen *g, tw_buf *out) {
    static const char junk[] = "{garbage \xfe\xff\x01 ]]";
    const char *name = g->d == TW__MD_ANTHROPIC   ? "content_block_delta"
                       : g->d == TW__MD_RESPONSES ? "response.output_text.delta"
                                                  : NULL;
    ev_begin(g, out, name);
    tw__mb_put(out, junk, sizeof junk - 1);
    ev_end(g, out);
}

/* Starts the oversized event: everything before the filler now, the rest in pieces. */
static void start_oversized(tw__mock_gen *g, tw_buf *out) {
    static const char mark[] = "@@TW_OVERSIZED@@";
    tw_buf ev = {0};
    const char *at;
    emit_text(g, &ev, 0, mark, sizeof mark - 1);
    at = memmem(ev.data, ev.len, mark, sizeof mark - 1);
    tw__mb_put(out, ev.data, (size_t)(at - ev.data));
    g->over_suffix.len = 0;
    tw__mb_put(&g->over_suffix, at + sizeof mark - 1,
               ev.len - (size_t)(at - ev.data) - (sizeof mark - 1));
    g->over_left = g->p->oversized;
    tw_buf_free(&ev);
}

#define OVER_PIECE ((long long)64 * 1024)

static void continue_oversized(tw__mock_gen *g, tw_buf *out) {
    long long n = g->over_left < OVER_PIECE ? g->over_left : OVER_PIECE;
    if (n > 0) {
        size_t at = out->len;
        if (tw_buf_reserve(out, (size_t)n) != TW_OK) {
            fputs("tokenwire mock: out of memory\n", stderr);
            abort();
        }
        memset(out->data + at, 'x', (size_t)n);
        out->len += (size_t)n;
        g->over_left -= n;
    }
    if (g->over_left == 0) {
        tw__mb_put(out, g->over_suffix.data, g->over_suffix.len);
        g->over_left = -1;
    }
}

/* Renders choice c's text delta event once, around a marker. @return 0 or -1 (NOMEM). */
static int make_template(tw__mock_gen *g, long c) {
    static const char mark[] = "@@TW_TEXT@@";
    const char *at;
    if (!g->tpl) {
        g->tpl = calloc((size_t)g->nch, sizeof *g->tpl);
        g->tpl_cut = calloc((size_t)g->nch, sizeof *g->tpl_cut);
        if (!g->tpl || !g->tpl_cut) return -1;
    }
    g->tpl[c].len = 0;
    emit_text(g, &g->tpl[c], c, mark, sizeof mark - 1);
    at = memmem(g->tpl[c].data, g->tpl[c].len, mark, sizeof mark - 1);
    if (!at) return -1;
    g->tpl_cut[c] = (size_t)(at - g->tpl[c].data);
    memmove((char *)at, at + sizeof mark - 1, g->tpl[c].len - g->tpl_cut[c] - (sizeof mark - 1));
    g->tpl[c].len -= sizeof mark - 1;
    return 0;
}

/* Emits event `sub` of the current phase. */
static void emit(tw__mock_gen *g, tw_buf *out) {
    const tw__mock_params *p = g->p;
    tw__mock_dialect d = g->d;
    long s = g->sub, c = s % g->nch;
    tw_buf j = {0};
    switch (g->phase) {
    case PH_PRE:
        if (d == TW__MD_OPENAI) {
            openai_delta(g, out, c, "{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}",
                         strlen("{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}"));
        } else if (d == TW__MD_GEMINI_ARRAY) {
            tw__mb_puts(out, "["); /* at once, so that heartbeats never come before it */
        } else if (d == TW__MD_RESPONSES) {
            resp_begin(g, out, s == 0 ? "response.created" : "response.in_progress");
            tw__mb_puts(out, ",\"response\":");
            resp_object(g, out, "in_progress", 0);
            resp_end(g, out);
        } else {
            ev_begin(g, out, "message_start");
            tw__mb_printf(out,
                          "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_mock%llu\","
                          "\"type\":\"message\",\"role\":\"assistant\",\"model\":",
                          (unsigned long long)g->reqno);
            tw__mb_jstr(out, g->model, strlen(g->model));
            tw__mb_puts(out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null");
            if (p->usage)
                tw__mb_printf(out,
                              ",\"usage\":{\"input_tokens\":%d,\"cache_creation_input_tokens\":0,"
                              "\"cache_read_input_tokens\":0,\"output_tokens\":1}",
                              MOCK_INPUT_TOKENS);
            tw__mb_puts(out, "}}");
            ev_end(g, out);
        }
        break;
    case PH_R_START:
        if (d == TW__MD_RESPONSES && s == 0) {
            resp_begin(g, out, "response.output_item.added");
            tw__mb_printf(out,
                          ",\"output_index\":0,\"item\":{\"id\":\"rs_mock%llu\",\"type\":"
                          "\"reasoning\",\"summary\":[]}",
                          (unsigned long long)g->reqno);
            resp_end(g, out);
        } else if (d == TW__MD_RESPONSES) {
            resp_begin(g, out, "response.reasoning_summary_part.added");
            tw__mb_printf(out,
                          ",\"item_id\":\"rs_mock%llu\",\"output_index\":0,\"summary_index\":0,"
                          "\"part\":{\"type\":\"summary_text\",\"text\":\"\"}",
                          (unsigned long long)g->reqno);
            resp_end(g, out);
        } else {
            anth_event(g, out, "content_block_start",
                       "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":"
                       "\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}");
            g->pinged = 1;
            anth_event(g, out, "ping", "{\"type\": \"ping\"}");
        }
        break;
    case PH_R:
        g->scratch.len = 0;
        tw__mock_reasoning_delta(&g->scratch, s / g->nch);
        if (d == TW__MD_RESPONSES) tw__mb_put(&g->racc, g->scratch.data, g->scratch.len);
        g->n_reason++; /* counted first: gemini's usage snapshot includes this chunk */
        emit_reasoning(g, out, c, g->scratch.data, g->scratch.len);
        break;
    case PH_R_END:
        if (d == TW__MD_RESPONSES) {
            static const char *const names[3] = {"response.reasoning_summary_text.done",
                                                 "response.reasoning_summary_part.done",
                                                 "response.output_item.done"};
            resp_begin(g, out, names[s]);
            if (s == 2) {
                tw__mb_printf(out,
                              ",\"output_index\":0,\"item\":{\"id\":\"rs_mock%llu\",\"type\":"
                              "\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":",
                              (unsigned long long)g->reqno);
                tw__mb_jstr(out, g->racc.data, g->racc.len);
                tw__mb_puts(out, "}]}");
            } else {
                tw__mb_printf(out,
                              ",\"item_id\":\"rs_mock%llu\",\"output_index\":0,\"summary_index\":0",
                              (unsigned long long)g->reqno);
                if (s == 0) {
                    tw__mb_puts(out, ",\"text\":");
                    tw__mb_jstr(out, g->racc.data, g->racc.len);
                } else {
                    tw__mb_puts(out, ",\"part\":{\"type\":\"summary_text\",\"text\":");
                    tw__mb_jstr(out, g->racc.data, g->racc.len);
                    tw__mb_puts(out, "}");
                }
            }
            resp_end(g, out);
        } else if (s == 0) {
            anth_event(g, out, "content_block_delta",
                       "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
                       "\"signature_delta\",\"signature\":\"bW9jay1zaWduYXR1cmU=\"}}");
        } else {
            anth_event(g, out, "content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}");
        }
        break;
    case PH_T_START:
        if (d == TW__MD_RESPONSES && s == 0) {
            resp_begin(g, out, "response.output_item.added");
            tw__mb_printf(out,
                          ",\"output_index\":%ld,\"item\":{\"id\":\"msg_mock%llu\",\"type\":"
                          "\"message\",\"status\":\"in_progress\",\"role\":\"assistant\","
                          "\"content\":[]}",
                          blk_text(g), (unsigned long long)g->reqno);
            resp_end(g, out);
        } else if (d == TW__MD_RESPONSES) {
            resp_begin(g, out, "response.content_part.added");
            tw__mb_printf(out,
                          ",\"item_id\":\"msg_mock%llu\",\"output_index\":%ld,\"content_index\":0,"
                          "\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}",
                          (unsigned long long)g->reqno, blk_text(g));
            resp_end(g, out);
        } else if (s == 0) {
            ev_begin(g, out, "content_block_start");
            tw__mb_printf(out,
                          "{\"type\":\"content_block_start\",\"index\":%ld,\"content_block\":{"
                          "\"type\":\"text\",\"text\":\"\"}}",
                          blk_text(g));
            ev_end(g, out);
        } else {
            anth_event(g, out, "ping", "{\"type\": \"ping\"}");
            g->pinged = 1;
        }
        break;
    case PH_T: {
        long i = s / g->nch;
        text_of(g, i, c);
        if (d == TW__MD_RESPONSES) tw__mb_put(&g->acc, g->scratch.data, g->scratch.len);
        g->n_text++;
        if (d == TW__MD_OPENAI || d == TW__MD_ANTHROPIC) {
            /* The hot path of the throughput benchmarks: the event around the text is the
             * same for every delta of a choice, so it is rendered once. */
            if ((!g->tpl || !g->tpl[c].data) && make_template(g, c) != 0) {
                emit_text(g, out, c, g->scratch.data, g->scratch.len);
                break;
            }
            tw__mb_put(out, g->tpl[c].data, g->tpl_cut[c]);
            tw__mb_jstr_body(out, g->scratch.data, g->scratch.len);
            tw__mb_put(out, g->tpl[c].data + g->tpl_cut[c], g->tpl[c].len - g->tpl_cut[c]);
            break;
        }
        emit_text(g, out, c, g->scratch.data, g->scratch.len);
        break;
    }
    case PH_T_END:
        if (d == TW__MD_RESPONSES) {
            static const char *const names[3] = {"response.output_text.done",
                                                 "response.content_part.done",
                                                 "response.output_item.done"};
            resp_begin(g, out, names[s]);
            if (s < 2) {
                tw__mb_printf(out,
                              ",\"item_id\":\"msg_mock%llu\",\"output_index\":%ld,"
                              "\"content_index\":0",
                              (unsigned long long)g->reqno, blk_text(g));
                tw__mb_puts(out, s == 0 ? ",\"text\":" : ",\"part\":{\"type\":\"output_text\","
                                                         "\"text\":");
                tw__mb_jstr(out, g->acc.data, g->acc.len);
                tw__mb_puts(out, s == 0 ? ",\"logprobs\":[]" : ",\"annotations\":[]}");
            } else {
                tw__mb_printf(out,
                              ",\"output_index\":%ld,\"item\":{\"id\":\"msg_mock%llu\",\"type\":"
                              "\"message\",\"status\":\"completed\",\"role\":\"assistant\","
                              "\"content\":[{\"type\":\"output_text\",\"text\":",
                              blk_text(g), (unsigned long long)g->reqno);
                tw__mb_jstr(out, g->acc.data, g->acc.len);
                tw__mb_puts(out, ",\"annotations\":[]}]}");
            }
            resp_end(g, out);
        } else {
            ev_begin(g, out, "content_block_stop");
            tw__mb_printf(out, "{\"type\":\"content_block_stop\",\"index\":%ld}", blk_text(g));
            ev_end(g, out);
        }
        break;
    case PH_TOOL_START: {
        long k = g->tool;
        g->tool_acc.len = 0;
        tw__mock_tool_args(&g->tool_acc, k);
        if (d == TW__MD_OPENAI) {
            tw__mb_printf(&j,
                          "{\"tool_calls\":[{\"index\":%ld,\"id\":\"call_mock_%ld\",\"type\":"
                          "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]}",
                          k, k);
            openai_delta(g, out, c, j.data, j.len);
            g->n_text++;
        } else if (d == TW__MD_RESPONSES) {
            resp_begin(g, out, "response.output_item.added");
            tw__mb_printf(out,
                          ",\"output_index\":%ld,\"item\":{\"id\":\"fc_mock%ld\",\"type\":"
                          "\"function_call\",\"status\":\"in_progress\",\"call_id\":"
                          "\"call_mock_%ld\",\"name\":\"get_weather\",\"arguments\":\"\"}",
                          blk_tool(g, k), k, k);
            resp_end(g, out);
            g->n_text++;
        } else if (d == TW__MD_ANTHROPIC && s == 0) {
            ev_begin(g, out, "content_block_start");
            tw__mb_printf(out,
                          "{\"type\":\"content_block_start\",\"index\":%ld,\"content_block\":{"
                          "\"type\":\"tool_use\",\"id\":\"toolu_mock_%ld\",\"name\":"
                          "\"get_weather\",\"input\":{}}}",
                          blk_tool(g, k), k);
            ev_end(g, out);
            g->n_text++;
        } else if (d == TW__MD_ANTHROPIC) {
            ev_begin(g, out, "content_block_delta");
            tw__mb_printf(out,
                          "{\"type\":\"content_block_delta\",\"index\":%ld,\"delta\":{\"type\":"
                          "\"input_json_delta\",\"partial_json\":\"\"}}",
                          blk_tool(g, k));
            ev_end(g, out);
        } else if (is_gemini(d)) {
            tw__mb_puts(&j, "{\"functionCall\":{\"name\":\"get_weather\",\"args\":");
            tw__mb_put(&j, g->tool_acc.data, g->tool_acc.len);
            tw__mb_puts(&j, "}}");
            g->n_text++;
            gemini_chunk(g, out, j.data, j.len, NULL);
        } else {
            tw__mb_puts(&j, "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
                            "[{\"function\":{\"name\":\"get_weather\",\"arguments\":");
            tw__mb_put(&j, g->tool_acc.data, g->tool_acc.len);
            tw__mb_puts(&j, "}}]},\"done\":false");
            ollama_line(g, out, j.data, j.len);
            g->n_text++;
        }
        break;
    }
    case PH_TOOL_FRAG: {
        long k = g->tool, fj = d == TW__MD_OPENAI ? s / g->nch : s;
        g->scratch.len = 0;
        tw__mock_tool_frag(&g->scratch, k, fj);
        if (d == TW__MD_OPENAI) {
            tw__mb_printf(&j, "{\"tool_calls\":[{\"index\":%ld,\"function\":{\"arguments\":", k);
            tw__mb_jstr(&j, g->scratch.data, g->scratch.len);
            tw__mb_puts(&j, "}}]}");
            openai_delta(g, out, c, j.data, j.len);
        } else if (d == TW__MD_RESPONSES) {
            resp_begin(g, out, "response.function_call_arguments.delta");
            tw__mb_printf(out, ",\"item_id\":\"fc_mock%ld\",\"output_index\":%ld,\"delta\":", k,
                          blk_tool(g, k));
            tw__mb_jstr(out, g->scratch.data, g->scratch.len);
            resp_end(g, out);
        } else {
            ev_begin(g, out, "content_block_delta");
            tw__mb_printf(out,
                          "{\"type\":\"content_block_delta\",\"index\":%ld,\"delta\":{\"type\":"
                          "\"input_json_delta\",\"partial_json\":",
                          blk_tool(g, k));
            tw__mb_jstr(out, g->scratch.data, g->scratch.len);
            tw__mb_puts(out, "}}");
            ev_end(g, out);
        }
        g->n_text++;
        break;
    }
    case PH_TOOL_END: {
        long k = g->tool;
        if (d == TW__MD_RESPONSES && s == 0) {
            resp_begin(g, out, "response.function_call_arguments.done");
            tw__mb_printf(out, ",\"item_id\":\"fc_mock%ld\",\"output_index\":%ld,\"arguments\":",
                          k, blk_tool(g, k));
            tw__mb_jstr(out, g->tool_acc.data, g->tool_acc.len);
            resp_end(g, out);
        } else if (d == TW__MD_RESPONSES) {
            resp_begin(g, out, "response.output_item.done");
            tw__mb_printf(out,
                          ",\"output_index\":%ld,\"item\":{\"id\":\"fc_mock%ld\",\"type\":"
                          "\"function_call\",\"status\":\"completed\",\"call_id\":\"call_mock_%ld\","
                          "\"name\":\"get_weather\",\"arguments\":",
                          blk_tool(g, k), k, k);
            tw__mb_jstr(out, g->tool_acc.data, g->tool_acc.len);
            tw__mb_puts(out, "}");
            resp_end(g, out);
        } else {
            ev_begin(g, out, "content_block_stop");
            tw__mb_printf(out, "{\"type\":\"content_block_stop\",\"index\":%ld}", blk_tool(g, k));
            ev_end(g, out);
        }
        break;
    }
    case PH_FIN:
        if (d == TW__MD_OPENAI) {
            ev_begin(g, out, NULL);
            openai_head(g, out);
            tw__mb_printf(out,
                          "{\"index\":%ld,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"%s\"}",
                          c, finish_reason(g));
            openai_tail(g, out);
            ev_end(g, out);
        } else if (d == TW__MD_ANTHROPIC) {
            ev_begin(g, out, "message_delta");
            tw__mb_printf(out,
                          "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"%s\","
                          "\"stop_sequence\":null}",
                          finish_reason(g));
            if (p->usage)
                tw__mb_printf(out, ",\"usage\":{\"output_tokens\":%ld}", g->n_text + g->n_reason);
            tw__mb_puts(out, "}");
            ev_end(g, out);
        } else if (is_gemini(d)) {
            gemini_chunk(g, out, "{\"text\":\"\"}", 11, finish_reason(g));
        } else {
            if (d == TW__MD_OLLAMA_CHAT)
                tw__mb_puts(&j, "\"message\":{\"role\":\"assistant\",\"content\":\"\"},");
            else
                tw__mb_puts(&j, "\"response\":\"\",");
            tw__mb_puts(&j, "\"done_reason\":\"stop\",\"done\":true");
            if (d == TW__MD_OLLAMA_GEN) tw__mb_puts(&j, ",\"context\":[1,2,3]");
            if (p->usage)
                tw__mb_printf(&j,
                              ",\"total_duration\":%ld,\"load_duration\":1000000,"
                              "\"prompt_eval_count\":%d,\"prompt_eval_duration\":2000000,"
                              "\"eval_count\":%ld,\"eval_duration\":%ld",
                              3000000L + (g->n_text + g->n_reason) * 1000000L, MOCK_INPUT_TOKENS,
                              g->n_text + g->n_reason, (g->n_text + g->n_reason) * 1000000L);
            ollama_line(g, out, j.data, j.len);
        }
        break;
    case PH_USAGE: {
        long o = g->n_text + g->n_reason;
        ev_begin(g, out, NULL);
        openai_head(g, out);
        tw__mb_printf(out,
                      "],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%ld,"
                      "\"total_tokens\":%ld,\"prompt_tokens_details\":{\"cached_tokens\":0},"
                      "\"completion_tokens_details\":{\"reasoning_tokens\":%ld}}}",
                      MOCK_INPUT_TOKENS, o, MOCK_INPUT_TOKENS + o, g->n_reason);
        ev_end(g, out);
        break;
    }
    case PH_END:
        if (d == TW__MD_OPENAI) {
            tw__mb_puts(out, "data: [DONE]\n\n");
        } else if (d == TW__MD_RESPONSES) {
            resp_begin(g, out, "response.completed");
            tw__mb_puts(out, ",\"response\":");
            resp_object(g, out, "completed", 1);
            resp_end(g, out);
        } else if (d == TW__MD_ANTHROPIC) {
            anth_event(g, out, "message_stop", "{\"type\":\"message_stop\"}");
        } else if (d == TW__MD_GEMINI_ARRAY) {
            tw__mb_puts(out, "]");
        }
        break;
    default: break;
    }
    tw_buf_free(&j);
    g->sub++;
}

tw__gen_rc tw__gen_next(tw__mock_gen *g, tw_buf *out) {
    if (g->over_left >= 0) {
        continue_oversized(g, out);
        return TW__GEN_EVENT;
    }
    if (g->perr_sent || g->hb_only || g->phase == PH_DONE) return TW__GEN_DONE;
    if (fault_now(g)) {
        g->fault_fired = 1;
        switch (g->p->fault) {
        case TW__FAULT_RESET: return TW__GEN_RESET;
        case TW__FAULT_STALL: return TW__GEN_STALL;
        case TW__FAULT_HEARTBEAT_ONLY:
            g->hb_only = 1;
            return TW__GEN_STALL;
        case TW__FAULT_PROVIDER_ERROR:
            emit_provider_error(g, out);
            g->perr_sent = 1;
            return TW__GEN_EVENT;
        case TW__FAULT_GARBAGE: emit_garbage(g, out); break;
        case TW__FAULT_BAD_UTF8: emit_text(g, out, 0, "\xff\xfe", 2); break;
        case TW__FAULT_OVERSIZED: start_oversized(g, out); break;
        default: break;
        }
        settle(g);
        return TW__GEN_EVENT;
    }
    emit(g, out);
    settle(g);
    return TW__GEN_EVENT;
}

/* ---- non-streaming bodies ------------------------------------------------------------------ */

static void unary_text(tw_buf *t, const tw__mock_params *p, long c) {
    tw__mock_words w;
    if (tw__mock_words_init(&w, p->text, p->text_len) != 0) {
        fputs("tokenwire mock: out of memory\n", stderr);
        abort();
    }
    for (long i = 0; i < p->chunks; i++) {
        if (p->timestamp)
            tw__mb_printf(t, "%llu ", (unsigned long long)tw__mock_realtime_us());
        else
            tw__mock_words_delta(&w, t, i, c);
    }
    tw__mock_words_free(&w);
}

void tw__mock_unary_body(tw_buf *out, tw__mock_dialect d, const tw__mock_params *p,
                         const char *model, uint64_t reqno) {
    tw_buf t = {0}, r = {0}, a = {0};
    long nch = d == TW__MD_OPENAI ? p->choices : 1;
    long created = (long)(tw__mock_realtime_us() / 1000000u);
    long n_text = 0, n_reason = p->reasoning * nch, o;
    unsigned long long rq = (unsigned long long)reqno;
    int tools = p->tools > 0;
    for (long k = 0; k < p->reasoning; k++) tw__mock_reasoning_delta(&r, k);
    /* Usage matches what the streaming form of the same dialect reports. */
    if (d == TW__MD_OPENAI || d == TW__MD_RESPONSES || d == TW__MD_ANTHROPIC) {
        n_text = p->chunks * nch;
        for (long k = 0; k < p->tools; k++) n_text += nch * (1 + tw__mock_tool_nfrags(k));
    } else {
        n_text = p->chunks + (d == TW__MD_OLLAMA_GEN ? 0 : p->tools);
    }
    o = n_text + n_reason;
    switch (d) {
    case TW__MD_OPENAI:
        tw__mb_printf(out, "{\"id\":\"chatcmpl-mock%llu\",\"object\":\"chat.completion\","
                           "\"created\":%ld,\"model\":", rq, created);
        tw__mb_jstr(out, model, strlen(model));
        tw__mb_puts(out, ",\"system_fingerprint\":\"fp_mock\",\"choices\":[");
        for (long c = 0; c < nch; c++) {
            t.len = 0;
            unary_text(&t, p, c);
            tw__mb_printf(out, "%s{\"index\":%ld,\"message\":{\"role\":\"assistant\",\"content\":",
                          c ? "," : "", c);
            tw__mb_jstr(out, t.data, t.len);
            if (p->reasoning) {
                tw__mb_puts(out, ",\"reasoning_content\":");
                tw__mb_jstr(out, r.data, r.len);
            }
            tw__mb_puts(out, ",\"refusal\":null");
            if (tools) {
                tw__mb_puts(out, ",\"tool_calls\":[");
                for (long k = 0; k < p->tools; k++) {
                    a.len = 0;
                    tw__mock_tool_args(&a, k);
                    tw__mb_printf(out,
                                  "%s{\"id\":\"call_mock_%ld\",\"type\":\"function\",\"function\":"
                                  "{\"name\":\"get_weather\",\"arguments\":",
                                  k ? "," : "", k);
                    tw__mb_jstr(out, a.data, a.len);
                    tw__mb_puts(out, "}}");
                }
                tw__mb_puts(out, "]");
            }
            tw__mb_printf(out, "},\"logprobs\":null,\"finish_reason\":\"%s\"}",
                          tools ? "tool_calls" : "stop");
        }
        tw__mb_puts(out, "]");
        if (p->usage)
            tw__mb_printf(out,
                          ",\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%ld,"
                          "\"total_tokens\":%ld,\"prompt_tokens_details\":{\"cached_tokens\":0},"
                          "\"completion_tokens_details\":{\"reasoning_tokens\":%ld}}",
                          MOCK_INPUT_TOKENS, o, MOCK_INPUT_TOKENS + o, n_reason);
        tw__mb_puts(out, "}");
        break;
    case TW__MD_RESPONSES: {
        tw__mock_gen *g = tw__gen_new(d, p, model, reqno);
        if (!g) {
            fputs("tokenwire mock: out of memory\n", stderr);
            abort();
        }
        unary_text(&g->acc, p, 0);
        tw__mb_put(&g->racc, r.data, r.len);
        g->n_text = n_text;
        g->n_reason = n_reason;
        g->created = created;
        resp_object(g, out, "completed", 1);
        tw__gen_free(g);
        break;
    }
    case TW__MD_ANTHROPIC:
        tw__mb_printf(out, "{\"id\":\"msg_mock%llu\",\"type\":\"message\",\"role\":\"assistant\","
                           "\"model\":", rq);
        tw__mb_jstr(out, model, strlen(model));
        tw__mb_puts(out, ",\"content\":[");
        if (p->reasoning) {
            tw__mb_puts(out, "{\"type\":\"thinking\",\"thinking\":");
            tw__mb_jstr(out, r.data, r.len);
            tw__mb_puts(out, ",\"signature\":\"bW9jay1zaWduYXR1cmU=\"},");
        }
        unary_text(&t, p, 0);
        tw__mb_puts(out, "{\"type\":\"text\",\"text\":");
        tw__mb_jstr(out, t.data, t.len);
        tw__mb_puts(out, "}");
        for (long k = 0; k < p->tools; k++) {
            tw__mb_printf(out, ",{\"type\":\"tool_use\",\"id\":\"toolu_mock_%ld\",\"name\":"
                               "\"get_weather\",\"input\":", k);
            a.len = 0;
            tw__mock_tool_args(&a, k);
            tw__mb_put(out, a.data, a.len);
            tw__mb_puts(out, "}");
        }
        tw__mb_printf(out, "],\"stop_reason\":\"%s\",\"stop_sequence\":null",
                      tools ? "tool_use" : "end_turn");
        if (p->usage)
            tw__mb_printf(out,
                          ",\"usage\":{\"input_tokens\":%d,\"cache_creation_input_tokens\":0,"
                          "\"cache_read_input_tokens\":0,\"output_tokens\":%ld}",
                          MOCK_INPUT_TOKENS, o);
        tw__mb_puts(out, "}");
        break;
    case TW__MD_GEMINI_SSE:
    case TW__MD_GEMINI_ARRAY:
    case TW__MD_GEMINI_UNARY:
        tw__mb_puts(out, "{\"candidates\":[{\"content\":{\"parts\":[");
        if (p->reasoning) {
            tw__mb_puts(out, "{\"text\":");
            tw__mb_jstr(out, r.data, r.len);
            tw__mb_puts(out, ",\"thought\":true},");
        }
        unary_text(&t, p, 0);
        tw__mb_puts(out, "{\"text\":");
        tw__mb_jstr(out, t.data, t.len);
        tw__mb_puts(out, "}");
        for (long k = 0; k < p->tools; k++) {
            tw__mb_puts(out, ",{\"functionCall\":{\"name\":\"get_weather\",\"args\":");
            a.len = 0;
            tw__mock_tool_args(&a, k);
            tw__mb_put(out, a.data, a.len);
            tw__mb_puts(out, "}}");
        }
        tw__mb_puts(out, "],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}]");
        if (p->usage) {
            tw__mb_printf(out,
                          ",\"usageMetadata\":{\"promptTokenCount\":%d,\"candidatesTokenCount\":%ld,"
                          "\"totalTokenCount\":%ld",
                          MOCK_INPUT_TOKENS, n_text, MOCK_INPUT_TOKENS + o);
            if (n_reason) tw__mb_printf(out, ",\"thoughtsTokenCount\":%ld", n_reason);
            tw__mb_puts(out, "}");
        }
        tw__mb_puts(out, ",\"modelVersion\":");
        tw__mb_jstr(out, model, strlen(model));
        tw__mb_printf(out, ",\"responseId\":\"mock%llu\"}", rq);
        break;
    case TW__MD_OLLAMA_CHAT:
    case TW__MD_OLLAMA_GEN: {
        tw__mb_puts(out, "{\"model\":");
        tw__mb_jstr(out, model, strlen(model));
        tw__mb_puts(out, ",\"created_at\":");
        iso_time(out);
        unary_text(&t, p, 0);
        if (d == TW__MD_OLLAMA_CHAT) {
            tw__mb_puts(out, ",\"message\":{\"role\":\"assistant\",\"content\":");
            tw__mb_jstr(out, t.data, t.len);
            if (p->reasoning) {
                tw__mb_puts(out, ",\"thinking\":");
                tw__mb_jstr(out, r.data, r.len);
            }
            if (tools) {
                tw__mb_puts(out, ",\"tool_calls\":[");
                for (long k = 0; k < p->tools; k++) {
                    tw__mb_printf(out, "%s{\"function\":{\"name\":\"get_weather\",\"arguments\":",
                                  k ? "," : "");
                    a.len = 0;
                    tw__mock_tool_args(&a, k);
                    tw__mb_put(out, a.data, a.len);
                    tw__mb_puts(out, "}}");
                }
                tw__mb_puts(out, "]");
            }
            tw__mb_puts(out, "}");
        } else {
            tw__mb_puts(out, ",\"response\":");
            tw__mb_jstr(out, t.data, t.len);
            if (p->reasoning) {
                tw__mb_puts(out, ",\"thinking\":");
                tw__mb_jstr(out, r.data, r.len);
            }
            tw__mb_puts(out, ",\"context\":[1,2,3]");
        }
        tw__mb_puts(out, ",\"done_reason\":\"stop\",\"done\":true");
        if (p->usage)
            tw__mb_printf(out,
                          ",\"total_duration\":%ld,\"load_duration\":1000000,"
                          "\"prompt_eval_count\":%d,\"prompt_eval_duration\":2000000,"
                          "\"eval_count\":%ld,\"eval_duration\":%ld",
                          3000000L + o * 1000000L, MOCK_INPUT_TOKENS, o, o * 1000000L);
        tw__mb_puts(out, "}");
        break;
    }
    default: break;
    }
    tw_buf_free(&t);
    tw_buf_free(&r);
    tw_buf_free(&a);
}

void tw__mock_error_body(tw_buf *out, tw__mock_dialect d, int status, const char *msg) {
    switch (d) {
    case TW__MD_ANTHROPIC: {
        const char *type = status == 429   ? "rate_limit_error"
                           : status == 404 ? "not_found_error"
                           : status == 529 ? "overloaded_error"
                           : status >= 500 ? "api_error"
                                           : "invalid_request_error";
        tw__mb_printf(out, "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":", type);
        tw__mb_jstr(out, msg, strlen(msg));
        tw__mb_puts(out, "},\"request_id\":\"req_mock\"}");
        break;
    }
    case TW__MD_GEMINI_SSE:
    case TW__MD_GEMINI_ARRAY:
    case TW__MD_GEMINI_UNARY: {
        const char *st = status == 429   ? "RESOURCE_EXHAUSTED"
                         : status == 404 ? "NOT_FOUND"
                         : status == 503 ? "UNAVAILABLE"
                         : status >= 500 ? "INTERNAL"
                                         : "INVALID_ARGUMENT";
        tw__mb_printf(out, "{\"error\":{\"code\":%d,\"message\":", status);
        tw__mb_jstr(out, msg, strlen(msg));
        tw__mb_printf(out, ",\"status\":\"%s\"}}", st);
        break;
    }
    case TW__MD_OLLAMA_CHAT:
    case TW__MD_OLLAMA_GEN:
        tw__mb_puts(out, "{\"error\":");
        tw__mb_jstr(out, msg, strlen(msg));
        tw__mb_puts(out, "}");
        break;
    default: {
        const char *type = status == 429   ? "requests"
                           : status >= 500 ? "server_error"
                                           : "invalid_request_error";
        const char *code = status == 429 ? "\"rate_limit_exceeded\"" : "null";
        tw__mb_puts(out, "{\"error\":{\"message\":");
        tw__mb_jstr(out, msg, strlen(msg));
        tw__mb_printf(out, ",\"type\":\"%s\",\"param\":null,\"code\":%s}}", type, code);
        break;
    }
    }
}
