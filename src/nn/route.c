/* [route]: concatenation of earlier layers' outputs along channels (all of the same h x w).
 * With groups > 1, only channel slice group_id of each input is taken (darknet's channel
 * split, used by yolov4-tiny).
 *   inputs [batch][h][w][c_j]  ->  out [batch][h][w][sum_j c_j / groups] */
#include <string.h>

#include "nn/nn.h"

void nn_route_forward(nn_ctx *ctx, nn_layer *l, nn_layer *layers) {
  const bm_layer_info *info = &l->info;
  size_t pixels = (size_t)ctx->batch * info->out_h * info->out_w;
  int parts = nn_parts(pixels * info->out_c, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(pixels, parts, p, &first, &end);
    int offset = 0;
    for (int j = 0; j < info->n_inputs; j++) {
      const nn_layer *src = &layers[info->inputs[j]];
      int c = src->info.out_c, part = c / info->groups, start = info->group_id * part;
      for (size_t m = first; m < end; m++)
        memcpy(l->out + m * info->out_c + offset, src->out + m * c + start,
               (size_t)part * sizeof(float));
      offset += part;
    }
  }
}

void nn_route_backward(nn_ctx *ctx, nn_layer *l, nn_layer *layers) {
  const bm_layer_info *info = &l->info;
  size_t pixels = (size_t)ctx->batch * info->out_h * info->out_w;
  int parts = nn_parts(pixels * info->out_c, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(pixels, parts, p, &first, &end);
    int offset = 0;
    for (int j = 0; j < info->n_inputs; j++) {
      nn_layer *src = &layers[info->inputs[j]];
      int c = src->info.out_c, part = c / info->groups, start = info->group_id * part;
      for (size_t m = first; m < end; m++) {
        float *d = src->dout + m * c + start;
        const float *g = l->dout + m * info->out_c + offset;
        for (int ch = 0; ch < part; ch++) d[ch] += g[ch];
      }
      offset += part;
    }
  }
}
