/* Batch normalisation fused with the activation that follows it, over z[rows][channels]
 * (NHWC, so rows = batch * h * w and the channel is the contiguous index). The rules (biased
 * variance to normalise, unbiased in the running average, momentum 0.01, eps 1e-5) are in
 * bm_nn.h.
 *
 * Each pass comes as a kernel over a range of rows, so that convolutions can run it on the
 * rows a thread has just computed (conv.c); statistics are summed in double per range and the
 * ranges combined in order, so results depend on how rows are split but never on timing.
 * The whole-tensor functions at the end split rows into `threads` equal ranges. */
#include <math.h>
#include <string.h>

#include "nn/nn.h"

void nn_bn_sums_rows(const float *z, size_t first, size_t end, int channels, double *sums) {
  double *sum = sums, *sum_sq = sums + channels;
  for (size_t r = first; r < end; r++) {
    const float *zr = z + r * channels;
    for (int f = 0; f < channels; f++) {
      sum[f] += zr[f];
      sum_sq[f] += (double)zr[f] * zr[f];
    }
  }
}

void nn_bn_finish_stats(nn_layer *l, size_t rows, const double *sums, int parts, float *a,
                        float *b) {
  int channels = l->info.filters;
  double n = (double)rows;
  for (int f = 0; f < channels; f++) {
    double sum = 0, sum_sq = 0;
    for (int p = 0; p < parts; p++) {
      sum += sums[(size_t)p * 2 * channels + f];
      sum_sq += sums[(size_t)p * 2 * channels + channels + f];
    }
    double mean = sum / n;
    double var = sum_sq / n - mean * mean;
    if (var < 0) var = 0;
    double unbiased = rows > 1 ? var * n / (n - 1) : var;
    l->running_mean[f] = (1 - NN_BN_MOMENTUM) * l->running_mean[f] + NN_BN_MOMENTUM * (float)mean;
    l->running_var[f] = (1 - NN_BN_MOMENTUM) * l->running_var[f] + NN_BN_MOMENTUM * (float)unbiased;
    float invstd = (float)(1.0 / sqrt(var + NN_BN_EPS));
    l->batch_mean[f] = (float)mean;
    l->batch_invstd[f] = invstd;
    a[f] = l->scale[f] * invstd;
    b[f] = l->shift[f] - a[f] * (float)mean;
  }
}

void nn_bn_infer_coefs(const nn_layer *l, float *a, float *b) {
  for (int f = 0; f < l->info.filters; f++) {
    a[f] = l->scale[f] / sqrtf(l->running_var[f] + NN_BN_EPS);
    b[f] = l->shift[f] - a[f] * l->running_mean[f];
  }
}

/* Cheap activations have their derivative recomputed in pass 2 instead of pass 1 writing
 * g = dy * act'(u) over dy: one write of the whole gradient less (the passes are limited by
 * memory traffic on the large early layers). */
static int recomputed(bm_activation act) {
  return act == BM_ACT_LINEAR || act == BM_ACT_LEAKY || act == BM_ACT_RELU;
}

/* The sums of g and g * xhat per channel for channels [f0, f0 + nf) (nf <= 64, a constant on
 * the fast paths) over rows [first, end), with g = dy * act'(u), u = scale * xhat + shift;
 * g is written over dy unless `keep`. The sums stay in registers over the rows, then are
 * added to sums. */
static inline __attribute__((always_inline)) void backward_sums_block(
    const nn_layer *l, const float *z, float *grad, size_t first, size_t end, double *sums,
    int f0, int nf, bm_activation act, int keep) {
  int channels = l->info.filters;
  const float *mean = l->batch_mean + f0, *invstd = l->batch_invstd + f0;
  const float *scale = l->scale + f0, *shift = l->shift + f0;
  double sum_g[64] = {0}, sum_gx[64] = {0};
  for (size_t r = first; r < end; r++) {
    const float *zr = z + r * channels + f0;
    float *gr = grad + r * channels + f0;
    for (int f = 0; f < nf; f++) {
      float xhat = (zr[f] - mean[f]) * invstd[f];
      float g = gr[f] * nn_act_derivative(act, scale[f] * xhat + shift[f]);
      if (!keep) gr[f] = g;
      sum_g[f] += g;
      sum_gx[f] += g * xhat;
    }
  }
  for (int f = 0; f < nf; f++) {
    sums[f0 + f] += sum_g[f];
    sums[channels + f0 + f] += sum_gx[f];
  }
}

