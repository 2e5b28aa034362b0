/* Inference-mode 1x1 convolutions on few pixels (the 13x13 and 26x26 layers of a detector
 * at batch 1): out[r][f] = act(a[f] * sum_c in[r][c] * w[f][c] + b[f]).
 *
 * With few rows the generic path splits the product by filters and each thread's GEMM
 * packs its half of the weights transposed, one float at a time. Here the weights of each
 * block of 32 filters are transposed 16 x 16 at a time in registers into the own GEMM's
 * packed format wt[c][0:32], and nn_own_sgemm_n32 multiplies the input rows by them. The
 * input is first copied into rows of in_c + 16 floats: with 1024 channels its rows lie
 * 4 KB apart and the 12 rows the kernel reads at once would share one L1 set.
 *
 * Threads copy equal row ranges, then (after a barrier) take equal ranges of filter blocks;
 * every output is summed in the same order whatever the thread count. */
#include <omp.h>

#include "nn/nn.h"

#define PW_NB 32 /* filters per block: one packed-B sliver of the GEMM */

typedef float v16f_aligned __attribute__((vector_size(64), aligned(64), may_alias));

static size_t padded_row(const bm_layer_info *l) { return (size_t)l->in_c + 16; }

int nn_pointwise_fits(const bm_layer_info *l, int batch) {
  size_t rows = (size_t)batch * l->out_h * l->out_w;
  return l->type == BM_LAYER_CONV && l->size == 1 && l->stride == 1 && l->pad == 0 &&
         l->groups == 1 && l->in_c % 16 == 0 && l->filters >= PW_NB &&
         rows <= NN_POINTWISE_MAX_ROWS;
}

/* Per thread: packed weights of one block (in_c x 32) and its product (rows x 32). */
static size_t thread_floats(const bm_layer_info *l, size_t rows) {
  return (size_t)l->in_c * PW_NB + rows * PW_NB;
}

size_t nn_pointwise_work_floats(const bm_layer_info *l, int batch, int threads) {
  size_t rows = (size_t)batch * l->out_h * l->out_w;
  return rows * padded_row(l) + (size_t)threads * thread_floats(l, rows);
}

/* wt[c][j] = w[f0 + j][c] for j < nf, 0 for nf <= j < 32. */
static void pack_weights(const float *w, int C, int f0, int nf, float *wt) {
  const nn_v16f zero = {0};
  for (int half = 0; half < PW_NB / 16; half++)
    for (int c0 = 0; c0 < C; c0 += 16) {
      nn_v16f rows[16]; /* rows[i]: filter f0 + half * 16 + i, channels c0 .. c0 + 15 */
      for (int i = 0; i < 16; i++) {
        int j = half * 16 + i;
        rows[i] = j < nf ? *(const nn_v16f *)(w + (size_t)(f0 + j) * C + c0) : zero;
      }
      nn_transpose16(rows); /* rows[ci]: channel c0 + ci, 16 filters */
      for (int ci = 0; ci < 16; ci++)
        *(v16f_aligned *)(wt + (size_t)(c0 + ci) * PW_NB + half * 16) = rows[ci];
    }
}

void nn_pointwise_forward(nn_ctx *ctx, nn_layer *l, const float *in, const float *a,
                          const float *b) {
  const bm_layer_info *info = &l->info;
  int C = info->in_c, F = info->filters, blocks = (F + PW_NB - 1) / PW_NB;
  size_t rows = (size_t)ctx->batch * info->out_h * info->out_w, ld = padded_row(info);
  float *x = ctx->work, *per_thread = x + rows * ld;
#pragma omp parallel num_threads(ctx->threads)
  {
    int p = omp_get_thread_num(), parts = omp_get_num_threads();
    float *wt = per_thread + (size_t)p * thread_floats(info, rows), *m = wt + (size_t)C * PW_NB;
    size_t r0, r1, blk0, blk1;
    nn_part(rows, parts, p, &r0, &r1);
    for (size_t r = r0; r < r1; r++)
      for (int c = 0; c < C; c += 16)
        *(nn_v16f *)(x + r * ld + c) = *(const nn_v16f *)(in + r * C + c);
#pragma omp barrier
    nn_part((size_t)blocks, parts, p, &blk0, &blk1);
    for (size_t blk = blk0; blk < blk1; blk++) {
      int f0 = (int)blk * PW_NB, nf = F - f0 < PW_NB ? F - f0 : PW_NB;
      pack_weights(l->weight, C, f0, nf, wt);
      if (!ctx->own_gemm || nn_own_sgemm_n32((int)rows, C, x, (int)ld, wt, m, PW_NB, 0, NULL, 0))
        nn_gemm(0, 1, 0, 0, (int)rows, PW_NB, C, 1.0f, x, (int)ld, wt, PW_NB, 0.0f, m, PW_NB);
      /* out[r][f0 + j] = act(a z + b): the affine map of this block's filters */
      nn_affine_act_block(m, PW_NB, l->out + f0, F, rows, nf, a ? a + f0 : NULL, b + f0,
                          info->activation);
    }
  }
}

