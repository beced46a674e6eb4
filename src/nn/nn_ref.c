/* Plain reference layers in double: textbook loops, no BLAS, no threads. Tests check the
 * optimised float layers and finite differences against these; training never calls them.
 * The GRU backward is the per-time-step BPTT of torch's autograd (dU accumulated at every
 * step), an independent route to the same gradients as the optimised version. */
#include "ddsp/nn.h"
#include "ddsp/util.h"

#include <math.h>
#include <string.h>

void ddsp_dense_forward_ref(double *out, const double *in, const double *W, const double *b,
                            size_t M, size_t Cin, size_t Cout) {
    for (size_t m = 0; m < M; m++) {
        double *o = out + m * Cout;
        for (size_t j = 0; j < Cout; j++)
            o[j] = b ? b[j] : 0.0;
        for (size_t i = 0; i < Cin; i++) {
            const double v = in[m * Cin + i];
            for (size_t j = 0; j < Cout; j++)
                o[j] += v * W[i * Cout + j];
        }
    }
}

void ddsp_dense_backward_ref(double *din, double *dW, double *db, const double *dout,
                             const double *in, const double *W, size_t M, size_t Cin, size_t Cout) {
    for (size_t m = 0; m < M; m++) {
        const double *d = dout + m * Cout;
        for (size_t i = 0; i < Cin; i++) {
            double s = 0.0;
            for (size_t j = 0; j < Cout; j++) {
                s += d[j] * W[i * Cout + j];
                if (dW) dW[i * Cout + j] += in[m * Cin + i] * d[j];
            }
            if (din) din[m * Cin + i] = s;
        }
        if (db)
            for (size_t j = 0; j < Cout; j++)
                db[j] += d[j];
    }
}

static void ln_row_ref(const double *x, size_t C, double eps, double *mu, double *rs) {
    double s = 0.0, v = 0.0;
    for (size_t c = 0; c < C; c++)
        s += x[c];
    *mu = s / (double)C;
    for (size_t c = 0; c < C; c++)
        v += (x[c] - *mu) * (x[c] - *mu);
    *rs = 1.0 / sqrt(v / (double)C + eps);
}

void ddsp_layernorm_leaky_forward_ref(double *out, const double *in, const double *gamma,
                                      const double *beta, double eps, double slope, size_t M,
                                      size_t C) {
    for (size_t m = 0; m < M; m++) {
        double mu, rs;
        ln_row_ref(in + m * C, C, eps, &mu, &rs);
        for (size_t c = 0; c < C; c++) {
            const double y = (in[m * C + c] - mu) * rs * gamma[c] + beta[c];
            out[m * C + c] = y > 0.0 ? y : slope * y;
        }
    }
}

/* Backward through y = LN(x) by the full Jacobian dy_c/dx_k =
 * gamma_c rstd (delta_ck - 1/C - xhat_c xhat_k / C), one row at a time. */
void ddsp_layernorm_leaky_backward_ref(double *din, double *dgamma, double *dbeta,
                                       const double *dout, const double *in, const double *gamma,
                                       const double *beta, double eps, double slope, size_t M,
                                       size_t C) {
    for (size_t m = 0; m < M; m++) {
        const double *x = in + m * C;
        double mu, rs;
        ln_row_ref(x, C, eps, &mu, &rs);
        for (size_t k = 0; k < C; k++) {
            double s = 0.0;
            for (size_t c = 0; c < C; c++) {
                const double xc = (x[c] - mu) * rs, xk = (x[k] - mu) * rs;
                const double y = xc * gamma[c] + beta[c];
                const double g = dout[m * C + c] * (y > 0.0 ? 1.0 : slope);
                const double jac =
                    gamma[c] * rs * ((c == k) - 1.0 / (double)C - xc * xk / (double)C);
                s += g * jac;
            }
            if (din) din[m * C + k] = s;
        }
        for (size_t c = 0; c < C; c++) {
            const double xc = (x[c] - mu) * rs;
            const double y = xc * gamma[c] + beta[c];
            const double g = dout[m * C + c] * (y > 0.0 ? 1.0 : slope);
            if (dgamma) dgamma[c] += g * xc;
            if (dbeta) dbeta[c] += g;
        }
    }
}

static double sigmoid(double v) {
    return 1.0 / (1.0 + exp(-v));
}

/* One GRU cell for one sequence; optionally records r, z, n and hU_n + b_rec_n.
 * gi, gh: scratch (3H). */
