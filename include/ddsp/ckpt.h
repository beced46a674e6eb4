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

#include "ddsp/formats.h"

/* What a training run is and how it runs: written to RUN_DIR/run.h5 when the run starts
 * (before its first step) and into every checkpoint's /config, typed; a resume reads it back.
 * The first group defines the run (a resume refuses to change it); the second may change
 * between sessions of a run. Paths are absolute. */
typedef struct {
    char run_id[24];    /* 16 hex digits, random, shared by the run's checkpoints */
    char model[16];     /* model preset ("full", "small") */
    int reverb;         /* trainable reverb on */
    double ld_range;    /* loudness scaling range (dB) */
    char loss[1024];    /* the loss as ddsp_loss_describe writes it (parses back) */
    int64_t seed;       /* weights, data order and noise */
    double lr, lr_decay, clip;
    int64_t batch;      /* global batch */
    char precision[8];  /* "fp32" */
    char data[4096];    /* the dataset (may move between sessions) */
    int64_t steps, valid_every, ckpt_every, keep;
    double log_every;   /* seconds between progress lines */
    char run_dir[4096]; /* where the run lives */
} ddsp_run_settings;

/* Write s to RUN_DIR/run.h5 (format "ddsp-run", atomically). DDSP_OK or DDSP_ERR. */
int ddsp_ckpt_run_write(const char *run_dir, const ddsp_run_settings *s);
/* Read RUN_DIR/run.h5 into s: DDSP_OK; 1 when the folder has no run file; DDSP_ERR (message
 * names the file) when it exists but cannot be read as one. */
int ddsp_ckpt_run_read(const char *run_dir, ddsp_run_settings *s);

/* Training history, grown by appending (amortised doubling; not in the step's hot path). */
typedef struct {
    int64_t n, cap;
    int64_t *step;
    double *train_loss, *grad_norm, *lr, *audio_s_per_s, *elapsed_s;
    int64_t nv, vcap;
    int64_t *valid_step;
    double *valid_loss;
} ddsp_ckpt_history;

int ddsp_ckpt_history_add(ddsp_ckpt_history *h, int64_t step, double loss, double grad_norm, double lr,
                     double audio_s_per_s, double elapsed_s);
int ddsp_ckpt_history_add_valid(ddsp_ckpt_history *h, int64_t step, double loss);
void ddsp_ckpt_history_free(ddsp_ckpt_history *h);

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
    char run_id[24]; /* read: the checkpoint's run id ("" for version-1 files) */
} ddsp_ckpt_state;

typedef struct {
    ddsp_ckpt_state state;
    const ddsp_ckpt_history *history;     /* may be NULL */
    const ddsp_ckpt_monitor *monitor; /* n_monitor entries, may be NULL */
    int n_monitor;
    size_t monitor_N, monitor_F, monitor_K;
    int monitor_n_fft, monitor_hop;
    const ddsp_run_settings *settings; /* the run's settings and id (may be NULL) */
    const char *const *stat_names; /* n_stats /dataset_stats attributes (may be NULL) */
    const double *stat_values;
    int n_stats;
} ddsp_ckpt_info;

/* Write model (and the optimiser when o != NULL) atomically. DDSP_OK or DDSP_ERR (message
 * names the file; the previous file at `path`, if any, is untouched). */
int ddsp_ckpt_write(const char *path, const ddsp_model *m, const ddsp_adam *o,
                    const ddsp_loss_config *loss, const ddsp_ckpt_info *info);

/* Read a checkpoint: the model (initialised here from /config: free with ddsp_model_free),
 * and when non-NULL the optimiser (initialised here; o->cfg from /config), the state, the
 * history, and the loss settings. Imports the stored FFTW wisdom when import_wisdom != 0
 * (before any plan is made, a resumed run then uses the same plans). DDSP_OK or DDSP_ERR
 * naming the file and the problem (not a checkpoint, version, missing tensor, wrong shape,
 * non-finite values). */
int ddsp_ckpt_read(const char *path, ddsp_model *m, ddsp_adam *o, ddsp_ckpt_state *state,
                   ddsp_ckpt_history *history, ddsp_loss_config *loss, int import_wisdom);

/* The run settings a checkpoint's /config records (version 1 files: those they have, the
 * rest defaults; run_id ""). DDSP_OK or DDSP_ERR naming the file and the field. */
int ddsp_ckpt_read_settings(const char *path, ddsp_run_settings *s);

/* One /dataset_stats attribute (e.g. "f0_midi_mean"). DDSP_OK or DDSP_ERR. */
int ddsp_ckpt_stat(const char *path, const char *name, double *v);

/* Just the model (for resynthesis and inspection). */
int ddsp_ckpt_read_model(const char *path, ddsp_model *m, int64_t *step, uint64_t *seed);

/* The checkpoints RUN_DIR/ckpt-<step>.h5 of run `run_id` that open as checkpoints, newest
 * first (*steps: caller frees; *n may be 0). run_id NULL: the folder's run (its run.h5's id,
 * or every checkpoint when it has none); "": those without an id (ddsp before run ids).
 * A ckpt-*.h5 that does not open is named in a warning and never counted; another run's
 * checkpoints are skipped. DDSP_OK or DDSP_ERR (unreadable folder). */
int ddsp_ckpt_list(const char *run_dir, const char *run_id, int64_t **steps, int *n);
/* Newest of them into path (cap bytes): DDSP_OK, or DDSP_ERR when there is none (message
 * says so). */
int ddsp_ckpt_latest(const char *run_dir, const char *run_id, char *path, size_t cap);
/* Path of the checkpoint of `step` in run_dir. */
void ddsp_ckpt_path(char *path, size_t cap, const char *run_dir, int64_t step);
/* Delete all but the newest `keep` (>= 1) checkpoints of run run_id (as ddsp_ckpt_list:
 * unreadable files and other runs' checkpoints are never counted or deleted). */
void ddsp_ckpt_prune(const char *run_dir, const char *run_id, int keep);

/* What `ddsp plot` draws from a checkpoint: up to `max_examples` (<= DDSP_CKPT_VIEW_MAX)
 * monitoring examples' target/reconstruction log spectrograms (frames[k] x bins, row-major),
 * the history, and the step, model, loss, sample rate and weight count (NaN / -1 / "" when
 * absent). Free with ddsp_ckpt_view_free. DDSP_ERR naming the file and the dataset. */
#define DDSP_CKPT_VIEW_MAX 8
typedef struct {
    int64_t step, n_weights;
    double sample_rate;
    char model[32], loss[512];
    int n_examples, n_fft, hop;
    size_t bins, frames[DDSP_CKPT_VIEW_MAX];
    int64_t example[DDSP_CKPT_VIEW_MAX]; /* the dataset row, -1 unknown */
    float *target[DDSP_CKPT_VIEW_MAX], *recon[DDSP_CKPT_VIEW_MAX];
    ddsp_ckpt_history hist;
} ddsp_ckpt_view;
int ddsp_ckpt_read_view(const char *path, int max_examples, ddsp_ckpt_view *v);
void ddsp_ckpt_view_free(ddsp_ckpt_view *v);

#endif
