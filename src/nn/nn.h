/* Internal declarations of the network engine: the layer and network structs, the cfg
 * parser, and the per-layer forward/backward functions. Public API: boxmine/bm_nn.h. */
#ifndef BM_NN_INTERNAL_H
#define BM_NN_INTERNAL_H

#include "boxmine/bm_nn.h"

#define NN_MAX_THREADS 64
#define NN_BN_EPS 1e-5f
#define NN_BN_MOMENTUM 0.01f /* weight of the new batch in the running statistics */

/* ---- cfg text: sections of key=value lines ------------------------------------------- */
typedef struct nn_kv {
  char *key;
  char *value;
  int line;
  int used; /* set by the getters; unused keys are warned about */
} nn_kv;

typedef struct nn_section {
  char *name; /* without brackets */
  int line;
  nn_kv *kv;
  int n_kv;
} nn_section;

typedef struct nn_cfg {
  const char *name; /* file name or label, for messages */
  nn_section *sections;
  int n_sections;
} nn_cfg;

int nn_cfg_parse(nn_cfg *cfg, const char *text, const char *name, bm_log *log, bm_error *err);
void nn_cfg_free(nn_cfg *cfg);
/* Getters: leave *out at def when the key is absent; -1 with "name: line N: key: ..." on a bad
 * value or one outside [lo, hi]. */
int nn_cfg_int(const nn_cfg *cfg, nn_section *s, const char *key, int def, int lo, int hi,
               int *out, bm_error *err);
int nn_cfg_float(const nn_cfg *cfg, nn_section *s, const char *key, float def, float lo,
                 float hi, float *out, bm_error *err);
/* Returns the value (NULL when absent); *line receives its line. */
const char *nn_cfg_str(nn_section *s, const char *key, int *line);
/* Comma-separated lists; *n = number of values (0 when absent). */
int nn_cfg_int_list(const nn_cfg *cfg, nn_section *s, const char *key, int *out, int max,
                    int *n, bm_error *err);
int nn_cfg_float_list(const nn_cfg *cfg, nn_section *s, const char *key, float *out, int max,
                      int *n, bm_error *err);
void nn_cfg_warn_unused(const nn_cfg *cfg, const nn_section *s, bm_log *log);
int nn_parse_activation(const char *text, bm_activation *act);

/* ---- layers ----------------------------------------------------------------------------- */
typedef struct nn_layer {
  bm_layer_info info;
  int last_reader; /* the highest-numbered layer reading this output; -1: none (a head) */
  /* offsets (floats) fixed by planning; the pointers below are views computed from them */
  size_t weight_off, bias_off, scale_off, shift_off; /* into params/grads (bias: no bn) */
  size_t mean_off, var_off;                          /* into state */
  size_t n_weights;                                  /* filters * k * k * c/groups */
  size_t out_off, z_off, stat_off;                   /* into activations */
  /* views */
  float *out, *dout; /* [batch][out_h][out_w][out_c] */
  float *z;          /* conv, training: GEMM output before bn/activation (NULL if not kept) */
  float *batch_mean, *batch_invstd; /* conv with bn: statistics of the last training forward */
  int32_t *argmax;   /* maxpool: per output, the input index (within its image) of the max */
  size_t argmax_off; /* into the network's index array */
  float *weight, *bias, *scale, *shift, *dweight, *dbias, *dscale, *dshift;
  float *running_mean, *running_var;
} nn_layer;

struct bm_network {
  char *name;
  bm_net_config cfg;
  int n_layers;
  nn_layer *layers;
  int batch, in_c, in_h, in_w;
  int training;
  int threads;
  bm_gemm_kind gemm; /* BM_GEMM_BLAS or BM_GEMM_OWN (resolved) */
  int fast_infer;    /* bm_net_set_fast_infer */
  int no_depthwise;  /* nn_net_set_depthwise(net, 0): depthwise convs by im2col (tests) */
  int no_narrow;     /* nn_net_set_narrow(net, 0) (tests) */
  uint64_t dropout_key; /* bm_net_set_dropout_key */
  int frozen;           /* bm_net_set_frozen */
  uint64_t seen;
  double flops;
  double *profile; /* bm_net_set_profile: 2 * n_layers seconds, or NULL */

  float *params, *grads; /* n_params each */
  size_t n_params;
  float *state; /* n_state: bn running mean and var */
  size_t n_state;
  bm_param_group *param_groups, *state_groups;
  int n_param_groups, n_state_groups;

