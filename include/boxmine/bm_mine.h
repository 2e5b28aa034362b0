/* boxmine mining: the algorithmic core of Active Sample Mining (docs/MINING.md, asm-spec.md).
 *
 *   fusion    one image: the detector's boxes + the hidden ground truth -> the SA annotation
 *             (self + active), per-image sl_score / al_ratio, and the machine-only estimates
 *   ledger    every human action (draw, verify, image open) per box, image and round
 *   state     the pools L (labelled), U (unlabelled), Q (re-detection queue), D (detected,
 *             topk-alratio's store), E_new (eval-update) and the stored annotations
 *   strategy  one round: take a batch from Q then U, and after detection + fusion decide which
 *             images join L, which are trained, re-queued or returned to U, and charge people
 *   records   one rounds.jsonl line per round, summary.json, read back by the report
 *   report    the self-contained HTML page comparing runs (boxmine report)
 *
 * Nothing here trains or runs a detector: a loop calls these functions around its own
 * training and detection (docs/MINING.md, "How a loop drives a round").
 *
 * Box coordinates are VOC pixel coordinates (bm_data.h). IoU uses the VOC devkit's
 * pixel-inclusive convention: width = x2 - x1 + 1, height = y2 - y1 + 1.
 */
#ifndef BM_MINE_H
#define BM_MINE_H

#include "boxmine/bm_core.h"
#include "boxmine/bm_data.h"
#include "boxmine/bm_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- IoU ------------------------------------------------------------------------------- */
/* VOC pixel-inclusive IoU of two boxes (x1 y1 x2 y2); 0 when they do not overlap or when a
 * box is empty. */
float bm_iou_voc(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2,
                 float by2);

/* ---- fusion (spec section 3) -------------------------------------------------------------- */
typedef struct bm_fusion_opts {
  float certain_thre;   /* --certain-thre, 0.8: score >= this is certain */
  float uncertain_thre; /* --uncertain-thre, 0.3: score in [this, certain) is uncertain */
  float judge_iou;      /* --judge-iou, 0.5: overlap that lets uncertain boxes re-judge */
  float gt_iou;         /* --gt-iou, 0.8: overlap the oracle needs to accept a machine box */
} bm_fusion_opts;
void bm_fusion_opts_default(bm_fusion_opts *opts);
int bm_fusion_opts_check(const bm_fusion_opts *opts, bm_error *err);

/* Role of one detection after steps 1-2. Detections below uncertain_thre are dropped. */
enum { BM_BOX_CERTAIN = 0, BM_BOX_UNCERTAIN = 1, BM_BOX_DEMOTED = 2 };
/* Verdict of the oracle on a certain box (step 3). */
enum { BM_VERDICT_NONE = -1, BM_VERDICT_REJECTED = 0, BM_VERDICT_ACCEPTED = 1 };

typedef struct bm_fused_box {
  int class_id;
  float score;
  float x1, y1, x2, y2;
  int role;     /* BM_BOX_* ; a demoted box counts as uncertain from then on */
  int verdict;  /* BM_VERDICT_*: set for certain boxes only */
  int gt_index; /* accepted: index of the claimed object in the image's gt array; else -1 */
} bm_fused_box;

/* Where a box of an annotation came from. */
enum {
  BM_SOURCE_HUMAN = 0,     /* drawn by a person (an AL box), or an initial ground-truth box */
  BM_SOURCE_MACHINE = 1,   /* machine box accepted by the oracle (an SL box) */
  BM_SOURCE_PSEUDO = 2,    /* machine box taken with no human look (trust mode) */
  BM_SOURCE_DIFFICULT = 3, /* difficult ground-truth object carried over unchanged */
};

/* One box of a mined annotation: the object (class, coordinates, difficult flag) and its
 * provenance. */
typedef struct bm_sa_box {
  bm_object object;
  int source;  /* BM_SOURCE_* */
  float score; /* the machine's score for MACHINE and PSEUDO boxes, 0 otherwise */
  int round;   /* mining round in which the box was made */
} bm_sa_box;

