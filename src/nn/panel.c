/* Register-blocked fp32 product for 1 or 2 rows against a panel-packed matrix: the GRU
 * recurrence's h U and dGh U^T when a thread runs one or two sequences, where it beats
 * oneDNN f32 (numbers in nn_internal.h; from 4 rows oneDNN is faster and is used). Per
 * 64-column panel and group of up to 4 rows, the 4 x 64 block of C lives in 16 zmm registers
 * while the panel (K x 64, contiguous) streams through: 4 loads and 16 FMAs per k. */
#include "ddsp/util.h"
#include "nn/nn_internal.h"

#include <string.h>

#if DDSP_NN_PANEL_KERNEL
#include <immintrin.h>
#endif

size_t ddsp_nn_pack_floats(size_t K, size_t N) {
    return K * ((N + DDSP_NN_PANEL - 1) / DDSP_NN_PANEL) * DDSP_NN_PANEL;
}

void ddsp_nn_pack(float *P, const float *M, size_t K, size_t N, int trans) {
    const size_t np = (N + DDSP_NN_PANEL - 1) / DDSP_NN_PANEL;
#pragma omp parallel for schedule(static) if (K * N >= 262144)
    for (size_t p = 0; p < np; p++) {
        const size_t j0 = p * DDSP_NN_PANEL;
        const size_t nc = N - j0 < DDSP_NN_PANEL ? N - j0 : DDSP_NN_PANEL;
        float *dst = P + p * K * DDSP_NN_PANEL;
        if (nc < DDSP_NN_PANEL) memset(dst, 0, sizeof(float) * K * DDSP_NN_PANEL);
        if (!trans) {
            for (size_t k = 0; k < K; k++)
                memcpy(dst + k * DDSP_NN_PANEL, M + k * N + j0, sizeof(float) * nc);
        } else {
            for (size_t c = 0; c < nc; c++) {
                const float *src = M + (j0 + c) * K; /* row j0 + c of Mt */
                for (size_t k = 0; k < K; k++)
                    dst[k * DDSP_NN_PANEL + c] = src[k];
            }
        }
    }
}

#if DDSP_NN_PANEL_KERNEL
static inline __mmask16 col_mask(size_t nc, int v) {
    const long rem = (long)nc - 16 * v;
    return rem >= 16 ? (__mmask16)0xFFFF : rem <= 0 ? (__mmask16)0 : (__mmask16)((1u << rem) - 1);
}

/* nr (1..4) rows of C, one panel; nr is a constant after inlining, so c[][] is registers. */
static inline __attribute__((always_inline)) void panel_block(float *C, size_t ldc, const float *A,
                                                              size_t lda, const float *P, size_t K,
                                                              size_t nc, int accumulate,
                                                              const int nr) {
    const __mmask16 m[4] = {col_mask(nc, 0), col_mask(nc, 1), col_mask(nc, 2), col_mask(nc, 3)};
    __m512 c[4][4];
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < 4; v++)
            c[r][v] = accumulate ? _mm512_maskz_loadu_ps(m[v], C + r * ldc + 16 * v)
                                 : _mm512_setzero_ps();
    for (size_t k = 0; k < K; k++) {
        const float *p = P + k * DDSP_NN_PANEL;
        const __m512 p0 = _mm512_loadu_ps(p), p1 = _mm512_loadu_ps(p + 16);
        const __m512 p2 = _mm512_loadu_ps(p + 32), p3 = _mm512_loadu_ps(p + 48);
        for (int r = 0; r < nr; r++) {
            const __m512 a = _mm512_set1_ps(A[r * lda + k]);
            c[r][0] = _mm512_fmadd_ps(a, p0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(a, p1, c[r][1]);
            c[r][2] = _mm512_fmadd_ps(a, p2, c[r][2]);
            c[r][3] = _mm512_fmadd_ps(a, p3, c[r][3]);
        }
    }
    for (int r = 0; r < nr; r++)
        for (int v = 0; v < 4; v++)
            _mm512_mask_storeu_ps(C + r * ldc + 16 * v, m[v], c[r][v]);
}

void ddsp_nn_panel_gemm(float *C, size_t ldc, const float *A, size_t lda, const float *P,
                        size_t rows, size_t K, size_t N, int accumulate) {
    const size_t np = (N + DDSP_NN_PANEL - 1) / DDSP_NN_PANEL, ng = (rows + 3) / 4;
    for (size_t q = 0; q < ng * np; q++) {
        const size_t g = q / np, p = q % np, r0 = 4 * g, j0 = p * DDSP_NN_PANEL;
        const size_t nr = rows - r0 < 4 ? rows - r0 : 4;
        const size_t nc = N - j0 < DDSP_NN_PANEL ? N - j0 : DDSP_NN_PANEL;
        float *c = C + r0 * ldc + j0;
        const float *a = A + r0 * lda, *pp = P + p * K * DDSP_NN_PANEL;
        switch (nr) {
        case 4:
            panel_block(c, ldc, a, lda, pp, K, nc, accumulate, 4);
            break;
        case 3:
            panel_block(c, ldc, a, lda, pp, K, nc, accumulate, 3);
            break;
        case 2:
            panel_block(c, ldc, a, lda, pp, K, nc, accumulate, 2);
            break;
        default:
            panel_block(c, ldc, a, lda, pp, K, nc, accumulate, 1);
            break;
        }
    }
}
#else
void ddsp_nn_panel_gemm(float *C, size_t ldc, const float *A, size_t lda, const float *P,
                        size_t rows, size_t K, size_t N, int accumulate) {
    (void)C, (void)ldc, (void)A, (void)lda, (void)P, (void)rows, (void)K, (void)N, (void)accumulate;
    DDSP_ASSERT(0, "panel kernel not built (no AVX-512)");
}
#endif
