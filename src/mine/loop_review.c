/* Oracle human in the mining loop (docs/REVIEW.md, "In the mining loop"): a round's fused
 * batch is written for people as RUN/review/round-R/ and the loop stops, awaiting review;
 * when the run is resumed, the answers in that folder's answers.json become the round's
 * fusion results, charged to the ledger as people worked (adjusts, measured seconds). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_review.h"
#include "mine/loop_internal.h"

void loop_record_human(const bm_loop *loop, bm_round_record *rec) {
  const bm_ledger *ledger = &loop->st.ledger;
  int through = rec->phase == 2 ? rec->round : -1;
  rec->human_adjusts = bm_ledger_through(ledger, through).adjusts;
  rec->human_measured_seconds = bm_ledger_measured_through(ledger, through, &rec->human_measured_images);
  if (rec->human_measured_images == 0) rec->human_measured_seconds = NAN;
}

char *loop_review_dir(const bm_loop *loop, int round) {
  char name[48];
  snprintf(name, sizeof name, "review/round-%d", round);
  return bm_run_path(loop->run, name);
}

int loop_review_export(bm_loop *loop, const bm_round_plan *plan, const bm_fusion_result *results,
                       bm_error *err) {
  const bm_dataset *pool = loop->pool;
  const bm_loop_opts *o = &loop->opts;
  char version[32], settings[512];
  snprintf(version, sizeof version, "round-%d", plan->round);
  snprintf(settings, sizeof settings,
           "{\"strategy\":\"%s\",\"K\":%d,\"certain_thre\":%g,\"uncertain_thre\":%g,"
           "\"judge_iou\":%g,\"seed\":%llu}",
           bm_strategy_name(o->mine.strategy), o->mine.K, o->fusion.certain_thre,
           o->fusion.uncertain_thre, o->fusion.judge_iou, (unsigned long long)o->seed);
  bm_review_queue q;
  if (bm_review_queue_init(&q, plan->round, version, pool->class_names, pool->n_classes,
                           settings, err))
    return -1;
  int rc = 0;
  for (int i = 0; i < plan->batch.n && rc == 0; i++) {
    const bm_fusion_result *res = &results[i];
    const bm_image_info *info = &pool->images[res->image];
    bm_review_box *boxes = res->n_boxes ? bm_calloc((size_t)res->n_boxes, sizeof *boxes) : NULL;
    if (res->n_boxes && !boxes) {
      rc = bm_fail(err, "out of memory");
      break;
    }
    for (int b = 0; b < res->n_boxes; b++) {
      const bm_fused_box *f = &res->boxes[b];
      boxes[b] = (bm_review_box){f->class_id, f->score, f->x1, f->y1, f->x2, f->y2, f->role};
    }
    rc = bm_review_queue_add(&q, info->id, res->image, info->image_path, info->width,
                             info->height, boxes, res->n_boxes, err);
    bm_free(boxes);
  }
  char *dir = rc == 0 ? loop_review_dir(loop, plan->round) : NULL;
  if (rc == 0 && !dir) rc = bm_fail(err, "out of memory");
  bm_review_export_opts eo;
  bm_review_export_opts_default(&eo);
  if (rc == 0) rc = bm_review_export_dir(&q, &eo, dir, err);
  bm_free(dir);
  bm_review_queue_free(&q);
  return rc;
}

int loop_review_collect(bm_loop *loop, bm_round_plan *plan, bm_fusion_result **results,
                        bm_object ***gts, int *n_answered, int *n_total, bm_error *err) {
  bm_mine_state *st = &loop->st;
  *results = NULL;
  *gts = NULL;
  *n_answered = *n_total = 0;
  char *dir = loop_review_dir(loop, st->round);
  char *manifest = dir ? bm_path_join(dir, "manifest.json") : NULL;
  char *answers = dir ? bm_path_join(dir, "answers.json") : NULL;
  bm_review_queue q;
  bm_review_answers a = {0};
  memset(&q, 0, sizeof q);
  int rc = manifest && answers ? 0 : bm_fail(err, "out of memory");
  if (rc == 0) rc = bm_review_manifest_load(manifest, &q, err);
  if (rc == 0 && q.round != st->round)
    rc = bm_fail(err, "%s is round %d, the run waits for round %d", manifest, q.round, st->round);
  /* the manifest must be the batch the state holds */
  int in_batch = 0;
  for (int i = 0; i < st->n_images; i++) in_batch += st->images[i].pool == BM_POOL_BATCH;
  if (rc == 0 && in_batch != q.n_images)
    rc = bm_fail(err, "%s lists %d images, the run's batch has %d", manifest, q.n_images, in_batch);
  for (int i = 0; rc == 0 && i < q.n_images; i++) {
    const bm_review_image *img = &q.images[i];
    if (img->index < 0 || img->index >= loop->pool->n_images ||
        strcmp(loop->pool->images[img->index].id, img->id) != 0 ||
        st->images[img->index].pool != BM_POOL_BATCH)
      rc = bm_fail(err, "%s: image '%s' (index %d) is not in the run's batch", manifest, img->id,
                   img->index);
  }
  if (rc == 0 && bm_file_exists(answers)) rc = bm_review_answers_load(answers, &q, &a, err);
  *n_total = q.n_images;
  *n_answered = a.n;
  if (rc == 0 && a.n > 0) {
    *results = bm_calloc((size_t)a.n, sizeof **results);
    *gts = bm_calloc((size_t)a.n, sizeof **gts);
    int *later = bm_malloc((size_t)(q.n_images > 0 ? q.n_images : 1) * sizeof *later);
    int n_later = 0, k = 0;
    if (!*results || !*gts || !later) rc = bm_fail(err, "out of memory");
    memset(plan, 0, sizeof *plan);
    plan->round = st->round;
    for (int i = 0; rc == 0 && i < q.n_images; i++) {
      const bm_review_image *img = &q.images[i];
      int at = bm_review_answers_find(&a, img->id);
      if (at < 0) {
        later[n_later++] = img->index;
        continue;
      }
      const bm_review_answer *ans = &a.items[at];
      rc = bm_review_fusion_result(img, ans, &loop->opts.fusion, img->index, st->round,
                                   &(*gts)[k], &(*results)[k], err);
      if (rc == 0) rc = bm_review_charge(&st->ledger, st->round, img->index, ans, err);
      if (rc == 0 && bm_index_list_push(&plan->batch, img->index)) rc = bm_fail(err, "out of memory");
      k++;
    }
    if (rc == 0) rc = bm_mine_requeue_front(st, later, n_later, err);
    bm_free(later);
  }
  bm_review_answers_free(&a);
  bm_review_queue_free(&q);
  bm_free(manifest);
  bm_free(answers);
  bm_free(dir);
  return rc;
}
