/* VOC and COCO evaluation against reference numbers on randomised cases.
 *
 * tests/golden/eval_reference.json was produced by tests/eval_reference.py, an independent
 * NumPy re-implementation of py-faster-rcnn's voc_eval (with the devkit's stable ranking and
 * exact 11-point thresholds) and of pycocotools' COCOeval (pycocotools itself is not packaged
 * for Debian). The cases include score ties, duplicates, difficult boxes, images without
 * objects, a class without positives, string and numeric image ids, and more than 100
 * detections on one image. Each case is also written as VOC results files and as COCO
 * results JSON, read back, and evaluated again: the numbers must not move. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_eval.h"
#include "boxmine/bm_json.h"
#include "testlib.h"

#define TOL 1e-9

typedef struct test_case {
  bm_dataset ds;
  bm_detections dets;
  const bm_json *json;
} test_case;

static void free_case(test_case *tc) {
  for (int i = 0; i < tc->ds.n_images; i++) bm_free(tc->ds.images[i].id);
  for (int c = 0; c < tc->ds.n_classes; c++) bm_free(tc->ds.class_names[c]);
  bm_free(tc->ds.images);
  bm_free(tc->ds.objects);
  bm_free(tc->ds.class_names);
  bm_detections_free(&tc->dets);
}

static float num(const bm_json *array, int i) {
  return (float)bm_json_number(bm_json_at(array, i), NAN);
}

static void load_case(const bm_json *json, test_case *tc) {
  memset(tc, 0, sizeof *tc);
  tc->json = json;
  const bm_json *classes = bm_json_get(json, "classes");
  const bm_json *images = bm_json_get(json, "images");
  const bm_json *dets = bm_json_get(json, "detections");
  bm_dataset *ds = &tc->ds;
  ds->n_classes = bm_json_len(classes);
  ds->class_names = calloc((size_t)ds->n_classes, sizeof *ds->class_names);
  for (int c = 0; c < ds->n_classes; c++)
    ds->class_names[c] = bm_strdup(bm_json_string(bm_json_at(classes, c)));
  ds->n_images = bm_json_len(images);
  ds->images = calloc((size_t)ds->n_images, sizeof *ds->images);
  int n_objects = 0;
  for (int i = 0; i < ds->n_images; i++)
    n_objects += bm_json_len(bm_json_get(bm_json_at(images, i), "objects"));
  ds->objects = calloc((size_t)n_objects + 1, sizeof *ds->objects);
  for (int i = 0; i < ds->n_images; i++) {
    const bm_json *img = bm_json_at(images, i);
    const bm_json *objects = bm_json_get(img, "objects");
    ds->images[i].id = bm_strdup(bm_json_string(bm_json_get(img, "id")));
    ds->images[i].width = 500;
    ds->images[i].height = 400;
    ds->images[i].first_object = ds->n_objects;
    ds->images[i].n_objects = bm_json_len(objects);
    for (int k = 0; k < bm_json_len(objects); k++) {
      const bm_json *o = bm_json_at(objects, k);
      bm_object *obj = &ds->objects[ds->n_objects++];
      obj->class_id = (int)num(o, 0);
      obj->x1 = num(o, 1);
      obj->y1 = num(o, 2);
      obj->x2 = num(o, 3);
      obj->y2 = num(o, 4);
      obj->difficult = (int)num(o, 5);
    }
  }
  for (int k = 0; k < bm_json_len(dets); k++) {
    const bm_json *d = bm_json_at(dets, k);
    bm_detection det = {(int)num(d, 0), (int)num(d, 1), num(d, 2), num(d, 3),
                        num(d, 4),      num(d, 5),      num(d, 6)};
    bm_detections_push(&tc->dets, &det);
  }
}

/* null in the reference means "no positives": the C side reports NAN. */
static void check_value(const char *what, const char *name, int c, double got,
                        const bm_json *want) {
  if (!want || want->type == BM_JSON_NULL) {
    CHECK_MSG(isnan(got), "%s %s class %d: %.12g, want no value", name, what, c, got);
    return;
  }
  CHECK_MSG(fabs(got - want->number) <= TOL, "%s %s class %d: %.12g, want %.12g", name, what, c,
            got, want->number);
}

static void check_voc(const test_case *tc, const bm_voc_result *r, const char *name) {
  const bm_json *voc = bm_json_get(tc->json, "voc");
  const bm_json *per_class = bm_json_get(voc, "per_class");
  CHECK(r->n_classes == bm_json_len(per_class));
  for (int c = 0; c < r->n_classes && c < bm_json_len(per_class); c++) {
    const bm_json *want = bm_json_at(per_class, c);
    CHECK_MSG(r->classes[c].npos == (long)bm_json_number(bm_json_get(want, "npos"), -1),
              "%s class %d npos %ld", name, c, r->classes[c].npos);
    for (int t = 0; t < BM_VOC_N_IOU; t++) {
      check_value(t ? "ap07@0.75" : "ap07@0.5", name, c, r->classes[c].ap07[t],
                  bm_json_at(bm_json_get(want, "ap07"), t));
      check_value(t ? "ap12@0.75" : "ap12@0.5", name, c, r->classes[c].ap12[t],
                  bm_json_at(bm_json_get(want, "ap12"), t));
    }
  }
  for (int t = 0; t < BM_VOC_N_IOU; t++) {
    check_value("mAP07", name, -1, r->map07[t], bm_json_at(bm_json_get(voc, "map07"), t));
    check_value("mAP12", name, -1, r->map12[t], bm_json_at(bm_json_get(voc, "map12"), t));
  }
}

