/* Activation functions over whole arrays, alone or after a per-channel affine map (conv bias
 * or batch norm). Each loop is instantiated once per activation (the `act` argument of the
 * always-inline helpers is a constant at every call), so the common ones vectorise. */
#include <string.h>

#include "nn/nn.h"

static inline __attribute__((always_inline)) void affine_act_rows(
    const float *z, float *out, size_t first, size_t end, int channels, const float *a,
    const float *b, bm_activation act) {
  if (channels % NN_VW == 0 && nn_act_vectorised(act)) { /* one vector of channels at a time */
    for (size_t r = first; r < end; r++)
      for (int f = 0; f < channels; f += NN_VW) {
        nn_vf u = NN_VLOAD(z + r * channels + f);
        if (a)
          u = NN_FMA(NN_VLOAD(a + f), u, NN_VLOAD(b + f));
        else
          u += NN_VLOAD(b + f);
        nn_act_v(&u, act);
        NN_VSTORE(out + r * channels + f, u);
      }
    return;
  }
  for (size_t r = first; r < end; r++) {
    const float *zr = z + r * channels;
    float *outr = out + r * channels;
    if (a)
      for (int f = 0; f < channels; f++) outr[f] = nn_act_value(act, a[f] * zr[f] + b[f]);
    else
      for (int f = 0; f < channels; f++) outr[f] = nn_act_value(act, zr[f] + b[f]);
  }
}

void nn_affine_act_rows(const float *z, float *out, size_t first, size_t end, int channels,
                        const float *a, const float *b, bm_activation act) {
#define CALL(A) affine_act_rows(z, out, first, end, channels, a, b, A)
  NN_DISPATCH_ACT(act, CALL)
#undef CALL
}

static inline __attribute__((always_inline)) void affine_act_block(
    const float *z, size_t ldz, float *out, size_t ldo, size_t rows, int cols, const float *a,
    const float *b, bm_activation act) {
  for (size_t r = 0; r < rows; r++) {
    const float *zr = z + r * ldz;
    float *outr = out + r * ldo;
    if (a)
      for (int f = 0; f < cols; f++) outr[f] = nn_act_value(act, a[f] * zr[f] + b[f]);
    else
      for (int f = 0; f < cols; f++) outr[f] = nn_act_value(act, zr[f] + b[f]);
  }
}

void nn_affine_act_block(const float *z, size_t ldz, float *out, size_t ldo, size_t rows,
                         int cols, const float *a, const float *b, bm_activation act) {
#define CALL(A) affine_act_block(z, ldz, out, ldo, rows, cols, a, b, A)
  NN_DISPATCH_ACT(act, CALL)
#undef CALL
}

void nn_channel_affine_act(const float *z, float *out, size_t rows, int channels,
                           const float *a, const float *b, bm_activation act, int threads) {
  int parts = nn_parts(rows * channels, threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(rows, parts, p, &first, &end);
    nn_affine_act_rows(z, out, first, end, channels, a, b, act);
  }
}

static inline __attribute__((always_inline)) void bias_act_backward_rows(
    const float *z, float *grad, size_t first, size_t end, int channels, const float *bias,
    double *sum, bm_activation act) {
  if (channels % NN_VW == 0 && nn_act_vectorised(act)) {
    for (int f0 = 0; f0 < channels; f0 += NN_VW) {
      nn_vf bv = NN_VLOAD(bias + f0);
      for (size_t r0 = first; r0 < end; r0 += NN_FLOAT_SUM_ROWS) {
        size_t r1 = r0 + NN_FLOAT_SUM_ROWS < end ? r0 + NN_FLOAT_SUM_ROWS : end;
        nn_vf s = {0};
        for (size_t r = r0; r < r1; r++) {
          nn_vf g = NN_VLOAD(grad + r * channels + f0), u = NN_VLOAD(z + r * channels + f0) + bv;
          nn_act_grad_v(&g, &u, act);
          NN_VSTORE(grad + r * channels + f0, g);
          s += g;
        }
        for (int f = 0; f < NN_VW; f++) sum[f0 + f] += s[f];
      }
    }
    return;
  }
  for (size_t r = first; r < end; r++) {
    const float *zr = z + r * channels;
    float *gr = grad + r * channels;
    for (int f = 0; f < channels; f++) {
      float g = act == BM_ACT_LINEAR ? gr[f] : gr[f] * nn_act_derivative(act, zr[f] + bias[f]);
      gr[f] = g;
      sum[f] += g;
    }
  }
}

void nn_bias_act_backward_rows(const float *z, float *grad, size_t first, size_t end,
                               int channels, const float *bias, bm_activation act, double *sum) {
#define CALL(A) bias_act_backward_rows(z, grad, first, end, channels, bias, sum, A)
  NN_DISPATCH_ACT(act, CALL)
#undef CALL
}

void nn_bias_act_backward(const float *z, float *grad, size_t rows, int channels,
                          const float *bias, bm_activation act, float *dbias, double *reduce,
                          int threads) {
  int parts = nn_parts(rows * channels, threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    double *sum = reduce + (size_t)p * channels;
    memset(sum, 0, (size_t)channels * sizeof(double));
    size_t first, end;
    nn_part(rows, parts, p, &first, &end);
    nn_bias_act_backward_rows(z, grad, first, end, channels, bias, act, sum);
  }
  for (int f = 0; f < channels; f++) {
    double total = 0;
    for (int p = 0; p < parts; p++) total += reduce[(size_t)p * channels + f];
    dbias[f] += (float)total;
  }
}

static inline __attribute__((always_inline)) void act_range(float *x, size_t first, size_t end,
                                                            bm_activation act) {
  for (size_t i = first; i < end; i++) x[i] = nn_act_value(act, x[i]);
}

void nn_act_forward(float *x, size_t n, bm_activation act, int threads) {
  if (act == BM_ACT_LINEAR) return;
  int parts = nn_parts(n, threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(n, parts, p, &first, &end);
#define CALL(A) act_range(x, first, end, A)
    NN_DISPATCH_ACT(act, CALL)
#undef CALL
  }
}

static inline __attribute__((always_inline)) void act_grad_range(const float *u, float *grad,
                                                                 size_t first, size_t end,
                                                                 bm_activation act) {
  for (size_t i = first; i < end; i++) grad[i] *= nn_act_derivative(act, u[i]);
}

void nn_act_backward(const float *u, float *grad, size_t n, bm_activation act, int threads) {
  if (act == BM_ACT_LINEAR) return;
  int parts = nn_parts(n, threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(n, parts, p, &first, &end);
#define CALL(A) act_grad_range(u, grad, first, end, A)
    NN_DISPATCH_ACT(act, CALL)
#undef CALL
  }
}

void nn_zero(float *x, size_t n, int threads) {
  int parts = nn_parts(n, threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(n, parts, p, &first, &end);
    memset(x + first, 0, (end - first) * sizeof(float));
  }
}
