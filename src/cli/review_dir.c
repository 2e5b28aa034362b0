/* Finding a round's review folder from a review folder or a mining run. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/review_dir.h"

/* DIR/manifest.json, or the newest RUN/review/round-R/manifest.json (bm_free). */
char *cli_find_review_dir(const char *dir) {
  char *manifest = bm_path_join(dir, "manifest.json");
  if (manifest && bm_file_exists(manifest)) {
    bm_free(manifest);
    return bm_strdup(dir);
  }
  bm_free(manifest);
  char *reviews = bm_path_join(dir, "review");
  if (!reviews) return NULL;
  DIR *d = opendir(reviews);
  long best = -1;
  for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
    char *end;
    if (strncmp(e->d_name, "round-", 6) != 0) continue;
    long r = strtol(e->d_name + 6, &end, 10);
    if (end == e->d_name + 6 || *end || r <= best) continue;
    char name[64];
    snprintf(name, sizeof name, "round-%ld/manifest.json", r);
    char *path = bm_path_join(reviews, name);
    if (path && bm_file_exists(path)) best = r;
    bm_free(path);
  }
  if (d) closedir(d);
  char *found = NULL;
  if (best >= 0) {
    char name[64];
    snprintf(name, sizeof name, "round-%ld", best);
    found = bm_path_join(reviews, name);
  }
  bm_free(reviews);
  return found;
}

