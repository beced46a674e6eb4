/* `ddsp inspect` as a library call: tell a checkpoint from a dataset by its format attribute
 * and hand it to its summary (inspect_ckpt.c, inspect_dataset.c); and the pieces both share:
 * attributes of any type, the problem list, wrapped "key value" text and a small JSON writer. */
#include "ddsp/inspect.h"
#include "ddsp/ckpt.h"
#include "ddsp/data.h"
#include "ddsp/util.h"
#include "inspect/inspect_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ problems */
void insp_problem(insp_problems *p, const char *fmt, ...) {
    if (p->n == INSP_MAX_PROBLEMS) return;
    va_list ap;
    va_start(ap, fmt);
    ddsp_vformat(p->v[p->n++], sizeof p->v[0], fmt, ap);
    va_end(ap);
}

void insp_reader_fails(insp_problems *p, const char *path, const char *who, char *msg, size_t cap) {
    const char *m = ddsp_last_error();
    const size_t pl = strlen(path);
    if (!strncmp(m, path, pl) && m[pl] == ':') m += pl + 2;
    snprintf(msg, cap, "%.*s", (int)cap - 1, m);
    /* first: it is the verdict that matters (the one line printed on stderr) */
    if (p->n == INSP_MAX_PROBLEMS) p->n--;
    memmove(p->v[1], p->v[0], sizeof p->v[0] * (size_t)p->n);
    p->n++;
    snprintf(p->v[0], sizeof p->v[0], "the %s reader fails: %.*s", who, (int)sizeof p->v[0] - 40,
             msg);
}

/* ------------------------------------------------------------------ attributes */
int insp_has(hid_t loc, const char *name) {
    return H5Lexists(loc, name, H5P_DEFAULT) > 0;
}

static void read_attr(hid_t loc, const char *name, insp_attr *a) {
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
            for (size_t i = 0; i < a->n && i < INSP_MAX_VALS; i++) {
                if (a->kind == 'i')
                    a->iv[i] = ((int64_t *)buf)[i];
                else
                    a->fv[i] = ((double *)buf)[i];
            }
        }
        free(buf);
    } else if (np == 1 && cls == H5T_STRING) {
        if (ddsp_h5_attr_get_str(loc, name, a->s, sizeof a->s) == DDSP_OK) a->kind = 's', a->n = 1;
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(h);
}

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *info, void *op) {
    (void)info;
    insp_attr_list *l = op;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        insp_attr *a = realloc(l->a, sizeof(insp_attr) * (size_t)cap);
        if (!a) return -1;
        l->a = a, l->cap = cap;
    }
    read_attr(loc, name, &l->a[l->n++]);
    return 0;
}

int insp_read_attrs(hid_t f, const char *grp, insp_attr_list *out) {
    if (strcmp(grp, ".") && !insp_has(f, grp)) return 0;
    hid_t g = H5Gopen2(f, grp, H5P_DEFAULT);
    if (g < 0) return 0;
    hsize_t idx = 0;
    H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, out);
    H5Gclose(g);
    return 1;
}

const insp_attr *insp_find_attr(const insp_attr_list *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->a[i].name, name)) return &l->a[i];
    return NULL;
}

double insp_attr_num(const insp_attr_list *l, const char *name) {
    const insp_attr *a = insp_find_attr(l, name);
    if (!a || a->n != 1) return NAN;
    return a->kind == 'i' ? (double)a->iv[0] : a->kind == 'f' ? a->fv[0] : NAN;
}

int insp_ds_dims(hid_t loc, const char *name, uint64_t *dims) {
    if (!insp_has(loc, name)) return -1;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t d[8];
    int r = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (r > 8) r = -1;
    if (r > 0) H5Sget_simple_extent_dims(sp, d, NULL);
    for (int i = 0; i < r; i++)
        dims[i] = d[i];
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return r;
}

