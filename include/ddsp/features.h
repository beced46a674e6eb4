/* ddsp/features.h — per-frame conditioning features: f0 with confidence, A-weighted loudness.
 *
 * Frames: a signal of N samples has F = ddsp_feature_frames(N, hop) = ceil(N / hop) frames.
 * Frame i describes the instant of sample hop * i — the sample where the synthesizer puts
 * control i (amplitude crossfade and f0 interpolation both start there) — so every analysis
 * window is CENTRED on sample hop * i, the signal zero-padded at both ends as needed.
 * At 16 kHz with hop 64: 250 frames/s, 1000 frames for a 4 s (64000-sample) example.
 *
 * All functions are safe to call concurrently from several threads on different signals.
 */
#ifndef DDSP_FEATURES_H
#define DDSP_FEATURES_H

#include <stddef.h>

/* ceil(n_samples / hop). */
size_t ddsp_feature_frames(size_t n_samples, int hop);

/* ---------------------------------------------------------------- f0 */
typedef struct {
    int sample_rate; /* Hz of the input signal (16000) */
    int hop;         /* samples per frame (64) */
    double fmin;     /* lowest f0 searched, Hz (30) */
    double fmax;     /* highest f0 searched, Hz (2000) */
} ddsp_f0_config;

void ddsp_f0_config_default(ddsp_f0_config *c);
/* DDSP_OK, or DDSP_ERR with a message naming the bad field. */
int ddsp_f0_config_check(const ddsp_f0_config *c);

/* f0 track of x (N samples): f0_hz (F) in Hz, conf (F) voicing probability in [0, 1].
 * Unvoiced frames carry a usable f0 (held from the nearest voiced frame, as magenta feeds
 * CREPE's f0 everywhere) with low confidence; a signal with no voiced frame at all gets
 * a constant f0 (documented in src/features/f0.c) and confidence near 0.
 * Buffers are the caller's. DDSP_OK, or DDSP_ERR (bad config, out of memory). */
int ddsp_f0_track(const ddsp_f0_config *c, const float *x, size_t N, float *f0_hz, float *conf);

/* ---------------------------------------------------------------- loudness */
typedef struct {
    int sample_rate; /* Hz (16000) */
    int hop;         /* samples per frame (64) */
    int n_fft;       /* analysis window, periodic Hann (512, magenta v2 compute_loudness) */
    double range_db; /* floor is -range_db (120 = LD_RANGE of ddsp < 2.0, which the
                        model's loudness scaling uses; magenta HEAD uses 80) */
    double ref_db;   /* subtracted reference (0: amplitude-1 power is 0 dB) */
} ddsp_loudness_config;

void ddsp_loudness_config_default(ddsp_loudness_config *c);
int ddsp_loudness_config_check(const ddsp_loudness_config *c);

/* A-weighted loudness in dB, as magenta's compute_loudness (v2): per centred frame,
 * P = mean_k |X_k|^2 10^(A(f_k)/10) over the n_fft/2+1 bins of the Hann-windowed rfft,
 * A = librosa's A_weighting (clamped at -80 dB); ld = max(10 log10(max(P, 10^(-range/10)))
 * - ref_db, -range_db). ld_db (F) is the caller's. DDSP_OK or DDSP_ERR. */
int ddsp_loudness(const ddsp_loudness_config *c, const float *x, size_t N, float *ld_db);

/* The power weights 10^(A(f_k)/10) of bins k = 0..n_fft/2 (wk, caller's) that ddsp_loudness
 * uses, f_k = k * sample_rate / n_fft. */
void ddsp_loudness_weights(double *wk, int n_fft, int sample_rate);

#endif
