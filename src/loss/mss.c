/* Multi-scale spectral loss (magenta ddsp.losses.SpectralLoss with compute_mag framing) and
 * its exact gradient. See ddsp/loss.h for the definition.
 *
 * Gradient: with X = rfft(w * frame) and S = |X|, dL/dX = (dL/dS) X / S (0 where S = 0),
 * and the adjoint of the r2c transform restricted to bins 0..n/2 is an unnormalised c2r of
 * U with U_0, U_{n/2} taken once and interior bins halved (c2r adds their conjugates).
 * The windowed adjoint frames are then overlap-added into dL/d(estimate).
 *
 * Each (item, scale) task walks its frames in blocks of ~BLOCK_SAMPLES so the frames, the
 * spectra and the gradient frames stay in L2 between the transforms and the per-bin work;
 * loss sums are accumulated per frame in float and per task in double. All transforms are
 * complex FFTs of two real frames at once (ddsp_stft_frame_pairs): with Debian's FFTW on
 * this hardware a c2c of size n costs less than one r2c of size n, so this is ~3x cheaper
 * than r2c/c2r per frame (measured: 1.2-1.4 ms vs 1.6-1.9 ms per pass over 6 scales).
 *
 * Precision: the estimate's spectrum is computed in double. The l1log gradient weights each
 * bin by 1/(S + 1e-5), so it is dominated by the quietest bins, whose phase a float32 FFT of
 * a loud frame gets wrong by ~1e-3 (its error scales with the frame's norm): a float32
 * pipeline lands at 2.3e-3 relative L2 from the float64 reference on violin vs flute; with
 * this one change it is ~1e-7. The target's spectrum is double too (see target_block); the
 * adjoint c2r stays float32 (its error reaches the gradient at ~7e-8).
 *
 * With AVX-512, exact precision at FFT sizes that are multiples of 32 (all the default
 * scales) takes the fused pair kernels of mss_avx512.h (run_task_fused): each double c2c row
 * is split into its two frames' spectra, compared with the target and turned into the
 * adjoint's pair row in one pass, and l1log needs no logarithm per bin. Measured at one
 * thread, 4 s at 16 kHz: 4.3 -> 3.0 ms per call at B = 1. Other configurations take the
 * separate passes below (split, per-bin kernel, join). */
#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"
#include "util/fastmath.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__) && !defined(DDSP_NO_AVX512)
#define DDSP_MSS_AVX512 1
#include "loss/mss_avx512.h"
/* AVX-512 kernel NAME for all K bins: sets k0 = K (nothing left for the loop) and the sums */
#define VPART(SFX, NAME) k0 = vbins##SFX##_##NAME(X, &U[0][0], St, Lt, cf, K, c, v);
#else
#define VPART(SFX, NAME)
#endif

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { BLOCK_SAMPLES = 16384 };

typedef struct {
    int n, hop, K;
    size_t F, nb;       /* frames; frames per block (even unless the block is all of F) */
    size_t np_full, np_rem; /* frame pairs per full block / in the last block (0: none) */
    fftwf_plan fwd_full, fwd_rem;     /* c2c float forward: target pairs, estimate (fast) */
    fftw_plan fwdd_full, fwdd_rem;    /* c2c double forward: estimate pairs (exact) */
    fftwf_plan bwd_full, bwd_rem;     /* c2c float backward: gradient pairs */
    float *win;   /* (n) periodic Hann */
    double *wind; /* (n) the same in double */
    float *cfac;  /* (K) adjoint weights: 1 at k = 0 and k = n/2, 0.5 in between */
    int fused;    /* exact precision through the fused pair kernels (vpair_*, AVX-512) */
} scale_t;

/* Per-thread block buffers (sized for the largest scale). "Pairs" buffers hold two real
 * frames per complex row (see ddsp_stft_frame_pairs). */
typedef struct {
    fftwf_complex *zp, *Zp; /* (np, n) float pairs and their spectra (target; fast estimate;
                               gradient join / backward output) */
    fftw_complex *zd, *Zd;  /* (np, n) double pairs and spectra (exact estimate) */
    fftw_complex *Xd;       /* (nb, K) estimate spectrum, double */
    fftwf_complex *Xf;      /* (nb, K) estimate spectrum, float (fast) */
    fftwf_complex *Xt;      /* (nb, K) target spectrum */
    fftwf_complex *U;       /* (nb, K) dL/dX */
    float *St, *Lt;         /* (nb, K) target magnitude and its log term */
    unsigned char *sil_t, *sil_e; /* (nb) silent frames of the block: target, estimate */
} work_t;

struct ddsp_mss {
    ddsp_mss_config cfg;
    size_t N, max_batch;
    scale_t sc[DDSP_MSS_MAX_SCALES];
    int nthreads;
    work_t *work; /* (nthreads) */
    float *grad;  /* (max_batch, S, N) per-task gradients, summed over S in fixed order */
    double *part; /* (max_batch, S, 2) per-task sums of the two loss terms */
    uint32_t *live_t, *live_e; /* (max_batch, N + 1) counts of non-zero samples (see silent) */
};

