/* Chunked resynthesis: decoder + synthesizer over inputs of any length with O(chunk) memory,
 * equal to the one-shot pass (see ddsp/infer.h).
 *
 * State carried from chunk to chunk:
 *   decoder: the GRU state after the chunk's last frame (ddsp_model_forward_state); the
 *     rest of the decoder works frame by frame. The last chunk is padded with its last
 *     frame: the decoder is causal, so the real frames do not see the padding.
 *   synthesizer: output frames [s, s + C) come from a window of frames [s - LC, s + C + RC)
 *     (LC, RC below) synthesised from scratch, keeping only the middle:
 *     - filtered noise: frame g's filtered block (nfft samples, cropped by `crop`) reaches
 *       samples of frames g - 1 .. g + (nfft - crop) / hop, so the window needs the frames on
 *       both sides whose blocks overlap the kept samples. nfft < 2 (hop + n_ir) and crop <
 *       n_ir / 2 bound them: LC = ceil(2 (hop + n_ir) / hop), RC = 1 + ceil(n_ir / hop);
 *       noise sample i is always draw i of the one stream (counter-based RNG), so every
 *       frame's noise is the one-shot noise;
 *     - harmonic: samples of frame f crossfade controls f and f + 1 (RC >= 1), and the
 *       oscillator starts at the fundamental's phase before the window's first sample. That
 *       phase is accumulated here by the synthesizer's own recurrence (synth/harmonic.c:
 *       float64 running sum of 2 pi f0 / sr wrapped mod 2 pi, f0 read bilinearly from the
 *       frames), so each window starts exactly where the one-shot pass is at that sample.
 *     Past the last frame the window is padded with the last frame's controls and f0 (the
 *     one-shot synthesizer holds the last frame: the same values) and silent noise (whose
 *     filtered output is exactly 0), so the final samples match too.
 *   reverb: applied here, not in the synthesizer (whose reverb would see only the window):
 *     out = dry + (dry * ir)[:N] by overlap-add of each chunk's FFT convolution, carrying the
 *     L - 1 sample tail. */
#include "ddsp/infer.h"

#include "ddsp/dsp.h"
#include "ddsp/synth.h"
#include "ddsp/util.h"

#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TWO_PI 6.283185307179586476925286766559 /* as synth/harmonic.c */

struct ddsp_resynth {
    const ddsp_model *m;
    ddsp_resynth_config c;
    ddsp_synth_config sc; /* the model's synth, reverb off (done here) */
    size_t C, LC, RC, W, K, G, cap;
    int hop;
    ddsp_model_acts *acts;     /* (1, C) */
    ddsp_synth *syn;           /* (1, W) */
    float *h, *h_next;         /* (G) GRU state */
    float *dec_f0, *dec_ld;    /* (C) one decoder chunk's inputs */
    float *raw;                /* (cap, K) decoded frames [raw_first, raw_end) */
    float *win_raw, *win_f0;   /* (W, K), (W) */
    float *noise, *wout, *dry; /* (W hop), (W hop), (C hop) */
    /* reverb */
    size_t L;
    int nr;
    float *rv_buf, *rv_tail;     /* (nr) */
    fftwf_complex *rv_ir, *rv_X; /* (nr / 2 + 1) */
    fftwf_plan rv_r2c, rv_c2r;
};

void ddsp_resynth_free(ddsp_resynth *r) {
    if (!r) return;
    ddsp_model_acts_free(r->acts);
    ddsp_synth_free(r->syn);
    ddsp_free(r->h), ddsp_free(r->h_next);
    ddsp_free(r->dec_f0), ddsp_free(r->dec_ld);
    ddsp_free(r->raw), ddsp_free(r->win_raw), ddsp_free(r->win_f0);
    ddsp_free(r->noise), ddsp_free(r->wout), ddsp_free(r->dry);
    ddsp_free(r->rv_buf), ddsp_free(r->rv_tail), ddsp_free(r->rv_ir), ddsp_free(r->rv_X);
    free(r);
}

size_t ddsp_resynth_context(const ddsp_resynth *r, size_t *after) {
    if (after) *after = r->RC;
    return r->LC;
}

static size_t ceil_div(size_t a, size_t b) {
    return (a + b - 1) / b;
}

