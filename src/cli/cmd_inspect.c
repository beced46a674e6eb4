/* `ddsp inspect FILE|RUN_DIR [--json]`: options, then ddsp_inspect (ddsp/inspect.h) prints
 * the summary of a checkpoint or a dataset. Exit 0 when the file is complete and loads, 1
 * when it is not a file inspect reads (one line on stderr, nothing else) or has problems
 * (the summary on stdout, the problems listed, one line on stderr). */
#include "cli/cli.h"
#include "ddsp/inspect.h"
#include "ddsp/util.h"

#include <stdio.h>
#include <string.h>

static const char *HELP =
    "usage: ddsp inspect CKPT.h5|RUN_DIR|DATASET.h5 [--json]\n"
    "\n"
    "Summary of a checkpoint: format and versions, the run's configuration (model, synth,\n"
    "loss, optimiser, run settings), step and data-order state, every tensor (shape, L2\n"
    "norm, parameter count), the loss history, the training data statistics and the\n"
    "monitoring examples. Then loads it with the same reader training uses. Given a run\n"
    "folder, inspects its newest checkpoint.\n"
    "\n"
    "Summary of a dataset (from `ddsp prepare`): examples per split and their length, sample\n"
    "and frame rates, f0 (Hz, on frames with confidence >= 0.5, and the voiced share) and\n"
    "loudness ranges per split, audio peak and RMS, the settings it was prepared with, and\n"
    "every source file with its file_status (ok: cut into examples; short: shorter than one\n"
    "example, skipped; unreadable: not decodable audio, skipped). Then opens it with the\n"
    "same reader training uses.\n"
    "\n"
    "options:\n"
    "  --json   print the same as one JSON object\n"
    "exit code: 0 complete and loadable; 1 not a checkpoint or dataset, or problems (listed).\n";

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            cli_fail("inspect", "unknown option '%s' (see ddsp inspect --help)", argv[i]);
            return EXIT_USAGE;
        } else if (path) {
            cli_fail("inspect", "expected one file, got a second one '%s'", argv[i]);
            return EXIT_USAGE;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        cli_fail("inspect", "expected a checkpoint or dataset file (see ddsp inspect --help)");
        return EXIT_USAGE;
    }
    if (ddsp_inspect(path, json, stdout)) {
        cli_fail("inspect", "%s", ddsp_last_error());
        return EXIT_FAIL;
    }
    return EXIT_OK;
}
