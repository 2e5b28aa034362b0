/* boxmine bench: times the network engine on random data.
 *
 *   train: zero grads, forward (training mode), a synthetic loss gradient on the [yolo]
 *          outputs (a fixed random R, i.e. loss = sum(out * R)), backward, and one SGD step
 *          (momentum 0.9, weight decay 0.0005 on conv weights only, lr 0.001): the same steps
 *          as bench/torch_bench.py.
 *   infer: one forward pass in inference mode.
 * After --warmup untimed iterations, --iters iterations are timed one by one; one line of
 * JSON reports the median. --sgemm N instead times one N x N x N product. --profile also
 * prints, on stderr, each layer's median time over the timed iterations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boxmine/bm_nn.h"
#include "cli/cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: boxmine bench --cfg FILE [options]\n"
          "       boxmine bench --sgemm N [--threads N] [--iters N]\n\n"
          "Times training steps or inference of a darknet-style .cfg network on random data and\n"
          "prints one line of JSON: ms_per_iter (median over timed iterations, whole batch),\n"
          "img_per_s (batch / median time), gflop_per_img (forward convolution GFLOP per image,\n"
          "2 per multiply-add), gflops (achieved: gflop_per_img x 3 for train, x 1 for infer,\n"
          "x img_per_s), and the settings.\n\n"
          "options:\n"
          "  --cfg FILE        network description (.cfg)\n"
          "  --mode train|infer  train: forward + backward + SGD update; infer: forward\n"
          "                    (default train)\n"
          "  --batch N         images per iteration (default: the cfg's batch/subdivisions)\n"
          "  --width W --height H  input size (default: the cfg's)\n"
          "  --threads N       threads (default 2)\n"
          "  --iters N         timed iterations (default 20)\n"
          "  --warmup N        untimed iterations first (default 3)\n"
          "  --seed N          random data and weights (default 1)\n"
          "  --fast-infer on|off  inference only: 3x3 convolutions by Winograd F(2x2,3x3) and\n"
          "                    first layers by a direct convolution (on, the default), or\n"
          "                    every convolution by im2col + GEMM like training (off)\n"
          "  --profile         also print a table on stderr: per layer, the median over the\n"
          "                    timed iterations of its forward (and backward) time in ms, its\n"
          "                    share of the iteration, and GFLOP/s for convolutions\n"
          "  --save-weights FILE  afterwards, write the network's parameters as a darknet\n"
          "                    .weights file (to check that darknet reads what boxmine writes)\n"
          "  --sgemm N         instead: GFLOP/s of an N x N by N x N single-precision product\n"
          "                    through the engine's GEMM (split over --threads)\n"
          "  --gemm auto|blas|own  matrix products: OpenBLAS (blas), the engine's own AVX-512\n"
          "                    GEMM (own; needs AVX-512F), or auto: own when OpenBLAS runs its\n"
          "                    generic 'Prescott' kernels on an AVX-512 CPU (default: the\n"
          "                    environment variable BM_GEMM if set, else auto)\n"
          "  -h, --help        this help\n\n"
          "OpenBLAS reads OPENBLAS_CORETYPE from the environment; when it falls back to its\n"
          "generic 'Prescott' kernels on an AVX-512 CPU, --gemm auto uses the engine's own GEMM\n"
          "instead; with --gemm blas a warning says OpenBLAS is several times slower there.\n"
          "The JSON's \"gemm\" says which one ran, \"blas_core\" OpenBLAS's kernel family.\n");
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *values, int n) {
  qsort(values, (size_t)n, sizeof *values, compare_doubles);
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

/* The --profile table: per layer, medians over iters of the times in `times` (iteration
 * it, layer i: times[it * 2 * n_layers + i] forward, + n_layers backward). */
