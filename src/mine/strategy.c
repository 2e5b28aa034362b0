/* Selection strategies (asm-spec section 5): taking a round's batch out of Q and U, and
 * deciding after fusion which images join L, which are trained this round, re-queued or
 * returned to U, and what people are charged for. docs/MINING.md has the rules as a table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_mine.h"

static const char *const strategy_names[BM_STRATEGY_COUNT] = {
    "v1", "v1plus", "topk-alratio", "topk-alratio-thre", "topk-slscore", "random",
    "uncertainty", "full", "random-verify"};

const char *bm_strategy_name(bm_strategy strategy) {
  return strategy >= 0 && strategy < BM_STRATEGY_COUNT ? strategy_names[strategy] : "unknown";
}

int bm_strategy_parse(const char *name, bm_strategy *out, bm_error *err) {
  for (int s = 0; s < BM_STRATEGY_COUNT; s++)
    if (!strcmp(name, strategy_names[s])) {
      *out = (bm_strategy)s;
      return 0;
    }
  return bm_fail(err, "unknown strategy '%s' (v1, v1plus, topk-alratio, topk-alratio-thre, "
                      "topk-slscore, random, uncertainty, full, random-verify)",
                 name);
}

int bm_strategy_needs_detection(bm_strategy strategy) {
  return strategy != BM_STRATEGY_RANDOM && strategy != BM_STRATEGY_FULL;
}

const char *bm_oracle_name(bm_oracle_mode mode) {
  return mode == BM_ORACLE_TRUST ? "trust" : mode == BM_ORACLE_HUMAN ? "human" : "verify";
}

int bm_oracle_parse(const char *name, bm_oracle_mode *out, bm_error *err) {
  if (!strcmp(name, "verify")) *out = BM_ORACLE_VERIFY;
  else if (!strcmp(name, "trust")) *out = BM_ORACLE_TRUST;
  else if (!strcmp(name, "human")) *out = BM_ORACLE_HUMAN;
  else return bm_fail(err, "unknown oracle mode '%s' (verify, trust, human)", name);
  return 0;
}

void bm_mine_opts_default(bm_mine_opts *opts) {
  opts->strategy = BM_STRATEGY_TOPK_SLSCORE;
  opts->oracle = BM_ORACLE_VERIFY;
  opts->K = 400;
  opts->train_from_labeled = -1;
  opts->al_lo = 0.3f;
  opts->al_hi = 0.6f;
  opts->sl_lo = 0.3f;
  opts->sl_hi = 0.5f;
  opts->uncertainty = BM_UNCERTAINTY_MEAN_CERTAIN;
  opts->candidates = 0;
  opts->eval_update = 0;
}

static int in_unit(float x) { return x >= 0 && x <= 1; }

int bm_mine_opts_check(const bm_mine_opts *opts, bm_error *err) {
  if (opts->strategy < 0 || opts->strategy >= BM_STRATEGY_COUNT)
    return bm_fail(err, "unknown strategy %d", (int)opts->strategy);
  if (opts->K < 1) return bm_fail(err, "--K must be >= 1 (got %d)", opts->K);
  if (opts->train_from_labeled < -1)
    return bm_fail(err, "images sampled from L per round must be >= 0 or -1 (= K)");
  if (!in_unit(opts->al_lo) || !in_unit(opts->al_hi) || !(opts->al_lo < opts->al_hi))
    return bm_fail(err, "need 0 <= --al-lo < --al-hi <= 1 (got %g and %g)", opts->al_lo,
                   opts->al_hi);
  if (!in_unit(opts->sl_lo) || !in_unit(opts->sl_hi) || !(opts->sl_lo < opts->sl_hi))
    return bm_fail(err, "need 0 <= --sl-lo < --sl-hi <= 1 (got %g and %g)", opts->sl_lo,
                   opts->sl_hi);
  if (opts->uncertainty != BM_UNCERTAINTY_MEAN_CERTAIN &&
      opts->uncertainty != BM_UNCERTAINTY_LEAST_CONFIDENT)
    return bm_fail(err, "unknown uncertainty measure %d", opts->uncertainty);
  if (opts->candidates < 0) return bm_fail(err, "candidates must be >= 0");
  if (opts->eval_update < 0) return bm_fail(err, "--eval-update must be >= 0");
  if (opts->oracle != BM_ORACLE_VERIFY && opts->oracle != BM_ORACLE_TRUST &&
      opts->oracle != BM_ORACLE_HUMAN)
    return bm_fail(err, "unknown oracle mode %d", (int)opts->oracle);
  /* People review machine boxes; the baselines that draw everything from scratch have none */
  if (opts->oracle == BM_ORACLE_HUMAN &&
      (opts->strategy == BM_STRATEGY_RANDOM || opts->strategy == BM_STRATEGY_FULL ||
       opts->strategy == BM_STRATEGY_UNCERTAINTY))
    return bm_fail(err, "--oracle human needs a strategy that fuses machine boxes (v1, v1plus, "
                        "random-verify, "
                        "topk-alratio, topk-alratio-thre, topk-slscore), not '%s'",
                   bm_strategy_name(opts->strategy));
  /* Trust mode gives an image pseudo-labels when the machine alone judges it certain; that
   * needs a strategy whose decision is per image and threshold-based. */
  if (opts->oracle == BM_ORACLE_TRUST &&
      (opts->strategy == BM_STRATEGY_V1 || opts->strategy == BM_STRATEGY_V1PLUS ||
       opts->strategy == BM_STRATEGY_TOPK_ALRATIO))
    return bm_fail(err, "--oracle trust needs a threshold strategy (topk-alratio-thre or "
                        "topk-slscore); '%s' has no image-level certain side",
                   bm_strategy_name(opts->strategy));
  return 0;
}

