/* Gradient checks of every layer type against an independent double-precision reference.
 *
 * The reference below re-implements each layer's forward pass naively (direct convolution,
 * no im2col or GEMM, in double) from the documented layouts and rules in bm_nn.h. For small
 * networks with a loss L = sum over head outputs of w * out (w random and fixed), the test
 *  1. compares the engine's forward outputs (training and inference mode) with the reference,
 *  2. compares every parameter gradient of the engine's backward with central finite
 *     differences of the reference loss (double, eps 1e-6),
 *  3. checks the batch-norm running statistics after one training step.
 * Layers without parameters sit between convolutions, so their backward shows in the
 * gradients of the conv before them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_nn.h"
#include "testlib.h"

/* ---- the reference ------------------------------------------------------------------- */
typedef struct ref_offsets {
  long weight, bias, scale, shift, mean, var; /* -1 when absent */
} ref_offsets;

typedef struct ref_net {
  const bm_network *net;
  int batch;
  ref_offsets *off;
  double **out; /* per layer, NHWC */
  int *is_head;
  /* dropout layers: which elements the training step keeps (read off the engine's own
   * training forward, see keep_from_engine; the reference then checks the kept values and
   * the gradients that flow through them) */
  unsigned char **keep;
} ref_net;

static double act_value(bm_activation act, double u) {
  switch (act) {
  case BM_ACT_LINEAR: return u;
  case BM_ACT_LEAKY: return u > 0 ? u : 0.1 * u;
  case BM_ACT_RELU: return u > 0 ? u : 0;
  case BM_ACT_LOGISTIC: return 1 / (1 + exp(-u));
  case BM_ACT_MISH: return u * tanh(log1p(exp(u)));
  case BM_ACT_SWISH: return u / (1 + exp(-u));
  }
  return u;
}

static void ref_init(ref_net *r, bm_network *net) {
  int n = bm_net_n_layers(net), n_groups;
  r->net = net;
  r->batch = bm_net_batch(net);
  r->off = calloc((size_t)n, sizeof *r->off);
  r->out = calloc((size_t)n, sizeof *r->out);
  r->is_head = calloc((size_t)n, sizeof *r->is_head);
  r->keep = calloc((size_t)n, sizeof *r->keep);
  for (int i = 0; i < n; i++) {
    r->off[i] = (ref_offsets){-1, -1, -1, -1, -1, -1};
    const bm_layer_info *l = bm_net_layer(net, i);
    r->out[i] = calloc((size_t)r->batch * l->out_h * l->out_w * l->out_c, sizeof(double));
    r->is_head[i] = 1;
  }
  const bm_param_group *g = bm_net_param_groups(net, &n_groups);
  for (int j = 0; j < n_groups; j++) {
    ref_offsets *o = &r->off[g[j].layer];
    if (g[j].kind == BM_PARAM_CONV_WEIGHT) o->weight = (long)g[j].offset;
    if (g[j].kind == BM_PARAM_CONV_BIAS) o->bias = (long)g[j].offset;
    if (g[j].kind == BM_PARAM_BN_SCALE) o->scale = (long)g[j].offset;
    if (g[j].kind == BM_PARAM_BN_BIAS) o->shift = (long)g[j].offset;
  }
  g = bm_net_state_groups(net, &n_groups);
  for (int j = 0; j < n_groups; j++) {
    ref_offsets *o = &r->off[g[j].layer];
    if (g[j].kind == BM_STATE_BN_MEAN) o->mean = (long)g[j].offset;
    if (g[j].kind == BM_STATE_BN_VAR) o->var = (long)g[j].offset;
  }
  /* a head is a layer whose output no later layer reads */
  for (int i = 0; i < n; i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    if (i > 0 && l->type != BM_LAYER_ROUTE) r->is_head[i - 1] = 0;
    if (l->type == BM_LAYER_ROUTE)
      for (int j = 0; j < l->n_inputs; j++) r->is_head[l->inputs[j]] = 0;
    if (l->type == BM_LAYER_SHORTCUT) r->is_head[l->from] = 0;
  }
}

