/* The network object: building from cfg text, shapes, the one-allocation-per-kind memory
 * plan (parameters, gradients, state, activations, activation gradients, workspace), and
 * forward / backward over the layer list. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/nn.h"

/* Largest whole-batch im2col buffer (floats) before the batch is split into chunks of
 * images (convolutions split by GEMM blocks, conv.c). */
#define NN_WORK_CAP ((size_t)1 << 24)

static int conv_needs_z(const bm_layer_info *l) {
  return l->batch_normalize || l->activation != BM_ACT_LINEAR;
}

static int conv_is_pointwise(const bm_layer_info *l) {
  return l->size == 1 && l->stride == 1 && l->pad == 0;
}

/* ---- shapes ------------------------------------------------------------------------- */
int nn_infer_shapes(const char *name, nn_layer *layers, int n_layers, int batch, int channels,
                    int height, int width, bm_error *err) {
  (void)batch;
  for (int i = 0; i < n_layers; i++) {
    bm_layer_info *l = &layers[i].info;
    l->in_c = i ? layers[i - 1].info.out_c : channels;
    l->in_h = i ? layers[i - 1].info.out_h : height;
    l->in_w = i ? layers[i - 1].info.out_w : width;
    switch (l->type) {
    case BM_LAYER_CONV:
      if (l->in_c % l->groups)
        return bm_fail(err, "%s: line %d: %d input channels are not a multiple of groups %d",
                       name, l->cfg_line, l->in_c, l->groups);
      l->out_c = l->filters;
      l->out_h = (l->in_h + 2 * l->pad - l->size) / l->stride + 1;
      l->out_w = (l->in_w + 2 * l->pad - l->size) / l->stride + 1;
      if (l->in_h + 2 * l->pad < l->size || l->in_w + 2 * l->pad < l->size)
        return bm_fail(err, "%s: line %d: input %dx%d is smaller than the %dx%d kernel", name,
                       l->cfg_line, l->in_w, l->in_h, l->size, l->size);
      break;
    case BM_LAYER_MAXPOOL:
      l->out_c = l->in_c;
      l->out_h = (l->in_h + l->padding - l->size) / l->stride + 1;
      l->out_w = (l->in_w + l->padding - l->size) / l->stride + 1;
      if (l->in_h + l->padding < l->size || l->in_w + l->padding < l->size)
        return bm_fail(err, "%s: line %d: input %dx%d is smaller than the %dx%d pool", name,
                       l->cfg_line, l->in_w, l->in_h, l->size, l->size);
      break;
    case BM_LAYER_DROPOUT:
      l->out_c = l->in_c;
      l->out_h = l->in_h;
      l->out_w = l->in_w;
      break;
    case BM_LAYER_UPSAMPLE:
      l->out_c = l->in_c;
      l->out_h = l->in_h * l->stride;
      l->out_w = l->in_w * l->stride;
      break;
    case BM_LAYER_ROUTE: {
      const bm_layer_info *first = &layers[l->inputs[0]].info;
      l->in_c = first->out_c;
      l->in_h = first->out_h;
      l->in_w = first->out_w;
      l->out_c = 0;
      for (int j = 0; j < l->n_inputs; j++) {
        const bm_layer_info *src = &layers[l->inputs[j]].info;
        if (src->out_h != first->out_h || src->out_w != first->out_w)
          return bm_fail(err,
                         "%s: line %d: route joins layer %d (%dx%d) and layer %d (%dx%d): "
                         "sizes differ",
                         name, l->cfg_line, l->inputs[0], first->out_w, first->out_h,
                         l->inputs[j], src->out_w, src->out_h);
        if (src->out_c % l->groups)
          return bm_fail(err, "%s: line %d: layer %d has %d channels, not a multiple of groups %d",
                         name, l->cfg_line, l->inputs[j], src->out_c, l->groups);
        l->out_c += src->out_c / l->groups;
      }
      l->out_h = first->out_h;
      l->out_w = first->out_w;
      break;
    }
    case BM_LAYER_SHORTCUT: {
      const bm_layer_info *src = &layers[l->from].info;
      if (src->out_c != l->in_c || src->out_h != l->in_h || src->out_w != l->in_w)
        return bm_fail(err,
                       "%s: line %d: shortcut adds layer %d (%dx%dx%d) to %dx%dx%d: shapes "
                       "differ",
                       name, l->cfg_line, l->from, src->out_w, src->out_h, src->out_c, l->in_w,
                       l->in_h, l->in_c);
      l->out_c = l->in_c;
      l->out_h = l->in_h;
      l->out_w = l->in_w;
      break;
    }
    case BM_LAYER_YOLO: {
      int want = l->yolo.n_mask * (5 + l->yolo.classes);
      if (l->in_c != want)
        return bm_fail(err,
                       "%s: line %d: [yolo] with %d anchors and %d classes needs %d input "
                       "channels (filters=%d in the conv before it), got %d",
                       name, l->cfg_line, l->yolo.n_mask, l->yolo.classes, want, want, l->in_c);
      l->out_c = l->in_c;
      l->out_h = l->in_h;
      l->out_w = l->in_w;
      break;
    }
    }
    if (l->out_h < 1 || l->out_w < 1)
      return bm_fail(err, "%s: line %d: output size %dx%d is empty", name, l->cfg_line,
                     l->out_w, l->out_h);
  }
  return 0;
}

