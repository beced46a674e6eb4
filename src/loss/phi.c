/* Spectral distances built from magenta's SpectralLoss terms and spectral convergence, with
 * their exact gradient (see "more choices of Φ" in ddsp/loss.h). Under dist cos or band
 * weights a per-scale term goes through its whole representation (phi_rep.c);
 * ddsp_phi_compare keeps the cells of a pair for the timbre evaluation (phi_cells.c).
 *
 * Unlike the MSS path (blocks of frames, float after the FFT), each (item, scale) task keeps
 * whole spectrograms in double: delta_time couples neighbouring frames and spectral
 * convergence needs the whole norm before any gradient. The chain per task:
 *   frames (F, n) -> r2c -> X_t, X_e (F, K) -> S = |X| -> G = dL/dS_e (sum of the terms'
 *   adjoints) -> U = G X_e / S_e -> c2r of U (bins 1..n/2-1 halved: the adjoint of r2c)
 *   -> times the window, overlap-added into the task's gradient.
 * Task gradients and term sums are reduced in a fixed order, so the thread count does not
 * change a bit of the result. */
#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"
#include "loss/phi_terms.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const term_names[DDSP_PHI_NTERMS] = {
    "mag", "logmag", "delta_time", "delta_freq", "cumsum_freq", "sc",
    "mel", "logmel", "loudness", "scat1", "scat2", "mfcc", "jtfs"};

void ddsp_phi_config_default(ddsp_phi_config *c) {
    ddsp_mss_config m;
    ddsp_mss_config_default(&m);
    memset(c, 0, sizeof *c);
    c->dist = 1;
    c->n_scales = m.n_scales;
    memcpy(c->scales, m.scales, sizeof c->scales);
    c->overlap = m.overlap;
    c->scat_j = 12;
    c->scat_q = 8;
    c->jtfs_j = 12, c->jtfs_q1 = 8, c->jtfs_q2 = 2, c->jtfs_jfr = 3, c->jtfs_qfr = 2;
    c->sample_rate = 16000;
}

const char *ddsp_phi_term_name(int term) {
    return term >= 0 && term < DDSP_PHI_NTERMS ? term_names[term] : "?";
}

/* "TERM.bands=u0:u1:..." into c (the count is checked against the term's bands later) */
static int parse_bands(ddsp_phi_config *c, char *item, char *dot) {
    *dot = '\0';
    int t = 0;
    while (t < DDSP_PHI_NTERMS && strcmp(item, term_names[t]) != 0) t++;
    if (t == DDSP_PHI_NTERMS) return ddsp_error("band weights for unknown term '%s'", item);
    int n = 0;
    for (char *v = dot + 7;; v++) {
        char *end;
        const double u = strtod(v, &end);
        if (end == v || !isfinite(u) || u < 0.0 || n == DDSP_PHI_MAX_BANDS || (*end && *end != ':'))
            return ddsp_error("bad band weights '%s' for term '%s' (expected up to %d numbers "
                              ">= 0 separated by ':')",
                              dot + 7, item, DDSP_PHI_MAX_BANDS);
        c->band_w[t][n++] = u;
        v = end;
        if (!*end) break;
    }
    c->n_band_w[t] = n;
    return DDSP_OK;
}

