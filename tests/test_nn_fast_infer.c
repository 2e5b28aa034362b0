/* The inference-only convolution kernels (bm_net_set_fast_infer): Winograd F(2x2, 3x3) and
 * F(4x4, 3x3) (src/nn/winograd.c), the direct first-layer convolution (src/nn/conv_direct.c)
 * and 1x1 convolutions on few pixels (src/nn/conv_pointwise.c). Every output of a one-conv
 * network must equal a convolution computed here in double from the same parameters (bias
 * or batch-norm running statistics, activation), within float rounding of the sums; outputs
 * must be bitwise the same on 1 and 2 threads, and the im2col path (fast_infer off) and the
 * kernels with OpenBLAS instead of the own GEMM must agree too. Winograd shapes (F(2x2)
 * below 20x20 outputs, F(4x4) from there) cover odd and non-square sizes, padding 0 and 1,
 * filter counts that are not multiples of the 32-filter blocks, a 1x1 input, batches whose
 * tiles cross image boundaries, several weight pieces and two tile chunks (4096 channels);
 * direct shapes cover 1 and 3 channels, 16 and 32 filters, strides 1 and 2, kernel sizes 1,
 * 3 and 5, and widths that are not multiples of the 8-pixel groups; 1x1 shapes cover 1024
 * channels and filter counts that are not multiples of 32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_nn.h"
#include "testlib.h"

typedef struct wg_case {
  int channels, filters, height, width, pad, batch_norm, batch;
  const char *activation;
  int size, stride; /* 0: 3 and 1 */
  int winograd;     /* 1: a Winograd layer (sums in another order than im2col's) */
} wg_case;

static double act_value(const char *act, double u) {
  if (!strcmp(act, "leaky")) return u > 0 ? u : 0.1 * u;
  if (!strcmp(act, "logistic")) return 1.0 / (1.0 + exp(-u));
  return u; /* linear */
}

static const bm_param_group *find_group(const bm_param_group *g, int n, bm_param_kind kind) {
  for (int i = 0; i < n; i++)
    if (g[i].kind == kind) return &g[i];
  return NULL;
}

/* Runs one case on `threads` threads with Winograd on or off; returns the output copy. */
static float *run(bm_network *net, int threads, int winograd, size_t n_out) {
  bm_net_set_threads(net, threads);
  bm_net_set_fast_infer(net, winograd);
  bm_net_forward(net);
  float *out = malloc(n_out * sizeof(float));
  memcpy(out, bm_net_output(net, 0), n_out * sizeof(float));
  return out;
}

