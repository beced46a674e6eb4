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

void ddsp_stft_frames_f64(double *frames, const float *x, size_t N, int n, int hop, size_t f0,
                          size_t nf, const double *w) {
    for (size_t j = 0; j < nf; j++) {
        size_t start = (f0 + j) * (size_t)hop;
        double *fr = frames + j * (size_t)n;
        size_t avail = start < N ? N - start : 0;
        size_t m_end = avail < (size_t)n ? avail : (size_t)n;
        const float *xs = x + start;
        for (size_t m = 0; m < m_end; m++) fr[m] = (double)xs[m] * w[m];
        for (size_t m = m_end; m < (size_t)n; m++) fr[m] = 0.0;
    }
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
