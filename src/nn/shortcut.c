/* [shortcut]: out = act(in + from), where in is the previous layer's output and from an
 * earlier layer's output of the same shape [batch][h][w][c]. */
#include "nn/nn.h"

void nn_shortcut_forward(nn_ctx *ctx, nn_layer *l, const float *in, const float *from) {
  const bm_layer_info *info = &l->info;
  size_t n = (size_t)ctx->batch * info->out_h * info->out_w * info->out_c;
  int parts = nn_parts(n, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(n, parts, p, &first, &end);
    for (size_t i = first; i < end; i++) l->out[i] = in[i] + from[i];
  }
  nn_act_forward(l->out, n, info->activation, ctx->threads);
}

static inline __attribute__((always_inline)) void shortcut_grad_range(
    const float *in, const float *from, float *grad, size_t first, size_t end,
    bm_activation act) {
  for (size_t i = first; i < end; i++) grad[i] *= nn_act_derivative(act, in[i] + from[i]);
}

/* din and dfrom may be the same buffer (from = -1): both additions then land there, in a
 * fixed order. */
void nn_shortcut_backward(nn_ctx *ctx, nn_layer *l, const float *in, const float *from,
                          float *din, float *dfrom) {
  const bm_layer_info *info = &l->info;
  size_t n = (size_t)ctx->batch * info->out_h * info->out_w * info->out_c;
  int parts = nn_parts(n, ctx->threads);
  bm_activation act = info->activation;
  float *grad = l->dout;
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(n, parts, p, &first, &end);
#define CALL(A) shortcut_grad_range(in, from, grad, first, end, A)
    NN_DISPATCH_ACT(act, CALL)
#undef CALL
    for (size_t i = first; i < end; i++) din[i] += grad[i];
    for (size_t i = first; i < end; i++) dfrom[i] += grad[i];
  }
}
