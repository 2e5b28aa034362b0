/* boxmine eval: PASCAL VOC and COCO evaluation of detections on a dataset split, printed as
 * tables and optionally written as JSON. The rules are in docs/METRICS.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_det.h"
#include "boxmine/bm_eval.h"
#include "cli/cli.h"
#include "cli/cli_det.h"

static void usage(FILE *out) {
  fprintf(
      out,
      "usage: boxmine eval --data DIR --split NAME (--dets PATH | --weights CKPT)\n"
      "                    [--metric voc07|voc12|coco|all] [--json FILE] [options]\n\n"
      "Evaluates detections on a dataset split with the rules of the reference evaluators\n"
      "(VOC devkit / py-faster-rcnn voc_eval, pycocotools COCOeval); docs/METRICS.md has\n"
      "the details. Prints per-class and mean AP tables on stdout. Ground-truth boxes are\n"
      "used exactly as the XML files give them (no clipping, zero-area boxes kept), as the\n"
      "references use them.\n\n"
      "  --dets PATH            detections: a folder of VOC devkit results files\n"
      "                         comp4_det_<split>_<class>.txt (lines: id score x1 y1 x2 y2,\n"
      "                         VOC pixel coordinates), or a COCO results JSON file\n"
      "                         ([{image_id, category_id, bbox [x,y,w,h], score}], category_id\n"
      "                         = class index + 1)\n"
      "  --weights CKPT         run a detector checkpoint (boxmine train's .ckpt) on the split\n"
      "                         first, with --thresh F (0.005), --nms F (0.45), --max-dets N\n"
      "                         (100), --threads N (2); the dataset's class list must equal\n"
      "                         the checkpoint's\n"
      "  --metric WHICH         voc07 (11-point AP), voc12 (area under the precision\n"
      "                         envelope), coco (AP@[.5:.95], AP50, AP75, sizes, AR), or all\n"
      "                         (default)\n"
      "  --json FILE            also write the numbers as JSON (fractions in [0,1]; null where\n"
      "                         a class has no ground truth)\n"
      "  --class-agnostic       score every box as one class 'object' (ground truth and\n"
      "                         detections): tells finding objects apart from naming them;\n"
      "                         a box detected under two classes counts once, then as a\n"
      "                         false positive\n"
      "dataset options:\n%s"
      "  -h, --help             this help\n",
      cli_dataset_help);
}

/* "test" for --split test, "val" for --split lists/val.txt: the name in comp4_det_<name>_. */
static void split_name(const char *split, char *out, size_t size) {
  const char *base = strrchr(split, '/');
  base = base ? base + 1 : split;
  snprintf(out, size, "%s", base);
  size_t len = strlen(out);
  if (len > 4 && !strcmp(out + len - 4, ".txt")) out[len - 4] = '\0';
}

/* AP as a percentage with two decimals, or "-" when there is none. */
static void print_ap(double value) {
  if (isnan(value) || value < 0) printf(" %9s", "-");
  else printf(" %9.2f", 100 * value);
}

static int class_name_width(const bm_dataset *ds) {
  int width = 17; /* fits "mAP (20 classes)" */
  for (int c = 0; c < ds->n_classes; c++) {
    int len = (int)strlen(ds->class_names[c]);
    if (len > width) width = len;
  }
  return width < 40 ? width : 40;
}

