/* Joint time-frequency scattering Φ term (src/loss/jtfs.c): against kymatio's own numbers
 * (tests/data/jtfs_ref.h5), against closed forms (a tone, an AM tone, up and down chirps),
 * against central finite differences (l1 and l2), across thread counts, and its settings. */
#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"
#include "loss/phi_terms.h"
#include "testutil.h"

#include <hdf5.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

static void fill_random(float *x, size_t n, double amp) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(amp * tu_uniform());
}

/* Relative L2 error of S against R over paths of one order (-1: all); worst path too. */
static double rel_err(const jtfs_t *s, const double *S, const double *R, int order,
                      double *worst) {
    int np, nt;
    jtfs_shape(s, &np, &nt);
    double num = 0.0, den = 0.0, big = 0.0;
    for (int p = 0; p < np * nt; p++) big = fmax(big, fabs(R[p]));
    *worst = 0.0;
    for (int p = 0; p < np; p++) {
        int o, spin;
        double xf;
        jtfs_band(s, jtfs_path_band(s, p), &o, &spin, &xf);
        if (order >= 0 && o != order) continue;
        double pn = 0.0, pd = 0.0, pm = 0.0;
        for (int t = 0; t < nt; t++) {
            const double e = S[p * nt + t] - R[p * nt + t];
            pn += e * e, pd += R[p * nt + t] * R[p * nt + t], pm = fmax(pm, fabs(R[p * nt + t]));
        }
        num += pn, den += pd;
        if (pm > 1e-3 * big) *worst = fmax(*worst, sqrt(pn / pd)); /* paths that carry energy */
    }
    return sqrt(num / den);
}

/* kymatio 0.4.0.dev0's TimeFrequencyScattering(J, shape=N, Q=(8, 2), J_fr=3, Q_fr=2,
 * format="time") of a test signal, run once on its numpy backend in float64 (how: the file's
 * produced_by attribute); only its numbers are in the repository. The reference mode (kymatio's
 * grids) must reproduce them to rounding (single precision for the second order); the fast
 * mode (our subsampling) to the stated tolerance. */
static void check_kymatio(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/jtfs_ref.h5", dir);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot open %s", path);
    if (f < 0) return;
    const char *groups[2] = {"j6", "j12"};
    const int Js[2] = {6, 12};
    for (int g = 0; g < 2; g++) {
        char nx[16], ns[16];
        snprintf(nx, sizeof nx, "%s/x", groups[g]);
        snprintf(ns, sizeof ns, "%s/S", groups[g]);
        float *x = NULL;
        double *R = NULL;
        uint64_t dx[8], dS[8];
        int r;
        if (ddsp_h5_read_f32(f, path, nx, &x, dx, &r) || ddsp_h5_read_f64(f, path, ns, &R, dS, &r)) {
            CHECK(0, "%s", ddsp_last_error());
            break;
        }
        const size_t N = (size_t)dx[0];
        for (int ref = 1; ref >= 0; ref--) {
            jtfs_t *s = ref ? jtfs_init_reference(N, Js[g], 8, 2, 3, 2, 1)
                            : jtfs_init(N, Js[g], 8, 2, 3, 2, 1);
            CHECK(s != NULL, "jtfs_init: %s", ddsp_last_error());
            if (!s) continue;
            int np, nt;
            jtfs_shape(s, &np, &nt);
            CHECK((uint64_t)np == dS[0] && (uint64_t)nt == dS[1],
                  "J=%d N=%zu: shape %d x %d, kymatio %d x %d", Js[g], N, np, nt, (int)dS[0],
                  (int)dS[1]);
            if ((uint64_t)np == dS[0] && (uint64_t)nt == dS[1]) {
                double *S = malloc(sizeof(double) * (size_t)np * (size_t)nt), w0, w1, w2, wa;
                jtfs_coeffs(s, x, S);
                const double e0 = rel_err(s, S, R, 0, &w0), e1 = rel_err(s, S, R, 1, &w1);
                const double e2 = rel_err(s, S, R, 2, &w2), ea = rel_err(s, S, R, -1, &wa);
                printf("kymatio J=%-2d N=%4zu %-9s: %d x %d, rel L2 %.3g (order 0 %.3g, 1 %.3g, "
                       "2 %.3g), worst path %.3g\n",
                       Js[g], N, ref ? "reference" : "fast", np, nt, ea, e0, e1, e2, wa);
                if (ref) /* orders 0, 1 in double; order 2 runs in single precision */
                    CHECK(e0 <= 1e-12 && e1 <= 1e-12 && e2 <= 1e-6 && wa <= 1e-5,
                          "reference mode vs kymatio: order 0 %.3g, 1 %.3g, 2 %.3g (worst %.3g)",
                          e0, e1, e2, wa);
                else
                    CHECK(ea <= 1e-3 && e1 <= 1e-3 && e2 <= 5e-3 && wa <= 2e-2,
                          "fast mode vs kymatio: %.3g, order 1 %.3g, order 2 %.3g, worst %.3g", ea,
                          e1, e2, wa);
                free(S);
            }
            jtfs_free(s);
        }
        ddsp_free(x), ddsp_free(R);
    }
    H5Fclose(f);
}

