/* A dataset's summary (ddsp/inspect.h): settings, examples per split, f0 / loudness / audio
 * ranges per split read a block of examples at a time (memory bounded whatever the dataset's
 * size), and the source files with their status; then ddsp_dataset_open opens it as training
 * would, and its verdict comes first among the problems. */
#include "ddsp/data.h"
#include "ddsp/util.h"
#include "inspect/inspect_impl.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* f0 confidence of a voiced frame: the threshold of training's dataset_stats and resynth */
#define VOICED 0.5
#define MAX_ROWS ((int64_t)1 << 31)
#define BLOCK_VALUES ((int64_t)1 << 22) /* values read at once per dataset */
#define TEXT_FILES 100                  /* files listed as text (JSON lists all) */

static const struct {
    int code;
    const char *name, *meaning;
} STATUS[] = {{DDSP_FILE_OK, "ok", "read and cut into examples"},
              {DDSP_FILE_SHORT, "short", "shorter than one example: skipped"},
              {DDSP_FILE_BAD, "unreadable", "not readable as audio: skipped"},
              {DDSP_FILE_UNSEEN, "unseen", "not examined by prepare"}};
#define N_STATUS 4

static const char *status_name(int code) {
    for (int i = 0; i < N_STATUS; i++)
        if (STATUS[i].code == code) return STATUS[i].name;
    return "unknown";
}

/* the per-example arrays, in the order the statistics use them */
static const char *const ARRAYS[4] = {"audio", "f0_hz", "f0_confidence", "loudness_db"};
enum { A_AUDIO, A_F0, A_CONF, A_LD };
static const char *const SPLITS[3] = {"train", "validation", "all"};

typedef struct {
    int64_t n, frames, voiced;
    double f0_min, f0_max, f0_sum; /* Hz, voiced frames */
    double ld_min, ld_max, ld_sum; /* dB, every finite frame */
    int64_t ld_n, samples;
    double peak, ss; /* audio: max |x|, sum of squares */
} split_stats;

typedef struct {
    const char *path; /* borrowed */
    char format[64], version[64];
    int64_t format_version;
    int has_format_version;
    insp_attr_list attrs;
    int64_t E, T, F;        /* examples, samples, frames (-1: unknown) */
    int8_t *split;          /* (E) or NULL */
    int64_t n_split[3];     /* train, validation, other values */
    int stats;              /* st[] computed */
    split_stats st[3];      /* train, validation, all */
    int64_t nonfinite[4];   /* per ARRAYS */
    int64_t first_bad[4];   /* example holding the first non-finite value */
    int64_t n_files;        /* -1: no /files */
    char **files;           /* (n_files) owned */
    double *secs;           /* (n_files) or NULL */
    int32_t *status;        /* (n_files) or NULL */
    int64_t (*per_file)[2]; /* (n_files) train and validation examples cut from it */
    insp_problems pr;
    int loads;
    char load_msg[1024];
} dsum;

/* ------------------------------------------------------------------ reading */
/* A 1-D dataset read whole as `mem` type into *out (elem bytes each): its length, or -1
 * (absent: no problem; unreadable: a problem named). */
