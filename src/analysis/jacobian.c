/* The Jacobian of Φ∘g: exact J^T J from the synth's backward (rows of ∇g) and forward-mode
 * STFT magnitudes (∇Φ), decomposed with LAPACK (see ddsp/analysis.h). */
#include "ddsp/analysis.h"
#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* LAPACK (in OpenBLAS): symmetric eigen-decomposition, divide and conquer */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork, int *info);

int ddsp_jacobian_gram(double *G, size_t *n_out, const double *Jg, size_t r0, size_t n_region,
                       size_t n_in, const float *x, size_t N, const int *scales, int n_scales,
                       double overlap) {
    memset(G, 0, sizeof(double) * n_in * n_in);
    *n_out = 0;
    const size_t r1 = r0 + n_region;
    int rc = DDSP_ERR;
    double *fr = NULL, *win = NULL, *T = NULL, *J = NULL;
    fftw_complex *X = NULL, *TX = NULL;
    for (int s = 0; s < n_scales; s++) {
        const int n = scales[s], hop = (int)lround(n * (1.0 - overlap));
        const size_t K = (size_t)n / 2 + 1, F = ddsp_stft_nframes(N, hop);
        win = ddsp_alloc(sizeof(double) * (size_t)n);
        fr = ddsp_alloc(sizeof(double) * (size_t)n);
        X = ddsp_alloc(sizeof(fftw_complex) * K);
        T = ddsp_alloc(sizeof(double) * (size_t)n * n_in);   /* (n_in, n) tangent frames */
        TX = ddsp_alloc(sizeof(fftw_complex) * K * n_in);     /* (n_in, K) their spectra */
        J = ddsp_alloc(sizeof(double) * K * n_in);            /* (K, n_in) rows of J */
        if (!win || !fr || !X || !T || !TX || !J) {
            ddsp_error("out of memory for the Jacobian at scale %d (%zu controls)", n, n_in);
            goto done;
        }
        ddsp_hann_periodic_f64(win, n);
        fftw_plan p1 = ddsp_fft_plan_r2c_f64(n, 1), pm = ddsp_fft_plan_r2c_f64(n, (int)n_in);
        for (size_t f = 0; f < F; f++) {
            const size_t start = f * (size_t)hop;
            if (start >= r1 || start + (size_t)n <= r0) continue; /* frame misses the region */
            for (int m = 0; m < n; m++)
                fr[m] = start + (size_t)m < N ? (double)x[start + (size_t)m] * win[m] : 0.0;
            fftw_execute_dft_r2c(p1, fr, X);
            memset(T, 0, sizeof(double) * (size_t)n * n_in);
            for (int m = 0; m < n; m++) {
                const size_t i = start + (size_t)m;
                if (i < r0 || i >= r1 || i >= N) continue;
                const double *row = Jg + (i - r0) * n_in;
                for (size_t c = 0; c < n_in; c++) T[c * (size_t)n + (size_t)m] = row[c] * win[m];
            }
            fftw_execute_dft_r2c(pm, T, TX);
            for (size_t k = 0; k < K; k++) {
                const double a = hypot(X[k][0], X[k][1]);
                const double ur = a > 0 ? X[k][0] / a : 0.0, ui = a > 0 ? X[k][1] / a : 0.0;
                double *jr = J + k * n_in;
                for (size_t c = 0; c < n_in; c++)
                    jr[c] = ur * TX[c * K + k][0] + ui * TX[c * K + k][1];
            }
            /* G += J^T J (upper triangle; mirrored at the end) */
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)n_in, (int)K, 1.0, J,
                        (int)n_in, 1.0, G, (int)n_in);
            *n_out += K;
        }
        ddsp_free(win), ddsp_free(fr), ddsp_free(X), ddsp_free(T), ddsp_free(TX), ddsp_free(J);
        win = fr = T = J = NULL, X = TX = NULL;
    }
    for (size_t a = 0; a < n_in; a++)
        for (size_t b = 0; b < a; b++) G[a * n_in + b] = G[b * n_in + a];
    rc = DDSP_OK;
done:
    ddsp_free(win), ddsp_free(fr), ddsp_free(X), ddsp_free(T), ddsp_free(TX), ddsp_free(J);
    return rc;
}

