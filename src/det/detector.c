/* A detector: a network built from a darknet cfg, its [yolo] heads and its class list;
 * detection on decoded images and on a dataset split. Checkpoint sections: det_ckpt.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_augment.h"
#include "boxmine/bm_nn.h"
#include "det/det_internal.h"
#include "det/loader.h"

bm_detect_opts bm_detect_defaults(void) {
  bm_detect_opts opts = {0.005f, 0.45f, 100};
  return opts;
}

static int parse_iou_loss(const char *text, bm_iou_loss *out) {
  if (!text[0] || !strcmp(text, "mse")) *out = BM_IOU_LOSS_MSE;
  else if (!strcmp(text, "giou")) *out = BM_IOU_LOSS_GIOU;
  else if (!strcmp(text, "ciou")) *out = BM_IOU_LOSS_CIOU;
  else return -1;
  return 0;
}

/* Reads the heads' numbers from the network's [yolo] layers (again after a resize). */
int det_refresh_heads(bm_detector *det, bm_error *err) {
  int n_layers = bm_net_n_layers(det->net), n_heads = 0;
  for (int l = 0; l < n_layers; l++) n_heads += bm_net_layer(det->net, l)->type == BM_LAYER_YOLO;
  if (n_heads == 0) return bm_fail(err, "%s: the network has no [yolo] layer", det->cfg_name);
  if (n_heads != det->n_heads) {
    bm_free(det->heads);
    bm_free(det->head_layer);
    det->heads = bm_calloc((size_t)n_heads, sizeof *det->heads);
    det->head_layer = bm_calloc((size_t)n_heads, sizeof *det->head_layer);
    det->n_heads = 0;
    if (!det->heads || !det->head_layer) return bm_fail(err, "out of memory");
    det->n_heads = n_heads;
  }
  int channels, net_h, net_w;
  bm_net_input_dims(det->net, &channels, &net_h, &net_w);
  for (int l = 0, h = 0; l < n_layers; l++) {
    const bm_layer_info *info = bm_net_layer(det->net, l);
    if (info->type != BM_LAYER_YOLO) continue;
    const bm_yolo_params *yolo = &info->yolo;
    bm_yolo_head *head = &det->heads[h];
    bm_yolo_head_defaults(head);
    head->w = info->out_w;
    head->h = info->out_h;
    head->n_anchors = yolo->n_mask;
    head->n_classes = yolo->classes;
    head->num = yolo->num;
    head->anchors = yolo->anchors; /* owned by the network's layer description */
    head->mask = yolo->mask;
    head->net_w = net_w;
    head->net_h = net_h;
    head->ignore_thresh = yolo->ignore_thresh;
    head->truth_thresh = yolo->truth_thresh;
    head->iou_normalizer = yolo->iou_normalizer;
    head->cls_normalizer = yolo->cls_normalizer;
    head->scale_x_y = yolo->scale_x_y;
    head->neighbors = yolo->neighbors;
    head->obj_iou = yolo->obj_iou;
    if (h == 0) {
      det->nms_kind = yolo->nms_kind;
      det->beta_nms = yolo->beta_nms;
    }
    head->iou_thresh = det->iou_thresh;
    if (parse_iou_loss(yolo->iou_loss, &head->iou_loss))
      return bm_fail(err, "%s: line %d: iou_loss=%s: boxmine knows mse, giou and ciou",
                     det->cfg_name, info->cfg_line, yolo->iou_loss);
    if (info->out_c != yolo->n_mask * (5 + yolo->classes))
      return bm_fail(err, "%s: line %d: [yolo] gets %d channels, needs %d x (5 + %d classes)",
                     det->cfg_name, info->cfg_line, info->out_c, yolo->n_mask, yolo->classes);
    for (int a = 0; a < yolo->n_mask; a++)
      if (yolo->mask[a] < 0 || yolo->mask[a] >= yolo->num)
        return bm_fail(err, "%s: line %d: mask entry %d is not one of the %d anchors",
                       det->cfg_name, info->cfg_line, yolo->mask[a], yolo->num);
    det->head_layer[h++] = l;
  }
  return 0;
}

