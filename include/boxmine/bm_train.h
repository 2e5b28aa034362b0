/* boxmine training infrastructure, independent of the network engine:
 *  - optimisers (SGD with momentum / Nesterov, Adam, AdamW) over one flat float buffer of
 *    parameters and one of gradients, with weight decay restricted by a per-element mask;
 *  - gradient clipping by global norm (deterministic reduction order);
 *  - learning-rate schedules (const, steps, cosine) with warm-up;
 *  - the checkpoint container (named, typed sections with a checksum);
 *  - TensorBoard event files (scalars);
 *  - early stop on the AP shift (mean absolute deviation over a window), with the true best.
 *
 * Formulas and conventions: docs/TRAINING.md.
 */
#ifndef BM_TRAIN_H
#define BM_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "boxmine/bm_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- optimisers ----------------------------------------------------------------------- */
typedef enum bm_optim_kind {
  BM_OPTIM_SGD = 1,   /* v = mu*v + g; step = v (or g + mu*v with Nesterov) */
  BM_OPTIM_ADAM = 2,  /* weight decay added to the gradient (L2) */
  BM_OPTIM_ADAMW = 3, /* weight decay applied to the parameter, decoupled from the moments */
} bm_optim_kind;

typedef struct bm_optim_config {
  bm_optim_kind kind;
  /* Hyper-parameters are doubles so that 1 - beta2 etc. are formed before rounding to
   * float, as PyTorch does (1 - 0.999f would be 0.00099998713, not 0.001). */
  double weight_decay; /* 0 = none; applied only where the decay mask is 1 */
  double momentum;     /* SGD only; 0 = plain gradient descent */
  int nesterov;        /* SGD only; needs momentum > 0 */
  double beta1, beta2; /* Adam/AdamW, e.g. 0.9 and 0.999 */
  double eps;          /* Adam/AdamW, e.g. 1e-8 */
} bm_optim_config;

/* The names used on command lines and in messages: "sgd", "adam", "adamw" ("?" for another
 * value). parse fails with "'WORD' is not sgd, adam or adamw". */
const char *bm_optim_kind_name(bm_optim_kind kind);
int bm_optim_kind_parse(const char *word, bm_optim_kind *out, bm_error *err);

/* Defaults: SGD momentum 0.9, Adam betas 0.9/0.999, eps 1e-8, no weight decay. */
bm_optim_config bm_optim_defaults(bm_optim_kind kind);

typedef struct bm_optim {
  bm_optim_config cfg;
  size_t n_params;
  int64_t step;        /* updates done so far; Adam's bias correction uses it (1-based) */
  float *state;        /* one allocation: [n_moments * n_params], zero at start */
  float *m;            /* SGD: velocity; Adam: first moment. Points into state. */
  float *v;            /* Adam: second moment (points into state); NULL for SGD */
  int n_moments;       /* 1 for SGD, 2 for Adam/AdamW */
  uint8_t *decay_mask; /* [n_params]: 1 = weight decay applies here; all 1 at start */
} bm_optim;

/* Allocates zeroed moments for n_params parameters. Fails (with a reason) on bad
 * hyper-parameters (negative decay, momentum outside [0,1), Nesterov without momentum,
 * betas outside [0,1), eps <= 0) or out of memory. */
int bm_optim_init(bm_optim *opt, const bm_optim_config *cfg, size_t n_params, bm_error *err);
void bm_optim_free(bm_optim *opt);
/* Marks parameters [offset, offset + count) as decayed (decay = 1) or not (0), e.g. one call
 * per parameter group: decay conv weights, not biases or batch-norm scales. */
int bm_optim_set_decay(bm_optim *opt, size_t offset, size_t count, int decay, bm_error *err);
/* One update: params -= lr * update(grads). grads are true gradients of the loss (not
 * negated) and are not modified. Element-wise, so the result does not depend on threads. */
