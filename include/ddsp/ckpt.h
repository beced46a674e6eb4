/* ddsp/ckpt.h — HDF5 checkpoints: everything a run needs to continue exactly, plus what a
 * person wants to look at.
 *
 * Layout (format "ddsp-checkpoint", format_version 1; attributes on / name it):
 *   /model/<tensor name>              float32, the tensor's shape (e.g. /model/decoder/gru/kernel)
 *   /optimizer/m/<name>, /v/<name>    Adam moments, same shapes; attribute step on /optimizer
 *   /config                           attributes: every model, synth, loss, optimiser and
 *                                     run setting, plus ddsp_version
 *   /state                            attributes step, seed, epoch, epoch_position, n_ranks;
 *                                     strings fftw_wisdom_float / fftw_wisdom_double (the
 *                                     FFT plans, so a resumed run computes bit for bit the same)
 *   /history                          step, train_loss, grad_norm, lr, audio_s_per_s,
 *                                     elapsed_s (one row per step); valid_step, valid_loss
 *   /spectrograms/example_<k>         monitoring examples: target_logmag, recon_logmag
 *                                     (frames x bins, log(|STFT| + 1e-5) at one FFT size, see
 *                                     attributes n_fft, hop), target_audio, recon_audio;
 *                                     attribute example = dataset row
 *   /dataset_stats                    attributes describing the training data (f0 and loudness
 *                                     statistics on confident frames) for timbre transfer
 * The random state is (seed, step): noise and data order come from a counter-based RNG, so
 * nothing else is needed. Files are written to PATH.tmp, flushed and renamed over PATH only
 * when complete: a crash or a full disk never leaves a half-written checkpoint under a real
 * name, and the previous checkpoint stays intact.
 */
#ifndef DDSP_CKPT_H
#define DDSP_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "ddsp/loss.h"
#include "ddsp/model.h"
#include "ddsp/optim.h"

#define DDSP_CKPT_FORMAT "ddsp-checkpoint"
#define DDSP_CKPT_VERSION 1

/* Training history, grown by appending (amortised doubling; not in the step's hot path). */
typedef struct {
    int64_t n, cap;
    int64_t *step;
    double *train_loss, *grad_norm, *lr, *audio_s_per_s, *elapsed_s;
    int64_t nv, vcap;
    int64_t *valid_step;
    double *valid_loss;
} ddsp_history;

int ddsp_history_add(ddsp_history *h, int64_t step, double loss, double grad_norm, double lr,
                     double audio_s_per_s, double elapsed_s);
int ddsp_history_add_valid(ddsp_history *h, int64_t step, double loss);
void ddsp_history_free(ddsp_history *h);

/* One monitoring example for /spectrograms (buffers borrowed for the write). */
typedef struct {
    int64_t example;                           /* dataset row */
    const float *target_audio, *recon_audio;   /* (N) */
    const float *target_logmag, *recon_logmag; /* (F, K) */
} ddsp_ckpt_monitor;

typedef struct {
    int64_t step, epoch, epoch_position;
    uint64_t seed;
    int n_ranks;
} ddsp_ckpt_state;

typedef struct {
    ddsp_ckpt_state state;
    const ddsp_history *history;     /* may be NULL */
    const ddsp_ckpt_monitor *monitor; /* n_monitor entries, may be NULL */
    int n_monitor;
    size_t monitor_N, monitor_F, monitor_K;
    int monitor_n_fft, monitor_hop;
    const char *const *keys; /* n_extra free-form /config string attributes (may be NULL) */
    const char *const *values;
    int n_extra;
    const char *const *stat_names; /* n_stats /dataset_stats attributes (may be NULL) */
    const double *stat_values;
    int n_stats;
} ddsp_ckpt_info;

/* Write model (and the optimiser when o != NULL) atomically. DDSP_OK or DDSP_ERR (message
 * names the file; the previous file at `path`, if any, is untouched). */
int ddsp_ckpt_write(const char *path, const ddsp_model *m, const ddsp_adam *o,
                    const ddsp_mss_config *loss, const ddsp_ckpt_info *info);

/* Read a checkpoint: the model (initialised here from /config: free with ddsp_model_free),
 * and when non-NULL the optimiser (initialised here; o->cfg from /config), the state, the
 * history, and the loss settings. Imports the stored FFTW wisdom when import_wisdom != 0
 * (before any plan is made, a resumed run then uses the same plans). DDSP_OK or DDSP_ERR
 * naming the file and the problem (not a checkpoint, version, missing tensor, wrong shape,
 * non-finite values). */
int ddsp_ckpt_read(const char *path, ddsp_model *m, ddsp_adam *o, ddsp_ckpt_state *state,
                   ddsp_history *history, ddsp_mss_config *loss, int import_wisdom);

/* A free-form /config string attribute (as written through ddsp_ckpt_info keys/values). */
int ddsp_ckpt_config_str(const char *path, const char *key, char *buf, size_t cap);

/* One /dataset_stats attribute (e.g. "f0_midi_mean"). DDSP_OK or DDSP_ERR. */
int ddsp_ckpt_stat(const char *path, const char *name, double *v);

/* Just the model (for resynthesis and inspection). */
int ddsp_ckpt_read_model(const char *path, ddsp_model *m, int64_t *step, uint64_t *seed);

/* Newest readable checkpoint RUN_DIR/ckpt-<step>.h5 into path (cap bytes): DDSP_OK, or
 * DDSP_ERR when the folder has none (message says so). */
int ddsp_ckpt_latest(const char *run_dir, char *path, size_t cap);
/* Path of the checkpoint of `step` in run_dir. */
void ddsp_ckpt_path(char *path, size_t cap, const char *run_dir, int64_t step);
/* Delete all but the newest `keep` checkpoints of run_dir (keep >= 1). */
void ddsp_ckpt_prune(const char *run_dir, int keep);

#endif