static int copy_classes(bm_detector *det, int n_classes, char *const *class_names) {
  det->class_names = bm_calloc((size_t)n_classes, sizeof *det->class_names);
  if (!det->class_names) return -1;
  det->n_classes = n_classes;
  for (int c = 0; c < n_classes; c++)
    if (!(det->class_names[c] = bm_strdup(class_names[c]))) return -1;
  return 0;
}

/* Starts every head's objectness at a low prior and its class scores at 1 / classes (the
 * biases of the convolution feeding the head; its weights are small): with darknet's plain
 * initialisation every prediction starts at objectness 0.5, and the first hundreds of
 * updates only learn that almost nothing is an object. */
#define OBJECTNESS_PRIOR 0.01
static void init_head_priors(bm_detector *det) {
  int n_groups;
  const bm_param_group *groups = bm_net_param_groups(det->net, &n_groups);
  float *params = bm_net_params(det->net);
  float obj_bias = (float)log(OBJECTNESS_PRIOR / (1 - OBJECTNESS_PRIOR));
  float cls_prior = 1.0f / (float)(det->n_classes + 1);
  float cls_bias = logf(cls_prior / (1 - cls_prior));
  for (int h = 0; h < det->n_heads; h++) {
    const bm_yolo_head *head = &det->heads[h];
    for (int g = 0; g < n_groups; g++) {
      if (groups[g].layer != det->head_layer[h] - 1 || groups[g].kind != BM_PARAM_CONV_BIAS) continue;
      float *bias = params + groups[g].offset; /* [anchor][5 + classes] */
      for (int a = 0; a < head->n_anchors; a++) {
        bias[a * (5 + head->n_classes) + 4] = obj_bias;
        for (int c = 0; c < head->n_classes; c++) bias[a * (5 + head->n_classes) + 5 + c] = cls_bias;
      }
    }
  }
}

int bm_detector_create(bm_detector **out, const char *cfg_text, const char *cfg_name,
                       int n_classes, char *const *class_names, int batch, bm_rng *rng,
                       bm_log *log, bm_error *err) {
  *out = NULL;
  if (n_classes < 1 || n_classes > BM_MAX_CLASSES)
    return bm_fail(err, "a detector needs 1 to %d classes, not %d", BM_MAX_CLASSES, n_classes);
  bm_detector *det = bm_calloc(1, sizeof *det);
  if (!det) return bm_fail(err, "out of memory");
  det->iou_thresh = 1.0f;
  det->cfg_name = bm_strdup(cfg_name ? cfg_name : "cfg");
  det->cfg_text = bm_strdup(cfg_text);
  if (!det->cfg_name || !det->cfg_text || copy_classes(det, n_classes, class_names)) {
    bm_detector_free(det);
    return bm_fail(err, "out of memory");
  }
  if (bm_net_create_from_text(&det->net, cfg_text, det->cfg_name, batch, log, err)) {
    bm_detector_free(det);
    return -1;
  }
  /* boxmine trains on letterboxed images; a cfg may say otherwise */
  det->letterbox = bm_net_cfg(det->net)->letter_box != 0;
  bm_net_init_params(det->net, rng);
  if (bm_net_set_classes(det->net, n_classes, rng, err) || det_refresh_heads(det, err)) {
    bm_detector_free(det);
    return -1;
  }
  init_head_priors(det);
  *out = det;
  return 0;
}

void bm_detector_free(bm_detector *det) {
  if (!det) return;
  bm_net_free(det->net);
  for (int c = 0; c < det->n_classes; c++) bm_free(det->class_names[c]);
  bm_free(det->class_names);
  bm_free(det->cfg_text);
  bm_free(det->cfg_name);
  bm_free(det->heads);
  bm_free(det->head_layer);
  bm_free(det);
}

