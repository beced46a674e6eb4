/* GRU, torch nn.GRU / Keras reset_after=True form, gate columns r | z | n (see ddsp/nn.h).
 *
 * Forward: the input projection of all B*T frames is one GEMM (per input block); then per
 * step one (B, H) x (H, 3H) product and a vectorised gate loop. With AVX-512 that product is
 * our panel kernel (nn/panel.c) on a copy of U packed once per call: OpenBLAS runs these
 * few-row products at well under its GEMM rate (sgemm with M = 1 is ~4x slower than sgemv,
 * the peer's RESULTS.md; M = 4 ~2.3x slower than the panel kernel). Without AVX-512:
 * sgemv at B = 1, sgemm otherwise.
 * Backward (BPTT): per step the gate pre-activation gradients are stored and dh is carried
 * back with one product with U^T; dU, dW, din and the biases are then a few big GEMMs and
 * column sums over all B*T rows, as the peer's fused GRU (ddsp_ref.py GRURecurrence) rather
 * than torch's per-step dU accumulation.
 *
 * Workspace, float offsets (each region rounded up to 16 floats):
 *   S  (B, T, 4H)  per frame: forward gi = xW at [0, 3H) -> [r | z | ghn | n], where
 *                  ghn = h U_n + b_rec_n; the backward overwrites it in place with
 *                  [dr | dz | dn*r | dn] = [dGh (3H) | dn], dGi = [dr | dz | dn].
 *   G  (B, 3H)     h U of the current step (forward)
 *   Z  (B, H)      zero initial state when h0 is NULL (forward), running dh (backward)
 *   P  packed U (H, 3H) for h U (forward), then packed U^T (3H, H) for dGh U^T (backward) */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "nn/nn_internal.h"

#include <cblas.h>
#include <string.h>

static size_t round16(size_t n) {
    return (n + 15) & ~(size_t)15;
}

static size_t pack_floats(size_t H) {
    const size_t a = ddsp_nn_pack_floats(H, 3 * H), b = ddsp_nn_pack_floats(3 * H, H);
    return round16(a > b ? a : b);
}

size_t ddsp_gru_workspace_size(size_t B, size_t T, size_t H) {
    return sizeof(float) *
           (round16(B * T * 4 * H) + round16(B * 3 * H) + round16(B * H) + pack_floats(H));
}

typedef struct {
    float *S, *G, *Z, *P;
} gru_ws;

static gru_ws ws_split(void *ws, size_t B, size_t T, size_t H) {
    DDSP_ASSERT(ws != NULL, "gru: workspace is NULL");
    gru_ws w;
    w.S = ws;
    w.G = w.S + round16(B * T * 4 * H);
    w.Z = w.G + round16(B * 3 * H);
    w.P = w.Z + round16(B * H);
    return w;
}

/* One forward step for one sequence: S row s holds gi (bias-free) on entry, gh = h U. */
static void step_forward(float *restrict hn, float *s, const float *restrict gh,
                         const float *restrict hp, const float *restrict b_in,
                         const float *restrict b_rec, size_t H) {
    const size_t H2 = 2 * H;
#pragma omp simd
    for (size_t j = 0; j < H; j++) {
        const float r = nn_sigmoidf(s[j] + b_in[j] + gh[j] + b_rec[j]);
        const float z = nn_sigmoidf(s[H + j] + b_in[H + j] + gh[H + j] + b_rec[H + j]);
        const float ghn = gh[H2 + j] + b_rec[H2 + j];
        const float n = nn_tanhf(s[H2 + j] + b_in[H2 + j] + r * ghn);
        s[j] = r;
        s[H + j] = z;
        s[H2 + j] = ghn;
        s[H2 + H + j] = n;
        hn[j] = n + z * (hp[j] - n); /* (1 - z) n + z h */
    }
}

/* One backward step for one sequence: dh (H) = dL/dh_t from later steps on entry, leaves
 * dh * z (the direct path to h_{t-1}); S row becomes [dr | dz | dn*r | dn]. */
