/* PASCAL VOC AP on hand-worked cases. Every expected number is derived in the comment above
 * its check; boxes are VOC pixel-inclusive, so [1,1,10,10] is 10 x 10 = 100 pixels. */
#include <math.h>
#include <string.h>

#include "eval_fixture.h"
#include "testlib.h"

#define TOL 1e-12
static const char *one_class[] = {"a"};

static void eval_ok(fixture *f, const int *split, int n_split, bm_voc_result *r) {
  bm_error err = {{0}};
  int status = bm_eval_voc(&f->ds, split, n_split, &f->dets, r, &err);
  CHECK_MSG(status == 0, "%s", err.msg);
}

/* The AP formulas alone, on rankings given as outcomes. */
static void test_ranking_formulas(void) {
  const unsigned char T = BM_VOC_TRUE_POSITIVE, F = BM_VOC_FALSE_POSITIVE;
  double ap07, ap12;
  /* npos 10, ranking T T T F F F: recall .1 .2 .3 .3 .3 .3, precision 1 1 1 .75 .6 .5.
   * Envelope is 1 up to rank 3. Area: three steps of 0.1 at precision 1 = 0.3.
   * 11-point with the devkit's exact thresholds: recall 3/10 reaches t = 0.3, so t = 0, .1,
   * .2, .3 give 1 and the rest 0: 4/11. (py-faster-rcnn's np.arange makes the fourth
   * threshold 0.30000000000000004 > 3/10 and gets 3/11.) */
  const unsigned char r1[] = {T, T, T, F, F, F};
  bm_voc_ap_of_ranking(r1, 6, 10, &ap07, &ap12);
  CHECK_NEAR(ap07, 4.0 / 11.0, TOL);
  CHECK_NEAR(ap12, 0.3, TOL);

  /* npos 5, ranking T F T F T: recall .2 .2 .4 .4 .6, precision 1 .5 2/3 .5 .6.
   * Envelope: 1, 2/3, 2/3, .6, .6.
   * Area: .2 * 1 + .2 * 2/3 + .2 * .6 = .2 + .133333... + .12 = 0.4533333...
   * 11-point: t = 0, .1, .2 -> max precision from rank 1 = 1; t = .3, .4 -> from rank 3 =
   * 2/3; t = .5, .6 -> from rank 5 (recall exactly 3/5 reaches .6) = .6; t >= .7 -> 0.
   * (3 + 4/3 + 1.2) / 11 = 5.5333.../11. (np.arange's 0.6000000000000001 would drop one .6.) */
  const unsigned char r2[] = {T, F, T, F, T};
  bm_voc_ap_of_ranking(r2, 5, 5, &ap07, &ap12);
  CHECK_NEAR(ap07, (3 + 4.0 / 3 + 1.2) / 11, TOL);
  CHECK_NEAR(ap12, 0.2 + 0.2 * 2 / 3.0 + 0.2 * 0.6, TOL);

  /* Ignored ranks change nothing: I T I equals T alone with npos 1: AP 1 both ways. */
  const unsigned char r3[] = {BM_VOC_IGNORED, T, BM_VOC_IGNORED};
  bm_voc_ap_of_ranking(r3, 3, 1, &ap07, &ap12);
  CHECK_NEAR(ap07, 1, TOL);
  CHECK_NEAR(ap12, 1, TOL);

  /* No detections at all: AP 0. */
  bm_voc_ap_of_ranking(NULL, 0, 3, &ap07, &ap12);
  CHECK(ap07 == 0 && ap12 == 0);

  /* npos 4, ranking F T T T T: recall 0 .25 .5 .75 1, precision 0 .5 2/3 .75 .8.
   * The envelope is .8 at every rank. Area = 4 * .25 * .8 = .8; 11-point: .8 at every
   * threshold -> .8. */
  const unsigned char r4[] = {F, T, T, T, T};
  bm_voc_ap_of_ranking(r4, 5, 4, &ap07, &ap12);
  CHECK_NEAR(ap07, 0.8, TOL);
  CHECK_NEAR(ap12, 0.8, TOL);
}

