/* Binary cache of parsed VOC annotation files.
 *
 * File layout (all integers little-endian):
 *   magic "BMVOCCA\n" (8 bytes), u32 version, u32 zero, u64 payload bytes, u64 FNV-1a 64 of
 *   the payload, then the payload:
 *   str annotation_folder, u32 n_entries, per entry:
 *     str xml_name, i64 size, i64 mtime_ns, str filename ("" = none), i32 width, height, depth,
 *     u32 n_objects, per object: str name, str pose, u8 truncated, u8 difficult,
 *     f32 xmin, ymin, xmax, ymax, i32 line
 *   where str is u32 length + bytes (no NUL).
 * An entry is trusted only while its XML file keeps the same size and mtime (nanoseconds), so
 * an edited, replaced or touched file is parsed again. Anything unreadable is ignored with a
 * warning and the cache is rebuilt from the XML files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

#define CACHE_MAGIC "BMVOCCA\n"
#define CACHE_VERSION 1u
#define HEADER_BYTES 32

/* ---- writing ------------------------------------------------------------------------- */
static void put_u32(bm_buf *buf, uint32_t v) {
  unsigned char b[4];
  for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
  bm_buf_append(buf, b, 4);
}

static void put_u64(bm_buf *buf, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
  bm_buf_append(buf, b, 8);
}

static void put_f32(bm_buf *buf, float v) {
  uint32_t bits;
  memcpy(&bits, &v, 4);
  put_u32(buf, bits);
}

static void put_str(bm_buf *buf, const char *s) {
  size_t n = s ? strlen(s) : 0;
  put_u32(buf, (uint32_t)n);
  bm_buf_append(buf, s ? s : "", n);
}

static void put_file(bm_buf *buf, const bm_voc_file *ann) {
  put_str(buf, ann->filename);
  put_u32(buf, (uint32_t)ann->width);
  put_u32(buf, (uint32_t)ann->height);
  put_u32(buf, (uint32_t)ann->depth);
  put_u32(buf, (uint32_t)ann->n_objects);
  for (int i = 0; i < ann->n_objects; i++) {
    const bm_voc_object_raw *obj = &ann->objects[i];
    put_str(buf, obj->name);
    put_str(buf, obj->pose);
    unsigned char flags[2] = {(unsigned char)obj->truncated, (unsigned char)obj->difficult};
    bm_buf_append(buf, flags, 2);
    put_f32(buf, obj->x1);
    put_f32(buf, obj->y1);
    put_f32(buf, obj->x2);
    put_f32(buf, obj->y2);
    put_u32(buf, (uint32_t)obj->line);
  }
}

int bm_voc_cache_save(const bm_voc_cache *cache, const char *path, const char *ann_dir,
                      bm_error *err) {
  bm_buf payload;
  bm_buf_init(&payload);
  put_str(&payload, ann_dir);
  put_u32(&payload, (uint32_t)cache->n_entries);
  for (int i = 0; i < cache->n_entries; i++) {
    const bm_voc_cache_entry *e = &cache->entries[i];
    put_str(&payload, e->xml_name);
    put_u64(&payload, (uint64_t)e->size);
    put_u64(&payload, (uint64_t)e->mtime_ns);
    put_file(&payload, &e->ann);
  }
  bm_buf file;
  bm_buf_init(&file);
  bm_buf_append(&file, CACHE_MAGIC, 8);
  put_u32(&file, CACHE_VERSION);
  put_u32(&file, 0);
  put_u64(&file, payload.len);
  put_u64(&file, bm_fnv64(BM_FNV64_INIT, payload.data ? payload.data : "", payload.len));
  bm_buf_append(&file, payload.data ? payload.data : "", payload.len);
  int status = 0;
  if (payload.failed || file.failed) status = bm_fail(err, "%s: out of memory", path);
  else {
    char *dir = bm_strdup(path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash && slash != dir) {
      *slash = '\0';
      status = bm_mkdir_p(dir, err);
    }
    bm_free(dir);
    if (status == 0) status = bm_write_file_atomic(path, file.data, file.len, err);
  }
  bm_buf_free(&payload);
  bm_buf_free(&file);
  return status;
}

/* ---- reading ------------------------------------------------------------------------- */
typedef struct reader {
  const unsigned char *p;
  size_t left;
  int bad; /* ran past the end or met an impossible value */
} reader;