static void step_backward(float *restrict dh, float *s, const float *restrict dout,
                          const float *restrict hp, size_t H) {
    const size_t H2 = 2 * H;
#pragma omp simd
    for (size_t j = 0; j < H; j++) {
        const float r = s[j], z = s[H + j], ghn = s[H2 + j], n = s[H2 + H + j];
        const float d = dh[j] + dout[j];
        const float dn = d * (1.0f - z) * (1.0f - n * n);
        const float dz = d * (hp[j] - n) * z * (1.0f - z);
        const float dr = dn * ghn * r * (1.0f - r);
        s[j] = dr;
        s[H + j] = dz;
        s[H2 + j] = dn * r;
        s[H2 + H + j] = dn;
        dh[j] = d * z;
    }
}

void ddsp_gru_forward_cat(float *out, void *ws, int nblk, const float *const *x, const size_t *Cin,
                          const float *W, const float *U, const float *b_in, const float *b_rec,
                          const float *h0, size_t B, size_t T, size_t H) {
    DDSP_ASSERT(nblk >= 1 && nblk <= DDSP_NN_MAX_BLOCKS, "gru: %d input blocks", nblk);
    DDSP_ASSERT(out && W && U && b_in && b_rec && H > 0, "gru forward: bad arguments");
    if (B == 0 || T == 0) return;
    gru_ws w = ws_split(ws, B, T, H);
    const size_t H3 = 3 * H, H4 = 4 * H, BT = B * T;
    /* gi = x W for all frames into S[:, 0:3H] */
    size_t off = 0;
    for (int k = 0; k < nblk; k++) {
        DDSP_ASSERT(x[k] && Cin[k] > 0, "gru: input block %d is empty", k);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)BT, (int)H3, (int)Cin[k], 1.0f,
                    x[k], (int)Cin[k], W + off * H3, (int)H3, k ? 1.0f : 0.0f, w.S, (int)H4);
        off += Cin[k];
    }
    if (DDSP_NN_PANEL_KERNEL) ddsp_nn_pack(w.P, U, H, H3, 0);
    if (!h0) memset(w.Z, 0, sizeof(float) * B * H);
    const float *hinit = h0 ? h0 : w.Z;
    for (size_t t = 0; t < T; t++) {
        /* previous state of sequence b: hprev + b * ldh */
        const float *hprev = t ? out + (t - 1) * H : hinit;
        const size_t ldh = t ? T * H : H;
        if (t == 0 && !h0) {
            memset(w.G, 0, sizeof(float) * B * H3);
        } else if (DDSP_NN_PANEL_KERNEL) {
            ddsp_nn_panel_gemm(w.G, H3, hprev, ldh, w.P, B, H, H3, 0);
        } else if (B == 1) {
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)H, (int)H3, 1.0f, U, (int)H3, hprev, 1,
                        0.0f, w.G, 1);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)H3, (int)H, 1.0f,
                        hprev, (int)ldh, U, (int)H3, 0.0f, w.G, (int)H3);
        }
        for (size_t b = 0; b < B; b++)
            step_forward(out + (b * T + t) * H, w.S + (b * T + t) * H4, w.G + b * H3,
                         hprev + b * ldh, b_in, b_rec, H);
    }
}

