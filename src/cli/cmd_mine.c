/* boxmine mine: Active Sample Mining on a VOC dataset into a run folder (bm_mine_loop.h). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_det.h"
#include "boxmine/bm_eval.h"
#include "boxmine/bm_mine_loop.h"
#include "cli/cli.h"
#include "cli/cli_det.h"

/* where the descriptions start in --help */
#define HELP_COLUMN 25

/* The defaults of the run's options: the loop's, and the trainer's with a constant learning
 * rate (a schedule over the initial labelled set if one is asked for). */
static void default_options(bm_loop_opts *lo, cli_train_args *ta) {
  bm_loop_opts_default(lo);
  bm_train_opts train = bm_train_defaults();
  train.schedule = BM_SCHEDULE_CONST;
  train.schedule_epochs = 60;
  train.seed = lo->seed; /* --seed: one seed for the split, the mining and the training */
  train.ema_decay = 0.99f; /* a round is ~25 updates: average over ~4 rounds, not ~40 */
  cli_train_args_init(ta, &train, &lo->eval_detect, lo->ap_thre, lo->checkpoint_minutes);
}

static void usage(FILE *out) {
  bm_loop_opts loop_defaults;
  cli_train_args defaults_args;
  default_options(&loop_defaults, &defaults_args);
  const cli_train_args *defaults = &defaults_args;
  fprintf(out,
          "usage: boxmine mine --data DIR --out RUN [options]\n"
          "       boxmine mine --out RUN --resume [--max-rounds N] [--budget-seconds F] [--threads N]\n\n"
          "Active Sample Mining (docs/MINING.md): trains a detector on an initial labelled part of\n"
          "the pool (phase 1), then runs rounds that detect a batch, let the machine label what it\n"
          "is sure of, charge simulated people for the rest (the pool's hidden ground truth is the\n"
          "oracle), and retrain. Writes into RUN: rounds.jsonl, summary.json, last.ckpt, best.ckpt,\n"
          "phase1.ckpt, TensorBoard events, annotations/ (the labelled set as VOC XML with each\n"
          "box's provenance). Compare runs with `boxmine report RUN1 RUN2 --out DIR`.\n"
          "Ctrl-C saves the state and exits with status 130; --resume continues.\n\n"
          "data and run:\n"
          "  --data DIR             VOC dataset root\n"
          "  --split NAME           the pool to mine (default trainval)\n"
          "  --test-split NAME      the evaluation set E (default test)\n"
          "  --cfg FILE             darknet network cfg (default cfg/boxmine-tiny.cfg)\n"
          "  --input WxH            network input size instead of the cfg's (e.g. 128x128)\n"
          "  --seed N               seed of the split, the mining and the training (default 1)\n"
          "  --deterministic        keep the thread count on --resume (bit-identical results)\n"
          "  --resume               continue the run in RUN (only --max-rounds, --budget-seconds,\n"
          "                         --threads and --data may be given again)\n"
          "  --checkpoint-minutes F also save last.ckpt inside an epoch this often (default 10)\n"
          "  --phase1-from RUN0     start from RUN0/phase1.ckpt (same data, seed, --init and\n"
          "                         phase-1 settings) instead of training phase 1 again\n"
          "mining (defaults: asm-spec, except where docs/MINING.md says why):\n"
          "  --strategy NAME        v1, v1plus, topk-alratio, topk-alratio-thre, topk-slscore,\n"
          "                         random, uncertainty, full, random-verify (random images,\n"
          "                         people verify the machine's boxes and draw what it missed)\n"
          "                         (default topk-slscore)\n"
          "  --oracle MODE          trust: images the machine is sure of are pseudo-labelled with\n"
          "                         no human look, the rest go to people and join L; verify (the\n"
          "                         reference's): people check every batch image once, and it\n"
          "                         joins L (default trust;\n"
          "                         verify for v1, v1plus and topk-alratio); human: real people\n"
          "                         review each batch (docs/REVIEW.md): the run stops after detection\n"
          "                         with the batch in RUN/review/round-R/, and --resume goes on with\n"
          "                         their answers (boxmine serve RUN, or boxmine review import)\n"
          "  --init N | --init-frac F  initial labelled images (default 20%% of the pool)\n"
          "  --K N                  batch size per round (default 200)\n"
          "  --certain-thre F       score >= F is certain (default 0.8)\n"
          "  --uncertain-thre F     score in [F, certain) is uncertain (default 0.3)\n"
          "  --judge-iou F          uncertain boxes re-judge certain ones above this IoU (0.5)\n"
          "  --gt-iou F             the oracle accepts a machine box above this IoU (0.8)\n"
          "  --sl-hi F / --sl-lo F  topk-slscore: certain at or above / uncertain at or below\n"
          "                         (0.5 / 0.3)\n"
          "  --al-lo F / --al-hi F  topk-alratio-thre: certain at or below / uncertain at or\n"
          "                         above (0.3 / 0.6)\n"
          "  --train-from-labeled N images of L added to each round's training (default K;\n"
          "                        full: all of L unless given)\n"
          "  --uncertainty mean|least  measure of the uncertainty baseline (default mean)\n"
          "  --candidates N         uncertainty baseline: images of U scored per round (0 = all)\n"
          "  --eval-update N        move N people-checked images per round to E_new (default 0)\n"
          "  --cost-draw F          seconds to draw a box (default 7)\n"
          "  --cost-verify F        seconds to accept/reject a machine box (default 1.5)\n"
          "  --cost-image F         seconds to open an image (default 2)\n"
          "  --cost-adjust F        seconds to adjust a machine box (oracle human; default 3.5)\n"
          "rounds and stopping:\n"
          "  --epochs-per-round N   training epochs per round (default 1)\n"
          "  --max-rounds N         mining rounds at most, 0 = no limit (default 20)\n"
          "  --budget-seconds F     stop after the round in which human seconds reach F\n"
          "  --stop-when-exhausted  end when U and Q are empty (default: keep training on L)\n"
          "  --pre-epochs N         phase 1 ends after N epochs at the latest (default 30)\n"
          "  --ap-range-pre N --ap-shift-pre F   phase-1 early stop window and shift (3, 0.05)\n"
          "  --ap-range-asm N --ap-shift-asm F   phase-2 early stop window and shift (5, 0.001)\n"
          "  --ap-thre F            early stops only after an AP above F (default 0.5)\n"
          "  --ap-metric NAME       ap50, ap75 or ap_coco: what early stop and best watch (ap50)\n"
          "training (as boxmine train):\n");
  cli_train_help(out, defaults, HELP_COLUMN);
  fprintf(out,
          "  --schedule-epochs F    the schedule's length, in epochs of the initial labelled set\n"
          "                         (default %g)\n"
          "evaluation (on the test split, VOC all-point AP50/AP75 and COCO AP):\n",
          defaults->train.schedule_epochs);
  cli_train_eval_help(out, defaults, HELP_COLUMN);
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

/* The CLI's own settings, kept in the checkpoints so --resume needs only --out. */
typedef struct cli_settings {
  char data[1024];
  char split[128];
  char test_split[128];
  int deterministic;
} cli_settings;

static int save_cli(void *user, bm_ckpt_writer *w) {
  const cli_settings *s = user;
  bm_buf text;
  bm_buf_init(&text);
  bm_buf_printf(&text, "data=%s\nsplit=%s\ntest_split=%s\ndeterministic=%d\n", s->data, s->split,
                s->test_split, s->deterministic);
  int rc = text.failed ? -1 : bm_ckpt_add_string(w, "mine.cli", text.data);
  bm_buf_free(&text);
  return rc;
}

static void load_setting(void *user, const char *key, const char *value) {
  cli_settings *s = user;
  if (!strcmp(key, "data")) snprintf(s->data, sizeof s->data, "%s", value);
  else if (!strcmp(key, "split")) snprintf(s->split, sizeof s->split, "%s", value);
  else if (!strcmp(key, "test_split")) snprintf(s->test_split, sizeof s->test_split, "%s", value);
  else if (!strcmp(key, "deterministic")) s->deterministic = atoi(value);
}

/* ---- progress display ------------------------------------------------------------------ */
typedef struct display {
  cli_progress bar;
  int bar_open;
  int64_t bar_epoch;
  char bar_label[64];
  cli_progress det_bar;
  int det_open;
  char det_label[64];
  int pool_size;
} display;

static void close_bars(display *d) {
  if (d->bar_open) fputc('\n', stderr);
  d->bar_open = 0;
}

static int show_update(void *user, const bm_train_progress *p) {
  display *d = user;
  if (!d->bar_open || d->bar_epoch != p->epoch) {
    snprintf(d->bar_label, sizeof d->bar_label, "  train epoch %lld", (long long)p->epoch + 1);
    cli_progress_start(&d->bar, d->bar_label, p->n_batches);
    d->bar.done = p->batch - 1;
    d->bar_open = 1;
    d->bar_epoch = p->epoch;
  }
  char extra[160];
  snprintf(extra, sizeof extra, "loss %.3f lr %.2e %.1f img/s", p->epoch_loss, p->lr,
           p->images_per_s);
  if (p->batch == p->n_batches) {
    cli_progress_finish(&d->bar, extra);
    d->bar_open = 0;
  } else {
    cli_progress_update(&d->bar, p->batch, extra);
  }
  return interrupted != 0;
}

static void show_detect(void *user, const char *what, long done, long total) {
  display *d = user;
  if (!d->det_open) {
    snprintf(d->det_label, sizeof d->det_label, "  %s", what);
    cli_progress_start(&d->det_bar, d->det_label, total);
    d->det_open = 1;
  }
  if (done >= total) {
    cli_progress_finish(&d->det_bar, NULL);
    d->det_open = 0;
  } else {
    cli_progress_update(&d->det_bar, done, NULL);
  }
}

static void show_record(void *user, const bm_round_record *r) {
  display *d = user;
  close_bars(d);
  if (r->phase == 1) {
    fprintf(stderr, "phase 1 epoch %d: L %ld U %ld | test AP50 %.4f AP75 %.4f COCO AP %.4f", r->round,
            r->labeled_images, r->unlabeled_images, r->ap50, r->ap75, r->ap_coco);
  } else {
    fprintf(stderr,
            "round %d: L %ld U %ld Q %ld | batch %ld: SL %ld AL %ld images, SL %ld AL %ld boxes | "
            "test AP50 %.4f AP75 %.4f COCO AP %.4f | human %.0f s (%ld drawn, %ld verified)",
            r->round, r->labeled_images, r->unlabeled_images, r->queued_images, r->batch_images,
            r->sl_images, r->al_images, r->sl_boxes, r->al_boxes, r->ap50, r->ap75, r->ap_coco,
            r->human_seconds, r->human_draws, r->human_verifies);
    if (isfinite(r->pseudo_precision))
      fprintf(stderr, " | pseudo-labels precision %.3f recall %.3f", r->pseudo_precision,
              r->pseudo_recall);
  }
  if (isfinite(r->ap_shift)) fprintf(stderr, " | AP shift %.4f", r->ap_shift);
  fprintf(stderr, " | loss %.3f | %.0f s\n", r->train_loss, r->seconds);
}

static void show_message(void *user, const char *text) {
  close_bars(user);
  fprintf(stderr, "boxmine mine: %s\n", text);
}

static int should_stop(void *user) {
  (void)user;
  return interrupted != 0;
}

/* ---- options -------------------------------------------------------------------------- */
static char *join_command_line(int argc, char **argv) {
  bm_buf b;
  bm_buf_init(&b);
  bm_buf_puts(&b, "boxmine");
  for (int i = 0; i < argc; i++) bm_buf_printf(&b, " %s", argv[i]);
  if (b.failed) {
    bm_buf_free(&b);
    return NULL;
  }
  return b.data; /* owned by the caller */
}

static int load_datasets(const cli_settings *cs, const char *classes_path, int classes_exist,
                         bm_dataset *pool, bm_dataset *test) {
  bm_log log = cli_log();
  bm_error err;
  bm_dataset_opts d;
  memset(&d, 0, sizeof d);
  d.root = cs->data;
  d.split = cs->split;
  if (classes_exist) d.classes_file = classes_path;
  else d.class_list_out = classes_path;
  if (bm_dataset_load(pool, &d, &log, &err)) return cli_error("%s", err.msg), -1;
  d.split = cs->test_split;
  d.class_list_out = NULL;
  d.classes_file = classes_path;
  /* evaluation only: the ground truth as written, as the reference evaluators read it */
  if (bm_eval_load_dataset(test, &d, &log, &err)) return cli_error("%s", err.msg), -1;
  cli_warn_shared_images("the pool (--split)", pool, "the test set (--test-split)", test);
  return 0;
}

int cmd_mine(int argc, char **argv) {
  bm_loop_opts lo;
  cli_train_args ta;
  default_options(&lo, &ta);
  cli_settings cs;
  memset(&cs, 0, sizeof cs);
  snprintf(cs.split, sizeof cs.split, "trainval");
  snprintf(cs.test_split, sizeof cs.test_split, "test");
  const char *phase1_from = NULL;
  int oracle_given = 0, max_rounds_given = 0, budget_given = 0;
  long init_n = -1;
  double init_frac = -1;
  /* mine's own numeric options (the shared training ones: cli_train_arg) */
  const cli_number_opt numbers[] = {
      {.name = "--max-rounds", .lo = 0, .hi = 1000000, .kind = CLI_NUMBER_INT,
       .to.i = &lo.max_rounds, .given = &max_rounds_given, .on_resume = 1},
      {.name = "--budget-seconds", .lo = 0, .hi = 1e15, .kind = CLI_NUMBER_DOUBLE,
       .to.d = &lo.budget_seconds, .given = &budget_given, .on_resume = 1},
      CLI_LONG_OPT("--init", 1, 100000000, &init_n),
      CLI_DOUBLE_OPT("--init-frac", 1e-9, 1, &init_frac),
      CLI_INT_OPT("--K", 1, 100000000, &lo.mine.K),
      CLI_INT_OPT("--train-from-labeled", -1, 100000000, &lo.mine.train_from_labeled),
      CLI_INT_OPT("--candidates", 0, 100000000, &lo.mine.candidates),
      CLI_INT_OPT("--eval-update", 0, 100000000, &lo.mine.eval_update),
      CLI_INT_OPT("--epochs-per-round", 1, 100000, &lo.epochs_per_round),
      CLI_INT_OPT("--pre-epochs", 1, 100000, &lo.pre_epochs),
      CLI_INT_OPT("--ap-range-pre", 0, BM_EARLYSTOP_MAX_WINDOW, &lo.ap_range_pre),
      CLI_INT_OPT("--ap-range-asm", 0, BM_EARLYSTOP_MAX_WINDOW, &lo.ap_range_asm),
      CLI_FLOAT_OPT("--certain-thre", 0, 1, &lo.fusion.certain_thre),
      CLI_FLOAT_OPT("--uncertain-thre", 0, 1, &lo.fusion.uncertain_thre),
      CLI_FLOAT_OPT("--judge-iou", 0, 1, &lo.fusion.judge_iou),
      CLI_FLOAT_OPT("--gt-iou", 0, 1, &lo.fusion.gt_iou),
      CLI_FLOAT_OPT("--sl-hi", 0, 1, &lo.mine.sl_hi),
      CLI_FLOAT_OPT("--sl-lo", 0, 1, &lo.mine.sl_lo),
      CLI_FLOAT_OPT("--al-hi", 0, 1, &lo.mine.al_hi),
      CLI_FLOAT_OPT("--al-lo", 0, 1, &lo.mine.al_lo),
      CLI_DOUBLE_OPT("--cost-draw", 0, 1e9, &lo.costs.draw),
      CLI_DOUBLE_OPT("--cost-verify", 0, 1e9, &lo.costs.verify),
      CLI_DOUBLE_OPT("--cost-image", 0, 1e9, &lo.costs.image),
      CLI_DOUBLE_OPT("--cost-adjust", 0, 1e9, &lo.costs.adjust),
      CLI_DOUBLE_OPT("--ap-shift-pre", 1e-12, 1, &lo.ap_shift_pre),
      CLI_DOUBLE_OPT("--ap-shift-asm", 1e-12, 1, &lo.ap_shift_asm),
      CLI_FLOAT_OPT("--schedule-epochs", 1e-6, 1e9, &ta.train.schedule_epochs),
  };
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    bm_error err;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    int took = cli_train_arg(&ta, numbers, sizeof numbers / sizeof numbers[0], argc, argv, &i);
    if (took < 0) return 2;
    if (took > 0) continue;
    if (!strcmp(a, "--stop-when-exhausted")) { lo.stop_when_exhausted = 1; continue; }
    if (!strcmp(a, "--split") || !strcmp(a, "--test-split") || !strcmp(a, "--strategy") ||
        !strcmp(a, "--oracle") || !strcmp(a, "--ap-metric") || !strcmp(a, "--uncertainty") ||
        !strcmp(a, "--phase1-from")) {
      if (!v) return cli_error("%s needs a value", a), 2;
      i++;
      ta.not_on_resume = a;
      if (!strcmp(a, "--phase1-from")) phase1_from = v;
      else if (!strcmp(a, "--split")) snprintf(cs.split, sizeof cs.split, "%s", v);
      else if (!strcmp(a, "--test-split")) snprintf(cs.test_split, sizeof cs.test_split, "%s", v);
      else if (!strcmp(a, "--strategy")) {
        if (bm_strategy_parse(v, &lo.mine.strategy, &err)) return cli_error("--strategy: %s", err.msg), 2;
      } else if (!strcmp(a, "--oracle")) {
        if (bm_oracle_parse(v, &lo.mine.oracle, &err)) return cli_error("--oracle: %s", err.msg), 2;
        oracle_given = 1;
      } else if (!strcmp(a, "--ap-metric")) {
        if (bm_ap_metric_parse(v, &lo.ap_metric, &err)) return cli_error("--ap-metric: %s", err.msg), 2;
      } else {
        if (!strcmp(v, "mean")) lo.mine.uncertainty = BM_UNCERTAINTY_MEAN_CERTAIN;
        else if (!strcmp(v, "least")) lo.mine.uncertainty = BM_UNCERTAINTY_LEAST_CONFIDENT;
        else return cli_error("--uncertainty: '%s' is not mean or least", v), 2;
      }
      continue;
    }
    cli_error("unknown option '%s' (see boxmine mine --help)", a);
    return 2;
  }
  const char *data = ta.data, *out = ta.out, *cfg_path = ta.cfg_path;
  int resume = ta.resume;
  if (!out) return cli_error("--out RUN is required (see boxmine mine --help)"), 2;
  if (!resume && !data) return cli_error("--data DIR is required (see boxmine mine --help)"), 2;
  if (resume && phase1_from) return cli_error("--resume and --phase1-from exclude each other"), 2;
  if (init_n > 0 && init_frac > 0) return cli_error("give --init or --init-frac, not both"), 2;
  /* trust mode needs an image-level certain side; these strategies have none */
  if (!oracle_given && (lo.mine.strategy == BM_STRATEGY_V1 || lo.mine.strategy == BM_STRATEGY_V1PLUS ||
                        lo.mine.strategy == BM_STRATEGY_TOPK_ALRATIO))
    lo.mine.oracle = BM_ORACLE_VERIFY;
  if (cli_train_args_finish(&ta)) return 2;
  cfg_path = ta.cfg_path; /* --pretrained NAME may have set it */
  bm_train_opts to = ta.train;
  lo.seed = ta.train.seed;
  lo.ap_thre = ta.ap_thre;
  lo.checkpoint_minutes = ta.checkpoint_minutes;
  lo.eval_detect.thresh = (float)ta.thresh;
  lo.eval_detect.nms = (float)ta.nms;
  lo.eval_detect.max_dets = ta.max_dets;
  cs.deterministic = ta.deterministic;
  lo.mine_detect = bm_mine_detect_opts(&lo.eval_detect, &lo.fusion);

  char *command_line = join_command_line(argc, argv);
  char *last_ckpt = bm_path_join(out, "last.ckpt");
  char *classes_path = bm_path_join(out, "classes.txt");
  bm_log log = cli_log();
  bm_error err = {{0}};
  bm_dataset pool, test;
  memset(&pool, 0, sizeof pool);
  memset(&test, 0, sizeof test);
  bm_loop *loop = NULL;
  char *cfg_text = NULL;
  int status = 1;
  display disp;
  memset(&disp, 0, sizeof disp);

  if (resume) {
    if (cli_train_args_resume(&ta, out, last_ckpt, &log)) goto done;
    bm_loop_opts saved;
    if (cli_read_settings(last_ckpt, "mine.cli", "not written by 'boxmine mine'", load_setting, &cs) ||
        bm_loop_saved_opts(last_ckpt, &saved, &err)) {
      if (err.msg[0]) cli_error("%s", err.msg);
      goto done;
    }
    if (max_rounds_given) saved.max_rounds = lo.max_rounds;
    if (budget_given) saved.budget_seconds = lo.budget_seconds;
    saved.stop_when_exhausted = saved.stop_when_exhausted || lo.stop_when_exhausted;
    lo = saved;
    if (data) snprintf(cs.data, sizeof cs.data, "%s", data);
    int threads = cli_train_args_resume_threads(&ta, cs.deterministic, &log);
    if (load_datasets(&cs, classes_path, 1, &pool, &test)) goto done;
    if (bm_loop_resume(&loop, out, last_ckpt, &lo, &pool, &test, threads, command_line, save_cli,
                       &cs, &log, &err)) {
      cli_error("cannot resume: %s", err.msg);
      goto done;
    }
    fprintf(stderr, "boxmine mine: resuming %s (%s, %d mining rounds done)\n", out,
            bm_strategy_name(lo.mine.strategy), bm_loop_state(loop)->round);
  } else {
    if (bm_file_exists(last_ckpt)) {
      cli_error("%s already holds a run (%s); use --resume to continue it or another --out", out,
                last_ckpt);
      goto done;
    }
    snprintf(cs.data, sizeof cs.data, "%s", data);
    if (bm_mkdir_p(out, &err)) {
      cli_error("%s", err.msg);
      goto done;
    }
    if (load_datasets(&cs, classes_path, 0, &pool, &test)) goto done;
    if (pool.n_images < 2) {
      cli_error("%s: the pool (%s) has %d images; mining needs at least 2", cs.data, cs.split,
                pool.n_images);
      goto done;
    }
    lo.n_init = init_n > 0 ? (int)init_n
                           : (int)lround((init_frac > 0 ? init_frac : 0.2) * pool.n_images);
    if (lo.n_init < 1) lo.n_init = 1;
    if (lo.n_init > pool.n_images) {
      cli_error("--init %d is more than the %d images of the pool", lo.n_init, pool.n_images);
      status = 2;
      goto done;
    }
    if (bm_loop_opts_check(&lo, pool.n_images, &err)) {
      cli_error("%s", err.msg);
      status = 2;
      goto done;
    }
    if (phase1_from) {
      char *from = bm_path_join(phase1_from, "phase1.ckpt");
      char *bytes = NULL;
      size_t len = 0;
      int rc = from ? bm_read_file(from, &bytes, &len, &err) : -1;
      if (rc == 0) rc = bm_write_file_atomic(last_ckpt, bytes, len, &err);
      bm_free(bytes);
      if (rc) {
        cli_error("--phase1-from: %s", err.msg);
        bm_free(from);
        goto done;
      }
      if (bm_loop_resume(&loop, out, last_ckpt, &lo, &pool, &test, to.threads, command_line,
                         save_cli, &cs, &log, &err)) {
        cli_error("--phase1-from %s: %s", from, err.msg);
        bm_free(from);
        remove(last_ckpt);
        goto done;
      }
      fprintf(stderr, "boxmine mine: starting from phase 1 of %s\n", phase1_from);
      bm_free(from);
    } else {
      if (cli_load_cfg(cfg_path, ta.input_w, ta.input_h, &cfg_text)) goto done;
      bm_trainer *tr = NULL;
      if (bm_trainer_create(&tr, cfg_text, cfg_path ? cfg_path : CLI_DEFAULT_CFG, pool.n_classes,
                            pool.class_names, &to, lo.n_init, &log, &err) ||
          bm_loop_create(&loop, out, &lo, &pool, &test, tr, command_line, save_cli, &cs, &err)) {
        cli_error("%s", err.msg);
        goto done;
      }
    }
  }
  const bm_train_opts *used = bm_trainer_opts(bm_loop_trainer(loop));
  fprintf(stderr,
          "boxmine mine: pool %d %s images, test %d %s images, %d classes; strategy %s, oracle %s, "
          "initial L %d, K %d, max rounds %d%s; batch %d, lr %g, %d threads, seed %llu\n",
          pool.n_images, cs.split, test.n_images, cs.test_split, pool.n_classes,
          bm_strategy_name(lo.mine.strategy), bm_oracle_name(lo.mine.oracle), lo.n_init, lo.mine.K,
          lo.max_rounds, lo.max_rounds == 0 ? " (no limit)" : "", used->batch, used->lr,
          used->threads, (unsigned long long)lo.seed);
  disp.pool_size = pool.n_images;
  bm_loop_hooks hooks = {show_update, show_detect, show_record, show_message, should_stop, &disp};
  bm_loop_result result;
  interrupted = 0;
  void (*old_handler)(int) = signal(SIGINT, on_sigint);
  int rc = bm_loop_run(loop, &hooks, &result, &err);
  signal(SIGINT, old_handler);
  close_bars(&disp);
  if (rc) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (result.awaiting_review) {
    printf("boxmine mine: %s\n", result.stop_reason);
    status = 0;
    goto done;
  }
  if (!result.finished) {
    fprintf(stderr, "boxmine mine: interrupted; state saved in %s (continue with --resume)\n",
            last_ckpt);
    status = 130; /* as a shell reports a Ctrl-C */
    goto done;
  }
  const bm_round_record *r = &result.last;
  printf("mining finished: %s\n", result.stop_reason);
  printf("phase 1: %d epochs; mining rounds: %d\n", result.phase1_epochs, result.rounds);
  printf("last record: test AP50 %.4f, AP75 %.4f (VOC all-point), COCO AP %.4f; labelled images %ld\n",
         r->ap50, r->ap75, r->ap_coco, r->labeled_images);
  printf("human effort: %.0f s (%.1f min): %ld boxes drawn, %ld verified, %ld images opened\n",
         r->human_seconds, r->human_seconds / 60, r->human_draws, r->human_verifies,
         r->human_images);
  if (result.best_round >= 0)
    printf("best round: %d, test %s %.4f -> %s/best.ckpt\n", result.best_round,
           bm_ap_metric_name(lo.ap_metric), result.best_ap, out);
  printf("files: %s/rounds.jsonl, %s/summary.json, %s/annotations/\n", out, out, out);
  status = 0;
done:
  bm_loop_free(loop);
  bm_dataset_free(&pool);
  bm_dataset_free(&test);
  bm_free(cfg_text);
  bm_free(command_line);
  bm_free(last_ckpt);
  bm_free(classes_path);
  return status;
}
