/* The cfg reader: darknet's own yolov3-tiny.cfg loads unchanged with the right shapes and
 * FLOPs (worked out by hand below), boxmine-tiny.cfg has the documented heads, and bad cfgs
 * fail with the line (and key) named. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_nn.h"
#include "testlib.h"

typedef struct warnings {
  int count;
  char last[512];
} warnings;

static void collect(void *user, const char *msg) {
  warnings *w = user;
  w->count++;
  snprintf(w->last, sizeof w->last, "%s", msg);
}

static void test_yolov3_tiny(void) {
  const char *path = "/usr/share/darknet/cfg/yolov3-tiny.cfg";
  if (!bm_file_exists(path)) {
    fprintf(stderr, "note: %s missing (Debian package darknet); skipped\n", path);
    return;
  }
  warnings w = {0};
  bm_log log = {collect, &w, 0};
  bm_error err;
  bm_network *net;
  CHECK_MSG(bm_net_create_from_file(&net, path, 1, &log, &err) == 0, "%s", err.msg);
  if (!net) return;
  /* its [yolo] sections ask for jitter=.3 and random=1 (multi-scale training), which boxmine's
   * trainer takes from its own options or does not do: each said once */
  CHECK_MSG(w.count == 2 && strstr(w.last, "random=1 is not used"), "%d warnings, last: %s",
            w.count, w.last);
  CHECK(bm_net_n_layers(net) == 24);
  int c, h, wd;
  bm_net_input_dims(net, &c, &h, &wd);
  CHECK(c == 3 && h == 416 && wd == 416);
  const bm_net_config *cfg = bm_net_cfg(net);
  CHECK(cfg->n_steps == 2 && cfg->steps[0] == 400000 && cfg->steps[1] == 450000);
  CHECK_NEAR(cfg->scales[0], 0.1, 1e-7);
  CHECK_NEAR(cfg->saturation, 1.5, 1e-7);
  CHECK_NEAR(cfg->hue, 0.1, 1e-7);
  CHECK(cfg->burn_in == 1000 && cfg->max_batches == 500200 && !strcmp(cfg->policy, "steps"));
  const bm_layer_info *head1 = bm_net_layer(net, 16), *head2 = bm_net_layer(net, 23);
  CHECK(head1->type == BM_LAYER_YOLO && head2->type == BM_LAYER_YOLO);
  CHECK(head1->out_w == 13 && head1->out_h == 13 && head1->out_c == 255);
  CHECK(head2->out_w == 26 && head2->out_h == 26 && head2->out_c == 255);
  CHECK(head1->yolo.n_mask == 3 && head1->yolo.mask[0] == 3 && head1->yolo.mask[2] == 5);
  CHECK(head2->yolo.mask[0] == 0 && head2->yolo.classes == 80 && head2->yolo.num == 6);
  CHECK_NEAR(head1->yolo.anchors[10], 344, 0);
  CHECK_NEAR(head1->yolo.anchors[11], 319, 0);
  CHECK_NEAR(head1->yolo.jitter, 0.3, 1e-7);
  CHECK_NEAR(head1->yolo.ignore_thresh, 0.7, 1e-7);
  CHECK(head1->yolo.random == 1 && !strcmp(head1->yolo.iou_loss, "mse"));
  /* maxpool size=2 stride=1 keeps 13x13 */
  const bm_layer_info *pool = bm_net_layer(net, 11);
  CHECK(pool->type == BM_LAYER_MAXPOOL && pool->in_w == 13 && pool->out_w == 13);
  const bm_layer_info *route = bm_net_layer(net, 20);
  CHECK(route->n_inputs == 2 && route->inputs[0] == 19 && route->inputs[1] == 8);
  CHECK(route->out_c == 384 && route->out_w == 26);
  /* conv FLOPs by hand: 2 * k*k * c_in * filters * out_h * out_w */
  const double convs[][5] = {
      {3, 3, 16, 416, 416},   {3, 16, 32, 208, 208},  {3, 32, 64, 104, 104},
      {3, 64, 128, 52, 52},   {3, 128, 256, 26, 26},  {3, 256, 512, 13, 13},
      {3, 512, 1024, 13, 13}, {1, 1024, 256, 13, 13}, {3, 256, 512, 13, 13},
      {1, 512, 255, 13, 13},  {1, 256, 128, 13, 13},  {3, 384, 256, 26, 26},
      {1, 256, 255, 26, 26}};
  double flops = 0;
  for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
    flops += 2 * convs[i][0] * convs[i][0] * convs[i][1] * convs[i][2] * convs[i][3] * convs[i][4];
  CHECK_NEAR(bm_net_flops(net), flops, 1);
  CHECK_NEAR(flops / 1e9, 5.565, 0.01);
  /* parameters: 11 bn convs (weights + scale + bias) and 2 biased convs */
  size_t params = 0;
  for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++)
    params += (size_t)(convs[i][0] * convs[i][0] * convs[i][1] * convs[i][2]) +
              (convs[i][2] == 255 ? 255 : 2 * (size_t)convs[i][2]);
  CHECK(bm_net_n_params(net) == params);
  /* forward at 416 runs and gives probabilities where the logistic applies */
  bm_rng rng;
  bm_rng_seed(&rng, 3, 0);
  bm_net_init_params(net, &rng);
  float *in = bm_net_input(net);
  for (int i = 0; i < 3 * 416 * 416; i++) in[i] = bm_rng_uniform(&rng);
  bm_net_set_threads(net, 2);
  bm_net_forward(net);
  const float *out = bm_net_output(net, 23);
  int in_range = 1;
  for (int i = 0; i < 26 * 26 * 255; i++) {
    int entry = (i % 255) % 85;
    if (entry != 2 && entry != 3) in_range &= out[i] > 0 && out[i] < 1;
    in_range &= isfinite(out[i]);
  }
  CHECK(in_range);
  bm_net_free(net);
}

