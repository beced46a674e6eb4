/* `ddsp` — one executable, one subcommand per pipeline stage. */
#include "cli/cli.h"
#include "ddsp/nn.h"
#include "ddsp/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train the DDSP model (one process or mpirun/srun across nodes)"},
    {"prepare", cmd_prepare, "cut recordings into a training dataset (f0, loudness) in HDF5"},
    {"resynth", cmd_resynth, "resynthesise any audio with a trained model (timbre transfer)"},
    {"eval", cmd_eval, "metrics of a trained model on a dataset (MSS, loudness, f0)"},
    {"inspect", cmd_inspect, "summary of a checkpoint (config, tensors, loss history)"},
    {"report", cmd_report, "HTML page of a run: curves, time per phase, every checkpoint's sound"},
    {"plot", cmd_plot, "PNG of a checkpoint's spectrograms and loss curves, or of audio files"},
    {"loss", cmd_loss, "multi-scale spectral loss (and gradient) between two audio files"},
    {"landscape", cmd_landscape, "loss surfaces of spectral distances around a test sound"},
    {"jacobian", cmd_jacobian, "singular values of d(spectra)/d(controls): what the loss can see"},
    {"timbre", cmd_timbre, "agreement of a spectral distance with human timbre dissimilarity"},
};

static void usage(FILE *f) {
    fprintf(f, "ddsp %s — distributed DDSP training on CPU clusters\n\n"
               "usage: ddsp <command> [options]   (ddsp <command> --help for details)\n\n"
               "commands:\n",
            DDSP_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nenvironment: OMP_NUM_THREADS (threads per process), DDSP_FFTW_PLANNER "
               "(estimate|measure|patient)\n");
}

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value) {
    const char *a = argv[*i];
    size_t len = strlen(name);
    if (strncmp(a, name, len) != 0) return 0;
    if (a[len] == '=') {
        *value = a + len + 1;
        return 1;
    }
    if (a[len] != '\0') return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "ddsp: option %s needs a value\n", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_str_opts(int argc, char **argv, int *i, const cli_str_opt *opts) {
    for (const cli_str_opt *o = opts; o->name; o++) {
        const int r = cli_opt(argc, argv, i, o->name, o->value);
        if (r) return r;
    }
    return 0;
}

int cli_parse_size(const char *opt, const char *s, size_t *out, size_t lo, size_t hi) {
    char *end;
    const char *p = s;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '-' || *p == '+' || *p < '0' || *p > '9') {
        fprintf(stderr, "ddsp: %s expects a whole number in %zu .. %zu, got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    errno = 0;
    const unsigned long long v = strtoull(p, &end, 10);
    if (*end != '\0') {
        fprintf(stderr, "ddsp: %s expects a whole number in %zu .. %zu, got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    if (errno == ERANGE || v > (unsigned long long)hi || v < (unsigned long long)lo ||
        v > (unsigned long long)SIZE_MAX) {
        fprintf(stderr, "ddsp: %s %s is out of range (allowed %zu .. %zu)\n", opt, s, lo, hi);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

int cli_parse_double(const char *opt, const char *s, double *out, double lo, double hi) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || end == s) {
        fprintf(stderr, "ddsp: %s expects a number in %g .. %g, got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    /* NaN fails both comparisons; overflow gives +-HUGE_VAL (out of any range here) and an
     * underflow to 0 or a subnormal is out of range when lo > 0 */
    if (!(v >= lo && v <= hi) || (errno == ERANGE && v != 0.0 && fabs(v) < 1e-300)) {
        fprintf(stderr, "ddsp: %s %s is out of range (allowed %g .. %g)\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

void cli_fail(const char *cmd, const char *fmt, ...) {
    char msg[16384];
    va_list ap;
    va_start(ap, fmt);
    ddsp_vformat(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ddsp %s: %s\n", cmd, msg);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        if (argc > 2 && strcmp(c, "help") == 0) {
            for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
                if (!strcmp(argv[2], commands[i].name)) {
                    char *hargv[] = {argv[2], "--help", NULL};
                    return commands[i].fn(2, hargv);
                }
        }
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(c, "--version") || !strcmp(c, "version")) {
        printf("ddsp %s\n", DDSP_VERSION);
        return EXIT_OK;
    }
    /* a signal removes the outputs being written (train has its own handling: it finishes
     * the step and checkpoints) */
    if (strcmp(c, "train")) ddsp_tmp_signals();
    /* threads for OpenMP, oneDNN and OpenBLAS, once, before any command computes */
    ddsp_nn_threads_init(0);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(c, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "ddsp: unknown command '%s' (see ddsp --help)\n", c);
    return EXIT_USAGE;
}

/* ---------------------------------------------------------------- JSON output */
void cli_json_num(FILE *f, const char *key, double v, const char *sep) {
    if (isfinite(v))
        fprintf(f, "\"%s\": %.9g%s", key, v, sep);
    else
        fprintf(f, "\"%s\": null%s", key, sep);
}

void cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}
