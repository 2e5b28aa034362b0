/* Checkpoint container: round trip, the byte layout read back by hand, refusal of damaged
 * files (every single flipped byte, truncation, wrong magic/version, trailing bytes), clear
 * errors for missing or mistyped sections, and optimiser/schedule state round trips. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_train.h"
#include "testlib.h"

static char dir[512];

static const char *tmp_path(char *out, size_t size, const char *name) {
  snprintf(out, size, "%s/%s", dir, name);
  return out;
}

static void write_raw(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  if (len) CHECK(fwrite(data, 1, len, f) == len);
  fclose(f);
}

/* FNV-1a 64, written here from its definition (offset basis, prime 0x100000001b3). */
static uint64_t fnv1a(const unsigned char *data, size_t len) {
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < len; i++) h = (h ^ data[i]) * 1099511628211ULL;
  return h;
}

static uint64_t le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static const float floats[4] = {1.5f, -0.0f, 3.0e-38f, 123456.789f};
static const double doubles[3] = {0.1, -1e300, 2.5};
static const int64_t ints[3] = {INT64_MIN, -1, 1234567890123LL};
static const unsigned char blob[5] = {0, 1, 0, 255, 7};

static void write_sample(const char *path) {
  bm_ckpt_writer w;
  bm_ckpt_writer_init(&w);
  bm_ckpt_add_f32(&w, "weights", floats, 4);
  bm_ckpt_add_f64(&w, "ap_history", doubles, 3);
  bm_ckpt_add_i64(&w, "counters", ints, 3);
  bm_ckpt_add_bytes(&w, "blob", blob, 5);
  bm_ckpt_add_string(&w, "cfg", "[net]\nbatch=64\n");
  bm_ckpt_add_f32(&w, "empty", NULL, 0);
  bm_error err = {{0}};
  CHECK_MSG(bm_ckpt_save(&w, path, &err) == 0, "%s", err.msg);
  bm_ckpt_writer_free(&w);
}

static void test_round_trip(void) {
  char path[600];
  tmp_path(path, sizeof path, "sample.bmck");
  write_sample(path);
  bm_ckpt_reader r;
  bm_error err = {{0}};
  CHECK_MSG(bm_ckpt_open(&r, path, &err) == 0, "%s", err.msg);
  CHECK(r.n_sections == 6);
  float f[4];
  double d[3];
  int64_t i[3];
  CHECK(bm_ckpt_read_f32(&r, "weights", f, 4, &err) == 0 && memcmp(f, floats, sizeof f) == 0);
  CHECK(bm_ckpt_read_f64(&r, "ap_history", d, 3, &err) == 0 && memcmp(d, doubles, sizeof d) == 0);
  CHECK(bm_ckpt_read_i64(&r, "counters", i, 3, &err) == 0 && memcmp(i, ints, sizeof i) == 0);
  const void *bytes = NULL;
  size_t len = 0;
  CHECK(bm_ckpt_read_bytes(&r, "blob", &bytes, &len, &err) == 0 && len == 5 &&
        memcmp(bytes, blob, 5) == 0);
  char *text = NULL;
  CHECK(bm_ckpt_read_string(&r, "cfg", &text, &err) == 0 && strcmp(text, "[net]\nbatch=64\n") == 0);
  bm_free(text);
  size_t count = 99;
  CHECK(bm_ckpt_count(&r, "empty", BM_CKPT_F32, &count, &err) == 0 && count == 0);
  CHECK(bm_ckpt_count(&r, "counters", BM_CKPT_I64, &count, &err) == 0 && count == 3);

  /* Missing, mistyped, wrong count and non-text: each says which file and what. */
  CHECK(bm_ckpt_find(&r, "optim.moments") == NULL);
  CHECK(bm_ckpt_read_f32(&r, "optim.moments", f, 4, &err) == -1);
  CHECK_MSG(strstr(err.msg, path) && strstr(err.msg, "no section 'optim.moments'"), "%s", err.msg);
  CHECK(bm_ckpt_read_f32(&r, "counters", f, 3, &err) == -1);
  CHECK_MSG(strstr(err.msg, "holds int64 values, expected float32"), "%s", err.msg);
  CHECK(bm_ckpt_read_f32(&r, "weights", f, 3, &err) == -1);
  CHECK_MSG(strstr(err.msg, "holds 4 float32 values, expected 3"), "%s", err.msg);
  CHECK(bm_ckpt_read_string(&r, "blob", &text, &err) == -1 && text == NULL);
  CHECK_MSG(strstr(err.msg, "NUL"), "%s", err.msg);
  bm_ckpt_close(&r);
}

