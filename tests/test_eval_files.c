/* Detection files: VOC devkit results and COCO results JSON, written text checked literally,
 * read back, and bad files rejected with a useful message. */
#include <stdio.h>
#include <string.h>

#include "eval_fixture.h"
#include "testlib.h"

static const char *pets[] = {"cat", "dog"};

static void write_text(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  bm_error err = {{0}};
  CHECK_MSG(bm_write_file_atomic(path, text, strlen(text), &err) == 0, "%s", err.msg);
}

static int file_is(const char *dir, const char *name, const char *want) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  char *text = NULL;
  size_t len = 0;
  bm_error err = {{0}};
  if (bm_read_file(path, &text, &len, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 0;
  }
  int same = len == strlen(want) && memcmp(text, want, len) == 0;
  if (!same) fprintf(stderr, "%s:\n--- got ---\n%s--- want ---\n%s", name, text, want);
  bm_free(text);
  return same;
}

static void test_coco_image_ids(void) {
  long long n = -1;
  CHECK(bm_coco_image_id("000005", &n) == 1 && n == 5);
  CHECK(bm_coco_image_id("2007_000032", &n) == 1 && n == 2007000032LL);
  CHECK(bm_coco_image_id("123456789012345", &n) == 1 && n == 123456789012345LL);
  CHECK(bm_coco_image_id("1234567890123456", &n) == 0); /* 16 digits */
  CHECK(bm_coco_image_id("img_1", &n) == 0);
  CHECK(bm_coco_image_id("BloodImage_00001", &n) == 0);
  CHECK(bm_coco_image_id("", &n) == 0);
  CHECK(bm_coco_image_id("_", &n) == 0);
}

static void make_pets(fixture *f, const char *id0, const char *id1) {
  fixture_init(f, 2, pets);
  fixture_image(f, id0);
  fixture_box(f, 0, 1, 1, 10, 10, 0);
  fixture_image(f, id1);
}

