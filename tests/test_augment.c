/* Geometry and augmentation: box maps against hand-computed values, the flip about the image
 * WIDTH on a non-square image, flip twice = identity, pixels and boxes staying together under
 * random jitter and flips, the drop rule, HSV changes, determinism per seed, drawing. */
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_augment.h"
#include "testlib.h"

#define EPS 1e-4

static void check_box(bm_box got, float x1, float y1, float x2, float y2, const char *what) {
  CHECK_MSG(fabsf(got.x1 - x1) < EPS && fabsf(got.y1 - y1) < EPS && fabsf(got.x2 - x2) < EPS &&
                fabsf(got.y2 - y2) < EPS,
            "%s: got %g %g %g %g, want %g %g %g %g", what, got.x1, got.y1, got.x2, got.y2, x1, y1,
            x2, y2);
}

static void test_voc_conversion(void) {
  /* the whole 640x480 image is 1 1 640 480 in VOC and 0 0 640 480 continuous */
  check_box(bm_box_from_voc((bm_box){1, 1, 640, 480}), 0, 0, 640, 480, "whole image from VOC");
  check_box(bm_box_to_voc((bm_box){0, 0, 640, 480}), 1, 1, 640, 480, "whole image to VOC");
  /* a one-pixel VOC box at column 5, row 7 covers [4,5) x [6,7) */
  check_box(bm_box_from_voc((bm_box){5, 7, 5, 7}), 4, 6, 5, 7, "single pixel");
  bm_object objs[2] = {{.x1 = 10, .y1 = 20, .x2 = 30, .y2 = 40}, {.x1 = 1, .y1 = 1, .x2 = 2, .y2 = 3}};
  bm_objects_from_voc(objs, 2);
  CHECK(objs[0].x1 == 9 && objs[0].y1 == 19 && objs[0].x2 == 30 && objs[0].y2 == 40);
  CHECK(objs[1].x1 == 0 && objs[1].y1 == 0 && objs[1].x2 == 2 && objs[1].y2 == 3);
  bm_objects_to_voc(objs, 2);
  CHECK(objs[0].x1 == 10 && objs[0].y1 == 20 && objs[1].x1 == 1 && objs[1].y2 == 3);
}

static void test_letterbox(void) {
  /* 640x480 into 416x416: scale 416/640 = 0.65, picture 416x312, 52 px bars above/below */
  bm_geom g = bm_geom_letterbox(640, 480, 416, 416);
  CHECK_NEAR(g.scale_x, 0.65, 1e-6);
  CHECK_NEAR(g.scale_y, 0.65, 1e-6);
  CHECK_NEAR(g.shift_x, 0, 1e-4);
  CHECK_NEAR(g.shift_y, 52, 1e-4);
  bm_box box = {100, 50, 300, 250};
  bm_box fwd = bm_geom_forward(&g, box);
  check_box(fwd, 65, 84.5f, 195, 214.5f, "letterbox forward");
  check_box(bm_geom_inverse(&g, fwd), 100, 50, 300, 250, "letterbox inverse");

  /* a tall 100x200 image into 64x64: scale 0.32, picture 32x64, 16 px bars left/right */
  g = bm_geom_letterbox(100, 200, 64, 64);
  check_box(bm_geom_forward(&g, (bm_box){10, 20, 50, 100}), 19.2f, 6.4f, 32, 32,
            "tall letterbox");

  /* the padding is grey 127 and the picture keeps its colour */
  bm_image img = {4, 2, 3, malloc(4 * 2 * 3)};
  memset(img.pixels, 200, 4 * 2 * 3);
  g = bm_geom_letterbox(4, 2, 8, 8); /* scale 2: picture rows 2..5 */
  float *chw = malloc(3 * 8 * 8 * sizeof(float));
  bm_geom_render_chw(&img, &g, chw);
  for (int c = 0; c < 3; c++) {
    CHECK_NEAR(chw[(c * 8 + 0) * 8 + 3], 127.0 / 255.0, 1e-6);
    CHECK_NEAR(chw[(c * 8 + 1) * 8 + 3], 127.0 / 255.0, 1e-6);
    CHECK_NEAR(chw[(c * 8 + 2) * 8 + 0], 200.0 / 255.0, 1e-6);
    CHECK_NEAR(chw[(c * 8 + 5) * 8 + 7], 200.0 / 255.0, 1e-6);
    CHECK_NEAR(chw[(c * 8 + 6) * 8 + 7], 127.0 / 255.0, 1e-6);
  }
  free(chw);
  free(img.pixels);
}

