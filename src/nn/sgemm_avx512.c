/* The engine's own single-precision GEMM for AVX-512 CPUs, used instead of OpenBLAS when
 * OpenBLAS does not recognise the CPU and runs its generic "Prescott" kernels (gemm.c makes
 * the choice, per network). Single-threaded: gemm.c splits C between threads as for BLAS.
 *
 *   C[m][n] = alpha * op(A)[m][k] * op(B)[k][n] + beta * C      (row-major)
 *   op(A)[i][p] = trans_a ? a[p * lda + i] : a[i * lda + p]
 *   op(B)[p][j] = trans_b ? b[j * ldb + p] : b[p * ldb + j]
 *
 * Blocking (the classic packed GEMM):
 *   for each block of NC columns of C                                 (j0)
 *     for each block of KC steps of the inner dimension               (p0)
 *       pack op(B)[p0:+KC][j0:+NC] into slivers of NR columns: bp[sliver][p][0:NR]
 *       for each block of MC rows of C                                (i0)
 *         pack alpha * op(A)[i0:+MC][p0:+KC] into slivers of MR rows: ap[sliver][p][0:MR]
 *         for each NR-column sliver, for each MR-row sliver:
 *           micro-kernel: an MR x NR tile of C held in 2 * MR zmm registers, updated by
 *           KC rank-1 steps (two 16-float loads of B, MR broadcasts of A, 2 * MR FMAs)
 * One B sliver (KC x NR floats = 32 KB) stays in the L1 cache while the kernel walks the A
 * block (MC x KC floats = 192 KB, in the 2 MB L2); the packed B block (at most KC x NC floats
 * = 2 MB) is reused by every A block. Packing makes both operands contiguous whatever the
 * transposition and pads edge slivers with zeros, so the kernel always computes a full tile;
 * edge tiles go through a small buffer and only their valid part reaches C. Narrow products
 * (n <= DIRECT_N_MAX, A not transposed) read A's rows in place instead of packing them: there
 * each element of A meets only n / 16 FMAs, and packing cost as much as the product.
 * Packing buffers are allocated per call (no global state; callers on several threads each
 * get their own). Each element of C sums its k products in a fixed order, so results do not
 * depend on the thread split. */
#include <immintrin.h>
#include <string.h>

#include "nn/nn.h"

#define MR 12
#define NR 32
#define KC 256
#define MC (MR * 16)
#define NC 2048
#define DIRECT_N_MAX (4 * NR) /* see `direct` below */

int nn_own_sgemm_available(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") != 0;
}

/* bp[s][p][j] = op(B)[p0 + p][j0 + s * NR + j], zero beyond n_cols columns. */
static void pack_b(int trans_b, const float *b, int ldb, int p0, int kc, int j0, int n_cols,
                   float *bp) {
  for (int s = 0; s * NR < n_cols; s++, bp += (size_t)kc * NR) {
    int width = n_cols - s * NR < NR ? n_cols - s * NR : NR;
    int j_first = j0 + s * NR;
    for (int p = 0; p < kc; p++) {
      float *dst = bp + (size_t)p * NR;
      if (!trans_b) {
        memcpy(dst, b + (size_t)(p0 + p) * ldb + j_first, (size_t)width * sizeof(float));
      } else {
        for (int j = 0; j < width; j++)
          dst[j] = b[(size_t)(j_first + j) * ldb + p0 + p];
      }
      for (int j = width; j < NR; j++)
        dst[j] = 0.0f;
    }
  }
}

/* ap[s][p][r] = alpha * op(A)[i0 + s * MR + r][p0 + p], zero beyond n_rows rows. */
static void pack_a(int trans_a, const float *a, int lda, int i0, int n_rows, int p0, int kc,
                   float alpha, float *ap) {
  for (int s = 0; s * MR < n_rows; s++, ap += (size_t)kc * MR) {
    int height = n_rows - s * MR < MR ? n_rows - s * MR : MR;
    int i_first = i0 + s * MR;
    if (trans_a) { /* rows of a hold columns of op(A): contiguous over r */
      for (int p = 0; p < kc; p++) {
        const float *src = a + (size_t)(p0 + p) * lda + i_first;
        float *dst = ap + (size_t)p * MR;
        for (int r = 0; r < height; r++)
          dst[r] = alpha * src[r];
        for (int r = height; r < MR; r++)
          dst[r] = 0.0f;
      }
    } else { /* one row of op(A) at a time, written with stride MR */
      for (int r = 0; r < height; r++) {
        const float *src = a + (size_t)(i_first + r) * lda + p0;
        for (int p = 0; p < kc; p++)
          ap[(size_t)p * MR + r] = alpha * src[p];
      }
      for (int r = height; r < MR; r++)
        for (int p = 0; p < kc; p++)
          ap[(size_t)p * MR + r] = 0.0f;
    }
  }
}

