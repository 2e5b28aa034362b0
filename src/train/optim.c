/* Optimisers over one flat float buffer: SGD (momentum, Nesterov), Adam, AdamW.
 * Conventions follow PyTorch's (true gradients, params -= lr * update, SGD velocity without
 * dampening); the formulas are written out in docs/TRAINING.md. Each update is element-wise,
 * so splitting the loop over threads cannot change any result. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_train.h"

/* Below this many parameters a thread team costs more than it saves. */
#define PARALLEL_MIN 32768

static const char *const kind_names[] = {NULL, "sgd", "adam", "adamw"};

const char *bm_optim_kind_name(bm_optim_kind kind) {
  return kind >= BM_OPTIM_SGD && kind <= BM_OPTIM_ADAMW ? kind_names[kind] : "?";
}

int bm_optim_kind_parse(const char *word, bm_optim_kind *out, bm_error *err) {
  for (int k = BM_OPTIM_SGD; k <= BM_OPTIM_ADAMW; k++)
    if (!strcmp(word, kind_names[k])) {
      *out = (bm_optim_kind)k;
      return 0;
    }
  return bm_fail(err, "'%s' is not sgd, adam or adamw", word);
}

bm_optim_config bm_optim_defaults(bm_optim_kind kind) {
  bm_optim_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.kind = kind;
  cfg.momentum = kind == BM_OPTIM_SGD ? 0.9 : 0.0;
  cfg.beta1 = 0.9;
  cfg.beta2 = 0.999;
  cfg.eps = 1e-8;
  return cfg;
}

static int check_config(const bm_optim_config *cfg, bm_error *err) {
  if (cfg->kind != BM_OPTIM_SGD && cfg->kind != BM_OPTIM_ADAM && cfg->kind != BM_OPTIM_ADAMW)
    return bm_fail(err, "optimiser: unknown kind %d", (int)cfg->kind);
  if (!(cfg->weight_decay >= 0.0) || isinf(cfg->weight_decay))
    return bm_fail(err, "optimiser: weight decay %g must be finite and >= 0", cfg->weight_decay);
  if (cfg->kind == BM_OPTIM_SGD) {
    if (!(cfg->momentum >= 0.0 && cfg->momentum < 1.0))
      return bm_fail(err, "optimiser: SGD momentum %g must be in [0, 1)", cfg->momentum);
    if (cfg->nesterov && cfg->momentum == 0.0)
      return bm_fail(err, "optimiser: Nesterov momentum needs momentum > 0");
    return 0;
  }
  if (!(cfg->beta1 >= 0.0 && cfg->beta1 < 1.0) || !(cfg->beta2 >= 0.0 && cfg->beta2 < 1.0))
    return bm_fail(err, "optimiser: Adam betas (%g, %g) must be in [0, 1)", cfg->beta1,
                   cfg->beta2);
  if (!(cfg->eps > 0.0)) return bm_fail(err, "optimiser: Adam eps %g must be > 0", cfg->eps);
  return 0;
}

int bm_optim_init(bm_optim *opt, const bm_optim_config *cfg, size_t n_params, bm_error *err) {
  memset(opt, 0, sizeof *opt);
  if (check_config(cfg, err) != 0) return -1;
  opt->cfg = *cfg;
  opt->n_params = n_params;
  opt->n_moments = cfg->kind == BM_OPTIM_SGD ? 1 : 2;
  size_t n_state = (size_t)opt->n_moments * n_params;
  /* +1 keeps the allocations non-empty for a zero-parameter model. */
  opt->state = bm_calloc(n_state + 1, sizeof(float));
  opt->decay_mask = bm_malloc(n_params + 1);
  if (!opt->state || !opt->decay_mask) {
    bm_optim_free(opt);
    return bm_fail(err, "optimiser: out of memory for %zu parameters", n_params);
  }
  memset(opt->decay_mask, 1, n_params);
  opt->m = opt->state;
  opt->v = opt->n_moments == 2 ? opt->state + n_params : NULL;
  return 0;
}

void bm_optim_free(bm_optim *opt) {
  bm_free(opt->state);
  bm_free(opt->decay_mask);
  memset(opt, 0, sizeof *opt);
}

int bm_optim_set_decay(bm_optim *opt, size_t offset, size_t count, int decay, bm_error *err) {
  if (offset > opt->n_params || count > opt->n_params - offset)
    return bm_fail(err, "optimiser: decay range [%zu, %zu) outside the %zu parameters", offset,
                   offset + count, opt->n_params);
  memset(opt->decay_mask + offset, decay ? 1 : 0, count);
  return 0;
}