static void print_profile(const bm_network *net, double *times, long iters, int training,
                          double iter_seconds) {
  int n_layers = bm_net_n_layers(net), batch = bm_net_batch(net);
  double *column = malloc((size_t)iters * sizeof *column);
  if (!column) return;
  fprintf(stderr, "layer  type            output           GFLOP  fwd ms  fwd GFLOP/s%s  %% of iter\n",
          training ? "  bwd ms  bwd GFLOP/s" : "");
  double total[2] = {0, 0};
  for (int i = 0; i < n_layers; i++) {
    const bm_layer_info *l = bm_net_layer(net, i);
    double med[2];
    for (int dir = 0; dir < 2; dir++) {
      for (long it = 0; it < iters; it++)
        column[it] = times[(size_t)it * 2 * n_layers + (size_t)dir * n_layers + i];
      med[dir] = median(column, (int)iters);
      total[dir] += med[dir];
    }
    double gflop = 0;
    if (l->type == BM_LAYER_CONV)
      gflop = 2e-9 * l->size * l->size * (l->in_c / l->groups) * l->filters * l->out_h *
              l->out_w * batch;
    char shape[32];
    snprintf(shape, sizeof shape, "%dx%dx%d", l->out_h, l->out_w, l->out_c);
    fprintf(stderr, "%5d  %-14s  %-15s  %6.3f  %6.3f  %11.1f", i, bm_layer_type_name(l->type),
            shape, gflop, med[0] * 1e3, med[0] > 0 ? gflop / med[0] : 0.0);
    if (training)
      fprintf(stderr, "  %6.3f  %11.1f", med[1] * 1e3, med[1] > 0 ? 2 * gflop / med[1] : 0.0);
    fprintf(stderr, "  %9.1f\n", 100.0 * (med[0] + med[1]) / iter_seconds);
  }
  fprintf(stderr, "sum of layer medians: forward %.3f ms", total[0] * 1e3);
  if (training) fprintf(stderr, ", backward %.3f ms", total[1] * 1e3);
  fprintf(stderr, "; median iteration %.3f ms\n", iter_seconds * 1e3);
  free(column);
}

static void warn_about_blas(void) {
  const char *core = bm_nn_blas_core();
  if (core && !strcmp(core, "Prescott") && __builtin_cpu_supports("avx512f"))
    fprintf(stderr,
            "boxmine: warning: OpenBLAS uses its generic 'Prescott' kernels on this AVX-512 "
            "CPU; GEMM runs several times slower than with OPENBLAS_CORETYPE=SkylakeX\n");
}

static int parse_gemm(const char *text, bm_gemm_kind *kind) {
  if (!text) return -1;
  if (!strcmp(text, "auto")) *kind = BM_GEMM_AUTO;
  else if (!strcmp(text, "blas")) *kind = BM_GEMM_BLAS;
  else if (!strcmp(text, "own")) *kind = BM_GEMM_OWN;
  else return -1;
  return 0;
}

static int run_sgemm(long n, long threads, long iters, bm_gemm_kind gemm) {
  double *times = malloc((size_t)iters * sizeof *times);
  if (!times) return cli_error("out of memory");
  bm_error err;
  for (long i = 0; i < iters; i++)
    if (bm_nn_time_sgemm((int)n, (int)threads, gemm, &times[i], &err)) {
      free(times);
      return cli_error("%s", err.msg);
    }
  double best = times[0];
  for (long i = 1; i < iters; i++) best = times[i] < best ? times[i] : best;
  double med = median(times, (int)iters), flop = 2.0 * n * n * n;
  free(times);
  bm_buf out;
  bm_buf_init(&out);
  bm_buf_printf(&out, "{\"sgemm_n\": %ld, \"threads\": %ld, \"iters\": %ld, \"ms_median\": ", n,
                threads, iters);
  bm_buf_json_number(&out, med * 1e3);
  bm_buf_puts(&out, ", \"gflops_median\": ");
  bm_buf_json_number(&out, flop / med * 1e-9);
  bm_buf_puts(&out, ", \"gflops_best\": ");
  bm_buf_json_number(&out, flop / best * 1e-9);
  bm_buf_printf(&out, ", \"gemm\": \"%s\", \"blas_core\": ",
                bm_gemm_kind_name(bm_gemm_resolve(gemm)));
  bm_buf_json_string(&out, bm_nn_blas_core());
  bm_buf_puts(&out, "}");
  printf("%s\n", out.data);
  bm_buf_free(&out);
  return 0;
}

