/* The Jacobian of Φ∘g: exact J^T J from the synth's backward (rows of ∇g) and forward-mode
 * STFT magnitudes (∇Φ), decomposed with LAPACK (see ddsp/analysis.h). */
#include "ddsp/analysis.h"
#include "ddsp/dsp.h"
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
    j->n_in = n_in, j->k = k, j->n_controls = n_controls;
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
                        size_t f_end, const int *scales, int n_scales, double overlap, size_t k) {
    memset(j, 0, sizeof *j);
    if (!(f_begin < f_end && f_end <= F))
        return ddsp_error("frames %zu:%zu not inside 0:%zu", f_begin, f_end, F);
    const size_t C = ddsp_synth_n_controls(sc), hop = (size_t)sc->hop, N = F * hop;
    const size_t n_in = C * (f_end - f_begin);
    if (n_in > 20000)
        return ddsp_error("frames %zu:%zu give %zu controls (at most 20000: fewer frames)",
                          f_begin, f_end, n_in);
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
        ddsp_synth_backward(s, d_raw, NULL, d_audio, 1);
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
