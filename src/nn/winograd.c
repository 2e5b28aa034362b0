/* Inference-mode 3x3 stride-1 convolutions by Winograd's minimal filtering (Lavin & Gray
 * 2015). F(2x2, 3x3): each 2x2 block of outputs ("tile") comes from a 4x4 input window,
 *
 *   Y = A^T [ (G g G^T) (.) (B^T d B) ] A        (.) elementwise, per channel pair
 *
 *   B^T = | 1  0 -1  0 |   G = | 1    0    0  |   A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |       | 1/2  1/2  1/2|         | 0  1 -1 -1 |
 *         | 0 -1  1  0 |       | 1/2 -1/2  1/2|
 *         | 0  1  0 -1 |       | 0    0    1  |
 *
 * so the sum over input channels becomes 16 independent matrix products (one per position
 * xi of the 4x4 transformed tile), with 16 multiplies per tile and channel pair instead of
 * the 36 of the direct convolution. F(4x4, 3x3) (6x6 windows, 36 positions, 36 multiplies
 * for 16 outputs instead of 144; its matrices are further down) is used on maps of at least
 * WG_F4_MIN x WG_F4_MIN. With n_xi positions:
 *
 *   V[xi][t][c]  = (B^T d[t][c] B)[xi]              the input tiles t of one chunk
 *   U[xi][c][f]  = (G g[f][c] G^T)[xi]              one block of WG_NB = 32 filters
 *   M[xi][t][f]  = sum_c V[xi][t][c] U[xi][c][f]     n_xi products (T x C) * (C x 32)
 *   out[pixel][f] = act(a[f] * (A^T M[.][t][f] A)[pixel] + b[f])
 *
 * All three layouts keep channels or filters contiguous, so every transform runs on whole
 * vectors of 16 floats; U's block of 32 filters is exactly the packed B format of the own
 * GEMM's micro-kernel (nn_own_sgemm_n32), so the products need no packing. The weight
 * transform reads 16 filters x 16 channels of one tap at a time and transposes them in
 * registers, one piece of input channels at a time (channel_piece) so that U stays in L2;
 * the pieces' products are added. Weights are transformed on every call (callers may change
 * parameters at any time through bm_net_params).
 *
 * Training uses the plain sums (nn_winograd_conv) as z, batch norm's input, and computes
 * input gradients the same way (nn_winograd_dx, at the end of this file); weight gradients
 * stay with conv.c. Results differ from the im2col path by float rounding only
 * (F(2x2)'s transform constants are 1 and 1/2, exact in float; F(4x4)'s errors are about ten
 * times larger, see below).
 *
 * Threads (nn_winograd_forward): either tiles are processed in chunks, the threads sharing
 * each chunk's input transform by tile ranges and then (after a barrier) the filter blocks,
 * or, for layers with small weights, each thread takes its own tiles and every block.
 * Every output is computed by one thread in an order that does not depend on the thread
 * count, so results are the same for any thread count. */
#include <omp.h>

#include "nn/nn.h"

#define WG_NB 32                      /* filters per block: one packed-B sliver of the GEMM */
#define WG_V_FLOATS ((size_t)1 << 21) /* transformed input per chunk (8 MB) */

/* Row length of V: C plus one cache line, so that the 12 rows the GEMM kernel reads at once
 * (C floats apart, often a multiple of 4 KB) do not fall into the same few L1 sets. */
static size_t v_row(const bm_layer_info *l) { return (size_t)l->in_c + 16; }

typedef nn_v16f v16f;
typedef float v16f_aligned __attribute__((vector_size(64), aligned(64), may_alias));

/* Outputs per tile side: F(4x4, 3x3) where both output sides are at least WG_F4_MIN (fewer
 * multiplies, 36 / 16 per output instead of 16 / 4), F(2x2, 3x3) on smaller maps (where 4x4
 * tiles would cover too much padding: 13x13 takes 4x4 tiles of 4, 16x16, 1.5 times the
 * outputs, and too few rows for the 12-row GEMM kernel). */
#define WG_F4_MIN 20
static int tile_m(const bm_layer_info *l) {
  return l->out_h >= WG_F4_MIN && l->out_w >= WG_F4_MIN ? 4 : 2;
}

/* Positions xi of a transformed tile: (m + 2)^2, 16 or 36. */
static int n_xi(const bm_layer_info *l) { return (tile_m(l) + 2) * (tile_m(l) + 2); }

