/* The mining state: pools L, U, Q, D, E_new as ordered index lists, one record per dataset
 * image (which pool, which annotation, the scores that placed it), the ledger and the RNG.
 * Saved and loaded whole, so a resumed loop continues exactly. */
#include <string.h>

#include "boxmine/bm_mine.h"
#include "mine/serial.h"

/* ---- index lists ---- */
int bm_index_list_push(bm_index_list *list, int value) {
  if (list->n == list->cap) {
    int cap = list->cap ? 2 * list->cap : 64;
    int *grown = bm_realloc(list->items, (size_t)cap * sizeof *grown);
    if (!grown) return -1;
    list->items = grown;
    list->cap = cap;
  }
  list->items[list->n++] = value;
  return 0;
}

void bm_index_list_clear(bm_index_list *list) { list->n = 0; }

void bm_index_list_free(bm_index_list *list) {
  bm_free(list->items);
  memset(list, 0, sizeof *list);
}

int bm_index_list_find(const bm_index_list *list, int value) {
  for (int i = 0; i < list->n; i++)
    if (list->items[i] == value) return i;
  return -1;
}

/* ---- state ---- */
void bm_mine_state_free(bm_mine_state *st) {
  if (st->images)
    for (int i = 0; i < st->n_images; i++) bm_free(st->images[i].boxes);
  bm_free(st->images);
  bm_index_list_free(&st->labeled);
  bm_index_list_free(&st->unlabeled);
  bm_index_list_free(&st->queue);
  bm_index_list_free(&st->detected);
  bm_index_list_free(&st->eval_new);
  bm_ledger_free(&st->ledger);
  memset(st, 0, sizeof *st);
}

static int alloc_images(bm_mine_state *st, int n_images, bm_error *err) {
  st->n_images = n_images;
  if (n_images == 0) return 0;
  st->images = bm_calloc((size_t)n_images, sizeof *st->images);
  if (!st->images) return bm_fail(err, "mining state: out of memory");
  for (int i = 0; i < n_images; i++) st->images[i].round = -1;
  return 0;
}

int bm_mine_state_init(bm_mine_state *st, int n_images, const int *pool, int n_pool,
                       int n_initial, uint64_t seed, const bm_costs *costs, bm_error *err) {
  memset(st, 0, sizeof *st);
  if (n_images < 0 || n_pool < 0 || n_pool > n_images)
    return bm_fail(err, "mining state: pool of %d images in a dataset of %d", n_pool, n_images);
  if (n_initial < 0 || n_initial > n_pool)
    return bm_fail(err, "mining state: %d initial images out of a pool of %d", n_initial,
                   n_pool);
  if (alloc_images(st, n_images, err) != 0 || bm_ledger_init(&st->ledger, n_images, costs, err))
    goto fail;
  /* stream 1: every choice of the mining itself (the loop's training uses its own) */
  bm_rng_seed(&st->rng, seed, 1);
  int *order = bm_malloc((size_t)(n_pool > 0 ? n_pool : 1) * sizeof *order);
  if (!order) {
    bm_fail(err, "mining state: out of memory");
    goto fail;
  }
  for (int i = 0; i < n_pool; i++) {
    int image = pool[i];
    if (image < 0 || image >= n_images || st->images[image].pool != BM_POOL_NONE) {
      bm_free(order);
      bm_fail(err, "mining state: pool entry %d (image %d) is out of range or repeated", i,
              image);
      goto fail;
    }
    st->images[image].pool = BM_POOL_UNLABELED; /* provisional: marks it as seen */
    order[i] = image;
  }
  bm_rng_shuffle(&st->rng, order, n_pool);
  for (int i = 0; i < n_pool; i++) {
    bm_mine_image *rec = &st->images[order[i]];
    int ok;
    if (i < n_initial) {
      rec->pool = BM_POOL_LABELED;
      rec->annotation = BM_ANN_GROUND_TRUTH;
      rec->round = 0;
      ok = bm_index_list_push(&st->labeled, order[i]) == 0;
    } else {
      ok = bm_index_list_push(&st->unlabeled, order[i]) == 0;
    }
    if (!ok) {
      bm_free(order);
      bm_fail(err, "mining state: out of memory");
      goto fail;
    }
  }
  bm_free(order);
  return 0;
fail:
  bm_mine_state_free(st);
  return -1;
}