static void ref_free(ref_net *r) {
  int n = bm_net_n_layers(r->net);
  for (int i = 0; i < n; i++) {
    free(r->out[i]);
    free(r->keep[i]);
  }
  free(r->out);
  free(r->off);
  free(r->is_head);
  free(r->keep);
}

static void ref_conv(const ref_net *r, const bm_layer_info *l, const ref_offsets *o,
                     const double *in, const double *p, const double *state, int training,
                     double *out) {
  int B = r->batch, F = l->filters, cg = l->in_c / l->groups, fg = F / l->groups, k = l->size;
  size_t n_out = (size_t)B * l->out_h * l->out_w;
  for (int b = 0; b < B; b++)
    for (int oy = 0; oy < l->out_h; oy++)
      for (int ox = 0; ox < l->out_w; ox++)
        for (int f = 0; f < F; f++) {
          int g = f / fg;
          double sum = 0;
          for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
              int iy = oy * l->stride - l->pad + ky, ix = ox * l->stride - l->pad + kx;
              if (iy < 0 || iy >= l->in_h || ix < 0 || ix >= l->in_w) continue;
              for (int c = 0; c < cg; c++)
                sum += in[(((size_t)b * l->in_h + iy) * l->in_w + ix) * l->in_c + g * cg + c] *
                       p[o->weight + (((size_t)f * k + ky) * k + kx) * cg + c];
            }
          out[(((size_t)b * l->out_h + oy) * l->out_w + ox) * F + f] = sum;
        }
  for (int f = 0; f < F; f++) {
    double a = 1, shift;
    if (l->batch_normalize) {
      double mean = 0, var = 0;
      if (training) {
        for (size_t m = 0; m < n_out; m++) mean += out[m * F + f];
        mean /= (double)n_out;
        for (size_t m = 0; m < n_out; m++) var += (out[m * F + f] - mean) * (out[m * F + f] - mean);
        var /= (double)n_out;
      } else {
        mean = state[o->mean + f];
        var = state[o->var + f];
      }
      a = p[o->scale + f] / sqrt(var + 1e-5);
      shift = p[o->shift + f] - a * mean;
    } else {
      shift = p[o->bias + f];
    }
    for (size_t m = 0; m < n_out; m++)
      out[m * F + f] = act_value(l->activation, a * out[m * F + f] + shift);
  }
}

/* Runs the reference forward on input (NHWC, double); returns sum over heads of w * out
 * (w: one weight array per layer, used for heads). */
