/* `ddsp prepare`: audio files -> examples with f0, confidence and loudness -> one HDF5 file.
 *
 * Collective over a communicator. Every rank expands the inputs the same way (sorted), then:
 *   1. rank r reads files r, r+size, ... (decode + resample) to validate them and learn
 *      their lengths; the lengths are shared (a dist reduction), so every rank knows the
 *      complete example table (file order, then time order) without moving audio;
 *   2. all ranks create the output collectively (parallel HDF5), each computes the features
 *      of its files and writes its examples' rows; rank 0 writes the small tables;
 *   3. the file is closed and rank 0 renames it over the destination.
 * Features are computed over a whole file and then cut, so an example's frames are the same
 * whichever window or rank produced them; content is identical for any number of ranks.
 * Sliding windows as magenta's prepare_tfrecord (example_secs long, hop_secs apart). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ddsp/audio.h"
#include "ddsp/data.h"
#include "ddsp/util.h"

void ddsp_prepare_config_default(ddsp_prepare_config *c) {
    memset(c, 0, sizeof *c);
    c->sample_rate = 16000;
    c->frame_rate = 250;
    c->example_secs = 4.0;
    c->hop_secs = 1.0;
    c->valid_fraction = 0.1;
    ddsp_f0_config_default(&c->f0);
    ddsp_loudness_config_default(&c->loudness);
}

/* x seconds at rate sr as a whole number of samples that is a multiple of hop, or -1 */
static long secs_to_samples(double x, int sr, int hop) {
    double s = x * sr;
    long n = lround(s);
    if (!(x > 0.0) || fabs(s - (double)n) > 1e-6 || n % hop) return -1;
    return n;
}

int ddsp_prepare_config_check(const ddsp_prepare_config *c) {
    if (c->sample_rate < 1000 || c->sample_rate > 384000)
        return ddsp_error("--sample-rate %d: expected 1000..384000 Hz", c->sample_rate);
    if (c->frame_rate <= 0 || c->sample_rate % c->frame_rate)
        return ddsp_error("--frame-rate %d must divide the sample rate %d", c->frame_rate,
                          c->sample_rate);
    const int hop = c->sample_rate / c->frame_rate;
    if (secs_to_samples(c->example_secs, c->sample_rate, hop) < 0)
        return ddsp_error("--example-secs %g is not a positive whole number of %d-sample frames",
                          c->example_secs, hop);
    if (secs_to_samples(c->hop_secs, c->sample_rate, hop) < 0)
        return ddsp_error("--hop-secs %g is not a positive whole number of %d-sample frames",
                          c->hop_secs, hop);
    if (!(c->valid_fraction >= 0.0 && c->valid_fraction < 1.0))
        return ddsp_error("--valid-fraction %g must be in [0, 1)", c->valid_fraction);
    ddsp_f0_config f0 = c->f0;
    f0.sample_rate = c->sample_rate, f0.hop = hop;
    if (ddsp_f0_config_check(&f0)) return DDSP_ERR;
    ddsp_loudness_config ld = c->loudness;
    ld.sample_rate = c->sample_rate, ld.hop = hop;
    return ddsp_loudness_config_check(&ld);
}

/* ------------------------------------------------------------------ input expansion */
typedef struct {
    char **v;
    int n, cap;
} strlist;

static int strlist_add(strlist *l, const char *s) {
    if (l->n == l->cap) {
        int ncap = l->cap ? 2 * l->cap : 64;
        char **nv = realloc(l->v, sizeof(char *) * (size_t)ncap);
        if (!nv) return ddsp_error("out of memory listing input files");
        l->v = nv, l->cap = ncap;
    }
    l->v[l->n] = strdup(s);
    if (!l->v[l->n]) return ddsp_error("out of memory listing input files");
    l->n++;
    return DDSP_OK;
}

