/* Loading a dataset: where the files are (layouts, splits), which annotation files to parse
 * (through the cache), which class list applies, and the checks that turn raw annotations
 * into bm_dataset images and objects. The rules are written down in docs/DATA.md. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/data_internal.h"

/* ---- folder listings ------------------------------------------------------------------- */
typedef struct name_list {
  int n;
  char **names; /* sorted by strcmp */
} name_list;

static const char *const image_extensions[] = {".jpg", ".jpeg", ".png"};
#define N_IMAGE_EXTENSIONS 3

/* Rank of a supported image extension (lower is preferred), or -1. */
static int image_extension_rank(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot || dot == name) return -1;
  for (int i = 0; i < N_IMAGE_EXTENSIONS; i++)
    if (!strcasecmp(dot, image_extensions[i])) return i;
  return -1;
}

static int is_xml_name(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && dot != name && !strcasecmp(dot, ".xml");
}

static int is_image_name(const char *name) { return image_extension_rank(name) >= 0; }

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_name_list(name_list *list) {
  bm_free_names(list->names, list->n);
  memset(list, 0, sizeof *list);
}

static int list_folder(const char *dir, int (*wanted)(const char *), name_list *out,
                       bm_error *err) {
  memset(out, 0, sizeof *out);
  DIR *d = opendir(dir);
  if (!d) return bm_fail(err, "%s: cannot open folder: %s", dir, strerror(errno));
  int cap = 0, status = 0;
  struct dirent *entry;
  while ((entry = readdir(d)) != NULL) {
    if (entry->d_name[0] == '.' || !wanted(entry->d_name)) continue;
    if (out->n == cap) {
      cap = cap ? cap * 2 : 256;
      char **grown = bm_realloc(out->names, (size_t)cap * sizeof *grown);
      if (!grown) {
        status = bm_fail(err, "%s: out of memory", dir);
        break;
      }
      out->names = grown;
    }
    out->names[out->n] = bm_strdup(entry->d_name);
    if (!out->names[out->n]) {
      status = bm_fail(err, "%s: out of memory", dir);
      break;
    }
    out->n++;
  }
  closedir(d);
  if (status != 0) {
    free_name_list(out);
    return -1;
  }
  if (out->n > 1) qsort(out->names, (size_t)out->n, sizeof *out->names, compare_strings);
  return 0;
}

/* Copy of name without its last extension (bm_free). */
static char *stem_of(const char *name) {
  const char *dot = strrchr(name, '.');
  size_t n = dot && dot != name ? (size_t)(dot - name) : strlen(name);
  char *stem = bm_malloc(n + 1);
  if (stem) {
    memcpy(stem, name, n);
    stem[n] = '\0';
  }
  return stem;
}

/* Image files of a folder, findable by exact name or by stem (preferring .jpg over .jpeg
 * over .png, then the first name in strcmp order). */
typedef struct image_folder {
  name_list files;
  bm_strmap by_name;
  bm_strmap by_stem;
} image_folder;

static void free_image_folder(image_folder *folder) {
  free_name_list(&folder->files);
  bm_strmap_free(&folder->by_name);
  bm_strmap_free(&folder->by_stem);
}

static int load_image_folder(const char *dir, image_folder *folder, bm_error *err) {
  memset(folder, 0, sizeof *folder);
  if (list_folder(dir, is_image_name, &folder->files, err) != 0) return -1;
  for (int i = 0; i < folder->files.n; i++) {
    const char *name = folder->files.names[i];
    char *stem = stem_of(name);
    if (!stem || bm_strmap_put(&folder->by_name, name, i) != 0) {
      bm_free(stem);
      free_image_folder(folder);
      return bm_fail(err, "%s: out of memory", dir);
    }
    int previous = bm_strmap_get(&folder->by_stem, stem);
    int better = previous < 0 || image_extension_rank(name) <
                                     image_extension_rank(folder->files.names[previous]);
    int status = better ? bm_strmap_put(&folder->by_stem, stem, i) : 0;
    bm_free(stem);
    if (status != 0) {
      free_image_folder(folder);
      return bm_fail(err, "%s: out of memory", dir);
    }
  }
  return 0;
}

/* Index of the image for an annotation: the XML's <filename> (its last path component)
 * exactly, then that name's stem with any supported extension, then the annotation's id. */
static int find_image(const image_folder *folder, const char *filename, const char *id) {
  if (filename) {
    const char *base = filename;
    for (const char *p = filename; *p; p++)
      if (*p == '/' || *p == '\\') base = p + 1;
    int i = bm_strmap_get(&folder->by_name, base);
    if (i >= 0) return i;
    char *stem = stem_of(base);
    i = stem ? bm_strmap_get(&folder->by_stem, stem) : -1;
    bm_free(stem);
    if (i >= 0) return i;
  }
  return bm_strmap_get(&folder->by_stem, id);
}

