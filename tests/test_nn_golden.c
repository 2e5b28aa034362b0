/* The network engine against the PyTorch reference in tests/golden (docs/GOLDEN.md):
 * tests/golden/golden.cfg (every layer type and option) with the parameters of
 * golden.weights, checked on
 *   - the loaded parameters and the byte-exact .weights round trip,
 *   - every layer's output in inference and in training mode, and the loss
 *     L = sum over yolo layers of sum(out * R),
 *   - every layer's output gradient and every parameter gradient after one backward,
 *   - the batch-norm running statistics after one training forward,
 *   - the parameters after 3 SGD steps (bm_optim: momentum 0.9, decay 0.0005 on conv
 *     weights only, lr 0.001),
 * with 1 and 2 threads. The reference is float64 PyTorch stored as float32. Error measure
 * per tensor: max |engine - reference| / max |reference|. Tolerances below; PyTorch's own
 * float32 run lands within 3e-6 of the reference on every tensor (make_golden.py prints it).
 * BM_GOLDEN_VERBOSE=1 in the environment prints every measured error. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_core.h"
#include "boxmine/bm_nn.h"
#include "boxmine/bm_train.h"
#include "testlib.h"

#define TOL_FORWARD 1e-4   /* outputs and loss */
#define TOL_BACKWARD 1e-3  /* gradients and parameters after SGD */
#define TOL_STATE 1e-3     /* change of the running mean / variance (see check_state) */
#define SGD_STEPS 3
#define SGD_LR 0.001f

/* ---- the golden tensor file ------------------------------------------------------------- */
typedef struct golden_tensor {
  char name[64];
  int ndim;
  int dims[4];
  size_t count;
  float *data;
} golden_tensor;

typedef struct golden {
  int n;
  golden_tensor *tensors;
} golden;

