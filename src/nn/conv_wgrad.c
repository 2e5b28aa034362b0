/* Weight gradients of 3x3 convolutions summed straight from the NHWC input, without an
 * im2col matrix:
 *
 *   dweight[f][t] += sum over output pixels r of dz[r][f] * x(r, t)
 *   x(r, t) = in[b][oy * stride - pad + ky][ox * stride - pad + kx][c],
 *   t = (ky * size + kx) * C + c   (x = 0 outside the image)
 *
 * Few channels (a first layer: 3x3 on an RGB image, k = 27): for 16 filters at a time the
 * k x 16 sums live in k vector registers (k <= NN_WGRAD_MAX_K leaves room for dz and the
 * taps): each pixel loads its 16 values of dz once and adds k products with broadcast
 * inputs. im2col + GEMM instead writes k floats per pixel, reads them back, and the product
 * splits k into blocks that each pass over dz again. The input rows under each output row
 * are first copied with their zero padding, so every pixel takes the same branch-free path.
 *
 * Pixels are summed in order into the registers, then added to dweight once per call; the
 * caller (conv.c) calls this per cache-sized chunk of each thread's pixels, so the result
 * depends on the thread count only, never on timing.
 *
 * Layers whose channels come in vectors of 16 (C = 16, 32, ...) use a second kernel
 * (wgrad_vectors below) that keeps 3 taps x 8 filters, each a vector of 16 channels, in
 * registers; it replaces im2col + GEMM for boxmine-tiny's 3x3 layers on maps of 20x20 and
 * more (measured: layer 2 of boxmine-tiny 22.9 -> 16.8 ms backward on 1 thread). */
#include <string.h>

#include "nn/nn.h"

typedef float v16f __attribute__((vector_size(64), aligned(4), may_alias));

/* few channels: the k sums of 16 filters in registers (wgrad_block) */
static int few_channels(const bm_layer_info *l) {
  return l->filters % 16 == 0 && l->in_c >= 1 && l->in_c <= 3;
}

/* channels in vectors of 16: 3 taps x 8 filters of one vector in registers (wgrad_vectors);
 * on rows of fewer than 16 pixels loading and storing the sums per row costs too much (on
 * boxmine-tiny's 10x10 layers, 192 filters, the GEMM was 5 % faster) */
static int channel_vectors(const bm_layer_info *l) {
  return l->filters % 8 == 0 && l->in_c % 16 == 0 && l->out_w >= 16;
}

int nn_wgrad_fits(const bm_layer_info *l) {
  size_t span = (size_t)(l->out_w - 1) * l->stride + 3; /* padded row, see padded_rows */
  return l->type == BM_LAYER_CONV && l->groups == 1 && l->size == 3 &&
         (few_channels(l) || channel_vectors(l)) &&
         3 * span * l->in_c <= NN_WGRAD_SCRATCH_FLOATS;
}

/* The S input rows under output row (b, oy) with the padding made explicit: rows[ky][j * C + c]
 * = in[b][oy * stride - pad + ky][j - pad][c] (0 outside the image), j < span. */
static void padded_rows(const bm_layer_info *l, const float *in_b, int oy, int span,
                        float *rows) {
  int C = l->in_c, S = l->size;
  /* columns j in [j0, j1) lie inside the image */
  int j0 = l->pad < span ? l->pad : span;
  int j1 = l->pad + l->in_w < span ? l->pad + l->in_w : span;
  size_t len = (size_t)span * C;
  for (int ky = 0; ky < S; ky++) {
    float *dst = rows + ky * len;
    int iy = oy * l->stride - l->pad + ky;
    if (iy < 0 || iy >= l->in_h || j1 <= j0) {
      memset(dst, 0, len * sizeof(float));
      continue;
    }
    memset(dst, 0, (size_t)j0 * C * sizeof(float));
    memcpy(dst + (size_t)j0 * C, in_b + (size_t)iy * l->in_w * C,
           (size_t)(j1 - j0) * C * sizeof(float));
    memset(dst + (size_t)j1 * C, 0, (size_t)(span - j1) * C * sizeof(float));
  }
}

/* Filters [f0, f0 + 16) over pixels [r0, r1) for a kernel of S x S taps on C channels (both
 * constants at each call, so the k = S * S * C sums are registers); scratch holds the padded
 * rows of one output row. */
