/* Timbre dissimilarity studies: reading a collection (sounds and listeners' matrices) and
 * the collection's agreement metrics (see "timbre dissimilarity" in ddsp/analysis.h). The
 * metrics mirror timbremetrics/metrics.py (github.com/tiianhk/timbremetrics) with
 * torchmetrics' spearman_corrcoef, kendall_rank_corrcoef (variant b) and
 * retrieval_normalized_dcg, in double. */
#include "ddsp/analysis.h"
#include "ddsp/audio.h"
#include "ddsp/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ reading a collection */
static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, int n) {
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_audio_name(const char *name) {
    static const char *const ext[] = {".aiff", ".aif", ".wav", ".flac", ".ogg"};
    if (name[0] == '.') return 0;
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t k = 0;
        while (ext[i][k] && tolower((unsigned char)dot[k]) == ext[i][k]) k++;
        if (!ext[i][k] && !dot[k]) return 1;
    }
    return 0;
}

/* Names in `dir` (sorted) that are folders (want_dirs) or audio files. */
static int list_dir(const char *dir, int want_dirs, char ***out, int *n_out) {
    *out = NULL, *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return ddsp_error("%s: cannot open folder (%s)", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0, rc = DDSP_OK;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (want_dirs ? !is_dir(path) : !is_audio_name(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **nn = realloc(names, sizeof *names * (size_t)cap);
            if (!nn) {
                rc = ddsp_error("%s: out of memory listing the folder", dir);
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = ddsp_error("%s: out of memory listing the folder", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc) {
        free_names(names, n);
        return rc;
    }
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_name);
    *out = names, *n_out = n;
    return DDSP_OK;
}

/* The n x n matrix of `path` (whitespace separated numbers, one row per line; '#' starts a
 * comment, as numpy.loadtxt). */
static int read_matrix(const char *path, int n, const char *study, double *M) {
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT)
            return ddsp_error("%s: no such file (the dissimilarity matrix of study %s)", path,
                              study);
        return ddsp_error("%s: cannot open (%s)", path, strerror(errno));
    }
    char line[65536];
    int row = 0, lineno = 0, rc = DDSP_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = ddsp_error("%s: line %d is longer than %zu characters", path, lineno,
                            sizeof line - 1);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        int col = 0;
        for (char *p = line;;) {
            while (isspace((unsigned char)*p)) p++;
            if (!*p) break;
            char *end;
            const double v = strtod(p, &end);
            if (end == p || (*end && !isspace((unsigned char)*end))) {
                char tok[32];
                snprintf(tok, sizeof tok, "%.*s", (int)strcspn(p, " \t\r\n"), p);
                rc = ddsp_error("%s: line %d: '%s' is not a number", path, lineno, tok);
                goto done;
            }
            if (!isfinite(v)) {
                rc = ddsp_error("%s: line %d: value %d is not finite", path, lineno, col + 1);
                goto done;
            }
            if (row < n && col < n) M[(size_t)row * (size_t)n + (size_t)col] = v;
            col++;
            p = end;
        }
        if (col == 0) continue;
        if (col != n) {
            rc = ddsp_error("%s: line %d has %d numbers, expected %d (sounds/%s has %d sounds)",
                            path, lineno, col, n, study, n);
            goto done;
        }
        row++;
    }
    if (rc == DDSP_OK && ferror(f)) rc = ddsp_error("%s: read error", path);
    if (rc == DDSP_OK && row != n)
        rc = ddsp_error("%s: %d rows, expected %d (sounds/%s has %d sounds)", path, row, n, study,
                        n);
done:
    fclose(f);
    return rc;
}

static void study_free(ddsp_timbre_study *s) {
    for (int i = 0; i < s->n; i++) {
        if (s->files) free(s->files[i]);
        if (s->audio) ddsp_free(s->audio[i]);
    }
    free(s->files), free(s->audio), free(s->len), free(s->human);
    memset(s, 0, sizeof *s);
}

void ddsp_timbre_free(ddsp_timbre_set *set) {
    if (!set) return;
    for (int s = 0; s < set->n_studies; s++) study_free(&set->study[s]);
    free(set->study);
    memset(set, 0, sizeof *set);
}