size_t bm_optim_state_count(const bm_optim *opt) {
  return (size_t)opt->n_moments * opt->n_params;
}

void bm_optim_reset(bm_optim *opt) {
  memset(opt->state, 0, bm_optim_state_count(opt) * sizeof(float));
  opt->step = 0;
}

/* params, grads, velocity, mask: [n] */
static void sgd_step(const bm_optim_config *cfg, size_t n, float *params, const float *grads,
                     float *velocity, const uint8_t *mask, float lr) {
  const float mu = (float)cfg->momentum, wd = (float)cfg->weight_decay;
  const int nesterov = cfg->nesterov;
  const ptrdiff_t count = (ptrdiff_t)n;
#pragma omp parallel for schedule(static) if (count > PARALLEL_MIN)
  for (ptrdiff_t i = 0; i < count; i++) {
    float g = grads[i];
    if (mask[i]) g += wd * params[i];
    float update = g;
    if (mu != 0.0f) {
      velocity[i] = mu * velocity[i] + g;
      update = nesterov ? g + mu * velocity[i] : velocity[i];
    }
    params[i] -= lr * update;
  }
}

/* params, grads, m, v, mask: [n]; t = 1-based update number. */
static void adam_step(const bm_optim_config *cfg, size_t n, float *params, const float *grads,
                      float *m, float *v, const uint8_t *mask, float lr, int64_t t) {
  /* Coefficients are formed in double and rounded once, as PyTorch does. */
  const float b1 = (float)cfg->beta1, one_minus_b1 = (float)(1.0 - cfg->beta1);
  const float b2 = (float)cfg->beta2, one_minus_b2 = (float)(1.0 - cfg->beta2);
  const float eps = (float)cfg->eps, wd = (float)cfg->weight_decay;
  const int decoupled = cfg->kind == BM_OPTIM_ADAMW;
  const double correction1 = 1.0 - pow(cfg->beta1, (double)t);
  const double correction2 = 1.0 - pow(cfg->beta2, (double)t);
  const float step_size = (float)(lr / correction1);
  const float inv_sqrt_correction2 = (float)(1.0 / sqrt(correction2));
  const float shrink = (float)(1.0 - (double)lr * cfg->weight_decay); /* AdamW: p *= 1 - lr*wd */
  const ptrdiff_t count = (ptrdiff_t)n;
#pragma omp parallel for schedule(static) if (count > PARALLEL_MIN)
  for (ptrdiff_t i = 0; i < count; i++) {
    float g = grads[i];
    if (mask[i]) {
      if (decoupled) params[i] *= shrink;
      else g += wd * params[i];
    }
    m[i] = b1 * m[i] + one_minus_b1 * g;
    v[i] = b2 * v[i] + one_minus_b2 * g * g;
    float denom = sqrtf(v[i]) * inv_sqrt_correction2 + eps;
    params[i] -= step_size * (m[i] / denom);
  }
}

void bm_optim_step(bm_optim *opt, float *params, const float *grads, float lr) {
  opt->step++;
  if (opt->cfg.kind == BM_OPTIM_SGD)
    sgd_step(&opt->cfg, opt->n_params, params, grads, opt->m, opt->decay_mask, lr);
  else
    adam_step(&opt->cfg, opt->n_params, params, grads, opt->m, opt->v, opt->decay_mask, lr,
              opt->step);
}

/* ---- global norm ---------------------------------------------------------------------- */
/* The sum is split into at most MAX_CHUNKS chunks whose size depends only on n; each chunk is
 * summed in order, then the chunk sums are added in chunk order. */
#define MAX_CHUNKS 256
#define MIN_CHUNK 4096

double bm_grad_norm(const float *grads, size_t n) {
  if (n == 0) return 0.0;
  size_t chunk = (n + MAX_CHUNKS - 1) / MAX_CHUNKS;
  if (chunk < MIN_CHUNK) chunk = MIN_CHUNK;
  const ptrdiff_t n_chunks = (ptrdiff_t)((n + chunk - 1) / chunk);
  double partial[MAX_CHUNKS];
#pragma omp parallel for schedule(static) if (n_chunks > 1)
  for (ptrdiff_t c = 0; c < n_chunks; c++) {
    size_t begin = (size_t)c * chunk, end = begin + chunk < n ? begin + chunk : n;
    double sum = 0.0;
    for (size_t i = begin; i < end; i++) sum += (double)grads[i] * (double)grads[i];
    partial[c] = sum;
  }
  double total = 0.0;
  for (ptrdiff_t c = 0; c < n_chunks; c++) total += partial[c];
  return sqrt(total);
}

