/* Joint time-frequency scattering: the filter banks, padding, path layout and buffers, built
 * once by jtfs_init. Every definition here mirrors a kymatio function (scattering1d/
 * filter_bank.py, frontend/base_frontend.py, utils.py; named at each function); the
 * transform itself is in jtfs.c, whose header comment lists what is matched and where we
 * deviate. */
#include "loss/jtfs_impl.h"

#include "ddsp/dsp.h"
#include "ddsp/util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define SIGMA0 0.1 /* kymatio: sigma0, alpha, r_psi of ScatteringBase1D.build() */
#define ALPHA 5.0
#define R_PSI 0.70710678118654752440
#define PI 3.14159265358979323846

/* FFTW (estimate plans) is fastest at 2^a 3^b 5^c with few 3s and 5s: 1.6-1.8 ns per point
 * for 2^10 3^3, 2^10 5^2, 2^8 3 5^2 against 2.8 ns for 2^2 3^8 (r2c, measured) */
int jtfs_nice_size(size_t m) {
    for (size_t n = m + (m & 1);; n += 2) {
        size_t r = n;
        int b = 0, c = 0;
        while (r % 2 == 0) r /= 2;
        while (r % 3 == 0) r /= 3, b++;
        while (r % 5 == 0) r /= 5, c++;
        if (r == 1 && b <= 3 && c <= 2) return (int)n;
    }
}

static int floor_log2(size_t n) {
    int k = 0;
    while (((size_t)2 << k) <= n) k++;
    return k;
}
static int ceil_log2(size_t n) {
    int k = 0;
    while (((size_t)1 << k) < n) k++;
    return k;
}
static int circ_dist(int d, int n) {
    d %= n;
    if (d < 0) d += n;
    return d <= n - d ? d : n - d;
}

/* ------------------------------------------------------------------ kymatio's filter bank */
/* compute_xi_max, compute_sigma_psi */
static double xi_max(int Q) {
    const double x = 1.0 / (1.0 + pow(2.0, 3.0 / Q));
    return x > 0.35 ? x : 0.35;
}
static double sigma_psi(double xi, int Q) {
    const double factor = 1.0 / pow(2.0, 1.0 / Q);
    const double term1 = (1 - factor) / (1 + factor), term2 = 1.0 / sqrt(2 * log(1.0 / R_PSI));
    return xi * term1 * term2;
}

/* anden_generator(J, Q, sigma0, r_psi): geometric progression of (xi, sigma) down to the
 * elbow, then Q - 1 filters of constant width sigma0 / 2^J. Writes up to cap pairs (out may be
 * NULL to count) and returns how many there are. */
static int anden(int J, int Q, double *xi_out, double *sg_out, int cap) {
    double xi = xi_max(Q), sigma = sigma_psi(xi, Q);
    const double smin = SIGMA0 / pow(2.0, J), step = pow(2.0, 1.0 / Q);
    int n = 0;
#define EMIT(a, b)                                                                             \
    do {                                                                                       \
        if (xi_out && n < cap) xi_out[n] = (a), sg_out[n] = (b);                               \
        n++;                                                                                   \
    } while (0)
    if (sigma <= smin) {
        xi = sigma;
    } else {
        EMIT(xi, sigma);
        while (sigma > smin * step) {
            xi /= step;
            sigma /= step;
            EMIT(xi, sigma);
        }
    }
    const double elbow = xi;
    for (int q = 0; q < Q - 1; q++) {
        xi -= 1.0 / Q * elbow;
        EMIT(xi, smin);
    }
#undef EMIT
    return n;
}

/* get_max_dyadic_subsampling */
static int max_dyadic(double xi, double sigma) {
    double up = fabs(xi) + ALPHA * sigma;
    if (up > 0.5) up = 0.5;
    return (int)floor(-log2(up)) - 1;
}

/* morlet_1d(N, xi, sigma) before its normalisation (gauss_1d when xi == 0): the Gabor and
 * Gaussian periodised over 2P-1 periods (P = adaptive_choice_P, at most 5) and averaged,
 * minus kappa times the Gaussian so that f[0] = 0. Terms whose exponent underflows (below
 * e^-745) are skipped: numpy gets 0 for them too. */
static void morlet_raw(double *f, int N, double xi, double sigma, double *low) {
    int Pp = (int)ceil(sqrt(-2.0 * sigma * sigma * log(1e-7)) + 1.0);
    if (Pp > 5) Pp = 5;
    const double s2 = 2.0 * sigma * sigma, cut = 745.0 * s2;
    for (int k = 0; k < N; k++) {
        double g = 0.0, l = 0.0;
        for (int p = 1 - Pp; p < Pp; p++) {
            const double fr = (double)(k + p * N) / N;
            const double dg = (fr - xi) * (fr - xi);
            if (dg < cut) g += exp(-dg / s2);
            double fl = fr;
            if (Pp == 1) fl = (double)(k < (N + 1) / 2 ? k : k - N) / N; /* np.fft.fftfreq */
            if (fl * fl < cut) l += exp(-fl * fl / s2);
        }
        f[k] = g / (2 * Pp - 1);
        low[k] = l / (2 * Pp - 1);
    }
    if (xi != 0.0) {
        const double kappa = f[0] / low[0];
        for (int k = 0; k < N; k++) f[k] -= kappa * low[k];
    } else {
        memcpy(f, low, sizeof(double) * (size_t)N);
    }
}

/* sum_t |ifft(f)[t]| of a real spectrum f (N even, FFTW r2c of size N given):
 * |ifft(f)[t]| = |rfft(f)[t]| / N and rfft(f)[N - t] = conj(rfft(f)[t]). */
static double l1_norm_time(const double *f, int N, fftw_plan r2c, double *in, fftw_complex *out) {
    memcpy(in, f, sizeof(double) * (size_t)N);
    fftw_execute_dft_r2c(r2c, in, out);
    double s = hypot(out[0][0], out[0][1]) + hypot(out[N / 2][0], out[N / 2][1]);
    for (int t = 1; t < N / 2; t++) s += 2.0 * hypot(out[t][0], out[t][1]);
    return s / N;
}

