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
typedef enum { OPT_INT, OPT_DOUBLE, OPT_FLOAT, OPT_U64 } opt_kind;
typedef struct opt_field {
  const char *key;
  opt_kind kind;
  size_t offset;
} opt_field;

#define F(key, kind, member) {key, kind, offsetof(bm_loop_opts, member)}
static const opt_field fields[] = {
    F("strategy", OPT_INT, mine.strategy),
    F("oracle", OPT_INT, mine.oracle),
    F("K", OPT_INT, mine.K),
    F("train_from_labeled", OPT_INT, mine.train_from_labeled),
    F("al_lo", OPT_FLOAT, mine.al_lo),
    F("al_hi", OPT_FLOAT, mine.al_hi),
    F("sl_lo", OPT_FLOAT, mine.sl_lo),
    F("sl_hi", OPT_FLOAT, mine.sl_hi),
    F("uncertainty", OPT_INT, mine.uncertainty),
    F("candidates", OPT_INT, mine.candidates),
    F("eval_update", OPT_INT, mine.eval_update),
    F("certain_thre", OPT_FLOAT, fusion.certain_thre),
    F("uncertain_thre", OPT_FLOAT, fusion.uncertain_thre),
    F("judge_iou", OPT_FLOAT, fusion.judge_iou),
    F("gt_iou", OPT_FLOAT, fusion.gt_iou),
    F("cost_draw", OPT_DOUBLE, costs.draw),
    F("cost_verify", OPT_DOUBLE, costs.verify),
    F("cost_image", OPT_DOUBLE, costs.image),
    F("cost_adjust", OPT_DOUBLE, costs.adjust),
    F("seed", OPT_U64, seed),
    F("n_init", OPT_INT, n_init),
    F("epochs_per_round", OPT_INT, epochs_per_round),
    F("max_rounds", OPT_INT, max_rounds),
    F("budget_seconds", OPT_DOUBLE, budget_seconds),
    F("pre_epochs", OPT_INT, pre_epochs),
    F("ap_range_pre", OPT_INT, ap_range_pre),
    F("ap_shift_pre", OPT_DOUBLE, ap_shift_pre),
    F("ap_range_asm", OPT_INT, ap_range_asm),
    F("ap_shift_asm", OPT_DOUBLE, ap_shift_asm),
    F("ap_thre", OPT_DOUBLE, ap_thre),
    F("ap_metric", OPT_INT, ap_metric),
    F("stop_when_exhausted", OPT_INT, stop_when_exhausted),
    F("eval_thresh", OPT_FLOAT, eval_detect.thresh),
    F("eval_nms", OPT_FLOAT, eval_detect.nms),
    F("eval_max_dets", OPT_INT, eval_detect.max_dets),
    F("mine_thresh", OPT_FLOAT, mine_detect.thresh),
    F("mine_nms", OPT_FLOAT, mine_detect.nms),
    F("mine_max_dets", OPT_INT, mine_detect.max_dets),
    F("log_every", OPT_INT, log_every),
    F("checkpoint_minutes", OPT_DOUBLE, checkpoint_minutes),
};
#undef F
#define N_FIELDS (sizeof fields / sizeof fields[0])

void bm_loop_opts_text(const bm_loop_opts *o, bm_buf *out) {
  const char *base = (const char *)o;
  for (size_t k = 0; k < N_FIELDS; k++) {
    const void *p = base + fields[k].offset;
    switch (fields[k].kind) {
      case OPT_INT: bm_buf_printf(out, "%s=%d\n", fields[k].key, *(const int *)p); break;
      case OPT_DOUBLE: bm_buf_printf(out, "%s=%.17g\n", fields[k].key, *(const double *)p); break;
      case OPT_FLOAT: bm_buf_printf(out, "%s=%.9g\n", fields[k].key, (double)*(const float *)p); break;
      case OPT_U64:
        bm_buf_printf(out, "%s=%llu\n", fields[k].key, (unsigned long long)*(const uint64_t *)p);
        break;
    }
  }
}

int bm_loop_opts_parse(const char *text, bm_loop_opts *o, bm_error *err) {
  bm_loop_opts_default(o);
  char *base = (char *)o;
  int line_no = 0;
  for (const char *line = text; *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    line_no++;
    char buf[256];
    if (len >= sizeof buf) return bm_fail(err, "loop options: line %d is too long", line_no);
    memcpy(buf, line, len);
    buf[len] = '\0';
    line = end ? end + 1 : line + len;
    if (!buf[0]) continue;
    char *eq = strchr(buf, '=');
    if (!eq) return bm_fail(err, "loop options: line %d has no '='", line_no);
    *eq = '\0';
    size_t k = 0;
    while (k < N_FIELDS && strcmp(fields[k].key, buf)) k++;
    if (k == N_FIELDS) return bm_fail(err, "loop options: unknown key '%s' (line %d)", buf, line_no);
    char *value_end;
    errno = 0;
    void *p = base + fields[k].offset;
    switch (fields[k].kind) {
      case OPT_INT: *(int *)p = (int)strtol(eq + 1, &value_end, 10); break;
      case OPT_DOUBLE: *(double *)p = strtod(eq + 1, &value_end); break;
      case OPT_FLOAT: *(float *)p = (float)strtod(eq + 1, &value_end); break;
      case OPT_U64: *(uint64_t *)p = strtoull(eq + 1, &value_end, 10); break;
    }
    if (errno || value_end == eq + 1 || *value_end)
      return bm_fail(err, "loop options: bad value for '%s' (line %d)", buf, line_no);
  }
  return 0;
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
