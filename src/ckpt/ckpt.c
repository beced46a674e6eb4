/* HDF5 checkpoints (see ddsp/ckpt.h): a loop over the model's tensor table plus the run's
 * state, history and monitoring spectrograms; atomic replace on write. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fftw3.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/ckpt_internal.h"
#include "ddsp/ckpt.h"
#include "ddsp/util.h"

/* ------------------------------------------------------------------ history */
static int grow(void **p, size_t elem, int64_t cap) {
    void *q = realloc(*p, elem * (size_t)cap);
    if (!q) return ddsp_error("out of memory growing the training history");
    *p = q;
    return DDSP_OK;
}

int ddsp_ckpt_history_add(ddsp_ckpt_history *h, int64_t step, double loss, double grad_norm, double lr,
                     double audio_s_per_s, double elapsed_s) {
    if (h->n == h->cap) {
        const int64_t c = h->cap ? 2 * h->cap : 1024;
        if (grow((void **)&h->step, sizeof(int64_t), c) || grow((void **)&h->train_loss, 8, c) ||
            grow((void **)&h->grad_norm, 8, c) || grow((void **)&h->lr, 8, c) ||
            grow((void **)&h->audio_s_per_s, 8, c) || grow((void **)&h->elapsed_s, 8, c))
            return DDSP_ERR;
        h->cap = c;
    }
    h->step[h->n] = step, h->train_loss[h->n] = loss, h->grad_norm[h->n] = grad_norm;
    h->lr[h->n] = lr, h->audio_s_per_s[h->n] = audio_s_per_s, h->elapsed_s[h->n] = elapsed_s;
    h->n++;
    return DDSP_OK;
}

int ddsp_ckpt_history_add_valid(ddsp_ckpt_history *h, int64_t step, double loss) {
    if (h->nv == h->vcap) {
        const int64_t c = h->vcap ? 2 * h->vcap : 64;
        if (grow((void **)&h->valid_step, sizeof(int64_t), c) || grow((void **)&h->valid_loss, 8, c))
            return DDSP_ERR;
        h->vcap = c;
    }
    h->valid_step[h->nv] = step, h->valid_loss[h->nv] = loss;
    h->nv++;
    return DDSP_OK;
}

void ddsp_ckpt_history_free(ddsp_ckpt_history *h) {
    if (!h) return;
    free(h->step), free(h->train_loss), free(h->grad_norm), free(h->lr);
    free(h->audio_s_per_s), free(h->elapsed_s), free(h->valid_step), free(h->valid_loss);
    memset(h, 0, sizeof *h);
}

/* ------------------------------------------------------------------ writing */
static hid_t lcpl_intermediate(void) {
    hid_t l = H5Pcreate(H5P_LINK_CREATE);
    if (l >= 0) H5Pset_create_intermediate_group(l, 1);
    return l;
}

/* What the dimensions of a model tensor are (from its name: Keras layouts [in, out]). */
static const char *tensor_axes(const char *name, int rank) {
    if (strstr(name, "gru/recurrent_kernel")) return "units, 3 x units (gates r, z, n)";
    if (strstr(name, "gru/kernel")) return "input, 3 x units (gates r, z, n)";
    if (strstr(name, "gru/bias")) return "3 x units (gates r, z, n)";
    if (strstr(name, "reverb/ir")) return "sample (impulse response)";
    if (rank == 2) return "input, output";
    return "output";
}

