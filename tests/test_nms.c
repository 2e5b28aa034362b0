/* IoU and per-class NMS against hand-worked boxes. */
#include <string.h>

#include "boxmine/bm_det.h"
#include "testlib.h"

static bm_detection det(int class_id, float score, float x1, float y1, float x2, float y2) {
  bm_detection d = {0, class_id, score, x1, y1, x2, y2};
  return d;
}

static void test_iou(void) {
  CHECK_NEAR(bm_box_iou(0, 0, 10, 10, 0, 0, 10, 10), 1.0, 1e-7);
  /* overlap 5 x 10 = 50, union 150 */
  CHECK_NEAR(bm_box_iou(0, 0, 10, 10, 5, 0, 15, 10), 50.0 / 150.0, 1e-7);
  /* touching edges: no overlap */
  CHECK(bm_box_iou(0, 0, 10, 10, 10, 0, 20, 10) == 0.0f);
  /* one inside the other: 4 / 100 */
  CHECK_NEAR(bm_box_iou(0, 0, 10, 10, 3, 3, 5, 5), 0.04, 1e-7);
  /* empty or inverted boxes have IoU 0, never NaN */
  CHECK(bm_box_iou(0, 0, 0, 10, 0, 0, 0, 10) == 0.0f);
  CHECK(bm_box_iou(5, 5, 1, 1, 0, 0, 10, 10) == 0.0f);
}

static void test_suppression(void) {
  bm_detection dets[6];
  /* class 0: A (0.9) and B (0.8) overlap 50/150 = 0.333; C (0.7) overlaps A by 90/110 */
  dets[0] = det(0, 0.8f, 5, 0, 15, 10);  /* B */
  dets[1] = det(0, 0.9f, 0, 0, 10, 10);  /* A */
  dets[2] = det(0, 0.7f, 1, 0, 10, 10);  /* C: 90 / 100 = 0.9 with A */
  dets[3] = det(1, 0.95f, 0, 0, 10, 10); /* class 1, same box as A: not suppressed by A */
  dets[4] = det(1, 0.2f, 0, 0, 10, 9);   /* 90 / 100 with the class-1 box: dropped */
  dets[5] = det(2, 0.5f, 50, 50, 60, 60);
  long n = bm_nms_per_class(dets, 6, 0.45f, 0);
  CHECK(n == 4);
  /* sorted by descending score: class-1 0.95, A 0.9, B 0.8, class-2 0.5 */
  CHECK(dets[0].class_id == 1 && dets[0].score == 0.95f);
  CHECK(dets[1].class_id == 0 && dets[1].score == 0.9f && dets[1].x1 == 0);
  CHECK(dets[2].class_id == 0 && dets[2].score == 0.8f && dets[2].x1 == 5);
  CHECK(dets[3].class_id == 2);

  /* at threshold 0.3, B (IoU 0.333 with A) goes too */
  dets[0] = det(0, 0.8f, 5, 0, 15, 10);
  dets[1] = det(0, 0.9f, 0, 0, 10, 10);
  CHECK(bm_nms_per_class(dets, 2, 0.3f, 0) == 1);
  CHECK(dets[0].score == 0.9f);

  /* a suppressed box does not suppress others: A > B > C in a chain where A-B and B-C
   * overlap above the threshold but A-C do not -> A and C survive */
  dets[0] = det(0, 0.9f, 0, 0, 10, 10);
  dets[1] = det(0, 0.8f, 3, 0, 13, 10);  /* 70 / 130 = 0.54 with A */
  dets[2] = det(0, 0.7f, 6, 0, 16, 10);  /* 70 / 130 with B, 40 / 160 = 0.25 with A */
  CHECK(bm_nms_per_class(dets, 3, 0.45f, 0) == 2);
  CHECK(dets[0].score == 0.9f && dets[1].score == 0.7f);
}

static void test_cap_and_ties(void) {
  bm_detection dets[5];
  for (int k = 0; k < 5; k++) dets[k] = det(k % 2, 0.1f * (float)(k + 1), 20.0f * k, 0, 20.0f * k + 10, 10);
  CHECK(bm_nms_per_class(dets, 5, 0.45f, 3) == 3);
  CHECK_NEAR(dets[0].score, 0.5, 1e-6);
  CHECK_NEAR(dets[1].score, 0.4, 1e-6);
  CHECK_NEAR(dets[2].score, 0.3, 1e-6);
  /* equal scores, same class, identical boxes: the earlier one is kept */
  dets[0] = det(0, 0.5f, 0, 0, 10, 10);
  dets[0].image = 1;
  dets[1] = det(0, 0.5f, 0, 0, 10, 10);
  dets[1].image = 2;
  CHECK(bm_nms_per_class(dets, 2, 0.45f, 0) == 1);
  CHECK(dets[0].image == 1);
  dets[0] = det(0, 0.5f, 0, 0, 10, 10);
  dets[0].image = 2;
  dets[1] = det(0, 0.5f, 0, 0, 10, 10);
  dets[1].image = 1;
  CHECK(bm_nms_per_class(dets, 2, 0.45f, 0) == 1);
  CHECK(dets[0].image == 2);
  CHECK(bm_nms_per_class(dets, 0, 0.45f, 0) == 0);
}

int main(void) {
  test_iou();
  test_suppression();
  test_cap_and_ties();
  return bm_test_finish("test_nms");
}