int ddsp_phi_parse_terms(ddsp_phi_config *c, const char *list) {
    double w[DDSP_PHI_NTERMS] = {0};
    char buf[1024];
    const char *preset = ddsp_phi_preset(list);
    if (preset) list = preset;
    if (strlen(list) >= sizeof buf) return ddsp_error("term list too long: '%.40s...'", list);
    strcpy(buf, list);
    memset(c->n_band_w, 0, sizeof c->n_band_w);
    int any = 0;
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        if (!strcmp(item, "dist=l1") || !strcmp(item, "dist=l2")) {
            c->dist = item[6] - '0';
            continue;
        }
        if (!strcmp(item, "dist=cos")) {
            c->dist = DDSP_PHI_DIST_COS;
            continue;
        }
        char *dot = strstr(item, ".bands=");
        if (dot) {
            if (parse_bands(c, item, dot)) return DDSP_ERR;
            continue;
        }
        if (!strncmp(item, "scat_j=", 7) || !strncmp(item, "scat_q=", 7)) {
            char *end;
            const long v = strtol(item + 7, &end, 10);
            if (end == item + 7 || *end || v < 1 || v > 32)
                return ddsp_error("bad setting '%s' (expected an integer, e.g. scat_j=12)", item);
            *(item[5] == 'j' ? &c->scat_j : &c->scat_q) = (int)v;
            continue;
        }
        if (!strncmp(item, "jtfs_", 5) && strchr(item, '=')) {
            static const char *const keys[5] = {"jtfs_j", "jtfs_q1", "jtfs_q2", "jtfs_jfr",
                                                "jtfs_qfr"};
            int *const fields[5] = {&c->jtfs_j, &c->jtfs_q1, &c->jtfs_q2, &c->jtfs_jfr,
                                    &c->jtfs_qfr};
            const char *eqj = strchr(item, '=');
            int k = 0;
            while (k < 5 && (strlen(keys[k]) != (size_t)(eqj - item) ||
                             strncmp(item, keys[k], (size_t)(eqj - item))))
                k++;
            char *end;
            const long v = strtol(eqj + 1, &end, 10);
            if (k == 5 || end == eqj + 1 || *end || v < 1 || v > 32)
                return ddsp_error("bad setting '%s' (expected jtfs_j, jtfs_q1, jtfs_q2, jtfs_jfr "
                                  "or jtfs_qfr with an integer, e.g. jtfs_j=12)",
                                  item);
            *fields[k] = (int)v;
            continue;
        }
        char *eq = strchr(item, '=');
        double weight = 1.0;
        if (eq) {
            *eq = '\0';
            char *end;
            weight = strtod(eq + 1, &end);
            if (end == eq + 1 || *end || !isfinite(weight) || weight < 0.0)
                return ddsp_error("bad weight '%s' for term '%s' (expected a number >= 0)",
                                  eq + 1, item);
        }
        int t = 0;
        while (t < DDSP_PHI_NTERMS && strcmp(item, term_names[t]) != 0) t++;
        if (t == DDSP_PHI_NTERMS)
            return ddsp_error("unknown spectral term '%s' (expected mag, logmag, delta_time, "
                              "delta_freq, cumsum_freq, sc, mel, logmel, loudness, scat1, "
                              "scat2, mfcc, jtfs or a preset: perceptual)",
                              item);
        w[t] = weight;
        any |= weight > 0.0;
    }
    if (!any) return ddsp_error("term list '%s' switches no term on", list);
    memcpy(c->weight, w, sizeof w);
    return DDSP_OK;
}

const char *ddsp_phi_describe(const ddsp_phi_config *c, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int t = 0; t < DDSP_PHI_NTERMS; t++) {
        if (c->weight[t] <= 0.0 || len >= cap) continue;
        len += (size_t)snprintf(buf + len, cap - len, "%s%s=%g", len ? "," : "", term_names[t],
                                c->weight[t]);
        if (c->n_band_w[t] && len < cap)
            len += (size_t)snprintf(buf + len, cap - len, ",%s.bands=", term_names[t]);
        for (int g = 0; g < c->n_band_w[t] && len < cap; g++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%g", g ? ":" : "", c->band_w[t][g]);
    }
    if (len < cap && (c->weight[DDSP_PHI_SCAT1] > 0.0 || c->weight[DDSP_PHI_SCAT2] > 0.0))
        len += (size_t)snprintf(buf + len, cap - len, ",scat_j=%d,scat_q=%d", c->scat_j,
                                c->scat_q);
    if (len < cap && c->weight[DDSP_PHI_JTFS] > 0.0)
        len += (size_t)snprintf(buf + len, cap - len,
                                ",jtfs_j=%d,jtfs_q1=%d,jtfs_q2=%d,jtfs_jfr=%d,jtfs_qfr=%d",
                                c->jtfs_j, c->jtfs_q1, c->jtfs_q2, c->jtfs_jfr, c->jtfs_qfr);
    if (len < cap && c->dist == DDSP_PHI_DIST_COS)
        snprintf(buf + len, cap - len, "%sdist=cos", len ? "," : "");
    else if (len < cap)
        snprintf(buf + len, cap - len, "%sdist=l%d", len ? "," : "", c->dist);
    return buf;
}

int ddsp_phi_config_check(const ddsp_phi_config *c) {
    if (c->dist != 1 && c->dist != 2 && c->dist != DDSP_PHI_DIST_COS)
        return ddsp_error("distance must be l1, l2 or cos");
    int any = 0;
    for (int t = 0; t < DDSP_PHI_NTERMS; t++) {
        if (!(c->weight[t] >= 0.0) || !isfinite(c->weight[t]))
            return ddsp_error("weight of term %s must be a finite number >= 0", term_names[t]);
        any |= c->weight[t] > 0.0;
    }
    if (!any) return ddsp_error("no spectral term is on");
    if (c->scat_j < 2 || c->scat_j > 16)
        return ddsp_error("scat_j=%d out of range 2..16", c->scat_j);
    if (c->scat_q < 1 || c->scat_q > 32)
        return ddsp_error("scat_q=%d out of range 1..32", c->scat_q);
    if (c->jtfs_j < 2 || c->jtfs_j > 16) return ddsp_error("jtfs_j=%d out of range 2..16", c->jtfs_j);
    if (c->jtfs_q1 < 1 || c->jtfs_q1 > 32)
        return ddsp_error("jtfs_q1=%d out of range 1..32", c->jtfs_q1);
    if (c->jtfs_q2 < 1 || c->jtfs_q2 > 8) return ddsp_error("jtfs_q2=%d out of range 1..8", c->jtfs_q2);
    if (c->jtfs_jfr < 1 || c->jtfs_jfr > 6)
        return ddsp_error("jtfs_jfr=%d out of range 1..6", c->jtfs_jfr);
    if (c->jtfs_qfr < 1 || c->jtfs_qfr > 8)
        return ddsp_error("jtfs_qfr=%d out of range 1..8", c->jtfs_qfr);
    if (c->sample_rate <= 0) return ddsp_error("sample rate %d must be > 0", c->sample_rate);
    for (int t = 0; t < DDSP_PHI_NTERMS; t++)
        if (c->n_band_w[t] && c->n_band_w[t] != ddsp_phi_n_bands(c, t))
            return ddsp_error("%s.bands has %d weights, but %s has %d bands", term_names[t],
                              c->n_band_w[t], term_names[t], ddsp_phi_n_bands(c, t));
    ddsp_mss_config m;
    ddsp_mss_config_default(&m);
    m.n_scales = c->n_scales;
    memcpy(m.scales, c->scales, sizeof m.scales);
    m.overlap = c->overlap;
    return ddsp_mss_config_check(&m);
}

