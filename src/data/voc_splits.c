/* VOC split lists (bm_data.h): the lists a dataset root has, and the ids of one list. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

static int compare_split_names(const void *a, const void *b) { return strcmp(a, b); }

int bm_voc_split_names(const char *root, char (*names)[BM_VOC_SPLIT_NAME_MAX], int max) {
  char *dir_path = root ? bm_path_join(root, BM_VOC_SETS_DIR) : NULL;
  DIR *dir = dir_path ? opendir(dir_path) : NULL;
  bm_free(dir_path);
  if (!dir) return 0;
  int n = 0;
  struct dirent *entry;
  while (n < max && (entry = readdir(dir)) != NULL) {
    const char *name = entry->d_name;
    size_t len = strlen(name);
    if (len > 4 && len - 4 < BM_VOC_SPLIT_NAME_MAX && !strcmp(name + len - 4, ".txt") &&
        !strchr(name, '_'))
      snprintf(names[n++], BM_VOC_SPLIT_NAME_MAX, "%.*s", (int)(len - 4), name);
  }
  closedir(dir);
  qsort(names, (size_t)n, sizeof names[0], compare_split_names);
  return n;
}

int bm_voc_split_each(const char *path, int (*fn)(void *user, const char *id, int line),
                      void *user, bm_error *err) {
  char *text;
  if (bm_read_text_file(path, &text, err) != 0) return -1;
  int status = 0, line_no = 0;
  for (char *line = text; line && *line && status == 0;) {
    line_no++;
    char *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    char *id = line + strspn(line, " \t\r");
    id[strcspn(id, " \t\r")] = '\0';
    line = next;
    if (*id) status = fn(user, id, line_no);
  }
  bm_free(text);
  return status;
}
