/* boxmine core: errors, warnings, allocation, seeded random numbers, checksums,
 * files written atomically, a growable text buffer with JSON helpers.
 *
 * Conventions used by every module:
 *  - A function that can fail returns int: 0 on success, -1 on failure, and writes a
 *    human-readable reason into the caller's bm_error (which may be NULL).
 *  - Library code never prints and never exits. Warnings go to a bm_log callback that the
 *    caller owns (NULL means "count them, print nothing").
 *  - No global mutable state: every generator, buffer and model is an object the caller holds.
 */
#ifndef BM_CORE_H
#define BM_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------------------- */
typedef struct bm_error {
  char msg[1024];
} bm_error;

/* Formats a reason into err (if not NULL) and returns -1, so callers can write
 * `return bm_fail(err, "%s: line %d: ...", path, line);` */
int bm_fail(bm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the existing reason: "prefix: old reason". Returns -1. */
int bm_fail_prefix(bm_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* s with control characters written as \xNN, in buf (truncated to size): for error messages
 * that quote text from a file, so a newline in it cannot split or forge a message line. */
const char *bm_printable(const char *s, char *buf, size_t size);

/* ---- warnings ----------------------------------------------------------------------- */
typedef void (*bm_warn_fn)(void *user, const char *msg);
typedef struct bm_log {
  bm_warn_fn warn; /* may be NULL */
  void *user;
  long n_warnings;
} bm_log;
void bm_warn(bm_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- allocation: everything goes through these, so failures can be tested -------------- */
void *bm_malloc(size_t size);
void *bm_calloc(size_t count, size_t size);
void *bm_realloc(void *ptr, size_t size);
void bm_free(void *ptr);
char *bm_strdup(const char *s);
/* 64-byte aligned allocation (for SIMD-friendly float buffers), freed with bm_free_aligned. */
void *bm_malloc_aligned(size_t size);
void bm_free_aligned(void *ptr);

/* ---- seeded random numbers (PCG32: 64-bit state, selectable stream) -------------------- */
typedef struct bm_rng {
  uint64_t state;
  uint64_t inc;
} bm_rng;
void bm_rng_seed(bm_rng *rng, uint64_t seed, uint64_t stream);
uint32_t bm_rng_u32(bm_rng *rng);
/* uniform in [0, 1) */
float bm_rng_uniform(bm_rng *rng);
/* uniform in [lo, hi) */
float bm_rng_range(bm_rng *rng, float lo, float hi);
/* uniform integer in [0, n), unbiased; n > 0 */
uint32_t bm_rng_below(bm_rng *rng, uint32_t n);
/* standard normal (Box-Muller, no cached second value so the state is the whole story) */
float bm_rng_normal(bm_rng *rng);
/* Fisher-Yates shuffle of n ints */
void bm_rng_shuffle(bm_rng *rng, int *values, int n);

/* ---- checksums ---------------------------------------------------------------------- */
/* CRC-32C (Castagnoli), as used by TFRecord. Start with crc = 0. */
uint32_t bm_crc32c(uint32_t crc, const void *data, size_t len);
/* 64-bit FNV-1a, for file checksums in caches and checkpoints. Start with bm_fnv64_init. */
#define BM_FNV64_INIT 0xcbf29ce484222325ULL
uint64_t bm_fnv64(uint64_t hash, const void *data, size_t len);

/* ---- files -------------------------------------------------------------------------- */
/* Writes data to path through path.tmp.XXXXXX, fsync, rename, fsync of the directory:
 * a crash leaves either the old file or the new one, never a torn one. */
int bm_write_file_atomic(const char *path, const void *data, size_t len, bm_error *err);
/* Reads a whole file; *data is NUL-terminated (not counted in *len); free with bm_free.
 * Only regular files are read: a FIFO, device, socket or directory is refused at once with
 * "PATH: not a regular file" (never blocks). */
int bm_read_file(const char *path, char **data, size_t *len, bm_error *err);
/* bm_read_file for text (cfg files, class and split lists): a NUL byte, which would cut the
 * text short unseen, is an error naming its offset. */
int bm_read_text_file(const char *path, char **text, bm_error *err);
/* Opens a regular file for reading ("rb"), refusing special files as bm_read_file does.
 * Every reader of input files goes through this or bm_read_file. NULL and err on failure. */
FILE *bm_open_regular(const char *path, bm_error *err);
/* mkdir -p */
int bm_mkdir_p(const char *path, bm_error *err);
int bm_file_exists(const char *path);
int bm_is_dir(const char *path);
/* Joins a and b with one '/'; returns a new string (bm_free). */
char *bm_path_join(const char *a, const char *b);
/* Seconds from a monotonic clock. */
double bm_now(void);

/* ---- growable text/bytes buffer --------------------------------------------------------- */
typedef struct bm_buf {
  char *data; /* always NUL-terminated when len > 0 or after any append */
  size_t len;
  size_t cap;
  int failed; /* set when an allocation failed; appends become no-ops */
} bm_buf;
void bm_buf_init(bm_buf *buf);
void bm_buf_free(bm_buf *buf);
void bm_buf_append(bm_buf *buf, const void *data, size_t len);
void bm_buf_puts(bm_buf *buf, const char *s);
void bm_buf_printf(bm_buf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, with quotes and escapes. */
void bm_buf_json_string(bm_buf *buf, const char *s);
/* Appends a JSON number; NaN and infinities become null (JSON has no such numbers). */
void bm_buf_json_number(bm_buf *buf, double value);
/* The same for a float, with the fewest digits that read back as the same float (0.3f is
 * written 0.3, not 0.300000012). */
void bm_buf_json_float(bm_buf *buf, float value);

#ifdef __cplusplus
}
#endif
#endif