/* Momentum SGD with weight decay on conv weights only (one loop over the flat arrays). */
static void sgd_step(bm_network *net, float *velocity, const unsigned char *decays) {
  float *params = bm_net_params(net);
  const float *grads = bm_net_grads(net);
  size_t n = bm_net_n_params(net);
  const float lr = 0.001f, momentum = 0.9f, decay = 0.0005f;
  for (size_t j = 0; j < n; j++) {
    float g = grads[j] + (decays[j] ? decay * params[j] : 0.0f);
    velocity[j] = momentum * velocity[j] - lr * g;
    params[j] += velocity[j];
  }
}

/* What the command line asked for. */
typedef struct bench_args {
  const char *cfg_path, *mode, *save_path;
  long batch, width, height, threads, iters, warmup, seed, sgemm;
  int profile, fast_infer;
  bm_gemm_kind gemm;
} bench_args;

/* Parses argv into b; returns -1 to go on, else the exit status (0 after --help). */
static int parse_args(int argc, char **argv, bench_args *b) {
  *b = (bench_args){NULL, "train", NULL, 0, 0, 0, 2, 20, 3, 1, 0, 0, 1, BM_GEMM_AUTO};
  const char *gemm_env = getenv("BM_GEMM");
  if (gemm_env && *gemm_env && parse_gemm(gemm_env, &b->gemm))
    return cli_error("BM_GEMM is 'auto', 'blas' or 'own', not '%s'", gemm_env), 2;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--cfg")) {
      if (!v) return cli_error("--cfg needs a file"), 2;
      b->cfg_path = v;
    } else if (!strcmp(a, "--save-weights")) {
      if (!v) return cli_error("--save-weights needs a file"), 2;
      b->save_path = v;
    } else if (!strcmp(a, "--profile")) {
      b->profile = 1;
      continue;
    } else if (!strcmp(a, "--fast-infer")) {
      if (!v || (strcmp(v, "on") && strcmp(v, "off")))
        return cli_error("--fast-infer is 'on' or 'off'"), 2;
      b->fast_infer = !strcmp(v, "on");
    } else if (!strcmp(a, "--mode")) {
      if (!v || (strcmp(v, "train") && strcmp(v, "infer")))
        return cli_error("--mode is 'train' or 'infer'"), 2;
      b->mode = v;
    } else if (!strcmp(a, "--batch")) bad = cli_parse_int(a, v, 1, 4096, &b->batch);
    else if (!strcmp(a, "--width")) bad = cli_parse_int(a, v, 1, 16384, &b->width);
    else if (!strcmp(a, "--height")) bad = cli_parse_int(a, v, 1, 16384, &b->height);
    else if (!strcmp(a, "--threads")) bad = cli_parse_int(a, v, 1, 64, &b->threads);
    else if (!strcmp(a, "--iters")) bad = cli_parse_int(a, v, 1, 1000000, &b->iters);
    else if (!strcmp(a, "--warmup")) bad = cli_parse_int(a, v, 0, 1000000, &b->warmup);
    else if (!strcmp(a, "--seed")) bad = cli_parse_int(a, v, 0, 2147483647L, &b->seed);
    else if (!strcmp(a, "--sgemm")) bad = cli_parse_int(a, v, 1, 16384, &b->sgemm);
    else if (!strcmp(a, "--gemm")) {
      if (parse_gemm(v, &b->gemm)) return cli_error("--gemm is 'auto', 'blas' or 'own'"), 2;
    } else {
      cli_error("unknown option '%s' (see boxmine bench --help)", a);
      return 2;
    }
    if (bad) return 2;
    i++;
  }
  return -1;
}

