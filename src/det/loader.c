/* Background data loading, double-buffered against compute (see loader.h). */
#include "det/loader.h"

#include <pthread.h>
#include <string.h>

enum { SLOT_EMPTY = 0, SLOT_FULL = 1 };

/* One batch position while it is filled: its boxes after augmentation (network-input
 * pixels, dropped boxes removed) and, when it failed, why. */
typedef struct loader_entry {
  int sample, pass;       /* what goes here */
  const bm_image *cached; /* the decoded image from the cache, or NULL ... */
  bm_image decoded;       /* ... the one decoded for this batch (offered to the cache after) */
  bm_object *objects;
  int n_objects, cap;
  int failed;
  bm_error error;
} loader_entry;

struct bm_loader {
  const bm_dataset *ds;
  const bm_train_sample *samples;
  int n_samples;
  bm_loader_opts opts;
  long n_batches;
  int *order; /* [n_samples]: sample indices in this epoch's order */

  bm_loader_batch slots[2];
  int slot_state[2];
  long next_batch;   /* consumer: the batch to hand out next */
  int holding;       /* consumer holds slot (next_batch - 1) % 2 */

  pthread_t thread;
  int thread_started, locks_made;
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int stop;          /* set by the consumer: the producer leaves at the next check */
  int failed;        /* set by the producer */
  bm_error error;

  /* the filling's scratch: one entry per batch position, so the images of a batch can be
   * filled in parallel and gathered in order afterwards */
  loader_entry *entries;
};

long bm_loader_batches_per_epoch(int n_samples, int batch) {
  return n_samples <= 0 ? 0 : ((long)n_samples + batch - 1) / batch;
}

/* Generator for one purpose, keyed by the run's seed and a few integers. */
static void derive_rng(bm_rng *rng, uint64_t seed, const int64_t *keys, int n_keys) {
  uint64_t hash = bm_fnv64(BM_FNV64_INIT, &seed, sizeof seed);
  hash = bm_fnv64(hash, keys, (size_t)n_keys * sizeof *keys);
  bm_rng_seed(rng, hash, (uint64_t)keys[0]);
}

static int grow_truths(bm_loader_batch *slot, int need) {
  if (need <= slot->truth_cap) return 0;
  int cap = slot->truth_cap ? slot->truth_cap : 64;
  while (cap < need) cap *= 2;
  bm_yolo_truth *grown = bm_realloc(slot->truths, (size_t)cap * sizeof *grown);
  if (!grown) return -1;
  slot->truths = grown;
  slot->truth_cap = cap;
  return 0;
}

/* Decodes, augments (or letterboxes) one sample into position k of slot: pixels, geometry
 * and indices there, the surviving boxes in entry. Touches nothing shared but position k,
 * so positions can be filled concurrently. */
