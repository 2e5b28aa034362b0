/* String-to-int hash map: open addressing, linear probing, kept at most half full. */
#include <string.h>

#include "boxmine/bm_data.h"

static uint64_t hash_key(const char *key) { return bm_fnv64(BM_FNV64_INIT, key, strlen(key)); }

/* Slot holding key, or the free slot where it would go. cap > 0. */
static int find_slot(const bm_strmap *map, const char *key) {
  int mask = map->cap - 1;
  int slot = (int)(hash_key(key) & (uint64_t)mask);
  while (map->keys[slot] && strcmp(map->keys[slot], key) != 0) slot = (slot + 1) & mask;
  return slot;
}

static int grow(bm_strmap *map) {
  int new_cap = map->cap ? map->cap * 2 : 64;
  bm_strmap bigger = {new_cap, 0, bm_calloc((size_t)new_cap, sizeof(char *)),
                      bm_calloc((size_t)new_cap, sizeof(int))};
  if (!bigger.keys || !bigger.values) {
    bm_free(bigger.keys);
    bm_free(bigger.values);
    return -1;
  }
  for (int i = 0; i < map->cap; i++) {
    if (!map->keys[i]) continue;
    int slot = find_slot(&bigger, map->keys[i]);
    bigger.keys[slot] = map->keys[i]; /* keys move, no copy */
    bigger.values[slot] = map->values[i];
    bigger.count++;
  }
  bm_free(map->keys);
  bm_free(map->values);
  *map = bigger;
  return 0;
}

int bm_strmap_put(bm_strmap *map, const char *key, int value) {
  if ((map->count + 1) * 2 > map->cap && grow(map) != 0) return -1;
  int slot = find_slot(map, key);
  if (!map->keys[slot]) {
    map->keys[slot] = bm_strdup(key);
    if (!map->keys[slot]) return -1;
    map->count++;
  }
  map->values[slot] = value;
  return 0;
}

int bm_strmap_get(const bm_strmap *map, const char *key) {
  if (map->cap == 0) return -1;
  int slot = find_slot(map, key);
  return map->keys[slot] ? map->values[slot] : -1;
}

void bm_strmap_free(bm_strmap *map) {
  for (int i = 0; i < map->cap; i++) bm_free(map->keys[i]);
  bm_free(map->keys);
  bm_free(map->values);
  memset(map, 0, sizeof *map);
}
