/* ddsp/run.h — a training run as a library object: open (create or resume a run folder),
 * train, close. `ddsp train`, the tests and the benchmark all go through it (and through
 * ddsp_train_update, ddsp/train.h, the one update sequence).
 *
 * The run folder contract (README "Run folders"):
 *  - RUN_DIR/run.h5 (format "ddsp-run") holds every setting, typed, with absolute paths, and
 *    a random run id; it is written when the run starts, before the first step. Every
 *    checkpoint RUN_DIR/ckpt-<step>.h5 of the run carries the same id and settings (/config).
 *  - A resume reads them: a run killed before its first checkpoint resumes with its own
 *    settings. Only steps, checkpoint and validation cadence, keep, log interval and the
 *    dataset's path may change between sessions (each change is logged once); a request that
 *    would change anything else (model, loss, seed, precision, learning rate, batch, ...) is
 *    refused, naming the flag.
 *  - Pruning (keep) and resume consider only readable checkpoints of this run's id; a file
 *    named ckpt-*.h5 that does not open is named in a warning, never counted or deleted.
 *  - A fresh run into a folder that holds another run's files (run.h5, checkpoints,
 *    train.csv) is refused, unless set_aside: those files are then moved into
 *    RUN_DIR/aside-<id>-<time>/ first. Nothing of another run is ever deleted or overwritten.
 *  - train.csv starts with a header; a resume drops its rows past the resumed step. Its
 *    columns: step, train_loss, valid_loss, grad_norm, lr, audio_s_per_s, elapsed_s (these
 *    first, always), then loss_<n_fft> per scale of the loss, then the seconds of every phase
 *    of the step (<phase>_s, ddsp/train.h: rank 0's), then <phase>_s_max and <phase>_s_min
 *    for the step's phases data..optim: the slowest and the fastest rank's (equal to
 *    <phase>_s on one rank). A row is written once the step's checkpoint (if any) is.
 *  - Samples: at every checkpoint rank 0 writes RUN_DIR/samples/step-<step>-example-<row>.wav,
 *    the monitoring examples resynthesised (the recon_audio of the checkpoint), and once
 *    samples/target-example-<row>.wav, their originals (float WAV). Pruning checkpoints never
 *    removes samples: every checkpoint of the run stays audible.
 *  - One run per folder: rank 0 holds a lock on RUN_DIR/.lock for the run's lifetime.
 * Signals while a run is open: SIGUSR1, SIGTERM and SIGINT finish the step, write a
 * checkpoint and stop (DDSP_RUN_STOPPED, one line saying so); a second SIGINT ends the
 * process at once. A signal ignored when the process started stays ignored.
 */
#ifndef DDSP_RUN_H
#define DDSP_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "ddsp/ckpt.h"
#include "ddsp/dist.h"

/* Outcomes beyond DDSP_OK (0) and DDSP_ERR (-1). */
#define DDSP_RUN_REFUSED 2 /* the request contradicts the settings or the folder (usage) */
#define DDSP_RUN_STOPPED 3 /* a signal stopped the run after its checkpoint (resumable) */

/* The settings a request gives explicitly (a resume compares them with the run's own). */
enum {
    DDSP_RUN_GIVEN_MODEL = 1u << 0,
    DDSP_RUN_GIVEN_REVERB = 1u << 1,
    DDSP_RUN_GIVEN_LD_RANGE = 1u << 2,
    DDSP_RUN_GIVEN_LOSS = 1u << 3,
    DDSP_RUN_GIVEN_SEED = 1u << 4,
    DDSP_RUN_GIVEN_LR = 1u << 5,
    DDSP_RUN_GIVEN_LR_DECAY = 1u << 6,
    DDSP_RUN_GIVEN_CLIP = 1u << 7,
    DDSP_RUN_GIVEN_BATCH = 1u << 8,
    DDSP_RUN_GIVEN_PRECISION = 1u << 9,
    DDSP_RUN_GIVEN_DATA = 1u << 10,
    DDSP_RUN_GIVEN_STEPS = 1u << 11,
    DDSP_RUN_GIVEN_VALID_EVERY = 1u << 12,
    DDSP_RUN_GIVEN_CKPT_EVERY = 1u << 13,
    DDSP_RUN_GIVEN_KEEP = 1u << 14,
    DDSP_RUN_GIVEN_LOG_EVERY = 1u << 15,
};

