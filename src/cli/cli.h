/* The boxmine command line: one file per subcommand, each a function
 * `int cmd_NAME(int argc, char **argv)` that returns the process exit status
 * (0 success, 1 failure, 2 usage error). argv[0] is the subcommand's name. */
#ifndef BM_CLI_H
#define BM_CLI_H

#include "boxmine/bm_core.h"
#include "boxmine/bm_data.h"

int cmd_synth(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_mine(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_anchors(int argc, char **argv);

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

/* Dataset options shared by the commands that read a dataset (dataset_args.c):
 * --data, --split, --images, --annotations, --classes, --cache-dir, --no-cache,
 * --check-images / --no-check-images, --skip-bad-images, --skip-unknown-classes. */
typedef struct cli_dataset_args {
  bm_dataset_opts opts; /* filled as options are parsed; cache_dir defaults at load time */
  int no_cache;
  char *default_cache_dir; /* owned */
} cli_dataset_args;
/* Sets defaults (check_images as given). */
void cli_dataset_args_init(cli_dataset_args *args, int check_images);
/* If argv[*i] is a dataset option, consumes it and its value (advancing *i) and returns 1;
 * returns 0 for other options, -1 (message printed) for a missing value. */
int cli_dataset_arg(cli_dataset_args *args, int argc, char **argv, int *i);
/* Help text for those options (lines starting with two spaces, ending in a newline). */
extern const char cli_dataset_help[];
/* Loads the dataset: warnings and a progress bar on stderr. Returns 0; on failure prints
 * the error and returns 1 (usage problems such as no --data: prints and returns 2). */
int cli_dataset_load(cli_dataset_args *args, bm_dataset *ds);
void cli_dataset_args_free(cli_dataset_args *args);

#endif
