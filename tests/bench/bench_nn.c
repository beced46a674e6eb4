/* Speed of the nn layers against this machine's sgemm, medians of repeated runs:
 *   bench_nn [REPS]
 * Run with OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 for per-core numbers; compare with and
 * without OPENBLAS_CORETYPE=Haswell (the OpenBLAS kernel in use is printed). */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "nn/nn_internal.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return t[n / 2];
}

static float *buf(size_t n, float scale, uint64_t key) {
    float *a = ddsp_alloc(sizeof(float) * n);
    DDSP_ASSERT(a, "out of memory");
    ddsp_rng_uniform(a, n, key, 0, -scale, scale);
    return a;
}

#define MAXREP 64

static void bench_sgemm(int reps) {
    const int n = 2048;
    float *a = buf((size_t)n * n, 1, 1), *b = buf((size_t)n * n, 1, 2),
          *c = buf((size_t)n * n, 1, 3);
    double t[MAXREP];
    for (int r = -1; r < reps; r++) {
        const double t0 = ddsp_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        if (r >= 0) t[r] = ddsp_now() - t0;
    }
    const double s = median(t, reps);
    printf("sgemm 2048^3                       %8.2f ms  %6.1f GFLOP/s\n", 1e3 * s,
           2.0 * n * n * (double)n / s * 1e-9);
    /* the recurrence's products: 1000 x (1 x 512) . (512 x 1536) both ways round */
    const int H = 512, H3 = 1536;
    for (int trans = 0; trans < 2; trans++) {
        for (int r = -1; r < reps; r++) {
            const double t0 = ddsp_now();
            for (int k = 0; k < 1000; k++)
                if (trans)
                    cblas_sgemv(CblasRowMajor, CblasTrans, H, H3, 1.0f, a, H3, b, 1, 0.0f, c, 1);
                else
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, H, H3, 1.0f, a, H3, b, 1, 1.0f, c, 1);
            if (r >= 0) t[r] = ddsp_now() - t0;
        }
        const double s2 = median(t, reps);
        printf("1000 sgemv %s (512 x 1536)       %8.2f ms  %6.1f GFLOP/s\n",
               trans ? "h U  " : "U dg ", 1e3 * s2, 2e3 * H * H3 / s2 * 1e-9);
    }
    for (int r = -1; r < reps; r++) {
        const double t0 = ddsp_now();
        for (int k = 0; k < 1000; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, H3, H, 1.0f, b, H, a, H3,
                        0.0f, c, H3);
        if (r >= 0) t[r] = ddsp_now() - t0;
    }
    const double s3 = median(t, reps);
    printf("1000 sgemm M=1 (h U)               %8.2f ms  %6.1f GFLOP/s\n", 1e3 * s3,
           2e3 * H * H3 / s3 * 1e-9);
    for (int r = -1; r < reps; r++) {
        const double t0 = ddsp_now();
        for (int k = 0; k < 1000; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 4, H3, H, 1.0f, b, H, a, H3,
                        0.0f, c, H3);
        if (r >= 0) t[r] = ddsp_now() - t0;
    }
    const double s4 = median(t, reps);
    printf("1000 sgemm M=4 (h U)               %8.2f ms  %6.1f GFLOP/s\n", 1e3 * s4,
           8e3 * H * H3 / s4 * 1e-9);
    if (DDSP_NN_PANEL_KERNEL) {
        float *P = ddsp_alloc(sizeof(float) * ddsp_nn_pack_floats(H, H3));
        ddsp_nn_pack(P, a, H, H3, 0);
        for (int rows = 1; rows <= 4; rows *= 4) {
            for (int r = -1; r < reps; r++) {
                const double t0 = ddsp_now();
                for (int k = 0; k < 1000; k++)
                    ddsp_nn_panel_gemm(c, H3, b, H, P, rows, H, H3, 0);
                if (r >= 0) t[r] = ddsp_now() - t0;
            }
            const double s5 = median(t, reps);
            printf("1000 panel kernel M=%d (h U)        %8.2f ms  %6.1f GFLOP/s\n", rows, 1e3 * s5,
                   2e3 * rows * H * H3 / s5 * 1e-9);
        }
        ddsp_free(P);
    }
    ddsp_free(a), ddsp_free(b), ddsp_free(c);
}

