/* Error reasons and warnings. */
#include "boxmine/bm_core.h"

#include <stdio.h>
#include <string.h>

int bm_fail(bm_error *err, const char *fmt, ...) {
  if (err) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, args);
    va_end(args);
  }
  return -1;
}

int bm_fail_prefix(bm_error *err, const char *fmt, ...) {
  if (err) {
    char prefix[512];
    char old[sizeof err->msg];
    va_list args;
    va_start(args, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, args);
    va_end(args);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
  }
  return -1;
}

void bm_warn(bm_log *log, const char *fmt, ...) {
  if (!log) return;
  log->n_warnings++;
  if (!log->warn) return;
  char msg[1024];
  va_list args;
  va_start(args, fmt);
  vsnprintf(msg, sizeof msg, fmt, args);
  va_end(args);
  log->warn(log->user, msg);
}

const char *bm_printable(const char *s, char *buf, size_t size) {
  size_t used = 0;
  if (size == 0) return "";
  for (const unsigned char *p = (const unsigned char *)s; *p && used + 5 < size; p++) {
    if (*p < 0x20 || *p == 0x7f) used += (size_t)snprintf(buf + used, size - used, "\\x%02x", *p);
    else buf[used++] = (char)*p;
  }
  buf[used] = '\0';
  return buf;
}
