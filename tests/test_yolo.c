/* The YOLO head: gradients of the loss checked by central finite differences on the head's
 * pre-activation inputs (through the logistic), the anchor/mask/ignore/difficult rules
 * checked against hand-worked cases, box-loss values against hand-computed IoU geometry,
 * and decoding against hand-placed predictions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_det.h"
#include "testlib.h"

static float logistic(float z) { return 1.0f / (1.0f + expf(-z)); }

/* Channels that go through the logistic: x, y, objectness, classes (not w, h). */
static int is_logistic_channel(int c) { return c != 2 && c != 3; }

/* out = activation(z) for a [batch][h][w][n_anchors][5 + C] tensor */
static void activate(const bm_yolo_head *head, int batch, const float *z, float *out) {
  int entries = 5 + head->n_classes;
  size_t n = (size_t)batch * head->h * head->w * head->n_anchors * entries;
  for (size_t k = 0; k < n; k++) out[k] = is_logistic_channel((int)(k % entries)) ? logistic(z[k]) : z[k];
}

/* offset of channel c of anchor a at cell (i, j) of image b */
static size_t at(const bm_yolo_head *head, int b, int i, int j, int a, int c) {
  return ((((size_t)b * head->h + j) * head->w + i) * head->n_anchors + a) * (5 + head->n_classes) + c;
}

static double loss_of(const bm_yolo_head *head, int batch, const float *z, float *out,
                      float *grad, const bm_yolo_truth *truths, const int *start,
                      bm_yolo_loss_parts *parts) {
  activate(head, batch, z, out);
  return bm_yolo_loss(head, out, batch, truths, start, grad, parts);
}

static const float anchors[8] = {10, 14, 23, 27, 37, 58, 81, 82};
static const int mask[2] = {1, 2};

static void small_head(bm_yolo_head *head, bm_iou_loss kind) {
  bm_yolo_head_defaults(head);
  head->w = 4;
  head->h = 3;
  head->n_anchors = 2;
  head->n_classes = 3;
  head->num = 4;
  head->anchors = anchors;
  head->mask = mask;
  head->net_w = 128;
  head->net_h = 96;
  head->ignore_thresh = 0.5f;
  head->iou_loss = kind;
}