static int fill_entry(const bm_loader *ld, bm_loader_batch *slot, loader_entry *entry, int k) {
  const bm_loader_opts *opts = &ld->opts;
  int sample = entry->sample;
  const bm_train_sample *s = &ld->samples[sample];
  const bm_image_info *info = &ld->ds->images[s->image];
  size_t plane = (size_t)3 * opts->net_w * opts->net_h;
  float *input = slot->input + (size_t)k * plane;
  entry->n_objects = 0;
  const bm_image *img = entry->cached;
  if (!img) {
    if (bm_image_load(info->image_path, &entry->decoded, &entry->error)) return -1;
    img = &entry->decoded;
  }
  slot->sample[k] = sample;
  slot->image[k] = s->image;
  if (!opts->train) {
    if (opts->stretch) { /* rendered as darknet does, boxes mapped back by the plain stretch */
      bm_geom render = bm_geom_stretch_corners(img->width, img->height, opts->net_w, opts->net_h);
      bm_geom_render_chw(img, &render, input);
      slot->geom[k] = bm_geom_stretch(img->width, img->height, opts->net_w, opts->net_h);
      return 0;
    }
    slot->geom[k] = bm_geom_letterbox(img->width, img->height, opts->net_w, opts->net_h);
    bm_geom_render_chw(img, &slot->geom[k], input);
    return 0;
  }
  const bm_object *src = s->objects ? s->objects : ld->ds->objects + info->first_object;
  int n_objects = s->objects ? s->n_objects : info->n_objects;
  if (n_objects > entry->cap) {
    bm_object *grown = bm_realloc(entry->objects, (size_t)n_objects * sizeof *grown);
    if (!grown) return bm_fail(&entry->error, "out of memory loading %s", info->image_path);
    entry->objects = grown;
    entry->cap = n_objects;
  }
  memcpy(entry->objects, src, (size_t)n_objects * sizeof *src);
  bm_objects_from_voc(entry->objects, n_objects);
  bm_rng rng;
  int64_t keys[4] = {opts->epoch, sample, entry->pass, 0x617567 /* "aug" */};
  derive_rng(&rng, opts->seed, keys, 4);
  bm_augment_draw draw = bm_augment_sample(&opts->augment, img, entry->objects, &n_objects, input, &rng);
  slot->geom[k] = draw.geom;
  for (int o = 0; o < n_objects; o++)
    if (entry->objects[o].class_id < 0)
      return bm_fail(&entry->error, "%s: object %d has no class", info->image_path, o);
  entry->n_objects = n_objects;
  return 0;
}

/* Fills batch `index` into slot, its images spread over n_threads OpenMP threads (each
 * image's result depends only on its sample, pass and the seed, never on the thread). A
 * failure reports the first failing position's reason. */
static int fill_batch(bm_loader *ld, bm_loader_batch *slot, long index, int n_threads) {
  const int batch = ld->opts.batch;
  size_t plane = (size_t)3 * ld->opts.net_w * ld->opts.net_h;
  slot->index = index;
  slot->n_images = 0;
  for (int k = 0; k < batch; k++) {
    long pos = index * batch + k;
    ld->entries[k].failed = 0;
    ld->entries[k].n_objects = 0;
    if (pos >= ld->n_samples && !ld->opts.train) { /* evaluation: pad */
      memset(slot->input + (size_t)k * plane, 0, plane * sizeof(float));
      slot->sample[k] = slot->image[k] = -1;
      memset(&slot->geom[k], 0, sizeof slot->geom[k]);
      continue;
    }
    slot->n_images++;
  }
  const int n_fill = slot->n_images; /* padding only ever follows the images */
  for (int k = 0; k < n_fill; k++) { /* the cache is only touched outside the parallel part */
    loader_entry *entry = &ld->entries[k];
    /* training: the last batch wraps around to the start of the order */
    long pos = index * batch + k;
    entry->pass = (int)(pos / ld->n_samples);
    entry->sample = ld->order[pos % ld->n_samples];
    entry->cached = bm_image_cache_find(ld->opts.cache, ld->ds, ld->samples[entry->sample].image);
  }
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1) if (n_threads > 1)
  for (int k = 0; k < n_fill; k++) ld->entries[k].failed = fill_entry(ld, slot, &ld->entries[k], k) != 0;
  for (int k = 0; k < n_fill; k++) { /* new decodes go to the cache while it has room */
    loader_entry *entry = &ld->entries[k];
    if (!entry->decoded.pixels) continue;
    if (!bm_image_cache_offer(ld->opts.cache, ld->ds, ld->samples[entry->sample].image, &entry->decoded))
      bm_image_free(&entry->decoded);
  }
  slot->truth_start[0] = 0;
  for (int k = 0; k < batch; k++) {
    const loader_entry *entry = &ld->entries[k];
    if (entry->failed) {
      ld->error = entry->error;
      return -1;
    }
    int start = slot->truth_start[k], n = entry->n_objects;
    if (grow_truths(slot, start + n))
      return bm_fail(&ld->error, "out of memory loading batch %ld", index);
    for (int o = 0; o < n; o++) {
      const bm_object *obj = &entry->objects[o];
      bm_yolo_truth *t = &slot->truths[start + o];
      t->cx = (obj->x1 + obj->x2) / 2 / ld->opts.net_w;
      t->cy = (obj->y1 + obj->y2) / 2 / ld->opts.net_h;
      t->w = (obj->x2 - obj->x1) / ld->opts.net_w;
      t->h = (obj->y2 - obj->y1) / ld->opts.net_h;
      t->class_id = obj->class_id;
      t->difficult = obj->difficult;
    }
    slot->truth_start[k + 1] = start + n;
  }
  return 0;
}

