/* The training state of a detector and the update loop: optimiser, schedule, counters,
 * evaluation history; epochs over a sample list; evaluation; checkpoints. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "boxmine/bm_eval.h"
#include "det/det_internal.h"
#include "det/loader.h"

/* Layout version of the trainer's sections (the container has its own version). */
#define TRAINER_STATE_VERSION 3
/* Batch-norm running statistics: the engine averages them with weight 0.01 per batch
 * (darknet's and bm_nn.h's rule), which lags far behind weights that move quickly in a short
 * CPU training run, so inference-mode outputs drift from training-mode ones. After each
 * training forward pass the trainer rescales the engine's step so the new batch weighs
 * BN_MOMENTUM instead: S = S_old + (BN_MOMENTUM / ENGINE_BN_MOMENTUM) (S_engine - S_old). */
#define ENGINE_BN_MOMENTUM 0.01f
#define BN_MOMENTUM 0.1f
/* Decoded training images kept in memory across epochs (src/det/image_cache.h): enough for
 * 4000 160x160 images (300 MiB) or 550 VOC-sized 500x375 ones; images beyond it are decoded
 * every epoch as before. */
#define IMAGE_CACHE_BYTES ((size_t)512 << 20)
/* Consecutive updates with a non-finite loss or gradient before training gives up. */
#define MAX_SKIPPED_IN_A_ROW 20

typedef struct history_entry {
  int64_t epoch;
  double ap50, ap75;
} history_entry;

struct bm_trainer {
  bm_detector *det;
  bm_train_opts opts;
  bm_optim optim;
  bm_schedule sched;
  long iters_per_epoch; /* what the schedule's epochs were converted with */
  int64_t epoch;        /* epochs completed */
  long position;        /* batches done in the epoch in progress (0 = at an epoch boundary) */
  uint64_t samples_hash; /* the sample list of the epoch in progress (position > 0) */
  int n_history, cap_history;
  history_entry *history;
  double epoch_sums[5]; /* loss, box, obj, cls, updates of the epoch in progress */
  float *bn_before;     /* [n_state]: running statistics before the current forward pass */
  /* with opts.ema_decay > 0: [n_params + n_state] each; the network holds ema between updates */
  float *raw, *ema;
  size_t frozen_params, frozen_state; /* opts.freeze: floats of the fixed prefix of each array */
  float *frozen_copy;                 /* [frozen_params]: the fixed parameters during an update */
  char *pretrained_summary;           /* what load_pretrained did, for the caller to print */
  bm_image_cache *image_cache; /* created at the first epoch; NULL when out of memory */
};

bm_train_opts bm_train_defaults(void) {
  bm_train_opts o;
  memset(&o, 0, sizeof o);
  o.batch = 16;
  o.threads = 2;
  o.seed = 1;
  o.optimizer = BM_OPTIM_SGD;
  o.nesterov = 0;
  o.lr = 0.01f;
  o.momentum = 0.9f;
  o.weight_decay = 5e-4f;
  o.clip_norm = 10.0f;
  o.schedule = BM_LR_COSINE;
  o.schedule_epochs = 60;
  o.min_lr_frac = 0.02f;
  o.warmup_iters = 200;
  o.jitter = 0.2f;
  o.hue = 0.05f;
  o.saturation = 1.5f;
  o.exposure = 1.5f;
  o.flip = 1;
  o.iou_thresh = 1.0f;
  o.ema_decay = 0.999f; /* docs/RESULTS.md: +3 AP50, +13 AP75 points after 5 of 20 epochs */
  return o;
}

static int check_opts(const bm_train_opts *o, bm_error *err) {
  if (o->batch < 1 || o->batch > 4096) return bm_fail(err, "batch %d is outside [1, 4096]", o->batch);
  if (o->threads < 1 || o->threads > 256) return bm_fail(err, "threads %d is outside [1, 256]", o->threads);
  if (!(o->lr > 0) || !isfinite(o->lr)) return bm_fail(err, "learning rate %g must be > 0", o->lr);
  if (o->optimizer < BM_OPTIM_SGD || o->optimizer > BM_OPTIM_ADAMW)
    return bm_fail(err, "unknown optimizer %d", (int)o->optimizer);
  if (o->schedule < BM_LR_CONST || o->schedule > BM_LR_COSINE)
    return bm_fail(err, "unknown schedule %d", (int)o->schedule);
  if (o->schedule != BM_LR_CONST && !(o->schedule_epochs > 0))
    return bm_fail(err, "schedule length %g epochs must be > 0", o->schedule_epochs);
  if (o->warmup_iters < 0) return bm_fail(err, "warm-up %ld must be >= 0", o->warmup_iters);
  if (!(o->iou_thresh >= 0 && o->iou_thresh <= 1)) return bm_fail(err, "iou_thresh %g is outside [0, 1]", o->iou_thresh);
  if (!(o->ema_decay >= 0 && o->ema_decay < 1)) return bm_fail(err, "EMA decay %g is outside [0, 1)", o->ema_decay);
  return 0;
}

