/* The human-cost ledger: counts per box, image and round, seconds under configurable
 * costs, and the binary checkpoint form (round trip, corruption, truncation). */
#include <string.h>

#include "boxmine/bm_mine.h"
#include "testlib.h"

/* Round 1: image 2 opened, 2 verifies (1 accepted), 1 draw; image 4 opened, 2 draws.
 * Round 3: image 2 opened again, 1 draw. (Round 2 has nothing.) */
static void fill(bm_ledger *ledger) {
  bm_error err;
  CHECK(bm_ledger_record(ledger, 1, 2, BM_ACTION_IMAGE, -1, 0, &err) == 0);
  CHECK(bm_ledger_record(ledger, 1, 2, BM_ACTION_VERIFY, 5, 1, &err) == 0);
  CHECK(bm_ledger_record(ledger, 1, 2, BM_ACTION_VERIFY, 6, 0, &err) == 0);
  CHECK(bm_ledger_record(ledger, 1, 2, BM_ACTION_DRAW, 5, 0, &err) == 0);
  CHECK(bm_ledger_record(ledger, 1, 4, BM_ACTION_IMAGE, -1, 0, &err) == 0);
  CHECK(bm_ledger_record(ledger, 1, 4, BM_ACTION_DRAW, 0, 0, &err) == 0);
  CHECK(bm_ledger_record(ledger, 1, 4, BM_ACTION_DRAW, 1, 0, &err) == 0);
  CHECK(bm_ledger_record(ledger, 3, 2, BM_ACTION_IMAGE, -1, 0, &err) == 0);
  CHECK(bm_ledger_record(ledger, 3, 2, BM_ACTION_DRAW, 5, 0, &err) == 0);
}

static void check_filled(const bm_ledger *ledger) {
  /* totals: 4 draws, 2 verifies, 3 images */
  CHECK(ledger->total.draws == 4 && ledger->total.verifies == 2 && ledger->total.images == 3);
  bm_action_counts r1 = bm_ledger_round(ledger, 1);
  CHECK(r1.draws == 3 && r1.verifies == 2 && r1.images == 2);
  bm_action_counts r2 = bm_ledger_round(ledger, 2);
  CHECK(r2.draws == 0 && r2.verifies == 0 && r2.images == 0);
  bm_action_counts r3 = bm_ledger_round(ledger, 3);
  CHECK(r3.draws == 1 && r3.images == 1);
  bm_action_counts i2 = bm_ledger_image(ledger, 2);
  CHECK(i2.draws == 2 && i2.verifies == 2 && i2.images == 2);
  bm_action_counts i4 = bm_ledger_image(ledger, 4);
  CHECK(i4.draws == 2 && i4.verifies == 0 && i4.images == 1);
  bm_action_counts upto2 = bm_ledger_through(ledger, 2);
  CHECK(upto2.draws == 3 && upto2.images == 2);
  CHECK(ledger->n_entries == 9);
  CHECK(ledger->entries[1].accepted == 1 && ledger->entries[2].accepted == 0);
  CHECK(ledger->entries[0].class_id == -1 && ledger->entries[1].class_id == 5);
}

static void test_counts_and_seconds(void) {
  bm_ledger ledger;
  bm_error err;
  CHECK(bm_ledger_init(&ledger, 6, NULL, &err) == 0);
  fill(&ledger);
  check_filled(&ledger);
  /* default costs 7 / 1.5 / 2: 4 x 7 + 2 x 1.5 + 3 x 2 = 28 + 3 + 6 = 37 s */
  CHECK_NEAR(bm_ledger_seconds(&ledger), 37.0, 1e-9);
  /* other weights on the same counts: draw 10, verify 1, image 0 -> 40 + 2 + 0 = 42 s */
  bm_costs other = {10.0, 1.0, 0.0, 0.0};
  CHECK_NEAR(bm_costs_seconds(&other, ledger.total), 42.0, 1e-9);
  /* round 1 alone under the defaults: 3 x 7 + 2 x 1.5 + 2 x 2 = 28 s */
  CHECK_NEAR(bm_costs_seconds(&ledger.costs, bm_ledger_round(&ledger, 1)), 28.0, 1e-9);
  /* bad records are refused and change nothing */
  CHECK(bm_ledger_record(&ledger, 1, 6, BM_ACTION_DRAW, 0, 0, &err) == -1);
  CHECK(strstr(err.msg, "image 6") != NULL);
  CHECK(bm_ledger_record(&ledger, -1, 0, BM_ACTION_DRAW, 0, 0, &err) == -1);
  CHECK(bm_ledger_record(&ledger, 1, 0, 9, 0, 0, &err) == -1);
  CHECK(ledger.n_entries == 9);
  bm_ledger_free(&ledger);
  /* negative costs are refused */
  bm_costs negative = {-1.0, 1.0, 1.0, 0.0};
  CHECK(bm_ledger_init(&ledger, 3, &negative, &err) == -1);
}

