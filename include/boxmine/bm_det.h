/* boxmine detector: the YOLO head's loss and decoding, non-maximum suppression.
 *
 * A [yolo] layer's output uses the engine's NHWC layout (see bm_nn.h):
 *   [batch][h][w][n_anchors (entries of mask)][4 + 1 + n_classes]
 * so the vector of one prediction is contiguous:
 *   pred = out + ((b * h + y) * w + x) * n_anchors * (5 + n_classes) + a * (5 + n_classes)
 * pred[0], pred[1]: x, y offsets inside the cell, after the logistic (0..1)
 * pred[2], pred[3]: w, h, raw (box size = anchor * exp(value))
 * pred[4]: objectness after the logistic; pred[5 + c]: class c's score after the logistic.
 *
 * Boxes given to the loss are in the network input's normalised coordinates: centre x, centre
 * y, width, height, all divided by the network input's width or height (0..1), after the
 * letterbox. Decoded boxes are in network-input pixels (0-based, continuous: x1 y1 x2 y2);
 * the detector maps them back to the original image.
 */
#ifndef BM_DET_H
#define BM_DET_H

#include "boxmine/bm_data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the YOLO head -------------------------------------------------------------------- */
typedef enum bm_iou_loss {
  BM_IOU_LOSS_MSE = 0, /* darknet's squared error on (tx, ty, tw, th), scaled by 2 - w*h */
  BM_IOU_LOSS_GIOU,    /* 1 - GIoU */
  BM_IOU_LOSS_CIOU     /* 1 - IoU + centre distance term + aspect term (exact gradient) */
} bm_iou_loss;

/* What the loss and the decoder need to know about one [yolo] layer. The pointers are
 * borrowed (they usually point into the network's layer description). */
typedef struct bm_yolo_head {
  int w, h;             /* grid size of this head */
  int n_anchors;        /* anchors predicted here: the number of entries in mask */
  int n_classes;
  int num;              /* anchors in the whole network (darknet's num) */
  const float *anchors; /* [num][2]: width, height in network-input pixels */
  const int *mask;      /* [n_anchors]: indices into anchors */
  int net_w, net_h;     /* network input size in pixels */
  float ignore_thresh;  /* no objectness gradient when best IoU with a truth is above it */
  float truth_thresh;   /* a prediction whose best IoU is above it becomes a positive too */
  bm_iou_loss iou_loss;
  float iou_normalizer; /* weight of the box term (any iou_loss) */
  float obj_normalizer; /* weight of the objectness term */
  float cls_normalizer; /* weight of the class term */
  float scale_x_y;      /* centre = (scale_x_y * x - (scale_x_y - 1) / 2 + cell) / grid */
} bm_yolo_head;

/* Fills the normalisers and scale_x_y with 1, the thresholds with darknet's defaults
 * (0.5, 1) and the loss with MSE; the caller sets the rest. */
void bm_yolo_head_defaults(bm_yolo_head *head);

/* One ground-truth box for the loss (normalised network-input coordinates, see above). */
typedef struct bm_yolo_truth {
  float cx, cy, w, h;
  int class_id;
  int difficult; /* 1: no positive from it, and it still silences overlapping negatives */
} bm_yolo_truth;

/* The loss split into the parts that training logs (each already divided by the batch). */
typedef struct bm_yolo_loss_parts {
  double box;      /* box regression */
  double obj;      /* objectness of positives and negatives */
  double cls;      /* per-class binary cross-entropy of positives */
  long n_pos;      /* predictions assigned to a truth */
  long n_truths;   /* non-difficult truths seen */
  long n_ignored;  /* predictions left without objectness gradient by ignore_thresh */
  double iou_sum;  /* sum over positives of IoU(prediction, its truth) */
} bm_yolo_loss_parts;

/* The YOLO loss of one head over a batch, with its gradient.
 *   out:   [batch][h][w][n_anchors][5 + n_classes], values as described at the top
 *   grad:  same shape; dLoss/d(out) is ADDED into it (the layer's backward then multiplies
 *          the logistic channels by the logistic's derivative)
 *   truths of image b: truths[truth_start[b] .. truth_start[b + 1])
 * Loss = (box + obj + cls) / batch:
 *   positives (each non-difficult truth at its best anchor by shape among all num anchors, if
 *   that anchor is in this head's mask, at the cell holding its centre; or any prediction
 *   whose best IoU exceeds truth_thresh): box term, objectness BCE towards 1, class BCE
 *   towards the one-hot class;
 *   other predictions: objectness BCE towards 0, unless their best IoU with any truth
 *   (difficult ones included) exceeds ignore_thresh, then nothing.
 * parts (may be NULL) is overwritten. Returns the loss. */
double bm_yolo_loss(const bm_yolo_head *head, const float *out, int batch,
                    const bm_yolo_truth *truths, const int *truth_start, float *grad,
                    bm_yolo_loss_parts *parts);

/* Decodes one image's head output ([h][w][n_anchors][5 + n_classes]) into candidate
 * detections with score = objectness * class probability >= thresh, one per (prediction,
 * class). Boxes are in network-input pixels (0-based, continuous). Appends to dets with
 * det.image = image. Returns 0, or -1 when out of memory. */
int bm_yolo_decode(const bm_yolo_head *head, const float *out, float thresh, int image,
                   bm_detections *dets, bm_error *err);

/* ---- boxes and non-maximum suppression ------------------------------------------------ */
/* IoU of two boxes in continuous coordinates (x1 y1 x2 y2); 0 when either is empty. */
float bm_box_iou(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2,
                 float by2);

/* Per-class greedy NMS on the detections of ONE image, in place: within a class, a box is
 * dropped when its IoU with a higher-scoring kept box exceeds iou_thresh. Ties in score are
 * broken by the original order, so the result does not depend on the sort. Then keeps the
 * max_dets best-scoring boxes over all classes (max_dets <= 0: no cap). The kept boxes end
 * up in dets[0 .. returned count), sorted by descending score. Returns the count, or -1 when
 * out of memory. */
long bm_nms_per_class(bm_detection *dets, long n, float iou_thresh, int max_dets);

#ifdef __cplusplus
}
#endif
#endif