/* The tiles of one image: ceil(out / m) in each direction. */
static void tile_counts(const bm_layer_info *l, int *th, int *tw) {
  int m = tile_m(l);
  *th = (l->out_h + m - 1) / m;
  *tw = (l->out_w + m - 1) / m;
}

int nn_winograd_fits(const bm_layer_info *l) {
  return l->type == BM_LAYER_CONV && l->size == 3 && l->stride == 1 && l->groups == 1 &&
         l->in_c % 16 == 0 && l->in_c >= NN_WINOGRAD_MIN_C && l->filters >= NN_WINOGRAD_MIN_F;
}

/* Tiles per chunk: V of a chunk holds at most WG_V_FLOATS floats (at least 16 tiles), and
 * chunks are of equal size (each chunk transforms all the weights again, so a small last
 * chunk would cost as much as a full one). */
static size_t chunk_tiles(const bm_layer_info *l, int batch) {
  int th, tw;
  tile_counts(l, &th, &tw);
  size_t tiles = (size_t)batch * th * tw, cap = WG_V_FLOATS / (n_xi(l) * v_row(l));
  if (cap < 16) cap = 16;
  size_t chunks = (tiles + cap - 1) / cap;
  return (tiles + chunks - 1) / chunks;
}

/* Input channels per piece of the weight transform: U of one block and piece (n_xi x 32 x
 * piece floats, at most WG_U_FLOATS = 512 KB) and the piece's columns of V stay in L2
 * together (measured on yolov3-tiny: 512 KB pieces beat 1 MB and 256 KB ones); the products
 * of the pieces are added. */
#define WG_U_FLOATS ((size_t)1 << 17)
static int channel_piece(const bm_layer_info *l) {
  size_t cap = WG_U_FLOATS / ((size_t)n_xi(l) * WG_NB) / 16 * 16, c = (size_t)l->in_c;
  if (cap < 16) cap = 16;
  size_t pieces = (c + cap - 1) / cap; /* of equal size, multiples of 16 */
  return (int)((c / 16 + pieces - 1) / pieces * 16);
}

/* Per thread: U of one block and piece, then M of one block and chunk. */
static size_t thread_floats(const bm_layer_info *l, size_t tc) {
  return (size_t)n_xi(l) * WG_NB * ((size_t)channel_piece(l) + tc);
}

/* Split by tiles: tiles per step of one thread, so that its V and M (n_xi x tiles x
 * (v_row + 32) floats) take about 1 MB and stay in its core's L2 cache with U. */
static size_t sub_tiles(const bm_layer_info *l) {
  size_t n = ((size_t)1 << 18) / (n_xi(l) * (v_row(l) + WG_NB));
  return n < 16 ? 16 : n;
}

static size_t tiles_thread_floats(const bm_layer_info *l) {
  return n_xi(l) * sub_tiles(l) * v_row(l) + thread_floats(l, sub_tiles(l));
}

/* Threads split the tiles (each transforming all weights for each of its steps) when there
 * are fewer filter blocks than threads, or when the transformed weights are small
 * (n_xi x F x C <= WG_SMALL_U floats) and every thread gets at least two steps; otherwise they
 * split the filter blocks of each chunk of tiles. */
#define WG_SMALL_U ((size_t)1 << 18)
static int split_by_tiles(const bm_layer_info *l, int batch, int threads) {
  int th, tw;
  tile_counts(l, &th, &tw);
  size_t tiles = (size_t)batch * th * tw;
  if ((l->filters + WG_NB - 1) / WG_NB < threads) return 1;
  return (size_t)n_xi(l) * l->filters * l->in_c <= WG_SMALL_U &&
         tiles >= 2 * sub_tiles(l) * (size_t)threads;
}

size_t nn_winograd_work_floats(const bm_layer_info *l, int batch, int threads) {
  if (split_by_tiles(l, batch, threads)) return (size_t)threads * tiles_thread_floats(l);
  size_t tc = chunk_tiles(l, batch);
  return n_xi(l) * tc * v_row(l) + (size_t)threads * thread_floats(l, tc);
}

/* Where the n x n input window of tile t (tiles of `step` output pixels, tw per row,
 * plane_tiles per image) starts in each pixel: src[i * n + j] points at the C channels of
 * pixel (i, j) of the window, or is NULL outside the image (zero padding). */
