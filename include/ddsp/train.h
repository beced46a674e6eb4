/* ddsp/train.h — one training batch end to end, between the dataset and the optimiser:
 * decoder -> synth -> MSS loss -> backward into the model's gradient buffer.
 *
 * The filtered-noise source of example `id` at update `step` is uniform noise from the
 * counter-based RNG keyed by (seed, step, id): the same whatever thread or rank computes the
 * example, so a run is reproducible for any split of the batch.
 */
#ifndef DDSP_TRAIN_H
#define DDSP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "ddsp/dist.h"
#include "ddsp/loss.h"
#include "ddsp/model.h"
#include "ddsp/optim.h"

/* Buffers for batches of up to max_batch examples of F frames, allocated once; m is
 * borrowed (it must outlive t). NULL + ddsp_error on failure. _free(NULL) is a no-op. */
typedef struct ddsp_trainer ddsp_trainer;
ddsp_trainer *ddsp_trainer_init(ddsp_model *m, const ddsp_loss_config *loss, size_t max_batch,
                                size_t F);
void ddsp_trainer_free(ddsp_trainer *t);
/* Loss of the batch (mean over its B examples, per scale in *value if non-NULL); with
 * grad != 0 also accumulates gradients scaled by `grad_scale` (1 for a single process; the
 * share of the global batch under MPI). f0_hz, loudness_db (B, F), target (B, N), ids (B)
 * the examples' global ids for the noise stream. */
double ddsp_trainer_step(ddsp_trainer *t, ddsp_mss_value *value, const float *f0_hz,
                         const float *loudness_db, const float *target, const int64_t *ids,
                         size_t B, uint64_t seed, uint64_t step, int grad, float grad_scale);
/* The audio (B, N) the last step synthesised (owned by t). */
const float *ddsp_trainer_audio(const ddsp_trainer *t);
/* Synthesize audio (B, N) from features with noise keyed by (seed, step, ids) and no loss;
 * parts: 0 all, 1 harmonic only, 2 noise only. */
void ddsp_trainer_synthesize(ddsp_trainer *t, float *audio, const float *f0_hz,
                             const float *loudness_db, const int64_t *ids, size_t B,
                             uint64_t seed, uint64_t step, int parts);

/* ---------------------------------------------------------------- where the time goes
 * The phases of a training step, in order. The trainer times forward..optim (wall clock,
 * ddsp_now, around each part; OpenMP work inside a part counts once); the run adds data
 * (the batch read), valid (a validation pass after the step) and ckpt (checkpoint and
 * samples, rank 0 writes while the other ranks wait). The reduce phase includes a rank's
 * wait for the slowest rank: across ranks, the gap between its slowest and fastest value is
 * the imbalance of the other phases. */
enum {
    DDSP_PHASE_DATA = 0, /* the batch: features and target audio from the dataset */
    DDSP_PHASE_FORWARD,  /* decoder forward (MLPs, GRU) */
    DDSP_PHASE_SYNTH,    /* noise draw and synthesizer forward */
    DDSP_PHASE_LOSS,     /* spectral loss and its gradient w.r.t. the audio */
    DDSP_PHASE_BACKWARD, /* synthesizer and decoder backward */
    DDSP_PHASE_REDUCE,   /* the sums over ranks (gradients, losses), waiting included */
    DDSP_PHASE_OPTIM,    /* zeroing gradients, norm, clipping, Adam */
    DDSP_STEP_PHASES,    /* the phases above make the step */
    DDSP_PHASE_VALID = DDSP_STEP_PHASES, /* validation after the step */
    DDSP_PHASE_CKPT,                     /* checkpoint and samples */
    DDSP_N_PHASES
};
/* "data", "forward", "synth", "loss", "backward", "reduce", "optim", "valid", "ckpt" (NULL
 * outside 0..DDSP_N_PHASES-1). */
const char *ddsp_phase_name(int phase);
/* Seconds of each phase of the trainer's last ddsp_trainer_step (forward, synth, loss,
 * backward; the others 0): DDSP_N_PHASES values owned by t. */
const double *ddsp_trainer_phases(const ddsp_trainer *t);

/* ---------------------------------------------------------------- one update
 * The optimisation step, the only one in the code base (the run, the tests and the benchmark
 * call it): zero the model's gradients; this rank's n examples forward and backward through
 * t, gradients scaled by their share n / global_B of the global batch; the sums over the
 * group d of the gradients, the losses and the stop flags (one dist call each); then, when
 * the global loss and gradient norm are finite, global-norm clipping and one Adam update of
 * o; otherwise the update is skipped and the weights stay those of the last good step. */
typedef struct {
    double loss;                            /* the global batch's mean loss */
    double per_scale[DDSP_MSS_MAX_SCALES];  /* its per-scale parts */
    double grad_norm;                       /* of the summed gradient, before clipping */
    double lr;                              /* the rate of this update */
    int skipped;                            /* non-finite loss or gradient: no update */
    int stop;                               /* some rank passed stop != 0 */
    double reduce_s;                        /* seconds in the cross-rank sums (0 on one rank) */
    double phase_s[DDSP_N_PHASES];          /* this rank's seconds: forward..optim filled
                                               (reduce also on one rank), the rest 0 */
} ddsp_train_result;

/* DDSP_OK, or DDSP_ERR when a collective fails (the same on every rank). `step` keys the
 * noise (see above). */
int ddsp_train_update(ddsp_trainer *t, ddsp_adam *o, const ddsp_dist *d, const float *f0_hz,
                      const float *loudness_db, const float *target, const int64_t *ids,
                      size_t n, size_t global_B, uint64_t seed, uint64_t step, int stop,
                      ddsp_train_result *res);

#endif
