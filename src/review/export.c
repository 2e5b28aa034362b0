/* Writing a review queue as Label Studio tasks, CVAT 1.1 XML and VOC XML (docs/REVIEW.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_review.h"
#include "review/review_internal.h"

void bm_review_export_opts_default(bm_review_export_opts *opts) {
  opts->url_prefix = "/data/local-files/?d=";
}

void bm_review_put_xml(bm_buf *out, const char *s) {
  for (const char *p = s; *p; p++) {
    switch (*p) {
      case '&': bm_buf_puts(out, "&amp;"); break;
      case '<': bm_buf_puts(out, "&lt;"); break;
      case '>': bm_buf_puts(out, "&gt;"); break;
      case '"': bm_buf_puts(out, "&quot;"); break;
      case '\'': bm_buf_puts(out, "&apos;"); break;
      default: bm_buf_append(out, p, 1);
    }
  }
}

/* A coordinate as the shortest decimal that reads back as the same float. */
static void put_number(bm_buf *out, double value) {
  char text[64];
  for (int digits = 6; digits <= 17; digits++) {
    snprintf(text, sizeof text, "%.*g", digits, value);
    if (strtod(text, NULL) == value) break;
  }
  bm_buf_puts(out, text);
}

void bm_review_label_studio_tasks(const bm_review_queue *q, const bm_review_export_opts *opts,
                                  bm_buf *out) {
  bm_review_export_opts defaults;
  if (!opts) {
    bm_review_export_opts_default(&defaults);
    opts = &defaults;
  }
  bm_buf url;
  bm_buf_init(&url);
  bm_buf_puts(out, "[");
  for (int i = 0; i < q->n_images; i++) {
    const bm_review_image *img = &q->images[i];
    url.len = 0;
    bm_buf_puts(&url, opts->url_prefix ? opts->url_prefix : "");
    bm_buf_puts(&url, img->file[0] == '/' ? img->file + 1 : img->file);
    bm_buf_puts(out, i ? ",\n" : "\n");
    bm_buf_puts(out, "{\"data\":{\"image\":");
    bm_buf_json_string(out, url.data);
    bm_buf_puts(out, ",\"bm_id\":");
    bm_buf_json_string(out, img->id);
    bm_buf_printf(out, ",\"bm_round\":%d},\"predictions\":[{\"model_version\":", q->round);
    bm_buf_json_string(out, q->model_version);
    double mean = 0;
    for (int b = 0; b < img->n_boxes; b++) mean += img->boxes[b].score;
    bm_buf_puts(out, ",\"score\":");
    bm_buf_json_number(out, img->n_boxes ? mean / img->n_boxes : 0.0);
    bm_buf_puts(out, ",\"result\":[");
    for (int b = 0; b < img->n_boxes; b++) {
      const bm_review_box *box = &img->boxes[b];
      double W = img->width, H = img->height;
      if (b) bm_buf_puts(out, ",");
      bm_buf_printf(out,
                    "\n {\"id\":\"%d\",\"type\":\"rectanglelabels\",\"from_name\":\"label\","
                    "\"to_name\":\"image\",\"original_width\":%d,\"original_height\":%d,"
                    "\"image_rotation\":0,\"value\":{\"x\":",
                    b, img->width, img->height);
      put_number(out, box->x1 / W * 100.0);
      bm_buf_puts(out, ",\"y\":");
      put_number(out, box->y1 / H * 100.0);
      bm_buf_puts(out, ",\"width\":");
      put_number(out, ((double)box->x2 - box->x1) / W * 100.0);
      bm_buf_puts(out, ",\"height\":");
      put_number(out, ((double)box->y2 - box->y1) / H * 100.0);
      bm_buf_puts(out, ",\"rotation\":0,\"rectanglelabels\":[");
      bm_buf_json_string(out, q->class_names[box->class_id]);
      bm_buf_puts(out, "]},\"score\":");
      bm_buf_json_float(out, box->score);
      bm_buf_puts(out, "}");
    }
    bm_buf_puts(out, "]}]}");
  }
  bm_buf_puts(out, "\n]\n");
  bm_buf_free(&url);
}

