/* Growable list of detections. */
#include "boxmine/bm_data.h"

int bm_detections_push(bm_detections *dets, const bm_detection *det) {
  if (dets->n == dets->cap) {
    long cap = dets->cap ? dets->cap * 2 : 256;
    bm_detection *grown = bm_realloc(dets->items, (size_t)cap * sizeof *grown);
    if (!grown) return -1;
    dets->items = grown;
    dets->cap = cap;
  }
  dets->items[dets->n++] = *det;
  return 0;
}

void bm_detections_free(bm_detections *dets) {
  bm_free(dets->items);
  dets->items = NULL;
  dets->n = dets->cap = 0;
}
