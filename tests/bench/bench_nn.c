/* Speed of the decoder's products and layers, every contender interleaved in the same
 * process, medians of REPS runs:
 *   bench_nn [REPS]
 * 1. the decoder's products at B = 4 (M = 4000 rows): OpenBLAS sgemm, oneDNN f32, oneDNN bf16;
 * 2. the recurrent products (rows x 512) . (512 x 1536) and (rows x 1536) . (1536 x 512),
 *    1000 of each: OpenBLAS sgemm, our panel kernel (fp32), oneDNN f32 and bf16 on the
 *    weights reordered once;
 * 3. the layers (Dense, LayerNorm + leaky, GRU at T = 1000) in fp32 and bf16.
 * Run with OMP_NUM_THREADS=1 for per-core numbers; OPENBLAS_CORETYPE changes only the
 * OpenBLAS column (the kernel in use is printed). */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "nn/nn_internal.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static ddsp_bf16 *bbuf(const float *a, size_t n) {
    ddsp_bf16 *b = ddsp_alloc(sizeof(ddsp_bf16) * n);
    DDSP_ASSERT(b, "out of memory");
    ddsp_bf16_from_f32(b, a, n);
    return b;
}

#define MAXREP 64
static ddsp_nn *nn32, *nn16;

/* 1. C (M, N) = A . B with A stored (K, M) when ta, B stored (N, K) when tb */
static void bench_products(int reps) {
    static const struct {
        int M, N, K, ta, tb;
        const char *what;
    } sh[] = {
        {4000, 512, 512, 0, 0, "stack dense fwd"},  {4000, 1536, 1024, 0, 0, "GRU input proj"},
        {4000, 512, 1536, 0, 0, "out stack 0 fwd"}, {4000, 126, 512, 0, 0, "dense_out fwd"},
        {4000, 512, 512, 0, 1, "stack dX = dY W^T"}, {4000, 1024, 1536, 0, 1, "GRU dX"},
        {512, 512, 4000, 1, 0, "stack dW = X^T dY"}, {1024, 1536, 4000, 1, 0, "GRU dW"},
        {1536, 512, 4000, 1, 0, "out stack 0 dW"},
    };
    const size_t big = (size_t)4000 * 1536;
    float *A = buf(big, 1, 1), *B = buf(big, 1, 2), *C = buf(big, 1, 3);
    ddsp_bf16 *Ab = bbuf(A, big), *Bb = bbuf(B, big);
    printf("\n1. decoder products, GFLOP/s (median of %d)\n", reps);
    printf("| product | M x N x K | OpenBLAS sgemm | oneDNN f32 | oneDNN bf16 |\n|---|---|---|---|---|\n");
    for (size_t s = 0; s < sizeof sh / sizeof *sh; s++) {
        const int M = sh[s].M, N = sh[s].N, K = sh[s].K, ta = sh[s].ta, tb = sh[s].tb;
        const nn_gemm_shape q = {.M = (size_t)M, .N = (size_t)N, .K = (size_t)K,
                                 .lda = (size_t)(ta ? M : K), .ldb = (size_t)(tb ? K : N),
                                 .ldc = (size_t)N, .ta = ta, .tb = tb};
        nn_gemm *g32 = nn_gemm_get(nn32, &q), *g16 = nn_gemm_get(nn16, &q);
        double t[3][MAXREP];
        for (int r = -1; r < reps; r++) {
            double t0 = ddsp_now();
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C, N);
            const double t1 = ddsp_now();
            nn_gemm_run(nn32, g32, C, A, B, NULL);
            const double t2 = ddsp_now();
            nn_gemm_run(nn16, g16, C, Ab, Bb, NULL);
            const double t3 = ddsp_now();
            if (r >= 0) t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2;
        }
        const double f = 2e-9 * M * N * (double)K;
        printf("| %s | %d x %d x %d | %.0f | %.0f | %.0f |\n", sh[s].what, M, N, K,
               f / median(t[0], reps), f / median(t[1], reps), f / median(t[2], reps));
    }
    ddsp_free(A), ddsp_free(B), ddsp_free(C), ddsp_free(Ab), ddsp_free(Bb);
}

