/* Benchmark: the jtfs Φ term against the MSS l1log loss it must stay within 10x of (issue
 * 18), both loss + gradient of B pairs of 4 s at 16 kHz with the target recomputed every
 * call (what `ddsp loss` and a training step do), and the term's loss alone (no gradient:
 * what a distance between sounds costs). They are timed in alternation (one call of each
 * per round, after a warm-up round) so that load on the machine hits them
 * alike; medians of wall-clock and of process CPU time per call, and their ratios. On a
 * loaded machine the CPU times of a 1-thread run are the stable figure.
 *   bench_jtfs [--terms TERMS] [--rounds R] [--batch B]     threads: OMP_NUM_THREADS
 * (--terms: the Φ term list to time, default "jtfs" = J=12, Q=(8,2), J_fr=3, Q_fr=2) */
#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"
#include "bench_signals.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    size_t B = 1, rounds = 7, N = 64000;
    const char *terms = "jtfs";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) B = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) rounds = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--terms")) terms = argv[i + 1];
    }
    if (B < 1 || rounds < 1) {
        fprintf(stderr, "bench_jtfs: --batch and --rounds must be >= 1\n");
        return 1;
    }
    ddsp_mss_config mc;
    ddsp_mss_config_default(&mc);
    ddsp_phi_config pc;
    ddsp_phi_config_default(&pc);
    if (ddsp_phi_parse_terms(&pc, terms) || ddsp_phi_config_check(&pc)) {
        fprintf(stderr, "bench_jtfs: %s\n", ddsp_last_error());
        return 1;
    }
    double t_init = ddsp_now();
    ddsp_phi *p = ddsp_phi_init(&pc, B, N);
    t_init = ddsp_now() - t_init;
    ddsp_mss *m = ddsp_mss_init(&mc, B, N);
    float *t = ddsp_alloc(sizeof(float) * B * N), *e = ddsp_alloc(sizeof(float) * B * N);
    float *g = ddsp_alloc(sizeof(float) * B * N);
    double *w[3], *c[3];
    for (int k = 0; k < 3; k++) w[k] = malloc(sizeof(double) * rounds), c[k] = malloc(sizeof(double) * rounds);
    if (!p || !m || !t || !e || !g || !w[0] || !w[1] || !w[2] || !c[0] || !c[1] || !c[2]) {
        fprintf(stderr, "bench_jtfs: %s\n", ddsp_last_error());
        return 1;
    }
    make_signals(t, e, B, N);
    ddsp_mss_value mv;
    ddsp_phi_value pv;
    for (size_t r = 0; r <= rounds; r++) { /* round 0 warms up */
        for (int k = 0; k < 3; k++) {
            memset(g, 0, sizeof(float) * B * N); /* the MSS gradient accumulates */
            const double w0 = ddsp_now(), c0 = cpu_now();
            if (k == 0) ddsp_mss_backward(m, g, &mv, NULL, t, e, B, 1.0f);
            else ddsp_phi_eval(p, &pv, k == 1 ? g : NULL, t, e, B);
            if (r > 0) w[k][r - 1] = ddsp_now() - w0, c[k][r - 1] = cpu_now() - c0;
        }
    }
    const double mw = median(w[0], rounds), mcpu = median(c[0], rounds);
    const double jw = median(w[1], rounds), jcpu = median(c[1], rounds);
    const double lw = median(w[2], rounds), lcpu = median(c[2], rounds);
    printf("bench_jtfs: %zu x 4 s at 16 kHz, %d thread(s), median of %zu interleaved rounds\n", B,
           omp_get_max_threads(), rounds);
    printf("  MSS l1log   loss + gradient: wall %8.1f ms   cpu %8.1f ms   (loss %.6g)\n", 1e3 * mw,
           1e3 * mcpu, mv.total);
    printf("  %-11s loss + gradient: wall %8.1f ms   cpu %8.1f ms   (loss %.6g; init %.2f s)\n",
           terms, 1e3 * jw, 1e3 * jcpu, pv.total, t_init);
    printf("  %-11s loss only      : wall %8.1f ms   cpu %8.1f ms\n", terms, 1e3 * lw, 1e3 * lcpu);
    printf("  ratio (loss + gradient): wall %.1fx   cpu %.1fx\n", jw / mw, jcpu / mcpu);
    for (int k = 0; k < 3; k++) free(w[k]), free(c[k]);
    ddsp_free(t), ddsp_free(e), ddsp_free(g);
    ddsp_phi_free(p);
    ddsp_mss_free(m);
    ddsp_fft_cleanup();
    return 0;
}
