/* Helpers shared by the detector's subcommands. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boxmine/bm_train.h"
#include "cli/cli.h"
#include "cli/cli_det.h"

/* The folder of the running program. */
static void program_dir(char *dir, size_t size) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  snprintf(dir, size, ".");
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(dir, size, "%s", exe);
  }
}

int cli_find_data(const char *relative, char *out, size_t size) {
  char dir[PATH_MAX];
  program_dir(dir, sizeof dir);
  /* next to the program (build folders inside the tree, a prefix install), the installed
   * data folder, the source tree the program was built from, the working folder */
  const char *bases[] = {dir, dir, BM_INSTALL_DATADIR, BM_SOURCE_DIR, "."};
  const char *formats[] = {"%s/../%s", "%s/../share/boxmine/%s", "%s/%s", "%s/%s", "%s/%s"};
  for (size_t k = 0; k < sizeof bases / sizeof bases[0]; k++) {
    snprintf(out, size, formats[k], bases[k], relative);
    if (bm_file_exists(out)) return 0;
  }
  snprintf(out, size, "%s", relative);
  return -1;
}

int cli_find_cfg(const char *path, char **text) {
  bm_error err;
  *text = NULL;
  if (path) {
    if (bm_read_text_file(path, text, &err)) return cli_error("--cfg: %s", err.msg), -1;
    return 0;
  }
  char found[PATH_MAX + 64];
  if (cli_find_data("cfg/" CLI_DEFAULT_CFG, found, sizeof found) == 0) {
    if (bm_read_text_file(found, text, &err)) return cli_error("%s", err.msg), -1;
    return 0;
  }
  return cli_error("cannot find the default network cfg/%s next to the program, in %s or in "
                   "%s; give one with --cfg FILE", CLI_DEFAULT_CFG, BM_INSTALL_DATADIR,
                   BM_SOURCE_DIR), -1;
}

int cli_load_cfg(const char *path, int input_w, int input_h, char **text) {
  if (cli_find_cfg(path, text)) return -1;
  if (input_w <= 0) return 0;
  bm_error err;
  char *sized = NULL;
  int rc = bm_cfg_set_input_size(*text, input_w, input_h, &sized, &err);
  bm_free(*text);
  *text = sized;
  if (rc) {
    bm_free(sized);
    *text = NULL;
    return cli_error("--input: %s", err.msg), -1;
  }
  return 0;
}

int cli_detect_dataset(const char *weights, const bm_detect_opts *opts, int threads,
                       const bm_dataset *ds, bm_detections *dets, bm_log *log, bm_error *err) {
  bm_detector *det;
  if (bm_detector_load(&det, weights, 8, log, err)) return -1;
  bm_detector_set_threads(det, threads);
  int rc = bm_detector_check_classes(det, ds, err);
  if (rc) bm_fail_prefix(err, "--weights %s (give the class list with --classes)", weights);
  cli_progress bar;
  cli_progress_start(&bar, "detect", ds->n_images);
  if (rc == 0) rc = bm_detector_detect_dataset(det, ds, NULL, 0, opts, cli_progress_report, &bar, dets, err);
  bm_detector_free(det);
  return rc;
}