void ddsp_jacobian_free(ddsp_jacobian *j) {
    if (!j) return;
    free(j->sigma), free(j->V), free(j->null_share);
    memset(j, 0, sizeof *j);
}

int ddsp_jacobian_decompose(ddsp_jacobian *j, double *G, size_t n_in, size_t n_controls,
                            size_t k) {
    memset(j, 0, sizeof *j);
    if (n_in == 0 || n_controls == 0 || n_in % n_controls)
        return ddsp_error("Jacobian: %zu inputs are not whole frames of %zu controls", n_in,
                          n_controls);
    if (n_in > 20000) return ddsp_error("Jacobian: %zu controls is too many (at most 20000)", n_in);
    if (k > n_in) k = n_in;
    const int n = (int)n_in;
    int info = 0, lwork = -1, liwork = -1, iwq = 0;
    double wq = 0.0, *w = malloc(sizeof(double) * n_in);
    j->sigma = malloc(sizeof(double) * n_in);
    j->V = malloc(sizeof(double) * (k ? k : 1) * n_in);
    j->null_share = calloc(n_controls, sizeof(double));
    if (!w || !j->sigma || !j->V || !j->null_share) {
        free(w);
        ddsp_jacobian_free(j);
        return ddsp_error("Jacobian: out of memory (%zu controls)", n_in);
    }
    /* G is symmetric: row-major = column-major; eigenvectors come back as columns of the
     * column-major matrix, i.e. rows of G as we index it */
    dsyevd_("V", "U", &n, G, &n, w, &wq, &lwork, &iwq, &liwork, &info);
    lwork = (int)wq, liwork = iwq;
    double *work = malloc(sizeof(double) * (size_t)(lwork > 1 ? lwork : 1));
    int *iwork = malloc(sizeof(int) * (size_t)(liwork > 1 ? liwork : 1));
    if (!work || !iwork) {
        free(w), free(work), free(iwork);
        ddsp_jacobian_free(j);
        return ddsp_error("Jacobian: out of memory for LAPACK workspace");
    }
    dsyevd_("V", "U", &n, G, &n, w, work, &lwork, iwork, &liwork, &info);
    free(work), free(iwork);
    if (info != 0) {
        free(w);
        ddsp_jacobian_free(j);
        return ddsp_error("Jacobian: LAPACK dsyevd failed (info %d)", info);
    }
    j->n_in = n_in, j->k = k, j->n_sigma = n_in, j->n_controls = n_controls;
    for (size_t i = 0; i < n_in; i++) { /* ascending eigenvalues -> descending sigma */
        const double lam = w[n_in - 1 - i];
        j->sigma[i] = lam > 0 ? sqrt(lam) : 0.0;
    }
    for (size_t r = 0; r < k; r++) memcpy(j->V + r * n_in, G + (n_in - 1 - r) * n_in,
                                          sizeof(double) * n_in);
    const double smax = j->sigma[0], tol = 1e-3 * smax;
    double tot = 0.0, h = 0.0;
    for (size_t i = 0; i < n_in; i++) {
        j->rank_1e3 += j->sigma[i] > tol;
        tot += j->sigma[i];
    }
    for (size_t i = 0; i < n_in && tot > 0; i++)
        if (j->sigma[i] > 0) h -= j->sigma[i] / tot * log(j->sigma[i] / tot);
    j->entropy_rank = tot > 0 ? exp(h) : 0.0;
    /* near-null space: eigenvectors with sigma <= tol (ascending order: the first ones) */
    const size_t frames = n_in / n_controls;
    for (size_t e = 0; e < n_in; e++) {
        const double lam = w[e], sg = lam > 0 ? sqrt(lam) : 0.0;
        if (sg > tol) break;
        const double *v = G + e * n_in;
        for (size_t q = 0; q < n_in; q++) j->null_share[q % n_controls] += v[q] * v[q];
    }
    for (size_t c = 0; c < n_controls; c++) j->null_share[c] /= (double)frames;
    free(w);
    return DDSP_OK;
}

