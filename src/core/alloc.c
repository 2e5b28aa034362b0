/* The one place where boxmine allocates memory. */
#include "boxmine/bm_core.h"

#include <stdlib.h>
#include <string.h>

void *bm_malloc(size_t size) { return malloc(size ? size : 1); }

void *bm_calloc(size_t count, size_t size) { return calloc(count ? count : 1, size ? size : 1); }

void *bm_realloc(void *ptr, size_t size) { return realloc(ptr, size ? size : 1); }

void bm_free(void *ptr) { free(ptr); }

char *bm_strdup(const char *s) {
  if (!s) return NULL;
  size_t len = strlen(s);
  char *copy = bm_malloc(len + 1);
  if (copy) memcpy(copy, s, len + 1);
  return copy;
}

void *bm_malloc_aligned(size_t size) {
  void *ptr = NULL;
  size_t rounded = (size + 63) & ~(size_t)63;
  if (posix_memalign(&ptr, 64, rounded ? rounded : 64) != 0) return NULL;
  return ptr;
}

void bm_free_aligned(void *ptr) { free(ptr); }
