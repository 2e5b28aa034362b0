/* The fast (separable, branch-free) rendering and HSV code of src/data/augment.c against
 * straightforward per-pixel references written here: the bilinear sample at the pre-image of
 * every output pixel centre, and the textbook RGB -> HSV -> RGB round trip with branches.
 * The library promises bit-identical results (training runs must not change), so the
 * comparisons are exact, over many random geometries (up- and downscaling, flips, jitter that
 * leaves padding on every side, canvases wider than the renderer's column chunk, grey
 * sources) and over random and adversarial colours (ties between channels, black, white). */
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_augment.h"
#include "testlib.h"

/* ---- reference rendering: one output pixel at a time -------------------------------------- */

static float ref_clampf_index(float u, int size, int *i0, int *i1) {
  float fl = floorf(u);
  int i = (int)fl;
  *i0 = i < 0 ? 0 : i >= size ? size - 1 : i;
  *i1 = i + 1 < 0 ? 0 : i + 1 >= size ? size - 1 : i + 1;
  return u - fl;
}

/* Value (0..255) of channel c of src sampled bilinearly at continuous (sx, sy), pixel centres
 * at i + 0.5, edges clamped; horizontal first, then vertical. */
static float ref_sample(const bm_image *src, float sx, float sy, int c) {
  int x0, x1, y0, y1;
  float fx = ref_clampf_index(sx - 0.5f, src->width, &x0, &x1);
  float fy = ref_clampf_index(sy - 0.5f, src->height, &y0, &y1);
  int ch = src->channels;
  float p00 = src->pixels[((size_t)y0 * src->width + x0) * ch + c];
  float p01 = src->pixels[((size_t)y0 * src->width + x1) * ch + c];
  float p10 = src->pixels[((size_t)y1 * src->width + x0) * ch + c];
  float p11 = src->pixels[((size_t)y1 * src->width + x1) * ch + c];
  float top = p00 + fx * (p01 - p00), bottom = p10 + fx * (p11 - p10);
  return top + fy * (bottom - top);
}

/* Whether output pixel i's centre, i + 0.5, lies on the source along one axis: between the
 * images of the source's two edges, 0 -> shift and size -> size * scale + shift (either
 * order: a flip makes scale negative), the lower edge included. */
static int ref_covers(float scale, float shift, int src_size, int i) {
  float a = shift, b = (float)src_size * scale + shift, centre = (float)i + 0.5f;
  return a <= b ? centre >= a && centre < b : centre >= b && centre < a;
}

static void ref_render_chw(const bm_image *src, const bm_geom *g, float *out) {
  size_t plane = (size_t)g->out_w * g->out_h;
  for (int y = 0; y < g->out_h; y++)
    for (int x = 0; x < g->out_w; x++) {
      size_t k = (size_t)y * g->out_w + x;
      if (!ref_covers(g->scale_y, g->shift_y, src->height, y) ||
          !ref_covers(g->scale_x, g->shift_x, src->width, x)) {
        out[k] = out[plane + k] = out[2 * plane + k] = 127 / 255.0f;
        continue;
      }
      float sx = ((float)x + 0.5f - g->shift_x) / g->scale_x;
      float sy = ((float)y + 0.5f - g->shift_y) / g->scale_y;
      for (int c = 0; c < 3; c++)
        out[c * plane + k] = ref_sample(src, sx, sy, src->channels == 3 ? c : 0) * (1.0f / 255.0f);
    }
}

/* ---- reference HSV round trip ----------------------------------------------------------- */

