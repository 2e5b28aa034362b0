/* Darknet .cfg text: "[section]" headers followed by key=value lines. Like darknet, all
 * whitespace inside a line is removed ("anchors = 10,14,  23,27" reads as "10,14,23,27"),
 * lines starting with '#' or ';' are comments, and the first occurrence of a repeated key
 * wins (later ones are warned about). Which sections and keys exist is decided by the
 * network builder; this file only splits the text and converts values with line numbers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"

/* Copies line [begin, end) without whitespace into a new string. */
static char *strip_copy(const char *begin, const char *end) {
  char *out = bm_malloc((size_t)(end - begin) + 1);
  if (!out) return NULL;
  size_t n = 0;
  for (const char *p = begin; p < end; p++)
    if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\v' && *p != '\f') out[n++] = *p;
  out[n] = '\0';
  return out;
}

static int add_section(nn_cfg *cfg, char *name, int line) {
  nn_section *grown = bm_realloc(cfg->sections, (size_t)(cfg->n_sections + 1) * sizeof *grown);
  if (!grown) return -1;
  cfg->sections = grown;
  nn_section *s = &cfg->sections[cfg->n_sections++];
  memset(s, 0, sizeof *s);
  s->name = name;
  s->line = line;
  return 0;
}

static int add_kv(nn_section *s, char *key, char *value, int line) {
  nn_kv *grown = bm_realloc(s->kv, (size_t)(s->n_kv + 1) * sizeof *grown);
  if (!grown) return -1;
  s->kv = grown;
  s->kv[s->n_kv++] = (nn_kv){key, value, line, 0};
  return 0;
}

int nn_cfg_parse(nn_cfg *cfg, const char *text, const char *name, bm_log *log, bm_error *err) {
  memset(cfg, 0, sizeof *cfg);
  cfg->name = name;
  int line_no = 0;
  const char *p = text;
  while (*p) {
    const char *end = strchr(p, '\n');
    if (!end) end = p + strlen(p);
    line_no++;
    char *line = strip_copy(p, end);
    p = *end ? end + 1 : end;
    if (!line) goto oom;
    size_t len = strlen(line);
    if (len == 0 || line[0] == '#' || line[0] == ';') {
      bm_free(line);
      continue;
    }
    if (line[0] == '[') {
      if (line[len - 1] != ']' || len < 3) {
        bm_free(line);
        nn_cfg_free(cfg);
        return bm_fail(err, "%s: line %d: malformed section header", name, line_no);
      }
      line[len - 1] = '\0';
      memmove(line, line + 1, len - 1);
      if (add_section(cfg, line, line_no)) {
        bm_free(line);
        goto oom;
      }
      continue;
    }
    char *eq = strchr(line, '=');
    if (!eq || eq == line) {
      bm_free(line);
      nn_cfg_free(cfg);
      return bm_fail(err, "%s: line %d: expected key=value or [section]", name, line_no);
    }
    if (cfg->n_sections == 0) {
      bm_free(line);
      nn_cfg_free(cfg);
      return bm_fail(err, "%s: line %d: key=value before the first [section]", name, line_no);
    }
    *eq = '\0';
    nn_section *s = &cfg->sections[cfg->n_sections - 1];
    int duplicate = 0;
    for (int i = 0; i < s->n_kv; i++) duplicate |= !strcmp(s->kv[i].key, line);
    if (duplicate) {
      bm_warn(log, "%s: line %d: key '%s' repeated in [%s]; the first value is used", name,
              line_no, line, s->name);
      bm_free(line);
      continue;
    }
    char *key = line;
    char *value = bm_strdup(eq + 1);
    if (!value || add_kv(s, key, value, line_no)) {
      bm_free(key);
      bm_free(value);
      goto oom;
    }
  }
  return 0;
oom:
  nn_cfg_free(cfg);
  return bm_fail(err, "%s: out of memory while reading the cfg", name);
}

void nn_cfg_free(nn_cfg *cfg) {
  for (int i = 0; i < cfg->n_sections; i++) {
    nn_section *s = &cfg->sections[i];
    for (int j = 0; j < s->n_kv; j++) {
      bm_free(s->kv[j].key);
      bm_free(s->kv[j].value);
    }
    bm_free(s->kv);
    bm_free(s->name);
  }
  bm_free(cfg->sections);
  cfg->sections = NULL;
  cfg->n_sections = 0;
}

static nn_kv *find(nn_section *s, const char *key) {
  for (int i = 0; i < s->n_kv; i++)
    if (!strcmp(s->kv[i].key, key)) {
      s->kv[i].used = 1;
      return &s->kv[i];
    }
  return NULL;
}

const char *nn_cfg_str(nn_section *s, const char *key, int *line) {
  nn_kv *kv = find(s, key);
  if (line) *line = kv ? kv->line : s->line;
  return kv ? kv->value : NULL;
}

/* Strict conversions: the whole text must be a number. */
static int parse_long(const char *text, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (end == text || *end || errno) return -1;
  *out = v;
  return 0;
}