typedef struct bm_fusion_result {
  int image; /* dataset index of the image */
  int round;
  const bm_object *gt; /* borrowed: the image's ground truth (must outlive the result) */
  int n_gt_objects;    /* number of gt entries, difficult included */

  /* detections with score >= uncertain_thre, in descending score order (ties: input order) */
  int n_boxes;
  bm_fused_box *boxes;

  /* the SA annotation: every ground-truth object exactly once, in gt order */
  int n_sa;
  bm_sa_box *sa;

  /* machine side (no ground truth used) */
  int n_certain;   /* certain boxes that survived re-judging */
  int n_uncertain; /* uncertain boxes, demoted ones included */
  int n_demoted;
  float certain_score_sum;
  float sl_score_est; /* sl_score' = certain_score_sum / max(n', 1), n' = certain + uncertain */
  float al_ratio_est; /* al_ratio' = n_uncertain / max(n', 1) */
  float uncertainty_mean;  /* 1 - mean score of the certain boxes; 1 when there are none */
  float uncertainty_least; /* 1 - lowest score among kept boxes; 1 when there are none */

  /* oracle side (hidden ground truth) */
  int n_gt;        /* non-difficult ground-truth objects: the spec's n */
  int n_difficult; /* difficult objects, carried over */
  int n_accepted;  /* certain boxes accepted = SL boxes */
  int n_rejected;  /* certain boxes rejected */
  int n_al;        /* AL boxes = n_gt - n_accepted */
  float sl_score;  /* sum of accepted scores / n (n = 0: 1 if nothing rejected, else 0) */
  float al_ratio;  /* n_al / n (n = 0: 0) */
} bm_fusion_result;

/* Runs steps 1-5 on one image. dets: the detector's boxes for this image (their `image`
 * field is not read); gt: the image's ground-truth objects (borrowed by the result).
 * Fails on a non-finite or out-of-range score, a negative class or non-finite coordinates.
 * Free the result with bm_fusion_result_free. */
int bm_fusion_run(const bm_fusion_opts *opts, int image, int round, const bm_detection *dets,
                  int n_dets, const bm_object *gt, int n_gt_objects, bm_fusion_result *out,
                  bm_error *err);
void bm_fusion_result_free(bm_fusion_result *result);
/* bm_fusion_run on images[0..n-1] of ds (images NULL: 0..n-1) with their ground truth and
 * their boxes in dets, grouped by image in the order of images (as the detector returns them):
 * results[i] for images[i]. Fails when dets holds boxes of other images or in another order.
 * results must be zeroed; free every one of them, also on failure. */
int bm_fusion_run_images(const bm_fusion_opts *opts, const bm_dataset *ds, const int *images,
                         int n, int round, const bm_detections *dets, bm_fusion_result *results,
                         bm_error *err);

/* The annotation a person produces when drawing every object (random/uncertainty/full
 * baselines, initial labels): non-difficult objects as HUMAN, difficult ones as DIFFICULT.
 * *boxes is allocated (bm_free); n_objects may be 0 (then *boxes may be NULL). */
int bm_annotation_from_gt(const bm_object *gt, int n_objects, int round, bm_sa_box **boxes,
                          bm_error *err);
/* The pseudo-labels of trust mode: the certain boxes that survived re-judging, as PSEUDO. */
int bm_fusion_pseudo_labels(const bm_fusion_result *result, bm_sa_box **boxes, int *n_boxes,
                            bm_error *err);
/* XML fragment with a box's provenance, for bm_voc_write_xml's object_extra_xml:
 * <provenance>machine</provenance><score>0.93</score><round>3</round> */
void bm_sa_box_provenance_xml(const bm_sa_box *box, bm_buf *out);
const char *bm_source_name(int source);

/* ---- the human-cost ledger (spec section 4) ----------------------------------------------- */
/* ADJUST: a person moved, resized or relabelled a machine box (real review rounds,
 * bm_review.h); the simulated oracle never adjusts. */
enum { BM_ACTION_IMAGE = 0, BM_ACTION_VERIFY = 1, BM_ACTION_DRAW = 2, BM_ACTION_ADJUST = 3 };

