/* The cells of every pair of a timbre collection (see ddsp_timbre_compute in
 * ddsp/analysis.h): a Φ's (ddsp_phi_compare on pairs padded to the longer sound and the
 * Φ's minimum length, batched by padded length), or a reference feature of the collection
 * (its MSS, time-averaged MSS and MFCC), and their cache file. */
#include "ddsp/analysis.h"
#include "ddsp/dsp.h"
#include "ddsp/formats.h"
#include "ddsp/util.h"
#include "loss/phi_terms.h"

#include <hdf5.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_BATCH = 8 };

typedef struct {
    long done, total;
    double t0, last;
    int verbose;
} progress_t;

static void progress(progress_t *p, const char *study, long add) {
    p->done += add;
    const double now = ddsp_now();
    if (!p->verbose || (now - p->last < 3.0 && p->done < p->total)) return;
    p->last = now;
    const double el = now - p->t0, rate = p->done > 0 ? el / (double)p->done : 0.0;
    ddsp_log("timbre: %ld/%ld pairs (%s), %.0f s, ~%.0f s left", p->done, p->total, study, el,
             rate * (double)(p->total - p->done));
}

static size_t pair_index(int i, int j, int n) {
    return (size_t)i * (size_t)n - (size_t)i * (size_t)(i + 1) / 2 + (size_t)(j - i - 1);
}

/* ------------------------------------------------------------------ a Φ's cells */
typedef struct {
    size_t L;
    int i, j;
} pair_t;

static int cmp_pair(const void *a, const void *b) {
    const pair_t *x = a, *y = b;
    if (x->L != y->L) return x->L < y->L ? -1 : 1;
    if (x->i != y->i) return x->i - y->i;
    return x->j - y->j;
}

static int phi_cells(double *cells, const ddsp_timbre_study *st, const ddsp_phi_config *cfg,
                     const ddsp_phi_layout *lay, progress_t *pr) {
    const int n = st->n;
    const size_t np = (size_t)n * (size_t)(n - 1) / 2, stride = lay->n_cells * DDSP_CELL_N;
    const size_t minlen = ddsp_phi_min_length(cfg);
    pair_t *pairs = malloc(sizeof *pairs * np);
    double *tmp = malloc(sizeof(double) * MAX_BATCH * stride);
    if (!pairs || !tmp) {
        free(pairs), free(tmp);
        return ddsp_error("out of memory for the pairs of %s", st->name);
    }
    size_t k = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            size_t L = st->len[i] > st->len[j] ? st->len[i] : st->len[j];
            pairs[k++] = (pair_t){L > minlen ? L : minlen, i, j};
        }
    qsort(pairs, np, sizeof *pairs, cmp_pair);
    int rc = DDSP_OK;
    for (size_t g0 = 0; g0 < np && rc == DDSP_OK;) {
        size_t g1 = g0;
        while (g1 < np && pairs[g1].L == pairs[g0].L) g1++;
        const size_t L = pairs[g0].L, B = g1 - g0 < MAX_BATCH ? g1 - g0 : MAX_BATCH;
        ddsp_phi *p = ddsp_phi_init(cfg, B, L);
        float *a = ddsp_alloc(sizeof(float) * B * L), *b = ddsp_alloc(sizeof(float) * B * L);
        if (!p || !a || !b) {
            if (p) ddsp_error("out of memory for pairs of %zu samples", L);
            rc = ddsp_error("%s: %s", st->name, ddsp_last_error());
        }
        for (size_t c0 = g0; rc == DDSP_OK && c0 < g1; c0 += B) {
            const size_t cnt = g1 - c0 < B ? g1 - c0 : B;
            for (size_t q = 0; q < cnt; q++) { /* zero-padded copies */
                const pair_t *pp = &pairs[c0 + q];
                memset(a + q * L, 0, sizeof(float) * L);
                memset(b + q * L, 0, sizeof(float) * L);
                memcpy(a + q * L, st->audio[pp->i], sizeof(float) * st->len[pp->i]);
                memcpy(b + q * L, st->audio[pp->j], sizeof(float) * st->len[pp->j]);
            }
            ddsp_phi_compare(p, tmp, a, b, cnt);
            for (size_t q = 0; q < cnt; q++)
                memcpy(cells + pair_index(pairs[c0 + q].i, pairs[c0 + q].j, n) * stride,
                       tmp + q * stride, sizeof(double) * stride);
            progress(pr, st->name, (long)cnt);
        }
        ddsp_phi_free(p);
        ddsp_free(a), ddsp_free(b);
        g0 = g1;
    }
    free(pairs), free(tmp);
    return rc;
}

