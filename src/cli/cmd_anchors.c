/* boxmine anchors: fits anchor boxes to a dataset's box shapes at a network input size and
 * prints them as a cfg `anchors=` line. */
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_anchors.h"
#include "cli/cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: boxmine anchors --data DIR [--split NAME] --input WxH [--num N] [options]\n\n"
          "Fits N anchor boxes to the dataset's non-difficult boxes by k-means with the\n"
          "distance 1 - IoU of shapes (boxes centred on each other), as YOLOv2 did. Boxes are\n"
          "first scaled as the detector's letterbox scales them into a WxH network input.\n"
          "Prints the anchors (network-input pixels, sorted by area) as a cfg line\n"
          "`anchors=w,h, ...` on stdout, with the mean IoU of a box with its best anchor and\n"
          "how many boxes each anchor is best for. Give the same anchors to every [yolo]\n"
          "section; the smallest go to the finest head's mask (docs/DETECTOR.md).\n\n"
          "options:\n"
          "  --input WxH            network input size (required), e.g. 320x240\n"
          "  --num N                number of anchors (default 6)\n"
          "  --restarts N           k-means runs from different seeds; the best mean IoU wins\n"
          "                         (default 10)\n"
          "  --seed N               seed of the k-means seeding (default 1)\n"
          "%s"
          "  -h, --help             this help\n",
          cli_dataset_help);
}

int cmd_anchors(int argc, char **argv) {
  cli_dataset_args data_args;
  cli_dataset_args_init(&data_args, 0);
  int input_w = 0, input_h = 0;
  long num = 6, restarts = 10, seed = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    }
    int taken = cli_dataset_arg(&data_args, argc, argv, &i);
    if (taken < 0) return 2;
    if (taken) continue;
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--input")) {
      char tail;
      if (!v || sscanf(v, "%dx%d%c", &input_w, &input_h, &tail) != 2 || input_w < 8 || input_h < 8 ||
          input_w > 8192 || input_h > 8192)
        return cli_error("--input: '%s' is not WIDTHxHEIGHT (8..8192)", v ? v : ""), 2;
      i++;
    } else if (!strcmp(a, "--num")) {
      if (!v || cli_parse_int(a, v, 1, 64, &num)) return 2;
      i++;
    } else if (!strcmp(a, "--restarts")) {
      if (!v || cli_parse_int(a, v, 1, 1000, &restarts)) return 2;
      i++;
    } else if (!strcmp(a, "--seed")) {
      if (!v || cli_parse_int(a, v, 0, 2147483647L, &seed)) return 2;
      i++;
    } else {
      cli_error("unknown option '%s' (see boxmine anchors --help)", a);
      return 2;
    }
  }
  if (input_w == 0) return cli_error("give the network input size with --input WxH"), 2;

  bm_dataset ds;
  int status = cli_dataset_load(&data_args, &ds);
  if (status) {
    cli_dataset_args_free(&data_args);
    return status;
  }
  bm_error err = {{0}};
  float *wh = NULL, anchors[2 * 64];
  int n_boxes = 0;
  bm_rng rng;
  bm_rng_seed(&rng, (uint64_t)seed, 0x616e63686f7273ULL); /* stream "anchors" */
  status = 1;
  if (bm_anchor_shapes(&ds, input_w, input_h, &wh, &n_boxes, &err) ||
      bm_anchors_kmeans(wh, n_boxes, (int)num, (int)restarts, &rng, anchors, &err)) {
    cli_error("%s", err.msg);
    goto done;
  }
  int counts[64] = {0};
  for (int i = 0; i < n_boxes; i++) {
    int best = 0;
    double best_iou = -1;
    for (int j = 0; j < num; j++) {
      double iou = bm_shape_iou(wh[2 * i], wh[2 * i + 1], anchors[2 * j], anchors[2 * j + 1]);
      if (iou > best_iou) best_iou = iou, best = j;
    }
    counts[best]++;
  }
  printf("# %ld anchors for %d non-difficult boxes of %s%s%s at network input %dx%d (letterboxed)\n",
         num, n_boxes, ds.root ? ds.root : "the dataset", ds.split ? ", split " : "",
         ds.split ? ds.split : "", input_w, input_h);
  printf("# mean IoU of a box with its best anchor: %.4f\n",
         bm_anchors_mean_iou(wh, n_boxes, anchors, (int)num));
  printf("# boxes per anchor:");
  for (int j = 0; j < num; j++) printf(" %d", counts[j]);
  printf("\nanchors=");
  for (int j = 0; j < num; j++)
    printf("%s%.0f,%.0f", j ? ", " : "", anchors[2 * j], anchors[2 * j + 1]);
  printf("\n");
  status = 0;
done:
  bm_free(wh);
  bm_dataset_free(&ds);
  cli_dataset_args_free(&data_args);
  return status;
}
