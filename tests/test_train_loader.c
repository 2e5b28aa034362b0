/* The data loader: letterboxed truths against hand-computed boxes, reproducible batches for
 * a (seed, epoch), a resumed epoch equal to the uninterrupted one, wrap-around and padding,
 * sample lists with their own boxes, a clear error for a missing image, and filling inside
 * the caller's OpenMP team equal to the background thread's, and the decoded-image cache. */
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_augment.h"
#include "det_fixture.h"
#include "testlib.h"
#include "det/loader.h"

static bm_loader_opts base_opts(int train, int64_t epoch) {
  bm_loader_opts o;
  memset(&o, 0, sizeof o);
  o.batch = 2;
  o.net_w = o.net_h = 64;
  o.train = train;
  o.augment = bm_augment_defaults(64, 64);
  o.augment.jitter = 0.2f;
  o.augment.flip = 1;
  o.augment.hue = 0.1f;
  o.augment.saturation = o.augment.exposure = 1.5f;
  o.seed = 7;
  o.epoch = epoch;
  return o;
}

/* All batches of an epoch, concatenated: inputs, sample indices and truths. */
typedef struct epoch_dump {
  float *input;
  int *sample;
  long n_batches;
  bm_yolo_truth truths[256];
  int n_truths;
} epoch_dump;