static int64_t read_1d(hid_t f, dsum *s, const char *name, hid_t mem, size_t elem, void **out) {
    *out = NULL;
    uint64_t d[8];
    const int r = insp_ds_dims(f, name, d);
    if (r < 0 && !insp_has(f, name)) return -1;
    if (r != 1 || d[0] > (uint64_t)MAX_ROWS) {
        insp_problem(&s->pr, "'/%s' is not a readable 1-D dataset", name);
        return -1;
    }
    void *buf = malloc(elem * (d[0] + 1));
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    const int ok =
        buf && ds >= 0 && (d[0] == 0 || H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    if (ds >= 0) H5Dclose(ds);
    if (!ok) {
        free(buf);
        insp_problem(&s->pr, "cannot read '/%s'", name);
        return -1;
    }
    *out = buf;
    return (int64_t)d[0];
}

static void read_split(hid_t f, dsum *s) {
    void *v = NULL;
    s->E = read_1d(f, s, "split", H5T_NATIVE_INT8, 1, &v);
    s->split = v;
    if (s->E < 0) {
        if (!insp_has(f, "split")) insp_problem(&s->pr, "no /split (which examples train)");
        return;
    }
    for (int64_t i = 0; i < s->E; i++)
        s->n_split[s->split[i] == 0 ? 0 : s->split[i] == 1 ? 1 : 2]++;
    if (s->n_split[2])
        insp_problem(&s->pr, "/split holds %lld value%s other than 0 (train) and 1 (validation)",
                     (long long)s->n_split[2], s->n_split[2] == 1 ? "" : "s");
    const char *names[2] = {"n_train", "n_valid"};
    for (int k = 0; k < 2; k++) {
        const double a = insp_attr_num(&s->attrs, names[k]);
        if (isfinite(a) && (int64_t)a != s->n_split[k])
            insp_problem(&s->pr, "attribute %s is %.0f, /split has %lld", names[k], a,
                         (long long)s->n_split[k]);
    }
}

/* The four per-example arrays: (E, T) and three (E, F). 1 when they can be streamed. */
static int check_shapes(hid_t f, dsum *s) {
    int ok = s->E >= 0;
    for (int a = 0; a < 4; a++) {
        uint64_t d[8] = {0};
        const int r = insp_ds_dims(f, ARRAYS[a], d);
        int64_t *cols = a == A_AUDIO ? &s->T : &s->F;
        if (r < 0) {
            insp_problem(&s->pr, "no /%s", ARRAYS[a]);
            ok = 0;
        } else if (r != 2) {
            insp_problem(&s->pr, "'/%s' has %d dimensions, expected 2 (examples, %s)", ARRAYS[a], r,
                         a == A_AUDIO ? "samples" : "frames");
            ok = 0;
        } else if (s->E >= 0 && (int64_t)d[0] != s->E) {
            insp_problem(&s->pr, "'/%s' has %llu rows, /split %lld", ARRAYS[a],
                         (unsigned long long)d[0], (long long)s->E);
            ok = 0;
        } else if (d[1] > (uint64_t)MAX_ROWS) {
            insp_problem(&s->pr, "'/%s' declares %llu values per example", ARRAYS[a],
                         (unsigned long long)d[1]);
            ok = 0;
        } else if (*cols >= 0 && (int64_t)d[1] != *cols) {
            insp_problem(&s->pr, "'/%s' has %llu frames, the other feature arrays %lld", ARRAYS[a],
                         (unsigned long long)d[1], (long long)*cols);
            ok = 0;
        } else {
            *cols = (int64_t)d[1];
        }
    }
    return ok && s->T > 0 && s->F > 0;
}

static int read_rows(hid_t ds, int64_t r0, int64_t nr, int64_t cols, float *out) {
    hid_t fs = H5Dget_space(ds);
    hsize_t start[2] = {(hsize_t)r0, 0}, count[2] = {(hsize_t)nr, (hsize_t)cols};
    hsize_t n = (hsize_t)(nr * cols);
    hid_t ms = H5Screate_simple(1, &n, NULL);
    const int ok = fs >= 0 && ms >= 0 &&
                   H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
                   H5Dread(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return ok ? DDSP_OK : DDSP_ERR;
}

static void count_bad(dsum *s, int a, int64_t row, const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]) && s->nonfinite[a]++ == 0) s->first_bad[a] = row;
}

/* Example `row`'s contribution to its split and to "all". */
static void add_example(dsum *s, int64_t row, const float *au, const float *f0, const float *cf,
                        const float *ld) {
    split_stats *t[2] = {&s->st[2], s->split[row] == 0   ? &s->st[0]
                                    : s->split[row] == 1 ? &s->st[1]
                                                         : NULL};
    for (int k = 0; k < 2 && t[k]; k++) {
        split_stats *x = t[k];
        x->n++, x->frames += s->F, x->samples += s->T;
        for (int64_t i = 0; i < s->F; i++) {
            if (isfinite(cf[i]) && isfinite(f0[i]) && cf[i] >= VOICED) {
                x->voiced++, x->f0_sum += f0[i];
                x->f0_min = fmin(x->f0_min, f0[i]), x->f0_max = fmax(x->f0_max, f0[i]);
            }
            if (isfinite(ld[i])) {
                x->ld_n++, x->ld_sum += ld[i];
                x->ld_min = fmin(x->ld_min, ld[i]), x->ld_max = fmax(x->ld_max, ld[i]);
            }
        }
        for (int64_t i = 0; i < s->T; i++)
            if (isfinite(au[i]))
                x->peak = fmax(x->peak, fabs(au[i])), x->ss += (double)au[i] * au[i];
    }
}

