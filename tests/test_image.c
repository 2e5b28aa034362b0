/* Image files: PNG and JPEG round trips, the colour types and layouts other tools write
 * (grey, progressive and CMYK JPEG; palette, grey, 16-bit and alpha PNG, written here with the
 * libraries directly), format by magic bytes, and clean errors on damaged input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

#include "boxmine/bm_data.h"
#include "testlib.h"

static char tmp[512];

static const char *tmp_path(const char *name) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/%s", tmp, name);
  return path;
}

/* A smooth colour pattern that JPEG keeps well: red grows with x, green with y. */
static bm_image make_gradient(int width, int height) {
  bm_image img = {width, height, 3, malloc((size_t)width * height * 3)};
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      unsigned char *p = img.pixels + ((size_t)y * width + x) * 3;
      p[0] = (unsigned char)(x * 255 / (width - 1));
      p[1] = (unsigned char)(y * 255 / (height - 1));
      p[2] = 100;
    }
  return img;
}

static double mean_abs_diff(const bm_image *a, const bm_image *b) {
  double sum = 0;
  size_t n = (size_t)a->width * a->height * 3;
  for (size_t i = 0; i < n; i++) sum += abs((int)a->pixels[i] - (int)b->pixels[i]);
  return sum / (double)n;
}

static void write_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  fwrite(data, 1, len, f);
  fclose(f);
}

static void test_png_round_trip(void) {
  /* a non-square image with every byte value, so any channel or row mix-up shows */
  bm_image img = {37, 23, 3, malloc(37 * 23 * 3)};
  for (int i = 0; i < 37 * 23 * 3; i++) img.pixels[i] = (unsigned char)(i * 7 + i / 11);
  bm_error err = {{0}};
  CHECK(bm_image_save_png(tmp_path("rt.png"), &img, &err) == 0);
  bm_image back;
  CHECK_MSG(bm_image_load(tmp_path("rt.png"), &back, &err) == 0, "%s", err.msg);
  CHECK(back.width == 37 && back.height == 23 && back.channels == 3);
  if (back.pixels) CHECK(memcmp(back.pixels, img.pixels, 37 * 23 * 3) == 0);
  int w = 0, h = 0;
  CHECK(bm_image_size(tmp_path("rt.png"), &w, &h, &err) == 0);
  CHECK(w == 37 && h == 23);
  bm_image_free(&back);
  CHECK(back.pixels == NULL);
  free(img.pixels);
}

static void test_jpeg_round_trip(void) {
  bm_image img = make_gradient(64, 48);
  bm_error err = {{0}};
  CHECK(bm_image_save_jpeg(tmp_path("rt.jpg"), &img, 95, &err) == 0);
  bm_image back;
  CHECK_MSG(bm_image_load(tmp_path("rt.jpg"), &back, &err) == 0, "%s", err.msg);
  CHECK(back.width == 64 && back.height == 48 && back.channels == 3);
  if (back.pixels) CHECK(mean_abs_diff(&img, &back) < 2.0);
  int w = 0, h = 0;
  CHECK(bm_image_size(tmp_path("rt.jpg"), &w, &h, &err) == 0);
  CHECK(w == 64 && h == 48);
  bm_image_free(&back);
  /* quality out of range is an error, not a clamp */
  CHECK(bm_image_save_jpeg(tmp_path("bad.jpg"), &img, 0, &err) == -1);
  free(img.pixels);
}

static void test_grey_jpeg(void) {
  bm_image grey = {40, 30, 1, malloc(40 * 30)};
  for (int i = 0; i < 40 * 30; i++) grey.pixels[i] = (unsigned char)(60 + (i % 40) * 3);
  bm_error err = {{0}};
  CHECK(bm_image_save_jpeg(tmp_path("grey.jpg"), &grey, 95, &err) == 0);
  bm_image back;
  CHECK_MSG(bm_image_load(tmp_path("grey.jpg"), &back, &err) == 0, "%s", err.msg);
  CHECK(back.channels == 3 && back.width == 40 && back.height == 30);
  int worst = 0, unequal = 0;
  for (int i = 0; back.pixels && i < 40 * 30; i++) {
    unsigned char *p = back.pixels + 3 * i;
    unequal += p[0] != p[1] || p[1] != p[2];
    int d = abs((int)p[0] - (int)grey.pixels[i]);
    if (d > worst) worst = d;
  }
  CHECK(unequal == 0);
  CHECK(worst <= 4);
  bm_image_free(&back);
  free(grey.pixels);
}

/* Writes a JPEG with libjpeg directly: progressive RGB, or CMYK (libjpeg then adds an Adobe
 * marker, which means inverted CMYK: 255 is no ink). */
