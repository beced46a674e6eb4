/* Private to the train module: the run object shared by run.c (open, settings, folder,
 * close) and run_loop.c (the training loop, validation, monitoring, checkpoints). */
#ifndef DDSP_TRAIN_RUN_INTERNAL_H
#define DDSP_TRAIN_RUN_INTERNAL_H

#include <limits.h>
#include <signal.h>
#include <stdio.h>

#include "ddsp/ckpt.h"
#include "ddsp/data.h"
#include "ddsp/dist.h"
#include "ddsp/loss.h"
#include "ddsp/model.h"
#include "ddsp/optim.h"
#include "ddsp/run.h"
#include "ddsp/train.h"

enum { RUN_MAX_MONITOR = 2, RUN_MON_NFFT = 1024, RUN_MON_HOP = 256, RUN_N_STATS = 7 };

struct ddsp_run {
    ddsp_dist d;
    ddsp_run_settings s;   /* the run's settings (the same on every rank) */
    ddsp_dataset ds;
    int ds_open;
    ddsp_model m;
    ddsp_adam opt;
    ddsp_loss_config lc;
    ddsp_trainer *tr;
    ddsp_batcher bt;
    size_t N, F;
    int64_t step, epoch, pos; /* next step to run (updates done) and the data position */
    int resumed;
    ddsp_ckpt_history hist;
    FILE *csv;                /* rank 0 */
    int lock_fd;              /* rank 0: RUN_DIR/.lock, held for the run's lifetime; -1 none */
    /* monitoring examples (rank 0): rows, target audio and log spectrograms */
    int n_mon;
    int64_t mon_ex[RUN_MAX_MONITOR];
    float *mon_target[RUN_MAX_MONITOR], *mon_tlog[RUN_MAX_MONITOR], *mon_recon[RUN_MAX_MONITOR],
        *mon_rlog[RUN_MAX_MONITOR];
    size_t mon_F, mon_K;
    double stats[RUN_N_STATS]; /* training-data statistics for /dataset_stats (rank 0) */
    ddsp_run_summary sum;
    int (*on_checkpoint)(const char *run_dir, int64_t step, void *ctx); /* rank 0 */
    void *hook_ctx;
    struct sigaction old_sig[3]; /* SIGUSR1, SIGTERM, SIGINT before open */
    int sig_installed;
};

/* The stop request of the signal handlers (0: none; else the signal). */
extern volatile sig_atomic_t ddsp_run_stop_signal;

/* train.csv's header line (with its newline) for this run's loss (run.c). */
int run_csv_header(const ddsp_run *r, char *out, size_t cap);
/* RUN_DIR/name into out[cap]; an error if it does not fit (run.c). */
int run_path(const ddsp_run *r, const char *name, char *out, size_t cap);

/* run_loop.c */
int run_monitor_init(ddsp_run *r);
int run_data_stats(ddsp_run *r);
int run_write_checkpoint(ddsp_run *r);

#endif
