/* Answers and the matching of returned boxes to the exported machine boxes. */
#include <math.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "boxmine/bm_review.h"
#include "review/review_internal.h"

const char *bm_review_verdict_name(int kind) {
  switch (kind) {
    case BM_REVIEW_ACCEPTED: return "accepted";
    case BM_REVIEW_ADJUSTED: return "adjusted";
    case BM_REVIEW_DELETED: return "deleted";
    case BM_REVIEW_ADDED: return "added";
    default: return "unknown";
  }
}

const char *bm_review_source_name(int source) {
  switch (source) {
    case BM_REVIEW_FROM_LABEL_STUDIO: return "label-studio";
    case BM_REVIEW_FROM_CVAT: return "cvat";
    case BM_REVIEW_FROM_VOC: return "voc";
    case BM_REVIEW_FROM_PAGE: return "page";
    default: return "unknown";
  }
}

static void answer_free(bm_review_answer *a) {
  bm_free(a->id);
  bm_free(a->verdicts);
  memset(a, 0, sizeof *a);
}

void bm_review_answers_free(bm_review_answers *a) {
  if (!a) return;
  for (int i = 0; i < a->n; i++) answer_free(&a->items[i]);
  bm_free(a->items);
  memset(a, 0, sizeof *a);
}

int bm_review_answers_find(const bm_review_answers *a, const char *id) {
  for (int i = 0; i < a->n; i++)
    if (!strcmp(a->items[i].id, id)) return i;
  return -1;
}

/* Appends (or replaces) an answer, taking ownership of *ans's contents. */
int bm_review_answers_take(bm_review_answers *a, bm_review_answer *ans, bm_error *err) {
  int at = bm_review_answers_find(a, ans->id);
  if (at >= 0) {
    answer_free(&a->items[at]);
    a->items[at] = *ans;
    memset(ans, 0, sizeof *ans);
    return 0;
  }
  if (a->n == a->cap) {
    int cap = a->cap ? 2 * a->cap : 16;
    bm_review_answer *grown = bm_realloc(a->items, (size_t)cap * sizeof *grown);
    if (!grown) {
      answer_free(ans);
      return bm_fail(err, "out of memory");
    }
    a->items = grown;
    a->cap = cap;
  }
  a->items[a->n++] = *ans;
  memset(ans, 0, sizeof *ans);
  return 0;
}

int bm_review_answers_merge(bm_review_answers *dst, const bm_review_answers *src,
                            bm_error *err) {
  for (int i = 0; i < src->n; i++) {
    const bm_review_answer *s = &src->items[i];
    bm_review_answer copy = *s;
    copy.id = bm_strdup(s->id);
    copy.verdicts = NULL;
    if (s->n_verdicts) {
      copy.verdicts = bm_malloc((size_t)s->n_verdicts * sizeof *copy.verdicts);
      if (copy.verdicts)
        memcpy(copy.verdicts, s->verdicts, (size_t)s->n_verdicts * sizeof *copy.verdicts);
    }
    if (!copy.id || (s->n_verdicts && !copy.verdicts)) {
      answer_free(&copy);
      return bm_fail(err, "out of memory");
    }
    if (bm_review_answers_take(dst, &copy, err) != 0) return -1;
  }
  return 0;
}

static float iou(const bm_review_box *m, const bm_review_returned *r) {
  return bm_iou_voc(m->x1, m->y1, m->x2, m->y2, r->x1, r->y1, r->x2, r->y2);
}

static void set_box(bm_review_verdict *v, const bm_review_returned *r) {
  v->class_id = r->class_id;
  v->x1 = r->x1;
  v->y1 = r->y1;
  v->x2 = r->x2;
  v->y2 = r->y2;
  v->difficult = r->difficult;
}