ddsp_resynth *ddsp_resynth_init(const ddsp_model *m, const ddsp_resynth_config *c) {
    if (c->chunk_frames < 1) {
        ddsp_error("resynth: chunk of %zu frames (must be >= 1)", c->chunk_frames);
        return NULL;
    }
    if (c->parts != DDSP_PARTS_ALL && c->parts != DDSP_PARTS_HARMONIC &&
        c->parts != DDSP_PARTS_NOISE) {
        ddsp_error("resynth: unknown parts %d", (int)c->parts);
        return NULL;
    }
    ddsp_resynth *r = calloc(1, sizeof *r);
    if (!r) {
        ddsp_error("out of memory");
        return NULL;
    }
    r->m = m, r->c = *c;
    r->sc = m->cfg.synth;
    r->sc.reverb = 0;
    r->hop = r->sc.hop;
    const size_t hop = (size_t)r->hop, n_ir = 2 * ((size_t)r->sc.n_noise_bands - 1);
    r->C = c->chunk_frames;
    r->LC = ceil_div(2 * (hop + n_ir), hop);
    r->RC = 1 + ceil_div(n_ir, hop);
    r->W = r->LC + r->C + r->RC;
    r->cap = r->W + r->C;
    r->K = ddsp_synth_n_controls(&r->sc);
    r->G = (size_t)m->cfg.gru_units;
    const size_t Wn = r->W * hop;
    r->acts = ddsp_model_acts_init(m, 1, r->C);
    r->syn = r->acts ? ddsp_synth_init(&r->sc, 1, r->W) : NULL;
    if (!r->syn) {
        ddsp_resynth_free(r);
        return NULL;
    }
    r->h = ddsp_alloc(sizeof(float) * r->G), r->h_next = ddsp_alloc(sizeof(float) * r->G);
    r->dec_f0 = ddsp_alloc(sizeof(float) * r->C), r->dec_ld = ddsp_alloc(sizeof(float) * r->C);
    r->raw = ddsp_alloc(sizeof(float) * r->cap * r->K);
    r->win_raw = ddsp_alloc(sizeof(float) * r->W * r->K);
    r->win_f0 = ddsp_alloc(sizeof(float) * r->W);
    r->noise = ddsp_alloc(sizeof(float) * Wn), r->wout = ddsp_alloc(sizeof(float) * Wn);
    r->dry = ddsp_alloc(sizeof(float) * r->C * hop);
    int ok = r->h && r->h_next && r->dec_f0 && r->dec_ld && r->raw && r->win_raw && r->win_f0 &&
             r->noise && r->wout && r->dry;
    if (ok && m->cfg.synth.reverb) {
        const float *ir = ddsp_model_param(m, "reverb/ir");
        DDSP_ASSERT(ir, "reverb on but the model has no reverb/ir");
        r->L = (size_t)m->cfg.synth.reverb_length;
        r->nr = 16;
        while ((size_t)r->nr < r->C * hop + r->L - 1)
            r->nr <<= 1;
        const size_t nr = (size_t)r->nr, kr = nr / 2 + 1;
        r->rv_buf = ddsp_alloc(sizeof(float) * nr);
        r->rv_tail = ddsp_alloc(sizeof(float) * nr);
        r->rv_ir = ddsp_alloc(sizeof(fftwf_complex) * kr);
        r->rv_X = ddsp_alloc(sizeof(fftwf_complex) * kr);
        ok = r->rv_buf && r->rv_tail && r->rv_ir && r->rv_X;
        if (ok) {
            r->rv_r2c = ddsp_fft_plan_r2c(r->nr, 1);
            r->rv_c2r = ddsp_fft_plan_c2r(r->nr, 1);
            /* ir[0] is forced to 0, as the synthesizer's reverb; 1/nr folds in the inverse */
            memset(r->rv_buf, 0, sizeof(float) * nr);
            memcpy(r->rv_buf + 1, ir + 1, sizeof(float) * (r->L - 1));
            fftwf_execute_dft_r2c(r->rv_r2c, r->rv_buf, r->rv_ir);
            for (size_t k = 0; k < kr; k++)
                r->rv_ir[k][0] /= (float)nr, r->rv_ir[k][1] /= (float)nr;
        }
    }
    if (!ok) {
        ddsp_resynth_free(r);
        ddsp_error("out of memory for resynthesis chunks of %zu frames", c->chunk_frames);
        return NULL;
    }
    return r;
}

/* f0 at sample i, exactly as the synthesizer's synth_f0_at (last frame held). */
static double f0_at(const float *f0, size_t F, double step, size_t i) {
    const double src = (double)i * step;
    const size_t lo = (size_t)src;
    const size_t hi = lo + 1 < F ? lo + 1 : F - 1;
    const double fr = src - (double)lo;
    return (double)f0[lo] * (1.0 - fr) + (double)f0[hi] * fr;
}

/* Advance the fundamental's phase over samples [from, to), as synth_harmonic_phase. */
static double advance_phase(double acc, const float *f0, size_t F, double step, double sr,
                            size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        acc += TWO_PI * f0_at(f0, F, step, i) / sr;
        if (acc >= TWO_PI || acc < 0.0) {
            acc = fmod(acc, TWO_PI);
            if (acc < 0.0) acc += TWO_PI;
        }
    }
    return acc;
}

/* Decode frames [raw_end, raw_end + C) (the input's frames, padded past F) into raw. */
static void decode_chunk(ddsp_resynth *r, const float *f0, const float *ld, size_t F,
                         size_t *raw_first, size_t *raw_end) {
    const size_t a = *raw_end, n = a + r->C <= F ? r->C : F - a;
    for (size_t j = 0; j < r->C; j++) {
        const size_t f = j < n ? a + j : F - 1;
        r->dec_f0[j] = f0[f], r->dec_ld[j] = ld[f];
    }
    const float *raw = ddsp_model_forward_state(r->m, r->acts, r->dec_f0, r->dec_ld, 1,
                                                  a == 0 ? NULL : r->h, r->h_next);
    float *t = r->h;
    r->h = r->h_next, r->h_next = t;
    DDSP_ASSERT(a - *raw_first + n <= r->cap, "resynth: decoded-frame buffer overflow");
    memcpy(r->raw + (a - *raw_first) * r->K, raw, sizeof(float) * n * r->K);
    *raw_end = a + n;
}

