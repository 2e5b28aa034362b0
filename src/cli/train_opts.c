/* The training options that boxmine train and boxmine mine share (cli.h): one parser and one
 * help text, so the two commands accept the same words with the same ranges and messages. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_eval.h"
#include "cli/cli.h"
#include "cli/cli_det.h"

void cli_train_args_init(cli_train_args *args, const bm_train_opts *train,
                         const bm_detect_opts *detect, double ap_thre, double checkpoint_minutes) {
  memset(args, 0, sizeof *args);
  args->train = *train;
  args->thresh = detect->thresh;
  args->nms = detect->nms;
  args->max_dets = detect->max_dets;
  args->ap_thre = ap_thre;
  args->checkpoint_minutes = checkpoint_minutes;
}

int cli_train_arg(cli_train_args *args, const cli_number_opt *own, size_t n_own, int argc,
                  char **argv, int *i) {
  const char *a = argv[*i];
  const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
  bm_train_opts *t = &args->train;
  if (!strcmp(a, "--resume")) {
    args->resume = 1;
    return 1;
  }
  if (!strcmp(a, "--out") || !strcmp(a, "--data") || !strcmp(a, "--cfg") ||
      !strcmp(a, "--pretrained")) {
    if (!v) return cli_error("%s needs a value", a), -1;
    if (!strcmp(a, "--out")) {
      args->out = v;
    } else if (!strcmp(a, "--data")) {
      args->data = v;
    } else if (!strcmp(a, "--pretrained")) {
      args->pretrained = v;
      args->not_on_resume = a;
    } else {
      args->cfg_path = v;
      args->not_on_resume = a;
    }
    (*i)++;
    return 1;
  }
  /* flags */
  int *flag = !strcmp(a, "--deterministic") ? &args->deterministic
              : !strcmp(a, "--nesterov")    ? &t->nesterov
              : !strcmp(a, "--no-augment")  ? &args->no_augment
              : !strcmp(a, "--no-flip")     ? &args->no_flip
                                            : NULL;
  if (flag) {
    *flag = 1;
    args->not_on_resume = a;
    return 1;
  }
  /* named choices */
  if (!strcmp(a, "--optimizer") || !strcmp(a, "--schedule")) {
    if (!v) return cli_error("%s needs a value", a), -1;
    bm_error err;
    if (!strcmp(a, "--optimizer") ? bm_optim_kind_parse(v, &t->optimizer, &err)
                                  : bm_lr_policy_parse(v, &t->schedule, &err))
      return cli_error("%s: %s", a, err.msg), -1;
    args->not_on_resume = a;
    (*i)++;
    return 1;
  }
  if (!strcmp(a, "--freeze")) {
    long n;
    if (cli_parse_int(a, v, 0, 100000, &n)) return -1;
    t->freeze = (int)n;
    args->not_on_resume = a;
    (*i)++;
    return 1;
  }
  if (!strcmp(a, "--input")) {
    char tail;
    if (!v || sscanf(v, "%dx%d%c", &args->input_w, &args->input_h, &tail) != 2 ||
        args->input_w < 8 || args->input_h < 8 || args->input_w > 8192 || args->input_h > 8192)
      return cli_error("--input: '%s' is not WIDTHxHEIGHT (8..8192)", v ? v : ""), -1;
    args->not_on_resume = a;
    (*i)++;
    return 1;
  }
  /* numbers */
  const cli_number_opt numbers[] = {
      {.name = "--threads", .lo = 1, .hi = 256, .kind = CLI_NUMBER_INT, .to.i = &t->threads,
       .given = &args->threads_given, .on_resume = 1},
      CLI_INT_OPT("--batch", 1, 4096, &t->batch),
      CLI_LONG_OPT("--warmup", 0, 100000000, &t->warmup_iters),
      {.name = "--seed", .lo = 0, .hi = 2147483647, .kind = CLI_NUMBER_U64, .to.u64 = &t->seed},
      CLI_INT_OPT("--max-dets", 1, 100000, &args->max_dets),
      CLI_FLOAT_OPT("--lr", 1e-9, 10, &t->lr),
      CLI_FLOAT_OPT("--momentum", 0, 0.9999, &t->momentum),
      CLI_FLOAT_OPT("--weight-decay", 0, 1, &t->weight_decay),
      CLI_FLOAT_OPT("--clip", 0, 1e9, &t->clip_norm),
      CLI_DOUBLE_OPT("--thresh", 0, 1, &args->thresh),
      CLI_DOUBLE_OPT("--nms", 0, 1, &args->nms),
      CLI_DOUBLE_OPT("--ap-thre", 0, 1, &args->ap_thre),
      CLI_DOUBLE_OPT("--checkpoint-minutes", 0, 1e6, &args->checkpoint_minutes),
      CLI_FLOAT_OPT("--iou-thresh", 0, 1, &t->iou_thresh),
      CLI_FLOAT_OPT("--ema", 0, 0.999999, &t->ema_decay),
      CLI_FLOAT_OPT("--jitter", 0, 0.49, &t->jitter),
      CLI_FLOAT_OPT("--hue", 0, 0.5, &t->hue),
      CLI_FLOAT_OPT("--saturation", 1, 10, &t->saturation),
      CLI_FLOAT_OPT("--exposure", 1, 10, &t->exposure),
  };
  int took = cli_number_arg(numbers, sizeof numbers / sizeof numbers[0], argc, argv, i,
                            &args->not_on_resume);
  if (took == 0) took = cli_number_arg(own, n_own, argc, argv, i, &args->not_on_resume);
  return took;
}

