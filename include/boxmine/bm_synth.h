/* boxmine synth: a small detection dataset in PASCAL VOC layout composed from Fashion-MNIST
 * garments (Debian package dataset-fashion-mnist) on textured backgrounds. The rules (sizes,
 * placement, truncated/difficult flags, seeding) are in docs/SYNTH.md. */
#ifndef BM_SYNTH_H
#define BM_SYNTH_H

#include "boxmine/bm_data.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BM_SYNTH_N_CLASSES 10
#define BM_SYNTH_MAX_OBJECTS 32
#define BM_SYNTH_DEFAULT_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Class names in Fashion-MNIST label order, without spaces or slashes. */
extern const char *const bm_synth_class_names[BM_SYNTH_N_CLASSES];

/* ---- Fashion-MNIST idx files ------------------------------------------------------------- */
typedef struct bm_mnist {
  int n;              /* number of images */
  int rows, cols;     /* 28 x 28 for Fashion-MNIST */
  unsigned char *images; /* n x rows x cols, 0 = background */
  unsigned char *labels; /* n, each < BM_SYNTH_N_CLASSES */
} bm_mnist;

/* Reads an idx3 image file and its idx1 label file, gzipped or not (zlib reads both). */
int bm_mnist_load(const char *images_path, const char *labels_path, bm_mnist *mnist,
                  bm_error *err);
/* The package's training (train = 1: train-*) or test (train = 0: t10k-*) split from dir;
 * a missing file is an error naming it and the Debian package. */
int bm_mnist_load_split(const char *dir, int train, bm_mnist *mnist, bm_error *err);
void bm_mnist_free(bm_mnist *mnist);

/* ---- one synthetic image ------------------------------------------------------------------ */
typedef struct bm_synth_scene_opts {
  int size;             /* canvas side in pixels */
  int min_objects;      /* garments drawn per image: uniform in [min, max] */
  int max_objects;      /* <= BM_SYNTH_MAX_OBJECTS */
  int plain_background; /* tests: black background, no noise */
} bm_synth_scene_opts;

/* Composes one image from garments of pool. objects (capacity max_objects) get VOC boxes
 * (1-based inclusive integers), class ids, truncated and difficult flags. img gets a new
 * size x size RGB image. */
int bm_synth_compose(const bm_mnist *pool, const bm_synth_scene_opts *opts, bm_rng *rng,
                     bm_image *img, bm_object *objects, int *n_objects, bm_error *err);

/* ---- a whole dataset ---------------------------------------------------------------------- */
typedef void (*bm_progress_fn)(void *user, long done, long total);

typedef struct bm_synth_opts {
  const char *out_dir;
  const char *mnist_dir;
  int n_trainval, n_test;
  int size;
  int min_objects, max_objects;
  uint64_t seed;
  int jpeg_quality;
  int force;              /* write into a non-empty out_dir, removing stale synth files */
  bm_progress_fn progress; /* called with the number of images done (may be NULL) */
  void *progress_user;
} bm_synth_opts;

typedef struct bm_synth_stats {
  long n_images[2];    /* [0] trainval, [1] test */
  long n_objects[2];
  long n_difficult[2];
  long n_truncated[2];
  long n_per_class[2][BM_SYNTH_N_CLASSES];
} bm_synth_stats;

int bm_synth_run(const bm_synth_opts *opts, bm_synth_stats *stats, bm_log *log, bm_error *err);

#ifdef __cplusplus
}
#endif
#endif