/* Smallest circular window holding every bin with |f| >= tau max|f|: the complement of the
 * longest circular run of bins below it. lo in (-N/2, N/2]. */
static void support(const double *f, int N, double tau, int *lo, int *nb) {
    double m = 0.0;
    for (int k = 0; k < N; k++) m = fmax(m, fabs(f[k]));
    const double th = tau * m;
    int best = 0, best_end = 0, run = 0;
    for (int i = 0; i < 2 * N; i++) { /* twice round the circle catches the wrapping run */
        if (fabs(f[i % N]) < th) {
            if (++run > best && run <= N) best = run, best_end = i;
        } else {
            run = 0;
        }
    }
    if (best == 0) {
        *lo = -(N / 2) + 1, *nb = N;
        return;
    }
    int l = (best_end + 1) % N; /* first bin after the longest gap */
    if (l > N / 2) l -= N;
    *lo = l, *nb = N - best;
}

/* A time filter on the bins of P: kymatio's normalised morlet_1d (gauss_1d for xi = 0), kept
 * on its support. raw, low: (P) scratch; r2c (P) with in, out scratch for the norm. */
static int tfilt_make(jtfs_tfilt *t, double xi, double sigma, int P, double tau, double *raw,
                      double *low, fftw_plan r2c, double *in, fftw_complex *out) {
    t->xi = xi, t->sigma = sigma;
    t->j = max_dyadic(xi, sigma);
    morlet_raw(raw, P, xi, sigma, low);
    const double nrm = l1_norm_time(raw, P, r2c, in, out);
    support(raw, P, tau, &t->lo, &t->nb);
    if (xi == 0.0) { /* the low-pass: bins -jphi .. jphi */
        const int hi = t->lo + t->nb - 1, h = hi > -t->lo ? hi : -t->lo;
        t->lo = -h, t->nb = 2 * h + 1;
    }
    t->v = ddsp_alloc(sizeof(double) * (size_t)t->nb);
    if (!t->v) return DDSP_ERR;
    for (int i = 0; i < t->nb; i++) t->v[i] = raw[((t->lo + i) % P + P) % P] / nrm;
    return DDSP_OK;
}

/* inverse DFT of a length-n spectrum f (direct: n <= a few hundred) */
static void idft(fftw_complex *h, const double *f, int n) {
    for (int t = 0; t < n; t++) {
        double re = 0.0, im = 0.0;
        for (int k = 0; k < n; k++) {
            const double a = 2.0 * PI * (double)(((long)k * t) % n) / n;
            re += f[k] * cos(a);
            im += f[k] * sin(a);
        }
        h[t][0] = re / n, h[t][1] = im / n;
    }
}

/* half-width of the circular support of |h| >= tau max |h| */
static int row_support(const fftw_complex *h, int n, double tau) {
    double m = 0.0;
    for (int t = 0; t < n; t++) m = fmax(m, hypot(h[t][0], h[t][1]));
    int w = 0;
    for (int t = 0; t < n; t++)
        if (hypot(h[t][0], h[t][1]) >= tau * m && circ_dist(t, n) > w) w = circ_dist(t, n);
    return w;
}

/* A frequential filter (kymatio: filters_fr[1], made by scattering_filter_factory over the
 * Nfr rows with spin(anden_generator)); xi = 0 is the low-pass phi of width 2^Jfr. */
static int ffilt_make(jtfs_ffilt *f, double xi, double sigma, int j, int Nfr, int log2F,
                      double tau, double *raw, double *low) {
    f->xi = xi, f->sigma = sigma, f->j = j;
    f->k = j < log2F ? j : log2F;
    f->spin = (xi > 0) - (xi < 0);
    f->L = Nfr >> f->k;
    f->h = ddsp_alloc(sizeof(fftw_complex) * (size_t)Nfr);
    if (!f->h) return DDSP_ERR;
    morlet_raw(raw, Nfr, xi, sigma, low);
    idft(f->h, raw, Nfr);
    double nrm = 0.0;
    for (int t = 0; t < Nfr; t++) nrm += hypot(f->h[t][0], f->h[t][1]);
    for (int t = 0; t < Nfr; t++) f->h[t][0] /= nrm, f->h[t][1] /= nrm;
    f->w = row_support(f->h, Nfr, tau);
    return DDSP_OK;
}

/* ------------------------------------------------------------------ layout */
/* Live rows of frequential filter f for input rows 0 .. n1max-1 and R kept outputs: rows where
 * the largest tap onto an input row times the largest averaging weight onto a kept output
 * (each relative to its kernel's largest) reaches tau. Tap runs: the n1 with |h| >= tau max. */
