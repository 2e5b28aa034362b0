/* Decoded training images kept in memory across epochs, so JPEG/PNG decoding happens once
 * per image instead of once per epoch.
 *
 * Bounded: images are added as they are first decoded until their pixels would take more than
 * max_bytes; after that the cache stays as it is (no eviction: with a shuffled order every
 * epoch, evicting would only trade one decode for another, and a fixed set keeps the memory
 * flat). Entries are keyed by dataset image index and checked against the image's path, and a
 * cache handed another dataset (other address or image count) empties itself first, so a
 * stale entry is never used. Cached pixels are exactly what bm_image_load returned, so
 * training results do not depend on whether an image came from the cache.
 *
 * Not thread-safe: one thread at a time (the loader looks up and inserts outside its
 * parallel part). */
#ifndef BM_DET_IMAGE_CACHE_H
#define BM_DET_IMAGE_CACHE_H

#include <stddef.h>

#include "boxmine/bm_data.h"

typedef struct bm_image_cache bm_image_cache;

/* NULL when out of memory (callers then simply decode every time). */
bm_image_cache *bm_image_cache_new(size_t max_bytes);
void bm_image_cache_free(bm_image_cache *cache);

/* The cached pixels of image `image` of ds, or NULL. Valid until the next insert or free. */
const bm_image *bm_image_cache_find(bm_image_cache *cache, const bm_dataset *ds, int image);
/* Offers a decoded image of ds. Returns 1 when the cache took it (it now owns img->pixels and
 * *img is cleared), 0 when not (full, already held, out of memory): the caller keeps it. */
int bm_image_cache_offer(bm_image_cache *cache, const bm_dataset *ds, int image, bm_image *img);
/* Bytes of pixels held. */
size_t bm_image_cache_bytes(const bm_image_cache *cache);

#endif
