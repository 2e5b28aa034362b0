/* Network-level behaviour: two networks in one process do not interfere, results repeat
 * bitwise for a thread count and agree across thread counts, a batch gives each image the
 * result it gets alone (also when the im2col workspace splits the batch into chunks),
 * gradients accumulate, and the parameter groups tile the parameter array. */
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_nn.h"
#include "testlib.h"

static const char *small_cfg =
    "[net]\nwidth=24\nheight=20\nchannels=3\n"
    "[convolutional]\nfilters=16\nsize=3\npad=1\nbatch_normalize=1\nactivation=leaky\n"
    "[maxpool]\nsize=2\nstride=2\n"
    "[convolutional]\nfilters=32\nsize=3\npad=1\nbatch_normalize=1\n"
                    "activation=leaky\n"
    "[convolutional]\nfilters=16\nsize=1\nbatch_normalize=1\nactivation=leaky\n"
    "[convolutional]\nfilters=14\nsize=1\nactivation=linear\n"
    "[yolo]\nmask=0,1\nanchors=4,4,8,8\nclasses=2\nnum=2\n"
    "[route]\nlayers=-3\n"
    "[upsample]\nstride=2\n"
    "[route]\nlayers=-1,0\n"
    "[convolutional]\nfilters=14\nsize=3\npad=1\nactivation=linear\n"
    "[yolo]\nmask=0,1\nanchors=4,4,8,8\nclasses=2\nnum=2\n";

static bm_network *make(const char *cfg, int batch, uint64_t seed) {
  bm_error err;
  bm_network *net;
  if (bm_net_create_from_text(&net, cfg, "small", batch, NULL, &err)) {
    CHECK_MSG(0, "%s", err.msg);
    return NULL;
  }
  bm_rng rng;
  bm_rng_seed(&rng, seed, 0);
  bm_net_init_params(net, &rng);
  int c, h, w;
  bm_net_input_dims(net, &c, &h, &w);
  float *in = bm_net_input(net);
  for (int i = 0; i < batch * c * h * w; i++) in[i] = bm_rng_range(&rng, -1, 1);
  return net;
}

/* One training step with head gradient = head output (loss = sum out^2 / 2). */
static void train_step(bm_network *net) {
  bm_net_set_training(net, 1);
  bm_net_forward(net);
  for (int i = 0; i < bm_net_n_layers(net); i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    if (l->type != BM_LAYER_YOLO) continue;
    size_t n = (size_t)bm_net_batch(net) * l->out_h * l->out_w * l->out_c;
    memcpy(bm_net_output_grad(net, i), bm_net_output(net, i), n * sizeof(float));
  }
  bm_net_backward(net);
}

static float *copy(const float *src, size_t n) {
  float *dst = malloc(n * sizeof(float));
  memcpy(dst, src, n * sizeof(float));
  return dst;
}

static void test_independence_and_determinism(void) {
  bm_network *a = make(small_cfg, 4, 1);
  if (!a) return;
  bm_net_set_threads(a, 2);
  bm_net_zero_grads(a);
  train_step(a);
  size_t n = bm_net_n_params(a);
  float *grads_alone = copy(bm_net_grads(a), n);
  float *state_alone = copy(bm_net_state(a), bm_net_n_state(a));
  bm_net_free(a);

  /* the same network again, interleaved with a different one in the same process */
  a = make(small_cfg, 4, 1);
  bm_network *b = make(small_cfg, 2, 99);
  bm_net_set_threads(a, 2);
  bm_net_set_threads(b, 1);
  bm_net_zero_grads(a);
  bm_net_zero_grads(b);
  bm_net_set_training(a, 1);
  bm_net_forward(a);
  train_step(b); /* runs between a's forward and backward */
  for (int i = 0; i < bm_net_n_layers(a); i++)
    if (bm_net_layer(a, i)->type == BM_LAYER_YOLO) {
      const bm_layer_info *l = bm_net_layer(a, i);
      size_t m = (size_t)4 * l->out_h * l->out_w * l->out_c;
      memcpy(bm_net_output_grad(a, i), bm_net_output(a, i), m * sizeof(float));
    }
  bm_net_backward(a);
  CHECK(memcmp(bm_net_grads(a), grads_alone, n * sizeof(float)) == 0);
  CHECK(memcmp(bm_net_state(a), state_alone, bm_net_n_state(a) * sizeof(float)) == 0);

  /* one thread vs two: the same up to summation order */
  bm_network *one = make(small_cfg, 4, 1);
  bm_net_set_threads(one, 1);
  bm_net_zero_grads(one);
  train_step(one);
  double worst = 0, biggest = 0;
  for (size_t j = 0; j < n; j++) {
    double d = fabs(bm_net_grads(one)[j] - grads_alone[j]);
    if (d > worst) worst = d;
    if (fabs(grads_alone[j]) > biggest) biggest = fabs(grads_alone[j]);
  }
  CHECK_MSG(worst <= 1e-4 * biggest, "1 vs 2 threads: gradients differ by %g (max %g)", worst,
            biggest);

  /* gradients accumulate: a second backward without zeroing doubles them */
  train_step(one);
  worst = 0;
  for (size_t j = 0; j < n; j++) {
    /* (the bn running statistics moved, but training-mode outputs do not use them) */
    double d = fabs(bm_net_grads(one)[j] - 2.0 * grads_alone[j]);
    if (d > worst) worst = d;
  }
  CHECK_MSG(worst <= 2e-4 * biggest, "accumulated gradients differ by %g", worst);
  free(grads_alone);
  free(state_alone);
  bm_net_free(a);
  bm_net_free(b);
  bm_net_free(one);
}

