/* Reading a prepared dataset (see ddsp/data.h): validation on open, one example per read
 * (one chunk per example, so a rank touches only the examples of its shard). */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ddsp/data.h"
#include "ddsp/util.h"

/* dataset `name` must be float, 2-D (rows, cols); cols == want_cols unless want_cols < 0 */
static int check_2d(hid_t f, const char *path, const char *name, int64_t rows, int64_t *cols) {
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
        return ddsp_error("%s: missing dataset '/%s' (not a complete ddsp dataset)", path, name);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) return ddsp_error("%s: '/%s' is not a dataset", path, name);
    hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds);
    hsize_t d[2] = {0, 0};
    int rc = DDSP_OK;
    int nd = H5Sget_simple_extent_ndims(sp);
    if (H5Tget_class(t) != H5T_FLOAT) rc = ddsp_error("%s: '/%s' is not floating point", path, name);
    else if (nd != 2) rc = ddsp_error("%s: '/%s' has %d dimensions, expected 2", path, name, nd);
    else {
        H5Sget_simple_extent_dims(sp, d, NULL);
        if ((int64_t)d[0] != rows)
            rc = ddsp_error("%s: '/%s' has %llu rows, expected %lld examples", path, name,
                            (unsigned long long)d[0], (long long)rows);
        else if (*cols >= 0 && (int64_t)d[1] != *cols)
            rc = ddsp_error("%s: '/%s' has %llu columns, expected %lld", path, name,
                            (unsigned long long)d[1], (long long)*cols);
        else
            *cols = (int64_t)d[1];
    }
    H5Sclose(sp);
    H5Tclose(t);
    H5Dclose(ds);
    return rc;
}

