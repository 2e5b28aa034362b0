/* Box-level fusion (asm-spec section 3): one test per rule, on hand-made detections and
 * ground truth. Every expected number is worked out by hand in the comment next to it.
 * Boxes use integer VOC coordinates, so a box (1,1,100,100) is 100 x 100 = 10000 pixels. */
#include <math.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "testlib.h"

static bm_detection det(int class_id, float score, float x1, float y1, float x2, float y2) {
  bm_detection d = {0, class_id, score, x1, y1, x2, y2};
  return d;
}

static bm_object obj(int class_id, float x1, float y1, float x2, float y2, int difficult) {
  bm_object o;
  memset(&o, 0, sizeof o);
  o.class_id = class_id;
  o.x1 = x1;
  o.y1 = y1;
  o.x2 = x2;
  o.y2 = y2;
  o.difficult = difficult;
  return o;
}

/* Runs fusion as image 7 of round 3 with the default thresholds; 1 on success. */
static int fuse(const bm_detection *dets, int n_dets, const bm_object *gt, int n_gt,
                bm_fusion_result *out) {
  bm_fusion_opts opts;
  bm_fusion_opts_default(&opts);
  bm_error err = {{0}};
  int rc = bm_fusion_run(&opts, 7, 3, dets, n_dets, gt, n_gt, out, &err);
  CHECK_MSG(rc == 0, "fusion failed: %s", err.msg);
  return rc == 0;
}

static void test_iou_convention(void) {
  /* A = (1,1,10,10): 10 x 10 = 100 px. B = (6,1,15,10): 100 px. Overlap x 6..10 = 5 px,
   * y 1..10 = 10 px: 50 px. IoU = 50 / (100 + 100 - 50) = 1/3. (Without the +1 it would be
   * 36 / 126 = 0.2857.) */
  CHECK_NEAR(bm_iou_voc(1, 1, 10, 10, 6, 1, 15, 10), 1.0 / 3.0, 1e-6);
  /* Touching boxes share no pixel: x 1..10 and 11..20. */
  CHECK(bm_iou_voc(1, 1, 10, 10, 11, 1, 20, 10) == 0.0f);
  /* A one-pixel box is 1 x 1 = 1 px, and overlaps itself fully. */
  CHECK_NEAR(bm_iou_voc(5, 5, 5, 5, 5, 5, 5, 5), 1.0, 1e-6);
  /* An inverted (empty) box overlaps nothing. */
  CHECK(bm_iou_voc(10, 10, 1, 1, 1, 1, 10, 10) == 0.0f);
}

static void test_split_by_score(void) {
  /* Far-apart boxes (no re-judging). certain: s >= 0.8 -> 0.95, 0.8; uncertain:
   * 0.3 <= s < 0.8 -> 0.79, 0.3; ignored: 0.29. Kept boxes sorted by score. */
  bm_detection dets[] = {det(0, 0.29f, 1, 1, 10, 10), det(0, 0.8f, 101, 1, 110, 10),
                         det(0, 0.3f, 201, 1, 210, 10), det(0, 0.95f, 301, 1, 310, 10),
                         det(0, 0.79f, 401, 1, 410, 10)};
  bm_fusion_result r;
  if (!fuse(dets, 5, NULL, 0, &r)) return;
  CHECK(r.n_boxes == 4);
  CHECK(r.n_certain == 2);
  CHECK(r.n_uncertain == 2);
  CHECK(r.n_demoted == 0);
  CHECK(r.boxes[0].score == 0.95f && r.boxes[0].role == BM_BOX_CERTAIN);
  CHECK(r.boxes[1].score == 0.8f && r.boxes[1].role == BM_BOX_CERTAIN);
  CHECK(r.boxes[2].score == 0.79f && r.boxes[2].role == BM_BOX_UNCERTAIN);
  CHECK(r.boxes[3].score == 0.3f && r.boxes[3].role == BM_BOX_UNCERTAIN);
  CHECK(r.image == 7 && r.round == 3);
  bm_fusion_result_free(&r);
}

