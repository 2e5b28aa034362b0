/* Darknet .weights files: the exact byte layout (built here by hand from the format
 * description), round trips, old int32 `seen` headers, truncated/oversized files, and
 * partial loads for transfer learning. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_nn.h"
#include "testlib.h"

/* conv with bn (2 filters, 3x3 over 3 channels) then conv without bn (1 filter, 1x1) */
static const char *cfg = "[net]\nwidth=4\nheight=4\nchannels=3\n"
                         "[convolutional]\nfilters=2\nsize=3\npad=1\nbatch_normalize=1\n"
                         "activation=leaky\n"
                         "[maxpool]\nsize=2\nstride=2\n"
                         "[convolutional]\nfilters=1\nsize=1\nactivation=linear\n";

static bm_network *make(void) {
  bm_error err;
  bm_network *net = NULL;
  CHECK_MSG(bm_net_create_from_text(&net, cfg, "w.cfg", 1, NULL, &err) == 0, "%s", err.msg);
  return net;
}

/* Sets every parameter/state value to a distinct number and returns the darknet file
 * expected for them, written out from the format description. */
static void fill(bm_network *net, bm_buf *expected) {
  int n;
  const bm_param_group *g = bm_net_param_groups(net, &n);
  float *p = bm_net_params(net), *s = bm_net_state(net);
  for (size_t j = 0; j < bm_net_n_params(net); j++) p[j] = 1000.0f + (float)j;
  for (size_t j = 0; j < bm_net_n_state(net); j++) s[j] = 0.5f + (float)j;
  bm_net_set_seen(net, 0x123456789ULL);
  int32_t header[3] = {0, 2, 0};
  uint64_t seen = 0x123456789ULL;
  bm_buf_append(expected, header, sizeof header);
  bm_buf_append(expected, &seen, sizeof seen);
  /* layer 0: groups are weight, bn scale, bn bias; state mean, var */
  const float *w0 = p + g[0].offset, *scale = p + g[1].offset, *shift = p + g[2].offset;
  bm_buf_append(expected, shift, 2 * sizeof(float));
  bm_buf_append(expected, scale, 2 * sizeof(float));
  bm_buf_append(expected, s, 2 * sizeof(float));     /* rolling mean */
  bm_buf_append(expected, s + 2, 2 * sizeof(float)); /* rolling variance */
  /* darknet order [f][c][ky][kx] from boxmine's [f][ky][kx][c] */
  for (int f = 0; f < 2; f++)
    for (int c = 0; c < 3; c++)
      for (int t = 0; t < 9; t++) bm_buf_append(expected, &w0[(f * 9 + t) * 3 + c], sizeof(float));
  /* layer 2: weight group (2 floats), bias group */
  bm_buf_append(expected, p + g[4].offset, sizeof(float));
  bm_buf_append(expected, p + g[3].offset, 2 * sizeof(float));
}

int main(void) {
  bm_network *net = make(), *other = make();
  if (!net || !other) return bm_test_finish("test_nn_weights");
  int n;
  const bm_param_group *g = bm_net_param_groups(net, &n);
  CHECK(n == 5 && g[3].kind == BM_PARAM_CONV_WEIGHT && g[3].count == 2 &&
        g[4].kind == BM_PARAM_CONV_BIAS);
  bm_buf expected, written;
  bm_buf_init(&expected);
  bm_buf_init(&written);
  fill(net, &expected);
  bm_net_weights_to_buf(net, &written);
  CHECK(written.len == expected.len && memcmp(written.data, expected.data, written.len) == 0);
  CHECK(expected.len == 20 + 4 * (8 + 54 + 1 + 2));

  /* round trip through a file */
  char dir[512], path[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/net.weights", dir);
  bm_error err;
  CHECK_MSG(bm_net_save_weights(net, path, &err) == 0, "%s", err.msg);
  CHECK_MSG(bm_net_load_weights(other, path, -1, &err) == 0, "%s", err.msg);
  CHECK(memcmp(bm_net_params(other), bm_net_params(net), bm_net_n_params(net) * 4) == 0);
  CHECK(memcmp(bm_net_state(other), bm_net_state(net), bm_net_n_state(net) * 4) == 0);
  CHECK(bm_net_seen(other) == 0x123456789ULL);

  /* version 0.1 headers store seen as int32 */
  bm_buf old;
  bm_buf_init(&old);
  int32_t old_header[4] = {0, 1, 0, 77};
  bm_buf_append(&old, old_header, sizeof old_header);
  bm_buf_append(&old, expected.data + 20, expected.len - 20);
  bm_network *third = make();
  CHECK(bm_net_weights_from_memory(third, old.data, old.len, -1, "old", &err) == 0);
  CHECK(bm_net_seen(third) == 77);
  CHECK(memcmp(bm_net_params(third), bm_net_params(net), bm_net_n_params(net) * 4) == 0);

  /* truncated: error naming the layer, network untouched */
  bm_network *fresh = make();
  float before = bm_net_params(fresh)[0];
  CHECK(bm_net_weights_from_memory(fresh, expected.data, expected.len - 4, -1, "cut", &err) == -1);
  CHECK(strstr(err.msg, "cut") && strstr(err.msg, "layer 2"));
  CHECK(bm_net_params(fresh)[0] == before && bm_net_seen(fresh) == 0);
  /* extra bytes: error */
  bm_buf_append(&expected, "abcd", 4);
  CHECK(bm_net_weights_from_memory(fresh, expected.data, expected.len, -1, "long", &err) == -1);
  CHECK(strstr(err.msg, "4 bytes left") != NULL);
  /* partial load: only the first layer, the rest of the file ignored */
  CHECK(bm_net_weights_from_memory(fresh, expected.data, 20 + 4 * 62, 1, "part", &err) == 0);
  g = bm_net_param_groups(fresh, &n);
  CHECK(memcmp(bm_net_params(fresh), bm_net_params(net), g[3].offset * 4) == 0);
  CHECK(bm_net_params(fresh)[g[3].offset] == 0.0f); /* layer 2 untouched */
  /* garbage */
  CHECK(bm_net_weights_from_memory(fresh, "xy", 2, -1, "tiny", &err) == -1);
  int32_t bad[3] = {-5, 2, 0};
  CHECK(bm_net_weights_from_memory(fresh, bad, sizeof bad, -1, "bad", &err) == -1);
  CHECK(bm_net_load_weights(fresh, "/nonexistent/x.weights", -1, &err) == -1);

  bm_buf_free(&old);
  bm_buf_free(&expected);
  bm_buf_free(&written);
  bm_net_free(net);
  bm_net_free(other);
  bm_net_free(third);
  bm_net_free(fresh);
  return bm_test_finish("test_nn_weights");
}
