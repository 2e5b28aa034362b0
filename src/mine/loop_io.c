/* The mining loop's options as text (kept in checkpoints so --resume needs only the run
 * folder), round records as numbers (kept in checkpoints so rounds.jsonl can be rewritten
 * exactly) and as rounds.jsonl lines. */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boxmine/bm_mine_loop.h"
#include "mine/loop_internal.h"

static const char *const metric_names[] = {"ap50", "ap75", "ap_coco"};

const char *bm_ap_metric_name(int metric) {
  return metric >= 0 && metric <= 2 ? metric_names[metric] : "ap50";
}

int bm_ap_metric_parse(const char *name, int *out, bm_error *err) {
  for (int m = 0; m < 3; m++)
    if (!strcmp(name, metric_names[m])) {
      *out = m;
      return 0;
    }
  return bm_fail(err, "unknown AP metric '%s' (ap50, ap75, ap_coco)", name);
}

void bm_loop_opts_default(bm_loop_opts *o) {
  memset(o, 0, sizeof *o);
  bm_mine_opts_default(&o->mine);
  o->mine.K = 200; /* reference 400 of 5011 images; 200 of 4000 keeps a round near a minute */
  /* trust, not the reference's verify: with a detector that is not yet sure of anything,
   * verify mode re-queues every batch image and the next batch is that same queue, paid
   * again (docs/MINING.md, "Defaults") */
  o->mine.oracle = BM_ORACLE_TRUST;
  bm_fusion_opts_default(&o->fusion);
  o->costs.draw = 7;
  o->costs.verify = 1.5;
  o->costs.image = 2;
  o->costs.adjust = 3.5;
  o->seed = 1;
  o->n_init = 0;
  o->epochs_per_round = 1;
  o->max_rounds = 20;
  o->budget_seconds = 0;
  o->pre_epochs = 30;
  o->ap_range_pre = 3;
  o->ap_shift_pre = 0.05;
  o->ap_range_asm = 5;
  o->ap_shift_asm = 0.001;
  o->ap_thre = 0.5;
  o->ap_metric = BM_AP_METRIC_AP50;
  o->stop_when_exhausted = 0;
  o->eval_detect = bm_detect_defaults();
  o->mine_detect = bm_detect_defaults();
  o->log_every = 10;
  o->checkpoint_minutes = 10;
}

bm_detect_opts bm_mine_detect_opts(const bm_detect_opts *eval, const bm_fusion_opts *fusion) {
  bm_detect_opts opts = *eval;
  opts.thresh = fusion->uncertain_thre;
  return opts;
}

int bm_loop_opts_check(const bm_loop_opts *o, int n_pool, bm_error *err) {
  if (bm_mine_opts_check(&o->mine, err) || bm_fusion_opts_check(&o->fusion, err)) return -1;
  if (!(o->costs.draw >= 0) || !(o->costs.verify >= 0) || !(o->costs.image >= 0))
    return bm_fail(err, "costs must be >= 0 seconds");
  if (o->n_init < 1 || o->n_init > n_pool)
    return bm_fail(err, "the initial labelled set needs 1..%d images (got %d)", n_pool, o->n_init);
  if (o->epochs_per_round < 1) return bm_fail(err, "--epochs-per-round must be >= 1");
  if (o->max_rounds < 0) return bm_fail(err, "--max-rounds must be >= 0");
  if (!(o->budget_seconds >= 0)) return bm_fail(err, "--budget-seconds must be >= 0");
  if (o->pre_epochs < 1) return bm_fail(err, "--pre-epochs must be >= 1");
  if (o->ap_range_pre < 0 || o->ap_range_pre > BM_EARLYSTOP_MAX_WINDOW ||
      o->ap_range_asm < 0 || o->ap_range_asm > BM_EARLYSTOP_MAX_WINDOW)
    return bm_fail(err, "AP ranges must be in [0, %d] (0 = off)", BM_EARLYSTOP_MAX_WINDOW);
  if (!(o->ap_shift_pre > 0) || !(o->ap_shift_asm > 0))
    return bm_fail(err, "AP shifts must be > 0");
  if (o->ap_metric < 0 || o->ap_metric > 2) return bm_fail(err, "unknown AP metric");
  if (o->log_every < 0) return bm_fail(err, "log_every must be >= 0");
  if (!(o->checkpoint_minutes >= 0)) return bm_fail(err, "--checkpoint-minutes must be >= 0");
  return 0;
}

/* ---- options as text ------------------------------------------------------------------- */
/* The checkpoint section "mine.opts", in this order. The limits may change on resume; the
 * rest is the run's own (bm_loop_resume refuses a change once mining has started). */
