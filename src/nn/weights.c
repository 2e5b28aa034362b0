/* Darknet .weights files (little-endian, as written by darknet on x86):
 *   int32 major, int32 minor, int32 revision,
 *   seen: uint64 when major * 10 + minor >= 2 (and both < 1000), else int32,
 *   then for every [convolutional] layer in cfg order:
 *     float biases[filters]
 *     if batch_normalize: float scales[filters], rolling_mean[filters], rolling_variance[filters]
 *     float weights[filters][c/groups][k][k]
 * boxmine keeps conv weights channels-last ([filters][k][k][c/groups]) and converts here. */
#include <stdio.h>
#include <string.h>

#include "nn/nn.h"

/* Reads n floats at *pos, advancing it; -1 when the data ends first. */
static int take(const unsigned char *data, size_t len, size_t *pos, float *out, size_t n) {
  if (len - *pos < n * sizeof(float)) return -1;
  memcpy(out, data + *pos, n * sizeof(float));
  *pos += n * sizeof(float);
  return 0;
}

/* darknet [f][c][ky][kx]  ->  boxmine [f][ky][kx][c] */
static void weights_from_darknet(const float *src, float *dst, int filters, int channels,
                                 int size) {
  for (int f = 0; f < filters; f++)
    for (int c = 0; c < channels; c++)
      for (int t = 0; t < size * size; t++)
        dst[((size_t)f * size * size + t) * channels + c] =
            src[((size_t)f * channels + c) * size * size + t];
}

static void weights_to_darknet(const float *src, float *dst, int filters, int channels,
                               int size) {
  for (int f = 0; f < filters; f++)
    for (int c = 0; c < channels; c++)
      for (int t = 0; t < size * size; t++)
        dst[((size_t)f * channels + c) * size * size + t] =
            src[((size_t)f * size * size + t) * channels + c];
}

int bm_net_weights_from_memory(bm_network *net, const void *data_in, size_t len, int max_layers,
                               const char *name, bm_error *err) {
  const unsigned char *data = data_in;
  int32_t header[3];
  size_t pos = 0;
  if (len < sizeof header) return bm_fail(err, "%s: too short for a .weights header", name);
  memcpy(header, data, sizeof header);
  pos = sizeof header;
  int major = header[0], minor = header[1];
  if (major < 0 || minor < 0 || major >= 1000 || minor >= 1000)
    return bm_fail(err, "%s: not a darknet .weights file (version %d.%d)", name, major, minor);
  uint64_t seen;
  if (major * 10 + minor >= 2) {
    if (len - pos < sizeof seen) return bm_fail(err, "%s: header truncated", name);
    memcpy(&seen, data + pos, sizeof seen);
    pos += sizeof seen;
  } else {
    int32_t seen32;
    if (len - pos < sizeof seen32) return bm_fail(err, "%s: header truncated", name);
    memcpy(&seen32, data + pos, sizeof seen32);
    pos += sizeof seen32;
    seen = (uint64_t)(uint32_t)seen32;
  }
  int n_layers = max_layers < 0 || max_layers > net->n_layers ? net->n_layers : max_layers;
  /* Read into a copy first: a truncated file leaves the network untouched. */
  size_t max_weights = 0;
  for (int i = 0; i < n_layers; i++)
    if (net->layers[i].n_weights > max_weights) max_weights = net->layers[i].n_weights;
  float *params = bm_malloc_aligned(net->n_params * sizeof(float));
  float *state = bm_malloc_aligned(net->n_state * sizeof(float));
  float *scratch = bm_malloc_aligned(max_weights * sizeof(float));
  if (!params || !state || !scratch) {
    bm_free_aligned(params);
    bm_free_aligned(state);
    bm_free_aligned(scratch);
    return bm_fail(err, "%s: out of memory", name);
  }
  memcpy(params, net->params, net->n_params * sizeof(float));
  memcpy(state, net->state, net->n_state * sizeof(float));
  int rc = 0;
  for (int i = 0; i < n_layers && !rc; i++) {
    const nn_layer *l = &net->layers[i];
    const bm_layer_info *info = &l->info;
    if (info->type != BM_LAYER_CONV) continue;
    size_t f = (size_t)info->filters;
    if (info->batch_normalize)
      rc = take(data, len, &pos, params + l->shift_off, f) ||
           take(data, len, &pos, params + l->scale_off, f) ||
           take(data, len, &pos, state + l->mean_off, f) ||
           take(data, len, &pos, state + l->var_off, f);
    else
      rc = take(data, len, &pos, params + l->bias_off, f);
    if (!rc) rc = take(data, len, &pos, scratch, l->n_weights);
    if (rc) {
      bm_fail(err, "%s: file ends inside layer %d (cfg line %d): it was written for a smaller "
                   "network",
              name, i, info->cfg_line);
      break;
    }
    weights_from_darknet(scratch, params + l->weight_off, info->filters,
                         info->in_c / info->groups, info->size);
  }
  if (!rc && max_layers < 0 && pos != len)
    rc = bm_fail(err, "%s: %zu bytes left after the last layer: it was written for a larger "
                      "network",
                 name, len - pos);
  if (!rc) {
    memcpy(net->params, params, net->n_params * sizeof(float));
    memcpy(net->state, state, net->n_state * sizeof(float));
    net->seen = seen;
  }
  bm_free_aligned(params);
  bm_free_aligned(state);
  bm_free_aligned(scratch);
  return rc;
}

int bm_net_load_weights(bm_network *net, const char *path, int max_layers, bm_error *err) {
  char *data;
  size_t len;
  if (bm_read_file(path, &data, &len, err)) return -1;
  int rc = bm_net_weights_from_memory(net, data, len, max_layers, path, err);
  bm_free(data);
  return rc;
}

void bm_net_weights_to_buf(const bm_network *net, bm_buf *out) {
  int32_t header[3] = {0, 2, 0};
  uint64_t seen = net->seen;
  bm_buf_append(out, header, sizeof header);
  bm_buf_append(out, &seen, sizeof seen);
  size_t max_weights = 0;
  for (int i = 0; i < net->n_layers; i++)
    if (net->layers[i].n_weights > max_weights) max_weights = net->layers[i].n_weights;
  float *scratch = bm_malloc_aligned(max_weights * sizeof(float));
  if (!scratch) {
    out->failed = 1;
    return;
  }
  for (int i = 0; i < net->n_layers; i++) {
    const nn_layer *l = &net->layers[i];
    const bm_layer_info *info = &l->info;
    if (info->type != BM_LAYER_CONV) continue;
    size_t bytes = (size_t)info->filters * sizeof(float);
    if (info->batch_normalize) {
      bm_buf_append(out, l->shift, bytes);
      bm_buf_append(out, l->scale, bytes);
      bm_buf_append(out, l->running_mean, bytes);
      bm_buf_append(out, l->running_var, bytes);
    } else {
      bm_buf_append(out, l->bias, bytes);
    }
    weights_to_darknet(l->weight, scratch, info->filters, info->in_c / info->groups, info->size);
    bm_buf_append(out, scratch, l->n_weights * sizeof(float));
  }
  bm_free_aligned(scratch);
}

int bm_net_save_weights(const bm_network *net, const char *path, bm_error *err) {
  bm_buf buf;
  bm_buf_init(&buf);
  bm_net_weights_to_buf(net, &buf);
  if (buf.failed) {
    bm_buf_free(&buf);
    return bm_fail(err, "%s: out of memory while writing weights", path);
  }
  int rc = bm_write_file_atomic(path, buf.data, buf.len, err);
  bm_buf_free(&buf);
  return rc;
}