/* ---- parameters ----------------------------------------------------------------------- */
static int add_group(bm_param_group **groups, int *n, int layer, bm_param_kind kind,
                     size_t offset, size_t count) {
  bm_param_group *grown = bm_realloc(*groups, (size_t)(*n + 1) * sizeof *grown);
  if (!grown) return -1;
  *groups = grown;
  grown[(*n)++] = (bm_param_group){layer, kind, offset, count};
  return 0;
}

static void assign_param_views(bm_network *net) {
  for (int i = 0; i < net->n_layers; i++) {
    nn_layer *l = &net->layers[i];
    if (l->info.type != BM_LAYER_CONV) continue;
    l->weight = net->params + l->weight_off;
    l->dweight = net->grads + l->weight_off;
    if (l->info.batch_normalize) {
      l->scale = net->params + l->scale_off;
      l->dscale = net->grads + l->scale_off;
      l->shift = net->params + l->shift_off;
      l->dshift = net->grads + l->shift_off;
      l->running_mean = net->state + l->mean_off;
      l->running_var = net->state + l->var_off;
    } else {
      l->bias = net->params + l->bias_off;
      l->dbias = net->grads + l->bias_off;
    }
  }
}

/* Lays out all parameters and bn state; copies values of conv layers whose shapes did not
 * change from old_* (when given), defaults elsewhere. */
int nn_plan_params(bm_network *net, const float *old_params, const float *old_state,
                   const nn_layer *old_layers, bm_error *err) {
  size_t n_params = 0, n_state = 0;
  bm_param_group *groups = NULL, *state_groups = NULL;
  int n_groups = 0, n_state_groups = 0, failed = 0;
  net->flops = 0;
  for (int i = 0; i < net->n_layers; i++) {
    nn_layer *l = &net->layers[i];
    bm_layer_info *info = &l->info;
    if (info->type != BM_LAYER_CONV) continue;
    size_t f = (size_t)info->filters;
    l->n_weights = f * info->size * info->size * (info->in_c / info->groups);
    net->flops += 2.0 * l->n_weights * info->out_h * info->out_w;
    l->weight_off = n_params;
    failed |= add_group(&groups, &n_groups, i, BM_PARAM_CONV_WEIGHT, n_params, l->n_weights);
    n_params += l->n_weights;
    if (info->batch_normalize) {
      l->scale_off = n_params;
      failed |= add_group(&groups, &n_groups, i, BM_PARAM_BN_SCALE, n_params, f);
      l->shift_off = n_params + f;
      failed |= add_group(&groups, &n_groups, i, BM_PARAM_BN_BIAS, n_params + f, f);
      n_params += 2 * f;
      l->mean_off = n_state;
      failed |= add_group(&state_groups, &n_state_groups, i, BM_STATE_BN_MEAN, n_state, f);
      l->var_off = n_state + f;
      failed |= add_group(&state_groups, &n_state_groups, i, BM_STATE_BN_VAR, n_state + f, f);
      n_state += 2 * f;
    } else {
      l->bias_off = n_params;
      failed |= add_group(&groups, &n_groups, i, BM_PARAM_CONV_BIAS, n_params, f);
      n_params += f;
    }
  }
  float *params = bm_malloc_aligned(n_params * sizeof(float));
  float *grads = bm_malloc_aligned(n_params * sizeof(float));
  float *state = bm_malloc_aligned(n_state * sizeof(float));
  if (failed || !params || !grads || !state) {
    bm_free(groups);
    bm_free(state_groups);
    bm_free_aligned(params);
    bm_free_aligned(grads);
    bm_free_aligned(state);
    return bm_fail(err, "%s: out of memory for %zu parameters", net->name, n_params);
  }
  bm_free_aligned(net->params);
  bm_free_aligned(net->grads);
  bm_free_aligned(net->state);
  bm_free(net->param_groups);
  bm_free(net->state_groups);
  net->params = params;
  net->grads = grads;
  net->state = state;
  net->n_params = n_params;
  net->n_state = n_state;
  net->param_groups = groups;
  net->n_param_groups = n_groups;
  net->state_groups = state_groups;
  net->n_state_groups = n_state_groups;
  memset(grads, 0, n_params * sizeof(float));
  assign_param_views(net);
  for (int i = 0; i < net->n_layers; i++) {
    nn_layer *l = &net->layers[i];
    if (l->info.type != BM_LAYER_CONV) continue;
    size_t f = (size_t)l->info.filters;
    const nn_layer *old = old_layers ? &old_layers[i] : NULL;
    int keep = old && old->n_weights == l->n_weights && old->info.filters == l->info.filters;
    if (keep) {
      memcpy(l->weight, old_params + old->weight_off, l->n_weights * sizeof(float));
      if (l->info.batch_normalize) {
        memcpy(l->scale, old_params + old->scale_off, f * sizeof(float));
        memcpy(l->shift, old_params + old->shift_off, f * sizeof(float));
        memcpy(l->running_mean, old_state + old->mean_off, f * sizeof(float));
        memcpy(l->running_var, old_state + old->var_off, f * sizeof(float));
      } else {
        memcpy(l->bias, old_params + old->bias_off, f * sizeof(float));
      }
      continue;
    }
    memset(l->weight, 0, l->n_weights * sizeof(float));
    for (size_t j = 0; j < f; j++) {
      if (l->info.batch_normalize) {
        l->scale[j] = 1;
        l->shift[j] = 0;
        l->running_mean[j] = 0;
        l->running_var[j] = 1;
      } else {
        l->bias[j] = 0;
      }
    }
  }
  return 0;
}

