/* The mining loop end to end on a tiny synthesised data set (40 pool / 20 test images of
 * 64 x 64, a 4-layer network): an interrupted and resumed run gives the same records and
 * weight bytes as an uninterrupted one (stopped inside an epoch, between rounds, and by
 * --max-rounds); the human cost in the records agrees with what the records and the data set
 * say people did; the run's files are complete; resuming with other data or other mining
 * options is refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_eval.h"
#include "boxmine/bm_mine_loop.h"
#include "boxmine/bm_synth.h"
#include "testlib.h"

static const char tiny_cfg[] =
    "[net]\nwidth=64\nheight=64\nchannels=3\nbatch=8\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[convolutional]\nfilters=45\nsize=1\nstride=1\npad=1\nactivation=linear\n\n"
    "[yolo]\nmask=0,1,2\nanchors=10,14, 16,22, 24,30\nclasses=10\nnum=3\nignore_thresh=0.5\n"
    "truth_thresh=1\n";

static bm_dataset pool, test;

static int load_split(const char *root, const char *split, bm_dataset *ds, int for_eval) {
  bm_dataset_opts o;
  memset(&o, 0, sizeof o);
  o.root = root;
  o.split = split;
  bm_error err;
  int rc = for_eval ? bm_eval_load_dataset(ds, &o, NULL, &err) : bm_dataset_load(ds, &o, NULL, &err);
  if (rc) fprintf(stderr, "%s\n", err.msg);
  return rc;
}

static void base_opts(bm_loop_opts *o, bm_strategy strategy) {
  bm_loop_opts_default(o);
  o->mine.strategy = strategy;
  o->mine.oracle = BM_ORACLE_VERIFY;
  o->mine.K = 8;
  o->n_init = 10;
  o->pre_epochs = 2;
  o->max_rounds = 3;
  o->log_every = 1;
}

static bm_train_opts train_opts(void) {
  bm_train_opts t = bm_train_defaults();
  t.batch = 8;
  t.threads = 1;
  t.seed = 5;
  t.schedule = BM_LR_CONST;
  t.warmup_iters = 4;
  t.lr = 0.005f;
  return t;
}

/* Stops after `stop_at_update` updates or after `stop_after_records` records (0 = never). */
typedef struct stopper {
  long updates, stop_at_update;
  int records, stop_after_records;
  int stop;
} stopper;

static int count_update(void *user, const bm_train_progress *p) {
  stopper *s = user;
  (void)p;
  s->updates++;
  if (s->stop_at_update > 0 && s->updates == s->stop_at_update) s->stop = 1;
  return s->stop;
}
static void count_record(void *user, const bm_round_record *rec) {
  stopper *s = user;
  (void)rec;
  s->records++;
  if (s->stop_after_records > 0 && s->records == s->stop_after_records) s->stop = 1;
}
static int ask_stop(void *user) { return ((stopper *)user)->stop; }

/* The run folder dir (created if needed, locked until the loop that takes it is freed). */
static bm_run *open_run(const char *dir) {
  bm_run *run = NULL;
  bm_error err;
  if (bm_run_open(&run, dir, BM_RUN_ANY, &err)) fprintf(stderr, "%s\n", err.msg);
  return run;
}

