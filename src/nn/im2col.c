/* im2col / col2im for NHWC tensors. For output pixel (b, oy, ox) one row of col holds the
 * k x k input window, tap-major and channel-minor:
 *   col[((b - b0) * out_h + oy) * out_w + ox][(ky * k + kx) * cg + ci]
 *     = in[b][oy * stride - pad + ky][ox * stride - pad + kx][c0 + ci]   (0 outside)
 * which matches conv weights stored [filters][k][k][c/groups]. Channels [c0, c0 + cg) select
 * one group of a grouped convolution. */
#include <string.h>

#include "nn/nn.h"

/* Below this many floats of col, one thread does the copy. */
#define NN_COPY_SPLIT_MIN 65536

void nn_im2col(const float *in, int h, int w, int c, int c0, int cg, int size, int stride,
               int pad, int out_h, int out_w, int b0, int b1, float *col, int threads) {
  int rows = (b1 - b0) * out_h;
  size_t row_len = (size_t)size * size * cg;
  int use = (size_t)rows * out_w * row_len >= NN_COPY_SPLIT_MIN ? threads : 1;
#pragma omp parallel for num_threads(use) schedule(static)
  for (int r = 0; r < rows; r++) {
    int b = b0 + r / out_h, oy = r % out_h;
    for (int ox = 0; ox < out_w; ox++) {
      float *dst = col + ((size_t)r * out_w + ox) * row_len;
      int x0 = ox * stride - pad;
      for (int ky = 0; ky < size; ky++) {
        int iy = oy * stride - pad + ky;
        float *tap = dst + (size_t)ky * size * cg;
        if (iy < 0 || iy >= h) {
          memset(tap, 0, (size_t)size * cg * sizeof(float));
          continue;
        }
        const float *src = in + (((size_t)b * h + iy) * w) * c + c0;
        if (cg == c && x0 >= 0 && x0 + size <= w) {
          /* whole window row inside and all channels: one contiguous run */
          memcpy(tap, src + (size_t)x0 * c, (size_t)size * c * sizeof(float));
          continue;
        }
        for (int kx = 0; kx < size; kx++) {
          int ix = x0 + kx;
          if (ix < 0 || ix >= w)
            memset(tap + (size_t)kx * cg, 0, (size_t)cg * sizeof(float));
          else
            memcpy(tap + (size_t)kx * cg, src + (size_t)ix * c, (size_t)cg * sizeof(float));
        }
      }
    }
  }
}

/* The adjoint: din[b][iy][ix][c0 + ci] += every col entry that im2col copied from there.
 * Written as a gather over input rows, so threads never write the same element and each
 * element sums its contributions in the same order whatever the thread count. */
void nn_col2im_add(const float *col, int h, int w, int c, int c0, int cg, int size, int stride,
                   int pad, int out_h, int out_w, int b0, int b1, float *din, int threads) {
  int rows = (b1 - b0) * h;
  size_t row_len = (size_t)size * size * cg;
  int use = (size_t)(b1 - b0) * out_h * out_w * row_len >= NN_COPY_SPLIT_MIN ? threads : 1;
#pragma omp parallel for num_threads(use) schedule(static)
  for (int r = 0; r < rows; r++) {
    int b = b0 + r / h, iy = r % h;
    float *dst_row = din + (((size_t)b * h + iy) * w) * c + c0;
    for (int ky = 0; ky < size; ky++) {
      int t = iy + pad - ky;
      if (t < 0 || t % stride) continue;
      int oy = t / stride;
      if (oy >= out_h) continue;
      const float *src_row = col + ((size_t)(b - b0) * out_h + oy) * out_w * row_len;
      for (int ox = 0; ox < out_w; ox++) {
        const float *src = src_row + (size_t)ox * row_len + (size_t)ky * size * cg;
        int x0 = ox * stride - pad;
        for (int kx = 0; kx < size; kx++) {
          int ix = x0 + kx;
          if (ix < 0 || ix >= w) continue;
          float *dst = dst_row + (size_t)ix * c;
          const float *s = src + (size_t)kx * cg;
          for (int ci = 0; ci < cg; ci++) dst[ci] += s[ci];
        }
      }
    }
  }
}
