/* The YOLO head: loss with its exact gradient, and decoding to boxes.
 *
 * Darknet's meaning of the [yolo] options is kept (anchors, mask, num, ignore_thresh,
 * truth_thresh); what differs is that everything here is the true gradient of one stated
 * loss, so it can be checked by finite differences:
 *   box (MSE):  0.5 * (2 - w*h) * [(x - tx)^2 + (y - ty)^2 + (tw' - tw)^2 + (th' - th)^2]
 *               x = scale_x_y * logistic - (scale_x_y - 1) / 2 (likewise y); tw', th' raw;
 *               tx = truth cx * grid w - cell column (outside 0..1 at a neighbouring cell),
 *               tw = log(truth w * net_w / anchor w)
 *   box (GIoU / CIoU): 1 - GIoU or 1 - CIoU; either box term is weighted by iou_normalizer
 *   objectness and classes: binary cross-entropy on the logistic outputs, so after the
 *   layer's logistic derivative the gradient on the pre-activation is (p - target), as in
 *   darknet's deltas.
 */
#include <math.h>
#include <string.h>

#include "boxmine/bm_det.h"

void bm_yolo_head_defaults(bm_yolo_head *head) {
  memset(head, 0, sizeof *head);
  head->ignore_thresh = 0.5f;
  head->truth_thresh = 1.0f;
  head->iou_loss = BM_IOU_LOSS_MSE;
  head->iou_normalizer = 1.0f;
  head->obj_normalizer = 1.0f;
  head->cls_normalizer = 1.0f;
  head->scale_x_y = 1.0f;
  head->iou_thresh = 1.0f;
}

/* exp with its argument clamped, so a wild raw w/h cannot overflow a box. Outside the clamp
 * the derivative is taken as 0 (see box_size_grad). */
#define YOLO_EXP_LIMIT 12.0f
static float clamped_exp(float v) {
  if (v > YOLO_EXP_LIMIT) v = YOLO_EXP_LIMIT;
  if (v < -YOLO_EXP_LIMIT) v = -YOLO_EXP_LIMIT;
  return expf(v);
}
static int exp_is_clamped(float v) { return v > YOLO_EXP_LIMIT || v < -YOLO_EXP_LIMIT; }

/* IoU of two boxes given as centre x, centre y, width, height. */
static float iou_cxcywh(float acx, float acy, float aw, float ah, float bcx, float bcy, float bw,
                        float bh) {
  return bm_box_iou(acx - aw / 2, acy - ah / 2, acx + aw / 2, acy + ah / 2, bcx - bw / 2,
                    bcy - bh / 2, bcx + bw / 2, bcy + bh / 2);
}

/* Binary cross-entropy of probability p against target t. The clamp only keeps the logged
 * value finite; the gradient formula is used as is, so that after the layer's logistic
 * derivative p * (1 - p) it is exactly p - t. */
static double bce(float p, float t) {
  double q = p < 1e-7f ? 1e-7 : p > 1 - 1e-7 ? 1 - 1e-7 : p;
  return -(t * log(q) + (1 - t) * log(1 - q));
}
static float bce_grad(float p, float t) {
  double denom = (double)p * (1.0 - p);
  if (denom < 1e-12) denom = 1e-12;
  return (float)((p - t) / denom);
}

/* IoU of anchor a and the truth by shape alone (both centred at the origin). */
static float anchor_iou(const bm_yolo_head *head, int a, const bm_yolo_truth *t) {
  float aw = head->anchors[2 * a] / head->net_w, ah = head->anchors[2 * a + 1] / head->net_h;
  float inter = fminf(aw, t->w) * fminf(ah, t->h);
  return inter / (aw * ah + t->w * t->h - inter);
}

/* The truth's best anchor by shape among all num anchors. */
static int best_anchor(const bm_yolo_head *head, const bm_yolo_truth *t) {
  int best = 0;
  float best_iou = -1;
  for (int a = 0; a < head->num; a++) {
    float iou = anchor_iou(head, a, t);
    if (iou > best_iou) {
      best_iou = iou;
      best = a;
    }
  }
  return best;
}

static int truth_cell(float v, int size) {
  int cell = (int)floorf(v * size);
  return cell < 0 ? 0 : cell >= size ? size - 1 : cell;
}

/* The adjacent cell (along one axis) nearest to the truth's centre v inside its cell
 * `cell`: the one before when the centre is in the first half, the one after when in the
 * second half; -1 at the exact middle or when that cell is off the grid (YOLOv5's rule). */
static int neighbour_cell(float v, int size, int cell) {
  float frac = v * size - cell;
  int next = frac < 0.5f ? cell - 1 : frac > 0.5f ? cell + 1 : -1;
  return next >= 0 && next < size ? next : -1;
}

