/* nn layers: every backward against central finite differences of a double forward (scalar
 * loss L = sum out * R), the optimised float layers against the plain double references at
 * realistic sizes, the GRU gate equations against hand-computed values, column-block inputs
 * against concatenated copies, and determinism. */
#include "ddsp/nn.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    ddsp_dense_backward(gin, gW, gb, R, in, W, c.M, c.Cin, c.Cout);
    for (size_t i = 0; i < c.Cout; i++)
        gb[i] -= 2.0f;
    check_f("dense din", gin, fin, nin, TOL_F32);
    check_f("dense dW", gW, fW, nw, TOL_F32);
    check_f("dense db (accumulated)", gb, fb, c.Cout, TOL_F32);
    ddsp_dense_forward(out, in, W, b, c.M, c.Cin, c.Cout);
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

/* optimised vs reference at a realistic size, and 3 column blocks vs one concatenated input */
static void test_dense_big(void) {
    const size_t M = 256, Cin = 512, Cout = 512;
    printf("dense: optimised vs reference (M=%zu, %zu -> %zu)\n", M, Cin, Cout);
    double *in = rnd(M * Cin, 1.0), *W = rnd(Cin * Cout, 0.06), *b = rnd(Cout, 0.1);
    double *dout = rnd(M * Cout, 1.0), *out = zd(M * Cout);
    double *din = zd(M * Cin), *dW = zd(Cin * Cout), *db = zd(Cout);
    ddsp_dense_forward_ref(out, in, W, b, M, Cin, Cout);
    ddsp_dense_backward_ref(din, dW, db, dout, in, W, M, Cin, Cout);
    float *fin = f32(in, M * Cin), *fW = f32(W, Cin * Cout), *fb = f32(b, Cout);
    float *fdout = f32(dout, M * Cout), *fout = zf(M * Cout);
    float *gin = zf(M * Cin), *gW = zf(Cin * Cout), *gb = zf(Cout);
    ddsp_dense_forward(fout, fin, fW, fb, M, Cin, Cout);
    ddsp_dense_backward(gin, gW, gb, fdout, fin, fW, M, Cin, Cout);
    check_f("forward", fout, out, M * Cout, 1e-5);
    check_f("din", gin, din, M * Cin, 1e-5);
    check_f("dW", gW, dW, Cin * Cout, 1e-5);
    check_f("db", gb, db, Cout, 1e-5);

    /* blocks of 100 | 300 | 112 columns */
    const size_t Ck[3] = {100, 300, 112};
    float *blk[3], *dblk[3];
    for (int k = 0, off = 0; k < 3; off += (int)Ck[k], k++) {
        blk[k] = zf(M * Ck[k]), dblk[k] = zf(M * Ck[k]);
        for (size_t m = 0; m < M; m++)
            memcpy(blk[k] + m * Ck[k], fin + m * Cin + off, sizeof(float) * Ck[k]);
    }
    float *cout_ = zf(M * Cout), *cW = zf(Cin * Cout), *cb = zf(Cout);
    ddsp_dense_forward_cat(cout_, 3, (const float *const *)blk, Ck, fW, fb, M, Cout);
    ddsp_dense_backward_cat(dblk, cW, cb, fdout, 3, (const float *const *)blk, Ck, fW, M, Cout);
    check_f("cat forward", cout_, out, M * Cout, 1e-5);
    check_f("cat dW", cW, dW, Cin * Cout, 1e-5);
    CHECK(!memcmp(cb, gb, sizeof(float) * Cout), "cat db differs from plain db");
    double e = 0.0;
    for (int k = 0, off = 0; k < 3; off += (int)Ck[k], k++)
        for (size_t m = 0; m < M; m++)
            for (size_t i = 0; i < Ck[k]; i++) {
                const double d = dblk[k][m * Ck[k] + i] - din[m * Cin + off + i];
                e = fabs(d) > e ? fabs(d) : e;
            }
    printf("  %-34s max abs %.2e\n", "cat din", e);
    CHECK(e <= 1e-5, "cat din max abs error %.3g", e);
    for (int k = 0; k < 3; k++)
        ddsp_free(blk[k]), ddsp_free(dblk[k]);
    ddsp_free(cout_), ddsp_free(cW), ddsp_free(cb);
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
        ddsp_layernorm_leaky_forward(out, mean, rstd, in, gm, bt, 1e-3f, (float)slope, M, C);
        check_f("forward vs ref", out, c.out, n, 1e-6);
        memcpy(gin, R, sizeof(float) * n);
        ddsp_layernorm_leaky_backward(gin, gg, gb, gin, out, in, mean, rstd, gm, (float)slope, M,
                                      C);
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
        ddsp_layernorm_leaky_forward(o, mean, rstd, fin, fg, fb, 1e-3f, 0.2f, M, C);
        ddsp_layernorm_leaky_backward(gi, gg, gb, fd, o, fin, mean, rstd, fg, 0.2f, M, C);
        res[run][0] = o, res[run][1] = gi, res[run][2] = gg, res[run][3] = gb;
        ddsp_free(mean), ddsp_free(rstd);
    }
    omp_set_num_threads(nt);
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

