/* f0 tracker + loudness speed: seconds of one thread per 60 s of audio (best of R runs, plans made
 * before timing). One call is single-threaded; concurrent calls on different signals scale
 * with cores, so this is the per-core cost.
 *
 * usage: bench_f0 [AUDIO_FILE ...] [--rounds R]     (default: data/violin.wav, 5 rounds)
 */
#include "ddsp/audio.h"
#include "ddsp/features.h"
#include "ddsp/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bench_file(const char *path, int rounds) {
    ddsp_audio a;
    if (ddsp_audio_read(path, &a)) {
        fprintf(stderr, "%s\n", ddsp_last_error());
        return 1;
    }
    ddsp_f0_config c;
    ddsp_f0_config_default(&c);
    c.sample_rate = a.sample_rate;
    const size_t F = ddsp_feature_frames(a.n, c.hop);
    float *f0 = ddsp_alloc(sizeof(float) * F), *conf = ddsp_alloc(sizeof(float) * F);
    int rc = f0 && conf ? ddsp_f0_track(&c, a.x, a.n, f0, conf) : DDSP_ERR; /* plans */
    double best = 1e30;
    for (int r = 0; r < rounds && rc == DDSP_OK; r++) {
        const double t = ddsp_now();
        rc = ddsp_f0_track(&c, a.x, a.n, f0, conf);
        const double dt = ddsp_now() - t;
        best = dt < best ? dt : best;
    }
    /* loudness (A-weighted, n_fft 512) on the same signal */
    ddsp_loudness_config lc;
    ddsp_loudness_config_default(&lc);
    lc.sample_rate = a.sample_rate;
    double best_ld = 1e30;
    for (int r = 0; r <= rounds && rc == DDSP_OK; r++) {
        const double t = ddsp_now();
        rc = ddsp_loudness(&lc, a.x, a.n, f0);
        const double dt = ddsp_now() - t;
        if (r > 0) best_ld = dt < best_ld ? dt : best_ld; /* round 0 makes the plan */
    }
    if (rc == DDSP_OK) {
        const double secs = (double)a.n / a.sample_rate;
        printf("%-24s %7.1f s audio, %zu frames: f0 %.3f s, loudness %.3f s (best of %d) = "
               "%.3f s per 60 s of audio for both, %.0fx real time\n",
               path, secs, F, best, best_ld, rounds, (best + best_ld) * 60.0 / secs,
               secs / (best + best_ld));
    } else {
        fprintf(stderr, "%s: %s\n", path, ddsp_last_error());
    }
    ddsp_free(f0);
    ddsp_free(conf);
    ddsp_audio_free(&a);
    return rc == DDSP_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    int rounds = 5, nfiles = 0, fail = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds")) {
            i++;
            continue;
        }
        fail |= bench_file(argv[i], rounds);
        nfiles++;
    }
    if (!nfiles) fail |= bench_file("data/violin.wav", rounds);
    return fail;
}
