/* boxmine nn: a convolutional network engine built from darknet-style .cfg files.
 *
 * Layers: [convolutional] (+ batch norm, groups), [maxpool], [upsample], [route],
 * [shortcut], [dropout], [yolo] (forward/backward of its logistic only; the loss lives in
 * bm_det).
 * Forward and backward on CPU; convolution is im2col + one GEMM per layer and group (OpenBLAS
 * or the engine's own AVX-512 GEMM, see bm_net_set_gemm).
 *
 * ---- Memory layout (read this before indexing any buffer) -------------------------------
 *  - The network INPUT buffer is NCHW: input[((b * C + c) * H + y) * W + x], values as the
 *    caller likes them (boxmine feeds RGB in [0, 1]).
 *  - Every layer OUTPUT (and its gradient buffer) is NHWC: out[((b * H + y) * W + x) * C + c].
 *    A [yolo] layer's output is therefore [batch][h][w][n_mask][5 + classes], and the vector
 *    of one prediction (tx, ty, tw, th, objectness, class 0 .. classes-1) is contiguous:
 *      pred = out + ((b * h + y) * w + x) * out_c + a * (5 + classes)       (a < n_mask)
 *    bm_nhwc_to_nchw() converts for comparison with PyTorch or darknet.
 *  - Parameters: conv weight [filters][k][k][c/groups] (channels last, like activations: it is
 *    darknet's / PyTorch's [filters][c/groups][k][k] permuted, i.e. torch_w.permute(0,2,3,1);
 *    .weights files are converted on load and save), bias / bn scale / bn bias [filters].
 *    They live in ONE float array (bm_net_params), the
 *    gradients in another of the same size (bm_net_grads), in the order of
 *    bm_net_param_groups. Batch-norm running mean and variance live in a separate "state"
 *    array (bm_net_state), which the optimiser never touches.
 *
 * ---- Gradients --------------------------------------------------------------------------
 *  True gradients dLoss/dx (not darknet's negated deltas), ACCUMULATED (+=) into the
 *  gradient buffers. Training step:
 *      bm_net_zero_grads(net);                 // parameter gradients = 0 (one memset)
 *      fill bm_net_input(net); bm_net_forward(net);  // in training mode forward also sets
 *                                              // the output gradients of the heads to 0
 *      for each head i: write (or add) dLoss/d(output) into bm_net_output_grad(net, i)
 *      bm_net_backward(net);                   // adds into bm_net_grads(net)
 *  Heads are the layers whose output no later layer reads (the [yolo] layers of a detector).
 *  Output gradients of other layers are the engine's scratch space, cleared and filled by
 *  backward. Calling forward+backward several times between zero_grads accumulates
 *  (subdivisions).
 *  The gradient with respect to the network input is not computed.
 *
 * ---- Batch normalisation (the PyTorch reference must match these exact rules) -----------
 *  Training mode: mean and variance over batch * h * w of each channel; the variance used
 *  to normalise is the BIASED one (divide by n); y = scale * (x - mean) / sqrt(var + 1e-5)
 *  + bias. Running statistics (PyTorch BatchNorm2d(eps=1e-5, momentum=0.01) semantics,
 *  which is darknet's 0.99 / 0.01 rolling average):
 *      running_mean = 0.99 * running_mean + 0.01 * mean
 *      running_var  = 0.99 * running_var  + 0.01 * var * n / (n - 1)   (unbiased)
 *  Inference mode: the same formula with running_mean / running_var.
 *  A conv with batch_normalize=1 has no conv bias (the bn bias plays that role, as in
 *  darknet's weights files). New networks start with running_mean 0, running_var 1.
 *
 * ---- Activations ------------------------------------------------------------------------
 *  linear; leaky: x > 0 ? x : 0.1 x; relu; logistic: 1/(1+e^-x); mish: x tanh(softplus(x));
 *  swish: x * logistic(x). [yolo] forward applies logistic to tx, ty, objectness and the
 *  class scores of every anchor (not tw, th); backward multiplies by y (1 - y) there.
 *
 * ---- FLOPs ------------------------------------------------------------------------------
 *  bm_net_flops: forward floating-point operations per image; one multiply-add = 2 FLOP.
 *  Counted: convolutions (2 * k * k * c/groups * filters * out_h * out_w) only, as darknet's
 *  BFLOPs column does. A training step is conventionally 3x the forward count.
 *
 * ---- Threads and determinism ------------------------------------------------------------
 *  Each network runs its own loops with OpenMP on bm_net_set_threads threads (default 1),
 *  splitting convolutions into row ranges (or GEMMs into blocks) itself and calling OpenBLAS
 *  single-threaded: creating a network calls openblas_set_num_threads(1), which is
 *  process-global (every boxmine network wants the same, so two networks never disagree).
 *  Results are bitwise identical run to run for a given thread count (no atomics, fixed
 *  reduction order), so there is no separate deterministic mode. docs/NN.md has the
 *  measurements behind this choice.
 *
 * Nothing here prints, exits or keeps global state; two networks in a process are independent
 * (a network must not be used from two threads at once).
 */
