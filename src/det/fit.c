/* The `boxmine train` schedule over a run folder (bm_run.h): epochs, evaluation after some of
 * them, last.ckpt after each, best.ckpt at the best AP50, early stop (see bm_trainer_fit in
 * bm_det.h). */
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
  bm_run *run;
  int interrupted;
} fit_run;

/* The run folder's saver: the trainer's whole state and the caller's sections. */
static int save_state(void *user, const char *path, bm_error *err) {
  const fit_run *fr = user;
  return bm_trainer_save(fr->tr, path, fr->opts->extra, fr->opts->extra_user, err);
}

static int on_update(void *user, bm_trainer *tr, const bm_train_progress *p) {
  fit_run *fr = user;
  const bm_fit_opts *opts = fr->opts;
  if (opts->log_every > 0 && p->iteration % opts->log_every == 0) {
    static const char *const tags[6] = {"Train/loss",     "Train/loss_box", "Train/loss_obj",
                                        "Train/loss_cls", "Train/lr",       "Train/grad_norm"};
    const double values[6] = {p->loss, p->box, p->obj, p->cls, p->lr, p->grad_norm};
    for (int k = 0; k < 6; k++) {
      bm_error err;
      if (bm_run_scalar(fr->run, tags[k], p->iteration, values[k], &err))
        bm_run_fail_later(fr->run, &err);
    }
  }
  int stop = fr->hooks && fr->hooks->on_update && fr->hooks->on_update(fr->hooks->user, p);
  int epoch_done = p->batch == p->n_batches;
  if (stop && !epoch_done) {
    fr->interrupted = 1;
    return 1;
  }
  if (!epoch_done) bm_run_tick(fr->run);
  if (stop) fr->interrupted = 1; /* at an epoch end: the epoch's own save happens first */
  (void)tr;
  return 0;
}

static void eval_progress(void *user, long done, long total) {
  fit_run *fr = user;
  if (fr->hooks && fr->hooks->on_eval_progress) fr->hooks->on_eval_progress(fr->hooks->user, done, total);
}

/* Evaluates on val; records the AP; saves best.* when it improves. */
static int evaluate(fit_run *fr, const bm_dataset *val, bm_eval_summary *eval, int *is_best,
                    bm_run_best *best, bm_error *err) {
  bm_trainer *tr = fr->tr;
  bm_detector *det = bm_trainer_detector(tr);
  double start = bm_now();
  bm_detections dets = {0};
  /* the trainer's evaluation, with a progress callback */
  int rc = bm_detector_check_classes(det, val, err);
  if (rc == 0)
    rc = bm_detector_detect_dataset(det, val, NULL, 0, &fr->opts->detect, eval_progress, fr, &dets, err);
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
  bm_run_scalar(fr->run, "Accuracy/AP_50", epoch, eval->ap50, NULL);
  bm_run_scalar(fr->run, "Accuracy/AP_75", epoch, eval->ap75, NULL);
  *is_best = bm_run_best_offer(best, eval->ap50, epoch);
  if (*is_best) {
    char *weights = bm_run_path(fr->run, "best.weights");
    rc = weights ? bm_run_save(fr->run, bm_run_best_ckpt(fr->run), err)
                 : bm_fail(err, "out of memory");
    if (rc == 0) rc = bm_detector_export_darknet(det, weights, NULL, err);
    bm_free(weights);
    if (rc) return -1;
  }
  return 0;
}

/* The best AP50 and the early-stop state from the trainer's history (so a resumed run
 * goes on as an uninterrupted one would). */
static int from_history(const bm_trainer *tr, const bm_fit_opts *opts, bm_run_best *best,
                        bm_earlystop *es, bm_error *err) {
  int n = bm_trainer_n_history(tr);
  double *ap50 = bm_malloc((size_t)(n > 0 ? n : 1) * sizeof *ap50);
  if (!ap50) return bm_fail(err, "out of memory");
  bm_run_best_init(best, 0);
  for (int k = 0; k < n; k++) {
    int64_t epoch;
    bm_trainer_history(tr, k, &epoch, &ap50[k], NULL);
    bm_run_best_offer(best, ap50[k], epoch);
  }
  int rc = opts->ap_range < 1 ? 0
                              : bm_earlystop_replay(es, opts->ap_range, opts->ap_thre,
                                                    opts->ap_shift, ap50, n, err);
  bm_free(ap50);
  return rc;
}

