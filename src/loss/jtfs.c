/* Joint time-frequency scattering (Andén, Lostanlen & Mallat 2019, "Joint time-frequency
 * scattering"; Muradeli et al. 2022) as a Φ term, with its exact adjoint. It follows kymatio's
 * TimeFrequencyScattering (J, shape N, Q = (Q1, Q2), J_fr, Q_fr; T, F, stride, stride_fr not
 * given; format "time", out_type "array"); kymatio's names are in brackets.
 *
 * Matched (the filter bank and layout are built in jtfs_bank.c):
 *   - filters [filter_bank.py]: anden_generator (geometric xi from compute_xi_max(Q), sigma =
 *     compute_sigma_psi with r_psi = sqrt(1/2), then Q - 1 constant-width filters of
 *     sigma0 / 2^J, sigma0 = 0.1), morlet_1d / gauss_1d (periodised over 2P - 1 periods,
 *     Morlet corrected by kappa so psi(0) = 0, normalised to unit l1 norm in time),
 *     get_max_dyadic_subsampling (alpha = 5) for j;
 *   - time low-pass phi_T with T = 2^J (sigma0 / T), outputs at stride 2^J;
 *   - padding [build(), compute_padding]: reflect padding to P = 2^J_pad,
 *     J_pad = min(ceil log2(N + 6 support(phi_T)), floor log2(3N - 2)), support from
 *     compute_temporal_support (criterion 1e-3); output unpadded by compute_border_indices;
 *   - second-order paths: (n1, n2) for j1 < j2 [time_scattering_widthfirst], U1 filtered by
 *     psi2 without modulus before the frequential transform;
 *   - frequential axis: the (J + 1) Q1 first-order rows zero-padded to
 *     Nfr = floor(((J+1) Q1 + 8 2^J_fr) / 2^J_fr) 2^J_fr rows; frequential filters
 *     spin(anden_generator)(J_fr, Q_fr) over Nfr (low-pass of width 2^J_fr, then up spins,
 *     then down spins), each subsampled by 2^min(j_fr, log2 F) [frequency_scattering];
 *     first order uses the low-pass and up spins on S1, second order all of them on
 *     U1 * psi2; modulus, then time averaging by phi_T (second order) and frequential
 *     averaging by phi_F, F = 2^J_fr, to stride F (spin != 0) [jtfs_average_and_format];
 *     frequential unpadding to ceil(n1max / F) rows [unpad_frequency, time_formatting];
 *   - output order: S0, then (n_fr, n1 row) for order 1, then (n2, n_fr, n1 row).
 * Subsampling (our own choice; kymatio's results are the same quantities sampled on other
 * grids): a filtered signal z is computed on M points by sending bin k of P to slot k mod M of
 * an M-point inverse DFT, which gives z exactly at times m P / M for any M (bins that share a
 * slot add up, as they do at those times). Only the DFT of |z| can alias: M is the bins of |z|
 * used afterwards (kmax: phi_T's, or the psi2 bands of the paths) plus 8 sigma P of z's filter,
 * where |z|^2's spectrum (the autocorrelation of a Gaussian band) has fallen to exp(-16)
 * (jtfs_bank.c: modulus_points); kymatio samples U1 at P / 2^j1 and U2 at P / 2^j2 points,
 * about twice as many. The second order is all of the cost: per live frequential row, its
 * taps over the n1 rows, the modulus and the time averaging. The averaging reads only phi_T's
 * bins of |z|'s DFT and only the kept output times, so it is one real kernel K (ntime, M) per
 * block (jtfs_bank.c: avg_kernel) instead of an FFT per row; taps, modulus and K run fused on
 * time tiles that stay in cache (no row is ever stored; the backward recomputes it), in
 * single precision (rounding 3e-8, far below the 1e-4 of the grids) with every sum over more
 * than 32 points, and everything else, in double.
 * Deviations:
 *   - filter values below exp(-12.5) (a Gaussian at 5 sigma, kymatio's own aliasing
 *     criterion) of the filter's largest are dropped, and so are frequential rows whose largest
 *     tap times largest averaging weight is below it; |z| is not band-limited, so our coarser
 *     grids alias what |z| has beyond |z|^2's band. Measured against kymatio
 *     (tests/test_loss_jtfs.c, tests/data/jtfs_ref.h5): relative L2 6.5e-5 at J = 12 (order 2
 *     1e-4, worst path 1%), 1.9e-4 at J = 6; kymatio's own grids are 3e-6 from computing every
 *     modulus on 2P points. jtfs_init_reference runs on kymatio's grids and matches it to 3e-8.
 *   - T and F are kymatio's defaults (2^J, 2^J_fr); stride, stride_fr, oversampling are not
 *     settings. The Φ term is the mean of D over every coefficient of the "time" array.
 *
 * Computation: stage A pads and transforms each signal; B (item, n1) computes z1 = x * psi1,
 * U1 = |z1|, its spectrum (kept) and S1; C the zeroth and first orders (small: ntime
 * columns); D (item, n2) the second order: U1 * psi2 for every n1 < n1max, the live
 * frequential rows (taps over n1), modulus, time and frequential averaging, the loss, and the
 * adjoint back to dL/d(U1 spectrum) for its n1 (kept per task); E (item, n1) sums those in a
 * fixed order with the first order's part and goes back to dL/dX on psi1's band; F sums the
 * bands per item and inverts the padding. Every task writes its own slots and every sum runs
 * in a fixed order, so the thread count does not change a bit. Adjoints: c2r <-> r2c with
 * interior bins weighted 2 or 1/2, c2c backward <-> forward, |z| -> z/|z| (0 at z = 0). */
#include "loss/jtfs_impl.h"

#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <math.h>
#include <omp.h>
#if defined(__AVX512F__) && defined(__AVX512DQ__) && !defined(DDSP_NO_AVX512)
#include <immintrin.h>
#endif
#include <string.h>

/* |z| (hypot's overflow care costs half the transform; these values are far from overflow) */
static inline double cabs2(double re, double im) {
    return sqrt(re * re + im * im);
}

