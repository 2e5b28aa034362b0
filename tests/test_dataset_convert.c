/* Converting a small hand-made dataset to VOC, COCO and YOLO. Expected numbers are worked out
 * by hand from the fixture below (comments show the arithmetic):
 *   a.png 40x30: zebra (1,1)-(40,30); ant (5,5)-(10.5,12) difficult
 *   b.png 20x10: ant (2,3)-(4,5) truncated
 *   n.png  8x8 : no objects (a negative)
 *   u.png  6x6 : no XML (kept with include_unannotated, never converted)
 * Classes (inferred, sorted): ant = 0, zebra = 1. test_coco_ids checks COCO image ids and
 * file names on a dataset built in memory. */
#include <string.h>
#include <sys/stat.h>

#include "boxmine/bm_convert.h"
#include "boxmine/bm_data.h"
#include "testlib.h"

static void write_text(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  bm_error err;
  CHECK(bm_write_file_atomic(path, text, strlen(text), &err) == 0);
}

static void write_png(const char *dir, const char *name, int width, int height) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  bm_image img = {width, height, 3, bm_calloc((size_t)width * height, 3)};
  bm_error err;
  CHECK(bm_image_save_png(path, &img, &err) == 0);
  bm_free(img.pixels);
}

static char *read_text(const char *dir, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *text = NULL;
  if (bm_read_file(path, &text, NULL, NULL) != 0) {
    fprintf(stderr, "cannot read %s\n", path);
    return NULL;
  }
  return text;
}

static int contains(const char *text, const char *needle) {
  int found = text && strstr(text, needle);
  if (!found) fprintf(stderr, "  missing: %s\n", needle);
  return found;
}

static void build_fixture(const char *root) {
  write_png(root, "a.png", 40, 30);
  write_png(root, "b.png", 20, 10);
  write_png(root, "n.png", 8, 8);
  write_png(root, "u.png", 6, 6);
  write_text(root, "a.xml",
             "<annotation><filename>a.png</filename><size><width>40</width><height>30</height>"
             "<depth>3</depth></size>"
             "<object><name>zebra</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>40</xmax>"
             "<ymax>30</ymax></bndbox></object>"
             "<object><name>ant</name><difficult>1</difficult><bndbox><xmin>5</xmin>"
             "<ymin>5</ymin><xmax>10.5</xmax><ymax>12</ymax></bndbox></object></annotation>");
  write_text(root, "b.xml",
             "<annotation><filename>b.png</filename><size><width>20</width><height>10</height>"
             "</size><object><name>ant</name><truncated>1</truncated><bndbox><xmin>2</xmin>"
             "<ymin>3</ymin><xmax>4</xmax><ymax>5</ymax></bndbox></object></annotation>");
  write_text(root, "n.xml",
             "<annotation><filename>n.png</filename><size><width>8</width><height>8</height>"
             "</size></annotation>");
}

