/* The human-cost ledger (asm-spec section 4): one entry per human action on one box (or one
 * image open), with per-round and per-image totals kept alongside. Cost-model seconds are
 * never stored, only counts, so any cost weights can be applied afterwards; seconds that were
 * measured (a real person's time on an image) are stored per image beside them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "mine/serial.h"

void bm_costs_default(bm_costs *costs) {
  costs->draw = 7.0;
  costs->verify = 1.5;
  costs->image = 2.0;
  costs->adjust = 3.5;
}

static int check_costs(const bm_costs *costs, bm_error *err) {
  if (!(costs->draw >= 0 && costs->verify >= 0 && costs->image >= 0 && costs->adjust >= 0) ||
      !(costs->draw < 1e9 && costs->verify < 1e9 && costs->image < 1e9 && costs->adjust < 1e9))
    return bm_fail(err,
                   "ledger: costs must be finite and >= 0 (draw %g, verify %g, image %g, "
                   "adjust %g)",
                   costs->draw, costs->verify, costs->image, costs->adjust);
  return 0;
}

int bm_ledger_init(bm_ledger *ledger, int n_images, const bm_costs *costs, bm_error *err) {
  memset(ledger, 0, sizeof *ledger);
  if (n_images < 0) return bm_fail(err, "ledger: negative image count %d", n_images);
  if (costs) ledger->costs = *costs;
  else bm_costs_default(&ledger->costs);
  if (check_costs(&ledger->costs, err) != 0) return -1;
  ledger->n_images = n_images;
  if (n_images > 0) {
    ledger->per_image = bm_calloc((size_t)n_images, sizeof *ledger->per_image);
    if (!ledger->per_image) return bm_fail(err, "ledger: out of memory");
  }
  return 0;
}

void bm_ledger_free(bm_ledger *ledger) {
  bm_free(ledger->entries);
  bm_free(ledger->per_round);
  bm_free(ledger->per_image);
  bm_free(ledger->measured);
  memset(ledger, 0, sizeof *ledger);
}

static void add_action(bm_action_counts *counts, int action) {
  if (action == BM_ACTION_DRAW) counts->draws++;
  else if (action == BM_ACTION_VERIFY) counts->verifies++;
  else if (action == BM_ACTION_ADJUST) counts->adjusts++;
  else counts->images++;
}

static int grow_rounds(bm_ledger *ledger, int round, bm_error *err) {
  if (round < ledger->n_rounds) return 0;
  if (round >= ledger->cap_rounds) {
    int cap = ledger->cap_rounds ? ledger->cap_rounds : 16;
    while (cap <= round) cap *= 2;
    bm_action_counts *grown = bm_realloc(ledger->per_round, (size_t)cap * sizeof *grown);
    if (!grown) return bm_fail(err, "ledger: out of memory");
    ledger->per_round = grown;
    ledger->cap_rounds = cap;
  }
  memset(ledger->per_round + ledger->n_rounds, 0,
         (size_t)(round + 1 - ledger->n_rounds) * sizeof *ledger->per_round);
  ledger->n_rounds = round + 1;
  return 0;
}

int bm_ledger_record(bm_ledger *ledger, int round, int image, int action, int class_id,
                     int accepted, bm_error *err) {
  if (round < 0 || round > 10000000)
    return bm_fail(err, "ledger: round %d out of range", round);
  if (image < 0 || image >= ledger->n_images)
    return bm_fail(err, "ledger: image %d outside [0, %d)", image, ledger->n_images);
  if (action != BM_ACTION_IMAGE && action != BM_ACTION_VERIFY && action != BM_ACTION_DRAW &&
      action != BM_ACTION_ADJUST)
    return bm_fail(err, "ledger: unknown action %d", action);
  if (ledger->n_entries == ledger->cap_entries) {
    long cap = ledger->cap_entries ? 2 * ledger->cap_entries : 256;
    bm_ledger_entry *grown = bm_realloc(ledger->entries, (size_t)cap * sizeof *grown);
    if (!grown) return bm_fail(err, "ledger: out of memory");
    ledger->entries = grown;
    ledger->cap_entries = cap;
  }
  if (grow_rounds(ledger, round, err) != 0) return -1;
  bm_ledger_entry *entry = &ledger->entries[ledger->n_entries++];
  entry->round = round;
  entry->image = image;
  entry->class_id = action == BM_ACTION_IMAGE ? -1 : class_id;
  entry->action = (uint8_t)action;
  entry->accepted = (uint8_t)(action == BM_ACTION_VERIFY && accepted);
  add_action(&ledger->per_round[round], action);
  add_action(&ledger->per_image[image], action);
  add_action(&ledger->total, action);
  return 0;
}

int bm_ledger_record_time(bm_ledger *ledger, int round, int image, double seconds,
                          bm_error *err) {
  if (round < 0 || round > 10000000)
    return bm_fail(err, "ledger: round %d out of range", round);
  if (image < 0 || image >= ledger->n_images)
    return bm_fail(err, "ledger: image %d outside [0, %d)", image, ledger->n_images);
  if (!(seconds >= 0 && seconds < 1e9))
    return bm_fail(err, "ledger: measured time %g s of image %d is not a duration", seconds,
                   image);
  if (ledger->n_measured == ledger->cap_measured) {
    long cap = ledger->cap_measured ? 2 * ledger->cap_measured : 64;
    bm_ledger_time *grown = bm_realloc(ledger->measured, (size_t)cap * sizeof *grown);
    if (!grown) return bm_fail(err, "ledger: out of memory");
    ledger->measured = grown;
    ledger->cap_measured = cap;
  }
  bm_ledger_time *t = &ledger->measured[ledger->n_measured++];
  t->round = round;
  t->image = image;
  t->seconds = seconds;
  return 0;
}

double bm_ledger_measured_through(const bm_ledger *ledger, int round, long *images) {
  double sum = 0;
  long n = 0;
  for (long i = 0; i < ledger->n_measured; i++) {
    if (ledger->measured[i].round > round) continue;
    sum += ledger->measured[i].seconds;
    n++;
  }
  if (images) *images = n;
  return sum;
}

int bm_ledger_charge_review(bm_ledger *ledger, const bm_fusion_result *result, int round,
                            bm_error *err) {
  int image = result->image;
  if (bm_ledger_record(ledger, round, image, BM_ACTION_IMAGE, -1, 0, err) != 0) return -1;
  for (int i = 0; i < result->n_boxes; i++) {
    const bm_fused_box *box = &result->boxes[i];
    if (box->role != BM_BOX_CERTAIN) continue;
    if (bm_ledger_record(ledger, round, image, BM_ACTION_VERIFY, box->class_id,
                         box->verdict == BM_VERDICT_ACCEPTED, err) != 0)
      return -1;
  }
  for (int i = 0; i < result->n_sa; i++) {
    const bm_sa_box *sa = &result->sa[i];
    if (sa->source != BM_SOURCE_HUMAN) continue;
    if (bm_ledger_record(ledger, round, image, BM_ACTION_DRAW, sa->object.class_id, 0, err) != 0)
      return -1;
  }
  return 0;
}

int bm_ledger_charge_full_draw(bm_ledger *ledger, int image, const bm_object *gt,
                               int n_objects, int round, bm_error *err) {
  if (bm_ledger_record(ledger, round, image, BM_ACTION_IMAGE, -1, 0, err) != 0) return -1;
  for (int i = 0; i < n_objects; i++) {
    if (gt[i].difficult) continue; /* carried over, as in fusion: not counted */
    if (bm_ledger_record(ledger, round, image, BM_ACTION_DRAW, gt[i].class_id, 0, err) != 0)
      return -1;
  }
  return 0;
}

