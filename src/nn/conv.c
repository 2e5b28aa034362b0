/* Convolution (+ batch norm or bias, + activation) on NHWC tensors as im2col + GEMM.
 *
 *   in   [batch][in_h][in_w][in_c]            weight [filters][k][k][in_c/groups]
 *   z    [batch][out_h][out_w][filters]       GEMM output (kept for backward when needed)
 *   out  [batch][out_h][out_w][filters]       act(bn(z)) or act(z + bias)
 *
 * With rows = output pixels of the batch and K = k * k * in_c / groups, group g computes
 *   z[rows, g] (rows x F/g) = col_g (rows x K) * weight_g^T (K x F/g).
 * A 1x1 stride-1 unpadded conv needs no im2col: the NHWC input already is col.
 *
 * Two ways to share the work between threads (both give results that depend only on the
 * thread count, never on timing):
 *  - by rows: each thread takes a contiguous range of output pixels and walks it in chunks
 *    whose im2col fits in cache, calling single-threaded GEMMs. Forward does this whenever
 *    each thread gets at least `filters` rows; backward when each thread gets whole images
 *    (batch >= threads), since col2im writes around each pixel. Weight gradients are summed
 *    per thread and added in thread order at the end.
 *  - by GEMM blocks (e.g. one image on two threads, or 13x13 layers with 1024 filters):
 *    im2col of the whole batch (in workspace-sized chunks of images), then each GEMM split
 *    over threads into row or column blocks.
 * Inference mode first offers the layer to its own kernels (bm_net_set_fast_infer):
 * Winograd for 3x3 stride-1 convolutions (winograd.c), 1x1 convolutions on few pixels
 * (conv_pointwise.c) and first layers on few channels (conv_direct.c). Training computes z
 * with Winograd or the direct sums where they fit, the input gradient of 3x3 stride-1 layers
 * with Winograd and 3x3 weight gradients without im2col (conv_wgrad.c) where they fit
 * (docs/NN.md, "Training kernels"). In both modes, depthwise convolutions (groups ==
 * channels) go to conv_depthwise.c, and 1x1 convolutions on few input channels compute z by
 * the narrow kernel of conv_pointwise.c, by rows. */
#include <omp.h>
#include <string.h>

#include "nn/nn.h"

static int is_pointwise(const bm_layer_info *l) {
  return l->size == 1 && l->stride == 1 && l->pad == 0;
}

static nn_conv_geom geometry(const bm_layer_info *l, int group) {
  int cg = l->in_c / l->groups;
  return (nn_conv_geom){l->in_h, l->in_w, l->in_c, group * cg, cg,  l->size,
                        l->stride, l->pad, l->out_h, l->out_w};
}

/* Shapes shared by forward and backward. */
typedef struct conv_dims {
  int filters, groups, group_filters, group_channels, k; /* k = size * size * c / groups */
  size_t plane, rows;                                      /* out_h * out_w; batch * plane */
  int own_gemm;                                            /* nn_gemm's `own` */
} conv_dims;

static conv_dims dims_of(const nn_ctx *ctx, const bm_layer_info *l) {
  conv_dims d;
  d.filters = l->filters;
  d.groups = l->groups;
  d.group_filters = l->filters / l->groups;
  d.group_channels = l->in_c / l->groups;
  d.k = l->size * l->size * d.group_channels;
  d.plane = (size_t)l->out_h * l->out_w;
  d.rows = (size_t)ctx->batch * d.plane;
  d.own_gemm = ctx->own_gemm;
  return d;
}

/* Rows per chunk: an im2col of about NN_CHUNK_FLOATS (cache-sized), at least
 * NN_CHUNK_ROWS_MIN rows so that the GEMMs stay efficient. */
static size_t chunk_rows(const bm_layer_info *l, const conv_dims *d) {
  if (is_pointwise(l)) return d->rows;
  return nn_conv_chunk_rows(d->k);
}

/* What forward_rows does with each chunk of z while it is still in cache. */
typedef struct chunk_hook {
  enum { HOOK_BN_SUMS, HOOK_AFFINE } kind;
  double *sums;      /* HOOK_BN_SUMS */
  const float *a, *b; /* HOOK_AFFINE: out = act(a z + b), a may be NULL */
} chunk_hook;

/* Rows per chunk of 1x1 convolutions on few channels (conv_pointwise.c's narrow kernel):
 * z of a chunk stays in cache for the hook. */
#define NARROW_CHUNK_ROWS 512

