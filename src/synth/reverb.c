/* Trainable reverb (magenta ddsp.effects.Reverb, trainable=True, add_dry=True):
 * out = dry + (dry * ir)[:N] with ir[0] forced to 0 (core.fft_convolve with
 * delay_compensation 0, FFT size nr = next power of two >= N + L - 1, so the circular
 * convolution is linear).
 *
 * Backward, with DW = rfft(d_out):
 *   d_dry = d_out + irfft(DW conj(IR))[:N]           (correlation with the IR)
 *   d_ir[m] += irfft(sum_b DW_b conj(A_b))[m], 1 <= m < L   (A_b = rfft(dry_b))
 * Neither wraps around: the support of the products stays inside nr. The batch sum runs per
 * bin in example order, so it does not depend on the thread count. */
#include "synth_internal.h"

#include "ddsp/dsp.h"
#include "ddsp/util.h"

#include <string.h>

static size_t kr_stride(const ddsp_synth *s) {
    return ((size_t)s->kr + 7) / 8 * 8; /* 64-byte aligned rows for FFTW's new-array execute */
}

int synth_reverb_init(ddsp_synth *s) {
    s->L = s->c.reverb_length;
    s->nr = 16; /* at least 64 bytes per row: every row keeps the planning alignment */
    while ((size_t)s->nr < s->N + (size_t)s->L - 1)
        s->nr <<= 1;
    s->kr = s->nr / 2 + 1;
    const size_t ks = kr_stride(s), B = s->max_batch;
    s->rv_irs = ddsp_alloc(sizeof(fftwf_complex) * ks);
    s->rv_sum = ddsp_alloc(sizeof(fftwf_complex) * ks);
    s->rv_A = ddsp_alloc(sizeof(fftwf_complex) * ks * B);
    s->rv_T = ddsp_alloc(sizeof(fftwf_complex) * ks * B);
    s->rv_r = ddsp_alloc(sizeof(float) * (size_t)s->nr * (B + 1));
    if (!s->rv_irs || !s->rv_sum || !s->rv_A || !s->rv_T || !s->rv_r) return DDSP_ERR;
    s->rv_r2c = ddsp_fft_plan_r2c(s->nr, 1);
    s->rv_c2r = ddsp_fft_plan_c2r(s->nr, 1);
    return DDSP_OK;
}

void synth_reverb_free(ddsp_synth *s) {
    ddsp_free(s->rv_irs);
    ddsp_free(s->rv_sum);
    ddsp_free(s->rv_A);
    ddsp_free(s->rv_T);
    ddsp_free(s->rv_r);
}

static void cmul(fftwf_complex *a, const fftwf_complex *b, size_t n, int conj_b) {
    const float sg = conj_b ? -1.0f : 1.0f;
    for (size_t k = 0; k < n; k++) {
        const float br = b[k][0], bi = sg * b[k][1];
        const float re = a[k][0] * br - a[k][1] * bi;
        const float im = a[k][0] * bi + a[k][1] * br;
        a[k][0] = re;
        a[k][1] = im;
    }
}

void synth_reverb_forward(ddsp_synth *s, float *audio, const float *ir, size_t B) {
    const size_t N = s->N, nr = (size_t)s->nr, ks = kr_stride(s), L = (size_t)s->L;
    /* B + 1 independent transforms: each dry signal and the IR */
#pragma omp for schedule(static)
    for (long j = 0; j <= (long)B; j++) {
        float *r = s->rv_r + (size_t)j * nr;
        if ((size_t)j < B) {
            memcpy(r, audio + (size_t)j * N, sizeof(float) * N);
            memset(r + N, 0, sizeof(float) * (nr - N));
            fftwf_execute_dft_r2c(s->rv_r2c, r, s->rv_A + (size_t)j * ks);
        } else {
            r[0] = 0.0f;
            memcpy(r + 1, ir + 1, sizeof(float) * (L - 1));
            memset(r + L, 0, sizeof(float) * (nr - L));
            fftwf_execute_dft_r2c(s->rv_r2c, r, s->rv_irs);
            const float sc = 1.0f / (float)nr;
            for (size_t k = 0; k < (size_t)s->kr; k++) {
                s->rv_irs[k][0] *= sc;
                s->rv_irs[k][1] *= sc;
            }
        }
    }
#pragma omp for schedule(static)
    for (long b = 0; b < (long)B; b++) {
        fftwf_complex *T = s->rv_T + (size_t)b * ks;
        float *r = s->rv_r + (size_t)b * nr;
        memcpy(T, s->rv_A + (size_t)b * ks, sizeof(fftwf_complex) * (size_t)s->kr);
        cmul(T, s->rv_irs, (size_t)s->kr, 0);
        fftwf_execute_dft_c2r(s->rv_c2r, T, r);
        float *a = audio + (size_t)b * N;
        for (size_t i = 0; i < N; i++)
            a[i] += r[i];
    }
}

void synth_reverb_backward(ddsp_synth *s, float *d_dry, float *d_ir, const float *d_audio,
                           size_t B) {
    const size_t N = s->N, nr = (size_t)s->nr, ks = kr_stride(s), L = (size_t)s->L;
    const size_t kr = (size_t)s->kr;
#pragma omp for schedule(static)
    for (long b = 0; b < (long)B; b++) {
        float *r = s->rv_r + (size_t)b * nr;
        memcpy(r, d_audio + (size_t)b * N, sizeof(float) * N);
        memset(r + N, 0, sizeof(float) * (nr - N));
        fftwf_execute_dft_r2c(s->rv_r2c, r, s->rv_T + (size_t)b * ks);
    }
    if (d_ir) {
        enum { BLK = 4096 };
        const long nblk = (long)((kr + BLK - 1) / BLK);
#pragma omp for schedule(static)
        for (long blk = 0; blk < nblk; blk++) {
            const size_t k0 = (size_t)blk * BLK, k1 = k0 + BLK < kr ? k0 + BLK : kr;
            for (size_t k = k0; k < k1; k++) {
                float re = 0.0f, im = 0.0f;
                for (size_t b = 0; b < B; b++) { /* DW_b conj(A_b) */
                    const float *t = s->rv_T[b * ks + k], *a = s->rv_A[b * ks + k];
                    re += t[0] * a[0] + t[1] * a[1];
                    im += t[1] * a[0] - t[0] * a[1];
                }
                s->rv_sum[k][0] = re;
                s->rv_sum[k][1] = im;
            }
        }
    }
    const long njobs = (long)B + (d_ir ? 1 : 0);
#pragma omp for schedule(static)
    for (long j = 0; j < njobs; j++) {
        float *r = s->rv_r + (size_t)j * nr;
        if ((size_t)j < B) {
            fftwf_complex *T = s->rv_T + (size_t)j * ks;
            cmul(T, s->rv_irs, kr, 1);
            fftwf_execute_dft_c2r(s->rv_c2r, T, r);
            const float *d = d_audio + (size_t)j * N;
            float *o = d_dry + (size_t)j * N;
            for (size_t i = 0; i < N; i++)
                o[i] = d[i] + r[i];
        } else {
            fftwf_execute_dft_c2r(s->rv_c2r, s->rv_sum, r);
            const float sc = 1.0f / (float)nr;
            for (size_t m = 1; m < L; m++)
                d_ir[m] += r[m] * sc;
        }
    }
}
