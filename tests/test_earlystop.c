/* Early stop on the AP shift, against sequences worked out by hand; the true best index;
 * state saved and restored through a checkpoint. */
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_train.h"
#include "testlib.h"

static void test_phase1_reference(void) {
  /* Phase 1 reference settings: window 3, shift 0.05, threshold 0.5.
   *   0.30, 0.45: window not full -> go on (shift -1)
   *   0.52: [0.30 0.45 0.52] mean 0.423333, |dev| 0.123333 0.026667 0.096667 -> 0.082222: go on
   *   0.60: [0.45 0.52 0.60] mean 0.523333, |dev| 0.073333 0.003333 0.076667 -> 0.051111: go on
   *   0.62: [0.52 0.60 0.62] mean 0.58,     |dev| 0.06 0.02 0.04             -> 0.04: stop */
  bm_earlystop es;
  bm_error err = {{0}};
  CHECK(bm_earlystop_init(&es, 3, 0.5, 0.05, &err) == 0);
  const double aps[5] = {0.30, 0.45, 0.52, 0.60, 0.62};
  const double shifts[5] = {-1, -1, 0.082222222, 0.051111111, 0.04};
  const int stops[5] = {0, 0, 0, 0, 1};
  for (int i = 0; i < 5; i++) {
    CHECK(bm_earlystop_add(&es, aps[i], &err) == stops[i]);
    CHECK_NEAR(bm_earlystop_shift(&es), shifts[i], 1e-8);
    CHECK(bm_earlystop_latest_is_best(&es)); /* rising sequence */
  }
  CHECK(es.best_index == 4 && es.best_value == 0.62);
}

static void test_phase2_reference(void) {
  /* Phase 2 reference settings: window 5, shift 0.001, threshold 0.5.
   *   0.700 0.702 0.701 0.703 0.701: mean 3.507/5 = 0.7014,
   *   |dev| 0.0014 0.0006 0.0004 0.0016 0.0004, sum 0.0044 -> 0.00088 < 0.001: stop at the 5th.
   *   Best 0.703 at index 3, not the last one. */
  bm_earlystop es;
  CHECK(bm_earlystop_init(&es, 5, 0.5, 0.001, NULL) == 0);
  const double aps[5] = {0.700, 0.702, 0.701, 0.703, 0.701};
  for (int i = 0; i < 4; i++) CHECK(bm_earlystop_add(&es, aps[i], NULL) == 0);
  CHECK(bm_earlystop_add(&es, aps[4], NULL) == 1);
  CHECK_NEAR(bm_earlystop_shift(&es), 0.00088, 1e-12);
  CHECK(es.best_index == 3 && es.best_value == 0.703);
  CHECK(!bm_earlystop_latest_is_best(&es));
}

static void test_conditions(void) {
  bm_earlystop es;
  /* Flat below the threshold never stops: 0.40 0.41 0.40 0.41 has shift 0.0044 (window 3,
   * e.g. [0.41 0.40 0.41]: mean 0.406667, dev 0.003333 0.006667 0.003333 -> 0.004444). */
  CHECK(bm_earlystop_init(&es, 3, 0.5, 0.05, NULL) == 0);
  const double low[4] = {0.40, 0.41, 0.40, 0.41};
  for (int i = 0; i < 4; i++) CHECK(bm_earlystop_add(&es, low[i], NULL) == 0);
  CHECK_NEAR(bm_earlystop_shift(&es), 0.0044444444, 1e-9);
  /* Exactly the threshold is not "exceeded". */
  CHECK(bm_earlystop_add(&es, 0.5, NULL) == 0 && !es.exceeded);

  /* A shift of exactly 0 does not stop (0 < shift is required); 0.6 0.6 0.6 then 0.61:
   * [0.6 0.6 0.61] mean 0.603333, dev 0.003333 0.003333 0.006667 -> 0.004444: stop. */
  CHECK(bm_earlystop_init(&es, 3, 0.5, 0.05, NULL) == 0);
  for (int i = 0; i < 3; i++) CHECK(bm_earlystop_add(&es, 0.6, NULL) == 0);
  CHECK(bm_earlystop_shift(&es) == 0.0);
  CHECK(bm_earlystop_add(&es, 0.61, NULL) == 1);

  /* Once exceeded, the threshold stays passed, even after the value that passed it has left
   * the window: 0.55 0.35 0.46 0.45 (window 3)
   *   [0.55 0.35 0.46]: mean 0.453333, dev 0.096667 0.103333 0.006667 -> 0.068889: go on
   *   [0.35 0.46 0.45]: mean 0.42,     dev 0.07 0.04 0.03             -> 0.046667: stop */
  CHECK(bm_earlystop_init(&es, 3, 0.5, 0.05, NULL) == 0);
  CHECK(bm_earlystop_add(&es, 0.55, NULL) == 0);
  CHECK(bm_earlystop_add(&es, 0.35, NULL) == 0);
  CHECK(bm_earlystop_add(&es, 0.46, NULL) == 0);
  CHECK_NEAR(bm_earlystop_shift(&es), 0.068888889, 1e-8);
  CHECK(bm_earlystop_add(&es, 0.45, NULL) == 1);
  CHECK_NEAR(bm_earlystop_shift(&es), 0.046666667, 1e-8);
}