bm_network *bm_detector_net(bm_detector *det) { return det->net; }
int bm_detector_n_classes(const bm_detector *det) { return det->n_classes; }
char *const *bm_detector_class_names(const bm_detector *det) { return det->class_names; }
const char *bm_detector_cfg_text(const bm_detector *det) { return det->cfg_text; }
int bm_detector_n_heads(const bm_detector *det) { return det->n_heads; }
const bm_yolo_head *bm_detector_head(const bm_detector *det, int head) { return &det->heads[head]; }
int bm_detector_head_layer(const bm_detector *det, int head) { return det->head_layer[head]; }
int bm_detector_batch(const bm_detector *det) { return bm_net_batch(det->net); }

void bm_detector_set_iou_thresh(bm_detector *det, float iou_thresh) {
  det->iou_thresh = iou_thresh;
  for (int h = 0; h < det->n_heads; h++) det->heads[h].iou_thresh = iou_thresh;
}
int bm_detector_letterbox(const bm_detector *det) { return det->letterbox; }
void bm_detector_set_letterbox(bm_detector *det, int letterbox) { det->letterbox = letterbox != 0; }

void bm_detector_set_threads(bm_detector *det, int threads) { bm_net_set_threads(det->net, threads); }

int bm_detector_set_batch(bm_detector *det, int batch, bm_error *err) {
  if (batch == bm_net_batch(det->net)) return 0;
  if (bm_net_resize(det->net, batch, 0, 0, err)) return -1;
  return det_refresh_heads(det, err);
}

int bm_detector_check_classes(const bm_detector *det, const bm_dataset *ds, bm_error *err) {
  if (ds->n_classes != det->n_classes)
    return bm_fail(err, "the detector knows %d classes, the dataset %s has %d", det->n_classes,
                   ds->root ? ds->root : "", ds->n_classes);
  for (int c = 0; c < det->n_classes; c++)
    if (strcmp(ds->class_names[c], det->class_names[c]))
      return bm_fail(err, "class %d is '%s' in the detector but '%s' in the dataset %s", c,
                     det->class_names[c], ds->class_names[c], ds->root ? ds->root : "");
  return 0;
}

/* Candidates kept per image before NMS, best scores first: NMS is quadratic, and a model
 * early in training can put thousands of boxes above a 0.005 floor. */
#define PRE_NMS_MIN 2000
#define PRE_NMS_PER_DET 20

typedef struct ranked {
  float score;
  long position;
} ranked;
static int by_score_then_position(const void *pa, const void *pb) {
  const ranked *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return (a->position > b->position) - (a->position < b->position);
}

/* Keeps the best `keep` of dets[0 .. n) (ties by position), in their original order. */
static long keep_best(bm_detection *dets, long n, long keep, bm_error *err) {
  if (n <= keep) return n;
  ranked *order = bm_malloc((size_t)n * sizeof *order);
  unsigned char *chosen = bm_calloc((size_t)n, 1);
  if (!order || !chosen) {
    bm_free(order);
    bm_free(chosen);
    return bm_fail(err, "out of memory");
  }
  for (long d = 0; d < n; d++) order[d] = (ranked){dets[d].score, d};
  qsort(order, (size_t)n, sizeof *order, by_score_then_position);
  for (long d = 0; d < keep; d++) chosen[order[d].position] = 1;
  long kept = 0;
  for (long d = 0; d < n; d++)
    if (chosen[d]) dets[kept++] = dets[d];
  bm_free(order);
  bm_free(chosen);
  return kept;
}

static int push_voc(bm_detections *out, bm_detection *d) {
  bm_box voc = bm_box_to_voc((bm_box){d->x1, d->y1, d->x2, d->y2});
  d->x1 = voc.x1;
  d->y1 = voc.y1;
  d->x2 = voc.x2;
  d->y2 = voc.y2;
  return bm_detections_push(out, d);
}

/* The darknet fork's order for a cfg with nms_kind=greedynms or diounms: NMS on the boxes as
 * decoded, in coordinates relative to the image (the DIoU term depends on them), then the
 * survivors clipped to the image. */