static inline __attribute__((always_inline)) void tile_sources(const bm_layer_info *l,
                                                               const float *in, size_t t,
                                                               size_t plane_tiles, int tw,
                                                               int step, int n,
                                                               const float **src) {
  int C = l->in_c, H = l->in_h, W = l->in_w;
  int b = (int)(t / plane_tiles), ty = (int)(t % plane_tiles) / tw;
  int tx = (int)(t % plane_tiles) % tw;
  int y0 = ty * step - l->pad, x0 = tx * step - l->pad;
  const float *in_b = in + (size_t)b * H * W * C;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      int iy = y0 + i, ix = x0 + j;
      src[i * n + j] = iy < 0 || iy >= H || ix < 0 || ix >= W ? NULL
                                                              : in_b + ((size_t)iy * W + ix) * C;
    }
}

/* V[xi][t - t0][c] (row length v_row, xi stride tc * v_row) for tiles [first, end) of the chunk starting at t0. */
static void input_transform2(const bm_layer_info *l, const float *in, size_t t0, size_t first,
                            size_t end, size_t tc, float *v) {
  int th, tw, C = l->in_c;
  tile_counts(l, &th, &tw);
  size_t plane_tiles = (size_t)th * tw, ld = v_row(l), xs = tc * ld;
  const v16f zero = {0};
  for (size_t t = first; t < end; t++) {
    const float *src[4][4]; /* NULL: outside the image (zero padding) */
    tile_sources(l, in, t, plane_tiles, tw, 2, 4, &src[0][0]);
    float *vt = v + (t - t0) * ld;
    for (int c = 0; c < C; c += 16) {
      v16f r[4][4]; /* r = B^T d */
      for (int j = 0; j < 4; j++) {
        v16f d[4];
        for (int i = 0; i < 4; i++) d[i] = src[i][j] ? *(const v16f *)(src[i][j] + c) : zero;
        r[0][j] = d[0] - d[2];
        r[1][j] = d[1] + d[2];
        r[2][j] = d[2] - d[1];
        r[3][j] = d[1] - d[3];
      }
      for (int i = 0; i < 4; i++) { /* V = r B */
        float *dst = vt + (size_t)(i * 4) * xs + c;
        *(v16f *)dst = r[i][0] - r[i][2];
        *(v16f *)(dst + xs) = r[i][1] + r[i][2];
        *(v16f *)(dst + 2 * xs) = r[i][2] - r[i][1];
        *(v16f *)(dst + 3 * xs) = r[i][1] - r[i][3];
      }
    }
  }
}

/* U[xi][c][0:32] (xi stride C * 32, zero for filters beyond nf) from weight [f][ky][kx][c]
 * of filters f0 .. f0 + nf - 1. */
static void weight_transform2(const bm_layer_info *l, const float *weight, int f0, int nf,
                             int c_begin, int c_count, float *u) {
  int C = l->in_c;
  size_t xs = (size_t)c_count * WG_NB, filter_len = 9 * (size_t)C;
  const v16f zero = {0};
  const v16f half = zero + 0.5f;
  for (int half_block = 0; half_block < WG_NB / 16; half_block++) {
    int fb = half_block * 16; /* filters fb .. fb + 15 of the block */
    const float *w_first = weight + (size_t)(f0 + fb) * filter_len;
    int rows = nf - fb < 16 ? (nf - fb > 0 ? nf - fb : 0) : 16;
    for (int c0 = c_begin; c0 < c_begin + c_count; c0 += 16) {
      /* 144 short streams (16 filters x 9 taps) are too many for the hardware prefetcher:
       * ask for the next step's lines now */
      if (c0 + 16 < c_begin + c_count)
        for (int i = 0; i < rows; i++)
          for (int tap = 0; tap < 9; tap++)
            __builtin_prefetch(w_first + (size_t)i * filter_len + (size_t)tap * C + c0 + 16);
      v16f g[9][16]; /* g[tap][ci]: 16 filters (lanes) of channel c0 + ci */
      for (int tap = 0; tap < 9; tap++) {
        for (int i = 0; i < 16; i++)
          g[tap][i] = fb + i < nf ? *(const v16f *)(weight + (size_t)(f0 + fb + i) * filter_len +
                                                   (size_t)tap * C + c0)
                                  : zero;
        nn_transpose16(g[tap]);
      }
      for (int ci = 0; ci < 16; ci++) {
        v16f t[4][3]; /* t = G g: rows of the 3x3 kernel combined */
        for (int kx = 0; kx < 3; kx++) {
          v16f g0 = g[kx][ci], g1 = g[3 + kx][ci], g2 = g[6 + kx][ci];
          t[0][kx] = g0;
          t[1][kx] = half * (g0 + g1 + g2);
          t[2][kx] = half * (g0 - g1 + g2);
          t[3][kx] = g2;
        }
        float *uc = u + (size_t)(c0 - c_begin + ci) * WG_NB + fb;
        for (int a = 0; a < 4; a++) { /* U = t G^T */
          float *ua = uc + (size_t)(a * 4) * xs;
          *(v16f_aligned *)ua = t[a][0];
          *(v16f_aligned *)(ua + xs) = half * (t[a][0] + t[a][1] + t[a][2]);
          *(v16f_aligned *)(ua + 2 * xs) = half * (t[a][0] - t[a][1] + t[a][2]);
          *(v16f_aligned *)(ua + 3 * xs) = t[a][2];
        }
      }
    }
  }
}

