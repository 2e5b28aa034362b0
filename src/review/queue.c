/* The queue of one review round and its manifest.json. */
#include <math.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "boxmine/bm_review.h"
#include "review/review_internal.h"

static void free_names(char **names, int n) {
  for (int i = 0; i < n; i++) bm_free(names[i]);
  bm_free(names);
}

int bm_review_queue_init(bm_review_queue *q, int round, const char *model_version,
                         char *const *class_names, int n_classes, const char *settings_json,
                         bm_error *err) {
  memset(q, 0, sizeof *q);
  q->round = round;
  if (n_classes <= 0 || n_classes > BM_MAX_CLASSES)
    return bm_fail(err, "review queue: %d classes", n_classes);
  if (settings_json) {
    bm_json root;
    if (bm_json_parse(settings_json, strlen(settings_json), &root, err) != 0)
      return bm_fail_prefix(err, "review queue settings");
    int is_object = root.type == BM_JSON_OBJECT;
    bm_json_free(&root);
    if (!is_object) return bm_fail(err, "review queue settings must be a JSON object");
  }
  q->model_version = bm_strdup(model_version ? model_version : "");
  q->settings_json = settings_json ? bm_strdup(settings_json) : NULL;
  q->class_names = bm_calloc((size_t)n_classes, sizeof *q->class_names);
  if (!q->model_version || (settings_json && !q->settings_json) || !q->class_names) {
    bm_review_queue_free(q);
    return bm_fail(err, "review queue: out of memory");
  }
  q->n_classes = n_classes;
  for (int c = 0; c < n_classes; c++) {
    q->class_names[c] = bm_strdup(class_names[c]);
    if (!q->class_names[c]) {
      bm_review_queue_free(q);
      return bm_fail(err, "review queue: out of memory");
    }
  }
  return 0;
}

void bm_review_queue_free(bm_review_queue *q) {
  if (!q) return;
  for (int i = 0; i < q->n_images; i++) {
    bm_free(q->images[i].id);
    bm_free(q->images[i].file);
    bm_free(q->images[i].boxes);
  }
  bm_free(q->images);
  if (q->class_names) free_names(q->class_names, q->n_classes);
  bm_free(q->model_version);
  bm_free(q->settings_json);
  bm_strmap_free(&q->by_id);
  bm_strmap_free(&q->by_file);
  memset(q, 0, sizeof *q);
}

const char *bm_review_base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

int bm_review_queue_add(bm_review_queue *q, const char *id, int index, const char *file,
                        int width, int height, const bm_review_box *boxes, int n_boxes,
                        bm_error *err) {
  if (!id || !*id) return bm_fail(err, "review queue: an image without id");
  if (!file || !*file) return bm_fail(err, "review queue: image '%s' has no file", id);
  if (bm_strmap_get(&q->by_id, id) >= 0)
    return bm_fail(err, "review queue: image id '%s' given twice", id);
  const char *base = bm_review_base_name(file);
  if (bm_strmap_get(&q->by_file, base) >= 0)
    return bm_fail(err, "review queue: two images have the file name '%s' (CVAT could not "
                   "tell them apart)", base);
  if (width <= 0 || height <= 0)
    return bm_fail(err, "review queue: image '%s' has size %dx%d", id, width, height);
  if (n_boxes < 0) return bm_fail(err, "review queue: image '%s': %d boxes", id, n_boxes);
  for (int b = 0; b < n_boxes; b++) {
    const bm_review_box *box = &boxes[b];
    if (box->class_id < 0 || box->class_id >= q->n_classes)
      return bm_fail(err, "review queue: image '%s' box %d: class %d out of range", id, b,
                     box->class_id);
    if (!isfinite(box->x1) || !isfinite(box->y1) || !isfinite(box->x2) ||
        !isfinite(box->y2) || !isfinite(box->score))
      return bm_fail(err, "review queue: image '%s' box %d: non-finite number", id, b);
  }
  if (q->n_images == q->cap_images) {
    int cap = q->cap_images ? 2 * q->cap_images : 16;
    bm_review_image *grown = bm_realloc(q->images, (size_t)cap * sizeof *grown);
    if (!grown) return bm_fail(err, "review queue: out of memory");
    q->images = grown;
    q->cap_images = cap;
  }
  bm_review_image *img = &q->images[q->n_images];
  memset(img, 0, sizeof *img);
  img->id = bm_strdup(id);
  img->file = bm_strdup(file);
  img->index = index;
  img->width = width;
  img->height = height;
  if (n_boxes > 0) {
    img->boxes = bm_malloc((size_t)n_boxes * sizeof *img->boxes);
    if (img->boxes) memcpy(img->boxes, boxes, (size_t)n_boxes * sizeof *img->boxes);
  }
  if (!img->id || !img->file || (n_boxes > 0 && !img->boxes) ||
      bm_strmap_put(&q->by_id, id, q->n_images) != 0 ||
      bm_strmap_put(&q->by_file, base, q->n_images) != 0) {
    bm_free(img->id);
    bm_free(img->file);
    bm_free(img->boxes);
    return bm_fail(err, "review queue: out of memory");
  }
  img->n_boxes = n_boxes;
  q->n_images++;
  return 0;
}

