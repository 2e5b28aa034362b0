/* Reading one PASCAL VOC annotation file with libxml2.
 *
 * Accepted: any child order, unknown elements (ignored: path, source, segmented, part, ...),
 * attributes on <annotation> (verified="no"), integer or decimal coordinates, empty tags
 * (<difficult/> is 0). Numbers are plain decimals filling their element; an element read
 * here appears at most once where it is read (a second <bndbox> is an error); class names
 * pass bm_class_name_problem. Only direct children of <object> are read, so the <name> and <bndbox>
 * of a person's <part> elements never shadow the object's own.
 *
 * Errors from libxml2 are captured by a structured error handler installed on this call's own
 * parser context (the context's _private points at our record), so nothing global is touched
 * and nothing is printed. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

typedef struct xml_failure {
  int seen;
  int line;
  char message[256];
} xml_failure;

/* Keeps the first error: later ones are usually consequences of it. */
static void on_xml_error(void *user_data, xmlErrorPtr error) {
  xmlParserCtxtPtr ctxt = user_data;
  xml_failure *failure = ctxt ? ctxt->_private : NULL;
  if (!failure || failure->seen || !error || error->level < XML_ERR_ERROR) return;
  failure->seen = 1;
  failure->line = error->line;
  snprintf(failure->message, sizeof failure->message, "%s",
           error->message ? error->message : "malformed XML");
  size_t n = strlen(failure->message); /* libxml2 ends its messages with a newline */
  while (n > 0 && (failure->message[n - 1] == '\n' || failure->message[n - 1] == ' '))
    failure->message[--n] = '\0';
}

static int is_element(xmlNodePtr node, const char *name) {
  return node->type == XML_ELEMENT_NODE && !strcmp((const char *)node->name, name);
}

/* The one child <name> of parent in *out (NULL when absent); a second one is an error (a
 * second <bndbox> in an object used to be ignored silently: issue 16). */
static int only_child(const char *path, xmlNodePtr parent, const char *name, xmlNodePtr *out,
                      bm_error *err) {
  *out = NULL;
  for (xmlNodePtr c = parent->children; c; c = c->next) {
    if (!is_element(c, name)) continue;
    if (*out)
      return bm_fail(err, "%s:%ld: a second <%s> in <%s> (from line %ld)", path, xmlGetLineNo(c),
                     name, (const char *)parent->name, xmlGetLineNo(*out));
    *out = c;
  }
  return 0;
}

/* A plain decimal number filling the whole text: [+-] digits [. digits] [e [+-] digits], at
 * least one digit before the exponent. No hexadecimal, inf, nan or trailing characters,
 * which strtod alone would accept. */
static int is_decimal(const char *s) {
  if (*s == '+' || *s == '-') s++;
  int digits = 0;
  while (*s >= '0' && *s <= '9') s++, digits++;
  if (*s == '.') {
    s++;
    while (*s >= '0' && *s <= '9') s++, digits++;
  }
  if (!digits) return 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '+' || *s == '-') s++;
    if (!(*s >= '0' && *s <= '9')) return 0;
    while (*s >= '0' && *s <= '9') s++;
  }
  return *s == '\0';
}

/* Trimmed text content of node (bm_free), "" for empty tags. */
static char *trimmed_text(xmlNodePtr node) {
  xmlChar *raw = xmlNodeGetContent(node);
  const char *s = raw ? (const char *)raw : "";
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
    n--;
  char *out = bm_malloc(n + 1);
  if (out) {
    memcpy(out, s, n);
    out[n] = '\0';
  }
  xmlFree(raw);
  return out;
}

/* Reads a number from child <name> of parent. Absent or empty: *value = empty_value when
 * allowed, else an error. */
static int read_number(const char *path, xmlNodePtr parent, const char *name, int required,
                       double *value, bm_error *err) {
  xmlNodePtr node;
  if (only_child(path, parent, name, &node, err)) return -1;
  if (!node) {
    if (required) return bm_fail(err, "%s:%ld: <%s> has no <%s>", path,
                                 xmlGetLineNo(parent), (const char *)parent->name, name);
    *value = 0;
    return 0;
  }
  char *text = trimmed_text(node);
  if (!text) return bm_fail(err, "%s: out of memory", path);
  int status = 0;
  if (!*text) {
    if (required) status = bm_fail(err, "%s:%ld: <%s> is empty", path, xmlGetLineNo(node), name);
    *value = 0;
  } else {
    double v = is_decimal(text) ? strtod(text, NULL) : NAN;
    if (!isfinite(v))
      status = bm_fail(err, "%s:%ld: <%s> is '%s', not a decimal number", path,
                       xmlGetLineNo(node), name, text);
    else *value = v;
  }
  bm_free(text);
  return status;
}

/* truncated / difficult: empty or absent = 0, any non-zero number = 1. */
static int read_flag(const char *path, xmlNodePtr object, const char *name, int *flag,
                     bm_error *err) {
  double v;
  if (read_number(path, object, name, 0, &v, err) != 0) return -1;
  *flag = v != 0;
  return 0;
}

static int read_size(const char *path, xmlNodePtr root, bm_voc_file *out, bm_error *err) {
  xmlNodePtr size;
  if (only_child(path, root, "size", &size, err)) return -1;
  if (!size) return 0; /* unknown size: the image's header will tell */
  const char *fields[3] = {"width", "height", "depth"};
  int *targets[3] = {&out->width, &out->height, &out->depth};
  for (int i = 0; i < 3; i++) {
    double v;
    if (read_number(path, size, fields[i], 0, &v, err) != 0) return -1;
    if (v < 0 || v > 1e6 || v != floor(v))
      return bm_fail(err, "%s:%ld: <%s> is %g, not a pixel count", path, xmlGetLineNo(size),
                     fields[i], v);
    *targets[i] = (int)v;
  }
  return 0;
}

