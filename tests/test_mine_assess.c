/* The assess accumulator (bm_assess) on five hand-made images fused as one batch with
 * bm_fusion_run_images, with the default thresholds (certain 0.8, uncertain 0.3, gt IoU 0.8,
 * sl-hi 0.5, sl-lo 0.3) and costs (draw 7 s, verify 1.5 s, image open 2 s). Every expected
 * number is worked out in the comments; boxes use VOC pixel coordinates, so (1,1,100,100) is
 * 100 x 100 px.
 *
 *   image 0  gt c0 A (1,1,100,100), c1 B (201,1,300,100); c0 0.9 on A, c1 0.85 on B.
 *            Both certain and accepted (IoU 1). sl' = 1.75/2 = 0.875, sl = 1.75/2 = 0.875:
 *            certain in both modes. Review: 1 open + 2 verifies = 5 s; draw all: 2 + 14 = 16 s.
 *   image 1  gt c0 (1,1,100,100); c0 0.9 at (1,1,100,60): IoU 6000/10000 = 0.6 < 0.8, rejected.
 *            sl' = 0.9 -> trust: certain (a wrong pseudo-label); sl = 0/1 = 0 -> verify:
 *            uncertain. Review: 1 open + 1 verify + 1 draw = 10.5 s; draw all: 9 s.
 *   image 2  gt c0 (1,1,100,100), c0 difficult (201,1,300,100); c0 0.5 on the first (uncertain).
 *            n' = 1, sl' = 0 -> people; sl = 0 -> uncertain. n = 1 (difficult left out).
 *            Review: 1 open + 1 draw = 9 s; draw all: 2 + 7 = 9 s.
 *   image 3  gt c0 F (1,1,100,100), c1 G (201,1,300,100); c0 0.8 on F (certain, accepted),
 *            c1 0.4 on G (uncertain; no overlap with F, so no re-judging). sl' = 0.8/2 = 0.4,
 *            sl = 0.8/2 = 0.4: between in both modes. Review: 1 open + 1 verify + 1 draw =
 *            10.5 s; draw all: 2 + 14 = 16 s.
 *   image 4  no objects, no boxes: sl' = 0/max(0,1) = 0 -> trust sends it to people;
 *            sl = 1 (nothing rejected) -> verify: certain. Review 2 s; draw all 2 s.
 *
 * Totals: 5 images, 6 non-difficult objects.
 *   trust:  certain images 0,1 (3 objects, 3 pseudo-labels, 2 right: precision = recall = 2/3);
 *           people images 2,4 (1 object; 9 + 2 = 11 s: 1 draw, 0 verifies, 2 opens);
 *           between image 3 (2 objects).
 *   verify: certain 0,4; uncertain 1,2; between 3. SL objects 2 + 1 = 3, AL 1 + 1 + 1 = 3,
 *           rejected 1; 5 + 10.5 + 9 + 10.5 + 2 = 37 s (3 draws, 4 verifies, 5 opens).
 *   full:   16 + 9 + 9 + 16 + 2 = 52 s (6 draws, 5 opens).
 * Then one real mining round on the same images (bm_mine_apply) must charge the same. */
#include <math.h>
#include <string.h>

#include "boxmine/bm_json.h"
#include "boxmine/bm_mine.h"
#include "testlib.h"

/* static tables: designated initializers (bm_object has more fields) */
#define OBJ(c, ax1, ay1, ax2, ay2, diff) \
  { .class_id = (c), .x1 = (ax1), .y1 = (ay1), .x2 = (ax2), .y2 = (ay2), .difficult = (diff) }
#define DET(i, c, s, ax1, ay1, ax2, ay2) {(i), (c), (s), (ax1), (ay1), (ax2), (ay2)}

enum { N_IMAGES = 5 };