  float *input;      /* [batch][c][h][w] as the caller fills it */
  float *input_nhwc; /* [batch][h][w][c], converted at the start of forward */
  float *acts;       /* every layer's out, z and bn statistics */
  size_t n_acts;
  float *act_grads; /* every layer's dout */
  size_t n_act_grads;
  int32_t *indices; /* every maxpool layer's argmax */
  size_t n_indices;
  float *work; /* shared workspace: im2col, per-thread weight gradients (conv.c) */
  size_t n_work;
  size_t chunk_floats;
  double *reduce; /* (NN_MAX_THREADS + 1) * 2 * max_filters: partial sums, coefficients */
  size_t n_reduce;
};

/* What a layer's forward/backward may use besides its own buffers. */
typedef struct nn_ctx {
  int batch;
  int threads;
  int training;
  int own_gemm; /* nn_gemm's `own` */
  int fast_infer; /* inference may use winograd.c and conv_direct.c (bm_net_set_fast_infer) */
  float *work;
  size_t n_work;
  size_t chunk_floats; /* each thread's im2col slice at the start of work (conv.c) */
  double *reduce;
  int depthwise; /* depthwise convolutions by conv_depthwise.c (else im2col + GEMM) */
  int narrow;    /* 1x1 convolutions on few channels by nn_narrow_rows (else GEMM) */
} nn_ctx;

/* Convolutions split by images walk each thread's rows in chunks whose im2col holds about
 * NN_CHUNK_FLOATS floats (so it stays in the core's L2 cache), at least NN_CHUNK_ROWS_MIN. */
#define NN_CHUNK_FLOATS ((size_t)1 << 18)
#define NN_CHUNK_ROWS_MIN ((size_t)256)
static inline size_t nn_conv_chunk_rows(int k) {
  size_t rows = NN_CHUNK_FLOATS / (size_t)k;
  return rows < NN_CHUNK_ROWS_MIN ? NN_CHUNK_ROWS_MIN : rows;
}

/* build.c: the layers described by cfg sections (shapes not yet known) */
int nn_build_layers(nn_cfg *cfg, bm_net_config *net_cfg, nn_layer **layers, int *n_layers,
                    bm_log *log, bm_error *err);

/* network.c: shapes and memory (also used by set_classes and weights.c) */
int nn_plan_params(bm_network *net, const float *old_params, const float *old_state,
                   const nn_layer *old_layers, bm_error *err);
int nn_infer_shapes(const char *name, nn_layer *layers, int n_layers, int batch, int channels,
                    int height, int width, bm_error *err);
int nn_plan_activations(bm_network *net, bm_error *err);
int nn_plan_workspace(bm_network *net, int threads, bm_error *err);
void nn_init_conv(nn_layer *l, bm_rng *rng);
nn_ctx nn_context(bm_network *net);

/* gemm.c: C[M][N] = alpha * op(A) * op(B) + beta * C, row-major, split over threads; own:
 * the engine's AVX-512 GEMM instead of OpenBLAS. */
