/* Test sounds and loss landscapes: a shift moves the waveform, the landscape of a sound
 * against itself is 0 at the target and descends toward it, the time-shift claim (MSS
 * distance beyond the distance to silence), argument checks and the HDF5 file. */
#include "ddsp/analysis.h"
#include "ddsp/dsp.h"
#include "ddsp/synth.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_shift_moves_waveform(void) {
    const ddsp_sound_kind kinds[] = {DDSP_SOUND_CHIRP, DDSP_SOUND_HARMONIC, DDSP_SOUND_NOISE};
    for (int k = 0; k < 3; k++) {
        ddsp_sound s;
        ddsp_sound_default(&s, kinds[k]);
        s.N = 8192;
        float *a = ddsp_alloc(sizeof(float) * s.N), *b = ddsp_alloc(sizeof(float) * s.N);
        ddsp_sound_render(a, &s);
        s.p[DDSP_SP_SHIFT] = 100;
        ddsp_sound_render(b, &s);
        double err = 0.0, peak = 0.0;
        for (size_t i = 100; i < s.N; i++) err = fmax(err, fabs(b[i] - a[i - 100]));
        for (size_t i = 0; i < s.N; i++) peak = fmax(peak, fabs(a[i]));
        printf("sound %-8s peak %.3f, shift by 100 samples: max error %.3g\n",
               ddsp_sound_kind_name(kinds[k]), peak, err);
        CHECK(fabs(peak - 0.5) < 1e-6, "%s: peak %.6f, not 0.5", ddsp_sound_kind_name(kinds[k]),
              peak);
        CHECK(err < 2e-3, "%s: shifted sound is not the delayed sound (%.3g)",
              ddsp_sound_kind_name(kinds[k]), err);
        ddsp_free(a), ddsp_free(b);
    }
    ddsp_sound_kind kind;
    CHECK(ddsp_sound_parse_kind("bell", &kind) == DDSP_ERR, "unknown sound accepted");
    CHECK(ddsp_sound_param_index(DDSP_SOUND_NOISE, "am") == DDSP_ERR, "noise has no am");
}

static void base_config(ddsp_landscape_config *c, ddsp_sound_kind kind, const char *param,
                        int grid) {
    memset(c, 0, sizeof *c);
    ddsp_sound_default(&c->target, kind);
    c->target.N = 8192;
    c->n_vary = 1;
    c->vary[0] = ddsp_sound_param_index(kind, param);
    ddsp_sound_param_range(kind, c->vary[0], &c->lo[0], &c->hi[0]);
    c->grid = grid;
    c->n_phi = 2;
    c->phi[0] = "l1log";
    c->phi[1] = "mag,logmag,sc";
    c->base = c->target;
}

