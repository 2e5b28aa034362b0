/* The rules written once for every command: the split lists of a VOC root and the ids of one
 * list (bm_data.h), and when COCO files use numbers for image ids (bm_eval.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boxmine/bm_data.h"
#include "boxmine/bm_eval.h"
#include "testlib.h"

static void write_text(const char *dir, const char *name, const char *text) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

typedef struct collected {
  char ids[8][32];
  int lines[8];
  int n;
  int stop_at;
} collected;

static int collect(void *user, const char *id, int line) {
  collected *c = user;
  if (c->n < 8) {
    snprintf(c->ids[c->n], sizeof c->ids[0], "%s", id);
    c->lines[c->n] = line;
  }
  c->n++;
  return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

static void test_split_lists(const char *tmp) {
  char sets[600];
  snprintf(sets, sizeof sets, "%s/" BM_VOC_SETS_DIR, tmp);
  char names[8][BM_VOC_SPLIT_NAME_MAX];
  /* no ImageSets/Main: no lists */
  CHECK(bm_voc_split_names(tmp, names, 8) == 0);
  CHECK(bm_voc_split_names(NULL, names, 8) == 0);
  char cmd[700];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", sets);
  CHECK(system(cmd) == 0);
  write_text(sets, "val.txt", "");
  write_text(sets, "train.txt", "  000005 \r\n\n000007 1\n\t2008_000001\n");
  write_text(sets, "cat_train.txt", "000005  1\n");
  write_text(sets, "notes.md", "x\n");
  write_text(sets, "all.txt", "000005\n");
  /* sorted, class-specific lists and other files left out */
  CHECK(bm_voc_split_names(tmp, names, 8) == 3);
  CHECK(!strcmp(names[0], "all") && !strcmp(names[1], "train") && !strcmp(names[2], "val"));
  CHECK(bm_voc_split_names(tmp, names, 2) == 2); /* at most max */

  /* ids: the first word of each line that has one, with its line number */
  char path[700];
  snprintf(path, sizeof path, "%s/train.txt", sets);
  collected c;
  memset(&c, 0, sizeof c);
  bm_error err = {{0}};
  CHECK(bm_voc_split_each(path, collect, &c, &err) == 0);
  CHECK(c.n == 3);
  CHECK(!strcmp(c.ids[0], "000005") && c.lines[0] == 1);
  CHECK(!strcmp(c.ids[1], "000007") && c.lines[1] == 3);
  CHECK(!strcmp(c.ids[2], "2008_000001") && c.lines[2] == 4);
  /* the callback's nonzero return stops the reading and is returned */
  memset(&c, 0, sizeof c);
  c.stop_at = 2;
  CHECK(bm_voc_split_each(path, collect, &c, &err) == 7 && c.n == 2);
  snprintf(path, sizeof path, "%s/missing.txt", sets);
  CHECK(bm_voc_split_each(path, collect, &c, &err) == -1 && strstr(err.msg, "missing.txt"));
}

static void test_coco_ids(void) {
  bm_image_info images[4];
  memset(images, 0, sizeof images);
  char *ids[4] = {"000005", "2007_000032", "12", "0012"};
  for (int i = 0; i < 4; i++) images[i].id = ids[i];
  bm_dataset ds;
  memset(&ds, 0, sizeof ds);
  ds.images = images;
  ds.n_images = 4;
  /* 12 and 0012 spell the same number: strings for all four, numbers for the first three */
  CHECK(bm_coco_ids_are_numbers(&ds, NULL, 4) == 0);
  CHECK(bm_coco_ids_are_numbers(&ds, NULL, 3) == 1);
  const int two[2] = {3, 0};
  CHECK(bm_coco_ids_are_numbers(&ds, two, 2) == 1);
  const int same[2] = {2, 3};
  CHECK(bm_coco_ids_are_numbers(&ds, same, 2) == 0);
  images[1].id = "2007_a"; /* not only digits and underscores */
  CHECK(bm_coco_ids_are_numbers(&ds, NULL, 2) == 0);
  CHECK(bm_coco_ids_are_numbers(&ds, NULL, 0) == 1); /* nothing to number: numbers */
}

int main(void) {
  char tmp[] = "/tmp/bm_test_splits_XXXXXX";
  if (!mkdtemp(tmp)) return 1;
  test_split_lists(tmp);
  test_coco_ids();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return bm_test_finish("test_voc_splits");
}
