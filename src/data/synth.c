/* One synthetic detection image: a textured background, then garments from Fashion-MNIST
 * scaled, tinted and alpha-blended one over another, with boxes read back from a per-pixel
 * owner map so each box is the tight box of what is really visible. The dataset writer is in
 * synth_run.c; the rules are in docs/SYNTH.md. */
#include "boxmine/bm_synth.h"

#include <math.h>
#include <string.h>

#include "boxmine/bm_augment.h"

const char *const bm_synth_class_names[BM_SYNTH_N_CLASSES] = {
    "tshirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt",   "sneaker",  "bag",   "ankleboot"};

/* Garment intensity (0..255) at which a pixel belongs to the garment: alpha 0.25. Fainter
 * fringe pixels are blended but neither boxed nor counted. */
#define VISIBLE_LEVEL 12
/* Intensity from which the garment hides the background completely. */
#define OPAQUE_LEVEL 48.0f
#define NO_OWNER 255
#define PI_F 3.14159265f

typedef struct rgbf {
  float r, g, b;
} rgbf;

static rgbf random_colour(bm_rng *rng) {
  rgbf c = {bm_rng_range(rng, 0, 255), bm_rng_range(rng, 0, 255), bm_rng_range(rng, 0, 255)};
  return c;
}

static rgbf mix(rgbf a, rgbf b, float t) {
  rgbf c = {a.r + t * (b.r - a.r), a.g + t * (b.g - a.g), a.b + t * (b.b - a.b)};
  return c;
}

static float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

/* A colour of hue h (0..1), saturation s and value v, on a 0..255 scale. */
static rgbf hsv_colour(float h, float s, float v) {
  float r = clampf(fabsf(h * 6 - 3) - 1, 0, 1), g = clampf(2 - fabsf(h * 6 - 2), 0, 1),
        b = clampf(2 - fabsf(h * 6 - 4), 0, 1);
  rgbf c = {255 * v * (1 - s + s * r), 255 * v * (1 - s + s * g), 255 * v * (1 - s + s * b)};
  return c;
}

static void put(float *canvas, int size, int x, int y, rgbf c) {
  float *p = canvas + ((size_t)y * size + x) * 3;
  p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

/* ---- backgrounds: each fills a size x size x 3 float canvas (0..255) ------------------------ */

static void bg_gradient(float *canvas, int size, bm_rng *rng) {
  rgbf a = random_colour(rng), b = random_colour(rng);
  float angle = bm_rng_range(rng, 0, 2 * PI_F), cs = cosf(angle), sn = sinf(angle);
  float half = 0.5f * (float)size;
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) {
      float t = ((x + 0.5f - half) * cs + (y + 0.5f - half) * sn) / (float)size + 0.5f;
      put(canvas, size, x, y, mix(a, b, clampf(t, 0, 1)));
    }
}

/* Value noise: random colours on a coarse lattice, smoothly interpolated. */
static void bg_clouds(float *canvas, int size, bm_rng *rng) {
  rgbf a = random_colour(rng), b = random_colour(rng);
  int cells = 2 + (int)bm_rng_below(rng, 7); /* 2..8 */
  rgbf lattice[9 * 9];
  for (int i = 0; i < (cells + 1) * (cells + 1); i++) lattice[i] = mix(a, b, bm_rng_uniform(rng));
  for (int y = 0; y < size; y++) {
    float gy = (y + 0.5f) / (float)size * (float)cells;
    int iy = (int)gy;
    if (iy >= cells) iy = cells - 1;
    float fy = gy - (float)iy;
    fy = fy * fy * (3 - 2 * fy);
    for (int x = 0; x < size; x++) {
      float gx = (x + 0.5f) / (float)size * (float)cells;
      int ix = (int)gx;
      if (ix >= cells) ix = cells - 1;
      float fx = gx - (float)ix;
      fx = fx * fx * (3 - 2 * fx);
      rgbf top = mix(lattice[iy * (cells + 1) + ix], lattice[iy * (cells + 1) + ix + 1], fx);
      rgbf bottom =
          mix(lattice[(iy + 1) * (cells + 1) + ix], lattice[(iy + 1) * (cells + 1) + ix + 1], fx);
      put(canvas, size, x, y, mix(top, bottom, fy));
    }
  }
}