/* ------------------------------------------------------------------ state */
typedef struct {
    int n, hop, K;
    size_t F;
    double *win;
    fftw_plan r2c, c2r; /* F transforms at once */
    int nmel;           /* mel bands; band b covers bins mel_lo[b] .. + mel_nb[b] - 1 */
    int *mel_lo, *mel_nb, *mel_off;
    double *mel_w;      /* weights of all bands, band b from mel_off[b] */
    unsigned char *kband, *mband; /* (K), (nmel): the band (ddsp_phi_n_bands) of each */
} scale_t;

typedef struct {
    double *fr;        /* (F, n) frames / c2r output */
    fftw_complex *Xt;  /* (F, K) */
    fftw_complex *Xe;  /* (F, K); reused for U */
    double *St, *Se;   /* (F, K) */
    double *G;         /* (F, K) dL/dS_e */
    double *row;       /* (K) scratch */
    double *At, *Ae, *dA; /* (F, K) representations for dist cos and band weights */
} work_t;

struct ddsp_phi {
    ddsp_phi_config cfg;
    size_t N, max_batch;
    scale_t sc[DDSP_MSS_MAX_SCALES];
    int nthreads;
    work_t *work;
    float *grad;  /* (max_batch, S, N) per-scale gradients */
    float *gglob; /* (4, max_batch, N) gradients of the loudness, scattering, mfcc, jtfs terms */
    double *part; /* (max_batch, S, NTERMS) weighted term values */
    loud_t *loud; /* when the loudness term is on */
    scat_t *scat; /* when scat1 or scat2 is on */
    mfcc_t *mfcc; /* when mfcc is on */
    jtfs_t *jtfs; /* when jtfs is on */
    ddsp_phi_layout lay;
};

void ddsp_phi_free(ddsp_phi *p) {
    if (!p) return;
    for (int s = 0; s < p->cfg.n_scales; s++) {
        scale_t *sc = &p->sc[s];
        ddsp_free(sc->win), free(sc->mel_lo), free(sc->mel_nb), free(sc->mel_off);
        free(sc->mel_w), free(sc->kband), free(sc->mband);
    }
    loud_free(p->loud);
    scat_free(p->scat);
    mfcc_free(p->mfcc);
    jtfs_free(p->jtfs);
    if (p->work)
        for (int t = 0; t < p->nthreads; t++) {
            work_t *w = &p->work[t];
            ddsp_free(w->fr), ddsp_free(w->Xt), ddsp_free(w->Xe), ddsp_free(w->St);
            ddsp_free(w->Se), ddsp_free(w->G), ddsp_free(w->row);
            ddsp_free(w->At), ddsp_free(w->Ae), ddsp_free(w->dA);
        }
    free(p->work);
    ddsp_free(p->grad);
    ddsp_free(p->gglob);
    ddsp_free(p->part);
    free(p);
}

static double hz_to_mel(double f) {
    return 2595.0 * log10(1.0 + f / 700.0);
}
static double mel_to_hz(double m) {
    return 700.0 * (pow(10.0, m / 2595.0) - 1.0);
}

/* Triangular mel filterbank of a scale: clamp(K/8, 4, 128) bands with edges equally spaced
 * on the HTK mel scale from 0 to sample_rate/2, each peaking at 1, sampled at the bins'
 * frequencies. DDSP_ERR on out of memory. */
