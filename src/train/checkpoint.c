/* Checkpoint container: named, typed sections in one file with a trailing checksum.
 *
 *   header   "BMCK" | u32 version | u64 file size | u32 section count | u32 reserved (0)
 *   section  u16 name length | name | u32 type | u64 payload bytes | payload     (repeated)
 *   trailer  u64 FNV-1a 64 of every byte before it
 *
 * All integers little-endian; payloads are host floats/ints copied as they are, which is why
 * the file is only built on little-endian machines (checked at compile time). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_train.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint payloads are stored little-endian; add byte swapping for this machine"
#endif

#define HEADER_SIZE 24
#define TRAILER_SIZE 8

static void put_u16(unsigned char *out, uint16_t v) {
  out[0] = (unsigned char)v;
  out[1] = (unsigned char)(v >> 8);
}
static void put_u32(unsigned char *out, uint32_t v) {
  for (int i = 0; i < 4; i++) out[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *out, uint64_t v) {
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)(v >> (8 * i));
}
static uint16_t get_u16(const unsigned char *in) {
  return (uint16_t)(in[0] | (in[1] << 8));
}
static uint32_t get_u32(const unsigned char *in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)in[i] << (8 * i);
  return v;
}
static uint64_t get_u64(const unsigned char *in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)in[i] << (8 * i);
  return v;
}

static const char *type_name(int type) {
  switch (type) {
  case BM_CKPT_F32: return "float32";
  case BM_CKPT_F64: return "float64";
  case BM_CKPT_I64: return "int64";
  case BM_CKPT_BYTES: return "bytes";
  }
  return "unknown";
}

static size_t type_width(int type) {
  switch (type) {
  case BM_CKPT_F32: return 4;
  case BM_CKPT_F64: return 8;
  case BM_CKPT_I64: return 8;
  case BM_CKPT_BYTES: return 1;
  }
  return 0;
}

/* ---- writer --------------------------------------------------------------------------- */
void bm_ckpt_writer_init(bm_ckpt_writer *w) {
  memset(w, 0, sizeof *w);
  bm_buf_init(&w->data);
  unsigned char header[HEADER_SIZE] = {0}; /* filled in by bm_ckpt_save */
  bm_buf_append(&w->data, header, sizeof header);
}

void bm_ckpt_writer_free(bm_ckpt_writer *w) {
  for (int i = 0; i < w->n_sections; i++) bm_free(w->names[i]);
  bm_free(w->names);
  bm_buf_free(&w->data);
  memset(w, 0, sizeof *w);
}

static int writer_fail(bm_ckpt_writer *w, const char *name, const char *what) {
  if (!w->failed) bm_fail(&w->error, "checkpoint section '%s': %s", name, what);
  w->failed = 1;
  return -1;
}

static int add_section(bm_ckpt_writer *w, const char *name, int type, const void *payload,
                       size_t size) {
  if (w->failed) return -1;
  size_t name_len = strlen(name);
  if (name_len == 0 || name_len > BM_CKPT_MAX_NAME)
    return writer_fail(w, name, "a name must have 1 to 255 bytes");
  for (int i = 0; i < w->n_sections; i++)
    if (strcmp(w->names[i], name) == 0)
      return writer_fail(w, name, "added twice");
  char **names = bm_realloc(w->names, (size_t)(w->n_sections + 1) * sizeof *names);
  if (!names) return writer_fail(w, name, "out of memory");
  w->names = names;
  if (!(w->names[w->n_sections] = bm_strdup(name)))
    return writer_fail(w, name, "out of memory");
  w->n_sections++;
  unsigned char head[2 + BM_CKPT_MAX_NAME + 4 + 8];
  put_u16(head, (uint16_t)name_len);
  memcpy(head + 2, name, name_len);
  put_u32(head + 2 + name_len, (uint32_t)type);
  put_u64(head + 6 + name_len, (uint64_t)size);
  bm_buf_append(&w->data, head, 14 + name_len);
  if (size > 0) bm_buf_append(&w->data, payload, size);
  if (w->data.failed) return writer_fail(w, name, "out of memory");
  return 0;
}

int bm_ckpt_add_f32(bm_ckpt_writer *w, const char *name, const float *values, size_t count) {
  return add_section(w, name, BM_CKPT_F32, values, count * sizeof(float));
}
int bm_ckpt_add_f64(bm_ckpt_writer *w, const char *name, const double *values, size_t count) {
  return add_section(w, name, BM_CKPT_F64, values, count * sizeof(double));
}
int bm_ckpt_add_i64(bm_ckpt_writer *w, const char *name, const int64_t *values, size_t count) {
  return add_section(w, name, BM_CKPT_I64, values, count * sizeof(int64_t));
}
int bm_ckpt_add_bytes(bm_ckpt_writer *w, const char *name, const void *data, size_t len) {
  return add_section(w, name, BM_CKPT_BYTES, data, len);
}
int bm_ckpt_add_string(bm_ckpt_writer *w, const char *name, const char *text) {
  return add_section(w, name, BM_CKPT_BYTES, text, strlen(text));
}

