/* The dataset options every dataset-reading command shares, and loading with progress. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

const char cli_dataset_help[] =
    "  --data DIR             dataset root: a PASCAL VOC folder (Annotations/, JPEGImages/,\n"
    "                         ImageSets/Main/) or a folder of images with XML files beside them\n"
    "  --split NAME|FILE      load only the ids in ROOT/ImageSets/Main/NAME.txt (or in FILE);\n"
    "                         default: every annotation file\n"
    "  --images DIR           image folder, with --annotations DIR (instead of the layouts above)\n"
    "  --annotations DIR      annotation (XML) folder, with --images DIR\n"
    "  --classes FILE         class list, one name per line (default: see docs/DATA.md)\n"
    "  --cache-dir DIR        where parsed annotations are cached (default:\n"
    "                         $XDG_CACHE_HOME/boxmine or ~/.cache/boxmine; never the dataset)\n"
    "  --no-cache             parse every XML file, read and write no cache\n"
    "  --check-images         read every image header and let its real size win over the XML\n"
    "  --no-check-images      trust the XML sizes (headers are still read when a size is 0x0)\n"
    "  --skip-bad-images      warn about and skip missing or unreadable images (default: error)\n"
    "  --skip-unknown-classes warn about and drop objects whose class is not in the list\n"
    "                         (default: error)\n";

void cli_dataset_args_init(cli_dataset_args *args, int check_images) {
  memset(args, 0, sizeof *args);
  args->opts.check_images = check_images;
}

int cli_dataset_arg(cli_dataset_args *args, int argc, char **argv, int *i) {
  const char *opt = argv[*i];
  const char **target = NULL;
  if (!strcmp(opt, "--data")) target = &args->opts.root;
  else if (!strcmp(opt, "--split")) target = &args->opts.split;
  else if (!strcmp(opt, "--images")) target = &args->opts.images_dir;
  else if (!strcmp(opt, "--annotations")) target = &args->opts.annotations_dir;
  else if (!strcmp(opt, "--classes")) target = &args->opts.classes_file;
  else if (!strcmp(opt, "--cache-dir")) target = &args->opts.cache_dir;
  if (target) {
    if (*i + 1 >= argc || !argv[*i + 1][0]) {
      cli_error("%s needs a value", opt);
      return -1;
    }
    *target = argv[++*i];
    return 1;
  }
  if (!strcmp(opt, "--no-cache")) args->no_cache = 1;
  else if (!strcmp(opt, "--check-images")) args->opts.check_images = 1;
  else if (!strcmp(opt, "--no-check-images")) args->opts.check_images = 0;
  else if (!strcmp(opt, "--skip-bad-images")) args->opts.skip_bad_images = 1;
  else if (!strcmp(opt, "--skip-unknown-classes")) args->opts.skip_unknown_classes = 1;
  else return 0;
  return 1;
}

typedef struct load_progress {
  cli_progress bar;
  int started;
} load_progress;

static void on_progress(void *user, long done, long total) {
  load_progress *p = user;
  if (total < 500) return; /* small sets parse in a blink */
  if (!p->started) {
    cli_progress_start(&p->bar, "parsing annotations", total);
    p->started = 1;
  }
  if (done >= total) cli_progress_finish(&p->bar, NULL);
  else cli_progress_update(&p->bar, done, NULL);
}

int cli_dataset_load(cli_dataset_args *args, bm_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  if (!args->opts.root && !args->opts.images_dir && !args->opts.annotations_dir) {
    cli_error("give the dataset with --data DIR (or --images DIR --annotations DIR)");
    return 2;
  }
  if (!args->opts.images_dir != !args->opts.annotations_dir) {
    cli_error("--images and --annotations go together");
    return 2;
  }
  if (args->no_cache) {
    args->opts.cache_dir = NULL;
  } else if (!args->opts.cache_dir) {
    args->default_cache_dir = bm_dataset_default_cache_dir();
    args->opts.cache_dir = args->default_cache_dir; /* NULL (no cache) without HOME */
  }
  load_progress progress = {0};
  args->opts.progress = on_progress;
  args->opts.progress_user = &progress;
  bm_log log = cli_log();
  bm_error err = {{0}};
  int status = bm_dataset_load(ds, &args->opts, &log, &err);
  args->opts.progress = NULL;
  args->opts.progress_user = NULL;
  if (status != 0) {
    cli_error("%s", err.msg);
    return 1;
  }
  return 0;
}

void cli_dataset_args_free(cli_dataset_args *args) {
  bm_free(args->default_cache_dir);
  args->default_cache_dir = NULL;
}
