/* The mining loop's state in checkpoints (loop_internal.h): the sections saved with the
 * trainer's state after every epoch and round, rounds.jsonl rewritten from them, and
 * bm_loop_resume, which reads them back and checks that the run may go on as asked. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_mine_loop.h"
#include "mine/loop_internal.h"

/* Layout version of the loop's checkpoint sections. */
#define LOOP_STATE_VERSION 1

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
                       loop->rounds_done,  loop->round_start_epoch, loop->best.at,
                       loop->n_records,    (int64_t)loop->data_hash, loop->train.n};
    double seconds = loop->seconds_before + (bm_now() - loop->record_start);
    double reals[2] = {loop->best.value, seconds};
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

int loop_write_ckpt(void *user, const char *path, bm_error *err) {
  bm_loop *loop = user;
  return bm_trainer_save(loop->tr, path, save_sections, loop, err);
}

int loop_save_to(bm_loop *loop, const char *path, bm_error *err) {
  return bm_run_save(loop->run, path, err);
}

/* rounds.jsonl from the records (the checkpoint holds them, so a kill between the two
 * writes is repaired on resume). */
int loop_write_rounds(bm_loop *loop, bm_error *err) {
  bm_buf text;
  bm_buf_init(&text);
  for (int k = 0; k < loop->n_records; k++) {
    bm_round_record rec;
    double ap50_new;
    loop_record_from_values(loop->records + (size_t)k * LOOP_RECORD_VALUES, loop->opts.ap_metric,
                            &rec, &ap50_new);
    loop_record_human(loop, &rec);
    loop_record_line(&rec, ap50_new, loop->opts.mine.eval_update > 0, &text);
  }
  int rc = text.failed ? bm_fail(err, "out of memory")
                       : bm_run_write(loop->run, "rounds.jsonl", text.data, text.len, err);
  bm_buf_free(&text);
  return rc;
}

/* The state after a completed step: last.ckpt first, then rounds.jsonl. */
int loop_save_state(bm_loop *loop, bm_error *err) {
  if (loop_save_to(loop, NULL, err)) return -1;
  return loop_write_rounds(loop, err);
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
 * run's phase1.ckpt). The message names the first setting that differs. */
static int check_resume_opts(const bm_loop_opts *saved, const bm_loop_opts *now, int rounds_done,
                             int stage, bm_error *err) {
  static const char *const phase1[] = {"seed",         "n_init",       "pre_epochs",
                                       "ap_range_pre", "ap_shift_pre", "ap_thre",
                                       "ap_metric",    "eval_thresh",  "eval_nms",
                                       "eval_max_dets", NULL};
  char what[200];
  if (bm_settings_differ(&bm_loop_settings, saved, now, phase1, what, sizeof what))
    return bm_fail(err, "the checkpoint was made with another seed, initial set, phase-1 or "
                        "evaluation setting (%s)", what);
  if ((rounds_done > 0 || stage == STAGE_TRAINING || stage == STAGE_REVIEW) &&
      bm_settings_differ(&bm_loop_settings, saved, now, NULL, what, sizeof what))
    return bm_fail(err, "mining options differ from the run's own after round %d (%s); only "
                        "--max-rounds and --budget-seconds may change on resume",
                   rounds_done, what);
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
  if (loop_check_saved(ints, reals, err)) return -1;
  if (ints[0] != LOOP_STATE_VERSION)
    return bm_fail(err, "mining state version %lld; this boxmine reads version %d",
                   (long long)ints[0], LOOP_STATE_VERSION);
  loop->stage = (int)ints[1];
  loop->phase1_epochs = (int)ints[2];
  loop->rounds_done = (int)ints[3];
  loop->round_start_epoch = ints[4];
  loop->best.at = ints[5];
  loop->n_records = (int)ints[6];
  if ((uint64_t)ints[7] != loop->data_hash)
    return bm_fail(err, "the data set differs from the one the run was made with (image ids "
                        "of the pool or the test split)");
  if (loop->stage < STAGE_PHASE1 || loop->stage > STAGE_REVIEW || loop->n_records < 0 ||
      ints[8] < 0)
    return bm_fail(err, "mine.loop holds impossible values");
  if (check_resume_opts(&saved, opts, loop->rounds_done, loop->stage, err)) return -1;
  loop->best.value = reals[0];
  loop->seconds_before = reals[1];
  loop_record_from_values(current, opts->ap_metric, &loop->cur, NULL);
  loop_record_human(loop, &loop->cur);
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

int bm_loop_resume(bm_loop **out, bm_run *run, const char *ckpt_path,
                   const bm_loop_opts *opts, const bm_dataset *pool, const bm_dataset *test,
                   int threads, const char *command_line, bm_ckpt_extra_fn extra,
                   void *extra_user, bm_log *log, bm_error *err) {
  *out = NULL;
  if (!run) return bm_fail(err, "no run folder");
  bm_loop *loop = loop_new(run, opts, pool, test, command_line, extra, extra_user, err);
  if (!loop) return -1;
  bm_ckpt_reader r;
  if (bm_ckpt_open(&r, ckpt_path, err)) {
    bm_loop_free(loop);
    return -1;
  }
  int rc = 0;
  if (!bm_ckpt_find(&r, "mine.loop"))
    rc = bm_fail(err, "not a mining checkpoint (no mine.* sections)");
  if (rc == 0) rc = loop_init_earlystops(loop, err);
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