/* c[r][0:NR] (+)= sum over p < kc of a[r * a_row + p * a_step] * bp[p][0:NR] for r < rows
 * (rows <= MR, a constant wherever this is inlined); `add` keeps c's old value, otherwise it
 * is overwritten. Always inlined into the kernels below, which fix the A layout. */
__attribute__((target("avx512f,fma"), always_inline)) static inline void
tile_rows(int rows, int kc, const float *a, size_t a_row, size_t a_step, const float *bp,
          float *c, int ldc, int add) {
  __m512 lo[MR], hi[MR]; /* columns 0..15 and 16..31 of each tile row */
#pragma GCC unroll 12
  for (int r = 0; r < rows; r++) {
    lo[r] = hi[r] = _mm512_setzero_ps();
    /* C's rows lie far apart: ask for the tile now so it is in cache when the sums are done */
    _mm_prefetch((const char *)(c + (size_t)r * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + (size_t)r * ldc + 16), _MM_HINT_T0);
  }
  for (int p = 0; p < kc; p++, a += a_step, bp += NR) {
    __m512 b_lo = _mm512_load_ps(bp), b_hi = _mm512_load_ps(bp + 16);
#pragma GCC unroll 12
    for (int r = 0; r < rows; r++) {
      __m512 a_r = _mm512_set1_ps(a[r * a_row]);
      lo[r] = _mm512_fmadd_ps(a_r, b_lo, lo[r]);
      hi[r] = _mm512_fmadd_ps(a_r, b_hi, hi[r]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < rows; r++) {
    float *row = c + (size_t)r * ldc;
    if (add) {
      lo[r] = _mm512_add_ps(lo[r], _mm512_loadu_ps(row));
      hi[r] = _mm512_add_ps(hi[r], _mm512_loadu_ps(row + 16));
    }
    _mm512_storeu_ps(row, lo[r]);
    _mm512_storeu_ps(row + 16, hi[r]);
  }
}

__attribute__((target("avx512f,fma"), always_inline)) static inline void
tile(int kc, const float *a, size_t a_row, size_t a_step, const float *bp, float *c, int ldc,
     int add) {
  tile_rows(MR, kc, a, a_row, a_step, bp, c, ldc, add);
}

/* A packed: ap[p][r] */
__attribute__((target("avx512f,fma"))) static void kernel_packed(int kc, const float *ap,
                                                                 const float *bp, float *c,
                                                                 int ldc, int add) {
  tile(kc, ap, 1, MR, bp, c, ldc, add);
}

/* A read in place: MR rows of a row-major matrix, lda apart */
__attribute__((target("avx512f,fma"))) static void kernel_direct(int kc, const float *a, int lda,
                                                                 const float *bp, float *c,
                                                                 int ldc, int add) {
  tile(kc, a, (size_t)lda, 1, bp, c, ldc, add);
}

/* C = beta * C for the whole m x n block, used only for beta other than 0
 * and 1. */
static void scale_c(int m, int n, float beta, float *c, int ldc) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++)
      c[(size_t)i * ldc + j] *= beta;
}

