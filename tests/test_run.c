/* The run folder module (bm_run.h): the open checks and the lock (also against another
 * process), the save timer and kept failures, best tracking, early-stop replay, and the
 * table-driven settings section with its resume rule. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boxmine/bm_run.h"
#include "testlib.h"

static void touch(const char *path) {
  FILE *f = fopen(path, "w");
  if (f) fclose(f);
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_open_checks(const char *tmp) {
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/a/b", tmp);
  bm_error err = {{0}};
  bm_run *run = NULL, *second = NULL;
  /* nothing to resume: refused, and no folder is made for it */
  CHECK(bm_run_open(&run, dir, BM_RUN_RESUME, &err) == -1 && run == NULL);
  CHECK_MSG(strstr(err.msg, "nothing to resume in") && strstr(err.msg, "a/b/last.ckpt"), "%s", err.msg);
  CHECK(!is_dir(dir));
  /* a new run makes the folder (parents too) and holds the lock */
  CHECK_MSG(bm_run_open(&run, dir, BM_RUN_NEW, &err) == 0, "%s", err.msg);
  CHECK(is_dir(dir));
  snprintf(path, sizeof path, "%s/last.ckpt", dir);
  CHECK(run && !strcmp(bm_run_last_ckpt(run), path));
  snprintf(path, sizeof path, "%s/best.ckpt", dir);
  CHECK(run && !strcmp(bm_run_best_ckpt(run), path));
  char *p = run ? bm_run_path(run, "rounds.jsonl") : NULL;
  snprintf(path, sizeof path, "%s/rounds.jsonl", dir);
  CHECK(p && !strcmp(p, path));
  bm_free(p);
  /* a second open of a folder in use fails and names the process */
  char want[128];
  snprintf(want, sizeof want, "%s is in use by process %ld", dir, (long)getpid());
  CHECK(bm_run_open(&second, dir, BM_RUN_ANY, &err) == -1 && second == NULL);
  CHECK_MSG(strstr(err.msg, want) != NULL, "%s", err.msg);
  /* the folder's text files are replaced whole */
  CHECK(bm_run_write(run, "note.txt", "abc", 3, &err) == 0);
  snprintf(path, sizeof path, "%s/note.txt", dir);
  char *text = NULL;
  size_t len = 0;
  CHECK(bm_read_file(path, &text, &len, &err) == 0 && len == 3 && !memcmp(text, "abc", 3));
  bm_free(text);
  bm_run_close(run);
  run = NULL;
  /* once a checkpoint is there: a new run is refused, resume and any are fine */
  snprintf(path, sizeof path, "%s/last.ckpt", dir);
  touch(path);
  CHECK(bm_run_open(&run, dir, BM_RUN_NEW, &err) == -1);
  CHECK_MSG(strstr(err.msg, "already holds a run") && strstr(err.msg, "--resume"), "%s", err.msg);
  CHECK_MSG(bm_run_open(&run, dir, BM_RUN_RESUME, &err) == 0, "%s", err.msg);
  CHECK(run && bm_run_expect(run, BM_RUN_NEW, &err) == -1 && strstr(err.msg, "already holds"));
  CHECK(run && bm_run_expect(run, BM_RUN_RESUME, &err) == 0);
  bm_run_close(run);
  CHECK_MSG(bm_run_open(&run, dir, BM_RUN_ANY, &err) == 0, "%s", err.msg);
  bm_run_close(run);
}

/* The lock against another process: a child holds the folder until told to go. */
static void test_lock_other_process(const char *tmp) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/locked", tmp);
  int to_child[2], from_child[2];
  if (pipe(to_child) || pipe(from_child)) {
    CHECK(0);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    bm_run *run = NULL;
    bm_error err;
    char ok = bm_run_open(&run, dir, BM_RUN_NEW, &err) == 0 ? 'y' : 'n';
    char go;
    if (write(from_child[1], &ok, 1) != 1 || read(to_child[0], &go, 1) != 1) _exit(2);
    bm_run_close(run);
    _exit(0);
  }
  char ok = 0;
  CHECK(pid > 0 && read(from_child[0], &ok, 1) == 1 && ok == 'y');
  bm_run *run = NULL;
  bm_error err = {{0}};
  char want[128];
  snprintf(want, sizeof want, "is in use by process %ld", (long)pid);
  CHECK(bm_run_open(&run, dir, BM_RUN_ANY, &err) == -1);
  CHECK_MSG(strstr(err.msg, want) != NULL, "%s", err.msg);
  char go = 'g';
  CHECK(write(to_child[1], &go, 1) == 1);
  int status = -1;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  /* released when its owner closes it */
  CHECK_MSG(bm_run_open(&run, dir, BM_RUN_ANY, &err) == 0, "%s", err.msg);
  bm_run_close(run);
  close(to_child[0]);
  close(to_child[1]);
  close(from_child[0]);
  close(from_child[1]);
}

typedef struct saver {
  int calls;
  int fail;
  char last_path[600];
} saver;

