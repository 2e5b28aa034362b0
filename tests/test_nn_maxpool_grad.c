/* Max-pool input gradients in training, in particular the pools whose windows tile the input
 * exactly (size = stride, even sizes), which write every element of the input gradient
 * instead of adding into a cleared buffer (src/nn/maxpool.c, network.c). The conv before the
 * pool has its output gradient filled with NaN before backward; afterwards it must hold, for
 * every element, the pool's output gradient where that element was its window's maximum (the
 * first in scan order on ties) and 0 elsewhere, worked out here from the conv's output. Cases:
 * a tiling 2/2 pool (the overwrite path), a 2/2 pool on odd sizes and a 3/2 pool (cleared
 * and scattered as before), and a tiling pool whose input is also read by a later route (so
 * it is not the first to write the gradient and must add); on 1 and 2 threads, twice each. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_nn.h"
#include "testlib.h"

static void check(const char *label, const char *cfg, int batch, int threads) {
  bm_network *net;
  bm_error err;
  if (bm_net_create_from_text(&net, cfg, label, batch, NULL, &err)) {
    CHECK_MSG(0, "%s: %s", label, err.msg);
    return;
  }
  bm_net_set_training(net, 1);
  bm_net_set_threads(net, threads);
  bm_rng rng;
  bm_rng_seed(&rng, 5, 9);
  bm_net_init_params(net, &rng);
  int n_layers = bm_net_n_layers(net), c, h, w;
  bm_net_input_dims(net, &c, &h, &w);
  const bm_layer_info *conv = bm_net_layer(net, 0), *pool = bm_net_layer(net, 1);
  size_t n_conv = (size_t)batch * conv->out_h * conv->out_w * conv->out_c;
  for (int round = 0; round < 2; round++) {
    for (size_t j = 0; j < (size_t)batch * c * h * w; j++)
      bm_net_input(net)[j] = bm_rng_range(&rng, -1, 1);
    bm_net_zero_grads(net);
    bm_net_forward(net);
    for (int l = 0; l < n_layers; l++) {
      const bm_layer_info *info = bm_net_layer(net, l);
      if (info->type != BM_LAYER_YOLO) continue;
      size_t n = (size_t)batch * info->out_h * info->out_w * info->out_c;
      for (size_t j = 0; j < n; j++) bm_net_output_grad(net, l)[j] = bm_rng_range(&rng, -1, 1);
    }
    float *dconv = bm_net_output_grad(net, 0);
    for (size_t j = 0; j < n_conv; j++) dconv[j] = NAN;
    bm_net_backward(net);
    /* expected: the pool's share of the conv's output gradient, plus in the route case the
     * route's (its output gradient's channels that come from the conv) */
    const float *out = bm_net_output(net, 0), *dpool = bm_net_output_grad(net, 1);
    float *expect = calloc(n_conv, sizeof(float));
    int C = conv->out_c, H = conv->out_h, W = conv->out_w, off = -(pool->padding / 2);
    for (int b = 0; b < batch; b++)
      for (int oy = 0; oy < pool->out_h; oy++)
        for (int ox = 0; ox < pool->out_w; ox++)
          for (int ch = 0; ch < C; ch++) {
            int best = -1;
            for (int ky = 0; ky < pool->size; ky++)
              for (int kx = 0; kx < pool->size; kx++) {
                int iy = off + oy * pool->stride + ky, ix = off + ox * pool->stride + kx;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                int at = ((b * H + iy) * W + ix) * C + ch;
                if (best < 0 || out[at] > out[best]) best = at;
              }
            expect[best] += dpool[((b * pool->out_h + oy) * pool->out_w + ox) * C + ch];
          }
    if (n_layers == 7) { /* conv, pool, 1x1, upsample, route [upsample, conv], head, yolo */
      const bm_layer_info *route = bm_net_layer(net, 4);
      CHECK(route->type == BM_LAYER_ROUTE && route->out_c == 2 * C);
      const float *droute = bm_net_output_grad(net, 4);
      for (size_t p = 0; p < n_conv / C; p++)
        for (int ch = 0; ch < C; ch++) expect[p * C + ch] += droute[p * 2 * C + C + ch];
    }
    int bad = 0;
    for (size_t j = 0; j < n_conv; j++) {
      int ok = fabsf(dconv[j] - expect[j]) <= 1e-6f * (1 + fabsf(expect[j]));
      if (!ok && bad++ < 3)
        fprintf(stderr, "%s, %d threads, round %d: element %zu is %g, expected %g\n", label,
                threads, round, j, dconv[j], expect[j]);
    }
    CHECK_MSG(bad == 0, "%s, %d threads: %d elements of the input gradient wrong", label,
              threads, bad);
    free(expect);
  }
  bm_net_free(net);
}

int main(void) {
  const char *head = "[convolutional]\nfilters=6\nsize=1\nactivation=linear\n"
                     "[yolo]\nmask=0\nanchors=1,1\nclasses=1\nnum=1\n";
  char cfg[1024];
  struct {
    const char *label;
    int width, height, size, stride, route;
  } cases[] = {
      {"2/2 tiling 10x8", 10, 8, 2, 2, 0},
      {"2/2 on odd 9x7", 9, 7, 2, 2, 0},
      {"3/2 on 9x8", 9, 8, 3, 2, 0},
      {"2/2 tiling, input also routed", 8, 6, 2, 2, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(cfg, sizeof cfg,
             "[net]\nwidth=%d\nheight=%d\nchannels=3\n"
             /* linear, no batch norm: its backward leaves its output gradient as it is */
             "[convolutional]\nfilters=16\nsize=3\npad=1\nactivation=linear\n"
             "[maxpool]\nsize=%d\nstride=%d\n%s%s",
             cases[i].width, cases[i].height, cases[i].size, cases[i].stride,
             cases[i].route ? "[convolutional]\nfilters=16\nsize=1\nactivation=linear\n"
                              "[upsample]\nstride=2\n[route]\nlayers=-1,0\n"
                            : "",
             head);
    for (int threads = 1; threads <= 2; threads++) check(cases[i].label, cfg, 3, threads);
  }
  return bm_test_finish("test_nn_maxpool_grad");
}