/* out[pixel][f0 + f] = act(a * (A^T M A) + b) for tiles [t0, t0 + tc) and f < nf, from
 * M[xi][t - t0][0:32] (xi stride tc * 32). */
static inline __attribute__((always_inline)) void output_transform(
    const bm_layer_info *l, const float *m, size_t t0, size_t tc, int f0, int nf,
    const float *a, const float *b, float *out, bm_activation act, int add) {
  int th, tw, F = l->filters, OH = l->out_h, OW = l->out_w;
  tile_counts(l, &th, &tw);
  size_t plane_tiles = (size_t)th * tw, xs = tc * WG_NB;
  float y[4][WG_NB], af[WG_NB], bf[WG_NB];
  for (int f = 0; f < nf; f++) {
    af[f] = a ? a[f0 + f] : 1.0f;
    bf[f] = b ? b[f0 + f] : 0.0f;
  }
  for (size_t t = t0; t < t0 + tc; t++) {
    const float *q = m + (t - t0) * WG_NB;
    for (int f = 0; f < WG_NB; f += 16) {
      v16f s[4][2]; /* s = M A, per row */
      for (int i = 0; i < 4; i++) {
        v16f m0 = *(const v16f *)(q + (size_t)(i * 4) * xs + f);
        v16f m1 = *(const v16f *)(q + (size_t)(i * 4 + 1) * xs + f);
        v16f m2 = *(const v16f *)(q + (size_t)(i * 4 + 2) * xs + f);
        v16f m3 = *(const v16f *)(q + (size_t)(i * 4 + 3) * xs + f);
        s[i][0] = m0 + m1 + m2;
        s[i][1] = m1 - m2 - m3;
      }
      for (int x = 0; x < 2; x++) {
        *(v16f *)(y[x] + f) = s[0][x] + s[1][x] + s[2][x];
        *(v16f *)(y[2 + x] + f) = s[1][x] - s[2][x] - s[3][x];
      }
    }
    int bi = (int)(t / plane_tiles), ty = (int)(t % plane_tiles) / tw;
    int tx = (int)(t % plane_tiles) % tw;
    int oy = ty * 2, ox = tx * 2;
    for (int k = 0; k < 4; k++) {
      int py = oy + k / 2, px = ox + k % 2;
      if (py >= OH || px >= OW) continue;
      float *o = out + (((size_t)bi * OH + py) * OW + px) * F + f0;
      if (add) /* backward's input gradient: plain sums added */
        for (int f = 0; f < nf; f++) o[f] += y[k][f];
      else
        for (int f = 0; f < nf; f++) o[f] = nn_act_value(act, af[f] * y[k][f] + bf[f]);
    }
  }
}

/* ---- F(4x4, 3x3): 6x6 input windows, 36 positions -------------------------------------
 *   B^T = | 4  0 -5  0  1  0 |   G = |  1/4     0     0  |   A^T = | 1  1  1  1  1  0 |
 *         | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6  |         | 0  1 -1  2 -2  0 |
 *         | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6  |         | 0  1  1  4  4  0 |
 *         | 0 -2 -1  2  1  0 |       |  1/24  1/12  1/6  |         | 0  1 -1  8 -8  1 |
 *         | 0  2 -1 -2  1  0 |       |  1/24 -1/12  1/6  |
 *         | 0  4  0 -5  0  1 |       |  0     0     1    |
 * (Lavin & Gray's points 0, +-1, +-2). The constants are not all exact in float, and the
 * transformed values grow (up to 100x the inputs' sizes before the output transform
 * cancels them), so rounding errors are larger than F(2x2)'s: about 1e-6 relative to the
 * sums of |w x| in the tests. */