static int parse_float(const char *text, float *out) {
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || *end || errno || v != v) return -1;
  *out = (float)v;
  return 0;
}

int nn_cfg_int(const nn_cfg *cfg, nn_section *s, const char *key, int def, int lo, int hi,
               int *out, bm_error *err) {
  *out = def;
  nn_kv *kv = find(s, key);
  if (!kv) return 0;
  long v;
  if (parse_long(kv->value, &v))
    return bm_fail(err, "%s: line %d: %s: '%s' is not an integer", cfg->name, kv->line, key,
                   kv->value);
  if (v < lo || v > hi)
    return bm_fail(err, "%s: line %d: %s: %ld is outside [%d, %d]", cfg->name, kv->line, key, v,
                   lo, hi);
  *out = (int)v;
  return 0;
}

int nn_cfg_float(const nn_cfg *cfg, nn_section *s, const char *key, float def, float lo,
                 float hi, float *out, bm_error *err) {
  *out = def;
  nn_kv *kv = find(s, key);
  if (!kv) return 0;
  float v;
  if (parse_float(kv->value, &v))
    return bm_fail(err, "%s: line %d: %s: '%s' is not a number", cfg->name, kv->line, key,
                   kv->value);
  if (!(v >= lo && v <= hi))
    return bm_fail(err, "%s: line %d: %s: %g is outside [%g, %g]", cfg->name, kv->line, key, v,
                   lo, hi);
  *out = v;
  return 0;
}

/* Splits kv->value at commas and converts each piece with parse_one. */
static int parse_list(const nn_cfg *cfg, nn_kv *kv, const char *what, void *out, size_t elem,
                      int max, int *n, int (*parse_one)(const char *, void *), bm_error *err) {
  *n = 0;
  const char *p = kv->value;
  while (1) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    char piece[64];
    if (len == 0 && !comma && *n > 0) break; /* tolerate one trailing comma */
    if (len == 0 || len >= sizeof piece)
      return bm_fail(err, "%s: line %d: %s: empty or overlong entry in '%s'", cfg->name,
                     kv->line, kv->key, kv->value);
    if (*n >= max)
      return bm_fail(err, "%s: line %d: %s: more than %d %s", cfg->name, kv->line, kv->key,
                     max, what);
    memcpy(piece, p, len);
    piece[len] = '\0';
    if (parse_one(piece, (char *)out + (size_t)*n * elem))
      return bm_fail(err, "%s: line %d: %s: '%s' is not %s", cfg->name, kv->line, kv->key,
                     piece, what);
    (*n)++;
    if (!comma) break;
    p = comma + 1;
  }
  return 0;
}

static int parse_int_one(const char *text, void *out) {
  long v;
  if (parse_long(text, &v) || v < -1000000 || v > 1000000000) return -1;
  *(int *)out = (int)v;
  return 0;
}

static int parse_float_one(const char *text, void *out) { return parse_float(text, out); }

int nn_cfg_int_list(const nn_cfg *cfg, nn_section *s, const char *key, int *out, int max,
                    int *n, bm_error *err) {
  *n = 0;
  nn_kv *kv = find(s, key);
  if (!kv) return 0;
  return parse_list(cfg, kv, "integers", out, sizeof *out, max, n, parse_int_one, err);
}

int nn_cfg_float_list(const nn_cfg *cfg, nn_section *s, const char *key, float *out, int max,
                      int *n, bm_error *err) {
  *n = 0;
  nn_kv *kv = find(s, key);
  if (!kv) return 0;
  return parse_list(cfg, kv, "numbers", out, sizeof *out, max, n, parse_float_one, err);
}

void nn_cfg_warn_unused(const nn_cfg *cfg, const nn_section *s, bm_log *log) {
  for (int i = 0; i < s->n_kv; i++)
    if (!s->kv[i].used)
      bm_warn(log, "%s: line %d: unknown key '%s' in [%s] ignored", cfg->name, s->kv[i].line,
              s->kv[i].key, s->name);
}

int nn_parse_activation(const char *text, bm_activation *act) {
  static const struct {
    const char *name;
    bm_activation act;
  } names[] = {{"linear", BM_ACT_LINEAR},     {"leaky", BM_ACT_LEAKY}, {"relu", BM_ACT_RELU},
               {"logistic", BM_ACT_LOGISTIC}, {"mish", BM_ACT_MISH},   {"swish", BM_ACT_SWISH}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(text, names[i].name)) {
      *act = names[i].act;
      return 0;
    }
  return -1;
}

const char *bm_activation_name(bm_activation act) {
  switch (act) {
  case BM_ACT_LINEAR: return "linear";
  case BM_ACT_LEAKY: return "leaky";
  case BM_ACT_RELU: return "relu";
  case BM_ACT_LOGISTIC: return "logistic";
  case BM_ACT_MISH: return "mish";
  case BM_ACT_SWISH: return "swish";
  }
  return "?";
}
