/* Convolution kernels used in training mode: the direct forward sums for few input channels
 * (src/nn/conv_direct.c), Winograd sums for 3x3 stride-1 layers and their input gradients
 * (src/nn/winograd.c), the im2col-free weight gradients of 3x3 kernels (src/nn/conv_wgrad.c)
 * and the transposed weight-gradient product for few filters (src/nn/conv.c). A one-conv
 * network is run forward in training mode (batch statistics), given dLoss/d(out) = R
 * (random, fixed), and run backward; its output and its weight, bias / bn scale / bn shift
 * gradients (and with a 1x1 conv before it, its input gradient) must equal a reference
 * computed here in double from the formulas (convolution, batch norm with the biased batch
 * variance, activation, and their derivatives), on 1 and 2 threads, and two runs on 2
 * threads must be bitwise equal. Shapes: odd and non-square sizes, strides 1 and 2, padding
 * 0, 1 and 2, 1/2/3/4 channels, 16/32/48 filters, batches of 1-3 images, one case with more
 * pixels per thread than a cache-sized chunk (chunk borders inside an image row),
 * 16/32-channel layers on maps below and above Winograd's F(4x4) threshold (20x20), and
 * 16/32-channel layers with rows of at least 16 pixels (the vector weight-gradient kernel of
 * conv_wgrad.c; strides 1 and 2, padding 0 and 1, 24 filters). Cases the first-layer kernels
 * do not take (4 channels, 5x5) check that the fallbacks and the new kernels mix correctly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_nn.h"
#include "testlib.h"

typedef struct tc {
  int channels, filters, height, width, size, stride, pad, batch_norm, batch;
  const char *activation; /* leaky, linear or logistic */
  int input_grad; /* 1: a 1x1 conv before the tested layer, whose output gradient (the tested
                   * layer's input gradient) is checked too */
} tc;

static double act_value(const char *act, double u) {
  if (!strcmp(act, "leaky")) return u > 0 ? u : 0.1 * u;
  if (!strcmp(act, "logistic")) return 1.0 / (1.0 + exp(-u));
  return u;
}

static double act_derivative(const char *act, double u) {
  if (!strcmp(act, "leaky")) return u > 0 ? 1.0 : 0.1;
  if (!strcmp(act, "logistic")) {
    double s = 1.0 / (1.0 + exp(-u));
    return s * (1 - s);
  }
  return 1.0;
}

/* the larger error, NaN counting as the largest */
static double worse(double a, double b) { return isnan(a) || a > b ? a : b; }

/* 1 when either thread count's value is off the double reference by more than tol (NaN
 * counts as off); keeps the worst error / tol seen in *worst_ratio. */
static int off_reference(double got1, double got2, double want, double tol, double *worst_ratio) {
  double e = worse(fabs(got1 - want), fabs(got2 - want));
  if (isnan(e) || e / tol > *worst_ratio) *worst_ratio = e / tol;
  return !(e <= tol);
}

static const bm_param_group *find_group(const bm_param_group *g, int n, int layer,
                                        bm_param_kind kind) {
  for (int i = 0; i < n; i++)
    if (g[i].layer == layer && g[i].kind == kind) return &g[i];
  return NULL;
}

typedef struct result {
  float *out, *grads; /* copies: the tested layer's output, all parameter gradients */
  float *x, *dx;      /* with input_grad: its input (NHWC) and input gradient */
} result;

static float *copy_of(const float *src, size_t n) {
  float *dst = malloc(n * sizeof(float));
  memcpy(dst, src, n * sizeof(float));
  return dst;
}

/* One training step's forward and backward on `threads` threads from the same parameters;
 * the tested layer is the last one. */