/* Optimiser from the options, with decay on convolution weights only. */
static int init_optim(bm_trainer *tr, bm_error *err) {
  const bm_train_opts *o = &tr->opts;
  bm_optim_kind kind = o->optimizer;
  bm_optim_config cfg = bm_optim_defaults(kind);
  cfg.weight_decay = o->weight_decay;
  if (kind == BM_OPTIM_SGD) {
    cfg.momentum = o->momentum;
    cfg.nesterov = o->nesterov;
  } else {
    cfg.beta1 = o->momentum;
  }
  bm_network *net = bm_detector_net(tr->det);
  if (bm_optim_init(&tr->optim, &cfg, bm_net_n_params(net), err)) return -1;
  int n_groups;
  const bm_param_group *groups = bm_net_param_groups(net, &n_groups);
  for (int g = 0; g < n_groups; g++)
    if (bm_optim_set_decay(&tr->optim, groups[g].offset, groups[g].count,
                           groups[g].kind == BM_PARAM_CONV_WEIGHT, err))
      return -1;
  return 0;
}

static int init_schedule(bm_trainer *tr, bm_error *err) {
  const bm_train_opts *o = &tr->opts;
  int64_t total = (int64_t)ceil(o->schedule_epochs * (double)tr->iters_per_epoch);
  if (total < 1) total = 1;
  bm_schedule_config cfg;
  if (o->schedule == BM_LR_CONST) {
    cfg = bm_schedule_const(o->lr);
  } else if (o->schedule == BM_LR_COSINE) {
    cfg = bm_schedule_cosine(o->lr, o->lr * o->min_lr_frac, total);
  } else {
    int64_t milestones[2] = {(int64_t)(0.7 * (double)total), (int64_t)(0.9 * (double)total)};
    if (milestones[1] <= milestones[0]) milestones[1] = milestones[0] + 1;
    if (bm_schedule_milestones(&cfg, o->lr, 2, milestones, 0.1f, err)) return -1;
  }
  cfg.warmup_iters = o->warmup_iters;
  cfg.warmup_power = 1.0f;
  return bm_schedule_init(&tr->sched, &cfg, err);
}

/* Copies the network's parameters and state into buf ([n_params + n_state]) or back. */
static void net_to_buf(bm_network *net, float *buf) {
  size_t n_params = bm_net_n_params(net);
  memcpy(buf, bm_net_params(net), n_params * sizeof *buf);
  memcpy(buf + n_params, bm_net_state(net), bm_net_n_state(net) * sizeof *buf);
}
static void buf_to_net(const float *buf, bm_network *net) {
  size_t n_params = bm_net_n_params(net);
  memcpy(bm_net_params(net), buf, n_params * sizeof *buf);
  memcpy(bm_net_state(net), buf + n_params, bm_net_n_state(net) * sizeof *buf);
}

/* Scratch buffers; with EMA on, the raw and averaged copies start as the network's values. */
static int alloc_scratch(bm_trainer *tr, bm_error *err) {
  bm_network *net = bm_detector_net(tr->det);
  size_t n_state = bm_net_n_state(net), n_all = bm_net_n_params(net) + n_state;
  tr->bn_before = bm_malloc((n_state + 1) * sizeof *tr->bn_before);
  if (!tr->bn_before) return bm_fail(err, "out of memory");
  if (tr->opts.ema_decay > 0) {
    tr->raw = bm_malloc(n_all * sizeof *tr->raw);
    tr->ema = bm_malloc(n_all * sizeof *tr->ema);
    if (!tr->raw || !tr->ema) return bm_fail(err, "out of memory");
    net_to_buf(net, tr->raw);
    net_to_buf(net, tr->ema);
  }
  return 0;
}

/* opts.pretrained: the file's weights into every matching conv, with a summary for the log */
static int load_pretrained(bm_trainer *tr, bm_log *log, bm_error *err) {
  if (!tr->opts.pretrained) return 0;
  int loaded, kept;
  bm_buf report;
  bm_buf_init(&report);
  int rc = bm_detector_load_pretrained(tr->det, tr->opts.pretrained, &loaded, &kept, &report, log, err);
  bm_buf summary;
  bm_buf_init(&summary);
  bm_buf_printf(&summary, "pretrained: %d convolutions loaded from %s, %d initialised%s%s",
                loaded, tr->opts.pretrained, kept, kept ? ":\n" : "\n",
                kept && report.data ? report.data : "");
  bm_free(tr->pretrained_summary);
  tr->pretrained_summary = rc || summary.failed ? NULL : bm_strdup(summary.data);
  bm_buf_free(&summary);
  bm_buf_free(&report);
  tr->opts.pretrained = NULL; /* the caller's string; only needed here */
  return rc;
}

