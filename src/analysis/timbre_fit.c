/* Fitting a Φ to listeners: non-negative weights over the features of a collection's cells
 * (whole terms and single bands) by greedy forward selection on the Spearman metric itself,
 * with leave-one-study-out cross-validation (see "fitting Φ to listeners" in
 * ddsp/analysis.h). Every score reported is that of the term list written out, after its
 * weights are rounded. */
#include "ddsp/analysis.h"
#include "ddsp/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int t, band; /* band -1: the whole term */
} feat_t;

typedef struct {
    const ddsp_timbre_cells *c;
    const ddsp_timbre_set *set;
    int dist;
    int K;          /* features */
    feat_t *feat;   /* (K) */
    size_t P;       /* pairs of all studies */
    size_t *first;  /* (n_studies + 1) first pair of each study */
    double *F;      /* (K, P) feature values */
    double *scale;  /* (K) mean over the studies being fitted */
    double *d;      /* (P) scratch distances */
} fit_t;

void ddsp_timbre_fit_config_default(ddsp_timbre_fit_config *f) {
    f->max_features = 6;
    f->tol = 0.002;
    f->bands = 1;
}

void ddsp_timbre_fit_free(ddsp_timbre_fit *f) {
    if (!f) return;
    free(f->cv_spearman);
    free(f->cv_terms);
    memset(f, 0, sizeof *f);
}

static void fit_state_free(fit_t *s) {
    free(s->feat), free(s->first), free(s->F), free(s->scale), free(s->d);
}

/* The candidate features and their values over every pair. */
static int fit_state_init(fit_t *s, const ddsp_timbre_cells *c, const ddsp_timbre_set *set,
                          const ddsp_timbre_fit_config *fc) {
    memset(s, 0, sizeof *s);
    s->c = c, s->set = set, s->dist = c->phi.dist;
    s->first = malloc(sizeof(size_t) * (size_t)(c->n_studies + 1));
    if (!s->first) return ddsp_error("out of memory");
    for (int q = 0; q < c->n_studies; q++) s->first[q] = s->P, s->P += c->n_pairs[q];
    s->first[c->n_studies] = s->P;
    int cap = 0;
    for (int t = 0; t < DDSP_PHI_NTERMS; t++)
        cap += c->lay.n_blocks[t] ? 1 + c->lay.n_bands[t] : 0;
    s->feat = malloc(sizeof(feat_t) * (size_t)(cap ? cap : 1));
    s->F = malloc(sizeof(double) * (size_t)(cap ? cap : 1) * s->P);
    s->scale = malloc(sizeof(double) * (size_t)(cap ? cap : 1));
    s->d = malloc(sizeof(double) * s->P);
    if (!s->feat || !s->F || !s->scale || !s->d) return ddsp_error("out of memory");
    const size_t stride = c->lay.n_cells * DDSP_CELL_N;
    for (int t = 0; t < DDSP_PHI_NTERMS; t++) {
        /* sc divides by the first sound's norm: not symmetric, so a distance between two
         * sounds that depends on their order (file names); not a candidate */
        if (!c->lay.n_blocks[t] || t == DDSP_PHI_SC) continue;
        /* bands alone: where a term list can weigh them (cos, l1; not sc or one band) */
        const int nb = fc->bands && s->dist != 2 && t != DDSP_PHI_SC && c->lay.n_bands[t] > 1
                           ? c->lay.n_bands[t]
                           : 0;
        for (int g = -1; g < nb; g++) {
            double *col = s->F + (size_t)s->K * s->P, lo = INFINITY, hi = -INFINITY;
            for (int q = 0; q < c->n_studies; q++)
                for (size_t p = 0; p < c->n_pairs[q]; p++) {
                    const double v = ddsp_phi_cells_term(&c->lay, c->cells[q] + p * stride, t, g,
                                                         s->dist);
                    col[s->first[q] + p] = v;
                    lo = fmin(lo, v), hi = fmax(hi, v);
                }
            if (!(hi > lo) || !isfinite(lo) || !isfinite(hi)) continue; /* constant: no use */
            s->feat[s->K++] = (feat_t){t, g};
        }
    }
    if (s->K == 0) return ddsp_error("no feature to fit (every candidate is constant)");
    return DDSP_OK;
}

/* Spearman metric (anchors' mean) of the distances in s->d over the studies in `use` */
static double score(const fit_t *s, const unsigned char *use) {
    double sum = 0.0;
    long anchors = 0;
    for (int q = 0; q < s->c->n_studies; q++) {
        if (!use[q]) continue;
        const ddsp_timbre_study *st = &s->set->study[q];
        sum += ddsp_timbre_spearman_sum(s->d + s->first[q], st->human, st->n);
        anchors += st->n;
    }
    return anchors ? sum / (double)anchors : 0.0;
}

