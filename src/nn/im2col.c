/* im2col / col2im for NHWC tensors. Output pixels are numbered across the batch,
 * r = (b * out_h + oy) * out_w + ox, and col holds one row per output pixel: the k x k input
 * window, tap-major and channel-minor,
 *   col[r - r0][(ky * k + kx) * cg + ci]
 *     = in[b][oy * stride - pad + ky][ox * stride - pad + kx][c0 + ci]
 * (0 outside the image), which matches conv weights stored [filters][k][k][c/groups].
 * Channels [c0, c0 + cg) select one group of a grouped convolution. */
#include <string.h>

#include "nn/nn.h"

/* Below this many floats of col, one thread does the copy. */
#define NN_COPY_SPLIT_MIN 65536

/* Runs are often short (3 taps x 3 channels = 9 floats for a first layer), where a memcpy
 * call costs more than the copy: copy 8 floats at a time, the tail as one overlapping block. */
typedef float v8f __attribute__((vector_size(32), aligned(4), may_alias));

static inline void copy_floats(float *dst, const float *src, size_t n) {
  if (n < 8) {
    for (size_t i = 0; i < n; i++) dst[i] = src[i];
    return;
  }
  size_t i = 0;
  for (; i + 8 <= n; i += 8) *(v8f *)(dst + i) = *(const v8f *)(src + i);
  if (i < n) *(v8f *)(dst + n - 8) = *(const v8f *)(src + n - 8);
}

static inline void zero_floats(float *dst, size_t n) {
  const v8f zero = {0};
  if (n < 8) {
    for (size_t i = 0; i < n; i++) dst[i] = 0.0f;
    return;
  }
  size_t i = 0;
  for (; i + 8 <= n; i += 8) *(v8f *)(dst + i) = zero;
  if (i < n) *(v8f *)(dst + n - 8) = zero;
}

/* col rows [first, end) (row r at col + (r - r0) * row_len), one output row (b, oy) at a
 * time so that the input rows of the window are looked up once per output row. */
static void im2col_range(const nn_conv_geom *g, const float *in, size_t r0, size_t first,
                         size_t end, float *col) {
  size_t row_len = (size_t)g->size * g->size * g->cg, plane = (size_t)g->out_h * g->out_w;
  size_t run = (size_t)g->size * g->in_c; /* floats of one window row when cg == in_c */
  const float *src_rows[16];              /* input row of each ky (NULL: outside) */
  for (size_t r = first; r < end;) {
    int b = (int)(r / plane), oy = (int)(r % plane) / g->out_w, ox = (int)(r % plane) % g->out_w;
    int ox_end = g->out_w;
    if (end - r < (size_t)(ox_end - ox)) ox_end = ox + (int)(end - r);
    for (int ky = 0; ky < g->size; ky++) {
      int iy = oy * g->stride - g->pad + ky;
      size_t at = (((size_t)b * g->in_h + iy) * g->in_w) * g->in_c + g->c0;
      src_rows[ky] = iy < 0 || iy >= g->in_h ? NULL : in + at;
    }
    for (; ox < ox_end; ox++, r++) {
      float *dst = col + (r - r0) * row_len;
      int x0 = ox * g->stride - g->pad;
      int whole_rows = g->cg == g->in_c && x0 >= 0 && x0 + g->size <= g->in_w;
      for (int ky = 0; ky < g->size; ky++) {
        float *tap = dst + (size_t)ky * g->size * g->cg;
        const float *src = src_rows[ky];
        if (!src) {
          zero_floats(tap, (size_t)g->size * g->cg);
        } else if (whole_rows) { /* the window row is one contiguous run */
          copy_floats(tap, src + (size_t)x0 * g->in_c, run);
        } else {
          for (int kx = 0; kx < g->size; kx++) {
            int ix = x0 + kx;
            if (ix < 0 || ix >= g->in_w)
              zero_floats(tap + (size_t)kx * g->cg, g->cg);
            else
              copy_floats(tap + (size_t)kx * g->cg, src + (size_t)ix * g->in_c, g->cg);
          }
        }
      }
    }
  }
}

