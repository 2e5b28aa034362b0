/* synth: the idx reader on hand-made files, box tightness judged from the pixels of composed
 * images, truncation flags, split separation (train garments only in trainval, test garments
 * only in test), byte-identical output for equal seeds and any thread count, folder rules. */
#include <dirent.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "boxmine/bm_augment.h"
#include "boxmine/bm_synth.h"
#include "testlib.h"

static char tmp[512];

static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* Writes an idx pair (gzipped): n images rows x cols and n labels. header_n lets a test lie
 * about the count; n_written_pixels lets it cut the pixel data short. */
static void write_idx(const char *dir, const char *prefix, int n, int rows, int cols,
                      const unsigned char *pixels, const unsigned char *labels, int header_n,
                      long n_written_pixels, uint32_t image_magic) {
  char path[1024];
  unsigned char header[16];
  snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
  gzFile f = gzopen(path, "wb");
  put_be32(header, image_magic);
  put_be32(header + 4, (uint32_t)header_n);
  put_be32(header + 8, (uint32_t)rows);
  put_be32(header + 12, (uint32_t)cols);
  gzwrite(f, header, 16);
  if (n_written_pixels > 0) gzwrite(f, pixels, (unsigned)n_written_pixels);
  gzclose(f);
  snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
  f = gzopen(path, "wb");
  put_be32(header, 0x801);
  put_be32(header + 4, (uint32_t)n);
  gzwrite(f, header, 8);
  gzwrite(f, labels, (unsigned)n);
  gzclose(f);
}

/* A fake Fashion-MNIST: 28x28 garments that are filled shapes (rectangles and a diagonal
 * wedge) of one class each, classes given by class_base + index % 5. */
static void write_fake_split(const char *dir, const char *prefix, int n, int class_base) {
  unsigned char *pixels = calloc((size_t)n * 784, 1), *labels = malloc((size_t)n);
  for (int k = 0; k < n; k++) {
    unsigned char *img = pixels + (size_t)k * 784;
    int x0 = 2 + k % 5, y0 = 3 + k % 4, x1 = 20 + k % 7, y1 = 24 + k % 3;
    for (int y = y0; y <= y1; y++)
      for (int x = x0; x <= x1; x++)
        if (k % 3 != 2 || x - x0 <= y - y0) img[y * 28 + x] = (unsigned char)(150 + (x * y) % 100);
    labels[k] = (unsigned char)(class_base + k % 5);
  }
  write_idx(dir, prefix, n, 28, 28, pixels, labels, n, (long)n * 784, 0x803);
  free(pixels);
  free(labels);
}

static void test_idx_reader(void) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/idx", tmp);
  bm_error err = {{0}};
  CHECK(bm_mkdir_p(dir, &err) == 0);
  unsigned char pixels[3 * 2 * 4], labels[3] = {7, 0, 9};
  for (int i = 0; i < 24; i++) pixels[i] = (unsigned char)(i * 10);
  write_idx(dir, "train", 3, 2, 4, pixels, labels, 3, 24, 0x803);
  bm_mnist m;
  CHECK_MSG(bm_mnist_load_split(dir, 1, &m, &err) == 0, "%s", err.msg);
  CHECK(m.n == 3 && m.rows == 2 && m.cols == 4);
  if (m.images) {
    CHECK(m.images[0] == 0 && m.images[9] == 90 && m.images[23] == 230);
    CHECK(m.labels[0] == 7 && m.labels[1] == 0 && m.labels[2] == 9);
  }
  bm_mnist_free(&m);

  /* the test split is missing: the error names the file and the Debian package */
  CHECK(bm_mnist_load_split(dir, 0, &m, &err) == -1);
  CHECK(strstr(err.msg, "t10k-images-idx3-ubyte.gz") != NULL);
  CHECK(strstr(err.msg, "dataset-fashion-mnist") != NULL);

  /* wrong magic, cut pixel data, count mismatch, label out of range */
  write_idx(dir, "train", 3, 2, 4, pixels, labels, 3, 24, 0x802);
  CHECK(bm_mnist_load_split(dir, 1, &m, &err) == -1 && strstr(err.msg, "magic"));
  write_idx(dir, "train", 3, 2, 4, pixels, labels, 3, 20, 0x803);
  CHECK(bm_mnist_load_split(dir, 1, &m, &err) == -1 && strstr(err.msg, "truncated"));
  CHECK(m.images == NULL && m.labels == NULL);
  write_idx(dir, "train", 3, 2, 4, pixels, labels, 4, 24, 0x803);
  CHECK(bm_mnist_load_split(dir, 1, &m, &err) == -1 && strstr(err.msg, "labels"));
  labels[1] = 10;
  write_idx(dir, "train", 3, 2, 4, pixels, labels, 3, 24, 0x803);
  CHECK(bm_mnist_load_split(dir, 1, &m, &err) == -1 && strstr(err.msg, "label 10"));
}