/* Finite differences of the loss against the analytic gradient, for every input. */
static void check_gradient(bm_iou_loss kind, float scale_x_y, int neighbors, unsigned seed) {
  bm_yolo_head head;
  small_head(&head, kind);
  head.scale_x_y = scale_x_y;
  head.neighbors = neighbors;
  head.iou_normalizer = 0.75f;
  const int batch = 2;
  size_t n = (size_t)batch * head.n_anchors * (5 + head.n_classes) * head.w * head.h;
  float *z = malloc(n * sizeof *z), *out = malloc(n * sizeof *out);
  float *grad = calloc(n, sizeof *grad), *scratch = calloc(n, sizeof *scratch);
  bm_rng rng;
  bm_rng_seed(&rng, seed, 1);
  for (size_t k = 0; k < n; k++) z[k] = 1.2f * bm_rng_normal(&rng);
  /* image 0: three truths (anchor 1, anchor 2, one difficult); image 1: one truth whose best
   * anchor (3) is outside the mask, one at anchor 1 */
  bm_yolo_truth truths[5] = {
      {0.30f, 0.40f, 23.5f / 128, 26.0f / 96, 0, 0},
      {0.70f, 0.55f, 36.0f / 128, 60.0f / 96, 2, 0},
      {0.55f, 0.20f, 20.0f / 128, 30.0f / 96, 1, 1},
      {0.45f, 0.50f, 80.0f / 128, 84.0f / 96, 1, 0},
      {0.12f, 0.85f, 22.0f / 128, 28.0f / 96, 2, 0},
  };
  int start[3] = {0, 3, 5};
  bm_yolo_loss_parts parts, parts_plus, parts_minus;
  loss_of(&head, batch, z, out, grad, truths, start, &parts);
  /* truths 0, 1 and 4; not the difficult one, not anchor 3. With neighbours on the 4 x 3
   * grid: truth 0 (grid 1.2, 1.2) also at cells (0, 1) and (1, 0); truth 1 (2.8, 1.65) at
   * (3, 1) and (2, 2); truth 4 (0.48, 2.55) has its neighbours off the grid. */
  CHECK(parts.n_pos == (neighbors ? 7 : 3));
  CHECK(parts.n_truths == 4);
  int entries = 5 + head.n_classes;
  const double eps = 1e-2;
  int checked = 0, skipped = 0, retried = 0;
  double worst = 0;
  for (size_t k = 0; k < n; k++) {
    int channel = (int)(k % entries);
    /* analytic gradient on the pre-activation: chain through the logistic */
    double analytic = grad[k];
    if (is_logistic_channel(channel)) analytic *= out[k] * (1.0 - out[k]);
    /* GIoU and CIoU have kinks (min / max of box edges): when a nudge of eps crosses one,
     * the difference is retried once with eps / 10, which must then agree */
    double numeric = 0, error = 0;
    int crosses_ignore = 0;
    for (double step = eps; step >= eps / 10; step /= 10) {
      float saved = z[k];
      z[k] = saved + (float)step;
      double plus = loss_of(&head, batch, z, out, scratch, truths, start, &parts_plus);
      z[k] = saved - (float)step;
      double minus = loss_of(&head, batch, z, out, scratch, truths, start, &parts_minus);
      z[k] = saved;
      /* the ignore rule is a step function: skip inputs whose nudge crosses it */
      crosses_ignore = parts_plus.n_ignored != parts.n_ignored || parts_minus.n_ignored != parts.n_ignored;
      numeric = (plus - minus) / (2 * step);
      error = fabs(numeric - analytic);
      if (crosses_ignore || error <= 2e-4 + 1e-3 * fabs(numeric)) break;
      if (step < eps) break;
      retried++;
    }
    if (crosses_ignore) {
      skipped++;
      continue;
    }
    if (error > worst) worst = error;
    CHECK_MSG(error <= 2e-4 + 1e-3 * fabs(numeric), "loss %d input %zu channel %d: analytic %g numeric %g",
              (int)kind, k, channel, analytic, numeric);
    checked++;
  }
  CHECK(skipped < (int)n / 20);
  CHECK(retried < (int)n / 20);
  CHECK(checked > 0);
  printf("gradient check (iou_loss %d, scale_x_y %.2f, neighbors %d): %d inputs, %d skipped, %d retried, "
         "worst abs error %.2e\n", (int)kind, scale_x_y, neighbors, checked, skipped, retried, worst);
  free(z);
  free(out);
  free(grad);
  free(scratch);
}

/* A 1x1 grid with one anchor: every number below is worked out by hand. */
static void one_cell_head(bm_yolo_head *head, const float *one_anchor, const int *one_mask) {
  bm_yolo_head_defaults(head);
  head->w = head->h = 1;
  head->n_anchors = 1;
  head->n_classes = 2;
  head->num = 1;
  head->anchors = one_anchor;
  head->mask = one_mask;
  head->net_w = head->net_h = 100;
}

