/* Transfer learning (bm_train_opts.pretrained, .freeze): a darknet model (models/yolo-fastest,
 * 80 COCO classes) fine-tuned on a 2-class fixture. Checks that every convolution but the
 * two feeding the heads is loaded from the .weights file (compared with the model loaded by
 * bm_detector_from_darknet), that the head convs get the 2-class shape, that frozen layers
 * keep their parameters and batch-norm statistics through training while later layers move,
 * and that the freeze point survives a checkpoint. */
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_det.h"
#include "boxmine/bm_nn.h"
#include "det_fixture.h"
#include "testlib.h"

#define FREEZE 20

/* The params (and state) of layer `layer` of net, concatenated in group order. */
static size_t layer_values(bm_network *net, int layer, int state, float *out) {
  int n;
  const bm_param_group *g = state ? bm_net_state_groups(net, &n) : bm_net_param_groups(net, &n);
  const float *base = state ? bm_net_state(net) : bm_net_params(net);
  size_t count = 0;
  for (int k = 0; k < n; k++)
    if (g[k].layer == layer) {
      if (out) memcpy(out + count, base + g[k].offset, g[k].count * sizeof(float));
      count += g[k].count;
    }
  return count;
}

static int same_layer(bm_network *a, bm_network *b, int layer) {
  for (int state = 0; state < 2; state++) {
    size_t na = layer_values(a, layer, state, NULL), nb = layer_values(b, layer, state, NULL);
    if (na != nb) return 0;
    float *va = bm_malloc((na + 1) * sizeof(float)), *vb = bm_malloc((nb + 1) * sizeof(float));
    layer_values(a, layer, state, va);
    layer_values(b, layer, state, vb);
    int same = memcmp(va, vb, na * sizeof(float)) == 0;
    bm_free(va);
    bm_free(vb);
    if (!same) return 0;
  }
  return 1;
}

int main(void) {
  char cfg_path[1024], weights[1024], dir[512], root[600], ckpt[700];
  bm_test_source("models/yolo-fastest/yolo-fastest-1.1.cfg", cfg_path, sizeof cfg_path);
  bm_test_source("models/yolo-fastest/yolo-fastest-1.1.weights", weights, sizeof weights);
  bm_error err;
  char *text = NULL, *small = NULL;
  size_t len;
  CHECK(bm_read_file(cfg_path, &text, &len, &err) == 0);
  /* 64x64 input keeps the test fast; the weights do not depend on the input size */
  CHECK(bm_cfg_set_input_size(text, 64, 64, &small, &err) == 0);
  bm_test_tmpdir(dir, sizeof dir);
  snprintf(root, sizeof root, "%s/fixture", dir);
  CHECK(fixture_write(root, 4, 64, 64, 5) == 0);
  bm_dataset ds;
  CHECK(fixture_load(root, &ds, &err) == 0);

  bm_detector *original = NULL;
  CHECK(bm_detector_from_darknet(&original, cfg_path, weights, 0, NULL, 1, NULL, &err) == 0);

  bm_train_opts opts = bm_train_defaults();
  opts.batch = 2;
  opts.threads = 1;
  opts.pretrained = weights;
  opts.freeze = FREEZE;
  opts.ema_decay = 0.9f; /* the average must start from the loaded weights too */
  opts.lr = 0.05f;
  opts.warmup_iters = 0;
  bm_trainer *tr = NULL;
  if (bm_trainer_create(&tr, small, "yolo-fastest-1.1.cfg", 2, (char *const *)fixture_classes, &opts,
                        4, NULL, &err)) {
    CHECK_MSG(0, "%s", err.msg);
    return bm_test_finish("test_train_pretrained");
  }
  const char *summary = bm_trainer_pretrained_summary(tr);
  CHECK(summary != NULL);
  bm_network *net = bm_detector_net(bm_trainer_detector(tr)), *src = bm_detector_net(original);
  int n_layers = bm_net_n_layers(net), convs = 0, heads = 0, loaded = 0;
  for (int i = 0; i < n_layers; i++) {
    if (bm_net_layer(net, i)->type != BM_LAYER_CONV) continue;
    convs++;
    int feeds_head = i + 1 < n_layers && bm_net_layer(net, i + 1)->type == BM_LAYER_YOLO;
    heads += feeds_head;
    if (feeds_head) {
      CHECK(bm_net_layer(net, i)->filters == 3 * (5 + 2));
      CHECK(!same_layer(net, src, i));
    } else {
      loaded += same_layer(net, src, i);
    }
  }
  CHECK(heads == 2);
  CHECK_MSG(loaded == convs - 2, "%d of %d non-head convolutions loaded", loaded, convs - 2);
  char expect[64];
  snprintf(expect, sizeof expect, "%d convolutions loaded", convs - 2);
  CHECK_MSG(summary && strstr(summary, expect), "summary: %s", summary ? summary : "(none)");
  CHECK(bm_net_frozen(net) == FREEZE);

  bm_train_sample samples[4];
  for (int k = 0; k < 4; k++) samples[k] = (bm_train_sample){k, NULL, 0};
  bm_epoch_summary es;
  CHECK(bm_trainer_train_epochs(tr, &ds, samples, 4, 2, NULL, &es, &err) == 0);
  int frozen_same = 0, frozen_convs = 0, moved = 0, later = 0;
  for (int i = 0; i < n_layers; i++) {
    if (bm_net_layer(net, i)->type != BM_LAYER_CONV) continue;
    int feeds_head = i + 1 < n_layers && bm_net_layer(net, i + 1)->type == BM_LAYER_YOLO;
    if (i < FREEZE) {
      frozen_convs++;
      frozen_same += same_layer(net, src, i);
    } else if (!feeds_head) {
      later++;
      moved += !same_layer(net, src, i);
    }
  }
  CHECK_MSG(frozen_convs > 0 && frozen_same == frozen_convs, "%d of %d frozen convs unchanged",
            frozen_same, frozen_convs);
  CHECK_MSG(moved == later, "%d of %d trainable convs changed", moved, later);

  snprintf(ckpt, sizeof ckpt, "%s/last.ckpt", dir);
  CHECK(bm_trainer_save(tr, ckpt, NULL, NULL, &err) == 0);
  bm_trainer *back = NULL;
  CHECK(bm_trainer_load(&back, ckpt, 0, NULL, &err) == 0);
  if (back) {
    CHECK(bm_trainer_opts(back)->freeze == FREEZE);
    CHECK(bm_net_frozen(bm_detector_net(bm_trainer_detector(back))) == FREEZE);
  }
  bm_trainer_free(back);

  /* a freeze at or past the first head's conv leaves nothing to train: refused */
  opts.freeze = n_layers;
  bm_trainer *bad = NULL;
  CHECK(bm_trainer_create(&bad, small, "yolo-fastest-1.1.cfg", 2, (char *const *)fixture_classes,
                          &opts, 4, NULL, &err) == -1);
  CHECK(strstr(err.msg, "--freeze") != NULL);

  bm_trainer_free(tr);
  bm_detector_free(original);
  bm_dataset_free(&ds);
  bm_free(text);
  bm_free(small);
  return bm_test_finish("test_train_pretrained");
}
