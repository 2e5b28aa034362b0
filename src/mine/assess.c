/* What one mining pass over a labelled split would do (boxmine assess, docs/MINING.md): the
 * fused images are sorted into the sides of a threshold strategy twice, by the machine-only
 * estimates (trust mode) and by the oracle's scores (verify mode), and people are charged
 * with the ledger's own functions exactly as bm_mine_apply charges them. */
#include <math.h>
#include <string.h>

#include "boxmine/bm_mine.h"

int bm_assess_init(bm_assess *a, int n_images, const bm_mine_opts *opts, const bm_costs *costs,
                   bm_error *err) {
  memset(a, 0, sizeof *a);
  if (bm_mine_opts_check(opts, err)) return -1;
  if (opts->strategy != BM_STRATEGY_TOPK_SLSCORE && opts->strategy != BM_STRATEGY_TOPK_ALRATIO_THRE)
    return bm_fail(err, "assess: '%s' is not a threshold strategy",
                   bm_strategy_name(opts->strategy));
  a->opts = *opts;
  if (bm_ledger_init(&a->full, n_images, costs, err) ||
      bm_ledger_init(&a->trust, n_images, costs, err) ||
      bm_ledger_init(&a->verify, n_images, costs, err)) {
    bm_assess_free(a);
    return -1;
  }
  return 0;
}

void bm_assess_free(bm_assess *a) {
  bm_ledger_free(&a->full);
  bm_ledger_free(&a->trust);
  bm_ledger_free(&a->verify);
}

int bm_assess_add(bm_assess *a, const bm_fusion_result *res, bm_error *err) {
  bm_mine_opts mode = a->opts;
  mode.oracle = BM_ORACLE_TRUST;
  int trust_side = bm_mine_side(&mode, res);
  mode.oracle = BM_ORACLE_VERIFY;
  int verify_side = bm_mine_side(&mode, res);
  a->images++;
  a->objects += res->n_gt;
  /* trust: the certain side is pseudo-labelled for free, the uncertain side is reviewed */
  a->trust_images[trust_side + 1]++;
  a->trust_objects[trust_side + 1] += res->n_gt;
  if (trust_side == BM_SIDE_CERTAIN) {
    a->pseudo_boxes += res->n_certain;
    a->pseudo_correct += res->n_accepted;
  } else if (trust_side == BM_SIDE_UNCERTAIN &&
             bm_ledger_charge_review(&a->trust, res, res->round, err)) {
    return -1;
  }
  /* verify: every image is reviewed */
  a->verify_images[verify_side + 1]++;
  a->sl_objects += res->n_accepted;
  a->al_objects += res->n_al;
  a->rejected_boxes += res->n_rejected;
  if (bm_ledger_charge_review(&a->verify, res, res->round, err) ||
      bm_ledger_charge_full_draw(&a->full, res->image, res->gt, res->n_gt_objects, res->round, err))
    return -1;
  return 0;
}

static double ratio(long part, long whole) {
  return whole > 0 ? (double)part / (double)whole : NAN;
}

static void put_ledger(bm_buf *out, const char *name, const bm_ledger *ledger) {
  bm_buf_printf(out,
                ",\"%s\":{\"draws\":%ld,\"verifies\":%ld,\"image_opens\":%ld,\"seconds\":", name,
                ledger->total.draws, ledger->total.verifies, ledger->total.images);
  bm_buf_json_number(out, bm_ledger_seconds(ledger));
  bm_buf_puts(out, "}");
}

void bm_assess_json(const bm_assess *a, bm_buf *out) {
  const bm_mine_opts *o = &a->opts;
  const bm_costs *c = &a->full.costs;
  bm_buf_printf(out, "\"strategy\":\"%s\"", bm_strategy_name(o->strategy));
  const char *names[] = {"sl_hi", "sl_lo", "al_lo", "al_hi"};
  const float values[] = {o->sl_hi, o->sl_lo, o->al_lo, o->al_hi};
  for (int k = 0; k < 4; k++) {
    bm_buf_printf(out, ",\"%s\":", names[k]);
    bm_buf_json_float(out, values[k]);
  }
  bm_buf_printf(out,
                ",\"cost_draw\":%.9g,\"cost_verify\":%.9g,\"cost_image\":%.9g,"
                "\"images\":%ld,\"objects\":%ld",
                c->draw, c->verify, c->image, a->images, a->objects);
  const long *ti = a->trust_images, *to = a->trust_objects, *vi = a->verify_images;
  bm_buf_printf(out,
                ",\"trust\":{\"certain_images\":%ld,\"certain_objects\":%ld,"
                "\"pseudo_labels\":%ld,\"pseudo_correct\":%ld,\"pseudo_precision\":",
                ti[2], to[2], a->pseudo_boxes, a->pseudo_correct);
  bm_buf_json_number(out, ratio(a->pseudo_correct, a->pseudo_boxes));
  bm_buf_puts(out, ",\"pseudo_recall\":");
  bm_buf_json_number(out, ratio(a->pseudo_correct, to[2]));
  bm_buf_printf(out,
                ",\"people_images\":%ld,\"people_objects\":%ld,\"between_images\":%ld,"
                "\"between_objects\":%ld",
                ti[0], to[0], ti[1], to[1]);
  put_ledger(out, "people_cost", &a->trust);
  bm_buf_printf(out,
                "},\"verify\":{\"sl_objects\":%ld,\"al_objects\":%ld,\"rejected_boxes\":%ld,"
                "\"certain_images\":%ld,\"uncertain_images\":%ld,\"between_images\":%ld",
                a->sl_objects, a->al_objects, a->rejected_boxes, vi[2], vi[0], vi[1]);
  put_ledger(out, "cost", &a->verify);
  bm_buf_puts(out, "}");
  put_ledger(out, "full_cost", &a->full);
}
