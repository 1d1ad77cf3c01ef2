/*
 * tw_summary.h - what a stream said, assembled from its events: the one definition of a
 * stream's result that the engine, both bindings and the CLI share. Included by tokenwire.h.
 *
 * Rules (the same everywhere):
 * - text and reasoning are kept per choice: choice 0 is "the" answer; n > 1 and Gemini
 *   candidates keep their own (for dialects whose indexes are content blocks, all is choice 0).
 * - tool calls are assembled per tool-call index: the first non-empty id and name win,
 *   argument deltas are concatenated in order.
 * - usage: the last USAGE event's figures; total = input + output when the provider gave no
 *   total (and both are known).
 * - finish reason per choice: the provider's spelling is kept (raw) beside one vocabulary:
 *   stop, length, tool_calls, content_filter, error, other.
 * - the end: END, or the terminal ERROR (kind and message); recoverable errors are counted.
 * With accumulate off, text and reasoning are counted (bytes) but not kept, so a 50 MB answer
 * costs no memory; tool calls, usage and finish reasons are always kept.
 */
#ifndef TW_SUMMARY_H
#define TW_SUMMARY_H

#include "tw_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Finish reasons, normalized. */
typedef enum tw_finish {
    TW_FINISH_NONE = 0,     /* no finish reason seen */
    TW_FINISH_STOP,         /* stop, end_turn, stop_sequence, STOP, completed ... */
    TW_FINISH_LENGTH,       /* length, max_tokens, MAX_TOKENS, max_output_tokens ... */
    TW_FINISH_TOOL_CALLS,   /* tool_calls, tool_use, function_call */
    TW_FINISH_CONTENT_FILTER, /* content_filter, SAFETY, RECITATION, refusal ... */
    TW_FINISH_ERROR,        /* error, failed, MALFORMED_FUNCTION_CALL */
    TW_FINISH_OTHER,        /* anything else (the raw reason says what) */
    TW_FINISH__LAST
} tw_finish;

/** Maps a provider's finish reason (any case) to the vocabulary. Thread: any. */
TW_API tw_finish tw_finish_from_reason(tw_str raw);
/** Static name: "stop", "length", "tool_calls", "content_filter", "error", "other"; NULL for
 * TW_FINISH_NONE or invalid. Thread: any. Ownership: static. */
TW_API const char *tw_finish_name(tw_finish f);

typedef struct tw_summary tw_summary;

/**
 * @param accumulate 0: text and reasoning are counted, not kept.
 * @param indexes_choices tw_dialect_indexes_choices() of the source dialect: 1 when event
 * indexes are choices (OpenAI n > 1, Gemini candidates), 0 when they are content blocks
 * (Anthropic, Responses): then every text and finish reason belongs to choice 0.
 * @return NULL on NOMEM. Thread: any. Ownership: free with tw_summary_free.
 */
TW_API tw_summary *tw_summary_new(int accumulate, int indexes_choices);
TW_API void tw_summary_free(tw_summary *s);
/** Deep copy (a snapshot). @return NULL on NOMEM. */
TW_API tw_summary *tw_summary_copy(const tw_summary *s);

/** Adds one event (any type; those that say nothing about the result are ignored).
 * @return TW_OK or TW_ERR_NOMEM (the summary stays consistent, missing that event). */
TW_API tw_code tw_summary_add(tw_summary *s, const tw_event *ev);

/* Accessors. Returned strings are borrowed from the summary: valid until the next
 * tw_summary_add or tw_summary_free. Thread: the owner's. */

/** 1 when text and reasoning are kept (accumulate), 0 when only counted: then an absent text
 * means "not kept", not "empty". */
TW_API int tw_summary_accumulates(const tw_summary *s);
/** Number of choices seen (highest choice index + 1; 0 before any). */
TW_API int32_t tw_summary_choices(const tw_summary *s);
/** Text of a choice ({NULL,0} when none or not accumulated). */
TW_API tw_str tw_summary_text(const tw_summary *s, int32_t choice);
TW_API tw_str tw_summary_reasoning(const tw_summary *s, int32_t choice);
/** Bytes of text / reasoning received for a choice (kept or not). */
TW_API uint64_t tw_summary_text_bytes(const tw_summary *s, int32_t choice);
TW_API uint64_t tw_summary_reasoning_bytes(const tw_summary *s, int32_t choice);
/** Finish reason of a choice, normalized and as the provider spelled it. */
TW_API tw_finish tw_summary_finish(const tw_summary *s, int32_t choice);
TW_API tw_str tw_summary_finish_raw(const tw_summary *s, int32_t choice);

typedef struct tw_tool_call {
    int32_t index;
    tw_str id, name, arguments; /* arguments: every delta, concatenated */
} tw_tool_call;

TW_API size_t tw_summary_tool_calls(const tw_summary *s);
/** Tool call i (< tw_summary_tool_calls), in order of first appearance. @return 0 or -1. */
TW_API int tw_summary_tool_call(const tw_summary *s, size_t i, tw_tool_call *out);

/** Usage: -1 for a figure not known; total derived from input + output when not given.
 * @return 1 when a USAGE event was seen, else 0. */
TW_API int tw_summary_usage(const tw_summary *s, int64_t *input, int64_t *output,
                            int64_t *total);
/** Response id and model from START ({NULL,0} when none). */
TW_API tw_str tw_summary_id(const tw_summary *s);
TW_API tw_str tw_summary_model(const tw_summary *s);

/** How the stream ended: 0 not yet, TW_EV_END, or TW_EV_ERROR (then kind, status and message
 * of the terminal error). */
TW_API tw_event_type tw_summary_end(const tw_summary *s, tw_error_kind *kind, int32_t *status,
                                    tw_str *message);
/** Recoverable errors seen (one bad event each; the stream went on). */
TW_API uint64_t tw_summary_recoverable_errors(const tw_summary *s);

/**
 * The summary as one JSON object (the shape the conformance suite, the CLI and both bindings
 * use): {"id","model","text","reasoning","choices":[{"index","text","reasoning","finish_reason",
 * "finish_reason_raw"}],"tool_calls":[{"index","id","name","arguments"}],"usage":{"input_tokens",
 * "output_tokens","total_tokens"}|null,"finish_reason","finish_reason_raw","end":"end"|"error",
 * "error":{"kind","status","message"}|null,"recoverable_errors"}. text/reasoning/finish_reason
 * at the top are those of choice 0. Appends to out. @return TW_OK or TW_ERR_NOMEM.
 */
TW_API tw_code tw_summary_to_json(const tw_summary *s, tw_buf *out);

#ifdef __cplusplus
}
#endif

#endif /* TW_SUMMARY_H */