/* ------------------------------------------------------------------ silent frames
 * A frame whose windowed samples are all zero (digital silence: the start of a file, an
 * edited gap) has the spectrum 0 exactly, magnitude 0 and, since |z|' = 0 at 0, no gradient.
 * The pair FFTs (two frames per complex transform) do not give that 0: they leave rounding
 * noise of the other frame of the pair (~1e-16 of its size) in the silent one, with random
 * phase. l1 turns any non-zero X into a gradient c X / |X| of full size; magenta's log(S)
 * turns S = 1e-17 into log 1e-17 instead of log 1e-5. So silent frames are found from the
 * samples and their spectra set to exactly 0.
 *
 * live[i] counts the samples x[0 .. i) that are not zero (|x| >= FLT_MIN: subnormal samples
 * are zero under the flush-to-zero mode -ffast-math sets). */
static void count_live(uint32_t *restrict live, const float *restrict x, size_t N) {
    uint32_t c = 0;
    live[0] = 0;
    for (size_t i = 0; i < N; i++) {
        c += fabsf(x[i]) >= FLT_MIN;
        live[i + 1] = c;
    }
}

/* Frame starting at sample `start` of size n silent? Its first sample has window weight 0
 * (periodic Hann), so only samples start+1 .. start+n-1 (those < N) count. */
static inline int frame_silent(const uint32_t *live, size_t N, size_t start, int n) {
    size_t lo = start + 1, hi = start + (size_t)n;
    lo = lo < N ? lo : N;
    hi = hi < N ? hi : N;
    return live[hi] == live[lo];
}

/* sil[j] = 1 where frame f0 + j of a block (j < cnt) is silent; returns how many are. */
static size_t block_silent(unsigned char *sil, const uint32_t *live, size_t N, int n, int hop,
                           size_t f0, size_t cnt) {
    size_t any = 0;
    for (size_t j = 0; j < cnt; j++)
        any += sil[j] = (unsigned char)frame_silent(live, N, (f0 + j) * (size_t)hop, n);
    return any;
}

/* Zero the spectra (rows of K complex values) of the silent frames of a block. */
#define ZERO_SILENT(X, sil, cnt, K)                                                            \
    for (size_t j_ = 0; j_ < (cnt); j_++)                                                      \
        if ((sil)[j_]) memset((X)[j_ * (K)], 0, sizeof((X)[0]) * (K));

/* ------------------------------------------------------------------ config */
void ddsp_mss_config_default(ddsp_mss_config *c) {
    static const int def[] = {2048, 1024, 512, 256, 128, 64};
    memset(c, 0, sizeof *c);
    c->type = DDSP_MSS_L1LOG;
    c->log_mode = DDSP_LOG_ADD;
    c->n_scales = 6;
    memcpy(c->scales, def, sizeof def);
    c->overlap = 0.75;
}

const char *ddsp_mss_type_name(ddsp_mss_type t) {
    return t == DDSP_MSS_L1LOG ? "l1log" : t == DDSP_MSS_L1 ? "l1" : "l2";
}

const char *ddsp_mss_log_mode_name(ddsp_log_mode m) {
    return m == DDSP_LOG_ADD ? "add" : "magenta";
}

int ddsp_mss_parse_type(ddsp_mss_config *c, const char *s) {
    if (strcmp(s, "l1log") == 0) c->type = DDSP_MSS_L1LOG;
    else if (strcmp(s, "l1") == 0) c->type = DDSP_MSS_L1;
    else if (strcmp(s, "l2") == 0) c->type = DDSP_MSS_L2;
    else return ddsp_error("unknown MSS type '%s' (expected l1log, l1 or l2)", s);
    return DDSP_OK;
}

int ddsp_mss_parse_log_mode(ddsp_mss_config *c, const char *s) {
    if (strcmp(s, "add") == 0) c->log_mode = DDSP_LOG_ADD;
    else if (strcmp(s, "magenta") == 0) c->log_mode = DDSP_LOG_MAGENTA;
    else return ddsp_error("unknown log mode '%s' (expected add or magenta)", s);
    return DDSP_OK;
}

int ddsp_mss_parse_scales(ddsp_mss_config *c, const char *list) {
    int n = 0;
    const char *p = list;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0'))
            return ddsp_error("bad scale list '%s' (expected e.g. 2048,1024,512)", list);
        if (n == DDSP_MSS_MAX_SCALES)
            return ddsp_error("too many scales in '%s' (at most %d)", list, DDSP_MSS_MAX_SCALES);
        if (v < 4 || v > (1L << 20))
            return ddsp_error("scale %ld out of range (4 .. 1048576)", v);
        c->scales[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) return ddsp_error("empty scale list");
    c->n_scales = n;
    return DDSP_OK;
}

int ddsp_mss_parse_precision(ddsp_mss_config *c, const char *s) {
    if (strcmp(s, "exact") == 0) c->precision = DDSP_MSS_EXACT;
    else if (strcmp(s, "fast") == 0) c->precision = DDSP_MSS_FAST;
    else return ddsp_error("unknown precision '%s' (expected exact or fast)", s);
    return DDSP_OK;
}

int ddsp_mss_hop(const ddsp_mss_config *c, int n) {
    double h = (double)n * (1.0 - c->overlap);
    return (int)lround(h);
}

int ddsp_mss_config_check(const ddsp_mss_config *c) {
    if (c->n_scales < 1 || c->n_scales > DDSP_MSS_MAX_SCALES)
        return ddsp_error("number of scales %d out of range 1..%d", c->n_scales,
                          DDSP_MSS_MAX_SCALES);
    if (!(c->overlap >= 0.0 && c->overlap < 1.0))
        return ddsp_error("overlap %g must be in [0, 1)", c->overlap);
    for (int s = 0; s < c->n_scales; s++) {
        int n = c->scales[s];
        if (n < 4 || n % 2) return ddsp_error("FFT size %d must be even and >= 4", n);
        double h = (double)n * (1.0 - c->overlap);
        if (fabs(h - lround(h)) > 1e-9 || lround(h) < 1)
            return ddsp_error("scale %d: hop n*(1-overlap) = %g is not a positive integer", n, h);
    }
    return DDSP_OK;
}

