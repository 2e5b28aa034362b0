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
  train.schedule = BM_LR_CONST;
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

/* The CLI's own settings, kept in the checkpoints (section "mine.cli") so --resume needs
 * only --out; --data may be given again. The loop keeps its own (bm_loop_settings). */
typedef struct cli_settings {
  cli_run_data d; /* data, split, test_split */
  int deterministic;
} cli_settings;

#define ROW(member, key, kind, rule) BM_SETTING_ROW(cli_settings, member, key, kind, rule)
static const bm_setting setting_rows[] = {
    CLI_RUN_DATA_ROWS(cli_settings, d, "test_split"),
    ROW(deterministic, "deterministic", BM_SETTING_INT, BM_SETTING_FIXED),
};
#undef ROW
static const bm_settings settings = BM_SETTINGS("mine.cli", setting_rows);

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
  return cli_interrupted();
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
  return cli_interrupted();
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

/* What the command line asked for. */
typedef struct mine_args {
  bm_loop_opts lo;
  cli_train_args ta;
  cli_settings cs;
  bm_settings_values saved; /* cs as the checkpoints' "mine.cli" section */
  const char *phase1_from;
  int oracle_given, max_rounds_given, budget_given;
  long init_n;
  double init_frac;
} mine_args;

/* The options that take a word (the shared ones: cli_train_arg). 1 taken, 0 not one of them,
 * 2 a usage error. */
static int parse_word(mine_args *m, const char *a, const char *v) {
  bm_error err;
  if (strcmp(a, "--split") && strcmp(a, "--test-split") && strcmp(a, "--strategy") &&
      strcmp(a, "--oracle") && strcmp(a, "--ap-metric") && strcmp(a, "--uncertainty") &&
      strcmp(a, "--phase1-from"))
    return 0;
  if (!v) return cli_error("%s needs a value", a), 2;
  m->ta.not_on_resume = a;
  bm_mine_opts *mo = &m->lo.mine;
  if (!strcmp(a, "--phase1-from")) m->phase1_from = v;
  else if (!strcmp(a, "--split")) snprintf(m->cs.d.split, sizeof m->cs.d.split, "%s", v);
  else if (!strcmp(a, "--test-split")) snprintf(m->cs.d.eval_split, sizeof m->cs.d.eval_split, "%s", v);
  else if (!strcmp(a, "--strategy")) {
    if (bm_strategy_parse(v, &mo->strategy, &err)) return cli_error("--strategy: %s", err.msg), 2;
  } else if (!strcmp(a, "--oracle")) {
    if (bm_oracle_parse(v, &mo->oracle, &err)) return cli_error("--oracle: %s", err.msg), 2;
    m->oracle_given = 1;
  } else if (!strcmp(a, "--ap-metric")) {
    if (bm_ap_metric_parse(v, &m->lo.ap_metric, &err)) return cli_error("--ap-metric: %s", err.msg), 2;
  } else if (!strcmp(v, "mean")) {
    mo->uncertainty = BM_UNCERTAINTY_MEAN_CERTAIN;
  } else if (!strcmp(v, "least")) {
    mo->uncertainty = BM_UNCERTAINTY_LEAST_CONFIDENT;
  } else {
    return cli_error("--uncertainty: '%s' is not mean or least", v), 2;
  }
  return 1;
}

/* After the options: the checks between them and the values the loop takes from the shared
 * training options. Returns -1 to go on, else the exit status. */
static int finish_args(mine_args *m) {
  bm_loop_opts *lo = &m->lo;
  if (!m->ta.out) return cli_error("--out RUN is required (see boxmine mine --help)"), 2;
  if (!m->ta.resume && !m->ta.data) return cli_error("--data DIR is required (see boxmine mine --help)"), 2;
  if (m->ta.resume && m->phase1_from) return cli_error("--resume and --phase1-from exclude each other"), 2;
  if (m->init_n > 0 && m->init_frac > 0) return cli_error("give --init or --init-frac, not both"), 2;
  /* trust mode needs an image-level certain side; these strategies have none */
  bm_strategy st = lo->mine.strategy;
  if (!m->oracle_given && (st == BM_STRATEGY_V1 || st == BM_STRATEGY_V1PLUS || st == BM_STRATEGY_TOPK_ALRATIO))
    lo->mine.oracle = BM_ORACLE_VERIFY;
  if (cli_train_args_finish(&m->ta)) return 2; /* --pretrained NAME may set ta.cfg_path */
  lo->seed = m->ta.train.seed;
  lo->ap_thre = m->ta.ap_thre;
  lo->checkpoint_minutes = m->ta.checkpoint_minutes;
  lo->eval_detect.thresh = (float)m->ta.thresh;
  lo->eval_detect.nms = (float)m->ta.nms;
  lo->eval_detect.max_dets = m->ta.max_dets;
  m->cs.deterministic = m->ta.deterministic;
  m->saved.settings = &settings;
  m->saved.values = &m->cs;
  if (m->ta.data) snprintf(m->cs.d.data, sizeof m->cs.d.data, "%s", m->ta.data);
  lo->mine_detect = bm_mine_detect_opts(&lo->eval_detect, &lo->fusion);
  return -1;
}