void bm_round_plan_free(bm_round_plan *plan) {
  bm_index_list *lists[] = {&plan->batch,    &plan->joined_labeled, &plan->train_mined,
                            &plan->train_labeled, &plan->requeued, &plan->returned,
                            &plan->pseudo,   &plan->to_eval,        &plan->spent,
                            &plan->charged};
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) bm_index_list_free(lists[i]);
  memset(plan, 0, sizeof *plan);
}

int bm_round_plan_train_list(const bm_round_plan *plan, bm_index_list *out) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < plan->train_mined.n; i++)
    if (bm_index_list_push(out, plan->train_mined.items[i]) != 0) goto oom;
  for (int i = 0; i < plan->train_labeled.n; i++)
    if (bm_index_list_push(out, plan->train_labeled.items[i]) != 0) goto oom;
  return 0;
oom:
  bm_index_list_free(out);
  return -1;
}

/* ---- small state operations ---- */
static int push(bm_index_list *list, int image, bm_error *err) {
  return bm_index_list_push(list, image) == 0 ? 0 : bm_fail(err, "mining: out of memory");
}

/* Removes the first n items of a list, keeping the order of the rest. */
static void drop_front(bm_index_list *list, int n) {
  if (n == 0) return; /* the list may have no storage yet */
  memmove(list->items, list->items + n, (size_t)(list->n - n) * sizeof *list->items);
  list->n -= n;
}

static void remove_value(bm_index_list *list, int value) {
  int at = bm_index_list_find(list, value);
  if (at < 0) return;
  memmove(list->items + at, list->items + at + 1, (size_t)(list->n - at - 1) * sizeof *list->items);
  list->n--;
}

static void forget_annotation(bm_mine_image *rec) {
  bm_free(rec->boxes);
  rec->boxes = NULL;
  rec->n_boxes = 0;
  rec->annotation = BM_ANN_NONE;
}

static void store_boxes(bm_mine_image *rec, bm_sa_box *boxes, int n_boxes, int annotation,
                        int round) {
  bm_free(rec->boxes);
  rec->boxes = boxes;
  rec->n_boxes = n_boxes;
  rec->annotation = (uint8_t)annotation;
  rec->round = round;
}

static int store_sa(bm_mine_state *st, const bm_fusion_result *res, int round, bm_error *err) {
  bm_sa_box *copy = NULL;
  if (res->n_sa > 0) {
    copy = bm_malloc((size_t)res->n_sa * sizeof *copy);
    if (!copy) return bm_fail(err, "mining: out of memory");
    memcpy(copy, res->sa, (size_t)res->n_sa * sizeof *copy);
  }
  store_boxes(&st->images[res->image], copy, res->n_sa, BM_ANN_MINED, round);
  return 0;
}

