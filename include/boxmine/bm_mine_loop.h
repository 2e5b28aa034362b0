/* boxmine mining loop: Active Sample Mining driven end to end (asm-spec sections 2-8,
 * docs/MINING.md "The mining loop").
 *
 * Phase 1 trains the detector on the initial labelled set L, one epoch at a time, evaluating
 * the test split after each, until the AP shift rule stops it (or an epoch cap). Phase 2
 * runs rounds: take a batch (bm_mine_take_batch), detect it, fuse every image with its hidden
 * ground truth (bm_fusion_run), apply the strategy (bm_mine_apply), train
 * `epochs_per_round` epochs on the round's list, evaluate, write the round's record.
 *
 * Everything lives in a run folder (RUN, bm_run.h):
 *   last.ckpt         the whole state after every epoch and round (trainer + mining state +
 *                     loop counters + early-stop windows + the records so far); atomic
 *   best.ckpt         the same at the best mining round (by ap_metric)
 *   phase1.ckpt       the state when phase 1 ended (other strategies can start from it)
 *   rounds.jsonl      one record per phase-1 epoch and per round, rewritten atomically
 *   summary.json      at the end of a run (also when stopped by a limit)
 *   events.out.tfevents.*  TensorBoard scalars
 *   annotations/      the labelled set as a VOC folder, with each box's provenance
 *   model.cfg, classes.txt, last.weights, best.weights  darknet files
 *
 * Nothing here prints: progress goes through bm_loop_hooks.
 */
#ifndef BM_MINE_LOOP_H
#define BM_MINE_LOOP_H

#include "boxmine/bm_det.h"
#include "boxmine/bm_mine.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { BM_AP_METRIC_AP50 = 0, BM_AP_METRIC_AP75 = 1, BM_AP_METRIC_COCO = 2 };
const char *bm_ap_metric_name(int metric); /* "ap50", "ap75", "ap_coco" */
int bm_ap_metric_parse(const char *name, int *out, bm_error *err);

typedef struct bm_loop_opts {
  bm_mine_opts mine;     /* strategy, oracle, K, thresholds, eval-update */
  bm_fusion_opts fusion; /* certain/uncertain thresholds, judge and gt IoU */
  bm_costs costs;        /* seconds per draw, verify, image open */
  uint64_t seed;         /* the L/U split and every choice of the mining */
  int n_init;            /* images in the initial L */
  int epochs_per_round;  /* training epochs in each mining round (1) */
  int max_rounds;        /* mining rounds; 0 = no limit */
  double budget_seconds; /* stop once the ledger's human seconds reach it; 0 = none */
  int pre_epochs;        /* phase 1 ends after this many epochs at the latest */
  int ap_range_pre;      /* phase 1 early stop: window (3) ... */
  double ap_shift_pre;   /* ... shift (0.05) */
  int ap_range_asm;      /* phase 2 early stop: window (5) ... */
  double ap_shift_asm;   /* ... shift (0.001) */
  double ap_thre;        /* both: only after some AP above this (0.5) */
  int ap_metric;         /* BM_AP_METRIC_*: what the early stop and "best" watch */
  int stop_when_exhausted; /* 1: end when U and Q are empty (the spec); 0: go on training on
                              L until early stop or max_rounds (fair for `full`) */
  bm_detect_opts eval_detect; /* post-processing for evaluation (score floor 0.005) */
  bm_detect_opts mine_detect; /* post-processing for mining (floor = uncertain threshold) */
  int log_every;              /* Train/ scalars every N updates */
  double checkpoint_minutes;  /* also save last.ckpt inside an epoch this often; 0 = never */
} bm_loop_opts;
/* The defaults for the default data set on 2 cores (docs/MINING.md lists them and the
 * reference's values where they differ). n_init is 0: the caller sets it. */
void bm_loop_opts_default(bm_loop_opts *opts);
int bm_loop_opts_check(const bm_loop_opts *opts, int n_pool, bm_error *err);
/* Post-processing of the detections mining fuses (mine_detect): evaluation's NMS and cap with
 * the score floor at fusion's uncertain threshold (fusion ignores lower boxes, and NMS among
 * the higher ones does not depend on them). boxmine mine and boxmine assess both use it. */