#ifndef BM_NN_H
#define BM_NN_H

#include <stddef.h>
#include <stdint.h>

#include "boxmine/bm_core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bm_layer_type {
  BM_LAYER_CONV = 0,
  BM_LAYER_MAXPOOL,
  BM_LAYER_UPSAMPLE,
  BM_LAYER_ROUTE,
  BM_LAYER_SHORTCUT,
  BM_LAYER_YOLO,
  BM_LAYER_DROPOUT,
} bm_layer_type;

typedef enum bm_activation {
  BM_ACT_LINEAR = 0,
  BM_ACT_LEAKY,
  BM_ACT_RELU,
  BM_ACT_LOGISTIC,
  BM_ACT_MISH,
  BM_ACT_SWISH,
} bm_activation;

#define BM_YOLO_MAX_ANCHORS 32
#define BM_ROUTE_MAX_INPUTS 8
#define BM_NET_MAX_STEPS 16

/* Every number of a [yolo] section, for the detector to read. */
typedef struct bm_yolo_params {
  int classes;                              /* classes= (default 20) */
  int num;                                  /* num= total anchors listed (default 1) */
  int n_mask;                               /* anchors predicted by this head */
  int mask[BM_YOLO_MAX_ANCHORS];            /* mask= indices into anchors; default 0..num-1 */
  float anchors[2 * BM_YOLO_MAX_ANCHORS];   /* anchors= w0,h0, w1,h1, ... in input pixels */
  float jitter;                             /* jitter= (default 0.2) */
  float ignore_thresh;                      /* ignore_thresh= (default 0.5) */
  float truth_thresh;                       /* truth_thresh= (default 1) */
  int random;                               /* random= (default 0) */
  char iou_loss[16];                        /* iou_loss= (default "mse") */
  float iou_normalizer;                     /* iou_normalizer= (default 0.75) */
  float cls_normalizer;                     /* cls_normalizer= (default 1) */
  float scale_x_y;                          /* scale_x_y= (default 1) */
  int neighbors;                            /* neighbors= 0 or 1 (default 0; 1 needs
                                             * scale_x_y >= 2) */
  int obj_iou;                              /* obj_iou= 0 or 1 (boxmine's; default 0): a
                                             * positive's objectness target is its IoU with
                                             * its truth instead of 1 (bm_det.h) */
  int nms_kind;                             /* nms_kind= (darknet fork): 0 plain IoU
                                             * (default, "default"), 1 "greedynms",
                                             * 2 "diounms"; see bm_det.h, bm_nms_kind */
  float beta_nms;                           /* beta_nms= (0.6), diounms's exponent */
  float iou_thresh;                         /* iou_thresh= (1): read, not used; boxmine's
                                             * train --iou-thresh sets the training rule */
} bm_yolo_params;

