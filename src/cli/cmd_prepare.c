/* `ddsp prepare INPUT... --out DATASET.h5`: recordings -> training dataset (see ddsp/data.h).
 * Runs as one process or under mpirun/srun, ranks splitting the files. */
#include "cli/cli.h"
#include "ddsp/data.h"
#include "ddsp/dist.h"
#include "ddsp/dsp.h"
#include "ddsp/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ddsp prepare INPUT... --out DATASET.h5 [options]\n"
    "\n"
    "Cut recordings into training examples with their f0, f0 confidence and A-weighted\n"
    "loudness, and write one HDF5 dataset. INPUTs are audio files (any format libsndfile\n"
    "reads) and/or folders (searched recursively for .wav .flac .aiff .ogg .mp3 ...).\n"
    "Audio is downmixed to mono and resampled to the model rate. Under mpirun/srun the ranks\n"
    "split the files and write one file together; the content does not depend on the number\n"
    "of ranks.\n"
    "\n"
    "options:\n"
    "  --out FILE.h5          output dataset (required); written to FILE.h5.tmp, then renamed\n"
    "  --force                replace FILE.h5 if it exists\n"
    "  --example-secs S       example length, default 4\n"
    "  --hop-secs S           distance between example starts, default 1\n"
    "  --sample-rate HZ       model sample rate, default 16000\n"
    "  --frame-rate HZ        feature frames per second, default 250 (hop 64 at 16 kHz)\n"
    "  --valid-fraction X     share of each file's examples held out, default 0.1; train\n"
    "                         examples never overlap validation audio\n"
    "  --f0-min HZ, --f0-max HZ   f0 search range, default 30..2000\n"
    "  --ld-range DB          loudness floor -DB, default 120 (ddsp<2.0's LD_RANGE)\n"
    "  --strict               stop at the first unreadable or too-short input (default:\n"
    "                         report it and skip it)\n"
    "exit status: 0 ok, 1 bad input or failure (nothing written), 2 usage error.\n";

static int usage_error(const char *what) {
    cli_fail("prepare", "%s (see ddsp prepare --help)", what);
    return EXIT_USAGE;
}

int cmd_prepare(int argc, char **argv) {
    ddsp_prepare_config c;
    ddsp_prepare_config_default(&c);
    const char *out = NULL, *v;
    const char **inputs = calloc((size_t)argc + 1, sizeof(char *));
    int n_in = 0;
    if (!inputs) return EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        size_t z;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(HELP, stdout);
            free(inputs);
            return EXIT_OK;
        }
#define OPT(name) ((r = cli_opt(argc, argv, &i, name, &v)) != 0)
        if (OPT("--out")) {
            if (r < 0) goto usage;
            out = v;
        } else if (OPT("--example-secs")) {
            if (r < 0 || cli_parse_double(a, v, &c.example_secs, 1e-3, 3600.0)) goto usage;
        } else if (OPT("--hop-secs")) {
            if (r < 0 || cli_parse_double(a, v, &c.hop_secs, 1e-3, 3600.0)) goto usage;
        } else if (OPT("--valid-fraction")) {
            if (r < 0 || cli_parse_double(a, v, &c.valid_fraction, 0.0, 0.99)) goto usage;
        } else if (OPT("--sample-rate")) {
            if (r < 0 || cli_parse_size(a, v, &z, 1000, 384000)) goto usage;
            c.sample_rate = (int)z;
        } else if (OPT("--frame-rate")) {
            if (r < 0 || cli_parse_size(a, v, &z, 1, 10000)) goto usage;
            c.frame_rate = (int)z;
        } else if (OPT("--f0-min")) {
            if (r < 0 || cli_parse_double(a, v, &c.f0.fmin, 1.0, 20000.0)) goto usage;
        } else if (OPT("--f0-max")) {
            if (r < 0 || cli_parse_double(a, v, &c.f0.fmax, 1.0, 20000.0)) goto usage;
        } else if (OPT("--ld-range")) {
            if (r < 0 || cli_parse_double(a, v, &c.loudness.range_db, 1.0, 300.0)) goto usage;
        } else if (!strcmp(a, "--strict")) {
            c.strict = 1;
        } else if (!strcmp(a, "--force")) {
            c.force = 1;
        } else if (a[0] == '-' && a[1] == '-') {
            char m[600];
            snprintf(m, sizeof m, "unknown option '%.500s'", a);
            free(inputs);
            return usage_error(m);
        } else {
            inputs[n_in++] = a;
        }
#undef OPT
    }
    if (!out) {
        free(inputs);
        return usage_error("--out DATASET.h5 is required");
    }
    if (n_in == 0) {
        free(inputs);
        return usage_error("expected at least one INPUT file or folder");
    }
    if (ddsp_prepare_config_check(&c)) {
        cli_fail("prepare", "%s", ddsp_last_error());
        free(inputs);
        return EXIT_USAGE;
    }

    ddsp_dist d;
    if (ddsp_dist_init(&d, &argc, &argv)) {
        cli_fail("prepare", "%s", ddsp_last_error());
        free(inputs);
        return EXIT_FAIL;
    }
    ddsp_h5_quiet();
    const double t0 = ddsp_now();
    ddsp_prepare_stats st;
    int rc = ddsp_prepare(&c, inputs, n_in, out, &d, &st);
    if (rc != DDSP_OK) {
        if (d.rank == 0 || strncmp(ddsp_last_error(), "another rank", 12))
            cli_fail("prepare", "%s", ddsp_last_error());
    } else if (d.rank == 0) {
        printf("wrote %s: %lld train + %lld validation examples of %g s from %lld file(s) "
               "(%.1f s of audio) in %.1f s",
               out, (long long)st.n_train, (long long)st.n_valid, c.example_secs,
               (long long)st.files_ok, st.seconds_in, ddsp_now() - t0);
        if (st.files_bad || st.files_short)
            printf("; skipped %lld unreadable and %lld too-short file(s)",
                   (long long)st.files_bad, (long long)st.files_short);
        printf("\n");
    }
    free(inputs);
    ddsp_fft_cleanup();
    ddsp_dist_finalize();
    return rc == DDSP_OK ? EXIT_OK : EXIT_FAIL;
usage:
    free(inputs);
    return EXIT_USAGE;
}