static int rows_make(jtfs_t *s, jtfs_rows *rw, const jtfs_ffilt *f, int n1max, int R) {
    const jtfs_favg *fa = &s->favg[f->k];
    double hmax = 0.0, amax = 0.0;
    for (int d = 0; d < s->Nfr; d++) hmax = fmax(hmax, hypot(f->h[d][0], f->h[d][1]));
    for (int d = 0; d < fa->L; d++) amax = fmax(amax, fabs(fa->h[d]));
    rw->r = malloc(sizeof(int) * (size_t)f->L);
    rw->t0 = malloc(sizeof(int) * 2 * (size_t)f->L);
    rw->t1 = malloc(sizeof(int) * 2 * (size_t)f->L);
    if (!rw->r || !rw->t0 || !rw->t1) return DDSP_ERR;
    rw->n = 0;
    for (int r = 0; r < f->L; r++) {
        double wa = 0.0, wt = 0.0;
        if (f->spin == 0) {
            wa = r < R;
        } else {
            for (int o = 0; o < R; o++)
                wa = fmax(wa, fabs(fa->h[((o * fa->q - r) % fa->L + fa->L) % fa->L]) / amax);
        }
        for (int n1 = 0; n1 < n1max; n1++) {
            const int d = (((r << f->k) - n1) % s->Nfr + s->Nfr) % s->Nfr;
            wt = fmax(wt, hypot(f->h[d][0], f->h[d][1]) / hmax);
        }
        if (wa * wt < s->tau) continue;
        int nrun = 0, t0[2] = {0, 0}, t1[2] = {0, 0}, in = 0;
        for (int n1 = 0; n1 <= n1max; n1++) {
            const int on = n1 < n1max && circ_dist((r << f->k) - n1, s->Nfr) <= f->w;
            if (on && !in) {
                DDSP_ASSERT(nrun < 2, "jtfs: more than two tap runs in a row");
                t0[nrun] = n1;
            }
            if (!on && in) t1[nrun++] = n1;
            in = on;
        }
        if (!nrun) continue;
        rw->r[rw->n] = r;
        for (int i = 0; i < 2; i++) rw->t0[2 * rw->n + i] = t0[i], rw->t1[2 * rw->n + i] = t1[i];
        rw->n++;
    }
    return DDSP_OK;
}

static int block_make(jtfs_t *s, jtfs_block *b, int order, int n2, int n1max, int *path) {
    b->order = order, b->n2 = n2, b->n1max = n1max;
    b->R = (n1max + (1 << s->log2F) - 1) >> s->log2F;
    b->nf = order == 1 ? 1 + s->npos : s->nfr;
    b->path0 = *path;
    *path += b->nf * b->R;
    b->rows = calloc((size_t)b->nf, sizeof *b->rows);
    if (!b->rows) return DDSP_ERR;
    for (int f = 0; f < b->nf; f++)
        if (rows_make(s, &b->rows[f], &s->fr[f], n1max, b->R)) return DDSP_ERR;
    return DDSP_OK;
}

/* kymatio's build(): pad so that the time support of phi_T (criterion 1e-3, tripled) fits
 * on each side, to a power of two, at most 2^floor(log2(3N - 2)) (reflect padding needs
 * pad < N). compute_temporal_support of gauss_1d(N, sigma0 / T). */
static int padding(jtfs_t *s) {
    const int N = (int)s->N;
    double *raw = ddsp_alloc(sizeof(double) * (size_t)N), *low = ddsp_alloc(sizeof(double) * (size_t)N);
    fftw_complex *a = ddsp_alloc(sizeof(fftw_complex) * (size_t)N);
    fftw_complex *h = ddsp_alloc(sizeof(fftw_complex) * (size_t)N);
    if (!raw || !low || !a || !h) {
        ddsp_free(raw), ddsp_free(low), ddsp_free(a), ddsp_free(h);
        return DDSP_ERR;
    }
    morlet_raw(raw, N, 0.0, SIGMA0 / pow(2.0, s->J), low);
    for (int k = 0; k < N; k++) a[k][0] = raw[k], a[k][1] = 0.0;
    fftw_plan p;
#pragma omp critical(ddsp_fftw_planner)
    p = fftw_plan_dft_1d(N, a, h, FFTW_BACKWARD, FFTW_ESTIMATE);
    DDSP_ASSERT(p != NULL, "jtfs: FFTW could not plan a transform of %d", N);
    fftw_execute(p);
#pragma omp critical(ddsp_fftw_planner)
    fftw_destroy_plan(p);
    double nrm = 0.0;
    for (int t = 0; t < N; t++) nrm += hypot(h[t][0], h[t][1]) / N;
    /* residual[k] = sum_{k <= t < N/2} |h[t]|: first k with residual <= 1e-3, plus one */
    const int half = N / 2;
    int sup = half;
    double res = 0.0;
    for (int k = half - 1; k >= 0; k--) {
        res += hypot(h[k][0], h[k][1]) / N / nrm;
        if (res <= 1e-3) sup = k + 1;
    }
    ddsp_free(raw), ddsp_free(low), ddsp_free(a), ddsp_free(h);
    const size_t min_to_pad = 3 * (size_t)sup;
    int jpad = ceil_log2(s->N + 2 * min_to_pad);
    const int jmax = floor_log2(3 * s->N - 2);
    if (jpad > jmax) jpad = jmax;
    s->P = 1 << jpad;
    s->pad_left = (s->P - N) / 2;
    s->pad_right = s->P - N - s->pad_left;
    DDSP_ASSERT(s->pad_left < N && s->pad_right < N && s->P >= N, "jtfs: padding %d of %d",
                s->P, N);
    /* compute_border_indices: ceil-halve the unpadded interval J times */
    int i0 = s->pad_left, i1 = s->pad_left + N;
    for (int j = 0; j < s->J; j++) i0 = i0 / 2 + i0 % 2, i1 = i1 / 2 + i1 % 2;
    s->MJ = s->P >> s->J;
    s->i0 = i0, s->i1 = i1;
    s->ntime = i1 - i0;
    return DDSP_OK;
}

/* Points M for the modulus of a signal filtered by f whose spectrum is used up to bin kmax.
 * The M-point samples are exact whatever M is (bins that coincide mod M add up, as at the
 * sample times they should); only the DFT of |z| aliases. |z|^2's spectrum is the
 * autocorrelation of z's, ~exp(-d^2 / 4 sigma^2) for a band of width sigma: M - kmax >=
 * JTFS_ALIAS sigma P puts its aliases at exp(-JTFS_ALIAS^2 / 4) = 1e-7 (8 sigma). */
static int modulus_points(const jtfs_t *s, const jtfs_tfilt *f, int kmax) {
    const double band = JTFS_ALIAS * f->sigma * s->P;
    const double need = fmax(kmax + band, 2.0 * kmax + 2.0);
    return jtfs_nice_size((size_t)ceil(need));
}

