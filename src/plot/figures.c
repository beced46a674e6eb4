/* Figures from ddsp's files (src/plot draws; this reads through each file's module and lays
 * out): a checkpoint's monitoring spectrograms and loss curves, audio spectrograms side by
 * side, a landscape's distances, a Jacobian's singular values. */
#include "ddsp/analysis.h"
#include "ddsp/audio.h"
#include "ddsp/ckpt.h"
#include "ddsp/dsp.h"
#include "ddsp/formats.h"
#include "ddsp/plot.h"
#include "ddsp/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
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

static int plot_checkpoint(const char *path, const ddsp_plot_opts *o, char *summary, size_t cap) {
    int rc = DDSP_ERR;
    ddsp_ckpt_view v;
    double *step = NULL, *loss = NULL, *vstep = NULL, *vloss = NULL, *sm = NULL;
    ddsp_plot_spec specs[2 * DDSP_CKPT_VIEW_MAX];
    char titles[2 * DDSP_CKPT_VIEW_MAX][96];
    if (ddsp_ckpt_read_view(path, (int)(o->examples < DDSP_CKPT_VIEW_MAX ? o->examples : DDSP_CKPT_VIEW_MAX), &v))
        return DDSP_ERR;
    const int n_ex = v.n_examples;
    for (int k = 0; k < n_ex; k++)
        for (int w = 0; w < 2; w++) {
            char *t = titles[2 * k + w];
            snprintf(t, sizeof titles[0], "example %lld: %s", (long long)v.example[k],
                     w ? "reconstruction" : "target");
            if (v.example[k] < 0) snprintf(t, sizeof titles[0], "example_%d: %s", k, w ? "reconstruction" : "target");
            specs[2 * k + w] = (ddsp_plot_spec){.logmag = w ? v.recon[k] : v.target[k], .F = v.frames[k],
                                                .K = v.bins, .n_fft = v.n_fft, .hop = v.hop,
                                                .sample_rate = v.sample_rate, .title = t};
        }
    const size_t n = (size_t)v.hist.n, nv = (size_t)v.hist.nv;
    if (n_ex == 0 && n == 0 && nv == 0) {
        ddsp_error("%s: nothing to plot (no /spectrograms examples and no /history)", path);
        goto done;
    }
    step = malloc(sizeof(double) * (n + 1)), loss = malloc(sizeof(double) * (n + 1));
    vstep = malloc(sizeof(double) * (nv + 1)), vloss = malloc(sizeof(double) * (nv + 1));
    if (!step || !loss || !vstep || !vloss) {
        ddsp_error("out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) step[i] = (double)v.hist.step[i], loss[i] = v.hist.train_loss[i];
    for (size_t i = 0; i < nv; i++) vstep[i] = (double)v.hist.valid_step[i], vloss[i] = v.hist.valid_loss[i];
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

    char title[512], sub[512];
    const char *preset = v.model, *ltype = v.loss;
    const double sr = v.sample_rate, nw = (double)v.n_weights;
    snprintf(title, sizeof title, "%.300s  —  step %lld", base_name(path), (long long)v.step);
    sub[0] = '\0';
    if (preset[0]) append(sub, sizeof sub, "", "model %s", preset);
    if (nw >= 0) {
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
    snprintf(ylabel, sizeof ylabel, "%s%.60s%s%s", ltype[0] ? "MSS loss (" : "loss", ltype,
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
    if (ddsp_plot_write_png(o->out, &fig)) goto done;
    snprintf(summary, cap,
             "wrote %s (%d x %d): %d monitoring example%s, %zu training steps, %zu validation points",
             o->out, fig.width ? fig.width : 1600, fig.height ? fig.height : 900, n_ex,
             n_ex == 1 ? "" : "s", n, nv);
    rc = DDSP_OK;
done:
    free(step), free(loss), free(vstep), free(vloss), free(sm);
    ddsp_ckpt_view_free(&v);
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

int ddsp_plot_audio_files(const char *const *files, int nf, const ddsp_plot_opts *o, char *summary,
                          size_t cap) {
    int rc = DDSP_ERR;
    if (nf < 1 || nf > DDSP_PLOT_MAX_AUDIO) return ddsp_error("%d audio files: expected 1 to %d", nf, DDSP_PLOT_MAX_AUDIO);
    ddsp_audio a[DDSP_PLOT_MAX_AUDIO] = {{0}};
    float *lm[DDSP_PLOT_MAX_AUDIO] = {0};
    ddsp_plot_spec specs[DDSP_PLOT_MAX_AUDIO];
    char titles[DDSP_PLOT_MAX_AUDIO][160], title[512] = "", sub[512] = "";
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
    snprintf(summary, cap, "wrote %s (%d x %d): spectrograms of %d file%s", o->out,
             fig.width ? fig.width : 1600, fig.height ? fig.height : 900, nf, nf == 1 ? "" : "s");
    rc = DDSP_OK;
fail:
    for (int i = 0; i < DDSP_PLOT_MAX_AUDIO; i++) {
        ddsp_free(lm[i]);
        ddsp_audio_free(&a[i]);
    }
    ddsp_fft_cleanup();
    return rc;
}

/* A `ddsp landscape` file: distances over the grid, each divided by the target's distance to
 * silence so several Φ share one scale; curves for 1-D grids, heatmaps for 2-D. */
static int plot_landscape(const char *path, const ddsp_plot_opts *o, char *summary, size_t cap) {
    ddsp_landscape_file L;
    if (ddsp_landscape_read(path, &L)) return DDSP_ERR;
    int rc = DDSP_ERR;
    const int n = L.grid[0], n2 = L.grid[1], n_phi = L.n_phi;
    char titles[DDSP_LANDSCAPE_MAX_PHI][200];
    for (int k = 0; k < n_phi; k++) {
        /* a silent target has no distance to silence to normalise by: plotted raw, and the
         * panel says so */
        const int raw = !(L.silence[k] > 0);
        const double s = raw ? 1.0 : L.silence[k];
        for (int q = 0; q < n * n2; q++) L.loss[k][q] /= s;
        snprintf(titles[k], sizeof titles[k], "%.120s  (descent reaches the target from %.0f%%)%s",
                 L.phi[k], 100.0 * L.basin[k], raw ? "  [raw distance: silent target]" : "");
    }
    char title[160], sub[4400];
    snprintf(title, sizeof title, "Loss landscape: %s sound over %s", L.sound, L.vary);
    snprintf(sub, sizeof sub, "distance to the target / the target's distance to silence; %s",
             base_name(path));
    ddsp_plot_figure fig = {.width = (int)o->width, .height = (int)o->height, .title = title,
                            .subtitle = sub};
    ddsp_plot_series ser[DDSP_LANDSCAPE_MAX_PHI];
    ddsp_plot_spec hm[DDSP_LANDSCAPE_MAX_PHI];
    static const uint32_t colours[8] = {0x1f77b4, 0xd62728, 0x2ca02c, 0x9467bd,
                                        0xff7f0e, 0x8c564b, 0xe377c2, 0x17becf};
    float *vals[DDSP_LANDSCAPE_MAX_PHI] = {NULL};
    if (L.n_vary == 1) {
        for (int k = 0; k < n_phi; k++)
            ser[k] = (ddsp_plot_series){L.axis[0], L.loss[k], (size_t)n, titles[k], colours[k], 2, 1};
        fig.series = ser, fig.n_series = n_phi;
        fig.chart_title = "distance / distance to silence";
        fig.x_label = L.names[0];
        fig.y_label = "relative distance";
        fig.log_y = o->log_y;
    } else {
        for (int k = 0; k < n_phi; k++) {
            if (!(vals[k] = malloc(sizeof(float) * (size_t)(n * n2)))) {
                ddsp_error("out of memory");
                goto done;
            }
            for (int q = 0; q < n * n2; q++) vals[k][q] = (float)L.loss[k][q];
            hm[k] = (ddsp_plot_spec){.logmag = vals[k], .F = (size_t)n, .K = (size_t)n2,
                                     .title = titles[k], .x0 = L.axis[0][0], .x1 = L.axis[0][n - 1],
                                     .y0 = L.axis[1][0], .y1 = L.axis[1][n2 - 1],
                                     .x_label = L.names[0], .y_label = L.names[1]};
        }
        fig.specs = hm, fig.n_specs = n_phi, fig.spec_cols = n_phi > 2 ? 2 : n_phi;
        fig.heatmap = 1;
        fig.colorbar_label = "distance / distance to silence";
    }
    if (ddsp_plot_write_png(o->out, &fig)) goto done;
    snprintf(summary, cap, "wrote %s: %d distance(s) over %s", o->out, n_phi, L.vary);
    rc = DDSP_OK;
done:
    for (int k = 0; k < DDSP_LANDSCAPE_MAX_PHI; k++) free(vals[k]);
    ddsp_landscape_file_free(&L);
    return rc;
}

/* A `ddsp jacobian` file: the singular values of J on a logarithmic axis. */
static int plot_jacobian(const char *path, const ddsp_plot_opts *o, char *summary, size_t cap) {
    ddsp_jacobian_file J;
    if (ddsp_jacobian_read(path, &J)) return DDSP_ERR;
    int rc = DDSP_ERR;
    const size_t ns = J.n_sigma;
    double *idx = malloc(sizeof(double) * ns);
    if (!idx) {
        ddsp_error("out of memory");
        goto done;
    }
    const double top = J.sigma[0];
    for (size_t i = 0; i < ns; i++) {
        idx[i] = (double)i;
        /* zeros and rounding noise (below 1e-9 sigma_max) stay off the log axis */
        if (!(J.sigma[i] > 1e-9 * top)) J.sigma[i] = NAN;
    }
    char title[128], sub[4400];
    snprintf(title, sizeof title, "Singular values of d spectra / d controls, frames %lld:%lld",
             (long long)J.frame_begin, (long long)J.frame_end);
    if ((size_t)J.n_in == ns)
        snprintf(sub, sizeof sub, "%zu controls; rank %lld above 1e-3 sigma_max, entropy rank "
                 "%.1f; %s", ns, (long long)J.rank_1e3, J.entropy_rank, base_name(path));
    else
        snprintf(sub, sizeof sub, "top %zu of %lld controls (randomized SVD); %s", ns,
                 (long long)J.n_in, base_name(path));
    ddsp_plot_series ser = {idx, J.sigma, ns, "sigma", 0x1f77b4, 2, 0};
    ddsp_plot_figure fig = {.width = (int)o->width, .height = (int)o->height, .title = title,
                            .subtitle = sub, .series = &ser, .n_series = 1,
                            .chart_title = "singular value spectrum", .x_label = "index",
                            .y_label = "sigma", .log_y = 1};
    if (ddsp_plot_write_png(o->out, &fig)) goto done;
    snprintf(summary, cap, "wrote %s: %zu singular values", o->out, ns);
    rc = DDSP_OK;
done:
    free(idx);
    ddsp_jacobian_file_free(&J);
    return rc;
}

int ddsp_plot_file(const char *path, const ddsp_plot_opts *o, char *summary, size_t cap) {
    char latest[4200], fmt[64];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) { /* a run folder: its newest checkpoint */
        if (ddsp_ckpt_latest(path, NULL, latest, sizeof latest)) return DDSP_ERR;
        path = latest;
    }
    ddsp_h5_file_format(path, fmt, sizeof fmt);
    if (!strcmp(fmt, DDSP_LANDSCAPE_FORMAT)) return plot_landscape(path, o, summary, cap);
    if (!strcmp(fmt, DDSP_JACOBIAN_FORMAT)) return plot_jacobian(path, o, summary, cap);
    if (fmt[0] && strcmp(fmt, DDSP_CKPT_FORMAT))
        return ddsp_error("%s: not a ddsp checkpoint, landscape or jacobian file (format '%s'); "
                          "for audio files use --audio", path, fmt);
    return plot_checkpoint(path, o, summary, cap);
}
