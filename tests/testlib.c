#include "boxmine/bm_train.h"
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

/* A crafted checkpoint: every section of `from` copied byte for byte, except value `index`
 * of section `name`, set to `value` (converted to the section's type). The file has a valid
 * checksum, as any tool could write one: only the loaders' range checks stand in the way. */
int bm_test_craft_ckpt(const char *from, const char *to, const char *name, size_t index, double value) {
  bm_ckpt_reader r;
  bm_error err;
  if (bm_ckpt_open(&r, from, &err)) return -1;
  bm_ckpt_writer w;
  bm_ckpt_writer_init(&w);
  int found = 0;
  for (int s = 0; s < r.n_sections; s++) {
    const bm_ckpt_section *sec = &r.sections[s];
    unsigned char *copy = malloc(sec->size + 8);
    memcpy(copy, sec->data, sec->size);
    if (!strcmp(sec->name, name)) {
      found = 1;
      if (sec->type == BM_CKPT_F32 && (index + 1) * 4 <= sec->size) {
        float v = (float)value;
        memcpy(copy + index * 4, &v, 4);
      } else if (sec->type == BM_CKPT_F64 && (index + 1) * 8 <= sec->size) {
        memcpy(copy + index * 8, &value, 8);
      } else if (sec->type == BM_CKPT_I64 && (index + 1) * 8 <= sec->size) {
        int64_t v = (int64_t)value;
        memcpy(copy + index * 8, &v, 8);
      } else {
        found = 0;
      }
    }
    if (sec->type == BM_CKPT_F32) bm_ckpt_add_f32(&w, sec->name, (float *)copy, sec->size / 4);
    else if (sec->type == BM_CKPT_F64) bm_ckpt_add_f64(&w, sec->name, (double *)copy, sec->size / 8);
    else if (sec->type == BM_CKPT_I64) bm_ckpt_add_i64(&w, sec->name, (int64_t *)copy, sec->size / 8);
    else bm_ckpt_add_bytes(&w, sec->name, copy, sec->size);
    free(copy);
  }
  int rc = found ? bm_ckpt_save(&w, to, &err) : -1;
  bm_ckpt_writer_free(&w);
  bm_ckpt_close(&r);
  return rc;
}

