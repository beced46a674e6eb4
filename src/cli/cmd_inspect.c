/* `ddsp inspect CKPT.h5 [--json]`: what is inside a checkpoint, for people and scripts.
 *
 * Every part is read on its own with the HDF5 C API, so a partially broken file still shows
 * what it holds; then the real reader (ddsp_ckpt_read) loads it as training would, and its
 * verdict is the "check" line. Exit 0 when the checkpoint is complete and loads, 1 when it
 * is not a checkpoint (one line on stderr, nothing else) or has problems (the summary on
 * stdout, the problems listed, one line on stderr). */
#include "cli/cli.h"
#include "ddsp/ckpt.h"
#include "ddsp/model.h"
#include "ddsp/synth.h"
#include "ddsp/util.h"

#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *HELP =
    "usage: ddsp inspect CKPT.h5|RUN_DIR [--json]\n"
    "\n"
    "Summary of a checkpoint: format and versions, the run's configuration (model, synth,\n"
    "loss, optimiser, run settings), step and data-order state, every tensor (shape, L2\n"
    "norm, parameter count), the loss history, the training data statistics and the\n"
    "monitoring examples. Then loads it with the same reader training uses. Given a run\n"
    "folder, inspects its newest checkpoint.\n"
    "\n"
    "options:\n"
    "  --json   print the same as one JSON object\n"
    "exit code: 0 complete and loadable; 1 not a checkpoint, or problems (listed).\n";

#define MAX_VALS 16
#define MAX_PROBLEMS 24
#define MAX_EXAMPLES 64

/* ------------------------------------------------------------------ what we collect */
typedef struct {
    char name[64];
    char kind; /* 'i' integers, 'f' floats, 's' string, '?' unreadable */
    size_t n;  /* values (up to MAX_VALS kept) */
    int64_t iv[MAX_VALS];
    double fv[MAX_VALS];
    char s[512];
} attr;

typedef struct {
    attr *a;
    int n, cap;
} attr_list;

typedef struct {
    char name[160];
    int rank, readable;
    uint64_t dims[8];
    size_t n, nonfinite;
    double l2;
} tensor;

typedef struct {
    char name[32];
    int64_t row;
    uint64_t F, K, N;
    int ok;
    double dist; /* mean |target - recon| of the log-magnitudes */
} example;

typedef struct {
    double *v;
    size_t n;
    int present;
} vec;

typedef struct {
    const char *path;
    char format[64], version[64];
    int64_t format_version, step;
    int has_format_version, has_step;
    int has_config, has_state, has_model, has_opt, has_hist, has_stats, has_spec;
    attr_list config, state, stats;
    long long wisdom_f, wisdom_d; /* bytes, -1 when absent */
    int64_t opt_step;
    int has_opt_step, opt_m, opt_v;
    tensor *t;
    int nt, tcap, expected; /* expected: tensors of the configured model (0: unknown) */
    size_t n_params;
    vec h_step, h_loss, h_gnorm, h_lr, h_aps, h_elapsed, v_step, v_loss;
    int64_t spec_nfft, spec_hop;
    example ex[MAX_EXAMPLES];
    int n_ex, more_ex;
    char problems[MAX_PROBLEMS][1100];
    int n_problems;
    int loads;
    char load_msg[1024];
} summary;

static void problem(summary *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(summary *s, const char *fmt, ...) {
    if (s->n_problems == MAX_PROBLEMS) return;
    va_list ap;
    va_start(ap, fmt);
    ddsp_vformat(s->problems[s->n_problems++], sizeof s->problems[0], fmt, ap);
    va_end(ap);
}

static int has(hid_t loc, const char *name) {
    return H5Lexists(loc, name, H5P_DEFAULT) > 0;
}

/* ------------------------------------------------------------------ reading */
static void read_attr(hid_t loc, const char *name, attr *a) {
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->kind = '?';
    hid_t h = H5Aopen(loc, name, H5P_DEFAULT);
    if (h < 0) return;
    hid_t t = H5Aget_type(h), sp = H5Aget_space(h);
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (np >= 1 && (cls == H5T_INTEGER || cls == H5T_FLOAT)) {
        void *buf = malloc((size_t)np * 8);
        if (buf &&
            H5Aread(h, cls == H5T_INTEGER ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, buf) >= 0) {
            a->kind = cls == H5T_INTEGER ? 'i' : 'f';
            a->n = (size_t)np;
            for (size_t i = 0; i < a->n && i < MAX_VALS; i++) {
                if (a->kind == 'i')
                    a->iv[i] = ((int64_t *)buf)[i];
                else
                    a->fv[i] = ((double *)buf)[i];
            }
        }
        free(buf);
    } else if (np == 1 && cls == H5T_STRING) {
        if (H5Tis_variable_str(t) > 0) {
            char *v = NULL;
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Aread(h, mt, &v) >= 0 && v) {
                snprintf(a->s, sizeof a->s, "%s", v);
                a->kind = 's', a->n = 1;
                H5free_memory(v);
            }
            H5Tclose(mt);
        } else if (ddsp_h5_attr_get_str(loc, name, a->s, sizeof a->s) == DDSP_OK) {
            a->kind = 's', a->n = 1;
        }
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(h);
}

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *op) {
    (void)info;
    attr_list *l = op;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        attr *a = realloc(l->a, sizeof(attr) * (size_t)cap);
        if (!a) return -1;
        l->a = a, l->cap = cap;
    }
    read_attr(loc, name, &l->a[l->n++]);
    return 0;
}

