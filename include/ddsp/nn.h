/* ddsp/nn.h — neural-network layers of the RnnFcDecoder, forward and hand-written backward.
 *
 * Layers: Dense (Keras kernel layout [in, out]), LayerNorm over the last dimension, leaky
 * ReLU, a fused LayerNorm + leaky ReLU, and a GRU in the torch / Keras reset_after=True form.
 * Matrices are row-major float32; M = rows (B*T for per-frame layers), C channels, B batch,
 * T frames, H hidden units.
 *
 * Conventions (STYLE.md):
 *   - forward stores what backward needs in buffers the caller owns (LayerNorm mean/rstd,
 *     the GRU workspace); nothing is allocated inside forward/backward.
 *   - backward OVERWRITES input gradients (din, NULL = not wanted) and ACCUMULATES (+=)
 *     into parameter gradients (dW, db, ...); only the model clears those.
 *   - OpenBLAS (cblas_sgemm/sgemv) does the matrix products; our own loops use OpenMP over
 *     fixed-size blocks and sum in a fixed order, so every result is bitwise identical for a
 *     given OpenBLAS thread count (OpenBLAS itself may round differently with another count).
 *   - Functions never fail at run time; a bad size or NULL is a bug (DDSP_ASSERT).
 */
#ifndef DDSP_NN_H
#define DDSP_NN_H

#include <stddef.h>

/* ---------------------------------------------------------------- Dense
 * out (M, Cout) = in (M, Cin) . W (Cin, Cout) + b (Cout); b may be NULL (no bias). */
void ddsp_dense_forward(float *out, const float *in, const float *W, const float *b, size_t M,
                        size_t Cin, size_t Cout);
/* din (M, Cin) = dout . W^T (overwritten; NULL to skip), dW (Cin, Cout) += in^T . dout,
 * db (Cout) += sum over rows of dout (NULL to skip). */
void ddsp_dense_backward(float *din, float *dW, float *db, const float *dout, const float *in,
                         const float *W, size_t M, size_t Cin, size_t Cout);

/* Concatenated input without a copy: in = [in[0] | in[1] | ... ] (columns), block k is its
 * own contiguous (M, Cin[k]) matrix, nblk in 1..DDSP_NN_MAX_BLOCKS; W (sum Cin[k], Cout)
 * stacks the blocks' rows in the same order. Costs one GEMM per block. */
#define DDSP_NN_MAX_BLOCKS 3
void ddsp_dense_forward_cat(float *out, int nblk, const float *const *in, const size_t *Cin,
                            const float *W, const float *b, size_t M, size_t Cout);
/* din[k] (M, Cin[k]) overwritten (din == NULL or din[k] == NULL: skip), dW, db accumulate. */
void ddsp_dense_backward_cat(float *const *din, float *dW, float *db, const float *dout, int nblk,
                             const float *const *in, const size_t *Cin, const float *W, size_t M,
                             size_t Cout);

/* ---------------------------------------------------------------- LayerNorm, leaky ReLU
 * LayerNorm over the last dim (Keras LayerNormalization / torch nn.LayerNorm, biased
 * variance): out = (in - mean) * rstd * gamma + beta, rstd = 1 / sqrt(var + eps).
 * in, out (M, C) (out may equal in); mean, rstd (M) are written for the backward. */
void ddsp_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *gamma, const float *beta, float eps, size_t M, size_t C);
/* din (M, C) overwritten (may equal dout; NULL to skip); dgamma, dbeta (C) accumulate (NULL
 * to skip). in is the forward input (not overwritten in between), mean/rstd its statistics. */
void ddsp_layernorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *mean, const float *rstd,
                             const float *gamma, size_t M, size_t C);

/* out = x > 0 ? x : slope * x elementwise over n values (out may equal in). */
void ddsp_leaky_relu_forward(float *out, const float *in, float slope, size_t n);
/* din = dout * (x > 0 ? 1 : slope), with x the forward input OR output (same sign for
 * slope > 0); din may equal dout. */
void ddsp_leaky_relu_backward(float *din, const float *dout, const float *x, float slope, size_t n);

/* Fused out = leaky_relu(layernorm(in)) in one pass over each row (the FcStack layer after
 * its Dense). out must NOT alias in: the backward reads both. mean, rstd (M) written. */
void ddsp_layernorm_leaky_forward(float *out, float *mean, float *rstd, const float *in,
                                  const float *gamma, const float *beta, float eps, float slope,
                                  size_t M, size_t C);
/* din (M, C) overwritten (may equal dout); dgamma, dbeta accumulate. out is the forward's
 * output (its sign gives the leaky branch), in its input. */
void ddsp_layernorm_leaky_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                                   const float *out, const float *in, const float *mean,
                                   const float *rstd, const float *gamma, float slope, size_t M,
                                   size_t C);

/* ---------------------------------------------------------------- BLAS
 * The OpenBLAS kernel the GEMMs run on (e.g. "Cooperlake"; static string). */
const char *ddsp_nn_blas_core(void);
/* When OPENBLAS_CORETYPE forces a non-AVX-512 kernel on a CPU with AVX-512 (GEMMs ~2x
 * slower), writes a one-line hint into buf (cap bytes) and returns 1; otherwise 0. */
