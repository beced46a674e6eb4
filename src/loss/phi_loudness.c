/* Magenta's SpectralLoss loudness term with its exact gradient (see phi_terms.h).
 *
 * Per centred frame f (start f*hop - n/2, zeros outside the signal), with X = rfft(w * frame)
 * and A-weights a_k: p_f = (1/K) sum_k a_k |X_k|^2, L_f = 10 log10(max(p_f, p_min)),
 * p_min = 10^(-range/10) (so L_f >= -range and the floor at -range is the same clamp).
 * dL_f/dX_k = 10 / (ln 10 p_f) * (2/K) a_k X_k where p_f > p_min, else 0; then the adjoint of
 * r2c (interior bins halved, c2r), times the window, overlap-added. Frames go in blocks of
 * BLOCK through one batched plan (the last block is padded with silent frames). */
#include "loss/phi_terms.h"

#include "ddsp/dsp.h"
#include "ddsp/features.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { NFFT = 2048, HOP = 64, BLOCK = 32 };
static const double RANGE_DB = 120.0;

typedef struct {
    double *fr;        /* (BLOCK, NFFT) frames / c2r output */
    fftw_complex *Xt, *Xe; /* (BLOCK, K) */
    double *Lt, *Le;   /* (F) loudness of target / estimate */
    double *g;         /* (F) dL/dL_e */
    double *pw;        /* (F) weighted power of the estimate's frames (dist cos) */
    double *acc;       /* (N) gradient, accumulated in double */
} work_t;

struct loud {
    size_t N, F, max_batch;
    double *win, *wk; /* (NFFT), (K) */
    int nthreads;
    work_t *work;
    double *part; /* (max_batch) */
    fftw_plan r2c, c2r; /* BLOCK frames at once, made at init */
};

void loud_free(loud_t *l) {
    if (!l) return;
    ddsp_free(l->win), ddsp_free(l->wk), ddsp_free(l->part);
    for (int t = 0; l->work && t < l->nthreads; t++) {
        work_t *w = &l->work[t];
        ddsp_free(w->fr), ddsp_free(w->Xt), ddsp_free(w->Xe);
        ddsp_free(w->Lt), ddsp_free(w->Le), ddsp_free(w->g), ddsp_free(w->acc);
        ddsp_free(w->pw);
    }
    free(l->work);
    free(l);
}

loud_t *loud_init(size_t N, int sample_rate, size_t max_batch) {
    loud_t *l = calloc(1, sizeof *l);
    if (!l) return ddsp_error("loudness term: out of memory"), NULL;
    const size_t K = NFFT / 2 + 1;
    l->N = N, l->max_batch = max_batch;
    l->F = ddsp_feature_frames(N, HOP);
    l->win = ddsp_alloc(sizeof(double) * NFFT);
    l->wk = ddsp_alloc(sizeof(double) * K);
    l->part = ddsp_alloc(sizeof(double) * max_batch);
    l->nthreads = omp_get_max_threads();
    l->work = calloc((size_t)l->nthreads, sizeof *l->work);
    if (!l->win || !l->wk || !l->part || !l->work) goto oom;
    for (int t = 0; t < l->nthreads; t++) {
        work_t *w = &l->work[t];
        w->fr = ddsp_alloc(sizeof(double) * BLOCK * NFFT);
        w->Xt = ddsp_alloc(sizeof(fftw_complex) * BLOCK * K);
        w->Xe = ddsp_alloc(sizeof(fftw_complex) * BLOCK * K);
        w->Lt = ddsp_alloc(sizeof(double) * l->F);
        w->Le = ddsp_alloc(sizeof(double) * l->F);
        w->g = ddsp_alloc(sizeof(double) * l->F);
        w->acc = ddsp_alloc(sizeof(double) * N);
        w->pw = ddsp_alloc(sizeof(double) * l->F);
        if (!w->fr || !w->Xt || !w->Xe || !w->Lt || !w->Le || !w->g || !w->acc || !w->pw)
            goto oom;
    }
    ddsp_hann_periodic_f64(l->win, NFFT);
    ddsp_loudness_weights(l->wk, NFFT, sample_rate);
    l->r2c = ddsp_fft_plan_r2c_f64(NFFT, BLOCK);
    l->c2r = ddsp_fft_plan_c2r_f64(NFFT, BLOCK);
    return l;
oom:
    loud_free(l);
    ddsp_error("loudness term: out of memory (%zu samples)", N);
    return NULL;
}