int ddsp_jacobian_synth(ddsp_jacobian *j, const ddsp_synth_config *sc, const float *raw,
                        const float *f0_hz, const float *noise, size_t F, size_t f_begin,
                        size_t f_end, const int *scales, int n_scales, double overlap, size_t k,
                        ddsp_jacobian_method method) {
    memset(j, 0, sizeof *j);
    if (!(f_begin < f_end && f_end <= F))
        return ddsp_error("frames %zu:%zu not inside 0:%zu", f_begin, f_end, F);
    const size_t C = ddsp_synth_n_controls(sc), hop = (size_t)sc->hop, N = F * hop;
    const size_t n_in = C * (f_end - f_begin);
    const size_t limit = method == DDSP_JACOBIAN_DENSE ? 20000 : 200000;
    if (n_in > limit)
        return ddsp_error("frames %zu:%zu give %zu controls (at most %zu%s: fewer frames)",
                          f_begin, f_end, n_in, limit,
                          method == DDSP_JACOBIAN_DENSE ? " for the dense method" : "");
    ddsp_synth *s = ddsp_synth_init(sc, 1, F);
    if (!s) return DDSP_ERR;
    int rc = DDSP_ERR;
    /* the samples the frames can reach: the crossfade spans a frame on each side, the noise
     * filter's IR and crop a few more; rows outside turn out zero and are trimmed */
    const size_t pad = 4 * hop + 2 * (size_t)sc->n_noise_bands;
    const size_t a = f_begin * hop > pad ? f_begin * hop - pad : 0;
    const size_t b = f_end * hop + pad < N ? f_end * hop + pad : N;
    float *audio = ddsp_alloc(sizeof(float) * N), *d_audio = ddsp_alloc(sizeof(float) * N);
    float *d_raw = ddsp_alloc(sizeof(float) * F * C);
    double *Jg = ddsp_alloc(sizeof(double) * (b - a) * n_in), *G = NULL;
    if (!audio || !d_audio || !d_raw || !Jg) {
        ddsp_error("out of memory for the synth Jacobian (%zu x %zu)", b - a, n_in);
        goto done;
    }
    ddsp_synth_forward(s, audio, raw, f0_hz, noise, NULL, NULL, 1);
    size_t lo = b, hi = a;
    for (size_t i = a; i < b; i++) { /* row i of ∇g: the backward of the unit vector e_i */
        d_audio[i] = 1.0f;
        if (sc->reverb) ddsp_synth_backward(s, d_raw, NULL, d_audio, 1);
        else ddsp_synth_backward_window(s, d_raw, d_audio, 0, f_begin, f_end); /* same rows */
        d_audio[i] = 0.0f;
        double *row = Jg + (i - a) * n_in;
        int nz = 0;
        for (size_t q = 0; q < n_in; q++) {
            row[q] = d_raw[f_begin * C + q];
            nz |= row[q] != 0.0;
        }
        if (nz) lo = i < lo ? i : lo, hi = i + 1 > hi ? i + 1 : hi;
    }
    if (hi <= lo) {
        ddsp_error("frames %zu:%zu do not change the audio at all", f_begin, f_end);
        goto done;
    }
    if (method == DDSP_JACOBIAN_RANDOMIZED) {
        if (ddsp_jacobian_randomized(j, Jg + (lo - a) * n_in, lo, hi - lo, n_in, C, audio, N,
                                     scales, n_scales, overlap, k, 8, 0x5eedULL))
            goto done;
        j->region[0] = lo, j->region[1] = hi;
        rc = DDSP_OK;
        goto done;
    }
    if (!(G = ddsp_alloc(sizeof(double) * n_in * n_in))) {
        ddsp_error("out of memory for J^T J (%zu x %zu)", n_in, n_in);
        goto done;
    }
    size_t n_out = 0;
    if (ddsp_jacobian_gram(G, &n_out, Jg + (lo - a) * n_in, lo, hi - lo, n_in, audio, N, scales,
                           n_scales, overlap))
        goto done;
    if (ddsp_jacobian_decompose(j, G, n_in, C, k)) goto done;
    j->n_out = n_out;
    j->region[0] = lo, j->region[1] = hi;
    rc = DDSP_OK;
done:
    ddsp_synth_free(s);
    ddsp_free(audio), ddsp_free(d_audio), ddsp_free(d_raw), ddsp_free(Jg), ddsp_free(G);
    return rc;
}