static result run(bm_network *net, int threads, const float *input, const float *r_grad,
                  size_t n_in, size_t n_x, size_t n_out) {
  int last = bm_net_n_layers(net) - 1;
  bm_net_set_threads(net, threads);
  memcpy(bm_net_input(net), input, n_in * sizeof(float));
  bm_net_zero_grads(net);
  bm_net_forward(net);
  memcpy(bm_net_output_grad(net, last), r_grad, n_out * sizeof(float));
  /* garbage where the input gradient goes: the paths that write it without clearing it
   * first (Winograd) must write every element */
  if (last)
    for (size_t j = 0; j < n_x; j++) bm_net_output_grad(net, 0)[j] = NAN;
  bm_net_backward(net);
  result res = {copy_of(bm_net_output(net, last), n_out),
                copy_of(bm_net_grads(net), bm_net_n_params(net)), NULL, NULL};
  if (last) {
    res.x = copy_of(bm_net_output(net, 0), n_x);
    res.dx = copy_of(bm_net_output_grad(net, 0), n_x);
  }
  return res;
}

static void result_free(result *r) {
  free(r->out);
  free(r->grads);
  free(r->x);
  free(r->dx);
}

static void check_case(const tc *c, uint64_t seed) {
  char cfg[512], before[128] = "";
  if (c->input_grad)
    snprintf(before, sizeof before, "[convolutional]\nfilters=%d\nsize=1\nactivation=linear\n",
             c->channels);
  snprintf(cfg, sizeof cfg,
           "[net]\nwidth=%d\nheight=%d\nchannels=%d\n%s[convolutional]\nfilters=%d\nsize=%d\n"
           "stride=%d\npadding=%d\nbatch_normalize=%d\nactivation=%s\n",
           c->width, c->height, c->channels, before, c->filters, c->size, c->stride, c->pad,
           c->batch_norm, c->activation);
  int L = c->input_grad; /* the tested layer */
  bm_network *net;
  bm_error err;
  if (bm_net_create_from_text(&net, cfg, "train conv", c->batch, NULL, &err)) {
    CHECK_MSG(0, "%s", err.msg);
    return;
  }
  bm_net_set_training(net, 1);
  bm_rng rng;
  bm_rng_seed(&rng, seed, 7);
  bm_net_init_params(net, &rng);
  int n_groups;
  const bm_param_group *groups = bm_net_param_groups(net, &n_groups);
  float *params = bm_net_params(net);
  for (int i = 0; i < n_groups; i++)
    if (groups[i].kind != BM_PARAM_CONV_WEIGHT)
      for (size_t j = 0; j < groups[i].count; j++)
        params[groups[i].offset + j] = bm_rng_range(&rng, -0.5f, 1.5f);
  int C = c->channels, F = c->filters, H = c->height, W = c->width, B = c->batch;
  int S = c->size, P = c->pad, stride = c->stride;
  const bm_layer_info *info = bm_net_layer(net, L);
  int OH = info->out_h, OW = info->out_w;
  CHECK(OH == (H + 2 * P - S) / stride + 1 && OW == (W + 2 * P - S) / stride + 1);
  size_t n_in = (size_t)B * C * H * W, n_out = (size_t)B * OH * OW * F, n_x = n_in;
  float *input = malloc(n_in * sizeof(float)), *r_grad = malloc(n_out * sizeof(float));
  for (size_t j = 0; j < n_in; j++) input[j] = bm_rng_range(&rng, -1, 1);
  for (size_t j = 0; j < n_out; j++) r_grad[j] = bm_rng_range(&rng, -1, 1);

  result one = run(net, 1, input, r_grad, n_in, n_x, n_out);
  result two = run(net, 2, input, r_grad, n_in, n_x, n_out);
  result again = run(net, 2, input, r_grad, n_in, n_x, n_out);
  size_t n_params = bm_net_n_params(net);
  CHECK_MSG(memcmp(two.out, again.out, n_out * sizeof(float)) == 0 &&
                memcmp(two.grads, again.grads, n_params * sizeof(float)) == 0 &&
                (!L || memcmp(two.dx, again.dx, n_x * sizeof(float)) == 0),
            "two runs on 2 threads differ (C=%d F=%d)", C, F);
  /* the tested layer's input x[b][y][x][c]: the network input, or the 1x1 conv's output
   * (from the 1-thread run; the 2-thread one may differ in the last bits) */
  double *x = malloc(n_x * sizeof(double));
  for (int b = 0; b < B; b++)
    for (int iy = 0; iy < H; iy++)
      for (int ix = 0; ix < W; ix++)
        for (int ch = 0; ch < C; ch++) {
          size_t at = (((size_t)b * H + iy) * W + ix) * C + ch;
          x[at] = L ? one.x[at] : input[(((size_t)b * C + ch) * H + iy) * W + ix];
        }

  /* the reference, in double: z (conv), batch statistics, out, then dz and the gradients */
  size_t w_off = find_group(groups, n_groups, L, BM_PARAM_CONV_WEIGHT)->offset;
  const float *w = params + w_off;
  const bm_param_group *bias_g = find_group(groups, n_groups, L, BM_PARAM_CONV_BIAS);
  const bm_param_group *scale_g = find_group(groups, n_groups, L, BM_PARAM_BN_SCALE);
  const bm_param_group *shift_g = find_group(groups, n_groups, L, BM_PARAM_BN_BIAS);
  size_t pixels = (size_t)B * OH * OW;
  double *z = calloc(n_out, sizeof(double)), *dz = calloc(n_out, sizeof(double));
  double *xhat = calloc(n_out, sizeof(double)), *g = calloc(n_out, sizeof(double));
#define X(b, iy, ix, ch) (x[(((size_t)(b) * H + (iy)) * W + (ix)) * C + (ch)])
  for (int b = 0; b < B; b++)
    for (int oy = 0; oy < OH; oy++)
      for (int ox = 0; ox < OW; ox++)
        for (int f = 0; f < F; f++) {
          double sum = 0;
          for (int ky = 0; ky < S; ky++)
            for (int kx = 0; kx < S; kx++) {
              int iy = oy * stride - P + ky, ix = ox * stride - P + kx;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              for (int ch = 0; ch < C; ch++)
                sum += w[(((size_t)f * S + ky) * S + kx) * C + ch] * X(b, iy, ix, ch);
            }
          z[(((size_t)b * OH + oy) * OW + ox) * F + f] = sum;
        }
  double *d_scale = calloc((size_t)F, sizeof(double));
  double *d_shift = calloc((size_t)F, sizeof(double));
  double *mag_scale = calloc((size_t)F, sizeof(double));
  double *mag_shift = calloc((size_t)F, sizeof(double));
  int bad = 0;
  double worst = 0;
  for (int f = 0; f < F; f++) {
    double mean = 0, var = 0, invstd = 1, scale = 1, shift;
    if (c->batch_norm) {
      for (size_t p = 0; p < pixels; p++) mean += z[p * F + f];
      mean /= (double)pixels;
      for (size_t p = 0; p < pixels; p++) var += (z[p * F + f] - mean) * (z[p * F + f] - mean);
      var /= (double)pixels;
      invstd = 1 / sqrt(var + 1e-5);
      scale = params[scale_g->offset + f];
      shift = params[shift_g->offset + f];
    } else {
      shift = params[bias_g->offset + f];
    }
    double sum_g = 0, sum_gx = 0;
    for (size_t p = 0; p < pixels; p++) {
      size_t at = p * F + f;
      xhat[at] = c->batch_norm ? (z[at] - mean) * invstd : z[at];
      double u = scale * xhat[at] + shift;
      double expect = act_value(c->activation, u);
      double e = worse(fabs(one.out[at] - expect), fabs(two.out[at] - expect));
      if (worse(e, worst) != worst) worst = e;
      if (!(e <= 1e-4 * (1 + fabs(expect))) && bad++ < 5) /* NaN fails too */
        fprintf(stderr, "out p=%zu f=%d: 1 thread %.7g, 2 threads %.7g, expect %.7g\n", p, f,
                one.out[at], two.out[at], expect);
      g[at] = r_grad[at] * act_derivative(c->activation, u);
      sum_g += g[at];
      sum_gx += g[at] * xhat[at];
      mag_shift[f] += fabs(g[at]);
      mag_scale[f] += fabs(g[at] * xhat[at]);
    }
    d_scale[f] = sum_gx;
    d_shift[f] = sum_g;
    for (size_t p = 0; p < pixels; p++) {
      size_t at = p * F + f;
      dz[at] = c->batch_norm ? scale * invstd *
                                   (g[at] - sum_g / (double)pixels -
                                    xhat[at] * sum_gx / (double)pixels)
                             : g[at];
    }
  }
  CHECK_MSG(bad == 0, "%d outputs off (C=%d F=%d, largest error %g)", bad, C, F, worst);

  /* parameter gradients; tolerance relative to the sum of the magnitudes of the terms */
  int bad_grads = 0;
  double worst_ratio = 0;
  for (int f = 0; f < F; f++)
    for (int ky = 0; ky < S; ky++)
      for (int kx = 0; kx < S; kx++)
        for (int ch = 0; ch < C; ch++) {
          double sum = 0, magnitude = 0;
          for (int b = 0; b < B; b++)
            for (int oy = 0; oy < OH; oy++)
              for (int ox = 0; ox < OW; ox++) {
                int iy = oy * stride - P + ky, ix = ox * stride - P + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                double term = dz[(((size_t)b * OH + oy) * OW + ox) * F + f] * X(b, iy, ix, ch);
                sum += term;
                magnitude += fabs(term);
              }
          size_t at = w_off + (((size_t)f * S + ky) * S + kx) * C + ch;
          double tol = 2e-5 * magnitude + 1e-6;
          if (off_reference(one.grads[at], two.grads[at], sum, tol, &worst_ratio) &&
              bad_grads++ < 5)
            fprintf(stderr, "dweight f=%d ky=%d kx=%d c=%d: 1 thread %.7g, 2 threads %.7g, "
                            "expect %.7g (tol %.3g)\n",
                    f, ky, kx, ch, one.grads[at], two.grads[at], sum, tol);
        }
  for (int f = 0; f < F; f++) {
    const bm_param_group *gs[2] = {c->batch_norm ? scale_g : bias_g,
                                   c->batch_norm ? shift_g : NULL};
    double want[2] = {c->batch_norm ? d_scale[f] : d_shift[f], d_shift[f]};
    double mag[2] = {c->batch_norm ? mag_scale[f] : mag_shift[f], mag_shift[f]};
    for (int k = 0; k < 2; k++) {
      if (!gs[k]) continue;
      size_t at = gs[k]->offset + f;
      double tol = 2e-5 * mag[k] + 1e-6;
      if (!(fabs(one.grads[at] - want[k]) <= tol && fabs(two.grads[at] - want[k]) <= tol) &&
          bad_grads++ < 5)
        fprintf(stderr, "%s f=%d: 1 thread %.7g, 2 threads %.7g, expect %.7g\n",
                k ? "dshift" : (c->batch_norm ? "dscale" : "dbias"), f, one.grads[at],
                two.grads[at], want[k]);
    }
  }
  CHECK_MSG(bad_grads == 0, "%d gradients off (C=%d F=%d)", bad_grads, C, F);
  /* the input gradient: dx[b][iy][ix][c] = sum over the outputs whose window holds the
   * pixel of dz * w */
  double worst_dx = 0;
  int bad_dx = 0;
  for (int b = 0; b < B && L; b++)
    for (int iy = 0; iy < H; iy++)
      for (int ix = 0; ix < W; ix++)
        for (int ch = 0; ch < C; ch++) {
          double sum = 0, magnitude = 0;
          for (int ky = 0; ky < S; ky++)
            for (int kx = 0; kx < S; kx++) {
              int ty = iy + P - ky, tx = ix + P - kx;
              if (ty < 0 || tx < 0 || ty % stride || tx % stride) continue;
              int oy = ty / stride, ox = tx / stride;
              if (oy >= OH || ox >= OW) continue;
              for (int f = 0; f < F; f++) {
                double term = dz[(((size_t)b * OH + oy) * OW + ox) * F + f] *
                              w[(((size_t)f * S + ky) * S + kx) * C + ch];
                sum += term;
                magnitude += fabs(term);
              }
            }
          size_t at = (((size_t)b * H + iy) * W + ix) * C + ch;
          double tol = 1e-5 * magnitude + 1e-6;
          if (off_reference(one.dx[at], two.dx[at], sum, tol, &worst_dx) && bad_dx++ < 5)
            fprintf(stderr, "dx b=%d y=%d x=%d c=%d: 1 thread %.7g, 2 threads %.7g, expect "
                            "%.7g (tol %.3g)\n",
                    b, iy, ix, ch, one.dx[at], two.dx[at], sum, tol);
        }
  CHECK_MSG(bad_dx == 0, "%d input gradients off (C=%d F=%d)", bad_dx, C, F);
  printf("C=%d F=%d %dx%d size %d stride %d pad %d batch %d bn %d %s: output error %.3g, "
         "weight gradient error %.2f of the tolerance",
         C, F, H, W, S, stride, P, B, c->batch_norm, c->activation, worst, worst_ratio);
  if (L) printf(", input gradient error %.2f of the tolerance", worst_dx);
  printf("\n");
#undef X
  free(z);
  free(dz);
  free(xhat);
  free(g);
  free(d_scale);
  free(d_shift);
  free(mag_scale);
  free(mag_shift);
  free(x);
  result_free(&one);
  result_free(&two);
  result_free(&again);
  free(input);
  free(r_grad);
  bm_net_free(net);
}