/* In inference mode each image of a batch gets the output it gets alone. The first conv's
 * im2col of 8 images (8 * 64*64 * 9*32 floats) is more than the 2^24-float workspace cap, so
 * the batch is processed in chunks. */
static void test_batch_consistency(void) {
  const char *cfg = "[net]\nwidth=64\nheight=64\nchannels=32\n"
                    "[convolutional]\nfilters=32\nsize=3\npad=1\nbatch_normalize=1\n"
                    "activation=leaky\n"
                    "[convolutional]\nfilters=8\nsize=3\nstride=2\npad=1\nactivation=mish\n";
  int batch = 8;
  bm_network *big = make(cfg, batch, 5);
  bm_network *single = make(cfg, 1, 5); /* same seed: same parameters */
  if (!big || !single) return;
  bm_net_set_threads(big, 2);
  float *state = bm_net_state(big);
  for (size_t j = 0; j < bm_net_n_state(big); j++) state[j] = 0.5f + 0.01f * (float)(j % 7);
  memcpy(bm_net_state(single), state, bm_net_n_state(big) * sizeof(float));
  CHECK(memcmp(bm_net_params(big), bm_net_params(single), bm_net_n_params(big) * 4) == 0);
  bm_net_forward(big);
  size_t in_size = (size_t)32 * 64 * 64, out_size = (size_t)32 * 32 * 8;
  double worst = 0;
  for (int b = 0; b < batch; b++) {
    memcpy(bm_net_input(single), bm_net_input(big) + b * in_size, in_size * sizeof(float));
    bm_net_forward(single);
    const float *want = bm_net_output(single, 1), *got = bm_net_output(big, 1) + b * out_size;
    for (size_t j = 0; j < out_size; j++) {
      double d = fabs(want[j] - got[j]) / (1 + fabs(want[j]));
      if (d > worst) worst = d;
    }
  }
  CHECK_MSG(worst < 1e-5, "batch vs single image: %g", worst);
  bm_net_free(big);
  bm_net_free(single);
}

/* One image on one thread (convolutions split by images) and on two threads (GEMMs split
 * into blocks, whole-image im2col, gather col2im): the same outputs and gradients up to
 * summation order. Sizes are large enough for the GEMMs and copies to be split. */
static void test_split_paths(void) {
  const char *cfg = "[net]\nwidth=64\nheight=64\nchannels=8\n"
                    "[convolutional]\nfilters=32\nsize=3\npad=1\nbatch_normalize=1\n"
                    "activation=leaky\n"
                    "[convolutional]\nfilters=32\nsize=3\nstride=2\npad=1\ngroups=2\n"
                    "activation=leaky\n"
                    "[convolutional]\nfilters=64\nsize=1\nbatch_normalize=1\nactivation=leaky\n"
                    "[convolutional]\nfilters=14\nsize=3\npad=1\nactivation=linear\n"
                    "[yolo]\nmask=0,1\nanchors=4,4,8,8\nclasses=2\nnum=2\n";
  bm_network *one = make(cfg, 1, 8), *two = make(cfg, 1, 8);
  if (!one || !two) return;
  CHECK(bm_net_set_threads(two, 2) == 2);
  bm_net_zero_grads(one);
  bm_net_zero_grads(two);
  train_step(one);
  train_step(two);
  double worst = 0, biggest = 0;
  for (size_t j = 0; j < bm_net_n_params(one); j++) {
    double d = fabs(bm_net_grads(one)[j] - bm_net_grads(two)[j]);
    if (d > worst) worst = d;
    if (fabs(bm_net_grads(one)[j]) > biggest) biggest = fabs(bm_net_grads(one)[j]);
  }
  CHECK(biggest > 0);
  CHECK_MSG(worst <= 1e-4 * biggest, "one image, 1 vs 2 threads: gradients differ by %g (max %g)",
            worst, biggest);
  /* and two threads repeat bitwise */
  float *first = copy(bm_net_grads(two), bm_net_n_params(two));
  bm_net_zero_grads(two);
  train_step(two);
  CHECK(memcmp(first, bm_net_grads(two), bm_net_n_params(two) * sizeof(float)) == 0);
  free(first);
  const float *a = bm_net_output(one, 4), *b = bm_net_output(two, 4);
  worst = 0;
  for (size_t j = 0; j < (size_t)32 * 32 * 14; j++)
    if (fabs(a[j] - b[j]) > worst) worst = fabs(a[j] - b[j]);
  CHECK_MSG(worst < 1e-5, "one image, 1 vs 2 threads: outputs differ by %g", worst);
  bm_net_free(one);
  bm_net_free(two);
}

