/* Benchmark: MSS l1log loss + gradient for B pairs of 4 s signals at 16 kHz, the same work
 * as the peer's `ddsp_ref.py mssbench` (target spectra recomputed every call). Also times
 * the training path (target spectra precomputed). Prints one line per mode with the median
 * and min seconds per call and audio-seconds per second.
 *   bench_mss --batch B [--steps K] [--warmup W] [--precision exact|fast]
 *             [--mode both|recompute|precomputed]      threads: OMP_NUM_THREADS
 * (--mode: time one path only, e.g. under perf record) */
#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"
#include "bench_signals.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    size_t B = 1, steps = 15, warmup = 3, N = 64000;
    const char *prec = "exact", *only = "both";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) B = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--precision")) prec = argv[i + 1];
        else if (!strcmp(argv[i], "--mode")) only = argv[i + 1];
    }
    ddsp_mss_config cfg;
    ddsp_mss_config_default(&cfg);
    if (ddsp_mss_parse_precision(&cfg, prec)) {
        fprintf(stderr, "bench_mss: %s\n", ddsp_last_error());
        return 1;
    }
    double tp = ddsp_now();
    ddsp_mss *m = ddsp_mss_init(&cfg, B, N);
    if (!m) {
        fprintf(stderr, "bench_mss: %s\n", ddsp_last_error());
        return 1;
    }
    tp = ddsp_now() - tp;
    float *t = ddsp_alloc(sizeof(float) * B * N), *e = ddsp_alloc(sizeof(float) * B * N);
    float *g = ddsp_alloc(sizeof(float) * B * N);
    double *times = malloc(sizeof(double) * steps);
    ddsp_mss_target tgt;
    if (!t || !e || !g || !times || ddsp_mss_target_init(&tgt, m, B)) {
        fprintf(stderr, "bench_mss: out of memory\n");
        return 1;
    }
    make_signals(t, e, B, N);
    ddsp_mss_value v;
    const int m0 = !strcmp(only, "precomputed"), m1 = !strcmp(only, "recompute") ? 1 : 2;
    ddsp_mss_target_compute(m, &tgt, t, B);
    for (int mode = m0; mode < m1; mode++) {
        for (size_t it = 0; it < warmup + steps; it++) {
            memset(g, 0, sizeof(float) * B * N);
            double t0 = ddsp_now();
            if (mode == 0) {
                ddsp_mss_backward(m, g, &v, NULL, t, e, B, 1.0f);
            } else {
                ddsp_mss_backward(m, g, &v, &tgt, NULL, e, B, 1.0f);
            }
            double dt = ddsp_now() - t0;
            if (it >= warmup) times[it - warmup] = dt;
        }
        qsort(times, steps, sizeof *times, cmp_double);
        double med = times[steps / 2];
        printf("mss_c precision=%s mode=%s batch=%zu threads=%d steps=%zu median_s=%.5f min_s=%.5f "
               "audio_s_per_s=%.1f loss=%.6f plan_s=%.2f\n",
               prec, mode == 0 ? "recompute_target" : "precomputed_target", B, omp_get_max_threads(),
               steps, med, times[0], (double)B * N / 16000.0 / med, v.total, tp);
    }
    ddsp_mss_target_free(&tgt);
    ddsp_free(t), ddsp_free(e), ddsp_free(g);
    free(times);
    ddsp_mss_free(m);
    ddsp_fft_cleanup();
    return 0;
}