/* Predicted order-1 or order-2 outputs from a first-order-row profile a(n1) (n1 < n1max)
 * that is constant in time: rows V[r] = sum h_f[r 2^k - n1] a(n1), then |V| (constant, so
 * time averaging keeps it) averaged by phi_F to stride 2^Jfr (spin != 0) or kept (low-pass). */
static double predict(const jtfs_t *s, int Jfr, int f, const double *a, int n1max, int o) {
    const int Nfr = jtfs_freq_rows(s), F = 1 << Jfr;
    double xi;
    int k, spin;
    jtfs_freq_filter(s, f, &xi, &k, &spin);
    const int L = Nfr >> k;
    double out = 0.0;
    for (int r = 0; r < L; r++) {
        if (spin == 0 && r != o) continue;
        double re = 0.0, im = 0.0;
        for (int n1 = 0; n1 < n1max; n1++) {
            double hr, hi;
            jtfs_freq_kernel(s, f, (r << k) - n1, &hr, &hi);
            re += hr * a[n1], im += hi * a[n1];
        }
        const double v = hypot(re, im);
        out += spin == 0 ? v : jtfs_freq_avg_kernel(s, k, o * (F >> k) - r) * v;
    }
    return out;
}

/* Closed forms, mid-signal (J = 10, N = 16 2^J, tones on bins of P):
 *  x = cos(2 pi kc t / P): U1[n1] = psi_n1(kc) / 2 (constant), so every order-1 output is
 *    predict() of a(n1) = psi_n1(kc) / 2, the low-pass row of the tone's octave is the
 *    largest, and order 2 is ~0;
 *  x = (1 + m cos(2 pi ka t / P)) cos(2 pi kc t / P), ka << sigma1: U1[n1] = a0 / 2 + m abar
 *    cos(2 pi ka t / P) / 2 + O(m^3) at ka (abar = (psi(kc + ka) + psi(kc - ka)) / 2), so
 *    U1 * psi2 = m abar psi2(ka) e^{i 2 pi ka t / P} / 4 and each order-2 output (n2, f, o) is
 *    predict() of m abar psi2(ka) / 4; the largest low-pass output over n2 is at ka's n2;
 *  an upward and a downward chirp: the up-spin / down-spin order-2 energy ratio flips. */