static void strlist_free(strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Files found inside folders are kept if their extension is one libsndfile reads. */
static int audio_extension(const char *name) {
    static const char *ext[] = {"wav", "wave", "flac", "aif", "aiff", "aifc", "ogg", "oga",
                                "opus", "mp3", "au", "snd", "w64", "caf", "rf64"};
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    char e[8] = {0};
    size_t n = strlen(dot + 1);
    if (n == 0 || n >= sizeof e) return 0;
    for (size_t i = 0; i < n && i < sizeof e - 1; i++) e[i] = (char)tolower((unsigned char)dot[1 + i]);
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (!strcmp(e, ext[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(const char *dir, strlist *out, int depth) {
    if (depth > 32) return ddsp_error("%s: folders nested too deeply", dir);
    DIR *d = opendir(dir);
    if (!d) return ddsp_error("%s: cannot open folder (%s)", dir, strerror(errno));
    strlist names = {0};
    int rc = DDSP_OK;
    struct dirent *e;
    while (rc == DDSP_OK && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') rc = strlist_add(&names, e->d_name);
    closedir(d);
    if (names.n) qsort(names.v, (size_t)names.n, sizeof(char *), cmp_str);
    for (int i = 0; rc == DDSP_OK && i < names.n; i++) {
        size_t len = strlen(dir) + strlen(names.v[i]) + 2;
        char *p = malloc(len);
        if (!p) {
            rc = ddsp_error("out of memory listing %s", dir);
            break;
        }
        snprintf(p, len, "%s/%s", dir, names.v[i]);
        struct stat st;
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode)) rc = walk(p, out, depth + 1);
            else if (S_ISREG(st.st_mode) && audio_extension(names.v[i])) rc = strlist_add(out, p);
        }
        free(p);
    }
    strlist_free(&names);
    return rc;
}

/* Named files are taken as they are (any extension); folders are searched. A missing path
 * stays in the list: reading it reports it like any other bad input. */
static int expand_inputs(const char *const *inputs, int n, strlist *out) {
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(inputs[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            size_t len = strlen(inputs[i]);
            char *dir = strdup(inputs[i]);
            if (!dir) return ddsp_error("out of memory");
            while (len > 1 && dir[len - 1] == '/') dir[--len] = '\0';
            int rc = walk(dir, out, 0);
            free(dir);
            if (rc) return rc;
        } else if (strlist_add(out, inputs[i])) {
            return DDSP_ERR;
        }
    }
    return DDSP_OK;
}

/* ------------------------------------------------------------------ the example table */
enum {
    ST_NONE = DDSP_FILE_UNSEEN,
    ST_OK = DDSP_FILE_OK,
    ST_SHORT = DDSP_FILE_SHORT,
    ST_BAD = DDSP_FILE_BAD
};

typedef struct {
    long T, H;       /* example length and hop, samples */
    int64_t n_files; /* expanded inputs */
    int64_t *nsamp;  /* (n_files) samples at the model rate, from phase 1 */
    int32_t *status; /* (n_files) ST_* */
    int64_t *first;  /* (n_files) index of the file's first example */
    int64_t E;       /* total examples */
    int64_t n_valid, n_dropped;
} table;

static int64_t n_windows(int64_t n, long T, long H) {
    return n < T ? 0 : (n - T) / H + 1;
}

/* Per file: windows w = 0 .. nw-1 start at w*H; the last nv are validation; train windows
 * must end at or before the first validation window starts. Calls emit(example, file,
 * offset, split) for each kept window in order when emit is non-NULL. */
static int64_t file_examples(const table *t, const ddsp_prepare_config *c, int64_t f,
                             int64_t *nvalid, int64_t *ndropped) {
    const int64_t nw = n_windows(t->nsamp[f], t->T, t->H);
    int64_t nv = (int64_t)floor(c->valid_fraction * (double)nw + 0.5);
    if (nv >= nw) nv = nw > 1 ? nw - 1 : 0;
    const int64_t bstart = (nw - nv) * t->H; /* first validation sample */
    int64_t ntrain = 0;
    for (int64_t w = 0; w < nw - nv; w++)
        if (nv == 0 || w * t->H + t->T <= bstart) ntrain++;
    *nvalid = nv;
    *ndropped = nw - nv - ntrain;
    return ntrain + nv;
}

/* The kept windows of file f: offsets (n) and split flags (n). */
static void file_windows(const table *t, const ddsp_prepare_config *c, int64_t f,
                         int64_t *offset, int8_t *split) {
    const int64_t nw = n_windows(t->nsamp[f], t->T, t->H);
    int64_t nv, nd;
    file_examples(t, c, f, &nv, &nd);
    const int64_t bstart = (nw - nv) * t->H;
    int64_t k = 0;
    for (int64_t w = 0; w < nw; w++) {
        const int64_t s = w * t->H;
        const int valid = w >= nw - nv;
        if (!valid && nv > 0 && s + t->T > bstart) continue;
        offset[k] = s;
        split[k] = (int8_t)valid;
        k++;
    }
}

/* ------------------------------------------------------------------ HDF5 output */
typedef struct {
    hid_t file, audio, f0, conf, ld;
} out_t;

static hid_t create_2d(hid_t file, const char *name, hsize_t rows, hsize_t cols) {
    hsize_t dims[2] = {rows, cols}, chunk[2] = {1, cols};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t ds = H5I_INVALID_HID;
    if (space >= 0 && dcpl >= 0 && (rows == 0 || H5Pset_chunk(dcpl, 2, chunk) >= 0))
        ds = H5Dcreate2(file, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    return ds;
}

static int write_row(hid_t ds, int64_t row, const float *v, hsize_t cols) {
    hsize_t start[2] = {(hsize_t)row, 0}, count[2] = {1, cols};
    hid_t fs = H5Dget_space(ds);
    hid_t ms = H5Screate_simple(1, &cols, NULL);
    int ok = fs >= 0 && ms >= 0 &&
             H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, v) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return ok ? DDSP_OK : DDSP_ERR;
}

/* Small per-example and per-file tables: rank 0 writes the data; creation is collective. */
static hid_t create_1d(hid_t file, const char *name, hid_t type, hsize_t n) {
    hid_t space = H5Screate_simple(1, &n, NULL);
    hid_t ds = space >= 0 ? H5Dcreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT,
                                       H5P_DEFAULT)
                          : H5I_INVALID_HID;
    if (space >= 0) H5Sclose(space);
    return ds;
}

static int root_attrs(hid_t f, const ddsp_prepare_config *c, const table *t, int64_t F,
                      const ddsp_f0_config *f0c, const ddsp_loudness_config *ldc) {
    int rc = 0;
    rc |= ddsp_h5_attr_str(f, "format", DDSP_DATASET_FORMAT);
    rc |= ddsp_h5_attr_i64(f, "format_version", DDSP_DATASET_VERSION);
    rc |= ddsp_h5_attr_str(f, "ddsp_version", DDSP_VERSION);
    rc |= ddsp_h5_attr_i64(f, "sample_rate", c->sample_rate);
    rc |= ddsp_h5_attr_i64(f, "frame_rate", c->frame_rate);
    rc |= ddsp_h5_attr_i64(f, "hop", c->sample_rate / c->frame_rate);
    rc |= ddsp_h5_attr_f64(f, "example_secs", c->example_secs);
    rc |= ddsp_h5_attr_f64(f, "hop_secs", c->hop_secs);
    rc |= ddsp_h5_attr_i64(f, "example_samples", t->T);
    rc |= ddsp_h5_attr_i64(f, "example_frames", F);
    rc |= ddsp_h5_attr_f64(f, "valid_fraction", c->valid_fraction);
    rc |= ddsp_h5_attr_i64(f, "n_examples", t->E);
    rc |= ddsp_h5_attr_i64(f, "n_train", t->E - t->n_valid);
    rc |= ddsp_h5_attr_i64(f, "n_valid", t->n_valid);
    rc |= ddsp_h5_attr_str(f, "f0_tracker", "pyin");
    rc |= ddsp_h5_attr_f64(f, "f0_fmin", f0c->fmin);
    rc |= ddsp_h5_attr_f64(f, "f0_fmax", f0c->fmax);
    rc |= ddsp_h5_attr_i64(f, "loudness_n_fft", ldc->n_fft);
    rc |= ddsp_h5_attr_f64(f, "loudness_range_db", ldc->range_db);
    rc |= ddsp_h5_attr_f64(f, "loudness_ref_db", ldc->ref_db);
    rc |= ddsp_h5_attr_str(f, "loudness_weighting", "A (librosa.A_weighting, min -80 dB)");
    rc |= ddsp_h5_attr_str(f, "split_rule",
                           "per file: last round(valid_fraction*windows) windows are "
                           "validation; train windows end before them");
    return rc ? DDSP_ERR : DDSP_OK;
}

static int write_tables(hid_t f, const table *t, const ddsp_prepare_config *c,
                        const strlist *files, int rank) {
    /* create collectively */
    size_t maxlen = 1;
    for (int i = 0; i < files->n; i++)
        if (strlen(files->v[i]) + 1 > maxlen) maxlen = strlen(files->v[i]) + 1;
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, maxlen);
    H5Tset_strpad(st, H5T_STR_NULLTERM);
    hid_t d_split = create_1d(f, "split", H5T_STD_I8LE, (hsize_t)t->E);
    hid_t d_src = create_1d(f, "source_file", H5T_STD_I32LE, (hsize_t)t->E);
    hid_t d_off = create_1d(f, "source_offset", H5T_STD_I64LE, (hsize_t)t->E);
    hid_t d_files = create_1d(f, "files", st, (hsize_t)files->n);
    hid_t d_secs = create_1d(f, "file_seconds", H5T_IEEE_F64LE, (hsize_t)files->n);
    hid_t d_stat = create_1d(f, "file_status", H5T_STD_I32LE, (hsize_t)files->n);
    int rc = (d_split < 0 || d_src < 0 || d_off < 0 || d_files < 0 || d_secs < 0 || d_stat < 0)
                 ? DDSP_ERR : DDSP_OK;
    if (rc == DDSP_OK && rank == 0) {
        int8_t *split = malloc((size_t)t->E + 1);
        int32_t *src = malloc(sizeof(int32_t) * ((size_t)t->E + 1));
        int64_t *off = malloc(sizeof(int64_t) * ((size_t)t->E + 1));
        char *names = calloc((size_t)files->n + 1, maxlen);
        double *secs = malloc(sizeof(double) * ((size_t)files->n + 1));
        if (!split || !src || !off || !names || !secs) rc = ddsp_error("out of memory");
        for (int64_t i = 0; rc == DDSP_OK && i < t->n_files; i++) {
            memcpy(names + (size_t)i * maxlen, files->v[i], strlen(files->v[i]) + 1);
            secs[i] = (double)t->nsamp[i] / c->sample_rate;
            if (t->status[i] != ST_OK) continue;
            int64_t nv, nd, ne = file_examples(t, c, i, &nv, &nd);
            file_windows(t, c, i, off + t->first[i], split + t->first[i]);
            for (int64_t k = 0; k < ne; k++) src[t->first[i] + k] = (int32_t)i;
        }
        if (rc == DDSP_OK &&
            ((t->E && (H5Dwrite(d_split, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, split) < 0 ||
                       H5Dwrite(d_src, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, src) < 0 ||
                       H5Dwrite(d_off, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, off) < 0)) ||
             (files->n && (H5Dwrite(d_files, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) < 0 ||
                           H5Dwrite(d_secs, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, secs) < 0 ||
                           H5Dwrite(d_stat, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->status) < 0))))
            rc = DDSP_ERR;
        free(split), free(src), free(off), free(names), free(secs);
    }
    if (d_split >= 0) H5Dclose(d_split);
    if (d_src >= 0) H5Dclose(d_src);
    if (d_off >= 0) H5Dclose(d_off);
    if (d_files >= 0) H5Dclose(d_files);
    if (d_secs >= 0) H5Dclose(d_secs);
    if (d_stat >= 0) H5Dclose(d_stat);
    H5Tclose(st);
    if (rc && !ddsp_last_error()[0]) ddsp_error("cannot write the example tables");
    return rc;
}

/* Features of one whole file, then its examples' rows. */
static int process_file(const table *t, const ddsp_prepare_config *c, int64_t fi,
                        const char *path, const ddsp_f0_config *f0c,
                        const ddsp_loudness_config *ldc, const out_t *o, int64_t F) {
    ddsp_audio a;
    int rc = DDSP_ERR;
    float *f0 = NULL, *conf = NULL, *ld = NULL;
    int64_t *off = NULL;
    int8_t *split = NULL;
    if (ddsp_audio_load(path, c->sample_rate, &a)) return DDSP_ERR;
    if ((int64_t)a.n != t->nsamp[fi]) {
        ddsp_error("%s: changed while being read (%zu samples, expected %lld)", path, a.n,
                   (long long)t->nsamp[fi]);
        goto cleanup;
    }
    const size_t nf = ddsp_feature_frames(a.n, f0c->hop);
    f0 = ddsp_alloc(sizeof(float) * nf);
    conf = ddsp_alloc(sizeof(float) * nf);
    ld = ddsp_alloc(sizeof(float) * nf);
    int64_t nv, nd, ne = file_examples(t, c, fi, &nv, &nd);
    off = ddsp_alloc(sizeof(int64_t) * (size_t)(ne + 1));
    split = ddsp_alloc((size_t)ne + 1);
    if (!f0 || !conf || !ld || !off || !split) {
        ddsp_error("%s: out of memory for features", path);
        goto cleanup;
    }
    if (ddsp_f0_track(f0c, a.x, a.n, f0, conf) || ddsp_loudness(ldc, a.x, a.n, ld)) {
        char why[256];
        snprintf(why, sizeof why, "%s", ddsp_last_error());
        ddsp_error("%s: %s", path, why);
        goto cleanup;
    }
    file_windows(t, c, fi, off, split);
    for (int64_t k = 0; k < ne; k++) {
        const int64_t row = t->first[fi] + k, fr = off[k] / f0c->hop;
        if (write_row(o->audio, row, a.x + off[k], (hsize_t)t->T) ||
            write_row(o->f0, row, f0 + fr, (hsize_t)F) ||
            write_row(o->conf, row, conf + fr, (hsize_t)F) ||
            write_row(o->ld, row, ld + fr, (hsize_t)F)) {
            ddsp_error("%s: cannot write example %lld to the output", path, (long long)row);
            goto cleanup;
        }
    }
    rc = DDSP_OK;
cleanup:
    ddsp_audio_free(&a);
    ddsp_free(f0), ddsp_free(conf), ddsp_free(ld), ddsp_free(off), ddsp_free(split);
    return rc;
}


/* The output's folder must exist and take new files: checked before hours of feature
 * extraction, with a message that says which (HDF5 would report "Bad file descriptor"). */
static int out_folder_check(const char *out_path) {
    char dir[PATH_MAX];
    const char *slash = strrchr(out_path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == out_path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - out_path) >= sizeof dir)
        return ddsp_error("%s: path too long", out_path);
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - out_path), out_path);
    struct stat st;
    if (stat(dir, &st) != 0)
        return ddsp_error("%s: no such folder %s (create it first)", out_path, dir);
    if (!S_ISDIR(st.st_mode)) return ddsp_error("%s: %s is not a folder", out_path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return ddsp_error("%s: cannot write in folder %s (%s)", out_path, dir, strerror(errno));
    if (stat(out_path, &st) == 0 && S_ISDIR(st.st_mode))
        return ddsp_error("%s: is a folder (--out names the dataset file to write)", out_path);
    return DDSP_OK;
}