static int new_run(const char *dir, const bm_loop_opts *o, bm_loop **loop) {
  bm_train_opts t = train_opts();
  bm_trainer *tr = NULL;
  bm_error err;
  if (bm_trainer_create(&tr, tiny_cfg, "tiny.cfg", pool.n_classes, pool.class_names, &t, o->n_init,
                        NULL, &err) ||
      bm_loop_create(loop, open_run(dir), o, &pool, &test, tr, "test", NULL, NULL, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  return 0;
}

static int run(bm_loop *loop, stopper *s, bm_loop_result *res) {
  bm_loop_hooks h = {count_update, NULL, count_record, NULL, ask_stop, s};
  bm_error err;
  int rc = bm_loop_run(loop, &h, res, &err);
  if (rc) fprintf(stderr, "run: %s\n", err.msg);
  return rc;
}

static int resume(const char *dir, const bm_loop_opts *o, bm_loop **loop, bm_error *err) {
  char path[600];
  snprintf(path, sizeof path, "%s/last.ckpt", dir);
  return bm_loop_resume(loop, open_run(dir), path, o, &pool, &test, 0, "test", NULL, NULL, NULL, err);
}

/* rounds.jsonl with every "seconds" value removed (wall time is not reproducible). */
static char *rounds_without_seconds(const char *dir) {
  char path[600];
  snprintf(path, sizeof path, "%s/rounds.jsonl", dir);
  char *text;
  size_t len;
  bm_error err;
  if (bm_read_file(path, &text, &len, &err)) return NULL;
  char *out = malloc(len + 1), *w = out;
  for (const char *p = text; *p;) {
    if (!strncmp(p, ",\"seconds\":", 11)) {
      p += 11;
      while (*p && *p != '}' && *p != ',') p++;
    } else {
      *w++ = *p++;
    }
  }
  *w = '\0';
  bm_free(text);
  return out;
}

static int same_file(const char *a_dir, const char *b_dir, const char *name) {
  char a[600], b[600];
  snprintf(a, sizeof a, "%s/%s", a_dir, name);
  snprintf(b, sizeof b, "%s/%s", b_dir, name);
  char *x, *y;
  size_t nx, ny;
  bm_error err;
  if (bm_read_file(a, &x, &nx, &err) || bm_read_file(b, &y, &ny, &err)) return 0;
  int same = nx == ny && !memcmp(x, y, nx);
  bm_free(x);
  bm_free(y);
  return same;
}

static int count_lines(const char *path) {
  char *text;
  size_t len;
  bm_error err;
  if (bm_read_file(path, &text, &len, &err)) return -1;
  int n = 0;
  for (size_t i = 0; i < len; i++) n += text[i] == '\n';
  bm_free(text);
  return n;
}

/* The records read back through the report's reader. */
static int read_records(const char *dir, bm_run_log *log_out) {
  bm_error err;
  if (bm_run_log_load(dir, log_out, NULL, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  return 0;
}

static void test_resume_matches(const char *tmp) {
  char straight[512], broken[512];
  snprintf(straight, sizeof straight, "%s/straight", tmp);
  snprintf(broken, sizeof broken, "%s/broken", tmp);
  bm_loop_opts o;
  base_opts(&o, BM_STRATEGY_TOPK_SLSCORE);
  bm_loop *loop = NULL;
  bm_loop_result res;
  stopper s = {0};
  CHECK(new_run(straight, &o, &loop) == 0);
  CHECK(loop && run(loop, &s, &res) == 0);
  CHECK(res.finished && res.rounds == 3 && res.phase1_epochs == 2);
  CHECK(strstr(res.stop_reason, "max-rounds") != NULL);
  long straight_updates = s.updates;
  bm_loop_free(loop);

  /* 1: stopped by --max-rounds 1; 2: stopped inside an epoch of round 2 (the update after
   * the ones already done); 3: stopped right after round 2's record; 4: to the end */
  bm_loop_opts first = o;
  first.max_rounds = 1;
  first.checkpoint_minutes = 1e-9; /* last.ckpt after every update: saving changes nothing */
  memset(&s, 0, sizeof s);
  CHECK(new_run(broken, &first, &loop) == 0);
  CHECK(loop && run(loop, &s, &res) == 0);
  CHECK(res.finished && res.rounds == 1);
  long done_updates = s.updates;
  bm_loop_free(loop);
  loop = NULL;
  bm_error err;
  memset(&s, 0, sizeof s);
  s.stop_at_update = 1; /* the first update of round 2: inside its first epoch */
  CHECK_MSG(resume(broken, &o, &loop, &err) == 0, "%s", err.msg);
  CHECK(loop && run(loop, &s, &res) == 0);
  CHECK(!res.finished && (res.rounds == 1 || res.rounds == 2));
  done_updates += s.updates;
  bm_loop_free(loop);
  loop = NULL;
  memset(&s, 0, sizeof s);
  s.stop_after_records = 1;
  CHECK_MSG(resume(broken, &o, &loop, &err) == 0, "%s", err.msg);
  CHECK(loop && run(loop, &s, &res) == 0);
  CHECK(!res.finished && (res.rounds == 2 || res.rounds == 3));
  done_updates += s.updates;
  bm_loop_free(loop);
  loop = NULL;
  memset(&s, 0, sizeof s);
  CHECK_MSG(resume(broken, &o, &loop, &err) == 0, "%s", err.msg);
  CHECK(loop && run(loop, &s, &res) == 0);
  CHECK(res.finished && res.rounds == 3);
  done_updates += s.updates;
  bm_loop_free(loop);
  loop = NULL;
  /* the stop inside the epoch repeated nothing: an epoch continues where it stopped */
  CHECK(done_updates == straight_updates);

  char *a = rounds_without_seconds(straight), *b = rounds_without_seconds(broken);
  CHECK(a && b && !strcmp(a, b));
  free(a);
  free(b);
  CHECK(same_file(straight, broken, "last.weights"));
  CHECK(same_file(straight, broken, "best.weights"));
  CHECK(same_file(straight, broken, "annotations/ImageSets/Main/labeled.txt"));

  /* what the records say people did, checked against the data set */
  bm_run_log rl;
  memset(&rl, 0, sizeof rl);
  CHECK(read_records(straight, &rl) == 0);
  CHECK(rl.n_rounds == 5); /* 2 phase-1 epochs + 3 rounds */
  long opened = 0;
  for (int k = 0; k < rl.n_rounds; k++) {
    const bm_round_record *r = &rl.rounds[k];
    CHECK(r->phase == (k < 2 ? 1 : 2));
    if (r->phase == 1) {
      CHECK(r->human_seconds == 0 && r->labeled_images == 10 && r->unlabeled_images == 30);
      continue;
    }
    /* verify mode: every batch image is opened once per round */
    opened += r->batch_images;
    CHECK(r->human_images == opened);
    CHECK(r->batch_images == 8);
    /* seconds = 7 per draw + 1.5 per verify + 2 per image, cumulative */
    CHECK_NEAR(r->human_seconds, 7.0 * r->human_draws + 1.5 * r->human_verifies + 2.0 * r->human_images, 1e-9);
    /* the pool's 40 images are somewhere: L + U + Q (no eval-update, no D for this strategy) */
    CHECK(r->labeled_images + r->unlabeled_images + r->queued_images == 40);
    CHECK(r->sl_images + r->al_images <= r->batch_images);
    CHECK(isfinite(r->ap50) && r->ap50 >= 0 && r->ap50 <= 1 && isfinite(r->ap_coco));
    CHECK(strcmp(r->ap_metric, "ap50") == 0);
  }
  CHECK(rl.has_summary && rl.best_round >= 1 && rl.best_round <= 3);
  CHECK(rl.strategy && !strcmp(rl.strategy, "topk-slscore"));
  /* every labelled image has an XML file: count the list against the last record */
  char path[600];
  snprintf(path, sizeof path, "%s/annotations/ImageSets/Main/labeled.txt", straight);
  CHECK(rl.n_rounds > 0 && count_lines(path) == rl.rounds[rl.n_rounds - 1].labeled_images);
  bm_run_log_free(&rl);

  /* the labelled set is a VOC folder another tool can load */
  snprintf(path, sizeof path, "%s/annotations", straight);
  bm_dataset mined;
  memset(&mined, 0, sizeof mined);
  CHECK(load_split(path, "labeled", &mined, 0) == 0);
  CHECK(mined.n_classes == pool.n_classes);
  bm_dataset_free(&mined);

  /* other mining options after round 1 are refused; more rounds are not */
  bm_loop_opts other = o;
  other.mine.K = 9;
  CHECK(resume(broken, &other, &loop, &err) == -1 && strstr(err.msg, "mining options"));
  char named[64]; /* the refusal names the setting and both values */
  snprintf(named, sizeof named, "'K' is %d in the run, 9 now", o.mine.K);
  CHECK_MSG(strstr(err.msg, named) != NULL, "%s", err.msg);
  other = o;
  other.seed = 2;
  CHECK(resume(broken, &other, &loop, &err) == -1);
  CHECK_MSG(strstr(err.msg, "'seed' is ") && strstr(err.msg, ", 2 now"), "%s", err.msg);
  other = o;
  other.max_rounds = 4;
  CHECK(resume(broken, &other, &loop, &err) == 0);
  bm_loop_free(loop);
  loop = NULL;
  /* another test set is refused */
  snprintf(path, sizeof path, "%s/last.ckpt", broken);
  CHECK(bm_loop_resume(&loop, open_run(broken), path, &o, &pool, &pool, 0, "t", NULL, NULL, NULL, &err) == -1);
  /* a new run never overwrites one */
  bm_trainer *tr = NULL;
  bm_train_opts t = train_opts();
  CHECK(bm_trainer_create(&tr, tiny_cfg, "tiny.cfg", pool.n_classes, pool.class_names, &t, 10, NULL, &err) == 0);
  CHECK(bm_loop_create(&loop, open_run(broken), &o, &pool, &test, tr, "t", NULL, NULL, &err) == -1);
  CHECK_MSG(strstr(err.msg, "already holds a run") != NULL, "%s", err.msg);

  /* crafted mining state behind a valid checksum is refused, naming the section (issue 16):
   * a round start at epoch 2^62 used to end every round without training */
  char good[700];
  snprintf(good, sizeof good, "%s/good.ckpt", broken);
  CHECK(rename(path, good) == 0);
  const struct {
    const char *section;
    size_t index;
    double value;
  } cases[] = {{"mine.loop", 2, -1},  {"mine.loop", 3, -1},      {"mine.loop", 4, -5},
               {"mine.loop", 4, 4611686018427387904.0},          {"mine.loop", 5, -2},
               {"mine.loop", 5, 1e12}, {"mine.loop_reals", 1, NAN}, {"mine.loop_reals", 1, -1},
               {"mine.loop_reals", 0, INFINITY}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    CHECK(bm_test_craft_ckpt(good, path, cases[c].section, cases[c].index, cases[c].value) == 0);
    loop = NULL;
    err.msg[0] = '\0';
    CHECK_MSG(resume(broken, &o, &loop, &err) == -1, "%s[%zu] = %g accepted", cases[c].section,
              cases[c].index, cases[c].value);
    CHECK_MSG(strstr(err.msg, cases[c].section) != NULL, "%s", err.msg);
    bm_loop_free(loop);
  }
  CHECK(rename(good, path) == 0);
  loop = NULL;
  CHECK(resume(broken, &o, &loop, &err) == 0);
  bm_loop_free(loop);
}

/* random: people draw every non-difficult object of the images that joined L; the counts
 * are worked out from the data set, not from the ledger. Starts from the other run's phase 1
 * (its phase1.ckpt) with another strategy. */
static void test_random_costs(const char *tmp) {
  char from[600], dir[512];
  snprintf(from, sizeof from, "%s/straight/phase1.ckpt", tmp);
  snprintf(dir, sizeof dir, "%s/random", tmp);
  bm_loop_opts o;
  base_opts(&o, BM_STRATEGY_RANDOM);
  o.max_rounds = 2;
  CHECK(bm_mkdir_p(dir, NULL) == 0);
  char copy[600];
  snprintf(copy, sizeof copy, "%s/last.ckpt", dir);
  char *bytes;
  size_t len;
  bm_error err;
  CHECK(bm_read_file(from, &bytes, &len, &err) == 0);
  CHECK(bm_write_file_atomic(copy, bytes, len, &err) == 0);
  bm_free(bytes);
  bm_loop *loop = NULL;
  CHECK_MSG(resume(dir, &o, &loop, &err) == 0, "%s", err.msg);
  if (!loop) return;
  stopper s = {0};
  bm_loop_result res;
  CHECK(run(loop, &s, &res) == 0 && res.finished && res.rounds == 2);
  const bm_mine_state *st = bm_loop_state(loop);
  long draws = 0, images = 0;
  for (int i = 10; i < st->labeled.n; i++) { /* the first 10 are the initial L */
    const bm_image_info *info = &pool.images[st->labeled.items[i]];
    for (int k = 0; k < info->n_objects; k++) draws += !pool.objects[info->first_object + k].difficult;
    images++;
  }
  CHECK(images == 16 && st->labeled.n == 26);
  CHECK(res.last.human_draws == draws && res.last.human_verifies == 0 && res.last.human_images == 16);
  CHECK_NEAR(res.last.human_seconds, 7.0 * draws + 2.0 * 16, 1e-9);
  /* the phase-1 records came along */
  CHECK(res.phase1_epochs == 2);
  bm_loop_free(loop);
}

/* trust mode with eval-update runs and keeps its invariants */
static void test_trust_eval_update(const char *tmp) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/trust", tmp);
  bm_loop_opts o;
  base_opts(&o, BM_STRATEGY_TOPK_SLSCORE);
  o.mine.oracle = BM_ORACLE_TRUST;
  o.mine.eval_update = 2;
  o.max_rounds = 2;
  o.pre_epochs = 1;
  /* an untrained network is never sure: lower thresholds so pseudo-labels can happen */
  o.fusion.certain_thre = 0.01f;
  o.fusion.uncertain_thre = 0.005f;
  o.mine_detect.thresh = 0.005f;
  bm_loop *loop = NULL;
  CHECK(new_run(dir, &o, &loop) == 0);
  if (!loop) return;
  stopper s = {0};
  bm_loop_result res;
  CHECK(run(loop, &s, &res) == 0 && res.finished && res.rounds == 2);
  const bm_mine_state *st = bm_loop_state(loop);
  bm_error err;
  CHECK_MSG(bm_mine_state_check(st, &err) == 0, "%s", err.msg);
  CHECK(st->eval_new.n <= 4);
  bm_loop_free(loop);
}

int main(void) {
  char tmp[512], data[600];
  CHECK(bm_test_tmpdir(tmp, sizeof tmp) != NULL);
  snprintf(data, sizeof data, "%s/data", tmp);
  bm_synth_opts so;
  memset(&so, 0, sizeof so);
  so.out_dir = data;
  so.mnist_dir = "/usr/share/datasets/fashion-mnist";
  so.n_trainval = 40;
  so.n_test = 20;
  so.size = 64;
  so.min_objects = 1;
  so.max_objects = 4;
  so.seed = 3;
  so.jpeg_quality = 90;
  bm_synth_stats stats;
  bm_error err;
  int made = bm_synth_run(&so, &stats, NULL, &err);
  CHECK_MSG(made == 0, "%s", err.msg);
  if (made == 0 && load_split(data, "trainval", &pool, 0) == 0 && load_split(data, "test", &test, 1) == 0) {
    test_resume_matches(tmp);
    test_random_costs(tmp);
    test_trust_eval_update(tmp);
  }
  bm_dataset_free(&pool);
  bm_dataset_free(&test);
  return bm_test_finish("test_mine_loop");
}
