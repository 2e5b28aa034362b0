/* Convolution (+ batch norm or bias, + activation) on NHWC tensors as im2col + GEMM.
 *
 *   in   [batch][in_h][in_w][in_c]            weight [filters][k][k][in_c/groups]
 *   z    [batch][out_h][out_w][filters]       GEMM output (kept for backward when needed)
 *   out  [batch][out_h][out_w][filters]       act(bn(z)) or act(z + bias)
 *
 * With M = batch * out_h * out_w output pixels and K = k * k * in_c / groups, group g is
 *   z[:, g] (M x F/g) = col_g (M x K) * weight_g^T (K x F/g)
 * so the whole batch is one GEMM (split into chunks of images only when the im2col buffer
 * would pass NN_WORK_CAP). A 1x1 stride-1 unpadded conv needs no im2col: the NHWC input
 * already is col. */
#include "nn/nn.h"

static int is_pointwise(const bm_layer_info *l) {
  return l->size == 1 && l->stride == 1 && l->pad == 0;
}

/* Images per im2col chunk: as many as the workspace holds. */
static int images_per_chunk(const nn_ctx *ctx, const bm_layer_info *l, size_t col_per_image) {
  size_t n = col_per_image ? ctx->n_work / col_per_image : (size_t)ctx->batch;
  if (n < 1) n = 1;
  if (n > (size_t)ctx->batch) n = (size_t)ctx->batch;
  return (int)n;
}

void nn_conv_forward(nn_ctx *ctx, nn_layer *l, const float *in) {
  const bm_layer_info *info = &l->info;
  int filters = info->filters, groups = info->groups;
  int group_filters = filters / groups, group_channels = info->in_c / groups;
  int k = info->size * info->size * group_channels;
  size_t hw = (size_t)info->out_h * info->out_w;
  size_t rows = (size_t)ctx->batch * hw;
  float *z = ctx->training && l->z ? l->z : l->out;
  if (is_pointwise(info)) {
    for (int g = 0; g < groups; g++)
      nn_gemm(ctx->threads, 0, 1, (int)rows, group_filters, k, 1.0f, in + g * group_channels,
              info->in_c, l->weight + (size_t)g * group_filters * k, k, 0.0f,
              z + g * group_filters, filters);
  } else {
    int chunk = images_per_chunk(ctx, info, hw * k);
    for (int b0 = 0; b0 < ctx->batch; b0 += chunk) {
      int b1 = b0 + chunk < ctx->batch ? b0 + chunk : ctx->batch;
      for (int g = 0; g < groups; g++) {
        nn_im2col(in, info->in_h, info->in_w, info->in_c, g * group_channels, group_channels,
                  info->size, info->stride, info->pad, info->out_h, info->out_w, b0, b1,
                  ctx->work, ctx->threads);
        nn_gemm(ctx->threads, 0, 1, (int)((b1 - b0) * hw), group_filters, k, 1.0f, ctx->work,
                k, l->weight + (size_t)g * group_filters * k, k, 0.0f,
                z + (size_t)b0 * hw * filters + g * group_filters, filters);
      }
    }
  }
  if (info->batch_normalize) {
    if (ctx->training)
      nn_bn_forward_train(z, l->out, rows, filters, l->scale, l->shift, l->running_mean,
                          l->running_var, l->batch_mean, l->batch_invstd, info->activation,
                          ctx->reduce, ctx->threads);
    else
      nn_bn_forward_infer(l->out, rows, filters, l->scale, l->shift, l->running_mean,
                          l->running_var, info->activation, ctx->reduce, ctx->threads);
  } else {
    nn_channel_affine_act(z, l->out, rows, filters, NULL, l->bias, info->activation,
                          ctx->threads);
  }
}

void nn_conv_backward(nn_ctx *ctx, nn_layer *l, const float *in, float *din) {
  const bm_layer_info *info = &l->info;
  int filters = info->filters, groups = info->groups;
  int group_filters = filters / groups, group_channels = info->in_c / groups;
  int k = info->size * info->size * group_channels;
  size_t hw = (size_t)info->out_h * info->out_w;
  size_t rows = (size_t)ctx->batch * hw;
  float *grad = l->dout; /* dLoss/d(out) on entry, turned into dLoss/dz in place */
  if (info->batch_normalize)
    nn_bn_backward(l->z, grad, rows, filters, l->scale, l->shift, l->batch_mean,
                   l->batch_invstd, info->activation, l->dscale, l->dshift, ctx->reduce,
                   ctx->threads);
  else
    nn_bias_act_backward(l->z ? l->z : l->out, grad, rows, filters, l->bias,
                         info->activation, l->dbias, ctx->reduce, ctx->threads);

  if (is_pointwise(info)) {
    for (int g = 0; g < groups; g++) {
      const float *grad_g = grad + g * group_filters;
      const float *weight_g = l->weight + (size_t)g * group_filters * k;
      /* dweight_g (F/g x K) += grad_g^T (F/g x M) * in_g (M x K) */
      nn_gemm(ctx->threads, 1, 0, group_filters, k, (int)rows, 1.0f, grad_g, filters,
              in + g * group_channels, info->in_c, 1.0f,
              l->dweight + (size_t)g * group_filters * k, k);
      /* din_g (M x K) += grad_g (M x F/g) * weight_g (F/g x K) */
      if (din)
        nn_gemm(ctx->threads, 0, 0, (int)rows, k, group_filters, 1.0f, grad_g, filters,
                weight_g, k, 1.0f, din + g * group_channels, info->in_c);
    }
    return;
  }
  int chunk = images_per_chunk(ctx, info, hw * k);
  for (int b0 = 0; b0 < ctx->batch; b0 += chunk) {
    int b1 = b0 + chunk < ctx->batch ? b0 + chunk : ctx->batch;
    int chunk_rows = (int)((b1 - b0) * hw);
    for (int g = 0; g < groups; g++) {
      const float *grad_g = grad + (size_t)b0 * hw * filters + g * group_filters;
      const float *weight_g = l->weight + (size_t)g * group_filters * k;
      nn_im2col(in, info->in_h, info->in_w, info->in_c, g * group_channels, group_channels,
                info->size, info->stride, info->pad, info->out_h, info->out_w, b0, b1,
                ctx->work, ctx->threads);
      nn_gemm(ctx->threads, 1, 0, group_filters, k, chunk_rows, 1.0f, grad_g, filters,
              ctx->work, k, 1.0f, l->dweight + (size_t)g * group_filters * k, k);
      if (!din) continue;
      /* dcol (rows x K) = grad_g (rows x F/g) * weight_g (F/g x K), then scatter-add */
      nn_gemm(ctx->threads, 0, 0, chunk_rows, k, group_filters, 1.0f, grad_g, filters,
              weight_g, k, 0.0f, ctx->work, k);
      nn_col2im_add(ctx->work, info->in_h, info->in_w, info->in_c, g * group_channels,
                    group_channels, info->size, info->stride, info->pad, info->out_h,
                    info->out_w, b0, b1, din, ctx->threads);
    }
  }
}
