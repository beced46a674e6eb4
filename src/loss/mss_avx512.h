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
        const __m512 se = _mm512_sqrt_ps(_mm512_fmadd_ps(re, re, _mm512_mul_ps(im, im)));      \
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
        const __m512 s = _mm512_sqrt_ps(_mm512_fmadd_ps(re, re, _mm512_mul_ps(im, im)));       \
        _mm512_mask_storeu_ps(S + i, m16(r), s);                                               \
        _mm512_mask_storeu_ps(L + i, m16(r), v16_logf(_mm512_add_ps(s, eps)));                 \
    }                                                                                          \
    return len;                                                                                \
}

DEFINE_MAG_LOG_AVX512(64, double, v16_load_c64)
DEFINE_MAG_LOG_AVX512(32, float, v16_load_c32)

#endif