static uint64_t get_uint(reader *r, int bytes) {
  if (r->bad || r->left < (size_t)bytes) {
    r->bad = 1;
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)r->p[i] << (8 * i);
  r->p += bytes;
  r->left -= (size_t)bytes;
  return v;
}

static float get_f32(reader *r) {
  uint32_t bits = (uint32_t)get_uint(r, 4);
  float v;
  memcpy(&v, &bits, 4);
  return v;
}

/* A new NUL-terminated string (bm_free), or NULL when bad or out of memory. */
static char *get_str(reader *r) {
  uint32_t n = (uint32_t)get_uint(r, 4);
  if (r->bad || r->left < n) {
    r->bad = 1;
    return NULL;
  }
  char *s = bm_malloc((size_t)n + 1);
  if (!s) {
    r->bad = 1;
    return NULL;
  }
  memcpy(s, r->p, n);
  s[n] = '\0';
  r->p += n;
  r->left -= n;
  return s;
}

static void get_file(reader *r, bm_voc_file *ann) {
  memset(ann, 0, sizeof *ann);
  ann->filename = get_str(r);
  if (ann->filename && !*ann->filename) {
    bm_free(ann->filename);
    ann->filename = NULL;
  }
  ann->width = (int)(int32_t)get_uint(r, 4);
  ann->height = (int)(int32_t)get_uint(r, 4);
  ann->depth = (int)(int32_t)get_uint(r, 4);
  uint32_t n = (uint32_t)get_uint(r, 4);
  /* each object takes at least 30 bytes: reject counts the remaining bytes cannot hold */
  if (r->bad || n > r->left / 30) {
    r->bad = 1;
    return;
  }
  if (n == 0) return;
  ann->objects = bm_calloc(n, sizeof *ann->objects);
  if (!ann->objects) {
    r->bad = 1;
    return;
  }
  for (uint32_t i = 0; i < n && !r->bad; i++) {
    bm_voc_object_raw *obj = &ann->objects[ann->n_objects++];
    obj->name = get_str(r);
    char *pose = get_str(r);
    if (pose) snprintf(obj->pose, sizeof obj->pose, "%s", pose);
    bm_free(pose);
    obj->truncated = (int)get_uint(r, 1);
    obj->difficult = (int)get_uint(r, 1);
    obj->x1 = get_f32(r);
    obj->y1 = get_f32(r);
    obj->x2 = get_f32(r);
    obj->y2 = get_f32(r);
    obj->line = (int)(int32_t)get_uint(r, 4);
    if (!obj->name) r->bad = 1;
  }
}

/* Parses a whole cache file image into cache; returns a reason when it cannot be used. */
static const char *read_cache(bm_voc_cache *cache, const unsigned char *data, size_t len,
                              const char *ann_dir) {
  if (len < HEADER_BYTES || memcmp(data, CACHE_MAGIC, 8) != 0) return "not a boxmine VOC cache";
  reader header = {data + 8, HEADER_BYTES - 8, 0};
  uint32_t version = (uint32_t)get_uint(&header, 4);
  get_uint(&header, 4);
  uint64_t payload_len = get_uint(&header, 8);
  uint64_t checksum = get_uint(&header, 8);
  if (version != CACHE_VERSION) return "written by another version";
  if (payload_len != len - HEADER_BYTES) return "truncated or padded";
  if (bm_fnv64(BM_FNV64_INIT, data + HEADER_BYTES, payload_len) != checksum)
    return "checksum mismatch";
  reader r = {data + HEADER_BYTES, payload_len, 0};
  char *folder = get_str(&r);
  int same_folder = folder && !strcmp(folder, ann_dir);
  bm_free(folder);
  if (!same_folder) return "made for another annotation folder";
  uint32_t n = (uint32_t)get_uint(&r, 4);
  for (uint32_t i = 0; i < n && !r.bad; i++) {
    char *name = get_str(&r);
    int64_t size = (int64_t)get_uint(&r, 8);
    int64_t mtime_ns = (int64_t)get_uint(&r, 8);
    bm_voc_file ann;
    get_file(&r, &ann);
    if (!r.bad && bm_voc_cache_store(cache, name, size, mtime_ns, &ann) != 0) r.bad = 1;
    bm_voc_file_free(&ann);
    bm_free(name);
  }
  if (r.bad || r.left != 0) return "inconsistent contents";
  return NULL;
}