/* ------------------------------------------------------------------ init */
static void scale_free(scale_t *sc) {
    ddsp_free(sc->win);
    ddsp_free(sc->wind);
    ddsp_free(sc->cfac);
}

void ddsp_mss_free(ddsp_mss *m) {
    if (!m) return;
    for (int s = 0; s < m->cfg.n_scales; s++) scale_free(&m->sc[s]);
    if (m->work) {
        for (int t = 0; t < m->nthreads; t++) {
            work_t *w = &m->work[t];
            ddsp_free(w->zp), ddsp_free(w->Zp), ddsp_free(w->zd), ddsp_free(w->Zd);
            ddsp_free(w->Xd), ddsp_free(w->Xf), ddsp_free(w->Xt), ddsp_free(w->U);
            ddsp_free(w->St), ddsp_free(w->Lt), ddsp_free(w->sil_t), ddsp_free(w->sil_e);
        }
        free(m->work);
    }
    ddsp_free(m->grad);
    ddsp_free(m->part);
    ddsp_free(m->live_t);
    ddsp_free(m->live_e);
    free(m);
}

ddsp_mss *ddsp_mss_init(const ddsp_mss_config *c, size_t max_batch, size_t N) {
    if (ddsp_mss_config_check(c) != DDSP_OK) return NULL;
    if (N == 0) return ddsp_error("MSS: empty signals (0 samples)"), NULL;
    if (max_batch == 0) return ddsp_error("MSS: batch must be >= 1"), NULL;
    ddsp_mss *m = calloc(1, sizeof *m);
    if (!m) return ddsp_error("MSS: out of memory"), NULL;
    m->cfg = *c;
    m->N = N;
    m->max_batch = max_batch;
    const int S = c->n_scales;
    size_t blk_r = 0, blk_c = 0, blk_f = 0; /* largest block: pair rows (np * n) / bins (nb *
                                                K) / frames (nb) */
    for (int s = 0; s < S; s++) {
        scale_t *sc = &m->sc[s];
        sc->n = c->scales[s];
        sc->hop = ddsp_mss_hop(c, sc->n);
        sc->K = sc->n / 2 + 1;
        sc->F = ddsp_stft_nframes(N, sc->hop);
        sc->nb = (size_t)(BLOCK_SAMPLES / sc->n);
        sc->nb = sc->nb < 2 ? 2 : sc->nb & ~(size_t)1;
        if (sc->nb > sc->F) sc->nb = sc->F;
        sc->win = ddsp_alloc(sizeof(float) * (size_t)sc->n);
        sc->wind = ddsp_alloc(sizeof(double) * (size_t)sc->n);
        sc->cfac = ddsp_alloc(sizeof(float) * (size_t)sc->K);
        if (!sc->win || !sc->wind || !sc->cfac) goto oom;
        ddsp_hann_periodic(sc->win, sc->n);
        ddsp_hann_periodic_f64(sc->wind, sc->n);
        for (int k = 0; k < sc->K; k++) sc->cfac[k] = (k == 0 || k == sc->K - 1) ? 1.0f : 0.5f;
        const int exact = c->precision == DDSP_MSS_EXACT;
#ifdef DDSP_MSS_AVX512
        /* every bin group full (see mss_avx512.h); magenta's log(S) is not monotone in the
         * way the fused l1log kernel needs (log eps stands for log 0), so it keeps the
         * separate passes */
        sc->fused = exact && sc->n % 32 == 0 &&
                    (c->type != DDSP_MSS_L1LOG || c->log_mode == DDSP_LOG_ADD);
#endif
        const size_t rem = sc->F % sc->nb;
        sc->np_full = (sc->nb + 1) / 2;
        sc->np_rem = (rem + 1) / 2;
        const int n = sc->n, pf = (int)sc->np_full, pr = (int)sc->np_rem;
        sc->fwd_full = ddsp_fft_plan_c2c(n, pf, FFTW_FORWARD);
        sc->bwd_full = ddsp_fft_plan_c2c(n, pf, FFTW_BACKWARD);
        sc->fwdd_full = exact ? ddsp_fft_plan_c2c_f64(n, pf, FFTW_FORWARD) : NULL;
        sc->fwd_rem = pr ? ddsp_fft_plan_c2c(n, pr, FFTW_FORWARD) : NULL;
        sc->bwd_rem = pr ? ddsp_fft_plan_c2c(n, pr, FFTW_BACKWARD) : NULL;
        sc->fwdd_rem = pr && exact ? ddsp_fft_plan_c2c_f64(n, pr, FFTW_FORWARD) : NULL;
        if (sc->np_full * (size_t)n > blk_r) blk_r = sc->np_full * (size_t)n;
        if (sc->nb * (size_t)sc->K > blk_c) blk_c = sc->nb * (size_t)sc->K;
        if (sc->nb > blk_f) blk_f = sc->nb;
    }
    m->nthreads = omp_get_max_threads();
    m->work = calloc((size_t)m->nthreads, sizeof *m->work);
    if (!m->work) goto oom;
    for (int t = 0; t < m->nthreads; t++) {
        work_t *w = &m->work[t];
        w->zp = ddsp_alloc(sizeof(fftwf_complex) * blk_r);
        w->Zp = ddsp_alloc(sizeof(fftwf_complex) * blk_r);
        w->zd = ddsp_alloc(sizeof(fftw_complex) * blk_r);
        w->Zd = ddsp_alloc(sizeof(fftw_complex) * blk_r);
        w->Xd = ddsp_alloc(sizeof(fftw_complex) * blk_c);
        w->Xf = ddsp_alloc(sizeof(fftwf_complex) * blk_c);
        w->Xt = ddsp_alloc(sizeof(fftwf_complex) * blk_c);
        w->U = ddsp_alloc(sizeof(fftwf_complex) * blk_c);
        w->St = ddsp_alloc(sizeof(float) * blk_c);
        w->Lt = ddsp_alloc(sizeof(float) * blk_c);
        w->sil_t = ddsp_alloc(blk_f);
        w->sil_e = ddsp_alloc(blk_f);
        if (!w->zp || !w->Zp || !w->zd || !w->Zd || !w->Xd || !w->Xf || !w->Xt || !w->U ||
            !w->St || !w->Lt || !w->sil_t || !w->sil_e)
            goto oom;
    }
    m->grad = ddsp_alloc(sizeof(float) * max_batch * (size_t)S * N);
    m->part = ddsp_alloc(sizeof(double) * max_batch * (size_t)S * 2);
    m->live_t = ddsp_alloc(sizeof(uint32_t) * max_batch * (N + 1));
    m->live_e = ddsp_alloc(sizeof(uint32_t) * max_batch * (N + 1));
    if (!m->grad || !m->part || !m->live_t || !m->live_e) goto oom;
    return m;
oom:
    ddsp_mss_free(m);
    ddsp_error("MSS: out of memory (batch %zu, %zu samples)", max_batch, N);
    return NULL;
}

