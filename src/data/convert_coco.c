/* COCO instances JSON from a dataset.
 *
 * VOC boxes are 1-based and pixel-inclusive; COCO's are 0-based, continuous [x, y, w, h] with
 * the pixel grid's corners at integers. Pixel column xmin (1-based) starts at x = xmin - 1 and
 * column xmax ends at xmax, so x = xmin - 1 and w = xmax - xmin + 1 (same for y, h). The area
 * is w * h. Difficult boxes get iscrowd 0 (they are single objects, not crowds) and an extra
 * "ignore": 1, which ignore-aware evaluators honour; pycocotools overwrites "ignore" with
 * iscrowd and so scores them as ordinary boxes. */
#include <string.h>

#include "boxmine/bm_convert.h"
#include "data/data_internal.h"

static const char *file_name_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static void put_annotation(bm_buf *json, const bm_dataset *ds, int image_index, int k,
                           int *first) {
  const bm_object *obj = &ds->objects[k];
  double x = (double)obj->x1 - 1, y = (double)obj->y1 - 1;
  double w = (double)obj->x2 - obj->x1 + 1, h = (double)obj->y2 - obj->y1 + 1;
  bm_buf_puts(json, *first ? "\n" : ",\n");
  *first = 0;
  bm_buf_printf(json, "    {\"id\": %d, \"image_id\": %d, \"category_id\": %d, \"bbox\": [", k + 1,
                image_index + 1, obj->class_id + 1);
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
  bm_buf_printf(json, "]], \"iscrowd\": 0, \"ignore\": %d, \"truncated\": %d}",
                obj->difficult ? 1 : 0, obj->truncated ? 1 : 0);
}

int bm_coco_write_json(const bm_dataset *ds, const int *images, int n_images, const char *path,
                       bm_error *err) {
  if (!images) n_images = ds->n_images;
  bm_buf json;
  bm_buf_init(&json);
  bm_buf_puts(&json, "{\n  \"info\": {\"description\": ");
  bm_buf_json_string(&json, ds->root ? ds->root : "");
  bm_buf_puts(&json, ", \"version\": \"1.0\", \"contributor\": \"boxmine convert\"},\n"
                     "  \"licenses\": [],\n  \"images\": [");
  for (int n = 0; n < n_images; n++) {
    int i = images ? images[n] : n;
    if (i < 0 || i >= ds->n_images) {
      bm_buf_free(&json);
      return bm_fail(err, "%s: image index %d outside the dataset", path, i);
    }
    const bm_image_info *img = &ds->images[i];
    bm_buf_printf(&json, "%s\n    {\"id\": %d, \"file_name\": ", n ? "," : "", i + 1);
    bm_buf_json_string(&json, file_name_of(img->image_path));
    bm_buf_printf(&json, ", \"width\": %d, \"height\": %d}", img->width, img->height);
  }
  bm_buf_puts(&json, "\n  ],\n  \"annotations\": [");
  int first = 1;
  for (int n = 0; n < n_images; n++) {
    int i = images ? images[n] : n;
    const bm_image_info *img = &ds->images[i];
    for (int k = img->first_object; k < img->first_object + img->n_objects; k++)
      put_annotation(&json, ds, i, k, &first);
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