static inline int mod(int k, int n) {
    const int r = k % n;
    return r < 0 ? r + n : r;
}

/* value at bin k (any integer) of a real n-point signal's half spectrum H (bins 0..n/2) */
static inline void half_at(const fftw_complex *H, int n, int k, double *re, double *im) {
    const int kk = mod(k, n);
    if (kk <= n / 2) *re = H[kk][0], *im = H[kk][1];
    else *re = H[n - kk][0], *im = -H[n - kk][1];
}

/* ------------------------------------------------------------------ padding */
static void pad_signal(const jtfs_t *s, const float *x, double *xp) {
    const int N = (int)s->N, L = s->pad_left, R = s->pad_right;
    for (int i = 0; i < N; i++) xp[L + i] = x[i];
    for (int i = 1; i <= L; i++) xp[L - i] = x[i]; /* numpy's "reflect": the edge is not repeated */
    for (int i = 1; i <= R; i++) xp[L + N - 1 + i] = x[N - 1 - i];
}

static void pad_adjoint(const jtfs_t *s, double *g, float *out) {
    const int N = (int)s->N, L = s->pad_left, R = s->pad_right;
    for (int i = 1; i <= L; i++) g[L + i] += g[L - i];
    for (int i = 1; i <= R; i++) g[L + N - 1 - i] += g[L + N - 1 + i];
    for (int i = 0; i < N; i++) out[i] = (float)g[L + i];
}

/* ------------------------------------------------------------------ time low-pass */
/* S (MJ) = Re sum_{|k| <= jphi} phi[k] H(k) scale e^{2 pi i k m / MJ}: the signal whose
 * half spectrum is H (n points) averaged by phi_T, at stride 2^J. */
static void lowpass(const jtfs_t *s, const fftw_complex *H, int n, double scale, jtfs_work *w,
                    double *S) {
    const int MJ = s->MJ;
    fftw_complex *c = w->cj, *o = w->cj + MJ;
    memset(c, 0, sizeof(fftw_complex) * (size_t)MJ);
    for (int k = -s->jphi; k <= s->jphi; k++) {
        double re, im;
        half_at(H, n, k, &re, &im);
        const double v = s->phi.v[k + s->jphi] * scale;
        const int m = mod(k, MJ);
        c[m][0] += v * re, c[m][1] += v * im;
    }
    fftw_execute_dft(s->bwd_J, c, o);
    for (int m = 0; m < MJ; m++) S[m] = o[m][0];
}

/* GH (bins 0..jphi of a half spectrum) += the adjoint of lowpass(., scale) applied to G (MJ) */
static void lowpass_adj(const jtfs_t *s, const double *G, double scale, jtfs_work *w,
                        fftw_complex *GH) {
    const int MJ = s->MJ;
    fftw_complex *c = w->cj, *o = w->cj + MJ;
    for (int m = 0; m < MJ; m++) c[m][0] = G[m], c[m][1] = 0.0;
    fftw_execute_dft(s->fwd_J, c, o);
    for (int k = -s->jphi; k <= s->jphi; k++) {
        const double v = s->phi.v[k + s->jphi] * scale;
        const int m = mod(k, MJ);
        if (k >= 0) GH[k][0] += v * o[m][0], GH[k][1] += v * o[m][1];
        else GH[-k][0] += v * o[m][0], GH[-k][1] -= v * o[m][1];
    }
}

/* adjoint of an r2c of size M given the gradient gh (M/2+1) of its output: c2r with the
 * interior bins halved (c2r counts them twice); gh is destroyed, r (M) gets dL/d(input) */
static void r2c_adj(const jtfs_tfilt *f, fftw_complex *gh, double *r) {
    for (int k = 1; k < f->M / 2; k++) gh[k][0] *= 0.5, gh[k][1] *= 0.5;
    fftw_execute_dft_c2r(f->c2r, gh, r);
}

/* ------------------------------------------------------------------ stages A, B: first order */
static void spectrum(const jtfs_t *s, const float *x, jtfs_work *w, fftw_complex *X) {
    pad_signal(s, x, w->xp);
    fftw_execute_dft_r2c(s->r2c_P, w->xp, w->X);
    memcpy(X, w->X, sizeof(fftw_complex) * ((size_t)s->P / 2 + 1));
}

/* w->b (M) = z1 = (x * psi1[l]) at M points, from the padded signal's spectrum X */
static void first_z(const jtfs_t *s, int l, const fftw_complex *X, jtfs_work *w) {
    const jtfs_tfilt *f = &s->psi1[l];
    memset(w->a, 0, sizeof(fftw_complex) * (size_t)f->M);
    for (int i = 0; i < f->nb; i++) {
        double re, im;
        half_at(X, s->P, f->lo + i, &re, &im);
        const double v = f->v[i] / s->P;
        const int m = mod(f->lo + i, f->M);
        w->a[m][0] += v * re, w->a[m][1] += v * im;
    }
    fftw_execute_dft(f->bwd, w->a, w->b);
}

/* Uh (M/2+1) = spectrum of U1 = |z1| on M points, S1 (MJ) = U1 averaged by phi_T */
static void first_forward(const jtfs_t *s, int l, const fftw_complex *X, jtfs_work *w,
                          fftw_complex *Uh, double *S1) {
    const jtfs_tfilt *f = &s->psi1[l];
    first_z(s, l, X, w);
    for (int m = 0; m < f->M; m++) w->u[m] = cabs2(w->b[m][0], w->b[m][1]);
    fftw_execute_dft_r2c(f->r2c, w->u, w->uh);
    memcpy(Uh, w->uh, sizeof(fftw_complex) * ((size_t)f->M / 2 + 1));
    lowpass(s, Uh, f->M, 1.0 / f->M, w, S1);
}

/* ------------------------------------------------------------------ frequential averaging */
/* A (R, MJ): the kept output rows of filter f from its live rows' values Sr (n, MJ):
 * phi_F-averaged to stride F (spin != 0), or the rows themselves (the low-pass) */
