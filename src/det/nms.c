/* Box overlap and per-class greedy non-maximum suppression. */
#include <math.h>
#include <stdlib.h>

#include "boxmine/bm_det.h"

float bm_box_iou(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2,
                 float by2) {
  float area_a = (ax2 - ax1) * (ay2 - ay1), area_b = (bx2 - bx1) * (by2 - by1);
  if (!(ax2 > ax1 && ay2 > ay1 && bx2 > bx1 && by2 > by1)) return 0;
  float iw = (ax2 < bx2 ? ax2 : bx2) - (ax1 > bx1 ? ax1 : bx1);
  float ih = (ay2 < by2 ? ay2 : by2) - (ay1 > by1 ? ay1 : by1);
  if (iw <= 0 || ih <= 0) return 0;
  float inter = iw * ih;
  return inter / (area_a + area_b - inter);
}

/* Sorting keys: (class, descending score, original position) for the suppression pass and
 * (descending score, class, original position) for the final cap, so equal scores never
 * depend on qsort's order. */
typedef struct nms_entry {
  bm_detection det;
  long position;
} nms_entry;

static int by_class_then_score(const void *pa, const void *pb) {
  const nms_entry *a = pa, *b = pb;
  if (a->det.class_id != b->det.class_id) return a->det.class_id < b->det.class_id ? -1 : 1;
  if (a->det.score != b->det.score) return a->det.score > b->det.score ? -1 : 1;
  return (a->position > b->position) - (a->position < b->position);
}

static int by_score(const void *pa, const void *pb) {
  const nms_entry *a = pa, *b = pb;
  if (a->det.score != b->det.score) return a->det.score > b->det.score ? -1 : 1;
  if (a->det.class_id != b->det.class_id) return a->det.class_id < b->det.class_id ? -1 : 1;
  return (a->position > b->position) - (a->position < b->position);
}

float bm_box_diou(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2,
                  float by2, float power) {
  float iou = bm_box_iou(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2);
  float cw = (ax2 > bx2 ? ax2 : bx2) - (ax1 < bx1 ? ax1 : bx1);
  float ch = (ay2 > by2 ? ay2 : by2) - (ay1 < by1 ? ay1 : by1);
  float c2 = cw * cw + ch * ch;
  if (!(c2 > 0)) return iou;
  float dx = (ax1 + ax2 - bx1 - bx2) / 2, dy = (ay1 + ay2 - by1 - by2) / 2;
  return iou - powf((dx * dx + dy * dy) / c2, power);
}

long bm_nms_per_class(bm_detection *dets, long n, float iou_thresh, int max_dets) {
  return bm_nms_per_class_kind(dets, n, iou_thresh, max_dets, BM_NMS_IOU, 0);
}

static float overlap(const bm_detection *a, const bm_detection *b, bm_nms_kind kind, float beta) {
  if (kind == BM_NMS_IOU) return bm_box_iou(a->x1, a->y1, a->x2, a->y2, b->x1, b->y1, b->x2, b->y2);
  return bm_box_diou(a->x1, a->y1, a->x2, a->y2, b->x1, b->y1, b->x2, b->y2,
                     kind == BM_NMS_GREEDY_DIOU ? 0.6f : beta);
}

long bm_nms_per_class_kind(bm_detection *dets, long n, float iou_thresh, int max_dets,
                           bm_nms_kind kind, float beta) {
  if (n <= 0) return 0;
  nms_entry *entries = bm_malloc((size_t)n * sizeof *entries);
  unsigned char *dropped = bm_calloc((size_t)n, 1);
  if (!entries || !dropped) {
    bm_free(entries);
    bm_free(dropped);
    return -1;
  }
  for (long k = 0; k < n; k++) {
    entries[k].det = dets[k];
    entries[k].position = k;
  }
  qsort(entries, (size_t)n, sizeof *entries, by_class_then_score);
  long n_kept = 0;
  for (long a = 0; a < n; a++) {
    if (dropped[a]) continue;
    const bm_detection *keep = &entries[a].det;
    for (long b = a + 1; b < n && entries[b].det.class_id == keep->class_id; b++) {
      if (dropped[b]) continue;
      const bm_detection *other = &entries[b].det;
      if (overlap(keep, other, kind, beta) > iou_thresh) dropped[b] = 1;
    }
    entries[n_kept++] = entries[a]; /* n_kept <= a: never overwrites an unvisited entry */
  }
  qsort(entries, (size_t)n_kept, sizeof *entries, by_score);
  if (max_dets > 0 && n_kept > max_dets) n_kept = max_dets;
  for (long k = 0; k < n_kept; k++) dets[k] = entries[k].det;
  bm_free(entries);
  bm_free(dropped);
  return n_kept;
}