static void test_real_package(void) {
  if (!bm_is_dir(BM_SYNTH_DEFAULT_MNIST_DIR)) {
    printf("test_synth: %s missing, real-data checks skipped\n", BM_SYNTH_DEFAULT_MNIST_DIR);
    return;
  }
  bm_mnist m;
  bm_error err = {{0}};
  CHECK_MSG(bm_mnist_load_split(BM_SYNTH_DEFAULT_MNIST_DIR, 0, &m, &err) == 0, "%s", err.msg);
  /* Fashion-MNIST: 10000 test images of 28x28, the first an ankle boot (class 9) */
  CHECK(m.n == 10000 && m.rows == 28 && m.cols == 28);
  if (m.labels) CHECK(m.labels[0] == 9);
  int per_class[10] = {0};
  for (int i = 0; i < m.n; i++) per_class[m.labels[i]]++;
  for (int c = 0; c < 10; c++) CHECK(per_class[c] == 1000);
  bm_mnist_free(&m);
}

/* max channel of pixel (x, y) */
static int brightness(const bm_image *img, int x, int y) {
  const unsigned char *p = img->pixels + ((size_t)y * img->width + x) * 3;
  int m = p[0] > p[1] ? p[0] : p[1];
  return m > p[2] ? m : p[2];
}

/* Judges boxes by the pixels of images on a black background: every box edge touches a
 * garment pixel (tight), every clearly lit pixel lies within 2 px of some box (nothing
 * unboxed), truncated boxes touch the border. */
static void check_scenes(const bm_mnist *pool, int size, int n_scenes) {
  bm_synth_scene_opts opts = {size, 1, 6, 1};
  int n_objects_total = 0, n_truncated = 0;
  for (int s = 0; s < n_scenes; s++) {
    bm_rng rng;
    bm_rng_seed(&rng, 1000 + s, 9);
    bm_image img;
    bm_object objs[BM_SYNTH_MAX_OBJECTS];
    int n;
    bm_error err = {{0}};
    CHECK_MSG(bm_synth_compose(pool, &opts, &rng, &img, objs, &n, &err) == 0, "%s", err.msg);
    CHECK(n >= 1 && n <= 6);
    CHECK(img.width == size && img.height == size && img.channels == 3);
    n_objects_total += n;
    for (int i = 0; i < n; i++) {
      bm_object *o = &objs[i];
      CHECK(o->x1 >= 1 && o->y1 >= 1 && o->x2 <= size && o->y2 <= size && o->x1 <= o->x2 &&
            o->y1 <= o->y2);
      CHECK(o->class_id >= 0 && o->class_id < BM_SYNTH_N_CLASSES);
      /* VOC 1-based inclusive -> 0-based pixel indices */
      int x0 = (int)o->x1 - 1, y0 = (int)o->y1 - 1, x1 = (int)o->x2 - 1, y1 = (int)o->y2 - 1;
      int lit_left = 0, lit_right = 0, lit_top = 0, lit_bottom = 0;
      for (int y = y0; y <= y1; y++) lit_left |= brightness(&img, x0, y) > 0, lit_right |= brightness(&img, x1, y) > 0;
      for (int x = x0; x <= x1; x++) lit_top |= brightness(&img, x, y0) > 0, lit_bottom |= brightness(&img, x, y1) > 0;
      CHECK_MSG(lit_left && lit_right && lit_top && lit_bottom, "scene %d object %d: loose box", s, i);
      if (o->truncated) {
        n_truncated++;
        CHECK(x0 == 0 || y0 == 0 || x1 == size - 1 || y1 == size - 1);
      }
    }
    int unboxed = 0;
    for (int y = 0; y < size; y++)
      for (int x = 0; x < size; x++) {
        if (brightness(&img, x, y) <= 64) continue;
        int near = 0;
        for (int i = 0; i < n && !near; i++)
          near = x >= objs[i].x1 - 1 - 2 && x <= objs[i].x2 - 1 + 2 && y >= objs[i].y1 - 1 - 2 &&
                 y <= objs[i].y2 - 1 + 2;
        unboxed += !near;
      }
    CHECK_MSG(unboxed == 0, "scene %d: %d lit pixels outside every box", s, unboxed);
    bm_image_free(&img);
  }
  CHECK(n_objects_total > n_scenes); /* more than one garment per image on average */
  CHECK(n_truncated > 0);            /* and some cut by the border */
}

