/* GRU, torch nn.GRU / Keras reset_after=True form, gate columns r | z | n (see ddsp/nn.h).
 *
 * Forward: the input projection of all B*T frames is one product; then per step a
 * (rows, H) x (H, 3H) product and a vectorised gate loop. The batch is split over threads
 * and each thread runs its sequences through all T steps alone (one parallel region per
 * pass): a product per step split over threads would need a barrier per step, ~2000 a
 * training step, and a parallel region per step collapses when a core is shared. The
 * per-thread product is a oneDNN primitive made for one thread, against U reordered once
 * per call into its blocked layout; in fp32 with 1-2 sequences per thread our panel kernel
 * (nn/panel.c) is faster and used instead.
 * Backward (BPTT): per step the gate pre-activation gradients are stored and dh is carried
 * back with one product with U^T; dU, dW, din and the biases are then a few big products
 * and column sums over all B*T rows, as the peer's fused GRU (ddsp_ref.py GRURecurrence)
 * rather than torch's per-step dU accumulation.
 *
 * Buffers (floats unless nn type):
 *   S  (B, T, 4H)  per frame: forward gi = xW at [0, 3H) -> [r | z | ghn | n], where
 *                  ghn = h U_n + b_rec_n; the backward overwrites it in place with
 *                  [dr | dz | dn*r | dn] = [dGh (3H) | dn], dGi = [dr | dz | dn].
 *   D  (B, T, 4H)  nn type: the backward's gradients as operands (S itself in fp32)
 *   G  (B, 3H)     h U of the current step (forward)
 *   hb (B, H)      nn type: the previous state as the next product's operand
 *   db (B, 3H)     nn type: dGh of the current step as the next product's operand, rows
 *                  contiguous. With D's rows (T * 4H apart) as its operand, oneDNN 2.6 left
 *                  its brgemm kernel for a plain-layout gemm that ran the backward's
 *                  recurrent products 2.4x slower (ONEDNN_VERBOSE, B = 4, bf16, one thread)
 *                  and, in a process that had made other products first, laid U out
 *                  differently for 1 and 2 rows (the assertion in split_products)
 *   dh (B, H)      running dL/dh (backward)
 *   bsum (n, 4H)   per thread, the sum over its frames of S's gradients: the bias gradients
 *                  without another pass over S (summed in a fixed order per thread count)
 *   Up, Utp        U (H, 3H) and U^T (3H, H) reordered for the recurrent products */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "nn/nn_internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct ddsp_gru {
    ddsp_nn *nn;
    ddsp_precision prec;
    size_t es; /* operand element size */
    size_t max_B, T, Cin, H;
    int nt; /* threads of the recurrence */
    float *S, *G, *dh, *zero, *bsum;
    void *D, *hb, *db, *Up, *Utp;
    size_t pack_bytes;
    size_t fwd_B; /* batch of the last forward */
    int fwd_h0;   /* whether it had h0 */
};

/* How a batch of B splits over threads: n threads, rows lo or hi = lo + (B % n != 0). */
typedef struct {
    int n;
    size_t lo, hi;
    int panel;
    nn_gemm *fwd[2], *bwd[2]; /* [0] lo rows, [1] hi rows (NULL for the panel kernel) */
} split;

static split split_of(const ddsp_gru *g, size_t B) {
    split p;
    memset(&p, 0, sizeof p);
    p.n = (size_t)g->nt < B ? g->nt : (int)B;
    p.lo = B / (size_t)p.n;
    p.hi = p.lo + (B % (size_t)p.n != 0);
    p.panel = DDSP_NN_PANEL_KERNEL && g->prec == DDSP_PREC_FP32 && p.hi <= 2;
    return p;
}

static nn_gemm_shape fwd_shape(const ddsp_gru *g, size_t rows) {
    const size_t H = g->H;
    return (nn_gemm_shape){.M = rows, .N = 3 * H, .K = H, .lda = H, .ldb = 3 * H,
                           .ldc = 3 * H, .packed_b = 1, .serial = 1};
}

static nn_gemm_shape bwd_shape(const ddsp_gru *g, size_t rows) {
    const size_t H = g->H; /* A: dGh of one step (rows, 3H) in db; B: U (H, 3H) as (3H, H)^T */
    return (nn_gemm_shape){.M = rows, .N = H, .K = 3 * H, .lda = 3 * H, .ldb = 3 * H,
                           .tb = 1, .ldc = H, .acc = 1, .packed_b = 1, .serial = 1};
}

