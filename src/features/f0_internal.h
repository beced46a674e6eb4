/* features/f0_internal.h — the f0 tracker's tuning knobs and a diagnostic entry point, for
 * tests and experiments. The public API (ddsp/features.h) always uses the defaults below.
 */
#ifndef DDSP_F0_INTERNAL_H
#define DDSP_F0_INTERNAL_H

#include <stddef.h>

#include "ddsp/features.h"

typedef struct {
    /* std of the Gaussian frame window g, seconds (0.0145; the pair-midpoint weight G has
     * std sigma / sqrt 2 = 10 ms) */
    double sigma_s;
    /* pYIN threshold priors Beta(a, b) over 100 thresholds: for the voiced probability
     * (2, 18, pYIN's) and for the pitch candidates' probabilities (2, 5) */
    double beta_a, beta_b;
    double pitch_beta_a, pitch_beta_b;
    double boltzmann;      /* trough-order prior, as librosa.pyin (2) */
    double no_trough_prob; /* share of the global minimum where no trough is below (0.01) */
    int bins_per_octave;   /* pitch HMM resolution (60 = 20 cents) */
    double glide_oct_s;    /* widest pitch move per second without a jump (12 oct/s) */
    double jump_rate;      /* expected pitch jumps (note changes) per second (0.25) */
    double emit_floor;     /* added to each bin's candidate mass (1e-3) */
    /* pitch emission = (floor + mass)^power, voicing emissions likewise; 0 = automatic:
     * hop / (sigma sqrt(pi) sample_rate), the share of a frame's samples that are new */
    double emit_power, voicing_power;
    double voicing_rate; /* expected voicing switches per second (2.5) */
    double vp_clamp;     /* voiced probability clamped to [c, 1 - c] in the HMM (1e-3) */
    /* Viterbi back-pointer ring in frames (4096); 0 = the whole signal, i.e. the exact
     * Viterbi path; a path decision is final lag_frames later (1024) */
    size_t ring_frames, lag_frames;
} ddsp_f0_tuning;

void ddsp_f0_tuning_default(ddsp_f0_tuning *t);

/* ddsp_f0_track with explicit tuning. voiced_prob (F, may be NULL) receives each frame's
 * pYIN voiced probability before any smoothing. DDSP_OK or DDSP_ERR. */
int ddsp_f0_track_tuned(const ddsp_f0_config *c, const ddsp_f0_tuning *t, const float *x, size_t N,
                        float *f0_hz, float *conf, float *voiced_prob);

#endif
