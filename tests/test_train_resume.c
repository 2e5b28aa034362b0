/* Training state: 4 epochs in one go and 2 + save + load + 2 (and a stop in the middle of an
 * epoch) give bit-identical weights, optimiser moments and batch-norm statistics, with and
 * without the weight average (EMA); the average follows its formula; damaged, foreign and
 * mismatched checkpoints are refused with a reason. */
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_det.h"
#include "boxmine/bm_nn.h"
#include "boxmine/bm_train.h"
#include "det_fixture.h"
#include "testlib.h"

static bm_train_opts small_opts(void) {
  bm_train_opts o = bm_train_defaults();
  o.batch = 4;
  o.threads = 2;
  o.seed = 9;
  o.lr = 0.002f;
  o.warmup_iters = 3;
  o.schedule = BM_LR_COSINE;
  o.schedule_epochs = 4;
  return o;
}

/* Parameters and batch-norm state of a trainer's network, copied. */
static float *snapshot(bm_trainer *tr, size_t *n) {
  bm_network *net = bm_detector_net(bm_trainer_detector(tr));
  size_t n_params = bm_net_n_params(net), n_state = bm_net_n_state(net);
  float *copy = malloc((n_params + n_state) * sizeof *copy);
  memcpy(copy, bm_net_params(net), n_params * sizeof *copy);
  memcpy(copy + n_params, bm_net_state(net), n_state * sizeof *copy);
  *n = n_params + n_state;
  return copy;
}

typedef struct stop_after {
  int64_t iteration;
} stop_after;

static int stop_hook(void *user, bm_trainer *tr, const bm_train_progress *p) {
  (void)tr;
  return p->iteration >= ((stop_after *)user)->iteration;
}

static void test_resume(const char *dir, const bm_dataset *ds, float ema_decay) {
  bm_train_sample samples[6];
  for (int k = 0; k < 6; k++) samples[k] = (bm_train_sample){k, NULL, 0};
  bm_train_opts o = small_opts();
  o.ema_decay = ema_decay;
  bm_error err;
  char ckpt[700];
  snprintf(ckpt, sizeof ckpt, "%s/state.ckpt", dir);

  /* A: 4 epochs straight (6 images, batch 4: 2 updates per epoch) */
  bm_trainer *a;
  CHECK(bm_trainer_create(&a, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, &o, 6, NULL, &err) == 0);
  bm_epoch_summary summary;
  CHECK(bm_trainer_train_epochs(a, ds, samples, 6, 4, NULL, &summary, &err) == 0);
  CHECK(bm_trainer_epoch(a) == 4);
  CHECK(bm_trainer_iteration(a) == 8);
  CHECK(summary.n_updates == 2 && isfinite(summary.loss));
  size_t n_a;
  float *weights_a = snapshot(a, &n_a);

  /* B: 2 epochs, save, free, load, 2 more */
  bm_trainer *b;
  CHECK(bm_trainer_create(&b, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, &o, 6, NULL, &err) == 0);
  CHECK(bm_trainer_train_epochs(b, ds, samples, 6, 2, NULL, NULL, &err) == 0);
  CHECK(bm_trainer_record_ap(b, 0.25, 0.125) == 0);
  CHECK_MSG(bm_trainer_save(b, ckpt, NULL, NULL, &err) == 0, "%s", err.msg);
  bm_trainer_free(b);
  CHECK_MSG(bm_trainer_load(&b, ckpt, 0, NULL, &err) == 0, "%s", err.msg);
  CHECK(bm_trainer_epoch(b) == 2 && bm_trainer_iteration(b) == 4);
  CHECK(bm_trainer_n_history(b) == 1);
  int64_t hist_epoch;
  double ap50, ap75;
  bm_trainer_history(b, 0, &hist_epoch, &ap50, &ap75);
  CHECK(hist_epoch == 2 && ap50 == 0.25 && ap75 == 0.125);
  CHECK(bm_trainer_train_epochs(b, ds, samples, 6, 2, NULL, NULL, &err) == 0);
  size_t n_b;
  float *weights_b = snapshot(b, &n_b);
  CHECK(n_a == n_b);
  CHECK_MSG(memcmp(weights_a, weights_b, n_a * sizeof(float)) == 0, "resumed weights differ");

  /* C: stopped after update 3 (inside epoch 2), saved, loaded, finished */
  bm_trainer *c;
  CHECK(bm_trainer_create(&c, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, &o, 6, NULL, &err) == 0);
  stop_after stop = {3};
  bm_train_hooks hooks = {stop_hook, &stop};
  CHECK(bm_trainer_train_epochs(c, ds, samples, 6, 4, &hooks, NULL, &err) == 1);
  CHECK(bm_trainer_epoch(c) == 1 && bm_trainer_iteration(c) == 3);
  CHECK(bm_trainer_save(c, ckpt, NULL, NULL, &err) == 0);
  bm_trainer_free(c);
  CHECK(bm_trainer_load(&c, ckpt, 0, NULL, &err) == 0);
  /* a different sample list cannot finish that epoch */
  CHECK(bm_trainer_train_epochs(c, ds, samples, 5, 1, NULL, NULL, &err) == -1);
  CHECK_MSG(strstr(err.msg, "middle of epoch") != NULL, "%s", err.msg);
  CHECK(bm_trainer_train_epochs(c, ds, samples, 6, 3, NULL, NULL, &err) == 0); /* rest of 2, 3, 4 */
  CHECK(bm_trainer_epoch(c) == 4 && bm_trainer_iteration(c) == 8);
  size_t n_c;
  float *weights_c = snapshot(c, &n_c);
  CHECK_MSG(memcmp(weights_a, weights_c, n_a * sizeof(float)) == 0, "weights after a mid-epoch stop differ");

  /* a different seed gives different weights (the comparison above can fail) */
  bm_trainer *d;
  o.seed = 10;
  CHECK(bm_trainer_create(&d, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, &o, 6, NULL, &err) == 0);
  CHECK(bm_trainer_train_epochs(d, ds, samples, 6, 4, NULL, NULL, &err) == 0);
  size_t n_d;
  float *weights_d = snapshot(d, &n_d);
  CHECK(memcmp(weights_a, weights_d, n_a * sizeof(float)) != 0);
  free(weights_a);
  free(weights_b);
  free(weights_c);
  free(weights_d);
  bm_trainer_free(a);
  bm_trainer_free(b);
  bm_trainer_free(c);
  bm_trainer_free(d);
}