/* 2. 1000 recurrent products per direction, rows = sequences per thread */
static void bench_recurrent(int reps) {
    const size_t H = 512, H3 = 3 * H;
    float *U = buf(H * H3, 0.05f, 5), *A = buf(8 * H3 * 1000, 1, 6), *C = buf(8 * H3, 1, 7);
    ddsp_bf16 *Ub = bbuf(U, H * H3), *Ab = bbuf(A, 8 * H3 * 1000);
    float *P = ddsp_alloc(sizeof(float) * ddsp_nn_pack_floats(H3, H3));
    printf("\n2. recurrent products x 1000, GFLOP/s (median of %d)\n", reps);
    printf("| rows | product | OpenBLAS sgemm | panel kernel | oneDNN f32 | oneDNN bf16 |\n"
           "|---|---|---|---|---|---|\n");
    for (size_t rows = 1; rows <= 8; rows *= 2)
        for (int bwd = 0; bwd < 2; bwd++) {
            const size_t K = bwd ? H3 : H, N = bwd ? H : H3;
            /* forward h U (U (H, 3H)); backward dG U^T (U^T given as U, transposed) */
            const nn_gemm_shape q = {.M = rows, .N = N, .K = K, .lda = K, .ldb = H3, .tb = bwd,
                                     .ldc = N, .acc = bwd, .packed_b = 1, .serial = 1};
            nn_gemm *g32 = nn_gemm_get(nn32, &q), *g16 = nn_gemm_get(nn16, &q);
            void *p32 = ddsp_alloc(nn_gemm_packed_bytes(g32)),
                 *p16 = ddsp_alloc(nn_gemm_packed_bytes(g16));
            nn_gemm_pack(nn32, g32, p32, U);
            nn_gemm_pack(nn16, g16, p16, Ub);
            if (DDSP_NN_PANEL_KERNEL) ddsp_nn_pack(P, U, K, N, bwd);
            double t[4][MAXREP];
            for (int r = -1; r < reps; r++) {
                double t0 = ddsp_now();
                for (size_t k = 0; k < 1000; k++)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, bwd ? CblasTrans : CblasNoTrans,
                                (int)rows, (int)N, (int)K, 1.0f, A + k * rows * K, (int)K, U,
                                (int)H3, (float)bwd, C, (int)N);
                const double t1 = ddsp_now();
                if (DDSP_NN_PANEL_KERNEL)
                    for (size_t k = 0; k < 1000; k++)
                        ddsp_nn_panel_gemm(C, N, A + k * rows * K, K, P, rows, K, N, bwd);
                const double t2 = ddsp_now();
                for (size_t k = 0; k < 1000; k++)
                    nn_gemm_run(nn32, g32, C, A + k * rows * K, p32, NULL);
                const double t3 = ddsp_now();
                for (size_t k = 0; k < 1000; k++)
                    nn_gemm_run(nn16, g16, C, Ab + k * rows * K, p16, NULL);
                const double t4 = ddsp_now();
                if (r >= 0)
                    t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2, t[3][r] = t4 - t3;
            }
            const double f = 2e-6 * (double)(rows * K * N);
            printf("| %zu | %s | %.0f | %.0f | %.0f | %.0f |\n", rows,
                   bwd ? "dG U^T (x 1536 . 1536 x 512)" : "h U (x 512 . 512 x 1536)",
                   f / median(t[0], reps), DDSP_NN_PANEL_KERNEL ? f / median(t[1], reps) : 0.0,
                   f / median(t[2], reps), f / median(t[3], reps));
            ddsp_free(p32), ddsp_free(p16);
        }
    ddsp_free(U), ddsp_free(A), ddsp_free(C), ddsp_free(Ub), ddsp_free(Ab), ddsp_free(P);
}

