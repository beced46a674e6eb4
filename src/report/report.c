/* A run's report page (see ddsp/report.h): what the run folder holds (settings, train.csv,
 * checkpoints, samples, eval files), gathered without trusting any of it, then written as one
 * well-formed HTML page; the figures are drawn by report_figures.c. */
#define _DEFAULT_SOURCE /* realpath, link */
#include "report/report_internal.h"

#include "ddsp/data.h"
#include "ddsp/run.h"
#include "ddsp/util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int vpath(char *out, size_t cap, const char *dir, const char *fmt, va_list ap) {
    char tail[PATH_MAX];
    const int n = vsnprintf(tail, sizeof tail, fmt, ap);
    if (n < 0 || (size_t)n >= sizeof tail || (size_t)snprintf(out, cap, "%s/%s", dir, tail) >= cap)
        return ddsp_error("%s: path too long", dir);
    return DDSP_OK;
}

int report_in(const report_run *r, char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const int rc = vpath(out, cap, r->dir, fmt, ap);
    va_end(ap);
    return rc;
}

int report_out(const report_run *r, char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const int rc = vpath(out, cap, r->out, fmt, ap);
    va_end(ap);
    return rc;
}

void report_esc(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            /* control characters are not allowed in XML text */
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t') fputc(*s, f);
        }
    }
}

/* ------------------------------------------------------------------ train.csv */
void report_csv_free(report_csv *c) {
    for (int k = 0; k < c->n_cols; k++) free(c->names[k]);
    free(c->names);
    free(c->v);
    memset(c, 0, sizeof *c);
}

int report_csv_col(const report_csv *c, const char *name) {
    for (int k = 0; k < c->n_cols; k++)
        if (!strcmp(c->names[k], name)) return k;
    return -1;
}

/* One line of any length (NULL at the end of the file); *buf grows as needed. */
static char *read_line(FILE *f, char **buf, size_t *cap) {
    size_t n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        if (n + 2 > *cap) {
            const size_t nc = *cap ? 2 * *cap : 1024;
            char *nb = realloc(*buf, nc);
            if (!nb) return NULL;
            *buf = nb, *cap = nc;
        }
        if (ch == '\n') break;
        (*buf)[n++] = (char)ch;
    }
    if (ch == EOF && n == 0) return NULL;
    if (n && (*buf)[n - 1] == '\r') n--;
    (*buf)[n] = '\0';
    return *buf;
}

int report_csv_read(const char *path, report_csv *c) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 1 : ddsp_error("%s: cannot read (%s)", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, rcap = 0;
    int rc = DDSP_ERR;
    if (!read_line(f, &line, &cap) || strncmp(line, "step,", 5) != 0) {
        ddsp_error("%s: no header line (step,...)", path);
        goto done;
    }
    for (char *p = line; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) c->n_cols++;
    c->names = calloc((size_t)c->n_cols, sizeof *c->names);
    if (!c->names) goto oom;
    int k = 0;
    for (char *p = line; p && k < c->n_cols; k++) {
        char *e = strchr(p, ',');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!(c->names[k] = strndup(p, len))) goto oom;
        p = e ? e + 1 : NULL;
    }
    while (read_line(f, &line, &cap)) {
        char *end;
        strtoll(line, &end, 10);
        if (end == line || *end != ',') continue; /* not a row */
        if (c->n_rows == rcap) {
            rcap = rcap ? 2 * rcap : 256;
            double *nv = realloc(c->v, sizeof(double) * rcap * (size_t)c->n_cols);
            if (!nv) goto oom;
            c->v = nv;
        }
        double *row = c->v + c->n_rows * (size_t)c->n_cols;
        char *p = line;
        for (k = 0; k < c->n_cols; k++) {
            row[k] = NAN;
            if (!p) continue;
            const double x = strtod(p, &end);
            if (end != p && (*end == ',' || *end == '\0') && isfinite(x)) row[k] = x;
            p = strchr(p, ',');
            if (p) p++;
        }
        c->n_rows++;
    }
    rc = DDSP_OK;
    goto done;
oom:
    ddsp_error("%s: out of memory", path);
done:
    free(line);
    fclose(f);
    if (rc != DDSP_OK) report_csv_free(c);
    return rc;
}