static double ref_forward(ref_net *r, const double *input, const double *p, const double *state,
                          int training, double **w) {
  const bm_network *net = r->net;
  int n = bm_net_n_layers(net), B = r->batch;
  double loss = 0;
  for (int i = 0; i < n; i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    const double *in = i ? r->out[i - 1] : input;
    double *out = r->out[i];
    size_t n_out = (size_t)B * l->out_h * l->out_w * l->out_c;
    switch (l->type) {
    case BM_LAYER_CONV: ref_conv(r, l, &r->off[i], in, p, state, training, out); break;
    case BM_LAYER_MAXPOOL:
      for (int b = 0; b < B; b++)
        for (int oy = 0; oy < l->out_h; oy++)
          for (int ox = 0; ox < l->out_w; ox++)
            for (int c = 0; c < l->out_c; c++) {
              double best = -INFINITY;
              for (int ky = 0; ky < l->size; ky++)
                for (int kx = 0; kx < l->size; kx++) {
                  int iy = oy * l->stride - l->padding / 2 + ky;
                  int ix = ox * l->stride - l->padding / 2 + kx;
                  if (iy < 0 || iy >= l->in_h || ix < 0 || ix >= l->in_w) continue;
                  double v = in[(((size_t)b * l->in_h + iy) * l->in_w + ix) * l->in_c + c];
                  if (v > best) best = v;
                }
              out[(((size_t)b * l->out_h + oy) * l->out_w + ox) * l->out_c + c] = best;
            }
      break;
    case BM_LAYER_UPSAMPLE:
      for (int b = 0; b < B; b++)
        for (int oy = 0; oy < l->out_h; oy++)
          for (int ox = 0; ox < l->out_w; ox++)
            for (int c = 0; c < l->out_c; c++)
              out[(((size_t)b * l->out_h + oy) * l->out_w + ox) * l->out_c + c] =
                  l->scale * in[(((size_t)b * l->in_h + oy / l->stride) * l->in_w +
                                 ox / l->stride) * l->in_c + c];
      break;
    case BM_LAYER_ROUTE: {
      size_t pixels = (size_t)B * l->out_h * l->out_w;
      int offset = 0;
      for (int j = 0; j < l->n_inputs; j++) {
        const bm_layer_info *src = bm_net_layer(net, l->inputs[j]);
        int part = src->out_c / l->groups;
        for (size_t m = 0; m < pixels; m++)
          for (int c = 0; c < part; c++)
            out[m * l->out_c + offset + c] =
                r->out[l->inputs[j]][m * src->out_c + l->group_id * part + c];
        offset += part;
      }
      break;
    }
    case BM_LAYER_SHORTCUT:
      for (size_t m = 0; m < n_out; m++)
        out[m] = act_value(l->activation, in[m] + r->out[l->from][m]);
      break;
    case BM_LAYER_DROPOUT:
      /* inverted dropout: kept elements are scaled by 1 / (1 - p); inference passes through */
      for (size_t m = 0; m < n_out; m++)
        out[m] = !training ? in[m] : r->keep[i][m] ? in[m] / (1.0 - l->probability) : 0.0;
      break;
    case BM_LAYER_YOLO: {
      int per = 5 + l->yolo.classes;
      for (size_t m = 0; m < n_out; m++) {
        int entry = (int)(m % l->out_c) % per;
        out[m] = entry == 2 || entry == 3 ? in[m] : 1 / (1 + exp(-in[m]));
      }
      break;
    }
    }
    if (r->is_head[i])
      for (size_t m = 0; m < n_out; m++) loss += w[i][m] * out[m];
  }
  return loss;
}

static void check_network_threads(const char *label, const char *cfg, int batch, uint64_t seed,
                                  int threads);
static void check_network_gemm(const char *label, const char *cfg, int batch, uint64_t seed,
                               int threads, bm_gemm_kind gemm);

/* The dropout masks of the engine's last training forward: an element is kept when its
 * output is not 0 (the inputs of the tested dropout layers are never exactly 0). Kept
 * values must be the input times 1 / (1 - p), which the forward comparison then checks. */
static void keep_from_engine(ref_net *r, bm_network *net, const char *label) {
  int n = bm_net_n_layers(net);
  for (int i = 1; i < n; i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    if (l->type != BM_LAYER_DROPOUT) continue;
    size_t n_out = (size_t)r->batch * l->out_h * l->out_w * l->out_c, kept = 0;
    const float *in = bm_net_output(net, i - 1), *out = bm_net_output(net, i);
    free(r->keep[i]);
    r->keep[i] = malloc(n_out);
    for (size_t m = 0; m < n_out; m++) {
      CHECK_MSG(in[m] != 0.0f, "%s: a dropout input is exactly 0; pick another seed", label);
      r->keep[i][m] = out[m] != 0.0f;
      kept += r->keep[i][m];
    }
    CHECK_MSG(kept > 0 && kept < n_out, "%s: dropout layer %d kept %zu of %zu elements", label,
              i, kept, n_out);
  }
}

/* ---- one check ---------------------------------------------------------------------- */
/* One thread: the network's default GEMM (own on AVX-512 CPUs whose OpenBLAS runs its
 * generic kernels, else OpenBLAS); the two-thread checks below run both, and test_nn_golden
 * and test_nn_network cover both on every network. This keeps the sanitizer run short. */
static void check_network(const char *label, const char *cfg, int batch, uint64_t seed) {
  char with_gemm[160];
  snprintf(with_gemm, sizeof with_gemm, "%s [gemm auto]", label);
  check_network_gemm(with_gemm, cfg, batch, seed, 1, BM_GEMM_AUTO);
}