static int mel_init(scale_t *sc, int sample_rate) {
    int nm = sc->K / 8;
    nm = nm < 4 ? 4 : nm > 128 ? 128 : nm;
    sc->nmel = nm;
    sc->mel_lo = calloc((size_t)nm, sizeof(int));
    sc->mel_nb = calloc((size_t)nm, sizeof(int));
    sc->mel_off = calloc((size_t)nm, sizeof(int));
    sc->mel_w = calloc((size_t)sc->K * 2, sizeof(double)); /* each bin is in <= 2 bands */
    sc->kband = malloc((size_t)sc->K);
    sc->mband = malloc((size_t)nm);
    if (!sc->mel_lo || !sc->mel_nb || !sc->mel_off || !sc->mel_w || !sc->kband || !sc->mband)
        return DDSP_ERR;
    const double top = hz_to_mel(sample_rate / 2.0), df = (double)sample_rate / sc->n;
    for (int k = 0; k < sc->K; k++) { /* 8 mel-spaced frequency bands (see ddsp/loss.h) */
        const int g = (int)floor(8.0 * hz_to_mel(k * df) / top);
        sc->kband[k] = (unsigned char)(g > 7 ? 7 : g);
    }
    for (int b = 0; b < nm; b++) sc->mband[b] = (unsigned char)(8 * (b + 1) / (nm + 1));
    int off = 0;
    for (int b = 0; b < nm; b++) {
        const double f0 = mel_to_hz(top * b / (nm + 1)), f1 = mel_to_hz(top * (b + 1) / (nm + 1)),
                     f2 = mel_to_hz(top * (b + 2) / (nm + 1));
        sc->mel_lo[b] = sc->K, sc->mel_off[b] = off;
        for (int k = 0; k < sc->K; k++) {
            const double f = k * df;
            if (f <= f0 || f >= f2) continue;
            if (sc->mel_lo[b] == sc->K) sc->mel_lo[b] = k;
            sc->mel_w[off++] = f <= f1 ? (f - f0) / (f1 - f0) : (f2 - f) / (f2 - f1);
        }
        sc->mel_nb[b] = off - sc->mel_off[b];
        if (!sc->mel_nb[b]) sc->mel_lo[b] = 0;
    }
    return DDSP_OK;
}

ddsp_phi *ddsp_phi_init(const ddsp_phi_config *c, size_t max_batch, size_t N) {
    if (ddsp_phi_config_check(c) != DDSP_OK) return NULL;
    if (N == 0) return ddsp_error("spectral loss: empty signals (0 samples)"), NULL;
    if (max_batch == 0) return ddsp_error("spectral loss: batch must be >= 1"), NULL;
    ddsp_phi *p = calloc(1, sizeof *p);
    if (!p) return ddsp_error("spectral loss: out of memory"), NULL;
    p->cfg = *c;
    p->N = N;
    p->max_batch = max_batch;
    size_t max_fn = 0, max_fk = 0, max_k = 0;
    for (int s = 0; s < c->n_scales; s++) {
        scale_t *sc = &p->sc[s];
        sc->n = c->scales[s];
        sc->hop = (int)lround((double)sc->n * (1.0 - c->overlap));
        sc->K = sc->n / 2 + 1;
        sc->F = ddsp_stft_nframes(N, sc->hop);
        sc->win = ddsp_alloc(sizeof(double) * (size_t)sc->n);
        if (!sc->win) goto oom;
        ddsp_hann_periodic_f64(sc->win, sc->n);
        if (mel_init(sc, c->sample_rate)) goto oom;
        sc->r2c = ddsp_fft_plan_r2c_f64(sc->n, (int)sc->F);
        sc->c2r = ddsp_fft_plan_c2r_f64(sc->n, (int)sc->F);
        if (sc->F * (size_t)sc->n > max_fn) max_fn = sc->F * (size_t)sc->n;
        if (sc->F * (size_t)sc->K > max_fk) max_fk = sc->F * (size_t)sc->K;
        if ((size_t)sc->K > max_k) max_k = (size_t)sc->K;
    }
    p->nthreads = omp_get_max_threads();
    p->work = calloc((size_t)p->nthreads, sizeof *p->work);
    if (!p->work) goto oom;
    for (int t = 0; t < p->nthreads; t++) {
        work_t *w = &p->work[t];
        w->fr = ddsp_alloc(sizeof(double) * max_fn);
        w->Xt = ddsp_alloc(sizeof(fftw_complex) * max_fk);
        w->Xe = ddsp_alloc(sizeof(fftw_complex) * max_fk);
        w->St = ddsp_alloc(sizeof(double) * max_fk);
        w->Se = ddsp_alloc(sizeof(double) * max_fk);
        w->G = ddsp_alloc(sizeof(double) * max_fk);
        w->row = ddsp_alloc(sizeof(double) * max_k);
        w->At = ddsp_alloc(sizeof(double) * max_fk);
        w->Ae = ddsp_alloc(sizeof(double) * max_fk);
        w->dA = ddsp_alloc(sizeof(double) * max_fk);
        if (!w->fr || !w->Xt || !w->Xe || !w->St || !w->Se || !w->G || !w->row || !w->At ||
            !w->Ae || !w->dA)
            goto oom;
    }
    if (c->weight[DDSP_PHI_LOUDNESS] > 0.0 && !(p->loud = loud_init(N, c->sample_rate, max_batch)))
        goto fail;
    if ((c->weight[DDSP_PHI_SCAT1] > 0.0 || c->weight[DDSP_PHI_SCAT2] > 0.0) &&
        !(p->scat = scat_init(N, c->scat_j, c->scat_q, max_batch)))
        goto fail;
    if (p->scat && c->weight[DDSP_PHI_SCAT2] > 0.0) {
        int n1, n2, MJ;
        scat_shape(p->scat, &n1, &n2, &MJ);
        if (n2 == 0) { /* the term would be 0 with no gradient: a loss that learns nothing */
            ddsp_error("scat2: scat_j=%d, scat_q=%d leave no second-order path (every envelope "
                       "band lies above the second-order filters); use a larger scat_j",
                       c->scat_j, c->scat_q);
            goto fail;
        }
    }
    if (c->weight[DDSP_PHI_MFCC] > 0.0 && !(p->mfcc = mfcc_init(N, c->sample_rate, max_batch)))
        goto fail;
    if (c->weight[DDSP_PHI_JTFS] > 0.0 &&
        !(p->jtfs = jtfs_init(N, c->jtfs_j, c->jtfs_q1, c->jtfs_q2, c->jtfs_jfr, c->jtfs_qfr,
                              max_batch)))
        goto fail;
    ddsp_phi_layout_init(&p->lay, c);
    p->grad = ddsp_alloc(sizeof(float) * max_batch * (size_t)c->n_scales * N);
    p->gglob = ddsp_alloc(sizeof(float) * 4 * max_batch * N);
    p->part = ddsp_alloc(sizeof(double) * max_batch * (size_t)c->n_scales * DDSP_PHI_NTERMS);
    if (!p->grad || !p->gglob || !p->part) goto oom;
    return p;
oom:
    ddsp_error("spectral loss: out of memory (batch %zu, %zu samples)", max_batch, N);
fail:
    ddsp_phi_free(p);
    return NULL;
}

