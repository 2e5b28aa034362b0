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
#include "boxmine/bm_nn.h"
#include "boxmine/bm_run.h"
#include "boxmine/bm_train.h"

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
  float iou_thresh;     /* darknet (AlexeyAB) iou_thresh: an anchor of this head whose shape
                         * IoU with a truth exceeds it is a positive for that truth too, besides
                         * the best anchor (1: off, darknet's default) */
  int neighbors;        /* 1: a truth's anchors are also positives at the two neighbouring
                         * cells nearest its centre (one across, one up or down), as in
                         * YOLOv5; needs scale_x_y >= 2 to reach the centre (0: off) */
  int obj_iou;          /* 1: a positive's objectness target is the IoU of its predicted
                         * box with its truth (a constant for the gradient, clamped to
                         * [0, 1]) instead of 1, so that a confident box is also a tight
                         * one (as in YOLOv5); cfg key obj_iou=1 (0: off) */
} bm_yolo_head;

/* Fills the normalisers and scale_x_y with 1, the thresholds with darknet's defaults
 * (0.5, 1), the loss with MSE and neighbors with 0; the caller sets the rest. */
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
 *   that anchor is in this head's mask, and at anchors whose shape IoU exceeds iou_thresh,
 *   at the cell holding its centre and, with neighbors, at the two nearest adjacent cells;
 *   a truth whose centre is in the cell takes precedence over a neighbour's; or any
 *   prediction whose best IoU exceeds truth_thresh): box term, objectness BCE towards 1,
 *   class BCE towards the one-hot class;
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
/* The overlap rules of the darknet fork's [yolo] nms_kind: plain IoU (default); greedynms
 * suppresses when IoU - (d^2 / c^2)^0.6 > thresh and diounms when IoU - (d^2 / c^2)^beta >
 * thresh, d the distance of the two centres and c the diagonal of the smallest box holding
 * both (DIoU). The centre term is not invariant to stretching one axis: darknet computes it
 * in coordinates relative to the image, which is what bm_detector's detection does too. */
typedef enum bm_nms_kind { BM_NMS_IOU = 0, BM_NMS_GREEDY_DIOU = 1, BM_NMS_DIOU = 2 } bm_nms_kind;
long bm_nms_per_class_kind(bm_detection *dets, long n, float iou_thresh, int max_dets,
                           bm_nms_kind kind, float beta);
/* IoU minus (d^2 / c^2)^power (see bm_nms_kind). */
float bm_box_diou(float ax1, float ay1, float ax2, float ay2, float bx1, float by1, float bx2,
                  float by2, float power);

/* ---- the detector: a network with one or more [yolo] heads, and its classes ----------- */
typedef struct bm_detector bm_detector;

/* Post-processing of detections. */
typedef struct bm_detect_opts {
  float thresh; /* score floor: objectness * class probability (0.005, for evaluation) */
  float nms;    /* per-class NMS IoU threshold (0.45) */
  int max_dets; /* boxes kept per image, best scores first (100) */
} bm_detect_opts;
bm_detect_opts bm_detect_defaults(void);

/* A new detector from cfg text (darknet .cfg): its [yolo] heads get n_classes classes (the
 * convs feeding them are resized), parameters get darknet's initialisation from rng.
 * batch: images per forward pass (<= 0: the cfg's). class_names are copied. */
int bm_detector_create(bm_detector **out, const char *cfg_text, const char *cfg_name,
                       int n_classes, char *const *class_names, int batch, bm_rng *rng,
                       bm_log *log, bm_error *err);
/* A detector from a training checkpoint (cfg text, classes, weights in the file). A file
 * that is not a boxmine detector checkpoint, is damaged, or does not match its own cfg is
 * refused with a reason. */
int bm_detector_load(bm_detector **out, const char *ckpt_path, int batch, bm_log *log,
                     bm_error *err);
void bm_detector_free(bm_detector *det);

/* A detector from a darknet model: a .cfg file and its .weights file (which must match the
 * cfg exactly), with the classes of the cfg's [yolo] heads named by names (n_names must equal
 * that class count; names NULL: "0", "1", ...). Detection resizes images as the cfg's [net]
 * letter_box says, darknet's rule: stretched to the input size unless letter_box=1. */