void bm_review_label_studio_config(const bm_review_queue *q, bm_buf *out) {
  bm_buf_puts(out, "<View>\n  <Image name=\"image\" value=\"$image\" zoom=\"true\"/>\n"
                   "  <RectangleLabels name=\"label\" toName=\"image\">\n");
  for (int c = 0; c < q->n_classes; c++) {
    bm_buf_puts(out, "    <Label value=\"");
    bm_review_put_xml(out, q->class_names[c]);
    bm_buf_puts(out, "\"/>\n");
  }
  bm_buf_puts(out, "  </RectangleLabels>\n"
                   "  <Choices name=\"difficult\" toName=\"image\" perRegion=\"true\">\n"
                   "    <Choice value=\"difficult\"/>\n  </Choices>\n</View>\n");
}

void bm_review_cvat_labels(const bm_review_queue *q, bm_buf *out) {
  bm_buf_puts(out, "[");
  for (int c = 0; c < q->n_classes; c++) {
    bm_buf_puts(out, c ? ",\n" : "\n");
    bm_buf_puts(out, "{\"name\":");
    bm_buf_json_string(out, q->class_names[c]);
    bm_buf_puts(out,
                ",\"type\":\"rectangle\",\"attributes\":["
                "{\"name\":\"score\",\"mutable\":false,\"input_type\":\"number\","
                "\"default_value\":\"0\",\"values\":[\"0\",\"1\",\"0.0001\"]},"
                "{\"name\":\"bm_box\",\"mutable\":false,\"input_type\":\"text\","
                "\"default_value\":\"\",\"values\":[\"\"]},"
                "{\"name\":\"difficult\",\"mutable\":false,\"input_type\":\"checkbox\","
                "\"default_value\":\"false\",\"values\":[\"false\"]}]}");
  }
  bm_buf_puts(out, "\n]\n");
}

void bm_review_cvat_xml(const bm_review_queue *q, bm_buf *out) {
  bm_buf_puts(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<annotations>\n"
                   "  <version>1.1</version>\n  <meta>\n    <task>\n");
  bm_buf_printf(out, "      <name>boxmine round %d</name>\n      <size>%d</size>\n"
                     "      <mode>annotation</mode>\n      <labels>\n",
                q->round, q->n_images);
  for (int c = 0; c < q->n_classes; c++) {
    bm_buf_puts(out, "        <label>\n          <name>");
    bm_review_put_xml(out, q->class_names[c]);
    bm_buf_puts(out,
                "</name>\n          <type>rectangle</type>\n          <attributes>\n"
                "            <attribute><name>score</name><mutable>False</mutable>"
                "<input_type>number</input_type><default_value>0</default_value>"
                "<values>0\n1\n0.0001</values></attribute>\n"
                "            <attribute><name>bm_box</name><mutable>False</mutable>"
                "<input_type>text</input_type><default_value></default_value>"
                "<values></values></attribute>\n"
                "            <attribute><name>difficult</name><mutable>False</mutable>"
                "<input_type>checkbox</input_type><default_value>false</default_value>"
                "<values>false</values></attribute>\n"
                "          </attributes>\n        </label>\n");
  }
  bm_buf_puts(out, "      </labels>\n    </task>\n  </meta>\n");
  for (int i = 0; i < q->n_images; i++) {
    const bm_review_image *img = &q->images[i];
    bm_buf_printf(out, "  <image id=\"%d\" name=\"", i);
    bm_review_put_xml(out, bm_review_base_name(img->file));
    bm_buf_printf(out, "\" width=\"%d\" height=\"%d\">\n", img->width, img->height);
    for (int b = 0; b < img->n_boxes; b++) {
      const bm_review_box *box = &img->boxes[b];
      bm_buf_puts(out, "    <box label=\"");
      bm_review_put_xml(out, q->class_names[box->class_id]);
      bm_buf_puts(out, "\" source=\"auto\" occluded=\"0\" xtl=\"");
      put_number(out, box->x1);
      bm_buf_puts(out, "\" ytl=\"");
      put_number(out, box->y1);
      bm_buf_puts(out, "\" xbr=\"");
      put_number(out, box->x2);
      bm_buf_puts(out, "\" ybr=\"");
      put_number(out, box->y2);
      bm_buf_puts(out, "\" z_order=\"0\">\n      <attribute name=\"score\">");
      put_number(out, box->score);
      bm_buf_printf(out, "</attribute>\n      <attribute name=\"bm_box\">%d</attribute>\n"
                         "      <attribute name=\"difficult\">false</attribute>\n    </box>\n",
                    b);
    }
    bm_buf_puts(out, "  </image>\n");
  }
  bm_buf_puts(out, "</annotations>\n");
}