/* Duplicates, difficult objects, an image with no objects, one tie. One class.
 *  img0: A [1,1,10,10], B [21,1,30,10];  img1: C [1,1,10,10] difficult;  img2: nothing.
 *  npos = 2 (C is difficult).
 *  d0 img0 .9 on A (IoU 1)            -> TP, A used
 *  d1 img0 .8 on A again              -> best box A already used: FP
 *  d2 img1 .8 on C                    -> best box difficult: ignored
 *  d3 img2 .7 anywhere                -> no box: FP
 *  d4 img0 .6 on B                    -> TP
 * Ranking (d1 before d2 by list order): T F I F T. tp 1 1 1 1 2, fp 0 1 1 2 2.
 * precision 1 .5 .5 1/3 .5, recall .5 .5 .5 .5 1. Envelope at the TPs: 1 and .5.
 * Area: .5 * 1 + .5 * .5 = .75. 11-point: t <= .5 -> 1 (6 thresholds), t >= .6 -> .5 (5):
 * (6 + 2.5) / 11 = 8.5 / 11. Same at IoU .75 (all IoUs are 1 or 0). */
static void test_duplicates_difficult_empty(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "img0");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_box(&f, 0, 21, 1, 30, 10, 0);
  fixture_image(&f, "img1");
  fixture_box(&f, 0, 1, 1, 10, 10, 1);
  fixture_image(&f, "img2");
  fixture_det(&f, 0, 0, 0.9f, 1, 1, 10, 10);
  fixture_det(&f, 0, 0, 0.8f, 1, 1, 10, 10);
  fixture_det(&f, 1, 0, 0.8f, 1, 1, 10, 10);
  fixture_det(&f, 2, 0, 0.7f, 1, 1, 10, 10);
  fixture_det(&f, 0, 0, 0.6f, 21, 1, 30, 10);
  bm_voc_result r;
  eval_ok(&f, NULL, 0, &r);
  CHECK(r.n_classes == 1 && r.classes[0].npos == 2 && r.classes[0].n_difficult == 1);
  CHECK(r.classes[0].n_detections == 5 && r.n_classes_in_mean == 1);
  for (int t = 0; t < 2; t++) {
    CHECK_NEAR(r.classes[0].ap12[t], 0.75, TOL);
    CHECK_NEAR(r.classes[0].ap07[t], 8.5 / 11, TOL);
    CHECK_NEAR(r.map12[t], 0.75, TOL);
  }
  bm_voc_result_free(&r);
  fixture_free(&f);
}

/* Ties are broken by list order (stable sort), and the order matters:
 *  img0: A [1,1,10,10], B [21,1,30,10]; npos 2.
 *  d0 .9 on A -> TP.  Then two detections with score .5: a duplicate on A (FP) and one on B.
 *  Duplicate listed first: T F T, precision 1 .5 2/3, recall .5 .5 1.
 *    Area .5 * 1 + .5 * 2/3 = 5/6; 11-point (6 * 1 + 5 * 2/3) / 11.
 *  B listed first: T T F, precision 1 1 2/3: area 1, 11-point 1. */
