/* Strategies (asm-spec section 5) on hand-made pools: batches (Q first, then U in seeded
 * order), where each image goes, what people are charged, disjointness of topk-alratio's
 * sets, thresholds, trust-mode pseudo-labels, eval-update, reproducibility from the seed,
 * and the checkpoint form of the whole state. Fusion results are made by hand: each image
 * gets the scores written in its test, so the expected placements follow from the rules. */
#include <math.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "testlib.h"

#define N_IMAGES 40

/* What fusion "found" on one image. */
typedef struct fake {
  float sl, al;         /* oracle scores (verify mode) */
  float sl_est, al_est; /* machine-only estimates (trust mode) */
  float unc_mean, unc_least;
  int n_gt;       /* non-difficult objects */
  int n_accepted; /* accepted certain boxes (<= n_gt) */
  int n_rejected; /* rejected certain boxes */
} fake;

static bm_object gt_objects[8]; /* every image has the first n_gt of these */

static void make_result(bm_fusion_result *r, int image, int round, const fake *f) {
  memset(r, 0, sizeof *r);
  r->image = image;
  r->round = round;
  r->gt = gt_objects;
  r->n_gt_objects = f->n_gt;
  r->n_boxes = f->n_accepted + f->n_rejected;
  r->boxes = bm_calloc((size_t)(r->n_boxes + 1), sizeof *r->boxes);
  for (int b = 0; b < r->n_boxes; b++) {
    r->boxes[b].role = BM_BOX_CERTAIN;
    r->boxes[b].score = 0.9f;
    r->boxes[b].x2 = r->boxes[b].y2 = 10;
    r->boxes[b].verdict = b < f->n_accepted ? BM_VERDICT_ACCEPTED : BM_VERDICT_REJECTED;
    r->boxes[b].gt_index = b < f->n_accepted ? b : -1;
  }
  r->n_sa = f->n_gt;
  r->sa = bm_calloc((size_t)(f->n_gt + 1), sizeof *r->sa);
  for (int g = 0; g < f->n_gt; g++) {
    r->sa[g].object = gt_objects[g];
    r->sa[g].source = g < f->n_accepted ? BM_SOURCE_MACHINE : BM_SOURCE_HUMAN;
    r->sa[g].round = round;
  }
  r->n_certain = r->n_boxes;
  r->n_accepted = f->n_accepted;
  r->n_rejected = f->n_rejected;
  r->n_gt = f->n_gt;
  r->n_al = f->n_gt - f->n_accepted;
  r->sl_score = f->sl;
  r->al_ratio = f->al;
  r->sl_score_est = f->sl_est;
  r->al_ratio_est = f->al_est;
  r->uncertainty_mean = f->unc_mean;
  r->uncertainty_least = f->unc_least;
}

/* Takes a batch, "fuses" each image with facts[image], applies the strategy. */
static int run_round(bm_mine_state *st, const bm_mine_opts *opts, const fake *facts,
                     bm_round_plan *plan) {
  bm_error err = {{0}};
  if (bm_mine_take_batch(st, opts, plan, &err) != 0) {
    CHECK_MSG(0, "take_batch: %s", err.msg);
    return -1;
  }
  int n = plan->batch.n;
  bm_fusion_result *results = bm_calloc((size_t)(n + 1), sizeof *results);
  for (int i = 0; i < n; i++)
    make_result(&results[i], plan->batch.items[i], plan->round, &facts[plan->batch.items[i]]);
  int rc = bm_mine_apply(st, opts, results, plan, &err);
  CHECK_MSG(rc == 0, "apply: %s", err.msg);
  for (int i = 0; i < n; i++) bm_fusion_result_free(&results[i]);
  bm_free(results);
  CHECK_MSG(bm_mine_state_check(st, &err) == 0, "state check: %s", err.msg);
  return rc;
}

static int list_is(const bm_index_list *list, const int *expected, int n) {
  if (list->n != n) return 0;
  for (int i = 0; i < n; i++)
    if (list->items[i] != expected[i]) return 0;
  return 1;
}

static int contains(const bm_index_list *list, int image) {
  return bm_index_list_find(list, image) >= 0;
}

static void init_state(bm_mine_state *st, int n_pool, int n_initial, uint64_t seed) {
  int pool[N_IMAGES];
  for (int i = 0; i < n_pool; i++) pool[i] = i;
  bm_error err = {{0}};
  CHECK_MSG(bm_mine_state_init(st, N_IMAGES, pool, n_pool, n_initial, seed, NULL, &err) == 0,
            "init: %s", err.msg);
}

static fake plain(float sl, float al) {
  fake f = {sl, al, sl, al, 0.5f, 0.5f, 2, 1, 0};
  return f;
}

static void test_init_split(void) {
  bm_mine_state a, b, c;
  init_state(&a, 20, 5, 11);
  init_state(&b, 20, 5, 11);
  init_state(&c, 20, 5, 12);
  CHECK(a.labeled.n == 5 && a.unlabeled.n == 15 && a.queue.n == 0);
  int seen[N_IMAGES] = {0};
  for (int i = 0; i < a.labeled.n; i++) seen[a.labeled.items[i]]++;
  for (int i = 0; i < a.unlabeled.n; i++) seen[a.unlabeled.items[i]]++;
  for (int i = 0; i < 20; i++) CHECK(seen[i] == 1);
  for (int i = 20; i < N_IMAGES; i++) CHECK(seen[i] == 0 && a.images[i].pool == BM_POOL_NONE);
  CHECK(a.images[a.labeled.items[0]].annotation == BM_ANN_GROUND_TRUTH);
  /* same seed, same split and order; another seed, another order */
  CHECK(list_is(&b.labeled, a.labeled.items, 5) && list_is(&b.unlabeled, a.unlabeled.items, 15));
  CHECK(!list_is(&c.unlabeled, a.unlabeled.items, 15));
  bm_error err;
  int dup[] = {1, 2, 2};
  bm_mine_state d;
  CHECK(bm_mine_state_init(&d, 5, dup, 3, 1, 1, NULL, &err) == -1);
  CHECK(bm_mine_state_init(&d, 5, dup, 2, 3, 1, NULL, &err) == -1); /* 3 initial of 2 */
  bm_mine_state_free(&a);
  bm_mine_state_free(&b);
  bm_mine_state_free(&c);
}

