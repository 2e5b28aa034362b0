/* The PASCAL VOC XML reader on arbitrary bytes. */
#include "data/data_internal.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bm_voc_file f;
  bm_error err;
  if (bm_voc_parse_memory("fuzz.xml", (const char *)data, size, &f, &err) == 0)
    bm_voc_file_free(&f);
  return 0;
}
