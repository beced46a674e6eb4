/* Dense layer (Keras Dense: kernel [in, out]) on the context's oneDNN products; the bias is
 * fused into the forward product, the backward's two products are dX = dY W^T and
 * dW += X^T dY (see ddsp/nn.h). */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "nn/nn_internal.h"

#include <string.h>

enum { COLSUM_BLOCK = 256 };

void ddsp_nn_colsum_acc(float *acc, const float *a, size_t rows, size_t ncols, size_t lda) {
    const size_t nblk = (ncols + COLSUM_BLOCK - 1) / COLSUM_BLOCK;
#pragma omp parallel for schedule(static) if (rows * ncols >= 65536)
    for (size_t k = 0; k < nblk; k++) {
        const size_t c0 = k * COLSUM_BLOCK;
        const size_t nc = ncols - c0 < COLSUM_BLOCK ? ncols - c0 : COLSUM_BLOCK;
        float s[COLSUM_BLOCK] = {0};
        for (size_t r = 0; r < rows; r++) {
            const float *row = a + r * lda + c0;
            for (size_t c = 0; c < nc; c++)
                s[c] += row[c];
        }
        for (size_t c = 0; c < nc; c++)
            acc[c0 + c] += s[c];
    }
}

void ddsp_dense_forward(ddsp_nn *nn, float *out, const void *in, size_t ld_in, const void *W,
                        const float *b, size_t M, size_t Cin, size_t Cout) {
    DDSP_ASSERT(nn && out && in && W && Cin > 0 && Cout > 0 && ld_in >= Cin,
                "dense forward: bad arguments");
    if (M == 0) return;
    const nn_gemm_shape s = {.M = M, .N = Cout, .K = Cin, .lda = ld_in, .ldb = Cout,
                             .ldc = Cout, .bias = b != NULL};
    nn_mm(nn, &s, out, in, W, b);
}

void ddsp_dense_backward(ddsp_nn *nn, float *din, size_t ld_din, float *dW, float *db,
                         const float *dout, const void *dout_g, const void *in, size_t ld_in,
                         const void *W, size_t M, size_t Cin, size_t Cout) {
    DDSP_ASSERT(nn && dout && dout_g && in && W && Cin > 0 && Cout > 0 && ld_in >= Cin,
                "dense backward: bad arguments");
    if (M == 0) return;
    if (din) { /* din (M, Cin) = dout (M, Cout) . W^T, W stored (Cin, Cout) */
        DDSP_ASSERT(ld_din >= Cin, "dense backward: ld_din %zu < %zu", ld_din, Cin);
        const nn_gemm_shape s = {.M = M, .N = Cin, .K = Cout, .lda = Cout, .ldb = Cout,
                                 .tb = 1, .ldc = ld_din};
        nn_mm(nn, &s, din, dout_g, W, NULL);
    }
    if (dW) { /* dW (Cin, Cout) += in^T . dout, in stored (M, Cin) */
        const nn_gemm_shape s = {.M = Cin, .N = Cout, .K = M, .lda = ld_in, .ta = 1,
                                 .ldb = Cout, .ldc = Cout, .acc = 1};
        nn_mm(nn, &s, dW, in, dout_g, NULL);
    }
    if (db) ddsp_nn_colsum_acc(db, dout, M, Cout, Cout);
}
