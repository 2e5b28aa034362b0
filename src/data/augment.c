/* Image geometry and training augmentation: one axis-aligned affine map per sample, applied
 * identically to pixels (bilinear sampling at pre-images of output pixel centres) and to
 * boxes. See bm_augment.h for the coordinate convention and the box drop rule. */
#include "boxmine/bm_augment.h"

#include <math.h>
#include <string.h>

#define PAD_GREY 127

/* ---- VOC <-> continuous ------------------------------------------------------------------ */

bm_box bm_box_from_voc(bm_box voc) {
  bm_box box = {voc.x1 - 1.0f, voc.y1 - 1.0f, voc.x2, voc.y2};
  return box;
}

bm_box bm_box_to_voc(bm_box box) {
  bm_box voc = {box.x1 + 1.0f, box.y1 + 1.0f, box.x2, box.y2};
  return voc;
}

void bm_objects_from_voc(bm_object *objects, int n_objects) {
  for (int i = 0; i < n_objects; i++) objects[i].x1 -= 1.0f, objects[i].y1 -= 1.0f;
}

void bm_objects_to_voc(bm_object *objects, int n_objects) {
  for (int i = 0; i < n_objects; i++) objects[i].x1 += 1.0f, objects[i].y1 += 1.0f;
}

/* ---- geometry ------------------------------------------------------------------------------ */

bm_geom bm_geom_letterbox(int src_w, int src_h, int out_w, int out_h) {
  float sx = (float)out_w / (float)src_w, sy = (float)out_h / (float)src_h;
  float scale = sx < sy ? sx : sy;
  bm_geom geom = {src_w, src_h, out_w, out_h, scale, scale,
                  0.5f * ((float)out_w - (float)src_w * scale),
                  0.5f * ((float)out_h - (float)src_h * scale)};
  return geom;
}

bm_geom bm_geom_stretch(int src_w, int src_h, int out_w, int out_h) {
  bm_geom geom = {src_w, src_h, out_w, out_h, (float)out_w / (float)src_w,
                  (float)out_h / (float)src_h, 0.0f, 0.0f};
  return geom;
}

bm_geom bm_geom_stretch_corners(int src_w, int src_h, int out_w, int out_h) {
  bm_geom geom = bm_geom_stretch(src_w, src_h, out_w, out_h);
  /* x_out = (x_src - 0.5) * s + 0.5 in continuous coordinates (pixel centres at +0.5) */
  if (src_w > 1 && out_w > 1) {
    geom.scale_x = (float)(out_w - 1) / (float)(src_w - 1);
    geom.shift_x = 0.5f - 0.5f * geom.scale_x;
  }
  if (src_h > 1 && out_h > 1) {
    geom.scale_y = (float)(out_h - 1) / (float)(src_h - 1);
    geom.shift_y = 0.5f - 0.5f * geom.scale_y;
  }
  return geom;
}

bm_geom bm_geom_flip_x(bm_geom geom) {
  /* x' = out_w - (x * s + t) = x * (-s) + (out_w - t) */
  geom.scale_x = -geom.scale_x;
  geom.shift_x = (float)geom.out_w - geom.shift_x;
  return geom;
}

bm_geom bm_geom_jitter(int src_w, int src_h, int out_w, int out_h, float dl, float dr,
                       float dt, float db) {
  float win_w = (float)src_w - dl - dr, win_h = (float)src_h - dt - db;
  if (!(win_w >= 1.0f) || !(win_h >= 1.0f)) return bm_geom_letterbox(src_w, src_h, out_w, out_h);
  float sx = (float)out_w / win_w, sy = (float)out_h / win_h;
  float scale = sx < sy ? sx : sy;
  /* the window's left edge dl lands where a centred letterbox of the window starts */
  bm_geom geom = {src_w, src_h, out_w, out_h, scale, scale,
                  0.5f * ((float)out_w - win_w * scale) - dl * scale,
                  0.5f * ((float)out_h - win_h * scale) - dt * scale};
  return geom;
}

