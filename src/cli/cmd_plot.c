/* `ddsp plot CKPT.h5 --out FIG.png`: a checkpoint's monitoring spectrograms (target vs
 * reconstruction) and its training / validation loss curves on one PNG page.
 * `ddsp plot --audio A.wav B.wav --out FIG.png`: log-magnitude spectrograms of audio files
 * side by side. The drawing is in src/plot (cairo); this file reads and lays out. */
#include "cli/cli.h"
#include "ddsp/audio.h"
#include "ddsp/ckpt.h"
#include "ddsp/dsp.h"
#include "ddsp/plot.h"
#include "ddsp/util.h"

#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *HELP =
    "usage: ddsp plot CKPT.h5|RUN_DIR --out FIG.png [options]\n"
    "       ddsp plot --audio A.wav [B.wav ...] --out FIG.png [options]\n"
    "       ddsp plot LANDSCAPE.h5|J.h5 --out FIG.png   (from ddsp landscape / jacobian)\n"
    "\n"
    "Draws a PNG. From a checkpoint: the monitoring examples' target and reconstruction\n"
    "log-magnitude spectrograms (/spectrograms) on one colour scale, and the training and\n"
    "validation loss curves (/history). With --audio: the spectrograms of up to 4 audio\n"
    "files side by side (any format libsndfile reads, any sample rate; stereo is downmixed).\n"
    "Given a run folder, plots its newest checkpoint. A landscape file gives one curve (1-D)\n"
    "or heatmap (2-D) per distance, each divided by the target's distance to silence; a\n"
    "Jacobian file its singular value spectrum.\n"
    "Levels are dBFS: 0 dB is the peak of a full-scale sine.\n"
    "\n"
    "options:\n"
    "  --out FIG.png       the PNG to write (required; replaced atomically)\n"
    "  --examples N        checkpoint: at most N monitoring examples (default 3)\n"
    "  --log-y             checkpoint: logarithmic loss axis\n"
    "  --audio             the positional arguments are audio files\n"
    "  --n-fft N           audio: FFT size (default: the power of two nearest 64 ms)\n"
    "  --hop N             audio: hop in samples (default n_fft / 4, longer for recordings\n"
    "                      of more than 8192 such hops)\n"
    "  --db-range DB       colour scale span below the loudest value (default 80)\n"
    "  --width W, --height H   figure size in pixels (default 1600 x 900)\n";

#define MAX_EXAMPLES 8
#define MAX_AUDIO 4