static void test_rejudge_demotes_on_class_disagreement(void) {
  /* certain c0 0.9 (1,1,100,100); uncertain c1 0.5 (1,1,100,90): IoU = 9000/10000 = 0.9
   * >= 0.5, and no overlapping uncertain box says class 0 -> demoted. */
  bm_detection dets[] = {det(0, 0.9f, 1, 1, 100, 100), det(1, 0.5f, 1, 1, 100, 90)};
  bm_fusion_result r;
  if (!fuse(dets, 2, NULL, 0, &r)) return;
  CHECK(r.boxes[0].role == BM_BOX_DEMOTED);
  CHECK(r.n_certain == 0);
  CHECK(r.n_uncertain == 2); /* the demoted box counts as uncertain */
  CHECK(r.n_demoted == 1);
  bm_fusion_result_free(&r);
}

static void test_rejudge_keeps_when_one_agrees(void) {
  /* Same certain box; two overlapping uncertain boxes: c1 (IoU 0.9) and c0 0.4
   * (1,1,90,100): IoU 9000/10000 = 0.9. One of them has class 0 -> stays certain. */
  bm_detection dets[] = {det(0, 0.9f, 1, 1, 100, 100), det(1, 0.5f, 1, 1, 100, 90),
                         det(0, 0.4f, 1, 1, 90, 100)};
  bm_fusion_result r;
  if (!fuse(dets, 3, NULL, 0, &r)) return;
  CHECK(r.boxes[0].role == BM_BOX_CERTAIN);
  CHECK(r.n_certain == 1 && r.n_uncertain == 2 && r.n_demoted == 0);
  bm_fusion_result_free(&r);
}

static void test_rejudge_iou_threshold(void) {
  /* uncertain c1 (1,1,100,40): IoU 4000/10000 = 0.4 < 0.5 -> does not judge, stays certain */
  bm_detection low[] = {det(0, 0.9f, 1, 1, 100, 100), det(1, 0.5f, 1, 1, 100, 40)};
  bm_fusion_result r;
  if (!fuse(low, 2, NULL, 0, &r)) return;
  CHECK(r.boxes[0].role == BM_BOX_CERTAIN);
  bm_fusion_result_free(&r);
  /* uncertain c1 (1,1,100,50): IoU 5000/10000 = 0.5 exactly >= 0.5 -> demoted */
  bm_detection edge[] = {det(0, 0.9f, 1, 1, 100, 100), det(1, 0.5f, 1, 1, 100, 50)};
  if (!fuse(edge, 2, NULL, 0, &r)) return;
  CHECK(r.boxes[0].role == BM_BOX_DEMOTED);
  bm_fusion_result_free(&r);
}

static void test_rejudge_uses_up_in_score_order(void) {
  /* A: certain c0 0.95 (1,1,100,100); B: certain c0 0.9 (1,1,100,95);
   * U: uncertain c1 0.5 (1,1,100,90): IoU(A,U) = 0.9, IoU(B,U) = 9000/9500 = 0.947.
   * A walks first (higher score): U overlaps, class 1 != 0 -> A demoted, U used up.
   * B walks next: no unused uncertain box -> stays certain.
   * Input order B, U, A must give the same answer (the order is by score, not input). */
  bm_detection in_order[] = {det(0, 0.95f, 1, 1, 100, 100), det(0, 0.9f, 1, 1, 100, 95),
                             det(1, 0.5f, 1, 1, 100, 90)};
  bm_detection reversed[] = {in_order[1], in_order[2], in_order[0]};
  for (int pass = 0; pass < 2; pass++) {
    bm_fusion_result r;
    if (!fuse(pass ? reversed : in_order, 3, NULL, 0, &r)) return;
    CHECK(r.boxes[0].score == 0.95f && r.boxes[0].role == BM_BOX_DEMOTED);
    CHECK(r.boxes[1].score == 0.9f && r.boxes[1].role == BM_BOX_CERTAIN);
    CHECK(r.n_certain == 1 && r.n_demoted == 1 && r.n_uncertain == 2);
    bm_fusion_result_free(&r);
  }
}

