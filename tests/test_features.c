/* Loudness (magenta compute_loudness v2) on signals with a known answer, frame alignment,
 * and resampling to the model rate (libsoxr). The f0 tracker has its own test (test_f0). */
#include "ddsp/audio.h"
#include "ddsp/features.h"
#include "ddsp/util.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

/* IEC 61672 A-weighting with librosa's constants, in dB (independent of loudness.c) */
static double a_db(double f) {
    const double f2 = f * f;
    const double ra = 12194.217 * 12194.217 * f2 * f2 /
                      ((f2 + 20.598997 * 20.598997) * (f2 + 12194.217 * 12194.217) *
                       sqrt((f2 + 107.65265 * 107.65265) * (f2 + 737.86223 * 737.86223)));
    return 20.0 * log10(ra) + 2.0;
}

int main(void) {
    const int sr = 16000, hop = 64;
    const size_t N = 16000;
    float *x = ddsp_alloc(sizeof(float) * N), *ld = ddsp_alloc(sizeof(float) * (N / hop + 1));
    ddsp_loudness_config lc;
    ddsp_loudness_config_default(&lc);
    CHECK(lc.n_fft == 512 && lc.range_db == 120.0 && lc.ref_db == 0.0, "defaults");
    CHECK(ddsp_feature_frames(64000, 64) == 1000 && ddsp_feature_frames(64001, 64) == 1001 &&
              ddsp_feature_frames(1, 64) == 1,
          "frame count is ceil(N / hop)");
    CHECK(fabs(a_db(1000.0)) < 0.01, "A-weighting is ~0 dB at 1 kHz: %g", a_db(1000.0));

    /* 1 kHz sine of amplitude 0.5 = bin 32 of 512 at 16 kHz: a periodic Hann puts A*n/4 in
     * bin 32 and A*n/8 in bins 31 and 33; the rest is 0. */
    const double A = 0.5;
    for (size_t i = 0; i < N; i++) x[i] = (float)(A * sin(2.0 * PI * 1000.0 * (double)i / sr));
    CHECK(ddsp_loudness(&lc, x, N, ld) == DDSP_OK, "%s", ddsp_last_error());
    const double fb = (double)sr / 512, c0 = A * 512 / 4, c1 = A * 512 / 8;
    const double P = (c0 * c0 * pow(10, a_db(32 * fb) / 10) +
                      c1 * c1 * (pow(10, a_db(31 * fb) / 10) + pow(10, a_db(33 * fb) / 10))) /
                     257.0;
    const double want = 10.0 * log10(P);
    double worst = 0.0;
    for (size_t f = 4; f < N / hop - 4; f++) worst = fmax(worst, fabs(ld[f] - want));
    CHECK(worst < 0.01, "1 kHz sine: worst |ld - %.4f dB| = %g dB over steady frames", want, worst);
    /* frame 0 is centred on sample 0: half its window is padding, so ~6 dB less power */
    CHECK(fabs(ld[0] - (want - 10.0 * log10(2.0))) < 0.5, "frame 0 (half window): %g vs %g",
          ld[0], want - 3.0103);

    /* amplitude x2 -> +6.02 dB */
    for (size_t i = 0; i < N; i++) x[i] *= 2.0f;
    CHECK(ddsp_loudness(&lc, x, N, ld) == DDSP_OK, "loudness");
    CHECK(fabs(ld[100] - (want + 20.0 * log10(2.0))) < 0.01, "x2 amplitude: %g", ld[100]);

    /* silence sits at the floor; ref_db shifts; range sets the floor */
    memset(x, 0, sizeof(float) * N);
    CHECK(ddsp_loudness(&lc, x, N, ld) == DDSP_OK, "loudness");
    int floor_ok = 1;
    for (size_t f = 0; f < N / hop; f++) floor_ok &= ld[f] == -120.0f;
    CHECK(floor_ok, "silence is -120 dB everywhere (got %g)", ld[0]);
    lc.range_db = 80.0;
    CHECK(ddsp_loudness(&lc, x, N, ld) == DDSP_OK && ld[10] == -80.0f, "80 dB range floor");

    /* alignment: a burst starting at sample 64*100. Frame i's window is samples
     * [64 i - 256, 64 i + 256): frame 96 ends at sample 6399 (silent), frame 97 holds 64
     * burst samples, frame 100 half a window (~ -3 dB), frame 104 on are full. */
    ddsp_loudness_config_default(&lc);
    for (size_t i = 6400; i < N; i++) x[i] = (float)(0.5 * sin(2.0 * PI * 1000.0 * (double)i / sr));
    CHECK(ddsp_loudness(&lc, x, N, ld) == DDSP_OK, "loudness");
    CHECK(ld[96] == -120.0f && ld[97] > -120.0f && fabs(ld[100] - (want - 3.0103)) < 0.6 &&
              fabs(ld[104] - want) < 0.01,
          "burst at frame 100: ld[96], ld[97], ld[100], ld[104] = %g %g %g %g", ld[96], ld[97],
          ld[100], ld[104]);

    /* bad configs */
    lc.n_fft = 511;
    CHECK(ddsp_loudness(&lc, x, N, ld) == DDSP_ERR && strstr(ddsp_last_error(), "n_fft"),
          "odd n_fft rejected: %s", ddsp_last_error());
    /* N = 1 works */
    ddsp_loudness_config_default(&lc);
    x[0] = 0.5f;
    CHECK(ddsp_loudness(&lc, x, 1, ld) == DDSP_OK && isfinite(ld[0]), "one sample");

    /* resampling: 1 kHz sine at 48 kHz and 8 kHz -> 16 kHz keeps length ratio, amplitude,
     * frequency (phase-coherent with the ideal 16 kHz sine away from the ends) */
    const int rates[2] = {48000, 8000};
    for (int r = 0; r < 2; r++) {
        const size_t n = (size_t)rates[r]; /* one second */
        ddsp_audio a = {.x = ddsp_alloc(sizeof(float) * n), .n = n, .sample_rate = rates[r],
                        .channels = 1};
        for (size_t i = 0; i < n; i++)
            a.x[i] = (float)(0.5 * sin(2.0 * PI * 1000.0 * (double)i / rates[r]));
        CHECK(ddsp_audio_resample(&a, 16000, "sine") == DDSP_OK, "%s", ddsp_last_error());
        CHECK(a.n == 16000 && a.sample_rate == 16000, "%d Hz: %zu samples", rates[r], a.n);
        double err = 0.0;
        for (size_t i = 1000; i + 1000 < a.n; i++)
            err = fmax(err, fabs(a.x[i] - 0.5 * sin(2.0 * PI * 1000.0 * (double)i / 16000)));
        CHECK(err < 1e-3, "%d Hz -> 16 kHz: max error %g vs the ideal sine", rates[r], err);
        ddsp_audio_free(&a);
    }
    ddsp_free(x);
    ddsp_free(ld);
    return tu_finish("test_features");
}