/* The result line: one JSON object on stdout. times are sorted (median() sorts them). */
static void print_json(const bench_args *b, bm_network *net, const double *times, double med,
                       int training) {
  int c, h, w, n_batch = bm_net_batch(net);
  bm_net_input_dims(net, &c, &h, &w);
  double gflop = bm_net_flops(net) * 1e-9, img_per_s = n_batch / med;
  bm_buf out;
  bm_buf_init(&out);
  bm_buf_puts(&out, "{\"tool\": \"boxmine\", \"cfg\": ");
  bm_buf_json_string(&out, b->cfg_path);
  bm_buf_printf(&out,
                ", \"mode\": \"%s\", \"batch\": %d, \"threads\": %ld, \"width\": %d, "
                "\"height\": %d, \"iters\": %ld, \"warmup\": %ld, \"ms_per_iter\": ",
                b->mode, n_batch, b->threads, w, h, b->iters, b->warmup);
  bm_buf_json_number(&out, med * 1e3);
  bm_buf_puts(&out, ", \"ms_per_iter_min\": ");
  bm_buf_json_number(&out, times[0] * 1e3);
  bm_buf_puts(&out, ", \"img_per_s\": ");
  bm_buf_json_number(&out, img_per_s);
  bm_buf_puts(&out, ", \"gflop_per_img\": ");
  bm_buf_json_number(&out, gflop);
  bm_buf_puts(&out, ", \"gflops\": ");
  bm_buf_json_number(&out, gflop * (training ? 3 : 1) * img_per_s);
  bm_buf_printf(&out, ", \"gemm\": \"%s\", \"fast_infer\": %s, \"blas_core\": ",
                bm_gemm_kind_name(bm_net_gemm(net)), b->fast_infer && !training ? "true" : "false");
  bm_buf_json_string(&out, bm_nn_blas_core());
  bm_buf_puts(&out, "}");
  printf("%s\n", out.data);
  bm_buf_free(&out);
}