/* All attributes of group `grp`, in name order. 0 when the group is missing. */
static int read_attrs(hid_t f, const char *grp, attr_list *out) {
    if (!has(f, grp)) return 0;
    hid_t g = H5Gopen2(f, grp, H5P_DEFAULT);
    if (g < 0) return 0;
    hsize_t idx = 0;
    H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, out);
    H5Gclose(g);
    return 1;
}

static const attr *find_attr(const attr_list *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->a[i].name, name)) return &l->a[i];
    return NULL;
}

static double attr_num(const attr_list *l, const char *name) {
    const attr *a = find_attr(l, name);
    if (!a || a->n != 1) return NAN;
    return a->kind == 'i' ? (double)a->iv[0] : a->kind == 'f' ? a->fv[0] : NAN;
}

/* A 1-D numeric dataset as doubles (empty is fine). */
static void read_vec(hid_t f, const char *path, const char *name, vec *v, summary *s) {
    memset(v, 0, sizeof *v);
    if (!has(f, name)) return;
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
        problem(s, "'/%s' is not a readable 1-D numeric dataset", name);
    }
    (void)path;
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
}

static long long string_ds_size(hid_t loc, const char *name) {
    if (!has(loc, name)) return -1;
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
    summary *s;
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
    summary *s = c->s;
    if (s->nt == s->tcap) {
        int cap = s->tcap ? 2 * s->tcap : 64;
        tensor *t = realloc(s->t, sizeof(tensor) * (size_t)cap);
        if (!t) return -1;
        s->t = t, s->tcap = cap;
    }
    tensor *t = &s->t[s->nt++];
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
            problem(s, "tensor '%s' holds %zu non-finite value%s", name, t->nonfinite,
                    t->nonfinite == 1 ? "" : "s");
    } else {
        problem(s, "tensor '%s' is unreadable", name);
    }
    ddsp_free(v);
    return 0;
}

static int visit_datasets(hid_t f, const char *grp, visit_ctx *c) {
    if (!has(f, grp)) return 0;
    hid_t g = H5Gopen2(f, grp, H5P_DEFAULT);
    if (g < 0) return 0;
    H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, tensor_cb, c);
    H5Gclose(g);
    return 1;
}

/* Dimensions of a dataset without reading it; its rank, or -1. */
static int ds_dims(hid_t loc, const char *name, uint64_t *dims) {
    if (!has(loc, name)) return -1;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t d[8];
    int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (r > 0 && r <= 8) H5Sget_simple_extent_dims(sp, d, NULL);
    for (int i = 0; i < r && i < 8; i++)
        dims[i] = d[i];
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return r;
}

static void read_examples(hid_t f, summary *s) {
    hid_t g = H5Gopen2(f, "spectrograms", H5P_DEFAULT);
    if (g < 0) return;
    s->spec_nfft = s->spec_hop = -1;
    if (ddsp_h5_attr_get_i64(g, "n_fft", &s->spec_nfft) ||
        ddsp_h5_attr_get_i64(g, "hop", &s->spec_hop))
        problem(s, "/spectrograms lacks its n_fft / hop attributes");
    for (int k = 0;; k++) {
        char name[32];
        snprintf(name, sizeof name, "example_%d", k);
        if (!has(g, name)) break;
        if (s->n_ex == MAX_EXAMPLES) {
            s->more_ex++;
            continue;
        }
        example *e = &s->ex[s->n_ex++];
        memset(e, 0, sizeof *e);
        snprintf(e->name, sizeof e->name, "%s", name);
        e->row = -1, e->dist = NAN;
        hid_t eg = H5Gopen2(g, name, H5P_DEFAULT);
        if (eg < 0) continue;
        if (ddsp_h5_attr_get_i64(eg, "example", &e->row)) e->row = -1;
        uint64_t dt[8] = {0}, dr[8] = {0}, da[8] = {0};
        const int rt = ds_dims(eg, "target_logmag", dt), rr = ds_dims(eg, "recon_logmag", dr);
        if (ds_dims(eg, "target_audio", da) == 1) e->N = da[0];
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
            problem(s, "/spectrograms/%s lacks readable target_logmag / recon_logmag of one shape",
                    name);
        H5Gclose(eg);
    }
    H5Gclose(g);
}

