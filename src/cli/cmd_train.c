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

/* Settings of the run kept in its checkpoints (section "run.settings"), so --resume needs
 * only --out; --data and --epochs may be given again. */
typedef struct run_settings {
  cli_run_data d; /* data, split, val_split */
  int epochs, eval_every, ap_range, deterministic, max_dets;
  double ap_shift, ap_thre, thresh, nms, checkpoint_minutes;
} run_settings;

#define ROW(member, key, kind, rule) BM_SETTING_ROW(run_settings, member, key, kind, rule)
static const bm_setting setting_rows[] = {
    CLI_RUN_DATA_ROWS(run_settings, d, "val_split"),
    ROW(epochs, "epochs", BM_SETTING_INT, BM_SETTING_MAY_CHANGE),
    ROW(eval_every, "eval_every", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(ap_range, "ap_range", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(deterministic, "deterministic", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(max_dets, "max_dets", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(ap_shift, "ap_shift", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
    ROW(ap_thre, "ap_thre", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
    ROW(thresh, "thresh", BM_SETTING_DOUBLE9, BM_SETTING_FIXED),
    ROW(nms, "nms", BM_SETTING_DOUBLE9, BM_SETTING_FIXED),
    ROW(checkpoint_minutes, "checkpoint_minutes", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
};
#undef ROW
static const bm_settings settings = BM_SETTINGS("run.settings", setting_rows);

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
  return cli_interrupted();
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

/* What the command line asked for. */
typedef struct train_args {
  run_settings rs;
  bm_fit_opts fit;
  cli_train_args ta;
  int epochs_given;
  long stop_after;
} train_args;

/* Parses argv into a; returns -1 to go on, else the exit status (0 after --help). */
static int parse_args(int argc, char **argv, train_args *a) {
  memset(a, 0, sizeof *a);
  run_settings *rs = &a->rs;
  snprintf(rs->d.split, sizeof rs->d.split, "trainval");
  snprintf(rs->d.eval_split, sizeof rs->d.eval_split, "test");
  default_options(&a->fit, &a->ta);
  rs->epochs = a->fit.epochs;
  rs->eval_every = a->fit.eval_every;
  rs->ap_range = a->fit.ap_range;
  rs->ap_shift = a->fit.ap_shift;
  /* train's own numeric options (the shared ones: cli_train_arg) */
  const cli_number_opt numbers[] = {
      {.name = "--epochs", .lo = 1, .hi = 1000000, .kind = CLI_NUMBER_INT, .to.i = &rs->epochs,
       .given = &a->epochs_given, .on_resume = 1},
      {.name = "--stop-after", .lo = 1, .hi = 1000000, .kind = CLI_NUMBER_LONG,
       .to.l = &a->stop_after, .on_resume = 1},
      CLI_INT_OPT("--eval-every", 0, 1000000, &rs->eval_every),
      CLI_INT_OPT("--ap-range", 0, 1000, &rs->ap_range),
      CLI_DOUBLE_OPT("--ap-shift", 0, 1, &rs->ap_shift),
  };
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) return usage(stdout), 0;
    int took = cli_train_arg(&a->ta, numbers, sizeof numbers / sizeof numbers[0], argc, argv, &i);
    if (took < 0) return 2;
    if (took > 0) continue;
    if (!strcmp(opt, "--split") || !strcmp(opt, "--val-split")) {
      if (!v) return cli_error("%s needs a value", opt), 2;
      i++;
      a->ta.not_on_resume = opt;
      if (!strcmp(opt, "--split")) snprintf(rs->d.split, sizeof rs->d.split, "%s", v);
      else snprintf(rs->d.eval_split, sizeof rs->d.eval_split, "%s", v);
      continue;
    }
    return cli_error("unknown option '%s' (see boxmine train --help)", opt), 2;
  }
  if (!a->ta.out) return cli_error("--out RUN is required (see boxmine train --help)"), 2;
  if (!a->ta.resume && !a->ta.data)
    return cli_error("--data DIR is required (see boxmine train --help)"), 2;
  if (cli_train_args_finish(&a->ta)) return 2; /* --pretrained NAME may set ta.cfg_path */
  rs->deterministic = a->ta.deterministic;
  rs->ap_thre = a->ta.ap_thre;
  rs->thresh = a->ta.thresh;
  rs->nms = a->ta.nms;
  rs->max_dets = a->ta.max_dets;
  rs->checkpoint_minutes = a->ta.checkpoint_minutes;
  if (a->ta.data) snprintf(rs->d.data, sizeof rs->d.data, "%s", a->ta.data);
  a->ta.train.schedule_epochs = (float)rs->epochs;
  return -1;
}

/* The trainer of the run: a new one, or the state in RUN/last.ckpt with the run's own
 * settings (rs) back. */
static int open_trainer(train_args *a, bm_run **run, bm_trainer **tr, bm_dataset *train,
                        bm_dataset *val, int *have_val) {
  bm_log log = cli_log();
  bm_error err;
  char *cfg_text = NULL;
  const char *cfg_path = a->ta.cfg_path;
  if (!a->ta.resume && cli_load_cfg(cfg_path, a->ta.input_w, a->ta.input_h, &cfg_text)) return -1;
  int rc = cli_run_open(&a->ta, run, &log);
  if (rc == 0 && a->ta.resume) {
    const char *given[3] = {NULL, NULL, NULL}, **g = given;
    if (a->epochs_given) *g++ = "epochs";
    if (a->ta.data) *g++ = "data";
    rc = cli_run_settings(&settings, *run, &a->rs, given);
    int threads = rc ? 0 : cli_train_args_resume_threads(&a->ta, a->rs.deterministic, &log);
    if (rc == 0 && bm_trainer_load(tr, bm_run_last_ckpt(*run), threads, &log, &err))
      rc = cli_error("cannot resume: %s", err.msg);
    if (rc == 0)
      fprintf(stderr, "boxmine train: resuming %s at epoch %lld, update %lld\n", a->ta.out,
              (long long)bm_trainer_epoch(*tr), (long long)bm_trainer_iteration(*tr));
  }
  *have_val = strcmp(a->rs.d.eval_split, "none") && a->rs.eval_every > 0;
  if (rc == 0) rc = cli_run_load_data(&a->rs.d, *run, 0, *have_val, train, val);
  if (rc == 0 && !*tr) {
    if (bm_trainer_create(tr, cfg_text, cfg_path ? cfg_path : CLI_DEFAULT_CFG, train->n_classes,
                          train->class_names, &a->ta.train, train->n_images, &log, &err))
      rc = cli_error("%s", err.msg);
    else if (bm_trainer_pretrained_summary(*tr))
      fputs(bm_trainer_pretrained_summary(*tr), stdout);
  }
  bm_free(cfg_text);
  return rc ? -1 : 0;
}

/* What the run did, on stdout (or stderr for Ctrl-C); the exit status. */
static int report(const train_args *a, const bm_run *run, const bm_fit_result *result) {
  const char *out = a->ta.out;
  if (result->interrupted && cli_interrupted()) {
    fprintf(stderr, "boxmine train: interrupted after %lld epochs; state saved in %s (continue with --resume)\n",
            (long long)result->epochs, bm_run_last_ckpt(run));
    return 130;
  }
  if (result->interrupted) {
    printf("stopped after %lld of %d epochs as asked (--stop-after); continue with: boxmine train --out %s --resume\n",
           (long long)result->epochs, a->rs.epochs, out);
    return 0;
  }
  printf("trained %lld epochs%s\n", (long long)result->epochs,
         result->stopped_early ? " (stopped early: AP shift below --ap-shift)" : "");
  if (isfinite(result->best_ap50))
    printf("best %s AP50 (VOC all-point): %.4f after epoch %lld -> %s/best.ckpt\n", a->rs.d.eval_split,
           result->best_ap50, (long long)result->best_epoch, out);
  printf("last state: %s\n", bm_run_last_ckpt(run));
  return 0;
}

int cmd_train(int argc, char **argv) {
  train_args a;
  int status = parse_args(argc, argv, &a);
  if (status >= 0) return status;
  bm_error err = {{0}};
  bm_run *run = NULL;
  bm_trainer *tr = NULL;
  bm_dataset train_ds, val_ds;
  memset(&train_ds, 0, sizeof train_ds);
  memset(&val_ds, 0, sizeof val_ds);
  int have_val = 0;
  status = 1;
  if (open_trainer(&a, &run, &tr, &train_ds, &val_ds, &have_val)) goto done;
  const run_settings *rs = &a.rs;
  bm_fit_opts fo = a.fit;
  fo.run_dir = a.ta.out;
  fo.run = run;
  fo.epochs = rs->epochs;
  fo.stop_after = (int)a.stop_after;
  fo.eval_every = rs->eval_every;
  fo.checkpoint_minutes = rs->checkpoint_minutes;
  fo.ap_range = rs->ap_range;
  fo.ap_shift = rs->ap_shift;
  fo.ap_thre = rs->ap_thre;
  fo.detect.thresh = (float)rs->thresh;
  fo.detect.nms = (float)rs->nms;
  fo.detect.max_dets = rs->max_dets;
  bm_settings_values saved = {&settings, &a.rs};
  fo.extra = bm_settings_extra;
  fo.extra_user = &saved;
  const bm_train_opts *used = bm_trainer_opts(tr);
  fprintf(stderr,
          "boxmine train: %d %s images, %d classes, %s%s; batch %d, %s lr %g, %d threads, seed %llu\n",
          train_ds.n_images, rs->d.split, train_ds.n_classes, have_val ? "evaluating on " : "no evaluation",
          have_val ? rs->d.eval_split : "", used->batch, bm_optim_kind_name(used->optimizer), used->lr,
          used->threads, (unsigned long long)used->seed);
  progress_state ps;
  memset(&ps, 0, sizeof ps);
  ps.epochs = rs->epochs;
  ps.val_split = rs->d.eval_split;
  bm_fit_hooks hooks = {show_update, show_epoch, show_eval_progress, &ps};
  bm_fit_result result;
  cli_interrupt_begin();
  int rc = bm_trainer_fit(tr, &train_ds, have_val ? &val_ds : NULL, &fo, &hooks, &result, &err);
  cli_interrupt_end();
  if (ps.bar_open) fputc('\n', stderr);
  status = rc ? cli_error("%s", err.msg) : report(&a, run, &result);
done:
  bm_trainer_free(tr);
  bm_dataset_free(&train_ds);
  if (have_val) bm_dataset_free(&val_ds);
  bm_run_close(run);
  return status;
}
