/* LayerNorm over the last dimension (Keras LayerNormalization, torch nn.LayerNorm: biased
 * variance, eps inside the square root), leaky ReLU, and the two fused (the FcStack's
 * LayerNorm -> leaky_relu(0.2), magenta ddsp.training.nn.FcStack).
 *
 * Row statistics are summed in 16 independent lanes (vectorised, fixed order). Parameter
 * gradients are column sums over rows, taken per column block in row order, so results do
 * not depend on the thread count. The backward computes them before din, so din may
 * overwrite dout. The fused layer writes its output as the next product's operand (float
 * or bf16, possibly a column block of the decoder's concatenation). */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "nn/nn_internal.h"

#include <math.h>
#include <string.h>

enum { LANES = 16, CBLOCK = 256 };

static float lanes_total(const float *a) {
    float s = 0.0f;
    for (int k = 0; k < LANES; k++)
        s += a[k];
    return s;
}

/* mean and 1/sqrt(var + eps) of one row, two passes (no cancellation). */
static void row_stats(const float *x, size_t C, float eps, float *mean, float *rstd) {
    float a[LANES] = {0};
    size_t c = 0;
    for (; c + LANES <= C; c += LANES)
        for (int k = 0; k < LANES; k++)
            a[k] += x[c + k];
    for (size_t k = 0; c + k < C; k++)
        a[k] += x[c + k];
    const float mu = lanes_total(a) / (float)C;
    float v[LANES] = {0};
    for (c = 0; c + LANES <= C; c += LANES)
        for (int k = 0; k < LANES; k++) {
            const float d = x[c + k] - mu;
            v[k] += d * d;
        }
    for (size_t k = 0; c + k < C; k++) {
        const float d = x[c + k] - mu;
        v[k] += d * d;
    }
    *mean = mu;
    *rstd = 1.0f / sqrtf(lanes_total(v) / (float)C + eps);
}

/* out row m at out + m * ld_out, of precision p (bf16 rows go through a float block). */
static void ln_forward(void *out, ddsp_precision p, size_t ld_out, float *mean, float *rstd,
                       const float *in, const float *gamma, const float *beta, float eps,
                       float slope, size_t M, size_t C) {
    DDSP_ASSERT(out && mean && rstd && in && gamma && beta && C > 0 && ld_out >= C,
                "layernorm: bad arguments");
#pragma omp parallel for schedule(static) if (M * C >= 65536)
    for (size_t m = 0; m < M; m++) {
        const float *x = in + m * C;
        float mu, rs;
        row_stats(x, C, eps, &mu, &rs);
        mean[m] = mu;
        rstd[m] = rs;
        if (p == DDSP_PREC_FP32) {
            float *y = (float *)out + m * ld_out;
            for (size_t c = 0; c < C; c++) {
                const float v = (x[c] - mu) * rs * gamma[c] + beta[c];
                y[c] = v > 0.0f ? v : slope * v;
            }
            continue;
        }
        ddsp_bf16 *yb = (ddsp_bf16 *)out + m * ld_out;
        float y[CBLOCK];
        for (size_t c0 = 0; c0 < C; c0 += CBLOCK) {
            const size_t nc = C - c0 < CBLOCK ? C - c0 : CBLOCK;
            for (size_t c = 0; c < nc; c++) {
                const float v = (x[c0 + c] - mu) * rs * gamma[c0 + c] + beta[c0 + c];
                y[c] = v > 0.0f ? v : slope * v;
            }
            nn_bf16_row(yb + c0, y, nc);
        }
    }
}

/* Shared backward. The upstream gradient of the normalised value is
 * g = dout * (v > 0 ? 1 : slope), v = xhat * gamma + beta recomputed (plain LayerNorm passes
 * slope 1). din_g (precision p, or NULL) gets a copy of din. */