/* ------------------------------------------------------------------ the run folder */
static int cmp_i64(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static report_ckpt *find_or_add(report_run *r, int64_t step, int *cap) {
    for (int k = 0; k < r->n_ck; k++)
        if (r->ck[k].step == step) return &r->ck[k];
    if (r->n_ck == *cap) {
        const int nc = *cap ? 2 * *cap : 16;
        report_ckpt *n = realloc(r->ck, sizeof *n * (size_t)nc);
        if (!n) return NULL;
        r->ck = n, *cap = nc;
    }
    report_ckpt *c = &r->ck[r->n_ck++];
    memset(c, 0, sizeof *c);
    c->step = step;
    return c;
}

static int cmp_ckpt_newest(const void *a, const void *b) {
    const int64_t x = ((const report_ckpt *)a)->step, y = ((const report_ckpt *)b)->step;
    return (x < y) - (x > y);
}

/* Checkpoints (readable ones of the run) and samples: one entry per step. */
static int gather_checkpoints(report_run *r, const char *run_id) {
    int cap = 0, n = 0;
    int64_t *steps = NULL;
    if (ddsp_ckpt_list(r->dir, run_id, &steps, &n)) return DDSP_ERR;
    for (int k = 0; k < n; k++) {
        report_ckpt *c = find_or_add(r, steps[k], &cap);
        if (!c) {
            free(steps);
            return ddsp_error("out of memory");
        }
        c->has_file = 1;
    }
    free(steps);
    char path[PATH_MAX];
    if (report_in(r, path, sizeof path, "samples")) return DDSP_ERR;
    DIR *d = opendir(path);
    r->has_samples_dir = d != NULL;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        int64_t st, ex;
        if (!ddsp_run_sample_parse(e->d_name, &st, &ex)) continue;
        if (st < 0) {
            if (r->n_targets < REPORT_MAX_EX) r->targets[r->n_targets++] = ex;
            continue;
        }
        report_ckpt *c = find_or_add(r, st, &cap);
        if (!c) {
            closedir(d);
            return ddsp_error("out of memory");
        }
        if (c->n_ex < REPORT_MAX_EX) c->ex[c->n_ex++] = ex;
    }
    if (d) closedir(d);
    qsort(r->targets, (size_t)r->n_targets, sizeof(int64_t), cmp_i64);
    for (int k = 0; k < r->n_ck; k++) qsort(r->ck[k].ex, (size_t)r->ck[k].n_ex, sizeof(int64_t), cmp_i64);
    if (r->n_ck) qsort(r->ck, (size_t)r->n_ck, sizeof *r->ck, cmp_ckpt_newest);
    return DDSP_OK;
}

/* With OUT outside the run folder: the sample in OUT/samples/ (a hard link, else a copy). */
static int export_sample(report_run *r, const char *name) {
    char from[PATH_MAX], to[PATH_MAX], tmp[PATH_MAX];
    struct stat a, b;
    if (report_in(r, from, sizeof from, "samples/%s", name) ||
        report_out(r, to, sizeof to, "samples/%s", name))
        return DDSP_ERR;
    if (stat(from, &a) != 0) return DDSP_OK; /* the page says it is missing */
    if (stat(to, &b) == 0 && b.st_mtime >= a.st_mtime && b.st_size == a.st_size) return DDSP_OK;
    if (ddsp_tmp_name(tmp, sizeof tmp, to)) return DDSP_ERR;
    if (link(from, tmp) != 0) {
        FILE *in = fopen(from, "rb"), *out = in ? fopen(tmp, "wb") : NULL;
        char buf[1 << 16];
        size_t n;
        int ok = in && out;
        while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
        if (in) fclose(in);
        if (out && fclose(out) != 0) ok = 0;
        if (!ok) {
            unlink(tmp);
            return ddsp_error("%s: cannot copy to %s (%s)", from, to, strerror(errno));
        }
    }
    return ddsp_tmp_publish(tmp, to, 1);
}

/* ------------------------------------------------------------------ the page */
typedef struct {
    FILE *f;
    char notes[16][600];
    int n_notes, n_players, n_images;
} page;

