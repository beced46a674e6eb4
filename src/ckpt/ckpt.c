/* HDF5 checkpoints (see ddsp/ckpt.h): a loop over the model's tensor table. */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ddsp/ckpt.h"
#include "ddsp/util.h"

static int write_tensor(hid_t loc, const char *name, const float *v, const ddsp_tensor *t) {
    hsize_t dims[2] = {t->shape[0], t->shape[1]};
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t sp = H5Screate_simple(t->rank, dims, NULL);
    hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(lcpl);
    return ok ? DDSP_OK : DDSP_ERR;
}

static int write_all(hid_t f, const ddsp_model *m, const ddsp_adam *o, const ddsp_mss_config *l,
                     const ddsp_ckpt_info *info) {
    const ddsp_model_config *c = &m->cfg;
    int rc = 0;
    rc |= ddsp_h5_attr_str(f, "format", DDSP_CKPT_FORMAT);
    rc |= ddsp_h5_attr_i64(f, "format_version", DDSP_CKPT_VERSION);
    rc |= ddsp_h5_attr_str(f, "ddsp_version", DDSP_VERSION);
    rc |= ddsp_h5_attr_i64(f, "step", info->step);
    rc |= ddsp_h5_attr_i64(f, "seed", (int64_t)info->seed);
    rc |= ddsp_h5_attr_i64(f, "model_hidden", c->hidden);
    rc |= ddsp_h5_attr_i64(f, "model_gru_units", c->gru_units);
    rc |= ddsp_h5_attr_i64(f, "model_layers", c->n_layers);
    rc |= ddsp_h5_attr_f64(f, "model_ld_range", c->ld_range);
    rc |= ddsp_h5_attr_i64(f, "synth_sample_rate", c->synth.sample_rate);
    rc |= ddsp_h5_attr_i64(f, "synth_hop", c->synth.hop);
    rc |= ddsp_h5_attr_i64(f, "synth_harmonics", c->synth.n_harmonics);
    rc |= ddsp_h5_attr_i64(f, "synth_noise_bands", c->synth.n_noise_bands);
    rc |= ddsp_h5_attr_str(f, "synth_amp_interp", c->synth.amp_interp == DDSP_AMP_LINEAR ? "linear" : "window");
    rc |= ddsp_h5_attr_i64(f, "synth_reverb", c->synth.reverb);
    rc |= ddsp_h5_attr_i64(f, "synth_reverb_length", c->synth.reverb_length);
    rc |= ddsp_h5_attr_i64(f, "n_params", (int64_t)m->n_params);
    if (l) {
        rc |= ddsp_h5_attr_str(f, "loss_type", ddsp_mss_type_name(l->type));
        rc |= ddsp_h5_attr_str(f, "loss_log_mode", ddsp_mss_log_mode_name(l->log_mode));
        int64_t sc[DDSP_MSS_MAX_SCALES];
        for (int s = 0; s < l->n_scales; s++) sc[s] = l->scales[s];
        rc |= ddsp_h5_attr_i64v(f, "loss_scales", sc, (size_t)l->n_scales);
        rc |= ddsp_h5_attr_f64(f, "loss_overlap", l->overlap);
    }
    if (o) {
        rc |= ddsp_h5_attr_f64(f, "adam_lr", o->cfg.lr);
        rc |= ddsp_h5_attr_f64(f, "adam_beta1", o->cfg.beta1);
        rc |= ddsp_h5_attr_f64(f, "adam_beta2", o->cfg.beta2);
        rc |= ddsp_h5_attr_f64(f, "adam_eps", o->cfg.eps);
        rc |= ddsp_h5_attr_f64(f, "adam_clip_norm", o->cfg.clip_norm);
        rc |= ddsp_h5_attr_f64(f, "adam_decay_rate", o->cfg.decay_rate);
        rc |= ddsp_h5_attr_f64(f, "adam_decay_steps", o->cfg.decay_steps);
        rc |= ddsp_h5_attr_i64(f, "adam_step", o->step);
    }
    for (int i = 0; i < info->n_extra; i++) rc |= ddsp_h5_attr_str(f, info->keys[i], info->values[i]);
    if (rc) return DDSP_ERR;
    char name[128];
    for (int i = 0; i < m->n_tensors; i++) {
        const ddsp_tensor *t = &m->tensors[i];
        snprintf(name, sizeof name, "model/%s", t->name);
        if (write_tensor(f, name, m->params + t->offset, t)) return DDSP_ERR;
        if (!o) continue;
        snprintf(name, sizeof name, "optimizer/m/%s", t->name);
        if (write_tensor(f, name, o->m + t->offset, t)) return DDSP_ERR;
        snprintf(name, sizeof name, "optimizer/v/%s", t->name);
        if (write_tensor(f, name, o->v + t->offset, t)) return DDSP_ERR;
    }
    return DDSP_OK;
}