static int write_buf(const char *dir, const char *name, const bm_buf *buf, bm_error *err) {
  if (buf->failed) return bm_fail(err, "%s/%s: out of memory", dir, name);
  char *path = bm_path_join(dir, name);
  if (!path) return bm_fail(err, "out of memory");
  int status = bm_write_file_atomic(path, buf->data ? buf->data : "", buf->len, err);
  bm_free(path);
  return status;
}

static int write_voc(const bm_review_queue *q, const char *dir, bm_error *err) {
  char *voc_dir = bm_path_join(dir, "voc");
  if (!voc_dir || bm_mkdir_p(voc_dir, err) != 0) {
    bm_free(voc_dir);
    return voc_dir ? -1 : bm_fail(err, "out of memory");
  }
  int status = 0;
  for (int i = 0; i < q->n_images && status == 0; i++) {
    const bm_review_image *img = &q->images[i];
    int n = img->n_boxes;
    bm_object *objects = n ? bm_calloc((size_t)n, sizeof *objects) : NULL;
    char **extra = n ? bm_calloc((size_t)n, sizeof *extra) : NULL;
    bm_buf name;
    bm_buf_init(&name);
    bm_buf_puts(&name, img->id);
    bm_buf_puts(&name, ".xml");
    char *path = bm_path_join(voc_dir, name.data);
    if ((n && (!objects || !extra)) || !path || name.failed) {
      status = bm_fail(err, "out of memory");
    } else {
      for (int b = 0; b < n && status == 0; b++) {
        const bm_review_box *box = &img->boxes[b];
        objects[b].class_id = box->class_id;
        objects[b].x1 = box->x1;
        objects[b].y1 = box->y1;
        objects[b].x2 = box->x2;
        objects[b].y2 = box->y2;
        bm_buf frag;
        bm_buf_init(&frag);
        bm_buf_puts(&frag, "<score>");
        put_number(&frag, box->score);
        bm_buf_printf(&frag, "</score><bm_box>%d</bm_box>", b);
        extra[b] = frag.data; /* owned now */
        if (frag.failed || !extra[b]) status = bm_fail(err, "out of memory");
      }
      if (status == 0)
        status = bm_voc_write_xml(path, "review", bm_review_base_name(img->file), img->width,
                                  img->height, 3, objects, n, q->class_names,
                                  (const char *const *)extra, err);
    }
    for (int b = 0; b < n && extra; b++) bm_free(extra[b]);
    bm_free(extra);
    bm_free(objects);
    bm_free(path);
    bm_buf_free(&name);
  }
  bm_free(voc_dir);
  return status;
}

int bm_review_export_dir(const bm_review_queue *q, const bm_review_export_opts *opts,
                         const char *dir, bm_error *err) {
  if (bm_mkdir_p(dir, err) != 0) return -1;
  bm_buf buf;
  int status = 0;
  for (int part = 0; part < 5 && status == 0; part++) {
    bm_buf_init(&buf);
    const char *name = NULL;
    switch (part) {
      case 0: name = "label-studio-tasks.json"; bm_review_label_studio_tasks(q, opts, &buf); break;
      case 1: name = "label-studio-config.xml"; bm_review_label_studio_config(q, &buf); break;
      case 2: name = "cvat-annotations.xml"; bm_review_cvat_xml(q, &buf); break;
      case 3: name = "cvat-labels.json"; bm_review_cvat_labels(q, &buf); break;
      /* the manifest last: its presence says the export is complete */
      case 4: name = "manifest.json"; bm_review_manifest_json(q, &buf); break;
    }
    if (part == 4) status = write_voc(q, dir, err);
    if (status == 0) status = write_buf(dir, name, &buf, err);
    bm_buf_free(&buf);
  }
  return status;
}