/* z[r0:r1] = conv of the input, on the calling thread; direct: by conv_direct.c's sums
 * instead of im2col + GEMM (first layers in training); narrow: by conv_pointwise.c's narrow
 * kernel (1x1 on few channels; its transposed weights at the start of col). */
static void forward_rows(nn_layer *l, const conv_dims *d, const float *in, float *z, size_t r0,
                         size_t r1, float *col, const chunk_hook *hook, int direct,
                         int narrow) {
  const bm_layer_info *info = &l->info;
  size_t step = narrow ? NARROW_CHUNK_ROWS : chunk_rows(info, d);
  float direct_wt[NN_DIRECT_MAX_K * 32] __attribute__((aligned(64)));
  if (direct) nn_direct_weights(l, direct_wt);
  if (narrow) nn_narrow_weights(l, col);
  for (size_t c0 = r0; c0 < r1; c0 += step) {
    size_t c1 = c0 + step < r1 ? c0 + step : r1;
    if (direct) nn_direct_conv_pixels(info, in, c0, c1, direct_wt, z);
    if (narrow) nn_narrow_rows(info, in, c0, c1, col, z);
    for (int g = 0; g < d->groups && !direct && !narrow; g++) {
      const float *a = in + c0 * info->in_c + g * d->group_channels;
      int lda = info->in_c;
      if (!is_pointwise(info)) {
        nn_conv_geom geom = geometry(info, g);
        nn_im2col(&geom, in, c0, c1, col, 1);
        a = col;
        lda = d->k;
      }
      if (nn_small_gemm_fits(d->group_filters, d->k))
        nn_small_gemm_nt((int)(c1 - c0), d->group_filters, d->k, a, lda,
                         l->weight + (size_t)g * d->group_filters * d->k, d->k,
                         z + c0 * d->filters + g * d->group_filters, d->filters);
      else
        nn_gemm(d->own_gemm, 1, 0, 1, (int)(c1 - c0), d->group_filters, d->k, 1.0f, a, lda,
                l->weight + (size_t)g * d->group_filters * d->k, d->k, 0.0f,
                z + c0 * d->filters + g * d->group_filters, d->filters);
    }
    if (hook->kind == HOOK_BN_SUMS) nn_bn_sums_rows(z, c0, c1, d->filters, hook->sums);
    if (hook->kind == HOOK_AFFINE)
      nn_affine_act_rows(z, l->out, c0, c1, d->filters, hook->a, hook->b, info->activation);
  }
}

/* Weight gradient (into dweight) and input gradient (into din, may be NULL) of rows
 * [r0, r1) from grad = dLoss/dz, on the calling thread. With bn_coef, grad holds dLoss/du
 * and batch norm's backward pass 2 turns each chunk into dLoss/dz first. */
