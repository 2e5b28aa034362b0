/* PASCAL VOC average precision with the rules of the devkit's VOCevaldet.m and
 * py-faster-rcnn's voc_eval (docs/METRICS.md has them in full):
 *  - boxes are pixel-inclusive: widths, heights and areas get +1;
 *  - detections of a class are ranked by score, ties kept in list order (stable);
 *  - each detection takes the ground-truth box of its class and image with the highest IoU
 *    (the first one on equal IoU); IoU > threshold and box unused: true positive; box already
 *    used: false positive; IoU <= threshold (or no box at all): false positive; best box
 *    difficult: ignored;
 *  - difficult boxes are not positives.
 * All arithmetic is in double, in the same order as voc_eval's NumPy code. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_internal.h"

const double bm_voc_iou_thresholds[BM_VOC_N_IOU] = {0.5, 0.75};

void bm_voc_ap_of_ranking(const unsigned char *outcome, long n, long npos, double *ap07,
                          double *ap12) {
  /* first_at[k]: first rank whose recall tp/npos is >= k/10, compared exactly in integers
   * (10 * tp >= k * npos) as the devkit's thresholds 0:0.1:1 intend; n when never reached. */
  long first_at[11];
  long tp_total = 0, fp_total = 0;
  int next_k = 0;
  for (long i = 0; i < n; i++) {
    if (outcome[i] == BM_VOC_TRUE_POSITIVE) tp_total++;
    else if (outcome[i] == BM_VOC_FALSE_POSITIVE) fp_total++;
    while (next_k <= 10 && 10 * tp_total >= (long)next_k * npos) first_at[next_k++] = i;
  }
  while (next_k <= 10) first_at[next_k++] = n;

  /* Walk the ranking backwards keeping the precision envelope (the best precision at this
   * rank or any later one). The 11-point value at threshold k is the envelope at first_at[k];
   * the area adds (recall step) * envelope wherever recall rises, i.e. at true positives. */
  double p_at[11] = {0};
  double area = 0, envelope = 0;
  long tp = tp_total, fp = fp_total;
  int k = 10;
  while (k >= 0 && first_at[k] == n) k--; /* thresholds never reached keep precision 0 */
  for (long i = n - 1; i >= 0; i--) {
    double tp_d = (double)tp, fp_d = (double)fp;
    double sum = tp_d + fp_d;
    double precision = tp_d / (sum > 2.220446049250313e-16 ? sum : 2.220446049250313e-16);
    if (precision > envelope) envelope = precision;
    while (k >= 0 && first_at[k] == i) p_at[k--] = envelope;
    if (outcome[i] == BM_VOC_TRUE_POSITIVE) {
      /* recall before this rank is (tp - 1) / npos; the step is computed as voc_eval does */
      double recall = tp_d / (double)npos, recall_before = (tp_d - 1) / (double)npos;
      area += (recall - recall_before) * envelope;
      tp--;
    } else if (outcome[i] == BM_VOC_FALSE_POSITIVE) {
      fp--;
    }
  }
  if (ap07) {
    double sum = 0;
    for (int t = 0; t <= 10; t++) sum += p_at[t] / 11.0;
    *ap07 = sum;
  }
  if (ap12) *ap12 = area;
}

/* IoU of a detection with a ground-truth box, pixel-inclusive, in voc_eval's order. */
static double voc_iou(const bm_detection *det, const bm_object *gt) {
  double bx1 = det->x1, by1 = det->y1, bx2 = det->x2, by2 = det->y2;
  double gx1 = gt->x1, gy1 = gt->y1, gx2 = gt->x2, gy2 = gt->y2;
  double ixmin = gx1 > bx1 ? gx1 : bx1, iymin = gy1 > by1 ? gy1 : by1;
  double ixmax = gx2 < bx2 ? gx2 : bx2, iymax = gy2 < by2 ? gy2 : by2;
  double iw = ixmax - ixmin + 1.0, ih = iymax - iymin + 1.0;
  if (iw < 0) iw = 0;
  if (ih < 0) ih = 0;
  double inters = iw * ih;
  double uni =
      (bx2 - bx1 + 1.0) * (by2 - by1 + 1.0) + (gx2 - gx1 + 1.0) * (gy2 - gy1 + 1.0) - inters;
  return inters / uni;
}

typedef struct ranked_det {
  float score;
  long index; /* position in the detection list: the tie-break that makes the sort stable */
} ranked_det;