/* Every example, a block of rows at a time. */
static void read_features(hid_t f, dsum *s) {
    for (int k = 0; k < 3; k++) {
        split_stats *x = &s->st[k];
        memset(x, 0, sizeof *x);
        x->f0_min = x->ld_min = INFINITY, x->f0_max = x->ld_max = -INFINITY;
    }
    int64_t block = BLOCK_VALUES / s->T;
    if (block < 1) block = 1;
    hid_t ds[4];
    float *buf[4];
    int ok = 1;
    for (int a = 0; a < 4; a++) {
        ds[a] = H5Dopen2(f, ARRAYS[a], H5P_DEFAULT);
        buf[a] = malloc(sizeof(float) * (size_t)(block * (a == A_AUDIO ? s->T : s->F)));
        ok &= ds[a] >= 0 && buf[a] != NULL;
    }
    if (!ok) insp_problem(&s->pr, "cannot read the examples (out of memory?)");
    for (int64_t r0 = 0; ok && r0 < s->E; r0 += block) {
        const int64_t nr = s->E - r0 < block ? s->E - r0 : block;
        for (int a = 0; a < 4 && ok; a++) {
            const int64_t cols = a == A_AUDIO ? s->T : s->F;
            if (read_rows(ds[a], r0, nr, cols, buf[a])) {
                insp_problem(&s->pr, "cannot read examples %lld .. %lld of '/%s'", (long long)r0,
                             (long long)(r0 + nr - 1), ARRAYS[a]);
                ok = 0;
            }
            for (int64_t r = 0; ok && r < nr; r++)
                count_bad(s, a, r0 + r, buf[a] + r * cols, cols);
        }
        for (int64_t r = 0; ok && r < nr; r++)
            add_example(s, r0 + r, buf[A_AUDIO] + r * s->T, buf[A_F0] + r * s->F,
                        buf[A_CONF] + r * s->F, buf[A_LD] + r * s->F);
    }
    s->stats = ok;
    for (int a = 0; a < 4; a++) {
        if (ds[a] >= 0) H5Dclose(ds[a]);
        free(buf[a]);
        if (s->nonfinite[a])
            insp_problem(&s->pr,
                         "'/%s' holds %lld non-finite value%s (first in example %lld): training "
                         "stops when it reads one",
                         ARRAYS[a], (long long)s->nonfinite[a], s->nonfinite[a] == 1 ? "" : "s",
                         (long long)s->first_bad[a]);
    }
}

/* /files (fixed-length strings as prepare writes them, or variable-length as h5py does). */
static int64_t read_names(hid_t f, dsum *s) {
    uint64_t d[8];
    if (!insp_has(f, "files")) return -1;
    hid_t ds = H5Dopen2(f, "files", H5P_DEFAULT);
    hid_t t = ds >= 0 ? H5Dget_type(ds) : -1;
    int64_t n = -1;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING && insp_ds_dims(f, "files", d) == 1 &&
        d[0] <= (uint64_t)MAX_ROWS && (s->files = calloc(d[0] + 1, sizeof(char *)))) {
        const int vlen = H5Tis_variable_str(t) > 0;
        const size_t sz = vlen ? sizeof(char *) : H5Tget_size(t);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, vlen ? H5T_VARIABLE : sz);
        char *raw = calloc(d[0] + 1, sz);
        if (raw && (d[0] == 0 || H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0)) {
            n = (int64_t)d[0];
            for (int64_t i = 0; i < n; i++) {
                const char *p = vlen ? ((char **)raw)[i] : raw + (size_t)i * sz;
                s->files[i] = vlen ? strdup(p ? p : "") : strndup(p, sz);
            }
            if (vlen && n) {
                hid_t sp = H5Dget_space(ds);
                H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, raw);
                H5Sclose(sp);
            }
        }
        free(raw);
        H5Tclose(mt);
    }
    if (t >= 0) H5Tclose(t);
    if (ds >= 0) H5Dclose(ds);
    if (n < 0) insp_problem(&s->pr, "'/files' is not a readable list of file names");
    return n;
}