/* A cfg shipped in cfg/, built without warnings, with its heads checked: two [yolo] heads
 * of 10 classes x 3 anchors (45 channels), one on 10x10 and one on 20x20 cells. NULL when it
 * did not build. */
static bm_network *shipped_two_head_net(const char *name) {
  char path[1024];
  bm_test_source(name, path, sizeof path);
  warnings w = {0};
  bm_log log = {collect, &w, 0};
  bm_error err;
  bm_network *net;
  CHECK_MSG(bm_net_create_from_file(&net, path, 0, &log, &err) == 0, "%s: %s", name, err.msg);
  if (!net) return NULL;
  CHECK_MSG(w.count == 0, "%s: unexpected warning: %s", name, w.last);
  int heads = 0;
  for (int i = 0; i < bm_net_n_layers(net); i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    if (l->type != BM_LAYER_YOLO) continue;
    heads++;
    CHECK(l->yolo.classes == 10 && l->out_c == 45);
    CHECK((l->out_w == 10 && l->out_h == 10) || (l->out_w == 20 && l->out_h == 20));
  }
  CHECK_MSG(heads == 2, "%s: %d heads", name, heads);
  return net;
}

static void test_boxmine_tiny(void) {
  bm_error err;
  bm_network *net = shipped_two_head_net("cfg/boxmine-tiny.cfg");
  if (!net) return;
  CHECK(bm_net_batch(net) == 16); /* batch / subdivisions */
  CHECK(bm_net_flops(net) > 0.25e9 && bm_net_flops(net) < 0.4e9);

  /* 3 classes: heads and the convs before them change, everything else is kept */
  bm_rng rng;
  bm_rng_seed(&rng, 4, 0);
  bm_net_init_params(net, &rng);
  int n_groups;
  const bm_param_group *g = bm_net_param_groups(net, &n_groups);
  float first_weight = bm_net_params(net)[g[0].offset + 5];
  size_t first_count = g[0].count;
  CHECK(bm_net_set_classes(net, 3, &rng, &err) == 0);
  g = bm_net_param_groups(net, &n_groups);
  CHECK(g[0].count == first_count && bm_net_params(net)[g[0].offset + 5] == first_weight);
  for (int i = 0; i < bm_net_n_layers(net); i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    if (l->type != BM_LAYER_YOLO) continue;
    CHECK(l->yolo.classes == 3 && l->out_c == 24 && l->in_c == 24);
    CHECK(bm_net_layer(net, i - 1)->filters == 24);
  }
  size_t weights_before_head = 0;
  for (int j = 0; j < n_groups; j++)
    if (g[j].layer == 11 && g[j].kind == BM_PARAM_CONV_WEIGHT) weights_before_head = g[j].count;
  CHECK(weights_before_head == 24 * 192);
  /* new head weights are random, not zero */
  int nonzero = 0;
  for (int j = 0; j < n_groups; j++)
    if (g[j].layer == 11 && g[j].kind == BM_PARAM_CONV_WEIGHT)
      for (size_t q = 0; q < g[j].count; q++) nonzero += bm_net_params(net)[g[j].offset + q] != 0;
  CHECK(nonzero > 100);

  /* resize: batch 2 at 320x320 doubles the grids */
  CHECK(bm_net_resize(net, 2, 320, 320, &err) == 0);
  CHECK(bm_net_batch(net) == 2 && bm_net_layer(net, 12)->out_w == 20);
  CHECK(bm_net_layer(net, 19)->out_w == 40);
  /* 168: 21x21 at stride 8 but 11x11 at stride 16 (maxpool rounds up): the route after the
   * upsample cannot join 21x21 and 22x22 */
  CHECK(bm_net_resize(net, 2, 168, 168, &err) == -1);
  CHECK(strstr(err.msg, "route") != NULL);
  CHECK(bm_net_layer(net, 19)->out_w == 40); /* unchanged after the failure */
  bm_net_forward(net);
  bm_net_free(net);
}

