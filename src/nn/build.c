/* From parsed cfg sections to layer descriptions: which sections and keys exist, their
 * defaults (darknet's), and the checks that make a bad cfg fail with its line number.
 * Shapes are worked out later by nn_infer_shapes, since they depend on the input size. */
#include <stdio.h>
#include <string.h>

#include "nn/nn.h"

#define BIG 1000000

static int parse_net(const nn_cfg *cfg, nn_section *s, bm_net_config *c, bm_log *log,
                     bm_error *err) {
  memset(c, 0, sizeof *c);
  if (nn_cfg_int(cfg, s, "width", 0, 1, 65536, &c->width, err) ||
      nn_cfg_int(cfg, s, "height", 0, 1, 65536, &c->height, err) ||
      nn_cfg_int(cfg, s, "channels", 3, 1, 4096, &c->channels, err) ||
      nn_cfg_int(cfg, s, "batch", 1, 1, BIG, &c->batch, err) ||
      nn_cfg_int(cfg, s, "subdivisions", 1, 1, BIG, &c->subdivisions, err) ||
      nn_cfg_float(cfg, s, "learning_rate", 0.001f, 0, 1e6f, &c->learning_rate, err) ||
      nn_cfg_float(cfg, s, "momentum", 0.9f, 0, 1, &c->momentum, err) ||
      nn_cfg_float(cfg, s, "decay", 0.0001f, 0, 1e6f, &c->decay, err) ||
      nn_cfg_int(cfg, s, "burn_in", 0, 0, 1000000000, &c->burn_in, err) ||
      nn_cfg_int(cfg, s, "max_batches", 0, 0, 1000000000, &c->max_batches, err) ||
      nn_cfg_float(cfg, s, "power", 4, -1e6f, 1e6f, &c->power, err) ||
      nn_cfg_float(cfg, s, "jitter", 0, 0, 10, &c->jitter, err) ||
      nn_cfg_float(cfg, s, "hue", 0, 0, 1, &c->hue, err) ||
      nn_cfg_float(cfg, s, "saturation", 1, 0, 100, &c->saturation, err) ||
      nn_cfg_float(cfg, s, "exposure", 1, 0, 100, &c->exposure, err) ||
      nn_cfg_float(cfg, s, "angle", 0, -360, 360, &c->angle, err) ||
      nn_cfg_int(cfg, s, "flip", 1, 0, 1, &c->flip, err) ||
      nn_cfg_int(cfg, s, "letter_box", -1, 0, 1, &c->letter_box, err))
    return -1;
  if (c->width == 0 || c->height == 0)
    return bm_fail(err, "%s: line %d: [net] needs width and height", cfg->name, s->line);
  if (c->batch % c->subdivisions)
    bm_warn(log, "%s: line %d: batch %d is not a multiple of subdivisions %d", cfg->name,
            s->line, c->batch, c->subdivisions);
  int line;
  const char *policy = nn_cfg_str(s, "policy", &line);
  snprintf(c->policy, sizeof c->policy, "%s", policy ? policy : "constant");
  static const char *policies[] = {"constant", "steps", "step", "poly", "exp", "sigmoid",
                                   "random", "sgdr"};
  int known = 0;
  for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++)
    known |= !strcmp(c->policy, policies[i]);
  if (!known)
    return bm_fail(err, "%s: line %d: policy: unknown learning-rate policy '%s'", cfg->name,
                   line, policy);
  int n_scales = 0;
  if (nn_cfg_int_list(cfg, s, "steps", c->steps, BM_NET_MAX_STEPS, &c->n_steps, err) ||
      nn_cfg_float_list(cfg, s, "scales", c->scales, BM_NET_MAX_STEPS, &n_scales, err))
    return -1;
  if (n_scales != c->n_steps) {
    nn_cfg_str(s, "scales", &line);
    return bm_fail(err, "%s: line %d: scales: %d values for %d steps", cfg->name, line,
                   n_scales, c->n_steps);
  }
  return 0;
}