/* backward_sums_block for NN_VW channels as one vector: float sums over NN_FLOAT_SUM_ROWS
 * rows at a time, then added into double */
static inline __attribute__((always_inline)) void backward_sums_v(
    const nn_layer *l, const float *z, float *grad, size_t first, size_t end, double *sums,
    int f0, bm_activation act, int keep) {
  int channels = l->info.filters;
  nn_vf mean = NN_VLOAD(l->batch_mean + f0), invstd = NN_VLOAD(l->batch_invstd + f0);
  nn_vf scale = NN_VLOAD(l->scale + f0), shift = NN_VLOAD(l->shift + f0);
  for (size_t r0 = first; r0 < end; r0 += NN_FLOAT_SUM_ROWS) {
    size_t r1 = r0 + NN_FLOAT_SUM_ROWS < end ? r0 + NN_FLOAT_SUM_ROWS : end;
    nn_vf sum_g = {0}, sum_gx = {0};
    for (size_t r = r0; r < r1; r++) {
      nn_vf xhat = (NN_VLOAD(z + r * channels + f0) - mean) * invstd;
      nn_vf u = NN_FMA(scale, xhat, shift), g = NN_VLOAD(grad + r * channels + f0);
      nn_act_grad_v(&g, &u, act);
      if (!keep) NN_VSTORE(grad + r * channels + f0, g);
      sum_g += g;
      sum_gx = NN_FMA(g, xhat, sum_gx);
    }
    for (int f = 0; f < NN_VW; f++) {
      sums[f0 + f] += sum_g[f];
      sums[channels + f0 + f] += sum_gx[f];
    }
  }
}

static inline __attribute__((always_inline)) void backward_sums(
    const nn_layer *l, const float *z, float *grad, size_t first, size_t end, double *sums,
    bm_activation act) {
  int channels = l->info.filters, keep = recomputed(act);
  if (channels % NN_VW == 0 && nn_act_vectorised(act)) {
    for (int f0 = 0; f0 < channels; f0 += NN_VW)
      backward_sums_v(l, z, grad, first, end, sums, f0, act, keep);
    return;
  }
  switch (channels) { /* whole rows at once for the common widths */
  case 16: backward_sums_block(l, z, grad, first, end, sums, 0, 16, act, keep); return;
  case 32: backward_sums_block(l, z, grad, first, end, sums, 0, 32, act, keep); return;
  case 64: backward_sums_block(l, z, grad, first, end, sums, 0, 64, act, keep); return;
  default: break;
  }
  int f0 = 0; /* otherwise 16 channels (one cache line of each row) per pass */
  for (; f0 + 16 <= channels; f0 += 16)
    backward_sums_block(l, z, grad, first, end, sums, f0, 16, act, keep);
  if (f0 < channels)
    backward_sums_block(l, z, grad, first, end, sums, f0, channels - f0, act, keep);
}

void nn_bn_backward_sums_rows(const nn_layer *l, const float *z, float *grad, size_t first,
                              size_t end, double *sums) {
#define CALL(A) backward_sums(l, z, grad, first, end, sums, A)
  NN_DISPATCH_ACT(l->info.activation, CALL)
#undef CALL
}

/* dz = scale * invstd * (g - mean(g) - xhat * mean(g * xhat))
 *    = k * (g - m1 - (z - batch_mean) * c2)   with per-channel k, m1, c2 in coef[3][channels] */
void nn_bn_backward_finish(nn_layer *l, size_t rows, const double *sums, int parts,
                           float *coef) {
  int channels = l->info.filters;
  float *k = coef, *m1 = coef + channels, *c2 = coef + 2 * channels;
  double n = (double)rows;
  for (int f = 0; f < channels; f++) {
    double sum_g = 0, sum_gx = 0;
    for (int p = 0; p < parts; p++) {
      sum_g += sums[(size_t)p * 2 * channels + f];
      sum_gx += sums[(size_t)p * 2 * channels + channels + f];
    }
    l->dshift[f] += (float)sum_g;
    l->dscale[f] += (float)sum_gx;
    k[f] = l->scale[f] * l->batch_invstd[f];
    m1[f] = (float)(sum_g / n);
    c2[f] = (float)(sum_gx / n) * l->batch_invstd[f];
  }
}

