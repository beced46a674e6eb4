/* Synth forward and backward: against the float64 PyTorch reference (tests/data/synth_ref.h5,
 * 4 s, 60 harmonics, 65 noise bands), end to end through the MSS loss, against the plain C
 * reference, against central finite differences on a small config (harmonic, noise, reverb
 * IR), across thread counts, chunked resynthesis with a carried phase, and config checks. */
#include "ddsp/loss.h"
#include "ddsp/synth.h"
#include "ddsp/util.h"
#include "synth/synth_internal.h" /* the private math helpers */
#include "testutil.h"

#include <hdf5.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static void fill_uniform(float *x, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * 0.5 * (tu_uniform() + 1.0));
}

/* rel L2 of two float vectors (b the reference). */
static double rel_ff(const float *a, const float *b, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* ---------------------------------------------------------------- reference file */
static void check_reference_file(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/synth_ref.h5", dir);
    hid_t fh = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(fh >= 0, "cannot open %s", path);
    if (fh < 0) return;
    float *raw = NULL, *f0 = NULL, *nz = NULL, *tgt = NULL;
    double *harm = NULL, *noise = NULL, *audio = NULL, *loss = NULL, *gaud = NULL, *graw = NULL,
           *ir0 = NULL;
    uint64_t dr[8], d[8];
    int rk;
    int ok = !ddsp_h5_read_f32(fh, path, "raw_controls", &raw, dr, &rk) &&
             !ddsp_h5_read_f32(fh, path, "f0_hz", &f0, d, &rk) &&
             !ddsp_h5_read_f32(fh, path, "noise_uniform", &nz, d, &rk) &&
             !ddsp_h5_read_f32(fh, path, "target", &tgt, d, &rk) &&
             !ddsp_h5_read_f64(fh, path, "harmonic_audio", &harm, d, &rk) &&
             !ddsp_h5_read_f64(fh, path, "noise_audio", &noise, d, &rk) &&
             !ddsp_h5_read_f64(fh, path, "audio", &audio, d, &rk) &&
             !ddsp_h5_read_f64(fh, path, "loss", &loss, d, &rk) &&
             !ddsp_h5_read_f64(fh, path, "grad_audio", &gaud, d, &rk) &&
             !ddsp_h5_read_f64(fh, path, "grad_raw_controls", &graw, d, &rk) &&
             !ddsp_h5_read_f64(fh, path, "noise_ir_frame0", &ir0, d, &rk);
    H5Fclose(fh);
    CHECK(ok, "%s", ddsp_last_error());
    if (!ok) goto out;
    ddsp_synth_config c;
    ddsp_synth_config_default(&c);
    const size_t F = (size_t)dr[0], C = (size_t)dr[1];
    CHECK(C == ddsp_synth_n_controls(&c), "raw_controls has %zu columns", C);
    ddsp_synth *s = ddsp_synth_init(&c, 1, F);
    CHECK(s != NULL, "init: %s", ddsp_last_error());
    if (!s) goto out;
    const size_t N = ddsp_synth_n_samples(s);
    float *y = ddsp_alloc(sizeof(float) * N), *g = ddsp_alloc(sizeof(float) * N);
    float *draw = ddsp_alloc(sizeof(float) * F * C), *ir = ddsp_alloc(sizeof(float) * 128);

    ddsp_synth_forward(s, y, raw, f0, nz, NULL, NULL, 1);
    const double rh = tu_rel_l2(ddsp_synth_harmonic(s), harm, N, NULL, NULL);
    const double rn = tu_rel_l2(ddsp_synth_noise(s), noise, N, NULL, NULL);
    const double ra = tu_rel_l2(y, audio, N, NULL, NULL);
    ddsp_synth_noise_ir(s, ir, raw + 1 + c.n_harmonics);
    const double ri = tu_rel_l2(ir, ir0, 128, NULL, NULL);
    printf("ref file forward: harmonic %.3g  noise %.3g  audio %.3g  noise IR frame 0 %.3g "
           "(rel L2)\n",
           rh, rn, ra, ri);
    CHECK(rh <= 1e-4 && rn <= 1e-4 && ra <= 1e-4 && ri <= 1e-4, "forward outside 1e-4");

    for (size_t i = 0; i < N; i++)
        g[i] = (float)gaud[i];
    ddsp_synth_backward(s, draw, NULL, g, 1);
    const double rg = tu_rel_l2(draw, graw, F * C, NULL, NULL);
    /* per part: amplitude column, harmonic distribution, noise bands */
    double num[3] = {0}, den[3] = {0};
    for (size_t f = 0; f < F; f++)
        for (size_t j = 0; j < C; j++) {
            const int p = j == 0 ? 0 : j <= (size_t)c.n_harmonics ? 1 : 2;
            const double e = draw[f * C + j] - graw[f * C + j];
            num[p] += e * e, den[p] += graw[f * C + j] * graw[f * C + j];
        }
    printf("ref file backward (given grad_audio): grad_raw %.3g  (amp %.3g, harmonic %.3g, "
           "noise %.3g)\n",
           rg, sqrt(num[0] / den[0]), sqrt(num[1] / den[1]), sqrt(num[2] / den[2]));
    CHECK(rg <= 1e-3, "grad_raw_controls rel L2 %.3g > 1e-3", rg);

    /* end to end: synth -> MSS l1log against the stored target -> synth backward */
    ddsp_mss_config mc;
    ddsp_mss_config_default(&mc);
    ddsp_mss *m = ddsp_mss_init(&mc, 1, N);
    CHECK(m != NULL, "mss init: %s", ddsp_last_error());
    if (m) {
        ddsp_mss_value v;
        memset(g, 0, sizeof(float) * N);
        ddsp_mss_backward(m, g, &v, NULL, tgt, y, 1, 1.0f);
        const double rga = tu_rel_l2(g, gaud, N, NULL, NULL);
        ddsp_synth_backward(s, draw, NULL, g, 1);
        const double rge = tu_rel_l2(draw, graw, F * C, NULL, NULL);
        printf("ref file end to end: loss %.9g (ref %.9g, rel %.2g)  grad_audio %.3g  "
               "grad_raw %.3g\n",
               v.total, *loss, tu_rel(v.total, *loss), rga, rge);
        CHECK(tu_rel(v.total, *loss) <= 1e-5, "end-to-end loss %.9g vs %.9g", v.total, *loss);
        CHECK(rga <= 1e-2 && rge <= 1e-2, "end-to-end gradients: audio %.3g, raw %.3g", rga, rge);
        ddsp_mss_free(m);
    }

    /* the plain reference reproduces the file too (validates it for the checks below) */
    double *hr = ddsp_alloc(sizeof(double) * N), *nr = ddsp_alloc(sizeof(double) * N);
    double *grr = ddsp_alloc(sizeof(double) * F * C);
    for (size_t i = 0; i < N; i++)
        g[i] = (float)gaud[i];
    int rc = ddsp_synth_reference(&c, 1, F, raw, f0, nz, NULL, hr, nr, NULL, g, grr, NULL);
    CHECK(rc == DDSP_OK, "reference: %s", ddsp_last_error());
    double e1 = 0, e2 = 0, e3 = 0, n1 = 0, n2 = 0, n3 = 0;
    for (size_t i = 0; i < N; i++) {
        e1 += (hr[i] - harm[i]) * (hr[i] - harm[i]), n1 += harm[i] * harm[i];
        e2 += (nr[i] - noise[i]) * (nr[i] - noise[i]), n2 += noise[i] * noise[i];
    }
    for (size_t i = 0; i < F * C; i++)
        e3 += (grr[i] - graw[i]) * (grr[i] - graw[i]), n3 += graw[i] * graw[i];
    printf("plain C reference vs file: harmonic %.3g  noise %.3g  grad_raw %.3g\n", sqrt(e1 / n1),
           sqrt(e2 / n2), sqrt(e3 / n3));
    CHECK(sqrt(e1 / n1) <= 1e-9 && sqrt(e2 / n2) <= 1e-9 && sqrt(e3 / n3) <= 1e-6,
          "plain reference disagrees with the file");
    ddsp_free(hr), ddsp_free(nr), ddsp_free(grr);

    /* speed, one thread (printed for the record; ctest runs with the estimate planner) */
    omp_set_num_threads(1);
    double tf = 1e9, tb = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = ddsp_now();
        ddsp_synth_forward(s, y, raw, f0, nz, NULL, NULL, 1);
        double t1 = ddsp_now();
        ddsp_synth_backward(s, draw, NULL, g, 1);
        double t2 = ddsp_now();
        tf = fmin(tf, t1 - t0), tb = fmin(tb, t2 - t1);
    }
    omp_set_num_threads(2);
    printf("speed (1 thread, 4 s example, no reverb): forward %.2f ms, backward %.2f ms\n",
           1e3 * tf, 1e3 * tb);
    ddsp_free(y), ddsp_free(g), ddsp_free(draw), ddsp_free(ir);
    ddsp_synth_free(s);
out:
    ddsp_free(raw), ddsp_free(f0), ddsp_free(nz), ddsp_free(tgt), ddsp_free(harm);
    ddsp_free(noise), ddsp_free(audio), ddsp_free(loss), ddsp_free(gaud), ddsp_free(graw);
    ddsp_free(ir0);
}

