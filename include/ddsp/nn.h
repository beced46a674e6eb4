/* ddsp/nn.h — neural-network layers of the RnnFcDecoder, forward and hand-written backward.
 *
 * Layers: Dense (Keras kernel layout [in, out]), a fused LayerNorm + leaky ReLU (the
 * FcStack layer after its Dense), plain LayerNorm and leaky ReLU, and a GRU in the torch /
 * Keras reset_after=True form. Matrices are row-major; M = rows (B*T for per-frame layers),
 * C channels, B batch, T frames, H hidden units. A matrix argument with a row stride `ld`
 * may be a column block of a wider matrix (the decoder's concatenations need no copy).
 *
 * Precision: every matrix product runs on oneDNN (src/nn/gemm.c) through a ddsp_nn context
 * made for one precision:
 *   - DDSP_PREC_FP32: operands and results float.
 *   - DDSP_PREC_BF16: operands bfloat16 (ddsp_bf16), accumulation and results float.
 * Arguments typed `const void *` and named "(nn type)" below are float or ddsp_bf16 as the
 * context says; everything else (outputs of products, biases, LayerNorm, gate maths,
 * gradients of parameters) is float in both.
 *
 * Conventions (STYLE.md):
 *   - forward stores what backward needs in buffers the caller owns (LayerNorm mean/rstd,
 *     the GRU's gates); nothing is allocated inside forward/backward (oneDNN primitives are
 *     made on the first call with a new shape and kept in the context).
 *   - backward OVERWRITES input gradients (din, NULL = not wanted) unless said otherwise,
 *     and ACCUMULATES (+=) into parameter gradients (dW, db, ...); only the model clears them.
 *   - results are bitwise identical run to run for a given thread count (oneDNN's products
 *     are deterministic; our loops sum in a fixed order).
 *   - Functions never fail at run time; a bad size or NULL is a bug (DDSP_ASSERT).
 */
#ifndef DDSP_NN_H
#define DDSP_NN_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- precision, CPU, threads */
typedef enum { DDSP_PREC_FP32 = 0, DDSP_PREC_BF16 = 1 } ddsp_precision;
typedef uint16_t ddsp_bf16; /* bfloat16: the upper half of a float's bits */

/* "fp32" / "bf16" (static strings); parse returns DDSP_OK or DDSP_ERR with a message. */
const char *ddsp_precision_name(ddsp_precision p);
int ddsp_precision_parse(const char *s, ddsp_precision *p);
/* Bytes per operand element: 4 or 2. */
size_t ddsp_precision_size(ddsp_precision p);

/* dst[i] = src[i] rounded to nearest even (denormals to signed zero, as the AVX512_BF16
 * instruction). Threads for large n; bitwise the same for any thread count. */
void ddsp_bf16_from_f32(ddsp_bf16 *dst, const float *src, size_t n);
void ddsp_f32_from_bf16(float *dst, const ddsp_bf16 *src, size_t n);
/* n floats into an operand buffer of precision p (a copy for fp32, dst == src allowed; bf16
 * dst must not overlap src). */
void ddsp_nn_convert(void *dst, ddsp_precision p, const float *src, size_t n);

/* 1 when the CPU multiplies bf16 natively (AVX512_BF16 or AMX-BF16, per cpuid, enabled by
 * the OS) and oneDNN may use it (ONEDNN_MAX_CPU_ISA does not cap it), else 0. */
int ddsp_nn_cpu_bf16(void);
/* The precision to train in when the user does not say: bf16 with native bf16, else fp32. */
ddsp_precision ddsp_nn_precision_default(void);
/* The precision to run for a request: `want`, except bf16 on a CPU without native bf16,
 * which runs fp32 (oneDNN would emulate bf16 ~2.6x slower than its fp32) and writes a
 * one-line explanation into msg (cap bytes; "" when nothing to say; msg may be NULL). */
ddsp_precision ddsp_nn_precision_resolve(ddsp_precision want, char *msg, size_t cap);

/* THE place that sets the thread count, for OpenMP (our loops), oneDNN (it threads with
 * the same OpenMP runtime) and OpenBLAS; every command that computes calls it once at
 * start-up, before making models, contexts or FFT plans. n <= 0: OMP_NUM_THREADS, else the
 * CPUs this process may use. Returns the count set. oneDNN fixes a product's work split
 * when its primitive is made, so contexts made before a later change keep the old count. */
int ddsp_nn_threads_init(int n);
/* The count set by ddsp_nn_threads_init (omp_get_max_threads() if it was not called). */
int ddsp_nn_threads(void);

/* ---------------------------------------------------------------- context
 * The products of one network in one precision: oneDNN engine, one stream and scratchpad
 * per thread, and a primitive per product shape, made on first use and kept. Make it after
 * ddsp_nn_threads_init; one context per network instance (it is not thread-safe: layers
 * are called from one thread, they thread inside). NULL + ddsp_error on failure;
 * _free(NULL) is a no-op. */
typedef struct ddsp_nn ddsp_nn;
ddsp_nn *ddsp_nn_init(ddsp_precision p);
void ddsp_nn_free(ddsp_nn *nn);
ddsp_precision ddsp_nn_precision(const ddsp_nn *nn);

/* ---------------------------------------------------------------- Dense
 * out (M, Cout) float = in (M, Cin, row stride ld_in; nn type) . W (Cin, Cout; nn type)
 *                       + b (Cout; NULL: no bias). */
void ddsp_dense_forward(ddsp_nn *nn, float *out, const void *in, size_t ld_in, const void *W,
                        const float *b, size_t M, size_t Cin, size_t Cout);
