/* COCO AP/AR (pycocotools rules) on hand-worked cases. VOC boxes map to COCO as
 * [x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1], so VOC [1,1,10,10] is COCO [0,0,10,10], area
 * 100 ("small": <= 32^2). Precision is tp / (tp + fp + eps) with eps = 2.2e-16, so "1" below
 * means 1 - O(1e-16); the tolerance absorbs that. */
#include <math.h>
#include <string.h>

#include "eval_fixture.h"
#include "testlib.h"

#define TOL 1e-12
static const char *one_class[] = {"a"};

static void eval_ok(fixture *f, bm_coco_result *r) {
  bm_error err = {{0}};
  CHECK_MSG(bm_eval_coco(&f->ds, NULL, 0, &f->dets, r, &err) == 0, "%s", err.msg);
}

/* The twelve summary numbers, in COCOeval.summarize()'s order. */
static void check_stats(const bm_coco_result *r, const double want[12], const char *what) {
  const double got[12] = {r->stats.ap,       r->stats.ap50,      r->stats.ap75,
                          r->stats.ap_small, r->stats.ap_medium, r->stats.ap_large,
                          r->stats.ar1,      r->stats.ar10,      r->stats.ar100,
                          r->stats.ar_small, r->stats.ar_medium, r->stats.ar_large};
  for (int k = 0; k < 12; k++)
    CHECK_MSG(fabs(got[k] - want[k]) <= TOL, "%s: stat %d = %.15g, want %.15g", what, k, got[k],
              want[k]);
}

/* One exact detection of one small box: every AP and AR is 1; medium and large have no
 * ground truth: -1. */
static void test_perfect(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "000001");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_det(&f, 0, 0, 0.9f, 1, 1, 10, 10);
  bm_coco_result r;
  eval_ok(&f, &r);
  const double want[12] = {1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1};
  check_stats(&r, want, "perfect");
  CHECK(r.n_classes == 1 && r.classes[0].n_gt == 1 && r.classes[0].n_crowd == 0);
  CHECK_NEAR(r.classes[0].ap, 1, TOL);
  bm_coco_result_free(&r);
  fixture_free(&f);
}

/* IoU thresholds are inclusive (IoU >= t), and t runs .50, .55, ..., .95.
 *  Box VOC [1,1,100,100] = COCO [0,0,100,100], area 10000: "large".
 *  Detection [1,1,100,80] = COCO [0,0,100,80]: IoU 8000 / 10000 = .8: matched at
 *  .50 .. .80 (7 thresholds, .8 included), missed at .85 .9 .95 (a missed lone detection is a
 *  false positive: precision 0). AP = 7/10; AP50 = AP75 = 1; AR = recall averaged over
 *  thresholds = .7.
 *  Detection [1,1,100,50]: IoU exactly .5: matched at .50 only: AP .1, AP50 1, AP75 0. */
static void test_iou_thresholds(void) {
  const float bottoms[2] = {80, 50};
  const double want_ap[2] = {0.7, 0.1}, want_ap75[2] = {1, 0};
  for (int v = 0; v < 2; v++) {
    fixture f;
    fixture_init(&f, 1, one_class);
    fixture_image(&f, "000001");
    fixture_box(&f, 0, 1, 1, 100, 100, 0);
    fixture_det(&f, 0, 0, 0.9f, 1, 1, 100, bottoms[v]);
    bm_coco_result r;
    eval_ok(&f, &r);
    const double a = want_ap[v];
    const double want[12] = {a, 1, want_ap75[v], -1, -1, a, a, a, a, -1, -1, a};
    check_stats(&r, want, v ? "iou .5" : "iou .8");
    bm_coco_result_free(&r);
    fixture_free(&f);
  }
}