/* The tensor table the configured model has (ddsp_model_init on the /config settings), to
 * name missing, unexpected and misshapen tensors. 0 when /config cannot describe a model. */
static int expected_model(const summary *s, ddsp_model *m) {
    ddsp_model_config c;
    ddsp_model_config_preset(&c, "full");
    const double v[] = {
        attr_num(&s->config, "model_hidden"),      attr_num(&s->config, "model_gru_units"),
        attr_num(&s->config, "model_layers"),      attr_num(&s->config, "model_ld_range"),
        attr_num(&s->config, "synth_sample_rate"), attr_num(&s->config, "synth_hop"),
        attr_num(&s->config, "synth_harmonics"),   attr_num(&s->config, "synth_noise_bands"),
        attr_num(&s->config, "synth_reverb"),      attr_num(&s->config, "synth_reverb_length")};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        if (!isfinite(v[i]) || fabs(v[i]) > 1e9) return 0;
    c.hidden = (int)v[0], c.gru_units = (int)v[1], c.n_layers = (int)v[2], c.ld_range = v[3];
    c.synth.sample_rate = (int)v[4], c.synth.hop = (int)v[5], c.synth.n_harmonics = (int)v[6];
    c.synth.n_noise_bands = (int)v[7], c.synth.reverb = (int)v[8],
    c.synth.reverb_length = (int)v[9];
    const attr *ai = find_attr(&s->config, "synth_amp_interp");
    if (ai && ai->kind == 's' && ddsp_synth_parse_amp_interp(&c.synth, ai->s)) return 0;
    /* the table only: a corrupt /config (model_hidden 8192) must not allocate gigabytes */
    return ddsp_model_config_check(&c) == DDSP_OK && ddsp_model_layout(m, &c) == DDSP_OK;
}

static void compare_tensors(summary *s) {
    ddsp_model m;
    memset(&m, 0, sizeof m);
    if (!expected_model(s, &m)) {
        if (s->has_config) problem(s, "/config does not describe a model this ddsp can build");
        return;
    }
    s->expected = m.n_tensors;
    for (int i = 0; i < m.n_tensors; i++) {
        const ddsp_tensor *e = &m.tensors[i];
        const tensor *t = NULL;
        for (int j = 0; j < s->nt && !t; j++)
            if (!strcmp(s->t[j].name, e->name)) t = &s->t[j];
        if (!t) {
            problem(s, "tensor '%s' is missing", e->name);
        } else if (t->readable && (t->rank != e->rank || t->dims[0] != e->shape[0] ||
                                   (e->rank > 1 && t->dims[1] != e->shape[1]))) {
            problem(s, "tensor '%s' has shape %llu x %llu, the config says %zu x %zu", e->name,
                    (unsigned long long)t->dims[0],
                    (unsigned long long)(t->rank > 1 ? t->dims[1] : 1), e->shape[0],
                    e->rank > 1 ? e->shape[1] : (size_t)1);
        }
    }
    for (int j = 0; j < s->nt; j++)
        if (!ddsp_model_tensor(&m, s->t[j].name))
            problem(s, "tensor '%s' is not part of the configured model", s->t[j].name);
}

