/* boxmine review: a mining round labelled by real people (docs/REVIEW.md).
 *
 *   queue    the images of one round that wait for people, each with the machine's boxes
 *            (the detections fusion kept, score >= --uncertain-thre), and the round's settings
 *   export   the queue as files the labelling tools read: Label Studio tasks with
 *            pre-annotations (+ the labelling config), CVAT for images 1.1 XML, one VOC XML per
 *            image, and manifest.json (boxmine's own record of what was exported)
 *   import   what people sent back (a Label Studio JSON export, a CVAT 1.1 XML file or a
 *            folder of VOC XML files) matched to the exported machine boxes: per image one
 *            answer, per box one verdict (accepted, adjusted, deleted, added)
 *   answers  the verdicts as JSON (answers.json in the round's review folder), merged over
 *            several imports, read back by the mining loop
 *
 * Coordinates are VOC pixel coordinates (bm_data.h) and pass through the tools unchanged:
 * a box x1 y1 x2 y2 is exported as the tool's left/top/right/bottom corners (Label Studio:
 * percentages of the original size), and read back the same way.
 */
#ifndef BM_REVIEW_H
#define BM_REVIEW_H

#include "boxmine/bm_core.h"
#include "boxmine/bm_data.h"
#include "boxmine/bm_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the queue of one round --------------------------------------------------------------- */
/* One machine box as exported; its index in the image's array is its stable id. */
typedef struct bm_review_box {
  int class_id;
  float score;
  float x1, y1, x2, y2;
  int role; /* BM_BOX_* of bm_mine.h (certain, uncertain, demoted), for the record */
} bm_review_box;

typedef struct bm_review_image {
  char *id;   /* the dataset's image id: data.bm_id in Label Studio, the look-up key */
  int index;  /* dataset index when exported (a check when read back) */
  char *file; /* path of the image file */
  int width, height;
  int n_boxes;
  bm_review_box *boxes;
} bm_review_image;

typedef struct bm_review_queue {
  int round;
  char *model_version; /* e.g. "round-3" or a checkpoint name; Label Studio's model_version */
  int n_classes;
  char **class_names;
  char *settings_json; /* a JSON object with the round's settings (thresholds, ...), or NULL */
  int n_images;
  int cap_images;
  bm_review_image *images;
  bm_strmap by_id;   /* image id -> position */
  bm_strmap by_file; /* file base name -> position (CVAT names images by file) */
} bm_review_queue;

/* class_names are copied; settings_json (may be NULL) must be a JSON object. */
int bm_review_queue_init(bm_review_queue *q, int round, const char *model_version,
                         char *const *class_names, int n_classes, const char *settings_json,
                         bm_error *err);
void bm_review_queue_free(bm_review_queue *q);
/* Appends an image with its machine boxes (copied). Fails on a repeated id or file base name,
 * a class out of range, a non-positive size or non-finite coordinates. */
int bm_review_queue_add(bm_review_queue *q, const char *id, int index, const char *file,
                        int width, int height, const bm_review_box *boxes, int n_boxes,
                        bm_error *err);
/* Position of an image id, or -1. */
int bm_review_queue_find(const bm_review_queue *q, const char *id);

/* manifest.json: format, version, round, model_version, classes, settings, and per image its
 * id, dataset index, file, size and boxes (id, class, score, box, role). */
void bm_review_manifest_json(const bm_review_queue *q, bm_buf *out);
/* Reads a manifest back; errors name the path and the field. */
int bm_review_manifest_load(const char *path, bm_review_queue *q, bm_error *err);

/* ---- export ------------------------------------------------------------------------------- */
typedef struct bm_review_export_opts {
  /* Label Studio's data.image is url_prefix + the file's path with its leading '/' removed.
   * The default, "/data/local-files/?d=", serves local files when Label Studio runs with
   * LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true and LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=/ */
  const char *url_prefix;
} bm_review_export_opts;
void bm_review_export_opts_default(bm_review_export_opts *opts);

