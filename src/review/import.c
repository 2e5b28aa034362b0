/* Reading what people sent back: Label Studio JSON exports, CVAT for images 1.1 XML and
 * folders of VOC XML files (docs/REVIEW.md). Every box is turned into a bm_review_returned
 * and bm_review_match makes the verdicts. */
#include <dirent.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_review.h"
#include "data/data_internal.h"
#include "review/review_internal.h"

typedef struct returned_list {
  int n, cap;
  bm_review_returned *items;
  char **ids; /* Label Studio region ids, parallel to items (NULL elsewhere) */
} returned_list;

static int returned_push(returned_list *l, const bm_review_returned *r, const char *id) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    bm_review_returned *grown = bm_realloc(l->items, (size_t)cap * sizeof *grown);
    if (!grown) return -1;
    l->items = grown;
    char **ids = bm_realloc(l->ids, (size_t)cap * sizeof *ids);
    if (!ids) return -1;
    l->ids = ids;
    l->cap = cap;
  }
  l->ids[l->n] = id ? bm_strdup(id) : NULL;
  if (id && !l->ids[l->n]) return -1;
  l->items[l->n++] = *r;
  return 0;
}

static void returned_clear(returned_list *l) {
  for (int i = 0; i < l->n; i++) bm_free(l->ids[i]);
  l->n = 0;
}

static void returned_free(returned_list *l) {
  returned_clear(l);
  bm_free(l->items);
  bm_free(l->ids);
  memset(l, 0, sizeof *l);
}

/* A machine id written as a plain decimal number ("0", "17"), else -1. */
static int parse_machine_id(const char *s) {
  if (!s || !*s || strlen(s) > 9) return -1;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9') return -1;
  return atoi(s);
}

/* Matches one image's boxes and stores the answer; an image answered twice in one file is an
 * error (which of the two is meant?). */
static int finish_image(const bm_review_queue *q, int pos, const returned_list *l, int source,
                        double lead_time, bm_review_answers *out, const char *path,
                        bm_error *err) {
  if (bm_review_answers_find(out, q->images[pos].id) >= 0)
    return bm_fail(err, "%s: image '%s' is answered twice", path, q->images[pos].id);
  bm_review_answer ans;
  if (bm_review_match(&q->images[pos], l->items, l->n, &ans, err) != 0) return -1;
  ans.source = source;
  ans.lead_time = lead_time;
  return bm_review_answers_take(out, &ans, err);
}

/* ---- Label Studio ------------------------------------------------------------------------ */
static int ls_origin(const char *origin) {
  if (!origin) return BM_REVIEW_ORIGIN_UNKNOWN;
  if (!strcmp(origin, "prediction")) return BM_REVIEW_ORIGIN_PREDICTION;
  if (!strcmp(origin, "prediction-changed")) return BM_REVIEW_ORIGIN_CHANGED;
  if (!strcmp(origin, "manual")) return BM_REVIEW_ORIGIN_MANUAL;
  return BM_REVIEW_ORIGIN_UNKNOWN;
}