static int collect_darknet_nms(bm_detector *det, const bm_geom *geom, const bm_detect_opts *opts,
                               bm_detections *scratch, bm_detections *out, bm_error *err) {
  float sx = 1.0f / (float)geom->src_w, sy = 1.0f / (float)geom->src_h;
  for (long d = 0; d < scratch->n; d++) {
    bm_detection *c = &scratch->items[d];
    bm_box box = bm_geom_inverse(geom, (bm_box){c->x1, c->y1, c->x2, c->y2});
    c->x1 = box.x1 * sx, c->y1 = box.y1 * sy, c->x2 = box.x2 * sx, c->y2 = box.y2 * sy;
  }
  long pre_nms = (long)opts->max_dets * PRE_NMS_PER_DET;
  if (pre_nms < PRE_NMS_MIN) pre_nms = PRE_NMS_MIN;
  long n = keep_best(scratch->items, scratch->n, pre_nms, err);
  if (n < 0) return -1;
  n = bm_nms_per_class_kind(scratch->items, n, opts->nms, opts->max_dets,
                            (bm_nms_kind)det->nms_kind, det->beta_nms);
  if (n < 0) return bm_fail(err, "out of memory in NMS");
  for (long d = 0; d < n; d++) {
    bm_detection *c = &scratch->items[d];
    c->x1 = fmaxf(c->x1, 0.0f) * (float)geom->src_w;
    c->y1 = fmaxf(c->y1, 0.0f) * (float)geom->src_h;
    c->x2 = fminf(c->x2, 1.0f) * (float)geom->src_w;
    c->y2 = fminf(c->y2, 1.0f) * (float)geom->src_h;
    if (!(c->x2 > c->x1 && c->y2 > c->y1)) continue; /* outside the image */
    if (push_voc(out, c)) return bm_fail(err, "out of memory");
  }
  return 0;
}

/* Detections of entry k of the network's current output: decode every head, map to the
 * original image through geom (clipped to it), NMS, append in VOC coordinates. */
static int collect_image(bm_detector *det, int k, const bm_geom *geom, int image_index,
                         const bm_detect_opts *opts, bm_detections *scratch, bm_detections *out,
                         bm_error *err) {
  scratch->n = 0;
  for (int h = 0; h < det->n_heads; h++) {
    const bm_yolo_head *head = &det->heads[h];
    size_t per_image = (size_t)head->h * head->w * head->n_anchors * (5 + head->n_classes);
    const float *output = bm_net_output(det->net, det->head_layer[h]) + (size_t)k * per_image;
    if (bm_yolo_decode(head, output, opts->thresh, image_index, scratch, err)) return -1;
  }
  if (det->nms_kind != BM_NMS_IOU) return collect_darknet_nms(det, geom, opts, scratch, out, err);
  long n_valid = 0;
  for (long d = 0; d < scratch->n; d++) {
    bm_detection *cand = &scratch->items[d];
    bm_box box = {cand->x1, cand->y1, cand->x2, cand->y2};
    box = bm_geom_inverse(geom, box);
    if (box.x1 < 0) box.x1 = 0;
    if (box.y1 < 0) box.y1 = 0;
    if (box.x2 > geom->src_w) box.x2 = (float)geom->src_w;
    if (box.y2 > geom->src_h) box.y2 = (float)geom->src_h;
    if (!(box.x2 > box.x1 && box.y2 > box.y1)) continue; /* entirely in the padding */
    cand->x1 = box.x1;
    cand->y1 = box.y1;
    cand->x2 = box.x2;
    cand->y2 = box.y2;
    scratch->items[n_valid++] = *cand;
  }
  long pre_nms = (long)opts->max_dets * PRE_NMS_PER_DET;
  if (pre_nms < PRE_NMS_MIN) pre_nms = PRE_NMS_MIN;
  n_valid = keep_best(scratch->items, n_valid, pre_nms, err);
  if (n_valid < 0) return -1;
  long n_kept = bm_nms_per_class(scratch->items, n_valid, opts->nms, opts->max_dets);
  if (n_kept < 0) return bm_fail(err, "out of memory in NMS");
  for (long d = 0; d < n_kept; d++) {
    bm_detection *kept = &scratch->items[d];
    bm_box voc = bm_box_to_voc((bm_box){kept->x1, kept->y1, kept->x2, kept->y2});
    kept->x1 = voc.x1;
    kept->y1 = voc.y1;
    kept->x2 = voc.x2;
    kept->y2 = voc.y2;
    if (bm_detections_push(out, kept)) return bm_fail(err, "out of memory");
  }
  return 0;
}

