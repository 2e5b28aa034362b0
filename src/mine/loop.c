/* The mining loop (bm_mine_loop.h): phase 1 on the initial labelled set, then mining rounds,
 * with the whole state saved after every epoch and round so a killed run continues exactly
 * where it stopped. docs/MINING.md, "The mining loop", describes the stages and files. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_eval.h"
#include "boxmine/bm_mine_loop.h"
#include "mine/loop_internal.h"

/* Layout version of the loop's checkpoint sections. */
#define LOOP_STATE_VERSION 1

/* Where the loop stands; saved, so a resumed run knows what comes next. */
enum {
  STAGE_PHASE1 = 1,   /* training on the initial L, one record per epoch */
  STAGE_BETWEEN = 2,  /* between mining rounds: the next step takes a batch */
  STAGE_TRAINING = 3, /* a round's batch is applied; training on its list */
};

struct bm_loop {
  char *run_dir, *last_ckpt, *best_ckpt, *phase1_ckpt, *rounds_path, *summary_path;
  char *command_line;
  bm_loop_opts opts;
  const bm_dataset *pool, *test;
  bm_trainer *tr;
  bm_mine_state st;
  bm_ckpt_extra_fn extra;
  void *extra_user;
  uint64_t data_hash;

  int stage;
  int phase1_epochs;        /* phase-1 records written */
  int rounds_done;          /* mining rounds completed */
  int64_t round_start_epoch; /* trainer epochs when the round in progress started training */
  double seconds_before;    /* seconds spent on the record in progress before this process */
  double record_start;      /* bm_now() when this process started on it */
  bm_earlystop es_pre, es_asm;
  int best_round;
  double best_ap;
  char stop_reason[160]; /* a rule that ended the run for good (early stop, exhausted) */

  bm_index_list train;  /* the round in progress: its training list ... */
  bm_round_record cur;  /* ... and its record so far */

  int n_records, cap_records;
  double *records; /* [n_records][LOOP_RECORD_VALUES] */

  /* while running */
  const bm_loop_hooks *hooks;
  bm_tfevents *events;
  int stop_asked;
  int told_exhausted; /* the "pool exhausted" message was given in this process */
  double last_save;   /* bm_now() of the last save of last.ckpt */
  bm_error save_error; /* a save inside an epoch failed (reported after the epoch) */
  int save_failed;
  bm_object dummy_object; /* non-NULL target for samples with an empty annotation */
};

