/* The depthwise convolution kernels (src/nn/conv_depthwise.c) against the generic grouped
 * path (im2col + one GEMM per group, checked against finite differences and PyTorch
 * elsewhere), and the 1x1 kernel for few input channels (nn_narrow_rows, conv_pointwise.c)
 * against the GEMM. A 1x1 conv feeds a depthwise conv, so that the depthwise layer's input
 * gradient shows in the 1x1 conv's weight gradient and in the gradient of the 1x1 conv's
 * output. Per case, on 1 and 2 threads: the training forward output, every parameter gradient,
 * the input gradient (over NaN garbage: the fast path claims to write every element), the
 * batch-norm running statistics after the step, and the inference output (batch norm folded
 * into the store) must match the generic path within float rounding; two runs on 2 threads
 * must be bitwise equal. Shapes: channels that are and are not multiples of 16, 1x1 and
 * odd-sized maps, 3x3 and 5x5 kernels, strides 1 and 2, padding 0, 1 and 2, batches 1 and
 * 3, with and without batch norm, several activations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_nn.h"
#include "nn/nn.h"
#include "testlib.h"

typedef struct dw_case {
  int channels, height, width, size, stride, padding, batch_norm, batch;
  const char *activation;
  int filters; /* 0: a depthwise layer (groups = filters = channels); else groups 1 */
} dw_case;

typedef struct outcome {
  float *out, *grads, *dx, *state, *infer;
} outcome;

static float *copy_of(const float *src, size_t n) {
  float *dst = malloc(n * sizeof(float));
  memcpy(dst, src, n * sizeof(float));
  return dst;
}

static outcome run(bm_network *net, int fast, int threads, const float *params,
                   const float *state, const float *input, const float *r_grad) {
  size_t n_params = bm_net_n_params(net), n_state = bm_net_n_state(net);
  int B = bm_net_batch(net), C, H, W;
  bm_net_input_dims(net, &C, &H, &W);
  const bm_layer_info *l0 = bm_net_layer(net, 0), *l1 = bm_net_layer(net, 1);
  size_t n_in = (size_t)B * C * H * W;
  size_t n_x = (size_t)B * l0->out_h * l0->out_w * l0->out_c;
  size_t n_out = (size_t)B * l1->out_h * l1->out_w * l1->out_c;
  nn_net_set_depthwise(net, fast);
  nn_net_set_narrow(net, fast);
  bm_net_set_threads(net, threads);
  memcpy(bm_net_params(net), params, n_params * sizeof(float));
  if (n_state) memcpy(bm_net_state(net), state, n_state * sizeof(float));
  bm_net_set_training(net, 1);
  memcpy(bm_net_input(net), input, n_in * sizeof(float));
  bm_net_zero_grads(net);
  bm_net_forward(net);
  memcpy(bm_net_output_grad(net, 1), r_grad, n_out * sizeof(float));
  for (size_t j = 0; j < n_x; j++) bm_net_output_grad(net, 0)[j] = NAN;
  bm_net_backward(net);
  outcome o = {copy_of(bm_net_output(net, 1), n_out), copy_of(bm_net_grads(net), n_params),
               copy_of(bm_net_output_grad(net, 0), n_x),
               n_state ? copy_of(bm_net_state(net), n_state) : NULL, NULL};
  /* inference from the original statistics, fast kernels (Winograd etc.) on */
  bm_net_set_training(net, 0);
  bm_net_set_fast_infer(net, 1);
  if (n_state) memcpy(bm_net_state(net), state, n_state * sizeof(float));
  bm_net_forward(net);
  o.infer = copy_of(bm_net_output(net, 1), n_out);
  return o;
}

static void outcome_free(outcome *o) {
  free(o->out);
  free(o->grads);
  free(o->dx);
  free(o->state);
  free(o->infer);
}

/* got within tol of want, relative to the largest |want| (float sums of up to 25 + C terms
 * in another order) */