int bm_detector_from_darknet(bm_detector **out, const char *cfg_path, const char *weights_path,
                             int n_names, char *const *names, int batch, bm_log *log,
                             bm_error *err);

/* Transfer learning: det was created from cfg text whose heads may have had another class
 * count (bm_detector_create rewrites them); weights_path is a darknet .weights file for that
 * cfg as written. Every convolution whose parameter shapes are the same in both gets the
 * file's weights, biases, batch-norm scales and running statistics; the others (the convs
 * feeding the heads when the class count differs) keep det's initialisation. Writes the
 * counts of conv layers loaded and kept, and a one-line summary per kept layer into report
 * (may be NULL). */
int bm_detector_load_pretrained(bm_detector *det, const char *weights_path, int *n_loaded,
                                int *n_kept, bm_buf *report, bm_log *log, bm_error *err);

/* Whether detection letterboxes its input (1) or stretches it (0): the cfg's [net]
 * letter_box when given; else 1 for detectors boxmine builds and trains (it trains on
 * letterboxed images) and 0 for bm_detector_from_darknet (darknet's default). */
int bm_detector_letterbox(const bm_detector *det);
void bm_detector_set_letterbox(bm_detector *det, int letterbox);

bm_network *bm_detector_net(bm_detector *det);
int bm_detector_n_classes(const bm_detector *det);
char *const *bm_detector_class_names(const bm_detector *det);
const char *bm_detector_cfg_text(const bm_detector *det);
int bm_detector_n_heads(const bm_detector *det);
const bm_yolo_head *bm_detector_head(const bm_detector *det, int head);
int bm_detector_head_layer(const bm_detector *det, int head); /* layer index of the head */
/* Changes the images per forward pass (keeps the weights). */
int bm_detector_set_batch(bm_detector *det, int batch, bm_error *err);
int bm_detector_batch(const bm_detector *det);
/* Sets every head's iou_thresh (see bm_yolo_head; 1 = darknet's best-anchor-only rule). */
void bm_detector_set_iou_thresh(bm_detector *det, float iou_thresh);
/* Network threads (OpenMP inside the engine); results depend only on this number. */
void bm_detector_set_threads(bm_detector *det, int threads);
/* Checks that the detector's class list equals the dataset's (names and order). */
int bm_detector_check_classes(const bm_detector *det, const bm_dataset *ds, bm_error *err);

/* Called after each batch of images with the number of images done so far. */
typedef void (*bm_progress_fn)(void *user, long done, long total);

/* Detects on images of ds (split: indices into ds->images, NULL = all of them): letterbox,
 * forward in inference mode, decode every head, map boxes back to each image (clipped to
 * it), per-class NMS, score floor and cap from opts. Appends to out in VOC pixel
 * coordinates of each image, with det.image = dataset index; images in split order, boxes of
 * an image by descending score. Images are decoded in a background thread. */
int bm_detector_detect_dataset(bm_detector *det, const bm_dataset *ds, const int *split,
                               int n_split, const bm_detect_opts *opts, bm_progress_fn progress,
                               void *progress_user, bm_detections *out, bm_error *err);
/* The same for one decoded image; det.image = image_index. */
int bm_detector_detect_image(bm_detector *det, const bm_image *img, const bm_detect_opts *opts,
                             int image_index, bm_detections *out, bm_error *err);

/* Writes the detector as a darknet .weights file (boxmine writes version 0.2.0) and, when
 * cfg_path is not NULL, a darknet .cfg with its classes and head filters set. */
int bm_detector_export_darknet(const bm_detector *det, const char *weights_path,
                               const char *cfg_path, bm_error *err);
/* The darknet files of a run folder: DIR/model.cfg (as bm_detector_export_darknet writes it)
 * and DIR/classes.txt (class names, one per line, in class-id order), both written atomically. */
int bm_detector_write_run_files(const bm_detector *det, const char *dir, bm_error *err);

/* A copy of cfg_text with the [net] section's width and height replaced (the network is
 * fully convolutional; anchors stay in input pixels). *out is freed with bm_free. */
int bm_cfg_set_input_size(const char *cfg_text, int width, int height, char **out,
                          bm_error *err);

/* ---- training ------------------------------------------------------------------------- */
/* One training sample: an image of a dataset and the boxes to learn on it. The boxes may
 * differ from the dataset's ground truth (pseudo-labels, mined SA annotations). */
