/* boxmine evaluation: PASCAL VOC and COCO detection metrics, and detection files.
 *
 * Every number here must agree with the reference evaluators papers use (the VOC devkit /
 * py-faster-rcnn voc_eval, and pycocotools' COCOeval) to 1e-6. docs/METRICS.md states the
 * exact rules, how VOC data is mapped to COCO's, and where the references disagree.
 *
 * A split is a list of image indices into a dataset (NULL with n_split = 0 means every image
 * of the dataset). A detection on an image outside the split is an error, not a false
 * positive: it means the detections and the split do not belong together.
 *
 * Memory use grows with the number of detections and ground-truth boxes, never with
 * detections x classes: classes are evaluated one at a time.
 */
#ifndef BM_EVAL_H
#define BM_EVAL_H

#include "boxmine/bm_data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads the dataset (split) to evaluate on: bm_dataset_load with keep_boxes_as_written set,
 * so the ground truth is exactly what the files say, as the reference evaluators see it
 * (training loads clip boxes and drop zero-area ones; evaluating on such a load would differ
 * from the references). Everything else as in opts. */
int bm_eval_load_dataset(bm_dataset *ds, const bm_dataset_opts *opts, bm_log *log, bm_error *err);

/* ---- PASCAL VOC ----------------------------------------------------------------------- */

/* The two IoU thresholds VOC AP is reported at (a match needs IoU strictly above them). */
#define BM_VOC_N_IOU 2
extern const double bm_voc_iou_thresholds[BM_VOC_N_IOU]; /* 0.5, 0.75 */

typedef struct bm_voc_class_ap {
  long npos;                 /* ground-truth boxes that are not difficult */
  long n_difficult;          /* difficult ground-truth boxes (never counted as positives) */
  long n_detections;         /* detections of this class in the split */
  double ap07[BM_VOC_N_IOU]; /* VOC2007 11-point AP; NAN when npos == 0 */
  double ap12[BM_VOC_N_IOU]; /* VOC2010+ area under the precision envelope; NAN when npos == 0 */
} bm_voc_class_ap;

typedef struct bm_voc_result {
  int n_classes;
  bm_voc_class_ap *classes;   /* n_classes, indexed by class id */
  int n_classes_in_mean;      /* classes with npos > 0: the means are over these only */
  double map07[BM_VOC_N_IOU]; /* NAN when no class has positives */
  double map12[BM_VOC_N_IOU];
} bm_voc_result;

/* Evaluates dets against the split's ground truth with the voc_eval rules (docs/METRICS.md). */
int bm_eval_voc(const bm_dataset *ds, const int *split, int n_split, const bm_detections *dets,
                bm_voc_result *out, bm_error *err);
void bm_voc_result_free(bm_voc_result *result);

/* Outcome of each detection of one class, in ranking order (score descending). */
enum { BM_VOC_FALSE_POSITIVE = 0, BM_VOC_TRUE_POSITIVE = 1, BM_VOC_IGNORED = 2 };
/* AP of one ranked list of outcomes against npos positives (npos > 0): the 11-point value
 * with the devkit's exact thresholds 0, 0.1, ..., 1 (*ap07) and the area under the
 * monotone precision envelope (*ap12). Either output may be NULL. */
void bm_voc_ap_of_ranking(const unsigned char *outcome, long n, long npos, double *ap07,
                          double *ap12);

/* ---- COCO ----------------------------------------------------------------------------- */

#define BM_COCO_N_IOU 10     /* 0.50:0.05:0.95 */
#define BM_COCO_N_RECALL 101 /* 0:0.01:1 */
#define BM_COCO_N_AREA 4     /* all, small, medium, large */
#define BM_COCO_N_MAXDET 3   /* 1, 10, 100 */

/* The twelve numbers of COCOeval.summarize(), in its order. -1 means "no ground truth". */
typedef struct bm_coco_stats {
  double ap, ap50, ap75, ap_small, ap_medium, ap_large;
  double ar1, ar10, ar100, ar_small, ar_medium, ar_large;
} bm_coco_stats;

typedef struct bm_coco_class_ap {
  long n_gt;                    /* ground-truth boxes that count (not crowd/difficult) */
  long n_crowd;                 /* difficult boxes, evaluated as crowd regions */
  double ap, ap50, ap75, ar100; /* area "all", 100 detections; -1 when n_gt == 0 */
} bm_coco_class_ap;

typedef struct bm_coco_result {
  bm_coco_stats stats;
  int n_classes;
  bm_coco_class_ap *classes; /* n_classes, indexed by class id */
} bm_coco_result;

/* Evaluates dets with COCOeval's bbox rules on the VOC data mapped as in docs/METRICS.md. */
int bm_eval_coco(const bm_dataset *ds, const int *split, int n_split, const bm_detections *dets,
                 bm_coco_result *out, bm_error *err);
void bm_coco_result_free(bm_coco_result *result);

/* ---- detection files -------------------------------------------------------------------- */

/* VOC devkit results: dir/comp4_det_<split>_<class>.txt per class, lines
 * "<image id> <score> <x1> <y1> <x2> <y2>" in VOC pixel coordinates. A class whose file is
 * missing has no detections (warned); no file at all is an error. An image id not in ds is
 * an error naming file and line. Detections are appended to out. */
int bm_read_voc_results(const char *dir, const char *split, const bm_dataset *ds,
                        bm_detections *out, bm_log *log, bm_error *err);
/* Writes one file per class of ds (empty when the class has no detections), atomically. */
int bm_write_voc_results(const char *dir, const char *split, const bm_dataset *ds,
                         const bm_detections *dets, bm_error *err);

/* COCO results JSON: an array of {"image_id", "category_id", "bbox": [x, y, w, h], "score"}.
 * category_id is class id + 1; image_id as described by bm_coco_image_id; bbox in COCO's
 * 0-based continuous coordinates (x = x1 - 1, w = x2 - x1 + 1). */
int bm_read_coco_results(const char *path, const bm_dataset *ds, bm_detections *out, bm_error *err);
int bm_write_coco_results(const char *path, const bm_dataset *ds, const bm_detections *dets,
                          bm_error *err);
/* The COCO image_id of a VOC image id: when the id is only digits and underscores (VOC's
 * "000005", "2007_000032") and has 1 to 15 digits, the integer those digits spell (5,
 * 2007000032), stored in *number and 1 returned; otherwise 0 (the id is written as a JSON
 * string). */
int bm_coco_image_id(const char *voc_id, long long *number);
/* The rule for a set of images (images: indices into ds, NULL = all n_images of ds): COCO
 * files use the numbers when every id spells one (bm_coco_image_id) and no two spell the
 * same; then 1 is returned, else 0 (the ids are written as strings); -1 when out of memory.
 * Results files, converted annotations and COCOeval's image order all follow it. */
int bm_coco_ids_are_numbers(const bm_dataset *ds, const int *images, int n_images);

#ifdef __cplusplus
}
#endif
#endif
