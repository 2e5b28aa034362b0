/* Detection end to end through a real network whose output is fixed by hand: every weight 0
 * and the last convolution's biases chosen, so every cell predicts the same box. The
 * expected detections (letterbox undone, clipped, NMS, cap, VOC coordinates) are worked out
 * here independently of the detector's code. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_augment.h"
#include "boxmine/bm_det.h"
#include "boxmine/bm_nn.h"
#include "det_fixture.h"
#include "testlib.h"

static float logit(double p) { return (float)log(p / (1 - p)); }

/* Sets every parameter to 0 and the biases of the conv feeding the head: anchor 0 gets
 * x = y = 0.5, raw w = h = 0, objectness obj0, class 0 prob cls0 and class 1 prob cls1; the
 * other anchors objectness 0.001. Batch-norm layers pass zeros through (scale 0, bias 0). */
static void fix_output(bm_detector *det, double obj0, double cls0, double cls1) {
  bm_network *net = bm_detector_net(det);
  memset(bm_net_params(net), 0, bm_net_n_params(net) * sizeof(float));
  int head_layer = bm_detector_head_layer(det, 0), n_groups;
  const bm_param_group *groups = bm_net_param_groups(net, &n_groups);
  float *bias = NULL;
  for (int g = 0; g < n_groups; g++)
    if (groups[g].layer == head_layer - 1 && groups[g].kind == BM_PARAM_CONV_BIAS)
      bias = bm_net_params(net) + groups[g].offset;
  CHECK(bias != NULL);
  if (!bias) return;
  for (int a = 0; a < 3; a++) {
    float *b = bias + a * 7; /* [anchor][x y w h obj cls0 cls1] */
    b[0] = b[1] = 0;         /* logistic(0) = 0.5: centre of the cell */
    b[2] = b[3] = 0;         /* anchor size */
    b[4] = a == 0 ? logit(obj0) : logit(0.001);
    b[5] = logit(cls0);
    b[6] = logit(cls1);
  }
}

typedef struct expected_box {
  float x1, y1, x2, y2;
} expected_box;

/* Boxes of anchor 0 (8 x 20 net pixels at each of the 8 x 8 cell centres) mapped back into
 * a src_w x src_h image letterboxed into 64 x 64, clipped, in VOC coordinates. */
static int expected_boxes(int src_w, int src_h, expected_box *out) {
  double scale = fmin(64.0 / src_w, 64.0 / src_h);
  double pad_x = (64 - src_w * scale) / 2, pad_y = (64 - src_h * scale) / 2;
  int n = 0;
  for (int j = 0; j < 8; j++)
    for (int i = 0; i < 8; i++) {
      double cx = (i + 0.5) * 8, cy = (j + 0.5) * 8;
      double x1 = (cx - 4 - pad_x) / scale, x2 = (cx + 4 - pad_x) / scale;
      double y1 = (cy - 10 - pad_y) / scale, y2 = (cy + 10 - pad_y) / scale;
      x1 = fmax(x1, 0), y1 = fmax(y1, 0), x2 = fmin(x2, src_w), y2 = fmin(y2, src_h);
      if (!(x2 > x1 && y2 > y1)) continue;
      out[n++] = (expected_box){(float)(x1 + 1), (float)(y1 + 1), (float)x2, (float)y2};
    }
  return n;
}

static int find_box(const bm_detections *dets, long from, long to, int class_id, const expected_box *e) {
  for (long d = from; d < to; d++) {
    const bm_detection *x = &dets->items[d];
    if (x->class_id == class_id && fabsf(x->x1 - e->x1) < 1e-3f && fabsf(x->y1 - e->y1) < 1e-3f &&
        fabsf(x->x2 - e->x2) < 1e-3f && fabsf(x->y2 - e->y2) < 1e-3f)
      return 1;
  }
  return 0;
}