void nn_init_conv(nn_layer *l, bm_rng *rng) {
  const bm_layer_info *info = &l->info;
  float limit = sqrtf(2.0f / (float)(info->size * info->size * (info->in_c / info->groups)));
  for (size_t j = 0; j < l->n_weights; j++) l->weight[j] = bm_rng_range(rng, -limit, limit);
  for (int j = 0; j < info->filters; j++) {
    if (info->batch_normalize) {
      l->scale[j] = 1;
      l->shift[j] = 0;
      l->running_mean[j] = 0;
      l->running_var[j] = 1;
    } else {
      l->bias[j] = 0;
    }
  }
}

void bm_net_init_params(bm_network *net, bm_rng *rng) {
  for (int i = 0; i < net->n_layers; i++)
    if (net->layers[i].info.type == BM_LAYER_CONV) nn_init_conv(&net->layers[i], rng);
}

/* ---- activations and workspace ------------------------------------------------------- */
static size_t conv_col_per_image(const bm_layer_info *l) {
  if (conv_is_pointwise(l)) return 0;
  return (size_t)l->out_h * l->out_w * l->size * l->size * (l->in_c / l->groups);
}

int nn_plan_activations(bm_network *net, bm_error *err) {
  size_t b = (size_t)net->batch;
  size_t n_in = b * net->in_c * net->in_h * net->in_w;
  size_t n_acts = n_in, n_grads = 0, n_indices = 0;
  int max_filters = 0;
  for (int i = 0; i < net->n_layers; i++) {
    nn_layer *l = &net->layers[i];
    size_t n_out = b * l->info.out_h * l->info.out_w * l->info.out_c;
    l->out_off = n_acts;
    n_acts += n_out;
    if (l->info.type == BM_LAYER_CONV) {
      if (conv_needs_z(&l->info)) {
        l->z_off = n_acts;
        n_acts += n_out;
      }
      if (l->info.batch_normalize) {
        l->stat_off = n_acts;
        n_acts += 2 * (size_t)l->info.filters;
      }
      if (l->info.filters > max_filters) max_filters = l->info.filters;
    }
    if (l->info.type == BM_LAYER_MAXPOOL) {
      l->argmax_off = n_indices;
      n_indices += n_out;
    }
    n_grads += n_out;
  }
  float *input = bm_malloc_aligned(n_in * sizeof(float));
  float *acts = bm_malloc_aligned(n_acts * sizeof(float));
  float *grads = bm_malloc_aligned(n_grads * sizeof(float));
  size_t n_reduce = (size_t)(NN_MAX_THREADS + 1) * 2 * max_filters;
  double *reduce = bm_malloc_aligned(n_reduce * sizeof(double));
  int32_t *indices = bm_malloc_aligned(n_indices * sizeof(int32_t));
  if (!input || !acts || !grads || !reduce || !indices) {
    bm_free_aligned(indices);
    bm_free_aligned(input);
    bm_free_aligned(acts);
    bm_free_aligned(grads);
    bm_free_aligned(reduce);
    return bm_fail(err, "%s: out of memory for activations (%zu floats, batch %d, %dx%d)",
                   net->name, n_acts + n_grads, net->batch, net->in_w, net->in_h);
  }
  bm_free_aligned(net->input);
  bm_free_aligned(net->acts);
  bm_free_aligned(net->act_grads);
  bm_free_aligned(net->reduce);
  bm_free_aligned(net->indices);
  memset(input, 0, n_in * sizeof(float));
  memset(indices, 0, n_indices * sizeof(int32_t));
  net->indices = indices;
  net->n_indices = n_indices;
  memset(acts, 0, n_acts * sizeof(float));
  memset(grads, 0, n_grads * sizeof(float));
  net->input = input;
  net->acts = acts;
  net->n_acts = n_acts;
  net->act_grads = grads;
  net->n_act_grads = n_grads;
  net->reduce = reduce;
  net->n_reduce = n_reduce;
  net->input_nhwc = acts;
  size_t grad_off = 0;
  for (int i = 0; i < net->n_layers; i++) {
    nn_layer *l = &net->layers[i];
    size_t n_out = b * l->info.out_h * l->info.out_w * l->info.out_c;
    l->out = acts + l->out_off;
    l->dout = grads + grad_off;
    grad_off += n_out;
    l->z = l->info.type == BM_LAYER_CONV && conv_needs_z(&l->info) ? acts + l->z_off : NULL;
    l->argmax = l->info.type == BM_LAYER_MAXPOOL ? indices + l->argmax_off : NULL;
    if (l->info.type == BM_LAYER_CONV && l->info.batch_normalize) {
      l->batch_mean = acts + l->stat_off;
      l->batch_invstd = l->batch_mean + l->info.filters;
    }
  }
  return 0;
}