/* ---------------------------------------------------------------- small config helpers */
typedef struct {
    ddsp_synth_config c;
    size_t B, F, N, C, L;
    float *raw, *f0, *nz, *ir;
} problem;

/* f0 covers voiced frames below and across Nyquist for some harmonics, an unvoiced frame
 * (f0 = 0) and a frame above Nyquist for all harmonics (empty distribution). */
static void problem_init(problem *p, size_t B, size_t F, int H, int NB, int reverb, size_t L) {
    ddsp_synth_config_default(&p->c);
    p->c.n_harmonics = H, p->c.n_noise_bands = NB, p->c.reverb = reverb;
    p->c.reverb_length = (int)L;
    p->B = B, p->F = F, p->N = F * (size_t)p->c.hop, p->C = ddsp_synth_n_controls(&p->c);
    p->L = L;
    p->raw = ddsp_alloc(sizeof(float) * B * F * p->C);
    p->f0 = ddsp_alloc(sizeof(float) * B * F);
    p->nz = ddsp_alloc(sizeof(float) * B * p->N);
    p->ir = ddsp_alloc(sizeof(float) * (L ? L : 1));
    for (size_t i = 0; i < B * F * p->C; i++) {
        const size_t j = i % p->C;
        p->raw[i] = (float)(j > (size_t)H ? 3.0 + 1.5 * tu_uniform() : 2.0 * tu_uniform());
    }
    fill_uniform(p->f0, B * F, 150.0, 2500.0);
    if (F > 5) p->f0[3] = 0.0f, p->f0[5] = 9000.0f;
    fill_uniform(p->nz, B * p->N, -1.0, 1.0);
    for (size_t m = 0; m < L; m++)
        p->ir[m] = (float)(0.05 * tu_uniform() * exp(-(double)m / 100));
}

