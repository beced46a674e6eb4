/* Private to mss.c: AVX-512 versions of the per-bin kernels (16 bins per step).
 *
 * Why by hand: GCC's `omp simd` form of these loops keeps its reduction lanes on the stack
 * and interleaves/deinterleaves complex values with long permute chains; it ran at ~4
 * cycles per bin, 26 % of an MSS call. These keep every accumulator in a register, split
 * complex doubles with two permutes per 16 bins and take the logarithm from
 * getexp/getmant. They compute the same formulas as the portable kernels in mss.c (same
 * operations per bin, float32 after the FFT); only the order of the per-frame loss sums
 * differs (16 lanes, then the lanes in order). The portable loops in mss.c then only serve
 * magenta's log mode and builds without AVX-512.
 *
 * Only the `add` log mode is vectorised here: its argument S + 1e-5 is always a normal
 * float. magenta mode (log S, S may be 0 or subnormal) keeps the portable kernel. */
#ifndef DDSP_MSS_AVX512_H
#define DDSP_MSS_AVX512_H

#include <immintrin.h>
#include <math.h>

/* Every kernel walks its bins 16 at a time and handles the last, partial group with masked
 * loads and stores (r = bins left, 1..16), so a bin is computed the same way wherever it
 * falls: the spectrum of a signal compared with itself gives exactly 0. */
static inline __mmask8 m8(int doubles_left) {
    return doubles_left >= 8 ? (__mmask8)0xff : doubles_left <= 0 ? 0 : (__mmask8)((1u << doubles_left) - 1);
}
static inline __mmask16 m16(int left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

/* r complex doubles (zero beyond) -> real and imaginary parts as floats. */
static inline void v16_load_c64(const double *X, int r, __m512 *re, __m512 *im) {
    const int d = 2 * r;
    const __m256 q0 = _mm512_cvtpd_ps(_mm512_maskz_loadu_pd(m8(d), X));
    const __m256 q1 = _mm512_cvtpd_ps(_mm512_maskz_loadu_pd(m8(d - 8), X + 8));
    const __m256 q2 = _mm512_cvtpd_ps(_mm512_maskz_loadu_pd(m8(d - 16), X + 16));
    const __m256 q3 = _mm512_cvtpd_ps(_mm512_maskz_loadu_pd(m8(d - 24), X + 24));
    const __m512 lo = _mm512_insertf32x8(_mm512_castps256_ps512(q0), q1, 1);
    const __m512 hi = _mm512_insertf32x8(_mm512_castps256_ps512(q2), q3, 1);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *re = _mm512_permutex2var_ps(lo, even, hi);
    *im = _mm512_permutex2var_ps(lo, odd, hi);
}

/* r complex floats (zero beyond) -> real and imaginary parts. */
static inline void v16_load_c32(const float *X, int r, __m512 *re, __m512 *im) {
    const __m512 lo = _mm512_maskz_loadu_ps(m16(2 * r), X);
    const __m512 hi = _mm512_maskz_loadu_ps(m16(2 * r - 16), X + 16);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *re = _mm512_permutex2var_ps(lo, even, hi);
    *im = _mm512_permutex2var_ps(lo, odd, hi);
}

/* (re, im) -> r interleaved complex floats at U. */
static inline void v16_store_c32(float *U, int r, __m512 re, __m512 im) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    _mm512_mask_storeu_ps(U, m16(2 * r), _mm512_permutex2var_ps(re, lo, im));
    _mm512_mask_storeu_ps(U + 16, m16(2 * r - 16), _mm512_permutex2var_ps(re, hi, im));
}

/* Natural log of positive NORMAL floats: the reduction and Cephes polynomial of ddsp_logf
 * (x = m 2^e, m in [sqrt(1/2), sqrt(2)), f = m - 1); within an ulp or two of it. */
