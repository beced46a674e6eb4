/* Timbre dissimilarity evaluation and fit, on synthetic studies written by the test itself:
 * the metrics on a hand-computed 4x4 case, Spearman 1 for distances from the Φ that
 * generated the "human" matrix (equal and unequal lengths), ~0 for a shuffled matrix, the
 * loader's errors, thread invariance, the cache, and a fit that must find the generating
 * term on studies it was not fitted on. */
#include "ddsp/analysis.h"
#include "ddsp/audio.h"
#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"
#include "loss/phi_terms.h"
#include "testutil.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ the metrics */

/* Expected sums from an independent computation with scipy 1.10 (/usr/bin/python3):
 * scipy.stats.spearmanr and kendalltau (tau-b) on each anchor's row of the normalised,
 * symmetrised matrices, and the triplet, NDCG (tied scores share the mean gain of their
 * positions) and MAE definitions written out in numpy (/tmp script, see the commit). The
 * spearman tolerance allows for torchmetrics' 1e-6 in the denominator. */
static void check_hand_4x4(void) {
    const double P[16] = {0, .2, .5, .9, 7, 0, .4, .4, 7, 7, 0, .7, 7, 7, 7, 0};
    const double H[16] = {0, 1, 3, 4, 9, 0, 2, 5, 9, 9, 0, 5, 9, 9, 9, 0}; /* lower: ignored */
    ddsp_timbre_sums s;
    ddsp_timbre_metrics(&s, P, H, 4);
    printf("4x4: spearman %.9f kendall %.9f triplet %.9f ndcg %.9f mae %.9f\n", s.spearman,
           s.kendall, s.triplet, s.ndcg, s.mae);
    CHECK(fabs(s.spearman - 2.0) < 1e-5, "spearman sum %.9f, expected 2", s.spearman);
    CHECK(fabs(s.kendall - 2.0) < 1e-12, "kendall sum %.12f, expected 2", s.kendall);
    CHECK(fabs(s.triplet - 2.666666666667) < 1e-11, "triplet sum %.12f, expected 8/3", s.triplet);
    CHECK(fabs(s.ndcg - 3.466672042446) < 1e-11, "ndcg sum %.12f, expected 3.466672042446",
          s.ndcg);
    CHECK(fabs(s.mae - 1.088888888889) < 1e-11, "mae sum %.12f, expected 1.088888888889", s.mae);
    CHECK(s.anchors == 4 && s.pairs == 6, "anchors %ld pairs %ld", s.anchors, s.pairs);
    /* the fast Spearman path agrees */
    const double d[6] = {.2, .5, .9, .4, .4, .7};
    CHECK(ddsp_timbre_spearman_sum(d, H, 4) == s.spearman, "spearman_sum %.17g vs %.17g",
          ddsp_timbre_spearman_sum(d, H, 4), s.spearman);
}

/* Distances a_i - a_j against the same matrix with the sounds' labels shuffled: ~0; and
 * against itself: 1 for every rank metric, 0 mae. */
static void check_shuffled(void) {
    enum { N = 40 };
    double a[N], P[N * N], H[N * N];
    int perm[N];
    for (int i = 0; i < N; i++) a[i] = tu_uniform(), perm[i] = i;
    for (int i = N - 1; i > 0; i--) { /* Fisher-Yates */
        const int j = (int)((tu_uniform() + 1.0) * 0.5 * (i + 1)) % (i + 1), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            P[i * N + j] = fabs(a[i] - a[j]);
            H[i * N + j] = fabs(a[perm[i]] - a[perm[j]]);
        }
    ddsp_timbre_sums s;
    ddsp_timbre_metrics(&s, P, H, N);
    printf("shuffled %d sounds: spearman %.3f kendall %.3f triplet %.3f\n", N,
           s.spearman / N, s.kendall / N, s.triplet / N);
    CHECK(fabs(s.spearman / N) < 0.1 && fabs(s.kendall / N) < 0.1,
          "shuffled matrix: spearman %.3f kendall %.3f, expected ~0", s.spearman / N, s.kendall / N);
    CHECK(fabs(s.triplet / N - 0.5) < 0.1, "shuffled matrix: triplet %.3f, expected ~0.5",
          s.triplet / N);
    ddsp_timbre_metrics(&s, P, P, N);
    CHECK(fabs(s.spearman / N - 1) < 1e-5 && s.kendall == N && s.triplet == N &&
              fabs(s.ndcg - N) < 1e-12 && s.mae == 0.0,
          "a matrix against itself: %.9f %.9f %.9f %.9f %.3g", s.spearman / N, s.kendall / N,
          s.triplet / N, s.ndcg / N, s.mae);
}