static void test_mse_value(void) {
  static const float one_anchor[2] = {50, 50};
  static const int one_mask[1] = {0};
  bm_yolo_head head;
  one_cell_head(&head, one_anchor, one_mask);
  /* prediction: x = 0.5, y = 0.25, w raw 0 (0.5 wide), h raw 0, objectness 0.8, classes 0.3 0.6 */
  float out[7] = {0.5f, 0.25f, 0.0f, 0.0f, 0.8f, 0.3f, 0.6f};
  float grad[7] = {0};
  /* truth: centre (0.4, 0.5), size 0.25 x 1.0, class 1 */
  bm_yolo_truth truth = {0.4f, 0.5f, 0.25f, 1.0f, 1, 0};
  int start[2] = {0, 1};
  bm_yolo_loss_parts parts;
  double loss = bm_yolo_loss(&head, out, 1, &truth, start, grad, &parts);
  double scale = 2 - 0.25;
  double tw = log(0.25 * 100 / 50), th = log(1.0 * 100 / 50);
  double box = 0.5 * scale * ((0.5 - 0.4) * (0.5 - 0.4) + (0.25 - 0.5) * (0.25 - 0.5) + tw * tw + th * th);
  double obj = -log(0.8);
  double cls = -log(1 - 0.3) - log(0.6);
  CHECK(parts.n_pos == 1);
  CHECK_NEAR(parts.box, box, 1e-5);
  CHECK_NEAR(parts.obj, obj, 1e-6);
  CHECK_NEAR(parts.cls, cls, 1e-6);
  CHECK_NEAR(loss, box + obj + cls, 1e-5);
  CHECK_NEAR(grad[0], scale * (0.5 - 0.4), 1e-5);
  CHECK_NEAR(grad[2], scale * (0 - tw), 1e-5);
  /* BCE gradient times the logistic derivative is p - target */
  CHECK_NEAR(grad[4] * 0.8 * 0.2, 0.8 - 1, 1e-5);
  CHECK_NEAR(grad[5] * 0.3 * 0.7, 0.3 - 0, 1e-5);
  CHECK_NEAR(grad[6] * 0.6 * 0.4, 0.6 - 1, 1e-5);
  /* the predicted box is [0.25, 0.75] x [0, 0.5]; the truth [0.275, 0.525] x [0, 1]:
   * x overlap 0.25, y overlap 0.5 */
  double inter = 0.25 * 0.5, uni = 0.25 + 0.25 - inter;
  CHECK_NEAR(parts.iou_sum, inter / uni, 1e-5);
}

/* obj_iou: the same prediction and truth as test_mse_value; the objectness target becomes
 * the IoU worked out there (0.125 / 0.375 = 1/3) instead of 1. */
static void test_obj_iou_target(void) {
  static const float one_anchor[2] = {50, 50};
  static const int one_mask[1] = {0};
  bm_yolo_head head;
  one_cell_head(&head, one_anchor, one_mask);
  head.obj_iou = 1;
  float out[7] = {0.5f, 0.25f, 0.0f, 0.0f, 0.8f, 0.3f, 0.6f};
  float grad[7] = {0};
  bm_yolo_truth truth = {0.4f, 0.5f, 0.25f, 1.0f, 1, 0};
  int start[2] = {0, 1};
  bm_yolo_loss_parts parts;
  bm_yolo_loss(&head, out, 1, &truth, start, grad, &parts);
  double iou = 1.0 / 3.0;
  CHECK_NEAR(parts.obj, -(iou * log(0.8) + (1 - iou) * log(0.2)), 1e-5);
  CHECK_NEAR(grad[4] * 0.8 * 0.2, 0.8 - iou, 1e-5);
  /* the class and box terms do not change */
  CHECK_NEAR(grad[6] * 0.6 * 0.4, 0.6 - 1, 1e-5);
  /* the cfg key reaches the head */
  bm_error err;
  bm_network *net;
  CHECK(bm_net_create_from_text(&net, "[net]\nwidth=32\nheight=32\nchannels=3\n"
                                "[convolutional]\nfilters=6\nsize=1\nactivation=linear\n"
                                "[yolo]\nclasses=1\nnum=1\nanchors=8,8\nobj_iou=1\n",
                                "obj_iou.cfg", 1, NULL, &err) == 0);
  CHECK(bm_net_layer(net, 1)->yolo.obj_iou == 1);
  bm_net_free(net);
}