bm_action_counts bm_ledger_round(const bm_ledger *ledger, int round) {
  bm_action_counts none = {0, 0, 0, 0};
  if (round < 0 || round >= ledger->n_rounds) return none;
  return ledger->per_round[round];
}

bm_action_counts bm_ledger_image(const bm_ledger *ledger, int image) {
  bm_action_counts none = {0, 0, 0, 0};
  if (image < 0 || image >= ledger->n_images) return none;
  return ledger->per_image[image];
}

bm_action_counts bm_ledger_through(const bm_ledger *ledger, int round) {
  bm_action_counts sum = {0, 0, 0, 0};
  for (int r = 0; r <= round && r < ledger->n_rounds; r++) {
    sum.draws += ledger->per_round[r].draws;
    sum.verifies += ledger->per_round[r].verifies;
    sum.images += ledger->per_round[r].images;
    sum.adjusts += ledger->per_round[r].adjusts;
  }
  return sum;
}

double bm_costs_seconds(const bm_costs *costs, bm_action_counts counts) {
  return costs->draw * (double)counts.draws + costs->verify * (double)counts.verifies +
         costs->image * (double)counts.images + costs->adjust * (double)counts.adjusts;
}

double bm_ledger_seconds(const bm_ledger *ledger) {
  return bm_costs_seconds(&ledger->costs, ledger->total);
}