/* The [net] section. Unset numbers keep the defaults noted. */
typedef struct bm_net_config {
  int width, height, channels;              /* required by boxmine: input size (channels 3) */
  int batch, subdivisions;                  /* 1, 1 */
  float learning_rate, momentum, decay;     /* 0.001, 0.9, 0.0001 */
  int burn_in, max_batches;                 /* 0, 0 */
  float power;                              /* 4 (burn-in exponent) */
  char policy[16];                          /* "constant" (steps, poly, exp, ...) */
  int n_steps;
  int steps[BM_NET_MAX_STEPS];
  float scales[BM_NET_MAX_STEPS];
  float jitter, hue, saturation, exposure, angle; /* 0, 0, 1, 1, 0 */
  int flip;                                 /* 1 */
  int letter_box;                           /* -1 when absent (the user of the network
                                             * decides), 0: stretch the image to the input
                                             * size, 1: letterbox (keep its aspect ratio) */
} bm_net_config;

/* What a caller may read about one layer. in_* is the shape of the (first) input. */
typedef struct bm_layer_info {
  bm_layer_type type;
  int cfg_line;                             /* line of the section header in the cfg text */
  int in_c, in_h, in_w;
  int out_c, out_h, out_w;
  /* convolutional */
  int filters, size, stride, pad, groups, batch_normalize;
  bm_activation activation;                 /* conv and shortcut */
  /* maxpool: size, stride (above) and padding (darknet's total padding) */
  int padding;
  /* upsample: stride (above) and scale (output = scale * nearest neighbour, default 1) */
  float scale;
  /* route: absolute indices of the layers concatenated along channels; with groups > 1 only
   * channel slice group_id of each input is taken (darknet's route groups/group_id) */
  int n_inputs;
  int inputs[BM_ROUTE_MAX_INPUTS];
  int group_id;
  /* shortcut: from (absolute index) */
  int from;
  /* dropout: probability= (default 0.5), the share of elements zeroed in training */
  float probability;
  /* yolo */
  bm_yolo_params yolo;
} bm_layer_info;

/* Kinds of entries in the parameter and state arrays. */
typedef enum bm_param_kind {
  BM_PARAM_CONV_WEIGHT = 0,                 /* [filters][k][k][c/groups] (see top) */
  BM_PARAM_CONV_BIAS,                       /* [filters], only without batch norm */
  BM_PARAM_BN_SCALE,                        /* [filters] gamma */
  BM_PARAM_BN_BIAS,                         /* [filters] beta */
  BM_STATE_BN_MEAN,                         /* [filters] running mean (state array) */
  BM_STATE_BN_VAR,                          /* [filters] running variance (state array) */
} bm_param_kind;

typedef struct bm_param_group {
  int layer;
  bm_param_kind kind;
  size_t offset;                            /* in floats, into params/grads (or state) */
  size_t count;
} bm_param_group;

typedef struct bm_network bm_network;

/* ---- building ---------------------------------------------------------------------- */
/* Builds a network from a cfg file / cfg text. batch <= 0 means the cfg's batch /
 * subdivisions. Parameters start deterministic (weights 0, biases 0, bn scale 1, running
 * var 1): call bm_net_init_params or bm_net_load_weights before use. `name` is used in
 * error messages ("name: line 12: ..."). log receives warnings (unknown keys); may be NULL. */
int bm_net_create_from_file(bm_network **out, const char *path, int batch, bm_log *log,
                            bm_error *err);
int bm_net_create_from_text(bm_network **out, const char *text, const char *name, int batch,
                            bm_log *log, bm_error *err);
void bm_net_free(bm_network *net);

/* Darknet's initialisation: conv weights uniform in +-sqrt(2 / (k*k*c/groups)), biases 0,
 * bn scale 1; running mean 0, running var 1. */