static void backward_rows(const nn_layer *l, const conv_dims *d, const float *in, float *grad,
                          float *dweight, float *din, size_t r0, size_t r1, float *col,
                          float *dwt, const float *bn_coef) {
  const bm_layer_info *info = &l->info;
  /* 32 or 64 filters (e.g. 32 with K = 144): the weight gradient's product is faster
   * transposed, K along the 12-row side of the GEMM's 12 x 32 tiles and F filling the 32
   * columns exactly (measured 2x for 32 filters, 1.1x for 64; with 45 filters, whose last
   * tile would be 30 % empty, it was slower). dwt: n_weights floats of scratch. */
  if (d->group_filters > 64 || d->group_filters % 32 || d->k <= d->group_filters) dwt = NULL;
  size_t step = chunk_rows(info, d);
  int wgrad_direct = nn_wgrad_fits(info); /* conv_wgrad.c instead of im2col + GEMM */
  for (size_t c0 = r0; c0 < r1; c0 += step) {
    size_t c1 = c0 + step < r1 ? c0 + step : r1;
    int n = (int)(c1 - c0);
    if (bn_coef) nn_bn_backward_apply_rows(l, l->z, grad, c0, c1, bn_coef);
    for (int g = 0; g < d->groups; g++) {
      nn_conv_geom geom = geometry(info, g);
      const float *grad_g = grad + c0 * d->filters + g * d->group_filters;
      const float *weight_g = l->weight + (size_t)g * d->group_filters * d->k;
      /* dweight_g (F/g x K) += grad_g^T (F/g x n) * x (n x K), x = im2col of the input */
      if (wgrad_direct) {
        nn_wgrad_pixels(info, in, c0, c1, grad_g, dweight, col);
      } else {
        const float *x = in + c0 * info->in_c + g * d->group_channels;
        int ldx = info->in_c;
        if (!is_pointwise(info)) {
          nn_im2col(&geom, in, c0, c1, col, 1);
          x = col;
          ldx = d->k;
        }
        if (nn_small_gemm_fits(d->group_filters, d->k)) {
          nn_small_gemm_tn_add(n, d->group_filters, d->k, grad_g, d->filters, x, ldx,
                               dweight + (size_t)g * d->group_filters * d->k, d->k);
        } else if (dwt) {
          /* dweight_g^T (K x F/g) = x^T (K x n) * grad_g (n x F/g), then added transposed */
          nn_gemm(d->own_gemm, 1, 1, 0, d->k, d->group_filters, n, 1.0f, x, ldx, grad_g,
                  d->filters, 0.0f, dwt, d->group_filters);
          float *dw = dweight + (size_t)g * d->group_filters * d->k;
          for (int f = 0; f < d->group_filters; f++)
            for (int t = 0; t < d->k; t++)
              dw[(size_t)f * d->k + t] += dwt[(size_t)t * d->group_filters + f];
        } else {
          nn_gemm(d->own_gemm, 1, 1, 0, d->group_filters, d->k, n, 1.0f, grad_g, d->filters, x,
                  ldx, 1.0f, dweight + (size_t)g * d->group_filters * d->k, d->k);
        }
      }
      if (!din) continue;
      /* dx (n x K) = grad_g (n x F/g) * weight_g (F/g x K) */
      if (is_pointwise(info)) {
        nn_gemm(d->own_gemm, 1, 0, 0, n, d->k, d->group_filters, 1.0f, grad_g, d->filters, weight_g,
                d->k, 1.0f, din + c0 * info->in_c + g * d->group_channels, info->in_c);
      } else {
        nn_gemm(d->own_gemm, 1, 0, 0, n, d->k, d->group_filters, 1.0f, grad_g, d->filters, weight_g,
                d->k, 0.0f, col, d->k);
        nn_col2im_add(&geom, col, c0, c1, din);
      }
    }
  }
}

static int split_by_images(const nn_ctx *ctx) { return ctx->batch >= ctx->threads; }

/* reduce (see bm_network): per thread 2 * filters partial sums, then float coefficients */
static float *coefficients(const nn_ctx *ctx, const conv_dims *d) {
  return (float *)(ctx->reduce + (size_t)ctx->threads * 2 * d->filters);
}