/* ------------------------------------------------------------------ reference features */
static const int REF_NFFT[6] = {4096, 2048, 1024, 512, 256, 128};

/* The collection's MSS of x (N, reflect-padded by n/2 at each end: N > n/2), |X| and
 * log(max(|X|, 1e-5)) of every frame (rectangular window, hop n/4), handed frame by frame to
 * `take` (K magnitudes, K log magnitudes). fr (n), X (n/2+1): scratch. */
typedef void (*frame_fn)(void *ctx, int scale, size_t f, const double *mag, const double *lg,
                         int K);

static size_t reflect(long j, size_t N) {
    if (j < 0) return (size_t)-j;
    if ((size_t)j >= N) return 2 * (N - 1) - (size_t)j;
    return (size_t)j;
}

static void ref_mss(const float *x, size_t N, double *fr, fftw_complex *X, double *mag,
                    double *lg, frame_fn take, void *ctx) {
    for (int s = 0; s < 6; s++) {
        const int n = REF_NFFT[s], hop = n / 4, K = n / 2 + 1;
        const fftw_plan plan = ddsp_fft_plan_r2c_f64(n, 1);
        const size_t T = 1 + N / (size_t)hop;
        for (size_t f = 0; f < T; f++) {
            const long start = (long)(f * (size_t)hop) - n / 2;
            for (int m = 0; m < n; m++) fr[m] = x[reflect(start + m, N)];
            fftw_execute_dft_r2c(plan, fr, X);
            for (int k = 0; k < K; k++) {
                mag[k] = hypot(X[k][0], X[k][1]);
                lg[k] = log(mag[k] <= 1e-5 ? 1e-5 : mag[k]);
            }
            take(ctx, s, f, mag, lg, K);
        }
    }
}

/* per-sound time averages: v (2 * sum K) = [mean |X| of each scale..., mean log of each...] */
typedef struct {
    double *v;
    size_t T[6];
} avg_ctx;

static size_t ref_avg_len(void) {
    size_t n = 0;
    for (int s = 0; s < 6; s++) n += (size_t)REF_NFFT[s] / 2 + 1;
    return 2 * n;
}

static void take_avg(void *c, int s, size_t f, const double *mag, const double *lg, int K) {
    avg_ctx *a = c;
    (void)f;
    size_t off = 0;
    for (int q = 0; q < s; q++) off += (size_t)REF_NFFT[q] / 2 + 1;
    const size_t half = ref_avg_len() / 2;
    for (int k = 0; k < K; k++) {
        a->v[off + (size_t)k] += mag[k] / (double)a->T[s];
        a->v[half + off + (size_t)k] += lg[k] / (double)a->T[s];
    }
}

/* padded pairs: both signals' frames arrive together, so the cell is accumulated without
 * storing the features (a: the first signal's frame, kept until the second's arrives) */
typedef struct {
    double *cell;
    double *ma, *la; /* (4097) the first signal's current frame */
    int second;
} pair_ctx;

static void take_pair(void *c, int s, size_t f, const double *mag, const double *lg, int K) {
    pair_ctx *p = c;
    (void)s, (void)f;
    if (!p->second) {
        memcpy(p->ma, mag, sizeof(double) * (size_t)K);
        memcpy(p->la, lg, sizeof(double) * (size_t)K);
        return;
    }
    phi_rep_cells(p->cell, p->ma, mag, (size_t)K, NULL);
    phi_rep_cells(p->cell, p->la, lg, (size_t)K, NULL);
}

