/* A run's settings: typed attributes in RUN_DIR/run.h5 and in every checkpoint's /config
 * (version 1 checkpoints: read from their string attributes), and the run folder's
 * checkpoints (list, newest, prune) of one run id. */
#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/ckpt_internal.h"
#include "ddsp/util.h"

/* ------------------------------------------------------------------ run settings */
/* The settings as typed attributes, the same in RUN_DIR/run.h5 and in a checkpoint's /config.
 * a: room for 18 entries; returns how many. */
int ckpt_settings_attrs(const ddsp_run_settings *s, ddsp_h5_attr *a) {
    int n = 0;
#define S_(k, v) a[n++] = (ddsp_h5_attr){.name = k, .kind = 's', .s = (v)}
#define I_(k, v) a[n++] = (ddsp_h5_attr){.name = k, .kind = 'i', .i = (v)}
#define F_(k, v) a[n++] = (ddsp_h5_attr){.name = k, .kind = 'f', .f = (v)}
    S_("run_id", s->run_id);
    S_("run_model", s->model);
    I_("run_reverb", s->reverb);
    F_("run_ld_range", s->ld_range);
    S_("run_loss", s->loss);
    I_("run_seed", s->seed);
    F_("run_lr", s->lr);
    F_("run_lr_decay", s->lr_decay);
    F_("run_clip", s->clip);
    I_("run_batch", s->batch);
    S_("run_precision", s->precision);
    S_("run_data", s->data);
    I_("run_steps", s->steps);
    I_("run_valid_every", s->valid_every);
    I_("run_ckpt_every", s->ckpt_every);
    I_("run_keep", s->keep);
    F_("run_log_every", s->log_every);
    S_("run_dir", s->run_dir);
#undef S_
#undef I_
#undef F_
    return n;
}

/* The ranges a stored setting may hold (-1: not recorded, for the cadences of version 1). */
static int settings_check(const ddsp_run_settings *s, const char *path, const char *where) {
    struct {
        const char *name;
        int64_t v, lo, hi;
    } in[] = {{"run_batch", s->batch, 1, 4096},          {"run_steps", s->steps, -1, INT64_MAX / 2},
              {"run_valid_every", s->valid_every, -1, INT64_MAX / 2},
              {"run_ckpt_every", s->ckpt_every, -1, INT64_MAX / 2},
              {"run_keep", s->keep, -1, 1000000}};
    for (size_t k = 0; k < sizeof in / sizeof *in; k++)
        if (in[k].v < in[k].lo || in[k].v > in[k].hi)
            return ddsp_error("%s: bad %s %s %lld (expected %lld .. %lld)", path, where, in[k].name,
                              (long long)in[k].v, (long long)in[k].lo, (long long)in[k].hi);
    if (!(s->lr > 0.0 && s->lr < 1.0))
        return ddsp_error("%s: bad %s run_lr %g (expected in (0, 1))", path, where, s->lr);
    if (!(s->lr_decay > 0.0 && s->lr_decay <= 1.0))
        return ddsp_error("%s: bad %s run_lr_decay %g (expected in (0, 1])", path, where, s->lr_decay);
    if (!(s->clip >= 0.0 && s->clip < 1e30))
        return ddsp_error("%s: bad %s run_clip %g (expected >= 0)", path, where, s->clip);
    if (!(s->ld_range > 0.0 && s->ld_range < 1e6))
        return ddsp_error("%s: bad %s run_ld_range %g", path, where, s->ld_range);
    if (!(s->log_every == -1.0 || (s->log_every >= 0.0 && s->log_every < 1e9)))
        return ddsp_error("%s: bad %s run_log_every %g", path, where, s->log_every);
    if (!s->model[0] || !s->loss[0])
        return ddsp_error("%s: %s has an empty run_model or run_loss", path, where);
    return DDSP_OK;
}

/* Read the typed settings from obj (file root or /config); every one must be present with
 * its type (the message names the one that is not). */