/* ------------------------------------------------------------------ text */
void insp_fmt_value(char *buf, size_t cap, const insp_attr *a) {
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
    for (size_t i = 0; i < a->n && i < INSP_MAX_VALS && o < cap; i++) {
        if (a->kind == 'i')
            o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? "," : "", (long long)a->iv[i]);
        else if (isfinite(a->fv[i]))
            o += (size_t)snprintf(buf + o, cap - o, "%s%.6g", i ? "," : "", a->fv[i]);
        else
            o += (size_t)snprintf(buf + o, cap - o, "%sn/a", i ? "," : "");
    }
    if (a->n > INSP_MAX_VALS && o < cap) snprintf(buf + o, cap - o, ",... (%zu values)", a->n);
}

void insp_print_wrapped(FILE *o, const char *label, const insp_attr_list *l,
                        int (*keep)(const char *key, int arg), int arg, const char *strip) {
    int col = fprintf(o, "  %-11s", label), first = 1;
    for (int i = 0; i < l->n; i++) {
        if (keep && !keep(l->a[i].name, arg)) continue;
        char v[600], item[700];
        insp_fmt_value(v, sizeof v, &l->a[i]);
        const char *k = l->a[i].name;
        if (strip && !strncmp(k, strip, strlen(strip))) k += strlen(strip);
        int len = snprintf(item, sizeof item, "%s %s", k, v);
        if (!first && col + 2 + len > 100)
            col = fprintf(o, ",\n%13s", "") - 2;
        else if (!first)
            col += fprintf(o, ", ");
        col += fprintf(o, "%s", item);
        first = 0;
    }
    fprintf(o, "%s\n", first ? "(none)" : "");
}

/* ------------------------------------------------------------------ JSON */
void insp_jstr_raw(FILE *o, const char *s) {
    fputc('"', o);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(o, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", o);
        else if (*p == '\t')
            fputs("\\t", o);
        else if (*p < 0x20)
            fprintf(o, "\\u%04x", *p);
        else
            fputc(*p, o);
    }
    fputc('"', o);
}

void insp_json_begin(insp_json *j, FILE *o) {
    memset(j, 0, sizeof *j);
    j->o = o, j->depth = 1, j->inline_from = 99; /* inside the top-level object */
    fputc('{', o);
}

void insp_json_end(insp_json *j) {
    fputs("\n}\n", j->o);
}

void insp_jkey(insp_json *j, const char *key) {
    if (j->n[j->depth]++) fputc(',', j->o);
    if (j->depth < j->inline_from)
        fprintf(j->o, "\n%*s", 2 * j->depth, "");
    else if (j->n[j->depth] > 1)
        fputc(' ', j->o);
    if (key) {
        insp_jstr_raw(j->o, key);
        fputs(": ", j->o);
    }
}

void insp_jopen(insp_json *j, const char *key, char c) {
    insp_jkey(j, key);
    fputc(c, j->o);
    j->n[++j->depth] = 0;
}

void insp_jclose(insp_json *j, char c) {
    const int had = j->n[j->depth];
    j->depth--;
    if (had && j->depth + 1 < j->inline_from) fprintf(j->o, "\n%*s", 2 * j->depth, "");
    fputc(c, j->o);
}

void insp_jnum(insp_json *j, const char *key, double v) {
    insp_jkey(j, key);
    if (isfinite(v))
        fprintf(j->o, "%.10g", v);
    else
        fputs("null", j->o);
}

void insp_jint(insp_json *j, const char *key, long long v) {
    insp_jkey(j, key);
    fprintf(j->o, "%lld", v);
}

void insp_jbool(insp_json *j, const char *key, int v) {
    insp_jkey(j, key);
    fputs(v ? "true" : "false", j->o);
}

void insp_jstr(insp_json *j, const char *key, const char *v) {
    insp_jkey(j, key);
    insp_jstr_raw(j->o, v);
}

