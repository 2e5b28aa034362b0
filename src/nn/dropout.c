/* [dropout]: darknet's inverted dropout in training, the identity in inference.
 *
 * Training: out[i] = keep(i) ? in[i] / (1 - p) : 0, where keep(i) is decided by a hash of
 * (the step's key, the layer's index, i) rather than by a generator with state, so the mask
 * is the same for any thread count and forward and backward agree without storing it.
 * Inference: the layer's output is its input (network.c points out at in; nothing runs). */
#include <stdint.h>

#include "nn/nn.h"

/* splitmix64's finaliser: a bijection of 64-bit words that mixes every input bit */
static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/* The element's uniform number in [0, 1) as a 24-bit integer (compared with p * 2^24). */
static inline uint32_t unit24(uint64_t layer_key, size_t i) {
  return (uint32_t)(mix64(layer_key + 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1)) >> 40);
}

uint64_t nn_dropout_layer_key(uint64_t key, int layer) {
  return mix64(key ^ mix64(0x64726f706f7574ULL + (uint64_t)layer)); /* "dropout" */
}

static uint32_t threshold24(float p) { return (uint32_t)((double)p * 16777216.0); }

/* dst = (add ? dst : 0) + the kept elements of src times 1 / (1 - p): the forward pass
 * (src = the input, dst = the output) and the backward pass (src = the output's gradient,
 * dst += into the input's gradient) apply the same mask with the same factor. */
static void apply_mask(nn_ctx *ctx, const nn_layer *l, const float *src, float *dst, int add,
                       uint64_t layer_key) {
  const bm_layer_info *info = &l->info;
  size_t n = (size_t)ctx->batch * info->out_h * info->out_w * info->out_c;
  uint32_t cut = threshold24(info->probability);
  float scale = 1.0f / (1.0f - info->probability);
  int parts = nn_parts(n, ctx->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(n, parts, p, &first, &end);
    for (size_t i = first; i < end; i++) {
      float kept = unit24(layer_key, i) < cut ? 0.0f : src[i] * scale;
      dst[i] = add ? dst[i] + kept : kept;
    }
  }
}

void nn_dropout_forward(nn_ctx *ctx, nn_layer *l, const float *in, uint64_t layer_key) {
  apply_mask(ctx, l, in, l->out, 0, layer_key);
}

void nn_dropout_backward(nn_ctx *ctx, nn_layer *l, float *din, uint64_t layer_key) {
  apply_mask(ctx, l, l->dout, din, 1, layer_key);
}