int bm_review_queue_find(const bm_review_queue *q, const char *id) {
  return bm_strmap_get(&q->by_id, id);
}

int bm_review_class_index(const bm_review_queue *q, const char *name) {
  for (int c = 0; c < q->n_classes; c++)
    if (!strcmp(q->class_names[c], name)) return c;
  return -1;
}

static const char *role_name(int role) {
  switch (role) {
    case BM_BOX_CERTAIN: return "certain";
    case BM_BOX_UNCERTAIN: return "uncertain";
    case BM_BOX_DEMOTED: return "demoted";
    default: return "unknown";
  }
}

static int role_parse(const char *name) {
  if (!strcmp(name, "certain")) return BM_BOX_CERTAIN;
  if (!strcmp(name, "uncertain")) return BM_BOX_UNCERTAIN;
  if (!strcmp(name, "demoted")) return BM_BOX_DEMOTED;
  return -1;
}

void bm_review_put_box(bm_buf *out, float x1, float y1, float x2, float y2) {
  bm_buf_puts(out, "[");
  bm_buf_json_float(out, x1);
  bm_buf_puts(out, ",");
  bm_buf_json_float(out, y1);
  bm_buf_puts(out, ",");
  bm_buf_json_float(out, x2);
  bm_buf_puts(out, ",");
  bm_buf_json_float(out, y2);
  bm_buf_puts(out, "]");
}

void bm_review_manifest_json(const bm_review_queue *q, bm_buf *out) {
  bm_buf_printf(out, "{\"format\":\"boxmine-review\",\"version\":1,\"round\":%d,", q->round);
  bm_buf_puts(out, "\"model_version\":");
  bm_buf_json_string(out, q->model_version);
  bm_buf_puts(out, ",\"classes\":[");
  for (int c = 0; c < q->n_classes; c++) {
    if (c) bm_buf_puts(out, ",");
    bm_buf_json_string(out, q->class_names[c]);
  }
  bm_buf_puts(out, "],\"settings\":");
  bm_buf_puts(out, q->settings_json ? q->settings_json : "{}");
  bm_buf_puts(out, ",\"images\":[");
  for (int i = 0; i < q->n_images; i++) {
    const bm_review_image *img = &q->images[i];
    bm_buf_puts(out, i ? ",\n" : "\n");
    bm_buf_puts(out, "{\"id\":");
    bm_buf_json_string(out, img->id);
    bm_buf_printf(out, ",\"index\":%d,\"file\":", img->index);
    bm_buf_json_string(out, img->file);
    bm_buf_printf(out, ",\"width\":%d,\"height\":%d,\"boxes\":[", img->width, img->height);
    for (int b = 0; b < img->n_boxes; b++) {
      const bm_review_box *box = &img->boxes[b];
      if (b) bm_buf_puts(out, ",");
      bm_buf_printf(out, "{\"id\":%d,\"class\":", b);
      bm_buf_json_string(out, q->class_names[box->class_id]);
      bm_buf_puts(out, ",\"score\":");
      bm_buf_json_float(out, box->score);
      bm_buf_puts(out, ",\"box\":");
      bm_review_put_box(out, box->x1, box->y1, box->x2, box->y2);
      bm_buf_puts(out, ",\"role\":");
      bm_buf_json_string(out, role_name(box->role));
      bm_buf_puts(out, "}");
    }
    bm_buf_puts(out, "]}");
  }
  bm_buf_puts(out, "\n]}\n");
}

/* Reads a [x1,y1,x2,y2] array member. */
int bm_review_get_box(const bm_json *object, const char *key, float *x1, float *y1,
                      float *x2, float *y2, bm_error *err) {
  const bm_json *arr = bm_json_get_typed(object, key, BM_JSON_ARRAY, err);
  if (!arr) return -1;
  if (bm_json_len(arr) != 4)
    return bm_fail(err, "line %d, column %d: field '%s' must hold 4 numbers", arr->line,
                   arr->column, key);
  float *t[4] = {x1, y1, x2, y2};
  for (int k = 0; k < 4; k++) {
    const bm_json *v = bm_json_at(arr, k);
    if (v->type != BM_JSON_NUMBER)
      return bm_fail(err, "line %d, column %d: field '%s' must hold numbers", v->line,
                     v->column, key);
    *t[k] = (float)v->number;
  }
  return 0;
}