int bm_ckpt_save(bm_ckpt_writer *w, const char *path, bm_error *err) {
  if (w->failed) return bm_fail(err, "%s: not written: %s", path, w->error.msg);
  if (w->data.failed || w->data.len < HEADER_SIZE) return bm_fail(err, "%s: out of memory", path);
  unsigned char trailer[TRAILER_SIZE] = {0};
  size_t file_size = w->data.len + TRAILER_SIZE;
  unsigned char *header = (unsigned char *)w->data.data;
  memcpy(header, "BMCK", 4);
  put_u32(header + 4, BM_CKPT_VERSION);
  put_u64(header + 8, (uint64_t)file_size);
  put_u32(header + 16, (uint32_t)w->n_sections);
  put_u32(header + 20, 0);
  put_u64(trailer, bm_fnv64(BM_FNV64_INIT, w->data.data, w->data.len));
  bm_buf_append(&w->data, trailer, sizeof trailer);
  if (w->data.failed) return bm_fail(err, "%s: out of memory", path);
  int status = bm_write_file_atomic(path, w->data.data, w->data.len, err);
  w->data.len -= TRAILER_SIZE; /* the writer stays usable: more sections, another save */
  return status;
}

/* ---- reader --------------------------------------------------------------------------- */
void bm_ckpt_close(bm_ckpt_reader *r) {
  for (int i = 0; i < r->n_sections; i++) bm_free(r->sections[i].name);
  bm_free(r->sections);
  bm_free(r->file);
  bm_free(r->path);
  memset(r, 0, sizeof *r);
}

/* Header and checksum, before anything inside is trusted. */
static int check_envelope(const char *path, const unsigned char *file, size_t len,
                          bm_error *err) {
  if (len == 0) return bm_fail(err, "%s: empty file, not a boxmine checkpoint", path);
  if (len < 4 || memcmp(file, "BMCK", 4) != 0) {
    char shown[20] = "";
    size_t used = 0;
    for (size_t i = 0; i < 4 && i < len; i++)
      used += (size_t)snprintf(shown + used, sizeof shown - used,
                               isprint(file[i]) ? "%c" : "\\x%02x", file[i]);
    return bm_fail(err, "%s: not a boxmine checkpoint (starts with \"%s\", expected \"BMCK\")",
                   path, shown);
  }
  if (len < HEADER_SIZE + TRAILER_SIZE)
    return bm_fail(err, "%s: truncated: %zu bytes, shorter than a checkpoint header", path, len);
  uint32_t version = get_u32(file + 4);
  if (version != BM_CKPT_VERSION)
    return bm_fail(err, "%s: checkpoint format version %u, this build reads version %d", path,
                   version, BM_CKPT_VERSION);
  uint64_t declared = get_u64(file + 8);
  if (declared != len)
    return bm_fail(err, "%s: %s: the header says %llu bytes, the file has %zu", path,
                   declared > len ? "truncated" : "size mismatch",
                   (unsigned long long)declared, len);
  uint64_t stored = get_u64(file + len - TRAILER_SIZE);
  uint64_t computed = bm_fnv64(BM_FNV64_INIT, file, len - TRAILER_SIZE);
  if (stored != computed)
    return bm_fail(err, "%s: checksum mismatch (stored %016llx, computed %016llx): the file is "
                   "corrupt", path, (unsigned long long)stored, (unsigned long long)computed);
  return 0;
}

static int parse_sections(bm_ckpt_reader *r, bm_error *err) {
  const unsigned char *file = (const unsigned char *)r->file;
  size_t end = r->file_len - TRAILER_SIZE, pos = HEADER_SIZE;
  uint32_t n = get_u32(file + 16);
  if (n > (end - pos) / 14)
    return bm_fail(err, "%s: header claims %u sections, too many for the file size", r->path, n);
  r->sections = bm_calloc(n + 1, sizeof *r->sections);
  if (!r->sections) return bm_fail(err, "%s: out of memory", r->path);
  for (uint32_t i = 0; i < n; i++) {
    if (end - pos < 14) return bm_fail(err, "%s: section %u runs past the end", r->path, i + 1);
    size_t name_len = get_u16(file + pos);
    if (name_len == 0 || name_len > BM_CKPT_MAX_NAME || end - pos - 14 < name_len)
      return bm_fail(err, "%s: section %u has a bad name length %zu", r->path, i + 1, name_len);
    bm_ckpt_section *s = &r->sections[i];
    if (!(s->name = bm_malloc(name_len + 1))) return bm_fail(err, "%s: out of memory", r->path);
    r->n_sections = (int)i + 1;
    memcpy(s->name, file + pos + 2, name_len);
    s->name[name_len] = '\0';
    pos += 2 + name_len;
    uint32_t type = get_u32(file + pos);
    uint64_t size = get_u64(file + pos + 4);
    pos += 12;
    if (type_width((int)type) == 0)
      return bm_fail(err, "%s: section '%s' has unknown type %u", r->path, s->name, type);
    if (size > end - pos)
      return bm_fail(err, "%s: section '%s' (%llu bytes) runs past the end", r->path, s->name,
                     (unsigned long long)size);
    if (size % type_width((int)type) != 0)
      return bm_fail(err, "%s: section '%s' has %llu bytes, not a whole number of %s values",
                     r->path, s->name, (unsigned long long)size, type_name((int)type));
    s->type = (bm_ckpt_type)type;
    s->size = (size_t)size;
    s->data = file + pos;
    pos += (size_t)size;
  }
  if (pos != end)
    return bm_fail(err, "%s: %zu unexplained bytes after the last section", r->path, end - pos);
  return 0;
}

