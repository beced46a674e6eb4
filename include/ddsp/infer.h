/* ddsp/infer.h — using a trained model: load a checkpoint, extract features from any audio,
 * adjust them (pitch and loudness shifts, magenta's timbre-transfer auto-adjust), run
 * decoder + synthesizer over inputs of any length in chunks, and the evaluation metrics.
 * `ddsp resynth` and `ddsp eval` are thin layers over this module.
 *
 * Chunked resynthesis (ddsp_resynth_run) gives the one-shot result: the decoder runs C frames
 * at a time with the GRU state carried across chunk borders; the synthesizer runs on windows
 * of C output frames plus a few frames of context on each side (the filtered noise of a frame
 * spills into its neighbours; the harmonic crossfade needs the next frame), started at the
 * oscillator phase the one-shot pass has at the window's first sample; noise sample i is
 * always draw i of one counter-based stream; the reverb tail is carried by overlap-add.
 * Working memory is O(C + reverb length), whatever the input length; measured difference to
 * one shot: tests/test_infer.c.
 */
#ifndef DDSP_INFER_H
#define DDSP_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "ddsp/features.h"
#include "ddsp/loss.h"
#include "ddsp/model.h"

/* ---------------------------------------------------------------- checkpoint */
/* Training-data statistics stored in the checkpoint's /dataset_stats (confident frames:
 * f0 confidence >= 0.5, see src/cli/cmd_train.c). */
typedef struct {
    double f0_midi_mean, f0_midi_std;
    double loudness_db_mean_voiced, loudness_db_std_voiced;
    double loudness_db_mean, loudness_db_max, voiced_fraction;
} ddsp_infer_stats;

typedef struct {
    ddsp_model m;         /* owned: ddsp_infer_free */
    ddsp_loss_config loss; /* the loss the model was trained with */
    int64_t step;         /* training step of the checkpoint */
    uint64_t seed;        /* the run's seed */
    char path[4096];      /* the checkpoint file read */
    int has_stats;        /* 1 when the checkpoint has /dataset_stats */
    ddsp_infer_stats stats;
} ddsp_infer_model;

/* Read a checkpoint file, or the newest ckpt-<step>.h5 of a run folder. DDSP_OK, or DDSP_ERR
 * with one line naming the file (missing, not HDF5, not a checkpoint, no checkpoint in the
 * folder, ...). *im is zeroed on failure. */
int ddsp_infer_load(ddsp_infer_model *im, const char *ckpt_or_run_dir);
void ddsp_infer_free(ddsp_infer_model *im); /* NULL and zeroed structs are fine */

/* ---------------------------------------------------------------- features */
typedef struct {
    size_t F;                          /* frames: ceil(N / hop) */
    float *f0_hz, *conf, *loudness_db; /* (F) each, owned */
} ddsp_infer_features;

int ddsp_infer_features_alloc(ddsp_infer_features *ft, size_t F);
void ddsp_infer_features_free(ddsp_infer_features *ft);
/* f0, confidence and loudness of x (N >= 1 samples at sc->sample_rate, frames every
 * sc->hop samples) with the settings `ddsp prepare` uses by default. Allocates ft.
 * DDSP_OK or DDSP_ERR. The f0 tracker's working memory is bounded; the results take
 * 12 bytes per frame (~0.2 bytes per sample at hop 64). */
int ddsp_infer_features_compute(ddsp_infer_features *ft, const float *x, size_t N, int sample_rate,
                                int hop);

/* ---------------------------------------------------------------- adjustment */
typedef struct {
    double pitch_shift;    /* semitones: f0 *= 2^(s/12), after auto-adjust (0) */
    double loudness_shift; /* dB added to every frame, after auto-adjust (0) */
    int auto_adjust;       /* 1: magenta's timbre-transfer adjustment toward the stats */
    double conf_threshold; /* frames with confidence below it get no harmonic part (0: off) */
    double quiet_db;       /* auto-adjust: note-off frames lowered by up to this (20) */
    double min_db;         /* loudness floor for note detection (-120 = -ld_range) */
} ddsp_adjust_config;

/* All shifts 0, auto-adjust off, conf_threshold 0, quiet_db 20, min_db -120. */
void ddsp_adjust_config_default(ddsp_adjust_config *c);

typedef struct {
    size_t n_on;                  /* note-on frames (auto-adjust) */
    double in_pitch_mean;         /* mean MIDI pitch of the input's note-on frames */
    double octaves;               /* octave shift applied by auto-adjust */
    double in_ld_mean, in_ld_std; /* input loudness on note-on frames */
    double ld_gain, ld_offset;    /* note-on loudness map: ld' = gain * ld + offset */
    size_t n_muted;               /* frames with confidence < conf_threshold */
    int no_voiced_stats;          /* auto-adjust: the training data had no voiced frame, so
                                     there is no pitch or voiced loudness to move toward;
                                     pitch and note-on loudness were left as they are */
} ddsp_adjust_report;

