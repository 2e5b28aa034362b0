/* Internals of the detector module shared by its files. */
#ifndef BM_DET_INTERNAL_H
#define BM_DET_INTERNAL_H

#include "boxmine/bm_det.h"
#include "boxmine/bm_nn.h"
#include "boxmine/bm_train.h"

struct bm_detector {
  bm_network *net;
  int n_classes;
  char **class_names;
  char *cfg_text; /* the cfg as given (its classes= may differ: heads are resized) */
  char *cfg_name; /* for messages */
  int n_heads;
  bm_yolo_head *heads; /* anchors/mask point into the network's layer descriptions */
  int *head_layer;
  float iou_thresh; /* bm_yolo_head.iou_thresh of every head (1: off) */
  int nms_kind;     /* bm_nms_kind of the first head's nms_kind= (the cfg's) */
  float beta_nms;
  int letterbox;    /* detection input: 1 letterboxed, 0 stretched (bm_detector_letterbox) */
};

int det_refresh_heads(bm_detector *det, bm_error *err);

/* Checkpoint sections of a detector: "detector.cfg", "detector.cfg_name",
 * "detector.classes" (names joined by newlines), "detector.params", "detector.state",
 * "detector.seen". */
int det_save_sections(const bm_detector *det, bm_ckpt_writer *w);
int det_load_sections(bm_detector **out, const bm_ckpt_reader *r, int batch, bm_log *log,
                      bm_error *err);

/* The value of section "boxmine.kind" in every checkpoint the detector writes. */
#define DET_CKPT_KIND "boxmine-detector"

#endif