size_t ddsp_mss_nframes(const ddsp_mss *m, int s) {
    return m->sc[s].F;
}

size_t ddsp_mss_nbins(const ddsp_mss *m, int s) {
    return (size_t)m->sc[s].K;
}

const ddsp_mss_config *ddsp_mss_get_config(const ddsp_mss *m) {
    return &m->cfg;
}

/* ------------------------------------------------------------------ target spectra */
int ddsp_mss_target_init(ddsp_mss_target *t, const ddsp_mss *m, size_t batch) {
    memset(t, 0, sizeof *t);
    t->batch = batch;
    for (int s = 0; s < m->cfg.n_scales; s++) {
        size_t len = batch * m->sc[s].F * (size_t)m->sc[s].K;
        t->mag[s] = ddsp_alloc(sizeof(float) * len);
        t->logmag[s] = ddsp_alloc(sizeof(float) * len);
        if (!t->mag[s] || !t->logmag[s]) {
            ddsp_mss_target_free(t);
            return ddsp_error("MSS: out of memory for target spectra (batch %zu)", batch);
        }
    }
    return DDSP_OK;
}

void ddsp_mss_target_free(ddsp_mss_target *t) {
    for (int s = 0; s < DDSP_MSS_MAX_SCALES; s++) {
        ddsp_free(t->mag[s]);
        ddsp_free(t->logmag[s]);
    }
    memset(t, 0, sizeof *t);
}

/* Magnitude and log term of `len` bins of X (float or double spectrum). */
#define MAG_LOG_BODY                                                                           \
    const float eps = DDSP_MSS_LOG_EPS, log_eps = logf(DDSP_MSS_LOG_EPS);                      \
    if (mode == DDSP_LOG_ADD) {                                                                \
        size_t i0 = 0;                                                                         \
        VMAG(i0)                                                                               \
        _Pragma("omp simd") for (size_t i = i0; i < len; i++) {                                \
            const float re = (float)X[2 * i], im = (float)X[2 * i + 1];                        \
            const float s = ddsp_hypotf(re, im);                                               \
            S[i] = s;                                                                          \
            L[i] = ddsp_logf(s + eps);                                                         \
        }                                                                                      \
    } else {                                                                                   \
        _Pragma("omp simd") for (size_t i = 0; i < len; i++) {                                 \
            const float re = (float)X[2 * i], im = (float)X[2 * i + 1];                        \
            const float s = ddsp_hypotf(re, im);                                               \
            S[i] = s;                                                                          \
            L[i] = s > 0.0f ? ddsp_logf(s) : log_eps;                                          \
        }                                                                                      \
    }

#ifdef DDSP_MSS_AVX512
#define VMAG(i0) i0 = vmag_log32_add(S, L, X, len);
#else
#define VMAG(i0)
#endif
static void mag_log32(float *restrict S, float *restrict L, const float *restrict X, size_t len,
                      ddsp_log_mode mode) {
    MAG_LOG_BODY
}
#undef VMAG

#ifdef DDSP_MSS_AVX512
#define VMAG(i0) i0 = vmag_log64_add(S, L, X, len);
#else
#define VMAG(i0)
#endif
static void mag_log64(float *restrict S, float *restrict L, const double *restrict X, size_t len,
                      ddsp_log_mode mode) {
    MAG_LOG_BODY
}
#undef VMAG