static void bg_stripes(float *canvas, int size, bm_rng *rng) {
  rgbf a = random_colour(rng), b = random_colour(rng);
  float angle = bm_rng_range(rng, 0, PI_F), cs = cosf(angle), sn = sinf(angle);
  float period = bm_rng_range(rng, 6, 32), phase = bm_rng_range(rng, 0, 2 * PI_F);
  int hard = bm_rng_uniform(rng) < 0.5f;
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) {
      float t = 0.5f + 0.5f * sinf(2 * PI_F * (x * cs + y * sn) / period + phase);
      if (hard) t = t > 0.5f ? 1.0f : 0.0f;
      put(canvas, size, x, y, mix(a, b, t));
    }
}

/* Soft-edged discs of random colours over a flat base: clutter that is not a garment. */
static void bg_blobs(float *canvas, int size, bm_rng *rng) {
  rgbf base = random_colour(rng);
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) put(canvas, size, x, y, base);
  int n_blobs = 4 + (int)bm_rng_below(rng, 11);
  for (int k = 0; k < n_blobs; k++) {
    float cx = bm_rng_range(rng, 0, (float)size), cy = bm_rng_range(rng, 0, (float)size);
    float radius = bm_rng_range(rng, 0.03f * size, 0.25f * size);
    float opacity = bm_rng_range(rng, 0.4f, 1.0f);
    rgbf colour = random_colour(rng);
    int x0 = (int)fmaxf(0, cx - radius - 2), x1 = (int)fminf((float)size, cx + radius + 2);
    int y0 = (int)fmaxf(0, cy - radius - 2), y1 = (int)fminf((float)size, cy + radius + 2);
    for (int y = y0; y < y1; y++)
      for (int x = x0; x < x1; x++) {
        float d = hypotf(x + 0.5f - cx, y + 0.5f - cy);
        float a = clampf((radius - d) / 1.5f + 0.5f, 0, 1) * opacity;
        if (a <= 0) continue;
        float *p = canvas + ((size_t)y * size + x) * 3;
        rgbf old = {p[0], p[1], p[2]};
        put(canvas, size, x, y, mix(old, colour, a));
      }
  }
}

/* Low-contrast checkerboard. */
static void bg_checker(float *canvas, int size, bm_rng *rng) {
  rgbf a = random_colour(rng);
  rgbf b = {clampf(a.r + bm_rng_range(rng, -60, 60), 0, 255),
            clampf(a.g + bm_rng_range(rng, -60, 60), 0, 255),
            clampf(a.b + bm_rng_range(rng, -60, 60), 0, 255)};
  int cell = 6 + (int)bm_rng_below(rng, 30);
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) put(canvas, size, x, y, ((x / cell + y / cell) & 1) ? b : a);
}

static void draw_background(float *canvas, int size, int kind, bm_rng *rng) {
  switch (kind) {
  case 0: bg_gradient(canvas, size, rng); break;
  case 1: bg_clouds(canvas, size, rng); break;
  case 2: bg_stripes(canvas, size, rng); break;
  case 3: bg_blobs(canvas, size, rng); break;
  default: bg_checker(canvas, size, rng); break;
  }
}

/* One background kind, and half the time a second one laid over it at 20-50% opacity. */
static void compose_background(float *canvas, float *layer, int size, bm_rng *rng) {
  draw_background(canvas, size, (int)bm_rng_below(rng, 5), rng);
  if (bm_rng_uniform(rng) < 0.5f) {
    draw_background(layer, size, (int)bm_rng_below(rng, 5), rng);
    float opacity = bm_rng_range(rng, 0.2f, 0.5f);
    for (size_t i = 0; i < (size_t)size * size * 3; i++)
      canvas[i] += opacity * (layer[i] - canvas[i]);
  }
}

/* ---- garments -------------------------------------------------------------------------------- */