/* Builds cfg text; returns 0/-1 and the error or the warnings. */
static int try_cfg(const char *text, bm_error *err, warnings *w) {
  bm_log log = {collect, w, 0};
  bm_network *net;
  int rc = bm_net_create_from_text(&net, text, "t.cfg", 1, &log, err);
  bm_net_free(net);
  return rc;
}

#define NET "[net]\nwidth=8\nheight=8\nchannels=3\n"

static void expect_error(const char *text, const char *needle1, const char *needle2) {
  bm_error err = {{0}};
  warnings w = {0};
  int rc = try_cfg(text, &err, &w);
  CHECK_MSG(rc == -1, "accepted: %s", text);
  CHECK_MSG(strstr(err.msg, needle1) && (!needle2 || strstr(err.msg, needle2)),
            "error '%s' lacks '%s' / '%s'", err.msg, needle1, needle2 ? needle2 : "");
}

static void test_errors(void) {
  expect_error(NET "[convolutional]\nfilters=4\n[dropblock]\nprobability=.5\n", "line 7",
               "unknown section [dropblock]");
  expect_error(NET "[convolutional]\nfilters=4\n[dropout]\nprobability=1\n", "line 8",
               "probability");
  expect_error(NET "[convolutional]\nfilters=abc\n", "line 6", "filters");
  expect_error(NET "[convolutional]\nfilters=0\n", "line 6", "filters");
  expect_error(NET "[convolutional]\nactivation=tanhh\n", "line 6", "activation");
  expect_error(NET "[convolutional\nfilters=2\n", "line 5", "section header");
  expect_error("width=3\n[net]\n", "line 1", NULL);
  expect_error(NET "[convolutional]\nfilters\n", "line 6", "key=value");
  expect_error("[net]\nheight=8\n[convolutional]\n", "line 1", "width");
  expect_error(NET "[route]\nlayers=1\n", "line 6", "layers");
  expect_error(NET "[convolutional]\nfilters=4\n[shortcut]\nfrom=-3\n", "line 8", "from");
  expect_error(NET "[convolutional]\nfilters=20\n[yolo]\nclasses=2\nmask=0,1\nnum=2\n", "line 7",
               "14 input channels");
  expect_error(NET "[convolutional]\nfilters=14\n[yolo]\nclasses=2\nmask=0,5\nnum=2\n", "line 9",
               "mask");
  expect_error(NET "[convolutional]\nfilters=7\n[yolo]\nclasses=2\nnum=1\nanchors=1,2,3\n",
               "line 10", "anchors");
  /* neighbors=1 without scale_x_y >= 2: a neighbouring cell cannot reach the centre */
  expect_error(NET "[convolutional]\nfilters=14\n[yolo]\nclasses=2\nnum=2\nneighbors=1\n",
               "line 10", "scale_x_y");
  expect_error(NET "[convolutional]\nfilters=14\n[yolo]\nclasses=2\nnum=2\nneighbors=2\n"
               "scale_x_y=2\n", "line 10", "neighbors");
  expect_error(NET "[convolutional]\nfilters=4\nsize=9\n", "line 5", "smaller than");
  expect_error(NET "[maxpool]\nsize=2\npadding=5\n", "line 5", "padding");
  expect_error(NET "[convolutional]\nfilters=4\ngroups=3\n", "line 5", "groups");
  expect_error(NET "[net]\nwidth=4\n", "line 5", "first section");
  expect_error(NET, "no layers", NULL);
  expect_error(NET "scales=.1\n[maxpool]\n", "line 5", "scales");

  /* neighbors and scale_x_y are read (no unused-key warning) */
  {
    bm_error e;
    warnings wn = {0};
    bm_log log = {collect, &wn, 0};
    bm_network *net;
    CHECK_MSG(bm_net_create_from_text(&net, NET "[convolutional]\nfilters=14\n[yolo]\nclasses=2\n"
                                      "num=2\nneighbors=1\nscale_x_y=2.0\n", "t.cfg", 1, &log, &e) == 0,
              "%s", e.msg);
    CHECK(wn.count == 0);
    if (net) {
      CHECK(bm_net_layer(net, 1)->yolo.neighbors == 1);
      CHECK_NEAR(bm_net_layer(net, 1)->yolo.scale_x_y, 2.0, 0);
      CHECK(bm_net_layer(net, 0)->yolo.neighbors == 0 || bm_net_layer(net, 0)->type != BM_LAYER_YOLO);
    }
    bm_net_free(net);
  }

  /* unknown keys warn with their line; comments and blank lines are fine */
  bm_error err;
  warnings w = {0};
  CHECK(try_cfg("# a comment\n\n" NET "; another\n[convolutional]\n  filters = 4 \nfoo=1\n"
                "[maxpool]\nsize=2\nstride=2\nsize=3\n",
                &err, &w) == 0);
  CHECK(w.count == 2);
  bm_net_free(NULL);
  w.count = 0;
  CHECK(try_cfg(NET "[convolutional]\nfilters=4\nfoo=1\n", &err, &w) == 0);
  CHECK(w.count == 1 && strstr(w.last, "line 7") && strstr(w.last, "foo"));
}