void bm_optim_step(bm_optim *opt, float *params, const float *grads, float lr);
/* Number of floats in opt->state (what a checkpoint stores besides opt->step). */
size_t bm_optim_state_count(const bm_optim *opt);
/* Zeroes the moments and the step count. */
void bm_optim_reset(bm_optim *opt);

/* ---- gradient norm and clipping ------------------------------------------------------- */
/* sqrt(sum of g^2), accumulated in double over fixed chunks (the chunk size depends on n
 * only) that are added in chunk order: bit-identical for any number of threads. */
double bm_grad_norm(const float *grads, size_t n);
/* If the norm exceeds max_norm (> 0), scales grads by max_norm / norm. Returns the norm
 * before clipping. A NaN or infinite norm is returned and the gradients are left alone:
 * the caller should skip that update. */
double bm_clip_grad_norm(float *grads, size_t n, double max_norm);

/* ---- learning-rate schedules ---------------------------------------------------------- */
#define BM_SCHEDULE_MAX_STEPS 16

typedef enum bm_lr_policy {
  BM_LR_CONST = 1,  /* base_lr */
  BM_LR_STEPS = 2,  /* base_lr times scales[k] for every k with iteration >= steps[k] */
  BM_LR_COSINE = 3, /* min_lr + (base_lr - min_lr) * (1 + cos(pi * min(i, T) / T)) / 2 */
} bm_lr_policy;

/* Command-line names: "const", "step", "cosine" ("?" for another value). parse fails with
 * "'WORD' is not const, step or cosine". */
const char *bm_lr_policy_name(bm_lr_policy policy);
int bm_lr_policy_parse(const char *word, bm_lr_policy *out, bm_error *err);

typedef struct bm_schedule_config {
  bm_lr_policy policy;
  float base_lr;
  /* BM_LR_STEPS: strictly increasing iterations and the factor applied from each on.
   * Milestones with gamma = every scale equal to gamma (see bm_schedule_milestones). */
  int n_steps;
  int64_t steps[BM_SCHEDULE_MAX_STEPS];
  float scales[BM_SCHEDULE_MAX_STEPS];
  /* BM_LR_COSINE: anneal from base_lr to min_lr over cosine_iters iterations, then hold. */
  int64_t cosine_iters;
  float min_lr;
  /* Warm-up, multiplied onto any policy: for iteration i < warmup_iters the factor is
   * ((i + 1) / warmup_iters) ^ warmup_power. Power 1 = linear, 4 = darknet's burn_in. */
  int64_t warmup_iters; /* 0 = no warm-up */
  float warmup_power;
} bm_schedule_config;

/* The state is the config plus the number of updates done: copy the struct to save it. */
typedef struct bm_schedule {
  bm_schedule_config cfg;
  int64_t iteration; /* 0-based index of the next update */
} bm_schedule;

/* Config helpers (warm-up off; set warmup_iters/warmup_power afterwards if wanted). */
bm_schedule_config bm_schedule_const(float base_lr);
bm_schedule_config bm_schedule_cosine(float base_lr, float min_lr, int64_t cosine_iters);
/* Fails when n_steps > BM_SCHEDULE_MAX_STEPS. */
int bm_schedule_steps(bm_schedule_config *cfg, float base_lr, int n_steps, const int64_t *steps,
                      const float *scales, bm_error *err);
int bm_schedule_milestones(bm_schedule_config *cfg, float base_lr, int n_milestones,
                           const int64_t *milestones, float gamma, bm_error *err);

/* Validates the config and sets iteration to 0. */
int bm_schedule_init(bm_schedule *sched, const bm_schedule_config *cfg, bm_error *err);
/* Learning rate for update number `iteration` (0-based) under cfg. */
float bm_schedule_lr_at(const bm_schedule_config *cfg, int64_t iteration);
/* Learning rate for the next update. */
float bm_schedule_lr(const bm_schedule *sched);
/* Call once after each update. */
void bm_schedule_advance(bm_schedule *sched);


/* ---- checkpoint container ------------------------------------------------------------- */
/* A file of named, typed sections: "BMCK", version, total size, sections, FNV-1a 64 checksum
 * of everything before it (layout in docs/TRAINING.md). Written atomically. */