typedef struct bm_train_sample {
  int image;                /* index into the dataset's images (path, size) */
  const bm_object *objects; /* VOC pixel coordinates; NULL = the dataset's own objects */
  int n_objects;            /* used when objects != NULL */
} bm_train_sample;

/* A trainer: a detector plus everything needed to continue training it exactly: optimiser
 * moments, learning-rate schedule, counters, the evaluation history. Designed to be driven
 * by `boxmine train` (bm_trainer_fit) and by the mining loop, which calls
 * bm_trainer_train_epochs on its own sample lists and bm_trainer_evaluate between rounds:
 *
 *   bm_trainer *tr;
 *   bm_train_opts to = bm_train_defaults();              // adjust lr, batch, ...
 *   bm_trainer_create(&tr, cfg_text, "cfg", ds->n_classes, ds->class_names, &to,
 *                     images_per_epoch, log, &err);       // or bm_trainer_load(ckpt)
 *   for each round:
 *     bm_trainer_train_epochs(tr, ds, samples, n_samples, 1, NULL, &summary, &err);
 *     bm_trainer_evaluate(tr, ds, test_split, n_test, NULL, &eval, NULL, &err);
 *     bm_trainer_record_ap(tr, eval.ap50, eval.ap75);    // kept in checkpoints
 *     bm_trainer_save(tr, "round.ckpt", NULL, &err);      // all of the state above
 *
 * Every random choice comes from generators derived from opts.seed and the epoch number, so
 * results depend only on the inputs and the network thread count. */
typedef struct bm_trainer bm_trainer;

typedef struct bm_train_opts {
  int batch;             /* images per update */
  int threads;           /* network threads (results depend on this number only) */
  uint64_t seed;         /* initial weights, data order, augmentation */
  bm_optim_kind optimizer; /* BM_OPTIM_SGD (momentum, nesterov optional), ADAM or ADAMW */
  int nesterov;          /* SGD only */
  float lr;              /* base learning rate */
  float momentum;        /* SGD momentum; Adam/AdamW beta1 */
  float weight_decay;    /* applied to convolution weights only */
  float clip_norm;       /* clip the gradient's global norm to this; <= 0: no clipping */
  bm_lr_policy schedule;  /* BM_LR_CONST; BM_LR_STEPS: lr x 0.1 at 70% and again at 90% of
                          * schedule_epochs; BM_LR_COSINE: from lr to lr * min_lr_frac over
                          * schedule_epochs */
  float schedule_epochs; /* length of the cosine / step schedule in epochs */
  float min_lr_frac;     /* cosine floor, as a fraction of lr */
  long warmup_iters;     /* linear warm-up over the first updates; 0: none */
  float iou_thresh;      /* extra positives: anchors with shape IoU above it (1: off) */
  float ema_decay;       /* exponential moving average of the weights (0: off); see below */
  /* augmentation (darknet-style, see bm_augment.h) */
  float jitter, hue, saturation, exposure;
  int flip;
  /* transfer learning */
  const char *pretrained; /* darknet .weights for the cfg as written, loaded by
                           * bm_trainer_create into every conv whose shapes match
                           * (bm_detector_load_pretrained); NULL: none. Not kept in
                           * checkpoints (the weights are). */
  int freeze;             /* layers [0, freeze) keep their parameters and batch-norm
                           * statistics and run as in inference (bm_net_set_frozen); 0: none.
                           * Kept in checkpoints (section trainer.freeze, only when > 0). */
} bm_train_opts;
bm_train_opts bm_train_defaults(void);
/* With ema_decay > 0 the trainer keeps a moving average of the weights and batch-norm
 * statistics, updated after every update t (1, 2, ...) with the weight
 * d = min(ema_decay, (1 + t) / (10 + t)) on the old average, and the detector holds that
 * average whenever it is not inside an update: evaluation, detection, checkpoints and
 * darknet exports all see the averaged model. The raw weights the optimiser works on are kept
 * by the trainer (and in its checkpoints) for resuming. */

/* A new trainer: a detector from cfg_text with n_classes classes, initialised from
 * opts->seed, and a fresh optimiser and schedule. images_per_epoch converts the schedule's
 * epochs into updates (ceil(images_per_epoch / batch) updates per epoch). */
