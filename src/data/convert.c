/* Writing a dataset as PASCAL VOC, COCO and/or YOLO files (layout in bm_convert.h, rules in
 * docs/DATA.md). Every file is written atomically; the output never goes inside the source
 * dataset's folders. Images without an annotation file (include_unannotated) are not
 * converted: every output format would turn "not labelled" into "no objects". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <dirent.h>

#include "boxmine/bm_convert.h"
#include "data/data_internal.h"

int bm_parse_formats(const char *text, unsigned *formats, bm_error *err) {
  *formats = 0;
  const char *p = text;
  while (*p) {
    size_t n = strcspn(p, ",");
    if (n == 3 && !strncasecmp(p, "voc", 3)) *formats |= BM_FORMAT_VOC;
    else if (n == 4 && !strncasecmp(p, "coco", 4)) *formats |= BM_FORMAT_COCO;
    else if (n == 4 && !strncasecmp(p, "yolo", 4)) *formats |= BM_FORMAT_YOLO;
    else return bm_fail(err, "unknown format '%.*s' (expected voc, coco or yolo)", (int)n, p);
    p += n;
    if (*p == ',') p++;
  }
  if (*formats == 0) return bm_fail(err, "no output format given");
  return 0;
}

/* ---- where we may write -------------------------------------------------------------- */
/* Absolute, symlink-free form of path, which need not exist yet: the deepest existing
 * ancestor is resolved and the rest appended (bm_free). */
static char *resolve_future_path(const char *path) {
  char *absolute;
  if (path[0] == '/') {
    absolute = bm_strdup(path);
  } else {
    char *cwd = realpath(".", NULL);
    absolute = cwd ? bm_path_join(cwd, path) : NULL;
    free(cwd);
  }
  if (!absolute) return NULL;
  size_t end = strlen(absolute);
  while (end > 1 && absolute[end - 1] == '/') absolute[--end] = '\0';
  for (;;) { /* absolute[0, end) is the candidate ancestor, absolute + end the tail */
    char saved = absolute[end];
    absolute[end] = '\0';
    char *resolved = realpath(end ? absolute : "/", NULL);
    absolute[end] = saved;
    if (resolved) {
      bm_buf out;
      bm_buf_init(&out);
      bm_buf_puts(&out, strcmp(resolved, "/") ? resolved : "");
      bm_buf_puts(&out, absolute + end); /* empty, or starts with '/' */
      free(resolved);
      bm_free(absolute);
      if (out.failed || out.len == 0) {
        int failed = out.failed;
        bm_buf_free(&out);
        return failed ? NULL : bm_strdup("/");
      }
      return out.data;
    }
    while (end > 0 && absolute[end - 1] != '/') end--;
    if (end > 0) end--; /* now at the '/' that starts the tail */
  }
}

/* 1 when a equals b or one lies inside the other (component-wise prefix). */
static int paths_overlap(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  size_t n = la < lb ? la : lb;
  if (strncmp(a, b, n) != 0) return 0;
  if (la == lb) return 1;
  const char *longer = la > lb ? a : b;
  return longer[n] == '/' || (n == 1 && longer[0] == '/');
}

static int check_target(const bm_dataset *ds, const char *target, bm_error *err) {
  char *real_target = resolve_future_path(target);
  if (!real_target) return bm_fail(err, "%s: cannot resolve the output path", target);
  const char *sources[3] = {ds->root, ds->images_dir, ds->annotations_dir};
  int status = 0;
  for (int i = 0; i < 3 && status == 0; i++) {
    if (!sources[i]) continue;
    char *real_source = realpath(sources[i], NULL);
    if (real_source && paths_overlap(real_source, real_target))
      status = bm_fail(err, "%s: output would overlap the dataset folder %s; choose another "
                       "--out", target, sources[i]);
    free(real_source);
  }
  bm_free(real_target);
  return status;
}

static int folder_is_empty(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 1;
  struct dirent *entry;
  int empty = 1;
  while (empty && (entry = readdir(d)) != NULL)
    if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) empty = 0;
  closedir(d);
  return empty;
}

/* ---- images --------------------------------------------------------------------------- */
/* Output file name of an image: its id with the source file's extension, so names are unique
 * (ids are) and YOLO's labels/<stem>.txt matches images/<stem>.<ext>. */
char *bm_convert_image_name(const bm_image_info *img) {
  const char *slash = strrchr(img->image_path, '/');
  const char *base = slash ? slash + 1 : img->image_path;
  const char *dot = strrchr(base, '.');
  bm_buf name;
  bm_buf_init(&name);
  bm_buf_puts(&name, img->id);
  bm_buf_puts(&name, dot ? dot : "");
  if (name.failed) {
    bm_buf_free(&name);
    return NULL;
  }
  return name.data;
}