typedef struct bm_costs {
  double draw;   /* --cost-draw, seconds per drawn box (7) */
  double verify; /* --cost-verify, seconds per accepted/rejected machine box (1.5) */
  double image;  /* --cost-image, seconds per opened image (2) */
  double adjust; /* --cost-adjust, seconds per adjusted machine box (3.5, half a draw) */
} bm_costs;
void bm_costs_default(bm_costs *costs);

typedef struct bm_action_counts {
  long draws;
  long verifies;
  long images;
  long adjusts;
} bm_action_counts;

/* Seconds a person was measured to spend on one image (a tool's lead time, or boxmine's review
 * page), kept beside the cost model's estimate. */
typedef struct bm_ledger_time {
  int32_t round;
  int32_t image;
  double seconds;
} bm_ledger_time;

/* One human action on one box (or on a whole image for BM_ACTION_IMAGE). */
typedef struct bm_ledger_entry {
  int32_t round;
  int32_t image;
  int32_t class_id; /* the box's class; -1 for image opens */
  uint8_t action;   /* BM_ACTION_* */
  uint8_t accepted; /* verifies: 1 accepted, 0 rejected; else 0 */
} bm_ledger_entry;

typedef struct bm_ledger {
  bm_costs costs;
  int n_images;                /* images are 0 .. n_images-1 */
  long n_entries, cap_entries; /* the per-box log */
  bm_ledger_entry *entries;
  int n_rounds; /* per_round covers rounds 0 .. n_rounds-1 */
  int cap_rounds;
  bm_action_counts *per_round;
  bm_action_counts *per_image; /* n_images */
  bm_action_counts total;
  long n_measured, cap_measured; /* measured times, in recording order */
  bm_ledger_time *measured;
} bm_ledger;

int bm_ledger_init(bm_ledger *ledger, int n_images, const bm_costs *costs, bm_error *err);
void bm_ledger_free(bm_ledger *ledger);
/* Records one action; class_id -1 for image opens, accepted only for verifies. */
int bm_ledger_record(bm_ledger *ledger, int round, int image, int action, int class_id,
                     int accepted, bm_error *err);
/* Charges what a person does on an image she reviews: one image open, one verify per
 * surviving certain box (accepted or rejected), one draw per AL box. */
int bm_ledger_charge_review(bm_ledger *ledger, const bm_fusion_result *result, int round,
                            bm_error *err);
/* Records the measured seconds of one image (finite, >= 0). */
int bm_ledger_record_time(bm_ledger *ledger, int round, int image, double seconds,
                          bm_error *err);
/* Measured seconds of rounds 0..round inclusive, and how many images they cover (*images may
 * be NULL). */
double bm_ledger_measured_through(const bm_ledger *ledger, int round, long *images);
/* Charges drawing every non-difficult object from scratch: one image open + n draws. */
int bm_ledger_charge_full_draw(bm_ledger *ledger, int image, const bm_object *gt,
                               int n_objects, int round, bm_error *err);
bm_action_counts bm_ledger_round(const bm_ledger *ledger, int round);
bm_action_counts bm_ledger_image(const bm_ledger *ledger, int image);
/* Counts of rounds 0..round inclusive. */
bm_action_counts bm_ledger_through(const bm_ledger *ledger, int round);
double bm_costs_seconds(const bm_costs *costs, bm_action_counts counts);
/* Cumulative human seconds of the whole ledger under its costs. */
double bm_ledger_seconds(const bm_ledger *ledger);
/* Binary form for checkpoints: magic "BMLEDGR1", version (2), costs, image count, entries,
 * measured times, CRC-32C; appended to out. The per-round and per-image totals are rebuilt on
 * load. Version 1 (no adjust cost, no measured times) is still read. */
void bm_ledger_save(const bm_ledger *ledger, bm_buf *out);
/* Reads what bm_ledger_save wrote at data; *used = bytes consumed (may be NULL). */
int bm_ledger_load(bm_ledger *ledger, const void *data, size_t len, size_t *used,
                   bm_error *err);
/* JSON object: costs, totals, seconds (cost model), measured seconds, per-round counts,
 * per-box entries as [round, image, action, class, accepted] arrays and measured times as
 * [round, image, seconds]. */
void bm_ledger_json(const bm_ledger *ledger, bm_buf *out);