void nn_gemm(int own, int threads, int trans_a, int trans_b, int m, int n, int k, float alpha,
             const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void nn_blas_single_threaded(void);
/* sgemm_avx512.c: the same product on the calling thread without BLAS (AVX-512F CPUs only:
 * check nn_own_sgemm_available). Returns -1 (C untouched) when out of memory. */
int nn_own_sgemm_available(void);
int nn_own_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* C[m][0:32] (+)= A[m][k] (row-major) * B[k][0:32], with B's rows contiguous (row length
 * 32, 64-byte aligned: the own GEMM's packed format), on the calling thread (winograd.c);
 * accumulate: add to C instead of overwriting it. Meanwhile asks for prefetch_bytes from
 * `prefetch` into the L2 cache (NULL, 0: nothing). */
int nn_own_sgemm_n32(int m, int k, const float *a, int lda, const float *bp, float *c, int ldc,
                     int accumulate, const void *prefetch, size_t prefetch_bytes);
/* Small products for layers with k <= NN_SMALL_K and n_cols a multiple of 16 up to
 * NN_SMALL_N (a first conv layer), on the calling thread. */
#define NN_SMALL_K 32
#define NN_SMALL_N 64
int nn_small_gemm_fits(int n_cols, int k);
void nn_small_gemm_nt(int m, int n_cols, int k, const float *a, int lda, const float *b,
                      int ldb, float *c, int ldc);
void nn_small_gemm_tn_add(int m, int n_cols, int k, const float *a, int lda, const float *b,
                          int ldb, float *c, int ldc);

/* im2col.c (NHWC). Output pixels are numbered across the batch:
 * r = (b * out_h + oy) * out_w + ox; col[r - r0][(ky * size + kx) * cg + ci]. */
typedef struct nn_conv_geom {
  int in_h, in_w, in_c; /* one input image */
  int c0, cg;           /* the channel slice of one group */
  int size, stride, pad;
  int out_h, out_w;
} nn_conv_geom;
void nn_im2col(const nn_conv_geom *g, const float *in, size_t r0, size_t r1, float *col,
               int threads);
/* din += the adjoint of im2col for rows [r0, r1), on the calling thread */
void nn_col2im_add(const nn_conv_geom *g, const float *col, size_t r0, size_t r1, float *din);
/* the same for the rows of whole images [b0, b1), split over threads without races */
void nn_col2im_gather_add(const nn_conv_geom *g, const float *col, int b0, int b1, float *din,
                          int threads);

/* activation.c. Elementwise work below NN_ELEMWISE_SPLIT_MIN elements stays on one thread. */
#define NN_ELEMWISE_SPLIT_MIN 32768
static inline int nn_parts(size_t elements, int threads) {
  return elements >= NN_ELEMWISE_SPLIT_MIN ? threads : 1;
}
/* out[r][f] = act(a[f] * z[r][f] + b[f]); a == NULL means a = 1. out may equal z. */
void nn_affine_act_rows(const float *z, float *out, size_t first, size_t end, int channels,
                        const float *a, const float *b, bm_activation act);
/* the same for a block: out[r * ldo + f] = act(a[f] * z[r * ldz + f] + b[f]), f < cols */
void nn_affine_act_block(const float *z, size_t ldz, float *out, size_t ldo, size_t rows,
                         int cols, const float *a, const float *b, bm_activation act);
void nn_channel_affine_act(const float *z, float *out, size_t rows, int channels,
                           const float *a, const float *b, bm_activation act, int threads);
/* grad[r][f] *= act'(z[r][f] + bias[f]); dbias[f] += sum over r of the new grad. */
void nn_bias_act_backward_rows(const float *z, float *grad, size_t first, size_t end,
                               int channels, const float *bias, bm_activation act, double *sum);
void nn_bias_act_backward(const float *z, float *grad, size_t rows, int channels,
                          const float *bias, bm_activation act, float *dbias, double *reduce,
                          int threads);
/* Calls CALL(BM_ACT_...) with the constant matching act, so an always-inline helper taking
 * the activation as an argument is compiled once per activation (and vectorised). */
#define NN_DISPATCH_ACT(act, CALL)                                   \
  switch (act) {                                                     \
  case BM_ACT_LINEAR: CALL(BM_ACT_LINEAR); break;                    \
  case BM_ACT_LEAKY: CALL(BM_ACT_LEAKY); break;                      \
  case BM_ACT_RELU: CALL(BM_ACT_RELU); break;                        \
  case BM_ACT_LOGISTIC: CALL(BM_ACT_LOGISTIC); break;                \
  case BM_ACT_MISH: CALL(BM_ACT_MISH); break;                        \
  case BM_ACT_SWISH: CALL(BM_ACT_SWISH); break;                      \
  }
/* x[0:n] = 0 */
void nn_zero(float *x, size_t n, int threads);
/* x = act(x) and grad *= act'(u) elementwise (u: the activation's input). */
void nn_act_forward(float *x, size_t n, bm_activation act, int threads);
void nn_act_backward(const float *u, float *grad, size_t n, bm_activation act, int threads);
/* f and f' of one value, for fused loops */
static inline float nn_act_value(bm_activation act, float u);
static inline float nn_act_derivative(bm_activation act, float u);

/* winograd.c: inference-mode 3x3 stride-1 convolutions by Winograd F(2x2, 3x3) or F(4x4,
 * 3x3) (maps of at least 20x20) for layers with at least NN_WINOGRAD_MIN_C input channels and NN_WINOGRAD_MIN_F filters. The
 * workspace must hold nn_winograd_work_floats. a, b: out = act(a z + b), a may be NULL. */
#define NN_WINOGRAD_MIN_C 16
#define NN_WINOGRAD_MIN_F 32
int nn_winograd_fits(const bm_layer_info *l);
size_t nn_winograd_work_floats(const bm_layer_info *l, int batch, int threads);
void nn_winograd_forward(nn_ctx *ctx, nn_layer *l, const float *in, const float *a,
                         const float *b);
/* the same without bias or activation into z (training: the conv's sums before batch norm) */
void nn_winograd_conv(nn_ctx *ctx, nn_layer *l, const float *in, float *z);
/* Training backward of 3x3 stride-1 padding-1 layers whose in_c and filters are multiples of
 * 16: din += (add) or = (every element written) the input gradient from
 * dz[batch][out_h][out_w][filters], on ctx->threads threads, using the workspace
 * (nn_winograd_dx_work_floats). */
int nn_winograd_dx_fits(const bm_layer_info *l);
size_t nn_winograd_dx_work_floats(const bm_layer_info *l, int batch, int threads);
void nn_winograd_dx(nn_ctx *ctx, const nn_layer *l, const float *dz, float *din, int add);

/* 16 floats (one AVX-512 register; narrower hardware gets the same code in pieces) */
typedef float nn_v16f __attribute__((vector_size(64), aligned(4), may_alias));
typedef int nn_v16i __attribute__((vector_size(64)));

/* In-place transpose of a 16 x 16 block held as 16 row vectors: four rounds of interleaving
 * row i with row i + 8 (a perfect shuffle of the 256 elements each round). */
static inline void nn_transpose16(nn_v16f rows[16]) {
  const nn_v16i lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
  const nn_v16i hi = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  for (int round = 0; round < 4; round++) {
    nn_v16f next[16];
    for (int i = 0; i < 8; i++) {
#if defined(__clang__) /* the fuzz build (scripts/build.sh fuzz): the same shuffle, clang's way */
      (void)lo, (void)hi;
      next[2 * i] = __builtin_shufflevector(rows[i], rows[i + 8], 0, 16, 1, 17, 2, 18, 3, 19, 4,
                                            20, 5, 21, 6, 22, 7, 23);
      next[2 * i + 1] = __builtin_shufflevector(rows[i], rows[i + 8], 8, 24, 9, 25, 10, 26, 11,
                                                27, 12, 28, 13, 29, 14, 30, 15, 31);
#else
      next[2 * i] = __builtin_shuffle(rows[i], rows[i + 8], lo);
      next[2 * i + 1] = __builtin_shuffle(rows[i], rows[i + 8], hi);
#endif
    }
    for (int i = 0; i < 16; i++) rows[i] = next[i];
  }
}

/* The target's native float vector, NN_VW floats: one AVX-512 register (16), one AVX
 * register (8) or one SSE register (4). Kernels written with it compile to whole registers
 * and fused multiply-adds on each (nn_v16f on a narrower target is split into pieces, and
 * ISO C mode does not contract a * b + c into an FMA). */
#include <immintrin.h>
#if defined(__AVX512F__)
#define NN_VW 16
typedef float nn_vf __attribute__((vector_size(64), aligned(4), may_alias));
typedef int nn_vi __attribute__((vector_size(64)));
#define NN_FMA(a, b, c) ((nn_vf)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#elif defined(__AVX__)
#define NN_VW 8
typedef float nn_vf __attribute__((vector_size(32), aligned(4), may_alias));
typedef int nn_vi __attribute__((vector_size(32)));
#if defined(__FMA__)
#define NN_FMA(a, b, c) ((nn_vf)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#endif
#else
#define NN_VW 4
typedef float nn_vf __attribute__((vector_size(16), aligned(4), may_alias));
typedef int nn_vi __attribute__((vector_size(16)));
#endif
#ifndef NN_FMA
#define NN_FMA(a, b, c) ((a) * (b) + (c))
#endif
/* every lane = the float x */
#if defined(__AVX512F__)
#define NN_VSPLAT(x) ((nn_vf)_mm512_set1_ps(x))
#elif defined(__AVX__)
#define NN_VSPLAT(x) ((nn_vf)_mm256_set1_ps(x))
#else
#define NN_VSPLAT(x) ((nn_vf)_mm_set1_ps(x))
#endif

/* Loads and stores at any 4-byte alignment (macros: no vector passes through a function's
 * ABI) */
#define NN_VLOAD(p) (*(const nn_vf *)(p))
#define NN_VSTORE(p, v) (*(nn_vf *)(p) = (v))

/* The activations with a vector form below (others: element by element) */
static inline int nn_act_vectorised(bm_activation act) {
  return act == BM_ACT_LINEAR || act == BM_ACT_LEAKY || act == BM_ACT_RELU;
}

/* *u = act(*u), the same values as nn_act_value */
static inline __attribute__((always_inline)) void nn_act_v(nn_vf *u, bm_activation act) {
  const nn_vf zero = {0};
  switch (act) {
  case BM_ACT_LINEAR: return;
  case BM_ACT_LEAKY: {
    nn_vi pos = *u > zero;
    nn_vf small = *u * 0.1f;
    *u = (nn_vf)((pos & (nn_vi)*u) | (~pos & (nn_vi)small));
    return;
  }
  case BM_ACT_RELU: {
    nn_vi pos = *u > zero;
    *u = (nn_vf)(pos & (nn_vi)*u);
    return;
  }
  default:
    for (int i = 0; i < NN_VW; i++) (*u)[i] = nn_act_value(act, (*u)[i]);
  }
}

/* *g *= act'(*u), the same values as with nn_act_derivative */
static inline __attribute__((always_inline)) void nn_act_grad_v(nn_vf *g, const nn_vf *u,
                                                                bm_activation act) {
  const nn_vf zero = {0};
  switch (act) {
  case BM_ACT_LINEAR: return;
  case BM_ACT_LEAKY: {
    nn_vi pos = *u > zero;
    nn_vf small = *g * 0.1f;
    *g = (nn_vf)((pos & (nn_vi)*g) | (~pos & (nn_vi)small));
    return;
  }
  case BM_ACT_RELU: {
    nn_vi pos = *u > zero;
    *g = (nn_vf)(pos & (nn_vi)*g);
    return;
  }
  default:
    for (int i = 0; i < NN_VW; i++) (*g)[i] *= nn_act_derivative(act, (*u)[i]);
  }
}

/* Sums over rows of float vectors are flushed into double accumulators every
 * NN_FLOAT_SUM_ROWS rows. */
#define NN_FLOAT_SUM_ROWS 32

/* conv_pointwise.c: inference-mode 1x1 convolutions on few pixels (at most
 * NN_POINTWISE_MAX_ROWS in the batch; in_c a multiple of 16, at least 32 filters). */
#define NN_POINTWISE_MAX_ROWS 4096
int nn_pointwise_fits(const bm_layer_info *l, int batch);
size_t nn_pointwise_work_floats(const bm_layer_info *l, int batch, int threads);
void nn_pointwise_forward(nn_ctx *ctx, nn_layer *l, const float *in, const float *a,
                          const float *b);

/* conv_pointwise.c: 1x1 convolutions on at most NN_NARROW_MAX_C input channels, any mode:
 * the weights transposed (nn_narrow_weights: in_c * filters rounded up to 2 vectors, at most
 * NN_NARROW_MAX_WEIGHTS, 64-byte alignment not needed) and the plain sums of pixels
 * [r0, r1) of the batch into z[r][filters], on the calling thread (conv.c). */
#define NN_NARROW_MAX_C 64
#define NN_NARROW_MAX_WEIGHTS ((size_t)1 << 16)
/* inference with OpenBLAS (not the own GEMM) also takes 1x1 layers on up to
 * NN_NARROW_INFER_MAX_C channels (e.g. 96 -> 448 on 10x10: OpenBLAS's packing costs more
 * than the product); nn_narrow_fits(l, wide) with wide set allows them */
#define NN_NARROW_INFER_MAX_C 512
int nn_narrow_fits(const bm_layer_info *l, int wide);
void nn_narrow_weights(const nn_layer *l, float *wt);
void nn_narrow_rows(const bm_layer_info *l, const float *in, size_t r0, size_t r1,
                    const float *wt, float *z);

/* conv_direct.c: inference-mode direct convolution for first layers (at most
 * NN_DIRECT_MAX_C input channels, k = size * size * in_c <= NN_DIRECT_MAX_K, 16 or 32
 * filters). a, b as for nn_winograd_forward. */
#define NN_DIRECT_MAX_C 4
#define NN_DIRECT_MAX_K 64
int nn_direct_fits(const bm_layer_info *l);
void nn_direct_forward(nn_ctx *ctx, nn_layer *l, const float *in, const float *a,
                       const float *b);
/* The weights transposed for the direct sums, wt[(ky * size + kx) * in_c + c][filters]
 * (at most NN_DIRECT_MAX_K * 32 floats, 64-byte aligned), and the plain sums (no bias, no
 * activation) of output pixels [r0, r1) of the batch into z[r][filters], on the calling
 * thread (training: conv.c). */
void nn_direct_weights(const nn_layer *l, float *wt);
void nn_direct_conv_pixels(const bm_layer_info *l, const float *in, size_t r0, size_t r1,
                           const float *wt, float *z);

/* conv_wgrad.c: weight gradient of 3x3 convolutions without im2col, for one group and either
 * at most 3 input channels (k <= NN_WGRAD_MAX_K, filters a multiple of 16) or channels a
 * multiple of 16 (filters a multiple of 8, rows of at least 16 pixels): dweight[f][t] += the
 * sum over output pixels [r0, r1) of dz[r - r0][f] * the input under tap t, on the calling
 * thread (conv.c, training). scratch: NN_WGRAD_SCRATCH_FLOATS floats (a thread's im2col
 * slice). */
#define NN_WGRAD_MAX_K 27
#define NN_WGRAD_SCRATCH_FLOATS (NN_CHUNK_FLOATS / 2) /* <= any thread slice holding it */
int nn_wgrad_fits(const bm_layer_info *l);
void nn_wgrad_pixels(const bm_layer_info *l, const float *in, size_t r0, size_t r1,
                     const float *dz, float *dweight, float *scratch);

/* conv_depthwise.c: convolutions with groups == in_c == filters and size <=
 * NN_DEPTHWISE_MAX_SIZE (3x3 and 5x5 fastest), any stride and padding, training and
 * inference. The workspace must hold nn_depthwise_work_floats. Forward: z (the sums; training
 * only, may equal l->out when not kept) and out = act(a z + b): inference and training
 * without batch norm take a, b as conv.c computes them (bn inference coefficients, or a NULL
 * and b = bias); training with batch norm computes them (a, b: 2 * filters floats out).
 * Backward from dz = dLoss/dz: dweight +=, din += (add) or = (every element written). */
#define NN_DEPTHWISE_MAX_SIZE 7
int nn_depthwise_fits(const bm_layer_info *l);
size_t nn_depthwise_work_floats(const bm_layer_info *l, int threads);
void nn_depthwise_forward(nn_ctx *ctx, nn_layer *l, const float *in, float *z, float *a,
                          float *b);
void nn_depthwise_backward(nn_ctx *ctx, nn_layer *l, const float *in, const float *dz,
                           float *din, int add);
/* Tests: enabled 0 sends depthwise layers through the generic im2col + GEMM path, and
 * 1x1 convolutions on few channels through the GEMM (nn_narrow_rows). */
void nn_net_set_depthwise(bm_network *net, int enabled);
void nn_net_set_narrow(bm_network *net, int enabled);

/* per-layer forward / backward. din may be NULL (gradient not wanted). */
void nn_conv_forward(nn_ctx *ctx, nn_layer *l, const float *in);
/* overwrite: din = the input gradient instead of din += (allowed only where
 * nn_conv_overwrites_din says the path writes every element of din) */
int nn_conv_overwrites_din(const nn_ctx *ctx, const bm_layer_info *l);
void nn_conv_backward(nn_ctx *ctx, nn_layer *l, const float *in, float *din, int overwrite);
void nn_maxpool_forward(nn_ctx *ctx, nn_layer *l, const float *in);
/* overwrite: din = the gradient instead of din += (only when nn_maxpool_tiles: windows
 * that cover the input exactly once) */
int nn_maxpool_tiles(const bm_layer_info *l);
void nn_maxpool_backward(nn_ctx *ctx, nn_layer *l, float *din, int overwrite);
void nn_upsample_forward(nn_ctx *ctx, nn_layer *l, const float *in);
void nn_upsample_backward(nn_ctx *ctx, nn_layer *l, float *din);
void nn_route_forward(nn_ctx *ctx, nn_layer *l, nn_layer *layers);
void nn_route_backward(nn_ctx *ctx, nn_layer *l, nn_layer *layers);
void nn_shortcut_forward(nn_ctx *ctx, nn_layer *l, const float *in, const float *from);
void nn_shortcut_backward(nn_ctx *ctx, nn_layer *l, const float *in, const float *from,
                          float *din, float *dfrom);
void nn_yolo_forward(nn_ctx *ctx, nn_layer *l, const float *in);
/* dropout.c (training only; in inference the layer's out points at its input) */
uint64_t nn_dropout_layer_key(uint64_t key, int layer);
void nn_dropout_forward(nn_ctx *ctx, nn_layer *l, const float *in, uint64_t layer_key);
void nn_dropout_backward(nn_ctx *ctx, nn_layer *l, float *din, uint64_t layer_key);
void nn_yolo_backward(nn_ctx *ctx, nn_layer *l, float *din);

/* Rows [*first, *end) of part p when `rows` rows are split into `parts` equal ranges. */
static inline void nn_part(size_t rows, int parts, int p, size_t *first, size_t *end) {
  *first = rows * (size_t)p / (size_t)parts;
  *end = rows * (size_t)(p + 1) / (size_t)parts;
}

/* batchnorm.c: batch norm of a conv layer, fused with its activation, over z[rows][filters].
 * Range kernels (sums: 2 * filters doubles, zeroed by the caller, added to): */
void nn_bn_sums_rows(const float *z, size_t first, size_t end, int channels, double *sums);
/* combines `parts` partial sums; updates running and batch statistics; out = act(a z + b) */
void nn_bn_finish_stats(nn_layer *l, size_t rows, const double *sums, int parts, float *a,
                        float *b);
void nn_bn_infer_coefs(const nn_layer *l, float *a, float *b);
/* backward pass 1: the partial sums, and grad = dLoss/d(out) -> dLoss/du in place except for
 * linear, leaky and relu, whose derivative pass 2 recomputes (one write of grad less) */
void nn_bn_backward_sums_rows(const nn_layer *l, const float *z, float *grad, size_t first,
                              size_t end, double *sums);
/* adds into dscale, dshift; coef: 3 * filters floats for pass 2 */
void nn_bn_backward_finish(nn_layer *l, size_t rows, const double *sums, int parts,
                           float *coef);
/* backward pass 2: grad (what pass 1 left) -> dLoss/dz in place */
void nn_bn_backward_apply_rows(const nn_layer *l, const float *z, float *grad, size_t first,
                               size_t end, const float *coef);
/* Whole tensors on `threads` threads (reduce: see bm_network.reduce). */
void nn_bn_forward_train(nn_layer *l, const float *z, size_t rows, double *reduce, int threads);
void nn_bn_forward_infer(nn_layer *l, float *x, size_t rows, double *reduce, int threads);
void nn_bn_backward(nn_layer *l, const float *z, float *grad, size_t rows, double *reduce,
                    int threads);

#include <math.h>

static inline float nn_logistic(float x) { return 1.0f / (1.0f + expf(-x)); }

static inline float nn_act_value(bm_activation act, float u) {
  switch (act) {
  case BM_ACT_LEAKY: return u > 0 ? u : 0.1f * u;
  case BM_ACT_RELU: return u > 0 ? u : 0.0f;
  case BM_ACT_LOGISTIC: return nn_logistic(u);
  case BM_ACT_MISH: {
    float softplus = u > 20.0f ? u : log1pf(expf(u));
    return u * tanhf(softplus);
  }
  case BM_ACT_SWISH: return u * nn_logistic(u);
  case BM_ACT_LINEAR: break;
  }
  return u;
}

static inline float nn_act_derivative(bm_activation act, float u) {
  switch (act) {
  case BM_ACT_LEAKY: return u > 0 ? 1.0f : 0.1f;
  case BM_ACT_RELU: return u > 0 ? 1.0f : 0.0f;
  case BM_ACT_LOGISTIC: {
    float s = nn_logistic(u);
    return s * (1.0f - s);
  }
  case BM_ACT_MISH: {
    /* d/du [u tanh(sp(u))] = tanh(sp) + u (1 - tanh^2(sp)) logistic(u) */
    float softplus = u > 20.0f ? u : log1pf(expf(u));
    float t = tanhf(softplus);
    return t + u * (1.0f - t * t) * nn_logistic(u);
  }
  case BM_ACT_SWISH: {
    float s = nn_logistic(u);
    return s + u * s * (1.0f - s);
  }
  case BM_ACT_LINEAR: break;
  }
  return 1.0f;
}

#endif