/* With OpenBLAS and, where the CPU has AVX-512F, with the engine's own GEMM. */
static void check_network_threads(const char *label, const char *cfg, int batch, uint64_t seed,
                                  int threads) {
  char with_gemm[160];
  snprintf(with_gemm, sizeof with_gemm, "%s [gemm blas]", label);
  check_network_gemm(with_gemm, cfg, batch, seed, threads, BM_GEMM_BLAS);
  if (bm_gemm_resolve(BM_GEMM_OWN) != BM_GEMM_OWN) return;
  snprintf(with_gemm, sizeof with_gemm, "%s [gemm own]", label);
  check_network_gemm(with_gemm, cfg, batch, seed, threads, BM_GEMM_OWN);
}

static void check_network_gemm(const char *label, const char *cfg, int batch, uint64_t seed,
                               int threads, bm_gemm_kind gemm) {
  bm_error err;
  bm_network *net;
  if (bm_net_create_from_text(&net, cfg, label, batch, NULL, &err)) {
    CHECK_MSG(0, "%s: %s", label, err.msg);
    return;
  }
  bm_net_set_threads(net, threads);
  CHECK(bm_net_set_gemm(net, gemm) == bm_gemm_resolve(gemm));
  bm_rng rng;
  bm_rng_seed(&rng, seed, 1);
  bm_net_init_params(net, &rng);
  size_t n_params = bm_net_n_params(net), n_state = bm_net_n_state(net);
  float *params = bm_net_params(net);
  /* Give bn scale and bias values away from 1 and 0 so that they matter. */
  for (size_t j = 0; j < n_params; j++)
    if (params[j] == 1.0f || params[j] == 0.0f) params[j] += bm_rng_range(&rng, -0.5f, 0.5f);
  float *state = bm_net_state(net);
  for (size_t j = 0; j < n_state; j++) state[j] = bm_rng_range(&rng, 0.5f, 1.5f);

  ref_net r;
  ref_init(&r, net);
  int n = bm_net_n_layers(net), c, h, w;
  bm_net_input_dims(net, &c, &h, &w);
  size_t n_in = (size_t)batch * c * h * w;
  float *input = bm_net_input(net);
  double *input_nhwc = malloc(n_in * sizeof(double));
  for (int b = 0; b < batch; b++)
    for (int ch = 0; ch < c; ch++)
      for (int p = 0; p < h * w; p++) {
        float v = bm_rng_range(&rng, -1, 1);
        input[((size_t)b * c + ch) * h * w + p] = v;
        input_nhwc[((size_t)b * h * w + p) * c + ch] = v;
      }
  double **wts = calloc((size_t)n, sizeof *wts);
  for (int i = 0; i < n; i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    size_t n_out = (size_t)batch * l->out_h * l->out_w * l->out_c;
    wts[i] = malloc(n_out * sizeof(double));
    for (size_t m = 0; m < n_out; m++) wts[i][m] = r.is_head[i] ? bm_rng_range(&rng, -1, 1) : 0;
  }
  double *p = malloc(n_params * sizeof(double)), *s = malloc((n_state + 1) * sizeof(double));
  for (size_t j = 0; j < n_params; j++) p[j] = params[j];
  for (size_t j = 0; j < n_state; j++) s[j] = state[j];

  /* inference-mode forward */
  bm_net_set_training(net, 0);
  bm_net_forward(net);
  ref_forward(&r, input_nhwc, p, s, 0, wts);
  double worst = 0;
  for (int i = 0; i < n; i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    size_t n_out = (size_t)batch * l->out_h * l->out_w * l->out_c;
    const float *out = bm_net_output(net, i);
    for (size_t m = 0; m < n_out; m++) {
      double d = fabs(out[m] - r.out[i][m]) / (1 + fabs(r.out[i][m]));
      if (d > worst) worst = d;
    }
  }
  CHECK_MSG(worst < 1e-4, "%s: inference forward differs from the reference by %g", label, worst);

  /* training-mode forward + backward */
  bm_net_set_training(net, 1);
  bm_net_set_dropout_key(net, seed);
  bm_net_zero_grads(net);
  bm_net_forward(net);
  keep_from_engine(&r, net, label);
  double loss = ref_forward(&r, input_nhwc, p, s, 1, wts);
  worst = 0;
  for (int i = 0; i < n; i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    size_t n_out = (size_t)batch * l->out_h * l->out_w * l->out_c;
    const float *out = bm_net_output(net, i);
    float *dout = bm_net_output_grad(net, i);
    for (size_t m = 0; m < n_out; m++) {
      double d = fabs(out[m] - r.out[i][m]) / (1 + fabs(r.out[i][m]));
      if (d > worst) worst = d;
      if (r.is_head[i]) dout[m] = (float)wts[i][m];
    }
  }
  CHECK_MSG(worst < 1e-4, "%s: training forward differs from the reference by %g", label, worst);
  CHECK(isfinite(loss));
  bm_net_backward(net);

  /* bn running statistics after that one step: 0.99 * old + 0.01 * batch statistic */
  int n_sg;
  const bm_param_group *sg = bm_net_state_groups(net, &n_sg);
  for (int j = 0; j < n_sg; j++) {
    const bm_layer_info *l = bm_net_layer(net, sg[j].layer);
    int F = l->filters;
    size_t rows = (size_t)batch * l->out_h * l->out_w;
    /* batch statistics of z, recomputed from a reference conv without bn */
    bm_layer_info plain = *l;
    plain.batch_normalize = 0;
    plain.activation = BM_ACT_LINEAR;
    ref_offsets o = r.off[sg[j].layer];
    double *zeros = calloc((size_t)F, sizeof(double)), *z = malloc(rows * F * sizeof(double));
    double *p_bias = malloc((n_params + F) * sizeof(double));
    memcpy(p_bias, p, n_params * sizeof(double));
    memcpy(p_bias + n_params, zeros, (size_t)F * sizeof(double));
    o.bias = (long)n_params;
    const double *in = sg[j].layer ? r.out[sg[j].layer - 1] : input_nhwc;
    ref_conv(&r, &plain, &o, in, p_bias, s, 1, z);
    for (int f = 0; f < F; f++) {
      double mean = 0, var = 0;
      for (size_t m = 0; m < rows; m++) mean += z[m * F + f];
      mean /= (double)rows;
      for (size_t m = 0; m < rows; m++) var += (z[m * F + f] - mean) * (z[m * F + f] - mean);
      var /= (double)(rows - 1);
      double old = s[sg[j].offset + f];
      double want = 0.99 * old + 0.01 * (sg[j].kind == BM_STATE_BN_MEAN ? mean : var);
      CHECK_NEAR(state[sg[j].offset + f], want, 1e-5 * (1 + fabs(want)));
    }
    free(zeros);
    free(z);
    free(p_bias);
  }

  /* every parameter gradient against central differences of the reference */
  const float *grads = bm_net_grads(net);
  int n_groups, bad = 0;
  const bm_param_group *g = bm_net_param_groups(net, &n_groups);
  for (int j = 0; j < n_groups; j++) {
    double biggest = 0;
    double *numeric = malloc(g[j].count * sizeof(double));
    for (size_t q = 0; q < g[j].count; q++) {
      size_t at = g[j].offset + q;
      double saved = p[at], eps = 1e-6;
      p[at] = saved + eps;
      double up = ref_forward(&r, input_nhwc, p, s, 1, wts);
      p[at] = saved - eps;
      double down = ref_forward(&r, input_nhwc, p, s, 1, wts);
      p[at] = saved;
      numeric[q] = (up - down) / (2 * eps);
      if (fabs(numeric[q]) > biggest) biggest = fabs(numeric[q]);
    }
    for (size_t q = 0; q < g[j].count; q++) {
      double analytic = grads[g[j].offset + q];
      double tol = 1e-3 * biggest + 2e-3 * fabs(numeric[q]) + 1e-5;
      if (fabs(analytic - numeric[q]) > tol && bad++ < 5)
        fprintf(stderr, "%s: layer %d group kind %d [%zu]: backward %.7g, finite difference %.7g\n",
                label, g[j].layer, (int)g[j].kind, q, analytic, numeric[q]);
    }
    free(numeric);
  }
  CHECK_MSG(bad == 0, "%s: %d gradients differ from finite differences", label, bad);

  for (int i = 0; i < n; i++) free(wts[i]);
  free(wts);
  free(p);
  free(s);
  free(input_nhwc);
  ref_free(&r);
  bm_net_free(net);
}

