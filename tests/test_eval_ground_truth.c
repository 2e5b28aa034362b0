/* Evaluation sees the ground truth exactly as the XML files give it (bm_eval_load_dataset),
 * as the VOC devkit and pycocotools do: zero-area boxes stay, boxes reaching outside the
 * image are not clipped. A training load (bm_dataset_load) drops and clips them, which would
 * change the numbers; the expected values below are worked out by hand for the as-written
 * boxes, and the training-load values are shown to differ.
 *
 * Image "a" (40 x 30), class "cell", no difficult boxes:
 *   g1  10 10 10 10   a single-pixel click: zero-area, 1 x 1 pixel in VOC's inclusive rule
 *   g2   1  1 20 20
 *   g3  30 20 45 35   reaches outside the image (clipped: 30 20 40 30)
 *   g4  25  5 25  8   zero-area (1 pixel wide, 4 tall), no detection on it
 * Detections: d1 .9 = g1, d2 .8 = g2, d3 .7 = g3 (same boxes).
 *
 * As written. VOC: every detection has IoU 1 with its box: ranking T T T, npos 4, recall
 * .25 .5 .75 at precision 1. VOC12 = .75 (area up to recall .75). VOC07: thresholds 0 .. .7
 * (8 of 11) reach precision 1: 8/11. Same at IoU .75.
 * COCO: bboxes g1 [9,9,1,1] area 1, g2 [0,0,20,20] 400, g3 [29,19,16,16] 256, g4 [24,4,1,4]
 * 4: all "small". IoU 1 everywhere, so at every threshold recall .75 with precision 1: the
 * 76 recall points 0 .. .75 give 1, AP = AP50 = AP75 = AP small = 76/101; medium and large
 * have no ground truth (-1). AR100 = AR10 = AR small = .75; AR1 keeps only d1 (1 detection
 * per image): .25.
 *
 * Training load: g1 and g4 dropped, g3 clipped to [30,40]x[20,30] (11 x 11 pixels). d1 then
 * overlaps only g2 (IoU 1/400): FP; d3 against the clipped g3: 121 / 256 = .47 <= .5: FP.
 * Ranking F T F, npos 2: precision 0 .5 1/3, recall 0 .5 .5: VOC12 = .5 * .5 = .25. */
#include <string.h>

#include "boxmine/bm_eval.h"
#include "testlib.h"

#define TOL 1e-12

typedef struct captured {
  char text[8192];
} captured;

static void capture_warning(void *user, const char *msg) {
  captured *c = user;
  size_t used = strlen(c->text);
  snprintf(c->text + used, sizeof c->text - used, "%s\n", msg);
}

static void write_text(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  bm_error err;
  CHECK_MSG(bm_write_file_atomic(path, text, strlen(text), &err) == 0, "%s", err.msg);
}

static void write_png(const char *dir, const char *name, int width, int height) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  bm_image img = {width, height, 3, bm_calloc((size_t)width * height, 3)};
  bm_error err;
  CHECK_MSG(bm_image_save_png(path, &img, &err) == 0, "%s", err.msg);
  bm_free(img.pixels);
}

/* An annotation of one 40x30 image with "x1 y1 x2 y2" boxes of class cell. */
static void write_xml(const char *dir, const char *id, const char *const *boxes, int n_boxes) {
  char text[4096], name[64];
  int n = snprintf(text, sizeof text,
                   "<annotation>\n<filename>%s.png</filename>\n<size><width>40</width>"
                   "<height>30</height><depth>3</depth></size>\n", id);
  for (int k = 0; k < n_boxes; k++) {
    float x1, y1, x2, y2;
    sscanf(boxes[k], "%f %f %f %f", &x1, &y1, &x2, &y2);
    n += snprintf(text + n, sizeof text - (size_t)n,
                  "<object>\n<name>cell</name>\n<bndbox><xmin>%g</xmin><ymin>%g</ymin>"
                  "<xmax>%g</xmax><ymax>%g</ymax></bndbox>\n</object>\n", x1, y1, x2, y2);
  }
  snprintf(text + n, sizeof text - (size_t)n, "</annotation>\n");
  snprintf(name, sizeof name, "%s.xml", id);
  write_text(dir, name, text);
  snprintf(name, sizeof name, "%s.png", id);
  write_png(dir, name, 40, 30);
}

