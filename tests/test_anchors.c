/* Anchor fitting (bm_anchors.h): shape IoU, coverage, k-means on shapes whose clusters are
 * known, the letterbox scaling of dataset boxes, and the refusals. */
#include <string.h>

#include "boxmine/bm_anchors.h"
#include "testlib.h"

static void test_shape_iou(void) {
  /* 10x10 inside 20x20: 100 / 400 */
  CHECK_NEAR(bm_shape_iou(10, 10, 20, 20), 0.25, 1e-12);
  /* 10x40 and 40x10: overlap 10x10 = 100, union 400 + 400 - 100 = 700 */
  CHECK_NEAR(bm_shape_iou(10, 40, 40, 10), 100.0 / 700.0, 1e-12);
  CHECK_NEAR(bm_shape_iou(7, 3, 7, 3), 1.0, 1e-12);
  CHECK(bm_shape_iou(0, 5, 5, 5) == 0);
  CHECK(bm_shape_iou(5, 5, 5, -1) == 0);
}

static void test_mean_iou(void) {
  float wh[] = {10, 10, 20, 20, 40, 10};
  float anchors[] = {20, 20};
  /* 0.25, 1, and 40x10 vs 20x20: overlap 20x10 = 200, union 400 + 400 - 200 = 600 */
  CHECK_NEAR(bm_anchors_mean_iou(wh, 3, anchors, 1), (0.25 + 1 + 200.0 / 600.0) / 3, 1e-9);
  float two[] = {20, 20, 10, 10}; /* the 10x10 box now has its own anchor */
  CHECK_NEAR(bm_anchors_mean_iou(wh, 3, two, 2), (1 + 1 + 200.0 / 600.0) / 3, 1e-9);
}

/* Three tight clusters around 10x10, 40x20 and 100x100, each shape +-1 px in a pattern
 * whose mean is the centre: k-means must find the centres exactly (to float rounding). */
static void test_kmeans_clusters(void) {
  const float centres[3][2] = {{100, 100}, {10, 10}, {40, 20}};
  const float offsets[4][2] = {{-1, 0}, {1, 0}, {0, -1}, {0, 1}};
  float wh[2 * 12];
  int n = 0;
  for (int c = 0; c < 3; c++)
    for (int o = 0; o < 4; o++, n++) {
      wh[2 * n] = centres[c][0] + offsets[o][0];
      wh[2 * n + 1] = centres[c][1] + offsets[o][1];
    }
  for (int seed = 1; seed <= 5; seed++) {
    bm_rng rng;
    bm_rng_seed(&rng, (uint64_t)seed, 7);
    float anchors[6];
    bm_error err = {{0}};
    CHECK(bm_anchors_kmeans(wh, n, 3, 4, &rng, anchors, &err) == 0);
    /* sorted by area: 10x10 (100), 40x20 (800), 100x100 */
    CHECK_NEAR(anchors[0], 10, 1e-4);
    CHECK_NEAR(anchors[1], 10, 1e-4);
    CHECK_NEAR(anchors[2], 40, 1e-4);
    CHECK_NEAR(anchors[3], 20, 1e-4);
    CHECK_NEAR(anchors[4], 100, 1e-4);
    CHECK_NEAR(anchors[5], 100, 1e-4);
  }
  /* k = n: every shape is its own anchor, coverage 1 */
  bm_rng rng;
  bm_rng_seed(&rng, 3, 7);
  float anchors[24];
  bm_error err = {{0}};
  CHECK(bm_anchors_kmeans(wh, n, n, 1, &rng, anchors, &err) == 0);
  CHECK_NEAR(bm_anchors_mean_iou(wh, n, anchors, n), 1.0, 1e-9);
  for (int j = 1; j < n; j++)
    CHECK(anchors[2 * (j - 1)] * anchors[2 * j - 1] <= anchors[2 * j] * anchors[2 * j + 1]);
}

static void test_refusals(void) {
  float wh[] = {10, 10, 20, 20};
  float anchors[6];
  bm_rng rng;
  bm_rng_seed(&rng, 1, 1);
  bm_error err = {{0}};
  CHECK(bm_anchors_kmeans(wh, 2, 3, 1, &rng, anchors, &err) == -1);
  CHECK(strstr(err.msg, "3 anchors") != NULL);
  CHECK(bm_anchors_kmeans(wh, 2, 0, 1, &rng, anchors, &err) == -1);
  CHECK(bm_anchors_kmeans(wh, 2, 1, 0, &rng, anchors, &err) == -1);
  float bad[] = {10, 10, 0, 20};
  CHECK(bm_anchors_kmeans(bad, 2, 1, 1, &rng, anchors, &err) == -1);
  CHECK(strstr(err.msg, "box 1") != NULL);
}

/* Two images: 640x480 into 320x320 scales by 0.5 (the width limits), 100x400 into 320x320
 * by 0.8 (the height limits). VOC boxes are inclusive: width = x2 - x1 + 1. */
static void test_shapes_from_dataset(void) {
  bm_image_info images[3];
  memset(images, 0, sizeof images);
  images[0].width = 640, images[0].height = 480, images[0].first_object = 0, images[0].n_objects = 2;
  images[1].width = 100, images[1].height = 400, images[1].first_object = 2, images[1].n_objects = 1;
  images[2].width = 0, images[2].height = 0, images[2].first_object = 3, images[2].n_objects = 1;
  bm_object objects[4];
  memset(objects, 0, sizeof objects);
  objects[0].x1 = 1, objects[0].y1 = 1, objects[0].x2 = 100, objects[0].y2 = 50; /* 100x50 */
  objects[1].x1 = 5, objects[1].y1 = 5, objects[1].x2 = 44, objects[1].y2 = 44;
  objects[1].difficult = 1; /* left out */
  objects[2].x1 = 11, objects[2].y1 = 21, objects[2].x2 = 20, objects[2].y2 = 45; /* 10x25 */
  objects[3].x1 = 1, objects[3].y1 = 1, objects[3].x2 = 9, objects[3].y2 = 9; /* size unknown */
  bm_dataset ds;
  memset(&ds, 0, sizeof ds);
  ds.n_images = 3, ds.images = images, ds.n_objects = 4, ds.objects = objects;
  float *wh = NULL;
  int n = 0;
  bm_error err = {{0}};
  CHECK(bm_anchor_shapes(&ds, 320, 320, &wh, &n, &err) == 0);
  CHECK(n == 2);
  if (n == 2) {
    CHECK_NEAR(wh[0], 50, 1e-5);
    CHECK_NEAR(wh[1], 25, 1e-5);
    CHECK_NEAR(wh[2], 8, 1e-5);
    CHECK_NEAR(wh[3], 20, 1e-5);
  }
  bm_free(wh);
  ds.n_images = 1, ds.n_objects = 2;
  objects[0].difficult = 1; /* nothing left */
  CHECK(bm_anchor_shapes(&ds, 320, 320, &wh, &n, &err) == -1);
  CHECK(wh == NULL && n == 0);
}

int main(void) {
  test_shape_iou();
  test_mean_iou();
  test_kmeans_clusters();
  test_refusals();
  test_shapes_from_dataset();
  return bm_test_finish("test_anchors");
}