/* Per placed garment: how many of its pixels exist, fall on the canvas, and remain visible. */
typedef struct placed {
  int class_id;
  long n_full, n_in_canvas, n_visible;
} placed;

/* Picks a garment with at least a few visible pixels and returns its tight crop (a new
 * 1-channel image). */
static int pick_garment(const bm_mnist *pool, bm_rng *rng, bm_image *crop, int *class_id,
                        bm_error *err) {
  for (int attempt = 0; attempt < 100; attempt++) {
    int index = (int)bm_rng_below(rng, (uint32_t)pool->n);
    const unsigned char *src = pool->images + (size_t)index * pool->rows * pool->cols;
    int x0 = pool->cols, y0 = pool->rows, x1 = -1, y1 = -1;
    for (int y = 0; y < pool->rows; y++)
      for (int x = 0; x < pool->cols; x++)
        if (src[y * pool->cols + x] >= VISIBLE_LEVEL) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
    if (x1 - x0 < 2 || y1 - y0 < 2) continue; /* blank or a sliver: pick another */
    crop->width = x1 - x0 + 1;
    crop->height = y1 - y0 + 1;
    crop->channels = 1;
    crop->pixels = bm_malloc((size_t)crop->width * crop->height);
    if (!crop->pixels) return bm_fail(err, "out of memory");
    for (int y = 0; y < crop->height; y++)
      memcpy(crop->pixels + (size_t)y * crop->width, src + (y0 + y) * pool->cols + x0,
             (size_t)crop->width);
    *class_id = pool->labels[index];
    return 0;
  }
  return bm_fail(err, "the Fashion-MNIST pool has no usable garment images");
}

/* Counts, for the mask placed at (x0, y0), its pixels on the canvas and how many visible
 * pixels of each earlier garment it would cover. */
static long count_overlap(const bm_image *mask, int x0, int y0, int size,
                          const unsigned char *owner, long *covered, int n_placed) {
  long n_in_canvas = 0;
  memset(covered, 0, sizeof(long) * (size_t)n_placed);
  for (int j = 0; j < mask->height; j++) {
    int y = y0 + j;
    if (y < 0 || y >= size) continue;
    for (int i = 0; i < mask->width; i++) {
      int x = x0 + i;
      if (x < 0 || x >= size || mask->pixels[(size_t)j * mask->width + i] < VISIBLE_LEVEL)
        continue;
      n_in_canvas++;
      unsigned char who = owner[(size_t)y * size + x];
      if (who != NO_OWNER) covered[who]++;
    }
  }
  return n_in_canvas;
}

/* Alpha-blends the tinted garment; its visible pixels take over the owner map. */
static void paint_garment(float *canvas, unsigned char *owner, placed *garments, int size,
                          const bm_image *mask, int x0, int y0, rgbf tint, int k) {
  for (int j = 0; j < mask->height; j++) {
    int y = y0 + j;
    if (y < 0 || y >= size) continue;
    for (int i = 0; i < mask->width; i++) {
      int x = x0 + i;
      int level = mask->pixels[(size_t)j * mask->width + i];
      if (x < 0 || x >= size || level == 0) continue;
      float alpha = fminf(1.0f, (float)level / OPAQUE_LEVEL);
      float shade = 0.3f + 0.7f * (float)level / 255.0f; /* keeps the garment's texture */
      float *p = canvas + ((size_t)y * size + x) * 3;
      p[0] += alpha * (tint.r * shade - p[0]);
      p[1] += alpha * (tint.g * shade - p[1]);
      p[2] += alpha * (tint.b * shade - p[2]);
      if (level >= VISIBLE_LEVEL) {
        unsigned char *who = owner + (size_t)y * size + x;
        if (*who != NO_OWNER) garments[*who].n_visible--;
        *who = (unsigned char)k;
      }
    }
  }
}

/* Scales, places (up to 30 tries) and paints one garment. Returns 1 if placed, 0 if no
 * acceptable place was found, -1 on error. */
