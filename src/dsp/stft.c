/* STFT framing (tf.signal.frame pad_end=True semantics), its adjoint, Hann window and a
 * one-shot magnitude STFT. See ddsp/dsp.h. */
#include "ddsp/dsp.h"
#include "ddsp/util.h"

#include <math.h>
#include <string.h>

size_t ddsp_stft_nframes(size_t n_samples, int hop) {
    return (n_samples + (size_t)hop - 1) / (size_t)hop;
}

void ddsp_hann_periodic(float *w, int n) {
    const double pi = 3.14159265358979323846;
    for (int m = 0; m < n; m++) w[m] = (float)(0.5 - 0.5 * cos(2.0 * pi * m / n));
}

void ddsp_stft_frames(float *frames, const float *x, size_t N, int n, int hop, size_t f0,
                      size_t nf, const float *w) {
    for (size_t j = 0; j < nf; j++) {
        size_t start = (f0 + j) * (size_t)hop;
        float *fr = frames + j * (size_t)n;
        size_t avail = start < N ? N - start : 0;
        size_t m_end = avail < (size_t)n ? avail : (size_t)n;
        const float *xs = x + start;
        for (size_t m = 0; m < m_end; m++) fr[m] = xs[m] * w[m];
        for (size_t m = m_end; m < (size_t)n; m++) fr[m] = 0.0f;
    }
}

void ddsp_hann_periodic_f64(double *w, int n) {
    const double pi = 3.14159265358979323846;
    for (int m = 0; m < n; m++) w[m] = 0.5 - 0.5 * cos(2.0 * pi * m / n);
}

void ddsp_stft_overlap_add(float *y, size_t N, const float *frames, int n, int hop, size_t f0,
                           size_t nf, const float *w) {
    for (size_t j = 0; j < nf; j++) {
        size_t start = (f0 + j) * (size_t)hop;
        if (start >= N) break;
        const float *fr = frames + j * (size_t)n;
        size_t avail = N - start;
        size_t m_end = avail < (size_t)n ? avail : (size_t)n;
        float *ys = y + start;
        for (size_t m = 0; m < m_end; m++) ys[m] += fr[m] * w[m];
    }
}

int ddsp_stft_mag(float *S, const float *x, size_t N, int n, int hop) {
    const size_t F = ddsp_stft_nframes(N, hop);
    const size_t K = (size_t)n / 2 + 1;
    float *w = ddsp_alloc(sizeof(float) * (size_t)n);
    float *fr = ddsp_alloc(sizeof(float) * (size_t)n);
    fftwf_complex *X = ddsp_alloc(sizeof(fftwf_complex) * K);
    if (!w || !fr || !X) {
        ddsp_free(w), ddsp_free(fr), ddsp_free(X);
        return ddsp_error("out of memory in STFT (n=%d)", n);
    }
    ddsp_hann_periodic(w, n);
    fftwf_plan p = ddsp_fft_plan_r2c(n, 1);
    for (size_t f = 0; f < F; f++) {
        ddsp_stft_frames(fr, x, N, n, hop, f, 1, w);
        fftwf_execute_dft_r2c(p, fr, X);
        for (size_t k = 0; k < K; k++)
            S[f * K + k] = sqrtf(X[k][0] * X[k][0] + X[k][1] * X[k][1]);
    }
    ddsp_free(w), ddsp_free(fr), ddsp_free(X);
    return DDSP_OK;
}

/* ------------------------------------------------------------------ frame pairs */
/* Frames j = 2p, 2p+1 lie wholly inside x when their last sample index is < N: then one
 * loop interleaves both (vectorises); otherwise a per-half loop handles the zero padding. */
#define FRAME_PAIRS_BODY(ZT, WT)                                                               \
    const size_t np = (nf + 1) / 2;                                                            \
    for (size_t p = 0; p < np; p++) {                                                          \
        WT *restrict zp = &z[p * (size_t)n][0];                                                \
        const size_t ja = 2 * p, sa = (f0 + ja) * (size_t)hop;                                 \
        if (ja + 1 < nf && sa + (size_t)hop + (size_t)n <= N) {                                \
            const float *restrict xa = x + sa, *restrict xb = x + sa + hop;                    \
            for (size_t m = 0; m < (size_t)n; m++) {                                           \
                zp[2 * m] = (WT)xa[m] * w[m];                                                  \
                zp[2 * m + 1] = (WT)xb[m] * w[m];                                              \
            }                                                                                  \
            continue;                                                                          \
        }                                                                                      \
        for (int h = 0; h < 2; h++) {                                                          \
            const size_t j = ja + (size_t)h, start = (f0 + j) * (size_t)hop;                   \
            size_t m_end = 0;                                                                  \
            if (j < nf && start < N) m_end = N - start < (size_t)n ? N - start : (size_t)n;    \
            for (size_t m = 0; m < m_end; m++) zp[2 * m + h] = (WT)x[start + m] * w[m];        \
            for (size_t m = m_end; m < (size_t)n; m++) zp[2 * m + h] = 0;                      \
        }                                                                                      \
    }

void ddsp_stft_frame_pairs(fftwf_complex *z, const float *x, size_t N, int n, int hop, size_t f0,
                           size_t nf, const float *w) {
    FRAME_PAIRS_BODY(fftwf_complex, float)
}

