/* Range checks of the mining loop's saved counters (issue 16): a checkpoint with a valid
 * checksum may still hold values no run could have written. Called by read_loop_sections
 * (loop_state.c) before any of them is used. */
#include <math.h>

#include "mine/loop_internal.h"

/* The most epochs or rounds a checkpoint may claim (as the trainer's own limit). */
#define MAX_SAVED_COUNT 1000000000LL

int loop_check_saved(const int64_t *ints, const double *reals, bm_error *err) {
  static const char *const names[6] = {NULL, NULL, "phase-1 epochs", "rounds done",
                                       "round start epoch", "best round"};
  for (int k = 2; k <= 5; k++) {
    long long lo = k == 5 ? -1 : 0;
    if (ints[k] < lo || ints[k] > MAX_SAVED_COUNT)
      return bm_fail(err, "mine.loop: %s %lld is outside [%lld, %lld]", names[k],
                     (long long)ints[k], lo, MAX_SAVED_COUNT);
  }
  if (!isnan(reals[0]) && !(reals[0] >= -1 && reals[0] <= 1))
    return bm_fail(err, "mine.loop_reals: best AP %g is outside [0, 1]", reals[0]);
  if (!isfinite(reals[1]) || reals[1] < 0)
    return bm_fail(err, "mine.loop_reals: %g seconds is not a finite number >= 0", reals[1]);
  return 0;
}
