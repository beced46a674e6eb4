/* A checkpoint's summary (ddsp/inspect.h): every part read on its own with the HDF5 C API, so
 * a partially broken file still shows what it holds; then the real reader (ddsp_ckpt_read)
 * loads it as training would, and its verdict comes first among the problems. */
#include "inspect/inspect_ckpt.h"
#include "ddsp/ckpt.h"
#include "ddsp/model.h"
#include "ddsp/synth.h"
#include "ddsp/util.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ reading */
static void read_vec(hid_t f, const char *name, insp_vec *v, insp_ckpt *s) {
    memset(v, 0, sizeof *v);
    if (!insp_has(f, name)) return;
    v->present = 1;
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = ds >= 0 ? H5Dget_space(ds) : -1;
    hsize_t d[8] = {0};
    int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (r == 1) H5Sget_simple_extent_dims(sp, d, NULL);
    int ok = r == 1;
    if (ok && d[0] > 0) {
        v->v = malloc(sizeof(double) * d[0]);
        ok = v->v && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v->v) >= 0;
    }
    if (ok) {
        v->n = (size_t)d[0];
    } else {
        free(v->v);
        v->v = NULL;
        insp_problem(&s->pr, "'/%s' is not a readable 1-D numeric dataset", name);
    }
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
}

static long long string_ds_size(hid_t loc, const char *name) {
    if (!insp_has(loc, name)) return -1;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t t = H5Dget_type(ds);
    long long n = H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) <= 0
                      ? (long long)H5Tget_size(t)
                      : -1;
    H5Tclose(t);
    H5Dclose(ds);
    if (n > 0) n--; /* the stored terminator */
    return n;
}

typedef struct {
    insp_ckpt *s;
    const char *file;
    int count_only, count;
} visit_ctx;

/* Every dataset under a group (names relative to it, depth first in name order). */
static herr_t tensor_cb(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)info;
    visit_ctx *c = op;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) return 0;
    const int is_ds = H5Iget_type(o) == H5I_DATASET;
    H5Oclose(o);
    if (!is_ds) return 0;
    c->count++;
    if (c->count_only) return 0;
    insp_ckpt *s = c->s;
    if (s->nt == s->tcap) {
        int cap = s->tcap ? 2 * s->tcap : 64;
        insp_tensor *t = realloc(s->t, sizeof(insp_tensor) * (size_t)cap);
        if (!t) return -1;
        s->t = t, s->tcap = cap;
    }
    insp_tensor *t = &s->t[s->nt++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    float *v = NULL;
    if (ddsp_h5_read_f32(g, c->file, name, &v, t->dims, &t->rank) == DDSP_OK) {
        t->readable = 1;
        t->n = 1;
        for (int i = 0; i < t->rank; i++)
            t->n *= (size_t)t->dims[i];
        double ss = 0;
        for (size_t i = 0; i < t->n; i++) {
            if (isfinite(v[i]))
                ss += (double)v[i] * v[i];
            else
                t->nonfinite++;
        }
        t->l2 = sqrt(ss);
        s->n_params += t->n;
        if (t->nonfinite)
            insp_problem(&s->pr, "tensor '%s' holds %zu non-finite value%s", name, t->nonfinite,
                         t->nonfinite == 1 ? "" : "s");
    } else {
        insp_problem(&s->pr, "tensor '%s' is unreadable", name);
    }
    ddsp_free(v);
    return 0;
}

static int visit_datasets(hid_t f, const char *grp, visit_ctx *c) {
    if (!insp_has(f, grp)) return 0;
    hid_t g = H5Gopen2(f, grp, H5P_DEFAULT);
    if (g < 0) return 0;
    H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, tensor_cb, c);
    H5Gclose(g);
    return 1;
}