/* realpath() copied into bm_malloc'd memory (all our strings are released with bm_free). */
static char *real_path(const char *path) {
  char *resolved = realpath(path, NULL);
  char *copy = bm_strdup(resolved);
  free(resolved);
  return copy;
}

/* ---- layout ---------------------------------------------------------------------------- */
typedef struct layout {
  char *ann_dir;
  char *img_dir;
  char *ann_dir_real; /* canonical path: the cache's key */
  char *split_path;   /* NULL without a split */
  char *voc_folder;   /* folder whose name the VOC class rule looks at */
} layout;

static void free_layout(layout *lay) {
  bm_free(lay->ann_dir);
  bm_free(lay->img_dir);
  bm_free(lay->ann_dir_real);
  bm_free(lay->split_path);
  bm_free(lay->voc_folder);
  memset(lay, 0, sizeof *lay);
}

static int resolve_layout(const bm_dataset_opts *opts, layout *lay, bm_error *err) {
  memset(lay, 0, sizeof *lay);
  if (!!opts->images_dir != !!opts->annotations_dir)
    return bm_fail(err, "an explicit layout needs both an image folder and an annotation folder");
  if (opts->images_dir) {
    lay->ann_dir = bm_strdup(opts->annotations_dir);
    lay->img_dir = bm_strdup(opts->images_dir);
  } else if (opts->root) {
    if (!bm_is_dir(opts->root)) return bm_fail(err, "%s: not a folder", opts->root);
    char *ann = bm_path_join(opts->root, "Annotations");
    if (ann && bm_is_dir(ann)) { /* PASCAL VOC layout */
      lay->ann_dir = ann;
      lay->img_dir = bm_path_join(opts->root, "JPEGImages");
    } else { /* images and XML files side by side */
      bm_free(ann);
      lay->ann_dir = bm_strdup(opts->root);
      lay->img_dir = bm_strdup(opts->root);
    }
  } else {
    return bm_fail(err, "no dataset folder given");
  }
  if (!lay->ann_dir || !lay->img_dir) return bm_fail(err, "out of memory");
  if (!bm_is_dir(lay->ann_dir)) return bm_fail(err, "%s: annotation folder not found", lay->ann_dir);
  if (!bm_is_dir(lay->img_dir)) return bm_fail(err, "%s: image folder not found", lay->img_dir);
  lay->ann_dir_real = real_path(lay->ann_dir);
  if (!lay->ann_dir_real) return bm_fail(err, "%s: %s", lay->ann_dir, strerror(errno));
  /* The VOC naming rule looks at the root, or without one at the annotation folder's parent. */
  if (opts->root) {
    lay->voc_folder = real_path(opts->root);
  } else {
    lay->voc_folder = bm_strdup(lay->ann_dir_real);
    char *slash = lay->voc_folder ? strrchr(lay->voc_folder, '/') : NULL;
    if (slash && slash != lay->voc_folder) *slash = '\0';
  }
  if (!lay->voc_folder) return bm_fail(err, "out of memory");
  if (opts->split) {
    /* a path to a list file, or a split name under ROOT/ImageSets/Main */
    size_t n = strlen(opts->split);
    int looks_like_path = strchr(opts->split, '/') || (n > 4 && !strcmp(opts->split + n - 4, ".txt"));
    if (looks_like_path) {
      lay->split_path = bm_strdup(opts->split);
    } else if (opts->root) {
      char *sets = bm_path_join(opts->root, BM_VOC_SETS_DIR);
      char file[512];
      snprintf(file, sizeof file, "%s.txt", opts->split);
      lay->split_path = sets ? bm_path_join(sets, file) : NULL;
      bm_free(sets);
    } else {
      return bm_fail(err, "split '%s': a split name needs the dataset root (with "
                     "ImageSets/Main); give the list file's path instead", opts->split);
    }
    if (!lay->split_path) return bm_fail(err, "out of memory");
    struct stat st; /* a special file is refused when read, with what it is */
    if (stat(lay->split_path, &st) != 0)
      return bm_fail(err, "%s: split list not found", lay->split_path);
  }
  return 0;
}

/* ---- which images to load -------------------------------------------------------------- */
typedef struct item {
  char *id;
  int xml;  /* index into the XML listing, or -1 for an image without annotation */
  int line; /* line in the split list, 0 without a split */
} item;

typedef struct item_list {
  int n, cap;
  item *items;
} item_list;