/* ------------------------------------------------------------------ synthetic studies */
static char root[512];

static void write_matrix(const char *study, const double *M, int n) {
    char p[1024];
    snprintf(p, sizeof p, "%s/true_dissim/%s_dissimilarity_matrix.txt", root, study);
    FILE *f = fopen(p, "w");
    for (int i = 0; f && i < n; i++)
        for (int j = 0; j < n; j++) fprintf(f, "%.17g%s", M[i * n + j], j + 1 < n ? " " : "\n");
    if (f) fclose(f);
}

static void write_sound(const char *study, int i, const float *x, size_t n, int sr) {
    char p[1024];
    snprintf(p, sizeof p, "%s/sounds/%s/s%02d.wav", root, study, i);
    CHECK(ddsp_audio_write(p, x, n, sr) == DDSP_OK, "%s", ddsp_last_error());
}

static void make_dir(const char *fmt, const char *a) {
    char p[1024];
    snprintf(p, sizeof p, fmt, root, a);
    mkdir(p, 0755);
}

/* Study `name`: the same noise at n gains, log10 gains lg (distinct differences within
 * every row), 0.5 s at 16 kHz; human dissimilarity |lg_i - lg_j|: exactly what the loudness
 * term sees (its frames differ by 20 |lg_i - lg_j| dB). */
static void make_gains(const char *name, const double *lg, int n, uint64_t seed) {
    make_dir("%s/sounds/%s", name);
    enum { LEN = 8000 };
    float x[LEN];
    double M[64];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < LEN; k++)
            x[k] = (float)(0.5 * pow(10.0, lg[i]) * (2.0 * ddsp_rng_uniform01(seed, (uint64_t)k) - 1.0));
        write_sound(name, i, x, LEN, 16000);
        for (int j = 0; j < n; j++) M[i * n + j] = fabs(lg[i] - lg[j]);
    }
    write_matrix(name, M, n);
}

/* Study "tones": harmonic tones of different lengths and brightness at 22.05 kHz; the human
 * matrix is the L2 distance of their MFCCs, each pair padded to the longer sound, computed
 * here from the coefficients directly. */
static void make_tones(void) {
    enum { n = 5 };
    const size_t len[n] = {3000, 5200, 4100, 2500, 6100};
    const double tilt[n] = {0.3, 0.9, 0.5, 0.7, 0.2};
    const int sr = 22050;
    make_dir("%s/sounds/%s", "tones");
    float *x[n];
    for (int i = 0; i < n; i++) {
        x[i] = calloc(6100, sizeof(float));
        for (size_t k = 0; k < len[i]; k++) {
            double v = 0.0;
            for (int h = 1; h <= 12; h++)
                v += pow(tilt[i], h - 1) * sin(2 * 3.141592653589793 * 330.0 * h * (double)k / sr);
            x[i][k] = (float)(0.2 * v * exp(-3.0 * (double)k / (double)len[i]));
        }
        write_sound("tones", i, x[i], len[i], sr);
    }
    double M[n * n] = {0};
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const size_t L = len[i] > len[j] ? len[i] : len[j];
            mfcc_t *m = mfcc_init(L, sr, 1);
            const size_t T = mfcc_frames(m);
            double *ci = malloc(sizeof(double) * T * 40), *cj = malloc(sizeof(double) * T * 40);
            mfcc_coeffs(m, x[i], ci); /* the buffers hold zeros past each sound's end */
            mfcc_coeffs(m, x[j], cj);
            double ss = 0.0;
            for (size_t q = 0; q < T * 40; q++) ss += (ci[q] - cj[q]) * (ci[q] - cj[q]);
            M[i * n + j] = sqrt(ss);
            free(ci), free(cj);
            mfcc_free(m);
        }
    write_matrix("tones", M, n);
    for (int i = 0; i < n; i++) free(x[i]);
}

static const double LG1[6] = {0, -0.13, -0.31, -0.52, -0.80, -1.17};
static const double LG2[6] = {-0.05, -0.22, -0.37, -0.61, -0.96, -1.4};

static void make_collection(void) {
    snprintf(root, sizeof root, "/tmp/ddsp_test_timbre.XXXXXX");
    CHECK(mkdtemp(root) != NULL, "mkdtemp");
    make_dir("%s/%s", "sounds");
    make_dir("%s/%s", "true_dissim");
    make_gains("gains", LG1, 6, 11);
    make_gains("gains2", LG2, 6, 12);
    make_tones();
}