bm_box bm_geom_forward(const bm_geom *geom, bm_box box) {
  float ax = box.x1 * geom->scale_x + geom->shift_x, bx = box.x2 * geom->scale_x + geom->shift_x;
  float ay = box.y1 * geom->scale_y + geom->shift_y, by = box.y2 * geom->scale_y + geom->shift_y;
  bm_box out = {fminf(ax, bx), fminf(ay, by), fmaxf(ax, bx), fmaxf(ay, by)};
  return out;
}

bm_box bm_geom_inverse(const bm_geom *geom, bm_box box) {
  float ax = (box.x1 - geom->shift_x) / geom->scale_x, bx = (box.x2 - geom->shift_x) / geom->scale_x;
  float ay = (box.y1 - geom->shift_y) / geom->scale_y, by = (box.y2 - geom->shift_y) / geom->scale_y;
  bm_box out = {fminf(ax, bx), fminf(ay, by), fmaxf(ax, bx), fmaxf(ay, by)};
  return out;
}

int bm_geom_apply_objects(const bm_geom *geom, bm_object *objects, int n_objects,
                          float min_size, float min_visible) {
  int kept = 0;
  for (int i = 0; i < n_objects; i++) {
    bm_object obj = objects[i];
    bm_box box = bm_geom_forward(geom, (bm_box){obj.x1, obj.y1, obj.x2, obj.y2});
    float full_area = (box.x2 - box.x1) * (box.y2 - box.y1);
    bm_box clipped = {fmaxf(box.x1, 0.0f), fmaxf(box.y1, 0.0f), fminf(box.x2, (float)geom->out_w),
                      fminf(box.y2, (float)geom->out_h)};
    float w = clipped.x2 - clipped.x1, h = clipped.y2 - clipped.y1;
    if (!(w >= min_size) || !(h >= min_size) || w <= 0 || h <= 0) continue;
    if (full_area > 0 && w * h < min_visible * full_area) continue;
    float cut = fmaxf(fmaxf(clipped.x1 - box.x1, box.x2 - clipped.x2),
                      fmaxf(clipped.y1 - box.y1, box.y2 - clipped.y2));
    if (cut > 0.5f) obj.truncated = 1;
    obj.x1 = clipped.x1, obj.y1 = clipped.y1, obj.x2 = clipped.x2, obj.y2 = clipped.y2;
    objects[kept++] = obj;
  }
  return kept;
}

/* ---- rendering ------------------------------------------------------------------------------ */

/* Output pixels whose centres map inside the source: columns [*lo, *hi) of one axis. */
static void covered_range(float scale, float shift, int src_size, int out_size, int *lo, int *hi) {
  float a = shift, b = (float)src_size * scale + shift;
  if (a > b) {
    float t = a;
    a = b;
    b = t;
  }
  /* pixel i is covered when a <= i + 0.5 < b */
  int first = (int)ceilf(a - 0.5f), last = (int)ceilf(b - 0.5f);
  *lo = first < 0 ? 0 : first > out_size ? out_size : first;
  *hi = last < 0 ? 0 : last > out_size ? out_size : last;
}

/* Bilinear weights for sampling the source at continuous coordinate c (pixel centres at
 * i + 0.5); edges clamp. */
static void bilinear_tap(float c, int size, int *i0, int *i1, float *frac) {
  float u = c - 0.5f;
  float fl = floorf(u);
  int i = (int)fl;
  *frac = u - fl;
  *i0 = i < 0 ? 0 : i >= size ? size - 1 : i;
  *i1 = i + 1 < 0 ? 0 : i + 1 >= size ? size - 1 : i + 1;
}

/* Where output row y or column x samples the source: the two neighbouring source rows
 * (columns) and the weight of the second. */
typedef struct tap {
  int i0, i1;
  float frac;
} tap;

static tap tap_at(float scale, float shift, int size, int out_index) {
  tap t;
  bilinear_tap(((float)out_index + 0.5f - shift) / scale, size, &t.i0, &t.i1, &t.frac);
  return t;
}