static void test_ties_follow_list_order(void) {
  for (int dup_first = 1; dup_first >= 0; dup_first--) {
    fixture f;
    fixture_init(&f, 1, one_class);
    fixture_image(&f, "img0");
    fixture_box(&f, 0, 1, 1, 10, 10, 0);
    fixture_box(&f, 0, 21, 1, 30, 10, 0);
    fixture_det(&f, 0, 0, 0.9f, 1, 1, 10, 10);
    if (dup_first) fixture_det(&f, 0, 0, 0.5f, 1, 1, 10, 10);
    fixture_det(&f, 0, 0, 0.5f, 21, 1, 30, 10);
    if (!dup_first) fixture_det(&f, 0, 0, 0.5f, 1, 1, 10, 10);
    bm_voc_result r;
    eval_ok(&f, NULL, 0, &r);
    if (dup_first) {
      CHECK_NEAR(r.classes[0].ap12[0], 5.0 / 6.0, TOL);
      CHECK_NEAR(r.classes[0].ap07[0], (6 + 5 * 2.0 / 3.0) / 11, TOL);
    } else {
      CHECK_NEAR(r.classes[0].ap12[0], 1, TOL);
      CHECK_NEAR(r.classes[0].ap07[0], 1, TOL);
    }
    bm_voc_result_free(&r);
    fixture_free(&f);
  }
}

/* IoU must be strictly above the threshold.
 *  img0: A [1,1,10,10] (100 px).  d0 .9 [1,1,10,7.5]: 10 x 7.5 = 75 px inside A: IoU .75.
 *  img1: B [1,1,10,10].           d1 .8 [1,1,10,5]: 10 x 5 = 50 px: IoU .5.
 *  At .5: d0 TP, d1 FP (.5 is not above .5): precision 1 .5, recall .5 .5.
 *    Area .5; 11-point t <= .5 -> 1: 6/11.
 *  At .75: both FP: 0. */
static void test_threshold_is_strict(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "img0");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_image(&f, "img1");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_det(&f, 0, 0, 0.9f, 1, 1, 10, 7.5f);
  fixture_det(&f, 1, 0, 0.8f, 1, 1, 10, 5);
  bm_voc_result r;
  eval_ok(&f, NULL, 0, &r);
  CHECK_NEAR(r.classes[0].ap12[0], 0.5, TOL);
  CHECK_NEAR(r.classes[0].ap07[0], 6.0 / 11, TOL);
  CHECK_NEAR(r.classes[0].ap12[1], 0, TOL);
  CHECK_NEAR(r.classes[0].ap07[1], 0, TOL);
  bm_voc_result_free(&r);
  fixture_free(&f);
}

/* A detection takes its best box even when that one is used; no fallback.
 *  img0: A [1,1,10,10], B [3,1,12,10] (B overlaps A in x 3..10: 8 x 10 = 80 px;
 *  IoU(A, B) = 80 / (100 + 100 - 80) = 2/3 > .5).
 *  d0 .9 on A -> TP.  d1 .8 on A -> best is A (IoU 1), used -> FP, although B has IoU 2/3.
 *  img1: two identical boxes C, C' [1,1,10,10]; d2 .7 and d3 .6 both exactly on them:
 *  each takes the first of the equal-IoU boxes, C: d2 TP, d3 FP.
 *  npos 4. Ranking T F T F: precision 1 .5 2/3 .5, recall .25 .25 .5 .5.
 *  Area .25 * 1 + .25 * 2/3 = 5/12.  11-point: t <= .2 -> 1 (3 thresholds), t = .3 .. .5 ->
 *  2/3 (3 thresholds), t >= .6 -> 0: (3 + 2) / 11 = 5/11. */
static void test_no_fallback_to_second_box(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "img0");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_box(&f, 0, 3, 1, 12, 10, 0);
  fixture_image(&f, "img1");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_det(&f, 0, 0, 0.9f, 1, 1, 10, 10);
  fixture_det(&f, 0, 0, 0.8f, 1, 1, 10, 10);
  fixture_det(&f, 1, 0, 0.7f, 1, 1, 10, 10);
  fixture_det(&f, 1, 0, 0.6f, 1, 1, 10, 10);
  bm_voc_result r;
  eval_ok(&f, NULL, 0, &r);
  CHECK(r.classes[0].npos == 4);
  CHECK_NEAR(r.classes[0].ap12[0], 5.0 / 12, TOL);
  CHECK_NEAR(r.classes[0].ap07[0], 5.0 / 11, TOL);
  bm_voc_result_free(&r);
  fixture_free(&f);
}

