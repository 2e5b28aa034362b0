/* Detection files: VOC devkit results (comp4_det_<split>_<class>.txt) and COCO results JSON,
 * read into bm_detections and written from them. Numbers are written in the shortest form
 * that reads back to the same value, so a written file evaluates exactly like the
 * detections it came from. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_json.h"
#include "eval/eval_internal.h"

/* ---- image id look-up ------------------------------------------------------------------- */

typedef struct id_entry {
  const char *id;
  long long number; /* COCO integer id, or -1 when the id has none */
  int image;
} id_entry;

typedef struct id_index {
  int n;
  id_entry *by_id;     /* sorted by id string */
  id_entry *by_number; /* entries with a number, sorted by it */
  int n_numbers;
  int numbers_unique; /* every image has a number and no two share one */
} id_index;

static int compare_id(const void *a, const void *b) {
  return strcmp(((const id_entry *)a)->id, ((const id_entry *)b)->id);
}

static int compare_number(const void *a, const void *b) {
  long long x = ((const id_entry *)a)->number, y = ((const id_entry *)b)->number;
  return (x > y) - (x < y);
}

static void id_index_free(id_index *index) {
  bm_free(index->by_id);
  bm_free(index->by_number);
  memset(index, 0, sizeof *index);
}

static int id_index_build(id_index *index, const bm_dataset *ds, bm_error *err) {
  memset(index, 0, sizeof *index);
  size_t n = (size_t)(ds->n_images > 0 ? ds->n_images : 1);
  index->by_id = bm_malloc(n * sizeof *index->by_id);
  index->by_number = bm_malloc(n * sizeof *index->by_number);
  if (!index->by_id || !index->by_number) {
    id_index_free(index);
    return bm_fail(err, "out of memory indexing %d image ids", ds->n_images);
  }
  index->n = ds->n_images;
  for (int i = 0; i < ds->n_images; i++) {
    id_entry *e = &index->by_id[i];
    e->id = ds->images[i].id;
    e->image = i;
    if (!bm_coco_image_id(e->id, &e->number)) e->number = -1;
    else index->by_number[index->n_numbers++] = *e;
  }
  qsort(index->by_id, (size_t)index->n, sizeof *index->by_id, compare_id);
  qsort(index->by_number, (size_t)index->n_numbers, sizeof *index->by_number, compare_number);
  index->numbers_unique = bm_coco_ids_are_numbers(ds, NULL, ds->n_images);
  if (index->numbers_unique < 0) {
    id_index_free(index);
    return bm_fail(err, "out of memory indexing %d image ids", ds->n_images);
  }
  return 0;
}

/* Image index of an id, or -1. */
static int find_id(const id_index *index, const char *id) {
  id_entry key = {id, 0, 0};
  const id_entry *hit = bsearch(&key, index->by_id, (size_t)index->n, sizeof key, compare_id);
  return hit ? hit->image : -1;
}

/* Image index of a COCO integer id, -1 if none, -2 if several images share it. */
static int find_number(const id_index *index, long long number) {
  id_entry key = {NULL, number, 0};
  const id_entry *hit =
      bsearch(&key, index->by_number, (size_t)index->n_numbers, sizeof key, compare_number);
  if (!hit) return -1;
  if ((hit > index->by_number && hit[-1].number == number) ||
      (hit + 1 < index->by_number + index->n_numbers && hit[1].number == number))
    return -2;
  return hit->image;
}

