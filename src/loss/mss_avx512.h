/* Private to mss.c: AVX-512 versions of the per-bin kernels (16 bins per step).
 *
 * Why by hand: GCC's `omp simd` form of these loops keeps its reduction lanes on the stack
 * and interleaves/deinterleaves complex values with long permute chains; it ran at ~4
 * cycles per bin, 26 % of an MSS call. These keep every accumulator in a register, split
 * complex doubles with two permutes per 16 bins and take the logarithm from
 * getexp/getmant. They compute the same formulas as the portable kernels in mss.c (same
 * operations per bin, float32 after the FFT); only the order of the per-frame loss sums
 * differs (16 lanes, then the lanes in order).
 *
 * Only the `add` log mode is vectorised here: its argument S + 1e-5 is always a normal
 * float. magenta mode (log S, S may be 0 or subnormal) keeps the portable kernel. */
#ifndef DDSP_MSS_AVX512_H
#define DDSP_MSS_AVX512_H

#include <immintrin.h>

/* 16 complex doubles (32 doubles) -> real and imaginary parts as floats. */
static inline void v16_load_c64(const double *X, __m512 *re, __m512 *im) {
    const __m512 lo = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_loadu_pd(X))),
                                         _mm512_cvtpd_ps(_mm512_loadu_pd(X + 8)), 1);
    const __m512 hi = _mm512_insertf32x8(
        _mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_loadu_pd(X + 16))),
        _mm512_cvtpd_ps(_mm512_loadu_pd(X + 24)), 1);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *re = _mm512_permutex2var_ps(lo, even, hi);
    *im = _mm512_permutex2var_ps(lo, odd, hi);
}

/* 16 complex floats -> real and imaginary parts. */
static inline void v16_load_c32(const float *X, __m512 *re, __m512 *im) {
    const __m512 lo = _mm512_loadu_ps(X), hi = _mm512_loadu_ps(X + 16);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *re = _mm512_permutex2var_ps(lo, even, hi);
    *im = _mm512_permutex2var_ps(lo, odd, hi);
}

/* (re, im) -> 16 interleaved complex floats at U. */
static inline void v16_store_c32(float *U, __m512 re, __m512 im) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    _mm512_storeu_ps(U, _mm512_permutex2var_ps(re, lo, im));
    _mm512_storeu_ps(U + 16, _mm512_permutex2var_ps(re, hi, im));
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
static inline void v16_grad_out(float *U, __m512 re, __m512 im, __m512 se, __m512 num,
                                __m512 den, const float *cf) {
    const __mmask16 pos = _mm512_cmp_ps_mask(se, _mm512_setzero_ps(), _CMP_GT_OQ);
    const __m512 r = _mm512_maskz_div_ps(pos, _mm512_mul_ps(num, _mm512_loadu_ps(cf)),
                                         _mm512_mul_ps(den, se));
    v16_store_c32(U, _mm512_mul_ps(re, r), _mm512_mul_ps(im, r));
}

/* Vector part of each kernel: bins [0, K16), K16 = K rounded down to 16. The caller runs
 * the portable loop on the rest and adds its sums. One kernel per input type (LOAD). */
#define DEFINE_BINS_AVX512(SFX, XT, LOAD)                                                      \
static size_t vbins##SFX##_l1log_add(const XT *X, float *U, const float *St, const float *Lt, \
                                     const float *cf, size_t K, float c, float acc[2]) {       \
    const size_t K16 = K & ~(size_t)15;                                                        \
    const __m512 eps = _mm512_set1_ps(DDSP_MSS_LOG_EPS), vc = _mm512_set1_ps(c);              \
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                                 \
    for (size_t k = 0; k < K16; k += 16) {                                                     \
        __m512 re, im;                                                                         \
        LOAD(X + 2 * k, &re, &im);                                                             \
        const __m512 se = _mm512_sqrt_ps(_mm512_fmadd_ps(re, re, _mm512_mul_ps(im, im)));      \
        const __m512 d = _mm512_sub_ps(se, _mm512_loadu_ps(St + k));                           \
        const __m512 den = _mm512_add_ps(se, eps);                                             \
        const __m512 dl = _mm512_sub_ps(v16_logf(den), _mm512_loadu_ps(Lt + k));               \
        a0 = _mm512_add_ps(a0, v16_abs(d));                                                    \
        a1 = _mm512_add_ps(a1, v16_abs(dl));                                                   \
        const __m512 num = _mm512_mul_ps(vc, _mm512_fmadd_ps(v16_sign(d), den, v16_sign(dl))); \
        v16_grad_out(U + 2 * k, re, im, se, num, den, cf + k);                                 \
    }                                                                                          \
    acc[0] = v16_total(a0), acc[1] = v16_total(a1);                                            \
    return K16;                                                                                \
}                                                                                              \
                                                                                               \