/* Everything, part by part. DDSP_ERR only when the file is not a checkpoint at all. */
static int collect(const char *path, summary *s) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->wisdom_f = s->wisdom_d = -1;
    ddsp_h5_quiet();
    if (access(path, F_OK) != 0) return ddsp_error("%s: no such file", path);
    if (access(path, R_OK) != 0) return ddsp_error("%s: not readable (permission denied)", path);
    if (H5Fis_hdf5(path) <= 0) return ddsp_error("%s: not an HDF5 file (a checkpoint is)", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot open as HDF5 (truncated or damaged?)", path);
    if (ddsp_h5_attr_get_str(f, "format", s->format, sizeof s->format) ||
        strcmp(s->format, DDSP_CKPT_FORMAT)) {
        H5Fclose(f);
        return ddsp_error("%s: not a ddsp checkpoint (format attribute '%s'; checkpoints are "
                          "the ckpt-<step>.h5 files of a run folder)",
                          path, s->format[0] ? s->format : "missing");
    }
    s->has_format_version =
        ddsp_h5_attr_get_i64(f, "format_version", &s->format_version) == DDSP_OK;
    if (!s->has_format_version)
        problem(s, "no format_version attribute");
    else if (s->format_version != DDSP_CKPT_VERSION)
        problem(s, "format version %lld, this ddsp reads %d", (long long)s->format_version,
                DDSP_CKPT_VERSION);
    if (ddsp_h5_attr_get_str(f, "ddsp_version", s->version, sizeof s->version))
        s->version[0] = '\0';
    s->has_step = ddsp_h5_attr_get_i64(f, "step", &s->step) == DDSP_OK;

    if (!(s->has_config = read_attrs(f, "config", &s->config))) problem(s, "no /config group");
    if (!(s->has_state = read_attrs(f, "state", &s->state)))
        problem(s, "no /state group (cannot resume)");
    s->has_stats = read_attrs(f, "dataset_stats", &s->stats);
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
        problem(s, "no /model group");
    else if (s->nt == 0)
        problem(s, "/model holds no tensors");
    if (s->has_model) compare_tensors(s);

    s->has_opt = has(f, "optimizer");
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
            problem(s, "optimizer moments for %d (m) and %d (v) tensors, the model has %d",
                    s->opt_m, s->opt_v, want);
    }

    s->has_hist = has(f, "history");
    if (s->has_hist) {
        read_vec(f, path, "history/step", &s->h_step, s);
        read_vec(f, path, "history/train_loss", &s->h_loss, s);
        read_vec(f, path, "history/grad_norm", &s->h_gnorm, s);
        read_vec(f, path, "history/lr", &s->h_lr, s);
        read_vec(f, path, "history/audio_s_per_s", &s->h_aps, s);
        read_vec(f, path, "history/elapsed_s", &s->h_elapsed, s);
        read_vec(f, path, "history/valid_step", &s->v_step, s);
        read_vec(f, path, "history/valid_loss", &s->v_loss, s);
        const vec *h[] = {&s->h_loss, &s->h_gnorm, &s->h_lr, &s->h_aps, &s->h_elapsed};
        for (int i = 0; i < 5; i++)
            if (h[i]->present && h[i]->n != s->h_step.n) {
                problem(s, "/history datasets have different lengths");
                break;
            }
        if (s->v_step.n != s->v_loss.n)
            problem(s, "/history valid_step and valid_loss differ in length");
    }
    s->has_spec = has(f, "spectrograms");
    if (s->has_spec) read_examples(f, s);
    H5Fclose(f);

    /* the verdict of the reader training uses (everything it needs, shapes, finiteness) */
    ddsp_model m;
    ddsp_adam o;
    ddsp_ckpt_state st;
    ddsp_history h;
    ddsp_mss_config loss;
    const int want_loss = find_attr(&s->config, "loss_type") != NULL;
    if (ddsp_ckpt_read(path, &m, s->has_opt ? &o : NULL, s->has_state ? &st : NULL,
                       s->has_hist ? &h : NULL, want_loss ? &loss : NULL, 0) == DDSP_OK) {
        s->loads = 1;
        snprintf(s->load_msg, sizeof s->load_msg, "%d tensors%s", m.n_tensors,
                 s->has_opt ? " + Adam state" : "");
        ddsp_model_free(&m);
        if (s->has_opt) ddsp_adam_free(&o);
        if (s->has_hist) ddsp_history_free(&h);
    } else {
        const char *msg = ddsp_last_error();
        size_t pl = strlen(path);
        if (!strncmp(msg, path, pl) && msg[pl] == ':') msg += pl + 2;
        snprintf(s->load_msg, sizeof s->load_msg, "%.*s", (int)sizeof s->load_msg - 1, msg);
        /* first: it is the verdict that matters (the one line printed on stderr) */
        if (s->n_problems == MAX_PROBLEMS) s->n_problems--;
        memmove(s->problems[1], s->problems[0], sizeof s->problems[0] * (size_t)s->n_problems);
        s->n_problems++;
        snprintf(s->problems[0], sizeof s->problems[0], "the checkpoint reader fails: %.*s",
                 (int)sizeof s->problems[0] - 40, s->load_msg);
    }
    return DDSP_OK;
}

static void summary_free(summary *s) {
    free(s->config.a), free(s->state.a), free(s->stats.a), free(s->t);
    vec *v[] = {&s->h_step, &s->h_loss,    &s->h_gnorm, &s->h_lr,
                &s->h_aps,  &s->h_elapsed, &s->v_step,  &s->v_loss};
    for (int i = 0; i < 8; i++)
        free(v[i]->v);
}

/* ------------------------------------------------------------------ history statistics */
typedef struct {
    size_t n;
    double first, last, best, first_step, last_step, best_step;
} curve;

static curve curve_of(const vec *step, const vec *y) {
    curve c = {0, NAN, NAN, NAN, NAN, NAN, NAN};
    const size_t n = step->n < y->n ? step->n : y->n;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y->v[i])) continue;
        if (c.n == 0)
            c.first = y->v[i], c.first_step = step->v[i], c.best = y->v[i],
            c.best_step = step->v[i];
        if (y->v[i] < c.best) c.best = y->v[i], c.best_step = step->v[i];
        c.last = y->v[i], c.last_step = step->v[i];
        c.n++;
    }
    return c;
}

