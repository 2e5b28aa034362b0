/* The steps a phase-1 epoch or a mining round is made of (loop_internal.h): training an
 * epoch on a list of pool images (with saves inside long epochs), detection, evaluation on
 * the test split and E_new, and the records (TensorBoard scalars, the on_record hook). */
#include <math.h>
#include <string.h>

#include "boxmine/bm_eval.h"
#include "boxmine/bm_mine_loop.h"
#include "mine/loop_internal.h"

/* ---- detection and evaluation ---------------------------------------------------------- */

typedef struct detect_progress {
  bm_loop *loop;
  const char *what;
} detect_progress;

static void on_detect_progress(void *user, long done, long total) {
  detect_progress *dp = user;
  const bm_loop_hooks *h = dp->loop->hooks;
  if (h && h->on_detect) h->on_detect(h->user, dp->what, done, total);
}

int loop_detect(bm_loop *loop, const bm_dataset *ds, const int *split, int n_split,
                  const bm_detect_opts *dopts, const char *what, bm_detections *out,
                  bm_error *err) {
  bm_detector *det = bm_trainer_detector(loop->tr);
  detect_progress dp = {loop, what};
  int rc = bm_detector_detect_dataset(det, ds, split, n_split, dopts, on_detect_progress, &dp, out,
                                      err);
  bm_net_set_training(bm_detector_net(det), 1);
  return rc;
}

/* AP50, AP75 (VOC all-point) and COCO AP on the test split into rec; AP50 on E_new. */
int loop_evaluate(bm_loop *loop, bm_round_record *rec, double *ap50_new, bm_error *err) {
  bm_detections dets = {0};
  bm_voc_result voc;
  bm_coco_result coco;
  memset(&voc, 0, sizeof voc);
  memset(&coco, 0, sizeof coco);
  int rc = loop_detect(loop, loop->test, NULL, 0, &loop->opts.eval_detect, "evaluate", &dets, err);
  if (rc == 0) rc = bm_eval_voc(loop->test, NULL, 0, &dets, &voc, err);
  if (rc == 0) rc = bm_eval_coco(loop->test, NULL, 0, &dets, &coco, err);
  if (rc == 0) {
    rec->ap50 = voc.map12[0];
    rec->ap75 = voc.map12[1];
    rec->ap_coco = coco.stats.ap >= 0 ? coco.stats.ap : NAN;
  }
  bm_voc_result_free(&voc);
  bm_coco_result_free(&coco);
  bm_detections_free(&dets);
  *ap50_new = NAN;
  const bm_index_list *e_new = &loop->st.eval_new;
  if (rc == 0 && e_new->n > 0) {
    bm_detections found = {0};
    memset(&voc, 0, sizeof voc);
    rc = loop_detect(loop, loop->pool, e_new->items, e_new->n, &loop->opts.eval_detect,
                "evaluate E_new", &found, err);
    if (rc == 0) rc = bm_eval_voc(loop->pool, e_new->items, e_new->n, &found, &voc, err);
    if (rc == 0) *ap50_new = voc.map12[0];
    bm_voc_result_free(&voc);
    bm_detections_free(&found);
  }
  return rc;
}

double loop_metric(const bm_loop *loop, const bm_round_record *rec) {
  return loop->opts.ap_metric == BM_AP_METRIC_AP75   ? rec->ap75
         : loop->opts.ap_metric == BM_AP_METRIC_COCO ? rec->ap_coco
                                                     : rec->ap50;
}

/* ---- training -------------------------------------------------------------------------- */

static void scalar(bm_loop *loop, const char *tag, int64_t step, double value) {
  bm_run_scalar(loop->run, tag, step, value, NULL); /* a failed scalar does not stop mining */
}

static int on_update(void *user, bm_trainer *tr, const bm_train_progress *p) {
  bm_loop *loop = user;
  (void)tr;
  if (loop->opts.log_every > 0 && p->iteration % loop->opts.log_every == 0) {
    scalar(loop, "Train/loss", p->iteration, p->loss);
    scalar(loop, "Train/lr", p->iteration, p->lr);
  }
  const bm_loop_hooks *h = loop->hooks;
  int stop = (h && h->on_update && h->on_update(h->user, p)) ||
             (h && h->should_stop && h->should_stop(h->user));
  if (stop) loop->stop_asked = 1;
  /* a long epoch (e.g. `full` on the whole pool) is saved inside too; the trainer's state is
   * consistent after every update, and a resumed epoch continues at the saved batch */
  int epoch_done = p->batch == p->n_batches;
  if (!stop && !epoch_done) bm_run_tick(loop->run);
  return stop;
}

/* Training samples for dataset images: the dataset's own objects for images labelled with
 * their ground truth, the stored annotation otherwise. *owned collects allocations. */
