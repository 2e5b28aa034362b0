/* Bounded cache of decoded images (see image_cache.h). */
#include "det/image_cache.h"

#include <string.h>

typedef struct cache_entry {
  bm_image img; /* pixels == NULL: not held */
  char *path;   /* the image's path when it was cached */
} cache_entry;

struct bm_image_cache {
  size_t max_bytes, bytes;
  const bm_dataset *ds; /* the dataset the entries belong to */
  int n_images;
  cache_entry *entries; /* [n_images] */
};

bm_image_cache *bm_image_cache_new(size_t max_bytes) {
  bm_image_cache *cache = bm_calloc(1, sizeof *cache);
  if (cache) cache->max_bytes = max_bytes;
  return cache;
}

static void clear(bm_image_cache *cache) {
  for (int k = 0; cache->entries && k < cache->n_images; k++) {
    bm_image_free(&cache->entries[k].img);
    bm_free(cache->entries[k].path);
  }
  bm_free(cache->entries);
  cache->entries = NULL;
  cache->ds = NULL;
  cache->n_images = 0;
  cache->bytes = 0;
}

void bm_image_cache_free(bm_image_cache *cache) {
  if (!cache) return;
  clear(cache);
  bm_free(cache);
}

/* Makes the cache hold entries for ds (emptying it when it held another dataset's).
 * Returns 0, or -1 when out of memory (the cache is then empty and unbound). */
static int bind(bm_image_cache *cache, const bm_dataset *ds) {
  if (cache->ds == ds && cache->n_images == ds->n_images && cache->entries) return 0;
  clear(cache);
  if (ds->n_images < 1) return -1;
  cache->entries = bm_calloc((size_t)ds->n_images, sizeof *cache->entries);
  if (!cache->entries) return -1;
  cache->ds = ds;
  cache->n_images = ds->n_images;
  return 0;
}

const bm_image *bm_image_cache_find(bm_image_cache *cache, const bm_dataset *ds, int image) {
  if (!cache || image < 0 || image >= ds->n_images || bind(cache, ds)) return NULL;
  cache_entry *e = &cache->entries[image];
  if (!e->img.pixels) return NULL;
  if (strcmp(e->path, ds->images[image].image_path) != 0) { /* the dataset changed in place */
    cache->bytes -= (size_t)e->img.width * e->img.height * e->img.channels;
    bm_image_free(&e->img);
    bm_free(e->path);
    e->path = NULL;
    return NULL;
  }
  return &e->img;
}

int bm_image_cache_offer(bm_image_cache *cache, const bm_dataset *ds, int image, bm_image *img) {
  if (!cache || !img->pixels || image < 0 || image >= ds->n_images || bind(cache, ds)) return 0;
  cache_entry *e = &cache->entries[image];
  size_t bytes = (size_t)img->width * img->height * img->channels;
  if (e->img.pixels || bytes > cache->max_bytes - cache->bytes) return 0;
  char *path = bm_strdup(ds->images[image].image_path);
  if (!path) return 0;
  e->img = *img;
  e->path = path;
  cache->bytes += bytes;
  memset(img, 0, sizeof *img);
  return 1;
}

size_t bm_image_cache_bytes(const bm_image_cache *cache) { return cache ? cache->bytes : 0; }
