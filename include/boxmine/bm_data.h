/* boxmine data: datasets in PASCAL VOC layout, images, detections.
 *
 * Coordinates: boxes are floats x1 y1 x2 y2 in the annotation file's own VOC pixel
 * coordinates (VOC is 1-based and pixel-inclusive: a box covering the whole W x H image is
 * 1 1 W H). Conversions to 0-based continuous coordinates happen at the edges (letterbox,
 * training targets), never in the dataset itself.
 */
#ifndef BM_DATA_H
#define BM_DATA_H

#include "boxmine/bm_core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BM_MAX_CLASSES 1000

/* One annotated object. */
typedef struct bm_object {
  int class_id;
  float x1, y1, x2, y2;
  int difficult;
  int truncated;
  char pose[24];
} bm_object;

/* One image of a dataset. Its objects are dataset->objects[first_object ..
 * first_object + n_objects). */
typedef struct bm_image_info {
  char *id;         /* image id: file name without extension (the VOC devkit's id) */
  char *image_path; /* full path to the image file */
  char *ann_path;   /* full path to the XML file (NULL for loose images) */
  int width, height, depth;
  int first_object;
  int n_objects;
} bm_image_info;

typedef struct bm_dataset {
  char *root;
  int n_images;
  bm_image_info *images;
  int n_objects;
  bm_object *objects;
  int n_classes;
  char **class_names;
  int is_voc; /* class list is the 20 PASCAL VOC classes */
} bm_dataset;

/* Where a dataset comes from and what to do with imperfect input. */
typedef struct bm_dataset_opts {
  const char *root;            /* VOC root, or a folder with images and XML side by side */
  const char *images_dir;      /* explicit image folder (with annotations_dir) */
  const char *annotations_dir; /* explicit annotation folder */
  const char *split;           /* ImageSets/Main/<split>.txt; NULL = every annotation */
  const char *classes_file;    /* explicit class list, one per line; NULL = automatic */
  const char *class_list_out;  /* where to write an inferred class list (run folder); may be NULL */
  const char *cache_dir;       /* where to keep the parsed-annotation cache; NULL = no cache */
  int skip_unknown_classes;    /* 1: warn and drop objects of unknown classes; 0: error */
  int skip_bad_images;         /* 1: warn and drop images that are missing or undecodable */
  int check_images;            /* 1: read every image header to verify its real size */
} bm_dataset_opts;

int bm_dataset_load(bm_dataset *ds, const bm_dataset_opts *opts, bm_log *log, bm_error *err);
void bm_dataset_free(bm_dataset *ds);
/* Index of a class name, or -1. */
int bm_dataset_class_index(const bm_dataset *ds, const char *name);
/* Index of an image id, or -1 (linear scan; callers that need many look-ups build a map). */
int bm_dataset_image_index(const bm_dataset *ds, const char *id);

/* Writes one VOC annotation file atomically. Class ids of objects index class_names.
 * object_extra_xml: NULL, or per object an XML fragment (or NULL) written inside that
 * <object> element after the standard fields (used for provenance of mined boxes). */
int bm_voc_write_xml(const char *path, const char *folder, const char *filename, int width,
                     int height, int depth, const bm_object *objects, int n_objects,
                     char *const *class_names, const char *const *object_extra_xml,
                     bm_error *err);

/* An 8-bit interleaved image (RGB when channels == 3). */
typedef struct bm_image {
  int width, height, channels;
  unsigned char *pixels; /* height * width * channels bytes, row-major */
} bm_image;

/* Decodes JPEG or PNG, chosen by the file's magic bytes; always returns 3-channel RGB. */
int bm_image_load(const char *path, bm_image *img, bm_error *err);
/* Reads only the header: width and height. */
int bm_image_size(const char *path, int *width, int *height, bm_error *err);
int bm_image_save_png(const char *path, const bm_image *img, bm_error *err);
int bm_image_save_jpeg(const char *path, const bm_image *img, int quality, bm_error *err);
void bm_image_free(bm_image *img);

/* One detection: an image index into a dataset, a class, a score and a box in the same VOC
 * pixel coordinates as the annotations. */
typedef struct bm_detection {
  int image;
  int class_id;
  float score;
  float x1, y1, x2, y2;
} bm_detection;

typedef struct bm_detections {
  long n;
  long cap;
  bm_detection *items;
} bm_detections;

int bm_detections_push(bm_detections *dets, const bm_detection *det);
void bm_detections_free(bm_detections *dets);

#ifdef __cplusplus
}
#endif
#endif