static void test_voc_write(void) {
  fixture f;
  make_pets(&f, "000001", "000002");
  fixture_det(&f, 0, 0, 0.5f, 1, 2, 3.5f, 4);
  fixture_det(&f, 1, 0, 0.1f, 1.0f / 3, 20, 30, 40);
  char dir[512], sub[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(sub, sizeof sub, "%s/results/Main", dir); /* created on demand */
  bm_error err = {{0}};
  CHECK_MSG(bm_write_voc_results(sub, "test", &f.ds, &f.dets, &err) == 0, "%s", err.msg);
  /* Shortest text that reads back as the same float: 0.1f -> "0.1"; 1/3f (0.3333333432...)
   * -> "0.33333334", whose nearest float is 1/3f again; whole numbers without exponent. */
  CHECK(file_is(sub, "comp4_det_test_cat.txt",
                "000001 0.5 1 2 3.5 4\n000002 0.1 0.33333334 20 30 40\n"));
  CHECK(file_is(sub, "comp4_det_test_dog.txt", "")); /* every class gets a file */

  /* Bad detections are refused before anything is written. */
  f.dets.items[1].class_id = 2;
  CHECK(bm_write_voc_results(sub, "test", &f.ds, &f.dets, &err) == -1 &&
        strstr(err.msg, "class 2"));
  fixture_free(&f);
}

static void test_voc_read(void) {
  fixture f;
  make_pets(&f, "000001", "000002");
  char dir[512];
  bm_test_tmpdir(dir, sizeof dir);
  /* CRLF line ends, a blank line, a tab: all accepted. No dog file: a warning. */
  write_text(dir, "comp4_det_val_cat.txt", "000002 0.9 1 1 10 10\r\n\n000001\t0.8 2 2 5.5 5\n");
  bm_detections dets = {0, 0, NULL};
  bm_log log = {NULL, NULL, 0};
  bm_error err = {{0}};
  CHECK_MSG(bm_read_voc_results(dir, "val", &f.ds, &dets, &log, &err) == 0, "%s", err.msg);
  CHECK(dets.n == 2 && log.n_warnings == 1);
  if (dets.n == 2) {
    const bm_detection *d = dets.items;
    CHECK(d[0].image == 1 && d[0].class_id == 0 && d[0].score == 0.9f && d[0].x2 == 10);
    CHECK(d[1].image == 0 && d[1].score == 0.8f && d[1].x1 == 2 && d[1].x2 == 5.5f && d[1].y2 == 5);
  }
  bm_detections_free(&dets);

  /* No file for any class: error naming the pattern. */
  CHECK(bm_read_voc_results(dir, "test", &f.ds, &dets, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "comp4_det_test_<class>.txt") != NULL, "%s", err.msg);

  /* Bad lines: file and line in the message. */
  const char *bad[][2] = {
      {"000001 0.9 1 1 10\n", "comp4_det_val_cat.txt:1: expected"},
      {"000001 0.9 1 1 10 10\n000001 0.9 1 1 10 10 7\n", "comp4_det_val_cat.txt:2: expected"},
      {"000001 high 1 1 10 10\n", "finite numbers"},
      {"000001 nan 1 1 10 10\n", "finite numbers"},
      {"000001 0.5 1 1 10 1e39\n", "finite numbers"}, /* beyond float range */
      {"\n000009 0.5 1 1 10 10\n",
       "comp4_det_val_cat.txt:2: image '000009' is not in the evaluated split"},
      {"000001 0.5 10 1 5 10\n", "x2 < x1 - 1"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    write_text(dir, "comp4_det_val_cat.txt", bad[k][0]);
    CHECK(bm_read_voc_results(dir, "val", &f.ds, &dets, &log, &err) == -1);
    CHECK_MSG(strstr(err.msg, bad[k][1]) != NULL, "'%s' lacks '%s'", err.msg, bad[k][1]);
    bm_detections_free(&dets);
  }
  fixture_free(&f);
}

static void test_coco_write(void) {
  char dir[512], path[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/results.json", dir);
  bm_error err = {{0}};
  /* Numeric VOC ids become integers. VOC [1,2,3.5,4] -> COCO [0, 1, 3.5 - 1 + 1, 4 - 2 + 1]. */
  fixture f;
  make_pets(&f, "000001", "000002");
  fixture_det(&f, 0, 0, 0.5f, 1, 2, 3.5f, 4);
  fixture_det(&f, 1, 1, 0.25f, 11, 21, 30, 40);
  CHECK_MSG(bm_write_coco_results(path, &f.ds, &f.dets, &err) == 0, "%s", err.msg);
  CHECK(file_is(
      dir, "results.json",
      "[\n{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 1, 3.5, 3], \"score\": 0.5},\n"
      "{\"image_id\": 2, \"category_id\": 2, \"bbox\": [10, 20, 20, 20], \"score\": 0.25}\n]\n"));
  fixture_free(&f);
  /* One id that is not a number: every image_id is written as its string. */
  make_pets(&f, "000001", "cat_photo");
  fixture_det(&f, 0, 0, 0.5f, 1, 2, 3.5f, 4);
  CHECK_MSG(bm_write_coco_results(path, &f.ds, &f.dets, &err) == 0, "%s", err.msg);
  CHECK(file_is(dir, "results.json",
                "[\n{\"image_id\": \"000001\", \"category_id\": 1, \"bbox\": [0, 1, 3.5, 3], "
                "\"score\": 0.5}\n]\n"));
  fixture_free(&f);
  /* Two ids spelling the same number ("1", "01"): strings too. No detections: "[\n]". */
  make_pets(&f, "1", "01");
  CHECK(bm_write_coco_results(path, &f.ds, &f.dets, &err) == 0);
  CHECK(file_is(dir, "results.json", "[\n]\n"));
  fixture_det(&f, 1, 0, 0.5f, 1, 1, 2, 2);
  CHECK(bm_write_coco_results(path, &f.ds, &f.dets, &err) == 0);
  CHECK(file_is(
      dir, "results.json",
      "[\n{\"image_id\": \"01\", \"category_id\": 1, \"bbox\": [0, 0, 2, 2], \"score\": 0.5}\n]\n"));
  fixture_free(&f);
}

static void test_coco_read(void) {
  char dir[512], path[600];
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/r.json", dir);
  fixture f;
  make_pets(&f, "2007_000005", "2008_000123");
  bm_error err = {{0}};
  bm_detections dets = {0, 0, NULL};
  /* Integer ids (digits of the VOC id), string ids, extra fields: all fine. */
  write_text(dir, "r.json",
             "[{\"image_id\": 2007000005, \"category_id\": 2, \"bbox\": [0, 1, 3.5, 3], "
             "\"score\": 0.75, \"segmentation\": []},\n"
             " {\"image_id\": \"2008_000123\", \"category_id\": 1, \"bbox\": [9.5, 19, 0.5, 21],"
             " \"score\": 1e-3}]");
  CHECK_MSG(bm_read_coco_results(path, &f.ds, &dets, &err) == 0, "%s", err.msg);
  CHECK(dets.n == 2);
  if (dets.n == 2) {
    const bm_detection *d = dets.items;
    /* [0, 1, 3.5, 3] -> x1 = 0 + 1, y1 = 1 + 1, x2 = 0 + 3.5, y2 = 1 + 3 */
    CHECK(d[0].image == 0 && d[0].class_id == 1 && d[0].score == 0.75f);
    CHECK(d[0].x1 == 1 && d[0].y1 == 2 && d[0].x2 == 3.5f && d[0].y2 == 4);
    /* a box half a pixel wide: x1 = 10.5, x2 = 10: valid (width 10 - 10.5 + 1 = .5) */
    CHECK(d[1].image == 1 && d[1].class_id == 0 && d[1].x1 == 10.5f && d[1].x2 == 10);
    CHECK(d[1].score == 1e-3f);
  }
  bm_detections_free(&dets);

  const char *bad[][2] = {
      {"{\"image_id\": 1}", "a JSON array"},
      {"[1]", "result 0 must be an object"},
      {"[{\"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1}]", "has no image_id"},
      {"[{\"image_id\": 2007000006, \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1}]",
       "image_id 2007000006 is not in the evaluated split"},
      {"[{\"image_id\": \"x\", \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1}]",
       "image_id \"x\" is not in the evaluated split"},
      {"[{\"image_id\": 1.5, \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1}]",
       "integer or a string"},
      {"[{\"image_id\": 2007000005, \"category_id\": 3, \"bbox\": [0,0,1,1], \"score\": 1}]",
       "'category_id' = 3 is outside [1, 2]"},
      {"[{\"image_id\": 2007000005, \"category_id\": 1, \"bbox\": [0,0,1], \"score\": 1}]",
       "four numbers"},
      {"[{\"image_id\": 2007000005, \"category_id\": 1, \"bbox\": [0,0,-1,1], \"score\": 1}]",
       "negative width"},
      {"[{\"image_id\": 2007000005, \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": \"1\"}]",
       "'score' must be a number"},
      {"[{\"image_id\": 2007000005, \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1e300}]",
       "out of range"},
      {"[{\"image_id\": 2007000005,\n \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": NaN}]",
       "line 2, column 48: NaN"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    write_text(dir, "r.json", bad[k][0]);
    CHECK(bm_read_coco_results(path, &f.ds, &dets, &err) == -1);
    CHECK_MSG(strstr(err.msg, bad[k][1]) != NULL, "'%s' lacks '%s'", err.msg, bad[k][1]);
    CHECK_MSG(strncmp(err.msg, path, strlen(path)) == 0, "'%s' does not name the file", err.msg);
    bm_detections_free(&dets);
  }
  fixture_free(&f);

  /* "1" and "01" both spell 1: an integer image_id is ambiguous, strings are not. */
  make_pets(&f, "1", "01");
  write_text(dir, "r.json",
             "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1}]");
  CHECK(bm_read_coco_results(path, &f.ds, &dets, &err) == -1 && strstr(err.msg, "several images"));
  bm_detections_free(&dets);
  write_text(dir, "r.json",
             "[{\"image_id\": \"01\", \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1}]");
  CHECK(bm_read_coco_results(path, &f.ds, &dets, &err) == 0 && dets.n == 1 &&
        dets.items[0].image == 1);
  bm_detections_free(&dets);
  fixture_free(&f);
}

int main(void) {
  test_coco_image_ids();
  test_voc_write();
  test_voc_read();
  test_coco_write();
  test_coco_read();
  return bm_test_finish("test_eval_files");
}