int bm_ckpt_open(bm_ckpt_reader *r, const char *path, bm_error *err) {
  memset(r, 0, sizeof *r);
  if (!(r->path = bm_strdup(path))) return bm_fail(err, "%s: out of memory", path);
  if (bm_read_file(path, &r->file, &r->file_len, err) != 0 ||
      check_envelope(path, (const unsigned char *)r->file, r->file_len, err) != 0 ||
      parse_sections(r, err) != 0) {
    bm_ckpt_close(r);
    return -1;
  }
  return 0;
}

const bm_ckpt_section *bm_ckpt_find(const bm_ckpt_reader *r, const char *name) {
  for (int i = 0; i < r->n_sections; i++)
    if (strcmp(r->sections[i].name, name) == 0) return &r->sections[i];
  return NULL;
}

/* The section, checked for presence and type. */
static const bm_ckpt_section *find_typed(const bm_ckpt_reader *r, const char *name, int type,
                                         bm_error *err) {
  const bm_ckpt_section *s = bm_ckpt_find(r, name);
  if (!s) {
    bm_fail(err, "%s: no section '%s' in this checkpoint", r->path, name);
    return NULL;
  }
  if ((int)s->type != type) {
    bm_fail(err, "%s: section '%s' holds %s values, expected %s", r->path, name,
            type_name(s->type), type_name(type));
    return NULL;
  }
  return s;
}

int bm_ckpt_count(const bm_ckpt_reader *r, const char *name, bm_ckpt_type type, size_t *count,
                  bm_error *err) {
  const bm_ckpt_section *s = find_typed(r, name, type, err);
  if (!s) return -1;
  *count = s->size / type_width(type);
  return 0;
}

static int read_values(const bm_ckpt_reader *r, const char *name, int type, void *out,
                       size_t count, bm_error *err) {
  const bm_ckpt_section *s = find_typed(r, name, type, err);
  if (!s) return -1;
  size_t have = s->size / type_width(type);
  if (have != count)
    return bm_fail(err, "%s: section '%s' holds %zu %s values, expected %zu", r->path, name, have,
                   type_name(type), count);
  if (s->size) memcpy(out, s->data, s->size);
  return 0;
}

/* float32 sections hold weights, statistics and optimiser moments: a NaN or infinity there
 * is never a state worth resuming (it would train NaN or detect nothing), so it is refused
 * here, for every reader, with the section and the position of the first bad value. */
int bm_ckpt_read_f32(const bm_ckpt_reader *r, const char *name, float *out, size_t count,
                     bm_error *err) {
  if (read_values(r, name, BM_CKPT_F32, out, count, err)) return -1;
  for (size_t k = 0; k < count; k++)
    if (!isfinite(out[k]))
      return bm_fail(err, "%s: section '%s': value %zu of %zu is %g, not a finite number",
                     r->path, name, k, count, (double)out[k]);
  return 0;
}
int bm_ckpt_read_f64(const bm_ckpt_reader *r, const char *name, double *out, size_t count,
                     bm_error *err) {
  return read_values(r, name, BM_CKPT_F64, out, count, err);
}
int bm_ckpt_read_i64(const bm_ckpt_reader *r, const char *name, int64_t *out, size_t count,
                     bm_error *err) {
  return read_values(r, name, BM_CKPT_I64, out, count, err);
}

int bm_ckpt_read_bytes(const bm_ckpt_reader *r, const char *name, const void **data, size_t *len,
                       bm_error *err) {
  const bm_ckpt_section *s = find_typed(r, name, BM_CKPT_BYTES, err);
  if (!s) return -1;
  *data = s->data;
  *len = s->size;
  return 0;
}

int bm_ckpt_read_string(const bm_ckpt_reader *r, const char *name, char **text, bm_error *err) {
  *text = NULL;
  const bm_ckpt_section *s = find_typed(r, name, BM_CKPT_BYTES, err);
  if (!s) return -1;
  if (s->size && memchr(s->data, '\0', s->size))
    return bm_fail(err, "%s: section '%s' is not text (contains a NUL byte)", r->path, name);
  if (!(*text = bm_malloc(s->size + 1))) return bm_fail(err, "%s: out of memory", r->path);
  if (s->size) memcpy(*text, s->data, s->size);
  (*text)[s->size] = '\0';
  return 0;
}