static void free_items(item_list *list) {
  for (int i = 0; i < list->n; i++) bm_free(list->items[i].id);
  bm_free(list->items);
  memset(list, 0, sizeof *list);
}

static int push_item(item_list *list, const char *id, int xml, int line) {
  if (list->n == list->cap) {
    int cap = list->cap ? list->cap * 2 : 256;
    item *grown = bm_realloc(list->items, (size_t)cap * sizeof *grown);
    if (!grown) return -1;
    list->items = grown;
    list->cap = cap;
  }
  char *copy = bm_strdup(id);
  if (!copy) return -1;
  list->items[list->n++] = (item){copy, xml, line};
  return 0;
}

static int compare_items(const void *a, const void *b) {
  return strcmp(((const item *)a)->id, ((const item *)b)->id);
}

/* Every XML file, plus (include_unannotated) every image whose stem has no XML; by id. */
static int items_from_folders(const name_list *xmls, const bm_strmap *xml_by_stem,
                              const image_folder *images, int include_unannotated,
                              item_list *out, bm_error *err) {
  for (int i = 0; i < xmls->n; i++) {
    char *id = stem_of(xmls->names[i]);
    int status = id ? push_item(out, id, i, 0) : -1;
    bm_free(id);
    if (status != 0) return bm_fail(err, "out of memory");
  }
  if (include_unannotated) {
    for (int i = 0; i < images->files.n; i++) {
      char *id = stem_of(images->files.names[i]);
      if (!id) return bm_fail(err, "out of memory");
      /* one item per stem: the preferred file of that stem */
      int keep = bm_strmap_get(xml_by_stem, id) < 0 && bm_strmap_get(&images->by_stem, id) == i;
      int status = keep ? push_item(out, id, -1, 0) : 0;
      bm_free(id);
      if (status != 0) return bm_fail(err, "out of memory");
    }
  }
  if (out->n > 1) qsort(out->items, (size_t)out->n, sizeof *out->items, compare_items);
  return 0;
}

typedef struct split_reader {
  const char *path;
  const bm_strmap *xml_by_stem;
  const image_folder *images;
  int include_unannotated;
  const char *ann_dir;
  item_list *out;
  bm_strmap seen;
  bm_log *log;
  bm_error *err;
} split_reader;

static int take_split_id(void *user, const char *id, int line_no) {
  split_reader *r = user;
  if (bm_strmap_get(&r->seen, id) >= 0) {
    bm_warn(r->log, "%s:%d: '%s' is listed again; loaded once", r->path, line_no, id);
    return 0;
  }
  if (bm_strmap_put(&r->seen, id, line_no) != 0) return bm_fail(r->err, "out of memory");
  int xml = bm_strmap_get(r->xml_by_stem, id);
  if (xml < 0 && !(r->include_unannotated && bm_strmap_get(&r->images->by_stem, id) >= 0))
    return bm_fail(r->err, "%s:%d: no annotation file %s.xml in %s", r->path, line_no, id,
                   r->ann_dir);
  if (push_item(r->out, id, xml, line_no) != 0) return bm_fail(r->err, "out of memory");
  return 0;
}

/* Ids from a split list (bm_voc_split_each). Repeated ids are loaded once, with a warning. */
static int items_from_split(const char *split_path, const bm_strmap *xml_by_stem,
                            const image_folder *images, int include_unannotated,
                            const char *ann_dir, item_list *out, bm_log *log, bm_error *err) {
  split_reader r = {split_path, xml_by_stem, images, include_unannotated, ann_dir, out, {0}, log, err};
  int status = bm_voc_split_each(split_path, take_split_id, &r, err) ? -1 : 0;
  bm_strmap_free(&r.seen);
  if (status == 0 && out->n == 0) status = bm_fail(err, "%s: the split list is empty", split_path);
  return status;
}

/* ---- parsing through the cache ----------------------------------------------------------- */
/* Makes sure cache holds a current entry for each listed XML file with want[i] set.
 * Failures are errors when strict, otherwise warnings (parsed[i] stays 0). */