static void check_coco(const char *out) {
  char *json = read_text(out, "coco/instances_all.json");
  /* images: the ids a, b, n spell no numbers, so they are COCO string ids (u is not converted) */
  CHECK(contains(json, "{\"id\": \"a\", \"file_name\": \"a.png\", \"width\": 40, \"height\": 30}"));
  CHECK(contains(json, "{\"id\": \"n\", \"file_name\": \"n.png\", \"width\": 8, \"height\": 8}"));
  CHECK(json && !strstr(json, "u.png"));
  /* zebra (1,1)-(40,30): x = 1-1 = 0, w = 40-1+1 = 40, h = 30-1+1 = 30, area 1200 */
  CHECK(contains(json, "{\"id\": 1, \"image_id\": \"a\", \"category_id\": 2, \"bbox\": [0, 0, 40, 30], "
                       "\"area\": 1200"));
  /* ant (5,5)-(10.5,12): x = 4, y = 4, w = 10.5-5+1 = 6.5, h = 12-5+1 = 8, area 52;
   * difficult: a crowd region for pycocotools */
  CHECK(contains(json, "{\"id\": 2, \"image_id\": \"a\", \"category_id\": 1, \"bbox\": [4, 4, 6.5, 8], "
                       "\"area\": 52"));
  CHECK(contains(json, "[[4, 4, 10.5, 4, 10.5, 12, 4, 12]], \"iscrowd\": 1, \"ignore\": 1, "
                       "\"truncated\": 0}"));
  /* b's ant (2,3)-(4,5): [1, 2, 3, 3], area 9, truncated, not difficult */
  CHECK(contains(json, "{\"id\": 3, \"image_id\": \"b\", \"category_id\": 1, \"bbox\": [1, 2, 3, 3], "
                       "\"area\": 9"));
  CHECK(contains(json, "\"iscrowd\": 0, \"ignore\": 0, \"truncated\": 1}"));
  CHECK(contains(json, "{\"id\": 1, \"name\": \"ant\", \"supercategory\": \"none\"}"));
  CHECK(contains(json, "{\"id\": 2, \"name\": \"zebra\", \"supercategory\": \"none\"}"));
  bm_free(json);
  /* the split file: only b */
  json = read_text(out, "coco/instances_val.json");
  CHECK(contains(json, "{\"id\": \"b\", \"file_name\": \"b.png\""));
  CHECK(json && !strstr(json, "a.png") && !strstr(json, "\"image_id\": \"a\""));
  CHECK(contains(json, "{\"id\": 3, \"image_id\": \"b\", \"category_id\": 1, \"bbox\": [1, 2, 3, 3]"));
  bm_free(json);
}

/* COCO image ids follow the evaluator's rule over the images of each file: the number a VOC
 * id spells (digits and underscores, 1 to 15 digits) when every id of the file has one and
 * no two are equal, otherwise the id strings. file_name is the converted image's name
 * (<id>.<source extension>), whatever the source file was called. Built by hand. */
static void test_coco_ids(const char *tmp) {
  bm_image_info images[4] = {
      {.id = "000005", .image_path = "/src/000005.jpg", .width = 10, .height = 10},
      {.id = "2007_000032", .image_path = "/src/photo.png", .width = 10, .height = 10},
      {.id = "5", .image_path = "/src/5.jpg", .width = 10, .height = 10},
      {.id = "1234567890123456", .image_path = "/src/long.jpg", .width = 10, .height = 10}};
  bm_object objects[4] = {{.class_id = 0, .x1 = 1, .y1 = 1, .x2 = 4, .y2 = 4},
                          {.class_id = 1, .x1 = 2, .y1 = 2, .x2 = 5, .y2 = 5, .difficult = 1},
                          {.class_id = 0, .x1 = 1, .y1 = 1, .x2 = 2, .y2 = 2},
                          {.class_id = 0, .x1 = 1, .y1 = 1, .x2 = 2, .y2 = 2}};
  for (int i = 0; i < 4; i++) images[i].first_object = i, images[i].n_objects = 1;
  char *names[2] = {"cell", "virus"};
  bm_dataset ds = {.n_images = 4, .images = images, .n_objects = 4, .objects = objects,
                   .n_classes = 2, .class_names = names};
  char path[600];
  bm_error err = {{0}};

  /* 000005 -> 5, 2007_000032 -> 2007000032: distinct numbers */
  const int numeric[2] = {0, 1};
  snprintf(path, sizeof path, "%s/numeric.json", tmp);
  CHECK_MSG(bm_coco_write_json(&ds, numeric, 2, path, &err) == 0, "%s", err.msg);
  char *json = read_text(tmp, "numeric.json");
  CHECK(contains(json, "{\"id\": 5, \"file_name\": \"000005.jpg\""));
  CHECK(contains(json, "{\"id\": 2007000032, \"file_name\": \"2007_000032.png\""));
  CHECK(contains(json, "{\"id\": 1, \"image_id\": 5, \"category_id\": 1, \"bbox\": [0, 0, 4, 4]"));
  /* (2,2)-(5,5): [1, 1, 4, 4], area 16, difficult -> crowd */
  CHECK(contains(json, "{\"id\": 2, \"image_id\": 2007000032, \"category_id\": 2, "
                       "\"bbox\": [1, 1, 4, 4], \"area\": 16"));
  CHECK(contains(json, "\"iscrowd\": 1, \"ignore\": 1"));
  bm_free(json);

  /* 000005 and 5 both spell 5: every image of the file keeps its string id */
  const int clash[3] = {0, 1, 2};
  snprintf(path, sizeof path, "%s/clash.json", tmp);
  CHECK_MSG(bm_coco_write_json(&ds, clash, 3, path, &err) == 0, "%s", err.msg);
  json = read_text(tmp, "clash.json");
  CHECK(contains(json, "{\"id\": \"000005\""));
  CHECK(contains(json, "{\"id\": \"5\""));
  CHECK(contains(json, "{\"id\": 2, \"image_id\": \"2007_000032\""));
  CHECK(json && !strstr(json, "\"id\": 5,"));
  bm_free(json);

  /* 16 digits are more than a COCO number is taken to hold: strings again */
  const int too_long[2] = {1, 3};
  snprintf(path, sizeof path, "%s/long.json", tmp);
  CHECK_MSG(bm_coco_write_json(&ds, too_long, 2, path, &err) == 0, "%s", err.msg);
  json = read_text(tmp, "long.json");
  CHECK(contains(json, "{\"id\": \"1234567890123456\", \"file_name\": \"1234567890123456.jpg\""));
  CHECK(contains(json, "{\"id\": \"2007_000032\""));
  bm_free(json);

  const int outside[1] = {4};
  CHECK(bm_coco_write_json(&ds, outside, 1, path, &err) == -1 && strstr(err.msg, "outside"));
}