/* The workspace serves both ways of splitting a convolution over threads (conv.c): a
 * whole-batch im2col (capped at NN_WORK_CAP floats, at least one image), or per thread an
 * im2col chunk plus, for threads after the first, a private weight gradient, and then one
 * weight-gradient scratch per thread. The inference kernels (winograd.c, conv_pointwise.c)
 * use it as a whole too. */
int nn_plan_workspace(bm_network *net, int threads, bm_error *err) {
  size_t b = (size_t)net->batch, by_blocks = 0, chunk = 0, max_weights = 0;
  for (int i = 0; i < net->n_layers; i++) {
    const nn_layer *l = &net->layers[i];
    if (l->info.type != BM_LAYER_CONV) continue;
    if (l->n_weights > max_weights) max_weights = l->n_weights;
    /* the inference kernels (winograd.c, conv_pointwise.c) and the Winograd input gradient
     * of training use the whole workspace */
    if (nn_winograd_fits(&l->info) &&
        nn_winograd_work_floats(&l->info, net->batch, threads) > by_blocks)
      by_blocks = nn_winograd_work_floats(&l->info, net->batch, threads);
    if (nn_winograd_dx_fits(&l->info) &&
        nn_winograd_dx_work_floats(&l->info, net->batch, threads) > by_blocks)
      by_blocks = nn_winograd_dx_work_floats(&l->info, net->batch, threads);
    if (nn_depthwise_fits(&l->info) &&
        nn_depthwise_work_floats(&l->info, threads) > by_blocks)
      by_blocks = nn_depthwise_work_floats(&l->info, threads);
    if (nn_pointwise_fits(&l->info, net->batch) &&
        nn_pointwise_work_floats(&l->info, net->batch, threads) > by_blocks)
      by_blocks = nn_pointwise_work_floats(&l->info, net->batch, threads);
    /* the narrow 1x1 kernel's transposed weights live in the thread's slice */
    if (nn_narrow_fits(&l->info, 1) && NN_NARROW_MAX_WEIGHTS > chunk) chunk = NN_NARROW_MAX_WEIGHTS;
    size_t per_image = conv_col_per_image(&l->info);
    if (!per_image) continue;
    size_t images = NN_WORK_CAP / per_image;
    if (images < 1) images = 1;
    if (images > b) images = b;
    if (images * per_image > by_blocks) by_blocks = images * per_image;
    int k = l->info.size * l->info.size * (l->info.in_c / l->info.groups);
    if (nn_conv_chunk_rows(k) * k > chunk) chunk = nn_conv_chunk_rows(k) * k;
  }
  /* private weight gradients and per-thread scratch for a transposed weight gradient
   * (conv.c backward_rows), only when backward splits by images (batch >= threads) */
  size_t partials = b >= (size_t)threads ? (size_t)(2 * threads - 1) * max_weights : 0;
  size_t by_images = (size_t)threads * chunk + partials;
  size_t n_work = by_blocks > by_images ? by_blocks : by_images;
  if (net->work && n_work <= net->n_work) {
    net->chunk_floats = chunk;
    return 0;
  }
  float *work = bm_malloc_aligned(n_work * sizeof(float));
  if (!work) return bm_fail(err, "%s: out of memory for a %zu-float workspace", net->name, n_work);
  bm_free_aligned(net->work);
  net->work = work;
  net->n_work = n_work;
  net->chunk_floats = chunk;
  return 0;
}

/* The layers whose outputs layer i reads (none for the first layer, which reads the
 * network input); returns how many. */
static int layer_inputs(const nn_layer *layers, int i, int inputs[BM_ROUTE_MAX_INPUTS + 1]) {
  const bm_layer_info *info = &layers[i].info;
  int n = 0;
  if (info->type == BM_LAYER_ROUTE) {
    for (int k = 0; k < info->n_inputs; k++) inputs[n++] = info->inputs[k];
    return n;
  }
  if (i > 0) inputs[n++] = i - 1;
  if (info->type == BM_LAYER_SHORTCUT) inputs[n++] = info->from;
  return n;
}