int bm_review_match(const bm_review_image *image, const bm_review_returned *boxes, int n,
                    bm_review_answer *out, bm_error *err) {
  memset(out, 0, sizeof *out);
  out->lead_time = NAN;
  int m = image->n_boxes;
  int *claim = m ? bm_malloc((size_t)m * sizeof *claim) : NULL; /* returned index or -1 */
  int *kind = n ? bm_malloc((size_t)n * sizeof *kind) : NULL;   /* per returned box */
  int *target = n ? bm_malloc((size_t)n * sizeof *target) : NULL;
  out->verdicts = (m + n) ? bm_calloc((size_t)(m + n), sizeof *out->verdicts) : NULL;
  out->id = bm_strdup(image->id);
  if ((m && !claim) || (n && (!kind || !target)) || ((m + n) && !out->verdicts) || !out->id) {
    bm_free(claim);
    bm_free(kind);
    bm_free(target);
    answer_free(out);
    return bm_fail(err, "out of memory");
  }
  for (int j = 0; j < m; j++) claim[j] = -1;
  /* 1. boxes that carry a machine id claim it (the first one to name it) */
  for (int i = 0; i < n; i++) {
    const bm_review_returned *r = &boxes[i];
    kind[i] = -1;
    target[i] = -1;
    if (r->origin == BM_REVIEW_ORIGIN_MANUAL || r->machine < 0 || r->machine >= m) continue;
    if (claim[r->machine] >= 0) continue;
    claim[r->machine] = i;
    target[i] = r->machine;
    const bm_review_box *mb = &image->boxes[r->machine];
    if (r->origin == BM_REVIEW_ORIGIN_PREDICTION) kind[i] = BM_REVIEW_ACCEPTED;
    else if (r->origin == BM_REVIEW_ORIGIN_CHANGED) kind[i] = BM_REVIEW_ADJUSTED;
    else
      kind[i] = (r->class_id == mb->class_id && iou(mb, r) >= BM_REVIEW_SAME_IOU)
                    ? BM_REVIEW_ACCEPTED
                    : BM_REVIEW_ADJUSTED;
  }
  /* 2. boxes with neither id nor origin manual claim the best unclaimed overlap >= 0.99,
   * a same-class box first */
  for (int i = 0; i < n; i++) {
    const bm_review_returned *r = &boxes[i];
    if (target[i] >= 0 || r->origin == BM_REVIEW_ORIGIN_MANUAL) continue;
    int best = -1, best_same = 0;
    float best_iou = 0;
    for (int j = 0; j < m; j++) {
      if (claim[j] >= 0) continue;
      float v = iou(&image->boxes[j], r);
      if (v < BM_REVIEW_SAME_IOU) continue;
      int same = image->boxes[j].class_id == r->class_id;
      if (best < 0 || same > best_same || (same == best_same && v > best_iou)) {
        best = j;
        best_same = same;
        best_iou = v;
      }
    }
    if (best < 0) continue;
    claim[best] = i;
    target[i] = best;
    kind[i] = best_same ? BM_REVIEW_ACCEPTED : BM_REVIEW_ADJUSTED;
  }
  /* 3. verdicts: machine boxes in id order, then the added ones */
  int nv = 0;
  for (int j = 0; j < m; j++) {
    bm_review_verdict *v = &out->verdicts[nv++];
    v->machine = j;
    if (claim[j] >= 0) {
      v->kind = kind[claim[j]];
      set_box(v, &boxes[claim[j]]);
    } else {
      const bm_review_box *mb = &image->boxes[j];
      v->kind = BM_REVIEW_DELETED;
      v->class_id = mb->class_id;
      v->x1 = mb->x1;
      v->y1 = mb->y1;
      v->x2 = mb->x2;
      v->y2 = mb->y2;
    }
  }
  for (int i = 0; i < n; i++) {
    if (target[i] >= 0) continue;
    bm_review_verdict *v = &out->verdicts[nv++];
    v->kind = BM_REVIEW_ADDED;
    v->machine = -1;
    set_box(v, &boxes[i]);
  }
  out->n_verdicts = nv;
  for (int k = 0; k < nv; k++) out->counts[out->verdicts[k].kind]++;
  bm_free(claim);
  bm_free(kind);
  bm_free(target);
  return 0;
}

int bm_review_charge(struct bm_ledger *ledger, int round, int image,
                     const bm_review_answer *answer, bm_error *err) {
  if (bm_ledger_record(ledger, round, image, BM_ACTION_IMAGE, -1, 0, err) != 0) return -1;
  for (int k = 0; k < answer->n_verdicts; k++) {
    const bm_review_verdict *v = &answer->verdicts[k];
    int action = v->kind == BM_REVIEW_ADJUSTED ? BM_ACTION_ADJUST
                 : v->kind == BM_REVIEW_ADDED  ? BM_ACTION_DRAW
                                               : BM_ACTION_VERIFY;
    if (bm_ledger_record(ledger, round, image, action, v->class_id,
                         v->kind == BM_REVIEW_ACCEPTED, err) != 0)
      return -1;
  }
  if (isfinite(answer->lead_time) &&
      bm_ledger_record_time(ledger, round, image, answer->lead_time, err) != 0)
    return -1;
  return 0;
}