static void test_compose(void) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/fake", tmp);
  bm_error err = {{0}};
  CHECK(bm_mkdir_p(dir, &err) == 0);
  write_fake_split(dir, "train", 40, 0);
  bm_mnist pool;
  CHECK(bm_mnist_load_split(dir, 1, &pool, &err) == 0);
  check_scenes(&pool, 96, 60);
  /* same generator state, same picture and boxes; another state, another picture */
  bm_synth_scene_opts opts = {80, 1, 6, 0};
  bm_image a, b;
  bm_object oa[BM_SYNTH_MAX_OBJECTS], ob[BM_SYNTH_MAX_OBJECTS];
  int na, nb;
  bm_rng ra, rb;
  bm_rng_seed(&ra, 3, 4);
  bm_rng_seed(&rb, 3, 4);
  CHECK(bm_synth_compose(&pool, &opts, &ra, &a, oa, &na, &err) == 0);
  CHECK(bm_synth_compose(&pool, &opts, &rb, &b, ob, &nb, &err) == 0);
  CHECK(na == nb && memcmp(oa, ob, sizeof(bm_object) * na) == 0);
  CHECK(memcmp(a.pixels, b.pixels, 80 * 80 * 3) == 0);
  bm_image_free(&b);
  bm_rng_seed(&rb, 4, 4);
  CHECK(bm_synth_compose(&pool, &opts, &rb, &b, ob, &nb, &err) == 0);
  CHECK(memcmp(a.pixels, b.pixels, 80 * 80 * 3) != 0);
  bm_image_free(&a);
  bm_image_free(&b);
  opts.max_objects = BM_SYNTH_MAX_OBJECTS + 1;
  CHECK(bm_synth_compose(&pool, &opts, &ra, &a, oa, &na, &err) == -1);
  bm_mnist_free(&pool);

  if (bm_is_dir(BM_SYNTH_DEFAULT_MNIST_DIR)) {
    CHECK(bm_mnist_load_split(BM_SYNTH_DEFAULT_MNIST_DIR, 0, &pool, &err) == 0);
    check_scenes(&pool, 160, 40); /* real garment shapes */
    bm_mnist_free(&pool);
  }
}

/* Whole-file comparison of two synth folders: every file of a also in b, same bytes. */
static int same_tree(const char *a, const char *b, const char *rel) {
  char pa[2048], pb[2048];
  snprintf(pa, sizeof pa, "%s/%s", a, rel);
  snprintf(pb, sizeof pb, "%s/%s", b, rel);
  if (bm_is_dir(pa)) {
    DIR *dir = opendir(pa);
    struct dirent *e;
    int same = 1, n = 0;
    while ((e = readdir(dir)))
      if (e->d_name[0] != '.') {
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name);
        same &= same_tree(a, b, sub);
        n++;
      }
    closedir(dir);
    return same && n > 0;
  }
  char *da, *db;
  size_t la, lb;
  if (bm_read_file(pa, &da, &la, NULL)) return 0;
  if (bm_read_file(pb, &db, &lb, NULL)) {
    bm_free(da);
    return 0;
  }
  int same = la == lb && memcmp(da, db, la) == 0;
  if (!same) fprintf(stderr, "differs: %s\n", rel);
  bm_free(da);
  bm_free(db);
  return same;
}

static int run_synth(const char *out, const char *mnist, int n_trainval, int n_test, int force,
                     bm_synth_stats *stats, bm_error *err) {
  bm_synth_opts opts = {0};
  opts.out_dir = out;
  opts.mnist_dir = mnist;
  opts.n_trainval = n_trainval;
  opts.n_test = n_test;
  opts.size = 64;
  opts.min_objects = 1;
  opts.max_objects = 4;
  opts.seed = 11;
  opts.jpeg_quality = 90;
  opts.force = force;
  return bm_synth_run(&opts, stats, NULL, err);
}

/* counts <name>class</name> occurrences per class in one file */
static void count_names(const char *path, int *per_class) {
  char *text;
  size_t len;
  if (bm_read_file(path, &text, &len, NULL)) return;
  for (int c = 0; c < BM_SYNTH_N_CLASSES; c++) {
    char tag[64];
    snprintf(tag, sizeof tag, "<name>%s</name>", bm_synth_class_names[c]);
    for (const char *p = strstr(text, tag); p; p = strstr(p + 1, tag)) per_class[c]++;
  }
  bm_free(text);
}

