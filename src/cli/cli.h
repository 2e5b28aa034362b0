/* The boxmine command line: one file per subcommand, each a function
 * `int cmd_NAME(int argc, char **argv)` that returns the process exit status
 * (0 success, 1 failure, 2 usage error). argv[0] is the subcommand's name. */
#ifndef BM_CLI_H
#define BM_CLI_H

#include <stdio.h>

#include "boxmine/bm_core.h"
#include "boxmine/bm_data.h"
#include "boxmine/bm_det.h"

int cmd_synth(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_mine(int argc, char **argv);
int cmd_assess(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_anchors(int argc, char **argv);
int cmd_review(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Prints "boxmine: error: <msg>" to stderr; returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A bm_log whose warnings go to stderr as "boxmine: warning: ...". */
bm_log cli_log(void);
/* Warns on stderr when eval shares images with learn (e.g. mine --test-split equal to
 * --split); the what arguments name the sets ("the test split 'trainval'"). */
void cli_warn_shared_images(const char *learn_what, const bm_dataset *learn,
                            const char *eval_what, const bm_dataset *eval);

/* Option parsing helpers: parse a number or report "--name: bad value". Return 0 or -1. */
int cli_parse_int(const char *name, const char *text, long lo, long hi, long *out);
int cli_parse_float(const char *name, const char *text, double lo, double hi, double *out);

/* A table of numeric options: each name with its accepted range and where its value goes
 * (the union's member matches the kind, so the compiler checks the destination's type). */
typedef enum {
  CLI_NUMBER_INT,
  CLI_NUMBER_LONG,
  CLI_NUMBER_U64,
  CLI_NUMBER_FLOAT,
  CLI_NUMBER_DOUBLE
} cli_number_kind;
typedef struct cli_number_opt {
  const char *name;
  double lo, hi; /* accepted range (whole numbers for the integer kinds) */
  cli_number_kind kind;
  union {
    int *i;
    long *l;
    uint64_t *u64;
    float *f;
    double *d;
  } to;
  int *given;    /* if not NULL, set to 1 when the option is given */
  int on_resume; /* 1: may be given again with --resume; 0: a setting of the run */
} cli_number_opt;
/* Settings of the run (on_resume 0), the common case: */
#define CLI_INT_OPT(name, lo, hi, dst) {(name), (lo), (hi), CLI_NUMBER_INT, {.i = (dst)}, NULL, 0}
#define CLI_LONG_OPT(name, lo, hi, dst) {(name), (lo), (hi), CLI_NUMBER_LONG, {.l = (dst)}, NULL, 0}
#define CLI_FLOAT_OPT(name, lo, hi, dst) {(name), (lo), (hi), CLI_NUMBER_FLOAT, {.f = (dst)}, NULL, 0}
#define CLI_DOUBLE_OPT(name, lo, hi, dst) {(name), (lo), (hi), CLI_NUMBER_DOUBLE, {.d = (dst)}, NULL, 0}
/* If argv[*i] is an option of the table, parses its value (argv[*i + 1]) into the destination,
 * sets *given, advances *i past the value and returns 1; for an option with on_resume 0 also
 * sets *not_on_resume (when not NULL) to its name. Returns 0 for other options, -1 (message
 * printed) for a missing or bad value. */
int cli_number_arg(const cli_number_opt *table, size_t n_table, int argc, char **argv, int *i,
                   const char **not_on_resume);

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
/* A bm_progress_fn (bm_det.h) drawing the cli_progress passed as user; finishes at total. */
void cli_progress_report(void *user, long done, long total);

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

/* Options shared by boxmine train and boxmine mine (train_opts.c): the run's folder and
 * data (--out, --data, --cfg, --resume) and the training options --batch, --optimizer,
 * --nesterov, --lr, --momentum, --weight-decay, --schedule, --warmup, --clip, --iou-thresh,
 * --ema, --jitter, --hue, --saturation, --exposure, --no-flip, --no-augment,
 * --threads, --seed, --deterministic, --input, --checkpoint-minutes, --thresh, --nms,
 * --max-dets, --ap-thre. A command sets its own defaults with cli_train_args_init, parses,
 * then copies the values to where its run keeps them. */
typedef struct cli_train_args {
  const char *out;           /* --out RUN */
  const char *data;          /* --data DIR (may be given again with --resume) */
  const char *cfg_path;      /* --cfg FILE; NULL: the default network */
  int resume;                /* --resume */
  bm_train_opts train;       /* the trainer's options; --threads and --seed land here too */
  int threads_given;         /* --threads was given (it may change on --resume) */
  int deterministic;         /* --deterministic */
  int no_augment;            /* --no-augment (applied by cli_train_args_finish) */
  int no_flip;               /* --no-flip (applied by cli_train_args_finish) */
  int input_w, input_h;      /* --input WxH; 0: the cfg's size */
  double checkpoint_minutes; /* --checkpoint-minutes */
  double thresh, nms;        /* --thresh, --nms: detections for evaluation */
  int max_dets;              /* --max-dets */
  double ap_thre;            /* --ap-thre: early stop only after an AP above this */
  const char *pretrained;    /* --pretrained W: a .weights file, or a model name of models/
                                (cli_train_args_finish resolves it into pretrained_path) */
  char pretrained_path[4096], model_cfg[4096];
  const char *not_on_resume; /* the last option given that --resume ignores; NULL: none.
                                A command's own such options set it too. */
} cli_train_args;
/* The command's defaults: train for the trainer, detect for evaluation. */
void cli_train_args_init(cli_train_args *args, const bm_train_opts *train,
                         const bm_detect_opts *detect, double ap_thre, double checkpoint_minutes);
/* If argv[*i] is one of these options or one of the command's own numeric options `own`,
 * consumes it and its value (advancing *i) and returns 1; returns 0 for other options, -1
 * (message printed; a usage error) for a bad or missing value. */
int cli_train_arg(cli_train_args *args, const cli_number_opt *own, size_t n_own, int argc,
                  char **argv, int *i);
/* After all options: --no-augment turns off jitter, flips and colour changes; --pretrained
 * NAME (no '/', no .weights) becomes models/yolo-fastest/NAME.weights found as cli_find_data
 * finds it, with that folder's NAME.cfg as --cfg unless one was given. Returns 0, or -1
 * (message printed) when the model is not found. */
int cli_train_args_finish(cli_train_args *args);
/* Opens RUN (--out) for a new run (refused when it holds one) or, with --resume, the run it
 * holds (bm_run_open; the folder is locked until bm_run_close). Prints the error; on resume
 * warns that the last option given that --resume ignores is ignored. Returns 0 or -1. */
int cli_run_open(const cli_train_args *args, bm_run **run, bm_log *log);
/* On --resume: values (the command's settings struct, as parsed) takes the run's own
 * settings from RUN/last.ckpt, except the keys in given (NULL-terminated) that the command
 * line gave again and that may change (bm_settings_resume). Prints the error; 0 or -1. */
int cli_run_settings(const bm_settings *settings, bm_run *run, void *values,
                     const char *const *given);
/* The data of a run, the first of its settings (cmd_train.c, cmd_mine.c): the dataset
 * folder, the split trained on (train) or mined (mine), and the split evaluated on, saved
 * under eval_key ("val_split" for train, "test_split" for mine). --data may be given again
 * on --resume (the data moved); the splits are the run's. */
typedef struct cli_run_data {
  char data[1024];
  char split[128];
  char eval_split[128];
} cli_run_data;
#define CLI_RUN_DATA_ROWS(type, member, eval_key)                                                 \
  BM_SETTING_ROW(type, member.data, "data", BM_SETTING_TEXT, BM_SETTING_MAY_CHANGE),             \
      BM_SETTING_ROW(type, member.split, "split", BM_SETTING_TEXT, BM_SETTING_FIXED),            \
      BM_SETTING_ROW(type, member.eval_split, eval_key, BM_SETTING_TEXT, BM_SETTING_FIXED)
/* Loads the run's training set (the pool for mine) and, when with_eval, its evaluation set
 * (as written, as the reference evaluators read it). The training set's class list is written
 * to RUN/classes.txt, or read from it when classes_exist (a resumed mining run). Prints the
 * error; returns 0 or -1. */
int cli_run_load_data(const cli_run_data *d, const bm_run *run, int classes_exist, int with_eval,
                      bm_dataset *train, bm_dataset *eval);

/* Ctrl-C while a run runs: begin installs a SIGINT handler that only sets a flag (read with
 * cli_interrupted; the run saves its state and returns), end restores the previous one. */
void cli_interrupt_begin(void);
int cli_interrupted(void);
void cli_interrupt_end(void);
/* On --resume: the thread count to load the run with (0: the run's own). A run made with
 * --deterministic keeps its count; a --threads given for it is ignored with a warning. */
int cli_train_args_resume_threads(const cli_train_args *args, int run_deterministic, bm_log *log);
/* Help lines for the training options (--batch ... --clip, --no-augment, --threads) and for
 * the evaluation ones (--thresh, --nms, --max-dets), each with the default in defaults;
 * descriptions start at column `column`. The command's own help describes --seed,
 * --deterministic, --input, --checkpoint-minutes and --ap-thre where they belong there. */
void cli_train_help(FILE *out, const cli_train_args *defaults, int column);
void cli_train_eval_help(FILE *out, const cli_train_args *defaults, int column);

#endif
