/* ddsp/report.h — a run's report: one static HTML page that shows how a run is going and
 * what it sounds like, written from the run folder alone (no server, no network: it opens
 * from file:// and from a copy of the folder).
 *
 * The page (OUT/index.html, OUT = RUN_DIR/report by default, its images beside it):
 *  - the run's state (step of steps, losses, throughput), its settings (run.h5) and its
 *    dataset (the file, when it opens, and the checkpoint's /dataset_stats);
 *  - curves from train.csv as PNGs: training loss (every step and a moving mean) with the
 *    validation points, on a linear and a logarithmic axis (a switch on the page), the loss
 *    per scale, the gradient norm, the learning rate, the throughput;
 *  - where the time goes: a stacked bar per interval of steps (inline SVG) of the phases of
 *    ddsp/train.h, a table of their means, and under MPI the slowest and the fastest rank's
 *    time per phase (train.csv's <phase>_s_max / _min columns);
 *  - every checkpoint, newest first: the target and reconstruction spectrograms of the
 *    monitoring examples side by side and an <audio> player for each (RUN_DIR/samples,
 *    ddsp/run.h; spectrograms of a checkpoint without samples come from its file);
 *  - the metrics of `ddsp eval --csv RUN_DIR/eval*.csv` files, when there are some.
 * What is missing (no train.csv, no checkpoint yet, samples deleted, dataset moved) is said
 * on the page, which is still written. The HTML is well-formed XML (every element closed,
 * attributes quoted, text escaped). Files are replaced atomically; a spectrogram image is
 * drawn again only when its sources are newer (a refresh at every checkpoint of a long run
 * draws one new image, not all of them).
 *
 * With OUT outside RUN_DIR/report the samples the page plays are linked (or copied) into
 * OUT/samples/, so OUT stands alone.
 */
#ifndef DDSP_REPORT_H
#define DDSP_REPORT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *run_dir; /* the run folder */
    const char *out_dir; /* NULL or "": RUN_DIR/report (created when missing) */
} ddsp_report_opts;

typedef struct {
    char page[PATH_MAX]; /* the index.html written */
    int n_checkpoints;   /* checkpoint sections on the page */
    int n_players;       /* <audio> elements */
    int n_images;        /* <img> elements */
    int n_drawn;         /* PNGs drawn by this call (the others were up to date) */
    int n_notes;         /* things the page says are missing */
    double seconds;      /* wall time of the call */
} ddsp_report_info;

/* Write the report of run_dir. DDSP_OK (info filled when not NULL), or DDSP_ERR with one line
 * naming the folder and the problem: no such folder, not a run folder (none of run.h5,
 * train.csv, ckpt-*.h5 in it), OUT cannot be created or written. Missing parts of a run are
 * not errors: the page says what is missing. Single process (call it on one rank). */
int ddsp_report_write(const ddsp_report_opts *o, ddsp_report_info *info);

#endif