static void test_iou_loss_values(void) {
  static const float one_anchor[2] = {50, 50};
  static const int one_mask[1] = {0};
  bm_yolo_head head;
  one_cell_head(&head, one_anchor, one_mask);
  int start[2] = {0, 1};
  bm_yolo_loss_parts parts;
  float grad[7] = {0};
  /* prediction centre (0.5, 0.5), 0.5 x 0.5 = box [0.25, 0.75]^2 */
  float out[7] = {0.5f, 0.5f, 0.0f, 0.0f, 0.5f, 0.5f, 0.5f};
  /* truth [0.5, 1.0] x [0.5, 1.0]: intersection 0.0625, union 0.4375, enclosure 0.5625 */
  bm_yolo_truth truth = {0.75f, 0.75f, 0.5f, 0.5f, 0, 0};
  head.iou_loss = BM_IOU_LOSS_GIOU;
  bm_yolo_loss(&head, out, 1, &truth, start, grad, &parts);
  double iou = 0.0625 / 0.4375, giou = iou - (0.5625 - 0.4375) / 0.5625;
  CHECK_NEAR(parts.box, 1 - giou, 1e-5);
  CHECK_NEAR(parts.iou_sum, iou, 1e-5);
  /* CIoU of the same pair: same aspect (v = 0); centre distance^2 = 0.125, enclosure
   * diagonal^2 = 0.75^2 * 2 */
  head.iou_loss = BM_IOU_LOSS_CIOU;
  bm_yolo_loss(&head, out, 1, &truth, start, grad, &parts);
  CHECK_NEAR(parts.box, 1 - iou + 0.125 / (2 * 0.5625), 1e-5);
  /* CIoU with a taller truth at the same centre: rho = 0, IoU = 0.25 / 0.5 (0.5 x 1 box),
   * v = 4 / pi^2 * (atan(0.5) - atan(1))^2, alpha = v / (1 - IoU + v) */
  bm_yolo_truth tall = {0.5f, 0.5f, 0.5f, 1.0f, 0, 0};
  bm_yolo_loss(&head, out, 1, &tall, start, grad, &parts);
  double v = 4 / (M_PI * M_PI) * pow(atan(0.5) - atan(1.0), 2);
  double iou_tall = 0.25 / 0.5;
  CHECK_NEAR(parts.box, 1 - iou_tall + v * v / (1 - iou_tall + v), 1e-5);
}

/* Every prediction of image 0: logistic 0.5 for x and y, raw w/h 0 (the anchor's size),
 * objectness 0.3, every class 0.5. */
static void fill_predictions(const bm_yolo_head *head, float *out) {
  for (int j = 0; j < head->h; j++)
    for (int i = 0; i < head->w; i++)
      for (int a = 0; a < head->n_anchors; a++) {
        out[at(head, 0, i, j, a, 0)] = 0.5f;
        out[at(head, 0, i, j, a, 1)] = 0.5f;
        out[at(head, 0, i, j, a, 4)] = 0.3f;
        for (int c = 0; c < head->n_classes; c++) out[at(head, 0, i, j, a, 5 + c)] = 0.5f;
      }
}