static int store_full_draw(bm_mine_state *st, const bm_fusion_result *res, int round,
                           bm_error *err) {
  bm_sa_box *boxes;
  if (bm_annotation_from_gt(res->gt, res->n_gt_objects, round, &boxes, err) != 0) return -1;
  store_boxes(&st->images[res->image], boxes, res->n_gt_objects, BM_ANN_MINED, round);
  return 0;
}

static int store_pseudo(bm_mine_state *st, const bm_fusion_result *res, int round,
                        bm_error *err) {
  bm_sa_box *boxes;
  int n_boxes;
  if (bm_fusion_pseudo_labels(res, &boxes, &n_boxes, err) != 0) return -1;
  store_boxes(&st->images[res->image], boxes, n_boxes, BM_ANN_PSEUDO, round);
  return 0;
}

/* Puts an image that is out of every list (in the batch, or just removed from D) into a
 * pool, and notes it in the plan. */
static int place(bm_mine_state *st, bm_round_plan *plan, int image, int pool, bm_error *err) {
  bm_mine_image *rec = &st->images[image];
  if (rec->pool == BM_POOL_LABELED)
    return bm_fail(err, "mining: image %d is already in L", image); /* never twice */
  rec->pool = (uint8_t)pool;
  switch (pool) {
    case BM_POOL_LABELED:
      return push(&st->labeled, image, err) || push(&plan->joined_labeled, image, err);
    case BM_POOL_QUEUED:
      return push(&st->queue, image, err) || push(&plan->requeued, image, err);
    case BM_POOL_DETECTED: return push(&st->detected, image, err);
    case BM_POOL_SPENT: return push(&plan->spent, image, err);
    case BM_POOL_UNLABELED:
      /* a returning image's labels are thrown away; pseudo-labels live until the next
       * batch is taken, because this round trains on them */
      if (rec->annotation == BM_ANN_MINED) forget_annotation(rec);
      return push(&st->unlabeled, image, err) || push(&plan->returned, image, err);
    default: return bm_fail(err, "mining: cannot place image %d in pool %d", image, pool);
  }
}

int bm_mine_requeue_front(bm_mine_state *st, const int *images, int n, bm_error *err) {
  for (int i = 0; i < n; i++) {
    if (images[i] < 0 || images[i] >= st->n_images || st->images[images[i]].pool != BM_POOL_BATCH)
      return bm_fail(err, "mining: image %d is not in the current batch", images[i]);
    for (int j = 0; j < i; j++)
      if (images[j] == images[i]) return bm_fail(err, "mining: image %d given twice", images[i]);
  }
  if (n == 0) return 0; /* everything answered (Q may have no storage yet) */
  bm_index_list *q = &st->queue;
  for (int i = 0; i < n; i++)
    if (push(q, -1, err) != 0) return -1; /* room for n more */
  memmove(q->items + n, q->items, (size_t)(q->n - n) * sizeof *q->items);
  for (int i = 0; i < n; i++) {
    q->items[i] = images[i];
    st->images[images[i]].pool = BM_POOL_QUEUED;
  }
  return 0;
}

/* Counts machine-made and human-drawn boxes of an annotation the round keeps. */
static void count_boxes(bm_round_plan *plan, const bm_mine_image *rec) {
  for (int b = 0; b < rec->n_boxes; b++) {
    int source = rec->boxes[b].source;
    if (source == BM_SOURCE_MACHINE || source == BM_SOURCE_PSEUDO) plan->sl_boxes++;
    else if (source == BM_SOURCE_HUMAN) plan->al_boxes++;
  }
}

/* ---- taking the batch ---- */
static void discard_pseudo_labels(bm_mine_state *st) {
  for (int i = 0; i < st->n_images; i++)
    if (st->images[i].annotation == BM_ANN_PSEUDO) forget_annotation(&st->images[i]);
}

static int take_front(bm_mine_state *st, bm_index_list *from, int n, bm_round_plan *plan,
                      bm_error *err) {
  if (n > from->n) n = from->n;
  for (int i = 0; i < n; i++) {
    int image = from->items[i];
    st->images[image].pool = BM_POOL_BATCH;
    if (push(&plan->batch, image, err) != 0) return -1;
  }
  drop_front(from, n);
  return 0;
}

