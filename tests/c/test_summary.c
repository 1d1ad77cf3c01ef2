/* test_summary.c - tw_summary: the one definition of a stream's result (rules in
 * tw_summary.h), and the finish-reason vocabulary. */
#include "tokenwire.h"
#include "tw_test.h"

#include <string.h>

static tw_event ev_of(tw_event_type t, int32_t index) {
    tw_event e;
    tw_event_init(&e);
    e.type = t;
    e.index = index;
    return e;
}

static tw_str lit(const char *s) { return (tw_str){s, strlen(s)}; }

TW_TEST(summary_choices_tools_usage_end) {
    tw_summary *s = tw_summary_new(1, 1), *c;
    tw_event e;
    tw_tool_call tc;
    int64_t in, out, total;
    tw_error_kind kind;
    tw_str msg;
    tw_buf js;
    e = ev_of(TW_EV_START, 0);
    e.id = lit("r1");
    e.name = lit("m1");
    tw_summary_add(s, &e);
    e.name = lit("m2"); /* a later START does not replace the model */
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_TEXT, 0);
    e.text = lit("Hel");
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_TEXT, 1);
    e.text = lit("B");
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_TEXT, 0);
    e.text = lit("lo");
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_TOOL_CALL, 3);
    e.id = lit("call_1");
    e.name = lit("f");
    e.arguments = lit("{\"a\":");
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_TOOL_CALL, 3);
    e.id = lit("call_other"); /* the first id wins */
    e.arguments = lit("1}");
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_FINISH, 1);
    e.reason = lit("MAX_TOKENS");
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_FINISH, 0);
    e.reason = lit("end_turn");
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_USAGE, 0);
    e.input_tokens = 5;
    e.output_tokens = 7;
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_ERROR, 0);
    e.error_kind = TW_KIND_PROTOCOL;
    e.recoverable = 1;
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_END, 0);
    tw_summary_add(s, &e);

    c = tw_summary_copy(s); /* every check below holds for the copy too */
    tw_summary_free(s);
    CHECK_EQ_INT(tw_summary_choices(c), 2);
    CHECK_EQ_STR(tw_summary_text(c, 0).ptr, tw_summary_text(c, 0).len, "Hello");
    CHECK_EQ_STR(tw_summary_text(c, 1).ptr, tw_summary_text(c, 1).len, "B");
    CHECK_EQ_INT(tw_summary_finish(c, 0), TW_FINISH_STOP);
    CHECK_EQ_INT(tw_summary_finish(c, 1), TW_FINISH_LENGTH);
    CHECK_EQ_STR(tw_summary_finish_raw(c, 1).ptr, tw_summary_finish_raw(c, 1).len, "MAX_TOKENS");
    CHECK_EQ_INT((int)tw_summary_tool_calls(c), 1);
    CHECK_EQ_INT(tw_summary_tool_call(c, 0, &tc), 0);
    CHECK_EQ_INT(tc.index, 3);
    CHECK_EQ_STR(tc.id.ptr, tc.id.len, "call_1");
    CHECK_EQ_STR(tc.arguments.ptr, tc.arguments.len, "{\"a\":1}");
    CHECK_EQ_INT(tw_summary_usage(c, &in, &out, &total), 1);
    CHECK(in == 5 && out == 7 && total == 12); /* derived: the provider gave no total */
    CHECK_EQ_STR(tw_summary_model(c).ptr, tw_summary_model(c).len, "m1");
    CHECK_EQ_INT(tw_summary_end(c, &kind, NULL, &msg), TW_EV_END);
    CHECK_EQ_INT((int)tw_summary_recoverable_errors(c), 1);
    tw_buf_init(&js);
    CHECK_EQ_INT(tw_summary_to_json(c, &js), TW_OK);
    tw_buf_append(&js, "", 1);
    CHECK(strstr(js.data, "\"text\":\"Hello\"") && strstr(js.data, "\"finish_reason\":\"stop\"") &&
          strstr(js.data, "\"finish_reason_raw\":\"end_turn\"") &&
          strstr(js.data, "\"total_tokens\":12") && strstr(js.data, "\"end\":\"end\""));
    tw_buf_free(&js);
    tw_summary_free(c);
}

/* Content-block dialects: every index is choice 0; accumulate off counts without keeping; a
 * terminal error is the end. */
TW_TEST(summary_blocks_counting_and_errors) {
    tw_summary *s = tw_summary_new(0, 0);
    tw_event e;
    tw_error_kind kind;
    int32_t status;
    tw_str msg;
    e = ev_of(TW_EV_REASONING, 0);
    e.text = lit("think");
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_TEXT, 1);
    e.text = lit("answer");
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_FINISH, 0);
    e.reason = lit("tool_use");
    tw_summary_add(s, &e);
    e = ev_of(TW_EV_ERROR, 0);
    e.error_kind = TW_KIND_TRUNCATED;
    e.status = 0;
    e.text = lit("cut");
    tw_summary_add(s, &e);
    CHECK_EQ_INT(tw_summary_choices(s), 1);
    CHECK(tw_summary_text(s, 0).ptr == NULL);
    CHECK_EQ_INT((int)tw_summary_text_bytes(s, 0), 6);
    CHECK_EQ_INT((int)tw_summary_reasoning_bytes(s, 0), 5);
    CHECK_EQ_INT(tw_summary_finish(s, 0), TW_FINISH_TOOL_CALLS);
    CHECK_EQ_INT(tw_summary_end(s, &kind, &status, &msg), TW_EV_ERROR);
    CHECK_EQ_INT(kind, TW_KIND_TRUNCATED);
    CHECK_EQ_STR(msg.ptr, msg.len, "cut");
    CHECK_EQ_INT(tw_summary_usage(s, NULL, NULL, NULL), 0);
    tw_summary_free(s);
}

TW_TEST(summary_finish_vocabulary) {
    static const struct {
        const char *raw;
        tw_finish want;
    } cases[] = {{"stop", TW_FINISH_STOP},          {"STOP", TW_FINISH_STOP},
                 {"end_turn", TW_FINISH_STOP},      {"completed", TW_FINISH_STOP},
                 {"length", TW_FINISH_LENGTH},      {"MAX_TOKENS", TW_FINISH_LENGTH},
                 {"tool_calls", TW_FINISH_TOOL_CALLS}, {"function_call", TW_FINISH_TOOL_CALLS},
                 {"tool_use", TW_FINISH_TOOL_CALLS}, {"SAFETY", TW_FINISH_CONTENT_FILTER},
                 {"content_filter", TW_FINISH_CONTENT_FILTER}, {"failed", TW_FINISH_ERROR},
                 {"pause_turn", TW_FINISH_OTHER},   {"weird", TW_FINISH_OTHER},
                 {"", TW_FINISH_NONE}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(tw_finish_from_reason(lit(cases[i].raw)) == cases[i].want, "%s", cases[i].raw);
    CHECK(!strcmp(tw_finish_name(TW_FINISH_CONTENT_FILTER), "content_filter"));
    CHECK(tw_finish_name(TW_FINISH_NONE) == NULL);
}