static void eval_phi(const char *studies, const char *terms, ddsp_timbre_sums *all,
                     ddsp_timbre_cells *keep) {
    ddsp_timbre_set set;
    CHECK(ddsp_timbre_load(&set, root, studies) == DDSP_OK, "load: %s", ddsp_last_error());
    ddsp_phi_config pc;
    ddsp_phi_config_default(&pc);
    CHECK(ddsp_phi_parse_terms(&pc, terms) == DDSP_OK, "%s", ddsp_last_error());
    ddsp_timbre_cells c;
    CHECK(ddsp_timbre_compute(&c, &set, DDSP_TIMBRE_PHI, &pc, 0) == DDSP_OK, "%s",
          ddsp_last_error());
    double *d[8];
    ddsp_timbre_sums per[8];
    for (int s = 0; s < set.n_studies; s++) {
        d[s] = malloc(sizeof(double) * c.n_pairs[s]);
        ddsp_timbre_distances(d[s], &c, s, &c.phi);
    }
    ddsp_timbre_evaluate(per, all, &set, d);
    for (int s = 0; s < set.n_studies; s++) free(d[s]);
    if (keep) *keep = c;
    else ddsp_timbre_cells_free(&c);
    ddsp_timbre_free(&set);
}

static void check_generating_phi(void) {
    ddsp_timbre_sums a;
    eval_phi("gains,gains2", "loudness,dist=l1", &a, NULL);
    const double n = (double)a.anchors;
    printf("gains (loudness, l1): spearman %.6f kendall %.6f triplet %.6f ndcg %.6f mae %.3g\n",
           a.spearman / n, a.kendall / n, a.triplet / n, a.ndcg / n, a.mae / (double)a.pairs);
    CHECK(fabs(a.spearman / n - 1.0) < 1e-5 && a.kendall == n && a.triplet == n &&
              fabs(a.ndcg / n - 1.0) < 1e-12 && a.mae / (double)a.pairs < 1e-9,
          "distances of the generating Φ: spearman %.9f kendall %.9f triplet %.9f ndcg %.9f mae %.3g",
          a.spearman / n, a.kendall / n, a.triplet / n, a.ndcg / n, a.mae);
    eval_phi("tones", "mfcc,dist=l2", &a, NULL);
    printf("tones (mfcc, l2, unequal lengths): spearman %.6f mae %.3g\n", a.spearman / 5,
           a.mae / (double)a.pairs);
    CHECK(fabs(a.spearman / 5 - 1.0) < 1e-5 && a.mae / (double)a.pairs < 1e-9,
          "padded pairs: spearman %.9f, mae %.3g", a.spearman / 5, a.mae);
    /* another Φ does not agree perfectly */
    eval_phi("gains,gains2", "mfcc,dist=cos", &a, NULL);
    printf("gains (mfcc, cos): spearman %.3f\n", a.spearman / (double)a.anchors);
}

