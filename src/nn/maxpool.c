/* [maxpool] with darknet's geometry: out = (in + padding - size) / stride + 1, windows start
 * at -padding/2 (integer division), so the default padding = size - 1 pads on the right and
 * bottom: size=2 stride=1 keeps the size, size=2 stride=2 halves it (rounding up).
 *   in [batch][in_h][in_w][c]  ->  out [batch][out_h][out_w][c]
 * Pixels outside the input are skipped (never the maximum); every window holds at least one
 * input pixel (checked when the cfg is read). In training mode the forward also records, for
 * every output, where in its image the maximum was (the first one in scan order ky, kx), and
 * the backward sends the gradient there. */
#include "nn/nn.h"

void nn_maxpool_forward(nn_ctx *ctx, nn_layer *l, const float *in) {
  const bm_layer_info *info = &l->info;
  int c = info->in_c, offset = -(info->padding / 2);
  int rows = ctx->batch * info->out_h;
  int record = ctx->training;
  int parts = nn_parts((size_t)rows * info->out_w * c, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int r = 0; r < rows; r++) {
    int b = r / info->out_h, oy = r % info->out_h;
    const float *in_b = in + (size_t)b * info->in_h * info->in_w * c;
    for (int ox = 0; ox < info->out_w; ox++) {
      size_t at_out = ((size_t)r * info->out_w + ox) * c;
      float *o = l->out + at_out;
      int32_t *where = l->argmax + at_out;
      int first = 1;
      for (int ky = 0; ky < info->size; ky++) {
        int iy = offset + oy * info->stride + ky;
        if (iy < 0 || iy >= info->in_h) continue;
        for (int kx = 0; kx < info->size; kx++) {
          int ix = offset + ox * info->stride + kx;
          if (ix < 0 || ix >= info->in_w) continue;
          int32_t at = (int32_t)(((size_t)iy * info->in_w + ix) * c);
          const float *s = in_b + at;
          if (first) {
            for (int ch = 0; ch < c; ch++) o[ch] = s[ch];
            if (record)
              for (int ch = 0; ch < c; ch++) where[ch] = at + ch;
            first = 0;
          } else if (record) {
            for (int ch = 0; ch < c; ch++)
              if (s[ch] > o[ch]) {
                o[ch] = s[ch];
                where[ch] = at + ch;
              }
          } else {
            for (int ch = 0; ch < c; ch++) o[ch] = s[ch] > o[ch] ? s[ch] : o[ch];
          }
        }
      }
    }
  }
}

/* Windows overlap when stride < size, so threads split the batch by image: one image's
 * input gradient is written by one thread, in a fixed order. */
void nn_maxpool_backward(nn_ctx *ctx, nn_layer *l, float *din) {
  const bm_layer_info *info = &l->info;
  size_t in_size = (size_t)info->in_h * info->in_w * info->in_c;
  size_t out_size = (size_t)info->out_h * info->out_w * info->out_c;
  int parts = nn_parts((size_t)ctx->batch * out_size, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int b = 0; b < ctx->batch; b++) {
    float *din_b = din + b * in_size;
    const float *g = l->dout + b * out_size;
    const int32_t *where = l->argmax + b * out_size;
    for (size_t j = 0; j < out_size; j++) din_b[where[j]] += g[j];
  }
}