int ddsp_prepare(const ddsp_prepare_config *c, const char *const *inputs, int n_inputs,
                 const char *out_path, const ddsp_dist *d, ddsp_prepare_stats *stats) {
    const int rank = d->rank, size = d->size;
    memset(stats, 0, sizeof *stats);
    if (ddsp_prepare_config_check(c)) return DDSP_ERR;
    const int hop = c->sample_rate / c->frame_rate;
    ddsp_f0_config f0c = c->f0;
    f0c.sample_rate = c->sample_rate, f0c.hop = hop;
    ddsp_loudness_config ldc = c->loudness;
    ldc.sample_rate = c->sample_rate, ldc.hop = hop;

    struct stat st;
    if (!c->force && stat(out_path, &st) == 0)
        return ddsp_error("%s: already exists (use --force to replace it)", out_path);
    if (out_folder_check(out_path)) return DDSP_ERR;

    strlist files = {0};
    table t = {0};
    out_t o = {-1, -1, -1, -1, -1};
    char *tmp = NULL;
    int rc = DDSP_ERR, fail = 0;
    t.T = secs_to_samples(c->example_secs, c->sample_rate, hop);
    t.H = secs_to_samples(c->hop_secs, c->sample_rate, hop);
    const int64_t F = t.T / hop;

    if (expand_inputs(inputs, n_inputs, &files)) goto cleanup;
    if (files.n == 0) {
        ddsp_error("no audio files found in the inputs");
        goto cleanup;
    }
    t.n_files = files.n;
    t.nsamp = calloc((size_t)files.n, sizeof(int64_t));
    t.status = calloc((size_t)files.n, sizeof(int32_t));
    t.first = calloc((size_t)files.n, sizeof(int64_t));
    if (!t.nsamp || !t.status || !t.first) {
        ddsp_error("out of memory");
        goto cleanup;
    }

    /* 1. validate and measure this rank's files */
    const double t0 = ddsp_now();
    char first_err[512] = "";
    for (int i = rank; i < files.n; i += size) {
        ddsp_audio a;
        if (ddsp_audio_load(files.v[i], c->sample_rate, &a)) {
            t.status[i] = ST_BAD;
            if (!c->strict) ddsp_log("skipping %s", ddsp_last_error());
            if (!first_err[0]) snprintf(first_err, sizeof first_err, "%s", ddsp_last_error());
            continue;
        }
        t.nsamp[i] = (int64_t)a.n;
        t.status[i] = (int64_t)a.n >= t.T ? ST_OK : ST_SHORT;
        if (t.status[i] == ST_SHORT) {
            if (!c->strict)
                ddsp_log("skipping %s: %.3f s is shorter than one %.3g s example", files.v[i],
                     (double)a.n / c->sample_rate, c->example_secs);
            if (!first_err[0])
                snprintf(first_err, sizeof first_err, "%s: %.3f s is shorter than one %.3g s example",
                         files.v[i], (double)a.n / c->sample_rate, c->example_secs);
        }
        ddsp_audio_free(&a);
    }
    if (ddsp_dist_max_i64(d, t.nsamp, (size_t)files.n) ||
        ddsp_dist_max_i32(d, t.status, (size_t)files.n))
        goto cleanup;
    for (int i = 0; i < files.n; i++) {
        stats->files_ok += t.status[i] == ST_OK;
        stats->files_bad += t.status[i] == ST_BAD;
        stats->files_short += t.status[i] == ST_SHORT;
        stats->seconds_in += (double)t.nsamp[i] / c->sample_rate;
    }
    if (c->strict && stats->files_bad + stats->files_short > 0) {
        /* the message of the first bad file in input order, known to the rank that read it */
        int bad = 0;
        while (t.status[bad] == ST_OK) bad++;
        char msg[512];
        snprintf(msg, sizeof msg, "%s", first_err);
        if (ddsp_dist_bcast(d, msg, sizeof msg, bad % size)) goto cleanup;
        ddsp_error("%s (--strict)", msg);
        goto cleanup;
    }
    for (int64_t i = 0; i < t.n_files; i++) {
        t.first[i] = t.E;
        if (t.status[i] != ST_OK) continue;
        int64_t nv, nd;
        t.E += file_examples(&t, c, i, &nv, &nd);
        t.n_valid += nv;
        t.n_dropped += nd;
    }
    stats->n_train = t.E - t.n_valid;
    stats->n_valid = t.n_valid;
    stats->n_dropped = t.n_dropped;
    if (t.E == 0) {
        ddsp_error("no examples: none of the %d input file(s) is a readable recording of at "
                   "least %g s", files.n, c->example_secs);
        goto cleanup;
    }
    if (rank == 0)
        ddsp_log("prepare: %lld file(s), %.1f s of audio -> %lld train + %lld validation examples "
                 "(%lld straddling the split dropped); %d rank(s)",
                 (long long)stats->files_ok, stats->seconds_in, (long long)stats->n_train,
                 (long long)stats->n_valid, (long long)t.n_dropped, size);
    if (rank == 0 && stats->n_train == 0)
        ddsp_log("warning: no training examples (--valid-fraction %g leaves none): this dataset "
                 "can be evaluated on (ddsp eval --split valid), not trained on",
                 c->valid_fraction);

    /* 2. create the output collectively under rank 0's temporary name, write rows */
    tmp = calloc(1, PATH_MAX);
    if (!tmp) {
        ddsp_error("out of memory");
        goto cleanup;
    }
    fail = rank == 0 && ddsp_tmp_name(tmp, PATH_MAX, out_path) != DDSP_OK;
    if (ddsp_dist_any(d, fail) || ddsp_dist_bcast(d, tmp, PATH_MAX, 0)) {
        if (!fail) ddsp_error("%s: rank 0 could not name its temporary file", out_path);
        free(tmp);
        tmp = NULL;
        goto cleanup;
    }
    if (rank == 0) {
        ddsp_tmp_sweep(out_path); /* leftovers of killed jobs, never a live job's file */
        ddsp_tmp_track(tmp);
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* parallel HDF5 over the group's communicator; a group of one without MPI writes alone */
    if (fapl < 0 || ddsp_dist_h5_parallel(d, fapl)) {
        if (fapl >= 0) H5Pclose(fapl);
        ddsp_error("%s: cannot set up parallel HDF5 access", tmp);
        goto cleanup;
    }
    o.file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (ddsp_dist_any(d, o.file < 0)) {
        ddsp_error("%s: cannot create the output file (%s)", tmp, strerror(errno));
        goto cleanup;
    }
    o.audio = create_2d(o.file, "audio", (hsize_t)t.E, (hsize_t)t.T);
    o.f0 = create_2d(o.file, "f0_hz", (hsize_t)t.E, (hsize_t)F);
    o.conf = create_2d(o.file, "f0_confidence", (hsize_t)t.E, (hsize_t)F);
    o.ld = create_2d(o.file, "loudness_db", (hsize_t)t.E, (hsize_t)F);
    fail = o.audio < 0 || o.f0 < 0 || o.conf < 0 || o.ld < 0 ||
           root_attrs(o.file, c, &t, F, &f0c, &ldc) || write_tables(o.file, &t, c, &files, rank);
    if (ddsp_dist_any(d, fail)) {
        ddsp_error("%s: cannot create the datasets", tmp);
        goto cleanup;
    }
    int64_t done = 0, mine = 0;
    double last = ddsp_now();
    for (int i = rank; i < files.n; i += size) mine += t.status[i] == ST_OK;
    for (int i = rank; i < files.n && !fail; i += size) {
        if (t.status[i] != ST_OK) continue;
        if (process_file(&t, c, i, files.v[i], &f0c, &ldc, &o, F)) {
            fail = 1;
            break;
        }
        done++;
        if (rank == 0 && (ddsp_now() - last > 2.0 || done == mine)) {
            last = ddsp_now();
            ddsp_log("prepare: rank 0 %lld/%lld files, %.1f s elapsed", (long long)done,
                     (long long)mine, last - t0);
        }
    }
    if (fail) ddsp_log("error: %s", ddsp_last_error());
    if (ddsp_dist_any(d, fail)) {
        if (!fail) ddsp_error("another rank failed writing %s", tmp);
        goto cleanup;
    }
    rc = DDSP_OK;

cleanup:
    if (o.audio >= 0) H5Dclose(o.audio);
    if (o.f0 >= 0) H5Dclose(o.f0);
    if (o.conf >= 0) H5Dclose(o.conf);
    if (o.ld >= 0) H5Dclose(o.ld);
    if (o.file >= 0 && H5Fclose(o.file) < 0 && rc == DDSP_OK)
        rc = ddsp_error("%s: cannot close the output file", tmp);
    rc = ddsp_dist_any(d, rc != DDSP_OK) ? DDSP_ERR : DDSP_OK;
    if (tmp && rank == 0) {
        if (rc == DDSP_OK) {
            rc = ddsp_tmp_publish(tmp, out_path, c->force);
        } else {
            unlink(tmp);
            ddsp_tmp_forget(tmp);
        }
    }
    if (tmp && ddsp_dist_bcast(d, &rc, sizeof rc, 0)) rc = DDSP_ERR;
    free(tmp);
    free(t.nsamp), free(t.status), free(t.first);
    strlist_free(&files);
    return rc;
}
