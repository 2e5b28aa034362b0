/* boxmine review: hand a round's images to people and read their answers back
 * (docs/REVIEW.md).
 *
 *   boxmine review export  detections of a dataset -> a review folder (Label Studio, CVAT, VOC)
 *   boxmine review import  a tool's answers -> verdicts merged into the folder's answers.json */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_eval.h"
#include "boxmine/bm_mine.h"
#include "boxmine/bm_review.h"
#include "cli/cli.h"
#include "cli/review_dir.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: boxmine review export --dets PATH --out DIR [options] [dataset options]\n"
          "       boxmine review import DIR FILE|FOLDER\n\n"
          "export: takes a detector's boxes on a dataset's images (a COCO results JSON file or\n"
          "a folder of VOC devkit results files, as 'boxmine detect' writes them), keeps those\n"
          "that fusion keeps (score >= --uncertain-thre; certain, uncertain and demoted ones),\n"
          "and writes DIR/: manifest.json, label-studio-tasks.json, label-studio-config.xml,\n"
          "cvat-annotations.xml, cvat-labels.json and voc/<id>.xml. Images need no annotation\n"
          "files (unlabelled images are the point).\n\n"
          "import: reads what people sent back, a Label Studio JSON export (.json), a CVAT for\n"
          "images 1.1 file (.xml) or a folder of VOC XML files, matches every box to the\n"
          "exported machine boxes and merges the verdicts (accepted, adjusted, deleted, added)\n"
          "into DIR/answers.json. DIR is a review folder (with manifest.json) or a mining run\n"
          "(its newest RUN/review/round-R/). Images the answer does not cover stay queued.\n\n"
          "export options:\n"
          "  --dets PATH              the detections (COCO results JSON, or a VOC results folder\n"
          "                           with --split)\n"
          "  --out DIR                the review folder to write\n"
          "  --round N                round number written into the files (1)\n"
          "  --model-version TEXT     Label Studio's model_version (default: round-N)\n"
          "  --uncertain-thre F       lowest score exported (0.3)\n"
          "  --certain-thre F         score from which a box is certain (0.8)\n"
          "  --judge-iou F            re-judging overlap (0.5), as in boxmine mine\n"
          "  --image-url-prefix TEXT  Label Studio's data.image = TEXT + image path without its\n"
          "                           leading '/' (default: /data/local-files/?d=)\n"
          "dataset options:\n%s",
          cli_dataset_help);
}

/* By image, then a total order on the rest (qsort is not stable; fusion breaks score ties by
 * input order, so the order must not depend on qsort's whims). */
static int cmp_det_image(const void *a, const void *b) {
  const bm_detection *x = a, *y = b;
  if (x->image != y->image) return x->image < y->image ? -1 : 1;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  if (x->class_id != y->class_id) return x->class_id < y->class_id ? -1 : 1;
  const float u[4] = {x->x1, x->y1, x->x2, x->y2}, v[4] = {y->x1, y->y1, y->x2, y->y2};
  for (int k = 0; k < 4; k++)
    if (u[k] != v[k]) return u[k] < v[k] ? -1 : 1;
  return 0;
}

static void split_name(const char *split, char *out, size_t size) {
  const char *base = strrchr(split, '/');
  snprintf(out, size, "%s", base ? base + 1 : split);
  size_t len = strlen(out);
  if (len > 4 && !strcmp(out + len - 4, ".txt")) out[len - 4] = '\0';
}

/* Fuses each image's detections (no ground truth: certain and uncertain machine boxes) and
 * adds the image with its boxes to the queue; *n_boxes counts them. dets are sorted by image. */
static int fill_queue(bm_review_queue *q, const bm_fusion_opts *fopts, int round,
                      const bm_dataset *ds, const bm_detections *dets, long *n_boxes,
                      bm_error *err) {
  long at = 0;
  for (int img = 0; img < ds->n_images; img++) {
    long first = at;
    while (at < dets->n && dets->items[at].image == img) at++;
    bm_fusion_result res;
    memset(&res, 0, sizeof res);
    if (bm_fusion_run(fopts, img, round, dets->items + first, (int)(at - first), NULL, 0, &res,
                      err) != 0) {
      bm_fusion_result_free(&res);
      return bm_fail_prefix(err, "image '%s'", ds->images[img].id);
    }
    bm_review_box *boxes = res.n_boxes ? bm_calloc((size_t)res.n_boxes, sizeof *boxes) : NULL;
    if (res.n_boxes && !boxes) {
      bm_fusion_result_free(&res);
      return bm_fail(err, "out of memory");
    }
    for (int b = 0; b < res.n_boxes; b++) {
      const bm_fused_box *f = &res.boxes[b];
      boxes[b] = (bm_review_box){f->class_id, f->score, f->x1, f->y1, f->x2, f->y2, f->role};
    }
    const bm_image_info *info = &ds->images[img];
    int ok = bm_review_queue_add(q, info->id, img, info->image_path, info->width, info->height,
                                 boxes, res.n_boxes, err);
    *n_boxes += res.n_boxes;
    bm_free(boxes);
    bm_fusion_result_free(&res);
    if (ok != 0) return -1;
  }
  return 0;
}