static void find_readers(nn_layer *layers, int n_layers) {
  int inputs[BM_ROUTE_MAX_INPUTS + 1];
  for (int i = 0; i < n_layers; i++) layers[i].last_reader = -1;
  for (int i = 0; i < n_layers; i++)
    for (int k = layer_inputs(layers, i, inputs) - 1; k >= 0; k--)
      layers[inputs[k]].last_reader = i;
}

/* ---- create / free -------------------------------------------------------------------- */
int bm_net_create_from_text(bm_network **out, const char *text, const char *name, int batch,
                            bm_log *log, bm_error *err) {
  *out = NULL;
  if (!name) name = "cfg";
  nn_cfg cfg;
  if (nn_cfg_parse(&cfg, text, name, log, err)) return -1;
  bm_network *net = bm_calloc(1, sizeof *net);
  if (!net || !(net->name = bm_strdup(name))) {
    bm_free(net);
    nn_cfg_free(&cfg);
    return bm_fail(err, "%s: out of memory", name);
  }
  int rc = nn_build_layers(&cfg, &net->cfg, &net->layers, &net->n_layers, log, err);
  nn_cfg_free(&cfg);
  if (rc) {
    bm_net_free(net);
    return -1;
  }
  find_readers(net->layers, net->n_layers);
  net->batch = batch > 0 ? batch : net->cfg.batch / net->cfg.subdivisions;
  if (net->batch < 1) net->batch = 1;
  net->in_c = net->cfg.channels;
  net->in_h = net->cfg.height;
  net->in_w = net->cfg.width;
  net->threads = 1;
  net->gemm = bm_gemm_resolve(BM_GEMM_AUTO);
  net->fast_infer = 1;
  if (nn_infer_shapes(name, net->layers, net->n_layers, net->batch, net->in_c, net->in_h,
                      net->in_w, err) ||
      nn_plan_params(net, NULL, NULL, NULL, err) || nn_plan_workspace(net, net->threads, err) ||
      nn_plan_activations(net, err)) {
    bm_net_free(net);
    return -1;
  }
  nn_blas_single_threaded();
  *out = net;
  return 0;
}

int bm_net_create_from_file(bm_network **out, const char *path, int batch, bm_log *log,
                            bm_error *err) {
  char *text;
  *out = NULL;
  if (bm_read_text_file(path, &text, err)) return -1;
  int rc = bm_net_create_from_text(out, text, path, batch, log, err);
  bm_free(text);
  return rc;
}

void bm_net_free(bm_network *net) {
  if (!net) return;
  bm_free(net->name);
  bm_free(net->layers);
  bm_free_aligned(net->params);
  bm_free_aligned(net->grads);
  bm_free_aligned(net->state);
  bm_free(net->param_groups);
  bm_free(net->state_groups);
  bm_free_aligned(net->input);
  bm_free_aligned(net->acts);
  bm_free_aligned(net->act_grads);
  bm_free_aligned(net->work);
  bm_free_aligned(net->reduce);
  bm_free_aligned(net->indices);
  bm_free(net);
}

/* ---- reshaping ------------------------------------------------------------------------ */
int bm_net_resize(bm_network *net, int batch, int width, int height, bm_error *err) {
  if (batch < 1) return bm_fail(err, "%s: batch size %d must be at least 1", net->name, batch);
  if (width <= 0) width = net->in_w;
  if (height <= 0) height = net->in_h;
  if (batch == net->batch && width == net->in_w && height == net->in_h) return 0;
  size_t size = (size_t)net->n_layers * sizeof(nn_layer);
  nn_layer *saved = bm_malloc(size);
  if (!saved) return bm_fail(err, "%s: out of memory", net->name);
  memcpy(saved, net->layers, size);
  int old_batch = net->batch, old_w = net->in_w, old_h = net->in_h;
  net->batch = batch;
  net->in_w = width;
  net->in_h = height;
  if (nn_infer_shapes(net->name, net->layers, net->n_layers, batch, net->in_c, height, width,
                      err) ||
      nn_plan_workspace(net, net->threads, err) || nn_plan_activations(net, err)) {
    /* views still point at the old activations; a grown workspace does no harm */
    memcpy(net->layers, saved, size);
    net->batch = old_batch;
    net->in_w = old_w;
    net->in_h = old_h;
    bm_free(saved);
    return -1;
  }
  bm_free(saved);
  /* flops per image depend on the spatial size */
  net->flops = 0;
  for (int i = 0; i < net->n_layers; i++) {
    const nn_layer *l = &net->layers[i];
    if (l->info.type == BM_LAYER_CONV)
      net->flops += 2.0 * l->n_weights * l->info.out_h * l->info.out_w;
  }
  return 0;
}

