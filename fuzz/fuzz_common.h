/* Shared by the libFuzzer targets (fuzz/README.md): a per-process scratch file for readers
 * that take a path, and a small hand-built dataset for the detection readers. Every target
 * checks one promise: any input ends in success or a clean error, never a crash, a leak, a
 * hang or undefined behaviour (the build adds ASan + UBSan). */
#ifndef BM_FUZZ_COMMON_H
#define BM_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxmine/bm_core.h"
#include "boxmine/bm_data.h"

/* Writes data to a file private to this process and returns its path (static storage). */
static inline const char *fuzz_scratch(const char *suffix, const uint8_t *data, size_t size) {
  static char path[256];
  const char *dir = getenv("TMPDIR");
  snprintf(path, sizeof path, "%s/bm-fuzz-%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(),
           suffix);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (size && fwrite(data, 1, size, f) != size) abort();
  if (fclose(f) != 0) abort();
  return path;
}

/* Three images "000001", "img_2", "x" and classes "cat", "dog", by hand (no files). */
static inline void fuzz_dataset(bm_dataset *ds) {
  static bm_image_info images[3] = {
      {"000001", "/nonexistent/000001.jpg", NULL, 100, 80, 3, 0, 0},
      {"img_2", "/nonexistent/img_2.jpg", NULL, 64, 64, 3, 0, 0},
      {"x", "/nonexistent/x.jpg", NULL, 500, 300, 3, 0, 0}};
  static char *names[2] = {"cat", "dog"};
  memset(ds, 0, sizeof *ds);
  ds->n_images = 3;
  ds->images = images;
  ds->n_classes = 2;
  ds->class_names = names;
}

#endif