static int build_samples(bm_loop *loop, const int *images, int n, bm_train_sample **samples,
                         bm_object ***owned, bm_error *err) {
  *samples = bm_calloc((size_t)(n > 0 ? n : 1), sizeof **samples);
  *owned = bm_calloc((size_t)(n > 0 ? n : 1), sizeof **owned);
  if (!*samples || !*owned) return bm_fail(err, "out of memory");
  for (int i = 0; i < n; i++) {
    int image = images[i];
    (*samples)[i].image = image;
    if (loop->st.images[image].annotation == BM_ANN_GROUND_TRUTH) continue; /* objects NULL */
    const bm_image_info *info = &loop->pool->images[image];
    bm_object *objects;
    int n_objects;
    if (bm_mine_annotation_objects(&loop->st, image, loop->pool->objects + info->first_object,
                                   info->n_objects, &objects, &n_objects, err))
      return -1;
    (*owned)[i] = objects;
    /* NULL would mean "the dataset's objects": an empty annotation points elsewhere */
    (*samples)[i].objects = objects ? objects : &loop->dummy_object;
    (*samples)[i].n_objects = n_objects;
  }
  return 0;
}

static void free_samples(bm_train_sample *samples, bm_object **owned, int n) {
  for (int i = 0; owned && i < n; i++) bm_free(owned[i]);
  bm_free(owned);
  bm_free(samples);
}

/* One epoch over images. Returns 0 done, 1 stopped by a hook (state consistent), -1. */
int loop_train_epoch(bm_loop *loop, const int *images, int n, bm_epoch_summary *summary,
                       bm_error *err) {
  bm_train_sample *samples = NULL;
  bm_object **owned = NULL;
  int rc = build_samples(loop, images, n, &samples, &owned, err);
  bm_train_hooks th = {on_update, loop};
  if (rc == 0) rc = bm_trainer_train_epochs(loop->tr, loop->pool, samples, n, 1, &th, summary, err);
  if (rc >= 0 && bm_run_failed(loop->run, err)) rc = -1;
  free_samples(samples, owned, n);
  return rc;
}

/* ---- records ---------------------------------------------------------------------------- */

int loop_push_record(bm_loop *loop, const bm_round_record *rec, double ap50_new, bm_error *err) {
  if (loop->n_records == loop->cap_records) {
    int cap = loop->cap_records ? 2 * loop->cap_records : 32;
    double *grown = bm_realloc(loop->records, (size_t)cap * LOOP_RECORD_VALUES * sizeof *grown);
    if (!grown) return bm_fail(err, "out of memory");
    loop->records = grown;
    loop->cap_records = cap;
  }
  loop_record_to_values(rec, ap50_new, loop->records + (size_t)loop->n_records * LOOP_RECORD_VALUES);
  loop->n_records++;
  return 0;
}

static void log_record(bm_loop *loop, const bm_round_record *rec, double ap50_new) {
  int64_t epoch = bm_trainer_epoch(loop->tr);
  scalar(loop, "Accuracy/AP_50", epoch, rec->ap50);
  scalar(loop, "Accuracy/AP_75", epoch, rec->ap75);
  scalar(loop, "Accuracy/AP_COCO", epoch, rec->ap_coco);
  scalar(loop, "Accuracy/AP_shift", epoch, rec->ap_shift);
  scalar(loop, "Accuracy/AP_50_E_new", epoch, ap50_new);
  if (rec->phase != 2) return;
  int64_t r = rec->round;
  scalar(loop, "ASM/sample_num_SL", r, (double)rec->sl_images);
  scalar(loop, "ASM/sample_num_AL", r, (double)rec->al_images);
  scalar(loop, "ASM/box_num_SL", r, (double)rec->sl_boxes);
  scalar(loop, "ASM/box_num_AL", r, (double)rec->al_boxes);
  scalar(loop, "ASM/sl_score", r, rec->mean_sl_score);
  scalar(loop, "ASM/al_ratio", r, rec->mean_al_ratio);
  scalar(loop, "ASM/pseudo_precision", r, rec->pseudo_precision);
  scalar(loop, "ASM/pseudo_recall", r, rec->pseudo_recall);
  scalar(loop, "Pool/labeled", r, (double)rec->labeled_images);
  scalar(loop, "Pool/unlabeled", r, (double)rec->unlabeled_images);
  scalar(loop, "Pool/queued", r, (double)rec->queued_images);
  scalar(loop, "Human/seconds", r, rec->human_seconds);
  scalar(loop, "Human/draws", r, (double)rec->human_draws);
  scalar(loop, "Human/verifies", r, (double)rec->human_verifies);
  scalar(loop, "Human/images", r, (double)rec->human_images);
  /* the curve the method is judged by: accuracy against human effort (step = seconds) */
  scalar(loop, "Human/AP_50_vs_seconds", (int64_t)llround(rec->human_seconds), rec->ap50);
}

void loop_finish_record(bm_loop *loop, bm_round_record *rec, double ap50_new) {
  log_record(loop, rec, ap50_new);
  if (loop->hooks && loop->hooks->on_record) loop->hooks->on_record(loop->hooks->user, rec);
  loop->seconds_before = 0;
  loop->record_start = bm_now();
}

