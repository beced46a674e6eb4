/* `ddsp report RUN_DIR [--out DIR]`: the run's HTML report (ddsp/report.h). */
#include "cli/cli.h"
#include "ddsp/report.h"
#include "ddsp/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *HELP =
    "usage: ddsp report RUN_DIR [--out DIR]\n"
    "\n"
    "Write RUN_DIR/report/index.html: a static page (no server, no network; open it from\n"
    "file:// or copy the folder) with the run's state, settings and dataset, its curves\n"
    "(loss per step and validation, per scale, gradient norm, learning rate, throughput),\n"
    "where the time of a step goes (phases, and under MPI the slowest and fastest rank), and\n"
    "every checkpoint's target and reconstruction spectrograms with players for both\n"
    "(RUN_DIR/samples), plus RUN_DIR/eval*.csv files of `ddsp eval --csv`. `ddsp train`\n"
    "refreshes it at every checkpoint unless --no-report. What the folder lacks (no\n"
    "checkpoint yet, samples deleted, dataset moved) is said on the page.\n"
    "\n"
    "  --out DIR   write the page into DIR instead (the samples it plays are linked or\n"
    "              copied into DIR/samples, so DIR stands alone)\n"
    "\n"
    "exit status: 0 written, 1 not a run folder or cannot write, 2 usage error.\n";

int cmd_report(int argc, char **argv) {
    const char *dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int r;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        }
        if ((r = cli_opt(argc, argv, &i, "--out", &out)) != 0) {
            if (r < 0) return EXIT_USAGE;
        } else if (o[0] == '-' && o[1] == '-') {
            fprintf(stderr, "ddsp report: unknown option '%s' (see ddsp report --help)\n", o);
            return EXIT_USAGE;
        } else if (dir) {
            fprintf(stderr, "ddsp report: one RUN_DIR expected, got '%s' and '%s'\n", dir, o);
            return EXIT_USAGE;
        } else {
            dir = o;
        }
    }
    if (!dir) {
        fprintf(stderr, "ddsp report: expected RUN_DIR (see ddsp report --help)\n");
        return EXIT_USAGE;
    }
    ddsp_h5_quiet();
    ddsp_report_opts ro = {.run_dir = dir, .out_dir = out};
    ddsp_report_info info;
    if (ddsp_report_write(&ro, &info)) {
        cli_fail("report", "%s", ddsp_last_error());
        return EXIT_FAIL;
    }
    printf("wrote %s: %d checkpoint(s), %d audio player(s), %d image(s) (%d drawn) in %.2f s",
           info.page, info.n_checkpoints, info.n_players, info.n_images, info.n_drawn, info.seconds);
    if (info.n_notes) printf("; the page lists %d missing part(s)", info.n_notes);
    printf("\n");
    return EXIT_OK;
}