static int read_object(const char *path, xmlNodePtr node, bm_voc_object_raw *obj,
                       bm_error *err) {
  obj->line = (int)xmlGetLineNo(node);
  xmlNodePtr name, pose, box;
  if (only_child(path, node, "name", &name, err) || only_child(path, node, "pose", &pose, err) ||
      only_child(path, node, "bndbox", &box, err))
    return -1;
  if (!name) return bm_fail(err, "%s:%d: <object> has no <name>", path, obj->line);
  obj->name = trimmed_text(name);
  if (!obj->name) return bm_fail(err, "%s: out of memory", path);
  if (!*obj->name) return bm_fail(err, "%s:%ld: <name> is empty", path, xmlGetLineNo(name));
  const char *why = bm_class_name_problem(obj->name);
  if (why) {
    char shown[128];
    return bm_fail(err, "%s:%ld: class name '%s' %s", path, xmlGetLineNo(name),
                   bm_printable(obj->name, shown, sizeof shown), why);
  }
  if (pose) {
    char *text = trimmed_text(pose);
    if (!text) return bm_fail(err, "%s: out of memory", path);
    snprintf(obj->pose, sizeof obj->pose, "%s", text);
    bm_free(text);
  }
  if (read_flag(path, node, "truncated", &obj->truncated, err) != 0) return -1;
  if (read_flag(path, node, "difficult", &obj->difficult, err) != 0) return -1;
  if (!box) return bm_fail(err, "%s:%d: <object> '%s' has no <bndbox>", path, obj->line, obj->name);
  const char *fields[4] = {"xmin", "ymin", "xmax", "ymax"};
  float *targets[4] = {&obj->x1, &obj->y1, &obj->x2, &obj->y2};
  for (int i = 0; i < 4; i++) {
    double v;
    if (read_number(path, box, fields[i], 1, &v, err) != 0) return -1;
    if (fabs(v) > 1e7)
      return bm_fail(err, "%s:%ld: <%s> %g is beyond any image", path, xmlGetLineNo(box),
                     fields[i], v);
    *targets[i] = (float)v;
  }
  return 0;
}

static int read_annotation(const char *path, xmlNodePtr root, bm_voc_file *out, bm_error *err) {
  if (!root || strcmp((const char *)root->name, "annotation") != 0)
    return bm_fail(err, "%s:%ld: root element is <%s>, expected <annotation>", path,
                   root ? xmlGetLineNo(root) : 0L, root ? (const char *)root->name : "");
  xmlNodePtr filename;
  if (only_child(path, root, "filename", &filename, err)) return -1;
  if (filename) {
    out->filename = trimmed_text(filename);
    if (!out->filename) return bm_fail(err, "%s: out of memory", path);
    if (!*out->filename) {
      bm_free(out->filename);
      out->filename = NULL;
    }
  }
  if (read_size(path, root, out, err) != 0) return -1;
  int n = 0;
  for (xmlNodePtr c = root->children; c; c = c->next) n += is_element(c, "object");
  if (n > 0) {
    out->objects = bm_calloc((size_t)n, sizeof *out->objects);
    if (!out->objects) return bm_fail(err, "%s: out of memory", path);
  }
  for (xmlNodePtr c = root->children; c; c = c->next) {
    if (!is_element(c, "object")) continue;
    /* counted before reading so a failure leaves every allocated name reachable */
    bm_voc_object_raw *obj = &out->objects[out->n_objects++];
    if (read_object(path, c, obj, err) != 0) return -1;
  }
  return 0;
}

int bm_voc_parse_memory(const char *path, const char *data, size_t len, bm_voc_file *out,
                        bm_error *err) {
  memset(out, 0, sizeof *out);
  if (len > (size_t)0x7fffffff) return bm_fail(err, "%s: file too large", path);
  xmlInitParser(); /* idempotent; libxml2 asks for it before first use */
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (!ctxt) return bm_fail(err, "%s: out of memory", path);
  xml_failure failure = {0};
  ctxt->_private = &failure;
  ctxt->sax->serror = on_xml_error;
  /* NONET: never fetch anything; no NOENT/DTDLOAD, so no external entities are expanded. */
  xmlDocPtr doc = xmlCtxtReadMemory(ctxt, data, (int)len, path, NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  int status;
  if (!doc || failure.seen || !ctxt->wellFormed) {
    if (failure.seen)
      status = bm_fail(err, "%s:%d: malformed XML: %s", path, failure.line, failure.message);
    else status = bm_fail(err, "%s: malformed XML", path);
  } else {
    status = read_annotation(path, xmlDocGetRootElement(doc), out, err);
  }
  xmlFreeDoc(doc);
  xmlFreeParserCtxt(ctxt);
  if (status != 0) bm_voc_file_free(out);
  return status;
}

int bm_voc_parse_file(const char *path, bm_voc_file *out, bm_error *err) {
  memset(out, 0, sizeof *out);
  char *data;
  size_t len;
  if (bm_read_file(path, &data, &len, err) != 0) return -1;
  int status = bm_voc_parse_memory(path, data, len, out, err);
  bm_free(data);
  return status;
}

void bm_voc_file_free(bm_voc_file *file) {
  for (int i = 0; i < file->n_objects; i++) bm_free(file->objects[i].name);
  bm_free(file->objects);
  bm_free(file->filename);
  memset(file, 0, sizeof *file);
}
