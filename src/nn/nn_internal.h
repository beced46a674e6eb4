/* Private to src/nn: branch-free sigmoid/tanh that GCC vectorises inside `omp simd` loops,
 * and the deterministic column sum shared by the Dense and GRU backward passes.
 *
 * nn_expf is Cephes' expf (range reduction by ln 2 in two parts, degree-5 polynomial):
 * ~1 ulp on the clamped range [-87, 88]. libm's expf/tanhf are not vectorised here and
 * would cost ~20 ms of the 1000-step GRU recurrence. */
#ifndef DDSP_NN_INTERNAL_H
#define DDSP_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline float nn_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* n = round(x / ln 2) with the 1.5 * 2^23 trick (round to nearest even) */
    const float t = x * 1.44269504088896341f + 12582912.0f;
    const float fn = t - 12582912.0f;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    const float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    const int32_t n = (int32_t)fn;
    const uint32_t bits = (uint32_t)(n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

static inline float nn_sigmoidf(float x) {
    return 1.0f / (1.0f + nn_expf(-x));
}

/* tanh x = 2 sigmoid(2x) - 1: absolute error ~1e-7 (relative error grows near 0, harmless
 * here: n enters h' additively). */
static inline float nn_tanhf(float x) {
    return 2.0f / (1.0f + nn_expf(-2.0f * x)) - 1.0f;
}

/* acc[c] += sum_r a[r * lda + c] for c < ncols, r < rows, rows summed in order 0..rows-1 in
 * fixed column blocks (OpenMP over blocks): bitwise identical for any thread count. */
void ddsp_nn_colsum_acc(float *acc, const float *a, size_t rows, size_t ncols, size_t lda);

/* ---- products with few rows (the GRU recurrence: B rows against a 512 x 1536 matrix).
 * OpenBLAS is slow there (sgemm with M = 4 runs at ~40 GFLOP/s, below its sgemv per row);
 * with AVX-512 we use a register-blocked kernel on a panel-packed right-hand side instead:
 * M (K, N) is stored as ceil(N / 64) panels of (K, 64), zero-padded, so the kernel streams
 * each panel contiguously while 4 rows x 64 columns of C stay in 16 registers. */
#if defined(__AVX512F__)
#define DDSP_NN_PANEL_KERNEL 1
#else
#define DDSP_NN_PANEL_KERNEL 0
#endif
enum { DDSP_NN_PANEL = 64 };
/* floats needed to pack a (K, N) matrix */
size_t ddsp_nn_pack_floats(size_t K, size_t N);
/* P <- M (K, N) packed; trans = 1: M is given transposed, as Mt (N, K) row-major. */
void ddsp_nn_pack(float *P, const float *M, size_t K, size_t N, int trans);
/* C (rows, N) = A (rows, K) . M (accumulate = 0) or C += A . M (accumulate = 1), with M
 * packed by ddsp_nn_pack; row r of A at A + r * lda, of C at C + r * ldc. Each element is
 * summed over k in order by one thread: results do not depend on the thread count. Only
 * when DDSP_NN_PANEL_KERNEL. */
void ddsp_nn_panel_gemm(float *C, size_t ldc, const float *A, size_t lda, const float *P,
                        size_t rows, size_t K, size_t N, int accumulate);

#endif