static int parse_conv(const nn_cfg *cfg, nn_section *s, bm_layer_info *l, bm_error *err) {
  int pad = 0, line;
  if (nn_cfg_int(cfg, s, "filters", 1, 1, 65536, &l->filters, err) ||
      nn_cfg_int(cfg, s, "size", 1, 1, 16, &l->size, err) ||
      nn_cfg_int(cfg, s, "stride", 1, 1, 64, &l->stride, err) ||
      nn_cfg_int(cfg, s, "pad", 0, 0, 1, &pad, err) ||
      nn_cfg_int(cfg, s, "padding", 0, 0, 64, &l->pad, err) ||
      nn_cfg_int(cfg, s, "groups", 1, 1, 65536, &l->groups, err) ||
      nn_cfg_int(cfg, s, "batch_normalize", 0, 0, 1, &l->batch_normalize, err))
    return -1;
  if (pad) l->pad = l->size / 2; /* darknet: pad=1 overrides padding */
  if (l->filters % l->groups)
    return bm_fail(err, "%s: line %d: filters %d is not a multiple of groups %d", cfg->name,
                   s->line, l->filters, l->groups);
  const char *act = nn_cfg_str(s, "activation", &line);
  l->activation = BM_ACT_LOGISTIC; /* darknet's default */
  if (act && nn_parse_activation(act, &l->activation))
    return bm_fail(err, "%s: line %d: activation: unknown activation '%s'", cfg->name, line, act);
  return 0;
}

static int parse_maxpool(const nn_cfg *cfg, nn_section *s, bm_layer_info *l, bm_error *err) {
  if (nn_cfg_int(cfg, s, "stride", 1, 1, 64, &l->stride, err) ||
      nn_cfg_int(cfg, s, "size", l->stride, 1, 64, &l->size, err) ||
      nn_cfg_int(cfg, s, "padding", l->size - 1, 0, 128, &l->padding, err))
    return -1;
  /* Windows start at -padding/2; a padding above 2 * (size - 1) would give windows that
   * hold no input pixel at all. */
  if (l->padding > 2 * (l->size - 1))
    return bm_fail(err, "%s: line %d: padding %d is more than 2 * (size - 1)", cfg->name,
                   s->line, l->padding);
  return 0;
}

static int parse_upsample(const nn_cfg *cfg, nn_section *s, bm_layer_info *l, bm_error *err) {
  return nn_cfg_int(cfg, s, "stride", 2, 1, 64, &l->stride, err) ||
                 nn_cfg_float(cfg, s, "scale", 1, -1e6f, 1e6f, &l->scale, err)
             ? -1
             : 0;
}

/* Turns a darknet layer reference (negative: relative to `index`) into an absolute index. */
static int resolve(const nn_cfg *cfg, int line, const char *key, int ref, int index, int *out,
                   bm_error *err) {
  int abs_index = ref < 0 ? index + ref : ref;
  if (abs_index < 0 || abs_index >= index)
    return bm_fail(err, "%s: line %d: %s: layer %d does not come before layer %d", cfg->name,
                   line, key, ref, index);
  *out = abs_index;
  return 0;
}

static int parse_route(const nn_cfg *cfg, nn_section *s, int index, bm_layer_info *l,
                       bm_error *err) {
  int refs[BM_ROUTE_MAX_INPUTS], line;
  if (nn_cfg_int_list(cfg, s, "layers", refs, BM_ROUTE_MAX_INPUTS, &l->n_inputs, err) ||
      nn_cfg_int(cfg, s, "groups", 1, 1, 65536, &l->groups, err) ||
      nn_cfg_int(cfg, s, "group_id", 0, 0, 65535, &l->group_id, err))
    return -1;
  nn_cfg_str(s, "layers", &line);
  if (l->n_inputs == 0) return bm_fail(err, "%s: line %d: [route] needs layers=", cfg->name, line);
  if (l->group_id >= l->groups)
    return bm_fail(err, "%s: line %d: group_id %d must be below groups %d", cfg->name, s->line,
                   l->group_id, l->groups);
  for (int i = 0; i < l->n_inputs; i++)
    if (resolve(cfg, line, "layers", refs[i], index, &l->inputs[i], err)) return -1;
  return 0;
}

static int parse_shortcut(const nn_cfg *cfg, nn_section *s, int index, bm_layer_info *l,
                          bm_error *err) {
  int from = 0, line;
  if (nn_cfg_int(cfg, s, "from", 0, -BIG, BIG, &from, err)) return -1;
  nn_cfg_str(s, "from", &line);
  if (!nn_cfg_str(s, "from", NULL))
    return bm_fail(err, "%s: line %d: [shortcut] needs from=", cfg->name, s->line);
  if (resolve(cfg, line, "from", from, index, &l->from, err)) return -1;
  const char *act = nn_cfg_str(s, "activation", &line);
  l->activation = BM_ACT_LINEAR;
  if (act && nn_parse_activation(act, &l->activation))
    return bm_fail(err, "%s: line %d: activation: unknown activation '%s'", cfg->name, line, act);
  return 0;
}

static int parse_dropout(const nn_cfg *cfg, nn_section *s, bm_layer_info *l, bm_error *err) {
  /* darknet's default; 1 would divide the kept elements by 0 */
  return nn_cfg_float(cfg, s, "probability", 0.5f, 0, 0.99f, &l->probability, err);
}