/* The split's products (made on first use; all made by init). */
static void split_products(ddsp_gru *g, split *p) {
    if (p->panel) return;
    for (int k = 0; k < 2; k++) {
        const size_t rows = k ? p->hi : p->lo;
        if (rows == 0) continue;
        nn_gemm_shape f = fwd_shape(g, rows), b = bwd_shape(g, rows);
        p->fwd[k] = nn_gemm_get(g->nn, &f);
        p->bwd[k] = nn_gemm_get(g->nn, &b);
    }
    if (!p->fwd[0]) p->fwd[0] = p->fwd[1], p->bwd[0] = p->bwd[1];
    /* one reordered U serves both row counts */
    DDSP_ASSERT(nn_gemm_same_packing(p->fwd[0], p->fwd[1]) &&
                    nn_gemm_same_packing(p->bwd[0], p->bwd[1]),
                "gru: oneDNN packs U differently for %zu and %zu rows", p->lo, p->hi);
}

static size_t round64(size_t n) {
    return (n + 63) & ~(size_t)63;
}

ddsp_gru *ddsp_gru_init(ddsp_nn *nn, size_t max_B, size_t T, size_t Cin, size_t H) {
    DDSP_ASSERT(nn && max_B > 0 && T > 0 && Cin > 0 && H > 0, "gru init: bad arguments");
    ddsp_gru *g = calloc(1, sizeof *g);
    if (!g) {
        ddsp_error("out of memory");
        return NULL;
    }
    g->nn = nn;
    g->prec = ddsp_nn_precision(nn);
    g->es = ddsp_precision_size(g->prec);
    g->max_B = max_B, g->T = T, g->Cin = Cin, g->H = H;
    g->nt = omp_get_max_threads();
    /* make every product a batch up to max_B will use, and size the packed U for them */
    size_t pack = sizeof(float) * ddsp_nn_pack_floats(3 * H, 3 * H);
    for (size_t B = 1; B <= max_B; B++) {
        split p = split_of(g, B);
        split_products(g, &p);
        for (int k = 0; k < 2 && !p.panel; k++) {
            const size_t a = nn_gemm_packed_bytes(p.fwd[k]), b = nn_gemm_packed_bytes(p.bwd[k]);
            pack = a > pack ? a : pack;
            pack = b > pack ? b : pack;
        }
    }
    g->pack_bytes = round64(pack);
    const size_t BTH = max_B * T * 4 * H;
    g->S = ddsp_alloc(sizeof(float) * BTH);
    g->D = g->prec == DDSP_PREC_FP32 ? (void *)g->S : ddsp_alloc(g->es * BTH);
    g->G = ddsp_alloc(sizeof(float) * max_B * 3 * H);
    g->dh = ddsp_alloc(sizeof(float) * max_B * H);
    g->zero = ddsp_alloc(sizeof(float) * H);
    g->bsum = ddsp_alloc(sizeof(float) * (size_t)g->nt * 4 * H);
    g->hb = ddsp_alloc(g->es * max_B * H);
    g->db = ddsp_alloc(g->es * max_B * 3 * H);
    g->Up = ddsp_alloc(g->pack_bytes);
    g->Utp = ddsp_alloc(g->pack_bytes);
    if (!g->S || !g->D || !g->G || !g->dh || !g->zero || !g->bsum || !g->hb || !g->db || !g->Up ||
        !g->Utp) {
        ddsp_gru_free(g);
        ddsp_error("out of memory for the GRU (batch %zu, %zu steps)", max_B, T);
        return NULL;
    }
    return g;
}

void ddsp_gru_free(ddsp_gru *g) {
    if (!g) return;
    if (g->D != (void *)g->S) ddsp_free(g->D);
    ddsp_free(g->S);
    ddsp_free(g->G);
    ddsp_free(g->dh);
    ddsp_free(g->zero);
    ddsp_free(g->bsum);
    ddsp_free(g->hb);
    ddsp_free(g->db);
    ddsp_free(g->Up);
    ddsp_free(g->Utp);
    free(g);
}

/* row m of an operand matrix of element size es */
static inline void *row_of(void *base, size_t es, size_t m, size_t ld) {
    return (char *)base + es * m * ld;
}

