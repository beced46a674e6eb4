/* The mfcc Φ term: torchaudio.transforms.MFCC as the timbre collection calls it
 * (MFCC(sample_rate, melkwargs={"n_fft": 2048, "hop_length": 512}): 40 coefficients, DCT-II
 * "ortho", dB of the power mel spectrogram with top_db 80), in double, with its exact
 * gradient (see phi_terms.h and "more choices of Φ" in ddsp/loss.h).
 *
 * Forward, per signal x (N samples), following torchaudio's functional.py:
 *   xp = x reflect-padded by n_fft/2 on both sides (torch.stft center=True, pad_mode reflect)
 *   frame f = xp[f hop : f hop + n_fft] * hann_periodic, T = 1 + N / hop (integer division)
 *   P[f, k] = |rfft(frame)|^2 (power 2, not normalised)
 *   M[f, m] = sum_k fb[k, m] P[f, k]: melscale_fbanks(n_freqs 1025, f_min 0, f_max sr // 2,
 *             n_mels 128, norm None, htk): bins at linspace(0, sr // 2, 1025), triangles
 *             between HTK-mel-spaced points f_pts (128 + 2 of them)
 *   D = 10 log10(max(M, 1e-10)) (AmplitudeToDB "power", ref 1: db_multiplier 0); then
 *   D' = max(D, max over the whole spectrogram of D - 80) (top_db: the input is one
 *        (1, 128, T) spectrogram, so its own maximum)
 *   C[f, c] = sum_m D'[f, m] dct[m, c], dct = create_dct(40, 128, "ortho").
 * Backward: the adjoint of each step. The clamp's threshold depends on the maximum, so the
 * gradient of the clamped entries flows to the maximum (split evenly among equal maxima, as
 * amax's); entries exactly at the threshold count as clamped, M at or below 1e-10 gets 0. */
#include "loss/phi_terms.h"

#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { K = MFCC_NFFT / 2 + 1 };
static const double AMIN = 1e-10, TOP_DB = 80.0, PI = 3.14159265358979323846;

typedef struct {
    double *xp;      /* (N + n_fft) padded signal / its gradient */
    double *fr;      /* (T, n_fft) frames / c2r output */
    fftw_complex *X; /* (T, K) spectra of the estimate (kept for the backward) */
    double *P;       /* (T, K) power / its gradient */
    double *M;       /* (T, 128) mel power of the estimate */
    double *D;       /* (T, 128) dB before the clamp / gradients */
    double *Ct, *Ce; /* (T, 40) coefficients */
    double *dC;      /* (T, 40) */
} work_t;

struct mfcc {
    size_t N, T, max_batch;
    double *win;               /* (n_fft) */
    int mel_lo[MFCC_NMELS], mel_nb[MFCC_NMELS], mel_off[MFCC_NMELS];
    double *mel_w;             /* weights of all mel bands, band m from mel_off[m] */
    double *dct;               /* (128, 40): dct[m * 40 + c] */
    unsigned char bmap[MFCC_NCOEF];
    fftw_plan r2c, c2r;        /* T frames at once */
    int nthreads;
    work_t *work;
    double *part;              /* (max_batch) */
};

int mfcc_band(int c) {
    static const int edge[MFCC_NBANDS] = {1, 3, 6, 12, 20, MFCC_NCOEF};
    int g = 0;
    while (c >= edge[g]) g++;
    return g;
}

size_t mfcc_frames(const mfcc_t *m) {
    return m->T;
}

void mfcc_free(mfcc_t *m) {
    if (!m) return;
    ddsp_free(m->win), ddsp_free(m->mel_w), ddsp_free(m->dct), ddsp_free(m->part);
    for (int t = 0; m->work && t < m->nthreads; t++) {
        work_t *w = &m->work[t];
        ddsp_free(w->xp), ddsp_free(w->fr), ddsp_free(w->X), ddsp_free(w->P), ddsp_free(w->M);
        ddsp_free(w->D), ddsp_free(w->Ct), ddsp_free(w->Ce), ddsp_free(w->dC);
    }
    free(m->work);
    free(m);
}

/* torchaudio's melscale_fbanks (htk, norm None) stored as one run of nonzero weights per
 * band; DDSP_ERR on out of memory. */