static int place_image(const char *source, const char *target, bm_image_mode mode,
                       bm_error *err) {
  if (mode == BM_IMAGES_NONE) return 0;
  if (mode == BM_IMAGES_COPY) {
    char *data;
    size_t len;
    if (bm_read_file(source, &data, &len, err) != 0) return -1;
    int status = bm_write_file_atomic(target, data, len, err);
    bm_free(data);
    return status;
  }
  char *absolute = realpath(source, NULL);
  if (!absolute) return bm_fail(err, "%s: %s", source, strerror(errno));
  bm_buf tmp;
  bm_buf_init(&tmp);
  bm_buf_printf(&tmp, "%s.tmp.link.%ld", target, (long)getpid());
  int status = 0;
  if (tmp.failed) status = bm_fail(err, "out of memory");
  else {
    unlink(tmp.data);
    if (symlink(absolute, tmp.data) != 0 || rename(tmp.data, target) != 0) {
      status = bm_fail(err, "%s: cannot link to %s: %s", target, absolute, strerror(errno));
      unlink(tmp.data);
    }
  }
  free(absolute);
  bm_buf_free(&tmp);
  return status;
}

/* ---- per-format writers ---------------------------------------------------------------- */
static int write_list(const char *path, const bm_dataset *ds, const bm_subset *subset,
                      const char *prefix, int use_file_names, bm_error *err) {
  bm_buf text;
  bm_buf_init(&text);
  for (int n = 0; n < subset->n_images; n++) {
    const bm_image_info *img = &ds->images[subset->images[n]];
    if (!img->ann_path) continue;
    if (use_file_names) {
      char *name = bm_convert_image_name(img);
      bm_buf_printf(&text, "%s%s\n", prefix, name ? name : "");
      if (!name) text.failed = 1;
      bm_free(name);
    } else {
      bm_buf_printf(&text, "%s%s\n", prefix, img->id);
    }
  }
  int status = text.failed ? bm_fail(err, "%s: out of memory", path)
                           : bm_write_file_atomic(path, text.data ? text.data : "", text.len, err);
  bm_buf_free(&text);
  return status;
}

static int write_voc_image(const char *out, const bm_dataset *ds, const bm_image_info *img,
                           const char *image_name, bm_error *err) {
  char *ann_dir = bm_path_join(out, "Annotations");
  bm_buf path;
  bm_buf_init(&path);
  bm_buf_printf(&path, "%s/%s.xml", ann_dir ? ann_dir : "", img->id);
  int status = ann_dir && !path.failed
                   ? bm_voc_write_xml(path.data, "JPEGImages", image_name, img->width,
                                      img->height, img->depth, ds->objects + img->first_object,
                                      img->n_objects, ds->class_names, NULL, err)
                   : bm_fail(err, "out of memory");
  bm_free(ann_dir);
  bm_buf_free(&path);
  return status;
}

static int write_yolo_labels(const char *out, const bm_dataset *ds, const bm_image_info *img,
                             bm_error *err) {
  bm_buf text, path;
  bm_buf_init(&text);
  bm_buf_init(&path);
  bm_buf_printf(&path, "%s/labels/%s.txt", out, img->id);
  double w_img = img->width, h_img = img->height;
  for (int k = img->first_object; k < img->first_object + img->n_objects; k++) {
    const bm_object *obj = &ds->objects[k];
    /* VOC inclusive pixels -> continuous: [xmin - 1, xmax], normalised by the image size */
    double x0 = obj->x1 - 1.0, x1 = obj->x2, y0 = obj->y1 - 1.0, y1 = obj->y2;
    bm_buf_printf(&text, "%d %.6f %.6f %.6f %.6f\n", obj->class_id, (x0 + x1) / 2 / w_img,
                  (y0 + y1) / 2 / h_img, (x1 - x0) / w_img, (y1 - y0) / h_img);
  }
  int status = text.failed || path.failed
                   ? bm_fail(err, "out of memory")
                   : bm_write_file_atomic(path.data, text.data ? text.data : "", text.len, err);
  bm_buf_free(&text);
  bm_buf_free(&path);
  return status;
}

static int write_class_files(const char *out, const bm_dataset *ds, int also_obj_names,
                             bm_error *err) {
  const char *names[2] = {"classes.txt", "obj.names"};
  for (int i = 0; i < 1 + also_obj_names; i++) {
    char *path = bm_path_join(out, names[i]);
    int status = path ? bm_write_class_list(path, ds->class_names, ds->n_classes, err)
                      : bm_fail(err, "out of memory");
    bm_free(path);
    if (status != 0) return -1;
  }
  return 0;
}

/* ---- one format ------------------------------------------------------------------------ */
typedef struct format_spec {
  unsigned bit;
  const char *folder;
  const char *image_folder;   /* relative to the format's folder */
  const char *extra_folder;   /* Annotations / labels / NULL */
} format_spec;

static const format_spec format_specs[3] = {
    {BM_FORMAT_VOC, "voc", "JPEGImages", "Annotations"},
    {BM_FORMAT_COCO, "coco", "images", NULL},
    {BM_FORMAT_YOLO, "yolo", "images", "labels"},
};

static int make_folder(const char *base, const char *sub, bm_error *err) {
  char *path = sub ? bm_path_join(base, sub) : bm_strdup(base);
  int status = path ? bm_mkdir_p(path, err) : bm_fail(err, "out of memory");
  bm_free(path);
  return status;
}