/* Which prediction becomes a positive, and which get no objectness gradient. */
static void test_assignment_rules(void) {
  bm_yolo_head head;
  small_head(&head, BM_IOU_LOSS_MSE);
  size_t n = (size_t)head.n_anchors * (5 + head.n_classes) * head.w * head.h;
  float *out = calloc(n, sizeof *out), *grad = calloc(n, sizeof *grad);
  /* every prediction: centred in its cell, raw w/h 0 (anchor size), objectness 0.3 */
  fill_predictions(&head, out);
  /* A truth of anchor 2's exact shape (37 x 58) with centre in cell column 2, row 1:
   * anchor 2 is mask entry 1. */
  bm_yolo_truth truths[3] = {{(2 + 0.5f) / 4, (1 + 0.5f) / 3, 37.0f / 128, 58.0f / 96, 2, 0}};
  int start[2] = {0, 1};
  bm_yolo_loss_parts parts;
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(parts.n_pos == 1);
  size_t obj_pos = at(&head, 0, 2, 1, 1, 4);
  CHECK_NEAR(grad[obj_pos] * 0.3 * 0.7, 0.3 - 1, 1e-5);
  /* the prediction at the same cell with anchor 1 (23 x 27) overlaps the truth with IoU
   * 23*27 / (37*58) = 0.289 < 0.5: a negative */
  size_t obj_other = at(&head, 0, 2, 1, 0, 4);
  CHECK_NEAR(grad[obj_other] * 0.3 * 0.7, 0.3, 1e-5);
  /* the positive's exact box matches: x, y, w, h gradients are 0 */
  for (int c = 0; c < 4; c++) CHECK_NEAR(grad[at(&head, 0, 2, 1, 1, c)], 0, 1e-5);

  /* iou_thresh 0.25: the anchor-1 prediction (shape IoU 621 / 2146 = 0.289 with the truth)
   * becomes a positive as well; at 0.3 it does not */
  memset(grad, 0, n * sizeof *grad);
  head.iou_thresh = 0.25f;
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(parts.n_pos == 2);
  CHECK_NEAR(grad[obj_other] * 0.3 * 0.7, 0.3 - 1, 1e-5);
  head.iou_thresh = 0.3f;
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(parts.n_pos == 1);
  head.iou_thresh = 1.0f;

  /* The same truth at anchor 0's shape (10 x 14): anchor 0 is not in the mask -> no
   * positive here. The prediction of anchor 1 at that cell has IoU 140 / 621 = 0.225 with
   * it: a negative. */
  memset(grad, 0, n * sizeof *grad);
  truths[0].w = 10.0f / 128;
  truths[0].h = 14.0f / 96;
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(parts.n_pos == 0);
  CHECK_NEAR(grad[obj_other] * 0.3 * 0.7, 0.3, 1e-5);

  /* Ignore: a 25 x 28 truth at cell (2, 1): its best anchor is 1 (IoU 621 / 700), so the
   * positive is mask entry 0. The mask-1 prediction there (37 x 58, same centre) overlaps
   * it with IoU 700 / 2146 = 0.326: a negative at ignore_thresh 0.5, ignored at 0.3. */
  memset(grad, 0, n * sizeof *grad);
  truths[0].w = 25.0f / 128;
  truths[0].h = 28.0f / 96;
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(parts.n_pos == 1);
  CHECK_NEAR(grad[obj_pos] * 0.3 * 0.7, 0.3, 1e-5); /* mask-1 anchor: IoU 0.326 < 0.5 */
  memset(grad, 0, n * sizeof *grad);
  head.ignore_thresh = 0.3f;
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(grad[obj_pos] == 0.0f);
  CHECK(parts.n_ignored == 1);
  head.ignore_thresh = 0.5f;

  /* Difficult: the exact anchor-2-shaped truth marked difficult gives no positive, and the
   * prediction matching it (IoU 1 > ignore_thresh) gets no objectness gradient; the
   * anchor-1 prediction at that cell (IoU 0.289) is still a negative. */
  memset(grad, 0, n * sizeof *grad);
  truths[0].w = 37.0f / 128;
  truths[0].h = 58.0f / 96;
  truths[0].difficult = 1;
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(parts.n_pos == 0);
  CHECK(parts.n_truths == 0);
  CHECK(grad[obj_pos] == 0.0f);
  CHECK_NEAR(grad[obj_other] * 0.3 * 0.7, 0.3, 1e-5);
  for (int c = 0; c < 4; c++) CHECK(grad[at(&head, 0, 2, 1, 1, c)] == 0.0f);

  /* truth_thresh below 1: a prediction whose best IoU with a non-difficult truth is above it
   * becomes a positive too. At 0.9 only the exact match qualifies (already the positive);
   * at 0 every overlapping prediction does, e.g. the anchor-1 one at that cell (0.289). */
  memset(grad, 0, n * sizeof *grad);
  truths[0].difficult = 0;
  head.truth_thresh = 0.9f;
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(parts.n_pos == 1);
  head.truth_thresh = 0.0f; /* every prediction overlapping the truth at all */
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(parts.n_pos > 1);
  free(out);
  free(grad);
}

