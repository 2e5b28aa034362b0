/* Box-level fusion on one image (asm-spec section 3): split the detector's boxes by score,
 * re-judge certain boxes against overlapping uncertain ones, let the oracle accept or reject
 * the surviving certain boxes one-to-one against the hidden ground truth, and build the SA
 * annotation with its per-image numbers. The machine-only estimates of trust mode
 * (section 4) come out of the same pass. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_mine.h"

void bm_fusion_opts_default(bm_fusion_opts *opts) {
  opts->certain_thre = 0.8f;
  opts->uncertain_thre = 0.3f;
  opts->judge_iou = 0.5f;
  opts->gt_iou = 0.8f;
}

int bm_fusion_opts_check(const bm_fusion_opts *opts, bm_error *err) {
  if (!(opts->uncertain_thre >= 0 && opts->uncertain_thre <= 1))
    return bm_fail(err, "--uncertain-thre %g is outside [0, 1]", opts->uncertain_thre);
  if (!(opts->certain_thre >= opts->uncertain_thre && opts->certain_thre <= 1))
    return bm_fail(err, "--certain-thre %g must lie in [--uncertain-thre %g, 1]",
                   opts->certain_thre, opts->uncertain_thre);
  if (!(opts->judge_iou > 0 && opts->judge_iou <= 1))
    return bm_fail(err, "--judge-iou %g is outside (0, 1]", opts->judge_iou);
  if (!(opts->gt_iou > 0 && opts->gt_iou <= 1))
    return bm_fail(err, "--gt-iou %g is outside (0, 1]", opts->gt_iou);
  return 0;
}

/* VOC devkit convention: coordinates name pixels, both ends included, so a box from
 * x1 = 10 to x2 = 19 is 10 pixels wide. */
float bm_iou_voc(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2,
                 float by2) {
  float inter_w = fminf(ax2, bx2) - fmaxf(ax1, bx1) + 1.0f;
  float inter_h = fminf(ay2, by2) - fmaxf(ay1, by1) + 1.0f;
  if (!(inter_w > 0 && inter_h > 0)) return 0.0f;
  float area_a = (ax2 - ax1 + 1.0f) * (ay2 - ay1 + 1.0f);
  float area_b = (bx2 - bx1 + 1.0f) * (by2 - by1 + 1.0f);
  if (!(area_a > 0 && area_b > 0)) return 0.0f;
  float inter = inter_w * inter_h;
  return inter / (area_a + area_b - inter);
}

static float box_iou(const bm_fused_box *a, const bm_fused_box *b) {
  return bm_iou_voc(a->x1, a->y1, a->x2, a->y2, b->x1, b->y1, b->x2, b->y2);
}

static float box_gt_iou(const bm_fused_box *a, const bm_object *g) {
  return bm_iou_voc(a->x1, a->y1, a->x2, a->y2, g->x1, g->y1, g->x2, g->y2);
}

void bm_fusion_result_free(bm_fusion_result *result) {
  bm_free(result->boxes);
  bm_free(result->sa);
  memset(result, 0, sizeof *result);
}

/* Step 1: keep boxes with score >= uncertain_thre, sorted by descending score. Insertion
 * sort keeps equal scores in input order, so the result never depends on qsort's whims
 * (at most ~100 boxes per image). */
static int split_by_score(const bm_fusion_opts *opts, const bm_detection *dets, int n_dets,
                          bm_fusion_result *out, bm_error *err) {
  out->boxes = n_dets > 0 ? bm_malloc((size_t)n_dets * sizeof *out->boxes) : NULL;
  if (n_dets > 0 && !out->boxes) return bm_fail(err, "fusion: out of memory");
  out->n_boxes = 0;
  for (int i = 0; i < n_dets; i++) {
    const bm_detection *d = &dets[i];
    if (!(d->score >= 0 && d->score <= 1))
      return bm_fail(err, "fusion: image %d: detection %d has score %g outside [0, 1]",
                     out->image, i, d->score);
    if (d->class_id < 0)
      return bm_fail(err, "fusion: image %d: detection %d has class %d", out->image, i,
                     d->class_id);
    if (!isfinite(d->x1) || !isfinite(d->y1) || !isfinite(d->x2) || !isfinite(d->y2))
      return bm_fail(err, "fusion: image %d: detection %d has a non-finite coordinate",
                     out->image, i);
    if (d->score < opts->uncertain_thre) continue;
    bm_fused_box box = {d->class_id, d->score, d->x1, d->y1, d->x2, d->y2,
                        d->score >= opts->certain_thre ? BM_BOX_CERTAIN : BM_BOX_UNCERTAIN,
                        BM_VERDICT_NONE, -1};
    int at = out->n_boxes++;
    while (at > 0 && out->boxes[at - 1].score < box.score) {
      out->boxes[at] = out->boxes[at - 1];
      at--;
    }
    out->boxes[at] = box;
  }
  return 0;
}

