/* A small recursive-descent JSON parser building a DOM (see bm_json.h for what it accepts).
 *
 * Every parse function either fills its output completely or frees whatever it allocated
 * and leaves the output as a zeroed null value, so a failure anywhere unwinds cleanly. */
#include "boxmine/bm_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct json_parser {
  const unsigned char *text;
  size_t len;
  size_t pos;
  int line;          /* 1-based line of pos */
  size_t line_start; /* offset of the first byte of that line */
  bm_error *err;
} json_parser;

static int column_at(const json_parser *p, size_t pos) { return (int)(pos - p->line_start) + 1; }

static int fail_at(const json_parser *p, size_t pos, const char *what) {
  return bm_fail(p->err, "line %d, column %d: %s", p->line, column_at(p, pos), what);
}

static void skip_whitespace(json_parser *p) {
  while (p->pos < p->len) {
    unsigned char c = p->text[p->pos];
    if (c == '\n') {
      p->pos++;
      p->line++;
      p->line_start = p->pos;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      p->pos++;
    } else {
      break;
    }
  }
}

static int match_word(json_parser *p, const char *word) {
  size_t n = strlen(word);
  if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0) return 0;
  p->pos += n;
  return 1;
}

/* ---- strings ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence starting at s (at most avail bytes), or 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static int utf8_sequence_length(const unsigned char *s, size_t avail) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  int n;
  unsigned min_second = 0x80, max_second = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, min_second = 0xA0;
  else if (c == 0xED) n = 3, max_second = 0x9F; /* U+D800..U+DFFF are not characters */
  else if (c >= 0xE1 && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, min_second = 0x90;
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else if (c == 0xF4) n = 4, max_second = 0x8F;
  else return 0;
  if (avail < (size_t)n) return 0;
  if (s[1] < min_second || s[1] > max_second) return 0;
  for (int i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return n;
}

static int encode_utf8(unsigned long code, unsigned char *out) {
  if (code < 0x80) {
    out[0] = (unsigned char)code;
    return 1;
  }
  if (code < 0x800) {
    out[0] = (unsigned char)(0xC0 | (code >> 6));
    out[1] = (unsigned char)(0x80 | (code & 0x3F));
    return 2;
  }
  if (code < 0x10000) {
    out[0] = (unsigned char)(0xE0 | (code >> 12));
    out[1] = (unsigned char)(0x80 | ((code >> 6) & 0x3F));
    out[2] = (unsigned char)(0x80 | (code & 0x3F));
    return 3;
  }
  out[0] = (unsigned char)(0xF0 | (code >> 18));
  out[1] = (unsigned char)(0x80 | ((code >> 12) & 0x3F));
  out[2] = (unsigned char)(0x80 | ((code >> 6) & 0x3F));
  out[3] = (unsigned char)(0x80 | (code & 0x3F));
  return 4;
}

/* Four hex digits at p->pos; returns the value or -1. */
static long read_hex4(json_parser *p) {
  if (p->len - p->pos < 4) return -1;
  long value = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = p->text[p->pos + i];
    int digit;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
    else return -1;
    value = value * 16 + digit;
  }
  p->pos += 4;
  return value;
}

/* Decodes the \uXXXX escape whose 'u' was just consumed (escape_pos is the backslash). */
static int read_unicode_escape(json_parser *p, size_t escape_pos, unsigned long *code) {
  long first = read_hex4(p);
  if (first < 0) return fail_at(p, escape_pos, "\\u must be followed by four hex digits");
  if (first >= 0xDC00 && first <= 0xDFFF)
    return fail_at(p, escape_pos, "lone low surrogate in \\u escape");
  if (first >= 0xD800 && first <= 0xDBFF) {
    if (!(p->len - p->pos >= 2 && p->text[p->pos] == '\\' && p->text[p->pos + 1] == 'u'))
      return fail_at(p, escape_pos, "high surrogate in \\u escape not followed by a low one");
    p->pos += 2;
    long second = read_hex4(p);
    if (second < 0xDC00 || second > 0xDFFF)
      return fail_at(p, escape_pos, "high surrogate in \\u escape not followed by a low one");
    *code = 0x10000 + (((unsigned long)first - 0xD800) << 10) + ((unsigned long)second - 0xDC00);
    return 0;
  }
  if (first == 0) return fail_at(p, escape_pos, "\\u0000 is not supported in strings");
  *code = (unsigned long)first;
  return 0;
}

/* Parses a string literal whose opening quote is at p->pos into a new NUL-terminated string.
 * The decoded text is never longer than the literal, so one allocation of that size does. */