/* How the prediction of `anchor` at cell (i, j) is assigned to truth t: 2 when it is a
 * positive at the truth's own cell, 1 when at one of its two neighbouring cells (with
 * head->neighbors), 0 when not a positive for t. The anchor qualifies when it is the truth's
 * best by shape, or its shape IoU with the truth exceeds iou_thresh. */
static int assignment(const bm_yolo_head *head, const bm_yolo_truth *t, int i, int j, int anchor) {
  if (t->difficult) return 0;
  int ci = truth_cell(t->cx, head->w), cj = truth_cell(t->cy, head->h);
  int rank = 0;
  if (ci == i && cj == j) rank = 2;
  else if (head->neighbors && ((cj == j && neighbour_cell(t->cx, head->w, ci) == i) ||
                               (ci == i && neighbour_cell(t->cy, head->h, cj) == j)))
    rank = 1;
  if (rank == 0) return 0;
  if (best_anchor(head, t) == anchor || anchor_iou(head, anchor, t) > head->iou_thresh) return rank;
  return 0;
}

/* 1 - GIoU or 1 - CIoU of predicted box p against truth g (both cx, cy, w, h) and its
 * gradient d[4] with respect to p's (cx, cy, w, h). Returns the loss; *iou_out gets IoU. */
static double iou_box_loss(bm_iou_loss kind, const double p[4], const double g[4], double d[4],
                           double *iou_out) {
  double px1 = p[0] - p[2] / 2, px2 = p[0] + p[2] / 2, py1 = p[1] - p[3] / 2, py2 = p[1] + p[3] / 2;
  double gx1 = g[0] - g[2] / 2, gx2 = g[0] + g[2] / 2, gy1 = g[1] - g[3] / 2, gy2 = g[1] + g[3] / 2;
  /* intersection and its derivative w.r.t. (cx, cy, w, h) */
  double iw = fmin(px2, gx2) - fmax(px1, gx1), ih = fmin(py2, gy2) - fmax(py1, gy1);
  double inter = 0, di[4] = {0, 0, 0, 0};
  if (iw > 0 && ih > 0) {
    inter = iw * ih;
    double diw_x1 = px1 > gx1 ? -1 : 0, diw_x2 = px2 < gx2 ? 1 : 0;
    double dih_y1 = py1 > gy1 ? -1 : 0, dih_y2 = py2 < gy2 ? 1 : 0;
    di[0] = ih * (diw_x1 + diw_x2);
    di[2] = ih * 0.5 * (diw_x2 - diw_x1);
    di[1] = iw * (dih_y1 + dih_y2);
    di[3] = iw * 0.5 * (dih_y2 - dih_y1);
  }
  double uni = p[2] * p[3] + g[2] * g[3] - inter;
  double du[4] = {-di[0], -di[1], p[3] - di[2], p[2] - di[3]};
  double iou = inter / uni, diou[4];
  for (int k = 0; k < 4; k++) diou[k] = (di[k] * uni - inter * du[k]) / (uni * uni);
  *iou_out = iou;
  /* smallest enclosing box */
  double cw = fmax(px2, gx2) - fmin(px1, gx1), ch = fmax(py2, gy2) - fmin(py1, gy1);
  double dcw_x1 = px1 < gx1 ? -1 : 0, dcw_x2 = px2 > gx2 ? 1 : 0;
  double dch_y1 = py1 < gy1 ? -1 : 0, dch_y2 = py2 > gy2 ? 1 : 0;
  double dcw[4] = {dcw_x1 + dcw_x2, 0, 0.5 * (dcw_x2 - dcw_x1), 0};
  double dch[4] = {0, dch_y1 + dch_y2, 0, 0.5 * (dch_y2 - dch_y1)};
  if (kind == BM_IOU_LOSS_GIOU) {
    /* 1 - GIoU = 1 - IoU + (C - U) / C = 2 - IoU - U / C */
    double area_c = cw * ch;
    for (int k = 0; k < 4; k++) {
      double dc = dcw[k] * ch + cw * dch[k];
      d[k] = -diou[k] - (du[k] * area_c - uni * dc) / (area_c * area_c);
    }
    return 2 - iou - uni / area_c;
  }
  /* CIoU: 1 - IoU + rho^2 / c^2 + alpha * v, alpha = v / (1 - IoU + v), differentiated
   * through alpha as well (many implementations treat alpha as a constant). */
  double c2 = cw * cw + ch * ch;
  double rho2 = (p[0] - g[0]) * (p[0] - g[0]) + (p[1] - g[1]) * (p[1] - g[1]);
  double drho2[4] = {2 * (p[0] - g[0]), 2 * (p[1] - g[1]), 0, 0};
  const double k4_pi2 = 4.0 / (M_PI * M_PI);
  double angle_diff = atan(g[2] / g[3]) - atan(p[2] / p[3]);
  double v = k4_pi2 * angle_diff * angle_diff;
  double wh2 = p[2] * p[2] + p[3] * p[3];
  double dv[4] = {0, 0, k4_pi2 * 2 * angle_diff * (-p[3] / wh2), k4_pi2 * 2 * angle_diff * (p[2] / wh2)};
  double s = 1 - iou + v;
  double alpha_v = s > 1e-12 ? v * v / s : 0;
  for (int k = 0; k < 4; k++) {
    double dc2 = 2 * cw * dcw[k] + 2 * ch * dch[k];
    double dterm = (drho2[k] * c2 - rho2 * dc2) / (c2 * c2);
    double dalpha_v = s > 1e-12 ? (v * (2 * (1 - iou) + v) * dv[k] + v * v * diou[k]) / (s * s) : 0;
    d[k] = -diou[k] + dterm + dalpha_v;
  }
  return 1 - iou + rho2 / c2 + alpha_v;
}

