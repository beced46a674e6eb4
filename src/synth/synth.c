/* The synthesizer: configuration, allocation, and the forward/backward passes that run the
 * harmonic (harmonic.c), noise (noise.c) and reverb (reverb.c) kernels over OpenMP work
 * items. See ddsp/synth.h for the model and the gradient conventions.
 *
 * Work items are (example, block of SYNTH_FRAMES_PER_ITEM frames), statically scheduled;
 * every value is computed by one item from data that no other item writes in the same
 * pass, and cross-frame sums (noise overlap-add, the harmonic crossfade's two frames, the
 * reverb IR gradient) are separate passes in a fixed order, so any thread count gives
 * bitwise the same result. */
#include "synth_internal.h"

#include "ddsp/util.h"

#include <stdlib.h>
#include <string.h>

void ddsp_synth_config_default(ddsp_synth_config *c) {
    c->sample_rate = 16000;
    c->hop = 64;
    c->n_harmonics = 60;
    c->n_noise_bands = 65;
    c->amp_interp = DDSP_AMP_WINDOW;
    c->reverb = 0;
    c->reverb_length = 48000;
}

int ddsp_synth_config_check(const ddsp_synth_config *c) {
    if (c->sample_rate <= 0) return ddsp_error("synth: sample_rate %d must be > 0", c->sample_rate);
    if (c->hop <= 0) return ddsp_error("synth: hop %d must be > 0", c->hop);
    if (c->n_harmonics < 1 || c->n_harmonics > SYNTH_MAX_HARMONICS)
        return ddsp_error("synth: n_harmonics %d must be in [1, %d]", c->n_harmonics,
                          SYNTH_MAX_HARMONICS);
    if (c->n_noise_bands < 3 || c->n_noise_bands > (1 << 20))
        return ddsp_error("synth: n_noise_bands %d must be >= 3", c->n_noise_bands);
    if (c->amp_interp != DDSP_AMP_WINDOW && c->amp_interp != DDSP_AMP_LINEAR)
        return ddsp_error("synth: unknown amplitude interpolation %d", (int)c->amp_interp);
    /* bounds first: the FFT-size loop below must not overflow (a corrupt checkpoint once
     * declared hop 2^30 and looped forever) */
    if (c->hop > (1 << 20)) return ddsp_error("synth: hop %d must be at most %d", c->hop, 1 << 20);
    /* magenta's frame-wise fft_convolve overlap-adds whole FFT blocks at the hop */
    int nfft = 1;
    while (nfft < c->hop + 2 * (c->n_noise_bands - 1) - 1)
        nfft <<= 1;
    if (nfft % c->hop != 0)
        return ddsp_error("synth: hop %d must divide the noise FFT size %d (use a power of two)",
                          c->hop, nfft);
    if (c->reverb && c->reverb_length < 2)
        return ddsp_error("synth: reverb_length %d must be >= 2", c->reverb_length);
    return DDSP_OK;
}

int ddsp_synth_parse_amp_interp(ddsp_synth_config *c, const char *s) {
    if (strcmp(s, "window") == 0)
        c->amp_interp = DDSP_AMP_WINDOW;
    else if (strcmp(s, "linear") == 0)
        c->amp_interp = DDSP_AMP_LINEAR;
    else
        return ddsp_error("unknown amplitude interpolation '%s' (window|linear)", s);
    return DDSP_OK;
}

size_t ddsp_synth_n_controls(const ddsp_synth_config *c) {
    return 1 + (size_t)c->n_harmonics + (size_t)c->n_noise_bands;
}

