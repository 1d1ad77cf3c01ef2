/* test_common.c - error strings, byte buffer, event batches. */
#include "tokenwire.h"
#include "tw_test.h"

#include <stdlib.h>

TW_TEST(strerror_covers_every_code) {
    for (int c = 0; c < TW_ERR__LAST; c++) CHECK(strcmp(tw_strerror((tw_code)c), "unknown error") != 0);
    CHECK(strcmp(tw_strerror(TW_ERR__LAST), "unknown error") == 0);
    CHECK(strcmp(tw_strerror((tw_code)-1), "unknown error") == 0);
    for (int t = 1; t < TW_EV__LAST; t++) CHECK(strcmp(tw_event_type_name((tw_event_type)t), "unknown") != 0);
}

TW_TEST(buf_keeps_padding) {
    tw_buf b;
    tw_buf_init(&b);
    for (int i = 0; i < 1000; i++) {
        CHECK_EQ_INT(tw_buf_append(&b, "abcdefg", 7), TW_OK);
        CHECK(b.cap >= b.len + TW_JSON_PADDING);
    }
    CHECK_EQ_INT(b.len, 7000);
    tw_buf_free(&b);
    CHECK(b.data == NULL);
}

TW_TEST(batch_deep_copies_and_keeps_pointers_stable) {
    tw_batch *b = tw_batch_new();
    char text[32];
    const char *first_ptr;
    tw_event ev;
    char *big = malloc(100000);
    memset(big, 'x', 100000);
    tw_event_init(&ev);
    ev.type = TW_EV_TEXT;
    strcpy(text, "hello");
    ev.text.ptr = text;
    ev.text.len = 5;
    CHECK_EQ_INT(tw_batch_push(b, &ev), TW_OK);
    strcpy(text, "XXXXX"); /* the batch must not alias the caller's memory */
    first_ptr = tw_batch_get(b, 0)->text.ptr;
    for (int i = 0; i < 5000; i++) {
        ev.text.ptr = (i % 100 == 0) ? big : "0123456789";
        ev.text.len = (i % 100 == 0) ? 100000 : 10;
        CHECK_EQ_INT(tw_batch_push(b, &ev), TW_OK);
    }
    CHECK_EQ_INT(tw_batch_count(b), 5001);
    CHECK(tw_batch_get(b, 0)->text.ptr == first_ptr);
    CHECK_EQ_STR(tw_batch_get(b, 0)->text.ptr, tw_batch_get(b, 0)->text.len, "hello");
    CHECK_EQ_STR(tw_batch_get(b, 2)->text.ptr, tw_batch_get(b, 2)->text.len, "0123456789");
    CHECK_EQ_INT(tw_batch_get(b, 101)->text.len, 100000);
    CHECK(tw_batch_get(b, 5001) == NULL);
    CHECK(tw_batch_bytes(b) > 5000 * 10);
    tw_batch_clear(b);
    CHECK_EQ_INT(tw_batch_count(b), 0);
    CHECK_EQ_INT(tw_batch_push(b, &ev), TW_OK);
    CHECK_EQ_INT(tw_batch_count(b), 1);
    tw_batch_free(b);
    free(big);
}

/* Merge framing: agent_start before a source's first event, events tagged, END not
 * forwarded, a terminal error forwarded, agent_complete after the terminal event, nothing
 * after it; done when every source completed. */
typedef struct frame_rec {
    tw_buf out;
} frame_rec;

static int frame_rec_event(void *ud, const tw_event *ev) {
    frame_rec *r = ud;
    tw_buf_append(&r->out, tw_event_type_name(ev->type), strlen(tw_event_type_name(ev->type)));
    tw_buf_append(&r->out, ":", 1);
    tw_buf_append(&r->out, ev->source.ptr, ev->source.len);
    tw_buf_append(&r->out, " ", 1);
    return 0;
}