static void test_opts_check(void) {
  bm_mine_opts o;
  bm_error err;
  bm_mine_opts_default(&o);
  CHECK(o.strategy == BM_STRATEGY_TOPK_SLSCORE && o.K == 400);
  CHECK(bm_mine_opts_check(&o, &err) == 0);
  o.oracle = BM_ORACLE_TRUST;
  CHECK(bm_mine_opts_check(&o, &err) == 0);
  o.strategy = BM_STRATEGY_V1;
  CHECK(bm_mine_opts_check(&o, &err) == -1 && strstr(err.msg, "trust"));
  o.strategy = BM_STRATEGY_TOPK_ALRATIO;
  CHECK(bm_mine_opts_check(&o, &err) == -1);
  bm_mine_opts_default(&o);
  o.al_lo = 0.7f; /* above al_hi 0.6 */
  CHECK(bm_mine_opts_check(&o, &err) == -1 && strstr(err.msg, "al-lo"));
  bm_mine_opts_default(&o);
  o.K = 0;
  CHECK(bm_mine_opts_check(&o, &err) == -1);
  bm_strategy s;
  CHECK(bm_strategy_parse("topk-alratio-thre", &s, &err) == 0 &&
        s == BM_STRATEGY_TOPK_ALRATIO_THRE);
  CHECK(bm_strategy_parse("topk", &s, &err) == -1);
  for (int k = 0; k < BM_STRATEGY_COUNT; k++)
    CHECK(bm_strategy_parse(bm_strategy_name((bm_strategy)k), &s, &err) == 0 && (int)s == k);
  bm_oracle_mode m;
  CHECK(bm_oracle_parse("trust", &m, &err) == 0 && m == BM_ORACLE_TRUST);
  CHECK(bm_oracle_parse("blind", &m, &err) == -1);
}

/* topk-slscore, verify mode, K = 4. Pool 0..9, 2 initial; u[] is U's seeded order. People
 * review every image of the batch once (machine boxes verified, missed objects drawn), so
 * every reviewed image joins L whatever side it falls on: nothing is re-queued or returned
 * (the reference re-queued uncertain images and threw away the in-between ones, so people
 * reviewed the same images round after round: docs/RESULTS.md, "Verify mode"). Uncertain
 * images are also trained in the round that reviewed them. */
static void test_slscore_verify_reviews_once(void) {
  bm_mine_state st;
  init_state(&st, 10, 2, 5);
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.K = 4;
  int l[2], u[8];
  memcpy(l, st.labeled.items, sizeof l);
  memcpy(u, st.unlabeled.items, sizeof u);
  fake facts[N_IMAGES];
  for (int i = 0; i < N_IMAGES; i++) facts[i] = plain(0.9f, 0.1f);
  /* round 1: u0 0.9 >= 0.5 certain; u1 0.1 <= 0.3 uncertain; u2 0.4 in between; u3 0.3
   * exactly (<= 0.3) uncertain */
  facts[u[0]].sl = 0.9f;
  facts[u[1]].sl = 0.1f;
  facts[u[2]].sl = 0.4f;
  facts[u[3]].sl = 0.3f;
  bm_round_plan p = {0};
  if (run_round(&st, &o, facts, &p) != 0) return;
  CHECK(p.round == 1 && st.round == 1);
  int b1[] = {u[0], u[1], u[2], u[3]};
  CHECK(list_is(&p.batch, b1, 4));
  int trained1[] = {u[1], u[3]};
  CHECK(list_is(&p.joined_labeled, b1, 4));
  CHECK(p.requeued.n == 0 && st.queue.n == 0 && p.returned.n == 0);
  CHECK(list_is(&p.train_mined, trained1, 2));
  /* L \ trained = {l0, l1, u0, u2}: K = 4 of them */
  CHECK(p.train_labeled.n == 4 && contains(&p.train_labeled, l[0]) &&
        contains(&p.train_labeled, l[1]) && contains(&p.train_labeled, u[0]) &&
        contains(&p.train_labeled, u[2]));
  int u_after1[] = {u[4], u[5], u[6], u[7]};
  CHECK(list_is(&st.unlabeled, u_after1, 4));
  CHECK(p.sl_images == 1 && p.al_images == 2);
  CHECK(p.charged.n == 4 && st.ledger.total.images == 4);
  /* each fake image: 2 objects, 1 accepted -> 1 verify + 1 draw per image */
  CHECK(st.ledger.total.verifies == 4 && st.ledger.total.draws == 4);
  /* every reviewed image keeps its boxes: 4 machine + 4 human */
  CHECK(p.sl_boxes == 4 && p.al_boxes == 4);
  CHECK_NEAR(p.mean_sl_score, (0.9 + 0.1 + 0.4 + 0.3) / 4, 1e-6);
  for (int k = 0; k < 4; k++) CHECK(st.images[u[k]].annotation == BM_ANN_MINED);

  /* round 2: the queue is empty, so the front of U; again every image joins L */
  facts[u[4]].sl = 0.5f;  /* exactly sl_hi: certain */
  facts[u[5]].sl = 0.31f; /* just above sl_lo: in between */
  facts[u[6]].sl = 0.2f;  /* uncertain */
  facts[u[7]].sl = 0.9f;
  if (run_round(&st, &o, facts, &p) != 0) return;
  CHECK(list_is(&p.batch, u_after1, 4));
  CHECK(list_is(&p.joined_labeled, u_after1, 4));
  int trained2[] = {u[6]};
  CHECK(list_is(&p.train_mined, trained2, 1));
  CHECK(st.labeled.n == 10 && st.unlabeled.n == 0 && st.queue.n == 0);
  CHECK(bm_mine_exhausted(&st));
  CHECK(st.images[u[1]].times_detected == 1 && st.images[u[4]].times_detected == 1);
  CHECK(st.ledger.total.images == 8); /* each image reviewed exactly once */
  CHECK(bm_ledger_round(&st.ledger, 2).images == 4);

  /* round 3: nothing new: K images of L */
  if (run_round(&st, &o, facts, &p) != 0) return;
  CHECK(p.batch.n == 0 && p.train_labeled.n == 4);
  CHECK(st.ledger.total.images == 8);
  bm_round_plan_free(&p);
  bm_mine_state_free(&st);
}

