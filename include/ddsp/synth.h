/* ddsp/synth.h — the DDSP synthesizer (magenta solo_instrument): harmonic oscillator bank +
 * filtered noise (+ optional trainable reverb), forward and exact hand-written backward.
 *
 * Inputs per example: raw decoder outputs `raw` (F, C), C = 1 + H + NB, pre-activation —
 * column 0 the overall amplitude, columns 1..H the harmonic distribution, the last NB the
 * noise band magnitudes — and f0_hz (F). N = F * hop samples. Exactly ddsp_ref.py:
 *   harmonic: amp = exp_sigmoid(raw0), hd = exp_sigmoid(raw_k), hd = 0 where k f0 >= sr/2,
 *     hd /= sum(hd); harmonic amplitudes upsampled per sample by the 'window' crossfade
 *     x_f (1 - w_t) + x_{f+1} w_t, w_t = 0.5 - 0.5 cos(pi t / hop) ('linear': w_t = t / hop),
 *     last frame held; f0 upsampled bilinearly (sample i reads frame i / hop, last frame
 *     held); phase = float64 cumsum of 2 pi f0 / sr wrapped mod 2 pi, harmonic k at k phase,
 *     zeroed where its audio-rate frequency >= sr/2.
 *   noise: mags = exp_sigmoid(raw - 5) -> linear-phase IR of 2 (NB - 1) taps (irfft, Hann,
 *     shift), applied to the caller's uniform noise frame by frame (FFT convolution,
 *     overlap-add, magenta's delay-compensating crop).
 *   reverb (optional): out = dry + (dry * ir)[:N] with ir[0] forced to 0.
 * exp_sigmoid(x) = 2 sigmoid(x)^ln(10) + 1e-7.
 *
 * Gradients: backward OVERWRITES the activation gradient d_raw and ACCUMULATES (+=) into the
 * parameter gradient d_reverb_ir (only the model's zero_grad clears it). There is no
 * gradient with respect to f0 or the noise source.
 *
 * Threads: forward and backward run OpenMP over (example, block of frames); results are
 * bitwise identical for any number of threads. One ddsp_synth must not be used by two
 * threads at once.
 */
#ifndef DDSP_SYNTH_H
#define DDSP_SYNTH_H

#include <stddef.h>

typedef enum { DDSP_AMP_WINDOW = 0, DDSP_AMP_LINEAR } ddsp_amp_interp;

typedef struct {
    int sample_rate;            /* Hz (16000) */
    int hop;                    /* samples per frame (64); must divide the noise FFT size */
    int n_harmonics;            /* H (60) */
    int n_noise_bands;          /* NB (65): noise IR of 2 (NB - 1) taps */
    ddsp_amp_interp amp_interp; /* DDSP_AMP_WINDOW (magenta default) or DDSP_AMP_LINEAR */
    int reverb;                 /* 1: apply the trainable reverb (0, as ddsp_ref.py's default) */
    int reverb_length;          /* IR taps (48000) */
} ddsp_synth_config;

/* 16000 Hz, hop 64, 60 harmonics, 65 noise bands, 'window', reverb off, 48000 taps. */
void ddsp_synth_config_default(ddsp_synth_config *c);
/* DDSP_OK, or DDSP_ERR with a message naming the bad field. */
int ddsp_synth_config_check(const ddsp_synth_config *c);
/* "window" | "linear" into c->amp_interp. DDSP_OK or DDSP_ERR. */
int ddsp_synth_parse_amp_interp(ddsp_synth_config *c, const char *s);
/* Columns of raw per frame: 1 + n_harmonics + n_noise_bands. */
size_t ddsp_synth_n_controls(const ddsp_synth_config *c);

/* Plans, work buffers and the state backward needs, for up to max_batch examples of F
 * frames, all allocated here (nothing in forward/backward). NULL + ddsp_error on a bad
 * config or out of memory. ddsp_synth_free(NULL) is a no-op. */
typedef struct ddsp_synth ddsp_synth;
ddsp_synth *ddsp_synth_init(const ddsp_synth_config *c, size_t max_batch, size_t F);
void ddsp_synth_free(ddsp_synth *s);
const ddsp_synth_config *ddsp_synth_get_config(const ddsp_synth *s);
size_t ddsp_synth_n_samples(const ddsp_synth *s); /* N = F * hop */

/* audio (B, N) <- synth(raw (B, F, C), f0_hz (B, F), noise (B, N) uniform in [-1, 1),
 * reverb_ir (L) or NULL when reverb is off), B <= max_batch. Buffers are the caller's and
 * are not kept; s keeps what backward needs. phase (B) or NULL: NULL starts every oscillator
 * at phase 0 (training); otherwise phase[b] is the fundamental's phase before sample 0 and
 * is overwritten with its phase (mod 2 pi) after sample N - 1, for chunked resynthesis. */
void ddsp_synth_forward(ddsp_synth *s, float *audio, const float *raw, const float *f0_hz,
                        const float *noise, const float *reverb_ir, double *phase, size_t B);

/* d_raw (B, F, C) <- dL/d raw (overwritten); d_reverb_ir (L) += dL/d ir (d_reverb_ir[0]
 * untouched: ir[0] is forced to 0; NULL to skip), given d_audio (B, N) = dL/d audio, for
 * the batch of the last ddsp_synth_forward on s. */
void ddsp_synth_backward(ddsp_synth *s, float *d_raw, float *d_reverb_ir, const float *d_audio,
                         size_t B);

/* The same backward for the controls of frames [f_lo, f_hi) of item b only (no reverb): those
 * frames of d_raw (B, F, C) get exactly what ddsp_synth_backward writes there, the others are
 * untouched. One thread; the cost grows with the window, not the example (Jacobians take one
 * backward per audio sample). */
void ddsp_synth_backward_window(ddsp_synth *s, float *d_raw, const float *d_audio, size_t b,
                                size_t f_lo, size_t f_hi);

/* The parts of the last forward, owned by s, valid until the next forward: harmonic and
 * filtered-noise audio (B, N) before reverb (audio = harmonic + noise without reverb). */
const float *ddsp_synth_harmonic(const ddsp_synth *s);
const float *ddsp_synth_noise(const ddsp_synth *s);

/* ir (2 (NB - 1)) <- the noise filter's causal linear-phase IR for one frame's raw noise
 * controls noise_raw (NB, pre-activation), computed by the code forward uses. Uses s's
 * scratch: not concurrently with forward/backward on s. */
void ddsp_synth_noise_ir(ddsp_synth *s, float *ir, const float *noise_raw);

/* Plain reference (double, per-sample libm sines, direct convolutions, no FFT, no OpenMP)
 * for tests of the optimised kernels; same shapes and inputs as forward. Writes harm, noise
 * and audio (B, N) (each may be NULL). If d_audio (B, N) is non-NULL also the backward:
 * d_raw (B, F, C) and, with reverb on, d_ir (L) are OVERWRITTEN (unlike ddsp_synth_backward).
 * Slow (O(N L) reverb): small sizes only. DDSP_OK, or DDSP_ERR (bad config, out of memory). */
int ddsp_synth_reference(const ddsp_synth_config *c, size_t B, size_t F, const float *raw,
                         const float *f0_hz, const float *noise, const float *reverb_ir,
                         double *harm, double *noise_out, double *audio, const float *d_audio,
                         double *d_raw, double *d_ir);

#endif