static size_t vbins##SFX##_l1(const XT *X, float *U, const float *St, const float *Lt,        \
                              const float *cf, size_t K, float c, float acc[2]) {              \
    (void)Lt;                                                                                  \
    const size_t K16 = K & ~(size_t)15;                                                        \
    const __m512 vc = _mm512_set1_ps(c), one = _mm512_set1_ps(1.0f);                          \
    __m512 a0 = _mm512_setzero_ps();                                                           \
    for (size_t k = 0; k < K16; k += 16) {                                                     \
        __m512 re, im;                                                                         \
        LOAD(X + 2 * k, &re, &im);                                                             \
        const __m512 se = _mm512_sqrt_ps(_mm512_fmadd_ps(re, re, _mm512_mul_ps(im, im)));      \
        const __m512 d = _mm512_sub_ps(se, _mm512_loadu_ps(St + k));                           \
        a0 = _mm512_add_ps(a0, v16_abs(d));                                                    \
        v16_grad_out(U + 2 * k, re, im, se, _mm512_mul_ps(vc, v16_sign(d)), one, cf + k);      \
    }                                                                                          \
    acc[0] = v16_total(a0), acc[1] = 0.0f;                                                     \
    return K16;                                                                                \
}                                                                                              \
                                                                                               \
static size_t vbins##SFX##_l2(const XT *X, float *U, const float *St, const float *Lt,        \
                              const float *cf, size_t K, float c, float acc[2]) {              \
    (void)Lt;                                                                                  \
    const size_t K16 = K & ~(size_t)15;                                                        \
    const __m512 vc = _mm512_set1_ps(c), one = _mm512_set1_ps(1.0f);                          \
    __m512 a0 = _mm512_setzero_ps();                                                           \
    for (size_t k = 0; k < K16; k += 16) {                                                     \
        __m512 re, im;                                                                         \
        LOAD(X + 2 * k, &re, &im);                                                             \
        const __m512 se = _mm512_sqrt_ps(_mm512_fmadd_ps(re, re, _mm512_mul_ps(im, im)));      \
        const __m512 d = _mm512_sub_ps(se, _mm512_loadu_ps(St + k));                           \
        a0 = _mm512_fmadd_ps(d, d, a0);                                                        \
        v16_grad_out(U + 2 * k, re, im, se, _mm512_mul_ps(vc, d), one, cf + k);                \
    }                                                                                          \
    acc[0] = v16_total(a0), acc[1] = 0.0f;                                                     \
    return K16;                                                                                \
}

DEFINE_BINS_AVX512(64, double, v16_load_c64)
DEFINE_BINS_AVX512(32, float, v16_load_c32)

/* S = |X| and L = log(S + eps) of bins [0, len16); returns len16. */
#define DEFINE_MAG_LOG_AVX512(SFX, XT, LOAD)                                                   \
static size_t vmag_log##SFX##_add(float *S, float *L, const XT *X, size_t len) {              \
    const size_t n16 = len & ~(size_t)15;                                                      \
    const __m512 eps = _mm512_set1_ps(DDSP_MSS_LOG_EPS);                                       \
    for (size_t i = 0; i < n16; i += 16) {                                                     \
        __m512 re, im;                                                                         \
        LOAD(X + 2 * i, &re, &im);                                                             \
        const __m512 s = _mm512_sqrt_ps(_mm512_fmadd_ps(re, re, _mm512_mul_ps(im, im)));       \
        _mm512_storeu_ps(S + i, s);                                                            \
        _mm512_storeu_ps(L + i, v16_logf(_mm512_add_ps(s, eps)));                              \
    }                                                                                          \
    return n16;                                                                                \
}

DEFINE_MAG_LOG_AVX512(64, double, v16_load_c64)
DEFINE_MAG_LOG_AVX512(32, float, v16_load_c32)

#endif
