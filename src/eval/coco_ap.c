/* COCO bbox AP/AR with the rules of pycocotools' COCOeval (evaluate, accumulate,
 * summarize), on VOC data mapped as docs/METRICS.md says:
 *  - box [x, y, w, h] = [x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1], area = w * h, IoU in
 *    continuous coordinates (no +1);
 *  - difficult boxes are crowd regions (iscrowd = 1, hence ignored): IoU with them divides by
 *    the detection's area, they can absorb any number of detections, and a detection matched
 *    to one counts neither way;
 *  - images in COCO image-id order (bm_coco_image_id), categories = class id + 1.
 * Classes are evaluated one at a time, so memory follows the number of detections. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_internal.h"

#define MAX_DETS 100
static const int max_dets[BM_COCO_N_MAXDET] = {1, 10, 100};
static const double area_lo[BM_COCO_N_AREA] = {0, 0, 32 * 32, 96 * 96};
static const double area_hi[BM_COCO_N_AREA] = {1e10, 32 * 32, 96 * 96, 1e10};

/* IoU threshold t, exactly as np.linspace(.5, .95, 10) computes it (start + t * step, the
 * last one set to the stop value): 0.9 comes out as 0.8999999999999999. */
static double iou_threshold(int t) {
  if (t == BM_COCO_N_IOU - 1) return 0.95;
  double step = (0.95 - 0.5) / (BM_COCO_N_IOU - 1);
  double scaled = t * step;
  return scaled + 0.5;
}

/* Recall threshold r, as np.linspace(0, 1, 101): r * 0.01, so 0.35 is 0.35000000000000003. */
static double recall_threshold(int r) {
  if (r == BM_COCO_N_RECALL - 1) return 1.0;
  return r * (1.0 / (BM_COCO_N_RECALL - 1));
}

typedef struct coco_box {
  double x, y, w, h, area;
} coco_box;

static coco_box to_coco_box(float x1, float y1, float x2, float y2) {
  coco_box box;
  box.x = (double)x1 - 1.0;
  box.y = (double)y1 - 1.0;
  box.w = (double)x2 - (double)x1 + 1.0;
  box.h = (double)y2 - (double)y1 + 1.0;
  box.area = box.w * box.h;
  return box;
}

/* pycocotools' bbIou: crowd regions divide by the detection's area. */
static double coco_iou(const coco_box *det, const coco_box *gt, int crowd) {
  double w = fmin(det->w + det->x, gt->w + gt->x) - fmax(det->x, gt->x);
  if (w <= 0) return 0;
  double h = fmin(det->h + det->y, gt->h + gt->y) - fmax(det->y, gt->y);
  if (h <= 0) return 0;
  double inter = w * h;
  double uni = crowd ? det->w * det->h : det->w * det->h + gt->w * gt->h - inter;
  return inter / uni;
}

/* ---- image order ------------------------------------------------------------------------ */

typedef struct image_key {
  long long number;
  const char *id;
  int position;
} image_key;

static int by_number(const void *a, const void *b) {
  const image_key *x = a, *y = b;
  if (x->number != y->number) return x->number < y->number ? -1 : 1;
  return x->position - y->position;
}

static int by_id(const void *a, const void *b) {
  const image_key *x = a, *y = b;
  int cmp = strcmp(x->id, y->id);
  return cmp ? cmp : x->position - y->position;
}

/* rank[s]: place of split position s when images are sorted by COCO image id, as COCOeval
 * sorts them (np.unique): by number when every id maps to a distinct number, else by the id
 * string. The order only decides ties between equal scores on different images. */
static int image_ranks(const bm_dataset *ds, const eval_split *split, int *rank, bm_error *err) {
  image_key *keys = bm_malloc((size_t)(split->n_images ? split->n_images : 1) * sizeof *keys);
  if (!keys) return bm_fail(err, "out of memory ordering %d images", split->n_images);
  int numeric = bm_coco_ids_are_numbers(ds, split->images, split->n_images);
  if (numeric < 0) {
    bm_free(keys);
    return bm_fail(err, "out of memory ordering %d images", split->n_images);
  }
  for (int s = 0; s < split->n_images; s++) {
    keys[s].id = ds->images[split->images[s]].id;
    keys[s].position = s;
    if (numeric) bm_coco_image_id(keys[s].id, &keys[s].number);
  }
  qsort(keys, (size_t)split->n_images, sizeof *keys, numeric ? by_number : by_id);
  for (int s = 0; s < split->n_images; s++) rank[keys[s].position] = s;
  bm_free(keys);
  return 0;
}

/* ---- one class ---------------------------------------------------------------------------- */