static uint32_t read_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* "BMGT", u32 version 1, u32 count, then per tensor: u32 name length, name, u32 ndim,
 * u32 dims[ndim], float32 values (little-endian, the machine's float layout). */
static int golden_load(golden *g, const char *path) {
  char *raw = NULL;
  size_t len = 0;
  bm_error err;
  memset(g, 0, sizeof *g);
  if (bm_read_file(path, &raw, &len, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  const unsigned char *p = (const unsigned char *)raw, *end = p + len;
  int ok = len >= 12 && memcmp(p, "BMGT", 4) == 0 && read_u32(p + 4) == 1;
  if (ok) {
    g->n = (int)read_u32(p + 8);
    g->tensors = calloc((size_t)g->n, sizeof *g->tensors);
    ok = g->tensors != NULL;
  }
  p += 12;
  for (int i = 0; ok && i < g->n; i++) {
    golden_tensor *t = &g->tensors[i];
    uint32_t name_len = end - p >= 4 ? read_u32(p) : UINT32_MAX;
    if (name_len >= sizeof t->name || (size_t)(end - p) < 8 + name_len) {
      ok = 0;
      break;
    }
    memcpy(t->name, p + 4, name_len);
    p += 4 + name_len;
    t->ndim = (int)read_u32(p);
    p += 4;
    if (t->ndim < 1 || t->ndim > 4 || (size_t)(end - p) < 4u * (size_t)t->ndim) {
      ok = 0;
      break;
    }
    t->count = 1;
    for (int d = 0; d < t->ndim; d++) {
      t->dims[d] = (int)read_u32(p + 4 * d);
      t->count *= (size_t)t->dims[d];
    }
    p += 4 * t->ndim;
    if ((size_t)(end - p) < 4 * t->count || !(t->data = malloc(4 * t->count))) {
      ok = 0;
      break;
    }
    memcpy(t->data, p, 4 * t->count);
    p += 4 * t->count;
  }
  ok = ok && p == end;
  bm_free(raw);
  if (!ok) fprintf(stderr, "%s: not a valid golden tensor file\n", path);
  return ok ? 0 : -1;
}

static void golden_free(golden *g) {
  for (int i = 0; i < g->n; i++) free(g->tensors[i].data);
  free(g->tensors);
}

static const golden_tensor *golden_find(const golden *g, const char *fmt, ...) {
  char name[64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  for (int i = 0; i < g->n; i++)
    if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
  CHECK_MSG(0, "golden tensor '%s' missing", name);
  return NULL;
}

/* ---- comparisons ------------------------------------------------------------------------ */
/* max |got - ref| / max |ref| (plain max |got - ref| when ref is all zero); NaN in got gives
 * NaN, which fails every tolerance. */
static double rel_error(const float *got, const float *ref, size_t n) {
  double worst = 0, scale = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - (double)ref[i]);
    if (!(d <= worst)) worst = d;
    if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
  }
  return scale > 0 ? worst / scale : worst;
}

static void check_close(const char *what, int threads, const float *got, const golden_tensor *ref,
                        size_t n, double tol) {
  if (!ref) return;
  CHECK_MSG(ref->count == n, "%s: golden has %zu values, engine %zu", what, ref->count, n);
  if (ref->count != n) return;
  double e = rel_error(got, ref->data, n);
  if (getenv("BM_GOLDEN_VERBOSE")) printf("%-44s %d threads  %.3g\n", what, threads, e);
  CHECK_MSG(e <= tol, "%s (%d threads): max|diff|/max|ref| = %.3g > %.0e", what, threads, e, tol);
}

/* Engine conv weights [f][k][k][c/g] to PyTorch's / darknet's [f][c/g][k][k]. */
static void weights_to_oihw(const float *src, float *dst, int filters, int k, int c) {
  for (int f = 0; f < filters; f++)
    for (int y = 0; y < k; y++)
      for (int x = 0; x < k; x++)
        for (int ch = 0; ch < c; ch++)
          dst[((f * c + ch) * k + y) * k + x] = src[((f * k + y) * k + x) * c + ch];
}

static const char *param_name(bm_param_kind kind) {
  switch (kind) {
    case BM_PARAM_CONV_WEIGHT: return "weights";
    case BM_PARAM_CONV_BIAS: return "biases";
    case BM_PARAM_BN_SCALE: return "scales";
    case BM_PARAM_BN_BIAS: return "biases";
    case BM_STATE_BN_MEAN: return "rolling_mean";
    case BM_STATE_BN_VAR: return "rolling_variance";
  }
  return "?";
}

/* Every parameter group against golden tensors "<prefix>.<layer>.<name>". Returns the
 * number of groups compared. */
static int check_params(bm_network *net, const golden *g, const char *prefix, const float *values,
                        double tol, int threads) {
  int n_groups = 0, compared = 0;
  const bm_param_group *groups = bm_net_param_groups(net, &n_groups);
  for (int i = 0; i < n_groups; i++) {
    const bm_param_group *pg = &groups[i];
    const bm_layer_info *info = bm_net_layer(net, pg->layer);
    const golden_tensor *ref =
        golden_find(g, "%s.%d.%s", prefix, pg->layer, param_name(pg->kind));
    if (!ref) continue;
    char what[96];
    snprintf(what, sizeof what, "%s.%d.%s", prefix, pg->layer, param_name(pg->kind));
    const float *got = values + pg->offset;
    float *permuted = NULL;
    if (pg->kind == BM_PARAM_CONV_WEIGHT) {
      permuted = malloc(pg->count * sizeof *permuted);
      weights_to_oihw(got, permuted, info->filters, info->size, info->in_c / info->groups);
      got = permuted;
    }
    check_close(what, threads, got, ref, pg->count, tol);
    free(permuted);
    compared++;
  }
  return compared;
}

/* Running statistics are compared through their change from the loaded values: the change
 * is 0.01 * (batch statistic - running), so an error in the batch statistic (biased instead
 * of unbiased variance, another momentum) shows at full size there while it would hide
 * below float32 rounding in the running value itself. */
static void check_state(bm_network *net, const golden *g, const char *prefix, int threads) {
  int n_groups = 0;
  const bm_param_group *groups = bm_net_state_groups(net, &n_groups);
  const float *state = bm_net_state(net);
  CHECK(n_groups > 0);
  for (int i = 0; i < n_groups; i++) {
    const bm_param_group *sg = &groups[i];
    const char *name = param_name(sg->kind);
    const golden_tensor *start = golden_find(g, "param.%d.%s", sg->layer, name);
    const golden_tensor *ref = golden_find(g, "%s.%d.%s", prefix, sg->layer, name);
    if (!start || !ref || start->count != sg->count || ref->count != sg->count) {
      CHECK_MSG(0, "state group of layer %d (%s) does not match the golden data", sg->layer, name);
      continue;
    }
    float *got = malloc(sg->count * sizeof *got), *want = malloc(sg->count * sizeof *want);
    for (size_t j = 0; j < sg->count; j++) {
      got[j] = state[sg->offset + j] - start->data[j];
      want[j] = ref->data[j] - start->data[j];
    }
    golden_tensor delta = *ref;
    delta.data = want;
    char what[96];
    snprintf(what, sizeof what, "change of %s.%d.%s", prefix, sg->layer, name);
    check_close(what, threads, got, &delta, sg->count, TOL_STATE);
    free(got);
    free(want);
  }
}

/* ---- running the network ---------------------------------------------------------------- */
static size_t layer_count(const bm_layer_info *info, int batch) {
  return (size_t)batch * info->out_c * info->out_h * info->out_w;
}

/* Every layer's output (NHWC) against "<prefix>.out.<layer>" (NCHW); with grads, every
 * layer's output-gradient buffer after backward. The engine's backward turns a conv layer's
 * buffer from dL/d(output) into dL/dz in place (z: the convolution before bias, batch norm and
 * activation), so conv layers are compared with "train.grad_z.<layer>"; a shortcut's buffer
 * becomes the gradient before its activation, which is the same here (golden.cfg's shortcut
 * is linear); every other layer keeps dL/d(output). */
static void check_outputs(bm_network *net, const golden *g, const char *prefix, int grads,
                          double tol, int threads) {
  int batch = bm_net_batch(net);
  for (int l = 0; l < bm_net_n_layers(net); l++) {
    const bm_layer_info *info = bm_net_layer(net, l);
    size_t n = layer_count(info, batch);
    const char *kind = !grads ? "out" : info->type == BM_LAYER_CONV ? "grad_z" : "grad_out";
    const golden_tensor *ref = golden_find(g, "%s.%s.%d", prefix, kind, l);
    const float *src = grads ? bm_net_output_grad(net, l) : bm_net_output(net, l);
    CHECK(src != NULL);
    if (!ref || !src) continue;
    float *nchw = malloc(n * sizeof *nchw);
    bm_nhwc_to_nchw(src, nchw, batch, info->out_h, info->out_w, info->out_c);
    char what[96];
    snprintf(what, sizeof what, "%s.%s.%d (%s)", prefix, kind, l, bm_layer_type_name(info->type));
    check_close(what, threads, nchw, ref, n, tol);
    free(nchw);
  }
}

/* L = sum over yolo layers of sum(out * R), in double. */
static double yolo_loss(bm_network *net, const golden *g) {
  int batch = bm_net_batch(net);
  double loss = 0;
  for (int l = 0; l < bm_net_n_layers(net); l++) {
    const bm_layer_info *info = bm_net_layer(net, l);
    if (info->type != BM_LAYER_YOLO) continue;
    const golden_tensor *r = golden_find(g, "loss.R.%d", l);
    size_t n = layer_count(info, batch);
    if (!r || r->count != n) continue;
    float *nchw = malloc(n * sizeof *nchw);
    bm_nhwc_to_nchw(bm_net_output(net, l), nchw, batch, info->out_h, info->out_w, info->out_c);
    for (size_t i = 0; i < n; i++) loss += (double)nchw[i] * r->data[i];
    free(nchw);
  }
  return loss;
}

/* dL/d(out) = R into every yolo layer's output gradient, then backward. */
static void backward_from_loss(bm_network *net, const golden *g) {
  int batch = bm_net_batch(net);
  for (int l = 0; l < bm_net_n_layers(net); l++) {
    const bm_layer_info *info = bm_net_layer(net, l);
    if (info->type != BM_LAYER_YOLO) continue;
    const golden_tensor *r = golden_find(g, "loss.R.%d", l);
    if (!r || r->count != layer_count(info, batch)) continue;
    bm_nchw_to_nhwc(r->data, bm_net_output_grad(net, l), batch, info->out_c, info->out_h,
                    info->out_w);
  }
  bm_net_backward(net);
}

static void set_input(bm_network *net, const golden *g) {
  const golden_tensor *x = golden_find(g, "input");
  int c = 0, h = 0, w = 0;
  bm_net_input_dims(net, &c, &h, &w);
  if (x && x->count == (size_t)bm_net_batch(net) * c * h * w)
    memcpy(bm_net_input(net), x->data, x->count * sizeof(float));
  else
    CHECK_MSG(0, "golden input does not fit the network");
}

static void check_loss(double loss, const golden *g, const char *name, int threads) {
  const golden_tensor *ref = golden_find(g, "%s", name);
  if (!ref) return;
  double e = fabs(loss - ref->data[0]) / fabs(ref->data[0]);
  CHECK_MSG(e <= TOL_FORWARD, "%s (%d threads): engine %.9g, golden %.9g", name, threads, loss,
            (double)ref->data[0]);
}

static int files_equal(const char *a, const char *b) {
  char *da = NULL, *db = NULL;
  size_t la = 0, lb = 0;
  bm_error err;
  int same = bm_read_file(a, &da, &la, &err) == 0 && bm_read_file(b, &db, &lb, &err) == 0 &&
             la == lb && memcmp(da, db, la) == 0;
  bm_free(da);
  bm_free(db);
  return same;
}

static void run_golden(const golden *g, int threads, bm_gemm_kind gemm) {
  char cfg[4096], weights[4096];
  bm_test_source("tests/golden/golden.cfg", cfg, sizeof cfg);
  bm_test_source("tests/golden/golden.weights", weights, sizeof weights);
  bm_error err = {{0}};
  bm_network *net = NULL;
  const golden_tensor *x = golden_find(g, "input");
  if (!x) return;
  int batch = x->dims[0];
  if (bm_net_create_from_file(&net, cfg, batch, NULL, &err) != 0) {
    CHECK_MSG(0, "create: %s", err.msg);
    return;
  }
  bm_net_set_threads(net, threads);
  /* failure messages below belong to the last line printed here */
  fprintf(stderr, "golden: %d threads, gemm %s\n", threads, bm_gemm_kind_name(gemm));
  CHECK(bm_net_set_gemm(net, gemm) == gemm);

  /* Shapes and FLOPs. */
  int n_layers = bm_net_n_layers(net);
  CHECK(n_layers == 32);
  for (int l = 0; l < n_layers; l++) {
    const bm_layer_info *info = bm_net_layer(net, l);
    const golden_tensor *ref = golden_find(g, "train.out.%d", l);
    if (!ref) continue;
    CHECK_MSG(ref->ndim == 4 && ref->dims[0] == batch && ref->dims[1] == info->out_c &&
                  ref->dims[2] == info->out_h && ref->dims[3] == info->out_w,
              "layer %d: engine %dx%dx%d, golden %dx%dx%d", l, info->out_c, info->out_h,
              info->out_w, ref->dims[1], ref->dims[2], ref->dims[3]);
  }
  const golden_tensor *flops = golden_find(g, "meta.flops_per_image");
  if (flops) CHECK_NEAR(bm_net_flops(net), flops->data[0], 1e-6 * flops->data[0]);

  /* Parameters: loaded exactly, and written back byte for byte. */
  if (bm_net_load_weights(net, weights, -1, &err) != 0) {
    CHECK_MSG(0, "load weights: %s", err.msg);
    bm_net_free(net);
    return;
  }
  int n_param_tensors = 0;
  for (int i = 0; i < g->n; i++)
    if (strncmp(g->tensors[i].name, "param.", 6) == 0 && !strstr(g->tensors[i].name, "rolling"))
      n_param_tensors++;
  CHECK(check_params(net, g, "param", bm_net_params(net), 0.0, threads) == n_param_tensors);
  int n_state = 0;
  const bm_param_group *state_groups = bm_net_state_groups(net, &n_state);
  for (int i = 0; i < n_state; i++) {
    const bm_param_group *sg = &state_groups[i];
    const golden_tensor *ref = golden_find(g, "param.%d.%s", sg->layer, param_name(sg->kind));
    if (ref) check_close("loaded state", threads, bm_net_state(net) + sg->offset, ref, sg->count, 0);
  }
  if (threads == 1) {
    char dir[4096], saved[4200];
    bm_test_tmpdir(dir, sizeof dir);
    snprintf(saved, sizeof saved, "%s/saved.weights", dir);
    CHECK_MSG(bm_net_save_weights(net, saved, &err) == 0, "save: %s", err.msg);
    CHECK_MSG(files_equal(saved, weights), "saved weights differ from %s", weights);
    remove(saved);
    remove(dir);
  }

  /* Inference mode: rolling statistics, which must stay as loaded. */
  bm_net_set_training(net, 0);
  set_input(net, g);
  bm_net_forward(net);
  check_outputs(net, g, "infer", 0, TOL_FORWARD, threads);
  check_loss(yolo_loss(net, g), g, "infer.loss", threads);
  for (int i = 0; i < n_state; i++) {
    const bm_param_group *sg = &state_groups[i];
    const golden_tensor *ref = golden_find(g, "param.%d.%s", sg->layer, param_name(sg->kind));
    if (ref) check_close("state after inference", threads, bm_net_state(net) + sg->offset, ref,
                         sg->count, 0);
  }

  /* Training mode: batch statistics, one backward. */
  bm_net_set_training(net, 1);
  bm_net_zero_grads(net);
  bm_net_set_dropout_key(net, 1); /* training forward s uses key s + 1 (docs/GOLDEN.md) */
  set_input(net, g);
  bm_net_forward(net);
  check_outputs(net, g, "train", 0, TOL_FORWARD, threads);
  check_loss(yolo_loss(net, g), g, "train.loss", threads);
  check_state(net, g, "train", threads);
  backward_from_loss(net, g);
  check_outputs(net, g, "train", 1, TOL_BACKWARD, threads);
  CHECK(check_params(net, g, "grad", bm_net_grads(net), TOL_BACKWARD, threads) ==
        n_param_tensors);

  /* SGD: the gradients above are step 1's. */
  bm_optim opt;
  bm_optim_config oc = bm_optim_defaults(BM_OPTIM_SGD);
  oc.momentum = 0.9;
  oc.weight_decay = 0.0005;
  if (bm_optim_init(&opt, &oc, bm_net_n_params(net), &err) != 0) {
    CHECK_MSG(0, "optim: %s", err.msg);
    bm_net_free(net);
    return;
  }
  int n_groups = 0;
  const bm_param_group *groups = bm_net_param_groups(net, &n_groups);
  for (int i = 0; i < n_groups; i++)
    CHECK(bm_optim_set_decay(&opt, groups[i].offset, groups[i].count,
                             groups[i].kind == BM_PARAM_CONV_WEIGHT, &err) == 0);
  for (int step = 0; step < SGD_STEPS; step++) {
    if (step > 0) {
      bm_net_zero_grads(net);
      bm_net_set_dropout_key(net, (uint64_t)step + 1);
      set_input(net, g);
      bm_net_forward(net);
      backward_from_loss(net, g);
    }
    bm_optim_step(&opt, bm_net_params(net), bm_net_grads(net), SGD_LR);
  }
  CHECK(check_params(net, g, "sgd", bm_net_params(net), TOL_BACKWARD, threads) ==
        n_param_tensors);
  check_state(net, g, "sgd", threads);
  bm_optim_free(&opt);
  bm_net_free(net);
}

int main(void) {
  char path[4096];
  golden g;
  bm_test_source("tests/golden/golden.bin", path, sizeof path);
  if (golden_load(&g, path) != 0) {
    CHECK_MSG(0, "cannot load %s", path);
    return bm_test_finish("test_nn_golden");
  }
  run_golden(&g, 1, BM_GEMM_BLAS);
  run_golden(&g, 2, BM_GEMM_BLAS);
  if (bm_gemm_resolve(BM_GEMM_OWN) == BM_GEMM_OWN) { /* CPUs with AVX-512F */
    run_golden(&g, 1, BM_GEMM_OWN);
    run_golden(&g, 2, BM_GEMM_OWN);
  }
  golden_free(&g);
  return bm_test_finish("test_nn_golden");
}