/* Recall thresholds are np.linspace(0, 1, 101) = r * 0.01, and 35 * 0.01 is
 * 0.35000000000000003, just above 7/20.
 *  20 boxes of 10 x 10 in one image; 7 exact detections with falling scores.
 *  Final recall 7/20 = .35 reaches thresholds 0 .. .34 (35 of them) but not "0.35": at each
 *  IoU threshold AP = 35/101 (precision 1 where reached, 0 beyond). AR100 = AR10 = .35;
 *  AR1 keeps only the best detection of the image: recall 1/20 = .05. All boxes are small. */
static void test_recall_thresholds(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "000001");
  for (int k = 0; k < 20; k++) fixture_box(&f, 0, 1 + 20 * k, 1, 10 + 20 * k, 10, 0);
  for (int k = 0; k < 7; k++)
    fixture_det(&f, 0, 0, 0.9f - 0.1f * k, 1 + 20 * k, 1, 10 + 20 * k, 10);
  bm_coco_result r;
  eval_ok(&f, &r);
  const double ap = 35.0 / 101;
  const double want[12] = {ap, ap, ap, ap, -1, -1, 0.05, 0.35, 0.35, 0.35, -1, -1};
  check_stats(&r, want, "recall thresholds");
  bm_coco_result_free(&r);
  fixture_free(&f);
}

/* Difficult boxes are crowd regions.
 *  A [1,1,100,100] difficult = crowd COCO [0,0,100,100];  B [201,1,300,100] (area 10000).
 *  d0 .9 and d1 .8 both [11,11,50,50] = COCO [10,10,40,40], area 1600, inside A: crowd IoU is
 *  intersection / detection area = 1600 / 1600 = 1, so both match A (a crowd region can be
 *  matched again) and are ignored.  d2 .7 exactly on B: true positive.
 *  Ranking I I T: recall 0 0 1, precision 0 0 1 -> envelope 1 everywhere: AP 1 at every
 *  threshold. (With ordinary IoU, 1600 / 10000 = .16, d0 and d1 would be false positives and
 *  AP would be 1/3.)
 *  Areas: B is large; small and medium have no counted box: -1. For "large", d0 and d1
 *  (area 1600) still match the crowd box and stay ignored: APl = 1.
 *  AR1 looks at d0 alone (the image's best detection): ignored, so recall 0.
 *  AR10 = AR100 = ARl = 1. */
static void test_difficult_is_crowd(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "000001");
  fixture_box(&f, 0, 1, 1, 100, 100, 1);
  fixture_box(&f, 0, 201, 1, 300, 100, 0);
  fixture_det(&f, 0, 0, 0.9f, 11, 11, 50, 50);
  fixture_det(&f, 0, 0, 0.8f, 11, 11, 50, 50);
  fixture_det(&f, 0, 0, 0.7f, 201, 1, 300, 100);
  bm_coco_result r;
  eval_ok(&f, &r);
  const double want[12] = {1, 1, 1, -1, -1, 1, 0, 1, 1, -1, -1, 1};
  check_stats(&r, want, "crowd");
  CHECK(r.classes[0].n_gt == 1 && r.classes[0].n_crowd == 1);
  bm_coco_result_free(&r);
  fixture_free(&f);
}

/* A detection prefers a regular box and only then falls back to an ignored one.
 *  A [1,1,100,100], C = the same box but difficult (crowd), B [201,1,300,100].
 *  Ground truth order: A, B (regular), then C (ignored).
 *  d0 .9 on A: A matches (IoU 1); at C the loop stops (a regular match beats ignored boxes).
 *  d1 .8 on A: A is taken; B has IoU 0; C is crowd with IoU 1: matched to an ignored box,
 *  so ignored (voc_eval would call it a false positive: its best box A is used).
 *  d2 .7 on B: true positive.
 *  Ranking T I T: precision 1 1 1, AP 1. (Were d1 a false positive: T F T, precision 1 .5
 *  2/3, recall .5 .5 1: 51 thresholds at 1 and 50 at 2/3 -> (51 + 100/3) / 101 = .835.) */