/* Label Studio tasks (a JSON array, one task per image, one prediction per task). */
void bm_review_label_studio_tasks(const bm_review_queue *q, const bm_review_export_opts *opts,
                                  bm_buf *out);
/* The labelling config XML the tasks expect (RectangleLabels "label" on Image "image", and a
 * per-region "difficult" choice). */
void bm_review_label_studio_config(const bm_review_queue *q, bm_buf *out);
/* CVAT for images 1.1 annotations: every image with its boxes (source="auto") and the
 * attributes score, bm_box (the machine box id) and difficult. */
void bm_review_cvat_xml(const bm_review_queue *q, bm_buf *out);
/* The label definitions CVAT's "Raw" label constructor accepts (JSON array). */
void bm_review_cvat_labels(const bm_review_queue *q, bm_buf *out);
/* Writes everything into dir (created): manifest.json, label-studio-tasks.json,
 * label-studio-config.xml, cvat-annotations.xml, cvat-labels.json and voc/<id>.xml. */
int bm_review_export_dir(const bm_review_queue *q, const bm_review_export_opts *opts,
                         const char *dir, bm_error *err);

/* ---- import: answers and verdicts --------------------------------------------------------- */
typedef enum bm_review_verdict_kind {
  BM_REVIEW_ACCEPTED = 0, /* machine box kept as it was */
  BM_REVIEW_ADJUSTED = 1, /* machine box moved, resized or relabelled */
  BM_REVIEW_DELETED = 2,  /* machine box removed */
  BM_REVIEW_ADDED = 3,    /* box drawn by the person */
  BM_REVIEW_KIND_COUNT
} bm_review_verdict_kind;
const char *bm_review_verdict_name(int kind); /* "accepted", ... */

typedef struct bm_review_verdict {
  int kind;    /* bm_review_verdict_kind */
  int machine; /* the machine box id for accepted, adjusted and deleted; -1 for added */
  int class_id;
  float x1, y1, x2, y2; /* the person's box (the machine's for deleted) */
  int difficult;
} bm_review_verdict;

/* Where an answer came from. */
enum {
  BM_REVIEW_FROM_LABEL_STUDIO = 0,
  BM_REVIEW_FROM_CVAT = 1,
  BM_REVIEW_FROM_VOC = 2,
  BM_REVIEW_FROM_PAGE = 3, /* boxmine serve */
};
const char *bm_review_source_name(int source);

typedef struct bm_review_answer {
  char *id;          /* image id */
  int source;        /* BM_REVIEW_FROM_* */
  double lead_time;  /* measured seconds on the image, NaN when the tool does not say */
  int n_verdicts;
  bm_review_verdict *verdicts; /* machine boxes in id order first, then the added ones */
  int counts[BM_REVIEW_KIND_COUNT];
} bm_review_answer;

typedef struct bm_review_answers {
  int n, cap;
  bm_review_answer *items;
} bm_review_answers;
void bm_review_answers_free(bm_review_answers *a);
/* Position of the answer for image id, or -1. */
int bm_review_answers_find(const bm_review_answers *a, const char *id);
/* Adds src's answers to dst; an image answered in both keeps src's (the newer) answer. */
int bm_review_answers_merge(bm_review_answers *dst, const bm_review_answers *src,
                            bm_error *err);

/* One box as a tool returned it, before matching. */
typedef struct bm_review_returned {
  int class_id;
  float x1, y1, x2, y2;
  int difficult;
  int machine; /* the machine box id the tool kept with the box, -1 when none */
  int origin;  /* BM_REVIEW_ORIGIN_*: what the tool says about the box */
} bm_review_returned;
enum {
  BM_REVIEW_ORIGIN_UNKNOWN = 0,
  BM_REVIEW_ORIGIN_PREDICTION = 1, /* Label Studio "prediction": untouched */
  BM_REVIEW_ORIGIN_CHANGED = 2,    /* "prediction-changed" */
  BM_REVIEW_ORIGIN_MANUAL = 3,     /* "manual": drawn by the person */
};
/* IoU (VOC pixel-inclusive) at or above which an unlabelled-origin box counts as unchanged. */
#define BM_REVIEW_SAME_IOU 0.99f