int bm_net_set_classes(bm_network *net, int classes, bm_rng *rng, bm_error *err) {
  if (classes < 1) return bm_fail(err, "%s: class count %d must be at least 1", net->name, classes);
  size_t size = (size_t)net->n_layers * sizeof(nn_layer);
  nn_layer *saved = bm_malloc(size);
  if (!saved) return bm_fail(err, "%s: out of memory", net->name);
  memcpy(saved, net->layers, size);
  for (int i = 0; i < net->n_layers; i++) {
    bm_layer_info *l = &net->layers[i].info;
    if (l->type != BM_LAYER_YOLO) continue;
    if (i == 0 || net->layers[i - 1].info.type != BM_LAYER_CONV) {
      memcpy(net->layers, saved, size);
      bm_free(saved);
      return bm_fail(err, "%s: line %d: [yolo] does not follow a [convolutional] layer",
                     net->name, l->cfg_line);
    }
    l->yolo.classes = classes;
    net->layers[i - 1].info.filters = l->yolo.n_mask * (5 + classes);
  }
  float *old_params = net->params, *old_state = net->state;
  float *old_grads = net->grads;
  bm_param_group *old_groups = net->param_groups, *old_state_groups = net->state_groups;
  int old_n_groups = net->n_param_groups, old_n_state_groups = net->n_state_groups;
  size_t old_n_params = net->n_params, old_n_state = net->n_state;
  net->params = net->grads = net->state = NULL;
  net->param_groups = net->state_groups = NULL;
  int rc = nn_infer_shapes(net->name, net->layers, net->n_layers, net->batch, net->in_c,
                           net->in_h, net->in_w, err);
  /* Only the convs feeding a head may change shape: anything after them (a route that takes
   * such a conv) would change a later layer's parameters silently. */
  for (int i = 0; !rc && i < net->n_layers; i++) {
    const nn_layer *l = &net->layers[i];
    int feeds_head = i + 1 < net->n_layers && net->layers[i + 1].info.type == BM_LAYER_YOLO;
    if (l->info.type == BM_LAYER_CONV && !feeds_head && l->info.in_c != saved[i].info.in_c)
      rc = bm_fail(err, "%s: line %d: this layer's input depends on the class count", net->name,
                   l->info.cfg_line);
  }
  if (!rc) rc = nn_plan_params(net, old_params, old_state, saved, err);
  if (!rc) rc = nn_plan_workspace(net, net->threads, err);
  if (!rc) rc = nn_plan_activations(net, err);
  if (rc) {
    /* nn_plan_params may already have replaced the arrays: free the new ones, restore */
    if (net->params != NULL && net->params != old_params) {
      bm_free_aligned(net->params);
      bm_free_aligned(net->grads);
      bm_free_aligned(net->state);
      bm_free(net->param_groups);
      bm_free(net->state_groups);
    }
    net->params = old_params;
    net->grads = old_grads;
    net->state = old_state;
    net->param_groups = old_groups;
    net->state_groups = old_state_groups;
    net->n_param_groups = old_n_groups;
    net->n_state_groups = old_n_state_groups;
    net->n_params = old_n_params;
    net->n_state = old_n_state;
    memcpy(net->layers, saved, size);
    bm_free(saved);
    return -1;
  }
  for (int i = 0; i + 1 < net->n_layers; i++)
    if (net->layers[i + 1].info.type == BM_LAYER_YOLO &&
        net->layers[i].info.filters != saved[i].info.filters)
      nn_init_conv(&net->layers[i], rng);
  bm_free_aligned(old_params);
  bm_free_aligned(old_grads);
  bm_free_aligned(old_state);
  bm_free(old_groups);
  bm_free(old_state_groups);
  bm_free(saved);
  return 0;
}

/* ---- running ---------------------------------------------------------------------------- */
static size_t layer_size(const bm_network *net, const nn_layer *l) {
  return (size_t)net->batch * l->info.out_h * l->info.out_w * l->info.out_c;
}

nn_ctx nn_context(bm_network *net) {
  return (nn_ctx){net->batch,         net->threads, net->training, net->gemm == BM_GEMM_OWN,
                  net->fast_infer,    net->work,    net->n_work,   net->chunk_floats,
                  net->reduce,        !net->no_depthwise, !net->no_narrow};
}

