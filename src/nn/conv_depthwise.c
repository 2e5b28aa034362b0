/* Depthwise convolutions (groups == in_c == filters: one k x k filter per channel) without
 * im2col, for training and inference.
 *
 *   in   [batch][in_h][in_w][C]    weight [C][k][k]    out, z  [batch][out_h][out_w][C]
 *   z[b][oy][ox][c] = sum over (ky, kx) of in[b][oy*s - p + ky][ox*s - p + kx][c] * w[c][ky][kx]
 *
 * NHWC puts the channel innermost, so NN_VW channels (the target's vector: 16 with AVX-512, 8
 * with AVX2) are one vector and every tap is one vector multiply-add. The weights are first transposed to wt[ky * k + kx][C] (channel-contiguous)
 * at the start of the workspace. Each output row is cut into a left border, an interior
 * whose windows lie inside the image, and a right border; in the interior of rows whose
 * window rows all exist, a 3x3 or 5x5 kernel keeps its 9 or 25 weight vectors of one channel
 * block in registers (25 spill on AVX2) and walks the row's pixels (one load per multiply-add); borders and
 * other sizes check each tap. Channels beyond the last multiple of
 * NN_VW take a scalar loop.
 *
 * Forward: each thread takes a contiguous range of the batch's output pixels. Inference fuses
 * batch norm (nn_bn_infer_coefs) or bias and the activation into the store; training writes
 * z, and batch norm then needs every thread's sums (a barrier) before out = act(a z + b).
 * Backward (after the activation / batch-norm backward that turns dLoss/dout into dLoss/dz):
 *  - weight gradient: each thread sums its range of output pixels into a private
 *    wt-shaped partial (3x3/5x5 interiors again with the accumulators in registers); the
 *    partials are added in thread order, so results depend on the thread count only;
 *  - input gradient: each thread takes a range of input pixels and gathers, for every pixel,
 *    the output pixels whose windows cover it (no two threads write the same element, and
 *    every element is written: the caller may ask for din = instead of din +=). */
#include <omp.h>
#include <string.h>

#include "nn/nn.h"

