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

void bm_geom_render_chw(const bm_image *src, const bm_geom *geom, float *out_chw) {
  int out_w = geom->out_w, out_h = geom->out_h;
  size_t plane = (size_t)out_w * out_h;
  int x_lo, x_hi, y_lo, y_hi;
  covered_rect(src, geom, &x_lo, &x_hi, &y_lo, &y_hi);
  const float pad = PAD_GREY / 255.0f, to_unit = 1.0f / 255.0f;
  int grey = src->channels != 3; /* grey sources fill all three planes from channel 0 */
  for (int y = 0; y < out_h; y++) {
    float *r = out_chw + (size_t)y * out_w, *g = r + plane, *b = g + plane;
    int row_in = y >= y_lo && y < y_hi;
    tap ry = tap_at(geom->scale_y, geom->shift_y, src->height, y);
    for (int x = 0; x < out_w; x++) {
      if (!row_in || x < x_lo || x >= x_hi) {
        r[x] = g[x] = b[x] = pad;
        continue;
      }
      tap rx = tap_at(geom->scale_x, geom->shift_x, src->width, x);
      r[x] = sample(src, ry, rx, 0) * to_unit;
      g[x] = grey ? r[x] : sample(src, ry, rx, 1) * to_unit;
      b[x] = grey ? r[x] : sample(src, ry, rx, 2) * to_unit;
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

/* RGB in [0,1] -> hue in [0,1), saturation and value in [0,1]. */
static void rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v) {
  float max = fmaxf(r, fmaxf(g, b)), min = fminf(r, fminf(g, b));
  float delta = max - min;
  *v = max;
  *s = max > 0 ? delta / max : 0;
  if (delta <= 0) {
    *h = 0;
    return;
  }
  float hue;
  if (max == r) hue = (g - b) / delta;
  else if (max == g) hue = 2.0f + (b - r) / delta;
  else hue = 4.0f + (r - g) / delta;
  hue /= 6.0f;
  if (hue < 0) hue += 1.0f;
  *h = hue;
}

static void hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b) {
  float sector = h * 6.0f;
  int i = (int)floorf(sector);
  float f = sector - (float)i;
  float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (((i % 6) + 6) % 6) {
  case 0: *r = v, *g = t, *b = p; break;
  case 1: *r = q, *g = v, *b = p; break;
  case 2: *r = p, *g = v, *b = t; break;
  case 3: *r = p, *g = q, *b = v; break;
  case 4: *r = t, *g = p, *b = v; break;
  default: *r = v, *g = p, *b = q; break;
  }
}

static float clamp01(float x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

void bm_hsv_adjust_chw(float *chw, int width, int height, int x0, int y0, int x1, int y1,
                       float hue_shift, float sat_scale, float exp_scale) {
  if (hue_shift == 0 && sat_scale == 1 && exp_scale == 1) return;
  size_t plane = (size_t)width * height;
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) {
      size_t k = (size_t)y * width + x;
      float h, s, v;
      rgb_to_hsv(chw[k], chw[plane + k], chw[2 * plane + k], &h, &s, &v);
      h += hue_shift;
      h -= floorf(h);
      s = clamp01(s * sat_scale);
      v *= exp_scale; /* may exceed 1 before conversion; the result is clamped */
      float r, g, b;
      hsv_to_rgb(h, s, v, &r, &g, &b);
      chw[k] = clamp01(r);
      chw[plane + k] = clamp01(g);
      chw[2 * plane + k] = clamp01(b);
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