static void test_alratio_thre_boundaries(void) {
  bm_mine_state st;
  init_state(&st, 6, 1, 3);
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.strategy = BM_STRATEGY_TOPK_ALRATIO_THRE;
  o.K = 3;
  int u[5];
  memcpy(u, st.unlabeled.items, sizeof u);
  fake facts[N_IMAGES];
  for (int i = 0; i < N_IMAGES; i++) facts[i] = plain(0.5f, 0.5f);
  facts[u[0]].al = 0.3f;  /* <= al_lo 0.3: certain */
  facts[u[1]].al = 0.6f;  /* >= al_hi 0.6: uncertain, trained this round */
  facts[u[2]].al = 0.45f; /* in between */
  bm_round_plan p = {0};
  if (run_round(&st, &o, facts, &p) != 0) return;
  int j[] = {u[0], u[1], u[2]}, q[] = {u[1]};
  CHECK(list_is(&p.joined_labeled, j, 3)); /* verify mode: reviewed once, all join L */
  CHECK(p.requeued.n == 0 && list_is(&p.train_mined, q, 1));
  CHECK(p.returned.n == 0);
  CHECK(p.sl_images == 1 && p.al_images == 1);
  CHECK(st.ledger.total.images == 3);
  bm_round_plan_free(&p);
  bm_mine_state_free(&st);
}

/* topk-alratio, K = 3: D grows, the lowest al_ratios join L, the highest are trained; the
 * two sets never overlap and nobody joins L twice. */
static void test_topk_alratio_disjoint(void) {
  bm_mine_state st;
  init_state(&st, 12, 2, 9);
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.strategy = BM_STRATEGY_TOPK_ALRATIO;
  o.K = 3;
  int u[10];
  memcpy(u, st.unlabeled.items, sizeof u);
  fake facts[N_IMAGES];
  for (int i = 0; i < N_IMAGES; i++) facts[i] = plain(0.5f, 0.5f);
  float al[9] = {0.1f, 0.5f, 0.9f, 0.0f, 0.7f, 0.2f, 0.3f, 0.3f, 1.0f};
  for (int i = 0; i < 9; i++) facts[u[i]].al = al[i];
  bm_round_plan p = {0};
  /* round 1: D = {u0 .1, u1 .5, u2 .9}; |D| = 3 < 2K = 6: floor(3/2) = 1 lowest -> L (u0),
   * the other 2 trained, highest first (u2, u1) */
  if (run_round(&st, &o, facts, &p) != 0) return;
  int j1[] = {u[0]}, t1[] = {u[2], u[1]};
  CHECK(list_is(&p.joined_labeled, j1, 1));
  CHECK(list_is(&p.train_mined, t1, 2));
  CHECK(st.detected.n == 2);
  CHECK(p.sl_images == 1 && p.al_images == 2);
  /* round 2: D = {u1 .5, u2 .9, u3 0, u4 .7, u5 .2}; |D| = 5 < 6: 2 lowest -> L (u3, u5);
   * 3 highest trained (u2 .9, u4 .7, u1 .5) */
  if (run_round(&st, &o, facts, &p) != 0) return;
  int j2[] = {u[3], u[5]}, t2[] = {u[2], u[4], u[1]};
  CHECK(list_is(&p.joined_labeled, j2, 2));
  CHECK(list_is(&p.train_mined, t2, 3));
  /* round 3: D = {u1 .5, u2 .9, u4 .7, u6 .3, u7 .3, u8 1}; |D| = 6 = 2K: K lowest -> L
   * (u6 and u7 tie at .3, then u1 .5); K highest trained (u8, u2, u4) */
  if (run_round(&st, &o, facts, &p) != 0) return;
  CHECK(p.joined_labeled.n == 3 && contains(&p.joined_labeled, u[6]) &&
        contains(&p.joined_labeled, u[7]) && p.joined_labeled.items[2] == u[1]);
  int t3[] = {u[8], u[2], u[4]};
  CHECK(list_is(&p.train_mined, t3, 3));
  for (int i = 0; i < p.joined_labeled.n; i++)
    CHECK(!contains(&p.train_mined, p.joined_labeled.items[i]));
  for (int i = 0; i < p.train_labeled.n; i++)
    CHECK(!contains(&p.train_mined, p.train_labeled.items[i]));
  CHECK(st.labeled.n == 2 + 1 + 2 + 3);
  CHECK(st.detected.n == 3);
  /* every image charged exactly once (when first detected), never again when trained */
  CHECK(st.ledger.total.images == 9);
  bm_round_plan_free(&p);
  bm_mine_state_free(&st);
}

static void test_v1_and_v1plus(void) {
  for (int plus = 0; plus < 2; plus++) {
    bm_mine_state st;
    init_state(&st, 8, 3, 21);
    bm_mine_opts o;
    bm_mine_opts_default(&o);
    o.strategy = plus ? BM_STRATEGY_V1PLUS : BM_STRATEGY_V1;
    o.K = 2;
    int l[3], u[5];
    memcpy(l, st.labeled.items, sizeof l);
    memcpy(u, st.unlabeled.items, sizeof u);
    fake facts[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++) facts[i] = plain(0.5f, 0.5f);
    facts[u[0]].n_accepted = 2; /* all objects found by the machine: an SL image */
    bm_round_plan p = {0};
    if (run_round(&st, &o, facts, &p) != 0) return;
    int b[] = {u[0], u[1]};
    CHECK(list_is(&p.train_mined, b, 2));
    CHECK(p.train_labeled.n == 2); /* K images of L, none of them from B */
    CHECK(!contains(&p.train_labeled, u[0]) && !contains(&p.train_labeled, u[1]));
    CHECK(p.sl_images == 1 && p.al_images == 1);
    CHECK(st.ledger.total.images == 2);
    if (!plus) {
      CHECK(list_is(&st.labeled, l, 3)); /* L unchanged */
      CHECK(list_is(&p.spent, b, 2) && st.images[u[0]].pool == BM_POOL_SPENT);
    } else {
      CHECK(st.labeled.n == 5 && list_is(&p.joined_labeled, b, 2));
    }
    bm_round_plan_free(&p);
    bm_mine_state_free(&st);
  }
}