/* Matches one image's returned boxes to its machine boxes (docs/REVIEW.md, "Matching"):
 * a box carrying a valid machine id claims that box (origin decides accepted/adjusted; with
 * no origin, same class and IoU >= BM_REVIEW_SAME_IOU is accepted, anything else adjusted);
 * a box with origin manual is added; a box with neither claims the unclaimed machine box of
 * highest IoU >= BM_REVIEW_SAME_IOU (accepted when the class is the same, else adjusted
 * = relabelled), or is added. Unclaimed machine boxes are deleted. */
int bm_review_match(const bm_review_image *image, const bm_review_returned *boxes, int n,
                    bm_review_answer *out, bm_error *err);

/* Reads a Label Studio JSON export (a .json file), a CVAT for images 1.1 XML (a .xml file) or
 * a folder of VOC XML files, against the queue. Images the file does not answer are absent
 * from *out (they stay queued); an image id, file name or class the queue does not know is an
 * error naming it. */
int bm_review_import_label_studio(const bm_review_queue *q, const char *path,
                                  bm_review_answers *out, bm_log *log, bm_error *err);
int bm_review_import_cvat(const bm_review_queue *q, const char *path, bm_review_answers *out,
                          bm_log *log, bm_error *err);
int bm_review_import_voc(const bm_review_queue *q, const char *dir, bm_review_answers *out,
                         bm_log *log, bm_error *err);
/* Chooses by what path is: a folder -> VOC, *.xml -> CVAT, anything else -> Label Studio. */
int bm_review_import(const bm_review_queue *q, const char *path, bm_review_answers *out,
                     bm_log *log, bm_error *err);

/* Charges one answered image to the ledger (bm_mine.h) in round `round` as dataset image
 * `image`: one image open, one verify per accepted (accepted = 1) or deleted (0) machine box,
 * one adjust per adjusted box, one draw per added box, and the lead time when it is known. */
struct bm_ledger;
int bm_review_charge(struct bm_ledger *ledger, int round, int image,
                     const bm_review_answer *answer, bm_error *err);

/* The fusion result of an answered image for the mining loop (oracle "human"): the machine
 * side (boxes, roles, the machine-only estimates) from the exported boxes, the oracle side
 * from the verdicts: every kept box (accepted, adjusted, added) is one object of the SA
 * annotation, accepted machine boxes as SL boxes (MACHINE, with their score), adjusted and
 * added ones as AL boxes (HUMAN), difficult ones carried (DIFFICULT); a certain box is
 * accepted when its verdict is, else rejected; sl_score and al_ratio follow the spec's
 * formulas with n = the kept non-difficult boxes. *gt receives the kept boxes as objects
 * (bm_free; the result borrows it). */
struct bm_fusion_opts;
struct bm_fusion_result;
int bm_review_fusion_result(const bm_review_image *img, const bm_review_answer *ans,
                            const struct bm_fusion_opts *opts, int image, int round,
                            bm_object **gt, struct bm_fusion_result *out, bm_error *err);

/* answers.json: {"format":"boxmine-review-answers","version":1,"round":R,"answers":[...]}. */
void bm_review_answers_json(const bm_review_queue *q, const bm_review_answers *a, bm_buf *out);
/* Reads answers.json back against the queue (ids, classes and machine ids are checked). */
int bm_review_answers_load(const char *path, const bm_review_queue *q, bm_review_answers *out,
                           bm_error *err);

#ifdef __cplusplus
}
#endif
#endif