typedef struct {
    const char *out;
    size_t examples, n_fft, hop, width, height;
    double db_range;
    int log_y;
} plot_opts;

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Open a checkpoint read-only after checking it is one (messages as ddsp_ckpt_read). */
static hid_t open_checkpoint(const char *path) {
    ddsp_h5_quiet();
    if (access(path, F_OK) != 0) return ddsp_error("%s: no such file", path);
    if (access(path, R_OK) != 0) return ddsp_error("%s: not readable (permission denied)", path);
    if (H5Fis_hdf5(path) <= 0) return ddsp_error("%s: not an HDF5 file (a checkpoint is)", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot open as HDF5 (truncated or damaged?)", path);
    char fmt[64] = "";
    if (ddsp_h5_attr_get_str(f, "format", fmt, sizeof fmt) || strcmp(fmt, DDSP_CKPT_FORMAT)) {
        H5Fclose(f);
        return ddsp_error("%s: not a ddsp checkpoint (format attribute '%s'; checkpoints are "
                          "the ckpt-<step>.h5 files of a run folder)",
                          path, fmt[0] ? fmt : "missing");
    }
    return f;
}

static int has(hid_t loc, const char *name) {
    return H5Lexists(loc, name, H5P_DEFAULT) > 0;
}

/* An attribute of group `grp` (NULL: of the file), as a number; NAN when absent. */
static double attr_num(hid_t f, const char *grp, const char *name) {
    double v = NAN;
    hid_t g = grp ? (has(f, grp) ? H5Gopen2(f, grp, H5P_DEFAULT) : -1) : f;
    if (g < 0) return NAN;
    if (ddsp_h5_attr_get_f64(g, name, &v)) v = NAN;
    if (grp) H5Gclose(g);
    return v;
}

static void attr_text(hid_t f, const char *grp, const char *name, char *buf, size_t cap) {
    buf[0] = '\0';
    hid_t g = has(f, grp) ? H5Gopen2(f, grp, H5P_DEFAULT) : -1;
    if (g < 0) return;
    if (ddsp_h5_attr_get_str(g, name, buf, cap)) buf[0] = '\0';
    H5Gclose(g);
}

#define SEP "   \xc2\xb7   " /* a middle dot between subtitle items */

/* Append printf-style text to buf (cap bytes), after `sep` when buf is not empty. */
static void append(char *buf, size_t cap, const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t cap, const char *sep, const char *fmt, ...) {
    size_t len = strlen(buf);
    if (len && len < cap) len += (size_t)snprintf(buf + len, cap - len, "%s", sep);
    if (len >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
}

/* 71294 -> "71,294" */
static void group_digits(char *buf, size_t cap, long long v) {
    char d[32];
    int n = snprintf(d, sizeof d, "%lld", v), o = 0;
    for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
        if (i > 0 && d[i - 1] != '-' && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = d[i];
    }
    buf[o] = '\0';
}

/* Centred moving average of y over `win` points (fewer at the ends). */
static void smooth(double *out, const double *y, size_t n, size_t win) {
    const size_t h = win / 2;
    for (size_t i = 0; i < n; i++) {
        size_t a = i >= h ? i - h : 0, b = i + h + 1 < n ? i + h + 1 : n, c = 0;
        double s = 0;
        for (size_t j = a; j < b; j++)
            if (isfinite(y[j])) s += y[j], c++;
        out[i] = c ? s / c : NAN;
    }
}

static int plot_checkpoint(const char *path, const plot_opts *o) {
    int rc = EXIT_FAIL, n_ex = 0;
    hid_t f = open_checkpoint(path), sg = -1;
    float *logmag[2 * MAX_EXAMPLES] = {0};
    double *step = NULL, *loss = NULL, *vstep = NULL, *vloss = NULL, *sm = NULL;
    size_t n = 0, nv = 0;
    ddsp_plot_spec specs[2 * MAX_EXAMPLES];
    char titles[2 * MAX_EXAMPLES][96];
    if (f < 0) goto fail;

    const double sr = attr_num(f, "config", "synth_sample_rate");
    if (has(f, "spectrograms/example_0") && o->examples > 0) {
        if (!(sr > 0)) {
            ddsp_error("%s: /config has no synth_sample_rate, so the spectrogram axes are unknown",
                       path);
            goto fail;
        }
        sg = H5Gopen2(f, "spectrograms", H5P_DEFAULT);
        int64_t n_fft = 0, hop = 0;
        if (sg < 0 || ddsp_h5_attr_get_i64(sg, "n_fft", &n_fft) ||
            ddsp_h5_attr_get_i64(sg, "hop", &hop) || n_fft < 2 || hop < 1) {
            ddsp_error("%s: /spectrograms lacks its n_fft and hop attributes", path);
            goto fail;
        }
        for (int k = 0; k < MAX_EXAMPLES && (size_t)k < o->examples; k++) {
            char grp[32];
            snprintf(grp, sizeof grp, "example_%d", k);
            if (!has(sg, grp)) break;
            hid_t eg = H5Gopen2(sg, grp, H5P_DEFAULT);
            int64_t row = k;
            if (eg < 0 || ddsp_h5_attr_get_i64(eg, "example", &row)) row = -1;
            for (int w = 0; w < 2; w++) {
                const char *nm = w ? "recon_logmag" : "target_logmag";
                uint64_t d[8];
                int r = 0;
                float **dst = &logmag[2 * k + w];
                if (eg < 0 || ddsp_h5_read_f32(eg, path, nm, dst, d, &r)) {
                    if (eg >= 0) H5Gclose(eg);
                    ddsp_error("%s: /spectrograms/%s/%s is missing or unreadable", path, grp, nm);
                    goto fail;
                }
                if (r != 2 || d[0] == 0 || d[1] != (uint64_t)n_fft / 2 + 1) {
                    H5Gclose(eg);
                    ddsp_error("%s: /spectrograms/%s/%s is not frames x %lld bins", path, grp, nm,
                               (long long)(n_fft / 2 + 1));
                    goto fail;
                }
                char *t = titles[2 * k + w];
                if (row >= 0)
                    snprintf(t, sizeof titles[0], "example %lld: %s", (long long)row,
                             w ? "reconstruction" : "target");
                else
                    snprintf(t, sizeof titles[0], "%s: %s", grp, w ? "reconstruction" : "target");
                specs[2 * k + w] = (ddsp_plot_spec){.logmag = *dst, .F = d[0], .K = d[1], .n_fft = (int)n_fft,
                                                    .hop = (int)hop, .sample_rate = sr, .title = t};
            }
            H5Gclose(eg);
            n_ex++;
        }
    }
    if (has(f, "history/step") && has(f, "history/train_loss")) {
        uint64_t d1[8], d2[8];
        int r1 = 0, r2 = 0;
        if (ddsp_h5_read_f64(f, path, "history/step", &step, d1, &r1) ||
            ddsp_h5_read_f64(f, path, "history/train_loss", &loss, d2, &r2))
            goto fail;
        n = r1 == 1 && r2 == 1 ? (size_t)(d1[0] < d2[0] ? d1[0] : d2[0]) : 0;
        if (has(f, "history/valid_step") && has(f, "history/valid_loss")) {
            if (ddsp_h5_read_f64(f, path, "history/valid_step", &vstep, d1, &r1) ||
                ddsp_h5_read_f64(f, path, "history/valid_loss", &vloss, d2, &r2))
                goto fail;
            nv = r1 == 1 && r2 == 1 ? (size_t)(d1[0] < d2[0] ? d1[0] : d2[0]) : 0;
        }
    }
    if (n_ex == 0 && n == 0 && nv == 0) {
        ddsp_error("%s: nothing to plot (no /spectrograms examples and no /history)", path);
        goto fail;
    }

    /* loss curves: every step faint, a centred moving average bold, validation dotted */
    ddsp_plot_series ser[3];
    int ns = 0;
    char vlabel[96], slabel[64];
    if (n) {
        size_t win = n / 20 < 5 ? 5 : n / 20 > 501 ? 501 : n / 20;
        win |= 1; /* odd: centred */
        if (n >= 40 && (sm = malloc(sizeof(double) * n))) {
            smooth(sm, loss, n, win);
            snprintf(slabel, sizeof slabel, "train (mean of %zu steps)", win);
            ser[ns++] = (ddsp_plot_series){step, loss, n, "train (every step)", 0xaec7e8, 1.0, 0};
            ser[ns++] = (ddsp_plot_series){step, sm, n, slabel, 0x1f77b4, 2.4, 0};
        } else {
            ser[ns++] = (ddsp_plot_series){step, loss, n, "train", 0x1f77b4, 2.2, n <= 60};
        }
    }
    if (nv) {
        size_t best = 0;
        for (size_t i = 1; i < nv; i++)
            if (vloss[i] < vloss[best] || !isfinite(vloss[best])) best = i;
        snprintf(vlabel, sizeof vlabel, "validation (best %.4g at step %.0f)", vloss[best],
                 vstep[best]);
        ser[ns++] = (ddsp_plot_series){vstep, vloss, nv, vlabel, 0xe6550d, 2.2, 1};
    }

    char title[512], sub[512], preset[32], ltype[32];
    const double st = attr_num(f, NULL, "step"), nw = attr_num(f, "config", "model_n_weights");
    attr_text(f, "config", "model_preset", preset, sizeof preset);
    attr_text(f, "config", "loss_type", ltype, sizeof ltype);
    snprintf(title, sizeof title, "%.300s  —  step %.0f", base_name(path), st);
    sub[0] = '\0';
    if (preset[0]) append(sub, sizeof sub, "", "model %s", preset);
    if (isfinite(nw) && nw >= 0) {
        char num[32];
        group_digits(num, sizeof num, (long long)nw);
        append(sub, sizeof sub, ", ", "%s weights", num);
    }
    if (sr > 0) append(sub, sizeof sub, SEP, "%.0f Hz", sr);
    if (ltype[0]) append(sub, sizeof sub, SEP, "loss %s", ltype);
    if (n_ex)
        append(sub, sizeof sub, SEP, "spectrograms: n_fft %d, hop %d", specs[0].n_fft,
               specs[0].hop);
    if (n) append(sub, sizeof sub, SEP, "%zu steps recorded", n);

    char ylabel[96];
    snprintf(ylabel, sizeof ylabel, "%s%s%s%s", ltype[0] ? "MSS loss (" : "loss", ltype,
             ltype[0] ? ")" : "", o->log_y ? ", log scale" : "");
    ddsp_plot_figure fig = {.width = (int)o->width,
                            .height = (int)o->height,
                            .title = title,
                            .subtitle = sub,
                            .specs = specs,
                            .n_specs = 2 * n_ex,
                            .spec_cols = 2,
                            .db_range = o->db_range,
                            .series = ser,
                            .n_series = ns,
                            .chart_title = "loss curves",
                            .x_label = "step",
                            .y_label = ylabel,
                            .log_y = o->log_y};
    if (ddsp_plot_write_png(o->out, &fig)) goto fail;
    printf(
        "wrote %s (%d x %d): %d monitoring example%s, %zu training steps, %zu validation points\n",
        o->out, fig.width ? fig.width : 1600, fig.height ? fig.height : 900, n_ex,
        n_ex == 1 ? "" : "s", n, nv);
    rc = EXIT_OK;
    goto cleanup;
fail:
    cli_fail("plot", "%s", ddsp_last_error());
cleanup:
    for (int i = 0; i < 2 * MAX_EXAMPLES; i++)
        ddsp_free(logmag[i]);
    ddsp_free(step), ddsp_free(loss), ddsp_free(vstep), ddsp_free(vloss);
    free(sm);
    if (sg >= 0) H5Gclose(sg);
    if (f >= 0) H5Fclose(f);
    return rc;
}

/* FFT size for a sample rate: the power of two nearest 64 ms (1024 at 16 kHz, 4096 at
 * 44.1 and 48 kHz would be 93 / 85 ms: 2048 is nearer). */
static int auto_nfft(int sr) {
    int n = 64;
    while (n < 65536 && fabs(log((2.0 * n) / (0.064 * sr))) < fabs(log(n / (0.064 * sr))))
        n *= 2;
    return n;
}

static int plot_audio(const char **files, int nf, const plot_opts *o) {
    int rc = EXIT_FAIL;
    ddsp_audio a[MAX_AUDIO] = {{0}};
    float *lm[MAX_AUDIO] = {0};
    ddsp_plot_spec specs[MAX_AUDIO];
    char titles[MAX_AUDIO][160], title[512] = "", sub[512] = "";
    for (int i = 0; i < nf; i++) {
        if (ddsp_audio_read(files[i], &a[i])) goto fail;
        const int n = o->n_fft ? (int)o->n_fft : auto_nfft(a[i].sample_rate);
        /* a long recording gets a longer hop: ~8192 frames are plenty for ~1500 pixels */
        const size_t min_hop = (a[i].n + 8191) / 8192;
        const int hop =
            o->hop ? (int)o->hop : (int)(min_hop > (size_t)n / 4 ? min_hop : (size_t)n / 4);
        const size_t F = ddsp_stft_nframes(a[i].n, hop), K = (size_t)n / 2 + 1;
        if (!(lm[i] = ddsp_alloc(sizeof(float) * F * K))) {
            ddsp_error("%s: out of memory for a %zu x %zu spectrogram", files[i], F, K);
            goto fail;
        }
        if (ddsp_stft_mag(lm[i], a[i].x, a[i].n, n, hop)) goto fail;
        for (size_t j = 0; j < F * K; j++)
            lm[i][j] = logf(lm[i][j] + 1e-5f);
        const double secs = (double)a[i].n / a[i].sample_rate;
        snprintf(titles[i], sizeof titles[i], "%s", base_name(files[i]));
        specs[i] = (ddsp_plot_spec){.logmag = lm[i], .F = F, .K = K, .n_fft = n, .hop = hop,
                                    .sample_rate = (double)a[i].sample_rate, .title = titles[i]};
        char chans[48];
        if (a[i].channels == 1)
            snprintf(chans, sizeof chans, "mono");
        else
            snprintf(chans, sizeof chans, "%d channels downmixed", a[i].channels);
        append(sub, sizeof sub, SEP, "%s: %d Hz, %.2f s, %s, n_fft %d, hop %d", base_name(files[i]),
               a[i].sample_rate, secs, chans, n, hop);
    }
    for (int i = 0; i < nf; i++)
        append(title, sizeof title, "  vs  ", "%s", base_name(files[i]));
    ddsp_plot_figure fig = {.width = (int)o->width,
                            .height = (int)o->height,
                            .title = title,
                            .subtitle = sub,
                            .specs = specs,
                            .n_specs = nf,
                            .spec_cols = nf,
                            .db_range = o->db_range};
    if (ddsp_plot_write_png(o->out, &fig)) goto fail;
    printf("wrote %s (%d x %d): spectrograms of %d file%s\n", o->out, fig.width ? fig.width : 1600,
           fig.height ? fig.height : 900, nf, nf == 1 ? "" : "s");
    rc = EXIT_OK;
    goto cleanup;
fail:
    cli_fail("plot", "%s", ddsp_last_error());
cleanup:
    for (int i = 0; i < MAX_AUDIO; i++) {
        ddsp_free(lm[i]);
        ddsp_audio_free(&a[i]);
    }
    ddsp_fft_cleanup();
    return rc;
}

/* A `ddsp landscape` file: distances over the grid, each divided by the target's distance to
 * silence so several Φ share one scale; curves for 1-D grids, heatmaps for 2-D. */
static int plot_landscape(const char *path, const plot_opts *o) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return cli_fail("plot", "%s: cannot open", path), EXIT_FAIL;
    int rc = EXIT_FAIL, n_phi = 0;
    char vary[64] = "", sound[32] = "", names[2][32] = {"", ""};
    double *axis[2] = {NULL, NULL}, *loss[8] = {NULL};
    char phi[8][128], titles[8][200];
    double sil[8], basin[8];
    uint64_t d[8];
    int r, n = 0, n2 = 1;
    if (ddsp_h5_attr_get_str(f, "vary", vary, sizeof vary) ||
        ddsp_h5_attr_get_str(f, "sound", sound, sizeof sound)) {
        cli_fail("plot", "%s", ddsp_last_error());
        goto done;
    }
    int n_vary = sscanf(vary, "%31[^,],%31s", names[0], names[1]);
    for (int a = 0; a < n_vary; a++) {
        char ds[64];
        snprintf(ds, sizeof ds, "grid/%s", names[a]);
        if (ddsp_h5_read_f64(f, path, ds, &axis[a], d, &r) || r != 1 || d[0] < 3) {
            cli_fail("plot", "%s: bad or missing %s", path, ds);
            goto done;
        }
        if (a == 0) n = (int)d[0];
        else n2 = (int)d[0];
    }
    for (n_phi = 0; n_phi < 8; n_phi++) {
        char ds[32];
        snprintf(ds, sizeof ds, "loss_%d", n_phi);
        if (H5Lexists(f, ds, H5P_DEFAULT) <= 0) break;
        if (ddsp_h5_read_f64(f, path, ds, &loss[n_phi], d, &r) || r != n_vary ||
            d[0] != (uint64_t)n || (n_vary == 2 && d[1] != (uint64_t)n2)) {
            cli_fail("plot", "%s: %s does not match the grid", path, ds);
            goto done;
        }
        hid_t dset = H5Dopen2(f, ds, H5P_DEFAULT);
        phi[n_phi][0] = '\0';
        sil[n_phi] = 1.0, basin[n_phi] = NAN;
        if (dset >= 0) {
            ddsp_h5_attr_get_str(dset, "phi", phi[n_phi], sizeof phi[n_phi]);
            ddsp_h5_attr_get_f64(dset, "distance_to_silence", &sil[n_phi]);
            ddsp_h5_attr_get_f64(dset, "basin_share", &basin[n_phi]);
            H5Dclose(dset);
        }
        /* a silent target has no distance to silence to normalise by: plotted raw, and the
         * panel says so */
        const int raw = !(sil[n_phi] > 0);
        if (raw) sil[n_phi] = 1.0;
        for (int q = 0; q < n * n2; q++) loss[n_phi][q] /= sil[n_phi];
        snprintf(titles[n_phi], sizeof titles[n_phi], "%.120s  (descent reaches the target from %.0f%%)%s",
                 phi[n_phi], 100.0 * basin[n_phi], raw ? "  [raw distance: silent target]" : "");
    }
    if (n_phi == 0) {
        cli_fail("plot", "%s: no loss_0 dataset", path);
        goto done;
    }
    char title[160], sub[4400];
    snprintf(title, sizeof title, "Loss landscape: %s sound over %s", sound, vary);
    snprintf(sub, sizeof sub, "distance to the target / the target's distance to silence; %s",
             base_name(path));
    ddsp_plot_figure fig = {.width = (int)o->width, .height = (int)o->height, .title = title,
                            .subtitle = sub};
    ddsp_plot_series ser[8];
    ddsp_plot_spec hm[8];
    static const uint32_t colours[8] = {0x1f77b4, 0xd62728, 0x2ca02c, 0x9467bd,
                                        0xff7f0e, 0x8c564b, 0xe377c2, 0x17becf};
    float *vals[8] = {NULL};
    if (n_vary == 1) {
        for (int k = 0; k < n_phi; k++)
            ser[k] = (ddsp_plot_series){axis[0], loss[k], (size_t)n, titles[k], colours[k], 2, 1};
        fig.series = ser, fig.n_series = n_phi;
        fig.chart_title = "distance / distance to silence";
        fig.x_label = names[0];
        fig.y_label = "relative distance";
        fig.log_y = o->log_y;
    } else {
        for (int k = 0; k < n_phi; k++) {
            if (!(vals[k] = malloc(sizeof(float) * (size_t)(n * n2)))) {
                cli_fail("plot", "out of memory");
                goto free_vals;
            }
            for (int q = 0; q < n * n2; q++) vals[k][q] = (float)loss[k][q];
            hm[k] = (ddsp_plot_spec){.logmag = vals[k], .F = (size_t)n, .K = (size_t)n2,
                                     .title = titles[k], .x0 = axis[0][0], .x1 = axis[0][n - 1],
                                     .y0 = axis[1][0], .y1 = axis[1][n2 - 1],
                                     .x_label = names[0], .y_label = names[1]};
        }
        fig.specs = hm, fig.n_specs = n_phi, fig.spec_cols = n_phi > 2 ? 2 : n_phi;
        fig.heatmap = 1;
        fig.colorbar_label = "distance / distance to silence";
    }
    if (ddsp_plot_write_png(o->out, &fig)) {
        cli_fail("plot", "%s", ddsp_last_error());
        goto free_vals;
    }
    printf("wrote %s: %d distance(s) over %s\n", o->out, n_phi, vary);
    rc = EXIT_OK;
free_vals:
    for (int k = 0; k < 8; k++) free(vals[k]);
done:
    for (int k = 0; k < 8; k++) ddsp_free(loss[k]);
    ddsp_free(axis[0]), ddsp_free(axis[1]);
    H5Fclose(f);
    return rc;
}

/* A `ddsp jacobian` file: the singular values of J on a logarithmic axis. */
static int plot_jacobian(const char *path, const plot_opts *o) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return cli_fail("plot", "%s: cannot open", path), EXIT_FAIL;
    double *sigma = NULL, *idx = NULL, er = 0;
    int64_t fb = 0, fe = 0, r1 = 0;
    uint64_t d[8];
    int r, rc = EXIT_FAIL;
    if (ddsp_h5_read_f64(f, path, "sigma", &sigma, d, &r) || r != 1 || d[0] < 1) {
        cli_fail("plot", "%s: bad or missing sigma", path);
        goto done;
    }
    ddsp_h5_attr_get_i64(f, "frame_begin", &fb);
    ddsp_h5_attr_get_i64(f, "frame_end", &fe);
    ddsp_h5_attr_get_i64(f, "rank_1e-3", &r1);
    ddsp_h5_attr_get_f64(f, "entropy_rank", &er);
    if (!(idx = malloc(sizeof(double) * d[0]))) goto done;
    for (uint64_t i = 0; i < d[0]; i++) {
        idx[i] = (double)i;
        /* zeros and rounding noise (below 1e-9 sigma_max) stay off the log axis */
        if (!(sigma[i] > 1e-9 * sigma[0])) sigma[i] = NAN;
    }
    char title[128], sub[4400];
    snprintf(title, sizeof title, "Singular values of d spectra / d controls, frames %lld:%lld",
             (long long)fb, (long long)fe);
    int64_t n_in = (int64_t)d[0];
    ddsp_h5_attr_get_i64(f, "n_in", &n_in); /* absent in version-1 files: sigma is all */
    if ((uint64_t)n_in == d[0])
        snprintf(sub, sizeof sub, "%llu controls; rank %lld above 1e-3 sigma_max, entropy rank "
                 "%.1f; %s", (unsigned long long)d[0], (long long)r1, er, base_name(path));
    else
        snprintf(sub, sizeof sub, "top %llu of %lld controls (randomized SVD); %s",
                 (unsigned long long)d[0], (long long)n_in, base_name(path));
    ddsp_plot_series ser = {idx, sigma, (size_t)d[0], "sigma", 0x1f77b4, 2, 0};
    ddsp_plot_figure fig = {.width = (int)o->width, .height = (int)o->height, .title = title,
                            .subtitle = sub, .series = &ser, .n_series = 1,
                            .chart_title = "singular value spectrum", .x_label = "index",
                            .y_label = "sigma", .log_y = 1};
    if (ddsp_plot_write_png(o->out, &fig)) {
        cli_fail("plot", "%s", ddsp_last_error());
        goto done;
    }
    printf("wrote %s: %llu singular values\n", o->out, (unsigned long long)d[0]);
    rc = EXIT_OK;
done:
    ddsp_free(sigma);
    free(idx);
    H5Fclose(f);
    return rc;
}

