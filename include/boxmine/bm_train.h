/* boxmine training infrastructure, independent of the network engine:
 *  - optimisers (SGD with momentum / Nesterov, Adam, AdamW) over one flat float buffer of
 *    parameters and one of gradients, with weight decay restricted by a per-element mask;
 *  - gradient clipping by global norm (deterministic reduction order);
 *  - learning-rate schedules (const, steps, cosine) with warm-up;
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

#ifdef __cplusplus
}
#endif
#endif