static void test_stretch_and_resize(void) {
  bm_geom g = bm_geom_stretch(200, 100, 100, 100);
  check_box(bm_geom_forward(&g, (bm_box){20, 10, 120, 50}), 10, 10, 60, 50, "stretch");
  /* bilinear with pixel centres aligned: [0, 100] widened to 4 samples at source positions
   * 0.25, 0.75, 1.25, 1.75 gives 0, 25, 75, 100 (edges clamp) */
  unsigned char row[2] = {0, 100};
  bm_image src = {2, 1, 1, row}, dst;
  bm_error err;
  CHECK(bm_image_resize(&src, 4, 1, &dst, &err) == 0);
  CHECK(dst.pixels[0] == 0 && dst.pixels[1] == 25 && dst.pixels[2] == 75 && dst.pixels[3] == 100);
  bm_image_free(&dst);
  CHECK(bm_image_resize(&src, 0, 1, &dst, &err) == -1);
}

static bm_image pattern_image(int width, int height) {
  bm_image img = {width, height, 3, malloc((size_t)width * height * 3)};
  for (int i = 0; i < width * height * 3; i++) img.pixels[i] = (unsigned char)((i * 37) ^ (i >> 3));
  return img;
}

static void test_flip(void) {
  /* 200 wide, 100 high: the mirror is about the width, x' = 200 - x (using the height
   * would give 100 - x) */
  bm_geom id = bm_geom_stretch(200, 100, 200, 100);
  bm_geom flip = bm_geom_flip_x(id);
  check_box(bm_geom_forward(&flip, (bm_box){10, 20, 50, 60}), 150, 20, 190, 60, "flip");
  bm_geom twice = bm_geom_flip_x(flip);
  check_box(bm_geom_forward(&twice, (bm_box){10, 20, 50, 60}), 10, 20, 50, 60, "flip twice");
  /* flip after a letterbox mirrors the network canvas: 640x480 -> 416x416, x' = 416 - x */
  bm_geom lb = bm_geom_letterbox(640, 480, 416, 416);
  bm_geom lbf = bm_geom_flip_x(lb);
  check_box(bm_geom_forward(&lbf, (bm_box){100, 50, 300, 250}), 416 - 195, 84.5f, 416 - 65,
            214.5f, "letterbox + flip");

  /* pixels: rendering through the flip geometry equals mirroring the image, and two image
   * flips give the original back */
  bm_image img = pattern_image(7, 3), rendered, copy = pattern_image(7, 3);
  bm_error err;
  bm_geom flip7 = bm_geom_flip_x(bm_geom_stretch(7, 3, 7, 3));
  CHECK(bm_geom_render_image(&img, &flip7, &rendered, &err) == 0);
  bm_image_flip_x(&copy);
  CHECK(memcmp(rendered.pixels, copy.pixels, 7 * 3 * 3) == 0);
  /* column 0 of the mirror is column 6 of the original */
  CHECK(memcmp(copy.pixels, img.pixels + 6 * 3, 3) == 0);
  bm_image_flip_x(&copy);
  CHECK(memcmp(copy.pixels, img.pixels, 7 * 3 * 3) == 0);
  bm_image_free(&rendered);
  bm_image_free(&copy);
  bm_image_free(&img);
}