static void write_special_jpeg(const char *path, int width, int height, int components,
                               J_COLOR_SPACE space, int progressive, const unsigned char *pixels) {
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  FILE *f = fopen(path, "wb");
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = components;
  cinfo.in_color_space = space;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 95, TRUE);
  if (progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = (JSAMPROW)pixels + (size_t)cinfo.next_scanline * width * components;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  fclose(f);
}

static void test_progressive_jpeg(void) {
  bm_image img = make_gradient(50, 70);
  write_special_jpeg(tmp_path("prog.jpg"), 50, 70, 3, JCS_RGB, 1, img.pixels);
  /* the progressive marker SOF2 (FF C2) must really be in the file */
  char *data;
  size_t len;
  bm_error err = {{0}};
  CHECK(bm_read_file(tmp_path("prog.jpg"), &data, &len, &err) == 0);
  int has_sof2 = 0;
  for (size_t i = 0; i + 1 < len; i++) has_sof2 |= (unsigned char)data[i] == 0xff &&
                                                   (unsigned char)data[i + 1] == 0xc2;
  CHECK(has_sof2);
  bm_free(data);
  bm_image back;
  CHECK_MSG(bm_image_load(tmp_path("prog.jpg"), &back, &err) == 0, "%s", err.msg);
  CHECK(back.width == 50 && back.height == 70);
  if (back.pixels) CHECK(mean_abs_diff(&img, &back) < 2.0);
  bm_image_free(&back);
  free(img.pixels);
}

static void test_cmyk_jpeg(void) {
  /* Left half stored as (255, 0, 255, 255): with inverted CMYK that is full magenta ink
   * only, i.e. RGB (255, 0, 255). Right half (255, 255, 255, 128): black ink at half,
   * i.e. grey 128. */
  int width = 32, height = 16;
  unsigned char *cmyk = malloc((size_t)width * height * 4);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      unsigned char *p = cmyk + ((size_t)y * width + x) * 4;
      int left = x < width / 2;
      p[0] = 255;
      p[1] = left ? 0 : 255;
      p[2] = 255;
      p[3] = left ? 255 : 128;
    }
  write_special_jpeg(tmp_path("cmyk.jpg"), width, height, 4, JCS_CMYK, 0, cmyk);
  bm_image back;
  bm_error err = {{0}};
  CHECK_MSG(bm_image_load(tmp_path("cmyk.jpg"), &back, &err) == 0, "%s", err.msg);
  CHECK(back.channels == 3 && back.width == width && back.height == height);
  if (back.pixels) {
    const unsigned char *l = back.pixels + (8 * width + 3) * 3;
    const unsigned char *r = back.pixels + (8 * width + 28) * 3;
    CHECK_MSG(abs(l[0] - 255) <= 6 && l[1] <= 6 && abs(l[2] - 255) <= 6, "left %d %d %d",
              l[0], l[1], l[2]);
    CHECK_MSG(abs(r[0] - 128) <= 6 && abs(r[1] - 128) <= 6 && abs(r[2] - 128) <= 6,
              "right %d %d %d", r[0], r[1], r[2]);
  }
  bm_image_free(&back);
  free(cmyk);
}

