/* boxmine convert: a dataset (or one split of it) written as PASCAL VOC, COCO and/or YOLO. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_convert.h"
#include "cli/cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: boxmine convert --data DIR [--split NAME] --out DIR --format voc,coco,yolo "
          "[options]\n\n"
          "Writes the dataset (after the checks of boxmine info: zero-area boxes dropped, boxes\n"
          "clipped, real image sizes; see --boxes-as-written) in one or more formats, each in its\n"
          "own folder:\n"
          "  OUT/voc/   Annotations/*.xml, JPEGImages/, ImageSets/Main/<list>.txt, classes.txt\n"
          "  OUT/coco/  instances_<list>.json, images/\n"
          "  OUT/yolo/  labels/*.txt (class cx cy w h, normalised), images/, <list>.txt,\n"
          "             classes.txt, obj.names\n"
          "With --split NAME there is one list, NAME. Without it there is 'all', plus one list\n"
          "per split list of ROOT/ImageSets/Main (train, val, ...). COCO boxes are\n"
          "x = xmin - 1, y = ymin - 1, w = xmax - xmin + 1, h = ymax - ymin + 1 (see\n"
          "docs/DATA.md); difficult boxes get iscrowd 1 (crowd regions, as boxmine eval and\n"
          "pycocotools treat them); image ids are the numbers VOC ids spell (000005 -> 5) when\n"
          "all ids of a list have distinct ones, else the id strings; category id = class + 1.\n\n"
          "options:\n"
          "  --out DIR              output folder (must not lie inside the dataset)\n"
          "  --format LIST          comma-separated formats: voc, coco, yolo\n"
          "  --image-mode MODE      copy (default), symlink (absolute links), or none\n"
          "  --force                write into output format folders that are not empty\n"
          "                         (files of an earlier conversion that are not rewritten stay)\n"
          "  --boxes-as-written     keep boxes exactly as the XML files give them (no clipping,\n"
          "                         zero-area boxes kept), as boxmine eval reads ground truth:\n"
          "                         then pycocotools on the COCO files gives boxmine eval's numbers\n"
          "%s"
          "  -h, --help             this help\n",
          cli_dataset_help);
}

typedef struct subset_list {
  int n;
  bm_subset items[64];
  char names[64][128];
} subset_list;

/* Indices of the dataset images listed in a split file; ids not in the dataset are counted. */
typedef struct split_indices {
  const bm_dataset *ds;
  int *indices;
  char *seen;
  int n, missing;
} split_indices;

static int take_index(void *user, const char *id, int line) {
  split_indices *si = user;
  (void)line;
  int i = bm_dataset_image_index(si->ds, id);
  if (i < 0) si->missing++;
  else if (!si->seen[i]) si->seen[i] = 1, si->indices[si->n++] = i;
  return 0;
}

/* The dataset indices of the ids a split list names (each once); NULL when it cannot be read.
 * *missing counts listed ids that are not in the dataset. */
static int *read_split_indices(const bm_dataset *ds, const char *path, int *n_out, int *missing) {
  split_indices si = {ds, bm_malloc(((size_t)ds->n_images + 1) * sizeof(int)),
                      bm_calloc((size_t)ds->n_images + 1, 1), 0, 0};
  if (!si.indices || !si.seen || bm_voc_split_each(path, take_index, &si, NULL) != 0) {
    bm_free(si.indices);
    si.indices = NULL;
  }
  bm_free(si.seen);
  *n_out = si.n;
  *missing = si.missing;
  return si.indices;
}

/* The source's split lists (ROOT/ImageSets/Main/<name>.txt, class-specific lists and "all"
 * skipped). */
static void add_source_splits(const bm_dataset *ds, subset_list *subsets) {
  char names[63][BM_VOC_SPLIT_NAME_MAX];
  int n = bm_voc_split_names(ds->root, names, 63);
  bm_log log = cli_log();
  for (int k = 0; k < n && subsets->n < 64; k++) {
    if (!strcmp(names[k], "all")) continue;
    char file[BM_VOC_SPLIT_NAME_MAX + 32];
    snprintf(file, sizeof file, BM_VOC_SETS_DIR "/%s.txt", names[k]);
    char *path = bm_path_join(ds->root, file);
    int count = 0, missing = 0;
    int *indices = path ? read_split_indices(ds, path, &count, &missing) : NULL;
    if (missing)
      bm_warn(&log, "%s: %d listed ids are not in the converted dataset; left out of the list",
              path, missing);
    bm_free(path);
    if (!indices) continue;
    bm_subset *s = &subsets->items[subsets->n];
    snprintf(subsets->names[subsets->n], sizeof subsets->names[0], "%s", names[k]);
    s->name = subsets->names[subsets->n];
    s->n_images = count;
    s->images = indices;
    subsets->n++;
  }
}