/* Box term of one positive prediction pred (5 + classes floats, see bm_det.h) at cell
 * (i, j) of the given anchor: adds grad_scale * dLoss/dpred to gpred[0..3] and returns the
 * loss (iou_normalizer included). */
static double box_term(const bm_yolo_head *head, const float *pred, float *gpred, int i, int j,
                       int anchor, const bm_yolo_truth *t, float grad_scale, double *iou_out) {
  const double sxy = head->scale_x_y;
  double x = sxy * pred[0] - (sxy - 1) / 2, y = sxy * pred[1] - (sxy - 1) / 2;
  float tw = pred[2], th = pred[3];
  float aw = head->anchors[2 * anchor], ah = head->anchors[2 * anchor + 1];
  double p[4] = {(i + x) / head->w, (j + y) / head->h, clamped_exp(tw) * aw / head->net_w,
                 clamped_exp(th) * ah / head->net_h};
  double g[4] = {t->cx, t->cy, t->w, t->h};
  float wscale = grad_scale * head->iou_normalizer;
  if (head->iou_loss == BM_IOU_LOSS_MSE) {
    double target_x = t->cx * head->w - i, target_y = t->cy * head->h - j;
    double target_w = log(t->w * head->net_w / aw), target_h = log(t->h * head->net_h / ah);
    double scale = 2.0 - t->w * t->h;
    double ex = x - target_x, ey = y - target_y, ew = tw - target_w, eh = th - target_h;
    gpred[0] += wscale * (float)(scale * ex * sxy);
    gpred[1] += wscale * (float)(scale * ey * sxy);
    gpred[2] += wscale * (float)(scale * ew);
    gpred[3] += wscale * (float)(scale * eh);
    *iou_out = iou_cxcywh((float)p[0], (float)p[1], (float)p[2], (float)p[3], t->cx, t->cy, t->w, t->h);
    return head->iou_normalizer * 0.5 * scale * (ex * ex + ey * ey + ew * ew + eh * eh);
  }
  double d[4];
  double loss = head->iou_normalizer * iou_box_loss(head->iou_loss, p, g, d, iou_out);
  /* chain rule: cx = (i + sxy * x - (sxy - 1) / 2) / grid_w, w = anchor_w * exp(tw) / net_w */
  gpred[0] += wscale * (float)(d[0] * sxy / head->w);
  gpred[1] += wscale * (float)(d[1] * sxy / head->h);
  if (!exp_is_clamped(tw)) gpred[2] += wscale * (float)(d[2] * p[2]);
  if (!exp_is_clamped(th)) gpred[3] += wscale * (float)(d[3] * p[3]);
  return loss;
}