static float ref_clamp01(float x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

static void ref_hsv_pixel(float *r, float *g, float *b, float hue_shift, float sat_scale,
                          float exp_scale) {
  float max = fmaxf(*r, fmaxf(*g, *b)), min = fminf(*r, fminf(*g, *b)), delta = max - min;
  float h = 0, s = max > 0 ? delta / max : 0, v = max;
  if (delta > 0) {
    if (max == *r) h = (*g - *b) / delta;
    else if (max == *g) h = 2.0f + (*b - *r) / delta;
    else h = 4.0f + (*r - *g) / delta;
    h /= 6.0f;
    if (h < 0) h += 1.0f;
  }
  h += hue_shift;
  h -= floorf(h);
  s = ref_clamp01(s * sat_scale);
  v *= exp_scale;
  float sector = h * 6.0f;
  int i = (int)floorf(sector);
  float f = sector - (float)i;
  float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  float out[3];
  switch (i % 6) {
  case 0: out[0] = v, out[1] = t, out[2] = p; break;
  case 1: out[0] = q, out[1] = v, out[2] = p; break;
  case 2: out[0] = p, out[1] = v, out[2] = t; break;
  case 3: out[0] = p, out[1] = q, out[2] = v; break;
  case 4: out[0] = t, out[1] = p, out[2] = v; break;
  default: out[0] = v, out[1] = p, out[2] = q; break;
  }
  *r = ref_clamp01(out[0]);
  *g = ref_clamp01(out[1]);
  *b = ref_clamp01(out[2]);
}

/* ---- tests ------------------------------------------------------------------------------- */

static bm_image random_image(bm_rng *rng, int width, int height, int channels) {
  bm_image img = {width, height, channels, malloc((size_t)width * height * channels)};
  for (size_t i = 0; i < (size_t)width * height * channels; i++)
    img.pixels[i] = (unsigned char)(bm_rng_u32(rng) & 255);
  return img;
}

static int count_differences(const float *a, const float *b, size_t n) {
  int bad = 0;
  for (size_t i = 0; i < n; i++) bad += memcmp(&a[i], &b[i], sizeof(float)) != 0;
  return bad;
}

static void test_render_matches_reference(void) {
  bm_rng rng;
  bm_rng_seed(&rng, 2024, 7);
  int n_cases = 0, n_flipped = 0, n_padded = 0;
  for (int trial = 0; trial < 120; trial++) {
    int src_w = 1 + (int)bm_rng_below(&rng, trial % 10 == 0 ? 600 : 90);
    int src_h = 1 + (int)bm_rng_below(&rng, 90);
    int out_w = 1 + (int)bm_rng_below(&rng, trial % 7 == 0 ? 700 : 120);
    int out_h = 1 + (int)bm_rng_below(&rng, 120);
    int channels = trial % 9 == 4 ? 1 : 3;
    bm_image img = random_image(&rng, src_w, src_h, channels);
    float j = 0.4f;
    bm_geom g = bm_geom_jitter(src_w, src_h, out_w, out_h,
                               bm_rng_range(&rng, -j, j) * src_w, bm_rng_range(&rng, -j, j) * src_w,
                               bm_rng_range(&rng, -j, j) * src_h, bm_rng_range(&rng, -j, j) * src_h);
    if (trial % 5 == 1) g = bm_geom_stretch(src_w, src_h, out_w, out_h);
    if (bm_rng_uniform(&rng) < 0.5f) {
      g = bm_geom_flip_x(g);
      n_flipped++;
    }
    size_t n = (size_t)3 * out_w * out_h;
    float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) got[i] = -1.0f; /* every value must be written */
    ref_render_chw(&img, &g, want);
    bm_geom_render_chw(&img, &g, got);
    int bad = count_differences(want, got, n);
    CHECK_MSG(bad == 0, "trial %d: %dx%dx%d -> %dx%d (scale %g %g shift %g %g): %d of %zu values differ",
              trial, src_w, src_h, channels, out_w, out_h, g.scale_x, g.scale_y, g.shift_x,
              g.shift_y, bad, n);
    n_padded += want[0] == 127 / 255.0f;
    n_cases++;
    free(want);
    free(got);
    free(img.pixels);
  }
  CHECK(n_cases == 120 && n_flipped > 30 && n_padded > 10);
}