#define BM_CKPT_VERSION 1
#define BM_CKPT_MAX_NAME 255

typedef enum bm_ckpt_type {
  BM_CKPT_F32 = 1,   /* little-endian IEEE float */
  BM_CKPT_F64 = 2,   /* little-endian IEEE double */
  BM_CKPT_I64 = 3,   /* little-endian two's complement */
  BM_CKPT_BYTES = 4, /* raw bytes (strings are stored without a terminating NUL) */
} bm_ckpt_type;

/* Sections are collected in memory and written by bm_ckpt_save. An add that fails (bad or
 * duplicate name, out of memory) returns -1 and also makes bm_ckpt_save fail with the first
 * reason, so callers may check only the save. */
typedef struct bm_ckpt_writer {
  bm_buf data;     /* header placeholder + encoded sections */
  int n_sections;
  char **names;    /* [n_sections], to refuse duplicates */
  int failed;
  bm_error error;  /* first failure */
} bm_ckpt_writer;

void bm_ckpt_writer_init(bm_ckpt_writer *w);
void bm_ckpt_writer_free(bm_ckpt_writer *w);
int bm_ckpt_add_f32(bm_ckpt_writer *w, const char *name, const float *values, size_t count);
int bm_ckpt_add_f64(bm_ckpt_writer *w, const char *name, const double *values, size_t count);
int bm_ckpt_add_i64(bm_ckpt_writer *w, const char *name, const int64_t *values, size_t count);
int bm_ckpt_add_bytes(bm_ckpt_writer *w, const char *name, const void *data, size_t len);
int bm_ckpt_add_string(bm_ckpt_writer *w, const char *name, const char *text);
/* Writes the file atomically (a crash leaves the old file or the new one). */
int bm_ckpt_save(bm_ckpt_writer *w, const char *path, bm_error *err);

typedef struct bm_ckpt_section {
  char *name;
  bm_ckpt_type type;
  size_t size;               /* payload bytes */
  const unsigned char *data; /* points into the reader's copy of the file */
} bm_ckpt_section;

typedef struct bm_ckpt_reader {
  char *path; /* for messages */
  char *file;
  size_t file_len;
  int n_sections;
  bm_ckpt_section *sections;
} bm_ckpt_reader;

/* Reads and validates the whole file: magic, version, size, checksum, section bounds. Any
 * problem fails with a reason naming the file and what is wrong. */
int bm_ckpt_open(bm_ckpt_reader *r, const char *path, bm_error *err);
void bm_ckpt_close(bm_ckpt_reader *r);
/* NULL when there is no such section. */
const bm_ckpt_section *bm_ckpt_find(const bm_ckpt_reader *r, const char *name);
/* Number of values (bytes for BM_CKPT_BYTES) in a section of the given type. */
int bm_ckpt_count(const bm_ckpt_reader *r, const char *name, bm_ckpt_type type, size_t *count,
                  bm_error *err);
/* Copy exactly `count` values out; a missing section, another type or another count fails.
 * bm_ckpt_read_f32 also refuses a NaN or infinity (weights and moments are always finite). */
int bm_ckpt_read_f32(const bm_ckpt_reader *r, const char *name, float *out, size_t count,
                     bm_error *err);
int bm_ckpt_read_f64(const bm_ckpt_reader *r, const char *name, double *out, size_t count,
                     bm_error *err);
int bm_ckpt_read_i64(const bm_ckpt_reader *r, const char *name, int64_t *out, size_t count,
                     bm_error *err);
/* Pointer into the reader (valid until bm_ckpt_close) and length. */
int bm_ckpt_read_bytes(const bm_ckpt_reader *r, const char *name, const void **data, size_t *len,
                       bm_error *err);
/* A NUL-terminated copy (bm_free); fails if the bytes contain a NUL. */
int bm_ckpt_read_string(const bm_ckpt_reader *r, const char *name, char **text, bm_error *err);

