/* boxmine detect: run a trained detector on a dataset split or on loose images. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "boxmine/bm_augment.h"
#include "boxmine/bm_det.h"
#include "boxmine/bm_eval.h"
#include "cli/cli.h"
#include "cli/cli_det.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: boxmine detect --weights CKPT --data DIR --split NAME --out DIR [options]\n"
          "       boxmine detect --weights CKPT --images DIR|FILE... --out DIR [options]\n"
          "       boxmine detect --cfg C --weights W --names N (--images ...|--data ...) --out DIR\n\n"
          "Runs a detector on a dataset split or on loose images. The detector is either a\n"
          "checkpoint of 'boxmine train' or 'boxmine mine' (last.ckpt, best.ckpt), or any darknet\n"
          "YOLO model: --cfg with its .weights file (e.g. models/yolo-fastest/). Writes into --out:\n"
          "  boxes.json                     one entry per image: file, width, height and its boxes\n"
          "                                 (class, class_id, score, x1 y1 x2 y2 in pixels of the\n"
          "                                 original image, continuous: 0..width)\n"
          "  comp4_det_<split>_<class>.txt  VOC devkit results: image id, score, xmin ymin xmax ymax\n"
          "                                 in the image's VOC pixel coordinates (split 'images'\n"
          "                                 for --images); class = the detector's class names\n"
          "  detections.json                COCO results format\n"
          "  classes.txt                    the detector's classes, one per line\n"
          "  draw/<image id>.jpg            with --draw: the image with labelled boxes\n\n"
          "options:\n"
          "  --weights FILE   a boxmine checkpoint (.ckpt), or with --cfg a darknet .weights file\n"
          "  --cfg FILE       darknet model description; the image is resized as its [net] says\n"
          "                   (stretched to the input size unless letter_box=1, as darknet does)\n"
          "  --names FILE     with --cfg: class names, one per line (e.g. coco.names); without\n"
          "                   it classes are named 0, 1, ...\n"
          "  --data DIR       VOC dataset root, with --split NAME (ImageSets/Main/NAME.txt); the\n"
          "                   detector may have other classes than the dataset (its names are used)\n"
          "  --images X...    JPEG/PNG files, or folders whose .jpg/.jpeg/.png files are taken\n"
          "                   (sorted by name); --image is the same\n"
          "  --out DIR        output folder (required)\n"
          "  --thresh F       score floor (default 0.005, right for evaluation; 0.25 for viewing)\n"
          "  --nms F          per-class NMS IoU threshold (default 0.45)\n"
          "  --max-dets N     boxes per image (default 100)\n"
          "  --draw           also write images with boxes scoring at least --draw-thresh\n"
          "  --draw-thresh F  score needed to be drawn (default 0.3)\n"
          "  --batch N        images per forward pass (default 8)\n"
          "  --threads N      compute threads (default 2)\n");
}

static int has_image_suffix(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Expands the --images arguments: files as given, folders into their image files sorted by
 * name. *paths (freed with free_paths) gets n_paths new strings. */
static int expand_images(char **args, int n_args, char ***paths, int *n_paths, bm_error *err) {
  *paths = NULL;
  *n_paths = 0;
  int cap = 0;
  for (int a = 0; a < n_args; a++) {
    struct stat st;
    if (stat(args[a], &st)) return bm_fail(err, "%s: %s", args[a], strerror(errno));
    DIR *dir = S_ISDIR(st.st_mode) ? opendir(args[a]) : NULL;
    if (S_ISDIR(st.st_mode) && !dir) return bm_fail(err, "%s: %s", args[a], strerror(errno));
    int first = *n_paths;
    for (;;) {
      const char *name = args[a];
      struct dirent *e = NULL;
      if (dir) {
        if (!(e = readdir(dir))) break;
        if (e->d_name[0] == '.' || !has_image_suffix(e->d_name)) continue;
      }
      if (*n_paths == cap) {
        cap = cap ? 2 * cap : 16;
        char **grown = bm_realloc(*paths, (size_t)cap * sizeof *grown);
        if (!grown) {
          if (dir) closedir(dir);
          return bm_fail(err, "out of memory");
        }
        *paths = grown;
      }
      char *path = dir ? bm_path_join(args[a], e->d_name) : bm_strdup(name);
      if (!path) {
        if (dir) closedir(dir);
        return bm_fail(err, "out of memory");
      }
      (*paths)[(*n_paths)++] = path;
      if (!dir) break;
    }
    if (dir) {
      closedir(dir);
      if (*n_paths == first) return bm_fail(err, "%s: no .jpg, .jpeg or .png files", args[a]);
      qsort(*paths + first, (size_t)(*n_paths - first), sizeof **paths, by_name);
    }
  }
  return 0;
}

static void free_paths(char **paths, int n) {
  for (int k = 0; k < n; k++) bm_free(paths[k]);
  bm_free(paths);
}