static void plans_of(jtfs_tfilt *t) {
    t->fwd = ddsp_fft_plan_c2c_f64(t->M, 1, FFTW_FORWARD);
    t->bwd = ddsp_fft_plan_c2c_f64(t->M, 1, FFTW_BACKWARD);
    t->r2c = ddsp_fft_plan_r2c_f64(t->M, 1);
    t->c2r = ddsp_fft_plan_c2r_f64(t->M, 1);
}

/* The block's time averaging as a kernel on the M points of a modulus u: jtfs.c's lowpass()
 * of u's M-point DFT at the kept time i0 + m is sum_t u[t] K[m][t], with
 * K[m][t] = (1/M) sum_{|k| <= jphi} phi[k] cos(k theta), theta = 2 pi ((i0 + m) / MJ - t / M)
 * (bin k of the DFT is sum_t u[t] e^{-2 pi i k t / M} for any k, and output slot k mod MJ
 * weighs it by e^{2 pi i k (i0 + m) / MJ}). theta is reduced exactly in integers; cos(k theta)
 * by rotation. Stored per tile of JTFS_TILE points, rows of the tile below JTFS_KTOL of the
 * largest entry dropped (for long signals most of them: phi_T is short in time). */
static int avg_kernel(jtfs_t *s, jtfs_block *b) {
    const int M = b->M, nt = s->ntime, MJ = s->MJ, nc = (M + JTFS_TILE - 1) / JTFS_TILE;
    double *k = ddsp_alloc(sizeof(double) * (size_t)nt * (size_t)M);
    b->koff = malloc(sizeof(size_t) * (size_t)nc), b->ktoff = malloc(sizeof(size_t) * (size_t)nc);
    b->klo = malloc(sizeof(int) * (size_t)nc), b->kn = malloc(sizeof(int) * (size_t)nc);
    if (!k || !b->koff || !b->ktoff || !b->klo || !b->kn) {
        ddsp_free(k);
        return DDSP_ERR;
    }
    const long per = (long)MJ * (long)M;
    double big = 0.0;
    for (int m = 0; m < nt; m++)
        for (int t = 0; t < M; t++) {
            long num = ((long)(s->i0 + m) * M - (long)t * MJ) % per;
            const double th = 2.0 * PI * (double)num / (double)per;
            const double c1 = cos(th), s1 = sin(th);
            double cr = 1.0, ci = 0.0, sum = s->phi.v[s->jphi];
            for (int q = 1; q <= s->jphi; q++) {
                const double r = cr * c1 - ci * s1;
                ci = cr * s1 + ci * c1, cr = r;
                sum += (s->phi.v[s->jphi + q] + s->phi.v[s->jphi - q]) * cr;
            }
            k[(size_t)m * M + t] = sum / M;
            big = fmax(big, fabs(sum / M));
        }
    size_t len = 0, tlen = 0;
    for (int c = 0; c < nc; c++) { /* rows lo .. hi - 1 of tile c reach the tolerance */
        const int t0 = c * JTFS_TILE, tl = M - t0 < JTFS_TILE ? M - t0 : JTFS_TILE;
        int lo = nt, hi = 0;
        for (int m = 0; m < nt; m++)
            for (int t = t0; t < t0 + tl; t++)
                if (fabs(k[(size_t)m * M + t]) >= JTFS_KTOL * big) {
                    lo = m < lo ? m : lo, hi = m + 1;
                    break;
                }
        if (hi < lo) lo = hi = 0;
        b->klo[c] = lo, b->kn[c] = hi - lo, b->koff[c] = len, b->ktoff[c] = tlen;
        len += (size_t)(hi - lo) * (size_t)tl;
        tlen += (size_t)((hi - lo + 15) & ~15) * (size_t)tl;
    }
    b->K = ddsp_alloc(sizeof(float) * (len ? len : 1));
    b->Kt = ddsp_alloc(sizeof(float) * (tlen ? tlen : 1));
    if (!b->K || !b->Kt) {
        ddsp_free(k);
        return DDSP_ERR;
    }
    for (int c = 0; c < nc; c++) {
        const int t0 = c * JTFS_TILE, tl = M - t0 < JTFS_TILE ? M - t0 : JTFS_TILE;
        for (int m = 0; m < b->kn[c]; m++)
            for (int t = 0; t < tl; t++)
                b->K[b->koff[c] + (size_t)m * tl + t] = (float)k[(size_t)(b->klo[c] + m) * M + t0 + t];
        const int kp = (b->kn[c] + 15) & ~15;
        for (int t = 0; t < tl; t++)
            for (int m = 0; m < kp; m++)
                b->Kt[b->ktoff[c] + (size_t)t * kp + m] =
                    m < b->kn[c] ? b->K[b->koff[c] + (size_t)m * tl + t] : 0.0f;
    }
    ddsp_free(k);
    return DDSP_OK;
}

