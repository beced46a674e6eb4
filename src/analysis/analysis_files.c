/* The files of the analysis tools, each written and read here only: `ddsp landscape`'s
 * (format "ddsp-landscape") and `ddsp jacobian`'s (format "ddsp-jacobian"), and the
 * controls file `ddsp jacobian --controls` reads. Readers check format and version. */
#include "ddsp/analysis.h"
#include "ddsp/formats.h"
#include "ddsp/util.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- landscape */
int ddsp_landscape_write(const char *path, const ddsp_landscape_config *c,
                         const ddsp_landscape *l) {
    char tmp[PATH_MAX];
    if (ddsp_tmp_name(tmp, sizeof tmp, path)) return DDSP_ERR;
    ddsp_h5_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot create HDF5 file (%s)", path, strerror(errno));
    ddsp_tmp_track(tmp);
    int rc = DDSP_ERR;
    hid_t g = H5I_INVALID_HID;
    const int n = l->grid, n2 = l->n_vary == 2 ? n : 1, total = n * n2;
    char names[64] = "";
    for (int a = 0; a < l->n_vary; a++) {
        strcat(names, a ? "," : "");
        strcat(names, ddsp_sound_param_name(c->vary[a]));
    }
    if (ddsp_h5_attr_str(f, "format", DDSP_LANDSCAPE_FORMAT) ||
        ddsp_h5_attr_i64(f, "format_version", DDSP_LANDSCAPE_VERSION) ||
        ddsp_h5_attr_str(f, "ddsp_version", DDSP_VERSION) ||
        ddsp_h5_attr_str(f, "sound", ddsp_sound_kind_name(c->target.kind)) ||
        ddsp_h5_attr_str(f, "vary", names) || ddsp_h5_attr_i64(f, "grid", n) ||
        ddsp_h5_attr_i64(f, "n_samples", (int64_t)c->target.N) ||
        ddsp_h5_attr_i64(f, "sample_rate", c->target.sample_rate))
        goto done;
    for (int i = 0; i < DDSP_SP_N; i++) {
        char an[64];
        snprintf(an, sizeof an, "target_%s", ddsp_sound_param_name(i));
        if (ddsp_h5_attr_f64(f, an, c->target.p[i])) goto done;
    }
    g = H5Gcreate2(f, "grid", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) goto done;
    for (int a = 0; a < l->n_vary; a++) {
        uint64_t d1[1] = {(uint64_t)n};
        if (ddsp_h5_write_f64(g, ddsp_sound_param_name(c->vary[a]), l->axis[a], 1, d1))
            goto done;
    }
    for (int k = 0; k < l->n_phi; k++) {
        char name[32];
        uint64_t dl[3] = {(uint64_t)n, (uint64_t)n2, 0}, dg[3] = {(uint64_t)l->n_vary,
                                                                    (uint64_t)n, (uint64_t)n2};
        snprintf(name, sizeof name, "loss_%d", k);
        if (ddsp_h5_write_f64(f, name, l->loss + (size_t)k * total, l->n_vary, dl)) goto done;
        hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
        if (ds < 0) goto done;
        int bad = ddsp_h5_attr_str(ds, "phi", c->phi[k]) ||
                  ddsp_h5_attr_f64(ds, "distance_to_silence", l->silence[k]) ||
                  ddsp_h5_attr_f64(ds, "basin_share", l->basin[k]) ||
                  ddsp_h5_attr_i64(ds, "argmin", l->argmin[k]);
        H5Dclose(ds);
        if (bad) goto done;
        snprintf(name, sizeof name, "grad_%d", k);
        if (ddsp_h5_write_f64(f, name, l->grad + (size_t)k * l->n_vary * total, l->n_vary + 1,
                              dg))
            goto done;
    }
    rc = DDSP_OK;
done:
    if (g >= 0) H5Gclose(g);
    if (H5Fclose(f) < 0 && rc == DDSP_OK) rc = ddsp_error("%s: error closing HDF5 file", path);
    if (rc == DDSP_OK) return ddsp_tmp_publish(tmp, path, 1);
    unlink(tmp);
    ddsp_tmp_forget(tmp);
    return rc;
}