static void read_files(hid_t f, dsum *s) {
    s->n_files = read_names(f, s);
    if (s->n_files < 0) {
        if (!insp_has(f, "files")) insp_problem(&s->pr, "no /files (the source files)");
        return;
    }
    void *secs = NULL, *status = NULL, *src = NULL;
    const int64_t ns = read_1d(f, s, "file_seconds", H5T_NATIVE_DOUBLE, sizeof(double), &secs);
    const int64_t nt = read_1d(f, s, "file_status", H5T_NATIVE_INT32, sizeof(int32_t), &status);
    const int64_t ne = read_1d(f, s, "source_file", H5T_NATIVE_INT32, sizeof(int32_t), &src);
    s->secs = secs, s->status = status;
    if (ns != s->n_files || nt != s->n_files) {
        insp_problem(&s->pr, "/files lists %lld files, /file_seconds %lld, /file_status %lld",
                     (long long)s->n_files, (long long)ns, (long long)nt);
        free(s->secs), free(s->status);
        s->secs = NULL, s->status = NULL;
    }
    for (int64_t i = 0; s->status && i < s->n_files; i++)
        if (!strcmp(status_name(s->status[i]), "unknown"))
            insp_problem(&s->pr, "/file_status of '%s' is %d (known: 1 ok, 2 short, 3 unreadable)",
                         s->files[i], (int)s->status[i]);
    s->per_file = calloc((size_t)s->n_files + 1, sizeof *s->per_file);
    if (ne >= 0 && s->E >= 0 && ne != s->E)
        insp_problem(&s->pr, "/source_file has %lld rows, /split %lld", (long long)ne,
                     (long long)s->E);
    else if (ne < 0 && !insp_has(f, "source_file"))
        insp_problem(&s->pr, "no /source_file (which file each example comes from)");
    int64_t out_of_range = 0;
    for (int64_t i = 0; s->per_file && s->split && ne == s->E && i < ne; i++) {
        const int32_t k = ((int32_t *)src)[i];
        if (k < 0 || k >= s->n_files)
            out_of_range++;
        else if (s->split[i] == 0 || s->split[i] == 1)
            s->per_file[k][s->split[i]]++;
    }
    if (out_of_range)
        insp_problem(&s->pr, "/source_file names %lld example%s of no file in /files",
                     (long long)out_of_range, out_of_range == 1 ? "" : "s");
    for (int64_t i = 0; s->per_file && s->status && i < s->n_files; i++)
        if (s->status[i] != DDSP_FILE_OK && s->per_file[i][0] + s->per_file[i][1])
            insp_problem(&s->pr, "'%s' is marked %s but has examples", s->files[i],
                         status_name(s->status[i]));
    free(src);
}

/* Everything, part by part (the caller checked the format attribute). DDSP_ERR only when the
 * file cannot be opened. */
static int collect(const char *path, dsum *s) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->E = s->T = s->F = -1, s->n_files = -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot open as HDF5 (truncated or damaged?)", path);
    if (ddsp_h5_attr_get_str(f, "format", s->format, sizeof s->format)) s->format[0] = '\0';
    s->has_format_version =
        ddsp_h5_attr_get_i64(f, "format_version", &s->format_version) == DDSP_OK;
    if (!s->has_format_version)
        insp_problem(&s->pr, "no (integer) format_version attribute");
    else if (s->format_version != DDSP_DATASET_VERSION)
        insp_problem(&s->pr, "format version %lld, this ddsp reads %d",
                     (long long)s->format_version, DDSP_DATASET_VERSION);
    if (ddsp_h5_attr_get_str(f, "ddsp_version", s->version, sizeof s->version))
        s->version[0] = '\0';
    insp_read_attrs(f, ".", &s->attrs);
    const char *need[] = {"sample_rate", "frame_rate", "hop"};
    for (int i = 0; i < 3; i++)
        if (!(insp_attr_num(&s->attrs, need[i]) > 0))
            insp_problem(&s->pr, "no positive %s attribute", need[i]);
    read_split(f, s);
    if (check_shapes(f, s) && s->split) read_features(f, s);
    read_files(f, s);
    H5Fclose(f);

    /* the verdict of the reader training uses */
    ddsp_dataset ds;
    if (ddsp_dataset_open(path, &ds) == DDSP_OK) {
        s->loads = 1;
        snprintf(s->load_msg, sizeof s->load_msg, "%lld examples: %lld train, %lld validation",
                 (long long)ds.n_examples, (long long)ds.n_train, (long long)ds.n_valid);
        if (ds.n_train == 0)
            insp_problem(&s->pr, "no training examples (`ddsp train` needs one; prepare with a "
                                 "smaller --valid-fraction or more audio)");
        ddsp_dataset_close(&ds);
    } else {
        insp_reader_fails(&s->pr, path, "dataset", s->load_msg, sizeof s->load_msg);
    }
    return DDSP_OK;
}