int ddsp_dataset_open(const char *path, ddsp_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    ds->file = -1;
    ddsp_h5_quiet();
    struct stat st;
    if (stat(path, &st) != 0) return ddsp_error("%s: no such file", path);
    if (S_ISDIR(st.st_mode))
        return ddsp_error("%s: is a folder, not a dataset file (make one with `ddsp prepare "
                          "%s --out DATASET.h5`)", path, path);
    if (H5Fis_hdf5(path) <= 0) {
        FILE *fp = fopen(path, "rb");
        if (!fp) return ddsp_error("%s: cannot open (%s)", path, strerror(errno));
        fclose(fp);
        return ddsp_error("%s: not an HDF5 file (make one with `ddsp prepare`)", path);
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot open as HDF5", path);
    ds->file = f;
    ds->path = strdup(path);
    char fmt[64];
    int64_t ver = 0, sr = 0, hop = 0;
    int8_t *split = NULL;
    int rc = DDSP_ERR;
    if (ddsp_h5_attr_get_str(f, "format", fmt, sizeof fmt) || strcmp(fmt, DDSP_DATASET_FORMAT)) {
        ddsp_error("%s: not a ddsp dataset (attribute format is '%s', expected '%s')", path,
                   fmt[0] ? fmt : "missing", DDSP_DATASET_FORMAT);
        goto cleanup;
    }
    if (ddsp_h5_attr_get_i64(f, "format_version", &ver) || ver != DDSP_DATASET_VERSION) {
        ddsp_error("%s: dataset format version %lld, this ddsp reads version %d (re-run "
                   "`ddsp prepare`)", path, (long long)ver, DDSP_DATASET_VERSION);
        goto cleanup;
    }
    if (ddsp_h5_attr_get_i64(f, "sample_rate", &sr) || ddsp_h5_attr_get_i64(f, "hop", &hop) ||
        sr <= 0 || hop <= 0) {
        ddsp_error("%s: bad or missing sample_rate/hop attributes", path);
        goto cleanup;
    }
    ds->sample_rate = (int)sr, ds->hop = (int)hop;
    /* rows from /split, then every per-example dataset must agree */
    if (H5Lexists(f, "split", H5P_DEFAULT) <= 0) {
        ddsp_error("%s: missing dataset '/split'", path);
        goto cleanup;
    }
    hid_t d = H5Dopen2(f, "split", H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t n = 0;
    if (sp < 0 || H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, &n, NULL) < 0) {
        if (sp >= 0) H5Sclose(sp);
        if (d >= 0) H5Dclose(d);
        ddsp_error("%s: '/split' is not a 1-D dataset", path);
        goto cleanup;
    }
    ds->n_examples = (int64_t)n;
    split = malloc(n + 1);
    int rd = split ? H5Dread(d, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, split) : -1;
    H5Sclose(sp);
    H5Dclose(d);
    if (rd < 0) {
        ddsp_error("%s: cannot read '/split'", path);
        goto cleanup;
    }
    ds->T = -1, ds->F = -1;
    int64_t F2 = -1, F3 = -1;
    if (check_2d(f, path, "audio", ds->n_examples, &ds->T) ||
        check_2d(f, path, "f0_hz", ds->n_examples, &ds->F) ||
        check_2d(f, path, "loudness_db", ds->n_examples, &F2) ||
        check_2d(f, path, "f0_confidence", ds->n_examples, &F3))
        goto cleanup;
    if (ds->T < 1 || ds->F < 1) {
        ddsp_error("%s: its examples hold %lld samples and %lld feature frames (re-run `ddsp "
                   "prepare`)", path, (long long)ds->T, (long long)ds->F);
        goto cleanup;
    }
    if (ds->T > ((int64_t)1 << 31)) {
        ddsp_error("%s: examples of %lld samples (at most 2^31 are supported)", path,
                   (long long)ds->T);
        goto cleanup;
    }
    if (F2 != ds->F || F3 != ds->F || ds->F * hop != ds->T) {
        ddsp_error("%s: feature frames (%lld, %lld, %lld) x hop %lld do not match %lld samples",
                   path, (long long)ds->F, (long long)F2, (long long)F3, (long long)hop,
                   (long long)ds->T);
        goto cleanup;
    }
    ds->train = malloc(sizeof(int64_t) * (n + 1));
    ds->valid = malloc(sizeof(int64_t) * (n + 1));
    if (!ds->train || !ds->valid) {
        ddsp_error("%s: out of memory", path);
        goto cleanup;
    }
    for (hsize_t i = 0; i < n; i++) {
        if (split[i] == 0) ds->train[ds->n_train++] = (int64_t)i;
        else if (split[i] == 1) ds->valid[ds->n_valid++] = (int64_t)i;
        else {
            ddsp_error("%s: '/split' holds %d at row %llu (expected 0 or 1)", path, split[i],
                       (unsigned long long)i);
            goto cleanup;
        }
    }
    rc = DDSP_OK;
cleanup:
    free(split);
    if (rc != DDSP_OK) ddsp_dataset_close(ds);
    return rc;
}

static int read_row(const ddsp_dataset *ds, const char *name, int64_t row, float *out,
                    int64_t cols) {
    hid_t d = H5Dopen2((hid_t)ds->file, name, H5P_DEFAULT);
    hid_t fs = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t start[2] = {(hsize_t)row, 0}, count[2] = {1, (hsize_t)cols}, c1 = (hsize_t)cols;
    hid_t ms = H5Screate_simple(1, &c1, NULL);
    int ok = d >= 0 && fs >= 0 && ms >= 0 &&
             H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (d >= 0) H5Dclose(d);
    if (!ok)
        return ddsp_error("%s: cannot read example %lld of '/%s'", ds->path, (long long)row, name);
    for (int64_t i = 0; i < cols; i++)
        if (!isfinite(out[i]))
            return ddsp_error("%s: example %lld of '/%s' holds a non-finite value at %lld",
                              ds->path, (long long)row, name, (long long)i);
    return DDSP_OK;
}

int ddsp_dataset_read(const ddsp_dataset *ds, int64_t i, float *audio, float *f0_hz,
                      float *loudness_db) {
    if (i < 0 || i >= ds->n_examples)
        return ddsp_error("%s: example %lld out of range (%lld examples)", ds->path,
                          (long long)i, (long long)ds->n_examples);
    if (audio && read_row(ds, "audio", i, audio, ds->T)) return DDSP_ERR;
    if (f0_hz && read_row(ds, "f0_hz", i, f0_hz, ds->F)) return DDSP_ERR;
    if (loudness_db && read_row(ds, "loudness_db", i, loudness_db, ds->F)) return DDSP_ERR;
    return DDSP_OK;
}

int ddsp_dataset_read_confidence(const ddsp_dataset *ds, int64_t i, float *conf) {
    if (i < 0 || i >= ds->n_examples)
        return ddsp_error("%s: example %lld out of range (%lld examples)", ds->path,
                          (long long)i, (long long)ds->n_examples);
    return read_row(ds, "f0_confidence", i, conf, ds->F);
}

void ddsp_dataset_close(ddsp_dataset *ds) {
    if (!ds) return;
    if (ds->file >= 0) H5Fclose((hid_t)ds->file);
    free(ds->path);
    free(ds->train);
    free(ds->valid);
    memset(ds, 0, sizeof *ds);
    ds->file = -1;
}

/* f0 / loudness settings the dataset was prepared with (root attributes; defaults if absent). */
void ddsp_dataset_feature_config(const ddsp_dataset *ds, ddsp_f0_config *fc, ddsp_loudness_config *lc) {
    ddsp_f0_config_default(fc);
    ddsp_loudness_config_default(lc);
    fc->sample_rate = lc->sample_rate = ds->sample_rate;
    fc->hop = lc->hop = ds->hop;
    double v;
    int64_t n;
    if (ddsp_h5_attr_get_f64(ds->file, "f0_fmin", &v) == DDSP_OK) fc->fmin = v;
    if (ddsp_h5_attr_get_f64(ds->file, "f0_fmax", &v) == DDSP_OK) fc->fmax = v;
    if (ddsp_h5_attr_get_i64(ds->file, "loudness_n_fft", &n) == DDSP_OK) lc->n_fft = (int)n;
    if (ddsp_h5_attr_get_f64(ds->file, "loudness_range_db", &v) == DDSP_OK) lc->range_db = v;
    if (ddsp_h5_attr_get_f64(ds->file, "loudness_ref_db", &v) == DDSP_OK) lc->ref_db = v;
}

int ddsp_dataset_select(const ddsp_dataset *ds, const char *split, int64_t **rows, size_t *n) {
    const int want_v = strcmp(split, "train") != 0, want_t = strcmp(split, "valid") != 0;
    *n = 0;
    if (!(*rows = malloc(sizeof(int64_t) * (size_t)(ds->n_examples ? ds->n_examples : 1))))
        return ddsp_error("out of memory");
    int64_t it = 0, iv = 0, *sel = *rows;
    /* both lists are ascending: merge them so rows come in file order */
    while ((want_t && it < ds->n_train) || (want_v && iv < ds->n_valid)) {
        const int64_t t = want_t && it < ds->n_train ? ds->train[it] : INT64_MAX;
        const int64_t v = want_v && iv < ds->n_valid ? ds->valid[iv] : INT64_MAX;
        if (t < v)
            sel[(*n)++] = t, it++;
        else
            sel[(*n)++] = v, iv++;
    }
    return DDSP_OK;
}