int ddsp_ckpt_write(const char *path, const ddsp_model *m, const ddsp_adam *o,
                    const ddsp_mss_config *loss, const ddsp_ckpt_info *info) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ddsp_h5_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot create checkpoint file (%s)", tmp, strerror(errno));
    int rc = write_all(f, m, o, loss, info);
    if (H5Fclose(f) < 0) rc = DDSP_ERR;
    if (rc != DDSP_OK) {
        unlink(tmp);
        return ddsp_error("%s: cannot write checkpoint (disk full?); the previous checkpoint "
                          "is untouched", path);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ddsp_error("%s: cannot rename checkpoint into place (%s)", path, strerror(e));
    }
    return DDSP_OK;
}

static int get_i(hid_t f, const char *path, const char *name, int *v) {
    int64_t x;
    if (ddsp_h5_attr_get_i64(f, name, &x)) return ddsp_error("%s: checkpoint lacks attribute '%s'", path, name);
    *v = (int)x;
    return DDSP_OK;
}

int ddsp_ckpt_read_model(const char *path, ddsp_model *m, int64_t *step, uint64_t *seed) {
    memset(m, 0, sizeof *m);
    ddsp_h5_quiet();
    if (access(path, F_OK) != 0) return ddsp_error("%s: no such file", path);
    if (H5Fis_hdf5(path) <= 0) return ddsp_error("%s: not an HDF5 file", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot open as HDF5", path);
    int rc = DDSP_ERR;
    char fmt[64] = "";
    int64_t ver = 0;
    ddsp_model_config c;
    char interp[16];
    if (ddsp_h5_attr_get_str(f, "format", fmt, sizeof fmt) || strcmp(fmt, DDSP_CKPT_FORMAT)) {
        ddsp_error("%s: not a ddsp checkpoint (format '%s')", path, fmt[0] ? fmt : "missing");
        goto cleanup;
    }
    if (ddsp_h5_attr_get_i64(f, "format_version", &ver) || ver != DDSP_CKPT_VERSION) {
        ddsp_error("%s: checkpoint format version %lld, this ddsp reads %d", path, (long long)ver,
                   DDSP_CKPT_VERSION);
        goto cleanup;
    }
    ddsp_model_config_preset(&c, "full");
    if (get_i(f, path, "model_hidden", &c.hidden) || get_i(f, path, "model_gru_units", &c.gru_units) ||
        get_i(f, path, "model_layers", &c.n_layers) ||
        get_i(f, path, "synth_sample_rate", &c.synth.sample_rate) ||
        get_i(f, path, "synth_hop", &c.synth.hop) ||
        get_i(f, path, "synth_harmonics", &c.synth.n_harmonics) ||
        get_i(f, path, "synth_noise_bands", &c.synth.n_noise_bands) ||
        get_i(f, path, "synth_reverb", &c.synth.reverb) ||
        get_i(f, path, "synth_reverb_length", &c.synth.reverb_length))
        goto cleanup;
    if (ddsp_h5_attr_get_f64(f, "model_ld_range", &c.ld_range) ||
        ddsp_h5_attr_get_str(f, "synth_amp_interp", interp, sizeof interp) ||
        ddsp_synth_parse_amp_interp(&c.synth, interp)) {
        ddsp_error("%s: bad model attributes", path);
        goto cleanup;
    }
    if (ddsp_model_init(m, &c)) {
        char why[300];
        snprintf(why, sizeof why, "%s", ddsp_last_error());
        ddsp_error("%s: %s", path, why);
        goto cleanup;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const ddsp_tensor *t = &m->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "model/%s", t->name);
        float *v = NULL;
        uint64_t dims[8];
        int r = 0;
        if (ddsp_h5_read_f32(f, path, name, &v, dims, &r)) goto cleanup;
        int ok = r == t->rank && dims[0] == t->shape[0] && (r == 1 || dims[1] == t->shape[1]);
        for (size_t k = 0; ok && k < t->size; k++) ok = isfinite(v[k]);
        if (ok) memcpy(m->params + t->offset, v, sizeof(float) * t->size);
        ddsp_free(v);
        if (!ok) {
            ddsp_error("%s: tensor '/%s' has the wrong shape or non-finite values", path, name);
            goto cleanup;
        }
    }
    int64_t s = 0;
    if (step) *step = ddsp_h5_attr_get_i64(f, "step", &s) == DDSP_OK ? s : 0;
    if (seed) *seed = ddsp_h5_attr_get_i64(f, "seed", &s) == DDSP_OK ? (uint64_t)s : 0;
    rc = DDSP_OK;
cleanup:
    H5Fclose(f);
    if (rc != DDSP_OK) ddsp_model_free(m);
    return rc;
}