int jtfs_bank_build(jtfs_t *s) {
    if (padding(s)) return DDSP_ERR;
    const int P = s->P, J = s->J;
    double *raw = ddsp_alloc(sizeof(double) * (size_t)P), *low = ddsp_alloc(sizeof(double) * (size_t)P);
    double *in = ddsp_alloc(sizeof(double) * (size_t)P);
    fftw_complex *out = ddsp_alloc(sizeof(fftw_complex) * ((size_t)P / 2 + 1));
    double *xs = NULL, *ss = NULL;
    int rc = DDSP_ERR;
    /* plans (estimate: measured plans for these ~100 sizes take long to make) */
    const unsigned rigor = ddsp_fft_rigor();
    ddsp_fft_set_rigor(FFTW_ESTIMATE);
    fftw_plan r2c = ddsp_fft_plan_r2c_f64(P, 1);
    if (!raw || !low || !in || !out) goto done;

    /* time filters: phi_T (sigma0 / T, T = 2^J), psi1 (Q1), psi2 (Q2) */
    if (tfilt_make(&s->phi, 0.0, SIGMA0 / pow(2.0, J), P, s->tau, raw, low, r2c, in, out)) goto done;
    s->phi.j = J;
    s->jphi = -s->phi.lo;
    s->n1 = anden(J, s->Q1, NULL, NULL, 0);
    s->n2 = anden(J, s->Q2, NULL, NULL, 0);
    const int nmax = s->n1 > s->n2 ? s->n1 : s->n2;
    xs = malloc(sizeof(double) * (size_t)nmax), ss = malloc(sizeof(double) * (size_t)nmax);
    s->psi1 = calloc((size_t)s->n1, sizeof *s->psi1);
    s->psi2 = calloc((size_t)s->n2, sizeof *s->psi2);
    if (!xs || !ss || !s->psi1 || !s->psi2) goto done;
    anden(J, s->Q1, xs, ss, s->n1);
    for (int l = 0; l < s->n1; l++)
        if (tfilt_make(&s->psi1[l], xs[l], ss[l], P, s->tau, raw, low, r2c, in, out)) goto done;
    anden(J, s->Q2, xs, ss, s->n2);
    for (int l = 0; l < s->n2; l++)
        if (tfilt_make(&s->psi2[l], xs[l], ss[l], P, s->tau, raw, low, r2c, in, out)) goto done;

    /* frequential axis (TimeFrequencyScatteringBase.build): (J+1) Q1 rows zero-padded by
     * 8 min(F, 2^Jfr) and rounded down to a multiple of 2^Jfr */
    s->log2F = s->Jfr;
    const int nin = (J + 1) * s->Q1, mtp = 8 << s->Jfr;
    s->Nfr = ((nin + mtp) >> s->Jfr) << s->Jfr;
    const int Nfr = s->Nfr;
    s->npos = anden(s->Jfr, s->Qfr, NULL, NULL, 0);
    s->nfr = 1 + 2 * s->npos;
    s->fr = calloc((size_t)s->nfr, sizeof *s->fr);
    s->favg = calloc((size_t)s->log2F + 1, sizeof *s->favg);
    if (!s->fr || !s->favg) goto done;
    free(xs), free(ss);
    xs = malloc(sizeof(double) * (size_t)s->npos), ss = malloc(sizeof(double) * (size_t)s->npos);
    if (!xs || !ss) goto done;
    anden(s->Jfr, s->Qfr, xs, ss, s->npos);
    const double sfr = SIGMA0 / (double)(1 << s->Jfr); /* phi_F and phi_{2^Jfr}: F = 2^Jfr */
    if (ffilt_make(&s->fr[0], 0.0, sfr, s->Jfr, Nfr, s->log2F, s->tau, raw, low)) goto done;
    for (int i = 0; i < s->npos; i++) {
        const int j = max_dyadic(xs[i], ss[i]);
        if (ffilt_make(&s->fr[1 + i], xs[i], ss[i], j, Nfr, s->log2F, s->tau, raw, low) ||
            ffilt_make(&s->fr[1 + s->npos + i], -xs[i], ss[i], j, Nfr, s->log2F, s->tau, raw, low))
            goto done;
    }
    /* phi_F's levels: periodised (summed) onto Nfr >> k rows, k = 0 .. log2F */
    morlet_raw(raw, Nfr, 0.0, sfr, low);
    double nrm = 0.0;
    {
        fftw_complex *h = ddsp_alloc(sizeof(fftw_complex) * (size_t)Nfr);
        if (!h) goto done;
        idft(h, raw, Nfr);
        for (int t = 0; t < Nfr; t++) nrm += hypot(h[t][0], h[t][1]);
        for (int k = 0; k <= s->log2F; k++) {
            jtfs_favg *fa = &s->favg[k];
            fa->L = Nfr >> k;
            fa->q = 1 << (s->log2F - k);
            fa->h = ddsp_alloc(sizeof(double) * (size_t)fa->L);
            if (!fa->h) {
                ddsp_free(h);
                goto done;
            }
            for (int i = 0; i < fa->L; i++) {
                low[i] = 0.0;
                for (int b = 0; b < (1 << k); b++) low[i] += raw[b * fa->L + i] / nrm;
            }
            idft(h, low, fa->L);
            for (int i = 0; i < fa->L; i++) fa->h[i] = h[i][0];
            fa->w = row_support(h, fa->L, s->tau);
        }
        ddsp_free(h);
    }

    /* paths: order 1 on all n1; order 2 for each n2 on the n1 with j1 < j2 (a prefix) */
    s->nblk = 1;
    for (int l2 = 0; l2 < s->n2; l2++) s->nblk += s->psi2[l2].j > s->psi1[0].j;
    s->blk = calloc((size_t)s->nblk, sizeof *s->blk);
    s->order = calloc((size_t)s->nblk, sizeof(int));
    if (!s->blk || !s->order) goto done;
    int path = 1, nb = 1;
    if (block_make(s, &s->blk[0], 1, -1, s->n1, &path)) goto done;
    int *kmax = calloc((size_t)s->n1, sizeof(int));
    if (!kmax) goto done;
    for (int l = 0; l < s->n1; l++) kmax[l] = s->jphi;
    for (int l2 = 0; l2 < s->n2; l2++) {
        jtfs_tfilt *g = &s->psi2[l2];
        int n1max = 0;
        while (n1max < s->n1 && s->psi1[n1max].j < g->j) n1max++;
        for (int l = n1max; l < s->n1; l++)
            DDSP_ASSERT(s->psi1[l].j >= g->j, "jtfs: first-order j not increasing");
        if (!n1max) continue;
        jtfs_block *b = &s->blk[nb++];
        if (block_make(s, b, 2, l2, n1max, &path)) {
            free(kmax);
            goto done;
        }
        const int hi = g->lo + g->nb - 1, top = hi > -g->lo ? hi : -g->lo;
        for (int l = 0; l < n1max; l++) kmax[l] = kmax[l] > top ? kmax[l] : top;
        g->M = modulus_points(s, g, s->jphi);
        if (s->ref) g->M = P >> g->j; /* kymatio: U2 at resolution j2 */
        b->M = g->M;
        b->gb_lo = g->lo >= 0 ? g->lo : 0;
        b->gb_n = top - b->gb_lo + 1;
    }
    s->npath = path;
    for (int l = 0; l < s->n1; l++) {
        jtfs_tfilt *f = &s->psi1[l];
        f->M = modulus_points(s, f, kmax[l]);
        if (s->ref) f->M = P >> (f->j < J ? f->j : J); /* kymatio: U1 at min(j1, log2 T) */
    }
    free(kmax);

    /* bands and path -> band */
    s->nbands = 1 + (1 + s->npos) + s->nfr;
    s->path_band = malloc(sizeof(int) * (size_t)s->npath);
    s->u1_off = malloc(sizeof(size_t) * (size_t)s->n1);
    s->g1_off = malloc(sizeof(size_t) * (size_t)s->n1);
    if (!s->path_band || !s->u1_off || !s->g1_off) goto done;
    s->path_band[0] = 0;
    for (int i = 0; i < s->nblk; i++) {
        const jtfs_block *b = &s->blk[i];
        for (int f = 0; f < b->nf; f++)
            for (int r = 0; r < b->R; r++)
                s->path_band[b->path0 + f * b->R + r] = (b->order == 1 ? 1 : 2 + s->npos) + f;
    }
    /* sizes of buffers and work */
    s->Mmax = s->MJ;
    for (int l = 0; l < s->n1; l++) {
        s->u1_off[l] = s->u1_len;
        s->u1_len += (size_t)s->psi1[l].M / 2 + 1;
        s->g1_off[l] = s->g1_len;
        s->g1_len += (size_t)s->psi1[l].nb;
        if (s->psi1[l].M > s->Mmax) s->Mmax = s->psi1[l].M;
    }
    s->Rmax = 0;
    for (int i = 0; i < s->nblk; i++) {
        jtfs_block *b = &s->blk[i];
        if (b->R > s->Rmax) s->Rmax = b->R;
        if (b->order == 1) continue;
        if (b->M > s->Mmax) s->Mmax = b->M;
        b->gU_off = s->gU_len;
        s->gU_len += (size_t)b->n1max * (size_t)b->gb_n;
        const size_t y = (size_t)b->n1max * (size_t)b->M;
        if (y > s->ymax) s->ymax = y;
        double rows = 0.0, taps = 0.0;
        for (int f = 0; f < b->nf; f++) {
            const jtfs_rows *rw = &b->rows[f];
            rows += rw->n;
            for (int k = 0; k < rw->n; k++)
                taps += rw->t1[2 * k] - rw->t0[2 * k] + rw->t1[2 * k + 1] - rw->t0[2 * k + 1];
        }
        /* per row point: the taps (both ways), modulus and averaging kernel */
        b->cost = (double)b->M * (rows * (4.0 + 2.0 * s->ntime) + 2.0 * taps);
        if (avg_kernel(s, b)) goto done;
    }
    for (int i = 1; i < s->nblk; i++) s->order[i - 1] = i;
    for (int i = 0; i + 1 < s->nblk - 1; i++) /* heaviest first (insertion sort, few blocks) */
        for (int k = i + 1; k < s->nblk - 1; k++)
            if (s->blk[s->order[k]].cost > s->blk[s->order[i]].cost) {
                const int t = s->order[i];
                s->order[i] = s->order[k], s->order[k] = t;
            }

    s->phi.M = s->MJ;
    for (int l = 0; l < s->n1; l++) plans_of(&s->psi1[l]);
    for (int l = 0; l < s->n2; l++) {
        jtfs_tfilt *g = &s->psi2[l];
        if (!g->M) continue;
        g->fwdf = ddsp_fft_plan_c2c(g->M, 1, FFTW_FORWARD);
        g->bwdf = ddsp_fft_plan_c2c(g->M, 1, FFTW_BACKWARD);
    }
    s->r2c_P = r2c;
    s->c2r_P = ddsp_fft_plan_c2r_f64(P, 1);
    s->bwd_J = ddsp_fft_plan_c2c_f64(s->MJ, 1, FFTW_BACKWARD);
    s->fwd_J = ddsp_fft_plan_c2c_f64(s->MJ, 1, FFTW_FORWARD);
    rc = DDSP_OK;
done:
    ddsp_fft_set_rigor(rigor);
    free(xs), free(ss);
    ddsp_free(raw), ddsp_free(low), ddsp_free(in), ddsp_free(out);
    return rc;
}