static void problem_free(problem *p) {
    ddsp_free(p->raw), ddsp_free(p->f0), ddsp_free(p->nz), ddsp_free(p->ir);
}

/* sum_i w_i audio_i in double */
static double dot_loss(ddsp_synth *s, const problem *p, float *y, const float *w) {
    ddsp_synth_forward(s, y, p->raw, p->f0, p->nz, p->c.reverb ? p->ir : NULL, NULL, p->B);
    double v = 0.0;
    for (size_t i = 0; i < p->B * p->N; i++)
        v += (double)w[i] * y[i];
    return v;
}

/* ---------------------------------------------------------------- finite differences */
static void check_finite_differences(void) {
    problem p;
    problem_init(&p, 2, 12, 8, 9, 1, 300);
    const int H = p.c.n_harmonics;
    ddsp_synth *s = ddsp_synth_init(&p.c, p.B, p.F);
    CHECK(s != NULL, "init: %s", ddsp_last_error());
    if (!s) return;
    const size_t nraw = p.B * p.F * p.C;
    float *y = ddsp_alloc(sizeof(float) * p.B * p.N), *w = ddsp_alloc(sizeof(float) * p.B * p.N);
    float *draw = ddsp_alloc(sizeof(float) * nraw), *dir = ddsp_alloc(sizeof(float) * p.L);
    fill_uniform(w, p.B * p.N, -1.0, 1.0);
    dot_loss(s, &p, y, w);
    memset(dir, 0, sizeof(float) * p.L);
    dir[0] = 7.0f; /* ir[0] is forced to 0: its gradient must stay untouched */
    ddsp_synth_backward(s, draw, dir, w, p.B);
    CHECK(dir[0] == 7.0f, "d_ir[0] was modified");
    dir[0] = 0.0f;

    /* raw controls, per part: 0 amplitude, 1 harmonic distribution, 2 noise */
    const double h = 1e-2;
    double num[4] = {0}, den[4] = {0}, emax[4] = {0}, gmax[4] = {0};
    for (size_t i = 0; i < nraw; i++) {
        const size_t j = i % p.C;
        const int part = j == 0 ? 0 : j <= (size_t)H ? 1 : 2;
        const float x = p.raw[i];
        p.raw[i] = (float)(x + h);
        const double lp = dot_loss(s, &p, y, w);
        p.raw[i] = (float)(x - h);
        const double lm = dot_loss(s, &p, y, w);
        p.raw[i] = x;
        const double fd = (lp - lm) / (2 * h), e = fd - draw[i];
        num[part] += e * e, den[part] += (double)draw[i] * draw[i];
        emax[part] = fmax(emax[part], fabs(e)), gmax[part] = fmax(gmax[part], fabs(draw[i]));
    }
    for (size_t m = 1; m < p.L; m++) {
        const float x = p.ir[m];
        p.ir[m] = (float)(x + h);
        const double lp = dot_loss(s, &p, y, w);
        p.ir[m] = (float)(x - h);
        const double lm = dot_loss(s, &p, y, w);
        p.ir[m] = x;
        const double e = (lp - lm) / (2 * h) - dir[m];
        num[3] += e * e, den[3] += (double)dir[m] * dir[m];
        emax[3] = fmax(emax[3], fabs(e)), gmax[3] = fmax(gmax[3], fabs(dir[m]));
    }
    const char *names[4] = {"amplitude", "harmonic distribution", "noise bands", "reverb IR"};
    /* Steps of 1e-2 on O(1) controls: truncation and float rounding keep agreement ~1e-4;
     * a wrong term anywhere shows up in the norm or in the worst element (a 1% error in one
     * of the 300 reverb taps reaches 1.4e-3 of the largest element). */
    for (int k = 0; k < 4; k++) {
        const double rel = sqrt(num[k] / den[k]), worst = emax[k] / gmax[k];
        printf("fd  %-22s |grad| %.3g  rel L2 (fd - backward) %.3g  worst element %.3g of max\n",
               names[k], sqrt(den[k]), rel, worst);
        CHECK(den[k] > 0 && rel <= 1e-3 && worst <= 5e-4,
              "finite differences, %s: rel L2 %.3g, "
              "worst element %.3g",
              names[k], rel, worst);
    }
    /* parameter gradient accumulates */
    float *dir2 = ddsp_alloc(sizeof(float) * p.L);
    memcpy(dir2, dir, sizeof(float) * p.L);
    dot_loss(s, &p, y, w);
    ddsp_synth_backward(s, draw, dir2, w, p.B);
    double err = 0.0;
    for (size_t m = 0; m < p.L; m++)
        err = fmax(err, fabs(dir2[m] - 2.0 * dir[m]));
    CHECK(err <= 1e-5, "d_reverb_ir does not accumulate (max err %.3g)", err);
    ddsp_free(dir2);
    ddsp_free(y), ddsp_free(w), ddsp_free(draw), ddsp_free(dir);
    ddsp_synth_free(s);
    problem_free(&p);
}

