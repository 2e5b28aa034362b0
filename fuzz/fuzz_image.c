/* The JPEG and PNG loaders (bm_image_load) and the header-only size reader. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_scratch(".img", data, size);
  bm_error err;
  bm_image img;
  if (bm_image_load(path, &img, &err) == 0) bm_image_free(&img);
  int w, h;
  bm_image_size(path, &w, &h, &err);
  unlink(path);
  return 0;
}