static void check_closed_forms(void) {
    const int J = 10, Jfr = 3;
    const size_t N = (size_t)16 << J;
    jtfs_t *s = jtfs_init(N, J, 8, 2, Jfr, 2, 1);
    CHECK(s != NULL, "jtfs_init: %s", ddsp_last_error());
    if (!s) return;
    int np, nt;
    jtfs_shape(s, &np, &nt);
    const int P = jtfs_padded_length(s), n1 = jtfs_nfilters(s, 1), n2 = jtfs_nfilters(s, 2);
    const int tm = nt / 2, nf = jtfs_nfreq(s), npos = (nf - 1) / 2;
    float *x = ddsp_alloc(sizeof(float) * N);
    double *S = malloc(sizeof(double) * (size_t)np * (size_t)nt), *a = malloc(sizeof(double) * (size_t)n1);
    /* the tone: row 2 of the first order (filters 16..23: xi ~ 0.109 .. 0.06) */
    double xi1, sg1;
    int j1;
    const int l1 = 2 * 8 + 3;
    jtfs_filter(s, 1, l1, &xi1, &sg1, &j1);
    const int kc = (int)lround(xi1 * P);
    for (size_t i = 0; i < N; i++) x[i] = (float)cos(2 * PI * kc * (double)i / P);
    jtfs_coeffs(s, x, S);
    for (int l = 0; l < n1; l++) a[l] = jtfs_filter_value(s, 1, l, kc) / 2;
    double worst = 0.0, big1 = 0.0, big2 = 0.0;
    int used = 0, best_row = -1;
    double best = 0.0;
    for (int f = 0; f <= npos; f++)
        for (int o = 0; o < (n1 + 7) / 8; o++) {
            const double want = predict(s, Jfr, f, a, n1, o), got = S[jtfs_path(s, 1, 0, f, o) * nt + tm];
            big1 = fmax(big1, got);
            if (f == 0 && got > best) best = got, best_row = o;
            if (want < 1e-3) continue;
            worst = fmax(worst, fabs(got - want) / want);
            used++;
        }
    for (int p = 0; p < np; p++) {
        int o, spin;
        double xf;
        jtfs_band(s, jtfs_path_band(s, p), &o, &spin, &xf);
        if (o == 2) big2 = fmax(big2, fabs(S[p * nt + tm]));
    }
    printf("jtfs tone at bin %d (filter %d): %d order-1 outputs vs closed form, worst rel %.3g; "
           "largest low-pass row %d (want %d); max order 2 / max order 1 = %.3g\n",
           kc, l1, used, worst, best_row, l1 / 8, big2 / big1);
    CHECK(used >= 10 && worst < 1e-4, "order 1 of a tone off its closed form by %.3g", worst);
    CHECK(best_row == l1 / 8, "the tone's largest low-pass row is %d, not %d", best_row, l1 / 8);
    CHECK(big2 < 1e-3 * big1, "order 2 of a tone is %.3g of order 1", big2 / big1);

    /* the AM tone: modulation at ~0.15 sigma1, on the n2 whose centre is nearest */
    const double m = 0.1, fa = 0.15 * sg1;
    int l2 = -1;
    for (int l = 0; l < n2; l++) {
        double xi2, sg2;
        int j2;
        jtfs_filter(s, 2, l, &xi2, &sg2, &j2);
        if (jtfs_path(s, 2, l, 0, 0) < 0) continue;
        double xb, sb;
        int jb;
        if (l2 >= 0) jtfs_filter(s, 2, l2, &xb, &sb, &jb);
        if (l2 < 0 || fabs(log(xi2 / fa)) < fabs(log(xb / fa))) l2 = l;
    }
    double xi2, sg2;
    int j2;
    jtfs_filter(s, 2, l2, &xi2, &sg2, &j2);
    const int ka = (int)lround(xi2 * P);
    for (size_t i = 0; i < N; i++)
        x[i] = (float)((1 + m * cos(2 * PI * ka * (double)i / P)) * cos(2 * PI * kc * (double)i / P));
    jtfs_coeffs(s, x, S);
    int n1max = 0; /* the first-order rows of n2's block: j1 < j2 */
    for (int l = 0; l < n1; l++) {
        double xa, sa;
        int ja;
        jtfs_filter(s, 1, l, &xa, &sa, &ja);
        if (ja < j2) n1max = l + 1;
    }
    const double g2 = jtfs_filter_value(s, 2, l2, ka);
    for (int l = 0; l < n1max; l++)
        a[l] = m * (jtfs_filter_value(s, 1, l, kc + ka) + jtfs_filter_value(s, 1, l, kc - ka)) / 2 *
               g2 / 4;
    worst = 0.0, used = 0;
    double bigv = 0.0;
    for (int f = 0; f < nf; f++)
        for (int o = 0; o < (n1max + 7) / 8; o++) bigv = fmax(bigv, predict(s, Jfr, f, a, n1max, o));
    for (int f = 0; f < nf; f++)
        for (int o = 0; o < (n1max + 7) / 8; o++) {
            const double want = predict(s, Jfr, f, a, n1max, o);
            const double got = S[jtfs_path(s, 2, l2, f, o) * nt + tm];
            if (want < 1e-2 * bigv) continue;
            worst = fmax(worst, fabs(got - want) / want);
            used++;
        }
    int best_n2 = -1;
    best = 0.0;
    for (int l = 0; l < n2; l++) {
        const int p = jtfs_path(s, 2, l, 0, l1 / 8);
        if (p >= 0 && S[p * nt + tm] > best) best = S[p * nt + tm], best_n2 = l;
    }
    printf("jtfs AM tone (kc %d, ka %d = psi2 %d, m %.2g): %d order-2 outputs vs closed form, "
           "worst rel %.3g; largest low-pass output at n2 = %d\n",
           kc, ka, l2, m, used, worst, best_n2);
    CHECK(used >= 10 && worst < 2e-3, "order 2 of an AM tone off its closed form by %.3g", worst);
    CHECK(best_n2 == l2, "AM energy peaks at n2 = %d, not %d", best_n2, l2);

    /* chirps from 0.02 to 0.2 cycles/sample and back */
    double ratio[2];
    for (int dir = 0; dir < 2; dir++) {
        const double f0 = 0.02, f1 = 0.2;
        for (size_t i = 0; i < N; i++) {
            const double t = (double)(dir ? N - 1 - i : i);
            x[i] = (float)cos(2 * PI * (f0 * t + (f1 - f0) * t * t / (2.0 * (double)N)));
        }
        jtfs_coeffs(s, x, S);
        double e[3] = {0, 0, 0};
        for (int p = 0; p < np; p++) {
            int o, spin;
            double xf;
            jtfs_band(s, jtfs_path_band(s, p), &o, &spin, &xf);
            if (o != 2) continue;
            for (int t = 0; t < nt; t++) e[spin + 1] += S[p * nt + t] * S[p * nt + t];
        }
        ratio[dir] = e[2] / e[0];
    }
    printf("jtfs chirps: up-spin / down-spin order-2 energy %.3g (upward chirp), %.3g "
           "(downward chirp)\n",
           ratio[0], ratio[1]);
    CHECK(ratio[0] > 2.0 && ratio[1] < 0.5, "chirps do not separate by spin: %.3g, %.3g",
          ratio[0], ratio[1]);
    free(S), free(a), ddsp_free(x);
    jtfs_free(s);
}