static void note(page *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(page *pg, const char *fmt, ...) {
    if (pg->n_notes >= 16) return;
    va_list ap;
    va_start(ap, fmt);
    ddsp_vformat(pg->notes[pg->n_notes++], sizeof pg->notes[0], fmt, ap);
    va_end(ap);
}

static void img(page *pg, const char *src, const char *alt, const char *cls) {
    fprintf(pg->f, "<img src=\"%s\" loading=\"lazy\" alt=\"", src);
    report_esc(pg->f, alt);
    fprintf(pg->f, "\"%s%s%s/>\n", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    pg->n_images++;
}

static void player(page *pg, const report_run *r, const char *file, const char *cls) {
    fprintf(pg->f, "<audio controls=\"controls\" preload=\"metadata\" class=\"%s\" src=\"%s%s\">"
                   "<a href=\"%s%s\">%s</a></audio>",
            cls, r->audio_prefix, file, r->audio_prefix, file, file);
    pg->n_players++;
}

static const char *CSS =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;"
    "max-width:1180px;padding:0 16px 40px;color:#222;line-height:1.4}"
    "h1{font-size:1.5em;margin:18px 0 4px}h2{margin-top:32px;border-bottom:1px solid #ddd}"
    "h3{margin:22px 0 6px}.sub{color:#666}nav a{margin-right:14px}"
    "table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;text-align:left;"
    "border-bottom:1px solid #eee;vertical-align:top}td.n,th.n{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    ".notes{background:#fff6d6;border:1px solid #e8d48a;padding:8px 14px;margin:14px 0}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:10px}"
    ".grid img,.spec img{width:100%;height:auto;border:1px solid #eee}"
    ".log{display:none}#logy:checked~.grid .log{display:block}"
    "#logy:checked~.grid .lin{display:none}"
    "audio{height:32px;width:260px;vertical-align:middle}"
    ".ex td{padding:4px 10px}.key{display:inline-block;width:12px;height:12px;"
    "margin:0 4px 0 12px;vertical-align:middle}svg{width:100%;height:auto}"
    "code{background:#f4f4f4;padding:0 3px}summary{cursor:pointer;margin:14px 0;color:#05c}";

static void kv(FILE *f, const char *k, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void kv(FILE *f, const char *k, const char *fmt, ...) {
    char v[8192];
    va_list ap;
    va_start(ap, fmt);
    ddsp_vformat(v, sizeof v, fmt, ap);
    va_end(ap);
    fprintf(f, "<tr><th>%s</th><td>", k);
    report_esc(f, v);
    fputs("</td></tr>\n", f);
}

static void settings_table(FILE *f, const ddsp_run_settings *s) {
    fputs("<table>\n", f);
    kv(f, "model", "%s%s", s->model, s->reverb ? " + reverb" : "");
    kv(f, "loss", "%s", s->loss);
    kv(f, "batch (global)", "%lld", (long long)s->batch);
    kv(f, "learning rate", "%g (decay %g per 10k steps), clip %g", s->lr, s->lr_decay, s->clip);
    kv(f, "seed", "%lld", (long long)s->seed);
    kv(f, "precision", "%s", s->precision);
    kv(f, "loudness range", "%g dB", s->ld_range);
    kv(f, "steps", "%lld (validation every %lld, checkpoint every %lld, keep %lld)",
       (long long)s->steps, (long long)s->valid_every, (long long)s->ckpt_every, (long long)s->keep);
    kv(f, "dataset", "%s", s->data);
    kv(f, "run folder", "%s", s->run_dir);
    kv(f, "run id", "%s", s->run_id[0] ? s->run_id : "(none)");
    fputs("</table>\n", f);
}

static void dataset_section(page *pg, const ddsp_run_settings *s, const char *ckpt) {
    FILE *f = pg->f;
    ddsp_dataset ds;
    fputs("<table>\n", f);
    if (s && s->data[0] && access(s->data, R_OK) == 0 && ddsp_dataset_open(s->data, &ds) == DDSP_OK) {
        kv(f, "file", "%s", s->data);
        kv(f, "examples", "%lld training, %lld validation, of %.2f s", (long long)ds.n_train,
           (long long)ds.n_valid, (double)ds.T / ds.sample_rate);
        kv(f, "audio", "%d Hz, %.0f feature frames per second", ds.sample_rate,
           (double)ds.sample_rate / ds.hop);
        ddsp_dataset_close(&ds);
    } else if (s && s->data[0]) {
        note(pg, "dataset %s does not open (%s): its size is not shown", s->data,
             access(s->data, R_OK) != 0 ? strerror(errno) : ddsp_last_error());
    }
    static const char *const STATS[][2] = {
        {"f0_midi_mean", "pitch mean (MIDI, voiced frames)"}, {"f0_midi_std", "pitch spread (semitones)"},
        {"loudness_db_mean_voiced", "loudness mean, voiced (dB)"},
        {"loudness_db_max", "loudness max (dB)"}, {"voiced_fraction", "voiced fraction"}};
    for (size_t k = 0; ckpt && k < sizeof STATS / sizeof *STATS; k++) {
        double v;
        if (ddsp_ckpt_stat(ckpt, STATS[k][0], &v) == DDSP_OK) kv(f, STATS[k][1], "%.4g", v);
    }
    fputs("</table>\n", f);
}

/* Steps, losses and speed of the last row of train.csv. */
static void state_line(page *pg, const report_run *r, const ddsp_run_settings *s) {
    FILE *f = pg->f;
    const report_csv *c = &r->csv;
    const int cs = report_csv_col(c, "step"), ct = report_csv_col(c, "train_loss"),
              cv = report_csv_col(c, "valid_loss"), ca = report_csv_col(c, "audio_s_per_s"),
              ce = report_csv_col(c, "elapsed_s");
    double step = NAN, tl = NAN, vl = NAN, aps = NAN, el = NAN, best = NAN, best_step = NAN;
    for (size_t i = 0; r->has_csv && i < c->n_rows; i++) {
        const double st = report_csv_at(c, i, cs), v = report_csv_at(c, i, cv);
        if (isfinite(st)) step = st;
        if (isfinite(report_csv_at(c, i, ct))) tl = report_csv_at(c, i, ct);
        if (isfinite(v)) {
            vl = v;
            if (!(v >= best)) best = v, best_step = st;
        }
        if (isfinite(report_csv_at(c, i, ca))) aps = report_csv_at(c, i, ca);
        if (isfinite(report_csv_at(c, i, ce))) el = report_csv_at(c, i, ce);
    }
    fputs("<p class=\"state\">", f);
    if (isfinite(step)) fprintf(f, "step <b>%.0f</b>", step);
    else fputs("no step yet", f);
    if (s && s->steps > 0) fprintf(f, " of %lld", (long long)s->steps);
    if (isfinite(tl)) fprintf(f, " &#183; training loss %.4f", tl);
    if (isfinite(vl)) fprintf(f, " &#183; validation loss %.4f (best %.4f at step %.0f)", vl, best, best_step);
    if (isfinite(aps)) fprintf(f, " &#183; %.2f audio-s/s", aps);
    if (isfinite(el)) fprintf(f, " &#183; %.0f s elapsed", el);
    fprintf(f, " &#183; %d checkpoint(s)</p>\n", r->n_ck);
}

/* The metrics of every RUN_DIR/eval*.csv (`ddsp eval --csv`): header and mean rows. */
static void eval_section(page *pg, const report_run *r) {
    FILE *f = pg->f;
    DIR *d = opendir(r->dir);
    struct dirent *e;
    int shown = 0;
    while (d && (e = readdir(d)) != NULL) {
        const size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "eval", 4) || n < 8 || strcmp(e->d_name + n - 4, ".csv")) continue;
        char path[PATH_MAX], *line = NULL, *head = NULL;
        size_t cap = 0;
        int rows = 0;
        if (report_in(r, path, sizeof path, "%s", e->d_name)) continue;
        FILE *in = fopen(path, "r");
        if (!in) continue;
        if (!shown++) fputs("<h2 id=\"eval\">Evaluation</h2>\n", f);
        fputs("<h3>", f);
        report_esc(f, e->d_name);
        fputs("</h3>\n<table>\n", f);
        while (read_line(in, &line, &cap)) {
            const int is_head = !head;
            if (is_head && !(head = strdup(line))) break;
            if (!is_head && strncmp(line, "mean,", 5)) {
                rows++;
                continue;
            }
            fputs("<tr>", f);
            for (char *p = line; p;) {
                char *q = strchr(p, ',');
                if (q) *q = '\0';
                fputs(is_head ? "<th>" : "<td>", f);
                report_esc(f, p);
                fputs(is_head ? "</th>" : "</td>", f);
                p = q ? q + 1 : NULL;
            }
            fputs("</tr>\n", f);
        }
        fprintf(f, "</table>\n<p class=\"sub\">mean of %d example(s)</p>\n", rows);
        free(line), free(head);
        fclose(in);
    }
    if (d) closedir(d);
}

static void checkpoint_section(page *pg, report_run *r) {
    FILE *f = pg->f;
    const int cs = report_csv_col(&r->csv, "step"), cv = report_csv_col(&r->csv, "valid_loss"),
              ct = report_csv_col(&r->csv, "train_loss");
    int lacking = 0;
    enum { OPEN = 3 }; /* the newest shown, the older ones folded (a long run has hundreds) */
    for (int k = 0; k < r->n_ck; k++) {
        report_ckpt *c = &r->ck[k];
        double vl = NAN, tl = NAN;
        if (k == OPEN)
            fprintf(f, "<details><summary>%d older checkpoint(s)</summary>\n", r->n_ck - OPEN);
        for (size_t i = 0; r->has_csv && i < r->csv.n_rows; i++)
            if (report_csv_at(&r->csv, i, cs) == (double)c->step) {
                if (isfinite(report_csv_at(&r->csv, i, cv))) vl = report_csv_at(&r->csv, i, cv);
                if (isfinite(report_csv_at(&r->csv, i, ct))) tl = report_csv_at(&r->csv, i, ct);
            }
        fprintf(f, "<section class=\"ckpt\" id=\"step-%lld\">\n<h3>step %lld</h3>\n<p class=\"sub\">",
                (long long)c->step, (long long)c->step);
        if (c->has_file) fprintf(f, "ckpt-%08lld.h5", (long long)c->step);
        else fputs("checkpoint pruned (its samples are kept)", f);
        if (isfinite(tl)) fprintf(f, " &#183; training loss %.4f", tl);
        if (isfinite(vl)) fprintf(f, " &#183; validation loss %.4f", vl);
        fputs("</p>\n", f);
        char name[64], alt[96];
        const int sp = report_spectrogram(r, c, name, sizeof name);
        if (sp == DDSP_OK) {
            snprintf(alt, sizeof alt, "spectrograms at step %lld", (long long)c->step);
            fputs("<div class=\"spec\">", f);
            img(pg, name, alt, NULL);
            fputs("</div>\n", f);
        } else {
            fputs("<p>no spectrogram: ", f);
            report_esc(f, sp == DDSP_ERR ? ddsp_last_error() : "no samples and no checkpoint file");
            fputs("</p>\n", f);
        }
        if (c->n_ex == 0) {
            lacking++;
            fputs("<p>no samples of this checkpoint in samples/</p>\n</section>\n", f);
            continue;
        }
        fputs("<table class=\"ex\">\n", f);
        for (int j = 0; j < c->n_ex; j++) {
            char file[96];
            fprintf(f, "<tr><th>example %lld</th><td>target ", (long long)c->ex[j]);
            snprintf(file, sizeof file, "target-example-%lld.wav", (long long)c->ex[j]);
            player(pg, r, file, "target");
            fputs("</td><td>reconstruction ", f);
            snprintf(file, sizeof file, "step-%08lld-example-%lld.wav", (long long)c->step,
                     (long long)c->ex[j]);
            player(pg, r, file, "recon");
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n</section>\n", f);
    }
    if (r->n_ck > OPEN) fputs("</details>\n", f);
    if (lacking && !r->has_samples_dir)
        note(pg, "%s/samples is missing (deleted?): the checkpoints' audio cannot be played; the "
                 "spectrograms come from the checkpoint files that remain", r->dir);
    else if (lacking)
        note(pg, "%d checkpoint(s) have no samples in %s/samples (written by a ddsp before "
                 "samples, or deleted)", lacking, r->dir);
}

static int write_page(report_run *r, page *pg, const ddsp_run_settings *s, int has_settings,
                      const char *newest) {
    FILE *f = pg->f;
    char when[64];
    const time_t now = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&now, &tmv));
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>ddsp run ",
          f);
    report_esc(f, has_settings && s->run_id[0] ? s->run_id : r->dir);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>ddsp run ", CSS);
    report_esc(f, has_settings && s->run_id[0] ? s->run_id : "(no id)");
    fputs("</h1>\n<p class=\"sub\">", f);
    report_esc(f, r->dir);
    fprintf(f, " &#183; page written %s by ddsp %s</p>\n", when, DDSP_VERSION);
    state_line(pg, r, has_settings ? s : NULL);
    fputs("<nav><a href=\"#curves\">curves</a><a href=\"#checkpoints\">checkpoints</a>"
          "<a href=\"#time\">time</a><a href=\"#settings\">settings</a>"
          "<a href=\"#dataset\">dataset</a></nav>\n", f);
    /* the notes go near the top, but are known only once the sections are written: the
     * sections go to a buffer first */
    char *body = NULL;
    size_t body_n = 0;
    FILE *b = open_memstream(&body, &body_n);
    if (!b) return ddsp_error("out of memory");
    pg->f = b;
    fputs("<h2 id=\"curves\">Curves</h2>\n", b);
    char curves[REPORT_N_CURVES][32];
    int rc = DDSP_OK;
    if (!r->has_csv) {
        fputs("<p>no train.csv: no curves</p>\n", b);
    } else if ((rc = report_curves(r, curves)) == DDSP_OK) {
        fputs("<input type=\"checkbox\" id=\"logy\"/><label for=\"logy\"> logarithmic loss "
              "axis</label>\n<div class=\"grid\">\n", b);
        static const char *const ALT[REPORT_N_CURVES] = {
            "training and validation loss", "training and validation loss (log axis)",
            "loss per scale", "gradient norm", "learning rate", "throughput"};
        for (int k = 0; k < REPORT_N_CURVES; k++)
            if (curves[k][0]) img(pg, curves[k], ALT[k], k == 0 ? "lin" : k == 1 ? "log" : NULL);
        fputs("</div>\n", b);
        if (!r->csv.n_rows) note(pg, "train.csv has no rows yet");
    }
    fputs("<h2 id=\"checkpoints\">Checkpoints</h2>\n", b);
    if (rc == DDSP_OK && r->n_ck == 0) {
        fputs("<p>no checkpoint yet</p>\n", b);
        if (has_settings && s->ckpt_every > 0)
            note(pg, "no checkpoint yet: the first is written at step %lld", (long long)s->ckpt_every);
        else
            note(pg, "no checkpoint yet: the first is written at the end of the run");
    }
    if (rc == DDSP_OK) checkpoint_section(pg, r);
    fputs("<h2 id=\"time\">Where the time goes</h2>\n", b);
    if (rc == DDSP_OK && !report_time_split(r, b))
        fputs("<p>train.csv has no phase timings (a run of a ddsp before them)</p>\n", b);
    if (rc == DDSP_OK) eval_section(pg, r);
    fputs("<h2 id=\"settings\">Settings</h2>\n", b);
    if (has_settings) settings_table(b, s);
    else fputs("<p>no settings: no run.h5 and no readable checkpoint</p>\n", b);
    fputs("<h2 id=\"dataset\">Dataset</h2>\n", b);
    dataset_section(pg, has_settings ? s : NULL, newest[0] ? newest : NULL);
    pg->f = f;
    if (fclose(b) != 0) rc = rc ? rc : ddsp_error("out of memory");
    if (rc == DDSP_OK && pg->n_notes) {
        fputs("<div class=\"notes\"><b>missing</b><ul>\n", f);
        for (int k = 0; k < pg->n_notes; k++) {
            fputs("<li>", f);
            report_esc(f, pg->notes[k]);
            fputs("</li>\n", f);
        }
        fputs("</ul></div>\n", f);
    }
    if (rc == DDSP_OK) fwrite(body, 1, body_n, f);
    free(body);
    fputs("</body>\n</html>\n", f);
    return rc;
}

