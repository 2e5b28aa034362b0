/* boxmine train: train a detector on a VOC dataset into a run folder. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_det.h"
#include "boxmine/bm_eval.h"
#include "boxmine/bm_train.h"
#include "cli/cli.h"
#include "cli/cli_det.h"

/* where the descriptions start in --help */
#define HELP_COLUMN 24

/* The defaults of the run's options: the trainer's and bm_fit's. */
static void default_options(bm_fit_opts *fit, cli_train_args *ta) {
  *fit = bm_fit_defaults();
  bm_train_opts train = bm_train_defaults();
  cli_train_args_init(ta, &train, &fit->detect, fit->ap_thre, fit->checkpoint_minutes);
}

static void usage(FILE *out) {
  bm_fit_opts fit_defaults;
  cli_train_args defaults_args;
  default_options(&fit_defaults, &defaults_args);
  const bm_fit_opts *fit = &fit_defaults;
  const cli_train_args *defaults = &defaults_args;
  fprintf(out,
          "usage: boxmine train --data DIR --out RUN [options]\n"
          "       boxmine train --out RUN --resume [--epochs N] [--threads N]\n\n"
          "Trains a YOLO-style detector on DIR (PASCAL VOC layout) and writes into RUN:\n"
          "last.ckpt/last.weights (every epoch), best.ckpt/best.weights (best validation AP50),\n"
          "model.cfg + classes.txt (darknet files matching the .weights), TensorBoard events.\n\n"
          "data:\n"
          "  --data DIR            VOC dataset root (Annotations/, JPEGImages/, ImageSets/Main/)\n"
          "  --split NAME          training split (default trainval)\n"
          "  --val-split NAME      split evaluated during training (default test; 'none': no evaluation)\n"
          "  --cfg FILE            darknet network cfg (default cfg/boxmine-tiny.cfg)\n"
          "  --input WxH           network input size instead of the cfg's (e.g. 320x320)\n"
          "training:\n"
          "  --epochs N            epochs to train (default %d)\n", fit->epochs);
  cli_train_help(out, defaults, HELP_COLUMN);
  fprintf(out,
          "  --seed N              seed of weights, data order and augmentation (default %llu)\n"
          "  --deterministic       keep the thread count in the run, so an interrupted and\n"
          "                        resumed run gives bit-identical weights\n"
          "  --resume              continue the run in RUN from RUN/last.ckpt (its settings are\n"
          "                        kept; a larger --epochs trains on at the schedule's end)\n"
          "  --stop-after N        stop after N epochs of this invocation, as if interrupted\n"
          "                        (continue later with --resume)\n"
          "  --checkpoint-minutes F  also save last.ckpt inside an epoch this often (default %g)\n"
          "evaluation and early stop:\n"
          "  --eval-every N        evaluate every N epochs and after the last (default %d)\n",
          (unsigned long long)defaults->train.seed, defaults->checkpoint_minutes, fit->eval_every);
  cli_train_eval_help(out, defaults, HELP_COLUMN);
  fprintf(out,
          "  --ap-range N          stop when the AP shift over the last N evaluations ...\n"
          "  --ap-shift F          ... is above 0 and below F (default %g) ...\n"
          "  --ap-thre F           ... once an AP50 above F was seen (default %g); off without --ap-range\n",
          fit->ap_shift, defaults->ap_thre);
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

/* Settings of the run kept in its checkpoints, so --resume needs only --out. */
typedef struct run_settings {
  char data[1024];
  char split[128];
  char val_split[128];
  int epochs, eval_every, ap_range, deterministic, max_dets;
  double ap_shift, ap_thre, thresh, nms, checkpoint_minutes;
} run_settings;

static int save_settings(void *user, bm_ckpt_writer *w) {
  const run_settings *s = user;
  bm_buf text;
  bm_buf_init(&text);
  bm_buf_printf(&text, "data=%s\nsplit=%s\nval_split=%s\nepochs=%d\neval_every=%d\nap_range=%d\n"
                "deterministic=%d\nmax_dets=%d\nap_shift=%.17g\nap_thre=%.17g\nthresh=%.9g\n"
                "nms=%.9g\ncheckpoint_minutes=%.17g\n",
                s->data, s->split, s->val_split, s->epochs, s->eval_every, s->ap_range,
                s->deterministic, s->max_dets, s->ap_shift, s->ap_thre, s->thresh, s->nms,
                s->checkpoint_minutes);
  int rc = text.failed ? -1 : bm_ckpt_add_string(w, "run.settings", text.data);
  bm_buf_free(&text);
  return rc;
}

static void load_setting(void *user, const char *key, const char *value) {
  run_settings *s = user;
  if (!strcmp(key, "data")) snprintf(s->data, sizeof s->data, "%s", value);
  else if (!strcmp(key, "split")) snprintf(s->split, sizeof s->split, "%s", value);
  else if (!strcmp(key, "val_split")) snprintf(s->val_split, sizeof s->val_split, "%s", value);
  else if (!strcmp(key, "epochs")) s->epochs = atoi(value);
  else if (!strcmp(key, "eval_every")) s->eval_every = atoi(value);
  else if (!strcmp(key, "ap_range")) s->ap_range = atoi(value);
  else if (!strcmp(key, "deterministic")) s->deterministic = atoi(value);
  else if (!strcmp(key, "max_dets")) s->max_dets = atoi(value);
  else if (!strcmp(key, "ap_shift")) s->ap_shift = atof(value);
  else if (!strcmp(key, "ap_thre")) s->ap_thre = atof(value);
  else if (!strcmp(key, "thresh")) s->thresh = atof(value);
  else if (!strcmp(key, "nms")) s->nms = atof(value);
  else if (!strcmp(key, "checkpoint_minutes")) s->checkpoint_minutes = atof(value);
}

typedef struct progress_state {
  cli_progress bar;
  int bar_open;
  int64_t bar_epoch;
  int epochs;
  cli_progress eval_bar;
  int eval_open;
  const char *val_split;
} progress_state;

static int show_update(void *user, const bm_train_progress *p) {
  progress_state *ps = user;
  if (!ps->bar_open || ps->bar_epoch != p->epoch) {
    static char label[64]; /* the bar keeps the pointer; one bar at a time */
    snprintf(label, sizeof label, "epoch %lld/%d", (long long)p->epoch + 1, ps->epochs);
    cli_progress_start(&ps->bar, label, p->n_batches);
    ps->bar.done = p->batch - 1;
    ps->bar_open = 1;
    ps->bar_epoch = p->epoch;
  }
  char extra[200];
  snprintf(extra, sizeof extra, "it %lld loss %.3f (box %.3f obj %.3f cls %.3f) grad %.1f lr %.2e %.1f img/s",
           (long long)p->iteration, p->epoch_loss, p->box, p->obj, p->cls, p->grad_norm, p->lr,
           p->images_per_s);
  if (p->batch == p->n_batches) {
    cli_progress_finish(&ps->bar, extra);
    ps->bar_open = 0;
  } else {
    cli_progress_update(&ps->bar, p->batch, extra);
  }
  return interrupted != 0;
}

static void show_eval_progress(void *user, long done, long total) {
  progress_state *ps = user;
  if (!ps->eval_open) {
    static char label[64];
    snprintf(label, sizeof label, "detect %s", ps->val_split);
    cli_progress_start(&ps->eval_bar, label, total);
    ps->eval_open = 1;
  }
  if (done >= total) {
    cli_progress_finish(&ps->eval_bar, NULL);
    ps->eval_open = 0;
  } else {
    cli_progress_update(&ps->eval_bar, done, NULL);
  }
}

static void show_epoch(void *user, const bm_epoch_summary *s, const bm_eval_summary *eval,
                       double ap_shift, int is_best) {
  progress_state *ps = user;
  fprintf(stderr, "epoch %lld: train loss %.4f (box %.4f obj %.4f cls %.4f), lr %.3e, %.1f img/s, %.0f s",
          (long long)s->epoch, s->loss, s->box, s->obj, s->cls, s->lr, s->images_per_s, s->seconds);
  if (s->skipped_updates) fprintf(stderr, ", %ld updates skipped (non-finite)", s->skipped_updates);
  fputc('\n', stderr);
  if (eval) {
    fprintf(stderr, "epoch %lld: %s AP50 %.4f AP75 %.4f (VOC all-point), AP50 %.4f (VOC07 11-point), %ld images, %.0f s%s",
            (long long)s->epoch, ps->val_split, eval->ap50, eval->ap75, eval->ap50_07,
            eval->n_images, eval->seconds, is_best ? ", best so far" : "");
    if (ap_shift >= 0) fprintf(stderr, ", AP shift %.5f", ap_shift);
    fputc('\n', stderr);
  }
}

int cmd_train(int argc, char **argv) {
  run_settings rs;
  memset(&rs, 0, sizeof rs);
  snprintf(rs.split, sizeof rs.split, "trainval");
  snprintf(rs.val_split, sizeof rs.val_split, "test");
  bm_fit_opts fo;
  cli_train_args ta;
  default_options(&fo, &ta);
  rs.epochs = fo.epochs;
  rs.eval_every = fo.eval_every;
  rs.ap_range = fo.ap_range;
  rs.ap_shift = fo.ap_shift;
  int epochs_given = 0;
  long stop_after = 0;
  /* train's own numeric options (the shared ones: cli_train_arg) */
  const cli_number_opt numbers[] = {
      {.name = "--epochs", .lo = 1, .hi = 1000000, .kind = CLI_NUMBER_INT, .to.i = &rs.epochs,
       .given = &epochs_given, .on_resume = 1},
      {.name = "--stop-after", .lo = 1, .hi = 1000000, .kind = CLI_NUMBER_LONG,
       .to.l = &stop_after, .on_resume = 1},
      CLI_INT_OPT("--eval-every", 0, 1000000, &rs.eval_every),
      CLI_INT_OPT("--ap-range", 0, 1000, &rs.ap_range),
      CLI_DOUBLE_OPT("--ap-shift", 0, 1, &rs.ap_shift),
  };
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    int took = cli_train_arg(&ta, numbers, sizeof numbers / sizeof numbers[0], argc, argv, &i);
    if (took < 0) return 2;
    if (took > 0) continue;
    if (!strcmp(a, "--split") || !strcmp(a, "--val-split")) {
      if (!v) return cli_error("%s needs a value", a), 2;
      i++;
      ta.not_on_resume = a;
      if (!strcmp(a, "--split")) snprintf(rs.split, sizeof rs.split, "%s", v);
      else snprintf(rs.val_split, sizeof rs.val_split, "%s", v);
      continue;
    }
    cli_error("unknown option '%s' (see boxmine train --help)", a);
    return 2;
  }
  const char *data = ta.data, *out = ta.out, *cfg_path = ta.cfg_path;
  int resume = ta.resume;
  if (!out) return cli_error("--out RUN is required (see boxmine train --help)"), 2;
  if (!resume && !data) return cli_error("--data DIR is required (see boxmine train --help)"), 2;
  if (cli_train_args_finish(&ta)) return 2;
  cfg_path = ta.cfg_path; /* --pretrained NAME may have set it */
  bm_train_opts to = ta.train;
  rs.deterministic = ta.deterministic;
  rs.ap_thre = ta.ap_thre;
  rs.thresh = ta.thresh;
  rs.nms = ta.nms;
  rs.max_dets = ta.max_dets;
  rs.checkpoint_minutes = ta.checkpoint_minutes;
  to.schedule_epochs = (float)rs.epochs;

  char *last_ckpt = bm_path_join(out, "last.ckpt");
  char *classes_path = bm_path_join(out, "classes.txt");
  bm_log log = cli_log();
  bm_error err = {{0}};
  bm_trainer *tr = NULL;
  bm_dataset train_ds, val_ds;
  memset(&train_ds, 0, sizeof train_ds);
  memset(&val_ds, 0, sizeof val_ds);
  int have_val = 0, status = 1;
  char *cfg_text = NULL;
  if (!last_ckpt || !classes_path) { cli_error("out of memory"); goto done; }

  if (resume) {
    if (cli_train_args_resume(&ta, out, last_ckpt, &log)) goto done;
    int saved_epochs_given = epochs_given;
    int new_epochs = rs.epochs;
    if (cli_read_settings(last_ckpt, "run.settings",
                          "no run settings: was it written by 'boxmine train'?", load_setting, &rs))
      goto done;
    if (saved_epochs_given) rs.epochs = new_epochs;
    if (data) snprintf(rs.data, sizeof rs.data, "%s", data);
    int threads = cli_train_args_resume_threads(&ta, rs.deterministic, &log);
    if (bm_trainer_load(&tr, last_ckpt, threads, &log, &err)) {
      cli_error("cannot resume: %s", err.msg);
      goto done;
    }
    fprintf(stderr, "boxmine train: resuming %s at epoch %lld, update %lld\n", out,
            (long long)bm_trainer_epoch(tr), (long long)bm_trainer_iteration(tr));
  } else {
    if (bm_file_exists(last_ckpt)) {
      cli_error("%s already holds a run (%s); use --resume to continue it or another --out", out, last_ckpt);
      goto done;
    }
    snprintf(rs.data, sizeof rs.data, "%s", data);
    if (cli_load_cfg(cfg_path, ta.input_w, ta.input_h, &cfg_text)) goto done;
    if (bm_mkdir_p(out, &err)) {
      cli_error("%s", err.msg);
      goto done;
    }
  }

  /* datasets: the training split fixes the class list (kept in RUN/classes.txt) */
  bm_dataset_opts dopts;
  memset(&dopts, 0, sizeof dopts);
  dopts.root = rs.data;
  dopts.split = rs.split;
  dopts.class_list_out = classes_path;
  dopts.skip_unknown_classes = 0;
  if (bm_dataset_load(&train_ds, &dopts, &log, &err)) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (strcmp(rs.val_split, "none") && rs.eval_every > 0) {
    dopts.split = rs.val_split;
    dopts.class_list_out = NULL;
    dopts.classes_file = classes_path;
    /* evaluation only: the ground truth as written, as boxmine eval reads it */
    if (bm_eval_load_dataset(&val_ds, &dopts, &log, &err)) {
      cli_error("%s", err.msg);
      goto done;
    }
    have_val = 1;
  }
  if (!tr) {
    if (bm_trainer_create(&tr, cfg_text, cfg_path ? cfg_path : "boxmine-tiny.cfg", train_ds.n_classes,
                          train_ds.class_names, &to, train_ds.n_images, &log, &err)) {
      cli_error("%s", err.msg);
      goto done;
    }
    if (bm_trainer_pretrained_summary(tr)) fputs(bm_trainer_pretrained_summary(tr), stdout);
  }
  fo.run_dir = out;
  fo.epochs = rs.epochs;
  fo.stop_after = (int)stop_after;
  fo.eval_every = rs.eval_every;
  fo.checkpoint_minutes = rs.checkpoint_minutes;
  fo.ap_range = rs.ap_range;
  fo.ap_shift = rs.ap_shift;
  fo.ap_thre = rs.ap_thre;
  fo.detect.thresh = (float)rs.thresh;
  fo.detect.nms = (float)rs.nms;
  fo.detect.max_dets = rs.max_dets;
  fo.extra = save_settings;
  fo.extra_user = &rs;
  const bm_train_opts *used = bm_trainer_opts(tr);
  fprintf(stderr,
          "boxmine train: %d %s images, %d classes, %s%s%s; batch %d, %s lr %g, %d threads, seed %llu\n",
          train_ds.n_images, rs.split, train_ds.n_classes, have_val ? "evaluating on " : "no evaluation",
          have_val ? rs.val_split : "", have_val ? "" : "", used->batch,
          used->optimizer == BM_OPTIMIZER_SGD ? "sgd" : used->optimizer == BM_OPTIMIZER_ADAM ? "adam" : "adamw",
          used->lr, used->threads, (unsigned long long)used->seed);
  progress_state ps;
  memset(&ps, 0, sizeof ps);
  ps.epochs = rs.epochs;
  ps.val_split = rs.val_split;
  bm_fit_hooks hooks = {show_update, show_epoch, show_eval_progress, &ps};
  bm_fit_result result;
  interrupted = 0;
  void (*old_handler)(int) = signal(SIGINT, on_sigint);
  int rc = bm_trainer_fit(tr, &train_ds, have_val ? &val_ds : NULL, &fo, &hooks, &result, &err);
  signal(SIGINT, old_handler);
  if (ps.bar_open) fputc('\n', stderr);
  if (rc) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (result.interrupted) {
    if (interrupted) {
      fprintf(stderr, "boxmine train: interrupted after %lld epochs; state saved in %s (continue with --resume)\n",
              (long long)result.epochs, last_ckpt);
      status = 130;
      goto done;
    }
    printf("stopped after %lld of %d epochs as asked (--stop-after); continue with: boxmine train --out %s --resume\n",
           (long long)result.epochs, rs.epochs, out);
    status = 0;
    goto done;
  }
  printf("trained %lld epochs%s\n", (long long)result.epochs,
         result.stopped_early ? " (stopped early: AP shift below --ap-shift)" : "");
  if (isfinite(result.best_ap50))
    printf("best %s AP50 (VOC all-point): %.4f after epoch %lld -> %s/best.ckpt\n", rs.val_split,
           result.best_ap50, (long long)result.best_epoch, out);
  printf("last state: %s\n", last_ckpt);
  status = 0;
done:
  bm_trainer_free(tr);
  bm_dataset_free(&train_ds);
  if (have_val) bm_dataset_free(&val_ds);
  bm_free(cfg_text);
  bm_free(last_ckpt);
  bm_free(classes_path);
  return status;
}