int bm_trainer_fit(bm_trainer *tr, const bm_dataset *train, const bm_dataset *val,
                   const bm_fit_opts *opts, const bm_fit_hooks *hooks, bm_fit_result *result,
                   bm_error *err) {
  memset(result, 0, sizeof *result);
  result->best_ap50 = NAN;
  if (train->n_images < 1) return bm_fail(err, "the training set has no images");
  fit_run fr;
  memset(&fr, 0, sizeof fr);
  fr.tr = tr;
  fr.opts = opts;
  fr.hooks = hooks;
  fr.run = opts->run;
  if (!fr.run && bm_run_open(&fr.run, opts->run_dir, BM_RUN_ANY, err)) return -1;
  bm_run_set_saver(fr.run, save_state, &fr, opts->checkpoint_minutes);
  bm_run_best best;
  bm_earlystop es;
  char *last_weights = bm_run_path(fr.run, "last.weights");
  bm_train_sample *samples = bm_calloc((size_t)train->n_images, sizeof *samples);
  int rc = from_history(tr, opts, &best, &es, err);
  if (rc == 0 && (!last_weights || !samples)) rc = bm_fail(err, "out of memory");
  if (rc == 0) rc = bm_detector_write_run_files(bm_trainer_detector(tr), bm_run_dir(fr.run), err);
  if (rc == 0) rc = bm_run_events_open(fr.run, err);
  for (int k = 0; samples && k < train->n_images; k++) samples[k].image = k;
  bm_train_hooks train_hooks = {on_update, &fr};
  int64_t first_epoch = bm_trainer_epoch(tr);
  while (rc == 0 && bm_trainer_epoch(tr) < opts->epochs && !fr.interrupted) {
    if (opts->stop_after > 0 && bm_trainer_epoch(tr) - first_epoch >= opts->stop_after) {
      fr.interrupted = 1;
      break;
    }
    bm_epoch_summary summary;
    int trained = bm_trainer_train_epochs(tr, train, samples, train->n_images, 1, &train_hooks,
                                          &summary, err);
    if (trained < 0 || bm_run_failed(fr.run, err)) {
      rc = -1;
      break;
    }
    if (trained == 1) { /* interrupted inside an epoch */
      rc = bm_run_save(fr.run, NULL, err);
      break;
    }
    int64_t epoch = bm_trainer_epoch(tr);
    bm_eval_summary eval;
    int evaluated = 0, is_best = 0, stop = 0;
    double shift = -1;
    if (val && opts->eval_every > 0 && (epoch % opts->eval_every == 0 || epoch == opts->epochs)) {
      if (evaluate(&fr, val, &eval, &is_best, &best, err)) {
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
        if (shift >= 0) bm_run_scalar(fr.run, "Accuracy/AP_shift", epoch, shift, NULL);
      }
    }
    rc = bm_run_save(fr.run, NULL, err);
    if (rc == 0) rc = bm_detector_export_darknet(bm_trainer_detector(tr), last_weights, NULL, err);
    if (rc) break;
    if (hooks && hooks->on_epoch) hooks->on_epoch(hooks->user, &summary, evaluated ? &eval : NULL, shift, is_best);
    if (stop) {
      result->stopped_early = 1;
      break;
    }
  }
  result->epochs = bm_trainer_epoch(tr);
  result->interrupted = fr.interrupted;
  result->best_ap50 = best.value;
  result->best_epoch = best.at;
  bm_error close_err;
  if (bm_run_events_close(fr.run, &close_err) && rc == 0) {
    *err = close_err;
    rc = -1;
  }
  bm_run_set_saver(fr.run, NULL, NULL, 0);
  if (!opts->run) bm_run_close(fr.run);
  bm_free(samples);
  bm_free(last_weights);
  return rc;
}