static double last_finite(const vec *v) {
    for (size_t i = v->n; i-- > 0;)
        if (isfinite(v->v[i])) return v->v[i];
    return NAN;
}

/* Config sections by key prefix; "run" takes the rest (free-form settings of the trainer). */
static const struct {
    const char *prefix, *title;
} SECTIONS[] = {{"model_", "model"},
                {"synth_", "synth"},
                {"loss_", "loss"},
                {"adam_", "optimiser"},
                {"", "run"}};

static int in_section(const char *key, int sec) {
    if (!strcmp(key, "ddsp_version")) return 0; /* shown at the top */
    if (SECTIONS[sec].prefix[0])
        return !strncmp(key, SECTIONS[sec].prefix, strlen(SECTIONS[sec].prefix));
    for (int i = 0; i < 4; i++)
        if (!strncmp(key, SECTIONS[i].prefix, strlen(SECTIONS[i].prefix))) return 0;
    return 1;
}

/* ------------------------------------------------------------------ text */
static void fmt_value(char *buf, size_t cap, const attr *a) {
    size_t o = 0;
    buf[0] = '\0';
    if (a->kind == 's') {
        snprintf(buf, cap, "%s", a->s);
        return;
    }
    if (a->kind == '?') {
        snprintf(buf, cap, "(unreadable)");
        return;
    }
    for (size_t i = 0; i < a->n && i < MAX_VALS && o < cap; i++) {
        if (a->kind == 'i')
            o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)a->iv[i]);
        else
            o += isfinite(a->fv[i]) ? (size_t)snprintf(buf + o, cap - o, "%s%.6g", i ? "," : "", a->fv[i])
                                    : (size_t)snprintf(buf + o, cap - o, "%sn/a", i ? "," : "");
    }
    if (a->n > MAX_VALS && o < cap) snprintf(buf + o, cap - o, ",... (%zu values)", a->n);
}

/* "key value, key value, ..." wrapped at 100 columns under a 13-column label. */
static void print_wrapped(const char *label, const attr_list *l, int sec, const char *strip) {
    int col = printf("  %-11s", label), first = 1;
    for (int i = 0; i < l->n; i++) {
        if (sec >= 0 && !in_section(l->a[i].name, sec)) continue;
        char v[600], item[700];
        fmt_value(v, sizeof v, &l->a[i]);
        const char *k = l->a[i].name;
        if (strip && !strncmp(k, strip, strlen(strip))) k += strlen(strip);
        int len = snprintf(item, sizeof item, "%s %s", k, v);
        if (!first && col + 2 + len > 100)
            col = printf(",\n%13s", "") - 2;
        else if (!first)
            col += printf(", ");
        col += printf("%s", item);
        first = 0;
    }
    printf("%s\n", first ? "(none)" : "");
}

static void fmt_secs(char *buf, size_t cap, double s) {
    if (!isfinite(s))
        snprintf(buf, cap, "?");
    else if (s < 120)
        snprintf(buf, cap, "%.1f s", s);
    else if (s < 7200)
        snprintf(buf, cap, "%.1f min", s / 60);
    else
        snprintf(buf, cap, "%.1f h", s / 3600);
}

static void fmt_shape(char *buf, size_t cap, const tensor *t) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < t->rank && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%llu", i ? " x " : "",
                              (unsigned long long)t->dims[i]);
    if (t->rank == 0) snprintf(buf, cap, "scalar");
}