/* opts.freeze: the fixed prefix of the parameter and state arrays (they are in layer order) */
static int set_freeze(bm_trainer *tr, bm_error *err) {
  bm_network *net = bm_detector_net(tr->det);
  int freeze = tr->opts.freeze;
  if (freeze < 0 || freeze >= bm_detector_head_layer(tr->det, 0) - 1)
    return bm_fail(err, "--freeze %d: must be 0 (nothing) or below %d, the conv feeding the first "
                   "[yolo] head", freeze, bm_detector_head_layer(tr->det, 0) - 1);
  bm_net_set_frozen(net, freeze);
  int n_groups;
  const bm_param_group *g = bm_net_param_groups(net, &n_groups);
  tr->frozen_params = tr->frozen_state = 0;
  for (int k = 0; k < n_groups && g[k].layer < freeze; k++) tr->frozen_params = g[k].offset + g[k].count;
  g = bm_net_state_groups(net, &n_groups);
  for (int k = 0; k < n_groups && g[k].layer < freeze; k++) tr->frozen_state = g[k].offset + g[k].count;
  bm_free(tr->frozen_copy);
  tr->frozen_copy = NULL;
  if (tr->frozen_params && !(tr->frozen_copy = bm_malloc(tr->frozen_params * sizeof(float))))
    return bm_fail(err, "out of memory");
  return 0;
}

int bm_trainer_create(bm_trainer **out, const char *cfg_text, const char *cfg_name,
                      int n_classes, char *const *class_names, const bm_train_opts *opts,
                      long images_per_epoch, bm_log *log, bm_error *err) {
  *out = NULL;
  if (check_opts(opts, err)) return -1;
  bm_trainer *tr = bm_calloc(1, sizeof *tr);
  if (!tr) return bm_fail(err, "out of memory");
  tr->opts = *opts;
  tr->iters_per_epoch = bm_loader_batches_per_epoch((int)(images_per_epoch > 0 ? images_per_epoch : 1), opts->batch);
  bm_rng rng;
  int64_t init_key = 0x696e6974; /* "init" */
  bm_rng_seed(&rng, bm_fnv64(bm_fnv64(BM_FNV64_INIT, &opts->seed, 8), &init_key, 8), 1);
  if (bm_detector_create(&tr->det, cfg_text, cfg_name, n_classes, class_names, opts->batch, &rng,
                         log, err) ||
      load_pretrained(tr, log, err) || set_freeze(tr, err) ||
      init_optim(tr, err) || init_schedule(tr, err)) {
    bm_trainer_free(tr);
    return -1;
  }
  if (alloc_scratch(tr, err)) {
    bm_trainer_free(tr);
    return -1;
  }
  bm_detector_set_iou_thresh(tr->det, opts->iou_thresh);
  bm_detector_set_threads(tr->det, opts->threads);
  bm_net_set_training(bm_detector_net(tr->det), 1);
  *out = tr;
  return 0;
}

void bm_trainer_free(bm_trainer *tr) {
  if (!tr) return;
  bm_detector_free(tr->det);
  bm_optim_free(&tr->optim);
  bm_free(tr->history);
  bm_free(tr->bn_before);
  bm_free(tr->frozen_copy);
  bm_free(tr->pretrained_summary);
  bm_free(tr->raw);
  bm_free(tr->ema);
  bm_image_cache_free(tr->image_cache);
  bm_free(tr);
}

bm_detector *bm_trainer_detector(bm_trainer *tr) { return tr->det; }
const char *bm_trainer_pretrained_summary(const bm_trainer *tr) { return tr->pretrained_summary; }
const bm_train_opts *bm_trainer_opts(const bm_trainer *tr) { return &tr->opts; }
int64_t bm_trainer_epoch(const bm_trainer *tr) { return tr->epoch; }
int64_t bm_trainer_iteration(const bm_trainer *tr) { return tr->sched.iteration; }
float bm_trainer_lr(const bm_trainer *tr) { return bm_schedule_lr(&tr->sched); }

/* ---- the update ----------------------------------------------------------------------- */

/* One update of the network's own weights on a loaded batch. Returns 0, 1 when the update
 * was skipped (not finite). */
static int update_weights(bm_trainer *tr, const bm_loader_batch *batch, bm_train_progress *p) {
  bm_network *net = bm_detector_net(tr->det);
  int batch_size = tr->opts.batch, channels, net_h, net_w;
  bm_net_input_dims(net, &channels, &net_h, &net_w);
  if (batch->input != bm_net_input(net)) /* the loader may fill the network's input itself */
    memcpy(bm_net_input(net), batch->input, (size_t)batch_size * 3 * net_w * net_h * sizeof(float));
  bm_net_zero_grads(net);
  float *state = bm_net_state(net);
  size_t n_state = bm_net_n_state(net);
  memcpy(tr->bn_before, state, n_state * sizeof *state);
  /* dropout masks: a hash of the run's seed and the update number, so that --resume and
   * any thread count draw the same masks (bm_net_set_dropout_key) */
  int64_t step = tr->sched.iteration, drop_tag = 0x64726f70; /* "drop" */
  uint64_t key = bm_fnv64(BM_FNV64_INIT, &tr->opts.seed, sizeof tr->opts.seed);
  key = bm_fnv64(bm_fnv64(key, &drop_tag, sizeof drop_tag), &step, sizeof step);
  bm_net_set_dropout_key(net, key);
  if (tr->frozen_copy) memcpy(tr->frozen_copy, bm_net_params(net), tr->frozen_params * sizeof(float));
  bm_net_forward(net);
  const float bn_gain = BN_MOMENTUM / ENGINE_BN_MOMENTUM;
  for (size_t k = 0; k < n_state; k++) state[k] = tr->bn_before[k] + bn_gain * (state[k] - tr->bn_before[k]);
  memcpy(state, tr->bn_before, tr->frozen_state * sizeof *state); /* frozen: unchanged */
  p->loss = p->box = p->obj = p->cls = 0;
  for (int h = 0; h < bm_detector_n_heads(tr->det); h++) {
    int layer = bm_detector_head_layer(tr->det, h);
    bm_yolo_loss_parts parts;
    p->loss += bm_yolo_loss(bm_detector_head(tr->det, h), bm_net_output(net, layer), batch_size,
                            batch->truths, batch->truth_start, bm_net_output_grad(net, layer),
                            &parts);
    p->box += parts.box;
    p->obj += parts.obj;
    p->cls += parts.cls;
  }
  bm_net_backward(net);
  float *grads = bm_net_grads(net);
  size_t n_params = bm_net_n_params(net);
  p->grad_norm = tr->opts.clip_norm > 0 ? bm_clip_grad_norm(grads, n_params, tr->opts.clip_norm)
                                        : bm_grad_norm(grads, n_params);
  p->lr = bm_schedule_lr(&tr->sched);
  if (!isfinite(p->loss) || !isfinite(p->grad_norm)) return 1;
  bm_optim_step(&tr->optim, bm_net_params(net), grads, p->lr);
  /* weight decay and momentum would still move frozen parameters: put them back */
  if (tr->frozen_copy) memcpy(bm_net_params(net), tr->frozen_copy, tr->frozen_params * sizeof(float));
  bm_schedule_advance(&tr->sched);
  bm_net_set_seen(net, bm_net_seen(net) + (uint64_t)batch_size);
  return 0;
}

