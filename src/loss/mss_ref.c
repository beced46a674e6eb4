/* Plain reference of the MSS loss and gradient: one frame at a time, no blocking, no
 * threads, libm log, all in double (window, FFT, magnitudes, adjoint). A frame of zeros has
 * the spectrum 0 exactly here, as in the float64 PyTorch reference. Tests check the
 * optimised ddsp_mss_backward against it; it is not used by training. */
#include "ddsp/dsp.h"
#include "ddsp/loss.h"
#include "ddsp/util.h"

#include <math.h>
#include <string.h>

/* fr (n) = x[start + m] * w[m], zero past N */
static void frame(double *fr, const float *x, size_t N, int n, size_t start, const double *w) {
    for (int m = 0; m < n; m++)
        fr[m] = start + (size_t)m < N ? (double)x[start + (size_t)m] * w[m] : 0.0;
}

static double sgn(double x) {
    return (double)(x > 0) - (double)(x < 0);
}

int ddsp_mss_reference(const ddsp_mss_config *c, ddsp_mss_value *out, float *d_estimate,
                       const float *target, const float *estimate, size_t B, size_t N) {
    if (ddsp_mss_config_check(c) != DDSP_OK) return DDSP_ERR;
    memset(out, 0, sizeof *out);
    if (d_estimate) memset(d_estimate, 0, sizeof(float) * B * N);
    int nmax = 0;
    for (int s = 0; s < c->n_scales; s++) nmax = c->scales[s] > nmax ? c->scales[s] : nmax;
    double *w = ddsp_alloc(sizeof(double) * (size_t)nmax);
    double *fr = ddsp_alloc(sizeof(double) * (size_t)nmax);
    fftw_complex *Xt = ddsp_alloc(sizeof(fftw_complex) * (size_t)(nmax / 2 + 1));
    fftw_complex *Xe = ddsp_alloc(sizeof(fftw_complex) * (size_t)(nmax / 2 + 1));
    double *g = ddsp_alloc(sizeof(double) * N);
    if (!w || !fr || !Xt || !Xe || !g) {
        ddsp_free(w), ddsp_free(fr), ddsp_free(Xt), ddsp_free(Xe), ddsp_free(g);
        return ddsp_error("out of memory in MSS reference");
    }
    const double eps = DDSP_MSS_LOG_EPS;
    for (int s = 0; s < c->n_scales; s++) {
        const int n = c->scales[s], hop = ddsp_mss_hop(c, n), K = n / 2 + 1;
        const size_t F = ddsp_stft_nframes(N, hop);
        const double mean = 1.0 / ((double)B * (double)F * (double)K);
        fftw_plan r2c = ddsp_fft_plan_r2c_f64(n, 1), c2r = ddsp_fft_plan_c2r_f64(n, 1);
        ddsp_hann_periodic_f64(w, n);
        double acc = 0.0;
        for (size_t b = 0; b < B; b++) {
            memset(g, 0, sizeof(double) * N);
            for (size_t f = 0; f < F; f++) {
                frame(fr, target + b * N, N, n, f * (size_t)hop, w);
                fftw_execute_dft_r2c(r2c, fr, Xt);
                frame(fr, estimate + b * N, N, n, f * (size_t)hop, w);
                fftw_execute_dft_r2c(r2c, fr, Xe);
                for (int k = 0; k < K; k++) {
                    double st = hypot(Xt[k][0], Xt[k][1]), se = hypot(Xe[k][0], Xe[k][1]);
                    double ds;
                    if (c->type == DDSP_MSS_L2) {
                        acc += 0.5 * (se - st) * (se - st);
                        ds = se - st;
                    } else {
                        acc += mean * fabs(se - st);
                        ds = mean * sgn(se - st);
                        if (c->type == DDSP_MSS_L1LOG) {
                            double lt, le, dle;
                            if (c->log_mode == DDSP_LOG_ADD) {
                                lt = log(st + eps), le = log(se + eps), dle = 1.0 / (se + eps);
                            } else {
                                lt = st > 0 ? log(st) : log(eps);
                                le = se > 0 ? log(se) : log(eps);
                                dle = se > 0 ? 1.0 / se : 0.0;
                            }
                            acc += mean * fabs(le - lt);
                            ds += mean * sgn(le - lt) * dle;
                        }
                    }
                    double wk = (k == 0 || k == K - 1) ? 1.0 : 0.5;
                    double r = se > 0 ? ds * wk / se : 0.0;
                    Xe[k][0] *= r;
                    Xe[k][1] *= r;
                }
                if (d_estimate) {
                    fftw_execute_dft_c2r(c2r, Xe, fr);
                    size_t start = f * (size_t)hop;
                    for (int mm = 0; mm < n && start + (size_t)mm < N; mm++)
                        g[start + (size_t)mm] += fr[mm] * w[mm];
                }
            }
            if (d_estimate)
                for (size_t i = 0; i < N; i++) d_estimate[b * N + i] += (float)g[i];
        }
        out->per_scale[s] = acc;
        out->total += acc;
    }
    ddsp_free(w), ddsp_free(fr), ddsp_free(Xt), ddsp_free(Xe), ddsp_free(g);
    return DDSP_OK;
}