/* ---- index lists and pools ---------------------------------------------------------------- */
typedef struct bm_index_list {
  int n;
  int cap;
  int *items;
} bm_index_list;
int bm_index_list_push(bm_index_list *list, int value);
void bm_index_list_clear(bm_index_list *list);
void bm_index_list_free(bm_index_list *list);
int bm_index_list_find(const bm_index_list *list, int value); /* position, or -1 */

/* Where a pool image is. */
enum {
  BM_POOL_NONE = 0,     /* not part of the mining pool */
  BM_POOL_LABELED = 1,  /* L */
  BM_POOL_UNLABELED = 2,/* U */
  BM_POOL_QUEUED = 3,   /* Q */
  BM_POOL_DETECTED = 4, /* D: detected, kept for topk-alratio's ranking */
  BM_POOL_EVAL = 5,     /* E_new (eval-update) */
  BM_POOL_SPENT = 6,    /* v1: labelled, trained once, then set aside */
  BM_POOL_BATCH = 7,    /* taken into the current batch, not yet placed */
};
/* Which annotation an image carries. */
enum {
  BM_ANN_NONE = 0,
  BM_ANN_GROUND_TRUTH = 1, /* initial L: the dataset's own objects */
  BM_ANN_MINED = 2,        /* a stored SA (or fully drawn) annotation */
  BM_ANN_PSEUDO = 3,       /* trust-mode pseudo-labels, valid for their round only */
};

typedef struct bm_mine_image {
  uint8_t pool;       /* BM_POOL_* */
  uint8_t annotation; /* BM_ANN_* */
  int32_t round;      /* round of the stored annotation / scores, -1 if none */
  int32_t times_detected;
  float sl_score; /* the scores that decided the image's last placement */
  float al_ratio;
  int n_boxes;
  bm_sa_box *boxes; /* for MINED and PSEUDO */
} bm_mine_image;

typedef struct bm_mine_state {
  int n_images; /* dataset size; images outside the pool stay BM_POOL_NONE */
  bm_mine_image *images;
  bm_index_list labeled;   /* L, in joining order */
  bm_index_list unlabeled; /* U, in the order batches take images (seeded) */
  bm_index_list queue;     /* Q, first in first out */
  bm_index_list detected;  /* D */
  bm_index_list eval_new;  /* E_new */
  bm_ledger ledger;
  bm_rng rng;  /* every choice the mining makes: initial split, U order, samples of L */
  int round;   /* the last round started by bm_mine_take_batch (0 before the first) */
} bm_mine_state;

/* Splits the pool (dataset indices, each once) into L and U: a seeded shuffle, the first
 * n_initial images form L (annotation = ground truth), the rest form U in shuffled order. */
int bm_mine_state_init(bm_mine_state *st, int n_images, const int *pool, int n_pool,
                       int n_initial, uint64_t seed, const bm_costs *costs, bm_error *err);
void bm_mine_state_free(bm_mine_state *st);
/* Binary form of the whole state (pools, annotations, ledger, RNG, round) for checkpoints:
 * magic "BMMINE01", version, CRC-32C. Appended to out. */
void bm_mine_state_save(const bm_mine_state *st, bm_buf *out);
int bm_mine_state_load(bm_mine_state *st, const void *data, size_t len, bm_error *err);
/* Training objects of an image of the state: the dataset's objects for ground-truth images
 * (gt, n_gt_objects), the stored boxes otherwise. *objects is allocated (bm_free). Fails for
 * an image without annotation. */
int bm_mine_annotation_objects(const bm_mine_state *st, int image, const bm_object *gt,
                               int n_gt_objects, bm_object **objects, int *n_objects,
                               bm_error *err);
/* Checks that the index lists and the per-image pool fields agree (tests, after load). */
int bm_mine_state_check(const bm_mine_state *st, bm_error *err);