/* s->d <- sum_k w_k F_k / scale_k over the studies in use */
static void combine(fit_t *s, const double *w, const unsigned char *use) {
    for (int q = 0; q < s->c->n_studies; q++) {
        if (!use[q]) continue;
        for (size_t p = s->first[q]; p < s->first[q + 1]; p++) s->d[p] = 0.0;
        for (int k = 0; k < s->K; k++) {
            if (w[k] <= 0.0) continue;
            const double a = w[k] / s->scale[k], *col = s->F + (size_t)k * s->P;
            for (size_t p = s->first[q]; p < s->first[q + 1]; p++) s->d[p] += a * col[p];
        }
    }
}

static double objective(fit_t *s, const double *w, const unsigned char *use) {
    combine(s, w, use);
    return score(s, use);
}

/* May feature k join the support w under this dist? (cos: a term whole or by bands) */
static int compatible(const fit_t *s, const double *w, int k) {
    if (s->dist != DDSP_PHI_DIST_COS) return 1;
    for (int j = 0; j < s->K; j++)
        if (w[j] > 0.0 && s->feat[j].t == s->feat[k].t &&
            (s->feat[j].band < 0) != (s->feat[k].band < 0))
            return 0;
    return 1;
}

/* The term list of weights w (rounded to 3 digits, largest term weight 1). */
static void term_list(const fit_t *s, const double *w, char *buf, size_t cap) {
    ddsp_phi_config out;
    ddsp_phi_config_default(&out);
    out.dist = s->dist;
    out.scat_j = s->c->phi.scat_j, out.scat_q = s->c->phi.scat_q;
    double whole[DDSP_PHI_NTERMS] = {0}, band[DDSP_PHI_NTERMS][DDSP_PHI_MAX_BANDS] = {{0}};
    int has_band[DDSP_PHI_NTERMS] = {0};
    for (int k = 0; k < s->K; k++) {
        if (w[k] <= 0.0) continue;
        const feat_t *f = &s->feat[k];
        if (f->band < 0) whole[f->t] += w[k] / s->scale[k];
        else band[f->t][f->band] += w[k] / s->scale[k], has_band[f->t] = 1;
    }
    double top = 0.0;
    for (int t = 0; t < DDSP_PHI_NTERMS; t++) {
        if (has_band[t]) { /* u_g = whole + band_g (l1), band_g (cos); weight = max u */
            const int nb = s->c->lay.n_bands[t];
            double m = 0.0;
            for (int g = 0; g < nb; g++) band[t][g] += whole[t], m = fmax(m, band[t][g]);
            out.weight[t] = m;
            out.n_band_w[t] = nb;
            for (int g = 0; g < nb; g++) out.band_w[t][g] = band[t][g] / m;
        } else {
            out.weight[t] = whole[t];
        }
        top = fmax(top, out.weight[t]);
    }
    for (int t = 0; t < DDSP_PHI_NTERMS; t++) {
        char num[32];
        snprintf(num, sizeof num, "%.3g", out.weight[t] / top);
        out.weight[t] = atof(num);
        for (int g = 0; g < out.n_band_w[t]; g++) {
            snprintf(num, sizeof num, "%.3g", out.band_w[t][g]);
            out.band_w[t][g] = atof(num);
        }
    }
    ddsp_phi_describe(&out, buf, cap);
}

/* Score of a term list on the studies in use (what will be reported and shipped). */
static double list_score(fit_t *s, const char *terms, const unsigned char *use) {
    ddsp_phi_config c;
    ddsp_phi_config_default(&c);
    DDSP_ASSERT(ddsp_phi_parse_terms(&c, terms) == DDSP_OK, "fitted list '%s': %s", terms,
                ddsp_last_error());
    const size_t stride = s->c->lay.n_cells * DDSP_CELL_N;
    for (int q = 0; q < s->c->n_studies; q++)
        if (use[q])
            for (size_t p = 0; p < s->c->n_pairs[q]; p++)
                s->d[s->first[q] + p] =
                    ddsp_phi_cells_distance(&c, &s->c->lay, s->c->cells[q] + p * stride);
    return score(s, use);
}