static void print_voc(const bm_dataset *ds, const char *split, const bm_voc_result *voc, int show07,
                      int show12) {
  int w = class_name_width(ds);
  printf(
      "\nPASCAL VOC AP (%%) on split '%s': a match needs IoU > 0.5 (@.5) or > 0.75 (@.75);\n"
      "VOC07 = 11-point interpolation, VOC12 = area under the precision envelope\n",
      split);
  printf("%-*s %7s %9s %8s", w, "class", "npos", "difficult", "dets");
  if (show07) printf(" %9s %9s", "VOC07@.5", "VOC07@.75");
  if (show12) printf(" %9s %9s", "VOC12@.5", "VOC12@.75");
  printf("\n");
  long npos = 0, difficult = 0, dets = 0;
  for (int c = 0; c < voc->n_classes; c++) {
    const bm_voc_class_ap *cls = &voc->classes[c];
    printf("%-*.*s %7ld %9ld %8ld", w, w, ds->class_names[c], cls->npos, cls->n_difficult,
           cls->n_detections);
    for (int t = 0; show07 && t < BM_VOC_N_IOU; t++) print_ap(cls->ap07[t]);
    for (int t = 0; show12 && t < BM_VOC_N_IOU; t++) print_ap(cls->ap12[t]);
    printf("\n");
    npos += cls->npos;
    difficult += cls->n_difficult;
    dets += cls->n_detections;
  }
  char label[64];
  snprintf(label, sizeof label, "mAP (%d classes)", voc->n_classes_in_mean);
  printf("%-*s %7ld %9ld %8ld", w, label, npos, difficult, dets);
  for (int t = 0; show07 && t < BM_VOC_N_IOU; t++) print_ap(voc->map07[t]);
  for (int t = 0; show12 && t < BM_VOC_N_IOU; t++) print_ap(voc->map12[t]);
  printf("\n");
  if (voc->n_classes_in_mean < voc->n_classes) {
    printf("classes with no positives (no AP, left out of the mean):");
    for (int c = 0; c < voc->n_classes; c++)
      if (voc->classes[c].npos == 0) printf(" %s", ds->class_names[c]);
    printf("\n");
  }
}

static void print_coco(const bm_dataset *ds, const char *split, const bm_coco_result *coco) {
  const bm_coco_stats *s = &coco->stats;
  printf(
      "\nCOCO bbox metrics on split '%s' (pycocotools rules; difficult boxes are crowd\n"
      "regions; -1 = no ground truth in that range):\n",
      split);
  const struct {
    const char *kind, *iou, *area;
    int max_dets;
    double value;
  } rows[12] = {
      {"Average Precision  (AP)", "0.50:0.95", "   all", 100, s->ap},
      {"Average Precision  (AP)", "0.50     ", "   all", 100, s->ap50},
      {"Average Precision  (AP)", "0.75     ", "   all", 100, s->ap75},
      {"Average Precision  (AP)", "0.50:0.95", " small", 100, s->ap_small},
      {"Average Precision  (AP)", "0.50:0.95", "medium", 100, s->ap_medium},
      {"Average Precision  (AP)", "0.50:0.95", " large", 100, s->ap_large},
      {"Average Recall     (AR)", "0.50:0.95", "   all", 1, s->ar1},
      {"Average Recall     (AR)", "0.50:0.95", "   all", 10, s->ar10},
      {"Average Recall     (AR)", "0.50:0.95", "   all", 100, s->ar100},
      {"Average Recall     (AR)", "0.50:0.95", " small", 100, s->ar_small},
      {"Average Recall     (AR)", "0.50:0.95", "medium", 100, s->ar_medium},
      {"Average Recall     (AR)", "0.50:0.95", " large", 100, s->ar_large},
  };
  for (int k = 0; k < 12; k++)
    printf(" %s @[ IoU=%s | area=%s | maxDets=%3d ] = %.3f\n", rows[k].kind, rows[k].iou,
           rows[k].area, rows[k].max_dets, rows[k].value);
  int w = class_name_width(ds);
  printf("per class (%%, area all, 100 detections per image):\n");
  printf("%-*s %7s %7s %9s %9s %9s %9s\n", w, "class", "gt", "crowd", "AP", "AP50", "AP75",
         "AR100");
  for (int c = 0; c < coco->n_classes; c++) {
    const bm_coco_class_ap *cls = &coco->classes[c];
    printf("%-*.*s %7ld %7ld", w, w, ds->class_names[c], cls->n_gt, cls->n_crowd);
    print_ap(cls->ap);
    print_ap(cls->ap50);
    print_ap(cls->ap75);
    print_ap(cls->ar100);
    printf("\n");
  }
}