/* 1 and 2 threads give the same cells; the cache gives them back, and refuses another Φ */
static void check_threads_and_cache(void) {
    ddsp_timbre_set set;
    CHECK(ddsp_timbre_load(&set, root, NULL) == DDSP_OK, "load: %s", ddsp_last_error());
    CHECK(set.n_studies == 3 && !strcmp(set.study[0].name, "gains") &&
              !strcmp(set.study[2].name, "tones") && set.study[2].sample_rate == 22050,
          "studies read wrongly");
    ddsp_phi_config pc;
    ddsp_phi_config_default(&pc);
    ddsp_phi_parse_terms(&pc, "logmel,loudness,scat1,scat_j=9,mfcc,dist=cos");
    ddsp_timbre_cells c1, c2, c3;
    omp_set_num_threads(1);
    CHECK(ddsp_timbre_compute(&c1, &set, DDSP_TIMBRE_PHI, &pc, 0) == DDSP_OK, "%s", ddsp_last_error());
    omp_set_num_threads(2);
    CHECK(ddsp_timbre_compute(&c2, &set, DDSP_TIMBRE_PHI, &pc, 0) == DDSP_OK, "%s", ddsp_last_error());
    int same = 1;
    for (int s = 0; s < set.n_studies; s++)
        same &= !memcmp(c1.cells[s], c2.cells[s],
                        sizeof(double) * c1.n_pairs[s] * c1.lay.n_cells * DDSP_CELL_N);
    CHECK(same, "timbre cells differ between 1 and 2 threads");
    char path[600];
    snprintf(path, sizeof path, "%s/cache.h5", root);
    CHECK(ddsp_timbre_cells_write(path, &c2, &set) == DDSP_OK, "%s", ddsp_last_error());
    CHECK(ddsp_timbre_cells_read(path, &c3, &set, DDSP_TIMBRE_PHI, &pc) == 1, "cache not read: %s",
          ddsp_last_error());
    for (int s = 0; s < set.n_studies; s++)
        same &= !memcmp(c3.cells[s], c2.cells[s],
                        sizeof(double) * c1.n_pairs[s] * c1.lay.n_cells * DDSP_CELL_N);
    CHECK(same, "the cache gives other cells back");
    ddsp_timbre_cells_free(&c3);
    ddsp_phi_config other = pc;
    other.dist = 1, other.weight[DDSP_PHI_LOUDNESS] = 3.0; /* weights and dist: same cells */
    CHECK(ddsp_timbre_cells_read(path, &c3, &set, DDSP_TIMBRE_PHI, &other) == 1,
          "cache refused a Φ that only reweighs");
    ddsp_timbre_cells_free(&c3);
    ddsp_phi_config sub;
    ddsp_phi_config_default(&sub);
    ddsp_phi_parse_terms(&sub, "mfcc,loudness,scat1,scat_j=9"); /* a subset, same padding */
    ddsp_timbre_cells fresh;
    CHECK(ddsp_timbre_cells_read(path, &c3, &set, DDSP_TIMBRE_PHI, &sub) == 1 &&
              ddsp_timbre_compute(&fresh, &set, DDSP_TIMBRE_PHI, &sub, 0) == DDSP_OK,
          "cache refused a subset of its terms");
    for (int s = 0; s < set.n_studies; s++)
        same &= c3.lay.n_cells == fresh.lay.n_cells &&
                !memcmp(c3.cells[s], fresh.cells[s],
                        sizeof(double) * c3.n_pairs[s] * c3.lay.n_cells * DDSP_CELL_N);
    CHECK(same, "cells of a subset of the cached terms differ from computed ones");
    ddsp_timbre_cells_free(&c3), ddsp_timbre_cells_free(&fresh);
    ddsp_phi_parse_terms(&sub, "mfcc"); /* same padding: every pair is longer than both */
    CHECK(ddsp_timbre_cells_read(path, &c3, &set, DDSP_TIMBRE_PHI, &sub) == 1,
          "cache refused mfcc alone");
    ddsp_timbre_cells_free(&c3);
    ddsp_phi_config big;
    ddsp_phi_config_default(&big);
    ddsp_phi_parse_terms(&big, "mfcc,scat1,scat_j=11"); /* pads every pair to 9617 samples */
    CHECK(ddsp_timbre_compute(&fresh, &set, DDSP_TIMBRE_PHI, &big, 0) == DDSP_OK &&
              ddsp_timbre_cells_write(path, &fresh, &set) == DDSP_OK,
          "%s", ddsp_last_error());
    ddsp_timbre_cells_free(&fresh);
    CHECK(ddsp_timbre_cells_read(path, &c3, &set, DDSP_TIMBRE_PHI, &sub) == 0,
          "cache accepted a Φ padded otherwise");
    other.weight[DDSP_PHI_MAG] = 1.0; /* another term: other cells */
    CHECK(ddsp_timbre_cells_read(path, &c3, &set, DDSP_TIMBRE_PHI, &other) == 0,
          "cache accepted another Φ");
    ddsp_timbre_cells_free(&c1), ddsp_timbre_cells_free(&c2);
    ddsp_timbre_free(&set);
}

