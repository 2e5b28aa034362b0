#include "testlib.h"

#include <stdlib.h>
#include <string.h>

bm_test_state bm_test;

int bm_test_finish(const char *name) {
  printf("%s: %d checks, %d failed\n", name, bm_test.checks, bm_test.failures);
  if (bm_test.checks == 0) {
    printf("%s: no checks ran\n", name);
    return 1;
  }
  return bm_test.failures ? 1 : 0;
}

static const char *env_path(const char *var, const char *fallback, const char *rel, char *out,
                            size_t size) {
  const char *base = getenv(var);
  if (!base) base = fallback;
  snprintf(out, size, "%s/%s", base, rel);
  return out;
}

const char *bm_test_shared(const char *rel, char *out, size_t size) {
  return env_path("BM_SHARED_DIR", "../shared", rel, out, size);
}

const char *bm_test_source(const char *rel, char *out, size_t size) {
  return env_path("BM_SOURCE_DIR", ".", rel, out, size);
}

const char *bm_test_tmpdir(char *out, size_t size) {
  const char *base = getenv("TMPDIR");
  snprintf(out, size, "%s/bmtest.XXXXXX", base ? base : "/tmp");
  if (!mkdtemp(out)) {
    perror("mkdtemp");
    exit(1);
  }
  return out;
}
