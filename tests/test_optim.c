/* Optimisers and gradient clipping against updates worked out by hand (in the comments),
 * the decay mask, and bit-identical results for 1 and 2 threads. */
#include <omp.h>
#include <string.h>

#include "boxmine/bm_train.h"
#include "testlib.h"

#define TOL 2e-6

static void run_steps(bm_optim *opt, float *params, const float *grad_per_step, int n_steps,
                      int n_params, float lr, float *history) {
  float grads[8];
  for (int s = 0; s < n_steps; s++) {
    for (int i = 0; i < n_params; i++) grads[i] = grad_per_step[s];
    bm_optim_step(opt, params, grads, lr);
    for (int i = 0; i < n_params; i++) history[s * n_params + i] = params[i];
  }
}

static void test_sgd_momentum(void) {
  /* lr 0.1, momentum 0.9, weight decay 0.01 on element 0 only; both start at 1;
   * gradients 0.5, 0.5, -1.
   * element 0 (decayed):
   *   1: g = 0.5 + 0.01*1 = 0.51;           v = 0.51;                          p = 1 - 0.051 = 0.949
   *   2: g = 0.5 + 0.01*0.949 = 0.50949;    v = 0.9*0.51 + 0.50949 = 0.96849;  p = 0.949 - 0.096849 = 0.852151
   *   3: g = -1 + 0.00852151 = -0.99147849; v = 0.871641 - 0.99147849 = -0.11983749;
   *                                                                  p = 0.852151 + 0.011983749 = 0.864134749
   * element 1 (not decayed):
   *   1: v = 0.5;              p = 0.95
   *   2: v = 0.45 + 0.5 = 0.95; p = 0.95 - 0.095 = 0.855
   *   3: v = 0.855 - 1 = -0.145; p = 0.855 + 0.0145 = 0.8695 */
  bm_optim_config cfg = bm_optim_defaults(BM_OPTIM_SGD);
  cfg.momentum = 0.9;
  cfg.weight_decay = 0.01;
  bm_optim opt;
  bm_error err = {{0}};
  CHECK(bm_optim_init(&opt, &cfg, 2, &err) == 0);
  CHECK(opt.n_moments == 1 && opt.v == NULL && bm_optim_state_count(&opt) == 2);
  CHECK(bm_optim_set_decay(&opt, 1, 1, 0, &err) == 0);
  float params[2] = {1.0f, 1.0f}, history[6];
  const float grads[3] = {0.5f, 0.5f, -1.0f};
  run_steps(&opt, params, grads, 3, 2, 0.1f, history);
  CHECK_NEAR(history[0], 0.949, TOL);
  CHECK_NEAR(history[2], 0.852151, TOL);
  CHECK_NEAR(history[4], 0.864134749, TOL);
  CHECK_NEAR(opt.m[0], -0.11983749, TOL);
  CHECK_NEAR(history[1], 0.95, TOL);
  CHECK_NEAR(history[3], 0.855, TOL);
  CHECK_NEAR(history[5], 0.8695, TOL);
  CHECK_NEAR(opt.m[1], -0.145, TOL);
  CHECK(opt.step == 3);
  bm_optim_reset(&opt);
  CHECK(opt.step == 0 && opt.m[0] == 0.0f && opt.m[1] == 0.0f);
  bm_optim_free(&opt);
}

static void test_sgd_nesterov_and_plain(void) {
  /* Nesterov, lr 0.1, momentum 0.9, no decay, p = 1, gradients 0.5, 0.5, -1:
   *   1: v = 0.5;        step = g + 0.9 v = 0.5 + 0.45 = 0.95;         p = 1 - 0.095 = 0.905
   *   2: v = 0.95;       step = 0.5 + 0.855 = 1.355;                   p = 0.905 - 0.1355 = 0.7695
   *   3: v = -0.145;     step = -1 - 0.1305 = -1.1305;                 p = 0.7695 + 0.11305 = 0.88255 */
  bm_optim_config cfg = bm_optim_defaults(BM_OPTIM_SGD);
  cfg.nesterov = 1;
  bm_optim opt;
  CHECK(bm_optim_init(&opt, &cfg, 1, NULL) == 0);
  float p = 1.0f, history[3];
  const float grads[3] = {0.5f, 0.5f, -1.0f};
  run_steps(&opt, &p, grads, 3, 1, 0.1f, history);
  CHECK_NEAR(history[0], 0.905, TOL);
  CHECK_NEAR(history[1], 0.7695, TOL);
  CHECK_NEAR(history[2], 0.88255, TOL);
  bm_optim_free(&opt);

  /* No momentum: p = 2 - 0.5 * 1 = 1.5, then 1.5 - 0.5 * 1 = 1. */
  cfg = bm_optim_defaults(BM_OPTIM_SGD);
  cfg.momentum = 0.0;
  CHECK(bm_optim_init(&opt, &cfg, 1, NULL) == 0);
  p = 2.0f;
  const float ones[2] = {1.0f, 1.0f};
  run_steps(&opt, &p, ones, 2, 1, 0.5f, history);
  CHECK(history[0] == 1.5f && history[1] == 1.0f);
  bm_optim_free(&opt);
}