static void test_binary_round_trip(void) {
  bm_ledger ledger, back;
  bm_error err;
  bm_costs costs = {5.0, 0.5, 1.25, 3.0};
  CHECK(bm_ledger_init(&ledger, 6, &costs, &err) == 0);
  fill(&ledger);
  bm_buf blob;
  bm_buf_init(&blob);
  bm_buf_puts(&blob, "xyz"); /* the ledger is appended after whatever is there */
  bm_ledger_save(&ledger, &blob);
  size_t used = 0;
  CHECK(bm_ledger_load(&back, blob.data + 3, blob.len - 3, &used, &err) == 0);
  CHECK(used == blob.len - 3);
  check_filled(&back);
  CHECK(back.costs.draw == 5.0 && back.costs.verify == 0.5 && back.costs.image == 1.25);
  CHECK(back.n_images == 6);
  CHECK(memcmp(back.entries, ledger.entries, (size_t)ledger.n_entries * sizeof *ledger.entries) == 0);
  /* 4 x 5 + 2 x 0.5 + 3 x 1.25 = 20 + 1 + 3.75 = 24.75 s */
  CHECK_NEAR(bm_ledger_seconds(&back), 24.75, 1e-9);
  bm_ledger_free(&back);

  /* every single flipped byte is detected (magic, header, entries or checksum) */
  int undetected = 0;
  for (size_t i = 3; i < blob.len; i++) {
    blob.data[i] ^= 0x20;
    if (bm_ledger_load(&back, blob.data + 3, blob.len - 3, NULL, &err) == 0) {
      undetected++;
      bm_ledger_free(&back);
    }
    blob.data[i] ^= 0x20;
  }
  CHECK(undetected == 0);
  /* every truncation is detected */
  int truncated_ok = 0;
  for (size_t len = 0; len < blob.len - 3; len++) {
    if (bm_ledger_load(&back, blob.data + 3, len, NULL, &err) == 0) {
      truncated_ok++;
      bm_ledger_free(&back);
    }
  }
  CHECK(truncated_ok == 0);
  bm_buf_free(&blob);
  bm_ledger_free(&ledger);
}

static void test_json(void) {
  bm_ledger ledger;
  bm_error err;
  CHECK(bm_ledger_init(&ledger, 6, NULL, &err) == 0);
  fill(&ledger);
  bm_buf out;
  bm_buf_init(&out);
  bm_ledger_json(&ledger, &out);
  CHECK(out.data != NULL);
  if (out.data) {
    CHECK(strstr(out.data, "\"total\":{\"draws\":4,\"verifies\":2,\"images\":3,\"adjusts\":0,\"seconds\":37,"
                             "\"measured_seconds\":null,\"measured_images\":0}"));
    CHECK(strstr(out.data, "{\"round\":1,\"draws\":3,\"verifies\":2,\"images\":2,\"adjusts\":0,"
                             "\"seconds\":28,\"measured_seconds\":null}"));
    CHECK(strstr(out.data, "[1,2,1,5,1]")); /* round 1, image 2, verify, class 5, accepted */
    CHECK(strstr(out.data, "\"verify\":1.5"));
  }
  bm_buf_free(&out);
  bm_ledger_free(&ledger);
}

/* Real review rounds: adjusts are priced with their own cost and measured seconds are kept
 * beside the cost model's, per round, through the binary form and in the JSON. */