void bm_net_init_params(bm_network *net, bm_rng *rng);

/* Changes batch size and/or input size (multi-scale training); keeps parameters and state.
 * width/height <= 0 keep the current ones. On failure the network is unchanged. */
int bm_net_resize(bm_network *net, int batch, int width, int height, bm_error *err);

/* Sets `classes` in every [yolo] head and the filters of the conv layer right before each
 * head to n_mask * (5 + classes). Those convs get fresh weights from rng (darknet init);
 * every other parameter is kept. */
int bm_net_set_classes(bm_network *net, int classes, bm_rng *rng, bm_error *err);

/* ---- shapes and settings -------------------------------------------------------------- */
int bm_net_batch(const bm_network *net);
void bm_net_input_dims(const bm_network *net, int *channels, int *height, int *width);
int bm_net_n_layers(const bm_network *net);
const bm_layer_info *bm_net_layer(const bm_network *net, int layer);
const bm_net_config *bm_net_cfg(const bm_network *net);
double bm_net_flops(const bm_network *net); /* forward FLOP per image */

void bm_net_set_training(bm_network *net, int training); /* default: inference (0) */
int bm_net_training(const bm_network *net);
/* threads in [1, 64], default 1. Returns the count in effect (unchanged if the larger
 * workspace it needs cannot be allocated). */
int bm_net_set_threads(bm_network *net, int threads);
int bm_net_threads(const bm_network *net);

/* Which matrix product the convolutions use. AUTO (the default of a new network): the
 * engine's own AVX-512 GEMM when OpenBLAS runs its generic "Prescott" kernels on a CPU with
 * AVX-512F (Debian 12's OpenBLAS does not know recent Xeons), else OpenBLAS. OWN needs
 * AVX-512F; without it the network uses BLAS. Both give the same results up to float
 * rounding. Returns the kind in effect (BLAS or OWN). */
typedef enum bm_gemm_kind { BM_GEMM_AUTO = 0, BM_GEMM_BLAS, BM_GEMM_OWN } bm_gemm_kind;
bm_gemm_kind bm_net_set_gemm(bm_network *net, bm_gemm_kind kind);
bm_gemm_kind bm_net_gemm(const bm_network *net);
bm_gemm_kind bm_gemm_resolve(bm_gemm_kind kind); /* what AUTO/BLAS/OWN means here */
const char *bm_gemm_kind_name(bm_gemm_kind kind); /* "auto", "blas", "own" */

/* Inference-only convolution kernels (docs/NN.md "Inference kernels"), enabled by default:
 * 3x3 stride-1 convolutions (ungrouped, at least 32 filters, input channels a multiple of
 * 16) by Winograd's F(2x2, 3x3) or, on maps of at least 20x20, F(4x4, 3x3) (2.25x and 4x
 * fewer multiplies); 1x1 convolutions on at most 4096 pixels by a packed product; first
 * layers (at most 4 input channels, 16 or 32 filters) by a direct convolution without
 * im2col. Results equal the im2col path's up to float rounding. Disabled, inference
 * computes exactly the training path's products. */
void bm_net_set_fast_infer(bm_network *net, int enabled);

/* [dropout] in training is darknet's inverted dropout: element i of layer l is zeroed when
 * u(key, l, i) < probability and the others are scaled by 1 / (1 - probability), where u is
 * a uniform number in [0, 1) hashed from the three values (no generator state, so the mask
 * does not depend on the thread count). The caller picks the key of each training step
 * (boxmine's trainer: a hash of the run's seed and the update number, so --resume repeats
 * the masks); forward and backward with the same key use the same mask. Default key 0.
 * In inference a dropout layer passes its input through (its output is the input). */
void bm_net_set_dropout_key(bm_network *net, uint64_t key);

