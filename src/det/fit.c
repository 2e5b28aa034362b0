/* The `boxmine train` loop over a run folder: epochs, evaluation, checkpoints, TensorBoard
 * scalars, early stop (see bm_trainer_fit in bm_det.h). */
#include <math.h>
#include <string.h>

#include "boxmine/bm_eval.h"
#include "det/det_internal.h"

bm_fit_opts bm_fit_defaults(void) {
  bm_fit_opts o;
  memset(&o, 0, sizeof o);
  o.epochs = 100;
  o.eval_every = 5;
  o.checkpoint_minutes = 10;
  o.log_every = 10;
  o.ap_range = 0;
  o.ap_shift = 0.001;
  o.ap_thre = 0.5;
  o.detect = bm_detect_defaults();
  return o;
}

typedef struct fit_run {
  bm_trainer *tr;
  const bm_fit_opts *opts;
  const bm_fit_hooks *hooks;
  bm_tfevents *events;
  char *last_ckpt, *last_weights, *best_ckpt, *best_weights;
  double last_save;   /* bm_now() of the last save of last.ckpt */
  int save_failed;    /* a mid-epoch save failed: reported at the end of the epoch */
  int interrupted;
  bm_error error;
} fit_run;

static int scalar(fit_run *run, const char *tag, int64_t step, double value) {
  if (!isfinite(value)) return 0; /* TensorBoard has no use for NaN points */
  return bm_tfevents_scalar(run->events, tag, step, (float)value, bm_wall_time(), &run->error);
}

static int save_last(fit_run *run, bm_error *err) {
  if (bm_trainer_save(run->tr, run->last_ckpt, run->opts->extra, run->opts->extra_user, err))
    return -1;
  run->last_save = bm_now();
  return 0;
}

static int on_update(void *user, bm_trainer *tr, const bm_train_progress *p) {
  fit_run *run = user;
  const bm_fit_opts *opts = run->opts;
  if (opts->log_every > 0 && p->iteration % opts->log_every == 0) {
    int rc = scalar(run, "Train/loss", p->iteration, p->loss);
    rc |= scalar(run, "Train/loss_box", p->iteration, p->box);
    rc |= scalar(run, "Train/loss_obj", p->iteration, p->obj);
    rc |= scalar(run, "Train/loss_cls", p->iteration, p->cls);
    rc |= scalar(run, "Train/lr", p->iteration, p->lr);
    rc |= scalar(run, "Train/grad_norm", p->iteration, p->grad_norm);
    if (rc) run->save_failed = 1;
  }
  int stop = run->hooks && run->hooks->on_update && run->hooks->on_update(run->hooks->user, p);
  int epoch_done = p->batch == p->n_batches;
  if (stop && !epoch_done) {
    run->interrupted = 1;
    return 1;
  }
  if (!epoch_done && opts->checkpoint_minutes > 0 &&
      bm_now() - run->last_save >= 60 * opts->checkpoint_minutes && save_last(run, &run->error))
    run->save_failed = 1;
  if (stop) run->interrupted = 1; /* at an epoch end: the epoch's own save happens first */
  (void)tr;
  return 0;
}

static void eval_progress(void *user, long done, long total) {
  fit_run *run = user;
  if (run->hooks && run->hooks->on_eval_progress) run->hooks->on_eval_progress(run->hooks->user, done, total);
}

/* Evaluates on val; records the AP; saves best.* when it improves. */
static int evaluate(fit_run *run, const bm_dataset *val, bm_eval_summary *eval, int *is_best,
                    bm_fit_result *result, bm_error *err) {
  bm_trainer *tr = run->tr;
  bm_detector *det = bm_trainer_detector(tr);
  double start = bm_now();
  bm_detections dets = {0};
  /* the trainer's evaluation, with a progress callback */
  int rc = bm_detector_check_classes(det, val, err);
  if (rc == 0)
    rc = bm_detector_detect_dataset(det, val, NULL, 0, &run->opts->detect, eval_progress, run, &dets, err);
  bm_net_set_training(bm_detector_net(det), 1);
  bm_voc_result voc;
  memset(&voc, 0, sizeof voc);
  if (rc == 0) rc = bm_eval_voc(val, NULL, 0, &dets, &voc, err);
  if (rc == 0) {
    eval->ap50 = voc.map12[0];
    eval->ap75 = voc.map12[1];
    eval->ap50_07 = voc.map07[0];
    eval->n_images = val->n_images;
    eval->n_detections = dets.n;
    eval->seconds = bm_now() - start;
  }
  bm_voc_result_free(&voc);
  bm_detections_free(&dets);
  if (rc) return -1;
  if (bm_trainer_record_ap(tr, eval->ap50, eval->ap75)) return bm_fail(err, "out of memory");
  int64_t epoch = bm_trainer_epoch(tr);
  scalar(run, "Accuracy/AP_50", epoch, eval->ap50);
  scalar(run, "Accuracy/AP_75", epoch, eval->ap75);
  *is_best = isfinite(eval->ap50) && (!isfinite(result->best_ap50) || eval->ap50 > result->best_ap50);
  if (*is_best) {
    result->best_ap50 = eval->ap50;
    result->best_epoch = epoch;
    if (bm_trainer_save(tr, run->best_ckpt, run->opts->extra, run->opts->extra_user, err) ||
        bm_detector_export_darknet(det, run->best_weights, NULL, err))
      return -1;
  }
  return 0;
}