int main(void) {
  const tc cases[] = {
      {3, 16, 37, 29, 3, 1, 1, 1, 3, "leaky", 0},     /* RGB 3x3 like boxmine-tiny's layer 0 */
      {3, 32, 21, 19, 3, 2, 1, 0, 2, "linear", 0},    /* stride 2, bias, 32 filters */
      {1, 16, 11, 23, 3, 1, 1, 1, 2, "logistic", 0},  /* one channel */
      {2, 48, 9, 14, 3, 1, 0, 1, 2, "leaky", 0},      /* 48 filters (no direct forward), no pad */
      {3, 16, 13, 10, 3, 1, 2, 1, 1, "leaky", 0},     /* padding 2, one image on 2 threads */
      {4, 16, 12, 11, 3, 1, 1, 1, 2, "leaky", 0},     /* 4 channels: direct forward only */
      {1, 32, 15, 17, 5, 2, 2, 0, 3, "leaky", 0},     /* 5x5: direct forward only */
      {3, 16, 67, 61, 3, 1, 1, 1, 3, "leaky", 0},     /* chunks of 9709 pixels end mid-row */
      {16, 32, 21, 23, 3, 1, 1, 1, 2, "leaky", 1},    /* Winograd F(4x4), like layer 2 */
      {32, 48, 9, 11, 3, 1, 1, 0, 3, "linear", 1},    /* F(2x2), bias, a block of 16 filters */
      {16, 64, 13, 13, 3, 1, 0, 1, 2, "logistic", 1}, /* F(2x2), no padding: 11x11 */
      {48, 16, 20, 22, 3, 1, 1, 1, 2, "leaky", 1},    /* 16 filters: dx by F(4x4) from 16 */
      {32, 32, 7, 5, 3, 2, 1, 1, 2, "leaky", 1},      /* stride 2: dx by GEMM + col2im */
      {16, 32, 12, 9, 3, 1, 1, 1, 1, "leaky", 1},     /* one image on 2 threads */
      /* the 16-channel-vector weight gradient (rows of at least 16 pixels) */
      {16, 24, 40, 37, 3, 1, 1, 1, 3, "leaky", 1},    /* 24 filters; chunks end mid-row */
      {32, 32, 17, 33, 3, 2, 1, 1, 2, "leaky", 1},    /* stride 2 */
      {16, 16, 18, 20, 3, 1, 0, 0, 2, "linear", 1},   /* no padding, bias */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], 100 + i);
  return bm_test_finish("test_nn_conv_train");
}
