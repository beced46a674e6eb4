/* The report's figures: curves from train.csv (PNGs through the plot module), the
 * spectrograms of a checkpoint's samples or file (PNG, drawn again only when a source is
 * newer), and the split of the step's time as inline SVG bars with a table. */
#include "report/report_internal.h"

#include "ddsp/audio.h"
#include "ddsp/dsp.h"
#include "ddsp/plot.h"
#include "ddsp/run.h"
#include "ddsp/train.h"
#include "ddsp/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { CHART_W = 800, CHART_H = 440, SPEC_NFFT = 1024, SPEC_HOP = 256 };
#define CHART_SCALE 1.3 /* text at a readable size where the page shows the chart ~575 px wide */

static const uint32_t PALETTE[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                   0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf};

/* Centred moving mean over `win` points, skipping non-finite ones. */
static void smooth(double *out, const double *y, size_t n, size_t win) {
    const size_t h = win / 2;
    for (size_t i = 0; i < n; i++) {
        const size_t a = i >= h ? i - h : 0, b = i + h + 1 < n ? i + h + 1 : n;
        double s = 0;
        size_t c = 0;
        for (size_t j = a; j < b; j++)
            if (isfinite(y[j])) s += y[j], c++;
        out[i] = c ? s / (double)c : NAN;
    }
}

/* Rows of train.csv where column `col` is a number: steps into x, values into y. */
static size_t column(const report_csv *c, int col, double *x, double *y) {
    const int cs = report_csv_col(c, "step");
    size_t n = 0;
    for (size_t i = 0; col >= 0 && cs >= 0 && i < c->n_rows; i++) {
        const double v = report_csv_at(c, i, col), s = report_csv_at(c, i, cs);
        if (isfinite(v) && isfinite(s)) x[n] = s, y[n] = v, n++;
    }
    return n;
}

static size_t window_of(size_t n) {
    size_t w = n / 20 < 5 ? 5 : n / 20 > 501 ? 501 : n / 20;
    return w | 1;
}

static int chart(report_run *r, char *name, const char *file, const char *title, const char *y_label,
                 int log_y, const ddsp_plot_series *ser, int n) {
    char path[PATH_MAX];
    int any = 0;
    for (int k = 0; k < n; k++) any |= ser[k].n > 0;
    name[0] = '\0';
    if (!any) return DDSP_OK;
    ddsp_plot_figure fig = {.width = CHART_W, .height = CHART_H, .series = ser, .n_series = n,
                            .chart_title = title, .x_label = "step", .y_label = y_label,
                            .log_y = log_y, .scale = CHART_SCALE};
    if (report_out(r, path, sizeof path, "%s", file) || ddsp_plot_write_png(path, &fig))
        return DDSP_ERR;
    snprintf(name, 32, "%s", file);
    r->n_drawn++;
    return DDSP_OK;
}