static void *producer(void *arg) {
  bm_loader *ld = arg;
  for (long index = ld->opts.first_batch; index < ld->n_batches; index++) {
    int s = (int)(index % 2);
    pthread_mutex_lock(&ld->lock);
    while (ld->slot_state[s] != SLOT_EMPTY && !ld->stop) pthread_cond_wait(&ld->changed, &ld->lock);
    int stop = ld->stop;
    pthread_mutex_unlock(&ld->lock);
    if (stop) break;
    int rc = fill_batch(ld, &ld->slots[s], index, 1);
    pthread_mutex_lock(&ld->lock);
    if (rc) ld->failed = 1;
    else ld->slot_state[s] = SLOT_FULL;
    pthread_cond_broadcast(&ld->changed);
    pthread_mutex_unlock(&ld->lock);
    if (rc) break;
  }
  return NULL;
}

static void free_slots(bm_loader *ld) {
  for (int s = 0; s < 2; s++) {
    bm_loader_batch *slot = &ld->slots[s];
    if (slot->input != ld->opts.input) bm_free_aligned(slot->input);
    bm_free(slot->sample);
    bm_free(slot->image);
    bm_free(slot->geom);
    bm_free(slot->truth_start);
    bm_free(slot->truths);
  }
}

int bm_loader_start(bm_loader **out, const bm_dataset *ds, const bm_train_sample *samples,
                    int n_samples, const bm_loader_opts *opts, bm_error *err) {
  *out = NULL;
  if (opts->batch < 1 || opts->net_w < 1 || opts->net_h < 1)
    return bm_fail(err, "loader: bad batch %d or input size %dx%d", opts->batch, opts->net_w, opts->net_h);
  for (int k = 0; k < n_samples; k++)
    if (samples[k].image < 0 || samples[k].image >= ds->n_images)
      return bm_fail(err, "loader: sample %d names image %d of a %d-image dataset", k, samples[k].image, ds->n_images);
  long n_batches = bm_loader_batches_per_epoch(n_samples, opts->batch);
  if (opts->first_batch < 0 || opts->first_batch > n_batches)
    return bm_fail(err, "loader: start at batch %ld of an epoch of %ld batches", opts->first_batch,
                   n_batches);
  bm_loader *ld = bm_calloc(1, sizeof *ld);
  if (!ld) return bm_fail(err, "out of memory starting the data loader");
  ld->ds = ds;
  ld->samples = samples;
  ld->n_samples = n_samples;
  ld->opts = *opts;
  ld->opts.augment.net_w = opts->net_w;
  ld->opts.augment.net_h = opts->net_h;
  ld->n_batches = n_batches;
  ld->next_batch = opts->first_batch;
  ld->order = bm_malloc((size_t)(n_samples > 0 ? n_samples : 1) * sizeof *ld->order);
  ld->entries = bm_calloc((size_t)opts->batch, sizeof *ld->entries);
  int ok = ld->order != NULL && ld->entries != NULL;
  size_t plane = (size_t)3 * opts->net_w * opts->net_h;
  int n_slots = opts->threads > 0 ? 1 : 2; /* inline filling needs no second buffer */
  for (int s = 0; s < n_slots && ok; s++) {
    bm_loader_batch *slot = &ld->slots[s];
    int borrowed = opts->threads > 0 && opts->input; /* the caller's buffer */
    slot->input = borrowed ? opts->input : bm_malloc_aligned((size_t)opts->batch * plane * sizeof(float));
    slot->sample = bm_malloc((size_t)opts->batch * sizeof(int));
    slot->image = bm_malloc((size_t)opts->batch * sizeof(int));
    slot->geom = bm_calloc((size_t)opts->batch, sizeof(bm_geom));
    slot->truth_start = bm_calloc((size_t)opts->batch + 1, sizeof(int));
    ok = slot->input && slot->sample && slot->image && slot->geom && slot->truth_start;
  }
  if (!ok) {
    bm_loader_stop(ld);
    return bm_fail(err, "out of memory for %d-image batches", opts->batch);
  }
  for (int k = 0; k < n_samples; k++) ld->order[k] = k;
  if (opts->train) {
    bm_rng rng;
    int64_t keys[2] = {opts->epoch, 0x6f72646572 /* "order" */};
    derive_rng(&rng, opts->seed, keys, 2);
    bm_rng_shuffle(&rng, ld->order, n_samples);
  }
  if (opts->threads > 0) { /* bm_loader_next fills the batches */
    *out = ld;
    return 0;
  }
  pthread_mutex_init(&ld->lock, NULL);
  pthread_cond_init(&ld->changed, NULL);
  ld->locks_made = 1;
  if (pthread_create(&ld->thread, NULL, producer, ld)) {
    bm_loader_stop(ld);
    return bm_fail(err, "cannot start the data loading thread");
  }
  ld->thread_started = 1;
  *out = ld;
  return 0;
}

