/* [maxpool] with darknet's geometry: out = (in + padding - size) / stride + 1, windows start
 * at -padding/2 (integer division), so the default padding = size - 1 pads on the right and
 * bottom: size=2 stride=1 keeps the size, size=2 stride=2 halves it (rounding up).
 *   in [batch][in_h][in_w][c]  ->  out [batch][out_h][out_w][c]
 * Pixels outside the input are skipped (never the maximum); every window holds at least
 * one input pixel (checked when the cfg is read). */
#include <float.h>

#include "nn/nn.h"

void nn_maxpool_forward(nn_ctx *ctx, nn_layer *l, const float *in) {
  const bm_layer_info *info = &l->info;
  int c = info->in_c, offset = -(info->padding / 2);
  int rows = ctx->batch * info->out_h;
  int parts = nn_parts((size_t)rows * info->out_w * c, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int r = 0; r < rows; r++) {
    int b = r / info->out_h, oy = r % info->out_h;
    for (int ox = 0; ox < info->out_w; ox++) {
      float *o = l->out + ((size_t)r * info->out_w + ox) * c;
      for (int ch = 0; ch < c; ch++) o[ch] = -FLT_MAX;
      for (int ky = 0; ky < info->size; ky++) {
        int iy = offset + oy * info->stride + ky;
        if (iy < 0 || iy >= info->in_h) continue;
        for (int kx = 0; kx < info->size; kx++) {
          int ix = offset + ox * info->stride + kx;
          if (ix < 0 || ix >= info->in_w) continue;
          const float *s = in + (((size_t)b * info->in_h + iy) * info->in_w + ix) * c;
          for (int ch = 0; ch < c; ch++) o[ch] = s[ch] > o[ch] ? s[ch] : o[ch];
        }
      }
    }
  }
}

/* The gradient of each output goes to the first maximum of its window (scan order ky, kx),
 * found again from the input. Windows overlap when stride < size, so threads split the
 * batch by image: one image's input gradient is written by one thread only. */
void nn_maxpool_backward(nn_ctx *ctx, nn_layer *l, const float *in, float *din) {
  const bm_layer_info *info = &l->info;
  int c = info->in_c, offset = -(info->padding / 2);
  size_t in_pixel = (size_t)info->in_h * info->in_w;
  int parts = nn_parts((size_t)ctx->batch * info->out_h * info->out_w * c, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int b = 0; b < ctx->batch; b++) {
    const float *in_b = in + b * in_pixel * c;
    float *din_b = din + b * in_pixel * c;
    for (int oy = 0; oy < info->out_h; oy++)
      for (int ox = 0; ox < info->out_w; ox++) {
        const float *g = l->dout + (((size_t)b * info->out_h + oy) * info->out_w + ox) * c;
        for (int ch = 0; ch < c; ch++) {
          float best = -FLT_MAX;
          size_t best_at = 0;
          for (int ky = 0; ky < info->size; ky++) {
            int iy = offset + oy * info->stride + ky;
            if (iy < 0 || iy >= info->in_h) continue;
            for (int kx = 0; kx < info->size; kx++) {
              int ix = offset + ox * info->stride + kx;
              if (ix < 0 || ix >= info->in_w) continue;
              size_t at = ((size_t)iy * info->in_w + ix) * c + ch;
              if (in_b[at] > best) {
                best = in_b[at];
                best_at = at;
              }
            }
          }
          din_b[best_at] += g[ch];
        }
      }
  }
}
