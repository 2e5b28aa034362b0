/* Early stop on the AP shift (asm-spec section 6): the mean absolute deviation of the last N
 * AP values, mean |x - mean(x)|. A phase stops once AP has exceeded ap_thre and the shift
 * over a full window is in (0, ap_shift). The best value and its index are tracked over the
 * whole sequence (the reference indexed the best inside the window, off by the window start). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_train.h"

int bm_earlystop_init(bm_earlystop *es, int window, double ap_thre, double ap_shift,
                      bm_error *err) {
  memset(es, 0, sizeof *es);
  if (window < 1 || window > BM_EARLYSTOP_MAX_WINDOW)
    return bm_fail(err, "early stop: window of %d values, must be 1 to %d", window,
                   BM_EARLYSTOP_MAX_WINDOW);
  if (!(ap_shift > 0.0) || !isfinite(ap_shift) || !isfinite(ap_thre))
    return bm_fail(err, "early stop: AP shift %g must be > 0 and threshold %g finite", ap_shift,
                   ap_thre);
  es->window = window;
  es->ap_thre = ap_thre;
  es->ap_shift = ap_shift;
  es->best_index = -1;
  return 0;
}

double bm_earlystop_shift(const bm_earlystop *es) {
  const int n = es->window;
  if (n < 1 || es->n_values < n) return -1.0;
  /* Oldest to newest, so the sums are taken in one fixed order. */
  double sum = 0.0;
  for (int k = 0; k < n; k++) sum += es->recent[(es->n_values - n + k) % n];
  const double mean = sum / n;
  double deviation = 0.0;
  for (int k = 0; k < n; k++) deviation += fabs(es->recent[(es->n_values - n + k) % n] - mean);
  return deviation / n;
}

int bm_earlystop_add(bm_earlystop *es, double ap, bm_error *err) {
  if (!isfinite(ap)) return bm_fail(err, "early stop: AP value %g is not a number", ap);
  if (es->window < 1) return bm_fail(err, "early stop: not initialised");
  es->recent[es->n_values % es->window] = ap;
  if (es->best_index < 0 || ap > es->best_value) {
    es->best_value = ap;
    es->best_index = es->n_values;
  }
  es->n_values++;
  if (ap > es->ap_thre) es->exceeded = 1;
  double shift = bm_earlystop_shift(es);
  return es->exceeded && shift > 0.0 && shift < es->ap_shift;
}

int bm_earlystop_latest_is_best(const bm_earlystop *es) {
  return es->n_values > 0 && es->best_index == es->n_values - 1;
}

/* ---- checkpoint sections ---------------------------------------------------------------- */
#define N_REALS (3 + BM_EARLYSTOP_MAX_WINDOW)

int bm_earlystop_save(const bm_earlystop *es, bm_ckpt_writer *w, const char *prefix) {
  const int64_t ints[4] = {es->window, es->n_values, es->exceeded, es->best_index};
  double reals[N_REALS] = {es->ap_thre, es->ap_shift, es->best_value};
  memcpy(reals + 3, es->recent, sizeof es->recent);
  char name[512];
  snprintf(name, sizeof name, "%s.ints", prefix);
  int status = bm_ckpt_add_i64(w, name, ints, 4);
  snprintf(name, sizeof name, "%s.reals", prefix);
  status |= bm_ckpt_add_f64(w, name, reals, N_REALS);
  return status ? -1 : 0;
}

int bm_earlystop_load(bm_earlystop *es, const bm_ckpt_reader *r, const char *prefix,
                      bm_error *err) {
  int64_t ints[4];
  double reals[N_REALS];
  char name[512];
  snprintf(name, sizeof name, "%s.ints", prefix);
  if (bm_ckpt_read_i64(r, name, ints, 4, err) != 0) return -1;
  snprintf(name, sizeof name, "%s.reals", prefix);
  if (bm_ckpt_read_f64(r, name, reals, N_REALS, err) != 0) return -1;
  bm_earlystop loaded;
  if (ints[0] < 1 || ints[0] > BM_EARLYSTOP_MAX_WINDOW ||
      bm_earlystop_init(&loaded, (int)ints[0], reals[0], reals[1], err) != 0)
    return bm_fail(err, "%s: bad early-stop settings (window %lld, shift %g)", r->path,
                   (long long)ints[0], reals[1]);
  if (ints[1] < 0 || ints[3] < -1 || ints[3] >= ints[1] || (ints[1] > 0) != (ints[3] >= 0))
    return bm_fail(err, "%s: inconsistent early-stop state (%lld values, best at %lld)", r->path,
                   (long long)ints[1], (long long)ints[3]);
  loaded.n_values = ints[1];
  loaded.exceeded = ints[2] != 0;
  loaded.best_index = ints[3];
  loaded.best_value = reals[2];
  memcpy(loaded.recent, reals + 3, sizeof loaded.recent);
  *es = loaded;
  return 0;
}