static inline __m512 v16_logf(__m512 x) {
    __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src); /* [1, 2) */
    __m512 e = _mm512_getexp_ps(x);
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(1.41421356237309505f), _CMP_GE_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
    const __m512 f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
    /* the Cephes polynomial (degree 8) by Estrin's scheme: 5 dependent FMAs, not 9 */
    const __m512 z = _mm512_mul_ps(f, f), z2 = _mm512_mul_ps(z, z), z4 = _mm512_mul_ps(z2, z2);
#define C_(v) _mm512_set1_ps(v)
    const __m512 q0 = _mm512_fmadd_ps(C_(-2.4999993993e-1f), f, C_(3.3333331174e-1f));
    const __m512 q1 = _mm512_fmadd_ps(C_(-1.6668057665e-1f), f, C_(2.0000714765e-1f));
    const __m512 q2 = _mm512_fmadd_ps(C_(-1.2420140846e-1f), f, C_(1.4249322787e-1f));
    const __m512 q3 = _mm512_fmadd_ps(C_(-1.1514610310e-1f), f, C_(1.1676998740e-1f));
#undef C_
    const __m512 r0 = _mm512_fmadd_ps(q1, z, q0), r1 = _mm512_fmadd_ps(q3, z, q2);
    __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(7.0376836292e-2f), z4, _mm512_fmadd_ps(r1, z2, r0));
    y = _mm512_mul_ps(_mm512_mul_ps(y, f), z);
    y = _mm512_fmadd_ps(e, _mm512_set1_ps(-2.12194440e-4f), y);
    y = _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5f), y);
    return _mm512_fmadd_ps(e, _mm512_set1_ps(0.693359375f), _mm512_add_ps(f, y));
}

/* |re + i im| per lane. re^2 + im^2 below 2^-100 (|z| < ~1e-15: tiny bins of quiet audio,
 * and zero) is recomputed from re, im scaled by 2^100, so it neither underflows to 0 nor
 * loses bits (|z| right to float rounding for every float input; a bin of 1e-25 keeps its
 * direction X/|X|, as in the float64 reference). Such lanes are rare: one compare and a
 * not-taken branch per 16 bins otherwise. */
static inline __m512 v16_hypot(__m512 re, __m512 im) {
    const __m512 m2 = _mm512_fmadd_ps(re, re, _mm512_mul_ps(im, im));
    const __mmask16 tiny = _mm512_cmp_ps_mask(m2, _mm512_set1_ps(0x1p-100f), _CMP_LT_OQ);
    const __m512 s = _mm512_sqrt_ps(m2);
    if (__builtin_expect(!tiny, 1)) return s;
    const __m512 up = _mm512_set1_ps(0x1p100f);
    const __m512 r2 = _mm512_mul_ps(re, up), i2 = _mm512_mul_ps(im, up);
    const __m512 t = _mm512_sqrt_ps(_mm512_fmadd_ps(r2, r2, _mm512_mul_ps(i2, i2)));
    return _mm512_mask_mul_ps(s, tiny, t, _mm512_set1_ps(0x1p-100f));
}

/* sign(x) in {-1, 0, 1}: copysign(1, x), zeroed where x == 0 */
static inline __m512 v16_sign(__m512 x) {
    const __mmask16 nz = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    const __m512i one = _mm512_castps_si512(_mm512_set1_ps(1.0f));
    const __m512i sgn = _mm512_set1_epi32((int)0x80000000u);
    /* (x & sgn) | one, bitwise: ternary-logic table 0xEA = (A & B) | C */
    return _mm512_castsi512_ps(
        _mm512_maskz_ternarylogic_epi32(nz, _mm512_castps_si512(x), sgn, one, 0xEA));
}

static inline __m512 v16_abs(__m512 x) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}

/* Sum of 16 lanes in lane order (deterministic, independent of the compiler's choice). */
static inline float v16_total(__m512 v) {
    float a[16];
    _mm512_storeu_ps(a, v);
    float s = 0.0f;
    for (int k = 0; k < 16; k++) s += a[k];
    return s;
}