/* ---------------------------------------------------------------- optimised vs plain */
static void check_against_plain(ddsp_amp_interp interp, int reverb, int hop, size_t F, int H,
                                int NB) {
    problem p;
    problem_init(&p, 2, F, H, NB, reverb, 300);
    p.c.amp_interp = interp;
    if (hop != p.c.hop) { /* re-draw the noise for the new length */
        p.c.hop = hop, p.N = F * (size_t)hop;
        ddsp_free(p.nz);
        p.nz = ddsp_alloc(sizeof(float) * p.B * p.N);
        fill_uniform(p.nz, p.B * p.N, -1.0, 1.0);
    }
    ddsp_synth *s = ddsp_synth_init(&p.c, p.B, p.F);
    const size_t BN = p.B * p.N, nraw = p.B * p.F * p.C;
    float *y = ddsp_alloc(sizeof(float) * BN), *w = ddsp_alloc(sizeof(float) * BN);
    float *draw = ddsp_alloc(sizeof(float) * nraw), *dir = ddsp_alloc(sizeof(float) * p.L);
    double *hr = ddsp_alloc(sizeof(double) * BN), *nr = ddsp_alloc(sizeof(double) * BN);
    double *ar = ddsp_alloc(sizeof(double) * BN), *dr = ddsp_alloc(sizeof(double) * nraw);
    double *dirr = ddsp_alloc(sizeof(double) * p.L);
    fill_uniform(w, BN, -1.0, 1.0);
    dot_loss(s, &p, y, w);
    ddsp_synth_backward(s, draw, reverb ? dir : NULL, w, p.B);
    int rc = ddsp_synth_reference(&p.c, p.B, p.F, p.raw, p.f0, p.nz, reverb ? p.ir : NULL, hr, nr,
                                  ar, w, dr, reverb ? dirr : NULL);
    CHECK(rc == DDSP_OK, "reference: %s", ddsp_last_error());
    const double eh = tu_rel_l2(ddsp_synth_harmonic(s), hr, BN, NULL, NULL);
    const double en = tu_rel_l2(ddsp_synth_noise(s), nr, BN, NULL, NULL);
    const double ea = tu_rel_l2(y, ar, BN, NULL, NULL);
    const double eg = tu_rel_l2(draw, dr, nraw, NULL, NULL);
    const double ei = reverb ? tu_rel_l2(dir + 1, dirr + 1, p.L - 1, NULL, NULL) : 0.0;
    printf("optimised vs plain (%s, reverb %s, hop %d, F %zu, H %d, NB %d): harmonic %.3g "
           "noise %.3g audio %.3g d_raw %.3g d_ir %.3g\n",
           interp == DDSP_AMP_WINDOW ? "window" : "linear", reverb ? "on" : "off", hop, F, H, NB,
           eh, en, ea, eg, ei);
    CHECK(eh <= 1e-6 && en <= 1e-6 && ea <= 1e-6 && eg <= 1e-5 && ei <= 1e-5,
          "optimised and plain reference disagree");
    ddsp_free(y), ddsp_free(w), ddsp_free(draw), ddsp_free(dir), ddsp_free(hr), ddsp_free(nr);
    ddsp_free(ar), ddsp_free(dr), ddsp_free(dirr);
    ddsp_synth_free(s);
    problem_free(&p);
}

