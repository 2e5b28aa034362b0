/* The only file that calls BLAS. OpenBLAS runs single-threaded; parallelism comes from
 * splitting C into row (or column) blocks, one cblas_sgemm per OpenMP thread. Measured on the
 * 2-core machine (docs/NN.md): OpenBLAS's own threading is slower than one thread on the
 * tall-skinny products of convolutions, while two half-products run at almost twice the
 * speed. Blocks never split the inner dimension k, so every element of C is computed by one
 * thread in a fixed order: results do not depend on the thread count. */
#include <cblas.h>

#include "nn/nn.h"

/* Products below this many FLOP run on one thread: a fork costs more than it saves. */
#define NN_GEMM_SPLIT_MIN_FLOP 4e6

void nn_blas_single_threaded(void) { openblas_set_num_threads(1); }

const char *bm_nn_blas_core(void) { return openblas_get_corename(); }

int bm_nn_time_sgemm(int n, int threads, double *seconds, bm_error *err) {
  size_t count = (size_t)n * n;
  float *a = bm_malloc_aligned(count * sizeof(float)), *b = bm_malloc_aligned(count * sizeof(float));
  float *c = bm_malloc_aligned(count * sizeof(float));
  if (!a || !b || !c) {
    bm_free_aligned(a);
    bm_free_aligned(b);
    bm_free_aligned(c);
    return bm_fail(err, "out of memory for a %d x %d product", n, n);
  }
  for (size_t i = 0; i < count; i++) {
    a[i] = (float)(i % 17) * 0.01f;
    b[i] = (float)(i % 13) * 0.01f;
  }
  nn_blas_single_threaded();
  double start = bm_now();
  nn_gemm(threads, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
  *seconds = bm_now() - start;
  bm_free_aligned(a);
  bm_free_aligned(b);
  bm_free_aligned(c);
  return 0;
}

void nn_gemm(int threads, int trans_a, int trans_b, int m, int n, int k, float alpha,
             const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  int parts = threads;
  if (2.0 * m * n * k < NN_GEMM_SPLIT_MIN_FLOP) parts = 1;
  if (parts <= 1) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  /* Split the longer side of C; blocks are multiples of 16 rows/columns (one AVX-512 vector)
   * so the kernels' edge cases stay at the very end. */
  int split_rows = m >= n;
  int len = split_rows ? m : n;
  int block = (len + parts - 1) / parts;
  block = (block + 15) / 16 * 16;
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    int start = p * block;
    int count = len - start < block ? len - start : block;
    if (count <= 0) continue;
    if (split_rows) {
      const float *a_part = trans_a ? a + start : a + (size_t)start * lda;
      cblas_sgemm(CblasRowMajor, ta, tb, count, n, k, alpha, a_part, lda, b, ldb, beta,
                  c + (size_t)start * ldc, ldc);
    } else {
      const float *b_part = trans_b ? b + (size_t)start * ldb : b + start;
      cblas_sgemm(CblasRowMajor, ta, tb, m, count, k, alpha, a, lda, b_part, ldb, beta,
                  c + start, ldc);
    }
  }
}
