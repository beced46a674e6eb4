/* Benchmark: one full training step of the solo_instrument model (decoder, synth, MSS l1log,
 * backward, global-norm clip, Adam) on B 4 s examples, the same work as the peer's
 * `ddsp_ref.py bench`. Prints the median/min seconds per step, audio-seconds per second, the
 * FLOP rate (28.8 GFLOP per example per step, as the issue counts it: every GEMM of the
 * decoder forward + backward) next to 2048^3 products measured in the same process (OpenBLAS
 * sgemm, and oneDNN in fp32 and bf16: the ceilings of the two precisions), and the peak
 * resident memory.
 *   bench_train [--batch B] [--steps K] [--warmup W] [--model full|small] [--reverb]
 *               [--precision fp32|bf16] [--phases]
 * --phases: the median of each phase of the timed steps as ddsp_train_update times them
 *   (forward, synth, loss, backward, reduce, optim): the same update the run makes.
 * threads: OMP_NUM_THREADS (ddsp_nn_threads_init). Unknown options are errors (exit 2). */
#include "ddsp/model.h"
#include "ddsp/nn.h"
#include "ddsp/optim.h"
#include "ddsp/dist.h"
#include "ddsp/train.h"
#include "ddsp/util.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* GEMM flops per frame of the decoder, forward (backward = 2x forward). */
static double decoder_flops_per_frame(const ddsp_model_config *c, size_t K) {
    const double C = c->hidden, G = c->gru_units, L = c->n_layers;
    double f = 2 * (2 * (1 * C + (L - 1) * C * C));          /* ld and f0 stacks */
    f += 2 * (2 * C * 3 * G + G * 3 * G);                     /* GRU input + recurrent */
    f += 2 * ((2 * C + G) * C + (L - 1) * C * C) + 2 * C * K; /* output stack + dense */
    return f;
}

/* Best of 3 2048^3 products: OpenBLAS sgemm (prec < 0) or oneDNN in precision prec. */
static double gemm_gflops(int prec) {
    const int n = 2048;
    float *a = ddsp_alloc(sizeof(float) * n * n), *b = ddsp_alloc(sizeof(float) * n * n),
          *c = ddsp_alloc(sizeof(float) * n * n);
    for (int i = 0; i < n * n; i++) a[i] = 1e-3f * (float)(i % 7), b[i] = 1e-3f * (float)(i % 5);
    ddsp_nn *nn = prec < 0 ? NULL : ddsp_nn_init((ddsp_precision)prec);
    if (nn) { /* operands: a -> c -> a, b -> c -> b (bf16 must not be converted in place) */
        ddsp_nn_convert(c, (ddsp_precision)prec, a, (size_t)n * n);
        memcpy(a, c, sizeof(float) * n * n);
        ddsp_nn_convert(c, (ddsp_precision)prec, b, (size_t)n * n);
        memcpy(b, c, sizeof(float) * n * n);
    }
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t = ddsp_now();
        if (nn) ddsp_dense_forward(nn, c, a, n, b, NULL, n, n, n);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n,
                         0.0f, c, n);
        t = ddsp_now() - t;
        if (r > 0 && t < best) best = t; /* the first run makes the primitive */
    }
    ddsp_nn_free(nn);
    ddsp_free(a), ddsp_free(b), ddsp_free(c);
    return 2.0 * n * n * (double)n / best / 1e9;
}

/* *v = s as a whole decimal number in [lo, hi]: 0, or -1 (not a number, out of range). */
static int count(const char *s, size_t lo, size_t hi, size_t *v) {
    char *end;
    errno = 0;
    const unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || x < lo || x > hi) return -1;
    *v = (size_t)x;
    return 0;
}

static int usage(const char *bad) { /* one line on stderr, exit status 2 */
    fprintf(stderr, "bench_train: unknown option, missing value or number out of range '%s' "
                    "(usage: bench_train [--batch B] [--steps K] [--warmup W] "
                    "[--model full|small] [--reverb] [--precision fp32|bf16] [--phases])\n",
            bad);
    return 2;
}