int bm_trainer_create(bm_trainer **out, const char *cfg_text, const char *cfg_name,
                      int n_classes, char *const *class_names, const bm_train_opts *opts,
                      long images_per_epoch, bm_log *log, bm_error *err);
/* The whole state back from a checkpoint written by bm_trainer_save. threads > 0 overrides
 * the saved thread count (results then differ from an uninterrupted run's bits). */
int bm_trainer_load(bm_trainer **out, const char *ckpt_path, int threads, bm_log *log,
                    bm_error *err);
void bm_trainer_free(bm_trainer *tr);

bm_detector *bm_trainer_detector(bm_trainer *tr);
/* After bm_trainer_create with opts.pretrained: lines saying which convolutions were loaded
 * and which initialised (NULL otherwise). */
const char *bm_trainer_pretrained_summary(const bm_trainer *tr);
const bm_train_opts *bm_trainer_opts(const bm_trainer *tr);
int64_t bm_trainer_epoch(const bm_trainer *tr);     /* epochs completed */
int64_t bm_trainer_iteration(const bm_trainer *tr); /* updates done */
float bm_trainer_lr(const bm_trainer *tr);          /* learning rate of the next update */

/* Reported after every update. */
typedef struct bm_train_progress {
  int64_t epoch;       /* 0-based epoch in progress */
  long batch;          /* batches done in this epoch (1-based after the update) */
  long n_batches;      /* batches in this epoch */
  int64_t iteration;   /* updates done, all epochs */
  double loss, box, obj, cls; /* this update's loss and its parts (per image) */
  double epoch_loss;   /* mean loss over this epoch's updates so far */
  float lr;            /* learning rate used by this update */
  double grad_norm;    /* before clipping */
  double images_per_s; /* this epoch so far, loading included */
  double eta_s;        /* rest of this epoch */
} bm_train_progress;

typedef struct bm_train_hooks {
  /* After every update. Return nonzero to stop after it: the state is then consistent (it
   * may be saved), and the next bm_trainer_train_epochs call continues the epoch. */
  int (*on_update)(void *user, bm_trainer *tr, const bm_train_progress *progress);
  void *user;
} bm_train_hooks;

typedef struct bm_epoch_summary {
  int64_t epoch;           /* epochs completed */
  long n_updates;          /* updates in the last epoch run by this call */
  double loss, box, obj, cls; /* means over those updates */
  float lr;                /* learning rate of the last update */
  long skipped_updates;    /* updates skipped because the loss or gradient was not finite */
  double seconds;
  double images_per_s;
} bm_epoch_summary;

/* Trains n_epochs epochs over samples of ds, continuing from the current state (a stopped
 * epoch is finished first, and counts as one of the n_epochs). Every epoch reshuffles the
 * samples; an epoch is ceil(n_samples / batch) updates, the last batch filled by wrapping
 * around. Returns 0 when done, 1 when a hook stopped it, -1 on failure (a diverging loss
 * is a failure). summary (may be NULL) describes the last epoch run. */
int bm_trainer_train_epochs(bm_trainer *tr, const bm_dataset *ds, const bm_train_sample *samples,
                            int n_samples, int n_epochs, const bm_train_hooks *hooks,
                            bm_epoch_summary *summary, bm_error *err);

/* VOC all-point AP (VOC2010+ devkit) at IoU 0.5 and 0.75 on images of ds. */
typedef struct bm_eval_summary {
  double ap50, ap75; /* mean over classes with ground truth; NAN when none has */
  double ap50_07;    /* VOC2007 11-point AP at IoU 0.5 */
  long n_images;
  long n_detections;
  double seconds;
} bm_eval_summary;
/* Detects on ds (split: indices; NULL = every image) with opts (NULL = bm_detect_defaults)
 * and evaluates against ds's ground truth. The detections are appended to dets if it is
 * not NULL. For numbers that match the reference evaluators, load ds with
 * bm_eval_load_dataset (ground truth as written, not clipped; docs/METRICS.md). */
int bm_trainer_evaluate(bm_trainer *tr, const bm_dataset *ds, const int *split, int n_split,
                        const bm_detect_opts *opts, bm_eval_summary *out, bm_detections *dets,
                        bm_error *err);