/* ---------------------------------------------------------------- threads */
static void check_threads(void) {
    problem p;
    problem_init(&p, 3, 200, 60, 65, 1, 4000);
    ddsp_synth *s = ddsp_synth_init(&p.c, p.B, p.F);
    const size_t BN = p.B * p.N, nraw = p.B * p.F * p.C;
    float *y[2], *hm[2], *nz[2], *dr[2], *di[2];
    double ph[2][3];
    float *w = ddsp_alloc(sizeof(float) * BN);
    fill_uniform(w, BN, -1.0, 1.0);
    for (int t = 0; t < 2; t++) {
        y[t] = ddsp_alloc(sizeof(float) * BN), hm[t] = ddsp_alloc(sizeof(float) * BN);
        nz[t] = ddsp_alloc(sizeof(float) * BN), dr[t] = ddsp_alloc(sizeof(float) * nraw);
        di[t] = ddsp_alloc(sizeof(float) * p.L);
        omp_set_num_threads(t + 1);
        for (int b = 0; b < 3; b++)
            ph[t][b] = 0.25 * b;
        ddsp_synth_forward(s, y[t], p.raw, p.f0, p.nz, p.ir, ph[t], p.B);
        memcpy(hm[t], ddsp_synth_harmonic(s), sizeof(float) * BN);
        memcpy(nz[t], ddsp_synth_noise(s), sizeof(float) * BN);
        ddsp_synth_backward(s, dr[t], di[t], w, p.B);
    }
    const int same =
        !memcmp(y[0], y[1], sizeof(float) * BN) && !memcmp(hm[0], hm[1], sizeof(float) * BN) &&
        !memcmp(nz[0], nz[1], sizeof(float) * BN) && !memcmp(dr[0], dr[1], sizeof(float) * nraw) &&
        !memcmp(di[0], di[1], sizeof(float) * p.L) && !memcmp(ph[0], ph[1], sizeof ph[0]);
    printf("threads: 1 and 2 threads %s\n", same ? "give bitwise identical results" : "DIFFER");
    CHECK(same, "1 and 2 threads differ");
    omp_set_num_threads(2);
    for (int t = 0; t < 2; t++)
        ddsp_free(y[t]), ddsp_free(hm[t]), ddsp_free(nz[t]), ddsp_free(dr[t]), ddsp_free(di[t]);
    ddsp_free(w);
    ddsp_synth_free(s);
    problem_free(&p);
}

