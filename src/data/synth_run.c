/* boxmine synth, the dataset writer: images in parallel (OpenMP), each from its own generator
 * seeded by (seed, split, index), so the files do not depend on the number of threads; then
 * the split lists, the class list and a small synth.json describing the run. */
#include "boxmine/bm_synth.h"

#include <dirent.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const split_names[2] = {"trainval", "test"};

/* Per image, what the statistics need; summed in index order after the parallel loop. */
typedef struct image_summary {
  short n_objects, n_difficult, n_truncated;
  short per_class[BM_SYNTH_N_CLASSES];
} image_summary;

static int dir_has_entries(const char *path) {
  DIR *dir = opendir(path);
  if (!dir) return 0;
  struct dirent *entry;
  int found = 0;
  while (!found && (entry = readdir(dir)))
    found = strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0;
  closedir(dir);
  return found;
}

/* With --force: removes files named like ours ("trainval_000123.jpg") whose index lies beyond
 * this run's count, so the folder holds exactly one dataset. */
static void remove_stale(const char *dir_path, const char *ext, const int *counts, bm_log *log) {
  DIR *dir = opendir(dir_path);
  if (!dir) return;
  struct dirent *entry;
  long n_removed = 0;
  while ((entry = readdir(dir))) {
    for (int s = 0; s < 2; s++) {
      char fmt[64], tail[16];
      int index;
      snprintf(fmt, sizeof fmt, "%s_%%6d%%15s", split_names[s]);
      if (sscanf(entry->d_name, fmt, &index, tail) != 2 || strcmp(tail, ext) != 0) continue;
      if (index <= counts[s]) continue;
      char *path = bm_path_join(dir_path, entry->d_name);
      if (path && unlink(path) == 0) n_removed++;
      bm_free(path);
    }
  }
  closedir(dir);
  if (n_removed) bm_warn(log, "%s: removed %ld %s files of an earlier, larger synth run",
                         dir_path, n_removed, ext);
}

static int write_text(const char *root, const char *rel, const bm_buf *buf, bm_error *err) {
  char *path = bm_path_join(root, rel);
  if (!path) return bm_fail(err, "out of memory");
  int rc = buf->failed ? bm_fail(err, "%s: out of memory", path)
                       : bm_write_file_atomic(path, buf->data ? buf->data : "", buf->len, err);
  bm_free(path);
  return rc;
}

static int write_lists(const bm_synth_opts *opts, const bm_synth_stats *stats, bm_error *err) {
  int counts[2] = {opts->n_trainval, opts->n_test};
  for (int s = 0; s < 2; s++) {
    bm_buf list;
    bm_buf_init(&list);
    for (int i = 0; i < counts[s]; i++) bm_buf_printf(&list, "%s_%06d\n", split_names[s], i + 1);
    char rel[64];
    snprintf(rel, sizeof rel, BM_VOC_SETS_DIR "/%s.txt", split_names[s]);
    int rc = write_text(opts->out_dir, rel, &list, err);
    bm_buf_free(&list);
    if (rc) return -1;
  }
  bm_buf buf;
  bm_buf_init(&buf);
  for (int c = 0; c < BM_SYNTH_N_CLASSES; c++) bm_buf_printf(&buf, "%s\n", bm_synth_class_names[c]);
  int rc = write_text(opts->out_dir, "classes.txt", &buf, err);
  bm_buf_free(&buf);
  if (rc) return -1;

  /* what was asked and what came out; no time stamps, so equal runs give equal bytes */
  bm_buf_init(&buf);
  bm_buf_puts(&buf, "{\n  \"generator\": \"boxmine synth\",\n  \"source\": ");
  bm_buf_json_string(&buf, "Fashion-MNIST (Debian package dataset-fashion-mnist)");
  bm_buf_printf(&buf,
                ",\n  \"seed\": %llu,\n  \"image_size\": %d,\n  \"min_objects\": %d,\n"
                "  \"max_objects\": %d,\n  \"jpeg_quality\": %d,\n  \"splits\": {",
                (unsigned long long)opts->seed, opts->size, opts->min_objects, opts->max_objects,
                opts->jpeg_quality);
  for (int s = 0; s < 2; s++) {
    bm_buf_printf(&buf,
                  "%s\n    \"%s\": {\"images\": %ld, \"objects\": %ld, \"difficult\": %ld, "
                  "\"truncated\": %ld, \"objects_per_class\": [",
                  s ? "," : "", split_names[s], stats->n_images[s], stats->n_objects[s],
                  stats->n_difficult[s], stats->n_truncated[s]);
    for (int c = 0; c < BM_SYNTH_N_CLASSES; c++)
      bm_buf_printf(&buf, "%s%ld", c ? ", " : "", stats->n_per_class[s][c]);
    bm_buf_puts(&buf, "]}");
  }
  bm_buf_puts(&buf, "\n  }\n}\n");
  rc = write_text(opts->out_dir, "synth.json", &buf, err);
  bm_buf_free(&buf);
  return rc;
}

