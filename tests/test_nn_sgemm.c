/* The engine's GEMM (src/nn/gemm.c with OpenBLAS or the own AVX-512 kernels of
 * src/nn/sgemm_avx512.c) against a naive double-precision product.
 *
 * Tolerance: each element of C is a sum of k products of numbers in [-1, 1]; float
 * accumulation in any order is within k * 2^-24 * sum |a_ip b_pj| of the exact value, so we
 * allow 4e-7 * k * sum|a b| + 1e-6 * |beta c| (about 3 ulps per step, plus the beta term). */
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_core.h"
#include "nn/nn.h"
#include "testlib.h"

typedef struct shape {
  int trans_a, trans_b, m, n, k;
  float alpha, beta;
  int pad; /* extra leading-dimension slack, so lda/ldb/ldc differ from the widths */
} shape;

static float uniform(bm_rng *rng) { return bm_rng_range(rng, -1.0f, 1.0f); }

/* Checks nn_gemm (own or BLAS, `threads` blocks) on one shape; returns 1 when all match. */
static int check_shape(const shape *s, int own, int threads, bm_rng *rng) {
  int a_rows = s->trans_a ? s->k : s->m, a_cols = s->trans_a ? s->m : s->k;
  int b_rows = s->trans_b ? s->n : s->k, b_cols = s->trans_b ? s->k : s->n;
  int lda = a_cols + s->pad, ldb = b_cols + s->pad, ldc = s->n + s->pad;
  float *a = malloc(sizeof(float) * ((size_t)a_rows * lda + 1));
  float *b = malloc(sizeof(float) * ((size_t)b_rows * ldb + 1));
  float *c = malloc(sizeof(float) * ((size_t)s->m * ldc + 1));
  float *c0 = malloc(sizeof(float) * ((size_t)s->m * ldc + 1));
  for (size_t j = 0; j < (size_t)a_rows * lda; j++) a[j] = uniform(rng);
  for (size_t j = 0; j < (size_t)b_rows * ldb; j++) b[j] = uniform(rng);
  for (size_t j = 0; j < (size_t)s->m * ldc; j++) c0[j] = c[j] = uniform(rng);
  nn_gemm(own, threads, s->trans_a, s->trans_b, s->m, s->n, s->k, s->alpha, a, lda, b, ldb,
          s->beta, c, ldc);
  int ok = 1;
  for (int i = 0; i < s->m && ok; i++)
    for (int j = 0; j < ldc && ok; j++) {
      float got = c[(size_t)i * ldc + j], old = c0[(size_t)i * ldc + j];
      if (j >= s->n) { /* padding columns must be untouched */
        ok = got == old;
        CHECK_MSG(ok, "own %d: %dx%dx%d ta %d tb %d: padding c[%d][%d] changed", own, s->m,
                  s->n, s->k, s->trans_a, s->trans_b, i, j);
        continue;
      }
      double sum = 0, sum_abs = 0;
      for (int p = 0; p < s->k; p++) {
        double x = s->trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
        double y = s->trans_b ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
        sum += x * y;
        sum_abs += fabs(x * y);
      }
      double want = s->alpha * sum + (s->beta != 0.0f ? s->beta * (double)old : 0.0);
      double tol = 4e-7 * (s->k + 1) * fabs(s->alpha) * sum_abs + 1e-6 * fabs(s->beta * old) +
                   1e-30;
      ok = fabs(got - want) <= tol;
      CHECK_MSG(ok, "own %d threads %d: %dx%dx%d ta %d tb %d alpha %g beta %g: c[%d][%d] = %.9g, "
                "want %.9g (tol %g)",
                own, threads, s->m, s->n, s->k, s->trans_a, s->trans_b, s->alpha, s->beta, i,
                j, got, want, tol);
    }
  free(a);
  free(b);
  free(c);
  free(c0);
  return ok;
}