static void read_examples(hid_t f, insp_ckpt *s) {
    hid_t g = H5Gopen2(f, "spectrograms", H5P_DEFAULT);
    if (g < 0) return;
    s->spec_nfft = s->spec_hop = -1;
    if (ddsp_h5_attr_get_i64(g, "n_fft", &s->spec_nfft) ||
        ddsp_h5_attr_get_i64(g, "hop", &s->spec_hop))
        insp_problem(&s->pr, "/spectrograms lacks its n_fft / hop attributes");
    for (int k = 0;; k++) {
        char name[32];
        snprintf(name, sizeof name, "example_%d", k);
        if (!insp_has(g, name)) break;
        if (s->n_ex == INSP_MAX_EXAMPLES) {
            s->more_ex++;
            continue;
        }
        insp_example *e = &s->ex[s->n_ex++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
        e->row = -1, e->dist = NAN;
        hid_t eg = H5Gopen2(g, name, H5P_DEFAULT);
        if (eg < 0) continue;
        if (ddsp_h5_attr_get_i64(eg, "example", &e->row)) e->row = -1;
        uint64_t dt[8] = {0}, dr[8] = {0}, da[8] = {0};
        const int rt = insp_ds_dims(eg, "target_logmag", dt),
                  rr = insp_ds_dims(eg, "recon_logmag", dr);
        if (insp_ds_dims(eg, "target_audio", da) == 1) e->N = da[0];
        e->ok = rt == 2 && rr == 2 && dt[0] == dr[0] && dt[1] == dr[1];
        if (e->ok) {
            e->F = dt[0], e->K = dt[1];
            float *a = NULL, *b = NULL;
            uint64_t d[8];
            int r;
            if (ddsp_h5_read_f32(eg, s->path, "target_logmag", &a, d, &r) == DDSP_OK &&
                ddsp_h5_read_f32(eg, s->path, "recon_logmag", &b, d, &r) == DDSP_OK) {
                double sum = 0;
                for (size_t i = 0; i < e->F * e->K; i++)
                    sum += fabs((double)a[i] - b[i]);
                e->dist = sum / (double)(e->F * e->K);
            } else {
                e->ok = 0;
            }
            ddsp_free(a), ddsp_free(b);
        }
        if (!e->ok)
            insp_problem(
                &s->pr, "/spectrograms/%s lacks readable target_logmag / recon_logmag of one shape",
                name);
        H5Gclose(eg);
    }
    H5Gclose(g);
}

/* The tensor table the configured model has (ddsp_model_init on the /config settings), to
 * name missing, unexpected and misshapen tensors. 0 when /config cannot describe a model. */
static int expected_model(const insp_ckpt *s, ddsp_model *m) {
    ddsp_model_config c;
    ddsp_model_config_preset(&c, "full");
    const double v[] = {insp_attr_num(&s->config, "model_hidden"),
                        insp_attr_num(&s->config, "model_gru_units"),
                        insp_attr_num(&s->config, "model_layers"),
                        insp_attr_num(&s->config, "model_ld_range"),
                        insp_attr_num(&s->config, "synth_sample_rate"),
                        insp_attr_num(&s->config, "synth_hop"),
                        insp_attr_num(&s->config, "synth_harmonics"),
                        insp_attr_num(&s->config, "synth_noise_bands"),
                        insp_attr_num(&s->config, "synth_reverb"),
                        insp_attr_num(&s->config, "synth_reverb_length")};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        if (!isfinite(v[i]) || fabs(v[i]) > 1e9) return 0;
    c.hidden = (int)v[0], c.gru_units = (int)v[1], c.n_layers = (int)v[2], c.ld_range = v[3];
    c.synth.sample_rate = (int)v[4], c.synth.hop = (int)v[5], c.synth.n_harmonics = (int)v[6];
    c.synth.n_noise_bands = (int)v[7], c.synth.reverb = (int)v[8],
    c.synth.reverb_length = (int)v[9];
    const insp_attr *ai = insp_find_attr(&s->config, "synth_amp_interp");
    if (ai && ai->kind == 's' && ddsp_synth_parse_amp_interp(&c.synth, ai->s)) return 0;
    /* the table only: a corrupt /config (model_hidden 8192) must not allocate gigabytes */
    return ddsp_model_config_check(&c) == DDSP_OK && ddsp_model_layout(m, &c) == DDSP_OK;
}

static void compare_tensors(insp_ckpt *s) {
    ddsp_model m;
    memset(&m, 0, sizeof m);
    if (!expected_model(s, &m)) {
        if (s->has_config)
            insp_problem(&s->pr, "/config does not describe a model this ddsp can build");
        return;
    }
    s->expected = m.n_tensors;
    for (int i = 0; i < m.n_tensors; i++) {
        const ddsp_tensor *e = &m.tensors[i];
        const insp_tensor *t = NULL;
        for (int j = 0; j < s->nt && !t; j++)
            if (!strcmp(s->t[j].name, e->name)) t = &s->t[j];
        if (!t) {
            insp_problem(&s->pr, "tensor '%s' is missing", e->name);
        } else if (t->readable && (t->rank != e->rank || t->dims[0] != e->shape[0] ||
                                   (e->rank > 1 && t->dims[1] != e->shape[1]))) {
            insp_problem(&s->pr, "tensor '%s' has shape %llu x %llu, the config says %zu x %zu",
                         e->name, (unsigned long long)t->dims[0],
                         (unsigned long long)(t->rank > 1 ? t->dims[1] : 1), e->shape[0],
                         e->rank > 1 ? e->shape[1] : (size_t)1);
        }
    }
    for (int j = 0; j < s->nt; j++)
        if (!ddsp_model_tensor(&m, s->t[j].name))
            insp_problem(&s->pr, "tensor '%s' is not part of the configured model", s->t[j].name);
}

/* Everything, part by part (the caller checked the format attribute). DDSP_ERR only when
 * the file cannot be opened. */
static int collect(const char *path, insp_ckpt *s) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->wisdom_f = s->wisdom_d = -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot open as HDF5 (truncated or damaged?)", path);
    if (ddsp_h5_attr_get_str(f, "format", s->format, sizeof s->format)) s->format[0] = '\0';
    s->has_format_version =
        ddsp_h5_attr_get_i64(f, "format_version", &s->format_version) == DDSP_OK;
    if (!s->has_format_version)
        insp_problem(&s->pr, "no format_version attribute");
    else if (s->format_version != DDSP_CKPT_VERSION)
        insp_problem(&s->pr, "format version %lld, this ddsp reads %d",
                     (long long)s->format_version, DDSP_CKPT_VERSION);
    if (ddsp_h5_attr_get_str(f, "ddsp_version", s->version, sizeof s->version))
        s->version[0] = '\0';
    s->has_step = ddsp_h5_attr_get_i64(f, "step", &s->step) == DDSP_OK;

    if (!(s->has_config = insp_read_attrs(f, "config", &s->config)))
        insp_problem(&s->pr, "no /config group");
    if (!(s->has_state = insp_read_attrs(f, "state", &s->state)))
        insp_problem(&s->pr, "no /state group (cannot resume)");
    s->has_stats = insp_read_attrs(f, "dataset_stats", &s->stats);
    if (s->has_state) {
        hid_t g = H5Gopen2(f, "state", H5P_DEFAULT);
        if (g >= 0) {
            s->wisdom_f = string_ds_size(g, "fftw_wisdom_float");
            s->wisdom_d = string_ds_size(g, "fftw_wisdom_double");
            H5Gclose(g);
        }
    }
    visit_ctx c = {s, path, 0, 0};
    if (!(s->has_model = visit_datasets(f, "model", &c)))
        insp_problem(&s->pr, "no /model group");
    else if (s->nt == 0)
        insp_problem(&s->pr, "/model holds no tensors");
    if (s->has_model) compare_tensors(s);

    s->has_opt = insp_has(f, "optimizer");
    if (s->has_opt) {
        hid_t g = H5Gopen2(f, "optimizer", H5P_DEFAULT);
        if (g >= 0) {
            s->has_opt_step = ddsp_h5_attr_get_i64(g, "step", &s->opt_step) == DDSP_OK;
            H5Gclose(g);
        }
        visit_ctx cm = {s, path, 1, 0}, cv = {s, path, 1, 0};
        visit_datasets(f, "optimizer/m", &cm);
        visit_datasets(f, "optimizer/v", &cv);
        s->opt_m = cm.count, s->opt_v = cv.count;
        const int want = s->expected ? s->expected : s->nt;
        if (s->opt_m != want || s->opt_v != want)
            insp_problem(&s->pr,
                         "optimizer moments for %d (m) and %d (v) tensors, the model has %d",
                         s->opt_m, s->opt_v, want);
    }

    s->has_hist = insp_has(f, "history");
    if (s->has_hist) {
        read_vec(f, "history/step", &s->h_step, s);
        read_vec(f, "history/train_loss", &s->h_loss, s);
        read_vec(f, "history/grad_norm", &s->h_gnorm, s);
        read_vec(f, "history/lr", &s->h_lr, s);
        read_vec(f, "history/audio_s_per_s", &s->h_aps, s);
        read_vec(f, "history/elapsed_s", &s->h_elapsed, s);
        read_vec(f, "history/valid_step", &s->v_step, s);
        read_vec(f, "history/valid_loss", &s->v_loss, s);
        const insp_vec *h[] = {&s->h_loss, &s->h_gnorm, &s->h_lr, &s->h_aps, &s->h_elapsed};
        for (int i = 0; i < 5; i++)
            if (h[i]->present && h[i]->n != s->h_step.n) {
                insp_problem(&s->pr, "/history datasets have different lengths");
                break;
            }
        if (s->v_step.n != s->v_loss.n)
            insp_problem(&s->pr, "/history valid_step and valid_loss differ in length");
    }
    s->has_spec = insp_has(f, "spectrograms");
    if (s->has_spec) read_examples(f, s);
    H5Fclose(f);

    /* the verdict of the reader training uses (everything it needs, shapes, finiteness) */
    ddsp_model m;
    ddsp_adam o;
    ddsp_ckpt_state st;
    ddsp_ckpt_history h;
    ddsp_loss_config loss;
    const int want_loss = insp_find_attr(&s->config, "loss_type") != NULL;
    if (ddsp_ckpt_read(path, &m, s->has_opt ? &o : NULL, s->has_state ? &st : NULL,
                       s->has_hist ? &h : NULL, want_loss ? &loss : NULL, 0) == DDSP_OK) {
        s->loads = 1;
        snprintf(s->load_msg, sizeof s->load_msg, "%d tensors%s", m.n_tensors,
                 s->has_opt ? " + Adam state" : "");
        ddsp_model_free(&m);
        if (s->has_opt) ddsp_adam_free(&o);
        if (s->has_hist) ddsp_ckpt_history_free(&h);
    } else {
        insp_reader_fails(&s->pr, path, "checkpoint", s->load_msg, sizeof s->load_msg);
    }
    return DDSP_OK;
}

static void summary_free(insp_ckpt *s) {
    free(s->config.a), free(s->state.a), free(s->stats.a), free(s->t);
    insp_vec *v[] = {&s->h_step, &s->h_loss,    &s->h_gnorm, &s->h_lr,
                     &s->h_aps,  &s->h_elapsed, &s->v_step,  &s->v_loss};
    for (int i = 0; i < 8; i++)
        free(v[i]->v);
}

int insp_checkpoint(const char *path, int json, FILE *o, int *n_problems, char *first, size_t cap) {
    insp_ckpt *s = malloc(sizeof *s); /* ~30 KB of problems and examples: not on the stack */
    if (!s) return ddsp_error("%s: out of memory", path);
    int rc = collect(path, s);
    if (rc == DDSP_OK) {
        if (json)
            insp_ckpt_print_json(o, s);
        else
            insp_ckpt_print_text(o, s);
        *n_problems = s->pr.n;
        snprintf(first, cap, "%s", s->pr.n ? s->pr.v[0] : "");
    }
    summary_free(s);
    free(s);
    return rc;
}