int bm_voc_cache_load(bm_voc_cache *cache, const char *path, const char *ann_dir, bm_log *log,
                      bm_error *err) {
  memset(cache, 0, sizeof *cache);
  if (!bm_file_exists(path)) return 0;
  char *data;
  size_t len;
  bm_error read_err;
  if (bm_read_file(path, &data, &len, &read_err) != 0) {
    bm_warn(log, "ignoring annotation cache: %s", read_err.msg);
    return 0;
  }
  const char *problem = read_cache(cache, (const unsigned char *)data, len, ann_dir);
  bm_free(data);
  if (problem) {
    bm_warn(log, "%s: ignoring annotation cache (%s); rebuilding it from the XML files", path,
            problem);
    bm_voc_cache_free(cache);
    cache->changed = 1;
  } else {
    cache->changed = 0;
  }
  (void)err;
  return 0;
}

/* ---- entries ------------------------------------------------------------------------- */
const bm_voc_file *bm_voc_cache_lookup(const bm_voc_cache *cache, const char *xml_name,
                                       int64_t size, int64_t mtime_ns) {
  int i = bm_strmap_get(&cache->by_name, xml_name);
  if (i < 0) return NULL;
  const bm_voc_cache_entry *e = &cache->entries[i];
  return e->size == size && e->mtime_ns == mtime_ns ? &e->ann : NULL;
}

int bm_voc_cache_store(bm_voc_cache *cache, const char *xml_name, int64_t size,
                       int64_t mtime_ns, bm_voc_file *ann) {
  int i = bm_strmap_get(&cache->by_name, xml_name);
  if (i < 0) {
    if (cache->n_entries == cache->cap) {
      int cap = cache->cap ? cache->cap * 2 : 256;
      bm_voc_cache_entry *grown = bm_realloc(cache->entries, (size_t)cap * sizeof *grown);
      if (!grown) return -1;
      cache->entries = grown;
      cache->cap = cap;
    }
    i = cache->n_entries;
    bm_voc_cache_entry *e = &cache->entries[i];
    memset(e, 0, sizeof *e);
    e->xml_name = bm_strdup(xml_name);
    if (!e->xml_name || bm_strmap_put(&cache->by_name, xml_name, i) != 0) {
      bm_free(e->xml_name);
      return -1;
    }
    cache->n_entries++;
  }
  bm_voc_cache_entry *e = &cache->entries[i];
  bm_voc_file_free(&e->ann);
  e->ann = *ann;
  memset(ann, 0, sizeof *ann);
  e->size = size;
  e->mtime_ns = mtime_ns;
  cache->changed = 1;
  return 0;
}

void bm_voc_cache_retain(bm_voc_cache *cache, const bm_strmap *keep) {
  int kept = 0;
  for (int i = 0; i < cache->n_entries; i++) {
    bm_voc_cache_entry *e = &cache->entries[i];
    if (bm_strmap_get(keep, e->xml_name) >= 0) {
      cache->entries[kept++] = *e;
    } else {
      bm_free(e->xml_name);
      bm_voc_file_free(&e->ann);
    }
  }
  if (kept == cache->n_entries) return;
  cache->n_entries = kept;
  cache->changed = 1;
  bm_strmap_free(&cache->by_name);
  for (int i = 0; i < kept; i++) bm_strmap_put(&cache->by_name, cache->entries[i].xml_name, i);
}

void bm_voc_cache_free(bm_voc_cache *cache) {
  for (int i = 0; i < cache->n_entries; i++) {
    bm_free(cache->entries[i].xml_name);
    bm_voc_file_free(&cache->entries[i].ann);
  }
  bm_free(cache->entries);
  bm_strmap_free(&cache->by_name);
  memset(cache, 0, sizeof *cache);
}

char *bm_voc_cache_path(const char *cache_dir, const char *ann_dir) {
  char name[64];
  snprintf(name, sizeof name, "voc-%016llx.cache",
           (unsigned long long)bm_fnv64(BM_FNV64_INIT, ann_dir, strlen(ann_dir)));
  return bm_path_join(cache_dir, name);
}