/* Difficult: a detection whose best box is difficult is ignored only when its IoU is above
 * the threshold; below it, it is a false positive like any other.
 *  img0: A [1,1,10,10] difficult, B [50,50,59,59]; npos 1.
 *  d0 .95 [1,1,10,4]: 40 px inside A: IoU .4 -> FP.  d1 .9 on A -> ignored.  d2 .8 on B -> TP.
 *  Ranking F I T: tp 0 0 1, fp 1 1 1: precision 0 0 .5, recall 0 0 1.
 *  Area 1 * .5 = .5; 11-point .5 at every threshold: .5. */
static void test_difficult(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "img0");
  fixture_box(&f, 0, 1, 1, 10, 10, 1);
  fixture_box(&f, 0, 50, 50, 59, 59, 0);
  fixture_det(&f, 0, 0, 0.95f, 1, 1, 10, 4);
  fixture_det(&f, 0, 0, 0.9f, 1, 1, 10, 10);
  fixture_det(&f, 0, 0, 0.8f, 50, 50, 59, 59);
  bm_voc_result r;
  eval_ok(&f, NULL, 0, &r);
  CHECK(r.classes[0].npos == 1 && r.classes[0].n_difficult == 1);
  CHECK_NEAR(r.classes[0].ap12[0], 0.5, TOL);
  CHECK_NEAR(r.classes[0].ap07[0], 0.5, TOL);
  bm_voc_result_free(&r);
  fixture_free(&f);
}

/* Classes without detections or without positives.
 *  a: one box, one exact detection -> AP 1.     b: one box, no detections -> AP 0.
 *  c: only a difficult box, one detection -> no positives: no AP, left out of the mean.
 *  d: nothing at all -> no positives.
 *  Mean over a and b: .5, with 2 classes in the mean. */
static void test_empty_classes(void) {
  static const char *names[] = {"a", "b", "c", "d"};
  fixture f;
  fixture_init(&f, 4, names);
  fixture_image(&f, "img0");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_box(&f, 1, 21, 1, 30, 10, 0);
  fixture_box(&f, 2, 41, 1, 50, 10, 1);
  fixture_det(&f, 0, 0, 0.5f, 1, 1, 10, 10);
  fixture_det(&f, 0, 2, 0.5f, 41, 1, 50, 10);
  bm_voc_result r;
  eval_ok(&f, NULL, 0, &r);
  CHECK(r.n_classes == 4 && r.n_classes_in_mean == 2);
  CHECK_NEAR(r.classes[0].ap12[0], 1, TOL);
  CHECK(r.classes[1].ap12[0] == 0 && r.classes[1].ap07[0] == 0);
  CHECK(r.classes[1].n_detections == 0);
  CHECK(r.classes[2].npos == 0 && isnan(r.classes[2].ap12[0]) && isnan(r.classes[2].ap07[1]));
  CHECK(r.classes[2].n_detections == 1);
  CHECK(r.classes[3].npos == 0 && isnan(r.classes[3].ap07[0]));
  for (int t = 0; t < 2; t++) {
    CHECK_NEAR(r.map12[t], 0.5, TOL);
    CHECK_NEAR(r.map07[t], 0.5, TOL);
  }
  bm_voc_result_free(&r);

  /* No detections at all and no positives at all: means are NAN, nothing crashes. */
  bm_detections_free(&f.dets);
  f.ds.objects[0].difficult = f.ds.objects[1].difficult = 1;
  eval_ok(&f, NULL, 0, &r);
  CHECK(r.n_classes_in_mean == 0 && isnan(r.map12[0]) && isnan(r.map07[1]));
  bm_voc_result_free(&r);
  fixture_free(&f);
}