/* One update; with EMA on, the raw weights are swapped in for it and the average, updated,
 * is swapped back. The average's weight ramps up with the update count t (as in
 * TensorFlow's ExponentialMovingAverage with num_updates), so early averages are not
 * dominated by the random initial weights. */
static int train_step(bm_trainer *tr, const bm_loader_batch *batch, bm_train_progress *p) {
  if (!tr->ema) return update_weights(tr, batch, p);
  bm_network *net = bm_detector_net(tr->det);
  buf_to_net(tr->raw, net);
  int skipped = update_weights(tr, batch, p);
  net_to_buf(net, tr->raw);
  if (!skipped) {
    double t = (double)tr->sched.iteration;
    double d = fmin((double)tr->opts.ema_decay, (1.0 + t) / (10.0 + t));
    float keep = (float)d, take = (float)(1.0 - d);
    size_t n_all = bm_net_n_params(net) + bm_net_n_state(net);
    for (size_t k = 0; k < n_all; k++) tr->ema[k] = keep * tr->ema[k] + take * tr->raw[k];
    /* frozen values are constant, but keep * x + take * x need not round back to x */
    size_t n_params = bm_net_n_params(net);
    memcpy(tr->ema, tr->raw, tr->frozen_params * sizeof(float));
    memcpy(tr->ema + n_params, tr->raw + n_params, tr->frozen_state * sizeof(float));
  }
  buf_to_net(tr->ema, net);
  return skipped;
}

static uint64_t hash_samples(const bm_train_sample *samples, int n_samples) {
  uint64_t hash = bm_fnv64(BM_FNV64_INIT, &n_samples, sizeof n_samples);
  for (int k = 0; k < n_samples; k++) {
    hash = bm_fnv64(hash, &samples[k].image, sizeof samples[k].image);
    hash = bm_fnv64(hash, &samples[k].n_objects, sizeof samples[k].n_objects);
    if (samples[k].objects)
      for (int o = 0; o < samples[k].n_objects; o++) {
        const bm_object *obj = &samples[k].objects[o];
        float box[4] = {obj->x1, obj->y1, obj->x2, obj->y2};
        hash = bm_fnv64(hash, &obj->class_id, sizeof obj->class_id);
        hash = bm_fnv64(hash, box, sizeof box);
      }
  }
  return hash;
}