void insp_jattr(insp_json *j, const char *key, const insp_attr *a) {
    if (a->kind == 's') return insp_jstr(j, key, a->s);
    if (a->kind == '?') {
        insp_jkey(j, key);
        fputs("null", j->o);
        return;
    }
    if (a->n != 1) {
        int save = j->inline_from;
        j->inline_from = j->depth + 1;
        insp_jopen(j, key, '[');
        for (size_t i = 0; i < a->n && i < INSP_MAX_VALS; i++) {
            if (a->kind == 'i')
                insp_jint(j, NULL, (long long)a->iv[i]);
            else
                insp_jnum(j, NULL, a->fv[i]);
        }
        insp_jclose(j, ']');
        j->inline_from = save;
    } else if (a->kind == 'i') {
        insp_jint(j, key, (long long)a->iv[0]);
    } else {
        insp_jnum(j, key, a->fv[0]);
    }
}

void insp_jproblems(insp_json *j, const insp_problems *p) {
    insp_jbool(j, "ok", p->n == 0);
    insp_jopen(j, "problems", '[');
    for (int i = 0; i < p->n; i++)
        insp_jstr(j, NULL, p->v[i]);
    insp_jclose(j, ']');
}

/* ------------------------------------------------------------------ the entry */
/* --json and a failure before any summary: scripts still get one JSON object. */
static void json_error(FILE *o, const char *path, const char *msg) {
    fputs("{\n  \"file\": ", o);
    insp_jstr_raw(o, path ? path : "");
    fputs(",\n  \"ok\": false,\n  \"error\": ", o);
    insp_jstr_raw(o, msg);
    fputs("\n}\n", o);
    fflush(o);
}

/* The format attribute of PATH into fmt: DDSP_OK, or DDSP_ERR naming the file when it is
 * missing, unreadable or not HDF5 (an absent attribute gives fmt ""). */
static int file_format(const char *path, char *fmt, size_t cap) {
    fmt[0] = '\0';
    if (access(path, F_OK) != 0) return ddsp_error("%s: no such file", path);
    if (access(path, R_OK) != 0) return ddsp_error("%s: not readable (permission denied)", path);
    if (H5Fis_hdf5(path) <= 0)
        return ddsp_error("%s: not an HDF5 file (checkpoints and datasets are)", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot open as HDF5 (truncated or damaged?)", path);
    if (ddsp_h5_attr_get_str(f, "format", fmt, cap)) fmt[0] = '\0';
    H5Fclose(f);
    return DDSP_OK;
}

int ddsp_inspect(const char *path, int json, FILE *out) {
    char latest[4200], fmt[64], first[INSP_PROBLEM_LEN];
    int n_problems = 0, rc = DDSP_OK;
    struct stat sb;
    ddsp_h5_quiet();
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) { /* a run folder: its newest checkpoint */
        if (ddsp_ckpt_latest(path, NULL, latest, sizeof latest)) goto not_ours;
        path = latest;
    }
    if (file_format(path, fmt, sizeof fmt)) goto not_ours;
    if (!strcmp(fmt, DDSP_CKPT_FORMAT)) {
        rc = insp_checkpoint(path, json, out, &n_problems, first, sizeof first);
    } else if (!strcmp(fmt, DDSP_DATASET_FORMAT)) {
        rc = insp_dataset(path, json, out, &n_problems, first, sizeof first);
    } else {
        ddsp_error("%s: not a ddsp checkpoint or dataset (format attribute '%s'; inspect reads "
                   "the ckpt-<step>.h5 files of a run folder and the datasets of `ddsp prepare`)",
                   path, fmt[0] ? fmt : "missing");
        goto not_ours;
    }
    if (rc) goto not_ours; /* nothing printed: it could not be opened after all */
    fflush(out);
    if (n_problems)
        return ddsp_error("%s: %d problem%s: %s%s", path, n_problems, n_problems == 1 ? "" : "s",
                          first, n_problems > 1 ? " (and more, listed above)" : "");
    return DDSP_OK;
not_ours:
    if (json) json_error(out, path, ddsp_last_error());
    return DDSP_ERR;
}