/* The windowed backward (for Jacobians) gives the full backward's d_raw in its frames,
 * bit for bit, for windows at the start, in the middle and at the end. */
static void check_backward_window(void) {
    const ddsp_amp_interp modes[] = {DDSP_AMP_WINDOW, DDSP_AMP_LINEAR};
    for (int mi = 0; mi < 2; mi++) {
        problem p;
        problem_init(&p, 2, 40, 20, 17, 0, 0);
        p.c.amp_interp = modes[mi];
        ddsp_synth *s = ddsp_synth_init(&p.c, p.B, p.F);
        const size_t BN = p.B * p.N, nraw = p.B * p.F * p.C;
        float *y = ddsp_alloc(sizeof(float) * BN), *w = ddsp_alloc(sizeof(float) * BN);
        float *full = ddsp_alloc(sizeof(float) * nraw), *win = ddsp_alloc(sizeof(float) * nraw);
        float *w2 = ddsp_alloc(sizeof(float) * BN);
        fill_uniform(w, BN, -1.0, 1.0);
        fill_uniform(w2, BN, -1.0, 1.0);
        ddsp_synth_forward(s, y, p.raw, p.f0, p.nz, NULL, NULL, p.B);
        ddsp_synth_backward(s, full, NULL, w, p.B);
        const size_t win_lo[] = {0, 17, 36}, win_hi[] = {3, 21, 40};
        int same = 1;
        for (int k = 0; k < 3; k++)
            for (size_t b = 0; b < p.B; b++) {
                /* another backward first: nothing of w's may be left in s's buffers */
                ddsp_synth_backward(s, win, NULL, w2, p.B);
                memset(win, 0, sizeof(float) * nraw);
                ddsp_synth_backward_window(s, win, w, b, win_lo[k], win_hi[k]);
                const size_t o = (b * p.F + win_lo[k]) * p.C, len = (win_hi[k] - win_lo[k]) * p.C;
                same &= !memcmp(full + o, win + o, sizeof(float) * len);
            }
        printf("backward window (%s): d_raw %s the full backward's in its frames\n",
               mi ? "linear" : "window", same ? "equals" : "DIFFERS FROM");
        CHECK(same, "windowed synth backward differs from the full one");
        ddsp_free(y), ddsp_free(w), ddsp_free(w2), ddsp_free(full), ddsp_free(win);
        ddsp_synth_free(s);
        problem_free(&p);
    }
}

/* ---------------------------------------------------------------- chunked resynthesis */
/* Constant controls and f0: two chunks of F frames with the phase carried must equal one
 * forward over 2F frames (up to the rounding of the wrapped phase). */
static void check_phase_carry(void) {
    ddsp_synth_config c;
    ddsp_synth_config_default(&c);
    const size_t F = 40, C = ddsp_synth_n_controls(&c), N = F * (size_t)c.hop;
    ddsp_synth *s1 = ddsp_synth_init(&c, 1, 2 * F), *s2 = ddsp_synth_init(&c, 1, F);
    float *raw = ddsp_alloc(sizeof(float) * 2 * F * C), *f0 = ddsp_alloc(sizeof(float) * 2 * F);
    float *nz = ddsp_alloc(sizeof(float) * 2 * N), *y1 = ddsp_alloc(sizeof(float) * 2 * N);
    float *y2 = ddsp_alloc(sizeof(float) * 2 * N), *h2 = ddsp_alloc(sizeof(float) * 2 * N);
    float row[256];
    fill_uniform(row, C, -1.0, 1.0);
    for (size_t f = 0; f < 2 * F; f++)
        memcpy(raw + f * C, row, sizeof(float) * C), f0[f] = 233.0f;
    ddsp_synth_forward(s1, y1, raw, f0, nz, NULL, NULL, 1);
    memcpy(y1, ddsp_synth_harmonic(s1), sizeof(float) * 2 * N);
    double ph = 0.0;
    ddsp_synth_forward(s2, y2, raw, f0, nz, NULL, &ph, 1);
    memcpy(h2, ddsp_synth_harmonic(s2), sizeof(float) * N);
    const double expect =
        fmod(2 * 3.14159265358979323846 * 233.0 / 16000.0 * (double)N, 2 * 3.14159265358979323846);
    CHECK(fabs(ph - expect) < 1e-9, "final phase %.12f, expected %.12f", ph, expect);
    ddsp_synth_forward(s2, y2, raw + F * C, f0 + F, nz, NULL, &ph, 1);
    memcpy(h2 + N, ddsp_synth_harmonic(s2), sizeof(float) * N);
    const double rel = rel_ff(h2, y1, 2 * N);
    printf("chunked harmonic synthesis with carried phase vs one pass: rel L2 %.3g\n", rel);
    CHECK(rel <= 1e-6, "chunked synthesis differs: %.3g", rel);
    ddsp_free(raw), ddsp_free(f0), ddsp_free(nz), ddsp_free(y1), ddsp_free(y2), ddsp_free(h2);
    ddsp_synth_free(s1);
    ddsp_synth_free(s2);
}