static void test_adam(void) {
  /* lr 0.01, betas 0.9 / 0.999, eps 1e-8, p = 1, gradients 0.5, 1, -0.5, no decay.
   *   1: m = 0.05, v = 0.00025; corrections 0.1, 0.001: m^ = 0.5, v^ = 0.25, sqrt 0.5
   *      step = 0.5 / (0.5 + 1e-8) = 0.99999998;           p = 1 - 0.01 = 0.99
   *   2: m = 0.045 + 0.1 = 0.145, v = 0.00024975 + 0.001 = 0.00124975;
   *      corrections 0.19, 0.001999: m^ = 0.76315789, v^ = 0.62518759, sqrt 0.79068805
   *      step = 0.96518201;                                p = 0.99 - 0.0096518201 = 0.98034818
   *   3: m = 0.1305 - 0.05 = 0.0805, v = 0.00124850025 + 0.00025 = 0.00149850025;
   *      corrections 0.271, 0.002997001: m^ = 0.29704797, v^ = 0.49999992, sqrt 0.70710672
   *      step = 0.42008930;                                p = 0.98034818 - 0.0042008930 = 0.97614729 */
  bm_optim_config cfg = bm_optim_defaults(BM_OPTIM_ADAM);
  bm_optim opt;
  CHECK(bm_optim_init(&opt, &cfg, 1, NULL) == 0);
  CHECK(opt.n_moments == 2 && opt.v == opt.m + 1 && bm_optim_state_count(&opt) == 2);
  float p = 1.0f, history[3];
  const float grads[3] = {0.5f, 1.0f, -0.5f};
  run_steps(&opt, &p, grads, 3, 1, 0.01f, history);
  CHECK_NEAR(history[0], 0.99, TOL);
  CHECK_NEAR(history[1], 0.98034818, TOL);
  CHECK_NEAR(history[2], 0.97614729, TOL);
  CHECK_NEAR(opt.m[0], 0.0805, 1e-7);
  CHECK_NEAR(opt.v[0], 0.00149850025, 1e-9);
  bm_optim_free(&opt);

  /* Adam with L2 decay 0.1 (added to the gradient):
   *   1: g = 0.5 + 0.1*1 = 0.6; first step is always -lr*sign(g):  p = 0.99
   *   2: g = 1 + 0.1*0.99 = 1.099; m = 0.054 + 0.1099 = 0.1639;
   *      v = 0.999*0.00036 + 0.001*1.207801 = 0.00035964 + 0.001207801 = 0.001567441;
   *      m^ = 0.1639/0.19 = 0.86263158, v^ = 0.001567441/0.001999 = 0.78411256, sqrt 0.88550130
   *      step = 0.97417312;                           p = 0.99 - 0.0097417312 = 0.98025827 */
  cfg.weight_decay = 0.1;
  CHECK(bm_optim_init(&opt, &cfg, 1, NULL) == 0);
  p = 1.0f;
  run_steps(&opt, &p, grads, 2, 1, 0.01f, history);
  CHECK_NEAR(history[0], 0.99, TOL);
  CHECK_NEAR(history[1], 0.98025827, TOL);
  bm_optim_free(&opt);

  /* AdamW, decay 0.1 decoupled: p *= 1 - 0.01*0.1 = 0.999 first, moments see the raw gradient:
   *   1: p = 0.999 - 0.01 = 0.989
   *   2: p = 0.989*0.999 = 0.988011; step 0.96518201 as above; p = 0.988011 - 0.0096518201 = 0.97835918
   *   3: p = 0.97835918*0.999 = 0.97738082; step 0.42008930; p = 0.97738082 - 0.0042008930 = 0.97317993 */
  cfg.kind = BM_OPTIM_ADAMW;
  CHECK(bm_optim_init(&opt, &cfg, 1, NULL) == 0);
  p = 1.0f;
  run_steps(&opt, &p, grads, 3, 1, 0.01f, history);
  CHECK_NEAR(history[0], 0.989, TOL);
  CHECK_NEAR(history[1], 0.97835918, TOL);
  CHECK_NEAR(history[2], 0.97317993, TOL);
  bm_optim_free(&opt);
}