/* U = dS * X / S, written where S > 0 (0 elsewhere); r = num * cf / (den * S). */
static inline void v16_grad_out(float *U, int r, __m512 re, __m512 im, __m512 se, __m512 num,
                                __m512 den, const float *cf) {
    const __mmask16 pos = _mm512_cmp_ps_mask(se, _mm512_setzero_ps(), _CMP_GT_OQ);
    const __m512 q = _mm512_maskz_div_ps(pos, _mm512_mul_ps(num, _mm512_maskz_loadu_ps(m16(r), cf)),
                                         _mm512_mul_ps(den, se));
    v16_store_c32(U, r, _mm512_mul_ps(re, q), _mm512_mul_ps(im, q));
}

/* The kernels: all K bins (the portable loop in mss.c then has nothing left). One set per
 * input type (LOAD). Masked-off lanes load 0 and are kept out of the sums. */
#define BINS_AVX512_HEAD(LOAD)                                                                     \
    for (size_t k = 0; k < K; k += 16) {                                                       \
        const int r = K - k < 16 ? (int)(K - k) : 16;                                          \
        const __mmask16 live = m16(r);                                                         \
        __m512 re, im;                                                                         \
        LOAD(X + 2 * k, r, &re, &im);                                                          \
        const __m512 se = v16_hypot(re, im);                                                   \
        const __m512 d = _mm512_sub_ps(se, _mm512_maskz_loadu_ps(live, St + k));

#define DEFINE_BINS_AVX512(SFX, XT, LOAD)                                                      \
static size_t vbins##SFX##_l1log_add(const XT *X, float *U, const float *St, const float *Lt, \
                                     const float *cf, size_t K, float c, float acc[2]) {       \
    const __m512 eps = _mm512_set1_ps(DDSP_MSS_LOG_EPS), vc = _mm512_set1_ps(c);              \
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                                 \
    BINS_AVX512_HEAD(LOAD)                                                                      \
        const __m512 den = _mm512_add_ps(se, eps);                                             \
        const __m512 dl = _mm512_sub_ps(v16_logf(den), _mm512_maskz_loadu_ps(live, Lt + k));   \
        a0 = _mm512_add_ps(a0, v16_abs(d));                                                    \
        a1 = _mm512_mask_add_ps(a1, live, a1, v16_abs(dl));                                    \
        const __m512 num = _mm512_mul_ps(vc, _mm512_fmadd_ps(v16_sign(d), den, v16_sign(dl))); \
        v16_grad_out(U + 2 * k, r, re, im, se, num, den, cf + k);                              \
    }                                                                                          \
    acc[0] = v16_total(a0), acc[1] = v16_total(a1);                                            \
    return K;                                                                                  \
}                                                                                              \
                                                                                               \
static size_t vbins##SFX##_l1(const XT *X, float *U, const float *St, const float *Lt,        \
                              const float *cf, size_t K, float c, float acc[2]) {              \
    (void)Lt;                                                                                  \
    const __m512 vc = _mm512_set1_ps(c), one = _mm512_set1_ps(1.0f);                          \
    __m512 a0 = _mm512_setzero_ps();                                                           \
    BINS_AVX512_HEAD(LOAD)                                                                      \
        a0 = _mm512_add_ps(a0, v16_abs(d));                                                    \
        v16_grad_out(U + 2 * k, r, re, im, se, _mm512_mul_ps(vc, v16_sign(d)), one, cf + k);   \
    }                                                                                          \
    acc[0] = v16_total(a0), acc[1] = 0.0f;                                                     \
    return K;                                                                                  \
}                                                                                              \
                                                                                               \
static size_t vbins##SFX##_l2(const XT *X, float *U, const float *St, const float *Lt,        \
                              const float *cf, size_t K, float c, float acc[2]) {              \
    (void)Lt;                                                                                  \
    const __m512 vc = _mm512_set1_ps(c), one = _mm512_set1_ps(1.0f);                          \
    __m512 a0 = _mm512_setzero_ps();                                                           \
    BINS_AVX512_HEAD(LOAD)                                                                      \
        a0 = _mm512_fmadd_ps(d, d, a0);                                                        \
        v16_grad_out(U + 2 * k, r, re, im, se, _mm512_mul_ps(vc, d), one, cf + k);             \
    }                                                                                          \
    acc[0] = v16_total(a0), acc[1] = 0.0f;                                                     \
    return K;                                                                                  \
}