ddsp_synth *ddsp_synth_init(const ddsp_synth_config *c, size_t max_batch, size_t F) {
    if (ddsp_synth_config_check(c)) return NULL;
    if (max_batch < 1 || F < 1) {
        ddsp_error("synth: max_batch %zu and frames %zu must be >= 1", max_batch, F);
        return NULL;
    }
    ddsp_synth *s = calloc(1, sizeof *s);
    if (!s) {
        ddsp_error("synth: out of memory");
        return NULL;
    }
    s->c = *c;
    s->max_batch = max_batch;
    s->F = F;
    s->hop = c->hop;
    s->N = F * (size_t)c->hop;
    s->H = c->n_harmonics;
    s->NB = c->n_noise_bands;
    s->C = ddsp_synth_n_controls(c);
    s->sr = (double)c->sample_rate;
    s->nyq = s->sr / 2.0;
    s->nch = (F + SYNTH_FRAMES_PER_ITEM - 1) / SYNTH_FRAMES_PER_ITEM;
    const size_t BN = max_batch * s->N, BF = max_batch * F, H = (size_t)s->H;
    s->w_amp = ddsp_alloc(sizeof(double) * (size_t)s->hop);
    s->sinp = ddsp_alloc(sizeof(double) * BN);
    s->cos2 = ddsp_alloc(sizeof(double) * BN);
    s->nh = ddsp_alloc(sizeof(uint16_t) * BN);
    s->amp = ddsp_alloc(sizeof(double) * BF);
    s->dsig_amp = ddsp_alloc(sizeof(float) * BF);
    s->inv_sum = ddsp_alloc(sizeof(double) * BF);
    s->hdn = ddsp_alloc(sizeof(double) * BF * H);
    s->dsig_hd = ddsp_alloc(sizeof(float) * BF * H);
    s->g0 = ddsp_alloc(sizeof(double) * BF * H);
    s->g1 = ddsp_alloc(sizeof(double) * BF * H);
    s->harm = ddsp_alloc(sizeof(float) * BN);
    s->noise = ddsp_alloc(sizeof(float) * BN);
    s->d_dry = c->reverb ? ddsp_alloc(sizeof(float) * BN) : NULL;
    int ok = s->w_amp && s->sinp && s->cos2 && s->nh && s->amp && s->dsig_amp && s->inv_sum &&
             s->hdn && s->dsig_hd && s->g0 && s->g1 && s->harm && s->noise &&
             (!c->reverb || s->d_dry);
    ok = ok && synth_noise_init(s) == DDSP_OK;
    ok = ok && (!c->reverb || synth_reverb_init(s) == DDSP_OK);
    if (!ok) {
        ddsp_synth_free(s);
        ddsp_error("synth: out of memory (batch %zu, %zu frames)", max_batch, F);
        return NULL;
    }
    /* magenta upsample_with_windows (Hann overlap-add, 50%) == raised-cosine crossfade */
    for (int t = 0; t < s->hop; t++)
        s->w_amp[t] = c->amp_interp == DDSP_AMP_WINDOW
                          ? 0.5 - 0.5 * cos(SYNTH_TWO_PI / 2.0 * t / s->hop)
                          : (double)t / s->hop;
    return s;
}

void ddsp_synth_free(ddsp_synth *s) {
    if (!s) return;
    synth_noise_free(s);
    if (s->c.reverb) synth_reverb_free(s);
    ddsp_free(s->w_amp);
    ddsp_free(s->sinp);
    ddsp_free(s->cos2);
    ddsp_free(s->nh);
    ddsp_free(s->amp);
    ddsp_free(s->dsig_amp);
    ddsp_free(s->inv_sum);
    ddsp_free(s->hdn);
    ddsp_free(s->dsig_hd);
    ddsp_free(s->g0);
    ddsp_free(s->g1);
    ddsp_free(s->harm);
    ddsp_free(s->noise);
    ddsp_free(s->d_dry);
    free(s);
}

const ddsp_synth_config *ddsp_synth_get_config(const ddsp_synth *s) {
    return &s->c;
}

size_t ddsp_synth_n_samples(const ddsp_synth *s) {
    return s->N;
}

const float *ddsp_synth_harmonic(const ddsp_synth *s) {
    return s->harm;
}

const float *ddsp_synth_noise(const ddsp_synth *s) {
    return s->noise;
}

void ddsp_synth_noise_ir(ddsp_synth *s, float *ir, const float *noise_raw) {
    synth_noise_work *w = &s->nw[0];
    for (int j = 0; j < s->NB; j++) {
        double d;
        w->cin[j][0] = (float)synth_exp_sigmoid((double)noise_raw[j] + SYNTH_NOISE_BIAS, &d);
        w->cin[j][1] = 0.0f;
    }
    synth_noise_design_ir(s, w, 1.0f / (float)s->n_ir);
    memcpy(ir, w->h, sizeof(float) * (size_t)s->n_ir);
}