/* random-verify: random order as random, but people verify the machine's boxes and draw
 * only what it missed; every image joins L and is trained. */
static void test_random_verify(void) {
  bm_mine_state st;
  init_state(&st, 10, 2, 4);
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.strategy = BM_STRATEGY_RANDOM_VERIFY;
  o.K = 3;
  CHECK(bm_strategy_needs_detection(o.strategy));
  int u[8];
  memcpy(u, st.unlabeled.items, sizeof u);
  fake facts[N_IMAGES];
  for (int i = 0; i < N_IMAGES; i++) facts[i] = plain(0.2f, 0.5f); /* sides do not matter */
  bm_round_plan p = {0};
  if (run_round(&st, &o, facts, &p) != 0) return;
  int b[] = {u[0], u[1], u[2]};
  CHECK(list_is(&p.batch, b, 3) && list_is(&p.joined_labeled, b, 3));
  CHECK(list_is(&p.train_mined, b, 3));
  CHECK(p.requeued.n == 0 && p.returned.n == 0);
  /* each fake image: 2 objects, 1 accepted -> 1 open, 1 verify, 1 draw */
  CHECK(st.ledger.total.images == 3 && st.ledger.total.verifies == 3 &&
        st.ledger.total.draws == 3);
  CHECK(p.sl_boxes == 3 && p.al_boxes == 3);
  int u_after[] = {u[3], u[4], u[5], u[6], u[7]};
  CHECK(list_is(&st.unlabeled, u_after, 5));
  bm_round_plan_free(&p);
  bm_mine_state_free(&st);
}

static void test_random_and_full(void) {
  bm_mine_state st;
  init_state(&st, 10, 2, 4);
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.strategy = BM_STRATEGY_RANDOM;
  o.K = 3;
  int u[8];
  memcpy(u, st.unlabeled.items, sizeof u);
  fake facts[N_IMAGES];
  for (int i = 0; i < N_IMAGES; i++) facts[i] = plain(0.0f, 1.0f);
  facts[u[0]].n_gt = 3;
  facts[u[1]].n_gt = 1;
  facts[u[2]].n_gt = 0;
  bm_round_plan p = {0};
  if (run_round(&st, &o, facts, &p) != 0) return;
  int b[] = {u[0], u[1], u[2]};
  CHECK(list_is(&p.batch, b, 3) && list_is(&p.joined_labeled, b, 3));
  CHECK(list_is(&p.train_mined, b, 3));
  /* fully drawn: 3 opens, 3 + 1 + 0 draws, no verifies */
  CHECK(st.ledger.total.images == 3 && st.ledger.total.draws == 4 &&
        st.ledger.total.verifies == 0);
  CHECK(p.al_boxes == 4 && p.sl_boxes == 0 && p.al_images == 3);
  CHECK(isnan(p.mean_sl_score)); /* random does not score images */
  CHECK(st.images[u[0]].n_boxes == 3 && st.images[u[0]].boxes[0].source == BM_SOURCE_HUMAN);
  /* full: all of the rest at once; training uses all of L */
  o.strategy = BM_STRATEGY_FULL;
  if (run_round(&st, &o, facts, &p) != 0) return;
  CHECK(p.batch.n == 5 && st.labeled.n == 10 && bm_mine_exhausted(&st));
  CHECK(p.train_mined.n == 5 && p.train_labeled.n == 5); /* 2 initial + 3 from round 1 */
  /* with train_from_labeled set, full samples that many images of L like the others: U is
   * empty now, so the batch is empty and 4 of the 10 images of L are trained */
  o.train_from_labeled = 4;
  if (run_round(&st, &o, facts, &p) != 0) return;
  CHECK(p.batch.n == 0 && p.train_mined.n == 0 && p.train_labeled.n == 4);
  int distinct = 1;
  for (int i = 0; i < p.train_labeled.n; i++)
    for (int j = 0; j < i; j++) distinct &= p.train_labeled.items[i] != p.train_labeled.items[j];
  CHECK(distinct);
  o.train_from_labeled = -1; /* default: all of L again */
  if (run_round(&st, &o, facts, &p) != 0) return;
  CHECK(p.train_labeled.n == 10);
  bm_round_plan_free(&p);
  bm_mine_state_free(&st);
}

static void test_uncertainty(void) {
  for (int least = 0; least < 2; least++) {
    bm_mine_state st;
    init_state(&st, 7, 2, 8);
    bm_mine_opts o;
    bm_mine_opts_default(&o);
    o.strategy = BM_STRATEGY_UNCERTAINTY;
    o.uncertainty = least ? BM_UNCERTAINTY_LEAST_CONFIDENT : BM_UNCERTAINTY_MEAN_CERTAIN;
    o.K = 2;
    int u[5];
    memcpy(u, st.unlabeled.items, sizeof u);
    fake facts[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++) facts[i] = plain(0.5f, 0.5f);
    /* mean-certain uncertainty: u1 and u3 tie at .9 (most uncertain), batch order decides;
     * least-confident: u4 .95 and u0 .8 are the top two */
    float mean[5] = {0.2f, 0.9f, 0.5f, 0.9f, 0.1f};
    float lowest[5] = {0.8f, 0.1f, 0.2f, 0.3f, 0.95f};
    for (int i = 0; i < 5; i++) {
      facts[u[i]].unc_mean = mean[i];
      facts[u[i]].unc_least = lowest[i];
    }
    bm_round_plan p = {0};
    if (run_round(&st, &o, facts, &p) != 0) return;
    CHECK(p.batch.n == 5); /* all of U scored */
    if (!least) {
      int j[] = {u[1], u[3]}, r[] = {u[0], u[2], u[4]};
      CHECK(list_is(&p.joined_labeled, j, 2));
      CHECK(list_is(&p.returned, r, 3) && list_is(&st.unlabeled, r, 3));
    } else {
      int j[] = {u[0], u[4]}, r[] = {u[1], u[2], u[3]};
      CHECK(list_is(&p.joined_labeled, j, 2));
      CHECK(list_is(&st.unlabeled, r, 3));
    }
    /* only the chosen two are seen by people, and drawn fully (2 objects each) */
    CHECK(p.charged.n == 2 && st.ledger.total.images == 2 && st.ledger.total.draws == 4);
    bm_round_plan_free(&p);
    bm_mine_state_free(&st);
  }
}