static void check_yolo(const char *out) {
  char *labels = read_text(out, "yolo/labels/a.txt");
  /* zebra: continuous [0,40]x[0,30] -> centre (20/40, 15/30), size (40/40, 30/30)
   * ant: [4,10.5]x[4,12] -> centre (7.25/40, 8/30) = (0.18125, 0.2666..), size (6.5/40, 8/30) */
  CHECK(labels && !strcmp(labels, "1 0.500000 0.500000 1.000000 1.000000\n"
                                  "0 0.181250 0.266667 0.162500 0.266667\n"));
  bm_free(labels);
  labels = read_text(out, "yolo/labels/b.txt");
  /* [1,4]x[2,5] in a 20x10 image -> centre (2.5/20, 3.5/10), size (3/20, 3/10) */
  CHECK(labels && !strcmp(labels, "0 0.125000 0.350000 0.150000 0.300000\n"));
  bm_free(labels);
  labels = read_text(out, "yolo/labels/n.txt");
  CHECK(labels && labels[0] == '\0'); /* a negative: empty label file */
  bm_free(labels);
  char *list = read_text(out, "yolo/all.txt");
  CHECK(list && !strcmp(list, "images/a.png\nimages/b.png\nimages/n.png\n"));
  bm_free(list);
  char *names = read_text(out, "yolo/obj.names");
  CHECK(names && !strcmp(names, "ant\nzebra\n"));
  bm_free(names);
}

static void check_voc_reload(const char *out, const bm_dataset *source) {
  char root[1024];
  snprintf(root, sizeof root, "%s/voc", out);
  bm_dataset ds;
  bm_dataset_opts opts = {.root = root, .check_images = 1};
  bm_log log = {0};
  bm_error err = {{0}};
  int rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc != 0) return;
  CHECK(log.n_warnings == 0);
  CHECK(ds.n_images == 3 && ds.n_objects == source->n_objects && ds.n_classes == 2);
  CHECK(strstr(ds.class_source, "classes.txt") != NULL);
  for (int k = 0; k < ds.n_objects && k < source->n_objects; k++) {
    const bm_object *a = &ds.objects[k], *b = &source->objects[k];
    CHECK(a->class_id == b->class_id && a->x1 == b->x1 && a->y1 == b->y1 && a->x2 == b->x2 &&
          a->y2 == b->y2 && a->difficult == b->difficult && a->truncated == b->truncated);
  }
  char *list = read_text(root, "ImageSets/Main/val.txt");
  CHECK(list && !strcmp(list, "b\n"));
  bm_free(list);
  bm_dataset_free(&ds);
}