static int parse_annotations(bm_voc_cache *cache, const char *ann_dir, const name_list *xmls,
                             const char *want, char *parsed, int strict,
                             const bm_dataset_opts *opts, int *n_from_cache, bm_log *log,
                             bm_error *err) {
  long total = 0, done = 0;
  for (int i = 0; i < xmls->n; i++) total += want[i] && !parsed[i];
  for (int i = 0; i < xmls->n; i++) {
    if (!want[i] || parsed[i]) continue;
    char *path = bm_path_join(ann_dir, xmls->names[i]);
    if (!path) return bm_fail(err, "out of memory");
    struct stat st;
    bm_error file_err;
    int status = 0;
    if (stat(path, &st) != 0) {
      status = bm_fail(&file_err, "%s: %s", path, strerror(errno));
    } else {
      int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
      if (bm_voc_cache_lookup(cache, xmls->names[i], (int64_t)st.st_size, mtime_ns)) {
        (*n_from_cache)++;
      } else {
        bm_voc_file ann;
        status = bm_voc_parse_file(path, &ann, &file_err);
        if (status == 0 &&
            bm_voc_cache_store(cache, xmls->names[i], (int64_t)st.st_size, mtime_ns, &ann) != 0) {
          bm_voc_file_free(&ann);
          bm_free(path);
          return bm_fail(err, "out of memory");
        }
      }
    }
    bm_free(path);
    if (status != 0) {
      if (strict) {
        if (err) *err = file_err;
        return -1;
      }
      bm_warn(log, "%s (file ignored for the class list)", file_err.msg);
    } else {
      parsed[i] = 1;
    }
    done++;
    if (opts->progress && (done % 64 == 0 || done == total))
      opts->progress(opts->progress_user, done, total);
  }
  return 0;
}

static const bm_voc_file *cached(const bm_voc_cache *cache, const char *xml_name) {
  int i = bm_strmap_get(&cache->by_name, xml_name);
  return i >= 0 ? &cache->entries[i].ann : NULL;
}

/* ---- class list ------------------------------------------------------------------------ */
/* Sorted distinct object names of every parsed file. */
static int names_found(const bm_voc_cache *cache, const name_list *xmls, const char *parsed,
                       char ***names_out, int *n_out, bm_error *err) {
  bm_strmap seen = {0};
  name_list found = {0};
  int cap = 0;
  for (int i = 0; i < xmls->n; i++) {
    if (!parsed[i]) continue;
    const bm_voc_file *ann = cached(cache, xmls->names[i]);
    for (int k = 0; ann && k < ann->n_objects; k++) {
      const char *name = ann->objects[k].name;
      if (bm_strmap_get(&seen, name) >= 0) continue;
      if (found.n == cap) {
        cap = cap ? cap * 2 : 16;
        char **grown = bm_realloc(found.names, (size_t)cap * sizeof *grown);
        if (!grown) goto oom;
        found.names = grown;
      }
      found.names[found.n] = bm_strdup(name);
      if (!found.names[found.n]) goto oom;
      found.n++;
      if (bm_strmap_put(&seen, name, found.n - 1) != 0) goto oom;
    }
  }
  bm_strmap_free(&seen);
  if (found.n > 1) qsort(found.names, (size_t)found.n, sizeof *found.names, compare_strings);
  *names_out = found.names;
  *n_out = found.n;
  return 0;
oom:
  bm_strmap_free(&seen);
  free_name_list(&found);
  return bm_fail(err, "out of memory");
}

/* A class list that does not depend on the annotations: the explicit file, the run folder's
 * earlier list, ROOT/classes.txt. Returns 1 when found, 0 when none applies, -1 on error. */
static int fixed_class_list(const bm_dataset_opts *opts, bm_dataset *ds, bm_error *err) {
  char *root_list = opts->root ? bm_path_join(opts->root, "classes.txt") : NULL;
  const char *path = NULL, *why = NULL;
  if (opts->classes_file) path = opts->classes_file, why = "given class list";
  else if (opts->class_list_out && bm_file_exists(opts->class_list_out))
    path = opts->class_list_out, why = "class list of an earlier run";
  else if (root_list && bm_file_exists(root_list)) path = root_list, why = "dataset's classes.txt";
  int found = 0;
  if (path) {
    if (bm_read_class_list(path, &ds->class_names, &ds->n_classes, err) != 0) found = -1;
    else {
      char text[1200];
      snprintf(text, sizeof text, "%s %s", why, path);
      ds->class_source = bm_strdup(text);
      ds->is_voc = bm_names_are_voc(ds->class_names, ds->n_classes);
      found = ds->class_source ? 1 : bm_fail(err, "out of memory");
    }
  }
  bm_free(root_list);
  return found;
}

/* ---- turning annotations into images and objects ---------------------------------------- */
static int push_object(bm_dataset *ds, int *cap, const bm_object *obj) {
  if (ds->n_objects == *cap) {
    int grown_cap = *cap ? *cap * 2 : 1024;
    bm_object *grown = bm_realloc(ds->objects, (size_t)grown_cap * sizeof *grown);
    if (!grown) return -1;
    ds->objects = grown;
    *cap = grown_cap;
  }
  ds->objects[ds->n_objects++] = *obj;
  return 0;
}