/* Step 2: each certain box, in descending score order, looks at the uncertain boxes not yet
 * used up that overlap it by >= judge_iou. If there is one or more and none shares its
 * class, the detector disagrees with itself about what is there: the certain box is
 * demoted. The overlapping uncertain boxes are used up either way. Only boxes that were
 * uncertain from the start judge; demoted boxes do not judge later certain boxes. */
static int rejudge(const bm_fusion_opts *opts, bm_fusion_result *out, bm_error *err) {
  int n = out->n_boxes;
  int n_uncertain = 0;
  for (int i = 0; i < n; i++) n_uncertain += out->boxes[i].role == BM_BOX_UNCERTAIN;
  if (n_uncertain == 0) return 0;
  unsigned char *used = bm_calloc((size_t)n, 1);
  if (!used) return bm_fail(err, "fusion: out of memory");
  for (int i = 0; i < n; i++) {
    bm_fused_box *certain = &out->boxes[i];
    if (certain->role != BM_BOX_CERTAIN) continue;
    int n_overlap = 0, same_class = 0;
    for (int j = 0; j < n; j++) {
      const bm_fused_box *other = &out->boxes[j];
      if (other->role != BM_BOX_UNCERTAIN || used[j]) continue;
      if (box_iou(certain, other) < opts->judge_iou) continue;
      used[j] = 1;
      n_overlap++;
      same_class |= other->class_id == certain->class_id;
    }
    if (n_overlap > 0 && !same_class) certain->role = BM_BOX_DEMOTED;
  }
  bm_free(used);
  return 0;
}

/* Step 3: the oracle takes the surviving certain boxes in descending score order; each
 * claims the unclaimed non-difficult ground-truth object of its class with the highest IoU
 * (ties: the first in gt order) and is accepted when that IoU >= gt_iou. Difficult objects
 * are never claimed: step 4 carries them over unchanged and counts them neither as SL nor
 * as AL, so a certain box lying on one is rejected like any other box without a match. */
static int oracle_match(const bm_fusion_opts *opts, bm_fusion_result *out, bm_error *err) {
  unsigned char *claimed = NULL;
  if (out->n_gt_objects > 0) {
    claimed = bm_calloc((size_t)out->n_gt_objects, 1);
    if (!claimed) return bm_fail(err, "fusion: out of memory");
  }
  for (int i = 0; i < out->n_boxes; i++) {
    bm_fused_box *box = &out->boxes[i];
    if (box->role != BM_BOX_CERTAIN) continue;
    int best = -1;
    float best_iou = -1.0f;
    for (int g = 0; g < out->n_gt_objects; g++) {
      const bm_object *obj = &out->gt[g];
      if (claimed[g] || obj->difficult || obj->class_id != box->class_id) continue;
      float iou = box_gt_iou(box, obj);
      if (iou > best_iou) {
        best_iou = iou;
        best = g;
      }
    }
    if (best >= 0 && best_iou >= opts->gt_iou) {
      claimed[best] = 1;
      box->verdict = BM_VERDICT_ACCEPTED;
      box->gt_index = best;
    } else {
      box->verdict = BM_VERDICT_REJECTED;
    }
  }
  bm_free(claimed);
  return 0;
}

/* Step 4: one SA box per ground-truth object, in gt order. */
static int build_sa(bm_fusion_result *out, bm_error *err) {
  if (bm_annotation_from_gt(out->gt, out->n_gt_objects, out->round, &out->sa, err) != 0)
    return -1;
  out->n_sa = out->n_gt_objects;
  for (int i = 0; i < out->n_boxes; i++) {
    const bm_fused_box *box = &out->boxes[i];
    if (box->verdict != BM_VERDICT_ACCEPTED) continue;
    bm_sa_box *sa = &out->sa[box->gt_index];
    sa->object.x1 = box->x1;
    sa->object.y1 = box->y1;
    sa->object.x2 = box->x2;
    sa->object.y2 = box->y2;
    sa->source = BM_SOURCE_MACHINE;
    sa->score = box->score;
  }
  return 0;
}

/* Step 5 and the trust-mode estimates. */
static void score_image(bm_fusion_result *out) {
  float accepted_sum = 0, lowest = 2.0f;
  for (int i = 0; i < out->n_boxes; i++) {
    const bm_fused_box *box = &out->boxes[i];
    if (box->score < lowest) lowest = box->score;
    if (box->role == BM_BOX_CERTAIN) {
      out->n_certain++;
      out->certain_score_sum += box->score;
      if (box->verdict == BM_VERDICT_ACCEPTED) {
        out->n_accepted++;
        accepted_sum += box->score;
      } else {
        out->n_rejected++;
      }
    } else {
      out->n_uncertain++;
      out->n_demoted += box->role == BM_BOX_DEMOTED;
    }
  }
  for (int g = 0; g < out->n_gt_objects; g++) {
    if (out->gt[g].difficult) out->n_difficult++;
    else out->n_gt++;
  }
  out->n_al = out->n_gt - out->n_accepted;
  if (out->n_gt > 0) {
    out->al_ratio = (float)out->n_al / (float)out->n_gt;
    out->sl_score = accepted_sum / (float)out->n_gt;
  } else {
    /* nothing to label: no human work, and the image is certain unless the machine
     * claimed an object that is not there */
    out->al_ratio = 0.0f;
    out->sl_score = out->n_rejected == 0 ? 1.0f : 0.0f;
  }
  int n_machine = out->n_certain + out->n_uncertain;
  float denominator = (float)(n_machine > 1 ? n_machine : 1);
  out->sl_score_est = out->certain_score_sum / denominator;
  out->al_ratio_est = (float)out->n_uncertain / denominator;
  out->uncertainty_mean =
      out->n_certain > 0 ? 1.0f - out->certain_score_sum / (float)out->n_certain : 1.0f;
  out->uncertainty_least = out->n_boxes > 0 ? 1.0f - lowest : 1.0f;
}

