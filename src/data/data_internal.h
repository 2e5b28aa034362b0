/* Private pieces of the data layer shared by voc.c, voc_cache.c, dataset.c and convert.c.
 * Not installed; tests include it to reach the parser and the cache directly. */
#ifndef BM_DATA_INTERNAL_H
#define BM_DATA_INTERNAL_H

#include <stdint.h>

#include "boxmine/bm_data.h"

/* One <object> exactly as the XML file says it, before class look-up and clipping. */
typedef struct bm_voc_object_raw {
  char *name;     /* trimmed text of <name> */
  char pose[24];  /* truncated to fit; "" when absent */
  int truncated;  /* 0/1; empty or absent tag = 0 */
  int difficult;  /* 0/1; empty or absent tag = 0 */
  float x1, y1, x2, y2;
  int line;       /* line of the <object> element, for messages */
} bm_voc_object_raw;

/* One annotation file as written. */
typedef struct bm_voc_file {
  char *filename;            /* <filename> text, or NULL when absent/empty */
  int width, height, depth;  /* 0 when absent or empty */
  int n_objects;
  bm_voc_object_raw *objects;
} bm_voc_file;

/* Parses a VOC annotation. Errors name path and the line (libxml2's for malformed XML, the
 * element's for bad fields). */
int bm_voc_parse_file(const char *path, bm_voc_file *out, bm_error *err);
int bm_voc_parse_memory(const char *path, const char *data, size_t len, bm_voc_file *out,
                        bm_error *err);
void bm_voc_file_free(bm_voc_file *file);

/* ---- cache of parsed annotation files (voc_cache.c) ---------------------------------- */
/* One XML file: its name inside the annotation folder, the size and modification time it
 * had when parsed, and what it said. */
typedef struct bm_voc_cache_entry {
  char *xml_name;
  int64_t size;
  int64_t mtime_ns;
  bm_voc_file ann;
} bm_voc_cache_entry;

typedef struct bm_voc_cache {
  int n_entries;
  int cap;
  bm_voc_cache_entry *entries;
  bm_strmap by_name; /* xml_name -> index into entries */
  int changed;       /* entries added, replaced or removed since loading */
} bm_voc_cache;

/* Path of the cache file for an annotation folder inside cache_dir (bm_free). */
char *bm_voc_cache_path(const char *cache_dir, const char *ann_dir);
/* Loads the cache at path. A missing file gives an empty cache; a corrupt or foreign one
 * (bad magic, version, checksum, truncation, other folder) gives an empty cache and a warning.
 * Fails only when out of memory. */
int bm_voc_cache_load(bm_voc_cache *cache, const char *path, const char *ann_dir, bm_log *log,
                      bm_error *err);
/* Writes the cache atomically (creating cache_dir's folders). */
int bm_voc_cache_save(const bm_voc_cache *cache, const char *path, const char *ann_dir,
                      bm_error *err);
/* The entry for xml_name when its size and mtime still match, else NULL. */
const bm_voc_file *bm_voc_cache_lookup(const bm_voc_cache *cache, const char *xml_name,
                                       int64_t size, int64_t mtime_ns);
/* Stores a parsed file (takes ownership of *ann's contents, leaving it empty). */
int bm_voc_cache_store(bm_voc_cache *cache, const char *xml_name, int64_t size,
                       int64_t mtime_ns, bm_voc_file *ann);
/* Drops entries whose names are not in keep (used after listing the whole folder). */
void bm_voc_cache_retain(bm_voc_cache *cache, const bm_strmap *keep);
void bm_voc_cache_free(bm_voc_cache *cache);

/* ---- class lists (dataset_classes.c) ----------------------------------------------- */
void bm_free_names(char **names, int n_names);
int bm_write_class_list(const char *path, char *const *names, int n_names, bm_error *err);
/* 1 when names are exactly the 20 VOC classes in the devkit's order. */
int bm_names_are_voc(char *const *names, int n_names);
/* From the distinct names found in the annotation folder: the 20 VOC classes when every name
 * is a VOC class and (root_folder is named VOC<digits> or at least 15 VOC classes occur),
 * otherwise the names sorted by strcmp. */
int bm_infer_class_list(char *const *found, int n_found, const char *root_folder,
                        char ***names_out, int *n_out, int *is_voc, bm_error *err);

/* ---- converting (convert.c) ----------------------------------------------------------- */
/* Name of an image in a converted dataset: its id with the source file's extension
 * (bm_free; NULL when out of memory). */
char *bm_convert_image_name(const bm_image_info *img);

#endif