/* grad -> dz in place; grad holds g, or with `recompute` dy (then g = dy * act'(u) here) */
static inline __attribute__((always_inline)) void apply_rows(const nn_layer *l, const float *z,
                                                             float *grad, size_t first,
                                                             size_t end, const float *coef,
                                                             bm_activation act, int recompute) {
  int channels = l->info.filters;
  const float *k = coef, *m1 = coef + channels, *c2 = coef + 2 * channels;
  const float *mean = l->batch_mean, *invstd = l->batch_invstd;
  const float *scale = l->scale, *shift = l->shift;
  if (channels % NN_VW == 0 && nn_act_vectorised(act)) {
    for (int f0 = 0; f0 < channels; f0 += NN_VW) {
      nn_vf kv = NN_VLOAD(k + f0), m1v = NN_VLOAD(m1 + f0), c2v = NN_VLOAD(c2 + f0);
      nn_vf meanv = NN_VLOAD(mean + f0), invstdv = NN_VLOAD(invstd + f0);
      nn_vf scalev = NN_VLOAD(scale + f0), shiftv = NN_VLOAD(shift + f0);
      for (size_t r = first; r < end; r++) {
        nn_vf zc = NN_VLOAD(z + r * channels + f0) - meanv;
        nn_vf g = NN_VLOAD(grad + r * channels + f0);
        if (recompute) {
          nn_vf u = NN_FMA(scalev, zc * invstdv, shiftv);
          nn_act_grad_v(&g, &u, act);
        }
        NN_VSTORE(grad + r * channels + f0, kv * (g - m1v - zc * c2v));
      }
    }
    return;
  }
  for (size_t r = first; r < end; r++) {
    const float *zr = z + r * channels;
    float *gr = grad + r * channels;
    for (int f = 0; f < channels; f++) {
      float g = gr[f];
      if (recompute)
        g *= nn_act_derivative(act, scale[f] * ((zr[f] - mean[f]) * invstd[f]) + shift[f]);
      gr[f] = k[f] * (g - m1[f] - (zr[f] - mean[f]) * c2[f]);
    }
  }
}

void nn_bn_backward_apply_rows(const nn_layer *l, const float *z, float *grad, size_t first,
                               size_t end, const float *coef) {
  switch (l->info.activation) { /* the cases of recomputed() */
  case BM_ACT_LINEAR: apply_rows(l, z, grad, first, end, coef, BM_ACT_LINEAR, 1); break;
  case BM_ACT_LEAKY: apply_rows(l, z, grad, first, end, coef, BM_ACT_LEAKY, 1); break;
  case BM_ACT_RELU: apply_rows(l, z, grad, first, end, coef, BM_ACT_RELU, 1); break;
  default: apply_rows(l, z, grad, first, end, coef, BM_ACT_LINEAR, 0); break;
  }
}

/* ---- whole tensors: reduce holds `threads` ranges of 2 * channels partial sums, then the
 * float coefficients */
void nn_bn_forward_train(nn_layer *l, const float *z, size_t rows, double *reduce,
                         int threads) {
  int channels = l->info.filters, parts = nn_parts(rows * channels, threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    double *sums = reduce + (size_t)p * 2 * channels;
    memset(sums, 0, 2 * (size_t)channels * sizeof(double));
    size_t first, end;
    nn_part(rows, parts, p, &first, &end);
    nn_bn_sums_rows(z, first, end, channels, sums);
  }
  float *a = (float *)(reduce + (size_t)parts * 2 * channels), *b = a + channels;
  nn_bn_finish_stats(l, rows, reduce, parts, a, b);
  nn_channel_affine_act(z, l->out, rows, channels, a, b, l->info.activation, threads);
}

void nn_bn_forward_infer(nn_layer *l, float *x, size_t rows, double *reduce, int threads) {
  float *a = (float *)reduce, *b = a + l->info.filters;
  nn_bn_infer_coefs(l, a, b);
  nn_channel_affine_act(x, x, rows, l->info.filters, a, b, l->info.activation, threads);
}

void nn_bn_backward(nn_layer *l, const float *z, float *grad, size_t rows, double *reduce,
                    int threads) {
  int channels = l->info.filters, parts = nn_parts(rows * channels, threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    double *sums = reduce + (size_t)p * 2 * channels;
    memset(sums, 0, 2 * (size_t)channels * sizeof(double));
    size_t first, end;
    nn_part(rows, parts, p, &first, &end);
    nn_bn_backward_sums_rows(l, z, grad, first, end, sums);
  }
  float *coef = (float *)(reduce + (size_t)parts * 2 * channels);
  nn_bn_backward_finish(l, rows, reduce, parts, coef);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(rows, parts, p, &first, &end);
    nn_bn_backward_apply_rows(l, z, grad, first, end, coef);
  }
}