/* magenta's ddsp.training.postprocessing.detect_notes: ratio_f = smooth40(conf^2) (ld - min_db)
 * / ((mean(ld) - min_db) 0.7^2), smooth40 a 40-frame box filter ('SAME', zero padded);
 * on_f = ratio_f >= 1. ratio may be NULL. */
void ddsp_infer_detect_notes(uint8_t *on, float *ratio, const float *loudness_db, const float *conf,
                             size_t F, double min_db);

/* Adjust ft's f0 and loudness in place (the values the decoder sees) and fill harm_gain (F)
 * (1, or 0 where conf < conf_threshold; may be NULL). With auto_adjust (needs st):
 *   note-on frames from ddsp_infer_detect_notes (none: the pitch and loudness stay);
 *   octaves = round((st.f0_midi_mean - mean MIDI pitch of note-on frames) / 12), f0 *= 2^octaves
 *     (magenta rounds with floor above +1.5 octaves and ceil otherwise, which can move away
 *     from the target; we round to nearest);
 *   note-on loudness: mean and std matched to the training data's confident frames,
 *     ld' = mu_t + (ld - mu_in) sd_t / sd_in, the ratio clamped to [0.5, 2] (1 if sd_in <
 *     0.1 dB) — the Gaussian form of magenta's quantile transform, whose quantile table the
 *     checkpoint does not store;
 *   note-off frames: ld' = ld - quiet_db (1 - min(ratio, 1)), as magenta.
 * Then ld += loudness_shift, f0 *= 2^(pitch_shift / 12) (and with auto_adjust ld is floored
 * at min_db, the quietest value training saw). rep may be NULL.
 * DDSP_OK, or DDSP_ERR when auto_adjust is asked without statistics. */
int ddsp_infer_adjust(const ddsp_adjust_config *c, const ddsp_infer_stats *st,
                      ddsp_infer_features *ft, float *harm_gain, ddsp_adjust_report *rep);

/* ---------------------------------------------------------------- chunked resynthesis */
typedef enum { DDSP_PARTS_ALL = 0, DDSP_PARTS_HARMONIC = 1, DDSP_PARTS_NOISE = 2 } ddsp_parts;

typedef struct {
    size_t chunk_frames; /* C: frames per decoder chunk and per synthesis window (>= 1) */
    ddsp_parts parts;    /* which part to output (the reverb, if any, applies to it) */
    uint64_t noise_key;  /* the noise stream: sample i is ddsp_rng_uniform draw i of it */
} ddsp_resynth_config;

typedef struct ddsp_resynth ddsp_resynth;
/* Buffers for chunks of c->chunk_frames frames (all allocated here); m is borrowed and must
 * outlive r. NULL + ddsp_error on failure. ddsp_resynth_free(NULL) is a no-op. */
ddsp_resynth *ddsp_resynth_init(const ddsp_model *m, const ddsp_resynth_config *c);
void ddsp_resynth_free(ddsp_resynth *r);
/* audio (N) <- synth(decoder(f0_hz (F), loudness_db (F))), F = ceil(N / hop), the harmonic
 * part scaled by harm_gain (F, linearly interpolated between frames; NULL: 1). Equal to
 * decoder + synth over all F frames at once (to float rounding: the decoder's GEMMs and the
 * reverb's FFT sizes depend on the chunk size) whatever the chunk size. DDSP_OK. */
int ddsp_resynth_run(ddsp_resynth *r, float *audio, size_t N, const float *f0_hz,
                     const float *loudness_db, const float *harm_gain);
/* Context frames each synthesis window carries before / after its C output frames. */
size_t ddsp_resynth_context(const ddsp_resynth *r, size_t *after);

/* ---------------------------------------------------------------- metrics */
#define DDSP_EVAL_CONF_THRESHOLD 0.85 /* magenta's MIN_F0_CONFIDENCE */

typedef struct {
    double loudness_l1_db;   /* mean |ld(resynth) - ld_ref| over all frames, dB */
    double f0_l1_cents;      /* mean |1200 log2(f0(resynth) / f0_ref)| on confident frames */
    double rpa;              /* raw pitch accuracy: share of confident frames within 50 cents */
    size_t n_frames, n_conf; /* frames, confident frames (conf_ref >= threshold) */
} ddsp_eval_metrics;

/* Loudness and f0 metrics of y (N samples) against the reference features (F frames, the
 * dataset's), re-extracting loudness with `ld` and f0 with `f0c` (the dataset's settings).
 * f0 metrics are NaN when no frame is confident. DDSP_OK or DDSP_ERR. */
int ddsp_eval_features(ddsp_eval_metrics *out, const float *y, size_t N, const float *f0_ref,
                       const float *conf_ref, const float *ld_ref, size_t F,
                       const ddsp_f0_config *f0c, const ddsp_loudness_config *ld,
                       double conf_threshold);

#endif