/* ---- binary form ----
 * "BMLEDGR1" u32 version=2, f64 draw verify image adjust, u32 n_images, u64 n_entries,
 * n_entries x (i32 round, i32 image, i32 class, u8 action, u8 accepted), u64 n_measured,
 * n_measured x (i32 round, i32 image, f64 seconds), u32 crc32c of all bytes before it.
 * Little-endian throughout. Version 1 had no adjust cost and no measured times. */
static const char ledger_magic[8] = {'B', 'M', 'L', 'E', 'D', 'G', 'R', '1'};
enum { LEDGER_VERSION = 2 };

void bm_ledger_save(const bm_ledger *ledger, bm_buf *out) {
  size_t start = out->len;
  bm_buf_append(out, ledger_magic, sizeof ledger_magic);
  mine_put_u32(out, LEDGER_VERSION);
  mine_put_f64(out, ledger->costs.draw);
  mine_put_f64(out, ledger->costs.verify);
  mine_put_f64(out, ledger->costs.image);
  mine_put_f64(out, ledger->costs.adjust);
  mine_put_u32(out, (uint32_t)ledger->n_images);
  mine_put_u64(out, (uint64_t)ledger->n_entries);
  for (long i = 0; i < ledger->n_entries; i++) {
    const bm_ledger_entry *e = &ledger->entries[i];
    mine_put_u32(out, (uint32_t)e->round);
    mine_put_u32(out, (uint32_t)e->image);
    mine_put_u32(out, (uint32_t)e->class_id);
    mine_put_u8(out, e->action);
    mine_put_u8(out, e->accepted);
  }
  mine_put_u64(out, (uint64_t)ledger->n_measured);
  for (long i = 0; i < ledger->n_measured; i++) {
    mine_put_u32(out, (uint32_t)ledger->measured[i].round);
    mine_put_u32(out, (uint32_t)ledger->measured[i].image);
    mine_put_f64(out, ledger->measured[i].seconds);
  }
  if (out->failed) return;
  mine_put_u32(out, bm_crc32c(0, out->data + start, out->len - start));
}

int bm_ledger_load(bm_ledger *ledger, const void *data, size_t len, size_t *used,
                   bm_error *err) {
  memset(ledger, 0, sizeof *ledger);
  mine_reader in;
  mine_reader_init(&in, data, len);
  char magic[8];
  mine_get_bytes(&in, magic, sizeof magic);
  if (in.failed || memcmp(magic, ledger_magic, sizeof magic) != 0)
    return bm_fail(err, "ledger: bad magic (not a boxmine ledger)");
  uint32_t version = mine_get_u32(&in);
  if (version != 1 && version != LEDGER_VERSION)
    return bm_fail(err, "ledger: version %u, this build reads 1 and %d", version, LEDGER_VERSION);
  bm_costs costs;
  bm_costs_default(&costs);
  costs.draw = mine_get_f64(&in);
  costs.verify = mine_get_f64(&in);
  costs.image = mine_get_f64(&in);
  if (version >= 2) costs.adjust = mine_get_f64(&in);
  uint32_t n_images = mine_get_u32(&in);
  uint64_t n_entries = mine_get_u64(&in);
  const size_t entry_bytes = 14, time_bytes = 16;
  if (in.failed || n_images > 0x7fffffffu || n_entries > (in.len - in.pos) / entry_bytes)
    return bm_fail(err, "ledger: truncated or corrupt header");
  size_t times_at = in.pos + (size_t)n_entries * entry_bytes;
  uint64_t n_measured = 0;
  size_t crc_at = times_at;
  if (version >= 2) {
    mine_reader at;
    mine_reader_init(&at, (const char *)data + times_at, len - times_at);
    n_measured = mine_get_u64(&at);
    if (at.failed || n_measured > (len - times_at - 8) / time_bytes)
      return bm_fail(err, "ledger: truncated or corrupt measured times");
    crc_at = times_at + 8 + (size_t)n_measured * time_bytes;
  }
  if (crc_at + 4 > len) return bm_fail(err, "ledger: truncated");
  mine_reader tail;
  mine_reader_init(&tail, (const char *)data + crc_at, 4);
  if (mine_get_u32(&tail) != bm_crc32c(0, data, crc_at))
    return bm_fail(err, "ledger: checksum mismatch (corrupt data)");
  if (bm_ledger_init(ledger, (int)n_images, &costs, err) != 0) return -1;
  for (uint64_t i = 0; i < n_entries; i++) {
    int round = (int)mine_get_u32(&in);
    int image = (int)mine_get_u32(&in);
    int class_id = (int)mine_get_u32(&in);
    int action = mine_get_u8(&in);
    int accepted = mine_get_u8(&in);
    if (bm_ledger_record(ledger, round, image, action, class_id, accepted, err) != 0) {
      bm_fail_prefix(err, "ledger: entry %llu", (unsigned long long)i);
      bm_ledger_free(ledger);
      return -1;
    }
  }
  if (version >= 2) (void)mine_get_u64(&in);
  for (uint64_t i = 0; i < n_measured; i++) {
    int round = (int)mine_get_u32(&in);
    int image = (int)mine_get_u32(&in);
    double seconds = mine_get_f64(&in);
    if (bm_ledger_record_time(ledger, round, image, seconds, err) != 0) {
      bm_fail_prefix(err, "ledger: measured time %llu", (unsigned long long)i);
      bm_ledger_free(ledger);
      return -1;
    }
  }
  if (used) *used = crc_at + 4;
  return 0;
}

