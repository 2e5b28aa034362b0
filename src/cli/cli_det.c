/* Helpers shared by the detector's subcommands. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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