void bm_net_forward(bm_network *net) {
  nn_ctx ctx = nn_context(net);
  size_t image = (size_t)net->in_c * net->in_h * net->in_w;
  int parts = nn_parts((size_t)net->batch * image, net->threads);
#pragma omp parallel for num_threads(parts) schedule(static)
  for (int b = 0; b < net->batch; b++)
    bm_nchw_to_nhwc(net->input + b * image, net->input_nhwc + b * image, 1, net->in_c,
                    net->in_h, net->in_w);
  double start = net->profile ? bm_now() : 0.0;
  nn_ctx train_ctx = ctx, frozen_ctx = ctx;
  frozen_ctx.training = 0;
  for (int i = 0; i < net->n_layers; i++) {
    nn_layer *l = &net->layers[i];
    const float *in = i ? net->layers[i - 1].out : net->input_nhwc;
    int training = net->training && i >= net->frozen; /* frozen layers run as in inference */
    ctx = training ? train_ctx : frozen_ctx;
    switch (l->info.type) {
    case BM_LAYER_CONV: nn_conv_forward(&ctx, l, in); break;
    case BM_LAYER_MAXPOOL: nn_maxpool_forward(&ctx, l, in); break;
    case BM_LAYER_UPSAMPLE: nn_upsample_forward(&ctx, l, in); break;
    case BM_LAYER_ROUTE: nn_route_forward(&ctx, l, net->layers); break;
    case BM_LAYER_SHORTCUT: nn_shortcut_forward(&ctx, l, in, net->layers[l->info.from].out); break;
    case BM_LAYER_YOLO: nn_yolo_forward(&ctx, l, in); break;
    case BM_LAYER_DROPOUT:
      /* inference: the output is the input itself (no copy) */
      l->out = training ? net->acts + l->out_off : (float *)in;
      if (training) nn_dropout_forward(&ctx, l, in, nn_dropout_layer_key(net->dropout_key, i));
      break;
    }
    /* heads' gradients come from the caller, who may add into them */
    if (net->training && l->last_reader < 0) nn_zero(l->dout, layer_size(net, l), net->threads);
    if (net->profile) { /* the input conversion counts towards the first layer */
      double now = bm_now();
      net->profile[i] += now - start;
      start = now;
    }
  }
}

void bm_net_backward(bm_network *net) {
  if (!net->training) return;
  nn_ctx ctx = nn_context(net);
  double start = net->profile ? bm_now() : 0.0;
  for (int i = net->n_layers - 1; i >= net->frozen; i--) {
    nn_layer *l = &net->layers[i];
    const float *in = i ? net->layers[i - 1].out : net->input_nhwc;
    float *din = i > net->frozen ? net->layers[i - 1].dout : NULL; /* none into frozen layers */
    /* every layer adds into its inputs' gradients; the first to do so (the last reader)
     * clears them just before */
    int inputs[BM_ROUTE_MAX_INPUTS + 1];
    /* a max-pool whose windows tile its input, and convs whose input gradient comes from
     * Winograd, write every element of din themselves when they are the first to write it */
    int overwrite = din && net->layers[i - 1].last_reader == i &&
                    ((l->info.type == BM_LAYER_MAXPOOL && nn_maxpool_tiles(&l->info)) ||
                     (l->info.type == BM_LAYER_CONV && nn_conv_overwrites_din(&ctx, &l->info)));
    for (int k = layer_inputs(net->layers, i, inputs) - 1; k >= 0; k--) {
      nn_layer *src = &net->layers[inputs[k]];
      if (src->last_reader == i && !overwrite)
        nn_zero(src->dout, layer_size(net, src), net->threads);
    }
    switch (l->info.type) {
    case BM_LAYER_CONV: nn_conv_backward(&ctx, l, in, din, overwrite); break;
    case BM_LAYER_MAXPOOL:
      if (din) nn_maxpool_backward(&ctx, l, din, overwrite);
      break;
    case BM_LAYER_UPSAMPLE:
      if (din) nn_upsample_backward(&ctx, l, din);
      break;
    case BM_LAYER_ROUTE: nn_route_backward(&ctx, l, net->layers); break;
    case BM_LAYER_SHORTCUT: {
      nn_layer *from = &net->layers[l->info.from];
      nn_shortcut_backward(&ctx, l, in, from->out, din, from->dout);
      break;
    }
    case BM_LAYER_YOLO:
      if (din) nn_yolo_backward(&ctx, l, din);
      break;
    case BM_LAYER_DROPOUT:
      if (din) nn_dropout_backward(&ctx, l, din, nn_dropout_layer_key(net->dropout_key, i));
      break;
    }
    if (net->profile) {
      double now = bm_now();
      net->profile[net->n_layers + i] += now - start;
      start = now;
    }
  }
}

void nn_net_set_depthwise(bm_network *net, int enabled) { net->no_depthwise = !enabled; }

void nn_net_set_narrow(bm_network *net, int enabled) { net->no_narrow = !enabled; }

void bm_net_set_profile(bm_network *net, double *layer_seconds) { net->profile = layer_seconds; }

void bm_net_set_dropout_key(bm_network *net, uint64_t key) { net->dropout_key = key; }

void bm_net_set_frozen(bm_network *net, int n) {
  net->frozen = n < 0 ? 0 : n > net->n_layers ? net->n_layers : n;
}
int bm_net_frozen(const bm_network *net) { return net->frozen; }