/* Leave-one-study-out: fitted on the other gains study, the held-out one must score 1 */
static void check_fit(void) {
    ddsp_timbre_set set;
    CHECK(ddsp_timbre_load(&set, root, "gains,gains2") == DDSP_OK, "%s", ddsp_last_error());
    ddsp_phi_config pc;
    ddsp_phi_config_default(&pc);
    /* only loudness sees gains as the listeners here do (logs of them; cos sees none) */
    ddsp_phi_parse_terms(&pc, "mag,mel,loudness,dist=l1");
    ddsp_timbre_cells c;
    CHECK(ddsp_timbre_compute(&c, &set, DDSP_TIMBRE_PHI, &pc, 0) == DDSP_OK, "%s", ddsp_last_error());
    ddsp_timbre_fit_config fc;
    ddsp_timbre_fit_config_default(&fc);
    ddsp_timbre_fit f;
    CHECK(ddsp_timbre_fit_run(&f, &c, &set, &fc, 1, 0) == DDSP_OK, "%s", ddsp_last_error());
    printf("fit: %s (train %.4f), cv %.4f: %s %.4f | %s %.4f\n", f.terms, f.train_spearman,
           f.cv_overall, set.study[0].name, f.cv_spearman[0], set.study[1].name, f.cv_spearman[1]);
    CHECK(f.cv_overall > 0.999 && strstr(f.terms, "loudness"),
          "the fit did not find the generating term: %s, cv %.4f", f.terms, f.cv_overall);
    ddsp_phi_config back;
    ddsp_phi_config_default(&back);
    CHECK(ddsp_phi_parse_terms(&back, f.terms) == DDSP_OK, "fitted list '%s' does not parse",
          f.terms);
    ddsp_timbre_fit_free(&f);
    ddsp_timbre_cells_free(&c);
    ddsp_timbre_free(&set);
}

/* ------------------------------------------------------------------ loader errors */
static void expect_load_error(const char *what, const char *r, const char *only, const char *want) {
    ddsp_timbre_set set;
    const int rc = ddsp_timbre_load(&set, r, only);
    CHECK(rc == DDSP_ERR && strstr(ddsp_last_error(), want),
          "%s: expected an error containing '%s', got rc %d '%s'", what, want, rc,
          ddsp_last_error());
    if (rc == DDSP_ERR) printf("  (%s: %s)\n", what, ddsp_last_error());
}

static void check_load_errors(void) {
    char p[1024], q[1024];
    expect_load_error("no root", "/nonexistent/timbre", NULL, "no such folder");
    snprintf(p, sizeof p, "%s/sounds", root);
    expect_load_error("not a collection", p, NULL, "not a timbre collection");
    expect_load_error("unknown study", root, "gains,nope", "no study 'nope'");
    /* a study without its matrix */
    make_dir("%s/sounds/%s", "lonely");
    float x[2000] = {0};
    write_sound("lonely", 0, x, 2000, 16000);
    write_sound("lonely", 1, x, 2000, 16000);
    expect_load_error("missing matrix", root, "lonely", "lonely_dissimilarity_matrix.txt: no such file");
    /* a matrix of the wrong size */
    const double M[9] = {0, 1, 2, 1, 0, 3, 2, 3, 0};
    write_matrix("lonely", M, 3);
    expect_load_error("mismatched matrix", root, "lonely", "has 3 numbers, expected 2");
    const double M2[4] = {0, 1, 1, 0};
    write_matrix("lonely", M2, 2);
    ddsp_timbre_set set;
    CHECK(ddsp_timbre_load(&set, root, "lonely") == DDSP_OK, "%s", ddsp_last_error());
    ddsp_timbre_free(&set);
    /* unreadable audio */
    snprintf(p, sizeof p, "%s/sounds/lonely/s01.wav", root);
    FILE *f = fopen(p, "w");
    if (f) fputs("not audio\n", f), fclose(f);
    expect_load_error("unreadable audio", root, "lonely", "s01.wav: not a readable audio file");
    write_sound("lonely", 1, x, 2000, 8000);
    expect_load_error("sample rates", root, "lonely", "s01.wav: 8000 Hz, but s00.wav is 16000 Hz");
    /* a matrix without sounds */
    snprintf(p, sizeof p, "%s/sounds/lonely/s01.wav", root);
    snprintf(q, sizeof q, "%s/true_dissim/ghost_dissimilarity_matrix.txt", root);
    unlink(p);
    write_sound("lonely", 1, x, 2000, 16000);
    f = fopen(q, "w");
    if (f) fputs("0 1\n1 0\n", f), fclose(f);
    expect_load_error("matrix without sounds", root, NULL, "no folder");
    unlink(q);
}

static void remove_tree(const char *dir) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (strncmp(dir, "/tmp/ddsp_test_timbre.", 22) == 0 && system(cmd) != 0)
        printf("could not remove %s\n", dir);
}

int main(void) {
    ddsp_h5_quiet();
    check_hand_4x4();
    check_shuffled();
    make_collection();
    check_generating_phi();
    check_threads_and_cache();
    check_fit();
    check_load_errors();
    remove_tree(root);
    ddsp_fft_cleanup();
    return tu_finish("test_timbre");
}