static void dsum_free(dsum *s) {
    free(s->attrs.a), free(s->split), free(s->secs), free(s->status), free(s->per_file);
    for (int64_t i = 0; s->files && i < s->n_files; i++)
        free(s->files[i]);
    free(s->files);
}

/* ------------------------------------------------------------------ printing */
/* root attributes shown on their own lines, not among the settings */
static int is_setting(const char *key, int arg) {
    (void)arg;
    static const char *const shown[] = {"format",         "format_version",
                                        "ddsp_version",   "sample_rate",
                                        "frame_rate",     "hop",
                                        "n_examples",     "n_train",
                                        "n_valid",        "example_samples",
                                        "example_frames", "example_secs",
                                        "hop_secs",       NULL};
    for (int i = 0; shown[i]; i++)
        if (!strcmp(key, shown[i])) return 0;
    return 1;
}

static double mean(double sum, int64_t n) {
    return n ? sum / (double)n : NAN;
}

/* v with format f, or "?" when unknown (not finite) */
static void fmt_num(char *buf, size_t cap, double v, const char *f) {
    if (isfinite(v))
        snprintf(buf, cap, f, v);
    else
        snprintf(buf, cap, "?");
}

static void fmt_range(char *buf, size_t cap, double lo, double mid, double hi, const char *f) {
    char a[24], b[24], c[24];
    if (!isfinite(lo)) {
        snprintf(buf, cap, "-");
        return;
    }
    snprintf(a, sizeof a, f, lo), snprintf(b, sizeof b, f, mid), snprintf(c, sizeof c, f, hi);
    snprintf(buf, cap, "%s .. %s .. %s", a, b, c);
}

