/* The mining loop (bm_mine_loop.h): phase 1 on the initial labelled set, then mining rounds,
 * with the whole state saved after every epoch and round so a killed run continues exactly
 * where it stopped. docs/MINING.md, "The mining loop", describes the stages and files; the
 * other src/mine/loop*.c files hold the pieces (loop_internal.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_mine_loop.h"
#include "mine/loop_internal.h"

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

/* ---- a new loop ------------------------------------------------------------------------ */

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

bm_loop *loop_new(bm_run *run, const bm_loop_opts *opts, const bm_dataset *pool,
                  const bm_dataset *test, const char *command_line, bm_ckpt_extra_fn extra,
                  void *extra_user, bm_error *err) {
  if (bm_loop_opts_check(opts, pool->n_images, err)) {
    bm_run_close(run);
    return NULL;
  }
  bm_loop *loop = bm_calloc(1, sizeof *loop);
  if (!loop) {
    bm_run_close(run);
    bm_fail(err, "out of memory");
    return NULL;
  }
  loop->run = run;
  loop->opts = *opts;
  loop->pool = pool;
  loop->test = test;
  loop->extra = extra;
  loop->extra_user = extra_user;
  loop->data_hash = hash_datasets(pool, test);
  bm_run_best_init(&loop->best, -1);
  bm_round_record_init(&loop->cur);
  bm_run_set_saver(run, loop_write_ckpt, loop, opts->checkpoint_minutes);
  loop->phase1_ckpt = bm_run_path(run, "phase1.ckpt");
  loop->command_line = bm_strdup(command_line ? command_line : "");
  if (!loop->phase1_ckpt || !loop->command_line) {
    bm_loop_free(loop);
    bm_fail(err, "out of memory");
    return NULL;
  }
  return loop;
}

int loop_init_earlystops(bm_loop *loop, bm_error *err) {
  const bm_loop_opts *o = &loop->opts;
  /* a window of 0 turns the rule off: a window of 1 never has a shift above 0 */
  if (bm_earlystop_init(&loop->es_pre, o->ap_range_pre > 0 ? o->ap_range_pre : 1, o->ap_thre,
                        o->ap_shift_pre, err) ||
      bm_earlystop_init(&loop->es_asm, o->ap_range_asm > 0 ? o->ap_range_asm : 1, o->ap_thre,
                        o->ap_shift_asm, err))
    return -1;
  return 0;
}