/* r[0..5] = B^T d[0..5] (one row or column of a 6x6 window) */
static inline void bt6(const v16f d[6], v16f r[6]) {
  const v16f four = (v16f){0} + 4.0f, five = (v16f){0} + 5.0f, two = (v16f){0} + 2.0f;
  r[0] = four * d[0] - five * d[2] + d[4];
  r[1] = d[3] + d[4] - four * (d[1] + d[2]);
  r[2] = d[4] - d[3] + four * (d[1] - d[2]);
  r[3] = d[4] - d[2] + two * (d[3] - d[1]);
  r[4] = d[4] - d[2] + two * (d[1] - d[3]);
  r[5] = four * d[1] - five * d[3] + d[5];
}

static void input_transform4(const bm_layer_info *l, const float *in, size_t t0, size_t first,
                             size_t end, size_t tc, float *v) {
  int th, tw, C = l->in_c;
  tile_counts(l, &th, &tw);
  size_t plane_tiles = (size_t)th * tw, ld = v_row(l), xs = tc * ld;
  const v16f zero = {0};
  for (size_t t = first; t < end; t++) {
    const float *src[6][6]; /* NULL: outside the image (zero padding) */
    tile_sources(l, in, t, plane_tiles, tw, 4, 6, &src[0][0]);
    float *vt = v + (t - t0) * ld;
    for (int c = 0; c < C; c += 16) {
      v16f r[6][6]; /* r = B^T d, by columns j */
      for (int j = 0; j < 6; j++) {
        v16f d[6], col[6];
        for (int i = 0; i < 6; i++) d[i] = src[i][j] ? *(const v16f *)(src[i][j] + c) : zero;
        bt6(d, col);
        for (int i = 0; i < 6; i++) r[i][j] = col[i];
      }
      for (int i = 0; i < 6; i++) { /* V = r B, by rows i */
        v16f row[6];
        bt6(r[i], row);
        float *dst = vt + (size_t)(i * 6) * xs + c;
        for (int j = 0; j < 6; j++) *(v16f *)(dst + (size_t)j * xs) = row[j];
      }
    }
  }
}

/* t[0..5] = G g[0..2] */
static inline void g6(v16f g0, v16f g1, v16f g2, v16f t[6]) {
  const v16f z = {0};
  const v16f quarter = z + 0.25f, sixth = z + 1.0f / 6.0f, c24 = z + 1.0f / 24.0f,
             c12 = z + 1.0f / 12.0f;
  t[0] = quarter * g0;
  t[1] = -sixth * (g0 + g1 + g2);
  t[2] = -sixth * (g0 - g1 + g2);
  t[3] = c24 * g0 + c12 * g1 + sixth * g2;
  t[4] = c24 * g0 - c12 * g1 + sixth * g2;
  t[5] = g2;
}

static void weight_transform4(const bm_layer_info *l, const float *weight, int f0, int nf,
                              int c_begin, int c_count, float *u) {
  int C = l->in_c;
  size_t xs = (size_t)c_count * WG_NB, filter_len = 9 * (size_t)C;
  const v16f zero = {0};
  for (int half_block = 0; half_block < WG_NB / 16; half_block++) {
    int fb = half_block * 16;
    const float *w_first = weight + (size_t)(f0 + fb) * filter_len;
    int rows = nf - fb < 16 ? (nf - fb > 0 ? nf - fb : 0) : 16;
    for (int c0 = c_begin; c0 < c_begin + c_count; c0 += 16) {
      if (c0 + 16 < c_begin + c_count)
        for (int i = 0; i < rows; i++)
          for (int tap = 0; tap < 9; tap++)
            __builtin_prefetch(w_first + (size_t)i * filter_len + (size_t)tap * C + c0 + 16);
      v16f g[9][16];
      for (int tap = 0; tap < 9; tap++) {
        for (int i = 0; i < 16; i++)
          g[tap][i] = fb + i < nf ? *(const v16f *)(weight + (size_t)(f0 + fb + i) * filter_len +
                                                   (size_t)tap * C + c0)
                                  : zero;
        nn_transpose16(g[tap]);
      }
      for (int ci = 0; ci < 16; ci++) {
        v16f t[6][3]; /* t = G g, by columns kx */
        for (int kx = 0; kx < 3; kx++) {
          v16f col[6];
          g6(g[kx][ci], g[3 + kx][ci], g[6 + kx][ci], col);
          for (int a = 0; a < 6; a++) t[a][kx] = col[a];
        }
        float *uc = u + (size_t)(c0 - c_begin + ci) * WG_NB + fb;
        for (int a = 0; a < 6; a++) { /* U = t G^T, by rows a */
          v16f row[6];
          g6(t[a][0], t[a][1], t[a][2], row);
          float *ua = uc + (size_t)(a * 6) * xs;
          for (int bb = 0; bb < 6; bb++) *(v16f_aligned *)(ua + (size_t)bb * xs) = row[bb];
        }
      }
    }
  }
}