static int close_all(const float *got, const float *want, size_t n, double tol, size_t *at) {
  double scale = 1e-3;
  for (size_t j = 0; j < n; j++) scale = fmax(scale, fabs(want[j]));
  for (size_t j = 0; j < n; j++)
    if (!(fabs((double)got[j] - want[j]) <= tol * scale)) {
      *at = j;
      return 0;
    }
  return 1;
}

static void check_case(const dw_case *c, uint64_t seed) {
  char cfg[640];
  int F = c->filters ? c->filters : c->channels, groups = c->filters ? 1 : c->channels;
  snprintf(cfg, sizeof cfg,
           "[net]\nwidth=%d\nheight=%d\nchannels=3\n"
           "[convolutional]\nfilters=%d\nsize=1\nactivation=linear\n"
           "[convolutional]\nfilters=%d\ngroups=%d\nsize=%d\nstride=%d\npadding=%d\n"
           "batch_normalize=%d\nactivation=%s\n",
           c->width, c->height, c->channels, F, groups, c->size, c->stride, c->padding,
           c->batch_norm, c->activation);
  bm_network *net;
  bm_error err;
  if (bm_net_create_from_text(&net, cfg, "depthwise", c->batch, NULL, &err)) {
    CHECK_MSG(0, "%s", err.msg);
    return;
  }
  CHECK(bm_net_layer(net, 1)->groups == groups);
  bm_rng rng;
  bm_rng_seed(&rng, seed, 11);
  bm_net_init_params(net, &rng);
  size_t n_params = bm_net_n_params(net), n_state = bm_net_n_state(net);
  float *params = copy_of(bm_net_params(net), n_params);
  for (size_t j = 0; j < n_params; j++) params[j] = bm_rng_range(&rng, -1, 1);
  float *state = n_state ? malloc(n_state * sizeof(float)) : NULL;
  int n_sg;
  const bm_param_group *sg = bm_net_state_groups(net, &n_sg);
  for (int i = 0; i < n_sg; i++)
    for (size_t j = 0; j < sg[i].count; j++)
      state[sg[i].offset + j] = sg[i].kind == BM_STATE_BN_VAR ? bm_rng_range(&rng, 0.2f, 2)
                                                               : bm_rng_range(&rng, -0.5f, 0.5f);
  const bm_layer_info *l1 = bm_net_layer(net, 1);
  size_t n_in = (size_t)c->batch * 3 * c->height * c->width;
  size_t n_x = (size_t)c->batch * c->height * c->width * c->channels;
  size_t n_out = (size_t)c->batch * l1->out_h * l1->out_w * F;
  float *input = malloc(n_in * sizeof(float)), *r_grad = malloc(n_out * sizeof(float));
  for (size_t j = 0; j < n_in; j++) input[j] = bm_rng_range(&rng, -1, 1);
  for (size_t j = 0; j < n_out; j++) r_grad[j] = bm_rng_range(&rng, -1, 1);

  char what[200];
  snprintf(what, sizeof what, "C=%d F=%d groups=%d %dx%d k=%d s=%d p=%d bn=%d %s batch=%d",
           c->channels, F, groups, c->height, c->width, c->size, c->stride, c->padding,
           c->batch_norm, c->activation, c->batch);
  for (int threads = 1; threads <= 2; threads++) {
    outcome want = run(net, 0, threads, params, state, input, r_grad);
    outcome got = run(net, 1, threads, params, state, input, r_grad);
    size_t at = 0;
    CHECK_MSG(close_all(got.out, want.out, n_out, 1e-5, &at),
              "%s, %d threads: training output [%zu] %g, generic %g", what, threads, at,
              got.out[at], want.out[at]);
    CHECK_MSG(close_all(got.infer, want.infer, n_out, 1e-5, &at),
              "%s, %d threads: inference output [%zu] %g, generic %g", what, threads, at,
              got.infer[at], want.infer[at]);
    CHECK_MSG(close_all(got.dx, want.dx, n_x, 1e-5, &at),
              "%s, %d threads: input gradient [%zu] %g, generic %g", what, threads, at,
              got.dx[at], want.dx[at]);
    CHECK_MSG(close_all(got.grads, want.grads, n_params, 1e-5, &at),
              "%s, %d threads: parameter gradient [%zu] %g, generic %g", what, threads, at,
              got.grads[at], want.grads[at]);
    if (n_state)
      CHECK_MSG(close_all(got.state, want.state, n_state, 1e-5, &at),
                "%s, %d threads: running statistic [%zu] %g, generic %g", what, threads, at,
                got.state[at], want.state[at]);
    if (threads == 2) {
      outcome again = run(net, 1, threads, params, state, input, r_grad);
      CHECK_MSG(!memcmp(again.out, got.out, n_out * sizeof(float)) &&
                    !memcmp(again.grads, got.grads, n_params * sizeof(float)) &&
                    !memcmp(again.dx, got.dx, n_x * sizeof(float)) &&
                    !memcmp(again.infer, got.infer, n_out * sizeof(float)),
                "%s: two runs on 2 threads differ", what);
      outcome_free(&again);
    }
    outcome_free(&want);
    outcome_free(&got);
  }
  free(params);
  free(state);
  free(input);
  free(r_grad);
  bm_net_free(net);
}