static void test_demoted_boxes_do_not_judge(void) {
  /* A certain c0 0.95 (1,1,100,100); B certain c1 0.9 (1,1,100,98) (IoU(A,B) = 0.98);
   * U uncertain c2 0.5 (1,1,100,90). A: U overlaps, class 2 != 0 -> A demoted, U used.
   * B: the only unused box in reach is A, but A was certain at the start and does not
   * judge -> B stays certain. */
  bm_detection dets[] = {det(0, 0.95f, 1, 1, 100, 100), det(1, 0.9f, 1, 1, 100, 98),
                         det(2, 0.5f, 1, 1, 100, 90)};
  bm_fusion_result r;
  if (!fuse(dets, 3, NULL, 0, &r)) return;
  CHECK(r.boxes[0].role == BM_BOX_DEMOTED);
  CHECK(r.boxes[1].role == BM_BOX_CERTAIN);
  bm_fusion_result_free(&r);
}

static void test_no_rejudge_without_uncertain(void) {
  /* Two overlapping certain boxes of different classes and no uncertain box: nothing to
   * judge with, both stay certain. */
  bm_detection dets[] = {det(0, 0.95f, 1, 1, 100, 100), det(1, 0.9f, 1, 1, 100, 100)};
  bm_fusion_result r;
  if (!fuse(dets, 2, NULL, 0, &r)) return;
  CHECK(r.n_certain == 2 && r.n_demoted == 0);
  bm_fusion_result_free(&r);
}

static void test_oracle_highest_iou_one_to_one(void) {
  /* GT g0 c0 (1,1,100,100), g1 c0 (1,1,100,90).
   * m1 c0 0.95 (1,1,100,95): IoU g0 = 9500/10000 = 0.95, g1 = 9000/9500 = 0.947 -> claims g0.
   * m2 c0 0.9 (1,1,100,100): g0 already claimed; g1 IoU 9000/10000 = 0.9 >= 0.8 -> claims g1.
   * (Matching against all GT would have let m2 claim g0 again.)
   * SA: g0 gets m1's box, g1 gets m2's box. n = 2, both SL:
   * sl_score = (0.95 + 0.9) / 2 = 0.925, al_ratio = 0 / 2 = 0. */
  bm_detection dets[] = {det(0, 0.95f, 1, 1, 100, 95), det(0, 0.9f, 1, 1, 100, 100)};
  bm_object gt[] = {obj(0, 1, 1, 100, 100, 0), obj(0, 1, 1, 100, 90, 0)};
  bm_fusion_result r;
  if (!fuse(dets, 2, gt, 2, &r)) return;
  CHECK(r.boxes[0].verdict == BM_VERDICT_ACCEPTED && r.boxes[0].gt_index == 0);
  CHECK(r.boxes[1].verdict == BM_VERDICT_ACCEPTED && r.boxes[1].gt_index == 1);
  CHECK(r.n_sa == 2);
  CHECK(r.sa[0].source == BM_SOURCE_MACHINE && r.sa[0].object.y2 == 95.0f);
  CHECK(r.sa[0].score == 0.95f);
  CHECK(r.sa[1].source == BM_SOURCE_MACHINE && r.sa[1].object.y2 == 100.0f);
  CHECK(r.n_accepted == 2 && r.n_rejected == 0 && r.n_al == 0);
  CHECK_NEAR(r.sl_score, 0.925, 1e-6);
  CHECK_NEAR(r.al_ratio, 0.0, 0);
  /* the hidden ground truth itself is never modified */
  CHECK(gt[0].y2 == 100.0f && gt[1].y2 == 90.0f);
  bm_fusion_result_free(&r);
}

static void test_oracle_claimed_gt_rejects_second_box(void) {
  /* GT g0 c0 (1,1,100,100). m1 c0 0.95 identical -> accepted (IoU 1). m2 c0 0.9
   * (1,1,100,98): g0 claimed, no other GT -> rejected. n = 1:
   * sl_score = 0.95 / 1 = 0.95, al_ratio = 0 / 1 = 0. */
  bm_detection dets[] = {det(0, 0.95f, 1, 1, 100, 100), det(0, 0.9f, 1, 1, 100, 98)};
  bm_object gt[] = {obj(0, 1, 1, 100, 100, 0)};
  bm_fusion_result r;
  if (!fuse(dets, 2, gt, 1, &r)) return;
  CHECK(r.boxes[0].verdict == BM_VERDICT_ACCEPTED);
  CHECK(r.boxes[1].verdict == BM_VERDICT_REJECTED && r.boxes[1].gt_index == -1);
  CHECK(r.n_accepted == 1 && r.n_rejected == 1 && r.n_al == 0);
  CHECK_NEAR(r.sl_score, 0.95, 1e-6);
  CHECK_NEAR(r.al_ratio, 0.0, 0);
  bm_fusion_result_free(&r);
}