static void print_text(const summary *s) {
    printf("checkpoint   %s\n", s->path);
    printf("format       %s, version %lld, written by ddsp %s\n", s->format,
           s->has_format_version ? (long long)s->format_version : -1LL,
           s->version[0] ? s->version : "?");
    if (s->has_step)
        printf("step         %lld (optimiser updates done)\n", (long long)s->step);
    else
        printf("step         ? (no step attribute)\n");

    printf("\nconfig\n");
    if (!s->has_config)
        printf("  (missing)\n");
    else
        for (int sec = 0; sec < 5; sec++)
            print_wrapped(SECTIONS[sec].title, &s->config, sec, SECTIONS[sec].prefix);

    printf("\nstate\n");
    if (!s->has_state) {
        printf("  (missing)\n");
    } else {
        const double ep = attr_num(&s->state, "epoch"), pos = attr_num(&s->state, "epoch_position");
        const double seed = attr_num(&s->state, "seed"), nr = attr_num(&s->state, "n_ranks");
        printf("  data order epoch %.0f, %.0f examples into it; order and noise from seed %.0f "
               "(counter-based RNG)\n",
               ep, pos, seed);
        printf("  ranks      %.0f (global batch split across them)\n", nr);
        if (s->wisdom_f >= 0 || s->wisdom_d >= 0)
            printf("  FFT plans  FFTW wisdom stored: %lld bytes float, %lld bytes double\n",
                   s->wisdom_f, s->wisdom_d);
        else
            printf("  FFT plans  no FFTW wisdom stored\n");
    }
    if (s->has_opt)
        printf("  optimiser  Adam at step %s%lld, moments m and v for %d and %d tensors\n",
               s->has_opt_step ? "" : "? ", s->has_opt_step ? (long long)s->opt_step : 0LL,
               s->opt_m, s->opt_v);
    else
        printf("  optimiser  no /optimizer (model only: resuming restarts Adam)\n");

    printf("\ntensors      %d tensors", s->nt);
    if (s->expected && s->expected != s->nt) printf(" (the config has %d)", s->expected);
    printf(", %zu parameters", s->n_params);
    const double nw = attr_num(&s->config, "model_n_weights");
    if (isfinite(nw))
        printf(" (%s /config model_n_weights)",
               (size_t)nw == s->n_params ? "matches" : "DIFFERS FROM");
    printf("\n");
    int w = 4;
    for (int i = 0; i < s->nt; i++)
        if ((int)strlen(s->t[i].name) > w) w = (int)strlen(s->t[i].name);
    if (s->nt) printf("  %-*s  %-12s %10s %12s\n", w, "name", "shape", "values", "L2 norm");
    for (int i = 0; i < s->nt; i++) {
        const tensor *t = &s->t[i];
        char shape[64];
        fmt_shape(shape, sizeof shape, t);
        if (!t->readable)
            printf("  %-*s  (unreadable)\n", w, t->name);
        else if (t->nonfinite)
            printf("  %-*s  %-12s %10zu %12s  (%zu NaN/Inf)\n", w, t->name, shape, t->n,
                   "non-finite", t->nonfinite);
        else
            printf("  %-*s  %-12s %10zu %12.6g\n", w, t->name, shape, t->n, t->l2);
    }

    printf("\nloss history\n");
    if (!s->has_hist) {
        printf("  (none)\n");
    } else {
        const curve tr = curve_of(&s->h_step, &s->h_loss), va = curve_of(&s->v_step, &s->v_loss);
        printf("  recorded   %zu steps", s->h_step.n);
        if (s->h_step.n) printf(" (%.0f .. %.0f)", s->h_step.v[0], s->h_step.v[s->h_step.n - 1]);
        printf(", %zu validations\n", s->v_step.n);
        if (tr.n)
            printf("  train      first %.6g (step %.0f), last %.6g (step %.0f), best %.6g (step "
                   "%.0f)\n",
                   tr.first, tr.first_step, tr.last, tr.last_step, tr.best, tr.best_step);
        if (va.n)
            printf("  validation first %.6g (step %.0f), last %.6g (step %.0f), best %.6g (step "
                   "%.0f)\n",
                   va.first, va.first_step, va.last, va.last_step, va.best, va.best_step);
        char el[32];
        fmt_secs(el, sizeof el, last_finite(&s->h_elapsed));
        if (s->h_step.n)
            printf("  speed      %.4g audio-s/s (mean since the run last started), elapsed %s, "
                   "last |grad| %.4g, "
                   "lr %.4g\n",
                   last_finite(&s->h_aps), el, last_finite(&s->h_gnorm), last_finite(&s->h_lr));
    }

    printf("\ndataset_stats (training data, for timbre transfer)\n");
    if (!s->has_stats)
        printf("  (none)\n");
    else
        print_wrapped("", &s->stats, -1, NULL);

    printf("\nspectrograms ");
    if (!s->has_spec) {
        printf("(none)\n");
    } else {
        const double sr = attr_num(&s->config, "synth_sample_rate");
        printf("%d monitoring example%s, log(|STFT| + 1e-5) at n_fft %lld, hop %lld",
               s->n_ex + s->more_ex, s->n_ex + s->more_ex == 1 ? "" : "s", (long long)s->spec_nfft,
               (long long)s->spec_hop);
        if (sr > 0 && s->spec_nfft > 0)
            printf(" (%.0f / %.0f ms)", 1e3 * s->spec_nfft / sr, 1e3 * s->spec_hop / sr);
        printf("\n");
        for (int i = 0; i < s->n_ex; i++) {
            const example *e = &s->ex[i];
            printf("  %-10s dataset row %lld, ", e->name, (long long)e->row);
            if (!e->ok) {
                printf("(unreadable)\n");
                continue;
            }
            printf("%llu frames x %llu bins", (unsigned long long)e->F, (unsigned long long)e->K);
            if (e->N && sr > 0) printf(", %.2f s of audio", e->N / sr);
            printf(", mean |target - recon| %.4g\n", e->dist);
        }
    }

    printf("\ncheck        ");
    if (s->n_problems == 0) {
        printf("ok: complete; loads as training would (%s, all finite)\n", s->load_msg);
    } else {
        printf("%d problem%s\n", s->n_problems, s->n_problems == 1 ? "" : "s");
        for (int i = 0; i < s->n_problems; i++)
            printf("  - %s\n", s->problems[i]);
    }
}