int main(void) {
  const dw_case cases[] = {
      /* the yolo-fastest shapes, small: 3x3 stride 1 and 2, 5x5 with padding 2 */
      {16, 12, 12, 3, 1, 1, 1, 2, "leaky", 0},
      {48, 11, 13, 3, 2, 1, 1, 3, "leaky", 0},
      {32, 9, 10, 5, 1, 2, 1, 2, "leaky", 0},
      /* channels not a multiple of 16, odd maps, no batch norm (bias), other activations */
      {21, 7, 9, 3, 1, 1, 0, 3, "linear", 0},
      {5, 8, 5, 3, 2, 1, 0, 2, "logistic", 0},
      {37, 10, 7, 5, 2, 2, 1, 1, "relu", 0},
      {19, 6, 6, 3, 1, 0, 1, 2, "leaky", 0},
      {17, 9, 8, 3, 2, 0, 0, 3, "leaky", 0},
      /* 1-pixel maps, a map smaller than the kernel, a wide row split across threads */
      {16, 1, 1, 3, 1, 1, 1, 3, "leaky", 0},
      {33, 1, 1, 3, 2, 1, 0, 2, "linear", 0},
      {16, 3, 4, 5, 1, 2, 1, 2, "leaky", 0},
      {64, 2, 61, 3, 1, 1, 1, 1, "leaky", 0},
      /* other kernel sizes through the generic loops */
      {18, 9, 9, 1, 1, 0, 1, 2, "leaky", 0},
      {16, 11, 10, 7, 2, 3, 0, 2, "leaky", 0},
      /* 1x1 convolutions on up to 512 channels (nn_narrow_rows; the first layer, 3
       * channels, is one in every case): filters below, at and above the 2-vector block,
       * rows not a multiple of the 6-pixel block, the yolo-fastest widths and heads */
      {8, 13, 11, 1, 1, 0, 1, 2, "leaky", 48},
      {16, 7, 7, 1, 1, 0, 0, 3, "linear", 8},
      {32, 9, 5, 1, 1, 0, 1, 1, "leaky", 192},
      {48, 3, 5, 1, 1, 0, 1, 2, "linear", 272},
      {64, 1, 1, 1, 1, 0, 0, 3, "logistic", 21},
      {5, 6, 7, 1, 1, 0, 1, 2, "relu", 37},
      {96, 5, 7, 1, 1, 0, 1, 2, "leaky", 448},
      {448, 3, 3, 1, 1, 0, 0, 1, "linear", 96},
      {144, 4, 5, 1, 1, 0, 0, 2, "linear", 255},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], 100 + i);
  return bm_test_finish("test_nn_depthwise");
}