/* keep_boxes_as_written: the VOC devkit and pycocotools use boxes as written, so evaluation
 * must too. A box with xmax == xmin is one pixel wide in VOC's inclusive convention and a
 * valid (small) box for both; only a box with a negative inclusive size (xmax < xmin - 1) or
 * a coordinate too large for a float is unusable and dropped. Returns 1 to keep, 0 to drop. */
static int keep_as_written(const bm_voc_object_raw *raw, int width, int height,
                           const char *xml_path, bm_object *obj, bm_log *log) {
  int finite = isfinite(raw->x1) && isfinite(raw->y1) && isfinite(raw->x2) && isfinite(raw->y2);
  if (!finite || (double)raw->x2 - raw->x1 + 1 < 0 || (double)raw->y2 - raw->y1 + 1 < 0) {
    bm_warn(log, "%s:%d: inverted box (%g,%g)-(%g,%g) of class '%s'; dropped", xml_path,
            raw->line, raw->x1, raw->y1, raw->x2, raw->y2, raw->name);
    return 0;
  }
  if (!(raw->x2 > raw->x1 && raw->y2 > raw->y1))
    bm_warn(log, "%s:%d: zero-area box (%g,%g)-(%g,%g) of class '%s'; kept as written", xml_path,
            raw->line, raw->x1, raw->y1, raw->x2, raw->y2, raw->name);
  else if (raw->x1 < 1 || raw->y1 < 1 || raw->x2 > (float)width || raw->y2 > (float)height)
    bm_warn(log, "%s:%d: box (%g,%g)-(%g,%g) of class '%s' reaches outside the %dx%d image; "
            "kept as written", xml_path, raw->line, raw->x1, raw->y1, raw->x2, raw->y2,
            raw->name, width, height);
  obj->x1 = raw->x1;
  obj->y1 = raw->y1;
  obj->x2 = raw->x2;
  obj->y2 = raw->y2;
  return 1;
}

/* Converts one raw object: class look-up, zero-area check, clipping to [1,W]x[1,H]. Returns 1
 * to keep *obj, 0 to drop it (warned), -1 on error. With keep_boxes_as_written the box is
 * kept exactly as the file gives it (still warned about) unless the evaluators could not use
 * it at all. */
static int check_object(bm_dataset *ds, const bm_strmap *class_ids, const char *xml_path,
                        const bm_voc_object_raw *raw, int width, int height,
                        const bm_dataset_opts *opts, bm_object *obj, bm_log *log, bm_error *err) {
  int class_id = bm_strmap_get(class_ids, raw->name);
  if (class_id < 0) {
    if (!opts->skip_unknown_classes)
      return bm_fail(err, "%s:%d: unknown class '%s' (not in the %s)", xml_path, raw->line,
                     raw->name, ds->class_source);
    bm_warn(log, "%s:%d: unknown class '%s'; object dropped", xml_path, raw->line, raw->name);
    return 0;
  }
  memset(obj, 0, sizeof *obj);
  obj->class_id = class_id;
  obj->difficult = raw->difficult;
  obj->truncated = raw->truncated;
  memcpy(obj->pose, raw->pose, sizeof obj->pose);
  if (opts->keep_boxes_as_written) return keep_as_written(raw, width, height, xml_path, obj, log);
  if (!(raw->x2 > raw->x1 && raw->y2 > raw->y1)) {
    bm_warn(log, "%s:%d: zero-area box (%g,%g)-(%g,%g) of class '%s'; dropped", xml_path,
            raw->line, raw->x1, raw->y1, raw->x2, raw->y2, raw->name);
    return 0;
  }
  obj->x1 = fmaxf(raw->x1, 1.0f);
  obj->y1 = fmaxf(raw->y1, 1.0f);
  obj->x2 = fminf(raw->x2, (float)width);
  obj->y2 = fminf(raw->y2, (float)height);
  if (!(obj->x2 > obj->x1 && obj->y2 > obj->y1)) {
    bm_warn(log, "%s:%d: box (%g,%g)-(%g,%g) of class '%s' lies outside the %dx%d image; "
            "dropped", xml_path, raw->line, raw->x1, raw->y1, raw->x2, raw->y2, raw->name,
            width, height);
    return 0;
  }
  if (obj->x1 != raw->x1 || obj->y1 != raw->y1 || obj->x2 != raw->x2 || obj->y2 != raw->y2) {
    bm_warn(log, "%s:%d: box (%g,%g)-(%g,%g) of class '%s' clipped to the %dx%d image",
            xml_path, raw->line, raw->x1, raw->y1, raw->x2, raw->y2, raw->name, width, height);
    ds->n_boxes_clipped++;
  }
  return 1;
}