void nn_conv_forward(nn_ctx *ctx, nn_layer *l, const float *in) {
  const bm_layer_info *info = &l->info;
  conv_dims d = dims_of(ctx, info);
  int batch_stats = info->batch_normalize && ctx->training;
  float *z = ctx->training && l->z ? l->z : l->out;
  float *a = coefficients(ctx, &d), *b = a + d.filters;
  if (info->batch_normalize && !ctx->training) nn_bn_infer_coefs(l, a, b);
  if (ctx->depthwise && nn_depthwise_fits(info)) {
    nn_depthwise_forward(ctx, l, in, z, a, b);
    return;
  }
  int narrow = ctx->narrow && nn_narrow_fits(info, !ctx->training && !ctx->own_gemm);
  if (!ctx->training && ctx->fast_infer && nn_winograd_fits(info)) {
    nn_winograd_forward(ctx, l, in, info->batch_normalize ? a : NULL,
                        info->batch_normalize ? b : l->bias);
    return;
  }
  if (!ctx->training && ctx->fast_infer && !narrow && nn_pointwise_fits(info, ctx->batch)) {
    nn_pointwise_forward(ctx, l, in, info->batch_normalize ? a : NULL,
                         info->batch_normalize ? b : l->bias);
    return;
  }
  if (!ctx->training && ctx->fast_infer && nn_direct_fits(info)) {
    nn_direct_forward(ctx, l, in, info->batch_normalize ? a : NULL,
                      info->batch_normalize ? b : l->bias);
    return;
  }
  if (ctx->training && nn_winograd_fits(info)) {
    /* 3x3 stride-1 layers: z by Winograd, then batch norm or bias + activation below */
    nn_winograd_conv(ctx, l, in, z);
  } else if (narrow || d.rows / (size_t)ctx->threads >= (size_t)d.filters) {
    /* one region: each thread convolves its rows chunk by chunk, then either batch norm
     * (statistics need every thread's sums first) or bias/bn-inference + activation */
#pragma omp parallel num_threads(ctx->threads)
    {
      int p = omp_get_thread_num(), parts = omp_get_num_threads();
      size_t r0, r1;
      nn_part(d.rows, parts, p, &r0, &r1);
      chunk_hook hook = {HOOK_AFFINE, NULL, info->batch_normalize ? a : NULL,
                         info->batch_normalize ? b : l->bias};
      if (batch_stats) {
        hook = (chunk_hook){HOOK_BN_SUMS, ctx->reduce + (size_t)p * 2 * d.filters, NULL, NULL};
        memset(hook.sums, 0, 2 * (size_t)d.filters * sizeof(double));
      }
      forward_rows(l, &d, in, z, r0, r1, ctx->work + (size_t)p * ctx->chunk_floats, &hook,
                   ctx->training && nn_direct_fits(info), narrow);
      if (batch_stats) {
#pragma omp barrier
#pragma omp single
        nn_bn_finish_stats(l, d.rows, ctx->reduce, parts, a, b);
        nn_affine_act_rows(z, l->out, r0, r1, d.filters, a, b, info->activation);
      }
    }
    return;
  } else if (is_pointwise(info)) {
    for (int g = 0; g < d.groups; g++)
      nn_gemm(d.own_gemm, ctx->threads, 0, 1, (int)d.rows, d.group_filters, d.k, 1.0f,
              in + g * d.group_channels, info->in_c,
              l->weight + (size_t)g * d.group_filters * d.k, d.k, 0.0f, z + g * d.group_filters,
              d.filters);
  } else {
    size_t images = ctx->n_work / (d.plane * d.k);
    if (images < 1) images = 1;
    for (size_t b0 = 0; b0 < (size_t)ctx->batch; b0 += images) {
      size_t b1 = b0 + images < (size_t)ctx->batch ? b0 + images : (size_t)ctx->batch;
      for (int g = 0; g < d.groups; g++) {
        nn_conv_geom geom = geometry(info, g);
        nn_im2col(&geom, in, b0 * d.plane, b1 * d.plane, ctx->work, ctx->threads);
        nn_gemm(d.own_gemm, ctx->threads, 0, 1, (int)((b1 - b0) * d.plane), d.group_filters, d.k,
                1.0f, ctx->work, d.k, l->weight + (size_t)g * d.group_filters * d.k, d.k, 0.0f,
                z + b0 * d.plane * d.filters + g * d.group_filters, d.filters);
      }
    }
  }
  if (batch_stats)
    nn_bn_forward_train(l, z, d.rows, ctx->reduce, ctx->threads);
  else
    nn_channel_affine_act(z, l->out, d.rows, d.filters, info->batch_normalize ? a : NULL,
                          info->batch_normalize ? b : l->bias, info->activation, ctx->threads);
}

int nn_conv_overwrites_din(const nn_ctx *ctx, const bm_layer_info *l) {
  if (ctx->depthwise && nn_depthwise_fits(l)) return 1;
  return split_by_images(ctx) && nn_winograd_dx_fits(l);
}