static int parse_string(json_parser *p, char **out) {
  size_t start = p->pos;
  size_t end = start + 1;
  while (end < p->len && p->text[end] != '"') end += p->text[end] == '\\' ? 2 : 1;
  if (end >= p->len) return fail_at(p, start, "unterminated string");
  unsigned char *decoded = bm_malloc(end - start);
  if (!decoded) return fail_at(p, start, "out of memory");
  size_t n = 0;
  p->pos = start + 1;
  while (p->text[p->pos] != '"') {
    unsigned char c = p->text[p->pos];
    if (c < 0x20) {
      bm_free(decoded);
      return fail_at(p, p->pos, "control character inside a string (must be escaped)");
    }
    if (c != '\\') {
      int seq = utf8_sequence_length(p->text + p->pos, end - p->pos);
      if (seq == 0) {
        bm_free(decoded);
        return fail_at(p, p->pos, "invalid UTF-8 inside a string");
      }
      memcpy(decoded + n, p->text + p->pos, (size_t)seq);
      n += (size_t)seq;
      p->pos += (size_t)seq;
      continue;
    }
    size_t escape_pos = p->pos;
    unsigned char kind = p->text[p->pos + 1];
    p->pos += 2;
    switch (kind) {
      case '"': decoded[n++] = '"'; break;
      case '\\': decoded[n++] = '\\'; break;
      case '/': decoded[n++] = '/'; break;
      case 'b': decoded[n++] = '\b'; break;
      case 'f': decoded[n++] = '\f'; break;
      case 'n': decoded[n++] = '\n'; break;
      case 'r': decoded[n++] = '\r'; break;
      case 't': decoded[n++] = '\t'; break;
      case 'u': {
        unsigned long code = 0;
        if (read_unicode_escape(p, escape_pos, &code) != 0) {
          bm_free(decoded);
          return -1;
        }
        /* A \uXXXX escape is 6 bytes and decodes to at most 3; a pair is 12 for 4. */
        n += (size_t)encode_utf8(code, decoded + n);
        break;
      }
      default:
        bm_free(decoded);
        return fail_at(p, escape_pos, "unknown escape sequence in a string");
    }
    if (p->pos > end) { /* the escape ran into the closing quote, e.g. "\u12" */
      bm_free(decoded);
      return fail_at(p, escape_pos, "malformed escape sequence in a string");
    }
  }
  decoded[n] = '\0';
  p->pos++; /* closing quote */
  *out = (char *)decoded;
  return 0;
}

/* ---- numbers ------------------------------------------------------------------------ */

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int parse_number(json_parser *p, double *out) {
  size_t start = p->pos, i = p->pos;
  const unsigned char *t = p->text;
  if (i < p->len && t[i] == '-') i++;
  if (i >= p->len || !is_digit(t[i])) return fail_at(p, start, "invalid number");
  if (t[i] == '0') {
    i++;
    if (i < p->len && is_digit(t[i]))
      return fail_at(p, start, "numbers must not have leading zeros");
  } else {
    while (i < p->len && is_digit(t[i])) i++;
  }
  if (i < p->len && t[i] == '.') {
    i++;
    if (i >= p->len || !is_digit(t[i])) return fail_at(p, start, "digits expected after '.'");
    while (i < p->len && is_digit(t[i])) i++;
  }
  if (i < p->len && (t[i] == 'e' || t[i] == 'E')) {
    i++;
    if (i < p->len && (t[i] == '+' || t[i] == '-')) i++;
    if (i >= p->len || !is_digit(t[i])) return fail_at(p, start, "digits expected in exponent");
    while (i < p->len && is_digit(t[i])) i++;
  }
  /* strtod needs a NUL-terminated copy: the input buffer need not end after the number. */
  size_t n = i - start;
  char small[128];
  char *copy = n < sizeof small ? small : bm_malloc(n + 1);
  if (!copy) return fail_at(p, start, "out of memory");
  memcpy(copy, t + start, n);
  copy[n] = '\0';
  errno = 0;
  double value = strtod(copy, NULL);
  int overflow = errno == ERANGE && isinf(value);
  if (copy != small) bm_free(copy);
  if (overflow) return fail_at(p, start, "number out of the range of a double");
  *out = value;
  p->pos = i;
  return 0;
}

/* ---- values ------------------------------------------------------------------------- */

static int parse_value(json_parser *p, bm_json *out, int depth);

/* Grows items (and keys when with_keys) so that index n fits; returns 0 or -1. */
static int grow(bm_json **items, char ***keys, int n, int *cap, int with_keys) {
  if (n < *cap) return 0;
  if (*cap > (1 << 29)) return -1;
  int new_cap = *cap ? *cap * 2 : 4;
  bm_json *grown_items = bm_realloc(*items, (size_t)new_cap * sizeof **items);
  if (!grown_items) return -1;
  *items = grown_items;
  if (with_keys) {
    char **grown_keys = bm_realloc(*keys, (size_t)new_cap * sizeof **keys);
    if (!grown_keys) return -1;
    *keys = grown_keys;
  }
  *cap = new_cap;
  return 0;
}

