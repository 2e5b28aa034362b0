/* A people's answer as the mining loop's "oracle": the fusion result of an image built from
 * its verdicts instead of the hidden ground truth (docs/REVIEW.md, "The mining loop"). */
#include <math.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "boxmine/bm_review.h"

int bm_review_fusion_result(const bm_review_image *img, const bm_review_answer *ans,
                            const bm_fusion_opts *opts, int image, int round, bm_object **gt,
                            bm_fusion_result *out, bm_error *err) {
  memset(out, 0, sizeof *out);
  *gt = NULL;
  int n_kept = 0;
  for (int k = 0; k < ans->n_verdicts; k++) n_kept += ans->verdicts[k].kind != BM_REVIEW_DELETED;
  out->image = image;
  out->round = round;
  out->boxes = img->n_boxes ? bm_calloc((size_t)img->n_boxes, sizeof *out->boxes) : NULL;
  out->sa = n_kept ? bm_calloc((size_t)n_kept, sizeof *out->sa) : NULL;
  *gt = n_kept ? bm_calloc((size_t)n_kept, sizeof **gt) : NULL;
  if ((img->n_boxes && !out->boxes) || (n_kept && (!out->sa || !*gt))) {
    bm_fusion_result_free(out);
    bm_free(*gt);
    *gt = NULL;
    return bm_fail(err, "out of memory");
  }
  /* the machine side, as fusion left it */
  out->n_boxes = img->n_boxes;
  float lowest = 1;
  for (int b = 0; b < img->n_boxes; b++) {
    const bm_review_box *m = &img->boxes[b];
    bm_fused_box *f = &out->boxes[b];
    f->class_id = m->class_id;
    f->score = m->score;
    f->x1 = m->x1;
    f->y1 = m->y1;
    f->x2 = m->x2;
    f->y2 = m->y2;
    f->role = m->role;
    f->verdict = BM_VERDICT_NONE;
    f->gt_index = -1;
    if (m->role == BM_BOX_CERTAIN) {
      out->n_certain++;
      out->certain_score_sum += m->score;
    } else {
      out->n_uncertain++;
      out->n_demoted += m->role == BM_BOX_DEMOTED;
    }
    if (m->score < lowest) lowest = m->score;
  }
  int n_est = out->n_certain + out->n_uncertain;
  out->sl_score_est = out->certain_score_sum / (float)(n_est > 0 ? n_est : 1);
  out->al_ratio_est = (float)out->n_uncertain / (float)(n_est > 0 ? n_est : 1);
  out->uncertainty_mean = out->n_certain ? 1 - out->certain_score_sum / out->n_certain : 1;
  out->uncertainty_least = img->n_boxes ? 1 - lowest : 1;
  (void)opts;
  /* the people's side: what they kept is the annotation */
  float accepted_sum = 0;
  for (int k = 0; k < ans->n_verdicts; k++) {
    const bm_review_verdict *v = &ans->verdicts[k];
    if (v->machine >= img->n_boxes)
      return bm_fail(err, "image '%s': verdict on machine box %d of %d", img->id, v->machine,
                     img->n_boxes);
    if (v->machine >= 0 && out->boxes[v->machine].role == BM_BOX_CERTAIN) {
      int accepted = v->kind == BM_REVIEW_ACCEPTED;
      out->boxes[v->machine].verdict = accepted ? BM_VERDICT_ACCEPTED : BM_VERDICT_REJECTED;
      out->n_rejected += !accepted;
    }
    if (v->kind == BM_REVIEW_DELETED) continue;
    int at = out->n_sa++;
    bm_object *o = &(*gt)[at];
    o->class_id = v->class_id;
    o->x1 = v->x1;
    o->y1 = v->y1;
    o->x2 = v->x2;
    o->y2 = v->y2;
    o->difficult = v->difficult;
    bm_sa_box *sa = &out->sa[at];
    sa->object = *o;
    sa->round = round;
    if (v->difficult) {
      sa->source = BM_SOURCE_DIFFICULT;
      out->n_difficult++;
      continue;
    }
    out->n_gt++;
    if (v->kind == BM_REVIEW_ACCEPTED) {
      float score = img->boxes[v->machine].score;
      sa->source = BM_SOURCE_MACHINE;
      sa->score = score;
      out->n_accepted++;
      accepted_sum += score;
      if (out->boxes[v->machine].verdict == BM_VERDICT_ACCEPTED)
        out->boxes[v->machine].gt_index = at;
    } else {
      sa->source = BM_SOURCE_HUMAN;
    }
  }
  out->gt = *gt;
  out->n_gt_objects = out->n_sa;
  out->n_al = out->n_gt - out->n_accepted;
  if (out->n_gt > 0) {
    out->sl_score = accepted_sum / (float)out->n_gt;
    out->al_ratio = (float)out->n_al / (float)out->n_gt;
  } else {
    out->sl_score = out->n_rejected == 0 ? 1.0f : 0.0f;
    out->al_ratio = 0;
  }
  return 0;
}