/* ------------------------------------------------------------------ init, free, accessors */
size_t jtfs_min_length(int J) {
    return (size_t)1 << J;
}

void jtfs_free(jtfs_t *s) {
    if (!s) return;
    ddsp_free(s->phi.v);
    for (int l = 0; s->psi1 && l < s->n1; l++) ddsp_free(s->psi1[l].v);
    for (int l = 0; s->psi2 && l < s->n2; l++) ddsp_free(s->psi2[l].v);
    free(s->psi1), free(s->psi2);
    for (int f = 0; s->fr && f < s->nfr; f++) ddsp_free(s->fr[f].h);
    free(s->fr);
    for (int k = 0; s->favg && k <= s->log2F; k++) ddsp_free(s->favg[k].h);
    free(s->favg);
    for (int i = 0; s->blk && i < s->nblk; i++) {
        for (int f = 0; s->blk[i].rows && f < s->blk[i].nf; f++) {
            free(s->blk[i].rows[f].r), free(s->blk[i].rows[f].t0), free(s->blk[i].rows[f].t1);
        }
        free(s->blk[i].rows);
        ddsp_free(s->blk[i].K), ddsp_free(s->blk[i].Kt), free(s->blk[i].koff), free(s->blk[i].ktoff), free(s->blk[i].klo), free(s->blk[i].kn);
    }
    free(s->blk), free(s->order), free(s->path_band), free(s->u1_off), free(s->g1_off);
    ddsp_free(s->X), ddsp_free(s->U1), ddsp_free(s->S1), ddsp_free(s->coef), ddsp_free(s->GS1);
    ddsp_free(s->GX0), ddsp_free(s->gU), ddsp_free(s->g1), ddsp_free(s->part);
    free(s->bsum), free(s->bcnt);
    for (int t = 0; s->work && t < s->nthreads; t++) {
        jtfs_work *w = &s->work[t];
        ddsp_free(w->a), ddsp_free(w->b), ddsp_free(w->u), ddsp_free(w->r), ddsp_free(w->uh);
        ddsp_free(w->gh), ddsp_free(w->Y), ddsp_free(w->Ye), ddsp_free(w->GY);
        ddsp_free(w->va), ddsp_free(w->H), free(w->tn);
        free(w->toff), ddsp_free(w->af), ddsp_free(w->bf);
        ddsp_free(w->Sr), ddsp_free(w->GS), ddsp_free(w->A), ddsp_free(w->GA), ddsp_free(w->W);
        ddsp_free(w->G1), ddsp_free(w->xp), ddsp_free(w->X), ddsp_free(w->cj);
    }
    free(s->work);
    free(s);
}