/* boxes.json: per image its file, size and boxes (continuous pixel coordinates). */
static int write_boxes_json(const char *path, const bm_dataset *ds, const bm_detections *dets,
                            bm_error *err) {
  bm_buf b;
  bm_buf_init(&b);
  bm_buf_puts(&b, "[");
  long at = 0;
  for (int i = 0; i < ds->n_images; i++) {
    const bm_image_info *info = &ds->images[i];
    bm_buf_puts(&b, i ? ",\n {\"file\": " : "\n {\"file\": ");
    bm_buf_json_string(&b, info->image_path ? info->image_path : info->id);
    bm_buf_puts(&b, ", \"id\": ");
    bm_buf_json_string(&b, info->id);
    bm_buf_printf(&b, ", \"width\": %d, \"height\": %d, \"boxes\": [", info->width,
                  info->height);
    while (at < dets->n && dets->items[at].image < i) at++;
    for (int k = 0; at < dets->n && dets->items[at].image == i; at++, k++) {
      const bm_detection *d = &dets->items[at];
      bm_box box = bm_box_from_voc((bm_box){d->x1, d->y1, d->x2, d->y2});
      bm_buf_puts(&b, k ? ",\n   {\"class\": " : "\n   {\"class\": ");
      bm_buf_json_string(&b, ds->class_names[d->class_id]);
      bm_buf_printf(&b, ", \"class_id\": %d, \"score\": %.6f, \"x1\": %.2f, \"y1\": %.2f, "
                    "\"x2\": %.2f, \"y2\": %.2f}",
                    d->class_id, d->score, box.x1, box.y1, box.x2, box.y2);
    }
    bm_buf_puts(&b, "]}");
  }
  bm_buf_puts(&b, "\n]\n");
  int rc = b.failed ? bm_fail(err, "out of memory") : bm_write_file_atomic(path, b.data, b.len, err);
  bm_buf_free(&b);
  return rc;
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

typedef struct detect_args {
  const char *weights, *cfg, *names, *data, *split, *out;
  bm_detect_opts opts;
  int draw, batch, threads, n_images;
  double draw_thresh;
  char **images; /* argv entries of --images */
} detect_args;

/* Returns 0, 1 (--help printed) or 2 (usage error, printed). */
static int parse_args(int argc, char **argv, detect_args *a) {
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    long n;
    double f;
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) return usage(stdout), 1;
    int status = -1; /* -1: not this option, 0: parsed, 2: usage error */
    if (!strcmp(o, "--draw")) a->draw = 1, status = 0;
    else if (!strcmp(o, "--image") || !strcmp(o, "--images")) {
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) a->images[a->n_images++] = argv[++i];
      status = a->n_images ? 0 : (cli_error("%s needs at least one file or folder", o), 2);
    } else if (!strcmp(o, "--weights") || !strcmp(o, "--data") || !strcmp(o, "--split") ||
               !strcmp(o, "--out") || !strcmp(o, "--cfg") || !strcmp(o, "--names")) {
      if (!v) status = (cli_error("%s needs a value", o), 2);
      else {
        const char **dst = !strcmp(o, "--weights") ? &a->weights : !strcmp(o, "--data") ? &a->data
                         : !strcmp(o, "--split") ? &a->split : !strcmp(o, "--out") ? &a->out
                         : !strcmp(o, "--cfg") ? &a->cfg : &a->names;
        *dst = v;
        status = 0;
        i++;
      }
    } else if (!strcmp(o, "--thresh") || !strcmp(o, "--nms") || !strcmp(o, "--draw-thresh")) {
      status = cli_parse_float(o, v, 0, 1, &f) ? 2 : 0;
      if (!status) {
        i++;
        if (!strcmp(o, "--thresh")) a->opts.thresh = (float)f;
        else if (!strcmp(o, "--nms")) a->opts.nms = (float)f;
        else a->draw_thresh = f;
      }
    } else if (!strcmp(o, "--max-dets") || !strcmp(o, "--batch") || !strcmp(o, "--threads")) {
      status = cli_parse_int(o, v, 1, 100000, &n) ? 2 : 0;
      if (!status) {
        i++;
        if (!strcmp(o, "--max-dets")) a->opts.max_dets = (int)n;
        else if (!strcmp(o, "--batch")) a->batch = (int)n;
        else a->threads = (int)n;
      }
    }
    if (status == -1) status = (cli_error("unknown option '%s' (see boxmine detect --help)", o), 2);
    if (status) return status;
  }
  const char *problem = !a->weights ? "--weights is required"
                        : !a->out ? "--out DIR is required"
                        : a->names && !a->cfg ? "--names goes with --cfg (a checkpoint has its names)"
                        : a->data && a->n_images ? "give --data or --images, not both"
                        : !a->data && !a->n_images ? "give --data DIR --split NAME, or --images ..."
                        : a->data && !a->split ? "--data needs --split NAME"
                        : NULL;
  if (problem) return cli_error("%s (see boxmine detect --help)", problem), 2;
  return 0;
}