/* windowed centred frames f0 .. f0+cnt-1 of x into w->fr (BLOCK rows, the rest silent) */
static void frames(const loud_t *l, work_t *w, const float *x, size_t f0, size_t cnt) {
    memset(w->fr, 0, sizeof(double) * BLOCK * NFFT);
    for (size_t j = 0; j < cnt; j++) {
        const long start = (long)((f0 + j) * HOP) - NFFT / 2;
        double *fr = w->fr + j * NFFT;
        for (int m = 0; m < NFFT; m++) {
            const long i = start + m;
            if (i >= 0 && (size_t)i < l->N) fr[m] = (double)x[i] * l->win[m];
        }
    }
}

/* A-weighted mean power of each of cnt spectra */
static void power(const loud_t *l, const fftw_complex *X, size_t cnt, double *p) {
    const size_t K = NFFT / 2 + 1;
    for (size_t j = 0; j < cnt; j++) {
        double s = 0.0;
        for (size_t k = 0; k < K; k++) {
            const fftw_complex *x = &X[j * K + k];
            s += ((*x)[0] * (*x)[0] + (*x)[1] * (*x)[1]) * l->wk[k];
        }
        p[j] = s / (double)K;
    }
}

static double item(loud_t *l, work_t *w, int dist, double nrm, const float *t, const float *e,
                   float *grad) {
    const size_t K = NFFT / 2 + 1, F = l->F;
    const double pmin = pow(10.0, -RANGE_DB / 10.0);
    const fftw_plan r2c = l->r2c;
    double p[BLOCK], sum = 0.0;
    for (size_t f0 = 0; f0 < F; f0 += BLOCK) {
        const size_t cnt = F - f0 < BLOCK ? F - f0 : BLOCK;
        frames(l, w, t, f0, cnt);
        fftw_execute_dft_r2c(r2c, w->fr, w->Xt);
        power(l, w->Xt, cnt, p);
        for (size_t j = 0; j < cnt; j++) w->Lt[f0 + j] = 10.0 * log10(p[j] > pmin ? p[j] : pmin);
        frames(l, w, e, f0, cnt);
        fftw_execute_dft_r2c(r2c, w->fr, w->Xe);
        power(l, w->Xe, cnt, p);
        for (size_t j = 0; j < cnt; j++) {
            w->Le[f0 + j] = 10.0 * log10(p[j] > pmin ? p[j] : pmin);
            const double r = w->Le[f0 + j] - w->Lt[f0 + j];
            sum += dist == 1 ? fabs(r) : r * r;
            const double d = dist == 1 ? (double)((r > 0.0) - (r < 0.0)) : 2.0 * r;
            /* dL/dX_k = g * 10/(ln 10 p) * (2/K) a_k X_k; r2c adjoint halves interior bins */
            w->g[f0 + j] = p[j] > pmin ? nrm * d * 20.0 / (log(10.0) * p[j] * (double)K) : 0.0;
        }
        if (!grad) continue;
        if (f0 == 0) memset(w->acc, 0, sizeof(double) * l->N);
        for (size_t j = 0; j < BLOCK; j++)
            for (size_t k = 0; k < K; k++) {
                const double h = (k == 0 || k == K - 1) ? 1.0 : 0.5;
                const double c = j < cnt ? w->g[f0 + j] * l->wk[k] * h : 0.0;
                w->Xe[j * K + k][0] *= c;
                w->Xe[j * K + k][1] *= c;
            }
        fftw_execute_dft_c2r(l->c2r, w->Xe, w->fr);
        for (size_t j = 0; j < cnt; j++) {
            const long start = (long)((f0 + j) * HOP) - NFFT / 2;
            const double *fr = w->fr + j * NFFT;
            for (int m = 0; m < NFFT; m++) {
                const long i = start + m;
                if (i >= 0 && (size_t)i < l->N) w->acc[i] += fr[m] * l->win[m];
            }
        }
    }
    if (grad)
        for (size_t i = 0; i < l->N; i++) grad[i] = (float)w->acc[i];
    return sum;
}

/* L (F) <- the loudness of x; p (F) <- the frames' weighted power when not NULL. */
static void levels(const loud_t *l, work_t *w, const float *x, double *L, double *p) {
    const double pmin = pow(10.0, -RANGE_DB / 10.0);
    double pb[BLOCK];
    for (size_t f0 = 0; f0 < l->F; f0 += BLOCK) {
        const size_t cnt = l->F - f0 < BLOCK ? l->F - f0 : BLOCK;
        frames(l, w, x, f0, cnt);
        fftw_execute_dft_r2c(l->r2c, w->fr, w->Xe);
        power(l, w->Xe, cnt, pb);
        for (size_t j = 0; j < cnt; j++) {
            L[f0 + j] = 10.0 * log10(pb[j] > pmin ? pb[j] : pmin);
            if (p) p[f0 + j] = pb[j];
        }
    }
}

