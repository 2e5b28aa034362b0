/* Learning-rate schedules: const, steps (darknet steps/scales or milestones with gamma),
 * cosine annealing to a floor, each optionally multiplied by a warm-up ramp. The whole state
 * is the config plus the iteration count, so resuming continues the same curve. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_train.h"

static const char *const policy_names[] = {NULL, "const", "step", "cosine"};

const char *bm_lr_policy_name(bm_lr_policy policy) {
  return policy >= BM_LR_CONST && policy <= BM_LR_COSINE ? policy_names[policy] : "?";
}

int bm_lr_policy_parse(const char *word, bm_lr_policy *out, bm_error *err) {
  for (int k = BM_LR_CONST; k <= BM_LR_COSINE; k++)
    if (!strcmp(word, policy_names[k])) {
      *out = (bm_lr_policy)k;
      return 0;
    }
  return bm_fail(err, "'%s' is not const, step or cosine", word);
}

static bm_schedule_config empty_config(bm_lr_policy policy, float base_lr) {
  bm_schedule_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.policy = policy;
  cfg.base_lr = base_lr;
  cfg.warmup_power = 1.0f;
  return cfg;
}

bm_schedule_config bm_schedule_const(float base_lr) {
  return empty_config(BM_LR_CONST, base_lr);
}

bm_schedule_config bm_schedule_cosine(float base_lr, float min_lr, int64_t cosine_iters) {
  bm_schedule_config cfg = empty_config(BM_LR_COSINE, base_lr);
  cfg.min_lr = min_lr;
  cfg.cosine_iters = cosine_iters;
  return cfg;
}

int bm_schedule_steps(bm_schedule_config *cfg, float base_lr, int n_steps, const int64_t *steps,
                      const float *scales, bm_error *err) {
  *cfg = empty_config(BM_LR_STEPS, base_lr);
  if (n_steps < 0 || n_steps > BM_SCHEDULE_MAX_STEPS)
    return bm_fail(err, "lr schedule: %d steps given, at most %d supported", n_steps,
                   BM_SCHEDULE_MAX_STEPS);
  cfg->n_steps = n_steps;
  for (int k = 0; k < n_steps; k++) {
    cfg->steps[k] = steps[k];
    cfg->scales[k] = scales[k];
  }
  return 0;
}

int bm_schedule_milestones(bm_schedule_config *cfg, float base_lr, int n_milestones,
                           const int64_t *milestones, float gamma, bm_error *err) {
  float scales[BM_SCHEDULE_MAX_STEPS];
  int n = n_milestones < BM_SCHEDULE_MAX_STEPS ? n_milestones : BM_SCHEDULE_MAX_STEPS;
  for (int k = 0; k < n; k++) scales[k] = gamma;
  return bm_schedule_steps(cfg, base_lr, n_milestones, milestones, scales, err);
}

static int check_config(const bm_schedule_config *cfg, bm_error *err) {
  if (!(cfg->base_lr >= 0.0f) || isinf(cfg->base_lr))
    return bm_fail(err, "lr schedule: base lr %g must be finite and >= 0", (double)cfg->base_lr);
  if (cfg->warmup_iters < 0)
    return bm_fail(err, "lr schedule: warm-up of %lld iterations", (long long)cfg->warmup_iters);
  if (cfg->warmup_iters > 0 && !(cfg->warmup_power > 0.0f))
    return bm_fail(err, "lr schedule: warm-up power %g must be > 0", (double)cfg->warmup_power);
  switch (cfg->policy) {
  case BM_LR_CONST: return 0;
  case BM_LR_STEPS:
    if (cfg->n_steps < 0 || cfg->n_steps > BM_SCHEDULE_MAX_STEPS)
      return bm_fail(err, "lr schedule: %d steps, at most %d supported", cfg->n_steps,
                     BM_SCHEDULE_MAX_STEPS);
    for (int k = 0; k < cfg->n_steps; k++) {
      if (cfg->steps[k] < 0 || (k > 0 && cfg->steps[k] <= cfg->steps[k - 1]))
        return bm_fail(err, "lr schedule: steps must be >= 0 and strictly increasing (step %d is "
                       "%lld)", k + 1, (long long)cfg->steps[k]);
      if (!(cfg->scales[k] >= 0.0f) || isinf(cfg->scales[k]))
        return bm_fail(err, "lr schedule: scale %d is %g, must be finite and >= 0", k + 1,
                       (double)cfg->scales[k]);
    }
    return 0;
  case BM_LR_COSINE:
    if (cfg->cosine_iters <= 0)
      return bm_fail(err, "lr schedule: cosine annealing over %lld iterations (must be > 0)",
                     (long long)cfg->cosine_iters);
    if (!(cfg->min_lr >= 0.0f && cfg->min_lr <= cfg->base_lr))
      return bm_fail(err, "lr schedule: cosine floor %g must be in [0, base lr %g]",
                     (double)cfg->min_lr, (double)cfg->base_lr);
    return 0;
  }
  return bm_fail(err, "lr schedule: unknown policy %d", (int)cfg->policy);
}

int bm_schedule_init(bm_schedule *sched, const bm_schedule_config *cfg, bm_error *err) {
  memset(sched, 0, sizeof *sched);
  if (check_config(cfg, err) != 0) return -1;
  sched->cfg = *cfg;
  return 0;
}

/* The policy's rate before warm-up. Computed in double, returned as float. */
static double policy_lr(const bm_schedule_config *cfg, int64_t iteration) {
  double lr = cfg->base_lr;
  if (cfg->policy == BM_LR_STEPS) {
    for (int k = 0; k < cfg->n_steps && iteration >= cfg->steps[k]; k++) lr *= cfg->scales[k];
  } else if (cfg->policy == BM_LR_COSINE) {
    int64_t t = iteration < cfg->cosine_iters ? iteration : cfg->cosine_iters;
    double progress = (double)t / (double)cfg->cosine_iters; /* 0 .. 1 */
    lr = cfg->min_lr + (cfg->base_lr - cfg->min_lr) * 0.5 * (1.0 + cos(M_PI * progress));
  }
  return lr;
}