/* neighbors=1 with scale_x_y 2, worked by hand on the 4 x 3 grid (cells 32 x 32 pixels of a
 * 128 x 96 input). */
static void test_neighbour_assignment(void) {
  bm_yolo_head head;
  small_head(&head, BM_IOU_LOSS_MSE);
  head.scale_x_y = 2.0f;
  head.neighbors = 1;
  size_t n = (size_t)head.n_anchors * (5 + head.n_classes) * head.w * head.h;
  float *out = calloc(n, sizeof *out), *grad = calloc(n, sizeof *grad);
  /* every prediction: logistic 0.5 for x, y (centred: 2 * 0.5 - 0.5 = 0.5), raw w/h 0,
   * objectness 0.3, classes 0.5 */
  fill_predictions(&head, out);
  /* Truth A: anchor 2's shape (mask entry 1), centre at grid (2.3, 1.8): own cell (2, 1),
   * x in the first half -> also column 1, y in the second half -> also row 2. */
  bm_yolo_truth truths[2] = {{2.3f / 4, 1.8f / 3, 37.0f / 128, 58.0f / 96, 2, 0}};
  int start[2] = {0, 1};
  /* the prediction at the left neighbour (1, 1) placed exactly on the centre: x target
   * 2.3 - 1 = 1.3 = 2 * 0.9 - 0.5, y target 1.8 - 1 = 0.8 = 2 * 0.65 - 0.5 */
  out[at(&head, 0, 1, 1, 1, 0)] = 0.9f;
  out[at(&head, 0, 1, 1, 1, 1)] = 0.65f;
  bm_yolo_loss_parts parts;
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(parts.n_pos == 3);
  const int pos_cells[3][2] = {{2, 1}, {1, 1}, {2, 2}};
  for (int k = 0; k < 3; k++) {
    int i = pos_cells[k][0], j = pos_cells[k][1];
    CHECK_NEAR(grad[at(&head, 0, i, j, 1, 4)] * 0.3 * 0.7, 0.3 - 1, 1e-5);
    CHECK_NEAR(grad[at(&head, 0, i, j, 1, 5 + 2)] * 0.25, 0.5 - 1, 1e-5); /* class 2 */
    CHECK_NEAR(grad[at(&head, 0, i, j, 1, 5 + 0)] * 0.25, 0.5, 1e-5);
  }
  /* exact box at (1, 1): no box gradient */
  for (int c = 0; c < 4; c++) CHECK_NEAR(grad[at(&head, 0, 1, 1, 1, c)], 0, 1e-5);
  /* the down neighbour (2, 2) predicts y = 0.5 against target 1.8 - 2 = -0.2:
   * d/dy' = (2 - w h) * (0.5 - (-0.2)) * 2 (scale_x_y), with x target 0.3 likewise */
  double area_scale = 2.0 - (37.0 / 128) * (58.0 / 96);
  CHECK_NEAR(grad[at(&head, 0, 2, 2, 1, 1)], area_scale * 0.7 * 2, 1e-4);
  CHECK_NEAR(grad[at(&head, 0, 2, 2, 1, 0)], area_scale * 0.2 * 2, 1e-4);
  /* the far neighbours (3, 1) and (2, 0) are not positives, and negatives: (3, 1)'s box
   * ([93.5, 130.5] in x) misses the truth's ([55.1, 92.1]); (2, 0)'s overlaps it by
   * 30.6 x 16.4 pixels, IoU 502 / 3790 = 0.13 < ignore_thresh 0.5 */
  CHECK_NEAR(grad[at(&head, 0, 3, 1, 1, 4)] * 0.3 * 0.7, 0.3, 1e-5);
  CHECK_NEAR(grad[at(&head, 0, 2, 0, 1, 4)] * 0.3 * 0.7, 0.3, 1e-5);
  /* neighbors off: only the own cell */
  head.neighbors = 0;
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  CHECK(parts.n_pos == 1);
  head.neighbors = 1;

  /* Precedence: truth B (class 0) with its centre in cell (1, 1), listed BEFORE A. At (1, 1)
   * B is an own-cell truth and A only a neighbour's, so B wins although A comes later. */
  truths[1] = truths[0];
  truths[0] = (bm_yolo_truth){1.6f / 4, 1.5f / 3, 37.0f / 128, 58.0f / 96, 0, 0};
  start[1] = 2;
  memset(grad, 0, n * sizeof *grad);
  bm_yolo_loss(&head, out, 1, truths, start, grad, &parts);
  /* B: own (1, 1), right neighbour (2, 1) taken by A's own cell; y at exactly 0.5: none.
   * A: (2, 1), (2, 2); (1, 1) lost to B. Distinct positives: (1, 1), (2, 1), (2, 2). */
  CHECK(parts.n_pos == 3);
  CHECK_NEAR(grad[at(&head, 0, 1, 1, 1, 5 + 0)] * 0.25, 0.5 - 1, 1e-5); /* B's class 0 */
  CHECK_NEAR(grad[at(&head, 0, 1, 1, 1, 5 + 2)] * 0.25, 0.5, 1e-5);
  CHECK_NEAR(grad[at(&head, 0, 2, 1, 1, 5 + 2)] * 0.25, 0.5 - 1, 1e-5); /* A's own cell */
  CHECK_NEAR(grad[at(&head, 0, 2, 1, 1, 5 + 0)] * 0.25, 0.5, 1e-5);

  /* Edges: a truth at grid (0.2, 2.9) is in cell (0, 2); its nearest neighbours would be
   * column -1 and row 3, both off the grid: one positive. At (0.7, 2.1): column 1 and row 1. */
  bm_yolo_truth edge = {0.2f / 4, 2.9f / 3, 37.0f / 128, 58.0f / 96, 1, 0};
  start[1] = 1;
  bm_yolo_loss(&head, out, 1, &edge, start, grad, &parts);
  CHECK(parts.n_pos == 1);
  edge.cx = 0.7f / 4;
  edge.cy = 2.1f / 3;
  memset(grad, 0, n * sizeof *grad);
  bm_yolo_loss(&head, out, 1, &edge, start, grad, &parts);
  CHECK(parts.n_pos == 3);
  CHECK_NEAR(grad[at(&head, 0, 1, 2, 1, 4)] * 0.3 * 0.7, 0.3 - 1, 1e-5);
  CHECK_NEAR(grad[at(&head, 0, 0, 1, 1, 4)] * 0.3 * 0.7, 0.3 - 1, 1e-5);

  /* with iou_thresh 0.25 the anchor-1 predictions (shape IoU 0.289) join at all three cells */
  head.iou_thresh = 0.25f;
  bm_yolo_loss(&head, out, 1, &edge, start, grad, &parts);
  CHECK(parts.n_pos == 6);
  free(out);
  free(grad);
}