static void test_trust_mode(void) {
  bm_mine_state st;
  init_state(&st, 8, 2, 13);
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.oracle = BM_ORACLE_TRUST;
  o.K = 3;
  int u[6];
  memcpy(u, st.unlabeled.items, sizeof u);
  fake facts[N_IMAGES];
  for (int i = 0; i < N_IMAGES; i++) facts[i] = plain(0.5f, 0.5f);
  /* The oracle scores say the opposite of the estimates: selection must use estimates. */
  facts[u[0]] = (fake){0.0f, 1.0f, 0.8f, 0.2f, 0.5f, 0.5f, 3, 1, 1}; /* sl' .8 -> pseudo */
  facts[u[1]] = (fake){1.0f, 0.0f, 0.1f, 0.9f, 0.5f, 0.5f, 2, 1, 0}; /* sl' .1 -> people */
  facts[u[2]] = (fake){1.0f, 0.0f, 0.4f, 0.5f, 0.5f, 0.5f, 2, 1, 0}; /* between -> U */
  bm_round_plan p = {0};
  if (run_round(&st, &o, facts, &p) != 0) return;
  int pseudo[] = {u[0]}, joined[] = {u[1]}, trained[] = {u[0], u[1]};
  CHECK(list_is(&p.pseudo, pseudo, 1));
  CHECK(list_is(&p.joined_labeled, joined, 1));
  CHECK(list_is(&p.train_mined, trained, 2));
  int back[] = {u[3], u[4], u[5], u[0], u[2]};
  CHECK(list_is(&st.unlabeled, back, 5)); /* pseudo-labelled images are not kept in L */
  /* only u1 was seen by people: 1 open, 1 verify (1 accepted box), 1 draw */
  CHECK(p.charged.n == 1 && p.charged.items[0] == u[1]);
  CHECK(st.ledger.total.images == 1 && st.ledger.total.verifies == 1 &&
        st.ledger.total.draws == 1);
  /* u0's pseudo-labels: its 2 certain boxes; the oracle would accept 1 of them and the
   * image has 3 objects -> precision 1/2, recall 1/3 (reported only) */
  CHECK(st.images[u[0]].annotation == BM_ANN_PSEUDO && st.images[u[0]].n_boxes == 2);
  CHECK(p.pseudo_boxes == 2 && p.pseudo_correct == 1 && p.pseudo_gt == 3);
  bm_round_record rec;
  bm_round_record_init(&rec);
  bm_round_record_fill(&rec, &st, &p);
  CHECK_NEAR(rec.pseudo_precision, 0.5, 1e-12);
  CHECK_NEAR(rec.pseudo_recall, 1.0 / 3.0, 1e-12);
  /* the means are of the estimates: sl' (.8 + .1 + .4) / 3, al' (.2 + .9 + .5) / 3 */
  CHECK_NEAR(p.mean_sl_score, 1.3 / 3, 1e-6);
  CHECK_NEAR(p.mean_al_ratio, 1.6 / 3, 1e-6);
  /* the training objects of u0 are the pseudo-labels; of an initial image, its gt */
  bm_object *objects;
  int n_objects;
  bm_error err;
  CHECK(bm_mine_annotation_objects(&st, u[0], NULL, 0, &objects, &n_objects, &err) == 0);
  CHECK(n_objects == 2);
  bm_free(objects);
  CHECK(bm_mine_annotation_objects(&st, st.labeled.items[0], gt_objects, 4, &objects,
                                   &n_objects, &err) == 0);
  CHECK(n_objects == 4 && objects && objects[3].x1 == gt_objects[3].x1);
  bm_free(objects);
  CHECK(bm_mine_annotation_objects(&st, u[3], NULL, 0, &objects, &n_objects, &err) == -1);
  /* the next batch discards the pseudo-labels */
  bm_round_plan next = {0};
  CHECK(bm_mine_take_batch(&st, &o, &next, &err) == 0);
  CHECK(st.images[u[0]].annotation == BM_ANN_NONE && st.images[u[0]].n_boxes == 0);
  bm_round_plan_free(&next);
  bm_round_plan_free(&p);
  bm_mine_state_free(&st);

  /* topk-alratio-thre in trust mode: al' .2 <= .3 -> pseudo; al' .7 >= .6 -> people */
  init_state(&st, 4, 1, 2);
  o.strategy = BM_STRATEGY_TOPK_ALRATIO_THRE;
  memcpy(u, st.unlabeled.items, 3 * sizeof *u);
  facts[u[0]] = (fake){0.5f, 0.9f, 0.5f, 0.2f, 0.5f, 0.5f, 1, 1, 0};
  facts[u[1]] = (fake){0.5f, 0.1f, 0.5f, 0.7f, 0.5f, 0.5f, 1, 1, 0};
  facts[u[2]] = (fake){0.5f, 0.0f, 0.5f, 0.5f, 0.5f, 0.5f, 1, 1, 0};
  if (run_round(&st, &o, facts, &p) != 0) return;
  CHECK(p.pseudo.n == 1 && p.pseudo.items[0] == u[0]);
  CHECK(p.joined_labeled.n == 1 && p.joined_labeled.items[0] == u[1]);
  CHECK(p.returned.n == 2 && st.ledger.total.images == 1);
  bm_round_plan_free(&p);
  bm_mine_state_free(&st);
}