/* ------------------------------------------------------------------ one task */
static void spectrum(const scale_t *sc, work_t *w, const float *x, size_t N, fftw_complex *X,
                     double *S) {
    const size_t n = (size_t)sc->n, K = (size_t)sc->K;
    for (size_t f = 0; f < sc->F; f++) {
        const size_t start = f * (size_t)sc->hop;
        const size_t m_end = start >= N ? 0 : (N - start < n ? N - start : n);
        double *fr = w->fr + f * n;
        for (size_t m = 0; m < m_end; m++) fr[m] = (double)x[start + m] * sc->win[m];
        for (size_t m = m_end; m < n; m++) fr[m] = 0.0;
    }
    fftw_execute_dft_r2c(sc->r2c, w->fr, X);
    for (size_t i = 0; i < sc->F * K; i++) S[i] = hypot(X[i][0], X[i][1]);
}

/* D(r) and its derivative */
static inline double dist_val(int dist, double r) {
    return dist == 1 ? fabs(r) : r * r;
}
static inline double dist_der(int dist, double r) {
    return dist == 1 ? (double)((r > 0.0) - (r < 0.0)) : 2.0 * r;
}

/* Terms on differences S[a + step] - S[a], a = i * row + j (i < n1, j < n2): the weighted
 * mean D and its adjoint added to G. */
static double diff_term(const double *St, const double *Se, double *G, size_t n1, size_t n2,
                        size_t row, size_t step, int dist, double wt, size_t B) {
    const double cnt = (double)B * (double)(n1 * n2), nrm = wt / cnt;
    double sum = 0.0;
    for (size_t i = 0; i < n1; i++)
        for (size_t j = 0; j < n2; j++) {
            const size_t a = i * row + j, b = a + step;
            const double r = (Se[b] - Se[a]) - (St[b] - St[a]);
            sum += dist_val(dist, r);
            const double g = nrm * dist_der(dist, r);
            G[b] += g;
            G[a] -= g;
        }
    return wt * sum / cnt;
}

static phi_grid grid_of(const scale_t *sc) {
    return (phi_grid){sc->F,      (size_t)sc->K, sc->nmel,  sc->mel_lo, sc->mel_nb,
                      sc->mel_off, sc->mel_w,     sc->kband, sc->mband};
}

/* Adds weight * term to *val and its gradient w.r.t. S_e to G (scale `norm` = weight /
 * (B * entries) for the mean terms). */