/* din (M, Cin, row stride ld_din) float = dout . W^T (overwritten; NULL to skip),
 * dW (Cin, Cout) += in^T . dout, db (Cout) += sum over rows of dout (NULL to skip).
 * dout (M, Cout) float feeds db; dout_g is the same values as the products' operand (nn
 * type; for fp32 it may be dout itself). */
void ddsp_dense_backward(ddsp_nn *nn, float *din, size_t ld_din, float *dW, float *db,
                         const float *dout, const void *dout_g, const void *in, size_t ld_in,
                         const void *W, size_t M, size_t Cin, size_t Cout);

/* ---------------------------------------------------------------- LayerNorm, leaky ReLU
 * LayerNorm over the last dim (Keras LayerNormalization / torch nn.LayerNorm, biased
 * variance): out = (in - mean) * rstd * gamma + beta, rstd = 1 / sqrt(var + eps).
 * in, out (M, C) float (out may equal in); mean, rstd (M) are written for the backward. */
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
 * its Dense): in (M, C) float; out (M, C, row stride ld_out) of precision out_prec (the
 * next product's operand), must not overlap in. mean, rstd (M) written. */
void ddsp_layernorm_leaky_forward(void *out, ddsp_precision out_prec, size_t ld_out, float *mean,
                                  float *rstd, const float *in, const float *gamma,
                                  const float *beta, float eps, float slope, size_t M, size_t C);
/* din (M, C) float overwritten (may equal dout, then ld_dout = C); dout (M, C; row stride
 * ld_dout); din_g (M, C) of precision din_prec gets the same values as the next product's
 * operand (NULL to skip); dgamma, dbeta accumulate.
 * in, mean, rstd as left by the forward (the leaky branch is taken from the recomputed
 * normalised value, so the forward's output is not needed). */
void ddsp_layernorm_leaky_backward(float *din, void *din_g, ddsp_precision din_prec,
                                   float *dgamma, float *dbeta, const float *dout,
                                   size_t ld_dout, const float *in, const float *mean, const float *rstd,
                                   const float *gamma, const float *beta, float slope, size_t M,
                                   size_t C);

/* ---------------------------------------------------------------- BLAS
 * The OpenBLAS kernel this process runs (e.g. "Cooperlake"; static string). The decoder
 * does not use OpenBLAS any more (see Precision above); other modules' double-precision
 * linear algebra does. */
const char *ddsp_nn_blas_core(void);

/* ---------------------------------------------------------------- GRU
 * torch nn.GRU == Keras GRU(reset_after=True), gate order r, z, n in the 3H columns (torch's
 * order; a Keras checkpoint stores z, r, n and needs its column blocks swapped):
 *   r  = sigmoid(x W_r + b_in_r + h U_r + b_rec_r)
 *   z  = sigmoid(x W_z + b_in_z + h U_z + b_rec_z)
 *   n  = tanh(x W_n + b_in_n + r * (h U_n + b_rec_n))
 *   h' = (1 - z) * n + z * h
 * x (B, T, Cin; row stride ldx; nn type), W (Cin, 3H; nn type), U (H, 3H; nn type),
 * b_in, b_rec (3H) float, h0 (B, H) float or NULL for zeros. out (B, T, H) float holds every
 * h_t (out[:, T-1] is the final state: pass it as the next chunk's h0); out_g (B, T, H; row
 * stride ld_g; nn type) the same values as operands (the next layer's input; it must not
 * overlap out). The gate maths and the carried state are float in both precisions.
 *
 * The recurrence splits the batch over threads: thread i runs sequences [B i / n,
 * B (i + 1) / n) through all T steps on its own, so threads meet twice per pass, not at
 * every step. Products: one (B T, Cin) x (Cin, 3H) for the input projection, then per step
 * (rows, H) x (H, 3H) against U reordered once per call into oneDNN's blocked layout;
 * backward per step (rows, 3H) x (3H, H) with U^T, then dU, dW, din as a few large products.
 *
 * The object owns the gates the forward keeps for the backward (4 B T H floats; in bf16 also
 * the backward's gradients as operands, 4 B T H bf16), U reordered by the forward, U^T by
 * the backward, and per-thread state: ~40 MB at B = 4, T = 1000, H = 512. One backward
 * per forward; the backward reads x, out, out_g and h0, which must be unchanged since. */
typedef struct ddsp_gru ddsp_gru;
/* For batches up to max_B of T steps; nn is borrowed (it must outlive g). NULL + ddsp_error
 * on failure. _free(NULL) is a no-op. */
ddsp_gru *ddsp_gru_init(ddsp_nn *nn, size_t max_B, size_t T, size_t Cin, size_t H);
void ddsp_gru_free(ddsp_gru *g);

void ddsp_gru_forward(ddsp_gru *g, float *out, void *out_g, size_t ld_g, const void *x,
                      size_t ldx, const void *W, const void *U, const float *b_in,
                      const float *b_rec, const float *h0, size_t B);
/* din (B, T, Cin; row stride ld_din) float: = dL/dx (din_acc = 0) or += dL/dx (din_acc = 1),
 * NULL to skip; dW, dU, db_in, db_rec accumulate (NULL to skip); dh0 (B, H) = dL/dh0
 * overwritten (NULL to skip). dout (B, T, H; row stride ld_dout) float. A gradient arriving
 * at the final state from a later chunk is added by the caller to dout[:, T-1]. */
void ddsp_gru_backward(ddsp_gru *g, float *din, size_t ld_din, int din_acc, float *dW, float *dU,
                       float *db_in, float *db_rec, float *dh0, const float *dout,
                       size_t ld_dout, const void *x, size_t ldx, const void *W, const void *U,
                       const float *h0, const float *out, const void *out_g, size_t ld_g,
                       size_t B);

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
