/* Resampling to the model rate with libsoxr (one-shot, very high quality: 175 dB stop-band,
 * linear phase, so f0 and loudness are not shifted in time by the conversion). */
#include <soxr.h>

#include "ddsp/audio.h"
#include "ddsp/util.h"

int ddsp_audio_resample(ddsp_audio *a, int sample_rate, const char *what) {
    if (sample_rate <= 0) return ddsp_error("%s: target sample rate %d must be > 0", what, sample_rate);
    if (a->sample_rate == sample_rate || a->n == 0) {
        a->sample_rate = sample_rate;
        return DDSP_OK;
    }
    const double ratio = (double)sample_rate / a->sample_rate;
    const size_t n_out = (size_t)((double)a->n * ratio + 0.5);
    float *y = ddsp_alloc(sizeof(float) * (n_out ? n_out : 1));
    if (!y) return ddsp_error("%s: out of memory resampling %zu samples", what, a->n);
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_VHQ | SOXR_LINEAR_PHASE, 0);
    size_t done = 0;
    soxr_error_t err = soxr_oneshot(a->sample_rate, sample_rate, 1, a->x, a->n, NULL, y, n_out,
                                    &done, &io, &q, NULL);
    if (err) {
        ddsp_free(y);
        return ddsp_error("%s: resampling %d Hz -> %d Hz failed (%s)", what, a->sample_rate,
                          sample_rate, err);
    }
    ddsp_free(a->x);
    a->x = y;
    a->n = done; /* soxr_oneshot flushes: done == n_out unless rounding differs by one */
    a->sample_rate = sample_rate;
    return DDSP_OK;
}

int ddsp_audio_load(const char *path, int sample_rate, ddsp_audio *out) {
    if (ddsp_audio_read(path, out)) return DDSP_ERR;
    if (sample_rate > 0 && ddsp_audio_resample(out, sample_rate, path)) {
        ddsp_audio_free(out);
        return DDSP_ERR;
    }
    return DDSP_OK;
}