int cli_train_args_finish(cli_train_args *args) {
  bm_train_opts *t = &args->train;
  if (args->no_flip) t->flip = 0;
  if (args->no_augment) t->jitter = t->hue = 0, t->saturation = t->exposure = 1, t->flip = 0;
  const char *w = args->pretrained;
  if (!w || args->resume) return 0;
  size_t len = strlen(w);
  if (strchr(w, '/') || (len > 8 && !strcmp(w + len - 8, ".weights"))) {
    snprintf(args->pretrained_path, sizeof args->pretrained_path, "%s", w);
  } else { /* a model shipped with boxmine */
    char rel[512];
    snprintf(rel, sizeof rel, "models/yolo-fastest/%s.weights", w);
    if (cli_find_data(rel, args->pretrained_path, sizeof args->pretrained_path))
      return cli_error("--pretrained %s: no %s next to the program or in its data folders", w,
                       rel), -1;
    if (!args->cfg_path) {
      snprintf(rel, sizeof rel, "models/yolo-fastest/%s.cfg", w);
      if (cli_find_data(rel, args->model_cfg, sizeof args->model_cfg))
        return cli_error("--pretrained %s: %s not found", w, rel), -1;
      args->cfg_path = args->model_cfg;
    }
  }
  t->pretrained = args->pretrained_path;
  return 0;
}

int cli_run_open(const cli_train_args *args, bm_run **run, bm_log *log) {
  bm_error err;
  if (bm_run_open(run, args->out, args->resume ? BM_RUN_RESUME : BM_RUN_NEW, &err))
    return cli_error("%s%s", args->resume ? "--resume: " : "", err.msg), -1;
  if (args->resume && args->not_on_resume)
    bm_warn(log, "%s ignored: --resume continues with the run's own settings", args->not_on_resume);
  return 0;
}

int cli_run_settings(const bm_settings *settings, bm_run *run, void *values,
                     const char *const *given) {
  bm_error err;
  if (bm_settings_resume(settings, bm_run_last_ckpt(run), values, given, &err))
    return cli_error("cannot resume: %s", err.msg), -1;
  return 0;
}

int cli_run_load_data(const cli_run_data *d, const bm_run *run, int classes_exist, int with_eval,
                      bm_dataset *train, bm_dataset *eval) {
  bm_log log = cli_log();
  bm_error err;
  char *classes_path = bm_run_path(run, "classes.txt");
  bm_dataset_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.root = d->data;
  opts.split = d->split;
  if (classes_exist) opts.classes_file = classes_path;
  else opts.class_list_out = classes_path;
  int rc = classes_path ? bm_dataset_load(train, &opts, &log, &err) : bm_fail(&err, "out of memory");
  if (rc == 0 && with_eval) {
    opts.split = d->eval_split;
    opts.class_list_out = NULL;
    opts.classes_file = classes_path;
    /* evaluation only: the ground truth as written, as the reference evaluators read it */
    rc = bm_eval_load_dataset(eval, &opts, &log, &err);
  }
  bm_free(classes_path);
  return rc ? cli_error("%s", err.msg), -1 : 0;
}

static volatile sig_atomic_t interrupted;
static void (*old_handler)(int);
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

