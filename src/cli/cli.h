/* The boxmine command line: one file per subcommand, each a function
 * `int cmd_NAME(int argc, char **argv)` that returns the process exit status
 * (0 success, 1 failure, 2 usage error). argv[0] is the subcommand's name. */
#ifndef BM_CLI_H
#define BM_CLI_H

#include "boxmine/bm_core.h"

int cmd_synth(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_mine(int argc, char **argv);
int cmd_report(int argc, char **argv);

/* Prints "boxmine: error: <msg>" to stderr; returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A bm_log whose warnings go to stderr as "boxmine: warning: ...". */
bm_log cli_log(void);

/* Option parsing helpers: parse a number or report "--name: bad value". Return 0 or -1. */
int cli_parse_int(const char *name, const char *text, long lo, long hi, long *out);
int cli_parse_float(const char *name, const char *text, double lo, double hi, double *out);

/* A progress bar on stderr when it is a terminal, plain log lines otherwise. */
typedef struct cli_progress {
  const char *label;
  long total;
  long done;
  double start;
  double last_draw;
  int is_tty;
} cli_progress;
void cli_progress_start(cli_progress *p, const char *label, long total);
/* extra: a short status text shown after the bar (may be NULL) */
void cli_progress_update(cli_progress *p, long done, const char *extra);
void cli_progress_finish(cli_progress *p, const char *extra);

#endif
