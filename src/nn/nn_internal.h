/* Private to src/nn: branch-free sigmoid/tanh that GCC vectorises inside `omp simd` loops,
 * the deterministic column sum shared by the Dense and GRU backward passes, the oneDNN
 * products (gemm.c) and the hand-written few-row fp32 kernel (panel.c).
 *
 * nn_expf is Cephes' expf (range reduction by ln 2 in two parts, degree-5 polynomial):
 * ~1 ulp on the clamped range [-87, 88]. libm's expf/tanhf are not vectorised here and
 * would cost ~20 ms of the 1000-step GRU recurrence. */
#ifndef DDSP_NN_INTERNAL_H
#define DDSP_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ddsp/nn.h"

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

/* dst[0..n) = src rounded to bf16 as ddsp_bf16_from_f32, on the calling thread. */
void nn_bf16_row(ddsp_bf16 *dst, const float *src, size_t n);

/* acc[c] += sum_r a[r * lda + c] for c < ncols, r < rows, rows summed in order 0..rows-1 in
 * fixed column blocks (OpenMP over blocks): bitwise identical for any thread count. */
void ddsp_nn_colsum_acc(float *acc, const float *a, size_t rows, size_t ncols, size_t lda);

/* ---- products on oneDNN (gemm.c): C (M, N) float [ldc] = A (M, K) . B (K, N), operands
 * of the context's precision. A is stored (M, K) with row stride lda, or, with ta, as its
 * transpose (K, M) with row stride lda; likewise B (K, N) [ldb] or, with tb, (N, K) [ldb].
 * acc: C += A B; bias: + bias (N) on every row. packed_b: B comes reordered by
 * nn_gemm_pack into the library's blocked layout (the recurrent products: reordered once,
 * used T times). serial: run by one thread, inside a parallel region, with that thread's
 * memory objects and scratchpad (the per-thread recurrence); otherwise the product threads
 * itself and must be run outside parallel regions. */
typedef struct {
    size_t M, N, K;
    size_t lda, ldb, ldc;
    int ta, tb, acc, bias, packed_b, serial;
} nn_gemm_shape;
typedef struct nn_gemm nn_gemm;
/* The product for a shape, made on first use (outside parallel regions only). */
nn_gemm *nn_gemm_get(ddsp_nn *nn, const nn_gemm_shape *s);
/* Run it: C = / += A . B (+ bias). B is the plain matrix, or the packed one for packed_b. */
void nn_gemm_run(ddsp_nn *nn, const nn_gemm *g, float *C, const void *A, const void *B,
                 const float *bias);
/* nn_gemm_get + nn_gemm_run. */
void nn_mm(ddsp_nn *nn, const nn_gemm_shape *s, float *C, const void *A, const void *B,
             const float *bias);
/* packed_b products: bytes of the packed B; whether two products read the same packing;
 * dst <- B (plain, (K, N) [ldb] or with tb (N, K) [ldb]) reordered. */
size_t nn_gemm_packed_bytes(const nn_gemm *g);
int nn_gemm_same_packing(const nn_gemm *a, const nn_gemm *b);
void nn_gemm_pack(ddsp_nn *nn, nn_gemm *g, void *dst, const void *B);

/* ---- few-row fp32 products by hand (the GRU recurrence when a thread runs 1 or 2
 * sequences). Measured against oneDNN f32 with the weights reordered once (same process,
 * one thread, (rows, 512) x (512, 1536) and (rows, 1536) x (1536, 512), 1000 products,
 * medians of 7, AMD EPYC Zen 4): rows 1: 46 against 42-43 GFLOP/s; rows 2: 89 against 77;
 * rows 4: 86-91 against 100-106 (oneDNN wins from 4 rows; bf16 runs 80-210 at any rows).
 * The kernel: M (K, N) stored as ceil(N / 64) panels of (K, 64), zero-padded; per panel and
 * group of up to 4 rows, the block of C lives in 16 zmm registers while the panel streams. */
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
 * packed by ddsp_nn_pack; row r of A at A + r * lda, of C at C + r * ldc. Runs on the
 * calling thread. Only when DDSP_NN_PANEL_KERNEL. */
void ddsp_nn_panel_gemm(float *C, size_t ldc, const float *A, size_t lda, const float *P,
                        size_t rows, size_t K, size_t N, int accumulate);

#endif