static bm_object objects[] = {
    OBJ(0, 1, 1, 100, 100, 0), OBJ(1, 201, 1, 300, 100, 0), /* image 0 */
    OBJ(0, 1, 1, 100, 100, 0),                              /* image 1 */
    OBJ(0, 1, 1, 100, 100, 0), OBJ(0, 201, 1, 300, 100, 1), /* image 2 */
    OBJ(0, 1, 1, 100, 100, 0), OBJ(1, 201, 1, 300, 100, 0), /* image 3 */
};
static bm_detection boxes[] = {
    DET(0, 0, 0.9f, 1, 1, 100, 100), DET(0, 1, 0.85f, 201, 1, 300, 100),
    DET(1, 0, 0.9f, 1, 1, 100, 60),
    DET(2, 0, 0.5f, 1, 1, 100, 100),
    DET(3, 0, 0.8f, 1, 1, 100, 100), DET(3, 1, 0.4f, 201, 1, 300, 100),
};

/* The five images as a data set, with the default fusion and mining options and room for
 * their fusion results (zeroed). Not to be copied: ds points into it. */
typedef struct fixture {
  bm_dataset ds;
  bm_image_info images[N_IMAGES];
  bm_fusion_opts fopts;
  bm_mine_opts mopts;
  bm_fusion_result results[N_IMAGES];
} fixture;

static void fixture_init(fixture *f) {
  static const int first[N_IMAGES] = {0, 2, 3, 5, 7}, count[N_IMAGES] = {2, 1, 2, 2, 0};
  memset(f, 0, sizeof *f);
  for (int i = 0; i < N_IMAGES; i++) {
    f->images[i].first_object = first[i];
    f->images[i].n_objects = count[i];
  }
  f->ds.n_images = N_IMAGES;
  f->ds.images = f->images;
  f->ds.n_objects = (int)(sizeof objects / sizeof objects[0]);
  f->ds.objects = objects;
  bm_fusion_opts_default(&f->fopts);
  bm_mine_opts_default(&f->mopts);
}

static void fixture_free(fixture *f) {
  for (int i = 0; i < N_IMAGES; i++) bm_fusion_result_free(&f->results[i]);
}

static double number_at(const bm_json *root, const char *group, const char *key) {
  const bm_json *object = group ? bm_json_get(root, group) : root;
  const bm_json *value = object ? bm_json_get(object, key) : NULL;
  return value ? bm_json_number(value, NAN) : NAN;
}

static void check_totals(const bm_assess *a) {
  CHECK(a->images == 5 && a->objects == 6);
  /* trust: [0] people, [1] between, [2] certain */
  CHECK(a->trust_images[2] == 2 && a->trust_images[0] == 2 && a->trust_images[1] == 1);
  CHECK(a->trust_objects[2] == 3 && a->trust_objects[0] == 1 && a->trust_objects[1] == 2);
  CHECK(a->pseudo_boxes == 3 && a->pseudo_correct == 2);
  CHECK(a->trust.total.draws == 1 && a->trust.total.verifies == 0 && a->trust.total.images == 2);
  CHECK_NEAR(bm_ledger_seconds(&a->trust), 11.0, 1e-9);
  /* verify */
  CHECK(a->verify_images[2] == 2 && a->verify_images[0] == 2 && a->verify_images[1] == 1);
  CHECK(a->sl_objects == 3 && a->al_objects == 3 && a->rejected_boxes == 1);
  CHECK(a->verify.total.draws == 3 && a->verify.total.verifies == 4 && a->verify.total.images == 5);
  CHECK_NEAR(bm_ledger_seconds(&a->verify), 37.0, 1e-9);
  /* drawing everything */
  CHECK(a->full.total.draws == 6 && a->full.total.verifies == 0 && a->full.total.images == 5);
  CHECK_NEAR(bm_ledger_seconds(&a->full), 52.0, 1e-9);
}

