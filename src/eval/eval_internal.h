/* Pieces shared by the VOC and COCO evaluators: the split, input checks, grouping by class. */
#ifndef BM_EVAL_INTERNAL_H
#define BM_EVAL_INTERNAL_H

#include "boxmine/bm_eval.h"

typedef struct eval_split {
  int n_images;  /* images in the split */
  int *images;   /* [n_images] dataset image index of each split position */
  int *position; /* [ds->n_images] split position of each dataset image, or -1 */
} eval_split;

/* Builds the split (NULL/0 = every image), checking indices are in range and not repeated,
 * and that every ground-truth box of the split has a valid class and a finite box whose
 * pixel-inclusive width and height (x2 - x1 + 1, y2 - y1 + 1) are not negative. */
int eval_split_init(eval_split *split, const bm_dataset *ds, const int *images, int n_images,
                    bm_error *err);
void eval_split_free(eval_split *split);

/* Checks every detection: image inside the split, class in range, finite score, and a box
 * valid as for ground truth. The error names the detection and, for images, the image id. */
int eval_check_detections(const bm_dataset *ds, const eval_split *split, const bm_detections *dets,
                          bm_error *err);

/* Detection indices grouped by class, keeping list order inside a class:
 * class c owns order[start[c] .. start[c + 1]). Both arrays are new (bm_free). */
int eval_group_by_class(const bm_detections *dets, int n_classes, long **order, long **start,
                        bm_error *err);

#endif
