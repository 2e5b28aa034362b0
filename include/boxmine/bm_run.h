/* boxmine run folders: the folder a `boxmine train` or `boxmine mine` run lives in, built so
 * that the run can be killed at any moment and continued later (docs/RUN.md).
 *
 * This module knows nothing of networks: a driver (bm_trainer_fit in bm_det.h, the mining
 * loop in bm_mine_loop.h) tells it how to write its whole state into a file, and it owns
 *   - the folder: its paths, the "already holds a run" / "nothing to resume" checks and the
 *     lock that keeps a second process out (bm_run_open);
 *   - the checkpoints: last.ckpt after every step and, inside long epochs, every
 *     checkpoint_minutes (the save timer); best.ckpt;
 *   - TensorBoard scalars and the folder's text files (rounds.jsonl, summary.json);
 *   - best tracking and the early-stop state replayed from past evaluations;
 *   - the run's settings: one key=value checkpoint section described by a table, with the
 *     rule for which settings a resumed run may change.
 */
#ifndef BM_RUN_H
#define BM_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "boxmine/bm_core.h"
#include "boxmine/bm_train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the folder ---------------------------------------------------------------------- */
typedef enum bm_run_mode {
  BM_RUN_NEW = 1,    /* start a run: the folder is created if needed and must hold no run */
  BM_RUN_RESUME = 2, /* continue the run the folder holds (its last.ckpt must exist) */
  BM_RUN_ANY = 3,    /* either: created if needed, no check (library callers) */
} bm_run_mode;

typedef struct bm_run bm_run;

/* Opens the run folder dir for mode and takes its lock, DIR/.lock (flock, exclusive, held
 * until bm_run_close; the file holds the owner's process id), so two processes never write
 * one run. Fails with a message naming the folder:
 *   NEW, the folder holds a run: "DIR already holds a run (DIR/last.ckpt); use --resume to
 *        continue it or another --out"
 *   RESUME, no run there:        "DIR/last.ckpt does not exist (nothing to resume in DIR)"
 *   another process has it:      "DIR is in use by process N" */
int bm_run_open(bm_run **out, const char *dir, bm_run_mode mode, bm_error *err);
/* The open check alone: 0 when the folder is as mode wants it, else -1 with the message above
 * (bm_loop_create uses it: a new mining run never overwrites one). */
int bm_run_expect(const bm_run *run, bm_run_mode mode, bm_error *err);
/* Releases the lock (the .lock file stays) and frees run (NULL is fine). An event file still
 * open is closed. */
void bm_run_close(bm_run *run);

const char *bm_run_dir(const bm_run *run);
const char *bm_run_last_ckpt(const bm_run *run); /* DIR/last.ckpt: the state to resume */
const char *bm_run_best_ckpt(const bm_run *run); /* DIR/best.ckpt: the state at the best */
/* DIR/name (bm_free it); NULL when out of memory. */
char *bm_run_path(const bm_run *run, const char *name);

/* ---- saving the state ---------------------------------------------------------------- */
/* How the driver writes its whole state into path (a checkpoint, atomically). */
typedef int (*bm_run_save_fn)(void *user, const char *path, bm_error *err);
/* Sets the saver and the save timer's period: checkpoint_minutes > 0 saves last.ckpt inside
 * an epoch once that long has passed since the last save of last.ckpt (0: never). */
void bm_run_set_saver(bm_run *run, bm_run_save_fn save, void *user, double checkpoint_minutes);
/* Writes the state into path; NULL means last.ckpt, and restarts the timer. */
int bm_run_save(bm_run *run, const char *path, bm_error *err);
/* The save timer: call after every training update that does not end an epoch (and does not
 * stop the run). A failed save is kept (see bm_run_failed) and not tried again. */
void bm_run_tick(bm_run *run);
/* A failure to report later (a save inside an epoch, a scalar): the first one is kept. */
void bm_run_fail_later(bm_run *run, const bm_error *err);
/* -1 with the kept failure in err, or 0 when there is none. */
int bm_run_failed(const bm_run *run, bm_error *err);

/* ---- scalars and text files ------------------------------------------------------------ */
/* Opens a new TensorBoard event file in the folder (bm_tfevents_open). */
int bm_run_events_open(bm_run *run, bm_error *err);
/* Closes it (no file open: 0). */
int bm_run_events_close(bm_run *run, bm_error *err);
/* One scalar (TensorBoard has no use for NaN or infinite points: they are skipped, as is
 * everything while no event file is open). -1 with err (may be NULL) when the write fails. */
int bm_run_scalar(bm_run *run, const char *tag, int64_t step, double value, bm_error *err);
/* DIR/name replaced atomically by len bytes of text (rounds.jsonl, summary.json). */
int bm_run_write(const bm_run *run, const char *name, const char *text, size_t len,
                 bm_error *err);