/* Target spectra of frames [f0, f0+cnt) of item x into w->St/Lt. Exact precision computes
 * them in double too: a float spectrum from a frame pair carries error scaled by BOTH frames'
 * norms, which flips sign(S_e - S_t) on quiet bins (l1 gradient: 7e-4 relative L2 from the
 * reference in float, 1e-7 in double). The double buffers are free here: the estimate's
 * spectrum is computed into them only after St/Lt have been taken. */
static void target_block(const ddsp_mss *m, const scale_t *sc, work_t *w, const float *x,
                         const uint32_t *live, size_t f0, size_t cnt, int want_log) {
    const int full = cnt == sc->nb;
    const unsigned char *sil = w->sil_t;
    const size_t any = block_silent(w->sil_t, live, m->N, sc->n, sc->hop, f0, cnt);
#ifdef DDSP_MSS_AVX512
    if (sc->fused) {
        /* S only: the fused loss kernels never read the log term */
        const size_t n = (size_t)sc->n, K = (size_t)sc->K;
        ddsp_stft_frame_pairs_f64(w->zd, x, m->N, sc->n, sc->hop, f0, cnt, sc->wind);
        fftw_execute_dft(full ? sc->fwdd_full : sc->fwdd_rem, w->zd, w->Zd);
        for (size_t j = 0; j < cnt; j += 2)
            vpair_mag(&w->Zd[(j / 2) * n][0], w->St + j * K,
                      j + 1 < cnt ? w->St + (j + 1) * K : NULL, sc->n,
                      (unsigned)sil[j] | (j + 1 < cnt ? (unsigned)sil[j + 1] << 1 : 0u));
        if (want_log) {
            const float eps = DDSP_MSS_LOG_EPS;
            for (size_t i = 0; i < cnt * K; i++) w->Lt[i] = ddsp_logf(w->St[i] + eps);
        }
        return;
    }
#endif
    (void)want_log;
    if (m->cfg.precision == DDSP_MSS_EXACT) {
        ddsp_stft_frame_pairs_f64(w->zd, x, m->N, sc->n, sc->hop, f0, cnt, sc->wind);
        fftw_execute_dft(full ? sc->fwdd_full : sc->fwdd_rem, w->zd, w->Zd);
        ddsp_stft_pair_split_f64(w->Xd, w->Zd, sc->n, cnt);
        if (any) ZERO_SILENT(w->Xd, sil, cnt, (size_t)sc->K)
        mag_log64(w->St, w->Lt, &w->Xd[0][0], cnt * (size_t)sc->K, m->cfg.log_mode);
    } else {
        ddsp_stft_frame_pairs(w->zp, x, m->N, sc->n, sc->hop, f0, cnt, sc->win);
        fftwf_execute_dft(full ? sc->fwd_full : sc->fwd_rem, w->zp, w->Zp);
        ddsp_stft_pair_split(w->Xt, w->Zp, sc->n, cnt);
        if (any) ZERO_SILENT(w->Xt, sil, cnt, (size_t)sc->K)
        mag_log32(w->St, w->Lt, &w->Xt[0][0], cnt * (size_t)sc->K, m->cfg.log_mode);
    }
}

void ddsp_mss_target_compute(ddsp_mss *m, ddsp_mss_target *t, const float *target, size_t B) {
    DDSP_ASSERT(B <= t->batch, "target batch %zu > allocated %zu", B, t->batch);
    const int S = m->cfg.n_scales;
    const int nt = omp_get_max_threads() < m->nthreads ? omp_get_max_threads() : m->nthreads;
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(static)
    for (size_t b = 0; b < B; b++) count_live(m->live_t + b * (m->N + 1), target + b * m->N, m->N);
#pragma omp for schedule(dynamic, 1)
    for (size_t task = 0; task < B * (size_t)S; task++) {
        const int s = (int)(task / B);
        const size_t b = task % B;
        const scale_t *sc = &m->sc[s];
        work_t *w = &m->work[omp_get_thread_num()];
        const size_t K = (size_t)sc->K;
        for (size_t f0 = 0; f0 < sc->F; f0 += sc->nb) {
            size_t cnt = sc->F - f0 < sc->nb ? sc->F - f0 : sc->nb;
            target_block(m, sc, w, target + b * m->N, m->live_t + b * (m->N + 1), f0, cnt, 1);
            size_t off = (b * sc->F + f0) * K;
            memcpy(t->mag[s] + off, w->St, sizeof(float) * cnt * K);
            memcpy(t->logmag[s] + off, w->Lt, sizeof(float) * cnt * K);
        }
    }
    }
}

/* ------------------------------------------------------------------ per-bin kernels
 * Each takes one frame's K bins: X (estimate spectrum, double), St/Lt (target), c = the
 * gradient constant, cf = adjoint weights; U = dL/dX (float) for the c2r (written always:
 * a branch would stop the loop from vectorising).
 * Returns the sums of the two loss terms through acc[0], acc[1]. Only the FFT needs double:
 * once X is accurate, rounding it to float keeps every bin's phase and magnitude to ~1e-7
 * relative, so the per-bin work is float. */
/* d = S_e - S_t, with |d| at the rounding level of the magnitudes (2^-20 relative) taken as
 * a tie, d = 0: under -ffast-math the target's magnitude (mag_log*) and this one are two
 * differently compiled copies of sqrtf(re^2 + im^2) and can differ in the last bit for equal
 * spectra; a sign there, times 1/S in the log terms, gave gradients up to 1e5 for a signal
 * against itself. At a tie every D here has derivative 0 (|r|' = 0 at 0) and the loss term
 * is below float resolution. */