/* Splits: only the listed images count, and a detection elsewhere is an error. */
static void test_split(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "in0");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_image(&f, "out1");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_image(&f, "in2");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  fixture_det(&f, 0, 0, 0.9f, 1, 1, 10, 10);
  fixture_det(&f, 2, 0, 0.8f, 1, 1, 10, 10);
  /* Split {2, 0}: npos 2, both detections TP: AP 1. The whole dataset: npos 3, recall 2/3:
   * area 2/3; 11-point t <= .6 -> 1 (7 thresholds): 7/11. */
  const int split[] = {2, 0};
  bm_voc_result r;
  eval_ok(&f, split, 2, &r);
  CHECK(r.classes[0].npos == 2);
  CHECK_NEAR(r.classes[0].ap12[0], 1, TOL);
  bm_voc_result_free(&r);
  eval_ok(&f, NULL, 0, &r);
  CHECK(r.classes[0].npos == 3);
  CHECK_NEAR(r.classes[0].ap12[0], 2.0 / 3, TOL);
  CHECK_NEAR(r.classes[0].ap07[0], 7.0 / 11, TOL);
  bm_voc_result_free(&r);

  bm_error err = {{0}};
  fixture_det(&f, 1, 0, 0.7f, 1, 1, 10, 10);
  CHECK(bm_eval_voc(&f.ds, split, 2, &f.dets, &r, &err) == -1);
  CHECK_MSG(strstr(err.msg, "'out1'") && strstr(err.msg, "not in the evaluated split"), "%s",
            err.msg);
  CHECK(r.classes == NULL);
  const int bad_split[] = {0, 7};
  CHECK(bm_eval_voc(&f.ds, bad_split, 2, &f.dets, &r, &err) == -1 && strstr(err.msg, "outside"));
  const int twice[] = {0, 0};
  CHECK(bm_eval_voc(&f.ds, twice, 2, &f.dets, &r, &err) == -1 && strstr(err.msg, "twice"));
  fixture_free(&f);
}

/* Bad detections are errors, not silently wrong numbers. */
static void test_bad_detections(void) {
  fixture f;
  fixture_init(&f, 1, one_class);
  fixture_image(&f, "img0");
  fixture_box(&f, 0, 1, 1, 10, 10, 0);
  bm_voc_result r;
  bm_error err = {{0}};
  fixture_det(&f, 0, 1, 0.5f, 1, 1, 10, 10); /* class 1 of 1 */
  CHECK(bm_eval_voc(&f.ds, NULL, 0, &f.dets, &r, &err) == -1 && strstr(err.msg, "class 1"));
  f.dets.items[0].class_id = 0;
  f.dets.items[0].score = NAN;
  CHECK(bm_eval_voc(&f.ds, NULL, 0, &f.dets, &r, &err) == -1 && strstr(err.msg, "score"));
  f.dets.items[0].score = 0.5f;
  f.dets.items[0].x2 = -5; /* width -5 - 1 + 1 < 0 */
  CHECK(bm_eval_voc(&f.ds, NULL, 0, &f.dets, &r, &err) == -1 && strstr(err.msg, "invalid box"));
  f.dets.items[0].x2 = 10;
  f.dets.items[0].image = 3;
  CHECK(bm_eval_voc(&f.ds, NULL, 0, &f.dets, &r, &err) == -1 && strstr(err.msg, "image index"));
  f.dets.items[0].image = 0;
  f.ds.objects[0].class_id = 4;
  CHECK(bm_eval_voc(&f.ds, NULL, 0, &f.dets, &r, &err) == -1 && strstr(err.msg, "img0"));
  fixture_free(&f);
}

int main(void) {
  test_ranking_formulas();
  test_duplicates_difficult_empty();
  test_ties_follow_list_order();
  test_threshold_is_strict();
  test_no_fallback_to_second_box();
  test_difficult();
  test_empty_classes();
  test_split();
  test_bad_detections();
  return bm_test_finish("test_eval_voc");
}