static void test_groups(void) {
  bm_network *net = make(small_cfg, 1, 2);
  if (!net) return;
  int n_groups, n_state_groups;
  const bm_param_group *g = bm_net_param_groups(net, &n_groups);
  size_t next = 0;
  int weights = 0, biases = 0, scales = 0, shifts = 0;
  for (int j = 0; j < n_groups; j++) {
    CHECK(g[j].offset == next);
    next += g[j].count;
    const bm_layer_info *l = bm_net_layer(net, g[j].layer);
    CHECK(l->type == BM_LAYER_CONV);
    switch (g[j].kind) {
    case BM_PARAM_CONV_WEIGHT:
      weights++;
      CHECK(g[j].count == (size_t)l->filters * l->size * l->size * l->in_c / l->groups);
      break;
    case BM_PARAM_CONV_BIAS: biases++; CHECK(!l->batch_normalize); break;
    case BM_PARAM_BN_SCALE: scales++; CHECK(l->batch_normalize); break;
    case BM_PARAM_BN_BIAS: shifts++; CHECK(l->batch_normalize); break;
    default: CHECK(0);
    }
  }
  CHECK(next == bm_net_n_params(net));
  CHECK(weights == 5 && biases == 2 && scales == 3 && shifts == 3);
  const bm_param_group *s = bm_net_state_groups(net, &n_state_groups);
  CHECK(n_state_groups == 6 && s[n_state_groups - 1].offset + s[n_state_groups - 1].count ==
                                   bm_net_n_state(net));
  /* init: bn running var 1, mean 0 */
  CHECK(bm_net_state(net)[s[1].offset] == 1.0f && bm_net_state(net)[s[0].offset] == 0.0f);
  /* output gradients exist only in training mode */
  CHECK(bm_net_output_grad(net, 0) == NULL);
  bm_net_set_training(net, 1);
  CHECK(bm_net_output_grad(net, 0) != NULL);
  CHECK(bm_net_layer(net, 99) == NULL && bm_net_output(net, -1) == NULL);
  bm_net_free(net);
}

/* OpenBLAS and the engine's own GEMM give the same training step up to float rounding, on a
 * network whose products cover all three GEMM variants, edge tiles and both thread schemes;
 * and the own GEMM repeats bitwise. */
static void test_gemm_kinds(void) {
  if (bm_gemm_resolve(BM_GEMM_OWN) != BM_GEMM_OWN) {
    fprintf(stderr, "test_nn_network: no AVX-512F, own GEMM not compared\n");
    return;
  }
  for (int threads = 1; threads <= 2; threads++) {
    int batch = threads == 1 ? 3 : 1; /* 2 threads on one image: GEMMs split into blocks */
    bm_network *blas = make(small_cfg, batch, 21), *own = make(small_cfg, batch, 21);
    if (!blas || !own) return;
    CHECK(bm_net_set_gemm(blas, BM_GEMM_BLAS) == BM_GEMM_BLAS);
    CHECK(bm_net_set_gemm(own, BM_GEMM_OWN) == BM_GEMM_OWN);
    CHECK(bm_net_gemm(own) == BM_GEMM_OWN);
    bm_net_set_threads(blas, threads);
    bm_net_set_threads(own, threads);
    bm_net_zero_grads(blas);
    bm_net_zero_grads(own);
    train_step(blas);
    train_step(own);
    double worst = 0, biggest = 0;
    for (size_t j = 0; j < bm_net_n_params(blas); j++) {
      double d = fabs(bm_net_grads(blas)[j] - bm_net_grads(own)[j]);
      if (d > worst) worst = d;
      if (fabs(bm_net_grads(blas)[j]) > biggest) biggest = fabs(bm_net_grads(blas)[j]);
    }
    CHECK(biggest > 0);
    CHECK_MSG(worst <= 1e-4 * biggest, "%d threads: blas vs own gradients differ by %g (max %g)",
              threads, worst, biggest);
    const bm_layer_info *head = bm_net_layer(blas, 10); /* the second [yolo] */
    size_t n = (size_t)batch * head->out_h * head->out_w * head->out_c;
    worst = 0;
    for (size_t j = 0; j < n; j++) {
      double d = fabs(bm_net_output(blas, 10)[j] - bm_net_output(own, 10)[j]);
      if (d > worst) worst = d;
    }
    CHECK_MSG(worst < 1e-5, "%d threads: blas vs own outputs differ by %g", threads, worst);
    float *first = copy(bm_net_grads(own), bm_net_n_params(own));
    bm_net_zero_grads(own);
    train_step(own);
    CHECK(memcmp(first, bm_net_grads(own), bm_net_n_params(own) * sizeof(float)) == 0);
    free(first);
    bm_net_free(blas);
    bm_net_free(own);
  }
}

int main(void) {
  test_gemm_kinds();
  test_independence_and_determinism();
  test_batch_consistency();
  test_split_paths();
  test_groups();
  return bm_test_finish("test_nn_network");
}