static void test_adjust_and_measured(void) {
  bm_ledger ledger, back;
  bm_error err;
  bm_costs costs = {7.0, 1.5, 2.0, 3.5};
  CHECK(bm_ledger_init(&ledger, 4, &costs, &err) == 0);
  CHECK(bm_ledger_record(&ledger, 1, 0, BM_ACTION_IMAGE, -1, 0, &err) == 0);
  CHECK(bm_ledger_record(&ledger, 1, 0, BM_ACTION_ADJUST, 2, 0, &err) == 0);
  CHECK(bm_ledger_record(&ledger, 1, 0, BM_ACTION_ADJUST, 1, 0, &err) == 0);
  CHECK(bm_ledger_record(&ledger, 1, 0, BM_ACTION_VERIFY, 1, 1, &err) == 0);
  CHECK(bm_ledger_record(&ledger, 2, 3, BM_ACTION_IMAGE, -1, 0, &err) == 0);
  CHECK(bm_ledger_record(&ledger, 2, 3, BM_ACTION_DRAW, 0, 0, &err) == 0);
  CHECK(bm_ledger_record_time(&ledger, 1, 0, 12.5, &err) == 0);
  CHECK(bm_ledger_record_time(&ledger, 2, 3, 30.25, &err) == 0);
  CHECK(bm_ledger_record_time(&ledger, 2, 3, -1.0, &err) == -1);
  CHECK(bm_ledger_record_time(&ledger, 2, 9, 1.0, &err) == -1);
  CHECK(ledger.total.adjusts == 2 && bm_ledger_round(&ledger, 1).adjusts == 2);
  /* 2 images x 2 + 2 adjusts x 3.5 + 1 verify x 1.5 + 1 draw x 7 = 4 + 7 + 1.5 + 7 = 19.5 */
  CHECK_NEAR(bm_ledger_seconds(&ledger), 19.5, 1e-12);
  long images = -1;
  CHECK_NEAR(bm_ledger_measured_through(&ledger, 1, &images), 12.5, 1e-12);
  CHECK(images == 1);
  CHECK_NEAR(bm_ledger_measured_through(&ledger, 2, &images), 42.75, 1e-12);
  CHECK(images == 2);
  bm_buf blob;
  bm_buf_init(&blob);
  bm_ledger_save(&ledger, &blob);
  CHECK(bm_ledger_load(&back, blob.data, blob.len, NULL, &err) == 0);
  CHECK(back.costs.adjust == 3.5 && back.total.adjusts == 2 && back.n_measured == 2);
  CHECK(back.n_measured == 2 && back.measured[1].image == 3 && back.measured[1].seconds == 30.25);
  bm_ledger_free(&back);
  bm_buf_free(&blob);
  bm_buf out;
  bm_buf_init(&out);
  bm_ledger_json(&ledger, &out);
  CHECK(out.data && strstr(out.data, "\"adjust\":3.5"));
  CHECK(out.data && strstr(out.data, "\"measured_seconds\":42.75,\"measured_images\":2"));
  CHECK(out.data && strstr(out.data, "{\"round\":1,\"draws\":0,\"verifies\":1,\"images\":1,"
                                     "\"adjusts\":2,\"seconds\":10.5,\"measured_seconds\":12.5}"));
  CHECK(out.data && strstr(out.data, "\"measured\":[[1,0,12.5],[2,3,30.25]]"));
  bm_buf_free(&out);
  bm_ledger_free(&ledger);
}

static void put_le(bm_buf *b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) {
    unsigned char c = (unsigned char)(v >> (8 * i));
    bm_buf_append(b, &c, 1);
  }
}

static void put_f64(bm_buf *b, double d) {
  uint64_t v;
  memcpy(&v, &d, 8);
  put_le(b, v, 8);
}

/* A version-1 ledger (checkpoints written before adjusts existed), laid out by hand as
 * that version documented it, still loads: default adjust cost, no measured times. */
static void test_version_1(void) {
  bm_buf b;
  bm_buf_init(&b);
  bm_buf_append(&b, "BMLEDGR1", 8);
  put_le(&b, 1, 4);
  put_f64(&b, 6.0);
  put_f64(&b, 1.0);
  put_f64(&b, 2.5);
  put_le(&b, 3, 4); /* images */
  put_le(&b, 1, 8); /* one entry: round 1, image 2, class 4, draw */
  put_le(&b, 1, 4);
  put_le(&b, 2, 4);
  put_le(&b, 4, 4);
  put_le(&b, BM_ACTION_DRAW, 1);
  put_le(&b, 0, 1);
  put_le(&b, bm_crc32c(0, b.data, b.len), 4);
  bm_ledger ledger;
  bm_error err;
  size_t used = 0;
  CHECK_MSG(bm_ledger_load(&ledger, b.data, b.len, &used, &err) == 0, "%s", err.msg);
  CHECK(used == b.len);
  CHECK(ledger.costs.draw == 6.0 && ledger.costs.image == 2.5 && ledger.costs.adjust == 3.5);
  CHECK(ledger.total.draws == 1 && ledger.n_measured == 0);
  bm_ledger_free(&ledger);
  bm_buf_free(&b);
}

int main(void) {
  test_adjust_and_measured();
  test_version_1();
  test_counts_and_seconds();
  test_binary_round_trip();
  test_json();
  return bm_test_finish("test_ledger");
}