/* One epoch (or the rest of one). Returns 0 done, 1 stopped by the hook, -1 failure. */
static int run_epoch(bm_trainer *tr, const bm_dataset *ds, const bm_train_sample *samples,
                     int n_samples, const bm_train_hooks *hooks, bm_epoch_summary *summary,
                     bm_error *err) {
  bm_network *net = bm_detector_net(tr->det);
  int channels, net_h, net_w;
  bm_net_input_dims(net, &channels, &net_h, &net_w);
  bm_loader_opts lo;
  memset(&lo, 0, sizeof lo);
  lo.batch = tr->opts.batch;
  lo.net_w = net_w;
  lo.net_h = net_h;
  lo.train = 1;
  lo.augment = bm_augment_defaults(net_w, net_h);
  lo.augment.jitter = tr->opts.jitter;
  lo.augment.hue = tr->opts.hue;
  lo.augment.saturation = tr->opts.saturation;
  lo.augment.exposure = tr->opts.exposure;
  lo.augment.flip = tr->opts.flip;
  lo.seed = tr->opts.seed;
  lo.epoch = tr->epoch;
  lo.first_batch = tr->position;
  /* When the compute team has every core, the team itself fills each batch at the start of
   * its step: a separate loading thread would preempt one of the team's threads, and the
   * whole team waits for it at the next barrier. With a core to spare (e.g. --threads 1 on
   * two cores) the background thread loads there for free. The batches are the same either
   * way (docs/PERFORMANCE.md, "Data loader"). */
  lo.threads = omp_get_num_procs() > tr->opts.threads ? 0 : tr->opts.threads;
  /* inline filling writes the batch where the network reads it (the network keeps its size
   * during an epoch: hooks save, log and stop, never resize) */
  lo.input = bm_net_input(net);
  if (!tr->image_cache) tr->image_cache = bm_image_cache_new(IMAGE_CACHE_BYTES);
  lo.cache = tr->image_cache;
  uint64_t hash = hash_samples(samples, n_samples);
  long epoch_batches = bm_loader_batches_per_epoch(n_samples, tr->opts.batch);
  if (tr->position < 0 || (tr->position > 0 && tr->position >= epoch_batches))
    return bm_fail(err, "the saved state is at batch %ld of epoch %lld, which has %ld batches; "
                   "resume with the same data", tr->position, (long long)tr->epoch + 1,
                   epoch_batches);
  if (tr->position > 0 && hash != tr->samples_hash)
    return bm_fail(err, "the saved state is in the middle of epoch %lld over another sample "
                   "list; resume with the same data", (long long)tr->epoch + 1);
  if (tr->position == 0) memset(tr->epoch_sums, 0, sizeof tr->epoch_sums);
  tr->samples_hash = hash;
  bm_net_set_training(net, 1);
  bm_loader *loader;
  if (bm_loader_start(&loader, ds, samples, n_samples, &lo, err)) return -1;
  long n_batches = bm_loader_batches_per_epoch(n_samples, lo.batch);
  double start = bm_now();
  long done_here = 0, skipped = 0, skipped_in_a_row = 0;
  int rc = 0;
  bm_train_progress p;
  memset(&p, 0, sizeof p);
  for (;;) {
    const bm_loader_batch *batch;
    int got = bm_loader_next(loader, &batch, err);
    if (got < 0) rc = -1;
    if (got <= 0) break;
    int skip = train_step(tr, batch, &p);
    done_here++;
    tr->position = batch->index + 1;
    if (skip) {
      skipped++;
      if (++skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW) {
        rc = bm_fail(err, "training diverged: %d updates in a row had a non-finite loss or "
                     "gradient (epoch %lld, update %lld); try a lower learning rate",
                     MAX_SKIPPED_IN_A_ROW, (long long)tr->epoch + 1, (long long)tr->sched.iteration);
        break;
      }
    } else {
      skipped_in_a_row = 0;
      tr->epoch_sums[0] += p.loss;
      tr->epoch_sums[1] += p.box;
      tr->epoch_sums[2] += p.obj;
      tr->epoch_sums[3] += p.cls;
      tr->epoch_sums[4] += 1;
    }
    double elapsed = bm_now() - start;
    p.epoch = tr->epoch;
    p.batch = tr->position;
    p.n_batches = n_batches;
    p.iteration = tr->sched.iteration;
    p.epoch_loss = tr->epoch_sums[4] > 0 ? tr->epoch_sums[0] / tr->epoch_sums[4] : NAN;
    p.images_per_s = elapsed > 0 ? (double)done_here * lo.batch / elapsed : 0;
    p.eta_s = done_here > 0 ? elapsed / (double)done_here * (double)(n_batches - tr->position) : 0;
    int last = tr->position == n_batches;
    if (last) { /* the epoch is complete before the hook sees the state */
      tr->epoch++;
      tr->position = 0;
    }
    if (hooks && hooks->on_update && hooks->on_update(hooks->user, tr, &p) && !last) {
      rc = 1;
      break;
    }
  }
  bm_loader_stop(loader);
  if (summary) {
    double seconds = bm_now() - start, n = tr->epoch_sums[4];
    summary->epoch = tr->epoch;
    summary->n_updates = (long)n;
    summary->loss = n > 0 ? tr->epoch_sums[0] / n : NAN;
    summary->box = n > 0 ? tr->epoch_sums[1] / n : NAN;
    summary->obj = n > 0 ? tr->epoch_sums[2] / n : NAN;
    summary->cls = n > 0 ? tr->epoch_sums[3] / n : NAN;
    summary->lr = p.lr;
    summary->skipped_updates = skipped;
    summary->seconds = seconds;
    summary->images_per_s = seconds > 0 ? (double)done_here * lo.batch / seconds : 0;
  }
  return rc;
}

int bm_trainer_train_epochs(bm_trainer *tr, const bm_dataset *ds, const bm_train_sample *samples,
                            int n_samples, int n_epochs, const bm_train_hooks *hooks,
                            bm_epoch_summary *summary, bm_error *err) {
  if (n_samples < 1) return bm_fail(err, "no training images");
  if (bm_detector_check_classes(tr->det, ds, err)) return -1;
  for (int e = 0; e < n_epochs; e++) {
    int rc = run_epoch(tr, ds, samples, n_samples, hooks, summary, err);
    if (rc) return rc;
  }
  return 0;
}

/* ---- evaluation and history ----------------------------------------------------------- */