void nn_conv_backward(nn_ctx *ctx, nn_layer *l, const float *in, float *din, int overwrite) {
  const bm_layer_info *info = &l->info;
  conv_dims d = dims_of(ctx, info);
  float *grad = l->dout; /* dLoss/d(out) on entry, turned into dLoss/dz in place */
  const float *z = l->z ? l->z : l->out; /* without z the activation is linear: unused */
  if (ctx->depthwise && nn_depthwise_fits(info)) {
    if (info->batch_normalize)
      nn_bn_backward(l, z, grad, d.rows, ctx->reduce, ctx->threads);
    else
      nn_bias_act_backward(z, grad, d.rows, d.filters, l->bias, info->activation, l->dbias,
                           ctx->reduce, ctx->threads);
    nn_depthwise_backward(ctx, l, in, grad, din, !overwrite);
    return;
  }
  if (split_by_images(ctx)) {
    /* one region: activation (+ batch norm pass 1) backward on each thread's rows, then per
     * chunk batch norm pass 2, weight and input gradients. Thread 0 adds into dweight
     * directly, thread p > 0 into partial p - 1, added in order at the end; after the
     * partials each thread has n_weights floats of scratch (dwt, see backward_rows). */
    float *partials = ctx->work + (size_t)ctx->threads * ctx->chunk_floats;
    float *coef = coefficients(ctx, &d);
    int used = 1;
    /* 3x3 stride-1 layers: the input gradient afterwards, by Winograd (winograd.c) from the
     * whole dLoss/dz, instead of a GEMM and col2im per chunk */
    int winograd_dx = din && nn_winograd_dx_fits(info);
#pragma omp parallel num_threads(ctx->threads)
    {
      int p = omp_get_thread_num(), parts = omp_get_num_threads();
      size_t b0, b1;
      nn_part((size_t)ctx->batch, parts, p, &b0, &b1);
      size_t r0 = b0 * d.plane, r1 = b1 * d.plane;
      double *sums = ctx->reduce + (size_t)p * 2 * d.filters;
      memset(sums, 0, 2 * (size_t)d.filters * sizeof(double));
      if (info->batch_normalize) {
        nn_bn_backward_sums_rows(l, z, grad, r0, r1, sums);
#pragma omp barrier
#pragma omp single
        {
          used = parts;
          nn_bn_backward_finish(l, d.rows, ctx->reduce, parts, coef);
        }
      } else {
        nn_bias_act_backward_rows(z, grad, r0, r1, d.filters, l->bias, info->activation, sums);
        if (p == 0) used = parts;
      }
      float *dweight = p ? partials + (size_t)(p - 1) * l->n_weights : l->dweight;
      if (p) memset(dweight, 0, l->n_weights * sizeof(float));
      float *dwt = partials + (size_t)(parts - 1 + p) * l->n_weights;
      backward_rows(l, &d, in, grad, dweight, winograd_dx ? NULL : din, r0, r1,
                    ctx->work + (size_t)p * ctx->chunk_floats, dwt,
                    info->batch_normalize ? coef : NULL);
    }
    if (!info->batch_normalize)
      for (int f = 0; f < d.filters; f++) {
        double total = 0;
        for (int p = 0; p < used; p++) total += ctx->reduce[(size_t)p * 2 * d.filters + f];
        l->dbias[f] += (float)total;
      }
    for (int p = 1; p < used; p++) {
      const float *part = partials + (size_t)(p - 1) * l->n_weights;
      for (size_t j = 0; j < l->n_weights; j++) l->dweight[j] += part[j];
    }
    if (winograd_dx) /* grad holds dLoss/dz by now */
      nn_winograd_dx(ctx, l, grad, din, !overwrite);
    return;
  }
  if (info->batch_normalize)
    nn_bn_backward(l, z, grad, d.rows, ctx->reduce, ctx->threads);
  else
    nn_bias_act_backward(z, grad, d.rows, d.filters, l->bias, info->activation, l->dbias,
                         ctx->reduce, ctx->threads);
  if (is_pointwise(info)) {
    for (int g = 0; g < d.groups; g++) {
      const float *grad_g = grad + g * d.group_filters;
      nn_gemm(d.own_gemm, ctx->threads, 1, 0, d.group_filters, d.k, (int)d.rows, 1.0f, grad_g,
              d.filters, in + g * d.group_channels, info->in_c, 1.0f,
              l->dweight + (size_t)g * d.group_filters * d.k, d.k);
      if (din)
        nn_gemm(d.own_gemm, ctx->threads, 0, 0, (int)d.rows, d.k, d.group_filters, 1.0f, grad_g,
                d.filters, l->weight + (size_t)g * d.group_filters * d.k, d.k, 1.0f,
                din + g * d.group_channels, info->in_c);
    }
    return;
  }
  size_t images = ctx->n_work / (d.plane * d.k);
  if (images < 1) images = 1;
  for (size_t b0 = 0; b0 < (size_t)ctx->batch; b0 += images) {
    size_t b1 = b0 + images < (size_t)ctx->batch ? b0 + images : (size_t)ctx->batch;
    int n = (int)((b1 - b0) * d.plane);
    for (int g = 0; g < d.groups; g++) {
      nn_conv_geom geom = geometry(info, g);
      const float *grad_g = grad + b0 * d.plane * d.filters + g * d.group_filters;
      const float *weight_g = l->weight + (size_t)g * d.group_filters * d.k;
      nn_im2col(&geom, in, b0 * d.plane, b1 * d.plane, ctx->work, ctx->threads);
      nn_gemm(d.own_gemm, ctx->threads, 1, 0, d.group_filters, d.k, n, 1.0f, grad_g, d.filters,
              ctx->work, d.k, 1.0f, l->dweight + (size_t)g * d.group_filters * d.k, d.k);
      if (!din) continue;
      nn_gemm(d.own_gemm, ctx->threads, 0, 0, n, d.k, d.group_filters, 1.0f, grad_g, d.filters,
              weight_g, d.k, 0.0f, ctx->work, d.k);
      nn_col2im_gather_add(&geom, ctx->work, (int)b0, (int)b1, din, ctx->threads);
    }
  }
}
