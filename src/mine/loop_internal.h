/* Helpers shared by the mining loop's files (src/mine/loop*.c):
 *   loop.c          creating and freeing a loop; the run: phase 1, mining rounds, stop rules
 *   loop_state.c    the state in checkpoints: saving after every step, resuming
 *   loop_steps.c    the steps of an epoch or a round: training, detection, evaluation, records
 *   loop_outputs.c  the files a run leaves: model.cfg, weights, annotations/, summary.json
 *   loop_io.c       options as text, records as numbers and rounds.jsonl lines */
#ifndef BM_LOOP_INTERNAL_H
#define BM_LOOP_INTERNAL_H

#include "boxmine/bm_mine_loop.h"

/* A round record as a fixed list of doubles (25 record fields + E_new's AP50). */
#define LOOP_RECORD_VALUES 26
void loop_record_to_values(const bm_round_record *rec, double extra_ap50_new, double *values);
void loop_record_from_values(const double *values, int ap_metric, bm_round_record *rec,
                             double *extra_ap50_new);
/* The rounds.jsonl line of a record; "ap50_new" is added when with_new. */
void loop_record_line(const bm_round_record *rec, double ap50_new, int with_new, bm_buf *out);

/* Where the loop stands; saved, so a resumed run knows what comes next. */
enum {
  STAGE_PHASE1 = 1,   /* training on the initial L, one record per epoch */
  STAGE_BETWEEN = 2,  /* between mining rounds: the next step takes a batch */
  STAGE_TRAINING = 3, /* a round's batch is applied; training on its list */
  STAGE_REVIEW = 4,   /* oracle human: the round's batch waits for people's answers */
};

struct bm_loop {
  bm_run *run;       /* the run folder (owned): paths, saves, scalars, text files */
  char *phase1_ckpt; /* RUN/phase1.ckpt */
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
  bm_run_best best; /* by ap_metric over mining rounds; at = the round, -1 before any */
  char stop_reason[160]; /* a rule that ended the run for good (early stop, exhausted) */

  bm_index_list train;  /* the round in progress: its training list ... */
  bm_round_record cur;  /* ... and its record so far */

  int n_records, cap_records;
  double *records; /* [n_records][LOOP_RECORD_VALUES] */

  /* while running */
  const bm_loop_hooks *hooks;
  int stop_asked;
  int told_exhausted; /* the "pool exhausted" message was given in this process */
  bm_object dummy_object; /* non-NULL target for samples with an empty annotation */
};

/* loop.c */
/* A loop with its options, data and run folder and nothing run yet: the start of
 * bm_loop_create and bm_loop_resume. NULL (err set, run closed) for bad options or no
 * memory. */
bm_loop *loop_new(bm_run *run, const bm_loop_opts *opts, const bm_dataset *pool,
                  const bm_dataset *test, const char *command_line, bm_ckpt_extra_fn extra,
                  void *extra_user, bm_error *err);
int loop_init_earlystops(bm_loop *loop, bm_error *err);

/* loop_state.c */
/* The whole state into path (NULL: last.ckpt; best.ckpt or phase1.ckpt), through the run
 * folder's saver. */
int loop_save_to(bm_loop *loop, const char *path, bm_error *err);
/* The run folder's saver (bm_run_save_fn): trainer state + the loop's sections. */
int loop_write_ckpt(void *user, const char *path, bm_error *err);
/* rounds.jsonl from the records. */
int loop_write_rounds(bm_loop *loop, bm_error *err);
/* The state after a completed step: last.ckpt first, then rounds.jsonl. */
int loop_save_state(bm_loop *loop, bm_error *err);

/* loop_steps.c */
int loop_detect(bm_loop *loop, const bm_dataset *ds, const int *split, int n_split,
                const bm_detect_opts *dopts, const char *what, bm_detections *out, bm_error *err);
/* AP50, AP75 (VOC all-point) and COCO AP on the test split into rec; AP50 on E_new. */
int loop_evaluate(bm_loop *loop, bm_round_record *rec, double *ap50_new, bm_error *err);
/* The value of rec that early stop and "best" watch (--ap-metric). */
double loop_metric(const bm_loop *loop, const bm_round_record *rec);
/* One epoch over images. Returns 0 done, 1 stopped by a hook (state consistent), -1. */
int loop_train_epoch(bm_loop *loop, const int *images, int n, bm_epoch_summary *summary,
                     bm_error *err);
int loop_push_record(bm_loop *loop, const bm_round_record *rec, double ap50_new, bm_error *err);
/* A record written: TensorBoard scalars, the on_record hook, the clock of the next one. */
void loop_finish_record(bm_loop *loop, bm_round_record *rec, double ap50_new);

/* loop_review.c (oracle human, docs/REVIEW.md) */
/* The human_adjusts / human_measured_* fields of a record read back from the checkpoint's
 * numbers (which do not hold them), from the ledger: cumulative through the record's mining
 * round; phase-1 records have none. */
void loop_record_human(const bm_loop *loop, bm_round_record *rec);
/* RUN/review/round-R (bm_free). */
char *loop_review_dir(const bm_loop *loop, int round);
/* Writes the fused batch (results parallel to plan->batch) for people. */
int loop_review_export(bm_loop *loop, const bm_round_plan *plan, const bm_fusion_result *results,
                       bm_error *err);
/* Reads the round's manifest and answers: for each answered image its fusion result (made
 * from the verdicts, *results[0..n_answered), with its objects in *gts) and its charge in the
 * ledger; plan->batch = the answered images; the unanswered go back to the front of Q. With
 * no answer yet, *n_answered = 0 and nothing changes. */
int loop_review_collect(bm_loop *loop, bm_round_plan *plan, bm_fusion_result **results,
                        bm_object ***gts, int *n_answered, int *n_total, bm_error *err);

/* loop_outputs.c */
/* model.cfg and classes.txt, written when a run starts. */
int loop_write_run_files(bm_loop *loop, bm_error *err);
/* Files written when the run returns: weights, annotations, summary. */
int loop_write_outputs(bm_loop *loop, const char *reason, bm_error *err);

/* state_check.c: range checks of mine.loop and mine.loop_reals (0, or -1 naming the section) */
int loop_check_saved(const int64_t *ints, const double *reals, bm_error *err);

#endif