int bm_mine_exhausted(const bm_mine_state *st) {
  return st->unlabeled.n == 0 && st->queue.n == 0;
}

int bm_mine_fresh_images(const bm_mine_state *st) {
  int n = 0;
  for (int i = 0; i < st->unlabeled.n; i++) n += st->images[st->unlabeled.items[i]].times_detected == 0;
  return n;
}

int bm_mine_annotation_objects(const bm_mine_state *st, int image, const bm_object *gt,
                               int n_gt_objects, bm_object **objects, int *n_objects,
                               bm_error *err) {
  *objects = NULL;
  *n_objects = 0;
  if (image < 0 || image >= st->n_images)
    return bm_fail(err, "mining state: image %d outside [0, %d)", image, st->n_images);
  const bm_mine_image *rec = &st->images[image];
  if (rec->annotation == BM_ANN_NONE)
    return bm_fail(err, "mining state: image %d has no annotation", image);
  int n = rec->annotation == BM_ANN_GROUND_TRUTH ? n_gt_objects : rec->n_boxes;
  if (n == 0) return 0;
  *objects = bm_malloc((size_t)n * sizeof **objects);
  if (!*objects) return bm_fail(err, "mining state: out of memory");
  for (int i = 0; i < n; i++)
    (*objects)[i] = rec->annotation == BM_ANN_GROUND_TRUTH ? gt[i] : rec->boxes[i].object;
  *n_objects = n;
  return 0;
}

/* Every listed image carries the list's pool, appears once, and every image whose pool has
 * a list is in it. */
int bm_mine_state_check(const bm_mine_state *st, bm_error *err) {
  const bm_index_list *lists[] = {&st->labeled, &st->unlabeled, &st->queue, &st->detected,
                                  &st->eval_new};
  const int pools[] = {BM_POOL_LABELED, BM_POOL_UNLABELED, BM_POOL_QUEUED, BM_POOL_DETECTED,
                       BM_POOL_EVAL};
  const char *names[] = {"L", "U", "Q", "D", "E_new"};
  long listed = 0;
  int *seen = bm_calloc((size_t)(st->n_images > 0 ? st->n_images : 1), sizeof *seen);
  if (!seen) return bm_fail(err, "mining state: out of memory");
  for (int l = 0; l < 5; l++) {
    for (int i = 0; i < lists[l]->n; i++) {
      int image = lists[l]->items[i];
      if (image < 0 || image >= st->n_images || seen[image] ||
          st->images[image].pool != pools[l]) {
        bm_free(seen);
        return bm_fail(err, "mining state: %s entry %d (image %d) is out of range, repeated "
                            "or marked with another pool",
                       names[l], i, image);
      }
      seen[image] = 1;
      listed++;
    }
  }
  long expected = 0;
  for (int i = 0; i < st->n_images; i++) {
    int pool = st->images[i].pool;
    if (pool >= BM_POOL_LABELED && pool <= BM_POOL_EVAL) expected++;
    if (pool > BM_POOL_BATCH) {
      bm_free(seen);
      return bm_fail(err, "mining state: image %d has unknown pool %d", i, pool);
    }
  }
  bm_free(seen);
  if (expected != listed)
    return bm_fail(err, "mining state: %ld images marked in pools but %ld listed", expected,
                   listed);
  return 0;
}