static void test_best_outside_window(void) {
  /* The best value (0.8, index 0) has left the window [0.6 0.61 0.62]; still reported.
   * Ties keep the first: 0.8 again at index 4 does not move it. */
  bm_earlystop es;
  CHECK(bm_earlystop_init(&es, 3, 0.9, 0.05, NULL) == 0);
  const double aps[5] = {0.8, 0.6, 0.61, 0.62, 0.8};
  for (int i = 0; i < 5; i++) bm_earlystop_add(&es, aps[i], NULL);
  CHECK(es.best_index == 0 && es.best_value == 0.8 && es.n_values == 5);
  CHECK(!bm_earlystop_latest_is_best(&es));
}

static void test_errors(void) {
  bm_earlystop es;
  bm_error err = {{0}};
  CHECK(bm_earlystop_init(&es, 0, 0.5, 0.05, &err) == -1 && strstr(err.msg, "window"));
  CHECK(bm_earlystop_init(&es, BM_EARLYSTOP_MAX_WINDOW + 1, 0.5, 0.05, &err) == -1);
  CHECK(bm_earlystop_init(&es, 3, 0.5, 0.0, &err) == -1 && strstr(err.msg, "shift"));
  CHECK(bm_earlystop_init(&es, 1, 0.5, 0.05, &err) == 0);
  CHECK(bm_earlystop_add(&es, NAN, &err) == -1 && es.n_values == 0 && es.best_index == -1);
  CHECK(strstr(err.msg, "not a number") != NULL);
  /* Window 1: the deviation of one value is 0, so it never stops. */
  CHECK(bm_earlystop_add(&es, 0.9, &err) == 0 && bm_earlystop_shift(&es) == 0.0);
}

static void test_save_restore(void) {
  /* Save after 2 values of the phase-1 sequence, restore into a fresh state, continue: the
   * same decisions and best as without the interruption. */
  char dir[512], path[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/es.bmck", dir);
  bm_earlystop es, resumed;
  CHECK(bm_earlystop_init(&es, 3, 0.5, 0.05, NULL) == 0);
  bm_earlystop_add(&es, 0.30, NULL);
  bm_earlystop_add(&es, 0.52, NULL);
  bm_ckpt_writer w;
  bm_ckpt_writer_init(&w);
  CHECK(bm_earlystop_save(&es, &w, "phase1") == 0);
  bm_error err = {{0}};
  CHECK_MSG(bm_ckpt_save(&w, path, &err) == 0, "%s", err.msg);
  bm_ckpt_writer_free(&w);
  bm_ckpt_reader r;
  CHECK_MSG(bm_ckpt_open(&r, path, &err) == 0, "%s", err.msg);
  CHECK(bm_earlystop_init(&resumed, 7, 0.1, 0.2, NULL) == 0);
  CHECK_MSG(bm_earlystop_load(&resumed, &r, "phase1", &err) == 0, "%s", err.msg);
  CHECK(bm_earlystop_load(&resumed, &r, "phase2", &err) == -1);
  CHECK_MSG(strstr(err.msg, "no section 'phase2.ints'"), "%s", err.msg);
  bm_ckpt_close(&r);
  CHECK(resumed.window == 3 && resumed.n_values == 2 && resumed.exceeded == 1);
  CHECK(resumed.best_index == 1 && resumed.best_value == 0.52);
  /* [0.30 0.52 0.51]: mean 0.443333, dev 0.143333 0.076667 0.066667 -> 0.095556: go on;
   * [0.52 0.51 0.53]: mean 0.52, dev 0 0.01 0.01 -> 0.006667: stop. */
  CHECK(bm_earlystop_add(&resumed, 0.51, NULL) == 0);
  CHECK_NEAR(bm_earlystop_shift(&resumed), 0.095555556, 1e-8);
  CHECK(bm_earlystop_add(&resumed, 0.53, NULL) == 1);
  CHECK_NEAR(bm_earlystop_shift(&resumed), 0.0066666667, 1e-9);
  CHECK(resumed.best_index == 3);
}

int main(void) {
  test_phase1_reference();
  test_phase2_reference();
  test_conditions();
  test_best_outside_window();
  test_errors();
  test_save_restore();
  return bm_test_finish("test_earlystop");
}
