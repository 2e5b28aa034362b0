/* A detector in files: its checkpoint sections, loading a checkpoint for detection, and
 * export to darknet's .weights and .cfg. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "det/det_internal.h"

int det_save_sections(const bm_detector *det, bm_ckpt_writer *w) {
  bm_buf classes;
  bm_buf_init(&classes);
  for (int c = 0; c < det->n_classes; c++) {
    if (c) bm_buf_puts(&classes, "\n");
    bm_buf_puts(&classes, det->class_names[c]);
  }
  int64_t seen = (int64_t)bm_net_seen(det->net);
  bm_network *net = det->net;
  bm_ckpt_add_string(w, "detector.cfg", det->cfg_text);
  bm_ckpt_add_string(w, "detector.cfg_name", det->cfg_name);
  bm_ckpt_add_string(w, "detector.classes", classes.failed ? "" : classes.data);
  bm_ckpt_add_f32(w, "detector.params", bm_net_params(net), bm_net_n_params(net));
  bm_ckpt_add_f32(w, "detector.state", bm_net_state(net), bm_net_n_state(net));
  int rc = bm_ckpt_add_i64(w, "detector.seen", &seen, 1);
  int failed = classes.failed;
  bm_buf_free(&classes);
  return failed ? -1 : rc;
}

/* Splits "a\nb\nc" into a new array of n new strings. */
static char **split_lines(const char *text, int *n_out) {
  int n = 1;
  for (const char *p = text; *p; p++) n += *p == '\n';
  char **names = bm_calloc((size_t)n, sizeof *names);
  if (!names) return NULL;
  const char *start = text;
  for (int k = 0; k < n; k++) {
    const char *end = strchr(start, '\n');
    size_t len = end ? (size_t)(end - start) : strlen(start);
    names[k] = bm_malloc(len + 1);
    if (!names[k]) {
      for (int j = 0; j < k; j++) bm_free(names[j]);
      bm_free(names);
      return NULL;
    }
    memcpy(names[k], start, len);
    names[k][len] = '\0';
    start = end ? end + 1 : start + len;
  }
  *n_out = n;
  return names;
}

int det_load_sections(bm_detector **out, const bm_ckpt_reader *r, int batch, bm_log *log,
                      bm_error *err) {
  *out = NULL;
  char *cfg = NULL, *cfg_name = NULL, *classes = NULL;
  char **names = NULL;
  int n_names = 0, rc = -1;
  bm_detector *det = NULL;
  if (bm_ckpt_read_string(r, "detector.cfg", &cfg, err) ||
      bm_ckpt_read_string(r, "detector.cfg_name", &cfg_name, err) ||
      bm_ckpt_read_string(r, "detector.classes", &classes, err))
    goto done;
  if (!classes[0]) {
    bm_fail(err, "%s: the checkpoint has an empty class list", r->path);
    goto done;
  }
  if (!(names = split_lines(classes, &n_names))) {
    bm_fail(err, "out of memory");
    goto done;
  }
  for (int k = 0; k < n_names; k++) {
    const char *why = bm_class_name_problem(names[k]);
    if (why) {
      char shown[128];
      bm_fail(err, "%s: detector.classes: line %d: class name '%s' %s", r->path, k + 1,
              bm_printable(names[k], shown, sizeof shown), why);
      goto done;
    }
  }
  bm_rng rng; /* the weights are replaced by the checkpoint's right away */
  bm_rng_seed(&rng, 0, 0);
  if (bm_detector_create(&det, cfg, cfg_name, n_names, names, batch, &rng, log, err)) {
    bm_fail_prefix(err, "%s: its cfg", r->path);
    goto done;
  }
  size_t n_params = 0, n_state = 0;
  if (bm_ckpt_count(r, "detector.params", BM_CKPT_F32, &n_params, err) ||
      bm_ckpt_count(r, "detector.state", BM_CKPT_F32, &n_state, err))
    goto done;
  if (n_params != bm_net_n_params(det->net) || n_state != bm_net_n_state(det->net)) {
    bm_fail(err, "%s: holds %zu parameters and %zu state values, but its cfg with %d classes "
            "builds a network of %zu and %zu", r->path, n_params, n_state, n_names,
            bm_net_n_params(det->net), bm_net_n_state(det->net));
    goto done;
  }
  int64_t seen = 0;
  if (bm_ckpt_read_f32(r, "detector.params", bm_net_params(det->net), n_params, err) ||
      bm_ckpt_read_f32(r, "detector.state", bm_net_state(det->net), n_state, err) ||
      bm_ckpt_read_i64(r, "detector.seen", &seen, 1, err))
    goto done;
  if (seen < 0) {
    bm_fail(err, "%s: detector.seen: %lld images seen, must be >= 0", r->path, (long long)seen);
    goto done;
  }
  bm_net_set_seen(det->net, (uint64_t)seen);
  *out = det;
  det = NULL;
  rc = 0;
done:
  bm_detector_free(det);
  for (int k = 0; k < n_names; k++) bm_free(names[k]);
  bm_free(names);
  bm_free(cfg);
  bm_free(cfg_name);
  bm_free(classes);
  return rc;
}