static jtfs_t *init(size_t N, int J, int Q1, int Q2, int Jfr, int Qfr, size_t max_batch,
                    int ref) {
    if (J < 2 || J > 16) return ddsp_error("jtfs: jtfs_j=%d out of range 2..16", J), NULL;
    if (Q1 < 1 || Q1 > 32) return ddsp_error("jtfs: jtfs_q1=%d out of range 1..32", Q1), NULL;
    if (Q2 < 1 || Q2 > 8) return ddsp_error("jtfs: jtfs_q2=%d out of range 1..8", Q2), NULL;
    if (Jfr < 1 || Jfr > 6) return ddsp_error("jtfs: jtfs_jfr=%d out of range 1..6", Jfr), NULL;
    if (Qfr < 1 || Qfr > 8) return ddsp_error("jtfs: jtfs_qfr=%d out of range 1..8", Qfr), NULL;
    if (N < jtfs_min_length(J))
        return ddsp_error("jtfs: jtfs_j=%d averages over 2^%d = %zu samples, more than the "
                          "%zu-sample signal (use jtfs_j <= %d or a longer signal)",
                          J, J, jtfs_min_length(J), N, N >= 4 ? floor_log2(N) : 2),
               NULL;
    if (N > (size_t)1 << 26) return ddsp_error("jtfs: %zu samples is too long", N), NULL;
    if (max_batch == 0) return ddsp_error("jtfs: batch must be >= 1"), NULL;
    jtfs_t *s = calloc(1, sizeof *s);
    if (!s) return ddsp_error("jtfs: out of memory"), NULL;
    s->J = J, s->Q1 = Q1, s->Q2 = Q2, s->Jfr = Jfr, s->Qfr = Qfr;
    s->N = N, s->max_batch = max_batch;
    s->ref = ref;
    s->tau = ref ? 1e-15 : JTFS_TAU; /* the reference keeps all but rounding-level values */
    if (jtfs_bank_build(s)) goto oom;
    const size_t B2 = 2 * max_batch, K = (size_t)s->P / 2 + 1, MJ = (size_t)s->MJ;
    s->X = ddsp_alloc(sizeof(fftw_complex) * B2 * K);
    s->U1 = ddsp_alloc(sizeof(fftw_complex) * B2 * s->u1_len);
    s->S1 = ddsp_alloc(sizeof(double) * B2 * (size_t)s->n1 * MJ);
    s->coef = ddsp_alloc(sizeof(double) * B2 * (size_t)s->npath * (size_t)s->ntime);
    s->GS1 = ddsp_alloc(sizeof(double) * max_batch * (size_t)s->n1 * MJ);
    s->GX0 = ddsp_alloc(sizeof(fftw_complex) * max_batch * ((size_t)s->jphi + 1));
    s->gU = ddsp_alloc(sizeof(fftw_complex) * max_batch * (s->gU_len ? s->gU_len : 1));
    s->g1 = ddsp_alloc(sizeof(fftw_complex) * max_batch * s->g1_len);
    s->part = ddsp_alloc(sizeof(double) * max_batch * (size_t)s->nblk * (size_t)s->nbands);
    s->bsum = calloc((size_t)s->nbands, sizeof(double));
    s->bcnt = calloc((size_t)s->nbands, sizeof(int));
    if (!s->X || !s->U1 || !s->S1 || !s->coef || !s->GS1 || !s->GX0 || !s->gU || !s->g1 ||
        !s->part || !s->bsum || !s->bcnt)
        goto oom;
    for (int p = 0; p < s->npath; p++) s->bcnt[s->path_band[p]]++;
    s->nthreads = omp_get_max_threads();
    s->work = calloc((size_t)s->nthreads, sizeof *s->work);
    if (!s->work) goto oom;
    const size_t Mm = (size_t)s->Mmax, Nfr = (size_t)s->Nfr;
    const size_t ym = s->ymax ? s->ymax : 1;
    for (int t = 0; t < s->nthreads; t++) {
        jtfs_work *w = &s->work[t];
        w->a = ddsp_alloc(sizeof(fftw_complex) * Mm);
        w->b = ddsp_alloc(sizeof(fftw_complex) * Mm);
        w->u = ddsp_alloc(sizeof(double) * Mm);
        w->r = ddsp_alloc(sizeof(double) * Mm);
        w->uh = ddsp_alloc(sizeof(fftw_complex) * (Mm / 2 + 1));
        w->gh = ddsp_alloc(sizeof(fftw_complex) * (Mm / 2 + 1));
        w->Y = ddsp_alloc(sizeof(float) * 2 * ym);
        w->Ye = ddsp_alloc(sizeof(float) * 2 * ym);
        w->GY = ddsp_alloc(sizeof(float) * 2 * ym);
        w->va = ddsp_alloc(sizeof(float) * JTFS_TILE);
        w->H = ddsp_alloc(sizeof(float) * 2 * Nfr * (size_t)s->n1);
        w->tn = malloc(sizeof(int) * Nfr * (size_t)s->n1);
        w->toff = malloc(sizeof(int) * (Nfr + 1));
        w->af = ddsp_alloc(sizeof(fftwf_complex) * Mm);
        w->bf = ddsp_alloc(sizeof(fftwf_complex) * Mm);
        w->Sr = ddsp_alloc(sizeof(double) * Nfr * MJ);
        w->GS = ddsp_alloc(sizeof(double) * Nfr * MJ);
        w->A = ddsp_alloc(sizeof(double) * (size_t)s->Rmax * MJ);
        w->GA = ddsp_alloc(sizeof(double) * (size_t)s->Rmax * MJ);
        w->W = ddsp_alloc(sizeof(fftw_complex) * Nfr * MJ);
        w->G1 = ddsp_alloc(sizeof(double) * (size_t)s->n1 * MJ);
        w->xp = ddsp_alloc(sizeof(double) * (size_t)s->P);
        w->X = ddsp_alloc(sizeof(fftw_complex) * K);
        w->cj = ddsp_alloc(sizeof(fftw_complex) * 2 * MJ);
        if (!w->a || !w->b || !w->u || !w->r || !w->uh || !w->gh || !w->Y || !w->Ye || !w->GY ||
            !w->va || !w->H || !w->tn || !w->toff || !w->af || !w->bf || !w->Sr || !w->GS || !w->A || !w->GA || !w->W || !w->G1 || !w->xp || !w->X ||
            !w->cj)
            goto oom;
    }
    return s;
oom:
    jtfs_free(s);
    ddsp_error("jtfs: out of memory (%zu samples, batch %zu)", N, max_batch);
    return NULL;
}