static void item_frames(const ddsp_synth *s, long it, size_t *b, size_t *f_lo, size_t *f_hi) {
    *b = (size_t)it / s->nch;
    const size_t c = (size_t)it % s->nch;
    *f_lo = c * SYNTH_FRAMES_PER_ITEM;
    *f_hi = *f_lo + SYNTH_FRAMES_PER_ITEM < s->F ? *f_lo + SYNTH_FRAMES_PER_ITEM : s->F;
}

void ddsp_synth_forward(ddsp_synth *s, float *audio, const float *raw, const float *f0_hz,
                        const float *noise, const float *reverb_ir, double *phase, size_t B) {
    DDSP_ASSERT(B >= 1 && B <= s->max_batch, "synth forward: batch %zu not in [1, %zu]", B,
                s->max_batch);
    DDSP_ASSERT(!s->c.reverb || reverb_ir, "synth forward: reverb is on but reverb_ir is NULL");
    s->B = B;
    const long nit = (long)(B * s->nch);
#pragma omp parallel
    {
#pragma omp for schedule(static) nowait
        for (long b = 0; b < (long)B; b++)
            synth_harmonic_phase(s, f0_hz, phase, (size_t)b);
#pragma omp for schedule(static)
        for (long it = 0; it < nit; it++) {
            size_t b, f_lo, f_hi;
            item_frames(s, it, &b, &f_lo, &f_hi);
            synth_harmonic_controls(s, raw, f0_hz, b, f_lo, f_hi);
            synth_noise_frames(s, &s->nw[it], raw, noise, b, f_lo, f_hi);
        }
#pragma omp for schedule(static)
        for (long it = 0; it < nit; it++) {
            size_t b, f_lo, f_hi;
            item_frames(s, it, &b, &f_lo, &f_hi);
            synth_harmonic_frames(s, f0_hz, b, f_lo, f_hi);
        }
#pragma omp for schedule(static)
        for (long it = 0; it < nit; it++) {
            size_t b, f_lo, f_hi;
            item_frames(s, it, &b, &f_lo, &f_hi);
            synth_noise_overlap_add(s, audio, b, f_lo, f_hi);
        }
        if (s->c.reverb) synth_reverb_forward(s, audio, reverb_ir, B);
    }
}

void ddsp_synth_backward(ddsp_synth *s, float *d_raw, float *d_reverb_ir, const float *d_audio,
                         size_t B) {
    DDSP_ASSERT(s->B > 0 && B == s->B, "synth backward: batch %zu but the last forward had %zu", B,
                s->B);
    const long nit = (long)(B * s->nch);
    const float *d_dry = s->c.reverb ? s->d_dry : d_audio;
#pragma omp parallel
    {
        if (s->c.reverb) synth_reverb_backward(s, s->d_dry, d_reverb_ir, d_audio, B);
#pragma omp for schedule(static)
        for (long it = 0; it < nit; it++) {
            size_t b, f_lo, f_hi;
            item_frames(s, it, &b, &f_lo, &f_hi);
            synth_harmonic_backward_frames(s, d_dry, b, f_lo, f_hi);
            synth_noise_backward_frames(s, &s->nw[it], d_raw, d_dry, b, f_lo, f_hi);
        }
#pragma omp for schedule(static)
        for (long it = 0; it < nit; it++) {
            size_t b, f_lo, f_hi;
            item_frames(s, it, &b, &f_lo, &f_hi);
            synth_harmonic_backward_controls(s, d_raw, b, f_lo, f_hi);
        }
    }
}

void ddsp_synth_backward_window(ddsp_synth *s, float *d_raw, const float *d_audio, size_t b,
                                size_t f_lo, size_t f_hi) {
    DDSP_ASSERT(s->B > 0 && b < s->B, "synth backward: item %zu but the last forward had %zu", b,
                s->B);
    DDSP_ASSERT(!s->c.reverb, "synth backward_window: not with reverb (it couples all frames)");
    DDSP_ASSERT(f_lo < f_hi && f_hi <= s->F, "synth backward_window: frames %zu:%zu of %zu",
                f_lo, f_hi, s->F);
    /* frame f's amplitude also shapes frame f - 1's samples (crossfade): its g1 is needed */
    synth_harmonic_backward_frames(s, d_audio, b, f_lo > 0 ? f_lo - 1 : 0, f_hi);
    synth_noise_backward_frames(s, &s->nw[0], d_raw, d_audio, b, f_lo, f_hi);
    synth_harmonic_backward_controls(s, d_raw, b, f_lo, f_hi);
}
