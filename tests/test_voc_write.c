/* The VOC XML writer: exact text of integral and decimal coordinates, escaping, extra
 * per-object fragments, refusal of malformed fragments, and that the file parses with libxml2
 * into the fields we wrote (checked here with libxml2 directly, independent of boxmine's
 * reader; the reader round trip lives in test_voc.c). */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_data.h"
#include "testlib.h"

/* Text of the first element called name below node (depth-first), or "" (caller frees). */
static char *child_text(xmlNodePtr node, const char *name) {
  for (xmlNodePtr c = node->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    if (!strcmp((const char *)c->name, name)) {
      xmlChar *t = xmlNodeGetContent(c);
      char *out = strdup(t ? (const char *)t : "");
      xmlFree(t);
      return out;
    }
    char *deeper = child_text(c, name);
    if (deeper) return deeper;
  }
  return NULL;
}

static int text_equals(xmlNodePtr node, const char *name, const char *expected) {
  char *t = child_text(node, name);
  int same = t && !strcmp(t, expected);
  if (!same) fprintf(stderr, "  <%s> is '%s', expected '%s'\n", name, t ? t : "(none)", expected);
  free(t);
  return same;
}

static void test_write_and_parse(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/one.xml", dir);
  char *names[] = {"cat", "a&b<c>"};
  bm_object objs[3];
  memset(objs, 0, sizeof objs);
  objs[0] = (bm_object){.class_id = 0, .x1 = 12, .y1 = 5, .x2 = 100, .y2 = 80, .difficult = 1};
  strcpy(objs[0].pose, "Left");
  objs[1] = (bm_object){.class_id = 1, .x1 = 12.5f, .y1 = 0.25f, .x2 = 33.1f, .y2 = 40, .truncated = 1};
  objs[2] = (bm_object){.class_id = 0, .x1 = 1, .y1 = 1, .x2 = 2, .y2 = 2};
  const char *extra[] = {NULL, "<mined><score>0.9</score></mined>", NULL};
  bm_error err = {{0}};
  int rc = bm_voc_write_xml(path, "VOC2007", "one.jpg", 320, 240, 3, objs, 3, names, extra, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);

  char *text = NULL;
  size_t len = 0;
  CHECK(bm_read_file(path, &text, &len, &err) == 0);
  if (!text) return;
  /* Integers stay integers, decimals keep their value. */
  CHECK(strstr(text, "<xmin>12</xmin>") != NULL);
  CHECK(strstr(text, "<xmax>100</xmax>") != NULL);
  CHECK(strstr(text, "<xmin>12.5</xmin>") != NULL);
  CHECK(strstr(text, "<ymin>0.25</ymin>") != NULL);
  CHECK(strstr(text, "<xmax>33.1</xmax>") != NULL); /* 33.1f prints as 33.1 at 6 digits */
  CHECK(strstr(text, "a&amp;b&lt;c&gt;") != NULL);
  CHECK(strstr(text, "<pose>Unspecified</pose>") != NULL);
  CHECK(strstr(text, "<mined><score>0.9</score></mined>") != NULL);
  bm_free(text);

  xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
  CHECK(doc != NULL);
  if (!doc) return;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  CHECK(!strcmp((const char *)root->name, "annotation"));
  CHECK(text_equals(root, "folder", "VOC2007"));
  CHECK(text_equals(root, "filename", "one.jpg"));
  CHECK(text_equals(root, "width", "320"));
  CHECK(text_equals(root, "height", "240"));
  CHECK(text_equals(root, "depth", "3"));
  int n_objects = 0;
  for (xmlNodePtr c = root->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "object")) continue;
    if (n_objects == 0) {
      CHECK(text_equals(c, "name", "cat"));
      CHECK(text_equals(c, "pose", "Left"));
      CHECK(text_equals(c, "difficult", "1"));
      CHECK(text_equals(c, "truncated", "0"));
      CHECK(text_equals(c, "ymax", "80"));
    } else if (n_objects == 1) {
      CHECK(text_equals(c, "name", "a&b<c>"));
      CHECK(text_equals(c, "truncated", "1"));
      CHECK(text_equals(c, "score", "0.9"));
      char *x1 = child_text(c, "xmin");
      CHECK(x1 && strtof(x1, NULL) == 12.5f);
      free(x1);
      char *x2 = child_text(c, "xmax");
      CHECK(x2 && strtof(x2, NULL) == 33.1f);
      free(x2);
    }
    n_objects++;
  }
  CHECK(n_objects == 3);
  xmlFreeDoc(doc);
}

static void test_refusals(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/bad.xml", dir);
  char *names[] = {"cat", NULL}; /* the writer cannot know the list's length: ids must be valid */
  bm_object obj = {.class_id = 0, .x1 = 1, .y1 = 1, .x2 = 5, .y2 = 5};
  const char *extra[] = {"<open>never closed"};
  bm_error err = {{0}};
  CHECK(bm_voc_write_xml(path, "f", "bad.jpg", 10, 10, 3, &obj, 1, names, extra, &err) == -1);
  CHECK(strstr(err.msg, "bad.xml") != NULL);
  CHECK(!bm_file_exists(path)); /* nothing half-written */

  obj.class_id = 1; /* a hole in the list */
  CHECK(bm_voc_write_xml(path, "f", "bad.jpg", 10, 10, 3, &obj, 1, names, NULL, &err) == -1);
  CHECK(strstr(err.msg, "class id 1") != NULL);
  obj.class_id = -1;
  CHECK(bm_voc_write_xml(path, "f", "bad.jpg", 10, 10, 3, &obj, 1, names, NULL, &err) == -1);
  obj.class_id = 0;
  obj.x2 = NAN;
  CHECK(bm_voc_write_xml(path, "f", "bad.jpg", 10, 10, 3, &obj, 1, names, NULL, &err) == -1);
  CHECK(!bm_file_exists(path));

  /* An image without objects is a valid annotation (a negative). */
  CHECK(bm_voc_write_xml(path, NULL, "empty.jpg", 10, 10, 3, NULL, 0, NULL, NULL, &err) == 0);
  CHECK(bm_file_exists(path));
}

int main(void) {
  char dir[256];
  bm_test_tmpdir(dir, sizeof dir);
  test_write_and_parse(dir);
  test_refusals(dir);
  return bm_test_finish("test_voc_write");
}