int bm_loop_create(bm_loop **out, bm_run *run, const bm_loop_opts *opts, const bm_dataset *pool,
                   const bm_dataset *test, bm_trainer *tr, const char *command_line,
                   bm_ckpt_extra_fn extra, void *extra_user, bm_error *err) {
  *out = NULL;
  if (!run || bm_run_expect(run, BM_RUN_NEW, err)) { /* a new run never overwrites one */
    if (!run) bm_fail(err, "no run folder");
    bm_run_close(run);
    bm_trainer_free(tr);
    return -1;
  }
  bm_loop *loop = loop_new(run, opts, pool, test, command_line, extra, extra_user, err);
  if (!loop) {
    bm_trainer_free(tr);
    return -1;
  }
  loop->tr = tr;
  loop->stage = STAGE_PHASE1;
  int *all = bm_malloc((size_t)(pool->n_images > 0 ? pool->n_images : 1) * sizeof *all);
  if (!all) {
    bm_loop_free(loop);
    return bm_fail(err, "out of memory");
  }
  for (int i = 0; i < pool->n_images; i++) all[i] = i;
  int rc = bm_mine_state_init(&loop->st, pool->n_images, all, pool->n_images, opts->n_init,
                              opts->seed, &opts->costs, err);
  bm_free(all);
  if (rc || loop_init_earlystops(loop, err)) {
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
  bm_free(loop->phase1_ckpt);
  bm_free(loop->command_line);
  bm_run_close(loop->run);
  bm_free(loop);
}

const bm_mine_state *bm_loop_state(const bm_loop *loop) { return &loop->st; }
bm_trainer *bm_loop_trainer(bm_loop *loop) { return loop->tr; }

/* ---- phase 1 ------------------------------------------------------------------------------ */

/* Returns 0 when phase 1 is over, 1 when stopped by a hook, -1. */
static int run_phase1(bm_loop *loop, bm_error *err) {
  if (loop->phase1_epochs == 0) message(loop, "phase 1: training on the %d initial labelled images", loop->st.labeled.n);
  while (loop->stage == STAGE_PHASE1) {
    if (loop->hooks && loop->hooks->should_stop && loop->hooks->should_stop(loop->hooks->user))
      return 1;
    bm_epoch_summary summary;
    int rc = loop_train_epoch(loop, loop->st.labeled.items, loop->st.labeled.n, &summary, err);
    if (rc < 0) return -1;
    if (rc == 1) return loop_save_to(loop, NULL, err) ? -1 : 1;
    bm_round_record rec;
    bm_round_record_init(&rec);
    rec.phase = 1;
    rec.round = loop->phase1_epochs + 1;
    bm_round_record_fill(&rec, &loop->st, NULL);
    snprintf(rec.ap_metric, sizeof rec.ap_metric, "%s", bm_ap_metric_name(loop->opts.ap_metric));
    double ap50_new;
    if (loop_evaluate(loop, &rec, &ap50_new, err)) return -1;
    rec.train_loss = summary.loss;
    rec.lr = summary.lr;
    int stop = 0;
    double value = loop_metric(loop, &rec);
    if (isfinite(value)) {
      stop = bm_earlystop_add(&loop->es_pre, value, err);
      if (stop < 0) return -1;
      double shift = bm_earlystop_shift(&loop->es_pre);
      rec.ap_shift = shift >= 0 && loop->opts.ap_range_pre > 0 ? shift : NAN;
    }
    if (loop->opts.ap_range_pre == 0) stop = 0;
    rec.seconds = loop->seconds_before + (bm_now() - loop->record_start);
    loop->phase1_epochs++;
    if (loop_push_record(loop, &rec, ap50_new, err)) return -1;
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
    if (loop_save_state(loop, err)) return -1;
    if (stop && loop_save_to(loop, loop->phase1_ckpt, err)) return -1;
    loop->seconds_before = 0;
    loop_finish_record(loop, &rec, ap50_new);
  }
  return 0;
}

/* ---- a mining round ---------------------------------------------------------------------- */

/* Takes the batch, detects and fuses it, applies the strategy; the round's training list and
 * record so far go into loop->train / loop->cur. */
static int batch_size(const bm_mine_state *st) {
  int n = 0;
  for (int i = 0; i < st->n_images; i++) n += st->images[i].pool == BM_POOL_BATCH;
  return n;
}

/* The fused (or people-answered) batch: the strategy, the round's training list, its record
 * so far; the round is then in STAGE_TRAINING. */
static int apply_round(bm_loop *loop, bm_round_plan *plan, const bm_fusion_result *results,
                       bm_error *err) {
  int rc = bm_mine_apply(&loop->st, &loop->opts.mine, results, plan, err);
  if (rc == 0) {
    bm_index_list_free(&loop->train); /* the call below starts a new list */
    if (bm_round_plan_train_list(plan, &loop->train)) rc = bm_fail(err, "out of memory");
  }
  if (rc == 0 && loop->train.n == 0)
    rc = bm_fail(err, "round %d has nothing to train on (empty L and batch)", plan->round);
  if (rc == 0) {
    bm_round_record_init(&loop->cur);
    bm_round_record_fill(&loop->cur, &loop->st, plan);
    snprintf(loop->cur.ap_metric, sizeof loop->cur.ap_metric, "%s",
             bm_ap_metric_name(loop->opts.ap_metric));
    loop->round_start_epoch = bm_trainer_epoch(loop->tr);
    loop->stage = STAGE_TRAINING;
  }
  return rc;
}

/* 0: the round is applied; 2: it waits for people (oracle human); -1. */
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
    rc = loop_detect(loop, loop->pool, plan.batch.items, n, &dopts, "detect batch", &dets, err);
  }
  if (rc == 0)
    rc = bm_fusion_run_images(&loop->opts.fusion, loop->pool, plan.batch.items, n, plan.round,
                              &dets, results, err);
  int awaiting = 0;
  if (rc == 0 && loop->opts.mine.oracle == BM_ORACLE_HUMAN && n > 0) {
    /* real people: the batch goes to them, the round goes on when the run is resumed */
    rc = loop_review_export(loop, &plan, results, err);
    if (rc == 0) loop->stage = STAGE_REVIEW;
    awaiting = rc == 0;
  } else if (rc == 0) {
    rc = apply_round(loop, &plan, results, err);
  }
  for (int i = 0; results && i < n; i++) bm_fusion_result_free(&results[i]);
  bm_free(results);
  bm_detections_free(&dets);
  bm_round_plan_free(&plan);
  return rc ? rc : awaiting ? 2 : 0;
}