/* ------------------------------------------------------------------ entry */
static int make_dir(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return ddsp_error("%s: cannot create folder (%s)", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return ddsp_error("%s: not a folder", dir);
    return DDSP_OK;
}

int ddsp_report_write(const ddsp_report_opts *o, ddsp_report_info *info) {
    const double t0 = ddsp_now();
    report_run *r = calloc(1, sizeof *r);
    page pg = {0};
    char path[PATH_MAX], tmp[PATH_MAX] = "", newest[PATH_MAX] = "";
    ddsp_run_settings s;
    int rc = DDSP_ERR, has_settings = 0;
    if (!r) return ddsp_error("out of memory");
    struct stat st;
    if (stat(o->run_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ddsp_error("%s: %s", o->run_dir, stat(o->run_dir, &st) != 0 ? "no such folder" : "not a folder");
        goto done;
    }
    if (!realpath(o->run_dir, r->dir)) {
        ddsp_error("%s: %s", o->run_dir, strerror(errno));
        goto done;
    }
    /* what the folder holds */
    const int run_file = ddsp_ckpt_run_read(r->dir, &s);
    has_settings = run_file == DDSP_OK;
    if (report_in(r, path, sizeof path, "train.csv")) goto done;
    const int csv = report_csv_read(path, &r->csv);
    r->has_csv = csv == DDSP_OK;
    if (gather_checkpoints(r, has_settings ? s.run_id : NULL)) goto done;
    if (run_file == 1 && csv == 1 && r->n_ck == 0) {
        ddsp_error("%s: not a run folder (no run.h5, train.csv or checkpoint in it; the folder "
                   "`ddsp train --out` names)", r->dir);
        goto done;
    }
    for (int k = 0; k < r->n_ck; k++)
        if (r->ck[k].has_file) {
            ddsp_ckpt_path(newest, sizeof newest, r->dir, r->ck[k].step);
            break;
        }
    if (!has_settings && newest[0] && ddsp_ckpt_read_settings(newest, &s) == DDSP_OK) has_settings = 2;
    /* where the page goes */
    if (o->out_dir && o->out_dir[0]) {
        if (make_dir(o->out_dir) || !realpath(o->out_dir, r->out)) {
            if (!ddsp_last_error()[0]) ddsp_error("%s: %s", o->out_dir, strerror(errno));
            goto done;
        }
    } else if (report_in(r, r->out, sizeof r->out, "report") || make_dir(r->out)) {
        goto done;
    }
    char def[PATH_MAX];
    if (report_in(r, def, sizeof def, "report")) goto done;
    const int inside = !strcmp(def, r->out);
    snprintf(r->audio_prefix, sizeof r->audio_prefix, "%s", inside ? "../samples/" : "samples/");
    ddsp_tmp_sweep_dir(r->out, NULL);
    if (!inside && r->has_samples_dir) {
        if (report_out(r, path, sizeof path, "samples") || make_dir(path)) goto done;
        char name[96];
        for (int k = 0; k < r->n_targets; k++) {
            snprintf(name, sizeof name, "target-example-%lld.wav", (long long)r->targets[k]);
            if (export_sample(r, name)) goto done;
        }
        for (int k = 0; k < r->n_ck; k++)
            for (int j = 0; j < r->ck[k].n_ex; j++) {
                snprintf(name, sizeof name, "step-%08lld-example-%lld.wav",
                         (long long)r->ck[k].step, (long long)r->ck[k].ex[j]);
                if (export_sample(r, name)) goto done;
            }
    }
    if (run_file == DDSP_ERR) note(&pg, "run.h5 does not open: %s", ddsp_last_error());
    else if (run_file == 1 && has_settings) note(&pg, "no run.h5: the settings are those of %s", newest);
    if (csv == DDSP_ERR) note(&pg, "train.csv: %s", ddsp_last_error());
    else if (csv == 1) note(&pg, "no train.csv in %s: no curves and no timings", r->dir);
    /* the page, through a temporary */
    if (report_out(r, path, sizeof path, "index.html") || ddsp_tmp_name(tmp, sizeof tmp, path))
        goto done;
    pg.f = fopen(tmp, "w");
    if (!pg.f) {
        ddsp_error("%s: cannot write (%s)", path, strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    ddsp_tmp_track(tmp);
    rc = write_page(r, &pg, &s, has_settings, newest);
    if (fclose(pg.f) != 0 && rc == DDSP_OK) rc = ddsp_error("%s: cannot write (%s)", path, strerror(errno));
    if (rc == DDSP_OK) {
        rc = ddsp_tmp_publish(tmp, path, 1);
    } else {
        unlink(tmp);
        ddsp_tmp_forget(tmp);
    }
    if (rc == DDSP_OK && info) {
        snprintf(info->page, sizeof info->page, "%s", path);
        info->n_checkpoints = r->n_ck;
        info->n_players = pg.n_players;
        info->n_images = pg.n_images;
        info->n_drawn = r->n_drawn;
        info->n_notes = pg.n_notes;
        info->seconds = ddsp_now() - t0;
    }
done:
    report_csv_free(&r->csv);
    free(r->ck);
    free(r);
    return rc;
}