DEFINE_BINS_AVX512(64, double, v16_load_c64)
DEFINE_BINS_AVX512(32, float, v16_load_c32)

/* S = |X| and L = log(S + eps) of all len bins; returns len. */
#define DEFINE_MAG_LOG_AVX512(SFX, XT, LOAD)                                                   \
static size_t vmag_log##SFX##_add(float *S, float *L, const XT *X, size_t len) {              \
    const __m512 eps = _mm512_set1_ps(DDSP_MSS_LOG_EPS);                                       \
    for (size_t i = 0; i < len; i += 16) {                                                     \
        const int r = len - i < 16 ? (int)(len - i) : 16;                                      \
        __m512 re, im;                                                                         \
        LOAD(X + 2 * i, r, &re, &im);                                                          \
        const __m512 s = v16_hypot(re, im);                                                    \
        _mm512_mask_storeu_ps(S + i, m16(r), s);                                               \
        _mm512_mask_storeu_ps(L + i, m16(r), v16_logf(_mm512_add_ps(s, eps)));                 \
    }                                                                                          \
    return len;                                                                                \
}

DEFINE_MAG_LOG_AVX512(64, double, v16_load_c64)
DEFINE_MAG_LOG_AVX512(32, float, v16_load_c32)

/* ------------------------------------------------------------------ fused pair kernels
 * Exact precision, straight from one double c2c row Z (n complex) of a frame pair a + i b
 * (ddsp_stft_frame_pairs_f64): the split into the two frames' spectra
 *   X_a[k] = (Z[k] + conj Z[n-k]) / 2,   X_b[k] = (Z[k] - conj Z[n-k]) / 2i
 * is done in double in registers (a quiet bin of one frame next to a loud bin of the other
 * needs it; see target_block in mss.c), then rounded to float for the per-bin work, and the
 * adjoint is written straight into the pair row of the backward c2c:
 *   Zo[k] = U_a[k] + i U_b[k],   Zo[n-k] = conj U_a[k] + i conj U_b[k].
 * This replaces three passes over the block (split to memory, per-bin kernel, join) by one.
 *
 * Bins are taken 16 at a time: k = 1..16, 17..32, ..., n/2-15..n/2 (n % 32 == 0, so every
 * group is full; the mirrors n-k of one group are 16 consecutive complexes read backwards),
 * and bin 0 alone in a group whose other lanes are zero. Bin n/2 is its own mirror, so both
 * of its writes carry the same value (its imaginary parts are exactly 0).
 *
 * l1log without a logarithm per bin: with u = max(S_e, S_t) + eps and v = min(S_e, S_t) + eps,
 * |log(S_e + eps) - log(S_t + eps)| = log u - log v. Per lane, the exponents of u and v are
 * summed (E) and their mantissas multiplied (P, Q, renormalised every 16 groups), so
 * sum |dlog| = E ln 2 + ln P - ln Q is taken once per task. Its rounding (2^-24 relative per
 * product, i.e. absolute in the log) is below that of summing per-bin float logs. The
 * gradient uses sign(log u' - log v') = sign(S_e - S_t) (log is increasing), which is the
 * exact derivative also where float logs of two close magnitudes round to the same value. */

/* Per-task sums of the fused kernels, per lane (16 lanes). */
typedef struct {
    __m512d a0[2], E[2]; /* sum of the first term (|d| or d^2) and of the exponent
                            differences, in double: lanes 0-7, 8-15 */
    __m512 P[2], Q[2];   /* running mantissa products of u and v, frame slot a, b */
} vpair_sums;

static inline void vpair_sums_init(vpair_sums *s) {
    for (int i = 0; i < 2; i++) {
        s->a0[i] = s->E[i] = _mm512_setzero_pd();
        s->P[i] = s->Q[i] = _mm512_set1_ps(1.0f);
    }
}

