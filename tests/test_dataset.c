/* Loading datasets built in a temporary folder by this test: the three layouts, splits, image
 * look-up by <filename> and by id with any extension case, class-list rules, and every kind of
 * bad input (with the warning or error it must produce). The expected numbers are worked out
 * from the fixtures written here. */
#include <string.h>
#include <sys/stat.h>

#include "boxmine/bm_data.h"
#include "testlib.h"

/* ---- fixture helpers ---------------------------------------------------------------- */
typedef struct captured {
  char text[16384];
} captured;

static void capture_warning(void *user, const char *msg) {
  captured *c = user;
  size_t used = strlen(c->text);
  snprintf(c->text + used, sizeof c->text - used, "%s\n", msg);
}

static bm_log capture_log(captured *c) {
  c->text[0] = '\0';
  bm_log log = {capture_warning, c, 0};
  return log;
}

static void write_text(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  bm_error err;
  if (bm_write_file_atomic(path, text, strlen(text), &err) != 0) {
    fprintf(stderr, "fixture: %s\n", err.msg);
    CHECK(0);
  }
}

static void write_png(const char *dir, const char *name, int width, int height) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  bm_image img = {width, height, 3, bm_calloc((size_t)width * height, 3)};
  bm_error err;
  if (bm_image_save_png(path, &img, &err) != 0) {
    fprintf(stderr, "fixture: %s\n", err.msg);
    CHECK(0);
  }
  bm_free(img.pixels);
}

/* A VOC annotation with up to three objects given as "name x1 y1 x2 y2" strings. */
static void write_xml(const char *dir, const char *name, const char *filename, int width,
                      int height, const char *o1, const char *o2, const char *o3) {
  char text[4096];
  int n = snprintf(text, sizeof text,
                   "<annotation>\n<filename>%s</filename>\n<size><width>%d</width><height>%d"
                   "</height><depth>3</depth></size>\n",
                   filename, width, height);
  const char *objs[3] = {o1, o2, o3};
  for (int i = 0; i < 3; i++) {
    if (!objs[i]) continue;
    char cls[64];
    float x1, y1, x2, y2;
    sscanf(objs[i], "%63s %f %f %f %f", cls, &x1, &y1, &x2, &y2);
    n += snprintf(text + n, sizeof text - n,
                  "<object>\n<name>%s</name>\n<difficult>%d</difficult>\n<bndbox><xmin>%g</xmin>"
                  "<ymin>%g</ymin><xmax>%g</xmax><ymax>%g</ymax></bndbox>\n</object>\n",
                  cls, i == 1, x1, y1, x2, y2);
  }
  snprintf(text + n, sizeof text - n, "</annotation>\n");
  write_text(dir, name, text);
}

static void make_dirs(const char *root, const char *sub) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", root, sub);
  bm_error err;
  CHECK(bm_mkdir_p(path, &err) == 0);
}

static const bm_image_info *image(const bm_dataset *ds, const char *id) {
  int i = bm_dataset_image_index(ds, id);
  return i >= 0 ? &ds->images[i] : NULL;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}

/* ---- VOC layout -------------------------------------------------------------------- */
/* ROOT/{Annotations,JPEGImages,ImageSets/Main}: a.xml -> a.PNG (extension in capitals),
 * b.xml says <filename>b_renamed.png</filename> which does not exist -> falls back to b.png,
 * c.xml says c.jpg but only c.jpeg exists -> found through the stem. d.xml has no objects. */
