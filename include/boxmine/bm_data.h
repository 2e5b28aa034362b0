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

/* A map from strings (copied in) to non-negative ints, open addressing with FNV-1a hashes.
 * A zeroed struct is an empty map. Used for image ids, class names and file look-ups. */
typedef struct bm_strmap {
  int cap;      /* slots, a power of two (0 when empty) */
  int count;    /* keys stored */
  char **keys;  /* cap slots, NULL when free */
  int *values;
} bm_strmap;
/* Inserts or replaces; returns 0, or -1 when out of memory. */
int bm_strmap_put(bm_strmap *map, const char *key, int value);
/* The value stored for key, or -1. */
int bm_strmap_get(const bm_strmap *map, const char *key);
void bm_strmap_free(bm_strmap *map);

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

  /* Filled by bm_dataset_load (all may be NULL/0 for datasets built by hand). */
  char *images_dir;      /* folder the images were found in */
  char *annotations_dir; /* folder of the XML files */
  char *split;           /* split name (or list file) that was loaded; NULL = every file */
  char *class_source;    /* where the class list came from, in words */
  int n_boxes_in_files;  /* <object>s in the loaded images' XML files, before dropping */
  int n_boxes_dropped;   /* zero-area, outside the image, or unknown class (when skipping) */
  int n_boxes_clipped;   /* kept but clipped to the image */
  int n_images_skipped;  /* annotated images dropped (missing/undecodable, skip_bad_images) */
  int n_sizes_fixed;     /* images whose XML size was 0x0 or wrong; the real size is used */
  int n_unannotated;     /* images without an XML file (include_unannotated) */
  int n_from_cache;      /* annotation files taken from the cache instead of parsed */
  bm_strmap id_index;    /* image id -> index; used by bm_dataset_image_index when filled */
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
  int include_unannotated;     /* 1: also keep images that have no XML file (ann_path NULL) */
  /* 1: keep boxes exactly as the XML gives them, as evaluation needs (the VOC devkit and
   * pycocotools use them so; bm_eval_load_dataset sets it): no clipping to the image, zero-area
   * boxes kept (both still warned about); only boxes with a negative pixel-inclusive size
   * (xmax < xmin - 1) are dropped. 0 (training): zero-area boxes dropped, boxes clipped. */
  int keep_boxes_as_written;
  /* Optional progress report while parsing annotation files (done of total). */
  void (*progress)(void *user, long done, long total);
  void *progress_user;
} bm_dataset_opts;

/* Loads a dataset; the layouts, class-list rules, cache and checks are described in
 * docs/DATA.md. On failure *ds is left empty (safe to free). */
int bm_dataset_load(bm_dataset *ds, const bm_dataset_opts *opts, bm_log *log, bm_error *err);
void bm_dataset_free(bm_dataset *ds);
/* Index of a class name, or -1. */
int bm_dataset_class_index(const bm_dataset *ds, const char *name);
/* Index of an image id, or -1 (hash look-up when ds->id_index is filled, as after
 * bm_dataset_load; otherwise a linear scan). */
int bm_dataset_image_index(const bm_dataset *ds, const char *id);
/* (Re)builds ds->id_index from ds->images; call after adding images by hand. */
int bm_dataset_build_index(bm_dataset *ds, bm_error *err);
/* How many images of b are also images of a (the same image file), or -1 when out of memory.
 * Used to warn when an evaluation set overlaps the set a model learns from. */
int bm_dataset_shared_images(const bm_dataset *a, const bm_dataset *b);
/* The 20 PASCAL VOC class names in the devkit's order. */
extern const char *const bm_voc_class_names[20];
/* Default folder for annotation caches: $XDG_CACHE_HOME/boxmine, else $HOME/.cache/boxmine;
 * NULL when neither variable is set (bm_free the result). */
char *bm_dataset_default_cache_dir(void);
/* Reads a class list: one name per line, surrounding blanks trimmed, empty lines and lines
 * starting with '#' skipped; duplicates and names refused by bm_class_name_problem are an
 * error naming the file and line. */
/* NULL when name can be a class name, else why not ("contains a control character", ...):
 * not empty, no control character (a newline would split every class list written from it),
 * no leading '#' (a comment in class lists), no '/' (class names become file names). Checked
 * wherever names enter: VOC <name>, class list files, checkpoints. */
const char *bm_class_name_problem(const char *name);
int bm_read_class_list(const char *path, char ***names, int *n_names, bm_error *err);

/* ---- VOC split lists ---------------------------------------------------------------------- */
/* The folder of a VOC dataset's split lists, below its root. */
#define BM_VOC_SETS_DIR "ImageSets/Main"
#define BM_VOC_SPLIT_NAME_MAX 128
/* The split lists of ROOT/ImageSets/Main: the names (without ".txt") of its .txt files that
 * are not class-specific lists (those have '_' in their names: aeroplane_train.txt), sorted,
 * at most max of them (names shorter than BM_VOC_SPLIT_NAME_MAX). A missing folder has none.
 * Returns the count. */
int bm_voc_split_names(const char *root, char (*names)[BM_VOC_SPLIT_NAME_MAX], int max);
/* The ids of a split list, in file order: the first word of every line that has one (a
 * class-specific list carries a second column). Calls fn(user, id, line number) for each; a
 * nonzero return stops and is returned. Returns 0, or -1 (err set) when the file cannot be
 * read. */
int bm_voc_split_each(const char *path, int (*fn)(void *user, const char *id, int line),
                      void *user, bm_error *err);

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
