/* Private to src/synth: the synth state shared by harmonic.c, noise.c, reverb.c and synth.c,
 * and the small inline helpers they share. See ddsp/synth.h for the model. */
#ifndef DDSP_SYNTH_INTERNAL_H
#define DDSP_SYNTH_INTERNAL_H

#include "ddsp/synth.h"

#include <fftw3.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SYNTH_TWO_PI 6.283185307179586476925286766559
#define SYNTH_LN10 2.302585092994045684017991454684
#define SYNTH_NOISE_BIAS (-5.0f) /* magenta FilteredNoise initial_bias */
#define SYNTH_EXP_SIGMOID_EPS 1e-7

/* Frames per work item: items (example, block of frames) are what OpenMP threads share,
 * each with its own scratch, so results do not depend on the thread count. */
enum { SYNTH_FRAMES_PER_ITEM = 32 };
/* Upper limit of n_harmonics (fixed-size stack arrays in the kernels). */
enum { SYNTH_MAX_HARMONICS = 256 };

/* Per-item scratch of the noise filter (FFT sizes n_ir and nfft). */
typedef struct {
    fftwf_complex *cin; /* (kir) band magnitudes / spectrum of the IR gradient */
    float *r;           /* (n_ir) zero-phase IR (unnormalised irfft) / its gradient */
    float *h;           /* (nfft) causal windowed IR, zero-padded / IR gradient */
    fftwf_complex *hc;  /* (kp) IR spectrum, then the product spectrum */
    float *x;           /* (nfft) zero-padded noise frame / output-gradient window */
} synth_noise_work;

struct ddsp_synth {
    ddsp_synth_config c;
    size_t max_batch, F, N, C;
    int H, NB, hop;
    double sr, nyq; /* sample rate and sr / 2 */
    size_t nch;     /* work items per example: ceil(F / SYNTH_FRAMES_PER_ITEM) */
    size_t B;       /* batch of the last forward (0: none yet) */

    /* harmonic: interpolation weights and the state backward needs */
    double *w_amp;       /* (hop) w_t of the amplitude crossfade */
    double *sinp, *cos2; /* (B, N) sin(phase), 2 cos(phase) of the fundamental */
    uint16_t *nh;        /* (B, N) harmonics below Nyquist at each sample */
    double *amp;         /* (B, F) exp_sigmoid(raw0) */
    float *dsig_amp;     /* (B, F) its derivative */
    double *inv_sum;     /* (B, F) 1 / sum of the masked distribution (0 when all masked) */
    double *hdn;         /* (B, F, H) normalised masked distribution */
    float *dsig_hd;      /* (B, F, H) exp_sigmoid' of the distribution, 0 where masked */
    double *g0, *g1;     /* (B, F, H) backward: per-frame sums of sin * d (1 - w), sin * d w */
    float *harm, *noise; /* (B, N) the two parts of the last forward */
    float *d_dry;        /* (B, N) gradient before the reverb */

    /* noise */
    int n_ir, nfft, kir, kp; /* IR taps, FFT size, padded bin counts (kir >= n_ir/2+1, kp >=
                                nfft/2+1, multiples of 8 complex = 64 bytes) */
    int crop;                /* magenta crop_and_compensate_delay start: (n_ir - 1)/2 - 1 */
    float *win_ir;           /* (n_ir) periodic Hann */
    float *dsig_mag;         /* (B, F, NB) exp_sigmoid' of the noise magnitudes */
    fftwf_complex *X;        /* (B, F, kp) spectra of the zero-padded noise frames */
    int ys;                  /* row stride of y: nfft rounded up to 16 floats (64 bytes) */
    float *y;                /* (B, F, ys) per-frame filtered noise before overlap-add */
    synth_noise_work *nw;    /* (max_batch * nch) */
    fftwf_plan ir_c2r, ir_r2c, fr_r2c, fr_c2r;