void cli_interrupt_begin(void) {
  interrupted = 0;
  old_handler = signal(SIGINT, on_sigint);
}

int cli_interrupted(void) { return interrupted != 0; }

void cli_interrupt_end(void) { signal(SIGINT, old_handler); }

int cli_train_args_resume_threads(const cli_train_args *args, int run_deterministic, bm_log *log) {
  if (!args->threads_given) return 0;
  if (run_deterministic) {
    bm_warn(log, "--threads ignored: the run is --deterministic and keeps its thread count");
    return 0;
  }
  return args->train.threads;
}

/* "  OPTION   description": the description starts at `column` (one space at least). */
static void help_line(FILE *out, int column, const char *option, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void help_line(FILE *out, int column, const char *option, const char *fmt, ...) {
  int used = fprintf(out, "  %s", option);
  fprintf(out, "%*s", used < column ? column - used : 1, "");
  va_list ap;
  va_start(ap, fmt);
  vfprintf(out, fmt, ap);
  va_end(ap);
  fputc('\n', out);
}

void cli_train_help(FILE *out, const cli_train_args *defaults, int column) {
  const bm_train_opts *t = &defaults->train;
  help_line(out, column, "--pretrained W", "start from a darknet model: a .weights file for --cfg, or");
  help_line(out, column, "", "a model shipped in models/ (yolo-fastest-1.1, yolo-fastest-1.1-xl;");
  help_line(out, column, "", "its cfg is then the default --cfg). Convolutions whose shapes");
  help_line(out, column, "", "match are loaded; the heads are rebuilt for the data's classes");
  help_line(out, column, "--freeze N", "keep layers 0..N-1 fixed (weights and batch-norm statistics;");
  help_line(out, column, "", "they run as in inference). Default 0: train everything");
  help_line(out, column, "--batch N", "images per update (default %d)", t->batch);
  help_line(out, column, "--optimizer NAME", "sgd, adam or adamw (default %s)",
            bm_optim_kind_name(t->optimizer));
  help_line(out, column, "--nesterov", "Nesterov momentum (sgd)");
  help_line(out, column, "--lr F", "base learning rate (default %g)", t->lr);
  help_line(out, column, "--momentum F", "sgd momentum / adam beta1 (default %g)", t->momentum);
  help_line(out, column, "--weight-decay F", "on convolution weights only (default %g)",
            t->weight_decay);
  help_line(out, column, "--schedule NAME",
            "const, step (x0.1 at 70%% and 90%%) or cosine (default %s)",
            bm_lr_policy_name(t->schedule));
  help_line(out, column, "--warmup ITERS",
            "linear learning-rate warm-up over the first updates (default %ld)", t->warmup_iters);
  help_line(out, column, "--clip F", "clip the gradient norm to F, 0 = off (default %g)",
            t->clip_norm);
  help_line(out, column, "--iou-thresh F",
            "also make positives of anchors whose shape IoU with a box exceeds F");
  help_line(out, column, "", "(darknet's iou_thresh; default %g = best anchor only)", t->iou_thresh);
  help_line(out, column, "--ema F",
            "evaluate, detect and save a moving average of the weights, with weight");
  help_line(out, column, "", "min(F, (1+t)/(10+t)) on the old average at update t (default %g; 0 = off)",
            t->ema_decay);
  help_line(out, column, "--jitter F", "crop jitter, fraction of the size per side (default %g)",
            t->jitter);
  help_line(out, column, "--hue F", "colour jitter: hue shift (default %g)", t->hue);
  help_line(out, column, "--saturation F", "colour jitter: saturation factor (default %g)",
            t->saturation);
  help_line(out, column, "--exposure F", "colour jitter: exposure factor (default %g)", t->exposure);
  help_line(out, column, "--no-flip", "no horizontal flips");
  help_line(out, column, "--no-augment", "no jitter, flip or colour changes (letterbox only)");
  help_line(out, column, "--threads N", "compute threads (default %d)", t->threads);
}

void cli_train_eval_help(FILE *out, const cli_train_args *defaults, int column) {
  help_line(out, column, "--thresh F", "score floor for evaluation (default %g)", defaults->thresh);
  help_line(out, column, "--nms F", "per-class NMS IoU threshold (default %g)", defaults->nms);
  help_line(out, column, "--max-dets N", "boxes per image (default %d)", defaults->max_dets);
}
