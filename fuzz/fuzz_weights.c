/* The darknet .weights reader: arbitrary bytes as the weights of a small fixed network
 * (conv + batch norm, conv with bias, [yolo]), all layers and the first one only. */
#include "boxmine/bm_nn.h"
#include "fuzz_common.h"

static const char cfg[] =
    "[net]\nwidth=32\nheight=32\nchannels=3\nbatch=1\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=4\nsize=3\nstride=2\npad=1\nactivation=leaky\n\n"
    "[convolutional]\nfilters=21\nsize=1\nstride=1\npad=1\nactivation=linear\n\n"
    "[yolo]\nmask=0,1,2\nanchors=8,8, 14,14, 22,24\nclasses=2\nnum=3\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static bm_network *net;
  bm_error err;
  if (!net && bm_net_create_from_text(&net, cfg, "fuzz.cfg", 1, NULL, &err)) abort();
  const char *path = fuzz_scratch(".weights", data, size);
  bm_net_load_weights(net, path, -1, &err);
  bm_net_load_weights(net, path, 1, &err);
  unlink(path);
  return 0;
}
