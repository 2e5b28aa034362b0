/* The detection readers: VOC devkit results text (as class "cat"'s file) and COCO results
 * JSON, against a small hand-built dataset. */
#include <sys/stat.h>

#include "boxmine/bm_eval.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char dir[256];
  if (!dir[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/bm-fuzz-dets-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    mkdir(dir, 0700);
  }
  bm_dataset ds;
  fuzz_dataset(&ds);
  char path[400];
  snprintf(path, sizeof path, "%s/comp4_det_test_cat.txt", dir);
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (size) fwrite(data, 1, size, f);
  fclose(f);
  bm_error err;
  bm_detections dets = {0};
  bm_read_voc_results(dir, "test", &ds, &dets, NULL, &err);
  bm_detections_free(&dets);
  unlink(path);
  const char *json = fuzz_scratch(".json", data, size);
  memset(&dets, 0, sizeof dets);
  bm_read_coco_results(json, &ds, &dets, &err);
  bm_detections_free(&dets);
  unlink(json);
  return 0;
}