static void favg_forward(const jtfs_t *s, const jtfs_block *b, int f, const double *Sr,
                         double *A) {
    const jtfs_ffilt *ff = &s->fr[f];
    const jtfs_rows *rw = &b->rows[f];
    const size_t MJ = (size_t)s->MJ;
    memset(A, 0, sizeof(double) * (size_t)b->R * MJ);
    if (ff->spin == 0) {
        for (int i = 0; i < rw->n; i++) memcpy(A + (size_t)rw->r[i] * MJ, Sr + i * MJ, sizeof(double) * MJ);
        return;
    }
    const jtfs_favg *fa = &s->favg[ff->k];
    for (int o = 0; o < b->R; o++)
        for (int i = 0; i < rw->n; i++) {
            const double h = fa->h[mod(o * fa->q - rw->r[i], fa->L)];
            const double *src = Sr + i * MJ;
            double *dst = A + (size_t)o * MJ;
            for (size_t m = 0; m < MJ; m++) dst[m] += h * src[m];
        }
}

static void favg_adjoint(const jtfs_t *s, const jtfs_block *b, int f, const double *GA,
                         double *GS) {
    const jtfs_ffilt *ff = &s->fr[f];
    const jtfs_rows *rw = &b->rows[f];
    const size_t MJ = (size_t)s->MJ;
    if (ff->spin == 0) {
        for (int i = 0; i < rw->n; i++) memcpy(GS + i * MJ, GA + (size_t)rw->r[i] * MJ, sizeof(double) * MJ);
        return;
    }
    const jtfs_favg *fa = &s->favg[ff->k];
    memset(GS, 0, sizeof(double) * (size_t)rw->n * MJ);
    for (int i = 0; i < rw->n; i++)
        for (int o = 0; o < b->R; o++) {
            const double h = fa->h[mod(o * fa->q - rw->r[i], fa->L)];
            const double *src = GA + (size_t)o * MJ;
            double *dst = GS + i * MJ;
            for (size_t m = 0; m < MJ; m++) dst[m] += h * src[m];
        }
}

/* ------------------------------------------------------------------ distances */
static inline double dval(int dist, double r) {
    return dist == 1 ? fabs(r) : r * r;
}
static inline double dder(int dist, double r) {
    return dist == 1 ? (double)((r > 0.0) - (r < 0.0)) : 2.0 * r;
}

/* Writes A's kept rows and times into the coefficient array at path p0 (R rows). */
static void keep(const jtfs_t *s, const double *A, int R, int p0, double *coef) {
    for (int o = 0; o < R; o++)
        memcpy(coef + (size_t)(p0 + o) * (size_t)s->ntime, A + (size_t)o * (size_t)s->MJ + s->i0,
               sizeof(double) * (size_t)s->ntime);
}

/* Sum of D over R paths from p0 (estimate ce vs target ct); GA (R, MJ) = nrm D' at the kept
 * times and 0 elsewhere when GA is not NULL. */
static double loss_rows(const jtfs_t *s, int dist, const double *ce, const double *ct, int R,
                        int p0, double nrm, double *GA) {
    const size_t nt = (size_t)s->ntime, MJ = (size_t)s->MJ;
    double sum = 0.0;
    if (GA) memset(GA, 0, sizeof(double) * (size_t)R * MJ);
    for (int o = 0; o < R; o++)
        for (size_t t = 0; t < nt; t++) {
            const size_t i = (size_t)(p0 + o) * nt + t;
            const double r = ce[i] - ct[i];
            sum += dval(dist, r);
            if (GA) GA[(size_t)o * MJ + (size_t)s->i0 + t] = nrm * dder(dist, r);
        }
    return sum;
}

/* ------------------------------------------------------------------ stage C: orders 0, 1 */
/* W (n, MJ) = live rows of filter f over S1 (n1, MJ); Sr (n, MJ) = |W| */
static void order1_rows(const jtfs_t *s, int f, const double *S1, jtfs_work *w) {
    const jtfs_block *b = &s->blk[0];
    const jtfs_ffilt *ff = &s->fr[f];
    const jtfs_rows *rw = &b->rows[f];
    const size_t MJ = (size_t)s->MJ;
    for (int i = 0; i < rw->n; i++) {
        fftw_complex *Wi = w->W + i * MJ;
        memset(Wi, 0, sizeof(fftw_complex) * MJ);
        for (int run = 0; run < 2; run++)
            for (int n1 = rw->t0[2 * i + run]; n1 < rw->t1[2 * i + run]; n1++) {
                const double *h = ff->h[mod((rw->r[i] << ff->k) - n1, s->Nfr)];
                const double *x = S1 + (size_t)n1 * MJ;
                for (size_t m = 0; m < MJ; m++) Wi[m][0] += h[0] * x[m], Wi[m][1] += h[1] * x[m];
            }
        for (size_t m = 0; m < MJ; m++) w->Sr[i * MJ + m] = cabs2(Wi[m][0], Wi[m][1]);
    }
}

static void order01_forward(const jtfs_t *s, const fftw_complex *X, const double *S1,
                            jtfs_work *w, double *coef) {
    lowpass(s, X, s->P, 1.0 / s->P, w, w->A);
    keep(s, w->A, 1, 0, coef);
    const jtfs_block *b = &s->blk[0];
    for (int f = 0; f < b->nf; f++) {
        order1_rows(s, f, S1, w);
        favg_forward(s, b, f, w->Sr, w->A);
        keep(s, w->A, b->R, b->path0 + f * b->R, coef);
    }
}

/* Loss of orders 0 and 1 of item b into part (bands); with grad, dL/dX on bins 0..jphi
 * (GX0) and dL/dS1 (GS1) of the estimate. */