static void counts_json(bm_buf *out, const bm_costs *costs, bm_action_counts c) {
  bm_buf_printf(out,
                "\"draws\":%ld,\"verifies\":%ld,\"images\":%ld,\"adjusts\":%ld,\"seconds\":",
                c.draws, c.verifies, c.images, c.adjusts);
  bm_buf_json_number(out, bm_costs_seconds(costs, c));
}

void bm_ledger_json(const bm_ledger *ledger, bm_buf *out) {
  bm_buf_puts(out, "{\"costs_seconds\":{\"draw\":");
  bm_buf_json_number(out, ledger->costs.draw);
  bm_buf_puts(out, ",\"verify\":");
  bm_buf_json_number(out, ledger->costs.verify);
  bm_buf_puts(out, ",\"image\":");
  bm_buf_json_number(out, ledger->costs.image);
  bm_buf_puts(out, ",\"adjust\":");
  bm_buf_json_number(out, ledger->costs.adjust);
  bm_buf_puts(out, "},\"total\":{");
  counts_json(out, &ledger->costs, ledger->total);
  long measured_images;
  double measured = bm_ledger_measured_through(ledger, 10000000, &measured_images);
  bm_buf_puts(out, ",\"measured_seconds\":");
  bm_buf_json_number(out, measured_images ? measured : NAN);
  bm_buf_printf(out, ",\"measured_images\":%ld", measured_images);
  bm_buf_puts(out, "},\"rounds\":[");
  for (int r = 0; r < ledger->n_rounds; r++) {
    bm_buf_printf(out, "%s{\"round\":%d,", r ? "," : "", r);
    counts_json(out, &ledger->costs, ledger->per_round[r]);
    double sum = 0;
    long n = 0;
    for (long i = 0; i < ledger->n_measured; i++)
      if (ledger->measured[i].round == r) {
        sum += ledger->measured[i].seconds;
        n++;
      }
    bm_buf_puts(out, ",\"measured_seconds\":");
    bm_buf_json_number(out, n ? sum : NAN);
    bm_buf_puts(out, "}");
  }
  bm_buf_puts(out, "],\"entry_fields\":[\"round\",\"image\",\"action\",\"class\",\"accepted\"],"
                   "\"actions\":[\"image\",\"verify\",\"draw\",\"adjust\"],\"entries\":[");
  for (long i = 0; i < ledger->n_entries; i++) {
    const bm_ledger_entry *e = &ledger->entries[i];
    bm_buf_printf(out, "%s[%d,%d,%d,%d,%d]", i ? "," : "", e->round, e->image, e->action,
                  e->class_id, e->accepted);
  }
  bm_buf_puts(out, "],\"measured_fields\":[\"round\",\"image\",\"seconds\"],\"measured\":[");
  for (long i = 0; i < ledger->n_measured; i++) {
    const bm_ledger_time *t = &ledger->measured[i];
    bm_buf_printf(out, "%s[%d,%d,", i ? "," : "", t->round, t->image);
    bm_buf_json_number(out, t->seconds);
    bm_buf_puts(out, "]");
  }
  bm_buf_puts(out, "]}");
}
