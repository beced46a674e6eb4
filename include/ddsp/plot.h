/* ddsp/plot.h — figures as PNG files (cairo): log-magnitude spectrograms on one shared colour
 * scale with a colour bar, and a line chart (loss curves), laid out on one page.
 *
 * Layout (width x height pixels, default 1600 x 900): a title band on top; the spectrograms
 * as a grid (spec_cols columns, row-major) with the colour bar at its right; the chart, when
 * there are series, in the right ~40% of the page (the whole page when there are no
 * spectrograms, and the spectrograms take the whole page when there are no series).
 *
 * Spectrograms are drawn in dBFS: 20 log10(|X| / (n_fft / 4)), so 0 dB is the peak bin of a
 * full-scale sine under a periodic Hann window; the colour scale (magma) runs from
 * db_range dB below the loudest value shown (rounded up to 10 dB) to that value. Time runs
 * left to right (frame f starts at f * hop / sample_rate s), frequency bottom to top, from 0
 * to sample_rate / 2.
 *
 * Built without cairo (its headers not on the include path), every function here fails with
 * a message saying so and ddsp_plot_available() returns 0.
 */
#ifndef DDSP_PLOT_H
#define DDSP_PLOT_H

#include <stddef.h>
#include <stdint.h>

/* 1 when this build can draw (cairo), 0 otherwise. */
int ddsp_plot_available(void);

typedef struct {
    const float *logmag; /* (F, K) natural log of |STFT| (+ a small epsilon), K = n_fft/2 + 1 */
    size_t F, K;
    int n_fft, hop;
    double sample_rate; /* Hz */
    const char *title;  /* above the panel (may be NULL) */
    /* heatmap figures only (ddsp_plot_figure.heatmap): logmag holds plain values on a grid,
     * F points along x from x0 to x1, K along y from y0 to y1, axes labelled as given */
    double x0, x1, y0, y1;
    const char *x_label, *y_label;
} ddsp_plot_spec;

typedef struct {
    const double *x, *y; /* (n); non-finite points break the line (and are skipped on log y) */
    size_t n;
    const char *label; /* legend entry (NULL: not in the legend) */
    uint32_t rgb;      /* 0xRRGGBB */
    double width;      /* line width in pixels (0: 2) */
    int markers;       /* 1: also draw a dot at every point */
} ddsp_plot_series;

typedef struct {
    int width, height;    /* pixels; 0 = 1600 x 900; each at most 16384 */
    const char *title;    /* top line, large (may be NULL) */
    const char *subtitle; /* second line, smaller, grey (may be NULL) */
    const ddsp_plot_spec *specs;
    int n_specs, spec_cols; /* spec_cols 0 = all in one row */
    double db_range;        /* colour scale span in dB (0 = 80) */
    const ddsp_plot_series *series;
    int n_series;
    const char *chart_title, *x_label, *y_label;
    int log_y; /* logarithmic y axis for the chart */
    /* 1: the specs are heatmaps of plain values (no dB), on one linear colour scale from the
     * smallest to the largest value shown, the colour bar labelled colorbar_label */
    int heatmap;
    const char *colorbar_label;
    /* text, margins and lines relative to those of a 1600 x 900 page (0: from the size, at
     * least 0.6); e.g. 1.3 for a small chart shown at its own size on a web page */
    double scale;
} ddsp_plot_figure;

/* Draw `fig` and write it to `path` as a PNG (through PATH.tmp.<pid>, renamed when complete:
 * a failure never leaves a partial file under `path`). DDSP_OK, or DDSP_ERR with a one-line
 * message naming the file (cannot create, write error) or the bad figure. */
int ddsp_plot_write_png(const char *path, const ddsp_plot_figure *fig);

/* Up to max_ticks "nice" tick positions (1, 2, 2.5 or 5 times a power of ten apart) inside
 * [lo, hi] into ticks; returns how many, and their spacing in *step. For tests and labels. */
int ddsp_plot_nice_ticks(double lo, double hi, int max_ticks, double *ticks, double *step);

/* Width and height from the IHDR chunk of a PNG file. DDSP_OK, or DDSP_ERR naming the file
 * (missing, not a PNG). */
int ddsp_plot_png_size(const char *path, int *width, int *height);

/* ---------------------------------------------------------------- figures of files */
#define DDSP_PLOT_MAX_AUDIO 4
typedef struct {
    const char *out;         /* the PNG (replaced atomically) */
    size_t examples;         /* checkpoint: monitoring examples at most (<= 8) */
    size_t n_fft, hop;       /* audio: 0 = automatic */
    size_t width, height;    /* 0 = 1600 x 900 */
    double db_range;         /* 0 = 80 dB */
    int log_y;               /* logarithmic loss / distance axis */
} ddsp_plot_opts;
/* One PNG of a checkpoint (or a run folder's newest), a landscape or a jacobian file, chosen
 * by the file's format. On DDSP_OK a one-line summary ("wrote ...") is in summary (cap bytes);
 * DDSP_ERR names the file and the problem. */
int ddsp_plot_file(const char *path, const ddsp_plot_opts *o, char *summary, size_t cap);
/* Log-magnitude spectrograms of 1..DDSP_PLOT_MAX_AUDIO audio files side by side. */
int ddsp_plot_audio_files(const char *const *files, int n, const ddsp_plot_opts *o, char *summary,
                          size_t cap);

#endif