TW_TEST(merge_framer_rule) {
    tw_framer *f = tw_framer_new(2);
    frame_rec r;
    tw_event text, end, err, rec;
    tw_str a = {"a", 1}, b = {"b", 1};
    memset(&r, 0, sizeof r);
    tw_event_init(&text);
    text.type = TW_EV_TEXT;
    tw_event_init(&end);
    end.type = TW_EV_END;
    tw_event_init(&err);
    err.type = TW_EV_ERROR;
    err.error_kind = TW_KIND_TRANSPORT;
    rec = err;
    rec.error_kind = TW_KIND_PROTOCOL;
    rec.recoverable = 1;
    CHECK(f != NULL && !tw_framer_started(f, 0));
    CHECK_EQ_INT(tw_framer_push(f, 0, a, &text, frame_rec_event, &r), TW_OK);
    CHECK_EQ_INT(tw_framer_push(f, 1, b, &rec, frame_rec_event, &r), TW_OK);
    CHECK_EQ_INT(tw_framer_push(f, 0, a, &end, frame_rec_event, &r), TW_OK);
    CHECK(!tw_framer_done(f) && tw_framer_completed(f, 0));
    CHECK_EQ_INT(tw_framer_push(f, 0, a, &text, frame_rec_event, &r), TW_OK); /* ignored */
    CHECK_EQ_INT(tw_framer_push(f, 1, b, &err, frame_rec_event, &r), TW_OK);
    CHECK(tw_framer_done(f));
    CHECK_EQ_INT(tw_framer_push(f, 2, b, &err, frame_rec_event, &r), TW_ERR_INVALID_ARG);
    CHECK_EQ_INT(tw_framer_close(f, 1, b, frame_rec_event, &r), TW_OK); /* already done */
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data),
                 "agent_start:a text:a agent_start:b error:b agent_complete:a error:b "
                 "agent_complete:b ");
    tw_buf_free(&r.out);
    tw_framer_free(f);
}

/* A source closed without a terminal event: agent_complete if it had started. */
TW_TEST(merge_framer_close) {
    tw_framer *f = tw_framer_new(2);
    frame_rec r;
    tw_event text;
    tw_str a = {"a", 1}, b = {"b", 1};
    memset(&r, 0, sizeof r);
    tw_event_init(&text);
    text.type = TW_EV_TEXT;
    tw_framer_push(f, 0, a, &text, frame_rec_event, &r);
    CHECK_EQ_INT(tw_framer_close(f, 0, a, frame_rec_event, &r), TW_OK);
    CHECK_EQ_INT(tw_framer_close(f, 1, b, frame_rec_event, &r), TW_OK); /* never started */
    CHECK(tw_framer_done(f));
    tw_buf_append(&r.out, "", 1);
    CHECK_EQ_STR(r.out.data, strlen(r.out.data), "agent_start:a text:a agent_complete:a ");
    tw_buf_free(&r.out);
    tw_framer_free(f);
}

TW_TEST(batch_reused_after_free_starts_empty) {
    /* Freed batches are recycled (tw_batch.c's free list): one obtained after a free must be
     * empty, and strings pushed into it must be its own, at every size from a few bytes to
     * beyond the arena's largest chunk. */
    static char big[40000];
    tw_event ev;
    memset(big, 'b', sizeof big);
    for (int round = 0; round < 300; round++) {
        tw_batch *b = tw_batch_new(), *c;
        CHECK_EQ_INT(tw_batch_count(b), 0);
        CHECK_EQ_INT(tw_batch_bytes(b), 0);
        for (int i = 0; i <= round % 40; i++) {
            tw_event_init(&ev);
            ev.type = TW_EV_TEXT;
            ev.text.ptr = big;
            ev.text.len = (size_t)(i * 997 + round) % sizeof big;
            CHECK_EQ_INT(tw_batch_push(b, &ev), TW_OK);
        }
        for (int i = 0; i <= round % 40; i++) {
            const tw_event *got = tw_batch_get(b, (size_t)i);
            CHECK_EQ_INT(got->text.len, (size_t)(i * 997 + round) % sizeof big);
            CHECK(memcmp(got->text.ptr, big, got->text.len) == 0);
            CHECK_EQ_INT(got->text.ptr[got->text.len], 0);
        }
        c = tw_batch_new(); /* a second live batch never shares the first's storage */
        tw_event_init(&ev);
        ev.type = TW_EV_TEXT;
        ev.text.ptr = "other";
        ev.text.len = 5;
        CHECK_EQ_INT(tw_batch_push(c, &ev), TW_OK);
        CHECK(tw_batch_get(b, 0)->text.ptr != tw_batch_get(c, 0)->text.ptr);
        CHECK(memcmp(tw_batch_get(b, 0)->text.ptr, big, tw_batch_get(b, 0)->text.len) == 0);
        tw_batch_free(c);
        tw_batch_free(b);
    }
}