/* Parses argv into m; returns -1 to go on, else the exit status (0 after --help). */
static int parse_args(int argc, char **argv, mine_args *m) {
  memset(m, 0, sizeof *m);
  bm_loop_opts *lo = &m->lo;
  default_options(lo, &m->ta);
  snprintf(m->cs.d.split, sizeof m->cs.d.split, "trainval");
  snprintf(m->cs.d.eval_split, sizeof m->cs.d.eval_split, "test");
  m->init_n = -1;
  m->init_frac = -1;
  /* mine's own numeric options (the shared training ones: cli_train_arg) */
  const cli_number_opt numbers[] = {
      {.name = "--max-rounds", .lo = 0, .hi = 1000000, .kind = CLI_NUMBER_INT,
       .to.i = &lo->max_rounds, .given = &m->max_rounds_given, .on_resume = 1},
      {.name = "--budget-seconds", .lo = 0, .hi = 1e15, .kind = CLI_NUMBER_DOUBLE,
       .to.d = &lo->budget_seconds, .given = &m->budget_given, .on_resume = 1},
      CLI_LONG_OPT("--init", 1, 100000000, &m->init_n),
      CLI_DOUBLE_OPT("--init-frac", 1e-9, 1, &m->init_frac),
      CLI_INT_OPT("--K", 1, 100000000, &lo->mine.K),
      CLI_INT_OPT("--train-from-labeled", -1, 100000000, &lo->mine.train_from_labeled),
      CLI_INT_OPT("--candidates", 0, 100000000, &lo->mine.candidates),
      CLI_INT_OPT("--eval-update", 0, 100000000, &lo->mine.eval_update),
      CLI_INT_OPT("--epochs-per-round", 1, 100000, &lo->epochs_per_round),
      CLI_INT_OPT("--pre-epochs", 1, 100000, &lo->pre_epochs),
      CLI_INT_OPT("--ap-range-pre", 0, BM_EARLYSTOP_MAX_WINDOW, &lo->ap_range_pre),
      CLI_INT_OPT("--ap-range-asm", 0, BM_EARLYSTOP_MAX_WINDOW, &lo->ap_range_asm),
      CLI_FLOAT_OPT("--certain-thre", 0, 1, &lo->fusion.certain_thre),
      CLI_FLOAT_OPT("--uncertain-thre", 0, 1, &lo->fusion.uncertain_thre),
      CLI_FLOAT_OPT("--judge-iou", 0, 1, &lo->fusion.judge_iou),
      CLI_FLOAT_OPT("--gt-iou", 0, 1, &lo->fusion.gt_iou),
      CLI_FLOAT_OPT("--sl-hi", 0, 1, &lo->mine.sl_hi),
      CLI_FLOAT_OPT("--sl-lo", 0, 1, &lo->mine.sl_lo),
      CLI_FLOAT_OPT("--al-hi", 0, 1, &lo->mine.al_hi),
      CLI_FLOAT_OPT("--al-lo", 0, 1, &lo->mine.al_lo),
      CLI_DOUBLE_OPT("--cost-draw", 0, 1e9, &lo->costs.draw),
      CLI_DOUBLE_OPT("--cost-verify", 0, 1e9, &lo->costs.verify),
      CLI_DOUBLE_OPT("--cost-image", 0, 1e9, &lo->costs.image),
      CLI_DOUBLE_OPT("--cost-adjust", 0, 1e9, &lo->costs.adjust),
      CLI_DOUBLE_OPT("--ap-shift-pre", 1e-12, 1, &lo->ap_shift_pre),
      CLI_DOUBLE_OPT("--ap-shift-asm", 1e-12, 1, &lo->ap_shift_asm),
      CLI_FLOAT_OPT("--schedule-epochs", 1e-6, 1e9, &m->ta.train.schedule_epochs),
  };
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
    int took = cli_train_arg(&m->ta, numbers, sizeof numbers / sizeof numbers[0], argc, argv, &i);
    if (took < 0) return 2;
    if (took > 0) continue;
    if (!strcmp(a, "--stop-when-exhausted")) {
      lo->stop_when_exhausted = 1;
      continue;
    }
    took = parse_word(m, a, i + 1 < argc ? argv[i + 1] : NULL);
    if (took == 2) return 2;
    if (took == 1) {
      i++;
      continue;
    }
    return cli_error("unknown option '%s' (see boxmine mine --help)", a), 2;
  }
  return finish_args(m);
}

