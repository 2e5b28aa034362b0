/* Small hand-built datasets for the evaluation tests (header-only, static helpers). */
#ifndef BM_EVAL_FIXTURE_H
#define BM_EVAL_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_eval.h"

typedef struct fixture {
  bm_dataset ds;
  bm_detections dets;
} fixture;

/* classes: n names; images are added with fixture_image, then boxes with fixture_box. */
static void fixture_init(fixture *f, int n_classes, const char *const *class_names) {
  memset(f, 0, sizeof *f);
  f->ds.n_classes = n_classes;
  f->ds.class_names = calloc((size_t)n_classes, sizeof *f->ds.class_names);
  for (int c = 0; c < n_classes; c++) f->ds.class_names[c] = bm_strdup(class_names[c]);
  f->ds.images = calloc(64, sizeof *f->ds.images);
  f->ds.objects = calloc(256, sizeof *f->ds.objects);
}

/* Adds an image; its objects are the boxes added until the next image. Returns its index. */
static int fixture_image(fixture *f, const char *id) {
  bm_image_info *info = &f->ds.images[f->ds.n_images];
  info->id = bm_strdup(id);
  info->width = 500;
  info->height = 400;
  info->depth = 3;
  info->first_object = f->ds.n_objects;
  return f->ds.n_images++;
}

static void fixture_box(fixture *f, int class_id, float x1, float y1, float x2, float y2,
                        int difficult) {
  bm_object *obj = &f->ds.objects[f->ds.n_objects++];
  obj->class_id = class_id;
  obj->x1 = x1;
  obj->y1 = y1;
  obj->x2 = x2;
  obj->y2 = y2;
  obj->difficult = difficult;
  f->ds.images[f->ds.n_images - 1].n_objects++;
}

static void fixture_det(fixture *f, int image, int class_id, float score, float x1, float y1,
                        float x2, float y2) {
  bm_detection det = {image, class_id, score, x1, y1, x2, y2};
  bm_detections_push(&f->dets, &det);
}

static void fixture_free(fixture *f) {
  for (int i = 0; i < f->ds.n_images; i++) bm_free(f->ds.images[i].id);
  for (int c = 0; c < f->ds.n_classes; c++) bm_free(f->ds.class_names[c]);
  free(f->ds.images);
  free(f->ds.objects);
  free(f->ds.class_names);
  bm_detections_free(&f->dets);
  memset(f, 0, sizeof *f);
}

#endif
