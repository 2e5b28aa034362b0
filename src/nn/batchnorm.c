/* Batch normalisation fused with the activation that follows it, over z[rows][channels]
 * (NHWC, so rows = batch * h * w and the channel is the contiguous index). Statistics are
 * summed in double, per thread over a fixed split of the rows, then combined in thread order:
 * the result depends on the thread count but never on timing. Rules (biased variance to
 * normalise, unbiased in the running average, momentum 0.01, eps 1e-5): see bm_nn.h. */
#include <math.h>
#include <string.h>

#include "nn/nn.h"

void nn_bn_forward_train(const float *z, float *out, size_t rows, int channels,
                         const float *scale, const float *shift, float *running_mean,
                         float *running_var, float *batch_mean, float *batch_invstd,
                         bm_activation act, double *reduce, int threads) {
  int parts = nn_parts(rows * channels, threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    double *sum = reduce + (size_t)p * 2 * channels, *sum_sq = sum + channels;
    memset(sum, 0, 2 * (size_t)channels * sizeof(double));
    size_t first, end;
    nn_part(rows, parts, p, &first, &end);
    for (size_t r = first; r < end; r++) {
      const float *zr = z + r * channels;
      for (int f = 0; f < channels; f++) {
        sum[f] += zr[f];
        sum_sq[f] += (double)zr[f] * zr[f];
      }
    }
  }
  float *a = (float *)(reduce + (size_t)parts * 2 * channels), *b = a + channels;
  double n = (double)rows;
  for (int f = 0; f < channels; f++) {
    double sum = 0, sum_sq = 0;
    for (int p = 0; p < parts; p++) {
      sum += reduce[(size_t)p * 2 * channels + f];
      sum_sq += reduce[(size_t)p * 2 * channels + channels + f];
    }
    double mean = sum / n;
    double var = sum_sq / n - mean * mean;
    if (var < 0) var = 0;
    double unbiased = rows > 1 ? var * n / (n - 1) : var;
    running_mean[f] = (1 - NN_BN_MOMENTUM) * running_mean[f] + NN_BN_MOMENTUM * (float)mean;
    running_var[f] = (1 - NN_BN_MOMENTUM) * running_var[f] + NN_BN_MOMENTUM * (float)unbiased;
    float invstd = (float)(1.0 / sqrt(var + NN_BN_EPS));
    batch_mean[f] = (float)mean;
    batch_invstd[f] = invstd;
    a[f] = scale[f] * invstd;
    b[f] = shift[f] - a[f] * (float)mean;
  }
  nn_channel_affine_act(z, out, rows, channels, a, b, act, threads);
}

void nn_bn_forward_infer(float *x, size_t rows, int channels, const float *scale,
                         const float *shift, const float *running_mean,
                         const float *running_var, bm_activation act, double *reduce,
                         int threads) {
  float *a = (float *)reduce, *b = a + channels;
  for (int f = 0; f < channels; f++) {
    a[f] = scale[f] / sqrtf(running_var[f] + NN_BN_EPS);
    b[f] = shift[f] - a[f] * running_mean[f];
  }
  nn_channel_affine_act(x, x, rows, channels, a, b, act, threads);
}

/* Pass 1 of the backward: g = dy * act'(u) with u = scale * xhat + shift, and per-thread
 * sums of g and g * xhat. */
static inline __attribute__((always_inline)) void backward_sums(
    const float *z, float *grad, size_t first, size_t end, int channels, const float *scale,
    const float *shift, const float *mean, const float *invstd, double *sum_g,
    double *sum_gx, bm_activation act) {
  for (size_t r = first; r < end; r++) {
    const float *zr = z + r * channels;
    float *gr = grad + r * channels;
    for (int f = 0; f < channels; f++) {
      float xhat = (zr[f] - mean[f]) * invstd[f];
      float g = gr[f] * nn_act_derivative(act, scale[f] * xhat + shift[f]);
      gr[f] = g;
      sum_g[f] += g;
      sum_gx[f] += g * xhat;
    }
  }
}

void nn_bn_backward(const float *z, float *grad, size_t rows, int channels, const float *scale,
                    const float *shift, const float *batch_mean, const float *batch_invstd,
                    bm_activation act, float *dscale, float *dshift, double *reduce,
                    int threads) {
  int parts = nn_parts(rows * channels, threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    double *sum_g = reduce + (size_t)p * 2 * channels, *sum_gx = sum_g + channels;
    memset(sum_g, 0, 2 * (size_t)channels * sizeof(double));
    size_t first, end;
    nn_part(rows, parts, p, &first, &end);
    const float *m = batch_mean, *is = batch_invstd;
#define CALL(A) backward_sums(z, grad, first, end, channels, scale, shift, m, is, sum_g, sum_gx, A)
    NN_DISPATCH_ACT(act, CALL)
#undef CALL
  }
  /* dz = scale * invstd * (g - mean(g) - xhat * mean(g * xhat))
   *    = k * (g - m1 - (z - mean) * c2)   with per-channel k, m1, c2 */
  float *k = (float *)(reduce + (size_t)parts * 2 * channels), *m1 = k + channels,
        *c2 = m1 + channels;
  double n = (double)rows;
  for (int f = 0; f < channels; f++) {
    double sum_g = 0, sum_gx = 0;
    for (int p = 0; p < parts; p++) {
      sum_g += reduce[(size_t)p * 2 * channels + f];
      sum_gx += reduce[(size_t)p * 2 * channels + channels + f];
    }
    dshift[f] += (float)sum_g;
    dscale[f] += (float)sum_gx;
    k[f] = scale[f] * batch_invstd[f];
    m1[f] = (float)(sum_g / n);
    c2[f] = (float)(sum_gx / n) * batch_invstd[f];
  }
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(rows, parts, p, &first, &end);
    for (size_t r = first; r < end; r++) {
      const float *zr = z + r * channels;
      float *gr = grad + r * channels;
      for (int f = 0; f < channels; f++)
        gr[f] = k[f] * (gr[f] - m1[f] - (zr[f] - batch_mean[f]) * c2[f]);
    }
  }
}