static void build_voc(const char *root) {
  make_dirs(root, "Annotations");
  make_dirs(root, "JPEGImages");
  make_dirs(root, "ImageSets/Main");
  char ann[1024], img[1024];
  snprintf(ann, sizeof ann, "%s/Annotations", root);
  snprintf(img, sizeof img, "%s/JPEGImages", root);
  write_png(img, "a.PNG", 40, 30);
  write_png(img, "b.png", 50, 20);
  write_png(img, "c.jpeg", 16, 16); /* PNG bytes under a .jpeg name: decoders go by magic */
  write_png(img, "d.png", 8, 8);
  write_xml(ann, "a.xml", "a.PNG", 40, 30, "zebra 1 1 40 30", "ant 5 5 10.5 12", NULL);
  write_xml(ann, "b.xml", "b_renamed.png", 50, 20, "ant 2 3 4 5", NULL, NULL);
  write_xml(ann, "c.xml", "c.jpg", 16, 16, "zebra 1 1 8 8", "zebra 2 2 9 9", "ant 3 3 4 4");
  write_xml(ann, "d.xml", "d.png", 8, 8, NULL, NULL, NULL);
  write_text(root, "ImageSets/Main/train.txt", "c\nd\n\n");
  write_text(root, "ImageSets/Main/val.txt", "  b \na\n");
}

static void test_voc_layout(const char *tmp) {
  char root[512], class_out[600];
  snprintf(root, sizeof root, "%s/voc", tmp);
  build_voc(root);
  snprintf(class_out, sizeof class_out, "%s/run/classes.txt", tmp);
  captured warnings;
  bm_log log = capture_log(&warnings);
  bm_error err = {{0}};
  bm_dataset ds;
  bm_dataset_opts opts = {.root = root, .class_list_out = class_out};
  int rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc != 0) return;
  CHECK(ds.n_images == 4);
  CHECK(ds.n_objects == 6 && ds.n_boxes_in_files == 6 && ds.n_boxes_dropped == 0);
  CHECK(log.n_warnings == 0);
  /* inferred list: sorted names; not VOC */
  CHECK(ds.n_classes == 2 && !strcmp(ds.class_names[0], "ant") && !strcmp(ds.class_names[1], "zebra"));
  CHECK(!ds.is_voc);
  /* images in id order, found by name, by stem, and with any extension case */
  CHECK(!strcmp(ds.images[0].id, "a") && !strcmp(ds.images[3].id, "d"));
  const bm_image_info *a = image(&ds, "a"), *b = image(&ds, "b"), *c = image(&ds, "c");
  const bm_image_info *d = image(&ds, "d");
  CHECK(a && ends_with(a->image_path, "/JPEGImages/a.PNG") && ends_with(a->ann_path, "/a.xml"));
  CHECK(b && ends_with(b->image_path, "/JPEGImages/b.png"));
  CHECK(c && ends_with(c->image_path, "/JPEGImages/c.jpeg"));
  CHECK(a && a->width == 40 && a->height == 30 && a->depth == 3 && a->n_objects == 2);
  CHECK(d && d->n_objects == 0); /* a negative is kept */
  CHECK(bm_dataset_image_index(&ds, "nope") == -1);
  if (a) {
    const bm_object *o = &ds.objects[a->first_object + 1];
    CHECK(o->class_id == 0 && o->x1 == 5 && o->y1 == 5 && o->x2 == 10.5f && o->y2 == 12);
    CHECK(o->difficult == 1 && ds.objects[a->first_object].difficult == 0);
  }
  bm_dataset_free(&ds);

  /* the inferred list went to the run folder */
  char *text = NULL;
  CHECK(bm_read_file(class_out, &text, NULL, &err) == 0);
  CHECK(text && !strcmp(text, "ant\nzebra\n"));
  bm_free(text);

  /* split: order of the list, blanks ignored; the class list of the run folder is used */
  write_text(tmp, "run/classes.txt", "zebra\nant\n"); /* an earlier run's order wins */
  opts.split = "val";
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc == 0) {
    CHECK(ds.n_images == 2 && !strcmp(ds.images[0].id, "b") && !strcmp(ds.images[1].id, "a"));
    CHECK(!strcmp(ds.split, "val"));
    CHECK(!strcmp(ds.class_names[0], "zebra"));
    CHECK(ds.objects[ds.images[0].first_object].class_id == 1); /* b's ant */
    CHECK(strstr(ds.class_source, "earlier run") != NULL);
  }
  bm_dataset_free(&ds);

  /* a split given as a path to a list file */
  char list[600];
  snprintf(list, sizeof list, "%s/ImageSets/Main/train.txt", root);
  opts.split = list;
  opts.class_list_out = NULL;
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0 && ds.n_images == 2 && !strcmp(ds.images[0].id, "c"), "%s", err.msg);
  bm_dataset_free(&ds);

  /* a split naming an id without annotation: error naming the list and line */
  write_text(root, "ImageSets/Main/bad.txt", "a\nzz\n");
  opts.split = "bad";
  CHECK(bm_dataset_load(&ds, &opts, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "bad.txt:2") && strstr(err.msg, "zz.xml"), "%s", err.msg);
  opts.split = "nosuchsplit";
  CHECK(bm_dataset_load(&ds, &opts, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "nosuchsplit.txt") != NULL, "%s", err.msg);
  CHECK(ds.n_images == 0 && ds.images == NULL); /* left empty on failure */
}