static void test_run(void) {
  char mnist[1024], out1[1024], out2[1024], out3[1024], path[2048];
  snprintf(mnist, sizeof mnist, "%s/fake2", tmp);
  snprintf(out1, sizeof out1, "%s/ds1", tmp);
  snprintf(out2, sizeof out2, "%s/ds2", tmp);
  snprintf(out3, sizeof out3, "%s/ds3", tmp);
  bm_error err = {{0}};
  CHECK(bm_mkdir_p(mnist, &err) == 0);
  /* training garments are classes 0..4, test garments 5..9 */
  write_fake_split(mnist, "train", 30, 0);
  write_fake_split(mnist, "t10k", 30, 5);
  bm_synth_stats stats;
  omp_set_num_threads(2);
  CHECK_MSG(run_synth(out1, mnist, 12, 5, 0, &stats, &err) == 0, "%s", err.msg);
  CHECK(stats.n_images[0] == 12 && stats.n_images[1] == 5);
  CHECK(stats.n_objects[0] >= 12 && stats.n_objects[1] >= 5);
  for (int c = 0; c < 5; c++) CHECK(stats.n_per_class[1][c] == 0);
  for (int c = 5; c < 10; c++) CHECK(stats.n_per_class[0][c] == 0);
  /* the files agree with the statistics */
  int per_class[2][BM_SYNTH_N_CLASSES] = {{0}};
  for (int i = 1; i <= 12; i++) {
    snprintf(path, sizeof path, "%s/Annotations/trainval_%06d.xml", out1, i);
    count_names(path, per_class[0]);
    snprintf(path, sizeof path, "%s/JPEGImages/trainval_%06d.jpg", out1, i);
    int w = 0, h = 0;
    CHECK(bm_image_size(path, &w, &h, &err) == 0 && w == 64 && h == 64);
  }
  for (int i = 1; i <= 5; i++) {
    snprintf(path, sizeof path, "%s/Annotations/test_%06d.xml", out1, i);
    count_names(path, per_class[1]);
  }
  for (int s = 0; s < 2; s++)
    for (int c = 0; c < BM_SYNTH_N_CLASSES; c++) CHECK(per_class[s][c] == stats.n_per_class[s][c]);
  char *text;
  size_t len;
  snprintf(path, sizeof path, "%s/ImageSets/Main/test.txt", out1);
  CHECK(bm_read_file(path, &text, &len, &err) == 0);
  CHECK(len == 5 * 12 && strncmp(text, "test_000001\n", 12) == 0);
  bm_free(text);
  snprintf(path, sizeof path, "%s/classes.txt", out1);
  CHECK(bm_read_file(path, &text, &len, &err) == 0);
  CHECK(strncmp(text, "tshirt\ntrouser\n", 15) == 0 && strstr(text, "ankleboot\n"));
  bm_free(text);

  /* one thread gives the same bytes as two */
  omp_set_num_threads(1);
  CHECK_MSG(run_synth(out2, mnist, 12, 5, 0, &stats, &err) == 0, "%s", err.msg);
  omp_set_num_threads(2);
  CHECK(same_tree(out1, out2, "."));
  CHECK(same_tree(out2, out1, "."));

  /* a non-empty folder needs --force; with it, stale files of a larger run go away */
  CHECK(run_synth(out1, mnist, 12, 5, 0, &stats, &err) == -1 && strstr(err.msg, "not empty"));
  CHECK_MSG(run_synth(out1, mnist, 7, 5, 1, &stats, &err) == 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s/JPEGImages/trainval_000008.jpg", out1);
  CHECK(!bm_file_exists(path));
  snprintf(path, sizeof path, "%s/Annotations/trainval_000007.xml", out1);
  CHECK(bm_file_exists(path));
  /* the first 7 trainval images are the same whatever the count */
  snprintf(path, sizeof path, "%s/JPEGImages/trainval_000007.jpg", out1);
  char other[2048];
  snprintf(other, sizeof other, "%s/JPEGImages/trainval_000007.jpg", out2);
  char *da, *db;
  size_t la, lb;
  CHECK(bm_read_file(path, &da, &la, &err) == 0 && bm_read_file(other, &db, &lb, &err) == 0);
  CHECK(la == lb && memcmp(da, db, la) == 0);
  bm_free(da);
  bm_free(db);

  /* no package files: clear error */
  snprintf(path, sizeof path, "%s/nowhere", tmp);
  CHECK(run_synth(out3, path, 2, 0, 0, &stats, &err) == -1);
  CHECK(strstr(err.msg, "nowhere/train-images-idx3-ubyte.gz") && strstr(err.msg, "dataset-fashion-mnist"));
}

int main(void) {
  bm_test_tmpdir(tmp, sizeof tmp);
  test_idx_reader();
  test_real_package();
  test_compose();
  test_run();
  return bm_test_finish("test_synth");
}