static int parse_yolo(const nn_cfg *cfg, nn_section *s, bm_layer_info *l, bm_error *err) {
  bm_yolo_params *y = &l->yolo;
  int n_anchor_values = 0, line;
  if (nn_cfg_int(cfg, s, "classes", 20, 1, BIG, &y->classes, err) ||
      nn_cfg_int(cfg, s, "num", 1, 1, BM_YOLO_MAX_ANCHORS, &y->num, err) ||
      nn_cfg_int_list(cfg, s, "mask", y->mask, BM_YOLO_MAX_ANCHORS, &y->n_mask, err) ||
      nn_cfg_float_list(cfg, s, "anchors", y->anchors, 2 * BM_YOLO_MAX_ANCHORS,
                        &n_anchor_values, err) ||
      nn_cfg_float(cfg, s, "jitter", 0.2f, 0, 10, &y->jitter, err) ||
      nn_cfg_float(cfg, s, "ignore_thresh", 0.5f, 0, 1, &y->ignore_thresh, err) ||
      nn_cfg_float(cfg, s, "truth_thresh", 1, 0, 1, &y->truth_thresh, err) ||
      nn_cfg_int(cfg, s, "random", 0, 0, 1, &y->random, err) ||
      nn_cfg_float(cfg, s, "iou_normalizer", 0.75f, 0, 1e6f, &y->iou_normalizer, err) ||
      nn_cfg_float(cfg, s, "cls_normalizer", 1, 0, 1e6f, &y->cls_normalizer, err) ||
      nn_cfg_float(cfg, s, "scale_x_y", 1, 0.5f, 10, &y->scale_x_y, err) ||
      nn_cfg_int(cfg, s, "neighbors", 0, 0, 1, &y->neighbors, err) ||
      nn_cfg_float(cfg, s, "beta_nms", 0.6f, 0, 100, &y->beta_nms, err) ||
      nn_cfg_int(cfg, s, "obj_iou", 0, 0, 1, &y->obj_iou, err) ||
      nn_cfg_float(cfg, s, "iou_thresh", 1, 0, 1, &y->iou_thresh, err))
    return -1;
  const char *nms_kind = nn_cfg_str(s, "nms_kind", &line);
  y->nms_kind = 0;
  if (nms_kind && !strcmp(nms_kind, "greedynms")) y->nms_kind = 1;
  else if (nms_kind && !strcmp(nms_kind, "diounms")) y->nms_kind = 2;
  else if (nms_kind && strcmp(nms_kind, "default") && strcmp(nms_kind, "defaultnms"))
    return bm_fail(err, "%s: line %d: nms_kind: '%s' is not default, greedynms or diounms",
                   cfg->name, line, nms_kind);
  /* a neighbouring cell's prediction must be able to reach the truth's centre, up to half a
   * cell beyond its own edge: x = scale * sigmoid - (scale - 1) / 2 spans (-0.5, 1.5) at 2 */
  if (y->neighbors && y->scale_x_y < 2) {
    nn_cfg_str(s, "neighbors", &line);
    return bm_fail(err, "%s: line %d: neighbors=1 needs scale_x_y >= 2 (it is %g)", cfg->name,
                   line, y->scale_x_y);
  }
  const char *iou_loss = nn_cfg_str(s, "iou_loss", &line);
  if (iou_loss && strlen(iou_loss) >= sizeof y->iou_loss)
    return bm_fail(err, "%s: line %d: iou_loss: '%s' is too long", cfg->name, line, iou_loss);
  snprintf(y->iou_loss, sizeof y->iou_loss, "%s", iou_loss ? iou_loss : "mse");
  if (y->n_mask == 0) {
    y->n_mask = y->num;
    for (int i = 0; i < y->num; i++) y->mask[i] = i;
  }
  nn_cfg_str(s, "mask", &line);
  for (int i = 0; i < y->n_mask; i++)
    if (y->mask[i] < 0 || y->mask[i] >= y->num)
      return bm_fail(err, "%s: line %d: mask: anchor %d does not exist (num=%d)", cfg->name,
                     line, y->mask[i], y->num);
  nn_cfg_str(s, "anchors", &line);
  if (n_anchor_values == 0) {
    for (int i = 0; i < 2 * y->num; i++) y->anchors[i] = 0.5f; /* darknet's default */
  } else if (n_anchor_values != 2 * y->num) {
    return bm_fail(err, "%s: line %d: anchors: %d numbers for num=%d anchors (need %d)",
                   cfg->name, line, n_anchor_values, y->num, 2 * y->num);
  }
  for (int i = 0; i < 2 * y->num; i++)
    if (!(y->anchors[i] > 0))
      return bm_fail(err, "%s: line %d: anchors: sizes must be positive", cfg->name, line);
  return 0;
}