/* ---- the other two layouts ------------------------------------------------------------ */
static void test_plain_and_explicit(const char *tmp) {
  char flat[512];
  snprintf(flat, sizeof flat, "%s/flat", tmp);
  make_dirs(flat, "");
  write_png(flat, "x1.jpg", 20, 10); /* PNG bytes, .jpg name */
  write_png(flat, "x2.JPEG", 20, 10);
  write_png(flat, "loose.png", 12, 12); /* no XML: only with include_unannotated */
  write_xml(flat, "x1.xml", "x1.jpg", 20, 10, "cell 2 2 5 5", NULL, NULL);
  write_xml(flat, "x2.xml", "", 20, 10, "cell 3 3 6 6", NULL, NULL);
  captured warnings;
  bm_log log = capture_log(&warnings);
  bm_error err = {{0}};
  bm_dataset ds;
  bm_dataset_opts opts = {.root = flat};
  int rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  CHECK(ds.n_images == 2 && ds.n_objects == 2 && ds.n_classes == 1);
  CHECK(ds.n_images == 2 && ends_with(ds.images[1].image_path, "/flat/x2.JPEG"));
  bm_dataset_free(&ds);

  opts.include_unannotated = 1;
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  const bm_image_info *loose = image(&ds, "loose");
  CHECK(ds.n_images == 3 && ds.n_unannotated == 1);
  CHECK(loose && loose->ann_path == NULL && loose->width == 12 && loose->n_objects == 0);
  bm_dataset_free(&ds);

  /* explicit folders */
  char imgs[512], anns[512];
  snprintf(imgs, sizeof imgs, "%s/sep/pics", tmp);
  snprintf(anns, sizeof anns, "%s/sep/labels", tmp);
  make_dirs(imgs, "");
  make_dirs(anns, "");
  write_png(imgs, "p.png", 30, 30);
  write_xml(anns, "p.xml", "p.png", 30, 30, "cell 1 1 30 30", NULL, NULL);
  bm_dataset_opts sep = {.images_dir = imgs, .annotations_dir = anns};
  rc = bm_dataset_load(&ds, &sep, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  CHECK(ds.n_images == 1 && ds.n_objects == 1 && ends_with(ds.images[0].image_path, "/pics/p.png"));
  bm_dataset_free(&ds);
  bm_dataset_opts half = {.images_dir = imgs};
  CHECK(bm_dataset_load(&ds, &half, &log, &err) == -1);
  bm_dataset_opts none = {0};
  CHECK(bm_dataset_load(&ds, &none, &log, &err) == -1);
  bm_dataset_opts missing = {.root = "/nonexistent/boxmine-data"};
  CHECK(bm_dataset_load(&ds, &missing, &log, &err) == -1);
  CHECK(strstr(err.msg, "/nonexistent/boxmine-data") != NULL);
}

/* ---- bad input ------------------------------------------------------------------------ */
static void test_bad_input(const char *tmp) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/bad", tmp);
  make_dirs(dir, "");
  /* sizes: z has 0x0 in its XML, w says 100x100 but is 40x20 */
  write_png(dir, "z.png", 24, 18);
  write_xml(dir, "z.xml", "z.png", 0, 0, "cell 1 1 24 18", NULL, NULL);
  write_png(dir, "w.png", 40, 20);
  write_xml(dir, "w.xml", "w.png", 100, 100, "cell 1 1 90 90", NULL, NULL);
  /* boxes: zero-area, partly outside (clipped), wholly outside (dropped), fine */
  write_png(dir, "v.png", 30, 20);
  write_xml(dir, "v.xml", "v.png", 30, 20, "cell 5 5 5 9", "cell -3 0 40 25", "cell 31 1 35 5");
  captured warnings;
  bm_log log = capture_log(&warnings);
  bm_error err = {{0}};
  bm_dataset ds;
  bm_dataset_opts opts = {.root = dir};
  int rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc == 0) {
    const bm_image_info *z = image(&ds, "z"), *w = image(&ds, "w"), *v = image(&ds, "v");
    CHECK(z && z->width == 24 && z->height == 18);   /* 0x0: the image header decides */
    CHECK(w && w->width == 100 && w->height == 100); /* not checked without check_images */
    CHECK(v && v->n_objects == 1);
    if (v && v->n_objects == 1) {
      const bm_object *o = &ds.objects[v->first_object];
      CHECK(o->x1 == 1 && o->y1 == 1 && o->x2 == 30 && o->y2 == 20); /* clipped to [1,W]x[1,H] */
    }
    CHECK(ds.n_boxes_in_files == 5 && ds.n_boxes_dropped == 2 && ds.n_boxes_clipped == 1);
    CHECK(strstr(warnings.text, "z.xml: size is 0x0 in the XML; using the image's 24x18"));
    CHECK(strstr(warnings.text, "v.xml:4: zero-area box"));
    CHECK(strstr(warnings.text, "lies outside the 30x20 image; dropped"));
    CHECK(strstr(warnings.text, "clipped to the 30x20 image"));
    CHECK(ds.n_sizes_fixed == 1);
  }
  bm_dataset_free(&ds);

  /* keep_boxes_as_written (evaluation): all three of v's boxes as the file gives them */
  opts.keep_boxes_as_written = 1;
  log = capture_log(&warnings);
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc == 0) {
    const bm_image_info *v = image(&ds, "v");
    CHECK(v && v->n_objects == 3);
    if (v && v->n_objects == 3) {
      const bm_object *o = &ds.objects[v->first_object];
      CHECK(o[0].x1 == 5 && o[0].y1 == 5 && o[0].x2 == 5 && o[0].y2 == 9);
      CHECK(o[1].x1 == -3 && o[1].y1 == 0 && o[1].x2 == 40 && o[1].y2 == 25);
      CHECK(o[2].x1 == 31 && o[2].y1 == 1 && o[2].x2 == 35 && o[2].y2 == 5);
      CHECK(o[1].difficult == 1 && o[0].difficult == 0); /* fields other than the box kept */
    }
    CHECK(ds.n_boxes_in_files == 5 && ds.n_boxes_dropped == 0 && ds.n_boxes_clipped == 0);
    CHECK(strstr(warnings.text, "v.xml:4: zero-area box (5,5)-(5,9) of class 'cell'; kept as written"));
    CHECK(strstr(warnings.text, "box (31,1)-(35,5) of class 'cell' reaches outside the 30x20 image; "
                                "kept as written"));
    CHECK(log.n_warnings == 4); /* z's size, and v's three boxes */
  }
  bm_dataset_free(&ds);
  opts.keep_boxes_as_written = 0;

  /* check_images: the real size wins over a wrong XML size, and w's box is clipped to it */
  opts.check_images = 1;
  log = capture_log(&warnings);
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  if (rc == 0) {
    const bm_image_info *w = image(&ds, "w");
    CHECK(w && w->width == 40 && w->height == 20);
    CHECK(strstr(warnings.text, "w.xml: XML says 100x100 but"));
    CHECK(ds.n_sizes_fixed == 2);
    CHECK(w && ds.objects[w->first_object].x2 == 40 && ds.objects[w->first_object].y2 == 20);
  }
  bm_dataset_free(&ds);

  /* unknown class against a given list: error naming file and class, or dropped */
  write_text(tmp, "cells.txt", "# the only class\ncell\n");
  write_xml(dir, "u.xml", "v.png", 30, 20, "cell 1 1 5 5", "virus 2 2 6 6", NULL);
  char classes[600];
  snprintf(classes, sizeof classes, "%s/cells.txt", tmp);
  opts.classes_file = classes;
  CHECK(bm_dataset_load(&ds, &opts, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "u.xml:") && strstr(err.msg, "unknown class 'virus'"), "%s", err.msg);
  opts.skip_unknown_classes = 1;
  log = capture_log(&warnings);
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  CHECK(image(&ds, "u") && image(&ds, "u")->n_objects == 1);
  CHECK(strstr(warnings.text, "unknown class 'virus'; object dropped"));
  bm_dataset_free(&ds);

  /* missing image: error naming it, or skipped with a warning */
  write_xml(dir, "ghost.xml", "ghost.jpg", 10, 10, "cell 1 1 5 5", NULL, NULL);
  CHECK(bm_dataset_load(&ds, &opts, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "ghost.xml: image not found") && strstr(err.msg, "ghost.jpg"), "%s",
            err.msg);
  opts.skip_bad_images = 1;
  log = capture_log(&warnings);
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  CHECK(ds.n_images_skipped == 1 && image(&ds, "ghost") == NULL);
  CHECK(strstr(warnings.text, "ghost.xml: image not found") && strstr(warnings.text, "skipped"));
  bm_dataset_free(&ds);

  /* an undecodable image (check_images reads its header) */
  char gone[700];
  snprintf(gone, sizeof gone, "%s/ghost.xml", dir);
  CHECK(remove(gone) == 0);
  write_text(dir, "junk.png", "this is not a PNG");
  write_xml(dir, "junk.xml", "junk.png", 10, 10, NULL, NULL, NULL);
  log = capture_log(&warnings);
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK(rc == 0 && ds.n_images_skipped == 1 && strstr(warnings.text, "junk.png"));
  bm_dataset_free(&ds);
  opts.skip_bad_images = 0;
  CHECK(bm_dataset_load(&ds, &opts, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "junk.png") != NULL, "%s", err.msg);

  /* malformed XML: error naming the file and the line */
  write_text(dir, "broken.xml", "<annotation>\n<object>\n<name>cell</name>\n</objekt>\n");
  CHECK(bm_dataset_load(&ds, &opts, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "broken.xml:4:") != NULL, "%s", err.msg);

  /* a class list with a duplicate */
  snprintf(gone, sizeof gone, "%s/broken.xml", dir);
  CHECK(remove(gone) == 0);
  write_text(tmp, "dup.txt", "cell\nvirus\ncell\n");
  snprintf(classes, sizeof classes, "%s/dup.txt", tmp);
  CHECK(bm_dataset_load(&ds, &opts, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "dup.txt:3") && strstr(err.msg, "twice"), "%s", err.msg);
}