/* Loss of one image (no division by the batch yet); gradients get grad_scale. */
static void image_loss(const bm_yolo_head *head, const float *out, const bm_yolo_truth *truths,
                       int n_truths, float *grad, float grad_scale, bm_yolo_loss_parts *sum) {
  const int n_entries = 5 + head->n_classes;
  const double sxy = head->scale_x_y;
  for (int t = 0; t < n_truths; t++)
    if (!truths[t].difficult && truths[t].w > 0 && truths[t].h > 0) sum->n_truths++;
  for (int j = 0; j < head->h; j++) {
    for (int i = 0; i < head->w; i++) {
      for (int n = 0; n < head->n_anchors; n++) {
        size_t at = (((size_t)j * head->w + i) * head->n_anchors + n) * n_entries;
        const float *pred = out + at;
        float *gpred = grad + at;
        int anchor = head->mask[n];
        float aw = head->anchors[2 * anchor], ah = head->anchors[2 * anchor + 1];
        float cx = (float)((i + sxy * pred[0] - (sxy - 1) / 2) / head->w);
        float cy = (float)((j + sxy * pred[1] - (sxy - 1) / 2) / head->h);
        float pw = clamped_exp(pred[2]) * aw / head->net_w;
        float ph = clamped_exp(pred[3]) * ah / head->net_h;
        /* best IoU over every truth (difficult ones too), and the positive assignment (see
         * assignment()): a truth whose centre is in this cell beats one for which this is a
         * neighbouring cell; among equals the last truth wins, as in darknet */
        float best_iou = 0;
        int best_truth = -1, positive = -1, positive_rank = 0;
        for (int t = 0; t < n_truths; t++) {
          const bm_yolo_truth *tr = &truths[t];
          if (!(tr->w > 0 && tr->h > 0)) continue;
          float iou = iou_cxcywh(cx, cy, pw, ph, tr->cx, tr->cy, tr->w, tr->h);
          if (iou > best_iou) {
            best_iou = iou;
            best_truth = t;
          }
          int rank = assignment(head, tr, i, j, anchor);
          if (rank > 0 && rank >= positive_rank) {
            positive = t;
            positive_rank = rank;
          }
        }
        if (positive < 0 && best_truth >= 0 && best_iou > head->truth_thresh &&
            !truths[best_truth].difficult)
          positive = best_truth;
        if (positive < 0) {
          if (best_iou > head->ignore_thresh) { /* neither positive nor negative */
            sum->n_ignored++;
            continue;
          }
          sum->obj += head->obj_normalizer * bce(pred[4], 0);
          gpred[4] += grad_scale * head->obj_normalizer * bce_grad(pred[4], 0);
          continue;
        }
        const bm_yolo_truth *tr = &truths[positive];
        double iou;
        sum->box += box_term(head, pred, gpred, i, j, anchor, tr, grad_scale, &iou);
        sum->iou_sum += iou;
        sum->n_pos++;
        float obj_target = 1.0f;
        if (head->obj_iou) obj_target = iou < 0 ? 0.0f : iou > 1 ? 1.0f : (float)iou;
        sum->obj += head->obj_normalizer * bce(pred[4], obj_target);
        gpred[4] += grad_scale * head->obj_normalizer * bce_grad(pred[4], obj_target);
        for (int c = 0; c < head->n_classes; c++) {
          float target = c == tr->class_id ? 1.0f : 0.0f;
          sum->cls += head->cls_normalizer * bce(pred[5 + c], target);
          gpred[5 + c] += grad_scale * head->cls_normalizer * bce_grad(pred[5 + c], target);
        }
      }
    }
  }
}

double bm_yolo_loss(const bm_yolo_head *head, const float *out, int batch,
                    const bm_yolo_truth *truths, const int *truth_start, float *grad,
                    bm_yolo_loss_parts *parts) {
  const size_t per_image = (size_t)head->h * head->w * head->n_anchors * (5 + head->n_classes);
  bm_yolo_loss_parts sum = {0};
  for (int b = 0; b < batch; b++)
    image_loss(head, out + b * per_image, truths + truth_start[b],
               truth_start[b + 1] - truth_start[b], grad + b * per_image, 1.0f / (float)batch, &sum);
  sum.box /= batch;
  sum.obj /= batch;
  sum.cls /= batch;
  if (parts) *parts = sum;
  return sum.box + sum.obj + sum.cls;
}

int bm_yolo_decode(const bm_yolo_head *head, const float *out, float thresh, int image,
                   bm_detections *dets, bm_error *err) {
  const int n_entries = 5 + head->n_classes;
  const double sxy = head->scale_x_y;
  for (int j = 0; j < head->h; j++) {
    for (int i = 0; i < head->w; i++) {
      for (int n = 0; n < head->n_anchors; n++) {
        const float *pred = out + (((size_t)j * head->w + i) * head->n_anchors + n) * n_entries;
        float objectness = pred[4];
        if (objectness < thresh) continue; /* score = objectness * class <= objectness */
        int anchor = head->mask[n];
        float cx = (float)((i + sxy * pred[0] - (sxy - 1) / 2) / head->w * head->net_w);
        float cy = (float)((j + sxy * pred[1] - (sxy - 1) / 2) / head->h * head->net_h);
        float pw = clamped_exp(pred[2]) * head->anchors[2 * anchor];
        float ph = clamped_exp(pred[3]) * head->anchors[2 * anchor + 1];
        for (int c = 0; c < head->n_classes; c++) {
          float score = objectness * pred[5 + c];
          if (score < thresh) continue;
          bm_detection det = {image, c, score, cx - pw / 2, cy - ph / 2, cx + pw / 2, cy + ph / 2};
          if (bm_detections_push(dets, &det)) return bm_fail(err, "out of memory decoding detections");
        }
      }
    }
  }
  return 0;
}