/* ---- best and early stop ------------------------------------------------------------- */
typedef struct bm_run_best {
  double value; /* the best value so far; NAN: none yet */
  int64_t at;   /* where it was reached (epoch, round); the "none" value given to init */
} bm_run_best;
void bm_run_best_init(bm_run_best *best, int64_t none);
/* 1 when value is finite and above the best so far (the first of equal values stays best),
 * and then records it at `at`; 0 otherwise. */
int bm_run_best_offer(bm_run_best *best, double value, int64_t at);
/* The early-stop state after the values of past evaluations (non-finite ones are skipped),
 * so a resumed run stops where an uninterrupted one would. */
int bm_earlystop_replay(bm_earlystop *es, int window, double ap_thre, double ap_shift,
                        const double *values, int n_values, bm_error *err);

/* ---- the run's settings ---------------------------------------------------------------- */
/* A run keeps the settings it was started with in every checkpoint, as one text section of
 * key=value lines, so that --resume needs only the folder. A table describes the fields of
 * the caller's settings struct: key, type, where, and whether a resumed run may change it. */
typedef enum bm_setting_kind {
  BM_SETTING_TEXT = 1, /* char[size], one line */
  BM_SETTING_INT,      /* int, %d */
  BM_SETTING_U64,      /* uint64_t, %llu */
  BM_SETTING_FLOAT,    /* float, %.9g (exact) */
  BM_SETTING_DOUBLE,   /* double, %.17g (exact) */
  BM_SETTING_DOUBLE9,  /* double written with 9 significant digits (%.9g), for values that
                        * are used as floats */
} bm_setting_kind;

enum {
  BM_SETTING_FIXED = 0,     /* the run's own value is kept on --resume */
  BM_SETTING_MAY_CHANGE = 1 /* a value given again with --resume replaces the run's */
};

typedef struct bm_setting {
  const char *key;
  bm_setting_kind kind;
  size_t offset; /* of the field in the settings struct */
  size_t size;   /* of the field (for TEXT: the buffer) */
  int on_resume; /* BM_SETTING_FIXED or BM_SETTING_MAY_CHANGE */
} bm_setting;
/* A table row for member of struct type: BM_SETTING_ROW(type, member, "key", kind, rule). */
#define BM_SETTING_ROW(type, member, key, kind, on_resume) \
  {(key), (kind), offsetof(type, member), sizeof(((type *)0)->member), (on_resume)}

typedef struct bm_settings {
  const char *section; /* the checkpoint section, e.g. "run.settings" */
  const bm_setting *table;
  size_t n;
} bm_settings;
/* static const bm_settings s = BM_SETTINGS("run.settings", rows); for an array of rows */
#define BM_SETTINGS(section, rows) {(section), (rows), sizeof(rows) / sizeof((rows)[0])}

/* A settings section with the struct it describes: pass one as the user of
 * bm_settings_extra, a bm_ckpt_extra_fn (bm_det.h) adding the section to a checkpoint. */
typedef struct bm_settings_values {
  const bm_settings *settings;
  const void *values;
} bm_settings_values;
int bm_settings_extra(void *user, bm_ckpt_writer *w);

/* The lines "key=value\n" in table order. */
void bm_settings_text(const bm_settings *s, const void *values, bm_buf *out);
/* Reads such lines into values (keys not in the text keep their value). An unknown key, a
 * line without '=', a bad number or an over-long text fails, naming the section, the line
 * and the key. */
int bm_settings_parse(const bm_settings *s, const char *text, void *values, bm_error *err);
/* The section into a checkpoint being written, or out of a checkpoint file. A checkpoint
 * without the section fails with "PATH: no 'SECTION' section (not a run of this kind?)". */
int bm_settings_save(const bm_settings *s, const void *values, bm_ckpt_writer *w);
int bm_settings_load(const bm_settings *s, const char *ckpt_path, void *values, bm_error *err);
/* The resume rule. values holds this invocation's settings and given the keys it gave
 * (a NULL-terminated list; NULL: none): every setting is read back from ckpt_path except the
 * given ones that may change. A given FIXED key is a programming error and fails. */
int bm_settings_resume(const bm_settings *s, const char *ckpt_path, void *values,
                       const char *const *given, bm_error *err);
/* Compares a run's settings with this invocation's: the first setting that differs, among
 * the keys in only (a NULL-terminated list) or, with only NULL, among all but those that may
 * change on resume, is described in text ("'KEY' is A in the run, B now"; text may be NULL).
 * Returns 1 when one differs, 0 when they agree. */
int bm_settings_differ(const bm_settings *s, const void *run, const void *now,
                       const char *const *only, char *text, size_t size);

#ifdef __cplusplus
}
#endif
#endif