static int review_export(int argc, char **argv) {
  cli_dataset_args args;
  cli_dataset_args_init(&args, 0);
  args.opts.include_unannotated = 1;
  const char *dets_path = NULL, *out_dir = NULL, *model_version = NULL;
  bm_review_export_opts eopts;
  bm_review_export_opts_default(&eopts);
  bm_fusion_opts fopts;
  bm_fusion_opts_default(&fopts);
  int round = 1;
  const cli_number_opt numbers[] = {
      CLI_INT_OPT("--round", 0, 1000000, &round),
      CLI_FLOAT_OPT("--uncertain-thre", 0, 1, &fopts.uncertain_thre),
      CLI_FLOAT_OPT("--certain-thre", 0, 1, &fopts.certain_thre),
      CLI_FLOAT_OPT("--judge-iou", 0, 1, &fopts.judge_iou),
  };
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    int r = cli_dataset_arg(&args, argc, argv, &i);
    if (r < 0) return cli_dataset_args_free(&args), 2;
    if (r > 0) continue;
    r = cli_number_arg(numbers, sizeof numbers / sizeof *numbers, argc, argv, &i, NULL);
    if (r < 0) return cli_dataset_args_free(&args), 2;
    if (r > 0) continue;
    const char **target = !strcmp(arg, "--dets")               ? &dets_path
                          : !strcmp(arg, "--out")              ? &out_dir
                          : !strcmp(arg, "--model-version")    ? &model_version
                          : !strcmp(arg, "--image-url-prefix") ? &eopts.url_prefix
                                                               : NULL;
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
      usage(stdout);
      cli_dataset_args_free(&args);
      return 0;
    }
    if (!target) {
      cli_error("unknown option '%s' (boxmine review --help)", arg);
      cli_dataset_args_free(&args);
      return 2;
    }
    if (i + 1 >= argc) {
      cli_error("%s needs a value", arg);
      cli_dataset_args_free(&args);
      return 2;
    }
    *target = argv[++i];
  }
  if (!dets_path || !out_dir) {
    cli_error("%s is required", !dets_path ? "--dets PATH" : "--out DIR");
    cli_dataset_args_free(&args);
    return 2;
  }
  bm_error err = {{0}};
  if (bm_fusion_opts_check(&fopts, &err) != 0) {
    cli_error("%s", err.msg);
    cli_dataset_args_free(&args);
    return 2;
  }
  bm_dataset ds;
  int status = cli_dataset_load(&args, &ds);
  if (status != 0) {
    cli_dataset_args_free(&args);
    return status;
  }
  status = 1;
  bm_log log = cli_log();
  bm_detections dets = {0, 0, NULL};
  bm_review_queue q;
  memset(&q, 0, sizeof q);
  char split[256] = "";
  if (args.opts.split) split_name(args.opts.split, split, sizeof split);
  int read;
  if (bm_is_dir(dets_path)) {
    if (!args.opts.split) {
      cli_error("a folder of VOC results needs --split NAME (the files' comp4_det_<split>_ part)");
      goto done;
    }
    read = bm_read_voc_results(dets_path, split, &ds, &dets, &log, &err);
  } else {
    read = bm_read_coco_results(dets_path, &ds, &dets, &err);
  }
  if (read != 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (dets.n > 1) qsort(dets.items, (size_t)dets.n, sizeof *dets.items, cmp_det_image);
  char version[64];
  snprintf(version, sizeof version, "round-%d", round);
  char settings[256];
  snprintf(settings, sizeof settings,
           "{\"certain_thre\":%g,\"uncertain_thre\":%g,\"judge_iou\":%g,\"detections\":\"%s\"}",
           fopts.certain_thre, fopts.uncertain_thre, fopts.judge_iou,
           bm_is_dir(dets_path) ? "voc-results" : "coco-results");
  if (bm_review_queue_init(&q, round, model_version ? model_version : version, ds.class_names,
                           ds.n_classes, settings, &err) != 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  long n_boxes = 0;
  if (fill_queue(&q, &fopts, round, &ds, &dets, &n_boxes, &err) != 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (bm_review_export_dir(&q, &eopts, out_dir, &err) != 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  printf("boxmine review export: %d images, %ld machine boxes (of %ld detections, score >= %g) "
         "-> %s/\n",
         q.n_images, n_boxes, dets.n, fopts.uncertain_thre, out_dir);
  status = 0;
done:
  bm_review_queue_free(&q);
  bm_detections_free(&dets);
  bm_dataset_free(&ds);
  cli_dataset_args_free(&args);
  return status;
}

static int review_import(int argc, char **argv) {
  const char *pos[2] = {NULL, NULL};
  int n_pos = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    }
    if (argv[i][0] == '-' && argv[i][1]) {
      cli_error("unknown option '%s' (boxmine review --help)", argv[i]);
      return 2;
    }
    if (n_pos == 2) {
      cli_error("import takes two arguments: DIR and FILE|FOLDER");
      return 2;
    }
    pos[n_pos++] = argv[i];
  }
  if (n_pos != 2) {
    cli_error("import takes two arguments: DIR and FILE|FOLDER");
    return 2;
  }
  char *dir = cli_find_review_dir(pos[0]);
  if (!dir)
    return cli_error("%s: no manifest.json there nor in %s/review/round-*/ (nothing was "
                     "exported for review)", pos[0], pos[0]);
  bm_error err = {{0}};
  bm_log log = cli_log();
  bm_review_queue q;
  bm_review_answers fresh = {0}, all = {0};
  int status = 1;
  char *manifest = bm_path_join(dir, "manifest.json");
  char *answers_path = bm_path_join(dir, "answers.json");
  if (!manifest || !answers_path) {
    cli_error("out of memory");
    goto done;
  }
  if (bm_review_manifest_load(manifest, &q, &err) != 0) {
    cli_error("%s", err.msg);
    memset(&q, 0, sizeof q);
    goto done;
  }
  if (bm_file_exists(answers_path) && bm_review_answers_load(answers_path, &q, &all, &err) != 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (bm_review_import(&q, pos[1], &fresh, &log, &err) != 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  int replaced = 0;
  for (int i = 0; i < fresh.n; i++) replaced += bm_review_answers_find(&all, fresh.items[i].id) >= 0;
  if (bm_review_answers_merge(&all, &fresh, &err) != 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  bm_buf text;
  bm_buf_init(&text);
  bm_review_answers_json(&q, &all, &text);
  int written = text.failed ? bm_fail(&err, "out of memory")
                            : bm_write_file_atomic(answers_path, text.data, text.len, &err);
  bm_buf_free(&text);
  if (written != 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  long counts[BM_REVIEW_KIND_COUNT] = {0};
  double lead = 0;
  int timed = 0;
  for (int i = 0; i < fresh.n; i++) {
    for (int k = 0; k < BM_REVIEW_KIND_COUNT; k++) counts[k] += fresh.items[i].counts[k];
    if (isfinite(fresh.items[i].lead_time)) {
      lead += fresh.items[i].lead_time;
      timed++;
    }
  }
  printf("boxmine review import: %d images answered in %s (%d replace earlier answers): "
         "%ld accepted, %ld adjusted, %ld deleted, %ld added",
         fresh.n, pos[1], replaced, counts[BM_REVIEW_ACCEPTED], counts[BM_REVIEW_ADJUSTED],
         counts[BM_REVIEW_DELETED], counts[BM_REVIEW_ADDED]);
  if (timed) printf("; %.1f s measured on %d images", lead, timed);
  printf("\nround %d: %d of %d images answered, %d still queued -> %s\n", q.round, all.n,
         q.n_images, q.n_images - all.n, answers_path);
  status = 0;
done:
  bm_review_answers_free(&fresh);
  bm_review_answers_free(&all);
  bm_review_queue_free(&q);
  bm_free(manifest);
  bm_free(answers_path);
  bm_free(dir);
  return status;
}

int cmd_review(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (!strcmp(argv[1], "export")) return review_export(argc - 1, argv + 1);
  if (!strcmp(argv[1], "import")) return review_import(argc - 1, argv + 1);
  cli_error("unknown review action '%s': export or import (boxmine review --help)", argv[1]);
  return 2;
}