/* With EMA on, the network between updates holds avg_t = d_t avg_{t-1} + (1 - d_t) w_t,
 * avg_0 = w_0, d_t = min(decay, (1 + t) / (10 + t)), where w_t are the weights (and batch-norm
 * statistics) of the same run without EMA after t updates. */
static void test_ema_formula(const bm_dataset *ds) {
  bm_train_sample samples[6];
  for (int k = 0; k < 6; k++) samples[k] = (bm_train_sample){k, NULL, 0};
  bm_train_opts o = small_opts();
  o.ema_decay = 0; /* the plain runs */
  bm_error err;
  float *w[4];
  size_t n = 0;
  for (int t = 0; t <= 3; t++) { /* plain run stopped after t updates */
    bm_trainer *plain;
    CHECK(bm_trainer_create(&plain, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, &o, 6, NULL, &err) == 0);
    if (t == 2) { /* one whole epoch (a hook cannot stop a run at an epoch's last update) */
      CHECK(bm_trainer_train_epochs(plain, ds, samples, 6, 1, NULL, NULL, &err) == 0);
    } else if (t > 0) {
      stop_after stop = {t};
      bm_train_hooks hooks = {stop_hook, &stop};
      CHECK(bm_trainer_train_epochs(plain, ds, samples, 6, 4, &hooks, NULL, &err) == 1);
    }
    CHECK(bm_trainer_iteration(plain) == t);
    w[t] = snapshot(plain, &n);
    bm_trainer_free(plain);
  }
  o.ema_decay = 0.2f; /* d_1 = 2/11 (ramp), d_2 = 0.2 (cap), d_3 = 0.2 */
  bm_trainer *avg;
  CHECK(bm_trainer_create(&avg, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, &o, 6, NULL, &err) == 0);
  stop_after stop = {3};
  bm_train_hooks hooks = {stop_hook, &stop};
  CHECK(bm_trainer_train_epochs(avg, ds, samples, 6, 4, &hooks, NULL, &err) == 1);
  size_t n_avg;
  float *got = snapshot(avg, &n_avg);
  CHECK(n_avg == n);
  const double d[4] = {0, 2.0 / 11.0, 0.2, 0.2};
  int bad = 0, moved = 0;
  for (size_t k = 0; k < n; k++) {
    double expect = w[0][k];
    for (int t = 1; t <= 3; t++) expect = d[t] * expect + (1 - d[t]) * w[t][k];
    if (fabs(got[k] - expect) > 1e-5 * (1 + fabs(expect))) bad++;
    if (fabs(w[3][k] - expect) > 1e-4 * (1 + fabs(expect))) moved++;
  }
  CHECK_MSG(bad == 0, "%d of %zu averaged values differ from the formula", bad, n);
  CHECK_MSG(moved > 0, "the average equals the raw weights: nothing to test");
  free(got);
  for (int t = 0; t <= 3; t++) free(w[t]);
  bm_trainer_free(avg);
}