static void message(bm_loop *loop, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void message(bm_loop *loop, const char *fmt, ...) {
  if (!loop->hooks || !loop->hooks->on_message) return;
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  loop->hooks->on_message(loop->hooks->user, text);
}

static uint64_t hash_datasets(const bm_dataset *pool, const bm_dataset *test) {
  uint64_t h = BM_FNV64_INIT;
  const bm_dataset *sets[2] = {pool, test};
  for (int s = 0; s < 2; s++) {
    h = bm_fnv64(h, &sets[s]->n_images, sizeof sets[s]->n_images);
    for (int i = 0; i < sets[s]->n_images; i++)
      h = bm_fnv64(h, sets[s]->images[i].id, strlen(sets[s]->images[i].id) + 1);
  }
  return h;
}

static int init_paths(bm_loop *loop, const char *run_dir, const char *command_line) {
  loop->run_dir = bm_strdup(run_dir);
  loop->last_ckpt = bm_path_join(run_dir, "last.ckpt");
  loop->best_ckpt = bm_path_join(run_dir, "best.ckpt");
  loop->phase1_ckpt = bm_path_join(run_dir, "phase1.ckpt");
  loop->rounds_path = bm_path_join(run_dir, "rounds.jsonl");
  loop->summary_path = bm_path_join(run_dir, "summary.json");
  loop->command_line = bm_strdup(command_line ? command_line : "");
  return loop->run_dir && loop->last_ckpt && loop->best_ckpt && loop->phase1_ckpt &&
                 loop->rounds_path && loop->summary_path && loop->command_line
             ? 0
             : -1;
}

static int init_earlystops(bm_loop *loop, bm_error *err) {
  const bm_loop_opts *o = &loop->opts;
  /* a window of 0 turns the rule off: a window of 1 never has a shift above 0 */
  if (bm_earlystop_init(&loop->es_pre, o->ap_range_pre > 0 ? o->ap_range_pre : 1, o->ap_thre,
                        o->ap_shift_pre, err) ||
      bm_earlystop_init(&loop->es_asm, o->ap_range_asm > 0 ? o->ap_range_asm : 1, o->ap_thre,
                        o->ap_shift_asm, err))
    return -1;
  return 0;
}

int bm_loop_create(bm_loop **out, const char *run_dir, const bm_loop_opts *opts,
                   const bm_dataset *pool, const bm_dataset *test, bm_trainer *tr,
                   const char *command_line, bm_ckpt_extra_fn extra, void *extra_user,
                   bm_error *err) {
  *out = NULL;
  if (bm_loop_opts_check(opts, pool->n_images, err)) {
    bm_trainer_free(tr);
    return -1;
  }
  bm_loop *loop = bm_calloc(1, sizeof *loop);
  if (!loop) {
    bm_trainer_free(tr);
    return bm_fail(err, "out of memory");
  }
  loop->tr = tr;
  loop->opts = *opts;
  loop->pool = pool;
  loop->test = test;
  loop->extra = extra;
  loop->extra_user = extra_user;
  loop->stage = STAGE_PHASE1;
  loop->best_round = -1;
  loop->best_ap = NAN;
  loop->data_hash = hash_datasets(pool, test);
  bm_round_record_init(&loop->cur);
  if (init_paths(loop, run_dir, command_line)) {
    bm_loop_free(loop);
    return bm_fail(err, "out of memory");
  }
  if (bm_file_exists(loop->last_ckpt)) {
    bm_fail(err, "%s already holds a run (%s); resume it or choose another folder", run_dir,
            loop->last_ckpt);
    bm_loop_free(loop);
    return -1;
  }
  int *all = bm_malloc((size_t)(pool->n_images > 0 ? pool->n_images : 1) * sizeof *all);
  if (!all) {
    bm_loop_free(loop);
    return bm_fail(err, "out of memory");
  }
  for (int i = 0; i < pool->n_images; i++) all[i] = i;
  int rc = bm_mine_state_init(&loop->st, pool->n_images, all, pool->n_images, opts->n_init,
                              opts->seed, &opts->costs, err);
  bm_free(all);
  if (rc || init_earlystops(loop, err) || bm_mkdir_p(run_dir, err)) {
    bm_loop_free(loop);
    return -1;
  }
  *out = loop;
  return 0;
}

void bm_loop_free(bm_loop *loop) {
  if (!loop) return;
  bm_trainer_free(loop->tr);
  bm_mine_state_free(&loop->st);
  bm_index_list_free(&loop->train);
  bm_free(loop->records);
  bm_free(loop->run_dir);
  bm_free(loop->last_ckpt);
  bm_free(loop->best_ckpt);
  bm_free(loop->phase1_ckpt);
  bm_free(loop->rounds_path);
  bm_free(loop->summary_path);
  bm_free(loop->command_line);
  if (loop->events) bm_tfevents_close(loop->events, NULL);
  bm_free(loop);
}

const bm_mine_state *bm_loop_state(const bm_loop *loop) { return &loop->st; }
bm_trainer *bm_loop_trainer(bm_loop *loop) { return loop->tr; }

/* ---- checkpoints ----------------------------------------------------------------------- */

static int save_sections(void *user, bm_ckpt_writer *w) {
  bm_loop *loop = user;
  bm_buf text, state;
  bm_buf_init(&text);
  bm_buf_init(&state);
  bm_loop_opts_text(&loop->opts, &text);
  bm_mine_state_save(&loop->st, &state);
  int rc = text.failed || state.failed ? -1 : 0;
  if (rc == 0) {
    int64_t ints[9] = {LOOP_STATE_VERSION, loop->stage,          loop->phase1_epochs,
                       loop->rounds_done,  loop->round_start_epoch, loop->best_round,
                       loop->n_records,    (int64_t)loop->data_hash, loop->train.n};
    double seconds = loop->seconds_before + (bm_now() - loop->record_start);
    double reals[2] = {loop->best_ap, seconds};
    double current[LOOP_RECORD_VALUES];
    loop_record_to_values(&loop->cur, NAN, current);
    int64_t *train = bm_malloc((size_t)(loop->train.n + 1) * sizeof *train);
    if (!train) rc = -1;
    for (int i = 0; train && i < loop->train.n; i++) train[i] = loop->train.items[i];
    rc |= bm_ckpt_add_string(w, "mine.opts", text.data);
    rc |= bm_ckpt_add_bytes(w, "mine.state", state.data, state.len);
    rc |= bm_ckpt_add_i64(w, "mine.loop", ints, 9);
    rc |= bm_ckpt_add_f64(w, "mine.loop_reals", reals, 2);
    rc |= bm_ckpt_add_string(w, "mine.stop_reason", loop->stop_reason);
    rc |= bm_ckpt_add_string(w, "mine.command_line", loop->command_line);
    rc |= bm_earlystop_save(&loop->es_pre, w, "mine.es_pre");
    rc |= bm_earlystop_save(&loop->es_asm, w, "mine.es_asm");
    rc |= bm_ckpt_add_f64(w, "mine.records", loop->records,
                          (size_t)loop->n_records * LOOP_RECORD_VALUES);
    rc |= bm_ckpt_add_f64(w, "mine.current", current, LOOP_RECORD_VALUES);
    if (train) rc |= bm_ckpt_add_i64(w, "mine.train", train, (size_t)loop->train.n);
    bm_free(train);
  }
  bm_buf_free(&text);
  bm_buf_free(&state);
  if (rc == 0 && loop->extra) rc = loop->extra(loop->extra_user, w);
  return rc ? -1 : 0;
}

static int save_to(bm_loop *loop, const char *path, bm_error *err) {
  if (bm_trainer_save(loop->tr, path, save_sections, loop, err)) return -1;
  if (path == loop->last_ckpt) loop->last_save = bm_now();
  return 0;
}

/* rounds.jsonl from the records (the checkpoint holds them, so a kill between the two
 * writes is repaired on resume). */
static int write_rounds(bm_loop *loop, bm_error *err) {
  bm_buf text;
  bm_buf_init(&text);
  for (int k = 0; k < loop->n_records; k++) {
    bm_round_record rec;
    double ap50_new;
    loop_record_from_values(loop->records + (size_t)k * LOOP_RECORD_VALUES, loop->opts.ap_metric,
                            &rec, &ap50_new);
    loop_record_line(&rec, ap50_new, loop->opts.mine.eval_update > 0, &text);
  }
  int rc = text.failed ? bm_fail(err, "out of memory")
                       : bm_write_file_atomic(loop->rounds_path, text.data ? text.data : "",
                                              text.len, err);
  bm_buf_free(&text);
  return rc;
}

/* The state after a completed step: last.ckpt first, then rounds.jsonl. */
static int save_state(bm_loop *loop, bm_error *err) {
  if (save_to(loop, loop->last_ckpt, err)) return -1;
  return write_rounds(loop, err);
}

int bm_loop_saved_opts(const char *ckpt_path, bm_loop_opts *opts, bm_error *err) {
  bm_ckpt_reader r;
  if (bm_ckpt_open(&r, ckpt_path, err)) return -1;
  char *text = NULL;
  int rc = -1;
  if (!bm_ckpt_find(&r, "mine.opts")) bm_fail(err, "%s: not a mining checkpoint", ckpt_path);
  else if (bm_ckpt_read_string(&r, "mine.opts", &text, err) == 0)
    rc = bm_loop_opts_parse(text, opts, err);
  if (rc) bm_fail_prefix(err, "%s", ckpt_path);
  bm_free(text);
  bm_ckpt_close(&r);
  return rc;
}

/* Options that decide phase 1 and the split must match a run continued from a checkpoint;
 * the mining options may change only before the first round (a run started from another
 * run's phase1.ckpt). */
static int check_resume_opts(const bm_loop_opts *saved, const bm_loop_opts *now, int rounds_done,
                             int stage, bm_error *err) {
  int same_phase1 = saved->seed == now->seed && saved->n_init == now->n_init &&
                    saved->pre_epochs == now->pre_epochs &&
                    saved->ap_range_pre == now->ap_range_pre &&
                    saved->ap_shift_pre == now->ap_shift_pre && saved->ap_thre == now->ap_thre &&
                    saved->ap_metric == now->ap_metric &&
                    !memcmp(&saved->eval_detect, &now->eval_detect, sizeof now->eval_detect);
  if (!same_phase1)
    return bm_fail(err, "the checkpoint was made with another seed, initial set, phase-1 or "
                        "evaluation setting");
  bm_loop_opts a = *saved, b = *now;
  /* limits may always change */
  a.max_rounds = b.max_rounds;
  a.budget_seconds = b.budget_seconds;
  a.stop_when_exhausted = b.stop_when_exhausted;
  a.log_every = b.log_every;
  a.checkpoint_minutes = b.checkpoint_minutes;
  bm_buf ta, tb;
  bm_buf_init(&ta);
  bm_buf_init(&tb);
  bm_loop_opts_text(&a, &ta);
  bm_loop_opts_text(&b, &tb);
  int differ = ta.failed || tb.failed || ta.len != tb.len || memcmp(ta.data, tb.data, ta.len);
  bm_buf_free(&ta);
  bm_buf_free(&tb);
  if (differ && (rounds_done > 0 || stage == STAGE_TRAINING))
    return bm_fail(err, "mining options differ from the run's own after round %d; only "
                        "--max-rounds and --budget-seconds may change on resume",
                   rounds_done);
  return 0;
}

static int read_loop_sections(bm_loop *loop, const bm_ckpt_reader *r, const bm_loop_opts *opts,
                              bm_error *err) {
  char *text = NULL;
  bm_loop_opts saved;
  if (bm_ckpt_read_string(r, "mine.opts", &text, err)) return -1;
  int rc = bm_loop_opts_parse(text, &saved, err);
  bm_free(text);
  if (rc) return -1;
  int64_t ints[9];
  double reals[2], current[LOOP_RECORD_VALUES];
  const void *state;
  size_t state_len;
  if (bm_ckpt_read_i64(r, "mine.loop", ints, 9, err) ||
      bm_ckpt_read_f64(r, "mine.loop_reals", reals, 2, err) ||
      bm_ckpt_read_f64(r, "mine.current", current, LOOP_RECORD_VALUES, err) ||
      bm_ckpt_read_bytes(r, "mine.state", &state, &state_len, err))
    return -1;
  if (ints[0] != LOOP_STATE_VERSION)
    return bm_fail(err, "mining state version %lld; this boxmine reads version %d",
                   (long long)ints[0], LOOP_STATE_VERSION);
  loop->stage = (int)ints[1];
  loop->phase1_epochs = (int)ints[2];
  loop->rounds_done = (int)ints[3];
  loop->round_start_epoch = ints[4];
  loop->best_round = (int)ints[5];
  loop->n_records = (int)ints[6];
  if ((uint64_t)ints[7] != loop->data_hash)
    return bm_fail(err, "the data set differs from the one the run was made with (image ids "
                        "of the pool or the test split)");
  if (loop->stage < STAGE_PHASE1 || loop->stage > STAGE_TRAINING || loop->n_records < 0 ||
      ints[8] < 0)
    return bm_fail(err, "mine.loop holds impossible values");
  if (check_resume_opts(&saved, opts, loop->rounds_done, loop->stage, err)) return -1;
  loop->best_ap = reals[0];
  loop->seconds_before = reals[1];
  loop_record_from_values(current, opts->ap_metric, &loop->cur, NULL);
  if (bm_mine_state_load(&loop->st, state, state_len, err) || bm_mine_state_check(&loop->st, err))
    return -1;
  if (loop->st.n_images != loop->pool->n_images)
    return bm_fail(err, "mining state has %d images, the pool %d", loop->st.n_images,
                   loop->pool->n_images);
  /* the costs of the run may have been changed (ledger counts are kept; seconds follow) */
  loop->st.ledger.costs = opts->costs;
  char *reason = NULL;
  if (bm_ckpt_read_string(r, "mine.stop_reason", &reason, err)) return -1;
  snprintf(loop->stop_reason, sizeof loop->stop_reason, "%s", reason);
  bm_free(reason);
  if (bm_earlystop_load(&loop->es_pre, r, "mine.es_pre", err) ||
      bm_earlystop_load(&loop->es_asm, r, "mine.es_asm", err))
    return -1;
  size_t n_values = (size_t)loop->n_records * LOOP_RECORD_VALUES;
  loop->records = bm_malloc((n_values + 1) * sizeof *loop->records);
  if (!loop->records) return bm_fail(err, "out of memory");
  loop->cap_records = loop->n_records;
  if (bm_ckpt_read_f64(r, "mine.records", loop->records, n_values, err)) return -1;
  int64_t *train = bm_malloc((size_t)(ints[8] + 1) * sizeof *train);
  if (!train) return bm_fail(err, "out of memory");
  rc = bm_ckpt_read_i64(r, "mine.train", train, (size_t)ints[8], err);
  for (int64_t i = 0; rc == 0 && i < ints[8]; i++) {
    if (train[i] < 0 || train[i] >= loop->pool->n_images)
      rc = bm_fail(err, "mine.train: image %lld is outside the pool", (long long)train[i]);
    else if (bm_index_list_push(&loop->train, (int)train[i]))
      rc = bm_fail(err, "out of memory");
  }
  bm_free(train);
  return rc;
}

int bm_loop_resume(bm_loop **out, const char *run_dir, const char *ckpt_path,
                   const bm_loop_opts *opts, const bm_dataset *pool, const bm_dataset *test,
                   int threads, const char *command_line, bm_ckpt_extra_fn extra,
                   void *extra_user, bm_log *log, bm_error *err) {
  *out = NULL;
  if (bm_loop_opts_check(opts, pool->n_images, err)) return -1;
  bm_loop *loop = bm_calloc(1, sizeof *loop);
  if (!loop) return bm_fail(err, "out of memory");
  loop->opts = *opts;
  loop->pool = pool;
  loop->test = test;
  loop->extra = extra;
  loop->extra_user = extra_user;
  loop->data_hash = hash_datasets(pool, test);
  bm_round_record_init(&loop->cur);
  if (init_paths(loop, run_dir, command_line)) {
    bm_loop_free(loop);
    return bm_fail(err, "out of memory");
  }
  bm_ckpt_reader r;
  if (bm_ckpt_open(&r, ckpt_path, err)) {
    bm_loop_free(loop);
    return -1;
  }
  int rc = 0;
  if (!bm_ckpt_find(&r, "mine.loop"))
    rc = bm_fail(err, "not a mining checkpoint (no mine.* sections)");
  if (rc == 0) rc = init_earlystops(loop, err);
  if (rc == 0) rc = read_loop_sections(loop, &r, opts, err);
  bm_ckpt_close(&r);
  if (rc == 0) rc = bm_trainer_load(&loop->tr, ckpt_path, threads, log, err);
  if (rc == 0) rc = bm_detector_check_classes(bm_trainer_detector(loop->tr), pool, err);
  if (rc) {
    bm_fail_prefix(err, "%s", ckpt_path);
    bm_loop_free(loop);
    return -1;
  }
  *out = loop;
  return 0;
}

/* ---- detection and evaluation ---------------------------------------------------------- */

typedef struct detect_progress {
  bm_loop *loop;
  const char *what;
} detect_progress;

static void on_detect_progress(void *user, long done, long total) {
  detect_progress *dp = user;
  const bm_loop_hooks *h = dp->loop->hooks;
  if (h && h->on_detect) h->on_detect(h->user, dp->what, done, total);
}

static int detect(bm_loop *loop, const bm_dataset *ds, const int *split, int n_split,
                  const bm_detect_opts *dopts, const char *what, bm_detections *out,
                  bm_error *err) {
  bm_detector *det = bm_trainer_detector(loop->tr);
  detect_progress dp = {loop, what};
  int rc = bm_detector_detect_dataset(det, ds, split, n_split, dopts, on_detect_progress, &dp, out,
                                      err);
  bm_net_set_training(bm_detector_net(det), 1);
  return rc;
}

/* AP50, AP75 (VOC all-point) and COCO AP on the test split into rec; AP50 on E_new. */
static int evaluate(bm_loop *loop, bm_round_record *rec, double *ap50_new, bm_error *err) {
  bm_detections dets = {0};
  bm_voc_result voc;
  bm_coco_result coco;
  memset(&voc, 0, sizeof voc);
  memset(&coco, 0, sizeof coco);
  int rc = detect(loop, loop->test, NULL, 0, &loop->opts.eval_detect, "evaluate", &dets, err);
  if (rc == 0) rc = bm_eval_voc(loop->test, NULL, 0, &dets, &voc, err);
  if (rc == 0) rc = bm_eval_coco(loop->test, NULL, 0, &dets, &coco, err);
  if (rc == 0) {
    rec->ap50 = voc.map12[0];
    rec->ap75 = voc.map12[1];
    rec->ap_coco = coco.stats.ap >= 0 ? coco.stats.ap : NAN;
  }
  bm_voc_result_free(&voc);
  bm_coco_result_free(&coco);
  bm_detections_free(&dets);
  *ap50_new = NAN;
  const bm_index_list *e_new = &loop->st.eval_new;
  if (rc == 0 && e_new->n > 0) {
    bm_detections found = {0};
    memset(&voc, 0, sizeof voc);
    rc = detect(loop, loop->pool, e_new->items, e_new->n, &loop->opts.eval_detect,
                "evaluate E_new", &found, err);
    if (rc == 0) rc = bm_eval_voc(loop->pool, e_new->items, e_new->n, &found, &voc, err);
    if (rc == 0) *ap50_new = voc.map12[0];
    bm_voc_result_free(&voc);
    bm_detections_free(&found);
  }
  return rc;
}

static double metric_of(const bm_loop *loop, const bm_round_record *rec) {
  return loop->opts.ap_metric == BM_AP_METRIC_AP75   ? rec->ap75
         : loop->opts.ap_metric == BM_AP_METRIC_COCO ? rec->ap_coco
                                                     : rec->ap50;
}

/* ---- training -------------------------------------------------------------------------- */

static void scalar(bm_loop *loop, const char *tag, int64_t step, double value) {
  if (!loop->events || !isfinite(value)) return;
  bm_error ignored;
  bm_tfevents_scalar(loop->events, tag, step, (float)value, bm_wall_time(), &ignored);
}

static int on_update(void *user, bm_trainer *tr, const bm_train_progress *p) {
  bm_loop *loop = user;
  (void)tr;
  if (loop->opts.log_every > 0 && p->iteration % loop->opts.log_every == 0) {
    scalar(loop, "Train/loss", p->iteration, p->loss);
    scalar(loop, "Train/lr", p->iteration, p->lr);
  }
  const bm_loop_hooks *h = loop->hooks;
  int stop = (h && h->on_update && h->on_update(h->user, p)) ||
             (h && h->should_stop && h->should_stop(h->user));
  if (stop) loop->stop_asked = 1;
  /* a long epoch (e.g. `full` on the whole pool) is saved inside too; the trainer's state is
   * consistent after every update, and a resumed epoch continues at the saved batch */
  int epoch_done = p->batch == p->n_batches;
  if (!stop && !epoch_done && loop->opts.checkpoint_minutes > 0 && !loop->save_failed &&
      bm_now() - loop->last_save >= 60 * loop->opts.checkpoint_minutes &&
      save_to(loop, loop->last_ckpt, &loop->save_error))
    loop->save_failed = 1;
  return stop;
}

/* Training samples for dataset images: the dataset's own objects for images labelled with
 * their ground truth, the stored annotation otherwise. *owned collects allocations. */
static int build_samples(bm_loop *loop, const int *images, int n, bm_train_sample **samples,
                         bm_object ***owned, bm_error *err) {
  *samples = bm_calloc((size_t)(n > 0 ? n : 1), sizeof **samples);
  *owned = bm_calloc((size_t)(n > 0 ? n : 1), sizeof **owned);
  if (!*samples || !*owned) return bm_fail(err, "out of memory");
  for (int i = 0; i < n; i++) {
    int image = images[i];
    (*samples)[i].image = image;
    if (loop->st.images[image].annotation == BM_ANN_GROUND_TRUTH) continue; /* objects NULL */
    const bm_image_info *info = &loop->pool->images[image];
    bm_object *objects;
    int n_objects;
    if (bm_mine_annotation_objects(&loop->st, image, loop->pool->objects + info->first_object,
                                   info->n_objects, &objects, &n_objects, err))
      return -1;
    (*owned)[i] = objects;
    /* NULL would mean "the dataset's objects": an empty annotation points elsewhere */
    (*samples)[i].objects = objects ? objects : &loop->dummy_object;
    (*samples)[i].n_objects = n_objects;
  }
  return 0;
}

static void free_samples(bm_train_sample *samples, bm_object **owned, int n) {
  for (int i = 0; owned && i < n; i++) bm_free(owned[i]);
  bm_free(owned);
  bm_free(samples);
}

/* One epoch over images. Returns 0 done, 1 stopped by a hook (state consistent), -1. */
static int train_epoch(bm_loop *loop, const int *images, int n, bm_epoch_summary *summary,
                       bm_error *err) {
  bm_train_sample *samples = NULL;
  bm_object **owned = NULL;
  int rc = build_samples(loop, images, n, &samples, &owned, err);
  bm_train_hooks th = {on_update, loop};
  if (rc == 0) rc = bm_trainer_train_epochs(loop->tr, loop->pool, samples, n, 1, &th, summary, err);
  if (rc >= 0 && loop->save_failed) {
    *err = loop->save_error;
    rc = -1;
  }
  free_samples(samples, owned, n);
  return rc;
}

/* ---- records ---------------------------------------------------------------------------- */

static int push_record(bm_loop *loop, const bm_round_record *rec, double ap50_new, bm_error *err) {
  if (loop->n_records == loop->cap_records) {
    int cap = loop->cap_records ? 2 * loop->cap_records : 32;
    double *grown = bm_realloc(loop->records, (size_t)cap * LOOP_RECORD_VALUES * sizeof *grown);
    if (!grown) return bm_fail(err, "out of memory");
    loop->records = grown;
    loop->cap_records = cap;
  }
  loop_record_to_values(rec, ap50_new, loop->records + (size_t)loop->n_records * LOOP_RECORD_VALUES);
  loop->n_records++;
  return 0;
}

static void log_record(bm_loop *loop, const bm_round_record *rec, double ap50_new) {
  int64_t epoch = bm_trainer_epoch(loop->tr);
  scalar(loop, "Accuracy/AP_50", epoch, rec->ap50);
  scalar(loop, "Accuracy/AP_75", epoch, rec->ap75);
  scalar(loop, "Accuracy/AP_COCO", epoch, rec->ap_coco);
  scalar(loop, "Accuracy/AP_shift", epoch, rec->ap_shift);
  scalar(loop, "Accuracy/AP_50_E_new", epoch, ap50_new);
  if (rec->phase != 2) return;
  int64_t r = rec->round;
  scalar(loop, "ASM/sample_num_SL", r, (double)rec->sl_images);
  scalar(loop, "ASM/sample_num_AL", r, (double)rec->al_images);
  scalar(loop, "ASM/box_num_SL", r, (double)rec->sl_boxes);
  scalar(loop, "ASM/box_num_AL", r, (double)rec->al_boxes);
  scalar(loop, "ASM/sl_score", r, rec->mean_sl_score);
  scalar(loop, "ASM/al_ratio", r, rec->mean_al_ratio);
  scalar(loop, "ASM/pseudo_precision", r, rec->pseudo_precision);
  scalar(loop, "ASM/pseudo_recall", r, rec->pseudo_recall);
  scalar(loop, "Pool/labeled", r, (double)rec->labeled_images);
  scalar(loop, "Pool/unlabeled", r, (double)rec->unlabeled_images);
  scalar(loop, "Pool/queued", r, (double)rec->queued_images);
  scalar(loop, "Human/seconds", r, rec->human_seconds);
  scalar(loop, "Human/draws", r, (double)rec->human_draws);
  scalar(loop, "Human/verifies", r, (double)rec->human_verifies);
  scalar(loop, "Human/images", r, (double)rec->human_images);
  /* the curve the method is judged by: accuracy against human effort (step = seconds) */
  scalar(loop, "Human/AP_50_vs_seconds", (int64_t)llround(rec->human_seconds), rec->ap50);
}

static void finish_record(bm_loop *loop, bm_round_record *rec, double ap50_new) {
  log_record(loop, rec, ap50_new);
  if (loop->hooks && loop->hooks->on_record) loop->hooks->on_record(loop->hooks->user, rec);
  loop->seconds_before = 0;
  loop->record_start = bm_now();
}

/* ---- phase 1 ------------------------------------------------------------------------------ */

/* Returns 0 when phase 1 is over, 1 when stopped by a hook, -1. */
static int run_phase1(bm_loop *loop, bm_error *err) {
  if (loop->phase1_epochs == 0) message(loop, "phase 1: training on the %d initial labelled images", loop->st.labeled.n);
  while (loop->stage == STAGE_PHASE1) {
    if (loop->hooks && loop->hooks->should_stop && loop->hooks->should_stop(loop->hooks->user))
      return 1;
    bm_epoch_summary summary;
    int rc = train_epoch(loop, loop->st.labeled.items, loop->st.labeled.n, &summary, err);
    if (rc < 0) return -1;
    if (rc == 1) return save_to(loop, loop->last_ckpt, err) ? -1 : 1;
    bm_round_record rec;
    bm_round_record_init(&rec);
    rec.phase = 1;
    rec.round = loop->phase1_epochs + 1;
    bm_round_record_fill(&rec, &loop->st, NULL);
    snprintf(rec.ap_metric, sizeof rec.ap_metric, "%s", bm_ap_metric_name(loop->opts.ap_metric));
    double ap50_new;
    if (evaluate(loop, &rec, &ap50_new, err)) return -1;
    rec.train_loss = summary.loss;
    rec.lr = summary.lr;
    int stop = 0;
    double value = metric_of(loop, &rec);
    if (isfinite(value)) {
      stop = bm_earlystop_add(&loop->es_pre, value, err);
      if (stop < 0) return -1;
      double shift = bm_earlystop_shift(&loop->es_pre);
      rec.ap_shift = shift >= 0 && loop->opts.ap_range_pre > 0 ? shift : NAN;
    }
    if (loop->opts.ap_range_pre == 0) stop = 0;
    rec.seconds = loop->seconds_before + (bm_now() - loop->record_start);
    loop->phase1_epochs++;
    if (push_record(loop, &rec, ap50_new, err)) return -1;
    if (stop) message(loop, "phase 1 ends: %s shift %.4f below %g after %d epochs",
                      bm_ap_metric_name(loop->opts.ap_metric), rec.ap_shift, loop->opts.ap_shift_pre,
                      loop->phase1_epochs);
    else if (loop->phase1_epochs >= loop->opts.pre_epochs) {
      stop = 1;
      message(loop, "phase 1 ends: %d epochs (--pre-epochs)", loop->phase1_epochs);
    }
    if (stop) loop->stage = STAGE_BETWEEN;
    loop->seconds_before = 0;
    loop->record_start = bm_now();
    if (save_state(loop, err)) return -1;
    if (stop && save_to(loop, loop->phase1_ckpt, err)) return -1;
    loop->seconds_before = 0;
    finish_record(loop, &rec, ap50_new);
  }
  return 0;
}

/* ---- a mining round ---------------------------------------------------------------------- */

/* Takes the batch, detects and fuses it, applies the strategy; the round's training list and
 * record so far go into loop->train / loop->cur. */
static int start_round(bm_loop *loop, bm_error *err) {
  bm_round_plan plan;
  memset(&plan, 0, sizeof plan);
  bm_detections dets = {0};
  bm_fusion_result *results = NULL;
  int n = 0, rc = bm_mine_take_batch(&loop->st, &loop->opts.mine, &plan, err);
  if (rc == 0) {
    n = plan.batch.n;
    results = bm_calloc((size_t)(n > 0 ? n : 1), sizeof *results);
    if (!results) rc = bm_fail(err, "out of memory");
  }
  if (rc == 0 && n > 0 && bm_strategy_needs_detection(loop->opts.mine.strategy)) {
    bm_detect_opts dopts = loop->opts.mine_detect;
    rc = detect(loop, loop->pool, plan.batch.items, n, &dopts, "detect batch", &dets, err);
  }
  long k = 0;
  for (int i = 0; rc == 0 && i < n; i++) {
    int image = plan.batch.items[i];
    long first = k;
    while (k < dets.n && dets.items[k].image == image) k++;
    const bm_image_info *info = &loop->pool->images[image];
    rc = bm_fusion_run(&loop->opts.fusion, image, plan.round, dets.items + first, (int)(k - first),
                       loop->pool->objects + info->first_object, info->n_objects, &results[i],
                       err);
  }
  if (rc == 0 && k != dets.n)
    rc = bm_fail(err, "detections came back in another order than the batch");
  if (rc == 0) rc = bm_mine_apply(&loop->st, &loop->opts.mine, results, &plan, err);
  if (rc == 0) {
    bm_index_list_free(&loop->train); /* the call below starts a new list */
    if (bm_round_plan_train_list(&plan, &loop->train)) rc = bm_fail(err, "out of memory");
  }
  if (rc == 0 && loop->train.n == 0)
    rc = bm_fail(err, "round %d has nothing to train on (empty L and batch)", plan.round);
  if (rc == 0) {
    bm_round_record_init(&loop->cur);
    bm_round_record_fill(&loop->cur, &loop->st, &plan);
    snprintf(loop->cur.ap_metric, sizeof loop->cur.ap_metric, "%s",
             bm_ap_metric_name(loop->opts.ap_metric));
    loop->round_start_epoch = bm_trainer_epoch(loop->tr);
    loop->stage = STAGE_TRAINING;
  }
  for (int i = 0; results && i < n; i++) bm_fusion_result_free(&results[i]);
  bm_free(results);
  bm_detections_free(&dets);
  bm_round_plan_free(&plan);
  return rc;
}

/* Trains the round's epochs, evaluates, writes the record. 0 done, 1 stopped, -1. */
static int finish_round(bm_loop *loop, bm_error *err) {
  bm_epoch_summary summary;
  memset(&summary, 0, sizeof summary);
  summary.loss = NAN;
  while (bm_trainer_epoch(loop->tr) - loop->round_start_epoch < loop->opts.epochs_per_round) {
    int rc = train_epoch(loop, loop->train.items, loop->train.n, &summary, err);
    if (rc < 0) return -1;
    if (rc == 1) return save_to(loop, loop->last_ckpt, err) ? -1 : 1;
    if (bm_trainer_epoch(loop->tr) - loop->round_start_epoch < loop->opts.epochs_per_round &&
        save_to(loop, loop->last_ckpt, err))
      return -1;
  }
  bm_round_record rec = loop->cur;
  double ap50_new;
  if (evaluate(loop, &rec, &ap50_new, err)) return -1;
  rec.train_loss = summary.loss;
  rec.lr = isfinite(summary.loss) ? summary.lr : bm_trainer_lr(loop->tr);
  double value = metric_of(loop, &rec);
  int stop = 0;
  if (isfinite(value)) {
    stop = bm_earlystop_add(&loop->es_asm, value, err);
    if (stop < 0) return -1;
    double shift = bm_earlystop_shift(&loop->es_asm);
    rec.ap_shift = shift >= 0 && loop->opts.ap_range_asm > 0 ? shift : NAN;
  }
  if (loop->opts.ap_range_asm == 0) stop = 0;
  rec.seconds = loop->seconds_before + (bm_now() - loop->record_start);
  loop->rounds_done++;
  if (push_record(loop, &rec, ap50_new, err)) return -1;
  if (stop)
    snprintf(loop->stop_reason, sizeof loop->stop_reason, "%s shift %.5f below %g (phase-2 early stop)",
             bm_ap_metric_name(loop->opts.ap_metric), rec.ap_shift, loop->opts.ap_shift_asm);
  loop->stage = STAGE_BETWEEN;
  bm_index_list_clear(&loop->train);
  bm_round_record_init(&loop->cur);
  int is_best = isfinite(value) && (!isfinite(loop->best_ap) || value > loop->best_ap);
  if (is_best) {
    loop->best_ap = value;
    loop->best_round = rec.round;
  }
  loop->seconds_before = 0;
  loop->record_start = bm_now();
  if (is_best && save_to(loop, loop->best_ckpt, err)) return -1;
  if (save_state(loop, err)) return -1;
  finish_record(loop, &rec, ap50_new);
  return 0;
}

/* A limit or rule that ends the run before the next round; NULL to go on. */
static const char *stop_before_round(bm_loop *loop, char *buf, size_t size) {
  if (loop->stop_reason[0]) return loop->stop_reason;
  const bm_loop_opts *o = &loop->opts;
  if (o->max_rounds > 0 && loop->rounds_done >= o->max_rounds) {
    snprintf(buf, size, "--max-rounds %d reached", o->max_rounds);
    return buf;
  }
  double spent = bm_ledger_seconds(&loop->st.ledger);
  if (o->budget_seconds > 0 && spent >= o->budget_seconds) {
    snprintf(buf, size, "human budget reached (%.0f of %.0f s)", spent, o->budget_seconds);
    return buf;
  }
  if (bm_mine_exhausted(&loop->st) && o->stop_when_exhausted) {
    snprintf(loop->stop_reason, sizeof loop->stop_reason, "pool exhausted (U and Q empty)");
    return loop->stop_reason;
  }
  return NULL;
}

/* ---- the end of a run ------------------------------------------------------------------- */

static int write_summary(bm_loop *loop, const char *reason, bm_error *err) {
  bm_run_summary s;
  memset(&s, 0, sizeof s);
  s.strategy = bm_strategy_name(loop->opts.mine.strategy);
  s.oracle = bm_oracle_name(loop->opts.mine.oracle);
  s.seed = loop->opts.seed;
  s.command_line = loop->command_line;
  s.stop_reason = reason;
  s.rounds = loop->rounds_done;
  s.best_round = loop->best_round;
  s.best_ap = loop->best_ap;
  snprintf(s.ap_metric, sizeof s.ap_metric, "%s", bm_ap_metric_name(loop->opts.ap_metric));
  s.costs = loop->opts.costs;
  if (loop->n_records > 0)
    loop_record_from_values(loop->records + (size_t)(loop->n_records - 1) * LOOP_RECORD_VALUES,
                            loop->opts.ap_metric, &s.final, NULL);
  else
    bm_round_record_init(&s.final);
  bm_buf text;
  bm_buf_init(&text);
  bm_run_summary_json(&s, &text);
  int rc = text.failed ? bm_fail(err, "out of memory")
                       : bm_write_file_atomic(loop->summary_path, text.data, text.len, err);
  bm_buf_free(&text);
  return rc;
}

static int write_run_files(bm_loop *loop, bm_error *err) {
  bm_detector *det = bm_trainer_detector(loop->tr);
  char *cfg = bm_path_join(loop->run_dir, "model.cfg");
  char *classes = bm_path_join(loop->run_dir, "classes.txt");
  bm_buf text;
  bm_buf_init(&text);
  for (int c = 0; c < bm_detector_n_classes(det); c++)
    bm_buf_printf(&text, "%s\n", bm_detector_class_names(det)[c]);
  int rc = -1;
  if (!cfg || !classes || text.failed) bm_fail(err, "out of memory");
  else if (bm_detector_export_darknet(det, NULL, cfg, err) == 0)
    rc = bm_write_file_atomic(classes, text.data, text.len, err);
  bm_buf_free(&text);
  bm_free(cfg);
  bm_free(classes);
  return rc;
}

/* Files written when the run returns: weights, annotations, summary. */
static int write_outputs(bm_loop *loop, const char *reason, bm_error *err) {
  char *last_weights = bm_path_join(loop->run_dir, "last.weights");
  int rc = last_weights ? 0 : bm_fail(err, "out of memory");
  if (rc == 0) rc = bm_detector_export_darknet(bm_trainer_detector(loop->tr), last_weights, NULL, err);
  bm_free(last_weights);
  if (rc == 0 && loop->best_round >= 0 && bm_file_exists(loop->best_ckpt)) {
    bm_detector *best = NULL;
    char *best_weights = bm_path_join(loop->run_dir, "best.weights");
    rc = best_weights ? bm_detector_load(&best, loop->best_ckpt, 1, NULL, err)
                      : bm_fail(err, "out of memory");
    if (rc == 0) rc = bm_detector_export_darknet(best, best_weights, NULL, err);
    bm_detector_free(best);
    bm_free(best_weights);
  }
  if (rc == 0) rc = loop_write_annotations(loop->run_dir, &loop->st, loop->pool, err);
  if (rc == 0) rc = write_summary(loop, reason, err);
  return rc;
}

int bm_loop_run(bm_loop *loop, const bm_loop_hooks *hooks, bm_loop_result *result,
                bm_error *err) {
  memset(result, 0, sizeof *result);
  result->best_round = -1;
  result->best_ap = NAN;
  loop->hooks = hooks;
  loop->stop_asked = 0;
  loop->save_failed = 0;
  loop->record_start = bm_now();
  loop->last_save = bm_now();
  int rc = write_run_files(loop, err);
  if (rc == 0 && !(loop->events = bm_tfevents_open(loop->run_dir, bm_wall_time(), err))) rc = -1;
  /* a kill between last.ckpt and rounds.jsonl leaves a stale file: rewrite it */
  if (rc == 0) rc = write_rounds(loop, err);
  if (rc == 0 && loop->n_records == 0 && loop->stage == STAGE_PHASE1) rc = save_to(loop, loop->last_ckpt, err);
  int stopped = 0;
  if (rc == 0 && loop->stage == STAGE_PHASE1) {
    int r = run_phase1(loop, err);
    if (r < 0) rc = -1;
    stopped = r == 1;
  }
  const char *reason = NULL;
  char buf[160];
  while (rc == 0 && !stopped) {
    if (loop->stage == STAGE_BETWEEN) {
      reason = stop_before_round(loop, buf, sizeof buf);
      if (reason) break;
      if (hooks && hooks->should_stop && hooks->should_stop(hooks->user)) {
        stopped = 1;
        break;
      }
      if (loop->rounds_done == 0 && loop->st.round == 0)
        message(loop, "phase 2: mining with %s (oracle %s, K %d)",
                bm_strategy_name(loop->opts.mine.strategy), bm_oracle_name(loop->opts.mine.oracle),
                loop->opts.mine.K);
      if (bm_mine_exhausted(&loop->st) && !loop->told_exhausted) {
        message(loop, "U and Q are empty: the rounds go on training on L only (no batch, no "
                      "cost) until a stop rule or --max-rounds");
        loop->told_exhausted = 1;
      }
      if (start_round(loop, err) || save_to(loop, loop->last_ckpt, err)) {
        rc = -1;
        break;
      }
    }
    int r = finish_round(loop, err);
    if (r < 0) rc = -1;
    stopped = r == 1;
  }
  if (rc == 0) {
    const char *why = stopped ? "interrupted (continue with --resume)" : reason;
    if (reason) message(loop, "stopping: %s", reason);
    rc = write_outputs(loop, why, err);
    result->finished = !stopped;
    snprintf(result->stop_reason, sizeof result->stop_reason, "%s", why ? why : "");
  }
  bm_error close_err;
  if (loop->events && bm_tfevents_close(loop->events, &close_err) && rc == 0) {
    *err = close_err;
    rc = -1;
  }
  loop->events = NULL;
  result->phase1_epochs = loop->phase1_epochs;
  result->rounds = loop->rounds_done;
  result->best_round = loop->best_round;
  result->best_ap = loop->best_ap;
  if (loop->n_records > 0)
    loop_record_from_values(loop->records + (size_t)(loop->n_records - 1) * LOOP_RECORD_VALUES,
                            loop->opts.ap_metric, &result->last, NULL);
  else
    bm_round_record_init(&result->last);
  loop->hooks = NULL;
  return rc;
}