static void test_jitter_geometry(void) {
  /* source 100x100 into 50x50 with crop window [10, 110] x [0, 80]: window 100x80,
   * scale min(50/100, 50/80) = 0.5, window 50x40 centred: x shift -10*0.5 = -5, y shift 5 */
  bm_geom g = bm_geom_jitter(100, 100, 50, 50, 10, -10, 0, 20);
  CHECK_NEAR(g.scale_x, 0.5, 1e-6);
  CHECK_NEAR(g.shift_x, -5, 1e-5);
  CHECK_NEAR(g.shift_y, 5, 1e-5);
  check_box(bm_geom_forward(&g, (bm_box){10, 0, 60, 40}), 0, 5, 25, 25, "jitter window");
  /* no jitter = letterbox */
  bm_geom a = bm_geom_jitter(640, 480, 416, 416, 0, 0, 0, 0), b = bm_geom_letterbox(640, 480, 416, 416);
  CHECK_NEAR(a.shift_y, b.shift_y, 1e-4);
  CHECK_NEAR(a.scale_x, b.scale_x, 1e-7);
}

static void test_drop_rule(void) {
  bm_geom id = bm_geom_stretch(100, 100, 100, 100);
  bm_object objs[6] = {
      {.class_id = 0, .x1 = 10, .y1 = 10, .x2 = 40, .y2 = 40},   /* inside: kept as is */
      {.class_id = 1, .x1 = -50, .y1 = 10, .x2 = 50, .y2 = 30},  /* half visible: clipped */
      {.class_id = 2, .x1 = -90, .y1 = 10, .x2 = 10, .y2 = 30},  /* 10% visible: dropped */
      {.class_id = 3, .x1 = 99.5f, .y1 = 10, .x2 = 130, .y2 = 30}, /* 0.5 px left: dropped */
      {.class_id = 4, .x1 = 120, .y1 = 10, .x2 = 130, .y2 = 30}, /* outside: dropped */
      {.class_id = 5, .x1 = 60, .y1 = 80, .x2 = 90, .y2 = 110},  /* 2/3 visible: clipped */
  };
  int n = bm_geom_apply_objects(&id, objs, 6, 1.0f, 0.25f);
  CHECK(n == 3);
  CHECK(objs[0].class_id == 0 && objs[0].x1 == 10 && objs[0].x2 == 40 && !objs[0].truncated);
  CHECK(objs[1].class_id == 1 && objs[1].x1 == 0 && objs[1].x2 == 50 && objs[1].truncated);
  CHECK(objs[2].class_id == 5 && objs[2].y1 == 80 && objs[2].y2 == 100 && objs[2].truncated);
}

/* Image with one red rectangle covering pixels [x0, x1) x [y0, y1) on black. */
static bm_image red_rect_image(int width, int height, int x0, int y0, int x1, int y1) {
  bm_image img = {width, height, 3, calloc((size_t)width * height * 3, 1)};
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) img.pixels[((size_t)y * width + x) * 3] = 255;
  return img;
}

static void test_pixels_follow_boxes(void) {
  bm_image img = red_rect_image(90, 60, 20, 10, 45, 30);
  bm_augment_opts opts = bm_augment_defaults(64, 48);
  opts.jitter = 0.3f;
  opts.flip = 1;
  int net_w = 64, net_h = 48, n_flipped = 0, n_checked = 0;
  float *chw = malloc(3 * sizeof(float) * net_w * net_h);
  for (uint64_t seed = 1; seed <= 40; seed++) {
    bm_rng rng;
    bm_rng_seed(&rng, seed, 3);
    bm_object obj = {.x1 = 20, .y1 = 10, .x2 = 45, .y2 = 30};
    int n = 1;
    bm_augment_draw draw = bm_augment_sample(&opts, &img, &obj, &n, chw, &rng);
    n_flipped += draw.flipped;
    if (n == 0) continue;
    n_checked++;
    /* red inside the box (1.5 px margin for bilinear edges), no red outside it */
    int bad = 0;
    for (int y = 0; y < net_h; y++)
      for (int x = 0; x < net_w; x++) {
        float cx = x + 0.5f, cy = y + 0.5f;
        float red = chw[(size_t)y * net_w + x];
        int inside = cx > obj.x1 + 1.5f && cx < obj.x2 - 1.5f && cy > obj.y1 + 1.5f &&
                     cy < obj.y2 - 1.5f;
        int outside = cx < obj.x1 - 1.5f || cx > obj.x2 + 1.5f || cy < obj.y1 - 1.5f ||
                      cy > obj.y2 + 1.5f;
        if (inside && red < 0.95f) bad++;
        if (outside && red > 0.9f) bad++; /* grey padding is 0.498, black is 0 */
      }
    CHECK_MSG(bad == 0, "seed %d: %d pixels disagree with box %g %g %g %g", (int)seed, bad,
              obj.x1, obj.y1, obj.x2, obj.y2);
  }
  CHECK(n_flipped > 5 && n_flipped < 35);
  CHECK(n_checked > 30);
  free(chw);
  free(img.pixels);
}

