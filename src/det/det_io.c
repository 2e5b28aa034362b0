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

/* ---- darknet models ------------------------------------------------------------------- */

/* The class count of the cfg's [yolo] heads (they must agree). */
static int heads_classes(bm_network *net, const char *name, int *classes, bm_error *err) {
  *classes = 0;
  for (int i = 0; i < bm_net_n_layers(net); i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    if (l->type != BM_LAYER_YOLO) continue;
    if (*classes && l->yolo.classes != *classes)
      return bm_fail(err, "%s: line %d: this [yolo] has %d classes, an earlier one %d", name,
                     l->cfg_line, l->yolo.classes, *classes);
    *classes = l->yolo.classes;
  }
  if (!*classes) return bm_fail(err, "%s: no [yolo] layer: not a detector", name);
  return 0;
}

int bm_detector_from_darknet(bm_detector **out, const char *cfg_path, const char *weights_path,
                             int n_names, char *const *names, int batch, bm_log *log,
                             bm_error *err) {
  *out = NULL;
  char *text = NULL;
  size_t len;
  if (bm_read_file(cfg_path, &text, &len, err)) return -1;
  bm_network *probe = NULL;
  int classes = 0, rc = -1;
  char **numbered = NULL;
  if (bm_net_create_from_text(&probe, text, cfg_path, 1, NULL, err) ||
      heads_classes(probe, cfg_path, &classes, err))
    goto done;
  if (names && n_names != classes) {
    bm_fail(err, "%s: the model has %d classes but %d names were given", cfg_path, classes,
            n_names);
    goto done;
  }
  if (!names) {
    numbered = bm_calloc((size_t)classes, sizeof *numbered);
    if (!numbered) {
      bm_fail(err, "out of memory");
      goto done;
    }
    for (int c = 0; c < classes; c++) {
      char tmp[16];
      snprintf(tmp, sizeof tmp, "%d", c);
      if (!(numbered[c] = bm_strdup(tmp))) {
        bm_fail(err, "out of memory");
        goto done;
      }
    }
    names = numbered;
  }
  bm_rng rng;
  bm_rng_seed(&rng, 1, 1); /* every parameter is overwritten by the file */
  const char *base = strrchr(cfg_path, '/');
  if (bm_detector_create(out, text, base ? base + 1 : cfg_path, classes, names, batch, &rng, log,
                         err))
    goto done;
  if (bm_net_load_weights((*out)->net, weights_path, -1, err)) {
    bm_detector_free(*out);
    *out = NULL;
    goto done;
  }
  (*out)->letterbox = bm_net_cfg((*out)->net)->letter_box == 1;
  rc = 0;
done:
  if (numbered)
    for (int c = 0; c < classes; c++) bm_free(numbered[c]);
  bm_free(numbered);
  bm_net_free(probe);
  bm_free(text);
  return rc;
}

int bm_detector_load_pretrained(bm_detector *det, const char *weights_path, int *n_loaded,
                                int *n_kept, bm_buf *report, bm_log *log, bm_error *err) {
  *n_loaded = *n_kept = 0;
  /* the model as the file was written for: det's cfg text with its own class count */
  bm_network *src = NULL;
  if (bm_net_create_from_text(&src, det->cfg_text, det->cfg_name, 1, NULL, err)) return -1;
  if (bm_net_load_weights(src, weights_path, -1, err)) {
    bm_net_free(src);
    return -1;
  }
  bm_network *dst = det->net;
  int n_src, n_dst, n_src_state, n_dst_state;
  const bm_param_group *gs = bm_net_param_groups(src, &n_src);
  const bm_param_group *gd = bm_net_param_groups(dst, &n_dst);
  const bm_param_group *ss = bm_net_state_groups(src, &n_src_state);
  const bm_param_group *sd = bm_net_state_groups(dst, &n_dst_state);
  for (int i = 0; i < bm_net_n_layers(dst); i++) {
    if (bm_net_layer(dst, i)->type != BM_LAYER_CONV) continue;
    /* the layer's groups in both networks: same kinds and counts, or the layer is kept */
    int same = 1, found = 0;
    for (int a = 0; a < n_dst; a++) {
      if (gd[a].layer != i) continue;
      found++;
      int match = 0;
      for (int b = 0; b < n_src; b++)
        if (gs[b].layer == i && gs[b].kind == gd[a].kind && gs[b].count == gd[a].count) match = 1;
      same &= match;
    }
    if (!found) continue;
    if (!same) {
      (*n_kept)++;
      if (report) {
        const bm_layer_info *ld = bm_net_layer(dst, i), *ls = bm_net_layer(src, i);
        bm_buf_printf(report, "layer %d (cfg line %d): %d filters here, %d in the file: "
                      "initialised, not loaded\n", i, ld->cfg_line, ld->filters, ls->filters);
      }
      continue;
    }
    (*n_loaded)++;
    for (int a = 0; a < n_dst; a++)
      for (int b = 0; b < n_src; b++)
        if (gd[a].layer == i && gs[b].layer == i && gs[b].kind == gd[a].kind)
          memcpy(bm_net_params(dst) + gd[a].offset, bm_net_params(src) + gs[b].offset,
                 gd[a].count * sizeof(float));
    for (int a = 0; a < n_dst_state; a++)
      for (int b = 0; b < n_src_state; b++)
        if (sd[a].layer == i && ss[b].layer == i && ss[b].kind == sd[a].kind &&
            ss[b].count == sd[a].count)
          memcpy(bm_net_state(dst) + sd[a].offset, bm_net_state(src) + ss[b].offset,
                 sd[a].count * sizeof(float));
  }
  bm_net_free(src);
  return 0;
}