static void test_oracle_gt_iou_threshold_and_class(void) {
  bm_object gt[] = {obj(0, 1, 1, 100, 100, 0)};
  bm_fusion_result r;
  /* (1,1,100,79): IoU 7900/10000 = 0.79 < 0.8 -> rejected; g0 is an AL box:
   * sl_score = 0 / 1 = 0, al_ratio = 1 / 1 = 1. */
  bm_detection below[] = {det(0, 0.9f, 1, 1, 100, 79)};
  if (!fuse(below, 1, gt, 1, &r)) return;
  CHECK(r.boxes[0].verdict == BM_VERDICT_REJECTED);
  CHECK(r.sa[0].source == BM_SOURCE_HUMAN && r.sa[0].object.y2 == 100.0f);
  CHECK_NEAR(r.sl_score, 0.0, 0);
  CHECK_NEAR(r.al_ratio, 1.0, 0);
  bm_fusion_result_free(&r);
  /* (1,1,100,80): IoU 8000/10000 = 0.8 exactly >= 0.8 -> accepted: sl_score 0.9 */
  bm_detection edge[] = {det(0, 0.9f, 1, 1, 100, 80)};
  if (!fuse(edge, 1, gt, 1, &r)) return;
  CHECK(r.boxes[0].verdict == BM_VERDICT_ACCEPTED);
  CHECK_NEAR(r.sl_score, 0.9, 1e-6);
  bm_fusion_result_free(&r);
  /* a perfect box of the wrong class is rejected: al_ratio 1 */
  bm_detection wrong[] = {det(1, 0.9f, 1, 1, 100, 100)};
  if (!fuse(wrong, 1, gt, 1, &r)) return;
  CHECK(r.boxes[0].verdict == BM_VERDICT_REJECTED);
  CHECK_NEAR(r.al_ratio, 1.0, 0);
  bm_fusion_result_free(&r);
}

static void test_equal_scores_keep_input_order(void) {
  /* GT g0 c0 (1,1,100,100). ma c0 0.9 (1,1,100,85): IoU 0.85; mb c0 0.9 identical: IoU 1.
   * Equal scores: input order decides, ma walks first and claims g0; mb is rejected. */
  bm_detection dets[] = {det(0, 0.9f, 1, 1, 100, 85), det(0, 0.9f, 1, 1, 100, 100)};
  bm_object gt[] = {obj(0, 1, 1, 100, 100, 0)};
  bm_fusion_result r;
  if (!fuse(dets, 2, gt, 1, &r)) return;
  CHECK(r.boxes[0].y2 == 85.0f && r.boxes[0].verdict == BM_VERDICT_ACCEPTED);
  CHECK(r.boxes[1].verdict == BM_VERDICT_REJECTED);
  CHECK(r.sa[0].object.y2 == 85.0f);
  bm_fusion_result_free(&r);
}

static void test_equal_iou_claims_first_gt(void) {
  /* Two identical GT objects c0 (1,1,100,100) and one identical machine box: IoU 1 with
   * both; the tie goes to the first in gt order, the second stays an AL box. */
  bm_detection dets[] = {det(0, 0.9f, 1, 1, 100, 100)};
  bm_object gt[] = {obj(0, 1, 1, 100, 100, 0), obj(0, 1, 1, 100, 100, 0)};
  bm_fusion_result r;
  if (!fuse(dets, 1, gt, 2, &r)) return;
  CHECK(r.boxes[0].gt_index == 0);
  CHECK(r.sa[0].source == BM_SOURCE_MACHINE && r.sa[1].source == BM_SOURCE_HUMAN);
  bm_fusion_result_free(&r);
}

