/* boxmine convert: writing a loaded dataset as PASCAL VOC, COCO or YOLO files.
 *
 * Output folders (one per format, so several formats can share OUT):
 *   OUT/voc/   Annotations/<id>.xml, JPEGImages/<image file>, ImageSets/Main/<subset>.txt,
 *              classes.txt
 *   OUT/coco/  images/<image file>, instances_<subset>.json
 *   OUT/yolo/  images/<image file>, labels/<image stem>.txt, <subset>.txt (image paths),
 *              classes.txt, obj.names
 * Coordinate conventions and field choices are in docs/DATA.md ("Converting"). */
#ifndef BM_CONVERT_H
#define BM_CONVERT_H

#include "boxmine/bm_data.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { BM_FORMAT_VOC = 1, BM_FORMAT_COCO = 2, BM_FORMAT_YOLO = 4 };

/* Parses "voc,coco,yolo" (any subset, any order) into BM_FORMAT_* bits. */
int bm_parse_formats(const char *text, unsigned *formats, bm_error *err);

typedef enum bm_image_mode {
  BM_IMAGES_COPY = 0,    /* byte copies (atomic writes) */
  BM_IMAGES_SYMLINK = 1, /* absolute symbolic links to the source images */
  BM_IMAGES_NONE = 2     /* annotations only */
} bm_image_mode;

/* A named list of images (indices into the dataset): one split list / COCO file each. */
typedef struct bm_subset {
  const char *name;
  int n_images;
  const int *images;
} bm_subset;

typedef struct bm_convert_opts {
  const char *out_dir;
  unsigned formats;        /* BM_FORMAT_* bits */
  bm_image_mode image_mode;
  int overwrite;           /* 0: refuse to write into a non-empty OUT/<format> folder */
  void (*progress)(void *user, long done, long total); /* optional, per image written */
  void *progress_user;
} bm_convert_opts;

/* Writes every image of ds and one list / JSON per subset in each requested format. Refuses an
 * output folder inside the dataset's own folders. */
int bm_convert_dataset(const bm_dataset *ds, const bm_subset *subsets, int n_subsets,
                       const bm_convert_opts *opts, bm_log *log, bm_error *err);

/* COCO instances JSON of the given images (all of ds when images is NULL), with the
 * conventions of boxmine's COCO evaluator so that pycocotools on this file agrees with it:
 * image ids by bm_coco_image_id's rule over these images (numbers when every id spells a
 * distinct one, else the id strings), annotation id = object index + 1, category id = class
 * index + 1, bbox [x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1], area w * h, difficult boxes
 * iscrowd 1. docs/DATA.md ("COCO output") has the details. */
int bm_coco_write_json(const bm_dataset *ds, const int *images, int n_images, const char *path,
                       bm_error *err);

#ifdef __cplusplus
}
#endif
#endif