/* Greedy fit on the studies in `use`; the rounded term list into buf, its score returned. */
static double fit_once(fit_t *s, const ddsp_timbre_fit_config *fc, const unsigned char *use,
                       char *buf, size_t cap, int verbose) {
    for (int k = 0; k < s->K; k++) { /* scale features to mean 1 on the studies fitted */
        double sum = 0.0;
        size_t cnt = 0;
        for (int q = 0; q < s->c->n_studies; q++)
            for (size_t p = s->first[q]; use[q] && p < s->first[q + 1]; p++)
                sum += s->F[(size_t)k * s->P + p], cnt++;
        s->scale[k] = sum > 0.0 ? sum / (double)cnt : 1.0;
    }
    double *w = calloc((size_t)s->K, sizeof(double)), *trial = malloc(sizeof(double) * (size_t)s->K);
    DDSP_ASSERT(w && trial, "out of memory");
    int best_k = 0;
    double cur = -INFINITY;
    for (int k = 0; k < s->K; k++) {
        w[k] = 1.0;
        const double v = objective(s, w, use);
        w[k] = 0.0;
        if (v > cur) cur = v, best_k = k;
    }
    w[best_k] = 1.0;
    static const double add[] = {1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2, 1.0, 2.0, 4.0, 8.0};
    static const double mul[] = {0.0, 0.5, 0.7, 1.4, 2.0};
    for (int move = 0; move < 4 * fc->max_features; move++) {
        int support = 0;
        double sumw = 0.0;
        for (int k = 0; k < s->K; k++) support += w[k] > 0.0, sumw += w[k];
        double best = cur;
        int bk = -1;
        double bw = 0.0;
        for (int k = 0; k < s->K; k++) {
            if (w[k] > 0.0) { /* rescale or drop a feature already in */
                for (size_t m = 0; m < sizeof mul / sizeof *mul; m++) {
                    if (mul[m] == 0.0 && support == 1) continue;
                    memcpy(trial, w, sizeof(double) * (size_t)s->K);
                    trial[k] = w[k] * mul[m];
                    const double v = objective(s, trial, use);
                    if (v > best) best = v, bk = k, bw = trial[k];
                }
            } else if (support < fc->max_features && compatible(s, w, k)) {
                for (size_t a = 0; a < sizeof add / sizeof *add; a++) {
                    memcpy(trial, w, sizeof(double) * (size_t)s->K);
                    trial[k] = add[a] * sumw;
                    const double v = objective(s, trial, use);
                    if (v > best) best = v, bk = k, bw = trial[k];
                }
            }
        }
        if (bk < 0 || best <= cur + fc->tol) break;
        w[bk] = bw;
        cur = best;
        if (verbose) {
            const feat_t *f = &s->feat[bk];
            char band[24] = "";
            if (f->band >= 0) snprintf(band, sizeof band, " band %d", f->band);
            ddsp_log("timbre fit: %s%s -> weight %.3g, spearman %.4f", ddsp_phi_term_name(f->t),
                     band, bw, cur);
        }
    }
    term_list(s, w, buf, cap);
    free(w), free(trial);
    return list_score(s, buf, use);
}

int ddsp_timbre_fit_run(ddsp_timbre_fit *out, const ddsp_timbre_cells *c,
                        const ddsp_timbre_set *set, const ddsp_timbre_fit_config *fc, int cv,
                        int verbose) {
    memset(out, 0, sizeof *out);
    if (c->feature != DDSP_TIMBRE_PHI) return ddsp_error("a reference feature has nothing to fit");
    fit_t s;
    if (fit_state_init(&s, c, set, fc)) {
        fit_state_free(&s);
        return DDSP_ERR;
    }
    unsigned char *use = malloc((size_t)c->n_studies);
    DDSP_ASSERT(use, "out of memory");
    if (cv && c->n_studies >= 2) {
        out->cv_spearman = calloc((size_t)c->n_studies, sizeof(double));
        out->cv_terms = calloc((size_t)c->n_studies, sizeof *out->cv_terms);
        DDSP_ASSERT(out->cv_spearman && out->cv_terms, "out of memory");
        double sum = 0.0;
        long anchors = 0;
        for (int q = 0; q < c->n_studies; q++) {
            memset(use, 1, (size_t)c->n_studies);
            use[q] = 0;
            fit_once(&s, fc, use, out->cv_terms[q], sizeof out->cv_terms[q], 0);
            memset(use, 0, (size_t)c->n_studies);
            use[q] = 1;
            out->cv_spearman[q] = list_score(&s, out->cv_terms[q], use);
            sum += out->cv_spearman[q] * set->study[q].n;
            anchors += set->study[q].n;
            if (verbose)
                ddsp_log("timbre fit: held out %s: spearman %.4f with %s", set->study[q].name,
                         out->cv_spearman[q], out->cv_terms[q]);
        }
        out->cv_overall = sum / (double)anchors;
    }
    memset(use, 1, (size_t)c->n_studies);
    out->train_spearman = fit_once(&s, fc, use, out->terms, sizeof out->terms, verbose);
    free(use);
    fit_state_free(&s);
    return DDSP_OK;
}