int ddsp_landscape_read(const char *path, ddsp_landscape_file *o) {
    memset(o, 0, sizeof *o);
    const hid_t f = (hid_t)ddsp_h5_open_format(path, DDSP_LANDSCAPE_FORMAT, DDSP_LANDSCAPE_VERSION, NULL);
    if (f < 0) return DDSP_ERR;
    uint64_t d[8];
    int r, rc = DDSP_ERR;
    if (ddsp_h5_attr_get_str(f, "vary", o->vary, sizeof o->vary) ||
        ddsp_h5_attr_get_str(f, "sound", o->sound, sizeof o->sound)) {
        ddsp_error("%s: %s", path, ddsp_last_error());
        goto done;
    }
    o->n_vary = sscanf(o->vary, "%31[^,],%31s", o->names[0], o->names[1]);
    if (o->n_vary < 1) {
        ddsp_error("%s: bad vary attribute '%s'", path, o->vary);
        goto done;
    }
    o->grid[1] = 1;
    for (int a = 0; a < o->n_vary; a++) {
        char ds[64];
        snprintf(ds, sizeof ds, "grid/%s", o->names[a]);
        if (!ddsp_h5_exists(f, ds) || ddsp_h5_read_f64(f, path, ds, &o->axis[a], d, &r) || r != 1 || d[0] < 3) {
            ddsp_error("%s: bad or missing %s", path, ds);
            goto done;
        }
        o->grid[a] = (int)d[0];
    }
    for (o->n_phi = 0; o->n_phi < DDSP_LANDSCAPE_MAX_PHI; o->n_phi++) {
        const int k = o->n_phi;
        char ds[32];
        snprintf(ds, sizeof ds, "loss_%d", k);
        if (!ddsp_h5_exists(f, ds)) break;
        if (ddsp_h5_read_f64(f, path, ds, &o->loss[k], d, &r) || r != o->n_vary ||
            d[0] != (uint64_t)o->grid[0] || (o->n_vary == 2 && d[1] != (uint64_t)o->grid[1])) {
            ddsp_error("%s: %s does not match the grid", path, ds);
            goto done;
        }
        hid_t dset = H5Dopen2(f, ds, H5P_DEFAULT);
        o->silence[k] = NAN, o->basin[k] = NAN;
        if (dset >= 0) {
            if (ddsp_h5_attr_get_str(dset, "phi", o->phi[k], sizeof o->phi[k])) o->phi[k][0] = '\0';
            if (ddsp_h5_attr_get_f64(dset, "distance_to_silence", &o->silence[k])) o->silence[k] = NAN;
            if (ddsp_h5_attr_get_f64(dset, "basin_share", &o->basin[k])) o->basin[k] = NAN;
            H5Dclose(dset);
        }
    }
    if (o->n_phi == 0) ddsp_error("%s: no loss_0 dataset", path);
    else rc = DDSP_OK;
done:
    H5Fclose(f);
    if (rc) ddsp_landscape_file_free(o);
    return rc;
}

void ddsp_landscape_file_free(ddsp_landscape_file *o) {
    for (int k = 0; k < DDSP_LANDSCAPE_MAX_PHI; k++) ddsp_free(o->loss[k]);
    ddsp_free(o->axis[0]), ddsp_free(o->axis[1]);
    memset(o, 0, sizeof *o);
}

/* ---------------------------------------------------------------- jacobian */
int ddsp_jacobian_read_controls(const char *path, float **raw, float **f0, float **noise, size_t *F,
                                size_t C, size_t hop) {
    ddsp_h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot open as HDF5", path);
    uint64_t d[8], d2[8];
    int r, r2, rc = DDSP_ERR;
    if (ddsp_h5_read_f32(f, path, "raw_controls", raw, d, &r) ||
        ddsp_h5_read_f32(f, path, "f0_hz", f0, d2, &r2))
        goto done;
    if (r != 2 || d[1] != C || r2 != 1 || d2[0] != d[0]) {
        ddsp_error("%s: raw_controls must be (F, %zu) and f0_hz (F); got rank %d (%llu, %llu) "
                   "and %llu frames",
                   path, C, r, (unsigned long long)d[0], (unsigned long long)(r == 2 ? d[1] : 0),
                   (unsigned long long)d2[0]);
        goto done;
    }
    *F = d[0];
    if (H5Lexists(f, "noise_uniform", H5P_DEFAULT) > 0) {
        if (ddsp_h5_read_f32(f, path, "noise_uniform", noise, d, &r)) goto done;
        if (r != 1 || d[0] != *F * hop) {
            ddsp_error("%s: noise_uniform must have F * %zu = %zu samples", path, hop, *F * hop);
            goto done;
        }
    }
    /* a NaN control gives NaN singular vectors and a spectrum of zeros */
    struct {
        const char *name;
        const float *v;
        size_t n;
    } chk[3] = {{"raw_controls", *raw, *F * C}, {"f0_hz", *f0, *F}, {"noise_uniform", *noise, *F * hop}};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; chk[k].v && i < chk[k].n; i++)
            if (!isfinite(chk[k].v[i])) {
                ddsp_error("%s: '%s' holds a non-finite value at frame %zu", path, chk[k].name,
                           k == 2 ? i / hop : k == 0 ? i / C : i);
                goto done;
            }
    rc = DDSP_OK;
