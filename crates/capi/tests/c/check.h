/* The checks' one way to report: "PASS name", or "FAIL name: why (last
 * error: ...)" counted in `failures`, which the program exits with. */
#ifndef DISCREC_TEST_CHECK_H
#define DISCREC_TEST_CHECK_H

#include <discrec.h>
#include <stdio.h>

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

#endif