/* opts.threads >= 1: the caller's thread fills the batch now, with its OpenMP team. */
static int next_inline(bm_loader *ld, const bm_loader_batch **batch, bm_error *err) {
  if (ld->failed || ld->next_batch >= ld->n_batches) {
    if (ld->failed && err) *err = ld->error;
    return ld->failed ? -1 : 0;
  }
  bm_loader_batch *slot = &ld->slots[0];
  if (fill_batch(ld, slot, ld->next_batch, ld->opts.threads)) {
    ld->failed = 1;
    if (err) *err = ld->error;
    return -1;
  }
  ld->next_batch++;
  *batch = slot;
  return 1;
}

int bm_loader_next(bm_loader *ld, const bm_loader_batch **batch, bm_error *err) {
  *batch = NULL;
  if (ld->opts.threads > 0) return next_inline(ld, batch, err);
  pthread_mutex_lock(&ld->lock);
  if (ld->holding) { /* hand the previous batch's buffer back to the producer */
    ld->slot_state[(ld->next_batch - 1) % 2] = SLOT_EMPTY;
    ld->holding = 0;
    pthread_cond_broadcast(&ld->changed);
  }
  if (ld->next_batch >= ld->n_batches) {
    pthread_mutex_unlock(&ld->lock);
    return 0;
  }
  int s = (int)(ld->next_batch % 2);
  while (ld->slot_state[s] != SLOT_FULL && !ld->failed) pthread_cond_wait(&ld->changed, &ld->lock);
  if (ld->slot_state[s] != SLOT_FULL) {
    pthread_mutex_unlock(&ld->lock);
    if (err) *err = ld->error;
    return -1;
  }
  ld->next_batch++;
  ld->holding = 1;
  pthread_mutex_unlock(&ld->lock);
  *batch = &ld->slots[s];
  return 1;
}

void bm_loader_stop(bm_loader *ld) {
  if (!ld) return;
  if (ld->thread_started) {
    pthread_mutex_lock(&ld->lock);
    ld->stop = 1;
    pthread_cond_broadcast(&ld->changed);
    pthread_mutex_unlock(&ld->lock);
    pthread_join(ld->thread, NULL);
  }
  if (ld->locks_made) {
    pthread_mutex_destroy(&ld->lock);
    pthread_cond_destroy(&ld->changed);
  }
  free_slots(ld);
  bm_free(ld->order);
  for (int k = 0; ld->entries && k < ld->opts.batch; k++) bm_free(ld->entries[k].objects);
  bm_free(ld->entries);
  bm_free(ld);
}
