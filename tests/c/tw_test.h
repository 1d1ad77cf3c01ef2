/*
 * tw_test.h - the ~20-line test harness. Each test file defines tests with TW_TEST(name); they
 * register themselves at load time, so adding a file needs no central list. main() lives in
 * test_main.c and prints the closing line "N passed, N failed".
 */
#ifndef TW_TEST_H
#define TW_TEST_H

#include <stdio.h>
#include <string.h>

typedef void (*tw_test_fn)(void);
void tw_test_register(const char *name, const char *file, tw_test_fn fn);
void tw_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Reads a whole file into a malloc'd buffer (NUL-terminated); aborts the test run on error. */
char *tw_test_read_file(const char *path, size_t *len);

#define TW_TEST(name)                                                                   \
    static void name(void);                                                             \
    __attribute__((constructor)) static void name##_register(void) {                   \
        tw_test_register(#name, __FILE__, name);                                        \
    }                                                                                   \
    static void name(void)

/* Records a failure and continues the test. */
#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) tw_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);              \
    } while (0)
#define CHECK_MSG(cond, ...)                                                            \
    do {                                                                                \
        if (!(cond)) tw_test_fail(__FILE__, __LINE__, __VA_ARGS__);                     \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                              \
    do {                                                                                \
        long long a_ = (long long)(a), b_ = (long long)(b);                             \
        if (a_ != b_) tw_test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
                                   #a, a_, #b, b_);                                     \
    } while (0)
#define CHECK_EQ_STR(s, n, lit)                                                         \
    do {                                                                                \
        const char *s_ = (s); size_t n_ = (n), l_ = strlen(lit);                        \
        if (n_ != l_ || (n_ && memcmp(s_, lit, n_) != 0))                               \
            tw_test_fail(__FILE__, __LINE__, "%s is \"%.*s\", expected \"%s\"", #s,      \
                         (int)(n_ > 200 ? 200 : n_), s_ ? s_ : "", lit);                \
    } while (0)

#endif /* TW_TEST_H */
