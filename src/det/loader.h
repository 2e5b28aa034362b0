/* The detector's data loader: decodes images, augments them (or only letterboxes them), and
 * fills network input batches. Either a background thread does it while the caller computes
 * on the previous batch (two batch buffers, handed back and forth), or the caller's own
 * OpenMP team does it at the start of each step (opts.threads, below).
 *
 * Reproducibility: the epoch's order comes from a generator seeded by (seed, epoch), and each
 * image's augmentation from one seeded by (seed, epoch, sample index, pass), so a batch's
 * content never depends on thread timing, and a run resumed at batch k of an epoch sees the
 * same batches as an uninterrupted one.
 */
#ifndef BM_DET_LOADER_H
#define BM_DET_LOADER_H

#include "boxmine/bm_augment.h"
#include "boxmine/bm_det.h"
#include "det/image_cache.h"

typedef struct bm_loader_opts {
  int batch;               /* images per batch */
  int net_w, net_h;        /* network input size */
  int train;               /* 1: shuffled, augmented, last batch filled by wrapping around;
                            * 0: sample order, letterbox only, last batch padded */
  int stretch;             /* train == 0 only: resize to net_w x net_h without keeping the
                            * aspect ratio (darknet's default) instead of letterboxing */
  bm_augment_opts augment; /* training augmentation (net_w/net_h are overwritten) */
  uint64_t seed;
  int64_t epoch;           /* selects the order and the augmentation draws */
  long first_batch;        /* start at this batch of the epoch (resume); 0..batches per epoch */
  int threads;             /* 0: a background thread fills the next batch while the caller
                            * computes; N >= 1: bm_loader_next fills each batch itself, its
                            * images spread over N OpenMP threads, so no extra thread
                            * competes with the caller's compute team for the cores.
                            * The batches are the same either way. */
  bm_image_cache *cache;   /* decoded images kept across epochs (NULL: decode every time);
                            * used by the loader only between bm_loader_start and _stop */
  float *input;            /* threads >= 1 only, optional: fill batches straight into this
                            * [batch][3][net_h][net_w] buffer (e.g. the network's input, to
                            * save a copy per step) instead of one of the loader's own */
} bm_loader_opts;

typedef struct bm_loader_batch {
  long index;             /* batch number within the epoch */
  int n_images;           /* valid entries; the rest (evaluation only) is zero padding */
  float *input;           /* [batch][3][net_h][net_w], RGB in [0, 1] */
  int *sample;            /* [batch]: index into the sample list */
  int *image;             /* [batch]: dataset image index */
  bm_geom *geom;          /* [batch]: original image -> network input */
  int *truth_start;       /* [batch + 1]: truths of entry k are truths[truth_start[k] ..] */
  bm_yolo_truth *truths;  /* normalised network-input boxes (training only) */
  int truth_cap;
} bm_loader_batch;

typedef struct bm_loader bm_loader;

/* Number of batches of an epoch over n_samples. */
long bm_loader_batches_per_epoch(int n_samples, int batch);

/* Starts the thread for one epoch over samples (objects in VOC coordinates; objects == NULL
 * means the dataset's own). ds, samples and the objects they point to must stay valid and
 * unchanged until bm_loader_stop. */
int bm_loader_start(bm_loader **out, const bm_dataset *ds, const bm_train_sample *samples,
                    int n_samples, const bm_loader_opts *opts, bm_error *err);
/* Waits for the next batch. Returns 1 with *batch set (valid until the next call), 0 after
 * the last batch, -1 when loading failed (reason in err, naming the image). */
int bm_loader_next(bm_loader *loader, const bm_loader_batch **batch, bm_error *err);
/* Stops the thread (it finishes the image it is on) and frees everything. NULL is fine. */
void bm_loader_stop(bm_loader *loader);

#endif