/* n floats as operands of precision p */
static inline void to_operand(void *dst, ddsp_precision p, const float *src, size_t n) {
    if (p == DDSP_PREC_BF16) nn_bf16_row(dst, src, n);
    else memcpy(dst, src, sizeof(float) * n);
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

void ddsp_gru_forward(ddsp_gru *g, float *out, void *out_g, size_t ld_g, const void *x,
                      size_t ldx, const void *W, const void *U, const float *b_in,
                      const float *b_rec, const float *h0, size_t B) {
    DDSP_ASSERT(g && out && out_g && x && W && U && b_in && b_rec, "gru forward: bad arguments");
    DDSP_ASSERT(B >= 1 && B <= g->max_B, "gru forward: batch %zu not in 1..%zu", B, g->max_B);
    DDSP_ASSERT(ldx >= g->Cin && ld_g >= g->H, "gru forward: row strides too small");
    const size_t T = g->T, H = g->H, H3 = 3 * H, H4 = 4 * H, es = g->es;
    /* gi = x W for all frames into S[:, 0:3H] */
    const nn_gemm_shape sx = {.M = B * T, .N = H3, .K = g->Cin, .lda = ldx, .ldb = H3,
                              .ldc = H4};
    nn_mm(g->nn, &sx, g->S, x, W, NULL);
    split p = split_of(g, B);
    split_products(g, &p);
    if (p.panel) ddsp_nn_pack(g->Up, U, H, H3, 0);
    else nn_gemm_pack(g->nn, p.fwd[1], g->Up, U);
    if (h0) ddsp_nn_convert(g->hb, g->prec, h0, B * H);
    g->fwd_B = B, g->fwd_h0 = h0 != NULL;
#pragma omp parallel num_threads(p.n)
    {
        const int i = omp_get_thread_num();
        DDSP_ASSERT(omp_get_num_threads() == p.n, "gru: got %d threads, not %d",
                    omp_get_num_threads(), p.n);
        const size_t r0 = B * (size_t)i / (size_t)p.n, r1 = B * (size_t)(i + 1) / (size_t)p.n;
        const size_t rows = r1 - r0;
        const nn_gemm *mm = rows == p.hi ? p.fwd[1] : p.fwd[0];
        float *G = g->G + r0 * H3;
        void *hb = row_of(g->hb, es, r0, H);
        for (size_t t = 0; t < T; t++) {
            if (t == 0 && !h0) memset(G, 0, sizeof(float) * rows * H3);
            else if (p.panel) ddsp_nn_panel_gemm(G, H3, hb, H, g->Up, rows, H, H3, 0);
            else nn_gemm_run(g->nn, mm, G, hb, g->Up, NULL);
            for (size_t b = r0; b < r1; b++) {
                const float *hp = t ? out + (b * T + t - 1) * H : h0 ? h0 + b * H : g->zero;
                float *h = out + (b * T + t) * H;
                step_forward(h, g->S + (b * T + t) * H4, g->G + b * H3, hp, b_in, b_rec, H);
                to_operand(row_of(g->hb, es, b, H), g->prec, h, H);
                to_operand(row_of(out_g, es, b * T + t, ld_g), g->prec, h, H);
            }
        }
    }
}

void ddsp_gru_backward(ddsp_gru *g, float *din, size_t ld_din, int din_acc, float *dW, float *dU,
                       float *db_in, float *db_rec, float *dh0, const float *dout,
                       size_t ld_dout, const void *x, size_t ldx, const void *W, const void *U,
                       const float *h0, const float *out, const void *out_g, size_t ld_g,
                       size_t B) {
    DDSP_ASSERT(g && dout && x && W && U && out && out_g, "gru backward: bad arguments");
    DDSP_ASSERT(B == g->fwd_B && (h0 != NULL) == g->fwd_h0,
                "gru backward: batch %zu / h0 differ from the forward's", B);
    DDSP_ASSERT(ld_dout >= g->H && (!din || ld_din >= g->Cin), "gru backward: row strides");
    const size_t T = g->T, H = g->H, H2 = 2 * H, H3 = 3 * H, H4 = 4 * H, BT = B * T;
    const size_t es = g->es, Cin = g->Cin;
    const int want_dh0 = dh0 != NULL;
    split p = split_of(g, B);
    split_products(g, &p);
    if (T > 1 || want_dh0) {
        if (p.panel) ddsp_nn_pack(g->Utp, U, H3, H, 1);
        else nn_gemm_pack(g->nn, p.bwd[1], g->Utp, U);
    }
#pragma omp parallel num_threads(p.n)
    {
        const int i = omp_get_thread_num();
        DDSP_ASSERT(omp_get_num_threads() == p.n, "gru: got %d threads, not %d",
                    omp_get_num_threads(), p.n);
        const size_t r0 = B * (size_t)i / (size_t)p.n, r1 = B * (size_t)(i + 1) / (size_t)p.n;
        const size_t rows = r1 - r0;
        const nn_gemm *mm = rows == p.hi ? p.bwd[1] : p.bwd[0];
        float *dh = g->dh + r0 * H, *bs = g->bsum + (size_t)i * H4;
        memset(dh, 0, sizeof(float) * rows * H);
        memset(bs, 0, sizeof(float) * H4);
        for (size_t t = T; t-- > 0;) {
            for (size_t b = r0; b < r1; b++) {
                const float *hp = t ? out + (b * T + t - 1) * H : h0 ? h0 + b * H : g->zero;
                float *s = g->S + (b * T + t) * H4;
                step_backward(g->dh + b * H, s, dout + (b * T + t) * ld_dout, hp, H);
#pragma omp simd
                for (size_t j = 0; j < H4; j++)
                    bs[j] += s[j];
                void *d = row_of(g->D, es, b * T + t, H4);
                if (g->prec == DDSP_PREC_BF16) nn_bf16_row(d, s, H4);
                memcpy(row_of(g->db, es, b, H3), d, es * H3);
            }
            if (t == 0 && !want_dh0) break; /* dL/dh0 not wanted */
            /* dh += dGh_t . U^T */
            const void *A = row_of(g->db, es, r0, H3);
            if (p.panel) ddsp_nn_panel_gemm(dh, H, A, H3, g->Utp, rows, H3, H, 1);
            else nn_gemm_run(g->nn, mm, dh, A, g->Utp, NULL);
        }
    }
    if (dh0) memcpy(dh0, g->dh, sizeof(float) * B * H);

    /* dU += sum_t h_{t-1}^T dGh_t: per sequence one product over its T-1 steps, plus h0 */
    if (dU) {
        const nn_gemm_shape su = {.M = H, .N = H3, .K = T - 1, .lda = ld_g, .ta = 1, .ldb = H4,
                                  .ldc = H3, .acc = 1};
        for (size_t b = 0; b < B && T > 1; b++)
            nn_mm(g->nn, &su, dU, row_of((void *)out_g, es, b * T, ld_g),
                    row_of(g->D, es, b * T + 1, H4), NULL);
        if (h0) {
            ddsp_nn_convert(g->hb, g->prec, h0, B * H);
            const nn_gemm_shape s0 = {.M = H, .N = H3, .K = B, .lda = H, .ta = 1,
                                      .ldb = T * H4, .ldc = H3, .acc = 1};
            nn_mm(g->nn, &s0, dU, g->hb, g->D, NULL);
        }
    }
    /* biases: db_rec += sum dGh = S[:, 0:3H]; db_in += sum dGi = S[:, 0:2H] and S[:, 3H:4H],
     * from the threads' sums in thread order */
    for (int i = 0; i < p.n; i++) {
        const float *bs = g->bsum + (size_t)i * H4;
        for (size_t j = 0; j < H3 && db_rec; j++)
            db_rec[j] += bs[j];
        for (size_t j = 0; j < H2 && db_in; j++)
            db_in[j] += bs[j];
        for (size_t j = 0; j < H && db_in; j++)
            db_in[H2 + j] += bs[H3 + j];
    }
    /* dW += x^T dGi and din = dGi W^T, dGi split as D[:, 0:2H] and D[:, 3H:4H] */
    const void *D3 = (const char *)g->D + es * H3;
    if (dW) {
        const nn_gemm_shape a = {.M = Cin, .N = H2, .K = BT, .lda = ldx, .ta = 1, .ldb = H4,
                                 .ldc = H3, .acc = 1};
        const nn_gemm_shape b = {.M = Cin, .N = H, .K = BT, .lda = ldx, .ta = 1, .ldb = H4,
                                 .ldc = H3, .acc = 1};
        nn_mm(g->nn, &a, dW, x, g->D, NULL);
        nn_mm(g->nn, &b, dW + H2, x, D3, NULL);
    }
    if (din) { /* W stored (Cin, 3H): its column blocks as (N, K) transposed operands */
        const nn_gemm_shape a = {.M = BT, .N = Cin, .K = H2, .lda = H4, .ldb = H3, .tb = 1,
                                 .ldc = ld_din, .acc = din_acc};
        const nn_gemm_shape b = {.M = BT, .N = Cin, .K = H, .lda = H4, .ldb = H3, .tb = 1,
                                 .ldc = ld_din, .acc = 1};
        nn_mm(g->nn, &a, din, g->D, W, NULL);
        nn_mm(g->nn, &b, din, D3, (const char *)W + es * H2, NULL);
    }
}