/* ---- binary form ----
 * "BMMINE01" u32 version=1, u32 n_images, i32 round, u64 rng state, u64 rng inc,
 * five lists (L U Q D E_new): u32 n + n x i32,
 * n_images records: u8 pool, u8 annotation, i32 round, i32 times_detected, f32 sl_score,
 *   f32 al_ratio, u32 n_boxes, boxes (i32 class, 4 x f32, u8 difficult, u8 truncated,
 *   24 bytes pose, u8 source, f32 score, i32 round),
 * the ledger (its own format), u32 crc32c of all bytes before it. */
static const char state_magic[8] = {'B', 'M', 'M', 'I', 'N', 'E', '0', '1'};
enum { STATE_VERSION = 1, BOX_BYTES = 4 + 16 + 2 + 24 + 1 + 4 + 4 };

static void put_list(bm_buf *out, const bm_index_list *list) {
  mine_put_u32(out, (uint32_t)list->n);
  for (int i = 0; i < list->n; i++) mine_put_u32(out, (uint32_t)list->items[i]);
}

static void put_box(bm_buf *out, const bm_sa_box *box) {
  mine_put_u32(out, (uint32_t)box->object.class_id);
  mine_put_f32(out, box->object.x1);
  mine_put_f32(out, box->object.y1);
  mine_put_f32(out, box->object.x2);
  mine_put_f32(out, box->object.y2);
  mine_put_u8(out, (uint8_t)(box->object.difficult != 0));
  mine_put_u8(out, (uint8_t)(box->object.truncated != 0));
  bm_buf_append(out, box->object.pose, sizeof box->object.pose);
  mine_put_u8(out, (uint8_t)box->source);
  mine_put_f32(out, box->score);
  mine_put_u32(out, (uint32_t)box->round);
}

void bm_mine_state_save(const bm_mine_state *st, bm_buf *out) {
  size_t start = out->len;
  bm_buf_append(out, state_magic, sizeof state_magic);
  mine_put_u32(out, STATE_VERSION);
  mine_put_u32(out, (uint32_t)st->n_images);
  mine_put_u32(out, (uint32_t)st->round);
  mine_put_u64(out, st->rng.state);
  mine_put_u64(out, st->rng.inc);
  put_list(out, &st->labeled);
  put_list(out, &st->unlabeled);
  put_list(out, &st->queue);
  put_list(out, &st->detected);
  put_list(out, &st->eval_new);
  for (int i = 0; i < st->n_images; i++) {
    const bm_mine_image *rec = &st->images[i];
    mine_put_u8(out, rec->pool);
    mine_put_u8(out, rec->annotation);
    mine_put_u32(out, (uint32_t)rec->round);
    mine_put_u32(out, (uint32_t)rec->times_detected);
    mine_put_f32(out, rec->sl_score);
    mine_put_f32(out, rec->al_ratio);
    mine_put_u32(out, (uint32_t)rec->n_boxes);
    for (int b = 0; b < rec->n_boxes; b++) put_box(out, &rec->boxes[b]);
  }
  bm_ledger_save(&st->ledger, out);
  if (out->failed) return;
  mine_put_u32(out, bm_crc32c(0, out->data + start, out->len - start));
}

static int get_list(mine_reader *in, bm_index_list *list, int n_images, const char *name,
                    bm_error *err) {
  uint32_t n = mine_get_u32(in);
  if (in->failed || n > (uint32_t)n_images || n > (in->len - in->pos) / 4)
    return bm_fail(err, "mining state: list %s is truncated or too long", name);
  for (uint32_t i = 0; i < n; i++)
    if (bm_index_list_push(list, (int)mine_get_u32(in)) != 0)
      return bm_fail(err, "mining state: out of memory");
  return 0;
}