/* Writes a PNG with libpng directly in one colour type and depth. rows: packed bytes. */
static void write_special_png(const char *path, int width, int height, int bit_depth,
                              int color_type, const unsigned char *rows, size_t stride,
                              const png_color *palette, int n_palette) {
  FILE *f = fopen(path, "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, width, height, bit_depth, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (palette) png_set_PLTE(png, info, palette, n_palette);
  png_write_info(png, info);
  for (int y = 0; y < height; y++) png_write_row(png, (png_bytep)rows + y * stride);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  fclose(f);
}

static void check_pixel(const bm_image *img, int x, int y, int r, int g, int b,
                        const char *what) {
  const unsigned char *p = img->pixels + ((size_t)y * img->width + x) * 3;
  CHECK_MSG(p[0] == r && p[1] == g && p[2] == b, "%s (%d,%d): got %d %d %d, want %d %d %d",
            what, x, y, p[0], p[1], p[2], r, g, b);
}

static void test_png_variants(void) {
  bm_error err = {{0}};
  bm_image img;

  /* 8-bit grey */
  unsigned char grey[3 * 2] = {0, 50, 100, 150, 200, 255};
  write_special_png(tmp_path("grey.png"), 3, 2, 8, PNG_COLOR_TYPE_GRAY, grey, 3, NULL, 0);
  CHECK_MSG(bm_image_load(tmp_path("grey.png"), &img, &err) == 0, "%s", err.msg);
  if (img.pixels) {
    check_pixel(&img, 1, 0, 50, 50, 50, "grey");
    check_pixel(&img, 2, 1, 255, 255, 255, "grey");
  }
  bm_image_free(&img);

  /* 2-bit palette: indices 0..3 packed four to a byte, most significant first */
  png_color palette[4] = {{10, 20, 30}, {200, 0, 0}, {0, 200, 0}, {0, 0, 200}};
  unsigned char packed[2] = {0x1b, 0xe4}; /* row 0: 0 1 2 3, row 1: 3 2 1 0 */
  write_special_png(tmp_path("pal.png"), 4, 2, 2, PNG_COLOR_TYPE_PALETTE, packed, 1, palette, 4);
  CHECK_MSG(bm_image_load(tmp_path("pal.png"), &img, &err) == 0, "%s", err.msg);
  if (img.pixels) {
    check_pixel(&img, 0, 0, 10, 20, 30, "palette");
    check_pixel(&img, 1, 0, 200, 0, 0, "palette");
    check_pixel(&img, 0, 1, 0, 0, 200, "palette");
  }
  bm_image_free(&img);

  /* 16-bit RGB: scaled to 8 bits (65535 -> 255, 0x8080 -> 128) */
  unsigned char rgb16[2 * 6] = {0xff, 0xff, 0x00, 0x00, 0x80, 0x80,
                                0x00, 0x00, 0xff, 0xff, 0x00, 0x00};
  write_special_png(tmp_path("rgb16.png"), 2, 1, 16, PNG_COLOR_TYPE_RGB, rgb16, 12, NULL, 0);
  CHECK_MSG(bm_image_load(tmp_path("rgb16.png"), &img, &err) == 0, "%s", err.msg);
  if (img.pixels) {
    check_pixel(&img, 0, 0, 255, 0, 128, "16-bit");
    check_pixel(&img, 1, 0, 0, 255, 0, "16-bit");
  }
  bm_image_free(&img);

  /* RGBA: alpha dropped, colour kept as stored */
  unsigned char rgba[2 * 4] = {10, 20, 30, 0, 40, 50, 60, 255};
  write_special_png(tmp_path("rgba.png"), 2, 1, 8, PNG_COLOR_TYPE_RGBA, rgba, 8, NULL, 0);
  CHECK_MSG(bm_image_load(tmp_path("rgba.png"), &img, &err) == 0, "%s", err.msg);
  CHECK(img.channels == 3);
  if (img.pixels) {
    check_pixel(&img, 0, 0, 10, 20, 30, "rgba");
    check_pixel(&img, 1, 0, 40, 50, 60, "rgba");
  }
  bm_image_free(&img);

  /* Adam7 interlaced RGB: exact after de-interlacing */
  {
    int w = 13, h = 9;
    unsigned char *rgb = malloc((size_t)w * h * 3);
    png_bytep rows[9];
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (unsigned char)(i * 5 + 1);
    for (int y = 0; y < h; y++) rows[y] = rgb + (size_t)y * w * 3;
    FILE *f = fopen(tmp_path("adam7.png"), "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
    char *bytes;
    size_t n_bytes;
    /* IHDR's last byte (file offset 28) is the interlace method: 1 = Adam7 */
    CHECK(bm_read_file(tmp_path("adam7.png"), &bytes, &n_bytes, &err) == 0 && n_bytes > 28 &&
          bytes[28] == 1);
    bm_free(bytes);
    CHECK_MSG(bm_image_load(tmp_path("adam7.png"), &img, &err) == 0, "%s", err.msg);
    CHECK(img.width == w && img.height == h);
    if (img.pixels) CHECK(memcmp(img.pixels, rgb, (size_t)w * h * 3) == 0);
    bm_image_free(&img);
    free(rgb);
  }

  /* grey + alpha */
  unsigned char ga[2 * 2] = {77, 0, 199, 128};
  write_special_png(tmp_path("ga.png"), 2, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA, ga, 4, NULL, 0);
  CHECK_MSG(bm_image_load(tmp_path("ga.png"), &img, &err) == 0, "%s", err.msg);
  if (img.pixels) {
    check_pixel(&img, 0, 0, 77, 77, 77, "grey+alpha");
    check_pixel(&img, 1, 0, 199, 199, 199, "grey+alpha");
  }
  bm_image_free(&img);
}

static void test_magic_wins(void) {
  bm_image img = make_gradient(20, 10);
  bm_error err = {{0}};
  CHECK(bm_image_save_jpeg(tmp_path("really_jpeg.png"), &img, 90, &err) == 0);
  CHECK(bm_image_save_png(tmp_path("really_png.jpg"), &img, &err) == 0);
  bm_image back;
  CHECK_MSG(bm_image_load(tmp_path("really_jpeg.png"), &back, &err) == 0, "%s", err.msg);
  CHECK(back.width == 20 && back.height == 10);
  bm_image_free(&back);
  CHECK_MSG(bm_image_load(tmp_path("really_png.jpg"), &back, &err) == 0, "%s", err.msg);
  if (back.pixels) CHECK(memcmp(back.pixels, img.pixels, 20 * 10 * 3) == 0);
  bm_image_free(&back);
  int w = 0, h = 0;
  CHECK(bm_image_size(tmp_path("really_jpeg.png"), &w, &h, &err) == 0 && w == 20 && h == 10);
  CHECK(bm_image_size(tmp_path("really_png.jpg"), &w, &h, &err) == 0 && w == 20 && h == 10);
  free(img.pixels);
}

/* Loading must fail, with the path in the message and nothing allocated. */
static void expect_load_failure(const char *path, const char *what) {
  bm_image img;
  bm_error err = {{0}};
  int rc = bm_image_load(path, &img, &err);
  CHECK_MSG(rc == -1, "%s: load succeeded", what);
  CHECK_MSG(strstr(err.msg, path) != NULL, "%s: message '%s' does not name the file", what,
            err.msg);
  CHECK(img.pixels == NULL);
  if (rc == 0) bm_image_free(&img);
}

static void test_damaged_files(void) {
  bm_image img = make_gradient(64, 64);
  bm_error err = {{0}};
  char *data;
  size_t len;

  CHECK(bm_image_save_jpeg(tmp_path("full.jpg"), &img, 90, &err) == 0);
  CHECK(bm_read_file(tmp_path("full.jpg"), &data, &len, &err) == 0);
  write_bytes(tmp_path("half.jpg"), data, len / 2);
  expect_load_failure(tmp_path("half.jpg"), "JPEG cut in half");
  write_bytes(tmp_path("head.jpg"), data, 40);
  expect_load_failure(tmp_path("head.jpg"), "JPEG cut in its header");
  int w, h;
  CHECK(bm_image_size(tmp_path("head.jpg"), &w, &h, &err) == -1);
  /* corrupt the entropy-coded data in the middle */
  for (size_t i = len / 2; i < len / 2 + 64 && i + 2 < len; i++) data[i] = (char)0x5a;
  write_bytes(tmp_path("corrupt.jpg"), data, len);
  bm_image back;
  int rc = bm_image_load(tmp_path("corrupt.jpg"), &back, &err);
  /* libjpeg may or may not notice a corrupt scan; it must not crash, and an error names it */
  if (rc == 0) bm_image_free(&back);
  else CHECK(strstr(err.msg, "corrupt.jpg") != NULL);
  bm_free(data);

  CHECK(bm_image_save_png(tmp_path("full.png"), &img, &err) == 0);
  CHECK(bm_read_file(tmp_path("full.png"), &data, &len, &err) == 0);
  write_bytes(tmp_path("half.png"), data, len / 2);
  expect_load_failure(tmp_path("half.png"), "PNG cut in half");
  write_bytes(tmp_path("sig.png"), data, 12);
  expect_load_failure(tmp_path("sig.png"), "PNG signature only");
  CHECK(bm_image_size(tmp_path("sig.png"), &w, &h, &err) == -1);
  data[len / 2] ^= 0x40; /* breaks the IDAT CRC */
  write_bytes(tmp_path("crc.png"), data, len);
  expect_load_failure(tmp_path("crc.png"), "PNG with a bad CRC");
  bm_free(data);

  /* garbage, and garbage behind a JPEG or PNG signature */
  bm_rng rng;
  bm_rng_seed(&rng, 5, 1);
  unsigned char junk[4096];
  for (int round = 0; round < 20; round++) {
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)bm_rng_u32(&rng);
    if (round % 3 == 1) junk[0] = 0xff, junk[1] = 0xd8, junk[2] = 0xff;
    if (round % 3 == 2) memcpy(junk, "\x89PNG\r\n\x1a\n", 8);
    write_bytes(tmp_path("junk.bin"), junk, sizeof junk);
    expect_load_failure(tmp_path("junk.bin"), "random bytes");
  }
  write_bytes(tmp_path("empty.jpg"), "", 0);
  expect_load_failure(tmp_path("empty.jpg"), "empty file");
  expect_load_failure(tmp_path("does_not_exist.jpg"), "missing file");
  CHECK(bm_image_size(tmp_path("does_not_exist.jpg"), &w, &h, &err) == -1);
  CHECK(strstr(err.msg, "does_not_exist.jpg") != NULL);
  free(img.pixels);
}

/* Image bombs: a small file whose header claims a huge size is refused from the header,
 * before any pixel buffer is allocated (under ASan a 10 GB allocation would abort the test
 * instead of failing cleanly). The PNG keeps a valid IHDR CRC, the JPEG a valid SOF. */
static void test_image_bombs(void) {
  bm_image img = make_gradient(16, 16);
  bm_error err = {{0}};
  char *data;
  size_t len;
  int w, h;
  CHECK(bm_image_save_png(tmp_path("bomb.png"), &img, &err) == 0);
  CHECK(bm_read_file(tmp_path("bomb.png"), &data, &len, &err) == 0);
  unsigned char *ihdr = (unsigned char *)data + 8; /* length, "IHDR", width, height, ... CRC */
  CHECK(len > 33 && !memcmp(ihdr + 4, "IHDR", 4));
  const unsigned char side[4] = {0, 0, 0xea, 0x60}; /* 60000 */
  memcpy(ihdr + 8, side, 4);
  memcpy(ihdr + 12, side, 4);
  uint32_t crc = (uint32_t)crc32(0, ihdr + 4, 17);
  for (int i = 0; i < 4; i++) ihdr[21 + i] = (unsigned char)(crc >> (24 - 8 * i));
  write_bytes(tmp_path("bomb.png"), data, len);
  expect_load_failure(tmp_path("bomb.png"), "PNG claiming 60000x60000");
  CHECK(bm_image_size(tmp_path("bomb.png"), &w, &h, &err) == -1);
  CHECK_MSG(strstr(err.msg, "unsupported image size 60000x60000") != NULL, "%s", err.msg);
  bm_free(data);

  CHECK(bm_image_save_jpeg(tmp_path("bomb.jpg"), &img, 90, &err) == 0);
  CHECK(bm_read_file(tmp_path("bomb.jpg"), &data, &len, &err) == 0);
  int patched = 0;
  for (size_t i = 2; i + 9 < len && !patched; i++) {
    unsigned char *p = (unsigned char *)data + i;
    if (p[0] == 0xff && (p[1] == 0xc0 || p[1] == 0xc2)) { /* SOF0/SOF2: len, precision, h, w */
      p[5] = 0xea, p[6] = 0x60, p[7] = 0xea, p[8] = 0x60;
      patched = 1;
    }
  }
  CHECK(patched);
  write_bytes(tmp_path("bomb.jpg"), data, len);
  expect_load_failure(tmp_path("bomb.jpg"), "JPEG claiming 60000x60000");
  CHECK(bm_image_size(tmp_path("bomb.jpg"), &w, &h, &err) == -1);
  CHECK_MSG(strstr(err.msg, "unsupported image size 60000x60000") != NULL, "%s", err.msg);
  bm_free(data);
  free(img.pixels);
}

static void test_bccd(void) {
  char dir[1024];
  bm_test_shared("data/BCCD/JPEGImages", dir, sizeof dir);
  if (!bm_file_exists(dir)) {
    printf("test_bccd skipped: needs ../shared/data/BCCD (not in a lone clone)\n");
    return;
  }
  const char *names[] = {"BloodImage_00000.jpg", "BloodImage_00001.jpg",
                         "BloodImage_00100.jpg"};
  for (int i = 0; i < 3; i++) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (!bm_file_exists(path)) continue; /* numbering has gaps */
    bm_image img;
    bm_error err = {{0}};
    CHECK_MSG(bm_image_load(path, &img, &err) == 0, "%s", err.msg);
    CHECK(img.width == 640 && img.height == 480 && img.channels == 3);
    /* a real photograph: not flat */
    long sum = 0, sum_sq = 0, n = 640L * 480 * 3;
    for (long k = 0; img.pixels && k < n; k++) sum += img.pixels[k], sum_sq += img.pixels[k] * img.pixels[k];
    double mean = (double)sum / n;
    CHECK(sum_sq / (double)n - mean * mean > 100.0);
    int w, h;
    CHECK(bm_image_size(path, &w, &h, &err) == 0 && w == 640 && h == 480);
    bm_image_free(&img);
  }
}

int main(void) {
  bm_test_tmpdir(tmp, sizeof tmp);
  test_png_round_trip();
  test_jpeg_round_trip();
  test_grey_jpeg();
  test_progressive_jpeg();
  test_cmyk_jpeg();
  test_png_variants();
  test_magic_wins();
  test_damaged_files();
  test_image_bombs();
  test_bccd();
  return bm_test_finish("test_image");
}