static int ref_cells(double *cells, const ddsp_timbre_study *st, ddsp_timbre_feature feat,
                     progress_t *pr) {
    const int n = st->n;
    const size_t np = (size_t)n * (size_t)(n - 1) / 2;
    memset(cells, 0, sizeof(double) * np * DDSP_CELL_N);
    size_t maxlen = 0;
    for (int i = 0; i < n; i++) maxlen = st->len[i] > maxlen ? st->len[i] : maxlen;
    if (feat == DDSP_TIMBRE_REF_MSS) {
        for (int i = 0; i < n; i++)
            if (st->len[i] <= (size_t)REF_NFFT[0] / 2)
                return ddsp_error("%s: %zu samples, the reference MSS needs more than %d",
                                  st->files[i], st->len[i], REF_NFFT[0] / 2);
        fftw_plan plans[6];
        for (int s = 0; s < 6; s++) plans[s] = ddsp_fft_plan_r2c_f64(REF_NFFT[s], 1);
        /* per thread: frame (4096), |X| and log |X| of both signals (4 x 2049), padded to
         * 64-byte multiples as FFTW's new-array execution wants the planning alignment */
        enum { DSTRIDE = 4096 + 4 * 2056, CSTRIDE = 2052 };
        const int nt = omp_get_max_threads();
        double *scr = ddsp_alloc(sizeof(double) * (size_t)nt * DSTRIDE);
        fftw_complex *X = ddsp_alloc(sizeof(fftw_complex) * (size_t)nt * CSTRIDE);
        float *pad = ddsp_alloc(sizeof(float) * (size_t)nt * 2 * maxlen);
        if (!scr || !X || !pad) {
            ddsp_free(scr), ddsp_free(X), ddsp_free(pad);
            return ddsp_error("out of memory for the reference MSS of %s", st->name);
        }
        /* pairs in parallel; within a pair, each frame of one signal and then the same
         * frame of the other, so no whole feature is stored */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (size_t q = 0; q < np; q++) {
            int i = 0;
            while (pair_index(i, n - 1, n) < q) i++;
            const int j = i + 1 + (int)(q - pair_index(i, i + 1, n));
            const int t = omp_get_thread_num();
            const size_t L = st->len[i] > st->len[j] ? st->len[i] : st->len[j];
            float *xa = pad + (size_t)t * 2 * maxlen, *xb = xa + maxlen;
            memset(xa, 0, sizeof(float) * L), memset(xb, 0, sizeof(float) * L);
            memcpy(xa, st->audio[i], sizeof(float) * st->len[i]);
            memcpy(xb, st->audio[j], sizeof(float) * st->len[j]);
            double *fr = scr + (size_t)t * DSTRIDE, *mag = fr + 4096, *lg = mag + 2056,
                   *ma = lg + 2056, *la = ma + 2056;
            fftw_complex *Xt = X + (size_t)t * CSTRIDE;
            pair_ctx pc = {cells + q * DDSP_CELL_N, ma, la, 0};
            for (int s = 0; s < 6; s++) {
                const int nf = REF_NFFT[s], hop = nf / 4, K = nf / 2 + 1;
                const size_t T = 1 + L / (size_t)hop;
                for (size_t f = 0; f < T; f++)
                    for (int w = 0; w < 2; w++) {
                        const float *x = w ? xb : xa;
                        const long start = (long)(f * (size_t)hop) - nf / 2;
                        for (int k = 0; k < nf; k++) fr[k] = x[reflect(start + k, L)];
                        fftw_execute_dft_r2c(plans[s], fr, Xt);
                        for (int k = 0; k < K; k++) {
                            mag[k] = hypot(Xt[k][0], Xt[k][1]);
                            lg[k] = log(mag[k] <= 1e-5 ? 1e-5 : mag[k]);
                        }
                        pc.second = w;
                        take_pair(&pc, s, f, mag, lg, K);
                    }
            }
#pragma omp critical(timbre_progress)
            progress(pr, st->name, 1);
        }
        ddsp_free(scr), ddsp_free(X), ddsp_free(pad);
        return DDSP_OK;
    }
    /* time-averaged features: one vector per sound at its own length */
    const size_t dim = feat == DDSP_TIMBRE_REF_MSS_AVG ? ref_avg_len() : MFCC_NCOEF;
    double *v = calloc((size_t)n * dim, sizeof(double));
    if (!v) return ddsp_error("out of memory for the reference features of %s", st->name);
    int rc = DDSP_OK;
    for (int i = 0; i < n && rc == DDSP_OK; i++) {
        const size_t N = st->len[i];
        if (feat == DDSP_TIMBRE_REF_MFCC_AVG) {
            mfcc_t *m = mfcc_init(N, st->sample_rate, 1);
            double *C = m ? malloc(sizeof(double) * mfcc_frames(m) * MFCC_NCOEF) : NULL;
            if (!m || !C) {
                rc = ddsp_error("%s: %s", st->files[i], m ? "out of memory" : ddsp_last_error());
            } else {
                const size_t T = mfcc_frames(m);
                mfcc_coeffs(m, st->audio[i], C);
                for (size_t f = 0; f < T; f++)
                    for (int c = 0; c < MFCC_NCOEF; c++)
                        v[(size_t)i * dim + (size_t)c] += C[f * MFCC_NCOEF + (size_t)c] / (double)T;
            }
            free(C);
            mfcc_free(m);
        } else {
            if (N <= (size_t)REF_NFFT[0] / 2) {
                rc = ddsp_error("%s: %zu samples, the reference MSS needs more than %d",
                                st->files[i], N, REF_NFFT[0] / 2);
                break;
            }
            double *fr = ddsp_alloc(sizeof(double) * 4096), *mag = malloc(sizeof(double) * 2049),
                   *lg = malloc(sizeof(double) * 2049);
            fftw_complex *X = ddsp_alloc(sizeof(fftw_complex) * 2049);
            avg_ctx ac = {v + (size_t)i * dim, {0}};
            for (int s = 0; s < 6; s++) ac.T[s] = 1 + N / (size_t)(REF_NFFT[s] / 4);
            if (fr && mag && lg && X) ref_mss(st->audio[i], N, fr, X, mag, lg, take_avg, &ac);
            else rc = ddsp_error("out of memory");
            ddsp_free(fr), free(mag), free(lg), ddsp_free(X);
        }
    }
    for (int i = 0; rc == DDSP_OK && i < n; i++)
        for (int j = i + 1; j < n; j++)
            phi_rep_cells(cells + pair_index(i, j, n) * DDSP_CELL_N, v + (size_t)i * dim,
                          v + (size_t)j * dim, dim, NULL);
    if (rc == DDSP_OK) progress(pr, st->name, (long)np);
    free(v);
    return rc;
}