static int compare_numbers(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

int bm_coco_ids_are_numbers(const bm_dataset *ds, const int *images, int n_images) {
  long long *numbers = bm_malloc((size_t)(n_images > 0 ? n_images : 1) * sizeof *numbers);
  if (!numbers) return -1;
  int numeric = 1;
  for (int n = 0; n < n_images && numeric; n++)
    numeric = bm_coco_image_id(ds->images[images ? images[n] : n].id, &numbers[n]);
  if (numeric && n_images > 1) {
    qsort(numbers, (size_t)n_images, sizeof *numbers, compare_numbers);
    for (int n = 1; n < n_images && numeric; n++) numeric = numbers[n] != numbers[n - 1];
  }
  bm_free(numbers);
  return numeric;
}

int bm_coco_image_id(const char *voc_id, long long *number) {
  long long value = 0;
  int digits = 0;
  for (const char *p = voc_id; *p; p++) {
    if (*p == '_') continue;
    if (*p < '0' || *p > '9') return 0;
    if (++digits > 15) return 0;
    value = value * 10 + (*p - '0');
  }
  if (digits == 0) return 0;
  *number = value;
  return 1;
}

/* ---- number formatting -------------------------------------------------------------------- */

/* Shortest %g form that reads back as the same float; whole numbers without an exponent
 * ("20", not "2e+01"). */
static void append_float(bm_buf *buf, float value) {
  char text[32];
  if (value == floorf(value) && fabsf(value) < 1e15f) {
    bm_buf_printf(buf, "%.0f", (double)value);
    return;
  }
  for (int digits = 1; digits <= 9; digits++) {
    snprintf(text, sizeof text, "%.*g", digits, (double)value);
    if (strtof(text, NULL) == value) break;
  }
  bm_buf_puts(buf, text);
}

/* Shortest %g form that reads back as the same double; whole numbers without an exponent. */
static void append_double(bm_buf *buf, double value) {
  char text[40];
  if (value == floor(value) && fabs(value) < 1e15) {
    bm_buf_printf(buf, "%.0f", value);
    return;
  }
  for (int digits = 1; digits <= 17; digits++) {
    snprintf(text, sizeof text, "%.*g", digits, value);
    if (strtod(text, NULL) == value) break;
  }
  bm_buf_puts(buf, text);
}

static int check_detection(const bm_dataset *ds, const bm_detections *dets, long i, bm_error *err) {
  const bm_detection *det = &dets->items[i];
  if (det->image < 0 || det->image >= ds->n_images)
    return bm_fail(err, "detection %ld: image index %d outside the dataset's %d images", i,
                   det->image, ds->n_images);
  if (det->class_id < 0 || det->class_id >= ds->n_classes)
    return bm_fail(err, "detection %ld: class %d outside [0, %d)", i, det->class_id, ds->n_classes);
  if (!isfinite(det->score) || !isfinite(det->x1) || !isfinite(det->y1) || !isfinite(det->x2) ||
      !isfinite(det->y2))
    return bm_fail(err, "detection %ld on image '%s': score or box is not finite", i,
                   ds->images[det->image].id);
  return 0;
}

/* ---- VOC devkit results ------------------------------------------------------------------- */

static char *voc_results_path(const char *dir, const char *split, const char *class_name) {
  size_t len = strlen(dir) + strlen(split) + strlen(class_name) + 32;
  char *path = bm_malloc(len);
  if (path) snprintf(path, len, "%s/comp4_det_%s_%s.txt", dir, split, class_name);
  return path;
}

/* Next whitespace-separated token of a line; returns its start or NULL at the end. */
static char *next_token(char **cursor) {
  char *p = *cursor;
  while (*p == ' ' || *p == '\t' || *p == '\r') p++;
  if (!*p) return NULL;
  char *start = p;
  while (*p && *p != ' ' && *p != '\t' && *p != '\r') p++;
  if (*p) *p++ = '\0';
  *cursor = p;
  return start;
}

static int parse_float_token(const char *token, float *out) {
  if (!token) return -1;
  char *end;
  double value = strtod(token, &end);
  if (end == token || *end || !isfinite(value)) return -1;
  float narrowed = (float)value;
  if (!isfinite(narrowed)) return -1;
  *out = narrowed;
  return 0;
}

static int read_voc_file(const char *path, int class_id, const bm_dataset *ds,
                         const id_index *index, bm_detections *out, bm_error *err) {
  char *text = NULL;
  size_t len = 0;
  if (bm_read_file(path, &text, &len, err) != 0) return -1;
  if (memchr(text, '\0', len)) {
    bm_free(text);
    return bm_fail(err, "%s: contains a NUL byte; not a results file", path);
  }
  int status = 0;
  long line_no = 0;
  char *line = text;
  while (line && *line && status == 0) {
    line_no++;
    char *newline = strchr(line, '\n');
    if (newline) *newline = '\0';
    char *cursor = line;
    char *id = next_token(&cursor);
    if (id) {
      char *fields[5];
      for (int f = 0; f < 5; f++) fields[f] = next_token(&cursor);
      bm_detection det;
      det.class_id = class_id;
      det.image = find_id(index, id);
      if (!fields[4] || next_token(&cursor)) {
        status = bm_fail(err, "%s:%ld: expected '<image id> <score> <x1> <y1> <x2> <y2>'", path,
                         line_no);
      } else if (parse_float_token(fields[0], &det.score) ||
                 parse_float_token(fields[1], &det.x1) || parse_float_token(fields[2], &det.y1) ||
                 parse_float_token(fields[3], &det.x2) || parse_float_token(fields[4], &det.y2)) {
        status = bm_fail(err, "%s:%ld: score and box must be finite numbers", path, line_no);
      } else if (det.image < 0) {
        status =
            bm_fail(err, "%s:%ld: image '%s' is not in the evaluated split", path, line_no, id);
      } else if ((double)det.x2 - det.x1 + 1 < 0 || (double)det.y2 - det.y1 + 1 < 0) {
        status = bm_fail(err, "%s:%ld: box has x2 < x1 - 1 or y2 < y1 - 1", path, line_no);
      } else if (bm_detections_push(out, &det) != 0) {
        status = bm_fail(err, "%s:%ld: out of memory", path, line_no);
      }
    }
    line = newline ? newline + 1 : NULL;
  }
  bm_free(text);
  return status;
}

int bm_read_voc_results(const char *dir, const char *split, const bm_dataset *ds,
                        bm_detections *out, bm_log *log, bm_error *err) {
  id_index index;
  if (id_index_build(&index, ds, err) != 0) return -1;
  int n_found = 0, status = 0;
  for (int c = 0; c < ds->n_classes && status == 0; c++) {
    char *path = voc_results_path(dir, split, ds->class_names[c]);
    if (!path) {
      status = bm_fail(err, "out of memory");
      break;
    }
    if (!bm_file_exists(path)) {
      bm_warn(log, "%s: missing; class '%s' has no detections", path, ds->class_names[c]);
    } else {
      n_found++;
      status = read_voc_file(path, c, ds, &index, out, err);
    }
    bm_free(path);
  }
  id_index_free(&index);
  if (status == 0 && n_found == 0)
    return bm_fail(err, "%s: no comp4_det_%s_<class>.txt file for any of the %d classes", dir,
                   split, ds->n_classes);
  return status;
}

int bm_write_voc_results(const char *dir, const char *split, const bm_dataset *ds,
                         const bm_detections *dets, bm_error *err) {
  for (long i = 0; i < dets->n; i++)
    if (check_detection(ds, dets, i, err) != 0) return -1;
  if (bm_mkdir_p(dir, err) != 0) return -1;
  long *order = NULL, *start = NULL;
  if (eval_group_by_class(dets, ds->n_classes, &order, &start, err) != 0) return -1;
  int status = 0;
  for (int c = 0; c < ds->n_classes && status == 0; c++) {
    bm_buf buf;
    bm_buf_init(&buf);
    for (long k = start[c]; k < start[c + 1]; k++) {
      const bm_detection *det = &dets->items[order[k]];
      bm_buf_puts(&buf, ds->images[det->image].id);
      const float values[5] = {det->score, det->x1, det->y1, det->x2, det->y2};
      for (int v = 0; v < 5; v++) {
        bm_buf_puts(&buf, " ");
        append_float(&buf, values[v]);
      }
      bm_buf_puts(&buf, "\n");
    }
    char *path = voc_results_path(dir, split, ds->class_names[c]);
    if (buf.failed || !path) status = bm_fail(err, "out of memory writing VOC results");
    else status = bm_write_file_atomic(path, buf.data ? buf.data : "", buf.len, err);
    bm_free(path);
    bm_buf_free(&buf);
  }
  bm_free(order);
  bm_free(start);
  return status;
}

/* ---- COCO results JSON -------------------------------------------------------------------- */

static int read_coco_entry(const char *path, long i, const bm_json *entry, const bm_dataset *ds,
                           const id_index *index, bm_detections *out, bm_error *err) {
  if (entry->type != BM_JSON_OBJECT)
    return bm_fail(err, "%s: line %d, column %d: result %ld must be an object", path, entry->line,
                   entry->column, i);
  const bm_json *image_id = bm_json_get(entry, "image_id");
  bm_detection det;
  if (!image_id)
    return bm_fail(err, "%s: line %d, column %d: result %ld has no image_id", path, entry->line,
                   entry->column, i);
  if (image_id->type == BM_JSON_STRING) {
    det.image = find_id(index, image_id->string);
    if (det.image < 0)
      return bm_fail(err, "%s: line %d, column %d: image_id \"%s\" is not in the evaluated split",
                     path, image_id->line, image_id->column, image_id->string);
  } else if (image_id->type == BM_JSON_NUMBER && image_id->number == floor(image_id->number) &&
             fabs(image_id->number) < 1e15) {
    det.image = find_number(index, (long long)image_id->number);
    if (det.image == -2)
      return bm_fail(err, "%s: line %d, column %d: image_id %.0f matches several images", path,
                     image_id->line, image_id->column, image_id->number);
    if (det.image < 0)
      return bm_fail(err, "%s: line %d, column %d: image_id %.0f is not in the evaluated split",
                     path, image_id->line, image_id->column, image_id->number);
  } else {
    return bm_fail(err, "%s: line %d, column %d: image_id must be an integer or a string", path,
                   image_id->line, image_id->column);
  }
  long category;
  double score;
  if (bm_json_get_int(entry, "category_id", 1, ds->n_classes, &category, err) != 0 ||
      bm_json_get_number(entry, "score", &score, err) != 0)
    return bm_fail_prefix(err, "%s: result %ld", path, i);
  const bm_json *bbox = bm_json_get_typed(entry, "bbox", BM_JSON_ARRAY, err);
  if (!bbox) return bm_fail_prefix(err, "%s: result %ld", path, i);
  double xywh[4];
  for (int k = 0; k < 4; k++) {
    const bm_json *v = bm_json_at(bbox, k);
    if (bm_json_len(bbox) != 4 || v->type != BM_JSON_NUMBER)
      return bm_fail(err, "%s: line %d, column %d: bbox must be [x, y, w, h], four numbers", path,
                     bbox->line, bbox->column);
    xywh[k] = v->number;
  }
  if (xywh[2] < 0 || xywh[3] < 0)
    return bm_fail(err, "%s: line %d, column %d: bbox has a negative width or height", path,
                   bbox->line, bbox->column);
  det.class_id = (int)category - 1;
  det.score = (float)score;
  det.x1 = (float)(xywh[0] + 1);
  det.y1 = (float)(xywh[1] + 1);
  det.x2 = (float)(xywh[0] + xywh[2]);
  det.y2 = (float)(xywh[1] + xywh[3]);
  if (!isfinite(det.score) || !isfinite(det.x1) || !isfinite(det.y1) || !isfinite(det.x2) ||
      !isfinite(det.y2))
    return bm_fail(err, "%s: line %d, column %d: score or bbox out of range", path, entry->line,
                   entry->column);
  if (bm_detections_push(out, &det) != 0) return bm_fail(err, "%s: out of memory", path);
  return 0;
}

int bm_read_coco_results(const char *path, const bm_dataset *ds, bm_detections *out,
                         bm_error *err) {
  bm_json root;
  if (bm_json_parse_file(path, &root, err) != 0) return -1;
  if (root.type != BM_JSON_ARRAY) {
    bm_json_free(&root);
    return bm_fail(err, "%s: a COCO results file is a JSON array of detections", path);
  }
  id_index index;
  if (id_index_build(&index, ds, err) != 0) {
    bm_json_free(&root);
    return -1;
  }
  int status = 0;
  for (int i = 0; i < root.n && status == 0; i++)
    status = read_coco_entry(path, i, &root.items[i], ds, &index, out, err);
  id_index_free(&index);
  bm_json_free(&root);
  return status;
}

int bm_write_coco_results(const char *path, const bm_dataset *ds, const bm_detections *dets,
                          bm_error *err) {
  for (long i = 0; i < dets->n; i++)
    if (check_detection(ds, dets, i, err) != 0) return -1;
  id_index index;
  if (id_index_build(&index, ds, err) != 0) return -1;
  bm_buf buf;
  bm_buf_init(&buf);
  bm_buf_puts(&buf, "[");
  for (long i = 0; i < dets->n; i++) {
    const bm_detection *det = &dets->items[i];
    long long number;
    bm_buf_puts(&buf, i ? ",\n" : "\n");
    bm_buf_puts(&buf, "{\"image_id\": ");
    if (index.numbers_unique && bm_coco_image_id(ds->images[det->image].id, &number))
      bm_buf_printf(&buf, "%lld", number);
    else bm_buf_json_string(&buf, ds->images[det->image].id);
    bm_buf_printf(&buf, ", \"category_id\": %d, \"bbox\": [", det->class_id + 1);
    const double xywh[4] = {(double)det->x1 - 1.0, (double)det->y1 - 1.0,
                            (double)det->x2 - (double)det->x1 + 1.0,
                            (double)det->y2 - (double)det->y1 + 1.0};
    for (int k = 0; k < 4; k++) {
      if (k) bm_buf_puts(&buf, ", ");
      append_double(&buf, xywh[k]);
    }
    bm_buf_puts(&buf, "], \"score\": ");
    append_float(&buf, det->score);
    bm_buf_puts(&buf, "}");
  }
  bm_buf_puts(&buf, "\n]\n");
  id_index_free(&index);
  int status = buf.failed ? bm_fail(err, "%s: out of memory", path)
                          : bm_write_file_atomic(path, buf.data, buf.len, err);
  bm_buf_free(&buf);
  return status;
}
