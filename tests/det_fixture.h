/* Test fixture for the detector's tests: a tiny PASCAL VOC dataset written to disk (images
 * with filled rectangles of two colours = two classes on a grey background), and a tiny
 * network cfg. Everything is derived from a seed, so the expected boxes are known. */
#ifndef BM_DET_FIXTURE_H
#define BM_DET_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include "boxmine/bm_data.h"

#define FIXTURE_MAX_OBJECTS 3

static const char *const fixture_classes[2] = {"red", "blue"};

/* Object k of image i: a rectangle of class (i + k) % 2, placed on a grid so objects of one
 * image never overlap. VOC coordinates (1-based inclusive). */
static int fixture_objects(int image, int width, int height, bm_rng *rng, bm_object *objects) {
  int n = 1 + (int)bm_rng_below(rng, FIXTURE_MAX_OBJECTS);
  for (int k = 0; k < n; k++) {
    int cell_w = width / FIXTURE_MAX_OBJECTS;
    int w = cell_w / 2 + (int)bm_rng_below(rng, (uint32_t)(cell_w / 3));
    int h = height / 3 + (int)bm_rng_below(rng, (uint32_t)(height / 3));
    int x0 = k * cell_w + (int)bm_rng_below(rng, (uint32_t)(cell_w - w));
    int y0 = (int)bm_rng_below(rng, (uint32_t)(height - h));
    memset(&objects[k], 0, sizeof objects[k]);
    objects[k].class_id = (image + k) % 2;
    objects[k].x1 = (float)(x0 + 1);
    objects[k].y1 = (float)(y0 + 1);
    objects[k].x2 = (float)(x0 + w);
    objects[k].y2 = (float)(y0 + h);
  }
  return n;
}

/* Writes root/{JPEGImages,Annotations,ImageSets/Main} with n_images PNG images of
 * width x height; split "train" lists all of them. Returns 0 or -1. */
static int fixture_write(const char *root, int n_images, int width, int height, uint64_t seed) {
  char path[1024];
  bm_error err;
  snprintf(path, sizeof path, "%s/JPEGImages", root);
  if (bm_mkdir_p(path, &err)) return -1;
  snprintf(path, sizeof path, "%s/Annotations", root);
  if (bm_mkdir_p(path, &err)) return -1;
  snprintf(path, sizeof path, "%s/ImageSets/Main", root);
  if (bm_mkdir_p(path, &err)) return -1;
  bm_rng rng;
  bm_rng_seed(&rng, seed, 3);
  bm_buf list;
  bm_buf_init(&list);
  for (int i = 0; i < n_images; i++) {
    bm_object objects[FIXTURE_MAX_OBJECTS];
    int n = fixture_objects(i, width, height, &rng, objects);
    bm_image img = {width, height, 3, bm_malloc((size_t)width * height * 3)};
    if (!img.pixels) return -1;
    for (int p = 0; p < width * height; p++) {
      int noise = (int)bm_rng_below(&rng, 24);
      img.pixels[3 * p] = img.pixels[3 * p + 1] = img.pixels[3 * p + 2] = (unsigned char)(100 + noise);
    }
    for (int k = 0; k < n; k++)
      for (int y = (int)objects[k].y1 - 1; y < (int)objects[k].y2; y++)
        for (int x = (int)objects[k].x1 - 1; x < (int)objects[k].x2; x++) {
          unsigned char *px = img.pixels + 3 * ((size_t)y * width + x);
          px[0] = objects[k].class_id == 0 ? 220 : 30;
          px[1] = 40;
          px[2] = objects[k].class_id == 0 ? 30 : 220;
        }
    char id[32], file[48];
    snprintf(id, sizeof id, "img%03d", i);
    snprintf(file, sizeof file, "%s.png", id);
    snprintf(path, sizeof path, "%s/JPEGImages/%s", root, file);
    int rc = bm_image_save_png(path, &img, &err);
    bm_image_free(&img);
    if (rc) return -1;
    snprintf(path, sizeof path, "%s/Annotations/%s.xml", root, id);
    if (bm_voc_write_xml(path, "JPEGImages", file, width, height, 3, objects, n,
                         (char *const *)fixture_classes, NULL, &err))
      return -1;
    bm_buf_printf(&list, "%s\n", id);
  }
  snprintf(path, sizeof path, "%s/ImageSets/Main/train.txt", root);
  int rc = bm_write_file_atomic(path, list.data, list.len, &err);
  bm_buf_free(&list);
  snprintf(path, sizeof path, "%s/classes.txt", root);
  if (rc == 0) rc = bm_write_file_atomic(path, "red\nblue\n", 9, &err);
  return rc;
}

/* A small network for tests: 64x64 input, strides to an 8x8 grid, one [yolo] head with
 * anchors that fit the fixture's rectangles. */
static const char fixture_cfg[] =
    "[net]\nwidth=64\nheight=64\nchannels=3\nbatch=4\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[maxpool]\nsize=2\nstride=2\n\n"
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\nstride=1\npad=1\nactivation=leaky\n\n"
    "[convolutional]\nfilters=21\nsize=1\nstride=1\npad=1\nactivation=linear\n\n"
    "[yolo]\nmask=0,1,2\nanchors=8,20, 12,28, 16,36\nclasses=2\nnum=3\nignore_thresh=0.5\n"
    "truth_thresh=1\n";

/* Loads the fixture written by fixture_write at root (its "train" split, i.e. every image). */
static inline int fixture_load(const char *root, bm_dataset *ds, bm_error *err) {
  bm_dataset_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.root = root;
  opts.split = "train";
  return bm_dataset_load(ds, &opts, NULL, err);
}

#endif