/* Transfer learning: layers [0, n) are fixed. In training mode they run forward as in
 * inference (batch norm with the running statistics, dropout off) and backward stops at layer
 * n (no gradients for their parameters or into them). Keeping their parameters and statistics
 * unchanged by the optimiser is the caller's part (boxmine's trainer restores them after
 * every update). 0 (the default) freezes nothing; n is clamped to [0, layers]. */
void bm_net_set_frozen(bm_network *net, int n);
int bm_net_frozen(const bm_network *net);
int bm_net_has_dropout(const bm_network *net);
int bm_net_fast_infer(const bm_network *net);

/* ---- running ------------------------------------------------------------------------ */
float *bm_net_input(bm_network *net);                  /* [batch][c][h][w] (NCHW) */
void bm_net_forward(bm_network *net);
void bm_net_backward(bm_network *net);                 /* requires training mode */
float *bm_net_output(bm_network *net, int layer);      /* [batch][h][w][c] (NHWC) */
float *bm_net_output_grad(bm_network *net, int layer); /* same shape; NULL if not training */
/* Per-layer timing: when layer_seconds is not NULL, every forward adds layer i's wall time
 * (seconds) to layer_seconds[i] and every backward to layer_seconds[n_layers + i]; the
 * caller owns the 2 * n_layers doubles (zero them first) and passes NULL to stop. */
void bm_net_set_profile(bm_network *net, double *layer_seconds);

/* ---- parameters ---------------------------------------------------------------------- */
float *bm_net_params(bm_network *net);
float *bm_net_grads(bm_network *net);
size_t bm_net_n_params(const bm_network *net);
void bm_net_zero_grads(bm_network *net);
/* Parameter groups in array order (conv weight, then bias or bn scale + bn bias, per layer). */
const bm_param_group *bm_net_param_groups(const bm_network *net, int *n_groups);
float *bm_net_state(bm_network *net);                  /* bn running mean/var */
size_t bm_net_n_state(const bm_network *net);
const bm_param_group *bm_net_state_groups(const bm_network *net, int *n_groups);

/* ---- darknet .weights files ------------------------------------------------------------ */
/* Header: int32 major, minor, revision; then `seen` as uint64 if major*10+minor >= 2, else
 * int32. Then per conv layer in order: biases[filters], and if batch_normalize:
 * scales[filters], rolling_mean[filters], rolling_variance[filters]; then weights. boxmine
 * writes major 0, minor 2, revision 0. max_layers >= 0 loads only layers [0, max_layers)
 * and ignores the rest of the file (transfer learning); -1 requires the file to match the
 * whole network exactly (size checked). */
int bm_net_load_weights(bm_network *net, const char *path, int max_layers, bm_error *err);
int bm_net_save_weights(const bm_network *net, const char *path, bm_error *err);
int bm_net_weights_from_memory(bm_network *net, const void *data, size_t len, int max_layers,
                               const char *name, bm_error *err);
void bm_net_weights_to_buf(const bm_network *net, bm_buf *out);
uint64_t bm_net_seen(const bm_network *net); /* images seen, as stored in .weights */
void bm_net_set_seen(bm_network *net, uint64_t seen);

/* ---- helpers -------------------------------------------------------------------------- */
const char *bm_layer_type_name(bm_layer_type type);   /* "convolutional", "maxpool", ... */
const char *bm_activation_name(bm_activation act);    /* "leaky", ... */
void bm_nhwc_to_nchw(const float *src, float *dst, int n, int h, int w, int c);
void bm_nchw_to_nhwc(const float *src, float *dst, int n, int c, int h, int w);
/* OpenBLAS's kernel family ("SkylakeX", "Haswell", "Prescott" = generic fallback...). */
const char *bm_nn_blas_core(void);
/* Seconds for one n x n by n x n product through the engine's GEMM on `threads` threads. */
int bm_nn_time_sgemm(int n, int threads, bm_gemm_kind kind, double *seconds, bm_error *err);

#ifdef __cplusplus
}
#endif
#endif
