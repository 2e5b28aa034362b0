/* A run's settings as one key=value checkpoint section, described by a table (bm_run.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_run.h"

static void put_value(const bm_setting *f, const void *p, bm_buf *out) {
  switch (f->kind) {
    case BM_SETTING_TEXT: bm_buf_printf(out, "%s=%s\n", f->key, (const char *)p); break;
    case BM_SETTING_INT: bm_buf_printf(out, "%s=%d\n", f->key, *(const int *)p); break;
    case BM_SETTING_U64:
      bm_buf_printf(out, "%s=%llu\n", f->key, (unsigned long long)*(const uint64_t *)p);
      break;
    case BM_SETTING_FLOAT: bm_buf_printf(out, "%s=%.9g\n", f->key, (double)*(const float *)p); break;
    case BM_SETTING_DOUBLE: bm_buf_printf(out, "%s=%.17g\n", f->key, *(const double *)p); break;
    case BM_SETTING_DOUBLE9: bm_buf_printf(out, "%s=%.9g\n", f->key, *(const double *)p); break;
  }
}

void bm_settings_text(const bm_settings *s, const void *values, bm_buf *out) {
  for (size_t k = 0; k < s->n; k++)
    put_value(&s->table[k], (const char *)values + s->table[k].offset, out);
}

/* Parses text into the field at p. 0, or -1 for a bad value. */
static int get_value(const bm_setting *f, const char *text, void *p) {
  if (f->kind == BM_SETTING_TEXT) {
    size_t len = strlen(text);
    if (len >= f->size) return -1;
    memcpy(p, text, len + 1);
    return 0;
  }
  char *end;
  errno = 0;
  switch (f->kind) {
    case BM_SETTING_INT: {
      long v = strtol(text, &end, 10);
      if (v < -2147483647L - 1 || v > 2147483647L) return -1;
      *(int *)p = (int)v;
      break;
    }
    case BM_SETTING_U64: *(uint64_t *)p = strtoull(text, &end, 10); break;
    case BM_SETTING_FLOAT: *(float *)p = (float)strtod(text, &end); break;
    default: *(double *)p = strtod(text, &end); break;
  }
  return errno || end == text || *end ? -1 : 0;
}

static const bm_setting *find(const bm_settings *s, const char *key) {
  for (size_t k = 0; k < s->n; k++)
    if (!strcmp(s->table[k].key, key)) return &s->table[k];
  return NULL;
}

int bm_settings_parse(const bm_settings *s, const char *text, void *values, bm_error *err) {
  int line_no = 0;
  for (const char *line = text; *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    line_no++;
    char buf[2048];
    if (len >= sizeof buf) return bm_fail(err, "%s: line %d is too long", s->section, line_no);
    memcpy(buf, line, len);
    buf[len] = '\0';
    line = end ? end + 1 : line + len;
    if (!buf[0]) continue;
    char *eq = strchr(buf, '=');
    if (!eq) return bm_fail(err, "%s: line %d has no '='", s->section, line_no);
    *eq = '\0';
    const bm_setting *f = find(s, buf);
    if (!f) return bm_fail(err, "%s: unknown key '%s' (line %d)", s->section, buf, line_no);
    if (get_value(f, eq + 1, (char *)values + f->offset))
      return bm_fail(err, "%s: bad value '%s' for '%s' (line %d)", s->section, eq + 1, buf,
                     line_no);
  }
  return 0;
}

int bm_settings_save(const bm_settings *s, const void *values, bm_ckpt_writer *w) {
  bm_buf text;
  bm_buf_init(&text);
  bm_settings_text(s, values, &text);
  int rc = text.failed ? -1 : bm_ckpt_add_string(w, s->section, text.data ? text.data : "");
  bm_buf_free(&text);
  return rc;
}

int bm_settings_extra(void *user, bm_ckpt_writer *w) {
  const bm_settings_values *sv = user;
  return bm_settings_save(sv->settings, sv->values, w);
}

int bm_settings_load(const bm_settings *s, const char *ckpt_path, void *values, bm_error *err) {
  bm_ckpt_reader r;
  if (bm_ckpt_open(&r, ckpt_path, err)) return -1;
  char *text = NULL;
  int rc;
  if (!bm_ckpt_find(&r, s->section))
    rc = bm_fail(err, "%s: no '%s' section (not a run of this kind?)", ckpt_path, s->section);
  else if ((rc = bm_ckpt_read_string(&r, s->section, &text, err)) == 0 &&
           (rc = bm_settings_parse(s, text, values, err)) != 0)
    bm_fail_prefix(err, "%s", ckpt_path);
  bm_free(text);
  bm_ckpt_close(&r);
  return rc;
}

static int listed(const char *const *keys, const char *key) {
  for (int k = 0; keys && keys[k]; k++)
    if (!strcmp(keys[k], key)) return 1;
  return 0;
}

int bm_settings_resume(const bm_settings *s, const char *ckpt_path, void *values,
                       const char *const *given, bm_error *err) {
  for (int k = 0; given && given[k]; k++) {
    const bm_setting *f = find(s, given[k]);
    if (!f || f->on_resume != BM_SETTING_MAY_CHANGE)
      return bm_fail(err, "%s: '%s' may not change on resume", s->section, given[k]);
  }
  size_t size = 0;
  for (size_t k = 0; k < s->n; k++)
    if (s->table[k].offset + s->table[k].size > size) size = s->table[k].offset + s->table[k].size;
  char *saved = bm_malloc(size ? size : 1);
  if (!saved) return bm_fail(err, "out of memory");
  memcpy(saved, values, size);
  int rc = bm_settings_load(s, ckpt_path, saved, err);
  for (size_t k = 0; rc == 0 && k < s->n; k++) {
    const bm_setting *f = &s->table[k];
    if (!listed(given, f->key)) memcpy((char *)values + f->offset, saved + f->offset, f->size);
  }
  bm_free(saved);
  return rc;
}

int bm_settings_differ(const bm_settings *s, const void *run, const void *now,
                      const char *const *only, char *text, size_t size) {
  for (size_t k = 0; k < s->n; k++) {
    const bm_setting *f = &s->table[k];
    if (only ? !listed(only, f->key) : f->on_resume == BM_SETTING_MAY_CHANGE) continue;
    bm_buf ta, tb;
    bm_buf_init(&ta);
    bm_buf_init(&tb);
    put_value(f, (const char *)run + f->offset, &ta);
    put_value(f, (const char *)now + f->offset, &tb);
    int same = !ta.failed && !tb.failed && ta.len == tb.len && !memcmp(ta.data, tb.data, ta.len);
    if (!same && text && size > 0) {
      size_t key_len = strlen(f->key) + 1; /* "key=" */
      int la = ta.failed ? 0 : (int)(ta.len - key_len - 1), lb = tb.failed ? 0 : (int)(tb.len - key_len - 1);
      snprintf(text, size, "'%s' is %.*s in the run, %.*s now", f->key, la,
               ta.failed ? "" : ta.data + key_len, lb, tb.failed ? "" : tb.data + key_len);
    }
    bm_buf_free(&ta);
    bm_buf_free(&tb);
    if (!same) return 1;
  }
  return 0;
}