static void check_case(const wg_case *wc) {
  char cfg[512];
  int S = wc->size ? wc->size : 3, stride = wc->stride ? wc->stride : 1;
  snprintf(cfg, sizeof cfg,
           "[net]\nwidth=%d\nheight=%d\nchannels=%d\n[convolutional]\nfilters=%d\nsize=%d\n"
           "stride=%d\npadding=%d\nbatch_normalize=%d\nactivation=%s\n",
           wc->width, wc->height, wc->channels, wc->filters, S, stride, wc->pad, wc->batch_norm,
           wc->activation);
  bm_network *net;
  bm_error err;
  if (bm_net_create_from_text(&net, cfg, "winograd", wc->batch, NULL, &err)) {
    CHECK_MSG(0, "%s\n", err.msg);
    return;
  }
  bm_rng rng;
  bm_rng_seed(&rng, 42, (uint64_t)wc->channels * 1000 + wc->filters);
  bm_net_init_params(net, &rng);
  int n_groups, n_state_groups;
  const bm_param_group *groups = bm_net_param_groups(net, &n_groups);
  const bm_param_group *state_groups = bm_net_state_groups(net, &n_state_groups);
  float *params = bm_net_params(net), *state = bm_net_state(net);
  const bm_param_group *wg = find_group(groups, n_groups, BM_PARAM_CONV_WEIGHT);
  /* non-trivial scale, shift, bias and running statistics */
  for (int i = 0; i < n_groups; i++)
    if (groups[i].kind != BM_PARAM_CONV_WEIGHT)
      for (size_t j = 0; j < groups[i].count; j++)
        params[groups[i].offset + j] = bm_rng_range(&rng, -0.5f, 1.5f);
  for (int i = 0; i < n_state_groups; i++)
    for (size_t j = 0; j < state_groups[i].count; j++)
      state[state_groups[i].offset + j] = state_groups[i].kind == BM_STATE_BN_VAR
                                              ? bm_rng_range(&rng, 0.2f, 2.0f)
                                              : bm_rng_range(&rng, -0.3f, 0.3f);
  int C = wc->channels, F = wc->filters, H = wc->height, W = wc->width, B = wc->batch;
  float *input = bm_net_input(net); /* NCHW */
  for (size_t j = 0; j < (size_t)B * C * H * W; j++) input[j] = bm_rng_range(&rng, -1, 1);
  const bm_layer_info *info = bm_net_layer(net, 0);
  int OH = info->out_h, OW = info->out_w;
  CHECK(OH == (H + 2 * wc->pad - S) / stride + 1 && OW == (W + 2 * wc->pad - S) / stride + 1);
  size_t n_out = (size_t)B * OH * OW * F;

  float *one = run(net, 1, 1, n_out), *two = run(net, 2, 1, n_out);
  float *im2col = run(net, 2, 0, n_out);
  bm_net_set_gemm(net, BM_GEMM_BLAS); /* the kernels' OpenBLAS fallback */
  float *blas = run(net, 2, 1, n_out);
  bm_net_set_gemm(net, BM_GEMM_AUTO);
  /* With the engine's own GEMM every output row is summed in one fixed order whatever rows
   * a thread takes, so 1 and 2 threads agree bit for bit. OpenBLAS (the product on CPUs
   * without AVX-512F) may round differently for other row-block sizes (seen with its Zen
   * kernels), so there the two-thread result is held to the reference tolerance below. */
  int own = bm_net_gemm(net) == BM_GEMM_OWN;
  if (own)
    CHECK_MSG(memcmp(one, two, n_out * sizeof(float)) == 0,
              "1 and 2 threads differ (C=%d F=%d)\n", C, F);
  /* the im2col path sums in another order: some output should differ in the last bits,
   * which shows that the two settings really take different paths */
  if (wc->winograd)
    CHECK_MSG(memcmp(one, im2col, n_out * sizeof(float)) != 0,
              "winograd on/off bitwise equal (C=%d F=%d)\n", C, F);

  const float *w = params + wg->offset; /* [f][ky][kx][c] */
  const bm_param_group *bias = find_group(groups, n_groups, BM_PARAM_CONV_BIAS);
  const bm_param_group *scale = find_group(groups, n_groups, BM_PARAM_BN_SCALE);
  const bm_param_group *shift = find_group(groups, n_groups, BM_PARAM_BN_BIAS);
  const bm_param_group *mean = find_group(state_groups, n_state_groups, BM_STATE_BN_MEAN);
  const bm_param_group *var = find_group(state_groups, n_state_groups, BM_STATE_BN_VAR);
  int bad = 0;
  double worst = 0, worst_ratio = 0; /* largest error, largest error / tolerance */
  for (int b = 0; b < B; b++)
    for (int oy = 0; oy < OH; oy++)
      for (int ox = 0; ox < OW; ox++)
        for (int f = 0; f < F; f++) {
          double sum = 0, magnitude = 0;
          for (int ky = 0; ky < S; ky++)
            for (int kx = 0; kx < S; kx++) {
              int iy = oy * stride - wc->pad + ky, ix = ox * stride - wc->pad + kx;
              if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
              for (int c = 0; c < C; c++) {
                double x = input[(((size_t)b * C + c) * H + iy) * W + ix];
                double wv = w[(((size_t)f * S + ky) * S + kx) * C + c];
                sum += wv * x;
                magnitude += fabs(wv * x);
              }
            }
          double a = 1, shift_f;
          if (wc->batch_norm) {
            a = params[scale->offset + f] / sqrt((double)state[var->offset + f] + 1e-5);
            shift_f = params[shift->offset + f] - a * state[mean->offset + f];
          } else {
            shift_f = params[bias->offset + f];
          }
          double expect = act_value(wc->activation, a * sum + shift_f);
          double tol = 1e-5 * fabs(a) * magnitude + 1e-5;
          size_t at = (((size_t)b * OH + oy) * OW + ox) * F + f;
          double err_one = fabs(one[at] - expect), err_i2c = fabs(im2col[at] - expect);
          double err_blas = fabs(blas[at] - expect), err_two = fabs(two[at] - expect);
          if (err_one > worst) worst = err_one;
          if (err_one / tol > worst_ratio) worst_ratio = err_one / tol;
          if ((err_one > tol || err_two > tol || err_i2c > tol || err_blas > tol) && bad++ < 5)
            fprintf(stderr,
                    "C=%d F=%d b=%d y=%d x=%d f=%d: fast %.7g im2col %.7g fast with BLAS %.7g "
                    "expect %.7g\n",
                    C, F, b, oy, ox, f, one[at], im2col[at], blas[at], expect);
        }
  CHECK_MSG(bad == 0, "%d outputs off (C=%d F=%d)\n", bad, C, F);
  printf("C=%d F=%d %dx%d size %d stride %d pad %d batch %d: largest error %.3g (%.2f of the "
         "tolerance)\n",
         C, F, H, W, S, stride, wc->pad, B, worst, worst_ratio);
  free(one);
  free(two);
  free(im2col);
  free(blas);
  bm_net_free(net);
}