static void test_difficult_carried_over(void) {
  /* GT g0 c0 (1,1,100,100) difficult, g1 c0 (201,1,300,100). m1 c0 0.95 exactly on g0:
   * difficult objects are never claimed -> rejected. m2 c0 0.9 exactly on g1 -> accepted.
   * n = 1 (g0 not counted): sl_score = 0.9 / 1 = 0.9, al_ratio = 0 / 1 = 0.
   * SA: g0 unchanged as DIFFICULT, g1 as MACHINE. */
  bm_detection dets[] = {det(0, 0.95f, 1, 1, 100, 100), det(0, 0.9f, 201, 1, 300, 100)};
  bm_object gt[] = {obj(0, 1, 1, 100, 100, 1), obj(0, 201, 1, 300, 100, 0)};
  bm_fusion_result r;
  if (!fuse(dets, 2, gt, 2, &r)) return;
  CHECK(r.n_gt == 1 && r.n_difficult == 1);
  CHECK(r.boxes[0].verdict == BM_VERDICT_REJECTED);
  CHECK(r.boxes[1].verdict == BM_VERDICT_ACCEPTED && r.boxes[1].gt_index == 1);
  CHECK(r.sa[0].source == BM_SOURCE_DIFFICULT && r.sa[0].object.difficult == 1);
  CHECK(r.sa[1].source == BM_SOURCE_MACHINE);
  CHECK(r.n_al == 0);
  CHECK_NEAR(r.sl_score, 0.9, 1e-6);
  CHECK_NEAR(r.al_ratio, 0.0, 0);
  bm_fusion_result_free(&r);
  /* a difficult object the machine misses is not an AL box either: n = 1, n_al = 1 */
  bm_object gt2[] = {obj(0, 1, 1, 100, 100, 1), obj(0, 201, 1, 300, 100, 0)};
  if (!fuse(NULL, 0, gt2, 2, &r)) return;
  CHECK(r.n_al == 1 && r.n_gt == 1);
  CHECK(r.sa[0].source == BM_SOURCE_DIFFICULT && r.sa[1].source == BM_SOURCE_HUMAN);
  CHECK_NEAR(r.al_ratio, 1.0, 0);
  bm_fusion_result_free(&r);
}

static void test_worked_example_scores(void) {
  /* 4 GT c0 at x = 1, 201, 401, 601 (each 100 x 100). Certain boxes: exact on the first
   * two (0.9, 0.85) -> accepted; 0.82 on the third shifted to (401,1,500,70): IoU 0.7 ->
   * rejected; nothing on the fourth. n = 4, SL = 2, AL = 2:
   * sl_score = (0.9 + 0.85) / 4 = 0.4375, al_ratio = 2 / 4 = 0.5. */
  bm_detection dets[] = {det(0, 0.9f, 1, 1, 100, 100), det(0, 0.85f, 201, 1, 300, 100),
                         det(0, 0.82f, 401, 1, 500, 70)};
  bm_object gt[] = {obj(0, 1, 1, 100, 100, 0), obj(0, 201, 1, 300, 100, 0),
                    obj(0, 401, 1, 500, 100, 0), obj(0, 601, 1, 700, 100, 0)};
  bm_fusion_result r;
  if (!fuse(dets, 3, gt, 4, &r)) return;
  CHECK(r.n_accepted == 2 && r.n_rejected == 1 && r.n_al == 2);
  CHECK_NEAR(r.sl_score, 0.4375, 1e-6);
  CHECK_NEAR(r.al_ratio, 0.5, 1e-6);
  CHECK(r.sa[2].source == BM_SOURCE_HUMAN && r.sa[2].object.y2 == 100.0f);
  bm_fusion_result_free(&r);
}

static void test_n_zero_rules(void) {
  bm_fusion_result r;
  /* no objects, no boxes: nothing to do, nothing rejected -> sl 1, al 0 */
  if (!fuse(NULL, 0, NULL, 0, &r)) return;
  CHECK(r.n_gt == 0);
  CHECK_NEAR(r.sl_score, 1.0, 0);
  CHECK_NEAR(r.al_ratio, 0.0, 0);
  CHECK(!isnan(r.sl_score) && !isnan(r.al_ratio));
  bm_fusion_result_free(&r);
  /* no objects, one certain box -> rejected -> sl 0, al 0 */
  bm_detection one[] = {det(0, 0.9f, 1, 1, 100, 100)};
  if (!fuse(one, 1, NULL, 0, &r)) return;
  CHECK(r.n_rejected == 1);
  CHECK_NEAR(r.sl_score, 0.0, 0);
  CHECK_NEAR(r.al_ratio, 0.0, 0);
  bm_fusion_result_free(&r);
  /* only a difficult object, the certain box lies on it -> n = 0, rejected -> sl 0 */
  bm_object hard[] = {obj(0, 1, 1, 100, 100, 1)};
  if (!fuse(one, 1, hard, 1, &r)) return;
  CHECK(r.n_gt == 0 && r.n_rejected == 1);
  CHECK_NEAR(r.sl_score, 0.0, 0);
  CHECK_NEAR(r.al_ratio, 0.0, 0);
  bm_fusion_result_free(&r);
  /* only a difficult object and an uncertain box: no certain box rejected -> sl 1 */
  bm_detection unsure[] = {det(0, 0.5f, 1, 1, 100, 100)};
  if (!fuse(unsure, 1, hard, 1, &r)) return;
  CHECK_NEAR(r.sl_score, 1.0, 0);
  CHECK_NEAR(r.al_ratio, 0.0, 0);
  bm_fusion_result_free(&r);
}