#define BIN_PROLOGUE                                                                           \
    const float re = (float)X[2 * k], im = (float)X[2 * k + 1];                               \
    const float se = ddsp_hypotf(re, im);                                                      \
    const float d0 = se - St[k];                                                               \
    const float d = fabsf(d0) <= 0x1p-20f * fmaxf(se, St[k]) ? 0.0f : d0;

/* U = ds X / se with ds = num * cf / den: the unit vector X / se first, so a tiny bin
 * (se ~ 1e-30, ds ~ 1e24 in magenta mode) neither overflows nor divides by a subnormal */
#define BIN_EPILOGUE                                                                           \
    const float inv = se > 0.0f ? 1.0f / se : 0.0f, ds = num * cf[k] / den;                    \
    U[k][0] = (re * inv) * ds;                                                                 \
    U[k][1] = (im * inv) * ds;

#define BINS_ARGS                                                                              \
    const XTYPE *restrict X, fftwf_complex *restrict U, const float *restrict St,              \
        const float *restrict Lt, const float *restrict cf, size_t K, float c, float acc[2]

/* One set of kernels per spectrum type (double for exact precision, float for fast). */
#define DEFINE_BINS(SFX)                                                                       \
static void bins##SFX##_l1log_add(BINS_ARGS) {                                                 \
    size_t k0 = 0;                                                                             \
    float v[2] = {0.0f, 0.0f};                                                                 \
    VPART(SFX, l1log_add)                                                                      \
    float a0 = v[0], a1 = v[1];                                                                \
    const float eps = DDSP_MSS_LOG_EPS;                                                        \
_Pragma("omp simd reduction(+ : a0, a1)")                                               \
    for (size_t k = k0; k < K; k++) {                                                          \
        BIN_PROLOGUE                                                                           \
        /* equal magnitudes have equal logs: two inlined copies of ddsp_logf may round     \
           differently under -ffast-math, and 1/(S + eps) would blow that up */            \
        const float dl = d == 0.0f ? 0.0f : ddsp_logf(se + eps) - Lt[k];                       \
        a0 += fabsf(d);                                                                        \
        a1 += fabsf(dl);                                                                       \
        const float num = c * (ddsp_signf(d) * (se + eps) + ddsp_signf(dl)), den = se + eps;   \
        BIN_EPILOGUE                                                                           \
    }                                                                                          \
    acc[0] = a0, acc[1] = a1;                                                                  \
}                                                                                              \
                                                                                               \
static void bins##SFX##_l1log_magenta(BINS_ARGS) {                                             \
    float a0 = 0.0f, a1 = 0.0f;                                                                \
    const float log_eps = logf(DDSP_MSS_LOG_EPS);                                              \
_Pragma("omp simd reduction(+ : a0, a1)")                                               \
    for (size_t k = 0; k < K; k++) {                                                           \
        BIN_PROLOGUE                                                                           \
        const int pos = se > 0.0f;                                                             \
        const float dl = d == 0.0f ? 0.0f : (pos ? ddsp_logf(se) : log_eps) - Lt[k];           \
        a0 += fabsf(d);                                                                        \
        a1 += fabsf(dl);                                                                       \
        const float num = c * (ddsp_signf(d) * se + ddsp_signf(dl)), den = pos ? se : 1.0f;    \
        BIN_EPILOGUE                                                                           \
    }                                                                                          \
    acc[0] = a0, acc[1] = a1;                                                                  \
}                                                                                              \
                                                                                               \
static void bins##SFX##_l1(BINS_ARGS) {                                                        \
    size_t k0 = 0;                                                                             \
    float v[2] = {0.0f, 0.0f};                                                                 \
    VPART(SFX, l1)                                                                             \
    float a0 = v[0];                                                                           \
_Pragma("omp simd reduction(+ : a0)")                                                   \
    for (size_t k = k0; k < K; k++) {                                                          \
        BIN_PROLOGUE                                                                           \
        a0 += fabsf(d);                                                                        \
        const float num = c * ddsp_signf(d), den = 1.0f;                                       \
        BIN_EPILOGUE                                                                           \
    }                                                                                          \
    acc[0] = a0, acc[1] = 0.0f;                                                                \
}                                                                                              \
                                                                                               \
static void bins##SFX##_l2(BINS_ARGS) {                                                        \
    size_t k0 = 0;                                                                             \
    float v[2] = {0.0f, 0.0f};                                                                 \
    VPART(SFX, l2)                                                                             \
    float a0 = v[0];                                                                           \
_Pragma("omp simd reduction(+ : a0)")                                                   \
    for (size_t k = k0; k < K; k++) {                                                          \
        BIN_PROLOGUE                                                                           \
        a0 += d * d;                                                                           \
        const float num = c * d, den = 1.0f;                                                   \
        BIN_EPILOGUE                                                                           \
    }                                                                                          \
    acc[0] = a0, acc[1] = 0.0f;                                                                \
}                                                                                              \

#define XTYPE double
DEFINE_BINS(64)
#undef XTYPE
#define XTYPE float
DEFINE_BINS(32)
#undef XTYPE

#define XTYPE double
typedef void (*bins64_fn)(BINS_ARGS);
#undef XTYPE
#define XTYPE float
typedef void (*bins32_fn)(BINS_ARGS);
#undef XTYPE