#define ROW(member, key, kind, rule) BM_SETTING_ROW(bm_loop_opts, member, key, kind, rule)
static const bm_setting fields[] = {
    ROW(mine.strategy, "strategy", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(mine.oracle, "oracle", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(mine.K, "K", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(mine.train_from_labeled, "train_from_labeled", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(mine.al_lo, "al_lo", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(mine.al_hi, "al_hi", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(mine.sl_lo, "sl_lo", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(mine.sl_hi, "sl_hi", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(mine.uncertainty, "uncertainty", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(mine.candidates, "candidates", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(mine.eval_update, "eval_update", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(fusion.certain_thre, "certain_thre", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(fusion.uncertain_thre, "uncertain_thre", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(fusion.judge_iou, "judge_iou", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(fusion.gt_iou, "gt_iou", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(costs.draw, "cost_draw", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
    ROW(costs.verify, "cost_verify", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
    ROW(costs.image, "cost_image", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
    ROW(costs.adjust, "cost_adjust", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
    ROW(seed, "seed", BM_SETTING_U64, BM_SETTING_FIXED),
    ROW(n_init, "n_init", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(epochs_per_round, "epochs_per_round", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(max_rounds, "max_rounds", BM_SETTING_INT, BM_SETTING_MAY_CHANGE),
    ROW(budget_seconds, "budget_seconds", BM_SETTING_DOUBLE, BM_SETTING_MAY_CHANGE),
    ROW(pre_epochs, "pre_epochs", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(ap_range_pre, "ap_range_pre", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(ap_shift_pre, "ap_shift_pre", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
    ROW(ap_range_asm, "ap_range_asm", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(ap_shift_asm, "ap_shift_asm", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
    ROW(ap_thre, "ap_thre", BM_SETTING_DOUBLE, BM_SETTING_FIXED),
    ROW(ap_metric, "ap_metric", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(stop_when_exhausted, "stop_when_exhausted", BM_SETTING_INT, BM_SETTING_MAY_CHANGE),
    ROW(eval_detect.thresh, "eval_thresh", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(eval_detect.nms, "eval_nms", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(eval_detect.max_dets, "eval_max_dets", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(mine_detect.thresh, "mine_thresh", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(mine_detect.nms, "mine_nms", BM_SETTING_FLOAT, BM_SETTING_FIXED),
    ROW(mine_detect.max_dets, "mine_max_dets", BM_SETTING_INT, BM_SETTING_FIXED),
    ROW(log_every, "log_every", BM_SETTING_INT, BM_SETTING_MAY_CHANGE),
    ROW(checkpoint_minutes, "checkpoint_minutes", BM_SETTING_DOUBLE, BM_SETTING_MAY_CHANGE),
};
#undef ROW

const bm_settings bm_loop_settings = {"mine.opts", fields, sizeof fields / sizeof fields[0]};

void bm_loop_opts_text(const bm_loop_opts *o, bm_buf *out) {
  bm_settings_text(&bm_loop_settings, o, out);
}

int bm_loop_opts_parse(const char *text, bm_loop_opts *o, bm_error *err) {
  bm_loop_opts_default(o);
  return bm_settings_parse(&bm_loop_settings, text, o, err);
}

/* ---- records as numbers ------------------------------------------------------------------ */
void loop_record_to_values(const bm_round_record *r, double extra_ap50_new, double *v) {
  double values[LOOP_RECORD_VALUES] = {
      r->round,          r->phase,           (double)r->labeled_images, (double)r->unlabeled_images,
      (double)r->queued_images, (double)r->batch_images, (double)r->sl_images, (double)r->al_images,
      (double)r->sl_boxes, (double)r->al_boxes, r->mean_sl_score, r->mean_al_ratio,
      (double)r->human_draws, (double)r->human_verifies, (double)r->human_images,
      r->human_seconds,  r->pseudo_precision, r->pseudo_recall, r->ap50, r->ap75, r->ap_coco,
      r->ap_shift,       r->train_loss,      r->lr,  r->seconds, extra_ap50_new};
  memcpy(v, values, sizeof values);
}

void loop_record_from_values(const double *v, int ap_metric, bm_round_record *r,
                             double *extra_ap50_new) {
  bm_round_record_init(r);
  r->round = (int)v[0];
  r->phase = (int)v[1];
  r->labeled_images = (long)v[2];
  r->unlabeled_images = (long)v[3];
  r->queued_images = (long)v[4];
  r->batch_images = (long)v[5];
  r->sl_images = (long)v[6];
  r->al_images = (long)v[7];
  r->sl_boxes = (long)v[8];
  r->al_boxes = (long)v[9];
  r->mean_sl_score = v[10];
  r->mean_al_ratio = v[11];
  r->human_draws = (long)v[12];
  r->human_verifies = (long)v[13];
  r->human_images = (long)v[14];
  r->human_seconds = v[15];
  r->pseudo_precision = v[16];
  r->pseudo_recall = v[17];
  r->ap50 = v[18];
  r->ap75 = v[19];
  r->ap_coco = v[20];
  r->ap_shift = v[21];
  r->train_loss = v[22];
  r->lr = v[23];
  r->seconds = v[24];
  snprintf(r->ap_metric, sizeof r->ap_metric, "%s", bm_ap_metric_name(ap_metric));
  if (extra_ap50_new) *extra_ap50_new = v[25];
}

/* One rounds.jsonl line; with E_new (eval-update) its AP50 is added as "ap50_new". */
void loop_record_line(const bm_round_record *rec, double ap50_new, int with_new, bm_buf *out) {
  size_t start = out->len;
  bm_round_record_json(rec, out);
  if (!with_new || out->failed || out->len < start + 2) return;
  out->len -= 2; /* drop "}\n" */
  bm_buf_puts(out, ",\"ap50_new\":");
  bm_buf_json_number(out, ap50_new);
  bm_buf_puts(out, "}\n");
}