int ckpt_settings_read(hid_t obj, const char *path, const char *where, ddsp_run_settings *s) {
    memset(s, 0, sizeof *s);
    struct {
        const char *name;
        char *buf;
        size_t cap;
    } str[] = {{"run_id", s->run_id, sizeof s->run_id},     {"run_model", s->model, sizeof s->model},
               {"run_loss", s->loss, sizeof s->loss},         {"run_precision", s->precision, sizeof s->precision},
               {"run_data", s->data, sizeof s->data},         {"run_dir", s->run_dir, sizeof s->run_dir}};
    struct {
        const char *name;
        int64_t *v;
    } in[] = {{"run_seed", &s->seed},         {"run_batch", &s->batch},       {"run_steps", &s->steps},
              {"run_valid_every", &s->valid_every}, {"run_ckpt_every", &s->ckpt_every}, {"run_keep", &s->keep}};
    struct {
        const char *name;
        double *v;
    } fl[] = {{"run_ld_range", &s->ld_range}, {"run_lr", &s->lr}, {"run_lr_decay", &s->lr_decay},
              {"run_clip", &s->clip},         {"run_log_every", &s->log_every}};
    for (size_t k = 0; k < sizeof str / sizeof *str; k++)
        if (ddsp_h5_attr_get_str(obj, str[k].name, str[k].buf, str[k].cap))
            return ddsp_error("%s: %s attribute %s: %s", path, where, str[k].name, ddsp_last_error());
    for (size_t k = 0; k < sizeof in / sizeof *in; k++)
        if (ddsp_h5_attr_get_i64(obj, in[k].name, in[k].v))
            return ddsp_error("%s: %s attribute %s: %s", path, where, in[k].name, ddsp_last_error());
    for (size_t k = 0; k < sizeof fl / sizeof *fl; k++)
        if (ddsp_h5_attr_get_f64(obj, fl[k].name, fl[k].v))
            return ddsp_error("%s: %s attribute %s: %s", path, where, fl[k].name, ddsp_last_error());
    int64_t rv = 0;
    if (ddsp_h5_attr_get_i64(obj, "run_reverb", &rv))
        return ddsp_error("%s: %s attribute run_reverb: %s", path, where, ddsp_last_error());
    s->reverb = rv != 0;
    return settings_check(s, path, where);
}

static int settings_v1(hid_t f, hid_t g, const char *path, ddsp_run_settings *s) {
    memset(s, 0, sizeof *s);
    char v[4096];
    snprintf(s->precision, sizeof s->precision, "fp32");
    s->steps = s->valid_every = s->ckpt_every = s->keep = -1; /* not recorded */
    s->log_every = -1.0;
    if (!ddsp_h5_attr_get_str(g, "dataset", v, sizeof v)) snprintf(s->data, sizeof s->data, "%s", v);
    if (!ddsp_h5_attr_get_str(g, "run_dir", v, sizeof v)) snprintf(s->run_dir, sizeof s->run_dir, "%s", v);
    if (!ddsp_h5_attr_get_str(g, "model_preset", v, sizeof v)) snprintf(s->model, sizeof s->model, "%.15s", v);
    if (!ddsp_h5_attr_get_str(g, "batch", v, sizeof v)) {
        char *end;
        errno = 0;
        const long long b = strtoll(v, &end, 10);
        if (end == v || *end || errno || b < 1 || b > 4096)
            return ddsp_error("%s: bad /config batch '%s' (expected a whole number in 1 .. 4096)",
                              path, v);
        s->batch = b;
    }
    int64_t rv = 0;
    if (ckpt_get_d(g, path, "model_ld_range", &s->ld_range) || ddsp_h5_attr_get_i64(g, "synth_reverb", &rv) ||
        ckpt_get_d(g, path, "adam_lr", &s->lr) || ckpt_get_d(g, path, "adam_decay_rate", &s->lr_decay) ||
        ckpt_get_d(g, path, "adam_clip_norm", &s->clip))
        return DDSP_ERR;
    s->reverb = rv != 0;
    if (ddsp_h5_attr_get_str(g, "loss_type", v, sizeof v) == DDSP_OK) {
        if (!strcmp(v, "terms") && ddsp_h5_attr_get_str(g, "loss_terms", v, sizeof v)) v[0] = '\0';
        snprintf(s->loss, sizeof s->loss, "%s", v);
    }
    hid_t sg = H5Lexists(f, "state", H5P_DEFAULT) > 0 ? H5Gopen2(f, "state", H5P_DEFAULT) : -1;
    int64_t seed = 0;
    const int ok = sg >= 0 && ddsp_h5_attr_get_i64(sg, "seed", &seed) == DDSP_OK;
    if (sg >= 0) H5Gclose(sg);
    if (!ok) return ddsp_error("%s: bad or missing /state seed", path);
    s->seed = seed;
    return DDSP_OK;
}

