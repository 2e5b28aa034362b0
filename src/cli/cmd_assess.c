/* boxmine assess: before mining a pool, how much labelling would Active Sample Mining save with
 * this model, and how right are the machine's labels? One detection + fusion pass over a split
 * with ground truth, as a mining round would make it (docs/MINING.md, "boxmine assess"). */
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "boxmine/bm_mine_loop.h"
#include "cli/cli.h"
#include "cli/cli_det.h"

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: boxmine assess --weights CKPT --data DIR [--split NAME] [options]\n\n"
      "Runs the detector of CKPT over a split with ground truth exactly as a mining round\n"
      "detects a batch (score floor = --uncertain-thre, NMS 0.45, at most 100 boxes), fuses\n"
      "every image with its ground truth (the oracle) and prints, for one pass over the\n"
      "split with the topk-slscore sides: what trust mode would pseudo-label (and how right\n"
      "those labels are), what it would send to people, what verify mode would let the\n"
      "machine label, and the human seconds of each against drawing every object.\n\n"
      "options:\n"
      "  --weights CKPT         detector checkpoint (boxmine train's or mine's .ckpt)\n"
      "  --split NAME|FILE      the split to assess (default trainval)\n"
      "  --certain-thre F       score >= F is certain (default 0.8)\n"
      "  --uncertain-thre F     score in [F, certain) is uncertain (default 0.3)\n"
      "  --judge-iou F          uncertain boxes re-judge certain ones above this IoU (0.5)\n"
      "  --gt-iou F             the oracle accepts a machine box above this IoU (0.8)\n"
      "  --sl-hi F / --sl-lo F  image sides: sl_score >= F certain / <= F uncertain (0.5 / 0.3)\n"
      "  --cost-draw F          seconds to draw a box (default 7)\n"
      "  --cost-verify F        seconds to accept/reject a machine box (default 1.5)\n"
      "  --cost-image F         seconds to open an image (default 2)\n"
      "  --threads N            compute threads (default 2)\n"
      "  --json FILE            also write the numbers as one JSON object\n"
      "dataset (as boxmine info; --data is required):\n%s",
      cli_dataset_help);
}

static double percent(long part, long whole) { return whole > 0 ? 100.0 * part / whole : 0; }

static void print_ledger(const char *what, const bm_ledger *ledger, double full_seconds) {
  double seconds = bm_ledger_seconds(ledger);
  printf("  %-36s %10.1f s = %5.1f%% (%ld draws, %ld verifies, %ld image opens)\n", what, seconds,
         full_seconds > 0 ? 100 * seconds / full_seconds : 0, ledger->total.draws,
         ledger->total.verifies, ledger->total.images);
}

static void print_summary(const bm_assess *a, const char *split, const bm_fusion_opts *f) {
  const bm_mine_opts *o = &a->opts;
  const long *ti = a->trust_images, *to = a->trust_objects, *vi = a->verify_images;
  printf("split '%s': %ld images, %ld non-difficult objects\n", split, a->images, a->objects);
  printf(
      "fusion: certain score >= %g, uncertain >= %g, judge IoU %g, oracle IoU %g; image sides "
      "(topk-slscore): certain if sl_score >= %g, uncertain if <= %g\n",
      f->certain_thre, f->uncertain_thre, f->judge_iou, f->gt_iou, o->sl_hi, o->sl_lo);
  printf("trust mode (sides by the machine-only sl_score'):\n");
  printf("  certain side, pseudo-labelled:       %ld images (%.1f%%), %ld pseudo-labels\n", ti[2],
         percent(ti[2], a->images), a->pseudo_boxes);
  if (a->pseudo_boxes > 0)
    printf(
        "    pseudo-label precision %.4f (%ld right at IoU %g), recall %.4f of their %ld objects\n",
        (double)a->pseudo_correct / a->pseudo_boxes, a->pseudo_correct, f->gt_iou,
        to[2] ? (double)a->pseudo_correct / to[2] : 0, to[2]);
  printf(
      "  uncertain side, sent to people:      %ld images (%.1f%%), %ld objects (%.1f%% of all)\n",
      ti[0], percent(ti[0], a->images), to[0], percent(to[0], a->objects));
  printf("  in between, left in the pool:        %ld images (%.1f%%), %ld objects\n", ti[1],
         percent(ti[1], a->images), to[1]);
  printf("verify mode (every image reviewed; sides by the oracle's sl_score):\n");
  printf("  objects labelled by accepted machine boxes (SL): %ld (%.1f%%)\n", a->sl_objects,
         percent(a->sl_objects, a->objects));
  printf("  objects people draw (AL):            %ld (%.1f%%); machine boxes rejected: %ld\n",
         a->al_objects, percent(a->al_objects, a->objects), a->rejected_boxes);
  printf("  images with sl_score >= %g: %ld, <= %g: %ld, in between: %ld\n", o->sl_hi, vi[2],
         o->sl_lo, vi[0], vi[1]);
  const bm_costs *c = &a->full.costs;
  double full = bm_ledger_seconds(&a->full);
  printf(
      "human seconds for the split (draw %g s, verify %g s, image open %g s; %% of drawing all):\n",
      c->draw, c->verify, c->image);
  print_ledger("draw every object (random/full):", &a->full, full);
  print_ledger("trust mode, people side reviewed:", &a->trust, full);
  print_ledger("verify mode, every image reviewed:", &a->verify, full);
}