static void test_geometry(void) {
  bm_error err;
  bm_network *net;
  const char *cfg = "[net]\nwidth=13\nheight=9\nchannels=2\n"
                    "[maxpool]\nsize=2\nstride=2\n"          /* (13+1-2)/2+1 = 7, (9+1-2)/2+1 = 5 */
                    "[maxpool]\nsize=3\nstride=2\n"          /* padding 2: (7+2-3)/2+1 = 4, 3 */
                    "[maxpool]\nsize=2\nstride=1\n"          /* keeps 4x3 */
                    "[convolutional]\nfilters=4\nsize=3\npad=1\nstride=2\n" /* (4+2-3)/2+1 = 2 */
                    "[convolutional]\nfilters=4\nsize=3\npadding=2\nstride=1\n" /* 2+4-3+1 = 4 */
                    "[upsample]\nstride=3\n";
  CHECK_MSG(bm_net_create_from_text(&net, cfg, "geometry", 1, NULL, &err) == 0, "%s", err.msg);
  if (!net) return;
  const int want[][2] = {{7, 5}, {4, 3}, {4, 3}, {2, 2}, {4, 4}, {12, 12}};
  for (int i = 0; i < 6; i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    CHECK_MSG(l->out_w == want[i][0] && l->out_h == want[i][1], "layer %d: %dx%d", i, l->out_w,
              l->out_h);
  }
  CHECK(bm_net_layer(net, 3)->pad == 1 && bm_net_layer(net, 4)->pad == 2);
  CHECK(bm_net_layer(net, 3)->activation == BM_ACT_LOGISTIC); /* darknet's default */
  bm_net_free(net);
}