static void order01_loss(jtfs_t *s, size_t b, int dist, double nrm, int grad, jtfs_work *w,
                         double *part) {
    const size_t MJ = (size_t)s->MJ, np = (size_t)s->npath * (size_t)s->ntime;
    const double *ct = s->coef + 2 * b * np, *ce = ct + np;
    part[0] += loss_rows(s, dist, ce, ct, 1, 0, nrm, grad ? w->GA : NULL);
    if (grad) {
        fftw_complex *gx = s->GX0 + b * ((size_t)s->jphi + 1);
        memset(gx, 0, sizeof(fftw_complex) * ((size_t)s->jphi + 1));
        lowpass_adj(s, w->GA, 1.0 / s->P, w, gx);
        memset(w->G1, 0, sizeof(double) * (size_t)s->n1 * MJ);
    }
    const jtfs_block *blk = &s->blk[0];
    const double *S1e = s->S1 + (2 * b + 1) * (size_t)s->n1 * MJ;
    for (int f = 0; f < blk->nf; f++) {
        const int p0 = blk->path0 + f * blk->R;
        part[1 + f] += loss_rows(s, dist, ce, ct, blk->R, p0, nrm, grad ? w->GA : NULL);
        if (!grad) continue;
        order1_rows(s, f, S1e, w);
        favg_adjoint(s, blk, f, w->GA, w->GS);
        const jtfs_ffilt *ff = &s->fr[f];
        const jtfs_rows *rw = &blk->rows[f];
        for (int i = 0; i < rw->n; i++) {
            fftw_complex *Wi = w->W + i * MJ; /* becomes dL/dW */
            for (size_t m = 0; m < MJ; m++) {
                const double a = w->Sr[i * MJ + m], g = a > 0.0 ? w->GS[i * MJ + m] / a : 0.0;
                Wi[m][0] *= g, Wi[m][1] *= g;
            }
            for (int run = 0; run < 2; run++)
                for (int n1 = rw->t0[2 * i + run]; n1 < rw->t1[2 * i + run]; n1++) {
                    const double *h = ff->h[mod((rw->r[i] << ff->k) - n1, s->Nfr)];
                    double *g1 = w->G1 + (size_t)n1 * MJ;
                    for (size_t m = 0; m < MJ; m++) g1[m] += h[0] * Wi[m][0] + h[1] * Wi[m][1];
                }
        }
    }
    if (grad) memcpy(s->GS1 + b * (size_t)s->n1 * MJ, w->G1, sizeof(double) * (size_t)s->n1 * MJ);
}

/* ------------------------------------------------------------------ stage D: second order */
/* Y (real parts (n1max, M), then imaginary parts) = U1[n1] * psi2 at M points for n1 < n1max,
 * from the U1 spectra of signal q. The second order runs in single precision from here on
 * (the loss needs ~1e-4; its frequential taps, moduli and averaging are all of the cost),
 * every sum over a tile's points and beyond in double. */
static void time_filter_rows(const jtfs_t *s, const jtfs_block *b, size_t q, jtfs_work *w,
                             float *Y) {
    const jtfs_tfilt *g = &s->psi2[b->n2];
    const int M = b->M;
    float *Yi = Y + (size_t)b->n1max * (size_t)M;
    for (int n1 = 0; n1 < b->n1max; n1++) {
        const int M1 = s->psi1[n1].M;
        const fftw_complex *Uh = s->U1 + q * s->u1_len + s->u1_off[n1];
        memset(w->a, 0, sizeof(fftw_complex) * (size_t)M);
        for (int i = 0; i < g->nb; i++) {
            double re, im;
            half_at(Uh, M1, g->lo + i, &re, &im);
            const double v = g->v[i] / M1;
            const int m = mod(g->lo + i, M);
            w->a[m][0] += v * re, w->a[m][1] += v * im;
        }
        for (int m = 0; m < M; m++) w->af[m][0] = (float)w->a[m][0], w->af[m][1] = (float)w->a[m][1];
        fftwf_execute_dft(g->bwdf, w->af, w->bf);
        float *yr = Y + (size_t)n1 * (size_t)M, *yi = Yi + (size_t)n1 * (size_t)M;
        for (int m = 0; m < M; m++) yr[m] = w->bf[m][0], yi[m] = w->bf[m][1];
    }
}

/* The taps of filter f's live rows (|h| >= tau of its largest: the tap runs) into w->H, w->tn,
 * w->toff */
static void rows_taps(const jtfs_t *s, const jtfs_block *b, int f, jtfs_work *w) {
    const jtfs_ffilt *ff = &s->fr[f];
    const jtfs_rows *rw = &b->rows[f];
    int k = 0;
    for (int i = 0; i < rw->n; i++) {
        w->toff[i] = k;
        for (int run = 0; run < 2; run++)
            for (int n1 = rw->t0[2 * i + run]; n1 < rw->t1[2 * i + run]; n1++, k++) {
                const double *h = ff->h[mod((rw->r[i] << ff->k) - n1, s->Nfr)];
                w->tn[k] = n1, w->H[2 * k] = (float)h[0], w->H[2 * k + 1] = (float)h[1];
            }
    }
    w->toff[rw->n] = k;
}

/* The second order's kernels on one live row and one time tile of n <= JTFS_TILE points,
 * with AVX-512 (16 points per vector, four vectors in flight) or as plain loops (the
 * reference, same sums in another order). The taps are k0 .. k1 - 1 of w (rows_taps); Yr, Yi:
 * real and imaginary parts of the time-filtered rows, (n1max, M) each, read from offset t0. */