/* The bilinear value of channel c (0..255) at the crossing of row tap ry and column tap rx. */
static inline float sample(const bm_image *src, tap ry, tap rx, int c) {
  int ch = src->channels;
  size_t row0 = (size_t)ry.i0 * src->width, row1 = (size_t)ry.i1 * src->width;
  float p00 = src->pixels[(row0 + rx.i0) * ch + c], p01 = src->pixels[(row0 + rx.i1) * ch + c];
  float p10 = src->pixels[(row1 + rx.i0) * ch + c], p11 = src->pixels[(row1 + rx.i1) * ch + c];
  float top = p00 + rx.frac * (p01 - p00), bottom = p10 + rx.frac * (p11 - p10);
  return top + ry.frac * (bottom - top);
}

/* The output rectangle [x_lo, x_hi) x [y_lo, y_hi) covered by the picture. */
static void covered_rect(const bm_image *src, const bm_geom *geom, int *x_lo, int *x_hi,
                         int *y_lo, int *y_hi) {
  covered_range(geom->scale_x, geom->shift_x, src->width, geom->out_w, x_lo, x_hi);
  covered_range(geom->scale_y, geom->shift_y, src->height, geom->out_h, y_lo, y_hi);
}

/* Columns are rendered in chunks of this many, so the column taps and two horizontally
 * interpolated source rows fit in fixed stack buffers: rendering allocates nothing and
 * cannot fail. */
#define RENDER_CHUNK 256

/* Source row `row`, interpolated horizontally at the n column taps (i0, i1, fx), into
 * dst[c][0 .. n) for channels c < n_channels. These are the `top` / `bottom` values of
 * sample(), computed with the same operations in the same order. */
static void interp_row(const bm_image *src, int row, const int *i0, const int *i1,
                       const float *fx, int n, int n_channels, float (*dst)[RENDER_CHUNK]) {
  int ch = src->channels;
  const unsigned char *line = src->pixels + (size_t)row * src->width * ch;
  for (int j = 0; j < n; j++) {
    const unsigned char *a = line + (size_t)i0[j] * ch, *b = line + (size_t)i1[j] * ch;
    for (int c = 0; c < n_channels; c++) {
      float p0 = a[c], p1 = b[c];
      dst[c][j] = p0 + fx[j] * (p1 - p0);
    }
  }
}

/* Separable form of sampling every output pixel with sample(): per column chunk the taps
 * are computed once, each source row is interpolated horizontally once (and reused by the
 * next output row when it needs the same source row, as in upscaling), and the vertical
 * blend runs over contiguous floats. Every output value is the same expression as
 * sample(...) * to_unit, evaluated in the same order, so the result is bit-identical to the
 * per-pixel form (the build does not contract a * b + c into fused multiply-adds). */
