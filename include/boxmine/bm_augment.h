/* boxmine image geometry, augmentation and drawing.
 *
 * Coordinates. Inside this module every box is in 0-based continuous pixel coordinates:
 * pixel (i, j) is the unit square [i, i+1) x [j, j+1), its centre is (i + 0.5, j + 0.5), and
 * a box covering a whole W x H image is 0 0 W H. VOC files are 1-based and pixel-inclusive
 * (the whole image is 1 1 W H), so
 *     continuous = (x1 - 1, y1 - 1, x2, y2)        bm_box_from_voc
 *     VOC        = (x1 + 1, y1 + 1, x2, y2)        bm_box_to_voc
 * (a VOC box from pixel column a to column b inclusive covers [a-1, b) in 0-based continuous
 * terms, so the box's width b - a + 1 is preserved).
 *
 * Geometry. Every geometric step (letterbox, plain resize, scale/translate jitter,
 * horizontal flip) is an axis-aligned affine map from source to output coordinates,
 *     x_out = x_src * scale_x + shift_x,     y_out = y_src * scale_y + shift_y,
 * held in a bm_geom. A flip is a negative scale_x. Images are rendered by sampling the
 * source bilinearly at the pre-image of each output pixel centre (grey 127 outside the
 * source), and boxes go through the same map, so pixels and boxes always agree.
 *
 * Boxes after a geometric step are clipped to the output canvas, then dropped when
 *  - the clipped width or height is below opts->min_size output pixels (default 1), or
 *  - the clipped area is below opts->min_visible (default 0.25) of the box's unclipped area
 *    on the canvas (most of the object was pushed off the canvas by jitter).
 *
 * All randomness comes from the bm_rng passed in; the draws per call are fixed in number and
 * order, so the same seed gives the same output.
 */
#ifndef BM_AUGMENT_H
#define BM_AUGMENT_H

#include "boxmine/bm_data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A box in 0-based continuous pixel coordinates. */
typedef struct bm_box {
  float x1, y1, x2, y2;
} bm_box;

bm_box bm_box_from_voc(bm_box voc);
bm_box bm_box_to_voc(bm_box box);
/* The same conversions over the boxes of an object array, in place. */
void bm_objects_from_voc(bm_object *objects, int n_objects);
void bm_objects_to_voc(bm_object *objects, int n_objects);

/* Source -> output map: out = src * scale + shift, per axis. */
typedef struct bm_geom {
  int src_w, src_h; /* source image size */
  int out_w, out_h; /* output canvas size */
  float scale_x, scale_y;
  float shift_x, shift_y;
} bm_geom;

/* Keep aspect ratio, fit inside out_w x out_h, centre, pad with grey. */
bm_geom bm_geom_letterbox(int src_w, int src_h, int out_w, int out_h);
/* Stretch to out_w x out_h (aspect ratio not kept). */
bm_geom bm_geom_stretch(int src_w, int src_h, int out_w, int out_h);
/* The stretch darknet renders with (its resize_image): the corner pixel centres of source
 * and output coincide, so output pixel c samples source pixel c * (src - 1) / (out - 1).
 * For rendering only; boxes map back through bm_geom_stretch, as darknet's do. */
bm_geom bm_geom_stretch_corners(int src_w, int src_h, int out_w, int out_h);
/* Mirror the output canvas about its vertical centre line: x' = out_w - x. */
bm_geom bm_geom_flip_x(bm_geom geom);
/* Maps a box forward (source -> output) or back (output -> source); corners are reordered
 * after a flip so x1 <= x2 always. No clipping. */
bm_box bm_geom_forward(const bm_geom *geom, bm_box box);
bm_box bm_geom_inverse(const bm_geom *geom, bm_box box);

/* Transforms the boxes of objects (continuous coordinates) through geom, clips them to the
 * canvas and drops those that fail the rule above, keeping the survivors' order. Objects
 * clipped by more than half a pixel get truncated = 1. Returns the new count. */
int bm_geom_apply_objects(const bm_geom *geom, bm_object *objects, int n_objects,
                          float min_size, float min_visible);