static void bench_dense(int reps) {
    const size_t M = 4000, C = 512;
    float *in = buf(M * C, 1, 10), *W = buf(C * C, 0.05f, 11), *b = buf(C, 0.1f, 12);
    float *out = buf(M * C, 1, 13), *dout = buf(M * C, 1, 14), *din = buf(M * C, 1, 15);
    float *dW = buf(C * C, 1, 16), *db = buf(C, 1, 17);
    float *y = buf(M * C, 1, 18), *mean = buf(M, 1, 19), *rstd = buf(M, 1, 20);
    float *gm = buf(C, 1, 21), *bt = buf(C, 1, 22), *dg = buf(C, 1, 23), *dbt = buf(C, 1, 24);
    double tf[MAXREP], tb[MAXREP], tl[MAXREP], tu[MAXREP];
    for (int r = -1; r < reps; r++) {
        double t0 = ddsp_now();
        ddsp_dense_forward(out, in, W, b, M, C, C);
        const double t1 = ddsp_now();
        ddsp_dense_backward(din, dW, db, dout, in, W, M, C, C);
        const double t2 = ddsp_now();
        ddsp_layernorm_leaky_forward(y, mean, rstd, out, gm, bt, 1e-3f, 0.2f, M, C);
        ddsp_layernorm_leaky_backward(din, dg, dbt, dout, y, out, mean, rstd, gm, 0.2f, M, C);
        const double t3 = ddsp_now();
        /* the same unfused: LayerNorm, leaky in place; leaky backward, LayerNorm backward */
        ddsp_layernorm_forward(y, mean, rstd, out, gm, bt, 1e-3f, M, C);
        ddsp_leaky_relu_forward(y, y, 0.2f, M * C);
        ddsp_leaky_relu_backward(din, dout, y, 0.2f, M * C);
        ddsp_layernorm_backward(din, dg, dbt, din, out, mean, rstd, gm, M, C);
        const double t4 = ddsp_now();
        if (r >= 0) tf[r] = t1 - t0, tb[r] = t2 - t1, tl[r] = t3 - t2, tu[r] = t4 - t3;
    }
    const double f = 2.0 * M * C * C * 1e-9, sf = median(tf, reps), sb = median(tb, reps);
    printf("dense 512->512 M=4000 forward      %8.2f ms  %6.1f GFLOP/s\n", 1e3 * sf, f / sf);
    printf("dense 512->512 M=4000 backward     %8.2f ms  %6.1f GFLOP/s\n", 1e3 * sb, 2 * f / sb);
    printf("dense fwd+bwd                      %8.2f ms  %6.1f GFLOP/s\n", 1e3 * (sf + sb),
           3 * f / (sf + sb));
    printf("layernorm+leaky M=4000 C=512 f+b   %8.2f ms fused, %.2f ms unfused\n",
           1e3 * median(tl, reps), 1e3 * median(tu, reps));
    ddsp_free(in), ddsp_free(W), ddsp_free(b), ddsp_free(out), ddsp_free(dout), ddsp_free(din);
    ddsp_free(dW), ddsp_free(db), ddsp_free(y), ddsp_free(mean), ddsp_free(rstd), ddsp_free(gm);
    ddsp_free(bt), ddsp_free(dg), ddsp_free(dbt);
}

static void bench_gru(size_t B, int reps) {
    const size_t T = 1000, Cin = 1024, H = 512, H3 = 3 * H;
    float *x = buf(B * T * Cin, 1, 30), *W = buf(Cin * H3, 0.04f, 31), *U = buf(H * H3, 0.05f, 32);
    float *bi = buf(H3, 0.1f, 33), *br = buf(H3, 0.1f, 34), *out = buf(B * T * H, 1, 35);
    float *dout = buf(B * T * H, 1, 36), *din = buf(B * T * Cin, 1, 37), *dW = buf(Cin * H3, 1, 38);
    float *dU = buf(H * H3, 1, 39), *dbi = buf(H3, 1, 40), *dbr = buf(H3, 1, 41);
    void *ws = ddsp_alloc(ddsp_gru_workspace_size(B, T, H));
    double tf[MAXREP], tb[MAXREP];
    for (int r = -1; r < reps; r++) {
        const double t0 = ddsp_now();
        ddsp_gru_forward(out, ws, x, W, U, bi, br, NULL, B, T, Cin, H);
        const double t1 = ddsp_now();
        ddsp_gru_backward(din, dW, dU, dbi, dbr, NULL, dout, ws, x, W, U, NULL, out, B, T, Cin, H);
        const double t2 = ddsp_now();
        if (r >= 0) tf[r] = t1 - t0, tb[r] = t2 - t1;
    }
    const double BT = (double)(B * T), proj = 2.0 * BT * Cin * H3 * 1e-9,
                 rec = 2.0 * BT * H * H3 * 1e-9;
    const double sf = median(tf, reps), sb = median(tb, reps);
    printf("gru B=%zu T=1000 1024->512 forward  %8.2f ms  %6.1f GFLOP/s\n", B, 1e3 * sf,
           (proj + rec) / sf);
    printf("gru B=%zu backward                  %8.2f ms  %6.1f GFLOP/s\n", B, 1e3 * sb,
           (2 * proj + 2 * rec) / sb);
    printf("gru B=%zu fwd+bwd                   %8.2f ms  %6.1f GFLOP/s  (%.1f GFLOP)\n", B,
           1e3 * (sf + sb), (3 * proj + 3 * rec) / (sf + sb), 3 * proj + 3 * rec);
    ddsp_free(x), ddsp_free(W), ddsp_free(U), ddsp_free(bi), ddsp_free(br), ddsp_free(out);
    ddsp_free(dout), ddsp_free(din), ddsp_free(dW), ddsp_free(dU), ddsp_free(dbi), ddsp_free(dbr);
    ddsp_free(ws);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    reps = reps < 1 ? 1 : reps > MAXREP ? MAXREP : reps;
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS core %s (OPENBLAS_CORETYPE=%s), %d OpenBLAS threads, %d OpenMP threads, "
           "median of %d\n",
           openblas_get_corename(), ct ? ct : "unset", openblas_get_num_threads(),
           omp_get_max_threads(), reps);
    bench_sgemm(reps);
    bench_dense(reps);
    bench_gru(1, reps);
    bench_gru(4, reps);
    return 0;
}