void ddsp_stft_frame_pairs_f64(fftw_complex *z, const float *x, size_t N, int n, int hop,
                               size_t f0, size_t nf, const double *w) {
    FRAME_PAIRS_BODY(fftw_complex, double)
}

/* Bin 0 pairs with itself; bins 1..n/2 read Z[n-k] backwards (vectorises as a reverse). */
#define PAIR_SPLIT_BODY(RT)                                                                    \
    const size_t K = (size_t)n / 2 + 1;                                                        \
    for (size_t j = 0; j < nf; j += 2) {                                                       \
        const RT *restrict Zp = Z[(j / 2) * (size_t)n];                                        \
        const RT *restrict Zr = Z[(j / 2) * (size_t)n + (size_t)n]; /* Zr[-2k] = Z[n-k] */    \
        RT *restrict Xa = X[j * K];                                                            \
        Xa[0] = Zp[0], Xa[1] = 0;                                                              \
        if (j + 1 < nf) {                                                                      \
            RT *restrict Xb = X[(j + 1) * K];                                                  \
            Xb[0] = Zp[1], Xb[1] = 0;                                                          \
            for (size_t k = 1; k < K; k++) {                                                   \
                const RT zr = Zp[2 * k], zi = Zp[2 * k + 1];                                   \
                const RT mr = Zr[-(ptrdiff_t)(2 * k)], mi = Zr[-(ptrdiff_t)(2 * k) + 1];       \
                Xa[2 * k] = (RT)0.5 * (zr + mr);                                               \
                Xa[2 * k + 1] = (RT)0.5 * (zi - mi);                                           \
                Xb[2 * k] = (RT)0.5 * (zi + mi);                                               \
                Xb[2 * k + 1] = (RT)0.5 * (mr - zr);                                           \
            }                                                                                  \
        } else {                                                                               \
            for (size_t k = 1; k < K; k++) {                                                   \
                const RT zr = Zp[2 * k], zi = Zp[2 * k + 1];                                   \
                const RT mr = Zr[-(ptrdiff_t)(2 * k)], mi = Zr[-(ptrdiff_t)(2 * k) + 1];       \
                Xa[2 * k] = (RT)0.5 * (zr + mr);                                               \
                Xa[2 * k + 1] = (RT)0.5 * (zi - mi);                                           \
            }                                                                                  \
        }                                                                                      \
    }

void ddsp_stft_pair_split(fftwf_complex *X, const fftwf_complex *Z, int n, size_t nf) {
    PAIR_SPLIT_BODY(float)
}

void ddsp_stft_pair_split_f64(fftw_complex *X, const fftw_complex *Z, int n, size_t nf) {
    PAIR_SPLIT_BODY(double)
}

void ddsp_stft_pair_join(fftwf_complex *Z, const fftwf_complex *U, int n, size_t nf) {
    const size_t K = (size_t)n / 2 + 1, half = (size_t)n / 2;
    for (size_t j = 0; j < nf; j += 2) {
        float *Zp = Z[(j / 2) * (size_t)n];
        const float *Ua = U[j * K];
        const float *Ub = j + 1 < nf ? U[(j + 1) * K] : NULL;
        if (Ub) {
            for (size_t k = 0; k <= half; k++) { /* Z[k] = U_a[k] + i U_b[k] */
                Zp[2 * k] = Ua[2 * k] - Ub[2 * k + 1];
                Zp[2 * k + 1] = Ua[2 * k + 1] + Ub[2 * k];
            }
            for (size_t k = half + 1; k < (size_t)n; k++) { /* conj U_a[n-k] + i conj U_b[n-k] */
                const size_t q = (size_t)n - k;
                Zp[2 * k] = Ua[2 * q] + Ub[2 * q + 1];
                Zp[2 * k + 1] = Ub[2 * q] - Ua[2 * q + 1];
            }
            /* c2r ignores the imaginary parts of bins 0 and n/2 */
            Zp[0] = Ua[0], Zp[1] = Ub[0];
            Zp[2 * half] = Ua[2 * half], Zp[2 * half + 1] = Ub[2 * half];
        } else {
            for (size_t k = 0; k <= half; k++) Zp[2 * k] = Ua[2 * k], Zp[2 * k + 1] = Ua[2 * k + 1];
            for (size_t k = half + 1; k < (size_t)n; k++) {
                const size_t q = (size_t)n - k;
                Zp[2 * k] = Ua[2 * q];
                Zp[2 * k + 1] = -Ua[2 * q + 1];
            }
            Zp[1] = 0.0f, Zp[2 * half + 1] = 0.0f;
        }
    }
}

void ddsp_stft_overlap_add_pairs(float *y, size_t N, const fftwf_complex *y_pairs, int n, int hop,
                                 size_t f0, size_t nf, const float *w) {
    for (size_t j = 0; j < nf; j++) {
        const size_t start = (f0 + j) * (size_t)hop;
        if (start >= N) break;
        const float *yp = y_pairs[(j / 2) * (size_t)n] + (j & 1);
        const size_t m_end = N - start < (size_t)n ? N - start : (size_t)n;
        float *ys = y + start;
        for (size_t m = 0; m < m_end; m++) ys[m] += yp[2 * m] * w[m];
    }
}
