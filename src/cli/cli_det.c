/* Helpers shared by the detector's subcommands. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boxmine/bm_train.h"
#include "cli/cli.h"
#include "cli/cli_det.h"

int cli_find_cfg(const char *path, char **text) {
  bm_error err;
  size_t len;
  *text = NULL;
  if (path) {
    if (bm_read_file(path, text, &len, &err)) return cli_error("--cfg: %s", err.msg), -1;
    return 0;
  }
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  char dir[PATH_MAX] = ".";
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(dir, sizeof dir, "%s", exe);
  }
  const char *places[] = {"%s/../cfg/%s", "%s/../share/boxmine/cfg/%s", "%s/cfg/%s", "./cfg/%s"};
  for (size_t k = 0; k < sizeof places / sizeof places[0]; k++) {
    char candidate[PATH_MAX + 64];
    snprintf(candidate, sizeof candidate, places[k], dir, CLI_DEFAULT_CFG);
    if (k == 3) snprintf(candidate, sizeof candidate, places[k], CLI_DEFAULT_CFG);
    if (bm_file_exists(candidate)) {
      if (bm_read_file(candidate, text, &len, &err)) return cli_error("%s", err.msg), -1;
      return 0;
    }
  }
  return cli_error("cannot find the default network %s next to the program (%s/../cfg/); "
                   "give one with --cfg FILE", CLI_DEFAULT_CFG, dir), -1;
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
