/* The one place where boxmine allocates memory.
 *
 * With the build option BM_ALLOC_FAIL (tests/alloc_fail.sh; never in a normal build) every
 * allocation is counted and the one numbered $BM_ALLOC_FAIL_AT (1-based) fails, as in
 * SQLite's and Lua's test harnesses, so a loop over N can show that each failure ends in a
 * clean error. With $BM_ALLOC_COUNT_FILE set the count is written there at exit. The counter
 * is the library's only global mutable state, and it exists in that test build only. */
#include "boxmine/bm_core.h"

#include <stdlib.h>
#include <string.h>

#ifdef BM_ALLOC_FAIL
#include <stdatomic.h>
#include <stdio.h>

static atomic_long alloc_count;
static long alloc_fail_at = -1; /* -1: not read yet, 0: never fail */

static void write_count(void) {
  const char *path = getenv("BM_ALLOC_COUNT_FILE");
  FILE *f = path ? fopen(path, "w") : NULL;
  if (f) {
    fprintf(f, "%ld\n", (long)atomic_load(&alloc_count));
    fclose(f);
  }
}

/* 1 when this allocation is the one to fail */
static int injected_failure(void) {
  if (alloc_fail_at < 0) { /* first call happens before any thread exists */
    const char *at = getenv("BM_ALLOC_FAIL_AT");
    alloc_fail_at = at ? atol(at) : 0;
    if (getenv("BM_ALLOC_COUNT_FILE")) atexit(write_count);
  }
  long n = atomic_fetch_add(&alloc_count, 1) + 1;
  return alloc_fail_at > 0 && n == alloc_fail_at;
}
#define FAIL_HERE() injected_failure()
#else
#define FAIL_HERE() 0
#endif

void *bm_malloc(size_t size) { return FAIL_HERE() ? NULL : malloc(size ? size : 1); }

void *bm_calloc(size_t count, size_t size) {
  return FAIL_HERE() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *bm_realloc(void *ptr, size_t size) { return FAIL_HERE() ? NULL : realloc(ptr, size ? size : 1); }

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
  if (FAIL_HERE()) return NULL;
  size_t rounded = (size + 63) & ~(size_t)63;
  if (posix_memalign(&ptr, 64, rounded ? rounded : 64) != 0) return NULL;
  return ptr;
}

void bm_free_aligned(void *ptr) { free(ptr); }