/* The mask itself: the share dropped is p, the mask depends on the key and the layer, not on
 * the thread count, and inference passes the input through untouched. */
static void check_dropout_mask(void) {
  static const char *cfg = "[net]\nwidth=64\nheight=64\nchannels=4\n"
                           "[convolutional]\nfilters=16\nsize=1\nactivation=linear\n"
                           "[dropout]\nprobability=0.25\n"
                           "[dropout]\nprobability=0.25\n";
  bm_error err;
  bm_network *net[2];
  for (int t = 0; t < 2; t++) {
    CHECK(bm_net_create_from_text(&net[t], cfg, "dropout mask", 2, NULL, &err) == 0);
    bm_net_set_threads(net[t], t + 1);
    for (size_t j = 0; j < bm_net_n_params(net[t]); j++) bm_net_params(net[t])[j] = 1.0f;
    float *input = bm_net_input(net[t]);
    for (size_t j = 0; j < (size_t)2 * 4 * 64 * 64; j++) input[j] = 0.25f; /* conv out = 1 */
    bm_net_set_training(net[t], 1);
  }
  CHECK(bm_net_has_dropout(net[0]));
  size_t n = (size_t)2 * 64 * 64 * 16;
  unsigned char *first = malloc(n);
  size_t dropped = 0, changed = 0, same_layers = 0;
  bm_net_set_dropout_key(net[0], 7);
  bm_net_forward(net[0]);
  const float *in = bm_net_output(net[0], 0), *out = bm_net_output(net[0], 1),
              *out2 = bm_net_output(net[0], 2);
  for (size_t m = 0; m < n; m++) {
    CHECK(in[m] == 2.0f); /* 4 channels x 0.25 x weight 1, + bias 1 */
    CHECK(out[m] == 0.0f || fabsf(out[m] - 2.0f / 0.75f) < 1e-6f);
    first[m] = out[m] != 0.0f;
    dropped += !first[m];
    /* the second layer draws its own mask: where the first kept, it keeps 3 in 4 again */
    same_layers += first[m] && out2[m] != 0.0f;
  }
  /* 131072 draws with p = 0.25: the standard deviation of the share is 0.0012 */
  double share = (double)dropped / (double)n;
  CHECK_MSG(fabs(share - 0.25) < 0.01, "dropout dropped %.4f of the elements, not 0.25", share);
  double kept_again = (double)same_layers / (double)(n - dropped);
  CHECK_MSG(fabs(kept_again - 0.75) < 0.01, "the second dropout layer kept %.4f", kept_again);
  /* same key on two threads: the same mask; another key: another mask */
  bm_net_set_dropout_key(net[1], 7);
  bm_net_forward(net[1]);
  out = bm_net_output(net[1], 1);
  for (size_t m = 0; m < n; m++) CHECK((out[m] != 0.0f) == first[m]);
  bm_net_set_dropout_key(net[1], 8);
  bm_net_forward(net[1]);
  out = bm_net_output(net[1], 1);
  for (size_t m = 0; m < n; m++) changed += (out[m] != 0.0f) != first[m];
  /* two independent masks differ in 2 p (1 - p) = 37.5 % of the elements */
  CHECK_MSG(fabs((double)changed / (double)n - 0.375) < 0.01, "keys 7 and 8 differ in %zu", changed);
  /* inference: the output is the input */
  bm_net_set_training(net[0], 0);
  bm_net_forward(net[0]);
  CHECK(bm_net_output(net[0], 2) == bm_net_output(net[0], 0));
  CHECK(bm_net_output(net[0], 2)[5] == 2.0f);
  free(first);
  for (int t = 0; t < 2; t++) bm_net_free(net[t]);
}

