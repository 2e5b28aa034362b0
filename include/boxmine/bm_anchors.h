/* Anchor boxes fitted to a dataset's box shapes: k-means with the distance 1 - IoU between
 * shapes (both boxes centred at the origin), as YOLOv2 chose its anchors. docs/DETECTOR.md,
 * "Fitting anchors". */
#ifndef BM_ANCHORS_H
#define BM_ANCHORS_H

#include "boxmine/bm_core.h"
#include "boxmine/bm_data.h"

/* IoU of two shapes (w, h) placed on the same centre: min(w)*min(h) / union. 0 when a
 * side is not positive. */
double bm_shape_iou(float aw, float ah, float bw, float bh);

/* Mean over the n shapes wh[2n] = (w, h, ...) of the best shape IoU with any of the k
 * anchors[2k]: how well the anchors cover the boxes (1 = every box is an anchor). */
double bm_anchors_mean_iou(const float *wh, int n, const float *anchors, int k);

/* Fits k anchors to the n shapes wh[2n]: `restarts` runs of Lloyd's k-means (centres
 * seeded k-means++ style with the 1 - IoU distance, a centre = the mean w and mean h of
 * its shapes; an emptied cluster is re-seeded at the worst-covered shape), keeping the run
 * of highest mean IoU. anchors[2k] comes out sorted by area (then width), ascending.
 * Needs 1 <= k <= n, restarts >= 1 and every w, h > 0. Deterministic for a given rng
 * state. Returns 0, or -1 with the reason in err. */
int bm_anchors_kmeans(const float *wh, int n, int k, int restarts, bm_rng *rng, float *anchors,
                      bm_error *err);

/* The non-difficult boxes of every image of ds (load the dataset with the split wanted) as
 * network-input shapes: each box's continuous width and height (VOC: x2 - x1 + 1) times
 * the letterbox scale of its image into net_w x net_h, min(net_w / W, net_h / H).
 * *wh_out gets 2 * *n_out floats (bm_malloc; bm_free it). Boxes of images with an unknown
 * size (0) are skipped. Returns 0, or -1 (out of memory, no box at all) with err. */
int bm_anchor_shapes(const bm_dataset *ds, int net_w, int net_h, float **wh_out, int *n_out,
                     bm_error *err);

#endif
