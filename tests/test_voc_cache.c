/* The parsed-annotation cache: reused when nothing changed, entries re-parsed when an XML
 * file's size or mtime changes, deleted and new files noticed, and a corrupt, truncated or
 * foreign cache ignored with a warning and rebuilt. Results must be identical either way. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boxmine/bm_data.h"
#include "data/data_internal.h"
#include "testlib.h"

static char warnings[8192];
static void capture(void *user, const char *msg) {
  (void)user;
  size_t used = strlen(warnings);
  snprintf(warnings + used, sizeof warnings - used, "%s\n", msg);
}

static void write_text(const char *path, const char *text) {
  bm_error err;
  if (bm_write_file_atomic(path, text, strlen(text), &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    CHECK(0);
  }
}

static void write_ann(const char *dir, const char *id, const char *cls, int xmax) {
  char path[1024], text[1024];
  snprintf(path, sizeof path, "%s/%s.xml", dir, id);
  snprintf(text, sizeof text,
           "<annotation><filename>%s.png</filename><size><width>64</width><height>48</height>"
           "<depth>3</depth></size><object><name>%s</name><bndbox><xmin>2</xmin><ymin>3</ymin>"
           "<xmax>%d</xmax><ymax>40</ymax></bndbox></object></annotation>\n",
           id, cls, xmax);
  write_text(path, text);
}

static void write_image(const char *dir, const char *id) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.png", dir, id);
  bm_image img = {64, 48, 3, bm_calloc(64 * 48, 3)};
  bm_error err;
  CHECK(bm_image_save_png(path, &img, &err) == 0);
  bm_free(img.pixels);
}

typedef struct load_result {
  int rc, n_images, n_objects, n_from_cache;
  long n_warnings;
  float first_x2;
  char first_class[32];
} load_result;

static load_result load(const char *root, const char *cache_dir) {
  warnings[0] = '\0';
  bm_log log = {capture, NULL, 0};
  bm_error err = {{0}};
  bm_dataset ds;
  bm_dataset_opts opts = {.root = root, .cache_dir = cache_dir, .classes_file = NULL};
  load_result r = {0};
  r.rc = bm_dataset_load(&ds, &opts, &log, &err);
  if (r.rc != 0) fprintf(stderr, "load: %s\n", err.msg);
  r.n_images = ds.n_images;
  r.n_objects = ds.n_objects;
  r.n_from_cache = ds.n_from_cache;
  r.n_warnings = log.n_warnings;
  if (ds.n_objects > 0) {
    r.first_x2 = ds.objects[0].x2;
    snprintf(r.first_class, sizeof r.first_class, "%s", ds.class_names[ds.objects[0].class_id]);
  }
  bm_dataset_free(&ds);
  return r;
}

static void set_mtime(const char *path, long seconds) {
  struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  CHECK(utimensat(AT_FDCWD, path, times, 0) == 0);
}

static uint64_t read_le(const unsigned char *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

int main(void) {
  char tmp[256], root[512], cache_dir[512], xml_a[600];
  bm_test_tmpdir(tmp, sizeof tmp);
  snprintf(root, sizeof root, "%s/data", tmp);
  snprintf(cache_dir, sizeof cache_dir, "%s/cache/nested", tmp);
  bm_error err;
  CHECK(bm_mkdir_p(root, &err) == 0);
  const char *ids[3] = {"a", "b", "c"};
  for (int i = 0; i < 3; i++) {
    write_image(root, ids[i]);
    write_ann(root, ids[i], "cell", 10 + i);
  }
  snprintf(xml_a, sizeof xml_a, "%s/a.xml", root);

  /* first load parses and writes the cache; the second reads all three from it */
  load_result r = load(root, cache_dir);
  CHECK(r.rc == 0 && r.n_images == 3 && r.n_from_cache == 0 && r.n_warnings == 0);
  char *real_root = realpath(root, NULL);
  char *cache_path = bm_voc_cache_path(cache_dir, real_root);
  free(real_root);
  CHECK(bm_file_exists(cache_path));
  r = load(root, cache_dir);
  CHECK(r.rc == 0 && r.n_images == 3 && r.n_from_cache == 3 && r.first_x2 == 10);

  /* the header: magic, version 1, payload length, FNV-1a 64 of the payload */
  char *bytes;
  size_t len;
  CHECK(bm_read_file(cache_path, &bytes, &len, &err) == 0);
  const unsigned char *u = (const unsigned char *)bytes;
  CHECK(len > 32 && !memcmp(bytes, "BMVOCCA\n", 8) && read_le(u + 8, 4) == 1);
  CHECK(read_le(u + 16, 8) == len - 32);
  CHECK(read_le(u + 24, 8) == bm_fnv64(BM_FNV64_INIT, u + 32, len - 32));
  bm_free(bytes);

  /* an edited file (new size) is parsed again, the others still come from the cache */
  write_ann(root, "a", "cell", 20);
  r = load(root, cache_dir);
  CHECK(r.rc == 0 && r.n_from_cache == 2 && r.first_x2 == 20);
  /* same size, other mtime: parsed again */
  write_ann(root, "a", "germ", 20); /* "germ" and "cell" have the same length */
  set_mtime(xml_a, 1000000000);
  r = load(root, cache_dir);
  CHECK(r.rc == 0 && r.n_from_cache == 2 && !strcmp(r.first_class, "germ"));
  r = load(root, cache_dir);
  CHECK(r.n_from_cache == 3);

  /* a deleted file and a new file */
  char path[700];
  snprintf(path, sizeof path, "%s/c.xml", root);
  CHECK(remove(path) == 0);
  r = load(root, cache_dir);
  CHECK(r.rc == 0 && r.n_images == 2 && r.n_from_cache == 2);
  write_ann(root, "c", "cell", 30);
  r = load(root, cache_dir);
  CHECK(r.rc == 0 && r.n_images == 3 && r.n_from_cache == 2);

  /* corruption: a flipped payload byte, a truncated file, a wrong magic, a foreign folder */
  const char *kinds[4] = {"flip", "truncate", "magic", "foreign"};
  const char *reasons[4] = {"checksum mismatch", "truncated", "not a boxmine VOC cache",
                            "another annotation folder"};
  for (int k = 0; k < 4; k++) {
    r = load(root, cache_dir); /* a good cache to start from */
    CHECK(r.n_from_cache == 3);
    char *good;
    size_t good_len;
    CHECK(bm_read_file(cache_path, &good, &good_len, &err) == 0);
    if (k == 0) good[good_len / 2] ^= 0x40;
    if (k == 1) good_len -= 7;
    if (k == 2) good[0] = 'X';
    if (k == 3) {
      /* a valid cache of another folder placed under this folder's name */
      char other[600];
      snprintf(other, sizeof other, "%s/other", tmp);
      CHECK(bm_mkdir_p(other, &err) == 0);
      write_image(other, "q");
      write_ann(other, "q", "cell", 11);
      load_result o = load(other, cache_dir);
      CHECK(o.rc == 0);
      char *real_other = realpath(other, NULL);
      char *other_cache = bm_voc_cache_path(cache_dir, real_other);
      free(real_other);
      bm_free(good);
      CHECK(bm_read_file(other_cache, &good, &good_len, &err) == 0);
      bm_free(other_cache);
    }
    CHECK(bm_write_file_atomic(cache_path, good, good_len, &err) == 0);
    bm_free(good);
    r = load(root, cache_dir);
    CHECK_MSG(r.rc == 0 && r.n_images == 3 && r.n_from_cache == 0, "%s", kinds[k]);
    CHECK_MSG(r.n_warnings == 1 && strstr(warnings, reasons[k]) && strstr(warnings, "rebuilding"),
              "%s: %s", kinds[k], warnings);
    CHECK(r.first_x2 == 20 && !strcmp(r.first_class, "germ")); /* same results */
    r = load(root, cache_dir); /* rebuilt */
    CHECK_MSG(r.n_from_cache == 3 && r.n_warnings == 0, "%s", kinds[k]);
  }

  /* garbage inside a valid envelope: payload bytes changed and the checksum recomputed, so
   * the reader's own bounds checks are what stands between it and a crash */
  {
    char *good;
    size_t good_len;
    r = load(root, cache_dir);
    CHECK(bm_read_file(cache_path, &good, &good_len, &err) == 0);
    char *real = realpath(root, NULL);
    bm_rng rng;
    bm_rng_seed(&rng, 11, 3);
    int loaded = 0;
    for (int iter = 0; iter < 500; iter++) {
      char *mutated = bm_malloc(good_len);
      memcpy(mutated, good, good_len);
      size_t n = good_len;
      for (int f = 0; f < 3; f++)
        mutated[32 + bm_rng_below(&rng, (uint32_t)(good_len - 32))] = (char)bm_rng_u32(&rng);
      if (bm_rng_below(&rng, 3) == 0) n = 32 + bm_rng_below(&rng, (uint32_t)(good_len - 32));
      uint64_t payload = n - 32, sum = bm_fnv64(BM_FNV64_INIT, mutated + 32, payload);
      for (int i = 0; i < 8; i++) {
        mutated[16 + i] = (char)(payload >> (8 * i));
        mutated[24 + i] = (char)(sum >> (8 * i));
      }
      char fuzz_path[700];
      snprintf(fuzz_path, sizeof fuzz_path, "%s/fuzz.cache", tmp);
      CHECK(bm_write_file_atomic(fuzz_path, mutated, n, &err) == 0);
      bm_free(mutated);
      bm_voc_cache cache;
      bm_log quiet = {0};
      CHECK(bm_voc_cache_load(&cache, fuzz_path, real, &quiet, &err) == 0);
      loaded += cache.n_entries > 0;
      bm_voc_cache_free(&cache);
    }
    CHECK(loaded < 500); /* most mutations are caught */
    free(real);
    bm_free(good);
  }

  /* a cache folder that cannot be created: a warning, the load still works */
  char blocked[700];
  snprintf(blocked, sizeof blocked, "%s/blocker", tmp);
  write_text(blocked, "a file where the cache folder should be");
  r = load(root, blocked);
  CHECK(r.rc == 0 && r.n_images == 3 && r.n_warnings == 1 && strstr(warnings, "not saved"));

  /* no cache at all */
  r = load(root, NULL);
  CHECK(r.rc == 0 && r.n_images == 3 && r.n_from_cache == 0);
  bm_free(cache_path);
  return bm_test_finish("test_voc_cache");
}