/* ------------------------------------------------------------------ matrix-free J
 * J = ∇Φ(x) Jg as an operator, without J^T J: for every scale, the frames that meet the
 * region and the unit phasors u = X/|X| of x's spectrum there (0 where |X| = 0). Forward
 * mode: (J v)_k = Re(conj(u_k) FFT(w · Jg v)_k); its adjoint: c2r of y_k u_k (interior bins
 * halved: the adjoint of r2c), times w, then Jg^T. */
typedef struct {
    int n, hop, K;
    size_t nf;       /* frames that meet the region */
    size_t *start;   /* (nf) their first samples */
    double *win;     /* (n) */
    double *u;       /* (nf, K, 2) phasors */
    double *fr;      /* (n) scratch */
    fftw_complex *X; /* (K) scratch */
} jscale_t;

typedef struct {
    int S;
    jscale_t sc[DDSP_MSS_MAX_SCALES];
    const double *Jg; /* (nr, n_in) */
    size_t r0, nr, n_in, n_out;
    size_t lmax;      /* most vectors per product */
    double *t;        /* (lmax, nr) region samples, one column per vector */
} jop_t;

static void jop_free(jop_t *op) {
    for (int s = 0; s < op->S; s++) {
        jscale_t *c = &op->sc[s];
        free(c->start), ddsp_free(c->win), ddsp_free(c->u), ddsp_free(c->fr), ddsp_free(c->X);
    }
    ddsp_free(op->t);
}

static int jop_init(jop_t *op, const double *Jg, size_t r0, size_t nr, size_t n_in,
                    const float *x, size_t N, const int *scales, int n_scales, double overlap,
                    size_t lmax) {
    memset(op, 0, sizeof *op);
    op->S = n_scales, op->Jg = Jg, op->r0 = r0, op->nr = nr, op->n_in = n_in, op->lmax = lmax;
    if (!(op->t = ddsp_alloc(sizeof(double) * nr * lmax))) goto oom;
    for (int s = 0; s < n_scales; s++) {
        jscale_t *c = &op->sc[s];
        c->n = scales[s], c->hop = (int)lround(c->n * (1.0 - overlap)), c->K = c->n / 2 + 1;
        const size_t F = ddsp_stft_nframes(N, c->hop), n = (size_t)c->n, K = (size_t)c->K;
        c->start = malloc(sizeof(size_t) * F);
        c->win = ddsp_alloc(sizeof(double) * n);
        c->fr = ddsp_alloc(sizeof(double) * n);
        c->X = ddsp_alloc(sizeof(fftw_complex) * K);
        if (!c->start || !c->win || !c->fr || !c->X) goto oom;
        for (size_t f = 0; f < F; f++) {
            const size_t st = f * (size_t)c->hop;
            if (st < r0 + nr && st + n > r0) c->start[c->nf++] = st;
        }
        if (!(c->u = ddsp_alloc(sizeof(double) * 2 * K * (c->nf ? c->nf : 1)))) goto oom;
        ddsp_hann_periodic_f64(c->win, c->n);
        const fftw_plan p = ddsp_fft_plan_r2c_f64(c->n, 1);
        for (size_t f = 0; f < c->nf; f++) {
            for (size_t m = 0; m < n; m++) {
                const size_t i = c->start[f] + m;
                c->fr[m] = i < N ? (double)x[i] * c->win[m] : 0.0;
            }
            fftw_execute_dft_r2c(p, c->fr, c->X);
            for (size_t k = 0; k < K; k++) {
                const double a = hypot(c->X[k][0], c->X[k][1]);
                c->u[2 * (f * K + k)] = a > 0 ? c->X[k][0] / a : 0.0;
                c->u[2 * (f * K + k) + 1] = a > 0 ? c->X[k][1] / a : 0.0;
            }
        }
        op->n_out += c->nf * K;
    }
    return DDSP_OK;
oom:
    jop_free(op);
    return ddsp_error("out of memory for the Jacobian operator (%zu controls)", n_in);
}

