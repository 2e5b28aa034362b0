/* The run folder (bm_run.h): paths, the open checks and lock, saves and the save timer,
 * scalars, best tracking, early-stop replay. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "boxmine/bm_run.h"

struct bm_run {
  char *dir, *last_ckpt, *best_ckpt, *lock_path;
  int lock_fd;
  bm_run_save_fn save;
  void *save_user;
  double checkpoint_minutes;
  double last_save; /* bm_now() of the last save of last.ckpt (or of the open) */
  bm_tfevents *events;
  int failed;
  bm_error failure;
};

/* Takes DIR/.lock; on success writes our process id into it. */
static int take_lock(bm_run *run, bm_error *err) {
  run->lock_fd = open(run->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (run->lock_fd < 0) return bm_fail(err, "%s: %s", run->lock_path, strerror(errno));
  if (flock(run->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    char text[32] = {0};
    ssize_t got = e == EWOULDBLOCK ? pread(run->lock_fd, text, sizeof text - 1, 0) : -1;
    close(run->lock_fd);
    run->lock_fd = -1;
    if (e != EWOULDBLOCK) return bm_fail(err, "%s: cannot lock: %s", run->lock_path, strerror(e));
    long pid = got > 0 ? strtol(text, NULL, 10) : 0;
    if (pid > 0) return bm_fail(err, "%s is in use by process %ld", run->dir, pid);
    return bm_fail(err, "%s is in use by another process", run->dir);
  }
  char text[32];
  int len = snprintf(text, sizeof text, "%ld\n", (long)getpid());
  if (ftruncate(run->lock_fd, 0) != 0 || pwrite(run->lock_fd, text, (size_t)len, 0) != len)
    return bm_fail(err, "%s: %s", run->lock_path, strerror(errno));
  return 0;
}

int bm_run_expect(const bm_run *run, bm_run_mode mode, bm_error *err) {
  int holds = bm_file_exists(run->last_ckpt);
  if (mode == BM_RUN_NEW && holds)
    return bm_fail(err, "%s already holds a run (%s); use --resume to continue it or another --out",
                   run->dir, run->last_ckpt);
  if (mode == BM_RUN_RESUME && !holds)
    return bm_fail(err, "%s does not exist (nothing to resume in %s)", run->last_ckpt, run->dir);
  return 0;
}

int bm_run_open(bm_run **out, const char *dir, bm_run_mode mode, bm_error *err) {
  *out = NULL;
  if (mode != BM_RUN_NEW && mode != BM_RUN_RESUME && mode != BM_RUN_ANY)
    return bm_fail(err, "unknown run mode %d", (int)mode);
  bm_run *run = bm_calloc(1, sizeof *run);
  if (!run) return bm_fail(err, "out of memory");
  run->lock_fd = -1;
  run->dir = bm_strdup(dir);
  run->last_ckpt = bm_path_join(dir, "last.ckpt");
  run->best_ckpt = bm_path_join(dir, "best.ckpt");
  run->lock_path = bm_path_join(dir, ".lock");
  run->last_save = bm_now();
  int rc = run->dir && run->last_ckpt && run->best_ckpt && run->lock_path
               ? 0
               : bm_fail(err, "out of memory");
  /* checked before anything is created (a mistyped --resume leaves no folder behind), and
   * again under the lock (another process may have started a run in between) */
  if (rc == 0) rc = bm_run_expect(run, mode, err);
  if (rc == 0 && mode != BM_RUN_RESUME) rc = bm_mkdir_p(dir, err);
  if (rc == 0) rc = take_lock(run, err);
  if (rc == 0) rc = bm_run_expect(run, mode, err);
  if (rc) {
    bm_run_close(run);
    return -1;
  }
  *out = run;
  return 0;
}

void bm_run_close(bm_run *run) {
  if (!run) return;
  if (run->events) bm_tfevents_close(run->events, NULL);
  if (run->lock_fd >= 0) close(run->lock_fd); /* releases the flock */
  bm_free(run->dir);
  bm_free(run->last_ckpt);
  bm_free(run->best_ckpt);
  bm_free(run->lock_path);
  bm_free(run);
}

const char *bm_run_dir(const bm_run *run) { return run->dir; }
const char *bm_run_last_ckpt(const bm_run *run) { return run->last_ckpt; }
const char *bm_run_best_ckpt(const bm_run *run) { return run->best_ckpt; }
char *bm_run_path(const bm_run *run, const char *name) { return bm_path_join(run->dir, name); }

/* ---- saving ---------------------------------------------------------------------------- */

void bm_run_set_saver(bm_run *run, bm_run_save_fn save, void *user, double checkpoint_minutes) {
  run->save = save;
  run->save_user = user;
  run->checkpoint_minutes = checkpoint_minutes;
  run->last_save = bm_now();
}

int bm_run_save(bm_run *run, const char *path, bm_error *err) {
  if (!run->save) return bm_fail(err, "%s: nothing to save (no saver set)", run->dir);
  int last = path == NULL || path == run->last_ckpt;
  if (run->save(run->save_user, last ? run->last_ckpt : path, err)) return -1;
  if (last) run->last_save = bm_now();
  return 0;
}

void bm_run_tick(bm_run *run) {
  if (run->checkpoint_minutes <= 0 || run->failed || !run->save) return;
  if (bm_now() - run->last_save < 60 * run->checkpoint_minutes) return;
  bm_error err;
  if (bm_run_save(run, NULL, &err)) bm_run_fail_later(run, &err);
}

void bm_run_fail_later(bm_run *run, const bm_error *err) {
  if (run->failed) return;
  run->failed = 1;
  run->failure = *err;
}

int bm_run_failed(const bm_run *run, bm_error *err) {
  if (!run->failed) return 0;
  *err = run->failure;
  return -1;
}

/* ---- scalars and files ----------------------------------------------------------------- */

int bm_run_events_open(bm_run *run, bm_error *err) {
  if (run->events) return 0;
  run->events = bm_tfevents_open(run->dir, bm_wall_time(), err);
  return run->events ? 0 : -1;
}

int bm_run_events_close(bm_run *run, bm_error *err) {
  bm_tfevents *events = run->events;
  run->events = NULL;
  return events ? bm_tfevents_close(events, err) : 0;
}

int bm_run_scalar(bm_run *run, const char *tag, int64_t step, double value, bm_error *err) {
  if (!run->events || !isfinite(value)) return 0;
  bm_error ignored;
  return bm_tfevents_scalar(run->events, tag, step, (float)value, bm_wall_time(),
                            err ? err : &ignored);
}

int bm_run_write(const bm_run *run, const char *name, const char *text, size_t len,
                 bm_error *err) {
  char *path = bm_run_path(run, name);
  if (!path) return bm_fail(err, "out of memory");
  int rc = bm_write_file_atomic(path, text ? text : "", len, err);
  bm_free(path);
  return rc;
}

/* ---- best and early stop ------------------------------------------------------------- */

void bm_run_best_init(bm_run_best *best, int64_t none) {
  best->value = NAN;
  best->at = none;
}

int bm_run_best_offer(bm_run_best *best, double value, int64_t at) {
  if (!isfinite(value) || (isfinite(best->value) && !(value > best->value))) return 0;
  best->value = value;
  best->at = at;
  return 1;
}

int bm_earlystop_replay(bm_earlystop *es, int window, double ap_thre, double ap_shift,
                        const double *values, int n_values, bm_error *err) {
  if (bm_earlystop_init(es, window, ap_thre, ap_shift, err)) return -1;
  for (int k = 0; k < n_values; k++)
    if (isfinite(values[k]) && bm_earlystop_add(es, values[k], err) < 0) return -1;
  return 0;
}