int cmd_bench(int argc, char **argv) {
  bench_args b;
  int status = parse_args(argc, argv, &b);
  if (status >= 0) return status;
  const char *cfg_path = b.cfg_path, *mode = b.mode, *save_path = b.save_path;
  long threads = b.threads, iters = b.iters, warmup = b.warmup;
  int profile = b.profile, fast_infer = b.fast_infer;
  bm_gemm_kind gemm = b.gemm;
  if (bm_gemm_resolve(gemm) == BM_GEMM_BLAS) warn_about_blas();
  if (b.sgemm) return run_sgemm(b.sgemm, threads, iters, gemm);
  if (!cfg_path) return cli_error("--cfg FILE is required (see boxmine bench --help)"), 2;
  if ((b.width > 0) != (b.height > 0)) return cli_error("give --width and --height together"), 2;

  bm_log log = cli_log();
  bm_error err;
  bm_network *net;
  if (bm_net_create_from_file(&net, cfg_path, (int)b.batch, &log, &err))
    return cli_error("%s", err.msg);
  if (b.width > 0 && bm_net_resize(net, bm_net_batch(net), (int)b.width, (int)b.height, &err)) {
    bm_net_free(net);
    return cli_error("%s", err.msg);
  }
  int training = !strcmp(mode, "train");
  bm_net_set_threads(net, (int)threads);
  bm_net_set_gemm(net, gemm);
  bm_net_set_fast_infer(net, fast_infer);
  bm_net_set_training(net, training);
  bm_rng rng;
  bm_rng_seed(&rng, (uint64_t)b.seed, 7);
  bm_net_init_params(net, &rng);
  int c, h, w, n_batch = bm_net_batch(net);
  bm_net_input_dims(net, &c, &h, &w);
  float *input = bm_net_input(net);
  for (size_t j = 0; j < (size_t)n_batch * c * h * w; j++) input[j] = bm_rng_uniform(&rng);

  /* the synthetic loss gradient: fixed random values for every [yolo] output (or the last
   * layer's output when there is no [yolo] layer) */
  int n_layers = bm_net_n_layers(net), n_heads = 0;
  int *heads = calloc((size_t)n_layers, sizeof *heads);
  float **head_grads = calloc((size_t)n_layers, sizeof *head_grads);
  size_t n_params = bm_net_n_params(net);
  float *velocity = calloc(n_params ? n_params : 1, sizeof *velocity);
  unsigned char *decays = calloc(n_params ? n_params : 1, 1);
  double *times = malloc((size_t)iters * sizeof *times);
  size_t per_iter = 2 * (size_t)n_layers; /* --profile: forward and backward seconds */
  double *layer_times = profile ? calloc((size_t)iters * per_iter, sizeof *layer_times) : NULL;
  double *layer_acc = profile ? calloc(per_iter, sizeof *layer_acc) : NULL;
  int failed = !heads || !head_grads || !velocity || !decays || !times ||
               (profile && (!layer_times || !layer_acc));
  if (profile && !failed) bm_net_set_profile(net, layer_acc);
  for (int i = 0; i < n_layers && !failed; i++)
    if (bm_net_layer(net, i)->type == BM_LAYER_YOLO || (i == n_layers - 1 && n_heads == 0))
      heads[n_heads++] = i;
  for (int k = 0; k < n_heads && !failed; k++) {
    const bm_layer_info *l = bm_net_layer(net, heads[k]);
    size_t n = (size_t)n_batch * l->out_h * l->out_w * l->out_c;
    head_grads[k] = malloc(n * sizeof(float));
    failed |= !head_grads[k];
    for (size_t j = 0; !failed && j < n; j++) head_grads[k][j] = bm_rng_range(&rng, -1, 1);
  }
  int n_groups;
  const bm_param_group *groups = bm_net_param_groups(net, &n_groups);
  for (int g = 0; g < n_groups && !failed; g++)
    if (groups[g].kind == BM_PARAM_CONV_WEIGHT)
      memset(decays + groups[g].offset, 1, groups[g].count);

  cli_progress progress;
  if (!failed) cli_progress_start(&progress, "bench", warmup + iters);
  for (long it = 0; !failed && it < warmup + iters; it++) {
    if (profile) memset(layer_acc, 0, per_iter * sizeof *layer_acc);
    double start = bm_now();
    if (training) {
      bm_net_zero_grads(net);
      bm_net_forward(net);
      for (int k = 0; k < n_heads; k++) {
        const bm_layer_info *l = bm_net_layer(net, heads[k]);
        size_t n = (size_t)n_batch * l->out_h * l->out_w * l->out_c;
        memcpy(bm_net_output_grad(net, heads[k]), head_grads[k], n * sizeof(float));
      }
      bm_net_backward(net);
      sgd_step(net, velocity, decays);
    } else {
      bm_net_forward(net);
    }
    if (it >= warmup) times[it - warmup] = bm_now() - start;
    if (profile && it >= warmup)
      memcpy(layer_times + (size_t)(it - warmup) * per_iter, layer_acc,
             per_iter * sizeof *layer_acc);
    cli_progress_update(&progress, it + 1, it < warmup ? "warm-up" : NULL);
  }
  int rc = 0;
  if (failed) {
    rc = cli_error("out of memory");
  } else {
    cli_progress_finish(&progress, NULL);
    double med = median(times, (int)iters);
    if (profile) print_profile(net, layer_times, iters, training, med);
    print_json(&b, net, times, med, training);
    if (save_path && bm_net_save_weights(net, save_path, &err)) rc = cli_error("%s", err.msg);
  }
  for (int k = 0; head_grads && k < n_heads; k++) free(head_grads[k]);
  free(head_grads);
  free(heads);
  free(velocity);
  free(decays);
  free(times);
  free(layer_times);
  free(layer_acc);
  bm_net_free(net);
  return rc;
}