static void test_eval_update(void) {
  bm_mine_state st;
  init_state(&st, 10, 2, 6);
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.strategy = BM_STRATEGY_RANDOM;
  o.K = 3;
  o.eval_update = 1;
  fake facts[N_IMAGES];
  for (int i = 0; i < N_IMAGES; i++) facts[i] = plain(0.0f, 1.0f);
  bm_round_plan p = {0};
  if (run_round(&st, &o, facts, &p) != 0) return;
  CHECK(p.to_eval.n == 1 && st.eval_new.n == 1);
  int moved = p.to_eval.items[0];
  CHECK(contains(&p.batch, moved));
  CHECK(!contains(&p.joined_labeled, moved) && !contains(&st.labeled, moved));
  CHECK(!contains(&p.train_mined, moved) && !contains(&p.train_labeled, moved));
  CHECK(st.images[moved].pool == BM_POOL_EVAL);
  CHECK(p.joined_labeled.n == 2 && st.labeled.n == 4);
  /* people still drew it: 3 images charged */
  CHECK(st.ledger.total.images == 3);
  bm_round_plan_free(&p);
  bm_mine_state_free(&st);
}

/* Same seed, same results -> the same batches, placements and L samples, round after round;
 * and a state saved after round 2 and loaded continues exactly like the original. */
static void test_reproducible_and_resume(void) {
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.K = 3;
  fake facts[N_IMAGES];
  for (int i = 0; i < N_IMAGES; i++)
    facts[i] = plain((float)((i * 7) % 10) / 10.0f, 0.5f); /* sl 0, .7, .4, .1, .8, ... */
  bm_mine_state a, b;
  init_state(&a, 30, 4, 77);
  init_state(&b, 30, 4, 77);
  bm_round_plan pa = {0}, pb = {0};
  for (int r = 0; r < 2; r++) {
    if (run_round(&a, &o, facts, &pa) != 0 || run_round(&b, &o, facts, &pb) != 0) return;
    CHECK(list_is(&pb.batch, pa.batch.items, pa.batch.n));
    CHECK(list_is(&pb.train_labeled, pa.train_labeled.items, pa.train_labeled.n));
  }
  bm_buf blob;
  bm_buf_init(&blob);
  bm_mine_state_save(&a, &blob);
  bm_mine_state c;
  bm_error err = {{0}};
  CHECK_MSG(bm_mine_state_load(&c, blob.data, blob.len, &err) == 0, "load: %s", err.msg);
  CHECK(c.round == a.round && c.rng.state == a.rng.state && c.rng.inc == a.rng.inc);
  CHECK(list_is(&c.labeled, a.labeled.items, a.labeled.n));
  CHECK(list_is(&c.unlabeled, a.unlabeled.items, a.unlabeled.n));
  CHECK(list_is(&c.queue, a.queue.items, a.queue.n));
  CHECK(c.ledger.total.images == a.ledger.total.images && c.ledger.n_entries == a.ledger.n_entries);
  int same_records = 1;
  for (int i = 0; i < N_IMAGES; i++) {
    const bm_mine_image *x = &a.images[i], *y = &c.images[i];
    same_records &= x->pool == y->pool && x->annotation == y->annotation &&
                    x->round == y->round && x->sl_score == y->sl_score &&
                    x->n_boxes == y->n_boxes && x->times_detected == y->times_detected;
    for (int k = 0; same_records && k < x->n_boxes; k++)
      same_records &= x->boxes[k].source == y->boxes[k].source &&
                      x->boxes[k].object.x2 == y->boxes[k].object.x2;
  }
  CHECK(same_records);
  bm_round_plan pc = {0};
  if (run_round(&a, &o, facts, &pa) != 0 || run_round(&c, &o, facts, &pc) != 0) return;
  CHECK(list_is(&pc.batch, pa.batch.items, pa.batch.n));
  CHECK(list_is(&pc.joined_labeled, pa.joined_labeled.items, pa.joined_labeled.n));
  CHECK(list_is(&pc.train_labeled, pa.train_labeled.items, pa.train_labeled.n));
  CHECK(pa.train_labeled.n == 3);
  /* corrupt and truncated checkpoints are refused */
  blob.data[blob.len / 2] ^= 1;
  bm_mine_state d;
  CHECK(bm_mine_state_load(&d, blob.data, blob.len, &err) == -1 && strstr(err.msg, "checksum"));
  blob.data[blob.len / 2] ^= 1;
  CHECK(bm_mine_state_load(&d, blob.data, blob.len - 1, &err) == -1);
  CHECK(bm_mine_state_load(&d, "BMMINE01", 8, &err) == -1);
  bm_buf_free(&blob);
  bm_round_plan_free(&pa);
  bm_round_plan_free(&pb);
  bm_round_plan_free(&pc);
  bm_mine_state_free(&a);
  bm_mine_state_free(&b);
  bm_mine_state_free(&c);
}

static void test_apply_checks(void) {
  bm_mine_state st;
  init_state(&st, 6, 1, 1);
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.K = 2;
  bm_round_plan p = {0};
  bm_error err;
  CHECK(bm_mine_take_batch(&st, &o, &p, &err) == 0);
  /* results in the wrong order are refused */
  fake f = plain(0.9f, 0.1f);
  bm_fusion_result results[2];
  make_result(&results[0], p.batch.items[1], 1, &f);
  make_result(&results[1], p.batch.items[0], 1, &f);
  CHECK(bm_mine_apply(&st, &o, results, &p, &err) == -1 && strstr(err.msg, "result 0"));
  /* taking another batch before applying this one is refused */
  bm_round_plan q = {0};
  CHECK(bm_mine_take_batch(&st, &o, &q, &err) == -1 && strstr(err.msg, "never applied"));
  bm_fusion_result_free(&results[0]);
  bm_fusion_result_free(&results[1]);
  bm_round_plan_free(&p);
  bm_round_plan_free(&q);
  bm_mine_state_free(&st);
}

