/* Inference-mode direct convolution for first layers: few input channels (an RGB image),
 * 16 or 32 filters. There im2col + GEMM spends most of its time writing and reading the
 * im2col matrix (k = 27 floats per output pixel for a 3x3 conv on RGB, e.g. 19 MB for a
 * 416x416 image) while the product itself is tiny; here each output pixel's k products are
 * summed straight from the NHWC input:
 *
 *   out[b][oy][ox][f] = act(a[f] * sum over (ky, kx, c) of in[b][iy][ix][c] * w[f][ky][kx][c]
 *                           + b[f]),   iy = oy * stride - pad + ky, ix likewise
 *
 * eight output pixels at a time (eight independent vector sums per 16 filters, to hide the
 * FMA latency), with the weights transposed once per call to wt[(ky * size + kx) * C + c][f].
 * Threads take equal ranges of output rows; every output is summed in the same order
 * whatever the thread count.
 *
 * Training uses the same sums (nn_direct_conv_pixels) for any range of output pixels: conv.c
 * calls it chunk by chunk instead of im2col + GEMM and keeps the sums as z (batch norm's
 * input), so the kernel serves both modes. */
#include <omp.h>

#include "nn/nn.h"

#define DIRECT_PIXELS 8

typedef float v16f __attribute__((vector_size(64), aligned(4), may_alias));

int nn_direct_fits(const bm_layer_info *l) {
  int k = l->size * l->size * l->in_c;
  return l->type == BM_LAYER_CONV && l->groups == 1 && l->in_c <= NN_DIRECT_MAX_C &&
         (l->filters == 16 || l->filters == 32) && k <= NN_DIRECT_MAX_K;
}

/* Sums of DIRECT_PIXELS output pixels starting at column ox0 whose windows lie inside the
 * image horizontally; fv = filters / 16 (a constant at each call). Along a window row the
 * size * C inputs are contiguous (NHWC), so (kx, c) is one index t. */