/* The detector: a boxmine checkpoint, or a darknet cfg + weights (+ names). */
static int open_detector(const detect_args *a, bm_detector **det, bm_log *log, bm_error *err) {
  if (!a->cfg) return bm_detector_load(det, a->weights, a->batch, log, err);
  char **names = NULL;
  int n_names = 0, rc;
  if (a->names && bm_read_class_list(a->names, &names, &n_names, err)) return -1;
  rc = bm_detector_from_darknet(det, a->cfg, a->weights, n_names, a->names ? names : NULL,
                                a->batch, log, err);
  for (int c = 0; c < n_names; c++) bm_free(names[c]);
  bm_free(names);
  return rc;
}

/* classes.txt: the detector's class list, also used to read a dataset with the same ids
 * (its objects of other classes are skipped: they matter for evaluation, not here). */
static int load_inputs(const detect_args *a, const bm_detector *det, const char *classes_path,
                       bm_dataset *ds, bm_log *log, bm_error *err) {
  bm_buf classes;
  bm_buf_init(&classes);
  for (int c = 0; c < bm_detector_n_classes(det); c++)
    bm_buf_printf(&classes, "%s\n", bm_detector_class_names(det)[c]);
  int rc = classes.failed ? bm_fail(err, "out of memory")
                          : bm_write_file_atomic(classes_path, classes.data, classes.len, err);
  bm_buf_free(&classes);
  if (rc) return -1;
  if (a->data) {
    bm_dataset_opts dopts;
    memset(&dopts, 0, sizeof dopts);
    dopts.root = a->data;
    dopts.split = a->split;
    dopts.classes_file = classes_path;
    dopts.skip_unknown_classes = 1;
    return bm_dataset_load(ds, &dopts, log, err);
  }
  char **paths;
  int n_paths;
  rc = expand_images(a->images, a->n_images, &paths, &n_paths, err);
  if (!rc) rc = images_dataset(ds, paths, n_paths, det, err);
  free_paths(paths, n_paths);
  return rc;
}

int cmd_detect(int argc, char **argv) {
  detect_args a;
  memset(&a, 0, sizeof a);
  a.opts = bm_detect_defaults();
  a.batch = 8;
  a.threads = 2;
  a.draw_thresh = 0.3;
  a.images = bm_calloc((size_t)argc, sizeof *a.images);
  if (!a.images) return cli_error("out of memory");
  int status = parse_args(argc, argv, &a);
  if (status) {
    bm_free(a.images);
    return status == 1 ? 0 : status;
  }
  bm_log log = cli_log();
  bm_error err = {{0}};
  bm_detector *det = NULL;
  bm_dataset ds;
  memset(&ds, 0, sizeof ds);
  bm_detections dets = {0};
  char *classes_path = bm_path_join(a.out, "classes.txt");
  char *json_path = bm_path_join(a.out, "detections.json");
  char *boxes_path = bm_path_join(a.out, "boxes.json");
  const char *split = a.data ? a.split : "images";
  status = 1;
  if (!classes_path || !json_path || !boxes_path) {
    bm_fail(&err, "out of memory");
    goto done;
  }
  if (open_detector(&a, &det, &log, &err) || bm_mkdir_p(a.out, &err) ||
      load_inputs(&a, det, classes_path, &ds, &log, &err))
    goto done;
  bm_detector_set_threads(det, a.threads);
  cli_progress bar;
  cli_progress_start(&bar, "detect", ds.n_images);
  double start = bm_now();
  if (bm_detector_detect_dataset(det, &ds, NULL, 0, &a.opts, cli_progress_report, &bar, &dets, &err))
    goto done;
  double seconds = bm_now() - start;
  if (bm_write_voc_results(a.out, split, &ds, &dets, &err) ||
      bm_write_coco_results(json_path, &ds, &dets, &err) ||
      write_boxes_json(boxes_path, &ds, &dets, &err) ||
      (a.draw && draw_all(a.out, &ds, &dets, (float)a.draw_thresh, &err)))
    goto done;
  printf("detected %ld boxes (score >= %g) on %d images of %s in %.1f s (%.1f images/s); "
         "input %s; results in %s\n",
         dets.n, a.opts.thresh, ds.n_images, split, seconds,
         seconds > 0 ? ds.n_images / seconds : 0,
         bm_detector_letterbox(det) ? "letterboxed" : "stretched", a.out);
  status = 0;
done:
  if (status) cli_error("%s", err.msg);
  bm_detector_free(det);
  bm_dataset_free(&ds);
  bm_detections_free(&dets);
  bm_free(classes_path);
  bm_free(json_path);
  bm_free(boxes_path);
  bm_free(a.images);
  return status;
}
