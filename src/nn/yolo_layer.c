/* [yolo] forward and backward: only darknet's logistic on tx, ty, objectness and class
 * scores (tw, th pass through). Targets, loss and decoding are the detector's (src/det).
 *   in, out [batch][h][w][n_mask][5 + classes]   (NHWC with out_c = n_mask * (5 + classes)) */
#include "nn/nn.h"

static int is_logistic_entry(int entry) { return entry != 2 && entry != 3; }

void nn_yolo_forward(nn_ctx *ctx, nn_layer *l, const float *in) {
  const bm_layer_info *info = &l->info;
  int per_anchor = 5 + info->yolo.classes;
  size_t pixels = (size_t)ctx->batch * info->out_h * info->out_w;
  int parts = nn_parts(pixels * info->out_c, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(pixels, parts, p, &first, &end);
    for (size_t m = first; m < end; m++)
      for (int ch = 0; ch < info->out_c; ch++) {
        size_t i = m * info->out_c + ch;
        l->out[i] = is_logistic_entry(ch % per_anchor) ? nn_logistic(in[i]) : in[i];
      }
  }
}

void nn_yolo_backward(nn_ctx *ctx, nn_layer *l, float *din) {
  const bm_layer_info *info = &l->info;
  int per_anchor = 5 + info->yolo.classes;
  size_t pixels = (size_t)ctx->batch * info->out_h * info->out_w;
  int parts = nn_parts(pixels * info->out_c, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(pixels, parts, p, &first, &end);
    for (size_t m = first; m < end; m++)
      for (int ch = 0; ch < info->out_c; ch++) {
        size_t i = m * info->out_c + ch;
        float y = l->out[i];
        din[i] += is_logistic_entry(ch % per_anchor) ? l->dout[i] * y * (1.0f - y) : l->dout[i];
      }
  }
}