/* y (n_out) = the forward-mode STFT magnitudes of the region tangent t (nr) */
static void stft_tangent(jop_t *op, const double *t, double *y) {
    for (int s = 0; s < op->S; s++) {
        jscale_t *c = &op->sc[s];
        const size_t n = (size_t)c->n, K = (size_t)c->K;
        const fftw_plan p = ddsp_fft_plan_r2c_f64(c->n, 1);
        for (size_t f = 0; f < c->nf; f++) {
            for (size_t m = 0; m < n; m++) {
                const size_t i = c->start[f] + m;
                c->fr[m] = i >= op->r0 && i < op->r0 + op->nr ? t[i - op->r0] * c->win[m] : 0.0;
            }
            fftw_execute_dft_r2c(p, c->fr, c->X);
            const double *u = c->u + 2 * f * K;
            for (size_t k = 0; k < K; k++) *y++ = u[2 * k] * c->X[k][0] + u[2 * k + 1] * c->X[k][1];
        }
    }
}

/* Y (l, n_out) = J V for V (l, n_in), one vector per row. Jg is read once for all l (one
 * dgemm): for large spans it is gigabytes, and a product per vector was memory-bound. */
static void jop_apply(jop_t *op, const double *V, double *Y, size_t l) {
    /* T (l, nr) = V Jg^T */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)l, (int)op->nr, (int)op->n_in, 1.0,
                V, (int)op->n_in, op->Jg, (int)op->n_in, 0.0, op->t, (int)op->nr);
    for (size_t c = 0; c < l; c++) stft_tangent(op, op->t + c * op->nr, Y + c * op->n_out);
}

/* t (nr) = the adjoint of stft_tangent applied to y (n_out) */
static void stft_tangent_t(jop_t *op, const double *y, double *t) {
    memset(t, 0, sizeof(double) * op->nr);
    for (int s = 0; s < op->S; s++) {
        jscale_t *c = &op->sc[s];
        const size_t n = (size_t)c->n, K = (size_t)c->K;
        const fftw_plan p = ddsp_fft_plan_c2r_f64(c->n, 1);
        for (size_t f = 0; f < c->nf; f++) {
            const double *u = c->u + 2 * f * K;
            for (size_t k = 0; k < K; k++) {
                const double h = (k == 0 || k == K - 1) ? 1.0 : 0.5;
                c->X[k][0] = h * y[k] * u[2 * k];
                c->X[k][1] = h * y[k] * u[2 * k + 1];
            }
            y += K;
            fftw_execute_dft_c2r(p, c->X, c->fr);
            for (size_t m = 0; m < n; m++) {
                const size_t i = c->start[f] + m;
                if (i >= op->r0 && i < op->r0 + op->nr) t[i - op->r0] += c->win[m] * c->fr[m];
            }
        }
    }
}

/* V (l, n_in) = (J^T Y)^T for Y (l, n_out), one vector per row */
static void jop_apply_t(jop_t *op, const double *Y, double *V, size_t l) {
    for (size_t c = 0; c < l; c++) stft_tangent_t(op, Y + c * op->n_out, op->t + c * op->nr);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)l, (int)op->n_in, (int)op->nr,
                1.0, op->t, (int)op->nr, op->Jg, (int)op->n_in, 0.0, V, (int)op->n_in);
}

/* Orthonormalise the l columns of A (column c at A + c * m) in place: Gram-Schmidt twice
 * ("twice is enough"); a column that vanishes stays 0. */
static void orthonormalise(double *A, size_t m, size_t l) {
    for (size_t c = 0; c < l; c++) {
        double *a = A + c * m;
        const double n0 = cblas_dnrm2((int)m, a, 1);
        for (int pass = 0; pass < 2; pass++)
            for (size_t d = 0; d < c; d++) {
                const double *q = A + d * m;
                cblas_daxpy((int)m, -cblas_ddot((int)m, q, 1, a, 1), q, 1, a, 1);
            }
        const double nrm = cblas_dnrm2((int)m, a, 1);
        if (nrm > 1e-12 * n0 && nrm > 0.0) cblas_dscal((int)m, 1.0 / nrm, a, 1);
        else memset(a, 0, sizeof(double) * m);
    }
}