static int load_study(ddsp_timbre_study *s, const char *root, const char *name) {
    char dir[4096], mat[4096];
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(dir, sizeof dir, "%s/sounds/%s", root, name);
    snprintf(mat, sizeof mat, "%s/true_dissim/%s_dissimilarity_matrix.txt", root, name);
    char **names = NULL;
    int n = 0;
    if (list_dir(dir, 0, &names, &n)) return DDSP_ERR;
    int rc = DDSP_ERR;
    if (n < 2) {
        ddsp_error("%s: %d audio files, a study needs at least 2", dir, n);
        goto done;
    }
    s->n = n;
    s->files = calloc((size_t)n, sizeof *s->files);
    s->audio = calloc((size_t)n, sizeof *s->audio);
    s->len = calloc((size_t)n, sizeof *s->len);
    s->human = calloc((size_t)n * (size_t)n, sizeof *s->human);
    if (!s->files || !s->audio || !s->len || !s->human) {
        ddsp_error("%s: out of memory", dir);
        goto done;
    }
    if (read_matrix(mat, n, name, s->human)) goto done;
    for (int i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (!(s->files[i] = strdup(path))) {
            ddsp_error("%s: out of memory", dir);
            goto done;
        }
        ddsp_audio a;
        if (ddsp_audio_read(path, &a)) goto done;
        s->audio[i] = a.x, s->len[i] = a.n;
        if (i == 0) s->sample_rate = a.sample_rate;
        if (a.sample_rate != s->sample_rate) {
            ddsp_error("%s: %d Hz, but %s is %d Hz (a study's sounds share one rate)", path,
                       a.sample_rate, names[0], s->sample_rate);
            goto done;
        }
    }
    rc = DDSP_OK;
done:
    free_names(names, n);
    if (rc) study_free(s);
    return rc;
}

/* Is `name` in the comma-separated list? */
static int in_list(const char *list, const char *name) {
    const size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const size_t k = strcspn(p, ",");
        if (k == len && !strncmp(p, name, len)) return 1;
        p += k + (p[k] == ',');
    }
    return 0;
}

int ddsp_timbre_load(ddsp_timbre_set *set, const char *root, const char *only) {
    memset(set, 0, sizeof *set);
    char sounds[4096], mats[4096];
    snprintf(sounds, sizeof sounds, "%s/sounds", root);
    snprintf(mats, sizeof mats, "%s/true_dissim", root);
    if (!is_dir(root)) return ddsp_error("%s: no such folder", root);
    if (!is_dir(sounds) || !is_dir(mats))
        return ddsp_error("%s: not a timbre collection (expected the folders sounds/ and "
                          "true_dissim/)",
                          root);
    char **names = NULL;
    int n = 0;
    if (list_dir(sounds, 1, &names, &n)) return DDSP_ERR;
    int rc = DDSP_ERR;
    if (only) /* every name asked for must exist */
        for (const char *p = only; *p;) {
            const size_t k = strcspn(p, ",");
            int found = 0;
            for (int i = 0; i < n; i++) found |= strlen(names[i]) == k && !strncmp(names[i], p, k);
            if (!found) {
                ddsp_error("%s: no study '%.*s'", sounds, (int)k, p);
                goto done;
            }
            p += k + (p[k] == ',');
        }
    /* a matrix without its sounds is a broken collection too */
    DIR *d = opendir(mats);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *suf = "_dissimilarity_matrix.txt";
        const size_t l = strlen(e->d_name), ls = strlen(suf);
        if (l <= ls || strcmp(e->d_name + l - ls, suf)) continue;
        char study[256];
        snprintf(study, sizeof study, "%.*s", (int)(l - ls), e->d_name);
        if (only && !in_list(only, study)) continue;
        int found = 0;
        for (int i = 0; i < n; i++) found |= !strcmp(names[i], study);
        if (!found) {
            ddsp_error("%s/%s: no folder %s/%s for its sounds", mats, e->d_name, sounds, study);
            closedir(d);
            goto done;
        }
    }
    if (d) closedir(d);
    set->study = calloc((size_t)(n ? n : 1), sizeof *set->study);
    if (!set->study) {
        ddsp_error("out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (only && !in_list(only, names[i])) continue;
        if (load_study(&set->study[set->n_studies], root, names[i])) goto done;
        set->n_studies++;
    }
    if (set->n_studies == 0) {
        ddsp_error("%s: no study (no folder in sounds/)", root);
        goto done;
    }
    rc = DDSP_OK;
done:
    free_names(names, n);
    if (rc) ddsp_timbre_free(set);
    return rc;
}