int report_curves(report_run *r, char names[REPORT_N_CURVES][32]) {
    const report_csv *c = &r->csv;
    const size_t n = c->n_rows ? c->n_rows : 1;
    enum { X, Y, VX, VY, SM, GX, GY, GS, SX, SY };
    double *b[SX + 2 * DDSP_MSS_MAX_SCALES] = {0};
    int rc = DDSP_ERR;
    const int n_buf = SX + 2 * DDSP_MSS_MAX_SCALES;
    for (int k = 0; k < n_buf; k++)
        if (!(b[k] = malloc(sizeof(double) * n))) {
            ddsp_error("out of memory");
            goto done;
        }
    for (int k = 0; k < REPORT_N_CURVES; k++) names[k][0] = '\0';
    /* loss: every step faint and a moving mean bold once there are many; validation dots */
    const size_t nt = column(c, report_csv_col(c, "train_loss"), b[X], b[Y]);
    const size_t nv = column(c, report_csv_col(c, "valid_loss"), b[VX], b[VY]);
    ddsp_plot_series ser[2 + DDSP_MSS_MAX_SCALES];
    char lab[DDSP_MSS_MAX_SCALES][48], vlab[96] = "validation", slab[64];
    int ns = 0;
    if (nt >= 40) {
        smooth(b[SM], b[Y], nt, window_of(nt));
        snprintf(slab, sizeof slab, "train (mean of %zu steps)", window_of(nt));
        ser[ns++] = (ddsp_plot_series){b[X], b[Y], nt, "train (every step)", 0xaec7e8, 1.0, 0};
        ser[ns++] = (ddsp_plot_series){b[X], b[SM], nt, slab, 0x1f77b4, 2.4, 0};
    } else {
        ser[ns++] = (ddsp_plot_series){b[X], b[Y], nt, "train", 0x1f77b4, 2.2, nt <= 60};
    }
    if (nv) {
        size_t best = 0;
        for (size_t i = 1; i < nv; i++)
            if (b[VY][i] < b[VY][best]) best = i;
        snprintf(vlab, sizeof vlab, "validation (best %.4g at step %.0f)", b[VY][best], b[VX][best]);
    }
    ser[ns++] = (ddsp_plot_series){b[VX], b[VY], nv, vlab, 0xe6550d, 2.2, 1};
    if (chart(r, names[0], "loss.png", "loss", "loss", 0, ser, ns) ||
        chart(r, names[1], "loss_log.png", "loss (log axis)", "loss", 1, ser, ns))
        goto done;
    /* per scale: moving means (every step would hide the others) */
    ns = 0;
    for (int k = 0; k < c->n_cols && ns < DDSP_MSS_MAX_SCALES; k++) {
        int fft;
        char tail;
        if (sscanf(c->names[k], "loss_%d%c", &fft, &tail) != 1) continue;
        double *x = b[SX + 2 * ns], *y = b[SX + 2 * ns + 1];
        const size_t m = column(c, k, x, y);
        if (m >= 40) {
            smooth(b[SM], y, m, window_of(m));
            memcpy(y, b[SM], sizeof(double) * m);
        }
        snprintf(lab[ns], sizeof lab[0], "FFT %d", fft);
        ser[ns] = (ddsp_plot_series){x, y, m, lab[ns], PALETTE[ns % 10], 1.8, 0};
        ns++;
    }
    if (chart(r, names[2], "scales.png", "loss per scale", "loss", 1, ser, ns)) goto done;
    /* gradient norm, learning rate, throughput */
    const size_t ng = column(c, report_csv_col(c, "grad_norm"), b[GX], b[GY]);
    ns = 0;
    ser[ns++] = (ddsp_plot_series){b[GX], b[GY], ng, "every step", 0xbbbbbb, 1.0, 0};
    if (ng >= 40) {
        smooth(b[GS], b[GY], ng, window_of(ng));
        ser[ns++] = (ddsp_plot_series){b[GX], b[GS], ng, "moving mean", 0x2ca02c, 2.2, 0};
    }
    if (chart(r, names[3], "grad.png", "gradient norm (before clipping)", "|g|", 1, ser, ns)) goto done;
    ser[0] = (ddsp_plot_series){b[GX], b[GY], column(c, report_csv_col(c, "lr"), b[GX], b[GY]),
                                NULL, 0x9467bd, 2.0, 0};
    /* log axis: a constant rate gets a readable range, a decay a straight line */
    if (chart(r, names[4], "lr.png", "learning rate", "rate", 1, ser, 1)) goto done;
    ser[0] = (ddsp_plot_series){b[GX], b[GY], column(c, report_csv_col(c, "audio_s_per_s"), b[GX], b[GY]),
                                NULL, 0x8c564b, 2.0, 0};
    if (chart(r, names[5], "speed.png", "throughput (mean of the session)", "audio-s/s", 0, ser, 1))
        goto done;
    rc = DDSP_OK;
done:
    for (int k = 0; k < n_buf; k++) free(b[k]);
    return rc;
}

/* ------------------------------------------------------------------ spectrograms */
static int newer(const struct stat *a, const struct stat *b) {
    return a->st_mtim.tv_sec > b->st_mtim.tv_sec ||
           (a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec > b->st_mtim.tv_nsec);
}