/* ---- strategies (spec section 5) ---------------------------------------------------------- */
typedef enum bm_strategy {
  BM_STRATEGY_V1 = 0,
  BM_STRATEGY_V1PLUS,
  BM_STRATEGY_TOPK_ALRATIO,
  BM_STRATEGY_TOPK_ALRATIO_THRE,
  BM_STRATEGY_TOPK_SLSCORE,
  BM_STRATEGY_RANDOM,
  BM_STRATEGY_UNCERTAINTY,
  BM_STRATEGY_FULL,
  BM_STRATEGY_RANDOM_VERIFY, /* random images, people verify the machine's boxes and draw
                              * what it missed (the "verify-assist" baseline); they join L */
  BM_STRATEGY_COUNT
} bm_strategy;
const char *bm_strategy_name(bm_strategy strategy); /* "topk-slscore", ... */
int bm_strategy_parse(const char *name, bm_strategy *out, bm_error *err);
/* Whether the batch must be detected and fused (0 for random and full; random-verify needs
 * the machine's boxes for people to verify). */
int bm_strategy_needs_detection(bm_strategy strategy);

/* HUMAN: real people review the batch (docs/REVIEW.md); bm_mine_apply then treats it like
 * VERIFY (everyone sees every image of B, the scores come from their answers) but charges
 * nobody: the loop charges each answer with bm_review_charge (adjusts, measured seconds). */
typedef enum bm_oracle_mode {
  BM_ORACLE_VERIFY = 0,
  BM_ORACLE_TRUST = 1,
  BM_ORACLE_HUMAN = 2
} bm_oracle_mode;
const char *bm_oracle_name(bm_oracle_mode mode);
int bm_oracle_parse(const char *name, bm_oracle_mode *out, bm_error *err);

enum { BM_UNCERTAINTY_MEAN_CERTAIN = 0, BM_UNCERTAINTY_LEAST_CONFIDENT = 1 };

typedef struct bm_mine_opts {
  bm_strategy strategy;  /* --strategy (topk-slscore) */
  bm_oracle_mode oracle; /* --oracle (verify) */
  int K;                 /* --K (400): batch size, and topk-alratio's set sizes */
  int train_from_labeled; /* images of L sampled into each round's training set; -1 = K
                             (full: -1 = all of L) */
  float al_lo, al_hi;    /* --al-lo 0.3, --al-hi 0.6 (topk-alratio-thre) */
  float sl_lo, sl_hi;    /* --sl-lo 0.3, --sl-hi 0.5 (topk-slscore) */
  int uncertainty;       /* BM_UNCERTAINTY_* (uncertainty baseline) */
  int candidates;        /* uncertainty baseline: images of U scored per round, 0 = all */
  int eval_update;       /* --eval-update N (0 = off) */
} bm_mine_opts;
void bm_mine_opts_default(bm_mine_opts *opts);
/* Rejects contradictory options (e.g. trust mode with a strategy that has no image-level
 * certain/uncertain split, al_lo > al_hi). */
int bm_mine_opts_check(const bm_mine_opts *opts, bm_error *err);

/* What a round decided. All lists hold dataset indices. */
typedef struct bm_round_plan {
  int round;
  bm_index_list batch;           /* B as taken (Q first, then U) */
  bm_index_list joined_labeled;  /* joined L this round */
  bm_index_list train_mined;     /* trained this round with their mined/pseudo annotation */
  bm_index_list train_labeled;   /* sampled from L (disjoint from train_mined) */
  bm_index_list requeued;        /* put at the back of Q */
  bm_index_list returned;        /* put back at the end of U */
  bm_index_list pseudo;          /* trust mode: pseudo-labelled (subset of train_mined) */
  bm_index_list to_eval;         /* moved to E_new */
  bm_index_list spent;           /* v1: set aside after training */
  bm_index_list charged;         /* images people looked at this round */
  long sl_images, al_images;     /* the strategy's certain side / uncertain side */
  long sl_boxes, al_boxes;       /* machine / human boxes in the annotations used */
  double mean_sl_score;          /* over the scored images of B (estimates in trust mode) */
  double mean_al_ratio;
  long pseudo_boxes;   /* trust mode: pseudo-labels made this round */
  long pseudo_correct; /* ... of which the oracle would accept */
  long pseudo_gt;      /* non-difficult objects in the pseudo-labelled images */
} bm_round_plan;
void bm_round_plan_free(bm_round_plan *plan);
/* The full training list of the round: train_mined then train_labeled (allocated). */
int bm_round_plan_train_list(const bm_round_plan *plan, bm_index_list *out);