done:
    H5Fclose(f);
    return rc;
}

int ddsp_jacobian_write(const char *path, const ddsp_jacobian *j, size_t fb, size_t fe,
                        const char *source) {
    char tmp[PATH_MAX];
    if (ddsp_tmp_name(tmp, sizeof tmp, path)) return DDSP_ERR;
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot create HDF5 file (%s)", path, strerror(errno));
    ddsp_tmp_track(tmp);
    uint64_t dn[1] = {j->n_sigma}, dv[2] = {j->k, j->n_in}, dc[1] = {j->n_controls};
    int64_t region[2] = {(int64_t)j->region[0], (int64_t)j->region[1]};
    int bad = ddsp_h5_attr_str(f, "format", DDSP_JACOBIAN_FORMAT) ||
              ddsp_h5_attr_i64(f, "format_version", DDSP_JACOBIAN_VERSION) ||
              ddsp_h5_attr_str(f, "ddsp_version", DDSP_VERSION) ||
              ddsp_h5_attr_str(f, "source", source) ||
              ddsp_h5_attr_i64(f, "frame_begin", (int64_t)fb) ||
              ddsp_h5_attr_i64(f, "frame_end", (int64_t)fe) ||
              ddsp_h5_attr_i64(f, "n_controls", (int64_t)j->n_controls) ||
              ddsp_h5_attr_i64(f, "n_in", (int64_t)j->n_in) ||
              ddsp_h5_attr_str(f, "method", j->null_share ? "dense" : "randomized") ||
              ddsp_h5_attr_i64(f, "n_out", (int64_t)j->n_out) ||
              ddsp_h5_attr_i64v(f, "region", region, 2) ||
              /* the ranks need the whole spectrum: unknown (-1) for the randomized top K */
              ddsp_h5_attr_i64(f, "rank_1e-3", j->null_share ? (int64_t)j->rank_1e3 : -1) ||
              ddsp_h5_attr_f64(f, "entropy_rank", j->null_share ? j->entropy_rank : -1.0) ||
              ddsp_h5_write_f64(f, "sigma", j->sigma, 1, dn) ||
              ddsp_h5_write_f64(f, "V", j->V, 2, dv) ||
              (j->null_share && ddsp_h5_write_f64(f, "null_share", j->null_share, 1, dc));
    if (H5Fclose(f) < 0) bad = 1;
    if (!bad) return ddsp_tmp_publish(tmp, path, 1);
    unlink(tmp);
    ddsp_tmp_forget(tmp);
    return ddsp_error("%s: cannot write (%s)", path, bad ? "HDF5 error" : "rename failed");
}

int ddsp_jacobian_read(const char *path, ddsp_jacobian_file *o) {
    memset(o, 0, sizeof *o);
    const hid_t f = (hid_t)ddsp_h5_open_format(path, DDSP_JACOBIAN_FORMAT, DDSP_JACOBIAN_VERSION, NULL);
    if (f < 0) return DDSP_ERR;
    uint64_t d[8];
    int r, rc = DDSP_ERR;
    if (!ddsp_h5_exists(f, "sigma") || ddsp_h5_read_f64(f, path, "sigma", &o->sigma, d, &r) || r != 1 || d[0] < 1) {
        ddsp_error("%s: bad or missing sigma", path);
    } else if (ddsp_h5_attr_get_i64(f, "frame_begin", &o->frame_begin) ||
               ddsp_h5_attr_get_i64(f, "frame_end", &o->frame_end) ||
               ddsp_h5_attr_get_i64(f, "rank_1e-3", &o->rank_1e3) ||
               ddsp_h5_attr_get_f64(f, "entropy_rank", &o->entropy_rank)) {
        ddsp_error("%s: %s", path, ddsp_last_error());
    } else {
        o->n_sigma = (size_t)d[0];
        if (ddsp_h5_attr_get_i64(f, "n_in", &o->n_in)) o->n_in = (int64_t)d[0]; /* early files */
        rc = DDSP_OK;
    }
    H5Fclose(f);
    if (rc) ddsp_jacobian_file_free(o);
    return rc;
}

void ddsp_jacobian_file_free(ddsp_jacobian_file *o) {
    ddsp_free(o->sigma);
    memset(o, 0, sizeof *o);
}
