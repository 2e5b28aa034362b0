/* Learning-rate schedules against values worked out by hand, and save/restore. */
#include <string.h>

#include "boxmine/bm_train.h"
#include "testlib.h"

#define TOL 1e-8

static void test_const_and_steps(void) {
  bm_schedule_config cfg = bm_schedule_const(0.01f);
  CHECK(bm_schedule_lr_at(&cfg, 0) == 0.01f);
  CHECK(bm_schedule_lr_at(&cfg, 123456789) == 0.01f);

  /* darknet-style: base 0.1, steps 10,20 with scales 0.1,0.5:
   * iterations 0..9 -> 0.1, 10..19 -> 0.01, from 20 on -> 0.005 */
  const int64_t steps[2] = {10, 20};
  const float scales[2] = {0.1f, 0.5f};
  bm_error err = {{0}};
  CHECK(bm_schedule_steps(&cfg, 0.1f, 2, steps, scales, &err) == 0);
  bm_schedule sched;
  CHECK(bm_schedule_init(&sched, &cfg, &err) == 0);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 0), 0.1, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 9), 0.1, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 10), 0.01, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 19), 0.01, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 20), 0.005, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 100000), 0.005, TOL);

  /* milestones 3,6 with gamma 0.1 from 1: 1, 1, 1, 0.1, 0.1, 0.1, 0.01, ... */
  const int64_t milestones[2] = {3, 6};
  CHECK(bm_schedule_milestones(&cfg, 1.0f, 2, milestones, 0.1f, &err) == 0);
  CHECK(bm_schedule_init(&sched, &cfg, &err) == 0);
  const double expected[8] = {1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01};
  for (int i = 0; i < 8; i++) {
    CHECK_NEAR(bm_schedule_lr(&sched), expected[i], TOL);
    bm_schedule_advance(&sched);
  }
}

static void test_cosine(void) {
  /* base 0.1, floor 0.01, T = 4: lr = 0.01 + 0.09 * (1 + cos(pi t / 4)) / 2
   *   t=0: 0.1;  t=1: 0.01 + 0.09 * 0.85355339 = 0.086819805;  t=2: 0.01 + 0.045 = 0.055;
   *   t=3: 0.01 + 0.09 * 0.14644661 = 0.023180195;  t=4 and later: 0.01 */
  bm_schedule_config cfg = bm_schedule_cosine(0.1f, 0.01f, 4);
  bm_schedule sched;
  CHECK(bm_schedule_init(&sched, &cfg, NULL) == 0);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 0), 0.1, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 1), 0.086819805, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 2), 0.055, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 3), 0.023180195, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 4), 0.01, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 99), 0.01, TOL);

  /* The reference's setting: lr 0.005 annealed to 0 over 20 epochs of 100 iterations:
   * halfway (iteration 1000) cos(pi/2) = 0 gives 0.0025. */
  cfg = bm_schedule_cosine(0.005f, 0.0f, 2000);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 1000), 0.0025, TOL);
}

static void test_warmup(void) {
  /* Linear over 4 iterations on const 0.1: 0.025, 0.05, 0.075, 0.1, then 0.1. */
  bm_schedule_config cfg = bm_schedule_const(0.1f);
  cfg.warmup_iters = 4;
  cfg.warmup_power = 1.0f;
  bm_schedule sched;
  CHECK(bm_schedule_init(&sched, &cfg, NULL) == 0);
  const double linear[5] = {0.025, 0.05, 0.075, 0.1, 0.1};
  for (int i = 0; i < 5; i++) {
    CHECK_NEAR(bm_schedule_lr(&sched), linear[i], TOL);
    bm_schedule_advance(&sched);
  }

  /* darknet burn_in: power 4 over 10 iterations from 0.001:
   *   i=0: 0.001 * 0.1^4 = 1e-7;  i=4: 0.001 * 0.5^4 = 6.25e-5;  i=9: 0.001 */
  cfg = bm_schedule_const(0.001f);
  cfg.warmup_iters = 10;
  cfg.warmup_power = 4.0f;
  CHECK(bm_schedule_init(&sched, &cfg, NULL) == 0);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 0), 1e-7, 1e-12);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 4), 6.25e-5, 1e-11);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 9), 0.001, 1e-10);

  /* Warm-up multiplies the cosine curve (same clock): W = 2 on the T = 4 curve above:
   *   i=0: 0.1 * 1/2 = 0.05;  i=1: 0.086819805 * 1;  i=2: 0.055 */
  cfg = bm_schedule_cosine(0.1f, 0.01f, 4);
  cfg.warmup_iters = 2;
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 0), 0.05, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 1), 0.086819805, TOL);
  CHECK_NEAR(bm_schedule_lr_at(&cfg, 2), 0.055, TOL);
}