/* One rectanglelabels region -> a returned box in pixels. */
static int ls_region(const bm_review_queue *q, const bm_review_image *img, const bm_json *r,
                     bm_review_returned *out, bm_log *log, bm_error *err) {
  const bm_json *value = bm_json_get_typed(r, "value", BM_JSON_OBJECT, err);
  if (!value) return -1;
  double x, y, w, h, rotation = 0;
  if (bm_json_get_number(value, "x", &x, err) != 0 ||
      bm_json_get_number(value, "y", &y, err) != 0 ||
      bm_json_get_number(value, "width", &w, err) != 0 ||
      bm_json_get_number(value, "height", &h, err) != 0)
    return -1;
  if (bm_json_get(value, "rotation") &&
      bm_json_get_number(value, "rotation", &rotation, err) != 0)
    return -1;
  const bm_json *labels = bm_json_get_typed(value, "rectanglelabels", BM_JSON_ARRAY, err);
  if (!labels) return -1;
  if (bm_json_len(labels) != 1 || !bm_json_string(bm_json_at(labels, 0)))
    return bm_fail(err, "line %d: a region must have exactly one label, not %d", labels->line,
                   bm_json_len(labels));
  const char *name = bm_json_string(bm_json_at(labels, 0));
  out->class_id = bm_review_class_index(q, name);
  if (out->class_id < 0)
    return bm_fail(err, "line %d: image '%s': unknown class '%s'", labels->line, img->id, name);
  double W = img->width, H = img->height;
  double ow = bm_json_number(bm_json_get(r, "original_width"), W);
  double oh = bm_json_number(bm_json_get(r, "original_height"), H);
  if (ow != W || oh != H)
    bm_warn(log, "image '%s': Label Studio saw it as %gx%g, exported as %dx%d; using Label "
            "Studio's size", img->id, ow, oh, img->width, img->height);
  /* Label Studio rotates about the top-left corner, clockwise in degrees: take the
   * axis-aligned envelope of the rotated rectangle in pixels. */
  double px = x / 100.0 * ow, py = y / 100.0 * oh, pw = w / 100.0 * ow, ph = h / 100.0 * oh;
  double x1 = px, y1 = py, x2 = px + pw, y2 = py + ph;
  if (rotation != 0) {
    double a = rotation * M_PI / 180.0, c = cos(a), s = sin(a);
    double cx[4] = {0, pw, pw, 0}, cy[4] = {0, 0, ph, ph};
    x1 = y1 = INFINITY;
    x2 = y2 = -INFINITY;
    for (int k = 0; k < 4; k++) {
      double xx = px + cx[k] * c - cy[k] * s, yy = py + cx[k] * s + cy[k] * c;
      x1 = fmin(x1, xx);
      x2 = fmax(x2, xx);
      y1 = fmin(y1, yy);
      y2 = fmax(y2, yy);
    }
    bm_warn(log, "image '%s': a box rotated by %g degrees is read as its upright envelope",
            img->id, rotation);
  }
  if (!isfinite(x1) || !isfinite(y1) || !isfinite(x2) || !isfinite(y2) || x2 < x1 || y2 < y1)
    return bm_fail(err, "line %d: image '%s': not a box", r->line, img->id);
  out->x1 = (float)x1;
  out->y1 = (float)y1;
  out->x2 = (float)x2;
  out->y2 = (float)y2;
  return 0;
}

/* The annotation people submitted last (cancelled/skipped ones do not count), or NULL. */
static const bm_json *ls_pick_annotation(const bm_json *task) {
  const bm_json *anns = bm_json_get(task, "annotations");
  if (!anns || anns->type != BM_JSON_ARRAY) anns = bm_json_get(task, "completions");
  const bm_json *pick = NULL;
  for (int k = 0; k < bm_json_len(anns); k++) {
    const bm_json *a = bm_json_at(anns, k);
    if (a->type != BM_JSON_OBJECT) continue;
    const bm_json *cancelled = bm_json_get(a, "was_cancelled");
    if (cancelled && cancelled->type == BM_JSON_BOOL && cancelled->boolean) continue;
    pick = a;
  }
  return pick;
}

