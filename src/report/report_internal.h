/* Private to the report module: what report.c gathers from a run folder and what
 * report_figures.c draws from it. */
#ifndef DDSP_REPORT_INTERNAL_H
#define DDSP_REPORT_INTERNAL_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>

#include "ddsp/ckpt.h"
#include "ddsp/report.h"

/* train.csv as numbers: rows x columns, NaN where a field is empty, missing or not a number. */
typedef struct {
    int n_cols;
    char **names;  /* (n_cols) the header's column names */
    size_t n_rows;
    double *v;     /* (n_rows, n_cols) */
} report_csv;
/* DDSP_OK; 1 when the file does not exist; DDSP_ERR (unreadable, no header, memory). */
int report_csv_read(const char *path, report_csv *c);
/* The column's index, or -1. */
int report_csv_col(const report_csv *c, const char *name);
static inline double report_csv_at(const report_csv *c, size_t row, int col) {
    return col < 0 ? __builtin_nan("") : c->v[row * (size_t)c->n_cols + (size_t)col];
}
void report_csv_free(report_csv *c);

#define REPORT_MAX_EX 8
/* One checkpoint of the page: its file and its samples. */
typedef struct {
    int64_t step;
    int has_file;                   /* RUN_DIR/ckpt-<step>.h5 is a readable checkpoint */
    int n_ex;                       /* examples with a reconstruction in samples/ */
    int64_t ex[REPORT_MAX_EX];      /* their dataset rows, ascending */
} report_ckpt;

typedef struct {
    char dir[PATH_MAX], out[PATH_MAX];
    char audio_prefix[16];          /* how the page reaches samples/: "../samples/" or "samples/" */
    report_csv csv;
    int has_csv;
    report_ckpt *ck;                /* newest first */
    int n_ck;
    int n_targets;
    int64_t targets[REPORT_MAX_EX]; /* examples with a target sample */
    int has_samples_dir;
    int n_drawn;
} report_run;

/* Paths inside the run folder and the output folder (DDSP_ERR when too long). */
int report_in(const report_run *r, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int report_out(const report_run *r, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* report_figures.c. The curve PNGs from train.csv into OUT; names[] receives the files
 * written ("" for a chart without data), in the order loss, loss_log, scales, grad, lr,
 * speed. DDSP_ERR when a PNG cannot be written. */
enum { REPORT_N_CURVES = 6 };
int report_curves(report_run *r, char names[REPORT_N_CURVES][32]);
/* OUT/spec-<step>.png for checkpoint c (from its samples, else from its file), drawn only
 * when missing or older than its sources. 1 when there is nothing to draw from, DDSP_OK,
 * DDSP_ERR (message). */
int report_spectrogram(report_run *r, const report_ckpt *c, char *name, size_t cap);
/* The time split section's body (SVG bars, table) into f; 0 when train.csv has no timings. */
int report_time_split(const report_run *r, FILE *f);
/* Text with &, <, >, " escaped. */
void report_esc(FILE *f, const char *s);

#endif