/* The layout of docs/TRAINING.md, read back without the library's reader. */
static void test_layout(void) {
  char path[600];
  tmp_path(path, sizeof path, "layout.bmck");
  bm_ckpt_writer w;
  bm_ckpt_writer_init(&w);
  const int64_t epoch = 7;
  bm_ckpt_add_i64(&w, "epoch", &epoch, 1);
  CHECK(bm_ckpt_save(&w, path, NULL) == 0);
  bm_ckpt_writer_free(&w);
  char *file = NULL;
  size_t len = 0;
  CHECK(bm_read_file(path, &file, &len, NULL) == 0);
  const unsigned char *b = (const unsigned char *)file;
  /* header 24 + section (2 + 5 + 4 + 8 + 8) 27 + trailer 8 = 59 bytes */
  CHECK(len == 59);
  if (len == 59) {
    CHECK(memcmp(b, "BMCK", 4) == 0);
    CHECK(b[4] == 1 && b[5] == 0 && b[6] == 0 && b[7] == 0); /* version 1 */
    CHECK(le64(b + 8) == 59);                                /* file size */
    CHECK(b[16] == 1 && b[17] == 0 && b[18] == 0 && b[19] == 0); /* one section */
    CHECK(b[24] == 5 && b[25] == 0 && memcmp(b + 26, "epoch", 5) == 0);
    CHECK(b[31] == 3 && b[32] == 0);  /* type int64 */
    CHECK(le64(b + 35) == 8);         /* payload bytes */
    CHECK(le64(b + 43) == 7);         /* the value */
    CHECK(le64(b + 51) == fnv1a(b, 51));
  }
  bm_free(file);
}