/* The branch-free exp / log1p / sincos / Nyquist count used in the hot loops vs libm and a
 * plain loop. */
static void check_math(void) {
    double e_exp = 0, e_log = 0, e_sc = 0;
    for (int i = 0; i <= 100000; i++) {
        const double x = -700.0 * i / 100000.0, u = i / 100000.0;
        e_exp = fmax(e_exp, fabs(synth_exp_neg(x) - exp(x)) / exp(x));
        e_log = fmax(e_log, fabs(synth_log1p01(u) - log1p(u)) / fmax(log1p(u), 1e-300));
        const double ph = 6.283185307179586 * i / 100000.0;
        double sn, cs;
        synth_sincos(ph, &sn, &cs);
        e_sc = fmax(e_sc, fmax(fabs(sn - sin(ph)), fabs(cs - cos(ph))));
    }
    printf("math: exp rel %.2g  log1p rel %.2g  sincos abs %.2g\n", e_exp, e_log, e_sc);
    CHECK(e_exp <= 1e-15 && e_log <= 1e-15 && e_sc <= 1e-15, "fast math helpers inaccurate");
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        double f = i < 10000 ? 8000.0 / (1 + i % 60) : 30.0 * (i - 9999); /* exact boundaries */
        if (i % 3 == 1) f = nextafter(f, 0.0);
        if (i % 3 == 2) f = nextafter(f, 1e9);
        int n = 0;
        while (n < 60 && !(f * (double)(n + 1) >= 8000.0))
            n++;
        bad += synth_n_below(f, 8000.0, 60) != n;
    }
    bad += synth_n_below(0.0, 8000.0, 60) != 60 || synth_n_below(-5.0, 8000.0, 60) != 60;
    CHECK(bad == 0, "Nyquist count wrong for %d frequencies", bad);
}

static void check_config(void) {
    ddsp_synth_config c;
    ddsp_synth_config_default(&c);
    CHECK(ddsp_synth_config_check(&c) == DDSP_OK, "default config rejected");
    CHECK(ddsp_synth_n_controls(&c) == 126, "126 controls");
    ddsp_synth_config b = c;
    b.hop = 48;
    CHECK(ddsp_synth_config_check(&b) == DDSP_ERR && strstr(ddsp_last_error(), "hop"),
          "hop 48 accepted");
    b = c, b.n_noise_bands = 2;
    CHECK(ddsp_synth_config_check(&b) == DDSP_ERR, "2 noise bands accepted");
    b = c, b.n_harmonics = 0;
    CHECK(ddsp_synth_init(&b, 1, 10) == NULL, "0 harmonics accepted");
    CHECK(ddsp_synth_parse_amp_interp(&b, "linear") == DDSP_OK && b.amp_interp == DDSP_AMP_LINEAR,
          "parse linear");
    CHECK(ddsp_synth_parse_amp_interp(&b, "cubic") == DDSP_ERR, "parse cubic accepted");
    ddsp_synth_free(NULL);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_synth TESTS_DATA_DIR [DATA_DIR]\n");
        return 2;
    }
    ddsp_h5_quiet();
    check_config();
    check_math();
    check_reference_file(argv[1]);
    check_against_plain(DDSP_AMP_WINDOW, 1, 64, 12, 8, 9);
    check_against_plain(DDSP_AMP_LINEAR, 0, 64, 12, 8, 9);
    check_against_plain(DDSP_AMP_WINDOW, 1, 32, 45, 12, 5); /* 2 work items per example */
    check_finite_differences();
    check_threads();
    check_backward_window();
    check_phase_carry();
    return tu_finish("test_synth");
}