/* y[0..3] = A^T m[0..5] */
static inline void at6(const v16f m[6], v16f y[4]) {
  const v16f two = (v16f){0} + 2.0f, four = (v16f){0} + 4.0f, eight = (v16f){0} + 8.0f;
  v16f p12 = m[1] + m[2], m12 = m[1] - m[2], p34 = m[3] + m[4], m34 = m[3] - m[4];
  y[0] = m[0] + p12 + p34;
  y[1] = m12 + two * m34;
  y[2] = p12 + four * p34;
  y[3] = m12 + eight * m34 + m[5];
}

static inline __attribute__((always_inline)) void output_transform4(
    const bm_layer_info *l, const float *m, size_t t0, size_t tc, int f0, int nf,
    const float *a, const float *b, float *out, bm_activation act, int add) {
  int th, tw, F = l->filters, OH = l->out_h, OW = l->out_w;
  tile_counts(l, &th, &tw);
  size_t plane_tiles = (size_t)th * tw, xs = tc * WG_NB;
  float y[16][WG_NB], af[WG_NB], bf[WG_NB];
  for (int f = 0; f < nf; f++) {
    af[f] = a ? a[f0 + f] : 1.0f;
    bf[f] = b ? b[f0 + f] : 0.0f;
  }
  for (size_t t = t0; t < t0 + tc; t++) {
    const float *q = m + (t - t0) * WG_NB;
    for (int f = 0; f < WG_NB; f += 16) {
      v16f s[6][4]; /* s = M A, by rows i */
      for (int i = 0; i < 6; i++) {
        v16f row[6];
        for (int j = 0; j < 6; j++) row[j] = *(const v16f *)(q + (size_t)(i * 6 + j) * xs + f);
        at6(row, s[i]);
      }
      for (int x = 0; x < 4; x++) { /* Y = A^T s, by columns x */
        v16f col[6], yc[4];
        for (int i = 0; i < 6; i++) col[i] = s[i][x];
        at6(col, yc);
        for (int yy = 0; yy < 4; yy++) *(v16f *)(y[yy * 4 + x] + f) = yc[yy];
      }
    }
    int bi = (int)(t / plane_tiles), ty = (int)(t % plane_tiles) / tw;
    int tx = (int)(t % plane_tiles) % tw;
    int oy = ty * 4, ox = tx * 4;
    for (int k = 0; k < 16; k++) {
      int py = oy + k / 4, px = ox + k % 4;
      if (py >= OH || px >= OW) continue;
      float *o = out + (((size_t)bi * OH + py) * OW + px) * F + f0;
      if (add) /* backward's input gradient: plain sums added */
        for (int f = 0; f < nf; f++) o[f] += y[k][f];
      else
        for (int f = 0; f < nf; f++) o[f] = nn_act_value(act, af[f] * y[k][f] + bf[f]);
    }
  }
}

static void output_transform_act(const bm_layer_info *l, const float *m, size_t t0, size_t tc,
                                 int f0, int nf, const float *a, const float *b, float *out,
                                 bm_activation act, int add) {
  if (add) {
    if (tile_m(l) == 4)
      output_transform4(l, m, t0, tc, f0, nf, NULL, NULL, out, BM_ACT_LINEAR, 1);
    else
      output_transform(l, m, t0, tc, f0, nf, NULL, NULL, out, BM_ACT_LINEAR, 1);
    return;
  }
#define CALL(A)                                                                              \
  if (tile_m(l) == 4)                                                                        \
    output_transform4(l, m, t0, tc, f0, nf, a, b, out, A, 0);                                \
  else                                                                                       \
    output_transform(l, m, t0, tc, f0, nf, a, b, out, A, 0);
  NN_DISPATCH_ACT(act, CALL)
#undef CALL
}

static void input_transform(const bm_layer_info *l, const float *in, size_t t0, size_t first,
                            size_t end, size_t tc, float *v) {
  if (tile_m(l) == 4)
    input_transform4(l, in, t0, first, end, tc, v);
  else
    input_transform2(l, in, t0, first, end, tc, v);
}

/* U[xi][c - c_begin][0:32] (xi stride c_count * 32, zero for filters beyond nf) from
 * weight [f][ky][kx][c] of filters f0 .. f0 + nf - 1, channels c_begin .. + c_count - 1. */