static void test_ignored_boxes_come_last(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "000001");
  fixture_box(&f, 0, 1, 1, 100, 100, 0);
  fixture_box(&f, 0, 1, 1, 100, 100, 1);
  fixture_box(&f, 0, 201, 1, 300, 100, 0);
  fixture_det(&f, 0, 0, 0.9f, 1, 1, 100, 100);
  fixture_det(&f, 0, 0, 0.8f, 1, 1, 100, 100);
  fixture_det(&f, 0, 0, 0.7f, 201, 1, 300, 100);
  bm_coco_result r;
  eval_ok(&f, &r);
  CHECK_NEAR(r.stats.ap, 1, TOL);
  CHECK_NEAR(r.stats.ar100, 1, TOL);
  bm_coco_result_free(&r);
  fixture_free(&f);
}

/* Area ranges: ground truth outside the range is ignored, and so are unmatched detections
 * outside it.
 *  S [1,1,20,20] = COCO 20 x 20, area 400: small.
 *  d0 .9 [101,101,300,300] = COCO 200 x 200, area 40000, far from S: false positive.
 *  d1 .8 exactly on S.
 *  "all": F T: recall 0 1, precision 0 .5: envelope .5: AP .5.
 *  "small": d0 is unmatched and larger than 32^2: ignored: I T: APs 1.
 *  "medium", "large": S is outside: no counted box: -1.
 *  AR1: only d0 (the image's best) counts: recall 0. AR10 = AR100 = ARs = 1. */
static void test_area_ranges(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "000001");
  fixture_box(&f, 0, 1, 1, 20, 20, 0);
  fixture_det(&f, 0, 0, 0.9f, 101, 101, 300, 300);
  fixture_det(&f, 0, 0, 0.8f, 1, 1, 20, 20);
  bm_coco_result r;
  eval_ok(&f, &r);
  const double want[12] = {0.5, 0.5, 0.5, 1, -1, -1, 0, 1, 1, 1, -1, -1};
  check_stats(&r, want, "areas");
  bm_coco_result_free(&r);
  fixture_free(&f);
}

/* At most 100 detections per image and class, by score.
 *  One box; n_fp false positives with score .9, then the exact detection with score .1.
 *  100 false positives: the true one is 101st and dropped: AP 0, AR100 0.
 *  99: it is kept at rank 100: recall reaches 1 only there, with precision 1/100, and the
 *  envelope carries .01 back to every recall threshold: AP .01 at every IoU threshold;
 *  AR100 1, AR10 = AR1 = 0 (only false positives among the first 10). */
static void test_max_detections(void) {
  for (int n_fp = 100; n_fp >= 99; n_fp--) {
    fixture f;
    fixture_init(&f, 1, one_class);
    fixture_image(&f, "000001");
    fixture_box(&f, 0, 1, 1, 10, 10, 0);
    for (int k = 0; k < n_fp; k++) fixture_det(&f, 0, 0, 0.9f, 201, 201, 210, 210);
    fixture_det(&f, 0, 0, 0.1f, 1, 1, 10, 10);
    bm_coco_result r;
    eval_ok(&f, &r);
    if (n_fp == 100) {
      const double want[12] = {0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1};
      check_stats(&r, want, "101 detections");
    } else {
      const double want[12] = {0.01, 0.01, 0.01, 0.01, -1, -1, 0, 0, 1, 1, -1, -1};
      check_stats(&r, want, "100 detections");
    }
    bm_coco_result_free(&r);
    fixture_free(&f);
  }
}

/* Equal scores on different images are ranked in COCO image-id order (COCOeval sorts image
 * ids), not in list or dataset order.
 *  Two images, one box each; a true positive on the first-listed image and a false positive
 *  on the other, both with score .5.
 *  FP ranked first: recall 0 .5, precision 0 .5: envelope .5 up to recall .5 (thresholds
 *  0 .. .5: 51 of them): AP = 51 * .5 / 101.  TP first: precision 1 .5: AP = 51 / 101.
 *  ids "10", "9": numbers, 9 < 10: the FP on "9" comes first.
 *  ids "b", "a": strings, "a" < "b": the FP on "a" comes first.
 *  ids "10", "9a": not all numbers, so strings: "10" < "9a": the TP comes first. */
