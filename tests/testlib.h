/* A small test harness: CHECK macros count failures; bm_test_finish prints the count and
 * returns the exit status. Paths to shared data come from the environment (set by CTest). */
#ifndef BM_TESTLIB_H
#define BM_TESTLIB_H

#include <math.h>
#include <stdio.h>

typedef struct bm_test_state {
  int checks;
  int failures;
} bm_test_state;

extern bm_test_state bm_test; /* test programs only; never linked into the library */

#define CHECK(cond)                                                                       \
  do {                                                                                    \
    bm_test.checks++;                                                                     \
    if (!(cond)) {                                                                        \
      bm_test.failures++;                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);            \
    }                                                                                     \
  } while (0)

#define CHECK_MSG(cond, ...)                                                              \
  do {                                                                                    \
    bm_test.checks++;                                                                     \
    if (!(cond)) {                                                                        \
      bm_test.failures++;                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);            \
      fprintf(stderr, __VA_ARGS__);                                                       \
      fputc('\n', stderr);                                                                \
    }                                                                                     \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                             \
  do {                                                                                    \
    double bm_a_ = (double)(a), bm_b_ = (double)(b);                                      \
    bm_test.checks++;                                                                     \
    if (!(fabs(bm_a_ - bm_b_) <= (tol))) {                                                \
      bm_test.failures++;                                                                 \
      fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g (tol %g)\n", __FILE__, \
              __LINE__, #a, bm_a_, #b, bm_b_, (double)(tol));                             \
    }                                                                                     \
  } while (0)

/* Prints "<name>: N checks, N failed" and returns 0 when nothing failed (and something was
 * checked: a test that checks nothing fails). */
int bm_test_finish(const char *name);
/* $BM_SHARED_DIR/<rel> or $BM_SOURCE_DIR/<rel>; static buffer per call site is the caller's. */
const char *bm_test_shared(const char *rel, char *out, size_t size);
const char *bm_test_source(const char *rel, char *out, size_t size);
/* A fresh empty temporary directory (mkdtemp under $TMPDIR or /tmp). */
const char *bm_test_tmpdir(char *out, size_t size);

/* A crafted checkpoint: `from` copied section by section into `to` with value `index` of
 * section `name` set to `value` (in the section's type), under a valid checksum. 0 or -1. */
int bm_test_craft_ckpt(const char *from, const char *to, const char *name, size_t index,
                       double value);

#endif