/* ---- 1x1 convolutions without a GEMM library (any mode, any number of pixels) -----------
 * z[r][f] = sum over c < C of in[r][c] * w[f][c] with C <= NN_NARROW_MAX_C (64): products too
 * thin for a GEMM library (K = C of 8 to 64); at inference with OpenBLAS also up to
 * NN_NARROW_INFER_MAX_C channels, products too small (100 to 1600 rows) for OpenBLAS to pay
 * for its packing. The weights are transposed to wt[c][0:Fp] (Fp =
 * filters rounded up to 2 vectors, zeros beyond); blocks of NARROW_R pixels x 2 vectors of
 * filters are sums of C broadcast inputs times weight vectors in 2 * NARROW_R registers (the
 * classic 6 x 16 AVX2 tile, 6 x 32 with AVX-512). */
#define NARROW_R 6
#define NARROW_NB (2 * NN_VW)

static int round_nb(int n) { return (n + NARROW_NB - 1) / NARROW_NB * NARROW_NB; }

int nn_narrow_fits(const bm_layer_info *l, int wide) {
  return l->type == BM_LAYER_CONV && l->size == 1 && l->stride == 1 && l->pad == 0 &&
         l->groups == 1 && l->in_c <= (wide ? NN_NARROW_INFER_MAX_C : NN_NARROW_MAX_C) &&
         (size_t)l->in_c * round_nb(l->filters) <= NN_NARROW_MAX_WEIGHTS;
}

void nn_narrow_weights(const nn_layer *l, float *wt) {
  int C = l->info.in_c, F = l->info.filters, Fp = round_nb(F);
  for (int c = 0; c < C; c++)
    for (int f = 0; f < Fp; f++) wt[(size_t)c * Fp + f] = f < F ? l->weight[(size_t)f * C + c] : 0.0f;
}

/* z[0:R][f : f + nf] for pixels in[0:R] (R <= NARROW_R, nf <= NARROW_NB) */
static inline __attribute__((always_inline)) void narrow_block(const float *in, int C,
                                                               const float *wt, int Fp,
                                                               float *z, int F, int f, int nf,
                                                               int R) {
  nn_vf acc0[NARROW_R], acc1[NARROW_R];
  for (int i = 0; i < R; i++) acc0[i] = acc1[i] = (nn_vf){0};
  if (nf <= NN_VW) { /* one vector of filters (e.g. 8 filters with AVX2) */
    for (int c = 0; c < C; c++) {
      nn_vf w0 = NN_VLOAD(wt + (size_t)c * Fp + f);
      for (int i = 0; i < R; i++) acc0[i] = NN_FMA(NN_VSPLAT(in[(size_t)i * C + c]), w0, acc0[i]);
    }
  } else {
    for (int c = 0; c < C; c++) {
      nn_vf w0 = NN_VLOAD(wt + (size_t)c * Fp + f);
      nn_vf w1 = NN_VLOAD(wt + (size_t)c * Fp + f + NN_VW);
      for (int i = 0; i < R; i++) {
        nn_vf x = NN_VSPLAT(in[(size_t)i * C + c]);
        acc0[i] = NN_FMA(x, w0, acc0[i]);
        acc1[i] = NN_FMA(x, w1, acc1[i]);
      }
    }
  }
  for (int i = 0; i < R; i++) {
    float *zr = z + (size_t)i * F + f;
    if (nf == NARROW_NB) {
      NN_VSTORE(zr, acc0[i]);
      NN_VSTORE(zr + NN_VW, acc1[i]);
    } else {
      for (int j = 0; j < nf; j++) zr[j] = j < NN_VW ? acc0[i][j] : acc1[i][j - NN_VW];
    }
  }
}

void nn_narrow_rows(const bm_layer_info *l, const float *in, size_t r0, size_t r1,
                    const float *wt, float *z) {
  int C = l->in_c, F = l->filters, Fp = round_nb(F);
  size_t r = r0;
  for (; r + NARROW_R <= r1; r += NARROW_R)
    for (int f = 0; f < F; f += NARROW_NB) {
      if (F - f >= NARROW_NB)
        narrow_block(in + r * C, C, wt, Fp, z + r * F, F, f, NARROW_NB, NARROW_R);
      else
        narrow_block(in + r * C, C, wt, Fp, z + r * F, F, f, F - f, NARROW_R);
    }
  for (; r < r1; r++)
    for (int f = 0; f < F; f += NARROW_NB)
      narrow_block(in + r * C, C, wt, Fp, z + r * F, F, f,
                   F - f < NARROW_NB ? F - f : NARROW_NB, 1);
}