bm_detect_opts bm_mine_detect_opts(const bm_detect_opts *eval, const bm_fusion_opts *fusion);
/* The options as run settings (bm_run.h): the checkpoint section "mine.opts"; the limits
 * (max_rounds, budget_seconds, stop_when_exhausted, log_every, checkpoint_minutes) may change
 * on resume. */
extern const bm_settings bm_loop_settings;
/* key=value lines, one option a line, and back (unknown keys are an error). */
void bm_loop_opts_text(const bm_loop_opts *opts, bm_buf *out);
int bm_loop_opts_parse(const char *text, bm_loop_opts *opts, bm_error *err);

typedef struct bm_loop_hooks {
  /* After every training update; return nonzero to stop (the state is saved first). */
  int (*on_update)(void *user, const bm_train_progress *progress);
  /* Detection progress: what = "detect batch" or "evaluate". */
  void (*on_detect)(void *user, const char *what, long done, long total);
  /* After every record (phase-1 epoch or mining round), once it is saved. */
  void (*on_record)(void *user, const bm_round_record *rec);
  /* Plain messages (phase changes, stop reasons, files written). */
  void (*on_message)(void *user, const char *text);
  /* Asked between steps; nonzero stops the run at the next saved point. */
  int (*should_stop)(void *user);
  void *user;
} bm_loop_hooks;

typedef struct bm_loop bm_loop;

/* A new run in the run folder run (bm_run_open; it must not hold a run yet): pool = the
 * images that may be mined (their ground truth is the hidden oracle), test = the evaluation
 * set E (its own dataset with the same classes). The run folder and the trainer are taken
 * over (freed by bm_loop_free; on failure too). `extra` adds the caller's sections to every
 * checkpoint (may be NULL). */
int bm_loop_create(bm_loop **out, bm_run *run, const bm_loop_opts *opts,
                   const bm_dataset *pool, const bm_dataset *test, bm_trainer *tr,
                   const char *command_line, bm_ckpt_extra_fn extra, void *extra_user,
                   bm_error *err);
/* The options saved in a loop checkpoint (to resume with, after overriding limits). */
int bm_loop_saved_opts(const char *ckpt_path, bm_loop_opts *opts, bm_error *err);
/* Continues, in the run folder run (taken over, as by bm_loop_create), the run saved at
 * ckpt_path (its last.ckpt, or another run's phase1.ckpt copied there) with opts (normally
 * the saved ones with new limits). The datasets must be the ones the run was made with
 * (checked by image count and ids). threads > 0 overrides the saved thread count (results
 * then differ in their bits). */
int bm_loop_resume(bm_loop **out, bm_run *run, const char *ckpt_path,
                   const bm_loop_opts *opts, const bm_dataset *pool, const bm_dataset *test,
                   int threads, const char *command_line, bm_ckpt_extra_fn extra,
                   void *extra_user, bm_log *log, bm_error *err);
void bm_loop_free(bm_loop *loop);

typedef struct bm_loop_result {
  int finished;        /* 1: a stop rule ended the run; 0: interrupted (resume it) */
  int awaiting_review; /* oracle human: stopped until people answer the round (stop_reason
                          says where); resume afterwards */
  char stop_reason[160];
  int phase1_epochs;   /* epochs of phase 1 */
  int rounds;          /* mining rounds done */
  int best_round;      /* -1 if none */
  double best_ap;
  bm_round_record last; /* the last record (phase 1 or 2) */
} bm_loop_result;

/* Runs (or continues) until a stop rule, a limit, or a hook asks to stop. Returns 0 (see
 * result->finished), -1 with a reason. The run's files are up to date on return. */
int bm_loop_run(bm_loop *loop, const bm_loop_hooks *hooks, bm_loop_result *result,
                bm_error *err);

/* Read access for tests and the CLI. */
const bm_mine_state *bm_loop_state(const bm_loop *loop);
bm_trainer *bm_loop_trainer(bm_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
