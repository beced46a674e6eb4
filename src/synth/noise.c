/* Filtered noise (magenta ddsp.synths.FilteredNoise), forward and backward.
 *
 * Per frame f: mags = exp_sigmoid(raw - 5) (NB bands) -> zero-phase IR r = irfft(mags)
 * (n_ir = 2 (NB - 1) taps) -> causal linear-phase IR h[m] = hann[m] r[(m + n_ir/2) mod n_ir]
 * (core.frequency_impulse_response: window the zero-phase form, then fftshift) -> the frame's
 * hop noise samples convolved with h by FFTs of size nfft >= hop + n_ir - 1 (linear, not
 * circular) -> overlap-add at hop, crop from (n_ir - 1)/2 - 1 (core.fft_convolve with
 * crop_and_compensate_delay). The normalisations 1/n_ir (irfft) and 1/nfft (inverse FFT)
 * are folded into h.
 *
 * Backward is the exact adjoint: the output-gradient window of frame f gives
 * dh = c2r(DY conj(X_f)) (a correlation with the stored noise spectrum), the window and shift
 * are undone, and the adjoint of the Hermitian irfft is d mags_j = c_j Re(rfft(dr))_j with
 * c_0 = c_(n_ir/2) = 1 and 2 elsewhere.
 *
 * Frames are independent, so forward keeps each frame's filtered output (nfft samples) and a
 * separate pass sums the overlapping frames in a fixed order (no write races, same result for
 * any thread count). FFTs are FFTW single-precision plans from the dsp plan cache, run with
 * the new-array functions on 64-byte aligned per-item scratch. */
#include "synth_internal.h"

#include "ddsp/dsp.h"
#include "ddsp/util.h"

#include <stdlib.h>
#include <string.h>

static int round8(int n) {
    return (n + 7) / 8 * 8;
}

int synth_noise_init(ddsp_synth *s) {
    s->n_ir = 2 * (s->NB - 1);
    s->nfft = 1;
    while (s->nfft < s->hop + s->n_ir - 1)
        s->nfft <<= 1;
    s->kir = round8(s->n_ir / 2 + 1);
    s->kp = round8(s->nfft / 2 + 1);
    s->crop = (s->n_ir - 1) / 2 - 1;
    s->ys = (s->nfft + 15) / 16 * 16;
    const size_t BF = s->max_batch * s->F, nitems = s->max_batch * s->nch;
    s->win_ir = ddsp_alloc(sizeof(float) * (size_t)s->n_ir);
    s->dsig_mag = ddsp_alloc(sizeof(float) * BF * (size_t)s->NB);
    s->X = ddsp_alloc(sizeof(fftwf_complex) * BF * (size_t)s->kp);
    s->y = ddsp_alloc(sizeof(float) * BF * (size_t)s->ys);
    s->nw = calloc(nitems, sizeof *s->nw);
    if (!s->win_ir || !s->dsig_mag || !s->X || !s->y || !s->nw) return DDSP_ERR;
    for (size_t i = 0; i < nitems; i++) {
        synth_noise_work *w = &s->nw[i];
        w->cin = ddsp_alloc(sizeof(fftwf_complex) * (size_t)s->kir);
        w->r = ddsp_alloc(sizeof(float) * (size_t)s->n_ir);
        w->h = ddsp_alloc(sizeof(float) * (size_t)s->nfft);
        w->hc = ddsp_alloc(sizeof(fftwf_complex) * (size_t)s->kp);
        w->x = ddsp_alloc(sizeof(float) * (size_t)s->nfft);
        if (!w->cin || !w->r || !w->h || !w->hc || !w->x) return DDSP_ERR;
    }
    ddsp_hann_periodic(s->win_ir, s->n_ir);
    s->ir_c2r = ddsp_fft_plan_c2r(s->n_ir, 1);
    s->ir_r2c = ddsp_fft_plan_r2c(s->n_ir, 1);
    s->fr_r2c = ddsp_fft_plan_r2c(s->nfft, 1);
    s->fr_c2r = ddsp_fft_plan_c2r(s->nfft, 1);
    return DDSP_OK;
}

void synth_noise_free(ddsp_synth *s) {
    if (s->nw) {
        for (size_t i = 0; i < s->max_batch * s->nch; i++) {
            synth_noise_work *w = &s->nw[i];
            ddsp_free(w->cin);
            ddsp_free(w->r);
            ddsp_free(w->h);
            ddsp_free(w->hc);
            ddsp_free(w->x);
        }
        free(s->nw);
    }
    ddsp_free(s->win_ir);
    ddsp_free(s->dsig_mag);
    ddsp_free(s->X);
    ddsp_free(s->y);
}

/* w->h (nfft) <- scale * causal windowed IR, zero-padded, from the magnitudes in the real
 * parts of w->cin (NB bins, imaginary parts 0); scale 1/n_ir gives the true IR. Destroys
 * w->cin. */
void synth_noise_design_ir(const ddsp_synth *s, synth_noise_work *w, float scale) {
    const int n = s->n_ir, half = n / 2;
    fftwf_execute_dft_c2r(s->ir_c2r, w->cin, w->r);
    for (int m = 0; m < n; m++)
        w->h[m] = s->win_ir[m] * w->r[(m + half) % n] * scale;
    memset(w->h + n, 0, sizeof(float) * (size_t)(s->nfft - n));
}