static void test_determinism(void) {
  bm_image img = pattern_image(50, 40);
  bm_augment_opts opts = bm_augment_defaults(32, 32);
  opts.jitter = 0.2f, opts.flip = 1, opts.hue = 0.1f, opts.saturation = 1.5f, opts.exposure = 1.5f;
  float *a = malloc(3 * 32 * 32 * sizeof(float)), *b = malloc(3 * 32 * 32 * sizeof(float));
  bm_object oa[2] = {{.x1 = 5, .y1 = 5, .x2 = 20, .y2 = 30}, {.x1 = 30, .y1 = 2, .x2 = 48, .y2 = 12}};
  bm_object ob[2];
  memcpy(ob, oa, sizeof oa);
  bm_rng ra, rb;
  bm_rng_seed(&ra, 77, 1);
  bm_rng_seed(&rb, 77, 1);
  int na = 2, nb = 2;
  bm_augment_sample(&opts, &img, oa, &na, a, &ra);
  bm_augment_sample(&opts, &img, ob, &nb, b, &rb);
  CHECK(na == nb && memcmp(oa, ob, sizeof(bm_object) * na) == 0);
  CHECK(memcmp(a, b, 3 * 32 * 32 * sizeof(float)) == 0);
  CHECK(ra.state == rb.state);
  for (int i = 0; i < 3 * 32 * 32; i++) CHECK(a[i] >= 0.0f && a[i] <= 1.0f);
  /* a different seed gives a different sample */
  bm_rng_seed(&rb, 78, 1);
  nb = 2;
  bm_augment_sample(&opts, &img, ob, &nb, b, &rb);
  CHECK(memcmp(a, b, 3 * 32 * 32 * sizeof(float)) != 0);
  /* the number of draws does not depend on the options */
  bm_augment_opts plain = bm_augment_defaults(32, 32);
  bm_rng_seed(&ra, 5, 1);
  bm_rng_seed(&rb, 5, 1);
  bm_augment_random(&opts, 50, 40, &ra);
  bm_augment_random(&plain, 50, 40, &rb);
  CHECK(ra.state == rb.state);
  free(a);
  free(b);
  free(img.pixels);
}

static void test_hsv(void) {
  /* 2x1 image: pure red, mid grey. CHW planes. */
  float chw[6] = {1.0f, 0.5f, 0.0f, 0.5f, 0.0f, 0.5f};
  float copy[6];
  memcpy(copy, chw, sizeof chw);
  /* a third of the colour circle turns red into green; grey has no hue to turn */
  bm_hsv_adjust_chw(chw, 2, 1, 0, 0, 2, 1, 1.0f / 3.0f, 1.0f, 1.0f);
  CHECK_NEAR(chw[0], 0, 1e-5);
  CHECK_NEAR(chw[2], 1, 1e-5);
  CHECK_NEAR(chw[4], 0, 1e-5);
  CHECK_NEAR(chw[1], 0.5, 1e-6);
  CHECK_NEAR(chw[3], 0.5, 1e-6);
  memcpy(chw, copy, sizeof chw);
  /* saturation 0 makes red white-ish grey at its value (1): (1, 1, 1); exposure 0.5 halves */
  bm_hsv_adjust_chw(chw, 2, 1, 0, 0, 2, 1, 0, 0.0f, 0.5f);
  CHECK_NEAR(chw[0], 0.5, 1e-5);
  CHECK_NEAR(chw[2], 0.5, 1e-5);
  CHECK_NEAR(chw[4], 0.5, 1e-5);
  CHECK_NEAR(chw[1], 0.25, 1e-5);
  /* exposure above 1 clamps; only the given rectangle changes */
  memcpy(chw, copy, sizeof chw);
  bm_hsv_adjust_chw(chw, 2, 1, 1, 0, 2, 1, 0, 1.0f, 3.0f);
  CHECK(chw[0] == 1.0f && chw[2] == 0.0f); /* pixel 0 untouched */
  CHECK_NEAR(chw[1], 1.0, 1e-6);
  CHECK_NEAR(chw[5], 1.0, 1e-6);
}

