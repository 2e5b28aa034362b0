/* Writing one PASCAL VOC annotation file.
 *
 * The layout follows the VOC devkit's files: folder, filename, size, segmented, then one
 * <object> per box with name, pose, truncated, difficult and bndbox. Coordinates that are
 * whole numbers are written as integers (as in every VOC release); others get the shortest
 * decimal that reads back as the same float, so a write/read round trip is exact. The text is
 * checked to be well-formed XML (caller-supplied fragments included) before it is written
 * atomically, so a bad fragment never leaves a file that later fails to load. */
#include <libxml/parser.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_data.h"

/* Appends s with the five XML special characters escaped. */
static void put_xml_text(bm_buf *buf, const char *s) {
  for (const char *p = s; *p; p++) {
    switch (*p) {
      case '&': bm_buf_puts(buf, "&amp;"); break;
      case '<': bm_buf_puts(buf, "&lt;"); break;
      case '>': bm_buf_puts(buf, "&gt;"); break;
      case '"': bm_buf_puts(buf, "&quot;"); break;
      case '\'': bm_buf_puts(buf, "&apos;"); break;
      default: bm_buf_append(buf, p, 1);
    }
  }
}

/* Integral values as "%d"; others with the fewest significant digits (6..9) that parse back
 * to the identical float. */
static void put_coordinate(bm_buf *buf, float value) {
  if (value == floorf(value) && fabsf(value) < 1e9f) {
    bm_buf_printf(buf, "%ld", (long)value);
    return;
  }
  char text[64];
  for (int digits = 6; digits <= 9; digits++) {
    snprintf(text, sizeof text, "%.*g", digits, (double)value);
    if (strtof(text, NULL) == value) break;
  }
  bm_buf_puts(buf, text);
}

static void put_box_field(bm_buf *buf, const char *tag, float value) {
  bm_buf_printf(buf, "\t\t\t<%s>", tag);
  put_coordinate(buf, value);
  bm_buf_printf(buf, "</%s>\n", tag);
}

static int text_is_well_formed(const char *path, const bm_buf *buf, bm_error *err) {
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if (!ctxt) return bm_fail(err, "%s: out of memory", path);
  xmlDocPtr doc = xmlCtxtReadMemory(ctxt, buf->data, (int)buf->len, path, NULL,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  int status = 0;
  if (!doc) {
    const xmlError *xml_err = xmlCtxtGetLastError(ctxt);
    status = bm_fail(err, "%s: refusing to write malformed XML (line %d: %s); check the extra "
                     "object fragments", path, xml_err ? xml_err->line : 0,
                     xml_err && xml_err->message ? xml_err->message : "unknown error");
  }
  xmlFreeDoc(doc);
  xmlFreeParserCtxt(ctxt);
  return status;
}

int bm_voc_write_xml(const char *path, const char *folder, const char *filename, int width,
                     int height, int depth, const bm_object *objects, int n_objects,
                     char *const *class_names, const char *const *object_extra_xml,
                     bm_error *err) {
  if (!filename || !*filename) return bm_fail(err, "%s: no image file name given", path);
  if (width < 0 || height < 0 || depth < 0)
    return bm_fail(err, "%s: negative image size %dx%dx%d", path, width, height, depth);
  if (n_objects > 0 && !class_names)
    return bm_fail(err, "%s: objects given without class names", path);
  for (int i = 0; i < n_objects; i++) {
    const bm_object *obj = &objects[i];
    if (obj->class_id < 0 || obj->class_id >= BM_MAX_CLASSES || !class_names[obj->class_id])
      return bm_fail(err, "%s: object %d has class id %d with no name", path, i, obj->class_id);
    if (!isfinite(obj->x1) || !isfinite(obj->y1) || !isfinite(obj->x2) || !isfinite(obj->y2))
      return bm_fail(err, "%s: object %d has a non-finite coordinate", path, i);
  }

  bm_buf buf;
  bm_buf_init(&buf);
  bm_buf_puts(&buf, "<annotation>\n\t<folder>");
  put_xml_text(&buf, folder ? folder : "");
  bm_buf_puts(&buf, "</folder>\n\t<filename>");
  put_xml_text(&buf, filename);
  bm_buf_puts(&buf, "</filename>\n");
  bm_buf_printf(&buf,
                "\t<size>\n\t\t<width>%d</width>\n\t\t<height>%d</height>\n"
                "\t\t<depth>%d</depth>\n\t</size>\n\t<segmented>0</segmented>\n",
                width, height, depth);
  for (int i = 0; i < n_objects; i++) {
    const bm_object *obj = &objects[i];
    bm_buf_puts(&buf, "\t<object>\n\t\t<name>");
    put_xml_text(&buf, class_names[obj->class_id]);
    bm_buf_puts(&buf, "</name>\n\t\t<pose>");
    char pose[sizeof obj->pose + 1];
    memcpy(pose, obj->pose, sizeof obj->pose);
    pose[sizeof obj->pose] = '\0'; /* the field may be filled to the brim */
    put_xml_text(&buf, pose[0] ? pose : "Unspecified");
    bm_buf_printf(&buf,
                  "</pose>\n\t\t<truncated>%d</truncated>\n\t\t<difficult>%d</difficult>\n"
                  "\t\t<bndbox>\n",
                  obj->truncated ? 1 : 0, obj->difficult ? 1 : 0);
    put_box_field(&buf, "xmin", obj->x1);
    put_box_field(&buf, "ymin", obj->y1);
    put_box_field(&buf, "xmax", obj->x2);
    put_box_field(&buf, "ymax", obj->y2);
    bm_buf_puts(&buf, "\t\t</bndbox>\n");
    if (object_extra_xml && object_extra_xml[i]) {
      bm_buf_puts(&buf, "\t\t");
      bm_buf_puts(&buf, object_extra_xml[i]);
      bm_buf_puts(&buf, "\n");
    }
    bm_buf_puts(&buf, "\t</object>\n");
  }
  bm_buf_puts(&buf, "</annotation>\n");
  if (buf.failed) {
    bm_buf_free(&buf);
    return bm_fail(err, "%s: out of memory", path);
  }
  int status = text_is_well_formed(path, &buf, err);
  if (status == 0) status = bm_write_file_atomic(path, buf.data, buf.len, err);
  bm_buf_free(&buf);
  return status;
}