/* Composes and writes image `index` of split `split`. */
static int write_one(const bm_synth_opts *opts, const bm_mnist *pool, int split, int index,
                     image_summary *summary, bm_error *err) {
  bm_rng rng;
  bm_rng_seed(&rng, opts->seed, ((uint64_t)split << 32) | (uint64_t)index);
  bm_synth_scene_opts scene = {opts->size, opts->min_objects, opts->max_objects, 0};
  bm_image img;
  bm_object objects[BM_SYNTH_MAX_OBJECTS];
  int n_objects;
  if (bm_synth_compose(pool, &scene, &rng, &img, objects, &n_objects, err)) return -1;
  char id[64], name[80], path[4096];
  snprintf(id, sizeof id, "%s_%06d", split_names[split], index + 1);
  snprintf(name, sizeof name, "%s.jpg", id);
  snprintf(path, sizeof path, "%s/JPEGImages/%s", opts->out_dir, name);
  int rc = bm_image_save_jpeg(path, &img, opts->jpeg_quality, err);
  bm_image_free(&img);
  if (rc) return -1;
  snprintf(path, sizeof path, "%s/Annotations/%s.xml", opts->out_dir, id);
  if (bm_voc_write_xml(path, "synth", name, opts->size, opts->size, 3, objects, n_objects,
                       (char *const *)bm_synth_class_names, NULL, err))
    return -1;
  memset(summary, 0, sizeof *summary);
  summary->n_objects = (short)n_objects;
  for (int i = 0; i < n_objects; i++) {
    summary->n_difficult += (short)objects[i].difficult;
    summary->n_truncated += (short)objects[i].truncated;
    summary->per_class[objects[i].class_id]++;
  }
  return 0;
}

int bm_synth_run(const bm_synth_opts *opts, bm_synth_stats *stats, bm_log *log, bm_error *err) {
  memset(stats, 0, sizeof *stats);
  if (opts->n_trainval < 0 || opts->n_test < 0 || opts->n_trainval + (long)opts->n_test == 0 ||
      opts->n_trainval > 999999 || opts->n_test > 999999)
    return bm_fail(err, "synth: image counts must be 0..999999 and not both 0");
  if (opts->jpeg_quality < 1 || opts->jpeg_quality > 100)
    return bm_fail(err, "synth: JPEG quality %d outside [1, 100]", opts->jpeg_quality);
  if (dir_has_entries(opts->out_dir) && !opts->force)
    return bm_fail(err, "%s: folder is not empty; choose a new one or pass --force to write "
                   "over it", opts->out_dir);
  const char *subdirs[] = {"Annotations", "JPEGImages", BM_VOC_SETS_DIR};
  for (int i = 0; i < 3; i++) {
    char *path = bm_path_join(opts->out_dir, subdirs[i]);
    int rc = path ? bm_mkdir_p(path, err) : bm_fail(err, "out of memory");
    bm_free(path);
    if (rc) return -1;
  }
  int counts[2] = {opts->n_trainval, opts->n_test};
  if (opts->force) {
    char *ann = bm_path_join(opts->out_dir, "Annotations");
    char *jpg = bm_path_join(opts->out_dir, "JPEGImages");
    if (ann) remove_stale(ann, ".xml", counts, log);
    if (jpg) remove_stale(jpg, ".jpg", counts, log);
    bm_free(ann);
    bm_free(jpg);
  }
  /* train images only from the package's training split, test only from its test split */
  bm_mnist pools[2];
  memset(pools, 0, sizeof pools);
  for (int s = 0; s < 2; s++)
    if (counts[s] > 0 && bm_mnist_load_split(opts->mnist_dir, s == 0, &pools[s], err)) {
      bm_mnist_free(&pools[0]);
      return -1;
    }
  long total = (long)counts[0] + counts[1];
  image_summary *summaries = bm_calloc((size_t)total, sizeof(image_summary));
  if (!summaries) {
    bm_mnist_free(&pools[0]);
    bm_mnist_free(&pools[1]);
    return bm_fail(err, "out of memory");
  }
  /* libxml2 initialises itself lazily on first use, and that first use racing in two
   * threads leaks (or worse); its documentation asks for this call before going parallel. */
  xmlInitParser();
  int failed = 0;
  long done = 0;
  bm_error first_err = {{0}};
#pragma omp parallel for schedule(dynamic, 8)
  for (long i = 0; i < total; i++) {
    int skip;
#pragma omp atomic read
    skip = failed;
    if (skip) continue;
    int split = i < counts[0] ? 0 : 1;
    int index = (int)(split ? i - counts[0] : i);
    bm_error local = {{0}};
    int rc = write_one(opts, &pools[split], split, index, &summaries[i], &local);
#pragma omp critical(bm_synth_progress)
    {
      if (rc && !failed) {
        first_err = local;
#pragma omp atomic write
        failed = 1;
      }
      done++;
      if (opts->progress) opts->progress(opts->progress_user, done, total);
    }
  }
  bm_mnist_free(&pools[0]);
  bm_mnist_free(&pools[1]);
  if (failed) {
    bm_free(summaries);
    if (err) *err = first_err;
    return -1;
  }
  for (long i = 0; i < total; i++) {
    int s = i < counts[0] ? 0 : 1;
    stats->n_images[s]++;
    stats->n_objects[s] += summaries[i].n_objects;
    stats->n_difficult[s] += summaries[i].n_difficult;
    stats->n_truncated[s] += summaries[i].n_truncated;
    for (int c = 0; c < BM_SYNTH_N_CLASSES; c++)
      stats->n_per_class[s][c] += summaries[i].per_class[c];
  }
  bm_free(summaries);
  return write_lists(opts, stats, err);
}
