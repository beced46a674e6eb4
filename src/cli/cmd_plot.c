/* `ddsp plot CKPT.h5 --out FIG.png`: a checkpoint's monitoring spectrograms (target vs
 * reconstruction) and its training / validation loss curves on one PNG page.
 * `ddsp plot --audio A.wav B.wav --out FIG.png`: log-magnitude spectrograms of audio files
 * side by side. The figures are made in src/plot; this file parses options. */
#include "cli/cli.h"
#include "ddsp/plot.h"
#include "ddsp/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ddsp plot CKPT.h5|RUN_DIR --out FIG.png [options]\n"
    "       ddsp plot --audio A.wav [B.wav ...] --out FIG.png [options]\n"
    "       ddsp plot LANDSCAPE.h5|J.h5 --out FIG.png   (from ddsp landscape / jacobian)\n"
    "\n"
    "Draws a PNG. From a checkpoint: the monitoring examples' target and reconstruction\n"
    "log-magnitude spectrograms (/spectrograms) on one colour scale, and the training and\n"
    "validation loss curves (/history). With --audio: the spectrograms of up to 4 audio\n"
    "files side by side (any format libsndfile reads, any sample rate; stereo is downmixed).\n"
    "Given a run folder, plots its newest checkpoint. A landscape file gives one curve (1-D)\n"
    "or heatmap (2-D) per distance, each divided by the target's distance to silence; a\n"
    "Jacobian file its singular value spectrum.\n"
    "Levels are dBFS: 0 dB is the peak of a full-scale sine.\n"
    "\n"
    "options:\n"
    "  --out FIG.png       the PNG to write (required; replaced atomically)\n"
    "  --examples N        checkpoint: at most N monitoring examples (default 3)\n"
    "  --log-y             checkpoint: logarithmic loss axis\n"
    "  --audio             the positional arguments are audio files\n"
    "  --n-fft N           audio: FFT size (default: the power of two nearest 64 ms)\n"
    "  --hop N             audio: hop in samples (default n_fft / 4, longer for recordings\n"
    "                      of more than 8192 such hops)\n"
    "  --db-range DB       colour scale span below the loudest value (default 80)\n"
    "  --width W, --height H   figure size in pixels (default 1600 x 900)\n";

int cmd_plot(int argc, char **argv) {
    ddsp_plot_opts o = {.examples = 3};
    const char *pos[DDSP_PLOT_MAX_AUDIO + 1];
    int npos = 0, audio = 0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int r;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--audio")) {
            audio = 1;
        } else if (!strcmp(argv[i], "--log-y")) {
            o.log_y = 1;
        } else if ((r = cli_opt(argc, argv, &i, "--out", &v))) {
            if (r < 0) return EXIT_USAGE;
            o.out = v;
        } else if ((r = cli_opt(argc, argv, &i, "--examples", &v))) {
            if (r < 0 || cli_parse_size("--examples", v, &o.examples, 0, 1000)) return EXIT_USAGE;
        } else if ((r = cli_opt(argc, argv, &i, "--n-fft", &v))) {
            if (r < 0 || cli_parse_size("--n-fft", v, &o.n_fft, 16, 65536)) return EXIT_USAGE;
            if (o.n_fft < 16 || o.n_fft > 65536 || o.n_fft % 2) {
                cli_fail("plot", "--n-fft %zu: expected an even size in 16..65536", o.n_fft);
                return EXIT_USAGE;
            }
        } else if ((r = cli_opt(argc, argv, &i, "--hop", &v))) {
            if (r < 0 || cli_parse_size("--hop", v, &o.hop, 1, 65536)) return EXIT_USAGE;
            if (o.hop < 1 || o.hop > 65536) {
                cli_fail("plot", "--hop %zu: expected 1..65536", o.hop);
                return EXIT_USAGE;
            }
        } else if ((r = cli_opt(argc, argv, &i, "--db-range", &v))) {
            if (r < 0 || cli_parse_double("--db-range", v, &o.db_range, 10.0, 300.0)) return EXIT_USAGE;
            if (!(o.db_range >= 10 && o.db_range <= 300)) {
                cli_fail("plot", "--db-range %g: expected 10..300 dB", o.db_range);
                return EXIT_USAGE;
            }
        } else if ((r = cli_opt(argc, argv, &i, "--width", &v))) {
            if (r < 0 || cli_parse_size("--width", v, &o.width, 320, 16384)) return EXIT_USAGE;
            if (o.width < 320 || o.width > 16384) {
                cli_fail("plot", "--width %zu: expected 320..16384 pixels", o.width);
                return EXIT_USAGE;
            }
        } else if ((r = cli_opt(argc, argv, &i, "--height", &v))) {
            if (r < 0 || cli_parse_size("--height", v, &o.height, 200, 16384)) return EXIT_USAGE;
            if (o.height < 200 || o.height > 16384) {
                cli_fail("plot", "--height %zu: expected 200..16384 pixels", o.height);
                return EXIT_USAGE;
            }
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            cli_fail("plot", "unknown option '%s' (see ddsp plot --help)", argv[i]);
            return EXIT_USAGE;
        } else {
            if (npos == DDSP_PLOT_MAX_AUDIO) {
                cli_fail("plot",
                         "too many files (at most %d with --audio, one checkpoint otherwise)",
                         DDSP_PLOT_MAX_AUDIO);
                return EXIT_USAGE;
            }
            pos[npos++] = argv[i];
        }
    }
    if (npos == 0) {
        cli_fail("plot", "expected a checkpoint or --audio FILES (see ddsp plot --help)");
        return EXIT_USAGE;
    }
    if (!audio && npos > 1) {
        cli_fail("plot", "expected one checkpoint, got %d files (use --audio for audio files)",
                 npos);
        return EXIT_USAGE;
    }
    if (!o.out) {
        cli_fail("plot", "--out FIG.png is required");
        return EXIT_USAGE;
    }
    if (!ddsp_plot_available()) {
        cli_fail("plot", "this ddsp was built without cairo, so it cannot draw (install "
                         "libcairo2-dev and rebuild)");
        return EXIT_FAIL;
    }
    char summary[8400];
    const int rc = audio ? ddsp_plot_audio_files(pos, npos, &o, summary, sizeof summary)
                         : ddsp_plot_file(pos[0], &o, summary, sizeof summary);
    if (rc) return cli_fail("plot", "%s", ddsp_last_error()), EXIT_FAIL;
    puts(summary);
    return EXIT_OK;
}