/* ---- class-list rules ------------------------------------------------------------------ */
static void test_class_rules(const char *tmp) {
  /* VOC names in a folder named like a VOC release: the 20 VOC classes */
  char voc[512], other[512];
  snprintf(voc, sizeof voc, "%s/VOCdevkit/VOC2007", tmp);
  snprintf(other, sizeof other, "%s/pets", tmp);
  const char *roots[2] = {voc, other};
  for (int r = 0; r < 2; r++) {
    make_dirs(roots[r], "Annotations");
    make_dirs(roots[r], "JPEGImages");
    char ann[600], img[600];
    snprintf(ann, sizeof ann, "%s/Annotations", roots[r]);
    snprintf(img, sizeof img, "%s/JPEGImages", roots[r]);
    write_png(img, "000001.jpg", 20, 20);
    write_xml(ann, "000001.xml", "000001.jpg", 20, 20, "dog 1 1 5 5", "cat 2 2 9 9", NULL);
  }
  bm_log log = {0};
  bm_error err = {{0}};
  bm_dataset ds;
  bm_dataset_opts opts = {.root = voc};
  int rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  CHECK(ds.is_voc && ds.n_classes == 20 && !strcmp(ds.class_names[19], "tvmonitor"));
  CHECK(rc == 0 && ds.objects[0].class_id == 11 && ds.objects[1].class_id == 7); /* dog, cat */
  bm_dataset_free(&ds);
  /* the same names elsewhere: only the names found, sorted */
  opts.root = other;
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  CHECK(!ds.is_voc && ds.n_classes == 2 && !strcmp(ds.class_names[0], "cat"));
  bm_dataset_free(&ds);
  /* ROOT/classes.txt is used when present */
  write_text(other, "classes.txt", "dog\ncat\nbird\n");
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK_MSG(rc == 0, "%s", err.msg);
  CHECK(ds.n_classes == 3 && !strcmp(ds.class_names[0], "dog") && ds.objects[1].class_id == 1);
  CHECK(strstr(ds.class_source, "classes.txt") != NULL);
  bm_dataset_free(&ds);
  /* a name no class list could hold is refused with the file and line (issue 16) */
  write_text(other, "classes.txt", "dog\ncat\x01x\nbird\n");
  CHECK(bm_dataset_load(&ds, &opts, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "classes.txt:2:") && strstr(err.msg, "control character"), "%s", err.msg);
  write_text(other, "classes.txt", "dog\ncat\nbi/rd\n");
  CHECK(bm_dataset_load(&ds, &opts, &log, &err) == -1);
  CHECK_MSG(strstr(err.msg, "classes.txt:3:") && strstr(err.msg, "'/'"), "%s", err.msg);
  /* a file listing the 20 VOC classes marks the dataset as VOC */
  char vocnames[4096] = "";
  for (int i = 0; i < 20; i++) strcat(strcat(vocnames, bm_voc_class_names[i]), "\n");
  write_text(other, "classes.txt", vocnames);
  rc = bm_dataset_load(&ds, &opts, &log, &err);
  CHECK(rc == 0 && ds.is_voc);
  bm_dataset_free(&ds);
}

/* ---- string map ---------------------------------------------------------------------- */
static void test_strmap(void) {
  bm_strmap map = {0};
  CHECK(bm_strmap_get(&map, "x") == -1);
  char key[32];
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "id_%d", i);
    CHECK(bm_strmap_put(&map, key, i * 3) == 0);
  }
  CHECK(map.count == 5000);
  int wrong = 0;
  for (int i = 0; i < 5000; i++) {
    snprintf(key, sizeof key, "id_%d", i);
    wrong += bm_strmap_get(&map, key) != i * 3;
  }
  CHECK(wrong == 0);
  CHECK(bm_strmap_put(&map, "id_7", 1) == 0 && bm_strmap_get(&map, "id_7") == 1);
  CHECK(map.count == 5000 && bm_strmap_get(&map, "id_5000") == -1);
  bm_strmap_free(&map);
  CHECK(map.cap == 0 && bm_strmap_get(&map, "id_1") == -1);
}

int main(void) {
  char tmp[256];
  bm_test_tmpdir(tmp, sizeof tmp);
  test_strmap();
  test_voc_layout(tmp);
  test_plain_and_explicit(tmp);
  test_bad_input(tmp);
  test_class_rules(tmp);
  return bm_test_finish("test_dataset");
}