static bins64_fn pick_bins64(const ddsp_mss_config *c) {
    if (c->type == DDSP_MSS_L1) return bins64_l1;
    if (c->type == DDSP_MSS_L2) return bins64_l2;
    return c->log_mode == DDSP_LOG_ADD ? bins64_l1log_add : bins64_l1log_magenta;
}

static bins32_fn pick_bins32(const ddsp_mss_config *c) {
    if (c->type == DDSP_MSS_L1) return bins32_l1;
    if (c->type == DDSP_MSS_L2) return bins32_l2;
    return c->log_mode == DDSP_LOG_ADD ? bins32_l1log_add : bins32_l1log_magenta;
}

/* Gradient constant per scale: dL/dS = c * (term derivatives). */
static float grad_const(const ddsp_mss_config *c, const scale_t *sc, size_t B, float dloss) {
    if (c->type == DDSP_MSS_L2) return dloss;
    return (float)((double)dloss / ((double)B * (double)sc->F * (double)sc->K));
}

/* ------------------------------------------------------------------ one task */
#ifdef DDSP_MSS_AVX512
typedef void (*vpair_fn)(const double *, float *, const float *, const float *, const float *,
                         int, float, unsigned, vpair_sums *);

/* run_task for a fused scale: per block, target S (given or computed), the estimate's
 * double c2c, then one vpair kernel per frame pair that leaves U in pair layout for the
 * backward c2c. g (N) is the task's gradient (zeroed by the caller). */
static void run_task_fused(ddsp_mss *m, const scale_t *sc, work_t *w, size_t b, int s,
                           const ddsp_mss_target *tgt, const float *target, const float *est,
                           float c, int grad, float *g) {
    const size_t N = m->N, K = (size_t)sc->K, n = (size_t)sc->n, S = (size_t)m->cfg.n_scales;
    const uint32_t *live_e = m->live_e + b * (N + 1), *live_t = m->live_t + b * (N + 1);
    const vpair_fn kern = m->cfg.type == DDSP_MSS_L1   ? vpair_l1
                          : m->cfg.type == DDSP_MSS_L2 ? vpair_l2
                                                       : vpair_l1log_add;
    vpair_sums acc;
    vpair_sums_init(&acc);
    for (size_t f0 = 0; f0 < sc->F; f0 += sc->nb) {
        const size_t cnt = sc->F - f0 < sc->nb ? sc->F - f0 : sc->nb;
        const int full = cnt == sc->nb;
        const float *St;
        if (tgt) {
            St = tgt->mag[s] + (b * sc->F + f0) * K;
        } else {
            target_block(m, sc, w, target + b * N, live_t, f0, cnt, 0);
            St = w->St;
        }
        const unsigned char *sil = w->sil_e;
        block_silent(w->sil_e, live_e, N, sc->n, sc->hop, f0, cnt);
        ddsp_stft_frame_pairs_f64(w->zd, est + b * N, N, sc->n, sc->hop, f0, cnt, sc->wind);
        fftw_execute_dft(full ? sc->fwdd_full : sc->fwdd_rem, w->zd, w->Zd);
        for (size_t j = 0; j < cnt; j += 2)
            kern(&w->Zd[(j / 2) * n][0], &w->zp[(j / 2) * n][0], St + j * K,
                 j + 1 < cnt ? St + (j + 1) * K : NULL, sc->cfac, sc->n, c,
                 (unsigned)sil[j] | (j + 1 < cnt ? (unsigned)sil[j + 1] << 1 : 0u), &acc);
        if (grad) {
            fftwf_execute_dft(full ? sc->bwd_full : sc->bwd_rem, w->zp, w->Zp);
            ddsp_stft_overlap_add_pairs(g, N, w->Zp, sc->n, sc->hop, f0, cnt, sc->win);
        }
    }
    double sums[2];
    vpair_sums_total(&acc, sums);
    m->part[(b * S + (size_t)s) * 2 + 0] = sums[0];
    m->part[(b * S + (size_t)s) * 2 + 1] = sums[1];
}
#endif