int bm_trainer_evaluate(bm_trainer *tr, const bm_dataset *ds, const int *split, int n_split,
                        const bm_detect_opts *opts, bm_eval_summary *out, bm_detections *dets,
                        bm_error *err) {
  bm_detect_opts defaults = bm_detect_defaults();
  if (!opts) opts = &defaults;
  if (bm_detector_check_classes(tr->det, ds, err)) return -1;
  double start = bm_now();
  bm_detections found = {0};
  bm_voc_result voc;
  memset(&voc, 0, sizeof voc);
  int rc = bm_detector_detect_dataset(tr->det, ds, split, n_split, opts, NULL, NULL, &found, err);
  if (rc == 0) rc = bm_eval_voc(ds, split, split ? n_split : 0, &found, &voc, err);
  if (rc == 0) {
    out->ap50 = voc.map12[0];
    out->ap75 = voc.map12[1];
    out->ap50_07 = voc.map07[0];
    out->n_images = split ? n_split : ds->n_images;
    out->n_detections = found.n;
    out->seconds = bm_now() - start;
    for (long k = 0; dets && k < found.n && rc == 0; k++)
      if (bm_detections_push(dets, &found.items[k])) rc = bm_fail(err, "out of memory");
  }
  bm_voc_result_free(&voc);
  bm_detections_free(&found);
  bm_net_set_training(bm_detector_net(tr->det), 1);
  return rc;
}

int bm_trainer_record_ap(bm_trainer *tr, double ap50, double ap75) {
  if (tr->n_history == tr->cap_history) {
    int cap = tr->cap_history ? 2 * tr->cap_history : 16;
    history_entry *grown = bm_realloc(tr->history, (size_t)cap * sizeof *grown);
    if (!grown) return -1;
    tr->history = grown;
    tr->cap_history = cap;
  }
  tr->history[tr->n_history++] = (history_entry){tr->epoch, ap50, ap75};
  return 0;
}

int bm_trainer_n_history(const bm_trainer *tr) { return tr->n_history; }

void bm_trainer_history(const bm_trainer *tr, int k, int64_t *epoch, double *ap50, double *ap75) {
  if (epoch) *epoch = tr->history[k].epoch;
  if (ap50) *ap50 = tr->history[k].ap50;
  if (ap75) *ap75 = tr->history[k].ap75;
}

/* ---- checkpoints ---------------------------------------------------------------------- */

/* The options as doubles in a fixed order (so the layout is independent of struct padding). */
#define N_OPT_VALUES 19
/* The most epochs a checkpoint may claim: far beyond any run (--epochs stops at 10^6, mining
 * adds rounds), far below the range where int64 arithmetic on it could overflow. */
#define MAX_SAVED_EPOCH 1000000000LL
#define MAX_SAVED_BATCHES 2147483647LL
static void opts_to_values(const bm_train_opts *o, double *v) {
  double values[N_OPT_VALUES] = {o->batch, o->threads, (double)o->optimizer, o->nesterov, o->lr,
                                 o->momentum, o->weight_decay, o->clip_norm, (double)o->schedule,
                                 o->schedule_epochs, o->min_lr_frac, (double)o->warmup_iters,
                                 o->jitter, o->hue, o->saturation, o->exposure, o->flip,
                                 o->iou_thresh, o->ema_decay};
  memcpy(v, values, sizeof values);
}
static void opts_from_values(bm_train_opts *o, const double *v) {
  o->batch = (int)v[0];
  o->threads = (int)v[1];
  o->optimizer = (bm_optim_kind)(int)v[2];
  o->nesterov = (int)v[3];
  o->lr = (float)v[4];
  o->momentum = (float)v[5];
  o->weight_decay = (float)v[6];
  o->clip_norm = (float)v[7];
  o->schedule = (bm_lr_policy)(int)v[8];
  o->schedule_epochs = (float)v[9];
  o->min_lr_frac = (float)v[10];
  o->warmup_iters = (long)v[11];
  o->jitter = (float)v[12];
  o->hue = (float)v[13];
  o->saturation = (float)v[14];
  o->exposure = (float)v[15];
  o->flip = (int)v[16];
  o->iou_thresh = (float)v[17];
  o->ema_decay = (float)v[18];
}

/* Loading validates every section before anything is used: a checkpoint with a valid
 * checksum may still come from another tool or a hostile hand (issue 16). Each check names
 * the file and the section. */
static int check_counters(const char *path, const int64_t *c, bm_error *err) {
  if (c[1] < 0 || c[1] > MAX_SAVED_EPOCH)
    return bm_fail(err, "%s: trainer.counters: epoch %lld is outside [0, %lld]", path,
                   (long long)c[1], MAX_SAVED_EPOCH);
  if (c[2] < 0 || c[2] > MAX_SAVED_BATCHES)
    return bm_fail(err, "%s: trainer.counters: position %lld is outside [0, %lld]", path,
                   (long long)c[2], MAX_SAVED_BATCHES);
  if (c[4] < 1 || c[4] > MAX_SAVED_BATCHES)
    return bm_fail(err, "%s: trainer.counters: %lld batches per epoch is outside [1, %lld]", path,
                   (long long)c[4], MAX_SAVED_BATCHES);
  return 0;
}