/* STAGE_REVIEW: the people's answers so far (RUN/review/round-R/answers.json) become the
 * round's fusion results and the round goes on (0); with no answer yet the run keeps waiting
 * (2, the reason in why). */
static int continue_review(bm_loop *loop, char *why, size_t size, bm_error *err) {
  bm_round_plan plan;
  memset(&plan, 0, sizeof plan);
  bm_fusion_result *results = NULL;
  bm_object **gts = NULL;
  int answered = 0, total = 0;
  int rc = loop_review_collect(loop, &plan, &results, &gts, &answered, &total, err);
  if (rc == 0 && answered == 0) {
    snprintf(why, size,
             "awaiting review: none of the %d images of round %d is answered yet (%s/review/"
             "round-%d; boxmine serve, or boxmine review import)",
             total, loop->st.round, bm_run_dir(loop->run), loop->st.round);
    rc = 2;
  } else if (rc == 0) {
    message(loop, "round %d: people answered %d of %d images%s", loop->st.round, answered,
            total, answered < total ? "; the others go back to the front of Q" : "");
    rc = apply_round(loop, &plan, results, err);
  }
  for (int i = 0; i < answered && results; i++) bm_fusion_result_free(&results[i]);
  for (int i = 0; i < answered && gts; i++) bm_free(gts[i]);
  bm_free(results);
  bm_free(gts);
  bm_round_plan_free(&plan);
  return rc;
}