double bm_clip_grad_norm(float *grads, size_t n, double max_norm) {
  double norm = bm_grad_norm(grads, n);
  if (!isfinite(norm) || !(max_norm > 0.0) || norm <= max_norm) return norm;
  const float scale = (float)(max_norm / norm);
  const ptrdiff_t count = (ptrdiff_t)n;
#pragma omp parallel for schedule(static) if (count > PARALLEL_MIN)
  for (ptrdiff_t i = 0; i < count; i++) grads[i] *= scale;
  return norm;
}

/* ---- checkpoint sections: <prefix>.info, <prefix>.hyper, <prefix>.moments ------------- */
static const char *section_name(char *out, size_t size, const char *prefix, const char *field) {
  snprintf(out, size, "%s.%s", prefix, field);
  return out;
}

static const char *kind_name(int kind) {
  return kind == BM_OPTIM_SGD ? "SGD" : kind == BM_OPTIM_ADAM ? "Adam"
       : kind == BM_OPTIM_ADAMW ? "AdamW" : "unknown";
}

int bm_optim_save(const bm_optim *opt, bm_ckpt_writer *w, const char *prefix) {
  char name[512];
  const int64_t info[4] = {opt->cfg.kind, (int64_t)opt->n_params, opt->step, opt->cfg.nesterov};
  const double hyper[5] = {opt->cfg.weight_decay, opt->cfg.momentum, opt->cfg.beta1,
                           opt->cfg.beta2, opt->cfg.eps};
  int status = bm_ckpt_add_i64(w, section_name(name, sizeof name, prefix, "info"), info, 4);
  status |= bm_ckpt_add_f64(w, section_name(name, sizeof name, prefix, "hyper"), hyper, 5);
  status |= bm_ckpt_add_f32(w, section_name(name, sizeof name, prefix, "moments"), opt->state,
                            bm_optim_state_count(opt));
  return status ? -1 : 0;
}

int bm_optim_load(bm_optim *opt, const bm_ckpt_reader *r, const char *prefix, bm_error *err) {
  char name[512];
  int64_t info[4];
  double hyper[5];
  if (bm_ckpt_read_i64(r, section_name(name, sizeof name, prefix, "info"), info, 4, err) != 0 ||
      bm_ckpt_read_f64(r, section_name(name, sizeof name, prefix, "hyper"), hyper, 5, err) != 0)
    return -1;
  for (int k = 0; k < 5; k++)
    if (!isfinite(hyper[k]))
      return bm_fail(err, "%s: section '%s': value %d is %g, not a finite number", r->path, name,
                     k, hyper[k]);
  if (info[3] != 0 && info[3] != 1)
    return bm_fail(err, "%s: optimiser nesterov flag %lld is not 0 or 1", r->path,
                   (long long)info[3]);
  if (info[0] != opt->cfg.kind)
    return bm_fail(err, "%s: the checkpoint holds %s optimiser state, this run uses %s", r->path,
                   kind_name((int)info[0]), kind_name(opt->cfg.kind));
  if (info[1] != (int64_t)opt->n_params)
    return bm_fail(err, "%s: optimiser state for %lld parameters, the model has %zu", r->path,
                   (long long)info[1], opt->n_params);
  if (info[2] < 0) return bm_fail(err, "%s: optimiser step %lld < 0", r->path, (long long)info[2]);
  bm_optim_config cfg = opt->cfg;
  cfg.nesterov = (int)info[3];
  cfg.weight_decay = hyper[0];
  cfg.momentum = hyper[1];
  cfg.beta1 = hyper[2];
  cfg.beta2 = hyper[3];
  cfg.eps = hyper[4];
  if (check_config(&cfg, err) != 0) return bm_fail_prefix(err, "%s", r->path);
  /* Last, so that any failure above leaves the optimiser as it was. */
  if (bm_ckpt_read_f32(r, section_name(name, sizeof name, prefix, "moments"), opt->state,
                       bm_optim_state_count(opt), err) != 0)
    return -1;
  opt->cfg = cfg;
  opt->step = info[2];
  return 0;
}