/* Renders src (3-channel) through geom: float CHW RGB in [0, 1], 3 x out_h x out_w. */
void bm_geom_render_chw(const bm_image *src, const bm_geom *geom, float *out_chw);
/* Same as 8-bit interleaved RGB; dst gets a new out_w x out_h image. */
int bm_geom_render_image(const bm_image *src, const bm_geom *geom, bm_image *dst,
                         bm_error *err);
/* Plain bilinear resize (1 or 3 channels) into a new image. */
int bm_image_resize(const bm_image *src, int width, int height, bm_image *dst, bm_error *err);
/* Horizontal mirror in place: column i goes to column width - 1 - i. */
void bm_image_flip_x(bm_image *img);

/* ---- random augmentation for detector training ------------------------------------------ */
typedef struct bm_augment_opts {
  int net_w, net_h;  /* output size */
  float jitter;      /* darknet-style: each side of the crop moves by up to jitter * size */
  int flip;          /* 1: mirror with probability 0.5 */
  float hue;         /* hue shift uniform in [-hue, hue], as a fraction of the colour circle */
  float saturation;  /* saturation scaled by s or 1/s, s uniform in [1, saturation] */
  float exposure;    /* value (brightness) scaled likewise */
  float min_size;    /* box drop rule, output pixels */
  float min_visible; /* box drop rule, fraction of the box left on the canvas */
} bm_augment_opts;

/* No randomness: letterbox only. jitter 0.2, hue 0.1, saturation 1.5, exposure 1.5, flip 1
 * are typical training values. */
bm_augment_opts bm_augment_defaults(int net_w, int net_h);

/* The random part of one augmentation, drawn before any pixel is touched. */
typedef struct bm_augment_draw {
  bm_geom geom;  /* includes the flip */
  int flipped;
  float hue_shift; /* fraction of the circle */
  float sat_scale;
  float exp_scale;
} bm_augment_draw;

/* Draws the parameters: 4 jitter offsets, 1 flip coin, 5 colour numbers, always in this
 * order and number whatever the options, so the stream position never depends on them. */
bm_augment_draw bm_augment_random(const bm_augment_opts *opts, int src_w, int src_h,
                                  bm_rng *rng);
/* Scale/translate jitter: the crop window [dl, W - dr] x [dt, H - db] of the source
 * (negative offsets pad) is letterboxed into the output. */
bm_geom bm_geom_jitter(int src_w, int src_h, int out_w, int out_h, float dl, float dr,
                       float dt, float db);

/* HSV colour change of the pixels of a CHW [0,1] image inside the rectangle
 * [x0, x1) x [y0, y1) (the part covered by the picture, so the grey padding stays grey).
 * Results are clamped to [0, 1]. */
void bm_hsv_adjust_chw(float *chw, int width, int height, int x0, int y0, int x1, int y1,
                       float hue_shift, float sat_scale, float exp_scale);

/* One training sample: draws the parameters, renders src into out_chw (3 x net_h x net_w)
 * and transforms *n_objects objects (continuous coordinates, edited in place, dropped per
 * the rule). Returns what was drawn (for debugging and tests). */
bm_augment_draw bm_augment_sample(const bm_augment_opts *opts, const bm_image *src,
                                  bm_object *objects, int *n_objects, float *out_chw,
                                  bm_rng *rng);

/* ---- drawing (debug images, detect --draw) ------------------------------------------------ */
/* Outline of a box given in continuous coordinates, drawn inside the box edges, clipped to
 * the image. thickness in pixels (>= 1). */
void bm_image_draw_box(bm_image *img, float x1, float y1, float x2, float y2,
                       const unsigned char rgb[3], int thickness);
/* Text in a 5x7 pixel font (ASCII; lower case is drawn as upper case; unknown characters as
 * a box), each font pixel a scale x scale square, top-left corner at (x, y). */
void bm_image_draw_text(bm_image *img, int x, int y, const char *text,
                        const unsigned char rgb[3], int scale);
/* A label: text on a filled rgb rectangle, in black or white whichever reads better. Placed
 * above (x, y) when there is room, else below. */
void bm_image_draw_label(bm_image *img, int x, int y, const char *text,
                         const unsigned char rgb[3], int scale);

#ifdef __cplusplus
}
#endif
#endif