#if defined(__AVX512F__) && defined(__AVX512DQ__) && !defined(DDSP_NO_AVX512)
static inline __mmask16 tail_mask(int left) {
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

/* |V| of the row into va (n) */
static void row_modulus(const jtfs_work *w, int k0, int k1, const float *Yr, const float *Yi,
                        size_t M, size_t t0, int n, float *va) {
    for (int t = 0; t < n; t += 64) {
        __m512 r[4], q[4];
        __mmask16 mk[4];
        for (int j = 0; j < 4; j++) {
            r[j] = _mm512_setzero_ps(), q[j] = _mm512_setzero_ps();
            mk[j] = t + 16 * j < n ? tail_mask(n - t - 16 * j) : 0;
        }
        for (int k = k0; k < k1; k++) {
            const __m512 hr = _mm512_set1_ps(w->H[2 * k]), hi = _mm512_set1_ps(w->H[2 * k + 1]);
            const float *yr = Yr + (size_t)w->tn[k] * M + t0 + t;
            const float *yi = Yi + (size_t)w->tn[k] * M + t0 + t;
            for (int j = 0; j < 4; j++) {
                const __m512 a = _mm512_maskz_loadu_ps(mk[j], yr + 16 * j);
                const __m512 b = _mm512_maskz_loadu_ps(mk[j], yi + 16 * j);
                r[j] = _mm512_fnmadd_ps(hi, b, _mm512_fmadd_ps(hr, a, r[j]));
                q[j] = _mm512_fmadd_ps(hi, a, _mm512_fmadd_ps(hr, b, q[j]));
            }
        }
        for (int j = 0; j < 4; j++) {
            const __m512 m2 = _mm512_fmadd_ps(q[j], q[j], _mm512_mul_ps(r[j], r[j]));
            _mm512_mask_storeu_ps(va + t + 16 * j, mk[j], _mm512_sqrt_ps(m2));
        }
    }
}

/* S[m] += sum_t a[t] Kt[t][m] for m < kn (Kt: (n, kn rounded up to 16), zero padded): 16
 * outputs per vector, four points at a time into independent accumulators, each lane adding
 * its 32-point sums in double */
static void avg_tile(const float *a, const float *Kt, int n, int kn, double *S) {
    const int kp = (kn + 15) & ~15;
    for (int m0 = 0; m0 < kn; m0 += 16) {
        __m512d d0 = _mm512_setzero_pd(), d1 = _mm512_setzero_pd();
        for (int t = 0; t < n; t += 32) {
            __m512 c[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                           _mm512_setzero_ps()};
            const int te = t + 32 < n ? t + 32 : n;
            int u = t;
            for (; u + 4 <= te; u += 4)
                for (int j = 0; j < 4; j++)
                    c[j] = _mm512_fmadd_ps(_mm512_set1_ps(a[u + j]),
                                           _mm512_loadu_ps(Kt + (size_t)(u + j) * kp + m0), c[j]);
            for (; u < te; u++)
                c[0] = _mm512_fmadd_ps(_mm512_set1_ps(a[u]), _mm512_loadu_ps(Kt + (size_t)u * kp + m0),
                                       c[0]);
            const __m512 x = _mm512_add_ps(_mm512_add_ps(c[0], c[1]), _mm512_add_ps(c[2], c[3]));
            d0 = _mm512_add_pd(d0, _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
            d1 = _mm512_add_pd(d1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)));
        }
        double sd[16];
        _mm512_storeu_pd(sd, d0), _mm512_storeu_pd(sd + 8, d1);
        for (int l = 0; l < 16 && m0 + l < kn; l++) S[m0 + l] += sd[l];
    }
}

/* Adjoint of row_modulus then avg_tile: given G[m] = dL/dS[m] (m < kn) and K (kn, n), adds
 * conj(h) dL/dV to GYr, GYi (same layout as Yr, Yi) for the row's taps, V recomputed */
static void row_backward(const jtfs_work *w, int k0, int k1, const float *Yr, const float *Yi,
                         size_t M, size_t t0, int n, const float *K, int kn, const double *G,
                         float *GYr, float *GYi) {
    for (int t = 0; t < n; t += 64) {
        __m512 r[4], q[4], g[4];
        __mmask16 mk[4];
        for (int j = 0; j < 4; j++) {
            r[j] = _mm512_setzero_ps(), q[j] = _mm512_setzero_ps(), g[j] = _mm512_setzero_ps();
            mk[j] = t + 16 * j < n ? tail_mask(n - t - 16 * j) : 0;
        }
        for (int m = 0; m < kn; m++) {
            const __m512 gm = _mm512_set1_ps((float)G[m]);
            for (int j = 0; j < 4; j++)
                g[j] = _mm512_fmadd_ps(gm, _mm512_maskz_loadu_ps(mk[j], K + (size_t)m * n + t + 16 * j), g[j]);
        }
        for (int k = k0; k < k1; k++) {
            const __m512 hr = _mm512_set1_ps(w->H[2 * k]), hi = _mm512_set1_ps(w->H[2 * k + 1]);
            const float *yr = Yr + (size_t)w->tn[k] * M + t0 + t;
            const float *yi = Yi + (size_t)w->tn[k] * M + t0 + t;
            for (int j = 0; j < 4; j++) {
                const __m512 a = _mm512_maskz_loadu_ps(mk[j], yr + 16 * j);
                const __m512 b = _mm512_maskz_loadu_ps(mk[j], yi + 16 * j);
                r[j] = _mm512_fnmadd_ps(hi, b, _mm512_fmadd_ps(hr, a, r[j]));
                q[j] = _mm512_fmadd_ps(hi, a, _mm512_fmadd_ps(hr, b, q[j]));
            }
        }
        for (int j = 0; j < 4; j++) { /* d|v| = Re(conj(v / |v|) dv); 0 at v = 0 */
            const __m512 a = _mm512_sqrt_ps(_mm512_fmadd_ps(q[j], q[j], _mm512_mul_ps(r[j], r[j])));
            const __mmask16 nz = _mm512_cmp_ps_mask(a, _mm512_setzero_ps(), _CMP_GT_OQ);
            const __m512 c = _mm512_maskz_div_ps(nz, g[j], a);
            r[j] = _mm512_mul_ps(r[j], c), q[j] = _mm512_mul_ps(q[j], c);
        }
        for (int k = k0; k < k1; k++) { /* conj(h) dL/dV */
            const __m512 hr = _mm512_set1_ps(w->H[2 * k]), hi = _mm512_set1_ps(w->H[2 * k + 1]);
            float *gr = GYr + (size_t)w->tn[k] * M + t0 + t;
            float *gi = GYi + (size_t)w->tn[k] * M + t0 + t;
            for (int j = 0; j < 4; j++) {
                __m512 a = _mm512_maskz_loadu_ps(mk[j], gr + 16 * j);
                __m512 b = _mm512_maskz_loadu_ps(mk[j], gi + 16 * j);
                a = _mm512_fmadd_ps(hi, q[j], _mm512_fmadd_ps(hr, r[j], a));
                b = _mm512_fnmadd_ps(hi, r[j], _mm512_fmadd_ps(hr, q[j], b));
                _mm512_mask_storeu_ps(gr + 16 * j, mk[j], a);
                _mm512_mask_storeu_ps(gi + 16 * j, mk[j], b);
            }
        }
    }
}
#else
static void row_value(const jtfs_work *w, int k0, int k1, const float *Yr, const float *Yi,
                      size_t M, size_t o, float *re, float *im) {
    float ar = 0.0f, ai = 0.0f;
    for (int k = k0; k < k1; k++) {
        const float hr = w->H[2 * k], hi = w->H[2 * k + 1];
        const size_t p = (size_t)w->tn[k] * M + o;
        ar += hr * Yr[p] - hi * Yi[p], ai += hr * Yi[p] + hi * Yr[p];
    }
    *re = ar, *im = ai;
}