static int count_save(void *user, const char *path, bm_error *err) {
  saver *s = user;
  s->calls++;
  snprintf(s->last_path, sizeof s->last_path, "%s", path);
  return s->fail ? bm_fail(err, "disk full at %s", path) : 0;
}

static void test_saves(const char *tmp) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/saves", tmp);
  bm_run *run = NULL;
  bm_error err = {{0}};
  if (bm_run_open(&run, dir, BM_RUN_NEW, &err)) {
    CHECK_MSG(0, "%s", err.msg);
    return;
  }
  saver s = {0, 0, ""};
  CHECK(bm_run_save(run, NULL, &err) == -1); /* no saver yet */
  /* period 0: the timer never saves */
  bm_run_set_saver(run, count_save, &s, 0);
  for (int k = 0; k < 5; k++) bm_run_tick(run);
  CHECK(s.calls == 0);
  CHECK(bm_run_save(run, NULL, &err) == 0 && s.calls == 1 && !strcmp(s.last_path, bm_run_last_ckpt(run)));
  CHECK(bm_run_save(run, bm_run_best_ckpt(run), &err) == 0 && !strcmp(s.last_path, bm_run_best_ckpt(run)));
  /* a period already over: every tick saves last.ckpt */
  bm_run_set_saver(run, count_save, &s, 1e-12);
  s.calls = 0;
  bm_run_tick(run);
  bm_run_tick(run);
  CHECK(s.calls == 2 && !strcmp(s.last_path, bm_run_last_ckpt(run)));
  CHECK(bm_run_failed(run, &err) == 0);
  /* a long period: no save yet */
  bm_run_set_saver(run, count_save, &s, 1e6);
  s.calls = 0;
  bm_run_tick(run);
  CHECK(s.calls == 0);
  /* a failed save inside an epoch is kept for later and not tried again */
  bm_run_set_saver(run, count_save, &s, 1e-12);
  s.fail = 1;
  bm_run_tick(run);
  bm_run_tick(run);
  CHECK(s.calls == 1);
  memset(&err, 0, sizeof err);
  CHECK(bm_run_failed(run, &err) == -1 && strstr(err.msg, "disk full at") != NULL);
  bm_error other;
  bm_fail(&other, "second");
  bm_run_fail_later(run, &other); /* the first failure stays */
  CHECK(bm_run_failed(run, &err) == -1 && strstr(err.msg, "disk full") != NULL);
  /* scalars without an event file are skipped; with one, NaN is skipped too */
  CHECK(bm_run_scalar(run, "x", 1, 1.0, &err) == 0);
  CHECK(bm_run_events_open(run, &err) == 0);
  CHECK(bm_run_scalar(run, "x", 1, NAN, &err) == 0);
  CHECK(bm_run_scalar(run, "x", 2, 0.5, &err) == 0);
  CHECK(bm_run_events_close(run, &err) == 0);
  bm_run_close(run);
}

static void test_best_and_replay(void) {
  bm_run_best best;
  bm_run_best_init(&best, -1);
  CHECK(isnan(best.value) && best.at == -1);
  CHECK(bm_run_best_offer(&best, NAN, 1) == 0 && best.at == -1);
  CHECK(bm_run_best_offer(&best, 0.3, 2) == 1 && best.value == 0.3 && best.at == 2);
  CHECK(bm_run_best_offer(&best, 0.3, 3) == 0 && best.at == 2); /* ties keep the first */
  CHECK(bm_run_best_offer(&best, 0.2, 4) == 0 && best.at == 2);
  CHECK(bm_run_best_offer(&best, INFINITY, 5) == 0 && best.at == 2);
  CHECK(bm_run_best_offer(&best, 0.31, 6) == 1 && best.at == 6);

  /* replaying values equals adding them one by one (non-finite ones skipped) */
  const double values[6] = {0.1, 0.6, NAN, 0.61, 0.605, 0.606};
  bm_earlystop a, b;
  bm_error err;
  CHECK(bm_earlystop_replay(&a, 3, 0.5, 0.01, values, 6, &err) == 0);
  CHECK(bm_earlystop_init(&b, 3, 0.5, 0.01, &err) == 0);
  for (int k = 0; k < 6; k++)
    if (isfinite(values[k])) bm_earlystop_add(&b, values[k], &err);
  CHECK(a.n_values == 5 && b.n_values == 5);
  CHECK(a.best_value == b.best_value && a.best_index == b.best_index);
  CHECK(bm_earlystop_shift(&a) == bm_earlystop_shift(&b));
  CHECK(bm_earlystop_replay(&a, 0, 0.5, 0.01, values, 6, &err) == -1); /* bad window */
}

typedef struct demo_settings {
  char data[16];
  int epochs;
  uint64_t seed;
  float lr;
  double shift;
  double thresh;
} demo_settings;