static void test_detune_landscape(const char *dir) {
    ddsp_landscape_config c;
    base_config(&c, DDSP_SOUND_HARMONIC, "detune", 9); /* -100..100 cents, 0 in the middle */
    ddsp_landscape l;
    CHECK(ddsp_landscape_compute(&c, &l, 0) == DDSP_OK, "%s", ddsp_last_error());
    for (int k = 0; k < l.n_phi; k++) {
        const double *L = l.loss + (size_t)k * 9, *g = l.grad + (size_t)k * 9;
        CHECK(L[4] == 0.0 && l.argmin[k] == 4, "%s: minimum %g at %d, expected 0 at 4", c.phi[k],
              L[4], l.argmin[k]);
        CHECK(g[1] < 0.0 && g[7] > 0.0, "%s: surface gradient does not point away from the "
              "target (%g, %g)", c.phi[k], g[1], g[7]);
        CHECK(l.basin[k] > 0.0 && l.silence[k] > 0.0, "%s: basin %g, silence %g", c.phi[k],
              l.basin[k], l.silence[k]);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/landscape_test.h5", dir);
    CHECK(ddsp_landscape_write(path, &c, &l) == DDSP_OK, "%s", ddsp_last_error());
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot reopen %s", path);
    if (f >= 0) {
        char fmt[64] = "";
        CHECK(!ddsp_h5_attr_get_str(f, "format", fmt, sizeof fmt) &&
                  !strcmp(fmt, "ddsp-landscape"), "format attribute '%s'", fmt);
        double *loss = NULL;
        uint64_t d[8];
        int r;
        CHECK(!ddsp_h5_read_f64(f, path, "loss_1", &loss, d, &r) && r == 1 && d[0] == 9 &&
                  loss[3] == l.loss[9 + 3], "loss_1 not written as computed");
        ddsp_free(loss);
        H5Fclose(f);
    }
    remove(path);
    ddsp_landscape_free(&l);
}

/* The claim of Vahidi et al.: a chirplet against its own time-shifted copy is further away
 * in MSS l2 distance than from silence. */
static void test_shift_claim(void) {
    ddsp_landscape_config c;
    base_config(&c, DDSP_SOUND_CHIRP, "shift", 5);
    c.lo[0] = -2048, c.hi[0] = 2048;
    c.n_phi = 1;
    c.phi[0] = "l2";
    ddsp_landscape l;
    CHECK(ddsp_landscape_compute(&c, &l, 0) == DDSP_OK, "%s", ddsp_last_error());
    const double ratio = fmax(l.loss[0], l.loss[4]) / l.silence[0];
    printf("chirp shifted by 2048 samples: MSS l2 distance %.3g x the distance to silence\n",
           ratio);
    CHECK(l.loss[2] == 0.0 && ratio > 1.0, "shift claim not reproduced (ratio %.3g)", ratio);
    ddsp_landscape_free(&l);
    /* argument checks */
    c.grid = 2;
    CHECK(ddsp_landscape_compute(&c, &l, 0) == DDSP_ERR, "grid 2 accepted");
    c.grid = 5, c.phi[0] = "nonsense";
    CHECK(ddsp_landscape_compute(&c, &l, 0) == DDSP_ERR, "bad distance accepted");
    c.phi[0] = "l2", c.hi[0] = c.lo[0];
    CHECK(ddsp_landscape_compute(&c, &l, 0) == DDSP_ERR, "empty range accepted");
}

/* Closed form: x = a sin(w t), θ = a. J = ∇Φ(x) sin, and |STFT| is positively homogeneous,
 * so the one singular value is || |STFT(sin)| || over every frame of every scale. */
static void test_jacobian_sinusoid(void) {
    const size_t N = 4096;
    const int scales[] = {2048, 1024, 512, 256, 128, 64};
    float *x = ddsp_alloc(sizeof(float) * N);
    double *Jg = ddsp_alloc(sizeof(double) * N), G[1];
    for (size_t i = 0; i < N; i++) {
        Jg[i] = sin(2.0 * 3.14159265358979 * 440.0 * (double)i / 16000.0);
        x[i] = (float)(0.3 * Jg[i]);
    }
    size_t n_out = 0;
    CHECK(ddsp_jacobian_gram(G, &n_out, Jg, 0, N, 1, x, N, scales, 6, 0.75) == DDSP_OK, "%s",
          ddsp_last_error());
    double want = 0.0;
    size_t rows = 0;
    float *sx = ddsp_alloc(sizeof(float) * N);
    for (size_t i = 0; i < N; i++) sx[i] = (float)Jg[i];
    for (int s = 0; s < 6; s++) {
        const int n = scales[s], hop = n / 4;
        const size_t F = ddsp_stft_nframes(N, hop), K = (size_t)n / 2 + 1;
        float *S = ddsp_alloc(sizeof(float) * F * K);
        ddsp_stft_mag(S, sx, N, n, hop);
        for (size_t q = 0; q < F * K; q++) want += (double)S[q] * S[q];
        rows += F * K;
        ddsp_free(S);
    }
    ddsp_jacobian j;
    CHECK(ddsp_jacobian_decompose(&j, G, 1, 1, 1) == DDSP_OK, "%s", ddsp_last_error());
    printf("jacobian of a sinusoid's amplitude: sigma %.9g, closed form %.9g, %zu rows\n",
           j.sigma[0], sqrt(want), n_out);
    CHECK(fabs(j.sigma[0] - sqrt(want)) <= 1e-5 * sqrt(want) && n_out == rows,
          "sinusoid: sigma %.9g vs %.9g (rows %zu vs %zu)", j.sigma[0], sqrt(want), n_out, rows);
    ddsp_jacobian_free(&j);
    ddsp_free(x), ddsp_free(Jg), ddsp_free(sx);
}

/* The synthesizer's Jacobian: v^T (J^T J) v = ||J v||^2 against central differences of the
 * concatenated magnitudes, and controls the synth masks (harmonics above Nyquist) found in
 * the null space while the overall amplitude is not. */
static void test_jacobian_synth(void) {
    ddsp_synth_config sc;
    ddsp_synth_config_default(&sc);
    const size_t F = 40, C = ddsp_synth_n_controls(&sc), N = F * (size_t)sc.hop;
    const size_t fb = 18, fe = 20, n_in = (fe - fb) * C;
    const int scales[] = {1024, 256, 64};
    float *raw = ddsp_alloc(sizeof(float) * F * C), *f0 = ddsp_alloc(sizeof(float) * F);
    float *noise = ddsp_alloc(sizeof(float) * N);
    for (size_t q = 0; q < F * C; q++) raw[q] = (float)(2.0 * tu_uniform() - 1.0);
    for (size_t f = 0; f < F; f++) f0[f] = 400.0f; /* harmonics 20..60 at or above 8 kHz */
    for (size_t i = 0; i < N; i++) noise[i] = (float)tu_uniform();
    ddsp_jacobian j;
    CHECK(ddsp_jacobian_synth(&j, &sc, raw, f0, noise, F, fb, fe, scales, 3, 0.75, 4,
                              DDSP_JACOBIAN_DENSE) == DDSP_OK,
          "%s", ddsp_last_error());
    printf("synth jacobian: %zu controls, %zu rows, region %zu:%zu, sigma_max %.4g, rank(1e-3) "
           "%zu, entropy rank %.1f\n", j.n_in, j.n_out, j.region[0], j.region[1], j.sigma[0],
           j.rank_1e3, j.entropy_rank);
    CHECK(j.n_in == n_in && j.region[0] < fb * 64 && j.region[1] > fe * 64, "bad shape/region");
    CHECK(j.null_share[0] < 0.05, "amplitude control in the null space (%.3g)", j.null_share[0]);
    double masked = 1.0;
    for (size_t h = 20; h <= 60; h++) masked = fmin(masked, j.null_share[h]);
    CHECK(masked > 0.99, "harmonics above Nyquist not in the null space (min share %.3g)", masked);
    /* ||J v||^2 from the top of the decomposition is not enough: rebuild v^T G v from sigma
     * and V for v = the top singular vector (= sigma_0^2), and check it by differences */
    ddsp_synth *s = ddsp_synth_init(&sc, 1, F);
    float *rp = ddsp_alloc(sizeof(float) * F * C), *xp = ddsp_alloc(sizeof(float) * N),
          *xm = ddsp_alloc(sizeof(float) * N);
    double worst = 0.0;
    for (int t = 0; t < 2; t++) {
        const double *v = j.V + (size_t)t * n_in;
        const double h = 1e-2;
        memcpy(rp, raw, sizeof(float) * F * C);
        for (size_t q = 0; q < n_in; q++) rp[fb * C + q] = (float)(raw[fb * C + q] + h * v[q]);
        ddsp_synth_forward(s, xp, rp, f0, noise, NULL, NULL, 1);
        for (size_t q = 0; q < n_in; q++) rp[fb * C + q] = (float)(raw[fb * C + q] - h * v[q]);
        ddsp_synth_forward(s, xm, rp, f0, noise, NULL, NULL, 1);
        double fd2 = 0.0;
        for (int sidx = 0; sidx < 3; sidx++) {
            const int n = scales[sidx], hop = n / 4;
            const size_t Fs = ddsp_stft_nframes(N, hop), K = (size_t)n / 2 + 1;
            float *Sp = ddsp_alloc(sizeof(float) * Fs * K), *Sm = ddsp_alloc(sizeof(float) * Fs * K);
            ddsp_stft_mag(Sp, xp, N, n, hop);
            ddsp_stft_mag(Sm, xm, N, n, hop);
            for (size_t q = 0; q < Fs * K; q++) {
                const double d = ((double)Sp[q] - Sm[q]) / (2 * h);
                fd2 += d * d;
            }
            ddsp_free(Sp), ddsp_free(Sm);
        }
        const double want = j.sigma[t] * j.sigma[t];
        worst = fmax(worst, fabs(fd2 - want) / want);
    }
    printf("synth jacobian: ||J v||^2 of the top 2 singular vectors vs differences: worst rel "
           "%.3g\n", worst);
    CHECK(worst < 2e-2, "J v disagrees with finite differences (%.3g)", worst);
    /* the randomized SVD (matrix-free products) finds the same top singular values and
     * vectors as the dense decomposition */
    ddsp_jacobian jr;
    CHECK(ddsp_jacobian_synth(&jr, &sc, raw, f0, noise, F, fb, fe, scales, 3, 0.75, 4,
                              DDSP_JACOBIAN_RANDOMIZED) == DDSP_OK,
          "%s", ddsp_last_error());
    CHECK(jr.n_sigma == 4 && jr.k == 4 && jr.n_out == j.n_out && !jr.null_share,
          "randomized: %zu values, %zu rows (dense %zu)", jr.n_sigma, jr.n_out, j.n_out);
    double werr = 0.0, wvec = 0.0;
    for (size_t t = 0; t < 4; t++) {
        werr = fmax(werr, fabs(jr.sigma[t] - j.sigma[t]) / j.sigma[t]);
        double dot = 0.0;
        for (size_t q = 0; q < n_in; q++) dot += jr.V[t * n_in + q] * j.V[t * n_in + q];
        wvec = fmax(wvec, 1.0 - fabs(dot));
    }
    printf("synth jacobian: randomized top 4 vs dense: sigma rel %.3g, 1 - |<v_r, v_d>| %.3g\n",
           werr, wvec);
    CHECK(werr < 1e-8 && wvec < 1e-6, "randomized SVD disagrees with dense (sigma %.3g, "
          "vectors %.3g)", werr, wvec);
    ddsp_jacobian_free(&jr);
    ddsp_synth_free(s);
    ddsp_jacobian_free(&j);
    ddsp_free(raw), ddsp_free(f0), ddsp_free(noise), ddsp_free(rp), ddsp_free(xp), ddsp_free(xm);
}

int main(int argc, char **argv) {
    (void)argc, (void)argv;
    ddsp_h5_quiet();
    test_shift_moves_waveform();
    test_detune_landscape(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    test_shift_claim();
    test_jacobian_sinusoid();
    test_jacobian_synth();
    ddsp_fft_cleanup();
    return tu_finish("test_analysis");
}