int bm_net_has_dropout(const bm_network *net) {
  for (int i = 0; i < net->n_layers; i++)
    if (net->layers[i].info.type == BM_LAYER_DROPOUT && net->layers[i].info.probability > 0)
      return 1;
  return 0;
}

/* ---- accessors -------------------------------------------------------------------------- */
int bm_net_batch(const bm_network *net) { return net->batch; }

void bm_net_input_dims(const bm_network *net, int *channels, int *height, int *width) {
  if (channels) *channels = net->in_c;
  if (height) *height = net->in_h;
  if (width) *width = net->in_w;
}

int bm_net_n_layers(const bm_network *net) { return net->n_layers; }

const bm_layer_info *bm_net_layer(const bm_network *net, int layer) {
  if (layer < 0 || layer >= net->n_layers) return NULL;
  return &net->layers[layer].info;
}

const bm_net_config *bm_net_cfg(const bm_network *net) { return &net->cfg; }
double bm_net_flops(const bm_network *net) { return net->flops; }
void bm_net_set_training(bm_network *net, int training) { net->training = training != 0; }
int bm_net_training(const bm_network *net) { return net->training; }

int bm_net_set_threads(bm_network *net, int threads) {
  threads = threads < 1 ? 1 : threads > NN_MAX_THREADS ? NN_MAX_THREADS : threads;
  if (nn_plan_workspace(net, threads, NULL) == 0) net->threads = threads;
  return net->threads;
}

int bm_net_threads(const bm_network *net) { return net->threads; }

bm_gemm_kind bm_net_set_gemm(bm_network *net, bm_gemm_kind kind) {
  net->gemm = bm_gemm_resolve(kind);
  return net->gemm;
}

bm_gemm_kind bm_net_gemm(const bm_network *net) { return net->gemm; }
void bm_net_set_fast_infer(bm_network *net, int enabled) { net->fast_infer = enabled != 0; }
int bm_net_fast_infer(const bm_network *net) { return net->fast_infer; }
float *bm_net_input(bm_network *net) { return net->input; }

float *bm_net_output(bm_network *net, int layer) {
  if (layer < 0 || layer >= net->n_layers) return NULL;
  return net->layers[layer].out;
}

float *bm_net_output_grad(bm_network *net, int layer) {
  if (layer < 0 || layer >= net->n_layers || !net->training) return NULL;
  return net->layers[layer].dout;
}

float *bm_net_params(bm_network *net) { return net->params; }
float *bm_net_grads(bm_network *net) { return net->grads; }
size_t bm_net_n_params(const bm_network *net) { return net->n_params; }
void bm_net_zero_grads(bm_network *net) { memset(net->grads, 0, net->n_params * sizeof(float)); }

const bm_param_group *bm_net_param_groups(const bm_network *net, int *n_groups) {
  *n_groups = net->n_param_groups;
  return net->param_groups;
}

float *bm_net_state(bm_network *net) { return net->state; }
size_t bm_net_n_state(const bm_network *net) { return net->n_state; }

const bm_param_group *bm_net_state_groups(const bm_network *net, int *n_groups) {
  *n_groups = net->n_state_groups;
  return net->state_groups;
}

uint64_t bm_net_seen(const bm_network *net) { return net->seen; }
void bm_net_set_seen(bm_network *net, uint64_t seen) { net->seen = seen; }

const char *bm_layer_type_name(bm_layer_type type) {
  switch (type) {
  case BM_LAYER_CONV: return "convolutional";
  case BM_LAYER_MAXPOOL: return "maxpool";
  case BM_LAYER_UPSAMPLE: return "upsample";
  case BM_LAYER_ROUTE: return "route";
  case BM_LAYER_SHORTCUT: return "shortcut";
  case BM_LAYER_YOLO: return "yolo";
  case BM_LAYER_DROPOUT: return "dropout";
  }
  return "?";
}

void bm_nhwc_to_nchw(const float *src, float *dst, int n, int h, int w, int c) {
  size_t plane = (size_t)h * w;
  for (int b = 0; b < n; b++)
    for (size_t p = 0; p < plane; p++)
      for (int k = 0; k < c; k++)
        dst[((size_t)b * c + k) * plane + p] = src[((size_t)b * plane + p) * c + k];
}

void bm_nchw_to_nhwc(const float *src, float *dst, int n, int c, int h, int w) {
  size_t plane = (size_t)h * w;
  for (int b = 0; b < n; b++) {
    const float *s = src + (size_t)b * c * plane;
    float *d = dst + (size_t)b * plane * c;
    if (c == 3) /* RGB images: a loop the compiler can unroll and vectorise */
      for (size_t p = 0; p < plane; p++) {
        d[3 * p] = s[p];
        d[3 * p + 1] = s[plane + p];
        d[3 * p + 2] = s[2 * plane + p];
      }
    else
      for (size_t p = 0; p < plane; p++)
        for (int k = 0; k < c; k++) d[p * c + k] = s[(size_t)k * plane + p];
  }
}