/* LAPACK (in OpenBLAS): SVD of a general matrix */
void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
             const int *lda, double *s, double *u, const int *ldu, double *vt, const int *ldvt,
             double *work, const int *lwork, int *info);

int ddsp_jacobian_randomized(ddsp_jacobian *j, const double *Jg, size_t r0, size_t n_region,
                             size_t n_in, size_t n_controls, const float *x, size_t N,
                             const int *scales, int n_scales, double overlap, size_t k,
                             int power, uint64_t seed) {
    memset(j, 0, sizeof *j);
    if (k == 0 || n_in == 0) return ddsp_error("randomized SVD: needs k >= 1 (got %zu)", k);
    if (k > n_in) k = n_in;
    /* oversampling by k + 10, not the customary 10: the top of a synth's spectrum is flat
     * (neighbouring sigma a few % apart), and convergence goes as (sigma_l / sigma_k)^(2q) */
    const size_t l = 2 * k + 10 < n_in ? 2 * k + 10 : n_in;
    jop_t op;
    if (jop_init(&op, Jg, r0, n_region, n_in, x, N, scales, n_scales, overlap, l))
        return DDSP_ERR;
    const size_t m = op.n_out;
    int rc = DDSP_ERR, info = 0;
    double *Z = malloc(sizeof(double) * n_in * l), *Y = malloc(sizeof(double) * m * l);
    double *s = malloc(sizeof(double) * l), *U = malloc(sizeof(double) * n_in * l);
    double *work = NULL;
    if (!Z || !Y || !s || !U) {
        ddsp_error("randomized SVD: out of memory (%zu x %zu)", m, l);
        goto done;
    }
    const uint64_t key = ddsp_rng_key(seed, 0x4a41434fULL, 0);
    for (size_t i = 0; i < n_in * l; i++) Z[i] = ddsp_rng_normal(key, i);
    jop_apply(&op, Z, Y, l);
    orthonormalise(Y, m, l);
    for (int it = 0; it < power; it++) { /* (J J^T)^power J Omega, re-orthonormalised */
        jop_apply_t(&op, Y, Z, l);
        orthonormalise(Z, n_in, l);
        jop_apply(&op, Z, Y, l);
        orthonormalise(Y, m, l);
    }
    /* B = Q^T J (l x n_in); Z = B^T column-major (n_in x l) = J^T Q */
    jop_apply_t(&op, Y, Z, l);
    /* B^T = U S W^T: the columns of U are the right singular vectors of B, hence of J */
    const int mi = (int)n_in, ni = (int)l, one = 1;
    int lwork = -1;
    double wq = 0.0, dummy = 0.0;
    dgesvd_("S", "N", &mi, &ni, Z, &mi, s, U, &mi, &dummy, &one, &wq, &lwork, &info);
    lwork = (int)wq;
    if (!(work = malloc(sizeof(double) * (size_t)(lwork > 1 ? lwork : 1)))) {
        ddsp_error("randomized SVD: out of memory for LAPACK workspace");
        goto done;
    }
    dgesvd_("S", "N", &mi, &ni, Z, &mi, s, U, &mi, &dummy, &one, work, &lwork, &info);
    if (info != 0) {
        ddsp_error("randomized SVD: LAPACK dgesvd failed (info %d)", info);
        goto done;
    }
    j->sigma = malloc(sizeof(double) * k);
    j->V = malloc(sizeof(double) * k * n_in);
    if (!j->sigma || !j->V) {
        ddsp_error("randomized SVD: out of memory");
        goto done;
    }
    memcpy(j->sigma, s, sizeof(double) * k);
    memcpy(j->V, U, sizeof(double) * k * n_in); /* column c of U = row c of V */
    j->n_in = n_in, j->k = k, j->n_sigma = k, j->n_controls = n_controls, j->n_out = m;
    j->entropy_rank = NAN;
    rc = DDSP_OK;
done:
    if (rc) ddsp_jacobian_free(j);
    jop_free(&op);
    free(Z), free(Y), free(s), free(U), free(work);
    return rc;
}