static void ln_backward(float *din, void *din_g, ddsp_precision p, float *dgamma, float *dbeta,
                        const float *dout, size_t ld_dout, float slope, const float *in, const float *mean,
                        const float *rstd, const float *gamma, const float *beta, size_t M,
                        size_t C) {
    DDSP_ASSERT(dout && in && mean && rstd && gamma && beta && C > 0,
                "layernorm backward: bad arguments");
    DDSP_ASSERT(din || !din_g, "layernorm backward: din_g without din");
    const int par = M * C >= 65536;
    if (dgamma || dbeta) {
        const size_t nblk = (C + CBLOCK - 1) / CBLOCK;
#pragma omp parallel for schedule(static) if (par)
        for (size_t k = 0; k < nblk; k++) {
            const size_t c0 = k * CBLOCK, nc = C - c0 < CBLOCK ? C - c0 : CBLOCK;
            float sg[CBLOCK] = {0}, sb[CBLOCK] = {0};
            for (size_t m = 0; m < M; m++) {
                const float mu = mean[m], rs = rstd[m];
                const float *x = in + m * C + c0, *d = dout + m * ld_dout + c0;
                const float *gm = gamma + c0, *bt = beta + c0;
                for (size_t c = 0; c < nc; c++) {
                    const float xh = (x[c] - mu) * rs;
                    const float g = d[c] * (xh * gm[c] + bt[c] > 0.0f ? 1.0f : slope);
                    sg[c] += g * xh;
                    sb[c] += g;
                }
            }
            for (size_t c = 0; c < nc; c++) {
                if (dgamma) dgamma[c0 + c] += sg[c];
                if (dbeta) dbeta[c0 + c] += sb[c];
            }
        }
    }
    if (!din) return;
    /* din = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)), gh = g * gamma */
    const float invC = 1.0f / (float)C;
#pragma omp parallel for schedule(static) if (par)
    for (size_t m = 0; m < M; m++) {
        const float mu = mean[m], rs = rstd[m];
        const float *x = in + m * C, *d = dout + m * ld_dout;
        float *dx = din + m * C;
        float a1[LANES] = {0}, a2[LANES] = {0};
        size_t c = 0;
        for (; c + LANES <= C; c += LANES)
            for (int k = 0; k < LANES; k++) {
                const float xh = (x[c + k] - mu) * rs;
                const float gl = xh * gamma[c + k] + beta[c + k] > 0.0f ? 1.0f : slope;
                const float gh = d[c + k] * gl * gamma[c + k];
                a1[k] += gh;
                a2[k] += gh * xh;
            }
        for (size_t k = 0; c + k < C; k++) {
            const float xh = (x[c + k] - mu) * rs;
            const float gl = xh * gamma[c + k] + beta[c + k] > 0.0f ? 1.0f : slope;
            const float gh = d[c + k] * gl * gamma[c + k];
            a1[k] += gh;
            a2[k] += gh * xh;
        }
        const float m1 = lanes_total(a1) * invC, m2 = lanes_total(a2) * invC;
        for (c = 0; c < C; c++) {
            const float xh = (x[c] - mu) * rs;
            const float gl = xh * gamma[c] + beta[c] > 0.0f ? 1.0f : slope;
            const float gh = d[c] * gl * gamma[c];
            dx[c] = rs * (gh - m1 - xh * m2);
        }
        if (din_g && p == DDSP_PREC_BF16) nn_bf16_row((ddsp_bf16 *)din_g + m * C, dx, C);
        else if (din_g && din_g != din) memcpy((float *)din_g + m * C, dx, sizeof(float) * C);
    }
}

void ddsp_layernorm_forward(float *out, float *mean, float *rstd, const float *in,
                            const float *gamma, const float *beta, float eps, size_t M, size_t C) {
    ln_forward(out, DDSP_PREC_FP32, C, mean, rstd, in, gamma, beta, eps, 1.0f, M, C);
}

void ddsp_layernorm_backward(float *din, float *dgamma, float *dbeta, const float *dout,
                             const float *in, const float *mean, const float *rstd,
                             const float *gamma, size_t M, size_t C) {
    /* slope 1: the sign test is moot, beta is read only for it */
    ln_backward(din, NULL, DDSP_PREC_FP32, dgamma, dbeta, dout, C, 1.0f, in, mean, rstd, gamma,
                gamma, M, C);
}

void ddsp_layernorm_leaky_forward(void *out, ddsp_precision out_prec, size_t ld_out, float *mean,
                                  float *rstd, const float *in, const float *gamma,
                                  const float *beta, float eps, float slope, size_t M, size_t C) {
    DDSP_ASSERT((const void *)out != (const void *)in, "layernorm_leaky: out must not alias in");
    DDSP_ASSERT(slope > 0.0f, "layernorm_leaky: slope %g must be > 0", (double)slope);
    ln_forward(out, out_prec, ld_out, mean, rstd, in, gamma, beta, eps, slope, M, C);
}

void ddsp_layernorm_leaky_backward(float *din, void *din_g, ddsp_precision din_prec,
                                   float *dgamma, float *dbeta, const float *dout,
                                   size_t ld_dout, const float *in, const float *mean, const float *rstd,
                                   const float *gamma, const float *beta, float slope, size_t M,
                                   size_t C) {
    DDSP_ASSERT(slope > 0.0f, "layernorm_leaky: slope %g must be > 0", (double)slope);
    DDSP_ASSERT(ld_dout >= C, "layernorm_leaky: ld_dout %zu < C %zu", ld_dout, C);
    DDSP_ASSERT(din != dout || ld_dout == C, "layernorm_leaky: in place needs ld_dout = C");
    ln_backward(din, din_g, din_prec, dgamma, dbeta, dout, ld_dout, slope, in, mean, rstd, gamma,
                beta, M, C);
}

void ddsp_leaky_relu_forward(float *out, const float *in, float slope, size_t n) {
#pragma omp parallel for schedule(static) if (n >= 262144)
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] > 0.0f ? in[i] : slope * in[i];
}

void ddsp_leaky_relu_backward(float *din, const float *dout, const float *x, float slope,
                              size_t n) {
    DDSP_ASSERT(slope > 0.0f, "leaky_relu: slope %g must be > 0", (double)slope);
#pragma omp parallel for schedule(static) if (n >= 262144)
    for (size_t i = 0; i < n; i++)
        din[i] = dout[i] * (x[i] > 0.0f ? 1.0f : slope);
}
