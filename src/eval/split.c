/* The evaluated split and the checks both evaluators run before trusting their input; loading
 * the ground truth for evaluation. */
#include <math.h>
#include <string.h>

#include "eval/eval_internal.h"

/* Finite, and not negative in size in the pixel-inclusive convention (width x2 - x1 + 1 >= 0):
 * a COCO box narrower than one pixel maps to x2 < x1, and stays valid. */
static int box_is_valid(float x1, float y1, float x2, float y2) {
  return isfinite(x1) && isfinite(y1) && isfinite(x2) && isfinite(y2) &&
         (double)x2 - (double)x1 + 1.0 >= 0 && (double)y2 - (double)y1 + 1.0 >= 0;
}

int eval_split_init(eval_split *split, const bm_dataset *ds, const int *images, int n_images,
                    bm_error *err) {
  memset(split, 0, sizeof *split);
  if (!images) n_images = ds->n_images;
  if (n_images < 0) return bm_fail(err, "negative split size %d", n_images);
  if (ds->n_classes <= 0) return bm_fail(err, "dataset has no classes");
  split->images = bm_malloc((size_t)n_images * sizeof *split->images);
  split->position = bm_malloc((size_t)ds->n_images * sizeof *split->position);
  if (!split->images || !split->position) {
    eval_split_free(split);
    return bm_fail(err, "out of memory for a split of %d images", n_images);
  }
  for (int i = 0; i < ds->n_images; i++) split->position[i] = -1;
  for (int s = 0; s < n_images; s++) {
    int image = images ? images[s] : s;
    if (image < 0 || image >= ds->n_images) {
      eval_split_free(split);
      return bm_fail(err, "split entry %d: image index %d outside the dataset's %d images", s,
                     image, ds->n_images);
    }
    if (split->position[image] >= 0) {
      eval_split_free(split);
      return bm_fail(err, "split lists image '%s' twice", ds->images[image].id);
    }
    split->position[image] = s;
    split->images[s] = image;
  }
  split->n_images = n_images;
  for (int s = 0; s < n_images; s++) {
    const bm_image_info *info = &ds->images[split->images[s]];
    for (int k = 0; k < info->n_objects; k++) {
      const bm_object *obj = &ds->objects[info->first_object + k];
      if (obj->class_id < 0 || obj->class_id >= ds->n_classes) {
        eval_split_free(split);
        return bm_fail(err, "image '%s': object %d has class %d outside [0, %d)", info->id, k,
                       obj->class_id, ds->n_classes);
      }
      if (!box_is_valid(obj->x1, obj->y1, obj->x2, obj->y2)) {
        eval_split_free(split);
        return bm_fail(err, "image '%s': object %d has an invalid box (%g %g %g %g)", info->id, k,
                       obj->x1, obj->y1, obj->x2, obj->y2);
      }
    }
  }
  return 0;
}

void eval_split_free(eval_split *split) {
  bm_free(split->images);
  bm_free(split->position);
  memset(split, 0, sizeof *split);
}

int eval_check_detections(const bm_dataset *ds, const eval_split *split, const bm_detections *dets,
                          bm_error *err) {
  for (long i = 0; i < dets->n; i++) {
    const bm_detection *det = &dets->items[i];
    if (det->image < 0 || det->image >= ds->n_images)
      return bm_fail(err, "detection %ld: image index %d outside the dataset's %d images", i,
                     det->image, ds->n_images);
    if (split->position[det->image] < 0)
      return bm_fail(err, "detection %ld is on image '%s', which is not in the evaluated split", i,
                     ds->images[det->image].id);
    if (det->class_id < 0 || det->class_id >= ds->n_classes)
      return bm_fail(err, "detection %ld on image '%s': class %d outside [0, %d)", i,
                     ds->images[det->image].id, det->class_id, ds->n_classes);
    if (!isfinite(det->score))
      return bm_fail(err, "detection %ld on image '%s': score is not a finite number", i,
                     ds->images[det->image].id);
    if (!box_is_valid(det->x1, det->y1, det->x2, det->y2))
      return bm_fail(err, "detection %ld on image '%s': invalid box (%g %g %g %g)", i,
                     ds->images[det->image].id, det->x1, det->y1, det->x2, det->y2);
  }
  return 0;
}

int eval_group_by_class(const bm_detections *dets, int n_classes, long **order_out,
                        long **start_out, bm_error *err) {
  long *start = bm_calloc((size_t)n_classes + 1, sizeof *start);
  long *order = bm_malloc((size_t)(dets->n > 0 ? dets->n : 1) * sizeof *order);
  long *fill = bm_malloc((size_t)n_classes * sizeof *fill);
  if (!start || !order || !fill) {
    bm_free(start);
    bm_free(order);
    bm_free(fill);
    return bm_fail(err, "out of memory grouping %ld detections", dets->n);
  }
  /* Counting sort by class: stable, so list order survives inside each class. */
  for (long i = 0; i < dets->n; i++) start[dets->items[i].class_id + 1]++;
  for (int c = 0; c < n_classes; c++) start[c + 1] += start[c];
  memcpy(fill, start, (size_t)n_classes * sizeof *fill);
  for (long i = 0; i < dets->n; i++) order[fill[dets->items[i].class_id]++] = i;
  bm_free(fill);
  *order_out = order;
  *start_out = start;
  return 0;
}

int bm_eval_load_dataset(bm_dataset *ds, const bm_dataset_opts *opts, bm_log *log,
                         bm_error *err) {
  bm_dataset_opts as_written = *opts;
  as_written.keep_boxes_as_written = 1;
  return bm_dataset_load(ds, &as_written, log, err);
}