/* Evaluation history, kept in checkpoints (for early stopping). */
int bm_trainer_record_ap(bm_trainer *tr, double ap50, double ap75);
int bm_trainer_n_history(const bm_trainer *tr);
/* Entry k: the epoch count when it was recorded and its APs. */
void bm_trainer_history(const bm_trainer *tr, int k, int64_t *epoch, double *ap50, double *ap75);
/* Writes the whole state atomically: "boxmine.kind", detector, optimiser, schedule,
 * counters, options, history, and caller-defined extra sections (extra may be NULL; it is
 * called with the writer before saving, e.g. for the run settings). */
typedef int (*bm_ckpt_extra_fn)(void *user, bm_ckpt_writer *w);
int bm_trainer_save(const bm_trainer *tr, const char *path, bm_ckpt_extra_fn extra,
                    void *extra_user, bm_error *err);

/* ---- the `boxmine train` loop ----------------------------------------------------------- */
/* Epochs over a training set with evaluation, checkpoints, TensorBoard scalars and early
 * stop, writing into a run folder:
 *   last.ckpt / last.weights  after every epoch (and every checkpoint_minutes inside one)
 *   best.ckpt / best.weights  when the validation AP50 improves
 *   model.cfg                 the darknet cfg matching the .weights (classes, head filters)
 *   classes.txt               one class name per line
 *   events.out.tfevents.*     Train/loss, Train/loss_box, Train/loss_obj, Train/loss_cls,
 *                             Train/lr, Train/grad_norm (step = update), Accuracy/AP_50, Accuracy/AP_75,
 *                             Accuracy/AP_shift (step = epoch)
 * Called on a trainer loaded from last.ckpt, it continues where that run stopped. */
typedef struct bm_fit_opts {
  const char *run_dir;       /* the run folder, opened (bm_run_open, BM_RUN_ANY) and closed by
                              * bm_trainer_fit, when run is NULL */
  bm_run *run;               /* or a run folder the caller opened (it stays open) */
  int epochs;                /* train until this many epochs are complete */
  int stop_after;            /* stop after this many epochs of this call, as if interrupted
                              * (result.interrupted = 1); 0: no limit */
  int eval_every;            /* evaluate every N epochs and after the last one; 0: never */
  double checkpoint_minutes; /* also save last.ckpt inside an epoch this often; 0: never */
  int log_every;             /* Train/ scalars every N updates */
  int ap_range;              /* early stop over this many evaluations; 0: off */
  double ap_shift;           /* stop when 0 < AP shift < ap_shift ... */
  double ap_thre;            /* ... once an AP50 above ap_thre was seen */
  bm_detect_opts detect;     /* post-processing for evaluation */
  bm_ckpt_extra_fn extra;    /* more sections in every checkpoint (may be NULL) */
  void *extra_user;
} bm_fit_opts;
/* epochs 100, eval_every 5, checkpoint_minutes 10, log_every 10, early stop off
 * (ap_range 0, ap_shift 0.001, ap_thre 0.5), bm_detect_defaults(). */
bm_fit_opts bm_fit_defaults(void);

typedef struct bm_fit_hooks {
  /* After every update; return nonzero to interrupt (last.ckpt is saved first). */
  int (*on_update)(void *user, const bm_train_progress *progress);
  /* After every epoch: eval is NULL when the epoch was not evaluated; ap_shift is -1 when
   * not defined yet. */
  void (*on_epoch)(void *user, const bm_epoch_summary *summary, const bm_eval_summary *eval,
                   double ap_shift, int is_best);
  /* Around evaluations (for a progress display); may be NULL. */
  void (*on_eval_progress)(void *user, long done, long total);
  void *user;
} bm_fit_hooks;

typedef struct bm_fit_result {
  int64_t epochs;      /* epochs completed */
  double best_ap50;    /* NAN when never evaluated */
  int64_t best_epoch;  /* epoch count of the best evaluation; 0 when none */
  int stopped_early;   /* the AP shift rule ended the run */
  int interrupted;     /* a hook asked to stop */
} bm_fit_result;

/* Trains on every image of train (its ground truth), evaluates on every image of val
 * (may be NULL: no evaluation, no best.*; load it with bm_eval_load_dataset). Returns 0, or
 * -1 with a reason. */
int bm_trainer_fit(bm_trainer *tr, const bm_dataset *train, const bm_dataset *val,
                   const bm_fit_opts *opts, const bm_fit_hooks *hooks, bm_fit_result *result,
                   bm_error *err);

#ifdef __cplusplus
}
#endif
#endif
