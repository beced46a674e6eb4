/* DSP building blocks: the vectorised log against libm, frame pairs + complex FFT against
 * per-frame r2c/c2r, and framing / overlap-add being adjoint to each other. */
#include "ddsp/dsp.h"
#include "ddsp/util.h"
#include "testutil.h"
#include "util/fastmath.h"

#include <float.h>
#include <string.h>

static void check_logf(void) {
    double worst = 0.0;
    float at = 0.0f;
    for (float x = 1e-38f; x < 1e38f; x *= 1.0013f) {
        double want = log((double)x), got = ddsp_logf(x);
        double err = fabs(got - want) / fmax(fabs(want), 1.0);
        if (err > worst) worst = err, at = x;
    }
    double sub = fabs(ddsp_logf(1e-40f) - log((double)1e-40f)) / fabs(log(1e-40));
    printf("ddsp_logf: worst error %.3g (relative to max(|log x|, 1)) at x = %g; subnormal %.3g\n",
           worst, at, sub);
    CHECK(worst < 3e-7, "ddsp_logf error %.3g at %g", worst, at);
    CHECK(sub < 1e-6, "ddsp_logf subnormal error %.3g", sub);
    CHECK(ddsp_signf(0.0f) == 0.0f && ddsp_signf(-2.0f) == -1.0f && ddsp_signf(3.0f) == 1.0f,
          "ddsp_signf");
}

static void check_pairs(int n, int hop, size_t N, size_t nf) {
    const size_t K = (size_t)n / 2 + 1, np = (nf + 1) / 2;
    float *x = ddsp_alloc(sizeof(float) * N), *w = ddsp_alloc(sizeof(float) * (size_t)n);
    float *fr = ddsp_alloc(sizeof(float) * (size_t)n * nf);
    fftwf_complex *Xr = ddsp_alloc(sizeof(fftwf_complex) * K * nf);
    fftwf_complex *Xp = ddsp_alloc(sizeof(fftwf_complex) * K * nf);
    fftwf_complex *z = ddsp_alloc(sizeof(fftwf_complex) * (size_t)n * np);
    fftwf_complex *Z = ddsp_alloc(sizeof(fftwf_complex) * (size_t)n * np);
    for (size_t i = 0; i < N; i++) x[i] = (float)tu_uniform();
    ddsp_hann_periodic(w, n);
    /* forward: per-frame r2c vs pairs */
    ddsp_stft_frames(fr, x, N, n, hop, 0, nf, w);
    fftwf_plan r2c = ddsp_fft_plan_r2c(n, 1), c2r = ddsp_fft_plan_c2r(n, 1);
    /* new-array execution needs the planner's alignment: go through aligned scratch */
    fftwf_complex *tmpc = ddsp_alloc(sizeof(fftwf_complex) * K);
    for (size_t j = 0; j < nf; j++) {
        fftwf_execute_dft_r2c(r2c, fr + j * n, tmpc);
        memcpy(Xr + j * K, tmpc, sizeof(fftwf_complex) * K);
    }
    ddsp_stft_frame_pairs(z, x, N, n, hop, 0, nf, w);
    fftwf_execute_dft(ddsp_fft_plan_c2c(n, (int)np, FFTW_FORWARD), z, Z);
    ddsp_stft_pair_split(Xp, Z, n, nf);
    double err = 0.0, mag = 0.0;
    for (size_t i = 0; i < K * nf; i++) {
        err = fmax(err, fabs(Xp[i][0] - Xr[i][0]) + fabs(Xp[i][1] - Xr[i][1]));
        mag = fmax(mag, fabs(Xr[i][0]) + fabs(Xr[i][1]));
    }
    CHECK(err <= 1e-5 * mag, "pair split n=%d nf=%zu: err %.3g (max %.3g)", n, nf, err, mag);
    /* backward: per-frame c2r + overlap-add vs join + c2c + pair overlap-add */
    float *y1 = ddsp_alloc(sizeof(float) * N), *y2 = ddsp_alloc(sizeof(float) * N);
    memcpy(Xp, Xr, sizeof(fftwf_complex) * K * nf); /* c2r destroys its input */
    ddsp_stft_pair_join(z, Xr, n, nf);
    for (size_t j = 0; j < nf; j++) {
        memcpy(tmpc, Xp + j * K, sizeof(fftwf_complex) * K);
        fftwf_execute_dft_c2r(c2r, tmpc, fr + j * n);
    }
    ddsp_free(tmpc);
    ddsp_stft_overlap_add(y1, N, fr, n, hop, 0, nf, w);
    fftwf_execute_dft(ddsp_fft_plan_c2c(n, (int)np, FFTW_BACKWARD), z, Z);
    ddsp_stft_overlap_add_pairs(y2, N, Z, n, hop, 0, nf, w);
    err = 0.0, mag = 0.0;
    for (size_t i = 0; i < N; i++) err = fmax(err, fabs(y1[i] - y2[i])), mag = fmax(mag, fabs(y1[i]));
    CHECK(err <= 1e-5 * mag, "pair join n=%d nf=%zu: err %.3g (max %.3g)", n, nf, err, mag);
    /* adjointness: <frames(x), F> == <x, overlap_add(F)> */
    for (size_t i = 0; i < (size_t)n * nf; i++) fr[i] = (float)tu_uniform();
    float *fx = ddsp_alloc(sizeof(float) * (size_t)n * nf);
    ddsp_stft_frames(fx, x, N, n, hop, 0, nf, w);
    memset(y1, 0, sizeof(float) * N);
    ddsp_stft_overlap_add(y1, N, fr, n, hop, 0, nf, w);
    double a = 0.0, b = 0.0;
    for (size_t i = 0; i < (size_t)n * nf; i++) a += (double)fx[i] * fr[i];
    for (size_t i = 0; i < N; i++) b += (double)x[i] * y1[i];
    CHECK(tu_rel(a, b) < 1e-5, "framing/overlap-add not adjoint: %.9g vs %.9g", a, b);
    ddsp_free(x), ddsp_free(w), ddsp_free(fr), ddsp_free(Xr), ddsp_free(Xp), ddsp_free(z);
    ddsp_free(Z), ddsp_free(y1), ddsp_free(y2), ddsp_free(fx);
}

int main(void) {
    check_logf();
    CHECK(ddsp_stft_nframes(64000, 512) == 125 && ddsp_stft_nframes(64001, 512) == 126,
          "frame count");
    check_pairs(64, 16, 300, 19);   /* odd frame count, last frames padded */
    check_pairs(256, 64, 1000, 16); /* even */
    check_pairs(2048, 512, 5000, 10);
    ddsp_fft_cleanup();
    return tu_finish("test_dsp");
}