/* Best AP50 so far from the trainer's history (it survives a resume). */
static void best_from_history(const bm_trainer *tr, bm_fit_result *result) {
  result->best_ap50 = NAN;
  result->best_epoch = 0;
  for (int k = 0; k < bm_trainer_n_history(tr); k++) {
    int64_t epoch;
    double ap50;
    bm_trainer_history(tr, k, &epoch, &ap50, NULL);
    if (isfinite(ap50) && (!isfinite(result->best_ap50) || ap50 > result->best_ap50)) {
      result->best_ap50 = ap50;
      result->best_epoch = epoch;
    }
  }
}

/* The early-stop state replayed from the trainer's history (so it survives a resume). */
static int replay_earlystop(const bm_trainer *tr, const bm_fit_opts *opts, bm_earlystop *es,
                            bm_error *err) {
  if (opts->ap_range < 1) return 0;
  if (bm_earlystop_init(es, opts->ap_range, opts->ap_thre, opts->ap_shift, err)) return -1;
  for (int k = 0; k < bm_trainer_n_history(tr); k++) {
    double ap50;
    bm_trainer_history(tr, k, NULL, &ap50, NULL);
    if (isfinite(ap50) && bm_earlystop_add(es, ap50, err) < 0) return -1;
  }
  return 0;
}


int bm_trainer_fit(bm_trainer *tr, const bm_dataset *train, const bm_dataset *val,
                   const bm_fit_opts *opts, const bm_fit_hooks *hooks, bm_fit_result *result,
                   bm_error *err) {
  memset(result, 0, sizeof *result);
  best_from_history(tr, result);
  if (train->n_images < 1) return bm_fail(err, "the training set has no images");
  if (bm_mkdir_p(opts->run_dir, err)) return -1;
  fit_run run;
  memset(&run, 0, sizeof run);
  run.tr = tr;
  run.opts = opts;
  run.hooks = hooks;
  run.last_ckpt = bm_path_join(opts->run_dir, "last.ckpt");
  run.last_weights = bm_path_join(opts->run_dir, "last.weights");
  run.best_ckpt = bm_path_join(opts->run_dir, "best.ckpt");
  run.best_weights = bm_path_join(opts->run_dir, "best.weights");
  run.last_save = bm_now();
  bm_train_sample *samples = bm_calloc((size_t)train->n_images, sizeof *samples);
  int rc = 0;
  if (!run.last_ckpt || !run.last_weights || !run.best_ckpt || !run.best_weights || !samples)
    rc = bm_fail(err, "out of memory");
  if (rc == 0) rc = bm_detector_write_run_files(bm_trainer_detector(tr), opts->run_dir, err);
  if (rc == 0 && !(run.events = bm_tfevents_open(opts->run_dir, bm_wall_time(), err))) rc = -1;
  for (int k = 0; samples && k < train->n_images; k++) samples[k].image = k;
  bm_train_hooks train_hooks = {on_update, &run};
  bm_earlystop es;
  if (rc == 0) rc = replay_earlystop(tr, opts, &es, err);
  int64_t first_epoch = bm_trainer_epoch(tr);
  while (rc == 0 && bm_trainer_epoch(tr) < opts->epochs && !run.interrupted) {
    if (opts->stop_after > 0 && bm_trainer_epoch(tr) - first_epoch >= opts->stop_after) {
      run.interrupted = 1;
      break;
    }
    bm_epoch_summary summary;
    int trained = bm_trainer_train_epochs(tr, train, samples, train->n_images, 1, &train_hooks,
                                          &summary, err);
    if (trained < 0 || run.save_failed) {
      if (trained >= 0) *err = run.error;
      rc = -1;
      break;
    }
    if (trained == 1) { /* interrupted inside an epoch */
      rc = save_last(&run, err);
      break;
    }
    int64_t epoch = bm_trainer_epoch(tr);
    bm_eval_summary eval;
    int evaluated = 0, is_best = 0, stop = 0;
    double shift = -1;
    if (val && opts->eval_every > 0 && (epoch % opts->eval_every == 0 || epoch == opts->epochs)) {
      if (evaluate(&run, val, &eval, &is_best, result, err)) {
        rc = -1;
        break;
      }
      evaluated = 1;
      if (opts->ap_range > 0 && isfinite(eval.ap50)) {
        stop = bm_earlystop_add(&es, eval.ap50, err);
        if (stop < 0) {
          rc = -1;
          break;
        }
        shift = bm_earlystop_shift(&es);
        if (shift >= 0) scalar(&run, "Accuracy/AP_shift", epoch, shift);
      }
    }
    rc = save_last(&run, err);
    if (rc == 0) rc = bm_detector_export_darknet(bm_trainer_detector(tr), run.last_weights, NULL, err);
    if (rc) break;
    if (hooks && hooks->on_epoch) hooks->on_epoch(hooks->user, &summary, evaluated ? &eval : NULL, shift, is_best);
    if (stop) {
      result->stopped_early = 1;
      break;
    }
  }
  result->epochs = bm_trainer_epoch(tr);
  result->interrupted = run.interrupted;
  bm_error close_err;
  if (run.events && bm_tfevents_close(run.events, &close_err) && rc == 0) {
    *err = close_err;
    rc = -1;
  }
  bm_free(samples);
  bm_free(run.last_ckpt);
  bm_free(run.last_weights);
  bm_free(run.best_ckpt);
  bm_free(run.best_weights);
  return rc;
}