static void weight_transform(const bm_layer_info *l, const float *weight, int f0, int nf,
                             int c_begin, int c_count, float *u) {
  if (tile_m(l) == 4)
    weight_transform4(l, weight, f0, nf, c_begin, c_count, u);
  else
    weight_transform2(l, weight, f0, nf, c_begin, c_count, u);
}

/* Weight transform, 16 products and output transform of filter block blk for tiles
 * [t0 + first, t0 + end) of the chunk (V rows first .. end - 1). next_blk >= 0: the block
 * this thread does next, whose weights are prefetched during the products (batch-1 layers
 * read megabytes of weights, which otherwise arrive only when the transform asks). */
static void block_rows(nn_ctx *ctx, nn_layer *l, const float *v, size_t tc, size_t t0,
                       size_t first, size_t end, int blk, int next_blk, const float *a,
                       const float *b, float *out, bm_activation act, int add, float *u,
                       float *m) {
  const bm_layer_info *info = &l->info;
  int C = info->in_c, F = info->filters, f0 = blk * WG_NB, nf = F - f0 < WG_NB ? F - f0 : WG_NB;
  int rows = (int)(end - first), ld = (int)v_row(info);
  if (rows <= 0) return;
  const float *next = NULL;
  size_t next_bytes = 0;
  if (next_blk >= 0) {
    int next_f0 = next_blk * WG_NB, next_nf = F - next_f0 < WG_NB ? F - next_f0 : WG_NB;
    next = l->weight + (size_t)next_f0 * 9 * C;
    next_bytes = (size_t)next_nf * 9 * C * sizeof(float);
  }
  int nx = n_xi(info), piece = channel_piece(info), pieces = (C + piece - 1) / piece;
  size_t calls = (size_t)nx * pieces, call = 0;
  for (int c0 = 0; c0 < C; c0 += piece) {
    int pc = C - c0 < piece ? C - c0 : piece;
    weight_transform(info, l->weight, f0, nf, c0, pc, u);
    for (int xi = 0; xi < nx; xi++, call++) {
      const float *v_xi = v + ((size_t)xi * tc + first) * ld + c0;
      const float *u_xi = u + (size_t)xi * pc * WG_NB;
      float *m_xi = m + (size_t)xi * rows * WG_NB;
      const char *pf = next ? (const char *)next + next_bytes * call / calls : NULL;
      size_t pf_bytes = next ? next_bytes * (call + 1) / calls - next_bytes * call / calls : 0;
      if (!ctx->own_gemm ||
          nn_own_sgemm_n32(rows, pc, v_xi, ld, u_xi, m_xi, WG_NB, c0 > 0, pf, pf_bytes))
        nn_gemm(0, 1, 0, 0, rows, WG_NB, pc, 1.0f, v_xi, ld, u_xi, WG_NB, c0 > 0 ? 1.0f : 0.0f,
                m_xi, WG_NB);
    }
  }
  output_transform_act(info, m, t0 + first, (size_t)rows, f0, nf, a, b, out, act, add);
}

/* out = act(a * conv + b) (a, b may be NULL: 1 and 0), or out += conv with add */
static void winograd_run(nn_ctx *ctx, nn_layer *l, const float *in, const float *a,
                         const float *b, float *out, bm_activation act, int add) {
  const bm_layer_info *info = &l->info;
  int th, tw, F = info->filters;
  tile_counts(info, &th, &tw);
  size_t tiles = (size_t)ctx->batch * th * tw, tc_max = chunk_tiles(info, ctx->batch);
  int blocks = (F + WG_NB - 1) / WG_NB;
  size_t nx = (size_t)n_xi(info);
  float *v = ctx->work, *per_thread = v + nx * tc_max * v_row(info);
  if (split_by_tiles(info, ctx->batch, ctx->threads)) {
    /* each thread: its own tiles, step by step, every filter block; no barrier */
    size_t sub = sub_tiles(info);
#pragma omp parallel num_threads(ctx->threads)
    {
      int p = omp_get_thread_num(), parts = omp_get_num_threads();
      float *v_p = ctx->work + (size_t)p * tiles_thread_floats(info);
      float *u = v_p + nx * sub * v_row(info), *m = u + nx * WG_NB * channel_piece(info);
      size_t first, end;
      nn_part(tiles, parts, p, &first, &end);
      for (size_t s0 = first; s0 < end; s0 += sub) {
        size_t n = end - s0 < sub ? end - s0 : sub;
        input_transform(info, in, s0, s0, s0 + n, n, v_p);
        for (int blk = 0; blk < blocks; blk++)
          block_rows(ctx, l, v_p, n, s0, 0, n, blk, -1, a, b, out, act, add, u, m);
      }
    }
    return;
  }
#pragma omp parallel num_threads(ctx->threads)
  {
    int p = omp_get_thread_num(), parts = omp_get_num_threads();
    float *u = per_thread + (size_t)p * thread_floats(info, tc_max);
    float *m = u + nx * WG_NB * channel_piece(info);
    for (size_t t0 = 0; t0 < tiles; t0 += tc_max) {
      size_t tc = tiles - t0 < tc_max ? tiles - t0 : tc_max, first, end;
      nn_part(tc, parts, p, &first, &end);
      input_transform(info, in, t0, t0 + first, t0 + end, tc, v);
#pragma omp barrier
      size_t blk0, blk1;
      nn_part((size_t)blocks, parts, p, &blk0, &blk1);
      for (size_t blk = blk0; blk < blk1; blk++)
        block_rows(ctx, l, v, tc, t0, 0, tc, (int)blk, blk + 1 < blk1 ? (int)blk + 1 : -1, a, b,
                   out, act, add, u, m);
#pragma omp barrier /* V is overwritten by the next chunk */
    }
  }
}