/* ------------------------------------------------------------------ metrics */
/* r (n) <- average ranks of x, 1-based (ties share their mean rank); idx: scratch (n). */
static void avg_ranks(const double *x, int n, double *r, int *idx) {
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++) { /* insertion sort: rows are short */
        const int v = idx[i];
        int j = i;
        while (j > 0 && x[idx[j - 1]] > x[v]) idx[j] = idx[j - 1], j--;
        idx[j] = v;
    }
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && x[idx[j]] == x[idx[i]]) j++;
        const double mean = 0.5 * (double)(i + 1 + j); /* mean of ranks i+1 .. j */
        for (int k = i; k < j; k++) r[idx[k]] = mean;
        i = j;
    }
}

/* torchmetrics' _spearman_corrcoef_compute for one column */
static double spearman(const double *p, const double *h, int n, double *rp, double *rh, int *idx) {
    avg_ranks(p, n, rp, idx);
    avg_ranks(h, n, rh, idx);
    double mp = 0.0, mh = 0.0;
    for (int i = 0; i < n; i++) mp += rp[i], mh += rh[i];
    mp /= n, mh /= n;
    double cov = 0.0, vp = 0.0, vh = 0.0;
    for (int i = 0; i < n; i++) {
        const double a = rp[i] - mp, b = rh[i] - mh;
        cov += a * b, vp += a * a, vh += b * b;
    }
    const double c = (cov / n) / (sqrt(vp / n) * sqrt(vh / n) + 1e-6);
    return c < -1.0 ? -1.0 : c > 1.0 ? 1.0 : c;
}

/* tau-b; NaN where a row is constant (torch.nansum then skips it) */
static double kendall(const double *p, const double *h, int n) {
    long con = 0, dis = 0, tp = 0, th = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const double a = p[i] - p[j], b = h[i] - h[j];
            tp += a == 0.0, th += b == 0.0;
            if (a * b > 0.0) con++;
            else if (a * b < 0.0) dis++;
        }
    const double n0 = 0.5 * n * (n - 1.0);
    const double t = (double)(con - dis) / sqrt((n0 - (double)tp) * (n0 - (double)th));
    return t < -1.0 ? -1.0 : t > 1.0 ? 1.0 : t;
}

static double triplet(const double *p, const double *h, int n) {
    long valid = 0, agree = 0;
    for (int j = 0; j < n; j++)
        for (int k = j + 1; k < n; k++) {
            const double dh = h[k] - h[j], dp = p[k] - p[j];
            if (!(fabs(dh) > 0.1)) continue;
            valid++;
            agree += dp * dh > 0.0;
        }
    return valid ? (double)agree / (double)valid : 0.0;
}

/* retrieval_normalized_dcg(1 - p, 1 - h) with top_k = n */
static double ndcg(const double *p, const double *h, int n, double *s, double *g, int *idx) {
    int any = 0;
    for (int i = 0; i < n; i++) {
        s[i] = 1.0 - p[i];
        any |= s[i] > 0.0;
        if (!(s[i] > 0.0)) s[i] = -INFINITY; /* "irrelevant" predictions rank last */
        g[i] = 1.0 - h[i];
    }
    if (!any) return 0.0;
    /* scores in descending order; ties share the mean gain over their positions' discounts */
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++) {
        const int v = idx[i];
        int j = i;
        while (j > 0 && s[idx[j - 1]] < s[v]) idx[j] = idx[j - 1], j--;
        idx[j] = v;
    }
    double dcg = 0.0;
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && s[idx[j]] == s[idx[i]]) j++;
        double gain = 0.0, disc = 0.0;
        for (int k = i; k < j; k++) gain += g[idx[k]], disc += 1.0 / log2(k + 2.0);
        dcg += gain / (j - i) * disc;
        i = j;
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++) {
        const int v = idx[i];
        int j = i;
        while (j > 0 && g[idx[j - 1]] < g[v]) idx[j] = idx[j - 1], j--;
        idx[j] = v;
    }
    double ideal = 0.0;
    for (int k = 0; k < n; k++) ideal += g[idx[k]] / log2(k + 2.0);
    return ideal == 0.0 ? 0.0 : dcg / ideal;
}

/* M (n, n) <- min-max normalised upper triangle of X (diagonal, lower triangle 0 before the
 * normalisation, as timbremetrics' mask then min_max_normalization) */
