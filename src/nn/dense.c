/* Dense layer (Keras Dense: kernel [in, out]) on OpenBLAS sgemm, input optionally given as
 * column blocks so concatenations (the decoder's [ld | f0 | gru]) need no copy.
 *
 * The bias is written into `out` before a beta = 1 GEMM: OpenBLAS clears C in a separate
 * pass when beta = 0, so this replaces that pass instead of adding one. */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "nn/nn_internal.h"

#include <cblas.h>
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

static void check_blocks(int nblk, const float *const *in, const size_t *Cin) {
    DDSP_ASSERT(nblk >= 1 && nblk <= DDSP_NN_MAX_BLOCKS, "dense: %d input blocks", nblk);
    for (int k = 0; k < nblk; k++)
        DDSP_ASSERT(in[k] && Cin[k] > 0, "dense: input block %d is empty", k);
}

void ddsp_dense_forward_cat(float *out, int nblk, const float *const *in, const size_t *Cin,
                            const float *W, const float *b, size_t M, size_t Cout) {
    check_blocks(nblk, in, Cin);
    if (M == 0) return;
    if (b) {
        for (size_t m = 0; m < M; m++)
            memcpy(out + m * Cout, b, sizeof(float) * Cout);
    }
    size_t off = 0;
    for (int k = 0; k < nblk; k++) {
        const float beta = (b || k > 0) ? 1.0f : 0.0f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)Cout, (int)Cin[k], 1.0f,
                    in[k], (int)Cin[k], W + off * Cout, (int)Cout, beta, out, (int)Cout);
        off += Cin[k];
    }
}

void ddsp_dense_backward_cat(float *const *din, float *dW, float *db, const float *dout, int nblk,
                             const float *const *in, const size_t *Cin, const float *W, size_t M,
                             size_t Cout) {
    check_blocks(nblk, in, Cin);
    if (M == 0) return;
    size_t off = 0;
    for (int k = 0; k < nblk; k++) {
        if (din && din[k])
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)Cin[k], (int)Cout,
                        1.0f, dout, (int)Cout, W + off * Cout, (int)Cout, 0.0f, din[k],
                        (int)Cin[k]);
        if (dW)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Cin[k], (int)Cout, (int)M,
                        1.0f, in[k], (int)Cin[k], dout, (int)Cout, 1.0f, dW + off * Cout,
                        (int)Cout);
        off += Cin[k];
    }
    if (db) ddsp_nn_colsum_acc(db, dout, M, Cout, Cout);
}

void ddsp_dense_forward(float *out, const float *in, const float *W, const float *b, size_t M,
                        size_t Cin, size_t Cout) {
    ddsp_dense_forward_cat(out, 1, &in, &Cin, W, b, M, Cout);
}

void ddsp_dense_backward(float *din, float *dW, float *db, const float *dout, const float *in,
                         const float *W, size_t M, size_t Cin, size_t Cout) {
    float *const dins[1] = {din};
    ddsp_dense_backward_cat(dins, dW, db, dout, 1, &in, &Cin, W, M, Cout);
}