int bm_detector_load(bm_detector **out, const char *ckpt_path, int batch, bm_log *log,
                     bm_error *err) {
  *out = NULL;
  bm_ckpt_reader r;
  if (bm_ckpt_open(&r, ckpt_path, err)) return -1;
  char *kind = NULL;
  int rc = -1;
  if (!bm_ckpt_find(&r, "boxmine.kind") || bm_ckpt_read_string(&r, "boxmine.kind", &kind, err) ||
      strcmp(kind, DET_CKPT_KIND)) {
    bm_fail(err, "%s: not a boxmine detector checkpoint (no '%s' kind section)", ckpt_path,
            DET_CKPT_KIND);
  } else {
    rc = det_load_sections(out, &r, batch, log, err);
  }
  bm_free(kind);
  bm_ckpt_close(&r);
  return rc;
}

/* ---- darknet export ---------------------------------------------------------------------- */

/* Is line (without its newline) a section header "[name]" (spaces allowed around)? */
static int is_section(const char *line, size_t len, const char *name) {
  while (len && isspace((unsigned char)*line)) line++, len--;
  while (len && isspace((unsigned char)line[len - 1])) len--;
  size_t n = strlen(name);
  return len == n + 2 && line[0] == '[' && line[len - 1] == ']' && !strncmp(line + 1, name, n);
}
static int is_any_section(const char *line, size_t len) {
  while (len && isspace((unsigned char)*line)) line++, len--;
  return len && line[0] == '[';
}
/* Is line "key = value" for this key? */
static int is_key(const char *line, size_t len, const char *key) {
  while (len && isspace((unsigned char)*line)) line++, len--;
  size_t n = strlen(key);
  if (len < n || strncmp(line, key, n)) return 0;
  line += n;
  len -= n;
  while (len && (*line == ' ' || *line == '\t')) line++, len--;
  return len && *line == '=';
}

/* Copies the cfg with classes= of every [yolo] set to the detector's class count and
 * filters= of the convolution before it set to n_mask * (5 + classes). */
static int patch_cfg(const bm_detector *det, bm_buf *out, bm_error *err) {
  const char *text = det->cfg_text;
  size_t n_lines = 1;
  for (const char *p = text; *p; p++) n_lines += *p == '\n';
  const char **line = bm_malloc(n_lines * sizeof *line);
  size_t *len = bm_malloc(n_lines * sizeof *len);
  char **replace = bm_calloc(n_lines, sizeof *replace); /* NULL = keep */
  if (!line || !len || !replace) {
    bm_free(line);
    bm_free(len);
    bm_free(replace);
    return bm_fail(err, "out of memory");
  }
  const char *p = text;
  for (size_t k = 0; k < n_lines; k++) {
    const char *end = strchr(p, '\n');
    line[k] = p;
    len[k] = end ? (size_t)(end - p) : strlen(p);
    p = end ? end + 1 : p + len[k];
  }
  int head = 0, rc = 0;
  long conv_filters = -1, yolo_header = -1, yolo_classes = -1;
  for (size_t k = 0; k <= n_lines && rc == 0; k++) {
    int header = k == n_lines || is_any_section(line[k], len[k]);
    if (header && yolo_header >= 0) { /* finish the [yolo] section that ends here */
      if (head >= det->n_heads || conv_filters < 0) {
        rc = bm_fail(err, "cannot export the cfg: [yolo] at line %ld has no convolution before it",
                     yolo_header + 1);
        break;
      }
      char text_line[96];
      int filters = det->heads[head].n_anchors * (5 + det->n_classes);
      snprintf(text_line, sizeof text_line, "filters=%d", filters);
      replace[conv_filters] = bm_strdup(text_line);
      if (yolo_classes >= 0) {
        snprintf(text_line, sizeof text_line, "classes=%d", det->n_classes);
        replace[yolo_classes] = bm_strdup(text_line);
      } else {
        snprintf(text_line, sizeof text_line, "%.*s\nclasses=%d", (int)len[yolo_header],
                 line[yolo_header], det->n_classes);
        replace[yolo_header] = bm_strdup(text_line);
      }
      head++;
      yolo_header = yolo_classes = -1;
    }
    if (k == n_lines) break;
    if (header) {
      if (is_section(line[k], len[k], "yolo")) yolo_header = (long)k;
      else if (is_section(line[k], len[k], "convolutional") || is_section(line[k], len[k], "conv"))
        conv_filters = -1;
    } else if (yolo_header >= 0 && is_key(line[k], len[k], "classes")) {
      yolo_classes = (long)k;
    } else if (is_key(line[k], len[k], "filters")) {
      conv_filters = (long)k;
    }
  }
  for (size_t k = 0; k < n_lines && rc == 0; k++) {
    if (replace[k]) bm_buf_puts(out, replace[k]);
    else bm_buf_append(out, line[k], len[k]);
    if (k + 1 < n_lines) bm_buf_puts(out, "\n");
  }
  for (size_t k = 0; k < n_lines; k++) bm_free(replace[k]);
  bm_free(replace);
  bm_free(line);
  bm_free(len);
  if (rc == 0 && out->failed) rc = bm_fail(err, "out of memory");
  return rc;
}