static void term(const ddsp_phi *p, int t, size_t B, const scale_t *sc, work_t *w, double *val) {
    const double wt = p->cfg.weight[t];
    if (wt <= 0.0) return;
    const int dist = p->cfg.dist;
    if (t != DDSP_PHI_SC && (dist == DDSP_PHI_DIST_COS || p->cfg.n_band_w[t])) {
        const phi_grid g = grid_of(sc);
        *val = phi_rep_term(t, &g, w->St, w->Se, dist, p->cfg.n_band_w[t] ? p->cfg.band_w[t] : NULL,
                            wt, B, w->At, w->Ae, w->dA, w->G);
        return;
    }
    const size_t F = sc->F, K = (size_t)sc->K;
    const double *St = w->St, *Se = w->Se;
    double *G = w->G, sum = 0.0;
    switch (t) {
    case DDSP_PHI_MAG: {
        const double nrm = wt / ((double)B * (double)(F * K));
        for (size_t i = 0; i < F * K; i++) {
            const double r = Se[i] - St[i];
            sum += dist_val(dist, r);
            G[i] += nrm * dist_der(dist, r);
        }
        *val = wt * sum / ((double)B * (double)(F * K));
        break;
    }
    case DDSP_PHI_LOGMAG: {
        const double eps = (double)DDSP_MSS_LOG_EPS;
        const double nrm = wt / ((double)B * (double)(F * K));
        for (size_t i = 0; i < F * K; i++) {
            const double r = log(Se[i] + eps) - log(St[i] + eps);
            sum += dist_val(dist, r);
            G[i] += nrm * dist_der(dist, r) / (Se[i] + eps);
        }
        *val = wt * sum / ((double)B * (double)(F * K));
        break;
    }
    case DDSP_PHI_DELTA_TIME: /* S[f+1, k] - S[f, k] */
        if (F < 2) return;
        *val = diff_term(St, Se, G, F - 1, K, K, K, dist, wt, B);
        break;
    case DDSP_PHI_DELTA_FREQ: /* S[f, k+1] - S[f, k] */
        *val = diff_term(St, Se, G, F, K - 1, K, 1, dist, wt, B);
        break;
    case DDSP_PHI_CUMSUM_FREQ: {
        const double cnt = (double)B * (double)(F * K), nrm = wt / cnt;
        for (size_t f = 0; f < F; f++) {
            double ce = 0.0, ct = 0.0;
            for (size_t k = 0; k < K; k++) {
                ce += Se[f * K + k];
                ct += St[f * K + k];
                const double r = ce - ct;
                sum += dist_val(dist, r);
                w->row[k] = nrm * dist_der(dist, r);
            }
            double acc = 0.0; /* adjoint of the cumulative sum: suffix sums */
            for (size_t k = K; k-- > 0;) {
                acc += w->row[k];
                G[f * K + k] += acc;
            }
        }
        *val = wt * sum / cnt;
        break;
    }
    case DDSP_PHI_SC: {
        double dd = 0.0, tt = 0.0;
        for (size_t i = 0; i < F * K; i++) {
            const double r = Se[i] - St[i];
            dd += r * r;
            tt += St[i] * St[i];
        }
        /* ||S_t|| floored at the log terms' 1e-5 per bin, so the term is finite and does not
         * depend on the level when the target is silent (it measured ||S_e|| in absolute
         * units then: 1625 for noise against silence, 1.8e30 against a 1e-30 target) */
        const double eps = (double)DDSP_MSS_LOG_EPS;
        const double nd = sqrt(dd), nt = sqrt(tt + (double)(F * K) * eps * eps);
        *val = wt * nd / nt / (double)B;
        if (nd > 0.0) {
            const double g = wt / ((double)B * nd * nt);
            for (size_t i = 0; i < F * K; i++) G[i] += g * (Se[i] - St[i]);
        }
        break;
    }
    case DDSP_PHI_MEL:
    case DDSP_PHI_LOGMEL: {
        const int lg = t == DDSP_PHI_LOGMEL;
        const double eps = (double)DDSP_MSS_LOG_EPS, cnt = (double)B * (double)(F * sc->nmel);
        for (size_t f = 0; f < F; f++)
            for (int b = 0; b < sc->nmel; b++) {
                const double *mw = sc->mel_w + sc->mel_off[b];
                const size_t i0 = f * K + (size_t)sc->mel_lo[b];
                double me = 0.0, mt = 0.0;
                for (int i = 0; i < sc->mel_nb[b]; i++) me += mw[i] * Se[i0 + i], mt += mw[i] * St[i0 + i];
                const double r = lg ? log(me + eps) - log(mt + eps) : me - mt;
                sum += dist_val(dist, r);
                const double g = wt / cnt * dist_der(dist, r) / (lg ? me + eps : 1.0);
                for (int i = 0; i < sc->mel_nb[b]; i++) G[i0 + i] += g * mw[i];
            }
        *val = wt * sum / cnt;
        break;
    }
    default:
        DDSP_ASSERT(0, "unknown spectral term %d", t);
    }
}