/* The pool and the test set (cli_run_load_data), with a warning when they share images. */
static int load_data(const mine_args *m, const bm_run *run, int classes_exist, bm_dataset *pool,
                     bm_dataset *test) {
  if (cli_run_load_data(&m->cs.d, run, classes_exist, 1, pool, test)) return -1;
  cli_warn_shared_images("the pool (--split)", pool, "the test set (--test-split)", test);
  return 0;
}

/* --resume: the run's own settings (new limits and --data may be given), its data, its loop. */
static int resume_loop(mine_args *m, bm_run *run, bm_dataset *pool, bm_dataset *test,
                       const char *command_line, bm_loop **loop) {
  bm_log log = cli_log();
  bm_error err;
  const char *cli_given[2] = {m->ta.data ? "data" : NULL, NULL};
  const char *loop_given[4] = {NULL, NULL, NULL, NULL}, **g = loop_given;
  if (m->max_rounds_given) *g++ = "max_rounds";
  if (m->budget_given) *g++ = "budget_seconds";
  if (m->lo.stop_when_exhausted) *g++ = "stop_when_exhausted";
  if (cli_run_settings(&settings, run, &m->cs, cli_given) ||
      cli_run_settings(&bm_loop_settings, run, &m->lo, loop_given)) {
    bm_run_close(run);
    return -1;
  }
  int threads = cli_train_args_resume_threads(&m->ta, m->cs.deterministic, &log);
  if (load_data(m, run, 1, pool, test)) {
    bm_run_close(run);
    return -1;
  }
  if (bm_loop_resume(loop, run, bm_run_last_ckpt(run), &m->lo, pool, test, threads, command_line,
                     bm_settings_extra, &m->saved, &log, &err))
    return cli_error("cannot resume: %s", err.msg), -1;
  fprintf(stderr, "boxmine mine: resuming %s (%s, %d mining rounds done)\n", m->ta.out,
          bm_strategy_name(m->lo.mine.strategy), bm_loop_state(*loop)->round);
  return 0;
}

/* --phase1-from RUN0: RUN0/phase1.ckpt becomes this run's last.ckpt, continued as a resume. */
static int start_from_phase1(mine_args *m, bm_run *run, bm_dataset *pool, bm_dataset *test,
                             const char *command_line, bm_loop **loop) {
  bm_log log = cli_log();
  bm_error err;
  char *from = bm_path_join(m->phase1_from, "phase1.ckpt");
  char *last = bm_strdup(bm_run_last_ckpt(run));
  char *bytes = NULL;
  size_t len = 0;
  int rc = from && last ? bm_read_file(from, &bytes, &len, &err) : bm_fail(&err, "out of memory");
  if (rc == 0) rc = bm_write_file_atomic(last, bytes, len, &err);
  bm_free(bytes);
  if (rc) {
    bm_run_close(run);
    cli_error("--phase1-from: %s", err.msg);
  } else if (bm_loop_resume(loop, run, last, &m->lo, pool, test, m->ta.train.threads,
                            command_line, bm_settings_extra, &m->saved, &log, &err)) {
    cli_error("--phase1-from %s: %s", from, err.msg);
    remove(last);
    rc = -1;
  } else {
    fprintf(stderr, "boxmine mine: starting from phase 1 of %s\n", m->phase1_from);
  }
  bm_free(from);
  bm_free(last);
  return rc;
}

/* A new run: its data, the initial labelled set, then a new trainer or another run's phase 1.
 * Returns 0, or the exit status. */
static int start_loop(mine_args *m, bm_run *run, bm_dataset *pool, bm_dataset *test,
                      const char *command_line, bm_loop **loop) {
  bm_log log = cli_log();
  bm_error err;
  bm_loop_opts *lo = &m->lo;
  int status = 1;
  if (load_data(m, run, 0, pool, test)) goto failed;
  if (pool->n_images < 2) {
    cli_error("%s: the pool (%s) has %d images; mining needs at least 2", m->cs.d.data, m->cs.d.split,
              pool->n_images);
    goto failed;
  }
  lo->n_init = m->init_n > 0 ? (int)m->init_n
                             : (int)lround((m->init_frac > 0 ? m->init_frac : 0.2) * pool->n_images);
  if (lo->n_init < 1) lo->n_init = 1;
  status = 2;
  if (lo->n_init > pool->n_images) {
    cli_error("--init %d is more than the %d images of the pool", lo->n_init, pool->n_images);
    goto failed;
  }
  if (bm_loop_opts_check(lo, pool->n_images, &err)) {
    cli_error("%s", err.msg);
    goto failed;
  }
  if (m->phase1_from) return start_from_phase1(m, run, pool, test, command_line, loop) ? 1 : 0;
  char *cfg_text = NULL;
  const char *cfg_path = m->ta.cfg_path;
  bm_trainer *tr = NULL;
  if (cli_load_cfg(cfg_path, m->ta.input_w, m->ta.input_h, &cfg_text)) {
    bm_run_close(run);
    return 1;
  }
  int rc = bm_trainer_create(&tr, cfg_text, cfg_path ? cfg_path : CLI_DEFAULT_CFG, pool->n_classes,
                             pool->class_names, &m->ta.train, lo->n_init, &log, &err);
  if (rc) bm_run_close(run);
  else rc = bm_loop_create(loop, run, lo, pool, test, tr, command_line, bm_settings_extra, &m->saved, &err);
  bm_free(cfg_text);
  return rc ? cli_error("%s", err.msg) : 0;
failed:
  bm_run_close(run);
  return status;
}