/* A metric value for JSON: null when there is none (NAN for VOC, -1 for COCO). */
static void json_value(bm_buf *buf, double value) {
  if (isnan(value) || value < 0) bm_buf_puts(buf, "null");
  else bm_buf_printf(buf, "%.17g", value);
}

/* --class-agnostic: every object and detection becomes class 0, named "object". The other
 * names are freed here, so bm_dataset_free sees a consistent one-class dataset. */
static int merge_classes(bm_dataset *ds, bm_detections *dets) {
  char *name = bm_strdup("object");
  if (!name) return cli_error("out of memory");
  for (int c = 0; c < ds->n_classes; c++) bm_free(ds->class_names[c]);
  ds->class_names[0] = name;
  ds->n_classes = 1;
  ds->is_voc = 0;
  for (int i = 0; i < ds->n_objects; i++) ds->objects[i].class_id = 0;
  for (long i = 0; i < dets->n; i++) dets->items[i].class_id = 0;
  return 0;
}

static void json_voc(bm_buf *buf, const bm_dataset *ds, const bm_voc_result *voc, int use07) {
  const double *mean = use07 ? voc->map07 : voc->map12;
  bm_buf_puts(buf, "{\"ap50\": ");
  json_value(buf, mean[0]);
  bm_buf_puts(buf, ", \"ap75\": ");
  json_value(buf, mean[1]);
  bm_buf_printf(buf, ", \"classes_in_mean\": %d, \"per_class\": [", voc->n_classes_in_mean);
  for (int c = 0; c < voc->n_classes; c++) {
    const bm_voc_class_ap *cls = &voc->classes[c];
    const double *ap = use07 ? cls->ap07 : cls->ap12;
    bm_buf_puts(buf, c ? ",\n    {\"name\": " : "\n    {\"name\": ");
    bm_buf_json_string(buf, ds->class_names[c]);
    bm_buf_printf(buf,
                  ", \"npos\": %ld, \"difficult\": %ld, \"detections\": %ld, \"ap50\": ", cls->npos,
                  cls->n_difficult, cls->n_detections);
    json_value(buf, ap[0]);
    bm_buf_puts(buf, ", \"ap75\": ");
    json_value(buf, ap[1]);
    bm_buf_printf(buf, ", \"in_mean\": %s}", cls->npos > 0 ? "true" : "false");
  }
  bm_buf_puts(buf, "]}");
}

static void json_coco(bm_buf *buf, const bm_dataset *ds, const bm_coco_result *coco) {
  const bm_coco_stats *s = &coco->stats;
  const char *names[12] = {"ap",  "ap50", "ap75",  "ap_small", "ap_medium", "ap_large",
                           "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large"};
  const double values[12] = {s->ap,  s->ap50, s->ap75,  s->ap_small, s->ap_medium, s->ap_large,
                             s->ar1, s->ar10, s->ar100, s->ar_small, s->ar_medium, s->ar_large};
  bm_buf_puts(buf, "{");
  for (int k = 0; k < 12; k++) {
    bm_buf_printf(buf, "%s\"%s\": ", k ? ", " : "", names[k]);
    json_value(buf, values[k]);
  }
  bm_buf_puts(buf, ", \"per_class\": [");
  for (int c = 0; c < coco->n_classes; c++) {
    const bm_coco_class_ap *cls = &coco->classes[c];
    bm_buf_puts(buf, c ? ",\n    {\"name\": " : "\n    {\"name\": ");
    bm_buf_json_string(buf, ds->class_names[c]);
    bm_buf_printf(buf, ", \"gt\": %ld, \"crowd\": %ld, \"ap\": ", cls->n_gt, cls->n_crowd);
    json_value(buf, cls->ap);
    bm_buf_puts(buf, ", \"ap50\": ");
    json_value(buf, cls->ap50);
    bm_buf_puts(buf, ", \"ap75\": ");
    json_value(buf, cls->ap75);
    bm_buf_puts(buf, ", \"ar100\": ");
    json_value(buf, cls->ar100);
    bm_buf_puts(buf, "}");
  }
  bm_buf_puts(buf, "]}");
}