float bm_schedule_lr_at(const bm_schedule_config *cfg, int64_t iteration) {
  if (iteration < 0) iteration = 0;
  double lr = policy_lr(cfg, iteration);
  if (iteration < cfg->warmup_iters)
    lr *= pow((double)(iteration + 1) / (double)cfg->warmup_iters, (double)cfg->warmup_power);
  return (float)lr;
}

float bm_schedule_lr(const bm_schedule *sched) {
  return bm_schedule_lr_at(&sched->cfg, sched->iteration);
}

void bm_schedule_advance(bm_schedule *sched) {
  sched->iteration++;
}

/* ---- checkpoint sections: <prefix>.ints and <prefix>.reals ----------------------------- */
#define N_INTS (5 + BM_SCHEDULE_MAX_STEPS)
#define N_REALS (3 + BM_SCHEDULE_MAX_STEPS)

int bm_schedule_save(const bm_schedule *sched, bm_ckpt_writer *w, const char *prefix) {
  const bm_schedule_config *cfg = &sched->cfg;
  int64_t ints[N_INTS] = {cfg->policy, cfg->n_steps, cfg->cosine_iters, cfg->warmup_iters,
                          sched->iteration};
  double reals[N_REALS] = {cfg->base_lr, cfg->min_lr, cfg->warmup_power};
  for (int k = 0; k < BM_SCHEDULE_MAX_STEPS; k++) {
    ints[5 + k] = cfg->steps[k];
    reals[3 + k] = cfg->scales[k];
  }
  char name[512];
  snprintf(name, sizeof name, "%s.ints", prefix);
  int status = bm_ckpt_add_i64(w, name, ints, N_INTS);
  snprintf(name, sizeof name, "%s.reals", prefix);
  status |= bm_ckpt_add_f64(w, name, reals, N_REALS);
  return status ? -1 : 0;
}

int bm_schedule_load(bm_schedule *sched, const bm_ckpt_reader *r, const char *prefix,
                     bm_error *err) {
  int64_t ints[N_INTS];
  double reals[N_REALS];
  char name[512];
  snprintf(name, sizeof name, "%s.ints", prefix);
  if (bm_ckpt_read_i64(r, name, ints, N_INTS, err) != 0) return -1;
  snprintf(name, sizeof name, "%s.reals", prefix);
  if (bm_ckpt_read_f64(r, name, reals, N_REALS, err) != 0) return -1;
  if (ints[1] < 0 || ints[1] > BM_SCHEDULE_MAX_STEPS)
    return bm_fail(err, "%s: schedule with %lld steps", r->path, (long long)ints[1]);
  if (ints[1] < 0 || ints[1] > BM_SCHEDULE_MAX_STEPS)
    return bm_fail(err, "%s: schedule with %lld steps", r->path, (long long)ints[1]);
  bm_schedule_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.policy = (bm_lr_policy)ints[0];
  cfg.n_steps = (int)ints[1];
  cfg.cosine_iters = ints[2];
  cfg.warmup_iters = ints[3];
  cfg.base_lr = (float)reals[0];
  cfg.min_lr = (float)reals[1];
  cfg.warmup_power = (float)reals[2];
  for (int k = 0; k < BM_SCHEDULE_MAX_STEPS; k++) {
    cfg.steps[k] = ints[5 + k];
    cfg.scales[k] = (float)reals[3 + k];
  }
  bm_schedule loaded;
  if (bm_schedule_init(&loaded, &cfg, err) != 0) return bm_fail_prefix(err, "%s", r->path);
  if (ints[4] < 0)
    return bm_fail(err, "%s: schedule iteration %lld < 0", r->path, (long long)ints[4]);
  loaded.iteration = ints[4];
  *sched = loaded;
  return 0;
}