/* Sign pattern of D = S(est) - S(target) over the (B, npath, ntime) coefficients. */
static void dsign(jtfs_t *s1, const float *t, const float *e, size_t B, size_t N, size_t nc,
                  double *S, double *St, signed char *sg) {
    for (size_t b = 0; b < B; b++) {
        jtfs_coeffs(s1, t + b * N, St);
        jtfs_coeffs(s1, e + b * N, S);
        for (size_t i = 0; i < nc; i++) sg[b * nc + i] = (S[i] > St[i]) - (S[i] < St[i]);
    }
}

/* Central finite differences of jtfs_eval (B = 2, so the batch normalisation is covered)
 * along 4 random directions and 3 bumps (cos^2 over 33 samples: at the first sample of item 0
 * and the last of item 1, where the reflect padding's adjoint acts, and mid-signal). The
 * change L(e + h v) - L(e - h v) is compared with the change the gradient predicts for the
 * perturbation actually applied, g . de with de = fl(e + h v) - fl(e - h v) (fl: rounding
 * to float, so the rounding of the perturbed inputs is no error), relative to sum |g_i de_i|
 * (the size of the terms that make up g . de; dividing by |g . de| itself blows up wherever
 * a direction happens to be nearly orthogonal to g).
 * Step: l2 is smooth, h = 3e-4 (truncation ~h^2; the forward's rounding, its second order
 * in single precision, is ~1e-9 of L, below that at this step). l1 has a kink wherever a
 * coefficient of est meets target's: a segment [e - h v, e + h v] across one makes the
 * quotient wrong by that coefficient's share however exact the gradient (the convergence
 * problem: linear in h, 1e-1 at h = 1e-2, 1e-3 at 1e-4), so h starts at 3e-4 and is divided
 * by 3 until no coefficient of either item changes sign between the ends and the centre.
 * Tolerance 1e-4: measured worst 2.3e-5 (l1) and 1.8e-6 (l2); a 1% error in the gradient of
 * 8 samples out of 1400 measures 5e-3 .. 9e-3. The Φ wrapper must give the same loss and
 * gradient bits as jtfs_eval. */
