/* boxmine info: what a dataset holds — images, boxes per class, flags, negatives, image and
 * box sizes — for the whole folder or one split. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: boxmine info --data DIR [--split NAME] [options]\n\n"
          "Prints a dataset's statistics: images, boxes (in the XML files, dropped, clipped,\n"
          "kept), boxes per class, difficult and truncated counts, negatives (images without\n"
          "objects), image sizes and box sizes. Box sizes use VOC's inclusive pixels:\n"
          "width = xmax - xmin + 1. Warnings about the data go to stderr.\n\n"
          "options:\n%s"
          "  -h, --help             this help\n",
          cli_dataset_help);
}

static int compare_floats(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* The value at quantile q of sorted values (nearest rank). */
static float quantile(const float *sorted, int n, double q) {
  if (n == 0) return 0;
  int i = (int)(q * (n - 1) + 0.5);
  return sorted[i];
}

static int count_id(void *user, const char *id, int line) {
  (void)id;
  (void)line;
  (*(long *)user)++;
  return 0;
}

/* "split lists: test 72, train 205, ..." for ROOT/ImageSets/Main, when there is one. */
static void print_split_lists(const char *root) {
  char names[64][BM_VOC_SPLIT_NAME_MAX];
  int n = bm_voc_split_names(root, names, 64);
  if (n > 0) printf("%-28s", "split lists (ids)");
  for (int i = 0; i < n; i++) {
    char file[BM_VOC_SPLIT_NAME_MAX + 32];
    snprintf(file, sizeof file, BM_VOC_SETS_DIR "/%s.txt", names[i]);
    char *path = bm_path_join(root, file);
    long ids = 0;
    if (path) bm_voc_split_each(path, count_id, &ids, NULL);
    printf("%s%s %ld", i ? ", " : "", names[i], ids);
    bm_free(path);
  }
  if (n > 0) printf("\n");
}

typedef struct class_stats {
  long boxes, images, difficult, truncated;
} class_stats;