int bm_detector_detect_dataset(bm_detector *det, const bm_dataset *ds, const int *split,
                               int n_split, const bm_detect_opts *opts, bm_progress_fn progress,
                               void *progress_user, bm_detections *out, bm_error *err) {
  int n = split ? n_split : ds->n_images;
  bm_train_sample *samples = bm_calloc((size_t)(n > 0 ? n : 1), sizeof *samples);
  if (!samples) return bm_fail(err, "out of memory");
  for (int k = 0; k < n; k++) samples[k].image = split ? split[k] : k;
  int channels, net_h, net_w;
  bm_net_input_dims(det->net, &channels, &net_h, &net_w);
  bm_loader_opts lopts;
  memset(&lopts, 0, sizeof lopts);
  lopts.batch = bm_net_batch(det->net);
  lopts.net_w = net_w;
  lopts.net_h = net_h;
  lopts.augment = bm_augment_defaults(net_w, net_h);
  lopts.stretch = !det->letterbox;
  int was_training = bm_net_training(det->net);
  bm_net_set_training(det->net, 0);
  bm_loader *loader = NULL;
  bm_detections scratch = {0};
  int rc = bm_loader_start(&loader, ds, samples, n, &lopts, err);
  long done = 0;
  size_t input_floats = (size_t)lopts.batch * 3 * net_w * net_h;
  while (rc == 0) {
    const bm_loader_batch *batch;
    int got = bm_loader_next(loader, &batch, err);
    if (got <= 0) {
      rc = got;
      break;
    }
    memcpy(bm_net_input(det->net), batch->input, input_floats * sizeof(float));
    bm_net_forward(det->net);
    for (int k = 0; k < batch->n_images && rc == 0; k++)
      rc = collect_image(det, k, &batch->geom[k], batch->image[k], opts, &scratch, out, err);
    done += batch->n_images;
    if (progress) progress(progress_user, done, n);
  }
  bm_loader_stop(loader);
  bm_detections_free(&scratch);
  bm_free(samples);
  bm_net_set_training(det->net, was_training);
  return rc;
}

int bm_detector_detect_image(bm_detector *det, const bm_image *img, const bm_detect_opts *opts,
                             int image_index, bm_detections *out, bm_error *err) {
  int channels, net_h, net_w;
  bm_net_input_dims(det->net, &channels, &net_h, &net_w);
  bm_geom geom = det->letterbox ? bm_geom_letterbox(img->width, img->height, net_w, net_h)
                                : bm_geom_stretch(img->width, img->height, net_w, net_h);
  bm_geom render = det->letterbox ? geom : bm_geom_stretch_corners(img->width, img->height, net_w, net_h);
  float *input = bm_net_input(det->net);
  size_t plane = (size_t)3 * net_w * net_h;
  memset(input, 0, (size_t)bm_net_batch(det->net) * plane * sizeof(float));
  bm_geom_render_chw(img, &render, input);
  int was_training = bm_net_training(det->net);
  bm_net_set_training(det->net, 0);
  bm_net_forward(det->net);
  bm_detections scratch = {0};
  int rc = collect_image(det, 0, &geom, image_index, opts, &scratch, out, err);
  bm_detections_free(&scratch);
  bm_net_set_training(det->net, was_training);
  return rc;
}