/* The format attribute of an HDF5 file ("" if none or not HDF5). */
static void file_format(const char *path, char *fmt, size_t cap) {
    fmt[0] = '\0';
    ddsp_h5_quiet();
    if (H5Fis_hdf5(path) <= 0) return;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    if (ddsp_h5_attr_get_str(f, "format", fmt, cap)) fmt[0] = '\0';
    H5Fclose(f);
}

int cmd_plot(int argc, char **argv) {
    plot_opts o = {.examples = 3};
    const char *pos[MAX_AUDIO + 1];
    int npos = 0, audio = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--audio")) {
            audio = 1;
        } else if (!strcmp(argv[i], "--log-y")) {
            o.log_y = 1;
        } else if ((r = cli_opt(argc, argv, &i, "--out", &v))) {
            if (r < 0) return EXIT_USAGE;
            o.out = v;
        } else if ((r = cli_opt(argc, argv, &i, "--examples", &v))) {
            if (r < 0 || cli_parse_size("--examples", v, &o.examples, 0, 1000)) return EXIT_USAGE;
        } else if ((r = cli_opt(argc, argv, &i, "--n-fft", &v))) {
            if (r < 0 || cli_parse_size("--n-fft", v, &o.n_fft, 16, 65536)) return EXIT_USAGE;
            if (o.n_fft < 16 || o.n_fft > 65536 || o.n_fft % 2) {
                cli_fail("plot", "--n-fft %zu: expected an even size in 16..65536", o.n_fft);
                return EXIT_USAGE;
            }
        } else if ((r = cli_opt(argc, argv, &i, "--hop", &v))) {
            if (r < 0 || cli_parse_size("--hop", v, &o.hop, 1, 65536)) return EXIT_USAGE;
            if (o.hop < 1 || o.hop > 65536) {
                cli_fail("plot", "--hop %zu: expected 1..65536", o.hop);
                return EXIT_USAGE;
            }
        } else if ((r = cli_opt(argc, argv, &i, "--db-range", &v))) {
            if (r < 0 || cli_parse_double("--db-range", v, &o.db_range, 10.0, 300.0)) return EXIT_USAGE;
            if (!(o.db_range >= 10 && o.db_range <= 300)) {
                cli_fail("plot", "--db-range %g: expected 10..300 dB", o.db_range);
                return EXIT_USAGE;
            }
        } else if ((r = cli_opt(argc, argv, &i, "--width", &v))) {
            if (r < 0 || cli_parse_size("--width", v, &o.width, 320, 16384)) return EXIT_USAGE;
            if (o.width < 320 || o.width > 16384) {
                cli_fail("plot", "--width %zu: expected 320..16384 pixels", o.width);
                return EXIT_USAGE;
            }
        } else if ((r = cli_opt(argc, argv, &i, "--height", &v))) {
            if (r < 0 || cli_parse_size("--height", v, &o.height, 200, 16384)) return EXIT_USAGE;
            if (o.height < 200 || o.height > 16384) {
                cli_fail("plot", "--height %zu: expected 200..16384 pixels", o.height);
                return EXIT_USAGE;
            }
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            cli_fail("plot", "unknown option '%s' (see ddsp plot --help)", argv[i]);
            return EXIT_USAGE;
        } else {
            if (npos == MAX_AUDIO) {
                cli_fail("plot",
                         "too many files (at most %d with --audio, one checkpoint otherwise)",
                         MAX_AUDIO);
                return EXIT_USAGE;
            }
            pos[npos++] = argv[i];
        }
    }
    if (npos == 0) {
        cli_fail("plot", "expected a checkpoint or --audio FILES (see ddsp plot --help)");
        return EXIT_USAGE;
    }
    if (!audio && npos > 1) {
        cli_fail("plot", "expected one checkpoint, got %d files (use --audio for audio files)",
                 npos);
        return EXIT_USAGE;
    }
    if (!o.out) {
        cli_fail("plot", "--out FIG.png is required");
        return EXIT_USAGE;
    }
    if (!ddsp_plot_available()) {
        cli_fail("plot", "this ddsp was built without cairo, so it cannot draw (install "
                         "libcairo2-dev and rebuild)");
        return EXIT_FAIL;
    }
    if (audio) return plot_audio(pos, npos, &o);
    char latest[4200];
    struct stat sb;
    if (stat(pos[0], &sb) == 0 && S_ISDIR(sb.st_mode)) { /* a run folder: its newest checkpoint */
        if (ddsp_ckpt_latest(pos[0], NULL, latest, sizeof latest)) {
            cli_fail("plot", "%s", ddsp_last_error());
            return EXIT_FAIL;
        }
        pos[0] = latest;
    }
    char fmt[64];
    file_format(pos[0], fmt, sizeof fmt);
    if (!strcmp(fmt, "ddsp-landscape")) return plot_landscape(pos[0], &o);
    if (!strcmp(fmt, "ddsp-jacobian")) return plot_jacobian(pos[0], &o);
    return plot_checkpoint(pos[0], &o);
}