/* What the run did, on stdout (or stderr when interrupted); the exit status. */
static int report(const mine_args *m, const bm_loop_result *result) {
  const char *out = m->ta.out;
  if (result->awaiting_review) {
    printf("boxmine mine: %s\n", result->stop_reason);
    return 0;
  }
  if (!result->finished) {
    fprintf(stderr, "boxmine mine: interrupted; state saved in %s/last.ckpt (continue with --resume)\n",
            out);
    return 130; /* as a shell reports a Ctrl-C */
  }
  const bm_round_record *r = &result->last;
  printf("mining finished: %s\n", result->stop_reason);
  printf("phase 1: %d epochs; mining rounds: %d\n", result->phase1_epochs, result->rounds);
  printf("last record: test AP50 %.4f, AP75 %.4f (VOC all-point), COCO AP %.4f; labelled images %ld\n",
         r->ap50, r->ap75, r->ap_coco, r->labeled_images);
  printf("human effort: %.0f s (%.1f min): %ld boxes drawn, %ld verified, %ld images opened\n",
         r->human_seconds, r->human_seconds / 60, r->human_draws, r->human_verifies,
         r->human_images);
  if (result->best_round >= 0)
    printf("best round: %d, test %s %.4f -> %s/best.ckpt\n", result->best_round,
           bm_ap_metric_name(m->lo.ap_metric), result->best_ap, out);
  printf("files: %s/rounds.jsonl, %s/summary.json, %s/annotations/\n", out, out, out);
  return 0;
}

int cmd_mine(int argc, char **argv) {
  mine_args m;
  int status = parse_args(argc, argv, &m);
  if (status >= 0) return status;
  char *command_line = join_command_line(argc, argv);
  bm_log log = cli_log();
  bm_error err = {{0}};
  bm_dataset pool, test;
  memset(&pool, 0, sizeof pool);
  memset(&test, 0, sizeof test);
  bm_loop *loop = NULL;
  bm_run *run = NULL;
  status = 1;
  /* the loop takes the run folder over (and closes it on failure) */
  if (cli_run_open(&m.ta, &run, &log)) goto done;
  if (m.ta.resume ? resume_loop(&m, run, &pool, &test, command_line, &loop) != 0
                  : (status = start_loop(&m, run, &pool, &test, command_line, &loop)) != 0)
    goto done;
  status = 1;
  const bm_loop_opts *lo = &m.lo;
  const bm_train_opts *used = bm_trainer_opts(bm_loop_trainer(loop));
  fprintf(stderr,
          "boxmine mine: pool %d %s images, test %d %s images, %d classes; strategy %s, oracle %s, "
          "initial L %d, K %d, max rounds %d%s; batch %d, lr %g, %d threads, seed %llu\n",
          pool.n_images, m.cs.d.split, test.n_images, m.cs.d.eval_split, pool.n_classes,
          bm_strategy_name(lo->mine.strategy), bm_oracle_name(lo->mine.oracle), lo->n_init, lo->mine.K,
          lo->max_rounds, lo->max_rounds == 0 ? " (no limit)" : "", used->batch, used->lr,
          used->threads, (unsigned long long)lo->seed);
  display disp;
  memset(&disp, 0, sizeof disp);
  disp.pool_size = pool.n_images;
  bm_loop_hooks hooks = {show_update, show_detect, show_record, show_message, should_stop, &disp};
  bm_loop_result result;
  cli_interrupt_begin();
  int rc = bm_loop_run(loop, &hooks, &result, &err);
  cli_interrupt_end();
  close_bars(&disp);
  status = rc ? cli_error("%s", err.msg) : report(&m, &result);
done:
  bm_loop_free(loop);
  bm_dataset_free(&pool);
  bm_dataset_free(&test);
  bm_free(command_line);
  return status;
}