static void test_boxes_as_written(const char *tmp) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/gt", tmp);
  bm_error err = {{0}};
  CHECK(bm_mkdir_p(dir, &err) == 0);
  const char *boxes[4] = {"10 10 10 10", "1 1 20 20", "30 20 45 35", "25 5 25 8"};
  write_xml(dir, "a", boxes, 4);
  bm_dataset_opts opts = {.root = dir};
  captured warnings = {{0}};
  bm_log log = {capture_warning, &warnings, 0};
  bm_dataset ds;
  int rc = bm_eval_load_dataset(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc != 0) return;
  CHECK(opts.keep_boxes_as_written == 0); /* the caller's options are not changed */
  CHECK(ds.n_objects == 4 && ds.n_boxes_dropped == 0 && ds.n_boxes_clipped == 0);
  if (ds.n_objects == 4) {
    const float want[4][4] = {{10, 10, 10, 10}, {1, 1, 20, 20}, {30, 20, 45, 35}, {25, 5, 25, 8}};
    for (int k = 0; k < 4; k++) {
      const bm_object *o = &ds.objects[k];
      CHECK_MSG(o->x1 == want[k][0] && o->y1 == want[k][1] && o->x2 == want[k][2] &&
                    o->y2 == want[k][3],
                "box %d is (%g %g %g %g)", k, o->x1, o->y1, o->x2, o->y2);
    }
  }
  /* still reported, but kept */
  CHECK(log.n_warnings == 3);
  CHECK(strstr(warnings.text, "a.xml:4: zero-area box (10,10)-(10,10) of class 'cell'; kept"));
  CHECK(strstr(warnings.text, "reaches outside the 40x30 image; kept as written"));

  bm_detections dets = {0, 0, NULL};
  const bm_detection d[3] = {{0, 0, 0.9f, 10, 10, 10, 10},
                             {0, 0, 0.8f, 1, 1, 20, 20},
                             {0, 0, 0.7f, 30, 20, 45, 35}};
  for (int k = 0; k < 3; k++) CHECK(bm_detections_push(&dets, &d[k]) == 0);

  bm_voc_result voc;
  CHECK_MSG(bm_eval_voc(&ds, NULL, 0, &dets, &voc, &err) == 0, "%s", err.msg);
  CHECK(voc.classes[0].npos == 4);
  for (int t = 0; t < BM_VOC_N_IOU; t++) {
    CHECK_NEAR(voc.classes[0].ap12[t], 0.75, TOL);
    CHECK_NEAR(voc.classes[0].ap07[t], 8.0 / 11.0, TOL);
  }
  bm_voc_result_free(&voc);

  bm_coco_result coco;
  CHECK_MSG(bm_eval_coco(&ds, NULL, 0, &dets, &coco, &err) == 0, "%s", err.msg);
  const bm_coco_stats *s = &coco.stats;
  const double got[12] = {s->ap,  s->ap50, s->ap75,  s->ap_small, s->ap_medium, s->ap_large,
                          s->ar1, s->ar10, s->ar100, s->ar_small, s->ar_medium, s->ar_large};
  const double ap = 76.0 / 101.0;
  const double want[12] = {ap, ap, ap, ap, -1, -1, 0.25, 0.75, 0.75, 0.75, -1, -1};
  for (int k = 0; k < 12; k++)
    CHECK_MSG(fabs(got[k] - want[k]) <= TOL, "COCO stat %d = %.15g, want %.15g", k, got[k],
              want[k]);
  bm_coco_result_free(&coco);
  bm_dataset_free(&ds);

  /* The training load of the same folder: dropped and clipped, and a different AP. */
  log.n_warnings = 0;
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc == 0) {
    CHECK(ds.n_objects == 2 && ds.n_boxes_dropped == 2 && ds.n_boxes_clipped == 1);
    CHECK(bm_eval_voc(&ds, NULL, 0, &dets, &voc, &err) == 0);
    CHECK_NEAR(voc.classes[0].ap12[0], 0.25, TOL);
    bm_voc_result_free(&voc);
  }
  bm_dataset_free(&ds);
  bm_detections_free(&dets);
}

/* Only boxes the evaluators cannot use are dropped: a negative pixel-inclusive size
 * (xmax < xmin - 1). xmax = xmin - 1 is zero pixels wide but still a valid (unmatchable)
 * positive for both references. */
static void test_inverted(const char *tmp) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/inverted", tmp);
  bm_error err = {{0}};
  CHECK(bm_mkdir_p(dir, &err) == 0);
  const char *boxes[3] = {"9 5 5 9", "6 5 5 9", "1 1 4 4"};
  write_xml(dir, "b", boxes, 3);
  bm_dataset_opts opts = {.root = dir};
  captured warnings = {{0}};
  bm_log log = {capture_warning, &warnings, 0};
  bm_dataset ds;
  int rc = bm_eval_load_dataset(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc != 0) return;
  CHECK(ds.n_boxes_in_files == 3 && ds.n_objects == 2 && ds.n_boxes_dropped == 1);
  CHECK(ds.n_objects == 2 && ds.objects[0].x1 == 6 && ds.objects[0].x2 == 5);
  CHECK(strstr(warnings.text, "b.xml:4: inverted box (9,5)-(5,9) of class 'cell'; dropped"));
  CHECK(strstr(warnings.text, "zero-area box (6,5)-(5,9) of class 'cell'; kept as written"));
  /* the evaluators accept what was kept: one positive matched, one never matchable */
  bm_detections dets = {0, 0, NULL};
  const bm_detection d = {0, 0, 0.5f, 1, 1, 4, 4};
  CHECK(bm_detections_push(&dets, &d) == 0);
  bm_voc_result voc;
  CHECK_MSG(bm_eval_voc(&ds, NULL, 0, &dets, &voc, &err) == 0, "%s", err.msg);
  CHECK(voc.classes[0].npos == 2);
  CHECK_NEAR(voc.classes[0].ap12[0], 0.5, TOL); /* recall .5 at precision 1 */
  bm_voc_result_free(&voc);
  bm_detections_free(&dets);
  bm_dataset_free(&ds);
}

int main(void) {
  char tmp[512];
  if (!bm_test_tmpdir(tmp, sizeof tmp)) return 1;
  test_boxes_as_written(tmp);
  test_inverted(tmp);
  return bm_test_finish("eval_ground_truth");
}
