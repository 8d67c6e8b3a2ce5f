/* The checks' one way to report: "PASS name", or "FAIL name: why (last
 * error: ...)" counted in `failures`, which the program exits with. */
#ifndef DISCREC_TEST_CHECK_H
#define DISCREC_TEST_CHECK_H

#include <discrec.h>
#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(name, cond, ...)                                                \
    do {                                                                      \
        if (cond) {                                                           \
            printf("PASS %s\n", name);                                        \
        } else {                                                              \
            printf("FAIL %s: ", name);                                        \
            printf(__VA_ARGS__);                                              \
            printf(" (last error: %s)\n", discrec_last_error_message());      \
            failures++;                                                       \
        }                                                                     \
    } while (0)

/* A call's HRESULT is `want`. */
#define HR(name, call, want)                                                   \
    do {                                                                       \
        int32_t hr_ = (call);                                                  \
        CHECK(name, hr_ == (want), "hr 0x%08X, want 0x%08X", (unsigned)hr_,    \
              (unsigned)(want));                                               \
    } while (0)

/* A JSON answer holds `part` (a NULL answer holds nothing). */
static inline int contains(const char *json, const char *part) {
    return json != NULL && strstr(json, part) != NULL;
}

#endif