static void test_save_restore(void) {
  /* The state is a plain struct: a copy taken mid-run continues the same curve. */
  bm_schedule_config cfg = bm_schedule_cosine(0.02f, 0.001f, 50);
  cfg.warmup_iters = 5;
  bm_schedule sched, saved;
  CHECK(bm_schedule_init(&sched, &cfg, NULL) == 0);
  for (int i = 0; i < 7; i++) bm_schedule_advance(&sched);
  memcpy(&saved, &sched, sizeof saved);
  CHECK(saved.iteration == 7);
  for (int i = 0; i < 60; i++) {
    CHECK(bm_schedule_lr(&saved) == bm_schedule_lr(&sched));
    CHECK(bm_schedule_lr(&sched) == bm_schedule_lr_at(&cfg, 7 + i));
    bm_schedule_advance(&sched);
    bm_schedule_advance(&saved);
  }
}

static void test_bad_configs(void) {
  bm_schedule sched;
  bm_error err = {{0}};
  bm_schedule_config cfg;
  const int64_t decreasing[2] = {20, 10};
  const float scales[2] = {0.1f, 0.1f};
  CHECK(bm_schedule_steps(&cfg, 0.1f, 2, decreasing, scales, &err) == 0);
  CHECK(bm_schedule_init(&sched, &cfg, &err) == -1 && strstr(err.msg, "increasing"));
  int64_t many[BM_SCHEDULE_MAX_STEPS + 1];
  float many_scales[BM_SCHEDULE_MAX_STEPS + 1];
  for (int k = 0; k <= BM_SCHEDULE_MAX_STEPS; k++) {
    many[k] = k + 1;
    many_scales[k] = 0.5f;
  }
  CHECK(bm_schedule_steps(&cfg, 0.1f, BM_SCHEDULE_MAX_STEPS + 1, many, many_scales, &err) == -1);
  cfg = bm_schedule_cosine(0.1f, 0.01f, 0);
  CHECK(bm_schedule_init(&sched, &cfg, &err) == -1 && strstr(err.msg, "cosine"));
  cfg = bm_schedule_cosine(0.1f, 0.2f, 10);
  CHECK(bm_schedule_init(&sched, &cfg, &err) == -1 && strstr(err.msg, "floor"));
  cfg = bm_schedule_const(0.1f);
  cfg.warmup_iters = 3;
  cfg.warmup_power = 0.0f;
  CHECK(bm_schedule_init(&sched, &cfg, &err) == -1 && strstr(err.msg, "power"));
}

/* The command-line names of the policies, in both directions, and a clear refusal. */
static void test_policy_names(void) {
  const char *names[3] = {"const", "step", "cosine"};
  const bm_lr_policy policies[3] = {BM_LR_CONST, BM_LR_STEPS, BM_LR_COSINE};
  bm_error err = {{0}};
  for (int k = 0; k < 3; k++) {
    bm_lr_policy got = (bm_lr_policy)0;
    CHECK(bm_lr_policy_parse(names[k], &got, &err) == 0);
    CHECK(got == policies[k]);
    CHECK(!strcmp(bm_lr_policy_name(policies[k]), names[k]));
  }
  bm_lr_policy got = BM_LR_CONST;
  CHECK(bm_lr_policy_parse("Cosine", &got, &err) != 0);
  CHECK(got == BM_LR_CONST);
  CHECK(strstr(err.msg, "'Cosine' is not const, step or cosine") != NULL);
  CHECK(!strcmp(bm_lr_policy_name((bm_lr_policy)9), "?"));
}

int main(void) {
  test_policy_names();
  test_const_and_steps();
  test_cosine();
  test_warmup();
  test_save_restore();
  test_bad_configs();
  return bm_test_finish("test_schedule");
}