jtfs_t *jtfs_init(size_t N, int J, int Q1, int Q2, int Jfr, int Qfr, size_t max_batch) {
    return init(N, J, Q1, Q2, Jfr, Qfr, max_batch, 0);
}

jtfs_t *jtfs_init_reference(size_t N, int J, int Q1, int Q2, int Jfr, int Qfr,
                            size_t max_batch) {
    return init(N, J, Q1, Q2, Jfr, Qfr, max_batch, 1);
}

void jtfs_shape(const jtfs_t *s, int *npath, int *ntime) {
    *npath = s->npath, *ntime = s->ntime;
}
int jtfs_nbands(const jtfs_t *s) {
    return s->nbands;
}
int jtfs_count_bands(int Jfr, int Qfr) {
    return 3 + 3 * anden(Jfr, Qfr, NULL, NULL, 0); /* as init: 1 + (1 + npos) + (1 + 2 npos) */
}
void jtfs_band(const jtfs_t *s, int b, int *order, int *spin, double *xi_fr) {
    DDSP_ASSERT(b >= 0 && b < s->nbands, "jtfs band %d not in 0..%d", b, s->nbands - 1);
    const int f = b == 0 ? 0 : b <= 1 + s->npos ? b - 1 : b - 2 - s->npos;
    *order = b == 0 ? 0 : b <= 1 + s->npos ? 1 : 2;
    *spin = b == 0 ? 0 : s->fr[f].spin;
    *xi_fr = b == 0 ? 0.0 : s->fr[f].xi;
}
int jtfs_path_band(const jtfs_t *s, int p) {
    DDSP_ASSERT(p >= 0 && p < s->npath, "jtfs path %d not in 0..%d", p, s->npath - 1);
    return s->path_band[p];
}
int jtfs_padded_length(const jtfs_t *s) {
    return s->P;
}
int jtfs_nfilters(const jtfs_t *s, int order) {
    return order == 1 ? s->n1 : s->n2;
}
void jtfs_filter(const jtfs_t *s, int order, int l, double *xi, double *sigma, int *j) {
    const jtfs_tfilt *f = order == 1 ? &s->psi1[l] : &s->psi2[l];
    *xi = f->xi, *sigma = f->sigma, *j = f->j;
}
double jtfs_filter_value(const jtfs_t *s, int order, int l, int k) {
    const jtfs_tfilt *f = order == 1 ? &s->psi1[l] : order == 2 ? &s->psi2[l] : &s->phi;
    for (int i = 0; i < f->nb; i++)
        if ((((f->lo + i) - k) % s->P + s->P) % s->P == 0) return f->v[i];
    return 0.0;
}
int jtfs_path(const jtfs_t *s, int order, int n2, int f, int r) {
    for (int i = 0; i < s->nblk; i++) {
        const jtfs_block *b = &s->blk[i];
        if (b->order != order || (order == 2 && b->n2 != n2)) continue;
        return f >= 0 && f < b->nf && r >= 0 && r < b->R ? b->path0 + f * b->R + r : -1;
    }
    return -1;
}

int jtfs_nfreq(const jtfs_t *s) {
    return s->nfr;
}
void jtfs_freq_filter(const jtfs_t *s, int f, double *xi, int *k, int *spin) {
    DDSP_ASSERT(f >= 0 && f < s->nfr, "jtfs frequential filter %d", f);
    *xi = s->fr[f].xi, *k = s->fr[f].k, *spin = s->fr[f].spin;
}
void jtfs_freq_kernel(const jtfs_t *s, int f, int d, double *re, double *im) {
    const int i = ((d % s->Nfr) + s->Nfr) % s->Nfr;
    *re = s->fr[f].h[i][0], *im = s->fr[f].h[i][1];
}
double jtfs_freq_avg_kernel(const jtfs_t *s, int k, int d) {
    const jtfs_favg *fa = &s->favg[k];
    return fa->h[((d % fa->L) + fa->L) % fa->L];
}
int jtfs_freq_rows(const jtfs_t *s) {
    return s->Nfr;
}