int nn_depthwise_fits(const bm_layer_info *l) {
  return l->type == BM_LAYER_CONV && l->groups > 1 && l->groups == l->in_c &&
         l->filters == l->in_c && l->size <= NN_DEPTHWISE_MAX_SIZE;
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

size_t nn_depthwise_work_floats(const bm_layer_info *l, int threads) {
  size_t taps = round16((size_t)l->size * l->size * l->in_c);
  return taps * (size_t)(threads + 1);
}

typedef struct dw_geom {
  int c, h, w, k, s, p, oh, ow;
} dw_geom;

static dw_geom geom_of(const bm_layer_info *l) {
  return (dw_geom){l->in_c, l->in_h, l->in_w, l->size, l->stride, l->pad, l->out_h, l->out_w};
}

/* wt[t][c] = weight[c][t] */
static void transpose_weights(const dw_geom g, const float *weight, float *wt) {
  int kk = g.k * g.k;
  for (int c = 0; c < g.c; c++)
    for (int t = 0; t < kk; t++) wt[(size_t)t * g.c + c] = weight[(size_t)c * kk + t];
}

/* Output columns [lo, hi) whose windows lie inside the image's width. */
static void interior_cols(const dw_geom g, int *lo, int *hi) {
  int l0 = (g.p + g.s - 1) / g.s;
  int h0 = g.w - g.k + g.p >= 0 ? (g.w - g.k + g.p) / g.s + 1 : 0;
  if (h0 > g.ow) h0 = g.ow;
  if (l0 > h0) l0 = h0;
  *lo = l0;
  *hi = h0;
}

#define vload NN_VLOAD
#define vstore NN_VSTORE
#define W NN_VW /* floats per vector */

/* ---- forward ---------------------------------------------------------------------------- */
/* What the forward kernel stores per output: z (the plain sums, may be NULL) and
 * out = act(a z + b) (may be NULL; a NULL: a = 1; b NULL: b = 0). */
typedef struct dw_out {
  float *z, *out;
  const float *a, *b;
} dw_out;

static inline __attribute__((always_inline)) void store_v(const dw_out o, size_t at,
                                                         const nn_vf *acc, const nn_vf *av,
                                                         const nn_vf *bv, bm_activation act) {
  if (o.z) vstore(o.z + at, *acc);
  if (o.out) {
    nn_vf u = NN_FMA(*av, *acc, *bv);
    nn_act_v(&u, act);
    vstore(o.out + at, u);
  }
}

/* Output pixels ox in [x0, x1) of row oy of image img, channels [c, c + W), every tap
 * checked; weights from memory. */
static inline __attribute__((always_inline)) void fwd_checked(
    const dw_geom g, const float *img, int oy, int x0, int x1, int c, const float *wt,
    size_t out_row, const dw_out o, const nn_vf *av, const nn_vf *bv, bm_activation act) {
  for (int ox = x0; ox < x1; ox++) {
    nn_vf acc = {0};
    for (int ky = 0; ky < g.k; ky++) {
      int iy = oy * g.s - g.p + ky;
      if (iy < 0 || iy >= g.h) continue;
      for (int kx = 0; kx < g.k; kx++) {
        int ix = ox * g.s - g.p + kx;
        if (ix < 0 || ix >= g.w) continue;
        acc = NN_FMA(vload(img + ((size_t)iy * g.w + ix) * g.c + c),
                     vload(wt + (size_t)(ky * g.k + kx) * g.c + c), acc);
      }
    }
    store_v(o, out_row + (size_t)ox * g.c + c, &acc, av, bv, act);
  }
}

/* The interior of a row whose K window rows exist: K a constant (3 or 5), weights in
 * registers. */
static inline __attribute__((always_inline)) void fwd_interior(
    const dw_geom g, const float *img, int oy, int x0, int x1, int c, const float *wt,
    size_t out_row, const dw_out o, const nn_vf *av, const nn_vf *bv, bm_activation act, int K) {
  nn_vf w[25];
  for (int t = 0; t < K * K; t++) w[t] = vload(wt + (size_t)t * g.c + c);
  size_t row = (size_t)g.w * g.c;
  const float *top = img + (size_t)(oy * g.s - g.p) * row + c;
  for (int ox = x0; ox < x1; ox++) {
    const float *p = top + (size_t)(ox * g.s - g.p) * g.c;
    nn_vf acc = {0};
    for (int ky = 0; ky < K; ky++)
      for (int kx = 0; kx < K; kx++)
        acc = NN_FMA(vload(p + ky * row + (size_t)kx * g.c), w[ky * K + kx], acc);
    store_v(o, out_row + (size_t)ox * g.c + c, &acc, av, bv, act);
  }
}

/* Scalar channels [c0, C) of pixels [x0, x1) of row oy. */
static void fwd_scalar(const dw_geom g, const float *img, int oy, int x0, int x1, int c0,
                       const float *wt, size_t out_row, const dw_out o, bm_activation act) {
  for (int ox = x0; ox < x1; ox++)
    for (int c = c0; c < g.c; c++) {
      float acc = 0;
      for (int ky = 0; ky < g.k; ky++) {
        int iy = oy * g.s - g.p + ky;
        if (iy < 0 || iy >= g.h) continue;
        for (int kx = 0; kx < g.k; kx++) {
          int ix = ox * g.s - g.p + kx;
          if (ix < 0 || ix >= g.w) continue;
          acc += img[((size_t)iy * g.w + ix) * g.c + c] * wt[(size_t)(ky * g.k + kx) * g.c + c];
        }
      }
      size_t at = out_row + (size_t)ox * g.c + c;
      if (o.z) o.z[at] = acc;
      if (o.out)
        o.out[at] = nn_act_value(act, (o.a ? o.a[c] : 1.0f) * acc + (o.b ? o.b[c] : 0.0f));
    }
}

static inline __attribute__((always_inline)) void fwd_pixels(const dw_geom g, const float *in,
                                                           size_t r0, size_t r1,
                                                           const float *wt, const dw_out o,
                                                           bm_activation act) {
  size_t plane = (size_t)g.oh * g.ow, image = (size_t)g.h * g.w * g.c;
  int lo, hi;
  interior_cols(g, &lo, &hi);
  int full = g.c / W * W;
  for (size_t r = r0; r < r1;) {
    size_t b = r / plane, rem = r % plane;
    int oy = (int)(rem / g.ow), x0 = (int)(rem % g.ow);
    int x1 = (size_t)(g.ow - x0) < r1 - r ? g.ow : x0 + (int)(r1 - r);
    const float *img = in + b * image;
    size_t out_row = (b * plane + (size_t)oy * g.ow) * g.c;
    int rows_inside = oy * g.s - g.p >= 0 && oy * g.s - g.p + g.k <= g.h;
    int a0 = x0 > lo ? x0 : lo, a1 = x1 < hi ? x1 : hi; /* interior part of [x0, x1) */
    if (!rows_inside || (g.k != 3 && g.k != 5) || a0 >= a1) a0 = a1 = x1;
    for (int c = 0; c < full; c += W) {
      nn_vf av = {0}, bv = {0};
      if (o.a) av = vload(o.a + c);
      else av += 1.0f;
      if (o.b) bv = vload(o.b + c);
      fwd_checked(g, img, oy, x0, a0, c, wt, out_row, o, &av, &bv, act);
      if (a0 < a1) {
        if (g.k == 3)
          fwd_interior(g, img, oy, a0, a1, c, wt, out_row, o, &av, &bv, act, 3);
        else
          fwd_interior(g, img, oy, a0, a1, c, wt, out_row, o, &av, &bv, act, 5);
      }
      fwd_checked(g, img, oy, a1 > x0 ? a1 : x0, x1, c, wt, out_row, o, &av, &bv, act);
    }
    if (full < g.c) fwd_scalar(g, img, oy, x0, x1, full, wt, out_row, o, act);
    r += (size_t)(x1 - x0);
  }
}

static void fwd_pixels_act(const dw_geom g, const float *in, size_t r0, size_t r1,
                           const float *wt, const dw_out o, bm_activation act) {
#define CALL(A) fwd_pixels(g, in, r0, r1, wt, o, A)
  NN_DISPATCH_ACT(act, CALL)
#undef CALL
}

void nn_depthwise_forward(nn_ctx *ctx, nn_layer *l, const float *in, float *z, float *a,
                          float *b) {
  const bm_layer_info *info = &l->info;
  dw_geom g = geom_of(info);
  size_t rows = (size_t)ctx->batch * g.oh * g.ow;
  float *wt = ctx->work;
  transpose_weights(g, l->weight, wt);
  int batch_stats = info->batch_normalize && ctx->training;
  int parts = nn_parts(rows * (size_t)g.c * (size_t)(g.k * g.k), ctx->threads);
#pragma omp parallel num_threads(parts)
  {
    int p = omp_get_thread_num(), n = omp_get_num_threads();
    size_t r0, r1;
    nn_part(rows, n, p, &r0, &r1);
    if (batch_stats) {
      /* z, then its statistics from every thread, then out = act(a z + b) */
      dw_out o = {z, NULL, NULL, NULL};
      fwd_pixels_act(g, in, r0, r1, wt, o, BM_ACT_LINEAR);
      double *sums = ctx->reduce + (size_t)p * 2 * g.c;
      memset(sums, 0, 2 * (size_t)g.c * sizeof(double));
      nn_bn_sums_rows(z, r0, r1, g.c, sums);
#pragma omp barrier
#pragma omp single
      nn_bn_finish_stats(l, rows, ctx->reduce, n, a, b);
      nn_affine_act_rows(z, l->out, r0, r1, g.c, a, b, info->activation);
    } else {
      /* inference (bn coefficients or bias) or training without batch norm: out fused, and
       * z too when training keeps it */
      dw_out o = {ctx->training && z != l->out ? z : NULL, l->out,
                  info->batch_normalize ? a : NULL, info->batch_normalize ? b : l->bias};
      fwd_pixels_act(g, in, r0, r1, wt, o, info->activation);
    }
  }
}

/* ---- weight gradient -------------------------------------------------------------------- */
/* part[t][c] += sum over output pixels [x0, x1) of row oy of dz * the input under tap t,
 * every tap checked. */
static void wgrad_checked(const dw_geom g, const float *img, const float *dz_row, int oy,
                          int x0, int x1, int c, float *part) {
  for (int ox = x0; ox < x1; ox++) {
    nn_vf d = vload(dz_row + (size_t)ox * g.c + c);
    for (int ky = 0; ky < g.k; ky++) {
      int iy = oy * g.s - g.p + ky;
      if (iy < 0 || iy >= g.h) continue;
      for (int kx = 0; kx < g.k; kx++) {
        int ix = ox * g.s - g.p + kx;
        if (ix < 0 || ix >= g.w) continue;
        float *pt = part + (size_t)(ky * g.k + kx) * g.c + c;
        vstore(pt, NN_FMA(vload(img + ((size_t)iy * g.w + ix) * g.c + c), d, vload(pt)));
      }
    }
  }
}

static inline __attribute__((always_inline)) void wgrad_interior(
    const dw_geom g, const float *img, const float *dz_row, int oy, int x0, int x1, int c,
    float *part, int K) {
  nn_vf acc[25];
  for (int t = 0; t < K * K; t++) acc[t] = (nn_vf){0};
  size_t row = (size_t)g.w * g.c;
  const float *top = img + (size_t)(oy * g.s - g.p) * row + c;
  for (int ox = x0; ox < x1; ox++) {
    const float *p = top + (size_t)(ox * g.s - g.p) * g.c;
    nn_vf d = vload(dz_row + (size_t)ox * g.c + c);
    for (int ky = 0; ky < K; ky++)
      for (int kx = 0; kx < K; kx++)
        acc[ky * K + kx] = NN_FMA(vload(p + ky * row + (size_t)kx * g.c), d, acc[ky * K + kx]);
  }
  for (int t = 0; t < K * K; t++) {
    float *pt = part + (size_t)t * g.c + c;
    vstore(pt, vload(pt) + acc[t]);
  }
}

static void wgrad_scalar(const dw_geom g, const float *img, const float *dz_row, int oy,
                         int x0, int x1, int c0, float *part) {
  for (int ox = x0; ox < x1; ox++)
    for (int c = c0; c < g.c; c++) {
      float d = dz_row[(size_t)ox * g.c + c];
      for (int ky = 0; ky < g.k; ky++) {
        int iy = oy * g.s - g.p + ky;
        if (iy < 0 || iy >= g.h) continue;
        for (int kx = 0; kx < g.k; kx++) {
          int ix = ox * g.s - g.p + kx;
          if (ix < 0 || ix >= g.w) continue;
          part[(size_t)(ky * g.k + kx) * g.c + c] +=
              img[((size_t)iy * g.w + ix) * g.c + c] * d;
        }
      }
    }
}

static void wgrad_pixels(const dw_geom g, const float *in, const float *dz, size_t r0,
                         size_t r1, float *part) {
  size_t plane = (size_t)g.oh * g.ow, image = (size_t)g.h * g.w * g.c;
  int lo, hi;
  interior_cols(g, &lo, &hi);
  int full = g.c / W * W;
  for (size_t r = r0; r < r1;) {
    size_t b = r / plane, rem = r % plane;
    int oy = (int)(rem / g.ow), x0 = (int)(rem % g.ow);
    int x1 = (size_t)(g.ow - x0) < r1 - r ? g.ow : x0 + (int)(r1 - r);
    const float *img = in + b * image;
    const float *dz_row = dz + (b * plane + (size_t)oy * g.ow) * g.c;
    int rows_inside = oy * g.s - g.p >= 0 && oy * g.s - g.p + g.k <= g.h;
    int a0 = x0 > lo ? x0 : lo, a1 = x1 < hi ? x1 : hi;
    if (!rows_inside || (g.k != 3 && g.k != 5) || a0 >= a1) a0 = a1 = x1;
    for (int c = 0; c < full; c += W) {
      wgrad_checked(g, img, dz_row, oy, x0, a0, c, part);
      if (a0 < a1) {
        if (g.k == 3)
          wgrad_interior(g, img, dz_row, oy, a0, a1, c, part, 3);
        else
          wgrad_interior(g, img, dz_row, oy, a0, a1, c, part, 5);
      }
      wgrad_checked(g, img, dz_row, oy, a1 > x0 ? a1 : x0, x1, c, part);
    }
    if (full < g.c) wgrad_scalar(g, img, dz_row, oy, x0, x1, full, part);
    r += (size_t)(x1 - x0);
  }
}

/* ---- input gradient --------------------------------------------------------------------- */
/* The output positions whose windows cover input position i along one axis: pairs (tap,
 * output index); returns how many (at most k). */
static int covering(int i, int k, int s, int p, int n_out, int *tap, int *o) {
  int n = 0;
  for (int t = (i + p) % s; t < k; t += s) {
    int q = i + p - t;
    if (q < 0) break;
    q /= s;
    if (q >= n_out) continue;
    tap[n] = t;
    o[n++] = q;
  }
  return n;
}

static void dx_pixels(const dw_geom g, const float *dz, const float *wt, size_t q0, size_t q1,
                      float *din, int add) {
  size_t plane_in = (size_t)g.h * g.w, plane_out = (size_t)g.oh * g.ow;
  int full = g.c / W * W;
  int ty[NN_DEPTHWISE_MAX_SIZE], oy[NN_DEPTHWISE_MAX_SIZE];
  int tx[NN_DEPTHWISE_MAX_SIZE], ox[NN_DEPTHWISE_MAX_SIZE];
  int last_row = -1, ny = 0;
  for (size_t q = q0; q < q1; q++) {
    size_t b = q / plane_in, rem = q % plane_in;
    int iy = (int)(rem / g.w), ix = (int)(rem % g.w);
    if ((int)(b * (size_t)g.h) + iy != last_row) {
      ny = covering(iy, g.k, g.s, g.p, g.oh, ty, oy);
      last_row = (int)(b * (size_t)g.h) + iy;
    }
    int nx = covering(ix, g.k, g.s, g.p, g.ow, tx, ox);
    /* up to k * k (tap, dz pixel) pairs */
    size_t src[NN_DEPTHWISE_MAX_SIZE * NN_DEPTHWISE_MAX_SIZE];
    size_t wof[NN_DEPTHWISE_MAX_SIZE * NN_DEPTHWISE_MAX_SIZE];
    int n = 0;
    for (int i = 0; i < ny; i++)
      for (int j = 0; j < nx; j++) {
        src[n] = (b * plane_out + (size_t)oy[i] * g.ow + ox[j]) * g.c;
        wof[n++] = (size_t)(ty[i] * g.k + tx[j]) * g.c;
      }
    float *d = din + q * g.c;
    for (int c = 0; c < full; c += W) {
      nn_vf acc = add ? vload(d + c) : (nn_vf){0};
      for (int i = 0; i < n; i++) acc = NN_FMA(vload(dz + src[i] + c), vload(wt + wof[i] + c), acc);
      vstore(d + c, acc);
    }
    for (int c = full; c < g.c; c++) {
      float acc = add ? d[c] : 0.0f;
      for (int i = 0; i < n; i++) acc += dz[src[i] + c] * wt[wof[i] + c];
      d[c] = acc;
    }
  }
}

void nn_depthwise_backward(nn_ctx *ctx, nn_layer *l, const float *in, const float *dz,
                           float *din, int add) {
  const bm_layer_info *info = &l->info;
  dw_geom g = geom_of(info);
  size_t rows = (size_t)ctx->batch * g.oh * g.ow;
  size_t in_pixels = (size_t)ctx->batch * g.h * g.w;
  size_t taps = round16((size_t)g.k * g.k * g.c);
  float *wt = ctx->work, *partials = ctx->work + taps;
  transpose_weights(g, l->weight, wt);
  int parts = nn_parts((rows + in_pixels) * (size_t)g.c * (size_t)(g.k * g.k), ctx->threads);
#pragma omp parallel num_threads(parts)
  {
    int p = omp_get_thread_num(), n = omp_get_num_threads();
    float *part = partials + (size_t)p * taps;
    memset(part, 0, taps * sizeof(float));
    size_t r0, r1;
    nn_part(rows, n, p, &r0, &r1);
    wgrad_pixels(g, in, dz, r0, r1, part);
    if (din) {
      nn_part(in_pixels, n, p, &r0, &r1);
      dx_pixels(g, dz, wt, r0, r1, din, add);
    }
#pragma omp barrier
    /* dweight[c][t] += the partials in thread order, channels split over threads */
    size_t c0, c1;
    nn_part((size_t)g.c, n, p, &c0, &c1);
    int kk = g.k * g.k;
    for (size_t c = c0; c < c1; c++)
      for (int t = 0; t < kk; t++) {
        float sum = 0;
        for (int q = 0; q < n; q++) sum += partials[(size_t)q * taps + (size_t)t * g.c + c];
        l->dweight[c * (size_t)kk + t] += sum;
      }
  }
}