static void test_trust_estimates(void) {
  /* A c0 0.95 (1,1,100,100) with U1 c1 0.4 (1,1,100,95), IoU 0.95 -> A demoted, U1 used.
   * B c0 0.9 and C c0 0.85 far away stay certain; U2 c0 0.5 far away is uncertain.
   * certain = {B, C}: sum 1.75; uncertain = {U1, U2, A} = 3; n' = 5.
   * sl_score' = 1.75 / 5 = 0.35; al_ratio' = 3 / 5 = 0.6.
   * uncertainty (mean certain) = 1 - 1.75 / 2 = 0.125; least confident = 1 - 0.4 = 0.6.
   * No ground truth is given, so the oracle side is irrelevant here. */
  bm_detection dets[] = {det(0, 0.95f, 1, 1, 100, 100), det(1, 0.4f, 1, 1, 100, 95),
                         det(0, 0.9f, 201, 1, 300, 100), det(0, 0.85f, 401, 1, 500, 100),
                         det(0, 0.5f, 601, 1, 700, 100)};
  bm_fusion_result r;
  if (!fuse(dets, 5, NULL, 0, &r)) return;
  CHECK(r.n_certain == 2 && r.n_uncertain == 3 && r.n_demoted == 1);
  CHECK_NEAR(r.certain_score_sum, 1.75, 1e-6);
  CHECK_NEAR(r.sl_score_est, 0.35, 1e-6);
  CHECK_NEAR(r.al_ratio_est, 0.6, 1e-6);
  CHECK_NEAR(r.uncertainty_mean, 0.125, 1e-6);
  CHECK_NEAR(r.uncertainty_least, 0.6, 1e-6);
  /* pseudo-labels: the two surviving certain boxes, highest score first */
  bm_sa_box *pseudo;
  int n_pseudo;
  bm_error err;
  CHECK(bm_fusion_pseudo_labels(&r, &pseudo, &n_pseudo, &err) == 0);
  CHECK(n_pseudo == 2);
  if (n_pseudo == 2) {
    CHECK(pseudo[0].source == BM_SOURCE_PSEUDO && pseudo[0].score == 0.9f);
    CHECK(pseudo[0].object.x1 == 201.0f && pseudo[0].round == 3);
    CHECK(pseudo[1].score == 0.85f);
  }
  bm_free(pseudo);
  bm_fusion_result_free(&r);
  /* n' = 0: sl' = 0 / max(0, 1) = 0, al' = 0; uncertainty 1 (nothing known) */
  if (!fuse(NULL, 0, NULL, 0, &r)) return;
  CHECK_NEAR(r.sl_score_est, 0.0, 0);
  CHECK_NEAR(r.al_ratio_est, 0.0, 0);
  CHECK_NEAR(r.uncertainty_mean, 1.0, 0);
  CHECK_NEAR(r.uncertainty_least, 1.0, 0);
  bm_fusion_result_free(&r);
}