static void test_round_record_json(void) {
  bm_mine_state st;
  init_state(&st, 10, 2, 5);
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.K = 4;
  fake facts[N_IMAGES];
  for (int i = 0; i < N_IMAGES; i++) facts[i] = plain(0.9f, 0.1f);
  bm_round_plan p = {0};
  if (run_round(&st, &o, facts, &p) != 0) return;
  bm_round_record rec;
  bm_round_record_init(&rec);
  bm_round_record_fill(&rec, &st, &p);
  rec.ap50 = 0.625;
  rec.lr = 0.005;
  bm_buf out;
  bm_buf_init(&out);
  bm_round_record_json(&rec, &out);
  /* 4 images, all certain (sl .9 >= .5) -> L = 2 + 4; each 1 verify + 1 draw + 1 open:
   * seconds = 4 x (2 + 1.5 + 7) = 42 */
  CHECK(out.data && out.data[out.len - 1] == '\n' && !strchr(out.data, '\n')[1]);
  if (out.data) {
    const char *start = "{\"round\":1,\"phase\":2,\"labeled_images\":6,";
    CHECK(!strncmp(out.data, start, strlen(start)));
    CHECK(strstr(out.data, "\"human_seconds\":42,"));
    CHECK(strstr(out.data, "\"human_draws\":4,\"human_verifies\":4,\"human_images\":4"));
    CHECK(strstr(out.data, "\"sl_images\":4,\"al_images\":0"));
    CHECK(strstr(out.data, "\"pseudo_precision\":null"));
    CHECK(strstr(out.data, "\"ap50\":0.625,\"ap75\":null"));
    CHECK(strstr(out.data, "\"ap_metric\":\"ap50\""));
    CHECK(strstr(out.data, "\"lr\":0.005,"));
  }
  bm_buf_free(&out);
  bm_round_plan_free(&p);
  bm_mine_state_free(&st);
}


/* ---- a simulated loop: real fusion on synthetic detections, many rounds ----
 * 60 images with 0..4 objects (every fifth object difficult). A fake detector finds each
 * object with a probability that grows with the round (a model that improves): found
 * objects get a box shifted by 0..3 pixels with a certain or uncertain score; it also adds
 * some false boxes. Whatever it outputs, these must hold every round:
 *   verify mode: every batch image is charged one open; draws = sum of AL boxes; verifies =
 *     sum of surviving certain boxes (from the fusion results themselves);
 *   the pools partition the pool images; L never holds an image twice;
 *   every L image's annotation has one box per ground-truth object, and accepted machine
 *     boxes overlap their object by >= gt-iou. */
enum { SIM_IMAGES = 60 };
static bm_object sim_gt[SIM_IMAGES][4];
static int sim_n_gt[SIM_IMAGES];

static void sim_make_dataset(bm_rng *rng) {
  int object = 0;
  for (int i = 0; i < SIM_IMAGES; i++) {
    sim_n_gt[i] = (int)bm_rng_below(rng, 5);
    for (int g = 0; g < sim_n_gt[i]; g++, object++) {
      bm_object *o = &sim_gt[i][g];
      memset(o, 0, sizeof *o);
      o->class_id = (int)bm_rng_below(rng, 3);
      o->x1 = 1 + 120.0f * g;
      o->y1 = 1 + (float)bm_rng_below(rng, 50);
      o->x2 = o->x1 + 60 + (float)bm_rng_below(rng, 40);
      o->y2 = o->y1 + 60 + (float)bm_rng_below(rng, 40);
      o->difficult = object % 5 == 4;
    }
  }
}

static int sim_detect(bm_rng *rng, int image, int round, bm_detection *dets) {
  int n = 0;
  float p_found = 0.3f + 0.1f * (float)round;
  for (int g = 0; g < sim_n_gt[image]; g++) {
    if (bm_rng_uniform(rng) >= p_found) continue;
    const bm_object *o = &sim_gt[image][g];
    float shift = (float)bm_rng_below(rng, 4);
    float score = bm_rng_uniform(rng) < 0.7f ? bm_rng_range(rng, 0.8f, 1.0f)
                                             : bm_rng_range(rng, 0.3f, 0.8f);
    int class_id = bm_rng_uniform(rng) < 0.9f ? o->class_id : (o->class_id + 1) % 3;
    dets[n++] = (bm_detection){image, class_id, score, o->x1 + shift, o->y1, o->x2 + shift, o->y2};
  }
  if (bm_rng_uniform(rng) < 0.3f) /* a false box somewhere empty */
    dets[n++] = (bm_detection){image, 0, bm_rng_range(rng, 0.3f, 1.0f), 600, 300, 650, 350};
  return n;
}

static void sim_check_annotations(const bm_mine_state *st, const bm_fusion_opts *fopts) {
  int bad = 0;
  for (int i = 0; i < st->labeled.n; i++) {
    int image = st->labeled.items[i];
    const bm_mine_image *rec = &st->images[image];
    if (rec->annotation == BM_ANN_GROUND_TRUTH) continue;
    if (rec->annotation != BM_ANN_MINED || rec->n_boxes != sim_n_gt[image]) {
      bad++;
      continue;
    }
    for (int g = 0; g < rec->n_boxes; g++) {
      const bm_sa_box *box = &rec->boxes[g];
      const bm_object *o = &sim_gt[image][g];
      if (box->object.class_id != o->class_id || box->object.difficult != o->difficult) bad++;
      if (box->source == BM_SOURCE_MACHINE &&
          bm_iou_voc(box->object.x1, box->object.y1, box->object.x2, box->object.y2, o->x1,
                     o->y1, o->x2, o->y2) < fopts->gt_iou)
        bad++;
      if (box->source == BM_SOURCE_HUMAN && box->object.x1 != o->x1) bad++;
      if ((box->source == BM_SOURCE_DIFFICULT) != (o->difficult != 0)) bad++;
    }
  }
  CHECK_MSG(bad == 0, "%d bad annotation entries in L", bad);
}