static int by_score_then_index(const void *a, const void *b) {
  const ranked_det *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

/* Evaluates one class. used[t][object] marks boxes already taken at threshold t; an object
 * belongs to one class, so the marks of other classes never interfere and need no reset. */
static int eval_class(const bm_dataset *ds, const bm_detections *dets, const long *members,
                      long n_members, int class_id, unsigned char *used[BM_VOC_N_IOU],
                      bm_voc_class_ap *out, bm_error *err) {
  out->n_detections = n_members;
  for (int t = 0; t < BM_VOC_N_IOU; t++) out->ap07[t] = out->ap12[t] = NAN;
  if (out->npos == 0) return 0;
  ranked_det *ranked = bm_malloc((size_t)(n_members ? n_members : 1) * sizeof *ranked);
  unsigned char *outcome = bm_malloc((size_t)(n_members ? n_members : 1) * BM_VOC_N_IOU);
  if (!ranked || !outcome) {
    bm_free(ranked);
    bm_free(outcome);
    return bm_fail(err, "out of memory ranking %ld detections of class '%s'", n_members,
                   ds->class_names[class_id]);
  }
  for (long i = 0; i < n_members; i++) {
    ranked[i].score = dets->items[members[i]].score;
    ranked[i].index = members[i];
  }
  qsort(ranked, (size_t)n_members, sizeof *ranked, by_score_then_index);

  for (long r = 0; r < n_members; r++) {
    const bm_detection *det = &dets->items[ranked[r].index];
    const bm_image_info *info = &ds->images[det->image];
    double best_iou = -INFINITY;
    long best_object = -1;
    for (int k = 0; k < info->n_objects; k++) {
      long object = info->first_object + k;
      if (ds->objects[object].class_id != class_id) continue;
      double iou = voc_iou(det, &ds->objects[object]);
      if (iou > best_iou) { /* strict: the first box wins a tie, like np.argmax */
        best_iou = iou;
        best_object = object;
      }
    }
    for (int t = 0; t < BM_VOC_N_IOU; t++) {
      unsigned char result = BM_VOC_FALSE_POSITIVE;
      if (best_object >= 0 && best_iou > bm_voc_iou_thresholds[t]) {
        if (ds->objects[best_object].difficult) {
          result = BM_VOC_IGNORED;
        } else if (!used[t][best_object]) {
          used[t][best_object] = 1;
          result = BM_VOC_TRUE_POSITIVE;
        }
      }
      outcome[t * n_members + r] = result;
    }
  }
  for (int t = 0; t < BM_VOC_N_IOU; t++)
    bm_voc_ap_of_ranking(outcome + t * n_members, n_members, out->npos, &out->ap07[t],
                         &out->ap12[t]);
  bm_free(ranked);
  bm_free(outcome);
  return 0;
}

int bm_eval_voc(const bm_dataset *ds, const int *images, int n_images, const bm_detections *dets,
                bm_voc_result *out, bm_error *err) {
  memset(out, 0, sizeof *out);
  eval_split split;
  if (eval_split_init(&split, ds, images, n_images, err) != 0) return -1;
  long *order = NULL, *start = NULL;
  unsigned char *used[BM_VOC_N_IOU] = {NULL};
  int status = -1;
  if (eval_check_detections(ds, &split, dets, err) != 0) goto done;
  if (eval_group_by_class(dets, ds->n_classes, &order, &start, err) != 0) goto done;
  out->classes = bm_calloc((size_t)ds->n_classes, sizeof *out->classes);
  for (int t = 0; t < BM_VOC_N_IOU; t++) used[t] = bm_calloc((size_t)ds->n_objects + 1, 1);
  if (!out->classes || !used[0] || !used[1]) {
    bm_fail(err, "out of memory for %d classes and %d objects", ds->n_classes, ds->n_objects);
    goto done;
  }
  out->n_classes = ds->n_classes;
  for (int s = 0; s < split.n_images; s++) {
    const bm_image_info *info = &ds->images[split.images[s]];
    for (int k = 0; k < info->n_objects; k++) {
      const bm_object *obj = &ds->objects[info->first_object + k];
      if (obj->difficult) out->classes[obj->class_id].n_difficult++;
      else out->classes[obj->class_id].npos++;
    }
  }
  for (int c = 0; c < ds->n_classes; c++)
    if (eval_class(ds, dets, order + start[c], start[c + 1] - start[c], c, used, &out->classes[c],
                   err) != 0)
      goto done;
  for (int t = 0; t < BM_VOC_N_IOU; t++) {
    double sum07 = 0, sum12 = 0;
    int n_in_mean = 0;
    for (int c = 0; c < ds->n_classes; c++) {
      if (out->classes[c].npos == 0) continue;
      sum07 += out->classes[c].ap07[t];
      sum12 += out->classes[c].ap12[t];
      n_in_mean++;
    }
    out->n_classes_in_mean = n_in_mean;
    out->map07[t] = n_in_mean ? sum07 / n_in_mean : NAN;
    out->map12[t] = n_in_mean ? sum12 / n_in_mean : NAN;
  }
  status = 0;
done:
  if (status != 0) bm_voc_result_free(out);
  for (int t = 0; t < BM_VOC_N_IOU; t++) bm_free(used[t]);
  bm_free(order);
  bm_free(start);
  eval_split_free(&split);
  return status;
}

void bm_voc_result_free(bm_voc_result *result) {
  bm_free(result->classes);
  memset(result, 0, sizeof *result);
}