int main(int argc, char **argv) {
    size_t B = 4, steps = 7, warmup = 2;
    const char *model = "full";
    int reverb = 0, phases = 0;
    ddsp_precision prec = DDSP_PREC_FP32;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reverb")) reverb = 1;
        else if (!strcmp(argv[i], "--phases")) phases = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--batch")) {
            if (count(argv[++i], 1, 4096, &B)) return usage(argv[i]);
        } else if (i + 1 < argc && !strcmp(argv[i], "--steps")) {
            if (count(argv[++i], 1, 100000, &steps)) return usage(argv[i]);
        } else if (i + 1 < argc && !strcmp(argv[i], "--warmup")) {
            if (count(argv[++i], 0, 100000, &warmup)) return usage(argv[i]);
        }
        else if (i + 1 < argc && !strcmp(argv[i], "--model")) model = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--precision")) {
            if (ddsp_precision_parse(argv[++i], &prec)) {
                fprintf(stderr, "bench_train: %s\n", ddsp_last_error());
                return 2;
            }
        } else return usage(argv[i]);
    }
    ddsp_nn_threads_init(0);
    char why[256];
    const ddsp_precision want = prec;
    prec = ddsp_nn_precision_resolve(want, why, sizeof why);
    if (why[0]) fprintf(stderr, "bench_train: %s\n", why);
    /* the ceilings first, so their buffers are gone before training allocates */
    const double gf = gemm_gflops(-1), gf32 = gemm_gflops(DDSP_PREC_FP32),
                 gf16 = gemm_gflops(DDSP_PREC_BF16);
    const size_t F = 1000, N = 64000;
    ddsp_model_config mc;
    if (ddsp_model_config_preset(&mc, model)) {
        fprintf(stderr, "%s\n", ddsp_last_error());
        return 2;
    }
    mc.synth.reverb = reverb;
    ddsp_model m;
    ddsp_adam o;
    ddsp_adam_config ac;
    ddsp_adam_config_default(&ac);
    ddsp_loss_config lc;
    ddsp_loss_config_default(&lc);
    if (ddsp_model_init(&m, &mc) || ddsp_model_set_precision(&m, prec) ||
        ddsp_adam_init(&o, &ac, m.n_params))
        return 1;
    ddsp_model_init_weights(&m, 0);
    ddsp_trainer *tr = ddsp_trainer_init(&m, &lc, B, F);
    if (!tr) {
        fprintf(stderr, "%s\n", ddsp_last_error());
        return 1;
    }
    /* plausible inputs: notes with vibrato, a loudness envelope, a harmonic target */
    float *f0 = ddsp_alloc(sizeof(float) * B * F), *ld = ddsp_alloc(sizeof(float) * B * F);
    float *x = ddsp_alloc(sizeof(float) * B * N);
    int64_t *ids = malloc(sizeof(int64_t) * B);
    for (size_t b = 0; b < B; b++) {
        ids[b] = (int64_t)b;
        for (size_t f = 0; f < F; f++) {
            const double t = f / 250.0;
            f0[b * F + f] = (float)(196.0 * pow(2.0, (double)((b + f / 125) % 24) / 12.0) *
                                    (1.0 + 0.006 * sin(2 * 3.14159265 * 5.5 * t)));
            ld[b * F + f] = (float)(-60.0 + 45.0 * (0.5 - 0.5 * cos(2 * 3.14159265 * fmod(t, 0.5) / 0.5)));
        }
        double ph = 0.0;
        for (size_t i = 0; i < N; i++) {
            ph += 2 * 3.14159265 * f0[b * F + i / 64] / 16000.0;
            x[b * N + i] = (float)(0.1 * sin(ph) + 0.05 * sin(2 * ph));
        }
    }
    double *times = malloc(sizeof(double) * (steps + warmup));
    double *ph_t[DDSP_STEP_PHASES]; /* per timed step, each phase (the update's own timing) */
    for (int k = 0; k < DDSP_STEP_PHASES; k++) ph_t[k] = malloc(sizeof(double) * steps);
    double loss0 = 0.0, loss1 = 0.0;
    ddsp_dist one; /* the benchmark is one process: the update's reductions are no-ops */
    ddsp_dist_single(&one);
    for (size_t s = 0; s < warmup + steps; s++) {
        const double t0 = ddsp_now();
        ddsp_train_result res;
        if (ddsp_train_update(tr, &o, &one, f0, ld, x, ids, B, B, 1, s, 0, &res)) return 1;
        const double L = res.loss;
        times[s] = ddsp_now() - t0;
        for (int k = 0; k < DDSP_STEP_PHASES && s >= warmup; k++) ph_t[k][s - warmup] = res.phase_s[k];
        if (s == 0) loss0 = L;
        loss1 = L;
    }
    qsort(times + warmup, steps, sizeof(double), cmp_double);
    const double med = times[warmup + steps / 2], mn = times[warmup];
    const double flop = 3.0 * decoder_flops_per_frame(&mc, ddsp_synth_n_controls(&mc.synth)) *
                        (double)F * (double)B;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("train_c model=%s precision=%s batch=%zu threads=%d reverb=%d steps=%zu median_s=%.4f "
           "min_s=%.4f audio_s_per_s=%.3f gflop_per_step=%.2f gflops=%.1f sgemm_gflops=%.1f "
           "gemm_fp32_gflops=%.1f gemm_bf16_gflops=%.1f peak_rss_mb=%.0f loss_first=%.4f "
           "loss_last=%.4f blas_core=%s\n",
           model, ddsp_precision_name(prec), B, ddsp_nn_threads(), reverb, steps, med, mn,
           (double)B * 4.0 / med, flop / 1e9, flop / med / 1e9, gf, gf32, gf16,
           ru.ru_maxrss / 1024.0, loss0, loss1, openblas_get_corename());
    if (phases) { /* the median of each phase over the timed steps, as ddsp_train_update timed it */
        printf("phases precision=%s threads=%d", ddsp_precision_name(prec), ddsp_nn_threads());
        double sum = 0.0;
        for (int k = 0; k < DDSP_STEP_PHASES; k++) {
            qsort(ph_t[k], steps, sizeof(double), cmp_double);
            if (k == DDSP_PHASE_DATA) continue; /* the benchmark's batch is in memory */
            printf(" %s_s=%.4f", ddsp_phase_name(k), ph_t[k][steps / 2]);
            sum += ph_t[k][steps / 2];
        }
        printf(" step_s=%.4f\n", sum);
    }
    for (int k = 0; k < DDSP_STEP_PHASES; k++) free(ph_t[k]);
    ddsp_trainer_free(tr);
    ddsp_adam_free(&o);
    ddsp_model_free(&m);
    return 0;
}