static void row_modulus(const jtfs_work *w, int k0, int k1, const float *Yr, const float *Yi,
                        size_t M, size_t t0, int n, float *va) {
    for (int t = 0; t < n; t++) {
        float re, im;
        row_value(w, k0, k1, Yr, Yi, M, t0 + (size_t)t, &re, &im);
        va[t] = sqrtf(re * re + im * im);
    }
}

static void avg_tile(const float *a, const float *Kt, int n, int kn, double *S) {
    const int kp = (kn + 15) & ~15;
    for (int m = 0; m < kn; m++) {
        double sum = 0.0;
        for (int t = 0; t < n; t++) sum += (double)a[t] * Kt[(size_t)t * kp + m];
        S[m] += sum;
    }
}

static void row_backward(const jtfs_work *w, int k0, int k1, const float *Yr, const float *Yi,
                         size_t M, size_t t0, int n, const float *K, int kn, const double *G,
                         float *GYr, float *GYi) {
    for (int t = 0; t < n; t++) {
        float g = 0.0f, re, im;
        for (int m = 0; m < kn; m++) g += (float)G[m] * K[(size_t)m * n + t];
        row_value(w, k0, k1, Yr, Yi, M, t0 + (size_t)t, &re, &im);
        const float a = sqrtf(re * re + im * im), c = a > 0.0f ? g / a : 0.0f;
        re *= c, im *= c;
        for (int k = k0; k < k1; k++) {
            const float hr = w->H[2 * k], hi = w->H[2 * k + 1];
            const size_t p = (size_t)w->tn[k] * M + t0 + (size_t)t;
            GYr[p] += hr * re + hi * im, GYi[p] += hr * im - hi * re;
        }
    }
}
#endif

/* Live rows of filter f over Y (the target's or the estimate's time-filtered rows): Sr (n, MJ)
 * = |V| averaged by phi_T at the kept times (0 at the others), V = the rows' taps times Y.
 * Tile by tile, so that V never leaves the cache; the averaging is the block's kernel K (the
 * low-pass bins of |V|'s M-point DFT, weighted by phi_T and sent to the kept times: the same
 * linear map as an FFT followed by lowpass(), restricted to the outputs that are kept). */
static void rows_forward(const jtfs_t *s, const jtfs_block *b, int f, const float *Y,
                         jtfs_work *w) {
    const int n = b->rows[f].n;
    const size_t M = (size_t)b->M, MJ = (size_t)s->MJ;
    const float *Yi = Y + (size_t)b->n1max * M;
    if (!n) return;
    rows_taps(s, b, f, w);
    memset(w->Sr, 0, sizeof(double) * (size_t)n * MJ);
    for (size_t t0 = 0, c = 0; t0 < M; t0 += JTFS_TILE, c++) {
        const int tl = M - t0 < JTFS_TILE ? (int)(M - t0) : JTFS_TILE;
        for (int i = 0; i < n; i++) {
            row_modulus(w, w->toff[i], w->toff[i + 1], Y, Yi, M, t0, tl, w->va);
            avg_tile(w->va, b->Kt + b->ktoff[c], tl, b->kn[c],
                     w->Sr + (size_t)i * MJ + s->i0 + b->klo[c]);
        }
    }
}

/* GY (real parts, then imaginary parts; (n1max, M) each) += adjoint of rows_forward at the
 * estimate's rows Ye given GS (n, MJ) = dL/dSr (read at the kept times); the taps are those
 * rows_forward left in w. V is recomputed tile by tile (cheaper than keeping it). */
static void rows_backward(const jtfs_t *s, const jtfs_block *b, int f, const float *Ye,
                          jtfs_work *w) {
    const int n = b->rows[f].n;
    const size_t M = (size_t)b->M, MJ = (size_t)s->MJ, half = (size_t)b->n1max * M;
    for (size_t t0 = 0, c = 0; t0 < M; t0 += JTFS_TILE, c++) {
        const int tl = M - t0 < JTFS_TILE ? (int)(M - t0) : JTFS_TILE;
        for (int i = 0; i < n; i++)
            row_backward(w, w->toff[i], w->toff[i + 1], Ye, Ye + half, M, t0, tl,
                         b->K + b->koff[c], b->kn[c], w->GS + (size_t)i * MJ + s->i0 + b->klo[c],
                         w->GY, w->GY + half);
    }
}

/* Second order of block bi for item b: coefficients of the nsig signals (2b, 2b+1); with two
 * signals the loss into part, and with grad the dL/d(U1 spectrum) partials of the block. */