/* Copies every section of a checkpoint into a writer, replacing one string section. */
static int rewrite_with(const char *from, const char *to, const char *name, const char *text) {
  bm_ckpt_reader r;
  bm_error err;
  if (bm_ckpt_open(&r, from, &err)) return -1;
  bm_ckpt_writer w;
  bm_ckpt_writer_init(&w);
  for (int s = 0; s < r.n_sections; s++) {
    const bm_ckpt_section *sec = &r.sections[s];
    if (!strcmp(sec->name, name)) {
      bm_ckpt_add_string(&w, name, text);
      continue;
    }
    size_t count;
    if (sec->type == BM_CKPT_F32) {
      bm_ckpt_count(&r, sec->name, BM_CKPT_F32, &count, &err);
      float *v = malloc((count + 1) * sizeof *v);
      bm_ckpt_read_f32(&r, sec->name, v, count, &err);
      bm_ckpt_add_f32(&w, sec->name, v, count);
      free(v);
    } else if (sec->type == BM_CKPT_F64) {
      bm_ckpt_count(&r, sec->name, BM_CKPT_F64, &count, &err);
      double *v = malloc((count + 1) * sizeof *v);
      bm_ckpt_read_f64(&r, sec->name, v, count, &err);
      bm_ckpt_add_f64(&w, sec->name, v, count);
      free(v);
    } else if (sec->type == BM_CKPT_I64) {
      bm_ckpt_count(&r, sec->name, BM_CKPT_I64, &count, &err);
      int64_t *v = malloc((count + 1) * sizeof *v);
      bm_ckpt_read_i64(&r, sec->name, v, count, &err);
      bm_ckpt_add_i64(&w, sec->name, v, count);
      free(v);
    } else {
      bm_ckpt_add_bytes(&w, sec->name, sec->data, sec->size);
    }
  }
  int rc = bm_ckpt_save(&w, to, &err);
  bm_ckpt_writer_free(&w);
  bm_ckpt_close(&r);
  return rc;
}

/* Issue 16: out-of-range or non-finite fields behind a valid checksum are refused at load,
 * with the section named, by the trainer and (for the detector's sections) by the detector.
 * Before the checks, a negative position indexed slot_state[-1], position 1000 looped for
 * ever, epoch -100 trained 102 epochs and NaN weights detected nothing with exit 0. */
