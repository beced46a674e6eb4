/* `ddsp loss --grad-out`'s file (format "ddsp-loss"), written here only: the loss, its
 * per-scale parts, dL/d(estimate) and both inputs' |STFT| at every scale. */
#include "ddsp/dsp.h"
#include "ddsp/formats.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ddsp_loss_file_write(const char *path, const ddsp_mss_config *c, const char *loss_type,
                         const char *log_mode, double total, const double *per_scale, const float *grad, const float *t, const float *e, size_t N, int sr,
                           const char *tpath, const char *epath) {
    char tmp[PATH_MAX];
    if (ddsp_tmp_name(tmp, sizeof tmp, path)) return DDSP_ERR;
    ddsp_h5_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot create HDF5 file (%s)", path, strerror(errno));
    ddsp_tmp_track(tmp);
    int rc = DDSP_ERR;
    hid_t grp = H5I_INVALID_HID;
    float *S = NULL;
    uint64_t dN[1] = {N};
    if (ddsp_h5_attr_str(f, "format", DDSP_LOSS_FORMAT) || ddsp_h5_attr_i64(f, "format_version", DDSP_LOSS_VERSION) ||
        ddsp_h5_attr_str(f, "ddsp_version", DDSP_VERSION) ||
        ddsp_h5_attr_str(f, "loss_type", loss_type) ||
        ddsp_h5_attr_str(f, "log_mode", log_mode) ||
        ddsp_h5_attr_f64(f, "log_eps", DDSP_MSS_LOG_EPS) ||
        ddsp_h5_attr_f64(f, "overlap", c->overlap) || ddsp_h5_attr_i64(f, "sample_rate", sr) ||
        ddsp_h5_attr_i64(f, "n_samples", (int64_t)N) ||
        ddsp_h5_attr_str(f, "target_file", tpath) || ddsp_h5_attr_str(f, "estimate_file", epath))
        goto cleanup;
    int64_t sc[DDSP_MSS_MAX_SCALES];
    for (int s = 0; s < c->n_scales; s++) sc[s] = c->scales[s];
    if (ddsp_h5_attr_i64v(f, "scales", sc, (size_t)c->n_scales)) goto cleanup;
    if (ddsp_h5_write_f64(f, "loss", &total, 0, NULL)) goto cleanup;
    uint64_t dS[1] = {(uint64_t)c->n_scales};
    if (ddsp_h5_write_f64(f, "per_scale_loss", per_scale, 1, dS)) goto cleanup;
    if (ddsp_h5_write_f32(f, "grad", grad, 1, dN)) goto cleanup;
    hid_t ds = H5Dopen2(f, "grad", H5P_DEFAULT);
    if (ds >= 0) {
        ddsp_h5_attr_str(ds, "description", "dL/d(estimate), one value per sample");
        H5Dclose(ds);
    }
    grp = H5Gcreate2(f, "spectrograms", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (grp < 0) goto cleanup;
    for (int s = 0; s < c->n_scales; s++) {
        int n = c->scales[s], hop = ddsp_mss_hop(c, n);
        size_t F = ddsp_stft_nframes(N, hop), K = (size_t)n / 2 + 1;
        S = ddsp_alloc(sizeof(float) * F * K);
        if (!S) {
            ddsp_error("out of memory for spectrogram n=%d", n);
            goto cleanup;
        }
        uint64_t d2[2] = {F, K};
        for (int which = 0; which < 2; which++) {
            char name[64];
            snprintf(name, sizeof name, "%s_%d", which ? "estimate" : "target", n);
            if (ddsp_stft_mag(S, which ? e : t, N, n, hop)) goto cleanup;
            if (ddsp_h5_write_f32(grp, name, S, 2, d2)) goto cleanup;
            hid_t d = H5Dopen2(grp, name, H5P_DEFAULT);
            if (d < 0) goto cleanup;
            ddsp_h5_attr_i64(d, "n_fft", n);
            ddsp_h5_attr_i64(d, "hop", hop);
            ddsp_h5_attr_i64(d, "frames", (int64_t)F);
            ddsp_h5_attr_i64(d, "bins", (int64_t)K);
            ddsp_h5_attr_str(d, "layout", "(frames, bins): |rfft(hann_periodic * frame)|");
            H5Dclose(d);
        }
        ddsp_free(S);
        S = NULL;
    }
    rc = DDSP_OK;
cleanup:
    ddsp_free(S);
    if (grp >= 0) H5Gclose(grp);
    if (H5Fclose(f) < 0 && rc == DDSP_OK) rc = ddsp_error("%s: error closing HDF5 file", path);
    if (rc == DDSP_OK) return ddsp_tmp_publish(tmp, path, 1);
    unlink(tmp);
    ddsp_tmp_forget(tmp);
    return rc;
}