static void order2_task(jtfs_t *s, int bi, size_t b, int nsig, int dist, double nrm, int grad,
                        jtfs_work *w, double *part) {
    const jtfs_block *blk = &s->blk[bi];
    const size_t M = (size_t)blk->M, np = (size_t)s->npath * (size_t)s->ntime;
    const size_t half = (size_t)blk->n1max * M;
    double *ct = s->coef + 2 * b * np, *ce = ct + np;
    time_filter_rows(s, blk, 2 * b, w, w->Y);
    if (nsig == 2) time_filter_rows(s, blk, 2 * b + 1, w, w->Ye);
    if (grad) memset(w->GY, 0, sizeof(float) * 2 * half);
    for (int f = 0; f < blk->nf; f++) {
        const int p0 = blk->path0 + f * blk->R;
        rows_forward(s, blk, f, w->Y, w);
        favg_forward(s, blk, f, w->Sr, w->A);
        keep(s, w->A, blk->R, p0, ct);
        if (nsig == 1) continue;
        rows_forward(s, blk, f, w->Ye, w); /* leaves this filter's taps for the backward */
        favg_forward(s, blk, f, w->Sr, w->A);
        keep(s, w->A, blk->R, p0, ce);
        part[2 + s->npos + f] += loss_rows(s, dist, ce, ct, blk->R, p0, nrm, grad ? w->GA : NULL);
        if (!grad || !blk->rows[f].n) continue;
        favg_adjoint(s, blk, f, w->GA, w->GS);
        rows_backward(s, blk, f, w->Ye, w);
    }
    if (!grad) return;
    const jtfs_tfilt *g = &s->psi2[blk->n2];
    for (int n1 = 0; n1 < blk->n1max; n1++) {
        const float *gr = w->GY + (size_t)n1 * M, *gi = gr + half;
        for (size_t m = 0; m < M; m++) w->af[m][0] = gr[m], w->af[m][1] = gi[m];
        fftwf_execute_dft(g->fwdf, w->af, w->bf); /* adjoint of the M-point inverse DFT */
        for (size_t m = 0; m < M; m++) w->b[m][0] = w->bf[m][0], w->b[m][1] = w->bf[m][1];
        fftw_complex *gu = s->gU + b * s->gU_len + blk->gU_off + (size_t)n1 * (size_t)blk->gb_n;
        memset(gu, 0, sizeof(fftw_complex) * (size_t)blk->gb_n);
        const double inv = 1.0 / s->psi1[n1].M;
        for (int i = 0; i < g->nb; i++) {
            const int k = g->lo + i, m = mod(k, (int)M);
            const double v = g->v[i] * inv;
            if (k >= 0) gu[k - blk->gb_lo][0] += v * w->b[m][0], gu[k - blk->gb_lo][1] += v * w->b[m][1];
            else gu[-k - blk->gb_lo][0] += v * w->b[m][0], gu[-k - blk->gb_lo][1] -= v * w->b[m][1];
        }
    }
}

/* ------------------------------------------------------------------ stages E, F: back to x */
static void first_backward(jtfs_t *s, size_t b, int l, jtfs_work *w) {
    const jtfs_tfilt *f = &s->psi1[l];
    const int M = f->M;
    memset(w->gh, 0, sizeof(fftw_complex) * ((size_t)M / 2 + 1));
    lowpass_adj(s, s->GS1 + (b * (size_t)s->n1 + (size_t)l) * (size_t)s->MJ, 1.0 / M, w, w->gh);
    for (int i = 1; i < s->nblk; i++) { /* blocks in index order: a fixed order */
        const jtfs_block *blk = &s->blk[i];
        if (l >= blk->n1max) continue;
        const fftw_complex *gu = s->gU + b * s->gU_len + blk->gU_off + (size_t)l * (size_t)blk->gb_n;
        for (int k = 0; k < blk->gb_n; k++)
            w->gh[blk->gb_lo + k][0] += gu[k][0], w->gh[blk->gb_lo + k][1] += gu[k][1];
    }
    r2c_adj(f, w->gh, w->r);
    first_z(s, l, s->X + (2 * b + 1) * ((size_t)s->P / 2 + 1), w);
    for (int m = 0; m < M; m++) {
        const double a = cabs2(w->b[m][0], w->b[m][1]), c = a > 0.0 ? w->r[m] / a : 0.0;
        w->a[m][0] = w->b[m][0] * c, w->a[m][1] = w->b[m][1] * c;
    }
    fftw_execute_dft(f->fwd, w->a, w->b);
    fftw_complex *g1 = s->g1 + b * s->g1_len + s->g1_off[l];
    for (int i = 0; i < f->nb; i++) {
        const double v = f->v[i] / s->P;
        const int m = mod(f->lo + i, M);
        g1[i][0] = v * w->b[m][0], g1[i][1] = v * w->b[m][1];
    }
}

static void input_backward(jtfs_t *s, size_t b, jtfs_work *w, float *grad) {
    const int P = s->P, K = P / 2 + 1;
    fftw_complex *gX = w->X;
    memset(gX, 0, sizeof(fftw_complex) * (size_t)K);
    const fftw_complex *g0 = s->GX0 + b * ((size_t)s->jphi + 1);
    for (int k = 0; k <= s->jphi; k++) gX[k][0] += g0[k][0], gX[k][1] += g0[k][1];
    for (int l = 0; l < s->n1; l++) { /* fixed order */
        const jtfs_tfilt *f = &s->psi1[l];
        const fftw_complex *g1 = s->g1 + b * s->g1_len + s->g1_off[l];
        for (int i = 0; i < f->nb; i++) {
            const int kk = mod(f->lo + i, P);
            if (kk <= P / 2) gX[kk][0] += g1[i][0], gX[kk][1] += g1[i][1];
            else gX[P - kk][0] += g1[i][0], gX[P - kk][1] -= g1[i][1];
        }
    }
    for (int k = 1; k < P / 2; k++) gX[k][0] *= 0.5, gX[k][1] *= 0.5;
    fftw_execute_dft_c2r(s->c2r_P, gX, w->xp);
    pad_adjoint(s, w->xp, grad + b * s->N);
}

