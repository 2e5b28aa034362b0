/* boxmine JSON: a small DOM parser for the JSON files boxmine reads (COCO results and
 * annotations, eval reports, mining state and per-round logs).
 *
 * What it accepts is RFC 8259 JSON, nothing more, with two exceptions for robustness:
 *  - a leading UTF-8 byte-order mark is skipped;
 *  - the escape \u0000 is rejected (strings are handed out as C strings, and a NUL inside
 *    one would silently cut it short).
 * NaN, Infinity, comments, trailing commas, single quotes and numbers outside the range of a
 * double are errors. Strings must be valid UTF-8; \uXXXX escapes (including surrogate pairs)
 * are decoded to UTF-8; a lone surrogate is an error. Nesting deeper than BM_JSON_MAX_DEPTH
 * is an error, so hostile input cannot exhaust the stack.
 *
 * Errors name the position as "line L, column C" (both 1-based, the column counted in bytes).
 * Every value keeps the position where it starts, so callers can report bad fields precisely.
 * Object members keep their file order; with a duplicate key, lookups return the last one
 * (as Python's json module does). Key lookup is a linear scan, fine for the small objects
 * boxmine reads.
 *
 * Numbers are converted with strtod, so the process must run in the "C" numeric locale
 * (boxmine never calls setlocale).
 */
#ifndef BM_JSON_H
#define BM_JSON_H

#include <stddef.h>

#include "boxmine/bm_core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BM_JSON_MAX_DEPTH 512

typedef enum bm_json_type {
  BM_JSON_NULL = 0,
  BM_JSON_BOOL,
  BM_JSON_NUMBER,
  BM_JSON_STRING,
  BM_JSON_ARRAY,
  BM_JSON_OBJECT
} bm_json_type;

typedef struct bm_json {
  bm_json_type type;
  int boolean;           /* BM_JSON_BOOL: 0 or 1 */
  double number;         /* BM_JSON_NUMBER */
  char *string;          /* BM_JSON_STRING: NUL-terminated UTF-8 */
  int n;                 /* BM_JSON_ARRAY: elements; BM_JSON_OBJECT: members */
  struct bm_json *items; /* array elements, or object member values (n of them) */
  char **keys;           /* BM_JSON_OBJECT: member names, parallel to items */
  int line, column;      /* where the value starts in the text (1-based; column in bytes) */
} bm_json;

/* Parses text[0..len) (need not be NUL-terminated) into *root. On failure *root is left as
 * a null value (safe to free) and err says "line L, column C: reason". */
int bm_json_parse(const char *text, size_t len, bm_json *root, bm_error *err);
/* Reads and parses a file; errors are prefixed with the path. */
int bm_json_parse_file(const char *path, bm_json *root, bm_error *err);
/* Frees everything below root and resets it to null. */
void bm_json_free(bm_json *root);

/* "null", "boolean", "number", "string", "array", "object" */
const char *bm_json_type_name(bm_json_type type);

/* ---- navigation: all of these accept NULL and wrong types and then return NULL / 0 ---- */
/* Member of an object by name (the last one when the key is repeated), or NULL. */
const bm_json *bm_json_get(const bm_json *object, const char *key);
/* Number of array elements or object members; 0 for anything else. */
int bm_json_len(const bm_json *value);
/* Array element (or object member value) i, or NULL when out of range. */
const bm_json *bm_json_at(const bm_json *value, int i);
/* Name of object member i, or NULL. */
const char *bm_json_key_at(const bm_json *object, int i);
/* The string, or NULL when value is not a string. */
const char *bm_json_string(const bm_json *value);
/* The number, or fallback when value is not a number. */
double bm_json_number(const bm_json *value, double fallback);

/* ---- checked field access: on failure err says where and what was expected, e.g.
 * "line 3, column 5: field 'score' must be a number, not a string". Callers add the path. */
int bm_json_get_number(const bm_json *object, const char *key, double *out, bm_error *err);
/* A number with no fractional part within [lo, hi]. */
int bm_json_get_int(const bm_json *object, const char *key, long lo, long hi, long *out,
                    bm_error *err);
/* The string stays owned by the tree. */
int bm_json_get_string(const bm_json *object, const char *key, const char **out, bm_error *err);
int bm_json_get_bool(const bm_json *object, const char *key, int *out, bm_error *err);
/* Member that must exist and have the given type. */
const bm_json *bm_json_get_typed(const bm_json *object, const char *key, bm_json_type type,
                                 bm_error *err);

#ifdef __cplusplus
}
#endif
#endif