/* ------------------------------------------------------------------ public */
void ddsp_timbre_cells_free(ddsp_timbre_cells *c) {
    if (!c) return;
    for (int s = 0; c->cells && s < c->n_studies; s++) free(c->cells[s]);
    free(c->cells), free(c->n_pairs);
    memset(c, 0, sizeof *c);
}

/* The layout of a reference feature: one cell in the slot of term 0, which c->phi weighs 1 */
static void ref_layout(ddsp_timbre_cells *c, int dist) {
    memset(&c->lay, 0, sizeof c->lay);
    c->lay.n_blocks[0] = 1, c->lay.n_bands[0] = 1, c->lay.n_cells = 1;
    ddsp_phi_config_default(&c->phi);
    c->phi.weight[0] = 1.0;
    c->phi.dist = dist;
}

int ddsp_timbre_parse_ref(const char *name, ddsp_timbre_feature *f) {
    if (!strcmp(name, "mss")) *f = DDSP_TIMBRE_REF_MSS;
    else if (!strcmp(name, "mss_avg")) *f = DDSP_TIMBRE_REF_MSS_AVG;
    else if (!strcmp(name, "mfcc_avg")) *f = DDSP_TIMBRE_REF_MFCC_AVG;
    else return ddsp_error("unknown reference feature '%s' (expected mss, mss_avg or mfcc_avg)", name);
    return DDSP_OK;
}

/* out->cells, out->n_pairs for every study (both NULL on out of memory) */
static void alloc_cells(ddsp_timbre_cells *out, const ddsp_timbre_set *set) {
    out->n_studies = set->n_studies;
    out->cells = calloc((size_t)set->n_studies, sizeof *out->cells);
    out->n_pairs = calloc((size_t)set->n_studies, sizeof *out->n_pairs);
    int ok = out->cells && out->n_pairs;
    for (int s = 0; ok && s < set->n_studies; s++) {
        const size_t np = (size_t)set->study[s].n * (size_t)(set->study[s].n - 1) / 2;
        out->n_pairs[s] = np;
        ok = (out->cells[s] = malloc(sizeof(double) * np * out->lay.n_cells * DDSP_CELL_N)) != NULL;
    }
    if (!ok) {
        for (int s = 0; out->cells && s < set->n_studies; s++) free(out->cells[s]);
        free(out->cells), free(out->n_pairs);
        out->cells = NULL, out->n_pairs = NULL;
    }
}