static void check_json(const bm_assess *a) {
  bm_buf buf;
  bm_buf_init(&buf);
  bm_buf_puts(&buf, "{");
  bm_assess_json(a, &buf);
  bm_buf_puts(&buf, "}");
  bm_json root;
  bm_error err = {{0}};
  int rc = bm_json_parse(buf.data, buf.len, &root, &err);
  CHECK_MSG(rc == 0, "bm_assess_json wrote bad JSON: %s", err.msg);
  /* floats with the fewest digits that read back: 0.3f, not 0.300000012 */
  CHECK(strstr(buf.data, "\"sl_lo\":0.3,") != NULL && strstr(buf.data, "\"sl_hi\":0.5,") != NULL);
  if (rc == 0) {
    CHECK(number_at(&root, NULL, "images") == 5 && number_at(&root, NULL, "objects") == 6);
    CHECK_NEAR(number_at(&root, "trust", "pseudo_precision"), 2.0 / 3.0, 1e-9);
    CHECK_NEAR(number_at(&root, "trust", "pseudo_recall"), 2.0 / 3.0, 1e-9);
    CHECK(number_at(&root, "trust", "people_images") == 2);
    CHECK(number_at(&root, "trust", "between_objects") == 2);
    CHECK(number_at(&root, "verify", "al_objects") == 3);
    CHECK_NEAR(number_at(bm_json_get(&root, "trust"), "people_cost", "seconds"), 11.0, 1e-9);
    CHECK_NEAR(number_at(bm_json_get(&root, "verify"), "cost", "seconds"), 37.0, 1e-9);
    CHECK_NEAR(number_at(&root, "full_cost", "seconds"), 52.0, 1e-9);
    bm_json_free(&root);
  }
  bm_buf_free(&buf);
}

/* The loop itself on the same five images as one round of topk-slscore (K = 5, nothing in
 * L): bm_mine_apply must charge what the accumulator says, in each oracle mode. The batch
 * comes in the state's shuffled order, so the boxes are regrouped in that order first. */
static void mine_one_round(bm_oracle_mode oracle, const bm_assess *expected) {
  fixture f;
  fixture_init(&f);
  f.mopts.K = N_IMAGES;
  f.mopts.oracle = oracle;
  const int pool[N_IMAGES] = {0, 1, 2, 3, 4};
  bm_mine_state st;
  bm_round_plan plan;
  memset(&plan, 0, sizeof plan);
  bm_detection ordered[sizeof boxes / sizeof boxes[0]];
  bm_detections dets = {0, 0, ordered};
  bm_error err = {{0}};
  int rc = bm_mine_state_init(&st, N_IMAGES, pool, N_IMAGES, 0, 5, NULL, &err);
  if (rc == 0) rc = bm_mine_take_batch(&st, &f.mopts, &plan, &err);
  CHECK(rc != 0 || plan.batch.n == N_IMAGES);
  for (int i = 0; rc == 0 && i < plan.batch.n; i++)
    for (size_t b = 0; b < sizeof boxes / sizeof boxes[0]; b++)
      if (boxes[b].image == plan.batch.items[i]) ordered[dets.n++] = boxes[b];
  if (rc == 0)
    rc = bm_fusion_run_images(&f.fopts, &f.ds, plan.batch.items, plan.batch.n, plan.round, &dets,
                              f.results, &err);
  if (rc == 0) rc = bm_mine_apply(&st, &f.mopts, f.results, &plan, &err);
  CHECK_MSG(rc == 0, "mining round: %s", err.msg);
  if (rc == 0) {
    const bm_ledger *want = oracle == BM_ORACLE_TRUST ? &expected->trust : &expected->verify;
    const long *sides =
        oracle == BM_ORACLE_TRUST ? expected->trust_images : expected->verify_images;
    CHECK(st.ledger.total.draws == want->total.draws);
    CHECK(st.ledger.total.verifies == want->total.verifies);
    CHECK(st.ledger.total.images == want->total.images);
    CHECK(plan.sl_images == sides[2] && plan.al_images == sides[0]);
    if (oracle == BM_ORACLE_TRUST)
      CHECK(plan.pseudo_boxes == expected->pseudo_boxes &&
            plan.pseudo_correct == expected->pseudo_correct);
  }
  fixture_free(&f);
  bm_round_plan_free(&plan);
  bm_mine_state_free(&st);
}