void ddsp_gru_backward_cat(float *const *din, float *dW, float *dU, float *db_in, float *db_rec,
                           float *dh0, const float *dout, void *ws, int nblk, const float *const *x,
                           const size_t *Cin, const float *W, const float *U, const float *h0,
                           const float *out, size_t B, size_t T, size_t H) {
    DDSP_ASSERT(nblk >= 1 && nblk <= DDSP_NN_MAX_BLOCKS, "gru: %d input blocks", nblk);
    DDSP_ASSERT(dout && out && W && U && H > 0, "gru backward: bad arguments");
    if (B == 0 || T == 0) return;
    gru_ws w = ws_split(ws, B, T, H);
    const size_t H2 = 2 * H, H3 = 3 * H, H4 = 4 * H, BT = B * T;
    float *dh = w.Z; /* (B, H) */
    memset(dh, 0, sizeof(float) * B * H);
    if (DDSP_NN_PANEL_KERNEL && (T > 1 || dh0)) ddsp_nn_pack(w.P, U, H3, H, 1);
    for (size_t t = T; t-- > 0;) {
        for (size_t b = 0; b < B; b++) {
            const float *hp = t ? out + (b * T + t - 1) * H : h0 ? h0 + b * H : NULL;
            if (!hp) {
                memset(w.G, 0, sizeof(float) * H); /* zero h_{-1} (G is free in the backward) */
                hp = w.G;
            }
            step_backward(dh + b * H, w.S + (b * T + t) * H4, dout + (b * T + t) * H, hp, H);
        }
        if (t == 0 && !dh0) break; /* dL/dh0 not wanted */
        /* dh += dGh_t . U^T */
        if (DDSP_NN_PANEL_KERNEL)
            ddsp_nn_panel_gemm(dh, H, w.S + t * H4, T * H4, w.P, B, H3, H, 1);
        else if (B == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)H, (int)H3, 1.0f, U, (int)H3,
                        w.S + t * H4, 1, 1.0f, dh, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)H, (int)H3, 1.0f,
                        w.S + t * H4, (int)(T * H4), U, (int)H3, 1.0f, dh, (int)H);
    }
    if (dh0) memcpy(dh0, dh, sizeof(float) * B * H);

    /* dU += sum_t h_{t-1}^T dGh_t: per sequence one GEMM over its T-1 steps, plus h0 */
    if (dU) {
        for (size_t b = 0; b < B && T > 1; b++)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)H, (int)H3, (int)(T - 1),
                        1.0f, out + b * T * H, (int)H, w.S + (b * T + 1) * H4, (int)H4, 1.0f, dU,
                        (int)H3);
        if (h0)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)H, (int)H3, (int)B, 1.0f, h0,
                        (int)H, w.S, (int)(T * H4), 1.0f, dU, (int)H3);
    }
    /* biases: db_rec += sum dGh = S[:, 0:3H]; db_in += sum dGi = S[:, 0:2H] and S[:, 3H:4H] */
    if (db_rec) ddsp_nn_colsum_acc(db_rec, w.S, BT, H3, H4);
    if (db_in) {
        ddsp_nn_colsum_acc(db_in, w.S, BT, H2, H4);
        ddsp_nn_colsum_acc(db_in + H2, w.S + H3, BT, H, H4);
    }
    /* dW += x^T dGi and din = dGi W^T, dGi split as S[:, 0:2H] and S[:, 3H:4H] */
    size_t off = 0;
    for (int k = 0; k < nblk; k++) {
        const int C = (int)Cin[k];
        DDSP_ASSERT(x[k] && C > 0, "gru: input block %d is empty", k);
        const float *Wk = W + off * H3;
        if (dW) {
            float *dWk = dW + off * H3;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, (int)H2, (int)BT, 1.0f, x[k], C,
                        w.S, (int)H4, 1.0f, dWk, (int)H3);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, (int)H, (int)BT, 1.0f, x[k], C,
                        w.S + H3, (int)H4, 1.0f, dWk + H2, (int)H3);
        }
        if (din && din[k]) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)BT, C, (int)H2, 1.0f, w.S,
                        (int)H4, Wk, (int)H3, 0.0f, din[k], C);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)BT, C, (int)H, 1.0f, w.S + H3,
                        (int)H4, Wk + H2, (int)H3, 1.0f, din[k], C);
        }
        off += Cin[k];
    }
}

void ddsp_gru_forward(float *out, void *ws, const float *x, const float *W, const float *U,
                      const float *b_in, const float *b_rec, const float *h0, size_t B, size_t T,
                      size_t Cin, size_t H) {
    ddsp_gru_forward_cat(out, ws, 1, &x, &Cin, W, U, b_in, b_rec, h0, B, T, H);
}

void ddsp_gru_backward(float *din, float *dW, float *dU, float *db_in, float *db_rec, float *dh0,
                       const float *dout, void *ws, const float *x, const float *W, const float *U,
                       const float *h0, const float *out, size_t B, size_t T, size_t Cin,
                       size_t H) {
    float *const dins[1] = {din};
    ddsp_gru_backward_cat(dins, dW, dU, db_in, db_rec, dh0, dout, ws, 1, &x, &Cin, W, U, h0, out, B,
                          T, H);
}