static void check_fd(int J, int Q1, int Q2, int Jfr, int Qfr, int dist, size_t N) {
    const size_t B = 2;
    jtfs_t *s = jtfs_init(N, J, Q1, Q2, Jfr, Qfr, B), *s1 = jtfs_init(N, J, Q1, Q2, Jfr, Qfr, 1);
    CHECK(s && s1, "jtfs_init: %s", ddsp_last_error());
    if (!s || !s1) return;
    int np, nt;
    jtfs_shape(s, &np, &nt);
    const size_t nc = (size_t)np * (size_t)nt;
    float *t = ddsp_alloc(sizeof(float) * B * N), *e = ddsp_alloc(sizeof(float) * B * N);
    float *g = ddsp_alloc(sizeof(float) * B * N), *ep = ddsp_alloc(sizeof(float) * B * N);
    float *em = ddsp_alloc(sizeof(float) * B * N), *gp = ddsp_alloc(sizeof(float) * B * N);
    double *v = ddsp_alloc(sizeof(double) * B * N), *S = ddsp_alloc(sizeof(double) * nc);
    double *St = ddsp_alloc(sizeof(double) * nc);
    signed char *s0 = malloc(B * nc), *sp = malloc(B * nc), *sm = malloc(B * nc);
    fill_random(t, B * N, 0.3);
    fill_random(e, B * N, 0.3);
    const double L = jtfs_eval(s, dist, 1.0, t, e, B, g, NULL);
    if (dist == 1) dsign(s1, t, e, B, N, nc, S, St, s0);
    double worst = 0.0, hmin = 1.0;
    /* random directions, then bumps (cos^2 over 33 samples) at the first sample of item 0, the
     * last of item 1 (where the reflect padding's adjoint matters) and mid-signal */
    const size_t centre[3] = {0, B * N - 1, N / 2};
    for (int trial = 0; trial < 7; trial++) {
        for (size_t i = 0; i < B * N; i++) {
            if (trial < 4) {
                v[i] = tu_uniform();
                continue;
            }
            const double d = (double)i - (double)centre[trial - 4];
            v[i] = fabs(d) < 16.5 && i / N == centre[trial - 4] / N ? pow(cos(PI * d / 33), 2) : 0.0;
        }
        double h = 3e-4, err = INFINITY;
        for (int tries = 0; tries < 8; tries++, h /= 3) {
            for (size_t i = 0; i < B * N; i++) {
                ep[i] = (float)(e[i] + h * v[i]);
                em[i] = (float)(e[i] - h * v[i]);
            }
            if (dist == 1) {
                dsign(s1, t, ep, B, N, nc, S, St, sp);
                dsign(s1, t, em, B, N, nc, S, St, sm);
                if (memcmp(sp, s0, B * nc) || memcmp(sm, s0, B * nc)) continue;
            }
            double pred = 0.0, scale = 0.0;
            for (size_t i = 0; i < B * N; i++) {
                pred += (double)g[i] * ((double)ep[i] - em[i]);
                scale += fabs((double)g[i] * ((double)ep[i] - em[i]));
            }
            const double d = jtfs_eval(s, dist, 1.0, t, ep, B, NULL, NULL) -
                             jtfs_eval(s, dist, 1.0, t, em, B, NULL, NULL);
            err = fabs(d - pred) / scale;
            break;
        }
        hmin = fmin(hmin, h);
        worst = fmax(worst, err);
    }
    /* through ddsp_phi: the same gradient */
    char terms[160];
    snprintf(terms, sizeof terms, "jtfs,jtfs_j=%d,jtfs_q1=%d,jtfs_q2=%d,jtfs_jfr=%d,jtfs_qfr=%d,dist=l%d",
             J, Q1, Q2, Jfr, Qfr, dist);
    ddsp_phi_config pc;
    ddsp_phi_config_default(&pc);
    CHECK(ddsp_phi_parse_terms(&pc, terms) == DDSP_OK, "%s", ddsp_last_error());
    ddsp_phi *p = ddsp_phi_init(&pc, B, N);
    CHECK(p != NULL, "%s: %s", terms, ddsp_last_error());
    if (p) {
        ddsp_phi_value val;
        memset(gp, 0, sizeof(float) * B * N); /* the gradient is added to it */
        ddsp_phi_eval(p, &val, gp, t, e, B);
        CHECK(val.total == L && !memcmp(g, gp, sizeof(float) * B * N),
              "%s: ddsp_phi gives %.17g, jtfs_eval %.17g (or another gradient)", terms, val.total, L);
        ddsp_phi_free(p);
    }
    printf("fd  jtfs J=%d Q=(%d,%d) J_fr=%d Q_fr=%d l%d N=%4zu  loss %.6g  worst |dL - g.de| / "
           "sum|g de| = %.3g (smallest step %.2g)\n",
           J, Q1, Q2, Jfr, Qfr, dist, N, L, worst, hmin);
    CHECK(worst <= 1e-4, "jtfs l%d J=%d N=%zu: finite differences disagree (%.3g)", dist, J, N,
          worst);
    jtfs_free(s), jtfs_free(s1);
    ddsp_free(t), ddsp_free(e), ddsp_free(g), ddsp_free(ep), ddsp_free(em), ddsp_free(gp);
    ddsp_free(v), ddsp_free(S), ddsp_free(St);
    free(s0), free(sp), free(sm);
}