/* Optimiser and schedule state in a checkpoint, under "<prefix>.<field>" section names.
 * Loading needs an optimiser initialised with the same kind and size; it restores the step,
 * the moments and the hyper-parameters (the decay mask is the caller's, from the groups).
 * The schedule is restored whole (config and iteration). */
int bm_optim_save(const bm_optim *opt, bm_ckpt_writer *w, const char *prefix);
int bm_optim_load(bm_optim *opt, const bm_ckpt_reader *r, const char *prefix, bm_error *err);
int bm_schedule_save(const bm_schedule *sched, bm_ckpt_writer *w, const char *prefix);
int bm_schedule_load(bm_schedule *sched, const bm_ckpt_reader *r, const char *prefix,
                     bm_error *err);


/* ---- TensorBoard event files ---------------------------------------------------------- */
/* Writes events.out.tfevents.<unix seconds>.<hostname> in a directory: TFRecord-framed Event
 * protocol buffers, flushed after every record so TensorBoard can read the file while
 * training runs. An existing file is never truncated or appended to: a second writer in the
 * same second gets a ".1", ".2", ... suffix (TensorBoard reads every *tfevents* file). */
typedef struct bm_tfevents bm_tfevents;

/* Seconds since the Unix epoch (wall clock), for the wall_time arguments. */
double bm_wall_time(void);
/* Creates dir if needed, then the file, and writes the file_version event "brain.Event:2".
 * Returns NULL with a reason on failure. */
bm_tfevents *bm_tfevents_open(const char *dir, double wall_time, bm_error *err);
/* Appends Event{wall_time, step, summary{value{tag, simple_value}}} and flushes. */
int bm_tfevents_scalar(bm_tfevents *w, const char *tag, int64_t step, float value,
                       double wall_time, bm_error *err);
/* The file being written. */
const char *bm_tfevents_path(const bm_tfevents *w);
/* Closes the file and frees w (NULL is fine). Fails if the final close reports an error. */
int bm_tfevents_close(bm_tfevents *w, bm_error *err);


/* ---- early stop on the AP shift (asm-spec section 6) ---------------------------------- */
#define BM_EARLYSTOP_MAX_WINDOW 64

typedef struct bm_earlystop {
  int window;       /* N: the shift is taken over the last N values */
  double ap_thre;   /* stop only once some value has exceeded this (strictly) */
  double ap_shift;  /* stop when 0 < shift < ap_shift */
  int64_t n_values; /* values added so far */
  double recent[BM_EARLYSTOP_MAX_WINDOW]; /* ring: value k is at recent[k % window] */
  int exceeded;       /* some value > ap_thre */
  double best_value;  /* the largest value so far (first one on ties) */
  int64_t best_index; /* its 0-based index in the whole sequence; -1 before any value */
} bm_earlystop;

/* window in [1, BM_EARLYSTOP_MAX_WINDOW]; ap_shift > 0. */
int bm_earlystop_init(bm_earlystop *es, int window, double ap_thre, double ap_shift,
                      bm_error *err);
/* Adds the next AP. Returns 1 when the phase should stop (a full window, some value above
 * ap_thre, 0 < shift < ap_shift), 0 to go on, -1 for a NaN or infinite AP (state unchanged). */
int bm_earlystop_add(bm_earlystop *es, double ap, bm_error *err);
/* Mean absolute deviation of the last N values, or -1 while fewer than N were added. */
double bm_earlystop_shift(const bm_earlystop *es);
/* 1 when the value added last is the best so far (time to keep its checkpoint). */
int bm_earlystop_latest_is_best(const bm_earlystop *es);
/* Checkpoint sections "<prefix>.ints" and "<prefix>.reals"; load restores the whole state. */
int bm_earlystop_save(const bm_earlystop *es, bm_ckpt_writer *w, const char *prefix);
int bm_earlystop_load(bm_earlystop *es, const bm_ckpt_reader *r, const char *prefix,
                      bm_error *err);

#ifdef __cplusplus
}
#endif
#endif