void synth_noise_frames(ddsp_synth *s, synth_noise_work *w, const float *raw, const float *noise,
                        size_t b, size_t f_lo, size_t f_hi) {
    const int NB = s->NB, hop = s->hop, nfft = s->nfft, K = nfft / 2 + 1;
    const float scale = 1.0f / ((float)s->n_ir * (float)nfft);
    for (size_t f = f_lo; f < f_hi; f++) {
        const size_t bf = b * s->F + f;
        const float *r = raw + bf * s->C + 1 + s->H;
        float *ds = s->dsig_mag + bf * NB;
        float *cin = (float *)w->cin;
#pragma omp simd
        for (int j = 0; j < NB; j++) {
            double d;
            cin[2 * j] = (float)synth_exp_sigmoid((double)r[j] + SYNTH_NOISE_BIAS, &d);
            cin[2 * j + 1] = 0.0f;
            ds[j] = (float)d;
        }
        synth_noise_design_ir(s, w, scale);
        fftwf_execute_dft_r2c(s->fr_r2c, w->h, w->hc);
        memcpy(w->x, noise + b * s->N + f * (size_t)hop, sizeof(float) * (size_t)hop);
        memset(w->x + hop, 0, sizeof(float) * (size_t)(nfft - hop));
        fftwf_complex *X = s->X + bf * (size_t)s->kp;
        fftwf_execute_dft_r2c(s->fr_r2c, w->x, X);
        for (int k = 0; k < K; k++) {
            const float re = X[k][0] * w->hc[k][0] - X[k][1] * w->hc[k][1];
            const float im = X[k][0] * w->hc[k][1] + X[k][1] * w->hc[k][0];
            w->hc[k][0] = re;
            w->hc[k][1] = im;
        }
        fftwf_execute_dft_c2r(s->fr_c2r, w->hc, s->y + bf * (size_t)s->ys);
    }
}

/* For the output samples of frames [f_lo, f_hi): noise[b, i] = sum, in frame order, of the
 * filtered frames overlapping sample i + crop; audio[b, i] = harm[b, i] + noise[b, i]. */
void synth_noise_overlap_add(ddsp_synth *s, float *audio, size_t b, size_t f_lo, size_t f_hi) {
    const long hop = s->hop, nfft = s->nfft, F = (long)s->F, ys = s->ys;
    const float *y = s->y + b * s->F * (size_t)ys;
    for (long g = (long)f_lo; g < (long)f_hi; g++) {
        const size_t i0 = b * s->N + (size_t)(g * hop);
        float *out = s->noise + i0;
        memset(out, 0, sizeof(float) * (size_t)hop);
        const long p0 = g * hop + s->crop; /* position of out[0] in the uncropped signal */
        const long fl = p0 + 1 > nfft ? (p0 + 1 - nfft + hop - 1) / hop : 0;
        const long fh = (p0 + hop - 1) / hop < F - 1 ? (p0 + hop - 1) / hop : F - 1;
        for (long f = fl; f <= fh; f++) {
            const long off = p0 - f * hop; /* out[t] reads y_f[off + t] */
            const long t0 = off < 0 ? -off : 0, t1 = nfft - off < hop ? nfft - off : hop;
            const float *yf = y + f * ys + off;
            for (long t = t0; t < t1; t++)
                out[t] += yf[t];
        }
        const float *h = s->harm + i0;
        float *a = audio + i0;
        for (long t = 0; t < hop; t++)
            a[t] = h[t] + out[t];
    }
}

void synth_noise_backward_frames(ddsp_synth *s, synth_noise_work *w, float *d_raw, const float *d,
                                 size_t b, size_t f_lo, size_t f_hi) {
    const int NB = s->NB, n = s->n_ir, half = n / 2, nfft = s->nfft, K = nfft / 2 + 1;
    const long N = (long)s->N;
    const float scale = 1.0f / ((float)n * (float)nfft);
    const float *db = d + b * s->N;
    for (size_t f = f_lo; f < f_hi; f++) {
        const size_t bf = b * s->F + f;
        const long p0 = (long)f * s->hop - s->crop;
        for (int m = 0; m < nfft; m++) {
            const long p = p0 + m;
            w->x[m] = p >= 0 && p < N ? db[p] : 0.0f;
        }
        fftwf_execute_dft_r2c(s->fr_r2c, w->x, w->hc);
        const fftwf_complex *X = s->X + bf * (size_t)s->kp;
        for (int k = 0; k < K; k++) { /* DY conj(X) */
            const float re = w->hc[k][0] * X[k][0] + w->hc[k][1] * X[k][1];
            const float im = w->hc[k][1] * X[k][0] - w->hc[k][0] * X[k][1];
            w->hc[k][0] = re;
            w->hc[k][1] = im;
        }
        fftwf_execute_dft_c2r(s->fr_c2r, w->hc, w->h);
        for (int m = 0; m < n; m++)
            w->r[(m + half) % n] = s->win_ir[m] * w->h[m] * scale;
        fftwf_execute_dft_r2c(s->ir_r2c, w->r, w->cin);
        float *dr = d_raw + bf * s->C + 1 + s->H;
        const float *ds = s->dsig_mag + bf * NB;
        for (int j = 0; j < NB; j++) {
            const float c = j == 0 || j == half ? 1.0f : 2.0f;
            dr[j] = c * w->cin[j][0] * ds[j];
        }
    }
}