static void normalise(double *M, const double *X, int n) {
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            const double v = j > i ? X[i * n + j] : 0.0;
            M[i * n + j] = v;
            lo = fmin(lo, v), hi = fmax(hi, v);
        }
    for (int i = 0; i < n * n; i++) M[i] = hi > lo ? (M[i] - lo) / (hi - lo) : 0.0;
}

void ddsp_timbre_metrics(ddsp_timbre_sums *s, const double *pred, const double *human, int n) {
    DDSP_ASSERT(n >= 2, "a study of %d sounds", n);
    memset(s, 0, sizeof *s);
    const size_t nn = (size_t)n * (size_t)n;
    double *P = malloc(sizeof(double) * nn * 2), *H = P + nn;
    double *buf = malloc(sizeof(double) * (size_t)n * 6);
    int *idx = malloc(sizeof(int) * (size_t)n);
    DDSP_ASSERT(P && buf && idx, "out of memory for the metrics of %d sounds", n);
    normalise(P, pred, n);
    normalise(H, human, n);
    for (size_t i = 0; i < nn; i++) s->mae += fabs(P[i] - H[i]);
    double *rp = buf, *rh = buf + n, *sp = buf + 2 * n, *sh = buf + 3 * n, *t1 = buf + 4 * n,
           *t2 = buf + 5 * n;
    for (int a = 0; a < n; a++) {
        int m = 0; /* the anchor's row of the symmetrised matrices, diagonal removed */
        for (int j = 0; j < n; j++)
            if (j != a) {
                sp[m] = P[a * n + j] + P[j * n + a];
                sh[m] = H[a * n + j] + H[j * n + a];
                m++;
            }
        s->spearman += spearman(sp, sh, m, rp, rh, idx);
        const double k = kendall(sp, sh, m);
        if (!isnan(k)) s->kendall += k;
        s->triplet += triplet(sp, sh, m);
        s->ndcg += ndcg(sp, sh, m, t1, t2, idx);
    }
    s->anchors = n;
    s->pairs = (long)n * (n - 1) / 2;
    free(P), free(buf), free(idx);
}

void ddsp_timbre_sums_add(ddsp_timbre_sums *a, const ddsp_timbre_sums *b) {
    a->spearman += b->spearman, a->kendall += b->kendall, a->triplet += b->triplet;
    a->ndcg += b->ndcg, a->mae += b->mae;
    a->anchors += b->anchors, a->pairs += b->pairs;
}

double ddsp_timbre_spearman_sum(const double *d, const double *human, int n) {
    /* distances >= 0 make the normalisation a positive scaling of the upper triangle (its
     * minimum is one of the masked zeros), so ranks are those of d itself; the human
     * matrix's normalisation adds one constant to every off-diagonal entry */
    double *buf = malloc(sizeof(double) * (size_t)n * 4);
    int *idx = malloc(sizeof(int) * (size_t)n);
    DDSP_ASSERT(buf && idx, "out of memory");
    double *sp = buf, *sh = buf + n, *rp = buf + 2 * n, *rh = buf + 3 * n, sum = 0.0;
    for (int a = 0; a < n; a++) {
        int m = 0;
        for (int j = 0; j < n; j++) {
            if (j == a) continue;
            const int i0 = a < j ? a : j, i1 = a < j ? j : a;
            sp[m] = d[(size_t)i0 * (size_t)n - (size_t)i0 * (size_t)(i0 + 1) / 2 + (size_t)(i1 - i0 - 1)];
            sh[m] = human[i0 * n + i1];
            m++;
        }
        sum += spearman(sp, sh, m, rp, rh, idx);
    }
    free(buf), free(idx);
    return sum;
}

void ddsp_timbre_evaluate(ddsp_timbre_sums *per_study, ddsp_timbre_sums *overall,
                          const ddsp_timbre_set *set, double *const *d) {
    memset(overall, 0, sizeof *overall);
    for (int s = 0; s < set->n_studies; s++) {
        const ddsp_timbre_study *st = &set->study[s];
        const int n = st->n;
        double *D = calloc((size_t)n * (size_t)n, sizeof(double));
        DDSP_ASSERT(D, "out of memory");
        size_t p = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) D[i * n + j] = d[s][p++];
        ddsp_timbre_metrics(&per_study[s], D, st->human, n);
        ddsp_timbre_sums_add(overall, &per_study[s]);
        free(D);
    }
}
