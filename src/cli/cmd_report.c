/* boxmine report: one HTML page comparing mining runs (docs/MINING.md). */
#include <stdio.h>
#include <string.h>

#include "boxmine/bm_mine.h"
#include "cli/cli.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: boxmine report RUN [RUN...] --out DIR [--title TEXT]\n\n"
          "Reads each RUN/rounds.jsonl (required) and RUN/summary.json (optional) written by\n"
          "'boxmine mine', and writes DIR/index.html: one self-contained page (inline SVG, no\n"
          "external files) with mAP@0.5 against human labelling time and against boxes drawn\n"
          "by people (one colour per run), SL/AL images and boxes per mining round, training\n"
          "loss and learning rate per round, and a table of final numbers.\n\n"
          "options:\n"
          "  --out DIR      folder for index.html (created if missing)\n"
          "  --title TEXT   page title (default: \"boxmine mining report\")\n"
          "  -h, --help     this help\n");
}

int cmd_report(int argc, char **argv) {
  const char *out_dir = NULL, *title = NULL;
  const char **run_dirs = bm_calloc((size_t)argc + 1, sizeof *run_dirs);
  if (!run_dirs) return cli_error("out of memory");
  int n_runs = 0, status = 1;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
      usage(stdout);
      bm_free(run_dirs);
      return 0;
    } else if (!strcmp(arg, "--out") || !strcmp(arg, "--title")) {
      if (i + 1 >= argc) {
        cli_error("%s needs a value", arg);
        status = 2;
        goto done;
      }
      if (!strcmp(arg, "--out")) out_dir = argv[++i];
      else title = argv[++i];
    } else if (arg[0] == '-' && arg[1] != '\0') {
      cli_error("unknown option '%s' (boxmine report --help)", arg);
      status = 2;
      goto done;
    } else {
      run_dirs[n_runs++] = arg;
    }
  }
  if (n_runs == 0 || !out_dir) {
    cli_error(n_runs == 0 ? "no RUN folder given" : "--out DIR is required");
    usage(stderr);
    status = 2;
    goto done;
  }
  if (n_runs > 64) {
    cli_error("at most 64 runs on one page (got %d)", n_runs);
    status = 2;
    goto done;
  }

  bm_run_log *runs = bm_calloc((size_t)n_runs, sizeof *runs);
  if (!runs) {
    cli_error("out of memory");
    goto done;
  }
  bm_log log = cli_log();
  bm_error err;
  int loaded = 0;
  long n_records = 0;
  for (; loaded < n_runs; loaded++) {
    if (bm_run_log_load(run_dirs[loaded], &runs[loaded], &log, &err) != 0) {
      cli_error("%s", err.msg);
      goto free_runs;
    }
    n_records += runs[loaded].n_rounds;
  }
  bm_buf page;
  bm_buf_init(&page);
  char *path = bm_path_join(out_dir, "index.html");
  if (!path) cli_error("out of memory");
  else if (bm_report_html(runs, n_runs, title, &page, &err) != 0 ||
           bm_mkdir_p(out_dir, &err) != 0 ||
           bm_write_file_atomic(path, page.data, page.len, &err) != 0)
    cli_error("%s", err.msg);
  else {
    printf("wrote %s (%d run%s, %ld round records, %zu bytes)\n", path, n_runs,
           n_runs == 1 ? "" : "s", n_records, page.len);
    status = 0;
  }
  bm_free(path);
  bm_buf_free(&page);
free_runs:
  for (int r = 0; r < loaded; r++) bm_run_log_free(&runs[r]);
  bm_free(runs);
done:
  bm_free(run_dirs);
  return status;
}