static void test_fixed_output(void) {
  bm_detector *det;
  bm_rng rng;
  bm_rng_seed(&rng, 1, 1);
  bm_error err;
  CHECK(bm_detector_create(&det, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, 2,
                           &rng, NULL, &err) == 0);
  fix_output(det, 0.9, 0.8, 0.1);
  /* a 128 x 64 black image: scale 0.5, 16 rows of padding above and below */
  bm_image img = {128, 64, 3, calloc(128 * 64 * 3, 1)};
  bm_detections dets = {0};
  bm_detect_opts opts = bm_detect_defaults();
  opts.max_dets = 1000;
  CHECK(bm_detector_detect_image(det, &img, &opts, 3, &dets, &err) == 0);
  expected_box expected[64];
  int n_expected = expected_boxes(128, 64, expected);
  /* the picture covers net rows 16..48; boxes are 20 tall, so row j = 0 (y -6..14) and row
   * j = 7 (y 50..70) lie wholly in the padding and are dropped: 6 rows of 8 */
  CHECK(n_expected == 48);
  /* first with NMS off (nms 1 keeps everything) */
  bm_detections all = {0};
  opts.nms = 1.0f;
  CHECK(bm_detector_detect_image(det, &img, &opts, 3, &all, &err) == 0);
  /* classes 0 (0.9 * 0.8 = 0.72) and 1 (0.9 * 0.1 = 0.09); the other anchors score at most
   * 0.001 * 0.8 < 0.005 */
  CHECK(all.n == 2 * n_expected);
  for (int k = 0; k < n_expected; k++) {
    CHECK_MSG(find_box(&all, 0, all.n, 0, &expected[k]), "box %d (%.2f %.2f %.2f %.2f) class 0",
              k, expected[k].x1, expected[k].y1, expected[k].x2, expected[k].y2);
    CHECK(find_box(&all, 0, all.n, 1, &expected[k]));
  }
  for (long d = 0; d < all.n; d++) {
    CHECK(all.items[d].image == 3);
    CHECK_NEAR(all.items[d].score, all.items[d].class_id == 0 ? 0.72 : 0.09, 1e-5);
    if (d > 0) CHECK(all.items[d].score <= all.items[d - 1].score);
  }
  /* the cap keeps the best boxes: all 48 of class 0, then 2 of class 1 */
  bm_detections capped = {0};
  opts.max_dets = 50;
  CHECK(bm_detector_detect_image(det, &img, &opts, 3, &capped, &err) == 0);
  CHECK(capped.n == 50);
  long n_class0 = 0;
  for (long d = 0; d < capped.n; d++) n_class0 += capped.items[d].class_id == 0;
  CHECK(n_class0 == 48);
  /* the score floor */
  bm_detections floor_dets = {0};
  opts.max_dets = 100;
  opts.thresh = 0.5f;
  CHECK(bm_detector_detect_image(det, &img, &opts, 3, &floor_dets, &err) == 0);
  CHECK(floor_dets.n == n_expected);
  /* with NMS at 0.45, boxes of one class overlapping a better one by more are dropped:
   * count them independently (all scores are equal, so the order is the cell order) */
  bm_detections nms_dets = {0};
  opts.thresh = 0.5f;
  opts.nms = 0.45f;
  CHECK(bm_detector_detect_image(det, &img, &opts, 3, &nms_dets, &err) == 0);
  int kept_flags[64] = {0}, n_kept = 0;
  /* expected[] is in cell order (j, then i), the detector's order for equal scores */
  for (int k = 0; k < n_expected; k++) {
    int drop = 0;
    for (int m = 0; m < k && !drop; m++) {
      if (!kept_flags[m]) continue;
      bm_box a = bm_box_from_voc((bm_box){expected[k].x1, expected[k].y1, expected[k].x2, expected[k].y2});
      bm_box b = bm_box_from_voc((bm_box){expected[m].x1, expected[m].y1, expected[m].x2, expected[m].y2});
      float iw = fminf(a.x2, b.x2) - fmaxf(a.x1, b.x1), ih = fminf(a.y2, b.y2) - fmaxf(a.y1, b.y1);
      if (iw <= 0 || ih <= 0) continue;
      float inter = iw * ih;
      float iou = inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter);
      drop = iou > 0.45f;
    }
    kept_flags[k] = !drop;
    n_kept += !drop;
  }
  CHECK_MSG(nms_dets.n == n_kept, "NMS kept %ld, expected %d", nms_dets.n, n_kept);
  CHECK(n_kept < n_expected); /* the clipped edge rows do overlap more than 0.45 */
  bm_detections_free(&dets);
  bm_detections_free(&all);
  bm_detections_free(&capped);
  bm_detections_free(&floor_dets);
  bm_detections_free(&nms_dets);
  free(img.pixels);
  bm_detector_free(det);
}

/* The same through a dataset on disk (loader thread, batches with padding). */
static void test_dataset(void) {
  char dir[512], root[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(root, sizeof root, "%s/fixture", dir);
  CHECK(fixture_write(root, 3, 96, 48, 5) == 0);
  bm_dataset ds;
  bm_error err;
  CHECK(fixture_load(root, &ds, &err) == 0);
  bm_detector *det;
  bm_rng rng;
  bm_rng_seed(&rng, 1, 1);
  CHECK(bm_detector_create(&det, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, 2,
                           &rng, NULL, &err) == 0);
  CHECK(bm_detector_check_classes(det, &ds, &err) == 0);
  fix_output(det, 0.9, 0.8, 0.1);
  bm_detect_opts opts = bm_detect_defaults();
  opts.thresh = 0.5f;
  opts.nms = 1.0f;
  bm_detections dets = {0};
  int split[3] = {2, 0, 1}; /* two batches of 2, the second padded */
  CHECK(bm_detector_detect_dataset(det, &ds, split, 3, &opts, NULL, NULL, &dets, &err) == 0);
  expected_box expected[64];
  int n_expected = expected_boxes(96, 48, expected);
  CHECK(dets.n == 3 * n_expected);
  /* in split order, each image's boxes together */
  for (long d = 0; d < dets.n; d++) CHECK(dets.items[d].image == split[d / n_expected]);
  for (int k = 0; k < n_expected; k++)
    for (int img = 0; img < 3; img++)
      CHECK(find_box(&dets, (long)img * n_expected, (long)(img + 1) * n_expected, 0, &expected[k]));
  bm_detections_free(&dets);
  bm_detector_free(det);
  bm_dataset_free(&ds);
}

int main(void) {
  test_fixed_output();
  test_dataset();
  return bm_test_finish("test_yolo_detect");
}