int main(void) {
  const wg_case cases[] = {
      /* Winograd */
      {32, 150, 9, 7, 1, 1, 1, "leaky", 0, 0, 1},     /* odd, non-square; block of 22 */
      {32, 128, 13, 13, 0, 0, 3, "linear", 0, 0, 1},  /* no padding, bias, across images */
      {48, 130, 1, 1, 1, 1, 2, "logistic", 0, 0, 1},  /* 1x1 input: tiles mostly padding */
      {4096, 64, 10, 10, 1, 1, 2, "leaky", 0, 0, 1},  /* 2 chunks of tiles, across images */
      {32, 32, 40, 36, 1, 1, 1, "leaky", 0, 0, 1},    /* F(4x4); one block: split by tiles */
      {16, 64, 60, 58, 1, 1, 1, "leaky", 0, 0, 1},    /* F(4x4); small U: several steps */
      {512, 64, 22, 21, 1, 1, 2, "linear", 0, 0, 1},  /* F(4x4), blocks split, 2 images */
      {32, 96, 25, 24, 0, 0, 1, "leaky", 0, 0, 1},    /* F(4x4), no padding: 23x22 */
      {16, 48, 17, 31, 0, 0, 2, "linear", 0, 0, 1},   /* 16 channels, 2 blocks, 2 images */
      /* direct */
      {3, 16, 37, 29, 1, 1, 2, "leaky", 3, 1, 0},  /* RGB 3x3, like a first layer */
      {3, 32, 21, 19, 1, 0, 1, "linear", 3, 2, 0}, /* stride 2, bias */
      {1, 16, 11, 23, 2, 1, 1, "logistic", 5, 1, 0}, /* 5x5, one channel */
      {4, 32, 6, 9, 0, 1, 3, "leaky", 1, 1, 0},    /* 1x1 kernel */
      /* 1x1 on few pixels */
      {1024, 255, 13, 13, 0, 1, 1, "leaky", 1, 1, 0}, /* rows 4 KB apart; block of 31 */
      {32, 40, 7, 5, 0, 0, 3, "linear", 1, 1, 0},     /* bias, 3 images, block of 8 */
      {64, 96, 9, 11, 0, 1, 1, "logistic", 1, 1, 0},  /* 3 blocks on 2 threads */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
  return bm_test_finish("test_nn_fast_infer");
}
