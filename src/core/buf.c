/* Growable buffer with printf and JSON helpers. */
#include "boxmine/bm_core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bm_buf_init(bm_buf *buf) { memset(buf, 0, sizeof *buf); }

void bm_buf_free(bm_buf *buf) {
  bm_free(buf->data);
  memset(buf, 0, sizeof *buf);
}

static int reserve(bm_buf *buf, size_t extra) {
  if (buf->failed) return -1;
  if (buf->len + extra + 1 <= buf->cap) return 0;
  size_t cap = buf->cap ? buf->cap : 256;
  while (cap < buf->len + extra + 1) cap *= 2;
  char *grown = bm_realloc(buf->data, cap);
  if (!grown) {
    buf->failed = 1;
    return -1;
  }
  buf->data = grown;
  buf->cap = cap;
  return 0;
}

void bm_buf_append(bm_buf *buf, const void *data, size_t len) {
  if (!data && len) { /* the caller's own buffer failed: the failure carries over */
    buf->failed = 1;
    return;
  }
  if (reserve(buf, len) != 0) return;
  if (len) memcpy(buf->data + buf->len, data, len);
  buf->len += len;
  buf->data[buf->len] = '\0';
}

void bm_buf_puts(bm_buf *buf, const char *s) { bm_buf_append(buf, s, strlen(s)); }

void bm_buf_printf(bm_buf *buf, const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  char small[256];
  int n = vsnprintf(small, sizeof small, fmt, args);
  va_end(args);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    bm_buf_append(buf, small, (size_t)n);
    return;
  }
  if (reserve(buf, (size_t)n) != 0) return;
  va_start(args, fmt);
  vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, args);
  va_end(args);
  buf->len += (size_t)n;
}

void bm_buf_json_string(bm_buf *buf, const char *s) {
  bm_buf_puts(buf, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': bm_buf_puts(buf, "\\\""); break;
      case '\\': bm_buf_puts(buf, "\\\\"); break;
      case '\n': bm_buf_puts(buf, "\\n"); break;
      case '\r': bm_buf_puts(buf, "\\r"); break;
      case '\t': bm_buf_puts(buf, "\\t"); break;
      default:
        if (*p < 0x20) bm_buf_printf(buf, "\\u%04x", *p);
        else bm_buf_append(buf, p, 1);
    }
  }
  bm_buf_puts(buf, "\"");
}

void bm_buf_json_number(bm_buf *buf, double value) {
  if (!isfinite(value)) {
    bm_buf_puts(buf, "null");
    return;
  }
  if (value == floor(value) && fabs(value) < 1e15) bm_buf_printf(buf, "%.0f", value);
  else bm_buf_printf(buf, "%.9g", value);
}

void bm_buf_json_float(bm_buf *buf, float value) {
  if (!isfinite(value)) {
    bm_buf_puts(buf, "null");
    return;
  }
  char text[32];
  if (value == floorf(value) && fabsf(value) < 1e7f) { /* whole numbers as integers, not 1e+01 */
    bm_buf_printf(buf, "%.0f", (double)value);
    return;
  }
  for (int digits = 1; digits <= 9; digits++) { /* 9 digits always read back exactly */
    snprintf(text, sizeof text, "%.*g", digits, (double)value);
    if (strtof(text, NULL) == value) break;
  }
  bm_buf_puts(buf, text);
}