static inline __attribute__((always_inline)) void wgrad_block(const bm_layer_info *l,
                                                              const float *in, size_t r0,
                                                              size_t r1, const float *dz,
                                                              int f0, float *dweight,
                                                              float *scratch, int S, int C) {
  const int run = S * C, k = S * run, F = l->filters;
  v16f acc[NN_WGRAD_MAX_K];
#pragma GCC unroll 32
  for (int t = 0; t < k; t++) acc[t] = (v16f){0};
  size_t out_w = (size_t)l->out_w, plane = (size_t)l->out_h * out_w;
  int span = (l->out_w - 1) * l->stride + S;
  size_t len = (size_t)span * C, step = (size_t)l->stride * C;
  for (size_t r = r0; r < r1;) {
    size_t b = r / plane, row = r / out_w;
    int oy = (int)(row % (size_t)l->out_h), ox = (int)(r - row * out_w);
    int ox_end = r1 - row * out_w < out_w ? (int)(r1 - row * out_w) : (int)out_w;
    padded_rows(l, in + b * (size_t)l->in_h * l->in_w * C, oy, span, scratch);
    const float *x[3], *g = dz + (r - r0) * F + f0; /* x: window row ky of this pixel */
    for (int ky = 0; ky < S; ky++) x[ky] = scratch + ky * len + (size_t)ox * step;
    for (int n = ox_end - ox; n > 0; n--, g += F) {
      v16f gv = *(const v16f *)g;
#pragma GCC unroll 3
      for (int ky = 0; ky < S; ky++) {
#pragma GCC unroll 9
        for (int t = 0; t < run; t++) acc[ky * run + t] += x[ky][t] * gv;
        x[ky] += step;
      }
    }
    r += (size_t)(ox_end - ox);
  }
  /* dweight is [filters][k]: column t of the 16 x k block */
#pragma GCC unroll 32
  for (int t = 0; t < k; t++)
    for (int j = 0; j < 16; j++) dweight[(size_t)(f0 + j) * k + t] += acc[t][j];
}

/* Channels in vectors of 16 (C a multiple of 16, filters of 8): for each window row ky, channel
 * vector cv and 8 filters, the 3 x 8 sums (taps kx, filters; each a vector of 16 channels)
 * stay in registers over one output row's pixels, which add 24 products each from 3 input
 * vectors and 8 broadcast values of dz; the sums live in dweight between rows (loaded and
 * stored once per row). Every sum takes the pixels in order. */
__attribute__((optimize("fp-contract=fast"))) static void wgrad_vectors(
    const bm_layer_info *l, const float *in, size_t r0, size_t r1, const float *dz,
    float *dweight, float *scratch) {
  int C = l->in_c, F = l->filters;
  size_t out_w = (size_t)l->out_w, plane = (size_t)l->out_h * out_w;
  int span = (l->out_w - 1) * l->stride + 3;
  size_t len = (size_t)span * C, step = (size_t)l->stride * C, k = (size_t)9 * C;
  for (size_t r = r0; r < r1;) {
    size_t b = r / plane, row = r / out_w;
    int oy = (int)(row % (size_t)l->out_h), ox = (int)(r - row * out_w);
    int ox_end = r1 - row * out_w < out_w ? (int)(r1 - row * out_w) : (int)out_w;
    int n = ox_end - ox;
    padded_rows(l, in + b * (size_t)l->in_h * l->in_w * C, oy, span, scratch);
    const float *dz_row = dz + (r - r0) * F;
    for (int ky = 0; ky < 3; ky++)
      for (int cv = 0; cv < C; cv += 16)
        for (int f0 = 0; f0 < F; f0 += 8) {
          float *dw = dweight + (size_t)f0 * k + (size_t)ky * 3 * C + cv; /* [f][kx][c] */
          v16f acc[3][8];
#pragma GCC unroll 8
          for (int j = 0; j < 8; j++)
#pragma GCC unroll 3
            for (int kx = 0; kx < 3; kx++) acc[kx][j] = *(v16f *)(dw + j * k + kx * C);
          const float *x = scratch + ky * len + (size_t)ox * step + cv, *g = dz_row + f0;
          for (int i = 0; i < n; i++, x += step, g += F) {
            v16f x0 = *(const v16f *)x, x1 = *(const v16f *)(x + C);
            v16f x2 = *(const v16f *)(x + 2 * C);
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
              acc[0][j] += g[j] * x0;
              acc[1][j] += g[j] * x1;
              acc[2][j] += g[j] * x2;
            }
          }
#pragma GCC unroll 8
          for (int j = 0; j < 8; j++)
#pragma GCC unroll 3
            for (int kx = 0; kx < 3; kx++) *(v16f *)(dw + j * k + kx * C) = acc[kx][j];
        }
    r += (size_t)n;
  }
}

__attribute__((optimize("fp-contract=fast"))) void nn_wgrad_pixels(const bm_layer_info *l,
                                                                   const float *in, size_t r0,
                                                                   size_t r1, const float *dz,
                                                                   float *dweight,
                                                                   float *scratch) {
  if (!few_channels(l)) {
    wgrad_vectors(l, in, r0, r1, dz, dweight, scratch);
    return;
  }
  for (int f0 = 0; f0 < l->filters; f0 += 16) {
    switch (l->in_c) {
    case 1: wgrad_block(l, in, r0, r1, dz, f0, dweight, scratch, 3, 1); break;
    case 2: wgrad_block(l, in, r0, r1, dz, f0, dweight, scratch, 3, 2); break;
    default: wgrad_block(l, in, r0, r1, dz, f0, dweight, scratch, 3, 3); break;
    }
  }
}