static void run_task(ddsp_phi *p, size_t b, int s, size_t B, const float *target,
                     const float *est, int grad) {
    const scale_t *sc = &p->sc[s];
    work_t *w = &p->work[omp_get_thread_num()];
    const size_t N = p->N, S = (size_t)p->cfg.n_scales, F = sc->F, K = (size_t)sc->K,
                 n = (size_t)sc->n;
    spectrum(sc, w, target + b * N, N, w->Xt, w->St);
    spectrum(sc, w, est + b * N, N, w->Xe, w->Se);
    memset(w->G, 0, sizeof(double) * F * K);
    double *part = p->part + (b * S + (size_t)s) * DDSP_PHI_NTERMS;
    for (int t = 0; t < DDSP_PHI_NTERMS; t++) {
        part[t] = 0.0;
        if (t < DDSP_PHI_FIRST_GLOBAL) term(p, t, B, sc, w, &part[t]);
    }
    if (!grad) return;
    /* U = G X / |X| (0 where |X| = 0), interior bins halved: adjoint of r2c via c2r */
    for (size_t f = 0; f < F; f++)
        for (size_t k = 0; k < K; k++) {
            const size_t i = f * K + k;
            const double r = w->Se[i] > 0.0 ? w->G[i] / w->Se[i] : 0.0;
            const double h = (k == 0 || k == K - 1) ? 1.0 : 0.5;
            w->Xe[i][0] *= r * h;
            w->Xe[i][1] *= r * h;
        }
    fftw_execute_dft_c2r(sc->c2r, w->Xe, w->fr);
    float *g = p->grad + (b * S + (size_t)s) * N;
    memset(g, 0, sizeof(float) * N);
    for (size_t f = 0; f < F; f++) {
        const size_t start = f * (size_t)sc->hop;
        if (start >= N) break;
        const size_t m_end = N - start < n ? N - start : n;
        const double *fr = w->fr + f * n;
        for (size_t m = 0; m < m_end; m++) g[start + m] += (float)(fr[m] * sc->win[m]);
    }
}

void ddsp_phi_eval(ddsp_phi *p, ddsp_phi_value *out, float *d_estimate, const float *target,
                   const float *estimate, size_t B) {
    ddsp_phi_eval_scaled(p, out, d_estimate, 1.0f, target, estimate, B);
}

void ddsp_phi_eval_scaled(ddsp_phi *p, ddsp_phi_value *out, float *d_estimate, float scale,
                          const float *target, const float *estimate, size_t B) {
    DDSP_ASSERT(B >= 1 && B <= p->max_batch, "spectral loss batch %zu not in 1..%zu", B,
                p->max_batch);
    const ddsp_phi_config *c = &p->cfg;
    const size_t S = (size_t)c->n_scales, N = p->N;
    const int grad = d_estimate != NULL;
    const int nt = omp_get_max_threads() < p->nthreads ? omp_get_max_threads() : p->nthreads;
    int per_scale = 0; /* any term on the spectrograms? (else skip the STFTs) */
    for (int t = 0; t < DDSP_PHI_FIRST_GLOBAL; t++) per_scale |= c->weight[t] > 0.0;
    if (per_scale) {
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (size_t task = 0; task < B * S; task++)
            run_task(p, task % B, (int)(task / B), B, target, estimate, grad);
    } else {
        memset(p->part, 0, sizeof(double) * B * S * DDSP_PHI_NTERMS);
    }
    /* terms on whole signals (each parallel inside) */
    double glob[DDSP_PHI_NTERMS] = {0}, sv[2] = {0.0, 0.0};
    float *gl = p->gglob, *gs = p->gglob + B * N, *gm = p->gglob + 2 * B * N,
          *gj = p->gglob + 3 * B * N;
    if (p->loud)
        glob[DDSP_PHI_LOUDNESS] = loud_eval(p->loud, c->dist, c->weight[DDSP_PHI_LOUDNESS],
                                            target, estimate, B, grad ? gl : NULL);
    if (p->scat) {
        scat_eval(p->scat, c->dist, c->weight[DDSP_PHI_SCAT1], c->weight[DDSP_PHI_SCAT2],
                  c->n_band_w[DDSP_PHI_SCAT1] ? c->band_w[DDSP_PHI_SCAT1] : NULL,
                  c->n_band_w[DDSP_PHI_SCAT2] ? c->band_w[DDSP_PHI_SCAT2] : NULL, target,
                  estimate, B, sv, grad ? gs : NULL);
        glob[DDSP_PHI_SCAT1] = sv[0], glob[DDSP_PHI_SCAT2] = sv[1];
    }
    if (p->mfcc)
        glob[DDSP_PHI_MFCC] = mfcc_eval(p->mfcc, c->dist, c->weight[DDSP_PHI_MFCC],
                                        c->n_band_w[DDSP_PHI_MFCC] ? c->band_w[DDSP_PHI_MFCC] : NULL,
                                        target, estimate, B, grad ? gm : NULL);
    DDSP_ASSERT(!p->jtfs || ddsp_phi_eval_check(c) == DDSP_OK, "%s", ddsp_last_error());
    if (p->jtfs)
        glob[DDSP_PHI_JTFS] = jtfs_eval(p->jtfs, c->dist, c->weight[DDSP_PHI_JTFS], target,
                                        estimate, B, grad ? gj : NULL, NULL);
    if (grad) {
        /* scales in order, then loudness, scattering, mfcc, jtfs, whatever the thread count */
#pragma omp parallel for num_threads(nt) schedule(static)
        for (size_t b = 0; b < B; b++) {
            /* summed in a work row, then added scaled: the caller's buffer accumulates, as
             * every backward here does */
            float *acc = p->grad + (b * S) * N; /* scale 0's row, reused as the sum */
            if (!per_scale) memset(acc, 0, sizeof(float) * N);
            for (size_t s = 1; per_scale && s < S; s++) {
                const float *g = p->grad + (b * S + s) * N;
                for (size_t i = 0; i < N; i++) acc[i] += g[i];
            }
            if (p->loud)
                for (size_t i = 0; i < N; i++) acc[i] += gl[b * N + i];
            if (p->scat)
                for (size_t i = 0; i < N; i++) acc[i] += gs[b * N + i];
            if (p->mfcc)
                for (size_t i = 0; i < N; i++) acc[i] += gm[b * N + i];
            if (p->jtfs)
                for (size_t i = 0; i < N; i++) acc[i] += gj[b * N + i];
            float *dst = d_estimate + b * N;
            for (size_t i = 0; i < N; i++) dst[i] += scale * acc[i];
        }
    }
    if (out) {
        memset(out, 0, sizeof *out);
        for (size_t s = 0; s < S; s++)
            for (int t = 0; t < DDSP_PHI_FIRST_GLOBAL; t++) {
                double v = 0.0;
                for (size_t b = 0; b < B; b++) v += p->part[(b * S + s) * DDSP_PHI_NTERMS + t];
                out->per_scale[s] += v;
                out->per_term[t] += v;
            }
        for (size_t s = 0; s < S; s++) out->total += out->per_scale[s];
        for (int t = DDSP_PHI_FIRST_GLOBAL; t < DDSP_PHI_NTERMS; t++) {
            out->per_term[t] = glob[t];
            out->total += glob[t];
        }
    }
}