void nn_winograd_forward(nn_ctx *ctx, nn_layer *l, const float *in, const float *a,
                         const float *b) {
  winograd_run(ctx, l, in, a, b, l->out, l->info.activation, 0);
}

void nn_winograd_conv(nn_ctx *ctx, nn_layer *l, const float *in, float *z) {
  winograd_run(ctx, l, in, NULL, NULL, z, BM_ACT_LINEAR, 0);
}

/* ---- input gradient -------------------------------------------------------------------
 * For a 3x3 stride-1 convolution with padding 1 the input gradient is again one:
 *   din[b][iy][ix][c] += sum over (ky, kx, f) of
 *                        dz[b][iy + 1 - ky][ix + 1 - kx][f] * w[f][ky][kx][c]
 * i.e. a 3x3 convolution of dz (F channels, out_h x out_w, padding 1) with the weights
 * rotated by 180 degrees and transposed, wr[c][ky][kx][f] = w[f][2 - ky][2 - kx][c], giving
 * C channels on the in_h x in_w map. Its shapes as a layer: */
static bm_layer_info transposed_info(const bm_layer_info *l) {
  bm_layer_info t = *l;
  t.in_c = l->filters;
  t.in_h = l->out_h;
  t.in_w = l->out_w;
  t.filters = l->in_c;
  t.out_c = l->in_c;
  t.out_h = l->in_h;
  t.out_w = l->in_w;
  t.pad = 1;
  t.batch_normalize = 0;
  t.activation = BM_ACT_LINEAR;
  return t;
}

int nn_winograd_dx_fits(const bm_layer_info *l) {
  if (l->type != BM_LAYER_CONV || l->size != 3 || l->stride != 1 || l->pad != 1 ||
      l->groups != 1 || l->in_c % 16 || l->filters % 16)
    return 0;
  bm_layer_info t = transposed_info(l);
  return t.in_c >= NN_WINOGRAD_MIN_C && t.out_h == l->in_h && t.out_w == l->in_w;
}

/* the rotated weights first (aligned to a cache line), then winograd_run's workspace */
static size_t dx_weight_floats(const bm_layer_info *l) {
  return ((size_t)9 * l->in_c * l->filters + 15) / 16 * 16;
}

size_t nn_winograd_dx_work_floats(const bm_layer_info *l, int batch, int threads) {
  bm_layer_info t = transposed_info(l);
  return dx_weight_floats(l) + nn_winograd_work_floats(&t, batch, threads);
}

void nn_winograd_dx(nn_ctx *ctx, const nn_layer *l, const float *dz, float *din, int add) {
  const bm_layer_info *info = &l->info;
  int C = info->in_c, F = info->filters;
  float *wr = ctx->work;
  for (int c = 0; c < C; c++)
    for (int tap = 0; tap < 9; tap++) {
      const float *src = l->weight + (size_t)(8 - tap) * C + c; /* w[f][2-ky][2-kx][c] */
      float *dst = wr + ((size_t)c * 9 + tap) * F;
      for (int f = 0; f < F; f++) dst[f] = src[(size_t)f * 9 * C];
    }
  nn_layer t = {0};
  t.info = transposed_info(info);
  t.weight = wr;
  nn_ctx sub = *ctx;
  sub.work = ctx->work + dx_weight_floats(info);
  sub.n_work = ctx->n_work - dx_weight_floats(info);
  winograd_run(&sub, &t, dz, NULL, NULL, din, BM_ACT_LINEAR, add);
}