static void cell_ref(double *hn, double *r_, double *z_, double *n_, double *ghn_, double *gi,
                     double *gh, const double *x, const double *hp, const double *W,
                     const double *U, const double *b_in, const double *b_rec, size_t Cin,
                     size_t H) {
    const size_t H3 = 3 * H;
    for (size_t c = 0; c < H3; c++)
        gi[c] = b_in[c], gh[c] = b_rec[c];
    for (size_t i = 0; i < Cin; i++)
        for (size_t c = 0; c < H3; c++)
            gi[c] += x[i] * W[i * H3 + c];
    for (size_t i = 0; i < H; i++)
        for (size_t c = 0; c < H3; c++)
            gh[c] += hp[i] * U[i * H3 + c];
    for (size_t j = 0; j < H; j++) {
        const double r = sigmoid(gi[j] + gh[j]);
        const double z = sigmoid(gi[H + j] + gh[H + j]);
        const double n = tanh(gi[2 * H + j] + r * gh[2 * H + j]);
        hn[j] = (1.0 - z) * n + z * hp[j];
        if (r_) r_[j] = r, z_[j] = z, n_[j] = n, ghn_[j] = gh[2 * H + j];
    }
}

void ddsp_gru_forward_ref(double *out, const double *x, const double *W, const double *U,
                          const double *b_in, const double *b_rec, const double *h0, size_t B,
                          size_t T, size_t Cin, size_t H) {
    double *zero = ddsp_alloc(sizeof(double) * 7 * H), *gi = zero + H, *gh = gi + 3 * H;
    DDSP_ASSERT(zero, "out of memory");
    for (size_t b = 0; b < B; b++)
        for (size_t t = 0; t < T; t++) {
            const double *hp = t ? out + (b * T + t - 1) * H : h0 ? h0 + b * H : zero;
            cell_ref(out + (b * T + t) * H, NULL, NULL, NULL, NULL, gi, gh, x + (b * T + t) * Cin,
                     hp, W, U, b_in, b_rec, Cin, H);
        }
    ddsp_free(zero);
}

void ddsp_gru_backward_ref(double *din, double *dW, double *dU, double *db_in, double *db_rec,
                           double *dh0, const double *dout, const double *x, const double *W,
                           const double *U, const double *b_in, const double *b_rec,
                           const double *h0, size_t B, size_t T, size_t Cin, size_t H) {
    const size_t H3 = 3 * H;
    double *hs = ddsp_alloc(sizeof(double) * (T + 1) * H); /* h_{-1} .. h_{T-1} */
    double *gate = ddsp_alloc(sizeof(double) * T * 4 * H); /* r, z, n, ghn per step */
    double *dh = ddsp_alloc(sizeof(double) * H);
    double *dgi = ddsp_alloc(sizeof(double) * H3), *dgh = ddsp_alloc(sizeof(double) * H3);
    DDSP_ASSERT(hs && gate && dh && dgi && dgh, "out of memory");
    for (size_t b = 0; b < B; b++) {
        const double *xb = x + b * T * Cin;
        if (h0)
            memcpy(hs, h0 + b * H, sizeof(double) * H);
        else
            memset(hs, 0, sizeof(double) * H);
        for (size_t t = 0; t < T; t++) {
            double *g = gate + t * 4 * H;
            cell_ref(hs + (t + 1) * H, g, g + H, g + 2 * H, g + 3 * H, dgi, dgh, xb + t * Cin,
                     hs + t * H, W, U, b_in, b_rec, Cin, H);
        }
        memset(dh, 0, sizeof(double) * H);
        for (size_t t = T; t-- > 0;) {
            const double *g = gate + t * 4 * H, *hp = hs + t * H;
            for (size_t j = 0; j < H; j++)
                dh[j] += dout[(b * T + t) * H + j];
            for (size_t j = 0; j < H; j++) {
                const double r = g[j], z = g[H + j], n = g[2 * H + j], ghn = g[3 * H + j];
                const double dn = dh[j] * (1.0 - z) * (1.0 - n * n);
                const double dz = dh[j] * (hp[j] - n) * z * (1.0 - z);
                const double dr = dn * ghn * r * (1.0 - r);
                dgi[j] = dr, dgi[H + j] = dz, dgi[2 * H + j] = dn;
                dgh[j] = dr, dgh[H + j] = dz, dgh[2 * H + j] = dn * r;
                dh[j] *= z;
            }
            for (size_t c = 0; c < H3; c++) {
                if (db_in) db_in[c] += dgi[c];
                if (db_rec) db_rec[c] += dgh[c];
            }
            for (size_t i = 0; i < Cin; i++) {
                double s = 0.0;
                for (size_t c = 0; c < H3; c++) {
                    s += dgi[c] * W[i * H3 + c];
                    if (dW) dW[i * H3 + c] += xb[t * Cin + i] * dgi[c];
                }
                if (din) din[(b * T + t) * Cin + i] = s;
            }
            for (size_t i = 0; i < H; i++) {
                double s = 0.0;
                for (size_t c = 0; c < H3; c++) {
                    s += dgh[c] * U[i * H3 + c];
                    if (dU) dU[i * H3 + c] += hp[i] * dgh[c];
                }
                dh[i] += s;
            }
        }
        if (dh0) memcpy(dh0 + b * H, dh, sizeof(double) * H);
    }
    ddsp_free(hs), ddsp_free(gate), ddsp_free(dh), ddsp_free(dgi), ddsp_free(dgh);
}