int bm_cfg_set_input_size(const char *cfg_text, int width, int height, char **out,
                          bm_error *err) {
  *out = NULL;
  if (width < 8 || height < 8 || width > 8192 || height > 8192)
    return bm_fail(err, "input size %dx%d is outside 8..8192", width, height);
  bm_buf buf;
  bm_buf_init(&buf);
  int in_net = 0, seen_net = 0;
  for (const char *p = cfg_text; *p;) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (is_any_section(p, len)) {
      in_net = is_section(p, len, "net") || is_section(p, len, "network");
      bm_buf_append(&buf, p, len);
      if (in_net) {
        bm_buf_printf(&buf, "\nwidth=%d\nheight=%d", width, height);
        seen_net = 1;
      }
    } else if (!(in_net && (is_key(p, len, "width") || is_key(p, len, "height")))) {
      bm_buf_append(&buf, p, len);
    } else {
      bm_buf_puts(&buf, "# (input size set by boxmine)");
    }
    if (end) bm_buf_puts(&buf, "\n");
    p = end ? end + 1 : p + len;
  }
  if (!seen_net) {
    bm_buf_free(&buf);
    return bm_fail(err, "the cfg has no [net] section to set the input size in");
  }
  if (buf.failed) {
    bm_buf_free(&buf);
    return bm_fail(err, "out of memory");
  }
  *out = buf.data;
  return 0;
}

int bm_detector_export_darknet(const bm_detector *det, const char *weights_path,
                               const char *cfg_path, bm_error *err) {
  if (weights_path && bm_net_save_weights(det->net, weights_path, err)) return -1;
  if (!cfg_path) return 0;
  bm_buf cfg;
  bm_buf_init(&cfg);
  int rc = patch_cfg(det, &cfg, err);
  if (rc == 0) rc = bm_write_file_atomic(cfg_path, cfg.data, cfg.len, err);
  bm_buf_free(&cfg);
  return rc;
}

int bm_detector_write_run_files(const bm_detector *det, const char *dir, bm_error *err) {
  char *cfg_path = bm_path_join(dir, "model.cfg");
  char *classes_path = bm_path_join(dir, "classes.txt");
  bm_buf classes;
  bm_buf_init(&classes);
  for (int c = 0; c < det->n_classes; c++) bm_buf_printf(&classes, "%s\n", det->class_names[c]);
  int rc = -1;
  if (!cfg_path || !classes_path || classes.failed) bm_fail(err, "out of memory");
  else if (bm_detector_export_darknet(det, NULL, cfg_path, err)) bm_fail_prefix(err, "%s", cfg_path);
  else rc = bm_write_file_atomic(classes_path, classes.data, classes.len, err);
  bm_buf_free(&classes);
  bm_free(cfg_path);
  bm_free(classes_path);
  return rc;
}
