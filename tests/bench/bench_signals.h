/* Shared by the loss benchmarks (bench_mss, bench_jtfs): the sort order for medians and the
 * test signals, so both time the same pairs. Header-only: each benchmark is one file. */
#ifndef DDSP_BENCH_SIGNALS_H
#define DDSP_BENCH_SIGNALS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Harmonic tone with a loudness envelope plus a little noise (deterministic LCG). */
static inline void make_signals(float *t, float *e, size_t B, size_t N) {
    uint32_t st = 12345u;
    for (size_t b = 0; b < B; b++) {
        double f0 = 196.0 * pow(2.0, (double)(b % 12) / 12.0), ph = 0.0;
        for (size_t i = 0; i < N; i++) {
            ph += 2.0 * 3.14159265358979 * f0 / 16000.0;
            double env = 0.5 - 0.5 * cos(2.0 * 3.14159265358979 * fmod(i / 16000.0, 0.5) / 0.5);
            double y = 0.0;
            for (int k = 1; k <= 20 && k * f0 < 8000.0; k++) y += sin(k * ph) / k;
            st = st * 1664525u + 1013904223u;
            double u = (st >> 8) / 16777216.0 * 2.0 - 1.0;
            t[b * N + i] = (float)(0.1 * env * y + 0.003 * u);
            st = st * 1664525u + 1013904223u;
            u = (st >> 8) / 16777216.0 * 2.0 - 1.0;
            e[b * N + i] = t[b * N + i] + (float)(0.05 * u);
        }
    }
}

#endif