static int check_opt_values(const char *path, const double *v, bm_error *err) {
  static const char *const names[N_OPT_VALUES] = {
      "batch", "threads", "optimizer", "nesterov", "lr", "momentum", "weight_decay", "clip_norm",
      "schedule", "schedule_epochs", "min_lr_frac", "warmup_iters", "jitter", "hue",
      "saturation", "exposure", "flip", "iou_thresh", "ema_decay"};
  for (int k = 0; k < N_OPT_VALUES; k++) /* before any conversion to int or float */
    if (!isfinite(v[k]) || fabs(v[k]) > 1e9)
      return bm_fail(err, "%s: trainer.opts: %s = %g is not a finite number in [-1e9, 1e9]", path,
                     names[k], v[k]);
  const struct {
    int k;
    double lo, hi;
  } ranges[] = {{3, 0, 1}, {5, 0, 0.99999}, {6, 0, 1e3}, {7, 0, 1e9}, {10, 0, 1}, {12, 0, 0.49},
                {13, 0, 1}, {14, 1e-3, 1e3}, {15, 1e-3, 1e3}, {16, 0, 1}};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
    double x = v[ranges[i].k];
    if (x < ranges[i].lo || x > ranges[i].hi)
      return bm_fail(err, "%s: trainer.opts: %s = %g is outside [%g, %g]", path,
                     names[ranges[i].k], x, ranges[i].lo, ranges[i].hi);
  }
  return 0;
}

static int check_epoch_sums(const char *path, const double *sums, bm_error *err) {
  for (int k = 0; k < 5; k++)
    if (!isfinite(sums[k]) || sums[k] < 0)
      return bm_fail(err, "%s: trainer.epoch_sums: value %d is %g, not a finite number >= 0", path,
                     k, sums[k]);
  return 0;
}

/* history: (epoch, AP50, AP75) triples; epochs within the saved count, APs in [0, 1] or NaN
 * (an evaluation without ground truth) */
static int check_history(const char *path, const double *h, size_t n, int64_t epoch,
                         bm_error *err) {
  for (size_t k = 0; k < n; k += 3) {
    if (!(h[k] >= 0 && h[k] <= (double)epoch) || h[k] != floor(h[k]))
      return bm_fail(err, "%s: trainer.history: entry %zu has epoch %g, outside [0, %lld]", path,
                     k / 3 + 1, h[k], (long long)epoch);
    for (int j = 1; j <= 2; j++)
      if (!isnan(h[k + j]) && !(h[k + j] >= -1 && h[k + j] <= 1))
        return bm_fail(err, "%s: trainer.history: entry %zu has AP %g, outside [0, 1]", path,
                       k / 3 + 1, h[k + j]);
  }
  return 0;
}

int bm_trainer_save(const bm_trainer *tr, const char *path, bm_ckpt_extra_fn extra,
                    void *extra_user, bm_error *err) {
  bm_ckpt_writer w;
  bm_ckpt_writer_init(&w);
  bm_ckpt_add_string(&w, "boxmine.kind", DET_CKPT_KIND);
  det_save_sections(tr->det, &w);
  bm_optim_save(&tr->optim, &w, "optim");
  bm_schedule_save(&tr->sched, &w, "sched");
  int64_t counters[6] = {TRAINER_STATE_VERSION, tr->epoch, tr->position, (int64_t)tr->opts.seed,
                         tr->iters_per_epoch, (int64_t)tr->samples_hash};
  bm_ckpt_add_i64(&w, "trainer.counters", counters, 6);
  double values[N_OPT_VALUES];
  opts_to_values(&tr->opts, values);
  bm_ckpt_add_f64(&w, "trainer.opts", values, N_OPT_VALUES);
  bm_ckpt_add_f64(&w, "trainer.epoch_sums", tr->epoch_sums, 5);
  if (tr->raw) { /* the detector sections above hold the average */
    bm_network *net = bm_detector_net(tr->det);
    bm_ckpt_add_f32(&w, "trainer.raw", tr->raw, bm_net_n_params(net) + bm_net_n_state(net));
  }
  double *history = bm_malloc((size_t)(tr->n_history * 3 + 1) * sizeof *history);
  if (history) {
    for (int k = 0; k < tr->n_history; k++) {
      history[3 * k] = (double)tr->history[k].epoch;
      history[3 * k + 1] = tr->history[k].ap50;
      history[3 * k + 2] = tr->history[k].ap75;
    }
    bm_ckpt_add_f64(&w, "trainer.history", history, (size_t)tr->n_history * 3);
    bm_free(history);
  } else {
    w.failed = 1;
    bm_fail(&w.error, "out of memory");
  }
  if (tr->opts.freeze > 0) { /* only then, so other checkpoints keep their bytes */
    int64_t freeze = tr->opts.freeze;
    bm_ckpt_add_i64(&w, "trainer.freeze", &freeze, 1);
  }
  if (extra && extra(extra_user, &w)) {
    w.failed = 1;
    if (!w.error.msg[0]) bm_fail(&w.error, "extra checkpoint sections failed");
  }
  int rc = bm_ckpt_save(&w, path, err);
  bm_ckpt_writer_free(&w);
  return rc;
}