static void print_text(FILE *o, const dsum *s) {
    const double sr = insp_attr_num(&s->attrs, "sample_rate");
    const double fr = insp_attr_num(&s->attrs, "frame_rate");
    const double hop = insp_attr_num(&s->attrs, "hop");
    const double hs = insp_attr_num(&s->attrs, "hop_secs");
    fprintf(o, "dataset      %s\n", s->path);
    fprintf(o, "format       %s, version %lld, written by ddsp %s\n", s->format,
            s->has_format_version ? (long long)s->format_version : -1LL,
            s->version[0] ? s->version : "?");
    char e[24], t[24], fr_[24], r[3][24];
    fmt_num(e, sizeof e, s->E >= 0 ? (double)s->E : NAN, "%.0f");
    fmt_num(t, sizeof t, s->T >= 0 ? (double)s->T : NAN, "%.0f");
    fmt_num(fr_, sizeof fr_, s->F >= 0 ? (double)s->F : NAN, "%.0f");
    fmt_num(r[0], sizeof r[0], sr, "%.0f"), fmt_num(r[1], sizeof r[1], fr, "%.6g");
    fmt_num(r[2], sizeof r[2], hop, "%.0f");
    fprintf(o, "examples     %s", e);
    if (s->T > 0 && sr > 0) fprintf(o, " of %.6g s", (double)s->T / sr);
    fprintf(o, " (%s samples, %s frames): %lld train, %lld validation\n", t, fr_,
            (long long)s->n_split[0], (long long)s->n_split[1]);
    fprintf(o, "rates        %s Hz audio, %s frames/s (hop %s samples)", r[0], r[1], r[2]);
    if (isfinite(hs)) fprintf(o, ", an example starts every %.6g s", hs);
    fprintf(o, "\n");
    fprintf(o, "\nsettings of `ddsp prepare`\n");
    insp_print_wrapped(o, "", &s->attrs, is_setting, 0, NULL);

    fprintf(o, "\nfeatures     f0 on voiced frames (confidence >= %.1f), loudness on all frames\n",
            VOICED);
    if (!s->stats) {
        fprintf(o, "  (unreadable)\n");
    } else {
        fprintf(o, "  %-10s %8s %7s  %-28s %-32s %7s %8s\n", "split", "examples", "voiced",
                "f0 min .. mean .. max (Hz)", "loudness min .. mean .. max (dB)", "peak", "RMS");
        for (int k = 0; k < 3; k++) {
            const split_stats *x = &s->st[k];
            char f0[96], ld[96];
            fmt_range(f0, sizeof f0, x->f0_min, mean(x->f0_sum, x->voiced), x->f0_max, "%.1f");
            fmt_range(ld, sizeof ld, x->ld_min, mean(x->ld_sum, x->ld_n), x->ld_max, "%.1f");
            if (x->n == 0) {
                fprintf(o, "  %-10s %8d %7s  %-28s %-32s %7s %8s\n", SPLITS[k], 0, "-", "-", "-",
                        "-", "-");
                continue;
            }
            fprintf(o, "  %-10s %8lld %6.1f%%  %-28s %-32s %7.4f %8.4f\n", SPLITS[k],
                    (long long)x->n, 100.0 * x->voiced / x->frames, f0, ld, x->peak,
                    sqrt(x->ss / x->samples));
        }
    }

    fprintf(o, "\nsource files ");
    if (s->n_files < 0) {
        fprintf(o, "(none)\n");
    } else {
        int64_t count[N_STATUS] = {0};
        for (int64_t i = 0; s->status && i < s->n_files; i++)
            for (int k = 0; k < N_STATUS; k++)
                count[k] += s->status[i] == STATUS[k].code;
        fprintf(o, "%lld: %lld ok, %lld short, %lld unreadable\n", (long long)s->n_files,
                (long long)count[0], (long long)count[1], (long long)count[2]);
        fprintf(o, "  %-10s %9s %6s %6s  %s\n", "status", "seconds", "train", "valid", "file");
        for (int64_t i = 0; i < s->n_files && i < TEXT_FILES; i++) {
            fprintf(o, "  %-10s ", s->status ? status_name(s->status[i]) : "?");
            if (s->secs)
                fprintf(o, "%9.1f ", s->secs[i]);
            else
                fprintf(o, "%9s ", "?");
            fprintf(o, "%6lld %6lld  %s\n", s->per_file ? (long long)s->per_file[i][0] : 0LL,
                    s->per_file ? (long long)s->per_file[i][1] : 0LL, s->files[i]);
        }
        if (s->n_files > TEXT_FILES)
            fprintf(o, "  ... %lld more (--json lists all)\n",
                    (long long)(s->n_files - TEXT_FILES));
        for (int k = 0; k < N_STATUS - 1; k++) /* "unseen" is never written */
            fprintf(o, "  %-13s%d %s = %s\n", k ? "" : "file_status:", STATUS[k].code,
                    STATUS[k].name, STATUS[k].meaning);
    }

    fprintf(o, "\ncheck        ");
    if (s->pr.n == 0) {
        fprintf(o, "ok: complete; opens as training would (%s, all finite)\n", s->load_msg);
    } else {
        fprintf(o, "%d problem%s\n", s->pr.n, s->pr.n == 1 ? "" : "s");
        for (int i = 0; i < s->pr.n; i++)
            fprintf(o, "  - %s\n", s->pr.v[i]);
    }
}