static void test_review_charges(void) {
  /* The worked example: a person opens the image (1), verifies the 3 surviving certain
   * boxes (2 accepted, 1 rejected) and draws the 2 AL boxes. Seconds with the default
   * costs: 2 + 3 x 1.5 + 2 x 7 = 20.5. */
  bm_detection dets[] = {det(0, 0.9f, 1, 1, 100, 100), det(0, 0.85f, 201, 1, 300, 100),
                         det(0, 0.82f, 401, 1, 500, 70), det(0, 0.5f, 801, 1, 900, 100)};
  bm_object gt[] = {obj(0, 1, 1, 100, 100, 0), obj(0, 201, 1, 300, 100, 0),
                    obj(0, 401, 1, 500, 100, 0), obj(0, 601, 1, 700, 100, 0),
                    obj(0, 1001, 1, 1100, 100, 1)};
  bm_fusion_result r;
  if (!fuse(dets, 4, gt, 5, &r)) return;
  bm_ledger ledger;
  bm_error err;
  CHECK(bm_ledger_init(&ledger, 10, NULL, &err) == 0);
  CHECK(bm_ledger_charge_review(&ledger, &r, 3, &err) == 0);
  bm_action_counts c = bm_ledger_image(&ledger, 7);
  CHECK(c.images == 1 && c.verifies == 3 && c.draws == 2);
  CHECK_NEAR(bm_ledger_seconds(&ledger), 20.5, 1e-9);
  long accepted = 0;
  for (long i = 0; i < ledger.n_entries; i++)
    accepted += ledger.entries[i].action == BM_ACTION_VERIFY && ledger.entries[i].accepted;
  CHECK(accepted == 2);
  /* drawing the whole image instead: 1 open + 4 draws (the difficult one is carried) */
  CHECK(bm_ledger_charge_full_draw(&ledger, 8, gt, 5, 3, &err) == 0);
  c = bm_ledger_image(&ledger, 8);
  CHECK(c.images == 1 && c.verifies == 0 && c.draws == 4);
  bm_ledger_free(&ledger);
  bm_fusion_result_free(&r);
}

static void test_bad_input(void) {
  bm_fusion_opts opts;
  bm_fusion_opts_default(&opts);
  bm_fusion_result r;
  bm_error err = {{0}};
  bm_detection nan_score[] = {det(0, NAN, 1, 1, 10, 10)};
  CHECK(bm_fusion_run(&opts, 0, 1, nan_score, 1, NULL, 0, &r, &err) == -1);
  CHECK(strstr(err.msg, "score") != NULL);
  bm_detection big[] = {det(0, 1.5f, 1, 1, 10, 10)};
  CHECK(bm_fusion_run(&opts, 0, 1, big, 1, NULL, 0, &r, &err) == -1);
  bm_detection negative_class[] = {det(-1, 0.9f, 1, 1, 10, 10)};
  CHECK(bm_fusion_run(&opts, 0, 1, negative_class, 1, NULL, 0, &r, &err) == -1);
  bm_detection inf_box[] = {det(0, 0.9f, 1, 1, INFINITY, 10)};
  CHECK(bm_fusion_run(&opts, 0, 1, inf_box, 1, NULL, 0, &r, &err) == -1);
  opts.certain_thre = 0.2f; /* below uncertain_thre */
  CHECK(bm_fusion_run(&opts, 0, 1, NULL, 0, NULL, 0, &r, &err) == -1);
  CHECK(strstr(err.msg, "certain-thre") != NULL);
}

static void test_provenance_xml(void) {
  bm_sa_box box;
  memset(&box, 0, sizeof box);
  box.source = BM_SOURCE_MACHINE;
  box.score = 0.93f;
  box.round = 3;
  bm_buf out;
  bm_buf_init(&out);
  bm_sa_box_provenance_xml(&box, &out);
  CHECK(out.data && !strcmp(out.data, "<provenance>machine</provenance><score>0.9300</score>"
                                      "<round>3</round>"));
  bm_buf_free(&out);
}

int main(void) {
  test_iou_convention();
  test_split_by_score();
  test_rejudge_demotes_on_class_disagreement();
  test_rejudge_keeps_when_one_agrees();
  test_rejudge_iou_threshold();
  test_rejudge_uses_up_in_score_order();
  test_demoted_boxes_do_not_judge();
  test_no_rejudge_without_uncertain();
  test_oracle_highest_iou_one_to_one();
  test_oracle_claimed_gt_rejects_second_box();
  test_oracle_gt_iou_threshold_and_class();
  test_equal_scores_keep_input_order();
  test_equal_iou_claims_first_gt();
  test_difficult_carried_over();
  test_worked_example_scores();
  test_n_zero_rules();
  test_trust_estimates();
  test_review_charges();
  test_bad_input();
  test_provenance_xml();
  return bm_test_finish("test_fusion");
}