int nn_build_layers(nn_cfg *cfg, bm_net_config *net_cfg, nn_layer **out_layers, int *n_layers,
                    bm_log *log, bm_error *err) {
  *out_layers = NULL;
  *n_layers = 0;
  if (cfg->n_sections == 0) return bm_fail(err, "%s: no sections", cfg->name);
  nn_section *first = &cfg->sections[0];
  if (strcmp(first->name, "net") && strcmp(first->name, "network"))
    return bm_fail(err, "%s: line %d: the first section must be [net]", cfg->name, first->line);
  if (parse_net(cfg, first, net_cfg, log, err)) return -1;
  nn_cfg_warn_unused(cfg, first, log);
  int n = cfg->n_sections - 1;
  if (n == 0) return bm_fail(err, "%s: no layers after [net]", cfg->name);
  nn_layer *layers = bm_calloc((size_t)n, sizeof *layers);
  if (!layers) return bm_fail(err, "%s: out of memory", cfg->name);
  for (int i = 0; i < n; i++) {
    nn_section *s = &cfg->sections[i + 1];
    bm_layer_info *l = &layers[i].info;
    l->cfg_line = s->line;
    l->groups = 1;
    l->scale = 1;
    int rc;
    if (!strcmp(s->name, "convolutional") || !strcmp(s->name, "conv")) {
      l->type = BM_LAYER_CONV;
      rc = parse_conv(cfg, s, l, err);
    } else if (!strcmp(s->name, "maxpool") || !strcmp(s->name, "max")) {
      l->type = BM_LAYER_MAXPOOL;
      rc = parse_maxpool(cfg, s, l, err);
    } else if (!strcmp(s->name, "upsample")) {
      l->type = BM_LAYER_UPSAMPLE;
      rc = parse_upsample(cfg, s, l, err);
    } else if (!strcmp(s->name, "route")) {
      l->type = BM_LAYER_ROUTE;
      rc = parse_route(cfg, s, i, l, err);
    } else if (!strcmp(s->name, "shortcut")) {
      l->type = BM_LAYER_SHORTCUT;
      rc = parse_shortcut(cfg, s, i, l, err);
    } else if (!strcmp(s->name, "dropout")) {
      l->type = BM_LAYER_DROPOUT;
      rc = parse_dropout(cfg, s, l, err);
    } else if (!strcmp(s->name, "yolo")) {
      l->type = BM_LAYER_YOLO;
      rc = parse_yolo(cfg, s, l, err);
    } else if (!strcmp(s->name, "net") || !strcmp(s->name, "network")) {
      rc = bm_fail(err, "%s: line %d: [%s] may only be the first section", cfg->name, s->line,
                   s->name);
    } else {
      rc = bm_fail(err, "%s: line %d: unknown section [%s]", cfg->name, s->line, s->name);
    }
    if (rc) {
      bm_free(layers);
      return -1;
    }
    nn_cfg_warn_unused(cfg, s, log);
  }
  /* [yolo] keys of darknet's training that boxmine's trainer takes from its own options:
   * read, not used, said once per file (docs/DETECTOR.md) */
  static const char *const unused[][2] = {
      {"iou_thresh", "boxmine's training takes it from --iou-thresh (default off)"},
      {"jitter", "boxmine's crop jitter is train's --jitter (default 0.2)"}, /* if not 0.2 */
      {"random", "boxmine does not train at random input sizes; --input sets one size"}};
  for (size_t k = 0; k < sizeof unused / sizeof unused[0]; k++)
    for (int i = 0; i < n; i++) {
      int line;
      const char *v = layers[i].info.type == BM_LAYER_YOLO ? nn_cfg_str(&cfg->sections[i + 1], unused[k][0], &line) : NULL;
      if (!v || (!strcmp(unused[k][0], "iou_thresh") && layers[i].info.yolo.iou_thresh >= 1) ||
          (!strcmp(unused[k][0], "random") && !layers[i].info.yolo.random) ||
          (!strcmp(unused[k][0], "jitter") && layers[i].info.yolo.jitter == 0.2f))
        continue;
      bm_warn(log, "%s: line %d: [yolo] %s=%s is not used: %s", cfg->name, line, unused[k][0], v,
              unused[k][1]);
      break;
    }
  *out_layers = layers;
  *n_layers = n;
  return 0;
}