/* float32 dataset of rank 1 or 2 at `name` (intermediate groups created) */
static int write_f32(hid_t loc, const char *name, const float *v, int rank, size_t d0, size_t d1) {
    hsize_t dims[2] = {d0, d1};
    hid_t lcpl = lcpl_intermediate();
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int ok = ds >= 0 && (d0 == 0 || H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(lcpl);
    return ok ? DDSP_OK : ddsp_error("cannot write '/%s'", name);
}

static int write_1d(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v, int64_t n) {
    hsize_t d = (hsize_t)n;
    hid_t lcpl = lcpl_intermediate();
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t ds = H5Dcreate2(loc, name, ftype, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int ok = ds >= 0 && (n == 0 || H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    H5Pclose(lcpl);
    return ok ? DDSP_OK : ddsp_error("cannot write '/%s'", name);
}

/* scalar fixed-length string dataset (FFTW wisdom can exceed the 64 KB attribute limit) */
static int write_str_ds(hid_t loc, const char *name, const char *s) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(s) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t ds = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = ds >= 0 && H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) >= 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(t);
    return ok ? DDSP_OK : ddsp_error("cannot write '/%s'", name);
}

static int write_config(hid_t g, const ddsp_model *m, const ddsp_adam *o, const ddsp_loss_config *lc,
                        const ddsp_ckpt_info *info) {
    const ddsp_model_config *c = &m->cfg;
    int rc = 0;
    rc |= ddsp_h5_attr_str(g, "ddsp_version", DDSP_VERSION);
    rc |= ddsp_h5_attr_i64(g, "model_hidden", c->hidden);
    rc |= ddsp_h5_attr_i64(g, "model_gru_units", c->gru_units);
    rc |= ddsp_h5_attr_i64(g, "model_layers", c->n_layers);
    rc |= ddsp_h5_attr_f64(g, "model_ld_range", c->ld_range);
    rc |= ddsp_h5_attr_i64(g, "model_n_weights", (int64_t)m->n_weights);
    rc |= ddsp_h5_attr_i64(g, "synth_sample_rate", c->synth.sample_rate);
    rc |= ddsp_h5_attr_i64(g, "synth_hop", c->synth.hop);
    rc |= ddsp_h5_attr_i64(g, "synth_harmonics", c->synth.n_harmonics);
    rc |= ddsp_h5_attr_i64(g, "synth_noise_bands", c->synth.n_noise_bands);
    rc |= ddsp_h5_attr_str(g, "synth_amp_interp", c->synth.amp_interp == DDSP_AMP_LINEAR ? "linear" : "window");
    rc |= ddsp_h5_attr_i64(g, "synth_reverb", c->synth.reverb);
    rc |= ddsp_h5_attr_i64(g, "synth_reverb_length", c->synth.reverb_length);
    if (lc) {
        const ddsp_mss_config *l = &lc->mss;
        /* a spectral term list is written as it parses back: loss_type "terms" + the list */
        char terms[1024];
        rc |= ddsp_h5_attr_str(g, "loss_type", lc->kind == DDSP_LOSS_TERMS ? "terms" : ddsp_mss_type_name(l->type));
        if (lc->kind == DDSP_LOSS_TERMS)
            rc |= ddsp_h5_attr_str(g, "loss_terms", ddsp_loss_describe(lc, terms, sizeof terms));
        rc |= ddsp_h5_attr_str(g, "loss_log_mode", ddsp_mss_log_mode_name(l->log_mode));
        int64_t sc[DDSP_MSS_MAX_SCALES];
        for (int s = 0; s < l->n_scales; s++) sc[s] = l->scales[s];
        rc |= ddsp_h5_attr_i64v(g, "loss_scales", sc, (size_t)l->n_scales);
        rc |= ddsp_h5_attr_f64(g, "loss_overlap", l->overlap);
        rc |= ddsp_h5_attr_str(g, "loss_precision", l->precision == DDSP_MSS_FAST ? "fast" : "exact");
    }
    if (o) {
        rc |= ddsp_h5_attr_f64(g, "adam_lr", o->cfg.lr);
        rc |= ddsp_h5_attr_f64(g, "adam_beta1", o->cfg.beta1);
        rc |= ddsp_h5_attr_f64(g, "adam_beta2", o->cfg.beta2);
        rc |= ddsp_h5_attr_f64(g, "adam_eps", o->cfg.eps);
        rc |= ddsp_h5_attr_f64(g, "adam_clip_norm", o->cfg.clip_norm);
        rc |= ddsp_h5_attr_f64(g, "adam_decay_rate", o->cfg.decay_rate);
        rc |= ddsp_h5_attr_f64(g, "adam_decay_steps", o->cfg.decay_steps);
    }
    if (info->settings) {
        ddsp_h5_attr a[24];
        rc |= ddsp_h5_attrs_write(g, a, ckpt_settings_attrs(info->settings, a));
    }
    return rc ? DDSP_ERR : DDSP_OK;
}

static int write_all(hid_t f, const ddsp_model *m, const ddsp_adam *o, const ddsp_loss_config *l,
                     const ddsp_ckpt_info *info) {
    const ddsp_ckpt_state *st = &info->state;
    int rc = 0;
    rc |= ddsp_h5_attr_str(f, "format", DDSP_CKPT_FORMAT);
    rc |= ddsp_h5_attr_i64(f, "format_version", DDSP_CKPT_VERSION);
    rc |= ddsp_h5_attr_str(f, "ddsp_version", DDSP_VERSION);
    rc |= ddsp_h5_attr_i64(f, "step", st->step);
    if (info->settings) rc |= ddsp_h5_attr_str(f, "run_id", info->settings->run_id);
    if (rc) return DDSP_ERR;
    hid_t g = H5Gcreate2(f, "config", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return DDSP_ERR;
    rc = write_config(g, m, o, l, info);
    H5Gclose(g);
    if (rc) return DDSP_ERR;

    g = H5Gcreate2(f, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return DDSP_ERR;
    rc |= ddsp_h5_attr_i64(g, "step", st->step);
    rc |= ddsp_h5_attr_i64(g, "seed", (int64_t)st->seed);
    rc |= ddsp_h5_attr_i64(g, "epoch", st->epoch);
    rc |= ddsp_h5_attr_i64(g, "epoch_position", st->epoch_position);
    rc |= ddsp_h5_attr_i64(g, "n_ranks", st->n_ranks);
    rc |= ddsp_h5_attr_str(g, "rng", "counter-based: noise of example e at step s is keyed by "
                                     "(seed, s, e); epoch order by (seed, epoch)");
    char *wf = fftwf_export_wisdom_to_string(), *wd = fftw_export_wisdom_to_string();
    rc |= write_str_ds(g, "fftw_wisdom_float", wf ? wf : "");
    rc |= write_str_ds(g, "fftw_wisdom_double", wd ? wd : "");
    if (!rc)
        rc |= ddsp_h5_describe(g, "fftw_wisdom_float", "scalar", "FFTW wisdom text (float plans)") ||
              ddsp_h5_describe(g, "fftw_wisdom_double", "scalar", "FFTW wisdom text (double plans)");
    free(wf), free(wd);
    H5Gclose(g);
    if (rc) return DDSP_ERR;

    char name[160];
    for (int i = 0; i < m->n_tensors; i++) {
        const ddsp_tensor *t = &m->tensors[i];
        const char *axes = tensor_axes(t->name, t->rank);
        snprintf(name, sizeof name, "model/%s", t->name);
        if (write_f32(f, name, m->params + t->offset, t->rank, t->shape[0], t->shape[1]) ||
            ddsp_h5_describe(f, name, axes, "weight"))
            return DDSP_ERR;
        if (!o) continue;
        snprintf(name, sizeof name, "optimizer/m/%s", t->name);
        if (write_f32(f, name, o->m + t->offset, t->rank, t->shape[0], t->shape[1]) ||
            ddsp_h5_describe(f, name, axes, "Adam first moment (running mean of the gradient)"))
            return DDSP_ERR;
        snprintf(name, sizeof name, "optimizer/v/%s", t->name);
        if (write_f32(f, name, o->v + t->offset, t->rank, t->shape[0], t->shape[1]) ||
            ddsp_h5_describe(f, name, axes,
                             "Adam second moment (running mean of the squared gradient, >= 0)"))
            return DDSP_ERR;
    }
    if (o) {
        hid_t og = H5Gopen2(f, "optimizer", H5P_DEFAULT);
        if (og < 0 || ddsp_h5_attr_i64(og, "step", o->step)) rc = DDSP_ERR;
        if (og >= 0) H5Gclose(og);
        if (rc) return DDSP_ERR;
    }

    const ddsp_ckpt_history *h = info->history;
    const ddsp_ckpt_history empty = {0};
    if (!h) h = &empty;
    if (write_1d(f, "history/step", H5T_STD_I64LE, H5T_NATIVE_INT64, h->step, h->n) ||
        write_1d(f, "history/train_loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, h->train_loss, h->n) ||
        write_1d(f, "history/grad_norm", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, h->grad_norm, h->n) ||
        write_1d(f, "history/lr", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, h->lr, h->n) ||
        write_1d(f, "history/audio_s_per_s", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, h->audio_s_per_s, h->n) ||
        write_1d(f, "history/elapsed_s", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, h->elapsed_s, h->n) ||
        write_1d(f, "history/valid_step", H5T_STD_I64LE, H5T_NATIVE_INT64, h->valid_step, h->nv) ||
        write_1d(f, "history/valid_loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, h->valid_loss, h->nv))
        return DDSP_ERR;
    static const char *const hist_doc[8][3] = {
        {"history/step", "row (one per update)", "update number (1 = after the first update)"},
        {"history/train_loss", "row", "loss of the global batch (the run's loss)"},
        {"history/grad_norm", "row", "global L2 norm of the summed gradient, before clipping"},
        {"history/lr", "row", "learning rate of the update"},
        {"history/audio_s_per_s", "row", "audio seconds trained per second of wall time"},
        {"history/elapsed_s", "row", "s since the run started (sessions added up)"},
        {"history/valid_step", "validation", "update number"},
        {"history/valid_loss", "validation", "mean loss over the validation split (fixed noise)"}};
    for (int k = 0; k < 8; k++)
        if (ddsp_h5_describe(f, hist_doc[k][0], hist_doc[k][1], hist_doc[k][2])) return DDSP_ERR;

    g = H5Gcreate2(f, "dataset_stats", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return DDSP_ERR;
    for (int i = 0; i < info->n_stats; i++) rc |= ddsp_h5_attr_f64(g, info->stat_names[i], info->stat_values[i]);
    H5Gclose(g);
    if (rc) return DDSP_ERR;

    g = H5Gcreate2(f, "spectrograms", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return DDSP_ERR;
    rc |= ddsp_h5_attr_i64(g, "n_fft", info->monitor_n_fft);
    rc |= ddsp_h5_attr_i64(g, "hop", info->monitor_hop);
    rc |= ddsp_h5_attr_str(g, "values", "log(|STFT| + 1e-5), periodic Hann, frames x bins");
    for (int k = 0; k < info->n_monitor && !rc; k++) {
        const ddsp_ckpt_monitor *e = &info->monitor[k];
        char grp[64];
        snprintf(grp, sizeof grp, "example_%d", k);
        hid_t eg = H5Gcreate2(g, grp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (eg < 0) {
            rc = DDSP_ERR;
            break;
        }
        rc |= ddsp_h5_attr_i64(eg, "example", e->example);
        rc |= write_f32(eg, "target_logmag", e->target_logmag, 2, info->monitor_F, info->monitor_K);
        rc |= write_f32(eg, "recon_logmag", e->recon_logmag, 2, info->monitor_F, info->monitor_K);
        rc |= write_f32(eg, "target_audio", e->target_audio, 1, info->monitor_N, 0);
        rc |= write_f32(eg, "recon_audio", e->recon_audio, 1, info->monitor_N, 0);
        if (!rc)
            rc |= ddsp_h5_describe(eg, "target_logmag", "frame, bin (n_fft/2 + 1)",
                                   "natural log of |STFT| + 1e-5 (full-scale units)") ||
                  ddsp_h5_describe(eg, "recon_logmag", "frame, bin (n_fft/2 + 1)",
                                   "natural log of |STFT| + 1e-5 (full-scale units)") ||
                  ddsp_h5_describe(eg, "target_audio", "sample", "full scale (1 = 0 dBFS)") ||
                  ddsp_h5_describe(eg, "recon_audio", "sample", "full scale (1 = 0 dBFS)");
        H5Gclose(eg);
    }
    H5Gclose(g);
    return rc ? DDSP_ERR : DDSP_OK;
}

/* fsync a file or folder; returns 0 or the errno. A folder whose file system cannot sync
 * folders (EINVAL) counts as synced. */
static int fsync_path(const char *path, int dir) {
    const int fd = open(path, dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return errno;
    int e = fsync(fd) == 0 ? 0 : errno;
    if (dir && e == EINVAL) e = 0;
    if (close(fd) != 0 && !e) e = errno;
    return e;
}

/* write() all n bytes (short writes and EINTR retried); 0 or the errno */
static int write_full(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        const ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* The file is built in memory (HDF5's core driver, no backing store) and written to disk with
 * plain write(): HDF5 never meets a disk error, which it survives badly (an H5Fclose that
 * fails on a full disk leaves a file id that crashes the library at exit; h5py#914), and the
 * message carries write()'s own errno. Costs one checkpoint-sized buffer while writing. */
int ddsp_ckpt_write(const char *path, const ddsp_model *m, const ddsp_adam *o,
                    const ddsp_loss_config *loss, const ddsp_ckpt_info *info) {
    char tmp[PATH_MAX];
    if (ddsp_tmp_name(tmp, sizeof tmp, path)) return DDSP_ERR;
    ddsp_h5_quiet();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0) {
        if (fapl >= 0) H5Pclose(fapl);
        return ddsp_error("%s: cannot set up HDF5's in-memory file driver", path);
    }
    const hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) return ddsp_error("%s: cannot create an HDF5 file in memory", path);
    int ok = write_all(f, m, o, loss, info) == DDSP_OK && H5Fflush(f, H5F_SCOPE_LOCAL) >= 0;
    const ssize_t size = ok ? H5Fget_file_image(f, NULL, 0) : -1;
    unsigned char *img = size > 0 ? malloc((size_t)size) : NULL;
    ok = img && H5Fget_file_image(f, img, (size_t)size) == size;
    if (H5Fclose(f) < 0) ok = 0;
    if (!ok) {
        free(img);
        return ddsp_error("%s: cannot assemble the checkpoint in memory (%s)", path,
                          size > 0 && !img ? "out of memory" : "HDF5 error");
    }
    /* to PATH.tmp-HOST-PID, on disk before the name points at it (ENOSPC can surface only at
     * fsync, on file systems that allocate late), then renamed over PATH. A SIGKILL here
     * leaves the temporary: the next run in the folder removes it (ddsp_tmp_sweep_dir). */
    ddsp_tmp_track(tmp);
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int e = fd < 0 ? errno : write_full(fd, img, (size_t)size);
    if (fd >= 0 && !e && fsync(fd) != 0) e = errno;
    if (fd >= 0 && close(fd) != 0 && !e) e = errno;
    free(img);
    if (e) {
        /* never leave a half-written file that looks like a checkpoint */
        ddsp_tmp_forget(tmp);
        if (fd >= 0 && unlink(tmp) != 0 && errno != ENOENT)
            return ddsp_error("%s: cannot write checkpoint (%s); cannot remove the partial %s "
                              "(%s)", path, strerror(e), tmp, strerror(errno));
        return ddsp_error("%s: cannot write checkpoint (%s)", path, strerror(e));
    }
    if (ddsp_tmp_publish(tmp, path, 1)) return DDSP_ERR;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    /* the new file is complete and in place; only its name's durability is in doubt */
    if ((e = fsync_path(slash ? dir : ".", 1)) != 0)
        ddsp_log("warning: %s: cannot sync the folder after writing %s (%s)", slash ? dir : ".",
                 path, strerror(e));
    return DDSP_OK;
}

/* ------------------------------------------------------------------ reading */
int ckpt_get_i(hid_t g, const char *path, const char *name, int *v) {
    int64_t x;
    if (ddsp_h5_attr_get_i64(g, name, &x)) return ddsp_error("%s: checkpoint lacks /config attribute '%s'", path, name);
    if (x < INT_MIN || x > INT_MAX) /* never wrap: 2^32 + 3 layers is not 3 */
        return ddsp_error("%s: /config attribute '%s' = %lld is out of range", path, name,
                          (long long)x);
    *v = (int)x;
    return DDSP_OK;
}

int ckpt_get_d(hid_t g, const char *path, const char *name, double *v) {
    if (ddsp_h5_attr_get_f64(g, name, v)) return ddsp_error("%s: checkpoint lacks /config attribute '%s'", path, name);
    return DDSP_OK;
}

static int read_tensor(hid_t f, const char *path, const char *name, const ddsp_tensor *t, float *dst) {
    /* check the declared shape before reading: a corrupt file must not make us allocate
     * whatever it declares (fuzzing found an 82 KB file declaring 3.3 GB) */
    if (H5Lexists(f, name, H5P_DEFAULT) > 0) {
        hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
        hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
        hsize_t d[2] = {0, 0};
        const int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
        if (nd >= 1 && nd <= 2) H5Sget_simple_extent_dims(sp, d, NULL);
        if (sp >= 0) H5Sclose(sp);
        if (ds >= 0) H5Dclose(ds);
        if (nd != t->rank || d[0] != t->shape[0] || (nd == 2 && d[1] != t->shape[1]))
            return ddsp_error("%s: '/%s' has %d dimension(s) %llu x %llu, expected %zu x %zu",
                              path, name, nd, (unsigned long long)d[0],
                              (unsigned long long)(nd > 1 ? d[1] : 1), t->shape[0],
                              t->rank > 1 ? t->shape[1] : 1);
    }
    float *v = NULL;
    uint64_t dims[8];
    int r = 0;
    if (ddsp_h5_read_f32(f, path, name, &v, dims, &r)) return DDSP_ERR;
    int ok = r == t->rank && dims[0] == t->shape[0] && (r == 1 || dims[1] == t->shape[1]);
    size_t bad = t->size;
    for (size_t k = 0; ok && k < t->size; k++)
        if (!isfinite(v[k])) ok = 0, bad = k;
    if (ok) memcpy(dst, v, sizeof(float) * t->size);
    ddsp_free(v);
    if (ok) return DDSP_OK;
    if (bad < t->size) return ddsp_error("%s: '/%s' holds a non-finite value at %zu", path, name, bad);
    return ddsp_error("%s: '/%s' has shape %llu x %llu, expected %zu x %zu", path, name,
                      (unsigned long long)dims[0], (unsigned long long)(r > 1 ? dims[1] : 1),
                      t->shape[0], t->rank > 1 ? t->shape[1] : 1);
}

/* The tensors a config builds must be exactly the stored ones: every /model/<tensor> present
 * with its shape, and no deeper layer stored than the config has (else a wrong model_layers
 * would load a truncated model). Checked before anything is allocated, so a corrupt /config
 * (model_layers 8, model_hidden 8192) costs nothing. */
static int check_stored_shapes(hid_t f, const char *path, const ddsp_model *lay) {
    const ddsp_model_config *c = &lay->cfg;
    char name[160], cfg[200];
    snprintf(cfg, sizeof cfg,
             "/config (model_hidden %d, model_gru_units %d, model_layers %d, synth_harmonics %d, "
             "synth_noise_bands %d, synth_reverb %d)",
             c->hidden, c->gru_units, c->n_layers, c->synth.n_harmonics, c->synth.n_noise_bands,
             c->synth.reverb);
    for (int i = 0; i < lay->n_tensors; i++) {
        const ddsp_tensor *t = &lay->tensors[i];
        snprintf(name, sizeof name, "model/%s", t->name);
        if (H5Lexists(f, "model", H5P_DEFAULT) <= 0 || H5Lexists(f, name, H5P_DEFAULT) <= 0)
            return ddsp_error("%s: %s does not match the stored weights: /%s is missing", path,
                              cfg, name);
        hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
        hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
        hsize_t d[2] = {0, 0};
        const int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
        if (nd >= 1 && nd <= 2) H5Sget_simple_extent_dims(sp, d, NULL);
        if (sp >= 0) H5Sclose(sp);
        if (ds >= 0) H5Dclose(ds);
        if (nd != t->rank || d[0] != t->shape[0] || (nd == 2 && d[1] != t->shape[1]))
            return ddsp_error("%s: %s does not match the stored weights: /%s is %llu x %llu, "
                              "the config needs %zu x %zu",
                              path, cfg, name, (unsigned long long)d[0],
                              (unsigned long long)(nd > 1 ? d[1] : 1), t->shape[0],
                              t->rank > 1 ? t->shape[1] : 1);
    }
    snprintf(name, sizeof name, "model/decoder/ld_stack/%d", c->n_layers);
    if (H5Lexists(f, "model/decoder", H5P_DEFAULT) > 0 &&
        H5Lexists(f, "model/decoder/ld_stack", H5P_DEFAULT) > 0 &&
        H5Lexists(f, name, H5P_DEFAULT) > 0)
        return ddsp_error("%s: %s does not match the stored weights: /%s exists (more layers "
                          "are stored than model_layers says)", path, cfg, name);
    return DDSP_OK;
}

/* Adam's second moment is a running mean of squares: v >= 0 (and finite, as read_tensor
 * checks); a negative v makes sqrt(v) NaN in the next update. */
static int check_moments(const char *path, const ddsp_model *m, const ddsp_adam *o) {
    for (int i = 0; i < m->n_tensors; i++) {
        const ddsp_tensor *t = &m->tensors[i];
        for (size_t k = 0; k < t->size; k++)
            if (o->v[t->offset + k] < 0.0f)
                return ddsp_error("%s: '/optimizer/v/%s' holds a negative value (%g at %zu): "
                                  "Adam's second moment cannot be negative",
                                  path, t->name, (double)o->v[t->offset + k], k);
    }
    return DDSP_OK;
}

static int read_str_ds(hid_t loc, const char *name, char **out) {
    *out = NULL;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return DDSP_ERR;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return DDSP_ERR;
    hid_t t = H5Dget_type(ds);
    int rc = DDSP_ERR;
    if (H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0) {
        size_t len = H5Tget_size(t);
        char *s = calloc(len + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, len + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        if (s && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) >= 0) *out = s, rc = DDSP_OK;
        else free(s);
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Dclose(ds);
    return rc;
}

static int read_1d(hid_t f, const char *path, const char *name, hid_t mtype, size_t elem, void **out,
                   int64_t *n) {
    *out = NULL;
    if (H5Lexists(f, "history", H5P_DEFAULT) <= 0 || H5Lexists(f, name, H5P_DEFAULT) <= 0)
        return ddsp_error("%s: missing '/%s'", path, name);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
    hsize_t d = 0;
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, &d, NULL) >= 0;
    void *v = ok ? malloc(elem * (d + 1)) : NULL;
    ok = ok && v && (d == 0 || H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    if (!ok) {
        free(v);
        return ddsp_error("%s: cannot read '/%s'", path, name);
    }
    *out = v;
    *n = (int64_t)d;
    return DDSP_OK;
}

int ckpt_read_history(hid_t f, const char *path, ddsp_ckpt_history *h) {
    memset(h, 0, sizeof *h);
    int64_t n[6], nv[2];
    int rc = 0;
    rc |= read_1d(f, path, "history/step", H5T_NATIVE_INT64, 8, (void **)&h->step, &n[0]);
    rc |= read_1d(f, path, "history/train_loss", H5T_NATIVE_DOUBLE, 8, (void **)&h->train_loss, &n[1]);
    rc |= read_1d(f, path, "history/grad_norm", H5T_NATIVE_DOUBLE, 8, (void **)&h->grad_norm, &n[2]);
    rc |= read_1d(f, path, "history/lr", H5T_NATIVE_DOUBLE, 8, (void **)&h->lr, &n[3]);
    rc |= read_1d(f, path, "history/audio_s_per_s", H5T_NATIVE_DOUBLE, 8, (void **)&h->audio_s_per_s, &n[4]);
    rc |= read_1d(f, path, "history/elapsed_s", H5T_NATIVE_DOUBLE, 8, (void **)&h->elapsed_s, &n[5]);
    rc |= read_1d(f, path, "history/valid_step", H5T_NATIVE_INT64, 8, (void **)&h->valid_step, &nv[0]);
    rc |= read_1d(f, path, "history/valid_loss", H5T_NATIVE_DOUBLE, 8, (void **)&h->valid_loss, &nv[1]);
    if (rc) {
        ddsp_ckpt_history_free(h);
        return DDSP_ERR;
    }
    for (int i = 1; i < 6; i++)
        if (n[i] != n[0]) rc = 1;
    if (rc || nv[0] != nv[1]) {
        ddsp_ckpt_history_free(h);
        return ddsp_error("%s: /history datasets have different lengths", path);
    }
    /* realloc'd arrays: capacity is their current length */
    h->n = h->cap = n[0];
    h->nv = h->vcap = nv[0];
    return DDSP_OK;
}

/* The one way into a checkpoint: the file (exists, HDF5), its format and version, its /config
 * group. On DDSP_OK the caller closes *g and *f; on DDSP_ERR nothing is left open. */
int ckpt_open(const char *path, hid_t *f, hid_t *g, int64_t *ver) {
    char fmt[64] = "";
    *f = *g = -1;
    *ver = 0;
    ddsp_h5_quiet();
    if (access(path, F_OK) != 0) return ddsp_error("%s: no such file", path);
    if (H5Fis_hdf5(path) <= 0) return ddsp_error("%s: not an HDF5 file (a checkpoint is)", path);
    if ((*f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        return ddsp_error("%s: cannot open as HDF5", path);
    if (ddsp_h5_attr_get_str(*f, "format", fmt, sizeof fmt) || strcmp(fmt, DDSP_CKPT_FORMAT))
        ddsp_error("%s: not a ddsp checkpoint (format attribute '%s')", path, fmt[0] ? fmt : "missing");
    else if (ddsp_h5_attr_get_i64(*f, "format_version", ver) || *ver < 1 || *ver > DDSP_CKPT_VERSION)
        ddsp_error("%s: checkpoint format version %lld, this ddsp reads 1 to %d", path,
                   (long long)*ver, DDSP_CKPT_VERSION);
    else if (H5Lexists(*f, "config", H5P_DEFAULT) <= 0 || (*g = H5Gopen2(*f, "config", H5P_DEFAULT)) < 0)
        ddsp_error("%s: checkpoint has no /config group", path);
    else
        return DDSP_OK;
    H5Fclose(*f);
    *f = -1;
    return DDSP_ERR;
}

/* The model configuration of /config, checked against the stored tensors' shapes before
 * anything is allocated from it. */
int ckpt_read_model_config(hid_t f, hid_t g, const char *path, ddsp_model_config *c) {
    char interp[16] = "";
    ddsp_model_config_preset(c, "full");
    if (ckpt_get_i(g, path, "model_hidden", &c->hidden) || ckpt_get_i(g, path, "model_gru_units", &c->gru_units) ||
        ckpt_get_i(g, path, "model_layers", &c->n_layers) || ckpt_get_d(g, path, "model_ld_range", &c->ld_range) ||
        ckpt_get_i(g, path, "synth_sample_rate", &c->synth.sample_rate) ||
        ckpt_get_i(g, path, "synth_hop", &c->synth.hop) ||
        ckpt_get_i(g, path, "synth_harmonics", &c->synth.n_harmonics) ||
        ckpt_get_i(g, path, "synth_noise_bands", &c->synth.n_noise_bands) ||
        ckpt_get_i(g, path, "synth_reverb", &c->synth.reverb) ||
        ckpt_get_i(g, path, "synth_reverb_length", &c->synth.reverb_length))
        return DDSP_ERR;
    if (ddsp_h5_attr_get_str(g, "synth_amp_interp", interp, sizeof interp) ||
        ddsp_synth_parse_amp_interp(&c->synth, interp))
        return ddsp_error("%s: bad /config attribute synth_amp_interp '%s'", path, interp);
    ddsp_model lay;
    if (ddsp_model_layout(&lay, c)) return ddsp_error("%s: bad /config: %s", path, ddsp_last_error());
    return check_stored_shapes(f, path, &lay);
}

int ddsp_ckpt_read(const char *path, ddsp_model *m, ddsp_adam *o, ddsp_ckpt_state *state,
                   ddsp_ckpt_history *history, ddsp_loss_config *loss_out, int import_wisdom) {
    memset(m, 0, sizeof *m);
    if (o) memset(o, 0, sizeof *o);
    if (history) memset(history, 0, sizeof *history);
    hid_t f = -1, g = -1, sg = -1;
    int64_t ver = 0;
    int rc = DDSP_ERR;
    ddsp_model_config c;
    if (ckpt_open(path, &f, &g, &ver)) return DDSP_ERR;
    if (ckpt_read_model_config(f, g, path, &c)) goto cleanup;
    if (ddsp_model_init(m, &c)) {
        char *why = strdup(ddsp_last_error());
        ddsp_error("%s: %s", path, why ? why : "?");
        free(why);
        goto cleanup;
    }
    if (loss_out) {
        char s[1024];
        int64_t sc[DDSP_MSS_MAX_SCALES];
        ddsp_loss_config_default(loss_out);
        ddsp_mss_config *loss = &loss_out->mss;
        int terms = !ddsp_h5_attr_get_str(g, "loss_type", s, sizeof s) && !strcmp(s, "terms");
        if (terms && ddsp_h5_attr_get_str(g, "loss_terms", s, sizeof s)) s[0] = '\0';
        if ((!terms && ddsp_h5_attr_get_str(g, "loss_type", s, sizeof s)) ||
            ddsp_loss_parse(loss_out, s) ||
            ddsp_h5_attr_get_str(g, "loss_log_mode", s, sizeof s) || ddsp_mss_parse_log_mode(loss, s) ||
            ddsp_h5_attr_get_str(g, "loss_precision", s, sizeof s) || ddsp_mss_parse_precision(loss, s) ||
            ckpt_get_d(g, path, "loss_overlap", &loss->overlap)) {
            ddsp_error("%s: bad or missing loss settings in /config", path);
            goto cleanup;
        }
        hid_t a = H5Aexists(g, "loss_scales") > 0 ? H5Aopen(g, "loss_scales", H5P_DEFAULT) : -1;
        hid_t asp = a >= 0 ? H5Aget_space(a) : -1;
        hssize_t ns = asp >= 0 ? H5Sget_simple_extent_npoints(asp) : -1;
        int ok = ns >= 1 && ns <= DDSP_MSS_MAX_SCALES && H5Aread(a, H5T_NATIVE_INT64, sc) >= 0;
        if (asp >= 0) H5Sclose(asp);
        if (a >= 0) H5Aclose(a);
        if (!ok) {
            ddsp_error("%s: bad /config attribute loss_scales", path);
            goto cleanup;
        }
        loss->n_scales = (int)ns;
        for (int i = 0; i < loss->n_scales; i++) loss->scales[i] = (int)sc[i];
        if (ddsp_loss_config_check(loss_out)) goto cleanup;
    }
    char name[160];
    for (int i = 0; i < m->n_tensors; i++) {
        snprintf(name, sizeof name, "model/%s", m->tensors[i].name);
        if (read_tensor(f, path, name, &m->tensors[i], m->params + m->tensors[i].offset)) goto cleanup;
    }
    if (o) {
        ddsp_adam_config ac;
        ddsp_adam_config_default(&ac);
        if (ckpt_get_d(g, path, "adam_lr", &ac.lr) || ckpt_get_d(g, path, "adam_beta1", &ac.beta1) ||
            ckpt_get_d(g, path, "adam_beta2", &ac.beta2) || ckpt_get_d(g, path, "adam_eps", &ac.eps) ||
            ckpt_get_d(g, path, "adam_clip_norm", &ac.clip_norm) ||
            ckpt_get_d(g, path, "adam_decay_rate", &ac.decay_rate) ||
            ckpt_get_d(g, path, "adam_decay_steps", &ac.decay_steps))
            goto cleanup;
        if (ddsp_adam_init(o, &ac, m->n_params)) {
            char *why = strdup(ddsp_last_error());
            ddsp_error("%s: bad optimiser settings in /config: %s", path, why ? why : "?");
            free(why);
            goto cleanup;
        }
        for (int i = 0; i < m->n_tensors; i++) {
            snprintf(name, sizeof name, "optimizer/m/%s", m->tensors[i].name);
            if (read_tensor(f, path, name, &m->tensors[i], o->m + m->tensors[i].offset)) goto cleanup;
            snprintf(name, sizeof name, "optimizer/v/%s", m->tensors[i].name);
            if (read_tensor(f, path, name, &m->tensors[i], o->v + m->tensors[i].offset)) goto cleanup;
        }
        hid_t og = H5Gopen2(f, "optimizer", H5P_DEFAULT);
        int64_t os = -1;
        int ok = og >= 0 && ddsp_h5_attr_get_i64(og, "step", &os) == DDSP_OK && os >= 0;
        if (og >= 0) H5Gclose(og);
        if (!ok) {
            ddsp_error("%s: missing /optimizer step", path);
            goto cleanup;
        }
        o->step = os;
        if (check_moments(path, m, o)) goto cleanup;
    }
    if (state || import_wisdom) {
        if (H5Lexists(f, "state", H5P_DEFAULT) <= 0 || (sg = H5Gopen2(f, "state", H5P_DEFAULT)) < 0) {
            ddsp_error("%s: checkpoint has no /state group", path);
            goto cleanup;
        }
    }
    if (state) {
        int64_t s = 0, seed = 0, ep = 0, pos = 0, nr = 0;
        if (ddsp_h5_attr_get_i64(sg, "step", &s) || ddsp_h5_attr_get_i64(sg, "seed", &seed) ||
            ddsp_h5_attr_get_i64(sg, "epoch", &ep) || ddsp_h5_attr_get_i64(sg, "epoch_position", &pos) ||
            ddsp_h5_attr_get_i64(sg, "n_ranks", &nr)) {
            ddsp_error("%s: bad or missing /state attributes (%s)", path, ddsp_last_error());
            goto cleanup;
        }
        /* the epoch position is checked against the dataset by whoever resumes (it knows
         * the number of training examples); here what holds for any dataset */
        const char *bad = s < 0 ? "step" : ep < 0 ? "epoch" : pos < 0 ? "epoch_position"
                        : nr < 1 || nr > (1 << 24) ? "n_ranks" : NULL;
        if (!bad && o && o->step > s) bad = "step (behind /optimizer step)";
        if (bad) {
            ddsp_error("%s: bad /state %s (step %lld, epoch %lld, epoch_position %lld, n_ranks "
                       "%lld)", path, bad, (long long)s, (long long)ep, (long long)pos,
                       (long long)nr);
            goto cleanup;
        }
        state->step = s, state->seed = (uint64_t)seed, state->epoch = ep;
        state->epoch_position = pos, state->n_ranks = (int)nr;
        state->run_id[0] = '\0';
        if (ver >= 2 && ddsp_h5_attr_get_str(f, "run_id", state->run_id, sizeof state->run_id)) {
            ddsp_error("%s: bad or missing run_id attribute (%s)", path, ddsp_last_error());
            goto cleanup;
        }
    }
    if (import_wisdom) {
        char *w = NULL;
        if (read_str_ds(sg, "fftw_wisdom_float", &w) == DDSP_OK && w[0]) fftwf_import_wisdom_from_string(w);
        free(w);
        if (read_str_ds(sg, "fftw_wisdom_double", &w) == DDSP_OK && w[0]) fftw_import_wisdom_from_string(w);
        free(w);
    }
    if (history && ckpt_read_history(f, path, history)) goto cleanup;
    rc = DDSP_OK;
cleanup:
    if (sg >= 0) H5Gclose(sg);
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    if (rc != DDSP_OK) {
        ddsp_model_free(m);
        if (o) ddsp_adam_free(o);
        if (history) ddsp_ckpt_history_free(history);
    }
    return rc;
}

/* Version-1 checkpoints kept a few settings as strings in /config (dataset, batch,
 * model_preset, run_dir) and the rest in the model, loss and Adam settings. */