/* Starts round st->round + 1: discards the previous round's pseudo-labels, then takes the
 * batch out of Q and U into plan->batch:
 *   v1 .. topk-slscore: Q first, then the front of U, at most K images;
 *   random: K images from the front of U;  full: all of U;
 *   uncertainty: the first `candidates` images of U (all when 0), to be scored.
 * An empty batch means the pool is exhausted. */
int bm_mine_take_batch(bm_mine_state *st, const bm_mine_opts *opts, bm_round_plan *plan,
                       bm_error *err);
/* Applies the strategy to the fused batch: results[i] belongs to plan->batch.items[i] (for
 * random and full, bm_fusion_run with no detections). Charges the ledger, moves images
 * between pools, stores annotations, samples L for training and fills the plan's numbers. */
int bm_mine_apply(bm_mine_state *st, const bm_mine_opts *opts,
                  const bm_fusion_result *results, bm_round_plan *plan, bm_error *err);
/* Oracle human: images of the current batch that people did not answer go back to the front
 * of Q in the given order (the next round detects them again, with a newer model). Call it
 * before bm_mine_apply, with a plan whose batch holds only the answered images. */
int bm_mine_requeue_front(bm_mine_state *st, const int *images, int n, bm_error *err);
/* Which side of a threshold strategy (topk-alratio-thre, topk-slscore; any other strategy is
 * read as topk-alratio-thre) a fused image falls on, as bm_mine_apply decides it: by the
 * oracle's sl_score / al_ratio in verify mode, by the machine-only estimates in trust mode. */
enum { BM_SIDE_UNCERTAIN = -1, BM_SIDE_BETWEEN = 0, BM_SIDE_CERTAIN = 1 };
int bm_mine_side(const bm_mine_opts *opts, const bm_fusion_result *res);
/* U and Q are both empty. Never true in trust mode once an image was pseudo-labelled (it
 * returns to U): such a loop stops by early stop or a round limit. */
int bm_mine_exhausted(const bm_mine_state *st);
/* Images of U that were never detected (fresh). */
int bm_mine_fresh_images(const bm_mine_state *st);

/* ---- assessing a model on a labelled split (boxmine assess) ------------------------------ */
/* Totals of one mining pass over fused images, in both oracle modes at once: the images are
 * put on the sides of a threshold strategy as bm_mine_apply would (bm_mine_side) and people
 * are charged with the ledger's functions as it charges them. Sides are indexed by
 * BM_SIDE_* + 1: [0] uncertain, [1] between, [2] certain. */
typedef struct bm_assess {
  bm_mine_opts opts; /* the strategy (topk-slscore or topk-alratio-thre) and its thresholds */
  long images;
  long objects; /* non-difficult ground-truth objects */
  /* trust mode (machine-only estimates): certain images are pseudo-labelled, uncertain ones
   * go to people (reviewed), the ones between are left alone */
  long trust_images[3];
  long trust_objects[3]; /* non-difficult objects of those images */
  long pseudo_boxes;     /* pseudo-labels of the certain images */
  long pseudo_correct;   /* ... that the oracle accepts (IoU >= gt_iou, same class) */
  bm_ledger trust;       /* people's work on the uncertain images */
  /* verify mode (the oracle's scores): every image is reviewed */
  long verify_images[3];
  long sl_objects;     /* objects claimed by accepted machine boxes */
  long al_objects;     /* objects people draw */
  long rejected_boxes; /* certain boxes the oracle rejects (still verified) */
  bm_ledger verify;
  bm_ledger full; /* drawing every object from scratch (the random / full baselines) */
} bm_assess;
/* n_images: images are dataset indices 0 .. n_images-1. */
int bm_assess_init(bm_assess *a, int n_images, const bm_mine_opts *opts, const bm_costs *costs,
                   bm_error *err);
void bm_assess_free(bm_assess *a);
/* Adds one fused image (charged in its round). */
int bm_assess_add(bm_assess *a, const bm_fusion_result *res, bm_error *err);
/* Appends the settings and totals as JSON object members, without the braces:
 * "strategy":..,"images":..,"objects":..,"trust":{..},"verify":{..},"full_cost":{..}.
 * Precision and recall with nothing to divide by are null. */