static int get_image(mine_reader *in, bm_mine_image *rec, int index, bm_error *err) {
  rec->pool = mine_get_u8(in);
  rec->annotation = mine_get_u8(in);
  rec->round = (int32_t)mine_get_u32(in);
  rec->times_detected = (int32_t)mine_get_u32(in);
  rec->sl_score = mine_get_f32(in);
  rec->al_ratio = mine_get_f32(in);
  uint32_t n_boxes = mine_get_u32(in);
  if (in->failed || n_boxes > (in->len - in->pos) / BOX_BYTES || rec->annotation > BM_ANN_PSEUDO)
    return bm_fail(err, "mining state: image record %d is truncated or corrupt", index);
  rec->n_boxes = 0;
  if (n_boxes == 0) return 0;
  rec->boxes = bm_calloc(n_boxes, sizeof *rec->boxes);
  if (!rec->boxes) return bm_fail(err, "mining state: out of memory");
  rec->n_boxes = (int)n_boxes;
  for (uint32_t b = 0; b < n_boxes; b++) {
    bm_sa_box *box = &rec->boxes[b];
    box->object.class_id = (int)mine_get_u32(in);
    box->object.x1 = mine_get_f32(in);
    box->object.y1 = mine_get_f32(in);
    box->object.x2 = mine_get_f32(in);
    box->object.y2 = mine_get_f32(in);
    box->object.difficult = mine_get_u8(in);
    box->object.truncated = mine_get_u8(in);
    mine_get_bytes(in, box->object.pose, sizeof box->object.pose);
    box->object.pose[sizeof box->object.pose - 1] = '\0';
    box->source = mine_get_u8(in);
    box->score = mine_get_f32(in);
    box->round = (int)mine_get_u32(in);
  }
  return in->failed ? bm_fail(err, "mining state: image record %d is truncated", index) : 0;
}

int bm_mine_state_load(bm_mine_state *st, const void *data, size_t len, bm_error *err) {
  memset(st, 0, sizeof *st);
  if (len < sizeof state_magic + 4 || memcmp(data, state_magic, sizeof state_magic) != 0)
    return bm_fail(err, "mining state: bad magic (not a boxmine mining state)");
  mine_reader tail;
  mine_reader_init(&tail, (const char *)data + len - 4, 4);
  if (mine_get_u32(&tail) != bm_crc32c(0, data, len - 4))
    return bm_fail(err, "mining state: checksum mismatch (corrupt or truncated data)");
  mine_reader in;
  mine_reader_init(&in, data, len - 4);
  in.pos = sizeof state_magic;
  uint32_t version = mine_get_u32(&in);
  if (version != STATE_VERSION)
    return bm_fail(err, "mining state: version %u, this build reads %d", version, STATE_VERSION);
  uint32_t n_images = mine_get_u32(&in);
  int32_t round = (int32_t)mine_get_u32(&in);
  if (n_images > 0x7fffffffu || round < 0)
    return bm_fail(err, "mining state: corrupt header");
  if (alloc_images(st, (int)n_images, err) != 0) goto fail;
  st->round = round;
  st->rng.state = mine_get_u64(&in);
  st->rng.inc = mine_get_u64(&in);
  if (get_list(&in, &st->labeled, st->n_images, "L", err) ||
      get_list(&in, &st->unlabeled, st->n_images, "U", err) ||
      get_list(&in, &st->queue, st->n_images, "Q", err) ||
      get_list(&in, &st->detected, st->n_images, "D", err) ||
      get_list(&in, &st->eval_new, st->n_images, "E_new", err))
    goto fail;
  for (int i = 0; i < st->n_images; i++)
    if (get_image(&in, &st->images[i], i, err) != 0) goto fail;
  size_t used = 0;
  if (bm_ledger_load(&st->ledger, in.data + in.pos, in.len - in.pos, &used, err) != 0) {
    bm_fail_prefix(err, "mining state");
    goto fail;
  }
  if (in.pos + used != in.len) {
    bm_fail(err, "mining state: %zu unexpected bytes at the end", in.len - in.pos - used);
    goto fail;
  }
  if (st->ledger.n_images != st->n_images) {
    bm_fail(err, "mining state: ledger covers %d images, state %d", st->ledger.n_images,
            st->n_images);
    goto fail;
  }
  if (bm_mine_state_check(st, err) != 0) goto fail;
  return 0;
fail:
  bm_mine_state_free(st);
  return -1;
}
