/* One rounds.jsonl record (asm-spec section 8): the loop fills a bm_round_record, the pool
 * and ledger numbers come from bm_round_record_fill, and bm_round_record_json writes the
 * line the report reads back. docs/MINING.md lists the fields. */
#include <math.h>
#include <string.h>

#include "boxmine/bm_mine.h"

void bm_round_record_init(bm_round_record *rec) {
  memset(rec, 0, sizeof *rec);
  rec->phase = 2;
  rec->labeled_images = rec->unlabeled_images = rec->queued_images = rec->batch_images = -1;
  rec->sl_images = rec->al_images = rec->sl_boxes = rec->al_boxes = -1;
  rec->human_draws = rec->human_verifies = rec->human_images = rec->human_adjusts = -1;
  rec->mean_sl_score = rec->mean_al_ratio = NAN;
  rec->human_seconds = rec->human_measured_seconds = NAN;
  rec->human_measured_images = -1;
  rec->pseudo_precision = rec->pseudo_recall = NAN;
  rec->ap50 = rec->ap75 = rec->ap_coco = rec->ap_shift = NAN;
  strcpy(rec->ap_metric, "ap50");
  rec->train_loss = rec->lr = rec->seconds = NAN;
}

void bm_round_record_fill(bm_round_record *rec, const bm_mine_state *st,
                          const bm_round_plan *plan) {
  rec->labeled_images = st->labeled.n;
  rec->unlabeled_images = st->unlabeled.n;
  rec->queued_images = st->queue.n;
  rec->human_draws = st->ledger.total.draws;
  rec->human_verifies = st->ledger.total.verifies;
  rec->human_images = st->ledger.total.images;
  rec->human_adjusts = st->ledger.total.adjusts;
  rec->human_seconds = bm_ledger_seconds(&st->ledger);
  rec->human_measured_seconds =
      bm_ledger_measured_through(&st->ledger, 10000000, &rec->human_measured_images);
  if (rec->human_measured_images == 0) rec->human_measured_seconds = NAN;
  if (!plan) return;
  rec->round = plan->round;
  rec->batch_images = plan->batch.n;
  rec->sl_images = plan->sl_images;
  rec->al_images = plan->al_images;
  rec->sl_boxes = plan->sl_boxes;
  rec->al_boxes = plan->al_boxes;
  rec->mean_sl_score = plan->mean_sl_score;
  rec->mean_al_ratio = plan->mean_al_ratio;
  rec->pseudo_precision =
      plan->pseudo_boxes > 0 ? (double)plan->pseudo_correct / (double)plan->pseudo_boxes : NAN;
  rec->pseudo_recall =
      plan->pseudo_gt > 0 ? (double)plan->pseudo_correct / (double)plan->pseudo_gt : NAN;
}

static void put_count(bm_buf *out, const char *name, long value) {
  bm_buf_printf(out, ",\"%s\":", name);
  if (value < 0) bm_buf_puts(out, "null");
  else bm_buf_printf(out, "%ld", value);
}

static void put_number(bm_buf *out, const char *name, double value) {
  bm_buf_printf(out, ",\"%s\":", name);
  bm_buf_json_number(out, value);
}

void bm_round_record_json(const bm_round_record *rec, bm_buf *out) {
  bm_buf_printf(out, "{\"round\":%d,\"phase\":%d", rec->round, rec->phase);
  put_count(out, "labeled_images", rec->labeled_images);
  put_count(out, "unlabeled_images", rec->unlabeled_images);
  put_count(out, "queued_images", rec->queued_images);
  put_count(out, "batch_images", rec->batch_images);
  put_count(out, "sl_images", rec->sl_images);
  put_count(out, "al_images", rec->al_images);
  put_count(out, "sl_boxes", rec->sl_boxes);
  put_count(out, "al_boxes", rec->al_boxes);
  put_number(out, "mean_sl_score", rec->mean_sl_score);
  put_number(out, "mean_al_ratio", rec->mean_al_ratio);
  put_count(out, "human_draws", rec->human_draws);
  put_count(out, "human_verifies", rec->human_verifies);
  put_count(out, "human_images", rec->human_images);
  put_count(out, "human_adjusts", rec->human_adjusts);
  put_number(out, "human_seconds", rec->human_seconds);
  put_number(out, "human_measured_seconds", rec->human_measured_seconds);
  put_count(out, "human_measured_images", rec->human_measured_images);
  put_number(out, "pseudo_precision", rec->pseudo_precision);
  put_number(out, "pseudo_recall", rec->pseudo_recall);
  put_number(out, "ap50", rec->ap50);
  put_number(out, "ap75", rec->ap75);
  put_number(out, "ap_coco", rec->ap_coco);
  bm_buf_puts(out, ",\"ap_metric\":");
  bm_buf_json_string(out, rec->ap_metric);
  put_number(out, "ap_shift", rec->ap_shift);
  put_number(out, "train_loss", rec->train_loss);
  put_number(out, "lr", rec->lr);
  put_number(out, "seconds", rec->seconds);
  bm_buf_puts(out, "}\n");
}