static void expect_refused(const char *path, const char *what, const char *needle) {
  bm_ckpt_reader r;
  bm_error err = {{0}};
  int status = bm_ckpt_open(&r, path, &err);
  CHECK_MSG(status == -1, "%s was accepted", what);
  if (status == 0) {
    bm_ckpt_close(&r);
    return;
  }
  CHECK_MSG(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", what, err.msg);
  if (needle) CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: got '%s'", what, err.msg);
}

static void test_damaged_files(void) {
  char good[600], bad[600];
  tmp_path(good, sizeof good, "good.bmck");
  tmp_path(bad, sizeof bad, "bad.bmck");
  write_sample(good);
  char *file = NULL;
  size_t len = 0;
  CHECK(bm_read_file(good, &file, &len, NULL) == 0);
  unsigned char *copy = bm_malloc(len + 16);

  /* Every single flipped byte is refused: header fields by their own checks, the rest by the
   * checksum (one changed byte always changes FNV-1a). */
  int refused = 0;
  for (size_t at = 0; at < len; at++) {
    memcpy(copy, file, len);
    copy[at] ^= 0x5a;
    write_raw(bad, copy, len);
    bm_ckpt_reader r;
    bm_error err = {{0}};
    if (bm_ckpt_open(&r, bad, &err) == 0) bm_ckpt_close(&r);
    else refused++;
  }
  CHECK_MSG(refused == (int)len, "%d of %zu flipped bytes refused", refused, len);
  memcpy(copy, file, len);
  copy[len / 2] ^= 1;
  write_raw(bad, copy, len);
  expect_refused(bad, "flipped payload bit", "checksum mismatch");

  write_raw(bad, file, len - 1);
  expect_refused(bad, "one byte short", "truncated");
  write_raw(bad, file, len / 2);
  expect_refused(bad, "half the file", "truncated");
  write_raw(bad, file, 10);
  expect_refused(bad, "10 bytes", "truncated");
  write_raw(bad, file, 0);
  expect_refused(bad, "empty file", "not a boxmine checkpoint");

  memcpy(copy, file, len);
  memcpy(copy + len, "junk", 4);
  write_raw(bad, copy, len + 4);
  expect_refused(bad, "trailing bytes", "size mismatch");

  memcpy(copy, file, len);
  memcpy(copy, "PK\3\4", 4);
  write_raw(bad, copy, len);
  expect_refused(bad, "zip magic", "not a boxmine checkpoint");

  /* Version 2 with a valid checksum: refused for the version, not the checksum. */
  memcpy(copy, file, len);
  copy[4] = 2;
  uint64_t sum = fnv1a(copy, len - 8);
  for (int k = 0; k < 8; k++) copy[len - 8 + k] = (unsigned char)(sum >> (8 * k));
  write_raw(bad, copy, len);
  expect_refused(bad, "version 2", "version 2, this build reads version 1");

  tmp_path(bad, sizeof bad, "does-not-exist.bmck");
  expect_refused(bad, "missing file", "cannot open");
  bm_free(copy);
  bm_free(file);
}

static void test_writer_errors(void) {
  char path[600];
  tmp_path(path, sizeof path, "never.bmck");
  bm_ckpt_writer w;
  bm_ckpt_writer_init(&w);
  const int64_t one = 1;
  CHECK(bm_ckpt_add_i64(&w, "epoch", &one, 1) == 0);
  CHECK(bm_ckpt_add_i64(&w, "epoch", &one, 1) == -1);
  CHECK(bm_ckpt_add_i64(&w, "other", &one, 1) == -1); /* sticky after the first failure */
  bm_error err = {{0}};
  CHECK(bm_ckpt_save(&w, path, &err) == -1);
  CHECK_MSG(strstr(err.msg, "'epoch'") && strstr(err.msg, "added twice"), "%s", err.msg);
  CHECK(!bm_file_exists(path));
  bm_ckpt_writer_free(&w);

  char long_name[300];
  memset(long_name, 'x', 256);
  long_name[256] = '\0';
  bm_ckpt_writer_init(&w);
  CHECK(bm_ckpt_add_i64(&w, long_name, &one, 1) == -1);
  bm_ckpt_writer_free(&w);
  bm_ckpt_writer_init(&w);
  CHECK(bm_ckpt_add_i64(&w, "", &one, 1) == -1);
  bm_ckpt_writer_free(&w);
}

static void fill_grads(float *grads, int n, int step) {
  for (int i = 0; i < n; i++) grads[i] = 0.01f * (float)((i * 7 + step * 3) % 11) - 0.05f;
}

/* Saving mid-run and resuming in a fresh optimiser continues bit for bit. */
static void test_optim_state(void) {
  enum { N = 50 };
  char path[600];
  tmp_path(path, sizeof path, "optim.bmck");
  bm_optim_config cfg = bm_optim_defaults(BM_OPTIM_ADAMW);
  cfg.weight_decay = 0.01;
  bm_optim a, b;
  CHECK(bm_optim_init(&a, &cfg, N, NULL) == 0);
  bm_optim_set_decay(&a, 10, 5, 0, NULL);
  float params[N], grads[N], resumed[N];
  for (int i = 0; i < N; i++) params[i] = 0.1f * (float)i;
  for (int s = 0; s < 3; s++) {
    fill_grads(grads, N, s);
    bm_optim_step(&a, params, grads, 0.01f);
  }
  bm_ckpt_writer w;
  bm_ckpt_writer_init(&w);
  bm_ckpt_add_f32(&w, "weights", params, N);
  CHECK(bm_optim_save(&a, &w, "optim") == 0);
  bm_error err = {{0}};
  CHECK_MSG(bm_ckpt_save(&w, path, &err) == 0, "%s", err.msg);
  bm_ckpt_writer_free(&w);

  for (int s = 3; s < 5; s++) {
    fill_grads(grads, N, s);
    bm_optim_step(&a, params, grads, 0.01f);
  }

  bm_optim_config other = cfg;
  other.weight_decay = 0.5; /* overwritten by the checkpoint's hyper-parameters */
  CHECK(bm_optim_init(&b, &other, N, NULL) == 0);
  bm_optim_set_decay(&b, 10, 5, 0, NULL);
  bm_ckpt_reader r;
  CHECK_MSG(bm_ckpt_open(&r, path, &err) == 0, "%s", err.msg);
  CHECK(bm_ckpt_read_f32(&r, "weights", resumed, N, &err) == 0);
  CHECK_MSG(bm_optim_load(&b, &r, "optim", &err) == 0, "%s", err.msg);
  CHECK(b.step == 3 && b.cfg.weight_decay == 0.01);
  for (int s = 3; s < 5; s++) {
    fill_grads(grads, N, s);
    bm_optim_step(&b, resumed, grads, 0.01f);
  }
  CHECK(memcmp(params, resumed, sizeof params) == 0);
  CHECK(memcmp(a.state, b.state, bm_optim_state_count(&a) * sizeof(float)) == 0);
  bm_optim_free(&b);

  /* Another kind or another size is refused, and the optimiser is left untouched. */
  bm_optim_config sgd = bm_optim_defaults(BM_OPTIM_SGD);
  CHECK(bm_optim_init(&b, &sgd, N, NULL) == 0);
  CHECK(bm_optim_load(&b, &r, "optim", &err) == -1 && b.step == 0);
  CHECK_MSG(strstr(err.msg, "AdamW") && strstr(err.msg, "SGD"), "%s", err.msg);
  bm_optim_free(&b);
  CHECK(bm_optim_init(&b, &cfg, N + 1, NULL) == 0);
  CHECK(bm_optim_load(&b, &r, "optim", &err) == -1 && b.step == 0);
  CHECK_MSG(strstr(err.msg, "50 parameters"), "%s", err.msg);
  CHECK(bm_optim_load(&b, &r, "nothing", &err) == -1);
  CHECK_MSG(strstr(err.msg, "no section 'nothing.info'"), "%s", err.msg);
  bm_optim_free(&b);
  bm_ckpt_close(&r);
  bm_optim_free(&a);
}

static void test_schedule_state(void) {
  char path[600];
  tmp_path(path, sizeof path, "schedule.bmck");
  const int64_t steps[3] = {100, 200, 300};
  const float scales[3] = {0.5f, 0.2f, 0.1f};
  bm_schedule_config cfg;
  CHECK(bm_schedule_steps(&cfg, 0.004f, 3, steps, scales, NULL) == 0);
  cfg.warmup_iters = 50;
  cfg.warmup_power = 4.0f;
  bm_schedule a, b;
  CHECK(bm_schedule_init(&a, &cfg, NULL) == 0);
  for (int i = 0; i < 42; i++) bm_schedule_advance(&a);
  bm_ckpt_writer w;
  bm_ckpt_writer_init(&w);
  CHECK(bm_schedule_save(&a, &w, "sched") == 0);
  CHECK(bm_ckpt_save(&w, path, NULL) == 0);
  bm_ckpt_writer_free(&w);
  bm_ckpt_reader r;
  bm_error err = {{0}};
  CHECK(bm_ckpt_open(&r, path, &err) == 0);
  bm_schedule_config other = bm_schedule_const(1.0f);
  CHECK(bm_schedule_init(&b, &other, NULL) == 0);
  CHECK_MSG(bm_schedule_load(&b, &r, "sched", &err) == 0, "%s", err.msg);
  bm_ckpt_close(&r);
  CHECK(b.iteration == 42 && b.cfg.policy == BM_LR_STEPS && b.cfg.n_steps == 3);
  CHECK(b.cfg.warmup_iters == 50 && b.cfg.warmup_power == 4.0f);
  for (int i = 0; i < 400; i++) {
    CHECK(bm_schedule_lr(&a) == bm_schedule_lr(&b));
    bm_schedule_advance(&a);
    bm_schedule_advance(&b);
  }
}

int main(void) {
  bm_test_tmpdir(dir, sizeof dir);
  test_round_trip();
  test_layout();
  test_damaged_files();
  test_writer_errors();
  test_optim_state();
  test_schedule_state();
  return bm_test_finish("test_checkpoint");
}