#define ROW(member, key, kind, rule) BM_SETTING_ROW(demo_settings, member, key, kind, rule)
static const bm_setting demo_rows[] = {
    ROW(data, "data", BM_SETTING_TEXT, BM_SETTING_MAY_CHANGE),
    ROW(epochs, "epochs", BM_SETTING_INT, BM_SETTING_MAY_CHANGE),
    ROW(seed, "seed", BM_SETTING_U64, BM_SETTING_FIXED),
    ROW(lr, "lr", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(shift, "shift", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
    ROW(thresh, "thresh", BM_SETTING_DOUBLE9, BM_SETTING_FIXED),
};
#undef ROW
static const bm_settings demo = {"demo.settings", demo_rows, 6};

static void test_settings(const char *tmp) {
  demo_settings s = {"dir/x", 30, 12345678901ULL, 0.1f, 0.001, 0.005};
  bm_buf text;
  bm_buf_init(&text);
  bm_settings_text(&demo, &s, &text);
  /* worked out by hand: floats with 9 digits, doubles with 17, DOUBLE9 with 9 */
  const char *want = "data=dir/x\nepochs=30\nseed=12345678901\nlr=0.100000001\n"
                     "shift=0.001\nthresh=0.005\n";
  CHECK_MSG(text.data && !strcmp(text.data, want), "%s", text.data ? text.data : "(null)");
  demo_settings back;
  memset(&back, 0, sizeof back);
  bm_error err = {{0}};
  CHECK(bm_settings_parse(&demo, text.data, &back, &err) == 0);
  CHECK(!strcmp(back.data, "dir/x") && back.epochs == 30 && back.seed == 12345678901ULL &&
        back.lr == 0.1f && back.shift == 0.001 && back.thresh == 0.005);
  bm_buf_free(&text);
  /* refusals name the section, the line and the key */
  CHECK(bm_settings_parse(&demo, "epochs=3\nbogus=1\n", &back, &err) == -1);
  CHECK_MSG(strstr(err.msg, "demo.settings: unknown key 'bogus' (line 2)"), "%s", err.msg);
  CHECK(bm_settings_parse(&demo, "epochs=3x\n", &back, &err) == -1);
  CHECK_MSG(strstr(err.msg, "bad value '3x' for 'epochs' (line 1)"), "%s", err.msg);
  CHECK(bm_settings_parse(&demo, "data=0123456789abcdef\n", &back, &err) == -1);
  CHECK(bm_settings_parse(&demo, "epochs 3\n", &back, &err) == -1 && strstr(err.msg, "no '='"));

  /* into a checkpoint and back under the resume rule */
  char path[600];
  snprintf(path, sizeof path, "%s/settings.ckpt", tmp);
  bm_ckpt_writer w;
  bm_ckpt_writer_init(&w);
  CHECK(bm_settings_save(&demo, &s, &w) == 0);
  CHECK(bm_ckpt_save(&w, path, &err) == 0);
  bm_ckpt_writer_free(&w);
  demo_settings now = {"other", 50, 7, 0.5f, 0.2, 0.3};
  const char *given[] = {"epochs", NULL};
  CHECK_MSG(bm_settings_resume(&demo, path, &now, given, &err) == 0, "%s", err.msg);
  /* epochs was given again and may change; data may change but was not given */
  CHECK(now.epochs == 50 && !strcmp(now.data, "dir/x") && now.seed == 12345678901ULL &&
        now.lr == 0.1f && now.shift == 0.001 && now.thresh == 0.005);
  const char *fixed[] = {"seed", NULL};
  CHECK(bm_settings_resume(&demo, path, &now, fixed, &err) == -1);
  CHECK_MSG(strstr(err.msg, "'seed' may not change on resume"), "%s", err.msg);
  static const bm_settings missing = {"no.such", demo_rows, 6};
  CHECK(bm_settings_load(&missing, path, &now, &err) == -1);
  CHECK_MSG(strstr(err.msg, "no 'no.such' section"), "%s", err.msg);

  /* what differs, named with both values; settings that may change do not count */
  demo_settings a = s, b = s;
  char what[128] = "";
  b.epochs = 99;
  snprintf(b.data, sizeof b.data, "elsewhere");
  CHECK(bm_settings_differ(&demo, &a, &b, NULL, what, sizeof what) == 0);
  b.lr = 0.25f;
  CHECK(bm_settings_differ(&demo, &a, &b, NULL, what, sizeof what) == 1);
  CHECK_MSG(!strcmp(what, "'lr' is 0.100000001 in the run, 0.25 now"), "%s", what);
  const char *only[] = {"seed", "shift", NULL};
  CHECK(bm_settings_differ(&demo, &a, &b, only, what, sizeof what) == 0);
  b.shift = 0.5;
  CHECK(bm_settings_differ(&demo, &a, &b, only, what, sizeof what) == 1);
  CHECK_MSG(!strcmp(what, "'shift' is 0.001 in the run, 0.5 now"), "%s", what);
}

int main(void) {
  char tmp[] = "/tmp/bm_test_run_XXXXXX";
  if (!mkdtemp(tmp)) return 1;
  test_open_checks(tmp);
  test_lock_other_process(tmp);
  test_saves(tmp);
  test_best_and_replay();
  test_settings(tmp);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return bm_test_finish("test_run");
}