/* The image's size: the XML's, unless it is missing (0x0) or check_images asks to verify it,
 * in which case the image header decides. Returns 0, or -1 when the image cannot be read. */
static int image_size(bm_dataset *ds, const char *xml_path, const char *image_path,
                      const bm_voc_file *ann, const bm_dataset_opts *opts, int *width,
                      int *height, bm_log *log, bm_error *err) {
  *width = ann ? ann->width : 0;
  *height = ann ? ann->height : 0;
  int known = *width > 0 && *height > 0;
  if (known && !opts->check_images) return 0;
  int real_w, real_h;
  if (bm_image_size(image_path, &real_w, &real_h, err) != 0) return -1;
  if (ann && !known)
    bm_warn(log, "%s: size is %dx%d in the XML; using the image's %dx%d", xml_path, *width,
            *height, real_w, real_h);
  else if (ann && (real_w != *width || real_h != *height))
    bm_warn(log, "%s: XML says %dx%d but %s is %dx%d; using the image's size", xml_path, *width,
            *height, image_path, real_w, real_h);
  if (ann && (real_w != *width || real_h != *height)) ds->n_sizes_fixed++;
  *width = real_w;
  *height = real_h;
  return 0;
}

/* Adds one image (and its checked objects). Returns 0 (also when the image was skipped
 * under skip_bad_images), -1 on error. */
static int add_image(bm_dataset *ds, int *object_cap, const layout *lay, const item *it,
                     const name_list *xmls, const bm_voc_cache *cache,
                     const image_folder *images, const bm_strmap *class_ids,
                     const bm_dataset_opts *opts, bm_log *log, bm_error *err) {
  const bm_voc_file *ann = it->xml >= 0 ? cached(cache, xmls->names[it->xml]) : NULL;
  if (it->xml >= 0 && !ann) return bm_fail(err, "%s: annotation lost from the cache", it->id);
  char *xml_path = it->xml >= 0 ? bm_path_join(lay->ann_dir, xmls->names[it->xml]) : NULL;
  if (it->xml >= 0 && !xml_path) return bm_fail(err, "out of memory");
  const char *where = xml_path ? xml_path : it->id;
  int found = find_image(images, ann ? ann->filename : NULL, it->id);
  char *image_path = found >= 0 ? bm_path_join(lay->img_dir, images->files.names[found]) : NULL;
  int width = 0, height = 0, status = 0;
  bm_error image_err;
  if (found < 0) {
    status = bm_fail(&image_err, "%s: image not found in %s (looked for %s%s%s%s with .jpg, "
                     ".jpeg or .png in any case)", where, lay->img_dir,
                     ann && ann->filename ? "'" : "", ann && ann->filename ? ann->filename : "",
                     ann && ann->filename ? "' and " : "", it->id);
  } else if (!image_path) {
    bm_free(xml_path);
    return bm_fail(err, "out of memory");
  } else if (image_size(ds, where, image_path, ann, opts, &width, &height, log, &image_err) != 0) {
    status = -1;
  }
  if (status != 0) {
    bm_free(xml_path);
    bm_free(image_path);
    if (!opts->skip_bad_images) {
      if (err) *err = image_err;
      return -1;
    }
    bm_warn(log, "%s; image skipped", image_err.msg);
    ds->n_images_skipped++;
    return 0;
  }
  bm_image_info *info = &ds->images[ds->n_images];
  memset(info, 0, sizeof *info);
  info->id = bm_strdup(it->id);
  info->image_path = image_path;
  info->ann_path = xml_path;
  info->width = width;
  info->height = height;
  info->depth = ann && ann->depth > 0 ? ann->depth : 3;
  info->first_object = ds->n_objects;
  ds->n_images++; /* counted now so that bm_dataset_free releases the strings on failure */
  if (!info->id) return bm_fail(err, "out of memory");
  if (!ann) ds->n_unannotated++;
  for (int k = 0; ann && k < ann->n_objects; k++) {
    ds->n_boxes_in_files++;
    bm_object obj;
    int keep = check_object(ds, class_ids, where, &ann->objects[k], width, height, opts, &obj,
                            log, err);
    if (keep < 0) return -1;
    if (keep == 0) {
      ds->n_boxes_dropped++;
      continue;
    }
    if (push_object(ds, object_cap, &obj) != 0) return bm_fail(err, "out of memory");
    info->n_objects++;
  }
  return 0;
}