int ddsp_nn_blas_advice(char *buf, size_t cap);

/* ---------------------------------------------------------------- GRU
 * torch nn.GRU == Keras GRU(reset_after=True), gate order r, z, n in the 3H columns (torch's
 * order; a Keras checkpoint stores z, r, n and needs its column blocks swapped):
 *   r  = sigmoid(x W_r + b_in_r + h U_r + b_rec_r)
 *   z  = sigmoid(x W_z + b_in_z + h U_z + b_rec_z)
 *   n  = tanh(x W_n + b_in_n + r * (h U_n + b_rec_n))
 *   h' = (1 - z) * n + z * h
 * x (B, T, Cin), W (Cin, 3H), U (H, 3H), b_in, b_rec (3H), h0 (B, H) or NULL for zeros;
 * out (B, T, H) holds every h_t, so out[:, T-1] is the final state (to carry to a next chunk,
 * pass it as that chunk's h0).
 *
 * The workspace (caller-owned, ddsp_gru_workspace_size(B, T, H) bytes, e.g. from ddsp_alloc;
 * about 4 B T H + 4 B H + 3 H^2 floats, 36 MB at B = 4, T = 1000, H = 512) keeps the gates from
 * the forward for the backward, which reuses it in place: one backward per forward. It also
 * holds a packed copy of U made by each call. The backward reads out, x and h0, which must be
 * unchanged since the forward.
 *
 * Cost: one GEMM (B T, Cin) x (Cin, 3H) for the input projection, then T dependent
 * (B, H) x (H, 3H) products; backward T products with U^T, then dU, dW, din as B + 4 large
 * GEMMs. Deterministic for a given OpenBLAS thread count. */
size_t ddsp_gru_workspace_size(size_t B, size_t T, size_t H);

void ddsp_gru_forward(float *out, void *ws, const float *x, const float *W, const float *U,
                      const float *b_in, const float *b_rec, const float *h0, size_t B, size_t T,
                      size_t Cin, size_t H);
/* din (B, T, Cin) overwritten (NULL to skip); dW, dU, db_in, db_rec accumulate; dh0 (B, H)
 * = dL/dh0 overwritten (NULL to skip). A gradient arriving at the final state from a later
 * chunk is added by the caller to dout[:, T-1]. */
void ddsp_gru_backward(float *din, float *dW, float *dU, float *db_in, float *db_rec, float *dh0,
                       const float *dout, void *ws, const float *x, const float *W, const float *U,
                       const float *h0, const float *out, size_t B, size_t T, size_t Cin, size_t H);

/* The same with x given as column blocks (see ddsp_dense_forward_cat): block k (B, T, Cin[k]),
 * W rows stacked in block order; din[k] (B, T, Cin[k]) overwritten, NULL entries skipped. */
void ddsp_gru_forward_cat(float *out, void *ws, int nblk, const float *const *x, const size_t *Cin,
                          const float *W, const float *U, const float *b_in, const float *b_rec,
                          const float *h0, size_t B, size_t T, size_t H);
void ddsp_gru_backward_cat(float *const *din, float *dW, float *dU, float *db_in, float *db_rec,
                           float *dh0, const float *dout, void *ws, int nblk, const float *const *x,
                           const size_t *Cin, const float *W, const float *U, const float *h0,
                           const float *out, size_t B, size_t T, size_t H);

/* ---------------------------------------------------------------- plain references
 * Naive loops in double, for tests only (they allocate their scratch; not for training).
 * Same shapes and gradient semantics as above (din overwritten, parameter grads +=). */
void ddsp_dense_forward_ref(double *out, const double *in, const double *W, const double *b,
                            size_t M, size_t Cin, size_t Cout);
void ddsp_dense_backward_ref(double *din, double *dW, double *db, const double *dout,
                             const double *in, const double *W, size_t M, size_t Cin, size_t Cout);
/* LayerNorm followed by leaky ReLU when slope != 1 (slope = 1: plain LayerNorm). */
void ddsp_layernorm_leaky_forward_ref(double *out, const double *in, const double *gamma,
                                      const double *beta, double eps, double slope, size_t M,
                                      size_t C);
void ddsp_layernorm_leaky_backward_ref(double *din, double *dgamma, double *dbeta,
                                       const double *dout, const double *in, const double *gamma,
                                       const double *beta, double eps, double slope, size_t M,
                                       size_t C);
/* GRU step by step; the backward re-runs the forward and accumulates dU per time step. */
void ddsp_gru_forward_ref(double *out, const double *x, const double *W, const double *U,
                          const double *b_in, const double *b_rec, const double *h0, size_t B,
                          size_t T, size_t Cin, size_t H);
void ddsp_gru_backward_ref(double *din, double *dW, double *dU, double *db_in, double *db_rec,
                           double *dh0, const double *dout, const double *x, const double *W,
                           const double *U, const double *b_in, const double *b_rec,
                           const double *h0, size_t B, size_t T, size_t Cin, size_t H);

#endif