static int ls_task(const bm_review_queue *q, const bm_json *task, int t, returned_list *l,
                   bm_review_answers *out, const char *path, bm_log *log, bm_error *err) {
  if (task->type != BM_JSON_OBJECT)
    return bm_fail(err, "line %d: task %d is not an object", task->line, t);
  const bm_json *data = bm_json_get_typed(task, "data", BM_JSON_OBJECT, err);
  if (!data) return -1;
  const char *id = bm_json_string(bm_json_get(data, "bm_id"));
  if (!id)
    return bm_fail(err, "line %d: task %d has no data.bm_id (import boxmine's "
                   "label-studio-tasks.json into the project, not the images alone)",
                   task->line, t);
  int pos = bm_review_queue_find(q, id);
  if (pos < 0)
    return bm_fail(err, "line %d: image '%s' is not in round %d's queue", data->line, id,
                   q->round);
  const bm_json *ann = ls_pick_annotation(task);
  if (!ann) return 0; /* not labelled yet: stays queued */
  const bm_json *result = bm_json_get_typed(ann, "result", BM_JSON_ARRAY, err);
  if (!result) return -1;
  const bm_review_image *img = &q->images[pos];
  returned_clear(l);
  for (int k = 0; k < bm_json_len(result); k++) {
    const bm_json *r = bm_json_at(result, k);
    const char *type = bm_json_string(bm_json_get(r, "type"));
    if (!type) return bm_fail(err, "line %d: image '%s': a result without type", r->line, id);
    if (strcmp(type, "rectanglelabels") != 0) continue; /* choices: second pass */
    bm_review_returned box = {0};
    const char *rid = bm_json_string(bm_json_get(r, "id"));
    box.machine = parse_machine_id(rid);
    box.origin = ls_origin(bm_json_string(bm_json_get(r, "origin")));
    if (ls_region(q, img, r, &box, log, err) != 0) return -1;
    if (returned_push(l, &box, rid) != 0) return bm_fail(err, "out of memory");
  }
  /* per-region "difficult" choices share the region's id */
  for (int k = 0; k < bm_json_len(result); k++) {
    const bm_json *r = bm_json_at(result, k);
    const char *type = bm_json_string(bm_json_get(r, "type"));
    const char *from = bm_json_string(bm_json_get(r, "from_name"));
    const char *rid = bm_json_string(bm_json_get(r, "id"));
    if (!type || strcmp(type, "choices") != 0 || !from || strcmp(from, "difficult") != 0 || !rid)
      continue;
    const bm_json *choices = bm_json_get(bm_json_get(r, "value"), "choices");
    int difficult = 0;
    for (int c = 0; c < bm_json_len(choices); c++) {
      const char *s = bm_json_string(bm_json_at(choices, c));
      if (s && !strcmp(s, "difficult")) difficult = 1;
    }
    for (int i = 0; i < l->n; i++)
      if (l->ids[i] && !strcmp(l->ids[i], rid)) l->items[i].difficult = difficult;
  }
  double lead_time = bm_json_number(bm_json_get(ann, "lead_time"), NAN);
  if (!(lead_time >= 0)) lead_time = NAN;
  return finish_image(q, pos, l, BM_REVIEW_FROM_LABEL_STUDIO, lead_time, out, path, err);
}

int bm_review_import_label_studio(const bm_review_queue *q, const char *path,
                                  bm_review_answers *out, bm_log *log, bm_error *err) {
  memset(out, 0, sizeof *out);
  bm_json root;
  if (bm_json_parse_file(path, &root, err) != 0) return -1;
  int status = 0;
  returned_list l = {0};
  if (root.type != BM_JSON_ARRAY)
    status = bm_fail(err, "a Label Studio JSON export is an array of tasks, not a%s %s",
                     root.type == BM_JSON_OBJECT || root.type == BM_JSON_ARRAY ? "n" : "",
                     bm_json_type_name(root.type));
  for (int t = 0; status == 0 && t < root.n; t++)
    status = ls_task(q, &root.items[t], t, &l, out, path, log, err);
  returned_free(&l);
  bm_json_free(&root);
  if (status != 0) {
    bm_review_answers_free(out);
    if (strncmp(err->msg, path, strlen(path)) != 0) bm_fail_prefix(err, "%s", path);
    return -1;
  }
  return 0;
}

/* ---- CVAT for images 1.1 ----------------------------------------------------------------- */
typedef struct xml_failure {
  int seen, line;
  char message[256];
} xml_failure;

static void on_xml_error(void *user, xmlErrorPtr e) {
  xmlParserCtxtPtr ctxt = user;
  xml_failure *f = ctxt ? ctxt->_private : NULL;
  if (!f || f->seen || !e || e->level < XML_ERR_ERROR) return;
  f->seen = 1;
  f->line = e->line;
  snprintf(f->message, sizeof f->message, "%s", e->message ? e->message : "malformed XML");
  size_t n = strlen(f->message);
  while (n > 0 && (f->message[n - 1] == '\n' || f->message[n - 1] == ' ')) f->message[--n] = 0;
}