/* Optimised float forward + backward of c with dout = R: out, then grads in g[0..5] =
 * din, dW, dU, db_in, db_rec, dh0 (caller frees all). */
static float *gru_run_f32(const gru_ctx *c, float *g[6]) {
    const size_t B = c->B, T = c->T, Cin = c->Cin, H = c->H;
    float *x = f32(c->x, B * T * Cin), *W = f32(c->W, Cin * 3 * H), *U = f32(c->U, H * 3 * H);
    float *bi = f32(c->bi, 3 * H), *br = f32(c->br, 3 * H), *R = f32(c->R, B * T * H);
    float *h0 = c->h0 ? f32(c->h0, B * H) : NULL, *out = zf(B * T * H);
    void *ws = ddsp_alloc(ddsp_gru_workspace_size(B, T, H));
    g[0] = zf(B * T * Cin), g[1] = zf(Cin * 3 * H), g[2] = zf(H * 3 * H);
    g[3] = zf(3 * H), g[4] = zf(3 * H), g[5] = zf(B * H);
    ddsp_gru_forward(out, ws, x, W, U, bi, br, h0, B, T, Cin, H);
    ddsp_gru_backward(g[0], g[1], g[2], g[3], g[4], g[5], R, ws, x, W, U, h0, out, B, T, Cin, H);
    ddsp_free(x), ddsp_free(W), ddsp_free(U), ddsp_free(bi), ddsp_free(br), ddsp_free(R);
    ddsp_free(h0), ddsp_free(ws);
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
    float *out = gru_run_f32(&c, g);
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
static double gru_loss_f32(const float *x, const float *W, const float *U, const float *bi,
                           const float *br, const float *h0, const float *R, float *out, void *ws,
                           size_t B, size_t T, size_t Cin, size_t H) {
    ddsp_gru_forward(out, ws, x, W, U, bi, br, h0, B, T, Cin, H);
    double s = 0.0;
    for (size_t i = 0; i < B * T * H; i++)
        s += (double)out[i] * R[i];
    return s;
}

static void test_gru_directional(size_t B) {
    const size_t T = 30, Cin = 16, H = 24;
    printf("gru: float directional derivative (B=%zu, T=%zu, Cin=%zu, H=%zu)\n", B, T, Cin, H);
    gru_ctx c = gru_make(B, T, Cin, H, 1);
    float *g[6];
    float *out = gru_run_f32(&c, g);
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
    void *ws = ddsp_alloc(ddsp_gru_workspace_size(B, T, H));
    float *R = f32(c.R, B * T * H);
    const double e = 1.0 / 64; /* |e v| = 1/64: truncation ~4e-6, float noise ~1e-5 */
    for (int s = 0; s < 2; s++) {
        float *q[6];
        for (int k = 0; k < 6; k++) {
            q[k] = zf(n[k]);
            for (size_t i = 0; i < n[k]; i++)
                q[k][i] = (float)(p[k][i] + (s ? -e : e) * v[k][i]);
        }
        L[s] = gru_loss_f32(q[0], q[1], q[2], q[3], q[4], q[5], R, out, ws, B, T, Cin, H);
        for (int k = 0; k < 6; k++)
            ddsp_free(q[k]);
    }
    const double fdv = (L[0] - L[1]) / (2 * e), rel = tu_rel(gv, fdv);
    printf("  <g, v> %.8g  float FD %.8g  rel %.2e\n", gv, fdv, rel);
    CHECK(rel <= 1e-4, "float directional derivative: <g,v> %.8g vs FD %.8g", gv, fdv);
    for (int k = 0; k < 6; k++)
        ddsp_free(v[k]), ddsp_free(g[k]);
    ddsp_free(out), ddsp_free(ws), ddsp_free(R);
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
    float out[2];
    void *ws = ddsp_alloc(ddsp_gru_workspace_size(1, 2, 1));
    ddsp_gru_forward(out, ws, x, W, U, bi, br, NULL, 1, 2, 1, 1);
    for (int t = 0; t < 2; t++)
        CHECK(fabs(out[t] - want0[t]) <= 2e-7, "h0=0: h[%d] = %.9f, want %.9f", t, out[t],
              want0[t]);
    printf("  h0=0: %.9f %.9f (want %.9f %.9f)\n", out[0], out[1], want0[0], want0[1]);
    ddsp_gru_forward(out, ws, x, W, U, bi, br, &h0, 1, 2, 1, 1);
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
    ddsp_gru_forward(out, ws, x, W, U, bi, br, &h0, 1, 2, 1, 1);
    CHECK(fabs(out[0] - h0) <= 1e-7 && fabs(out[1] - h0) <= 1e-7,
          "z=1 must keep the state: %.9g %.9g", out[0], out[1]);
    bi[1] = -30.0f; /* z = 0: h' = n = tanh(x W_n + b_in_n + r (h U_n + b_rec_n)) */
    ddsp_gru_forward(out, ws, x, W, U, bi, br, &h0, 1, 2, 1, 1);
    const double r = 1.0 / (1.0 + exp(-(0.3 * 0.5 + 0.1 + 0.7 * 0.4 - 0.3)));
    const double n = tanh(0.9 * 0.5 + 0.05 + r * (-0.4 * 0.4 + 0.25));
    CHECK(fabs(out[0] - n) <= 2e-7, "z=0 must give n: %.9f vs %.9f", out[0], n);
    ddsp_free(ws);
}

/* Optimised vs reference at realistic sizes, cat vs plain input, repeat determinism. */
static void test_gru_big(size_t B, size_t T) {
    const size_t Cin = 512, H = 512;
    printf("gru: optimised vs reference (B=%zu, T=%zu, Cin=%zu, H=%zu)\n", B, T, Cin, H);
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
    float *out = gru_run_f32(&c, g);
    check_f("forward", out, c.out, B * T * H, 1e-5);
    for (int k = 0; k < 5; k++)
        check_f(name[k], g[k], ref[k], n[k], 1e-5);
    float *out2 = gru_run_f32(&c, g2);
    int same = !memcmp(out, out2, sizeof(float) * B * T * H);
    for (int k = 0; k < 6; k++)
        same &= !memcmp(g[k], g2[k], sizeof(float) * (k < 5 ? n[k] : B * H));
    CHECK(same, "two identical GRU runs differ");
    for (int k = 0; k < 6; k++)
        ddsp_free(g2[k]);
    ddsp_free(out2);
    /* across thread counts only OpenBLAS may change the rounding: reported, not required */
    const int nt = omp_get_max_threads();
    omp_set_num_threads(nt > 1 ? 1 : 2);
    out2 = gru_run_f32(&c, g2);
    omp_set_num_threads(nt);
    same = !memcmp(out, out2, sizeof(float) * B * T * H);
    for (int k = 0; k < 6; k++)
        same &= !memcmp(g[k], g2[k], sizeof(float) * (k < 5 ? n[k] : B * H));
    printf("  1 vs 2 threads: %s\n", same ? "bitwise identical" : "differ (OpenBLAS rounding)");

    /* input as two column blocks (200 | 312) */
    const size_t Ck[2] = {200, 312};
    float *x = f32(c.x, B * T * Cin), *blk[2], *dblk[2];
    for (int k = 0, off = 0; k < 2; off += (int)Ck[k], k++) {
        blk[k] = zf(B * T * Ck[k]), dblk[k] = zf(B * T * Ck[k]);
        for (size_t m = 0; m < B * T; m++)
            memcpy(blk[k] + m * Ck[k], x + m * Cin + off, sizeof(float) * Ck[k]);
    }
    float *W = f32(c.W, Cin * 3 * H), *U = f32(c.U, H * 3 * H), *bi = f32(c.bi, 3 * H);
    float *br = f32(c.br, 3 * H), *R = f32(c.R, B * T * H), *o3 = zf(B * T * H);
    float *dW = zf(Cin * 3 * H), *dU = zf(H * 3 * H), *dbi = zf(3 * H), *dbr = zf(3 * H);
    void *ws = ddsp_alloc(ddsp_gru_workspace_size(B, T, H));
    ddsp_gru_forward_cat(o3, ws, 2, (const float *const *)blk, Ck, W, U, bi, br, NULL, B, T, H);
    ddsp_gru_backward_cat(dblk, dW, dU, dbi, dbr, NULL, R, ws, 2, (const float *const *)blk, Ck, W,
                          U, NULL, o3, B, T, H);
    check_f("cat forward", o3, c.out, B * T * H, 1e-5);
    check_f("cat dW", dW, ref[1], n[1], 1e-5);
    check_f("cat dU", dU, ref[2], n[2], 1e-5);
    double e = 0.0, den = 0.0;
    for (int k = 0, off = 0; k < 2; off += (int)Ck[k], k++)
        for (size_t m = 0; m < B * T; m++)
            for (size_t i = 0; i < Ck[k]; i++) {
                const double w = ref[0][m * Cin + off + i], d = dblk[k][m * Ck[k] + i] - w;
                e += d * d, den += w * w;
            }
    printf("  %-34s rel L2 %.2e\n", "cat din", sqrt(e / den));
    CHECK(sqrt(e / den) <= 1e-5, "cat din rel L2 %.3g", sqrt(e / den));
    for (int k = 0; k < 2; k++)
        ddsp_free(blk[k]), ddsp_free(dblk[k]);
    ddsp_free(x), ddsp_free(W), ddsp_free(U), ddsp_free(bi), ddsp_free(br), ddsp_free(R);
    ddsp_free(o3), ddsp_free(dW), ddsp_free(dU), ddsp_free(dbi), ddsp_free(dbr), ddsp_free(ws);
    for (int k = 0; k < 6; k++)
        ddsp_free(g[k]), ddsp_free(g2[k]);
    for (int k = 0; k < 5; k++)
        ddsp_free(ref[k]);
    ddsp_free(out), ddsp_free(out2);
    gru_free_ctx(&c);
}

/* The BLAS hint: silent without OPENBLAS_CORETYPE; with a forced non-AVX-512 core on an
 * AVX-512 CPU it names the core and the variable. */
static void test_blas_advice(void) {
    char msg[512] = "";
    const char *core = ddsp_nn_blas_core();
    CHECK(core && *core, "no OpenBLAS core name");
    char *saved = getenv("OPENBLAS_CORETYPE") ? strdup(getenv("OPENBLAS_CORETYPE")) : NULL;
    unsetenv("OPENBLAS_CORETYPE");
    CHECK(ddsp_nn_blas_advice(msg, sizeof msg) == 0, "advice without OPENBLAS_CORETYPE: %s", msg);
    setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    const int wide = !strcasecmp(core, "SkylakeX") || !strcasecmp(core, "Cooperlake") ||
                     !strcasecmp(core, "SapphireRapids");
    __builtin_cpu_init();
    const int expect = !wide && __builtin_cpu_supports("avx512f");
    const int got = ddsp_nn_blas_advice(msg, sizeof msg);
    CHECK(got == expect, "advice %d, expected %d (core %s)", got, expect, core);
    if (got) CHECK(strstr(msg, core) && strstr(msg, "OPENBLAS_CORETYPE=Haswell"), "hint: %s", msg);
    if (saved) setenv("OPENBLAS_CORETYPE", saved, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    free(saved);
    printf("blas core %s%s%s\n", core, got ? "; hint: " : "", got ? msg : "");
}

int main(void) {
    const double t0 = ddsp_now();
    test_blas_advice();
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
    test_gru_directional(1);
    test_gru_directional(5); /* a full group of 4 sequences and one more */
    test_gru_big(4, 50);
    test_gru_big(1, 50);
    printf("nn tests: %.2f s\n", ddsp_now() - t0);
    return tu_finish("test_nn");
}
