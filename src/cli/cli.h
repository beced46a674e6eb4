/* Private to the `ddsp` executable: subcommand entry points and argument helpers. */
#ifndef DDSP_CLI_H
#define DDSP_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Exit codes of every subcommand. */
/* EXIT_INTERRUPTED: stopped by SIGUSR1/SIGTERM after writing a checkpoint (resumable). */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 3 };

int cmd_loss(int argc, char **argv);
int cmd_prepare(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_resynth(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_landscape(int argc, char **argv);
int cmd_jacobian(int argc, char **argv);
int cmd_timbre(int argc, char **argv);

/* If argv[*i] is option `name` ("--name VALUE" or "--name=VALUE"), store VALUE, advance *i
 * past it and return 1; return -1 (after printing a usage error) if the value is missing,
 * 0 if argv[*i] is another argument. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);
/* Options that only store their value: a table ending with {NULL, NULL}. If argv[*i] is
 * one of them, store its value as cli_opt does and return 1 (-1 when the value is missing),
 * else 0. */
typedef struct {
    const char *name;
    const char **value;
} cli_str_opt;
int cli_str_opts(int argc, char **argv, int *i, const cli_str_opt *opts);
/* The one number parser of every option: a whole number in lo .. hi / a finite number in
 * [lo, hi]. Garbage, overflow, NaN, infinities and values out of range print one usage line
 * naming the option and the allowed range, and return -1 (the caller exits with
 * EXIT_USAGE); *out is then unchanged. */
int cli_parse_size(const char *opt, const char *s, size_t *out, size_t lo, size_t hi);
int cli_parse_double(const char *opt, const char *s, double *out, double lo, double hi);
/* Print "ddsp CMD: MESSAGE" to stderr. */
void cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* JSON output: "key": value (null when not finite) followed by sep; a quoted, escaped string. */
void cli_json_num(FILE *f, const char *key, double v, const char *sep);
void cli_json_str(FILE *f, const char *s);

#endif