static int dump_epoch(const bm_dataset *ds, const bm_train_sample *samples, int n,
                      const bm_loader_opts *opts, epoch_dump *d) {
  bm_loader *loader;
  bm_error err;
  if (bm_loader_start(&loader, ds, samples, n, opts, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  size_t per_batch = (size_t)opts->batch * 3 * 64 * 64;
  long total = bm_loader_batches_per_epoch(n, opts->batch);
  d->input = calloc((size_t)total * per_batch, sizeof(float));
  d->sample = calloc((size_t)total * opts->batch, sizeof(int));
  d->n_batches = 0;
  d->n_truths = 0;
  const bm_loader_batch *b;
  int got;
  while ((got = bm_loader_next(loader, &b, &err)) == 1) {
    memcpy(d->input + b->index * per_batch, b->input, per_batch * sizeof(float));
    memcpy(d->sample + b->index * opts->batch, b->sample, (size_t)opts->batch * sizeof(int));
    for (int t = 0; t < b->truth_start[opts->batch] && d->n_truths < 256; t++) d->truths[d->n_truths++] = b->truths[t];
    d->n_batches++;
  }
  bm_loader_stop(loader);
  return got;
}

static void free_dump(epoch_dump *d) {
  free(d->input);
  free(d->sample);
}

static void test_letterbox_truths(const char *dir) {
  /* one 200 x 100 image, one box VOC 1 1 100 50 (continuous 0 0 100 50), no augmentation:
   * scale 64 / 200 = 0.32, vertical padding (64 - 32) / 2 = 16 -> box 0 16 32 32:
   * centre (16, 24) / 64, size 32 x 16 / 64 */
  char root[600], path[700];
  snprintf(root, sizeof root, "%s/wide", dir);
  snprintf(path, sizeof path, "%s/JPEGImages", root);
  bm_error err;
  CHECK(bm_mkdir_p(path, &err) == 0);
  bm_image img = {200, 100, 3, calloc(200 * 100 * 3, 1)};
  snprintf(path, sizeof path, "%s/JPEGImages/a.png", root);
  CHECK(bm_image_save_png(path, &img, &err) == 0);
  free(img.pixels);
  bm_dataset ds;
  memset(&ds, 0, sizeof ds);
  bm_image_info info = {"a", path, NULL, 200, 100, 3, 0, 1};
  bm_object obj = {0};
  obj.class_id = 1;
  obj.x1 = 1, obj.y1 = 1, obj.x2 = 100, obj.y2 = 50;
  obj.difficult = 1;
  ds.n_images = 1;
  ds.images = &info;
  ds.n_objects = 1;
  ds.objects = &obj;
  ds.n_classes = 2;
  bm_train_sample sample = {0, NULL, 0};
  bm_loader_opts o = base_opts(1, 0);
  o.batch = 1;
  o.augment = bm_augment_defaults(64, 64); /* letterbox only */
  bm_loader *loader;
  CHECK(bm_loader_start(&loader, &ds, &sample, 1, &o, &err) == 0);
  const bm_loader_batch *b;
  CHECK(bm_loader_next(loader, &b, &err) == 1);
  CHECK(b->truth_start[1] == 1);
  CHECK_NEAR(b->truths[0].cx, 16.0 / 64, 1e-5);
  CHECK_NEAR(b->truths[0].cy, 24.0 / 64, 1e-5);
  CHECK_NEAR(b->truths[0].w, 32.0 / 64, 1e-5);
  CHECK_NEAR(b->truths[0].h, 16.0 / 64, 1e-5);
  CHECK(b->truths[0].class_id == 1 && b->truths[0].difficult == 1);
  /* the padding rows are grey (127 / 255), the picture black */
  CHECK_NEAR(b->input[0], 127.0 / 255, 1e-3);
  CHECK_NEAR(b->input[32 * 64 + 32], 0, 1e-3);
  /* the geometry maps the box back */
  bm_box back = bm_geom_inverse(&b->geom[0], (bm_box){0, 16, 32, 32});
  CHECK_NEAR(back.x2, 100, 1e-3);
  CHECK_NEAR(back.y2, 50, 1e-3);
  CHECK(bm_loader_next(loader, &b, &err) == 0);
  bm_loader_stop(loader);

  /* a sample with its own boxes replaces the dataset's */
  bm_object own = obj;
  own.x2 = 200, own.y2 = 100, own.difficult = 0, own.class_id = 0;
  bm_train_sample mine = {0, &own, 1};
  CHECK(bm_loader_start(&loader, &ds, &mine, 1, &o, &err) == 0);
  CHECK(bm_loader_next(loader, &b, &err) == 1);
  CHECK_NEAR(b->truths[0].w, 1.0, 1e-5);
  CHECK_NEAR(b->truths[0].h, 0.5, 1e-5);
  CHECK(b->truths[0].class_id == 0 && b->truths[0].difficult == 0);
  bm_loader_stop(loader);

  /* a start batch outside the epoch is refused up front (issue 16: -1 indexed the loader's
   * two-slot array at -1); both the background-thread and the inline loader */
  for (int threads = 0; threads <= 1; threads++) {
    o.threads = threads;
    for (long first = -1; first <= 2; first += 3) {
      o.first_batch = first;
      loader = NULL;
      CHECK_MSG(bm_loader_start(&loader, &ds, &sample, 1, &o, &err) == -1, "first batch %ld", first);
      CHECK_MSG(strstr(err.msg, "batch") != NULL, "error: %s", err.msg);
      if (loader) bm_loader_stop(loader);
    }
    o.first_batch = 1; /* = the number of batches: an epoch already complete, nothing to give */
    CHECK(bm_loader_start(&loader, &ds, &sample, 1, &o, &err) == 0);
    CHECK(bm_loader_next(loader, &b, &err) == 0);
    bm_loader_stop(loader);
  }
  o.first_batch = 0;
  o.threads = 0;

  /* a missing image is an error naming it */
  info.image_path = "/nonexistent/b.png";
  CHECK(bm_loader_start(&loader, &ds, &sample, 1, &o, &err) == 0);
  CHECK(bm_loader_next(loader, &b, &err) == -1);
  CHECK_MSG(strstr(err.msg, "/nonexistent/b.png") != NULL, "error: %s", err.msg);
  bm_loader_stop(loader);
}

static void test_reproducible(const char *dir) {
  char root[600];
  snprintf(root, sizeof root, "%s/fixture", dir);
  CHECK(fixture_write(root, 5, 96, 96, 11) == 0);
  bm_dataset ds;
  bm_error err;
  CHECK(fixture_load(root, &ds, &err) == 0);
  CHECK(ds.n_images == 5);
  bm_train_sample samples[5];
  for (int k = 0; k < 5; k++) samples[k] = (bm_train_sample){k, NULL, 0};

  bm_loader_opts o = base_opts(1, 3);
  epoch_dump a, b, c, r;
  CHECK(dump_epoch(&ds, samples, 5, &o, &a) == 0);
  CHECK(dump_epoch(&ds, samples, 5, &o, &b) == 0);
  CHECK(a.n_batches == 3); /* ceil(5 / 2) */
  size_t floats = (size_t)3 * 2 * 3 * 64 * 64;
  CHECK(memcmp(a.input, b.input, floats * sizeof(float)) == 0);
  CHECK(memcmp(a.sample, b.sample, 6 * sizeof(int)) == 0);
  CHECK(a.n_truths == b.n_truths && memcmp(a.truths, b.truths, (size_t)a.n_truths * sizeof a.truths[0]) == 0);
  /* every sample once in the first 5 slots, the 6th wraps around to the first */
  int seen[5] = {0};
  for (int k = 0; k < 5; k++) seen[a.sample[k]]++;
  for (int k = 0; k < 5; k++) CHECK(seen[k] == 1);
  CHECK(a.sample[5] == a.sample[0]);
  /* ... but is augmented differently (another pass) */
  size_t image_floats = (size_t)3 * 64 * 64;
  CHECK(memcmp(a.input, a.input + 5 * image_floats, image_floats * sizeof(float)) != 0);

  /* another epoch: another order or other pixels */
  o.epoch = 4;
  CHECK(dump_epoch(&ds, samples, 5, &o, &c) == 0);
  CHECK(memcmp(a.input, c.input, floats * sizeof(float)) != 0);

  /* resuming at batch 1 gives batches 1 and 2 exactly */
  o.epoch = 3;
  o.first_batch = 1;
  CHECK(dump_epoch(&ds, samples, 5, &o, &r) == 0);
  CHECK(r.n_batches == 2);
  size_t per_batch = (size_t)2 * image_floats;
  CHECK(memcmp(r.input + per_batch, a.input + per_batch, 2 * per_batch * sizeof(float)) == 0);
  CHECK(memcmp(r.sample + 2, a.sample + 2, 4 * sizeof(int)) == 0);

  /* evaluation: sample order, last batch padded with zeros */
  bm_loader_opts e = base_opts(0, 0);
  epoch_dump ev;
  CHECK(dump_epoch(&ds, samples, 5, &e, &ev) == 0);
  for (int k = 0; k < 5; k++) CHECK(ev.sample[k] == k);
  CHECK(ev.sample[5] == -1);
  int zero = 1;
  for (size_t k = 0; k < image_floats; k++) zero &= ev.input[5 * image_floats + k] == 0.0f;
  CHECK(zero);
  free_dump(&a);
  free_dump(&b);
  free_dump(&c);
  free_dump(&r);
  free_dump(&ev);
  bm_dataset_free(&ds);
}

/* Filling inside the caller's OpenMP team (opts.threads >= 1) gives exactly the batches of
 * the background thread (opts.threads = 0): pixels, samples and truths, for training with
 * wrap-around, a resumed epoch and evaluation with padding; a missing image fails naming it. */
static void test_inline_filling(const char *dir) {
  char root[600];
  snprintf(root, sizeof root, "%s/fixture7", dir);
  CHECK(fixture_write(root, 7, 80, 72, 5) == 0);
  bm_dataset ds;
  bm_error err;
  CHECK(fixture_load(root, &ds, &err) == 0);
  CHECK(ds.n_images == 7);
  bm_train_sample samples[7];
  for (int k = 0; k < 7; k++) samples[k] = (bm_train_sample){k, NULL, 0};
  for (int mode = 0; mode < 3; mode++) { /* train, train resumed at batch 1, evaluation */
    bm_loader_opts o = base_opts(mode < 2, 2);
    o.batch = 3;
    o.first_batch = mode == 1 ? 1 : 0;
    epoch_dump want;
    CHECK(dump_epoch(&ds, samples, 7, &o, &want) == 0);
    CHECK(want.n_batches == (mode == 1 ? 2 : 3));
    CHECK(mode == 2 ? want.n_truths == 0 : want.n_truths > 3); /* evaluation has no truths */
    for (int threads = 1; threads <= 3; threads++) {
      o.threads = threads;
      epoch_dump got;
      CHECK(dump_epoch(&ds, samples, 7, &o, &got) == 0);
      size_t floats = (size_t)3 * 3 * 3 * 64 * 64;
      CHECK_MSG(got.n_batches == want.n_batches &&
                    memcmp(got.input, want.input, floats * sizeof(float)) == 0 &&
                    memcmp(got.sample, want.sample, 9 * sizeof(int)) == 0,
                "mode %d, %d threads: batches differ from the background thread's", mode, threads);
      CHECK(got.n_truths == want.n_truths &&
            memcmp(got.truths, want.truths, (size_t)want.n_truths * sizeof want.truths[0]) == 0);
      free_dump(&got);
    }
    free_dump(&want);
  }
  /* inline filling into the caller's buffer: the batch lives there, with the same pixels */
  {
    bm_loader_opts o = base_opts(1, 2);
    o.batch = 3;
    epoch_dump want;
    CHECK(dump_epoch(&ds, samples, 7, &o, &want) == 0);
    size_t batch_floats = (size_t)3 * 3 * 64 * 64;
    float *buffer = malloc(batch_floats * sizeof(float));
    o.threads = 2;
    o.input = buffer;
    bm_loader *loader;
    const bm_loader_batch *b;
    CHECK(bm_loader_start(&loader, &ds, samples, 7, &o, &err) == 0);
    int n = 0;
    while (bm_loader_next(loader, &b, &err) == 1) {
      CHECK(b->input == buffer);
      CHECK(memcmp(buffer, want.input + b->index * batch_floats, batch_floats * sizeof(float)) == 0);
      n++;
    }
    CHECK(n == 3);
    bm_loader_stop(loader); /* must not free the caller's buffer (ASan would see it) */
    free(buffer);
    free_dump(&want);
  }
  /* image 4 missing (batch 1, position 1, between two good images): the batch fails with
   * its name, and the loader stays failed */
  char *saved = ds.images[4].image_path;
  ds.images[4].image_path = "/nonexistent/four.jpg";
  bm_loader_opts o = base_opts(0, 0);
  o.batch = 3;
  o.threads = 2;
  bm_loader *loader;
  const bm_loader_batch *b;
  CHECK(bm_loader_start(&loader, &ds, samples, 7, &o, &err) == 0);
  CHECK(bm_loader_next(loader, &b, &err) == 1);
  CHECK(bm_loader_next(loader, &b, &err) == -1 && b == NULL);
  CHECK_MSG(strstr(err.msg, "/nonexistent/four.jpg") != NULL, "error: %s", err.msg);
  CHECK(bm_loader_next(loader, &b, &err) == -1);
  bm_loader_stop(loader);
  ds.images[4].image_path = saved;
  bm_dataset_free(&ds);
}

/* The decoded-image cache: batches with it equal batches without it (first epoch filling it,
 * later epochs reading it, inline and threaded), its byte bound holds, an image that appears
 * twice in one batch is cached once, and another dataset never sees the first one's pixels. */
static void test_image_cache(const char *dir) {
  char root[600], other_root[600];
  snprintf(root, sizeof root, "%s/fixture7", dir); /* written by test_inline_filling */
  snprintf(other_root, sizeof other_root, "%s/fixture7b", dir);
  CHECK(fixture_write(other_root, 7, 80, 72, 99) == 0);
  bm_dataset ds, other;
  bm_error err;
  CHECK(fixture_load(root, &ds, &err) == 0);
  CHECK(fixture_load(other_root, &other, &err) == 0);
  bm_train_sample samples[7];
  for (int k = 0; k < 7; k++) samples[k] = (bm_train_sample){k, NULL, 0};
  size_t image_bytes = (size_t)80 * 72 * 3, floats = (size_t)3 * 3 * 3 * 64 * 64;

  bm_image_cache *cache = bm_image_cache_new(100 * image_bytes);
  CHECK(cache != NULL);
  for (int epoch = 0; epoch < 3; epoch++) {
    bm_loader_opts o = base_opts(1, epoch);
    o.batch = 3;
    epoch_dump want, got;
    CHECK(dump_epoch(&ds, samples, 7, &o, &want) == 0);
    o.cache = cache;
    o.threads = epoch == 1 ? 0 : 2; /* the background thread uses it too */
    CHECK(dump_epoch(&ds, samples, 7, &o, &got) == 0);
    CHECK_MSG(memcmp(got.input, want.input, floats * sizeof(float)) == 0 &&
                  got.n_truths == want.n_truths &&
                  memcmp(got.truths, want.truths, (size_t)want.n_truths * sizeof want.truths[0]) == 0,
              "epoch %d: batches with the cache differ", epoch);
    CHECK(bm_image_cache_bytes(cache) == 7 * image_bytes); /* all 7, each once */
    free_dump(&want);
    free_dump(&got);
  }
  /* the same cache handed another dataset: that dataset's pixels, not the cached ones */
  bm_loader_opts o = base_opts(0, 0);
  o.batch = 3;
  epoch_dump want, got;
  CHECK(dump_epoch(&other, samples, 7, &o, &want) == 0);
  o.cache = cache;
  o.threads = 2;
  CHECK(dump_epoch(&other, samples, 7, &o, &got) == 0);
  CHECK(memcmp(got.input, want.input, floats * sizeof(float)) == 0);
  free_dump(&want);
  free_dump(&got);
  bm_image_cache_free(cache);

  /* room for 2.5 images: exactly 2 are kept; 2 samples in a batch of 3 repeat one image */
  cache = bm_image_cache_new(5 * image_bytes / 2);
  o = base_opts(1, 1);
  o.batch = 3;
  CHECK(dump_epoch(&ds, samples, 2, &o, &want) == 0);
  o.cache = cache;
  o.threads = 3;
  for (int round = 0; round < 2; round++) {
    CHECK(dump_epoch(&ds, samples, 2, &o, &got) == 0);
    CHECK(memcmp(got.input, want.input, (size_t)3 * 3 * 64 * 64 * sizeof(float)) == 0);
    CHECK(bm_image_cache_bytes(cache) == 2 * image_bytes);
    free_dump(&got);
  }
  CHECK(dump_epoch(&ds, samples, 7, &o, &got) == 0);
  CHECK(bm_image_cache_bytes(cache) == 2 * image_bytes);
  free_dump(&got);
  free_dump(&want);
  bm_image_cache_free(cache);
  bm_dataset_free(&ds);
  bm_dataset_free(&other);
}

int main(void) {
  char dir[512];
  bm_test_tmpdir(dir, sizeof dir);
  test_letterbox_truths(dir);
  test_reproducible(dir);
  test_inline_filling(dir);
  test_image_cache(dir);
  return bm_test_finish("test_train_loader");
}