int bm_mine_take_batch(bm_mine_state *st, const bm_mine_opts *opts, bm_round_plan *plan,
                       bm_error *err) {
  bm_round_plan_free(plan);
  if (bm_mine_opts_check(opts, err) != 0) return -1;
  for (int i = 0; i < st->n_images; i++)
    if (st->images[i].pool == BM_POOL_BATCH)
      return bm_fail(err, "mining: round %d's batch was never applied", st->round);
  discard_pseudo_labels(st);
  st->round++;
  plan->round = st->round;
  int rc;
  switch (opts->strategy) {
    case BM_STRATEGY_RANDOM:
    case BM_STRATEGY_RANDOM_VERIFY: rc = take_front(st, &st->unlabeled, opts->K, plan, err); break;
    case BM_STRATEGY_FULL:
      rc = take_front(st, &st->queue, st->queue.n, plan, err) ||
           take_front(st, &st->unlabeled, st->unlabeled.n, plan, err);
      break;
    case BM_STRATEGY_UNCERTAINTY:
      rc = take_front(st, &st->unlabeled,
                      opts->candidates > 0 ? opts->candidates : st->unlabeled.n, plan, err);
      break;
    default:
      rc = take_front(st, &st->queue, opts->K, plan, err) ||
           take_front(st, &st->unlabeled, opts->K - plan->batch.n, plan, err);
  }
  return rc == 0 ? 0 : -1;
}

/* ---- per strategy decisions; each returns 0 or -1 ---- */
typedef struct round_ctx {
  bm_mine_state *st;
  const bm_mine_opts *opts;
  const bm_fusion_result *results; /* parallel to plan->batch */
  bm_round_plan *plan;
  int round;
} round_ctx;

/* A person reviews the image (verify machine boxes, draw the rest); its SA annotation is
 * kept. */
static int review(round_ctx *c, const bm_fusion_result *res, bm_error *err) {
  /* real people (oracle human) are charged by the caller from their answers */
  if ((c->opts->oracle != BM_ORACLE_HUMAN &&
       bm_ledger_charge_review(&c->st->ledger, res, c->round, err) != 0) ||
      push(&c->plan->charged, res->image, err) != 0)
    return -1;
  return store_sa(c->st, res, c->round, err);
}

/* A person draws every object of the image from scratch. */
static int draw_all(round_ctx *c, const bm_fusion_result *res, bm_error *err) {
  if (bm_ledger_charge_full_draw(&c->st->ledger, res->image, res->gt, res->n_gt_objects,
                                 c->round, err) != 0 ||
      push(&c->plan->charged, res->image, err) != 0)
    return -1;
  return store_full_draw(c->st, res, c->round, err);
}

static int train(round_ctx *c, int image, bm_error *err) {
  count_boxes(c->plan, &c->st->images[image]);
  return push(&c->plan->train_mined, image, err);
}

/* v1 / v1plus: every image of B is reviewed and trained; v1 sets it aside afterwards,
 * v1plus adds it to L. */
static int apply_v1(round_ctx *c, int joins_labeled, bm_error *err) {
  for (int i = 0; i < c->plan->batch.n; i++) {
    const bm_fusion_result *res = &c->results[i];
    if (review(c, res, err) != 0 || train(c, res->image, err) != 0 ||
        place(c->st, c->plan, res->image, joins_labeled ? BM_POOL_LABELED : BM_POOL_SPENT, err))
      return -1;
    if (res->n_al == 0) c->plan->sl_images++;
    else c->plan->al_images++;
  }
  return 0;
}

/* Sorting D by al_ratio, ties by image index so the order is total. */
typedef struct ranked {
  float key;
  int image;
} ranked;

static int compare_ranked(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->image > y->image) - (x->image < y->image);
}

/* topk-alratio: every image of B is reviewed and joins the store D with its SA annotation.
 * Over all of D, the lowest al_ratios join L and the highest are trained this round. The
 * two sets are disjoint: with |D| >= 2K they have K images each; with fewer, D is split in
 * two, floor(|D|/2) lowest to L and the rest trained. An image leaves D when it joins L, so
 * it can never join L twice. */