/* Mutated cfgs (characters replaced, lines dropped, text cut) must load or fail with a
 * reason, never crash (this test also runs under AddressSanitizer). Digits are never
 * inserted, so sizes cannot grow into an allocation that would exhaust memory. */
static void test_mutations(void) {
  const char *base = "[net]\nwidth=16\nheight=12\nchannels=3\nbatch=2\n"
                     "[convolutional]\nfilters=8\nsize=3\nstride=1\npad=1\nbatch_normalize=1\n"
                     "activation=leaky\n"
                     "[maxpool]\nsize=2\nstride=2\n"
                     "[convolutional]\nfilters=14\nsize=1\nactivation=linear\n"
                     "[yolo]\nmask=0,1\nanchors=2,3,4,5\nclasses=2\nnum=2\n"
                     "[route]\nlayers=-2\n"
                     "[upsample]\nstride=2\n"
                     "[route]\nlayers=-1,0\n"
                     "[shortcut]\nfrom=-3\n";
  const char alphabet[] = "[]=,-#;\n abcxyz.";
  bm_rng rng;
  bm_rng_seed(&rng, 11, 0);
  size_t len = strlen(base);
  char *text = malloc(len + 1);
  int loaded = 0, failed = 0;
  for (int round = 0; round < 400; round++) {
    memcpy(text, base, len + 1);
    int edits = 1 + (int)bm_rng_below(&rng, 3);
    for (int e = 0; e < edits; e++) {
      size_t n = strlen(text);
      if (n == 0) break;
      size_t at = bm_rng_below(&rng, (uint32_t)n);
      switch (bm_rng_below(&rng, 3)) {
      case 0: text[at] = alphabet[bm_rng_below(&rng, sizeof alphabet - 1)]; break;
      case 1: { /* drop the line holding `at` */
        size_t start = at, end = at;
        while (start > 0 && text[start - 1] != '\n') start--;
        while (text[end] && text[end] != '\n') end++;
        if (text[end]) end++;
        memmove(text + start, text + end, n - end + 1);
        break;
      }
      default: text[at] = '\0'; break;
      }
    }
    bm_error err = {{0}};
    bm_network *net = NULL;
    if (bm_net_create_from_text(&net, text, "fuzz.cfg", 1, NULL, &err) == 0) {
      loaded++;
      bm_net_set_training(net, 1);
      bm_net_forward(net);
      bm_net_backward(net);
      bm_net_free(net);
    } else {
      failed++;
      CHECK_MSG(strstr(err.msg, "fuzz.cfg") != NULL, "error without the file name: %s", err.msg);
    }
  }
  CHECK(loaded > 10 && failed > 10);
  free(text);
}

/* boxmine-wide: the same heads as tiny, and the FLOP count of its header's channel list
 * (0.49 GFLOP per image), worked out below. */
static void test_boxmine_wide(void) {
  bm_network *net = shipped_two_head_net("cfg/boxmine-wide.cfg");
  if (!net) return;
  /* per image, 2 * out pixels * filters * k*k*in_c over the convs (forward multiply-adds x 2):
   * 160^2*16*27 + 80^2*32*144 + 40^2*64*288 + 20^2*128*576 + 10^2*(256*1152 + 128*256 +
   * 256*1152 + 45*256 + 48*128) + 20^2*(128*1584 + 45*128) */
  double expect = 2.0 * (160.0 * 160 * 16 * 27 + 80.0 * 80 * 32 * 144 + 40.0 * 40 * 64 * 288 +
                         20.0 * 20 * 128 * 576 +
                         100.0 * (256.0 * 1152 + 128 * 256 + 256 * 1152 + 45 * 256 + 48 * 128) +
                         400.0 * (128.0 * 1584 + 45 * 128));
  CHECK_MSG(fabs(bm_net_flops(net) - expect) < 1e-6 * expect, "flops %g, expected %g per image",
            bm_net_flops(net), expect);
  bm_net_free(net);
}

int main(void) {
  test_mutations();
  test_yolov3_tiny();
  test_boxmine_tiny();
  test_boxmine_wide();
  test_errors();
  test_geometry();
  return bm_test_finish("test_nn_cfg");
}