int ddsp_ckpt_read_settings(const char *path, ddsp_run_settings *s) {
    memset(s, 0, sizeof *s);
    hid_t f, g;
    int64_t ver;
    ddsp_model_config c;
    if (ckpt_open(path, &f, &g, &ver)) return DDSP_ERR;
    int rc = ckpt_read_model_config(f, g, path, &c);
    if (rc == DDSP_OK) rc = ver >= 2 ? ckpt_settings_read(g, path, "/config", s) : settings_v1(f, g, path, s);
    H5Gclose(g);
    H5Fclose(f);
    return rc;
}

/* ------------------------------------------------------------------ RUN_DIR/run.h5 */
int ddsp_ckpt_run_write(const char *run_dir, const ddsp_run_settings *s) {
    char path[PATH_MAX], tmp[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", run_dir, DDSP_RUN_FILE) >= sizeof path)
        return ddsp_error("%s: path too long", run_dir);
    if (ddsp_tmp_name(tmp, sizeof tmp, path)) return DDSP_ERR;
    ddsp_h5_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot create (%s)", path, strerror(errno));
    ddsp_tmp_track(tmp);
    ddsp_h5_attr a[24];
    char when[32];
    const time_t now = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    int rc = ddsp_h5_attr_str(f, "format", DDSP_RUN_FORMAT) ||
             ddsp_h5_attr_i64(f, "format_version", DDSP_RUN_VERSION) ||
             ddsp_h5_attr_str(f, "ddsp_version", DDSP_VERSION) ||
             ddsp_h5_attr_str(f, "written", when) ||
             ddsp_h5_attrs_write(f, a, ckpt_settings_attrs(s, a));
    if (H5Fclose(f) < 0) rc = 1;
    if (rc) {
        unlink(tmp);
        ddsp_tmp_forget(tmp);
        return ddsp_error("%s: cannot write the run's settings", path);
    }
    return ddsp_tmp_publish(tmp, path, 1);
}

int ddsp_ckpt_run_read(const char *run_dir, ddsp_run_settings *s) {
    char path[PATH_MAX];
    memset(s, 0, sizeof *s);
    if ((size_t)snprintf(path, sizeof path, "%s/%s", run_dir, DDSP_RUN_FILE) >= sizeof path)
        return ddsp_error("%s: path too long", run_dir);
    if (access(path, F_OK) != 0) return 1;
    ddsp_h5_quiet();
    hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (f < 0) return ddsp_error("%s: not a readable HDF5 file (a run's settings file)", path);
    char fmt[64] = "";
    int64_t ver = 0;
    int rc = DDSP_ERR;
    if (ddsp_h5_attr_get_str(f, "format", fmt, sizeof fmt) || strcmp(fmt, DDSP_RUN_FORMAT))
        ddsp_error("%s: not a ddsp run file (format '%s')", path, fmt[0] ? fmt : "missing");
    else if (ddsp_h5_attr_get_i64(f, "format_version", &ver) || ver != DDSP_RUN_VERSION)
        ddsp_error("%s: run file version %lld, this ddsp reads %d", path, (long long)ver,
                   DDSP_RUN_VERSION);
    else
        rc = ckpt_settings_read(f, path, "run file", s);
    H5Fclose(f);
    return rc;
}

int ddsp_ckpt_stat(const char *path, const char *name, double *v) {
    ddsp_h5_quiet();
    hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    if (f < 0) return ddsp_error("%s: cannot open as HDF5", path);
    hid_t g = H5Lexists(f, "dataset_stats", H5P_DEFAULT) > 0 ? H5Gopen2(f, "dataset_stats", H5P_DEFAULT) : -1;
    int rc = g >= 0 ? ddsp_h5_attr_get_f64(g, name, v) : ddsp_error("%s: no /dataset_stats", path);
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    return rc;
}

int ddsp_ckpt_read_model(const char *path, ddsp_model *m, int64_t *step, uint64_t *seed) {
    ddsp_ckpt_state st;
    if (ddsp_ckpt_read(path, m, NULL, &st, NULL, NULL, 0)) return DDSP_ERR;
    if (step) *step = st.step;
    if (seed) *seed = st.seed;
    return DDSP_OK;
}

/* ------------------------------------------------------------------ run folders */
void ddsp_ckpt_path(char *path, size_t cap, const char *run_dir, int64_t step) {
    snprintf(path, cap, "%s/ckpt-%08lld.h5", run_dir, (long long)step);
}

/* steps of the ckpt-<step>.h5 files in dir, descending; caller frees */
static int64_t *list_steps(const char *dir, int *n) {
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    int64_t *v = NULL;
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long long s;
        char tail[8];
        if (sscanf(e->d_name, "ckpt-%lld.%7s", &s, tail) == 2 && !strcmp(tail, "h5") && s >= 0) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                int64_t *nv = realloc(v, sizeof(int64_t) * (size_t)cap);
                if (!nv) break;
                v = nv;
            }
            v[(*n)++] = s;
        }
    }
    closedir(d);
    for (int i = 1; i < *n; i++) /* insertion sort, descending: a handful of files */
        for (int j = i; j > 0 && v[j] > v[j - 1]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1], v[j - 1] = t;
        }
    return v;
}