void nn_im2col(const nn_conv_geom *g, const float *in, size_t r0, size_t r1, float *col,
               int threads) {
  size_t row_len = (size_t)g->size * g->size * g->cg;
  int parts = (r1 - r0) * row_len >= NN_COPY_SPLIT_MIN ? threads : 1;
  if (parts == 1) {
    im2col_range(g, in, r0, r0, r1, col);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int p = 0; p < parts; p++) {
    size_t first, end;
    nn_part(r1 - r0, parts, p, &first, &end);
    im2col_range(g, in, r0, r0 + first, r0 + end, col);
  }
}

/* The adjoint of nn_im2col for rows [r0, r1), on the calling thread. */
void nn_col2im_add(const nn_conv_geom *g, const float *col, size_t r0, size_t r1, float *din) {
  size_t row_len = (size_t)g->size * g->size * g->cg;
  size_t plane = (size_t)g->out_h * g->out_w;
  int b = (int)(r0 / plane), oy = (int)(r0 % plane) / g->out_w, ox = (int)(r0 % plane) % g->out_w;
  for (size_t r = r0; r < r1; r++) {
    const float *src = col + (r - r0) * row_len;
    float *din_b = din + (size_t)b * g->in_h * g->in_w * g->in_c + g->c0;
    for (int ky = 0; ky < g->size; ky++) {
      int iy = oy * g->stride - g->pad + ky;
      if (iy < 0 || iy >= g->in_h) continue;
      for (int kx = 0; kx < g->size; kx++) {
        int ix = ox * g->stride - g->pad + kx;
        if (ix < 0 || ix >= g->in_w) continue;
        float *dst = din_b + ((size_t)iy * g->in_w + ix) * g->in_c;
        const float *s = src + (size_t)(ky * g->size + kx) * g->cg;
        for (int ci = 0; ci < g->cg; ci++) dst[ci] += s[ci];
      }
    }
    if (++ox == g->out_w) {
      ox = 0;
      if (++oy == g->out_h) {
        oy = 0;
        b++;
      }
    }
  }
}

/* The same for whole images [b0, b1) (col row 0 is image b0's first pixel), on several
 * threads: written as a gather over input rows, so threads never write the same element and
 * each element sums its contributions in the same order whatever the thread count. */
void nn_col2im_gather_add(const nn_conv_geom *g, const float *col, int b0, int b1, float *din,
                          int threads) {
  int rows = (b1 - b0) * g->in_h;
  size_t row_len = (size_t)g->size * g->size * g->cg;
  int parts = (size_t)(b1 - b0) * g->out_h * g->out_w * row_len >= NN_COPY_SPLIT_MIN ? threads : 1;
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int r = 0; r < rows; r++) {
    int b = b0 + r / g->in_h, iy = r % g->in_h;
    float *dst_row = din + (((size_t)b * g->in_h + iy) * g->in_w) * g->in_c + g->c0;
    for (int ky = 0; ky < g->size; ky++) {
      int t = iy + g->pad - ky;
      if (t < 0 || t % g->stride) continue;
      int oy = t / g->stride;
      if (oy >= g->out_h) continue;
      const float *src_row = col + ((size_t)(b - b0) * g->out_h + oy) * g->out_w * row_len;
      for (int ox = 0; ox < g->out_w; ox++) {
        const float *src = src_row + (size_t)ox * row_len + (size_t)ky * g->size * g->cg;
        int x0 = ox * g->stride - g->pad;
        for (int kx = 0; kx < g->size; kx++) {
          int ix = x0 + kx;
          if (ix < 0 || ix >= g->in_w) continue;
          float *dst = dst_row + (size_t)ix * g->in_c;
          const float *s = src + (size_t)kx * g->cg;
          for (int ci = 0; ci < g->cg; ci++) dst[ci] += s[ci];
        }
      }
    }
  }
}