static int write_json(const char *path, const char *split, const bm_dataset *ds, long n_dets,
                      const bm_voc_result *voc, const bm_coco_result *coco, int show07,
                      int show12, int class_agnostic) {
  bm_buf buf;
  bm_buf_init(&buf);
  bm_buf_puts(&buf, "{\"split\": ");
  bm_buf_json_string(&buf, split);
  bm_buf_printf(&buf,
                ", \"images\": %d, \"objects\": %d, \"detections\": %ld, \"class_agnostic\": %s,\n"
                " \"metrics\": {",
                ds->n_images, ds->n_objects, n_dets, class_agnostic ? "true" : "false");
  int first = 1;
  if (show07) {
    bm_buf_puts(&buf, "\n  \"voc07\": ");
    json_voc(&buf, ds, voc, 1);
    first = 0;
  }
  if (show12) {
    bm_buf_puts(&buf, first ? "\n  \"voc12\": " : ",\n  \"voc12\": ");
    json_voc(&buf, ds, voc, 0);
    first = 0;
  }
  if (coco) {
    bm_buf_puts(&buf, first ? "\n  \"coco\": " : ",\n  \"coco\": ");
    json_coco(&buf, ds, coco);
  }
  bm_buf_puts(&buf, "}}\n");
  bm_error err = {{0}};
  int status = buf.failed ? bm_fail(&err, "out of memory")
                          : bm_write_file_atomic(path, buf.data, buf.len, &err);
  bm_buf_free(&buf);
  if (status != 0) return cli_error("--json: %s", err.msg);
  return 0;
}

/* eval's own options (the dataset's: cli_dataset_arg). */
typedef struct eval_args {
  const char *dets_path, *weights, *json_path, *metric;
  bm_detect_opts detect_opts;
  long detect_threads;
  int class_agnostic;
} eval_args;

/* Takes argv[*i] (and its value, advancing *i) into e: 0, or 2 for a usage error. */
static int eval_arg(eval_args *e, int argc, char **argv, int *i) {
  const char *a = argv[*i], *value = *i + 1 < argc ? argv[*i + 1] : NULL;
  if (!strcmp(a, "--class-agnostic")) {
    e->class_agnostic = 1;
    return 0;
  }
  double number;
  long count;
  if (!strcmp(a, "--thresh") || !strcmp(a, "--nms")) {
    if (cli_parse_float(a, value, 0, 1, &number)) return 2;
    *(!strcmp(a, "--thresh") ? &e->detect_opts.thresh : &e->detect_opts.nms) = (float)number;
    (*i)++;
    return 0;
  }
  if (!strcmp(a, "--max-dets") || !strcmp(a, "--threads")) {
    if (cli_parse_int(a, value, 1, 100000, &count)) return 2;
    if (!strcmp(a, "--max-dets")) e->detect_opts.max_dets = (int)count;
    else e->detect_threads = count;
    (*i)++;
    return 0;
  }
  const char **target = NULL;
  if (!strcmp(a, "--dets")) target = &e->dets_path;
  else if (!strcmp(a, "--weights")) target = &e->weights;
  else if (!strcmp(a, "--json")) target = &e->json_path;
  else if (!strcmp(a, "--metric")) target = &e->metric;
  if (!target) return cli_error("eval: unknown option '%s' (see boxmine eval --help)", a), 2;
  if (!value || !value[0]) return cli_error("%s needs a value", a), 2;
  *target = value;
  (*i)++;
  return 0;
}