static int apply_topk_alratio(round_ctx *c, bm_error *err) {
  bm_mine_state *st = c->st;
  for (int i = 0; i < c->plan->batch.n; i++) {
    const bm_fusion_result *res = &c->results[i];
    if (review(c, res, err) != 0) return -1;
    count_boxes(c->plan, &st->images[res->image]);
    if (place(st, c->plan, res->image, BM_POOL_DETECTED, err) != 0) return -1;
  }
  int n = st->detected.n;
  if (n == 0) return 0;
  ranked *order = bm_malloc((size_t)n * sizeof *order);
  if (!order) return bm_fail(err, "mining: out of memory");
  for (int i = 0; i < n; i++) {
    int image = st->detected.items[i];
    order[i].key = st->images[image].al_ratio;
    order[i].image = image;
  }
  qsort(order, (size_t)n, sizeof *order, compare_ranked);
  int K = c->opts->K;
  int n_low = n >= 2 * K ? K : n / 2;
  int n_high = n >= 2 * K ? K : n - n_low;
  int rc = 0;
  for (int i = 0; i < n_low && rc == 0; i++) {
    remove_value(&st->detected, order[i].image);
    st->images[order[i].image].pool = BM_POOL_BATCH; /* out of D, about to be placed */
    rc = place(st, c->plan, order[i].image, BM_POOL_LABELED, err);
  }
  for (int i = n - 1; i >= n - n_high && rc == 0; i--)
    rc = push(&c->plan->train_mined, order[i].image, err);
  c->plan->sl_images = n_low;
  c->plan->al_images = n_high;
  bm_free(order);
  return rc;
}

int bm_mine_side(const bm_mine_opts *opts, const bm_fusion_result *res) {
  int trust = opts->oracle == BM_ORACLE_TRUST;
  float sl = trust ? res->sl_score_est : res->sl_score;
  float al = trust ? res->al_ratio_est : res->al_ratio;
  int by_sl = opts->strategy == BM_STRATEGY_TOPK_SLSCORE;
  if (by_sl ? sl >= opts->sl_hi : al <= opts->al_lo) return BM_SIDE_CERTAIN;
  if (by_sl ? sl <= opts->sl_lo : al >= opts->al_hi) return BM_SIDE_UNCERTAIN;
  return BM_SIDE_BETWEEN;
}

/* topk-alratio-thre and topk-slscore. `certain` / `uncertain` tell which side an image
 * falls on; in between, it goes back to U.
 *   verify: every image is reviewed once and joins L; uncertain ones are also trained this
 *           round. (The reference re-queued uncertain images in Q and returned the
 *           in-between ones to U, so people reviewed them again: not done here.)
 *   trust:  certain images get the machine's certain boxes as pseudo-labels with no human
 *           look, are trained this round and go back to U (used for this round only);
 *           uncertain images go to people, are trained this round and join L. */
static int apply_threshold(round_ctx *c, bm_error *err) {
  const bm_mine_opts *opts = c->opts;
  int trust = opts->oracle == BM_ORACLE_TRUST;
  for (int i = 0; i < c->plan->batch.n; i++) {
    const bm_fusion_result *res = &c->results[i];
    int image = res->image;
    int side = bm_mine_side(opts, res);
    int certain = side == BM_SIDE_CERTAIN, uncertain = side == BM_SIDE_UNCERTAIN;
    int rc;
    if (!trust) {
      /* people have reviewed the image: its annotation is complete, so it joins L whatever
       * its side (reviewed once; the reference re-queued uncertain images and dropped the
       * in-between ones, and people reviewed them again: docs/MINING.md) */
      if (review(c, res, err) != 0) return -1;
      if (uncertain) {
        rc = train(c, image, err) || place(c->st, c->plan, image, BM_POOL_LABELED, err);
      } else {
        count_boxes(c->plan, &c->st->images[image]);
        rc = place(c->st, c->plan, image, BM_POOL_LABELED, err);
      }
    } else if (certain) {
      c->plan->pseudo_boxes += res->n_certain;
      c->plan->pseudo_correct += res->n_accepted; /* reported only, never used */
      c->plan->pseudo_gt += res->n_gt;
      rc = store_pseudo(c->st, res, c->round, err) || train(c, image, err) ||
           push(&c->plan->pseudo, image, err) ||
           place(c->st, c->plan, image, BM_POOL_UNLABELED, err);
    } else if (uncertain) {
      rc = review(c, res, err) || train(c, image, err) ||
           place(c->st, c->plan, image, BM_POOL_LABELED, err);
    } else {
      rc = place(c->st, c->plan, image, BM_POOL_UNLABELED, err);
    }
    if (rc != 0) return -1;
    c->plan->sl_images += certain;
    c->plan->al_images += uncertain;
  }
  return 0;
}

