/* COCO instances JSON from a dataset, written so that pycocotools evaluates it exactly like
 * boxmine's own COCO evaluator (src/eval/coco_ap.c, docs/METRICS.md):
 *
 * - VOC boxes are 1-based and pixel-inclusive; COCO's are 0-based, continuous [x, y, w, h]
 *   with the pixel grid's corners at integers. Pixel column xmin (1-based) starts at
 *   x = xmin - 1 and column xmax ends at xmax, so x = xmin - 1 and w = xmax - xmin + 1 (same
 *   for y, h). The area is w * h.
 * - Difficult boxes get iscrowd 1: pycocotools ignores a ground truth only through iscrowd
 *   (it overwrites "ignore" with it), and boxmine's evaluator treats difficult as crowd.
 *   "ignore" is written equal to iscrowd for evaluators that read it.
 * - Image ids follow bm_coco_image_id over the images of the file: the number the id spells
 *   when every id of the file has one and no two coincide, otherwise the id string, as
 *   bm_write_coco_results and the evaluator do for the same set of images.
 * - Category id = class index + 1, annotation id = object index + 1; file_name is the
 *   image's name in the converted folder (<id>.<source extension>). */
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_convert.h"
#include "boxmine/bm_eval.h"
#include "data/data_internal.h"

static void put_image_id(bm_buf *json, const char *voc_id, int numeric) {
  long long number;
  if (numeric && bm_coco_image_id(voc_id, &number)) bm_buf_printf(json, "%lld", number);
  else bm_buf_json_string(json, voc_id);
}

static void put_annotation(bm_buf *json, const bm_dataset *ds, int image_index, int numeric_ids,
                           int k, int *first) {
  const bm_object *obj = &ds->objects[k];
  double x = (double)obj->x1 - 1, y = (double)obj->y1 - 1;
  double w = (double)obj->x2 - obj->x1 + 1, h = (double)obj->y2 - obj->y1 + 1;
  bm_buf_puts(json, *first ? "\n" : ",\n");
  *first = 0;
  bm_buf_printf(json, "    {\"id\": %d, \"image_id\": ", k + 1);
  put_image_id(json, ds->images[image_index].id, numeric_ids);
  bm_buf_printf(json, ", \"category_id\": %d, \"bbox\": [", obj->class_id + 1);
  bm_buf_json_number(json, x);
  bm_buf_puts(json, ", ");
  bm_buf_json_number(json, y);
  bm_buf_puts(json, ", ");
  bm_buf_json_number(json, w);
  bm_buf_puts(json, ", ");
  bm_buf_json_number(json, h);
  bm_buf_puts(json, "], \"area\": ");
  bm_buf_json_number(json, w * h);
  /* the box as a polygon, for tools that expect a segmentation */
  bm_buf_puts(json, ", \"segmentation\": [[");
  double corners[8] = {x, y, x + w, y, x + w, y + h, x, y + h};
  for (int i = 0; i < 8; i++) {
    if (i) bm_buf_puts(json, ", ");
    bm_buf_json_number(json, corners[i]);
  }
  int crowd = obj->difficult ? 1 : 0;
  bm_buf_printf(json, "]], \"iscrowd\": %d, \"ignore\": %d, \"truncated\": %d}", crowd, crowd,
                obj->truncated ? 1 : 0);
}

int bm_coco_write_json(const bm_dataset *ds, const int *images, int n_images, const char *path,
                       bm_error *err) {
  if (!images) n_images = ds->n_images;
  for (int n = 0; n < n_images; n++)
    if (images && (images[n] < 0 || images[n] >= ds->n_images))
      return bm_fail(err, "%s: image index %d outside the dataset", path, images[n]);
  int numeric_ids = bm_coco_ids_are_numbers(ds, images, n_images);
  if (numeric_ids < 0) return bm_fail(err, "%s: out of memory", path);
  bm_buf json;
  bm_buf_init(&json);
  bm_buf_puts(&json, "{\n  \"info\": {\"description\": ");
  bm_buf_json_string(&json, ds->root ? ds->root : "");
  bm_buf_puts(&json, ", \"version\": \"1.0\", \"contributor\": \"boxmine convert\"},\n"
                     "  \"licenses\": [],\n  \"images\": [");
  for (int n = 0; n < n_images; n++) {
    const bm_image_info *img = &ds->images[images ? images[n] : n];
    bm_buf_printf(&json, "%s\n    {\"id\": ", n ? "," : "");
    put_image_id(&json, img->id, numeric_ids);
    /* the name the image has in OUT/coco/images */
    char *file_name = bm_convert_image_name(img);
    if (!file_name) json.failed = 1;
    bm_buf_puts(&json, ", \"file_name\": ");
    bm_buf_json_string(&json, file_name ? file_name : "");
    bm_free(file_name);
    bm_buf_printf(&json, ", \"width\": %d, \"height\": %d}", img->width, img->height);
  }
  bm_buf_puts(&json, "\n  ],\n  \"annotations\": [");
  int first = 1;
  for (int n = 0; n < n_images; n++) {
    int i = images ? images[n] : n;
    const bm_image_info *img = &ds->images[i];
    for (int k = img->first_object; k < img->first_object + img->n_objects; k++)
      put_annotation(&json, ds, i, numeric_ids, k, &first);
  }
  bm_buf_puts(&json, "\n  ],\n  \"categories\": [");
  for (int c = 0; c < ds->n_classes; c++) {
    bm_buf_printf(&json, "%s\n    {\"id\": %d, \"name\": ", c ? "," : "", c + 1);
    bm_buf_json_string(&json, ds->class_names[c]);
    bm_buf_puts(&json, ", \"supercategory\": \"none\"}");
  }
  bm_buf_puts(&json, "\n  ]\n}\n");
  int status = json.failed ? bm_fail(err, "%s: out of memory", path)
                           : bm_write_file_atomic(path, json.data, json.len, err);
  bm_buf_free(&json);
  return status;
}