static int add_garment(const bm_mnist *pool, int size, float *canvas, unsigned char *owner,
                       placed *garments, int n_placed, bm_rng *rng, bm_error *err) {
  bm_image crop, mask;
  int class_id = 0;
  if (pick_garment(pool, rng, &crop, &class_id, err)) return -1;
  float long_side = bm_rng_range(rng, 0.1f * size, 0.45f * size);
  float aspect = sqrtf(bm_rng_range(rng, 0.85f, 1.15f));
  float scale = long_side / (float)(crop.width > crop.height ? crop.width : crop.height);
  int w = (int)lroundf((float)crop.width * scale * aspect);
  int h = (int)lroundf((float)crop.height * scale / aspect);
  w = w < 3 ? 3 : w > size ? size : w;
  h = h < 3 ? 3 : h > size ? size : h;
  int rc = bm_image_resize(&crop, w, h, &mask, err);
  bm_image_free(&crop);
  if (rc) return -1;
  long n_full = 0;
  for (long i = 0; i < (long)w * h; i++) n_full += mask.pixels[i] >= VISIBLE_LEVEL;

  int may_cross_border = bm_rng_uniform(rng) < 0.15f;
  long covered[BM_SYNTH_MAX_OBJECTS];
  int placed_ok = 0, x0 = 0, y0 = 0;
  long n_in_canvas = 0;
  for (int attempt = 0; attempt < 30 && !placed_ok; attempt++) {
    if (may_cross_border) {
      x0 = (int)floorf(bm_rng_range(rng, -0.5f * w, size - 0.5f * w));
      y0 = (int)floorf(bm_rng_range(rng, -0.5f * h, size - 0.5f * h));
    } else {
      x0 = (int)bm_rng_below(rng, (uint32_t)(size - w + 1));
      y0 = (int)bm_rng_below(rng, (uint32_t)(size - h + 1));
    }
    n_in_canvas = count_overlap(&mask, x0, y0, size, owner, covered, n_placed);
    if (n_in_canvas == 0 || 2 * n_in_canvas < n_full) continue;
    placed_ok = 1;
    /* every earlier garment must keep 30% of its on-canvas pixels in view */
    for (int j = 0; j < n_placed; j++)
      if (10 * (garments[j].n_visible - covered[j]) < 3 * garments[j].n_in_canvas) placed_ok = 0;
  }
  if (placed_ok) {
    rgbf tint = hsv_colour(bm_rng_uniform(rng), bm_rng_range(rng, 0.15f, 0.9f),
                           bm_rng_range(rng, 0.55f, 1.0f));
    placed *g = &garments[n_placed];
    g->class_id = class_id;
    g->n_full = n_full;
    g->n_in_canvas = n_in_canvas;
    g->n_visible = n_in_canvas;
    paint_garment(canvas, owner, garments, size, &mask, x0, y0, tint, n_placed);
  }
  bm_image_free(&mask);
  return placed_ok;
}

/* ---- the image -------------------------------------------------------------------------------- */

/* Boxes from the owner map, and the truncated / difficult flags (docs/SYNTH.md). */
static int read_objects(const unsigned char *owner, int size, const placed *garments,
                        int n_placed, bm_object *objects) {
  int x0[BM_SYNTH_MAX_OBJECTS], y0[BM_SYNTH_MAX_OBJECTS], x1[BM_SYNTH_MAX_OBJECTS],
      y1[BM_SYNTH_MAX_OBJECTS];
  for (int k = 0; k < n_placed; k++) x0[k] = y0[k] = size, x1[k] = y1[k] = -1;
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) {
      int k = owner[(size_t)y * size + x];
      if (k == NO_OWNER) continue;
      if (x < x0[k]) x0[k] = x;
      if (x > x1[k]) x1[k] = x;
      if (y < y0[k]) y0[k] = y;
      if (y > y1[k]) y1[k] = y;
    }
  int n = 0;
  for (int k = 0; k < n_placed; k++) {
    const placed *g = &garments[k];
    if (g->n_visible <= 0 || x1[k] < 0) continue;
    bm_object *o = &objects[n++];
    memset(o, 0, sizeof *o);
    o->class_id = g->class_id;
    /* pixel columns x0..x1 inclusive, 0-based -> VOC 1-based inclusive */
    o->x1 = (float)(x0[k] + 1), o->y1 = (float)(y0[k] + 1);
    o->x2 = (float)(x1[k] + 1), o->y2 = (float)(y1[k] + 1);
    o->truncated = g->n_in_canvas < g->n_full;
    int box_w = x1[k] - x0[k] + 1, box_h = y1[k] - y0[k] + 1;
    int occluded = 2 * (g->n_in_canvas - g->n_visible) > g->n_in_canvas;
    int tiny = box_w < 8 || box_h < 8;
    int mostly_gone = 10 * g->n_visible < 4 * g->n_full;
    o->difficult = occluded || tiny || mostly_gone;
    strcpy(o->pose, "Unspecified");
  }
  return n;
}