static void sim_run(bm_mine_opts *o, const char *what, double *seconds_out) {
  bm_fusion_opts fopts;
  bm_fusion_opts_default(&fopts);
  bm_mine_state st;
  int pool[SIM_IMAGES];
  for (int i = 0; i < SIM_IMAGES; i++) pool[i] = i;
  bm_error err = {{0}};
  if (bm_mine_state_init(&st, SIM_IMAGES, pool, SIM_IMAGES, 10, 99, NULL, &err) != 0) {
    CHECK_MSG(0, "%s", err.msg);
    return;
  }
  bm_rng detector;
  bm_rng_seed(&detector, 5, 2);
  bm_round_plan plan = {0};
  int rounds = 0;
  while (!bm_mine_exhausted(&st) && rounds < 40) {
    rounds++;
    if (bm_mine_take_batch(&st, o, &plan, &err) != 0) break;
    int n = plan.batch.n;
    bm_fusion_result *res = bm_calloc((size_t)n + 1, sizeof *res);
    long expect_draws = 0, expect_verifies = 0;
    for (int i = 0; i < n; i++) {
      int image = plan.batch.items[i];
      bm_detection dets[8];
      int n_dets = bm_strategy_needs_detection(o->strategy) ? sim_detect(&detector, image, rounds, dets) : 0;
      CHECK(bm_fusion_run(&fopts, image, plan.round, dets, n_dets, sim_gt[image], sim_n_gt[image],
                          &res[i], &err) == 0);
      expect_draws += res[i].n_al;
      expect_verifies += res[i].n_certain;
    }
    CHECK_MSG(bm_mine_apply(&st, o, res, &plan, &err) == 0, "%s: %s", what, err.msg);
    bm_action_counts c = bm_ledger_round(&st.ledger, plan.round);
    if (o->oracle == BM_ORACLE_VERIFY && bm_strategy_needs_detection(o->strategy)) {
      CHECK_MSG(c.images == n && c.draws == expect_draws && c.verifies == expect_verifies,
                "%s round %d: charged %ld/%ld/%ld, expected %d/%ld/%ld", what, plan.round,
                c.images, c.draws, c.verifies, n, expect_draws, expect_verifies);
    } else {
      CHECK(c.images == plan.charged.n);
    }
    for (int i = 0; i < n; i++) bm_fusion_result_free(&res[i]);
    bm_free(res);
    CHECK_MSG(bm_mine_state_check(&st, &err) == 0, "%s: %s", what, err.msg);
    sim_check_annotations(&st, &fopts);
  }
  if (o->oracle == BM_ORACLE_VERIFY) {
    CHECK_MSG(bm_mine_exhausted(&st), "%s: pool not exhausted after %d rounds", what, rounds);
  } else {
    /* trust mode: pseudo-labelled images keep coming back to U, but after 40 rounds of 12
     * every image has been detected, and none of them entered L without people */
    CHECK(!bm_mine_exhausted(&st) && bm_mine_fresh_images(&st) == 0);
    long people_images = st.ledger.total.images;
    CHECK(st.labeled.n - 10 <= people_images);
  }
  *seconds_out = bm_ledger_seconds(&st.ledger);
  bm_round_plan_free(&plan);
  bm_mine_state_free(&st);
}

static void test_simulated_loop(void) {
  bm_rng rng;
  bm_rng_seed(&rng, 3, 0);
  sim_make_dataset(&rng);
  bm_mine_opts o;
  bm_mine_opts_default(&o);
  o.K = 12;
  double seconds_slscore, seconds_thre, seconds_full;
  sim_run(&o, "topk-slscore", &seconds_slscore);
  o.strategy = BM_STRATEGY_TOPK_ALRATIO_THRE;
  sim_run(&o, "topk-alratio-thre", &seconds_thre);
  o.strategy = BM_STRATEGY_TOPK_SLSCORE;
  o.oracle = BM_ORACLE_TRUST;
  double seconds_trust;
  sim_run(&o, "topk-slscore trust", &seconds_trust);
  o.oracle = BM_ORACLE_VERIFY;
  o.strategy = BM_STRATEGY_FULL;
  sim_run(&o, "full", &seconds_full);
  /* drawing all 50 unlabelled images from scratch costs 50 opens + 7 s per non-difficult
   * object, counted here independently from the ground truth */
  double expected_full = 0;
  bm_mine_state st;
  int pool[SIM_IMAGES];
  for (int i = 0; i < SIM_IMAGES; i++) pool[i] = i;
  bm_error err;
  CHECK(bm_mine_state_init(&st, SIM_IMAGES, pool, SIM_IMAGES, 10, 99, NULL, &err) == 0);
  for (int u = 0; u < st.unlabeled.n; u++) {
    int image = st.unlabeled.items[u];
    expected_full += 2.0;
    for (int g = 0; g < sim_n_gt[image]; g++) expected_full += sim_gt[image][g].difficult ? 0 : 7.0;
  }
  bm_mine_state_free(&st);
  CHECK_NEAR(seconds_full, expected_full, 1e-9);
  printf("simulated 50-image pool, human seconds: full %.1f, topk-slscore %.1f, "
         "topk-alratio-thre %.1f, topk-slscore trust %.1f\n",
         seconds_full, seconds_slscore, seconds_thre, seconds_trust);
}

int main(void) {
  for (int g = 0; g < 8; g++) {
    gt_objects[g].class_id = g % 3;
    gt_objects[g].x1 = 10.0f * g + 1;
    gt_objects[g].y1 = 1;
    gt_objects[g].x2 = 10.0f * g + 9;
    gt_objects[g].y2 = 9;
  }
  test_init_split();
  test_opts_check();
  test_slscore_verify_reviews_once();
  test_random_verify();
  test_alratio_thre_boundaries();
  test_topk_alratio_disjoint();
  test_v1_and_v1plus();
  test_random_and_full();
  test_uncertainty();
  test_trust_mode();
  test_eval_update();
  test_reproducible_and_resume();
  test_apply_checks();
  test_round_record_json();
  test_simulated_loop();
  return bm_test_finish("test_strategy");
}