int ddsp_timbre_compute(ddsp_timbre_cells *out, const ddsp_timbre_set *set,
                        ddsp_timbre_feature feature, const ddsp_phi_config *phi, int verbose) {
    memset(out, 0, sizeof *out);
    out->feature = feature;
    if (feature == DDSP_TIMBRE_PHI) {
        if (ddsp_phi_config_check(phi)) return DDSP_ERR;
        out->phi = *phi;
        ddsp_phi_layout_init(&out->lay, phi);
    } else {
        ref_layout(out, phi->dist);
    }
    alloc_cells(out, set);
    if (!out->cells) return ddsp_error("out of memory for the cells of every pair");
    progress_t pr = {0, 0, ddsp_now(), ddsp_now(), verbose};
    for (int s = 0; s < set->n_studies; s++)
        pr.total += (long)set->study[s].n * (set->study[s].n - 1) / 2;
    /* many lengths, each planned once: estimate plans (DDSP_FFTW_PLANNER still overrides) */
    const unsigned rigor = ddsp_fft_rigor();
    ddsp_fft_set_rigor(FFTW_ESTIMATE);
    int rc = DDSP_OK;
    for (int s = 0; s < set->n_studies && rc == DDSP_OK; s++) {
        const ddsp_timbre_study *st = &set->study[s];
        if (feature == DDSP_TIMBRE_PHI) {
            out->phi.sample_rate = st->sample_rate; /* Φ at the sounds' own rate */
            rc = phi_cells(out->cells[s], st, &out->phi, &out->lay, &pr);
        } else {
            rc = ref_cells(out->cells[s], st, feature, &pr);
        }
    }
    ddsp_fft_set_rigor(rigor);
    out->seconds = ddsp_now() - pr.t0;
    if (rc) ddsp_timbre_cells_free(out);
    return rc;
}

void ddsp_timbre_distances(double *d, const ddsp_timbre_cells *c, int s,
                           const ddsp_phi_config *phi) {
    const size_t stride = c->lay.n_cells * DDSP_CELL_N;
    for (size_t q = 0; q < c->n_pairs[s]; q++)
        d[q] = ddsp_phi_cells_distance(phi, &c->lay, c->cells[s] + q * stride);
}

/* ------------------------------------------------------------------ cache file */
/* What the cells depend on besides the terms: the feature and, for a Φ, the terms'
 * settings (not the weights, band weights or dist, which only combine cells). */
static void settings_key(char *buf, size_t cap, ddsp_timbre_feature f,
                         const ddsp_phi_config *phi) {
    size_t len = (size_t)snprintf(buf, cap, "feature=%d", (int)f);
    if (f != DDSP_TIMBRE_PHI) return;
    len += (size_t)snprintf(buf + len, cap - len, ",scat_j=%d,scat_q=%d,overlap=%g,scales=",
                            phi->scat_j, phi->scat_q, phi->overlap);
    for (int s = 0; s < phi->n_scales && len < cap; s++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", s ? ":" : "", phi->scales[s]);
}

static void terms_key(char *buf, size_t cap, ddsp_timbre_feature f, const ddsp_phi_config *phi) {
    size_t len = 0;
    buf[0] = '\0';
    for (int t = 0; f == DDSP_TIMBRE_PHI && t < DDSP_PHI_NTERMS && len < cap; t++)
        if (phi->weight[t] > 0.0)
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? "," : "",
                                    ddsp_phi_term_name(t));
}