static void test_crafted(const char *dir, const bm_dataset *ds) {
  bm_train_opts o = small_opts();
  o.ema_decay = 0.5f; /* so that trainer.raw is saved too */
  bm_error err;
  bm_trainer *tr = NULL, *loaded = NULL;
  char good[700], bad[700];
  snprintf(good, sizeof good, "%s/crafted-good.ckpt", dir);
  snprintf(bad, sizeof bad, "%s/crafted.ckpt", dir);
  bm_train_sample samples[6];
  for (int k = 0; k < 6; k++) samples[k] = (bm_train_sample){k, NULL, 0};
  CHECK(bm_trainer_create(&tr, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, &o, 6, NULL, &err) == 0);
  CHECK(bm_trainer_train_epochs(tr, ds, samples, 6, 1, NULL, NULL, &err) == 0);
  CHECK(bm_trainer_record_ap(tr, 0.25, 0.125) == 0);
  CHECK_MSG(bm_trainer_save(tr, good, NULL, NULL, &err) == 0, "%s", err.msg);
  bm_trainer_free(tr);
  const struct {
    const char *section;
    size_t index;
    double value;
    const char *says; /* a word the error must contain besides the section */
  } cases[] = {
      {"trainer.counters", 1, -100, "epoch"},
      {"trainer.counters", 1, 4611686018427387904.0, "epoch"}, /* 2^62 */
      {"trainer.counters", 2, -1, "position"},
      {"trainer.counters", 4, 0, "batches per epoch"},
      {"trainer.counters", 4, -7, "batches per epoch"},
      {"trainer.opts", 0, 1e300, "trainer.opts"},
      {"trainer.opts", 5, NAN, "trainer.opts"},
      {"trainer.opts", 12, INFINITY, "trainer.opts"},
      {"trainer.opts", 16, 7, "flip"},
      {"trainer.epoch_sums", 0, NAN, "trainer.epoch_sums"},
      {"trainer.epoch_sums", 4, -3, "trainer.epoch_sums"},
      {"trainer.history", 0, -5, "trainer.history"},
      {"trainer.history", 0, 1e300, "trainer.history"},
      {"trainer.history", 1, INFINITY, "trainer.history"},
      {"trainer.raw", 3, NAN, "trainer.raw"},
      {"detector.params", 0, NAN, "detector.params"},
      {"detector.params", 10, INFINITY, "detector.params"},
      {"detector.state", 0, NAN, "detector.state"},
      {"detector.seen", 0, -1, "detector.seen"},
      {"optim.moments", 1, -INFINITY, "optim.moments"},
      {"optim.hyper", 4, INFINITY, "optim"},
      {"optim.hyper", 0, NAN, "optim"},
      {"sched.reals", 0, NAN, "sched"},
      {"sched.reals", 1, INFINITY, "sched"},
      {"sched.ints", 2, -5, "sched"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    CHECK_MSG(bm_test_craft_ckpt(good, bad, cases[c].section, cases[c].index, cases[c].value) == 0,
              "cannot craft %s[%zu]", cases[c].section, cases[c].index);
    err.msg[0] = '\0';
    int rc = bm_trainer_load(&loaded, bad, 0, NULL, &err);
    CHECK_MSG(rc == -1, "%s[%zu] = %g was accepted", cases[c].section, cases[c].index, cases[c].value);
    CHECK_MSG(strstr(err.msg, "crafted.ckpt") && strstr(err.msg, cases[c].says),
              "%s[%zu] = %g: \"%s\"", cases[c].section, cases[c].index, cases[c].value, err.msg);
    bm_trainer_free(loaded);
    loaded = NULL;
    if (!strncmp(cases[c].section, "detector.", 9)) {
      bm_detector *det = NULL;
      CHECK_MSG(bm_detector_load(&det, bad, 1, NULL, &err) == -1, "detector accepted %s",
                cases[c].section);
      bm_detector_free(det);
    }
  }
  /* A position inside the saved range but past the end of this epoch's batches (6 images,
   * batch 4: 2 batches) is refused when training resumes instead of looping. */
  CHECK(bm_test_craft_ckpt(good, bad, "trainer.counters", 2, 1000) == 0);
  CHECK_MSG(bm_trainer_load(&loaded, bad, 0, NULL, &err) == 0, "%s", err.msg);
  if (loaded) {
    CHECK(bm_trainer_train_epochs(loaded, ds, samples, 6, 1, NULL, NULL, &err) == -1);
    CHECK_MSG(strstr(err.msg, "batch 1000") != NULL, "%s", err.msg);
  }
  bm_trainer_free(loaded);
  /* class names in a checkpoint pass the same rule as everywhere else */
  const char *bad_lists[] = {"red\n#blue", "red\nbl\x02ue", "red\n", "red\nb/lue"};
  for (size_t k = 0; k < sizeof bad_lists / sizeof bad_lists[0]; k++) {
    CHECK(rewrite_with(good, bad, "detector.classes", bad_lists[k]) == 0);
    CHECK_MSG(bm_trainer_load(&loaded, bad, 0, NULL, &err) == -1, "classes %zu accepted", k);
    CHECK_MSG(strstr(err.msg, "detector.classes") != NULL, "%s", err.msg);
    bm_trainer_free(loaded);
    loaded = NULL;
  }
  /* the untouched file still loads */
  CHECK(bm_test_craft_ckpt(good, bad, "trainer.counters", 1, 1) == 0);
  CHECK_MSG(bm_trainer_load(&loaded, bad, 0, NULL, &err) == 0, "%s", err.msg);
  bm_trainer_free(loaded);
}

static void test_refused(const char *dir, const bm_dataset *ds) {
  bm_train_opts o = small_opts();
  bm_error err;
  bm_trainer *tr;
  char good[700], bad[700];
  snprintf(good, sizeof good, "%s/good.ckpt", dir);
  snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
  CHECK(bm_trainer_create(&tr, fixture_cfg, "fixture.cfg", 2, (char *const *)fixture_classes, &o, 6, NULL, &err) == 0);
  CHECK(bm_trainer_save(tr, good, NULL, NULL, &err) == 0);
  char *data;
  size_t len;
  CHECK(bm_read_file(good, &data, &len, &err) == 0);

  /* one flipped bit in the middle: the checksum catches it */
  data[len / 2] ^= 0x10;
  CHECK(bm_write_file_atomic(bad, data, len, &err) == 0);
  data[len / 2] ^= 0x10;
  bm_trainer *loaded = NULL;
  CHECK(bm_trainer_load(&loaded, bad, 0, NULL, &err) == -1);
  CHECK_MSG(strstr(err.msg, bad) != NULL, "%s", err.msg);
  CHECK(loaded == NULL);
  bm_detector *det = NULL;
  CHECK(bm_detector_load(&det, bad, 1, NULL, &err) == -1);
  /* truncated */
  CHECK(bm_write_file_atomic(bad, data, len - 100, &err) == 0);
  CHECK(bm_trainer_load(&loaded, bad, 0, NULL, &err) == -1);
  /* not a checkpoint at all */
  CHECK(bm_write_file_atomic(bad, "[net]\nwidth=64\n", 15, &err) == 0);
  CHECK(bm_trainer_load(&loaded, bad, 0, NULL, &err) == -1);
  CHECK(bm_detector_load(&det, bad, 1, NULL, &err) == -1);
  bm_free(data);

  /* a valid container whose cfg no longer matches its weights (wider first layer) */
  char *cfg = strdup(fixture_cfg);
  char *filters = strstr(cfg, "filters=8\n");
  CHECK(filters != NULL);
  if (filters) memcpy(filters, "filters=9\n", 10);
  CHECK(rewrite_with(good, bad, "detector.cfg", cfg) == 0);
  free(cfg);
  CHECK(bm_trainer_load(&loaded, bad, 0, NULL, &err) == -1);
  CHECK_MSG(strstr(err.msg, "parameters") != NULL, "%s", err.msg);
  CHECK(bm_detector_load(&det, bad, 1, NULL, &err) == -1);
  /* another kind of checkpoint */
  CHECK(rewrite_with(good, bad, "boxmine.kind", "boxmine-mining-state") == 0);
  CHECK(bm_trainer_load(&loaded, bad, 0, NULL, &err) == -1);
  CHECK_MSG(strstr(err.msg, "not a boxmine") != NULL, "%s", err.msg);
  /* the unchanged file loads, as a trainer and as a detector */
  CHECK(bm_trainer_load(&loaded, good, 0, NULL, &err) == 0);
  CHECK(bm_detector_load(&det, good, 1, NULL, &err) == 0);
  CHECK(det && bm_detector_n_classes(det) == 2 && !strcmp(bm_detector_class_names(det)[1], "blue"));

  /* a dataset with other classes is refused by training */
  bm_dataset other = *ds;
  char *names[2] = {"blue", "red"};
  other.class_names = names;
  bm_train_sample sample = {0, NULL, 0};
  CHECK(bm_trainer_train_epochs(tr, &other, &sample, 1, 1, NULL, NULL, &err) == -1);
  CHECK_MSG(strstr(err.msg, "class 0") != NULL, "%s", err.msg);
  bm_detector_free(det);
  bm_trainer_free(loaded);
  bm_trainer_free(tr);
}

static void test_export(const char *dir) {
  bm_train_opts o = small_opts();
  bm_error err;
  bm_trainer *tr;
  CHECK(bm_trainer_create(&tr, fixture_cfg, "fixture.cfg", 3, (char *const *)(const char *[]){"a", "b", "c"}, &o, 6, NULL, &err) == 0);
  char weights[700], cfg[700];
  snprintf(weights, sizeof weights, "%s/model.weights", dir);
  snprintf(cfg, sizeof cfg, "%s/model.cfg", dir);
  bm_detector *det = bm_trainer_detector(tr);
  CHECK_MSG(bm_detector_export_darknet(det, weights, cfg, &err) == 0, "%s", err.msg);
  /* the exported cfg says 3 classes and 3 * (5 + 3) = 24 filters, and with the weights it
   * rebuilds the same network */
  char *text;
  size_t len;
  CHECK(bm_read_file(cfg, &text, &len, &err) == 0);
  CHECK(strstr(text, "classes=3") != NULL && strstr(text, "filters=24") != NULL);
  CHECK(strstr(text, "classes=2") == NULL && strstr(text, "filters=21") == NULL);
  bm_network *net;
  CHECK_MSG(bm_net_create_from_text(&net, text, "model.cfg", 1, NULL, &err) == 0, "%s", err.msg);
  CHECK_MSG(bm_net_load_weights(net, weights, -1, &err) == 0, "%s", err.msg);
  bm_network *orig = bm_detector_net(det);
  CHECK(bm_net_n_params(net) == bm_net_n_params(orig));
  CHECK(memcmp(bm_net_params(net), bm_net_params(orig), bm_net_n_params(net) * sizeof(float)) == 0);
  bm_net_free(net);
  bm_free(text);
  bm_trainer_free(tr);
}

/* --input: the cfg's [net] size replaced; the network and its head follow. */
static void test_input_size(void) {
  char *sized = NULL;
  bm_error err;
  CHECK(bm_cfg_set_input_size(fixture_cfg, 96, 48, &sized, &err) == 0);
  CHECK(sized && strstr(sized, "width=96") && strstr(sized, "height=48"));
  CHECK(sized && !strstr(sized, "width=64\n"));
  bm_detector *det = NULL;
  bm_rng rng;
  bm_rng_seed(&rng, 1, 1);
  CHECK_MSG(bm_detector_create(&det, sized, "sized", 2, (char *const *)fixture_classes, 1, &rng, NULL, &err) == 0, "%s", err.msg);
  if (det) {
    int c, h, w;
    bm_net_input_dims(bm_detector_net(det), &c, &h, &w);
    CHECK(w == 96 && h == 48);
    CHECK(bm_detector_head(det, 0)->w == 12 && bm_detector_head(det, 0)->h == 6); /* stride 8 */
  }
  bm_detector_free(det);
  bm_free(sized);
  CHECK(bm_cfg_set_input_size("[convolutional]\nfilters=3\n", 64, 64, &sized, &err) == -1);
  CHECK(bm_cfg_set_input_size(fixture_cfg, 4, 64, &sized, &err) == -1);
}

int main(void) {
  char dir[512], root[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(root, sizeof root, "%s/fixture", dir);
  CHECK(fixture_write(root, 6, 96, 96, 21) == 0);
  bm_dataset ds;
  bm_error err;
  CHECK(fixture_load(root, &ds, &err) == 0);
  test_resume(dir, &ds, 0.0f);
  test_resume(dir, &ds, 0.9f);
  test_ema_formula(&ds);
  test_refused(dir, &ds);
  test_crafted(dir, &ds);
  test_export(dir);
  test_input_size();
  bm_dataset_free(&ds);
  return bm_test_finish("test_train_resume");
}
