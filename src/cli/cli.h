/* Private to the `ddsp` executable: subcommand entry points and argument helpers. */
#ifndef DDSP_CLI_H
#define DDSP_CLI_H

#include <stddef.h>

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
int cmd_landscape(int argc, char **argv);
int cmd_jacobian(int argc, char **argv);

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
/* Parse a non-negative integer / a double option value; print an error naming the option
 * and return -1 on garbage. */
int cli_parse_size(const char *opt, const char *s, size_t *out);
int cli_parse_double(const char *opt, const char *s, double *out);
/* Print "ddsp CMD: MESSAGE" to stderr. */
void cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
