/* nn layers: every backward against central finite differences of a double forward (scalar
 * loss L = sum out * R), the optimised fp32 layers against the plain double references at
 * realistic sizes, the GRU gate equations against hand-computed values, strided (column
 * block) operands, determinism, the thread split of the recurrence, and the bf16 layers
 * against the fp32 ones with stated bounds. Finite differences run on fp32. */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* products of each precision, made for the test's thread count (see main) */
static ddsp_nn *g_nn[2];

/* ---------------------------------------------------------------- helpers */
static double *rnd(size_t n, double scale) {
    double *a = ddsp_alloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        a[i] = scale * tu_uniform();
    return a;
}

static float *f32(const double *a, size_t n) {
    float *f = ddsp_alloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        f[i] = (float)a[i];
    return f;
}

static double *zd(size_t n) {
    return ddsp_alloc(sizeof(double) * (n ? n : 1));
}

static float *zf(size_t n) {
    return ddsp_alloc(sizeof(float) * (n ? n : 1));
}

static double rel_l2_dd(const double *got, const double *want, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        num += (got[i] - want[i]) * (got[i] - want[i]);
        den += want[i] * want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* float result vs double reference, relative L2 <= tol */
static void check_f(const char *label, const float *got, const double *want, size_t n, double tol) {
    double max_abs;
    size_t worst;
    const double e = tu_rel_l2(got, want, n, &max_abs, &worst);
    printf("  %-34s rel L2 %.2e  max abs %.2e\n", label, e, max_abs);
    CHECK(e <= tol, "%s: rel L2 %.3g > %.1g (worst [%zu] %.9g vs %.9g)", label, e, tol, worst,
          (double)got[worst], want[worst]);
}

static void check_d(const char *label, const double *got, const double *want, size_t n,
                    double tol) {
    const double e = rel_l2_dd(got, want, n);
    printf("  %-34s rel L2 %.2e\n", label, e);
    CHECK(e <= tol, "%s: rel L2 %.3g > %.1g", label, e, tol);
}

static double dot_dd(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Central differences of loss(ctx) w.r.t. every element of p (n): g[i] = dL/dp[i]. */
typedef double (*loss_fn)(void *ctx);
static void fd_grad(double *g, double *p, size_t n, loss_fn loss, void *ctx) {
    for (size_t i = 0; i < n; i++) {
        const double v = p[i], h = 1e-6 * (fabs(v) > 1.0 ? fabs(v) : 1.0);
        p[i] = v + h;
        const double lp = loss(ctx);
        p[i] = v - h;
        const double lm = loss(ctx);
        p[i] = v;
        g[i] = (lp - lm) / (2.0 * h);
    }
}

/* Tolerances: the double reference backward must match FD to ~1e-6 (FD error ~1e-9 here);
 * the float layers to 1e-4 (float rounding ~1e-6). Sensitivity: a gradient off by 0.1%
 * fails the reference check. */
#define TOL_REF 1e-6
#define TOL_F32 1e-4

/* ---------------------------------------------------------------- dense */
typedef struct {
    double *in, *W, *b, *R, *out;
    size_t M, Cin, Cout;
} dense_ctx;

static double dense_loss(void *p) {
    dense_ctx *c = p;
    ddsp_dense_forward_ref(c->out, c->in, c->W, c->b, c->M, c->Cin, c->Cout);
    return dot_dd(c->out, c->R, c->M * c->Cout);
}

static void test_dense_fd(void) {
    printf("dense: finite differences (M=6, Cin=5, Cout=4)\n");
    dense_ctx c = {.M = 6, .Cin = 5, .Cout = 4};
    const size_t nin = c.M * c.Cin, nw = c.Cin * c.Cout, no = c.M * c.Cout;
    c.in = rnd(nin, 1.0), c.W = rnd(nw, 0.5), c.b = rnd(c.Cout, 0.5), c.R = rnd(no, 1.0);
    c.out = zd(no);
    double *fin = zd(nin), *fW = zd(nw), *fb = zd(c.Cout);
    fd_grad(fin, c.in, nin, dense_loss, &c);
    fd_grad(fW, c.W, nw, dense_loss, &c);
    fd_grad(fb, c.b, c.Cout, dense_loss, &c);
    /* reference backward; parameter grads accumulate onto a prior value */
    double *din = zd(nin), *dW = zd(nw), *db = zd(c.Cout);
    for (size_t i = 0; i < nw; i++)
        dW[i] = 1.0;
    ddsp_dense_backward_ref(din, dW, db, c.R, c.in, c.W, c.M, c.Cin, c.Cout);
    for (size_t i = 0; i < nw; i++)
        dW[i] -= 1.0;
    check_d("ref din", din, fin, nin, TOL_REF);
    check_d("ref dW (accumulated)", dW, fW, nw, TOL_REF);
    check_d("ref db", db, fb, c.Cout, TOL_REF);
    /* optimised float */
    float *in = f32(c.in, nin), *W = f32(c.W, nw), *b = f32(c.b, c.Cout), *R = f32(c.R, no);
    float *gin = zf(nin), *gW = zf(nw), *gb = zf(c.Cout), *out = zf(no);
    for (size_t i = 0; i < c.Cout; i++)
        gb[i] = 2.0f;
    ddsp_dense_backward(g_nn[0], gin, c.Cin, gW, gb, R, R, in, c.Cin, W, c.M, c.Cin, c.Cout);
    for (size_t i = 0; i < c.Cout; i++)
        gb[i] -= 2.0f;
    check_f("dense din", gin, fin, nin, TOL_F32);
    check_f("dense dW", gW, fW, nw, TOL_F32);
    check_f("dense db (accumulated)", gb, fb, c.Cout, TOL_F32);
    ddsp_dense_forward(g_nn[0], out, in, c.Cin, W, b, c.M, c.Cin, c.Cout);
    dense_loss(&c);
    check_f("dense forward vs ref", out, c.out, no, 1e-6);
    /* sensitivity of the harness: a 0.1% error in a gradient is caught */
    for (size_t i = 0; i < nw; i++)
        dW[i] *= 1.001;
    CHECK(rel_l2_dd(dW, fW, nw) > TOL_REF, "FD harness cannot see a 0.1%% error");
    ddsp_free(c.in), ddsp_free(c.W), ddsp_free(c.b), ddsp_free(c.R), ddsp_free(c.out);
    ddsp_free(fin), ddsp_free(fW), ddsp_free(fb), ddsp_free(din), ddsp_free(dW), ddsp_free(db);
    ddsp_free(in), ddsp_free(W), ddsp_free(b), ddsp_free(R), ddsp_free(gin), ddsp_free(gW);
    ddsp_free(gb), ddsp_free(out);
}

static ddsp_bf16 *bf(const float *a, size_t n) {
    ddsp_bf16 *b = ddsp_alloc(sizeof(ddsp_bf16) * (n ? n : 1));
    ddsp_bf16_from_f32(b, a, n);
    return b;
}

/* fp32 result vs fp32 result as relative L2 (bf16 against fp32) */
static double rel_ff(const float *got, const float *want, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)got[i] - want[i];
        num += d * d, den += (double)want[i] * want[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* bf16 result against the fp32 path: at most `tol`, and (so the bf16 path is known to have
 * run) at least 1e-4: bf16 operands carry 8 significant bits (unit roundoff 2^-9 = 2e-3). */
static void check_bf16(const char *label, const float *got, const float *want, size_t n,
                       double tol) {
    const double e = rel_ff(got, want, n);
    printf("  %-34s bf16 vs fp32 rel L2 %.2e (bound %.0e)\n", label, e, tol);
    CHECK(e <= tol && e >= 1e-4, "%s: bf16 vs fp32 rel L2 %.3g not in [1e-4, %.1g]", label, e,
          tol);
}

/* fp32 vs reference at a realistic size, strided operands (a column block of a wider
 * matrix), and bf16 vs fp32. Bound for one bf16 product: 4e-3 relative L2 (measured
 * ~2.3e-3: both operands rounded, errors add in quadrature). */
#define TOL_BF16_PRODUCT 4e-3
static void test_dense_big(void) {
    const size_t M = 256, Cin = 512, Cout = 512, LD = 700; /* strided: columns [100, 612) */
    printf("dense: fp32 vs reference, strided, bf16 vs fp32 (M=%zu, %zu -> %zu)\n", M, Cin, Cout);
    double *in = rnd(M * Cin, 1.0), *W = rnd(Cin * Cout, 0.06), *b = rnd(Cout, 0.1);
    double *dout = rnd(M * Cout, 1.0), *out = zd(M * Cout);
    double *din = zd(M * Cin), *dW = zd(Cin * Cout), *db = zd(Cout);
    ddsp_dense_forward_ref(out, in, W, b, M, Cin, Cout);
    ddsp_dense_backward_ref(din, dW, db, dout, in, W, M, Cin, Cout);
    float *fin = f32(in, M * Cin), *fW = f32(W, Cin * Cout), *fb = f32(b, Cout);
    float *fdout = f32(dout, M * Cout), *fout = zf(M * Cout);
    float *gin = zf(M * Cin), *gW = zf(Cin * Cout), *gb = zf(Cout);
    ddsp_dense_forward(g_nn[0], fout, fin, Cin, fW, fb, M, Cin, Cout);
    ddsp_dense_backward(g_nn[0], gin, Cin, gW, gb, fdout, fdout, fin, Cin, fW, M, Cin, Cout);
    check_f("forward", fout, out, M * Cout, 1e-5);
    check_f("din", gin, din, M * Cin, 1e-5);
    check_f("dW", gW, dW, Cin * Cout, 1e-5);
    check_f("db", gb, db, Cout, 1e-5);

    /* the input and din as columns [100, 612) of (M, 700) matrices; the rest untouched */
    float *win = zf(M * LD), *wdin = zf(M * LD), *sout = zf(M * Cout), *sW = zf(Cin * Cout);
    float *sb = zf(Cout);
    for (size_t i = 0; i < M * LD; i++)
        wdin[i] = 7.0f;
    for (size_t m = 0; m < M; m++)
        memcpy(win + m * LD + 100, fin + m * Cin, sizeof(float) * Cin);
    ddsp_dense_forward(g_nn[0], sout, win + 100, LD, fW, fb, M, Cin, Cout);
    ddsp_dense_backward(g_nn[0], wdin + 100, LD, sW, sb, fdout, fdout, win + 100, LD, fW, M, Cin,
                        Cout);
    /* (oneDNN may block a strided product differently: equal within rounding, not bitwise) */
    check_f("strided forward", sout, out, M * Cout, 1e-5);
    check_f("strided dW", sW, dW, Cin * Cout, 1e-5);
    int kept = 1;
    for (size_t m = 0; m < M; m++) {
        memcpy(gin + m * Cin, wdin + m * LD + 100, sizeof(float) * Cin);
        for (size_t i = 0; i < LD; i++)
            if (i < 100 || i >= 612) kept &= wdin[m * LD + i] == 7.0f;
    }
    check_f("strided din", gin, din, M * Cin, 1e-5);
    CHECK(kept, "strided din: columns outside the block were written");

    /* bf16 operands, fp32 accumulation */
    ddsp_bf16 *bin = bf(fin, M * Cin), *bW = bf(fW, Cin * Cout), *bd = bf(fdout, M * Cout);
    float *hout = zf(M * Cout), *hin = zf(M * Cin), *hW = zf(Cin * Cout), *hb = zf(Cout);
    ddsp_dense_forward(g_nn[1], hout, bin, Cin, bW, fb, M, Cin, Cout);
    ddsp_dense_backward(g_nn[1], hin, Cin, hW, hb, fdout, bd, bin, Cin, bW, M, Cin, Cout);
    check_bf16("bf16 forward", hout, fout, M * Cout, TOL_BF16_PRODUCT);
    check_bf16("bf16 din", hin, gin, M * Cin, TOL_BF16_PRODUCT);
    check_bf16("bf16 dW", hW, gW, Cin * Cout, TOL_BF16_PRODUCT);
    CHECK(!memcmp(hb, gb, sizeof(float) * Cout), "bf16 db must be the fp32 column sum");
    ddsp_free(bin), ddsp_free(bW), ddsp_free(bd), ddsp_free(hout), ddsp_free(hin);
    ddsp_free(hW), ddsp_free(hb);
    ddsp_free(win), ddsp_free(wdin), ddsp_free(sout), ddsp_free(sW), ddsp_free(sb);
    ddsp_free(in), ddsp_free(W), ddsp_free(b), ddsp_free(dout), ddsp_free(out), ddsp_free(din);
    ddsp_free(dW), ddsp_free(db), ddsp_free(fin), ddsp_free(fW), ddsp_free(fb), ddsp_free(fdout);
    ddsp_free(fout), ddsp_free(gin), ddsp_free(gW), ddsp_free(gb);
}

/* ---------------------------------------------------------------- layernorm, leaky ReLU */
typedef struct {
    double *in, *gamma, *beta, *R, *out;
    double eps, slope;
    size_t M, C;
} ln_ctx;

static double ln_loss(void *p) {
    ln_ctx *c = p;
    ddsp_layernorm_leaky_forward_ref(c->out, c->in, c->gamma, c->beta, c->eps, c->slope, c->M,
                                     c->C);
    return dot_dd(c->out, c->R, c->M * c->C);
}

/* slope 1: plain LayerNorm (+ standalone leaky ReLU check); slope 0.2: the fused layer */
static void test_layernorm(double slope, size_t M, size_t C) {
    printf("layernorm%s: FD + optimised (M=%zu, C=%zu)\n", slope != 1.0 ? "+leaky" : "", M, C);
    ln_ctx c = {.eps = 1e-3, .slope = slope, .M = M, .C = C};
    const size_t n = M * C;
    c.in = rnd(n, 1.0), c.gamma = rnd(C, 0.5), c.beta = rnd(C, 0.5), c.R = rnd(n, 1.0);
    c.out = zd(n);
    for (size_t i = 0; i < C; i++)
        c.gamma[i] += 1.0;
    /* one row nearly constant: rstd is large, eps matters */
    for (size_t i = 0; i < C; i++)
        c.in[i] = 0.3 + 0.01 * c.in[i];
    double *fin = zd(n), *fg = zd(C), *fb = zd(C);
    fd_grad(fin, c.in, n, ln_loss, &c);
    fd_grad(fg, c.gamma, C, ln_loss, &c);
    fd_grad(fb, c.beta, C, ln_loss, &c);
    ln_loss(&c);
    double *din = zd(n), *dg = zd(C), *dbt = zd(C);
    ddsp_layernorm_leaky_backward_ref(din, dg, dbt, c.R, c.in, c.gamma, c.beta, c.eps, slope, M, C);
    check_d("ref din", din, fin, n, TOL_REF);
    check_d("ref dgamma", dg, fg, C, TOL_REF);
    check_d("ref dbeta", dbt, fb, C, TOL_REF);

    float *in = f32(c.in, n), *gm = f32(c.gamma, C), *bt = f32(c.beta, C), *R = f32(c.R, n);
    float *out = zf(n), *mean = zf(M), *rstd = zf(M), *gin = zf(n), *gg = zf(C), *gb = zf(C);
    float *act = zf(n), *gact = zf(n);
    if (slope == 1.0) {
        ddsp_layernorm_forward(out, mean, rstd, in, gm, bt, 1e-3f, M, C);
        check_f("forward vs ref", out, c.out, n, 1e-6);
        memcpy(gin, R, sizeof(float) * n); /* in place: din overwrites dout */
        ddsp_layernorm_backward(gin, gg, gb, gin, in, mean, rstd, gm, M, C);
        /* standalone leaky ReLU: FD of sum leaky(x) R is R * slope' (exact away from 0) */
        ddsp_leaky_relu_forward(act, in, 0.2f, n);
        ddsp_leaky_relu_backward(gact, R, act, 0.2f, n);
        double *want = zd(n), *fdl = zd(n);
        for (size_t i = 0; i < n; i++) {
            const double x = c.in[i], h = 1e-6;
            const double lp = (x + h > 0 ? x + h : 0.2 * (x + h)),
                         lm = (x - h > 0 ? x - h : 0.2 * (x - h));
            fdl[i] = c.R[i] * (lp - lm) / (2 * h);
            want[i] = x > 0 ? x : 0.2 * x;
        }
        check_f("leaky forward", act, want, n, 1e-7);
        check_f("leaky din vs FD", gact, fdl, n, 1e-6);
        memcpy(act, in, sizeof(float) * n); /* in place */
        ddsp_leaky_relu_forward(act, act, 0.2f, n);
        check_f("leaky forward in place", act, want, n, 1e-7);
        ddsp_free(want), ddsp_free(fdl);
    } else {
        ddsp_layernorm_leaky_forward(out, DDSP_PREC_FP32, C, mean, rstd, in, gm, bt, 1e-3f,
                                     (float)slope, M, C);
        check_f("forward vs ref", out, c.out, n, 1e-6);
        memcpy(gin, R, sizeof(float) * n);
        ddsp_layernorm_leaky_backward(gin, NULL, DDSP_PREC_FP32, gg, gb, gin, C, in, mean, rstd,
                                      gm, bt, (float)slope, M, C);
    }
    check_f("din (in place) vs FD", gin, fin, n, TOL_F32);
    check_f("dgamma vs FD", gg, fg, C, TOL_F32);
    check_f("dbeta vs FD", gb, fb, C, TOL_F32);
    ddsp_free(c.in), ddsp_free(c.gamma), ddsp_free(c.beta), ddsp_free(c.R), ddsp_free(c.out);
    ddsp_free(fin), ddsp_free(fg), ddsp_free(fb), ddsp_free(din), ddsp_free(dg), ddsp_free(dbt);
    ddsp_free(in), ddsp_free(gm), ddsp_free(bt), ddsp_free(R), ddsp_free(out), ddsp_free(mean);
    ddsp_free(rstd), ddsp_free(gin), ddsp_free(gg), ddsp_free(gb), ddsp_free(act);
    ddsp_free(gact);
}

/* fused layer at the decoder's width against the reference, and thread-count invariance */
static void test_layernorm_big(void) {
    const size_t M = 300, C = 512, n = M * C;
    printf("layernorm+leaky: optimised vs reference (M=%zu, C=%zu), 1 vs 2 threads\n", M, C);
    double *in = rnd(n, 2.0), *gamma = rnd(C, 0.5), *beta = rnd(C, 0.5), *dout = rnd(n, 1.0);
    for (size_t i = 0; i < C; i++)
        gamma[i] += 1.0;
    double *out = zd(n), *din = zd(n), *dg = zd(C), *db = zd(C);
    ddsp_layernorm_leaky_forward_ref(out, in, gamma, beta, 1e-3, 0.2, M, C);
    ddsp_layernorm_leaky_backward_ref(din, dg, db, dout, in, gamma, beta, 1e-3, 0.2, M, C);
    float *fin = f32(in, n), *fg = f32(gamma, C), *fb = f32(beta, C), *fd = f32(dout, n);
    float *res[2][4];
    const int nt = omp_get_max_threads();
    for (int run = 0; run < 2; run++) {
        omp_set_num_threads(run ? 2 : 1);
        float *o = zf(n), *mean = zf(M), *rstd = zf(M), *gi = zf(n), *gg = zf(C), *gb = zf(C);
        ddsp_layernorm_leaky_forward(o, DDSP_PREC_FP32, C, mean, rstd, fin, fg, fb, 1e-3f, 0.2f, M,
                                     C);
        ddsp_layernorm_leaky_backward(gi, NULL, DDSP_PREC_FP32, gg, gb, fd, C, fin, mean, rstd, fg,
                                      fb, 0.2f, M, C);
        res[run][0] = o, res[run][1] = gi, res[run][2] = gg, res[run][3] = gb;
        ddsp_free(mean), ddsp_free(rstd);
    }
    omp_set_num_threads(nt);
    /* bf16 output into columns [8, 8 + C) of (M, C + 24): the fp32 values rounded; the
     * backward from a strided dout with a bf16 copy of din */
    {
        const size_t LD = C + 24;
        ddsp_bf16 *ob = ddsp_alloc(sizeof(ddsp_bf16) * M * LD), *want = bf(res[0][0], n);
        ddsp_bf16 *gib = ddsp_alloc(sizeof(ddsp_bf16) * n);
        float *mean = zf(M), *rstd = zf(M), *gi = zf(n), *gg = zf(C), *gb = zf(C);
        float *wd = zf(M * LD);
        for (size_t m = 0; m < M; m++)
            memcpy(wd + m * LD + 8, fd + m * C, sizeof(float) * C);
        ddsp_layernorm_leaky_forward(ob + 8, DDSP_PREC_BF16, LD, mean, rstd, fin, fg, fb, 1e-3f,
                                     0.2f, M, C);
        ddsp_layernorm_leaky_backward(gi, gib, DDSP_PREC_BF16, gg, gb, wd + 8, LD, fin, mean, rstd,
                                      fg, fb, 0.2f, M, C);
        int same = 1;
        for (size_t m = 0; m < M; m++)
            same &= !memcmp(ob + m * LD + 8, want + m * C, sizeof(ddsp_bf16) * C);
        CHECK(same, "bf16 output is not the rounded fp32 output");
        ddsp_bf16 *gwant = bf(res[0][1], n);
        CHECK(!memcmp(gi, res[0][1], sizeof(float) * n) &&
                  !memcmp(gib, gwant, sizeof(ddsp_bf16) * n) &&
                  !memcmp(gg, res[0][2], sizeof(float) * C),
              "strided dout / bf16 copy of din differ from the plain backward");
        ddsp_free(ob), ddsp_free(want), ddsp_free(gib), ddsp_free(mean), ddsp_free(rstd);
        ddsp_free(gi), ddsp_free(gg), ddsp_free(gb), ddsp_free(wd), ddsp_free(gwant);
    }
    check_f("forward", res[1][0], out, n, 1e-5);
    check_f("din", res[1][1], din, n, 1e-5);
    check_f("dgamma", res[1][2], dg, C, 1e-5);
    check_f("dbeta", res[1][3], db, C, 1e-5);
    const size_t sz[4] = {n, n, C, C};
    for (int k = 0; k < 4; k++) {
        CHECK(!memcmp(res[0][k], res[1][k], sizeof(float) * sz[k]),
              "layernorm result %d differs between 1 and 2 threads", k);
        ddsp_free(res[0][k]), ddsp_free(res[1][k]);
    }
    ddsp_free(in), ddsp_free(gamma), ddsp_free(beta), ddsp_free(dout), ddsp_free(out);
    ddsp_free(din), ddsp_free(dg), ddsp_free(db), ddsp_free(fin), ddsp_free(fg), ddsp_free(fb);
    ddsp_free(fd);
}

/* ---------------------------------------------------------------- GRU */
typedef struct {
    size_t B, T, Cin, H;
    double *x, *W, *U, *bi, *br, *h0, *R, *out; /* h0 may be NULL */
} gru_ctx;

static double gru_loss(void *p) {
    gru_ctx *c = p;
    ddsp_gru_forward_ref(c->out, c->x, c->W, c->U, c->bi, c->br, c->h0, c->B, c->T, c->Cin, c->H);
    return dot_dd(c->out, c->R, c->B * c->T * c->H);
}

static gru_ctx gru_make(size_t B, size_t T, size_t Cin, size_t H, int with_h0) {
    gru_ctx c = {.B = B, .T = T, .Cin = Cin, .H = H};
    const double sw = 1.0 / sqrt((double)Cin), su = 1.0 / sqrt((double)H);
    c.x = rnd(B * T * Cin, 1.0), c.W = rnd(Cin * 3 * H, 1.5 * sw), c.U = rnd(H * 3 * H, 1.5 * su);
    c.bi = rnd(3 * H, 0.3), c.br = rnd(3 * H, 0.3), c.R = rnd(B * T * H, 1.0);
    c.h0 = with_h0 ? rnd(B * H, 0.8) : NULL;
    c.out = zd(B * T * H);
    return c;
}

static void gru_free_ctx(gru_ctx *c) {
    ddsp_free(c->x), ddsp_free(c->W), ddsp_free(c->U), ddsp_free(c->bi), ddsp_free(c->br);
    ddsp_free(c->h0), ddsp_free(c->R), ddsp_free(c->out);
}

/* Forward + backward of c with dout = R on the optimised GRU of context nn (precision of
 * the operands), made for the current thread count: out, then grads in g[0..5] = din, dW,
 * dU, db_in, db_rec, dh0 (caller frees all). strided: x as columns [3, 3 + Cin) of a
 * (B T, Cin + 5) matrix, out_g in (B T, H + 6), dout in (B T, H + 2), din added onto
 * columns [1, 1 + Cin) of a (B T, Cin + 4) matrix holding 0.5 (din_acc = 1). */
static float *gru_run(ddsp_nn *nn, const gru_ctx *c, float *g[6], int strided) {
    const size_t B = c->B, T = c->T, Cin = c->Cin, H = c->H, BT = B * T;
    const ddsp_precision p = ddsp_nn_precision(nn);
    const size_t es = ddsp_precision_size(p);
    const size_t ldx = strided ? Cin + 5 : Cin, ox = strided ? 3 : 0;
    const size_t ldg = strided ? H + 6 : H, ldd = strided ? H + 2 : H;
    const size_t ldi = strided ? Cin + 4 : Cin, oi = strided ? 1 : 0;
    float *x = zf(BT * ldx), *W = f32(c->W, Cin * 3 * H), *U = f32(c->U, H * 3 * H);
    for (size_t m = 0; m < BT; m++)
        for (size_t i = 0; i < Cin; i++)
            x[m * ldx + ox + i] = (float)c->x[m * Cin + i];
    float *bi = f32(c->bi, 3 * H), *br = f32(c->br, 3 * H), *R = zf(BT * ldd);
    for (size_t m = 0; m < BT; m++)
        for (size_t i = 0; i < H; i++)
            R[m * ldd + i] = (float)c->R[m * H + i];
    float *h0 = c->h0 ? f32(c->h0, B * H) : NULL, *out = zf(BT * H);
    /* operands: bf16 copies (converting in place would race between threads) */
    if (p == DDSP_PREC_BF16) {
        float *xs = x, *Ws = W, *Us = U;
        x = (float *)(void *)bf(xs, BT * ldx), W = (float *)(void *)bf(Ws, Cin * 3 * H);
        U = (float *)(void *)bf(Us, H * 3 * H);
        ddsp_free(xs), ddsp_free(Ws), ddsp_free(Us);
    }
    void *og = ddsp_alloc(es * BT * ldg);
    float *din = zf(BT * ldi);
    for (size_t i = 0; i < BT * ldi; i++)
        din[i] = 0.5f;
    ddsp_gru *gru = ddsp_gru_init(nn, B, T, Cin, H);
    DDSP_ASSERT(gru != NULL, "%s", ddsp_last_error());
    g[0] = zf(BT * Cin), g[1] = zf(Cin * 3 * H), g[2] = zf(H * 3 * H);
    g[3] = zf(3 * H), g[4] = zf(3 * H), g[5] = zf(B * H);
    const void *xo = (const char *)x + es * ox;
    ddsp_gru_forward(gru, out, og, ldg, xo, ldx, W, U, bi, br, h0, B);
    ddsp_gru_backward(gru, din + oi, ldi, strided, g[1], g[2], g[3], g[4], g[5], R, ldd, xo, ldx,
                      W, U, h0, out, og, ldg, B);
    for (size_t m = 0; m < BT; m++)
        for (size_t i = 0; i < Cin; i++)
            g[0][m * Cin + i] = din[m * ldi + oi + i] - (strided ? 0.5f : 0.0f);
    if (strided) /* columns outside the block untouched */
        for (size_t m = 0; m < BT; m++)
            for (size_t i = 0; i < ldi; i++)
                if (i < oi || i >= oi + Cin)
                    DDSP_ASSERT(din[m * ldi + i] == 0.5f, "gru wrote outside its din block");
    ddsp_gru_free(gru);
    ddsp_free(x), ddsp_free(W), ddsp_free(U), ddsp_free(bi), ddsp_free(br), ddsp_free(R);
    ddsp_free(h0), ddsp_free(og), ddsp_free(din);
    return out;
}

static void test_gru_fd(size_t B, int with_h0) {
    const size_t T = 7, Cin = 5, H = 6;
    printf("gru: finite differences (B=%zu, T=%zu, Cin=%zu, H=%zu, h0 %s)\n", B, T, Cin, H,
           with_h0 ? "given" : "zero");
    gru_ctx c = gru_make(B, T, Cin, H, with_h0);
    const size_t n[6] = {B * T * Cin, Cin * 3 * H, H * 3 * H, 3 * H, 3 * H, B * H};
    double *p[6] = {c.x, c.W, c.U, c.bi, c.br, c.h0};
    const char *name[6] = {"din", "dW", "dU", "db_in", "db_rec", "dh0"};
    double *fd[6], *ref[6];
    const int np = with_h0 ? 6 : 5;
    for (int k = 0; k < 6; k++)
        fd[k] = zd(n[k]), ref[k] = zd(n[k]);
    for (int k = 0; k < np; k++)
        fd_grad(fd[k], p[k], n[k], gru_loss, &c);
    gru_loss(&c);
    ddsp_gru_backward_ref(ref[0], ref[1], ref[2], ref[3], ref[4], with_h0 ? ref[5] : NULL, c.R, c.x,
                          c.W, c.U, c.bi, c.br, c.h0, B, T, Cin, H);
    float *g[6];
    float *out = gru_run(g_nn[0], &c, g, 1);
    check_f("forward (float) vs ref", out, c.out, B * T * H, 1e-6);
    char label[64];
    for (int k = 0; k < np; k++) {
        snprintf(label, sizeof label, "ref %s", name[k]);
        check_d(label, ref[k], fd[k], n[k], TOL_REF);
        snprintf(label, sizeof label, "gru %s", name[k]);
        check_f(label, g[k], fd[k], n[k], TOL_F32);
    }
    for (int k = 0; k < 6; k++)
        ddsp_free(fd[k]), ddsp_free(ref[k]), ddsp_free(g[k]);
    ddsp_free(out);
    gru_free_ctx(&c);
}

/* Float-only check of the optimised pair: (L(p + e v) - L(p - e v)) / 2e against <g, v> along
 * one direction v over all parameters and inputs, L from the optimised float forward. */
static void test_gru_directional(size_t B) {
    const size_t T = 30, Cin = 16, H = 24;
    printf("gru: float directional derivative (B=%zu, T=%zu, Cin=%zu, H=%zu)\n", B, T, Cin, H);
    gru_ctx c = gru_make(B, T, Cin, H, 1);
    float *g[6];
    float *out = gru_run(g_nn[0], &c, g, 0);
    const size_t n[6] = {B * T * Cin, Cin * 3 * H, H * 3 * H, 3 * H, 3 * H, B * H};
    double *p[6] = {c.x, c.W, c.U, c.bi, c.br, c.h0};
    /* v = unit(g) + unit(random), normalised: <g, v> ~ |g| is large (no cancellation),
     * and the random half keeps v from being tailored to the gradient being checked */
    double *v[6], gg = 0.0, rr = 0.0, vv = 0.0, gv = 0.0;
    for (int k = 0; k < 6; k++) {
        v[k] = rnd(n[k], 1.0);
        for (size_t i = 0; i < n[k]; i++)
            gg += (double)g[k][i] * g[k][i], rr += v[k][i] * v[k][i];
    }
    for (int k = 0; k < 6; k++)
        for (size_t i = 0; i < n[k]; i++) {
            v[k][i] = g[k][i] / sqrt(gg) + v[k][i] / sqrt(rr);
            vv += v[k][i] * v[k][i];
        }
    for (int k = 0; k < 6; k++)
        for (size_t i = 0; i < n[k]; i++) {
            v[k][i] /= sqrt(vv);
            gv += (double)g[k][i] * v[k][i];
        }
    double L[2];
    ddsp_gru *gru = ddsp_gru_init(g_nn[0], B, T, Cin, H);
    float *og = zf(B * T * H);
    const double e = 1.0 / 64; /* |e v| = 1/64: truncation ~4e-6, float noise ~1e-5 */
    for (int s = 0; s < 2; s++) {
        float *q[6];
        for (int k = 0; k < 6; k++) {
            q[k] = zf(n[k]);
            for (size_t i = 0; i < n[k]; i++)
                q[k][i] = (float)(p[k][i] + (s ? -e : e) * v[k][i]);
        }
        ddsp_gru_forward(gru, out, og, H, q[0], Cin, q[1], q[2], q[3], q[4], q[5], B);
        L[s] = 0.0;
        for (size_t i = 0; i < B * T * H; i++)
            L[s] += (double)out[i] * c.R[i];
        for (int k = 0; k < 6; k++)
            ddsp_free(q[k]);
    }
    const double fdv = (L[0] - L[1]) / (2 * e), rel = tu_rel(gv, fdv);
    printf("  <g, v> %.8g  float FD %.8g  rel %.2e\n", gv, fdv, rel);
    CHECK(rel <= 1e-4, "float directional derivative: <g,v> %.8g vs FD %.8g", gv, fdv);
    for (int k = 0; k < 6; k++)
        ddsp_free(v[k]), ddsp_free(g[k]);
    ddsp_gru_free(gru);
    ddsp_free(out), ddsp_free(og);
    gru_free_ctx(&c);
}

/* Hand-computed H = 1 case (python math, torch's documented equations):
 * x = (0.5, -1), W = (0.3, -0.6, 0.9), U = (0.7, 0.2, -0.4), b_in = (0.1, -0.2, 0.05),
 * b_rec = (-0.3, 0.15, 0.25). With a saturated z the state is kept (z multiplies h). */
static void test_gru_hand(void) {
    printf("gru: hand-computed H=1 case\n");
    const float x[2] = {0.5f, -1.0f}, W[3] = {0.3f, -0.6f, 0.9f}, U[3] = {0.7f, 0.2f, -0.4f};
    float bi[3] = {0.1f, -0.2f, 0.05f}, br[3] = {-0.3f, 0.15f, 0.25f};
    const float h0 = 0.4f;
    const double want0[2] = {0.324066683221, -0.022323735950};
    const double want1[2] = {0.457069027809, 0.066670918597};
    float out[2], og[2];
    ddsp_gru *ws = ddsp_gru_init(g_nn[0], 1, 2, 1, 1);
    ddsp_gru_forward(ws, out, og, 1, x, 1, W, U, bi, br, NULL, 1);
    for (int t = 0; t < 2; t++)
        CHECK(fabs(out[t] - want0[t]) <= 2e-7, "h0=0: h[%d] = %.9f, want %.9f", t, out[t],
              want0[t]);
    printf("  h0=0: %.9f %.9f (want %.9f %.9f)\n", out[0], out[1], want0[0], want0[1]);
    ddsp_gru_forward(ws, out, og, 1, x, 1, W, U, bi, br, &h0, 1);
    for (int t = 0; t < 2; t++)
        CHECK(fabs(out[t] - want1[t]) <= 2e-7, "h0=0.4: h[%d] = %.9f, want %.9f", t, out[t],
              want1[t]);
    double rd[2];
    const double xd[2] = {0.5, -1}, Wd[3] = {0.3, -0.6, 0.9}, Ud[3] = {0.7, 0.2, -0.4};
    const double bid[3] = {0.1, -0.2, 0.05}, brd[3] = {-0.3, 0.15, 0.25}, h0d = 0.4;
    ddsp_gru_forward_ref(rd, xd, Wd, Ud, bid, brd, &h0d, 1, 2, 1, 1);
    printf("  h0=0.4: %.9f %.9f (want %.9f %.9f, double ref %.9f %.9f)\n", out[0], out[1], want1[0],
           want1[1], rd[0], rd[1]);
    for (int t = 0; t < 2; t++)
        CHECK(fabs(rd[t] - want1[t]) <= 1e-11, "ref h[%d] = %.12f, want %.12f", t, rd[t], want1[t]);
    bi[1] = 30.0f; /* z = 1: h' = h */
    ddsp_gru_forward(ws, out, og, 1, x, 1, W, U, bi, br, &h0, 1);
    CHECK(fabs(out[0] - h0) <= 1e-7 && fabs(out[1] - h0) <= 1e-7,
          "z=1 must keep the state: %.9g %.9g", out[0], out[1]);
    bi[1] = -30.0f; /* z = 0: h' = n = tanh(x W_n + b_in_n + r (h U_n + b_rec_n)) */
    ddsp_gru_forward(ws, out, og, 1, x, 1, W, U, bi, br, &h0, 1);
    const double r = 1.0 / (1.0 + exp(-(0.3 * 0.5 + 0.1 + 0.7 * 0.4 - 0.3)));
    const double n = tanh(0.9 * 0.5 + 0.05 + r * (-0.4 * 0.4 + 0.25));
    CHECK(fabs(out[0] - n) <= 2e-7, "z=0 must give n: %.9f vs %.9f", out[0], n);
    CHECK(!memcmp(og, out, sizeof out), "fp32 out_g differs from out");
    ddsp_gru_free(ws);
}

/* fp32 vs reference at realistic sizes, strided vs plain operands, determinism; the thread
 * split of the recurrence (1 vs 2 threads: reported, not required to be bitwise equal:
 * each thread count has its own row split and products). */
static void test_gru_big(size_t B, size_t T) {
    const size_t Cin = 512, H = 512;
    printf("gru: fp32 vs reference (B=%zu, T=%zu, Cin=%zu, H=%zu)\n", B, T, Cin, H);
    gru_ctx c = gru_make(B, T, Cin, H, 0);
    const size_t n[5] = {B * T * Cin, Cin * 3 * H, H * 3 * H, 3 * H, 3 * H};
    const char *name[5] = {"din", "dW", "dU", "db_in", "db_rec"};
    double *ref[5];
    for (int k = 0; k < 5; k++)
        ref[k] = zd(n[k]);
    ddsp_gru_forward_ref(c.out, c.x, c.W, c.U, c.bi, c.br, NULL, B, T, Cin, H);
    ddsp_gru_backward_ref(ref[0], ref[1], ref[2], ref[3], ref[4], NULL, c.R, c.x, c.W, c.U, c.bi,
                          c.br, NULL, B, T, Cin, H);
    float *g[6], *g2[6];
    float *out = gru_run(g_nn[0], &c, g, 0);
    check_f("forward", out, c.out, B * T * H, 1e-5);
    for (int k = 0; k < 5; k++)
        check_f(name[k], g[k], ref[k], n[k], 1e-5);
    float *out2 = gru_run(g_nn[0], &c, g2, 0);
    int same = !memcmp(out, out2, sizeof(float) * B * T * H);
    for (int k = 0; k < 6; k++)
        same &= !memcmp(g[k], g2[k], sizeof(float) * (k < 5 ? n[k] : B * H));
    CHECK(same, "two identical GRU runs differ");
    for (int k = 0; k < 6; k++)
        ddsp_free(g2[k]);
    ddsp_free(out2);
    out2 = gru_run(g_nn[0], &c, g2, 1); /* strided operands */
    check_f("strided forward", out2, c.out, B * T * H, 1e-5);
    for (int k = 0; k < 5; k++) {
        char label[48];
        snprintf(label, sizeof label, "strided %s", name[k]);
        check_f(label, g2[k], ref[k], n[k], 1e-5);
        ddsp_free(g2[k]);
    }
    ddsp_free(g2[5]), ddsp_free(out2);
    /* one thread: its own products and split */
    const int nt = omp_get_max_threads();
    omp_set_num_threads(nt > 1 ? 1 : 2);
    ddsp_nn *nn1 = ddsp_nn_init(DDSP_PREC_FP32);
    out2 = gru_run(nn1, &c, g2, 0);
    ddsp_nn_free(nn1);
    omp_set_num_threads(nt);
    check_f("other thread count: forward", out2, c.out, B * T * H, 1e-5);
    same = !memcmp(out, out2, sizeof(float) * B * T * H);
    for (int k = 0; k < 6; k++) {
        if (k < 5) check_f("other thread count: grad", g2[k], ref[k], n[k], 1e-5);
        same &= !memcmp(g[k], g2[k], sizeof(float) * (k < 5 ? n[k] : B * H));
    }
    printf("  %d vs %d threads: %s\n", nt, nt > 1 ? 1 : 2, same ? "bitwise identical" : "differ");
    for (int k = 0; k < 6; k++)
        ddsp_free(g[k]), ddsp_free(g2[k]);
    for (int k = 0; k < 5; k++)
        ddsp_free(ref[k]);
    ddsp_free(out), ddsp_free(out2);
    gru_free_ctx(&c);
}

/* bf16 GRU against the fp32 one at the decoder's width: every product in bf16, the gate
 * maths and carried state in fp32. Bounds (relative L2): outputs 4e-3, gradients 6e-3, about
 * twice what was measured (B = 4, T = 200: output 2.1e-3, gradients 1.1-2.9e-3; B = 3,
 * T = 40: 2.2e-3, 1.1-3.1e-3); determinism. */
static void test_gru_bf16(size_t B, size_t T, size_t Cin) {
    const size_t H = 512;
    printf("gru: bf16 vs fp32 (B=%zu, T=%zu, Cin=%zu, H=%zu)\n", B, T, Cin, H);
    gru_ctx c = gru_make(B, T, Cin, H, 1);
    const size_t n[6] = {B * T * Cin, Cin * 3 * H, H * 3 * H, 3 * H, 3 * H, B * H};
    const char *name[6] = {"din", "dW", "dU", "db_in", "db_rec", "dh0"};
    float *g[6], *h[6], *h2[6];
    float *out = gru_run(g_nn[0], &c, g, 1);
    float *ob = gru_run(g_nn[1], &c, h, 1);
    check_bf16("forward", ob, out, B * T * H, 4e-3);
    char label[48];
    for (int k = 0; k < 6; k++) {
        snprintf(label, sizeof label, "%s", name[k]);
        check_bf16(label, h[k], g[k], n[k], 6e-3);
    }
    float *ob2 = gru_run(g_nn[1], &c, h2, 1);
    int same = !memcmp(ob, ob2, sizeof(float) * B * T * H);
    for (int k = 0; k < 6; k++)
        same &= !memcmp(h[k], h2[k], sizeof(float) * n[k]);
    CHECK(same, "two identical bf16 GRU runs differ");
    for (int k = 0; k < 6; k++)
        ddsp_free(g[k]), ddsp_free(h[k]), ddsp_free(h2[k]);
    ddsp_free(out), ddsp_free(ob), ddsp_free(ob2);
    gru_free_ctx(&c);
}

/* Precision names, bf16 rounding, the CPU decision, the thread setting. */
static void test_precision(void) {
    printf("precision: names, bf16 rounding, CPU, threads\n");
    ddsp_precision p;
    CHECK(ddsp_precision_parse("bf16", &p) == DDSP_OK && p == DDSP_PREC_BF16, "parse bf16");
    CHECK(ddsp_precision_parse("fp32", &p) == DDSP_OK && p == DDSP_PREC_FP32, "parse fp32");
    CHECK(ddsp_precision_parse("fp16", &p) == DDSP_ERR && strstr(ddsp_last_error(), "fp16"),
          "parse fp16 must fail naming it");
    CHECK(!strcmp(ddsp_precision_name(DDSP_PREC_BF16), "bf16"), "name");
    /* round to nearest even: 1 + 2^-8 is a tie (to 1), 1 + 3 2^-8 a tie (to 1 + 2^-6 ... up),
     * denormals to signed zero; 37 values: vector body and scalar tail agree */
    const float v[6] = {1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f,
                        -0x1p-130f, 3.0e38f};
    const ddsp_bf16 want[6] = {0x3f80, 0x3f80, 0x3f82, 0x3f81, 0x8000, 0x7f62};
    float many[37];
    ddsp_bf16 got[37];
    for (int i = 0; i < 37; i++)
        many[i] = v[i % 6];
    ddsp_bf16_from_f32(got, many, 37);
    int ok = 1;
    for (int i = 0; i < 37; i++)
        ok &= got[i] == want[i % 6];
    CHECK(ok, "bf16 rounding: got %04x %04x %04x %04x %04x %04x", got[0], got[1], got[2], got[3],
          got[4], got[5]);
    char msg[256];
    const int native = ddsp_nn_cpu_bf16();
    CHECK(ddsp_nn_precision_resolve(DDSP_PREC_FP32, msg, sizeof msg) == DDSP_PREC_FP32 && !msg[0],
          "fp32 resolves to fp32 silently");
    const ddsp_precision r = ddsp_nn_precision_resolve(DDSP_PREC_BF16, msg, sizeof msg);
    CHECK(native ? (r == DDSP_PREC_BF16 && !msg[0]) : (r == DDSP_PREC_FP32 && strstr(msg, "bf16")),
          "bf16 request on a CPU %s native bf16 gave %s (%s)", native ? "with" : "without",
          ddsp_precision_name(r), msg);
    CHECK(ddsp_nn_precision_default() == (native ? DDSP_PREC_BF16 : DDSP_PREC_FP32),
          "default precision");
    printf("  native bf16: %s; default %s; OpenBLAS core %s\n", native ? "yes" : "no",
           ddsp_precision_name(ddsp_nn_precision_default()), ddsp_nn_blas_core());
    const int nt = omp_get_max_threads();
    CHECK(ddsp_nn_threads_init(3) == 3 && omp_get_max_threads() == 3 &&
              openblas_get_num_threads() == 3 && ddsp_nn_threads() == 3,
          "threads_init(3): omp %d, openblas %d", omp_get_max_threads(), openblas_get_num_threads());
    ddsp_nn_threads_init(nt);
}

int main(void) {
    const double t0 = ddsp_now();
    ddsp_nn_threads_init(0); /* OMP_NUM_THREADS: 2 under ctest */
    test_precision();
    g_nn[0] = ddsp_nn_init(DDSP_PREC_FP32);
    g_nn[1] = ddsp_nn_init(DDSP_PREC_BF16);
    DDSP_ASSERT(g_nn[0] && g_nn[1], "%s", ddsp_last_error());
    test_dense_fd();
    test_dense_big();
    test_layernorm(1.0, 5, 7);
    test_layernorm(0.2, 5, 7);
    test_layernorm(0.2, 3, 37); /* C not a multiple of the 16 summing lanes */
    test_layernorm_big();
    test_gru_hand();
    test_gru_fd(2, 0);
    test_gru_fd(3, 1);
    test_gru_fd(1, 1);
    test_gru_fd(5, 1); /* 2 threads: 2 and 3 sequences, two products on one packed U */
    test_gru_fd(6, 0); /* 2 threads: 3 each (oneDNN); 1 thread: 6 */
    test_gru_directional(1);
    test_gru_directional(5);
    test_gru_big(4, 50);
    test_gru_big(1, 50);
    test_gru_big(7, 20);
    if (ddsp_nn_cpu_bf16()) {
        test_gru_bf16(4, 200, 512);
        test_gru_bf16(3, 40, 300); /* uneven split, Cin not a multiple of 16 */
    } else {
        printf("gru bf16: skipped (no native bf16 on this CPU)\n");
    }
    ddsp_nn_free(g_nn[0]);
    ddsp_nn_free(g_nn[1]);
    printf("nn tests: %.2f s\n", ddsp_now() - t0);
    return tu_finish("test_nn");
}
