/* The only file that calls BLAS. Each network uses either OpenBLAS or the engine's own
 * AVX-512 GEMM (sgemm_avx512.c), chosen per network (bm_net_set_gemm): the default takes the
 * own GEMM when OpenBLAS runs its generic "Prescott" kernels on a CPU with AVX-512F, where
 * OpenBLAS reaches only 7-30 GFLOP/s. Either runs single-threaded; parallelism comes from
 * splitting C into row (or column) blocks, one cblas_sgemm per OpenMP thread. Measured on the
 * 2-core machine (docs/NN.md): OpenBLAS's own threading is slower than one thread on the
 * tall-skinny products of convolutions, while two half-products run at almost twice the
 * speed. Blocks never split the inner dimension k, so every element of C is computed by one
 * thread in a fixed order: results do not depend on the thread count. */
#include <cblas.h>
#include <string.h>

#include "nn/nn.h"

/* Products below this many FLOP run on one thread: a fork costs more than it saves. */
#define NN_GEMM_SPLIT_MIN_FLOP 4e6

void nn_blas_single_threaded(void) { openblas_set_num_threads(1); }

const char *bm_nn_blas_core(void) { return openblas_get_corename(); }

const char *bm_gemm_kind_name(bm_gemm_kind kind) {
  switch (kind) {
  case BM_GEMM_AUTO: return "auto";
  case BM_GEMM_BLAS: return "blas";
  case BM_GEMM_OWN: return "own";
  }
  return "?";
}

bm_gemm_kind bm_gemm_resolve(bm_gemm_kind kind) {
  if (kind == BM_GEMM_BLAS) return BM_GEMM_BLAS;
  if (!nn_own_sgemm_available()) return BM_GEMM_BLAS;
  if (kind == BM_GEMM_OWN) return BM_GEMM_OWN;
  const char *core = openblas_get_corename();
  return core && !strcmp(core, "Prescott") ? BM_GEMM_OWN : BM_GEMM_BLAS;
}

/* One product on the calling thread; the own GEMM falls back to BLAS if it cannot get its
 * packing buffers. */