/* 1, 2 and 3 threads give the same bits; a signal against itself gives exactly 0 (loss and
 * gradient); band distances add up to the loss; settings parse, print and fail as they should. */
static void check_threads_and_settings(void) {
    const size_t B = 3, N = 1500;
    ddsp_phi_config pc;
    ddsp_phi_config_default(&pc);
    const char *terms = "mag,jtfs=2,jtfs_j=7,jtfs_q1=6,jtfs_q2=1,jtfs_jfr=2,jtfs_qfr=1,dist=l2";
    CHECK(ddsp_phi_parse_terms(&pc, terms) == DDSP_OK, "%s", ddsp_last_error());
    char desc[256];
    ddsp_phi_describe(&pc, desc, sizeof desc);
    CHECK(!strcmp(desc, "mag=1,jtfs=2,jtfs_j=7,jtfs_q1=6,jtfs_q2=1,jtfs_jfr=2,jtfs_qfr=1,dist=l2"),
          "describe: %s", desc);
    ddsp_phi_config pd;
    ddsp_phi_config_default(&pd);
    ddsp_phi_parse_terms(&pd, "jtfs");
    ddsp_phi_describe(&pd, desc, sizeof desc);
    CHECK(!strcmp(desc, "jtfs=1,jtfs_j=12,jtfs_q1=8,jtfs_q2=2,jtfs_jfr=3,jtfs_qfr=2,dist=l1"),
          "describe of the defaults: %s", desc);
    float *t = ddsp_alloc(sizeof(float) * B * N), *e = ddsp_alloc(sizeof(float) * B * N);
    float *g1 = ddsp_alloc(sizeof(float) * B * N), *g2 = ddsp_alloc(sizeof(float) * B * N);
    fill_random(t, B * N, 0.3);
    fill_random(e, B * N, 0.3);
    omp_set_num_threads(2);
    ddsp_phi *p = ddsp_phi_init(&pc, B, N);
    CHECK(p != NULL, "%s: %s", terms, ddsp_last_error());
    if (p) {
        ddsp_phi_value v1, v2;
        omp_set_num_threads(1);
        memset(g1, 0, sizeof(float) * B * N); /* the gradient is added to it */
        ddsp_phi_eval(p, &v1, g1, t, e, B);
        for (int nth = 2; nth <= 3; nth++) {
            omp_set_num_threads(nth);
            memset(g2, 0, sizeof(float) * B * N); /* the gradient is added to it */
            ddsp_phi_eval(p, &v2, g2, t, e, B);
            CHECK(v1.per_term[DDSP_PHI_JTFS] > 0.0 && v1.total == v2.total &&
                      !memcmp(g1, g2, sizeof(float) * B * N),
                  "1 thread (%.17g) and %d threads (%.17g) differ", v1.total, nth, v2.total);
            printf("jtfs threads: loss %.17g with 1 and %.17g with %d threads, gradients %s\n",
                   v1.total, v2.total, nth,
                   memcmp(g1, g2, sizeof(float) * B * N) ? "differ" : "identical");
        }
        omp_set_num_threads(2);
        memset(g1, 0, sizeof(float) * B * N); /* the gradient is added to it */
        ddsp_phi_eval(p, &v1, g1, t, t, B);
        double gmax = 0.0;
        for (size_t i = 0; i < B * N; i++) gmax = fmax(gmax, fabs(g1[i]));
        CHECK(v1.total == 0.0 && gmax == 0.0, "a signal against itself: %.3g, |g| %.3g", v1.total,
              gmax);
        ddsp_phi_free(p);
    }
    /* band distances: their count-weighted mean is the loss */
    jtfs_t *s = jtfs_init(N, 7, 6, 1, 2, 1, B);
    if (s) {
        const int nb = jtfs_nbands(s);
        double *bd = malloc(sizeof(double) * (size_t)nb);
        int *cnt = calloc((size_t)nb, sizeof(int)), np, nt;
        jtfs_shape(s, &np, &nt);
        for (int q = 0; q < np; q++) cnt[jtfs_path_band(s, q)]++;
        const double loss = jtfs_eval(s, 2, 1.0, t, e, B, NULL, NULL);
        jtfs_band_distances(s, 2, t, e, B, bd);
        double sum = 0.0;
        for (int b = 0; b < nb; b++) sum += bd[b] * cnt[b] / np;
        int o, spin;
        double xf;
        jtfs_band(s, nb - 1, &o, &spin, &xf);
        printf("jtfs bands: %d (last: order %d spin %d xi_fr %.3g); count-weighted mean %.17g, "
               "loss %.17g\n", nb, o, spin, xf, sum, loss);
        CHECK(fabs(sum - loss) <= 1e-12 * loss && o == 2 && spin == -1,
              "band distances %.17g vs loss %.17g", sum, loss);
        free(bd), free(cnt);
        jtfs_free(s);
    }
    /* user errors */
    CHECK(jtfs_init(4000, 12, 8, 2, 3, 2, 1) == NULL, "jtfs_j=12 accepted for 4000 samples");
    printf("  (expected error: %s)\n", ddsp_last_error());
    CHECK(strstr(ddsp_last_error(), "jtfs_j <= 11") != NULL, "message: %s", ddsp_last_error());
    jtfs_t *shortest = jtfs_init(4096, 12, 8, 2, 3, 2, 1);
    CHECK(shortest != NULL, "4096 samples refused for jtfs_j=12: %s", ddsp_last_error());
    jtfs_free(shortest);
    const char *bad[] = {"jtfs,jtfs_j=x", "jtfs,jtfs_q9=2", "jtfs,jtfs_j=40", "jtfs,jtfs_q1=",
                         "jtfs,jtfs_jfr=-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ddsp_phi_config c2;
        ddsp_phi_config_default(&c2);
        CHECK(ddsp_phi_parse_terms(&c2, bad[i]) == DDSP_ERR, "term list '%s' accepted", bad[i]);
    }
    ddsp_phi_config c3;
    ddsp_phi_config_default(&c3);
    ddsp_phi_parse_terms(&c3, "jtfs,jtfs_jfr=9");
    CHECK(ddsp_phi_config_check(&c3) == DDSP_ERR, "jtfs_jfr=9 passes the check");
    ddsp_free(t), ddsp_free(e), ddsp_free(g1), ddsp_free(g2);
}

int main(int argc, char **argv) {
    const char *data_dir = argc > 1 ? argv[1] : "tests/data";
    ddsp_h5_quiet();
    check_kymatio(data_dir);
    check_closed_forms();
    check_fd(6, 8, 2, 3, 2, 1, 700);
    check_fd(6, 8, 2, 3, 2, 2, 700);
    check_fd(5, 4, 1, 2, 1, 1, 333);
    check_fd(5, 4, 1, 2, 1, 2, 333);
    check_threads_and_settings();
    ddsp_fft_cleanup();
    return tu_finish("test_loss_jtfs");
}