    /* reverb */
    int L, nr, kr;         /* IR taps, FFT size, its bins */
    fftwf_complex *rv_irs; /* (kr) IR spectrum / nr */
    fftwf_complex *rv_sum; /* (kr) backward: sum_b DW_b conj(A_b) */
    fftwf_complex *rv_A;   /* (B, kr) spectra of the dry audio */
    fftwf_complex *rv_T;   /* (B, kr) scratch spectra */
    float *rv_r;           /* (B + 1, nr) real scratch */
    fftwf_plan rv_r2c, rv_c2r;
};

/* Branch-free double-precision exp, log1p and sincos for the hot loops: GCC vectorises them
 * under `omp simd` (libm calls are not vectorised without -ffast-math), and they are
 * accurate to a few ulp on the ranges used here (tests compare against libm through the
 * plain reference). */

/* Nearest integer of |x| < 2^51 (ties to even) by adding and removing 1.5 * 2^52: no libm
 * call and no SSE4.1 needed, so it vectorises on any x86-64. */
static inline double synth_round(double x) {
    const double magic = 6755399441055744.0;
    return (x + magic) - magic;
}

/* exp(x) for x <= 0 (clamped at -708, where it is ~3e-308): Cody-Waite reduction
 * x = n ln2 + r, |r| <= ln2/2, degree-12 Taylor polynomial (truncation < 2e-16). */
static inline double synth_exp_neg(double x) {
    x = x < -708.0 ? -708.0 : x;
    const double n = synth_round(x * 1.44269504088896340736);
    const double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    double p = 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    const uint64_t bits = (uint64_t)((int64_t)n + 1023) << 52; /* 2^n, n >= -1022 */
    double sc;
    memcpy(&sc, &bits, sizeof sc);
    return p * sc;
}

/* log1p(e) for e in [0, 1]: u = 1 + e, log u = k ln2 + 2 atanh((m - 1)/(m + 1)) with
 * m = u / 2^k in [sqrt(1/2), sqrt(2)], plus the rounding of u: - ((u - 1) - e) / u. */
static inline double synth_log1p01(double e) {
    const double u = 1.0 + e;
    const int big = u > 1.41421356237309504880;
    const double m = big ? 0.5 * u : u;
    const double s = (m - 1.0) / (m + 1.0), z = s * s;
    double p = 2.0 / 19.0;
    p = p * z + 2.0 / 17.0;
    p = p * z + 2.0 / 15.0;
    p = p * z + 2.0 / 13.0;
    p = p * z + 2.0 / 11.0;
    p = p * z + 2.0 / 9.0;
    p = p * z + 2.0 / 7.0;
    p = p * z + 2.0 / 5.0;
    p = p * z + 2.0 / 3.0;
    p = p * z + 2.0;
    return (big ? 0.69314718055994530942 : 0.0) + s * p - ((u - 1.0) - e) / u;
}

/* sin and cos of x in [0, 2 pi] (any |x| < ~1e5 stays accurate): quadrant reduction with a
 * two-part pi/2, Taylor polynomials on [-pi/4, pi/4] (truncation < 1e-17). */
static inline void synth_sincos(double x, double *sn, double *cs) {
    const double q = synth_round(x * 0.63661977236758134308);
    const double r = (x - q * 1.57079632673412561417e+00) - q * 6.07710050650619224932e-11;
    const double z = r * r;
    double s = -1.0 / 121645100408832000.0; /* -1/19! */
    s = s * z + 1.0 / 355687428096000.0;    /*  1/17! */
    s = s * z - 1.0 / 1307674368000.0;
    s = s * z + 1.0 / 6227020800.0;
    s = s * z - 1.0 / 39916800.0;
    s = s * z + 1.0 / 362880.0;
    s = s * z - 1.0 / 5040.0;
    s = s * z + 1.0 / 120.0;
    s = s * z - 1.0 / 6.0;
    s = r + r * z * s;
    double c = 1.0 / 6402373705728000.0; /*  1/18! */
    c = c * z - 1.0 / 20922789888000.0;
    c = c * z + 1.0 / 87178291200.0;
    c = c * z - 1.0 / 479001600.0;
    c = c * z + 1.0 / 3628800.0;
    c = c * z - 1.0 / 40320.0;
    c = c * z + 1.0 / 720.0;
    c = c * z - 1.0 / 24.0;
    c = c * z + 0.5;
    c = 1.0 - z * c;
    const int k = (int)q & 3;
    const double ss = k == 0 ? s : k == 1 ? c : k == 2 ? -s : -c;
    const double cc = k == 0 ? c : k == 1 ? -s : k == 2 ? -c : s;
    *sn = ss;
    *cs = cc;
}