int ddsp_timbre_cells_write(const char *path, const ddsp_timbre_cells *c,
                            const ddsp_timbre_set *set) {
    char tmp[4096], key[1024], terms[1024];
    if (ddsp_tmp_name(tmp, sizeof tmp, path)) return DDSP_ERR;
    ddsp_h5_quiet();
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: cannot create HDF5 file", tmp);
    ddsp_tmp_track(tmp);
    settings_key(key, sizeof key, c->feature, &c->phi);
    terms_key(terms, sizeof terms, c->feature, &c->phi);
    hid_t g = H5I_INVALID_HID;
    int rc = ddsp_h5_attr_str(f, "format", DDSP_TIMBRE_CELLS_FORMAT) ||
             ddsp_h5_attr_i64(f, "format_version", DDSP_TIMBRE_CELLS_VERSION) ||
             ddsp_h5_attr_str(f, "settings", key) ||
             ddsp_h5_attr_str(f, "terms", terms) ||
             ddsp_h5_attr_i64(f, "min_length", (int64_t)(c->feature == DDSP_TIMBRE_PHI
                                                             ? ddsp_phi_min_length(&c->phi)
                                                             : 0)) ||
             ddsp_h5_attr_i64(f, "n_cells", (int64_t)c->lay.n_cells) ||
             (g = H5Gcreate2(f, "studies", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0;
    for (int s = 0; rc == DDSP_OK && s < c->n_studies; s++) {
        const ddsp_timbre_study *st = &set->study[s];
        const uint64_t dims[3] = {c->n_pairs[s], c->lay.n_cells, DDSP_CELL_N};
        int64_t *lens = malloc(sizeof(int64_t) * (size_t)st->n);
        rc = !lens || ddsp_h5_write_f64(g, st->name, c->cells[s], 3, dims);
        hid_t ds = rc ? H5I_INVALID_HID : H5Dopen2(g, st->name, H5P_DEFAULT);
        for (int i = 0; lens && i < st->n; i++) lens[i] = (int64_t)st->len[i];
        rc = rc || ds < 0 || ddsp_h5_attr_i64(ds, "sample_rate", st->sample_rate) ||
             ddsp_h5_attr_i64v(ds, "lengths", lens, (size_t)st->n);
        if (ds >= 0) H5Dclose(ds);
        free(lens);
    }
    if (g >= 0) H5Gclose(g);
    if (H5Fclose(f) < 0) rc = DDSP_ERR;
    if (rc == DDSP_OK) return ddsp_tmp_publish(tmp, path, 1);
    unlink(tmp);
    ddsp_tmp_forget(tmp);
    return ddsp_error("%s: cannot write the cells", path);
}

/* Does dataset ds hold study st (its sample rate and every sound's length)? */
static int same_study(hid_t ds, const ddsp_timbre_study *st) {
    int64_t sr = 0;
    if (ddsp_h5_attr_get_i64(ds, "sample_rate", &sr) || sr != st->sample_rate) return 0;
    hid_t a = H5Aopen(ds, "lengths", H5P_DEFAULT);
    hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    int64_t *lens = malloc(sizeof(int64_t) * (size_t)st->n);
    int same = lens && sp >= 0 && H5Sget_simple_extent_npoints(sp) == st->n &&
               H5Aread(a, H5T_NATIVE_INT64, lens) >= 0;
    for (int i = 0; same && i < st->n; i++) same = lens[i] == (int64_t)st->len[i];
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    free(lens);
    return same;
}

int ddsp_timbre_cells_read(const char *path, ddsp_timbre_cells *c, const ddsp_timbre_set *set,
                           ddsp_timbre_feature feature, const ddsp_phi_config *phi) {
    memset(c, 0, sizeof *c);
    if (access(path, F_OK) != 0) return 0;
    ddsp_h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return ddsp_error("%s: not an HDF5 file", path);
    char fmt[64] = "", key[1024] = "", want[1024], terms[1024] = "";
    int64_t ver = 0;
    if (ddsp_h5_attr_get_str(f, "format", fmt, sizeof fmt) || strcmp(fmt, DDSP_TIMBRE_CELLS_FORMAT) ||
        ddsp_h5_attr_get_i64(f, "format_version", &ver) || ver != DDSP_TIMBRE_CELLS_VERSION) {
        H5Fclose(f);
        return ddsp_error("%s: not a ddsp timbre cache (format '%s', version %lld)", path, fmt,
                          (long long)ver);
    }
    settings_key(want, sizeof want, feature, phi);
    int same = !ddsp_h5_attr_get_str(f, "settings", key, sizeof key) && !strcmp(key, want) &&
               !ddsp_h5_attr_get_str(f, "terms", terms, sizeof terms);
    /* the stored terms: a superset of those asked for serves them */
    ddsp_phi_config stored = *phi;
    memset(stored.weight, 0, sizeof stored.weight);
    memset(stored.n_band_w, 0, sizeof stored.n_band_w);
    for (char *save = NULL, *t = strtok_r(terms, ",", &save); same && t;
         t = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < DDSP_PHI_NTERMS && strcmp(t, ddsp_phi_term_name(k))) k++;
        if (k < DDSP_PHI_NTERMS) stored.weight[k] = 1.0;
    }
    for (int t = 0; same && feature == DDSP_TIMBRE_PHI && t < DDSP_PHI_NTERMS; t++)
        same = !(phi->weight[t] > 0.0) || stored.weight[t] > 0.0;
    /* the pairs were padded to the stored Φ's minimum length: the same padding as ours only
     * where no pair is shorter than either minimum */
    int64_t min_stored = 0;
    const size_t min_want = feature == DDSP_TIMBRE_PHI ? ddsp_phi_min_length(phi) : 0;
    same = same && !ddsp_h5_attr_get_i64(f, "min_length", &min_stored);
    for (int s = 0; same && (size_t)min_stored != min_want && s < set->n_studies; s++) {
        const ddsp_timbre_study *st = &set->study[s];
        const size_t need = (size_t)min_stored > min_want ? (size_t)min_stored : min_want;
        for (int i = 0; same && i < st->n; i++)
            for (int j = i + 1; same && j < st->n; j++)
                same = (st->len[i] > st->len[j] ? st->len[i] : st->len[j]) >= need;
    }
    c->feature = feature;
    ddsp_phi_layout from;
    if (feature == DDSP_TIMBRE_PHI) {
        c->phi = *phi;
        ddsp_phi_layout_init(&c->lay, phi);
        ddsp_phi_layout_init(&from, &stored);
    } else {
        ref_layout(c, phi->dist);
        from = c->lay;
    }
    hid_t g = same ? H5Gopen2(f, "studies", H5P_DEFAULT) : H5I_INVALID_HID;
    for (int s = 0; same && s < set->n_studies; s++) { /* the same studies and sounds? */
        hid_t ds = H5Lexists(g, set->study[s].name, H5P_DEFAULT) > 0
                       ? H5Dopen2(g, set->study[s].name, H5P_DEFAULT)
                       : H5I_INVALID_HID;
        same = ds >= 0 && same_study(ds, &set->study[s]);
        if (ds >= 0) H5Dclose(ds);
    }
    if (!same) {
        if (g >= 0) H5Gclose(g);
        H5Fclose(f);
        memset(c, 0, sizeof *c);
        return 0;
    }
    alloc_cells(c, set);
    int rc = c->cells ? DDSP_OK : ddsp_error("out of memory");
    for (int s = 0; rc == DDSP_OK && s < set->n_studies; s++) {
        double *data = NULL;
        uint64_t dims[8];
        int rank;
        rc = ddsp_h5_read_f64(g, path, set->study[s].name, &data, dims, &rank);
        if (rc == DDSP_OK && (rank != 3 || dims[0] != c->n_pairs[s] || dims[1] != from.n_cells ||
                              dims[2] != DDSP_CELL_N))
            rc = ddsp_error("%s: the cells of %s have the wrong shape", path, set->study[s].name);
        for (size_t q = 0; rc == DDSP_OK && q < c->n_pairs[s]; q++) /* the terms asked for */
            for (int t = 0; t < DDSP_PHI_NTERMS; t++) {
                const size_t nc = (size_t)c->lay.n_blocks[t] * (size_t)c->lay.n_bands[t];
                if (!nc) continue;
                memcpy(c->cells[s] + (q * c->lay.n_cells + c->lay.off[t]) * DDSP_CELL_N,
                       data + (q * from.n_cells + from.off[t]) * DDSP_CELL_N,
                       sizeof(double) * nc * DDSP_CELL_N);
            }
        ddsp_free(data);
    }
    H5Gclose(g);
    H5Fclose(f);
    if (rc) {
        ddsp_timbre_cells_free(c);
        return DDSP_ERR;
    }
    return 1;
}
