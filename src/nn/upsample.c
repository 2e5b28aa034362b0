/* [upsample]: nearest neighbour by an integer stride, times darknet's optional scale.
 *   in [batch][h][w][c]  ->  out [batch][h * stride][w * stride][c] */
#include <string.h>

#include "nn/nn.h"

void nn_upsample_forward(nn_ctx *ctx, nn_layer *l, const float *in) {
  const bm_layer_info *info = &l->info;
  int s = info->stride, c = info->in_c;
  int rows = ctx->batch * info->out_h;
  int parts = nn_parts((size_t)rows * info->out_w * c, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int r = 0; r < rows; r++) {
    int b = r / info->out_h, oy = r % info->out_h;
    const float *src = in + (((size_t)b * info->in_h + oy / s) * info->in_w) * c;
    float *dst = l->out + (size_t)r * info->out_w * c;
    for (int ox = 0; ox < info->out_w; ox++) {
      const float *sp = src + (size_t)(ox / s) * c;
      float *dp = dst + (size_t)ox * c;
      for (int ch = 0; ch < c; ch++) dp[ch] = info->scale * sp[ch];
    }
  }
}

/* din[b][iy][ix] += scale * sum of the stride x stride block of dout it was copied to. */
void nn_upsample_backward(nn_ctx *ctx, nn_layer *l, float *din) {
  const bm_layer_info *info = &l->info;
  int s = info->stride, c = info->in_c;
  int rows = ctx->batch * info->in_h;
  int parts = nn_parts((size_t)rows * info->out_w * c, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int r = 0; r < rows; r++) {
    int b = r / info->in_h, iy = r % info->in_h;
    float *dst = din + (size_t)r * info->in_w * c;
    for (int dy = 0; dy < s; dy++) {
      const float *src = l->dout + (((size_t)b * info->out_h + iy * s + dy) * info->out_w) * c;
      for (int ox = 0; ox < info->out_w; ox++) {
        float *dp = dst + (size_t)(ox / s) * c;
        const float *sp = src + (size_t)ox * c;
        for (int ch = 0; ch < c; ch++) dp[ch] += info->scale * sp[ch];
      }
    }
  }
}