/* The run id of a checkpoint file: 1 with id set ("" for version 1), 0 when it does not open
 * as a checkpoint. */
static int ckpt_id(const char *path, char *id, size_t cap) {
    hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
    char fmt[64] = "";
    int64_t ver = 0;
    int ok = f >= 0 && ddsp_h5_attr_get_str(f, "format", fmt, sizeof fmt) == DDSP_OK &&
             !strcmp(fmt, DDSP_CKPT_FORMAT) && ddsp_h5_attr_get_i64(f, "format_version", &ver) == DDSP_OK &&
             ver >= 1 && ver <= DDSP_CKPT_VERSION;
    id[0] = '\0';
    if (ok && ver >= 2) ok = ddsp_h5_attr_get_str(f, "run_id", id, cap) == DDSP_OK;
    if (f >= 0) H5Fclose(f);
    return ok;
}

int ddsp_ckpt_list(const char *run_dir, const char *run_id, int64_t **steps, int *n) {
    *steps = NULL, *n = 0;
    ddsp_h5_quiet();
    DIR *probe = opendir(run_dir);
    if (!probe) return ddsp_error("%s: cannot read the folder (%s)", run_dir, strerror(errno));
    closedir(probe);
    ddsp_run_settings rs;
    char want[24] = "";
    int any = run_id == NULL;
    if (run_id) snprintf(want, sizeof want, "%s", run_id);
    else if (ddsp_ckpt_run_read(run_dir, &rs) == DDSP_OK) any = 0, snprintf(want, sizeof want, "%s", rs.run_id);
    int m = 0;
    int64_t *all = list_steps(run_dir, &m);
    char path[PATH_MAX], id[24];
    for (int i = 0; i < m; i++) {
        ddsp_ckpt_path(path, sizeof path, run_dir, all[i]);
        if (!ckpt_id(path, id, sizeof id)) {
            ddsp_log("warning: %s does not open as a checkpoint: left alone (not counted, not "
                     "deleted)", path);
            continue;
        }
        if (any || !strcmp(id, want)) all[(*n)++] = all[i];
    }
    *steps = all;
    return DDSP_OK;
}

int ddsp_ckpt_latest(const char *run_dir, const char *run_id, char *path, size_t cap) {
    int n = 0;
    int64_t *steps = NULL;
    if (ddsp_ckpt_list(run_dir, run_id, &steps, &n)) return DDSP_ERR;
    int rc = n > 0 ? DDSP_OK : ddsp_error("%s: no checkpoint (ckpt-<step>.h5) of this run found", run_dir);
    if (n > 0) ddsp_ckpt_path(path, cap, run_dir, steps[0]);
    free(steps);
    return rc;
}

void ddsp_ckpt_prune(const char *run_dir, const char *run_id, int keep) {
    int n = 0;
    int64_t *steps = NULL;
    if (ddsp_ckpt_list(run_dir, run_id, &steps, &n)) return;
    char path[PATH_MAX];
    for (int i = keep < 1 ? 1 : keep; i < n; i++) {
        ddsp_ckpt_path(path, sizeof path, run_dir, steps[i]);
        unlink(path);
    }
    free(steps);
}