/* exp_sigmoid(x) = 2 sigmoid(x)^ln10 + 1e-7 and its derivative ln10 (y - 1e-7) sigmoid(-x):
 * with e = exp(-|x|), sigmoid(x)^ln10 = exp(-ln10 (max(-x, 0) + log1p(e))). */
static inline double synth_exp_sigmoid(double x, double *dydx) {
    const double e = synth_exp_neg(-fabs(x)); /* in (0, 1] */
    const double l = synth_log1p01(e);
    const double p = synth_exp_neg(-SYNTH_LN10 * ((x < 0 ? -x : 0.0) + l));
    const double sneg = (x >= 0 ? e : 1.0) / (1.0 + e); /* sigmoid(-x) */
    *dydx = 2.0 * SYNTH_LN10 * p * sneg;
    return 2.0 * p + SYNTH_EXP_SIGMOID_EPS;
}

/* Number of harmonics k = 1..H with f k < nyq (magenta masks k f >= sr/2; f <= 0 or NaN
 * masks nothing, as the reference's comparison does). Branch-free: the quotient is within
 * one of the count, and the rounded product f k is monotone in k. */
static inline int synth_n_below(double f, double nyq, int H) {
    const double q = f > 0.0 ? nyq / f : (double)H;
    int n = (int)fmin(q, (double)H);
    n -= n > 0 && f * (double)n >= nyq;
    n += n < H && !(f * (double)(n + 1) >= nyq);
    return n;
}

/* f0 at sample i: TF-v1 bilinear resize (align_corners=False), source frame i * F / N,
 * last frame held, in double as the reference. */
static inline double synth_f0_at(const float *f0, size_t F, double step, size_t i) {
    const double src = (double)i * step;
    const size_t lo = (size_t)src;
    const size_t hi = lo + 1 < F ? lo + 1 : F - 1;
    const double fr = src - (double)lo;
    return (double)f0[lo] * (1.0 - fr) + (double)f0[hi] * fr;
}

/* harmonic.c */
void synth_harmonic_phase(ddsp_synth *s, const float *f0_hz, double *phase, size_t b);
void synth_harmonic_controls(ddsp_synth *s, const float *raw, const float *f0_hz, size_t b,
                             size_t f_lo, size_t f_hi);
void synth_harmonic_frames(ddsp_synth *s, const float *f0_hz, size_t b, size_t f_lo, size_t f_hi);
void synth_harmonic_backward_frames(ddsp_synth *s, const float *d, size_t b, size_t f_lo,
                                    size_t f_hi);
void synth_harmonic_backward_controls(ddsp_synth *s, float *d_raw, size_t b, size_t f_lo,
                                      size_t f_hi);

/* noise.c */
int synth_noise_init(ddsp_synth *s);
void synth_noise_free(ddsp_synth *s);
void synth_noise_frames(ddsp_synth *s, synth_noise_work *w, const float *raw, const float *noise,
                        size_t b, size_t f_lo, size_t f_hi);
void synth_noise_overlap_add(ddsp_synth *s, float *audio, size_t b, size_t f_lo, size_t f_hi);
void synth_noise_backward_frames(ddsp_synth *s, synth_noise_work *w, float *d_raw, const float *d,
                                 size_t b, size_t f_lo, size_t f_hi);
void synth_noise_design_ir(const ddsp_synth *s, synth_noise_work *w, float scale);

/* reverb.c */
int synth_reverb_init(ddsp_synth *s);
void synth_reverb_free(ddsp_synth *s);
/* Call from inside a parallel region (work-shared loops with barriers). */
void synth_reverb_forward(ddsp_synth *s, float *audio, const float *ir, size_t B);
void synth_reverb_backward(ddsp_synth *s, float *d_dry, float *d_ir, const float *d_audio,
                           size_t B);

#endif