void bm_geom_render_chw(const bm_image *src, const bm_geom *geom, float *out_chw) {
  int out_w = geom->out_w, out_h = geom->out_h;
  size_t plane = (size_t)out_w * out_h;
  int x_lo, x_hi, y_lo, y_hi;
  covered_rect(src, geom, &x_lo, &x_hi, &y_lo, &y_hi);
  const float pad = PAD_GREY / 255.0f, to_unit = 1.0f / 255.0f;
  int n_channels = src->channels == 3 ? 3 : 1; /* grey sources fill all three planes from channel 0 */
  if (x_lo >= x_hi) y_hi = y_lo; /* nothing covered */
  for (int c = 0; c < 3; c++) {
    float *out = out_chw + c * plane;
    for (int y = 0; y < out_h; y++) {
      float *row = out + (size_t)y * out_w;
      int inside = y >= y_lo && y < y_hi;
      int left = inside ? x_lo : out_w, right = inside ? x_hi : out_w;
      for (int x = 0; x < left; x++) row[x] = pad;
      for (int x = right; x < out_w; x++) row[x] = pad;
    }
  }
  int i0[RENDER_CHUNK], i1[RENDER_CHUNK];
  float fx[RENDER_CHUNK];
  float rows[2][3][RENDER_CHUNK]; /* two interpolated source rows ... */
  for (int x0 = x_lo; x0 < x_hi; x0 += RENDER_CHUNK) {
    int n = x_hi - x0 < RENDER_CHUNK ? x_hi - x0 : RENDER_CHUNK;
    for (int j = 0; j < n; j++) {
      tap rx = tap_at(geom->scale_x, geom->shift_x, src->width, x0 + j);
      i0[j] = rx.i0, i1[j] = rx.i1, fx[j] = rx.frac;
    }
    int held[2] = {-1, -1}; /* ... and which source rows they are */
    for (int y = y_lo; y < y_hi; y++) {
      tap ry = tap_at(geom->scale_y, geom->shift_y, src->height, y);
      int top = held[0] == ry.i0 ? 0 : held[1] == ry.i0 ? 1 : -1;
      if (top < 0) {
        top = held[0] == ry.i1 ? 1 : 0; /* keep the bottom row if it is held */
        interp_row(src, ry.i0, i0, i1, fx, n, n_channels, rows[top]);
        held[top] = ry.i0;
      }
      int bottom = held[0] == ry.i1 ? 0 : held[1] == ry.i1 ? 1 : -1;
      if (bottom < 0) {
        bottom = 1 - top;
        interp_row(src, ry.i1, i0, i1, fx, n, n_channels, rows[bottom]);
        held[bottom] = ry.i1;
      }
      float fy = ry.frac;
      for (int c = 0; c < 3; c++) {
        const float *t = rows[top][n_channels == 3 ? c : 0], *b = rows[bottom][n_channels == 3 ? c : 0];
        float *out = out_chw + c * plane + (size_t)y * out_w + x0;
        for (int j = 0; j < n; j++) out[j] = (t[j] + fy * (b[j] - t[j])) * to_unit;
      }
    }
  }
}

int bm_geom_render_image(const bm_image *src, const bm_geom *geom, bm_image *dst,
                         bm_error *err) {
  int out_w = geom->out_w, out_h = geom->out_h, ch = src->channels;
  dst->width = out_w;
  dst->height = out_h;
  dst->channels = ch;
  dst->pixels = bm_malloc((size_t)out_w * out_h * ch);
  if (!dst->pixels) return bm_fail(err, "out of memory for a %dx%d image", out_w, out_h);
  int x_lo, x_hi, y_lo, y_hi;
  covered_rect(src, geom, &x_lo, &x_hi, &y_lo, &y_hi);
  for (int y = 0; y < out_h; y++) {
    unsigned char *row = dst->pixels + (size_t)y * out_w * ch;
    tap ry = tap_at(geom->scale_y, geom->shift_y, src->height, y);
    for (int x = 0; x < out_w; x++) {
      if (y < y_lo || y >= y_hi || x < x_lo || x >= x_hi) {
        memset(row + (size_t)x * ch, PAD_GREY, (size_t)ch);
        continue;
      }
      tap rx = tap_at(geom->scale_x, geom->shift_x, src->width, x);
      for (int c = 0; c < ch; c++) row[x * ch + c] = (unsigned char)(sample(src, ry, rx, c) + 0.5f);
    }
  }
  return 0;
}

int bm_image_resize(const bm_image *src, int width, int height, bm_image *dst, bm_error *err) {
  if (width <= 0 || height <= 0) return bm_fail(err, "cannot resize to %dx%d", width, height);
  bm_geom geom = bm_geom_stretch(src->width, src->height, width, height);
  return bm_geom_render_image(src, &geom, dst, err);
}

void bm_image_flip_x(bm_image *img) {
  int ch = img->channels;
  for (int y = 0; y < img->height; y++) {
    unsigned char *row = img->pixels + (size_t)y * img->width * ch;
    for (int a = 0, b = img->width - 1; a < b; a++, b--)
      for (int c = 0; c < ch; c++) {
        unsigned char t = row[a * ch + c];
        row[a * ch + c] = row[b * ch + c];
        row[b * ch + c] = t;
      }
  }
}