static void test_decode(void) {
  bm_yolo_head head;
  small_head(&head, BM_IOU_LOSS_MSE);
  size_t n = (size_t)head.n_anchors * (5 + head.n_classes) * head.w * head.h;
  float *out = calloc(n, sizeof *out);
  /* one confident prediction: mask entry 1 (anchor 2, 37 x 58), cell column 3 row 2,
   * x 0.25, y 0.75, raw w log 2, raw h 0, objectness 0.9, classes 0.1 0.8 0.02 */
  float values[8] = {0.25f, 0.75f, logf(2.0f), 0.0f, 0.9f, 0.1f, 0.8f, 0.02f};
  for (int c = 0; c < 8; c++) out[at(&head, 0, 3, 2, 1, c)] = values[c];
  bm_detections dets = {0};
  bm_error err;
  CHECK(bm_yolo_decode(&head, out, 0.05f, 7, &dets, &err) == 0);
  CHECK(dets.n == 2); /* 0.9*0.1 = 0.09 and 0.9*0.8 = 0.72 pass; 0.9*0.02 does not */
  /* centre: ((3 + 0.25) / 4 * 128, (2 + 0.75) / 3 * 96) = (104, 88); size 74 x 58 */
  for (long k = 0; k < dets.n; k++) {
    CHECK(dets.items[k].image == 7);
    CHECK_NEAR(dets.items[k].x1, 104 - 37, 1e-3);
    CHECK_NEAR(dets.items[k].x2, 104 + 37, 1e-3);
    CHECK_NEAR(dets.items[k].y1, 88 - 29, 1e-3);
    CHECK_NEAR(dets.items[k].y2, 88 + 29, 1e-3);
  }
  CHECK(dets.items[0].class_id == 0 && dets.items[1].class_id == 1);
  CHECK_NEAR(dets.items[0].score, 0.09, 1e-6);
  CHECK_NEAR(dets.items[1].score, 0.72, 1e-6);
  bm_detections_free(&dets);
  CHECK(bm_yolo_decode(&head, out, 0.8f, 0, &dets, &err) == 0);
  CHECK(dets.n == 0);
  bm_detections_free(&dets);
  free(out);
}