int main(void) {
  check_network("conv 3x3 bn leaky",
                "[net]\nwidth=6\nheight=5\nchannels=3\n"
                "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nbatch_normalize=1\n"
                "activation=leaky\n",
                2, 1);
  /* k = 27 and 16 filters, k = 32 and 32 filters (1x1), and 2 groups of 16 filters with
   * k = 18: the engine's own small-product loops instead of BLAS */
  check_network("small products: first conv, 1x1, groups",
                "[net]\nwidth=6\nheight=5\nchannels=3\n"
                "[convolutional]\nfilters=16\nsize=3\npad=1\nbatch_normalize=1\nactivation=leaky\n"
                "[convolutional]\nfilters=32\nsize=1\nstride=2\nactivation=linear\n"
                "[convolutional]\nfilters=32\nsize=1\nactivation=logistic\n"
                "[convolutional]\nfilters=32\nsize=1\ngroups=2\nactivation=linear\n"
                "[convolutional]\nfilters=16\nsize=3\npad=1\ngroups=16\nactivation=linear\n",
                2, 5);
  static const char *acts[] = {"linear", "leaky", "relu", "logistic", "mish", "swish"};
  for (int a = 0; a < 6; a++) {
    char cfg[512], label[64];
    snprintf(cfg, sizeof cfg,
             "[net]\nwidth=7\nheight=6\nchannels=2\n"
             "[convolutional]\nfilters=3\nsize=3\nstride=2\npad=1\nactivation=%s\n"
             "[convolutional]\nfilters=2\nsize=1\nstride=1\nbatch_normalize=1\nactivation=%s\n",
             acts[a], acts[a]);
    snprintf(label, sizeof label, "conv stride 2 + 1x1 bn, %s", acts[a]);
    check_network(label, cfg, 2, 10 + a);
  }
  check_network("grouped convs",
                "[net]\nwidth=5\nheight=5\nchannels=4\n"
                "[convolutional]\nfilters=6\nsize=3\nstride=1\npad=1\ngroups=2\nbatch_normalize=1\n"
                "activation=leaky\n"
                "[convolutional]\nfilters=4\nsize=1\ngroups=2\nactivation=linear\n"
                "[convolutional]\nfilters=4\nsize=2\nstride=2\ngroups=4\nactivation=swish\n",
                2, 20);
  check_network("maxpool 2/1, 2/2 on odd sizes, 3/2",
                "[net]\nwidth=7\nheight=5\nchannels=2\n"
                "[convolutional]\nfilters=3\nsize=3\npad=1\nactivation=linear\n"
                "[maxpool]\nsize=2\nstride=1\n"
                "[convolutional]\nfilters=3\nsize=1\nactivation=linear\n"
                "[maxpool]\nsize=2\nstride=2\n"
                "[convolutional]\nfilters=3\nsize=1\nactivation=linear\n"
                "[maxpool]\nsize=3\nstride=2\n"
                "[convolutional]\nfilters=2\nsize=1\nactivation=linear\n",
                2, 30);
  check_network("upsample, route, shortcut, yolo",
                "[net]\nwidth=6\nheight=6\nchannels=3\n"
                "[convolutional]\nfilters=4\nsize=3\nstride=2\npad=1\nbatch_normalize=1\n"
                "activation=leaky\n"
                "[upsample]\nstride=2\n"
                "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nactivation=leaky\n"
                "[shortcut]\nfrom=-2\nactivation=leaky\n"
                "[route]\nlayers=-1,-3\n"
                "[convolutional]\nfilters=14\nsize=1\nactivation=linear\n"
                "[yolo]\nmask=0,1\nanchors=2,3,4,5,6,7\nclasses=2\nnum=3\n",
                2, 40);
  /* one image on two threads: convolutions split their GEMMs instead of the batch */
  check_network_threads("one image, two threads",
                        "[net]\nwidth=9\nheight=7\nchannels=3\n"
                        "[convolutional]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\n"
                        "activation=leaky\n"
                        "[convolutional]\nfilters=6\nsize=3\nstride=2\npad=1\ngroups=2\n"
                        "activation=swish\n"
                        "[convolutional]\nfilters=3\nsize=1\nactivation=linear\n",
                        1, 60, 2);
  static const char *mixed =
                "[net]\nwidth=8\nheight=8\nchannels=3\n"
                "[convolutional]\nfilters=4\nsize=3\nstride=1\npad=1\nbatch_normalize=1\n"
                "activation=leaky\n"
                "[maxpool]\nsize=2\nstride=2\n"
                "[convolutional]\nfilters=6\nsize=3\nstride=1\npad=1\ngroups=2\n"
                "batch_normalize=1\nactivation=mish\n"
                "[maxpool]\nsize=2\nstride=1\n"
                "[convolutional]\nfilters=6\nsize=1\nbatch_normalize=1\nactivation=relu\n"
                "[shortcut]\nfrom=-3\nactivation=linear\n"
                "[convolutional]\nfilters=12\nsize=1\nactivation=linear\n"
                "[yolo]\nmask=0,1\nanchors=1,1,2,2,3,3,4,4\nclasses=1\nnum=4\n"
                "[route]\nlayers=-3\n"
                "[upsample]\nstride=2\n"
                "[route]\nlayers=-1,0\ngroups=1\n"
                "[convolutional]\nfilters=6\nsize=3\nstride=1\npad=1\nactivation=swish\n"
                "[route]\nlayers=-1\ngroups=2\ngroup_id=1\n"
                "[convolutional]\nfilters=12\nsize=1\nactivation=linear\n"
                "[yolo]\nmask=2,3\nanchors=1,1,2,2,3,3,4,4\nclasses=1\nnum=4\n";
  check_network("mixed network with two heads", mixed, 2, 50);
  check_network("dropout between convs and before a shortcut",
                "[net]\nwidth=6\nheight=5\nchannels=3\n"
                "[convolutional]\nfilters=4\nsize=3\npad=1\nbatch_normalize=1\nactivation=linear\n"
                "[dropout]\nprobability=0.3\n"
                "[convolutional]\nfilters=4\nsize=1\nactivation=linear\n"
                "[dropout]\nprobability=0.5\n"
                "[shortcut]\nfrom=-3\nactivation=linear\n"
                "[convolutional]\nfilters=3\nsize=1\nactivation=linear\n",
                2, 70);
  check_network_threads("dropout, two threads",
                "[net]\nwidth=6\nheight=5\nchannels=3\n"
                "[convolutional]\nfilters=4\nsize=3\npad=1\nactivation=linear\n"
                "[dropout]\nprobability=0.2\n"
                "[convolutional]\nfilters=3\nsize=1\nactivation=linear\n",
                2, 71, 2);
  check_dropout_mask();
  /* depthwise convolutions (groups = channels: conv_depthwise.c) as the Yolo-Fastest models
   * use them: 3x3 stride 1 with batch norm and leaky, 3x3 stride 2 with a bias, 5x5 with
   * padding 2, between 1x1 convolutions on few channels (the narrow kernel); 18 channels
   * are not a multiple of the vector width (scalar tail), stride 2 on odd sizes leaves
   * pixels under one window only */
  static const char *depthwise =
                "[net]\nwidth=9\nheight=7\nchannels=3\n"
                "[convolutional]\nfilters=18\nsize=1\nbatch_normalize=1\nactivation=leaky\n"
                "[convolutional]\nfilters=18\ngroups=18\nsize=3\nstride=1\npad=1\n"
                "batch_normalize=1\nactivation=leaky\n"
                "[convolutional]\nfilters=18\ngroups=18\nsize=3\nstride=2\npad=1\n"
                "activation=linear\n"
                "[convolutional]\nfilters=18\ngroups=18\nsize=5\nstride=1\npad=1\n"
                "batch_normalize=1\nactivation=leaky\n"
                "[convolutional]\nfilters=16\nsize=1\nactivation=linear\n"
                "[convolutional]\nfilters=16\ngroups=16\nsize=3\nstride=2\npad=1\n"
                "batch_normalize=1\nactivation=relu\n"
                "[convolutional]\nfilters=4\nsize=1\nactivation=linear\n";
  check_network("depthwise 3x3 stride 1 and 2, 5x5, bn and bias", depthwise, 2, 80);
  check_network_threads("depthwise, two threads", depthwise, 3, 81, 2);
  /* the same on two threads: each takes one image, weight gradients summed per thread */
  check_network_threads("mixed network, two threads", mixed, 2, 51, 2);
  return bm_test_finish("test_nn_gradcheck");
}