int bm_fusion_run(const bm_fusion_opts *opts, int image, int round, const bm_detection *dets,
                  int n_dets, const bm_object *gt, int n_gt_objects, bm_fusion_result *out,
                  bm_error *err) {
  memset(out, 0, sizeof *out);
  out->image = image;
  out->round = round;
  out->gt = gt;
  out->n_gt_objects = n_gt_objects;
  if (n_dets < 0 || n_gt_objects < 0 || (n_dets > 0 && !dets) || (n_gt_objects > 0 && !gt))
    return bm_fail(err, "fusion: image %d: bad arguments", image);
  if (bm_fusion_opts_check(opts, err) != 0 || split_by_score(opts, dets, n_dets, out, err) != 0 ||
      rejudge(opts, out, err) != 0 || oracle_match(opts, out, err) != 0 ||
      build_sa(out, err) != 0) {
    bm_fusion_result_free(out);
    return -1;
  }
  score_image(out);
  return 0;
}

int bm_fusion_run_images(const bm_fusion_opts *opts, const bm_dataset *ds, const int *images,
                         int n, int round, const bm_detections *dets, bm_fusion_result *results,
                         bm_error *err) {
  long k = 0; /* detections come grouped by image, in the order of images */
  for (int i = 0; i < n; i++) {
    int image = images ? images[i] : i;
    long first = k;
    while (k < dets->n && dets->items[k].image == image) k++;
    const bm_image_info *info = &ds->images[image];
    if (bm_fusion_run(opts, image, round, dets->items + first, (int)(k - first),
                      info->n_objects ? ds->objects + info->first_object : NULL,
                      info->n_objects, &results[i], err))
      return -1;
  }
  if (k != dets->n) return bm_fail(err, "detections came back in another order than the images");
  return 0;
}

int bm_annotation_from_gt(const bm_object *gt, int n_objects, int round, bm_sa_box **boxes,
                          bm_error *err) {
  *boxes = NULL;
  if (n_objects <= 0) return 0;
  *boxes = bm_calloc((size_t)n_objects, sizeof **boxes);
  if (!*boxes) return bm_fail(err, "annotation: out of memory");
  for (int i = 0; i < n_objects; i++) {
    (*boxes)[i].object = gt[i];
    (*boxes)[i].source = gt[i].difficult ? BM_SOURCE_DIFFICULT : BM_SOURCE_HUMAN;
    (*boxes)[i].score = 0.0f;
    (*boxes)[i].round = round;
  }
  return 0;
}

int bm_fusion_pseudo_labels(const bm_fusion_result *result, bm_sa_box **boxes, int *n_boxes,
                            bm_error *err) {
  *boxes = NULL;
  *n_boxes = 0;
  if (result->n_certain == 0) return 0;
  *boxes = bm_calloc((size_t)result->n_certain, sizeof **boxes);
  if (!*boxes) return bm_fail(err, "pseudo-labels: out of memory");
  for (int i = 0; i < result->n_boxes; i++) {
    const bm_fused_box *box = &result->boxes[i];
    if (box->role != BM_BOX_CERTAIN) continue;
    bm_sa_box *out = &(*boxes)[(*n_boxes)++];
    out->object.class_id = box->class_id;
    out->object.x1 = box->x1;
    out->object.y1 = box->y1;
    out->object.x2 = box->x2;
    out->object.y2 = box->y2;
    out->source = BM_SOURCE_PSEUDO;
    out->score = box->score;
    out->round = result->round;
  }
  return 0;
}

const char *bm_source_name(int source) {
  switch (source) {
    case BM_SOURCE_HUMAN: return "human";
    case BM_SOURCE_MACHINE: return "machine";
    case BM_SOURCE_PSEUDO: return "pseudo";
    case BM_SOURCE_DIFFICULT: return "difficult";
    default: return "unknown";
  }
}

void bm_sa_box_provenance_xml(const bm_sa_box *box, bm_buf *out) {
  bm_buf_printf(out, "<provenance>%s</provenance>", bm_source_name(box->source));
  if (box->source == BM_SOURCE_MACHINE || box->source == BM_SOURCE_PSEUDO)
    bm_buf_printf(out, "<score>%.4f</score>", box->score);
  bm_buf_printf(out, "<round>%d</round>", box->round);
}