/* Trains the round's epochs, evaluates, writes the record. 0 done, 1 stopped, -1. */
static int finish_round(bm_loop *loop, bm_error *err) {
  bm_epoch_summary summary;
  memset(&summary, 0, sizeof summary);
  summary.loss = NAN;
  while (bm_trainer_epoch(loop->tr) - loop->round_start_epoch < loop->opts.epochs_per_round) {
    int rc = loop_train_epoch(loop, loop->train.items, loop->train.n, &summary, err);
    if (rc < 0) return -1;
    if (rc == 1) return loop_save_to(loop, NULL, err) ? -1 : 1;
    if (bm_trainer_epoch(loop->tr) - loop->round_start_epoch < loop->opts.epochs_per_round &&
        loop_save_to(loop, NULL, err))
      return -1;
  }
  bm_round_record rec = loop->cur;
  double ap50_new;
  if (loop_evaluate(loop, &rec, &ap50_new, err)) return -1;
  rec.train_loss = summary.loss;
  rec.lr = isfinite(summary.loss) ? summary.lr : bm_trainer_lr(loop->tr);
  double value = loop_metric(loop, &rec);
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
  if (loop_push_record(loop, &rec, ap50_new, err)) return -1;
  if (stop)
    snprintf(loop->stop_reason, sizeof loop->stop_reason, "%s shift %.5f below %g (phase-2 early stop)",
             bm_ap_metric_name(loop->opts.ap_metric), rec.ap_shift, loop->opts.ap_shift_asm);
  loop->stage = STAGE_BETWEEN;
  bm_index_list_clear(&loop->train);
  bm_round_record_init(&loop->cur);
  int is_best = bm_run_best_offer(&loop->best, value, rec.round);
  loop->seconds_before = 0;
  loop->record_start = bm_now();
  if (is_best && loop_save_to(loop, bm_run_best_ckpt(loop->run), err)) return -1;
  if (loop_save_state(loop, err)) return -1;
  loop_finish_record(loop, &rec, ap50_new);
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

int bm_loop_run(bm_loop *loop, const bm_loop_hooks *hooks, bm_loop_result *result,
                bm_error *err) {
  memset(result, 0, sizeof *result);
  result->best_round = -1;
  result->best_ap = NAN;
  loop->hooks = hooks;
  loop->stop_asked = 0;
  loop->record_start = bm_now();
  bm_run_set_saver(loop->run, loop_write_ckpt, loop, loop->opts.checkpoint_minutes);
  int rc = loop_write_run_files(loop, err);
  if (rc == 0) rc = bm_run_events_open(loop->run, err);
  /* a kill between last.ckpt and rounds.jsonl leaves a stale file: rewrite it */
  if (rc == 0) rc = loop_write_rounds(loop, err);
  if (rc == 0 && loop->n_records == 0 && loop->stage == STAGE_PHASE1) rc = loop_save_to(loop, NULL, err);
  int stopped = 0;
  if (rc == 0 && loop->stage == STAGE_PHASE1) {
    int r = run_phase1(loop, err);
    if (r < 0) rc = -1;
    stopped = r == 1;
  }
  const char *reason = NULL;
  char buf[160];
  int awaiting = 0;
  while (rc == 0 && !stopped) {
    if (loop->stage == STAGE_REVIEW) {
      int r = continue_review(loop, buf, sizeof buf, err);
      if (r == 2) {
        reason = buf;
        awaiting = 1;
        break;
      }
      if (r || loop_save_to(loop, NULL, err)) {
        rc = -1;
        break;
      }
    }
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
      int r = start_round(loop, err);
      if (r < 0 || loop_save_to(loop, NULL, err)) {
        rc = -1;
        break;
      }
      if (r == 2) {
        snprintf(buf, sizeof buf,
                 "awaiting review: round %d's %d images are in %s/review/round-%d/ (boxmine "
                 "serve, or boxmine review import; then boxmine mine --resume)",
                 loop->st.round, batch_size(&loop->st), bm_run_dir(loop->run), loop->st.round);
        reason = buf;
        awaiting = 1;
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
    rc = loop_write_outputs(loop, why, err);
    result->finished = !stopped && !awaiting;
    result->awaiting_review = awaiting;
    snprintf(result->stop_reason, sizeof result->stop_reason, "%s", why ? why : "");
  }
  bm_error close_err;
  if (bm_run_events_close(loop->run, &close_err) && rc == 0) {
    *err = close_err;
    rc = -1;
  }
  result->phase1_epochs = loop->phase1_epochs;
  result->rounds = loop->rounds_done;
  result->best_round = (int)loop->best.at;
  result->best_ap = loop->best.value;
  if (loop->n_records > 0)
    loop_record_from_values(loop->records + (size_t)(loop->n_records - 1) * LOOP_RECORD_VALUES,
                            loop->opts.ap_metric, &result->last, NULL);
  if (loop->n_records > 0) loop_record_human(loop, &result->last);
  else
    bm_round_record_init(&result->last);
  loop->hooks = NULL;
  return rc;
}
