/* Class lists: reading and writing list files, and the rule that picks the 20 PASCAL VOC
 * classes or the sorted set of names found (see docs/DATA.md, "Class list"). */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

const char *const bm_voc_class_names[20] = {
    "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",         "car",
    "cat",       "chair",   "cow",   "diningtable", "dog",    "horse",       "motorbike",
    "person",    "pottedplant", "sheep", "sofa",    "train",  "tvmonitor"};

const char *bm_class_name_problem(const char *name) {
  if (!name[0]) return "is empty";
  if (name[0] == '#') return "starts with '#' (class lists read such a line as a comment)";
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    if (*p < 0x20 || *p == 0x7f) return "contains a control character";
    if (*p == '/') return "contains '/' (class names become file names)";
  }
  return NULL;
}

void bm_free_names(char **names, int n_names) {
  for (int i = 0; i < n_names; i++) bm_free(names[i]);
  bm_free(names);
}

int bm_read_class_list(const char *path, char ***names_out, int *n_out, bm_error *err) {
  *names_out = NULL;
  *n_out = 0;
  char *text;
  if (bm_read_text_file(path, &text, err) != 0) return -1;
  char **names = NULL;
  int n = 0, status = 0, line_no = 0;
  bm_strmap seen = {0};
  char *line = text;
  while (line && *line && status == 0) {
    line_no++;
    char *next = strchr(line, '\n');
    if (next) *next++ = '\0';
    char *end = line + strlen(line);
    while (*line == ' ' || *line == '\t' || *line == '\r') line++;
    while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) *--end = '\0';
    if (*line && *line != '#') {
      const char *why = bm_class_name_problem(line);
      if (why) {
        char shown[128];
        status = bm_fail(err, "%s:%d: class name '%s' %s", path, line_no,
                         bm_printable(line, shown, sizeof shown), why);
      } else if (bm_strmap_get(&seen, line) >= 0) {
        status = bm_fail(err, "%s:%d: class '%s' is listed twice", path, line_no, line);
      } else if (n == BM_MAX_CLASSES) {
        status = bm_fail(err, "%s:%d: more than %d classes", path, line_no, BM_MAX_CLASSES);
      } else {
        char **grown = bm_realloc(names, (size_t)(n + 1) * sizeof *names);
        char *copy = bm_strdup(line);
        if (grown) names = grown;
        if (!grown || !copy || bm_strmap_put(&seen, line, n) != 0) {
          bm_free(copy);
          status = bm_fail(err, "%s: out of memory", path);
        } else {
          names[n++] = copy;
        }
      }
    }
    line = next;
  }
  bm_strmap_free(&seen);
  bm_free(text);
  if (status == 0 && n == 0) status = bm_fail(err, "%s: no class names in the file", path);
  if (status != 0) {
    bm_free_names(names, n);
    return -1;
  }
  *names_out = names;
  *n_out = n;
  return 0;
}

int bm_write_class_list(const char *path, char *const *names, int n_names, bm_error *err) {
  bm_buf buf;
  bm_buf_init(&buf);
  for (int i = 0; i < n_names; i++) {
    bm_buf_puts(&buf, names[i]);
    bm_buf_puts(&buf, "\n");
  }
  if (buf.failed) {
    bm_buf_free(&buf);
    return bm_fail(err, "%s: out of memory", path);
  }
  int status = 0;
  char *dir = bm_strdup(path);
  char *slash = dir ? strrchr(dir, '/') : NULL;
  if (slash && slash != dir) {
    *slash = '\0';
    status = bm_mkdir_p(dir, err);
  }
  bm_free(dir);
  if (status == 0) status = bm_write_file_atomic(path, buf.data ? buf.data : "", buf.len, err);
  bm_buf_free(&buf);
  return status;
}

int bm_names_are_voc(char *const *names, int n_names) {
  if (n_names != 20) return 0;
  for (int i = 0; i < 20; i++)
    if (strcmp(names[i], bm_voc_class_names[i]) != 0) return 0;
  return 1;
}

static int is_voc_name(const char *name) {
  for (int i = 0; i < 20; i++)
    if (!strcmp(name, bm_voc_class_names[i])) return 1;
  return 0;
}

/* "VOC" followed by at least two digits and nothing else: VOC2007, VOC2012, VOC0712. */
static int folder_looks_like_voc(const char *folder) {
  if (!folder) return 0;
  size_t n = strlen(folder);
  while (n > 1 && folder[n - 1] == '/') n--;
  size_t start = n;
  while (start > 0 && folder[start - 1] != '/') start--;
  const char *base = folder + start;
  size_t len = n - start;
  if (len < 5 || strncmp(base, "VOC", 3) != 0) return 0;
  for (size_t i = 3; i < len; i++)
    if (base[i] < '0' || base[i] > '9') return 0;
  return 1;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int bm_infer_class_list(char *const *found, int n_found, const char *root_folder,
                        char ***names_out, int *n_out, int *is_voc, bm_error *err) {
  *names_out = NULL;
  *n_out = 0;
  *is_voc = 0;
  int all_voc = n_found > 0;
  for (int i = 0; i < n_found; i++) all_voc = all_voc && is_voc_name(found[i]);
  /* VOC's own list when every name is a VOC class and either the folder is named like a VOC
   * release or the names cover most of the 20 (a subset that happens to use "person" and
   * "car" stays a subset). */
  int use_voc = all_voc && (folder_looks_like_voc(root_folder) || n_found >= 15);
  int n = use_voc ? 20 : n_found;
  if (n > BM_MAX_CLASSES) return bm_fail(err, "more than %d class names found", BM_MAX_CLASSES);
  if (n == 0) return bm_fail(err, "no objects in any annotation file, so no class list can be "
                                  "inferred; give one with a classes file");
  char **names = bm_calloc((size_t)n, sizeof *names);
  if (!names) return bm_fail(err, "out of memory");
  for (int i = 0; i < n; i++) {
    names[i] = bm_strdup(use_voc ? bm_voc_class_names[i] : found[i]);
    if (!names[i]) {
      bm_free_names(names, n);
      return bm_fail(err, "out of memory");
    }
  }
  if (!use_voc) qsort(names, (size_t)n, sizeof *names, compare_names);
  *names_out = names;
  *n_out = n;
  *is_voc = use_voc;
  return 0;
}