/* One block of dry samples out (n <= C hop, at the output position) with the reverb tail. */
static void reverb_block(ddsp_resynth *r, float *out, const float *dry, size_t n) {
    const size_t nr = (size_t)r->nr, span = n + r->L - 1;
    memcpy(r->rv_buf, dry, sizeof(float) * n);
    memset(r->rv_buf + n, 0, sizeof(float) * (nr - n));
    fftwf_execute_dft_r2c(r->rv_r2c, r->rv_buf, r->rv_X);
    for (size_t k = 0; k < nr / 2 + 1; k++) {
        const float xr = r->rv_X[k][0], xi = r->rv_X[k][1];
        const float hr = r->rv_ir[k][0], hi = r->rv_ir[k][1];
        r->rv_X[k][0] = xr * hr - xi * hi;
        r->rv_X[k][1] = xr * hi + xi * hr;
    }
    fftwf_execute_dft_c2r(r->rv_c2r, r->rv_X, r->rv_buf);
    for (size_t i = 0; i < span; i++)
        r->rv_tail[i] += r->rv_buf[i];
    for (size_t i = 0; i < n; i++)
        out[i] = dry[i] + r->rv_tail[i];
    memmove(r->rv_tail, r->rv_tail + n, sizeof(float) * (nr - n));
    memset(r->rv_tail + nr - n, 0, sizeof(float) * n);
}

int ddsp_resynth_run(ddsp_resynth *r, float *audio, size_t N, const float *f0_hz,
                     const float *loudness_db, const float *harm_gain) {
    if (N == 0) return DDSP_OK;
    const size_t hop = (size_t)r->hop, F = ceil_div(N, hop), K = r->K, W = r->W;
    const double sr = (double)r->sc.sample_rate, step = (double)W / (double)(W * hop);
    size_t raw_first = 0, raw_end = 0, phase_pos = 0;
    double acc = 0.0;
    if (r->rv_tail) memset(r->rv_tail, 0, sizeof(float) * (size_t)r->nr);
    for (size_t s = 0; s < F; s += r->C) {
        const size_t e = s + r->C < F ? s + r->C : F;
        const size_t ws = s > r->LC ? s - r->LC : 0, we = ws + W < F ? ws + W : F;
        /* frames before the window are no longer needed; decode up to the window's end */
        memmove(r->raw, r->raw + (ws - raw_first) * K, sizeof(float) * (raw_end - ws) * K);
        raw_first = ws;
        while (raw_end < we)
            decode_chunk(r, f0_hz, loudness_db, F, &raw_first, &raw_end);
        for (size_t j = 0; j < W; j++) {
            const size_t f = ws + j < F ? ws + j : F - 1;
            memcpy(r->win_raw + j * K, r->raw + (f - raw_first) * K, sizeof(float) * K);
            r->win_f0[j] = f0_hz[f];
        }
        const size_t n_real = (we - ws) * hop;
        ddsp_rng_uniform(r->noise, n_real, r->c.noise_key, (uint64_t)(ws * hop), -1.0f, 1.0f);
        memset(r->noise + n_real, 0, sizeof(float) * (W * hop - n_real));
        acc = advance_phase(acc, f0_hz, F, step, sr, phase_pos, ws * hop);
        phase_pos = ws * hop;
        double phase = acc;
        ddsp_synth_forward(r->syn, r->wout, r->win_raw, r->win_f0, r->noise, NULL, &phase, 1);
        /* keep the samples of frames [s, e) below N */
        const size_t i0 = s * hop, i1 = e * hop < N ? e * hop : N, off = i0 - ws * hop;
        const float *hs = ddsp_synth_harmonic(r->syn) + off, *ns = ddsp_synth_noise(r->syn) + off;
        float *dst = r->rv_tail ? r->dry : audio + i0;
        for (size_t i = i0; i < i1; i++) {
            const size_t l = i - i0;
            float hv = hs[l];
            if (harm_gain) {
                const size_t f = i / hop, f1 = f + 1 < F ? f + 1 : F - 1;
                const float w = (float)(i - f * hop) / (float)hop;
                hv *= harm_gain[f] + (harm_gain[f1] - harm_gain[f]) * w;
            }
            dst[l] = r->c.parts == DDSP_PARTS_HARMONIC ? hv
                     : r->c.parts == DDSP_PARTS_NOISE  ? ns[l]
                     : harm_gain                       ? hv + ns[l]
                                                       : r->wout[off + l];
        }
        if (r->rv_tail) reverb_block(r, audio + i0, r->dry, i1 - i0);
    }
    return DDSP_OK;
}