/* ---- colour --------------------------------------------------------------------------------- */

/* x clamped to [0, 1]. Both comparisons are made unconditionally (no ?: chain), which lets
 * the compiler turn the selects into vector blends: under IEEE trapping rules it may not
 * speculate a comparison that the source only makes on one branch. */
static inline float clamp01(float x) {
  int below = x < 0, above = x > 1;
  float y = above ? 1.0f : x;
  return below ? 0.0f : y;
}

/* floorf(x) from additions and selects only: GCC does not vectorise floorf itself under
 * the default IEEE trapping rules. Exact for every x: for |x| < 2^23, adding and removing
 * 2^23 (with x's sign) rounds x to the nearest integer, which is one too high when above x;
 * integer-valued x (including -0) and |x| >= 2^23 (all integers) come back as they are. */
static inline float floor_exact(float x) {
  const float two23 = 8388608.0f;
  float magic = copysignf(two23, x);
  float nearest = (x + magic) - magic;
  int above = nearest > x, exact = nearest == x, small = x > -two23 && x < two23;
  float fl = above ? nearest - 1.0f : nearest;
  fl = exact ? x : fl;
  return small ? fl : x;
}

/* The HSV round trip of one row of pixels (planes r, g, b; n pixels), written without
 * branches so the compiler can vectorise it. It evaluates, pixel by pixel, exactly the
 * operations of the textbook scalar form
 *     RGB -> HSV: v = max, s = delta / max (0 when max = 0), hue from the sector of the
 *                 largest channel (r first, then g, then b on ties), / 6, wrapped into [0, 1)
 *     shift hue (mod 1), scale saturation (clamped) and value
 *     HSV -> RGB: sector i = floor(6 h), f = 6 h - i, p = v (1 - s), q = v (1 - s f),
 *                 t = v (1 - s (1 - f)), channels picked by the sector
 * with every branch replaced by a select of already computed values, so the results are
 * bit-identical to it (tests/test_augment_fast.c checks against that form). */
static void hsv_adjust_row(float *restrict r, float *restrict g, float *restrict b, size_t n,
                           float hue_shift, float sat_scale, float exp_scale) {
  for (size_t k = 0; k < n; k++) {
    float rr = r[k], gg = g[k], bb = b[k];
    int r_gt_g = rr > gg, r_lt_g = rr < gg;
    float max = r_gt_g ? rr : gg, min = r_lt_g ? rr : gg;
    int max_gt_b = max > bb, min_lt_b = min < bb;
    max = max_gt_b ? max : bb;
    min = min_lt_b ? min : bb;
    float delta = max - min;
    int has_hue = delta > 0, lit = max > 0;
    float v = max;
    float s = delta / (lit ? max : 1.0f);
    s = lit ? s : 0.0f;
    float safe_delta = has_hue ? delta : 1.0f;
    /* the sector's numerator is picked before the one division: (g - b) / delta,
     * 2 + (b - r) / delta or 4 + (r - g) / delta */
    int max_is_r = max == rr, max_is_g = max == gg;
    float numerator = max_is_g ? bb - rr : rr - gg;
    numerator = max_is_r ? gg - bb : numerator;
    float offset = max_is_g ? 2.0f : 4.0f;
    float quotient = numerator / safe_delta;
    float hue = max_is_r ? quotient : offset + quotient;
    hue /= 6.0f;
    int wrap = hue < 0;
    hue = wrap ? hue + 1.0f : hue;
    float h = has_hue ? hue : 0.0f;
    h += hue_shift;
    h -= floor_exact(h);
    s = clamp01(s * sat_scale);
    v *= exp_scale; /* may exceed 1 before conversion; the result is clamped */
    float sector = h * 6.0f;
    float i = floor_exact(sector); /* 0 .. 6 since h is in [0, 1]; sector 6 is sector 0 */
    float f = sector - i;
    float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    int s0 = (i == 0) | (i == 6), s1 = i == 1, s2 = i == 2, s3 = i == 3, s4 = i == 4, s5 = i == 5;
    /* sector: 0 1 2 3 4 5 -> r v q p p t v, g t v v q p p, b p p t v v q */
    /* one two-way select per statement: chains of ?: merge into a many-way choice that the
     * compiler does not vectorise */
    float out_r = s4 ? t : p;
    out_r = s1 ? q : out_r;
    out_r = (s0 | s5) ? v : out_r;
    float out_g = s3 ? q : p;
    out_g = s0 ? t : out_g;
    out_g = (s1 | s2) ? v : out_g;
    float out_b = s5 ? q : p;
    out_b = s2 ? t : out_b;
    out_b = (s3 | s4) ? v : out_b;
    r[k] = clamp01(out_r);
    g[k] = clamp01(out_g);
    b[k] = clamp01(out_b);
  }
}