static int filterbank(mfcc_t *m, int sample_rate) {
    const double ftop = (double)(sample_rate / 2), mmax = 2595.0 * log10(1.0 + ftop / 700.0);
    double fpts[MFCC_NMELS + 2], w[K];
    for (int i = 0; i < MFCC_NMELS + 2; i++) {
        const double mel = mmax * i / (MFCC_NMELS + 1);
        fpts[i] = 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
    }
    m->mel_w = ddsp_alloc(sizeof(double) * 2 * K); /* each bin is in <= 2 bands */
    if (!m->mel_w) return DDSP_ERR;
    int off = 0;
    for (int b = 0; b < MFCC_NMELS; b++) {
        int lo = -1, hi = -1;
        for (int k = 0; k < K; k++) {
            const double f = ftop * k / (K - 1);
            const double down = (f - fpts[b]) / (fpts[b + 1] - fpts[b]);
            const double up = (fpts[b + 2] - f) / (fpts[b + 2] - fpts[b + 1]);
            w[k] = fmax(0.0, fmin(down, up));
            if (w[k] > 0.0) {
                if (lo < 0) lo = k;
                hi = k;
            }
        }
        m->mel_off[b] = off;
        m->mel_lo[b] = lo < 0 ? 0 : lo;
        m->mel_nb[b] = lo < 0 ? 0 : hi - lo + 1;
        DDSP_ASSERT(off + m->mel_nb[b] <= 2 * K, "mel filterbank overlap");
        for (int i = 0; i < m->mel_nb[b]; i++) m->mel_w[off++] = w[lo + i];
    }
    return DDSP_OK;
}

mfcc_t *mfcc_init(size_t N, int sample_rate, size_t max_batch) {
    if (N <= MFCC_NFFT / 2)
        return ddsp_error("mfcc term: the signal has %zu samples, it needs at least %d (n_fft "
                          "%d with reflect padding)",
                          N, MFCC_NFFT / 2 + 1, MFCC_NFFT),
               NULL;
    if (sample_rate < 2) return ddsp_error("mfcc term: sample rate %d", sample_rate), NULL;
    mfcc_t *m = calloc(1, sizeof *m);
    if (!m) return ddsp_error("mfcc term: out of memory"), NULL;
    m->N = N, m->T = 1 + N / MFCC_HOP, m->max_batch = max_batch;
    const size_t T = m->T;
    m->win = ddsp_alloc(sizeof(double) * MFCC_NFFT);
    m->dct = ddsp_alloc(sizeof(double) * MFCC_NMELS * MFCC_NCOEF);
    m->part = ddsp_alloc(sizeof(double) * max_batch);
    m->nthreads = omp_get_max_threads();
    m->work = calloc((size_t)m->nthreads, sizeof *m->work);
    if (!m->win || !m->dct || !m->part || !m->work || filterbank(m, sample_rate)) goto oom;
    ddsp_hann_periodic_f64(m->win, MFCC_NFFT);
    for (int b = 0; b < MFCC_NMELS; b++)
        for (int c = 0; c < MFCC_NCOEF; c++)
            m->dct[b * MFCC_NCOEF + c] = cos(PI / MFCC_NMELS * (b + 0.5) * c) *
                                         sqrt(2.0 / MFCC_NMELS) * (c == 0 ? sqrt(0.5) : 1.0);
    for (int c = 0; c < MFCC_NCOEF; c++) m->bmap[c] = (unsigned char)mfcc_band(c);
    for (int t = 0; t < m->nthreads; t++) {
        work_t *w = &m->work[t];
        w->xp = ddsp_alloc(sizeof(double) * (N + MFCC_NFFT));
        w->fr = ddsp_alloc(sizeof(double) * T * MFCC_NFFT);
        w->X = ddsp_alloc(sizeof(fftw_complex) * T * K);
        w->P = ddsp_alloc(sizeof(double) * T * K);
        w->M = ddsp_alloc(sizeof(double) * T * MFCC_NMELS);
        w->D = ddsp_alloc(sizeof(double) * T * MFCC_NMELS);
        w->Ct = ddsp_alloc(sizeof(double) * T * MFCC_NCOEF);
        w->Ce = ddsp_alloc(sizeof(double) * T * MFCC_NCOEF);
        w->dC = ddsp_alloc(sizeof(double) * T * MFCC_NCOEF);
        if (!w->xp || !w->fr || !w->X || !w->P || !w->M || !w->D || !w->Ct || !w->Ce || !w->dC)
            goto oom;
    }
    m->r2c = ddsp_fft_plan_r2c_f64(MFCC_NFFT, (int)T);
    m->c2r = ddsp_fft_plan_c2r_f64(MFCC_NFFT, (int)T);
    return m;
oom:
    mfcc_free(m);
    ddsp_error("mfcc term: out of memory (%zu samples)", N);
    return NULL;
}