static void test_adam_bias_correction(void) {
  /* With bias correction the first step is lr * g / (|g| + eps): about lr whatever the
   * gradient's scale. Without it, it would be 0.1 g / (sqrt(0.001) |g|) = 3.16 lr. */
  bm_optim_config cfg = bm_optim_defaults(BM_OPTIM_ADAM);
  bm_optim opt;
  CHECK(bm_optim_init(&opt, &cfg, 3, NULL) == 0);
  float params[3] = {0.0f, 0.0f, 0.0f};
  const float grads[3] = {1e-3f, 100.0f, -7.0f};
  bm_optim_step(&opt, params, grads, 0.001f);
  CHECK_NEAR(params[0], -0.001 * (1e-3 / (1e-3 + 1e-8)), 1e-9);
  CHECK_NEAR(params[1], -0.001, 1e-9);
  CHECK_NEAR(params[2], 0.001, 1e-9);
  bm_optim_free(&opt);
}

static void test_decay_mask(void) {
  /* Zero gradients isolate the decay. Groups: [0,2) decayed, [2,4) not, [4,5) decayed.
   * SGD without momentum, lr 1, decay 0.1: decayed p = 2 - 1*0.1*2 = 1.8, others stay 2.
   * AdamW lr 1, decay 0.1: decayed p = 2*(1 - 0.1) = 1.8; the Adam part is 0/(0+eps) = 0. */
  for (int kind = BM_OPTIM_SGD; kind <= BM_OPTIM_ADAMW; kind++) {
    bm_optim_config cfg = bm_optim_defaults((bm_optim_kind)kind);
    cfg.momentum = 0.0;
    cfg.weight_decay = 0.1;
    bm_optim opt;
    bm_error err = {{0}};
    CHECK(bm_optim_init(&opt, &cfg, 5, &err) == 0);
    CHECK(bm_optim_set_decay(&opt, 2, 2, 0, &err) == 0);
    float params[5] = {2, 2, 2, 2, 2};
    const float zeros[5] = {0};
    bm_optim_step(&opt, params, zeros, 1.0f);
    /* Adam with L2: g = 0.2, first step moves by lr = 1 exactly (as above): 2 - 1 = 1. */
    float decayed = kind == BM_OPTIM_ADAM ? 1.0f : 1.8f;
    CHECK_NEAR(params[0], decayed, 1e-6);
    CHECK_NEAR(params[1], decayed, 1e-6);
    CHECK(params[2] == 2.0f && params[3] == 2.0f);
    CHECK_NEAR(params[4], decayed, 1e-6);
    CHECK(bm_optim_set_decay(&opt, 4, 2, 0, &err) == -1);
    CHECK(strstr(err.msg, "outside") != NULL);
    bm_optim_free(&opt);
  }
}

static void test_bad_config(void) {
  bm_optim opt;
  bm_error err = {{0}};
  bm_optim_config cfg = bm_optim_defaults(BM_OPTIM_SGD);
  cfg.momentum = 0.0;
  cfg.nesterov = 1;
  CHECK(bm_optim_init(&opt, &cfg, 4, &err) == -1 && strstr(err.msg, "Nesterov"));
  cfg = bm_optim_defaults(BM_OPTIM_ADAM);
  cfg.beta2 = 1.0;
  CHECK(bm_optim_init(&opt, &cfg, 4, &err) == -1 && strstr(err.msg, "betas"));
  cfg = bm_optim_defaults(BM_OPTIM_ADAMW);
  cfg.weight_decay = -1.0;
  CHECK(bm_optim_init(&opt, &cfg, 4, &err) == -1 && strstr(err.msg, "decay"));
}