/* ---- the whole load -------------------------------------------------------------------- */
typedef struct load_state {
  layout lay;
  name_list xmls;
  bm_strmap xml_by_stem;
  bm_strmap xml_names;
  image_folder images;
  item_list items;
  bm_voc_cache cache;
  char *cache_path;
  char *want;
  char *parsed;
  bm_strmap class_ids;
} load_state;

static void free_load_state(load_state *st) {
  free_layout(&st->lay);
  free_name_list(&st->xmls);
  bm_strmap_free(&st->xml_by_stem);
  bm_strmap_free(&st->xml_names);
  free_image_folder(&st->images);
  free_items(&st->items);
  bm_voc_cache_free(&st->cache);
  bm_free(st->cache_path);
  bm_free(st->want);
  bm_free(st->parsed);
  bm_strmap_free(&st->class_ids);
}

static int index_xml_listing(load_state *st, bm_error *err) {
  for (int i = 0; i < st->xmls.n; i++) {
    char *stem = stem_of(st->xmls.names[i]);
    int status = stem ? bm_strmap_put(&st->xml_by_stem, stem, i) : -1;
    if (status == 0) status = bm_strmap_put(&st->xml_names, st->xmls.names[i], i);
    bm_free(stem);
    if (status != 0) return bm_fail(err, "out of memory");
  }
  return 0;
}

static int load(bm_dataset *ds, const bm_dataset_opts *opts, load_state *st, bm_log *log,
                bm_error *err) {
  if (resolve_layout(opts, &st->lay, err) != 0) return -1;
  ds->root = bm_strdup(opts->root ? opts->root : st->lay.ann_dir);
  ds->images_dir = bm_strdup(st->lay.img_dir);
  ds->annotations_dir = bm_strdup(st->lay.ann_dir);
  ds->split = opts->split ? bm_strdup(opts->split) : NULL;
  if (!ds->root || !ds->images_dir || !ds->annotations_dir || (opts->split && !ds->split))
    return bm_fail(err, "out of memory");
  if (list_folder(st->lay.ann_dir, is_xml_name, &st->xmls, err) != 0) return -1;
  if (index_xml_listing(st, err) != 0) return -1;
  if (load_image_folder(st->lay.img_dir, &st->images, err) != 0) return -1;
  if (st->lay.split_path
          ? items_from_split(st->lay.split_path, &st->xml_by_stem, &st->images,
                             opts->include_unannotated, st->lay.ann_dir, &st->items, log, err)
          : items_from_folders(&st->xmls, &st->xml_by_stem, &st->images,
                               opts->include_unannotated, &st->items, err))
    return -1;

  if (opts->cache_dir) {
    st->cache_path = bm_voc_cache_path(opts->cache_dir, st->lay.ann_dir_real);
    if (!st->cache_path) return bm_fail(err, "out of memory");
    if (bm_voc_cache_load(&st->cache, st->cache_path, st->lay.ann_dir_real, log, err) != 0)
      return -1;
    bm_voc_cache_retain(&st->cache, &st->xml_names); /* forget deleted files */
  }

  /* Parse what the chosen images need (errors are errors) ... */
  st->want = bm_calloc((size_t)st->xmls.n + 1, 1);
  st->parsed = bm_calloc((size_t)st->xmls.n + 1, 1);
  if (!st->want || !st->parsed) return bm_fail(err, "out of memory");
  for (int i = 0; i < st->items.n; i++)
    if (st->items.items[i].xml >= 0) st->want[st->items.items[i].xml] = 1;
  if (parse_annotations(&st->cache, st->lay.ann_dir, &st->xmls, st->want, st->parsed, 1, opts,
                        &ds->n_from_cache, log, err) != 0)
    return -1;

  /* ... then the class list; inferring one reads every file in the folder, so that all
   * splits of a dataset get the same list. */
  int fixed = fixed_class_list(opts, ds, err);
  if (fixed < 0) return -1;
  if (!fixed) {
    memset(st->want, 1, (size_t)st->xmls.n);
    int from_cache_unused = 0;
    if (parse_annotations(&st->cache, st->lay.ann_dir, &st->xmls, st->want, st->parsed, 0, opts,
                          &from_cache_unused, log, err) != 0)
      return -1;
    char **found = NULL;
    int n_found = 0;
    if (names_found(&st->cache, &st->xmls, st->parsed, &found, &n_found, err) != 0) return -1;
    int status = bm_infer_class_list(found, n_found, st->lay.voc_folder, &ds->class_names,
                                     &ds->n_classes, &ds->is_voc, err);
    bm_free_names(found, n_found);
    if (status != 0) return bm_fail_prefix(err, "%s", st->lay.ann_dir);
    ds->class_source = bm_strdup(ds->is_voc ? "20 PASCAL VOC classes (all names found are VOC "
                                              "classes)"
                                            : "sorted names found in the annotation files");
    if (!ds->class_source) return bm_fail(err, "out of memory");
  }
  for (int c = 0; c < ds->n_classes; c++)
    if (bm_strmap_put(&st->class_ids, ds->class_names[c], c) != 0)
      return bm_fail(err, "out of memory");

  if (st->cache_path && st->cache.changed) {
    bm_error cache_err;
    if (bm_voc_cache_save(&st->cache, st->cache_path, st->lay.ann_dir_real, &cache_err) != 0)
      bm_warn(log, "annotation cache not saved: %s", cache_err.msg);
  }

  ds->images = bm_calloc((size_t)st->items.n + 1, sizeof *ds->images);
  if (!ds->images) return bm_fail(err, "out of memory");
  int object_cap = 0;
  for (int i = 0; i < st->items.n; i++)
    if (add_image(ds, &object_cap, &st->lay, &st->items.items[i], &st->xmls, &st->cache,
                  &st->images, &st->class_ids, opts, log, err) != 0)
      return -1;
  if (ds->n_images == 0) return bm_fail(err, "%s: no images to load", ds->root);
  if (bm_dataset_build_index(ds, err) != 0) return -1;

  if (opts->class_list_out && !bm_file_exists(opts->class_list_out) &&
      bm_write_class_list(opts->class_list_out, ds->class_names, ds->n_classes, err) != 0)
    return -1;
  return 0;
}