static int write_json(const char *path, const bm_assess *a, const char *weights, const char *split,
                      const bm_fusion_opts *f) {
  bm_buf buf;
  bm_buf_init(&buf);
  bm_buf_puts(&buf, "{\"weights\":");
  bm_buf_json_string(&buf, weights);
  bm_buf_puts(&buf, ",\"split\":");
  bm_buf_json_string(&buf, split);
  const char *names[] = {"certain_thre", "uncertain_thre", "judge_iou", "gt_iou"};
  const float values[] = {f->certain_thre, f->uncertain_thre, f->judge_iou, f->gt_iou};
  for (int k = 0; k < 4; k++) {
    bm_buf_printf(&buf, ",\"%s\":", names[k]);
    bm_buf_json_float(&buf, values[k]);
  }
  bm_buf_puts(&buf, ",");
  bm_assess_json(a, &buf);
  bm_buf_puts(&buf, "}\n");
  bm_error err = {{0}};
  int rc = buf.failed ? bm_fail(&err, "out of memory")
                      : bm_write_file_atomic(path, buf.data, buf.len, &err);
  bm_buf_free(&buf);
  return rc ? cli_error("--json: %s", err.msg) : 0;
}

/* Detects and fuses the whole split, then feeds every image to the accumulator. */
static int assess(const char *weights, int threads, const bm_dataset *ds,
                  const bm_fusion_opts *fusion, bm_assess *a, bm_error *err) {
  bm_log log = cli_log();
  bm_detect_opts eval = bm_detect_defaults();
  bm_detect_opts dopts = bm_mine_detect_opts(&eval, fusion);
  bm_detections dets = {0, 0, NULL};
  int n = ds->n_images;
  bm_fusion_result *results = bm_calloc((size_t)(n > 0 ? n : 1), sizeof *results);
  int rc = results ? 0 : bm_fail(err, "out of memory");
  if (rc == 0) rc = cli_detect_dataset(weights, &dopts, threads, ds, &dets, &log, err);
  /* round 1: the pass is charged as one mining round */
  if (rc == 0) rc = bm_fusion_run_images(fusion, ds, NULL, n, 1, &dets, results, err);
  for (int i = 0; rc == 0 && i < n; i++) rc = bm_assess_add(a, &results[i], err);
  for (int i = 0; results && i < n; i++) bm_fusion_result_free(&results[i]);
  bm_free(results);
  bm_detections_free(&dets);
  return rc;
}

int cmd_assess(int argc, char **argv) {
  cli_dataset_args args;
  cli_dataset_args_init(&args, 0);
  const char *weights = NULL, *json_path = NULL;
  bm_fusion_opts fusion;
  bm_fusion_opts_default(&fusion);
  bm_mine_opts mine;
  bm_mine_opts_default(&mine); /* topk-slscore with its --sl-hi / --sl-lo */
  bm_costs costs;
  bm_costs_default(&costs);
  int threads = 2;
  const cli_number_opt numbers[] = {
      CLI_FLOAT_OPT("--certain-thre", 0, 1, &fusion.certain_thre),
      CLI_FLOAT_OPT("--uncertain-thre", 0, 1, &fusion.uncertain_thre),
      CLI_FLOAT_OPT("--judge-iou", 0, 1, &fusion.judge_iou),
      CLI_FLOAT_OPT("--gt-iou", 0, 1, &fusion.gt_iou),
      CLI_FLOAT_OPT("--sl-hi", 0, 1, &mine.sl_hi),
      CLI_FLOAT_OPT("--sl-lo", 0, 1, &mine.sl_lo),
      CLI_DOUBLE_OPT("--cost-draw", 0, 1e6, &costs.draw),
      CLI_DOUBLE_OPT("--cost-verify", 0, 1e6, &costs.verify),
      CLI_DOUBLE_OPT("--cost-image", 0, 1e6, &costs.image),
      CLI_INT_OPT("--threads", 1, 1024, &threads),
  };
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    int took = cli_number_arg(numbers, sizeof numbers / sizeof numbers[0], argc, argv, &i, NULL);
    if (took == 0) took = cli_dataset_arg(&args, argc, argv, &i);
    if (took < 0) return 2;
    if (took > 0) continue;
    if (!strcmp(a, "--weights") || !strcmp(a, "--json")) {
      if (i + 1 >= argc || !argv[i + 1][0]) return cli_error("%s needs a value", a), 2;
      *(!strcmp(a, "--weights") ? &weights : &json_path) = argv[++i];
      continue;
    }
    return cli_error("unknown option '%s' (see boxmine assess --help)", a), 2;
  }
  bm_error err = {{0}};
  if (!weights) return cli_error("--weights CKPT is required (see boxmine assess --help)"), 2;
  if (bm_fusion_opts_check(&fusion, &err) || bm_mine_opts_check(&mine, &err))
    return cli_error("%s", err.msg), 2;
  if (!args.opts.split) args.opts.split = "trainval";
  /* a missing checkpoint is named before the data set is parsed */
  if (!bm_file_exists(weights)) return cli_error("--weights: %s does not exist", weights);
  bm_dataset ds;
  int status = cli_dataset_load(&args, &ds);
  bm_assess acc;
  memset(&acc, 0, sizeof acc);
  if (status == 0 && bm_assess_init(&acc, ds.n_images, &mine, &costs, &err)) status = 1;
  if (status == 0 && assess(weights, threads, &ds, &fusion, &acc, &err)) status = 1;
  if (status == 1 && err.msg[0]) cli_error("%s", err.msg);
  if (status == 0) {
    printf("boxmine assess: %s on %s\n", weights,
           args.opts.root ? args.opts.root : args.opts.annotations_dir);
    print_summary(&acc, args.opts.split, &fusion);
    if (json_path && write_json(json_path, &acc, weights, args.opts.split, &fusion)) status = 1;
  }
  bm_assess_free(&acc);
  bm_dataset_free(&ds);
  cli_dataset_args_free(&args);
  return status;
}
