/* Synth forward + backward timing: median ms per example over R runs, for a batch size and
 * thread count, reverb off and on (4 s examples: 1000 frames, 60 harmonics, 65 bands).
 *   bench_synth [BATCH] [THREADS] [RUNS] */
#include "ddsp/synth.h"
#include "ddsp/util.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const size_t B = argc > 1 ? (size_t)atoi(argv[1]) : 1;
    const int T = argc > 2 ? atoi(argv[2]) : 1, R = argc > 3 ? atoi(argv[3]) : 15;
    const size_t F = 1000;
    omp_set_num_threads(T);
    for (int reverb = 0; reverb <= 1; reverb++) {
        ddsp_synth_config c;
        ddsp_synth_config_default(&c);
        c.reverb = reverb;
        ddsp_synth *s = ddsp_synth_init(&c, B, F);
        DDSP_ASSERT(s, "%s", ddsp_last_error());
        const size_t N = ddsp_synth_n_samples(s), C = ddsp_synth_n_controls(&c);
        float *raw = ddsp_alloc(sizeof(float) * B * F * C), *f0 = ddsp_alloc(sizeof(float) * B * F);
        float *nz = ddsp_alloc(sizeof(float) * B * N), *y = ddsp_alloc(sizeof(float) * B * N);
        float *d = ddsp_alloc(sizeof(float) * B * N), *dr = ddsp_alloc(sizeof(float) * B * F * C);
        float *ir = ddsp_alloc(sizeof(float) * 48000), *dir = ddsp_alloc(sizeof(float) * 48000);
        uint64_t key = ddsp_rng_key(1, 2, 3);
        for (size_t i = 0; i < B * F * C; i++)
            raw[i] = (float)ddsp_rng_normal(key, i);
        for (size_t i = 0; i < B * F; i++)
            f0[i] = (float)(200.0 + 300.0 * ddsp_rng_uniform01(key, 7 * i));
        ddsp_rng_uniform(nz, B * N, key, 99, -1.0f, 1.0f);
        ddsp_rng_uniform(d, B * N, key, 999, -1.0f, 1.0f);
        for (int i = 0; i < 48000; i++)
            ir[i] = (float)(1e-3 * ddsp_rng_normal(key, 5 + (uint64_t)i));
        double *tf = malloc(sizeof(double) * R), *tb = malloc(sizeof(double) * R);
        for (int r = -2; r < R; r++) {
            const double t0 = ddsp_now();
            ddsp_synth_forward(s, y, raw, f0, nz, reverb ? ir : NULL, NULL, B);
            const double t1 = ddsp_now();
            ddsp_synth_backward(s, dr, reverb ? dir : NULL, d, B);
            const double t2 = ddsp_now();
            if (r >= 0) tf[r] = t1 - t0, tb[r] = t2 - t1;
        }
        qsort(tf, R, sizeof(double), cmp);
        qsort(tb, R, sizeof(double), cmp);
        printf("batch %zu threads %d reverb %s: forward %.2f ms  backward %.2f ms  total %.2f ms "
               "per example\n",
               B, T, reverb ? "on " : "off", 1e3 * tf[R / 2] / B, 1e3 * tb[R / 2] / B,
               1e3 * (tf[R / 2] + tb[R / 2]) / B);
        free(tf), free(tb);
        ddsp_free(raw), ddsp_free(f0), ddsp_free(nz), ddsp_free(y), ddsp_free(d), ddsp_free(dr);
        ddsp_free(ir), ddsp_free(dir);
        ddsp_synth_free(s);
    }
    return 0;
}
