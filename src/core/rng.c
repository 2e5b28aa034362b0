/* PCG32 (O'Neill's permuted congruential generator, XSH-RR output). The whole state is
 * the two 64-bit words of bm_rng, so saving them saves the generator exactly. */
#include "boxmine/bm_core.h"

#include <math.h>

void bm_rng_seed(bm_rng *rng, uint64_t seed, uint64_t stream) {
  rng->state = 0;
  rng->inc = (stream << 1u) | 1u;
  bm_rng_u32(rng);
  rng->state += seed;
  bm_rng_u32(rng);
}

uint32_t bm_rng_u32(bm_rng *rng) {
  uint64_t old = rng->state;
  rng->state = old * 6364136223846793005ULL + rng->inc;
  uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
  uint32_t rot = (uint32_t)(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

float bm_rng_uniform(bm_rng *rng) {
  /* 24 random bits: every value is exactly representable and < 1 */
  return (float)(bm_rng_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

float bm_rng_range(bm_rng *rng, float lo, float hi) { return lo + (hi - lo) * bm_rng_uniform(rng); }

uint32_t bm_rng_below(bm_rng *rng, uint32_t n) {
  /* rejection sampling removes the modulo bias */
  uint32_t threshold = (uint32_t)(-n) % n;
  for (;;) {
    uint32_t r = bm_rng_u32(rng);
    if (r >= threshold) return r % n;
  }
}

float bm_rng_normal(bm_rng *rng) {
  double u1 = ((double)(bm_rng_u32(rng) >> 8) + 1.0) / 16777217.0; /* (0, 1) */
  double u2 = (double)(bm_rng_u32(rng) >> 8) / 16777216.0;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void bm_rng_shuffle(bm_rng *rng, int *values, int n) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)bm_rng_below(rng, (uint32_t)(i + 1));
    int tmp = values[i];
    values[i] = values[j];
    values[j] = tmp;
  }
}