/* ------------------------------------------------------------------ JSON */
typedef struct {
    int depth, n[16]; /* items written at each depth */
    int inline_from;  /* containers at this depth and deeper go on one line */
} jw;

static void jstr_raw(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p == '\n')
            printf("\\n");
        else if (*p == '\t')
            printf("\\t");
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void jkey(jw *j, const char *key) {
    if (j->n[j->depth]++) putchar(',');
    if (j->depth < j->inline_from)
        printf("\n%*s", 2 * j->depth, "");
    else if (j->n[j->depth] > 1)
        putchar(' ');
    if (key) {
        jstr_raw(key);
        printf(": ");
    }
}

static void jopen(jw *j, const char *key, char c) {
    jkey(j, key);
    putchar(c);
    j->n[++j->depth] = 0;
}

static void jclose(jw *j, char c) {
    const int had = j->n[j->depth];
    j->depth--;
    if (had && j->depth + 1 < j->inline_from) printf("\n%*s", 2 * j->depth, "");
    putchar(c);
}

static void jnum(jw *j, const char *key, double v) {
    jkey(j, key);
    if (isfinite(v))
        printf("%.10g", v);
    else
        printf("null");
}

static void jint(jw *j, const char *key, long long v) {
    jkey(j, key);
    printf("%lld", v);
}

static void jstr(jw *j, const char *key, const char *v) {
    jkey(j, key);
    jstr_raw(v);
}

static void jattr(jw *j, const char *key, const attr *a) {
    if (a->kind == 's') return jstr(j, key, a->s);
    if (a->kind == '?') {
        jkey(j, key);
        printf("null");
        return;
    }
    const int arr = a->n != 1;
    if (arr) {
        int save = j->inline_from;
        j->inline_from = j->depth + 1;
        jopen(j, key, '[');
        for (size_t i = 0; i < a->n && i < MAX_VALS; i++) {
            if (a->kind == 'i')
                jint(j, NULL, (long long)a->iv[i]);
            else
                jnum(j, NULL, a->fv[i]);
        }
        jclose(j, ']');
        j->inline_from = save;
    } else if (a->kind == 'i') {
        jint(j, key, (long long)a->iv[0]);
    } else {
        jnum(j, key, a->fv[0]);
    }
}

static void jcurve(jw *j, const char *key, const curve *c) {
    jopen(j, key, '{');
    jint(j, "n", (long long)c->n);
    jnum(j, "first", c->first), jnum(j, "first_step", c->first_step);
    jnum(j, "last", c->last), jnum(j, "last_step", c->last_step);
    jnum(j, "best", c->best), jnum(j, "best_step", c->best_step);
    jclose(j, '}');
}