/* reflect index j into 0 .. N-1 (N > n_fft / 2 >= |overhang|, so one reflection suffices) */
static inline size_t reflect(long j, size_t N) {
    if (j < 0) return (size_t)-j;
    if ((size_t)j >= N) return 2 * (N - 1) - (size_t)j;
    return (size_t)j;
}

/* C (T, 40) <- MFCCs of x; leaves the spectra in w->X, mel power in w->M and the dB values
 * before the clamp in w->D; returns the maximum of D. */
static double forward(const mfcc_t *m, work_t *w, const float *x, double *C) {
    const size_t N = m->N, T = m->T;
    for (size_t i = 0; i < N + MFCC_NFFT; i++)
        w->xp[i] = x[reflect((long)i - MFCC_NFFT / 2, N)];
    for (size_t f = 0; f < T; f++) {
        const double *s = w->xp + f * MFCC_HOP;
        double *fr = w->fr + f * MFCC_NFFT;
        for (int i = 0; i < MFCC_NFFT; i++) fr[i] = s[i] * m->win[i];
    }
    fftw_execute_dft_r2c(m->r2c, w->fr, w->X);
    double mx = -INFINITY;
    for (size_t f = 0; f < T; f++)
        for (int b = 0; b < MFCC_NMELS; b++) {
            const fftw_complex *X = w->X + f * K + m->mel_lo[b];
            const double *mw = m->mel_w + m->mel_off[b];
            double s = 0.0;
            for (int i = 0; i < m->mel_nb[b]; i++) s += mw[i] * (X[i][0] * X[i][0] + X[i][1] * X[i][1]);
            const size_t j = f * MFCC_NMELS + (size_t)b;
            w->M[j] = s;
            w->D[j] = 10.0 * log10(s > AMIN ? s : AMIN);
            if (w->D[j] > mx) mx = w->D[j];
        }
    const double floor_db = mx - TOP_DB;
    for (size_t f = 0; f < T; f++) {
        const double *d = w->D + f * MFCC_NMELS;
        double *c = C + f * MFCC_NCOEF;
        for (int k = 0; k < MFCC_NCOEF; k++) c[k] = 0.0;
        for (int b = 0; b < MFCC_NMELS; b++) {
            const double v = d[b] > floor_db ? d[b] : floor_db;
            const double *row = m->dct + b * MFCC_NCOEF;
            for (int k = 0; k < MFCC_NCOEF; k++) c[k] += v * row[k];
        }
    }
    return mx;
}

/* grad (N) <- the adjoint of forward() (run last on this signal, maximum mx) applied to
 * w->dC. */
