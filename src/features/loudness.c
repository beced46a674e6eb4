/* A-weighted loudness per frame, as magenta ddsp v2 spectral_ops.compute_loudness:
 * centred frames (n_fft/2 zeros padded at both ends), periodic Hann, |rfft|^2 weighted by
 * librosa.A_weighting (clamped at -80 dB), averaged over bins, then core.power_to_db
 * (power floored at 10^(-range/10), minus ref_db, floored at -range_db). */
#include <math.h>
#include <string.h>

#include "ddsp/dsp.h"
#include "ddsp/features.h"
#include "ddsp/util.h"

enum { BLOCK = 128 }; /* frames per batched FFT (one plan per n_fft, whatever N is) */

size_t ddsp_feature_frames(size_t n_samples, int hop) {
    return (n_samples + (size_t)hop - 1) / (size_t)hop;
}

void ddsp_loudness_config_default(ddsp_loudness_config *c) {
    c->sample_rate = 16000;
    c->hop = 64;
    c->n_fft = 512;
    c->range_db = 120.0;
    c->ref_db = 0.0;
}

int ddsp_loudness_config_check(const ddsp_loudness_config *c) {
    if (c->sample_rate <= 0) return ddsp_error("loudness: sample rate %d must be > 0", c->sample_rate);
    if (c->hop <= 0) return ddsp_error("loudness: hop %d must be > 0", c->hop);
    if (c->n_fft < 2 || c->n_fft % 2 || c->n_fft > (1 << 16))
        return ddsp_error("loudness: n_fft %d must be even, 2..65536", c->n_fft);
    if (!(c->range_db > 0.0)) return ddsp_error("loudness: range %g dB must be > 0", c->range_db);
    return DDSP_OK;
}

/* librosa.A_weighting(f, min_db=-80) in dB (IEC 61672 constants as librosa). */
static double a_weighting_db(double f) {
    const double c0 = 12194.217 * 12194.217, c1 = 20.598997 * 20.598997;
    const double c2 = 107.65265 * 107.65265, c3 = 737.86223 * 737.86223;
    if (f <= 0.0) return -80.0;
    const double f2 = f * f;
    const double w = 2.0 + 20.0 * (log10(c0) + 2.0 * log10(f2) - log10(f2 + c0) - log10(f2 + c1) -
                                   0.5 * log10(f2 + c2) - 0.5 * log10(f2 + c3));
    return w > -80.0 ? w : -80.0;
}

void ddsp_loudness_weights(double *wk, int n_fft, int sample_rate) {
    for (int k = 0; k <= n_fft / 2; k++)
        wk[k] = pow(10.0, a_weighting_db((double)k * sample_rate / n_fft) / 10.0);
}

int ddsp_loudness(const ddsp_loudness_config *c, const float *x, size_t N, float *ld_db) {
    if (ddsp_loudness_config_check(c)) return DDSP_ERR;
    const int n = c->n_fft, K = n / 2 + 1, half = n / 2;
    const size_t F = ddsp_feature_frames(N, c->hop);
    float *win = ddsp_alloc(sizeof(float) * (size_t)n);
    float *wk = ddsp_alloc(sizeof(float) * (size_t)K);
    float *frames = ddsp_alloc(sizeof(float) * (size_t)n * BLOCK);
    fftwf_complex *spec = ddsp_alloc(sizeof(fftwf_complex) * (size_t)K * BLOCK);
    int rc = DDSP_OK;
    if (!win || !wk || !frames || !spec) {
        rc = ddsp_error("loudness: out of memory for %zu frames", F);
        goto cleanup;
    }
    ddsp_hann_periodic(win, n);
    for (int k = 0; k < K; k++)
        wk[k] = (float)pow(10.0, a_weighting_db((double)k * c->sample_rate / n) / 10.0);
    const fftwf_plan plan = ddsp_fft_plan_r2c(n, BLOCK);
    const double pmin = pow(10.0, -c->range_db / 10.0);
    for (size_t f0 = 0; f0 < F; f0 += BLOCK) {
        const size_t cnt = F - f0 < BLOCK ? F - f0 : BLOCK;
        memset(frames, 0, sizeof(float) * (size_t)n * BLOCK);
        for (size_t j = 0; j < cnt; j++) {
            /* frame centred on sample hop * (f0 + j): starts half a window earlier */
            const long start = (long)((f0 + j) * (size_t)c->hop) - half;
            float *fr = frames + j * (size_t)n;
            for (int m = 0; m < n; m++) {
                const long i = start + m;
                fr[m] = (i >= 0 && (size_t)i < N) ? x[i] * win[m] : 0.0f;
            }
        }
        fftwf_execute_dft_r2c(plan, frames, spec);
        for (size_t j = 0; j < cnt; j++) {
            const fftwf_complex *s = spec + j * (size_t)K;
            double p = 0.0;
            for (int k = 0; k < K; k++)
                p += ((double)s[k][0] * s[k][0] + (double)s[k][1] * s[k][1]) * wk[k];
            p /= K;
            double db = 10.0 * log10(p > pmin ? p : pmin) - c->ref_db;
            ld_db[f0 + j] = (float)(db > -c->range_db ? db : -c->range_db);
        }
    }
cleanup:
    ddsp_free(win);
    ddsp_free(wk);
    ddsp_free(frames);
    ddsp_free(spec);
    return rc;
}