static void test_clipping(void) {
  /* [3, 4] has norm 5; clipped to 1 it becomes [0.6, 0.8]; a limit of 10 leaves it alone. */
  float g[2] = {3.0f, 4.0f};
  CHECK(bm_clip_grad_norm(g, 2, 10.0) == 5.0);
  CHECK(g[0] == 3.0f && g[1] == 4.0f);
  CHECK(bm_clip_grad_norm(g, 2, 1.0) == 5.0);
  CHECK_NEAR(g[0], 0.6, 1e-7);
  CHECK_NEAR(g[1], 0.8, 1e-7);
  CHECK_NEAR(bm_grad_norm(g, 2), 1.0, 1e-7);
  CHECK(bm_grad_norm(g, 0) == 0.0);

  /* Many chunks: 1,000,000 values of 0.5 (exact in float) have norm 0.5 * 1000 = 500. */
  size_t n = 1000000;
  float *big = bm_malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) big[i] = 0.5f;
  CHECK(bm_grad_norm(big, n) == 500.0);
  CHECK(bm_clip_grad_norm(big, n, 50.0) == 500.0);
  CHECK(big[0] == 0.05f && big[n - 1] == 0.05f);

  /* A NaN anywhere gives a NaN norm and leaves the gradients untouched. */
  big[12345] = NAN;
  CHECK(isnan(bm_clip_grad_norm(big, n, 1.0)));
  CHECK(big[0] == 0.05f);
  bm_free(big);
}

/* Same inputs on 1 and on 2 threads must give bit-identical norms and parameters. */
static void test_threads_bit_identical(void) {
  size_t n = 300001; /* not a multiple of any chunk size */
  float *grads = bm_malloc(n * sizeof(float));
  float *p1 = bm_malloc(n * sizeof(float)), *p2 = bm_malloc(n * sizeof(float));
  bm_rng rng;
  bm_rng_seed(&rng, 7, 1);
  for (size_t i = 0; i < n; i++) {
    grads[i] = bm_rng_normal(&rng) * 1e-3f;
    p1[i] = p2[i] = bm_rng_normal(&rng);
  }
  int saved_threads = omp_get_max_threads();
  double norms[2];
  for (int kind = BM_OPTIM_SGD; kind <= BM_OPTIM_ADAMW; kind++) {
    bm_optim_config cfg = bm_optim_defaults((bm_optim_kind)kind);
    cfg.weight_decay = 5e-4;
    bm_optim a, b;
    CHECK(bm_optim_init(&a, &cfg, n, NULL) == 0 && bm_optim_init(&b, &cfg, n, NULL) == 0);
    bm_optim_set_decay(&a, 1000, 5000, 0, NULL);
    bm_optim_set_decay(&b, 1000, 5000, 0, NULL);
    omp_set_num_threads(1);
    norms[0] = bm_grad_norm(grads, n);
    for (int s = 0; s < 3; s++) bm_optim_step(&a, p1, grads, 0.01f);
    omp_set_num_threads(2);
    norms[1] = bm_grad_norm(grads, n);
    for (int s = 0; s < 3; s++) bm_optim_step(&b, p2, grads, 0.01f);
    CHECK(memcmp(&norms[0], &norms[1], sizeof(double)) == 0);
    CHECK(memcmp(p1, p2, n * sizeof(float)) == 0);
    CHECK(memcmp(a.state, b.state, bm_optim_state_count(&a) * sizeof(float)) == 0);
    bm_optim_free(&a);
    bm_optim_free(&b);
  }
  omp_set_num_threads(saved_threads);
  bm_free(grads);
  bm_free(p1);
  bm_free(p2);
}

/* The command-line names of the optimisers, in both directions, and a clear refusal. */
static void test_kind_names(void) {
  const char *names[3] = {"sgd", "adam", "adamw"};
  const bm_optim_kind kinds[3] = {BM_OPTIM_SGD, BM_OPTIM_ADAM, BM_OPTIM_ADAMW};
  bm_error err = {{0}};
  for (int k = 0; k < 3; k++) {
    bm_optim_kind got = (bm_optim_kind)0;
    CHECK(bm_optim_kind_parse(names[k], &got, &err) == 0);
    CHECK(got == kinds[k]);
    CHECK(!strcmp(bm_optim_kind_name(kinds[k]), names[k]));
  }
  bm_optim_kind got = BM_OPTIM_SGD;
  CHECK(bm_optim_kind_parse("adam ", &got, &err) != 0);
  CHECK(got == BM_OPTIM_SGD);
  CHECK(strstr(err.msg, "'adam ' is not sgd, adam or adamw") != NULL);
  CHECK(!strcmp(bm_optim_kind_name((bm_optim_kind)0), "?"));
}

int main(void) {
  test_kind_names();
  test_sgd_momentum();
  test_sgd_nesterov_and_plain();
  test_adam();
  test_adam_bias_correction();
  test_decay_mask();
  test_bad_config();
  test_clipping();
  test_threads_bit_identical();
  return bm_test_finish("test_optim");
}