static void backward(const mfcc_t *m, work_t *w, double mx, float *grad) {
    const size_t N = m->N, T = m->T;
    const double floor_db = mx - TOP_DB;
    double to_max = 0.0; /* gradient of the clamped entries, owed to the maximum */
    size_t n_max = 0;
    for (size_t f = 0; f < T; f++) {
        const double *dc = w->dC + f * MFCC_NCOEF;
        for (int b = 0; b < MFCC_NMELS; b++) {
            const double *row = m->dct + b * MFCC_NCOEF;
            double g = 0.0;
            for (int k = 0; k < MFCC_NCOEF; k++) g += row[k] * dc[k];
            const size_t j = f * MFCC_NMELS + (size_t)b;
            if (w->D[j] == mx) n_max++;
            if (w->D[j] > floor_db) {
                w->D[j] = g; /* D now holds dL/dD */
            } else {
                to_max += g;
                w->D[j] = 0.0;
            }
        }
    }
    /* the maxima: their own gradient (still in D) plus their share of the clamped ones; a
     * value equal to mx is > floor_db, so its D entry holds a gradient now */
    for (size_t f = 0; f < T; f++)
        for (int b = 0; b < MFCC_NMELS; b++) {
            const size_t j = f * MFCC_NMELS + (size_t)b;
            const double db = 10.0 * log10(w->M[j] > AMIN ? w->M[j] : AMIN);
            if (db == mx) w->D[j] += to_max / (double)n_max;
        }
    /* dL/dP through the mel filterbank and dB */
    memset(w->P, 0, sizeof(double) * T * K);
    for (size_t f = 0; f < T; f++)
        for (int b = 0; b < MFCC_NMELS; b++) {
            const size_t j = f * MFCC_NMELS + (size_t)b;
            if (!(w->M[j] > AMIN)) continue;
            const double g = w->D[j] * 10.0 / (log(10.0) * w->M[j]);
            const double *mw = m->mel_w + m->mel_off[b];
            double *p = w->P + f * K + m->mel_lo[b];
            for (int i = 0; i < m->mel_nb[b]; i++) p[i] += g * mw[i];
        }
    /* dL/dX = 2 dP X; interior bins halved: the adjoint of r2c via c2r */
    for (size_t f = 0; f < T; f++)
        for (int k = 0; k < K; k++) {
            const double h = (k == 0 || k == K - 1) ? 1.0 : 0.5;
            const double c = 2.0 * w->P[f * K + (size_t)k] * h;
            w->X[f * K + (size_t)k][0] *= c;
            w->X[f * K + (size_t)k][1] *= c;
        }
    fftw_execute_dft_c2r(m->c2r, w->X, w->fr);
    memset(w->xp, 0, sizeof(double) * (N + MFCC_NFFT));
    for (size_t f = 0; f < T; f++) {
        const double *fr = w->fr + f * MFCC_NFFT;
        double *s = w->xp + f * MFCC_HOP;
        for (int i = 0; i < MFCC_NFFT; i++) s[i] += fr[i] * m->win[i];
    }
    double *acc = w->fr; /* (N) fold the reflect padding back, in double */
    memset(acc, 0, sizeof(double) * N);
    for (size_t i = 0; i < N + MFCC_NFFT; i++) acc[reflect((long)i - MFCC_NFFT / 2, N)] += w->xp[i];
    for (size_t i = 0; i < N; i++) grad[i] = (float)acc[i];
}

static phi_bands bands_of(const mfcc_t *m) {
    return (phi_bands){m->bmap, 1, MFCC_NCOEF, MFCC_NBANDS};
}

double mfcc_eval(mfcc_t *m, int dist, double weight, const double *u, const float *target,
                 const float *est, size_t B, float *grad) {
    DDSP_ASSERT(B >= 1 && B <= m->max_batch, "mfcc batch %zu not in 1..%zu", B, m->max_batch);
    const size_t n = m->T * MFCC_NCOEF, N = m->N;
    const double scale = dist == DDSP_PHI_DIST_COS ? weight / (double)B
                                                    : weight / ((double)B * (double)n);
    const phi_bands bd = bands_of(m);
    const int nt = omp_get_max_threads() < m->nthreads ? omp_get_max_threads() : m->nthreads;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (size_t b = 0; b < B; b++) {
        work_t *w = &m->work[omp_get_thread_num()];
        forward(m, w, target + b * N, w->Ct);
        const double mx = forward(m, w, est + b * N, w->Ce);
        m->part[b] = phi_rep_dist(dist, w->Ce, w->Ct, n, &bd, u, scale, grad ? w->dC : NULL);
        if (grad) backward(m, w, mx, grad + b * N);
    }
    double sum = 0.0;
    for (size_t b = 0; b < B; b++) sum += m->part[b];
    return scale * sum;
}

void mfcc_compare(mfcc_t *m, const float *a, const float *b, size_t B, double *cells,
                  size_t stride) {
    DDSP_ASSERT(B >= 1 && B <= m->max_batch, "mfcc batch %zu not in 1..%zu", B, m->max_batch);
    const phi_bands bd = bands_of(m);
    const int nt = omp_get_max_threads() < m->nthreads ? omp_get_max_threads() : m->nthreads;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (size_t i = 0; i < B; i++) {
        work_t *w = &m->work[omp_get_thread_num()];
        forward(m, w, a + i * m->N, w->Ct);
        forward(m, w, b + i * m->N, w->Ce);
        phi_rep_cells(cells + i * stride, w->Ct, w->Ce, m->T * MFCC_NCOEF, &bd);
    }
}

void mfcc_coeffs(mfcc_t *m, const float *x, double *C) {
    forward(m, &m->work[0], x, C);
}