/* log(|STFT| + 1e-5) of a file at the monitoring scale, as the checkpoint stores it. */
static float *log_spec_of(const char *path, size_t *F, int *sr) {
    ddsp_audio a;
    if (ddsp_audio_read(path, &a)) return NULL;
    float *S = NULL;
    if (a.n >= SPEC_NFFT) {
        *F = ddsp_stft_nframes(a.n, SPEC_HOP);
        *sr = a.sample_rate;
        S = ddsp_alloc(sizeof(float) * *F * (SPEC_NFFT / 2 + 1));
        if (!S) ddsp_error("out of memory");
        else if (ddsp_stft_mag(S, a.x, a.n, SPEC_NFFT, SPEC_HOP)) ddsp_free(S), S = NULL;
        for (size_t i = 0; S && i < *F * (SPEC_NFFT / 2 + 1); i++) S[i] = logf(S[i] + 1e-5f);
    } else {
        ddsp_error("%s: %zu samples, shorter than one %d-point frame", path, a.n, SPEC_NFFT);
    }
    ddsp_audio_free(&a);
    return S;
}

int report_spectrogram(report_run *r, const report_ckpt *c, char *name, size_t cap) {
    char png[PATH_MAX], src[2 * REPORT_MAX_EX][PATH_MAX], titles[2 * REPORT_MAX_EX][64];
    struct stat ps, ss;
    int n_src = 0, rc = DDSP_ERR;
    snprintf(name, cap, "spec-%08lld.png", (long long)c->step);
    if (report_out(r, png, sizeof png, "%s", name)) return DDSP_ERR;
    /* the sources: target + reconstruction samples, else the checkpoint file */
    const int from_samples = c->n_ex > 0;
    for (int j = 0; from_samples && j < c->n_ex && j < 4; j++) {
        if (ddsp_run_sample_path(src[n_src], PATH_MAX, r->dir, -1, c->ex[j])) return DDSP_ERR;
        if (stat(src[n_src], &ss) == 0) n_src++;
        if (ddsp_run_sample_path(src[n_src++], PATH_MAX, r->dir, c->step, c->ex[j])) return DDSP_ERR;
    }
    if (!from_samples) {
        if (!c->has_file) return 1;
        ddsp_ckpt_path(src[n_src++], PATH_MAX, r->dir, c->step);
    }
    int fresh = stat(png, &ps) == 0;
    for (int k = 0; fresh && k < n_src; k++)
        if (stat(src[k], &ss) != 0 || newer(&ss, &ps)) fresh = 0;
    if (fresh) return DDSP_OK;
    ddsp_plot_spec specs[2 * REPORT_MAX_EX];
    float *mem[2 * REPORT_MAX_EX] = {0};
    int n = 0;
    ddsp_ckpt_view v;
    int has_view = 0;
    if (from_samples) {
        for (int k = 0; k < n_src; k++) {
            size_t F = 0;
            int sr = 0;
            if (!(mem[k] = log_spec_of(src[k], &F, &sr))) goto done;
            const char *base = strrchr(src[k], '/') + 1;
            int64_t st, ex;
            ddsp_run_sample_parse(base, &st, &ex);
            if (st < 0) snprintf(titles[k], sizeof titles[0], "example %lld: target", (long long)ex);
            else snprintf(titles[k], sizeof titles[0], "example %lld: step %lld", (long long)ex, (long long)st);
            specs[n++] = (ddsp_plot_spec){.logmag = mem[k], .F = F, .K = SPEC_NFFT / 2 + 1,
                                          .n_fft = SPEC_NFFT, .hop = SPEC_HOP,
                                          .sample_rate = sr, .title = titles[k]};
        }
    } else {
        if (ddsp_ckpt_read_view(src[0], 4, &v)) goto done;
        has_view = 1;
        for (int k = 0; k < v.n_examples; k++)
            for (int w = 0; w < 2; w++) {
                snprintf(titles[n], sizeof titles[0], "example %lld: %s", (long long)v.example[k],
                         w ? "reconstruction" : "target");
                specs[n] = (ddsp_plot_spec){.logmag = w ? v.recon[k] : v.target[k], .F = v.frames[k],
                                            .K = v.bins, .n_fft = v.n_fft, .hop = v.hop,
                                            .sample_rate = v.sample_rate, .title = titles[n]};
                n++;
            }
        if (!n) {
            ddsp_error("%s holds no monitoring spectrograms", src[0]);
            goto done;
        }
    }
    ddsp_plot_figure fig = {.width = n > 2 ? 1600 : 900, .height = 400, .specs = specs,
                            .n_specs = n, .spec_cols = n, .scale = 1.15};
    if (ddsp_plot_write_png(png, &fig) == DDSP_OK) rc = DDSP_OK, r->n_drawn++;
done:
    for (int k = 0; k < 2 * REPORT_MAX_EX; k++) ddsp_free(mem[k]);
    if (has_view) ddsp_ckpt_view_free(&v);
    return rc;
}