int main(void) {
  char tmp[256], root[512], out[512];
  bm_test_tmpdir(tmp, sizeof tmp);
  snprintf(root, sizeof root, "%s/src", tmp);
  snprintf(out, sizeof out, "%s/out", tmp);
  bm_error err = {{0}};
  CHECK(bm_mkdir_p(root, &err) == 0);
  build_fixture(root);

  bm_dataset ds;
  bm_dataset_opts opts = {.root = root, .include_unannotated = 1};
  bm_log log = {0};
  int rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc != 0) return bm_test_finish("test_dataset_convert");
  CHECK(ds.n_images == 4 && ds.n_unannotated == 1 && ds.n_objects == 3);

  int all[4] = {0, 1, 2, 3}, val[1] = {1};
  bm_subset subsets[2] = {{"all", 4, all}, {"val", 1, val}};
  bm_convert_opts copts = {.out_dir = out, .formats = BM_FORMAT_VOC | BM_FORMAT_COCO | BM_FORMAT_YOLO};
  rc = bm_convert_dataset(&ds, subsets, 2, &copts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  CHECK(log.n_warnings == 1); /* u.png is not converted */
  check_coco(out);
  check_yolo(out);
  check_voc_reload(out, &ds);
  char path[1024];
  struct stat st;
  snprintf(path, sizeof path, "%s/coco/images/a.png", out);
  CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
  snprintf(path, sizeof path, "%s/voc/JPEGImages/u.png", out);
  CHECK(!bm_file_exists(path));

  /* a non-empty output folder is refused, unless overwriting */
  CHECK(bm_convert_dataset(&ds, subsets, 2, &copts, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "not empty") != NULL, "%s", err.msg);
  copts.overwrite = 1;
  copts.image_mode = BM_IMAGES_SYMLINK;
  copts.formats = BM_FORMAT_YOLO;
  CHECK(bm_convert_dataset(&ds, subsets, 2, &copts, &log, &err) == 0);
  snprintf(path, sizeof path, "%s/yolo/images/b.png", out);
  CHECK(lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
  int w = 0, h = 0;
  CHECK(bm_image_size(path, &w, &h, &err) == 0 && w == 20 && h == 10);

  /* annotations only */
  char out2[600];
  snprintf(out2, sizeof out2, "%s/out2", tmp);
  bm_convert_opts none = {.out_dir = out2, .formats = BM_FORMAT_VOC, .image_mode = BM_IMAGES_NONE};
  CHECK(bm_convert_dataset(&ds, subsets, 1, &none, &log, &err) == 0);
  snprintf(path, sizeof path, "%s/voc/Annotations/a.xml", out2);
  CHECK(bm_file_exists(path));
  snprintf(path, sizeof path, "%s/voc/JPEGImages/a.png", out2);
  CHECK(!bm_file_exists(path));

  /* never inside the dataset's folder, not even through a relative or dotted path */
  char inside[600];
  snprintf(inside, sizeof inside, "%s/../src/sub/deeper", root);
  bm_convert_opts bad = {.out_dir = inside, .formats = BM_FORMAT_COCO};
  CHECK(bm_convert_dataset(&ds, subsets, 1, &bad, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "overlap") != NULL, "%s", err.msg);
  snprintf(path, sizeof path, "%s/sub", root);
  CHECK(!bm_is_dir(path)); /* refused before anything was created */
  bad.out_dir = tmp; /* OUT/coco would not overlap src, so this is allowed ... */
  bad.formats = 0;
  CHECK(bm_convert_dataset(&ds, subsets, 1, &bad, &log, &err) == -1); /* ... but no format */

  test_coco_ids(tmp);

  unsigned formats = 0;
  CHECK(bm_parse_formats("yolo,VOC", &formats, &err) == 0 &&
        formats == (BM_FORMAT_YOLO | BM_FORMAT_VOC));
  CHECK(bm_parse_formats("voc,pascal", &formats, &err) == -1 && strstr(err.msg, "pascal"));
  CHECK(bm_parse_formats("", &formats, &err) == -1);
  bm_dataset_free(&ds);
  return bm_test_finish("test_dataset_convert");
}