typedef struct coco_det {
  int image_rank;
  float score;
  long index;        /* position in the detection list */
  int rank_in_image; /* by score within its image, 0-based */
  coco_box box;
} coco_det;

static int by_image_then_score(const void *a, const void *b) {
  const coco_det *x = a, *y = b;
  if (x->image_rank != y->image_rank) return x->image_rank < y->image_rank ? -1 : 1;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

typedef struct ranked_ref {
  float score;
  long at; /* index into the class's detection array, which is in image-id order */
} ranked_ref;

static int by_score_then_at(const void *a, const void *b) {
  const ranked_ref *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return (x->at > y->at) - (x->at < y->at);
}

/* What COCOeval.evaluateImg decides for every kept detection, per area range and threshold. */
typedef struct class_work {
  long n_dets;
  coco_det *dets;
  unsigned char *matched; /* [A][T][n_dets] */
  unsigned char *ignored; /* [A][T][n_dets] */
  long npig[BM_COCO_N_AREA];
  /* scratch for one image */
  double *ious; /* [MAX_DETS][n_gt] */
  int gt_cap;
  coco_box *gt_boxes;
  unsigned char *gt_crowd, *gt_ignore, *gt_taken;
  int *gt_order;
} class_work;

static long flag_at(const class_work *w, int a, int t, long d) {
  return ((long)a * BM_COCO_N_IOU + t) * w->n_dets + d;
}

/* COCOeval.evaluateImg for one image: dets w->dets[d0 .. d0 + n_d) sorted by score, ground
 * truth gt_objects[0 .. n_g). */
static void evaluate_image(class_work *w, long d0, int n_d, const bm_object *const *gt_objects,
                           int n_g) {
  for (int g = 0; g < n_g; g++) {
    const bm_object *obj = gt_objects[g];
    w->gt_boxes[g] = to_coco_box(obj->x1, obj->y1, obj->x2, obj->y2);
    w->gt_crowd[g] = obj->difficult ? 1 : 0;
  }
  for (int d = 0; d < n_d; d++)
    for (int g = 0; g < n_g; g++)
      w->ious[d * n_g + g] = coco_iou(&w->dets[d0 + d].box, &w->gt_boxes[g], w->gt_crowd[g]);
  for (int a = 0; a < BM_COCO_N_AREA; a++) {
    /* Ground truth that is crowd or outside the area range is ignored and sorted last
     * (stable, like np.argsort(kind='mergesort')). */
    int n_order = 0;
    for (int g = 0; g < n_g; g++) {
      double area = w->gt_boxes[g].area;
      w->gt_ignore[g] = w->gt_crowd[g] || area < area_lo[a] || area > area_hi[a];
      if (!w->gt_ignore[g]) w->gt_order[n_order++] = g;
    }
    w->npig[a] += n_order;
    for (int g = 0; g < n_g; g++)
      if (w->gt_ignore[g]) w->gt_order[n_order++] = g;
    for (int t = 0; t < BM_COCO_N_IOU; t++) {
      double threshold = iou_threshold(t);
      if (threshold > 1 - 1e-10) threshold = 1 - 1e-10;
      if (n_g > 0) memset(w->gt_taken, 0, (size_t)n_g);
      for (int d = 0; d < n_d; d++) {
        double best = threshold;
        int match = -1;
        for (int k = 0; k < n_g; k++) {
          int g = w->gt_order[k];
          if (w->gt_taken[g] && !w->gt_crowd[g]) continue;
          /* matched to a regular box already and only ignored ones are left: stop */
          if (match > -1 && !w->gt_ignore[match] && w->gt_ignore[g]) break;
          double iou = w->ious[d * n_g + g];
          if (iou < best) continue;
          best = iou; /* >= : on equal IoU the later box in this order wins */
          match = g;
        }
        long at = flag_at(w, a, t, d0 + d);
        if (match >= 0) {
          w->matched[at] = 1;
          w->ignored[at] = w->gt_ignore[match];
          w->gt_taken[match] = 1;
        } else {
          /* unmatched detections outside the area range are ignored */
          double area = w->dets[d0 + d].box.area;
          w->matched[at] = 0;
          w->ignored[at] = area < area_lo[a] || area > area_hi[a];
        }
      }
    }
  }
}

static int ensure_gt_scratch(class_work *w, int n_g) {
  if (n_g <= w->gt_cap) return 0;
  int cap = w->gt_cap ? w->gt_cap : 16;
  while (cap < n_g) cap *= 2;
  double *ious = bm_realloc(w->ious, (size_t)MAX_DETS * cap * sizeof *ious);
  if (ious) w->ious = ious;
  coco_box *boxes = bm_realloc(w->gt_boxes, (size_t)cap * sizeof *boxes);
  if (boxes) w->gt_boxes = boxes;
  unsigned char *crowd = bm_realloc(w->gt_crowd, (size_t)cap);
  if (crowd) w->gt_crowd = crowd;
  unsigned char *ignore = bm_realloc(w->gt_ignore, (size_t)cap);
  if (ignore) w->gt_ignore = ignore;
  unsigned char *taken = bm_realloc(w->gt_taken, (size_t)cap);
  if (taken) w->gt_taken = taken;
  int *order = bm_realloc(w->gt_order, (size_t)cap * sizeof *order);
  if (order) w->gt_order = order;
  if (!ious || !boxes || !crowd || !ignore || !taken || !order) return -1;
  w->gt_cap = cap;
  return 0;
}

/* COCOeval.accumulate for one class: precision averaged over the 101 recall points and
 * final recall, per threshold, area range and detection limit; -1 when the class has no
 * ground truth that counts in that area range. */
static int accumulate_class(class_work *w,
                            double prec_mean[BM_COCO_N_IOU][BM_COCO_N_AREA][BM_COCO_N_MAXDET],
                            double recall[BM_COCO_N_IOU][BM_COCO_N_AREA][BM_COCO_N_MAXDET]) {
  long n = w->n_dets;
  ranked_ref *ranked = bm_malloc((size_t)(n ? n : 1) * sizeof *ranked);
  double *rc = bm_malloc((size_t)(n ? n : 1) * sizeof *rc);
  double *pr = bm_malloc((size_t)(n ? n : 1) * sizeof *pr);
  if (!ranked || !rc || !pr) {
    bm_free(ranked);
    bm_free(rc);
    bm_free(pr);
    return -1;
  }
  for (int m = 0; m < BM_COCO_N_MAXDET; m++) {
    /* The first max_dets[m] detections of every image, merged by score; ties keep image-id
     * order, then the order within the image (np.argsort(kind='mergesort')). */
    long nd = 0;
    for (long d = 0; d < n; d++) {
      if (w->dets[d].rank_in_image >= max_dets[m]) continue;
      ranked[nd].score = w->dets[d].score;
      ranked[nd].at = d;
      nd++;
    }
    qsort(ranked, (size_t)nd, sizeof *ranked, by_score_then_at);
    for (int a = 0; a < BM_COCO_N_AREA; a++) {
      for (int t = 0; t < BM_COCO_N_IOU; t++) {
        if (w->npig[a] == 0) {
          prec_mean[t][a][m] = recall[t][a][m] = -1;
          continue;
        }
        double tp = 0, fp = 0;
        for (long i = 0; i < nd; i++) {
          long at = flag_at(w, a, t, ranked[i].at);
          if (!w->ignored[at]) {
            if (w->matched[at]) tp += 1;
            else fp += 1;
          }
          rc[i] = tp / (double)w->npig[a];
          pr[i] = tp / (fp + tp + DBL_EPSILON);
        }
        recall[t][a][m] = nd ? rc[nd - 1] : 0;
        for (long i = nd - 1; i > 0; i--)
          if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
        /* Precision at each recall threshold: at the first rank whose recall reaches it
         * (searchsorted side='left'); 0 once no rank does. */
        double sum = 0;
        long i = 0;
        for (int r = 0; r < BM_COCO_N_RECALL; r++) {
          double threshold = recall_threshold(r);
          while (i < nd && rc[i] < threshold) i++;
          if (i >= nd) break;
          sum += pr[i];
        }
        prec_mean[t][a][m] = sum / BM_COCO_N_RECALL;
      }
    }
  }
  bm_free(ranked);
  bm_free(rc);
  bm_free(pr);
  return 0;
}

/* Per class: [T][A][M] precision means and recalls. */
typedef struct class_table {
  double prec_mean[BM_COCO_N_IOU][BM_COCO_N_AREA][BM_COCO_N_MAXDET];
  double recall[BM_COCO_N_IOU][BM_COCO_N_AREA][BM_COCO_N_MAXDET];
} class_table;

/* Evaluates class c: gt_objects[0 .. n_gt) are its split boxes in image-id order. */
static int eval_class(const bm_dataset *ds, const eval_split *split, const int *image_rank,
                      const bm_detections *dets, const long *members, long n_members,
                      const bm_object *const *gt_objects, const int *gt_image_rank, long n_gt,
                      class_work *w, class_table *table) {
  memset(w->npig, 0, sizeof w->npig);
  w->dets = bm_malloc((size_t)(n_members ? n_members : 1) * sizeof *w->dets);
  if (!w->dets) return -1;
  for (long i = 0; i < n_members; i++) {
    const bm_detection *det = &dets->items[members[i]];
    coco_det *cd = &w->dets[i];
    cd->image_rank = image_rank[split->position[det->image]];
    cd->score = det->score;
    cd->index = members[i];
    cd->box = to_coco_box(det->x1, det->y1, det->x2, det->y2);
  }
  qsort(w->dets, (size_t)n_members, sizeof *w->dets, by_image_then_score);
  /* Keep the best MAX_DETS per image. */
  long kept = 0;
  int count_in_image = 0, previous_image = -1;
  for (long i = 0; i < n_members; i++) {
    if (w->dets[i].image_rank != previous_image) count_in_image = 0;
    previous_image = w->dets[i].image_rank;
    if (count_in_image < MAX_DETS) {
      w->dets[kept] = w->dets[i];
      w->dets[kept].rank_in_image = count_in_image;
      kept++;
    }
    count_in_image++;
  }
  w->n_dets = kept;
  size_t n_flags = (size_t)BM_COCO_N_AREA * BM_COCO_N_IOU * (size_t)(kept ? kept : 1);
  w->matched = bm_calloc(n_flags, 1);
  w->ignored = bm_calloc(n_flags, 1);
  if (!w->matched || !w->ignored) return -1;

  /* Walk images that have detections or ground truth of this class, in image-id order. */
  long d = 0, g = 0;
  while (d < kept || g < n_gt) {
    int rank_d = d < kept ? w->dets[d].image_rank : INT_MAX;
    int rank_g = g < n_gt ? gt_image_rank[g] : INT_MAX;
    int rank = rank_d < rank_g ? rank_d : rank_g;
    long d_end = d, g_end = g;
    while (d_end < kept && w->dets[d_end].image_rank == rank) d_end++;
    while (g_end < n_gt && gt_image_rank[g_end] == rank) g_end++;
    if (ensure_gt_scratch(w, (int)(g_end - g)) != 0) return -1;
    evaluate_image(w, d, (int)(d_end - d), gt_objects + g, (int)(g_end - g));
    d = d_end;
    g = g_end;
  }
  return accumulate_class(w, table->prec_mean, table->recall);
}

/* ---- summary ------------------------------------------------------------------------------ */

/* COCOeval.summarize's mean over the classes (and thresholds) with a value > -1. */
static double summarize(const class_table *tables, int n_classes, int precision, int only_t,
                        int area, int maxdet) {
  double sum = 0;
  long count = 0;
  for (int c = 0; c < n_classes; c++)
    for (int t = 0; t < BM_COCO_N_IOU; t++) {
      if (only_t >= 0 && t != only_t) continue;
      double v =
          precision ? tables[c].prec_mean[t][area][maxdet] : tables[c].recall[t][area][maxdet];
      if (v > -1) {
        sum += v;
        count++;
      }
    }
  return count ? sum / count : -1;
}

int bm_eval_coco(const bm_dataset *ds, const int *images, int n_images, const bm_detections *dets,
                 bm_coco_result *out, bm_error *err) {
  memset(out, 0, sizeof *out);
  eval_split split;
  if (eval_split_init(&split, ds, images, n_images, err) != 0) return -1;
  int status = -1;
  long *order = NULL, *start = NULL, *gt_start = NULL;
  int *image_rank = NULL, *rank_position = NULL, *gt_image_rank = NULL;
  const bm_object **gt_objects = NULL;
  class_table *tables = NULL;
  class_work work;
  memset(&work, 0, sizeof work);
  if (eval_check_detections(ds, &split, dets, err) != 0) goto done;
  if (eval_group_by_class(dets, ds->n_classes, &order, &start, err) != 0) goto done;
  long n_split_objects = 0;
  for (int s = 0; s < split.n_images; s++) n_split_objects += ds->images[split.images[s]].n_objects;
  image_rank = bm_malloc((size_t)(split.n_images + 1) * sizeof *image_rank);
  rank_position = bm_malloc((size_t)(split.n_images + 1) * sizeof *rank_position);
  gt_start = bm_calloc((size_t)ds->n_classes + 1, sizeof *gt_start);
  gt_objects = bm_malloc((size_t)(n_split_objects + 1) * sizeof *gt_objects);
  gt_image_rank = bm_malloc((size_t)(n_split_objects + 1) * sizeof *gt_image_rank);
  tables = bm_calloc((size_t)ds->n_classes, sizeof *tables);
  out->classes = bm_calloc((size_t)ds->n_classes, sizeof *out->classes);
  if (!image_rank || !rank_position || !gt_start || !gt_objects || !gt_image_rank || !tables ||
      !out->classes) {
    bm_fail(err, "out of memory for COCO evaluation of %d images", split.n_images);
    goto done;
  }
  out->n_classes = ds->n_classes;
  if (image_ranks(ds, &split, image_rank, err) != 0) goto done;
  for (int s = 0; s < split.n_images; s++) rank_position[image_rank[s]] = s;
  /* Ground truth grouped by class (counting sort), in image-id order inside a class. */
  for (int s = 0; s < split.n_images; s++) {
    const bm_image_info *info = &ds->images[split.images[s]];
    for (int k = 0; k < info->n_objects; k++) {
      const bm_object *obj = &ds->objects[info->first_object + k];
      gt_start[obj->class_id + 1]++;
      if (obj->difficult) out->classes[obj->class_id].n_crowd++;
      else out->classes[obj->class_id].n_gt++;
    }
  }
  for (int c = 0; c < ds->n_classes; c++) gt_start[c + 1] += gt_start[c];
  {
    long *fill = bm_malloc((size_t)ds->n_classes * sizeof *fill);
    if (!fill) {
      bm_fail(err, "out of memory grouping ground truth");
      goto done;
    }
    memcpy(fill, gt_start, (size_t)ds->n_classes * sizeof *fill);
    for (int r = 0; r < split.n_images; r++) {
      const bm_image_info *info = &ds->images[split.images[rank_position[r]]];
      for (int k = 0; k < info->n_objects; k++) {
        const bm_object *obj = &ds->objects[info->first_object + k];
        long at = fill[obj->class_id]++;
        gt_objects[at] = obj;
        gt_image_rank[at] = r;
      }
    }
    bm_free(fill);
  }
  for (int c = 0; c < ds->n_classes; c++) {
    int rc = eval_class(ds, &split, image_rank, dets, order + start[c], start[c + 1] - start[c],
                        gt_objects + gt_start[c], gt_image_rank + gt_start[c],
                        gt_start[c + 1] - gt_start[c], &work, &tables[c]);
    bm_free(work.dets);
    bm_free(work.matched);
    bm_free(work.ignored);
    work.dets = NULL;
    work.matched = work.ignored = NULL;
    if (rc != 0) {
      bm_fail(err, "out of memory evaluating class '%s'", ds->class_names[c]);
      goto done;
    }
    bm_coco_class_ap *cls = &out->classes[c];
    cls->ap = summarize(&tables[c], 1, 1, -1, 0, 2);
    cls->ap50 = summarize(&tables[c], 1, 1, 0, 0, 2);
    cls->ap75 = summarize(&tables[c], 1, 1, 5, 0, 2);
    cls->ar100 = summarize(&tables[c], 1, 0, -1, 0, 2);
  }
  bm_coco_stats *st = &out->stats;
  int n = ds->n_classes;
  st->ap = summarize(tables, n, 1, -1, 0, 2);
  st->ap50 = summarize(tables, n, 1, 0, 0, 2);
  st->ap75 = summarize(tables, n, 1, 5, 0, 2);
  st->ap_small = summarize(tables, n, 1, -1, 1, 2);
  st->ap_medium = summarize(tables, n, 1, -1, 2, 2);
  st->ap_large = summarize(tables, n, 1, -1, 3, 2);
  st->ar1 = summarize(tables, n, 0, -1, 0, 0);
  st->ar10 = summarize(tables, n, 0, -1, 0, 1);
  st->ar100 = summarize(tables, n, 0, -1, 0, 2);
  st->ar_small = summarize(tables, n, 0, -1, 1, 2);
  st->ar_medium = summarize(tables, n, 0, -1, 2, 2);
  st->ar_large = summarize(tables, n, 0, -1, 3, 2);
  status = 0;
done:
  if (status != 0) bm_coco_result_free(out);
  bm_free(work.ious);
  bm_free(work.gt_boxes);
  bm_free(work.gt_crowd);
  bm_free(work.gt_ignore);
  bm_free(work.gt_taken);
  bm_free(work.gt_order);
  bm_free(order);
  bm_free(start);
  bm_free(gt_start);
  bm_free(image_rank);
  bm_free(rank_position);
  bm_free(gt_objects);
  bm_free(gt_image_rank);
  bm_free(tables);
  eval_split_free(&split);
  return status;
}

void bm_coco_result_free(bm_coco_result *result) {
  bm_free(result->classes);
  memset(result, 0, sizeof *result);
}
