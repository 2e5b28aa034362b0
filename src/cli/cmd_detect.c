/* boxmine detect: run a trained detector on a dataset split or on loose images. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_augment.h"
#include "boxmine/bm_det.h"
#include "boxmine/bm_eval.h"
#include "cli/cli.h"
#include "cli/cli_det.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: boxmine detect --weights CKPT --data DIR --split NAME --out DIR [options]\n"
          "       boxmine detect --weights CKPT --image FILE [FILE...] --out DIR [options]\n\n"
          "Runs a detector trained by 'boxmine train' (a .ckpt file: last.ckpt or best.ckpt) and\n"
          "writes into --out:\n"
          "  comp4_det_<split>_<class>.txt  VOC devkit results: image id, score, xmin ymin xmax ymax\n"
          "                                 in the image's VOC pixel coordinates (split 'images'\n"
          "                                 for --image)\n"
          "  detections.json                COCO results format\n"
          "  classes.txt                    the detector's classes, one per line\n"
          "  draw/<image id>.jpg            with --draw: the image with labelled boxes\n\n"
          "options:\n"
          "  --weights CKPT   detector checkpoint (required)\n"
          "  --data DIR       VOC dataset root, with --split NAME (ImageSets/Main/NAME.txt)\n"
          "  --image FILE...  loose JPEG/PNG images instead of a dataset\n"
          "  --out DIR        output folder (required)\n"
          "  --thresh F       score floor (default 0.005, right for evaluation)\n"
          "  --nms F          per-class NMS IoU threshold (default 0.45)\n"
          "  --max-dets N     boxes per image (default 100)\n"
          "  --draw           also write images with boxes scoring at least --draw-thresh\n"
          "  --draw-thresh F  score needed to be drawn (default 0.3)\n"
          "  --batch N        images per forward pass (default 8)\n"
          "  --threads N      compute threads (default 2)\n");
}

/* A dataset of loose images: ids are the file names without extension. */
static int images_dataset(bm_dataset *ds, char **paths, int n_paths, const bm_detector *det,
                          bm_error *err) {
  memset(ds, 0, sizeof *ds);
  ds->images = bm_calloc((size_t)n_paths, sizeof *ds->images);
  ds->class_names = bm_calloc((size_t)bm_detector_n_classes(det), sizeof *ds->class_names);
  if (!ds->images || !ds->class_names) return bm_fail(err, "out of memory");
  ds->n_classes = bm_detector_n_classes(det);
  for (int c = 0; c < ds->n_classes; c++)
    if (!(ds->class_names[c] = bm_strdup(bm_detector_class_names(det)[c]))) return bm_fail(err, "out of memory");
  for (int k = 0; k < n_paths; k++) {
    bm_image_info *info = &ds->images[k];
    const char *base = strrchr(paths[k], '/');
    base = base ? base + 1 : paths[k];
    info->id = bm_strdup(base);
    info->image_path = bm_strdup(paths[k]);
    ds->n_images = k + 1;
    if (!info->id || !info->image_path) return bm_fail(err, "out of memory");
    char *dot = strrchr(info->id, '.');
    if (dot && dot != info->id) *dot = '\0';
    for (int j = 0; j < k; j++)
      if (!strcmp(ds->images[j].id, info->id))
        return bm_fail(err, "%s and %s have the same image id '%s'", ds->images[j].image_path,
                       paths[k], info->id);
    if (bm_image_size(paths[k], &info->width, &info->height, err)) return -1;
    info->depth = 3;
  }
  return bm_dataset_build_index(ds, err);
}

static const unsigned char palette[8][3] = {{230, 25, 75},  {60, 180, 75},  {0, 130, 200},
                                            {245, 130, 48}, {145, 30, 180}, {70, 240, 240},
                                            {240, 50, 230}, {210, 245, 60}};

/* Writes out/draw/<id>.jpg for every image with its boxes scoring >= draw_thresh. */
static int draw_all(const char *out, const bm_dataset *ds, const bm_detections *dets,
                    float draw_thresh, bm_error *err) {
  char *dir = bm_path_join(out, "draw");
  if (!dir || bm_mkdir_p(dir, err)) {
    bm_free(dir);
    return -1;
  }
  int rc = 0;
  long at = 0; /* detections are grouped by image, in image order */
  cli_progress bar;
  cli_progress_start(&bar, "draw", ds->n_images);
  for (int i = 0; i < ds->n_images && rc == 0; i++) {
    while (at < dets->n && dets->items[at].image < i) at++;
    long first = at;
    while (at < dets->n && dets->items[at].image == i) at++;
    bm_image img;
    if (bm_image_load(ds->images[i].image_path, &img, err)) {
      rc = -1;
      break;
    }
    int thickness = img.width > 400 ? 2 : 1, scale = img.width > 400 ? 2 : 1;
    for (long d = at - 1; d >= first; d--) { /* lowest score first, best drawn on top */
      const bm_detection *det = &dets->items[d];
      if (det->score < draw_thresh) continue;
      bm_box box = bm_box_from_voc((bm_box){det->x1, det->y1, det->x2, det->y2});
      const unsigned char *rgb = palette[det->class_id % 8];
      bm_image_draw_box(&img, box.x1, box.y1, box.x2, box.y2, rgb, thickness);
      char label[128];
      snprintf(label, sizeof label, "%s %.2f", ds->class_names[det->class_id], det->score);
      bm_image_draw_label(&img, (int)box.x1, (int)box.y1, label, rgb, scale);
    }
    char name[600];
    snprintf(name, sizeof name, "%s/%s.jpg", dir, ds->images[i].id);
    rc = bm_image_save_jpeg(name, &img, 90, err);
    bm_image_free(&img);
    cli_progress_update(&bar, i + 1, NULL);
  }
  cli_progress_finish(&bar, NULL);
  bm_free(dir);
  return rc;
}