static void test_assess_totals(void) {
  fixture f;
  fixture_init(&f);
  bm_costs costs;
  bm_costs_default(&costs);
  bm_detections dets = {(long)(sizeof boxes / sizeof boxes[0]), 0, boxes};
  bm_assess a;
  bm_error err = {{0}};
  int rc = bm_fusion_run_images(&f.fopts, &f.ds, NULL, N_IMAGES, 1, &dets, f.results, &err);
  CHECK_MSG(rc == 0, "fusion: %s", err.msg);
  if (rc == 0) rc = bm_assess_init(&a, N_IMAGES, &f.mopts, &costs, &err);
  for (int i = 0; rc == 0 && i < N_IMAGES; i++) rc = bm_assess_add(&a, &f.results[i], &err);
  CHECK_MSG(rc == 0, "assess: %s", err.msg);
  if (rc == 0) {
    check_totals(&a);
    check_json(&a);
    mine_one_round(BM_ORACLE_TRUST, &a);
    mine_one_round(BM_ORACLE_VERIFY, &a);
    bm_assess_free(&a);
  }
  fixture_free(&f);
}

/* Boxes of images 0 and 1 given for the order 1, 0: image 1 takes no box (the first box
 * belongs to image 0), then image 0 takes its two and image 1's box is left over. */
static void test_fusion_run_images_order(void) {
  fixture f;
  fixture_init(&f);
  bm_detections dets = {3, 0, boxes};
  bm_error err = {{0}};
  const int order[2] = {1, 0};
  CHECK(bm_fusion_run_images(&f.fopts, &f.ds, order, 2, 1, &dets, f.results, &err) == -1);
  CHECK(strstr(err.msg, "order") != NULL);
  fixture_free(&f);
  /* in the right order, the results follow the list: image 1 then image 0 */
  bm_detection swapped[3] = {boxes[2], boxes[0], boxes[1]};
  bm_detections in_order = {3, 0, swapped};
  CHECK(bm_fusion_run_images(&f.fopts, &f.ds, order, 2, 1, &in_order, f.results, &err) == 0);
  CHECK(f.results[0].image == 1 && f.results[0].n_rejected == 1 && f.results[0].n_gt == 1);
  CHECK(f.results[1].image == 0 && f.results[1].n_accepted == 2 && f.results[1].n_gt == 2);
  fixture_free(&f);
}

/* Only the threshold strategies have sides; the side rule is the one bm_mine_apply uses. */
static void test_sides(void) {
  bm_mine_opts opts;
  bm_mine_opts_default(&opts);
  bm_costs costs;
  bm_costs_default(&costs);
  bm_assess a;
  bm_error err = {{0}};
  opts.strategy = BM_STRATEGY_RANDOM;
  CHECK(bm_assess_init(&a, 1, &opts, &costs, &err) == -1);
  bm_fusion_result r;
  memset(&r, 0, sizeof r);
  r.sl_score = 0.5f;      /* = sl-hi: certain (>=) */
  r.sl_score_est = 0.3f;  /* = sl-lo: uncertain (<=) */
  r.al_ratio = 0.45f;     /* between al-lo 0.3 and al-hi 0.6 */
  r.al_ratio_est = 0.6f;  /* = al-hi: uncertain */
  opts.strategy = BM_STRATEGY_TOPK_SLSCORE;
  opts.oracle = BM_ORACLE_VERIFY;
  CHECK(bm_mine_side(&opts, &r) == BM_SIDE_CERTAIN);
  opts.oracle = BM_ORACLE_TRUST;
  CHECK(bm_mine_side(&opts, &r) == BM_SIDE_UNCERTAIN);
  opts.strategy = BM_STRATEGY_TOPK_ALRATIO_THRE;
  CHECK(bm_mine_side(&opts, &r) == BM_SIDE_UNCERTAIN);
  opts.oracle = BM_ORACLE_VERIFY;
  CHECK(bm_mine_side(&opts, &r) == BM_SIDE_BETWEEN);
}

int main(void) {
  test_assess_totals();
  test_fusion_run_images_order();
  test_sides();
  return bm_test_finish("test_mine_assess");
}