static int is_el(xmlNodePtr n, const char *name) {
  return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* Attribute as a number; missing or not a number is an error naming the element's line. */
static int attr_number(const char *path, xmlNodePtr n, const char *name, double *v,
                       bm_error *err) {
  xmlChar *s = xmlGetProp(n, (const xmlChar *)name);
  if (!s)
    return bm_fail(err, "%s:%ld: <%s> has no %s", path, xmlGetLineNo(n), (const char *)n->name,
                   name);
  char *end;
  *v = strtod((const char *)s, &end);
  int bad = end == (char *)s || *end != '\0' || !isfinite(*v);
  xmlFree(s);
  if (bad)
    return bm_fail(err, "%s:%ld: <%s %s> is not a number", path, xmlGetLineNo(n),
                   (const char *)n->name, name);
  return 0;
}

static int cvat_box(const char *path, const bm_review_queue *q, const bm_review_image *img,
                    xmlNodePtr n, bm_review_returned *box, bm_error *err) {
  xmlChar *label = xmlGetProp(n, (const xmlChar *)"label");
  if (!label) return bm_fail(err, "%s:%ld: <box> has no label", path, xmlGetLineNo(n));
  box->class_id = bm_review_class_index(q, (const char *)label);
  if (box->class_id < 0) {
    bm_fail(err, "%s:%ld: image '%s': unknown class '%s'", path, xmlGetLineNo(n), img->id,
            (const char *)label);
    xmlFree(label);
    return -1;
  }
  xmlFree(label);
  double v[4];
  const char *names[4] = {"xtl", "ytl", "xbr", "ybr"};
  for (int k = 0; k < 4; k++)
    if (attr_number(path, n, names[k], &v[k], err) != 0) return -1;
  if (v[2] < v[0] || v[3] < v[1])
    return bm_fail(err, "%s:%ld: <box> has xbr < xtl or ybr < ytl", path, xmlGetLineNo(n));
  box->x1 = (float)v[0];
  box->y1 = (float)v[1];
  box->x2 = (float)v[2];
  box->y2 = (float)v[3];
  box->machine = -1;
  box->origin = BM_REVIEW_ORIGIN_UNKNOWN;
  for (xmlNodePtr a = n->children; a; a = a->next) {
    if (!is_el(a, "attribute")) continue;
    xmlChar *name = xmlGetProp(a, (const xmlChar *)"name");
    xmlChar *text = xmlNodeGetContent(a);
    const char *t = text ? (const char *)text : "";
    if (name && !strcmp((const char *)name, "bm_box")) box->machine = parse_machine_id(t);
    if (name && !strcmp((const char *)name, "difficult"))
      box->difficult = !strcmp(t, "true") || !strcmp(t, "1");
    xmlFree(name);
    xmlFree(text);
  }
  return 0;
}

static int cvat_doc(const bm_review_queue *q, xmlNodePtr root, const char *path,
                    bm_review_answers *out, bm_log *log, bm_error *err) {
  if (!root || !is_el(root, "annotations"))
    return bm_fail(err, "%s: the root element is not <annotations> (CVAT for images 1.1)", path);
  returned_list l = {0};
  int status = 0;
  for (xmlNodePtr im = root->children; im && status == 0; im = im->next) {
    if (is_el(im, "track")) {
      bm_warn(log, "%s:%ld: <track> (CVAT for video) ignored", path, xmlGetLineNo(im));
      continue;
    }
    if (!is_el(im, "image")) continue;
    xmlChar *name = xmlGetProp(im, (const xmlChar *)"name");
    if (!name) {
      status = bm_fail(err, "%s:%ld: <image> has no name", path, xmlGetLineNo(im));
      break;
    }
    const char *base = bm_review_base_name((const char *)name);
    int pos = bm_strmap_get(&q->by_file, base);
    if (pos < 0) {
      status = bm_fail(err, "%s:%ld: image '%s' is not in round %d's queue", path,
                       xmlGetLineNo(im), (const char *)name, q->round);
      xmlFree(name);
      break;
    }
    xmlFree(name);
    returned_clear(&l);
    for (xmlNodePtr b = im->children; b && status == 0; b = b->next) {
      if (b->type != XML_ELEMENT_NODE) continue;
      if (!is_el(b, "box")) {
        bm_warn(log, "%s:%ld: <%s> ignored (boxmine reads boxes only)", path, xmlGetLineNo(b),
                (const char *)b->name);
        continue;
      }
      bm_review_returned box = {0};
      status = cvat_box(path, q, &q->images[pos], b, &box, err);
      if (status == 0 && returned_push(&l, &box, NULL) != 0)
        status = bm_fail(err, "out of memory");
    }
    if (status == 0)
      status = finish_image(q, pos, &l, BM_REVIEW_FROM_CVAT, NAN, out, path, err);
  }
  returned_free(&l);
  return status;
}

int bm_review_import_cvat(const bm_review_queue *q, const char *path, bm_review_answers *out,
                          bm_log *log, bm_error *err) {
  memset(out, 0, sizeof *out);
  char *data;
  size_t len;
  if (bm_read_file(path, &data, &len, err) != 0) return -1;
  if (len > (size_t)1 << 30) {
    bm_free(data);
    return bm_fail(err, "%s: larger than 1 GiB", path);
  }
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (!ctxt) {
    bm_free(data);
    return bm_fail(err, "%s: out of memory", path);
  }
  xml_failure failure = {0};
  ctxt->_private = &failure;
  ctxt->sax->serror = on_xml_error;
  /* no network, no entity substitution, no DTD loading: external entities stay unresolved */
  xmlDocPtr doc = xmlCtxtReadMemory(ctxt, data, (int)len, path, NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  int status;
  if (!doc) {
    status = bm_fail(err, "%s:%d: %s", path, failure.line,
                     failure.seen ? failure.message : "malformed XML");
  } else {
    status = cvat_doc(q, xmlDocGetRootElement(doc), path, out, log, err);
    xmlFreeDoc(doc);
  }
  xmlFreeParserCtxt(ctxt);
  bm_free(data);
  if (status != 0) bm_review_answers_free(out);
  return status;
}

/* ---- a folder of VOC XML files ----------------------------------------------------------- */
static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int bm_review_import_voc(const bm_review_queue *q, const char *dir, bm_review_answers *out,
                         bm_log *log, bm_error *err) {
  memset(out, 0, sizeof *out);
  DIR *d = opendir(dir);
  if (!d) return bm_fail(err, "%s: cannot open the folder", dir);
  char **names = NULL;
  int n = 0, cap = 0, status = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    size_t len = strlen(e->d_name);
    if (len <= 4 || strcmp(e->d_name + len - 4, ".xml") != 0 || e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **grown = bm_realloc(names, (size_t)cap * sizeof *grown);
      if (!grown) {
        status = bm_fail(err, "out of memory");
        break;
      }
      names = grown;
    }
    names[n] = bm_strdup(e->d_name);
    if (!names[n]) {
      status = bm_fail(err, "out of memory");
      break;
    }
    n++;
  }
  closedir(d);
  if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_names);
  returned_list l = {0};
  for (int i = 0; i < n && status == 0; i++) {
    names[i][strlen(names[i]) - 4] = '\0';
    int pos = bm_review_queue_find(q, names[i]);
    names[i][strlen(names[i])] = '.';
    if (pos < 0) {
      status = bm_fail(err, "%s/%s: image '%.*s' is not in round %d's queue", dir, names[i],
                       (int)strlen(names[i]) - 4, names[i], q->round);
      break;
    }
    char *path = bm_path_join(dir, names[i]);
    bm_voc_file file = {0};
    if (!path) {
      status = bm_fail(err, "out of memory");
      break;
    }
    status = bm_voc_parse_file(path, &file, err);
    returned_clear(&l);
    for (int k = 0; k < file.n_objects && status == 0; k++) {
      const bm_voc_object_raw *o = &file.objects[k];
      bm_review_returned box = {0};
      box.class_id = bm_review_class_index(q, o->name);
      if (box.class_id < 0) {
        status = bm_fail(err, "%s:%d: image '%s': unknown class '%s'", path, o->line,
                         q->images[pos].id, o->name);
        break;
      }
      box.x1 = o->x1;
      box.y1 = o->y1;
      box.x2 = o->x2;
      box.y2 = o->y2;
      box.difficult = o->difficult;
      box.machine = -1;
      if (returned_push(&l, &box, NULL) != 0) status = bm_fail(err, "out of memory");
    }
    if (status == 0) status = finish_image(q, pos, &l, BM_REVIEW_FROM_VOC, NAN, out, path, err);
    bm_voc_file_free(&file);
    bm_free(path);
  }
  (void)log;
  returned_free(&l);
  for (int i = 0; i < n; i++) bm_free(names[i]);
  bm_free(names);
  if (status != 0) bm_review_answers_free(out);
  return status;
}

int bm_review_import(const bm_review_queue *q, const char *path, bm_review_answers *out,
                     bm_log *log, bm_error *err) {
  if (bm_is_dir(path)) return bm_review_import_voc(q, path, out, log, err);
  size_t len = strlen(path);
  if (len >= 4 && !strcmp(path + len - 4, ".xml"))
    return bm_review_import_cvat(q, path, out, log, err);
  return bm_review_import_label_studio(q, path, out, log, err);
}