int cmd_detect(int argc, char **argv) {
  const char *weights = NULL, *data = NULL, *split = NULL, *out = NULL;
  bm_detect_opts opts = bm_detect_defaults();
  int draw = 0, batch = 8, threads = 2, n_images = 0;
  double draw_thresh = 0.3;
  char **images = bm_calloc((size_t)argc, sizeof *images);
  if (!images) return cli_error("out of memory");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long n;
    double f;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      bm_free(images);
      return 0;
    }
    int status = -1; /* -1: not this option, 0: parsed, 2: usage error */
    if (!strcmp(a, "--draw")) draw = 1, status = 0;
    else if (!strcmp(a, "--image")) {
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) images[n_images++] = argv[++i];
      status = n_images ? 0 : (cli_error("--image needs at least one file"), 2);
    } else if (!strcmp(a, "--weights") || !strcmp(a, "--data") || !strcmp(a, "--split") || !strcmp(a, "--out")) {
      if (!v) status = (cli_error("%s needs a value", a), 2);
      else {
        status = 0;
        i++;
        if (!strcmp(a, "--weights")) weights = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--split")) split = v;
        else out = v;
      }
    } else if (!strcmp(a, "--thresh") || !strcmp(a, "--nms") || !strcmp(a, "--draw-thresh")) {
      status = cli_parse_float(a, v, 0, 1, &f) ? 2 : 0;
      if (!status) {
        i++;
        if (!strcmp(a, "--thresh")) opts.thresh = (float)f;
        else if (!strcmp(a, "--nms")) opts.nms = (float)f;
        else draw_thresh = f;
      }
    } else if (!strcmp(a, "--max-dets") || !strcmp(a, "--batch") || !strcmp(a, "--threads")) {
      status = cli_parse_int(a, v, 1, 100000, &n) ? 2 : 0;
      if (!status) {
        i++;
        if (!strcmp(a, "--max-dets")) opts.max_dets = (int)n;
        else if (!strcmp(a, "--batch")) batch = (int)n;
        else threads = (int)n;
      }
    }
    if (status == -1) status = (cli_error("unknown option '%s' (see boxmine detect --help)", a), 2);
    if (status) {
      bm_free(images);
      return status;
    }
  }
  const char *problem = !weights ? "--weights CKPT is required"
                        : !out   ? "--out DIR is required"
                        : data && n_images ? "give --data or --image, not both"
                        : !data && !n_images ? "give --data DIR --split NAME, or --image FILE..."
                        : data && !split ? "--data needs --split NAME"
                        : NULL;
  if (problem) {
    bm_free(images);
    return cli_error("%s (see boxmine detect --help)", problem), 2;
  }
  bm_log log = cli_log();
  bm_error err = {{0}};
  bm_detector *det = NULL;
  bm_dataset ds;
  memset(&ds, 0, sizeof ds);
  bm_detections dets = {0};
  char *classes_path = bm_path_join(out, "classes.txt");
  char *json_path = bm_path_join(out, "detections.json");
  int status = 1;
  if (bm_detector_load(&det, weights, batch, &log, &err)) {
    cli_error("%s", err.msg);
    goto done;
  }
  bm_detector_set_threads(det, threads);
  if (bm_mkdir_p(out, &err)) {
    cli_error("%s", err.msg);
    goto done;
  }
  /* the detector's class list, also used to read the dataset with the same class ids */
  bm_buf classes;
  bm_buf_init(&classes);
  for (int c = 0; c < bm_detector_n_classes(det); c++)
    bm_buf_printf(&classes, "%s\n", bm_detector_class_names(det)[c]);
  int wrote = classes.failed ? bm_fail(&err, "out of memory")
                             : bm_write_file_atomic(classes_path, classes.data, classes.len, &err);
  bm_buf_free(&classes);
  if (wrote) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (data) {
    bm_dataset_opts dopts;
    memset(&dopts, 0, sizeof dopts);
    dopts.root = data;
    dopts.split = split;
    dopts.classes_file = classes_path;
    dopts.skip_unknown_classes = 1; /* objects only matter for evaluation, not here */
    if (bm_dataset_load(&ds, &dopts, &log, &err)) {
      cli_error("%s", err.msg);
      goto done;
    }
  } else {
    split = "images";
    if (images_dataset(&ds, images, n_images, det, &err)) {
      cli_error("%s", err.msg);
      goto done;
    }
  }
  cli_progress bar;
  cli_progress_start(&bar, "detect", ds.n_images);
  double start = bm_now();
  if (bm_detector_detect_dataset(det, &ds, NULL, 0, &opts, cli_progress_report, &bar, &dets, &err)) {
    cli_error("%s", err.msg);
    goto done;
  }
  double seconds = bm_now() - start;
  if (bm_write_voc_results(out, split, &ds, &dets, &err) ||
      bm_write_coco_results(json_path, &ds, &dets, &err) ||
      (draw && draw_all(out, &ds, &dets, (float)draw_thresh, &err))) {
    cli_error("%s", err.msg);
    goto done;
  }
  printf("detected %ld boxes (score >= %g) on %d images of %s in %.1f s (%.1f images/s); results in %s\n",
         dets.n, opts.thresh, ds.n_images, split, seconds, seconds > 0 ? ds.n_images / seconds : 0, out);
  status = 0;
done:
  bm_detector_free(det);
  bm_dataset_free(&ds);
  bm_detections_free(&dets);
  bm_free(classes_path);
  bm_free(json_path);
  bm_free(images);
  return status;
}