static void test_render_upscale_and_edges(void) {
  /* 3x2 source onto 400x300: many output rows share source rows (the renderer's row reuse),
   * the canvas is wider than one column chunk, and the clamped edges repeat rows 0 and 1 */
  bm_rng rng;
  bm_rng_seed(&rng, 9, 9);
  bm_image img = random_image(&rng, 3, 2, 3);
  bm_geom geoms[3] = {bm_geom_stretch(3, 2, 400, 300), bm_geom_letterbox(3, 2, 400, 300),
                      bm_geom_flip_x(bm_geom_letterbox(3, 2, 300, 400))};
  for (int k = 0; k < 3; k++) {
    size_t n = (size_t)3 * geoms[k].out_w * geoms[k].out_h;
    float *want = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    ref_render_chw(&img, &geoms[k], want);
    bm_geom_render_chw(&img, &geoms[k], got);
    CHECK_MSG(count_differences(want, got, n) == 0, "upscale geometry %d differs", k);
    free(want);
    free(got);
  }
  /* a window entirely off the source: all padding */
  bm_geom off = bm_geom_stretch(3, 2, 10, 10);
  off.shift_x = 50;
  float out[300];
  bm_geom_render_chw(&img, &off, out);
  int grey = 0;
  for (int i = 0; i < 300; i++) grey += out[i] == 127 / 255.0f;
  CHECK(grey == 300);
  free(img.pixels);
}

static void test_hsv_matches_reference(void) {
  enum { W = 61, H = 37 }; /* odd sizes: vector loops have remainders */
  size_t plane = (size_t)W * H;
  float *chw = malloc(3 * plane * sizeof(float)), *want = malloc(3 * plane * sizeof(float));
  bm_rng rng;
  bm_rng_seed(&rng, 31, 4);
  const float levels[6] = {0.0f, 1.0f, 0.5f, 1.0f / 255.0f, 254.0f / 255.0f, 0.25f};
  int n_checked = 0;
  for (int trial = 0; trial < 60; trial++) {
    for (size_t k = 0; k < plane; k++) {
      float r = bm_rng_uniform(&rng), g = bm_rng_uniform(&rng), b = bm_rng_uniform(&rng);
      switch (k % 7) { /* ties and extremes take the branches the random values rarely do */
      case 0: g = r; break;
      case 1: b = r; break;
      case 2: b = g; break;
      case 3: r = g = b; break;
      case 4: r = levels[k % 6], g = levels[(k / 6) % 6], b = levels[(k / 36) % 6]; break;
      default: r = (float)(bm_rng_u32(&rng) & 255) / 255.0f; break;
      }
      chw[k] = r, chw[plane + k] = g, chw[2 * plane + k] = b;
    }
    float hue = bm_rng_range(&rng, -0.6f, 0.6f);
    if (trial % 6 == 0) hue = 0; /* only saturation / exposure */
    if (trial % 6 == 1) hue = trial < 30 ? -1.0f : 1.0f; /* whole turns */
    if (trial == 2) hue = -1e-8f; /* wraps to just below 1 */
    float sat = bm_rng_range(&rng, 0.0f, 2.5f), expo = bm_rng_range(&rng, 0.3f, 2.5f);
    if (trial % 4 == 3) sat = 1.0f / sat;
    int x0 = (int)bm_rng_below(&rng, 8), y0 = (int)bm_rng_below(&rng, 5);
    int x1 = W - (int)bm_rng_below(&rng, 8), y1 = H - (int)bm_rng_below(&rng, 5);
    memcpy(want, chw, 3 * plane * sizeof(float));
    for (int y = y0; y < y1; y++)
      for (int x = x0; x < x1; x++) {
        size_t k = (size_t)y * W + x;
        ref_hsv_pixel(&want[k], &want[plane + k], &want[2 * plane + k], hue, sat, expo);
      }
    bm_hsv_adjust_chw(chw, W, H, x0, y0, x1, y1, hue, sat, expo);
    int bad = count_differences(want, chw, 3 * plane);
    CHECK_MSG(bad == 0, "trial %d (hue %g sat %g exposure %g): %d of %zu values differ", trial,
              hue, sat, expo, bad, 3 * plane);
    n_checked++;
  }
  CHECK(n_checked == 60);
  free(chw);
  free(want);
}

int main(void) {
  test_render_matches_reference();
  test_render_upscale_and_edges();
  test_hsv_matches_reference();
  return bm_test_finish("test_augment_fast");
}