/* The task's two loss sums: acc[0] = sum of the first term, acc[1] = sum |dlog| (0 unless
 * the l1log kernel ran). */
static inline void vpair_sums_total(const vpair_sums *s, double acc[2]) {
    double a[8], e[8];
    float p[16], q[16];
    acc[0] = acc[1] = 0.0;
    double lsum = 0.0, esum = 0.0;
    for (int i = 0; i < 2; i++) {
        _mm512_storeu_pd(a, s->a0[i]);
        _mm512_storeu_pd(e, s->E[i]);
        for (int l = 0; l < 8; l++) acc[0] += a[l], esum += e[l];
        _mm512_storeu_ps(p, s->P[i]);
        _mm512_storeu_ps(q, s->Q[i]);
        for (int l = 0; l < 16; l++) lsum += log((double)p[l]) - log((double)q[l]);
    }
    acc[1] = esum * 0.69314718055994530942 + lsum;
}

/* zk: Z[k..k+15], zm: Z[n-k..n-k-15] (both as 4 x 4 complex doubles) -> X_a = (ar, ai) and
 * X_b = (br, -bn) as floats, lanes = bins k..k+15. */
static inline void vp_split(const __m512d zk[4], const __m512d zm[4], __m512 *ar, __m512 *ai,
                            __m512 *br, __m512 *bn) {
    const __m512d one = _mm512_set1_pd(1.0);
    __m256 t1[4], t2[4];
    for (int j = 0; j < 4; j++) {
        /* even (real) lanes z + m, odd (imaginary) lanes z - m; and the converse. The
         * multiplication by 1 is exact, so each is one correctly rounded add or subtract. */
        t1[j] = _mm512_cvtpd_ps(_mm512_fmsubadd_pd(zk[j], one, zm[j]));
        t2[j] = _mm512_cvtpd_ps(_mm512_fmaddsub_pd(zk[j], one, zm[j]));
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 half = _mm512_set1_ps(0.5f);
    const __m512 lo1 = _mm512_insertf32x8(_mm512_castps256_ps512(t1[0]), t1[1], 1);
    const __m512 hi1 = _mm512_insertf32x8(_mm512_castps256_ps512(t1[2]), t1[3], 1);
    const __m512 lo2 = _mm512_insertf32x8(_mm512_castps256_ps512(t2[0]), t2[1], 1);
    const __m512 hi2 = _mm512_insertf32x8(_mm512_castps256_ps512(t2[2]), t2[3], 1);
    *ar = _mm512_mul_ps(half, _mm512_permutex2var_ps(lo1, even, hi1)); /* (zr + mr) / 2 */
    *ai = _mm512_mul_ps(half, _mm512_permutex2var_ps(lo1, odd, hi1));  /* (zi - mi) / 2 */
    *bn = _mm512_mul_ps(half, _mm512_permutex2var_ps(lo2, even, hi2)); /* (zr - mr) / 2 */
    *br = _mm512_mul_ps(half, _mm512_permutex2var_ps(lo2, odd, hi2));  /* (zi + mi) / 2 */
}

/* Full group at bin k (1 <= k <= n/2 - 15) of row Z. */
static inline void vp_load(const double *Z, int n, int k, __m512d zk[4], __m512d zm[4]) {
    const double *m = Z + 2 * (n - k - 15); /* Z[n-k-15 .. n-k] */
    for (int j = 0; j < 4; j++) {
        zk[j] = _mm512_loadu_pd(Z + 2 * k + 8 * j);
        const __m512d r = _mm512_loadu_pd(m + 8 * (3 - j));
        zm[j] = _mm512_shuffle_f64x2(r, r, _MM_SHUFFLE(0, 1, 2, 3)); /* reverse 4 complexes */
    }
}

/* Bin 0 in lane 0 (its mirror is itself), zeros elsewhere. */
static inline void vp_load0(const double *Z, __m512d zk[4], __m512d zm[4]) {
    zk[0] = zm[0] = _mm512_maskz_loadu_pd(0x3, Z);
    for (int j = 1; j < 4; j++) zk[j] = zm[j] = _mm512_setzero_pd();
}

static inline __m512 vp_mag(__m512 re, __m512 im) {
    return v16_hypot(re, im);
}

/* Per-bin loss terms of one frame's 16 bins: magnitude from (re, im), target st, ccf =
 * gradient constant x adjoint weight. Adds to the lane sums; returns q with U = q X. Lanes
 * with re = im = st = 0 contribute nothing (padding lanes, absent frame). */
static inline __m512 vp_l1log_add(__m512 re, __m512 im, __m512 st, __m512 ccf, __m512 *a0,
                                  __m512 *E, __m512 *P, __m512 *Q) {
    const __m512 eps = _mm512_set1_ps(DDSP_MSS_LOG_EPS), zero = _mm512_setzero_ps();
    const __m512 se = vp_mag(re, im), d = _mm512_sub_ps(se, st);
    *a0 = _mm512_add_ps(*a0, v16_abs(d));
    const __mmask16 nz = _mm512_cmp_ps_mask(d, zero, _CMP_NEQ_UQ);
    const __mmask16 pos = _mm512_cmp_ps_mask(d, zero, _CMP_GT_OQ);
    const __m512 den = _mm512_add_ps(se, eps), bt = _mm512_add_ps(st, eps);
    const __m512 u = _mm512_mask_blend_ps(pos, bt, den), v = _mm512_mask_blend_ps(pos, den, bt);
    *E = _mm512_mask_add_ps(*E, nz, *E, _mm512_sub_ps(_mm512_getexp_ps(u), _mm512_getexp_ps(v)));
    *P = _mm512_mask_mul_ps(*P, nz, *P, _mm512_getmant_ps(u, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src));
    *Q = _mm512_mask_mul_ps(*Q, nz, *Q, _mm512_getmant_ps(v, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src));
    /* dL/dS = c (sign(d) + sign(d) / (S_e + eps)); q = dL/dS / S_e */
    const __m512 s = v16_sign(d);
    const __m512 num = _mm512_mul_ps(ccf, _mm512_fmadd_ps(s, den, s));
    const __mmask16 live = _mm512_cmp_ps_mask(se, zero, _CMP_GT_OQ);
    return _mm512_maskz_div_ps(live, num, _mm512_mul_ps(den, se));
}

static inline __m512 vp_l1(__m512 re, __m512 im, __m512 st, __m512 ccf, __m512 *a0, __m512 *E,
                           __m512 *P, __m512 *Q) {
    (void)E, (void)P, (void)Q;
    const __m512 se = vp_mag(re, im), d = _mm512_sub_ps(se, st);
    *a0 = _mm512_add_ps(*a0, v16_abs(d));
    const __mmask16 live = _mm512_cmp_ps_mask(se, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_maskz_div_ps(live, _mm512_mul_ps(ccf, v16_sign(d)), se);
}

static inline __m512 vp_l2(__m512 re, __m512 im, __m512 st, __m512 ccf, __m512 *a0, __m512 *E,
                           __m512 *P, __m512 *Q) {
    (void)E, (void)P, (void)Q;
    const __m512 se = vp_mag(re, im), d = _mm512_sub_ps(se, st);
    *a0 = _mm512_fmadd_ps(d, d, *a0);
    const __mmask16 live = _mm512_cmp_ps_mask(se, _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_maskz_div_ps(live, _mm512_mul_ps(ccf, d), se);
}

/* Mantissa products back to [1, 2), their exponents into E: 16 groups multiply each product
 * by less than 2^16, far from overflow. */
static inline void vp_renorm(__m512 *E, __m512 *P, __m512 *Q) {
    *E = _mm512_add_ps(*E, _mm512_sub_ps(_mm512_getexp_ps(*P), _mm512_getexp_ps(*Q)));
    *P = _mm512_getmant_ps(*P, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
    *Q = _mm512_getmant_ps(*Q, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_src);
}

/* One row: loss terms of frames a (St_a = Sa) and b (Sb; NULL when the row holds frame a
 * only), U written into Zo (n complex floats). Z: (n) complex doubles; Sa, Sb, cf: (n/2+1).
 * silent: bit 0 / bit 1 set when the estimate's frame a / b is all zeros. Its spectrum is then
 * exactly 0 (S_e = 0: no gradient, |z|' = 0 at 0), not the rounding noise that the other
 * frame of the pair leaves in it: that noise has random phase, and l1 turns it into a
 * gradient of full size (c X / |X|) however small |X| is. */
#define DEFINE_VPAIR(NAME)                                                                     \
static void vpair_##NAME(const double *restrict Z, float *restrict Zo, const float *Sa,       \
                         const float *Sb, const float *cf, int n, float c, unsigned silent,    \
                         vpair_sums *acc) {                                                    \
    /* lb: frame b exists (its target is read); ma, mb: the estimate's frame is not silent */ \
    const __mmask16 lb = Sb ? 0xffff : 0;                                                      \
    const __mmask16 ma = (silent & 1) ? 0 : 0xffff, mb = (silent & 2) ? 0 : lb;                \
    if (!Sb) Sb = Sa; /* read nothing through it (mask 0), but never from NULL */             \
    const __m512 vc = _mm512_set1_ps(c);                                                       \
    __m512 a0 = _mm512_setzero_ps(), E = _mm512_setzero_ps();                                  \
    __m512 Pa = acc->P[0], Qa = acc->Q[0], Pb = acc->P[1], Qb = acc->Q[1];                     \
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23); \
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31); \
    const __m512i rlo = _mm512_setr_epi32(15, 31, 14, 30, 13, 29, 12, 28, 11, 27, 10, 26, 9, 25, 8, 24); \
    const __m512i rhi = _mm512_setr_epi32(7, 23, 6, 22, 5, 21, 4, 20, 3, 19, 2, 18, 1, 17, 0, 16); \
    __m512d zk[4], zm[4];                                                                      \
    __m512 ar, ai, br, bn;                                                                     \
    /* bin 0 */                                                                                \
    vp_load0(Z, zk, zm);                                                                       \
    vp_split(zk, zm, &ar, &ai, &br, &bn);                                                      \
    ar = _mm512_maskz_mov_ps(ma, ar), ai = _mm512_maskz_mov_ps(ma, ai);                        \
    br = _mm512_maskz_mov_ps(mb, br), bn = _mm512_maskz_mov_ps(mb, bn);                        \
    {                                                                                          \
        const __m512 ccf = _mm512_mul_ps(vc, _mm512_maskz_loadu_ps(1, cf));                    \
        const __m512 qa = vp_##NAME(ar, ai, _mm512_maskz_loadu_ps(1, Sa), ccf, &a0, &E, &Pa, &Qa); \
        const __m512 qb = vp_##NAME(br, bn, _mm512_maskz_loadu_ps(lb & 1, Sb), ccf, &a0, &E, &Pb, &Qb); \
        /* (U_a[0], U_b[0]): c2r ignores the imaginary part of bin 0 */                        \
        const __m512 zr = _mm512_mul_ps(qa, ar), zi = _mm512_mul_ps(qb, br);                   \
        _mm512_mask_storeu_ps(Zo, 0x3, _mm512_permutex2var_ps(zr, lo, zi));                    \
    }                                                                                          \
    for (int k = 1, g = 0; k + 15 <= n / 2; k += 16, g++) {                                    \
        vp_load(Z, n, k, zk, zm);                                                              \
        vp_split(zk, zm, &ar, &ai, &br, &bn);                                                  \
        ar = _mm512_maskz_mov_ps(ma, ar), ai = _mm512_maskz_mov_ps(ma, ai);                    \
        br = _mm512_maskz_mov_ps(mb, br), bn = _mm512_maskz_mov_ps(mb, bn);                    \
        const __m512 ccf = _mm512_mul_ps(vc, _mm512_loadu_ps(cf + k));                         \
        const __m512 qa = vp_##NAME(ar, ai, _mm512_loadu_ps(Sa + k), ccf, &a0, &E, &Pa, &Qa);  \
        const __m512 qb = vp_##NAME(br, bn, _mm512_maskz_loadu_ps(lb, Sb + k), ccf, &a0, &E, &Pb, &Qb); \
        const __m512 uar = _mm512_mul_ps(qa, ar), uai = _mm512_mul_ps(qa, ai);                 \
        const __m512 kr = _mm512_fmadd_ps(qb, bn, uar), ki = _mm512_fmadd_ps(qb, br, uai);      \
        const __m512 mr = _mm512_fnmadd_ps(qb, bn, uar), mi = _mm512_fmsub_ps(qb, br, uai);     \
        float *zo = Zo + 2 * k, *zom = Zo + 2 * (n - k - 15);                                  \
        _mm512_storeu_ps(zo, _mm512_permutex2var_ps(kr, lo, ki));                              \
        _mm512_storeu_ps(zo + 16, _mm512_permutex2var_ps(kr, hi, ki));                         \
        _mm512_storeu_ps(zom, _mm512_permutex2var_ps(mr, rlo, mi));                            \
        _mm512_storeu_ps(zom + 16, _mm512_permutex2var_ps(mr, rhi, mi));                       \
        if ((g & 15) == 15) vp_renorm(&E, &Pa, &Qa), vp_renorm(&E, &Pb, &Qb);                  \
    }                                                                                          \
    vp_renorm(&E, &Pa, &Qa), vp_renorm(&E, &Pb, &Qb);                                          \
    acc->P[0] = Pa, acc->Q[0] = Qa, acc->P[1] = Pb, acc->Q[1] = Qb;                            \
    acc->a0[0] = _mm512_add_pd(acc->a0[0], _mm512_cvtps_pd(_mm512_castps512_ps256(a0)));       \
    acc->a0[1] = _mm512_add_pd(acc->a0[1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(a0, 1)));    \
    acc->E[0] = _mm512_add_pd(acc->E[0], _mm512_cvtps_pd(_mm512_castps512_ps256(E)));          \
    acc->E[1] = _mm512_add_pd(acc->E[1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(E, 1)));       \
}

DEFINE_VPAIR(l1log_add)
DEFINE_VPAIR(l1)
DEFINE_VPAIR(l2)

/* Target side of a row: S_a = |X_a| into Sa, S_b into Sb (NULL: frame a only), (n/2+1) each,
 * by the same operations as the loss kernels (so a signal against itself gives exactly 0).
 * silent: bit 0 / bit 1 set when frame a / b is all zeros: its magnitudes are exactly 0
 * (the pair's FFT would leave rounding noise of the other frame there). */
static void vpair_mag(const double *restrict Z, float *restrict Sa, float *restrict Sb, int n,
                      unsigned silent) {
    const __mmask16 ma = (silent & 1) ? 0 : 0xffff, mb = (silent & 2) ? 0 : 0xffff;
    __m512d zk[4], zm[4];
    __m512 ar, ai, br, bn;
    vp_load0(Z, zk, zm);
    vp_split(zk, zm, &ar, &ai, &br, &bn);
    _mm512_mask_storeu_ps(Sa, 1, _mm512_maskz_mov_ps(ma, vp_mag(ar, ai)));
    if (Sb) _mm512_mask_storeu_ps(Sb, 1, _mm512_maskz_mov_ps(mb, vp_mag(br, bn)));
    for (int k = 1; k + 15 <= n / 2; k += 16) {
        vp_load(Z, n, k, zk, zm);
        vp_split(zk, zm, &ar, &ai, &br, &bn);
        _mm512_storeu_ps(Sa + k, _mm512_maskz_mov_ps(ma, vp_mag(ar, ai)));
        if (Sb) _mm512_storeu_ps(Sb + k, _mm512_maskz_mov_ps(mb, vp_mag(br, bn)));
    }
}

#endif