/* Parses an array ('[' at p->pos) or object ('{' at p->pos). */
static int parse_container(json_parser *p, bm_json *out, int depth) {
  int is_object = p->text[p->pos] == '{';
  unsigned char close = is_object ? '}' : ']';
  size_t open_pos = p->pos;
  if (depth >= BM_JSON_MAX_DEPTH) return fail_at(p, open_pos, "nesting deeper than the limit");
  p->pos++;
  bm_json *items = NULL;
  char **keys = NULL;
  int n = 0, cap = 0;
  skip_whitespace(p);
  if (p->pos < p->len && p->text[p->pos] == close) {
    p->pos++;
  } else {
    for (;;) {
      if (grow(&items, &keys, n, &cap, is_object) != 0) {
        fail_at(p, p->pos, "out of memory");
        goto fail;
      }
      if (is_object) {
        skip_whitespace(p);
        if (p->pos >= p->len || p->text[p->pos] != '"') {
          fail_at(p, p->pos, "expected a member name in double quotes");
          goto fail;
        }
        if (parse_string(p, &keys[n]) != 0) goto fail;
        skip_whitespace(p);
        if (p->pos >= p->len || p->text[p->pos] != ':') {
          bm_free(keys[n]);
          fail_at(p, p->pos, "expected ':' after a member name");
          goto fail;
        }
        p->pos++;
      }
      if (parse_value(p, &items[n], depth + 1) != 0) {
        if (is_object) bm_free(keys[n]);
        goto fail;
      }
      n++;
      skip_whitespace(p);
      if (p->pos < p->len && p->text[p->pos] == ',') {
        p->pos++;
        continue;
      }
      if (p->pos < p->len && p->text[p->pos] == close) {
        p->pos++;
        break;
      }
      fail_at(p, p->pos,
              is_object ? "expected ',' or '}' in an object" : "expected ',' or ']' in an array");
      goto fail;
    }
  }
  out->type = is_object ? BM_JSON_OBJECT : BM_JSON_ARRAY;
  out->n = n;
  out->items = items;
  out->keys = keys;
  return 0;
fail:
  for (int i = 0; i < n; i++) {
    bm_json_free(&items[i]);
    if (is_object) bm_free(keys[i]);
  }
  bm_free(items);
  bm_free(keys);
  return -1;
}

static int parse_value(json_parser *p, bm_json *out, int depth) {
  memset(out, 0, sizeof *out);
  skip_whitespace(p);
  out->line = p->line;
  out->column = column_at(p, p->pos);
  if (p->pos >= p->len) return fail_at(p, p->pos, "unexpected end of input, expected a value");
  unsigned char c = p->text[p->pos];
  if (c == '{' || c == '[') return parse_container(p, out, depth);
  if (c == '"') {
    if (parse_string(p, &out->string) != 0) return -1;
    out->type = BM_JSON_STRING;
    return 0;
  }
  if (c == '-' || is_digit(c)) {
    if (parse_number(p, &out->number) != 0) return -1;
    out->type = BM_JSON_NUMBER;
    return 0;
  }
  if (match_word(p, "true")) {
    out->type = BM_JSON_BOOL;
    out->boolean = 1;
    return 0;
  }
  if (match_word(p, "false")) {
    out->type = BM_JSON_BOOL;
    return 0;
  }
  if (match_word(p, "null")) return 0;
  if (c == 'N' || c == 'I') return fail_at(p, p->pos, "NaN and Infinity are not valid JSON");
  return fail_at(p, p->pos, "unexpected character, expected a value");
}

int bm_json_parse(const char *text, size_t len, bm_json *root, bm_error *err) {
  json_parser p = {(const unsigned char *)text, len, 0, 1, 0, err};
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) p.pos = p.line_start = 3;
  if (parse_value(&p, root, 0) != 0) {
    memset(root, 0, sizeof *root);
    return -1;
  }
  skip_whitespace(&p);
  if (p.pos < p.len) {
    fail_at(&p, p.pos, "unexpected text after the JSON value");
    bm_json_free(root);
    return -1;
  }
  return 0;
}

int bm_json_parse_file(const char *path, bm_json *root, bm_error *err) {
  char *text = NULL;
  size_t len = 0;
  memset(root, 0, sizeof *root);
  if (bm_read_file(path, &text, &len, err) != 0) return -1;
  int status = bm_json_parse(text, len, root, err);
  bm_free(text);
  if (status != 0) return bm_fail_prefix(err, "%s", path);
  return 0;
}