int bm_dataset_load(bm_dataset *ds, const bm_dataset_opts *opts, bm_log *log, bm_error *err) {
  memset(ds, 0, sizeof *ds);
  load_state st;
  memset(&st, 0, sizeof st);
  int status = load(ds, opts, &st, log, err);
  free_load_state(&st);
  if (status != 0) bm_dataset_free(ds);
  return status;
}

/* ---- small accessors ------------------------------------------------------------------- */
void bm_dataset_free(bm_dataset *ds) {
  for (int i = 0; i < ds->n_images; i++) {
    bm_free(ds->images[i].id);
    bm_free(ds->images[i].image_path);
    bm_free(ds->images[i].ann_path);
  }
  bm_free(ds->images);
  bm_free(ds->objects);
  bm_free_names(ds->class_names, ds->n_classes);
  bm_free(ds->root);
  bm_free(ds->images_dir);
  bm_free(ds->annotations_dir);
  bm_free(ds->split);
  bm_free(ds->class_source);
  bm_strmap_free(&ds->id_index);
  memset(ds, 0, sizeof *ds);
}

int bm_dataset_class_index(const bm_dataset *ds, const char *name) {
  for (int c = 0; c < ds->n_classes; c++)
    if (!strcmp(ds->class_names[c], name)) return c;
  return -1;
}

int bm_dataset_build_index(bm_dataset *ds, bm_error *err) {
  bm_strmap_free(&ds->id_index);
  for (int i = 0; i < ds->n_images; i++)
    if (bm_strmap_put(&ds->id_index, ds->images[i].id, i) != 0) {
      bm_strmap_free(&ds->id_index);
      return bm_fail(err, "out of memory");
    }
  return 0;
}

int bm_dataset_image_index(const bm_dataset *ds, const char *id) {
  /* the map is trusted only while it still covers every image (hand-added images fall back) */
  if (ds->id_index.count > 0 && ds->id_index.count == ds->n_images) {
    int i = bm_strmap_get(&ds->id_index, id);
    if (i >= 0 && i < ds->n_images && !strcmp(ds->images[i].id, id)) return i;
    if (i < 0) return -1;
  }
  for (int i = 0; i < ds->n_images; i++)
    if (!strcmp(ds->images[i].id, id)) return i;
  return -1;
}

char *bm_dataset_default_cache_dir(void) {
  const char *xdg = getenv("XDG_CACHE_HOME");
  if (xdg && *xdg) return bm_path_join(xdg, "boxmine");
  const char *home = getenv("HOME");
  if (!home || !*home) return NULL;
  return bm_path_join(home, ".cache/boxmine");
}

int bm_dataset_shared_images(const bm_dataset *a, const bm_dataset *b) {
  bm_strmap paths = {0};
  int shared = 0;
  for (int i = 0; i < a->n_images && shared >= 0; i++)
    if (a->images[i].image_path && bm_strmap_put(&paths, a->images[i].image_path, i)) shared = -1;
  for (int i = 0; i < b->n_images && shared >= 0; i++)
    shared += b->images[i].image_path && bm_strmap_get(&paths, b->images[i].image_path) >= 0;
  bm_strmap_free(&paths);
  return shared;
}