int bm_trainer_load(bm_trainer **out, const char *ckpt_path, int threads, bm_log *log,
                    bm_error *err) {
  *out = NULL;
  bm_ckpt_reader r;
  if (bm_ckpt_open(&r, ckpt_path, err)) return -1;
  bm_trainer *tr = bm_calloc(1, sizeof *tr);
  char *kind = NULL;
  int rc = -1;
  if (!tr) {
    bm_fail(err, "out of memory");
    goto done;
  }
  if (!bm_ckpt_find(&r, "boxmine.kind") || bm_ckpt_read_string(&r, "boxmine.kind", &kind, err) ||
      strcmp(kind, DET_CKPT_KIND) || !bm_ckpt_find(&r, "trainer.counters")) {
    bm_fail(err, "%s: not a boxmine training checkpoint", ckpt_path);
    goto done;
  }
  int64_t counters[6];
  double values[N_OPT_VALUES];
  if (bm_ckpt_read_i64(&r, "trainer.counters", counters, 6, err)) goto done;
  if (counters[0] != TRAINER_STATE_VERSION) {
    bm_fail(err, "%s: trainer state version %lld; this boxmine reads version %d", ckpt_path,
            (long long)counters[0], TRAINER_STATE_VERSION);
    goto done;
  }
  if (check_counters(ckpt_path, counters, err)) goto done;
  if (bm_ckpt_read_f64(&r, "trainer.opts", values, N_OPT_VALUES, err) ||
      bm_ckpt_read_f64(&r, "trainer.epoch_sums", tr->epoch_sums, 5, err))
    goto done;
  if (check_opt_values(ckpt_path, values, err) ||
      check_epoch_sums(ckpt_path, tr->epoch_sums, err))
    goto done;
  opts_from_values(&tr->opts, values);
  tr->opts.seed = (uint64_t)counters[3];
  if (check_opts(&tr->opts, err)) {
    bm_fail_prefix(err, "%s: saved options", ckpt_path);
    goto done;
  }
  tr->epoch = counters[1];
  tr->position = (long)counters[2];
  tr->iters_per_epoch = (long)counters[4];
  tr->samples_hash = (uint64_t)counters[5];
  if (det_load_sections(&tr->det, &r, tr->opts.batch, log, err) || init_optim(tr, err) ||
      bm_optim_load(&tr->optim, &r, "optim", err) || bm_schedule_load(&tr->sched, &r, "sched", err) ||
      alloc_scratch(tr, err))
    goto done;
  if (tr->raw) {
    bm_network *net = bm_detector_net(tr->det);
    size_t n_all = bm_net_n_params(net) + bm_net_n_state(net), n_saved = 0;
    if (bm_ckpt_count(&r, "trainer.raw", BM_CKPT_F32, &n_saved, err)) goto done;
    if (n_saved != n_all) {
      bm_fail(err, "%s: trainer.raw has %zu values, the network %zu", ckpt_path, n_saved, n_all);
      goto done;
    }
    if (bm_ckpt_read_f32(&r, "trainer.raw", tr->raw, n_all, err)) goto done;
  }
  size_t n_history = 0;
  if (bm_ckpt_count(&r, "trainer.history", BM_CKPT_F64, &n_history, err)) goto done;
  if (n_history % 3) {
    bm_fail(err, "%s: trainer.history has %zu values, not a multiple of 3", ckpt_path, n_history);
    goto done;
  }
  double *history = bm_malloc((n_history + 1) * sizeof *history);
  if (!history || bm_ckpt_read_f64(&r, "trainer.history", history, n_history, err) ||
      check_history(ckpt_path, history, n_history, counters[1], err)) {
    if (!history) bm_fail(err, "out of memory");
    bm_free(history);
    goto done;
  }
  for (size_t k = 0; k < n_history / 3; k++) {
    tr->epoch = (int64_t)history[3 * k];
    if (bm_trainer_record_ap(tr, history[3 * k + 1], history[3 * k + 2])) {
      bm_free(history);
      bm_fail(err, "out of memory");
      goto done;
    }
  }
  bm_free(history);
  tr->epoch = counters[1];
  tr->opts.freeze = 0;
  if (bm_ckpt_find(&r, "trainer.freeze")) {
    int64_t freeze;
    if (bm_ckpt_read_i64(&r, "trainer.freeze", &freeze, 1, err)) goto done;
    if (freeze < 0 || freeze > bm_net_n_layers(bm_detector_net(tr->det))) {
      bm_fail(err, "%s: trainer.freeze %lld is out of range", ckpt_path, (long long)freeze);
      goto done;
    }
    tr->opts.freeze = (int)freeze;
  }
  if (set_freeze(tr, err)) goto done;
  if (threads > 0) tr->opts.threads = threads;
  bm_detector_set_iou_thresh(tr->det, tr->opts.iou_thresh);
  bm_detector_set_threads(tr->det, tr->opts.threads);
  bm_net_set_training(bm_detector_net(tr->det), 1);
  *out = tr;
  tr = NULL;
  rc = 0;
done:
  bm_free(kind);
  bm_trainer_free(tr);
  bm_ckpt_close(&r);
  return rc;
}
