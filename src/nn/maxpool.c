/* [maxpool] with darknet's geometry: out = (in + padding - size) / stride + 1, windows start
 * at -padding/2 (integer division), so the default padding = size - 1 pads on the right and
 * bottom: size=2 stride=1 keeps the size, size=2 stride=2 halves it (rounding up).
 *   in [batch][in_h][in_w][c]  ->  out [batch][out_h][out_w][c]
 * Pixels outside the input are skipped (never the maximum); every window holds at least one
 * input pixel (checked when the cfg is read). In training mode the forward also records, for
 * every output, where in its image the maximum was (the first one in scan order ky, kx), and
 * the backward sends the gradient there. */
#include "nn/nn.h"

/* Output row r of a 2x2 stride-2 pool that tiles its input, in training (the common case:
 * one branch-free pass that compilers vectorise over channels). Same result as the general
 * loop below: the first maximum in scan order. */
static void row_tiles2(const bm_layer_info *l, const float *in_b, int oy, float *out,
                       int32_t *where) {
  int c = l->in_c;
  for (int ox = 0; ox < l->out_w; ox++) {
    int32_t at[4];
    for (int k = 0; k < 4; k++)
      at[k] = (int32_t)(((size_t)(2 * oy + k / 2) * l->in_w + 2 * ox + k % 2) * c);
    const float *s0 = in_b + at[0], *s1 = in_b + at[1], *s2 = in_b + at[2], *s3 = in_b + at[3];
    float *o = out + (size_t)ox * c;
    int32_t *w = where + (size_t)ox * c;
    for (int ch = 0; ch < c; ch++) {
      float m = s0[ch];
      int32_t best = at[0] + ch;
      if (s1[ch] > m) {
        m = s1[ch];
        best = at[1] + ch;
      }
      if (s2[ch] > m) {
        m = s2[ch];
        best = at[2] + ch;
      }
      if (s3[ch] > m) {
        m = s3[ch];
        best = at[3] + ch;
      }
      o[ch] = m;
      w[ch] = best;
    }
  }
}

void nn_maxpool_forward(nn_ctx *ctx, nn_layer *l, const float *in) {
  const bm_layer_info *info = &l->info;
  int c = info->in_c, offset = -(info->padding / 2);
  int rows = ctx->batch * info->out_h;
  int record = ctx->training;
  int tiles2 = record && info->size == 2 && nn_maxpool_tiles(info);
  int parts = nn_parts((size_t)rows * info->out_w * c, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int r = 0; r < rows; r++) {
    int b = r / info->out_h, oy = r % info->out_h;
    const float *in_b = in + (size_t)b * info->in_h * info->in_w * c;
    if (tiles2) {
      size_t at_row = (size_t)r * info->out_w * c;
      row_tiles2(info, in_b, oy, l->out + at_row, l->argmax + at_row);
      continue;
    }
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

int nn_maxpool_tiles(const bm_layer_info *l) {
  return l->stride == l->size && l->padding / 2 == 0 && l->out_h * l->stride == l->in_h &&
         l->out_w * l->stride == l->in_w;
}

/* din[b] = the gradient of windows that tile the image exactly (nn_maxpool_tiles): every
 * input element is written once, g where it was its window's maximum and 0 elsewhere, so the
 * caller need not clear din first (one pass over din instead of a clear and a scatter). */
static void backward_tiles(const bm_layer_info *l, const float *g, const int32_t *where,
                           float *din_b) {
  int c = l->in_c, s = l->size;
  for (int oy = 0; oy < l->out_h; oy++)
    for (int ox = 0; ox < l->out_w; ox++) {
      size_t at_out = ((size_t)oy * l->out_w + ox) * c;
      const float *g_o = g + at_out;
      const int32_t *w_o = where + at_out;
      for (int ky = 0; ky < s; ky++)
        for (int kx = 0; kx < s; kx++) {
          int32_t at = (int32_t)(((size_t)(oy * s + ky) * l->in_w + ox * s + kx) * c);
          float *d = din_b + at;
          for (int ch = 0; ch < c; ch++) d[ch] = w_o[ch] == at + ch ? g_o[ch] : 0.0f;
        }
    }
}

/* Windows overlap when stride < size, so threads split the batch by image: one image's
 * input gradient is written by one thread, in a fixed order. */
void nn_maxpool_backward(nn_ctx *ctx, nn_layer *l, float *din, int overwrite) {
  const bm_layer_info *info = &l->info;
  size_t in_size = (size_t)info->in_h * info->in_w * info->in_c;
  size_t out_size = (size_t)info->out_h * info->out_w * info->out_c;
  int parts = nn_parts((size_t)ctx->batch * in_size, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int b = 0; b < ctx->batch; b++) {
    float *din_b = din + b * in_size;
    const float *g = l->dout + b * out_size;
    const int32_t *where = l->argmax + b * out_size;
    if (overwrite)
      backward_tiles(info, g, where, din_b);
    else
      for (size_t j = 0; j < out_size; j++) din_b[where[j]] += g[j];
  }
}