/* random and full: every image of B is drawn by people; random-verify (verify = 1): every
 * image of B is reviewed (machine boxes verified, missed objects drawn), random selection
 * with the machine's help. Each joins L and is trained. */
static int apply_all(round_ctx *c, int verify, bm_error *err) {
  for (int i = 0; i < c->plan->batch.n; i++) {
    const bm_fusion_result *res = &c->results[i];
    if ((verify ? review(c, res, err) : draw_all(c, res, err)) != 0 ||
        train(c, res->image, err) != 0 ||
        place(c->st, c->plan, res->image, BM_POOL_LABELED, err) != 0)
      return -1;
    if (verify && res->n_al == 0) c->plan->sl_images++;
    else c->plan->al_images++;
  }
  return 0;
}

/* uncertainty: the K most uncertain candidates are drawn by people and join L; the other
 * candidates go back to the end of U in their order. */
static int apply_uncertainty(round_ctx *c, bm_error *err) {
  int n = c->plan->batch.n;
  if (n == 0) return 0;
  ranked *order = bm_malloc((size_t)n * sizeof *order);
  unsigned char *chosen = bm_calloc((size_t)n, 1);
  if (!order || !chosen) {
    bm_free(order);
    bm_free(chosen);
    return bm_fail(err, "mining: out of memory");
  }
  for (int i = 0; i < n; i++) {
    const bm_fusion_result *res = &c->results[i];
    float u = c->opts->uncertainty == BM_UNCERTAINTY_LEAST_CONFIDENT ? res->uncertainty_least
                                                                      : res->uncertainty_mean;
    order[i].key = -u; /* ascending sort of -u: most uncertain first */
    order[i].image = i; /* position in the batch; positions follow batch order on ties */
  }
  qsort(order, (size_t)n, sizeof *order, compare_ranked);
  for (int i = 0; i < n && i < c->opts->K; i++) chosen[order[i].image] = 1;
  int rc = 0;
  for (int i = 0; i < n && rc == 0; i++) {
    const bm_fusion_result *res = &c->results[i];
    if (chosen[i]) {
      rc = draw_all(c, res, err) || train(c, res->image, err) ||
           place(c->st, c->plan, res->image, BM_POOL_LABELED, err);
      c->plan->al_images++;
    } else {
      rc = place(c->st, c->plan, res->image, BM_POOL_UNLABELED, err);
    }
  }
  bm_free(order);
  bm_free(chosen);
  return rc;
}

/* --eval-update: up to N of the images that joined L this round (all fully checked by
 * people) move to E_new instead, and are not trained on. */
static int move_to_eval(round_ctx *c, bm_error *err) {
  bm_round_plan *plan = c->plan;
  bm_mine_state *st = c->st;
  int n = c->opts->eval_update < plan->joined_labeled.n ? c->opts->eval_update
                                                        : plan->joined_labeled.n;
  for (int k = 0; k < n; k++) {
    int at = (int)bm_rng_below(&st->rng, (uint32_t)plan->joined_labeled.n);
    int image = plan->joined_labeled.items[at];
    remove_value(&plan->joined_labeled, image);
    remove_value(&st->labeled, image);
    remove_value(&plan->train_mined, image);
    st->images[image].pool = BM_POOL_EVAL;
    if (push(&st->eval_new, image, err) != 0 || push(&plan->to_eval, image, err) != 0) return -1;
  }
  return 0;
}

/* The rest of the training set: images of L not already trained as mined images, a seeded
 * sample of train_from_labeled (K by default), or for the full baseline all of L unless
 * train_from_labeled was set (then full trains on as many images per round as the others,
 * which makes it the upper bound at equal training compute). */