static int print_info(const bm_dataset *ds) {
  class_stats *per_class = bm_calloc((size_t)ds->n_classes, sizeof *per_class);
  int *last_image = bm_malloc((size_t)ds->n_classes * sizeof *last_image);
  float *widths = bm_malloc(((size_t)ds->n_objects + 1) * sizeof *widths);
  float *heights = bm_malloc(((size_t)ds->n_objects + 1) * sizeof *heights);
  int *size_count = bm_calloc((size_t)ds->n_images, sizeof *size_count);
  if (!per_class || !last_image || !widths || !heights || !size_count) {
    bm_free(per_class), bm_free(last_image), bm_free(widths), bm_free(heights);
    bm_free(size_count);
    return cli_error("out of memory");
  }
  for (int c = 0; c < ds->n_classes; c++) last_image[c] = -1;

  bm_strmap first_of_size = {0};
  long negatives = 0, difficult = 0, truncated = 0, small = 0, medium = 0, large = 0;
  int min_objects = -1, max_objects = 0;
  int min_w = 0, max_w = 0, min_h = 0, max_h = 0;
  for (int i = 0; i < ds->n_images; i++) {
    const bm_image_info *img = &ds->images[i];
    if (img->n_objects == 0 && img->ann_path) negatives++;
    if (min_objects < 0 || img->n_objects < min_objects) min_objects = img->n_objects;
    if (img->n_objects > max_objects) max_objects = img->n_objects;
    if (i == 0 || img->width < min_w) min_w = img->width;
    if (i == 0 || img->width > max_w) max_w = img->width;
    if (i == 0 || img->height < min_h) min_h = img->height;
    if (i == 0 || img->height > max_h) max_h = img->height;
    /* most common size: counted at the first image of each size */
    char size_key[32];
    snprintf(size_key, sizeof size_key, "%dx%d", img->width, img->height);
    int first = bm_strmap_get(&first_of_size, size_key);
    if (first < 0 && bm_strmap_put(&first_of_size, size_key, i) == 0) first = i;
    if (first >= 0) size_count[first]++;
    for (int k = img->first_object; k < img->first_object + img->n_objects; k++) {
      const bm_object *obj = &ds->objects[k];
      class_stats *cs = &per_class[obj->class_id];
      cs->boxes++;
      cs->difficult += obj->difficult != 0;
      cs->truncated += obj->truncated != 0;
      if (last_image[obj->class_id] != i) cs->images++, last_image[obj->class_id] = i;
      difficult += obj->difficult != 0;
      truncated += obj->truncated != 0;
      float w = obj->x2 - obj->x1 + 1, h = obj->y2 - obj->y1 + 1;
      widths[k] = w;
      heights[k] = h;
      double area = (double)w * h; /* COCO's size ranges */
      if (area < 32.0 * 32.0) small++;
      else if (area < 96.0 * 96.0) medium++;
      else large++;
    }
  }
  bm_strmap_free(&first_of_size);
  int common = 0;
  for (int i = 1; i < ds->n_images; i++)
    if (size_count[i] > size_count[common]) common = i;

  printf("dataset                     %s\n", ds->root);
  printf("images from                 %s\n", ds->images_dir);
  printf("annotations from            %s%s\n", ds->annotations_dir,
         ds->n_from_cache ? " (parsed earlier, from the cache)" : "");
  if (ds->split) printf("split                       %s\n", ds->split);
  else printf("split                       (none: every annotation file)\n");
  print_split_lists(ds->root);
  printf("classes                     %d, %s\n\n", ds->n_classes, ds->class_source);

  const char *which = ds->split ? ds->split : "all";
  printf("%-28s%8s\n", "", which);
  printf("%-28s%8d\n", "images", ds->n_images);
  printf("%-28s%8ld\n", "  negatives (no objects)", negatives);
  if (ds->n_unannotated) printf("%-28s%8d\n", "  without annotation file", ds->n_unannotated);
  if (ds->n_images_skipped) printf("%-28s%8d\n", "  skipped (bad image)", ds->n_images_skipped);
  if (ds->n_sizes_fixed) printf("%-28s%8d\n", "  XML size replaced", ds->n_sizes_fixed);
  printf("%-28s%8d\n", "boxes in the XML files", ds->n_boxes_in_files);
  printf("%-28s%8d\n", "  dropped (zero-area etc.)", ds->n_boxes_dropped);
  printf("%-28s%8d\n", "  clipped to the image", ds->n_boxes_clipped);
  printf("%-28s%8d\n", "boxes kept", ds->n_objects);
  printf("%-28s%8ld\n", "  difficult", difficult);
  printf("%-28s%8ld\n", "  truncated", truncated);
  printf("%-28s%8d / %.2f / %d\n", "boxes per image min/mean/max", min_objects < 0 ? 0 : min_objects,
         ds->n_images ? (double)ds->n_objects / ds->n_images : 0.0, max_objects);

  int name_width = 5;
  for (int c = 0; c < ds->n_classes; c++) {
    int len = (int)strlen(ds->class_names[c]);
    if (len > name_width) name_width = len;
  }
  printf("\n%-*s  %8s  %8s  %9s  %9s\n", name_width, "class", "boxes", "images", "difficult",
         "truncated");
  for (int c = 0; c < ds->n_classes; c++)
    printf("%-*s  %8ld  %8ld  %9ld  %9ld\n", name_width, ds->class_names[c], per_class[c].boxes,
           per_class[c].images, per_class[c].difficult, per_class[c].truncated);

  printf("\nimage width (px)            min %d, max %d\n", min_w, max_w);
  printf("image height (px)           min %d, max %d\n", min_h, max_h);
  if (ds->n_images)
    printf("most common image size      %dx%d (%d of %d images)\n", ds->images[common].width,
           ds->images[common].height, size_count[common], ds->n_images);
  if (ds->n_objects > 0) {
    qsort(widths, (size_t)ds->n_objects, sizeof *widths, compare_floats);
    qsort(heights, (size_t)ds->n_objects, sizeof *heights, compare_floats);
    int n = ds->n_objects;
    printf("box width (px)              min %g, median %g, max %g\n", widths[0],
           quantile(widths, n, 0.5), widths[n - 1]);
    printf("box height (px)             min %g, median %g, max %g\n", heights[0],
           quantile(heights, n, 0.5), heights[n - 1]);
    printf("boxes by COCO area          small (<32^2) %ld, medium %ld, large (>=96^2) %ld\n",
           small, medium, large);
  }
  bm_free(per_class), bm_free(last_image), bm_free(widths), bm_free(heights);
  bm_free(size_count);
  return 0;
}

int cmd_info(int argc, char **argv) {
  cli_dataset_args args;
  cli_dataset_args_init(&args, 1);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    int used = cli_dataset_arg(&args, argc, argv, &i);
    if (used < 0) return 2;
    if (used == 0) {
      cli_error("info: unknown option '%s' (see boxmine info --help)", argv[i]);
      return 2;
    }
  }
  bm_dataset ds;
  int status = cli_dataset_load(&args, &ds);
  if (status == 0) status = print_info(&ds) ? 1 : 0;
  bm_dataset_free(&ds);
  cli_dataset_args_free(&args);
  return status;
}