static void print_json(FILE *o, const dsum *s) {
    insp_json j;
    insp_json_begin(&j, o);
    insp_jstr(&j, "file", s->path);
    insp_jstr(&j, "format", s->format);
    if (s->has_format_version)
        insp_jint(&j, "format_version", (long long)s->format_version);
    else
        insp_jnum(&j, "format_version", NAN);
    insp_jstr(&j, "ddsp_version", s->version);
    insp_jint(&j, "n_examples", (long long)s->E);
    insp_jint(&j, "n_train", (long long)s->n_split[0]);
    insp_jint(&j, "n_valid", (long long)s->n_split[1]);
    insp_jint(&j, "example_samples", (long long)s->T);
    insp_jint(&j, "example_frames", (long long)s->F);
    insp_jnum(&j, "sample_rate", insp_attr_num(&s->attrs, "sample_rate"));
    insp_jnum(&j, "frame_rate", insp_attr_num(&s->attrs, "frame_rate"));
    insp_jnum(&j, "hop", insp_attr_num(&s->attrs, "hop"));

    insp_jopen(&j, "attributes", '{');
    for (int i = 0; i < s->attrs.n; i++)
        insp_jattr(&j, s->attrs.a[i].name, &s->attrs.a[i]);
    insp_jclose(&j, '}');

    insp_jopen(&j, "splits", '{');
    for (int k = 0; s->stats && k < 3; k++) {
        const split_stats *x = &s->st[k];
        insp_jopen(&j, SPLITS[k], '{');
        insp_jint(&j, "examples", (long long)x->n);
        insp_jint(&j, "frames", (long long)x->frames);
        insp_jnum(&j, "voiced_fraction", x->frames ? (double)x->voiced / x->frames : NAN);
        insp_jnum(&j, "f0_hz_min", x->f0_min);
        insp_jnum(&j, "f0_hz_mean", mean(x->f0_sum, x->voiced));
        insp_jnum(&j, "f0_hz_max", x->f0_max);
        insp_jnum(&j, "loudness_db_min", x->ld_min);
        insp_jnum(&j, "loudness_db_mean", mean(x->ld_sum, x->ld_n));
        insp_jnum(&j, "loudness_db_max", x->ld_max);
        insp_jnum(&j, "audio_peak", x->samples ? x->peak : NAN);
        insp_jnum(&j, "audio_rms", x->samples ? sqrt(x->ss / x->samples) : NAN);
        insp_jclose(&j, '}');
    }
    insp_jclose(&j, '}');
    insp_jnum(&j, "voiced_confidence", VOICED);
    insp_jopen(&j, "nonfinite", '{');
    for (int a = 0; s->stats && a < 4; a++)
        insp_jint(&j, ARRAYS[a], (long long)s->nonfinite[a]);
    insp_jclose(&j, '}');

    insp_jopen(&j, "file_status", '{');
    for (int k = 0; k < N_STATUS; k++) {
        char code[16];
        snprintf(code, sizeof code, "%d", STATUS[k].code);
        j.inline_from = j.depth + 1;
        insp_jopen(&j, code, '{');
        insp_jstr(&j, "name", STATUS[k].name);
        insp_jstr(&j, "meaning", STATUS[k].meaning);
        insp_jclose(&j, '}');
        j.inline_from = 99;
    }
    insp_jclose(&j, '}');
    insp_jopen(&j, "files", '[');
    j.inline_from = j.depth + 1;
    for (int64_t i = 0; i < s->n_files; i++) {
        insp_jopen(&j, NULL, '{');
        insp_jstr(&j, "path", s->files[i]);
        if (s->status) insp_jint(&j, "status", s->status[i]);
        insp_jstr(&j, "status_name", s->status ? status_name(s->status[i]) : "?");
        insp_jnum(&j, "seconds", s->secs ? s->secs[i] : NAN);
        insp_jint(&j, "train", s->per_file ? (long long)s->per_file[i][0] : 0);
        insp_jint(&j, "valid", s->per_file ? (long long)s->per_file[i][1] : 0);
        insp_jclose(&j, '}');
    }
    j.inline_from = 99;
    insp_jclose(&j, ']');
    insp_jproblems(&j, &s->pr);
    insp_json_end(&j);
}

int insp_dataset(const char *path, int json, FILE *o, int *n_problems, char *first, size_t cap) {
    dsum *s = malloc(sizeof *s);
    if (!s) return ddsp_error("%s: out of memory", path);
    int rc = collect(path, s);
    if (rc == DDSP_OK) {
        if (json)
            print_json(o, s);
        else
            print_text(o, s);
        *n_problems = s->pr.n;
        snprintf(first, cap, "%s", s->pr.n ? s->pr.v[0] : "");
    }
    dsum_free(s);
    free(s);
    return rc;
}