/* Decoding with scale_x_y 2: x = 2 * 0.9 - 0.5 = 1.3 and y = 2 * 0.1 - 0.5 = -0.3 cells
 * from the corner of cell (3, 2): centre (4.3 / 4 * 128, 1.7 / 3 * 96) = (137.6, 54.4). */
static void test_decode_scale_x_y(void) {
  bm_yolo_head head;
  small_head(&head, BM_IOU_LOSS_MSE);
  head.scale_x_y = 2.0f;
  size_t n = (size_t)head.n_anchors * (5 + head.n_classes) * head.w * head.h;
  float *out = calloc(n, sizeof *out);
  float values[8] = {0.9f, 0.1f, 0.0f, 0.0f, 0.9f, 0.9f, 0.0f, 0.0f};
  for (int c = 0; c < 8; c++) out[at(&head, 0, 3, 2, 1, c)] = values[c];
  bm_detections dets = {0};
  bm_error err;
  CHECK(bm_yolo_decode(&head, out, 0.5f, 0, &dets, &err) == 0);
  CHECK(dets.n == 1);
  if (dets.n == 1) {
    CHECK_NEAR(dets.items[0].x1, 137.6 - 18.5, 1e-3);
    CHECK_NEAR(dets.items[0].x2, 137.6 + 18.5, 1e-3);
    CHECK_NEAR(dets.items[0].y1, 54.4 - 29, 1e-3);
    CHECK_NEAR(dets.items[0].y2, 54.4 + 29, 1e-3);
  }
  bm_detections_free(&dets);
  free(out);
}

int main(void) {
  test_obj_iou_target();
  check_gradient(BM_IOU_LOSS_MSE, 1.0f, 0, 1);
  check_gradient(BM_IOU_LOSS_GIOU, 1.0f, 0, 2);
  check_gradient(BM_IOU_LOSS_CIOU, 1.0f, 0, 3);
  check_gradient(BM_IOU_LOSS_MSE, 1.1f, 0, 4);
  check_gradient(BM_IOU_LOSS_CIOU, 1.05f, 0, 5);
  check_gradient(BM_IOU_LOSS_MSE, 2.0f, 0, 6);
  check_gradient(BM_IOU_LOSS_MSE, 2.0f, 1, 7);
  check_gradient(BM_IOU_LOSS_GIOU, 2.0f, 1, 8);
  check_gradient(BM_IOU_LOSS_CIOU, 2.0f, 1, 9);
  test_mse_value();
  test_iou_loss_values();
  test_assignment_rules();
  test_neighbour_assignment();
  test_decode();
  test_decode_scale_x_y();
  return bm_test_finish("test_yolo");
}