int bm_synth_compose(const bm_mnist *pool, const bm_synth_scene_opts *opts, bm_rng *rng,
                     bm_image *img, bm_object *objects, int *n_objects, bm_error *err) {
  int size = opts->size;
  memset(img, 0, sizeof *img);
  *n_objects = 0;
  if (size < 16 || size > 4096) return bm_fail(err, "synth: image size %d outside [16, 4096]", size);
  if (opts->min_objects < 0 || opts->max_objects < opts->min_objects ||
      opts->max_objects > BM_SYNTH_MAX_OBJECTS)
    return bm_fail(err, "synth: objects per image must satisfy 0 <= min <= max <= %d",
                   BM_SYNTH_MAX_OBJECTS);
  if (pool->n <= 0) return bm_fail(err, "synth: empty garment pool");
  size_t n_px = (size_t)size * size;
  float *canvas = bm_calloc(n_px * 3, sizeof(float));
  float *layer = bm_malloc(n_px * 3 * sizeof(float));
  unsigned char *owner = bm_malloc(n_px);
  unsigned char *pixels = bm_malloc(n_px * 3);
  int rc = 0;
  if (!canvas || !layer || !owner || !pixels) {
    rc = bm_fail(err, "out of memory for a %dx%d synthetic image", size, size);
    goto done;
  }
  if (!opts->plain_background) compose_background(canvas, layer, size, rng);
  memset(owner, NO_OWNER, n_px);
  int n_wanted = opts->min_objects +
                 (int)bm_rng_below(rng, (uint32_t)(opts->max_objects - opts->min_objects + 1));
  placed garments[BM_SYNTH_MAX_OBJECTS];
  int n_placed = 0;
  for (int k = 0; k < n_wanted; k++) {
    int got = add_garment(pool, size, canvas, owner, garments, n_placed, rng, err);
    if (got < 0) {
      rc = -1;
      goto done;
    }
    n_placed += got;
  }
  /* sensor-like noise, then 8 bits. The noise is the sum of the four bytes of one random
   * word (Irwin-Hall, close to Gaussian: mean 510, standard deviation 147.8): a tenth of the
   * cost of Box-Muller, which dominated the run time. */
  float sigma = opts->plain_background ? 0.0f : bm_rng_range(rng, 0.0f, 8.0f);
  float noise_scale = sigma / 147.8f;
  for (size_t i = 0; i < n_px * 3; i++) {
    float v = canvas[i];
    if (sigma > 0) {
      uint32_t r = bm_rng_u32(rng);
      int sum = (int)(r & 255) + (int)((r >> 8) & 255) + (int)((r >> 16) & 255) + (int)(r >> 24);
      v += noise_scale * (float)(sum - 510);
    }
    pixels[i] = (unsigned char)clampf(v + 0.5f, 0, 255);
  }
  *n_objects = read_objects(owner, size, garments, n_placed, objects);
  img->width = img->height = size;
  img->channels = 3;
  img->pixels = pixels;
  pixels = NULL;
done:
  bm_free(canvas);
  bm_free(layer);
  bm_free(owner);
  bm_free(pixels);
  return rc;
}