void bm_hsv_adjust_chw(float *chw, int width, int height, int x0, int y0, int x1, int y1,
                       float hue_shift, float sat_scale, float exp_scale) {
  if (hue_shift == 0 && sat_scale == 1 && exp_scale == 1) return;
  if (x1 <= x0) return;
  size_t plane = (size_t)width * height;
  for (int y = y0; y < y1; y++) {
    float *r = chw + (size_t)y * width + x0;
    hsv_adjust_row(r, r + plane, r + 2 * plane, (size_t)(x1 - x0), hue_shift, sat_scale, exp_scale);
  }
}

/* ---- random augmentation --------------------------------------------------------------------- */

bm_augment_opts bm_augment_defaults(int net_w, int net_h) {
  bm_augment_opts opts = {net_w, net_h, 0.0f, 0, 0.0f, 1.0f, 1.0f, 1.0f, 0.25f};
  return opts;
}

/* s or 1/s with equal chance, s uniform in [1, max_scale]: darknet's colour scale. Always two
 * draws. */
static float random_scale(bm_rng *rng, float max_scale) {
  float s = bm_rng_range(rng, 1.0f, max_scale < 1.0f ? 1.0f : max_scale);
  return bm_rng_uniform(rng) < 0.5f ? s : 1.0f / s;
}

bm_augment_draw bm_augment_random(const bm_augment_opts *opts, int src_w, int src_h,
                                  bm_rng *rng) {
  bm_augment_draw draw;
  float jw = opts->jitter * (float)src_w, jh = opts->jitter * (float)src_h;
  float dl = bm_rng_range(rng, -jw, jw), dr = bm_rng_range(rng, -jw, jw);
  float dt = bm_rng_range(rng, -jh, jh), db = bm_rng_range(rng, -jh, jh);
  draw.geom = bm_geom_jitter(src_w, src_h, opts->net_w, opts->net_h, dl, dr, dt, db);
  draw.flipped = bm_rng_uniform(rng) < 0.5f && opts->flip;
  if (draw.flipped) draw.geom = bm_geom_flip_x(draw.geom);
  draw.hue_shift = bm_rng_range(rng, -opts->hue, opts->hue);
  draw.sat_scale = random_scale(rng, opts->saturation);
  draw.exp_scale = random_scale(rng, opts->exposure);
  return draw;
}

bm_augment_draw bm_augment_sample(const bm_augment_opts *opts, const bm_image *src,
                                  bm_object *objects, int *n_objects, float *out_chw,
                                  bm_rng *rng) {
  bm_augment_draw draw = bm_augment_random(opts, src->width, src->height, rng);
  bm_geom_render_chw(src, &draw.geom, out_chw);
  int x_lo, x_hi, y_lo, y_hi;
  covered_rect(src, &draw.geom, &x_lo, &x_hi, &y_lo, &y_hi);
  bm_hsv_adjust_chw(out_chw, opts->net_w, opts->net_h, x_lo, y_lo, x_hi, y_hi, draw.hue_shift,
                    draw.sat_scale, draw.exp_scale);
  *n_objects = bm_geom_apply_objects(&draw.geom, objects, *n_objects, opts->min_size,
                                     opts->min_visible);
  return draw;
}