static int sample_labeled(round_ctx *c, bm_error *err) {
  bm_mine_state *st = c->st;
  bm_index_list pick = {0, 0, NULL};
  for (int i = 0; i < st->labeled.n; i++) {
    int image = st->labeled.items[i];
    if (bm_index_list_find(&c->plan->train_mined, image) >= 0) continue;
    if (push(&pick, image, err) != 0) {
      bm_index_list_free(&pick);
      return -1;
    }
  }
  int want = c->opts->train_from_labeled >= 0 ? c->opts->train_from_labeled : c->opts->K;
  if ((c->opts->strategy == BM_STRATEGY_FULL && c->opts->train_from_labeled < 0) || want > pick.n)
    want = pick.n;
  /* partial Fisher-Yates: the first `want` positions become a uniform sample */
  if (want < pick.n)
    for (int i = 0; i < want; i++) {
      int j = i + (int)bm_rng_below(&st->rng, (uint32_t)(pick.n - i));
      int tmp = pick.items[i];
      pick.items[i] = pick.items[j];
      pick.items[j] = tmp;
    }
  int rc = 0;
  for (int i = 0; i < want && rc == 0; i++) rc = push(&c->plan->train_labeled, pick.items[i], err);
  bm_index_list_free(&pick);
  return rc;
}

static void mean_scores(round_ctx *c) {
  bm_round_plan *plan = c->plan;
  plan->mean_sl_score = NAN;
  plan->mean_al_ratio = NAN;
  if (!bm_strategy_needs_detection(c->opts->strategy) || plan->batch.n == 0) return;
  int trust = c->opts->oracle == BM_ORACLE_TRUST;
  double sl = 0, al = 0;
  for (int i = 0; i < plan->batch.n; i++) {
    sl += trust ? c->results[i].sl_score_est : c->results[i].sl_score;
    al += trust ? c->results[i].al_ratio_est : c->results[i].al_ratio;
  }
  plan->mean_sl_score = sl / plan->batch.n;
  plan->mean_al_ratio = al / plan->batch.n;
}

int bm_mine_apply(bm_mine_state *st, const bm_mine_opts *opts,
                  const bm_fusion_result *results, bm_round_plan *plan, bm_error *err) {
  if (bm_mine_opts_check(opts, err) != 0) return -1;
  if (plan->round != st->round)
    return bm_fail(err, "mining: plan of round %d applied to state at round %d", plan->round,
                   st->round);
  int trust = opts->oracle == BM_ORACLE_TRUST;
  for (int i = 0; i < plan->batch.n; i++) {
    int image = plan->batch.items[i];
    if (!results || results[i].image != image)
      return bm_fail(err, "mining: result %d is for image %d, batch has image %d", i,
                     results ? results[i].image : -1, image);
    if (st->images[image].pool != BM_POOL_BATCH)
      return bm_fail(err, "mining: image %d is not in the current batch", image);
    bm_mine_image *rec = &st->images[image];
    if (bm_strategy_needs_detection(opts->strategy)) rec->times_detected++;
    rec->sl_score = trust ? results[i].sl_score_est : results[i].sl_score;
    rec->al_ratio = trust ? results[i].al_ratio_est : results[i].al_ratio;
  }
  round_ctx c = {st, opts, results, plan, st->round};
  int rc;
  switch (opts->strategy) {
    case BM_STRATEGY_V1: rc = apply_v1(&c, 0, err); break;
    case BM_STRATEGY_V1PLUS: rc = apply_v1(&c, 1, err); break;
    case BM_STRATEGY_TOPK_ALRATIO: rc = apply_topk_alratio(&c, err); break;
    case BM_STRATEGY_TOPK_ALRATIO_THRE:
    case BM_STRATEGY_TOPK_SLSCORE: rc = apply_threshold(&c, err); break;
    case BM_STRATEGY_UNCERTAINTY: rc = apply_uncertainty(&c, err); break;
    case BM_STRATEGY_RANDOM_VERIFY: rc = apply_all(&c, 1, err); break;
    default: rc = apply_all(&c, 0, err); break;
  }
  if (rc == 0) rc = move_to_eval(&c, err);
  if (rc == 0) rc = sample_labeled(&c, err);
  if (rc != 0) return bm_fail_prefix(err, "round %d (state is inconsistent now)", st->round);
  mean_scores(&c);
  return 0;
}