void bm_json_free(bm_json *root) {
  if (!root) return;
  if (root->type == BM_JSON_ARRAY || root->type == BM_JSON_OBJECT) {
    for (int i = 0; i < root->n; i++) {
      bm_json_free(&root->items[i]);
      if (root->keys) bm_free(root->keys[i]);
    }
  }
  bm_free(root->items);
  bm_free(root->keys);
  bm_free(root->string);
  memset(root, 0, sizeof *root);
}

/* ---- navigation --------------------------------------------------------------------- */

const char *bm_json_type_name(bm_json_type type) {
  switch (type) {
    case BM_JSON_NULL: return "null";
    case BM_JSON_BOOL: return "boolean";
    case BM_JSON_NUMBER: return "number";
    case BM_JSON_STRING: return "string";
    case BM_JSON_ARRAY: return "array";
    case BM_JSON_OBJECT: return "object";
  }
  return "unknown";
}

const bm_json *bm_json_get(const bm_json *object, const char *key) {
  if (!object || object->type != BM_JSON_OBJECT || !key) return NULL;
  for (int i = object->n - 1; i >= 0; i--)
    if (strcmp(object->keys[i], key) == 0) return &object->items[i];
  return NULL;
}

int bm_json_len(const bm_json *value) {
  if (!value || (value->type != BM_JSON_ARRAY && value->type != BM_JSON_OBJECT)) return 0;
  return value->n;
}

const bm_json *bm_json_at(const bm_json *value, int i) {
  if (i < 0 || i >= bm_json_len(value)) return NULL;
  return &value->items[i];
}

const char *bm_json_key_at(const bm_json *object, int i) {
  if (!object || object->type != BM_JSON_OBJECT || i < 0 || i >= object->n) return NULL;
  return object->keys[i];
}

const char *bm_json_string(const bm_json *value) {
  return value && value->type == BM_JSON_STRING ? value->string : NULL;
}

double bm_json_number(const bm_json *value, double fallback) {
  return value && value->type == BM_JSON_NUMBER ? value->number : fallback;
}

const bm_json *bm_json_get_typed(const bm_json *object, const char *key, bm_json_type type,
                                 bm_error *err) {
  if (!object || object->type != BM_JSON_OBJECT) {
    if (object)
      bm_fail(err, "line %d, column %d: expected an object with field '%s', found %s", object->line,
              object->column, key, bm_json_type_name(object->type));
    else bm_fail(err, "expected an object with field '%s'", key);
    return NULL;
  }
  const bm_json *value = bm_json_get(object, key);
  if (!value) {
    bm_fail(err, "line %d, column %d: object has no field '%s'", object->line, object->column, key);
    return NULL;
  }
  if (value->type != type) {
    bm_fail(err, "line %d, column %d: field '%s' must be a%s %s, not %s", value->line,
            value->column, key, type == BM_JSON_ARRAY || type == BM_JSON_OBJECT ? "n" : "",
            bm_json_type_name(type), bm_json_type_name(value->type));
    return NULL;
  }
  return value;
}

int bm_json_get_number(const bm_json *object, const char *key, double *out, bm_error *err) {
  const bm_json *value = bm_json_get_typed(object, key, BM_JSON_NUMBER, err);
  if (!value) return -1;
  *out = value->number;
  return 0;
}

int bm_json_get_int(const bm_json *object, const char *key, long lo, long hi, long *out,
                    bm_error *err) {
  const bm_json *value = bm_json_get_typed(object, key, BM_JSON_NUMBER, err);
  if (!value) return -1;
  double number = value->number;
  if (number != floor(number))
    return bm_fail(err, "line %d, column %d: field '%s' must be an integer, not %.17g", value->line,
                   value->column, key, number);
  if (number < (double)lo || number > (double)hi)
    return bm_fail(err, "line %d, column %d: field '%s' = %.17g is outside [%ld, %ld]", value->line,
                   value->column, key, number, lo, hi);
  *out = (long)number;
  return 0;
}

int bm_json_get_string(const bm_json *object, const char *key, const char **out, bm_error *err) {
  const bm_json *value = bm_json_get_typed(object, key, BM_JSON_STRING, err);
  if (!value) return -1;
  *out = value->string;
  return 0;
}

int bm_json_get_bool(const bm_json *object, const char *key, int *out, bm_error *err) {
  const bm_json *value = bm_json_get_typed(object, key, BM_JSON_BOOL, err);
  if (!value) return -1;
  *out = value->boolean;
  return 0;
}