/* dist cos: the cosine distance of the two loudness curves (whole, so in two passes: the
 * curves, then the estimate's frames again for the gradient); w->g gets dL/dL_e. */
static double item_cos(loud_t *l, work_t *w, double scale, const float *t, const float *e,
                       float *grad) {
    const size_t K = NFFT / 2 + 1, F = l->F;
    const double pmin = pow(10.0, -RANGE_DB / 10.0);
    levels(l, w, t, w->Lt, NULL);
    levels(l, w, e, w->Le, w->pw);
    const double v = phi_rep_dist(DDSP_PHI_DIST_COS, w->Le, w->Lt, F, NULL, NULL, scale,
                                  grad ? w->g : NULL);
    if (!grad) return v;
    for (size_t f = 0; f < F; f++) {
        const double p = w->pw[f];
        w->g[f] = p > pmin ? w->g[f] * 20.0 / (log(10.0) * p * (double)K) : 0.0;
    }
    memset(w->acc, 0, sizeof(double) * l->N);
    for (size_t f0 = 0; f0 < F; f0 += BLOCK) {
        const size_t cnt = F - f0 < BLOCK ? F - f0 : BLOCK;
        frames(l, w, e, f0, cnt);
        fftw_execute_dft_r2c(l->r2c, w->fr, w->Xe);
        for (size_t j = 0; j < BLOCK; j++)
            for (size_t k = 0; k < K; k++) {
                const double h = (k == 0 || k == K - 1) ? 1.0 : 0.5;
                const double c = j < cnt ? w->g[f0 + j] * l->wk[k] * h : 0.0;
                w->Xe[j * K + k][0] *= c;
                w->Xe[j * K + k][1] *= c;
            }
        fftw_execute_dft_c2r(l->c2r, w->Xe, w->fr);
        for (size_t j = 0; j < cnt; j++) {
            const long start = (long)((f0 + j) * HOP) - NFFT / 2;
            const double *fr = w->fr + j * NFFT;
            for (int m = 0; m < NFFT; m++) {
                const long i = start + m;
                if (i >= 0 && (size_t)i < l->N) w->acc[i] += fr[m] * l->win[m];
            }
        }
    }
    for (size_t i = 0; i < l->N; i++) grad[i] = (float)w->acc[i];
    return v;
}

double loud_eval(loud_t *l, int dist, double weight, const float *target, const float *est,
                 size_t B, float *grad) {
    DDSP_ASSERT(B >= 1 && B <= l->max_batch, "loudness batch %zu not in 1..%zu", B,
                l->max_batch);
    const int cos = dist == DDSP_PHI_DIST_COS;
    const double cnt = cos ? (double)B : (double)B * (double)l->F, nrm = weight / cnt;
    const int nt = omp_get_max_threads() < l->nthreads ? omp_get_max_threads() : l->nthreads;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (size_t b = 0; b < B; b++) {
        work_t *w = &l->work[omp_get_thread_num()];
        float *g = grad ? grad + b * l->N : NULL;
        l->part[b] = cos ? item_cos(l, w, nrm, target + b * l->N, est + b * l->N, g)
                         : item(l, w, dist, nrm, target + b * l->N, est + b * l->N, g);
    }
    double sum = 0.0;
    for (size_t b = 0; b < B; b++) sum += l->part[b];
    return weight * sum / cnt;
}

void loud_compare(loud_t *l, const float *a, const float *b, size_t B, double *cells,
                  size_t stride) {
    DDSP_ASSERT(B >= 1 && B <= l->max_batch, "loudness batch %zu not in 1..%zu", B,
                l->max_batch);
    const int nt = omp_get_max_threads() < l->nthreads ? omp_get_max_threads() : l->nthreads;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (size_t i = 0; i < B; i++) {
        work_t *w = &l->work[omp_get_thread_num()];
        levels(l, w, a + i * l->N, w->Lt, NULL);
        levels(l, w, b + i * l->N, w->Le, NULL);
        phi_rep_cells(cells + i * stride, w->Lt, w->Le, l->F, NULL);
    }
}
