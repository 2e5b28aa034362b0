/* The darknet .cfg parser and network builder on arbitrary text (batch 1). */
#include "boxmine/bm_nn.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  bm_network *net = NULL;
  bm_error err;
  if (bm_net_create_from_text(&net, text, "fuzz.cfg", 1, NULL, &err) == 0) bm_net_free(net);
  free(text);
  return 0;
}