static inline __attribute__((always_inline)) void group_inside(const bm_layer_info *l,
                                                               const float *in_b, int oy,
                                                               int ox0, const float *wt,
                                                               float *out_row, int fv) {
  int C = l->in_c, S = l->size, F = l->filters, run = S * C;
  size_t step = (size_t)l->stride * C; /* from one pixel's window to the next */
  v16f acc0[DIRECT_PIXELS], acc1[DIRECT_PIXELS];
#pragma GCC unroll 8
  for (int r = 0; r < DIRECT_PIXELS; r++) acc0[r] = acc1[r] = (v16f){0};
  for (int ky = 0; ky < S; ky++) {
    int iy = oy * l->stride - l->pad + ky;
    if (iy < 0 || iy >= l->in_h) continue;
    const float *x = in_b + ((size_t)iy * l->in_w + (size_t)(ox0 * l->stride - l->pad)) * C;
    const float *wk = wt + (size_t)ky * run * F;
    for (int t = 0; t < run; t++, x++, wk += F) {
      v16f w0 = *(const v16f *)wk;
#pragma GCC unroll 8
      for (int r = 0; r < DIRECT_PIXELS; r++) acc0[r] += x[r * step] * w0;
      if (fv > 1) {
        v16f w1 = *(const v16f *)(wk + 16);
#pragma GCC unroll 8
        for (int r = 0; r < DIRECT_PIXELS; r++) acc1[r] += x[r * step] * w1;
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < DIRECT_PIXELS; r++) {
    float *o = out_row + (size_t)(ox0 + r) * F;
    *(v16f *)o = acc0[r];
    if (fv > 1) *(v16f *)(o + 16) = acc1[r];
  }
}

/* The same for one pixel anywhere (image borders), checking every tap. */
static void pixel_any(const bm_layer_info *l, const float *in_b, int oy, int ox,
                      const float *wt, float *out_row) {
  int C = l->in_c, S = l->size, F = l->filters;
  v16f acc[2] = {{0}, {0}};
  for (int ky = 0; ky < S; ky++) {
    int iy = oy * l->stride - l->pad + ky;
    if (iy < 0 || iy >= l->in_h) continue;
    for (int kx = 0; kx < S; kx++) {
      int ix = ox * l->stride - l->pad + kx;
      if (ix < 0 || ix >= l->in_w) continue;
      const float *x = in_b + ((size_t)iy * l->in_w + ix) * C;
      for (int c = 0; c < C; c++)
        for (int j = 0; j < F / 16; j++)
          acc[j] += x[c] * *(const v16f *)(wt + ((size_t)(ky * S + kx) * C + c) * F + j * 16);
    }
  }
  for (int j = 0; j < F / 16; j++) *(v16f *)(out_row + (size_t)ox * F + j * 16) = acc[j];
}

/* Sums of output pixels [ox_begin, ox_end) of one output row [b][oy] into out_row. */
static inline __attribute__((always_inline)) void direct_row(const bm_layer_info *l,
                                                             const float *in_b, int oy,
                                                             int ox_begin, int ox_end,
                                                             const float *wt, float *out_row,
                                                             int fv) {
  for (int ox0 = ox_begin; ox0 < ox_end;) {
    int x_first = ox0 * l->stride - l->pad;
    int x_last = (ox0 + DIRECT_PIXELS - 1) * l->stride - l->pad + l->size - 1;
    if (ox0 + DIRECT_PIXELS <= ox_end && x_first >= 0 && x_last < l->in_w) {
      group_inside(l, in_b, oy, ox0, wt, out_row, fv);
      ox0 += DIRECT_PIXELS;
    } else {
      pixel_any(l, in_b, oy, ox0, wt, out_row);
      ox0++;
    }
  }
}

/* Sums of the output pixels [r0, r1) of the batch (r = (b * out_h + oy) * out_w + ox) into
 * z[r][0:filters], row piece by row piece. */
__attribute__((optimize("fp-contract=fast"))) static void direct_pixels(
    const bm_layer_info *l, const float *in, size_t r0, size_t r1, const float *wt, float *z) {
  size_t out_w = (size_t)l->out_w;
  for (size_t r = r0; r < r1;) {
    size_t row = r / out_w;
    int ox_begin = (int)(r - row * out_w);
    int ox_end = r1 - row * out_w < out_w ? (int)(r1 - row * out_w) : (int)out_w;
    int bi = (int)(row / (size_t)l->out_h), oy = (int)(row % (size_t)l->out_h);
    const float *in_b = in + (size_t)bi * l->in_h * l->in_w * l->in_c;
    float *out_row = z + row * out_w * l->filters;
    if (l->filters == 16)
      direct_row(l, in_b, oy, ox_begin, ox_end, wt, out_row, 1);
    else
      direct_row(l, in_b, oy, ox_begin, ox_end, wt, out_row, 2);
    r = (row + 1) * out_w;
  }
}

void nn_direct_weights(const nn_layer *l, float *wt) {
  int k = l->info.size * l->info.size * l->info.in_c, F = l->info.filters;
  for (int f = 0; f < F; f++)
    for (int t = 0; t < k; t++) wt[t * F + f] = l->weight[(size_t)f * k + t];
}

void nn_direct_conv_pixels(const bm_layer_info *l, const float *in, size_t r0, size_t r1,
                           const float *wt, float *z) {
  direct_pixels(l, in, r0, r1, wt, z);
}

/* Rows [first, end) of the batch's output rows; each row's affine map and activation are
 * applied while it is in cache. */
static void direct_rows(const bm_layer_info *l, const float *in, size_t first, size_t end,
                        const float *wt, const float *a, const float *b, float *out) {
  size_t row_pixels = (size_t)l->out_w;
  for (size_t row = first; row < end; row++) {
    float *out_row = out + row * row_pixels * l->filters;
    direct_pixels(l, in, row * row_pixels, (row + 1) * row_pixels, wt, out);
    nn_affine_act_rows(out_row, out_row, 0, row_pixels, l->filters, a, b, l->activation);
  }
}

void nn_direct_forward(nn_ctx *ctx, nn_layer *l, const float *in, const float *a,
                       const float *b) {
  const bm_layer_info *info = &l->info;
  float wt[NN_DIRECT_MAX_K * 32] __attribute__((aligned(64)));
  nn_direct_weights(l, wt);
  size_t rows = (size_t)ctx->batch * info->out_h;
  int parts = nn_parts(rows * info->out_w * info->filters, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(rows, parts, p, &first, &end);
    direct_rows(info, in, first, end, wt, a, b, l->out);
  }
}