static int load_manifest(const char *path, const bm_json *root, bm_review_queue *q,
                         bm_error *err) {
  const char *format;
  long version, round;
  if (root->type != BM_JSON_OBJECT) return bm_fail(err, "not a JSON object");
  if (bm_json_get_string(root, "format", &format, err) != 0) return -1;
  if (strcmp(format, "boxmine-review") != 0)
    return bm_fail(err, "format is '%s', not 'boxmine-review'", format);
  if (bm_json_get_int(root, "version", 1, 1, &version, err) != 0) return -1;
  if (bm_json_get_int(root, "round", 0, 1000000, &round, err) != 0) return -1;
  const char *model_version;
  if (bm_json_get_string(root, "model_version", &model_version, err) != 0) return -1;
  const bm_json *classes = bm_json_get_typed(root, "classes", BM_JSON_ARRAY, err);
  if (!classes) return -1;
  int n_classes = bm_json_len(classes);
  if (n_classes <= 0 || n_classes > BM_MAX_CLASSES)
    return bm_fail(err, "line %d: 'classes' holds %d names", classes->line, n_classes);
  char **names = bm_calloc((size_t)n_classes, sizeof *names);
  if (!names) return bm_fail(err, "out of memory");
  for (int c = 0; c < n_classes; c++) {
    const char *name = bm_json_string(bm_json_at(classes, c));
    if (!name) {
      bm_free(names);
      return bm_fail(err, "line %d: class %d is not a string", bm_json_at(classes, c)->line, c);
    }
    names[c] = (char *)name;
  }
  /* settings are a record for people: they are not read back */
  int status = bm_review_queue_init(q, (int)round, model_version, names, n_classes, NULL, err);
  bm_free(names);
  if (status != 0) return -1;
  const bm_json *images = bm_json_get_typed(root, "images", BM_JSON_ARRAY, err);
  if (!images) return -1;
  for (int i = 0; i < bm_json_len(images); i++) {
    const bm_json *im = bm_json_at(images, i);
    const char *id, *file;
    long index, width, height;
    if (im->type != BM_JSON_OBJECT)
      return bm_fail(err, "line %d: image %d is not an object", im->line, i);
    if (bm_json_get_string(im, "id", &id, err) != 0 ||
        bm_json_get_int(im, "index", -1, 2147483647L, &index, err) != 0 ||
        bm_json_get_string(im, "file", &file, err) != 0 ||
        bm_json_get_int(im, "width", 1, 1000000, &width, err) != 0 ||
        bm_json_get_int(im, "height", 1, 1000000, &height, err) != 0)
      return -1;
    const bm_json *boxes = bm_json_get_typed(im, "boxes", BM_JSON_ARRAY, err);
    if (!boxes) return -1;
    int n_boxes = bm_json_len(boxes);
    bm_review_box *arr = n_boxes ? bm_calloc((size_t)n_boxes, sizeof *arr) : NULL;
    if (n_boxes && !arr) return bm_fail(err, "out of memory");
    for (int b = 0; b < n_boxes; b++) {
      const bm_json *bx = bm_json_at(boxes, b);
      long box_id;
      const char *cls, *role;
      double score;
      if (bx->type != BM_JSON_OBJECT) {
        bm_free(arr);
        return bm_fail(err, "line %d: box %d of image '%s' is not an object", bx->line, b, id);
      }
      if (bm_json_get_int(bx, "id", b, b, &box_id, err) != 0 ||
          bm_json_get_string(bx, "class", &cls, err) != 0 ||
          bm_json_get_number(bx, "score", &score, err) != 0 ||
          bm_review_get_box(bx, "box", &arr[b].x1, &arr[b].y1, &arr[b].x2, &arr[b].y2,
                            err) != 0 ||
          bm_json_get_string(bx, "role", &role, err) != 0) {
        bm_free(arr);
        return -1;
      }
      arr[b].class_id = bm_review_class_index(q, cls);
      arr[b].score = (float)score;
      arr[b].role = role_parse(role);
      if (arr[b].class_id < 0 || arr[b].role < 0) {
        bm_free(arr);
        return bm_fail(err, "line %d: box %d of image '%s': unknown %s '%s'", bx->line, b, id,
                       arr[b].class_id < 0 ? "class" : "role", arr[b].class_id < 0 ? cls : role);
      }
    }
    status = bm_review_queue_add(q, id, (int)index, file, (int)width, (int)height, arr, n_boxes,
                                 err);
    bm_free(arr);
    if (status != 0) return bm_fail_prefix(err, "line %d", im->line);
  }
  return 0;
}

int bm_review_manifest_load(const char *path, bm_review_queue *q, bm_error *err) {
  memset(q, 0, sizeof *q);
  bm_json root;
  if (bm_json_parse_file(path, &root, err) != 0) return -1;
  int status = load_manifest(path, &root, q, err);
  bm_json_free(&root);
  if (status != 0) {
    bm_review_queue_free(q);
    return bm_fail_prefix(err, "%s", path);
  }
  return 0;
}