static void check_coco(const test_case *tc, const bm_coco_result *r, const char *name) {
  const bm_json *coco = bm_json_get(tc->json, "coco");
  const bm_json *stats = bm_json_get(coco, "stats");
  const double got[12] = {r->stats.ap,       r->stats.ap50,      r->stats.ap75,
                          r->stats.ap_small, r->stats.ap_medium, r->stats.ap_large,
                          r->stats.ar1,      r->stats.ar10,      r->stats.ar100,
                          r->stats.ar_small, r->stats.ar_medium, r->stats.ar_large};
  static const char *names[12] = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                  "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
  CHECK(bm_json_len(stats) == 12);
  for (int k = 0; k < 12; k++) check_value(names[k], name, -1, got[k], bm_json_at(stats, k));
  const bm_json *per_class = bm_json_get(coco, "per_class");
  for (int c = 0; c < r->n_classes; c++) {
    const bm_json *want = bm_json_at(per_class, c);
    check_value("coco ap", name, c, r->classes[c].ap, bm_json_at(want, 0));
    check_value("coco ap50", name, c, r->classes[c].ap50, bm_json_at(want, 1));
    check_value("coco ap75", name, c, r->classes[c].ap75, bm_json_at(want, 2));
  }
}

static void run_case(const bm_json *json) {
  test_case tc;
  load_case(json, &tc);
  const char *name = bm_json_string(bm_json_get(json, "name"));
  bm_error err = {{0}};
  bm_voc_result voc;
  bm_coco_result coco;
  CHECK_MSG(bm_eval_voc(&tc.ds, NULL, 0, &tc.dets, &voc, &err) == 0, "%s: %s", name, err.msg);
  check_voc(&tc, &voc, name);
  bm_voc_result_free(&voc);
  CHECK_MSG(bm_eval_coco(&tc.ds, NULL, 0, &tc.dets, &coco, &err) == 0, "%s: %s", name, err.msg);
  check_coco(&tc, &coco, name);
  bm_coco_result_free(&coco);

  /* Round trip through the VOC results files. Files hold one class each, so the list order
   * changes; ties are then broken differently, but only between detections of different
   * classes, which never meet. */
  char dir[512], path[700];
  bm_test_tmpdir(dir, sizeof dir);
  bm_log quiet = {NULL, NULL, 0};
  bm_detections back = {0, 0, NULL};
  CHECK_MSG(bm_write_voc_results(dir, "test", &tc.ds, &tc.dets, &err) == 0, "%s", err.msg);
  CHECK_MSG(bm_read_voc_results(dir, "test", &tc.ds, &back, &quiet, &err) == 0, "%s", err.msg);
  CHECK(back.n == tc.dets.n && quiet.n_warnings == 0);
  CHECK(bm_eval_voc(&tc.ds, NULL, 0, &back, &voc, &err) == 0);
  check_voc(&tc, &voc, name);
  bm_voc_result_free(&voc);
  CHECK(bm_eval_coco(&tc.ds, NULL, 0, &back, &coco, &err) == 0);
  check_coco(&tc, &coco, name);
  bm_coco_result_free(&coco);
  bm_detections_free(&back);

  /* Round trip through COCO results JSON: same order, every value exactly back. */
  snprintf(path, sizeof path, "%s/results.json", dir);
  CHECK_MSG(bm_write_coco_results(path, &tc.ds, &tc.dets, &err) == 0, "%s", err.msg);
  CHECK_MSG(bm_read_coco_results(path, &tc.ds, &back, &err) == 0, "%s", err.msg);
  CHECK(back.n == tc.dets.n);
  for (long i = 0; i < back.n && i < tc.dets.n; i++)
    CHECK_MSG(memcmp(&back.items[i], &tc.dets.items[i], sizeof back.items[i]) == 0,
              "%s: detection %ld changed through COCO JSON", name, i);
  CHECK(bm_eval_coco(&tc.ds, NULL, 0, &back, &coco, &err) == 0);
  check_coco(&tc, &coco, name);
  bm_coco_result_free(&coco);
  bm_detections_free(&back);
  free_case(&tc);
}

int main(void) {
  char path[1024];
  bm_test_source("tests/golden/eval_reference.json", path, sizeof path);
  bm_json root;
  bm_error err = {{0}};
  CHECK_MSG(bm_json_parse_file(path, &root, &err) == 0, "%s", err.msg);
  const bm_json *cases = bm_json_get(&root, "cases");
  CHECK(bm_json_len(cases) >= 5);
  for (int i = 0; i < bm_json_len(cases); i++) run_case(bm_json_at(cases, i));
  bm_json_free(&root);
  return bm_test_finish("test_eval_reference");
}