/* ------------------------------------------------------------------ where the time goes */
static const uint32_t PHASE_RGB[DDSP_N_PHASES] = {0x8c8c8c, 0x1f77b4, 0x2ca02c, 0xff7f0e, 0x9467bd,
                                                  0xd62728, 0xe377c2, 0xbcbd22, 0x17becf};

int report_time_split(const report_run *r, FILE *f) {
    const report_csv *c = &r->csv;
    int col[DDSP_N_PHASES], cmax[DDSP_STEP_PHASES], cmin[DDSP_STEP_PHASES];
    char nm[64];
    const int cs = report_csv_col(c, "step");
    for (int p = 0; p < DDSP_N_PHASES; p++) {
        snprintf(nm, sizeof nm, "%s_s", ddsp_phase_name(p));
        col[p] = report_csv_col(c, nm);
        if (p < DDSP_STEP_PHASES) {
            snprintf(nm, sizeof nm, "%s_s_max", ddsp_phase_name(p));
            cmax[p] = report_csv_col(c, nm);
            snprintf(nm, sizeof nm, "%s_s_min", ddsp_phase_name(p));
            cmin[p] = report_csv_col(c, nm);
        }
    }
    if (col[DDSP_PHASE_FORWARD] < 0 || cs < 0) return 0;
    /* the rows of steps with timings */
    size_t n = 0, *rows = malloc(sizeof(size_t) * (c->n_rows + 1));
    if (!rows) return 0;
    for (size_t i = 0; i < c->n_rows; i++)
        if (isfinite(report_csv_at(c, i, col[DDSP_PHASE_FORWARD]))) rows[n++] = i;
    if (!n) {
        free(rows);
        return 0;
    }
    /* totals, slowest and fastest rank, occurrences of validation and checkpoint */
    double sum[DDSP_N_PHASES] = {0}, smax[DDSP_STEP_PHASES] = {0}, smin[DDSP_STEP_PHASES] = {0};
    int times[DDSP_N_PHASES] = {0}, mpi = 0;
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < DDSP_N_PHASES; p++) {
            const double v = report_csv_at(c, rows[i], col[p]);
            if (isfinite(v)) sum[p] += v, times[p] += v > 0;
            if (p >= DDSP_STEP_PHASES) continue;
            const double hi = report_csv_at(c, rows[i], cmax[p]), lo = report_csv_at(c, rows[i], cmin[p]);
            smax[p] += isfinite(hi) ? hi : v, smin[p] += isfinite(lo) ? lo : v;
            if (isfinite(hi) && isfinite(lo) && hi - lo > 1e-9) mpi = 1;
        }
    double step_total = 0;
    for (int p = 0; p < DDSP_STEP_PHASES; p++) step_total += sum[p];
    /* bars: at most 60 intervals of consecutive steps, each the mean per step of each phase */
    const size_t G = n < 60 ? n : 60;
    double *bar = calloc(G * DDSP_N_PHASES, sizeof(double)), ymax = 0;
    if (!bar) {
        free(rows);
        return 0;
    }
    for (size_t g = 0; g < G; g++) {
        const size_t a = g * n / G, b = (g + 1) * n / G;
        double tot = 0;
        for (int p = 0; p < DDSP_N_PHASES; p++) {
            double s = 0;
            for (size_t i = a; i < b; i++) {
                const double v = report_csv_at(c, rows[i], col[p]);
                if (isfinite(v)) s += v;
            }
            bar[g * DDSP_N_PHASES + p] = s / (double)(b - a);
            tot += s / (double)(b - a);
        }
        ymax = fmax(ymax, tot);
    }
    double ticks[8], tstep;
    if (!(ymax > 0)) ymax = 1e-3;
    int nt = ddsp_plot_nice_ticks(0, ymax * 1.05, 6, ticks, &tstep);
    const double top = nt > 0 ? fmax(ticks[nt - 1], ymax) * 1.02 : ymax * 1.05;
    const double L = 70, R = 990, T = 10, B = 250, W = (R - L) / (double)G;
    fprintf(f, "<p>Mean seconds per step of each phase, over %zu interval(s) of consecutive steps "
               "(validation and checkpoints spread over the steps of their interval). Hover a bar "
               "for its numbers.</p>\n", G);
    fputs("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1000 290\" role=\"img\">\n", f);
    for (int k = 0; k < nt; k++) {
        const double y = B - (B - T) * ticks[k] / top;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%.0f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%.3g s</text>\n",
                L, y, R, y, L - 6, y + 4, ticks[k]);
    }
    for (size_t g = 0; g < G; g++) {
        const size_t a = g * n / G, b = (g + 1) * n / G;
        const double s0 = report_csv_at(c, rows[a], cs), s1 = report_csv_at(c, rows[b - 1], cs);
        double y = B;
        fprintf(f, "<g><title>steps %.0f-%.0f:", s0, s1);
        for (int p = 0; p < DDSP_N_PHASES; p++)
            fprintf(f, " %s %.3g s", ddsp_phase_name(p), bar[g * DDSP_N_PHASES + p]);
        fputs("</title>", f);
        for (int p = 0; p < DDSP_N_PHASES; p++) {
            const double h = (B - T) * bar[g * DDSP_N_PHASES + p] / top;
            if (h <= 0) continue;
            y -= h;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\" fill=\"#%06x\"/>",
                    L + g * W + 0.1 * W, y, 0.8 * W, h, (unsigned)PHASE_RGB[p]);
        }
        fputs("</g>\n", f);
        if (g == 0 || g + 1 == G || (G > 10 && g % (G / 5) == 0))
            fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"12\" text-anchor=\"middle\">%.0f</text>\n",
                    L + (g + 0.5) * W, B + 16, s1);
    }
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#444\"/>\n"
               "<text x=\"%.0f\" y=\"%.0f\" font-size=\"13\" text-anchor=\"middle\">step (end of "
               "interval)</text>\n</svg>\n<p>",
            L, B, R, B, (L + R) / 2, B + 36);
    for (int p = 0; p < DDSP_N_PHASES; p++)
        fprintf(f, "<span class=\"key\" style=\"background:#%06x\"></span>%s",
                (unsigned)PHASE_RGB[p], ddsp_phase_name(p));
    fputs("</p>\n<table>\n<tr><th>phase</th><th class=\"n\">s per step</th><th class=\"n\">% of "
          "the step</th>", f);
    if (mpi) fputs("<th class=\"n\">slowest rank</th><th class=\"n\">fastest rank</th>", f);
    fputs("</tr>\n", f);
    for (int p = 0; p < DDSP_N_PHASES; p++) {
        const int in_step = p < DDSP_STEP_PHASES;
        fprintf(f, "<tr><td>%s</td><td class=\"n\">%.4f</td><td class=\"n\">", ddsp_phase_name(p),
                sum[p] / (double)n);
        if (in_step) fprintf(f, "%.1f", step_total > 0 ? 100.0 * sum[p] / step_total : 0.0);
        else fprintf(f, "%d time(s), %.3f s each", times[p], times[p] ? sum[p] / times[p] : 0.0);
        fputs("</td>", f);
        if (mpi && in_step)
            fprintf(f, "<td class=\"n\">%.4f</td><td class=\"n\">%.4f</td>", smax[p] / (double)n,
                    smin[p] / (double)n);
        else if (mpi)
            fputs("<td></td><td></td>", f);
        fputs("</tr>\n", f);
    }
    fprintf(f, "<tr><th>the step</th><th class=\"n\">%.4f</th><th class=\"n\">100</th>%s</tr>\n"
               "</table>\n", step_total / (double)n, mpi ? "<th></th><th></th>" : "");
    if (mpi)
        fputs("<p>Slowest and fastest of the ranks, mean per step. A rank that finishes its share "
              "early waits in the reduction: the gap in <i>reduce</i> mirrors the imbalance of the "
              "phases before it.</p>\n", f);
    fprintf(f, "<p class=\"sub\">%zu step(s) with timings; the columns are in train.csv "
               "(&lt;phase&gt;_s%s).</p>\n", n, mpi ? ", _s_max, _s_min" : "");
    free(bar);
    free(rows);
    return 1;
}
