/* boxmine synth: compose the default detection dataset from Fashion-MNIST. */
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_synth.h"
#include "cli/cli.h"

static void synth_usage(FILE *out) {
  fprintf(out,
          "usage: boxmine synth --out DIR [options]\n\n"
          "Composes a detection dataset in PASCAL VOC layout (Annotations/, JPEGImages/,\n"
          "ImageSets/Main/{trainval,test}.txt, classes.txt, synth.json) from the Fashion-MNIST\n"
          "garments of Debian's dataset-fashion-mnist package: 1 to 6 tinted garments per image\n"
          "on textured backgrounds, 10 classes. Rules: docs/SYNTH.md.\n\n"
          "options:\n"
          "  --out DIR          output folder (created; must be empty unless --force)\n"
          "  --trainval N       trainval images, from the package's training images (default 4000)\n"
          "  --test N           test images, from the package's test images (default 1000)\n"
          "  --size S           image width and height in pixels, 32..1024 (default 160)\n"
          "  --seed N           random seed; the same seed gives byte-identical files (default 1)\n"
          "  --min-objects N    fewest garments drawn per image (default 1)\n"
          "  --max-objects N    most garments drawn per image, <= %d (default 6)\n"
          "  --mnist-dir DIR    folder with the Fashion-MNIST .gz files\n"
          "                     (default %s)\n"
          "  --quality Q        JPEG quality 1..100 (default 90)\n"
          "  --force            write into a non-empty DIR, replacing an earlier synth dataset\n"
          "  --help             this text\n",
          BM_SYNTH_MAX_OBJECTS, BM_SYNTH_DEFAULT_MNIST_DIR);
}

typedef struct progress_state {
  cli_progress bar;
} progress_state;

static void on_progress(void *user, long done, long total) {
  progress_state *state = user;
  (void)total;
  cli_progress_update(&state->bar, done, NULL);
}

int cmd_synth(int argc, char **argv) {
  bm_synth_opts opts = {0};
  opts.mnist_dir = BM_SYNTH_DEFAULT_MNIST_DIR;
  opts.n_trainval = 4000;
  opts.n_test = 1000;
  opts.size = 160;
  opts.min_objects = 1;
  opts.max_objects = 6;
  opts.seed = 1;
  opts.jpeg_quality = 90;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    long number;
    if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
      synth_usage(stdout);
      return 0;
    } else if (!strcmp(arg, "--force")) {
      opts.force = 1;
      continue;
    }
    if (!value) {
      cli_error("%s needs a value (see boxmine synth --help)", arg);
      return 2;
    }
    i++;
    if (!strcmp(arg, "--out")) opts.out_dir = value;
    else if (!strcmp(arg, "--mnist-dir")) opts.mnist_dir = value;
    else if (!strcmp(arg, "--trainval")) {
      if (cli_parse_int(arg, value, 0, 999999, &number)) return 2;
      opts.n_trainval = (int)number;
    } else if (!strcmp(arg, "--test")) {
      if (cli_parse_int(arg, value, 0, 999999, &number)) return 2;
      opts.n_test = (int)number;
    } else if (!strcmp(arg, "--size")) {
      if (cli_parse_int(arg, value, 32, 1024, &number)) return 2;
      opts.size = (int)number;
    } else if (!strcmp(arg, "--seed")) {
      if (cli_parse_int(arg, value, 0, 2147483647L, &number)) return 2;
      opts.seed = (uint64_t)number;
    } else if (!strcmp(arg, "--min-objects")) {
      if (cli_parse_int(arg, value, 0, BM_SYNTH_MAX_OBJECTS, &number)) return 2;
      opts.min_objects = (int)number;
    } else if (!strcmp(arg, "--max-objects")) {
      if (cli_parse_int(arg, value, 1, BM_SYNTH_MAX_OBJECTS, &number)) return 2;
      opts.max_objects = (int)number;
    } else if (!strcmp(arg, "--quality")) {
      if (cli_parse_int(arg, value, 1, 100, &number)) return 2;
      opts.jpeg_quality = (int)number;
    } else {
      cli_error("unknown option '%s' (see boxmine synth --help)", arg);
      return 2;
    }
  }
  if (!opts.out_dir) {
    cli_error("--out DIR is required (see boxmine synth --help)");
    return 2;
  }
  if (opts.min_objects > opts.max_objects) {
    cli_error("--min-objects %d is more than --max-objects %d", opts.min_objects,
              opts.max_objects);
    return 2;
  }
  if (opts.n_trainval + opts.n_test == 0) {
    cli_error("--trainval and --test are both 0: nothing to make");
    return 2;
  }

  progress_state state;
  cli_progress_start(&state.bar, "synth", (long)opts.n_trainval + opts.n_test);
  opts.progress = on_progress;
  opts.progress_user = &state;
  bm_log log = cli_log();
  bm_error err = {{0}};
  bm_synth_stats stats;
  double start = bm_now();
  if (bm_synth_run(&opts, &stats, &log, &err)) return cli_error("%s", err.msg);
  cli_progress_finish(&state.bar, NULL);
  double seconds = bm_now() - start;
  const char *names[2] = {"trainval", "test"};
  for (int s = 0; s < 2; s++)
    printf("%-8s: %ld images, %ld objects (%ld difficult, %ld truncated)\n", names[s],
           stats.n_images[s], stats.n_objects[s], stats.n_difficult[s], stats.n_truncated[s]);
  printf("wrote %s (%dx%d JPEG, seed %llu) in %.1f s\n", opts.out_dir, opts.size, opts.size,
         (unsigned long long)opts.seed, seconds);
  return 0;
}