int nn_own_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= 0 || n <= 0) return 0;
  if (k <= 0 || alpha == 0.0f) { /* C = beta * C */
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++)
        c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
    return 0;
  }
  int kc_max = k < KC ? k : KC;
  int nc_max = n < NC ? (n + NR - 1) / NR * NR : NC;
  int mc_max = m < MC ? (m + MR - 1) / MR * MR : MC;
  float *bp = bm_malloc_aligned((size_t)kc_max * nc_max * sizeof(float));
  float *ap = bm_malloc_aligned((size_t)kc_max * mc_max * sizeof(float));
  if (!bp || !ap) {
    bm_free_aligned(bp);
    bm_free_aligned(ap);
    return -1;
  }
  /* beta is applied before the first KC block: 0 overwrites, 1 adds, others pre-scale */
  int add_first = beta != 0.0f;
  if (beta != 0.0f && beta != 1.0f) scale_c(m, n, beta, c, ldc);
  float edge[MR * NR] __attribute__((aligned(64)));
  /* With few columns, packing A would cost about as much as the product (each element of A
   * meets only n / 16 FMAs): then the kernel reads the rows of A in place. */
  int direct = !trans_a && alpha == 1.0f && (n < NC ? n : NC) <= DIRECT_N_MAX;
  for (int j0 = 0; j0 < n; j0 += NC) {
    int nc = n - j0 < NC ? n - j0 : NC;
    for (int p0 = 0; p0 < k; p0 += KC) {
      int kc = k - p0 < KC ? k - p0 : KC;
      int add = p0 > 0 || add_first;
      pack_b(trans_b, b, ldb, p0, kc, j0, nc, bp);
      for (int i0 = 0; i0 < m; i0 += MC) {
        int mc = m - i0 < MC ? m - i0 : MC;
        if (!direct) pack_a(trans_a, a, lda, i0, mc, p0, kc, alpha, ap);
        for (int jr = 0; jr < nc; jr += NR) {
          int width = nc - jr < NR ? nc - jr : NR;
          const float *b_sliver = bp + (size_t)(jr / NR) * kc * NR;
          for (int ir = 0; ir < mc; ir += MR) {
            int height = mc - ir < MR ? mc - ir : MR;
            float *c_tile = c + (size_t)(i0 + ir) * ldc + j0 + jr;
            int full = height == MR && width == NR;
            float *out = full ? c_tile : edge; /* edge tiles: computed aside, then copied */
            int out_ld = full ? ldc : NR, out_add = full ? add : 0;
            if (direct && height == MR) {
              kernel_direct(kc, a + (size_t)(i0 + ir) * lda + p0, lda, b_sliver, out, out_ld,
                            out_add);
            } else {
              const float *a_sliver = ap + (size_t)(ir / MR) * kc * MR;
              if (direct) { /* the last rows: packed with zero padding, this sliver only */
                pack_a(trans_a, a, lda, i0 + ir, height, p0, kc, alpha, ap);
                a_sliver = ap;
              }
              kernel_packed(kc, a_sliver, b_sliver, out, out_ld, out_add);
            }
            if (full) continue;
            for (int r = 0; r < height; r++)
              for (int j = 0; j < width; j++)
                c_tile[(size_t)r * ldc + j] =
                    add ? c_tile[(size_t)r * ldc + j] + edge[r * NR + j] : edge[r * NR + j];
          }
        }
      }
    }
  }
  bm_free_aligned(bp);
  bm_free_aligned(ap);
  return 0;
}

/* The last rows < MR of a product with A read in place: one kernel per row count, so
 * that the tile's registers are still fixed at compile time. */
__attribute__((target("avx512f,fma"))) static void kernel_direct_rows(int rows, int kc,
                                                                      const float *a, int lda,
                                                                      const float *bp, float *c,
                                                                      int ldc, int add) {
  switch (rows) {
#define ROWS(R)                                                                              \
  case R: tile_rows(R, kc, a, (size_t)lda, 1, bp, c, ldc, add); break;
    ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6) ROWS(7) ROWS(8) ROWS(9) ROWS(10) ROWS(11)
#undef ROWS
  default: break;
  }
}

int nn_own_sgemm_n32(int m, int k, const float *a, int lda, const float *bp, float *c, int ldc,
                     int accumulate, const void *prefetch, size_t prefetch_bytes) {
  int calls = ((k + KC - 1) / KC) * ((m + MR - 1) / MR);
  size_t lines = (prefetch_bytes + 63) / 64, per_call = (lines + calls - 1) / calls, line = 0;
  for (int p0 = 0; p0 < k; p0 += KC) {
    int kc = k - p0 < KC ? k - p0 : KC, add = p0 > 0 || accumulate;
    const float *b_block = bp + (size_t)p0 * NR;
    for (int ir = 0; ir < m; ir += MR) {
      /* a share of the caller's next data, towards L2, while this tile computes */
      for (size_t q = 0; q < per_call && line < lines; q++, line++)
        _mm_prefetch((const char *)prefetch + line * 64, _MM_HINT_T1);
      if (ir + MR <= m)
        kernel_direct(kc, a + (size_t)ir * lda + p0, lda, b_block, c + (size_t)ir * ldc, ldc,
                      add);
      else
        kernel_direct_rows(m - ir, kc, a + (size_t)ir * lda + p0, lda, b_block,
                           c + (size_t)ir * ldc, ldc, add);
    }
  }
  return 0;
}
