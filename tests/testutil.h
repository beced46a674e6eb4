/* Shared helpers for the C tests: tolerance checks that print the worst element, a
 * deterministic RNG, and a failure counter. Each test is a plain main() that returns the
 * number of failed checks (0 = pass). */
#ifndef DDSP_TESTUTIL_H
#define DDSP_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

static int tu_failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                        \
            printf(__VA_ARGS__);                                                               \
            printf("\n");                                                                      \
            tu_failures++;                                                                     \
        }                                                                                      \
    } while (0)

/* Relative L2 error ||got - want|| / ||want|| and the worst absolute element. */
static inline double tu_rel_l2(const float *got, const double *want, size_t n, double *max_abs,
                        size_t *worst) {
    double num = 0.0, den = 0.0, m = 0.0;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += d * d;
        den += want[i] * want[i];
        if (fabs(d) > m) m = fabs(d), w = i;
    }
    if (max_abs) *max_abs = m;
    if (worst) *worst = w;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static inline double tu_rel(double got, double want) {
    return fabs(got - want) / (fabs(want) > 0 ? fabs(want) : 1.0);
}

/* xorshift64*: uniform in [-1, 1). */
static uint64_t tu_state = 88172645463325252ull;
static inline double tu_uniform(void) {
    tu_state ^= tu_state >> 12;
    tu_state ^= tu_state << 25;
    tu_state ^= tu_state >> 27;
    return (double)((tu_state * 2685821657736338717ull) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static inline int tu_finish(const char *name) {
    if (tu_failures) printf("%s: %d check(s) FAILED\n", name, tu_failures);
    else printf("%s: all checks passed\n", name);
    return tu_failures ? 1 : 0;
}

#endif