static void test_image_order_for_ties(void) {
  const char *ids[3][2] = {{"10", "9"}, {"b", "a"}, {"10", "9a"}};
  const double want[3] = {25.5 / 101, 25.5 / 101, 51.0 / 101};
  for (int v = 0; v < 3; v++) {
    fixture f;
    fixture_init(&f, 1, one_class);
    fixture_image(&f, ids[v][0]);
    fixture_box(&f, 0, 1, 1, 10, 10, 0);
    fixture_image(&f, ids[v][1]);
    fixture_box(&f, 0, 1, 1, 10, 10, 0);
    fixture_det(&f, 0, 0, 0.5f, 1, 1, 10, 10);
    fixture_det(&f, 1, 0, 0.5f, 101, 101, 110, 110);
    bm_coco_result r;
    eval_ok(&f, &r);
    CHECK_MSG(fabs(r.stats.ap - want[v]) <= TOL, "ids %s %s: AP %.15g, want %.15g", ids[v][0],
              ids[v][1], r.stats.ap, want[v]);
    bm_coco_result_free(&r);
    fixture_free(&f);
  }
}

/* Classes without detections count as 0; classes without counted boxes are left out.
 *  a: a box, no detection: AP 0, AR 0.   b: one exact detection: AP 1.
 *  c: only a difficult box and a detection on it (ignored): no counted box: -1.
 *  Means over a and b: .5. */
static void test_empty_classes(void) {
  static const char *names[] = {"a", "b", "c"};
  fixture f;
  fixture_init(&f, 3, names);
  fixture_image(&f, "000001");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_box(&f, 1, 21, 1, 30, 10, 0);
  fixture_box(&f, 2, 41, 1, 50, 10, 1);
  fixture_image(&f, "000002"); /* no objects, no detections */
  fixture_det(&f, 0, 1, 0.5f, 21, 1, 30, 10);
  fixture_det(&f, 0, 2, 0.5f, 41, 1, 50, 10);
  bm_coco_result r;
  eval_ok(&f, &r);
  const double want[12] = {0.5, 0.5, 0.5, 0.5, -1, -1, 0.5, 0.5, 0.5, 0.5, -1, -1};
  check_stats(&r, want, "empty classes");
  CHECK(r.classes[0].ap == 0 && r.classes[0].ar100 == 0);
  CHECK_NEAR(r.classes[1].ap, 1, TOL);
  CHECK(r.classes[2].ap == -1 && r.classes[2].ap50 == -1 && r.classes[2].n_crowd == 1);
  bm_coco_result_free(&r);

  /* No detections at all. */
  bm_detections_free(&f.dets);
  eval_ok(&f, &r);
  const double zero[12] = {0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1};
  check_stats(&r, zero, "no detections");
  bm_coco_result_free(&r);

  /* A detection on an image outside the split is an error. */
  bm_error err = {{0}};
  fixture_det(&f, 1, 0, 0.5f, 1, 1, 10, 10);
  const int split[] = {0};
  CHECK(bm_eval_coco(&f.ds, split, 1, &f.dets, &r, &err) == -1);
  CHECK_MSG(strstr(err.msg, "'000002'") != NULL, "%s", err.msg);
  CHECK(r.classes == NULL);
  fixture_free(&f);
}

int main(void) {
  test_perfect();
  test_iou_thresholds();
  test_recall_thresholds();
  test_difficult_is_crowd();
  test_ignored_boxes_come_last();
  test_area_ranges();
  test_max_detections();
  test_image_order_for_ties();
  test_empty_classes();
  return bm_test_finish("test_eval_coco");
}