int cmd_eval(int argc, char **argv) {
  cli_dataset_args args;
  cli_dataset_args_init(&args, 0);
  eval_args e = {NULL, NULL, NULL, "all", bm_detect_defaults(), 2, 0};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    int used = cli_dataset_arg(&args, argc, argv, &i);
    if (used < 0) return 2;
    if (!used && eval_arg(&e, argc, argv, &i)) return 2;
  }
  const char *dets_path = e.dets_path, *weights = e.weights, *json_path = e.json_path;
  const char *metric = e.metric;
  int class_agnostic = e.class_agnostic;
  int want_voc07 = !strcmp(metric, "voc07") || !strcmp(metric, "all");
  int want_voc12 = !strcmp(metric, "voc12") || !strcmp(metric, "all");
  int want_coco = !strcmp(metric, "coco") || !strcmp(metric, "all");
  if (!want_voc07 && !want_voc12 && !want_coco) {
    cli_error("--metric: '%s' is not one of voc07, voc12, coco, all", metric);
    return 2;
  }
  if (!dets_path == !weights) {
    cli_error("give exactly one of --dets PATH and --weights CKPT (see boxmine eval --help)");
    return 2;
  }
  if (!args.opts.split) {
    cli_error("give the split to evaluate with --split NAME");
    return 2;
  }
  /* the ground truth exactly as written, as the references see it (bm_eval_load_dataset's
   * rule; the CLI loader adds the cache defaults and a progress bar) */
  args.opts.keep_boxes_as_written = 1;
  bm_dataset ds;
  int status = cli_dataset_load(&args, &ds);
  if (status != 0) {
    cli_dataset_args_free(&args);
    return status;
  }
  char split[256];
  split_name(args.opts.split, split, sizeof split);
  bm_log log = cli_log();
  if (ds.n_boxes_dropped > 0)
    bm_warn(&log,
            "%d ground-truth boxes were dropped while loading (unknown classes or inverted "
            "boxes, see above); the VOC devkit and pycocotools would still see them, so their "
            "numbers can differ", ds.n_boxes_dropped);

  bm_detections dets = {0, 0, NULL};
  bm_voc_result voc;
  bm_coco_result coco;
  memset(&voc, 0, sizeof voc);
  memset(&coco, 0, sizeof coco);
  bm_error err = {{0}};
  status = 1;
  int read_status = weights    ? cli_detect_dataset(weights, &e.detect_opts, (int)e.detect_threads, &ds, &dets, &log, &err)
                    : bm_is_dir(dets_path) ? bm_read_voc_results(dets_path, split, &ds, &dets, &log, &err)
                                           : bm_read_coco_results(dets_path, &ds, &dets, &err);
  if (read_status != 0) {
    cli_error("%s", err.msg);
    goto done;
  }
  if (class_agnostic && merge_classes(&ds, &dets) != 0) goto done;
  printf("boxmine eval: split '%s': %d images, %d objects; %ld detections from %s%s\n", split,
         ds.n_images, ds.n_objects, dets.n, weights ? weights : dets_path,
         class_agnostic ? " (class-agnostic: every box is one class 'object')" : "");
  if ((want_voc07 || want_voc12) && bm_eval_voc(&ds, NULL, 0, &dets, &voc, &err) != 0) {
    cli_error("VOC evaluation: %s", err.msg);
    goto done;
  }
  if (want_coco && bm_eval_coco(&ds, NULL, 0, &dets, &coco, &err) != 0) {
    cli_error("COCO evaluation: %s", err.msg);
    goto done;
  }
  if (want_voc07 || want_voc12) print_voc(&ds, split, &voc, want_voc07, want_voc12);
  if (want_coco) print_coco(&ds, split, &coco);
  if (json_path && write_json(json_path, split, &ds, dets.n, &voc, want_coco ? &coco : NULL,
                              want_voc07, want_voc12, class_agnostic) != 0)
    goto done;
  status = 0;
done:
  bm_voc_result_free(&voc);
  bm_coco_result_free(&coco);
  bm_detections_free(&dets);
  bm_dataset_free(&ds);
  cli_dataset_args_free(&args);
  return status;
}