void bm_assess_json(const bm_assess *a, bm_buf *out);

/* ---- one rounds.jsonl record (spec section 8) --------------------------------------------- */
/* Numbers that are unknown or do not apply are NaN (written as null); counts -1 (null). */
typedef struct bm_round_record {
  int round;
  int phase; /* 1: training on L, 2: mining rounds */
  long labeled_images, unlabeled_images, queued_images, batch_images;
  long sl_images, al_images, sl_boxes, al_boxes;
  double mean_sl_score, mean_al_ratio;
  long human_draws, human_verifies, human_images; /* cumulative */
  long human_adjusts;                             /* cumulative (real review rounds) */
  double human_seconds;          /* cumulative, the cost model's estimate */
  double human_measured_seconds; /* cumulative measured seconds; NaN when nothing measured */
  long human_measured_images;    /* images whose time was measured (cumulative) */
  double pseudo_precision, pseudo_recall;         /* trust mode */
  double ap50, ap75, ap_coco;
  char ap_metric[16]; /* which AP the early stop watches: "ap50", "ap75" or "ap_coco" */
  double ap_shift;
  double train_loss, lr;
  double seconds; /* wall-clock seconds spent on the round */
} bm_round_record;
void bm_round_record_init(bm_round_record *rec);
/* Fills pool sizes, the plan's numbers and the ledger's cumulative totals (plan may be NULL
 * for a phase-1 record). */
void bm_round_record_fill(bm_round_record *rec, const bm_mine_state *st,
                          const bm_round_plan *plan);
/* Appends the record as one JSON object and a newline. */
void bm_round_record_json(const bm_round_record *rec, bm_buf *out);

/* ---- summary.json ---------------------------------------------------------------------- */
typedef struct bm_run_summary {
  const char *strategy;     /* bm_strategy_name */
  const char *oracle;       /* bm_oracle_name */
  uint64_t seed;
  const char *command_line; /* as typed, for the record */
  const char *stop_reason;  /* e.g. "pool exhausted", "AP shift below 0.001"; may be NULL */
  int rounds;               /* mining rounds run */
  int best_round;           /* the true best round (its checkpoint is kept), -1 if none */
  double best_ap;           /* its AP, in [0, 1] */
  char ap_metric[16];       /* which AP: "ap50", "ap75" or "ap_coco" */
  bm_costs costs;
  bm_round_record final;    /* the last round's record */
} bm_run_summary;
/* Appends summary.json's text (one JSON object and a newline). */
void bm_run_summary_json(const bm_run_summary *summary, bm_buf *out);

/* ---- reading runs back, and the HTML report -------------------------------------------- */
typedef struct bm_run_log {
  char *dir;          /* the run folder */
  char *name;         /* legend label: folder name, plus strategy and oracle when known */
  int has_summary;    /* summary.json was found and read */
  char *strategy;     /* from summary.json, or NULL */
  char *oracle;
  char *command_line;
  char *stop_reason;
  long long seed;     /* -1 when unknown */
  int best_round;     /* from summary.json, else the round with the highest AP; -1 if none */
  double best_ap;     /* NaN if none */
  char ap_metric[16];
  bm_costs costs;     /* from summary.json, else the defaults */
  int n_rounds;
  bm_round_record *rounds; /* in file order */
} bm_run_log;

/* Reads one rounds.jsonl object back; missing and null fields stay as bm_round_record_init
 * sets them. Fails on a field of the wrong type, naming it with its line and column. */
int bm_round_record_parse(const bm_json *object, bm_round_record *rec, bm_error *err);
/* Reads DIR/rounds.jsonl (required) and DIR/summary.json (optional: a warning when it is
 * missing, e.g. for a run still going). An incomplete last line (a run killed while writing
 * it) is skipped with a warning; any other bad line is an error naming file and line. */
int bm_run_log_load(const char *dir, bm_run_log *run, bm_log *log, bm_error *err);
void bm_run_log_free(bm_run_log *run);
/* Writes the whole self-contained HTML page (inline CSS and SVG, no external files). */
int bm_report_html(const bm_run_log *runs, int n_runs, const char *title, bm_buf *out,
                   bm_error *err);

#ifdef __cplusplus
}
#endif
#endif