/* ------------------------------------------------------------------ driver */
/* Coefficients of nsig signals per item (sig[0] the target, sig[1] the estimate); with two,
 * the per-band sums of D into bandsum (nbands) and, when grad is not NULL, the gradient of
 * weight * mean D w.r.t. the estimate. Returns the sum of D over everything. */
static double run(jtfs_t *s, const float *const sig[2], size_t B, int nsig, int dist,
                  double weight, float *grad, double *bandsum) {
    DDSP_ASSERT(B >= 1 && B <= s->max_batch, "jtfs batch %zu not in 1..%zu", B, s->max_batch);
    DDSP_ASSERT(dist == 1 || dist == 2, "jtfs distance %d", dist);
    const size_t N = s->N, K = (size_t)s->P / 2 + 1, MJ = (size_t)s->MJ, n1 = (size_t)s->n1;
    const size_t nb = (size_t)s->nblk, nbd = (size_t)s->nbands, nq = (size_t)nsig * B;
    const double nrm = weight / ((double)B * (double)s->npath * (double)s->ntime);
    const int gr = grad != NULL && nsig == 2;
    memset(s->part, 0, sizeof(double) * B * nb * nbd);
    const int nt = omp_get_max_threads() < s->nthreads ? omp_get_max_threads() : s->nthreads;
#pragma omp parallel num_threads(nt)
    {
        jtfs_work *w = &s->work[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 1)
        for (size_t t = 0; t < nq; t++) {
            const size_t b = t / (size_t)nsig, q = 2 * b + t % (size_t)nsig;
            spectrum(s, sig[t % (size_t)nsig] + b * N, w, s->X + q * K);
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t t = 0; t < nq * n1; t++) { /* low first-order rows (small M) last */
            const size_t qi = t % nq, b = qi / (size_t)nsig, q = 2 * b + qi % (size_t)nsig;
            const int l = (int)(t / nq);
            first_forward(s, l, s->X + q * K, w, s->U1 + q * s->u1_len + s->u1_off[l],
                          s->S1 + (q * n1 + (size_t)l) * MJ);
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t t = 0; t < nq; t++) {
            const size_t b = t / (size_t)nsig, q = 2 * b + t % (size_t)nsig;
            order01_forward(s, s->X + q * K, s->S1 + q * n1 * MJ, w,
                            s->coef + q * (size_t)s->npath * (size_t)s->ntime);
        }
        if (nsig == 2) {
#pragma omp for schedule(dynamic, 1)
            for (size_t b = 0; b < B; b++)
                order01_loss(s, b, dist, nrm, gr, w, s->part + b * nb * nbd);
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t t = 0; t < B * (nb - 1); t++) { /* heaviest blocks first */
            const size_t b = t % B;
            const int bi = s->order[t / B];
            order2_task(s, bi, b, nsig, dist, nrm, gr, w, s->part + (b * nb + (size_t)bi) * nbd);
        }
        if (gr) {
#pragma omp for schedule(dynamic, 1)
            for (size_t t = 0; t < B * n1; t++) first_backward(s, t % B, (int)(t / B), w);
#pragma omp for schedule(dynamic, 1)
            for (size_t b = 0; b < B; b++) input_backward(s, b, w, grad);
        }
    }
    double total = 0.0;
    if (bandsum) memset(bandsum, 0, sizeof(double) * nbd);
    for (size_t b = 0; b < B; b++)
        for (size_t i = 0; i < nb; i++)
            for (size_t k = 0; k < nbd; k++) {
                const double v = s->part[(b * nb + i) * nbd + k];
                if (bandsum) bandsum[k] += v;
            }
    if (bandsum)
        for (size_t k = 0; k < nbd; k++) total += bandsum[k];
    return total;
}

double jtfs_eval(jtfs_t *s, int dist, double weight, const float *target, const float *est,
                 size_t B, float *grad, double *bands) {
    const float *const sig[2] = {target, est};
    const double total = run(s, sig, B, 2, dist, weight, grad, s->bsum);
    if (bands)
        for (int k = 0; k < s->nbands; k++)
            bands[k] = s->bsum[k] / ((double)B * s->bcnt[k] * s->ntime);
    return weight * total / ((double)B * (double)s->npath * (double)s->ntime);
}

void jtfs_band_distances(jtfs_t *s, int dist, const float *target, const float *est, size_t B,
                         double *out) {
    jtfs_eval(s, dist, 1.0, target, est, B, NULL, out);
}

void jtfs_coeffs(jtfs_t *s, const float *x, double *S) {
    const float *const sig[2] = {x, NULL};
    run(s, sig, 1, 1, 1, 1.0, NULL, NULL);
    memcpy(S, s->coef, sizeof(double) * (size_t)s->npath * (size_t)s->ntime);
}

void jtfs_compare(jtfs_t *s, const float *a, const float *b, size_t B, int nb, double *cells,
                  size_t stride) {
    const size_t np = (size_t)s->npath, nt = (size_t)s->ntime;
    for (size_t i0 = 0; i0 < B; i0 += s->max_batch) { /* both signals' coefficients kept */
        const size_t Bi = B - i0 < s->max_batch ? B - i0 : s->max_batch;
        const float *const sig[2] = {a + i0 * s->N, b + i0 * s->N};
        run(s, sig, Bi, 2, 1, 1.0, NULL, NULL);
        for (size_t i = 0; i < Bi; i++) {
            const double *ca = s->coef + 2 * i * np * nt, *cb = ca + np * nt;
            double *cl = cells + (i0 + i) * stride;
            for (size_t p = 0; p < np; p++) {
                double *c = cl + (nb > 1 ? (size_t)s->path_band[p] : 0) * DDSP_CELL_N;
                for (size_t k = 0; k < nt; k++) {
                    const double x = ca[p * nt + k], y = cb[p * nt + k], r = x - y;
                    c[DDSP_CELL_ABS] += fabs(r), c[DDSP_CELL_SQ] += r * r;
                    c[DDSP_CELL_AB] += x * y, c[DDSP_CELL_AA] += x * x, c[DDSP_CELL_BB] += y * y;
                }
            }
        }
    }
}
