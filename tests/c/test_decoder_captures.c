/* test_decoder_captures.c - every capture under tests/data/captures/<dialect>/ against its
 * hand-written .expected file. Streams (.sse, .ndjson) are decoded fed whole, one byte at a
 * time, and split in two at every position: all must give the expected events exactly.
 * Bodies (.json) go through tw_decoder_decode_body. */
#include "test_decoder_util.h"

#include <dirent.h>
#include <stdlib.h>

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* First differing line, for a readable failure. */
static void report_diff(const char *file, const char *how, const char *got, const char *want) {
    int line = 1;
    const char *g = got, *w = want;
    while (*g && *g == *w) {
        if (*g == '\n') line++;
        g++;
        w++;
    }
    while (g > got && g[-1] != '\n') g--;
    while (w > want && w[-1] != '\n') w--;
    tw_test_fail(file, line, "%s: line %d differs\n    got:  %.*s\n    want: %.*s", how, line,
                 (int)(strchr(g, '\n') ? strchr(g, '\n') - g : (long)strlen(g)), g,
                 (int)(strchr(w, '\n') ? strchr(w, '\n') - w : (long)strlen(w)), w);
}

static int check_one(const char *path, const char *how, evrec *r, const char *want) {
    const char *got = rec_text(r);
    CHECK_MSG(r->bad_utf8 == 0, "%s (%s): an event string is not valid UTF-8", path, how);
    if (strcmp(got, want) != 0) {
        report_diff(path, how, got, want);
        return 0;
    }
    return 1;
}

/* Runs every capture of one dialect; returns how many were checked. */
static int run_dialect(const char *dname) {
    char dir[1024], path[1600], exp_path[1600];
    DIR *dp;
    struct dirent *de;
    int count = 0;
    tw_dialect dialect = tw_dialect_from_name(dname, strlen(dname));
    evrec r;
    memset(&r, 0, sizeof r);
    CHECK(dialect != 0);
    snprintf(dir, sizeof dir, "%s/captures/%s", TW_TEST_DATA, dname);
    dp = opendir(dir);
    CHECK_MSG(dp != NULL, "no capture directory %s", dir);
    if (!dp) return 0;
    while ((de = readdir(dp))) {
        int is_body = ends_with(de->d_name, ".json");
        size_t n, wn, base;
        char *in, *want;
        if (!is_body && !ends_with(de->d_name, ".sse") && !ends_with(de->d_name, ".ndjson"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        base = (size_t)(strrchr(de->d_name, '.') - de->d_name);
        snprintf(exp_path, sizeof exp_path, "%s/%.*s.expected", dir, (int)base, de->d_name);
        in = tw_test_read_file(path, &n);
        want = tw_test_read_file(exp_path, &wn);
        count++;
        if (is_body) {
            tw_decoder *d = tw_decoder_new(dialect, NULL, NULL);
            rec_reset(&r);
            CHECK_EQ_INT(tw_decoder_decode_body(d, in, n, rec_event, &r, NULL), TW_OK);
            CHECK(tw_decoder_done(d));
            check_one(path, "body", &r, want);
            tw_decoder_free(d);
        } else {
            decode_with(dialect, in, n, 0, 0, &r);
            if (check_one(path, "whole", &r, want)) {
                decode_with(dialect, in, n, 1, 0, &r);
                check_one(path, "byte by byte", &r, want);
                for (size_t i = 1; i < n; i++) {
                    char how[64];
                    decode_with(dialect, in, n, 2, i, &r);
                    snprintf(how, sizeof how, "split at %zu", i);
                    if (!check_one(path, how, &r, want)) break;
                }
            }
        }
        free(in);
        free(want);
    }
    closedir(dp);
    tw_buf_free(&r.out);
    return count;
}

TW_TEST(decoder_captures_openai) { CHECK(run_dialect("openai") >= 10); }
TW_TEST(decoder_captures_openai_responses) { CHECK(run_dialect("openai-responses") >= 7); }
TW_TEST(decoder_captures_anthropic) { CHECK(run_dialect("anthropic") >= 7); }
TW_TEST(decoder_captures_gemini) { CHECK(run_dialect("gemini") >= 6); }
TW_TEST(decoder_captures_ollama) { CHECK(run_dialect("ollama") >= 5); }
TW_TEST(decoder_captures_sse) { CHECK(run_dialect("sse") >= 1); }
TW_TEST(decoder_captures_ndjson) { CHECK(run_dialect("ndjson") >= 1); }