/* The engine's variants: forward NT (beta 0), weight gradient TN (beta 1), input gradient NN
 * (beta 0 and 1), plus TT and other alpha/beta for completeness. */
static void check_all_shapes(int own) {
  static const int sizes[] = {1, 2, 3, 5, 7, 11, 12, 13, 16, 17, 24, 31, 32, 33, 45, 47, 64, 70};
  const int n_sizes = (int)(sizeof sizes / sizeof sizes[0]);
  static const int variants[][2] = {{0, 1}, {1, 0}, {0, 0}, {1, 1}};
  bm_rng rng;
  bm_rng_seed(&rng, 42, 3);
  int failed_shapes = 0;
  for (int v = 0; v < 4; v++)
    for (int im = 0; im < n_sizes; im += 1)
      for (int in = (im * 7 + v) % 3; in < n_sizes; in += 3)
        for (int ik = (im + in) % 4; ik < n_sizes; ik += 4) {
          shape s = {variants[v][0], variants[v][1], sizes[im], sizes[in], sizes[ik],
                     1.0f, (im + in + ik) % 2 ? 1.0f : 0.0f, (im + ik) % 3};
          failed_shapes += !check_shape(&s, own, 1, &rng);
        }
  /* every m and n from 1 to 70 once, with odd k */
  for (int d = 1; d <= 70; d++) {
    shape s1 = {0, 1, d, 70 - d + 1, 2 * d + 1, 1.0f, 0.0f, 1};
    shape s2 = {1, 0, 71 - d, d, d + 2, 1.0f, 1.0f, 0};
    shape s3 = {0, 0, d, d, 71 - d, 1.0f, 1.0f, 3};
    failed_shapes += !check_shape(&s1, own, 1, &rng);
    failed_shapes += !check_shape(&s2, own, 1, &rng);
    failed_shapes += !check_shape(&s3, own, 1, &rng);
  }
  /* large k (several KC blocks), large n (several NC blocks), large m (several MC blocks),
   * other alpha and beta, and split over two threads */
  shape big[] = {
      {0, 1, 37, 45, 4608, 1.0f, 0.0f, 0},  {1, 0, 64, 1152, 1030, 1.0f, 1.0f, 5},
      {0, 0, 300, 2100, 19, 1.0f, 0.0f, 2}, {0, 1, 500, 96, 577, 1.0f, 1.0f, 0},
      {1, 1, 29, 33, 300, 0.5f, -2.0f, 1},  {0, 1, 13, 17, 9, -1.5f, 0.25f, 4},
      {0, 0, 5, 7, 0, 1.0f, 0.5f, 1},
  };
  for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
    failed_shapes += !check_shape(&big[i], own, 1, &rng);
    failed_shapes += !check_shape(&big[i], own, 2, &rng);
  }
  CHECK_MSG(failed_shapes == 0, "own %d: %d shapes failed", own, failed_shapes);
}

int main(void) {
  check_all_shapes(0);
  if (nn_own_sgemm_available()) {
    check_all_shapes(1);
    CHECK(bm_gemm_resolve(BM_GEMM_OWN) == BM_GEMM_OWN);
  } else {
    fprintf(stderr, "test_nn_sgemm: no AVX-512F here, own GEMM not tested\n");
    CHECK(bm_gemm_resolve(BM_GEMM_OWN) == BM_GEMM_BLAS);
  }
  CHECK(bm_gemm_resolve(BM_GEMM_BLAS) == BM_GEMM_BLAS);
  /* auto picks own exactly when OpenBLAS runs its generic kernels on an AVX-512 CPU */
  int generic = !strcmp(bm_nn_blas_core(), "Prescott");
  CHECK(bm_gemm_resolve(BM_GEMM_AUTO) ==
        (generic && nn_own_sgemm_available() ? BM_GEMM_OWN : BM_GEMM_BLAS));
  return bm_test_finish("test_nn_sgemm");
}
