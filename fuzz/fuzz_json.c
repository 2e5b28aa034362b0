/* The JSON parser, and a walk over what it returns (every key, index and scalar). */
#include "boxmine/bm_json.h"
#include "fuzz_common.h"

static void walk(const bm_json *v, int depth) {
  if (!v || depth > 64) return;
  int n = bm_json_len(v);
  for (int i = 0; i < n; i++) {
    const char *key = bm_json_key_at(v, i);
    const bm_json *child = bm_json_at(v, i);
    if (key) bm_json_get(v, key);
    walk(child, depth + 1);
  }
  (void)bm_json_string(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bm_json root;
  bm_error err;
  if (bm_json_parse((const char *)data, size, &root, &err) == 0) {
    walk(&root, 0);
    bm_json_free(&root);
  }
  return 0;
}