/* full model, l1log, seed 1, Adam 3e-4 without decay, clip 3, batch 4, fp32, 300 steps,
 * validation and checkpoints every 100, keep 3, a progress line every 5 s, ld_range 120. */
void ddsp_run_settings_default(ddsp_run_settings *s);

typedef struct {
    const char *run_dir;         /* the run folder (created when missing) */
    ddsp_run_settings settings;  /* what the caller asks for (defaults where not given) */
    unsigned given;              /* DDSP_RUN_GIVEN_* bits */
    int resume;                  /* continue the run in run_dir when it has one (none: a
                                    fresh run, so a requeued job can always ask) */
    const char *from_file;       /* resume from this checkpoint file instead (may be NULL) */
    int set_aside;               /* fresh run where another run's files are: move them aside */
    const char *const *audio;    /* with settings.data "": prepared into RUN_DIR/dataset.h5 */
    int n_audio;
    /* Called on rank 0 after each checkpoint and its samples are on disk, outside the timed
     * step (the other ranks wait meanwhile); e.g. `ddsp train` refreshes the run's report
     * (ddsp/report.h, a module above this one). A non-zero return is logged as a warning
     * (ddsp_last_error()) and training goes on. NULL: nothing. */
    int (*on_checkpoint)(const char *run_dir, int64_t step, void *ctx);
    void *hook_ctx;
} ddsp_run_request;

typedef struct ddsp_run ddsp_run;

/* Everything before the first step, collective over d: folder, lock, settings, data,
 * model, optimiser, plans. *out is set on DDSP_OK. DDSP_ERR (a failure; message) or
 * DDSP_RUN_REFUSED (a usage error: message names the flag or what the folder holds); the
 * same on every rank. */
int ddsp_run_open(ddsp_run **out, const ddsp_run_request *q, const ddsp_dist *d);
/* Train to settings.steps: batches, updates, validation, progress lines, checkpoints, and at
 * the end (when any step ran) RUN_DIR/resynth.wav and target.wav. DDSP_OK, DDSP_ERR or
 * DDSP_RUN_STOPPED; the same on every rank. */
int ddsp_run_train(ddsp_run *r);
/* Release everything, the folder's lock and the signal handlers. NULL is fine. */
void ddsp_run_close(ddsp_run *r);

typedef struct {
    int64_t step;         /* the run's step now */
    int64_t done;         /* steps run by this session */
    double seconds;       /* wall time of ddsp_run_train */
    double first_loss, last_loss;
    double last_valid;    /* NaN without a validation split */
    int has_valid;
    int resumed;          /* 1 when the session continued a run */
    double hook_s;        /* seconds in on_checkpoint (within seconds) */
    int hook_calls;
} ddsp_run_summary;
void ddsp_run_get_summary(const ddsp_run *r, ddsp_run_summary *s);
const ddsp_run_settings *ddsp_run_get_settings(const ddsp_run *r);
/* The live model and optimiser (tests compare them). */
const ddsp_model *ddsp_run_get_model(const ddsp_run *r);
const ddsp_adam *ddsp_run_get_adam(const ddsp_run *r);

/* RUN_DIR/samples/step-<step, 8 digits>-example-<example>.wav into path (cap bytes); step < 0:
 * RUN_DIR/samples/target-example-<example>.wav. DDSP_OK, or DDSP_ERR when it does not fit. */
int ddsp_run_sample_path(char *path, size_t cap, const char *run_dir, int64_t step,
                         int64_t example);
/* 1 when `name` (a file name in samples/) is one of those, with *step (-1 for a target) and
 * *example set; 0 otherwise. */
int ddsp_run_sample_parse(const char *name, int64_t *step, int64_t *example);

#endif