static void test_drawing(void) {
  bm_image img = {12, 12, 3, calloc(12 * 12 * 3, 1)};
  const unsigned char white[3] = {255, 255, 255};
  /* box [2, 8) x [3, 9): outline on pixel columns 2 and 7, rows 3 and 8 */
  bm_image_draw_box(&img, 2, 3, 8, 9, white, 1);
#define PX(x, y) img.pixels[((y) * 12 + (x)) * 3]
  CHECK(PX(2, 3) == 255 && PX(7, 3) == 255 && PX(2, 8) == 255 && PX(7, 8) == 255);
  CHECK(PX(5, 3) == 255 && PX(2, 6) == 255 && PX(7, 6) == 255 && PX(5, 8) == 255);
  CHECK(PX(5, 5) == 0 && PX(1, 3) == 0 && PX(8, 3) == 0 && PX(5, 2) == 0 && PX(5, 9) == 0);
  /* boxes partly or wholly outside are clipped, not crashing */
  memset(img.pixels, 0, 12 * 12 * 3);
  bm_image_draw_box(&img, -20, -20, 100, 100, white, 3); /* outline entirely off the image */
  int lit = 0;
  for (int i = 0; i < 12 * 12 * 3; i++) lit += img.pixels[i] != 0;
  CHECK(lit == 0);
  bm_image_draw_box(&img, -2, -2, 6, 6, white, 3); /* edges on columns/rows -2..0 and 3..5 */
  CHECK(PX(0, 0) == 255 && PX(4, 1) == 255 && PX(1, 4) == 255 && PX(5, 5) == 255);
  CHECK(PX(1, 1) == 0 && PX(2, 2) == 0 && PX(6, 6) == 0);
  memset(img.pixels, 0, 12 * 12 * 3);
  /* "1" in the 5x7 font: top row ..#.., bottom row .###. */
  bm_image_draw_text(&img, 0, 0, "1", white, 1);
  CHECK(PX(2, 0) == 255 && PX(0, 0) == 0 && PX(1, 0) == 0 && PX(3, 0) == 0);
  CHECK(PX(1, 6) == 255 && PX(2, 6) == 255 && PX(3, 6) == 255 && PX(0, 6) == 0);
  memset(img.pixels, 0, 12 * 12 * 3);
  const unsigned char yellow[3] = {255, 255, 0};
  bm_image_draw_label(&img, 0, 0, "a", yellow, 1); /* no room above: drawn below */
  CHECK(img.pixels[0] == 255 && img.pixels[1] == 255 && img.pixels[2] == 0);
  /* the glyph (black on yellow) starts at (1, 1): "A" top row .###. */
  CHECK(PX(2, 1) == 0 && PX(1, 1) == 255);
#undef PX
  free(img.pixels);
}

int main(void) {
  test_voc_conversion();
  test_letterbox();
  test_stretch_and_resize();
  test_flip();
  test_jitter_geometry();
  test_drop_rule();
  test_pixels_follow_boxes();
  test_determinism();
  test_hsv();
  test_drawing();
  return bm_test_finish("test_augment");
}