/* ------------------------------------------------------------------ comparing two sounds */
void ddsp_phi_compare(ddsp_phi *p, double *cells, const float *a, const float *b, size_t B) {
    DDSP_ASSERT(B >= 1 && B <= p->max_batch, "compare batch %zu not in 1..%zu", B, p->max_batch);
    const ddsp_phi_config *c = &p->cfg;
    const ddsp_phi_layout *l = &p->lay;
    const size_t S = (size_t)c->n_scales, N = p->N, stride = l->n_cells * DDSP_CELL_N;
    const int nt = omp_get_max_threads() < p->nthreads ? omp_get_max_threads() : p->nthreads;
    memset(cells, 0, sizeof(double) * B * stride);
    int per_scale = 0;
    for (int t = 0; t < DDSP_PHI_FIRST_GLOBAL; t++) per_scale |= c->weight[t] > 0.0;
    if (per_scale) {
        /* each task writes the cells of its own (item, scale) only */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (size_t task = 0; task < B * S; task++) {
            const size_t i = task % B, s = task / B;
            const scale_t *sc = &p->sc[s];
            work_t *w = &p->work[omp_get_thread_num()];
            const phi_grid g = grid_of(sc);
            spectrum(sc, w, a + i * N, N, w->Xt, w->St);
            spectrum(sc, w, b + i * N, N, w->Xe, w->Se);
            for (int t = 0; t < DDSP_PHI_FIRST_GLOBAL; t++) {
                if (c->weight[t] <= 0.0) continue;
                double *cl = cells + i * stride + (l->off[t] + s * (size_t)l->n_bands[t]) * DDSP_CELL_N;
                if (t == DDSP_PHI_SC) { /* the sums the spectral convergence needs */
                    for (size_t j = 0; j < sc->F * (size_t)sc->K; j++) {
                        const double r = w->St[j] - w->Se[j];
                        cl[DDSP_CELL_SQ] += r * r, cl[DDSP_CELL_AA] += w->St[j] * w->St[j];
                    }
                    continue;
                }
                const size_t n = phi_rep_len(t, &g);
                phi_bands bd;
                phi_rep_forward(t, &g, w->St, w->At, &bd);
                phi_rep_forward(t, &g, w->Se, w->Ae, &bd);
                phi_rep_cells(cl, w->At, w->Ae, n, &bd);
            }
        }
    }
    if (p->loud) loud_compare(p->loud, a, b, B, cells + l->off[DDSP_PHI_LOUDNESS] * DDSP_CELL_N, stride);
    if (p->scat)
        scat_compare(p->scat, a, b, B,
                     l->n_blocks[DDSP_PHI_SCAT1] ? cells + l->off[DDSP_PHI_SCAT1] * DDSP_CELL_N : NULL,
                     l->n_blocks[DDSP_PHI_SCAT2] ? cells + l->off[DDSP_PHI_SCAT2] * DDSP_CELL_N : NULL,
                     stride);
    if (p->mfcc) mfcc_compare(p->mfcc, a, b, B, cells + l->off[DDSP_PHI_MFCC] * DDSP_CELL_N, stride);
    if (p->jtfs)
        jtfs_compare(p->jtfs, a, b, B, l->n_bands[DDSP_PHI_JTFS],
                     cells + l->off[DDSP_PHI_JTFS] * DDSP_CELL_N, stride);
}