static void run_task(ddsp_mss *m, size_t b, int s, size_t B, const ddsp_mss_target *tgt,
                     const float *target, const float *est, float dloss, int grad) {
    const scale_t *sc = &m->sc[s];
    const size_t N = m->N, K = (size_t)sc->K;
    work_t *w = &m->work[omp_get_thread_num()];
    const size_t S = (size_t)m->cfg.n_scales;
    float *g = m->grad + (b * S + (size_t)s) * N;
    const bins64_fn bins64 = pick_bins64(&m->cfg);
    const bins32_fn bins32 = pick_bins32(&m->cfg);
    const int exact = m->cfg.precision == DDSP_MSS_EXACT;
    const float c = grad_const(&m->cfg, sc, B, dloss);
    double sum0 = 0.0, sum1 = 0.0;
    if (grad) memset(g, 0, sizeof(float) * N);
#ifdef DDSP_MSS_AVX512
    if (sc->fused) {
        run_task_fused(m, sc, w, b, s, tgt, target, est, c, grad, g);
        return;
    }
#endif
    for (size_t f0 = 0; f0 < sc->F; f0 += sc->nb) {
        const size_t cnt = sc->F - f0 < sc->nb ? sc->F - f0 : sc->nb;
        const int full = cnt == sc->nb;
        const float *St, *Lt;
        if (tgt) {
            St = tgt->mag[s] + (b * sc->F + f0) * K;
            Lt = tgt->logmag[s] + (b * sc->F + f0) * K;
        } else {
            target_block(m, sc, w, target + b * N, m->live_t + b * (N + 1), f0, cnt, 0);
            St = w->St, Lt = w->Lt;
        }
        const size_t any = block_silent(w->sil_e, m->live_e + b * (N + 1), N, sc->n, sc->hop, f0, cnt);
        if (exact) {
            ddsp_stft_frame_pairs_f64(w->zd, est + b * N, N, sc->n, sc->hop, f0, cnt, sc->wind);
            fftw_execute_dft(full ? sc->fwdd_full : sc->fwdd_rem, w->zd, w->Zd);
            ddsp_stft_pair_split_f64(w->Xd, w->Zd, sc->n, cnt);
            if (any) ZERO_SILENT(w->Xd, w->sil_e, cnt, K)
        } else {
            ddsp_stft_frame_pairs(w->zp, est + b * N, N, sc->n, sc->hop, f0, cnt, sc->win);
            fftwf_execute_dft(full ? sc->fwd_full : sc->fwd_rem, w->zp, w->Zp);
            ddsp_stft_pair_split(w->Xf, w->Zp, sc->n, cnt);
            if (any) ZERO_SILENT(w->Xf, w->sil_e, cnt, K)
        }
        for (size_t j = 0; j < cnt; j++) {
            float acc[2];
            if (exact)
                bins64(&w->Xd[j * K][0], w->U + j * K, St + j * K, Lt + j * K, sc->cfac, K, c,
                       acc);
            else
                bins32(&w->Xf[j * K][0], w->U + j * K, St + j * K, Lt + j * K, sc->cfac, K, c,
                       acc);
            sum0 += acc[0];
            sum1 += acc[1];
        }
        if (grad) {
            ddsp_stft_pair_join(w->zp, w->U, sc->n, cnt);
            fftwf_execute_dft(full ? sc->bwd_full : sc->bwd_rem, w->zp, w->Zp);
            ddsp_stft_overlap_add_pairs(g, N, w->Zp, sc->n, sc->hop, f0, cnt, sc->win);
        }
    }
    m->part[(b * S + (size_t)s) * 2 + 0] = sum0;
    m->part[(b * S + (size_t)s) * 2 + 1] = sum1;
}

static void run(ddsp_mss *m, float *d_est, ddsp_mss_value *out, const ddsp_mss_target *tgt,
                const float *target, const float *est, size_t B, float dloss, int grad) {
    DDSP_ASSERT(B >= 1 && B <= m->max_batch, "MSS batch %zu not in 1..%zu", B, m->max_batch);
    DDSP_ASSERT(tgt || target, "MSS needs target spectra or target audio");
    DDSP_ASSERT(!tgt || tgt->batch >= B, "target spectra hold %zu items, need %zu",
                tgt ? tgt->batch : 0, B);
    const size_t S = (size_t)m->cfg.n_scales, N = m->N;
    const int nt = omp_get_max_threads() < m->nthreads ? omp_get_max_threads() : m->nthreads;
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(static)
        for (size_t i = 0; i < (tgt ? 1 : 2) * B; i++) {
            const size_t b = i % B;
            if (i < B) count_live(m->live_e + b * (N + 1), est + b * N, N);
            else count_live(m->live_t + b * (N + 1), target + b * N, N);
        }
#pragma omp for schedule(dynamic, 1)
        for (size_t task = 0; task < B * S; task++)
            run_task(m, task % B, (int)(task / B), B, tgt, target, est, dloss, grad);
        if (grad) {
            /* d_est += sum over scales, in scale order whatever the thread count */
            enum { CHUNK = 4096 };
            const size_t nchunk = (N + CHUNK - 1) / CHUNK;
#pragma omp for schedule(static)
            for (size_t t = 0; t < B * nchunk; t++) {
                const size_t b = t / nchunk, i0 = (t % nchunk) * CHUNK;
                const size_t i1 = i0 + CHUNK < N ? i0 + CHUNK : N;
                float *dst = d_est + b * N;
                for (size_t s = 0; s < S; s++) {
                    const float *g = m->grad + (b * S + s) * N;
#pragma omp simd
                    for (size_t i = i0; i < i1; i++) dst[i] += g[i];
                }
            }
        }
    }
    if (out) {
        memset(out, 0, sizeof *out);
        for (size_t s = 0; s < S; s++) {
            double a0 = 0.0, a1 = 0.0;
            for (size_t b = 0; b < B; b++) {
                a0 += m->part[(b * S + s) * 2 + 0];
                a1 += m->part[(b * S + s) * 2 + 1];
            }
            double v;
            if (m->cfg.type == DDSP_MSS_L2) v = 0.5 * a0;
            else v = (a0 + a1) / ((double)B * (double)m->sc[s].F * (double)m->sc[s].K);
            out->per_scale[s] = v;
            out->total += v;
        }
    }
}

void ddsp_mss_forward(ddsp_mss *m, ddsp_mss_value *out, const ddsp_mss_target *tgt,
                      const float *target, const float *estimate, size_t B) {
    run(m, NULL, out, tgt, target, estimate, B, 0.0f, 0);
}

void ddsp_mss_backward(ddsp_mss *m, float *d_estimate, ddsp_mss_value *out,
                       const ddsp_mss_target *tgt, const float *target, const float *estimate,
                       size_t B, float dloss) {
    run(m, d_estimate, out, tgt, target, estimate, B, dloss, 1);
}