static void gemm_one(int own, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n,
                     int k, float alpha, const float *a, int lda, const float *b, int ldb,
                     float beta, float *c, int ldc) {
  if (own && nn_own_sgemm(ta == CblasTrans, tb == CblasTrans, m, n, k, alpha, a, lda, b, ldb,
                          beta, c, ldc) == 0)
    return;
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int bm_nn_time_sgemm(int n, int threads, bm_gemm_kind kind, double *seconds, bm_error *err) {
  size_t count = (size_t)n * n;
  float *a = bm_malloc_aligned(count * sizeof(float));
  float *b = bm_malloc_aligned(count * sizeof(float));
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
  nn_gemm(bm_gemm_resolve(kind) == BM_GEMM_OWN, threads, 0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f,
          c, n);
  *seconds = bm_now() - start;
  bm_free_aligned(a);
  bm_free_aligned(b);
  bm_free_aligned(c);
  return 0;
}

void nn_gemm(int own, int threads, int trans_a, int trans_b, int m, int n, int k, float alpha,
             const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return;
  enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  int parts = threads;
  if (2.0 * m * n * k < NN_GEMM_SPLIT_MIN_FLOP) parts = 1;
  if (parts <= 1) {
    gemm_one(own, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
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
      gemm_one(own, ta, tb, count, n, k, alpha, a_part, lda, b, ldb, beta,
               c + (size_t)start * ldc, ldc);
    } else {
      const float *b_part = trans_b ? b + (size_t)start * ldb : b + start;
      gemm_one(own, ta, tb, m, count, k, alpha, a, lda, b_part, ldb, beta, c + start, ldc);
    }
  }
}

/* ---- small products, without BLAS ------------------------------------------------------
 * A first conv layer has k = 3 * 3 * 3 = 27 and 16 filters: OpenBLAS spends most of such a
 * product packing its operands and reaches about 40 GFLOP/s, these loops about twice that.
 * They use GCC's vector extension (16 floats, one AVX-512 register; narrower hardware gets
 * the same code in pieces). n_cols must be a multiple of 16; k <= NN_SMALL_K. */
typedef float v16f __attribute__((vector_size(64), aligned(4), may_alias));

int nn_small_gemm_fits(int n_cols, int k) {
  return n_cols % 16 == 0 && n_cols <= NN_SMALL_N && k <= NN_SMALL_K;
}

/* c[i][j] = sum_t a[i][t] * b[j][t]  for i < m, j < n_cols (c = a * b^T) */
__attribute__((optimize("fp-contract=fast"))) void nn_small_gemm_nt(
    int m, int n_cols, int k, const float *a, int lda, const float *b, int ldb, float *c,
    int ldc) {
  float bt[NN_SMALL_K * NN_SMALL_N]; /* b transposed: bt[t][j] */
  for (int j = 0; j < n_cols; j++)
    for (int t = 0; t < k; t++) bt[t * n_cols + j] = b[(size_t)j * ldb + t];
  for (int j0 = 0; j0 < n_cols; j0 += 16) {
    int i = 0;
    for (; i + 8 <= m; i += 8) { /* 8 rows at once: 8 independent accumulators */
      v16f acc[8] = {{0}};
      for (int t = 0; t < k; t++) {
        v16f bv = *(const v16f *)(bt + t * n_cols + j0);
        for (int r = 0; r < 8; r++) acc[r] += a[(size_t)(i + r) * lda + t] * bv;
      }
      for (int r = 0; r < 8; r++) *(v16f *)(c + (size_t)(i + r) * ldc + j0) = acc[r];
    }
    for (; i < m; i++) {
      v16f acc = {0};
      for (int t = 0; t < k; t++)
        acc += a[(size_t)i * lda + t] * *(const v16f *)(bt + t * n_cols + j0);
      *(v16f *)(c + (size_t)i * ldc + j0) = acc;
    }
  }
}

/* `width` (<= 8) columns t0.. of c += a^T * b for 16 columns j0.. of a: one accumulator per
 * column of b, kept in registers; width is a constant at each call. */
static inline __attribute__((always_inline)) void tn_block(int m, const float *a, int lda,
                                                           const float *b, int ldb, float *c,
                                                           int ldc, int width) {
  v16f acc[8] = {{0}};
  for (int i = 0; i < m; i++) {
    v16f av = *(const v16f *)(a + (size_t)i * lda);
    const float *bi = b + (size_t)i * ldb;
    for (int t = 0; t < width; t++) acc[t] += bi[t] * av;
  }
  for (int t = 0; t < width; t++)
    for (int j = 0; j < 16; j++) c[(size_t)j * ldc + t] += acc[t][j];
}

/* c[j][t] += sum_i a[i][j] * b[i][t]  for j < n_cols, t < k (c += a^T * b, summed over m) */
__attribute__((optimize("fp-contract=fast"))) void nn_small_gemm_tn_add(
    int m, int n_cols, int k, const float *a, int lda, const float *b, int ldb, float *c,
    int ldc) {
  for (int j0 = 0; j0 < n_cols; j0 += 16)
    for (int t0 = 0; t0 < k; t0 += 8) {
      const float *a_j = a + j0, *b_t = b + t0;
      float *c_jt = c + (size_t)j0 * ldc + t0;
      switch (k - t0 < 8 ? k - t0 : 8) {
      case 8: tn_block(m, a_j, lda, b_t, ldb, c_jt, ldc, 8); break;
      case 7: tn_block(m, a_j, lda, b_t, ldb, c_jt, ldc, 7); break;
      case 6: tn_block(m, a_j, lda, b_t, ldb, c_jt, ldc, 6); break;
      case 5: tn_block(m, a_j, lda, b_t, ldb, c_jt, ldc, 5); break;
      case 4: tn_block(m, a_j, lda, b_t, ldb, c_jt, ldc, 4); break;
      case 3: tn_block(m, a_j, lda, b_t, ldb, c_jt, ldc, 3); break;
      case 2: tn_block(m, a_j, lda, b_t, ldb, c_jt, ldc, 2); break;
      default: tn_block(m, a_j, lda, b_t, ldb, c_jt, ldc, 1); break;
      }
    }
}