static int convert_one(const bm_dataset *ds, const bm_subset *subsets, int n_subsets,
                       const bm_convert_opts *opts, const format_spec *spec, long *done,
                       long total, bm_error *err) {
  char *out = bm_path_join(opts->out_dir, spec->folder);
  if (!out) return bm_fail(err, "out of memory");
  int status = 0;
  if (make_folder(out, spec->image_folder, err) != 0 ||
      (spec->extra_folder && make_folder(out, spec->extra_folder, err) != 0) ||
      (spec->bit == BM_FORMAT_VOC && make_folder(out, BM_VOC_SETS_DIR, err) != 0))
    status = -1;
  for (int i = 0; i < ds->n_images && status == 0; i++) {
    const bm_image_info *img = &ds->images[i];
    if (!img->ann_path) continue;
    char *name = bm_convert_image_name(img);
    char *folder = bm_path_join(out, spec->image_folder);
    char *target = name && folder ? bm_path_join(folder, name) : NULL;
    if (!target) status = bm_fail(err, "out of memory");
    else status = place_image(img->image_path, target, opts->image_mode, err);
    if (status == 0 && spec->bit == BM_FORMAT_VOC) status = write_voc_image(out, ds, img, name, err);
    if (status == 0 && spec->bit == BM_FORMAT_YOLO) status = write_yolo_labels(out, ds, img, err);
    bm_free(name);
    bm_free(folder);
    bm_free(target);
    (*done)++;
    if (opts->progress) opts->progress(opts->progress_user, *done, total);
  }
  for (int s = 0; s < n_subsets && status == 0; s++) {
    bm_buf path;
    bm_buf_init(&path);
    if (spec->bit == BM_FORMAT_VOC) bm_buf_printf(&path, "%s/" BM_VOC_SETS_DIR "/%s.txt", out, subsets[s].name);
    if (spec->bit == BM_FORMAT_COCO) bm_buf_printf(&path, "%s/instances_%s.json", out, subsets[s].name);
    if (spec->bit == BM_FORMAT_YOLO) bm_buf_printf(&path, "%s/%s.txt", out, subsets[s].name);
    if (path.failed) status = bm_fail(err, "out of memory");
    else if (spec->bit == BM_FORMAT_VOC) status = write_list(path.data, ds, &subsets[s], "", 0, err);
    else if (spec->bit == BM_FORMAT_YOLO) status = write_list(path.data, ds, &subsets[s], "images/", 1, err);
    else {
      /* annotated images only, as everywhere in the output */
      int *annotated = bm_malloc(((size_t)subsets[s].n_images + 1) * sizeof *annotated);
      int n = 0;
      for (int k = 0; annotated && k < subsets[s].n_images; k++)
        if (ds->images[subsets[s].images[k]].ann_path) annotated[n++] = subsets[s].images[k];
      status = annotated ? bm_coco_write_json(ds, annotated, n, path.data, err)
                         : bm_fail(err, "out of memory");
      bm_free(annotated);
    }
    bm_buf_free(&path);
  }
  if (status == 0 && spec->bit != BM_FORMAT_COCO)
    status = write_class_files(out, ds, spec->bit == BM_FORMAT_YOLO, err);
  bm_free(out);
  return status;
}

int bm_convert_dataset(const bm_dataset *ds, const bm_subset *subsets, int n_subsets,
                       const bm_convert_opts *opts, bm_log *log, bm_error *err) {
  if (!opts->out_dir || !*opts->out_dir) return bm_fail(err, "no output folder given");
  if (!opts->formats) return bm_fail(err, "no output format given");
  for (int s = 0; s < n_subsets; s++) {
    const char *name = subsets[s].name;
    if (!name || !*name || strchr(name, '/') || name[0] == '.')
      return bm_fail(err, "subset name '%s' cannot be a file name", name ? name : "");
    for (int k = 0; k < subsets[s].n_images; k++)
      if (subsets[s].images[k] < 0 || subsets[s].images[k] >= ds->n_images)
        return bm_fail(err, "subset '%s': image index %d outside the dataset", name,
                       subsets[s].images[k]);
  }
  int n_formats = 0;
  for (int f = 0; f < 3; f++) {
    if (!(opts->formats & format_specs[f].bit)) continue;
    n_formats++;
    char *target = bm_path_join(opts->out_dir, format_specs[f].folder);
    if (!target) return bm_fail(err, "out of memory");
    int status = check_target(ds, target, err);
    if (status == 0 && !opts->overwrite && !folder_is_empty(target))
      status = bm_fail(err, "%s exists and is not empty (overwrite it with --force)", target);
    bm_free(target);
    if (status != 0) return -1;
  }
  if (ds->n_unannotated > 0)
    bm_warn(log, "%d images without annotation file are not converted (no format can say "
            "'not labelled')", ds->n_unannotated);
  long done = 0, total = (long)(ds->n_images - ds->n_unannotated) * n_formats;
  for (int f = 0; f < 3; f++) {
    if (!(opts->formats & format_specs[f].bit)) continue;
    if (convert_one(ds, subsets, n_subsets, opts, &format_specs[f], &done, total, err) != 0)
      return -1;
  }
  return 0;
}