static void print_json(const summary *s) {
    jw j = {1, {0}, 99}; /* inside the top-level object */
    putchar('{');
    jstr(&j, "file", s->path);
    jstr(&j, "format", s->format);
    if (s->has_format_version)
        jint(&j, "format_version", (long long)s->format_version);
    else
        jnum(&j, "format_version", NAN);
    jstr(&j, "ddsp_version", s->version);
    if (s->has_step)
        jint(&j, "step", (long long)s->step);
    else
        jnum(&j, "step", NAN);

    jopen(&j, "config", '{');
    if (s->has_config)
        for (int sec = 0; sec < 5; sec++) {
            jopen(&j, SECTIONS[sec].title, '{');
            for (int i = 0; i < s->config.n; i++) {
                if (!in_section(s->config.a[i].name, sec)) continue;
                jattr(&j, s->config.a[i].name + strlen(SECTIONS[sec].prefix), &s->config.a[i]);
            }
            jclose(&j, '}');
        }
    jclose(&j, '}');

    jopen(&j, "state", '{');
    for (int i = 0; i < s->state.n; i++)
        jattr(&j, s->state.a[i].name, &s->state.a[i]);
    if (s->wisdom_f >= 0) jint(&j, "fftw_wisdom_float_bytes", s->wisdom_f);
    if (s->wisdom_d >= 0) jint(&j, "fftw_wisdom_double_bytes", s->wisdom_d);
    jclose(&j, '}');

    jopen(&j, "optimizer", '{');
    jkey(&j, "present");
    printf(s->has_opt ? "true" : "false");
    if (s->has_opt) {
        if (s->has_opt_step) jint(&j, "step", (long long)s->opt_step);
        jint(&j, "m_tensors", s->opt_m), jint(&j, "v_tensors", s->opt_v);
    }
    jclose(&j, '}');

    jint(&j, "n_tensors", s->nt);
    if (s->expected) jint(&j, "n_tensors_expected", s->expected);
    jint(&j, "n_params", (long long)s->n_params);
    jopen(&j, "tensors", '[');
    j.inline_from = j.depth + 1;
    for (int i = 0; i < s->nt; i++) {
        const tensor *t = &s->t[i];
        jopen(&j, NULL, '{');
        jstr(&j, "name", t->name);
        jopen(&j, "shape", '[');
        for (int d = 0; d < t->rank; d++)
            jint(&j, NULL, (long long)t->dims[d]);
        jclose(&j, ']');
        jint(&j, "size", (long long)t->n);
        jnum(&j, "l2", t->readable && !t->nonfinite ? t->l2 : NAN);
        jint(&j, "nonfinite", (long long)t->nonfinite);
        jclose(&j, '}');
    }
    j.inline_from = 99;
    jclose(&j, ']');

    jopen(&j, "history", '{');
    if (s->has_hist) {
        const curve tr = curve_of(&s->h_step, &s->h_loss), va = curve_of(&s->v_step, &s->v_loss);
        jint(&j, "steps_recorded", (long long)s->h_step.n);
        jcurve(&j, "train_loss", &tr);
        jcurve(&j, "valid_loss", &va);
        jnum(&j, "audio_s_per_s", last_finite(&s->h_aps));
        jnum(&j, "elapsed_s", last_finite(&s->h_elapsed));
        jnum(&j, "grad_norm_last", last_finite(&s->h_gnorm));
        jnum(&j, "lr_last", last_finite(&s->h_lr));
    }
    jclose(&j, '}');

    jopen(&j, "dataset_stats", '{');
    for (int i = 0; i < s->stats.n; i++)
        jattr(&j, s->stats.a[i].name, &s->stats.a[i]);
    jclose(&j, '}');

    jopen(&j, "spectrograms", '{');
    if (s->has_spec) {
        jint(&j, "n_fft", (long long)s->spec_nfft);
        jint(&j, "hop", (long long)s->spec_hop);
        jint(&j, "n_examples", s->n_ex + s->more_ex);
        jopen(&j, "examples", '[');
        j.inline_from = j.depth + 1;
        for (int i = 0; i < s->n_ex; i++) {
            const example *e = &s->ex[i];
            jopen(&j, NULL, '{');
            jstr(&j, "name", e->name);
            jint(&j, "row", (long long)e->row);
            jint(&j, "frames", (long long)e->F), jint(&j, "bins", (long long)e->K);
            jint(&j, "samples", (long long)e->N);
            jnum(&j, "mean_abs_logmag_diff", e->dist);
            jclose(&j, '}');
        }
        j.inline_from = 99;
        jclose(&j, ']');
    }
    jclose(&j, '}');

    jkey(&j, "ok");
    printf(s->n_problems ? "false" : "true");
    jopen(&j, "problems", '[');
    for (int i = 0; i < s->n_problems; i++)
        jstr(&j, NULL, s->problems[i]);
    jclose(&j, ']');
    printf("\n}\n");
}

/* --json and a failure before any summary: scripts still get one JSON object on stdout. */
static void print_json_error(const char *path, const char *msg) {
    printf("{\n  \"file\": ");
    jstr_raw(path ? path : "");
    printf(",\n  \"ok\": false,\n  \"error\": ");
    jstr_raw(msg);
    printf("\n}\n");
    fflush(stdout);
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            cli_fail("inspect", "unknown option '%s' (see ddsp inspect --help)", argv[i]);
            return EXIT_USAGE;
        } else if (path) {
            cli_fail("inspect", "expected one checkpoint, got a second file '%s'", argv[i]);
            return EXIT_USAGE;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        cli_fail("inspect", "expected a checkpoint file (see ddsp inspect --help)");
        return EXIT_USAGE;
    }
    char latest[4200];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) { /* a run folder: its newest checkpoint */
        if (ddsp_ckpt_latest(path, NULL, latest, sizeof latest)) {
            if (json) print_json_error(path, ddsp_last_error());
            cli_fail("inspect", "%s", ddsp_last_error());
            return EXIT_FAIL;
        }
        path = latest;
    }
    summary s;
    if (collect(path, &s)) {
        if (json) print_json_error(path, ddsp_last_error());
        cli_fail("inspect", "%s", ddsp_last_error());
        summary_free(&s);
        return EXIT_FAIL;
    }
    if (json)
        print_json(&s);
    else
        print_text(&s);
    fflush(stdout);
    int rc = EXIT_OK;
    if (s.n_problems) {
        cli_fail("inspect", "%s: %d problem%s: %s%s", path, s.n_problems,
                 s.n_problems == 1 ? "" : "s", s.problems[0],
                 s.n_problems > 1 ? " (and more, listed above)" : "");
        rc = EXIT_FAIL;
    }
    summary_free(&s);
    return rc;
}