/* 3. layers */
static void bench_layers(int reps) {
    const size_t M = 4000, C = 512;
    float *in = buf(M * C, 1, 10), *W = buf(C * C, 0.05f, 11), *b = buf(C, 0.1f, 12);
    float *out = buf(M * C, 1, 13), *dout = buf(M * C, 1, 14), *din = buf(M * C, 1, 15);
    float *dW = buf(C * C, 1, 16), *db = buf(C, 1, 17);
    float *y = buf(M * C, 1, 18), *mean = buf(M, 1, 19), *rstd = buf(M, 1, 20);
    float *gm = buf(C, 1, 21), *bt = buf(C, 1, 22), *dg = buf(C, 1, 23), *dbt = buf(C, 1, 24);
    ddsp_bf16 *inb = bbuf(in, M * C), *Wb = bbuf(W, C * C), *doutb = bbuf(dout, M * C);
    ddsp_bf16 *yb = bbuf(y, M * C);
    printf("\n3. layers, ms (median of %d)\n| layer | fp32 | bf16 |\n|---|---|---|\n", reps);
    double t[6][MAXREP];
    for (int r = -1; r < reps; r++) {
        double t0 = ddsp_now();
        ddsp_dense_forward(nn32, out, in, C, W, b, M, C, C);
        ddsp_dense_backward(nn32, din, C, dW, db, dout, dout, in, C, W, M, C, C);
        const double t1 = ddsp_now();
        ddsp_dense_forward(nn16, out, inb, C, Wb, b, M, C, C);
        ddsp_dense_backward(nn16, din, C, dW, db, dout, doutb, inb, C, Wb, M, C, C);
        const double t2 = ddsp_now();
        ddsp_layernorm_leaky_forward(y, DDSP_PREC_FP32, C, mean, rstd, out, gm, bt, 1e-3f, 0.2f, M,
                                     C);
        ddsp_layernorm_leaky_backward(din, NULL, DDSP_PREC_FP32, dg, dbt, dout, C, out, mean, rstd,
                                      gm, bt, 0.2f, M, C);
        const double t3 = ddsp_now();
        ddsp_layernorm_leaky_forward(yb, DDSP_PREC_BF16, C, mean, rstd, out, gm, bt, 1e-3f, 0.2f,
                                     M, C);
        ddsp_layernorm_leaky_backward(din, doutb, DDSP_PREC_BF16, dg, dbt, dout, C, out, mean,
                                      rstd, gm, bt, 0.2f, M, C);
        const double t4 = ddsp_now();
        if (r >= 0) t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2, t[3][r] = t4 - t3;
    }
    printf("| dense 512->512 M=4000 fwd+bwd | %.2f | %.2f |\n", 1e3 * median(t[0], reps),
           1e3 * median(t[1], reps));
    printf("| layernorm+leaky M=4000 C=512 fwd+bwd | %.2f | %.2f |\n", 1e3 * median(t[2], reps),
           1e3 * median(t[3], reps));
    ddsp_free(in), ddsp_free(W), ddsp_free(b), ddsp_free(out), ddsp_free(dout), ddsp_free(din);
    ddsp_free(dW), ddsp_free(db), ddsp_free(y), ddsp_free(mean), ddsp_free(rstd), ddsp_free(gm);
    ddsp_free(bt), ddsp_free(dg), ddsp_free(dbt), ddsp_free(inb), ddsp_free(Wb);
    ddsp_free(doutb), ddsp_free(yb);

    const size_t T = 1000, Cin = 1024, H = 512, H3 = 3 * H;
    for (size_t B = 1; B <= 4; B *= 4) {
        float *x = buf(B * T * Cin, 1, 30), *Wg = buf(Cin * H3, 0.04f, 31);
        float *U = buf(H * H3, 0.05f, 32), *bi = buf(H3, 0.1f, 33), *br = buf(H3, 0.1f, 34);
        float *o = buf(B * T * H, 1, 35), *og = buf(B * T * H, 1, 36), *dout2 = buf(B * T * H, 1, 37);
        float *dx = buf(B * T * Cin, 1, 38), *dWg = buf(Cin * H3, 1, 39), *dU = buf(H * H3, 1, 40);
        float *dbi = buf(H3, 1, 41), *dbr = buf(H3, 1, 42);
        ddsp_bf16 *xb = bbuf(x, B * T * Cin), *Wgb = bbuf(Wg, Cin * H3), *Ub = bbuf(U, H * H3);
        ddsp_gru *g32 = ddsp_gru_init(nn32, B, T, Cin, H), *g16 = ddsp_gru_init(nn16, B, T, Cin, H);
        for (int r = -1; r < reps; r++) {
            double t0 = ddsp_now();
            ddsp_gru_forward(g32, o, og, H, x, Cin, Wg, U, bi, br, NULL, B);
            const double t1 = ddsp_now();
            ddsp_gru_backward(g32, dx, Cin, 0, dWg, dU, dbi, dbr, NULL, dout2, H, x, Cin, Wg, U, NULL,
                              o, og, H, B);
            const double t2 = ddsp_now();
            ddsp_gru_forward(g16, o, og, H, xb, Cin, Wgb, Ub, bi, br, NULL, B);
            const double t3 = ddsp_now();
            ddsp_gru_backward(g16, dx, Cin, 0, dWg, dU, dbi, dbr, NULL, dout2, H, xb, Cin, Wgb, Ub,
                              NULL, o, og, H, B);
            const double t4 = ddsp_now();
            if (r >= 0)
                t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2, t[3][r] = t4 - t3;
        }
        printf("| GRU B=%zu T=1000 1024->512 forward | %.1f | %.1f |\n", B, 1e3 * median(t[0], reps),
               1e3 * median(t[2], reps));
        printf("| GRU B=%zu backward | %.1f | %.1f |\n", B, 1e3 * median(t[1], reps),
               1e3 * median(t[3], reps));
        ddsp_gru_free(g32), ddsp_gru_free(g16);
        ddsp_free(x), ddsp_free(Wg), ddsp_free(U), ddsp_free(bi), ddsp_free(br), ddsp_free(o);
        ddsp_free(og), ddsp_free(dout2), ddsp_free(dx), ddsp_free(dWg), ddsp_free(dU);
        ddsp_free(dbi), ddsp_free(dbr), ddsp_free(xb), ddsp_free(Wgb), ddsp_free(Ub);
    }
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 7;
    reps = reps < 1 ? 1 : reps > MAXREP ? MAXREP : reps;
    ddsp_nn_threads_init(0);
    nn32 = ddsp_nn_init(DDSP_PREC_FP32);
    nn16 = ddsp_nn_init(DDSP_PREC_BF16);
    DDSP_ASSERT(nn32 && nn16, "%s", ddsp_last_error());
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OpenBLAS core %s (OPENBLAS_CORETYPE=%s), %d thread(s), native bf16: %s\n",
           openblas_get_corename(), ct ? ct : "unset", ddsp_nn_threads(),
           ddsp_nn_cpu_bf16() ? "yes" : "no");
    bench_products(reps);
    bench_recurrent(reps);
    bench_layers(reps);
    ddsp_nn_free(nn32);
    ddsp_nn_free(nn16);
    return 0;
}