/* A split given as a path names its list after the file: .../val.txt -> "val". */
static void split_list_name(const char *split, char *out, size_t size) {
  const char *slash = strrchr(split, '/');
  const char *base = slash ? slash + 1 : split;
  size_t len = strlen(base);
  if (len > 4 && !strcmp(base + len - 4, ".txt")) len -= 4;
  snprintf(out, size, "%.*s", (int)len, base);
}

typedef struct write_progress {
  cli_progress bar;
  int started;
} write_progress;

static void on_progress(void *user, long done, long total) {
  write_progress *p = user;
  if (!p->started) {
    cli_progress_start(&p->bar, "writing", total);
    p->started = 1;
  }
  if (done >= total) cli_progress_finish(&p->bar, NULL);
  else cli_progress_update(&p->bar, done, NULL);
}

int cmd_convert(int argc, char **argv) {
  cli_dataset_args args;
  cli_dataset_args_init(&args, 1);
  bm_convert_opts opts = {0};
  const char *formats = NULL, *image_mode = "copy";
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i];
    if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
      usage(stdout);
      return 0;
    }
    int used = cli_dataset_arg(&args, argc, argv, &i);
    if (used < 0) return 2;
    if (used) continue;
    const char **target = !strcmp(opt, "--out")          ? &opts.out_dir
                          : !strcmp(opt, "--format")     ? &formats
                          : !strcmp(opt, "--image-mode") ? &image_mode
                                                         : NULL;
    if (target) {
      if (i + 1 >= argc || !argv[i + 1][0]) return cli_error("%s needs a value", opt), 2;
      *target = argv[++i];
    } else if (!strcmp(opt, "--force")) {
      opts.overwrite = 1;
    } else if (!strcmp(opt, "--boxes-as-written")) {
      args.opts.keep_boxes_as_written = 1;
    } else {
      cli_error("convert: unknown option '%s' (see boxmine convert --help)", opt);
      return 2;
    }
  }
  if (!opts.out_dir) return cli_error("convert: --out DIR is required"), 2;
  if (!formats) return cli_error("convert: --format voc|coco|yolo is required"), 2;
  bm_error err = {{0}};
  if (bm_parse_formats(formats, &opts.formats, &err) != 0) return cli_error("--format: %s", err.msg), 2;
  if (!strcmp(image_mode, "copy")) opts.image_mode = BM_IMAGES_COPY;
  else if (!strcmp(image_mode, "symlink")) opts.image_mode = BM_IMAGES_SYMLINK;
  else if (!strcmp(image_mode, "none")) opts.image_mode = BM_IMAGES_NONE;
  else return cli_error("--image-mode: '%s' is not copy, symlink or none", image_mode), 2;

  bm_dataset ds;
  int status = cli_dataset_load(&args, &ds);
  if (status != 0) {
    cli_dataset_args_free(&args);
    return status;
  }
  subset_list *subsets = bm_calloc(1, sizeof *subsets);
  int *all = bm_malloc(((size_t)ds.n_images + 1) * sizeof *all);
  if (!subsets || !all) {
    status = cli_error("out of memory");
  } else {
    for (int i = 0; i < ds.n_images; i++) all[i] = i;
    bm_subset *first = &subsets->items[0];
    if (ds.split) split_list_name(ds.split, subsets->names[0], sizeof subsets->names[0]);
    else snprintf(subsets->names[0], sizeof subsets->names[0], "all");
    *first = (bm_subset){subsets->names[0], ds.n_images, all};
    subsets->n = 1;
    if (!ds.split) add_source_splits(&ds, subsets);

    write_progress progress = {0};
    opts.progress = on_progress;
    opts.progress_user = &progress;
    bm_log log = cli_log();
    if (bm_convert_dataset(&ds, subsets->items, subsets->n, &opts, &log, &err) != 0) {
      status = cli_error("%s", err.msg);
    } else {
      int n_written = ds.n_images - ds.n_unannotated;
      printf("converted %d images, %d boxes, %d classes to %s as", n_written, ds.n_objects,
             ds.n_classes, opts.out_dir);
      if (opts.formats & BM_FORMAT_VOC) printf(" voc");
      if (opts.formats & BM_FORMAT_COCO) printf(" coco");
      if (opts.formats & BM_FORMAT_YOLO) printf(" yolo");
      printf("\nlists:");
      for (int s = 0; s < subsets->n; s++)
        printf(" %s (%d images)", subsets->items[s].name, subsets->items[s].n_images);
      printf("\n");
    }
  }
  for (int s = 1; subsets && s < subsets->n; s++) bm_free((void *)subsets->items[s].images);
  bm_free(subsets);
  bm_free(all);
  bm_dataset_free(&ds);
  cli_dataset_args_free(&args);
  return status;
}
